/* offline: offline messages (XEP-0160). PLACEHOLDER: being written. */
#ifndef STANZAD_OFFLINE_H
#define STANZAD_OFFLINE_H

#include "handlers/handler.h"

/* The decision event the sessions handler emits (fx_event) when a message
 * for `bare` finds no available resource: EV_OFFLINE_STORE, origin
 * server, subject bare, body <offline-store xmlns=NS_EVENT jid=bare>
 * holding a copy of the message stanza. */
struct event *offline_ev_store(const char *bare, const struct xnode *msg);

extern const struct handler offline_handler;

#endif
