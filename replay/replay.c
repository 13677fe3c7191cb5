/* replay: see replay.h. The golden file format (a line grammar, one block
 * per event) is documented with a worked example in doc/replay.md; the
 * writer (golden_* "format" helpers) and the reader below must agree with
 * it. Events are written without their seq (replay renumbers from 1, which
 * is what a journal recorded from seq 1 holds) and with their time as
 * recorded, so handlers that stamp times reproduce the same stanzas. */
#include "replay/replay.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "kernel/mem.h"

struct replay_ctx {
    struct dispatch *d;
    replay_effects_cb cb;
    void *arg;
    int64_t count;
    char *errbuf;
    size_t errlen;
};

static int replay_one(void *arg, const struct jrec *r)
{
    struct replay_ctx *x = arg;
    int err = 0;
    /* A crypto-erased record: nobody may see it, but the sequence goes on
     * (and a golden file records the gap). */
    struct event *ev = r->erased ? event_erased(r->seq, r->time_us, (enum ev_type)r->type)
                                 : event_decode(r->seq, r->time_us, (enum ev_type)r->type,
                                                r->payload, r->len, &err);
    if (!ev) {
        snprintf(x->errbuf, x->errlen, "journal record %llu does not decode as an event: %s",
                 (unsigned long long)r->seq, err_str(err));
        return err;
    }
    struct effects fx;
    effects_init(&fx);
    int rc = r->erased ? dispatch_skip(x->d, ev->seq) : dispatch_event(x->d, ev, &fx);
    if (rc) {
        snprintf(x->errbuf, x->errlen, "journal record %llu: %s", (unsigned long long)r->seq,
                 err_str(rc));
    } else {
        if (x->cb)
            x->cb(x->arg, ev, &fx);
        x->count++;
    }
    effects_clear(&fx);
    event_free(ev);
    return rc;
}

int64_t replay_journal(struct journal *j, struct dispatch *d, uint64_t from, replay_effects_cb cb,
                       void *arg, char *errbuf, size_t errlen)
{
    struct replay_ctx x = {.d = d, .cb = cb, .arg = arg, .errbuf = errbuf, .errlen = errlen};
    char jerr[512] = "";
    if (errlen)
        errbuf[0] = 0;
    int rc = journal_read(j, from, replay_one, &x, jerr, sizeof jerr);
    if (rc) {
        if (!errbuf[0] && jerr[0]) /* our own reason, if the callback stopped it, wins */
            snprintf(errbuf, errlen, "%s", jerr);
        return rc;
    }
    return x.count;
}

/* ---- state digests ---- */

int replay_digest(const struct dispatch *d, uint8_t out[REPLAY_DIGEST_BYTES])
{
    struct buf b;
    buf_init(&b);
    dispatch_encode(d, &b);
    int rc = b.err;
    if (!rc && mbedtls_sha256_ret(b.p, b.len, out, 0) != 0)
        rc = -ERR_CRYPTO;
    buf_free(&b);
    return rc;
}

void replay_digest_hex(const uint8_t dg[REPLAY_DIGEST_BYTES], char out[REPLAY_DIGEST_HEX])
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < REPLAY_DIGEST_BYTES; i++) {
        out[2 * i] = hex[dg[i] >> 4];
        out[2 * i + 1] = hex[dg[i] & 15];
    }
    out[2 * REPLAY_DIGEST_BYTES] = 0;
}

/* ---- golden files: writing ---- */

static const char *const origin_names[] = {"server", "c2s", "ctl", "s2s", "route"};
#define ORIGIN_NAMES (sizeof origin_names / sizeof *origin_names)

/* XML on one line: CR and LF become character references, which the
 * reader's XML parser turns back into the same characters. */
static void put_xml_line(const struct xnode *n, struct buf *out)
{
    struct buf x;
    buf_init(&x);
    xml_serialize(n, NS_CLIENT, &x);
    for (size_t i = 0; i < x.len; i++) {
        if (x.p[i] == '\n')
            buf_puts(out, "&#10;");
        else if (x.p[i] == '\r')
            buf_puts(out, "&#13;");
        else
            buf_put_u8(out, x.p[i]);
    }
    buf_free(&x);
}

/* Operator text on one line: backslash escapes for \ CR LF. */
static void put_text_line(const char *s, struct buf *out)
{
    for (; *s; s++) {
        if (*s == '\\')
            buf_puts(out, "\\\\");
        else if (*s == '\n')
            buf_puts(out, "\\n");
        else if (*s == '\r')
            buf_puts(out, "\\r");
        else
            buf_put_u8(out, (uint8_t)*s);
    }
}

