/* handler: the one interface every state owner implements.
 *
 * A handler owns its state and changes it only in apply(), from events,
 * deterministically: no clock, no random numbers, no I/O, no libuv, no
 * TLS (tests/purity.sh fails the build otherwise). What the world should
 * see as a result goes into `effects`, which the kernel carries out once
 * the event is durable, and which replay can record and compare.
 *
 * Dispatch (kernel/dispatch.c), in the order of handlers/registry.c:
 *   - EV_STANZA is offered to each handler that wants it until one does
 *     not return H_PASS: 0 means handled; a stanza error code
 *     (stanza_err(STANZA_...)) makes the dispatcher answer the sender
 *     with that error; H_ROUTE means "this stanza leaves the sender's
 *     side now": the dispatcher offers the same stanza down the chain
 *     again as an inbound stanza (origin_kind ORIGIN_ROUTE), which is how
 *     a message from one local user reaches another. If every handler
 *     passes, the dispatcher answers an IQ get/set with
 *     service-unavailable and drops anything else.
 *   - Outbound and inbound (RFC 6121's "user's server" and "contact's
 *     server"): a stanza with origin_kind ORIGIN_C2S comes from a local
 *     session and gets outbound processing; ORIGIN_ROUTE (and later
 *     ORIGIN_S2S) is on its way to a local entity and gets inbound
 *     processing. An error for an inbound stanza is routed back to its
 *     'from' rather than sent on a connection.
 *   - FX_ROUTE: a handler that must send a stanza to a JID rather than to
 *     a connection (presence to every contact) emits it with fx_route();
 *     the dispatcher offers it down the chain as inbound, within the same
 *     event, to a bounded depth. It is never journaled: replay derives it
 *     again from the same event and state.
 *   - FX_EVENT: a decision that depends on volatile facts ("nobody is
 *     online: store this offline") becomes a new event with fx_event();
 *     the kernel journals it like any input and the durable handler that
 *     owns the data applies it. Replay reads the decision from the journal
 *     and never re-decides it.
 *   - Every other event goes to every handler that wants it; each
 *     answers its own requests through effects, and its return value is
 *     0 or H_PASS (a negative value is a bug and is logged).
 *
 * Durable handlers (accounts, rosters, ...) provide encode/decode for
 * snapshots; volatile ones (sessions) leave them NULL and start empty,
 * and clear their state on EV_SERVER_STARTED. Settings (domain, limits)
 * come only from EV_SERVER_STARTED, through settings(), on start and
 * again after a snapshot is decoded. */
#ifndef STANZAD_HANDLER_H
#define STANZAD_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/buf.h"
#include "kernel/err.h"
#include "kernel/event.h"
#include "kernel/xml.h"

#define H_PASS 1  /* not mine: offer the stanza to the next handler */
#define H_ROUTE 2 /* outbound done: deliver this stanza (inbound pass) */

enum fx_kind {
    FX_STANZA = 1, /* send `stanza` on connection `to` */
    FX_CLOSE,      /* close connection `to` with stream error `cond` */
    FX_CTL,        /* answer operator connection `to` with `text`, exit `status` */
    FX_BIND,       /* connection `to` is now bound as `text` (NULL: binding refused) */
    FX_ROUTE,      /* offer `stanza` down the chain as inbound (dispatch consumes it) */
    FX_EVENT,      /* journal and apply `event` as a new event (a decision) */
};

struct effect {
    enum fx_kind kind;
    uint64_t to;          /* connection id */
    struct xnode *stanza; /* FX_STANZA; owned */
    enum stream_err cond; /* FX_CLOSE */
    char *text;           /* FX_CTL: reply text (may hold newlines); FX_BIND: JID; owned */
    int status;           /* FX_CTL: 0 ok, 1 refused, 2 bad request */
    struct event *event;  /* FX_EVENT; owned */
};

struct effects {
    struct effect *v;
    size_t n;
    size_t cap;
};

void effects_init(struct effects *fx);
/* Frees every effect's memory and empties the list. */
void effects_clear(struct effects *fx);
/* Queues a stanza for connection `to`; takes ownership of stanza. */
void fx_stanza(struct effects *fx, uint64_t to, struct xnode *stanza);
void fx_close(struct effects *fx, uint64_t to, enum stream_err cond);
/* Queues an operator reply; text is copied. */
void fx_ctl(struct effects *fx, uint64_t to, int status, const char *text);
/* Tells the kernel how binding ended for connection `to`: full JID, or
 * NULL when refused. Queued before the bind result stanza itself. */
void fx_bind(struct effects *fx, uint64_t to, const char *full_jid);
/* Routes a stanza to its 'to' as an inbound stanza, within this event
 * (see above); 'from' and 'to' must be set. Takes ownership. */
void fx_route(struct effects *fx, struct xnode *stanza);
/* Asks the kernel to journal ev as a new event (a decision); takes
 * ownership. Its origin and subject are the handler's to choose. */
void fx_event(struct effects *fx, struct event *ev);

/* Builds the reply skeleton for a stanza: same name, id, to/from swapped,
 * the given type. The caller owns the result. */
struct xnode *stanza_reply(const struct xnode *req, const char *type);
/* Builds the RFC 6120 §8.3 error reply to req: a copy of it with
 * type='error', to/from swapped, and <error type=...><cond/></error>. */
struct xnode *stanza_error_reply(const struct xnode *req, enum stanza_err cond, const char *text);

/* 1 when ev is a stanza from a local session (outbound processing). */
int stanza_outbound(const struct event *ev);
/* Sends an error reply for st the way its direction needs: on connection
 * `conn` for an outbound stanza, routed to st's 'from' for an inbound
 * one. Never answers an error with an error (RFC 6120 §8.3.1). */
void stanza_bounce(struct effects *fx, const struct event *ev, const struct xnode *st,
                   enum stanza_err cond, const char *text);

/* XEP-0082 DateTime in UTC with milliseconds ("2026-11-25T23:54:56.123Z"),
 * as delay stamps (XEP-0203) and entity time (XEP-0202) want. len >= 32. */
void xmpp_stamp(int64_t time_us, char *out, size_t len);

struct handler {
    const char *name;
    uint32_t wants; /* EV_BIT() of the event types it applies */
    /* Returns a new, empty state. */
    void *(*create)(void);
    void (*destroy)(void *state);
    int (*apply)(void *state, const struct event *ev, struct effects *out);
    /* Snapshot codec; NULL for volatile handlers. decode starts from a
     * fresh state and returns 0 or -ERR_CORRUPT. */
    void (*encode)(const void *state, struct buf *out);
    int (*decode)(void *state, struct rd *in);
    /* Takes the settings carried by a server-started event (domain,
     * limits) and changes nothing else. apply() calls it on
     * EV_SERVER_STARTED; dispatch_decode calls it with the last
     * server-started the snapshot covers, so that the events replayed
     * after a snapshot meet the settings they met live (settings stay out
     * of the handlers' own snapshots). NULL: the handler has none. */
    void (*settings)(void *state, const struct event *started);
    /* Crypto-erasure: 1 while the handler keeps the content of event seq
     * (an offline message not yet delivered). The journal destroys the
     * data key of a message-bearing event as soon as no handler holds it
     * (kernel/bus.c). NULL: holds nothing. */
    int (*holds)(const void *state, uint64_t seq);
};

#endif
