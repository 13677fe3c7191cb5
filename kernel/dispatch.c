/* dispatch: see dispatch.h. */
#include "kernel/dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "handlers/registry.h"
#include "kernel/mem.h"

#define DISPATCH_SNAPSHOT_VERSION 1

struct dispatch {
    void **states; /* one per registry row */
    uint64_t last_seq;
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
    free(d);
}

const void *dispatch_state(const struct dispatch *d, const char *name)
{
    int i = registry_find(name);
    return i < 0 ? NULL : d->states[i];
}

uint64_t dispatch_last_seq(const struct dispatch *d) { return d->last_seq; }

static int is_request(const struct xnode *st)
{
    const char *type = xml_attr(st, "type");
    return strcmp(st->name, "iq") == 0 && type &&
           (strcmp(type, "get") == 0 || strcmp(type, "set") == 0);
}

/* A stanza goes down the chain until a handler takes it. */
static void dispatch_stanza(struct dispatch *d, const struct event *ev, struct effects *out)
{
    for (size_t i = 0; i < handlers_count; i++) {
        if (!(handlers[i]->wants & EV_BIT(EV_STANZA)))
            continue;
        int rc = handlers[i]->apply(d->states[i], ev, out);
        if (rc == H_PASS)
            continue;
        if (rc < 0) {
            enum stanza_err cond =
                is_stanza_err(rc) ? stanza_err_cond(rc) : STANZA_INTERNAL_SERVER_ERROR;
            const char *type = xml_attr(ev->body, "type");
            /* RFC 6120 §8.3.1: never answer an error with an error. */
            if (!type || strcmp(type, "error") != 0)
                fx_stanza(out, ev->origin, stanza_error_reply(ev->body, cond, NULL));
        }
        return;
    }
    /* RFC 6120 §8.4: an IQ nobody understands gets service-unavailable. */
    if (is_request(ev->body))
        fx_stanza(out, ev->origin,
                  stanza_error_reply(ev->body, STANZA_SERVICE_UNAVAILABLE, NULL));
}

int dispatch_event(struct dispatch *d, const struct event *ev, struct effects *out)
{
    if (d->last_seq && ev->seq != d->last_seq + 1)
        return -ERR_SEQ;
    d->last_seq = ev->seq;
    if (ev->type == EV_STANZA) {
        dispatch_stanza(d, ev, out);
        return 0;
    }
    for (size_t i = 0; i < handlers_count; i++)
        if (handlers[i]->wants & EV_BIT(ev->type))
            handlers[i]->apply(d->states[i], ev, out);
    return 0;
}

void dispatch_encode(const struct dispatch *d, struct buf *out)
{
    buf_put_u8(out, DISPATCH_SNAPSHOT_VERSION);
    buf_put_varint(out, d->last_seq);
    struct buf one;
    buf_init(&one);
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

int dispatch_decode(struct dispatch *d, const uint8_t *p, size_t n)
{
    struct rd r;
    rd_init(&r, p, n);
    if (rd_u8(&r) != DISPATCH_SNAPSHOT_VERSION)
        return r.err ? r.err : -ERR_VERSION;
    uint64_t last = rd_varint(&r);
    size_t durable = 0, seen = 0;
    int prev = -1;
    for (size_t i = 0; i < handlers_count; i++)
        durable += handlers[i]->encode != NULL;
    while (!r.err && rd_left(&r) > 0) {
        char *name = rd_strdup(&r);
        size_t len;
        const uint8_t *st = rd_bytes(&r, &len);
        int i = (name && st) ? registry_find(name) : -1;
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
    if (r.err)
        return r.err;
    if (seen != durable) /* every durable handler exactly once, in registry order */
        return -ERR_CORRUPT;
    d->last_seq = last;
    return 0;
}
