/* test_snapshot: the snapshot file format, its recovery rules and pruning.
 *
 * Grouped by failure kind, as in SQLite's test suite: snapshot (round
 * trips, listing, the worked example of doc/formats/snapshot.md),
 * snapshot_crash (what a crash leaves: temp files, files cut short),
 * snapshot_corrupt (bit flips, tampering, wrong key, rejected state),
 * snapshot_fault (I/O errors) and snapshot_prune. The damage helpers work
 * on the files with the offsets of the doc, and one helper seals a file
 * independently of snapshot.c (HKDF and GCM straight from mbedTLS) to
 * reach the checks that sit behind the tag. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <mbedtls/gcm.h>
#include <mbedtls/hkdf.h>
#include <mbedtls/md.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/block.h"
#include "kernel/err.h"
#include "kernel/mem.h"
#include "snapshot/snapshot.h"
#include "fixture.h"

#define T0_US 1700000000000000LL
#define REPORTS_MAX 16
#define MIB (1u << 20)

/* ---- fixtures ---- */

static char g_root[64];
static char g_dir[128]; /* g_root/snapshots: not there until the first write */
static uint8_t g_key[JOURNAL_KEY_LEN];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void setup(void)
{
    strcpy(g_root, "/tmp/test_snapshot.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_root));
    snprintf(g_dir, sizeof g_dir, "%s/snapshots", g_root);
    for (int i = 0; i < JOURNAL_KEY_LEN; i++)
        g_key[i] = (uint8_t)i;
}

static void teardown(void) { nftw(g_root, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

/* What load_newest told us: reports and accept calls share one arg. */
struct ctx {
    int n;
    char file[REPORTS_MAX][512];
    int code[REPORTS_MAX];
    char reason[REPORTS_MAX][256];
    int accepts;
    uint64_t reject[4]; /* seqs accept rejects with reject_code */
    int reject_code;
    uint64_t got_seq;
    int64_t got_time;
    uint8_t *got; /* copy of the accepted state */
    size_t got_len;
};

static void report_cb(void *arg, const char *file, int code, const char *reason)
{
    struct ctx *c = arg;
    ck_assert_int_lt(c->n, REPORTS_MAX);
    snprintf(c->file[c->n], sizeof c->file[0], "%s", file);
    c->code[c->n] = code;
    snprintf(c->reason[c->n], sizeof c->reason[0], "%s", reason);
    c->n++;
}

static int accept_cb(void *arg, uint64_t seq, int64_t time_us, const uint8_t *state, size_t len)
{
    struct ctx *c = arg;
    c->accepts++;
    for (int i = 0; i < 4; i++)
        if (c->reject[i] == seq)
            return c->reject_code;
    c->got_seq = seq;
    c->got_time = time_us;
    free(c->got);
    c->got = xmalloc(len);
    if (len)
        memcpy(c->got, state, len);
    c->got_len = len;
    return 0;
}

static void ctx_free(struct ctx *c) { free(c->got); }

/* ---- helpers ---- */

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

static void fill_text(uint8_t *p, size_t n, uint64_t seed)
{
    char word[96];
    int wl = snprintf(word, sizeof word,
                      "<item jid='user%" PRIu64 "@example.org' subscription='both'/>", seed);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)word[i % (size_t)wl];
}

static void path_of(uint64_t seq, char *out, size_t n)
{
    char name[SNAPSHOT_NAME_BYTES];
    snapshot_name(seq, name);
    snprintf(out, n, "%s/%s", g_dir, name);
}

static void write_ok(uint64_t seq, int64_t time_us, const uint8_t *state, size_t len)
{
    char err[512] = "";
    int rc = snapshot_write(g_dir, g_key, seq, time_us, state, len, err, sizeof err);
    ck_assert_msg(rc == 0, "snapshot_write: %s (%s)", err, err_name(rc));
}

/* Writes a small text state for seq, distinct per seq. */
static void write_small(uint64_t seq)
{
    uint8_t s[300];
    fill_text(s, sizeof s, seq);
    write_ok(seq, T0_US + (int64_t)seq, s, sizeof s);
}

static void check_small(const uint8_t *state, size_t len, uint64_t seq)
{
    uint8_t s[300];
    fill_text(s, sizeof s, seq);
    ck_assert_uint_eq(len, sizeof s);
    ck_assert(memcmp(state, s, sizeof s) == 0);
}

static uint8_t *file_read(const char *path, size_t *n)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    *n = (size_t)st.st_size;
    uint8_t *p = xmalloc(*n);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(read(fd, p, *n), (ssize_t)*n);
    close(fd);
    return p;
}

static void file_write(const char *path, const uint8_t *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
    close(fd);
}

static void flip_bit(const char *path, size_t off, int bit)
{
    size_t n;
    uint8_t *p = file_read(path, &n);
    ck_assert_uint_lt(off, n);
    p[off] ^= (uint8_t)(1u << bit);
    file_write(path, p, n);
    free(p);
}

static void put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void fix_crc(uint8_t *f) { put32le(f + SNAPSHOT_OFF_CRC, crc32c(0, f, SNAPSHOT_OFF_CRC)); }

static int load(uint64_t seq, char *err, size_t errlen)
{
    uint8_t *st;
    size_t len;
    int64_t t;
    int rc = snapshot_load(g_dir, g_key, seq, &st, &len, &t, err, errlen);
    if (rc == 0)
        free(st);
    return rc;
}

/* load_newest must accept want (0: none) with every other file reported. */
static void newest_is(struct ctx *c, uint64_t want)
{
    char err[512] = "";
    uint64_t seq = 12345;
    int rc = snapshot_load_newest(g_dir, g_key, &seq, accept_cb, report_cb, c, err, sizeof err);
    ck_assert_msg(rc == 0, "load_newest: %s", err);
    ck_assert_uint_eq(seq, want);
    if (want)
        ck_assert_uint_eq(c->got_seq, want);
}

static int count_files(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Seals a file the way the doc says, without snapshot.c: the header is
 * given field by field, the body as it is to be encrypted. */
static size_t forge(uint8_t *f, uint64_t seq, uint8_t codec, uint64_t raw_len,
                    const uint8_t *body, size_t body_len)
{
    static const uint8_t nonce[SNAPSHOT_NONCE_BYTES];
    const char *info = "stanzad snapshot v1 file key";
    uint8_t fk[32];
    memset(f, 0, SNAPSHOT_HDR_BYTES);
    memcpy(f, "SZSNAPSH", 8);
    f[SNAPSHOT_OFF_VERSION] = 1;
    f[SNAPSHOT_OFF_CODEC] = codec;
    put64le(f + SNAPSHOT_OFF_SEQ, seq);
    put64le(f + SNAPSHOT_OFF_TIME, (uint64_t)T0_US);
    put64le(f + SNAPSHOT_OFF_RAW_LEN, raw_len);
    put64le(f + SNAPSHOT_OFF_BODY_LEN, body_len);
    for (int i = 0; i < SNAPSHOT_SALT_BYTES; i++) /* the worked example's salt */
        f[SNAPSHOT_OFF_SALT + i] = (uint8_t)(0x10 + i);
    ck_assert_int_eq(journal_key_check(g_key, f + SNAPSHOT_OFF_KEY_CHECK), 0);
    fix_crc(f);
    ck_assert_int_eq(mbedtls_hkdf(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
                                  f + SNAPSHOT_OFF_SALT, SNAPSHOT_SALT_BYTES, g_key,
                                  JOURNAL_KEY_LEN, (const uint8_t *)info, strlen(info), fk, 32),
                     0);
    mbedtls_gcm_context gcm;
    mbedtls_gcm_init(&gcm);
    ck_assert_int_eq(mbedtls_gcm_setkey(&gcm, MBEDTLS_CIPHER_ID_AES, fk, 256), 0);
    ck_assert_int_eq(mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, body_len, nonce,
                                               sizeof nonce, f, SNAPSHOT_HDR_BYTES, body,
                                               f + SNAPSHOT_HDR_BYTES, SNAPSHOT_TAG_BYTES,
                                               f + SNAPSHOT_HDR_BYTES + body_len),
                     0);
    mbedtls_gcm_free(&gcm);
    return SNAPSHOT_HDR_BYTES + body_len + SNAPSHOT_TAG_BYTES;
}

/* ---- snapshot: round trips and the format ---- */

/* doc/formats/snapshot.md, "Worked example". */
static const uint8_t worked_file[109] = {
    0x53, 0x5a, 0x53, 0x4e, 0x41, 0x50, 0x53, 0x48, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x2a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x1e, 0x18, 0x24, 0x0a,
    0x06, 0x00, 0x22, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b,
    0x1c, 0x1d, 0x1e, 0x1f, 0x96, 0xe7, 0xad, 0x19, 0x60, 0xd7, 0xa2, 0x1c, 0x85, 0xb0, 0x9c,
    0xb8, 0x2a, 0x5a, 0x26, 0xba, 0x9e, 0x19, 0x08, 0xd8, 0xfc, 0xb9, 0xbf, 0x90, 0x08, 0xdd,
    0x0b, 0x98, 0xb2, 0x96, 0x58, 0xf6, 0x94, 0x4c, 0x8e, 0x33, 0xde, 0xc7, 0x69, 0x5b, 0xc5,
    0x0e, 0xd7, 0x71, 0xd7,
};
static const char worked_state[] = "stanza stanza stanza stanza stanza";
static const uint8_t worked_lz4[17] = {0x7f, 0x73, 0x74, 0x61, 0x6e, 0x7a, 0x61, 0x20, 0x07,
                                       0x00, 0x03, 0x50, 0x74, 0x61, 0x6e, 0x7a, 0x61};

START_TEST(test_format_worked_example)
{
    uint8_t salt[SNAPSHOT_SALT_BYTES];
    for (int i = 0; i < SNAPSHOT_SALT_BYTES; i++)
        salt[i] = (uint8_t)(0x10 + i);
    struct buf b;
    buf_init(&b);
    ck_assert_int_eq(snapshot_seal(g_key, 42, T0_US, salt, (const uint8_t *)worked_state,
                                   strlen(worked_state), &b),
                     0);
    ck_assert_uint_eq(b.len, sizeof worked_file);
    for (size_t i = 0; i < b.len; i++)
        ck_assert_msg(b.p[i] == worked_file[i], "byte %zu: %02x, doc says %02x", i, b.p[i],
                      worked_file[i]);
    buf_free(&b);

    /* The doc's LZ4 body, sealed independently, gives the same file. */
    uint8_t f[sizeof worked_file];
    ck_assert_uint_eq(forge(f, 42, SNAPSHOT_CODEC_LZ4, 34, worked_lz4, sizeof worked_lz4),
                      sizeof f);
    ck_assert(memcmp(f, worked_file, sizeof f) == 0);

    char name[SNAPSHOT_NAME_BYTES], path[256], err[512] = "";
    snapshot_name(42, name);
    ck_assert_str_eq(name, "000000000000002a.snap");
    ck_assert_int_eq(mkdir(g_dir, 0700), 0);
    path_of(42, path, sizeof path);
    file_write(path, worked_file, sizeof worked_file);
    uint8_t *st;
    size_t len;
    int64_t t;
    ck_assert_int_eq(snapshot_load(g_dir, g_key, 42, &st, &len, &t, err, sizeof err), 0);
    ck_assert_uint_eq(len, strlen(worked_state));
    ck_assert(memcmp(st, worked_state, len) == 0);
    ck_assert_int_eq(t, T0_US);
    free(st);
}
END_TEST

/* The independent sealer's files open with snapshot_open. */
START_TEST(test_independent_seal_opens)
{
    uint8_t f[256], *st;
    size_t len;
    int64_t t;
    const char *why = NULL;
    size_t n = forge(f, 7, SNAPSHOT_CODEC_LZ4, 34, worked_lz4, sizeof worked_lz4);
    ck_assert_int_eq(snapshot_open(g_key, 7, f, n, &st, &len, &t, &why), 0);
    ck_assert_uint_eq(len, 34);
    ck_assert(memcmp(st, worked_state, 34) == 0);
    free(st);
    n = forge(f, 7, SNAPSHOT_CODEC_STORED, 5, (const uint8_t *)"hello", 5);
    ck_assert_int_eq(snapshot_open(g_key, 7, f, n, &st, &len, &t, &why), 0);
    ck_assert_uint_eq(len, 5);
    ck_assert(memcmp(st, "hello", 5) == 0);
    ck_assert_int_eq(t, T0_US);
    free(st);
}
END_TEST

START_TEST(test_round_trip_empty_state)
{
    char path[256], err[512] = "";
    uint8_t *st;
    size_t len = 99, n;
    int64_t t;
    write_ok(1, -5, NULL, 0); /* a time before 1970 survives too */
    path_of(1, path, sizeof path);
    uint8_t *f = file_read(path, &n);
    ck_assert_uint_eq(n, SNAPSHOT_FILE_BYTES_MIN);
    ck_assert_uint_eq(f[SNAPSHOT_OFF_CODEC], SNAPSHOT_CODEC_STORED);
    free(f);
    ck_assert_int_eq(snapshot_load(g_dir, g_key, 1, &st, &len, &t, err, sizeof err), 0);
    ck_assert_ptr_nonnull(st);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(t, -5);
    free(st);
}
END_TEST

/* Random bytes do not compress: stored, exactly 92 bytes of overhead. */
START_TEST(test_round_trip_1mb_pseudo_random_state)
{
    char path[256], err[512] = "";
    uint8_t *s = xmalloc(MIB), *st;
    size_t len, n;
    int64_t t;
    fill_random(s, MIB, 1);
    write_ok(0x1234567890abcdefull, T0_US, s, MIB);
    path_of(0x1234567890abcdefull, path, sizeof path);
    ck_assert(strstr(path, "/1234567890abcdef.snap"));
    uint8_t *f = file_read(path, &n);
    ck_assert_uint_eq(n, MIB + SNAPSHOT_FILE_BYTES_MIN);
    ck_assert_uint_eq(f[SNAPSHOT_OFF_CODEC], SNAPSHOT_CODEC_STORED);
    free(f);
    ck_assert_int_eq(
        snapshot_load(g_dir, g_key, 0x1234567890abcdefull, &st, &len, &t, err, sizeof err), 0);
    ck_assert_uint_eq(len, MIB);
    ck_assert(memcmp(st, s, MIB) == 0);
    ck_assert_int_eq(t, T0_US);
    free(st);
    free(s);
}
END_TEST

START_TEST(test_round_trip_compressible_state)
{
    char path[256], err[512] = "";
    uint8_t *s = xmalloc(MIB), *st;
    size_t len, n;
    int64_t t;
    fill_text(s, MIB, 3);
    write_ok(77, T0_US + 1, s, MIB);
    path_of(77, path, sizeof path);
    uint8_t *f = file_read(path, &n);
    ck_assert_uint_lt(n, MIB / 10);
    ck_assert_uint_eq(f[SNAPSHOT_OFF_CODEC], SNAPSHOT_CODEC_LZ4);
    free(f);
    ck_assert_int_eq(snapshot_load(g_dir, g_key, 77, &st, &len, &t, err, sizeof err), 0);
    ck_assert_uint_eq(len, MIB);
    ck_assert(memcmp(st, s, MIB) == 0);
    ck_assert_int_eq(t, T0_US + 1);
    free(st);
    free(s);
}
END_TEST

START_TEST(test_state_is_sealed_on_disk)
{
    char path[256];
    const char *secret = "alice's very secret roster entry";
    uint8_t s[64] = {0};
    memcpy(s, secret, strlen(secret));
    write_ok(3, T0_US, s, sizeof s);
    path_of(3, path, sizeof path);
    size_t n;
    uint8_t *f = file_read(path, &n);
    ck_assert_ptr_null(memmem(f, n, "secret", 6));
    free(f);
}
END_TEST

START_TEST(test_each_write_has_a_fresh_salt)
{
    char path[256];
    size_t n1, n2;
    write_small(9);
    path_of(9, path, sizeof path);
    uint8_t *a = file_read(path, &n1);
    write_small(9);
    uint8_t *b = file_read(path, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert(memcmp(a + SNAPSHOT_OFF_SALT, b + SNAPSHOT_OFF_SALT, SNAPSHOT_SALT_BYTES) != 0);
    ck_assert(memcmp(a + SNAPSHOT_HDR_BYTES, b + SNAPSHOT_HDR_BYTES, n1 - SNAPSHOT_HDR_BYTES));
    free(a);
    free(b);
}
END_TEST

START_TEST(test_write_creates_dir_0700_and_file_0600)
{
    char path[256];
    struct stat st;
    mode_t old = umask(0);
    snprintf(g_dir, sizeof g_dir, "%s/a/b/snapshots", g_root);
    write_small(5);
    umask(old);
    ck_assert_int_eq(stat(g_dir, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    snprintf(path, sizeof path, "%s/a", g_root);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0700);
    path_of(5, path, sizeof path);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_int_eq(count_files(g_dir), 1); /* no temp file left behind */
}
END_TEST

START_TEST(test_rewrite_of_a_seq_replaces_it)
{
    char err[512] = "";
    uint8_t a[100], b[200], *st;
    size_t len;
    int64_t t;
    fill_text(a, sizeof a, 1);
    fill_text(b, sizeof b, 2);
    write_ok(8, 1, a, sizeof a);
    write_ok(8, 2, b, sizeof b);
    ck_assert_int_eq(snapshot_load(g_dir, g_key, 8, &st, &len, &t, err, sizeof err), 0);
    ck_assert_uint_eq(len, sizeof b);
    ck_assert(memcmp(st, b, sizeof b) == 0);
    ck_assert_int_eq(t, 2);
    free(st);
    ck_assert_int_eq(count_files(g_dir), 1);
}
END_TEST

START_TEST(test_list_is_newest_first_and_reports_stray_names)
{
    uint64_t want[] = {0x100, 0x10, 3, 1}, *seqs;
    size_t n;
    char path[256], err[512] = "";
    struct ctx c = {0};
    write_small(3);
    write_small(0x10);
    write_small(1);
    write_small(0x100);
    const char *stray[] = {"0000000000000000.snap", "000000000000001A.snap", "x.snap"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", g_dir, stray[i]);
        file_write(path, (const uint8_t *)"x", 1);
    }
    snprintf(path, sizeof path, "%s/README", g_dir);
    file_write(path, (const uint8_t *)"x", 1);
    ck_assert_int_eq(snapshot_list(g_dir, &seqs, &n, report_cb, &c, err, sizeof err), 0);
    ck_assert_uint_eq(n, 4);
    for (size_t i = 0; i < n; i++)
        ck_assert_uint_eq(seqs[i], want[i]);
    free(seqs);
    ck_assert_int_eq(c.n, 3); /* the README is not ours to mention */
    for (int i = 0; i < c.n; i++) {
        ck_assert_int_eq(c.code[i], 0);
        ck_assert_msg(strstr(c.reason[i], "ignored"), "%s", c.reason[i]);
    }
    ck_assert_int_eq(count_files(g_dir), 8); /* nothing removed */
}
END_TEST

START_TEST(test_list_of_a_missing_dir_is_empty)
{
    uint64_t *seqs = (uint64_t *)1;
    size_t n = 9;
    struct ctx c = {0};
    ck_assert_int_eq(snapshot_list(g_dir, &seqs, &n, report_cb, &c, NULL, 0), 0);
    ck_assert_ptr_null(seqs);
    ck_assert_uint_eq(n, 0);
    newest_is(&c, 0);
    ck_assert_int_eq(c.n, 0);
    ck_assert_int_eq(c.accepts, 0);
}
END_TEST

START_TEST(test_state_over_the_limit_is_refused_before_anything_is_written)
{
    char err[512] = "";
    uint8_t one = 1;
    struct buf b;
    buf_init(&b);
    uint8_t salt[SNAPSHOT_SALT_BYTES] = {0};
    /* The length is checked before the bytes are touched. */
    ck_assert_int_eq(snapshot_seal(g_key, 1, 0, salt, &one, (size_t)SNAPSHOT_BYTES_MAX + 1, &b),
                     -ERR_LIMIT);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(snapshot_write(g_dir, g_key, 1, 0, &one, (size_t)SNAPSHOT_BYTES_MAX + 1, err,
                                    sizeof err),
                     -ERR_LIMIT);
    ck_assert_msg(strstr(err, "SNAPSHOT_BYTES_MAX"), "%s", err);
    ck_assert_int_eq(access(g_dir, F_OK), -1);
}
END_TEST

/* ---- snapshot_crash: what a crash leaves behind ---- */

START_TEST(test_leftover_temp_file_is_removed_and_never_loaded)
{
    char path[256];
    struct ctx c = {0};
    write_small(10);
    /* A crash after the whole temp file was written but before the rename:
     * complete and valid, yet never to be used. */
    struct buf b;
    buf_init(&b);
    uint8_t salt[SNAPSHOT_SALT_BYTES] = {1}, s[300];
    fill_text(s, sizeof s, 20);
    ck_assert_int_eq(snapshot_seal(g_key, 20, T0_US, salt, s, sizeof s, &b), 0);
    snprintf(path, sizeof path, "%s/0000000000000014.snap.deadbeef.tmp", g_dir);
    file_write(path, b.p, b.len);
    buf_free(&b);
    snprintf(path, sizeof path, "%s/0000000000000030.snap.0badf00d.tmp", g_dir);
    file_write(path, (const uint8_t *)"SZSN", 4); /* and one cut short */
    newest_is(&c, 10);
    check_small(c.got, c.got_len, 10);
    ck_assert_int_eq(c.n, 2);
    for (int i = 0; i < c.n; i++) {
        ck_assert_int_eq(c.code[i], 0);
        ck_assert_msg(strstr(c.reason[i], "interrupted write: removed"), "%s", c.reason[i]);
        ck_assert(strstr(c.file[i], ".tmp"));
    }
    ck_assert_int_eq(c.accepts, 1);
    ck_assert_int_eq(count_files(g_dir), 1);
    ctx_free(&c);
}
END_TEST

/* A snapshot cut short at every interesting length (inside the header,
 * right after it, in the body, in the tag) fails its checks, and start
 * falls back to the previous one. */
START_TEST(test_file_cut_short_fails_and_falls_back)
{
    char path[256], err[512];
    uint8_t s[4096];
    size_t n;
    fill_random(s, sizeof s, 20);
    write_small(10);
    write_ok(20, T0_US, s, sizeof s);
    path_of(20, path, sizeof path);
    uint8_t *whole = file_read(path, &n);
    size_t cuts[] = {0,  1,  8,  SNAPSHOT_OFF_CRC, SNAPSHOT_HDR_BYTES, SNAPSHOT_FILE_BYTES_MIN - 1,
                     SNAPSHOT_FILE_BYTES_MIN, 100, n / 2, n - SNAPSHOT_TAG_BYTES, n - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        struct ctx c = {0};
        file_write(path, whole, cuts[i]);
        err[0] = 0;
        ck_assert_int_eq(load(20, err, sizeof err), -ERR_CORRUPT);
        ck_assert_msg(strstr(err, "0000000000000014.snap: file cut short"), "cut %zu: %s",
                      cuts[i], err);
        newest_is(&c, 10);
        check_small(c.got, c.got_len, 10);
        ck_assert_int_eq(c.n, 1);
        ck_assert_str_eq(c.file[0], path);
        ck_assert_int_eq(c.code[0], -ERR_CORRUPT);
        ck_assert_msg(strstr(c.reason[0], "cut short"), "%s", c.reason[0]);
        ctx_free(&c);
    }
    free(whole);
}
END_TEST

/* ---- snapshot_corrupt: damage must fail the checks, never load ---- */

/* Every header byte: the CRC catches it (or the magic check, first), and
 * a flip in key_check is damage, not a wrong key. */
START_TEST(test_bit_flip_in_header_fails_and_falls_back)
{
    char path[256], err[512];
    size_t n;
    write_small(10);
    write_small(20);
    path_of(20, path, sizeof path);
    uint8_t *whole = file_read(path, &n);
    for (size_t off = 0; off < SNAPSHOT_HDR_BYTES; off++) {
        struct ctx c = {0};
        file_write(path, whole, n);
        flip_bit(path, off, (int)(off % 8));
        err[0] = 0;
        ck_assert_int_eq(load(20, err, sizeof err), -ERR_CORRUPT);
        const char *want = off < SNAPSHOT_MAGIC_BYTES ? "bad magic" : "header checksum";
        ck_assert_msg(strstr(err, want), "offset %zu: %s", off, err);
        newest_is(&c, 10);
        ck_assert_int_eq(c.n, 1);
        ck_assert_int_eq(c.code[0], -ERR_CORRUPT);
        ctx_free(&c);
    }
    free(whole);
}
END_TEST

/* The body: first, middle and last byte, for a compressed and a stored
 * body; the tag: every byte. All fail authentication. */
START_TEST(test_bit_flip_in_body_or_tag_fails_and_falls_back)
{
    char path[256], err[512];
    uint8_t s[2000];
    size_t n;
    if (_i == 0)
        fill_text(s, sizeof s, 20);
    else
        fill_random(s, sizeof s, 20);
    write_small(10);
    write_ok(20, T0_US, s, sizeof s);
    path_of(20, path, sizeof path);
    uint8_t *whole = file_read(path, &n);
    ck_assert_uint_eq(whole[SNAPSHOT_OFF_CODEC],
                      _i == 0 ? SNAPSHOT_CODEC_LZ4 : SNAPSHOT_CODEC_STORED);
    size_t body = n - SNAPSHOT_FILE_BYTES_MIN;
    size_t offs[3 + SNAPSHOT_TAG_BYTES] = {SNAPSHOT_HDR_BYTES, SNAPSHOT_HDR_BYTES + body / 2,
                                           SNAPSHOT_HDR_BYTES + body - 1};
    for (int i = 0; i < SNAPSHOT_TAG_BYTES; i++)
        offs[3 + i] = n - SNAPSHOT_TAG_BYTES + (size_t)i;
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        struct ctx c = {0};
        file_write(path, whole, n);
        flip_bit(path, offs[i], (int)(i % 8));
        err[0] = 0;
        ck_assert_int_eq(load(20, err, sizeof err), -ERR_CORRUPT);
        ck_assert_msg(strstr(err, "bad tag"), "offset %zu: %s", offs[i], err);
        newest_is(&c, 10);
        check_small(c.got, c.got_len, 10);
        ck_assert_int_eq(c.n, 1);
        ck_assert_int_eq(c.code[0], -ERR_CORRUPT);
        ck_assert_msg(strstr(c.reason[0], "bad tag"), "%s", c.reason[0]);
        ctx_free(&c);
    }
    free(whole);
}
END_TEST

/* A header rewritten with a matching CRC: the fields that need no key are
 * refused by their own rule, the rest by the tag (the header is the AAD). */
START_TEST(test_tampered_header_with_a_valid_crc_is_refused)
{
    struct {
        size_t off;
        uint64_t val;
        int width, code;
        const char *why;
    } cases[] = {
        {SNAPSHOT_OFF_VERSION, 2, 2, -ERR_VERSION, "version"},
        {SNAPSHOT_OFF_FLAGS, 1, 2, -ERR_VERSION, "flags"},
        {SNAPSHOT_OFF_CODEC, 2, 1, -ERR_CORRUPT, "unknown codec"},
        {SNAPSHOT_OFF_RESERVED, 1, 1, -ERR_CORRUPT, "reserved"},
        {SNAPSHOT_OFF_SEQ, 21, 8, -ERR_CORRUPT, "differs from the file name"},
        {SNAPSHOT_OFF_TIME, 12345, 8, -ERR_CORRUPT, "bad tag"},
        {SNAPSHOT_OFF_RAW_LEN, SNAPSHOT_BYTES_MAX + 1, 8, -ERR_CORRUPT, "SNAPSHOT_BYTES_MAX"},
        {SNAPSHOT_OFF_RAW_LEN, 301, 8, -ERR_CORRUPT, "stored body length"},
        {SNAPSHOT_OFF_BODY_LEN, 301, 8, -ERR_CORRUPT, "stored body length"},
        {SNAPSHOT_OFF_SALT, 7, 1, -ERR_CORRUPT, "bad tag"},
    };
    char path[256], err[512];
    size_t n;
    uint8_t s[300];
    fill_random(s, sizeof s, 20); /* stored: body_len = raw_len = 300 */
    write_small(10);
    write_ok(20, T0_US, s, sizeof s);
    path_of(20, path, sizeof path);
    uint8_t *whole = file_read(path, &n);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *f = xmalloc(n);
        struct ctx c = {0};
        memcpy(f, whole, n);
        for (int k = 0; k < cases[i].width; k++)
            f[cases[i].off + (size_t)k] = (uint8_t)(cases[i].val >> (8 * k));
        fix_crc(f);
        file_write(path, f, n);
        free(f);
        err[0] = 0;
        ck_assert_int_eq(load(20, err, sizeof err), cases[i].code);
        ck_assert_msg(strstr(err, cases[i].why), "case %zu: %s", i, err);
        newest_is(&c, 10);
        ck_assert_int_eq(c.n, 1);
        ck_assert_int_eq(c.code[0], cases[i].code);
        ctx_free(&c);
    }
    free(whole);
}
END_TEST

START_TEST(test_length_fields_must_match_the_file_size)
{
    char path[256], err[512];
    size_t n;
    write_small(10);
    path_of(10, path, sizeof path);
    uint8_t *f = file_read(path, &n);
    uint8_t *g = xmalloc(n + 1);
    memcpy(g, f, n);
    g[n] = 0;
    file_write(path, g, n + 1);
    ck_assert_int_eq(load(10, err, sizeof err), -ERR_CORRUPT);
    ck_assert_msg(strstr(err, "trailing bytes after the tag"), "%s", err);
    /* body_len one more than the file holds: named as cut short */
    memcpy(g, f, n);
    uint64_t body_len = n - SNAPSHOT_FILE_BYTES_MIN;
    put64le(g + SNAPSHOT_OFF_BODY_LEN, body_len + 1);
    fix_crc(g);
    file_write(path, g, n);
    ck_assert_int_eq(load(10, err, sizeof err), -ERR_CORRUPT);
    ck_assert_msg(strstr(err, "shorter than its header says"), "%s", err);
    /* an LZ4 body that claims more than the LZ4 bound of its state */
    put64le(g + SNAPSHOT_OFF_BODY_LEN, 10000);
    fix_crc(g);
    file_write(path, g, n);
    ck_assert_int_eq(load(10, err, sizeof err), -ERR_CORRUPT);
    ck_assert_msg(strstr(err, "compressed body length out of range"), "%s", err);
    free(g);
    free(f);
}
END_TEST

/* Behind a valid tag, the LZ4 body must decode to exactly raw_len bytes. */
START_TEST(test_lz4_body_that_does_not_decode_exactly_is_refused)
{
    uint8_t f[256], junk[20], *st = NULL;
    size_t len;
    int64_t t;
    const char *why = NULL;
    size_t n = forge(f, 7, SNAPSHOT_CODEC_LZ4, 35, worked_lz4, sizeof worked_lz4);
    ck_assert_int_eq(snapshot_open(g_key, 7, f, n, &st, &len, &t, &why), -ERR_CORRUPT);
    ck_assert_str_eq(why, "LZ4 body does not decode to exactly the state length");
    ck_assert_ptr_null(st);
    n = forge(f, 7, SNAPSHOT_CODEC_LZ4, 33, worked_lz4, sizeof worked_lz4);
    ck_assert_int_eq(snapshot_open(g_key, 7, f, n, &st, &len, &t, &why), -ERR_CORRUPT);
    memset(junk, 0xff, sizeof junk);
    n = forge(f, 7, SNAPSHOT_CODEC_LZ4, 100, junk, sizeof junk);
    ck_assert_int_eq(snapshot_open(g_key, 7, f, n, &st, &len, &t, &why), -ERR_CORRUPT);
    ck_assert_str_eq(why, "LZ4 body does not decode to exactly the state length");
    ck_assert_ptr_null(st);
}
END_TEST

/* A valid snapshot under the wrong name would restore state at the wrong
 * place in the journal. */
START_TEST(test_snapshot_renamed_to_another_seq_is_refused)
{
    char from[256], to[256];
    struct ctx c = {0};
    write_small(10);
    write_small(20);
    path_of(20, from, sizeof from);
    path_of(30, to, sizeof to);
    ck_assert_int_eq(rename(from, to), 0);
    newest_is(&c, 10);
    ck_assert_int_eq(c.n, 1);
    ck_assert_str_eq(c.file[0], to);
    ck_assert_int_eq(c.code[0], -ERR_CORRUPT);
    ck_assert_str_eq(c.reason[0], "covered seq differs from the file name");
    ctx_free(&c);
}
END_TEST

START_TEST(test_wrong_key_is_reported_as_such)
{
    char err[512] = "";
    struct ctx c = {0};
    uint64_t seq = 99;
    write_small(10);
    write_small(20);
    g_key[31] ^= 1;
    ck_assert_int_eq(load(20, err, sizeof err), -ERR_CRYPTO);
    ck_assert_msg(strstr(err, "0000000000000014.snap: wrong key"), "%s", err);
    ck_assert_int_eq(snapshot_load_newest(g_dir, g_key, &seq, accept_cb, report_cb, &c, err,
                                          sizeof err),
                     0);
    ck_assert_uint_eq(seq, 0);
    ck_assert_int_eq(c.accepts, 0);
    ck_assert_int_eq(c.n, 2);
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(c.code[i], -ERR_CRYPTO);
        ck_assert_msg(strstr(c.reason[i], "wrong key"), "%s", c.reason[i]);
    }
}
END_TEST

