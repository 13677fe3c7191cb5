/* aead: see aead.h. */
#include "journal/aead.h"

#include <limits.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <string.h>

#include "kernel/err.h"

/* EVP takes int lengths; a snapshot body may be longer, so feed it in
 * pieces (GCM is a stream: the result is the same). */
#define EVP_CHUNK_BYTES (1 << 30)

int aead_init(struct aead *a, const uint8_t key[AEAD_KEY_BYTES])
{
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    a->ctx = NULL;
    if (!ctx)
        return -ERR_NOMEM;
    /* The default GCM IV length is 12 bytes, AEAD_NONCE_BYTES. */
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, NULL) != 1) {
        EVP_CIPHER_CTX_free(ctx);
        return -ERR_CRYPTO;
    }
    a->ctx = ctx;
    return 0;
}

void aead_free(struct aead *a)
{
    EVP_CIPHER_CTX_free(a->ctx); /* cleanses the key schedule */
    a->ctx = NULL;
}

/* AAD (out NULL) or data through EVP_CipherUpdate. */
static int update(EVP_CIPHER_CTX *ctx, uint8_t *out, const uint8_t *in, size_t n)
{
    while (n) {
        int len = n > EVP_CHUNK_BYTES ? EVP_CHUNK_BYTES : (int)n, got;
        if (EVP_CipherUpdate(ctx, out, &got, in, len) != 1 || got != len)
            return -ERR_CRYPTO;
        in += len;
        out = out ? out + len : NULL;
        n -= (size_t)len;
    }
    return 0;
}

/* Sets key (NULL: keep) and nonce for one message in direction enc. */
static int start(EVP_CIPHER_CTX *ctx, int enc, const uint8_t *key, const uint8_t *nonce)
{
    return EVP_CipherInit_ex(ctx, NULL, NULL, key, nonce, enc) == 1 ? 0 : -ERR_CRYPTO;
}

static int seal(EVP_CIPHER_CTX *ctx, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, uint8_t *tag)
{
    uint8_t fin[AEAD_TAG_BYTES]; /* GCM's final writes no bytes */
    int got;
    if (start(ctx, 1, key, nonce) || update(ctx, NULL, aad, aad_len) || update(ctx, out, in, n) ||
        EVP_EncryptFinal_ex(ctx, fin, &got) != 1 || got != 0 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, AEAD_TAG_BYTES, tag) != 1)
        return -ERR_CRYPTO;
    return 0;
}

static int open_(EVP_CIPHER_CTX *ctx, const uint8_t *key, const uint8_t *nonce, const uint8_t *aad,
                 size_t aad_len, const uint8_t *in, size_t n, uint8_t *out, const uint8_t *tag)
{
    uint8_t t[AEAD_TAG_BYTES], fin[AEAD_TAG_BYTES];
    int got;
    memcpy(t, tag, sizeof t); /* the ctrl takes a non-const pointer; the tag may be in `in` */
    if (start(ctx, 0, key, nonce) || update(ctx, NULL, aad, aad_len))
        return -ERR_CRYPTO;
    if (update(ctx, out, in, n) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, AEAD_TAG_BYTES, t) != 1 ||
        EVP_DecryptFinal_ex(ctx, fin, &got) != 1 || got != 0) {
        if (n)
            OPENSSL_cleanse(out, n);
        return -ERR_CORRUPT;
    }
    return 0;
}

int aead_seal(const struct aead *a, const uint8_t nonce[AEAD_NONCE_BYTES], const uint8_t *aad,
              size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
              uint8_t tag[AEAD_TAG_BYTES])
{
    return seal(a->ctx, NULL, nonce, aad, aad_len, in, n, out, tag);
}

int aead_open(const struct aead *a, const uint8_t nonce[AEAD_NONCE_BYTES], const uint8_t *aad,
              size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
              const uint8_t tag[AEAD_TAG_BYTES])
{
    return open_(a->ctx, NULL, nonce, aad, aad_len, in, n, out, tag);
}

/* ---- one message under its own key: a context per thread ---- */

static pthread_key_t once_key;
static pthread_once_t once_key_made = PTHREAD_ONCE_INIT;

static void once_ctx_free(void *ctx) { EVP_CIPHER_CTX_free(ctx); }
static void once_key_make(void) { (void)pthread_key_create(&once_key, once_ctx_free); }

/* This thread's context with the cipher set, or NULL (out of memory). */
static EVP_CIPHER_CTX *once_ctx(void)
{
    pthread_once(&once_key_made, once_key_make);
    EVP_CIPHER_CTX *ctx = pthread_getspecific(once_key);
    if (ctx)
        return ctx;
    ctx = EVP_CIPHER_CTX_new();
    if (!ctx || EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        pthread_setspecific(once_key, ctx) != 0) {
        EVP_CIPHER_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

int aead_seal_once(const uint8_t key[AEAD_KEY_BYTES], const uint8_t nonce[AEAD_NONCE_BYTES],
                   const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
                   uint8_t tag[AEAD_TAG_BYTES])
{
    EVP_CIPHER_CTX *ctx = once_ctx();
    return ctx ? seal(ctx, key, nonce, aad, aad_len, in, n, out, tag) : -ERR_NOMEM;
}

int aead_open_once(const uint8_t key[AEAD_KEY_BYTES], const uint8_t nonce[AEAD_NONCE_BYTES],
                   const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
                   const uint8_t tag[AEAD_TAG_BYTES])
{
    EVP_CIPHER_CTX *ctx = once_ctx();
    return ctx ? open_(ctx, key, nonce, aad, aad_len, in, n, out, tag) : -ERR_NOMEM;
}
