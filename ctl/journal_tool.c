/* journal_tool: `stanzactl journal verify|dump` (see journal_tool.h).
 *
 * Offline by design: the tool opens the segment files itself, so it first
 * takes <data_dir>/lock the way kernel/server.c does (flock, exclusive,
 * non-blocking, our pid written in) and refuses while a server holds it.
 * It never creates a journal key: with no key file and no
 * STANZAD_JOURNAL_KEY there is nothing it could read.
 *
 * dump hides message content by default and stored credentials always
 * (ctl/scrub.h): a SCRAM StoredKey/ServerKey pair is enough to
 * impersonate the server to a client (RFC 5802 §9) and the salt helps an
 * offline guess.
 * Formats: doc/formats/journal.md, doc/formats/event.md. */
#include "ctl/journal_tool.h"
#include "ctl/scrub.h"
#include "kernel/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "journal/journal.h"
#include "kernel/buf.h"
#include "kernel/err.h"
#include "kernel/event.h"
#include "kernel/xml.h"

#define JT_PATH_BYTES 4096  /* a longer data_dir path is refused as a usage error */
#define JT_PID_BYTES 32     /* what we read of the lock file: a decimal pid */
#define KEY_ENV "STANZAD_JOURNAL_KEY"

/* Bookkeeping of one run. */
struct jtool {
    const char *data_dir;
    const char *key_command; /* config journal_key_command; "" when none */
    int lock_fd;
    FILE *notes;      /* where reports go: stdout for verify, stderr for dump */
    struct journal *j;
    char err[1024];
    /* dump */
    uint64_t to;
    int bodies;
    int done;         /* reached --to: the read was stopped on purpose */
    uint64_t records; /* verify: records decoded */
    uint64_t erased;  /* verify: of which crypto-erased */
    struct buf line;
};

/* ---- the data directory lock and the journal ---- */

/* Takes <data_dir>/lock (kernel/datadir.c). Returns JTOOL_OK with
 * t->lock_fd set, or an exit status after printing why. */
static int lock_data_dir(struct jtool *t, const char *cmd)
{
    char holder[DATADIR_PID_BYTES], err[512] = "";
    int fd = datadir_lock(t->data_dir, 0, holder, err, sizeof err);
    if (fd == -ERR_LOCKED) {
        fprintf(stderr, "stanzactl: data directory %s is in use (%s): stop stanzad before "
                "`journal %s`\n", t->data_dir, err, cmd);
        return JTOOL_BUSY;
    }
    if (fd < 0) {
        fprintf(stderr, "stanzactl: %s\n", err);
        return fd == -ENAMETOOLONG ? JTOOL_USAGE : JTOOL_DAMAGE;
    }
    t->lock_fd = fd;
    return JTOOL_OK;
}

static void on_report(void *arg, const char *file, uint64_t off, uint64_t bytes,
                      const char *reason)
{
    struct jtool *t = arg;
    fprintf(t->notes, "note: %s: offset %" PRIu64 ": %" PRIu64 " bytes: %s\n", file, off, bytes,
            reason);
}

static void on_segment(void *arg, const struct journal_segment *s)
{
    (void)arg;
    printf("%s: seq %" PRIu64 "..%" PRIu64 ", %" PRIu64 " blocks, %" PRIu64 " records, %" PRIu64
           " bytes\n", s->file, s->first_seq, s->last_seq, s->blocks, s->records, s->bytes);
}

/* Loads the key without ever making one, and opens the journal
 * read-only. Returns JTOOL_OK or an exit status after printing why. */
