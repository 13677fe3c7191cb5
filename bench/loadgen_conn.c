/* loadgen_conn: one client connection of the load generator, from TCP
 * connect to a bound XMPP session, as a state machine on libuv.
 *
 * Order of a login (RFC 6120 §9 walks through the same steps):
 *   TCP connect from a 127.x.y.z source address
 *   [STARTTLS: stream header, features, <starttls/>, <proceed/>]   §5
 *   TLS 1.2 handshake (mbedTLS client over a memory pipe), resuming with
 *   the account's saved ticket (RFC 5077) when asked to
 *   stream header, features, SASL SCRAM (RFC 5802 §5, RFC 7677)        §6
 *   stream restart, features, bind (§7), session if not optional
 *   (RFC 3921 §3, draft-cridland-xmpp-session), initial presence.
 *
 * TLS runs as a memory pipe, as in the server (kernel/tls.c): the socket
 * belongs to libuv, mbedTLS reads ciphertext the read callback got and
 * appends ciphertext to c->tx, which is written with uv_try_write.
 *
 * What the connection answers to the server is in loadgen_xmpp.c.
 *
 * Lifetime: a connection is freed only in its handle's close callback,
 * after closed_cb, so code running inside expat or mbedTLS callbacks may
 * fail or close it and return safely. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/ssl.h>
/* ssl->handshake->resume has no public getter in 2.28 (as in kernel/tls.c). */
#include <mbedtls/ssl_internal.h>
/* mbedtls_pk_info_t, for skip_ske_check(). */
#include <mbedtls/pk_internal.h>

#include "bench/loadgen_conn.h"
#include "kernel/buf.h"
#include "kernel/err.h"
#include "kernel/mem.h"

#define NS_STREAMS "http://etherx.jabber.org/streams"

/* Bytes one socket read may return; the buffer is shared by all
 * connections (one thread, consumed before the next read). */
#define LG_READ_BYTES (64 * 1024)
/* How long a closing connection waits for the server's stream end. */
#define LG_CLOSE_WAIT_MS 2000
/* Ciphertext output buffer kept between writes; bigger ones are freed. */
#define LG_TX_KEEP 16384

static const char *const state_names[] = {
    "tcp", "features-before-tls", "starttls", "tls-handshake", "features",
    "sasl-challenge", "sasl-success", "features-after-auth", "bind", "session",
    "register-form", "register", "ready", "closing",
};
_Static_assert(sizeof state_names / sizeof *state_names == ST_CLOSING + 1, "one name per state");

struct lg_wreq {
    uv_write_t req;
    size_t n;
    char data[];
};

static uint8_t read_buf[LG_READ_BYTES];
static unsigned char plain_buf[MBEDTLS_SSL_IN_CONTENT_LEN];

static void feed_xml(struct lg_conn *c, const char *p, size_t n);

/* ---- closing ---- */

static void on_closed(uv_handle_t *h)
{
    struct lg_conn *c = h->data;
    struct lg_ctx *x = c->ctx;
    if (c->prev)
        c->prev->next = c->next;
    else
        x->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    x->live--;
    c->ops->closed_cb(c, c->err, c->why);
    if (c->ssl) {
        mbedtls_ssl_free(c->ssl);
        free(c->ssl);
    }
    lg_xml_free(c->xml);
    buf_free(&c->rx);
    buf_free(&c->tx);
    free(c->first_bare);
    free(c->jid);
    free(c);
}

static void close_now(struct lg_conn *c)
{
    if (c->dead)
        return;
    c->dead = true;
    if (c->tcp_made)
        uv_close((uv_handle_t *)&c->tcp, on_closed);
    else
        uv_close((uv_handle_t *)&c->defer, on_closed);
}

void lgc_fail(struct lg_conn *c, int err, const char *fmt, ...)
{
    if (c->dead)
        return;
    if (c->st == ST_CLOSING) {
        close_now(c); /* the peer went first: still a clean end */
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    int k = snprintf(c->why, sizeof c->why, "%s: ", state_names[c->st]);
    vsnprintf(c->why + k, sizeof c->why - (size_t)k, fmt, ap);
    va_end(ap);
    c->err = err ? err : -ERR_INVAL;
    close_now(c);
}

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status)
{
    (void)status; /* a failed write shows up as a read error too */
    free(req);
}

