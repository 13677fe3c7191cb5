/* last: see last.h.
 *
 * Durable changes depend on the event and durable state only, never on
 * the volatile sets (replay from a snapshot must rebuild them exactly):
 * a bind creates the account's record, a session close or an unavailable
 * broadcast stamps it, account deletion drops it. Records are created
 * only on bind so that the session closes which follow an account's
 * deletion do not bring it back. */
#include "handlers/last/last.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/jid.h"
#include "kernel/map.h"
#include "kernel/mem.h"

#define LAST_SNAPSHOT_VERSION 1

struct last_rec {
    int64_t left_us; /* last seen leaving, µs since 1970; 0: never */
    char *status;    /* text of the last unavailable presence; "" if none */
};

struct last_state {
    /* volatile */
    char *domain;       /* from EV_SERVER_STARTED */
    int64_t started_us; /* EV_SERVER_STARTED's time: the uptime origin */
    struct map avail;   /* full JID -> (void *)1: available resources */
    struct map navail;  /* bare JID -> (void *)(uintptr_t)count of them */
    /* durable */
    struct map recs;    /* bare JID -> struct last_rec */
};

static void *last_create(void)
{
    struct last_state *s = xcalloc(1, sizeof *s);
    s->domain = xstrdup("");
    map_init_str(&s->avail);
    map_init_str(&s->navail);
    map_init_str(&s->recs);
    return s;
}

static void rec_free(struct last_rec *r)
{
    if (r)
        free(r->status);
    free(r);
}

static void last_destroy(void *state)
{
    struct last_state *s = state;
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->recs, &i, &slot);)
        rec_free(slot->val);
    map_free(&s->recs);
    map_free(&s->avail);
    map_free(&s->navail);
    free(s->domain);
    free(s);
}

size_t last_count(const void *state)
{
    const struct last_state *s = state;
    return s->recs.len;
}

/* Splits a full JID; returns 0 with its bare form, or -1. */
static int full_to_bare(const char *full, char *bare)
{
    struct jid j;
    if (!full || jid_parse(&j, full) || !*j.local || !*j.resource)
        return -1;
    jid_bare(&j, bare);
    return 0;
}

/* --- volatile: available resources ------------------------------------ */

static void avail_add(struct last_state *s, const char *full, const char *bare)
{
    if (map_get(&s->avail, full))
        return; /* a presence update, not a new resource */
    map_put(&s->avail, full, (void *)1);
    uintptr_t n = (uintptr_t)map_get(&s->navail, bare);
    map_put(&s->navail, bare, (void *)(n + 1));
}

static void avail_remove(struct last_state *s, const char *full, const char *bare)
{
    if (!map_del(&s->avail, full))
        return;
    uintptr_t n = (uintptr_t)map_get(&s->navail, bare);
    if (n <= 1)
        map_del(&s->navail, bare);
    else
        map_put(&s->navail, bare, (void *)(n - 1));
}

static void avail_clear(struct last_state *s)
{
    map_free(&s->avail);
    map_free(&s->navail);
    map_init_str(&s->avail);
    map_init_str(&s->navail);
}

/* --- durable: records ---------------------------------------------------- */

static void rec_set_status(struct last_rec *r, const char *text)
{
    size_t n = strlen(text);
    if (n > LAST_STATUS_BYTES_MAX) {
        n = LAST_STATUS_BYTES_MAX;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--; /* cut before a continuation byte: keep whole characters */
    }
    free(r->status);
    r->status = xmalloc(n + 1);
    memcpy(r->status, text, n);
    r->status[n] = 0;
}

static void apply_bound(struct last_state *s, const struct event *ev)
{
    char bare[JID_MAX];
    if (full_to_bare(xml_attr(ev->body, "jid"), bare) || map_get(&s->recs, bare))
        return;
    struct last_rec *r = xcalloc(1, sizeof *r);
    r->status = xstrdup("");
    map_put(&s->recs, bare, r);
}

static void apply_closed(struct last_state *s, const struct event *ev)
{
    const char *full = xml_attr(ev->body, "jid");
    char bare[JID_MAX];
    if (full_to_bare(full, bare))
        return;
    avail_remove(s, full, bare);
    struct last_rec *r = map_get(&s->recs, bare);
    if (r)
        r->left_us = ev->time_us;
}

/* RFC 6121 §4.2, §4.5: presence without 'to' is the user's broadcast;
 * we only watch it and let it go on (H_PASS). */
static int watch_presence(struct last_state *s, const struct event *ev)
{
    const struct xnode *st = ev->body;
    const char *full = xml_attr(st, "from");
    const char *type = xml_attr(st, "type");
    char bare[JID_MAX];
    if (!stanza_outbound(ev) || xml_attr(st, "to") || full_to_bare(full, bare))
        return H_PASS;
    if (!type) {
        avail_add(s, full, bare);
    } else if (strcmp(type, "unavailable") == 0) {
        avail_remove(s, full, bare);
        struct last_rec *r = map_get(&s->recs, bare);
        const struct xnode *status = xml_child(st, "status", st->ns);
        if (r) {
            r->left_us = ev->time_us;
            rec_set_status(r, status ? xml_text(status) : "");
        }
    }
    return H_PASS;
}

/* --- queries ---------------------------------------------------------- */

static void answer(const struct event *ev, struct xnode *r, struct effects *out)
{
    if (stanza_outbound(ev))
        fx_stanza(out, ev->origin, r);
    else if (xml_attr(r, "to"))
        fx_route(out, r);
    else
        xml_free(r);
}

