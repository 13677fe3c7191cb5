/* event: the one shape every input takes on its way into the journal.
 *
 * An event is something the server accepted, stamped by the kernel with a
 * sequence number, the wall-clock time and its origin. Its body is a small
 * XML tree: the stanza itself for EV_STANZA, or an element in the
 * urn:stanzad:event namespace holding the event's fields for the others.
 * One shape means one encoder, one journal dump format and one way for a
 * handler to read its input. Everything a handler needs that is not in its
 * own state is in the event: time, generated ids, salts, derived keys.
 *
 * Encoding (journal payload, see doc/formats/event.md):
 *   u8 version, varint origin_kind, varint origin, str subject,
 *   tree body (xml_encode_bin)
 * Sequence number, time and type are the journal record's header fields
 * (struct jrec), not repeated in the payload; an event's identity is its
 * sequence number, never a file offset. */
#ifndef STANZAD_EVENT_H
#define STANZAD_EVENT_H

#include <stdint.h>

#include "kernel/buf.h"
#include "kernel/xml.h"

#define NS_EVENT "urn:stanzad:event"
#define EVENT_FORMAT_VERSION 1

/* X(enum, number, name). Numbers are part of the journal format: never
 * reuse or renumber one. */
#define EV_TABLE(X)                                                         \
    X(EV_SERVER_STARTED, 1, "server-started") /* clears volatile state */  \
    X(EV_SESSION_BOUND, 2, "session-bound")   /* a resource was bound */   \
    X(EV_SESSION_CLOSED, 3, "session-closed") /* a bound session ended */  \
    X(EV_STANZA, 4, "stanza")                 /* a stanza from a session */ \
    X(EV_ACCOUNT_REGISTER, 5, "account-register")                           \
    X(EV_ACCOUNT_PASSWD, 6, "account-passwd")                               \
    X(EV_ACCOUNT_DELETE, 7, "account-delete")                               \
    X(EV_ACCOUNT_LIST, 8, "account-list") /* operator query, audited */  \
    X(EV_AUDIT_QUERY, 9, "audit-query")   /* operator: the audit timeline */ \
    X(EV_OFFLINE_STORE, 10, "offline-store")         /* decision: keep a message */ \
    X(EV_OFFLINE_DELIVERED, 11, "offline-delivered") /* tombstone of stored ones */ \
    X(EV_AUDIT_NOTE, 12, "audit-note") /* decision: a change for the audit timeline */ \
    X(EV_MUC_SUBJECT, 13, "muc-subject") /* decision: a room's new subject */ \
    X(EV_MUC_MEMBER, 14, "muc-member")   /* decision: an invitation made a member */

enum ev_type {
#define X(e, num, name) e = num,
    EV_TABLE(X)
#undef X
    EV_TYPE_MAX_
};

#define EV_BIT(t) (1u << (t))

/* Who an event came from; origin is that party's connection id. */
enum ev_origin {
    ORIGIN_SERVER = 0, /* the server itself (start, timers) */
    ORIGIN_C2S = 1,    /* a client connection */
    ORIGIN_CTL = 2,    /* an operator through stanzactl */
    ORIGIN_S2S = 3,    /* a peer server */
    ORIGIN_ROUTE = 4,  /* a stanza on its way to a local entity within one
                          event (FX_ROUTE, H_ROUTE); never journaled */
};

struct event {
    uint64_t seq;             /* contiguous, assigned by the journal */
    int64_t time_us;          /* wall clock when accepted, µs since 1970 */
    enum ev_type type;
    enum ev_origin origin_kind;
    uint64_t origin;          /* connection id; 0 for the server */
    char *subject;            /* bare JID the event is about ("" if none); owned */
    struct xnode *body;       /* owned */
};

const char *ev_type_name(enum ev_type t); /* "account-register"; "?" if unknown */

/* Makes an event with an empty body element named after the type in
 * NS_EVENT (EV_STANZA: pass the stanza as body instead). The caller owns
 * the result and frees it with event_free(). subject may be NULL. */
struct event *event_new(enum ev_type t, enum ev_origin kind, uint64_t origin,
                        const char *subject, struct xnode *body /* owned; NULL: make one */);
void event_free(struct event *ev);

/* The start event every volatile handler resets on. It carries the domain
 * and server version the handlers answer with, so that a handler needs no
 * configuration and replay needs none either. */
struct event *event_server_started(const char *domain, const char *version);

/* A stand-in for a journal record whose content was crypto-erased
 * (journal/erasure.h): type and time kept, origin server, no subject,
 * body <erased xmlns=NS_EVENT/>. Replay and golden files carry it so the
 * sequence stays whole; dispatch_skip, never dispatch_event, takes it. */
struct event *event_erased(uint64_t seq, int64_t time_us, enum ev_type t);
int event_is_erased(const struct event *ev);

/* Whether an event may take effect before it is on disk: the bus commits
 * a batch of only such events without an fsync of its own
 * (journal_batch_lazy), so a crash may lose them. True for what a crash
 * undoes anyway or what changes nothing that lasts: a session's start and
 * end; an IQ of type get (RFC 6120 §8.2.3: it asks, it changes nothing);
 * presence that says whether someone is there (no type, or unavailable;
 * not subscription management, which changes rosters, nor errors). What
 * such an event leads to that must last (a tombstone, a decision) is an
 * event of its own, committed with fsync. Messages are never volatile. */
int event_volatile(const struct event *ev);

/* Adds the operator's limits that handlers enforce to a server-started
 * event: attributes offline-quota and vcard-bytes-max. Handlers read them
 * with event_limit(); an event without them gets the defaults. */
void event_set_limits(struct event *started, uint64_t offline_quota, uint64_t vcard_bytes_max);
/* The group chat service's settings on a server-started event: muc-domain
 * ("" : none), muc-local-create-only, muc-foreign-need-invite,
 * muc-history-max, muc-max-users, muc-rooms-max (read with event_limit). */
struct muc_settings {
    const char *domain;
    int local_create_only, foreign_need_invite;
    uint64_t history_max, max_users, rooms_max;
};
void event_set_muc(struct event *started, const struct muc_settings *m);
/* The limit attribute `name` of a server-started event, or dflt. */
uint64_t event_limit(const struct event *started, const char *name, uint64_t dflt);

/* Appends the payload encoding (all but seq, time and type) to out. */
void event_encode(const struct event *ev, struct buf *out);
/* Decodes a payload; returns an event the caller frees, or NULL with
 * *err set (-ERR_CORRUPT, -ERR_VERSION). seq, time and type come from the
 * journal record. */
struct event *event_decode(uint64_t seq, int64_t time_us, enum ev_type type, const uint8_t *p,
                           size_t n, int *err /* OUT */);

#endif
