/* sessions: which resources are bound to which connection (RFC 6120 §7),
 * their presence among themselves (RFC 6121 §4: broadcast to the account's
 * own resources, directed presence, probe answers), Message Carbons
 * (XEP-0280), and the delivery of stanzas to local users (RFC 6121 §8.5).
 * The last stanza router in the chain: roster (contacts, subscriptions)
 * and offline (storage) come before it.
 *
 * Outbound (a stanza from a local session): broadcast presence is handled
 * here (returns 0); directed presence is remembered and routed; messages
 * to local users get <sent/> carbons and are routed (H_ROUTE); the server
 * answers for the domain and for IQs to the sender's own bare JID
 * (H_PASS); remote domains get remote-server-not-found (no federation),
 * presence to them is dropped.
 *
 * Inbound (RFC 6121 §8.5): a message to the bare JID goes to the available
 * resource with the highest non-negative priority and, among equals, to
 * the one that became available most recently; headlines to all of them;
 * with nobody to take it, a normal or chat message becomes the decision
 * event offline_ev_store(). route.c lists the other choices.
 *
 * Volatile: rebuilt from nothing; EV_SERVER_STARTED clears it.
 * Pure: no clock, no I/O, no random. */
#ifndef STANZAD_SESSIONS_H
#define STANZAD_SESSIONS_H

#include <stdint.h>

#include "handlers/handler.h"

#define NS_BIND "urn:ietf:params:xml:ns:xmpp-bind"

/* Resources one account may bind at once; past it the bind request gets
 * resource-constraint (RFC 6120 §7.6.2.1). */
#define SESSIONS_PER_ACCOUNT_MAX 64

extern const struct handler sessions_handler;

/* Event builders for the kernel. req_id: the bind IQ's id. */
struct event *sessions_ev_bound(uint64_t conn, const char *full_jid, const char *req_id);
struct event *sessions_ev_closed(uint64_t conn, const char *full_jid);

/* Number of bound sessions (for status). */
size_t sessions_count(const void *state);

/* The <priority/> of presence st (RFC 6121 §4.7.2.3): writes it (0 when
 * absent) and returns 0, or -1 when it is not an integer in -128..127
 * (sessions answers such broadcast presence with bad-request). */
int presence_priority(const struct xnode *st, int *prio /* OUT */);

#endif
