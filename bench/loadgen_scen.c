/* loadgen_scen: the benchmark scenarios of issue 6, each ending in one
 * figure line on stdout ("key=value" pairs separated by spaces):
 *
 *   login        N full logins, C at a time; logins/s, p50/p99 login time
 *   tls-ceiling  N TLS handshakes and close, no XMPP: the ceiling logins
 *                are compared against
 *   register     in-band registration of the accounts (XEP-0077)
 *   idle         N sessions held open; server RSS per session
 *   msg          M pairs exchange messages; delivered/s, p50/p99 latency
 *   offline      X messages stored for an offline account (XEP-0160), then
 *                the time from its initial presence to the last delivered
 *
 * Every line carries the generator's own CPU seconds (gen_cpu_s) and share
 * of one core (gen_cpu_pct) over the measured interval, and the server's
 * (srv_cpu_*) when --server-pid is given: a run at gen_cpu_pct near 100
 * measured the generator, not the server.
 *
 * The code is sequential: each phase starts connections and then runs the
 * loop until its condition holds or the run's deadline passes. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen.h"
#include "kernel/err.h"
#include "kernel/mem.h"

/* Failure reasons printed to stderr per run; the rest are only counted
 * (all are printed with -v). */
#define LG_ERRORS_SHOWN 5
/* Largest message body the msg scenario sends. */
#define LG_BODY_MAX 65536
/* Scratch for one message: the body and room for the JID and markup. */
#define LG_STANZA_MAX (LG_BODY_MAX + 4096)
/* How long closing sessions may take at the end of a phase. */
#define LG_CLOSE_S 3.0
/* How long the msg scenario waits for messages still in flight. */
#define LG_DRAIN_S 10.0

struct pool;

/* One connection of a pool, in start order. */
struct slot {
    struct pool *pool;
    struct lg_conn *conn;   /* NULL once closed */
    uint32_t k;
    bool reached;           /* the goal was reached */
    uint32_t inflight;      /* msg: sent by this slot, not yet delivered */
    uint64_t probe_t;       /* idle: ping sent at, 0 when none */
    /* offline: messages this sender sent, covered by a ping sent, and by
     * a ping answered (the server has taken them) */
    uint64_t off_sent, off_pinged, off_acked;
};

struct offline;

struct pool {
    struct lg_ctx *x;
    enum lg_goal goal;
    bool keep;              /* hold sessions open (idle, msg) */
    uint32_t acct_base;
    uint32_t total, conc;
    uint32_t started, ready, failed, dropped, resumed, live;
    struct slot *slots;
    const struct lg_conn_ops *ops;
    struct offline *off;    /* the offline scenario's run, else NULL */
    struct lg_lat lat;      /* time to the goal */
    uint64_t t_first, t_last;
    /* msg scenario */
    bool sending;
    uint64_t sent, delivered, bounced, count;
    uint64_t t_msg0, t_last_rx;
    struct lg_lat msg_lat;
    char *stanza;           /* scratch for one message */
    /* idle probes */
    struct lg_lat ping_lat;
    uint32_t probe_wait;
};

/* CPU and wall time over one measured interval. */
struct meter {
    double wall0, cpu0, srv0;
    double wall, cpu, srv;
    uint64_t pbkdf2_0, pbkdf2;  /* the generator's PBKDF2 runs in between */
};

static void meter_start(struct meter *m, const struct lg_ctx *x)
{
    m->wall0 = lg_now_s();
    m->cpu0 = lg_cpu_self_s();
    m->srv0 = lg_cpu_pid_s(x->opts->server_pid);
    m->pbkdf2_0 = x->pbkdf2;
}

static void meter_stop(struct meter *m, const struct lg_ctx *x)
{
    m->wall = lg_now_s() - m->wall0;
    m->cpu = lg_cpu_self_s() - m->cpu0;
    double s = lg_cpu_pid_s(x->opts->server_pid);
    m->srv = s >= 0 && m->srv0 >= 0 ? s - m->srv0 : -1;
    m->pbkdf2 = x->pbkdf2 - m->pbkdf2_0;
}

/* The meter's fields, each name after `prefix` (a line with two
 * measured intervals tells them apart). */