static void reply_seconds(const struct event *ev, int64_t since_us, const char *text,
                          struct effects *out)
{
    char secs[24];
    int64_t d = ev->time_us - since_us;
    snprintf(secs, sizeof secs, "%lld", (long long)(d > 0 ? d / 1000000 : 0));
    struct xnode *r = stanza_reply(ev->body, "result");
    struct xnode *q = xml_add(r, "query", NS_LAST);
    xml_set_attr(q, "seconds", secs);
    if (text && *text)
        xml_add_text(q, text);
    answer(ev, r, out);
}

static int query_account(struct last_state *s, const struct event *ev, const char *bare,
                         struct effects *out)
{
    const struct last_rec *r = map_get(&s->recs, bare);
    if (map_get(&s->navail, bare)) {
        reply_seconds(ev, ev->time_us, NULL, out); /* §3: online, seconds='0' */
        return 0;
    }
    if (!r || r->left_us == 0)
        return stanza_err(STANZA_SERVICE_UNAVAILABLE);
    reply_seconds(ev, r->left_us, r->status, out);
    return 0;
}

static int apply_query(struct last_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *to = xml_attr(st, "to");
    struct jid j;
    if (!to) {
        reply_seconds(ev, s->started_us, NULL, out);
        return 0;
    }
    if (jid_parse(&j, to) || *j.resource || strcmp(j.domain, s->domain) != 0)
        return H_PASS; /* a full JID (the client answers) or elsewhere */
    if (!*j.local) {
        reply_seconds(ev, s->started_us, NULL, out); /* §5: uptime */
        return 0;
    }
    char bare[JID_MAX], from_bare[JID_MAX] = "";
    jid_bare(&j, bare);
    const char *from = xml_attr(st, "from");
    if (from && jid_parse(&j, from) == 0)
        jid_bare(&j, from_bare);
    if (stanza_outbound(ev) && strcmp(bare, from_bare) != 0)
        return H_PASS; /* answered on the inbound pass, after authorization */
    return query_account(s, ev, bare, out);
}

static int apply_stanza(struct last_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    if (strcmp(st->name, "presence") == 0)
        return watch_presence(s, ev);
    const char *type = xml_attr(st, "type");
    const struct xnode *q = xml_first_elem(st);
    if (strcmp(st->name, "iq") != 0 || !type || !q || strcmp(q->name, "query") != 0 ||
        strcmp(q->ns, NS_LAST) != 0)
        return H_PASS;
    if (strcmp(type, "get") == 0)
        return apply_query(s, ev, out);
    if (strcmp(type, "set") != 0)
        return H_PASS; /* results and errors travel on to their addressee */
    const char *to = xml_attr(st, "to");
    struct jid j;
    if (to && (jid_parse(&j, to) || *j.resource || strcmp(j.domain, s->domain) != 0))
        return H_PASS;
    return stanza_err(STANZA_BAD_REQUEST); /* XEP-0012 defines only get */
}

/* The server's uptime counts from the start event's time. */
static void last_settings(void *state, const struct event *started)
{
    struct last_state *s = state;
    const char *d = xml_attr(started->body, "domain");
    free(s->domain);
    s->domain = xstrdup(d ? d : "");
    s->started_us = started->time_us;
}

static int last_apply(void *state, const struct event *ev, struct effects *out)
{
    struct last_state *s = state;
    const char *jid;
    switch (ev->type) {
    case EV_SERVER_STARTED:
        last_settings(s, ev);
        avail_clear(s);
        return 0;
    case EV_SESSION_BOUND: apply_bound(s, ev); return 0;
    case EV_SESSION_CLOSED: apply_closed(s, ev); return 0;
    case EV_ACCOUNT_DELETE:
        jid = xml_attr(ev->body, "jid");
        if (jid)
            rec_free(map_del(&s->recs, jid));
        return 0;
    case EV_STANZA: return apply_stanza(s, ev, out);
    default: return H_PASS;
    }
}

/* Snapshot: u8 version, varint count, then per account in JID order:
 * str bare JID, u64 left_us (two's complement; 0: never), str status. */
static void last_encode(const void *state, struct buf *out)
{
    const struct last_state *s = state;
    size_t n;
    const char **keys = map_sorted_keys(&s->recs, &n);
    buf_put_u8(out, LAST_SNAPSHOT_VERSION);
    buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        const struct last_rec *r = map_get(&s->recs, keys[i]);
        buf_put_str(out, keys[i]);
        buf_put_u64(out, (uint64_t)r->left_us);
        buf_put_str(out, r->status);
    }
    free(keys);
}

static int last_decode(void *state, struct rd *in)
{
    struct last_state *s = state;
    if (rd_u8(in) != LAST_SNAPSHOT_VERSION)
        return in->err ? -ERR_CORRUPT : -ERR_VERSION;
    uint64_t n = rd_varint(in);
    for (uint64_t i = 0; i < n && !in->err; i++) {
        char *jid = rd_strdup(in);
        int64_t left_us = (int64_t)rd_u64(in);
        char *status = rd_strdup(in);
        if (!jid || !status || strlen(status) > LAST_STATUS_BYTES_MAX ||
            map_get(&s->recs, jid)) {
            free(jid);
            free(status);
            return -ERR_CORRUPT;
        }
        struct last_rec *r = xmalloc(sizeof *r);
        r->left_us = left_us;
        r->status = status;
        map_put(&s->recs, jid, r);
        free(jid);
    }
    return in->err ? -ERR_CORRUPT : 0;
}

const struct handler last_handler = {
    .name = "last",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_SESSION_BOUND) | EV_BIT(EV_SESSION_CLOSED) |
             EV_BIT(EV_ACCOUNT_DELETE) | EV_BIT(EV_STANZA),
    .create = last_create,
    .destroy = last_destroy,
    .apply = last_apply,
    .encode = last_encode,
    .decode = last_decode,
    .settings = last_settings,
};
