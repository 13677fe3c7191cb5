/* snapshotter: see snapshotter.h. */
#include "kernel/snapshotter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/c2s.h"
#include "kernel/ctl.h"
#include "kernel/ctlproto.h"
#include "kernel/log.h"
#include "kernel/mem.h"
#include "snapshot/snapshot.h"

/* How often the periodic condition is checked. */
#define SNAPSHOT_CHECK_MS 1000

struct snapshotter {
    struct server *srv;
    uv_timer_t timer;
    uv_work_t work;
    int busy;
    uint64_t last_seq;   /* covered by the newest snapshot (0: none) */
    int64_t last_us;     /* when it was taken (or the server started) */
    /* the snapshot being written */
    struct buf state;
    uint64_t seq;
    int64_t time_us;
    uint64_t ctl_conn;
    int rc;
    char err[512];
    char dir[4096];
};

static void snap_report(void *arg, const char *file, int code, const char *reason)
{
    (void)arg;
    if (code)
        log_warn("snapshot: %s: %s (%s)", file, reason, err_name(code));
    else
        log_info("snapshot: %s: %s", file, reason);
}

static void snap_dir(const struct server *s, char *out, size_t len)
{
    snprintf(out, len, "%s/snapshots", s->cfg.data_dir);
}

struct restore_ctx {
    struct server *srv;
};

/* A snapshot is usable only if it decodes, agrees with its own seq, and
 * the journal still holds every event after it. */
static int accept_cb(void *arg, uint64_t seq, int64_t time_us, const uint8_t *state, size_t len)
{
    struct restore_ctx *x = arg;
    struct server *s = x->srv;
    (void)time_us;
    struct dispatch *d = dispatch_new();
    int rc = dispatch_decode(d, state, len);
    if (!rc && dispatch_last_seq(d) != seq)
        rc = -ERR_CORRUPT;
    if (!rc && journal_first_seq(s->journal) > seq + 1)
        rc = -ERR_SEQ; /* the journal after it was compacted away */
    if (!rc && journal_next_seq(s->journal) < seq + 1)
        rc = -ERR_SEQ; /* the journal ends before the snapshot: it was cut */
    if (rc) {
        dispatch_free(d);
        return rc;
    }
    dispatch_free(s->dispatch);
    s->dispatch = d;
    return 0;
}

int snapshotter_restore(struct server *s, uint64_t *seq)
{
    char dir[4096], err[512] = "";
    struct restore_ctx x = {.srv = s};
    snap_dir(s, dir, sizeof dir);
    int rc = snapshot_load_newest(dir, s->master_key, seq, accept_cb, snap_report, &x, err,
                                  sizeof err);
    if (rc) {
        log_error("snapshot: %s", err);
        return rc;
    }
    if (*seq)
        log_info("snapshot: state restored from the snapshot at seq %llu", (unsigned long long)*seq);
    return 0;
}

static void write_work_cb(uv_work_t *w)
{
    struct snapshotter *sn = w->data;
    /* The state includes events of lazy batches (logins, logouts) that
     * may not be on disk yet: a snapshot must never be ahead of the
     * journal, or a crash would leave it covering events that are gone. */
    sn->rc = journal_sync_to(sn->srv->journal, sn->seq);
    if (sn->rc) {
        snprintf(sn->err, sizeof sn->err, "journal sync: %s", err_str(sn->rc));
        return;
    }
    sn->rc = snapshot_write(sn->dir, sn->srv->master_key, sn->seq, sn->time_us, sn->state.p,
                            sn->state.len, sn->err, sizeof sn->err);
}

/* Deletes journal segments that only the pruned snapshots needed. */
static void prune_and_compact(struct snapshotter *sn)
{
    struct server *s = sn->srv;
    char err[512] = "";
    uint64_t *seqs = NULL;
    size_t n = 0;
    if (snapshot_prune(sn->dir, (size_t)s->cfg.snapshots_keep, snap_report, NULL, err, sizeof err) < 0 ||
        snapshot_list(sn->dir, &seqs, &n, snap_report, NULL, err, sizeof err) < 0) {
        log_error("snapshot: %s", err);
        return;
    }
    if (n > 0) {
        int removed = journal_compact(s->journal, seqs[n - 1], err, sizeof err);
        if (removed < 0)
            log_error("journal: compaction failed: %s", err);
        else if (removed > 0)
            log_info("journal: %d segment(s) before seq %llu deleted", removed,
                     (unsigned long long)seqs[n - 1] + 1);
    }
    free(seqs);
}