static void flush(struct lg_conn *c)
{
    if (c->tx.len == 0 || c->dead)
        return;
    uv_buf_t b = uv_buf_init((char *)c->tx.p, (unsigned)c->tx.len);
    int rc = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    size_t done = rc > 0 ? (size_t)rc : 0;
    if (rc < 0 && rc != UV_EAGAIN) {
        lgc_fail(c, rc, "write: %s", uv_strerror(rc));
        return;
    }
    if (done < c->tx.len) {
        struct lg_wreq *w = xmalloc(sizeof *w + c->tx.len - done);
        w->n = c->tx.len - done;
        memcpy(w->data, c->tx.p + done, w->n);
        uv_buf_t rest = uv_buf_init(w->data, (unsigned)w->n);
        rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &rest, 1, on_written);
        if (rc < 0) {
            free(w);
            lgc_fail(c, rc, "write: %s", uv_strerror(rc));
            return;
        }
    }
    if (c->tx.cap > LG_TX_KEEP)
        buf_free(&c->tx);
    else
        buf_reset(&c->tx);
}

void lgc_send_raw(struct lg_conn *c, const char *s, size_t n)
{
    if (c->dead)
        return;
    if (!c->tls_up) {
        buf_put(&c->tx, s, n);
        flush(c);
        return;
    }
    while (n > 0) {
        int rc = mbedtls_ssl_write(c->ssl, (const unsigned char *)s, n);
        if (rc <= 0) {
            lgc_fail(c, -ERR_TLS, "TLS write error -0x%04x", (unsigned)-rc);
            return;
        }
        s += rc;
        n -= (size_t)rc;
    }
    flush(c);
}

static void send_str(struct lg_conn *c, const char *s) { lgc_send_raw(c, s, strlen(s)); }

