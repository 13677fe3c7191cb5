/* replay_tool: `stanzactl replay --verify|--record|--check` (see
 * replay_tool.h; the golden file format is in doc/replay.md).
 *
 * --verify asks one question of the data directory: do the snapshots and
 * the journal tell the same story? The newest snapshot plus the journal
 * tail is what a start uses; the oldest retained point (the journal from
 * seq 1, or the oldest snapshot) replays the most events. Both rebuilds
 * must end at the journal's last seq with the same dispatch_encode bytes;
 * a handler whose state depends on something not in its events (a clock,
 * a volatile table that a snapshot cannot carry) shows up as a
 * difference here before it shows up as a bug report.
 *
 * Like ctl/journal_tool.c this takes <data_dir>/lock (flock, exclusive,
 * non-blocking, our pid written in) and never creates a journal key.
 * snapshot_list removes leftover temporary snapshot files, as a server
 * start would; nothing else is changed on disk. */
#include "ctl/replay_tool.h"
#include "kernel/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "journal/journal.h"
#include "kernel/buf.h"
#include "kernel/err.h"
#include "kernel/mem.h"
#include "replay/replay.h"
#include "snapshot/snapshot.h"

#define RT_PATH_BYTES 4096 /* a longer data_dir path is refused as a usage error */
#define RT_PID_BYTES 32    /* what we read of the lock file: a decimal pid */
#define KEY_ENV "STANZAD_JOURNAL_KEY"

/* Bookkeeping of one run. */
struct rtool {
    const char *data_dir;
    const char *key_command; /* config journal_key_command; "" when none */
    int lock_fd;
    struct journal *j;
    uint8_t key[JOURNAL_KEY_LEN]; /* for the snapshots; wiped at the end */
    char snapdir[RT_PATH_BYTES];
    char err[1024];
    struct buf out; /* --record */
};

/* One rebuild for --verify. */
struct rebuild {
    const char *name;   /* "oldest", "newest" */
    struct dispatch *d;
    uint64_t snap_seq;  /* 0: from the journal's seq 1 */
    uint64_t from;      /* first journal seq replayed */
    uint8_t dg[REPLAY_DIGEST_BYTES];
};

/* Takes <data_dir>/lock (kernel/datadir.c). */
static int lock_data_dir(struct rtool *t)
{
    char holder[DATADIR_PID_BYTES], err[512] = "";
    int fd = datadir_lock(t->data_dir, 0, holder, err, sizeof err);
    if (fd == -ERR_LOCKED) {
        fprintf(stderr, "stanzactl: data directory %s is in use (%s): stop stanzad before "
                "`replay`\n", t->data_dir, err);
        return REPLAY_EXIT_BUSY;
    }
    if (fd < 0) {
        fprintf(stderr, "stanzactl: %s\n", err);
        return fd == -ENAMETOOLONG ? REPLAY_EXIT_USAGE : REPLAY_EXIT_FAIL;
    }
    t->lock_fd = fd;
    return REPLAY_EXIT_OK;
}

static void on_report(void *arg, const char *file, uint64_t off, uint64_t bytes, const char *reason)
{
    (void)arg;
    printf("note: %s: offset %" PRIu64 ": %" PRIu64 " bytes: %s\n", file, off, bytes, reason);
}

static void on_snap_report(void *arg, const char *file, int code, const char *reason)
{
    (void)arg;
    printf("note: %s: %s%s%s\n", file, reason, code ? ": " : "", code ? err_name(code) : "");
}

