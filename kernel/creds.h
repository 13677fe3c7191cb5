/* creds: turn a password into SCRAM credentials off the event loop, then
 * submit the account event that carries them. The password itself never
 * enters an event, the journal or a log; it is wiped once derived.
 * Shared by in-band registration (c2s) and stanzactl (ctl). */
#ifndef STANZAD_CREDS_H
#define STANZAD_CREDS_H

#include <stdint.h>

#include "kernel/event.h"
#include "kernel/server.h"

/* type is EV_ACCOUNT_REGISTER or EV_ACCOUNT_PASSWD. password is copied.
 * req_id (may be NULL) is the IQ id to answer. Once derived, the event is
 * submitted to the bus; on a derivation failure the origin is told
 * through router_refuse(). */
void creds_derive_and_submit(struct server *s, enum ev_type type, enum ev_origin kind,
                             uint64_t origin, const char *bare, const char *req_id,
                             const char *password);

#endif
