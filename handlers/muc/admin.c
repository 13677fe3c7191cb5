/* admin: the muc#admin requests (XEP-0045 §8 moderator, §9 admin, §10
 * owner use cases that edit lists). Who may do what is perm.c's table.
 *
 * A set may carry several items; all are checked before any is applied,
 * so a request either happens whole or not at all. Role items name an
 * occupant by nick (kick: role none; voice: participant; moderator);
 * affiliation items name a user by JID (or by the nick of an occupant).
 * The last owner cannot give up ownership (conflict, §10.9). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/muc/muc_int.h"
#include "handlers/muc/perm.h"
#include "kernel/jid.h"
#include "kernel/mem.h"

struct change {
    const struct xnode *item;
    int is_role;
    struct occupant *target;  /* role changes */
    char jid[JID_MAX];        /* affiliation changes: bare JID */
    int value;                /* enum muc_role or enum muc_affil */
};

#define ADMIN_ITEMS_MAX 64

static const char *item_reason(const struct xnode *item)
{
    const struct xnode *r = xml_child(item, "reason", NULL);
    return r ? xml_text(r) : NULL;
}

/* --- get: the lists ------------------------------------------------------- */

static int get_affil_list(const struct room *r, enum muc_affil actor, enum muc_affil list,
                          struct xnode *q)
{
    int rc = muc_may_read_affil_list(actor, list, r->cfg.whois == WHOIS_ANYONE);
    if (rc)
        return rc;
    size_t n;
    const char **keys = map_sorted_keys(&r->affil, &n);
    for (size_t i = 0; i < n; i++) {
        if (room_affil(r, keys[i]) != list)
            continue;
        struct xnode *it = xml_add(q, "item", NULL);
        xml_set_attr(it, "affiliation", affil_name(list));
        xml_set_attr(it, "jid", keys[i]);
    }
    free(keys);
    return 0;
}

static int get_role_list(const struct room *r, enum muc_affil actor, enum muc_role actor_role,
                         enum muc_role list, struct xnode *q)
{
    int rc = muc_may_read_role_list(actor, actor_role, list);
    if (rc)
        return rc;
    for (size_t i = 0; i < r->nocc; i++) {
        const struct occupant *o = r->occ[i];
        if (o->role != list)
            continue;
        struct xnode *it = xml_add(q, "item", NULL);
        xml_set_attr(it, "affiliation", affil_name(room_affil(r, o->bare)));
        xml_set_attr(it, "jid", occupant_real(o));
        xml_set_attr(it, "nick", o->nick);
        xml_set_attr(it, "role", role_name(list));
    }
    return 0;
}

static int admin_get(const struct xnode *st, const struct room *r, enum muc_affil actor,
                     enum muc_role actor_role, struct effects *out, const struct event *ev)
{
    const struct xnode *q = xml_child(st, "query", NS_MUC_ADMIN);
    const struct xnode *item = xml_child(q, "item", NULL);
    if (!item)
        return stanza_err(STANZA_BAD_REQUEST);
    struct xnode *reply = stanza_reply(st, "result");
    struct xnode *rq = xml_add(reply, "query", NS_MUC_ADMIN);
    int rc;
    const char *a = xml_attr(item, "affiliation"), *ro = xml_attr(item, "role");
    if (a && affil_parse(a) >= 0)
        rc = get_affil_list(r, actor, (enum muc_affil)affil_parse(a), rq);
    else if (ro && role_parse(ro) >= 0)
        rc = get_role_list(r, actor, actor_role, (enum muc_role)role_parse(ro), rq);
    else
        rc = stanza_err(STANZA_BAD_REQUEST);
    if (rc) {
        xml_free(reply);
        return rc;
    }
    (void)ev;
    fx_route(out, reply);
    return 0;
}

/* --- set: checking ----------------------------------------------------------- */

