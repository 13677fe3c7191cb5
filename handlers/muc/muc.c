/* muc: the handler. Takes the inbound pass of every stanza to the
 * service's domain and sends it where its address says (muc_int.h):
 * the service, a room, or an occupant. */
#include "handlers/muc/muc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "handlers/audit/audit.h"
#include "handlers/muc/muc_int.h"
#include "kernel/jid.h"
#include "kernel/mem.h"

static void policy_free(struct muc_policy *p)
{
    free(p->domain);
    free(p->server_domain);
    p->domain = p->server_domain = NULL;
}

static void *muc_create(void)
{
    struct muc_state *s = xcalloc(1, sizeof *s);
    s->pol.domain = xstrdup("");
    s->pol.server_domain = xstrdup("");
    s->pol.local_create_only = 1;
    s->pol.foreign_need_invite = 1;
    s->pol.history_max = 20;
    s->pol.max_users = 1000;
    s->pol.rooms_max = 10000;
    map_init_str(&s->rooms);
    map_init_str(&s->joined);
    return s;
}

static void joined_free(struct joined *j)
{
    for (size_t i = 0; i < j->n; i++)
        free(j->rooms[i]);
    free(j->rooms);
    free(j);
}

static void muc_destroy(void *state)
{
    struct muc_state *s = state;
    const struct map_slot *sl;
    for (size_t i = 0; map_next(&s->rooms, &i, &sl);)
        room_free(sl->val);
    map_free(&s->rooms);
    for (size_t i = 0; map_next(&s->joined, &i, &sl);)
        joined_free(sl->val);
    map_free(&s->joined);
    policy_free(&s->pol);
    free(s);
}

/* --- helpers ------------------------------------------------------------- */

void muc_joined_add(struct muc_state *s, const char *real, const char *room)
{
    struct joined *j = map_get(&s->joined, real);
    if (!j) {
        j = xcalloc(1, sizeof *j);
        map_put(&s->joined, real, j);
    }
    if (j->n == j->cap) {
        j->cap = j->cap ? j->cap * 2 : 2;
        j->rooms = xrealloc(j->rooms, j->cap * sizeof *j->rooms);
    }
    j->rooms[j->n++] = xstrdup(room);
}

void muc_joined_del(struct muc_state *s, const char *real, const char *room)
{
    struct joined *j = map_get(&s->joined, real);
    if (!j)
        return;
    for (size_t i = 0; i < j->n; i++) {
        if (strcmp(j->rooms[i], room) != 0)
            continue;
        free(j->rooms[i]);
        memmove(&j->rooms[i], &j->rooms[i + 1], (j->n - i - 1) * sizeof *j->rooms);
        j->n--;
        break;
    }
    if (j->n == 0)
        joined_free(map_del(&s->joined, real));
}

void muc_occupant_jid(const struct room *r, const char *nick, char *out)
{
    snprintf(out, JID_MAX, "%s/%s", r->jid, nick);
}

int muc_is_local(const struct muc_state *s, const char *jid)
{
    struct jid j;
    return jid_parse(&j, jid) == 0 && *j.local && strcmp(j.domain, s->pol.server_domain) == 0;
}

void muc_audit(struct effects *out, const char *what, const struct room *r, const char *actor,
               const char *detail)
{
    char bare[JID_MAX] = "";
    if (actor && *actor)
        muc_bare_of(actor, bare);
    fx_event(out, audit_ev_note(what, r->jid, bare, detail ? detail : ""));
}

void muc_add_status(struct xnode *x, int code)
{
    char v[8];
    snprintf(v, sizeof v, "%d", code);
    xml_set_attr(xml_add(x, "status", NULL), "code", v);
}

void muc_bare_of(const char *full, char *out)
{
    struct jid j;
    out[0] = '\0';
    if (jid_parse(&j, full) == 0)
        jid_bare(&j, out);
}

/* --- events that are not stanzas ------------------------------------------- */

static char *attr_dup(const struct event *ev, const char *name, const char *dflt)
{
    const char *v = xml_attr(ev->body, name);
    return xstrdup(v ? v : dflt);
}

/* The service's settings from a server-started event (also given after a
 * snapshot is decoded, so the journal after it is applied with them). A
 * changed service domain renames the rooms' JIDs. */
