/* presence: occupants come, change and go (XEP-0045 §7.1-7.6, §7.14).
 *
 * Entering (§7.2): the newcomer gets every occupant's presence, then its
 * own (110; 201 for a new room; 100 in a non-anonymous room), which the
 * others get too; then the history (in memory only) and the subject.
 * Checks, in this order: room locked (item-not-found), banned
 * (forbidden), members-only (registration-required), the service's
 * foreign-user policy (registration-required), password (not-authorized),
 * nickname taken (conflict), room full (service-unavailable; owners and
 * admins still enter). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/muc/muc_int.h"
#include "kernel/jid.h"
#include "kernel/mem.h"

/* --- what occupants see -------------------------------------------------- */

/* Whether viewer may see the real JIDs of others (muc#roomconfig_whois). */
static int sees_real_jids(const struct room *r, const struct occupant *viewer)
{
    return r->cfg.whois == WHOIS_ANYONE || viewer->role == ROLE_MODERATOR;
}

/* The presence (copy of the occupant's own, or unavailable) of o as
 * `viewer` gets it, with the muc#user payload; no 'to' (occupant_send
 * sets one per session). */
static struct xnode *presence_for(const struct room *r, const struct occupant *o,
                                  const struct occupant *viewer, const char *type,
                                  const char *new_nick, const char *actor_nick,
                                  const char *reason, const int *codes, size_t ncodes)
{
    struct xnode *p = type ? xml_new("presence", NS_CLIENT) : xml_copy(occupant_presence(o));
    if (type)
        xml_set_attr(p, "type", type);
    char from[JID_MAX];
    muc_occupant_jid(r, o->nick, from);
    xml_set_attr(p, "from", from);
    struct xnode *x = xml_add(p, "x", NS_MUC_USER);
    struct xnode *item = xml_add(x, "item", NULL);
    xml_set_attr(item, "affiliation", affil_name(room_affil(r, o->bare)));
    xml_set_attr(item, "role", role_name(type ? ROLE_NONE : o->role));
    if (sees_real_jids(r, viewer) || viewer == o)
        xml_set_attr(item, "jid", occupant_real(o));
    if (new_nick)
        xml_set_attr(item, "nick", new_nick);
    if (actor_nick && *actor_nick)
        xml_set_attr(xml_add(item, "actor", NULL), "nick", actor_nick);
    if (reason && *reason)
        xml_add_text(xml_add(item, "reason", NULL), reason);
    for (size_t i = 0; i < ncodes; i++)
        muc_add_status(x, codes[i]);
    if (viewer == o)
        muc_add_status(x, 110);
    return p;
}

/* o's presence to every occupant; with self_first, to o before the rest
 * (one who is removed hears it first, §8.2). */
static void send_all_ordered(const struct room *r, const struct occupant *o, const char *type,
                             const char *new_nick, const char *actor_nick, const char *reason,
                             const int *codes, size_t ncodes, const int *self_codes,
                             size_t nself, int self_first, struct effects *out)
{
    for (size_t i = 0; i < r->nocc + (self_first ? 1 : 0); i++) {
        const struct occupant *v;
        if (self_first)
            v = i == 0 ? o : r->occ[i - 1];
        else
            v = r->occ[i];
        if (self_first && i > 0 && v == o)
            continue;
        int all[8];
        size_t n = 0;
        for (size_t k = 0; k < ncodes && n < 8; k++)
            all[n++] = codes[k];
        for (size_t k = 0; v == o && k < nself && n < 8; k++)
            all[n++] = self_codes[k];
        occupant_send(v, presence_for(r, o, v, type, new_nick, actor_nick, reason, all, n), out);
    }
}

static void send_all(const struct room *r, const struct occupant *o, const char *type,
                     const char *new_nick, const char *actor_nick, const char *reason,
                     const int *codes, size_t ncodes, const int *self_codes, size_t nself,
                     struct effects *out)
{
    send_all_ordered(r, o, type, new_nick, actor_nick, reason, codes, ncodes, self_codes, nself,
                     0, out);
}