static int check_role_item(const struct room *r, enum muc_affil actor, enum muc_role actor_role,
                           struct change *c)
{
    const char *nick = xml_attr(c->item, "nick");
    int role = role_parse(xml_attr(c->item, "role"));
    if (!nick || role < 0)
        return stanza_err(STANZA_BAD_REQUEST);
    c->is_role = 1;
    c->value = role;
    c->target = room_occupant_by_nick(r, nick);
    if (!c->target) /* perm says forbidden first: a nick is not revealed to anyone */
        return muc_may_set_role(actor, actor_role, AFFIL_NONE, ROLE_NONE, (enum muc_role)role);
    return muc_may_set_role(actor, actor_role, room_affil(r, c->target->bare), c->target->role,
                            (enum muc_role)role);
}

static int check_affil_item(const struct room *r, enum muc_affil actor, const char *actor_bare,
                            struct change *c)
{
    int affil = affil_parse(xml_attr(c->item, "affiliation"));
    const char *jid = xml_attr(c->item, "jid"), *nick = xml_attr(c->item, "nick");
    if (affil < 0)
        return stanza_err(STANZA_BAD_REQUEST);
    c->value = affil;
    if (jid) {
        struct jid j;
        if (jid_parse(&j, jid))
            return stanza_err(STANZA_JID_MALFORMED);
        jid_bare(&j, c->jid);
    } else if (nick) {
        const struct occupant *o = room_occupant_by_nick(r, nick);
        if (!o)
            return stanza_err(STANZA_ITEM_NOT_FOUND);
        snprintf(c->jid, sizeof c->jid, "%s", o->bare);
    } else {
        return stanza_err(STANZA_BAD_REQUEST);
    }
    if (affil == AFFIL_OUTCAST && strcmp(c->jid, actor_bare) == 0)
        return stanza_err(STANZA_CONFLICT); /* §9.1: nobody bans themselves */
    return muc_may_set_affil(actor, room_affil(r, c->jid), (enum muc_affil)affil);
}

/* Would the room be left without an owner after these changes? */
static int leaves_no_owner(const struct room *r, const struct change *v, size_t n)
{
    size_t owners = room_owner_count(r);
    for (size_t i = 0; i < n; i++) {
        if (v[i].is_role)
            continue;
        int was = room_affil(r, v[i].jid) == AFFIL_OWNER, will = v[i].value == AFFIL_OWNER;
        owners += (size_t)(will && !was);
        owners -= (size_t)(was && !will);
    }
    return owners == 0;
}

/* --- set: applying ------------------------------------------------------------ */

/* An affiliation changed: every occupant of that user gets its new
 * standing; returns 1 when the room is gone. */
static int apply_affil(struct muc_state *s, struct room *r, const char *bare,
                       enum muc_affil a, const char *actor, const char *actor_nick,
                       const char *reason, struct effects *out)
{
    struct buf detail;
    buf_init(&detail);
    buf_printf(&detail, "%s -> %s of %s", affil_name(room_affil(r, bare)), affil_name(a), bare);
    buf_put_u8(&detail, 0);
    muc_audit(out, "affiliation", r, actor, (const char *)detail.p);
    buf_free(&detail);
    room_set_affil(r, bare, a);
    for (size_t i = r->nocc; i-- > 0;) {
        struct occupant *o = r->occ[i];
        if (strcmp(o->bare, bare) != 0)
            continue;
        int code = a == AFFIL_OUTCAST ? 301 : (r->cfg.members_only && a < AFFIL_MEMBER) ? 321 : 0;
        if (code) {
            if (muc_occupant_expel(s, r, o, code, actor_nick, reason, out))
                return 1;
            continue;
        }
        o->role = room_default_role(r, a);
        muc_broadcast_presence(s, r, o, NULL, 0, actor_nick, reason, out);
    }
    return 0;
}

