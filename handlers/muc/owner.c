/* owner: the muc#owner requests (XEP-0045 §10): the configuration form,
 * instant and reserved rooms, cancelling a new room, destroying a room.
 * Only owners may (forbidden otherwise).
 *
 * After a configuration change everyone in the room gets a message with
 * status 104 (172 or 173 when real JIDs become visible to all or to
 * moderators only, §10.2.1); turning a room members-only removes those
 * who are not members (322). */
#include <stdlib.h>
#include <string.h>

#include "handlers/muc/form.h"
#include "handlers/muc/muc_int.h"
#include "kernel/jid.h"
#include "kernel/mem.h"

/* The names of the settings that changed, for the audit timeline (never
 * their values: a password is one). NUL-terminated in out ("" none). */
static void config_changes(const struct room_config *a, const struct room_config *b,
                           struct buf *out)
{
    struct {
        const char *name;
        int changed;
    } v[] = {
        {"name", strcmp(a->name, b->name) != 0},
        {"description", strcmp(a->desc, b->desc) != 0},
        {"persistent", a->persistent != b->persistent},
        {"public", a->public_ != b->public_},
        {"members-only", a->members_only != b->members_only},
        {"moderated", a->moderated != b->moderated},
        {"password", a->password_protected != b->password_protected ||
                         strcmp(a->password, b->password) != 0},
        {"whois", a->whois != b->whois},
        {"allow-invites", a->allow_invites != b->allow_invites},
        {"change-subject", a->change_subject != b->change_subject},
        {"allow-pm", a->allow_pm != b->allow_pm},
        {"max-users", a->max_users != b->max_users},
        {"history", a->history_max != b->history_max},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        if (!v[i].changed)
            continue;
        if (out->len)
            buf_puts(out, " ");
        buf_puts(out, v[i].name);
    }
    buf_put_u8(out, 0);
    out->len--; /* terminated, not counted */
}

static void notify_config_change(const struct room *r, const struct room_config *old,
                                 struct effects *out)
{
    for (size_t i = 0; i < r->nocc; i++) {
        struct xnode *m = xml_new("message", NS_CLIENT);
        xml_set_attr(m, "from", r->jid);
        xml_set_attr(m, "type", "groupchat");
        struct xnode *x = xml_add(m, "x", NS_MUC_USER);
        muc_add_status(x, 104);
        if (old->whois != r->cfg.whois)
            muc_add_status(x, r->cfg.whois == WHOIS_ANYONE ? 172 : 173);
        occupant_send(r->occ[i], m, out);
    }
}

/* Occupants who are not members of a room that became members-only
 * leave it (§9.4 / §10.2); 1 when the room is gone. */
static int expel_non_members(struct muc_state *s, struct room *r, struct effects *out)
{
    for (size_t i = r->nocc; i-- > 0;) {
        struct occupant *o = r->occ[i];
        if (room_affil(r, o->bare) >= AFFIL_MEMBER)
            continue;
        if (muc_occupant_expel(s, r, o, 322, NULL, NULL, out))
            return 1;
        if (i > r->nocc)
            i = r->nocc;
    }
    return 0;
}

static int submit(struct muc_state *s, const struct xnode *st, struct room *r,
                  const struct xnode *x, const struct event *ev, struct effects *out)
{
    if (xdata_type_is(x, "cancel")) {
        fx_route(out, stanza_reply(st, "result"));
        if (r->locked) { /* §10.1.3: cancelling a new room destroys it */
            muc_audit(out, "room-destroyed", r, xml_attr(st, "from"), "configuration cancelled");
            muc_room_destroy(s, r, NULL, NULL, out);
        }
        return 0;
    }
    struct room_config next;
    const char *why = NULL;
    int rc = muc_config_submit(x, &r->cfg, &s->pol, &next, &why);
    if (rc) {
        stanza_bounce(out, ev, st, stanza_err_cond(rc), why);
        return 0;
    }
    struct room_config old = r->cfg;
    int was_members_only = old.members_only, was_locked = r->locked;
    r->cfg = next;
    r->locked = 0;
    if (!r->cfg.password_protected) {
        free(r->cfg.password);
        r->cfg.password = xstrdup("");
    }
    fx_route(out, stanza_reply(st, "result"));
    struct buf changed;
    buf_init(&changed);
    config_changes(&old, &r->cfg, &changed);
    muc_audit(out, "room-config", r, xml_attr(st, "from"),
              changed.len ? (const char *)changed.p : "no change");
    buf_free(&changed);
    if (!was_locked)
        notify_config_change(r, &old, out);
    room_config_free(&old);
    if (r->cfg.history_max < r->hn || r->cfg.history_max == 0)
        room_history_clear(r);
    if (r->cfg.members_only && !was_members_only && expel_non_members(s, r, out))
        return 0;
    if (r->nocc == 0 && !r->cfg.persistent)
        room_remove(s, r);
    return 0;
}

static int destroy(struct muc_state *s, const struct xnode *st, struct room *r,
                   const struct xnode *d, struct effects *out)
{
    const char *alt = xml_attr(d, "jid");
    struct jid j;
    if (alt && jid_parse(&j, alt))
        return stanza_err(STANZA_JID_MALFORMED);
    const struct xnode *reason = xml_child(d, "reason", NULL);
    char *why = reason ? xstrdup(xml_text(reason)) : NULL;
    muc_audit(out, "room-destroyed", r, xml_attr(st, "from"), "destroyed by its owner");
    muc_room_destroy(s, r, alt, why, out);
    free(why);
    fx_route(out, stanza_reply(st, "result"));
    return 0;
}

int muc_iq_owner(struct muc_state *s, const struct event *ev, const struct xnode *st,
                 struct room *r, struct effects *out)
{
    const char *type = xml_attr(st, "type");
    if (!type || (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
        return 0;
    char bare[JID_MAX];
    muc_bare_of(xml_attr(st, "from"), bare);
    if (room_affil(r, bare) != AFFIL_OWNER)
        return stanza_err(STANZA_FORBIDDEN);
    const struct xnode *q = xml_child(st, "query", NS_MUC_OWNER);
    if (strcmp(type, "get") == 0) {
        struct xnode *reply = stanza_reply(st, "result");
        xml_append(xml_add(reply, "query", NS_MUC_OWNER), muc_config_form(&r->cfg, &s->pol));
        fx_route(out, reply);
        return 0;
    }
    const struct xnode *x = xml_child(q, "x", NS_XDATA);
    if (x)
        return submit(s, st, r, x, ev, out);
    const struct xnode *d = xml_child(q, "destroy", NULL);
    if (d)
        return destroy(s, st, r, d, out);
    return stanza_err(STANZA_BAD_REQUEST);
}