void muc_broadcast_presence(const struct muc_state *s, struct room *r, const struct occupant *o,
                            const int *codes, size_t ncodes, const char *actor_nick,
                            const char *reason, struct effects *out)
{
    (void)s;
    send_all(r, o, NULL, NULL, actor_nick, reason, codes, ncodes, NULL, 0, out);
}

/* The occupant's presence as kept: the client's own children without the
 * MUC payloads (a password must not be repeated to others). */
static struct xnode *kept_presence(const struct xnode *st)
{
    struct xnode *p = xml_new("presence", NS_CLIENT);
    for (const struct xnode *c = xml_first_elem(st); c; c = xml_next_elem(c)) {
        if (c->ns && (strcmp(c->ns, NS_MUC) == 0 || strcmp(c->ns, NS_MUC_USER) == 0))
            continue;
        xml_append(p, xml_copy(c));
    }
    return p;
}

/* --- leaving -------------------------------------------------------------- */

static void forget(struct muc_state *s, struct room *r, struct occupant *o)
{
    for (size_t i = 0; i < o->ns; i++)
        muc_joined_del(s, o->s[i].real, r->name);
    room_occupant_remove(r, o);
}

/* After someone left: a room that is not persistent ends with its last
 * occupant, and so does a new room nobody configured (§10.1). */
static int drop_if_empty(struct muc_state *s, struct room *r)
{
    if (r->nocc > 0 || (r->cfg.persistent && !r->locked))
        return 0;
    room_remove(s, r);
    return 1;
}

int muc_occupant_expel(struct muc_state *s, struct room *r, struct occupant *o, int code,
                       const char *actor_nick, const char *reason, struct effects *out)
{
    int codes[1] = {code};
    send_all_ordered(r, o, "unavailable", NULL, actor_nick, reason, codes, code ? 1 : 0, NULL, 0,
                     1, out);
    forget(s, r, o);
    return drop_if_empty(s, r);
}

static struct xnode *unavailable_for(const struct room *r, const struct occupant *o,
                                     const struct occupant *v, const struct xnode *st)
{
    struct xnode *p = presence_for(r, o, v, "unavailable", NULL, NULL, NULL, NULL, 0);
    const struct xnode *status = st ? xml_child(st, "status", NULL) : NULL;
    if (status)
        xml_append(p, xml_copy(status));
    return p;
}

/* One client of a multi-session occupant leaves: it alone hears its
 * unavailable presence; the others see the occupant's presence, now the
 * newest remaining session's. */
static void leave_session(struct muc_state *s, struct room *r, struct occupant *o,
                          const char *real, const struct xnode *st, int tell_self,
                          struct effects *out)
{
    if (tell_self) {
        struct xnode *p = unavailable_for(r, o, o, st);
        struct xnode *item = xml_child(xml_child(p, "x", NS_MUC_USER), "item", NULL);
        if (item)
            xml_set_attr(item, "jid", real);
        xml_set_attr(p, "to", real);
        fx_route(out, p);
    }
    occupant_session_remove(o, real);
    muc_joined_del(s, real, r->name);
    send_all(r, o, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, out);
}

/* §7.14: unavailable presence to everyone, the status text kept. */
static void leave(struct muc_state *s, struct room *r, struct occupant *o, const char *real,
                  const struct xnode *st, int tell_self, struct effects *out)
{
    if (o->ns > 1) {
        leave_session(s, r, o, real, st, tell_self, out);
        return;
    }
    for (size_t i = 0; i < r->nocc; i++) {
        const struct occupant *v = r->occ[i];
        if (v == o && !tell_self)
            continue;
        occupant_send(v, unavailable_for(r, o, v, st), out);
    }
    forget(s, r, o);
    drop_if_empty(s, r);
}

void muc_session_gone(struct muc_state *s, const char *full, struct effects *out)
{
    struct joined *j = map_get(&s->joined, full);
    while (j && j->n > 0) {
        size_t before = j->n;
        struct room *r = room_find(s, j->rooms[0]);
        struct occupant *o = r ? room_occupant_by_real(r, full) : NULL;
        if (!o) { /* cannot happen while the index is in step; never loop */
            muc_joined_del(s, full, j->rooms[0]);
        } else {
            leave(s, r, o, full, NULL, 0, out);
        }
        if (before == 1)
            break; /* the index entry is gone with its last room */
        j = map_get(&s->joined, full);
    }
}

