/* loadgen_scen: what the scenario files share (internal to loadgen).
 *
 * A scenario is a sequence of phases; each starts connections from a pool
 * and runs the loop until its condition holds or the run's deadline
 * passes. loadgen_scen.c has the pools, meters and the dispatcher;
 * loadgen_scen_login.c login, tls-ceiling, register and idle;
 * loadgen_scen_msg.c msg; loadgen_scen_offline.c offline;
 * loadgen_scen_muc.c muc. */
#ifndef STANZAD_BENCH_LOADGEN_SCEN_H
#define STANZAD_BENCH_LOADGEN_SCEN_H

#include "bench/loadgen.h"

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
struct offline;
struct muc;

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
    bool in_room;           /* muc: the join was confirmed */
};

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
    struct muc *muc;        /* the muc scenario's run, else NULL */
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

void meter_start(struct meter *m, const struct lg_ctx *x);
void meter_stop(struct meter *m, const struct lg_ctx *x);
/* The meter's fields, each name after `prefix` (a line with two
 * measured intervals tells them apart). */
void meter_print_as(const struct meter *m, const char *prefix);
void meter_print(const struct meter *m);

/* Runs the loop until done(p) or until `deadline` (lg_now_s() time) or
 * the run's deadline; false when time ran out. */
bool run_until(struct lg_ctx *x, bool (*done)(const struct pool *), const struct pool *p,
               double deadline);
bool no_live(const struct pool *p);
/* Runs the loop for s seconds (or to the run's deadline). */
void run_for(struct lg_ctx *x, double s);
void show_error(struct lg_ctx *x, const struct slot *s, const char *why);

/* Pool callbacks a scenario's own lg_conn_ops may reuse. */
void on_ready(struct lg_conn *c);
void on_closed(struct lg_conn *c, int err, const char *why);
void pool_init(struct pool *p, struct lg_ctx *x, enum lg_goal goal, uint32_t total, bool keep);
/* Closes what is left of the pool, then frees it. */
void pool_free(struct pool *p);
/* Starts every connection of the pool and runs until each reached its
 * goal or failed. False when the run's deadline passed. */
bool pool_run(struct pool *p);
/* Ends every session politely, waits LG_CLOSE_S, then cuts what is left. */
void pool_close_all(struct pool *p);
double pool_rate(const struct pool *p);
const char *mech_name(const struct lg_opts *o);
const char *tls_name(const struct lg_opts *o);

/* Pads the body that starts at buf + head and ends at buf + len with 'x'
 * to body_bytes, closes the message and returns its length. buf holds
 * LG_STANZA_MAX bytes; callers checked that head leaves room. */
size_t finish_message(char *buf, size_t head, size_t len, uint32_t body_bytes);

/* A message at a msg-scenario pool (loadgen_scen_msg.c). */
void msg_on_message(struct pool *p, struct slot *s, const struct lg_el *el);

int run_logins(struct lg_ctx *x, enum lg_goal goal, const char *name);
int run_idle(struct lg_ctx *x);
int run_curve(struct lg_ctx *x);
int run_msg(struct lg_ctx *x);
int run_offline(struct lg_ctx *x);
int run_muc(struct lg_ctx *x);

#endif
