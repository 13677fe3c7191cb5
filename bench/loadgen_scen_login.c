/* loadgen_scen_login: the login, tls-ceiling, register, idle and curve
 * scenarios (bench/README.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/loadgen_scen.h"
#include "kernel/mem.h"

/* ---- login, tls-ceiling, register ---- */

/* Logs every account in once, untimed: fills the SaltedPassword cache (and
 * the tickets for --resume), as a client that logged in before would. */
static bool warm_up(struct lg_ctx *x, enum lg_goal goal, uint32_t n, const char *name)
{
    struct pool w;
    pool_init(&w, x, goal, n, false);
    bool ok = pool_run(&w) && run_until(x, no_live, &w, x->t_end) && w.failed == 0;
    if (!ok)
        printf("scenario=%s warmup_n=%" PRIu32 " warmup_fail=%" PRIu32 " aborted=1\n", name, n,
               w.failed);
    pool_free(&w);
    return ok;
}

int run_logins(struct lg_ctx *x, enum lg_goal goal, const char *name)
{
    const struct lg_opts *o = x->opts;
    uint32_t wn = o->n < o->accounts ? o->n : o->accounts;
    bool warm = (goal == LG_GOAL_LOGIN && o->warmup) || o->resume;
    if (warm && !warm_up(x, goal, wn, name))
        return 1;
    struct pool p;
    struct meter m;
    pool_init(&p, x, goal, o->n, false);
    meter_start(&m, x);
    bool finished = pool_run(&p);
    meter_stop(&m, x);
    run_until(x, no_live, &p, x->t_end);
    printf("scenario=%s tls=%s", name, o->tls == LG_DIRECT_TLS ? "direct" : "starttls");
    if (goal == LG_GOAL_LOGIN)
        printf(" mech=%s", mech_name(o));
    printf(" verify_ske=%d resume=%d n=%" PRIu32 " c=%" PRIu32 " ok=%" PRIu32 " fail=%" PRIu32
           " resumed=%" PRIu32 " wall_s=%.2f rate_per_s=%.1f p50_ms=%.2f p99_ms=%.2f",
           o->verify_ske, o->resume, o->n, p.conc, p.ready, p.failed, p.resumed, m.wall,
           pool_rate(&p), lg_lat_pct_ms(&p.lat, 50), lg_lat_pct_ms(&p.lat, 99));
    meter_print(&m);
    printf("%s\n", finished ? "" : " aborted=1");
    int rc = finished && p.failed == 0 ? 0 : 1;
    pool_free(&p);
    return rc;
}

/* ---- idle ---- */

static void send_probe(struct pool *p, uint32_t j)
{
    for (uint32_t tries = 0; tries < p->started; tries++) {
        struct slot *s = &p->slots[(j + tries) % p->started];
        if (s->conn == NULL)
            continue;
        char iq[LG_TEXT_MAX + 128];
        int n = snprintf(iq, sizeof iq,
                         "<iq type='get' id='ping%" PRIu32 "' to='%s'>"
                         "<ping xmlns='urn:xmpp:ping'/></iq>",
                         j, p->x->opts->domain);
        s->probe_t = uv_hrtime();
        p->probe_wait = 1;
        lg_conn_send(s->conn, iq, (size_t)n);
        return;
    }
}

static bool probe_answered(const struct pool *p) { return p->probe_wait == 0; }

static void run_probes(struct pool *p)
{
    for (uint32_t j = 0; j < p->x->opts->probes && p->ready > p->dropped; j++) {
        send_probe(p, j);
        if (!run_until(p->x, probe_answered, p, lg_now_s() + p->x->opts->login_timeout_s))
            return;
    }
}

int run_idle(struct lg_ctx *x)
{
    const struct lg_opts *o = x->opts;
    struct pool p;
    struct meter m;
    long rss0 = lg_rss_kib(o->server_pid);
    pool_init(&p, x, LG_GOAL_LOGIN, o->n, true);
    meter_start(&m, x);
    bool finished = pool_run(&p);
    meter_stop(&m, x);
    run_for(x, o->settle_s);
    long rss1 = lg_rss_kib(o->server_pid);
    uint32_t held = p.ready - p.dropped;
    if (finished)
        run_probes(&p);
    printf("scenario=idle tls=%s n=%" PRIu32 " c=%" PRIu32 " ok=%" PRIu32 " fail=%" PRIu32
           " held=%" PRIu32 " login_rate_per_s=%.1f login_p50_ms=%.2f login_p99_ms=%.2f",
           o->tls == LG_DIRECT_TLS ? "direct" : "starttls", o->n, p.conc, p.ready, p.failed,
           held, pool_rate(&p), lg_lat_pct_ms(&p.lat, 50), lg_lat_pct_ms(&p.lat, 99));
    if (rss0 >= 0 && rss1 >= 0)
        printf(" srv_rss_before_kib=%ld srv_rss_after_kib=%ld srv_rss_per_session_kib=%.2f",
               rss0, rss1, held ? (double)(rss1 - rss0) / held : 0.0);
    if (o->probes)
        printf(" ping_n=%" PRIu64 " ping_p50_ms=%.3f ping_p99_ms=%.3f", p.ping_lat.seen,
               lg_lat_pct_ms(&p.ping_lat, 50), lg_lat_pct_ms(&p.ping_lat, 99));
    meter_print(&m);
    printf(" gen_rss_kib=%ld%s\n", lg_rss_kib(getpid()), finished ? "" : " aborted=1");
    fflush(stdout);
    run_for(x, o->hold_s);
    held = p.ready - p.dropped; /* sessions lost while holding count too */
    pool_close_all(&p);
    int rc = finished && p.failed == 0 && held == p.ready ? 0 : 1;
    pool_free(&p);
    return rc;
}


