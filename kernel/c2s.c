/* c2s: see c2s.h. The life of a client connection:
 *
 *   accept -> [STARTTLS on 5222 | TLS at once on 5223] -> stream header
 *   -> SASL (c2s_sasl.c) or in-band registration (c2s_register.c)
 *   -> new stream -> bind (an EV_SESSION_BOUND event; held input waits
 *   for the answer) -> stanzas: checked, stamped, submitted as EV_STANZA
 *   -> close (EV_SESSION_CLOSED) */
#include "kernel/c2s.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers/accounts/accounts.h"
#include "handlers/sessions/sessions.h"
#include "kernel/log.h"
#include "kernel/mem.h"

/* Stanzas that may arrive between a bind request and its answer; more
 * means a client that does not wait for the bind result. */
#define C2S_HELD_MAX 32

struct c2s_held {
    struct xnode *v[C2S_HELD_MAX];
    size_t n;
};

/* One read buffer for every connection: input is consumed before the
 * callback returns, so nothing per connection is spent on it. */
static char read_buf[64 * 1024];
static uint8_t plain_buf[16 * 1024 + 256];

int64_t c2s_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void c2s_teardown(struct c2s *c);

/* --- output ------------------------------------------------------------ */

struct c2s_write {
    uv_write_t req;
    struct c2s *c;
    size_t len;
    char data[];
};

static void write_cb(uv_write_t *req, int status)
{
    struct c2s_write *w = (struct c2s_write *)req;
    w->c->out_pending -= w->len;
    (void)status; /* a failed write shows up as a read error */
    free(w);
}

static void socket_write(struct c2s *c, const void *p, size_t n)
{
    if (n == 0 || uv_is_closing((uv_handle_t *)&c->tcp))
        return;
    if (c->out_pending + n > C2S_OUTBUF_MAX) {
        log_warn("c2s %llu: client is not reading; closing", (unsigned long long)c->id);
        c2s_teardown(c);
        return;
    }
    /* Most writes complete at once: uv_try_write spares the request, the
     * copy and the epoll_ctl that libuv makes after every queued write. It
     * writes nothing while earlier writes are still queued. */
    uv_buf_t now = uv_buf_init((char *)p, (unsigned)n);
    int sent = uv_try_write((uv_stream_t *)&c->tcp, &now, 1);
    if (sent > 0) {
        p = (const char *)p + sent;
        n -= (size_t)sent;
        if (n == 0)
            return;
    }
    struct c2s_write *w = xmalloc(sizeof *w + n);
    w->c = c;
    w->len = n;
    memcpy(w->data, p, n);
    uv_buf_t b = uv_buf_init(w->data, (unsigned)n);
    c->out_pending += n;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, write_cb)) {
        c->out_pending -= n;
        free(w);
    }
}

static void tls_flush(struct c2s *c)
{
    struct buf *out = tls_conn_pending_out(c->tls);
    if (out->len) {
        socket_write(c, out->p, out->len);
        buf_reset(out);
    }
}

static void write_now(struct c2s *c, const char *p, size_t n)
{
    if (c->tls) {
        if (tls_conn_write(c->tls, (const uint8_t *)p, n) == 0)
            tls_flush(c);
        return;
    }
    socket_write(c, p, n);
}

/* A queue this big after a flush is not kept for the next one. */
#define C2S_OUTQ_KEEP (16u << 10)

static void flush_queue(struct c2s *c)
{
    if (c->outq.len) {
        size_t n = c->outq.len;
        c->outq.len = 0; /* write_now may tear the connection down */
        write_now(c, (const char *)c->outq.p, n);
    }
    if (c->outq.cap > C2S_OUTQ_KEEP)
        buf_free(&c->outq);
}

/* Puts c on the server's list of connections to flush before it polls. */
static void queue_mark(struct c2s *c)
{
    c->active = 1;
    if (c->queued)
        return;
    struct server *s = c->srv;
    if (s->ndirty == s->dirtycap) {
        s->dirtycap = s->dirtycap ? s->dirtycap * 2 : 64;
        s->dirty = xrealloc(s->dirty, s->dirtycap * sizeof *s->dirty);
    }
    s->dirty[s->ndirty++] = c->id; /* an id: the connection may be gone by the flush */
    c->queued = 1;
}

void c2s_send_raw(struct c2s *c, const char *p, size_t n)
{
    if (c->closing)
        return;
    buf_put(&c->outq, p, n);
    queue_mark(c);
}