static void meter_print_as(const struct meter *m, const char *prefix)
{
    double w = m->wall > 0 ? m->wall : 1e-9;
    printf(" %sgen_cpu_s=%.2f %sgen_cpu_pct=%.0f %sgen_pbkdf2=%" PRIu64, prefix, m->cpu, prefix,
           100 * m->cpu / w, prefix, m->pbkdf2);
    if (m->srv >= 0)
        printf(" %ssrv_cpu_s=%.2f %ssrv_cpu_pct=%.0f", prefix, m->srv, prefix, 100 * m->srv / w);
}

static void meter_print(const struct meter *m) { meter_print_as(m, ""); }

/* Runs the loop until done(p) or until `deadline` (lg_now_s() time) or
 * the run's deadline; false when time ran out. The sweep timer wakes the
 * loop at least every LG_SWEEP_MS. */
static bool run_until(struct lg_ctx *x, bool (*done)(const struct pool *), const struct pool *p,
                      double deadline)
{
    if (deadline > x->t_end)
        deadline = x->t_end;
    while (!done(p)) {
        if (lg_now_s() > deadline)
            return false;
        uv_run(x->loop, UV_RUN_ONCE);
    }
    return true;
}

static bool no_live(const struct pool *p) { return p->x->live == 0; }

static bool never(const struct pool *p)
{
    (void)p;
    return false;
}

/* Runs the loop for s seconds (or to the run's deadline). */
static void run_for(struct lg_ctx *x, double s) { run_until(x, never, NULL, lg_now_s() + s); }

static void show_error(struct lg_ctx *x, const struct slot *s, const char *why)
{
    if (x->errors_shown >= LG_ERRORS_SHOWN && !x->opts->verbose)
        return;
    x->errors_shown++;
    fprintf(stderr, "loadgen: connection %" PRIu32 " (%s): %s\n", s->k,
            x->acct[(s->pool->acct_base + s->k) % x->opts->accounts].user, why);
}

/* ---- pools of connections ---- */

static void start_more(struct pool *p);

static void on_ready(struct lg_conn *c)
{
    struct slot *s = lg_conn_user(c);
    struct pool *p = s->pool;
    s->reached = true;
    p->ready++;
    p->t_last = uv_hrtime();
    lg_lat_add(&p->lat, lg_conn_login_ns(c));
    if (lg_conn_resumed(c))
        p->resumed++;
    if (!p->keep)
        lg_conn_close(c);
    start_more(p);
}

static void on_closed(struct lg_conn *c, int err, const char *why)
{
    struct slot *s = lg_conn_user(c);
    struct pool *p = s->pool;
    s->conn = NULL;
    p->live--;
    if (err == 0)
        return;
    show_error(p->x, s, why);
    /* A failure before the goal frees a slot for the next connection;
     * after it, a session held open was lost. */
    if (s->reached) {
        p->dropped++;
    } else {
        p->failed++;
        start_more(p);
    }
}

static void on_stanza(struct lg_conn *c, const struct lg_el *el);

static const struct lg_conn_ops pool_ops = {
    .ready_cb = on_ready,
    .stanza_cb = on_stanza,
    .closed_cb = on_closed,
};

static void start_more(struct pool *p)
{
    while (p->started < p->total && p->started - p->ready - p->failed < p->conc) {
        struct slot *s = &p->slots[p->started];
        struct lg_ctx *x = p->x;
        s->pool = p;
        s->k = p->started++;
        if (p->t_first == 0)
            p->t_first = uv_hrtime();
        p->live++;
        s->conn = lg_conn_start(x, &x->acct[(p->acct_base + s->k) % x->opts->accounts], p->goal,
                                p->ops, s);
    }
}

static void pool_init(struct pool *p, struct lg_ctx *x, enum lg_goal goal, uint32_t total,
                      bool keep)
{
    memset(p, 0, sizeof *p);
    p->x = x;
    p->goal = goal;
    p->total = total;
    p->conc = x->opts->conc;
    p->keep = keep;
    p->ops = &pool_ops;
    p->slots = xcalloc(total ? total : 1, sizeof *p->slots);
}

static void pool_close_all(struct pool *p);

