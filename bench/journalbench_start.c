/* journalbench_start: the `replay` command. Builds a data directory the
 * way a running server fills it (bus order: append, commit, dispatch,
 * destroy routed messages' keys), reads it back in-process, then times a
 * real stanzad start on it. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/journalbench.h"
#include "handlers/accounts/accounts.h"
#include "handlers/sessions/sessions.h"
#include "kernel/buf.h"
#include "kernel/dispatch.h"
#include "kernel/err.h"
#include "kernel/mem.h"
#include "replay/replay.h"

/* ---- building the data directory ---- */

/* The mix of a server's life: every account registers, binds one session,
 * then chats with its partner (u1<->u2, u3<->u4, ...). */
struct mix {
    uint64_t accounts; /* even */
    uint64_t made;     /* events generated after server-started */
    uint64_t rng;
    uint32_t body_bytes;
};

static struct event *mix_next(struct mix *m)
{
    uint64_t i = m->made++;
    if (i < m->accounts) {
        char bare[64];
        struct scram_creds c;
        memset(&c, 0, sizeof c);
        for (size_t k = 0; k < sizeof c; k += 8) { /* random-looking salt and keys */
            uint64_t r = m->rng = m->rng * 6364136223846793005ull + 1442695040888963407ull;
            memcpy((uint8_t *)&c + k, &r, sizeof c - k < 8 ? sizeof c - k : 8);
        }
        c.iter = 4096;
        snprintf(bare, sizeof bare, "u%" PRIu64 "@localhost", i + 1);
        return accounts_ev_register(ORIGIN_C2S, i + 1, bare, "reg1", &c);
    }
    if (i < 2 * m->accounts) {
        char full[64];
        uint64_t u = i - m->accounts + 1;
        snprintf(full, sizeof full, "u%" PRIu64 "@localhost/phone", u);
        return sessions_ev_bound(u, full, "bind1");
    }
    uint64_t k = i - 2 * m->accounts, pair = k / 2 % (m->accounts / 2);
    uint32_t a = (uint32_t)(2 * pair + 1), b = a + 1;
    if (k % 2)
        a = b, b = a - 1;
    return jb_message(a, a, b, k, m->body_bytes, &m->rng);
}

struct build {
    struct journal *j;
    struct dispatch *d;
    uint64_t messages, delivered, decisions, failed;
};

static int is_message(const struct event *ev)
{
    return ev->type == EV_STANZA && strcmp(ev->body->name, "message") == 0;
}

/* Applies a durable batch as bus.c's apply_batch does, checking that each
 * message reached its partner's session (the mix is what it claims). */
static void build_apply(struct build *b, struct event **v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct event *ev = v[i];
        struct effects fx;
        effects_init(&fx);
        if (dispatch_event(b->d, ev, &fx))
            b->failed++;
        for (size_t k = 0; k < fx.n; k++) {
            b->decisions += fx.v[k].kind == FX_EVENT;
            if (is_message(ev) && fx.v[k].kind == FX_STANZA &&
                fx.v[k].to == (ev->origin % 2 ? ev->origin + 1 : ev->origin - 1))
                b->delivered++;
        }
        if (is_message(ev)) {
            b->messages++;
            if (!dispatch_holds(b->d, ev->seq))
                (void)journal_erase(b->j, ev->seq);
        }
        effects_clear(&fx);
        event_free(ev);
    }
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int build_data(const struct jb_opts *o, const char *data)
{
    char jdir[1200], key[1200];
    snprintf(jdir, sizeof jdir, "%s/journal", data);
    snprintf(key, sizeof key, "%s/journal.key", data);
    if (mkdir(data, 0700))
        return -errno;
    struct build b = {.d = dispatch_new()};
    struct jb_pipe p;
    if (jb_journal_open(&b.j, jdir, key, JOURNAL_SYNC_BATCH, 0) || jb_pipe_start(&p, b.j))
        return -EIO;
    uint64_t accounts = o->events / 50 < 2 ? 2 : o->events / 50 / 2 * 2;
    struct mix m = {.accounts = accounts, .rng = 88172645463325252ull, .body_bytes = o->body_bytes};
    struct event **open = xcalloc(o->build_batch, sizeof *open), **flight = xcalloc(o->build_batch, sizeof *open);
    size_t nopen = 0, nflight = 0;
    struct buf scratch;
    buf_init(&scratch);
    uint64_t t0 = jb_now_ns();
    int rc = 0;
    for (uint64_t n = 0; rc == 0 && n < o->events; n++) {
        struct event *ev = n == 0 ? event_server_started("localhost", "journalbench") : mix_next(&m);
        if (n == 0)
            event_set_limits(ev, 1000, 65536);
        ev->time_us = wall_us();
        buf_reset(&scratch);
        event_encode(ev, &scratch);
        ev->seq = is_message(ev) ? journal_append_sealed(b.j, (uint16_t)ev->type, ev->time_us, 0,
                                                         scratch.p, scratch.len)
                                 : journal_append(b.j, (uint16_t)ev->type, ev->time_us, scratch.p,
                                                  scratch.len);
        open[nopen++] = ev;
        if (nopen < o->build_batch && n + 1 < o->events)
            continue;
        rc = jb_pipe_wait(&p);
        build_apply(&b, flight, nflight);
        struct event **t = flight;
        flight = open, nflight = nopen;
        open = t, nopen = 0;
        jb_pipe_submit(&p, journal_seal(b.j));
    }
    if (rc == 0)
        rc = jb_pipe_wait(&p);
    build_apply(&b, flight, nflight);
    double wall = (double)(jb_now_ns() - t0) / 1e9;
    jb_pipe_stop(&p);
    journal_close(b.j);
    dispatch_free(b.d);
    buf_free(&scratch);
    free(open);
    free(flight);
    printf("scenario=journal-build events=%" PRIu64 " accounts=%" PRIu64 " sessions=%" PRIu64
           " messages=%" PRIu64 " delivered=%" PRIu64 " decisions=%" PRIu64 " not_applied=%" PRIu64
           " batch=%" PRIu32 " wall_s=%.2f rate_per_s=%.0f journal_bytes=%" PRIu64 "\n",
           o->events, accounts, accounts, b.messages, b.delivered, b.decisions, b.failed,
           o->build_batch, wall, o->events / wall, jb_dir_bytes(jdir));
    fflush(stdout);
    if (rc)
        fprintf(stderr, "journalbench: build: commit failed: %s\n", err_str(rc));
    else if (b.failed || b.delivered != b.messages)
        fprintf(stderr, "journalbench: build: %" PRIu64 " events not applied, %" PRIu64
                " of %" PRIu64 " messages delivered\n", b.failed, b.delivered, b.messages);
    return rc ? rc : b.failed || b.delivered != b.messages ? -ERR_CORRUPT : 0;
}

