/* event: see event.h and doc/formats/event.md. */
#include "kernel/event.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/err.h"
#include "kernel/mem.h"

const char *ev_type_name(enum ev_type t)
{
    switch (t) {
#define X(e, num, name) \
    case e:             \
        return name;
        EV_TABLE(X)
#undef X
    default:
        return "?";
    }
}

struct event *event_new(enum ev_type t, enum ev_origin kind, uint64_t origin,
                        const char *subject, struct xnode *body)
{
    struct event *ev = xcalloc(1, sizeof *ev);
    ev->type = t;
    ev->origin_kind = kind;
    ev->origin = origin;
    ev->subject = xstrdup(subject ? subject : "");
    ev->body = body ? body : xml_new(ev_type_name(t), NS_EVENT);
    return ev;
}

void event_free(struct event *ev)
{
    if (!ev)
        return;
    free(ev->subject);
    xml_free(ev->body);
    free(ev);
}

struct event *event_server_started(const char *domain, const char *version)
{
    struct event *ev = event_new(EV_SERVER_STARTED, ORIGIN_SERVER, 0, NULL, NULL);
    xml_set_attr(ev->body, "domain", domain);
    xml_set_attr(ev->body, "version", version);
    return ev;
}

struct event *event_erased(uint64_t seq, int64_t time_us, enum ev_type t)
{
    struct event *ev = event_new(t, ORIGIN_SERVER, 0, NULL, xml_new("erased", NS_EVENT));
    ev->seq = seq;
    ev->time_us = time_us;
    return ev;
}

int event_is_erased(const struct event *ev)
{
    return ev->body && strcmp(ev->body->name, "erased") == 0 && ev->body->ns &&
           strcmp(ev->body->ns, NS_EVENT) == 0;
}

int event_volatile(const struct event *ev)
{
    if (ev->type == EV_SESSION_BOUND || ev->type == EV_SESSION_CLOSED)
        return 1;
    if (ev->type != EV_STANZA || ev->body == NULL)
        return 0;
    const char *type = xml_attr(ev->body, "type");
    if (strcmp(ev->body->name, "iq") == 0)
        return type != NULL && strcmp(type, "get") == 0;
    if (strcmp(ev->body->name, "presence") == 0)
        return type == NULL || strcmp(type, "unavailable") == 0;
    return 0;
}

void event_set_limits(struct event *started, uint64_t offline_quota, uint64_t vcard_bytes_max)
{
    char v[24];
    snprintf(v, sizeof v, "%llu", (unsigned long long)offline_quota);
    xml_set_attr(started->body, "offline-quota", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)vcard_bytes_max);
    xml_set_attr(started->body, "vcard-bytes-max", v);
}

void event_set_muc(struct event *started, const struct muc_settings *m)
{
    char v[24];
    xml_set_attr(started->body, "muc-domain", m->domain ? m->domain : "");
    xml_set_attr(started->body, "muc-local-create-only", m->local_create_only ? "1" : "0");
    xml_set_attr(started->body, "muc-foreign-need-invite", m->foreign_need_invite ? "1" : "0");
    snprintf(v, sizeof v, "%llu", (unsigned long long)m->history_max);
    xml_set_attr(started->body, "muc-history-max", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)m->max_users);
    xml_set_attr(started->body, "muc-max-users", v);
    snprintf(v, sizeof v, "%llu", (unsigned long long)m->rooms_max);
    xml_set_attr(started->body, "muc-rooms-max", v);
}

uint64_t event_limit(const struct event *started, const char *name, uint64_t dflt)
{
    const char *v = xml_attr(started->body, name);
    if (!v || !*v)
        return dflt;
    uint64_t x = 0;
    for (const char *p = v; *p; p++) {
        if (*p < '0' || *p > '9' || x > UINT64_MAX / 10)
            return dflt;
        x = x * 10 + (uint64_t)(*p - '0');
    }
    return x;
}

void event_encode(const struct event *ev, struct buf *out)
{
    buf_put_u8(out, EVENT_FORMAT_VERSION);
    buf_put_varint(out, (uint64_t)ev->origin_kind);
    buf_put_varint(out, ev->origin);
    buf_put_str(out, ev->subject);
    xml_encode_bin(ev->body, out);
}

struct event *event_decode(uint64_t seq, int64_t time_us, enum ev_type type, const uint8_t *p,
                           size_t n, int *err)
{
    struct rd r;
    rd_init(&r, p, n);
    if (rd_u8(&r) != EVENT_FORMAT_VERSION) {
        *err = r.err ? r.err : -ERR_VERSION;
        return NULL;
    }
    struct event *ev = xcalloc(1, sizeof *ev);
    ev->seq = seq;
    ev->time_us = time_us;
    ev->type = type;
    uint64_t kind = rd_varint(&r);
    if (kind > ORIGIN_S2S)
        r.err = -ERR_CORRUPT;
    ev->origin_kind = (enum ev_origin)kind;
    ev->origin = rd_varint(&r);
    ev->subject = rd_strdup(&r);
    if (!r.err)
        ev->body = xml_decode_bin(&r);
    if (!r.err && rd_left(&r) != 0)
        r.err = -ERR_CORRUPT; /* trailing bytes: the frame and payload disagree */
    if (r.err || !ev->body || !ev->subject) {
        *err = r.err ? r.err : -ERR_CORRUPT;
        event_free(ev);
        return NULL;
    }
    *err = 0;
    return ev;
}
