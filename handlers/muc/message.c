/* message: what is said in a room (XEP-0045 §7.4-7.5, §7.8, §8.1).
 *
 *   - groupchat to the room from an occupant with voice: to everyone
 *     from room/nick, kept in the in-memory history; a non-occupant gets
 *     not-acceptable, a visitor in a moderated room forbidden.
 *   - <subject/> without <body/>: a subject change, if the sender may
 *     (moderators; everyone when the room allows it).
 *   - a body of "/help" or "/help <command>": answered to the sender
 *     alone by the room, never to the others, never in history.
 *   - <x muc#user><invite/></x>: a mediated invitation (§7.8.2); in a
 *     members-only room it makes the invitee a member when the inviter
 *     may (admins and owners; occupants when the room allows invites),
 *     and so does the invitation of a user of another server when the
 *     service wants foreign users invited. <decline/> goes back to the
 *     inviter.
 *   - chat or normal to room/nick: a private message (§7.5), from
 *     room/sendernick with <x muc#user/>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "handlers/muc/muc.h"
#include "handlers/muc/muc_int.h"
#include "handlers/muc/perm.h"
#include "kernel/jid.h"
#include "kernel/mem.h"

static const char *type_of(const struct xnode *st)
{
    const char *t = xml_attr(st, "type");
    return t ? t : "normal";
}

static struct occupant *sender(const struct room *r, const struct xnode *st)
{
    const char *from = xml_attr(st, "from");
    return from ? room_occupant_by_real(r, from) : NULL;
}

struct xnode *muc_subject_message(const struct room *r, const char *to)
{
    struct xnode *m = xml_new("message", NS_CLIENT);
    char from[JID_MAX];
    if (*r->subject_nick)
        muc_occupant_jid(r, r->subject_nick, from);
    else
        snprintf(from, sizeof from, "%s", r->jid);
    xml_set_attr(m, "from", from);
    xml_set_attr(m, "to", to);
    xml_set_attr(m, "type", "groupchat");
    struct xnode *subj = xml_add(m, "subject", NULL);
    if (*r->subject)
        xml_add_text(subj, r->subject);
    return m;
}

/* --- /help ------------------------------------------------------------------ */

struct help_row {
    const char *command;
    const char *text;
};

/* What an occupant can do, in the words of common clients' commands, and
 * the protocol each maps to (doc/muc.md). */
static const struct help_row help_rows[] = {
    {"nick", "/nick NAME: change your nickname in this room"},
    {"msg", "/msg NICK TEXT: a private message to one occupant, through the room"},
    {"topic", "/topic TEXT: set the subject (moderators; everyone if the room allows it)"},
    {"invite", "/invite JID [REASON]: invite someone; in a members-only room this makes them a member (admins, owners, or everyone if the room allows invitations)"},
    {"kick", "/kick NICK [REASON]: remove an occupant (moderators)"},
    {"ban", "/ban JID [REASON]: ban a user for good (admins and owners)"},
    {"voice", "/voice NICK, /devoice NICK: allow or stop an occupant speaking in a moderated room (moderators)"},
    {"member", "/member JID: make someone a member (admins and owners)"},
    {"configure", "/configure: change the room's settings through its form (owners)"},
    {"destroy", "/destroy [REASON]: end the room for everyone (owners)"},
    {"leave", "/leave or /part: leave the room"},
};

static void help_text(const char *arg, struct buf *b)
{
    size_t n = sizeof help_rows / sizeof help_rows[0];
    if (arg && *arg) {
        for (size_t i = 0; i < n; i++)
            if (strcmp(arg, help_rows[i].command) == 0) {
                buf_puts(b, help_rows[i].text);
                return;
            }
        buf_puts(b, "No such command. /help lists them all.");
        return;
    }
    buf_puts(b, "Commands in this room (your client turns them into XMPP requests):");
    for (size_t i = 0; i < n; i++) {
        buf_puts(b, "\n");
        buf_puts(b, help_rows[i].text);
    }
    buf_puts(b, "\n/help COMMAND tells more about one of them.");
}

/* The body, when it is a /help request: the argument ("" for none). */
static const char *help_request(const char *body)
{
    if (strncmp(body, "/help", 5) != 0 || (body[5] && body[5] != ' '))
        return NULL;
    const char *a = body + 5;
    while (*a == ' ')
        a++;
    if (*a == '/')
        a++;
    return a;
}