static void send_str(struct c2s *c, const char *s) { c2s_send_raw(c, s, strlen(s)); }

void c2s_send_stanza(struct c2s *c, const struct xnode *stanza)
{
    if (c->closing)
        return;
    xml_serialize(stanza, NS_CLIENT, &c->outq);
    queue_mark(c);
}

void c2s_flush_queued(struct server *s)
{
    size_t n = s->ndirty;
    s->ndirty = 0;
    for (size_t i = 0; i < n; i++) {
        struct endpoint *ep = server_endpoint(s, s->dirty[i]);
        if (!ep || ep->kind != EP_C2S)
            continue;
        struct c2s *c = ep->conn;
        c->queued = 0;
        flush_queue(c);
    }
    if (s->dirtycap > 4096 && n < 64) { /* a burst is over: give its list back */
        free(s->dirty);
        s->dirty = NULL;
        s->dirtycap = 0;
    }
}

void c2s_stanza_error(struct c2s *c, const struct xnode *req, enum stanza_err cond,
                      const char *text)
{
    const char *type = xml_attr(req, "type");
    if (type && strcmp(type, "error") == 0)
        return; /* RFC 6120 §8.3.1: never answer an error with an error */
    struct xnode *r = stanza_error_reply(req, cond, text);
    c2s_send_stanza(c, r);
    xml_free(r);
}

/* --- stream open and features --------------------------------------------- */

static void send_header(struct c2s *c, const char *to)
{
    struct buf b;
    buf_init(&b);
    char stream_id[24];
    rng_token(stream_id, sizeof stream_id - 1);
    buf_printf(&b,
               "<?xml version='1.0'?><stream:stream xmlns='" NS_CLIENT
               "' xmlns:stream='" NS_STREAMS "' id='%s' from='%s'",
               stream_id, c->srv->cfg.domain);
    if (to)
        buf_printf(&b, " to='%s'", to);
    buf_puts(&b, " version='1.0' xml:lang='en'>");
    c2s_send_raw(c, (const char *)b.p, b.len);
    buf_free(&b);
    c->header_sent = 1;
}

static void send_features(struct c2s *c)
{
    struct buf b;
    buf_init(&b);
    buf_puts(&b, "<stream:features>");
    if (!c->tls) {
        buf_puts(&b, "<starttls xmlns='" NS_TLS "'><required/></starttls>");
    } else if (!c->authenticated) {
        buf_puts(&b, "<mechanisms xmlns='" NS_SASL "'><mechanism>SCRAM-SHA-256</mechanism>"
                     "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism></mechanisms>");
        if (c2s_register_allowed(c))
            buf_puts(&b, "<register xmlns='" NS_FEATURE_REGISTER "'/>");
    } else {
        /* RFC 6121 §2.6.1 and §3.4: roster versioning and subscription
         * pre-approval are stream features. */
        buf_puts(&b, "<bind xmlns='" NS_BIND "'/><session xmlns='" NS_SESSION_FEATURE
                     "'><optional/></session><ver xmlns='urn:xmpp:features:rosterver'/>"
                     "<sub xmlns='urn:xmpp:features:pre-approval'/>");
    }
    buf_puts(&b, "</stream:features>");
    c2s_send_raw(c, (const char *)b.p, b.len);
    buf_free(&b);
}

/* RFC 6120 §4.7: check the initiating stream header, answer with ours. */
static void open_cb(void *arg, const struct xnode *hdr)
{
    struct c2s *c = arg;
    const char *ns = xml_attr(hdr, "xmlns");
    const char *to = xml_attr(hdr, "to");
    const char *version = xml_attr(hdr, "version");
    const char *from = xml_attr(hdr, "from");
    char from_n[JID_MAX];
    if (!from || jid_normalize(from, from_n))
        from = NULL;
    else
        from = from_n;
    send_header(c, from);
    char dom[JID_PART_MAX + 1];
    if (!ns || strcmp(ns, NS_CLIENT) != 0) {
        c2s_close(c, STREAM_INVALID_NAMESPACE, "this port serves jabber:client streams");
        return;
    }
    if (to && (jid_nameprep(to, dom) || strcmp(dom, c->srv->cfg.domain) != 0)) {
        c2s_close(c, STREAM_HOST_UNKNOWN, "this server does not serve that domain");
        return;
    }
    if (!version || strncmp(version, "1.", 2) != 0) {
        c2s_close(c, STREAM_UNSUPPORTED_VERSION, "XMPP 1.0 streams only");
        return;
    }
    send_features(c);
}

