/* commit: group commit. The loop thread's half appends records to the
 * open batch and seals it; the worker's half writes the sealed batch (its
 * data keys first), syncs per policy, and undoes a failed write. See
 * journal.c for the thread rules and doc/formats/journal.md for the
 * bytes. */
#include "journal/journal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/internal.h"
#include "kernel/fileio.h"
#include "kernel/err.h"
#include "kernel/mem.h"
#include <mbedtls/platform_util.h>

/* ---- group commit: the loop thread's half ---- */

uint64_t journal_append(struct journal *j, uint16_t type, int64_t time_us, const uint8_t *payload,
                        size_t len)
{
    assert(len <= JOURNAL_PAYLOAD_BYTES_MAX);
    assert(payload != NULL || len == 0);
    struct jbatch *b = j->open;
    if (!b) {
        b = j->open = xcalloc(1, sizeof *b);
        b->first_seq = j->next_seq;
        buf_init(&b->area);
    }
    assert(b->count < UINT32_MAX);
    assert(b->first_seq + b->count == j->next_seq);
    if (b->count == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->ends = xrealloc(b->ends, b->cap * sizeof *b->ends);
    }
    record_put(&b->area, j->next_seq, time_us, type, payload, len);
    if (b->area.err) {
        fprintf(stderr, "stanzad: out of memory in journal_append\n");
        abort();
    }
    b->ends[b->count++] = b->area.len;
    return j->next_seq++;
}

uint64_t journal_append_sealed(struct journal *j, uint16_t type, int64_t time_us, int durable,
                               const uint8_t *payload, size_t len)
{
    assert(!(type & JREC_SEALED));
    struct buf sealed;
    buf_init(&sealed);
    erasure_seal(j->er, j->next_seq, durable, payload, len, &sealed);
    uint64_t seq = journal_append(j, type | JREC_SEALED, time_us, sealed.p, sealed.len);
    buf_free(&sealed); /* ciphertext: nothing to wipe */
    return seq;
}

int journal_erase(struct journal *j, uint64_t seq) { return erasure_destroy(j->er, seq); }
int journal_erasable(const struct journal *j, uint64_t seq) { return erasure_holds(j->er, seq); }

void journal_erasable_each(const struct journal *j, void (*cb)(void *arg, uint64_t seq), void *arg)
{
    erasure_each(j->er, cb, arg);
}

size_t journal_erasable_count(const struct journal *j) { return erasure_count(j->er); }

struct jbatch *journal_seal(struct journal *j)
{
    struct jbatch *b = j->open;
    j->open = NULL;
    if (b)
        b->keys = erasure_take(j->er);
    return b;
}

void journal_batch_lazy(struct jbatch *b) { b->lazy = 1; }

uint64_t journal_data_syncs(const struct journal *j) { return j->data_syncs; }

void journal_batch_range(const struct jbatch *b, uint64_t *first, uint64_t *last)
{
    assert(b->count >= 1);
    *first = b->first_seq;
    *last = b->first_seq + b->count - 1;
}

void journal_batch_free(struct jbatch *b)
{
    if (!b)
        return;
    buf_free(&b->area);
    free(b->ends);
    erasure_writes_free(b->keys);
    free(b);
}

/* ---- group commit: the worker's half ---- */

static void seg_leave(struct journal *j)
{
    close(j->fd);
    j->fd = -1;
    seg_key_free(&j->seg_key);
}

/* fdatasync of the open segment's data, counted. */
static int data_sync(struct journal *j)
{
    j->data_syncs++;
    return jnl_sync_fd(j->fd);
}

/* Starts segment first_seq: a fresh id and key, the header written and
 * fsynced, then the directory entry fsynced, before any block. */