void lgc_send_fmt(struct lg_conn *c, const char *fmt, ...)
{
    char tmp[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    /* Our own stanzas are short: option values are at most LG_TEXT_MAX. */
    assert(n > 0);
    assert((size_t)n < sizeof tmp);
    lgc_send_raw(c, tmp, (size_t)n);
}

void lgc_send_stream_header(struct lg_conn *c)
{
    lgc_send_fmt(c,
             "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='" NS_STREAMS
             "' to='%s' version='1.0'>",
             c->ctx->opts->domain);
    c->stream_open = true;
}

/* ---- TLS over memory ---- */

static int bio_send(void *arg, const unsigned char *p, size_t n)
{
    struct lg_conn *c = arg;
    buf_put(&c->tx, p, n);
    return (int)n;
}

static int bio_recv(void *arg, unsigned char *p, size_t n)
{
    struct lg_conn *c = arg;
    size_t left = c->in_n - c->in_off;
    if (left == 0)
        return MBEDTLS_ERR_SSL_WANT_READ;
    if (n > left)
        n = left;
    memcpy(p, c->in_p + c->in_off, n);
    c->in_off += n;
    return (int)n;
}

void lgc_ready(struct lg_conn *c)
{
    c->t_ready = uv_hrtime();
    c->st = ST_READY;
    if (c->goal == LG_GOAL_LOGIN && c->ctx->opts->presence)
        send_str(c, "<presence/>");
    c->ops->ready_cb(c);
}

static void save_ticket(struct lg_conn *c)
{
    struct lg_account *a = c->acct;
    if (a->ticket == NULL) {
        a->ticket = xmalloc(sizeof *a->ticket);
    } else {
        mbedtls_ssl_session_free(a->ticket);
    }
    mbedtls_ssl_session_init(a->ticket);
    if (mbedtls_ssl_get_session(c->ssl, a->ticket) != 0) {
        mbedtls_ssl_session_free(a->ticket);
        free(a->ticket);
        a->ticket = NULL;
    }
}

static void tls_established(struct lg_conn *c)
{
    c->tls_up = true;
    if (c->ctx->opts->resume)
        save_ticket(c);
    if (c->goal == LG_GOAL_HANDSHAKE) {
        lgc_ready(c);
        return;
    }
    c->st = ST_FEATURES;
    lgc_send_stream_header(c);
}

/* The generator never checks the server's certificate (loopback, any
 * server, self-signed certificates), so checking the ServerKeyExchange
 * signature made with that certificate's key proves nothing; yet it is the
 * client's most expensive step (an ECDSA verification, half of its
 * handshake CPU), enough to make the generator, not the server, the
 * bottleneck. Unless --verify-ske, the peer key's verify function is
 * swapped for one that accepts, just before that message is parsed. The
 * copy keeps every other function of the key's type, freeing included. */
static int trust_verify(void *ctx, mbedtls_md_type_t md, const unsigned char *hash,
                        size_t hash_len, const unsigned char *sig, size_t sig_len)
{
    (void)ctx, (void)md, (void)hash, (void)hash_len, (void)sig, (void)sig_len;
    return 0;
}

static void skip_ske_check(mbedtls_ssl_context *ssl)
{
    enum { KINDS = 4 }; /* key types: EC, ECDSA, RSA, and one spare */
    static mbedtls_pk_info_t trusting[KINDS];
    static const mbedtls_pk_info_t *orig[KINDS];
    mbedtls_x509_crt *crt = ssl->session_negotiate ? ssl->session_negotiate->peer_cert : NULL;
    if (crt == NULL || crt->pk.pk_info == NULL)
        return;
    for (size_t i = 0; i < KINDS; i++) {
        if (crt->pk.pk_info == &trusting[i])
            return;
        if (orig[i] == NULL) {
            orig[i] = crt->pk.pk_info;
            trusting[i] = *orig[i];
            trusting[i].verify_func = trust_verify;
        }
        if (orig[i] == crt->pk.pk_info) {
            crt->pk.pk_info = &trusting[i];
            return;
        }
    }
}

/* Steps the handshake by hand, as kernel/tls.c does, to see
 * handshake->resume before the wrap-up step frees it. Returns true when
 * application data may follow. */
static bool tls_handshake(struct lg_conn *c)
{
    mbedtls_ssl_context *ssl = c->ssl;
    while (ssl->state != MBEDTLS_SSL_HANDSHAKE_OVER) {
        if (ssl->handshake != NULL && ssl->handshake->resume)
            c->resumed = true;
        if (ssl->state == MBEDTLS_SSL_SERVER_KEY_EXCHANGE && !c->ctx->opts->verify_ske)
            skip_ske_check(ssl);
        int rc = mbedtls_ssl_handshake_step(ssl);
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE) {
            flush(c);
            return false;
        }
        if (rc != 0) {
            flush(c);
            lgc_fail(c, -ERR_TLS, "TLS handshake error -0x%04x", (unsigned)-rc);
            return false;
        }
    }
    flush(c);
    tls_established(c);
    return !c->dead;
}

