/* sessions: see sessions.h.
 *
 * State: every bound session by full JID and by connection id, and the
 * sessions of each account by bare JID (in bind order, which is the order
 * bare-JID messages are delivered in). */
#include "handlers/sessions/sessions.h"

#include <stdlib.h>
#include <string.h>

#include "kernel/jid.h"
#include "kernel/map.h"
#include "kernel/mem.h"

struct session {
    uint64_t conn;
    char *full;
    char *bare;
};

struct account_sessions {
    struct session *v[SESSIONS_PER_ACCOUNT_MAX];
    size_t n;
};

struct sessions_state {
    char *domain; /* from EV_SERVER_STARTED */
    struct map by_full; /* full JID -> session */
    struct map by_conn; /* conn id -> session */
    struct map by_bare; /* bare JID -> account_sessions */
};

static void *sessions_create(void)
{
    struct sessions_state *s = xcalloc(1, sizeof *s);
    s->domain = xstrdup("");
    map_init_str(&s->by_full);
    map_init_u64(&s->by_conn);
    map_init_str(&s->by_bare);
    return s;
}

static void sessions_reset(struct sessions_state *s)
{
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->by_full, &i, &slot);) {
        struct session *se = slot->val;
        free(se->full);
        free(se->bare);
        free(se);
    }
    for (size_t i = 0; map_next(&s->by_bare, &i, &slot);)
        free(slot->val);
    map_free(&s->by_full);
    map_free(&s->by_conn);
    map_free(&s->by_bare);
}

static void sessions_destroy(void *state)
{
    struct sessions_state *s = state;
    sessions_reset(s);
    free(s->domain);
    free(s);
}

size_t sessions_count(const void *state)
{
    const struct sessions_state *s = state;
    return s->by_full.len;
}

struct event *sessions_ev_bound(uint64_t conn, const char *full_jid, const char *req_id)
{
    struct jid j;
    char bare[JID_MAX] = "";
    if (jid_parse(&j, full_jid) == 0)
        jid_bare(&j, bare);
    struct event *ev = event_new(EV_SESSION_BOUND, ORIGIN_C2S, conn, bare, NULL);
    xml_set_attr(ev->body, "jid", full_jid);
    if (req_id)
        xml_set_attr(ev->body, "req", req_id);
    return ev;
}

struct event *sessions_ev_closed(uint64_t conn, const char *full_jid)
{
    struct jid j;
    char bare[JID_MAX] = "";
    if (jid_parse(&j, full_jid) == 0)
        jid_bare(&j, bare);
    struct event *ev = event_new(EV_SESSION_CLOSED, ORIGIN_C2S, conn, bare, NULL);
    xml_set_attr(ev->body, "jid", full_jid);
    return ev;
}

/* --- the table ---------------------------------------------------------- */

static void session_remove(struct sessions_state *s, struct session *se)
{
    struct account_sessions *as = map_get(&s->by_bare, se->bare);
    if (as) {
        for (size_t i = 0; i < as->n; i++) {
            if (as->v[i] == se) {
                memmove(&as->v[i], &as->v[i + 1], (as->n - i - 1) * sizeof as->v[0]);
                as->n--;
                break;
            }
        }
        if (as->n == 0)
            free(map_del(&s->by_bare, se->bare));
    }
    map_del(&s->by_full, se->full);
    map_udel(&s->by_conn, se->conn);
    free(se->full);
    free(se->bare);
    free(se);
}

static void bind_reply(const struct event *ev, const char *full, enum stanza_err cond,
                       struct effects *out)
{
    struct xnode *iq = xml_new("iq", NS_CLIENT);
    const char *req = xml_attr(ev->body, "req");
    if (req)
        xml_set_attr(iq, "id", req);
    if (cond == STANZA_OK_) {
        xml_set_attr(iq, "type", "result");
        struct xnode *b = xml_add(iq, "bind", NS_BIND);
        xml_add_text(xml_add(b, "jid", NULL), full);
    } else {
        xml_set_attr(iq, "type", "error");
        struct xnode *e = xml_add(iq, "error", NULL);
        xml_set_attr(e, "type", stanza_err_type(cond));
        xml_add(e, stanza_err_name(cond), "urn:ietf:params:xml:ns:xmpp-stanzas");
    }
    fx_bind(out, ev->origin, cond == STANZA_OK_ ? full : NULL);
    fx_stanza(out, ev->origin, iq);
}

/* RFC 6120 §7.7.2.2: a second session with the same resource replaces
 * the first, which is closed with <conflict/>. */
static void apply_bound(struct sessions_state *s, const struct event *ev, struct effects *out)
{
    const char *full = xml_attr(ev->body, "jid");
    struct jid j;
    char bare[JID_MAX];
    if (!full || jid_parse(&j, full) || !*j.resource || !*j.local) {
        bind_reply(ev, NULL, STANZA_BAD_REQUEST, out);
        return;
    }
    jid_bare(&j, bare);
    struct session *old = map_get(&s->by_full, full);
    if (old) {
        fx_close(out, old->conn, STREAM_CONFLICT);
        session_remove(s, old);
    }
    struct account_sessions *as = map_get(&s->by_bare, bare);
    if (as && as->n >= SESSIONS_PER_ACCOUNT_MAX) {
        bind_reply(ev, NULL, STANZA_RESOURCE_CONSTRAINT, out);
        return;
    }
    if (!as) {
        as = xcalloc(1, sizeof *as);
        map_put(&s->by_bare, bare, as);
    }
    struct session *se = xcalloc(1, sizeof *se);
    se->conn = ev->origin;
    se->full = xstrdup(full);
    se->bare = xstrdup(bare);
    as->v[as->n++] = se;
    map_put(&s->by_full, full, se);
    map_uput(&s->by_conn, se->conn, se);
    bind_reply(ev, full, STANZA_OK_, out);
}

