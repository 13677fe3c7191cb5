/* roster_internal: the roster handler's state, shared by roster.c (roster
 * IQs, account deletion, snapshots) and roster_presence.c (subscriptions,
 * presence to contacts, the last-activity gate). Not for other modules. */
#ifndef STANZAD_ROSTER_INTERNAL_H
#define STANZAD_ROSTER_INTERNAL_H

#include "handlers/roster/roster.h"
#include "handlers/roster/subscription.h"
#include "kernel/jid.h"
#include "kernel/map.h"

struct roster_item {
    char *jid;             /* normalised; the map key */
    char *name;            /* NULL: none */
    char **groups;
    size_t ngroups;
    enum sub_state state;
    uint8_t approved;      /* §3.4 pre-approval */
    uint8_t listed;        /* 0: not in the roster, only a pending-in record (§3.1.3) */
    struct xnode *request; /* the inbound subscribe kept while Pending In */
};

/* A resource of the account in this run (volatile). */
struct roster_resource {
    char *full;
    uint64_t conn;
    uint8_t interested;     /* sent a roster get: gets pushes (§2.1.6) */
    uint8_t versioning;     /* its get carried 'ver': pushes carry it too (§2.6) */
    struct xnode *presence; /* last broadcast presence; NULL: not available */
};

struct roster_account {
    struct map items; /* contact JID -> roster_item */
    uint64_t ver;     /* durable roster version counter */
    struct roster_resource **res; /* each its own allocation: pointers stay valid */
    size_t nres, rescap;           /* at most ROSTER_RESOURCES_MAX */
};

struct roster_state {
    char *domain;
    struct map accounts; /* bare JID -> roster_account */
    uint64_t push_seq;   /* event whose pushes push_n counts */
    uint64_t push_n;
};

/* Account of `bare`; NULL when absent and create is 0. */
struct roster_account *roster_account_get(struct roster_state *s, const char *bare, int create);
/* New empty item (state None, unlisted), or NULL at ROSTER_ITEMS_MAX. */
struct roster_item *roster_item_add(struct roster_account *a, const char *jid);
/* Removes and frees the item of jid, if any. */
void roster_item_del(struct roster_account *a, const char *jid);
/* Drops an unlisted item that no longer records anything. */
void roster_item_gc(struct roster_account *a, struct roster_item *it);
/* The resource of full JID, NULL when absent and conn is 0; created with
 * conn otherwise (NULL past ROSTER_RESOURCES_MAX). */
struct roster_resource *roster_resource_get(struct roster_account *a, const char *full,
                                            uint64_t conn);
/* Forgets a resource (no presence is sent). */
void roster_resource_del(struct roster_account *a, struct roster_resource *r);

/* Bumps the version and pushes item (or, it NULL, the removal of jid) to
 * the account's interested resources (RFC 6121 §2.1.6). */
void roster_push(struct roster_state *s, const struct event *ev, struct roster_account *a,
                 const struct roster_item *it, const char *jid, struct effects *out);

/* Writes the bare form of s into bare; 1 when s is a JID of the served
 * domain with a local part, 0 otherwise (bare is still written when s
 * parses, "" when not). */
int roster_local_bare(const struct roster_state *s, const char *jid, char bare[JID_MAX]);
/* Routes <presence type=type from=from to=to/>. */
void roster_route_presence(struct effects *out, const char *type, const char *from,
                           const char *to);
/* Routes unavailable presence from each available resource of a to
 * contact: before a subscription from the account ends (RFC 6121 §3.2.2,
 * §3.3.3), so the contact does not keep stale presence. */
void roster_route_unavailable_to(struct roster_account *a, const char *contact,
                                 struct effects *out);

/* roster_presence.c: presence stanzas and the last-activity gate, or
 * H_PASS. */
int roster_presence_apply(struct roster_state *s, const struct event *ev, struct effects *out);
int roster_last_gate(struct roster_state *s, const struct event *ev);
/* A resource's session is over: unavailable presence to contacts when it
 * was available (§4.5.1), and it leaves the tables. For a close (bound 0)
 * only when it is that connection's; for a new bind of the same full JID
 * (bound 1) only when it is another connection's (replaced). */
void roster_session_gone(struct roster_state *s, const char *full, uint64_t conn, int bound,
                         struct effects *out);

#endif