/* Closes what is left of the pool, then frees it. */
static void pool_free(struct pool *p)
{
    pool_close_all(p);
    lg_lat_free(&p->lat);
    lg_lat_free(&p->msg_lat);
    lg_lat_free(&p->ping_lat);
    free(p->slots);
    free(p->stanza);
}

static bool pool_settled(const struct pool *p) { return p->ready + p->failed == p->total; }

/* Starts every connection of the pool and runs until each reached its
 * goal or failed. False when the run's deadline passed. */
static bool pool_run(struct pool *p)
{
    start_more(p);
    return run_until(p->x, pool_settled, p, p->x->t_end);
}

/* Ends every session politely, gives the server LG_CLOSE_S to answer
 * (even past the run's deadline), then cuts what is left: the pool's
 * callbacks must have run before it is freed. */
static void pool_close_all(struct pool *p)
{
    for (uint32_t i = 0; i < p->started; i++)
        if (p->slots[i].conn)
            lg_conn_close(p->slots[i].conn);
    double until = lg_now_s() + LG_CLOSE_S;
    while (p->live > 0 && lg_now_s() < until)
        uv_run(p->x->loop, UV_RUN_ONCE);
    for (uint32_t i = 0; i < p->started; i++)
        if (p->slots[i].conn)
            lg_conn_abort(p->slots[i].conn);
    /* Close callbacks run at the end of the next loop iteration. */
    while (p->live > 0)
        uv_run(p->x->loop, UV_RUN_ONCE);
}

static double pool_rate(const struct pool *p)
{
    double s = (double)(p->t_last - p->t_first) / 1e9;
    return s > 0 ? p->ready / s : 0;
}

static const char *mech_name(const struct lg_opts *o)
{
    return o->mech < 0 ? "auto" : scram_mech_name((enum scram_hash)o->mech);
}

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

static int run_logins(struct lg_ctx *x, enum lg_goal goal, const char *name)
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

static int run_idle(struct lg_ctx *x)
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

/* ---- msg ---- */

/* Pads the body that starts at buf + head and ends at buf + len with 'x'
 * to body_bytes, closes the message and returns its length. buf holds
 * LG_STANZA_MAX bytes; callers checked that head leaves room. */
static size_t finish_message(char *buf, size_t head, size_t len, uint32_t body_bytes)
{
    static const char tail[] = "</body></message>";
    if (len - head < body_bytes) {
        memset(buf + len, 'x', body_bytes - (len - head));
        len = head + body_bytes;
    }
    memcpy(buf + len, tail, sizeof tail - 1);
    return len + sizeof tail - 1;
}

/* Sends one timestamped message from slot s to its pair partner. */
static void send_message(struct pool *p, struct slot *s)
{
    struct slot *peer = &p->slots[s->k ^ 1];
    if (s->conn == NULL || peer->conn == NULL)
        return;
    const struct lg_opts *o = p->x->opts;
    int h = snprintf(p->stanza, LG_STANZA_MAX,
                     "<message to='%s' type='chat' id='m%" PRIu64 "'><body>",
                     lg_conn_jid(peer->conn), p->sent);
    if (h < 0 || h > LG_STANZA_MAX - LG_BODY_MAX - 64)
        return; /* a JID too long for the scratch buffer */
    /* The timestamp is the body's start; 'x' pads it to body_bytes. */
    int b = snprintf(p->stanza + h, LG_STANZA_MAX - (size_t)h, "lg %" PRIu64 " ", uv_hrtime());
    size_t len = finish_message(p->stanza, (size_t)h, (size_t)h + (size_t)b, o->body_bytes);
    s->inflight++;
    p->sent++;
    lg_conn_send(s->conn, p->stanza, len);
}

static bool may_send(const struct pool *p)
{
    if (!p->sending)
        return false;
    if (p->sent >= p->count)
        return false;
    return (double)(uv_hrtime() - p->t_msg0) / 1e9 < p->x->opts->duration_s;
}

static void on_message(struct pool *p, struct slot *s, const struct lg_el *el)
{
    struct slot *peer = &p->slots[s->k ^ 1];
    const char *type = lg_el_attr(el, "type");
    const struct lg_el *body = lg_el_child(el, "body");
    uint64_t t = 0;
    if (type && strcmp(type, "error") == 0) {
        /* Our own message came back: it was not delivered. */
        p->bounced++;
        peer = s;
    } else if (body && body->text && sscanf(body->text, "lg %" SCNu64, &t) == 1) {
        uint64_t now = uv_hrtime();
        lg_lat_add(&p->msg_lat, now - t);
        p->delivered++;
        p->t_last_rx = now;
    } else {
        return; /* not one of ours */
    }
    if (peer->inflight > 0)
        peer->inflight--;
    if (may_send(p))
        send_message(p, peer);
}

