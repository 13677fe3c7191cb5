/* dispatch: see dispatch.h. */
#include "kernel/dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "handlers/registry.h"
#include "kernel/mem.h"

/* 2: a server-started section before the handlers' parts. Version 1 is
 * refused (-ERR_VERSION): there was no release that wrote it. */
#define DISPATCH_SNAPSHOT_VERSION 2

struct dispatch {
    void **states; /* one per registry row */
    uint64_t last_seq;
    /* The last EV_SERVER_STARTED applied, NULL before the first: the
     * handlers' settings, which their own snapshots leave out. Kept in
     * the dispatcher's snapshot and handed to every handler's settings()
     * after a decode, so replay after a snapshot sees the same settings. */
    struct event *started;
};

struct dispatch *dispatch_new(void)
{
    struct dispatch *d = xcalloc(1, sizeof *d);
    d->states = xcalloc(handlers_count, sizeof *d->states);
    for (size_t i = 0; i < handlers_count; i++)
        d->states[i] = handlers[i]->create();
    return d;
}

void dispatch_free(struct dispatch *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < handlers_count; i++)
        handlers[i]->destroy(d->states[i]);
    free(d->states);
    event_free(d->started);
    free(d);
}

const void *dispatch_state(const struct dispatch *d, const char *name)
{
    int i = registry_find(name);
    return i < 0 ? NULL : d->states[i];
}

uint64_t dispatch_last_seq(const struct dispatch *d) { return d->last_seq; }

int dispatch_holds(const struct dispatch *d, uint64_t seq)
{
    for (size_t i = 0; i < handlers_count; i++)
        if (handlers[i]->holds && handlers[i]->holds(d->states[i], seq))
            return 1;
    return 0;
}

int dispatch_skip(struct dispatch *d, uint64_t seq)
{
    if (d->last_seq && seq != d->last_seq + 1)
        return -ERR_SEQ;
    d->last_seq = seq;
    return 0;
}

static int is_request(const struct xnode *st)
{
    const char *type = xml_attr(st, "type");
    return strcmp(st->name, "iq") == 0 && type &&
           (strcmp(type, "get") == 0 || strcmp(type, "set") == 0);
}

/* How deep stanzas routed within one event may nest (a message that
 * bounces, a probe answered with presence, ...). Deeper is a loop. */
#define ROUTE_DEPTH_MAX 6

static void dispatch_stanza(struct dispatch *d, const struct event *ev, struct effects *out,
                            int depth);

/* Offers st down the chain as an inbound stanza, within event ev. */
static void route_inbound(struct dispatch *d, const struct event *ev, struct xnode *st,
                          struct effects *out, int depth)
{
    if (depth > ROUTE_DEPTH_MAX)
        return; /* dropped: a routing loop between handlers is a bug */
    struct event in = *ev; /* borrows subject; never freed */
    in.type = EV_STANZA;
    in.origin_kind = ORIGIN_ROUTE;
    in.origin = 0;
    in.body = st;
    dispatch_stanza(d, &in, out, depth);
}

/* Carries out the FX_ROUTE effects queued from index `from` on, in
 * order; each may queue more, which the nested dispatch carries out
 * itself. Consumed effects leave the list. */
static void run_routes(struct dispatch *d, const struct event *ev, struct effects *out,
                       size_t from, int depth)
{
    for (size_t i = from; i < out->n; i++) {
        if (out->v[i].kind != FX_ROUTE || !out->v[i].stanza)
            continue;
        struct xnode *st = out->v[i].stanza;
        out->v[i].stanza = NULL; /* consumed; compacted away below */
        route_inbound(d, ev, st, out, depth + 1);
        xml_free(st);
    }
    size_t w = from;
    for (size_t i = from; i < out->n; i++) {
        if (out->v[i].kind == FX_ROUTE)
            continue;
        out->v[w++] = out->v[i];
    }
    out->n = w;
}

/* A stanza goes down the chain until a handler takes it. */
static void dispatch_stanza(struct dispatch *d, const struct event *ev, struct effects *out,
                            int depth)
{
    size_t first = out->n;
    size_t i;
    int rc = H_PASS;
    for (i = 0; i < handlers_count; i++) {
        if (!(handlers[i]->wants & EV_BIT(EV_STANZA)))
            continue;
        rc = handlers[i]->apply(d->states[i], ev, out);
        if (rc != H_PASS)
            break;
    }
    if (rc == H_ROUTE) {
        run_routes(d, ev, out, first, depth);
        route_inbound(d, ev, ev->body, out, depth + 1);
        return;
    }
    if (rc < 0) {
        enum stanza_err cond =
            is_stanza_err(rc) ? stanza_err_cond(rc) : STANZA_INTERNAL_SERVER_ERROR;
        stanza_bounce(out, ev, ev->body, cond, NULL);
    } else if (rc == H_PASS && is_request(ev->body)) {
        /* RFC 6120 §8.4: an IQ nobody understands gets service-unavailable. */
        stanza_bounce(out, ev, ev->body, STANZA_SERVICE_UNAVAILABLE, NULL);
    }
    run_routes(d, ev, out, first, depth);
}

