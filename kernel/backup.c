/* backup: see backup.h. OpenPGP (RFC 4880) encryption is GPGME's (Debian
 * libgpgme-dev): we never write OpenPGP by hand. */
#include "kernel/backup.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gpgme.h>
#include <inttypes.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernel/c2s.h"
#include "kernel/ctl.h"
#include "kernel/ctlproto.h"
#include "kernel/log.h"
#include "kernel/fileio.h"
#include "kernel/mem.h"
#include "kernel/tls.h"
#include "snapshot/snapshot.h"

extern char **environ;

#define BACKUP_PREFIX "stanzad-"
#define BACKUP_SUFFIX ".snap.gpg"
#define BACKUP_TMP_PREFIX ".tmp-" BACKUP_PREFIX
#define BACKUP_STAMP_BYTES 17      /* "20261125T203000Z" and its NUL */
#define BACKUP_PATH_BYTES 4096
#define BACKUP_ERR_BYTES 768
#define BACKUP_ENV_MAX 4096        /* environment entries handed to backup_command */
#define KEY_ENV "STANZAD_JOURNAL_KEY"
#define SECONDS_PER_DAY 86400
#define BACKUP_COMMAND_TIMEOUT_S 3600  /* a shipment that takes longer is killed */
#define BACKUP_WAIT_TICK_NS 50000000   /* how often a running backup_command is polled */
#define BACKUP_CHECK_MS 1000       /* how often the schedule is looked at */
#define BACKUP_RETRY_S 3600        /* a failed scheduled backup is retried this soon at the latest */

struct backup {
    struct server *srv;
    uv_timer_t timer;
    uv_work_t work;
    int busy;
    int free_when_done;              /* stopped while busy: done_cb frees */
    _Atomic pid_t child;             /* backup_command's shell while it runs, else 0 */
    int64_t last_ok_us;              /* 0: never (since this start) */
    int64_t due_us;                  /* the next scheduled backup (backup_interval_s > 0) */
    char last_error[BACKUP_ERR_BYTES]; /* "": the last run succeeded (or none ran) */
    /* the backup being written */
    struct buf state;                /* dispatch_encode output */
    uint64_t seq;
    int64_t time_us;
    uint64_t ctl_conn;
    int rc;
    int pruned;
    size_t bytes;
    char path[BACKUP_PATH_BYTES];
    char err[BACKUP_ERR_BYTES];
};

static struct backup *the_backup; /* one server per process */

static int fail(struct backup *b, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct backup *b, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->err, sizeof b->err, fmt, ap);
    va_end(ap);
    return rc;
}

/* "20261125T203000Z": sortable, and what prune reads back. */
static void stamp(int64_t us, char out[BACKUP_STAMP_BYTES])
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, BACKUP_STAMP_BYTES, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- on the worker: seal, encrypt, write ---- */

static int seal(struct backup *b, struct buf *out)
{
    uint8_t salt[SNAPSHOT_SALT_BYTES];
    rng_bytes(salt, sizeof salt);
    int rc = snapshot_seal(b->srv->master_key, b->seq, b->time_us, salt, b->state.p, b->state.len,
                           out);
    if (rc)
        return fail(b, rc, "sealing the snapshot: %s", err_str(rc));
    uint8_t *state = NULL;
    size_t len = 0;
    int64_t t;
    const char *why = "";
    rc = snapshot_open(b->srv->master_key, b->seq, out->p, out->len, &state, &len, &t, &why);
    if (!rc && (len != b->state.len || memcmp(state, b->state.p, len) != 0))
        rc = -ERR_CORRUPT, why = "the sealed state reads back different";
    free(state);
    return rc ? fail(b, rc, "checking the sealed snapshot: %s", why) : 0;
}

static int gpg_fail(struct backup *b, gpgme_error_t e, const char *what)
{
    return fail(b, -ERR_CRYPTO, "gpg: %s: %s", what, gpgme_strerror(e));
}

/* Encrypts sealed to backup_recipient from the default keyring; *out is
 * GPGME memory (gpgme_free). */