static void muc_settings(void *state, const struct event *ev)
{
    struct muc_state *s = state;
    policy_free(&s->pol);
    s->pol.domain = attr_dup(ev, "muc-domain", "");
    s->pol.server_domain = attr_dup(ev, "domain", "");
    s->pol.local_create_only = event_limit(ev, "muc-local-create-only", 1) != 0;
    s->pol.foreign_need_invite = event_limit(ev, "muc-foreign-need-invite", 1) != 0;
    s->pol.history_max = (uint32_t)event_limit(ev, "muc-history-max", 20);
    s->pol.max_users = (uint32_t)event_limit(ev, "muc-max-users", 1000);
    s->pol.rooms_max = (uint32_t)event_limit(ev, "muc-rooms-max", 10000);
    const struct map_slot *sl;
    for (size_t i = 0; map_next(&s->rooms, &i, &sl);) {
        struct room *r = sl->val;
        size_t jn = strlen(r->name) + strlen(s->pol.domain) + 2;
        free(r->jid);
        r->jid = xmalloc(jn);
        snprintf(r->jid, jn, "%s@%s", r->name, s->pol.domain);
        if (r->cfg.history_max > s->pol.history_max)
            r->cfg.history_max = s->pol.history_max;
    }
}

/* A restart: everyone has left. Rooms that are not persistent go with
 * their occupants; persistent ones keep configuration and affiliations. */
static void apply_started(struct muc_state *s, const struct event *ev)
{
    size_t n;
    const char **names = map_sorted_keys(&s->rooms, &n);
    for (size_t i = 0; i < n; i++) {
        struct room *r = map_get(&s->rooms, names[i]);
        if (!r->cfg.persistent || r->locked) {
            room_remove(s, r);
            continue;
        }
        while (r->nocc > 0)
            room_occupant_remove(r, r->occ[r->nocc - 1]);
        room_history_clear(r);
    }
    free(names);
    const struct map_slot *sl;
    for (size_t i = 0; map_next(&s->joined, &i, &sl);)
        joined_free(sl->val);
    map_free(&s->joined);
    map_init_str(&s->joined);
    muc_settings(s, ev);
}

/* --- decisions: durable changes a message made ------------------------------ */

struct event *muc_ev_subject(const char *room, const char *nick, const char *subject)
{
    struct event *ev = event_new(EV_MUC_SUBJECT, ORIGIN_SERVER, 0, NULL, NULL);
    xml_set_attr(ev->body, "room", room);
    xml_set_attr(ev->body, "nick", nick);
    if (*subject)
        xml_add_text(ev->body, subject);
    return ev;
}

struct event *muc_ev_member(const char *room, const char *bare_jid, const char *inviter)
{
    struct event *ev = event_new(EV_MUC_MEMBER, ORIGIN_SERVER, 0, NULL, NULL);
    xml_set_attr(ev->body, "room", room);
    xml_set_attr(ev->body, "jid", bare_jid);
    xml_set_attr(ev->body, "inviter", inviter);
    return ev;
}

static void apply_subject(struct muc_state *s, const struct event *ev)
{
    const char *name = xml_attr(ev->body, "room"), *nick = xml_attr(ev->body, "nick");
    struct room *r = name ? room_find(s, name) : NULL;
    if (!r)
        return; /* the room ended meanwhile */
    free(r->subject);
    r->subject = xstrdup(xml_text(ev->body));
    free(r->subject_nick);
    r->subject_nick = xstrdup(nick ? nick : "");
}

/* Membership for an invitee, unless someone changed the affiliation
 * since (a ban after the invitation wins). */
static void apply_member(struct muc_state *s, const struct event *ev)
{
    const char *name = xml_attr(ev->body, "room"), *jid = xml_attr(ev->body, "jid");
    struct room *r = name ? room_find(s, name) : NULL;
    if (r && jid && room_affil(r, jid) == AFFIL_NONE)
        room_set_affil(r, jid, AFFIL_MEMBER);
}

/* --- stanzas ---------------------------------------------------------------- */

static int is_type(const struct xnode *st, const char *t)
{
    const char *type = xml_attr(st, "type");
    return type && strcmp(type, t) == 0;
}

static int query_ns_is(const struct xnode *st, const char *ns)
{
    const struct xnode *q = xml_first_elem(st);
    return q && q->ns && strcmp(q->ns, ns) == 0;
}

/* The service itself: disco; nothing else is addressed to it. */
static int to_service(struct muc_state *s, const struct event *ev, const struct xnode *st,
                      struct effects *out)
{
    if (strcmp(st->name, "iq") == 0)
        return muc_iq_service(s, ev, st, out);
    if (strcmp(st->name, "presence") == 0)
        return 0;
    return stanza_err(STANZA_SERVICE_UNAVAILABLE);
}