void muc_room_destroy(struct muc_state *s, struct room *r, const char *alt_jid,
                      const char *reason, struct effects *out)
{
    for (size_t i = 0; i < r->nocc; i++) {
        const struct occupant *o = r->occ[i];
        struct xnode *p = xml_new("presence", NS_CLIENT);
        char from[JID_MAX];
        muc_occupant_jid(r, o->nick, from);
        xml_set_attr(p, "from", from);
        xml_set_attr(p, "type", "unavailable");
        struct xnode *x = xml_add(p, "x", NS_MUC_USER);
        struct xnode *item = xml_add(x, "item", NULL);
        xml_set_attr(item, "affiliation", "none");
        xml_set_attr(item, "role", "none");
        struct xnode *d = xml_add(x, "destroy", NULL);
        if (alt_jid && *alt_jid)
            xml_set_attr(d, "jid", alt_jid);
        if (reason && *reason)
            xml_add_text(xml_add(d, "reason", NULL), reason);
        muc_add_status(x, 110);
        occupant_send(o, p, out);
    }
    while (r->nocc > 0)
        forget(s, r, r->occ[r->nocc - 1]);
    room_remove(s, r);
}

/* --- entering --------------------------------------------------------------- */

static long attr_long(const struct xnode *n, const char *name, long dflt)
{
    const char *v = n ? xml_attr(n, name) : NULL;
    if (!v || !*v)
        return dflt;
    char *end;
    long x = strtol(v, &end, 10);
    return (*end || x < 0) ? dflt : x;
}

/* The XEP-0082 stamp in 'since', as µs; -1 when absent or malformed. */
static int64_t parse_since(const char *v)
{
    /* "YYYY-MM-DDThh:mm:ss", then fractions and zone we ignore (UTC) */
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    int f[6] = {0}, k = 0;
    if (!v || strlen(v) < sizeof shape - 1)
        return -1;
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] != 'd') {
            if (v[i] != shape[i])
                return -1;
            k++;
            continue;
        }
        if (v[i] < '0' || v[i] > '9')
            return -1;
        f[k] = f[k] * 10 + (v[i] - '0');
    }
    int y = f[0], mo = f[1], d = f[2], h = f[3], mi = f[4], sec = f[5];
    /* days from civil (Howard Hinnant's algorithm), UTC */
    y -= mo <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    long days = era * 146097 + doe - 719468;
    return ((int64_t)days * 86400 + h * 3600 + mi * 60 + sec) * 1000000;
}

/* §7.2.15: the history the newcomer asked for (<history/>), oldest first,
 * each with a delay stamp from the room. */
static void send_history(const struct room *r, const char *real, const struct xnode *st,
                         int64_t now_us, struct effects *out)
{
    const struct xnode *x = xml_child(st, "x", NS_MUC);
    const struct xnode *h = x ? xml_child(x, "history", NULL) : NULL;
    long maxstanzas = attr_long(h, "maxstanzas", (long)r->hn);
    long maxchars = attr_long(h, "maxchars", -1);
    long seconds = attr_long(h, "seconds", -1);
    int64_t since = parse_since(h ? xml_attr(h, "since") : NULL);
    /* From the newest back: how many of the newest entries fit. */
    size_t take = 0, chars = 0;
    for (size_t k = r->hn; k-- > 0 && (long)take < maxstanzas;) {
        const struct history_entry *e = &r->hist[(r->hhead + k) % r->hcap];
        if (seconds >= 0 && e->time_us < now_us - (int64_t)seconds * 1000000)
            break;
        if (since >= 0 && e->time_us < since)
            break;
        if (maxchars >= 0 && chars + e->bytes > (size_t)maxchars)
            break;
        chars += e->bytes;
        take++;
    }
    for (size_t k = r->hn - take; k < r->hn; k++) {
        const struct history_entry *e = &r->hist[(r->hhead + k) % r->hcap];
        struct xnode *m = xml_copy(e->msg);
        xml_set_attr(m, "to", real);
        struct xnode *delay = xml_add(m, "delay", NS_DELAY);
        char stamp[64];
        xmpp_stamp(e->time_us, stamp, sizeof stamp);
        xml_set_attr(delay, "from", r->jid);
        xml_set_attr(delay, "stamp", stamp);
        fx_route(out, m);
    }
}

