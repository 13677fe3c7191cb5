/* journal internals shared by journal.c (open, recovery, reading),
 * commit.c (group commit) and compact.c (compaction). Nothing outside
 * journal/ includes this. The thread rules are in journal.c's header. */
#ifndef STANZAD_JOURNAL_INTERNAL_H
#define STANZAD_JOURNAL_INTERNAL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "journal/block.h"
#include "journal/erasure.h"
#include "journal/journal.h"
#include "kernel/buf.h"

#define SEGMENT_BYTES_DEFAULT (64u << 20) /* segment_bytes_max == 0 */
#define READ_CHUNK_BYTES (1u << 20)       /* read-ahead of a segment scan */
#define SEG_NAME_LEN 20                   /* 16 hex digits + ".seg" */
#define LOCK_NAME "LOCK"

struct jbatch {
    struct erasure_writes *keys; /* data-key slots its sealed records need */
    uint64_t first_seq;
    uint32_t count;
    struct buf area; /* the records, encoded (block.h) */
    size_t *ends;    /* ends[i]: end offset of record i in area */
    size_t cap;
    int lazy;        /* no fsync of its own under JOURNAL_SYNC_BATCH (journal_batch_lazy) */
};

struct journal {
    /* Fixed at open. */
    char *dir;
    int dir_fd;
    int lock_fd;
    uint8_t key[JOURNAL_KEY_LEN];
    enum journal_sync sync;
    uint64_t seg_max;
    journal_report_cb report;
    journal_segment_cb segment;
    void *report_arg;
    int ro;            /* opened read-only: nothing on disk changes */
    uint64_t tail_seg; /* ro and a torn tail left in place: reads of segment */
    uint64_t tail_len; /*   tail_seg stop at tail_len bytes (0: no such tail) */
    struct erasure *er; /* data keys of sealed records (erasure.h) */
    /* verify_on_read: segments that start before this seq were not
     * authenticated at open; the first journal_read does it (0: none). */
    uint64_t unverified_below;
    /* Loop thread. */
    uint64_t first_seq;
    uint64_t next_seq;
    struct jbatch *open;
    struct block_work rw; /* open and read */
    /* Commit side (and open/close). */
    uint64_t commit_seq; /* first seq of the next commit */
    uint64_t data_syncs; /* fdatasyncs of segment data (journal_data_syncs) */
    uint64_t synced_seq; /* every record up to it is durable (lazy batches lag behind) */
    /* Held by journal_commit and journal_sync_to: a sync on another thread
     * must not meet a commit switching segments. */
    pthread_mutex_t commit_lock;
    int readonly;
    int fd;              /* segment being written, or -1: the next commit starts one */
    uint64_t seg_first;  /* its first seq (its name) */
    uint64_t seg_len;    /* its length: everything before is durable per policy */
    uint64_t seg_blocks; /* blocks in it: the next block's nonce */
    struct seg_key seg_key;
    struct block_work cw;
    struct buf out;
    /* Segments on disk, by first seq (open fills, commit appends, compact
     * removes from the front). segs[0..nsegs_done) hold a committed
     * record; later ones are being started by a commit in flight. Open
     * and close use them alone; commit and compact under segs_lock. */
    pthread_mutex_t segs_lock;
    uint64_t *segs;
    size_t nsegs, nsegs_done, segs_cap;
};

void jnl_seg_name(uint64_t first_seq, char out[SEG_NAME_LEN + 1]);
void jnl_seg_path(const struct journal *j, uint64_t first_seq, char *out, size_t n);
/* Commit side: appends a segment just started (under segs_lock). */
void jnl_segs_push(struct journal *j, uint64_t first_seq);
int jnl_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off);
int jnl_sync_fd(int fd);   /* fdatasync: 0 or -errno */
int jnl_sync_full(int fd); /* fsync: 0 or -errno */
void jnl_report(const struct journal *j, const char *file, uint64_t off, uint64_t bytes,
                const char *reason);

#endif