/* ---- reading it back in-process ---- */

struct counts {
    uint64_t n, erased, bytes;
};

static int count_cb(void *arg, const struct jrec *r)
{
    struct counts *c = arg;
    c->n++;
    c->erased += (uint64_t)r->erased;
    c->bytes += r->len;
    return 0;
}

static int replay_inproc(const struct jb_opts *o, const char *data)
{
    char jdir[1200], key[1200], err[512] = "";
    snprintf(jdir, sizeof jdir, "%s/journal", data);
    snprintf(key, sizeof key, "%s/journal.key", data);
    struct journal *j;
    double c0 = jb_cpu_s();
    uint64_t t0 = jb_now_ns();
    if (jb_journal_open(&j, jdir, key, JOURNAL_SYNC_NONE, 1))
        return -EIO;
    uint64_t t1 = jb_now_ns();
    struct counts c = {0};
    int rc = journal_read(j, 1, count_cb, &c, err, sizeof err);
    uint64_t t2 = jb_now_ns();
    struct dispatch *d = dispatch_new();
    int64_t applied = rc ? -1 : replay_journal(j, d, 1, NULL, NULL, err, sizeof err);
    uint64_t t3 = jb_now_ns();
    double cpu = jb_cpu_s() - c0;
    uint64_t bytes = jb_dir_bytes(jdir);
    dispatch_free(d);
    journal_close(j);
    if (rc || applied < 0) {
        fprintf(stderr, "journalbench: replay: %s\n", err);
        return rc ? rc : (int)applied;
    }
    double open_s = (t1 - t0) / 1e9, read_s = (t2 - t1) / 1e9, replay_s = (t3 - t2) / 1e9;
    printf("scenario=journal-replay events=%" PRIu64 " erased=%" PRIu64 " journal_bytes=%" PRIu64
           " open_s=%.3f open_per_s=%.0f read_s=%.3f read_per_s=%.0f replay_s=%.3f"
           " replay_per_s=%.0f read_mb_per_s=%.1f cpu_s=%.2f\n",
           c.n, c.erased, bytes, open_s, c.n / open_s, read_s, c.n / read_s, replay_s,
           applied / replay_s, bytes / read_s / 1e6, cpu);
    fflush(stdout);
    return (uint64_t)applied == c.n && c.n == o->events ? 0 : -ERR_SEQ;
}

/* ---- a real start ---- */

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int port_accepts(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

struct server {
    pid_t pid;
    int port;
};

static int server_spawn(const struct jb_opts *o, const char *data, const char *log,
                        struct server *s)
{
    int tls_port = free_port();
    s->port = free_port();
    if (s->port < 0 || tls_port < 0 || s->port == tls_port)
        return -EIO;
    char a[9][1300];
    snprintf(a[0], sizeof a[0], "data_dir=%s", data);
    snprintf(a[1], sizeof a[1], "c2s_port=%d", s->port);
    snprintf(a[2], sizeof a[2], "c2s_tls_port=%d", tls_port);
    snprintf(a[3], sizeof a[3], "tls_cert=%s/tls/cert.pem", o->base);
    snprintf(a[4], sizeof a[4], "tls_key=%s/tls/key.pem", o->base);
    snprintf(a[5], sizeof a[5], "snapshot_every_events=0"); /* every start reads the journal */
    snprintf(a[6], sizeof a[6], "snapshot_every_s=0");
    snprintf(a[7], sizeof a[7], "journal_sync=batch");
    snprintf(a[8], sizeof a[8], "listen_addr=127.0.0.1");
    char *argv[] = {(char *)o->stanzad, "--set", a[0], "--set", a[1], "--set", a[2], "--set",
                    a[3], "--set", a[4], "--set", a[5], "--set", a[6], "--set", a[7], "--set",
                    a[8], "--set", "s2s_port=0", NULL};
    s->pid = fork();
    if (s->pid < 0)
        return -errno;
    if (s->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0)
            dup2(fd, 2);
        execv(o->stanzad, argv);
        _exit(127);
    }
    return 0;
}