static int encrypt(struct backup *b, const struct buf *sealed, char **out, size_t *n)
{
    gpgme_ctx_t ctx = NULL;
    gpgme_key_t keys[2] = {NULL, NULL};
    gpgme_data_t in = NULL, cipher = NULL;
    gpgme_error_t e = gpgme_new(&ctx);
    int rc = e ? gpg_fail(b, e, "context") : 0;
    if (!rc && (e = gpgme_set_protocol(ctx, GPGME_PROTOCOL_OpenPGP)))
        rc = gpg_fail(b, e, "OpenPGP protocol");
    if (!rc && (e = gpgme_get_key(ctx, b->srv->cfg.backup_recipient, &keys[0], 0)))
        rc = fail(b, -ERR_CRYPTO, "gpg: backup_recipient %s: no such public key in the keyring "
                  "(GNUPGHOME)%s%s", b->srv->cfg.backup_recipient,
                  gpg_err_code(e) == GPG_ERR_EOF ? "" : ": ",
                  gpg_err_code(e) == GPG_ERR_EOF ? "" : gpgme_strerror(e));
    if (!rc && ((e = gpgme_data_new_from_mem(&in, (const char *)sealed->p, sealed->len, 0)) ||
                (e = gpgme_data_new(&cipher))))
        rc = gpg_fail(b, e, "buffers");
    if (!rc) {
        gpgme_set_armor(ctx, 0);
        e = gpgme_op_encrypt(ctx, keys, GPGME_ENCRYPT_ALWAYS_TRUST, in, cipher);
        gpgme_encrypt_result_t r = gpgme_op_encrypt_result(ctx);
        if (!e && r && r->invalid_recipients)
            e = r->invalid_recipients->reason ? r->invalid_recipients->reason
                                              : gpg_error(GPG_ERR_UNUSABLE_PUBKEY);
        if (e)
            rc = fail(b, -ERR_CRYPTO, "gpg: encrypting to %s: %s", b->srv->cfg.backup_recipient,
                      gpgme_strerror(e));
    }
    if (!rc) {
        *out = gpgme_data_release_and_get_mem(cipher, n);
        cipher = NULL;
        if (!*out)
            rc = fail(b, -ENOMEM, "gpg: no output");
    }
    gpgme_data_release(cipher);
    gpgme_data_release(in);
    if (keys[0])
        gpgme_key_unref(keys[0]);
    gpgme_release(ctx);
    return rc;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* Temporary file, fsync, rename, directory fsync: a crash leaves no half
 * backup under a final name. */
static int write_file(struct backup *b, const char *data, size_t n)
{
    const char *dir = b->srv->cfg.backup_dir;
    char tmp[BACKUP_PATH_BYTES], st[BACKUP_STAMP_BYTES];
    if (mkdir(dir, 0700) && errno != EEXIST)
        return fail(b, -errno, "%s: %s", dir, strerror(errno));
    stamp(b->time_us, st);
    snprintf(b->path, sizeof b->path, "%s/" BACKUP_PREFIX "%s-%" PRIu64 BACKUP_SUFFIX, dir, st,
             b->seq);
    snprintf(tmp, sizeof tmp, "%s/" BACKUP_TMP_PREFIX "%s-%" PRIu64, dir, st, b->seq);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail(b, -errno, "%s: %s", tmp, strerror(errno));
    int rc = fileio_write_all(fd, data, n);
    if (!rc && fsync(fd))
        rc = -errno;
    if (close(fd) && !rc)
        rc = -errno;
    if (!rc && rename(tmp, b->path))
        rc = -errno;
    if (!rc)
        rc = fsync_dir(dir);
    if (rc) {
        unlink(tmp);
        return fail(b, rc, "writing %s: %s", b->path, strerror(-rc));
    }
    b->bytes = n;
    return 0;
}

/* ---- on the worker: retention and shipment ---- */

static int64_t stamp_time(const char *text)
{
    struct tm tm = {0};
    if (!strptime(text, "%Y%m%dT%H%M%SZ-", &tm))
        return -1;
    return (int64_t)timegm(&tm);
}

/* The time in a backup's name, or -1 when the name is not ours. */
static int64_t name_time(const char *name)
{
    size_t np = strlen(BACKUP_PREFIX), ns = strlen(BACKUP_SUFFIX), n = strlen(name);
    if (n < np + ns || strncmp(name, BACKUP_PREFIX, np) != 0 ||
        strcmp(name + n - ns, BACKUP_SUFFIX) != 0)
        return -1;
    return stamp_time(name + np);
}

/* The time in a temporary file's name (what a crash in mid-write left),
 * or -1 when the name is not one of ours. */
static int64_t tmp_time(const char *name)
{
    size_t nt = strlen(BACKUP_TMP_PREFIX);
    return strncmp(name, BACKUP_TMP_PREFIX, nt) == 0 ? stamp_time(name + nt) : -1;
}

/* Deletes backups named older than backup_retention_days, never the one
 * just written, and temporary files older than a day (a crash's; a
 * younger one may be another server's write in a shared backup_dir). */
static int prune(struct backup *b)
{
    const char *dir = b->srv->cfg.backup_dir;
    int64_t cutoff = b->time_us / 1000000 - (int64_t)b->srv->cfg.backup_retention_days * SECONDS_PER_DAY;
    DIR *d = opendir(dir);
    if (!d)
        return fail(b, -errno, "pruning %s: %s", dir, strerror(errno));
    struct dirent *e;
    int rc = 0;
    char path[BACKUP_PATH_BYTES];
    while (!rc && (e = readdir(d))) {
        int64_t t = name_time(e->d_name), tt = tmp_time(e->d_name);
        if (tt >= 0 && tt < b->time_us / 1000000 - SECONDS_PER_DAY)
            t = 0;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (t < 0 || t >= cutoff || strcmp(path, b->path) == 0)
            continue;
        if (unlink(path))
            rc = fail(b, -errno, "pruning %s: %s", path, strerror(errno));
        else
            b->pruned++;
    }
    closedir(d);
    return rc;
}

/* backup_command gets the process environment without the journal key:
 * the shipping tool has no business with it. */
static char **child_env(void)
{
    size_t n = 0;
    char **env = xcalloc(BACKUP_ENV_MAX + 1, sizeof *env);
    for (char **p = environ; *p && n < BACKUP_ENV_MAX; p++)
        if (strncmp(*p, KEY_ENV "=", strlen(KEY_ENV) + 1) != 0)
            env[n++] = *p;
    return env;
}

/* Attributes for backup_command's shell: its own process group (so a
 * stop or a timeout ends the whole pipeline), no blocked signals (libuv
 * workers block them) and SIGPIPE back to its default (GPGME ignores it
 * process-wide, and an ignored signal survives exec). */
static void child_attrs(posix_spawnattr_t *at)
{
    sigset_t none, dflt;
    sigemptyset(&none);
    sigemptyset(&dflt);
    sigaddset(&dflt, SIGPIPE);
    posix_spawnattr_init(at);
    posix_spawnattr_setpgroup(at, 0);
    posix_spawnattr_setsigmask(at, &none);
    posix_spawnattr_setsigdefault(at, &dflt);
    posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                     POSIX_SPAWN_SETSIGDEF);
}