START_TEST(test_rejected_state_falls_back_to_the_older_snapshot)
{
    struct ctx c = {.reject = {30}, .reject_code = -ERR_SEQ};
    write_small(10);
    write_small(20);
    write_small(30);
    newest_is(&c, 20);
    check_small(c.got, c.got_len, 20);
    ck_assert_int_eq(c.got_time, T0_US + 20);
    ck_assert_int_eq(c.accepts, 2);
    ck_assert_int_eq(c.n, 1);
    ck_assert(strstr(c.file[0], "/000000000000001e.snap"));
    ck_assert_int_eq(c.code[0], -ERR_SEQ);
    ck_assert_msg(strstr(c.reason[0], "rejected by the caller") &&
                      strstr(c.reason[0], err_str(-ERR_SEQ)),
                  "%s", c.reason[0]);
    ctx_free(&c);
}
END_TEST

START_TEST(test_none_usable_returns_zero_with_every_failure_reported)
{
    char p10[256], p20[256], p30[256], p40[256];
    struct ctx c = {.reject = {10}, .reject_code = -ERR_CORRUPT};
    write_small(10);
    write_small(20);
    write_small(30);
    write_small(40);
    path_of(10, p10, sizeof p10);
    path_of(20, p20, sizeof p20);
    path_of(30, p30, sizeof p30);
    path_of(40, p40, sizeof p40);
    flip_bit(p20, SNAPSHOT_HDR_BYTES + 5, 0);
    ck_assert_int_eq(truncate(p30, 50), 0);
    flip_bit(p40, SNAPSHOT_OFF_VERSION, 1);
    newest_is(&c, 0);
    ck_assert_int_eq(c.accepts, 1);
    ck_assert_int_eq(c.n, 4);
    const char *files[] = {p40, p30, p20, p10};
    const char *whys[] = {"header checksum", "cut short", "bad tag", "rejected by the caller"};
    for (int i = 0; i < 4; i++) {
        ck_assert_str_eq(c.file[i], files[i]);
        ck_assert_int_eq(c.code[i], -ERR_CORRUPT);
        ck_assert_msg(strstr(c.reason[i], whys[i]), "%d: %s", i, c.reason[i]);
    }
    ck_assert_int_eq(count_files(g_dir), 4); /* damaged files stay for the operator */
    ctx_free(&c);
}
END_TEST