/* Loads the key without ever making one and opens the journal read-only. */
static int open_journal(struct rtool *t)
{
    char path[RT_PATH_BYTES];
    struct journal_opts o = {0};
    snprintf(path, sizeof path, "%s/journal.key", t->data_dir);
    if (!getenv(KEY_ENV) && !*t->key_command && access(path, F_OK) != 0) {
        fprintf(stderr, "stanzactl: no journal key: %s: %s, and neither %s nor "
                "journal_key_command is set\n", path, strerror(errno), KEY_ENV);
        return REPLAY_EXIT_FAIL;
    }
    if (journal_key_obtain(path, t->key_command, 0, t->key, t->err, sizeof t->err)) {
        fprintf(stderr, "stanzactl: journal key: %s\n", t->err);
        return REPLAY_EXIT_FAIL;
    }
    memcpy(o.key, t->key, sizeof o.key);
    snprintf(path, sizeof path, "%s/journal", t->data_dir);
    snprintf(t->snapdir, sizeof t->snapdir, "%s/snapshots", t->data_dir);
    o.dir = path;
    o.sync = JOURNAL_SYNC_NONE; /* nothing is written */
    o.readonly = 1;
    o.report = on_report;
    int rc = journal_open(&t->j, &o, t->err, sizeof t->err);
    explicit_bzero(o.key, sizeof o.key);
    if (rc) {
        printf("damaged: %s\n", t->err);
        return REPLAY_EXIT_FAIL;
    }
    return REPLAY_EXIT_OK;
}

/* ---- --verify ---- */

/* Loads snapshot seq into a new dispatch if it is usable by the rule a
 * start applies (kernel/snapshotter.c accept_cb): it decodes, agrees with
 * its own seq, and the journal holds every event after it. */
static struct dispatch *load_snapshot(struct rtool *t, uint64_t seq)
{
    uint8_t *state = NULL;
    size_t len = 0;
    int64_t when;
    int rc = snapshot_load(t->snapdir, t->key, seq, &state, &len, &when, t->err, sizeof t->err);
    if (rc) {
        printf("note: snapshot at seq %" PRIu64 " not usable: %s\n", seq, t->err);
        return NULL;
    }
    struct dispatch *d = dispatch_new();
    rc = dispatch_decode(d, state, len);
    free(state);
    const char *why = rc ? "its state does not decode"
                      : dispatch_last_seq(d) != seq ? "its state covers another seq"
                      : journal_first_seq(t->j) > seq + 1 ? "the journal after it was compacted away"
                      : journal_next_seq(t->j) < seq + 1 ? "the journal ends before it"
                                                          : NULL;
    if (why) {
        printf("note: snapshot at seq %" PRIu64 " not usable: %s\n", seq, why);
        dispatch_free(d);
        return NULL;
    }
    return d;
}

/* Picks the starting point of one rebuild. seqs is newest first; oldest
 * walks it from the other end. The journal from seq 1 is the oldest
 * point when it is there, and the newest point's fallback (as at start). */
static int pick_start(struct rtool *t, const uint64_t *seqs, size_t n, int oldest, struct rebuild *r)
{
    int from_one = journal_first_seq(t->j) == 1;
    if (!(oldest && from_one)) {
        for (size_t k = 0; k < n && !r->d; k++) {
            uint64_t seq = seqs[oldest ? n - 1 - k : k];
            if ((r->d = load_snapshot(t, seq)))
                r->snap_seq = seq;
        }
    }
    if (r->d) {
        r->from = r->snap_seq + 1;
        return REPLAY_EXIT_OK;
    }
    if (!from_one) {
        printf("damaged: the journal starts at seq %" PRIu64 " and no usable snapshot covers "
               "seq %" PRIu64 "\n", journal_first_seq(t->j), journal_first_seq(t->j) - 1);
        return REPLAY_EXIT_FAIL;
    }
    r->d = dispatch_new();
    r->from = 1;
    return REPLAY_EXIT_OK;
}