static void on_stanza(struct lg_conn *c, const struct lg_el *el)
{
    struct slot *s = lg_conn_user(c);
    struct pool *p = s->pool;
    if (strcmp(el->name, "message") == 0) {
        on_message(p, s, el);
    } else if (strcmp(el->name, "iq") == 0 && s->probe_t != 0) {
        lg_lat_add(&p->ping_lat, uv_hrtime() - s->probe_t);
        s->probe_t = 0;
        p->probe_wait = 0;
    }
}

static bool msg_drained(const struct pool *p)
{
    if (may_send(p))
        return false;
    return p->delivered + p->bounced >= p->sent || p->ready - p->dropped < 2 * p->x->opts->pairs;
}

static int run_msg(struct lg_ctx *x)
{
    const struct lg_opts *o = x->opts;
    struct pool p;
    struct meter m;
    pool_init(&p, x, LG_GOAL_LOGIN, 2 * o->pairs, true);
    bool finished = pool_run(&p) && p.failed == 0;
    run_for(x, o->settle_s);
    p.count = o->count;
    p.stanza = xmalloc(LG_STANZA_MAX);
    meter_start(&m, x);
    p.t_msg0 = uv_hrtime();
    p.sending = finished;
    for (uint32_t w = 0; w < o->window && finished; w++)
        for (uint32_t i = 0; i < p.total && may_send(&p); i++)
            send_message(&p, &p.slots[i]);
    finished = finished && run_until(x, msg_drained, &p, lg_now_s() + o->duration_s + LG_DRAIN_S);
    p.sending = false;
    meter_stop(&m, x);
    double s = p.t_last_rx > p.t_msg0 ? (double)(p.t_last_rx - p.t_msg0) / 1e9 : 0;
    uint64_t lost = p.sent - p.delivered - p.bounced;
    printf("scenario=msg tls=%s pairs=%" PRIu32 " window=%" PRIu32 " body_bytes=%" PRIu32
           " logins_ok=%" PRIu32 " logins_fail=%" PRIu32 " sent=%" PRIu64 " delivered=%" PRIu64
           " bounced=%" PRIu64 " lost=%" PRIu64 " wall_s=%.2f rate_per_s=%.1f p50_ms=%.3f"
           " p99_ms=%.3f",
           o->tls == LG_DIRECT_TLS ? "direct" : "starttls", o->pairs, o->window, o->body_bytes,
           p.ready, p.failed, p.sent, p.delivered, p.bounced, lost, s,
           s > 0 ? p.delivered / s : 0.0, lg_lat_pct_ms(&p.msg_lat, 50),
           lg_lat_pct_ms(&p.msg_lat, 99));
    meter_print(&m);
    printf("%s\n", finished ? "" : " aborted=1");
    pool_close_all(&p);
    int rc = finished && lost == 0 && p.bounced == 0 && p.dropped == 0 && p.delivered > 0 ? 0 : 1;
    pool_free(&p);
    return rc;
}

/* ---- offline ----
 *
 * Phase 1: the recipient (account --first) is not logged in; the senders
 * (the next --senders accounts) send --count chat messages to its bare
 * JID, each with id 'o<tag>-<seq>' and body "lgoff <tag> <seq> " padded
 * to --body-bytes; <tag> is random per run, so messages stored by an
 * earlier run are told apart (`stale`). A server gives no receipt for a
 * stored message, so each sender pings the server (XEP-0199) after every
 * --ping-every messages and when its window is full or it has nothing
 * left: the answer comes after the server has dealt with everything sent
 * before it on that stream (stanzad answers once it is durable). At most
 * --window messages per sender are not covered by an answered ping.
 * Phase 2: the recipient logs in and sends initial presence; from that
 * moment to the last of its stored messages is the drain. */