/* 1 when the nickname the client asked for (the resource of its 'to')
 * is not byte for byte the one it got: resourceprep changed it, and
 * §7.2.10 wants status 210 so the client learns its real nickname. */
static int nick_prepared(const struct xnode *st, const char *nick)
{
    const char *to = xml_attr(st, "to");
    const char *slash = to ? strchr(to, '/') : NULL;
    return slash && strcmp(slash + 1, nick) != 0;
}

/* What a client entering gets (§7.2.3-7.2.16), with `o` its occupant,
 * new or one it shares with its user's other clients: every other
 * occupant's presence (to this client only), the occupant's presence (to
 * everyone), the history and the subject (to this client only). */
static void enter(struct muc_state *s, struct room *r, struct occupant *o, const char *real,
                  const struct xnode *st, int new_room, int64_t now_us, struct effects *out)
{
    for (size_t i = 0; i < r->nocc; i++) {
        if (r->occ[i] == o)
            continue;
        struct xnode *p = presence_for(r, r->occ[i], o, NULL, NULL, NULL, NULL, NULL, 0);
        xml_set_attr(p, "to", real);
        fx_route(out, p);
    }
    muc_joined_add(s, real, r->name);
    int self[3];
    size_t nself = 0;
    if (r->cfg.whois == WHOIS_ANYONE)
        self[nself++] = 100;
    if (new_room)
        self[nself++] = 201;
    if (nick_prepared(st, o->nick))
        self[nself++] = 210;
    send_all(r, o, NULL, NULL, NULL, NULL, NULL, 0, self, nself, out);
    send_history(r, real, st, now_us, out);
    fx_route(out, muc_subject_message(r, real));
}

static void join(struct muc_state *s, struct room *r, const char *nick, const char *real,
                 enum muc_role role, const struct xnode *st, int new_room, int64_t now_us,
                 struct effects *out)
{
    struct occupant *o = room_occupant_add(r, nick, real, role, kept_presence(st));
    enter(s, r, o, real, st, new_room, now_us, out);
}

static const char *join_password(const struct xnode *st)
{
    const struct xnode *x = xml_child(st, "x", NS_MUC);
    const struct xnode *pw = x ? xml_child(x, "password", NULL) : NULL;
    return pw ? xml_text(pw) : NULL;
}

static uint32_t room_limit(const struct muc_state *s, const struct room *r)
{
    uint32_t lim = s->pol.max_users;
    return r->cfg.max_users && r->cfg.max_users < lim ? r->cfg.max_users : lim;
}

/* The checks of §7.2 for a client not yet in the room; `mine`: the
 * occupant with that nick when it is the same user's (a multi-session
 * nick: no conflict, no room taken). 1 to enter, 0 when refused here, or
 * the error. */
static int may_enter(const struct muc_state *s, const struct event *ev, const struct xnode *st,
                     const struct room *r, const char *nick, const char *real,
                     enum muc_affil a, const struct occupant *mine, struct effects *out)
{
    if (r->locked)
        return stanza_err(STANZA_ITEM_NOT_FOUND);
    if (a == AFFIL_OUTCAST)
        return stanza_err(STANZA_FORBIDDEN);
    if (r->cfg.members_only && a < AFFIL_MEMBER)
        return stanza_err(STANZA_REGISTRATION_REQUIRED);
    if (s->pol.foreign_need_invite && a == AFFIL_NONE && !muc_is_local(s, real)) {
        stanza_bounce(out, ev, st, STANZA_REGISTRATION_REQUIRED,
                      "Users of other servers must be invited to enter this room.");
        return 0;
    }
    if (r->cfg.password_protected && a != AFFIL_OWNER) {
        const char *pw = join_password(st);
        if (!pw || strcmp(pw, r->cfg.password) != 0)
            return stanza_err(STANZA_NOT_AUTHORIZED);
    }
    if (mine)
        return 1;
    if (room_occupant_by_nick(r, nick))
        return stanza_err(STANZA_CONFLICT);
    if (r->nocc >= room_limit(s, r) && a < AFFIL_ADMIN)
        return stanza_err(STANZA_SERVICE_UNAVAILABLE);
    return 1;
}