static void login_free(struct c2s *c)
{
    if (c->login == NULL)
        return;
    scram_server_free(&c->login->scram);
    free(c->login);
    c->login = NULL;
}

void c2s_authenticated(struct c2s *c, const char *bare)
{
    c->authenticated = 1;
    login_free(c);
    free(c->user);
    c->user = xstrdup(bare);
    c->header_sent = 0;
    xml_stream_reset(c->xs); /* RFC 6120 §6.4.6: a new stream follows */
}

/* --- closing ------------------------------------------------------------ */

static void handle_closed(struct c2s *c)
{
    if (--c->handles_open > 0)
        return;
    if (c->held) {
        for (size_t i = 0; i < c->held->n; i++)
            xml_free(c->held->v[i]);
        free(c->held);
    }
    if (c->tls)
        tls_conn_free(c->tls);
    xml_stream_free(c->xs);
    login_free(c);
    buf_free(&c->outq);
    free(c->user);
    free(c->full);
    c->srv->c2s_count--;
    free(c);
}

static void handle_closed_cb(uv_handle_t *h) { handle_closed(h->data); }

static void timer_closed_cb(uv_handle_t *h)
{
    struct c2s *c = h->data;
    free(h);
    handle_closed(c);
}

/* c->timer, made when there is none (a bound session closing). */
static uv_timer_t *conn_timer(struct c2s *c)
{
    if (c->timer == NULL) {
        c->timer = xmalloc(sizeof *c->timer);
        uv_timer_init(c->srv->loop, c->timer);
        c->timer->data = c;
        c->handles_open++;
    }
    return c->timer;
}

static void timer_drop(struct c2s *c)
{
    if (c->timer == NULL)
        return;
    uv_close((uv_handle_t *)c->timer, timer_closed_cb);
    c->timer = NULL;
}

/* Forgets the connection everywhere and releases its handles. */
static void c2s_teardown(struct c2s *c)
{
    if (c->torn_down)
        return;
    c->torn_down = 1;
    c->closing = 1;
    if (c->full && (c->bound || c->binding))
        bus_submit(c->srv->bus, sessions_ev_closed(c->id, c->full));
    server_endpoint_del(c->srv, c->id);
    timer_drop(c);
    if (!uv_is_closing((uv_handle_t *)&c->tcp))
        uv_close((uv_handle_t *)&c->tcp, handle_closed_cb);
}

static void linger_expired_cb(uv_timer_t *t) { c2s_teardown(t->data); }

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    struct c2s *c = req->data;
    (void)status;
    free(req);
    c2s_teardown(c);
}

void c2s_close(struct c2s *c, enum stream_err cond, const char *text)
{
    if (c->closing)
        return;
    if (cond != STREAM_OK_) {
        if (!c->header_sent)
            send_header(c, NULL);
        struct buf b;
        buf_init(&b);
        struct xnode *e = xml_new("error", NS_STREAMS);
        xml_add(e, stream_err_name(cond), NS_STREAM_ERRORS);
        if (text) {
            struct xnode *t = xml_add(e, "text", NS_STREAM_ERRORS);
            xml_set_attr(t, "xml:lang", "en");
            xml_add_text(t, text); /* escaped by the serialiser */
        }
        /* The stream's prefix is declared by our header: write it by hand. */
        buf_puts(&b, "<stream:error>");
        for (struct xnode *k = xml_first_elem(e); k; k = xml_next_elem(k))
            xml_serialize(k, NS_CLIENT, &b);
        buf_puts(&b, "</stream:error>");
        xml_free(e);
        c2s_send_raw(c, (const char *)b.p, b.len);
        buf_free(&b);
        log_info("c2s %llu %s: stream error %s%s%s", (unsigned long long)c->id, c->ip,
                 stream_err_name(cond), text ? ": " : "", text ? text : "");
    }
    if (c->header_sent)
        send_str(c, "</stream:stream>");
    if (c->tls && tls_conn_established(c->tls)) {
        /* The last words and close_notify leave in one write. */
        if (c->outq.len && tls_conn_write(c->tls, c->outq.p, c->outq.len) == 0)
            tls_conn_close_notify(c->tls);
        c->outq.len = 0;
        tls_flush(c);
    } else {
        flush_queue(c);
    }
    c->closing = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    /* A peer that does not read would hold the shutdown forever. */
    uv_timer_t *t = conn_timer(c);
    uv_timer_stop(t);
    uv_timer_start(t, linger_expired_cb, C2S_LINGER_MS, 0);
    uv_shutdown_t *req = xmalloc(sizeof *req);
    req->data = c;
    if (uv_is_closing((uv_handle_t *)&c->tcp) ||
        uv_shutdown(req, (uv_stream_t *)&c->tcp, shutdown_cb)) {
        free(req);
        c2s_teardown(c);
    }
}

