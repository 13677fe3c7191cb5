/* tls: TLS for client and server streams through mbedTLS 2.28, driven as
 * a memory pipe so the kernel owns the sockets (libuv) and TLS never
 * blocks or touches a file descriptor.
 *
 *   socket bytes --tls_conn_feed--> [mbedTLS] --tls_conn_read--> plaintext
 *   plaintext --tls_conn_write--> [mbedTLS] --tls_conn_pending_out--> socket
 *
 * One tls_server per process holds the certificate chain, the key, the
 * random generator and the session-ticket keys (rotated, RFC 5077), so a
 * reconnecting client can resume without a full handshake. */
#ifndef STANZAD_TLS_H
#define STANZAD_TLS_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/buf.h"

struct tls_server;
struct tls_conn;

struct tls_server_opts {
    const char *cert_path;         /* PEM chain, leaf first */
    const char *key_path;          /* PEM private key */
    uint32_t ticket_lifetime_s;    /* ticket key rotation period; 0 disables tickets */
    int mbedtls_signs;             /* 1: keep mbedTLS's own signing (no tls_sign_offload) */
};

/* Makes a self-signed ECDSA P-256 certificate for domain (with SAN
 * entries domain and *.domain) and its key, unless both files exist.
 * The key file is written with mode 0600. Returns 0 (also when the files
 * already existed) or a negative code; *made says whether it made them. */
int tls_make_selfsigned(const char *cert_path, const char *key_path, const char *domain,
                        int *made /* OUT */);

/* Loads cert and key. Returns 0 and *out (freed with tls_server_free) or
 * a negative code with a one-line reason in errbuf. */
int tls_server_new(struct tls_server **out /* OUT */, const struct tls_server_opts *o,
                   char *errbuf, size_t errlen);
void tls_server_free(struct tls_server *s);
/* Who signs the handshakes: "libcrypto", or "mbedTLS (<why>)" when the
 * key could not be handed to libcrypto (kernel/tls_sign.c). */
const char *tls_server_signer(const struct tls_server *s);

/* A new server-side TLS session; freed with tls_conn_free(). */
struct tls_conn *tls_conn_new(struct tls_server *s);
void tls_conn_free(struct tls_conn *c);

/* Hands bytes read from the socket to TLS (copied). */
void tls_conn_feed(struct tls_conn *c, const uint8_t *p, size_t n);
/* Runs the handshake as far as input allows, then decrypts. Returns the
 * number of plaintext bytes put in out (>0), 0 when more input is needed
 * (check tls_conn_pending_out: the handshake may have output), or -ERR_TLS
 * (the connection is dead; pending output may hold an alert) or
 * -ERR_CLOSED when the peer sent close_notify. */
int tls_conn_read(struct tls_conn *c, uint8_t *out, size_t cap);
/* Encrypts plaintext into the pending output. Returns 0 or -ERR_TLS. */
int tls_conn_write(struct tls_conn *c, const uint8_t *p, size_t n);
/* Queues a close_notify alert. */
void tls_conn_close_notify(struct tls_conn *c);
/* The ciphertext waiting to go to the socket. The caller sends it and
 * then calls buf_reset() on it. Borrowed from c. */
struct buf *tls_conn_pending_out(struct tls_conn *c);
/* 1 once the handshake is complete. */
int tls_conn_established(const struct tls_conn *c);
/* 1 if the handshake resumed a session (ticket) instead of a full one. */
int tls_conn_resumed(const struct tls_conn *c);
/* Returns pages of idle record buffers to the OS (see doc/performance.md);
 * safe to call when nothing is pending. */
void tls_conn_trim(struct tls_conn *c);
/* Bytes of c's two mbedTLS record buffers that are resident in RAM now
 * (mincore); for tests and the per-session memory figures in bench/. */
size_t tls_conn_resident(const struct tls_conn *c);

/* --- randomness for the kernel (never for handlers) ----------------- */
/* Fills out with n random bytes from a CTR-DRBG seeded by the OS. */
void rng_bytes(void *out, size_t n);
/* Writes n random printable characters (A-Za-z0-9) and a NUL: out must
 * have n + 1 bytes. */
void rng_token(char *out, size_t n);

#endif
