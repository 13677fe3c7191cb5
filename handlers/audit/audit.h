/* audit: the timeline of state changes an operator can ask for with
 * `stanzactl audit [--since T]`: who changed what, and when: accounts
 * created, password changes and accounts deleted (read from the account
 * events), and the changes other handlers report with an audit note
 * (below): blocks, rooms, affiliations. Never message content (the events
 * it reads carry none, and it keeps only the names below).
 *
 * Audit notes: a change made by a stanza (a block, a room's creation) is
 * decided by the handler that owns it; this handler cannot tell from the
 * stanza whether it took effect. So that handler emits, once per real
 * change, a decision event built with audit_ev_note() (fx_event(): it is
 * journaled after the event that made it and replay reads it back, never
 * re-decides it), and this handler records it as it is.
 *
 * Durable: entries are in snapshots, so the timeline outlives journal
 * compaction. Pure: no clock, no I/O, no random; every time comes from an
 * event, and so does the retention (see below).
 *
 * Whether a change took effect: the accounts handler decides (a register
 * of an existing JID is refused with conflict), and this handler cannot
 * read its state. So it keeps its own set of existing JIDs, derived from
 * the same account events, in the same order, with the same rules as
 * handlers/accounts/accounts.c (JID present, credentials well formed, not
 * yet there, fewer than ACCOUNTS_MAX), and records an entry only when the
 * change happened. Both states are functions of the same journal, so they
 * agree; a change to the accounts rules must be mirrored here.
 *
 * Retention: entries older than `audit_retention_days` (0: forever) are
 * dropped when an event whose time is past their age is applied here. The
 * kernel puts the configured value into the server-started event and into
 * every audit query (attribute "retention-days"); the handler keeps the
 * last value it saw (in snapshots too), AUDIT_RETENTION_DEFAULT_DAYS
 * before any. Pruning walks from the oldest entry (in sequence order) and
 * stops at the first that is young enough, so an entry stamped earlier
 * than its predecessor (the wall clock stepped back) goes a little later.
 * At most AUDIT_ENTRIES_MAX entries are kept; past it the oldest goes. */
#ifndef STANZAD_AUDIT_H
#define STANZAD_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"

extern const struct handler audit_handler;

/* Entries kept at most (about 10 MB; about 40 MB if every one is a note
 * with the longest detail); the oldest is dropped first. */
#define AUDIT_ENTRIES_MAX 100000
/* Longest detail of a note, in bytes; longer text is cut (at a UTF-8
 * character boundary) by audit_ev_note() and again when applied. */
#define AUDIT_NOTE_DETAIL_MAX 256
/* Retention until an event says otherwise; the config key's default. */
#define AUDIT_RETENTION_DEFAULT_DAYS 365

/* The operator's query: answer `origin` (a ctl connection) with the
 * entries at or after since_us (µs since 1970; 0: all), one line each, in
 * time order. retention_days is the configured retention, applied before
 * answering. The caller owns the event (event_free()). */
struct event *audit_ev_query(uint64_t origin, int64_t since_us, uint64_t retention_days);

/* Adds the retention attribute to a server-started event, so the handler
 * prunes by the configured value from the start on. */
void audit_ev_set_retention(struct event *ev, uint64_t retention_days);

/* A change for the timeline, decided by the handler that made it; give
 * it to fx_event(). what is one of the fixed words (doc/operations.md,
 * "Audit"): block, unblock, unblock-all (subject: the blocker's account),
 * room-created, room-destroyed, room-config, affiliation (subject: the
 * room's bare JID). actor: the bare JID who made the change, "" for the
 * server. detail: short text, never message content (the blocked JIDs,
 * "member -> owner of alice@localhost", the changed config fields); cut
 * to AUDIT_NOTE_DETAIL_MAX bytes, control characters become '?'. Origin
 * is the server. The strings are copied; the caller owns the result
 * (event_free(), or fx_event() takes it). An unknown `what` is a bug. */
struct event *audit_ev_note(const char *what, const char *subject, const char *actor,
                            const char *detail);

/* Number of entries held; for tests and status. `state` is this
 * handler's state (dispatch_state(d, "audit")). */
size_t audit_count(const void *state);

#endif