static int open_journal(struct jtool *t, int verify)
{
    char path[JT_PATH_BYTES];
    struct journal_opts o = {0};
    snprintf(path, sizeof path, "%s/journal.key", t->data_dir);
    if (!getenv(KEY_ENV) && !*t->key_command && access(path, F_OK) != 0) {
        fprintf(stderr, "stanzactl: no journal key: %s: %s, and neither %s nor "
                "journal_key_command is set\n", path, strerror(errno), KEY_ENV);
        return JTOOL_DAMAGE;
    }
    int rc = journal_key_obtain(path, t->key_command, 0, o.key, t->err, sizeof t->err);
    if (rc) {
        fprintf(stderr, "stanzactl: journal key: %s\n", t->err);
        return JTOOL_DAMAGE;
    }
    snprintf(path, sizeof path, "%s/journal", t->data_dir);
    o.dir = path;
    o.sync = JOURNAL_SYNC_NONE; /* nothing is written */
    o.readonly = 1;
    o.report = on_report;
    o.segment = verify ? on_segment : NULL;
    o.report_arg = t;
    rc = journal_open(&t->j, &o, t->err, sizeof t->err);
    explicit_bzero(o.key, sizeof o.key);
    if (rc) {
        int damage = rc == -ERR_CORRUPT || rc == -ERR_SEQ;
        fprintf(verify ? stdout : stderr, "%s%s: %s\n", verify ? "" : "stanzactl: ",
                damage ? "damaged" : "error", t->err);
        return JTOOL_DAMAGE;
    }
    return JTOOL_OK;
}

/* ---- verify ---- */

static int verify_cb(void *arg, const struct jrec *r)
{
    struct jtool *t = arg;
    int err = 0;
    if (r->erased) { /* its frame checked out; its content is gone on purpose */
        t->records++;
        t->erased++;
        return 0;
    }
    struct event *ev = event_decode(r->seq, r->time_us, (enum ev_type)r->type, r->payload,
                                    r->len, &err);
    if (!ev) {
        snprintf(t->err, sizeof t->err, "seq %" PRIu64 ": the payload is not a valid event: %s",
                 r->seq, err_str(err));
        return err ? err : -ERR_CORRUPT;
    }
    event_free(ev);
    t->records++;
    return 0;
}

static int run_verify(struct jtool *t)
{
    uint64_t first = journal_first_seq(t->j), next = journal_next_seq(t->j);
    int rc = journal_read(t->j, first, verify_cb, t, t->err, sizeof t->err);
    if (rc) {
        printf("damaged: %s\n", t->err);
        return JTOOL_DAMAGE;
    }
    if (t->records != next - first) {
        printf("damaged: read %" PRIu64 " records, open counted %" PRIu64 "\n", t->records,
               next - first);
        return JTOOL_DAMAGE;
    }
    if (t->records == 0)
        printf("ok: 0 records (the journal is empty; the next seq is %" PRIu64 ")\n", next);
    else
        printf("ok: %" PRIu64 " records, seq %" PRIu64 "..%" PRIu64 ", %" PRIu64
               " with content erased, %zu with readable content\n",
               t->records, first, next - 1, t->erased, journal_erasable_count(t->j));
    return JTOOL_OK;
}

/* ---- dump: one line per record ---- */

static const char *origin_name(enum ev_origin k)
{
    switch (k) {
    case ORIGIN_SERVER: return "server";
    case ORIGIN_C2S: return "c2s";
    case ORIGIN_CTL: return "ctl";
    case ORIGIN_S2S: return "s2s";
    case ORIGIN_ROUTE: return "route"; /* never journaled */
    }
    return "origin?";
}

static int dump_cb(void *arg, const struct jrec *r)
{
    struct jtool *t = arg;
    if (r->seq > t->to) {
        t->done = 1;
        return -ERR_CLOSED;
    }
    int err = 0;
    char when[DUMP_TIME_BYTES], head[256];
    if (r->erased) { /* crypto-erased: only the frame is left to show */
        dump_time(r->time_us, when);
        buf_reset(&t->line);
        snprintf(head, sizeof head, "%" PRIu64 " %s %s (content erased)", r->seq, when,
                 ev_type_name((enum ev_type)r->type));
        buf_puts(&t->line, head);
        dump_line(&t->line);
        return 0;
    }
    struct event *ev = event_decode(r->seq, r->time_us, (enum ev_type)r->type, r->payload,
                                    r->len, &err);
    if (!ev) {
        snprintf(t->err, sizeof t->err, "seq %" PRIu64 ": the payload is not a valid event: %s",
                 r->seq, err_str(err));
        return err ? err : -ERR_CORRUPT;
    }
    const char *type = ev_type_name(ev->type);
    dump_time(r->time_us, when);
    buf_reset(&t->line);
    if (strcmp(type, "?") == 0)
        snprintf(head, sizeof head, "%" PRIu64 " %s type-%u ", r->seq, when, (unsigned)r->type);
    else
        snprintf(head, sizeof head, "%" PRIu64 " %s %s ", r->seq, when, type);
    buf_puts(&t->line, head);
    snprintf(head, sizeof head, ev->origin_kind == ORIGIN_SERVER ? "%s " : "%s:%" PRIu64 " ",
             origin_name(ev->origin_kind), ev->origin);
    buf_puts(&t->line, head);
    buf_puts(&t->line, *ev->subject ? ev->subject : "-");
    buf_put_u8(&t->line, ' ');
    scrub_tree(ev->body, t->bodies);
    xml_serialize(ev->body, NULL, &t->line);
    dump_line(&t->line);
    event_free(ev);
    return 0;
}

