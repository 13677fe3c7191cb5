/* loadgen: the benchmark load generator's shared declarations (issue 6).
 *
 * One single-threaded libuv process drives many XMPP client connections
 * against any server on loopback: TCP from one of several 127.x.y.z source
 * addresses, STARTTLS (RFC 6120 §5) or direct TLS (XEP-0368), SASL
 * SCRAM-SHA-1 / SCRAM-SHA-256 (RFC 5802, RFC 7677), resource binding
 * (RFC 6120 §7), the legacy session (RFC 3921 §3) when the server says it
 * is not optional, and initial presence. Scenarios (loadgen_scen*.c) use
 * these connections to measure logins, idle memory, messages, offline
 * storage and delivery, group chat fan-out (XEP-0045) and the TLS
 * handshake ceiling; each prints one machine-parsable figure line.
 *
 * Files: loadgen.c (options, set-up, main), loadgen_conn.c (socket, TLS
 * memory pipe, lifetime), loadgen_xmpp.c (the login state machine's
 * answers), loadgen_xml.c (a tiny tree per top-level element over expat),
 * loadgen_scen.c (what scenarios share; loadgen_scen.h) and one
 * loadgen_scen_<name>.c per scenario, loadgen_stats.c (latency
 * samples, CPU and RSS readings). bench/README.md says how to run them.
 *
 * Ownership: the context owns accounts and connections; a connection is
 * freed by its own close callback, right after its closed_cb, and every
 * pointer a callback receives is borrowed for the call. */
#ifndef STANZAD_BENCH_LOADGEN_H
#define STANZAD_BENCH_LOADGEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/ssl.h>
#include <netinet/in.h>
#include <uv.h>

#include "kernel/scram.h"

/* Source addresses connections are spread over (one 127.x.y.z each). */
#define LG_SRC_MAX 1024
/* Longest --prefix, --password or --domain: the generator's own stanzas
 * carry them and fit a fixed buffer. */
#define LG_TEXT_MAX 200
/* A salt longer than this (decoded bytes) fails the login. */
#define LG_SALT_MAX 128
/* Latency samples kept per figure; past it, reservoir sampling keeps a
 * uniform subset, so percentiles stay unbiased and memory bounded. */
#define LG_SAMPLES_MAX (1u << 20)
/* Most messages the offline scenario sends (it keeps two bytes each). */
#define LG_OFFLINE_MAX 10000000u

enum lg_tls_mode { LG_STARTTLS, LG_DIRECT_TLS };

/* How far a connection goes before its ready callback. */
enum lg_goal {
    LG_GOAL_HANDSHAKE, /* TLS handshake done (no XMPP on direct TLS) */
    LG_GOAL_LOGIN,     /* authenticated and bound (and session, presence) */
    LG_GOAL_REGISTER,  /* in-band registration (XEP-0077) answered */
};

struct lg_opts {
    const char *scenario;
    struct sockaddr_in server;  /* host and port actually dialled */
    enum lg_tls_mode tls;
    const char *domain;
    const char *prefix;         /* account names are <prefix><number> */
    const char *password;
    uint32_t first;             /* number of the first account */
    uint32_t accounts;          /* how many accounts exist */
    uint32_t n;                 /* connections (logins, handshakes, sessions) */
    uint32_t conc;              /* connections in flight at once */
    int mech;                   /* -1: best offered, else enum scram_hash */
    bool resume;                /* offer saved TLS session tickets */
    bool warmup;                /* log every account in once before timing */
    bool presence;              /* send initial presence once bound */
    bool verify_ske;            /* check the ServerKeyExchange signature */
    uint32_t src_base;          /* first source address, host order */
    uint32_t src_count;
    pid_t server_pid;           /* 0: unknown (no RSS, no server CPU) */
    double duration_s;          /* msg: sending time */
    uint64_t count;             /* msg: bound on messages sent; offline: messages */
    uint32_t pairs;             /* msg: account pairs */
    uint32_t window;            /* msg: messages in flight per direction;
                                 * offline: per sender, until a ping covers them */
    uint32_t body_bytes;        /* msg, offline: body length */
    uint32_t senders;           /* offline: accounts sending to the first one;
                                 * muc: occupants sending groupchat */
    uint32_t occupants;         /* muc: accounts in the room */
    const char *muc_domain;     /* muc: the service's domain (chat.<domain>) */
    const char *room;           /* muc: room local part, NULL: a random one */
    uint32_t ping_every;        /* offline: a ping after this many messages */
    uint32_t probes;            /* idle: ping round trips after settling */
    double settle_s;            /* idle: wait before reading RSS */
    double hold_s;              /* idle: keep sessions this long after */
    const char *steps;          /* curve: session counts, comma list; NULL: default */
    uint32_t procs;             /* curve: generator processes */
    double login_timeout_s;     /* one connection's limit to reach its goal */
    double timeout_s;           /* the whole run's limit */
    const char *curves;         /* comma list: x25519, p256, p384 */
    const char *key_cache;      /* file keeping SaltedPasswords across runs */
    int verbose;
};

/* One cached SaltedPassword (RFC 5802 §3), valid for this salt and
 * iteration count only. */
struct lg_salted {
    bool valid;
    uint32_t iter;
    size_t salt_len;
    uint8_t salt[LG_SALT_MAX];
    uint8_t key[SCRAM_KEY_MAX];
};

struct lg_account {
    char *user;                 /* local part, owned */
    struct lg_salted salted[SCRAM_HASH_COUNT_]; /* per hash */
    mbedtls_ssl_session *ticket; /* last session, NULL before one; owned */
};

