/* private: private XML storage (XEP-0049), per account, one stored
 * element per (element name, namespace). Durable: everything is in
 * snapshots; the domain and the size limit come from EV_SERVER_STARTED.
 *
 * Rules (XEP-0049 §2.3, §3):
 *   - only the account itself: to absent or its own bare JID, else
 *     forbidden (the XEP prefers it to service-unavailable);
 *   - the query holds no child element: bad-request ("Bad Format");
 *   - a child in no namespace of its own (jabber:iq:private) or in a
 *     reserved one (starting jabber: or http://jabber.org/, or
 *     vcard-temp): not-acceptable;
 *   - get names exactly one element (a client MUST NOT ask for more):
 *     bad-request otherwise; the answer is the stored element or the
 *     empty element asked for;
 *   - set may hold several elements of the same namespace (§2.3); each
 *     replaces the one stored under its name and namespace. An element
 *     larger than vcard-bytes-max bytes of serialized XML: not-acceptable;
 *     more than PRIVATE_ELEMENTS_MAX stored: resource-constraint.
 * EV_ACCOUNT_DELETE drops the account's data. Pure: no clock, no I/O. */
#ifndef STANZAD_PRIVATE_H
#define STANZAD_PRIVATE_H

#include <stddef.h>

#include "handlers/handler.h"

#define NS_PRIVATE "jabber:iq:private"

/* Distinct (name, namespace) elements one account may store; a set that
 * would pass it is refused whole with resource-constraint. */
#define PRIVATE_ELEMENTS_MAX 128

extern const struct handler private_handler;

/* Number of elements stored for account `bare` (for tests and status). */
size_t private_count(const void *state, const char *bare);

#endif