/* ---- snapshot_fault: I/O errors ---- */

START_TEST(test_unreadable_dir_is_an_error_not_zero)
{
    char err[512] = "";
    struct ctx c = {0};
    uint64_t seq = 99;
    file_write(g_dir, (const uint8_t *)"x", 1); /* a file where the directory should be */
    int rc = snapshot_load_newest(g_dir, g_key, &seq, accept_cb, report_cb, &c, err, sizeof err);
    ck_assert_int_eq(rc, -ENOTDIR);
    ck_assert_uint_eq(seq, 0);
    ck_assert_msg(strstr(err, g_dir), "%s", err);
    ck_assert_int_eq(c.accepts, 0);
    ck_assert_int_eq(c.n, 0);
}
END_TEST

START_TEST(test_dir_that_cannot_be_created_fails_the_write)
{
    char err[512] = "", file[256];
    snprintf(file, sizeof file, "%s/plain", g_root);
    file_write(file, (const uint8_t *)"x", 1);
    snprintf(g_dir, sizeof g_dir, "%s/plain/snapshots", g_root);
    ck_assert_int_eq(snapshot_write(g_dir, g_key, 1, 0, (const uint8_t *)"s", 1, err, sizeof err),
                     -ENOTDIR);
    ck_assert_msg(strstr(err, "cannot create"), "%s", err);
}
END_TEST

