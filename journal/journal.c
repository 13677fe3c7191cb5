/* journal: segment files, recovery at open, group commit, reading back.
 *
 * The bytes are block.c's (doc/formats/journal.md); this file owns the
 * files: which segment is written, when one starts, what open cuts as a
 * torn tail and what it refuses as damage, and how a failed commit is
 * undone. The rules are in the doc's "Recovery rules" and "Sync policy".
 *
 * Threads: journal_append/journal_seal (loop thread) touch only the open
 * batch and next_seq; journal_commit (one worker at a time) touches only
 * the batch it was given and the write state (fd, segment, commit_seq,
 * readonly). The two sets of fields never overlap, so the halves need no
 * lock. journal_open/read/close run on the loop thread with no commit in
 * flight. journal_compact (loop thread) may overlap a commit: they share
 * only the segment list (segs, nsegs, nsegs_done), which segs_lock
 * guards. Compaction unlinks only segments before the newest one that
 * holds a committed record (nsegs_done - 1), and a commit writes only
 * that one or a newer one, so no file is ever written and removed at
 * once, and a commit that fails and removes the segment it started can
 * never leave the journal without its newest record. */
#include "journal/journal.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <mbedtls/platform_util.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/block.h"
#include "journal/erasure.h"
#include "kernel/err.h"
#include "kernel/fileio.h"
#include "kernel/mem.h"

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
    /* Loop thread. */
    uint64_t first_seq;
    uint64_t next_seq;
    struct jbatch *open;
    struct block_work rw; /* open and read */
    /* Commit side (and open/close). */
    uint64_t commit_seq; /* first seq of the next commit */
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

/* ---- small helpers ---- */

static void seg_name(uint64_t first_seq, char out[SEG_NAME_LEN + 1])
{
    snprintf(out, SEG_NAME_LEN + 1, "%016" PRIx64 ".seg", first_seq);
}

static void seg_path(const struct journal *j, uint64_t first_seq, char *out, size_t n)
{
    char name[SEG_NAME_LEN + 1];
    seg_name(first_seq, name);
    snprintf(out, n, "%s/%s", j->dir, name);
}