static void put_effect(const struct effect *e, struct buf *out)
{
    char head[64];
    switch (e->kind) {
    case FX_STANZA:
        snprintf(head, sizeof head, "fx stanza %" PRIu64 " ", e->to);
        buf_puts(out, head);
        put_xml_line(e->stanza, out);
        break;
    case FX_CLOSE:
        snprintf(head, sizeof head, "fx close %" PRIu64 " ", e->to);
        buf_puts(out, head);
        buf_puts(out, stream_err_name(e->cond));
        break;
    case FX_CTL:
        snprintf(head, sizeof head, "fx ctl %" PRIu64 " %d ", e->to, e->status);
        buf_puts(out, head);
        put_text_line(e->text ? e->text : "", out);
        break;
    case FX_BIND:
        snprintf(head, sizeof head, "fx bind %" PRIu64 " ", e->to);
        buf_puts(out, head);
        buf_puts(out, e->text ? e->text : "-");
        break;
    case FX_EVENT: {
        unsigned k = (unsigned)e->event->origin_kind;
        snprintf(head, sizeof head, "fx event %" PRIu64 " %s %s:%" PRIu64 " ", e->to,
                 ev_type_name(e->event->type), k < ORIGIN_NAMES ? origin_names[k] : "?",
                 e->event->origin);
        buf_puts(out, head);
        buf_puts(out, e->event->subject && *e->event->subject ? e->event->subject : "-");
        buf_put_u8(out, ' ');
        put_xml_line(e->event->body, out);
        break;
    }
    default:
        snprintf(head, sizeof head, "fx kind-%d %" PRIu64, (int)e->kind, e->to);
        buf_puts(out, head);
    }
    buf_put_u8(out, '\n');
}

void replay_golden_header(struct buf *out)
{
    buf_puts(out, GOLDEN_MAGIC "\n"
                  "# One block per event: `event`, `body`, then the expected `fx` lines.\n"
                  "# Format: doc/replay.md. Check with: stanzactl replay --check FILE\n");
}

void replay_golden_block(const struct event *ev, const struct effects *fx, struct buf *out)
{
    char head[128];
    assert(ev && ev->body && fx);
    unsigned k = (unsigned)ev->origin_kind;
    buf_put_u8(out, '\n');
    snprintf(head, sizeof head, "event %s %s:%" PRIu64 " ", ev_type_name(ev->type),
             k < ORIGIN_NAMES ? origin_names[k] : "?", ev->origin);
    buf_puts(out, head);
    buf_puts(out, ev->subject && *ev->subject ? ev->subject : "-");
    snprintf(head, sizeof head, " time=%" PRId64 "\nbody ", ev->time_us);
    buf_puts(out, head);
    put_xml_line(ev->body, out);
    buf_put_u8(out, '\n');
    for (size_t i = 0; i < fx->n; i++)
        put_effect(&fx->v[i], out);
}

/* ---- golden files: reading ---- */

/* One event of a golden file and what it is expected to produce. */
struct gblock {
    struct event *ev;
    struct effects want;
    unsigned line;      /* of the `event` line */
    unsigned *fx_lines; /* line of each expected effect */
};

struct gfile {
    struct gblock *v;
    size_t n, cap;
    char *err;
    size_t errlen;
    unsigned line; /* being parsed */
};

static int gfail(struct gfile *g, const char *what, const char *detail)
{
    snprintf(g->err, g->errlen, "line %u: %s%s%s", g->line, what, detail ? ": " : "",
             detail ? detail : "");
    return -ERR_PARSE;
}

struct xml_one {
    struct xnode *tree;
    int extra;
    char why[160];
};

static void one_stanza_cb(void *arg, struct xnode *stanza)
{
    struct xml_one *o = arg;
    if (o->tree) {
        o->extra = 1;
        xml_free(stanza);
        return;
    }
    o->tree = stanza;
}

static void one_error_cb(void *arg, enum stream_err cond, const char *text)
{
    struct xml_one *o = arg;
    snprintf(o->why, sizeof o->why, "%s (%s)", text ? text : "bad XML", stream_err_name(cond));
}

/* Parses exactly one element written on one line, inside a stream whose
 * default namespace is jabber:client (as put_xml_line writes it). */
