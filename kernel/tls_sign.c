/* tls_sign: the server's ECDSA key signs handshakes through libcrypto.
 *
 * Why: a full TLS 1.2 handshake costs the server one ECDHE key pair, one
 * shared secret and one ECDSA signature of the ServerKeyExchange. mbedTLS
 * 2.28 computes that signature with its generic bignum code in about
 * 360 us per P-256 signature on the benchmark machine; OpenSSL's libcrypto,
 * already linked for the journal's AES-GCM, takes about 20 us. That is a
 * sixth of the server's handshake time (doc/performance.md).
 *
 * How: mbedTLS reaches a private key only through its pk layer, whose
 * operations are a table of functions (mbedtls_pk_info_t, in the header
 * <mbedtls/pk_internal.h> that 2.28 installs; mbedTLS's RSA-alt keys for
 * hardware tokens are built the same way). tls_sign_offload() replaces an
 * EC key's table by one whose sign function calls EVP_PKEY_sign(). The
 * signature is the same DER ECDSA-Sig-Value (RFC 5246 §4.7, RFC 4492 §5.4)
 * that mbedTLS writes; OpenSSL draws the nonce from its own generator, so
 * mbedTLS's f_rng is not used. Before the swap, a test signature made by
 * libcrypto is verified by mbedTLS against the certificate's public key:
 * if it fails, or the key is not EC, the key keeps mbedTLS's own code.
 *
 * The handshake is the only user of the key after loading: the pk table
 * here offers signing and nothing else. */
#include "kernel/tls_sign.h"

#include <stdio.h>
#include <string.h>

#include <mbedtls/ecdsa.h>
#include <mbedtls/pk.h>
#include <mbedtls/pk_internal.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/version.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "kernel/mem.h"

#if MBEDTLS_VERSION_MAJOR != 2
#error "tls_sign.c builds an mbedtls_pk_info_t as mbedTLS 2.x defines it"
#endif

struct evp_signer {
    EVP_PKEY *pkey;
    EVP_PKEY_CTX *ctx; /* set up once: EVP_PKEY_sign(3) may be called again and again */
    size_t bits;
};

static size_t signer_bitlen(const void *ctx)
{
    return ((const struct evp_signer *)ctx)->bits;
}

static int signer_can_do(mbedtls_pk_type_t type)
{
    return type == MBEDTLS_PK_ECDSA;
}

/* Loop thread only (handshakes run there): the context is shared.
 * mbedTLS's contract: the hash is already made (its length follows from
 * md_alg when hash_len is 0, which mbedtls_pk_sign has settled), and sig
 * has room for MBEDTLS_ECDSA_MAX_LEN bytes. */
static int signer_sign(void *ctx, mbedtls_md_type_t md_alg, const unsigned char *hash,
                       size_t hash_len, unsigned char *sig, size_t *sig_len,
                       int (*f_rng)(void *, unsigned char *, size_t), void *p_rng)
{
    (void)md_alg;
    (void)f_rng;
    (void)p_rng;
    struct evp_signer *s = ctx;
    size_t len = MBEDTLS_ECDSA_MAX_LEN;
    int ok = EVP_PKEY_sign(s->ctx, sig, &len, hash, hash_len) == 1;
    if (!ok)
        return MBEDTLS_ERR_ECP_HW_ACCEL_FAILED;
    *sig_len = len;
    return 0;
}

static void *signer_alloc(void)
{
    return calloc(1, sizeof(struct evp_signer));
}

static void signer_free(void *ctx)
{
    struct evp_signer *s = ctx;
    if (s == NULL)
        return;
    EVP_PKEY_CTX_free(s->ctx);
    EVP_PKEY_free(s->pkey);
    free(s);
}

static const mbedtls_pk_info_t evp_ecdsa_info = {
    .type = MBEDTLS_PK_ECDSA,
    .name = "ECDSA (libcrypto)",
    .get_bitlen = signer_bitlen,
    .can_do = signer_can_do,
    .sign_func = signer_sign,
    .ctx_alloc_func = signer_alloc,
    .ctx_free_func = signer_free,
};

/* The mbedTLS key as a libcrypto key, through its DER encoding. */
static EVP_PKEY *evp_from_pk(mbedtls_pk_context *key)
{
    unsigned char der[512];
    int n = mbedtls_pk_write_key_der(key, der, sizeof der); /* written at the end of der */
    if (n <= 0)
        return NULL;
    const unsigned char *p = der + sizeof der - n;
    EVP_PKEY *pkey = d2i_AutoPrivateKey(NULL, &p, n);
    mbedtls_platform_zeroize(der, sizeof der);
    return pkey;
}

/* One signature by libcrypto that mbedTLS verifies with the certificate's
 * key: proves the two libraries agree on key and encoding. */
static int signer_selftest(struct evp_signer *s, mbedtls_pk_context *pub)
{
    unsigned char hash[32], sig[MBEDTLS_ECDSA_MAX_LEN];
    size_t len = 0;
    for (size_t i = 0; i < sizeof hash; i++)
        hash[i] = (unsigned char)(i * 7 + 1);
    int rc = signer_sign(s, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, &len, NULL, NULL);
    if (rc == 0)
        rc = mbedtls_pk_verify(pub, MBEDTLS_MD_SHA256, hash, sizeof hash, sig, len);
    return rc;
}

int tls_sign_offload(mbedtls_pk_context *key, mbedtls_pk_context *pub, char *why, size_t whylen)
{
    if (mbedtls_pk_get_type(key) != MBEDTLS_PK_ECKEY) {
        snprintf(why, whylen, "the key is not an EC key");
        return -1;
    }
    struct evp_signer *s = signer_alloc();
    if (s == NULL) {
        snprintf(why, whylen, "out of memory");
        return -1;
    }
    s->bits = mbedtls_pk_get_bitlen(key);
    s->pkey = evp_from_pk(key);
    if (s->pkey == NULL) {
        snprintf(why, whylen, "libcrypto cannot read the key");
        signer_free(s);
        return -1;
    }
    s->ctx = EVP_PKEY_CTX_new(s->pkey, NULL);
    if (s->ctx == NULL || EVP_PKEY_sign_init(s->ctx) != 1) {
        snprintf(why, whylen, "libcrypto cannot sign with the key");
        signer_free(s);
        return -1;
    }
    if (signer_selftest(s, pub) != 0) {
        snprintf(why, whylen, "a libcrypto signature did not verify");
        signer_free(s);
        return -1;
    }
    mbedtls_pk_free(key); /* wipes mbedTLS's copy of the private key */
    mbedtls_pk_init(key);
    key->pk_info = &evp_ecdsa_info; /* what mbedtls_pk_setup() does, with our context */
    key->pk_ctx = s;
    return 0;
}
