/* room: the room table, affiliations, occupants and the in-memory
 * history of one room (muc_int.h). No stanzas are made here. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/muc/muc_int.h"
#include "kernel/jid.h"
#include "kernel/mem.h"

static const char *const affil_names[] = {"none", "outcast", "member", "admin", "owner"};
static const char *const role_names[] = {"none", "visitor", "participant", "moderator"};

const char *affil_name(enum muc_affil a) { return affil_names[a]; }
const char *role_name(enum muc_role r) { return role_names[r]; }

static int word_index(const char *const *words, int n, const char *s)
{
    for (int i = 0; s && i < n; i++)
        if (strcmp(words[i], s) == 0)
            return i;
    return -1;
}

int affil_parse(const char *s) { return word_index(affil_names, 5, s); }
int role_parse(const char *s) { return word_index(role_names, 4, s); }

/* --- configuration ------------------------------------------------------ */

/* The defaults of an instant room (§10.1.2): public, open, temporary,
 * unmoderated, semi-anonymous, no password. */
void room_config_defaults(struct room_config *c)
{
    memset(c, 0, sizeof *c);
    c->name = xstrdup("");
    c->desc = xstrdup("");
    c->password = xstrdup("");
    c->public_ = 1;
    c->allow_invites = 0;
    c->change_subject = 0;
    c->whois = WHOIS_MODERATORS;
    c->allow_pm = PM_ANYONE;
    c->history_max = 20;
}

void room_config_free(struct room_config *c)
{
    free(c->name);
    free(c->desc);
    free(c->password);
    c->name = c->desc = c->password = NULL;
}

void room_config_copy(struct room_config *dst, const struct room_config *src)
{
    *dst = *src;
    dst->name = xstrdup(src->name);
    dst->desc = xstrdup(src->desc);
    dst->password = xstrdup(src->password);
}

/* --- the table ------------------------------------------------------------ */

struct room *room_find(const struct muc_state *s, const char *name)
{
    return map_get(&s->rooms, name);
}

struct room *room_create(struct muc_state *s, const char *name, const char *owner_bare, int locked)
{
    struct room *r = xcalloc(1, sizeof *r);
    r->name = xstrdup(name);
    size_t n = strlen(name) + strlen(s->pol.domain) + 2;
    r->jid = xmalloc(n);
    snprintf(r->jid, n, "%s@%s", name, s->pol.domain);
    room_config_defaults(&r->cfg);
    if (r->cfg.history_max > s->pol.history_max)
        r->cfg.history_max = s->pol.history_max;
    map_init_str(&r->affil);
    r->subject = xstrdup("");
    r->subject_nick = xstrdup("");
    r->locked = locked;
    if (owner_bare && *owner_bare)
        room_set_affil(r, owner_bare, AFFIL_OWNER);
    map_put(&s->rooms, name, r);
    return r;
}

static void occ_iq_clear(struct occ_iq *q)
{
    free(q->id);
    free(q->to_nick);
    free(q->real);
    q->id = q->to_nick = q->real = NULL;
}

void occupant_iq_remember(struct occupant *o, const char *id, const char *to_nick,
                          const char *real)
{
    struct occ_iq *q = &o->iq[o->iq_next];
    o->iq_next = (o->iq_next + 1) % OCC_IQS_MAX;
    occ_iq_clear(q);
    q->id = xstrdup(id);
    q->to_nick = xstrdup(to_nick);
    q->real = xstrdup(real);
}

void occupant_iq_answer_to(struct occupant *o, const char *id, const char *from_nick,
                           char out[JID_MAX])
{
    snprintf(out, JID_MAX, "%s", occupant_real(o));
    for (size_t i = 0; id && i < OCC_IQS_MAX; i++) {
        struct occ_iq *q = &o->iq[i];
        if (!q->id || strcmp(q->id, id) != 0 || strcmp(q->to_nick, from_nick) != 0)
            continue;
        if (occupant_session(o, q->real))
            snprintf(out, JID_MAX, "%s", q->real);
        occ_iq_clear(q);
        return;
    }
}

static void occupant_free(struct occupant *o)
{
    for (size_t i = 0; i < OCC_IQS_MAX; i++)
        occ_iq_clear(&o->iq[i]);
    for (size_t i = 0; i < o->ns; i++) {
        free(o->s[i].real);
        xml_free(o->s[i].presence);
    }
    free(o->s);
    free(o->nick);
    free(o->bare);
    free(o);
}

void room_free(struct room *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nocc; i++)
        occupant_free(r->occ[i]);
    free(r->occ);
    room_history_clear(r);
    free(r->hist);
    map_free(&r->affil);
    room_config_free(&r->cfg);
    free(r->subject);
    free(r->subject_nick);
    free(r->name);
    free(r->jid);
    free(r);
}

void room_remove(struct muc_state *s, struct room *r)
{
    map_del(&s->rooms, r->name);
    room_free(r);
}

/* --- affiliations ----------------------------------------------------------- */

enum muc_affil room_affil(const struct room *r, const char *bare)
{
    return (enum muc_affil)(uintptr_t)map_get(&r->affil, bare);
}

void room_set_affil(struct room *r, const char *bare, enum muc_affil a)
{
    if (a == AFFIL_NONE)
        map_del(&r->affil, bare);
    else
        map_put(&r->affil, bare, (void *)(uintptr_t)a);
}

