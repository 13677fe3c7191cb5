/* server: start-up and shut-down of the whole process.
 *
 * Start: lock the data directory, raise the open-files limit, make or load
 * the TLS certificate, open the journal (cutting a torn tail), replay it
 * into fresh handlers, append "server started", then listen.
 * Stop (SIGINT/SIGTERM): stop listening, close every stream with
 * system-shutdown, let the bus commit what it holds, then exit. */
#include "kernel/server.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handlers/audit/audit.h"
#include "kernel/backup.h"
#include "kernel/c2s.h"
#include "kernel/ctl.h"
#include "kernel/datadir.h"
#include "kernel/log.h"
#include "kernel/snapshotter.h"
#include "replay/replay.h"

/* One server per data directory (kernel/datadir.c). */
static int lock_data_dir(const char *dir)
{
    char holder[DATADIR_PID_BYTES], err[512] = "";
    int fd = datadir_lock(dir, 1, holder, err, sizeof err);
    if (fd == -ERR_LOCKED)
        log_error("data directory %s is in use by another process (pid %s); "
                  "one server per data directory", dir, holder);
    else if (fd < 0)
        log_error("%s", err);
    return fd;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl))
        return;
    rlim_t soft = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl))
        rl.rlim_cur = soft;
    log_info("open files: soft limit %llu (was %llu), hard limit %llu",
             (unsigned long long)rl.rlim_cur, (unsigned long long)soft,
             (unsigned long long)rl.rlim_max);
}

static int setup_tls(struct server *s)
{
    int made = 0;
    int rc = tls_make_selfsigned(s->cfg.tls_cert, s->cfg.tls_key, s->cfg.domain, &made);
    if (rc) {
        log_error("tls: cannot make a certificate at %s: %s", s->cfg.tls_cert, err_str(rc));
        return rc;
    }
    if (made)
        log_info("tls: made a self-signed ECDSA P-256 certificate for %s at %s", s->cfg.domain,
                 s->cfg.tls_cert);
    struct tls_server_opts o = {
        .cert_path = s->cfg.tls_cert,
        .key_path = s->cfg.tls_key,
        .ticket_lifetime_s = (uint32_t)s->cfg.tls_ticket_lifetime_s,
        .mbedtls_signs = s->cfg.tls_signer == SIGNER_MBEDTLS,
    };
    char err[512] = "";
    rc = tls_server_new(&s->tls, &o, err, sizeof err);
    if (rc)
        log_error("tls: %s", err);
    else
        log_info("tls: handshake signatures by %s", tls_server_signer(s->tls));
    return rc;
}

static void journal_report(void *arg, const char *file, uint64_t offset, uint64_t bytes,
                           const char *reason)
{
    (void)arg;
    log_warn("journal: %s at offset %llu: %llu bytes: %s", file, (unsigned long long)offset,
             (unsigned long long)bytes, reason);
}

static int open_journal(struct server *s)
{
    char path[4096], err[512] = "";
    struct journal_opts o = {0};
    snprintf(path, sizeof path, "%s/journal.key", s->cfg.data_dir);
    int rc = journal_key_obtain(path, s->cfg.journal_key_command, 1, o.key, err, sizeof err);
    if (rc) {
        log_error("journal key: %s", err);
        return rc;
    }
    snprintf(path, sizeof path, "%s/journal", s->cfg.data_dir);
    o.dir = path;
    o.sync = s->cfg.journal_sync == SYNC_ALWAYS  ? JOURNAL_SYNC_ALWAYS
             : s->cfg.journal_sync == SYNC_NONE ? JOURNAL_SYNC_NONE
                                                 : JOURNAL_SYNC_BATCH;
    o.segment_bytes_max = s->cfg.journal_segment_bytes;
    o.report = journal_report;
    o.verify_on_read = 1; /* rebuild_state's replay authenticates what open skips */
    rc = journal_open(&s->journal, &o, err, sizeof err);
    memcpy(s->master_key, o.key, sizeof s->master_key); /* snapshots are sealed with it too */
    explicit_bzero(o.key, sizeof o.key);
    if (rc)
        log_error("journal: %s", err);
    return rc;
}

