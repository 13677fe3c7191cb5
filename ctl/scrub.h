/* scrub: hides what an operator's dump must not show, in place.
 *
 * Message content (<body/>, <subject/>, <thread/>, and encrypted
 * payloads: OMEMO, XEP-0027, XEP-0373) becomes "[hidden N bytes]" unless
 * bodies is set (the DESIGN.md promise: no chat retention, and an
 * operator reading the journal is not a reader of people's messages).
 * Stored credentials are hidden even with bodies set: a SCRAM salt and
 * StoredKey/ServerKey pair (attributes "salt", "*-stored", "*-server")
 * become "[hidden]", a jabber:iq:register <password/> "[hidden N bytes]".
 * Shared by `journal dump` and `snapshot dump`. */
#ifndef STANZAD_SCRUB_H
#define STANZAD_SCRUB_H

#include "kernel/xml.h"

/* Scrubs n and everything below it. */
void scrub_tree(struct xnode *n, int bodies);

#endif
