/* journal_tool: `stanzactl journal verify|dump`, the offline journal
 * commands. They read the journal files directly, so the server must be
 * stopped: the tool takes <data_dir>/lock exactly as stanzad does and
 * refuses while a server holds it. The journal is opened read-only
 * (journal_opts.readonly): a torn tail is reported, never cut.
 *
 *   journal verify
 *       checks every segment, block and record (and that every payload
 *       decodes as an event); prints one line per segment, then
 *       "ok: N records, seq A..B" or the damage with file and offset.
 *   journal dump [--from SEQ] [--to SEQ] [--bodies]
 *       one line per record: seq, UTC time, type, origin, subject, body
 *       as XML. Message content (<body/>, <subject/>, <thread/>, and
 *       encrypted payloads: OMEMO, XEP-0027, XEP-0373) is shown as
 *       "[hidden N bytes]" unless --bodies is given; stored credentials
 *       (SCRAM salt and keys) are always "[hidden]".
 *
 * Formats: doc/formats/journal.md, doc/formats/event.md; operator guide:
 * doc/operations.md ("Checking and reading the journal"). */
#ifndef STANZAD_JOURNAL_TOOL_H
#define STANZAD_JOURNAL_TOOL_H

#include "kernel/config.h"

/* Exit statuses. 2 is ctlproto's CTL_USAGE; 3 (server unreachable) is
 * not used here: these commands need the server stopped instead. */
enum {
    JTOOL_OK = 0,
    JTOOL_DAMAGE = 1, /* damage found, or the journal could not be read (key, I/O) */
    JTOOL_USAGE = 2,
    JTOOL_BUSY = 4,   /* the data directory is in use by a running server */
};

/* Runs `stanzactl journal ARGS...` against cfg->data_dir: argv[0] is
 * "verify" or "dump", argc counts argv. cfg is borrowed for the call.
 * Prints to stdout/stderr and returns the exit status. */
int journal_tool_main(const struct config *cfg, int argc, char **argv);

#endif