static int create_room(struct muc_state *s, const struct event *ev, const struct xnode *st,
                       const char *room_name, const char *nick, const char *real,
                       struct effects *out)
{
    if (s->pol.local_create_only && !muc_is_local(s, real)) {
        stanza_bounce(out, ev, st, STANZA_NOT_ALLOWED,
                      "Only users of this server may create rooms.");
        return 0;
    }
    if (s->rooms.len >= s->pol.rooms_max)
        return stanza_err(STANZA_RESOURCE_CONSTRAINT);
    char bare[JID_MAX];
    muc_bare_of(real, bare);
    /* §10.1.1: a client that speaks the MUC protocol gets a locked room
     * to configure; an old groupchat 1.0 client an instant one. */
    int locked = xml_child(st, "x", NS_MUC) != NULL;
    struct room *r = room_create(s, room_name, bare, locked);
    muc_audit(out, "room-created", r, real, locked ? "locked until configured" : "instant");
    join(s, r, nick, real, ROLE_MODERATOR, st, 1, ev->time_us, out);
    return 0;
}

/* §7.6: unavailable from the old nickname with 303 and the new one, then
 * the presence from the new nickname. A multi-session occupant changes
 * its nickname for all its clients at once. */
static void change_nick(struct room *r, struct occupant *o, const char *real, const char *nick,
                        const struct xnode *st, struct effects *out)
{
    int code = 303;
    send_all(r, o, "unavailable", nick, NULL, NULL, &code, 1, NULL, 0, out);
    free(o->nick);
    o->nick = xstrdup(nick);
    occupant_session_put(o, real, kept_presence(st));
    send_all(r, o, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, out);
}

static int is_type(const struct xnode *st, const char *t)
{
    const char *type = xml_attr(st, "type");
    return type && strcmp(type, t) == 0;
}

int muc_presence(struct muc_state *s, const struct event *ev, const struct xnode *st,
                 struct room *r, const char *room_name, const char *nick, struct effects *out)
{
    const char *real = xml_attr(st, "from");
    struct occupant *o = r ? room_occupant_by_real(r, real) : NULL;
    if (is_type(st, "unavailable")) {
        if (o)
            leave(s, r, o, real, st, 1, out);
        return 0;
    }
    if (is_type(st, "error")) { /* the client is gone (§7.2.? errors): 333 */
        if (o && o->ns > 1)
            leave(s, r, o, real, NULL, 0, out);
        else if (o)
            muc_occupant_expel(s, r, o, 333, NULL, NULL, out);
        return 0;
    }
    if (xml_attr(st, "type"))
        return 0; /* subscriptions and probes mean nothing to a room */
    if (!r)
        return create_room(s, ev, st, room_name, nick, real, out);
    if (o) {
        if (strcmp(o->nick, nick) == 0) { /* a new status: everyone hears it */
            occupant_session_put(o, real, kept_presence(st));
            send_all(r, o, NULL, NULL, NULL, NULL, NULL, 0, NULL, 0, out);
            return 0;
        }
        if (room_occupant_by_nick(r, nick))
            return stanza_err(STANZA_CONFLICT);
        change_nick(r, o, real, nick, st, out);
        return 0;
    }
    char bare[JID_MAX];
    muc_bare_of(real, bare);
    enum muc_affil a = room_affil(r, bare);
    struct occupant *same = room_occupant_by_nick(r, nick);
    struct occupant *mine = same && strcmp(same->bare, bare) == 0 ? same : NULL;
    int rc = may_enter(s, ev, st, r, nick, real, a, mine, out);
    if (rc <= 0)
        return rc;
    if (mine) { /* another client of the same user: one occupant */
        occupant_session_put(mine, real, kept_presence(st));
        enter(s, r, mine, real, st, 0, ev->time_us, out);
        return 0;
    }
    join(s, r, nick, real, room_default_role(r, a), st, 0, ev->time_us, out);
    return 0;
}
