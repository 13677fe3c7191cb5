/* journal: the append-only, sealed log every event goes through.
 *
 * Segment files under one directory hold records framed with sequence,
 * time, type and payload; records are grouped in blocks (one block per
 * committed batch), each LZ4-compressed and sealed with AES-256-GCM under
 * the master key, the block header authenticated. The byte layout is in
 * doc/formats/journal.md.
 *
 * Group commit, in two halves so the event loop never waits on the disk:
 *   loop thread:   journal_append() ... journal_append(); b = journal_seal()
 *   one worker:    journal_commit(b)   (compress, seal, write, fsync)
 *   loop thread:   the batch's events are durable: apply them, answer.
 * At most one batch is committed at a time; appends go on meanwhile.
 *
 * Compaction (journal_compact) runs on the loop thread and may overlap a
 * commit: the commit writes only the newest segment, which compaction
 * never removes; the list of segments they share is behind a mutex.
 *
 * This interface is the seam for a second backend later (a replicated
 * stream): append a batch, wait until durable, read from a position. */
#ifndef STANZAD_JOURNAL_H
#define STANZAD_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define JOURNAL_KEY_LEN 32

enum journal_sync {
    JOURNAL_SYNC_ALWAYS, /* fsync after every record's write: slowest, a batch is one record */
    JOURNAL_SYNC_BATCH,  /* one fsync per batch before anyone is answered (default) */
    JOURNAL_SYNC_NONE,   /* no fsync: the OS writes when it likes; a power cut loses acknowledged events */
};

/* Something the reader skipped or cut, reported instead of guessed. */
typedef void (*journal_report_cb)(void *arg, const char *file, uint64_t offset, uint64_t bytes,
                                  const char *reason);

/* One segment as journal_open found it, once checked (for `stanzactl
 * journal verify`). Pointers are borrowed for the callback. */
struct journal_segment {
    const char *file;
    uint64_t first_seq;
    uint64_t last_seq; /* first_seq + records - 1 */
    uint64_t records;  /* 0 only in a header-only segment that is not the newest */
    uint64_t blocks;
    uint64_t bytes;    /* header and whole blocks; a torn tail after them is reported apart */
};
typedef void (*journal_segment_cb)(void *arg, const struct journal_segment *s);

struct journal_opts {
    const char *dir;                     /* segment directory; created if missing */
    uint8_t key[JOURNAL_KEY_LEN];        /* master key (AES-256) */
    enum journal_sync sync;
    uint64_t segment_bytes_max;          /* start a new segment past this size */
    journal_report_cb report;            /* may be NULL */
    void *report_arg;                    /* passed to report and segment */
    journal_segment_cb segment;          /* may be NULL: called by open for each good segment */
    /* Opens without changing anything on disk (offline tools): the
     * directory must exist, a torn tail is reported but neither cut nor
     * removed (reads stop before it), and journal_commit and
     * journal_compact refuse with -ERR_READONLY. */
    int readonly;
    /* Where a new journal (a directory with no segment) starts: its
     * first append gets this seq. 0 means 1. Ignored once a segment
     * exists. `stanzactl restore` sets it to the restored snapshot's
     * seq + 1, so the journal continues right after the snapshot. */
    uint64_t first_seq;
    /* For a caller that reads the whole journal right after open (the
     * server's replay), so every block is decrypted once, not twice:
     * open authenticates only the newest segment, the one recovery may
     * cut, and of the others checks the headers and the chain of block
     * headers (CRC, seqs, nonces) without decrypting. The first
     * journal_read then authenticates every block of those segments,
     * those before its `from` too, and fails as open would, naming the
     * file and offset. 0: open authenticates every block. */
    int verify_on_read;
};

/* Type bit of a record whose payload is sealed with its own data key
 * (journal_append_sealed); readers see the type without it. */
#define JREC_SEALED 0x8000u

/* One record as read back. Pointers are borrowed for the callback. */
struct jrec {
    uint64_t seq;
    int64_t time_us;
    uint16_t type;
    int erased;             /* sealed and its data key destroyed: no payload */
    const uint8_t *payload; /* sealed records: already opened */
    size_t len;
};

struct journal;
struct jbatch;

/* Opens (or creates) the journal and checks every segment: a torn tail
 * (a crash in mid-write) in the last segment is cut off and reported
 * (with o->readonly: only reported);
 * damage anywhere else (bad tag, bad checksum, sequence gap, missing
 * segment, wrong key) fails with a message naming file and offset in
 * errbuf. Returns 0 and *out, or a negative code. */
int journal_open(struct journal **out /* OUT */, const struct journal_opts *o, char *errbuf,
                 size_t errlen);
void journal_close(struct journal *j);

/* Calls cb for every record with seq >= from, in order. cb returns 0 to
 * go on or a negative code to stop (returned). Call before appending. */
int journal_read(struct journal *j, uint64_t from,
                 int (*cb)(void *arg, const struct jrec *r), void *arg, char *errbuf,
                 size_t errlen);

