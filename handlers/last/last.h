/* last: last activity (XEP-0012).
 *
 * Durable, per account: when the account was last seen leaving (the
 * time of its last session close, or of an unavailable presence that
 * left it with no available resource) and the status text of its last
 * unavailable presence. Volatile (cleared on EV_SERVER_STARTED, never
 * encoded): the server's start time, which resources are bound and which
 * are available (outbound presence without 'to').
 *
 * Answers to iq get jabber:iq:last:
 *   - to the server (no 'to', or the domain): seconds since the server
 *     started (§5);
 *   - to a local bare JID with an available resource: seconds='0' (§3);
 *   - to a local bare JID without one: seconds since it was last seen
 *     leaving, with the status text (§3); an account never seen leaving
 *     gets service-unavailable (the XEP names no condition; this is the
 *     RFC 6120 §8.4 default and what a recipient that has nothing to say
 *     answers);
 *   - to a full JID: not ours; the client answers (§4).
 * Gets to another user's bare JID are answered on the inbound pass only,
 * after the roster handler had its say on authorization (§3: forbidden
 * to those not subscribed to the user's presence); gets to one's own bare
 * JID on the outbound pass. EV_ACCOUNT_DELETE drops the account's data.
 * Pure: no clock, no I/O; time is the event's time. */
#ifndef STANZAD_LAST_H
#define STANZAD_LAST_H

#include <stddef.h>

#include "handlers/handler.h"

#define NS_LAST "jabber:iq:last"

/* Bytes of status text kept; longer text is cut at a UTF-8 boundary. */
#define LAST_STATUS_BYTES_MAX 1024

extern const struct handler last_handler;

/* Number of accounts with a last-activity record (for tests and status). */
size_t last_count(const void *state);

#endif
