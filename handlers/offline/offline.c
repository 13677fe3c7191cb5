/* offline: see offline.h.
 *
 * State: a map from bare JID to that account's stored messages, kept in
 * id (= journal seq) order, which is the order they are delivered in. */
#include "handlers/offline/offline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "handlers/sessions/sessions.h"
#include "kernel/jid.h"
#include "kernel/map.h"
#include "kernel/mem.h"

#define OFFLINE_SNAPSHOT_VERSION 1

struct stored {
    uint64_t id;         /* seq of the offline-store event */
    int64_t time_us;     /* when it was stored: the delay stamp */
    struct xnode *msg;   /* owned */
    int in_flight;       /* volatile: sent, tombstone pending */
};

struct box {
    struct stored *v;
    size_t n;
    size_t cap;
};

struct offline_state {
    char *domain;       /* from EV_SERVER_STARTED: the delay's 'from' */
    uint64_t quota;     /* messages per account */
    struct map by_bare; /* bare JID -> struct box */
    struct map ids;     /* id of every stored message -> its box (for holds) */
    struct map draining; /* volatile: conn id -> non-NULL while a backlog goes to it */
};

static void *offline_create(void)
{
    struct offline_state *s = xcalloc(1, sizeof *s);
    s->domain = xstrdup("");
    s->quota = OFFLINE_QUOTA_DEFAULT;
    map_init_str(&s->by_bare);
    map_init_u64(&s->ids);
    map_init_u64(&s->draining);
    return s;
}

static void box_free(struct box *b)
{
    for (size_t i = 0; i < b->n; i++)
        xml_free(b->v[i].msg);
    free(b->v);
    free(b);
}

static void offline_destroy(void *state)
{
    struct offline_state *s = state;
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->by_bare, &i, &slot);)
        box_free(slot->val);
    map_free(&s->by_bare);
    map_free(&s->ids);
    map_free(&s->draining);
    free(s->domain);
    free(s);
}

size_t offline_count(const void *state, const char *bare)
{
    const struct offline_state *s = state;
    const struct box *b = map_get(&s->by_bare, bare);
    return b ? b->n : 0;
}

int offline_each(const void *state, offline_each_cb cb, void *arg)
{
    const struct offline_state *s = state;
    size_t n;
    const char **keys = map_sorted_keys(&s->by_bare, &n);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++) {
        const struct box *b = map_get(&s->by_bare, keys[i]);
        for (size_t k = 0; k < b->n && !rc; k++)
            rc = cb(arg, keys[i], b->v[k].id, b->v[k].time_us, b->v[k].msg);
    }
    free(keys);
    return rc;
}

/* --- events --------------------------------------------------------------- */

struct event *offline_ev_store(const char *bare, const struct xnode *msg)
{
    struct event *ev = event_new(EV_OFFLINE_STORE, ORIGIN_SERVER, 0, bare, NULL);
    xml_set_attr(ev->body, "jid", bare);
    xml_append(ev->body, xml_copy(msg));
    return ev;
}

struct event *offline_ev_delivered(const char *bare, const uint64_t *ids, size_t n)
{
    struct event *ev = event_new(EV_OFFLINE_DELIVERED, ORIGIN_SERVER, 0, bare, NULL);
    xml_set_attr(ev->body, "jid", bare);
    for (size_t i = 0; i < n; i++) {
        char id[24];
        snprintf(id, sizeof id, "%llu", (unsigned long long)ids[i]);
        xml_set_attr(xml_add(ev->body, "item", NULL), "id", id);
    }
    return ev;
}

/* Crypto-erasure (handler.holds): while a message is stored, the journal
 * keeps the data key of its offline-store record; once this says no, the
 * key is destroyed. */
static int offline_holds(const void *state, uint64_t seq)
{
    const struct offline_state *s = state;
    return map_uget(&s->ids, seq) != NULL;
}

