/* scrub: hides what an operator's dump must not show, in place.
 *
 * Message content (<body/>, <subject/>, <thread/>, and encrypted
 * payloads: OMEMO, XEP-0027, XEP-0373) becomes "[hidden N bytes]" unless
 * bodies is set (the DESIGN.md promise: no chat retention, and an
 * operator reading the journal is not a reader of people's messages).
 * Stored credentials are hidden even with bodies set: a SCRAM salt and
 * StoredKey/ServerKey pair (attributes "salt", "*-stored", "*-server")
 * become "[hidden]", a jabber:iq:register <password/> "[hidden N bytes]".
 * Shared by `journal dump` and `snapshot dump`, with the two line
 * helpers below. */
#ifndef STANZAD_SCRUB_H
#define STANZAD_SCRUB_H

#include <stdint.h>

#include "kernel/buf.h"
#include "kernel/xml.h"

#define DUMP_TIME_BYTES 40 /* "2024-05-01T12:00:00.123456Z" and room */

/* Scrubs n and everything below it. */
void scrub_tree(struct xnode *n, int bodies);

/* UTC with microseconds ("@<us>us" for a time gmtime cannot show). */
void dump_time(int64_t us, char out[DUMP_TIME_BYTES]);
/* Prints b as one line on stdout: CR and LF become character references,
 * so one record stays one line. */
void dump_line(const struct buf *b);

#endif
