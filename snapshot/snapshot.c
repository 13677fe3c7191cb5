/* snapshot: sealing, checking, writing, listing and pruning snapshot files.
 *
 * Layout, grammar, the rule for a valid file and the recovery rules:
 * doc/formats/snapshot.md; offsets: snapshot.h. The body is one LZ4 block
 * (or stored, when LZ4 does not shrink it) sealed with AES-256-GCM under a
 * key derived with HKDF-SHA256 from the journal's master key and the
 * file's random salt; the header is the additional authenticated data.
 * The key check value and CRC32C are the journal's (journal/block.h), so
 * one master key opens both, and a wrong one is named in the same words.
 *
 * Files: a write is temp file, fsync, rename, fsync of the directory, so
 * a crash never leaves a partial file under a final name; the temp files
 * a crash does leave are removed by the next listing. */
#include "snapshot/snapshot.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/aead.h"
#include "journal/block.h"
#include "kernel/err.h"
#include "kernel/fileio.h"
#include "kernel/le.h"
#include "kernel/mem.h"

#define HKDF_INFO_FILE "stanzad snapshot v1 file key"
#define SNAP_SUFFIX ".snap"
#define NAME_HEX 16                      /* hex digits of the sequence number */
#define NAME_LEN (SNAPSHOT_NAME_BYTES - 1)
/* "<16 hex>.snap.<8 hex>.tmp": the final name, a random part, ".tmp". */
#define TMP_RAND_HEX 8
#define TMP_LEN (NAME_LEN + 1 + TMP_RAND_HEX + 4)

_Static_assert(SNAPSHOT_OFF_CRC + 4 == SNAPSHOT_HDR_BYTES, "snapshot header layout");
_Static_assert(SNAPSHOT_OFF_KEY_CHECK + SNAPSHOT_KEY_CHECK_BYTES == SNAPSHOT_OFF_CRC,
               "snapshot header layout");
_Static_assert(SNAPSHOT_OFF_SALT + SNAPSHOT_SALT_BYTES == SNAPSHOT_OFF_KEY_CHECK,
               "snapshot header layout");
_Static_assert(SNAPSHOT_OFF_RESERVED + SNAPSHOT_RESERVED_BYTES == SNAPSHOT_OFF_SEQ,
               "snapshot header layout");
_Static_assert(SNAPSHOT_KEY_CHECK_BYTES == SEG_KEY_CHECK_BYTES, "the journal's key check value");
_Static_assert(SNAPSHOT_BYTES_MAX <= LZ4_MAX_INPUT_SIZE, "LZ4 takes the largest state");
_Static_assert(SNAPSHOT_FILE_BYTES_MAX <= SIZE_MAX, "a whole file fits in memory");
_Static_assert(NAME_LEN == NAME_HEX + sizeof SNAP_SUFFIX - 1, "snapshot name length");

/* ---- small helpers ---- */

static void report(snapshot_report_cb cb, void *arg, const char *dir, const char *name, int code,
                   const char *reason)
{
    char path[PATH_MAX];
    if (!cb)
        return;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    cb(arg, path, code, reason);
}

static const uint8_t zero_nonce[SNAPSHOT_NONCE_BYTES];
_Static_assert(SNAPSHOT_NONCE_BYTES == AEAD_NONCE_BYTES && SNAPSHOT_TAG_BYTES == AEAD_TAG_BYTES,
               "snapshots are sealed with aead.h");

/* The key of one file; it seals exactly one body, hence the fixed nonce. */
static int file_key_init(struct aead *a, const uint8_t master[JOURNAL_KEY_LEN],
                         const uint8_t salt[SNAPSHOT_SALT_BYTES])
{
    const mbedtls_md_info_t *md = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
    uint8_t fk[AEAD_KEY_BYTES];
    int rc = -ERR_CRYPTO;
    a->ctx = NULL;
    if (mbedtls_hkdf(md, salt, SNAPSHOT_SALT_BYTES, master, JOURNAL_KEY_LEN,
                     (const uint8_t *)HKDF_INFO_FILE, strlen(HKDF_INFO_FILE), fk, sizeof fk) == 0)
        rc = aead_init(a, fk);
    mbedtls_platform_zeroize(fk, sizeof fk);
    return rc;
}

/* ---- the bytes of a file ---- */

void snapshot_name(uint64_t seq, char out[SNAPSHOT_NAME_BYTES])
{
    snprintf(out, SNAPSHOT_NAME_BYTES, "%016" PRIx64 SNAP_SUFFIX, seq);
}

