/* handler: the effect list and the reply builders every handler shares.
 * Pure: no clock, no I/O (checked by tests/purity.sh). */
#include "handlers/handler.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernel/mem.h"

/* Effects of one event; more means a runaway handler. */
#define EFFECTS_PER_EVENT_MAX (1u << 20)

void effects_init(struct effects *fx) { memset(fx, 0, sizeof *fx); }

void effects_clear(struct effects *fx)
{
    for (size_t i = 0; i < fx->n; i++) {
        xml_free(fx->v[i].stanza);
        free(fx->v[i].text);
        event_free(fx->v[i].event);
    }
    free(fx->v);
    effects_init(fx);
}

static struct effect *fx_push(struct effects *fx, enum fx_kind kind, uint64_t to)
{
    if (fx->n == fx->cap) {
        fx->cap = fx->cap ? fx->cap * 2 : 8;
        if (fx->cap > EFFECTS_PER_EVENT_MAX)
            abort(); /* a handler looping on output: a bug, not input */
        fx->v = xrealloc(fx->v, fx->cap * sizeof *fx->v);
    }
    struct effect *e = &fx->v[fx->n++];
    memset(e, 0, sizeof *e);
    e->kind = kind;
    e->to = to;
    return e;
}

void fx_stanza(struct effects *fx, uint64_t to, struct xnode *stanza)
{
    fx_push(fx, FX_STANZA, to)->stanza = stanza;
}

void fx_close(struct effects *fx, uint64_t to, enum stream_err cond)
{
    fx_push(fx, FX_CLOSE, to)->cond = cond;
}

void fx_ctl(struct effects *fx, uint64_t to, int status, const char *text)
{
    struct effect *e = fx_push(fx, FX_CTL, to);
    e->status = status;
    e->text = xstrdup(text ? text : "");
}

void fx_bind(struct effects *fx, uint64_t to, const char *full_jid)
{
    fx_push(fx, FX_BIND, to)->text = full_jid ? xstrdup(full_jid) : NULL;
}

void fx_route(struct effects *fx, struct xnode *stanza)
{
    fx_push(fx, FX_ROUTE, 0)->stanza = stanza;
}

void fx_event(struct effects *fx, struct event *ev)
{
    fx_push(fx, FX_EVENT, 0)->event = ev;
}

int stanza_outbound(const struct event *ev)
{
    return ev->type == EV_STANZA && ev->origin_kind == ORIGIN_C2S;
}

void stanza_bounce(struct effects *fx, const struct event *ev, const struct xnode *st,
                   enum stanza_err cond, const char *text)
{
    const char *type = xml_attr(st, "type");
    if (type && strcmp(type, "error") == 0)
        return;
    struct xnode *reply = stanza_error_reply(st, cond, text);
    if (ev->origin_kind == ORIGIN_C2S || ev->origin_kind == ORIGIN_SERVER)
        fx_stanza(fx, ev->origin, reply);
    else if (xml_attr(reply, "to"))
        fx_route(fx, reply);
    else
        xml_free(reply);
}

struct xnode *stanza_reply(const struct xnode *req, const char *type)
{
    struct xnode *r = xml_new(req->name, req->ns);
    const char *id = xml_attr(req, "id");
    const char *from = xml_attr(req, "from");
    const char *to = xml_attr(req, "to");
    if (id)
        xml_set_attr(r, "id", id);
    if (from)
        xml_set_attr(r, "to", from);
    if (to)
        xml_set_attr(r, "from", to);
    if (type)
        xml_set_attr(r, "type", type);
    return r;
}

/* RFC 6120 §8.3.1: the error stanza may include the original payload;
 * we include it for IQs (clients match on it) and keep it small by
 * leaving out bodies of messages. */
struct xnode *stanza_error_reply(const struct xnode *req, enum stanza_err cond, const char *text)
{
    struct xnode *r = stanza_reply(req, "error");
    if (strcmp(req->name, "iq") == 0) {
        struct xnode *payload = xml_first_elem(req);
        if (payload)
            xml_append(r, xml_copy(payload));
    }
    struct xnode *e = xml_add(r, "error", NULL);
    xml_set_attr(e, "type", stanza_err_type(cond));
    xml_add(e, stanza_err_name(cond), "urn:ietf:params:xml:ns:xmpp-stanzas");
    if (text && *text) {
        struct xnode *t = xml_add(e, "text", "urn:ietf:params:xml:ns:xmpp-stanzas");
        xml_set_attr(t, "xml:lang", "en");
        xml_add_text(t, text);
    }
    return r;
}

void xmpp_stamp(int64_t time_us, char *out, size_t len)
{
    int64_t ms = time_us / 1000 % 1000;
    time_t secs = (time_t)(time_us / 1000000);
    if (ms < 0) {
        ms += 1000;
        secs--;
    }
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) {
        snprintf(out, len, "1970-01-01T00:00:00.000Z");
        return;
    }
    snprintf(out, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)ms);
}
