/* journalbench: see journalbench.h. Options, the group-commit pipeline
 * and the `durable` measurement. */
#include "bench/journalbench.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "kernel/buf.h"
#include "kernel/err.h"
#include "kernel/mem.h"
#include "kernel/xml.h"

/* ---- counting syncs: the journal calls fsync/fdatasync; these
 * definitions take the place of libc's in this program only. ---- */

static atomic_uint_fast64_t sync_calls;

int fdatasync(int fd)
{
    atomic_fetch_add(&sync_calls, 1);
    return (int)syscall(SYS_fdatasync, fd);
}

int fsync(int fd)
{
    atomic_fetch_add(&sync_calls, 1);
    return (int)syscall(SYS_fsync, fd);
}

uint64_t jb_syncs(void) { return atomic_load(&sync_calls); }

uint64_t jb_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double jb_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

uint64_t jb_dir_bytes(const char *dir)
{
    DIR *d = opendir(dir);
    uint64_t sum = 0;
    struct dirent *e;
    char path[8192];
    struct stat st;
    while (d && (e = readdir(d))) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            sum += (uint64_t)st.st_size;
    }
    if (d)
        closedir(d);
    return sum;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(path) ? -1 : 0;
}

static void rm_tree(const char *dir) { (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS); }

/* ---- realistic events ---- */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Words, so LZ4 sees text like a chat's rather than one repeated byte. */
static const char *const words[] = {
    "hello", "are", "you", "coming", "tonight", "the", "meeting", "moved", "to", "three",
    "ok", "thanks", "see", "lunch", "tomorrow", "did", "build", "pass", "yes", "no",
    "maybe", "later", "call", "me", "when", "free", "sounds", "good", "sure", "why",
    "train", "late", "again", "sorry", "for", "delay", "weekend", "plans", "coffee", "now",
};
#define NWORDS (sizeof words / sizeof *words)

struct event *jb_message(uint64_t conn, uint32_t from_user, uint32_t to_user, uint64_t n,
                         uint32_t body_bytes, uint64_t *rng)
{
    char from[64], to[64], bare[48], id[32];
    snprintf(bare, sizeof bare, "u%" PRIu32 "@localhost", from_user);
    snprintf(from, sizeof from, "%s/phone", bare);
    snprintf(to, sizeof to, "u%" PRIu32 "@localhost/phone", to_user);
    snprintf(id, sizeof id, "m%" PRIu64, n);
    char text[1024];
    size_t len = 0, max = body_bytes < sizeof text ? body_bytes : sizeof text - 1;
    while (len < max) {
        const char *w = words[rng_next(rng) % NWORDS];
        size_t wl = strlen(w);
        if (len + wl + 1 > max)
            break;
        memcpy(text + len, w, wl);
        len += wl;
        text[len++] = ' ';
    }
    text[len] = 0;
    struct xnode *st = xml_new("message", NS_CLIENT);
    xml_set_attr(st, "from", from);
    xml_set_attr(st, "to", to);
    xml_set_attr(st, "type", "chat");
    xml_set_attr(st, "id", id);
    xml_add_text(xml_add(st, "body", NS_CLIENT), text);
    return event_new(EV_STANZA, ORIGIN_C2S, conn, bare, st);
}

/* ---- the group-commit pipeline ---- */

static void *worker_main(void *arg)
{
    struct jb_pipe *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->batch && !p->quit)
            pthread_cond_wait(&p->cv, &p->mu);
        if (!p->batch)
            break;
        struct jbatch *b = p->batch;
        pthread_mutex_unlock(&p->mu);
        int rc = journal_commit(p->j, b);
        journal_batch_free(b);
        pthread_mutex_lock(&p->mu);
        p->rc = rc;
        p->batch = NULL;
        pthread_cond_broadcast(&p->cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

int jb_pipe_start(struct jb_pipe *p, struct journal *j)
{
    memset(p, 0, sizeof *p);
    p->j = j;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    return pthread_create(&p->worker, NULL, worker_main, p) ? -EIO : 0;
}

int jb_pipe_wait(struct jb_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->batch)
        pthread_cond_wait(&p->cv, &p->mu);
    int rc = p->rc;
    pthread_mutex_unlock(&p->mu);
    return rc;
}

int jb_pipe_idle(struct jb_pipe *p)
{
    pthread_mutex_lock(&p->mu);
    int idle = p->batch == NULL;
    pthread_mutex_unlock(&p->mu);
    return idle;
}