/* Waits until the client port accepts, the server exits or time is up;
 * returns milliseconds since t0, or -1. */
static double server_wait_ready(const struct jb_opts *o, const struct server *s, uint64_t t0)
{
    uint64_t limit = (uint64_t)(o->start_timeout_s * 1e9);
    while (jb_now_ns() - t0 < limit) {
        if (port_accepts(s->port))
            return (jb_now_ns() - t0) / 1e6;
        if (waitpid(s->pid, NULL, WNOHANG) == s->pid)
            return -1;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

/* SIGTERM, then up to 15 s, then SIGKILL. 0 when it exited with 0;
 * *status gets the wait status (-1: already reaped). */
static int server_stop(const struct server *s, int *status_out)
{
    int status = 0;
    *status_out = -1;
    kill(s->pid, SIGTERM);
    for (int i = 0; i < 1500; i++) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid) {
            *status_out = status;
            return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
        }
        if (r < 0) /* already reaped by server_wait_ready */
            return -1;
        struct timespec ts = {0, 10000000};
        nanosleep(&ts, NULL);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    *status_out = status;
    return -1;
}

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld", &kib) == 1)
            break;
    if (f)
        fclose(f);
    return kib;
}

/* The server's own account of the replay: "replay: N events applied in M ms". */
static void log_replay(const char *log, long long *events, long long *ms)
{
    char line[1024];
    FILE *f = fopen(log, "r");
    *events = *ms = -1;
    while (f && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "replay: ");
        if (p)
            (void)sscanf(p, "replay: %lld events applied in %lld ms", events, ms);
    }
    if (f)
        fclose(f);
}

/* One start: spawn, wait for the port, stop. */
static int start_one(const struct jb_opts *o, const char *data, const char *name, int timed,
                     uint64_t events)
{
    char log[1300];
    snprintf(log, sizeof log, "%s/%s.log", o->base, name);
    struct server s;
    uint64_t t0 = jb_now_ns();
    if (server_spawn(o, data, log, &s))
        return -EIO;
    double ready_ms = server_wait_ready(o, &s, t0);
    long rss = ready_ms >= 0 ? rss_kib(s.pid) : -1;
    int status;
    int stopped = server_stop(&s, &status);
    if (ready_ms < 0 || stopped) {
        fprintf(stderr, "journalbench: stanzad (%s) %s (wait status %d: %s %d); its log %s:\n",
                name, ready_ms < 0 ? "did not accept connections" : "did not exit cleanly",
                status, status >= 0 && WIFSIGNALED(status) ? "signal" : "exit",
                status >= 0 && WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), log);
        char cmd[1400];
        snprintf(cmd, sizeof cmd, "tail -n 15 '%s' >&2", log);
        if (system(cmd) != 0)
            fprintf(stderr, "journalbench: cannot show %s\n", log);
        return -EIO;
    }
    if (timed) {
        long long replayed, replay_ms;
        log_replay(log, &replayed, &replay_ms);
        printf("scenario=journal-start run=%s events=%" PRIu64 " replayed=%lld ready_ms=%.0f"
               " replay_log_ms=%lld rss_kib=%ld\n",
               name, events, replayed, ready_ms, replay_ms, rss);
        fflush(stdout);
    }
    return 0;
}

static int time_starts(const struct jb_opts *o, const char *data)
{
    if (access(o->stanzad, X_OK)) {
        fprintf(stderr, "journalbench: %s is missing: build it (ninja) or pass --stanzad\n",
                o->stanzad);
        return -EIO;
    }
    char prime[1100];
    snprintf(prime, sizeof prime, "%s/prime", o->base);
    /* The certificate is made once, untimed, in a directory of its own. */
    int rc = start_one(o, prime, "prime", 0, 0);
    for (uint32_t i = 1; rc == 0 && i <= o->starts; i++) {
        char name[32];
        snprintf(name, sizeof name, "start%" PRIu32, i);
        /* Each earlier start appended its server-started event. */
        rc = start_one(o, data, name, 1, o->events + i - 1);
    }
    return rc;
}

int jb_run_replay(const struct jb_opts *o)
{
    char data[1100];
    snprintf(data, sizeof data, "%s/data", o->base);
    int rc = build_data(o, data);
    if (rc == 0)
        rc = replay_inproc(o, data);
    if (rc == 0 && o->start)
        rc = time_starts(o, data);
    return rc;
}