/* To the client that asked only, not to the user's other clients. */
static void answer_help(const struct room *r, const char *real, const char *arg,
                        struct effects *out)
{
    struct buf b;
    buf_init(&b);
    char word[32] = "";
    size_t k = 0;
    while (arg[k] && arg[k] != ' ' && k + 1 < sizeof word) {
        word[k] = arg[k];
        k++;
    }
    help_text(word, &b);
    buf_put_u8(&b, 0);
    struct xnode *m = xml_new("message", NS_CLIENT);
    xml_set_attr(m, "from", r->jid);
    xml_set_attr(m, "to", real);
    xml_set_attr(m, "type", "groupchat");
    xml_add_text(xml_add(m, "body", NULL), (const char *)b.p);
    buf_free(&b);
    fx_route(out, m);
}

/* --- groupchat ------------------------------------------------------------------ */

static struct muc_room_flags flags_of(const struct room *r)
{
    struct muc_room_flags f = {.allow_invites = r->cfg.allow_invites,
                               .change_subject = r->cfg.change_subject,
                               .members_only = r->cfg.members_only,
                               .allow_pm = r->cfg.allow_pm};
    return f;
}

static int role_may(const struct room *r, const struct occupant *o, enum muc_priv p)
{
    struct muc_room_flags f = flags_of(r);
    return muc_role_may(o->role, p, &f);
}

static void broadcast(const struct room *r, const struct xnode *m, struct effects *out)
{
    for (size_t i = 0; i < r->nocc; i++)
        occupant_send(r->occ[i], xml_copy(m), out);
}

/* The message as the room sends it: from room/nick, without 'to'. */
static struct xnode *as_room_message(const struct room *r, const struct occupant *o,
                                     const struct xnode *st)
{
    struct xnode *m = xml_copy(st);
    char from[JID_MAX];
    muc_occupant_jid(r, o->nick, from);
    xml_set_attr(m, "from", from);
    xml_set_attr(m, "to", "");
    return m;
}

static int groupchat(struct muc_state *s, const struct event *ev, const struct xnode *st,
                     struct room *r, struct effects *out)
{
    (void)s;
    struct occupant *o = sender(r, st);
    if (!o)
        return stanza_err(STANZA_NOT_ACCEPTABLE);
    const struct xnode *body = xml_child(st, "body", NULL);
    const struct xnode *subject = xml_child(st, "subject", NULL);
    if (body) {
        const char *arg = help_request(xml_text(body));
        if (arg) {
            answer_help(r, xml_attr(st, "from"), arg, out);
            return 0;
        }
    }
    if (subject && !body) {
        if (!role_may(r, o, PRIV_MODIFY_SUBJECT))
            return stanza_err(STANZA_FORBIDDEN);
        /* the room keeps it once the decision is applied (muc.h) */
        fx_event(out, muc_ev_subject(r->name, o->nick, xml_text(subject)));
        struct xnode *m = as_room_message(r, o, st);
        broadcast(r, m, out);
        xml_free(m);
        return 0;
    }
    if (!role_may(r, o, PRIV_SEND_MESSAGES))
        return stanza_err(STANZA_FORBIDDEN);
    struct xnode *m = as_room_message(r, o, st);
    broadcast(r, m, out);
    if (body)
        room_history_push(r, m, ev->time_us);
    xml_free(m);
    return 0;
}

/* --- invitations ------------------------------------------------------------------ */

