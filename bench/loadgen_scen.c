/* loadgen_scen: the benchmark scenarios of issue 6, each ending in one
 * figure line on stdout ("key=value" pairs separated by spaces):
 *
 *   login        N full logins, C at a time; logins/s, p50/p99 login time
 *   tls-ceiling  N TLS handshakes and close, no XMPP: the ceiling logins
 *                are compared against
 *   register     in-band registration of the accounts (XEP-0077)
 *   idle         N sessions held open; server RSS per session
 *   curve        idle at growing N over several processes: RSS, ping and
 *                message latency per step
 *   msg          M pairs exchange messages; delivered/s, p50/p99 latency
 *   offline      X messages stored for an offline account (XEP-0160), then
 *                the time from its initial presence to the last delivered
 *   muc          K occupants of one room (XEP-0045), S of them sending
 *                groupchat; deliveries/s, messages/s, p50/p99 latency
 *
 * Every line carries the generator's own CPU seconds (gen_cpu_s) and share
 * of one core (gen_cpu_pct) over the measured interval, and the server's
 * (srv_cpu_*) when --server-pid is given: a run at gen_cpu_pct near 100
 * measured the generator, not the server.
 *
 * The code is sequential: each phase starts connections and then runs the
 * loop until its condition holds or the run's deadline passes. This file
 * has what the scenarios share (loadgen_scen.h); each scenario has its own
 * loadgen_scen_<name>.c. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/loadgen_scen.h"
#include "kernel/err.h"
#include "kernel/mem.h"

void meter_start(struct meter *m, const struct lg_ctx *x)
{
    m->wall0 = lg_now_s();
    m->cpu0 = lg_cpu_self_s();
    m->srv0 = lg_cpu_pid_s(x->opts->server_pid);
    m->pbkdf2_0 = x->pbkdf2;
}

void meter_stop(struct meter *m, const struct lg_ctx *x)
{
    m->wall = lg_now_s() - m->wall0;
    m->cpu = lg_cpu_self_s() - m->cpu0;
    double s = lg_cpu_pid_s(x->opts->server_pid);
    m->srv = s >= 0 && m->srv0 >= 0 ? s - m->srv0 : -1;
    m->pbkdf2 = x->pbkdf2 - m->pbkdf2_0;
}

/* The meter's fields, each name after `prefix` (a line with two
 * measured intervals tells them apart). */
void meter_print_as(const struct meter *m, const char *prefix)
{
    double w = m->wall > 0 ? m->wall : 1e-9;
    printf(" %sgen_cpu_s=%.2f %sgen_cpu_pct=%.0f %sgen_pbkdf2=%" PRIu64, prefix, m->cpu, prefix,
           100 * m->cpu / w, prefix, m->pbkdf2);
    if (m->srv >= 0)
        printf(" %ssrv_cpu_s=%.2f %ssrv_cpu_pct=%.0f", prefix, m->srv, prefix, 100 * m->srv / w);
}

void meter_print(const struct meter *m) { meter_print_as(m, ""); }

/* Runs the loop until done(p) or until `deadline` (lg_now_s() time) or
 * the run's deadline; false when time ran out. The sweep timer wakes the
 * loop at least every LG_SWEEP_MS. */
bool run_until(struct lg_ctx *x, bool (*done)(const struct pool *), const struct pool *p,
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

bool no_live(const struct pool *p) { return p->x->live == 0; }

static bool never(const struct pool *p)
{
    (void)p;
    return false;
}

/* Runs the loop for s seconds (or to the run's deadline). */
void run_for(struct lg_ctx *x, double s) { run_until(x, never, NULL, lg_now_s() + s); }

void show_error(struct lg_ctx *x, const struct slot *s, const char *why)
{
    if (x->errors_shown >= LG_ERRORS_SHOWN && !x->opts->verbose)
        return;
    x->errors_shown++;
    fprintf(stderr, "loadgen: connection %" PRIu32 " (%s): %s\n", s->k,
            x->acct[(s->pool->acct_base + s->k) % x->opts->accounts].user, why);
}

/* ---- pools of connections ---- */

static void start_more(struct pool *p);

void on_ready(struct lg_conn *c)
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

void on_closed(struct lg_conn *c, int err, const char *why)
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

void pool_init(struct pool *p, struct lg_ctx *x, enum lg_goal goal, uint32_t total, bool keep)
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

void pool_free(struct pool *p)
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
bool pool_run(struct pool *p)
{
    start_more(p);
    return run_until(p->x, pool_settled, p, p->x->t_end);
}

/* Ends every session politely, gives the server LG_CLOSE_S to answer
 * (even past the run's deadline), then cuts what is left: the pool's
 * callbacks must have run before it is freed. */
void pool_close_all(struct pool *p)
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

double pool_rate(const struct pool *p)
{
    double s = (double)(p->t_last - p->t_first) / 1e9;
    return s > 0 ? p->ready / s : 0;
}

const char *mech_name(const struct lg_opts *o)
{
    return o->mech < 0 ? "auto" : scram_mech_name((enum scram_hash)o->mech);
}

const char *tls_name(const struct lg_opts *o)
{
    return o->tls == LG_DIRECT_TLS ? "direct" : "starttls";
}

/* Pads the body that starts at buf + head and ends at buf + len with 'x'
 * to body_bytes, closes the message and returns its length. buf holds
 * LG_STANZA_MAX bytes; callers checked that head leaves room. */
size_t finish_message(char *buf, size_t head, size_t len, uint32_t body_bytes)
{
    static const char tail[] = "</body></message>";
    if (len - head < body_bytes) {
        memset(buf + len, 'x', body_bytes - (len - head));
        len = head + body_bytes;
    }
    memcpy(buf + len, tail, sizeof tail - 1);
    return len + sizeof tail - 1;
}

/* The default pool's stanzas: msg deliveries and idle probes' answers. */
static void on_stanza(struct lg_conn *c, const struct lg_el *el)
{
    struct slot *s = lg_conn_user(c);
    struct pool *p = s->pool;
    if (strcmp(el->name, "message") == 0) {
        msg_on_message(p, s, el);
    } else if (strcmp(el->name, "iq") == 0 && s->probe_t != 0) {
        lg_lat_add(&p->ping_lat, uv_hrtime() - s->probe_t);
        s->probe_t = 0;
        p->probe_wait = 0;
    }
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
    else if (strcmp(s, "curve") == 0)
        rc = run_curve(x);
    else if (strcmp(s, "offline") == 0)
        rc = run_offline(x);
    else if (strcmp(s, "muc") == 0)
        rc = run_muc(x);
    else
        rc = run_msg(x);
    fflush(stdout);
    return rc;
}
