/* tls: server-side TLS 1.2 over mbedTLS 2.28 as a memory pipe, and the
 * process-wide random generator. (The self-signed certificate maker of
 * tls.h is in tls_cert.c.)
 *
 * Why a memory pipe: the kernel owns every socket through libuv, so TLS
 * must never read, write or block on a file descriptor. mbedTLS gets a
 * send callback that appends ciphertext to c->out (the kernel sends it)
 * and a recv callback that takes bytes the kernel fed (c->in), answering
 * MBEDTLS_ERR_SSL_WANT_READ when they run out.
 *
 * Protocol choices (mbedTLS 2.28 has no TLS 1.3 server):
 * - TLS 1.2 only (RFC 5246), ECDHE with AEAD suites, server preference,
 *   ECDSA suites first and the ECDHE-RSA equivalents so an operator's RSA
 *   certificate still works; renegotiation refused (the RFC 5746
 *   extension is still sent, for clients that insist on seeing it).
 * - Session tickets (RFC 5077) sealed with AES-256-GCM under keys the
 *   mbedtls ticket module rotates every ticket_lifetime_s.
 * - ALPN (RFC 7301) "xmpp-client" for XEP-0368 direct TLS, and
 *   "xmpp-server" so a server peer using XEP-0368 is not refused; a client
 *   that sends no ALPN is unaffected.
 *
 * Idle memory: each session holds two ~16.7 KB record buffers that
 * mbedTLS 2.28 cannot shrink (DESIGN.md, "Memory per connection");
 * they are page-aligned so that tls_conn_trim() can hand all their pages
 * back to the OS when nothing is in flight. */
#include "kernel/tls.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/version.h>
#include <mbedtls/x509_crt.h>
/* For ssl->handshake->resume (no public getter in 2.28) and the record
 * buffer sizes used by tls_conn_trim(). */
#include <mbedtls/ssl_internal.h>

#include "kernel/err.h"
#include "kernel/mem.h"
#include "kernel/tls_sign.h"

#if MBEDTLS_VERSION_MAJOR != 2
#error "tls.c is written against mbedTLS 2.x (Debian 12 ships 2.28)"
#endif
#if defined(MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH)
#error "tls_conn_trim() assumes fixed-size record buffers"
#endif

/* ------------------------------------------------------------------ */
/* randomness                                                           */

static pthread_once_t rng_once = PTHREAD_ONCE_INIT;
/* mbedTLS has its own mutex in the DRBG when built with threading, but we
 * do not depend on that build option: the loop and libuv workers share
 * one generator, so every draw holds this lock. */
static pthread_mutex_t rng_lock = PTHREAD_MUTEX_INITIALIZER;
static mbedtls_entropy_context rng_entropy;
static mbedtls_ctr_drbg_context rng_drbg;

/* Without randomness no key, nonce or token is safe: fatal, like OOM. */
static void rng_fatal(const char *what, int rc)
{
    char msg[128];
    mbedtls_strerror(rc, msg, sizeof msg);
    fprintf(stderr, "stanzad: random generator %s failed: %s\n", what, msg);
    abort();
}

static void rng_init(void)
{
    static const char personal[] = "stanzad rng";
    mbedtls_entropy_init(&rng_entropy);
    mbedtls_ctr_drbg_init(&rng_drbg);
    int rc = mbedtls_ctr_drbg_seed(&rng_drbg, mbedtls_entropy_func, &rng_entropy,
                                   (const unsigned char *)personal, sizeof personal - 1);
    if (rc != 0)
        rng_fatal("seeding", rc);
}

void rng_bytes(void *out, size_t n)
{
    unsigned char *p = out;
    pthread_once(&rng_once, rng_init);
    pthread_mutex_lock(&rng_lock);
    while (n > 0) {
        size_t chunk = n < MBEDTLS_CTR_DRBG_MAX_REQUEST ? n : MBEDTLS_CTR_DRBG_MAX_REQUEST;
        int rc = mbedtls_ctr_drbg_random(&rng_drbg, p, chunk);
        if (rc != 0)
            rng_fatal("draw", rc);
        p += chunk;
        n -= chunk;
    }
    pthread_mutex_unlock(&rng_lock);
}

