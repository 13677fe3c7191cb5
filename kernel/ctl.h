/* ctl: the operator's control socket, <data_dir>/ctl.sock (mode 0600,
 * owner only). Each request (kernel/ctlproto.h) that changes or reads
 * durable state becomes an event like a client's stanza: journaled,
 * applied by the handler that owns the state, audited.
 *
 * Commands: user add JID PASSWORD | user passwd JID PASSWORD |
 *           user del JID | user list | status | snapshot
 * (`snapshot` asks for one now; like status it changes no handler's
 * state, so it is not an event.) */
#ifndef STANZAD_CTL_H
#define STANZAD_CTL_H

#include "kernel/server.h"

int ctl_listen(struct server *s);
/* FX_CTL: answers connection `id`. */
void ctl_reply(void *conn, int status, const char *text);
/* Closes every operator connection (shutdown). */
void ctl_close_all(struct server *s);

#endif
