/* snapshot_tool: `stanzactl snapshot dump` (see snapshot_tool.h).
 *
 * The per-handler sizes come from walking dispatch_encode's framing
 * (str name, bytes state) of the bytes that dispatch_decode accepted;
 * the contents shown come from the handlers' own read-only accessors, so
 * the tool never parses a handler's private encoding. Only the offline
 * handler holds message content, so only it is listed item by item. */
#include "ctl/snapshot_tool.h"
#include "ctl/scrub.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "handlers/offline/offline.h"
#include "journal/journal.h"
#include "kernel/buf.h"
#include "kernel/datadir.h"
#include "kernel/dispatch.h"
#include "kernel/err.h"
#include "kernel/xml.h"
#include "snapshot/snapshot.h"

#define ST_PATH_BYTES 4096
#define KEY_ENV "STANZAD_JOURNAL_KEY"

struct stool {
    const char *data_dir;
    const char *key_command; /* config journal_key_command; "" when none */
    int bodies;
    uint8_t key[JOURNAL_KEY_LEN];
    struct buf line;
};

static int lock_data_dir(const char *dir, int *fd_out)
{
    char holder[DATADIR_PID_BYTES], err[512] = "";
    int fd = datadir_lock(dir, 0, holder, err, sizeof err);
    if (fd == -ERR_LOCKED) {
        fprintf(stderr, "stanzactl: data directory %s is in use (%s): stop stanzad before "
                "`snapshot dump`\n", dir, err);
        return STOOL_BUSY;
    }
    if (fd < 0) {
        fprintf(stderr, "stanzactl: %s\n", err);
        return fd == -ENAMETOOLONG ? STOOL_USAGE : STOOL_DAMAGE;
    }
    *fd_out = fd;
    return STOOL_OK;
}

/* The journal key, never made here. */
static int load_key(struct stool *t)
{
    char path[ST_PATH_BYTES], err[1024] = "";
    snprintf(path, sizeof path, "%s/journal.key", t->data_dir);
    if (!getenv(KEY_ENV) && !*t->key_command && access(path, F_OK) != 0) {
        fprintf(stderr, "stanzactl: no journal key: %s: %s, and neither %s nor "
                "journal_key_command is set\n", path, strerror(errno), KEY_ENV);
        return STOOL_DAMAGE;
    }
    if (journal_key_obtain(path, t->key_command, 0, t->key, err, sizeof err)) {
        fprintf(stderr, "stanzactl: journal key: %s\n", err);
        return STOOL_DAMAGE;
    }
    return STOOL_OK;
}

static int print_message(void *arg, const char *bare, uint64_t id, int64_t time_us,
                         const struct xnode *msg)
{
    struct stool *t = arg;
    char when[DUMP_TIME_BYTES];
    struct xnode *copy = xml_copy(msg); /* scrubbing edits the tree */
    scrub_tree(copy, t->bodies);
    dump_time(time_us, when);
    buf_reset(&t->line);
    buf_printf(&t->line, "  offline %s id %" PRIu64 " %s ", bare, id, when);
    xml_serialize(copy, NULL, &t->line);
    xml_free(copy);
    dump_line(&t->line);
    return 0;
}

static int count_message(void *arg, const char *bare, uint64_t id, int64_t time_us,
                         const struct xnode *msg)
{
    (void)bare, (void)id, (void)time_us, (void)msg;
    (*(size_t *)arg)++;
    return 0;
}

/* Prints one decoded state: a line per durable handler (dispatch_encode's
 * framing: u8 version, varint seq, then str name + bytes state each), then
 * the offline messages. The state was accepted by dispatch_decode. */
static void print_state(struct stool *t, const struct dispatch *d, const uint8_t *state,
                        size_t len)
{
    struct rd r;
    rd_init(&r, state, len);
    rd_u8(&r);
    rd_varint(&r);
    while (!r.err && rd_left(&r) > 0) {
        char *name = rd_strdup(&r);
        size_t n = 0;
        rd_bytes(&r, &n);
        if (!name || r.err) {
            free(name);
            break;
        }
        printf("  handler %s: %zu bytes\n", name, n);
        free(name);
    }
    const void *off = dispatch_state(d, "offline");
    if (!off)
        return;
    size_t stored = 0;
    offline_each(off, count_message, &stored);
    printf("  offline messages: %zu\n", stored);
    offline_each(off, print_message, t);
}

/* Checks, decodes and prints one snapshot. name is what the reader is
 * told (a path). Returns STOOL_OK or STOOL_DAMAGE after printing why. */
static int dump_state(struct stool *t, const char *name, uint64_t seq, int64_t time_us,
                      const uint8_t *state, size_t len)
{
    char when[DUMP_TIME_BYTES];
    struct dispatch *d = dispatch_new();
    int rc = dispatch_decode(d, state, len);
    if (!rc && dispatch_last_seq(d) != seq)
        rc = -ERR_CORRUPT;
    if (rc) {
        fflush(stdout);
        fprintf(stderr, "stanzactl: %s: damaged: the state does not decode: %s\n", name,
                err_str(rc));
        dispatch_free(d);
        return STOOL_DAMAGE;
    }
    dump_time(time_us, when);
    printf("snapshot %s: seq %" PRIu64 ", taken %s, %zu bytes of state\n", name, seq, when, len);
    print_state(t, d, state, len);
    dispatch_free(d);
    return STOOL_OK;
}

static void forget(uint8_t *state, size_t len)
{
    if (state)
        explicit_bzero(state, len);
    free(state);
}