void rng_token(char *out, size_t n)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    enum { ALPHABET_LEN = sizeof alphabet - 1, ACCEPT_BELOW = 256 / ALPHABET_LEN * ALPHABET_LEN };
    _Static_assert(ALPHABET_LEN == 62, "A-Za-z0-9");
    uint8_t pool[64];
    size_t used = sizeof pool;
    size_t i = 0;
    while (i < n) {
        if (used == sizeof pool) {
            rng_bytes(pool, sizeof pool);
            used = 0;
        }
        uint8_t b = pool[used++];
        /* Rejecting 248..255 keeps all 62 characters equally likely. */
        if (b < ACCEPT_BELOW)
            out[i++] = alphabet[b % ALPHABET_LEN];
    }
    out[n] = '\0';
    mbedtls_platform_zeroize(pool, sizeof pool);
}

/* The f_rng every mbedTLS call here uses. */
static int tls_rng(void *ctx, unsigned char *out, size_t n)
{
    (void)ctx;
    rng_bytes(out, n);
    return 0;
}

/* ------------------------------------------------------------------ */
/* server configuration                                                 */

struct tls_server {
    mbedtls_ssl_config conf;
    mbedtls_x509_crt chain;
    mbedtls_pk_context key;
    mbedtls_ssl_ticket_context ticket;
    char signer[96]; /* who makes the handshake signatures, for the log */
};

/* Server preference order: AEAD only, forward secrecy only. */
static const int tls_suites[] = {
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    0,
};

/* Key exchange groups, in the order the server picks them from what the
 * client offers. The default list starts with P-521 and Brainpool, which
 * cost several times X25519's CPU per handshake. */
static const mbedtls_ecp_group_id tls_curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_SECP384R1,
    MBEDTLS_ECP_DP_NONE,
};

static const char *tls_alpn[] = {"xmpp-client", "xmpp-server", NULL};

/* Writes "tls: <what> <path>: <mbedTLS reason>" into errbuf. */
static void tls_reason(char *errbuf, size_t errlen, const char *what, const char *path, int rc)
{
    char msg[160];
    mbedtls_strerror(rc, msg, sizeof msg);
    snprintf(errbuf, errlen, "tls: %s %s: %s", what, path, msg);
}

/* Opens path first so that a missing or unreadable file is reported with
 * the system's words instead of "PK - Read/write of file failed". */
static int tls_readable(const char *path, const char *what, char *errbuf, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        snprintf(errbuf, errlen, "tls: cannot read %s %s: %s", what, path, strerror(-rc));
        return rc;
    }
    close(fd);
    return 0;
}

static int tls_load(struct tls_server *s, const struct tls_server_opts *o, char *errbuf,
                    size_t errlen)
{
    int rc = tls_readable(o->cert_path, "certificate", errbuf, errlen);
    if (rc == 0)
        rc = tls_readable(o->key_path, "key", errbuf, errlen);
    if (rc != 0)
        return rc;
    rc = mbedtls_x509_crt_parse_file(&s->chain, o->cert_path);
    if (rc < 0) {
        tls_reason(errbuf, errlen, "bad certificate", o->cert_path, rc);
        return -ERR_CONFIG;
    }
    if (rc > 0) {
        snprintf(errbuf, errlen, "tls: bad certificate %s: %d certificate(s) in it do not parse",
                 o->cert_path, rc);
        return -ERR_CONFIG;
    }
    rc = mbedtls_pk_parse_keyfile(&s->key, o->key_path, NULL);
    if (rc != 0) {
        tls_reason(errbuf, errlen, "bad key", o->key_path, rc);
        return -ERR_CONFIG;
    }
    rc = mbedtls_pk_check_pair(&s->chain.pk, &s->key);
    if (rc != 0) {
        snprintf(errbuf, errlen, "tls: key %s does not match certificate %s", o->key_path,
                 o->cert_path);
        return -ERR_CONFIG;
    }
    char why[64] = "as configured";
    if (!o->mbedtls_signs && tls_sign_offload(&s->key, &s->chain.pk, why, sizeof why) == 0)
        snprintf(s->signer, sizeof s->signer, "libcrypto");
    else
        snprintf(s->signer, sizeof s->signer, "mbedTLS (%s)", why);
    return 0;
}