/* Forgets the ids of a box that is going away. */
static void box_forget(struct offline_state *s, const struct box *b)
{
    for (size_t i = 0; i < b->n; i++)
        map_udel(&s->ids, b->v[i].id);
}

static void box_push(struct offline_state *s, struct box *b, uint64_t id, int64_t time_us,
                     struct xnode *msg)
{
    map_uput(&s->ids, id, b);
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 4;
        b->v = xrealloc(b->v, b->cap * sizeof *b->v);
    }
    b->v[b->n++] = (struct stored){.id = id, .time_us = time_us, .msg = msg, .in_flight = 0};
}

/* XEP-0160 §4: past the quota the server bounces the message rather than
 * dropping it silently, so the sender knows it was not kept. */
static void apply_store(struct offline_state *s, const struct event *ev, struct effects *out)
{
    const char *bare = xml_attr(ev->body, "jid");
    const struct xnode *msg = xml_first_elem(ev->body);
    if (!bare || !msg || strcmp(msg->name, "message") != 0)
        return;
    const char *type = xml_attr(msg, "type");
    if (type && (strcmp(type, "error") == 0 || strcmp(type, "groupchat") == 0 ||
                 strcmp(type, "headline") == 0))
        return; /* XEP-0160 §3 and RFC 6121 §8.5.2: never kept; no error for an error */
    struct box *b = map_get(&s->by_bare, bare);
    if ((b ? b->n : 0) >= s->quota) {
        if (!xml_attr(msg, "from"))
            return;
        struct xnode *err = stanza_error_reply(msg, STANZA_SERVICE_UNAVAILABLE,
                                               "offline storage is full");
        if (!xml_attr(err, "from"))
            xml_set_attr(err, "from", bare);
        fx_route(out, err);
        return;
    }
    if (!b) {
        b = xcalloc(1, sizeof *b);
        map_put(&s->by_bare, bare, b);
    }
    box_push(s, b, ev->seq, ev->time_us, xml_copy(msg));
}

static int parse_id(const char *s, uint64_t *id)
{
    char *end = NULL;
    if (!s || !*s || *s < '0' || *s > '9')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *id = v;
    return 0;
}

/* The tombstone: idempotent, unknown ids are ignored. */
static void tombstone(struct offline_state *s, const struct event *ev);
static void send_chunk(struct offline_state *s, const char *bare, uint64_t conn,
                       struct effects *out);

static void apply_delivered(struct offline_state *s, const struct event *ev, struct effects *out)
{
    const char *bare0 = xml_attr(ev->body, "jid");
    uint64_t conn = 0;
    if (parse_id(xml_attr(ev->body, "conn"), &conn))
        conn = 0;
    tombstone(s, ev);
    /* The rest of a backlog follows, while its session lasts. */
    if (bare0 && conn && map_uget(&s->draining, conn))
        send_chunk(s, bare0, conn, out);
}

static void tombstone(struct offline_state *s, const struct event *ev)
{
    const char *bare = xml_attr(ev->body, "jid");
    struct box *b = bare ? map_get(&s->by_bare, bare) : NULL;
    if (!b)
        return;
    for (const struct xnode *it = xml_first_elem(ev->body); it; it = xml_next_elem(it)) {
        uint64_t id;
        if (strcmp(it->name, "item") != 0 || parse_id(xml_attr(it, "id"), &id))
            continue;
        for (size_t i = 0; i < b->n; i++) {
            if (b->v[i].id != id)
                continue;
            xml_free(b->v[i].msg);
            map_udel(&s->ids, id);
            memmove(&b->v[i], &b->v[i + 1], (b->n - i - 1) * sizeof b->v[0]);
            b->n--;
            break;
        }
    }
    if (b->n == 0)
        box_free(map_del(&s->by_bare, bare));
}

static void apply_account_delete(struct offline_state *s, const struct event *ev)
{
    const char *bare = xml_attr(ev->body, "jid");
    struct box *b = bare ? map_del(&s->by_bare, bare) : NULL;
    if (b) {
        box_forget(s, b);
        box_free(b);
    }
}