/* Waits for the child, killing its group past BACKUP_COMMAND_TIMEOUT_S. */
static int wait_child(struct backup *b, pid_t pid, int *status)
{
    const struct timespec tick = {.tv_sec = 0, .tv_nsec = BACKUP_WAIT_TICK_NS};
    int64_t waited_ns = 0;
    for (;;) {
        pid_t r = waitpid(pid, status, WNOHANG);
        if (r == pid)
            return 0;
        if (r < 0 && errno != EINTR)
            return fail(b, -errno, "backup_command: waitpid: %s", strerror(errno));
        if (waited_ns == (int64_t)BACKUP_COMMAND_TIMEOUT_S * 1000000000) {
            log_error("backup: backup_command still running after %d s: killing it",
                      BACKUP_COMMAND_TIMEOUT_S);
            kill(-pid, SIGKILL);
        }
        nanosleep(&tick, NULL);
        waited_ns += BACKUP_WAIT_TICK_NS;
    }
}

/* Runs backup_command as `/bin/sh -c CMD stanzad-backup FILE` ($1 = FILE)
 * and waits for it. */
static int ship(struct backup *b)
{
    const char *cmd = b->srv->cfg.backup_command;
    char *argv[] = {"/bin/sh", "-c", (char *)cmd, "stanzad-backup", b->path, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    child_attrs(&at);
    char **env = child_env();
    pid_t pid;
    int e = posix_spawn(&pid, "/bin/sh", &fa, &at, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    free(env);
    if (e)
        return fail(b, -e, "backup_command: cannot start /bin/sh: %s", strerror(e));
    atomic_store(&b->child, pid);
    int status = 0, rc = wait_child(b, pid, &status);
    atomic_store(&b->child, 0);
    if (rc)
        return rc;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    if (WIFEXITED(status))
        return fail(b, -EIO, "backup_command failed (exit status %d) for %s",
                    WEXITSTATUS(status), b->path);
    return fail(b, -EIO, "backup_command killed by signal %d for %s",
                WIFSIGNALED(status) ? WTERMSIG(status) : 0, b->path);
}

static void work_cb(uv_work_t *w)
{
    struct backup *b = w->data;
    struct buf sealed;
    char *cipher = NULL;
    size_t n = 0;
    buf_init(&sealed);
    b->rc = seal(b, &sealed);
    if (!b->rc)
        b->rc = encrypt(b, &sealed, &cipher, &n);
    explicit_bzero(sealed.p, sealed.len);
    buf_free(&sealed);
    if (!b->rc)
        b->rc = write_file(b, cipher, n);
    gpgme_free(cipher);
    if (!b->rc)
        b->rc = prune(b);
    if (!b->rc && *b->srv->cfg.backup_command)
        b->rc = ship(b);
}

/* ---- on the loop thread ---- */

static void answer(struct server *s, uint64_t ctl_conn, int status, const char *msg)
{
    struct endpoint *ep = ctl_conn ? server_endpoint(s, ctl_conn) : NULL;
    if (ep && ep->kind == EP_CTL)
        ctl_reply(ep->conn, status, msg);
}

static void done_cb(uv_work_t *w, int status)
{
    struct backup *b = w->data;
    char msg[BACKUP_PATH_BYTES + BACKUP_ERR_BYTES + 64];
    int64_t interval_us = (int64_t)b->srv->cfg.backup_interval_s * 1000000;
    if (status)
        fail(b, status, "the backup was cancelled");
    if ((status || b->rc) && b->due_us > b->time_us + (int64_t)BACKUP_RETRY_S * 1000000)
        b->due_us = b->time_us + (int64_t)BACKUP_RETRY_S * 1000000; /* retry sooner */
    else if (!status && !b->rc)
        b->due_us = b->time_us + interval_us; /* a backup on request counts too */
    if (status || b->rc) {
        snprintf(b->last_error, sizeof b->last_error, "%s", b->err);
        snprintf(msg, sizeof msg, "backup FAILED: %s", b->err);
        log_error("%s", msg);
    } else {
        b->last_ok_us = b->time_us;
        b->last_error[0] = 0;
        snprintf(msg, sizeof msg, "backup at seq %" PRIu64 ": %s (%zu bytes)%s", b->seq, b->path,
                 b->bytes, *b->srv->cfg.backup_command ? ", shipped" : "");
        log_info("%s; %d old backup(s) pruned", msg, b->pruned);
    }
    explicit_bzero(b->state.p, b->state.len);
    buf_free(&b->state);
    b->busy = 0;
    answer(b->srv, b->ctl_conn, (status || b->rc) ? CTL_REFUSED : CTL_OK, msg);
    if (b->free_when_done)
        free(b);
}

void backup_take(struct server *s, uint64_t ctl_conn)
{
    struct backup *b = the_backup;
    assert(!b || b->srv == s);
    uint64_t applied = bus_applied_seq(s->bus);
    if (!b || !*s->cfg.backup_recipient || b->busy || applied == 0) {
        answer(s, ctl_conn, CTL_REFUSED,
               !b || !*s->cfg.backup_recipient ? "backups are off: backup_recipient is not set"
               : b->busy                        ? "a backup is being written; try again"
                                                : "nothing to back up yet");
        return;
    }
    b->busy = 1;
    b->ctl_conn = ctl_conn;
    b->seq = applied;
    b->time_us = c2s_now_us();
    b->pruned = 0;
    b->bytes = 0;
    b->path[0] = b->err[0] = 0;
    buf_init(&b->state);
    dispatch_encode(s->dispatch, &b->state); /* between two events: consistent */
    if (b->state.err) {
        b->rc = fail(b, b->state.err, "encoding the state: %s", err_str(b->state.err));
        done_cb(&b->work, 0);
        return;
    }
    b->rc = 0;
    b->work.data = b;
    if (uv_queue_work(s->loop, &b->work, work_cb, done_cb)) {
        work_cb(&b->work);
        done_cb(&b->work, 0);
    }
}

static void timer_cb(uv_timer_t *t)
{
    struct backup *b = t->data;
    struct server *s = b->srv;
    int64_t now = c2s_now_us();
    /* Until the first event is applied there is nothing to back up; wait
     * rather than be refused in silence. */
    if (s->stopping || b->busy || now < b->due_us || bus_applied_seq(s->bus) == 0)
        return;
    b->due_us = now + (int64_t)s->cfg.backup_interval_s * 1000000;
    backup_take(s, 0);
}

/* The time in the newest backup's name (seconds), or -1 if none: a
 * restart does not postpone the schedule, and a first start backs up. */
static int64_t newest_backup(const char *dir)
{
    int64_t newest = -1;
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    for (struct dirent *e; (e = readdir(d));) {
        int64_t t = name_time(e->d_name);
        if (t > newest)
            newest = t;
    }
    closedir(d);
    return newest;
}

void backup_start(struct server *s)
{
    struct backup *b = xcalloc(1, sizeof *b);
    b->srv = s;
    the_backup = b;
    uv_timer_init(s->loop, &b->timer);
    b->timer.data = b;
    gpgme_check_version(NULL); /* initialises GPGME; must precede any worker's use */
    if (!*s->cfg.backup_recipient) {
        log_info("backup: off (backup_recipient is not set)");
        return;
    }
    uint64_t ms = s->cfg.backup_interval_s * 1000;
    int64_t newest = newest_backup(s->cfg.backup_dir);
    b->due_us = newest < 0 ? 0 : (newest + (int64_t)s->cfg.backup_interval_s) * 1000000;
    if (ms)
        uv_timer_start(&b->timer, timer_cb, BACKUP_CHECK_MS, BACKUP_CHECK_MS);
    log_info("backup: to %s, encrypted to %s, %s", s->cfg.backup_dir, s->cfg.backup_recipient,
             ms ? "on schedule" : "only on request (backup_interval_s = 0)");
}

int backup_busy(const struct server *s)
{
    (void)s;
    return the_backup && the_backup->busy;
}

void backup_status(const struct server *s, struct buf *out)
{
    const struct backup *b = the_backup;
    char st[BACKUP_STAMP_BYTES] = "never";
    if (!*s->cfg.backup_recipient)
        buf_printf(out, "backup: off\n");
    else
        buf_printf(out, "backup: %s%s\n", s->cfg.backup_dir, b && b->busy ? " (running)" : "");
    if (b && b->last_ok_us)
        stamp(b->last_ok_us, st);
    buf_printf(out, "backup_last_ok: %s\n", st);
    buf_printf(out, "backup_last_error: %s\n", b && *b->last_error ? b->last_error : "none");
}

/* A backup still running when the shutdown gave up waiting frees its
 * state when it ends. */
static void timer_closed_cb(uv_handle_t *h)
{
    struct backup *b = h->data;
    if (b->busy)
        b->free_when_done = 1;
    else
        free(b);
}

void backup_stop(struct server *s)
{
    (void)s;
    struct backup *b = the_backup;
    if (!b)
        return;
    pid_t child = atomic_load(&b->child);
    if (b->busy && child > 0) {
        log_warn("backup: stopping: ending backup_command (pid %ld)", (long)child);
        kill(-child, SIGTERM); /* its group: the worker then reaps it and finishes */
    }
    uv_timer_stop(&b->timer);
    uv_close((uv_handle_t *)&b->timer, timer_closed_cb);
    the_backup = NULL;
}