static void tls_drive(struct lg_conn *c)
{
    if (!c->tls_up && !tls_handshake(c))
        return;
    while (!c->dead) {
        int rc = mbedtls_ssl_read(c->ssl, plain_buf, sizeof plain_buf);
        if (rc > 0) {
            feed_xml(c, (const char *)plain_buf, (size_t)rc);
            continue;
        }
        if (rc == MBEDTLS_ERR_SSL_WANT_READ || rc == MBEDTLS_ERR_SSL_WANT_WRITE)
            break;
        if (rc == 0 || rc == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
            lgc_fail(c, -ERR_CLOSED, "server closed TLS");
        else
            lgc_fail(c, -ERR_TLS, "TLS read error -0x%04x", (unsigned)-rc);
    }
    flush(c);
}

void lgc_tls_begin(struct lg_conn *c)
{
    struct lg_ctx *x = c->ctx;
    c->ssl = xmalloc(sizeof *c->ssl);
    mbedtls_ssl_init(c->ssl);
    int rc = mbedtls_ssl_setup(c->ssl, &x->tls);
    if (rc == 0)
        rc = mbedtls_ssl_set_hostname(c->ssl, x->opts->domain);
    if (rc == 0 && x->opts->resume && c->acct->ticket)
        rc = mbedtls_ssl_set_session(c->ssl, c->acct->ticket);
    if (rc != 0) {
        lgc_fail(c, -ERR_TLS, "TLS setup error -0x%04x", (unsigned)-rc);
        return;
    }
    mbedtls_ssl_set_bio(c->ssl, c, bio_send, bio_recv, NULL);
    c->st = ST_HANDSHAKE;
    tls_drive(c);
}

/* Socket bytes for mbedTLS: read straight from the shared buffer, and
 * only what a partial record leaves over is copied into c->rx. */
static void tls_input(struct lg_conn *c, const uint8_t *p, size_t n)
{
    bool own = c->rx.len > 0;
    if (own) {
        buf_put(&c->rx, p, n);
        c->in_p = c->rx.p;
        c->in_n = c->rx.len;
    } else {
        c->in_p = p;
        c->in_n = n;
    }
    c->in_off = 0;
    tls_drive(c);
    if (c->dead)
        return;
    size_t left = c->in_n - c->in_off;
    if (left == 0) {
        buf_free(&c->rx);
    } else if (own) {
        memmove(c->rx.p, c->rx.p + c->in_off, left);
        c->rx.len = left;
    } else {
        buf_put(&c->rx, p + c->in_off, left);
    }
    c->in_p = NULL;
    c->in_n = c->in_off = 0;
}

/* ---- socket ---- */

static void on_alloc(uv_handle_t *h, size_t want, uv_buf_t *b)
{
    (void)h;
    (void)want;
    *b = uv_buf_init((char *)read_buf, sizeof read_buf);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    close_now(req->data);
}

/* The server ended its stream or the connection: after our own stream
 * end that is the expected reply, before it a failure. */
void lgc_peer_ended(struct lg_conn *c, int err, const char *what)
{
    if (c->st != ST_CLOSING) {
        lgc_fail(c, err, "%s", what);
        return;
    }
    if (c->tls_up) {
        mbedtls_ssl_close_notify(c->ssl);
        flush(c);
    }
    c->shut.data = c;
    if (c->dead || uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        close_now(c);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    struct lg_conn *c = s->data;
    if (c->dead || n == 0)
        return;
    if (n == UV_EOF) {
        lgc_peer_ended(c, -ERR_CLOSED, "server closed the connection");
        return;
    }
    if (n < 0) {
        lgc_fail(c, (int)n, "read: %s", uv_strerror((int)n));
        return;
    }
    if (c->ssl)
        tls_input(c, (const uint8_t *)b->base, (size_t)n);
    else
        feed_xml(c, b->base, (size_t)n);
}

static void on_connect(uv_connect_t *req, int status)
{
    struct lg_conn *c = req->data;
    if (c->dead)
        return;
    if (status < 0) {
        lgc_fail(c, status, "connect: %s", uv_strerror(status));
        return;
    }
    int rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (rc < 0) {
        lgc_fail(c, rc, "read: %s", uv_strerror(rc));
        return;
    }
    if (c->ctx->opts->tls == LG_DIRECT_TLS) {
        lgc_tls_begin(c);
    } else {
        c->st = ST_PLAIN_FEATURES;
        lgc_send_stream_header(c);
    }
}

static void on_defer(uv_timer_t *t) { close_now(t->data); }

/* Socket, source address, non-blocking connect. Returns 0 or -errno. */
static int tcp_open(struct lg_conn *c)
{
    struct lg_ctx *x = c->ctx;
    int rc = uv_tcp_init_ex(x->loop, &c->tcp, AF_INET);
    if (rc < 0)
        return rc;
    c->tcp_made = true;
    c->tcp.data = c;
    uv_os_fd_t fd;
    int one = 1;
    /* Let connect() pick the port per (source, destination), so one
     * source address is not limited to the ports bind() would share. */
    if (uv_fileno((uv_handle_t *)&c->tcp, &fd) == 0)
        (void)setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    const struct sockaddr_in *src = &x->src[x->seq % x->src_count];
    rc = uv_tcp_bind(&c->tcp, (const struct sockaddr *)src, 0);
    if (rc == 0)
        rc = uv_tcp_nodelay(&c->tcp, 1);
    c->creq.data = c;
    if (rc == 0)
        rc = uv_tcp_connect(&c->creq, &c->tcp, (const struct sockaddr *)&x->opts->server,
                            on_connect);
    return rc;
}

struct lg_conn *lg_conn_start(struct lg_ctx *x, struct lg_account *a, enum lg_goal goal,
                              const struct lg_conn_ops *ops, void *user)
{
    struct lg_conn *c = xcalloc(1, sizeof *c);
    c->ctx = x;
    c->acct = a;
    c->goal = goal;
    c->ops = ops;
    c->user = user;
    c->st = ST_TCP;
    buf_init(&c->rx);
    buf_init(&c->tx);
    c->xml = lg_xml_new(NULL, lgc_on_element, c);
    snprintf(c->resource, sizeof c->resource, "lg%llu", (unsigned long long)x->seq);
    c->next = x->conns;
    if (x->conns)
        x->conns->prev = c;
    x->conns = c;
    x->live++;
    c->t_start = uv_hrtime();
    c->deadline_ms = uv_now(x->loop) + (uint64_t)(x->opts->login_timeout_s * 1000);
    int rc = tcp_open(c);
    x->seq++;
    if (rc < 0) {
        snprintf(c->why, sizeof c->why, "connect: %s", uv_strerror(rc));
        c->err = rc;
        if (c->tcp_made) {
            close_now(c);
        } else {
            /* Report from the loop, never from inside the caller. */
            uv_timer_init(x->loop, &c->defer);
            c->defer.data = c;
            uv_timer_start(&c->defer, on_defer, 0, 0);
        }
    }
    return c;
}

void lg_conn_send(struct lg_conn *c, const char *xml, size_t n)
{
    assert(c->st == ST_READY || c->dead);
    lgc_send_raw(c, xml, n);
}

void lg_conn_close(struct lg_conn *c)
{
    if (c->dead || c->st == ST_CLOSING)
        return;
    bool polite = c->st == ST_READY;
    c->st = ST_CLOSING;
    c->deadline_ms = uv_now(c->ctx->loop) + LG_CLOSE_WAIT_MS;
    if (!polite) {
        close_now(c); /* mid-login: nothing to be polite about */
        return;
    }
    if (c->stream_open) {
        send_str(c, "</stream:stream>");
        return; /* lgc_peer_ended() finishes when the server answers */
    }
    lgc_peer_ended(c, 0, "closed");
}

void lg_conn_abort(struct lg_conn *c)
{
    c->st = ST_CLOSING;
    close_now(c);
}

void lg_conn_sweep(struct lg_ctx *x)
{
    uint64_t now = uv_now(x->loop);
    for (struct lg_conn *c = x->conns; c; c = c->next) {
        if (c->dead || c->st == ST_READY || now < c->deadline_ms)
            continue;
        if (c->st == ST_CLOSING)
            close_now(c);
        else
            lgc_fail(c, -ETIMEDOUT, "no answer within %.0f s", x->opts->login_timeout_s);
    }
}

void *lg_conn_user(const struct lg_conn *c) { return c->user; }
struct lg_account *lg_conn_account(const struct lg_conn *c) { return c->acct; }
const char *lg_conn_jid(const struct lg_conn *c) { return c->jid; }
bool lg_conn_resumed(const struct lg_conn *c) { return c->resumed; }
uint64_t lg_conn_login_ns(const struct lg_conn *c) { return c->t_ready - c->t_start; }

/* ---- XMPP ---- */

static void feed_xml(struct lg_conn *c, const char *p, size_t n)
{
    int rc = lg_xml_feed(c->xml, p, n);
    if (c->dead || rc == 0)
        return;
    if (rc == -ERR_CLOSED)
        lgc_peer_ended(c, rc, "server ended the stream");
    else
        lgc_fail(c, rc, "malformed XML from the server");
}