/* Parses "<16 lower-case hex>.seg"; returns 0 when name is not one. */
static uint64_t seg_name_parse(const char *name)
{
    if (strlen(name) != SEG_NAME_LEN || strcmp(name + 16, ".seg") != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    return v;
}

/* Commit side: appends a segment just started (under segs_lock). */
static void segs_push(struct journal *j, uint64_t first_seq)
{
    pthread_mutex_lock(&j->segs_lock);
    if (j->nsegs == j->segs_cap) {
        j->segs_cap = j->segs_cap ? j->segs_cap * 2 : 16;
        j->segs = xrealloc(j->segs, j->segs_cap * sizeof *j->segs);
    }
    assert(j->nsegs == 0 || j->segs[j->nsegs - 1] < first_seq);
    j->segs[j->nsegs++] = first_seq;
    pthread_mutex_unlock(&j->segs_lock);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t w = pwrite(fd, p, n, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int sync_fd(int fd) { return fdatasync(fd) ? -errno : 0; }
static int sync_full(int fd) { return fsync(fd) ? -errno : 0; }

static void report(const struct journal *j, const char *file, uint64_t off, uint64_t bytes,
                   const char *reason)
{
    if (j->report)
        j->report(j->report_arg, file, off, bytes, reason);
}

/* ---- reading a segment block by block ---- */

/* A cursor over one segment file: a read-ahead buffer and the position of
 * the next block, its index (nonce) and expected first seq. */
struct cursor {
    const char *path;
    int fd;
    uint64_t size;
    struct seg_key key;
    int have_key;
    uint64_t off, index, expect;
    uint8_t *buf;
    size_t cap, len;
    uint64_t buf_off;
    /* Failure: reason, and whether it looks like a crash (doc). */
    const char *why;
    char detail[160];
    int torn;
    int stopped; /* the callback asked to stop: its code, no message */
};

/* Points *p at n bytes at file offset off (off + n <= size). */
static int cur_bytes(struct cursor *c, uint64_t off, size_t n, const uint8_t **p)
{
    assert(off + n <= c->size);
    if (off >= c->buf_off && off + n <= c->buf_off + c->len) {
        *p = c->buf + (off - c->buf_off);
        return 0;
    }
    size_t want = n > READ_CHUNK_BYTES ? n : READ_CHUNK_BYTES;
    if (want > c->size - off)
        want = (size_t)(c->size - off);
    if (want > c->cap) {
        free(c->buf);
        c->buf = xmalloc(want);
        c->cap = want;
    }
    c->buf_off = off;
    c->len = 0;
    while (c->len < want) {
        ssize_t r = pread(c->fd, c->buf + c->len, want - c->len, (off_t)(off + c->len));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO; /* the file shrank under us */
        c->len += (size_t)r;
    }
    *p = c->buf;
    return 0;
}

static void cur_close(struct cursor *c)
{
    if (c->have_key)
        seg_key_free(&c->key);
    if (c->fd >= 0)
        close(c->fd);
    free(c->buf);
}

static int cur_fail(struct cursor *c, int rc, int torn, const char *why)
{
    c->why = why;
    c->torn = torn;
    return rc;
}

/* Checks the records of the block just opened (rule 7) and, when cb is
 * set, calls it for those with seq >= from. */
static int cur_records(struct cursor *c, struct block_work *w, const struct block_hdr *h,
                       uint64_t from, int (*cb)(void *, const struct jrec *), void *arg)
{
    for (int pass = 0; pass < (cb ? 2 : 1); pass++) {
        struct rd r;
        struct jrec rec;
        const char *why;
        rd_init(&r, w->raw.p, w->raw.len);
        for (uint32_t i = 0; i < h->count; i++) {
            if (record_next(&r, &rec, &why))
                return cur_fail(c, -ERR_CORRUPT, 0, why);
            if (rec.seq != h->first_seq + i) {
                snprintf(c->detail, sizeof c->detail, "record %" PRIu32 " has seq %" PRIu64
                         ", expected %" PRIu64, i, rec.seq, h->first_seq + i);
                return cur_fail(c, -ERR_SEQ, 0, c->detail);
            }
            if (pass == 1 && rec.seq >= from) {
                int rc = cb(arg, &rec);
                if (rc) {
                    c->stopped = 1;
                    return cur_fail(c, rc, 0, "stopped by the callback");
                }
            }
        }
        if (rd_left(&r) != 0)
            return cur_fail(c, -ERR_CORRUPT, 0, "bytes after the block's last record");
    }
    return 0;
}

/* Reads, checks and (when cb is set) delivers the block at c->off, then
 * moves past it. Blocks wholly before `from` are only header-checked when
 * skip is set. Returns 0, or a code with c->why and c->torn set. */
static int cur_block(struct cursor *c, struct block_work *w, uint64_t from, int skip,
                     int (*cb)(void *, const struct jrec *), void *arg)
{
    const uint8_t *p;
    struct block_hdr h;
    const char *why;
    uint64_t rest = c->size - c->off;
    if (rest < BLOCK_HDR_BYTES)
        return cur_fail(c, -ERR_CORRUPT, 1, "incomplete block header");
    int rc = cur_bytes(c, c->off, BLOCK_HDR_BYTES, &p);
    if (rc)
        return cur_fail(c, rc, 0, err_str(rc));
    if ((rc = block_hdr_decode(p, &h, &why)))
        return cur_fail(c, rc, block_has_zero_sector(p, BLOCK_HDR_BYTES, c->off), why);
    if (h.len > rest)
        return cur_fail(c, -ERR_CORRUPT, 1, "incomplete block");
    /* Reading from a later seq, a block wholly before it is only header-
     * checked: open already verified it, and its place must still fit. */
    if (skip && h.first_seq + h.count <= from && h.first_seq == c->expect && h.index == c->index) {
        c->off += h.len;
        c->index++;
        c->expect += h.count;
        return 0;
    }
    if ((rc = cur_bytes(c, c->off, h.len, &p)))
        return cur_fail(c, rc, 0, err_str(rc));
    if ((rc = block_open(w, &c->key, &h, p, c->index, &why))) {
        int torn = h.len == rest && block_has_zero_sector(p, h.len, c->off);
        return cur_fail(c, rc, torn, why);
    }
    if (h.first_seq != c->expect) {
        snprintf(c->detail, sizeof c->detail,
                 "block starts at seq %" PRIu64 ", expected %" PRIu64, h.first_seq, c->expect);
        return cur_fail(c, -ERR_SEQ, 0, c->detail);
    }
    if ((rc = cur_records(c, w, &h, from, cb, arg)))
        return rc;
    c->off += h.len;
    c->index++;
    c->expect += h.count;
    return 0;
}

/* Opens segment `first` for reading and checks its header (doc: segment
 * header); on success the cursor stands at the first block. */
static int cur_open(struct journal *j, struct cursor *c, const char *path, uint64_t first)
{
    char name[SEG_NAME_LEN + 1];
    struct seg_header h;
    const uint8_t *p;
    struct stat st;
    memset(c, 0, sizeof *c);
    c->path = path;
    seg_name(first, name);
    c->fd = openat(j->dir_fd, name, O_RDONLY | O_CLOEXEC);
    if (c->fd < 0 || fstat(c->fd, &st) != 0)
        return cur_fail(c, -errno, 0, strerror(errno));
    c->size = (uint64_t)st.st_size;
    if (c->size < SEG_HDR_BYTES)
        return cur_fail(c, -ERR_CORRUPT, 1, "incomplete segment header");
    int rc = cur_bytes(c, 0, SEG_HDR_BYTES, &p);
    if (rc)
        return cur_fail(c, rc, 0, err_str(rc));
    if ((rc = seg_header_decode(p, j->key, &h, &c->key, &c->why))) {
        c->torn = rc == -ERR_CORRUPT && block_has_zero_sector(p, SEG_HDR_BYTES, 0);
        return rc;
    }
    c->have_key = 1;
    if (h.first_seq != first)
        return cur_fail(c, -ERR_CORRUPT, 0, "segment header first_seq differs from the file name");
    c->off = SEG_HDR_BYTES;
    c->expect = first;
    return 0;
}

/* ---- open: recovery ---- */

/* Removes the last segment, which holds no block (its creation crashed,
 * or its only blocks were a torn tail). */
static int seg_remove_last(struct journal *j, const char *path, uint64_t size, const char *why,
                           char *errbuf, size_t errlen)
{
    char name[SEG_NAME_LEN + 1], reason[256];
    if (j->ro) {
        j->nsegs--; /* not read; the next read-write open removes it */
        snprintf(reason, sizeof reason, "torn tail: %s; the segment holds no complete block (left "
                 "in place: opened read-only; the next start removes it)", why);
        report(j, path, 0, size, reason);
        return 0;
    }
    seg_name(j->segs[j->nsegs - 1], name);
    if (unlinkat(j->dir_fd, name, 0) != 0 || sync_full(j->dir_fd) != 0)
        return err_fail(errbuf, errlen, -errno, "journal: %s: cannot remove empty segment: %s", path,
                    strerror(errno));
    j->nsegs--;
    snprintf(reason, sizeof reason, "torn tail: %s; the segment held no complete block and was removed",
             why);
    report(j, path, 0, size, reason);
    return 0;
}

/* Cuts the torn tail of the last segment at off. */
static int seg_cut(struct journal *j, const char *path, uint64_t off, uint64_t size,
                   const char *why, char *errbuf, size_t errlen)
{
    char name[SEG_NAME_LEN + 1], reason[256];
    if (j->ro) {
        j->tail_seg = j->segs[j->nsegs - 1];
        j->tail_len = off;
        snprintf(reason, sizeof reason, "torn tail: %s (left in place: opened read-only; the "
                 "next start cuts it)", why);
        report(j, path, off, size - off, reason);
        return 0;
    }
    seg_name(j->segs[j->nsegs - 1], name);
    int fd = openat(j->dir_fd, name, O_WRONLY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : 0;
    if (rc == 0 && ftruncate(fd, (off_t)off) != 0)
        rc = -errno;
    if (rc == 0)
        rc = sync_fd(fd);
    if (fd >= 0)
        close(fd);
    if (rc)
        return err_fail(errbuf, errlen, rc, "journal: %s: cannot cut torn tail at offset %" PRIu64
                    ": %s", path, off, err_str(rc));
    snprintf(reason, sizeof reason, "torn tail: %s", why);
    report(j, path, off, size - off, reason);
    return 0;
}

/* Tells opts->segment about segment `first`, checked up to c->off. */
static void seg_announce(const struct journal *j, const char *path, uint64_t first,
                         const struct cursor *c)
{
    if (!j->segment)
        return;
    assert(c->expect >= first);
    struct journal_segment info = {
        .file = path,
        .first_seq = first,
        .last_seq = c->expect - 1,
        .records = c->expect - first,
        .blocks = c->index,
        .bytes = c->off,
    };
    j->segment(j->report_arg, &info);
}

/* Verifies segment i; *expect is the seq it must start at and becomes
 * the seq after its last record. Applies the torn-tail rules to the last
 * segment; anything else that is wrong fails. */
static int seg_scan(struct journal *j, size_t i, uint64_t *expect, char *errbuf, size_t errlen)
{
    char path[PATH_MAX];
    struct cursor c;
    int last = i + 1 == j->nsegs;
    seg_path(j, j->segs[i], path, sizeof path);
    if (j->segs[i] != *expect)
        return err_fail(errbuf, errlen, -ERR_SEQ, "journal: %s: offset 0: missing segment: this one "
                    "starts at seq %" PRIu64 ", the journal needs seq %" PRIu64 " next",
                    path, j->segs[i], *expect);
    int rc = cur_open(j, &c, path, j->segs[i]);
    while (rc == 0 && c.off < c.size)
        rc = cur_block(&c, &j->rw, UINT64_MAX, 0, NULL, NULL);
    if (rc && !(last && c.torn)) {
        rc = err_fail(errbuf, errlen, rc, "journal: %s: offset %" PRIu64 ": %s", path, c.off, c.why);
    } else if (rc && c.index > 0) {
        rc = seg_cut(j, path, c.off, c.size, c.why, errbuf, errlen);
        *expect = c.expect;
        if (rc == 0)
            seg_announce(j, path, j->segs[i], &c);
    } else if (rc || (last && c.index == 0)) {
        /* No block survives: removing the file loses no record, and the
         * name is free for the segment the next commit starts. */
        rc = seg_remove_last(j, path, c.size, rc ? c.why : "segment has no block", errbuf, errlen);
    } else {
        *expect = c.expect;
        seg_announce(j, path, j->segs[i], &c);
    }
    cur_close(&c);
    return rc;
}

static int mkdir_p(const char *dir)
{
    char *p = xstrdup(dir);
    int rc = 0;
    for (char *s = p + 1; *s && rc == 0; s++) {
        if (*s != '/')
            continue;
        *s = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            rc = -errno;
        *s = '/';
    }
    if (rc == 0 && mkdir(p, 0700) != 0 && errno != EEXIST)
        rc = -errno;
    free(p);
    return rc;
}

/* Creates the directory (unless read-only), opens it and takes the lock.
 * Read-only, a missing LOCK is not made: no process has that journal
 * open, so there is nothing to exclude. */
static int dir_prepare(struct journal *j, char *errbuf, size_t errlen)
{
    int rc = j->ro ? 0 : mkdir_p(j->dir);
    if (rc)
        return err_fail(errbuf, errlen, rc, "journal: cannot create %s: %s", j->dir, err_str(rc));
    j->dir_fd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (j->dir_fd < 0)
        return err_fail(errbuf, errlen, -errno, "journal: cannot open %s: %s", j->dir, strerror(errno));
    j->lock_fd = j->ro ? openat(j->dir_fd, LOCK_NAME, O_RDONLY | O_CLOEXEC)
                       : openat(j->dir_fd, LOCK_NAME, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (j->lock_fd < 0 && j->ro && errno == ENOENT)
        return 0;
    if (j->lock_fd < 0)
        return err_fail(errbuf, errlen, -errno, "journal: %s/%s: %s", j->dir, LOCK_NAME,
                    strerror(errno));
    if (flock(j->lock_fd, LOCK_EX | LOCK_NB) != 0)
        return errno == EWOULDBLOCK
                   ? err_fail(errbuf, errlen, -ERR_LOCKED, "journal: %s is open in another process "
                          "(or twice in this one)", j->dir)
                   : err_fail(errbuf, errlen, -errno, "journal: %s/%s: %s", j->dir, LOCK_NAME,
                          strerror(errno));
    return 0;
}

static int segs_list(struct journal *j, char *errbuf, size_t errlen)
{
    DIR *d = opendir(j->dir);
    if (!d)
        return err_fail(errbuf, errlen, -errno, "journal: cannot list %s: %s", j->dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        uint64_t seq = seg_name_parse(e->d_name);
        size_t n = strlen(e->d_name);
        if (seq == 0 && n > 4 && strcmp(e->d_name + n - 4, ".seg") == 0) {
            char path[PATH_MAX];
            struct stat st;
            snprintf(path, sizeof path, "%s/%s", j->dir, e->d_name);
            uint64_t size = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
            report(j, path, 0, size, "not a segment name (16 hex digits, at least 1): ignored");
        }
        if (seq == 0)
            continue;
        if (j->nsegs == j->segs_cap) {
            j->segs_cap = j->segs_cap ? j->segs_cap * 2 : 16;
            j->segs = xrealloc(j->segs, j->segs_cap * sizeof *j->segs);
        }
        j->segs[j->nsegs++] = seq;
    }
    closedir(d);
    if (j->nsegs)
        qsort(j->segs, j->nsegs, sizeof *j->segs, cmp_u64);
    return 0;
}

int journal_open(struct journal **out, const struct journal_opts *o, char *errbuf, size_t errlen)
{
    *out = NULL;
    if (!o || !o->dir || !*o->dir || o->sync > JOURNAL_SYNC_NONE)
        return err_fail(errbuf, errlen, -ERR_INVAL, "journal: bad options (dir, sync)");
    struct journal *j = xcalloc(1, sizeof *j);
    j->dir = xstrdup(o->dir);
    j->dir_fd = j->lock_fd = j->fd = -1;
    memcpy(j->key, o->key, JOURNAL_KEY_LEN);
    j->sync = o->sync;
    j->seg_max = o->segment_bytes_max ? o->segment_bytes_max : SEGMENT_BYTES_DEFAULT;
    j->report = o->report;
    j->segment = o->segment;
    j->report_arg = o->report_arg;
    j->ro = j->readonly = o->readonly != 0;
    pthread_mutex_init(&j->segs_lock, NULL);
    block_work_init(&j->rw);
    block_work_init(&j->cw);
    buf_init(&j->out);
    int rc = dir_prepare(j, errbuf, errlen);
    if (rc == 0)
        rc = erasure_open(&j->er, j->dir, j->key, j->ro, errbuf, errlen);
    if (rc == 0)
        rc = segs_list(j, errbuf, errlen);
    /* Compaction may have removed older segments; a new journal starts
     * where the caller says (a restore), else at 1. */
    uint64_t expect = j->nsegs ? j->segs[0] : o->first_seq ? o->first_seq : 1;
    for (size_t i = 0; rc == 0 && i < j->nsegs; i++)
        rc = seg_scan(j, i, &expect, errbuf, errlen);
    if (rc) {
        journal_close(j);
        return rc;
    }
    j->first_seq = j->nsegs ? j->segs[0] : expect;
    j->next_seq = j->commit_seq = expect;
    j->nsegs_done = j->nsegs; /* open removed (read-only: dropped) a last one without a block */
    *out = j;
    return 0;
}

void journal_close(struct journal *j)
{
    if (!j)
        return;
    journal_batch_free(j->open);
    erasure_close(j->er);
    if (j->fd >= 0) {
        if (j->sync == JOURNAL_SYNC_NONE)
            (void)fdatasync(j->fd); /* best effort: nothing was promised */
        close(j->fd);
        seg_key_free(&j->seg_key);
    }
    if (j->lock_fd >= 0)
        close(j->lock_fd); /* releases the flock */
    if (j->dir_fd >= 0)
        close(j->dir_fd);
    block_work_free(&j->rw);
    block_work_free(&j->cw);
    buf_free(&j->out);
    mbedtls_platform_zeroize(j->key, sizeof j->key);
    pthread_mutex_destroy(&j->segs_lock);
    free(j->segs);
    free(j->dir);
    free(j);
}

/* ---- reading ---- */

/* Opens sealed records on their way to the reader's callback. */
struct unseal_ctx {
    struct journal *j;
    int (*cb)(void *arg, const struct jrec *r);
    void *arg;
    struct buf plain;
};

static int unseal_cb(void *arg, const struct jrec *r)
{
    struct unseal_ctx *u = arg;
    if (!(r->type & JREC_SEALED))
        return u->cb(u->arg, r);
    struct jrec o = *r;
    o.type = (uint16_t)(r->type & ~JREC_SEALED);
    int rc = erasure_unseal(u->j->er, r->seq, r->payload, r->len, &u->plain);
    if (rc == -ERR_NOTFOUND) {
        o.erased = 1;
        o.payload = NULL;
        o.len = 0;
    } else if (rc) {
        return rc;
    } else {
        o.payload = u->plain.p;
        o.len = u->plain.len;
    }
    return u->cb(u->arg, &o);
}

static int read_records(struct journal *j, uint64_t from, int (*cb)(void *arg, const struct jrec *r),
                        void *arg, char *errbuf, size_t errlen);

int journal_read(struct journal *j, uint64_t from, int (*cb)(void *arg, const struct jrec *r),
                 void *arg, char *errbuf, size_t errlen)
{
    if (from == 0)
        from = 1; /* seqs start at 1: "from 0" is "from the start" */
    if (from < j->first_seq)
        return err_fail(errbuf, errlen, -ERR_SEQ, "journal: %s: asked for seq %" PRIu64 " onwards, "
                    "but the journal starts at seq %" PRIu64, j->dir, from, j->first_seq);
    struct unseal_ctx u = {.j = j, .cb = cb, .arg = arg};
    buf_init(&u.plain);
    int rc = read_records(j, from, unseal_cb, &u, errbuf, errlen);
    if (u.plain.p)
        mbedtls_platform_zeroize(u.plain.p, u.plain.len);
    buf_free(&u.plain);
    return rc;
}

static int read_records(struct journal *j, uint64_t from, int (*cb)(void *arg, const struct jrec *r),
                        void *arg, char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < j->nsegs && from < j->commit_seq; i++) {
        uint64_t end = i + 1 < j->nsegs ? j->segs[i + 1] : j->commit_seq;
        if (end <= from)
            continue;
        char path[PATH_MAX];
        struct cursor c;
        seg_path(j, j->segs[i], path, sizeof path);
        int rc = cur_open(j, &c, path, j->segs[i]);
        if (rc == 0 && j->tail_len && j->segs[i] == j->tail_seg && c.size > j->tail_len)
            c.size = j->tail_len; /* read-only: stop before the torn tail left in place */
        while (rc == 0 && c.off < c.size)
            rc = cur_block(&c, &j->rw, from, 1, cb, arg);
        if (rc == 0 && c.expect != end)
            rc = cur_fail(&c, -ERR_SEQ, 0, "segment ends at another seq than at open");
        if (rc && !c.stopped)
            err_fail(errbuf, errlen, rc, "journal: %s: offset %" PRIu64 ": %s", path, c.off, c.why);
        cur_close(&c);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- compaction ---- */

/* How many segments from the front compaction may remove for upto_seq:
 * those whose successor starts at or below upto_seq + 1, all before the
 * newest segment holding a committed record. Under segs_lock. */
static size_t compact_count(const struct journal *j, uint64_t upto_seq)
{
    size_t n = 0;
    while (n + 1 < j->nsegs_done && j->segs[n + 1] - 1 <= upto_seq && n < INT_MAX)
        n++;
    return n;
}

/* Unlinks segment `first` and reports it. */
static int compact_one(struct journal *j, uint64_t first, uint64_t next, char *errbuf,
                       size_t errlen)
{
    char name[SEG_NAME_LEN + 1], path[PATH_MAX], reason[160];
    struct stat st;
    seg_name(first, name);
    seg_path(j, first, path, sizeof path);
    uint64_t size = fstatat(j->dir_fd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
    if (unlinkat(j->dir_fd, name, 0) != 0)
        return err_fail(errbuf, errlen, -errno, "journal: %s: cannot remove compacted segment: %s",
                    path, strerror(errno));
    snprintf(reason, sizeof reason, "compacted: seqs %" PRIu64 "..%" PRIu64 " are covered; "
             "segment removed", first, next - 1);
    report(j, path, 0, size, reason);
    return 0;
}

struct erase_before_ctx {
    uint64_t first;
    uint64_t *v;
    size_t n, cap;
};

static void collect_before(void *arg, uint64_t seq)
{
    struct erase_before_ctx *x = arg;
    if (seq >= x->first)
        return;
    if (x->n == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->v = xrealloc(x->v, x->cap * sizeof *x->v);
    }
    x->v[x->n++] = seq;
}

/* Keys of records that left the disk protect nothing: destroy them. */
static void erase_before(struct journal *j, uint64_t first)
{
    struct erase_before_ctx x = {.first = first};
    erasure_each(j->er, collect_before, &x);
    for (size_t i = 0; i < x.n; i++)
        (void)erasure_destroy(j->er, x.v[i]);
    free(x.v);
}

int journal_compact(struct journal *j, uint64_t upto_seq, char *errbuf, size_t errlen)
{
    if (j->ro)
        return err_fail(errbuf, errlen, -ERR_READONLY, "journal: %s: opened read-only, nothing is "
                    "compacted", j->dir);
    pthread_mutex_lock(&j->segs_lock);
    size_t n = compact_count(j, upto_seq);
    /* segs[0..n] cannot move while unlocked: a commit only appends, or
     * removes a segment past nsegs_done that it started itself. */
    uint64_t *gone = n ? xmalloc((n + 1) * sizeof *gone) : NULL;
    if (n)
        memcpy(gone, j->segs, (n + 1) * sizeof *gone);
    pthread_mutex_unlock(&j->segs_lock);
    if (n == 0)
        return 0;
    size_t done = 0;
    int rc = 0;
    while (done < n && rc == 0) {
        rc = compact_one(j, gone[done], gone[done + 1], errbuf, errlen);
        done += rc == 0;
    }
    pthread_mutex_lock(&j->segs_lock);
    assert(j->nsegs_done > done);
    assert(j->segs[0] == gone[0]);
    memmove(j->segs, j->segs + done, (j->nsegs - done) * sizeof *j->segs);
    j->nsegs -= done;
    j->nsegs_done -= done;
    j->first_seq = j->segs[0];
    pthread_mutex_unlock(&j->segs_lock);
    free(gone);
    if (done)
        erase_before(j, j->first_seq);
    int src = done ? sync_full(j->dir_fd) : 0;
    if (src && rc == 0)
        rc = err_fail(errbuf, errlen, src, "journal: %s: cannot sync the directory after "
                  "compaction: %s", j->dir, err_str(src));
    return rc ? rc : (int)done;
}

uint64_t journal_next_seq(const struct journal *j) { return j->next_seq; }
uint64_t journal_first_seq(const struct journal *j) { return j->first_seq; }

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

/* Starts segment first_seq: a fresh id and key, the header written and
 * fsynced, then the directory entry fsynced, before any block. */
static int seg_start(struct journal *j, uint64_t first_seq)
{
    struct seg_header h = {.first_seq = first_seq};
    uint8_t hdr[SEG_HDR_BYTES];
    char name[SEG_NAME_LEN + 1];
    int rc;
    if (j->fd >= 0) {
        if ((rc = sync_fd(j->fd))) /* whatever the policy: only the newest segment may tear */
            return rc;
        seg_leave(j);
    }
    if ((rc = fileio_random(h.id, SEG_ID_BYTES)) || (rc = seg_key_init(&j->seg_key, j->key, h.id)))
        return rc;
    seg_name(first_seq, name);
    int fd = -1;
    if ((rc = seg_header_encode(&h, &j->seg_key, j->key, hdr)) == 0) {
        fd = openat(j->dir_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        rc = fd < 0 ? -errno : 0;
    }
    if (rc == 0 && (rc = pwrite_all(fd, hdr, SEG_HDR_BYTES, 0)) == 0 &&
        (rc = sync_full(fd)) == 0)
        rc = sync_full(j->dir_fd);
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
    segs_push(j, first_seq);
    return 0;
}

static int out_flush(struct journal *j)
{
    if (j->out.len == 0)
        return 0;
    int rc = pwrite_all(j->fd, j->out.p, j->out.len, j->seg_len);
    if (rc)
        return rc;
    j->seg_len += j->out.len;
    buf_reset(&j->out);
    return j->sync == JOURNAL_SYNC_ALWAYS ? sync_fd(j->fd) : 0;
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
        seg_name(j->seg_first, name);
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

int journal_commit(struct journal *j, struct jbatch *b)
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
    if (rc == 0 && j->sync == JOURNAL_SYNC_BATCH)
        rc = sync_fd(j->fd);
    if (rc) {
        commit_undo(j, undo_len, created);
        j->readonly = 1;
        return rc;
    }
    j->commit_seq += b->count;
    pthread_mutex_lock(&j->segs_lock);
    j->nsegs_done = j->nsegs; /* the newest segment now holds a record */
    pthread_mutex_unlock(&j->segs_lock);
    return 0;
}
