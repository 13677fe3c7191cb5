/* sessions: see sessions.h. This file holds the table of bound
 * sessions (by full JID, by connection, and per account in bind order),
 * binding and closing, and the outbound pass; route.c the inbound pass,
 * presence.c and carbons.c the two protocols. */
#include "handlers/sessions/sessions.h"

#include <stdlib.h>
#include <string.h>

#include "handlers/sessions/sessions_int.h"
#include "kernel/jid.h"
#include "kernel/map.h"
#include "kernel/mem.h"

static void *sessions_create(void)
{
    struct sessions_state *s = xcalloc(1, sizeof *s);
    s->domain = xstrdup("");
    s->muc_domain = xstrdup("");
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
        presence_clear(se);
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
    free(s->muc_domain);
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
    presence_clear(se);
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
        presence_session_gone(s, old, 1, out);
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

static void apply_closed(struct sessions_state *s, const struct event *ev, struct effects *out)
{
    struct session *se = map_uget(&s->by_conn, ev->origin);
    if (se) {
        presence_session_gone(s, se, 1, out);
        session_remove(s, se);
    }
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
        presence_session_gone(s, se, 0, out); /* its own resources all close too */
        int last = as->n == 1;
        session_remove(s, se);
        if (last)
            break;
    }
}

/* --- the outbound pass (RFC 6121's "user's server") ------------------ */

int stanza_type_is(const struct xnode *st, const char *t)
{
    const char *type = xml_attr(st, "type");
    if (!t)
        return type == NULL;
    return type && strcmp(type, t) == 0;
}

static int is_broadcast_kind(const struct xnode *st)
{
    return stanza_type_is(st, NULL) || stanza_type_is(st, "unavailable");
}

/* A stanza to a local user JID other than the server's own business. */
static int outbound_local(struct sessions_state *s, struct session *se, const struct xnode *st,
                          const struct jid *j, struct effects *out)
{
    char bare[JID_MAX], to[JID_MAX];
    jid_bare(j, bare);
    jid_full(j, to);
    if (strcmp(st->name, "iq") == 0) {
        /* The server answers IQs to the account's bare JID on its behalf. */
        int own_bare = !*j->resource && se && strcmp(bare, se->bare) == 0;
        return own_bare ? H_PASS : H_ROUTE;
    }
    if (strcmp(st->name, "presence") == 0) {
        if (se && is_broadcast_kind(st)) {
            int rc = presence_directed(se, st, to);
            if (rc)
                return rc;
        }
        return H_ROUTE;
    }
    if (strcmp(st->name, "message") == 0 && se && carbons_eligible(st, 0)) {
        struct session *skip[1] = {se};
        carbons_copy(map_get(&s->by_bare, se->bare), se->bare, st, "sent", skip, 1, out);
    }
    return H_ROUTE;
}

/* A stanza to this server's group chat service (handlers/muc): presence
 * to a room is directed presence, so the room hears when the resource
 * goes unavailable (RFC 6121 §4.6.3). */
static int outbound_muc(struct session *se, const struct xnode *st, const char *to)
{
    if (se && strcmp(st->name, "presence") == 0 && is_broadcast_kind(st)) {
        int rc = presence_directed(se, st, to);
        if (rc)
            return rc;
    }
    return H_ROUTE;
}

/* XEP-0280 §4: the toggle goes to the user's server: no 'to', the
 * server's domain, or the user's own bare JID. */
static int to_own_server(const struct sessions_state *s, const struct session *se, const char *to)
{
    return !to || strcmp(to, s->domain) == 0 || strcmp(to, se->bare) == 0;
}

static int apply_outbound(struct sessions_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *to = xml_attr(st, "to");
    struct session *se = map_uget(&s->by_conn, ev->origin);
    if (se && carbons_is_toggle(st) && to_own_server(s, se, to)) {
        carbons_toggle(se, ev, out);
        return 0;
    }
    if (!to) {
        if (strcmp(st->name, "presence") == 0 && is_broadcast_kind(st))
            return se ? presence_broadcast(s, se, st, out) : 0;
        return H_PASS;
    }
    struct jid j;
    if (jid_parse(&j, to))
        return H_PASS; /* malformed 'to' is refused by the kernel */
    if (*s->muc_domain && strcmp(j.domain, s->muc_domain) == 0)
        return outbound_muc(se, st, to);
    if (strcmp(j.domain, s->domain) != 0) {
        /* No federation yet (RFC 6120 §10.4.3); presence errors are never sent. */
        if (strcmp(st->name, "presence") == 0)
            return 0;
        return stanza_err(STANZA_REMOTE_SERVER_NOT_FOUND);
    }
    if (!*j.local)
        return H_PASS; /* the domain, or a resource of it */
    return outbound_local(s, se, st, &j, out);
}

/* --- the inbound pass: see route.c ------------------------------------- */

static int apply_inbound(struct sessions_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *to = xml_attr(st, "to");
    struct jid j;
    if (!to || jid_parse(&j, to))
        return H_PASS;
    if (strcmp(j.domain, s->domain) != 0) {
        if (strcmp(st->name, "presence") == 0)
            return 0;
        return stanza_err(STANZA_REMOTE_SERVER_NOT_FOUND);
    }
    if (!*j.local)
        return H_PASS;
    char bare[JID_MAX], full[JID_MAX];
    jid_bare(&j, bare);
    jid_full(&j, full);
    return route_inbound_local(s, st, bare, *j.resource ? full : NULL, out);
}

static int apply_stanza(struct sessions_state *s, const struct event *ev, struct effects *out)
{
    return stanza_outbound(ev) ? apply_outbound(s, ev, out) : apply_inbound(s, ev, out);
}

static void sessions_settings(void *state, const struct event *started)
{
    struct sessions_state *s = state;
    const char *d = xml_attr(started->body, "domain");
    const char *md = xml_attr(started->body, "muc-domain");
    free(s->domain);
    free(s->muc_domain);
    s->domain = xstrdup(d ? d : "");
    s->muc_domain = xstrdup(md ? md : "");
}

static int sessions_apply(void *state, const struct event *ev, struct effects *out)
{
    struct sessions_state *s = state;
    switch (ev->type) {
    case EV_SERVER_STARTED:
        sessions_reset(s);
        s->availability = 0;
        sessions_settings(s, ev);
        return 0;
    case EV_SESSION_BOUND: apply_bound(s, ev, out); return 0;
    case EV_SESSION_CLOSED: apply_closed(s, ev, out); return 0;
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
    .settings = sessions_settings,
};
