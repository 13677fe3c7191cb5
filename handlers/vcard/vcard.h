/* vcard: vcard-temp (XEP-0054), one vCard per account, kept as the XML
 * tree the owner set. Durable: every vCard is in snapshots; the domain
 * and the size limit come from EV_SERVER_STARTED.
 *
 * Answers (XEP-0054 §3):
 *   - get with no 'to' or to the own bare JID: the own vCard, or an empty
 *     <vCard/> when none was set (§3.1 allows it instead of an error);
 *   - get to another local bare JID: that vCard, or item-not-found when
 *     none was set (§3.3: the server MUST return an error);
 *   - set: only on one's own account, else forbidden (§3.2); larger than
 *     vcard-bytes-max bytes of serialized XML: not-acceptable.
 * Gets to other users are answered on the outbound pass (vCards are
 * world-readable, §7) and also on an inbound pass, which only a stanza
 * that was routed here can take; each is answered exactly once.
 * EV_ACCOUNT_DELETE drops the account's vCard. Pure: no clock, no I/O. */
#ifndef STANZAD_VCARD_H
#define STANZAD_VCARD_H

#include <stddef.h>

#include "handlers/handler.h"

#define NS_VCARD "vcard-temp"

/* Default for the server-started limit "vcard-bytes-max". */
#define VCARD_BYTES_MAX_DEFAULT 65536

extern const struct handler vcard_handler;

/* Number of accounts with a stored vCard (for status and tests). */
size_t vcard_count(const void *state);

#endif
