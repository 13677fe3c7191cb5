/* codec: the muc handler's snapshot. Everything but the history (memory
 * only, doc/muc.md) and the service's settings (server-started's, given
 * back by the dispatcher after decoding): every room sorted by name with its configuration, subject, affiliations sorted by JID
 * and occupants in join order. Occupants are in it so that a snapshot
 * plus the journal after it gives exactly the live state; a restart's
 * server-started clears them. */
#include <stdlib.h>
#include <string.h>

#include "handlers/muc/muc_int.h"
#include "kernel/mem.h"

#define MUC_SNAPSHOT_VERSION 1

static void put_config(const struct room_config *c, struct buf *out)
{
    buf_put_str(out, c->name);
    buf_put_str(out, c->desc);
    buf_put_str(out, c->password);
    uint8_t flags = (uint8_t)((c->persistent ? 1 : 0) | (c->public_ ? 2 : 0) |
                              (c->members_only ? 4 : 0) | (c->moderated ? 8 : 0) |
                              (c->password_protected ? 16 : 0) | (c->allow_invites ? 32 : 0) |
                              (c->change_subject ? 64 : 0));
    buf_put_u8(out, flags);
    buf_put_u8(out, (uint8_t)c->whois);
    buf_put_u8(out, (uint8_t)c->allow_pm);
    buf_put_varint(out, c->max_users);
    buf_put_varint(out, c->history_max);
}

static void put_room(const struct room *r, struct buf *out)
{
    buf_put_str(out, r->name);
    buf_put_str(out, r->jid);
    put_config(&r->cfg, out);
    buf_put_u8(out, (uint8_t)r->locked);
    buf_put_str(out, r->subject);
    buf_put_str(out, r->subject_nick);
    size_t n;
    const char **keys = map_sorted_keys(&r->affil, &n);
    buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++) {
        buf_put_str(out, keys[i]);
        buf_put_u8(out, (uint8_t)room_affil(r, keys[i]));
    }
    free(keys);
    buf_put_varint(out, r->nocc);
    for (size_t i = 0; i < r->nocc; i++) {
        const struct occupant *o = r->occ[i];
        buf_put_str(out, o->nick);
        buf_put_u8(out, (uint8_t)o->role);
        buf_put_varint(out, o->ns);
        for (size_t k = 0; k < o->ns; k++) { /* oldest first, as joined */
            buf_put_str(out, o->s[k].real);
            xml_encode_bin(o->s[k].presence, out);
        }
    }
}

void muc_encode(const void *state, struct buf *out)
{
    const struct muc_state *s = state;
    buf_put_u8(out, MUC_SNAPSHOT_VERSION);
    size_t n;
    const char **names = map_sorted_keys(&s->rooms, &n);
    buf_put_varint(out, n);
    for (size_t i = 0; i < n; i++)
        put_room(map_get(&s->rooms, names[i]), out);
    free(names);
}

/* --- decoding -------------------------------------------------------------- */

static char *get_str(struct rd *in)
{
    char *s = rd_strdup(in);
    return s ? s : xstrdup("");
}

static int get_config(struct rd *in, struct room_config *c)
{
    c->name = get_str(in);
    c->desc = get_str(in);
    c->password = get_str(in);
    uint8_t f = rd_u8(in);
    c->persistent = !!(f & 1);
    c->public_ = !!(f & 2);
    c->members_only = !!(f & 4);
    c->moderated = !!(f & 8);
    c->password_protected = !!(f & 16);
    c->allow_invites = !!(f & 32);
    c->change_subject = !!(f & 64);
    uint8_t whois = rd_u8(in), pm = rd_u8(in);
    if (whois > WHOIS_ANYONE || pm > PM_NONE || (f & 128))
        return -ERR_CORRUPT;
    c->whois = (enum muc_whois)whois;
    c->allow_pm = (enum muc_pm)pm;
    c->max_users = (uint32_t)rd_varint(in);
    c->history_max = (uint32_t)rd_varint(in);
    return in->err;
}

static int get_room(struct muc_state *s, struct rd *in)
{
    struct room *r = xcalloc(1, sizeof *r);
    map_init_str(&r->affil);
    r->name = get_str(in);
    r->jid = get_str(in);
    int rc = get_config(in, &r->cfg);
    r->locked = rd_u8(in) != 0;
    r->subject = get_str(in);
    r->subject_nick = get_str(in);
    uint64_t na = rd_varint(in);
    for (uint64_t i = 0; !rc && !in->err && i < na; i++) {
        char *jid = get_str(in);
        uint8_t a = rd_u8(in);
        if (a == AFFIL_NONE || a > AFFIL_OWNER)
            rc = -ERR_CORRUPT;
        else
            room_set_affil(r, jid, (enum muc_affil)a);
        free(jid);
    }
    uint64_t no = rd_varint(in);
    for (uint64_t i = 0; !rc && !in->err && i < no; i++) {
        char *nick = get_str(in);
        uint8_t role = rd_u8(in);
        uint64_t ns = rd_varint(in);
        struct occupant *o = NULL;
        if (role > ROLE_MODERATOR || ns == 0 || ns > 1024)
            rc = -ERR_CORRUPT;
        for (uint64_t k = 0; !rc && !in->err && k < ns; k++) {
            char *real = get_str(in);
            struct xnode *p = xml_decode_bin(in);
            if (!p || (o && occupant_session(o, real))) {
                xml_free(p);
                rc = -ERR_CORRUPT;
            } else if (!o) {
                o = room_occupant_add(r, nick, real, (enum muc_role)role, p);
            } else {
                occupant_session_put(o, real, p);
            }
            if (!rc)
                muc_joined_add(s, real, r->name);
            free(real);
        }
        free(nick);
    }
    if (rc || in->err || !*r->name || room_find(s, r->name)) {
        room_free(r);
        return rc ? rc : -ERR_CORRUPT;
    }
    map_put(&s->rooms, r->name, r);
    return 0;
}

int muc_decode(void *state, struct rd *in)
{
    struct muc_state *s = state;
    if (rd_u8(in) != MUC_SNAPSHOT_VERSION)
        return in->err ? in->err : -ERR_VERSION;
    uint64_t n = rd_varint(in);
    for (uint64_t i = 0; !in->err && i < n; i++) {
        int rc = get_room(s, in);
        if (rc)
            return rc;
    }
    return in->err ? in->err : 0;
}