static struct xnode *parse_xml(struct gfile *g, const char *s)
{
    static const char open[] = "<stream:stream xmlns='" NS_CLIENT "' xmlns:stream='" NS_STREAMS "'>";
    static const char close[] = "</stream:stream>";
    struct xml_limits lim = {.stanza_bytes_max = GOLDEN_LINE_BYTES_MAX, .depth_max = XML_BIN_DEPTH_MAX,
                             .attrs_max = 256};
    struct xml_stream_cbs cbs = {.stanza_cb = one_stanza_cb, .error_cb = one_error_cb};
    struct xml_one o = {0};
    struct xml_stream *xs = xml_stream_new(&lim, &cbs, &o);
    int rc = xml_stream_feed(xs, open, strlen(open));
    if (!rc)
        rc = xml_stream_feed(xs, s, strlen(s));
    if (!rc)
        rc = xml_stream_feed(xs, close, strlen(close));
    xml_stream_free(xs);
    if (rc || !o.tree || o.extra) {
        gfail(g, "expected one XML element", rc ? o.why : o.extra ? "more than one" : "none");
        xml_free(o.tree);
        return NULL;
    }
    return o.tree;
}

/* Splits off the next space-separated word of *s (NULL at the end). */
static char *word(char **s)
{
    char *p = *s;
    while (*p == ' ')
        p++;
    if (!*p)
        return NULL;
    char *e = strchr(p, ' ');
    if (e)
        *e++ = 0;
    *s = e ? e : p + strlen(p);
    return p;
}

static int parse_u64(const char *w, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = w ? strtoull(w, &end, 10) : 0;
    if (!w || !*w || *end || errno || *w == '-')
        return -1;
    *out = (uint64_t)x;
    return 0;
}

static int parse_origin(const char *w, enum ev_origin *kind, uint64_t *id)
{
    const char *colon = strchr(w, ':');
    size_t len = colon ? (size_t)(colon - w) : strlen(w);
    *id = 0;
    for (size_t k = 0; k < ORIGIN_NAMES; k++) {
        if (strlen(origin_names[k]) == len && strncmp(w, origin_names[k], len) == 0) {
            *kind = (enum ev_origin)k;
            return colon ? parse_u64(colon + 1, id) : 0;
        }
    }
    return -1;
}

static int parse_ev_type(const char *w, enum ev_type *t)
{
    for (int i = 1; i < EV_TYPE_MAX_; i++) {
        if (strcmp(ev_type_name((enum ev_type)i), w) == 0) {
            *t = (enum ev_type)i;
            return 0;
        }
    }
    return -1;
}

/* The header of a block; its body line completes the event. */
struct ghead {
    enum ev_type type;
    enum ev_origin kind;
    uint64_t origin;
    char *subject;
    int64_t time_us;
    int open; /* an `event` line waits for its `body` line */
    unsigned line; /* of the `event` line */
};

static int parse_event_line(struct gfile *g, char *rest, struct ghead *h)
{
    char *t = word(&rest), *o = word(&rest), *subj = word(&rest), *w;
    if (!t || parse_ev_type(t, &h->type))
        return gfail(g, "unknown event type", t);
    if (!o || parse_origin(o, &h->kind, &h->origin))
        return gfail(g, "bad origin (server, c2s:ID, ctl:ID, s2s:ID)", o);
    if (!subj)
        return gfail(g, "missing subject (a bare JID, or - for none)", NULL);
    h->time_us = 0;
    while ((w = word(&rest))) {
        uint64_t tu;
        if (strncmp(w, "time=", 5) != 0 || parse_u64(w + 5, &tu))
            return gfail(g, "unknown field on an event line", w);
        h->time_us = (int64_t)tu;
    }
    free(h->subject);
    h->subject = xstrdup(strcmp(subj, "-") == 0 ? "" : subj);
    h->open = 1;
    h->line = g->line;
    return 0;
}

static int parse_body_line(struct gfile *g, const char *rest, struct ghead *h)
{
    if (!h->open)
        return gfail(g, "a body line without an event line before it", NULL);
    struct xnode *body = parse_xml(g, rest);
    if (!body)
        return -ERR_PARSE;
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->v = xrealloc(g->v, g->cap * sizeof *g->v);
    }
    struct gblock *b = &g->v[g->n++];
    memset(b, 0, sizeof *b);
    b->ev = event_new(h->type, h->kind, h->origin, h->subject, body);
    b->ev->time_us = h->time_us;
    b->line = h->line;
    effects_init(&b->want);
    h->open = 0;
    return 0;
}