/* Replays the journal from r->from into r->d and digests the result. */
static int rebuild(struct rtool *t, struct rebuild *r)
{
    int64_t applied = replay_journal(t->j, r->d, r->from, NULL, NULL, t->err, sizeof t->err);
    if (applied < 0) {
        printf("damaged: %s rebuild: %s\n", r->name, t->err);
        return REPLAY_EXIT_FAIL;
    }
    int rc = replay_digest(r->d, r->dg);
    if (rc) {
        printf("error: %s rebuild: encoding the state: %s\n", r->name, err_str(rc));
        return REPLAY_EXIT_FAIL;
    }
    char hex[REPLAY_DIGEST_HEX], what[128];
    uint64_t last = dispatch_last_seq(r->d);
    replay_digest_hex(r->dg, hex);
    if (r->snap_seq && last < r->from)
        snprintf(what, sizeof what, "snapshot seq %" PRIu64 " + no journal after it", r->snap_seq);
    else if (r->snap_seq)
        snprintf(what, sizeof what, "snapshot seq %" PRIu64 " + journal seq %" PRIu64 "..%" PRIu64,
                 r->snap_seq, r->from, last);
    else
        snprintf(what, sizeof what, "journal seq 1..%" PRIu64, last);
    printf("%s: %s (%" PRId64 " events replayed): sha256 %s\n", r->name, what, applied, hex);
    return REPLAY_EXIT_OK;
}

static int run_verify(struct rtool *t)
{
    uint64_t *seqs = NULL;
    size_t n = 0;
    struct rebuild a = {.name = "oldest"}, b = {.name = "newest"};
    if (snapshot_list(t->snapdir, &seqs, &n, on_snap_report, NULL, t->err, sizeof t->err) < 0) {
        printf("error: %s\n", t->err);
        return REPLAY_EXIT_FAIL;
    }
    int rc = pick_start(t, seqs, n, 1, &a);
    if (rc == REPLAY_EXIT_OK)
        rc = pick_start(t, seqs, n, 0, &b);
    if (rc == REPLAY_EXIT_OK)
        rc = rebuild(t, &a);
    if (rc == REPLAY_EXIT_OK)
        rc = rebuild(t, &b);
    uint64_t last = journal_next_seq(t->j) - 1;
    if (rc == REPLAY_EXIT_OK && (dispatch_last_seq(a.d) != last || dispatch_last_seq(b.d) != last)) {
        printf("differ: the rebuilds end at seq %" PRIu64 " and %" PRIu64 ", the journal at %" PRIu64
               "\n", dispatch_last_seq(a.d), dispatch_last_seq(b.d), last);
        rc = REPLAY_EXIT_FAIL;
    }
    if (rc == REPLAY_EXIT_OK && memcmp(a.dg, b.dg, sizeof a.dg) != 0) {
        printf("differ: the two rebuilds of the state at seq %" PRIu64 " are not the same\n", last);
        rc = REPLAY_EXIT_FAIL;
    } else if (rc == REPLAY_EXIT_OK) {
        if (a.snap_seq == b.snap_seq)
            printf("note: both rebuilds start from the same point (%s): only one way to the state\n",
                   a.snap_seq ? "one usable snapshot" : "no usable snapshot");
        printf("ok: both rebuilds agree at seq %" PRIu64 "\n", last);
    }
    if (a.d)
        dispatch_free(a.d);
    if (b.d)
        dispatch_free(b.d);
    free(seqs);
    return rc;
}

/* ---- --record and --check ---- */

static void record_cb(void *arg, const struct event *ev, const struct effects *fx)
{
    struct rtool *t = arg;
    replay_golden_block(ev, fx, &t->out);
}

static int write_all(const char *path, const struct buf *b)
{
    FILE *f = strcmp(path, "-") == 0 ? stdout : fopen(path, "w");
    if (!f) {
        fprintf(stderr, "stanzactl: %s: %s\n", path, strerror(errno));
        return REPLAY_EXIT_FAIL;
    }
    int bad = fwrite(b->p, 1, b->len, f) != b->len;
    bad |= f == stdout ? fflush(f) != 0 : fclose(f) != 0;
    if (bad) {
        fprintf(stderr, "stanzactl: writing %s: %s\n", path, strerror(errno));
        return REPLAY_EXIT_FAIL;
    }
    return REPLAY_EXIT_OK;
}

/* Golden files replay into fresh handlers, so the journal must hold
 * every event from seq 1: a compacted journal cannot be recorded. */
