/* snapshot: files holding the durable state at one journal sequence number.
 *
 * A snapshot file carries the bytes of dispatch_encode (opaque here), the
 * sequence number they cover (the state after applying every event up to
 * and including it) and the time it was taken; the body is LZ4-compressed
 * and sealed with AES-256-GCM under a key derived from the journal's
 * master key, the header being the additional authenticated data. Start
 * is the newest usable snapshot plus a replay of the journal after it
 * (DESIGN.md, "Snapshot, replay, compaction").
 *
 * Every constant that fixes the layout is here, each with its offset; the
 * grammar, a worked example, the rule for a valid file and the recovery
 * rules are in doc/formats/snapshot.md.
 *
 * Files live in one directory (<data_dir>/snapshots/), named by the
 * sequence number they cover. A write goes to a temporary file that is
 * fsynced and renamed, so a crash leaves the old set of snapshots or the
 * new one complete, never a half file under a final name.
 *
 * Threads: every function may run on any one thread (a libuv worker for
 * snapshot_write), but snapshot_list, snapshot_load_newest and
 * snapshot_prune remove leftover temporary files, so none of them may run
 * while a snapshot_write on the same directory is in flight. */
#ifndef STANZAD_SNAPSHOT_H
#define STANZAD_SNAPSHOT_H

#include <lz4.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/journal.h"
#include "kernel/buf.h"

#define SNAPSHOT_FORMAT_VERSION 1

/* Header, 76 bytes, then the sealed body (body_len bytes), then the tag. */
#define SNAPSHOT_MAGIC "SZSNAPSH"    /* off 0, 8 bytes */
#define SNAPSHOT_MAGIC_BYTES 8
#define SNAPSHOT_OFF_VERSION 8       /* u16 */
#define SNAPSHOT_OFF_FLAGS 10        /* u16, 0: a reader refuses any other value */
#define SNAPSHOT_OFF_CODEC 12        /* u8: SNAPSHOT_CODEC_* */
#define SNAPSHOT_OFF_RESERVED 13     /* 3 bytes of 0 */
#define SNAPSHOT_OFF_SEQ 16          /* u64: sequence number covered, = file name, >= 1 */
#define SNAPSHOT_OFF_TIME 24         /* i64: time taken, us since 1970 */
#define SNAPSHOT_OFF_RAW_LEN 32      /* u64: bytes of the state */
#define SNAPSHOT_OFF_BODY_LEN 40     /* u64: bytes of the sealed body */
#define SNAPSHOT_OFF_SALT 48         /* 16 random bytes: salt of the file key */
#define SNAPSHOT_OFF_KEY_CHECK 64    /* 8 bytes: the journal's key check value */
#define SNAPSHOT_OFF_CRC 72          /* u32 CRC32C of bytes 0..71 */
#define SNAPSHOT_HDR_BYTES 76
#define SNAPSHOT_RESERVED_BYTES 3
#define SNAPSHOT_SALT_BYTES 16
#define SNAPSHOT_KEY_CHECK_BYTES 8
#define SNAPSHOT_NONCE_BYTES 12      /* all zero: each file key seals one body */
#define SNAPSHOT_TAG_BYTES 16        /* after the body; AAD = the 76 header bytes */
#define SNAPSHOT_CODEC_STORED 0
#define SNAPSHOT_CODEC_LZ4 1

/* snapshot_write refuses larger state with -ERR_LIMIT and writes nothing
 * (the journal is then not compacted: nothing is lost, the disk grows); a
 * reader calls a larger raw_len damage. Below LZ4_MAX_INPUT_SIZE. */
#define SNAPSHOT_BYTES_MAX ((uint64_t)1 << 30)
/* A reader calls a larger file damage before allocating anything. */
#define SNAPSHOT_FILE_BYTES_MAX \
    ((uint64_t)SNAPSHOT_HDR_BYTES + LZ4_COMPRESSBOUND(SNAPSHOT_BYTES_MAX) + SNAPSHOT_TAG_BYTES)
#define SNAPSHOT_FILE_BYTES_MIN (SNAPSHOT_HDR_BYTES + SNAPSHOT_TAG_BYTES)
/* snapshot_list fails with -ERR_LIMIT past this many snapshots in one
 * directory: pruning keeps a handful, so more means something is wrong. */
#define SNAPSHOT_FILES_MAX 100000

/* "<16 lower-case hex>.snap" and its NUL. */
#define SNAPSHOT_NAME_BYTES 22

/* A file that was not used, and why: code is the negative code that made
 * a snapshot unusable, or 0 for a note (a leftover temporary file removed,
 * a stray name ignored). file and reason are borrowed for the call. */
typedef void (*snapshot_report_cb)(void *arg, const char *file, int code, const char *reason);