/* §7.8.2: the room passes the invitation on, from itself. */
static int invite(struct muc_state *s, const struct xnode *st, struct room *r,
                  const struct xnode *inv, struct effects *out)
{
    const char *from = xml_attr(st, "from");
    const char *to = xml_attr(inv, "to");
    struct jid j;
    if (!to || jid_parse(&j, to))
        return stanza_err(STANZA_JID_MALFORMED);
    char from_bare[JID_MAX], invitee[JID_MAX];
    muc_bare_of(from, from_bare);
    jid_bare(&j, invitee);
    struct occupant *o = sender(r, st);
    enum muc_affil a = room_affil(r, from_bare);
    if (!o && a < AFFIL_ADMIN)
        return stanza_err(STANZA_NOT_ACCEPTABLE);
    struct muc_room_flags f = flags_of(r);
    /* In an open room any occupant may pass an invitation on; only one
     * the table allows lets the invitee in where that needs membership
     * (a members-only room, a user of another server). */
    int rc = muc_may_invite(a, o ? o->role : ROLE_NONE, &f);
    if (rc && r->cfg.members_only)
        return rc;
    int needs = r->cfg.members_only || (s->pol.foreign_need_invite && !muc_is_local(s, invitee));
    if (!rc && needs && room_affil(r, invitee) == AFFIL_NONE) {
        struct buf detail;
        buf_init(&detail);
        buf_printf(&detail, "none -> member of %s (invited)", invitee);
        buf_put_u8(&detail, 0);
        muc_audit(out, "affiliation", r, from, (const char *)detail.p);
        buf_free(&detail);
        fx_event(out, muc_ev_member(r->name, invitee, from_bare)); /* muc.h */
    }
    struct xnode *m = xml_new("message", NS_CLIENT);
    xml_set_attr(m, "from", r->jid);
    xml_set_attr(m, "to", to);
    struct xnode *x = xml_add(m, "x", NS_MUC_USER);
    struct xnode *fwd = xml_add(x, "invite", NULL);
    xml_set_attr(fwd, "from", from_bare);
    const struct xnode *reason = xml_child(inv, "reason", NULL);
    if (reason)
        xml_append(fwd, xml_copy(reason));
    if (r->cfg.password_protected)
        xml_add_text(xml_add(x, "password", NULL), r->cfg.password);
    struct buf b;
    buf_init(&b);
    buf_printf(&b, "%s invites you to the room %s", from_bare, r->jid);
    if (reason && *xml_text(reason))
        buf_printf(&b, ": %s", xml_text(reason));
    buf_put_u8(&b, 0);
    xml_add_text(xml_add(m, "body", NULL), (const char *)b.p);
    buf_free(&b);
    fx_route(out, m);
    return 0;
}

/* §7.8.2: a declined invitation goes back to the inviter, from the room. */
static int decline(const struct xnode *st, struct room *r, const struct xnode *dec,
                   struct effects *out)
{
    const char *to = xml_attr(dec, "to");
    struct jid j;
    if (!to || jid_parse(&j, to))
        return stanza_err(STANZA_JID_MALFORMED);
    char from_bare[JID_MAX];
    muc_bare_of(xml_attr(st, "from"), from_bare);
    struct xnode *m = xml_new("message", NS_CLIENT);
    xml_set_attr(m, "from", r->jid);
    xml_set_attr(m, "to", to);
    struct xnode *fwd = xml_add(xml_add(m, "x", NS_MUC_USER), "decline", NULL);
    xml_set_attr(fwd, "from", from_bare);
    const struct xnode *reason = xml_child(dec, "reason", NULL);
    if (reason)
        xml_append(fwd, xml_copy(reason));
    fx_route(out, m);
    return 0;
}

int muc_message_room(struct muc_state *s, const struct event *ev, const struct xnode *st,
                     struct room *r, struct effects *out)
{
    const char *type = type_of(st);
    if (strcmp(type, "error") == 0)
        return 0;
    if (strcmp(type, "groupchat") == 0)
        return groupchat(s, ev, st, r, out);
    const struct xnode *x = xml_child(st, "x", NS_MUC_USER);
    if (x) {
        int rc = 0, any = 0;
        for (const struct xnode *c = xml_first_elem(x); c && rc == 0; c = xml_next_elem(c)) {
            if (strcmp(c->name, "invite") == 0) {
                rc = invite(s, st, r, c, out);
                any = 1;
            } else if (strcmp(c->name, "decline") == 0) {
                rc = decline(st, r, c, out);
                any = 1;
            }
        }
        if (any)
            return rc;
    }
    return stanza_err(STANZA_BAD_REQUEST);
}

/* --- private messages ----------------------------------------------------------- */

int muc_message_occupant(struct muc_state *s, const struct event *ev, const struct xnode *st,
                         struct room *r, const char *nick, struct effects *out)
{
    (void)s;
    (void)ev;
    const char *type = type_of(st);
    if (strcmp(type, "error") == 0)
        return 0;
    if (strcmp(type, "groupchat") == 0)
        return stanza_err(STANZA_BAD_REQUEST);
    struct occupant *o = sender(r, st);
    if (!o)
        return stanza_err(STANZA_NOT_ACCEPTABLE);
    struct occupant *target = room_occupant_by_nick(r, nick);
    if (!target)
        return stanza_err(STANZA_ITEM_NOT_FOUND);
    if (!role_may(r, o, PRIV_SEND_PM))
        return stanza_err(STANZA_FORBIDDEN);
    struct xnode *m = xml_copy(st);
    char from[JID_MAX];
    muc_occupant_jid(r, o->nick, from);
    xml_set_attr(m, "from", from);
    if (!xml_child(m, "x", NS_MUC_USER))
        xml_add(m, "x", NS_MUC_USER);
    occupant_send(target, m, out);
    return 0;
}