/* --- binding ---------------------------------------------------------------- */

/* RFC 6120 §7: bind the requested resource, or make one up. */
static void handle_bind(struct c2s *c, struct xnode *iq, struct xnode *bind)
{
    const char *type = xml_attr(iq, "type");
    const char *id = xml_attr(iq, "id");
    if (!type || strcmp(type, "set") != 0 || !id) {
        c2s_stanza_error(c, iq, STANZA_BAD_REQUEST, NULL);
        return;
    }
    struct xnode *res = xml_child(bind, "resource", NS_BIND);
    const char *want = res ? xml_text(res) : "";
    char resource[JID_PART_MAX + 1];
    if (*want) {
        if (jid_resourceprep(want, resource)) {
            c2s_stanza_error(c, iq, STANZA_BAD_REQUEST, "resource is not a valid JID resource");
            return;
        }
    } else {
        rng_token(resource, 17);
    }
    char full[JID_MAX];
    int n = snprintf(full, sizeof full, "%s/%s", c->user, resource);
    if (n < 0 || (size_t)n >= sizeof full) {
        c2s_stanza_error(c, iq, STANZA_BAD_REQUEST, "resource too long");
        return;
    }
    free(c->full);
    c->full = xstrdup(full);
    c->binding = 1;
    uv_read_stop((uv_stream_t *)&c->tcp); /* nothing more until the answer */
    bus_submit(c->srv->bus, sessions_ev_bound(c->id, c->full, id));
}

static void hold(struct c2s *c, struct xnode *el)
{
    if (!c->held)
        c->held = xcalloc(1, sizeof *c->held);
    if (c->held->n == C2S_HELD_MAX) {
        xml_free(el);
        c2s_close(c, STREAM_POLICY_VIOLATION, "wait for the bind result");
        return;
    }
    c->held->v[c->held->n++] = el;
}

static void stanza_cb(void *arg, struct xnode *el);
static void login_timeout_cb(uv_timer_t *t);

/* Runs what arrived during binding, after the bind result went out. */
static void release_held_cb(uv_timer_t *t)
{
    struct c2s *c = t->data;
    struct c2s_held *held = c->held;
    c->held = NULL;
    for (size_t i = 0; held && i < held->n; i++) {
        if (c->closing || c->binding)
            hold(c, held->v[i]); /* still waiting (closing frees them) */
        else
            stanza_cb(c, held->v[i]);
    }
    free(held);
    if (c->closing || c->binding)
        return;
    uv_read_start((uv_stream_t *)&c->tcp, c2s_alloc_cb, c2s_read_cb);
    if (c->bound)
        timer_drop(c); /* from its own callback, which libuv allows */
    else
        uv_timer_start(c->timer, login_timeout_cb, c->srv->cfg.login_timeout_s * 1000, 0);
}

void c2s_bound(struct c2s *c, const char *full_jid)
{
    c->binding = 0;
    if (full_jid) {
        c->bound = 1;
        free(c->full);
        c->full = xstrdup(full_jid);
        log_info("c2s %llu %s: bound %s", (unsigned long long)c->id, c->ip, c->full);
    } else {
        free(c->full);
        c->full = NULL;
    }
    if (c->closing)
        return;
    /* The bind result is the next effect: let it go out first. */
    uv_timer_stop(c->timer);
    uv_timer_start(c->timer, release_held_cb, 0, 0);
}

/* --- stanzas ---------------------------------------------------------------- */

static int is_stanza_name(const char *n)
{
    return strcmp(n, "message") == 0 || strcmp(n, "presence") == 0 || strcmp(n, "iq") == 0;
}

/* RFC 6120 §8.2.3: an IQ has an id, a known type, and a get or set has
 * exactly one payload child. */
