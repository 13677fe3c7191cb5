/* key: the journal's master key, from the environment or a 0600 file.
 *
 * The key never sits in the journal directory's segments (DESIGN.md,
 * "Journal"); it is 32 raw bytes in a file only its owner may read, made
 * on first start from getrandom(2), or 64 hex digits in
 * STANZAD_JOURNAL_KEY for deployments that keep secrets outside the disk.
 * A key file is never overwritten: losing it loses the journal. */
#include "journal/journal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <mbedtls/platform_util.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kernel/err.h"
#include "kernel/mem.h"

#define KEY_ENV "STANZAD_JOURNAL_KEY"
#define KEY_HEX_LEN (2 * JOURNAL_KEY_LEN)

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

/* A set but malformed variable is an error, never a silent fallback to
 * the file: the operator meant a key and would get another one. */
static int key_from_env(const char *hex, uint8_t key[JOURNAL_KEY_LEN], char *errbuf,
                        size_t errlen)
{
    if (strlen(hex) != KEY_HEX_LEN)
        return key_fail(errbuf, errlen, -ERR_CONFIG, "%s is set but is not %d hex digits",
                        KEY_ENV, KEY_HEX_LEN);
    for (int i = 0; i < JOURNAL_KEY_LEN; i++) {
        int hi = hex_digit(hex[2 * i]), lo = hex_digit(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            mbedtls_platform_zeroize(key, JOURNAL_KEY_LEN);
            return key_fail(errbuf, errlen, -ERR_CONFIG, "%s is set but is not %d hex digits",
                            KEY_ENV, KEY_HEX_LEN);
        }
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
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
    const char *hex = getenv(KEY_ENV);
    if (hex)
        return key_from_env(hex, key, errbuf, errlen);
    if (!path || !*path)
        return key_fail(errbuf, errlen, -ERR_INVAL, "no key file path and %s is not set", KEY_ENV);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT)
        return key_create(path, key, errbuf, errlen);
    if (fd < 0)
        return key_fail(errbuf, errlen, -errno, "key file %s: %s", path, strerror(errno));
    int rc = key_read_fd(fd, path, key, errbuf, errlen);
    close(fd);
    return rc;
}
