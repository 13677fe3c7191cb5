/* sessions: which resources are bound to which connection, and the plain
 * routing of stanzas between local users (RFC 6120 §7, §10; the basic
 * cases of RFC 6121 §8.5 — presence-aware rules come with the IM handlers).
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

#endif