static int iq_well_formed(const struct xnode *iq)
{
    const char *type = xml_attr(iq, "type");
    if (!xml_attr(iq, "id") || !type)
        return 0;
    int request = strcmp(type, "get") == 0 || strcmp(type, "set") == 0;
    if (!request && strcmp(type, "result") != 0 && strcmp(type, "error") != 0)
        return 0;
    if (!request)
        return 1;
    struct xnode *first = xml_first_elem(iq);
    return first && !xml_next_elem(first);
}

/* RFC 6120 §8.1.2.1: the server stamps 'from'; a client may only claim
 * its own JID. Returns 0, or -1 after closing the stream. */
static int stamp_from(struct c2s *c, struct xnode *st)
{
    const char *from = xml_attr(st, "from");
    if (from) {
        char n[JID_MAX];
        if (jid_normalize(from, n) || (strcmp(n, c->full) != 0 && strcmp(n, c->user) != 0)) {
            c2s_close(c, STREAM_INVALID_FROM, "'from' is not this session's JID");
            return -1;
        }
    }
    xml_set_attr(st, "from", c->full);
    return 0;
}

/* A stanza from a bound session: checked here, decided by the handlers. */
static void handle_stanza(struct c2s *c, struct xnode *st)
{
    if (stamp_from(c, st)) {
        xml_free(st);
        return;
    }
    const char *to = xml_attr(st, "to");
    if (to) {
        char n[JID_MAX];
        if (jid_normalize(to, n)) {
            c2s_stanza_error(c, st, STANZA_JID_MALFORMED, NULL);
            xml_free(st);
            return;
        }
        xml_set_attr(st, "to", n);
    }
    if (strcmp(st->name, "iq") == 0 && !iq_well_formed(st)) {
        c2s_stanza_error(c, st, STANZA_BAD_REQUEST, NULL);
        xml_free(st);
        return;
    }
    if (strcmp(st->name, "iq") == 0 && c2s_register_iq(c, st)) {
        xml_free(st); /* passwords never reach the journal as stanzas */
        return;
    }
    bus_submit(c->srv->bus, event_new(EV_STANZA, ORIGIN_C2S, c->id, c->user, st));
}

/* Before TLS only <starttls/> is allowed (RFC 6120 §5.4.2). */
static void stanza_before_tls(struct c2s *c, struct xnode *el)
{
    if (strcmp(el->name, "starttls") == 0 && strcmp(el->ns, NS_TLS) == 0) {
        send_str(c, "<proceed xmlns='" NS_TLS "'/>");
        flush_queue(c); /* in the clear, before TLS starts */
        xml_stream_stop(c->xs); /* what follows is TLS, not XML */
        c->tls = tls_conn_new(c->srv->tls);
        c->tls_restart = 1;
        c->header_sent = 0;
    } else if (strcmp(el->ns, NS_SASL) == 0) {
        /* RFC 6120 §6.5.3, §5.3.1: no credentials without TLS. */
        send_str(c, "<failure xmlns='" NS_SASL "'><encryption-required/></failure>");
        c2s_close(c, STREAM_POLICY_VIOLATION, "TLS is required before authentication");
    } else {
        c2s_close(c, STREAM_NOT_AUTHORIZED, "negotiate TLS first");
    }
    xml_free(el);
}

/* After TLS, before SASL success: SASL, registration, nothing else. */
static void stanza_before_auth(struct c2s *c, struct xnode *el)
{
    if (strcmp(el->ns, NS_SASL) == 0) {
        c2s_sasl_element(c, el);
        xml_free(el);
        return;
    }
    if (strcmp(el->name, "starttls") == 0 && strcmp(el->ns, NS_TLS) == 0) {
        send_str(c, "<failure xmlns='" NS_TLS "'/>"); /* TLS is already on */
        c2s_close(c, STREAM_OK_, NULL);
        xml_free(el);
        return;
    }
    int is_iq = strcmp(el->name, "iq") == 0 && strcmp(el->ns, NS_CLIENT) == 0;
    if (is_iq && xml_child(el, "query", NS_REGISTER) && iq_well_formed(el)) {
        if (c2s_register_iq(c, el)) {
            xml_free(el);
            return;
        }
        /* The registration form is static for someone not logged in:
         * answered here, so an unauthenticated client writes nothing. */
        xml_set_attr(el, "from", NULL);
        struct xnode *form =
            accounts_register_form(dispatch_state(c->srv->dispatch, "accounts"), el);
        c2s_send_stanza(c, form);
        xml_free(form);
        xml_free(el);
        return;
    }
    xml_free(el);
    c2s_close(c, STREAM_NOT_AUTHORIZED, "authenticate first");
}