static void apply_closed(struct sessions_state *s, const struct event *ev)
{
    struct session *se = map_uget(&s->by_conn, ev->origin);
    if (se)
        session_remove(s, se);
}

/* An account is gone: its sessions end (XEP-0077 §3.2). */
static void apply_account_delete(struct sessions_state *s, const struct event *ev,
                                 struct effects *out)
{
    const char *bare = xml_attr(ev->body, "jid");
    struct account_sessions *as = bare ? map_get(&s->by_bare, bare) : NULL;
    while (as && as->n > 0) {
        struct session *se = as->v[as->n - 1];
        fx_close(out, se->conn, STREAM_NOT_AUTHORIZED);
        int last = as->n == 1;
        session_remove(s, se);
        if (last)
            break;
    }
}

/* --- routing ------------------------------------------------------------ */

static void deliver(struct effects *out, const struct session *se, const struct xnode *st)
{
    fx_stanza(out, se->conn, xml_copy(st));
}

/* RFC 6121 §8.5.2: a stanza to a bare JID. Until presence is tracked,
 * every bound resource counts as available. */
static int route_bare(struct sessions_state *s, const struct xnode *st, const char *bare,
                      struct effects *out)
{
    const char *type = xml_attr(st, "type");
    struct account_sessions *as = map_get(&s->by_bare, bare);
    if (strcmp(st->name, "iq") == 0)
        return H_PASS; /* the server answers IQs on the account's behalf */
    if (strcmp(st->name, "message") == 0) {
        if (type && strcmp(type, "error") == 0)
            return 0;
        if (type && strcmp(type, "groupchat") == 0)
            return stanza_err(STANZA_SERVICE_UNAVAILABLE);
        if (!as)
            return (type && strcmp(type, "headline") == 0) ? 0
                                                           : stanza_err(STANZA_SERVICE_UNAVAILABLE);
    }
    for (size_t i = 0; as && i < as->n; i++)
        deliver(out, as->v[i], st);
    return 0;
}

/* RFC 6121 §8.5.3: a stanza to a full JID. */
static int route_full(struct sessions_state *s, const struct xnode *st, const char *full,
                      const char *bare, struct effects *out)
{
    struct session *se = map_get(&s->by_full, full);
    if (se) {
        deliver(out, se, st);
        return 0;
    }
    const char *type = xml_attr(st, "type");
    if (strcmp(st->name, "message") == 0) {
        if (!type || strcmp(type, "normal") == 0 || strcmp(type, "chat") == 0)
            return route_bare(s, st, bare, out);
        if (strcmp(type, "groupchat") == 0)
            return stanza_err(STANZA_SERVICE_UNAVAILABLE);
        return 0; /* headline, error: dropped */
    }
    if (strcmp(st->name, "iq") == 0) {
        if (type && (strcmp(type, "get") == 0 || strcmp(type, "set") == 0))
            return stanza_err(STANZA_SERVICE_UNAVAILABLE);
        return 0;
    }
    return 0; /* presence to a resource that is gone: dropped */
}

static int apply_stanza(struct sessions_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *to = xml_attr(st, "to");
    struct jid j;
    if (!to || jid_parse(&j, to))
        return H_PASS; /* to the server itself; malformed 'to' is refused by the kernel */
    if (strcmp(j.domain, s->domain) != 0) {
        /* No federation yet (RFC 6120 §10.4.3). */
        if (strcmp(st->name, "presence") == 0)
            return 0;
        return stanza_err(STANZA_REMOTE_SERVER_NOT_FOUND);
    }
    if (!*j.local)
        return H_PASS; /* the domain, or a resource of it */
    char bare[JID_MAX];
    jid_bare(&j, bare);
    if (*j.resource)
        return route_full(s, st, to, bare, out);
    return route_bare(s, st, bare, out);
}

static int sessions_apply(void *state, const struct event *ev, struct effects *out)
{
    struct sessions_state *s = state;
    switch (ev->type) {
    case EV_SERVER_STARTED: {
        const char *d = xml_attr(ev->body, "domain");
        sessions_reset(s);
        free(s->domain);
        s->domain = xstrdup(d ? d : "");
        return 0;
    }
    case EV_SESSION_BOUND: apply_bound(s, ev, out); return 0;
    case EV_SESSION_CLOSED: apply_closed(s, ev); return 0;
    case EV_ACCOUNT_DELETE: apply_account_delete(s, ev, out); return 0;
    case EV_STANZA: return apply_stanza(s, ev, out);
    default: return H_PASS;
    }
}

const struct handler sessions_handler = {
    .name = "sessions",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_SESSION_BOUND) | EV_BIT(EV_SESSION_CLOSED) |
             EV_BIT(EV_ACCOUNT_DELETE) | EV_BIT(EV_STANZA),
    .create = sessions_create,
    .destroy = sessions_destroy,
    .apply = sessions_apply,
    .encode = NULL,
    .decode = NULL,
};
