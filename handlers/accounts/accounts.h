/* accounts: who has an account here and the SCRAM credentials that prove
 * it (RFC 5802, XEP-0077 for in-band registration).
 * Durable: all of it is in snapshots. Pure: no clock, no I/O, no random;
 * salts and derived keys arrive in the event, computed by the kernel. */
#ifndef STANZAD_ACCOUNTS_H
#define STANZAD_ACCOUNTS_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"
#include "kernel/scram.h"

#define NS_REGISTER "jabber:iq:register"

extern const struct handler accounts_handler;

/* Accounts one server holds; registration past it: resource-constraint. */
#define ACCOUNTS_MAX 10000000

/* Event builders for the kernel, so the event shapes this handler reads
 * are written in one place. req_id is the IQ id (c2s) to answer; may be
 * NULL for the operator. The caller owns the event (event_free()). */
struct event *accounts_ev_register(enum ev_origin kind, uint64_t origin, const char *bare,
                                   const char *req_id, const struct scram_creds *c);
struct event *accounts_ev_passwd(enum ev_origin kind, uint64_t origin, const char *bare,
                                 const char *req_id, const struct scram_creds *c);
struct event *accounts_ev_delete(enum ev_origin kind, uint64_t origin, const char *bare,
                                 const char *req_id);
struct event *accounts_ev_list(enum ev_origin kind, uint64_t origin);

/* The XEP-0077 §3.1 answer to a registration form request `req` (an IQ
 * get whose 'from', if any, is the requester's JID): the empty form, or
 * <registered/> with the username for an existing account. Pure; the
 * caller owns the result. The kernel answers unauthenticated clients
 * with it directly, so they cannot make the server write anything. */
struct xnode *accounts_register_form(const void *state, const struct xnode *req);

/* Read-only lookups for the kernel's SASL. `state` is the accounts
 * handler's state; returns borrowed credentials or NULL. */
const struct scram_creds *accounts_creds(const void *state, const char *bare);
size_t accounts_count(const void *state);

#endif
