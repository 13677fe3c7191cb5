/* restore_tool: `stanzactl restore FILE` (see restore_tool.h).
 *
 * Why a journal record and not an empty journal: a segment without a
 * block is what an interrupted segment creation leaves, and journal_open
 * removes it; the one server-started record (which every start appends
 * anyway) makes the journal's start at seq + 1 durable. */
#include "ctl/restore_tool.h"
#include "kernel/datadir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal/journal.h"
#include "kernel/buf.h"
#include "kernel/dispatch.h"
#include "kernel/err.h"
#include "kernel/event.h"
#include "kernel/mem.h"
#include "kernel/server.h"
#include "snapshot/snapshot.h"

#define RT_PATH_BYTES 4096
#define RT_PID_BYTES 32
#define KEY_ENV "STANZAD_JOURNAL_KEY"

/* Takes <data_dir>/lock (kernel/datadir.c), creating data_dir: a new
 * machine has none. Returns the fd, or -exit status after printing why. */
static int lock_data_dir(const char *dir)
{
    char holder[DATADIR_PID_BYTES], err[512] = "";
    int fd = datadir_lock(dir, 1, holder, err, sizeof err);
    if (fd == -ERR_LOCKED) {
        fprintf(stderr, "stanzactl: data directory %s is in use (%s): stop stanzad before "
                "`restore`\n", dir, err);
        return -RTOOL_BUSY;
    }
    if (fd < 0) {
        fprintf(stderr, "stanzactl: %s\n", err);
        return -RTOOL_FAILED;
    }
    return fd;
}

/* 1 if dir holds a file whose name ends in suffix. */
static int has_file(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t ns = strlen(suffix);
    int found = 0;
    for (struct dirent *e; !found && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        found = n > ns && strcmp(e->d_name + n - ns, suffix) == 0;
    }
    closedir(d);
    return found;
}

/* The journal key, never made here. Returns 0 or an exit status. */
static int load_key(const char *dir, const char *key_command, uint8_t key[JOURNAL_KEY_LEN])
{
    char path[RT_PATH_BYTES], err[512] = "";
    snprintf(path, sizeof path, "%s/journal.key", dir);
    if (!getenv(KEY_ENV) && !*key_command && access(path, F_OK) != 0) {
        fprintf(stderr, "stanzactl: no journal key: %s: %s, and neither %s nor "
                "journal_key_command is set; a restore needs the master key the backup was "
                "sealed with\n", path, strerror(errno), KEY_ENV);
        return RTOOL_FAILED;
    }
    if (journal_key_obtain(path, key_command, 0, key, err, sizeof err)) {
        fprintf(stderr, "stanzactl: journal key: %s\n", err);
        return RTOOL_FAILED;
    }
    return 0;
}

static int read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "stanzactl: %s: %s\n", path, strerror(errno));
        return RTOOL_FAILED;
    }
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0 && out->len <= SNAPSHOT_FILE_BYTES_MAX)
        buf_put(out, tmp, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "stanzactl: %s: read error\n", path);
        return RTOOL_FAILED;
    }
    return 0;
}

/* The sequence number in the header (little-endian u64). */
static uint64_t header_seq(const struct buf *file)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | file->p[SNAPSHOT_OFF_SEQ + i];
    return v;
}

/* Opens and checks FILE: a snapshot sealed under key whose state this
 * build decodes, at its own seq. Returns 0 or an exit status. */
static int check_snapshot(const char *path, const uint8_t key[JOURNAL_KEY_LEN], uint64_t *seq,
                          uint8_t **state, size_t *len, int64_t *time_us)
{
    struct buf file;
    buf_init(&file);
    int rc = read_file(path, &file);
    const char *why = "not a snapshot file (did you `gpg --decrypt` the backup?)";
    if (!rc && (file.len < SNAPSHOT_FILE_BYTES_MIN ||
                memcmp(file.p, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_BYTES) != 0))
        rc = -ERR_CORRUPT;
    if (!rc) {
        *seq = header_seq(&file);
        rc = snapshot_open(key, *seq, file.p, file.len, state, len, time_us, &why);
        if (rc == -ERR_CRYPTO)
            why = "wrong journal key: the backup was sealed with another master key";
    }
    buf_free(&file);
    if (rc < 0) {
        fprintf(stderr, "stanzactl: %s: %s\n", path, why);
        return RTOOL_FAILED;
    }
    if (rc)
        return rc;
    struct dispatch *d = dispatch_new();
    rc = dispatch_decode(d, *state, *len);
    if (!rc && dispatch_last_seq(d) != *seq)
        rc = -ERR_CORRUPT;
    dispatch_free(d);
    if (rc) {
        fprintf(stderr, "stanzactl: %s: the state does not decode: %s\n", path, err_str(rc));
        free(*state);
        *state = NULL;
        return RTOOL_FAILED;
    }
    return 0;
}