static int tls_configure(struct tls_server *s, const struct tls_server_opts *o, char *errbuf,
                         size_t errlen)
{
    mbedtls_ssl_config *conf = &s->conf;
    int rc = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_SERVER, MBEDTLS_SSL_TRANSPORT_STREAM,
                                         MBEDTLS_SSL_PRESET_DEFAULT);
    if (rc == 0)
        rc = mbedtls_ssl_conf_own_cert(conf, &s->chain, &s->key);
    if (rc == 0)
        rc = mbedtls_ssl_conf_alpn_protocols(conf, tls_alpn);
    if (rc != 0) {
        tls_reason(errbuf, errlen, "cannot configure with", o->cert_path, rc);
        return -ERR_TLS;
    }
    mbedtls_ssl_conf_rng(conf, tls_rng, NULL);
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_ciphersuites(conf, tls_suites);
    mbedtls_ssl_conf_curves(conf, tls_curves);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
    mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif
    if (o->ticket_lifetime_s == 0)
        return 0; /* no ticket callbacks: the server never issues one */
    rc = mbedtls_ssl_ticket_setup(&s->ticket, tls_rng, NULL, MBEDTLS_CIPHER_AES_256_GCM,
                                  o->ticket_lifetime_s);
    if (rc != 0) {
        tls_reason(errbuf, errlen, "cannot set up session tickets for", o->cert_path, rc);
        return -ERR_TLS;
    }
    mbedtls_ssl_conf_session_tickets_cb(conf, mbedtls_ssl_ticket_write, mbedtls_ssl_ticket_parse,
                                        &s->ticket);
    return 0;
}

