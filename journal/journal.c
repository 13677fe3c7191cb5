/* journal: segment files, recovery at open, reading back. Group commit
 * is in commit.c, compaction in compact.c, the data keys of sealed
 * records in erasure.c; the structures they share in internal.h.
 *
 * The bytes are block.c's (doc/formats/journal.md); these files own the
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

#include "journal/internal.h"
#include "kernel/err.h"
#include "kernel/fileio.h"
#include "kernel/mem.h"


/* ---- small helpers ---- */

void jnl_seg_name(uint64_t first_seq, char out[SEG_NAME_LEN + 1])
{
    snprintf(out, SEG_NAME_LEN + 1, "%016" PRIx64 ".seg", first_seq);
}

void jnl_seg_path(const struct journal *j, uint64_t first_seq, char *out, size_t n)
{
    char name[SEG_NAME_LEN + 1];
    jnl_seg_name(first_seq, name);
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
void jnl_segs_push(struct journal *j, uint64_t first_seq)
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

int jnl_pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
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

int jnl_sync_fd(int fd) { return fdatasync(fd) ? -errno : 0; }
int jnl_sync_full(int fd) { return fsync(fd) ? -errno : 0; }

void jnl_report(const struct journal *j, const char *file, uint64_t off, uint64_t bytes,
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
    jnl_seg_name(first, name);
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
        jnl_report(j, path, 0, size, reason);
        return 0;
    }
    jnl_seg_name(j->segs[j->nsegs - 1], name);
    if (unlinkat(j->dir_fd, name, 0) != 0 || jnl_sync_full(j->dir_fd) != 0)
        return err_fail(errbuf, errlen, -errno, "journal: %s: cannot remove empty segment: %s", path,
                    strerror(errno));
    j->nsegs--;
    snprintf(reason, sizeof reason, "torn tail: %s; the segment held no complete block and was removed",
             why);
    jnl_report(j, path, 0, size, reason);
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
        jnl_report(j, path, off, size - off, reason);
        return 0;
    }
    jnl_seg_name(j->segs[j->nsegs - 1], name);
    int fd = openat(j->dir_fd, name, O_WRONLY | O_CLOEXEC);
    int rc = fd < 0 ? -errno : 0;
    if (rc == 0 && ftruncate(fd, (off_t)off) != 0)
        rc = -errno;
    if (rc == 0)
        rc = jnl_sync_fd(fd);
    if (fd >= 0)
        close(fd);
    if (rc)
        return err_fail(errbuf, errlen, rc, "journal: %s: cannot cut torn tail at offset %" PRIu64
                    ": %s", path, off, err_str(rc));
    snprintf(reason, sizeof reason, "torn tail: %s", why);
    jnl_report(j, path, off, size - off, reason);
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
    jnl_seg_path(j, j->segs[i], path, sizeof path);
    if (j->segs[i] != *expect)
        return err_fail(errbuf, errlen, -ERR_SEQ, "journal: %s: offset 0: missing segment: this one "
                    "starts at seq %" PRIu64 ", the journal needs seq %" PRIu64 " next",
                    path, j->segs[i], *expect);
    /* Not authenticated now: only the headers, whose chain must hold
     * (cur_block's skip); journal_read decrypts the blocks. */
    int headers_only = j->segs[i] < j->unverified_below;
    int rc = cur_open(j, &c, path, j->segs[i]);
    while (rc == 0 && c.off < c.size)
        rc = cur_block(&c, &j->rw, UINT64_MAX, headers_only, NULL, NULL);
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
            jnl_report(j, path, 0, size, "not a segment name (16 hex digits, at least 1): ignored");
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
    pthread_mutex_init(&j->commit_lock, NULL);
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
    if (o->verify_on_read && j->nsegs > 1)
        j->unverified_below = j->segs[j->nsegs - 1]; /* all but the newest */
    for (size_t i = 0; rc == 0 && i < j->nsegs; i++)
        rc = seg_scan(j, i, &expect, errbuf, errlen);
    if (rc) {
        journal_close(j);
        return rc;
    }
    j->first_seq = j->nsegs ? j->segs[0] : expect;
    j->next_seq = j->commit_seq = expect;
    j->synced_seq = expect - 1; /* what open found is as durable as it gets */
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
    pthread_mutex_destroy(&j->commit_lock);
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
    char *errbuf;
    size_t errlen;
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
        return err_fail(u->errbuf, u->errlen, rc, "journal: %s: record %" PRIu64 ": its sealed "
                        "content does not open with its data key (%s)", u->j->dir, r->seq,
                        err_str(rc));
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
    struct unseal_ctx u = {.j = j, .cb = cb, .arg = arg, .errbuf = errbuf, .errlen = errlen};
    buf_init(&u.plain);
    int rc = read_records(j, from, unseal_cb, &u, errbuf, errlen);
    if (u.plain.p)
        mbedtls_platform_zeroize(u.plain.p, u.plain.len);
    buf_free(&u.plain);
    return rc;
}

/* Segments open did not authenticate (verify_on_read) are read whole,
 * every block decrypted and its records checked, the ones before `from`
 * not delivered; once a read has passed them all, none is left. */
static int read_records(struct journal *j, uint64_t from, int (*cb)(void *arg, const struct jrec *r),
                        void *arg, char *errbuf, size_t errlen)
{
    uint64_t unverified = j->unverified_below;
    for (size_t i = 0; i < j->nsegs && (from < j->commit_seq || j->segs[i] < unverified); i++) {
        uint64_t end = i + 1 < j->nsegs ? j->segs[i + 1] : j->commit_seq;
        int verify = j->segs[i] < unverified;
        if (end <= from && !verify)
            continue;
        char path[PATH_MAX];
        struct cursor c;
        jnl_seg_path(j, j->segs[i], path, sizeof path);
        int rc = cur_open(j, &c, path, j->segs[i]);
        if (rc == 0 && j->tail_len && j->segs[i] == j->tail_seg && c.size > j->tail_len)
            c.size = j->tail_len; /* read-only: stop before the torn tail left in place */
        while (rc == 0 && c.off < c.size)
            rc = cur_block(&c, &j->rw, from, !verify, cb, arg);
        if (rc == 0 && c.expect != end)
            rc = cur_fail(&c, -ERR_SEQ, 0, "segment ends at another seq than at open");
        if (rc && !c.stopped)
            err_fail(errbuf, errlen, rc, "journal: %s: offset %" PRIu64 ": %s", path, c.off, c.why);
        cur_close(&c);
        if (rc)
            return rc;
    }
    j->unverified_below = 0;
    return 0;
}

uint64_t journal_next_seq(const struct journal *j) { return j->next_seq; }
uint64_t journal_first_seq(const struct journal *j) { return j->first_seq; }
