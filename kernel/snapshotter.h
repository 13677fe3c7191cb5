/* snapshotter: when and how the running server takes snapshots, and how
 * it starts from one.
 *
 * Start: the newest snapshot that passes its checks, decodes, and still
 * has the journal after it, else an older one, else none (replay from the
 * journal's start). Running: after snapshot_every_events events or
 * snapshot_every_s seconds (if anything changed), or on an operator's
 * request, the durable state is encoded on the loop thread between two
 * events (so it is consistent), sealed and written on a worker, old
 * snapshots are pruned to snapshots_keep, and journal segments wholly
 * covered by the oldest kept snapshot are deleted. */
#ifndef STANZAD_SNAPSHOTTER_H
#define STANZAD_SNAPSHOTTER_H

#include <stdint.h>

#include "kernel/server.h"

/* Loads the newest usable snapshot into s->dispatch (a fresh one) and
 * sets *seq to the sequence it covers (0: none). Returns 0 or a negative
 * code (logged). */
int snapshotter_restore(struct server *s, uint64_t *seq /* OUT */);
/* Starts the periodic check; restored_seq is what snapshotter_restore
 * found (so a long replay is followed by a snapshot soon). */
void snapshotter_start(struct server *s, uint64_t restored_seq);
/* Takes a snapshot now; when ctl_conn is not 0, that operator connection
 * is answered once it is written (or has failed). */
void snapshotter_take(struct server *s, uint64_t ctl_conn);
/* 1 while a snapshot is being written. */
int snapshotter_busy(const struct server *s);
void snapshotter_stop(struct server *s);

#endif
