/* offline: messages kept for accounts with no available resource
 * (XEP-0160), delivered with a XEP-0203 delay stamp on the next available
 * presence. Durable: the stored messages are in snapshots; which of them
 * are "in flight" (sent to a session, tombstone not yet applied) is
 * volatile and cleared on EV_SERVER_STARTED.
 *
 * Life of a message: sessions decides "nobody can take it" and emits
 * offline_ev_store() (journaled); this handler stores it under id = the
 * event's seq. On available presence with priority >= 0 (RFC 6121 §8.5.2
 * and XEP-0160 §3) it sends every stored message not in flight to that
 * session and emits one offline_ev_delivered() decision; applying that
 * tombstone deletes them, so replay and compaction never resurrect them.
 *
 * Limit: event_limit(started, "offline-quota", 1000) messages per account;
 * past it a message is bounced with service-unavailable (XEP-0160 §4). */
#ifndef STANZAD_OFFLINE_H
#define STANZAD_OFFLINE_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"

#define NS_DELAY "urn:xmpp:delay"
#define OFFLINE_QUOTA_DEFAULT 1000

/* The decision event the sessions handler emits (fx_event) when a message
 * for `bare` finds no available resource: EV_OFFLINE_STORE, origin
 * server, subject bare, body <offline-store xmlns=NS_EVENT jid=bare>
 * holding a copy of the message stanza. */
struct event *offline_ev_store(const char *bare, const struct xnode *msg);

/* The tombstone this handler emits after handing stored messages to a
 * session: EV_OFFLINE_DELIVERED, origin server, subject bare, body
 * <offline-delivered xmlns=NS_EVENT jid=bare><item id='SEQ'/>...</...>.
 * ids is borrowed for the call. The caller owns the result. */
struct event *offline_ev_delivered(const char *bare, const uint64_t *ids, size_t n);

/* How many messages are stored for `bare` (in flight or not). */
size_t offline_count(const void *state, const char *bare);

/* One stored message, as offline_each hands it over: msg is borrowed for
 * the call. A non-zero return stops the walk and is passed on. */
typedef int (*offline_each_cb)(void *arg, const char *bare, uint64_t id, int64_t time_us,
                               const struct xnode *msg);

/* Read-only walk over every stored message: accounts in JID byte order,
 * then messages in id order (the order of the snapshot and of delivery).
 * For offline tools (`stanzactl snapshot dump`). Returns 0 or the first
 * non-zero return of cb. */
int offline_each(const void *state, offline_each_cb cb, void *arg);

extern const struct handler offline_handler;

#endif
