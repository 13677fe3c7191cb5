/* erasure: crypto-erasure of message content in the journal.
 *
 * A record that carries message content (a message stanza, an offline
 * message) is sealed a second time, inside its block, with a data key of
 * its own. The data keys live in a small rewritable table beside the
 * segments (<journal dir>/erasure.keys), each wrapped with a key derived
 * from the master key, so the table alone is useless. Destroying a key
 * overwrites its slot in place: from then on the record's content cannot
 * be read from the journal or from any copy of it, even with the master
 * key, long before compaction removes the segment. What stays readable is
 * the record's frame: sequence number, time and event type.
 *
 * File layout (doc/formats/journal.md, "Erasure key table"):
 *   header: "STZERAS1" u32le version (1) u32le slot size (40)
 *   slots:  u64le seq (0: free) then 32 bytes: data key XOR
 *           HMAC-SHA256(wrap key, "slot" || u64le seq)
 *
 * Threads: seal, destroy, holds and each run on the loop thread; a seal
 * only reserves a slot, and its write travels with the journal batch
 * (erasure_take) to the commit worker, which writes and syncs the table
 * before the batch itself (erasure_write). A destroy overwrites the slot
 * at once, from the loop thread; the next commit syncs it.
 *
 * Keys that only need to live until the record is applied (a message
 * stanza) never reach the table at all: see erasure_seal. */
#ifndef STANZAD_ERASURE_H
#define STANZAD_ERASURE_H

#include <stddef.h>
#include <stdint.h>

#include "kernel/buf.h"

#define ERASURE_FILE "erasure.keys"
#define ERASURE_KEY_LEN 32
#define ERASURE_TAG_LEN 16 /* a sealed payload is this much longer */

struct erasure;
struct erasure_writes; /* slot writes reserved since the last take */

/* Opens (or, unless readonly, creates) the table at dir/erasure.keys,
 * with the journal's master key. A damaged table fails with a reason in
 * errbuf: the journal must not open without it. */
int erasure_open(struct erasure **out /* OUT */, const char *dir, const uint8_t master[32],
                 int readonly, char *errbuf, size_t errlen);
/* Writes back pending destroys (best effort) and frees. */
void erasure_close(struct erasure *e);

/* Seals payload p[0..n) of record seq under a new data key and appends
 * the ciphertext and its tag to out. A durable key reserves a slot in the
 * table (written by the next erasure_write): content that must survive a
 * crash (an offline message). Any other key is held in memory only until
 * destroyed, so a crash erases that content (a message already routed:
 * replay never delivers it again). */
void erasure_seal(struct erasure *e, uint64_t seq, int durable, const uint8_t *p, size_t n,
                  struct buf *out);
/* Opens a sealed payload into out. -ERR_NOTFOUND when the key is gone
 * (the content is erased), -ERR_CORRUPT when the tag does not match. */
int erasure_unseal(struct erasure *e, uint64_t seq, const uint8_t *p, size_t n, struct buf *out);
/* Destroys the key of seq: its slot is overwritten with zeros now.
 * Returns 1 if there was one, 0 if not, or a negative code when the
 * overwrite failed (the key is forgotten in memory either way). */
int erasure_destroy(struct erasure *e, uint64_t seq);
int erasure_holds(const struct erasure *e, uint64_t seq);
/* Number of keys held, and each of their seqs (in no order). */
size_t erasure_count(const struct erasure *e);
void erasure_each(const struct erasure *e, void (*cb)(void *arg, uint64_t seq), void *arg);

/* Loop thread: the slot writes reserved so far (NULL if none); they go
 * with the batch being sealed. */
struct erasure_writes *erasure_take(struct erasure *e);
/* Commit worker: writes the slots and, when sync, fsyncs the table
 * (with any destroys since). 0 or -errno. */
int erasure_write(struct erasure *e, const struct erasure_writes *w, int sync);
void erasure_writes_free(struct erasure_writes *w);

#endif