/* Newest usable snapshot, then the journal after it. */
static int rebuild_state(struct server *s, uint64_t *snap_seq)
{
    char err[512] = "";
    s->dispatch = dispatch_new();
    int64_t t0 = c2s_now_us();
    int rc = snapshotter_restore(s, snap_seq);
    if (rc)
        return rc;
    uint64_t from = *snap_seq + 1;
    if (journal_first_seq(s->journal) > from) {
        log_error("replay: the journal starts at seq %llu, but no usable snapshot covers the "
                  "events before it; restore a snapshot (stanzactl restore) or fix the damaged one",
                  (unsigned long long)journal_first_seq(s->journal));
        return -ERR_SEQ;
    }
    int64_t n = replay_journal(s->journal, s->dispatch, from, NULL, NULL, err, sizeof err);
    if (n < 0) {
        log_error("replay: %s", err);
        return (int)n;
    }
    log_info("replay: %lld events applied in %lld ms (journal at %llu)", (long long)n,
             (long long)(c2s_now_us() - t0) / 1000,
             (unsigned long long)dispatch_last_seq(s->dispatch));
    /* Keys a crash left behind: content no handler holds any more. */
    size_t erased = bus_erase_released(s->journal, s->dispatch);
    log_info("journal: %zu message contents readable (held offline), %zu keys destroyed after "
             "replay", journal_erasable_count(s->journal), erased);
    return 0;
}

/* Before the loop polls: the stanzas queued in this iteration leave, one
 * write per connection (kernel/c2s.c). */
static void flush_cb(uv_prepare_t *p) { c2s_flush_queued(p->data); }

/* The bus's flush hook: output queued by applied events leaves before the
 * bus seals its next batch (kernel/bus.h). */
static void server_flush_output(void *server) { c2s_flush_queued(server); }

/* --- shutdown ------------------------------------------------------------ */

/* Time streams get to close and the journal to commit before we give up. */
#define SHUTDOWN_GRACE_MS 5000

static uv_timer_t shutdown_timer;
static int64_t shutdown_started_us;

/* A handle that was never initialised is all zero (loop NULL). */
static void close_if_open(uv_handle_t *h)
{
    if (h->loop && !uv_is_closing(h))
        uv_close(h, NULL);
}

/* Polls until every stream is gone and the journal holds everything. */
static void shutdown_tick_cb(uv_timer_t *t)
{
    struct server *s = t->data;
    int late = c2s_now_us() - shutdown_started_us > SHUTDOWN_GRACE_MS * 1000;
    if ((s->c2s_count > 0 || !bus_idle(s->bus) || snapshotter_busy(s) || backup_busy(s)) && !late)
        return;
    if (late)
        log_warn("shutdown: gave up waiting (%llu connections, bus %s, snapshot %s, backup %s)",
                 (unsigned long long)s->c2s_count, bus_idle(s->bus) ? "idle" : "busy",
                 snapshotter_busy(s) ? "being written" : "idle",
                 backup_busy(s) ? "being written" : "idle");
    snapshotter_stop(s);
    backup_stop(s);
    bus_close(s->bus);
    c2s_flush_queued(s);
    close_if_open((uv_handle_t *)&s->flush_prepare);
    uv_close((uv_handle_t *)t, NULL);
    uv_stop(s->loop);
}

static void begin_shutdown(struct server *s, const char *why)
{
    if (s->stopping)
        return;
    s->stopping = 1;
    log_info("shutting down (%s)", why);
    close_if_open((uv_handle_t *)&s->c2s_listener);
    close_if_open((uv_handle_t *)&s->c2s_tls_listener);
    close_if_open((uv_handle_t *)&s->ctl_listener);
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->endpoints, &i, &slot);) {
        struct endpoint *ep = slot->val;
        if (ep->kind == EP_C2S)
            c2s_close(ep->conn, STREAM_SYSTEM_SHUTDOWN, NULL);
    }
    ctl_close_all(s);
    close_if_open((uv_handle_t *)&s->trim_timer);
    uv_signal_stop(&s->sigint);
    uv_signal_stop(&s->sigterm);
    shutdown_started_us = c2s_now_us();
    uv_timer_init(s->loop, &shutdown_timer);
    shutdown_timer.data = s;
    uv_timer_start(&shutdown_timer, shutdown_tick_cb, 0, 10);
}

/* How often idle connections are swept (kernel/c2s.c c2s_trim_idle). */
#define TRIM_SWEEP_MS 1000

static void trim_cb(uv_timer_t *t) { c2s_trim_idle(t->data); }