void jb_pipe_submit(struct jb_pipe *p, struct jbatch *b)
{
    pthread_mutex_lock(&p->mu);
    p->batch = b;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

void jb_pipe_stop(struct jb_pipe *p)
{
    jb_pipe_wait(p);
    pthread_mutex_lock(&p->mu);
    p->quit = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->worker, NULL);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
}

int jb_journal_open(struct journal **j, const char *dir, const char *keyfile,
                    enum journal_sync sync, int readonly)
{
    char err[512] = "";
    struct journal_opts o = {.dir = dir, .sync = sync, .readonly = readonly};
    int rc = journal_key_load(keyfile, o.key, err, sizeof err);
    if (rc == 0)
        rc = journal_open(j, &o, err, sizeof err);
    explicit_bzero(o.key, sizeof o.key);
    if (rc)
        fprintf(stderr, "journalbench: %s: %s\n", dir, err);
    return rc;
}

/* ---- durable events per second ---- */

/* Events of one batch, kept until it is durable (as the bus keeps them
 * until applied). */
struct evs {
    struct event **v;
    size_t n;
};

/* What the bus does once a batch is durable and applied: a routed
 * message's content key is destroyed (nobody holds it), the event freed. */
static void evs_release(struct journal *j, struct evs *l)
{
    for (size_t i = 0; i < l->n; i++) {
        (void)journal_erase(j, l->v[i]->seq);
        event_free(l->v[i]);
    }
    l->n = 0;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Bounds the bus mode's batches: under sync=always a batch costs one
 * fsync per event, so an unbounded one would overrun --duration. */
#define ADAPTIVE_CAP 4096

static int durable_one(const struct jb_opts *o, enum journal_sync sync, uint32_t batch)
{
    const char *sync_name = sync == JOURNAL_SYNC_ALWAYS ? "always" : "batch";
    char bname[16] = "bus";
    if (batch)
        snprintf(bname, sizeof bname, "%" PRIu32, batch);
    char dir[1100], jdir[1200], key[1200];
    snprintf(dir, sizeof dir, "%s/durable-%s-%s", o->base, sync_name, bname);
    snprintf(jdir, sizeof jdir, "%s/journal", dir);
    snprintf(key, sizeof key, "%s/journal.key", dir);
    if (mkdir(dir, 0700) && errno != EEXIST)
        return -errno;
    struct journal *j;
    struct jb_pipe p;
    if (jb_journal_open(&j, jdir, key, sync, 0) || jb_pipe_start(&p, j))
        return -EIO;
    /* batch 0: as the bus, seal whatever waits once the last commit is
     * done, so batches grow with the load (up to cap). */
    size_t cap = batch ? batch : ADAPTIVE_CAP;
    struct evs open = {xcalloc(cap, sizeof(struct event *)), 0};
    struct evs flight = {xcalloc(cap, sizeof(struct event *)), 0};
    struct buf scratch;
    buf_init(&scratch);
    uint64_t rng = 0x2545F4914F6CDD1Dull, n = 0, payload = 0, batches = 0;
    uint64_t t0 = jb_now_ns(), s0 = jb_syncs(), limit_ns = (uint64_t)(o->duration_s * 1e9);
    double c0 = jb_cpu_s();
    int rc = 0;
    while (rc == 0 && n < o->count && jb_now_ns() - t0 < limit_ns) {
        for (size_t i = 0; i < cap && n < o->count; i++, n++) { /* bus_submit, one at a time */
            if (!batch && i && (jb_pipe_idle(&p) || jb_now_ns() - t0 >= limit_ns))
                break;
            uint32_t a = (uint32_t)(n % 1000) * 2 + 1;
            struct event *ev = jb_message(a, a, a + 1, n, o->body_bytes, &rng);
            ev->time_us = wall_us();
            buf_reset(&scratch);
            event_encode(ev, &scratch);
            payload += scratch.len;
            ev->seq = journal_append_sealed(j, EV_STANZA, ev->time_us, 0, scratch.p, scratch.len);
            open.v[open.n++] = ev;
        }
        rc = jb_pipe_wait(&p); /* the previous batch is durable: apply it */
        evs_release(j, &flight);
        struct evs t = flight;
        flight = open;
        open = t;
        jb_pipe_submit(&p, journal_seal(j));
        batches++;
    }
    if (rc == 0)
        rc = jb_pipe_wait(&p);
    evs_release(j, &flight);
    double wall = (double)(jb_now_ns() - t0) / 1e9, cpu = jb_cpu_s() - c0;
    uint64_t syncs = jb_syncs() - s0, bytes = jb_dir_bytes(jdir);
    jb_pipe_stop(&p);
    journal_close(j);
    if (rc) {
        fprintf(stderr, "journalbench: commit failed: %s\n", err_str(rc));
    } else {
        printf("scenario=journal-durable sync=%s batch=%s events=%" PRIu64
               " batches=%" PRIu64 " avg_batch=%.1f event_bytes=%.0f wall_s=%.2f rate_per_s=%.0f"
               " journal_bytes=%" PRIu64 " bytes_per_event=%.1f mb_per_s=%.2f fsyncs=%" PRIu64
               " fsyncs_per_s=%.0f cpu_s=%.2f cpu_pct=%.0f\n",
               sync_name, bname, n, batches, batches ? (double)n / batches : 0.0, n ? (double)payload / n : 0.0, wall, n / wall, bytes,
               n ? (double)bytes / n : 0.0, bytes / wall / 1e6, syncs, syncs / wall, cpu,
               100 * cpu / wall);
        fflush(stdout);
    }
    buf_free(&scratch);
    free(open.v);
    free(flight.v);
    rm_tree(dir);
    return rc;
}

static int run_durable(const struct jb_opts *o)
{
    int failed = 0;
    for (int s = 0; s < 2; s++) {
        if ((s == 0 && !o->sync_batch) || (s == 1 && !o->sync_always))
            continue;
        for (size_t i = 0; i < o->nbatches; i++)
            failed |= durable_one(o, s == 0 ? JOURNAL_SYNC_BATCH : JOURNAL_SYNC_ALWAYS,
                                  o->batches[i]) != 0;
    }
    return failed;
}

/* ---- options ---- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: journalbench durable|replay|snapshot|all [options]\n"
            "  --dir DIR          where the temporary run directory goes (default $TMPDIR or /tmp)\n"
            "  --keep             keep the run directory\n"
            "durable:\n"
            "  --sync batch|always|both   (default both)\n"
            "  --batch LIST       batch sizes, comma-separated; bus: whatever waited while the\n"
            "                     last commit ran, as kernel/bus.c (default 1,64,512,bus)\n"
            "  --count N          events per configuration at most (default 1000000)\n"
            "  --duration S       seconds per configuration at most (default 3)\n"
            "  --body-bytes N     message body text (default 80)\n"
            "replay:\n"
            "  --events N         events in the data directory (default 1000000)\n"
            "  --build-batch N    batch size while building it (default 512)\n"
            "  --no-start         do not time a real stanzad start\n"
            "  --starts N         timed starts (default 2)\n"
            "  --stanzad PATH     (default: stanzad next to this program)\n"
            "  --start-timeout S  (default 120)\n"
            "snapshot (size per account):\n"
            "  --accounts N       accounts in the state (default 10000)\n"
            "  --contacts N       roster items per account (default 20)\n"
            "  --vcard-bytes N    vCard text per account, 0 for none (default 200)\n");
}

static int parse_batches(struct jb_opts *o, char *s)
{
    o->nbatches = 0;
    for (char *t = strtok(s, ","); t; t = strtok(NULL, ",")) {
        long v = strcmp(t, "bus") == 0 ? 0 : strtol(t, NULL, 10);
        if ((v < 1 && strcmp(t, "bus")) || v > 1000000 || o->nbatches == sizeof o->batches / sizeof *o->batches)
            return -1;
        o->batches[o->nbatches++] = (uint32_t)v;
    }
    return o->nbatches ? 0 : -1;
}

static int parse_opts(struct jb_opts *o, int argc, char **argv)
{
    static const struct option longs[] = {
        {"dir", 1, 0, 'd'},      {"keep", 0, 0, 'k'},         {"sync", 1, 0, 's'},
        {"batch", 1, 0, 'b'},    {"count", 1, 0, 'n'},        {"duration", 1, 0, 't'},
        {"body-bytes", 1, 0, 'B'}, {"events", 1, 0, 'e'},     {"build-batch", 1, 0, 'g'},
        {"no-start", 0, 0, 'N'}, {"starts", 1, 0, 'S'},       {"stanzad", 1, 0, 'z'},
        {"start-timeout", 1, 0, 'T'}, {"help", 0, 0, 'h'},    {"accounts", 1, 0, 'A'},
        {"contacts", 1, 0, 'C'}, {"vcard-bytes", 1, 0, 'V'},  {0, 0, 0, 0},
    };
    const char *tmp = getenv("TMPDIR");
    char dir[1000];
    snprintf(dir, sizeof dir, "%s", tmp && *tmp ? tmp : "/tmp");
    *o = (struct jb_opts){.count = 1000000, .duration_s = 3, .batches = {1, 64, 512, 0}, .nbatches = 4,
                          .sync_batch = 1, .sync_always = 1, .body_bytes = 80, .events = 1000000,
                          .build_batch = 512, .start = 1, .starts = 2, .start_timeout_s = 120,
                          .snap_accounts = 10000, .snap_contacts = 20, .snap_vcard_bytes = 200};
    char self[1024];
    snprintf(self, sizeof self, "%s", argv[0]);
    snprintf(o->stanzad, sizeof o->stanzad, "%s/stanzad", dirname(self));
    int c;
    char *end;
    optind = 2; /* argv[1] is the command */
    while ((c = getopt_long(argc, argv, "h", longs, NULL)) != -1) {
        switch (c) {
        case 'd': snprintf(dir, sizeof dir, "%s", optarg); break;
        case 'k': o->keep = 1; break;
        case 's':
            o->sync_batch = strcmp(optarg, "always") != 0;
            o->sync_always = strcmp(optarg, "batch") != 0;
            if (strcmp(optarg, "batch") && strcmp(optarg, "always") && strcmp(optarg, "both"))
                return -1;
            break;
        case 'b': if (parse_batches(o, optarg)) return -1; break;
        case 'n': o->count = strtoull(optarg, &end, 10); if (*end || !o->count) return -1; break;
        case 't': o->duration_s = strtod(optarg, &end); if (*end || o->duration_s <= 0) return -1; break;
        case 'B': o->body_bytes = (uint32_t)strtoul(optarg, &end, 10); if (*end || o->body_bytes > 1000) return -1; break;
        case 'e': o->events = strtoull(optarg, &end, 10); if (*end || o->events < 100) return -1; break;
        case 'g': o->build_batch = (uint32_t)strtoul(optarg, &end, 10); if (*end || !o->build_batch) return -1; break;
        case 'N': o->start = 0; break;
        case 'S': o->starts = (uint32_t)strtoul(optarg, &end, 10); if (*end || !o->starts || o->starts > 10) return -1; break;
        case 'z': snprintf(o->stanzad, sizeof o->stanzad, "%s", optarg); break;
        case 'T': o->start_timeout_s = strtod(optarg, &end); if (*end || o->start_timeout_s <= 0) return -1; break;
        case 'A': o->snap_accounts = strtoull(optarg, &end, 10); if (*end || !o->snap_accounts || o->snap_accounts > 10000000) return -1; break;
        case 'C': o->snap_contacts = (uint32_t)strtoul(optarg, &end, 10); if (*end || o->snap_contacts > 1000) return -1; break;
        case 'V': o->snap_vcard_bytes = (uint32_t)strtoul(optarg, &end, 10); if (*end || o->snap_vcard_bytes > 60000) return -1; break;
        case 'h': usage(stdout); exit(0);
        default: return -1;
        }
    }
    snprintf(o->base, sizeof o->base, "%s/journalbench.XXXXXX", dir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || argv[1][0] == '-') {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    int do_durable = strcmp(cmd, "durable") == 0 || strcmp(cmd, "all") == 0;
    int do_replay = strcmp(cmd, "replay") == 0 || strcmp(cmd, "all") == 0;
    int do_snapshot = strcmp(cmd, "snapshot") == 0 || strcmp(cmd, "all") == 0;
    struct jb_opts o;
    if ((!do_durable && !do_replay && !do_snapshot) || parse_opts(&o, argc, argv)) {
        usage(stderr);
        return 2;
    }
    if (!mkdtemp(o.base)) {
        fprintf(stderr, "journalbench: %s: %s\n", o.base, strerror(errno));
        return 1;
    }
    int failed = 0;
    if (do_durable)
        failed |= run_durable(&o);
    if (do_replay)
        failed |= jb_run_replay(&o) != 0;
    if (do_snapshot)
        failed |= jb_run_snapshot(&o) != 0;
    if (o.keep)
        fprintf(stderr, "journalbench: kept %s\n", o.base);
    else
        rm_tree(o.base);
    return failed ? 1 : 0;
}
