/* backup: encrypted backups of the durable state, taken by the running
 * server on a schedule (backup_interval_s) and on `stanzactl backup`.
 *
 * A backup is a snapshot file (snapshot/snapshot.h: the state encoded on
 * the loop thread between two events, so it is consistent, and sealed
 * under the journal master key) encrypted with GPGME to the operator's
 * OpenPGP key (backup_recipient), so `gpg --decrypt` gives back a file
 * `stanzactl restore` accepts. A stolen server cannot read old backups:
 * it holds only the public key. A backup never contains journal segments.
 *
 * On a libuv worker: seal, encrypt, write <backup_dir>/stanzad-<UTC
 * time>-<seq>.snap.gpg (temporary file, fsync, rename), prune backups
 * older than backup_retention_days by the time in their name, then run
 * backup_command with the file as $1. A failure is logged as an error and
 * shown by `stanzactl status` (backup_status) until a later backup
 * succeeds; it is never skipped in silence.
 *
 * One backup state per process (like the server); all functions run on
 * the loop thread. */
#ifndef STANZAD_BACKUP_H
#define STANZAD_BACKUP_H

#include <stdint.h>

#include "kernel/buf.h"
#include "kernel/server.h"

/* Initialises GPGME and starts the schedule (none when backup_recipient
 * is empty or backup_interval_s is 0). Call once, after the bus exists. */
void backup_start(struct server *s);
/* Takes a backup now; when ctl_conn is not 0, that operator connection is
 * answered once it is written and shipped (or has failed). */
void backup_take(struct server *s, uint64_t ctl_conn);
/* 1 while a backup is being written or shipped. */
int backup_busy(const struct server *s);
/* Appends the status lines ("backup: ...", "backup_last_ok: ...",
 * "backup_last_error: ...") to out. */
void backup_status(const struct server *s, struct buf *out);
/* Stops the schedule. Wait for backup_busy() to be 0 first. */
void backup_stop(struct server *s);

#endif