/* A new journal at seq + 1, holding one server-started record. */
static int start_journal(const struct config *cfg, const uint8_t key[JOURNAL_KEY_LEN],
                         uint64_t seq, int64_t snap_us)
{
    char path[RT_PATH_BYTES], err[RT_PATH_BYTES + 512] = "";
    struct journal_opts o = {.sync = JOURNAL_SYNC_BATCH, .first_seq = seq + 1};
    snprintf(path, sizeof path, "%s/journal", cfg->data_dir);
    o.dir = path;
    memcpy(o.key, key, JOURNAL_KEY_LEN);
    struct journal *j = NULL;
    int rc = journal_open(&j, &o, err, sizeof err);
    explicit_bzero(o.key, sizeof o.key);
    if (!rc) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        struct event *ev = event_server_started(cfg->domain, STANZAD_VERSION);
        struct buf payload;
        buf_init(&payload);
        event_encode(ev, &payload);
        journal_append(j, (uint16_t)ev->type, now > snap_us ? now : snap_us, payload.p,
                       payload.len);
        buf_free(&payload);
        event_free(ev);
        struct jbatch *b = journal_seal(j);
        rc = journal_commit(j, b);
        journal_batch_free(b);
        if (rc)
            snprintf(err, sizeof err, "journal: %s: %s", path, err_str(rc));
    }
    journal_close(j);
    if (rc)
        fprintf(stderr, "stanzactl: %s\n", err);
    return rc ? RTOOL_FAILED : 0;
}

static void unwrite_snapshot(const char *sdir, uint64_t seq)
{
    char name[SNAPSHOT_NAME_BYTES], path[RT_PATH_BYTES + SNAPSHOT_NAME_BYTES];
    snapshot_name(seq, name);
    snprintf(path, sizeof path, "%s/%s", sdir, name);
    if (unlink(path) != 0)
        fprintf(stderr, "stanzactl: %s: %s (remove it before trying again)\n", path,
                strerror(errno));
}

static int restore(const struct config *cfg, const char *file)
{
    char jdir[RT_PATH_BYTES], sdir[RT_PATH_BYTES], err[512] = "";
    uint8_t key[JOURNAL_KEY_LEN];
    snprintf(jdir, sizeof jdir, "%s/journal", cfg->data_dir);
    snprintf(sdir, sizeof sdir, "%s/snapshots", cfg->data_dir);
    if (has_file(jdir, ".seg") || has_file(sdir, ".snap")) {
        fprintf(stderr, "stanzactl: refused: %s already holds a journal or snapshots (a live "
                "data directory); restore into a new, empty one\n", cfg->data_dir);
        return RTOOL_FAILED;
    }
    int rc = load_key(cfg->data_dir, cfg->journal_key_command, key);
    uint64_t seq = 0;
    uint8_t *state = NULL;
    size_t len = 0;
    int64_t time_us = 0;
    if (!rc)
        rc = check_snapshot(file, key, &seq, &state, &len, &time_us);
    if (!rc && snapshot_write(sdir, key, seq, time_us, state, len, err, sizeof err)) {
        fprintf(stderr, "stanzactl: %s\n", err);
        rc = RTOOL_FAILED;
    }
    if (state)
        explicit_bzero(state, len);
    free(state);
    if (!rc && (rc = start_journal(cfg, key, seq, time_us)) != 0)
        unwrite_snapshot(sdir, seq); /* so that a retry does not find a "live" directory */
    explicit_bzero(key, sizeof key);
    if (!rc)
        printf("restored the snapshot at seq %" PRIu64 " into %s; the journal continues at seq "
               "%" PRIu64 "\n", seq, cfg->data_dir, seq + 1);
    return rc;
}

int restore_tool_main(const struct config *cfg, int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "stanzactl: usage: stanzactl [--config FILE] [--set key=value] restore "
                "FILE\n(FILE: a backup after `gpg --decrypt`; the server must be stopped)\n");
        return RTOOL_USAGE;
    }
    int fd = lock_data_dir(cfg->data_dir);
    if (fd < 0)
        return -fd;
    int rc = restore(cfg, argv[0]);
    close(fd);
    return rc;
}