static void stanza_cb(void *arg, struct xnode *el)
{
    struct c2s *c = arg;
    if (c->closing) {
        xml_free(el);
        return;
    }
    if (c->binding) {
        hold(c, el);
        return;
    }
    if (!c->tls) {
        stanza_before_tls(c, el);
    } else if (!c->authenticated) {
        stanza_before_auth(c, el);
    } else if (!c->bound) {
        struct xnode *bind = xml_child(el, "bind", NS_BIND);
        if (strcmp(el->name, "iq") == 0 && strcmp(el->ns, NS_CLIENT) == 0 && bind)
            handle_bind(c, el, bind);
        else
            c2s_close(c, STREAM_NOT_AUTHORIZED, "bind a resource first");
        xml_free(el);
    } else if (strcmp(el->ns, NS_CLIENT) != 0 || !is_stanza_name(el->name)) {
        xml_free(el);
        c2s_close(c, STREAM_UNSUPPORTED_STANZA_TYPE, NULL);
    } else {
        handle_stanza(c, el);
    }
}

static void close_cb(void *arg)
{
    c2s_close(arg, STREAM_OK_, NULL); /* RFC 6120 §4.4: answer with our close */
}

static void error_cb(void *arg, enum stream_err cond, const char *text)
{
    c2s_close(arg, cond, text);
}

/* --- input ---------------------------------------------------------------- */

void c2s_alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init(read_buf, sizeof read_buf);
}

/* Decrypts what TLS can and parses the plaintext. */
static void tls_input(struct c2s *c, const uint8_t *p, size_t n)
{
    tls_conn_feed(c->tls, p, n);
    for (;;) {
        int got = tls_conn_read(c->tls, plain_buf, sizeof plain_buf);
        if (got == 0)
            break;
        if (got < 0) {
            tls_flush(c); /* an alert, if TLS has one to send */
            if (got == -ERR_CLOSED)
                c2s_close(c, STREAM_OK_, NULL);
            else
                c2s_teardown(c);
            return;
        }
        if (c->tls_restart) {
            c->tls_restart = 0;
            xml_stream_reset(c->xs); /* RFC 6120 §5.4.3.3: a new stream over TLS */
        }
        xml_stream_feed(c->xs, (const char *)plain_buf, (size_t)got);
        if (c->closing)
            break;
    }
    if (!c->closing)
        tls_flush(c);
}

void c2s_read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct c2s *c = s->data;
    if (nread < 0) {
        c2s_teardown(c);
        return;
    }
    if (nread == 0 || c->closing)
        return;
    c->active = 1;
    if (c->tls)
        tls_input(c, (const uint8_t *)b->base, (size_t)nread);
    else
        xml_stream_feed(c->xs, b->base, (size_t)nread);
}

/* An idle session keeps only the pages its buffers still need: each
 * sweep trims connections that neither read nor wrote since the last one
 * (tls_conn_trim checks that mbedTLS holds nothing in them; a bound
 * session also frees its XML parser, which the next read rebuilds, when
 * it stands between stanzas, about 12 KiB). Sweeping
 * rather than trimming after every read keeps the busy path free of
 * madvise calls and page faults. */
void c2s_trim_idle(struct server *s)
{
    size_t trimmed = 0;
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->endpoints, &i, &slot);) {
        struct endpoint *ep = slot->val;
        if (ep->kind != EP_C2S)
            continue;
        struct c2s *c = ep->conn;
        if (c->active) {
            c->active = 0;
            c->trimmed = 0;
        } else if (!c->trimmed && !c->closing && c->tls && tls_conn_established(c->tls)) {
            tls_conn_trim(c->tls);
            if (c->bound)
                xml_stream_trim(c->xs); /* only if between stanzas; see xml.h */
            if (!c->queued)
                buf_free(&c->outq); /* empty since the last flush */
            c->trimmed = 1;
            trimmed++;
        }
    }
    /* The parsers just freed lie in glibc's free lists between live
     * objects, where its automatic trim (top of the heap only) cannot
     * reach them; malloc_trim(0) returns their whole pages (measured: 3.8
     * KiB per idle session at 1,000). It walks every free chunk, so only
     * after a sweep that freed something. */
    if (trimmed > 0)
        malloc_trim(0);
}