static void signal_cb(uv_signal_t *h, int signum)
{
    begin_shutdown(h->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static void walk_close_cb(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void server_free(struct server *s)
{
    /* Close whatever is left so the loop can be closed cleanly. */
    uv_walk(s->loop, walk_close_cb, NULL);
    uv_run(s->loop, UV_RUN_DEFAULT);
    bus_free(s->bus);
    if (s->journal)
        journal_close(s->journal);
    dispatch_free(s->dispatch);
    free(s->dirty);
    if (s->tls)
        tls_server_free(s->tls);
    const struct map_slot *slot;
    for (size_t i = 0; map_next(&s->endpoints, &i, &slot);)
        free(slot->val);
    map_free(&s->endpoints);
    throttle_free(&s->auth_fail);
    throttle_free(&s->reg_rate);
    uv_loop_close(s->loop);
    explicit_bzero(s->master_key, sizeof s->master_key);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
}

static int server_start(struct server *s)
{
    if ((s->lock_fd = lock_data_dir(s->cfg.data_dir)) < 0)
        return -ERR_LOCKED;
    log_info("stanzad %s starting: domain %s, data in %s", STANZAD_VERSION, s->cfg.domain,
             s->cfg.data_dir);
    raise_nofile();
    int rc = setup_tls(s);
    if (!rc)
        rc = open_journal(s);
    uint64_t snap_seq = 0;
    if (!rc)
        rc = rebuild_state(s, &snap_seq);
    if (rc)
        return rc;
    static const struct bus_ops ops = {
        .exec = router_exec, .refuse = router_refuse, .flush = server_flush_output};
    s->bus = bus_new(s->loop, s->journal, s->dispatch, &ops, s);
    struct event *started = event_server_started(s->cfg.domain, STANZAD_VERSION);
    audit_ev_set_retention(started, s->cfg.audit_retention_days);
    event_set_limits(started, s->cfg.offline_quota, s->cfg.vcard_bytes_max);
    struct muc_settings muc = {
        .domain = s->cfg.muc_domain,
        .local_create_only = s->cfg.muc_local_create_only,
        .foreign_need_invite = s->cfg.muc_foreign_need_invite,
        .history_max = s->cfg.muc_history_max,
        .max_users = s->cfg.muc_max_users,
        .rooms_max = s->cfg.muc_rooms_max,
    };
    event_set_muc(started, &muc);
    bus_submit(s->bus, started);
    snapshotter_start(s, snap_seq);
    backup_start(s);
    rc = c2s_listen(s);
    if (!rc)
        rc = ctl_listen(s);
    uv_timer_init(s->loop, &s->trim_timer);
    s->trim_timer.data = s;
    uv_timer_start(&s->trim_timer, trim_cb, TRIM_SWEEP_MS, TRIM_SWEEP_MS);
    uv_prepare_init(s->loop, &s->flush_prepare);
    s->flush_prepare.data = s;
    uv_prepare_start(&s->flush_prepare, flush_cb);
    malloc_trim(0); /* what replay and start-up freed, before sessions fill the heap */
    if (s->cfg.s2s_port)
        log_info("s2s: federation is not built yet; port %llu is not opened",
                 (unsigned long long)s->cfg.s2s_port);
    return rc;
}

int server_run(struct config *cfg)
{
    struct server s;
    memset(&s, 0, sizeof s);
    s.lock_fd = -1;
    s.cfg = *cfg;
    s.loop = uv_default_loop();
    s.started_us = c2s_now_us();
    map_init_u64(&s.endpoints);
    throttle_init(&s.auth_fail, (uint32_t)cfg->auth_failures_per_ip,
                  (int64_t)cfg->auth_throttle_s * 1000000);
    throttle_init(&s.reg_rate, (uint32_t)cfg->registration_per_ip_per_hour, 3600ll * 1000000);
    rng_bytes(s.fake_salt_key, sizeof s.fake_salt_key);
    log_set_level((int)cfg->log_level);
    /* Before the ports open: a SIGTERM from someone who saw a port accept
     * must stop the server cleanly, not kill it with the default action. */
    uv_signal_init(s.loop, &s.sigint);
    uv_signal_init(s.loop, &s.sigterm);
    s.sigint.data = s.sigterm.data = &s;
    uv_signal_start(&s.sigint, signal_cb, SIGINT);
    uv_signal_start(&s.sigterm, signal_cb, SIGTERM);
    int rc = server_start(&s);
    if (rc == 0) {
        log_info("ready");
        uv_run(s.loop, UV_RUN_DEFAULT);
        log_info("stopped");
    } else if (s.bus) {
        begin_shutdown(&s, "start-up failed");
        uv_run(s.loop, UV_RUN_DEFAULT);
    }
    server_free(&s);
    return rc == 0 ? 0 : 1;
}