/* Parses a decimal seq >= 1 for an option; exits on a bad one. */
static int parse_seq(const char *opt, const char *v, uint64_t *out)
{
    char *end = NULL;
    errno = 0;
    unsigned long long x = v ? strtoull(v, &end, 10) : 0;
    if (!v || !*v || *end || errno || x == 0 || *v == '-') {
        fprintf(stderr, "stanzactl: %s needs a sequence number >= 1\n", opt);
        return -1;
    }
    *out = (uint64_t)x;
    return 0;
}

static int dump_args(struct jtool *t, int argc, char **argv, uint64_t *from)
{
    *from = 0;
    t->to = UINT64_MAX;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bodies") == 0)
            t->bodies = 1;
        else if (strcmp(argv[i], "--from") == 0 && parse_seq("--from", argv[i + 1], from) == 0)
            i++;
        else if (strcmp(argv[i], "--to") == 0 && parse_seq("--to", argv[i + 1], &t->to) == 0)
            i++;
        else
            return -1;
    }
    return 0;
}

static int run_dump(struct jtool *t, uint64_t from)
{
    if (from == 0)
        from = journal_first_seq(t->j);
    buf_init(&t->line);
    int rc = journal_read(t->j, from, dump_cb, t, t->err, sizeof t->err);
    buf_free(&t->line);
    if (rc && !(t->done && rc == -ERR_CLOSED)) {
        fflush(stdout);
        fprintf(stderr, "stanzactl: %s\n", t->err);
        return JTOOL_DAMAGE;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "stanzactl: writing the dump: %s\n", strerror(errno));
        return JTOOL_DAMAGE;
    }
    return JTOOL_OK;
}

/* ---- entry ---- */

static int usage(const char *msg)
{
    fprintf(stderr, "stanzactl: %s\n"
            "usage: stanzactl [--config FILE] [--set key=value] journal verify\n"
            "       stanzactl [--config FILE] [--set key=value] journal dump [--from SEQ] "
            "[--to SEQ] [--bodies]\n"
            "(the server must be stopped)\n", msg);
    return JTOOL_USAGE;
}

int journal_tool_main(const struct config *cfg, int argc, char **argv)
{
    struct jtool t = {.data_dir = cfg->data_dir, .key_command = cfg->journal_key_command,
                      .lock_fd = -1};
    uint64_t from = 0;
    if (argc < 1)
        return usage("journal: which command? verify or dump");
    int verify = strcmp(argv[0], "verify") == 0;
    if (!verify && strcmp(argv[0], "dump") != 0)
        return usage("journal: unknown command");
    if (verify && argc != 1)
        return usage("journal verify takes no arguments");
    if (!verify && dump_args(&t, argc, argv, &from) != 0)
        return usage("journal dump: bad arguments");
    if (!verify && from && t.to < from)
        return usage("journal dump: --to is before --from");
    t.notes = verify ? stdout : stderr;
    int rc = lock_data_dir(&t, argv[0]);
    if (rc == JTOOL_OK)
        rc = open_journal(&t, verify);
    if (rc == JTOOL_OK)
        rc = verify ? run_verify(&t) : run_dump(&t, from);
    journal_close(t.j);
    if (t.lock_fd >= 0)
        close(t.lock_fd);
    return rc;
}