/* ---- curve: idle sessions at growing N, over several processes ----
 *
 * The parent forks --procs workers; each holds its share of the sessions
 * (its own loop, descriptors and 127.x source addresses) and obeys the
 * parent's commands over a pipe. At each step the workers grow to their
 * share, the parent waits --settle, reads the server's RSS, then has the
 * workers ping a sample of their sessions one at a time and worker 0 send
 * chat messages between a few pairs of its sessions, one at a time. */

/* Descriptors left to the server's own files below its soft limit. */
#define LG_CURVE_HEADROOM 500
#define LG_CURVE_STEPS_MAX 32
#define LG_CURVE_PROCS_MAX 16
/* Chat messages per step, round robin over LG_CURVE_PAIRS pairs. */
#define LG_CURVE_MSGS 200
#define LG_CURVE_PAIRS 5

struct curve_cmd {
    char op;          /* 'G' grow to arg sessions, 'P' arg pings, 'M' arg messages, 'Q' */
    uint32_t arg;
};

struct curve_reply {
    uint32_t held, failed, dropped;
    uint32_t samples; /* followed by this many latencies in microseconds */
};

static bool full_io(int fd, void *p, size_t n, bool writing)
{
    char *b = p;
    while (n > 0) {
        ssize_t r = writing ? write(fd, b, n) : read(fd, b, n);
        if (r <= 0)
            return false;
        b += r;
        n -= (size_t)r;
    }
    return true;
}

/* The server's soft limit on open files, from /proc, or 0. */
static uint32_t server_nofile(pid_t pid)
{
    char path[64], line[256];
    unsigned long soft = 0;
    snprintf(path, sizeof path, "/proc/%d/limits", (int)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Max open files %lu", &soft) == 1)
            break;
    fclose(f);
    return soft > UINT32_MAX ? UINT32_MAX : (uint32_t)soft;
}

static size_t parse_steps(const char *list, uint32_t *out)
{
    size_t n = 0;
    for (const char *s = list; s && *s && n < LG_CURVE_STEPS_MAX;) {
        char *end;
        unsigned long v = strtoul(s, &end, 10);
        if (end == s || v == 0 || v > 1000000 || (n > 0 && v <= out[n - 1]))
            return 0;
        out[n++] = (uint32_t)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',')
            return 0;
    }
    return n;
}

static bool curve_no_wait(const struct pool *p) { return p->probe_wait == 0; }

/* Worker: one ping to each of `count` slots spread over the pool. */
static void curve_pings(struct pool *p, uint32_t count)
{
    uint32_t held = p->started;
    for (uint32_t j = 0; j < count && held > 0; j++) {
        struct slot *s = &p->slots[(uint64_t)j * held / count % held];
        if (s->conn == NULL)
            continue;
        char iq[LG_TEXT_MAX + 128];
        int n = snprintf(iq, sizeof iq,
                         "<iq type='get' id='cping%" PRIu32 "' to='%s'>"
                         "<ping xmlns='urn:xmpp:ping'/></iq>",
                         j, p->x->opts->domain);
        s->probe_t = uv_hrtime();
        p->probe_wait = 1;
        lg_conn_send(s->conn, iq, (size_t)n);
        if (!run_until(p->x, curve_no_wait, p, lg_now_s() + p->x->opts->login_timeout_s))
            return;
    }
}

static bool curve_delivered(const struct pool *p) { return p->delivered + p->bounced >= p->sent; }