/* Loop thread; may overlap a journal_commit on a worker. Deletes, oldest
 * first, every segment whose records all have seq <= upto_seq (the next
 * segment starts at or below upto_seq + 1), but never the newest segment
 * that holds a committed record, nor any segment after it: the next
 * sequence number stays readable from the journal. Then fsyncs the
 * directory and moves journal_first_seq() up. Each deletion is reported
 * through opts->report (offset 0, the file's bytes). Returns the number
 * of segments removed (0: nothing to do), or a negative code with errbuf
 * set (the segments removed before the failure stay removed and
 * journal_first_seq() says so). Blocks for the unlinks and one directory
 * fsync. */
int journal_compact(struct journal *j, uint64_t upto_seq, char *errbuf, size_t errlen);

/* The sequence number the next append gets (1 for a new journal). */
uint64_t journal_next_seq(const struct journal *j);
/* The first sequence number still on disk (1 until compaction). Loop
 * thread. */
uint64_t journal_first_seq(const struct journal *j);

/* Loop thread. Copies the record into the open batch and returns its
 * sequence number. */
uint64_t journal_append(struct journal *j, uint16_t type, int64_t time_us, const uint8_t *payload,
                        size_t len);
/* Loop thread. Like journal_append, for a record carrying message
 * content: the payload is sealed with a data key of its own (see
 * journal/erasure.h), so journal_erase() can make it unreadable
 * everywhere at once. durable: the key must survive a crash (until
 * erased); otherwise it lives in memory only. type < JREC_SEALED. */
uint64_t journal_append_sealed(struct journal *j, uint16_t type, int64_t time_us, int durable,
                               const uint8_t *payload, size_t len);
/* Loop thread. Destroys the data key of record seq: its content is gone
 * from the journal and every copy of it. 1 if there was a key, 0 if not,
 * or a negative code when overwriting its slot failed. */
int journal_erase(struct journal *j, uint64_t seq);
/* Whether record seq's content is still readable, and each such seq. */
int journal_erasable(const struct journal *j, uint64_t seq);
void journal_erasable_each(const struct journal *j, void (*cb)(void *arg, uint64_t seq), void *arg);
size_t journal_erasable_count(const struct journal *j);

/* Loop thread. Closes the open batch and returns it (NULL when empty);
 * later appends go to a new batch. */
struct jbatch *journal_seal(struct journal *j);
/* Loop thread, before the commit. Under JOURNAL_SYNC_BATCH the batch is
 * written without an fsync of its own: it is durable once a later batch
 * is committed (or its segment is closed), and a crash before that may
 * tear it off the tail like any unsynced write. Only for batches whose
 * loss in a crash loses nothing anyone was told is safe. */
void journal_batch_lazy(struct jbatch *b);
/* Any thread. Makes every committed record up to seq durable: a no-op
 * unless lazy batches (journal_batch_lazy) lie at the tail, or under
 * JOURNAL_SYNC_NONE. For whoever records that state up to seq exists (a
 * snapshot must never cover events the journal could still lose).
 * Returns 0 or a negative code (-ERR_READONLY after a failed commit). */
int journal_sync_to(struct journal *j, uint64_t seq);
/* How many fdatasyncs of segment data commits and journal_sync_to have
 * made since open. Read it when neither runs. */
uint64_t journal_data_syncs(const struct journal *j);
/* First and last sequence numbers in a batch. */
void journal_batch_range(const struct jbatch *b, uint64_t *first /* OUT */, uint64_t *last /* OUT */);
/* Any one thread at a time (a libuv worker). Writes the batch and syncs
 * it per policy. Returns 0 once durable; on an I/O error (ENOSPC, EIO)
 * it removes any partial write, returns -errno, and the journal refuses
 * every later commit with -ERR_READONLY until reopened: the batch's
 * events must then be refused, never acknowledged. */
int journal_commit(struct journal *j, struct jbatch *b);
void journal_batch_free(struct jbatch *b);

/* Reads the master key from path, or creates it (32 random bytes, mode
 * 0600) when missing. If the environment variable STANZAD_JOURNAL_KEY
 * holds 64 hex digits, that key is used instead and no file is touched.
 * Returns 0 or a negative code with a reason in errbuf. */
int journal_key_load(const char *path, uint8_t key[JOURNAL_KEY_LEN] /* OUT */, char *errbuf,
                     size_t errlen);
/* The key from, in this order: STANZAD_JOURNAL_KEY; else the output of
 * `command` (config journal_key_command; NULL or "": none) run with
 * /bin/sh -c, 64 hex digits with optional surrounding white space, where
 * a failing command, no output or a malformed key is an error; else the
 * key file at path, made when missing only if `create` (the server;
 * offline tools pass 0). Returns 0 or a negative code with a reason in
 * errbuf, which never holds the key. */
int journal_key_obtain(const char *path, const char *command, int create,
                       uint8_t key[JOURNAL_KEY_LEN] /* OUT */, char *errbuf, size_t errlen);

#endif