static void offline_settings(void *state, const struct event *started)
{
    struct offline_state *s = state;
    const char *d = xml_attr(started->body, "domain");
    free(s->domain);
    s->domain = xstrdup(d ? d : "");
    s->quota = event_limit(started, "offline-quota", OFFLINE_QUOTA_DEFAULT);
}

static void apply_started(struct offline_state *s, const struct event *ev)
{
    offline_settings(s, ev);
    map_free(&s->draining); /* a restart ends every delivery in progress */
    map_init_u64(&s->draining);
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->by_bare, &i, &slot);) {
        struct box *b = slot->val;
        for (size_t k = 0; k < b->n; k++)
            b->v[k].in_flight = 0;
    }
}

/* --- delivery on available presence ---------------------------------------- */

/* Initial or updated available presence: no 'to', no 'type'. */
static int is_available_broadcast(const struct xnode *st)
{
    return strcmp(st->name, "presence") == 0 && !xml_attr(st, "to") && !xml_attr(st, "type");
}

/* A backlog goes out in chunks of about this many bytes, one per group
 * commit: the next chunk follows when the tombstone of this one is
 * applied. All at once, a long backlog would pass what the kernel queues
 * for one connection (C2S_OUTBUF_MAX) and the connection would be closed
 * with the messages already tombstoned. */
#define OFFLINE_CHUNK_BYTES (256u << 10)

/* Sends the next chunk of bare's stored messages to connection conn,
 * marks them in flight and asks for their tombstone (which names conn, so
 * applying it sends the next chunk). */
static void send_chunk(struct offline_state *s, const char *bare, uint64_t conn,
                       struct effects *out)
{
    struct box *b = map_get(&s->by_bare, bare);
    if (!b) {
        map_udel(&s->draining, conn);
        return;
    }
    uint64_t *ids = xcalloc(b->n, sizeof *ids);
    size_t n = 0, bytes = 0;
    struct buf sz;
    buf_init(&sz);
    for (size_t i = 0; i < b->n && (n == 0 || bytes < OFFLINE_CHUNK_BYTES); i++) {
        struct stored *m = &b->v[i];
        if (m->in_flight)
            continue;
        char stamp[96];
        xmpp_stamp(m->time_us, stamp, sizeof stamp);
        struct xnode *copy = xml_copy(m->msg);
        struct xnode *delay = xml_add(copy, "delay", NS_DELAY);
        xml_set_attr(delay, "from", s->domain);
        xml_set_attr(delay, "stamp", stamp);
        xml_add_text(delay, "Offline Storage");
        buf_reset(&sz);
        xml_serialize(copy, NULL, &sz);
        bytes += sz.len;
        fx_stanza(out, conn, copy);
        m->in_flight = 1;
        ids[n++] = m->id;
    }
    buf_free(&sz);
    if (n > 0) {
        struct event *t = offline_ev_delivered(bare, ids, n);
        char c[24];
        snprintf(c, sizeof c, "%llu", (unsigned long long)conn);
        xml_set_attr(t->body, "conn", c);
        fx_event(out, t);
        map_uput(&s->draining, conn, s);
    } else {
        map_udel(&s->draining, conn);
    }
    free(ids);
}

/* XEP-0160 §3: the server delivers stored messages when the user sends
 * available presence with non-negative priority. A negative priority
 * means "do not send me messages for my bare JID" (RFC 6121 §8.5.2.1.1). */
static void deliver_stored(struct offline_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    struct jid j;
    char bare[JID_MAX];
    const char *from = xml_attr(st, "from");
    int prio;
    if (!is_available_broadcast(st) || presence_priority(st, &prio) || prio < 0)
        return; /* an invalid priority was refused by roster already */
    if (!from || jid_parse(&j, from))
        return;
    jid_bare(&j, bare);
    send_chunk(s, bare, ev->origin, out);
}