/* Puts the body (LZ4 when that shrinks the state, else the state itself)
 * at dst, which has room for max(LZ4 bound, len); returns the codec. */
static uint8_t body_compress(const uint8_t *state, size_t len, uint8_t *dst, size_t room,
                             size_t *body_len /* OUT */)
{
    if (len > 0) {
        void *lz = xmalloc((size_t)LZ4_sizeofState());
        int n = LZ4_compress_fast_extState(lz, (const char *)state, (char *)dst, (int)len,
                                           (int)room, 1);
        free(lz);
        if (n > 0 && (size_t)n < len) {
            *body_len = (size_t)n;
            return SNAPSHOT_CODEC_LZ4;
        }
        memcpy(dst, state, len);
    }
    *body_len = len;
    return SNAPSHOT_CODEC_STORED;
}

int snapshot_seal(const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq, int64_t time_us,
                  const uint8_t salt[SNAPSHOT_SALT_BYTES], const uint8_t *state, size_t len,
                  struct buf *out)
{
    assert(seq >= 1);
    assert(state != NULL || len == 0);
    if (len > SNAPSHOT_BYTES_MAX)
        return -ERR_LIMIT;
    size_t room = len ? (size_t)LZ4_compressBound((int)len) : 0;
    room = room > len ? room : len;
    if (buf_reserve(out, SNAPSHOT_HDR_BYTES + room + SNAPSHOT_TAG_BYTES))
        return -ERR_NOMEM;
    uint8_t *h = out->p + out->len, *body = h + SNAPSHOT_HDR_BYTES;
    size_t body_len;
    uint8_t codec = body_compress(state, len, body, room, &body_len);
    memset(h, 0, SNAPSHOT_HDR_BYTES);
    memcpy(h, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_BYTES);
    le_put16(h + SNAPSHOT_OFF_VERSION, SNAPSHOT_FORMAT_VERSION);
    h[SNAPSHOT_OFF_CODEC] = codec;
    le_put64(h + SNAPSHOT_OFF_SEQ, seq);
    le_put64(h + SNAPSHOT_OFF_TIME, (uint64_t)time_us);
    le_put64(h + SNAPSHOT_OFF_RAW_LEN, len);
    le_put64(h + SNAPSHOT_OFF_BODY_LEN, body_len);
    memcpy(h + SNAPSHOT_OFF_SALT, salt, SNAPSHOT_SALT_BYTES);
    int rc = journal_key_check(key, h + SNAPSHOT_OFF_KEY_CHECK);
    if (rc)
        return rc;
    le_put32(h + SNAPSHOT_OFF_CRC, crc32c(0, h, SNAPSHOT_OFF_CRC));
    struct aead a;
    if ((rc = file_key_init(&a, key, salt)))
        return rc;
    rc = aead_seal(&a, zero_nonce, h, SNAPSHOT_HDR_BYTES, body, body_len, body, body + body_len);
    aead_free(&a);
    if (rc == 0)
        out->len += SNAPSHOT_HDR_BYTES + body_len + SNAPSHOT_TAG_BYTES;
    return rc;
}

struct hdr {
    uint8_t codec;
    int64_t time_us;
    uint64_t raw_len;
    uint64_t body_len;
};

/* Rule 1 of the doc; a reader checks it before allocating anything. */
static int size_check(uint64_t n, const char **why)
{
    if (n < SNAPSHOT_FILE_BYTES_MIN)
        return *why = "file cut short (no room for a header and a tag)", -ERR_CORRUPT;
    if (n > SNAPSHOT_FILE_BYTES_MAX)
        return *why = "file larger than any snapshot can be", -ERR_CORRUPT;
    return 0;
}