/* Process-wide state: one per process, lives for the whole run. */
struct lg_ctx {
    uv_loop_t *loop;
    const struct lg_opts *opts;
    struct lg_account *acct;    /* opts->accounts entries */
    struct sockaddr_in src[LG_SRC_MAX];
    uint32_t src_count;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config tls;
    mbedtls_ecp_group_id curves[8];
    uv_timer_t sweep;           /* login deadlines, every LG_SWEEP_MS */
    struct lg_conn *conns;      /* every live connection */
    uint32_t live;
    uint64_t seq;               /* connections started so far */
    uint64_t pbkdf2;            /* SaltedPassword computations so far */
    uint32_t errors_shown;
    double t_end;               /* lg_now_s() when the run must stop */
};

/* ---- loadgen_conn.c ---- */

struct lg_conn;
struct lg_el;

/* A scenario's callbacks. ready_cb runs once when the goal is reached;
 * stanza_cb for each message and each iq result/error after that;
 * closed_cb exactly once, when the connection is gone: err 0 when the
 * scenario closed it, else a negative code, and why (borrowed for the
 * call) says in which state and how it failed. */
struct lg_conn_ops {
    void (*ready_cb)(struct lg_conn *c);
    void (*stanza_cb)(struct lg_conn *c, const struct lg_el *el);
    void (*closed_cb)(struct lg_conn *c, int err, const char *why);
};

/* Sets up TLS configuration, randomness, source addresses and accounts.
 * Returns 0 or a negative code after printing why. */
int lg_ctx_init(struct lg_ctx *x, uv_loop_t *loop, const struct lg_opts *o);
void lg_ctx_free(struct lg_ctx *x);

/* Starts one connection for account a. ops and user are borrowed for the
 * connection's life. Never fails synchronously: errors reach closed_cb. */
struct lg_conn *lg_conn_start(struct lg_ctx *x, struct lg_account *a, enum lg_goal goal,
                              const struct lg_conn_ops *ops, void *user);
/* Sends raw XML on a ready connection (copied). */
void lg_conn_send(struct lg_conn *c, const char *xml, size_t n);
/* Ends the stream politely and closes (a connection still logging in is
 * just closed); closed_cb follows with err 0. */
void lg_conn_close(struct lg_conn *c);
/* Closes at once without a word; closed_cb follows with err 0. */
void lg_conn_abort(struct lg_conn *c);
void *lg_conn_user(const struct lg_conn *c);
struct lg_account *lg_conn_account(const struct lg_conn *c);
/* Full JID the server bound, valid while the connection lives. */
const char *lg_conn_jid(const struct lg_conn *c);
bool lg_conn_resumed(const struct lg_conn *c);
/* Fails connections past their deadline (login_timeout_s to reach the
 * goal, a few seconds to close). Run from a timer. */
void lg_conn_sweep(struct lg_ctx *x);
/* Nanoseconds from the start of connect to the goal. */
uint64_t lg_conn_login_ns(const struct lg_conn *c);

/* ---- loadgen_xml.c: one tree per top-level stream child ---- */

struct lg_el {
    char *name;            /* local name, namespace dropped */
    char *ns;              /* namespace or "" */
    char **attrs;          /* local name, value, ..., NULL */
    char *text;            /* character data, NUL-terminated, maybe NULL */
    size_t text_len;
    struct lg_el *kids, *next, *parent;
};

struct lg_xml;
/* el_cb gets each complete child of the stream root, borrowed for the
 * call; open_cb the root's opening tag. */
struct lg_xml *lg_xml_new(void (*open_cb)(void *arg), void (*el_cb)(void *arg, struct lg_el *el),
                          void *arg);
void lg_xml_free(struct lg_xml *x);
/* Returns 0, -ERR_CLOSED once the stream root ended, or -ERR_PARSE. */
int lg_xml_feed(struct lg_xml *x, const char *p, size_t n);
/* From inside el_cb: a new stream follows; bytes after the current
 * element in this feed are dropped (servers send none: they wait for the
 * client's next step after <proceed/> and <success/>). */
void lg_xml_restart(struct lg_xml *x);
const char *lg_el_attr(const struct lg_el *e, const char *name);
const struct lg_el *lg_el_child(const struct lg_el *e, const char *name);

/* ---- loadgen_stats.c ---- */

struct lg_lat {
    uint32_t *us;      /* samples in microseconds */
    size_t n;
    uint64_t seen;     /* samples offered */
    uint64_t rng;
};
void lg_lat_add(struct lg_lat *l, uint64_t ns);
/* p in [0,100]; sorts the samples; 0 when there are none. In ms. */
double lg_lat_pct_ms(struct lg_lat *l, double p);
void lg_lat_free(struct lg_lat *l);

/* This process's user+system CPU seconds. */
double lg_cpu_self_s(void);
/* A process's user+system CPU seconds from /proc, or -1. */
double lg_cpu_pid_s(pid_t pid);
/* A process's resident set in KiB from /proc/PID/status, or -1. */
long lg_rss_kib(pid_t pid);
double lg_now_s(void);

/* ---- loadgen_scen.c (and loadgen_scen_*.c, loadgen_scen.h) ---- */

/* Runs opts->scenario to the end and prints its figure line. Returns 0
 * when every connection and message succeeded, 1 otherwise. */
int lg_scenario_run(struct lg_ctx *x);

#endif
