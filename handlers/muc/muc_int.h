/* muc internals: the shapes the files of handlers/muc/ share.
 *
 * Where a stanza goes (muc.c):
 *   chat.<domain>               service: disco, the public room list
 *   room@chat.<domain>          room: groupchat messages, subject,
 *                               invitations, disco, admin and owner IQs
 *   room@chat.<domain>/nick     occupant: join, presence, nick change,
 *                               leave, private messages, self-ping
 *
 * State: rooms by name. A room's configuration, affiliations and subject
 * are what a restart keeps (for persistent rooms); occupants and roles
 * are volatile (EV_SERVER_STARTED clears them and drops rooms that are
 * not persistent), and history lives in memory only and is never encoded
 * (doc/muc.md). Everything but the history is in snapshots, so that a
 * snapshot plus the journal after it rebuilds exactly the live state:
 * every change here follows from a stanza and this state alone. */
#ifndef STANZAD_MUC_INT_H
#define STANZAD_MUC_INT_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"
#include "kernel/jid.h"
#include "kernel/map.h"

#define NS_MUC "http://jabber.org/protocol/muc"
#define NS_MUC_USER "http://jabber.org/protocol/muc#user"
#define NS_MUC_ADMIN "http://jabber.org/protocol/muc#admin"
#define NS_MUC_OWNER "http://jabber.org/protocol/muc#owner"
#define NS_XDATA "jabber:x:data"
#define NS_DISCO_INFO "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"
#define NS_PING "urn:xmpp:ping"
#define NS_DELAY "urn:xmpp:delay"
#define NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"

/* XEP-0045 §5.2; the numbers are in snapshots. */
enum muc_affil { AFFIL_NONE = 0, AFFIL_OUTCAST = 1, AFFIL_MEMBER = 2, AFFIL_ADMIN = 3, AFFIL_OWNER = 4 };
/* XEP-0045 §5.1; ordered by privilege. */
enum muc_role { ROLE_NONE = 0, ROLE_VISITOR = 1, ROLE_PARTICIPANT = 2, ROLE_MODERATOR = 3 };

/* Who may send private messages (muc#roomconfig_allowpm). */
enum muc_pm { PM_ANYONE = 0, PM_PARTICIPANTS = 1, PM_MODERATORS = 2, PM_NONE = 3 };
/* Who may see occupants' real JIDs (muc#roomconfig_whois). */
enum muc_whois { WHOIS_MODERATORS = 0, WHOIS_ANYONE = 1 };

/* A room's configuration (muc#roomconfig, XEP-0045 §10.2). Strings are
 * owned and never NULL ("" when unset). */
struct room_config {
    char *name;        /* muc#roomconfig_roomname */
    char *desc;        /* muc#roomconfig_roomdesc */
    char *password;    /* muc#roomconfig_roomsecret; "" with password_protected 0 */
    int persistent;    /* muc#roomconfig_persistentroom */
    int public_;       /* muc#roomconfig_publicroom: listed in disco items */
    int members_only;  /* muc#roomconfig_membersonly */
    int moderated;     /* muc#roomconfig_moderatedroom */
    int password_protected; /* muc#roomconfig_passwordprotectedroom */
    int allow_invites;  /* muc#roomconfig_allowinvites: occupants may invite */
    int change_subject; /* muc#roomconfig_changesubject: occupants may */
    enum muc_whois whois;
    enum muc_pm allow_pm;
    uint32_t max_users;   /* muc#roomconfig_maxusers; 0: the service's limit */
    uint32_t history_max; /* muc#maxhistoryfetch; capped by the service's */
};

/* Service-wide settings, from EV_SERVER_STARTED (event_set_muc). */
struct muc_policy {
    char *domain;        /* the MUC service's domain; "" when off */
    char *server_domain; /* local users are users of this domain */
    int local_create_only; /* only local users create rooms */
    int foreign_need_invite; /* foreign users enter only when invited or affiliated */
    uint32_t history_max;  /* most messages a room keeps in memory */
    uint32_t max_users;    /* occupants a room may have at most */
    uint32_t rooms_max;    /* rooms the service holds at most */
};

/* One client of an occupant. */
struct occ_session {
    char *real;             /* full JID */
    struct xnode *presence; /* its last presence, as received (no muc children) */
};

/* An occupant is a nickname held by one user, who may be in it with
 * several clients at once (a multi-session nick, XEP-0045 §7.2.? as
 * Prosody and ejabberd do it): every session gets what the occupant
 * gets, and the newest session's presence is the occupant's. */