/* Worker 0: `count` chat messages, one at a time, slot 2i to slot 2i+1. */
static void curve_messages(struct pool *p, uint32_t count)
{
    if (p->stanza == NULL)
        p->stanza = xmalloc(LG_STANZA_MAX);
    for (uint32_t j = 0; j < count && p->started >= 2; j++) {
        uint32_t pairs = p->started / 2 < LG_CURVE_PAIRS ? p->started / 2 : LG_CURVE_PAIRS;
        struct slot *s = &p->slots[2 * (j % pairs)], *peer = s + 1;
        if (s->conn == NULL || peer->conn == NULL)
            continue;
        int h = snprintf(p->stanza, LG_STANZA_MAX, "<message to='%s' type='chat' id='c%" PRIu32
                         "'><body>", lg_conn_jid(peer->conn), j);
        if (h < 0 || h > LG_STANZA_MAX - 256)
            return;
        int b = snprintf(p->stanza + h, 64, "lg %" PRIu64 " ", uv_hrtime());
        size_t len = finish_message(p->stanza, (size_t)h, (size_t)(h + b), 64);
        p->sent++;
        lg_conn_send(s->conn, p->stanza, len);
        if (!run_until(p->x, curve_delivered, p, lg_now_s() + p->x->opts->login_timeout_s))
            return;
    }
}

static void curve_reply(int fd, const struct pool *p, const struct lg_lat *l)
{
    struct curve_reply r = {p->ready - p->dropped, p->failed, p->dropped, l ? (uint32_t)l->n : 0};
    full_io(fd, &r, sizeof r, true);
    if (r.samples)
        full_io(fd, l->us, r.samples * sizeof *l->us, true);
}

/* A worker's life: its own source addresses, resources and randomness,
 * then commands until 'Q' or the parent is gone. */
static int curve_worker(struct lg_ctx *x, uint32_t w, uint32_t max_share, int in, int out)
{
    const struct lg_opts *o = x->opts;
    uv_loop_fork(x->loop);
    mbedtls_ctr_drbg_reseed(&x->drbg, (const unsigned char *)&w, sizeof w);
    for (uint32_t i = 0; i < x->src_count; i++)
        x->src[i].sin_addr.s_addr = htonl(o->src_base + w * o->src_count + i);
    x->seq = (uint64_t)w * 1000000; /* resource names lg<seq> differ across workers */
    struct pool p;
    pool_init(&p, x, LG_GOAL_LOGIN, max_share, true);
    p.total = 0;
    p.acct_base = (uint32_t)((uint64_t)o->accounts * w / o->procs);
    struct curve_cmd c;
    while (full_io(in, &c, sizeof c, false) && c.op != 'Q') {
        /* The loop slept while we waited: deadlines start from now. */
        uv_update_time(x->loop);
        if (c.op == 'G') {
            p.total = c.arg < max_share ? c.arg : max_share;
            pool_run(&p);
            curve_reply(out, &p, NULL);
        } else if (c.op == 'P') {
            lg_lat_free(&p.ping_lat);
            curve_pings(&p, c.arg);
            curve_reply(out, &p, &p.ping_lat);
        } else {
            lg_lat_free(&p.msg_lat);
            p.sent = p.delivered = p.bounced = 0;
            curve_messages(&p, c.arg);
            curve_reply(out, &p, &p.msg_lat);
        }
    }
    pool_free(&p);
    return 0;
}

struct curve_proc {
    pid_t pid;
    int cmd, reply; /* parent's ends */
};

static bool curve_send(struct curve_proc *wk, struct curve_cmd c)
{
    return full_io(wk->cmd, &c, sizeof c, true);
}

/* Reads a worker's reply and adds its samples to l (may be NULL). */
static bool curve_recv(struct curve_proc *wk, struct curve_reply *r, struct lg_lat *l)
{
    if (!full_io(wk->reply, r, sizeof *r, false))
        return false;
    for (uint32_t i = 0; i < r->samples; i++) {
        uint32_t us;
        if (!full_io(wk->reply, &us, sizeof us, false))
            return false;
        if (l)
            lg_lat_add(l, (uint64_t)us * 1000);
    }
    return true;
}

/* Sends c to one worker and waits for its reply. */
static bool curve_ask(struct curve_proc *wk, struct curve_cmd c, struct curve_reply *r,
                      struct lg_lat *l)
{
    return curve_send(wk, c) && curve_recv(wk, r, l);
}

static uint32_t share(uint32_t n, uint32_t w, uint32_t procs)
{
    return (uint32_t)((uint64_t)n * (w + 1) / procs - (uint64_t)n * w / procs);
}

