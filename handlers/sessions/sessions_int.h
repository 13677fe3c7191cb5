/* sessions_int: the state the files of the sessions handler share
 * (sessions.c: table and dispatch; route.c: inbound delivery;
 * presence.c: RFC 6121 §4 presence; carbons.c: XEP-0280).
 * Volatile: nothing here is ever encoded. */
#ifndef STANZAD_SESSIONS_INT_H
#define STANZAD_SESSIONS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"
#include "handlers/sessions/sessions.h"
#include "kernel/map.h"

#define NS_CARBONS "urn:xmpp:carbons:2"
#define NS_FORWARD "urn:xmpp:forward:0"
#define NS_HINTS "urn:xmpp:hints"

/* Entities one resource may have sent directed presence to and not yet
 * made unavailable to (RFC 6121 §4.6); past it, directed presence to a
 * new entity gets resource-constraint, since the server could not keep
 * its promise to send them unavailable presence later. */
#define DIRECTED_PRESENCE_MAX 256

struct session {
    uint64_t conn;
    char *full;
    char *bare;
    int available;            /* sent available broadcast presence, not yet unavailable */
    int priority;             /* RFC 6121 §4.7.2.3, -128..127; 0 when absent */
    uint64_t available_since; /* order of becoming available: larger is more recent */
    struct xnode *presence;   /* last available broadcast presence, owned; NULL if none */
    int carbons;              /* XEP-0280 enabled */
    char **directed;          /* owned JIDs sent directed available presence; grown on demand */
    size_t ndirected;
    size_t directed_cap;
};

/* An account's sessions in bind order. */
struct account_sessions {
    struct session *v[SESSIONS_PER_ACCOUNT_MAX];
    size_t n;
};

struct sessions_state {
    char *domain;          /* from EV_SERVER_STARTED */
    char *muc_domain;      /* the group chat service's domain, "" when off */
    uint64_t availability; /* counter stamped into available_since */
    struct map by_full;    /* full JID -> session */
    struct map by_conn;    /* conn id -> session */
    struct map by_bare;    /* bare JID -> account_sessions */
};

/* --- route.c --- */
/* Inbound processing (RFC 6121 §8.5) of st to the local user `bare`, or
 * to its resource `full` (NULL: to the bare JID). Returns 0, H_PASS, or
 * a stanza error for the dispatcher to bounce. */
int route_inbound_local(struct sessions_state *s, const struct xnode *st, const char *bare,
                        const char *full, struct effects *out);

/* --- presence.c --- */
/* Outbound broadcast presence (no 'to') from se: 0 or a stanza error. */
int presence_broadcast(struct sessions_state *s, struct session *se, const struct xnode *st,
                       struct effects *out);
/* Outbound directed presence from se to `to` (normalised JID): 0 to let
 * it route, or a stanza error. */
int presence_directed(struct session *se, const struct xnode *st, const char *to);
/* Answers an inbound probe (RFC 6121 §4.3.2) for the available
 * resources in as (NULL: none), or only for `full` when not NULL. */
void presence_probe_answer(const struct account_sessions *as, const char *bare, const char *full,
                           const struct xnode *probe, struct effects *out);
/* se is going away: if it was available, unavailable presence from its
 * full JID to its directed-presence targets and, with notify_own, to the
 * account's other available resources. */
void presence_session_gone(struct sessions_state *s, struct session *se, int notify_own,
                           struct effects *out);

/* Frees what presence tracking holds for se (stored presence, directed). */
void presence_clear(struct session *se);

/* --- carbons.c --- */
/* 1 when st is an XEP-0280 §4/§5 enable/disable request. */
int carbons_is_toggle(const struct xnode *st);
/* Carries out an enable/disable request from se and answers it. */
void carbons_toggle(struct session *se, const struct event *ev, struct effects *out);
/* §6 eligibility of a message; `inbound`: copies as <received/>. */
int carbons_eligible(const struct xnode *msg, int inbound);
/* Sends <sent/> (or <received/>) copies of msg to the available,
 * carbons-enabled resources of as except those in skip[0..nskip). */
void carbons_copy(const struct account_sessions *as, const char *bare, const struct xnode *msg,
                  const char *wrapper, struct session *const *skip, size_t nskip,
                  struct effects *out);

/* 1 when st's 'type' is t (t NULL: no 'type'). */
int stanza_type_is(const struct xnode *st, const char *t);

#endif