size_t room_owner_count(const struct room *r)
{
    size_t n = 0;
    const struct map_slot *sl;
    for (size_t i = 0; map_next(&r->affil, &i, &sl);)
        n += (uintptr_t)sl->val == AFFIL_OWNER;
    return n;
}

enum muc_role room_default_role(const struct room *r, enum muc_affil a)
{
    switch (a) {
    case AFFIL_OWNER:
    case AFFIL_ADMIN: return ROLE_MODERATOR;
    case AFFIL_MEMBER: return ROLE_PARTICIPANT;
    case AFFIL_NONE: return r->cfg.moderated ? ROLE_VISITOR : ROLE_PARTICIPANT;
    case AFFIL_OUTCAST: break;
    }
    return ROLE_NONE;
}

/* --- occupants --------------------------------------------------------------- */

struct occupant *room_occupant_by_nick(const struct room *r, const char *nick)
{
    for (size_t i = 0; i < r->nocc; i++)
        if (strcmp(r->occ[i]->nick, nick) == 0)
            return r->occ[i];
    return NULL;
}

struct occ_session *occupant_session(const struct occupant *o, const char *real)
{
    for (size_t i = 0; i < o->ns; i++)
        if (strcmp(o->s[i].real, real) == 0)
            return &o->s[i];
    return NULL;
}

struct occupant *room_occupant_by_real(const struct room *r, const char *full)
{
    for (size_t i = 0; i < r->nocc; i++)
        if (occupant_session(r->occ[i], full))
            return r->occ[i];
    return NULL;
}

const char *occupant_real(const struct occupant *o) { return o->s[o->ns - 1].real; }

const struct xnode *occupant_presence(const struct occupant *o)
{
    return o->s[o->ns - 1].presence;
}

void occupant_session_put(struct occupant *o, const char *real, struct xnode *presence)
{
    struct occ_session *old = occupant_session(o, real);
    struct occ_session keep = {NULL, NULL};
    if (old) { /* move it to the end: it is the newest now */
        keep = *old;
        memmove(old, old + 1, (size_t)(&o->s[o->ns] - (old + 1)) * sizeof *old);
        o->ns--;
        xml_free(keep.presence);
    } else {
        keep.real = xstrdup(real);
    }
    keep.presence = presence ? presence : xml_new("presence", NS_CLIENT);
    if (o->ns == o->scap) {
        o->scap = o->scap ? o->scap * 2 : 1;
        o->s = xrealloc(o->s, o->scap * sizeof *o->s);
    }
    o->s[o->ns++] = keep;
}

size_t occupant_session_remove(struct occupant *o, const char *real)
{
    struct occ_session *x = occupant_session(o, real);
    if (!x)
        return o->ns;
    free(x->real);
    xml_free(x->presence);
    memmove(x, x + 1, (size_t)(&o->s[o->ns] - (x + 1)) * sizeof *x);
    return --o->ns;
}

void occupant_send(const struct occupant *o, struct xnode *st, struct effects *out)
{
    for (size_t i = 0; i < o->ns; i++) {
        struct xnode *c = i + 1 < o->ns ? xml_copy(st) : st;
        xml_set_attr(c, "to", o->s[i].real);
        fx_route(out, c);
    }
    if (o->ns == 0)
        xml_free(st);
}

struct occupant *room_occupant_add(struct room *r, const char *nick, const char *real,
                                   enum muc_role role, struct xnode *presence)
{
    struct occupant *o = xcalloc(1, sizeof *o);
    o->nick = xstrdup(nick);
    char bare[JID_MAX];
    muc_bare_of(real, bare);
    o->bare = xstrdup(bare);
    o->role = role;
    occupant_session_put(o, real, presence);
    if (r->nocc == r->occcap) {
        r->occcap = r->occcap ? r->occcap * 2 : 4;
        r->occ = xrealloc(r->occ, r->occcap * sizeof *r->occ);
    }
    r->occ[r->nocc++] = o;
    return o;
}

void room_occupant_remove(struct room *r, struct occupant *o)
{
    for (size_t i = 0; i < r->nocc; i++) {
        if (r->occ[i] != o)
            continue;
        memmove(&r->occ[i], &r->occ[i + 1], (r->nocc - i - 1) * sizeof *r->occ);
        r->nocc--;
        occupant_free(o);
        return;
    }
}

/* --- history (memory only) ----------------------------------------------------- */

void room_history_clear(struct room *r)
{
    for (size_t i = 0; i < r->hn; i++)
        xml_free(r->hist[(r->hhead + i) % r->hcap].msg);
    r->hhead = r->hn = 0;
}

void room_history_push(struct room *r, const struct xnode *msg, int64_t time_us)
{
    size_t max = r->cfg.history_max;
    if (max == 0) {
        room_history_clear(r);
        return;
    }
    if (r->hcap != max) { /* the limit changed: start over with the newest */
        room_history_clear(r);
        free(r->hist);
        r->hist = xcalloc(max, sizeof *r->hist);
        r->hcap = max;
    }
    struct history_entry *e;
    if (r->hn == max) {
        e = &r->hist[r->hhead];
        xml_free(e->msg);
        r->hhead = (r->hhead + 1) % max;
    } else {
        e = &r->hist[(r->hhead + r->hn) % max];
        r->hn++;
    }
    struct buf b;
    buf_init(&b);
    xml_serialize(msg, NS_CLIENT, &b);
    e->bytes = b.len;
    buf_free(&b);
    e->msg = xml_copy(msg);
    e->time_us = time_us;
}