/* Rules 1-8 of the doc: everything that needs no key. */
static int hdr_check(const uint8_t *f, size_t n, uint64_t seq, struct hdr *h, const char **why)
{
    int rc = size_check(n, why);
    if (rc)
        return rc;
    if (memcmp(f, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_BYTES) != 0)
        return *why = "not a snapshot (bad magic)", -ERR_CORRUPT;
    if (crc32c(0, f, SNAPSHOT_OFF_CRC) != le_get32(f + SNAPSHOT_OFF_CRC))
        return *why = "header checksum mismatch", -ERR_CORRUPT;
    if (le_get16(f + SNAPSHOT_OFF_VERSION) != SNAPSHOT_FORMAT_VERSION)
        return *why = "unsupported snapshot format version", -ERR_VERSION;
    if (le_get16(f + SNAPSHOT_OFF_FLAGS) != 0)
        return *why = "header has unknown flags", -ERR_VERSION;
    h->codec = f[SNAPSHOT_OFF_CODEC];
    if (h->codec != SNAPSHOT_CODEC_STORED && h->codec != SNAPSHOT_CODEC_LZ4)
        return *why = "unknown codec", -ERR_CORRUPT;
    for (int i = 0; i < SNAPSHOT_RESERVED_BYTES; i++)
        if (f[SNAPSHOT_OFF_RESERVED + i] != 0)
            return *why = "reserved header bytes are not zero", -ERR_CORRUPT;
    if (le_get64(f + SNAPSHOT_OFF_SEQ) != seq)
        return *why = "covered seq differs from the file name", -ERR_CORRUPT;
    h->time_us = (int64_t)le_get64(f + SNAPSHOT_OFF_TIME);
    h->raw_len = le_get64(f + SNAPSHOT_OFF_RAW_LEN);
    h->body_len = le_get64(f + SNAPSHOT_OFF_BODY_LEN);
    if (h->raw_len > SNAPSHOT_BYTES_MAX)
        return *why = "state length passes SNAPSHOT_BYTES_MAX", -ERR_CORRUPT;
    if (h->codec == SNAPSHOT_CODEC_STORED && h->body_len != h->raw_len)
        return *why = "stored body length differs from the state length", -ERR_CORRUPT;
    if (h->codec == SNAPSHOT_CODEC_LZ4 &&
        (h->raw_len == 0 || h->body_len == 0 ||
         h->body_len > (uint64_t)LZ4_COMPRESSBOUND(h->raw_len)))
        return *why = "compressed body length out of range", -ERR_CORRUPT;
    if (n - SNAPSHOT_FILE_BYTES_MIN < h->body_len)
        return *why = "file cut short (shorter than its header says)", -ERR_CORRUPT;
    if (n - SNAPSHOT_FILE_BYTES_MIN > h->body_len)
        return *why = "trailing bytes after the tag", -ERR_CORRUPT;
    return 0;
}

/* Rules 10-11: the tag, then the body to exactly raw_len bytes. */
static int body_open(const uint8_t key[JOURNAL_KEY_LEN], const uint8_t *f, const struct hdr *h,
                     uint8_t **state, const char **why)
{
    const uint8_t *sealed = f + SNAPSHOT_HDR_BYTES;
    struct aead a;
    if (file_key_init(&a, key, f + SNAPSHOT_OFF_SALT))
        return *why = "key derivation failed", -ERR_CRYPTO;
    uint8_t *body = xmalloc((size_t)h->body_len);
    int bad = aead_open(&a, zero_nonce, f, SNAPSHOT_HDR_BYTES, sealed, (size_t)h->body_len, body,
                        sealed + h->body_len);
    aead_free(&a);
    if (bad) {
        free(body);
        return *why = "fails authentication (bad tag)", -ERR_CORRUPT;
    }
    if (h->codec == SNAPSHOT_CODEC_STORED) {
        *state = body;
        return 0;
    }
    uint8_t *raw = xmalloc((size_t)h->raw_len);
    int n = LZ4_decompress_safe((const char *)body, (char *)raw, (int)h->body_len,
                                (int)h->raw_len);
    free(body);
    if (n < 0 || (uint64_t)n != h->raw_len) {
        free(raw);
        return *why = "LZ4 body does not decode to exactly the state length", -ERR_CORRUPT;
    }
    *state = raw;
    return 0;
}

int snapshot_open(const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq, const uint8_t *file, size_t n,
                  uint8_t **state, size_t *len, int64_t *time_us, const char **why)
{
    assert(file != NULL || n == 0);
    struct hdr h;
    uint8_t kcv[SNAPSHOT_KEY_CHECK_BYTES];
    int rc = hdr_check(file, n, seq, &h, why);
    if (rc)
        return rc;
    if (journal_key_check(key, kcv))
        return *why = "key derivation failed", -ERR_CRYPTO;
    if (memcmp(kcv, file + SNAPSHOT_OFF_KEY_CHECK, SNAPSHOT_KEY_CHECK_BYTES) != 0)
        return *why = "wrong key (the key check value differs)", -ERR_CRYPTO;
    uint8_t *out;
    if ((rc = body_open(key, file, &h, &out, why)))
        return rc;
    *state = out;
    *len = (size_t)h.raw_len;
    *time_us = h.time_us;
    return 0;
}

