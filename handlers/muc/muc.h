/* muc: the group chat service (XEP-0045) on chat.<domain>.
 *
 * Rooms are created by joining them; their configuration, affiliations
 * and subject are durable (snapshots) and survive a restart when the room
 * is persistent. Occupants and roles are volatile: EV_SERVER_STARTED
 * clears them and drops every room that is not persistent. History is in
 * memory only. The service's own policy (server-started attributes, see
 * event_set_muc): only local users create rooms; users of other servers
 * enter only when invited or affiliated. doc/muc.md has the details.
 *
 * In the chain before sessions: it takes the inbound pass of every
 * stanza to the service's domain; sessions does the outbound pass
 * (directed presence) and routes them here. What it sends goes out with
 * fx_route() to the occupants' real JIDs.
 * Pure: no clock, no I/O, no random. */
#ifndef STANZAD_MUC_H
#define STANZAD_MUC_H

#include "handlers/handler.h"

extern const struct handler muc_handler;

/* Decisions for the durable changes a message makes. Message stanzas are
 * crypto-erased once handled (journal/erasure.h), so a room's state must
 * never depend on replaying one: the subject and a membership granted by
 * an invitation become events of their own, applied by this handler. */
struct event *muc_ev_subject(const char *room, const char *nick, const char *subject);
struct event *muc_ev_member(const char *room, const char *bare_jid, const char *inviter);

#endif
