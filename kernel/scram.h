/* scram: SASL SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677), and the
 * stored credentials they need. mbedTLS provides HMAC, hashes, PBKDF2.
 *
 * No password is ever stored: only salt, iteration count, StoredKey and
 * ServerKey (RFC 5802 §3) for each hash. Computing them (PBKDF2) is slow on
 * purpose and happens once, when an account is created or its password
 * changed, never at login. Channel binding is not offered (no -PLUS): the
 * server answers gs2 flag "y" with an error if it thinks binding was
 * possible, as §6 requires, and accepts "n" and "y". */
#ifndef STANZAD_SCRAM_H
#define STANZAD_SCRAM_H

#include <stddef.h>
#include <stdint.h>

enum scram_hash { SCRAM_SHA1 = 0, SCRAM_SHA256 = 1, SCRAM_HASH_COUNT_ };

#define SCRAM_SALT_LEN 16
#define SCRAM_KEY_MAX 32 /* SHA-256 output */
#define SCRAM_ITER_MIN 4096 /* RFC 7677 §4 recommends at least 4096 */

struct scram_key {
    uint8_t stored[SCRAM_KEY_MAX];
    uint8_t server[SCRAM_KEY_MAX];
};

/* What an account keeps instead of a password. */
struct scram_creds {
    uint8_t salt[SCRAM_SALT_LEN];
    uint32_t iter;
    struct scram_key key[SCRAM_HASH_COUNT_];
};

size_t scram_hash_len(enum scram_hash h); /* 20 or 32 */
const char *scram_mech_name(enum scram_hash h); /* "SCRAM-SHA-1", "SCRAM-SHA-256" */

/* Derives credentials from a password (already SASLprep'ed by the caller
 * or plain UTF-8; see scram.c) with the given salt and iteration count.
 * Returns 0 or -ERR_CRYPTO. Slow: run it off the event loop. */
int scram_creds_make(struct scram_creds *out /* OUT */, const char *password,
                     const uint8_t salt[SCRAM_SALT_LEN], uint32_t iter);
/* Checks a plaintext password (SASL PLAIN) against stored credentials in
 * constant time. Returns 0 or -ERR_AUTH. Slow (PBKDF2). */
int scram_creds_check(const struct scram_creds *c, const char *password);

/* One server-side SCRAM exchange (RFC 5802 §5). The caller supplies the
 * credentials once it knows the user (scram_server_first gives the name). */
struct scram_server {
    enum scram_hash hash;
    int state; /* internal */
    char *user;                /* authcid after SASLname decoding */
    char *client_first_bare;   /* kept for AuthMessage */
    char *server_first;
    char nonce[96];
    struct scram_creds creds;
};

void scram_server_init(struct scram_server *s, enum scram_hash h);
void scram_server_free(struct scram_server *s);
/* Parses client-first-message. On success returns 0 and sets s->user
 * (the caller then looks the user up). -ERR_PARSE on bad syntax
 * (SASL failure malformed-request), -ERR_AUTH for an authzid that differs
 * from the user or a channel-binding request we cannot honour. */
int scram_server_client_first(struct scram_server *s, const char *msg, size_t len);
/* Builds server-first-message with the given credentials and a nonce part
 * from the caller (random, printable, no ','). Returns a string the
 * caller frees with free(). For an unknown user the caller passes made-up
 * but stable credentials so the exchange fails only at the proof. */
char *scram_server_first(struct scram_server *s, const struct scram_creds *creds,
                         const char *server_nonce);
/* Checks client-final-message. On success returns 0 and *out_final is the
 * server-final-message ("v=...") to send, freed by the caller with free().
 * -ERR_AUTH for a wrong proof or nonce, -ERR_PARSE for bad syntax. */
int scram_server_client_final(struct scram_server *s, const char *msg, size_t len,
                              char **out_final /* OUT */);

/* Client side, for tests and the benchmark generator: computes the
 * client-final-message given the password's SaltedPassword. */
int scram_client_final(enum scram_hash h, const uint8_t *salted_password,
                       const char *client_first_bare, const char *server_first,
                       const char *client_final_without_proof, char **out /* OUT */,
                       uint8_t server_signature[SCRAM_KEY_MAX] /* OUT */);
/* PBKDF2 (RFC 5802 Hi()). out has scram_hash_len(h) bytes. */
int scram_salted_password(enum scram_hash h, const char *password, const uint8_t *salt,
                          size_t salt_len, uint32_t iter, uint8_t *out);

#endif