/* A rename that fails (here: a directory holds the final name) leaves the
 * old state of the directory: no temp file, nothing under the name. */
START_TEST(test_failed_rename_leaves_no_temp_file)
{
    char err[512] = "", path[256], inner[300];
    write_small(10);
    path_of(20, path, sizeof path);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    snprintf(inner, sizeof inner, "%s/x", path);
    file_write(inner, (const uint8_t *)"x", 1);
    int rc = snapshot_write(g_dir, g_key, 20, 0, (const uint8_t *)"s", 1, err, sizeof err);
    ck_assert_int_lt(rc, 0);
    ck_assert_msg(strstr(err, "0000000000000014.snap: rename"), "%s", err);
    ck_assert_int_eq(count_files(g_dir), 2);
    ck_assert_int_eq(remove(inner), 0);
    ck_assert_int_eq(rmdir(path), 0);
    ck_assert_int_eq(count_files(g_dir), 1);
}
END_TEST

/* ---- snapshot_prune ---- */

START_TEST(test_prune_keeps_the_newest_n)
{
    char err[512] = "", path[256];
    uint64_t all[] = {1, 2, 3, 10, 11, 12}, *seqs;
    size_t n;
    struct ctx c = {0};
    for (size_t i = 0; i < 6; i++)
        write_small(all[i]);
    snprintf(path, sizeof path, "%s/0000000000000013.snap.00000000.tmp", g_dir);
    file_write(path, (const uint8_t *)"x", 1);
    ck_assert_int_eq(snapshot_prune(g_dir, 3, report_cb, &c, err, sizeof err), 3);
    ck_assert_int_eq(c.n, 1); /* the temp file */
    ck_assert_int_eq(c.code[0], 0);
    ck_assert_int_eq(snapshot_list(g_dir, &seqs, &n, NULL, NULL, err, sizeof err), 0);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(seqs[0], 12);
    ck_assert_uint_eq(seqs[1], 11);
    ck_assert_uint_eq(seqs[2], 10);
    free(seqs);
    ck_assert_int_eq(count_files(g_dir), 3);
    ck_assert_int_eq(snapshot_prune(g_dir, 3, NULL, NULL, err, sizeof err), 0);
    ck_assert_int_eq(snapshot_prune(g_dir, 1, NULL, NULL, err, sizeof err), 2);
    ck_assert_int_eq(count_files(g_dir), 1);
    newest_is(&c, 12);
    check_small(c.got, c.got_len, 12);
    ctx_free(&c);
}
END_TEST