/* The caller's verdict on a loaded state: 0 accepts it, a negative code
 * rejects it (the snapshot is then reported and the next older is tried).
 * state is borrowed for the call. This is where the caller decodes it
 * with dispatch_decode and checks that the journal still holds seq + 1
 * onward. */
typedef int (*snapshot_accept_cb)(void *arg, uint64_t seq, int64_t time_us, const uint8_t *state,
                                  size_t len);

/* Writes "<16 hex of seq>.snap" into out. */
void snapshot_name(uint64_t seq, char out[SNAPSHOT_NAME_BYTES] /* OUT */);

/* Seals a snapshot of state (len bytes, seq >= 1) with the given salt and
 * appends the whole file's bytes to out. Pure: no I/O, no clock, no
 * random (snapshot_write draws the salt); the worked example and fuzzing
 * use it. Returns 0, -ERR_LIMIT (len > SNAPSHOT_BYTES_MAX) or
 * -ERR_CRYPTO. state is borrowed for the call. */
int snapshot_seal(const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq, int64_t time_us,
                  const uint8_t salt[SNAPSHOT_SALT_BYTES], const uint8_t *state, size_t len,
                  struct buf *out);

/* Checks a whole file's bytes (file, n bytes, borrowed) against the rule
 * for a valid file, expecting it to cover seq (the file name's). Returns
 * 0 with *state (memory the caller frees with free(), never NULL), *len
 * and *time_us set; or -ERR_CORRUPT, -ERR_VERSION or -ERR_CRYPTO (wrong
 * key) with a static reason in *why and the out-parameters untouched. */
int snapshot_open(const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq, const uint8_t *file, size_t n,
                  uint8_t **state /* OUT */, size_t *len /* OUT */, int64_t *time_us /* OUT */,
                  const char **why /* OUT */);

/* Writes the snapshot of state (len bytes) covering seq (>= 1), taken at
 * time_us, into dir: a temporary file, fsynced, renamed to its final name
 * (replacing a snapshot of the same seq), then the directory fsynced. The
 * sealed bytes are opened and compared in memory before they are written.
 * Creates dir (0700) if missing; files are 0600. Returns 0, or a negative
 * code with a reason naming the file in errbuf (nothing is left behind
 * but, after a crash, a temporary file the next listing removes).
 * state is borrowed for the call. */
int snapshot_write(const char *dir, const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq,
                   int64_t time_us, const uint8_t *state, size_t len, char *errbuf, size_t errlen);

/* Lists the sequence numbers of the snapshots in dir, newest first, in
 * memory the caller frees with free() (*seqs is NULL when *n is 0).
 * Removes leftover temporary files and reports each; reports and ignores
 * "*.snap" files with bad names. A missing dir holds no snapshot.
 * report may be NULL. Returns 0, or a negative code with errbuf set (and
 * *seqs NULL, *n 0). */
int snapshot_list(const char *dir, uint64_t **seqs /* OUT */, size_t *n /* OUT */,
                  snapshot_report_cb report, void *arg, char *errbuf, size_t errlen);

/* Reads and checks dir's snapshot of seq (see snapshot_open). Returns 0
 * with *state (memory the caller frees with free(), never NULL), *len and
 * *time_us set, or a negative code (-ENOENT for a missing file, the codes
 * of snapshot_open, -errno) with errbuf naming the file and the reason. */
int snapshot_load(const char *dir, const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq,
                  uint8_t **state /* OUT */, size_t *len /* OUT */, int64_t *time_us /* OUT */,
                  char *errbuf, size_t errlen);

/* Tries dir's snapshots newest first: loads each and hands it to accept;
 * a snapshot that fails its checks or that accept rejects is reported
 * (report(arg, path, code, reason)) and the next older one is tried.
 * Returns 0 with *seq the accepted snapshot's sequence number, or with
 * *seq = 0 when none is usable (every failure reported: the caller then
 * replays the journal from its start). Returns a negative code, with
 * errbuf set and accept never called, only when dir cannot be listed.
 * accept must not be NULL; report may be NULL. */
int snapshot_load_newest(const char *dir, const uint8_t key[JOURNAL_KEY_LEN],
                         uint64_t *seq /* OUT */, snapshot_accept_cb accept,
                         snapshot_report_cb report, void *arg, char *errbuf, size_t errlen);

/* Removes every snapshot in dir but the newest keep (keep >= 1), by name,
 * then fsyncs the directory. report (may be NULL) hears of leftover
 * temporary files removed on the way. Returns the number of snapshots
 * removed, or a negative code with errbuf set (it stops at the first file
 * it cannot remove). */
int snapshot_prune(const char *dir, size_t keep, snapshot_report_cb report, void *arg,
                   char *errbuf, size_t errlen);

#endif