static void on_report(void *arg, const char *file, int code, const char *reason)
{
    (void)arg;
    fprintf(stderr, "note: %s: %s%s%s\n", file, reason, code ? ": " : "",
            code ? err_str(code) : "");
}

/* Every snapshot of <data_dir>/snapshots/, newest first; a damaged one is
 * reported and the next is still read. */
static int dump_dir(struct stool *t)
{
    char dir[ST_PATH_BYTES], path[ST_PATH_BYTES + SNAPSHOT_NAME_BYTES], err[ST_PATH_BYTES + 512];
    uint64_t *seqs = NULL;
    size_t n = 0;
    int status = STOOL_OK;
    snprintf(dir, sizeof dir, "%s/snapshots", t->data_dir);
    if (snapshot_list(dir, &seqs, &n, on_report, t, err, sizeof err)) {
        fprintf(stderr, "stanzactl: %s\n", err);
        return STOOL_DAMAGE;
    }
    if (n == 0)
        printf("no snapshot in %s\n", dir);
    for (size_t i = 0; i < n; i++) {
        char name[SNAPSHOT_NAME_BYTES];
        uint8_t *state = NULL;
        size_t len = 0;
        int64_t time_us = 0;
        snapshot_name(seqs[i], name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (snapshot_load(dir, t->key, seqs[i], &state, &len, &time_us, err, sizeof err)) {
            fflush(stdout);
            fprintf(stderr, "stanzactl: damaged: %s\n", err);
            status = STOOL_DAMAGE;
            continue;
        }
        if (dump_state(t, path, seqs[i], time_us, state, len) != STOOL_OK)
            status = STOOL_DAMAGE;
        forget(state, len);
    }
    free(seqs);
    return status;
}

/* The whole file, refusing one larger than any valid snapshot. */
static int read_whole(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    if (!f || fstat(fileno(f), &st) != 0) {
        fprintf(stderr, "stanzactl: %s: %s\n", path, strerror(errno));
        if (f)
            fclose(f);
        return STOOL_DAMAGE;
    }
    if ((uint64_t)st.st_size > SNAPSHOT_FILE_BYTES_MAX) {
        fprintf(stderr, "stanzactl: %s: damaged: larger than any snapshot\n", path);
        fclose(f);
        return STOOL_DAMAGE;
    }
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && out->len <= SNAPSHOT_FILE_BYTES_MAX)
        buf_put(out, tmp, n);
    int bad = ferror(f) || out->err;
    fclose(f);
    if (bad) {
        fprintf(stderr, "stanzactl: %s: read error\n", path);
        return STOOL_DAMAGE;
    }
    return STOOL_OK;
}

/* FILE: a snapshot under any name (a decrypted backup), at its header's seq. */
static int dump_file(struct stool *t, const char *path)
{
    struct buf file;
    buf_init(&file);
    int status = read_whole(path, &file);
    if (status != STOOL_OK) {
        buf_free(&file);
        return status;
    }
    const char *why = "not a snapshot file (did you `gpg --decrypt` the backup?)";
    uint8_t *state = NULL;
    size_t len = 0;
    int64_t time_us = 0;
    uint64_t seq = 0;
    int rc = -ERR_CORRUPT;
    if (file.len >= SNAPSHOT_FILE_BYTES_MIN &&
        memcmp(file.p, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_BYTES) == 0) {
        for (int i = 7; i >= 0; i--) /* the header's seq, little-endian u64 */
            seq = seq << 8 | file.p[SNAPSHOT_OFF_SEQ + i];
        rc = snapshot_open(t->key, seq, file.p, file.len, &state, &len, &time_us, &why);
        if (rc == -ERR_CRYPTO)
            why = "wrong journal key: the file was sealed with another master key";
    }
    buf_free(&file);
    if (rc) {
        fprintf(stderr, "stanzactl: %s: damaged: %s\n", path, why);
        return STOOL_DAMAGE;
    }
    status = dump_state(t, path, seq, time_us, state, len);
    forget(state, len);
    return status;
}

static int usage(const char *msg)
{
    fprintf(stderr, "stanzactl: %s\n"
            "usage: stanzactl [--config FILE] [--set key=value] snapshot dump [--bodies] [FILE]\n"
            "(the server must be stopped; FILE: e.g. a backup after `gpg --decrypt`)\n", msg);
    return STOOL_USAGE;
}

int snapshot_tool_main(const struct config *cfg, int argc, char **argv)
{
    struct stool t = {.data_dir = cfg->data_dir, .key_command = cfg->journal_key_command};
    const char *file = NULL;
    if (argc < 1 || strcmp(argv[0], "dump") != 0)
        return usage("snapshot: unknown command (`snapshot` alone takes one now)");
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--bodies") == 0)
            t.bodies = 1;
        else if (argv[i][0] != '-' && !file)
            file = argv[i];
        else
            return usage("snapshot dump: bad arguments");
    }
    int fd = -1;
    int rc = lock_data_dir(cfg->data_dir, &fd);
    if (rc == STOOL_OK)
        rc = load_key(&t);
    if (rc == STOOL_OK) {
        buf_init(&t.line);
        rc = file ? dump_file(&t, file) : dump_dir(&t);
        buf_free(&t.line);
        if (fflush(stdout) != 0 || ferror(stdout)) {
            fprintf(stderr, "stanzactl: writing the dump: %s\n", strerror(errno));
            rc = STOOL_DAMAGE;
        }
    }
    explicit_bzero(t.key, sizeof t.key);
    if (fd >= 0)
        close(fd);
    return rc;
}