struct offline {
    struct pool *senders, *rcpt;
    uint64_t tag;
    uint64_t count;
    char to[2 * LG_TEXT_MAX + 2]; /* the recipient's bare JID */
    uint8_t *got;               /* per message: copies received (to 255) */
    uint8_t *bounced;           /* per message: came back as an error */
    uint64_t sent, acked, bounced_n;
    uint64_t t_send0, t_stored; /* first send, last ping answer */
    /* phase 2 */
    uint64_t distinct, dup, no_delay, bad_body, stale;
    uint64_t t_presence, t_last_rx;
    double last_progress_s;     /* lg_now_s() of the last new message */
    int drain_ping;             /* 0 not sent, 1 sent, 2 answered */
    struct meter drain;
    bool drain_stopped;
};

static void off_send_ping(struct pool *p, struct slot *s)
{
    char iq[LG_TEXT_MAX + 128];
    int n = snprintf(iq, sizeof iq,
                     "<iq type='get' id='op%" PRIu64 "' to='%s'><ping xmlns='urn:xmpp:ping'/></iq>",
                     s->off_sent, p->x->opts->domain);
    s->off_pinged = s->off_sent;
    lg_conn_send(s->conn, iq, (size_t)n);
}

static void off_send_message(struct pool *p, struct slot *s)
{
    struct offline *f = p->off;
    uint64_t seq = f->sent++;
    int h = snprintf(p->stanza, LG_STANZA_MAX,
                     "<message to='%s' type='chat' id='o%016" PRIx64 "-%" PRIu64 "'><body>", f->to,
                     f->tag, seq);
    int b = snprintf(p->stanza + h, LG_STANZA_MAX - (size_t)h, "lgoff %016" PRIx64 " %" PRIu64 " ",
                     f->tag, seq);
    size_t len = finish_message(p->stanza, (size_t)h, (size_t)h + (size_t)b,
                                p->x->opts->body_bytes);
    s->off_sent++;
    lg_conn_send(s->conn, p->stanza, len);
}

/* Sends what the sender's window allows, then a ping for what no ping
 * covers yet (or the window would never reopen). */
static void off_fill(struct pool *p, struct slot *s)
{
    struct offline *f = p->off;
    const struct lg_opts *o = p->x->opts;
    if (s->conn == NULL)
        return;
    while (f->sent < f->count && s->off_sent - s->off_acked < o->window) {
        off_send_message(p, s);
        if (s->off_sent - s->off_pinged >= o->ping_every)
            off_send_ping(p, s);
    }
    if (s->off_pinged < s->off_sent)
        off_send_ping(p, s);
}

/* 'o<tag>-<seq>' of this run, seq sent: true and *seq. */
static bool off_parse_id(const struct offline *f, const char *id, uint64_t *seq)
{
    uint64_t tag;
    int end = 0;
    if (id == NULL || id[0] != 'o' ||
        sscanf(id + 1, "%16" SCNx64 "-%" SCNu64 "%n", &tag, seq, &end) != 2 ||
        id[1 + end] != '\0')
        return false;
    return tag == f->tag && *seq < f->sent;
}

/* Every message the server kept has arrived: the drain is over. A ping
 * then shows whether anything (a second copy) was still queued. */
static void off_check_drained(struct offline *f)
{
    if (f->t_presence == 0 || f->drain_ping != 0 || f->distinct < f->sent - f->bounced_n)
        return;
    struct pool *r = f->rcpt;
    meter_stop(&f->drain, r->x);
    f->drain_stopped = true;
    if (r->slots[0].conn == NULL)
        return;
    static const char ping[] = "<iq type='get' id='od'><ping xmlns='urn:xmpp:ping'/></iq>";
    f->drain_ping = 1;
    lg_conn_send(r->slots[0].conn, ping, sizeof ping - 1);
}

static bool is_delay(const struct lg_el *k)
{
    return strcmp(k->name, "delay") == 0 && strcmp(k->ns, "urn:xmpp:delay") == 0;
}

