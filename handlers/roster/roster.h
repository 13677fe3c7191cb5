/* roster: contact lists, presence subscriptions and presence broadcast to
 * contacts (RFC 6121 §2 rosters and versioning, §3 and Appendix A
 * subscriptions with pre-approval, §4 presence to contacts), and the
 * XEP-0012 §5 gate on last activity queries.
 *
 * Durable: every account's roster (items, subscription states, pending
 * inbound requests, version counter) is in snapshots. Volatile, cleared
 * on EV_SERVER_STARTED: which resources asked for the roster (they get
 * pushes) and which are available (their presence goes to contacts).
 * Pure: no clock, no I/O, no random. */
#ifndef STANZAD_ROSTER_H
#define STANZAD_ROSTER_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"

#define NS_ROSTER "jabber:iq:roster"
#define NS_LAST "jabber:iq:last"

/* Items per account, pending-in records included; a set past it gets
 * not-allowed (RFC 6121 §2.3.3), an inbound request past it is dropped. */
#define ROSTER_ITEMS_MAX 1000
/* Bytes of an item's name and of one group name; longer: not-acceptable. */
#define ROSTER_NAME_BYTES_MAX 1023
#define ROSTER_GROUP_BYTES_MAX 1023
/* Groups of one item; more: not-acceptable. */
#define ROSTER_GROUPS_MAX 64
/* Resources tracked per account (interested or available); the sessions
 * handler allows no more than this. Past it a resource gets no pushes. */
#define ROSTER_RESOURCES_MAX 64

extern const struct handler roster_handler;

/* For tests and tools: the subscription state (enum sub_state) of contact
 * in the roster of account `bare`, or -1 when there is no such item.
 * *listed (may be NULL) is 1 when the item is in the user's roster, 0
 * when it is only a pending inbound request; *approved likewise. */
int roster_item_state(const void *state, const char *bare, const char *contact,
                      int *listed /* OUT */, int *approved /* OUT */);
/* The account's roster version counter (0 for an unknown account). */
uint64_t roster_version(const void *state, const char *bare);

#endif