static void write_done_cb(uv_work_t *w, int status)
{
    struct snapshotter *sn = w->data;
    struct server *s = sn->srv;
    char msg[640];
    if (status || sn->rc) {
        snprintf(msg, sizeof msg, "snapshot failed: %s", sn->err);
        log_error("%s", msg);
    } else {
        sn->last_seq = sn->seq;
        snprintf(msg, sizeof msg, "snapshot at seq %llu (%zu bytes of state)",
                 (unsigned long long)sn->seq, sn->state.len);
        log_info("%s", msg);
        prune_and_compact(sn);
    }
    struct endpoint *ep = sn->ctl_conn ? server_endpoint(s, sn->ctl_conn) : NULL;
    if (ep && ep->kind == EP_CTL)
        ctl_reply(ep->conn, (status || sn->rc) ? CTL_REFUSED : CTL_OK, msg);
    buf_free(&sn->state);
    sn->busy = 0;
}

void snapshotter_take(struct server *s, uint64_t ctl_conn)
{
    struct snapshotter *sn = s->snap;
    uint64_t applied = bus_applied_seq(s->bus);
    if (sn->busy || applied == 0 || applied == sn->last_seq) {
        struct endpoint *ep = ctl_conn ? server_endpoint(s, ctl_conn) : NULL;
        if (ep && ep->kind == EP_CTL)
            ctl_reply(ep->conn, sn->busy ? CTL_REFUSED : CTL_OK,
                      sn->busy ? "a snapshot is being written; try again"
                               : "nothing changed since the last snapshot");
        return;
    }
    sn->busy = 1;
    sn->ctl_conn = ctl_conn;
    sn->seq = applied;
    sn->time_us = sn->last_us = c2s_now_us();
    buf_init(&sn->state);
    dispatch_encode(s->dispatch, &sn->state); /* between two events: consistent */
    if (sn->state.err) {
        snprintf(sn->err, sizeof sn->err, "encoding the state: %s", err_str(sn->state.err));
        sn->rc = sn->state.err;
        write_done_cb(&sn->work, 0);
        return;
    }
    sn->work.data = sn;
    if (uv_queue_work(s->loop, &sn->work, write_work_cb, write_done_cb)) {
        write_work_cb(&sn->work);
        write_done_cb(&sn->work, 0);
    }
}

static void check_cb(uv_timer_t *t)
{
    struct snapshotter *sn = t->data;
    struct server *s = sn->srv;
    uint64_t applied = bus_applied_seq(s->bus);
    if (sn->busy || s->stopping || applied == sn->last_seq)
        return;
    int by_count = s->cfg.snapshot_every_events && applied - sn->last_seq >= s->cfg.snapshot_every_events;
    int by_time = s->cfg.snapshot_every_s &&
                  c2s_now_us() - sn->last_us >= (int64_t)s->cfg.snapshot_every_s * 1000000;
    if (by_count || by_time)
        snapshotter_take(s, 0);
}

void snapshotter_start(struct server *s, uint64_t restored_seq)
{
    struct snapshotter *sn = xcalloc(1, sizeof *sn);
    sn->srv = s;
    sn->last_seq = restored_seq;
    sn->last_us = c2s_now_us();
    snap_dir(s, sn->dir, sizeof sn->dir);
    s->snap = sn;
    uv_timer_init(s->loop, &sn->timer);
    sn->timer.data = sn;
    uv_timer_start(&sn->timer, check_cb, SNAPSHOT_CHECK_MS, SNAPSHOT_CHECK_MS);
}

int snapshotter_busy(const struct server *s) { return s->snap && s->snap->busy; }

static void timer_closed_cb(uv_handle_t *h) { free(h->data); }

void snapshotter_stop(struct server *s)
{
    if (!s->snap)
        return;
    uv_timer_stop(&s->snap->timer);
    uv_close((uv_handle_t *)&s->snap->timer, timer_closed_cb);
    s->snap = NULL;
}