/* A message at the recipient: one of ours, once, stamped, intact? */
static void off_received(struct offline *f, const struct lg_el *el)
{
    uint64_t seq;
    if (!off_parse_id(f, lg_el_attr(el, "id"), &seq)) {
        f->stale++;
        return;
    }
    const struct lg_el *delay = NULL, *body = lg_el_child(el, "body");
    for (const struct lg_el *k = el->kids; k && !delay; k = k->next)
        delay = is_delay(k) ? k : NULL;
    if (delay == NULL)
        f->no_delay++;
    char head[64];
    int hn = snprintf(head, sizeof head, "lgoff %016" PRIx64 " %" PRIu64 " ", f->tag, seq);
    size_t want = (size_t)hn > f->rcpt->x->opts->body_bytes ? (size_t)hn
                                                            : f->rcpt->x->opts->body_bytes;
    if (!body || !body->text || body->text_len != want ||
        memcmp(body->text, head, (size_t)hn) != 0)
        f->bad_body++;
    if (f->got[seq] < UINT8_MAX)
        f->got[seq]++;
    if (f->got[seq] > 1) {
        f->dup++;
        return;
    }
    f->distinct++;
    f->t_last_rx = uv_hrtime();
    f->last_progress_s = lg_now_s();
    off_check_drained(f);
}

static void off_on_stanza(struct lg_conn *c, const struct lg_el *el)
{
    struct slot *s = lg_conn_user(c);
    struct pool *p = s->pool;
    struct offline *f = p->off;
    const char *id = lg_el_attr(el, "id"), *type = lg_el_attr(el, "type");
    bool error = type && strcmp(type, "error") == 0;
    uint64_t seq;
    if (strcmp(el->name, "iq") == 0) {
        /* A ping's answer, even an error, follows what was sent before. */
        if (p == f->rcpt && id && strcmp(id, "od") == 0) {
            f->drain_ping = 2;
        } else if (p == f->senders && id && strncmp(id, "op", 2) == 0) {
            uint64_t n = strtoull(id + 2, NULL, 10);
            if (n > s->off_acked && n <= s->off_sent) {
                f->acked += n - s->off_acked;
                s->off_acked = n;
                f->t_stored = uv_hrtime();
            }
            off_fill(p, s);
        }
    } else if (p == f->rcpt && !error) {
        off_received(f, el);
    } else if (p == f->senders && error && off_parse_id(f, id, &seq) && !f->bounced[seq]) {
        f->bounced[seq] = 1; /* not kept: over the quota, or refused */
        f->bounced_n++;
        off_check_drained(f);
    }
}

static void off_on_ready(struct lg_conn *c)
{
    struct slot *s = lg_conn_user(c);
    struct pool *p = s->pool;
    struct offline *f = p->off;
    on_ready(c);
    if (p != f->rcpt)
        return;
    /* lgc_ready sent the initial presence just before this call. */
    f->t_presence = uv_hrtime();
    f->last_progress_s = lg_now_s();
    meter_start(&f->drain, p->x);
    off_check_drained(f);
}

static const struct lg_conn_ops offline_ops = {
    .ready_cb = off_on_ready,
    .stanza_cb = off_on_stanza,
    .closed_cb = on_closed,
};

static bool off_stored(const struct pool *p)
{
    const struct offline *f = p->off;
    if (p->dropped > 0)
        return true; /* what it had sent is unknown: the run failed */
    return f->sent == f->count && f->acked == f->sent;
}

static bool off_drained(const struct pool *p)
{
    const struct offline *f = p->off;
    if (f->drain_ping == 2 || p->dropped > 0)
        return true;
    return lg_now_s() - f->last_progress_s > LG_DRAIN_S;
}

/* Phase 1; false when it did not finish. */
static bool off_store(struct offline *f, struct meter *m)
{
    struct pool *p = f->senders;
    if (!pool_run(p) || p->failed > 0)
        return false;
    meter_start(m, p->x);
    f->t_send0 = uv_hrtime();
    for (uint32_t i = 0; i < p->total; i++)
        off_fill(p, &p->slots[i]);
    bool ok = run_until(p->x, off_stored, p, p->x->t_end) && p->dropped == 0;
    meter_stop(m, p->x);
    return ok;
}

/* Phase 2; false when the recipient could not log in or time ran out. */
static bool off_drain(struct offline *f)
{
    struct pool *r = f->rcpt;
    if (!pool_run(r) || r->failed > 0)
        return false;
    bool ok = run_until(r->x, off_drained, r, r->x->t_end);
    if (!f->drain_stopped)
        meter_stop(&f->drain, r->x);
    return ok && r->dropped == 0;
}