int run_curve(struct lg_ctx *x)
{
    const struct lg_opts *o = x->opts;
    uint32_t steps[LG_CURVE_STEPS_MAX], limit = server_nofile(o->server_pid);
    size_t nsteps = o->steps ? parse_steps(o->steps, steps) : 0;
    if (o->steps == NULL) { /* 1,000, 5,000, 10,000, 15,000, then the limit allows */
        static const uint32_t dflt[] = {1000, 5000, 10000, 15000};
        for (size_t i = 0; i < 4; i++)
            if (limit == 0 || dflt[i] + LG_CURVE_HEADROOM <= limit)
                steps[nsteps++] = dflt[i];
        if (limit > 15000 + 2 * LG_CURVE_HEADROOM)
            steps[nsteps++] = limit - LG_CURVE_HEADROOM;
    }
    if (nsteps == 0 || o->procs == 0 || o->procs > LG_CURVE_PROCS_MAX) {
        fprintf(stderr, "loadgen: curve: bad --steps (increasing numbers) or --procs (1-16)\n");
        return 2;
    }
    uint32_t last = steps[nsteps - 1];
    struct curve_proc wk[LG_CURVE_PROCS_MAX];
    uint32_t nw = 0;
    fflush(stdout);
    for (; nw < o->procs; nw++) {
        int down[2], up[2];
        if (pipe(down) || pipe(up))
            break;
        pid_t pid = fork();
        if (pid == 0) {
            close(down[1]);
            close(up[0]);
            for (uint32_t i = 0; i < nw; i++) {
                close(wk[i].cmd);
                close(wk[i].reply);
            }
            _exit(curve_worker(x, nw, share(last, nw, o->procs) + 1, down[0], up[1]));
        }
        close(down[0]);
        close(up[1]);
        wk[nw] = (struct curve_proc){pid, down[1], up[0]};
        if (pid < 0)
            break;
    }
    long rss0 = lg_rss_kib(o->server_pid), rss_prev = rss0;
    uint32_t n_prev = 0;
    bool ok = nw == o->procs && rss0 >= 0;
    for (size_t i = 0; ok && i < nsteps; i++) {
        double t0 = lg_now_s();
        uint32_t held = 0, failed = 0, dropped = 0;
        struct curve_reply r;
        /* All workers grow at once; then their replies, in turn. */
        for (uint32_t w = 0; ok && w < nw; w++)
            ok = curve_send(&wk[w], (struct curve_cmd){'G', share(steps[i], w, nw)});
        for (uint32_t w = 0; ok && w < nw; w++)
            ok = curve_recv(&wk[w], &r, NULL);
        for (uint32_t w = 0; ok && w < nw; w++) { /* the sums, once all have grown */
            ok = curve_ask(&wk[w], (struct curve_cmd){'P', 0}, &r, NULL);
            held += r.held;
            failed += r.failed;
            dropped += r.dropped;
        }
        double ramp_s = lg_now_s() - t0;
        run_for(x, o->settle_s);
        long rss = lg_rss_kib(o->server_pid);
        struct lg_lat ping = {0}, msg = {0};
        for (uint32_t w = 0; ok && w < nw; w++)
            ok = curve_ask(&wk[w], (struct curve_cmd){'P', share(o->probes, w, nw)}, &r, &ping);
        ok = ok && curve_ask(&wk[0], (struct curve_cmd){'M', LG_CURVE_MSGS}, &r, &msg);
        uint64_t msg_n = msg.seen;
        printf("scenario=curve tls=%s procs=%" PRIu32 " srv_nofile=%" PRIu32 " n=%" PRIu32
               " held=%" PRIu32 " fail=%" PRIu32 " dropped=%" PRIu32 " ramp_s=%.1f"
               " srv_rss_kib=%ld srv_rss_per_session_kib=%.2f srv_rss_marginal_kib=%.2f"
               " ping_n=%" PRIu64 " ping_p50_ms=%.3f ping_p99_ms=%.3f msg_n=%" PRIu64
               " msg_p50_ms=%.3f msg_p99_ms=%.3f%s\n",
               tls_name(o), nw, limit, steps[i], held, failed, dropped, ramp_s, rss,
               held ? (double)(rss - rss0) / held : 0.0,
               held > n_prev ? (double)(rss - rss_prev) / (held - n_prev) : 0.0, ping.seen,
               lg_lat_pct_ms(&ping, 50), lg_lat_pct_ms(&ping, 99), msg_n, lg_lat_pct_ms(&msg, 50),
               lg_lat_pct_ms(&msg, 99), ok ? "" : " aborted=1");
        fflush(stdout);
        lg_lat_free(&ping);
        lg_lat_free(&msg);
        ok = ok && failed == 0 && dropped == 0 && msg_n == LG_CURVE_MSGS;
        rss_prev = rss;
        n_prev = held;
    }
    for (uint32_t w = 0; w < nw; w++) {
        struct curve_cmd q = {'Q', 0};
        full_io(wk[w].cmd, &q, sizeof q, true);
        close(wk[w].cmd);
        close(wk[w].reply);
    }
    for (uint32_t w = 0; w < nw; w++) {
        int st = 0;
        if (waitpid(wk[w].pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
            ok = false;
    }
    return ok ? 0 : 1;
}