/* Undoes backslash escapes in place (see put_text_line). */
static int unescape_text(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        if (*r != '\\') {
            *w++ = *r;
            continue;
        }
        r++;
        if (*r == 'n')
            *w++ = '\n';
        else if (*r == 'r')
            *w++ = '\r';
        else if (*r == '\\')
            *w++ = '\\';
        else
            return -1;
    }
    *w = 0;
    return 0;
}

static int parse_stream_err(const char *w, enum stream_err *c)
{
    for (int i = 1; i < STREAM_END_; i++) {
        if (strcmp(stream_err_name((enum stream_err)i), w) == 0) {
            *c = (enum stream_err)i;
            return 0;
        }
    }
    return -1;
}

/* Adds one `fx` line to the last block's expected effects. */
static int parse_fx_line(struct gfile *g, char *rest, const struct ghead *h)
{
    if (g->n == 0 || h->open)
        return gfail(g, "an fx line outside a block (event and body lines come first)", NULL);
    struct gblock *b = &g->v[g->n - 1];
    assert(b->ev);
    if (b->want.n >= GOLDEN_EFFECTS_MAX)
        return gfail(g, "too many effects for one event", NULL);
    char *kind = word(&rest), *to_w = word(&rest), *w;
    uint64_t to;
    enum stream_err cond;
    if (!kind || !to_w || parse_u64(to_w, &to))
        return gfail(g, "expected: fx KIND CONNECTION ...", NULL);
    if (strcmp(kind, "stanza") == 0) {
        struct xnode *st = parse_xml(g, rest);
        if (!st)
            return -ERR_PARSE;
        fx_stanza(&b->want, to, st);
    } else if (strcmp(kind, "close") == 0) {
        if (!(w = word(&rest)) || parse_stream_err(w, &cond))
            return gfail(g, "unknown stream error condition", w);
        fx_close(&b->want, to, cond);
    } else if (strcmp(kind, "ctl") == 0) {
        uint64_t status;
        if (parse_u64(word(&rest), &status) || status > 255 || unescape_text(rest))
            return gfail(g, "expected: fx ctl CONNECTION STATUS TEXT", NULL);
        fx_ctl(&b->want, to, (int)status, rest);
    } else if (strcmp(kind, "bind") == 0) {
        if (!(w = word(&rest)))
            return gfail(g, "expected: fx bind CONNECTION JID-or--", NULL);
        fx_bind(&b->want, to, strcmp(w, "-") == 0 ? NULL : w);
    } else if (strcmp(kind, "event") == 0) {
        enum ev_type t;
        enum ev_origin ok;
        uint64_t oid;
        char *tw = word(&rest), *ow = word(&rest), *sw = word(&rest);
        if (!tw || parse_ev_type(tw, &t) || !ow || parse_origin(ow, &ok, &oid) || !sw)
            return gfail(g, "expected: fx event 0 TYPE ORIGIN SUBJECT BODY", NULL);
        struct xnode *body = parse_xml(g, rest);
        if (!body)
            return -ERR_PARSE;
        fx_event(&b->want, event_new(t, ok, oid, strcmp(sw, "-") == 0 ? NULL : sw, body));
    } else {
        return gfail(g, "unknown effect kind", kind);
    }
    b->fx_lines = xrealloc(b->fx_lines, b->want.n * sizeof *b->fx_lines);
    b->fx_lines[b->want.n - 1] = g->line;
    return 0;
}

static int parse_line(struct gfile *g, char *s, struct ghead *h)
{
    size_t len = strlen(s);
    if (len && s[len - 1] == '\r')
        s[--len] = 0;
    if (len > GOLDEN_LINE_BYTES_MAX)
        return gfail(g, "line too long", NULL);
    if (len == 0 || s[0] == '#')
        return 0;
    char *rest = s;
    char *kw = word(&rest);
    if (strcmp(kw, "event") == 0) {
        if (h->open)
            return gfail(g, "the previous event has no body line", NULL);
        return parse_event_line(g, rest, h);
    }
    if (strcmp(kw, "body") == 0)
        return parse_body_line(g, rest, h);
    if (strcmp(kw, "fx") == 0)
        return parse_fx_line(g, rest, h);
    return gfail(g, "unknown line (event, body, fx, # or blank expected)", kw);
}

