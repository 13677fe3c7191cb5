/* key: the journal's master key, from the environment, the operator's
 * key command or a 0600 file, in that order.
 *
 * The key never sits in the journal directory's segments (DESIGN.md,
 * "Journal"); it is 32 raw bytes in a file only its owner may read, made
 * on first start from getrandom(2), or 64 hex digits in
 * STANZAD_JOURNAL_KEY or printed by `journal_key_command` (a secrets
 * manager, a TPM, ...) for deployments that keep secrets outside the disk.
 * A key file is never overwritten: losing it loses the journal. The key
 * and the command's output are never logged or echoed in an error. */
#include "journal/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <mbedtls/platform_util.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kernel/err.h"
#include "kernel/mem.h"

#define KEY_ENV "STANZAD_JOURNAL_KEY"
#define KEY_HEX_LEN (2 * JOURNAL_KEY_LEN)
#define KEY_COMMAND_NAME "journal_key_command"
/* Output of the key command read at most; more is not a key (the rest
 * is read and dropped so the command can finish). */
#define KEY_COMMAND_OUTPUT_MAX 256
/* How long the key command may run; then it is killed and the start fails. */
#define KEY_COMMAND_TIMEOUT_MS 30000

extern char **environ;

static int key_fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int key_fail(char *errbuf, size_t errlen, int rc, const char *fmt, ...)
{
    if (errbuf && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(errbuf, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 64 hex digits from `source` (the variable, or the command's output
 * without surrounding white space). Malformed is an error, never a silent
 * fallback to the file: the operator meant a key and would get another. */
static int key_from_hex(const char *hex, size_t len, const char *source,
                        uint8_t key[JOURNAL_KEY_LEN], char *errbuf, size_t errlen)
{
    if (len != KEY_HEX_LEN)
        return key_fail(errbuf, errlen, -ERR_CONFIG, "%s is not %d hex digits", source,
                        KEY_HEX_LEN);
    for (int i = 0; i < JOURNAL_KEY_LEN; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            mbedtls_platform_zeroize(key, JOURNAL_KEY_LEN);
            return key_fail(errbuf, errlen, -ERR_CONFIG, "%s is not %d hex digits", source,
                            KEY_HEX_LEN);
        }
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static int key_from_env(const char *hex, uint8_t key[JOURNAL_KEY_LEN], char *errbuf,
                        size_t errlen)
{
    return key_from_hex(hex, strlen(hex), KEY_ENV " is set but", key, errbuf, errlen);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Reads the child's stdout until EOF or the deadline: at most
 * KEY_COMMAND_OUTPUT_MAX bytes kept in out, *too_long set if there was
 * more. Returns 0, -ETIMEDOUT, or -errno. */
static int read_output(int fd, char *out, size_t *got, int *too_long)
{
    int64_t deadline = now_ms() + KEY_COMMAND_TIMEOUT_MS;
    char drop[512];
    *got = 0;
    *too_long = 0;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return -ETIMEDOUT;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int pr = poll(&pfd, 1, (int)left);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0)
            return -errno;
        if (pr == 0)
            return -ETIMEDOUT;
        int keep = *got < KEY_COMMAND_OUTPUT_MAX;
        ssize_t r = keep ? read(fd, out + *got, KEY_COMMAND_OUTPUT_MAX - *got)
                         : read(fd, drop, sizeof drop);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return 0;
        if (keep)
            *got += (size_t)r;
        else
            *too_long = 1;
    }
}

/* Runs command with /bin/sh -c, stdin from /dev/null, stderr shared (so
 * the command's own complaints reach the operator), stdout into a pipe.
 * Returns 0 with the output in out, or a code with the reason. */
static int run_key_command(const char *command, char *out, size_t *got, char *errbuf,
                           size_t errlen)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return key_fail(errbuf, errlen, -errno, "%s: pipe: %s", KEY_COMMAND_NAME, strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return key_fail(errbuf, errlen, -rc, "%s: cannot run /bin/sh: %s", KEY_COMMAND_NAME,
                        strerror(rc));
    }
    int too_long;
    rc = read_output(fds[0], out, got, &too_long);
    close(fds[0]);
    if (rc == -ETIMEDOUT)
        kill(pid, SIGKILL); /* our own child: it hung */
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (rc == -ETIMEDOUT)
        return key_fail(errbuf, errlen, -ERR_CONFIG, "%s did not finish within %d s",
                        KEY_COMMAND_NAME, KEY_COMMAND_TIMEOUT_MS / 1000);
    if (rc)
        return key_fail(errbuf, errlen, rc, "%s: reading its output: %s", KEY_COMMAND_NAME,
                        err_str(rc));
    if (WIFSIGNALED(status))
        return key_fail(errbuf, errlen, -ERR_CONFIG, "%s was killed by signal %d",
                        KEY_COMMAND_NAME, WTERMSIG(status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return key_fail(errbuf, errlen, -ERR_CONFIG, "%s failed (exit status %d)",
                        KEY_COMMAND_NAME, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    if (too_long)
        return key_fail(errbuf, errlen, -ERR_CONFIG, "%s printed more than %d bytes: not a key",
                        KEY_COMMAND_NAME, KEY_COMMAND_OUTPUT_MAX);
    return 0;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

static int key_from_command(const char *command, uint8_t key[JOURNAL_KEY_LEN], char *errbuf,
                            size_t errlen)
{
    char out[KEY_COMMAND_OUTPUT_MAX];
    size_t got = 0;
    int rc = run_key_command(command, out, &got, errbuf, errlen);
    size_t start = 0;
    while (!rc && start < got && is_space(out[start]))
        start++;
    while (!rc && got > start && is_space(out[got - 1]))
        got--;
    if (!rc && got == start)
        rc = key_fail(errbuf, errlen, -ERR_CONFIG, "%s printed nothing", KEY_COMMAND_NAME);
    if (!rc)
        rc = key_from_hex(out + start, got - start, KEY_COMMAND_NAME "'s output", key, errbuf,
                          errlen);
    mbedtls_platform_zeroize(out, sizeof out);
    if (rc)
        mbedtls_platform_zeroize(key, JOURNAL_KEY_LEN);
    return rc;
}

static int read_all(int fd, uint8_t *p, size_t n, size_t *got)
{
    *got = 0;
    while (*got < n) {
        ssize_t r = read(fd, p + *got, n - *got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            break;
        *got += (size_t)r;
    }
    return 0;
}

static int key_read_fd(int fd, const char *path, uint8_t key[JOURNAL_KEY_LEN], char *errbuf,
                       size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return key_fail(errbuf, errlen, -errno, "key file %s: %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return key_fail(errbuf, errlen, -ERR_CONFIG, "key file %s is not a regular file", path);
    if (st.st_mode & 077)
        return key_fail(errbuf, errlen, -ERR_CONFIG,
                        "key file %s is open to group or others (mode %04o): refusing it; "
                        "chmod 600 %s if it was never exposed, else make a new key",
                        path, (unsigned)(st.st_mode & 07777), path);
    if (st.st_size != JOURNAL_KEY_LEN)
        return key_fail(errbuf, errlen, -ERR_CORRUPT, "key file %s holds %jd bytes, expected %d",
                        path, (intmax_t)st.st_size, JOURNAL_KEY_LEN);
    size_t got;
    int rc = read_all(fd, key, JOURNAL_KEY_LEN, &got);
    if (rc == 0 && got != JOURNAL_KEY_LEN)
        rc = -ERR_CORRUPT;
    if (rc) {
        mbedtls_platform_zeroize(key, JOURNAL_KEY_LEN);
        return key_fail(errbuf, errlen, rc, "key file %s: cannot read %d bytes: %s", path,
                        JOURNAL_KEY_LEN, err_str(rc));
    }
    return 0;
}

static int key_read(const char *path, uint8_t key[JOURNAL_KEY_LEN], char *errbuf, size_t errlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return key_fail(errbuf, errlen, -errno, "key file %s: %s", path, strerror(errno));
    int rc = key_read_fd(fd, path, key, errbuf, errlen);
    close(fd);
    return rc;
}

static int fsync_parent(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int rc = fd < 0 || fsync(fd) != 0 ? -errno : 0;
    if (fd >= 0)
        close(fd);
    free(dir);
    return rc;
}

/* Writes a new random key to a temporary file, then links it into place:
 * link(2) never replaces an existing file, so a key made meanwhile by
 * someone else wins and is read back instead. */
static int key_create(const char *path, uint8_t key[JOURNAL_KEY_LEN], char *errbuf,
                      size_t errlen)
{
    char tmp[PATH_MAX];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp)
        return key_fail(errbuf, errlen, -ENAMETOOLONG, "key file %s: path too long", path);
    for (size_t got = 0; got < JOURNAL_KEY_LEN;) {
        ssize_t r = getrandom(key + got, JOURNAL_KEY_LEN - got, 0);
        if (r < 0 && errno != EINTR)
            return key_fail(errbuf, errlen, -errno, "getrandom: %s", strerror(errno));
        got += r > 0 ? (size_t)r : 0;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    int rc = fd < 0 ? -errno : 0;
    errno = 0;
    if (rc == 0 && write(fd, key, JOURNAL_KEY_LEN) != JOURNAL_KEY_LEN)
        rc = errno ? -errno : -ENOSPC; /* a short write of 32 bytes: the disk is full */
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (fd >= 0)
        close(fd);
    if (rc == 0 && link(tmp, path) != 0)
        rc = -errno;
    if (fd >= 0)
        unlink(tmp);
    if (rc == -EEXIST)
        return key_read(path, key, errbuf, errlen);
    if (rc == 0)
        rc = fsync_parent(path);
    if (rc) {
        mbedtls_platform_zeroize(key, JOURNAL_KEY_LEN);
        return key_fail(errbuf, errlen, rc, "cannot create key file %s: %s", path, err_str(rc));
    }
    return 0;
}

int journal_key_load(const char *path, uint8_t key[JOURNAL_KEY_LEN], char *errbuf, size_t errlen)
{
    return journal_key_obtain(path, NULL, 1, key, errbuf, errlen);
}

int journal_key_obtain(const char *path, const char *command, int create,
                       uint8_t key[JOURNAL_KEY_LEN], char *errbuf, size_t errlen)
{
    const char *hex = getenv(KEY_ENV);
    if (hex)
        return key_from_env(hex, key, errbuf, errlen);
    if (command && *command)
        return key_from_command(command, key, errbuf, errlen);
    if (!path || !*path)
        return key_fail(errbuf, errlen, -ERR_INVAL, "no key file path and %s is not set", KEY_ENV);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT && create)
        return key_create(path, key, errbuf, errlen);
    if (fd < 0)
        return key_fail(errbuf, errlen, -errno, "key file %s: %s", path, strerror(errno));
    int rc = key_read_fd(fd, path, key, errbuf, errlen);
    close(fd);
    return rc;
}
