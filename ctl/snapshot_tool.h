/* snapshot_tool: `stanzactl snapshot dump [--bodies] [FILE]`, the offline
 * reader of snapshots (doc/formats/snapshot.md).
 *
 * Without FILE it reads every snapshot in <data_dir>/snapshots/, newest
 * first; with FILE that one file (a backup after `gpg --decrypt`). Each
 * is opened with the journal master key (STANZAD_JOURNAL_KEY or
 * <data_dir>/journal.key; never made here) and decoded into a fresh
 * dispatch, as a start would. Printed: the snapshot's seq, time and state
 * size, one line per durable handler with its encoded size, then one line
 * per stored offline message (account, id, time, the stanza as XML) with
 * message content hidden unless --bodies and credentials always hidden
 * (ctl/scrub.h). The tool takes <data_dir>/lock as stanzad does and
 * refuses while a server holds it; listing the directory removes a
 * crash's leftover temporary file (snapshot_list), as a start does. Operator guide: doc/operations.md
 * ("Reading snapshots"). */
#ifndef STANZAD_SNAPSHOT_TOOL_H
#define STANZAD_SNAPSHOT_TOOL_H

#include "kernel/config.h"

/* Exit statuses, as journal_tool's. */
enum {
    STOOL_OK = 0,
    STOOL_DAMAGE = 1, /* a snapshot failed its checks or could not be read (key, I/O) */
    STOOL_USAGE = 2,
    STOOL_BUSY = 4,   /* the data directory is in use by a running server */
};

/* Runs `stanzactl snapshot ARGS...` against cfg->data_dir: argv[0] is
 * "dump", argc counts argv. cfg is borrowed for the call. Prints to
 * stdout/stderr and returns the exit status. */
int snapshot_tool_main(const struct config *cfg, int argc, char **argv);

#endif
