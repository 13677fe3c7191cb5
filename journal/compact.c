/* compact: removing the segments a snapshot covers (journal_compact),
 * and the data keys of the records that leave with them. Runs on the loop
 * thread and may overlap a commit; see journal.c for the thread rules. */
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
#include "kernel/err.h"
#include "kernel/mem.h"

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
    jnl_seg_name(first, name);
    jnl_seg_path(j, first, path, sizeof path);
    uint64_t size = fstatat(j->dir_fd, name, &st, 0) == 0 ? (uint64_t)st.st_size : 0;
    if (unlinkat(j->dir_fd, name, 0) != 0)
        return err_fail(errbuf, errlen, -errno, "journal: %s: cannot remove compacted segment: %s",
                    path, strerror(errno));
    snprintf(reason, sizeof reason, "compacted: seqs %" PRIu64 "..%" PRIu64 " are covered; "
             "segment removed", first, next - 1);
    jnl_report(j, path, 0, size, reason);
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
    int src = done ? jnl_sync_full(j->dir_fd) : 0;
    if (src && rc == 0)
        rc = err_fail(errbuf, errlen, src, "journal: %s: cannot sync the directory after "
                  "compaction: %s", j->dir, err_str(src));
    return rc ? rc : (int)done;
}