static void gfile_free(struct gfile *g)
{
    for (size_t i = 0; i < g->n; i++) {
        event_free(g->v[i].ev);
        effects_clear(&g->v[i].want);
        free(g->v[i].fx_lines);
    }
    free(g->v);
}

static int gfile_parse(struct gfile *g, const char *text, size_t n)
{
    if (n > GOLDEN_BYTES_MAX)
        return gfail(g, "file too large", NULL);
    char *copy = xmalloc(n + 1);
    memcpy(copy, text, n);
    copy[n] = 0;
    if (strlen(copy) != n) {
        free(copy);
        return gfail(g, "a NUL byte in the file", NULL);
    }
    struct ghead h = {0};
    int rc = 0;
    char *p = copy;
    for (g->line = 1; !rc && p; g->line++) {
        char *nl = strchr(p, '\n');
        if (nl)
            *nl = 0;
        rc = parse_line(g, p, &h);
        p = nl ? nl + 1 : NULL;
    }
    if (!rc && h.open) {
        g->line = h.line;
        rc = gfail(g, "the last event has no body line", NULL);
    }
    free(h.subject);
    free(copy);
    return rc;
}

static int effect_equal(const struct effect *a, const struct effect *b)
{
    if (a->kind != b->kind || a->to != b->to)
        return 0;
    switch (a->kind) {
    case FX_STANZA: return xml_equal(a->stanza, b->stanza);
    case FX_CLOSE: return a->cond == b->cond;
    case FX_CTL: return a->status == b->status && strcmp(a->text ? a->text : "", b->text ? b->text : "") == 0;
    case FX_BIND: return (!a->text && !b->text) || (a->text && b->text && strcmp(a->text, b->text) == 0);
    case FX_EVENT:
        return a->event->type == b->event->type &&
               a->event->origin_kind == b->event->origin_kind &&
               a->event->origin == b->event->origin &&
               strcmp(a->event->subject ? a->event->subject : "",
                      b->event->subject ? b->event->subject : "") == 0 &&
               xml_equal(a->event->body, b->event->body);
    case FX_ROUTE: return 0; /* consumed by dispatch; never seen here */
    }
    return 0;
}

/* Describes the first difference between what block b expected and what
 * dispatch produced (fx); returns 1 when there is one. */
static int compare_block(const struct gblock *b, const struct effects *fx, char *err, size_t errlen)
{
    struct buf want, got;
    assert(b->ev && (b->want.n == 0 || b->fx_lines));
    size_t n = b->want.n > fx->n ? b->want.n : fx->n, i;
    for (i = 0; i < n; i++)
        if (i >= b->want.n || i >= fx->n || !effect_equal(&b->want.v[i], &fx->v[i]))
            break;
    if (i == n)
        return 0;
    buf_init(&want);
    buf_init(&got);
    if (i < b->want.n)
        put_effect(&b->want.v[i], &want);
    else
        buf_puts(&want, "(no more effects)\n");
    if (i < fx->n)
        put_effect(&fx->v[i], &got);
    else
        buf_puts(&got, "(no more effects)\n");
    snprintf(err, errlen, "line %u: event %s (block at line %u), effect %zu of %zu expected:\n"
             "  expected: %s  produced: %s", i < b->want.n ? b->fx_lines[i] : b->line,
             ev_type_name(b->ev->type), b->line, i + 1, b->want.n, buf_cstr(&want), buf_cstr(&got));
    buf_free(&want);
    buf_free(&got);
    return 1;
}

int replay_golden_check(const char *text, size_t n, uint64_t *events, char *errbuf, size_t errlen)
{
    struct gfile g = {.err = errbuf, .errlen = errlen};
    *events = 0;
    if (errlen)
        errbuf[0] = 0;
    int rc = gfile_parse(&g, text, n);
    struct dispatch *d = rc ? NULL : dispatch_new();
    for (size_t i = 0; !rc && i < g.n; i++) {
        struct effects fx;
        effects_init(&fx);
        g.v[i].ev->seq = i + 1;
        rc = event_is_erased(g.v[i].ev) ? dispatch_skip(d, i + 1) : dispatch_event(d, g.v[i].ev, &fx);
        if (rc)
            snprintf(errbuf, errlen, "line %u: dispatch refused the event: %s", g.v[i].line, err_str(rc));
        else
            rc = compare_block(&g.v[i], &fx, errbuf, errlen);
        effects_clear(&fx);
        if (!rc)
            (*events)++;
    }
    if (d)
        dispatch_free(d);
    gfile_free(&g);
    return rc;
}
