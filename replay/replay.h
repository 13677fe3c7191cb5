/* replay: rebuild handler state from the journal. The same dispatcher the
 * live server uses applies each record in order; effects are handed to a
 * callback (replay-as-test compares them) or dropped (server start).
 *
 * Also the two tools built on it (ctl/replay_tool.c runs them):
 *   - state digests: SHA-256 of dispatch_encode, so two rebuilds of the
 *     durable state (oldest point vs newest snapshot) can be compared;
 *   - golden files: readable text holding events and the effects dispatch
 *     produced for them, recorded from a journal and checked by replaying
 *     the events into fresh handlers. Format: doc/replay.md. */
#ifndef STANZAD_REPLAY_H
#define STANZAD_REPLAY_H

#include <stddef.h>
#include <stdint.h>

#include "handlers/handler.h"
#include "journal/journal.h"
#include "kernel/dispatch.h"

/* Called with each event and its effects; may be NULL. */
typedef void (*replay_effects_cb)(void *arg, const struct event *ev, const struct effects *fx);

/* Applies every journal record with seq >= from to d. Returns the number
 * of events applied (>= 0) or a negative code with a reason in errbuf
 * (a record that does not decode is damage: it stops the replay). */
int64_t replay_journal(struct journal *j, struct dispatch *d, uint64_t from, replay_effects_cb cb,
                       void *arg, char *errbuf, size_t errlen);

/* --- state digests ---------------------------------------------------- */

#define REPLAY_DIGEST_BYTES 32 /* SHA-256 */
#define REPLAY_DIGEST_HEX (2 * REPLAY_DIGEST_BYTES + 1)

/* SHA-256 of dispatch_encode(d): the durable state and its last seq.
 * Returns 0, or a negative code when the state cannot be encoded. */
int replay_digest(const struct dispatch *d, uint8_t out[REPLAY_DIGEST_BYTES] /* OUT */);
/* Lower-case hex of a digest, NUL-terminated. */
void replay_digest_hex(const uint8_t dg[REPLAY_DIGEST_BYTES], char out[REPLAY_DIGEST_HEX] /* OUT */);

/* --- golden files (doc/replay.md) ------------------------------------- */

/* Upper bounds a golden file's reader enforces. */
#define GOLDEN_BYTES_MAX ((size_t)64 << 20)   /* a whole file */
#define GOLDEN_LINE_BYTES_MAX ((size_t)1 << 20) /* one line (one stanza) */
#define GOLDEN_EFFECTS_MAX 4096                 /* expected effects of one event */

/* The first line of a golden file written by replay_golden_header. */
#define GOLDEN_MAGIC "# stanzad replay golden v1"

/* Appends the file header (GOLDEN_MAGIC and a pointer to the docs). */
void replay_golden_header(struct buf *out);
/* Appends one block: ev (seq not written; time written as recorded) and
 * the effects dispatch produced for it. ev and fx are borrowed. */
void replay_golden_block(const struct event *ev, const struct effects *fx, struct buf *out);

/* Parses a golden file (text, n bytes, borrowed), replays its events
 * into fresh handlers with seq 1, 2, ... and compares every produced
 * effect with the expected one, in order. Returns 0 when all match
 * (*events: events replayed), 1 on the first difference (described in
 * errbuf with the file's line number), or a negative code when the file
 * does not parse or dispatch refuses an event (reason in errbuf). */
int replay_golden_check(const char *text, size_t n, uint64_t *events /* OUT */, char *errbuf,
                        size_t errlen);

#endif
