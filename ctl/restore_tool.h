/* restore_tool: `stanzactl restore FILE`, the offline restore of a
 * stopped server's data directory from a backup.
 *
 * FILE is a snapshot file (doc/formats/snapshot.md), as `gpg --decrypt`
 * gives back from a backup (kernel/backup.h). The tool takes
 * <data_dir>/lock as stanzad does and refuses while a server holds it,
 * refuses a data directory that already has journal segments or
 * snapshots (a live one: it never overwrites), needs the journal master
 * key the backup was sealed with (STANZAD_JOURNAL_KEY or
 * <data_dir>/journal.key; it never makes one), checks the snapshot
 * (snapshot_open, then dispatch_decode), writes it to <data_dir>/snapshots/
 * and starts a journal right after it (seq + 1) with one server-started
 * event, so the next start loads the snapshot and replays from there.
 * Operator guide: doc/operations.md ("Backups and restore"). */
#ifndef STANZAD_RESTORE_TOOL_H
#define STANZAD_RESTORE_TOOL_H

#include "kernel/config.h"

/* Exit statuses, as journal_tool's. */
enum {
    RTOOL_OK = 0,
    RTOOL_FAILED = 1, /* refused (live data directory) or the file/key/disk failed */
    RTOOL_USAGE = 2,
    RTOOL_BUSY = 4,   /* the data directory is in use by a running server */
};

/* Runs `stanzactl restore FILE` against cfg->data_dir: argv[0] is FILE,
 * argc counts argv. cfg is borrowed for the call. Prints to stderr (and
 * one line to stdout when done) and returns the exit status. */
int restore_tool_main(const struct config *cfg, int argc, char **argv);

#endif
