/* replay_tool: `stanzactl replay ...`, the offline replay commands
 * (doc/replay.md). --verify and --record read the journal and snapshot
 * files directly, so the server must be stopped: the tool takes
 * <data_dir>/lock as stanzad does and refuses while a server holds it;
 * the journal is opened read-only (a torn tail is reported, never cut).
 *
 *   replay --verify
 *       rebuilds the durable state twice, (a) from the oldest retained
 *       point (the journal from seq 1, or else the oldest usable snapshot
 *       plus the journal after it) and (b) from the newest usable
 *       snapshot plus the journal tail, and compares the SHA-256 digests
 *       of dispatch_encode; prints both with the seqs each covers.
 *   replay --record FILE
 *       writes a golden file (FILE, or - for stdout) from the journal,
 *       which must still start at seq 1: every event and its effects.
 *       It holds what the journal holds: message bodies and SCRAM keys.
 *   replay --check FILE
 *       replays a golden file's events into fresh handlers and compares
 *       the effects; needs no data directory.
 * Exit status: 0 ok; 1 the digests or effects differ, or damage; 2 usage;
 * 4 the data directory is in use by a running server. */
#ifndef STANZAD_REPLAY_TOOL_H
#define STANZAD_REPLAY_TOOL_H

#include "kernel/config.h"

enum {
    REPLAY_EXIT_OK = 0,
    REPLAY_EXIT_FAIL = 1,  /* differ, mismatch, damage, or unreadable input */
    REPLAY_EXIT_USAGE = 2,
    REPLAY_EXIT_BUSY = 4,
};

/* Runs `stanzactl replay ARGS...` (argv[0] is the first option, argc
 * counts argv) against cfg->data_dir, borrowed for the call. Prints to
 * stdout/stderr and returns the exit status. */
int replay_tool_main(const struct config *cfg, int argc, char **argv);

#endif