int tls_server_new(struct tls_server **out /* OUT */, const struct tls_server_opts *o,
                   char *errbuf, size_t errlen)
{
    *out = NULL;
    if (errlen > 0)
        errbuf[0] = '\0';
    struct tls_server *s = xcalloc(1, sizeof *s);
    mbedtls_ssl_config_init(&s->conf);
    mbedtls_x509_crt_init(&s->chain);
    mbedtls_pk_init(&s->key);
    mbedtls_ssl_ticket_init(&s->ticket);
    int rc = tls_load(s, o, errbuf, errlen);
    if (rc == 0)
        rc = tls_configure(s, o, errbuf, errlen);
    if (rc != 0) {
        tls_server_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

const char *tls_server_signer(const struct tls_server *s) { return s->signer; }

/* Every tls_conn of s must be freed first: they point into s->conf. */
void tls_server_free(struct tls_server *s)
{
    if (s == NULL)
        return;
    mbedtls_ssl_ticket_free(&s->ticket);
    mbedtls_ssl_config_free(&s->conf);
    mbedtls_pk_free(&s->key);
    mbedtls_x509_crt_free(&s->chain);
    free(s);
}

/* ------------------------------------------------------------------ */
/* connections                                                          */

struct tls_conn {
    mbedtls_ssl_context ssl;
    /* Fed ciphertext; in.p[0..in_off) is consumed and dropped at the next
     * feed, so the buffer never holds more than what is unread. Its size
     * is bounded by the caller, who feeds one socket read and then reads
     * until tls_conn_read returns 0. */
    struct buf in;
    size_t in_off;
    struct buf out;   /* ciphertext for the socket, see tls_conn_pending_out */
    int dead;         /* 0, or the code every later read returns */
    int mbedtls_err;  /* the mbedTLS code that killed it, for debugging */
    uint8_t established;
    uint8_t resumed;
    /* Set by tls_conn_trim(): the input record counter (the 8 bytes at
     * in_buf, in a page it returned) is held in in_ctr until the next
     * call into mbedTLS puts it back. */
    uint8_t in_ctr_saved;
    unsigned char in_ctr[8];
};

static int conn_send(void *ctx, const unsigned char *p, size_t n)
{
    struct tls_conn *c = ctx;
    buf_put(&c->out, p, n);
    return c->out.err ? MBEDTLS_ERR_SSL_ALLOC_FAILED : (int)n;
}

static int conn_recv(void *ctx, unsigned char *p, size_t n)
{
    struct tls_conn *c = ctx;
    assert(c->in_off <= c->in.len);
    size_t avail = c->in.len - c->in_off;
    if (avail == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (n > avail)
        n = avail;
    memcpy(p, c->in.p + c->in_off, n);
    c->in_off += n;
    if (c->in_off == c->in.len) {
        buf_reset(&c->in);
        c->in_off = 0;
    }
    return (int)n;
}

static size_t page_size(void)
{
    static size_t ps;
    if (ps == 0)
        ps = (size_t)sysconf(_SC_PAGESIZE);
    return ps;
}

/* A record buffer's length rounded up to whole pages. */
static size_t buffer_span(size_t len)
{
    size_t ps = page_size();
    return (len + ps - 1) / ps * ps;
}

/* The two record buffers of a session live in one slot of whole pages
 * (in_buf, then out_buf, each page-aligned) carved from large anonymous
 * mappings, outside malloc's heap: no page of a slot is shared with
 * anything else, so tls_conn_trim() can return every one of them, and
 * the heap is not cut into 16 KiB holes between small objects. A free
 * slot has had MADV_DONTNEED: it costs no RAM and reads as zeros, which
 * is what mbedtls_ssl_setup's calloc gave. Mappings are never unmapped
 * (address space only); a few hundred cover 20,000 sessions, far below
 * vm.max_map_count, and glibc's M_MMAP_MAX does not apply to them. */
#define SLOTS_PER_MAPPING 64

static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned char **free_slots; /* stack of free slots */
static size_t free_count, slots_made; /* free_slots has room for all */

static size_t slot_bytes(void)
{
    return buffer_span(MBEDTLS_SSL_IN_BUFFER_LEN) + buffer_span(MBEDTLS_SSL_OUT_BUFFER_LEN);
}

static void slots_grow(void)
{
    size_t size = slot_bytes();
    unsigned char *m = mmap(NULL, size * SLOTS_PER_MAPPING, PROT_READ | PROT_WRITE,
                            MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) {
        fprintf(stderr, "stanzad: cannot map TLS record buffers: %s\n", strerror(errno));
        abort(); /* out of memory, as for malloc */
    }
    /* A huge page would make one touched byte cost 2 MiB. */
    madvise(m, size * SLOTS_PER_MAPPING, MADV_NOHUGEPAGE);
    slots_made += SLOTS_PER_MAPPING;
    free_slots = xrealloc(free_slots, slots_made * sizeof *free_slots);
    for (size_t i = SLOTS_PER_MAPPING; i-- > 0;)
        free_slots[free_count++] = m + i * size;
}

static unsigned char *slot_take(void)
{
    pthread_mutex_lock(&slots_lock);
    if (free_count == 0)
        slots_grow();
    unsigned char *slot = free_slots[--free_count];
    pthread_mutex_unlock(&slots_lock);
    return slot;
}

/* Drops the slot's pages, which also erases the session's plaintext and
 * keys' traces in the buffers, as mbedtls_ssl_free's zeroize would. */
static void slot_give_back(unsigned char *slot)
{
    madvise(slot, slot_bytes(), MADV_DONTNEED);
    pthread_mutex_lock(&slots_lock);
    free_slots[free_count++] = slot;
    pthread_mutex_unlock(&slots_lock);
}

/* mbedtls_ssl_setup() callocs both record buffers wherever malloc puts
 * them (MBEDTLS_PLATFORM_MEMORY is off, so there is no allocator hook):
 * swap them for a slot before any record is read or written.
 * mbedtls_ssl_reset_in_out_pointers() is what setup itself calls to aim
 * the record pointers at the buffers; the buffers hold no state yet. */
static void use_slot(mbedtls_ssl_context *ssl)
{
    free(ssl->in_buf);
    free(ssl->out_buf);
    ssl->in_buf = slot_take();
    ssl->out_buf = ssl->in_buf + buffer_span(MBEDTLS_SSL_IN_BUFFER_LEN);
    mbedtls_ssl_reset_in_out_pointers(ssl);
}

/* Before mbedtls_ssl_free(), which would free() them: NULL buffers it
 * skips. */
static void release_slot(mbedtls_ssl_context *ssl)
{
    if (ssl->in_buf == NULL)
        return;
    slot_give_back(ssl->in_buf);
    ssl->in_buf = ssl->out_buf = NULL;
}

struct tls_conn *tls_conn_new(struct tls_server *s)
{
    struct tls_conn *c = xcalloc(1, sizeof *c);
    mbedtls_ssl_init(&c->ssl);
    int rc = mbedtls_ssl_setup(&c->ssl, &s->conf);
    if (rc != 0) {
        /* It only fails to allocate its buffers: out of memory is fatal. */
        fprintf(stderr, "stanzad: mbedtls_ssl_setup failed (%d)\n", rc);
        abort();
    }
    use_slot(&c->ssl);
    mbedtls_ssl_set_bio(&c->ssl, c, conn_send, conn_recv, NULL);
    buf_init(&c->in);
    buf_init(&c->out);
    return c;
}

void tls_conn_free(struct tls_conn *c)
{
    if (c == NULL)
        return;
    release_slot(&c->ssl);
    mbedtls_ssl_free(&c->ssl);
    buf_free(&c->in);
    buf_free(&c->out);
    free(c);
}

static int conn_fail(struct tls_conn *c, int mbedtls_rc)
{
    c->mbedtls_err = mbedtls_rc;
    c->dead = -ERR_TLS;
    return -ERR_TLS;
}

void tls_conn_feed(struct tls_conn *c, const uint8_t *p, size_t n)
{
    if (n == 0 || c->dead)
        return;
    if (c->in_off > 0) {
        c->in.len -= c->in_off;
        memmove(c->in.p, c->in.p + c->in_off, c->in.len);
        c->in_off = 0;
    }
    buf_put(&c->in, p, n);
    if (c->in.err)
        conn_fail(c, MBEDTLS_ERR_SSL_ALLOC_FAILED);
}

/* Steps the handshake as far as the input goes. The step loop, rather
 * than mbedtls_ssl_handshake(), lets us see handshake->resume (set while
 * parsing the ClientHello) before the wrap-up step frees it. */
static int conn_handshake(struct tls_conn *c)
{
    while (c->ssl.state != MBEDTLS_SSL_HANDSHAKE_OVER) {
        if (c->ssl.handshake != NULL && c->ssl.handshake->resume)
            c->resumed = 1;
        int rc = mbedtls_ssl_handshake_step(&c->ssl);
        if (rc != 0)
            return rc;
    }
    c->established = 1;
    return 0;
}

static int want_more(int rc)
{
    return rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE;
}

/* Puts back what tls_conn_trim() took out of the record buffers before
 * mbedTLS looks at them again. */
static void conn_wake(struct tls_conn *c)
{
    if (!c->in_ctr_saved)
        return;
    memcpy(c->ssl.in_ctr, c->in_ctr, sizeof c->in_ctr);
    c->in_ctr_saved = 0;
}

int tls_conn_read(struct tls_conn *c, uint8_t *out, size_t cap)
{
    assert(cap > 0);
    if (c->dead)
        return c->dead;
    conn_wake(c);
    if (!c->established) {
        int rc = conn_handshake(c);
        if (want_more(rc))
            return 0;
        if (rc != 0)
            return conn_fail(c, rc);
    }
    /* mbedtls_ssl_read first returns what is left of an already decrypted
     * record (ssl.in_offt), then decrypts the next whole record from our
     * input, so a caller that reads until 0 loses nothing. */
    int rc = mbedtls_ssl_read(&c->ssl, out, cap);
    if (rc > 0)
        return rc;
    if (rc == 0 || want_more(rc))
        return 0;
    if (rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY) {
        c->dead = -ERR_CLOSED;
        return -ERR_CLOSED;
    }
    return conn_fail(c, rc);
}

/* Writing before the handshake is done (or after the peer closed) is a
 * caller's mistake; it is reported as -ERR_TLS rather than queued. */
int tls_conn_write(struct tls_conn *c, const uint8_t *p, size_t n)
{
    if (c->dead || !c->established)
        return -ERR_TLS;
    conn_wake(c);
    while (n > 0) {
        /* One call seals at most one record (16 KiB, or less if the peer
         * negotiated a max_fragment_length); conn_send never blocks, so
         * WANT_WRITE cannot happen and any error is fatal. */
        int rc = mbedtls_ssl_write(&c->ssl, p, n);
        if (rc <= 0)
            return conn_fail(c, rc);
        p += rc;
        n -= (size_t)rc;
    }
    return 0;
}

void tls_conn_close_notify(struct tls_conn *c)
{
    if (c->dead == -ERR_TLS || !c->established)
        return;
    conn_wake(c);
    int rc = mbedtls_ssl_close_notify(&c->ssl);
    if (rc != 0)
        conn_fail(c, rc);
}

struct buf *tls_conn_pending_out(struct tls_conn *c) { return &c->out; }

int tls_conn_established(const struct tls_conn *c) { return c->established; }

int tls_conn_resumed(const struct tls_conn *c) { return c->resumed; }

/* ------------------------------------------------------------------ */
/* trimming idle record buffers                                         */

/* Why this is safe:
 *
 * - The record buffers are whole pages of their own slot (use_slot), so
 *   every page holds bytes of that buffer and nothing else.
 * - MADV_DONTNEED on private anonymous memory makes the pages read back
 *   as zeros and costs a page fault on the next touch.
 * - Zeros are harmless only if mbedTLS keeps no state there. What it
 *   keeps between records is the incoming sequence number, the 8 bytes
 *   at in_ctr (= in_buf for TLS): it is saved in the tls_conn and put
 *   back by conn_wake() before the next call into mbedTLS. The record
 *   header and body (in_hdr, out_hdr onwards) are rewritten from scratch
 *   for every record, and the outgoing number lives in ssl.cur_out_ctr
 *   and is copied to out_ctr per record.
 * - Nothing may be in flight: no partial record (in_left), no decrypted
 *   but unread plaintext (in_msglen, in_offt), nothing unsent (out_left).
 *   Handshake messages live in the same buffers, hence "established". */
static int conn_idle(const struct tls_conn *c)
{
    const mbedtls_ssl_context *ssl = &c->ssl;
    return c->established && !c->dead && c->in.len == c->in_off && c->out.len == 0 &&
           ssl->in_left == 0 && ssl->in_msglen == 0 && ssl->in_offt == NULL &&
           ssl->out_left == 0;
}

void tls_conn_trim(struct tls_conn *c)
{
    if (!conn_idle(c))
        return;
    mbedtls_ssl_context *ssl = &c->ssl;
    assert(ssl->in_ctr == ssl->in_buf);
    if (!c->in_ctr_saved) { /* a second trim must not save the zeros */
        memcpy(c->in_ctr, ssl->in_ctr, sizeof c->in_ctr);
        c->in_ctr_saved = 1;
    }
    madvise(ssl->in_buf, buffer_span(MBEDTLS_SSL_IN_BUFFER_LEN), MADV_DONTNEED);
    madvise(ssl->out_buf, buffer_span(MBEDTLS_SSL_OUT_BUFFER_LEN), MADV_DONTNEED);
    /* Our own buffers are empty: give back their memory too (the next
     * read allocates one again, once per wake-up after a trim). */
    buf_free(&c->out);
    buf_free(&c->in);
    c->in_off = 0;
}

/* Counts resident pages touching [p, p + n). */
static size_t resident(const unsigned char *p, size_t n)
{
    uintptr_t ps = page_size();
    uintptr_t a = (uintptr_t)p & ~(ps - 1);
    uintptr_t b = ((uintptr_t)p + n + ps - 1) & ~(ps - 1);
    unsigned char vec[64];
    size_t pages = (b - a) / ps, count = 0;
    assert(pages <= sizeof vec);
    if (mincore((void *)a, b - a, vec) != 0)
        return 0;
    for (size_t i = 0; i < pages; i++)
        count += vec[i] & 1;
    return count * ps;
}

size_t tls_conn_resident(const struct tls_conn *c)
{
    return resident(c->ssl.in_buf, buffer_span(MBEDTLS_SSL_IN_BUFFER_LEN)) +
           resident(c->ssl.out_buf, buffer_span(MBEDTLS_SSL_OUT_BUFFER_LEN));
}