static int run_record(struct rtool *t, const char *path)
{
    if (journal_first_seq(t->j) != 1) {
        fprintf(stderr, "stanzactl: the journal starts at seq %" PRIu64 " (compacted): a golden "
                "file needs every event from seq 1\n", journal_first_seq(t->j));
        return REPLAY_EXIT_FAIL;
    }
    struct dispatch *d = dispatch_new();
    buf_init(&t->out);
    replay_golden_header(&t->out);
    int64_t n = replay_journal(t->j, d, 1, record_cb, t, t->err, sizeof t->err);
    dispatch_free(d);
    int rc = REPLAY_EXIT_FAIL;
    if (n < 0)
        fprintf(stderr, "stanzactl: %s\n", t->err);
    else if (t->out.err)
        fprintf(stderr, "stanzactl: %s\n", err_str(t->out.err));
    else
        rc = write_all(path, &t->out);
    if (rc == REPLAY_EXIT_OK && strcmp(path, "-") != 0)
        printf("recorded %" PRId64 " events into %s\n", n, path);
    buf_free(&t->out);
    return rc;
}

static int run_check(const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    if (!f) {
        fprintf(stderr, "stanzactl: %s: %s\n", path, strerror(errno));
        return REPLAY_EXIT_FAIL;
    }
    struct buf b;
    char tmp[8192], err[4096];
    size_t got;
    buf_init(&b);
    while ((got = fread(tmp, 1, sizeof tmp, f)) > 0 && b.len <= GOLDEN_BYTES_MAX)
        buf_put(&b, tmp, got);
    int bad = ferror(f);
    if (f != stdin)
        fclose(f);
    if (bad || b.err) {
        fprintf(stderr, "stanzactl: reading %s failed\n", path);
        buf_free(&b);
        return REPLAY_EXIT_FAIL;
    }
    uint64_t events = 0;
    int rc = replay_golden_check((const char *)b.p, b.len, &events, err, sizeof err);
    buf_free(&b);
    if (rc == 0) {
        printf("ok: %s: %" PRIu64 " events, every effect as recorded\n", path, events);
        return REPLAY_EXIT_OK;
    }
    printf("%s: %s: %s\n", rc > 0 ? "mismatch" : "error", path, err);
    return REPLAY_EXIT_FAIL;
}

/* ---- entry ---- */

static int usage(const char *msg)
{
    fprintf(stderr, "stanzactl: %s\n"
            "usage: stanzactl [--config FILE] [--set key=value] replay --verify\n"
            "       stanzactl [--config FILE] [--set key=value] replay --record FILE|-\n"
            "       stanzactl replay --check FILE|-\n"
            "(--verify and --record need the server stopped; see doc/replay.md)\n", msg);
    return REPLAY_EXIT_USAGE;
}

int replay_tool_main(const struct config *cfg, int argc, char **argv)
{
    struct rtool t = {.data_dir = cfg->data_dir, .key_command = cfg->journal_key_command,
                      .lock_fd = -1};
    if (argc < 1)
        return usage("replay: which command? --verify, --record FILE or --check FILE");
    int verify = strcmp(argv[0], "--verify") == 0;
    int record = strcmp(argv[0], "--record") == 0;
    if (strcmp(argv[0], "--check") == 0)
        return argc == 2 ? run_check(argv[1]) : usage("replay --check takes one FILE");
    if (!verify && !record)
        return usage("replay: unknown command");
    if (argc != (verify ? 1 : 2))
        return usage(verify ? "replay --verify takes no arguments" : "replay --record takes one FILE");
    int rc = lock_data_dir(&t);
    if (rc == REPLAY_EXIT_OK)
        rc = open_journal(&t);
    if (rc == REPLAY_EXIT_OK)
        rc = verify ? run_verify(&t) : run_record(&t, argv[1]);
    explicit_bzero(t.key, sizeof t.key);
    journal_close(t.j);
    if (t.lock_fd >= 0)
        close(t.lock_fd);
    return rc;
}