/* A copy of a server-started event (only what settings() may read). */
static struct event *started_copy(uint64_t seq, int64_t time_us, struct xnode *body /* owned */)
{
    struct event *c = event_new(EV_SERVER_STARTED, ORIGIN_SERVER, 0, NULL, body);
    c->seq = seq;
    c->time_us = time_us;
    return c;
}

int dispatch_event(struct dispatch *d, const struct event *ev, struct effects *out)
{
    if (d->last_seq && ev->seq != d->last_seq + 1)
        return -ERR_SEQ;
    d->last_seq = ev->seq;
    if (ev->type == EV_SERVER_STARTED) {
        event_free(d->started);
        d->started = started_copy(ev->seq, ev->time_us, xml_copy(ev->body));
    }
    if (ev->type == EV_STANZA) {
        dispatch_stanza(d, ev, out, 0);
        return 0;
    }
    size_t first = out->n;
    for (size_t i = 0; i < handlers_count; i++)
        if (handlers[i]->wants & EV_BIT(ev->type))
            handlers[i]->apply(d->states[i], ev, out);
    run_routes(d, ev, out, first, 0);
    return 0;
}

/* The server-started section's name: never a handler's (registry names
 * are handler names), and first, before every handler's part. */
#define STARTED_SECTION "server-started"

void dispatch_encode(const struct dispatch *d, struct buf *out)
{
    buf_put_u8(out, DISPATCH_SNAPSHOT_VERSION);
    buf_put_varint(out, d->last_seq);
    struct buf one;
    buf_init(&one);
    if (d->started) {
        buf_put_varint(&one, d->started->seq);
        buf_put_u64(&one, (uint64_t)d->started->time_us);
        xml_encode_bin(d->started->body, &one);
        buf_put_str(out, STARTED_SECTION);
        buf_put_bytes(out, one.p, one.len);
    }
    for (size_t i = 0; i < handlers_count; i++) {
        if (!handlers[i]->encode)
            continue;
        buf_reset(&one);
        handlers[i]->encode(d->states[i], &one);
        buf_put_str(out, handlers[i]->name);
        buf_put_bytes(out, one.p, one.len);
    }
    buf_free(&one);
}

/* The server-started section: varint seq (<= last), u64 time_us, tree
 * body (a server-started element), nothing after it. */
static struct event *decode_started(const uint8_t *p, size_t n, uint64_t last)
{
    struct rd r;
    rd_init(&r, p, n);
    uint64_t seq = rd_varint(&r);
    int64_t time_us = (int64_t)rd_u64(&r);
    struct xnode *body = r.err ? NULL : xml_decode_bin(&r);
    if (!body || r.err || rd_left(&r) != 0 || seq > last ||
        strcmp(body->name, ev_type_name(EV_SERVER_STARTED)) != 0 || !body->ns ||
        strcmp(body->ns, NS_EVENT) != 0) {
        xml_free(body);
        return NULL;
    }
    return started_copy(seq, time_us, body);
}

/* Decodes the sections of a state into d; the server-started one, if
 * any, into *started. */
static int decode_sections(struct dispatch *d, struct rd *r, uint64_t last,
                           struct event **started)
{
    size_t durable = 0, seen = 0;
    int prev = -1;
    for (size_t i = 0; i < handlers_count; i++)
        durable += handlers[i]->encode != NULL;
    while (!r->err && rd_left(r) > 0) {
        char *name = rd_strdup(r);
        size_t len;
        const uint8_t *st = rd_bytes(r, &len);
        if (!name || !st) {
            free(name);
            return -ERR_CORRUPT;
        }
        if (prev == -1 && !*started && strcmp(name, STARTED_SECTION) == 0) {
            free(name);
            *started = decode_started(st, len, last);
            if (!*started)
                return -ERR_CORRUPT;
            continue;
        }
        int i = registry_find(name);
        free(name);
        if (i <= prev || !handlers[i]->decode)
            return -ERR_CORRUPT;
        prev = i;
        handlers[i]->destroy(d->states[i]);
        d->states[i] = handlers[i]->create();
        struct rd hr;
        rd_init(&hr, st, len);
        int rc = handlers[i]->decode(d->states[i], &hr);
        if (rc || rd_left(&hr) != 0)
            return rc ? rc : -ERR_CORRUPT;
        seen++;
    }
    if (r->err)
        return r->err;
    if (seen != durable) /* every durable handler exactly once, in registry order */
        return -ERR_CORRUPT;
    return 0;
}

int dispatch_decode(struct dispatch *d, const uint8_t *p, size_t n)
{
    struct rd r;
    rd_init(&r, p, n);
    if (rd_u8(&r) != DISPATCH_SNAPSHOT_VERSION)
        return r.err ? r.err : -ERR_VERSION;
    uint64_t last = rd_varint(&r);
    struct event *started = NULL;
    int rc = decode_sections(d, &r, last, &started);
    if (rc) {
        event_free(started);
        return rc;
    }
    d->last_seq = last;
    event_free(d->started);
    d->started = started;
    /* The events after the snapshot are applied with the settings they
     * were applied with live: those of the last server-started. */
    for (size_t i = 0; started && i < handlers_count; i++)
        if (handlers[i]->settings)
            handlers[i]->settings(d->states[i], started);
    return 0;
}
