/* blocking: block lists (XEP-0191, matching as XEP-0016 §2.1).
 *
 * Durable: each account's list of blocked JIDs is in snapshots. Volatile:
 * which resources asked for the list in this run (they get pushes, §3.3)
 * and cleared on EV_SERVER_STARTED.
 *
 * First in the chain after accounts, so a blocked exchange never reaches
 * the handlers that would answer or deliver it:
 *   - outbound, to a JID the sender blocks: message and IQ get/set get
 *     <not-acceptable/> with <blocked xmlns='urn:xmpp:blocking:errors'/>
 *     (§3.3, last example); presence, IQ results and errors are dropped.
 *   - to an account that blocks the sender (outbound to a local account,
 *     or inbound): presence and IQ results/errors are dropped silently,
 *     message and IQ get/set get <service-unavailable/> (§3.3), so the
 *     user appears offline.
 *   - inbound from an account to a JID that account blocks (stanzas the
 *     server generates for it, like presence broadcasts): dropped.
 * On block, unavailable presence goes to each newly blocked JID that has
 * a local part (§3.3), from the user's bare JID. */
#ifndef STANZAD_BLOCKING_H
#define STANZAD_BLOCKING_H

#include <stddef.h>

#include "handlers/handler.h"

#define NS_BLOCKING "urn:xmpp:blocking"
#define NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"

/* JIDs on one account's list; a block past it is refused with
 * resource-constraint and changes nothing. */
#define BLOCKLIST_ITEMS_MAX 1000

/* Number of JIDs `bare` blocks. */
size_t blocking_count(const void *state, const char *bare);

extern const struct handler blocking_handler;

#endif