/* An IQ one of the occupant's clients sent to another occupant: its
 * answer goes back to that client, not just to the newest. */
struct occ_iq {
    char *id, *to_nick, *real;
};
#define OCC_IQS_MAX 8 /* remembered per occupant; the oldest is forgotten */

struct occupant {
    char *nick;
    char *bare;            /* the user's bare JID */
    enum muc_role role;
    struct occ_session *s; /* in join order; s[ns - 1] is the newest */
    size_t ns, scap;
    /* IQs asked through the room, awaiting answers (a ring; volatile:
     * not in snapshots, it only steers answers to the right client). */
    struct occ_iq iq[OCC_IQS_MAX];
    size_t iq_next;
};

struct history_entry {
    struct xnode *msg; /* groupchat message, from room/nick, no 'to' */
    int64_t time_us;
    size_t bytes;      /* its serialized size, for maxchars */
};

struct room {
    char *name;        /* the room's local part */
    char *jid;         /* room@service */
    struct room_config cfg;
    struct map affil;  /* bare JID -> (void *)(uintptr_t)enum muc_affil; NONE is absent */
    char *subject;     /* "" when none */
    char *subject_nick; /* who set it ("" : the service) */
    int locked;        /* created, waiting for the owner's configuration (§10.1) */
    struct occupant **occ; /* in join order */
    size_t nocc, occcap;
    struct history_entry *hist; /* ring of cfg.history_max entries at most */
    size_t hhead, hn, hcap;
};

/* The rooms one real full JID is in, in join order: a session that
 * ends leaves them without a walk over every room. */
struct joined {
    char **rooms; /* room names; owned */
    size_t n, cap;
};

struct muc_state {
    struct muc_policy pol;
    struct map rooms;  /* name -> struct room * */
    struct map joined; /* real full JID -> struct joined * */
};

/* --- room.c: the table ---------------------------------------------------- */

struct room *room_find(const struct muc_state *s, const char *name);
/* Creates a room with the default configuration and `owner` as owner;
 * locked when the creator asked for the MUC protocol (§10.1.1). */
struct room *room_create(struct muc_state *s, const char *name, const char *owner_bare, int locked);
/* Removes a room with everything in it (no stanzas). */
void room_remove(struct muc_state *s, struct room *r);
void room_free(struct room *r);
void room_config_defaults(struct room_config *c);
void room_config_free(struct room_config *c);
void room_config_copy(struct room_config *dst, const struct room_config *src);

enum muc_affil room_affil(const struct room *r, const char *bare);
/* Sets (NONE removes) an affiliation; no stanzas. */
void room_set_affil(struct room *r, const char *bare, enum muc_affil a);
/* Number of owners, so the last one cannot step down (§10.9.1). */
size_t room_owner_count(const struct room *r);

struct occupant *room_occupant_by_nick(const struct room *r, const char *nick);
/* The occupant one of whose sessions is the full JID `full`. */
struct occupant *room_occupant_by_real(const struct room *r, const char *full);
/* Adds an occupant with one session (copies the strings, takes presence;
 * NULL: an empty one); returns it. */
struct occupant *room_occupant_add(struct room *r, const char *nick, const char *real,
                                   enum muc_role role, struct xnode *presence);
void room_occupant_remove(struct room *r, struct occupant *o);

/* The newest session's full JID and presence: the occupant's. */
const char *occupant_real(const struct occupant *o);
const struct xnode *occupant_presence(const struct occupant *o);
struct occ_session *occupant_session(const struct occupant *o, const char *real);
/* Adds a session, or makes an existing one the newest; takes presence. */
void occupant_session_put(struct occupant *o, const char *real, struct xnode *presence);
/* Removes a session; returns how many are left. */
size_t occupant_session_remove(struct occupant *o, const char *real);
/* Remembers that o's client `real` sent IQ `id` to occupant to_nick. */
void occupant_iq_remember(struct occupant *o, const char *id, const char *to_nick,
                          const char *real);
/* Where the answer to o's IQ `id`, from occupant from_nick, goes: the
 * client that asked if it is still there, else the newest. */
void occupant_iq_answer_to(struct occupant *o, const char *id, const char *from_nick,
                           char out[JID_MAX]);
/* Sends st to every session of o (a copy each, 'to' set); takes st. */
void occupant_send(const struct occupant *o, struct xnode *st, struct effects *out);

/* History (memory only): keeps a copy of msg; drops the oldest past the
 * room's limit. */
void room_history_push(struct room *r, const struct xnode *msg, int64_t time_us);
void room_history_clear(struct room *r);