static int to_room(struct muc_state *s, const struct event *ev, const struct xnode *st,
                   struct room *r, struct effects *out)
{
    if (strcmp(st->name, "presence") == 0) {
        /* §7.2.1: entering needs a nickname; other presence is ignored. */
        if (xml_attr(st, "type"))
            return 0;
        return stanza_err(STANZA_JID_MALFORMED);
    }
    if (strcmp(st->name, "iq") == 0 && (is_type(st, "result") || is_type(st, "error")))
        return 0;
    if (!r)
        return stanza_err(STANZA_ITEM_NOT_FOUND);
    if (strcmp(st->name, "message") == 0)
        return muc_message_room(s, ev, st, r, out);
    if (query_ns_is(st, NS_MUC_ADMIN))
        return muc_iq_admin(s, ev, st, r, out);
    if (query_ns_is(st, NS_MUC_OWNER))
        return muc_iq_owner(s, ev, st, r, out);
    return muc_iq_room_disco(s, ev, st, r, out);
}

static int to_occupant(struct muc_state *s, const struct event *ev, const struct xnode *st,
                       struct room *r, const char *room_name, const char *nick,
                       struct effects *out)
{
    if (strcmp(st->name, "presence") == 0)
        return muc_presence(s, ev, st, r, room_name, nick, out);
    if (!r)
        return stanza_err(STANZA_ITEM_NOT_FOUND);
    if (strcmp(st->name, "message") == 0)
        return muc_message_occupant(s, ev, st, r, nick, out);
    return muc_iq_occupant(s, ev, st, r, nick, out);
}

/* 1 when 'to' cannot be at the service: its domain part is plain ASCII
 * and not the service's, whatever its case. Every stanza a room sends
 * comes down the chain past this handler, so this spares preparing the
 * JID of each copy; anything else gets the full comparison. */
static int surely_elsewhere(const char *to, const char *domain)
{
    const char *d = strchr(to, '@');
    const char *slash = strchr(to, '/');
    if (d && slash && slash < d)
        d = NULL; /* an '@' in the resource */
    d = d ? d + 1 : to;
    size_t n = slash && slash > d ? (size_t)(slash - d) : strlen(d);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)d[i] >= 0x80)
            return 0;
    return n != strlen(domain) || strncasecmp(d, domain, n) != 0;
}

static int apply_stanza(struct muc_state *s, const struct event *ev, struct effects *out)
{
    const struct xnode *st = ev->body;
    const char *to = xml_attr(st, "to");
    struct jid j;
    if (!*s->pol.domain || stanza_outbound(ev) || !to || surely_elsewhere(to, s->pol.domain) ||
        jid_parse(&j, to) ||
        strcmp(j.domain, s->pol.domain) != 0)
        return H_PASS;
    if (!xml_attr(st, "from"))
        return 0; /* nobody to answer */
    if (!*j.local)
        return *j.resource ? stanza_err(STANZA_SERVICE_UNAVAILABLE) : to_service(s, ev, st, out);
    struct room *r = room_find(s, j.local);
    if (!*j.resource)
        return to_room(s, ev, st, r, out);
    return to_occupant(s, ev, st, r, j.local, j.resource, out);
}

static int muc_apply(void *state, const struct event *ev, struct effects *out)
{
    struct muc_state *s = state;
    switch (ev->type) {
    case EV_SERVER_STARTED: apply_started(s, ev); return 0;
    case EV_SESSION_CLOSED: {
        const char *full = xml_attr(ev->body, "jid");
        if (full)
            muc_session_gone(s, full, out);
        return 0;
    }
    case EV_STANZA: return apply_stanza(s, ev, out);
    case EV_MUC_SUBJECT: apply_subject(s, ev); return 0;
    case EV_MUC_MEMBER: apply_member(s, ev); return 0;
    default: return H_PASS;
    }
}

const struct handler muc_handler = {
    .name = "muc",
    .wants = EV_BIT(EV_SERVER_STARTED) | EV_BIT(EV_SESSION_CLOSED) | EV_BIT(EV_STANZA) |
             EV_BIT(EV_MUC_SUBJECT) | EV_BIT(EV_MUC_MEMBER),
    .create = muc_create,
    .destroy = muc_destroy,
    .apply = muc_apply,
    .encode = muc_encode,
    .decode = muc_decode,
    .settings = muc_settings,
};
