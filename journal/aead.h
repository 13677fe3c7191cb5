/* aead: AES-256-GCM with a 12-byte nonce and a 16-byte tag, for the
 * journal's blocks and segment headers, the erasure data keys and the
 * snapshots. The one place that calls libcrypto (OpenSSL's EVP): mbedTLS
 * 2.28's GCM ran at ~250 MB/s here, libcrypto's at ~5 GB/s (AES-NI and
 * PCLMULQDQ over many blocks at once), and GCM is a standard, so the bytes
 * on disk are the same whichever library made them (doc/performance.md).
 *
 * A struct aead holds one key and an EVP context that is reused for every
 * message (no allocation per seal or open), so it must be used by one
 * thread at a time. aead_*_once key a per-thread context for one message
 * (the erasure keys: a fresh key per record). */
#ifndef STANZAD_JOURNAL_AEAD_H
#define STANZAD_JOURNAL_AEAD_H

#include <stddef.h>
#include <stdint.h>

#define AEAD_KEY_BYTES 32
#define AEAD_NONCE_BYTES 12
#define AEAD_TAG_BYTES 16

struct aead {
    void *ctx; /* EVP_CIPHER_CTX, keyed; its per-message state is scratch */
};

/* Keys a (free with aead_free). Returns 0, -ERR_NOMEM or -ERR_CRYPTO;
 * on error a holds nothing. */
int aead_init(struct aead *a /* OUT */, const uint8_t key[AEAD_KEY_BYTES]);
void aead_free(struct aead *a);

/* Encrypts n bytes of in to out (out == in allowed) with aad
 * authenticated too, and writes the tag. Returns 0 or -ERR_CRYPTO. */
int aead_seal(const struct aead *a, const uint8_t nonce[AEAD_NONCE_BYTES], const uint8_t *aad,
              size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
              uint8_t tag[AEAD_TAG_BYTES] /* OUT */);
/* Checks the tag and decrypts n bytes of in to out (out == in allowed).
 * Returns 0, or -ERR_CORRUPT when the tag does not match (out is then
 * zeroed: unauthenticated plaintext is never left behind). */
int aead_open(const struct aead *a, const uint8_t nonce[AEAD_NONCE_BYTES], const uint8_t *aad,
              size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
              const uint8_t tag[AEAD_TAG_BYTES]);

/* The same under a key used for this one message. */
int aead_seal_once(const uint8_t key[AEAD_KEY_BYTES], const uint8_t nonce[AEAD_NONCE_BYTES],
                   const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
                   uint8_t tag[AEAD_TAG_BYTES] /* OUT */);
int aead_open_once(const uint8_t key[AEAD_KEY_BYTES], const uint8_t nonce[AEAD_NONCE_BYTES],
                   const uint8_t *aad, size_t aad_len, const uint8_t *in, size_t n, uint8_t *out,
                   const uint8_t tag[AEAD_TAG_BYTES]);

#endif