/* ---- names and directories ---- */

static int hex_lower(char c)
{
    return (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

/* Parses "<16 lower-case hex>" at s; returns 0 when it is not one. */
static uint64_t hex16_parse(const char *s)
{
    uint64_t v = 0;
    for (int i = 0; i < NAME_HEX; i++) {
        int d = hex_lower(s[i]);
        if (d < 0)
            return 0;
        v = v << 4 | (uint64_t)d;
    }
    return v;
}

/* The seq of "<16 hex>.snap", or 0 when name is not one (or names 0). */
static uint64_t name_parse(const char *name)
{
    if (strlen(name) != NAME_LEN || strcmp(name + NAME_HEX, SNAP_SUFFIX) != 0)
        return 0;
    return hex16_parse(name);
}

static int is_tmp_name(const char *name)
{
    if (strlen(name) != TMP_LEN || name[NAME_LEN] != '.' || strcmp(name + TMP_LEN - 4, ".tmp"))
        return 0;
    if (strncmp(name + NAME_HEX, SNAP_SUFFIX, sizeof SNAP_SUFFIX - 1) != 0)
        return 0;
    for (int i = 0; i < NAME_HEX; i++)
        if (hex_lower(name[i]) < 0)
            return 0;
    for (int i = 0; i < TMP_RAND_HEX; i++)
        if (hex_lower(name[NAME_LEN + 1 + i]) < 0)
            return 0;
    return 1;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

/* mkdir -p with mode 0700; each directory it creates has its entry made
 * durable by an fsync of the parent, so the first snapshot survives a
 * power cut along with the directory that holds it. */
static int mkdir_p(const char *dir)
{
    char *p = xstrdup(dir);
    int rc = 0;
    size_t n = strlen(p);
    for (size_t i = 1; i <= n && rc == 0; i++) {
        if (p[i] != '/' && p[i] != 0)
            continue;
        char c = p[i];
        p[i] = 0;
        if (mkdir(p, 0700) == 0) {
            char *slash = strrchr(p, '/');
            if (!slash)
                rc = fsync_path(".");
            else if (slash == p)
                rc = fsync_path("/");
            else {
                *slash = 0;
                rc = fsync_path(p);
                *slash = '/';
            }
        } else if (errno != EEXIST) {
            rc = -errno;
        }
        p[i] = c;
    }
    free(p);
    return rc;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        if (r == 0)
            return -EIO; /* the file shrank under us */
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- writing ---- */

/* Opens the sealed bytes again and compares them with the state: a bug in
 * sealing must fail this write, not the start that would need it. */
static int seal_verify(const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq, const struct buf *file,
                       const uint8_t *state, size_t len, const char **why)
{
    uint8_t *back;
    size_t back_len;
    int64_t t;
    int rc = snapshot_open(key, seq, file->p, file->len, &back, &back_len, &t, why);
    if (rc)
        return rc;
    if (back_len != len || (len && memcmp(back, state, len) != 0))
        rc = -ERR_CORRUPT, *why = "sealed snapshot does not open to the same state";
    free(back);
    return rc;
}

/* Temp file, fsync, rename, fsync of the directory. */
static int file_install(int dfd, const char *name, const struct buf *file, const char **step)
{
    uint8_t r[TMP_RAND_HEX / 2];
    char tmp[TMP_LEN + 1];
    int rc;
    if ((rc = fileio_random(r, sizeof r)))
        return *step = "getrandom", rc;
    snprintf(tmp, sizeof tmp, "%s.%02x%02x%02x%02x.tmp", name, r[0], r[1], r[2], r[3]);
    assert(is_tmp_name(tmp));
    int fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return *step = "create temp file", -errno;
    if ((rc = fileio_write_all(fd, file->p, file->len)))
        *step = "write";
    else if (fsync(fd) != 0)
        rc = -errno, *step = "fsync";
    if (close(fd) != 0 && rc == 0)
        rc = -errno, *step = "close";
    if (rc == 0 && renameat(dfd, tmp, dfd, name) != 0)
        rc = -errno, *step = "rename";
    if (rc) {
        (void)unlinkat(dfd, tmp, 0); /* best effort: the next listing removes it */
        return rc;
    }
    if (fsync(dfd) != 0)
        return *step = "fsync of the directory", -errno;
    return 0;
}

int snapshot_write(const char *dir, const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq,
                   int64_t time_us, const uint8_t *state, size_t len, char *errbuf, size_t errlen)
{
    assert(dir && key);
    assert(seq >= 1);
    char name[SNAPSHOT_NAME_BYTES];
    uint8_t salt[SNAPSHOT_SALT_BYTES];
    const char *why = NULL;
    struct buf file;
    snapshot_name(seq, name);
    if (len > SNAPSHOT_BYTES_MAX)
        return err_fail(errbuf, errlen, -ERR_LIMIT,
                    "snapshot: %s/%s: state of %zu bytes passes SNAPSHOT_BYTES_MAX", dir, name,
                    len);
    int rc = fileio_random(salt, sizeof salt);
    if (rc)
        return err_fail(errbuf, errlen, rc, "snapshot: getrandom: %s", err_str(rc));
    buf_init(&file);
    if ((rc = snapshot_seal(key, seq, time_us, salt, state, len, &file)) ||
        (rc = seal_verify(key, seq, &file, state, len, &why))) {
        buf_free(&file);
        return err_fail(errbuf, errlen, rc, "snapshot: %s/%s: not written: %s", dir, name,
                    why ? why : err_str(rc));
    }
    if ((rc = mkdir_p(dir))) {
        buf_free(&file);
        return err_fail(errbuf, errlen, rc, "snapshot: cannot create %s: %s", dir, err_str(rc));
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        rc = -errno;
        buf_free(&file);
        return err_fail(errbuf, errlen, rc, "snapshot: cannot open %s: %s", dir, err_str(rc));
    }
    rc = file_install(dfd, name, &file, &why);
    close(dfd);
    buf_free(&file);
    if (rc)
        return err_fail(errbuf, errlen, rc, "snapshot: %s/%s: %s: %s", dir, name, why, err_str(rc));
    return 0;
}

/* ---- listing, loading, pruning ---- */

static int cmp_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x > y ? -1 : x < y;
}

/* Sorts one directory entry: a snapshot (pushed), a leftover temp file
 * (removed), a bad snapshot name (reported), or something else. */
static int list_entry(int dfd, const char *dir, const char *name, uint64_t **seqs, size_t *n,
                      size_t *cap, int *removed, snapshot_report_cb rep, void *arg)
{
    size_t nl = strlen(name);
    uint64_t seq = name_parse(name);
    if (seq != 0) {
        if (*n == SNAPSHOT_FILES_MAX)
            return -ERR_LIMIT;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *seqs = xrealloc(*seqs, *cap * sizeof **seqs);
        }
        (*seqs)[(*n)++] = seq;
    } else if (is_tmp_name(name)) {
        if (unlinkat(dfd, name, 0) != 0 && errno != ENOENT)
            return -errno;
        *removed = 1;
        report(rep, arg, dir, name, 0, "leftover of an interrupted write: removed");
    } else if (nl > sizeof SNAP_SUFFIX - 1 && strcmp(name + nl - 5, SNAP_SUFFIX) == 0) {
        report(rep, arg, dir, name, 0,
               "not a snapshot name (16 lower-case hex digits, at least 1): ignored");
    }
    return 0;
}

int snapshot_list(const char *dir, uint64_t **seqs, size_t *n, snapshot_report_cb report_cb,
                  void *arg, char *errbuf, size_t errlen)
{
    uint64_t *v = NULL;
    size_t cnt = 0, cap = 0;
    int removed = 0, rc = 0;
    *seqs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d && errno == ENOENT)
        return 0;
    if (!d)
        return err_fail(errbuf, errlen, -errno, "snapshot: cannot list %s: %s", dir, strerror(errno));
    struct dirent *e;
    while (rc == 0 && (errno = 0, e = readdir(d)) != NULL)
        rc = list_entry(dirfd(d), dir, e->d_name, &v, &cnt, &cap, &removed, report_cb, arg);
    if (rc == 0 && errno != 0)
        rc = -errno;
    if (rc == 0 && removed && fsync(dirfd(d)) != 0)
        rc = -errno;
    closedir(d);
    if (rc) {
        free(v);
        return rc == -ERR_LIMIT
                   ? err_fail(errbuf, errlen, rc, "snapshot: %s holds more than %d snapshots", dir,
                          SNAPSHOT_FILES_MAX)
                   : err_fail(errbuf, errlen, rc, "snapshot: cannot list %s: %s", dir, err_str(rc));
    }
    if (cnt > 1)
        qsort(v, cnt, sizeof *v, cmp_desc);
    *seqs = v;
    *n = cnt;
    return 0;
}

/* Loads one file; on failure *why says why (static, or err_str's). */
static int load_file(const char *path, const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq,
                     uint8_t **state, size_t *len, int64_t *time_us, const char **why)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    int rc = 0;
    if (fd < 0)
        return rc = -errno, *why = err_str(rc), rc;
    if (fstat(fd, &st) != 0) {
        rc = -errno;
        close(fd);
        return *why = err_str(rc), rc;
    }
    if ((rc = size_check((uint64_t)st.st_size, why))) {
        close(fd);
        return rc;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *f = xmalloc(n);
    rc = read_all(fd, f, n);
    close(fd);
    if (rc)
        *why = err_str(rc);
    else
        rc = snapshot_open(key, seq, f, n, state, len, time_us, why);
    free(f);
    return rc;
}

int snapshot_load(const char *dir, const uint8_t key[JOURNAL_KEY_LEN], uint64_t seq,
                  uint8_t **state, size_t *len, int64_t *time_us, char *errbuf, size_t errlen)
{
    assert(dir && key);
    char name[SNAPSHOT_NAME_BYTES], path[PATH_MAX];
    const char *why = "";
    snapshot_name(seq, name);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    int rc = load_file(path, key, seq, state, len, time_us, &why);
    if (rc)
        return err_fail(errbuf, errlen, rc, "snapshot: %s: %s", path, why);
    return 0;
}

int snapshot_load_newest(const char *dir, const uint8_t key[JOURNAL_KEY_LEN], uint64_t *seq,
                         snapshot_accept_cb accept, snapshot_report_cb report_cb, void *arg,
                         char *errbuf, size_t errlen)
{
    assert(dir && key);
    assert(accept != NULL);
    uint64_t *seqs;
    size_t n;
    *seq = 0;
    int rc = snapshot_list(dir, &seqs, &n, report_cb, arg, errbuf, errlen);
    if (rc)
        return rc;
    for (size_t i = 0; i < n && *seq == 0; i++) {
        char name[SNAPSHOT_NAME_BYTES], path[PATH_MAX], reason[256];
        const char *why = "";
        uint8_t *state;
        size_t len;
        int64_t t;
        assert(i == 0 || seqs[i] < seqs[i - 1]);
        snapshot_name(seqs[i], name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        rc = load_file(path, key, seqs[i], &state, &len, &t, &why);
        if (rc == 0) {
            rc = accept(arg, seqs[i], t, state, len);
            free(state);
            if (rc) {
                snprintf(reason, sizeof reason, "state rejected by the caller: %s",
                         rc < 0 ? err_str(rc) : "non-zero verdict");
                why = reason;
            }
        }
        if (rc == 0)
            *seq = seqs[i];
        else if (report_cb)
            report_cb(arg, path, rc, why);
    }
    free(seqs);
    return 0;
}

int snapshot_prune(const char *dir, size_t keep, snapshot_report_cb report_cb, void *arg,
                   char *errbuf, size_t errlen)
{
    assert(dir);
    assert(keep >= 1);
    uint64_t *seqs;
    size_t n;
    int rc = snapshot_list(dir, &seqs, &n, report_cb, arg, errbuf, errlen);
    if (rc || n == 0)
        return rc;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0) {
        rc = -errno;
        free(seqs);
        return err_fail(errbuf, errlen, rc, "snapshot: cannot open %s: %s", dir, err_str(rc));
    }
    int removed = 0;
    for (size_t i = keep; i < n && rc == 0; i++) {
        char name[SNAPSHOT_NAME_BYTES];
        snapshot_name(seqs[i], name);
        if (unlinkat(dfd, name, 0) == 0)
            removed++;
        else if (errno != ENOENT)
            rc = err_fail(errbuf, errlen, -errno, "snapshot: cannot remove %s/%s: %s", dir, name,
                      strerror(errno));
    }
    if (fsync(dfd) != 0 && rc == 0)
        rc = err_fail(errbuf, errlen, -errno, "snapshot: fsync of %s: %s", dir, strerror(errno));
    close(dfd);
    free(seqs);
    return rc ? rc : removed;
}