START_TEST(test_prune_of_a_missing_dir_removes_nothing)
{
    ck_assert_int_eq(snapshot_prune(g_dir, 1, NULL, NULL, NULL, 0), 0);
    ck_assert_int_eq(access(g_dir, F_OK), -1);
}
END_TEST

static TCase *tcase(const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    return tc;
}

int main(void)
{
    Suite *s = suite_create("snapshot");
    TCase *tc = tcase("snapshot");
    tcase_add_test(tc, test_format_worked_example);
    tcase_add_test(tc, test_independent_seal_opens);
    tcase_add_test(tc, test_round_trip_empty_state);
    tcase_add_test(tc, test_round_trip_1mb_pseudo_random_state);
    tcase_add_test(tc, test_round_trip_compressible_state);
    tcase_add_test(tc, test_state_is_sealed_on_disk);
    tcase_add_test(tc, test_each_write_has_a_fresh_salt);
    tcase_add_test(tc, test_write_creates_dir_0700_and_file_0600);
    tcase_add_test(tc, test_rewrite_of_a_seq_replaces_it);
    tcase_add_test(tc, test_list_is_newest_first_and_reports_stray_names);
    tcase_add_test(tc, test_list_of_a_missing_dir_is_empty);
    tcase_add_test(tc, test_state_over_the_limit_is_refused_before_anything_is_written);
    suite_add_tcase(s, tc);

    tc = tcase("snapshot_crash");
    tcase_add_test(tc, test_leftover_temp_file_is_removed_and_never_loaded);
    tcase_add_test(tc, test_file_cut_short_fails_and_falls_back);
    suite_add_tcase(s, tc);

    tc = tcase("snapshot_corrupt");
    tcase_add_test(tc, test_bit_flip_in_header_fails_and_falls_back);
    tcase_add_loop_test(tc, test_bit_flip_in_body_or_tag_fails_and_falls_back, 0, 2);
    tcase_add_test(tc, test_tampered_header_with_a_valid_crc_is_refused);
    tcase_add_test(tc, test_length_fields_must_match_the_file_size);
    tcase_add_test(tc, test_lz4_body_that_does_not_decode_exactly_is_refused);
    tcase_add_test(tc, test_snapshot_renamed_to_another_seq_is_refused);
    tcase_add_test(tc, test_wrong_key_is_reported_as_such);
    tcase_add_test(tc, test_rejected_state_falls_back_to_the_older_snapshot);
    tcase_add_test(tc, test_none_usable_returns_zero_with_every_failure_reported);
    suite_add_tcase(s, tc);

    tc = tcase("snapshot_fault");
    tcase_add_test(tc, test_unreadable_dir_is_an_error_not_zero);
    tcase_add_test(tc, test_dir_that_cannot_be_created_fails_the_write);
    tcase_add_test(tc, test_failed_rename_leaves_no_temp_file);
    suite_add_tcase(s, tc);

    tc = tcase("snapshot_prune");
    tcase_add_test(tc, test_prune_keeps_the_newest_n);
    tcase_add_test(tc, test_prune_of_a_missing_dir_removes_nothing);
    suite_add_tcase(s, tc);

    return run_suite(s);
}