static int offline_apply(void *state, const struct event *ev, struct effects *out)
{
    struct offline_state *s = state;
    switch (ev->type) {
    case EV_SERVER_STARTED: apply_started(s, ev); return 0;
    case EV_OFFLINE_STORE: apply_store(s, ev, out); return 0;
    case EV_OFFLINE_DELIVERED: apply_delivered(s, ev, out); return 0;
    case EV_SESSION_CLOSED: map_udel(&s->draining, ev->origin); return 0;
    case EV_ACCOUNT_DELETE: apply_account_delete(s, ev); return 0;
    case EV_STANZA:
        if (stanza_outbound(ev))
            deliver_stored(s, ev, out);
        return H_PASS; /* presence goes on to sessions and roster */
    default: return H_PASS;
    }
}

/* --- snapshot ------------------------------------------------------------- */

/* u8 version, varint accounts, then per account in JID byte order:
 * str jid, varint count, then per message in id order: varint id,
 * u64 time_us (two's complement), tree message (xml_encode_bin).
 * In-flight marks are volatile and not written. */
static void offline_encode(const void *state, struct buf *out)
{
    const struct offline_state *s = state;
    size_t n;
    const char **keys = map_sorted_keys(&s->by_bare, &n);
    buf_put_u8(out, OFFLINE_SNAPSHOT_VERSION);
    buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        const struct box *b = map_get(&s->by_bare, keys[i]);
        buf_put_str(out, keys[i]);
        buf_put_varint(out, b->n);
        for (size_t k = 0; k < b->n; k++) {
            buf_put_varint(out, b->v[k].id);
            buf_put_u64(out, (uint64_t)b->v[k].time_us);
            xml_encode_bin(b->v[k].msg, out);
        }
    }
    free(keys);
}

static int decode_box(struct offline_state *s, struct rd *in, struct box *b)
{
    uint64_t n = rd_varint(in);
    if (n > rd_left(in)) /* every message takes bytes: a bound on damage */
        return -ERR_CORRUPT;
    for (uint64_t k = 0; k < n && !in->err; k++) {
        uint64_t id = rd_varint(in);
        int64_t time_us = (int64_t)rd_u64(in);
        struct xnode *msg = xml_decode_bin(in);
        if (!msg || in->err || (b->n > 0 && id <= b->v[b->n - 1].id)) {
            xml_free(msg);
            return -ERR_CORRUPT;
        }
        if (map_uget(&s->ids, id)) { /* one id, two messages */
            xml_free(msg);
            return -ERR_CORRUPT;
        }
        box_push(s, b, id, time_us, msg);
    }
    return in->err ? -ERR_CORRUPT : 0;
}

static int offline_decode(void *state, struct rd *in)
{
    struct offline_state *s = state;
    if (rd_u8(in) != OFFLINE_SNAPSHOT_VERSION)
        return in->err ? -ERR_CORRUPT : -ERR_VERSION;
    uint64_t n = rd_varint(in);
    for (uint64_t i = 0; i < n && !in->err; i++) {
        char *jid = rd_strdup(in);
        if (!jid || map_get(&s->by_bare, jid)) {
            free(jid);
            return -ERR_CORRUPT;
        }
        struct box *b = xcalloc(1, sizeof *b);
        map_put(&s->by_bare, jid, b);
        free(jid);
        if (decode_box(s, in, b) || b->n == 0)
            return -ERR_CORRUPT;
    }
    return in->err ? -ERR_CORRUPT : 0;
}

const struct handler offline_handler = {
    .name = "offline",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_OFFLINE_STORE) |
             EV_BIT(EV_OFFLINE_DELIVERED) | EV_BIT(EV_ACCOUNT_DELETE) | EV_BIT(EV_STANZA) |
             EV_BIT(EV_SESSION_CLOSED),
    .create = offline_create,
    .destroy = offline_destroy,
    .apply = offline_apply,
    .encode = offline_encode,
    .decode = offline_decode,
    .settings = offline_settings,
    .holds = offline_holds,
};