static void off_print(struct offline *f, const struct meter *store, bool finished,
                      uint64_t missing)
{
    const struct lg_opts *o = f->senders->x->opts;
    double stored_s = f->t_stored > f->t_send0 ? (double)(f->t_stored - f->t_send0) / 1e9 : 0;
    double drain_s = f->t_last_rx > f->t_presence && f->t_presence
                         ? (double)(f->t_last_rx - f->t_presence) / 1e9
                         : 0;
    printf("scenario=offline tls=%s count=%" PRIu64 " senders=%" PRIu32 " window=%" PRIu32
           " ping_every=%" PRIu32 " body_bytes=%" PRIu32 " logins_fail=%" PRIu32
           " sent=%" PRIu64 " stored_s=%.3f store_rate_per_s=%.1f",
           o->tls == LG_DIRECT_TLS ? "direct" : "starttls", f->count, o->senders, o->window,
           o->ping_every, o->body_bytes, f->senders->failed + f->rcpt->failed, f->sent, stored_s,
           stored_s > 0 ? f->acked / stored_s : 0.0);
    meter_print_as(store, "store_");
    printf(" delivered=%" PRIu64 " dup=%" PRIu64 " missing=%" PRIu64 " bounced=%" PRIu64
           " no_delay=%" PRIu64 " bad_body=%" PRIu64 " stale=%" PRIu64
           " drain_ms=%.1f drain_rate_per_s=%.1f",
           f->distinct, f->dup, missing, f->bounced_n, f->no_delay, f->bad_body, f->stale,
           drain_s * 1e3, drain_s > 0 ? f->distinct / drain_s : 0.0);
    meter_print(&f->drain);
    printf("%s\n", finished ? "" : " aborted=1");
}

static int run_offline(struct lg_ctx *x)
{
    const struct lg_opts *o = x->opts;
    struct pool senders, rcpt;
    struct offline f = {.senders = &senders, .rcpt = &rcpt, .count = o->count};
    struct meter store = {0};
    mbedtls_ctr_drbg_random(&x->drbg, (unsigned char *)&f.tag, sizeof f.tag);
    snprintf(f.to, sizeof f.to, "%s@%s", x->acct[0].user, o->domain);
    f.got = xcalloc(f.count, 1);
    f.bounced = xcalloc(f.count, 1);
    pool_init(&senders, x, LG_GOAL_LOGIN, o->senders, true);
    pool_init(&rcpt, x, LG_GOAL_LOGIN, 1, true);
    senders.acct_base = 1;
    senders.ops = rcpt.ops = &offline_ops;
    senders.off = rcpt.off = &f;
    senders.stanza = xmalloc(LG_STANZA_MAX);
    bool finished = off_store(&f, &store) && off_drain(&f);
    /* Senders stay until now: a late bounce still counts. */
    uint64_t missing = 0;
    for (uint64_t i = 0; i < f.sent; i++)
        missing += f.got[i] == 0 && !f.bounced[i];
    off_print(&f, &store, finished, missing);
    pool_close_all(&rcpt);
    pool_close_all(&senders);
    int rc = finished && missing == 0 && f.dup == 0 && f.bounced_n == 0 && f.no_delay == 0 &&
                     f.bad_body == 0 && senders.dropped == 0
                 ? 0
                 : 1;
    pool_free(&rcpt);
    pool_free(&senders);
    free(f.got);
    free(f.bounced);
    return rc;
}

int lg_scenario_run(struct lg_ctx *x)
{
    const char *s = x->opts->scenario;
    int rc;
    if (strcmp(s, "login") == 0)
        rc = run_logins(x, LG_GOAL_LOGIN, s);
    else if (strcmp(s, "tls-ceiling") == 0)
        rc = run_logins(x, LG_GOAL_HANDSHAKE, s);
    else if (strcmp(s, "register") == 0)
        rc = run_logins(x, LG_GOAL_REGISTER, s);
    else if (strcmp(s, "idle") == 0)
        rc = run_idle(x);
    else if (strcmp(s, "offline") == 0)
        rc = run_offline(x);
    else
        rc = run_msg(x);
    fflush(stdout);
    return rc;
}