static int seg_start(struct journal *j, uint64_t first_seq)
{
    struct seg_header h = {.first_seq = first_seq};
    uint8_t hdr[SEG_HDR_BYTES];
    char name[SEG_NAME_LEN + 1];
    int rc;
    if (j->fd >= 0) {
        if ((rc = data_sync(j))) /* whatever the policy: only the newest segment may tear */
            return rc;
        j->synced_seq = j->commit_seq - 1;
        seg_leave(j);
    }
    if ((rc = fileio_random(h.id, SEG_ID_BYTES)) || (rc = seg_key_init(&j->seg_key, j->key, h.id)))
        return rc;
    jnl_seg_name(first_seq, name);
    int fd = -1;
    if ((rc = seg_header_encode(&h, &j->seg_key, j->key, hdr)) == 0) {
        fd = openat(j->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        rc = fd < 0 ? -errno : 0;
    }
    if (rc == 0 && (rc = jnl_pwrite_all(fd, hdr, SEG_HDR_BYTES, 0)) == 0 &&
        (rc = jnl_sync_full(fd)) == 0)
        rc = jnl_sync_full(j->dir_fd);
    if (rc) {
        if (fd >= 0) {
            close(fd);
            (void)unlinkat(j->dir_fd, name, 0); /* best effort: open removes an empty segment */
            (void)fsync(j->dir_fd);
        }
        seg_key_free(&j->seg_key);
        return rc;
    }
    j->fd = fd;
    j->seg_first = first_seq;
    j->seg_len = SEG_HDR_BYTES;
    j->seg_blocks = 0;
    jnl_segs_push(j, first_seq);
    return 0;
}

static int out_flush(struct journal *j)
{
    if (j->out.len == 0)
        return 0;
    int rc = jnl_pwrite_all(j->fd, j->out.p, j->out.len, j->seg_len);
    if (rc)
        return rc;
    j->seg_len += j->out.len;
    buf_reset(&j->out);
    return j->sync == JOURNAL_SYNC_ALWAYS ? data_sync(j) : 0;
}

/* Cuts the batch into blocks (one per record under SYNC_ALWAYS), seals
 * and writes them at the tail. */
static int batch_write(struct journal *j, const struct jbatch *b)
{
    buf_reset(&j->out);
    for (uint32_t i = 0, k; i < b->count; i = k) {
        size_t start = i ? b->ends[i - 1] : 0;
        k = i + 1;
        while (j->sync != JOURNAL_SYNC_ALWAYS && k < b->count &&
               b->ends[k] - start <= BLOCK_RAW_TARGET)
            k++;
        /* The nonce counter moves even if this write fails: a failed
         * commit makes the journal read-only, so nothing reuses it. */
        int rc = block_seal(&j->cw, &j->seg_key, j->seg_blocks++, b->first_seq + i, k - i,
                            b->area.p + start, b->ends[k - 1] - start, &j->out);
        if (rc == 0 && (j->sync == JOURNAL_SYNC_ALWAYS || j->out.len >= BLOCK_RAW_TARGET))
            rc = out_flush(j);
        if (rc)
            return rc;
    }
    return out_flush(j);
}

/* Removes what a failed commit wrote (best effort) and closes the file. */
static void commit_undo(struct journal *j, uint64_t undo_len, int created)
{
    if (j->fd < 0)
        return;
    if (created) {
        char name[SEG_NAME_LEN + 1];
        jnl_seg_name(j->seg_first, name);
        seg_leave(j);
        (void)unlinkat(j->dir_fd, name, 0);
        (void)fsync(j->dir_fd);
        pthread_mutex_lock(&j->segs_lock);
        assert(j->nsegs > j->nsegs_done); /* compaction never removed it */
        j->nsegs--;
        pthread_mutex_unlock(&j->segs_lock);
        return;
    }
    if (ftruncate(j->fd, (off_t)undo_len) == 0)
        (void)fdatasync(j->fd);
    j->seg_len = undo_len;
    seg_leave(j);
}

static int commit_locked(struct journal *j, struct jbatch *b)
{
    assert(b != NULL);
    assert(b->count >= 1);
    if (j->readonly)
        return -ERR_READONLY;
    assert(b->first_seq == j->commit_seq); /* batches are committed in seal order */
    int rc = 0, created = 0;
    if (j->fd < 0 || j->seg_len >= j->seg_max) {
        rc = seg_start(j, b->first_seq);
        created = rc == 0;
    }
    uint64_t undo_len = j->seg_len;
    /* The data keys first: a durable record must never outlive its key. */
    if (rc == 0)
        rc = erasure_write(j->er, b->keys, j->sync != JOURNAL_SYNC_NONE);
    if (rc == 0)
        rc = batch_write(j, b);
    int synced = j->sync == JOURNAL_SYNC_ALWAYS;
    if (rc == 0 && j->sync == JOURNAL_SYNC_BATCH && !b->lazy) {
        rc = data_sync(j);
        synced = 1;
    }
    if (rc) {
        commit_undo(j, undo_len, created);
        j->readonly = 1;
        return rc;
    }
    j->commit_seq += b->count;
    if (synced)
        j->synced_seq = j->commit_seq - 1;
    pthread_mutex_lock(&j->segs_lock);
    j->nsegs_done = j->nsegs; /* the newest segment now holds a record */
    pthread_mutex_unlock(&j->segs_lock);
    return 0;
}

int journal_commit(struct journal *j, struct jbatch *b)
{
    pthread_mutex_lock(&j->commit_lock);
    int rc = commit_locked(j, b);
    pthread_mutex_unlock(&j->commit_lock);
    return rc;
}

int journal_sync_to(struct journal *j, uint64_t seq)
{
    pthread_mutex_lock(&j->commit_lock);
    int rc = 0;
    if (j->readonly)
        rc = -ERR_READONLY;
    else if (j->sync != JOURNAL_SYNC_NONE && j->synced_seq < seq && j->fd >= 0) {
        rc = data_sync(j);
        if (rc == 0)
            j->synced_seq = j->commit_seq - 1;
    }
    pthread_mutex_unlock(&j->commit_lock);
    return rc;
}