static void login_timeout_cb(uv_timer_t *t)
{
    struct c2s *c = t->data;
    if (!c->bound)
        c2s_close(c, STREAM_CONNECTION_TIMEOUT, "log in sooner");
}

/* --- accepting ---------------------------------------------------------------- */

static void peer_ip(uv_tcp_t *tcp, char *out, size_t len)
{
    struct sockaddr_storage sa;
    int salen = sizeof sa;
    snprintf(out, len, "?");
    if (uv_tcp_getpeername(tcp, (struct sockaddr *)&sa, &salen) == 0)
        uv_ip_name((struct sockaddr *)&sa, out, len);
}

static const struct xml_stream_cbs c2s_xml_cbs = {
    .open_cb = open_cb, .stanza_cb = stanza_cb, .close_cb = close_cb, .error_cb = error_cb,
};

static void accept_conn(uv_stream_t *listener, int direct_tls)
{
    struct server *s = listener->data;
    struct c2s *c = xcalloc(1, sizeof *c);
    c->srv = s;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp)) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    if (s->stopping || s->c2s_count >= s->cfg.sessions_max) {
        uv_close((uv_handle_t *)&c->tcp, (uv_close_cb)free);
        return;
    }
    s->c2s_count++;
    uv_tcp_nodelay(&c->tcp, 1);
    peer_ip(&c->tcp, c->ip, sizeof c->ip);
    struct xml_limits lim = {
        .stanza_bytes_max = s->cfg.stanza_bytes_max,
        .depth_max = (unsigned)s->cfg.xml_depth_max,
        .attrs_max = (unsigned)s->cfg.xml_attrs_max,
    };
    c->xs = xml_stream_new(&lim, &c2s_xml_cbs, c);
    c->login = xcalloc(1, sizeof *c->login);
    scram_server_init(&c->login->scram, SCRAM_SHA256);
    if (direct_tls)
        c->tls = tls_conn_new(s->tls); /* XEP-0368: TLS from the first byte */
    c->id = server_endpoint_add(s, EP_C2S, c);
    c->handles_open = 1; /* tcp; conn_timer counts the timer */
    uv_timer_start(conn_timer(c), login_timeout_cb, s->cfg.login_timeout_s * 1000, 0);
    uv_read_start((uv_stream_t *)&c->tcp, c2s_alloc_cb, c2s_read_cb);
    log_debug("c2s %llu: connection from %s%s", (unsigned long long)c->id, c->ip,
              direct_tls ? " (direct TLS)" : "");
}

static void on_connection(uv_stream_t *l, int status)
{
    if (status == 0)
        accept_conn(l, 0);
}

static void on_tls_connection(uv_stream_t *l, int status)
{
    if (status == 0)
        accept_conn(l, 1);
}

static int listen_on(struct server *s, uv_tcp_t *tcp, uint64_t port, uv_connection_cb cb)
{
    struct sockaddr_storage sa;
    int rc = uv_ip4_addr(s->cfg.listen_addr, (int)port, (struct sockaddr_in *)&sa);
    if (rc)
        rc = uv_ip6_addr(s->cfg.listen_addr, (int)port, (struct sockaddr_in6 *)&sa);
    if (rc) {
        log_error("listen: bad listen_addr %s", s->cfg.listen_addr);
        return rc;
    }
    uv_tcp_init(s->loop, tcp);
    tcp->data = s;
    rc = uv_tcp_bind(tcp, (struct sockaddr *)&sa, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)tcp, 1024, cb);
    if (rc) {
        log_error("listen: %s port %llu: %s", s->cfg.listen_addr, (unsigned long long)port,
                  uv_strerror(rc));
        return rc;
    }
    log_info("listening on %s port %llu%s", s->cfg.listen_addr, (unsigned long long)port,
             cb == on_tls_connection ? " (direct TLS)" : " (STARTTLS)");
    return 0;
}

int c2s_listen(struct server *s)
{
    int rc = 0;
    if (s->cfg.c2s_port)
        rc = listen_on(s, &s->c2s_listener, s->cfg.c2s_port, on_connection);
    if (!rc && s->cfg.c2s_tls_port)
        rc = listen_on(s, &s->c2s_tls_listener, s->cfg.c2s_tls_port, on_tls_connection);
    return rc;
}