static int apply_changes(struct muc_state *s, struct room *r, struct change *v, size_t n,
                         const char *actor, const char *actor_nick, struct effects *out)
{
    for (size_t i = 0; i < n; i++) {
        const char *reason = item_reason(v[i].item);
        if (!v[i].is_role) {
            if (apply_affil(s, r, v[i].jid, (enum muc_affil)v[i].value, actor, actor_nick,
                            reason, out))
                return 1;
            continue;
        }
        struct occupant *o = v[i].target;
        if (v[i].value == ROLE_NONE) {
            /* later items may name the same occupant: they find it gone */
            for (size_t k = i + 1; k < n; k++)
                if (v[k].target == o)
                    v[k].target = NULL;
            if (muc_occupant_expel(s, r, o, 307, actor_nick, reason, out))
                return 1;
        } else if (o) {
            o->role = (enum muc_role)v[i].value;
            muc_broadcast_presence(s, r, o, NULL, 0, actor_nick, reason, out);
        }
    }
    return 0;
}

/* Moves the last effect to index `at` (the list keeps its order otherwise). */
static void move_last_to(struct effects *out, size_t at)
{
    if (at + 1 >= out->n)
        return;
    struct effect last = out->v[out->n - 1];
    memmove(&out->v[at + 1], &out->v[at], (out->n - 1 - at) * sizeof *out->v);
    out->v[at] = last;
}

static int admin_set(struct muc_state *s, const struct xnode *st, struct room *r,
                     enum muc_affil actor, const struct occupant *me, struct effects *out)
{
    const struct xnode *q = xml_child(st, "query", NS_MUC_ADMIN);
    struct change v[ADMIN_ITEMS_MAX];
    size_t n = 0;
    enum muc_role actor_role = me ? me->role : ROLE_NONE;
    for (const struct xnode *it = xml_first_elem(q); it; it = xml_next_elem(it)) {
        if (strcmp(it->name, "item") != 0)
            continue;
        if (n == ADMIN_ITEMS_MAX)
            return stanza_err(STANZA_POLICY_VIOLATION);
        memset(&v[n], 0, sizeof v[n]);
        v[n].item = it;
        const char *role = xml_attr(it, "role"), *affil = xml_attr(it, "affiliation");
        if (role && affil) /* §17.4: one change per item */
            return stanza_err(STANZA_BAD_REQUEST);
        char actor_bare[JID_MAX];
        muc_bare_of(xml_attr(st, "from"), actor_bare);
        int rc = role ? check_role_item(r, actor, actor_role, &v[n])
                      : check_affil_item(r, actor, actor_bare, &v[n]);
        if (rc)
            return rc;
        n++;
    }
    if (n == 0)
        return stanza_err(STANZA_BAD_REQUEST);
    if (leaves_no_owner(r, v, n))
        return stanza_err(STANZA_CONFLICT);
    char *actor_nick = me ? xstrdup(me->nick) : NULL; /* me may leave below */
    size_t mark = out->n;
    int expels = 0;
    for (size_t i = 0; i < n; i++)
        expels |= v[i].is_role ? v[i].value == ROLE_NONE : v[i].value == AFFIL_OUTCAST;
    apply_changes(s, r, v, n, xml_attr(st, "from"), actor_nick, out);
    free(actor_nick);
    /* §8.2, §9.1: the one removed hears first, then the requester, then
     * the others (expel tells the removed one first). */
    fx_route(out, stanza_reply(st, "result"));
    while (mark < out->n - 1 && out->v[mark].kind != FX_ROUTE)
        mark++; /* audit notes are not stanzas */
    move_last_to(out, expels && mark < out->n - 1 ? mark + 1 : mark);
    return 0;
}

int muc_iq_admin(struct muc_state *s, const struct event *ev, const struct xnode *st,
                 struct room *r, struct effects *out)
{
    const char *type = xml_attr(st, "type");
    const char *from = xml_attr(st, "from");
    char bare[JID_MAX];
    muc_bare_of(from, bare);
    enum muc_affil actor = room_affil(r, bare);
    const struct occupant *me = room_occupant_by_real(r, from);
    if (type && strcmp(type, "get") == 0)
        return admin_get(st, r, actor, me ? me->role : ROLE_NONE, out, ev);
    if (type && strcmp(type, "set") == 0)
        return admin_set(s, st, r, actor, me, out);
    return 0; /* results and errors need no answer */
}