/* The role an affiliation gets on entering (§5.1): owner and admin are
 * moderators, members participants, others participants or, in a
 * moderated room, visitors. */
enum muc_role room_default_role(const struct room *r, enum muc_affil a);

const char *affil_name(enum muc_affil a);
const char *role_name(enum muc_role r);
/* -1 when the word is not one of XEP-0045's. */
int affil_parse(const char *s);
int role_parse(const char *s);

/* --- presence.c: occupants come and go ------------------------------------ */

/* Presence to room/nick from a real full JID (join, change, leave). */
int muc_presence(struct muc_state *s, const struct event *ev, const struct xnode *st,
                 struct room *r, const char *room_name, const char *nick, struct effects *out);

/* Sends o's current presence to every occupant (to each as it may see
 * it: the real JID only where whois allows). codes: status codes for
 * everyone, self_codes: added for o itself (110 is added for you). */
void muc_broadcast_presence(const struct muc_state *s, struct room *r, const struct occupant *o,
                            const int *codes, size_t ncodes, const char *actor_nick,
                            const char *reason, struct effects *out);

/* Removes o with an unavailable presence to everyone (itself included),
 * with status `code` (307 kicked, 301 banned, 321 affiliation, 322
 * members-only, 332 shutdown; 0 none) and optional actor and reason.
 * Drops a non-persistent room that becomes empty. Returns 1 when the
 * room is gone. */
int muc_occupant_expel(struct muc_state *s, struct room *r, struct occupant *o, int code,
                       const char *actor_nick, const char *reason, struct effects *out);

/* A session ended: it leaves every room it is in. */
void muc_session_gone(struct muc_state *s, const char *full, struct effects *out);

/* Destroys r (§10.9): unavailable with <destroy/> to every occupant. */
void muc_room_destroy(struct muc_state *s, struct room *r, const char *alt_jid,
                      const char *reason, struct effects *out);

/* --- message.c: groupchat, subject, private messages, invitations, /help -- */

int muc_message_room(struct muc_state *s, const struct event *ev, const struct xnode *st,
                     struct room *r, struct effects *out);
int muc_message_occupant(struct muc_state *s, const struct event *ev, const struct xnode *st,
                         struct room *r, const char *nick, struct effects *out);
/* The subject message a joining occupant gets (§7.2.15). */
struct xnode *muc_subject_message(const struct room *r, const char *to);

/* --- admin.c / owner.c: muc#admin and muc#owner IQs ----------------------- */

int muc_iq_admin(struct muc_state *s, const struct event *ev, const struct xnode *st,
                 struct room *r, struct effects *out);
int muc_iq_owner(struct muc_state *s, const struct event *ev, const struct xnode *st,
                 struct room *r, struct effects *out);

/* --- disco.c: service and room discovery, self-ping ------------------------ */

int muc_iq_service(struct muc_state *s, const struct event *ev, const struct xnode *st,
                   struct effects *out);
int muc_iq_room_disco(struct muc_state *s, const struct event *ev, const struct xnode *st,
                      struct room *r, struct effects *out);
/* IQs to room/nick: self-ping (XEP-0410) and forwarding between occupants. */
int muc_iq_occupant(struct muc_state *s, const struct event *ev, const struct xnode *st,
                    struct room *r, const char *nick, struct effects *out);

/* --- codec.c: snapshots ----------------------------------------------------- */

void muc_encode(const void *state, struct buf *out);
int muc_decode(void *state, struct rd *in);

/* --- helpers (muc.c) -------------------------------------------------------- */

/* Keep s->joined in step with the rooms' occupant lists. */
void muc_joined_add(struct muc_state *s, const char *real, const char *room);
void muc_joined_del(struct muc_state *s, const char *real, const char *room);

/* "room@service/nick" into out (JID_MAX bytes). */
void muc_occupant_jid(const struct room *r, const char *nick, char *out);
/* 1 when the bare JID's domain is the server's own (a local user). */
int muc_is_local(const struct muc_state *s, const char *jid);
/* Records a change for the audit timeline (handlers/audit: room-created,
 * room-destroyed, room-config, affiliation); actor: a JID ("" the
 * service), written as its bare JID. */
void muc_audit(struct effects *out, const char *what, const struct room *r, const char *actor,
               const char *detail);
/* Adds <status code='N'/> to x. */
void muc_add_status(struct xnode *x, int code);
/* The bare JID of a full one, into out (JID_MAX bytes); "" on error. */
void muc_bare_of(const char *full, char *out);

#endif
