/* test_journal: the journal's format, recovery rules, group commit and key.
 *
 * Grouped by failure kind, as in SQLite's test suite: journal (round
 * trips), journal_crash (torn tails a crash leaves), journal_corrupt
 * (damage that must stop the open), journal_fault (I/O errors in commit),
 * journal_key, journal_compact (removing covered segments, also while a
 * commit runs on another thread), journal_readonly (the open the offline
 * tools use), and a throughput printout. The damage helpers work on the
 * files with the offsets of doc/formats/journal.md, independently of the
 * reader. I/O errors are real: RLIMIT_FSIZE makes the kernel fail a write
 * with EFBIG, so no test hook is compiled into the journal. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "journal/block.h"
#include "journal/journal.h"
#include "kernel/err.h"
#include "kernel/mem.h"
#include "fixture.h"

#define T0_US 1700000000000000LL
#define PATHS_MAX 64

/* ---- fixtures ---- */

static char g_dir[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void setup(void)
{
    strcpy(g_dir, "/tmp/test_journal.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    unsetenv("STANZAD_JOURNAL_KEY");
}

static void teardown(void) { nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

struct reports {
    int n;
    char file[512];
    uint64_t off, bytes;
    char reason[256];
};

static void report_cb(void *arg, const char *file, uint64_t off, uint64_t bytes, const char *reason)
{
    struct reports *r = arg;
    r->n++;
    snprintf(r->file, sizeof r->file, "%s", file);
    r->off = off;
    r->bytes = bytes;
    snprintf(r->reason, sizeof r->reason, "%s", reason);
}

static void opts_init(struct journal_opts *o, enum journal_sync sync, uint64_t seg_max,
                      struct reports *r)
{
    memset(o, 0, sizeof *o);
    o->dir = g_dir;
    for (int i = 0; i < JOURNAL_KEY_LEN; i++)
        o->key[i] = (uint8_t)i;
    o->sync = sync;
    o->segment_bytes_max = seg_max;
    o->report = report_cb;
    o->report_arg = r;
}

static struct journal *open_ok(const struct journal_opts *o)
{
    struct journal *j;
    char err[512] = "";
    int rc = journal_open(&j, o, err, sizeof err);
    ck_assert_msg(rc == 0, "journal_open: %s (%s)", err, err_name(rc));
    return j;
}

/* Deterministic, text-like payload of varying length for a seq. */
static size_t payload_for(uint64_t seq, uint8_t *out, size_t cap)
{
    size_t len = (size_t)((seq * 37) % 300);
    char word[64];
    int wl = snprintf(word, sizeof word, "<message id='m%" PRIu64 "'>hello</message> ", seq);
    ck_assert(len <= cap);
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)word[i % (size_t)wl];
    return len;
}

static uint64_t append_one(struct journal *j)
{
    uint8_t p[512];
    uint64_t seq = journal_next_seq(j);
    size_t n = payload_for(seq, p, sizeof p);
    uint64_t got = journal_append(j, (uint16_t)(seq % 7), T0_US + (int64_t)seq, p, n);
    ck_assert_uint_eq(got, seq);
    return got;
}

/* Appends n records as one batch and commits it; returns commit's code. */
static int commit_batch(struct journal *j, int n)
{
    for (int i = 0; i < n; i++)
        append_one(j);
    struct jbatch *b = journal_seal(j);
    ck_assert_ptr_nonnull(b);
    int rc = journal_commit(j, b);
    journal_batch_free(b);
    return rc;
}

struct collect {
    uint64_t n, next;
    uint64_t stop_at; /* return -ERR_LIMIT at this seq; 0: never */
};

static int collect_cb(void *arg, const struct jrec *r)
{
    struct collect *c = arg;
    uint8_t p[512];
    if (c->stop_at && r->seq == c->stop_at)
        return -ERR_LIMIT;
    size_t n = payload_for(r->seq, p, sizeof p);
    ck_assert_uint_eq(r->seq, c->next);
    ck_assert_int_eq(r->time_us, T0_US + (int64_t)r->seq);
    ck_assert_uint_eq(r->type, r->seq % 7);
    ck_assert_uint_eq(r->len, n);
    ck_assert(n == 0 || memcmp(r->payload, p, n) == 0);
    c->next++;
    c->n++;
    return 0;
}

/* Opens, reads everything from `from`, checks it is exactly from..last. */
static void check_contents(const struct journal_opts *o, uint64_t from, uint64_t last)
{
    struct journal *j = open_ok(o);
    struct collect c = {.next = from};
    char err[512] = "";
    int rc = journal_read(j, from, collect_cb, &c, err, sizeof err);
    ck_assert_msg(rc == 0, "journal_read: %s", err);
    ck_assert_uint_eq(c.n, last + 1 - from);
    ck_assert_uint_eq(journal_next_seq(j), last + 1);
    journal_close(j);
}

/* ---- file helpers (offsets from doc/formats/journal.md) ---- */

static int seg_paths(char paths[][512], int max)
{
    struct dirent **names;
    int n = scandir(g_dir, &names, NULL, alphasort), k = 0;
    ck_assert_int_ge(n, 0);
    for (int i = 0; i < n; i++) {
        size_t l = strlen(names[i]->d_name);
        if (l > 4 && strcmp(names[i]->d_name + l - 4, ".seg") == 0 && k < max)
            snprintf(paths[k++], 512, "%s/%s", g_dir, names[i]->d_name);
        free(names[i]);
    }
    free(names);
    return k;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *p = xmalloc(*len + 1);
    ck_assert_uint_eq(fread(p, 1, *len, f), *len);
    fclose(f);
    return p;
}

static void spit(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(p, 1, len, f), len);
    fclose(f);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Offsets of the blocks of a segment, walking block_len. */
static int block_offsets(const char *path, uint64_t *offs, int max)
{
    size_t len;
    uint8_t *p = slurp(path, &len);
    int n = 0;
    for (uint64_t off = SEG_HDR_BYTES; off + BLOCK_HDR_BYTES <= len && n < max;) {
        ck_assert(memcmp(p + off, BLOCK_MAGIC, 4) == 0);
        offs[n++] = off;
        off += le32(p + off + BLOCK_OFF_LEN);
    }
    free(p);
    return n;
}

static void patch(const char *path, uint64_t off, const void *bytes, size_t n)
{
    int fd = open(path, O_WRONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pwrite(fd, bytes, n, (off_t)off), (ssize_t)n);
    close(fd);
}

static void flip_bit(const char *path, uint64_t off, int bit)
{
    uint8_t b;
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
    b ^= (uint8_t)(1u << bit);
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static int open_fails(const struct journal_opts *o, char *err, size_t n)
{
    struct journal *j = NULL;
    err[0] = 0;
    int rc = journal_open(&j, o, err, n);
    ck_assert_ptr_null(j);
    ck_assert_int_lt(rc, 0);
    return rc;
}

/* Builds three blocks (batches of 3, 4 and 3 records) in one segment. */
static void three_blocks(const struct journal_opts *o, char path[512], uint64_t offs[3])
{
    struct journal *j = open_ok(o);
    ck_assert_int_eq(commit_batch(j, 3), 0);
    ck_assert_int_eq(commit_batch(j, 4), 0);
    ck_assert_int_eq(commit_batch(j, 3), 0);
    journal_close(j);
    char paths[PATHS_MAX][512];
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    strcpy(path, paths[0]);
    ck_assert_int_eq(block_offsets(path, offs, 3), 3);
}

/* ---- journal: round trips and format ---- */

START_TEST(test_crc32c_matches_rfc3720_vectors)
{
    uint8_t zeros[32] = {0}, ones[32], inc[32], dec[32];
    for (int i = 0; i < 32; i++) {
        ones[i] = 0xff;
        inc[i] = (uint8_t)i;
        dec[i] = (uint8_t)(31 - i);
    }
    /* RFC 3720 §B.4 */
    ck_assert_uint_eq(crc32c(0, zeros, 32), 0x8A9136AAu);
    ck_assert_uint_eq(crc32c(0, ones, 32), 0x62A8AB43u);
    ck_assert_uint_eq(crc32c(0, inc, 32), 0x46DD794Eu);
    ck_assert_uint_eq(crc32c(0, dec, 32), 0x113FDB5Cu);
    ck_assert_uint_eq(crc32c_sw(0, inc, 32), 0x46DD794Eu);
    ck_assert_uint_eq(crc32c(0, "123456789", 9), 0xE3069283u); /* the usual check value */
    /* Continuing a CRC equals computing it at once, in both versions. */
    ck_assert_uint_eq(crc32c(crc32c(0, inc, 13), inc + 13, 19), 0x46DD794Eu);
    uint8_t big[1000];
    for (int i = 0; i < 1000; i++)
        big[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n < 40; n++)
        ck_assert_uint_eq(crc32c(0, big + n, 1000 - 2 * n), crc32c_sw(0, big + n, 1000 - 2 * n));
}
END_TEST

START_TEST(test_record_round_trip_and_checksum)
{
    struct buf area;
    buf_init(&area);
    const int64_t times[] = {0, -1, T0_US, INT64_MIN, INT64_MAX};
    const size_t lens[] = {0, 1, 2, 3, 3};
    for (int i = 0; i < 5; i++)
        record_put(&area, 1000 + (uint64_t)i, times[i], (uint16_t)(i ? 65535 : 0),
                   (const uint8_t *)"abc", lens[i]);
    struct rd r;
    struct jrec rec;
    const char *why;
    rd_init(&r, area.p, area.len);
    for (int i = 0; i < 5; i++) {
        ck_assert_int_eq(record_next(&r, &rec, &why), 0);
        ck_assert_uint_eq(rec.seq, 1000 + (uint64_t)i);
        ck_assert_int_eq(rec.time_us, times[i]);
        ck_assert_uint_eq(rec.type, i ? 65535 : 0);
        ck_assert_uint_eq(rec.len, lens[i]);
    }
    ck_assert_uint_eq(rd_left(&r), 0);
    area.p[area.len - 1] ^= 1; /* the last record's payload */
    rd_init(&r, area.p, area.len);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(record_next(&r, &rec, &why), 0);
    ck_assert_int_eq(record_next(&r, &rec, &why), -ERR_CORRUPT);
    ck_assert_str_eq(why, "record checksum mismatch");
    buf_free(&area);
}
END_TEST

static void seal_and_open(int compressible)
{
    uint8_t master[JOURNAL_KEY_LEN] = {1}, id[SEG_ID_BYTES] = {2}, payload[400];
    struct seg_key k;
    struct block_work w;
    struct buf area, out;
    struct block_hdr h;
    const char *why;
    uint32_t x = 2463534242u; /* xorshift32: bytes LZ4 cannot shrink */
    buf_init(&area);
    buf_init(&out);
    block_work_init(&w);
    ck_assert_int_eq(seg_key_init(&k, master, id), 0);
    for (uint64_t s = 5; s < 8; s++) {
        for (int i = 0; i < 400; i++) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            payload[i] = compressible ? (uint8_t)('a' + i % 3) : (uint8_t)x;
        }
        /* Distinct times too: equal ones would give LZ4 a match. */
        int64_t t = compressible ? T0_US : (int64_t)((uint64_t)x << 31 ^ payload[0]);
        record_put(&area, s, t, 4, payload, sizeof payload);
    }
    ck_assert_int_eq(block_seal(&w, &k, 9, 5, 3, area.p, area.len, &out), 0);
    ck_assert_int_eq(block_hdr_decode(out.p, &h, &why), 0);
    ck_assert_uint_eq(h.codec, (compressible ? BLOCK_CODEC_LZ4 : BLOCK_CODEC_STORED));
    ck_assert_uint_eq(h.len, out.len);
    ck_assert_uint_eq(h.index, 9);
    ck_assert_int_eq(block_open(&w, &k, &h, out.p, 9, &why), 0);
    ck_assert_uint_eq(w.raw.len, area.len);
    ck_assert(memcmp(w.raw.p, area.p, area.len) == 0);
    /* In another place of the segment (a replayed block): refused. */
    ck_assert_int_eq(block_open(&w, &k, &h, out.p, 8, &why), -ERR_CORRUPT);
    /* A header field changed with its CRC fixed up: the tag catches it. */
    out.p[BLOCK_OFF_FIRST_SEQ] ^= 1;
    uint32_t crc = crc32c(0, out.p, BLOCK_OFF_CRC);
    memcpy(out.p + BLOCK_OFF_CRC, &crc, 4); /* little-endian host */
    ck_assert_int_eq(block_hdr_decode(out.p, &h, &why), 0);
    ck_assert_int_eq(block_open(&w, &k, &h, out.p, 9, &why), -ERR_CORRUPT);
    ck_assert_str_eq(why, "block fails authentication (bad tag)");
    seg_key_free(&k);
    block_work_free(&w);
    buf_free(&area);
    buf_free(&out);
}

START_TEST(test_block_seal_open_round_trip_lz4_and_stored)
{
    seal_and_open(1);
    seal_and_open(0);
}
END_TEST

/* doc/formats/journal.md, "Worked example": the whole file. */
static const uint8_t worked_example[162] = {
    0x53, 0x5a, 0x4a, 0x4f, 0x55, 0x52, 0x4e, 0x4c, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
    0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x96, 0xe7, 0xad, 0x19, 0x60, 0xd7, 0xa2, 0x1c, 0x90,
    0x13, 0x57, 0x1e, 0x1f, 0x80, 0x73, 0x8e, 0xfd, 0xdb, 0x8f, 0x73, 0x6c, 0xb2, 0xab, 0x5b,
    0xc7, 0xb4, 0xea, 0x56, 0x53, 0x5a, 0x42, 0x4b, 0x62, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x00, 0x00, 0x00, 0x29, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x8b,
    0x26, 0xf5, 0xdd, 0xa2, 0x8e, 0x1c, 0x44, 0x52, 0x3c, 0x01, 0xa8, 0x85, 0xcb, 0xe7, 0x17,
    0x7a, 0x4e, 0x48, 0xe7, 0x5e, 0x65, 0x4d, 0x7d, 0x90, 0x99, 0x6c, 0x54, 0x64, 0xae, 0x47,
    0x91, 0x13, 0x90, 0x6a, 0xc2, 0xaa, 0x62, 0xb2, 0xcc, 0x35, 0xef, 0xb4, 0x10, 0x16, 0xce,
    0x67, 0xbe, 0x7e, 0x03, 0x08, 0xf9, 0x43, 0xb9, 0x5d, 0x14, 0xc1, 0x3f,
};

START_TEST(test_format_worked_example)
{
    uint8_t master[JOURNAL_KEY_LEN], id[SEG_ID_BYTES], hdr[SEG_HDR_BYTES];
    for (int i = 0; i < JOURNAL_KEY_LEN; i++)
        master[i] = (uint8_t)i;
    for (int i = 0; i < SEG_ID_BYTES; i++)
        id[i] = (uint8_t)(0x10 + i);
    struct seg_key k;
    struct seg_header sh = {.first_seq = 1};
    memcpy(sh.id, id, SEG_ID_BYTES);
    ck_assert_int_eq(seg_key_init(&k, master, id), 0);
    ck_assert_int_eq(seg_header_encode(&sh, &k, master, hdr), 0);
    ck_assert(memcmp(hdr, worked_example, SEG_HDR_BYTES) == 0);

    struct buf area, out;
    struct block_work w;
    buf_init(&area);
    buf_init(&out);
    block_work_init(&w);
    record_put(&area, 1, T0_US, 4, (const uint8_t *)"hello", 5);
    record_put(&area, 2, T0_US + 1, 4, (const uint8_t *)"world!", 6);
    ck_assert_uint_eq(area.len, 41);
    ck_assert_int_eq(block_seal(&w, &k, 0, 1, 2, area.p, area.len, &out), 0);
    ck_assert_uint_eq(out.len, sizeof worked_example - SEG_HDR_BYTES);
    ck_assert(memcmp(out.p, worked_example + SEG_HDR_BYTES, out.len) == 0);

    /* The journal reads the hand-built file back. */
    char path[512];
    snprintf(path, sizeof path, "%s/0000000000000001.seg", g_dir);
    spit(path, worked_example, sizeof worked_example);
    struct journal_opts o;
    struct reports rep = {0};
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_uint_eq(journal_next_seq(j), 3);
    ck_assert_int_eq(rep.n, 0);
    journal_close(j);
    seg_key_free(&k);
    block_work_free(&w);
    buf_free(&area);
    buf_free(&out);
}
END_TEST

START_TEST(test_empty_journal_writes_nothing)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_uint_eq(journal_next_seq(j), 1);
    ck_assert_uint_eq(journal_first_seq(j), 1);
    ck_assert_ptr_null(journal_seal(j));
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 0);
    check_contents(&o, 1, 0);
}
END_TEST

/* Loop index: the sync policy. */
START_TEST(test_round_trip_many_batches_across_segments)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    opts_init(&o, (enum journal_sync)_i, 4096, &rep);
    struct journal *j = open_ok(&o);
    uint64_t total = 0;
    for (int i = 0; i < 40; i++) {
        int n = 1 + (i * 7) % 60;
        uint64_t first, last;
        for (int k = 0; k < n; k++)
            append_one(j);
        struct jbatch *b = journal_seal(j);
        journal_batch_range(b, &first, &last);
        ck_assert_uint_eq(first, total + 1);
        ck_assert_uint_eq(last, total + (uint64_t)n);
        ck_assert_int_eq(journal_commit(j, b), 0);
        journal_batch_free(b);
        total += (uint64_t)n;
    }
    journal_close(j);
    int nseg = seg_paths(paths, PATHS_MAX);
    ck_assert_int_ge(nseg, 4);
    /* Every segment but the last reached the limit; each is named by its
     * first seq, one past the previous one's last. */
    for (int i = 0; i + 1 < nseg; i++)
        ck_assert_uint_ge(file_size(paths[i]), 4096);
    check_contents(&o, 1, total);
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

START_TEST(test_reopen_continues_with_contiguous_seqs_in_a_new_segment)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    uint64_t total = 0;
    for (int round = 0; round < 3; round++) {
        struct journal *j = open_ok(&o);
        ck_assert_uint_eq(journal_next_seq(j), total + 1);
        ck_assert_uint_eq(journal_first_seq(j), 1);
        ck_assert_int_eq(commit_batch(j, 5), 0);
        ck_assert_int_eq(commit_batch(j, 2), 0);
        total += 7;
        journal_close(j);
        /* One new segment per open: never write again under a used nonce. */
        ck_assert_int_eq(seg_paths(paths, PATHS_MAX), round + 1);
    }
    ck_assert_str_eq(strrchr(paths[1], '/') + 1, "0000000000000008.seg");
    check_contents(&o, 1, total);
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

START_TEST(test_read_from_a_middle_seq)
{
    struct journal_opts o;
    struct reports rep = {0};
    opts_init(&o, JOURNAL_SYNC_BATCH, 2048, &rep);
    struct journal *j = open_ok(&o);
    for (int i = 0; i < 20; i++)
        ck_assert_int_eq(commit_batch(j, 10), 0);
    journal_close(j);
    const uint64_t froms[] = {0, 1, 2, 10, 11, 57, 100, 101, 199, 200};
    for (size_t i = 0; i < sizeof froms / sizeof *froms; i++)
        check_contents(&o, froms[i] ? froms[i] : 1, 200);
    j = open_ok(&o);
    struct collect c = {.next = 201};
    char err[256];
    ck_assert_int_eq(journal_read(j, 201, collect_cb, &c, err, sizeof err), 0);
    ck_assert_uint_eq(c.n, 0);
    journal_close(j);
}
END_TEST

START_TEST(test_read_stops_with_the_callbacks_code)
{
    struct journal_opts o;
    struct reports rep = {0};
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 10), 0);
    struct collect c = {.next = 1, .stop_at = 6};
    char err[256] = "";
    ck_assert_int_eq(journal_read(j, 1, collect_cb, &c, err, sizeof err), -ERR_LIMIT);
    ck_assert_uint_eq(c.n, 5);
    journal_close(j);
}
END_TEST

START_TEST(test_sync_always_writes_one_block_per_record)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    uint64_t offs[32];
    opts_init(&o, JOURNAL_SYNC_ALWAYS, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 10), 0);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    ck_assert_int_eq(block_offsets(paths[0], offs, 32), 10);
    check_contents(&o, 1, 10);

    o.sync = JOURNAL_SYNC_BATCH;
    j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 10), 0);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 2);
    ck_assert_int_eq(block_offsets(paths[1], offs, 32), 1);
    check_contents(&o, 1, 20);
}
END_TEST

static int count_cb(void *arg, const struct jrec *r)
{
    uint64_t *n = arg;
    ck_assert_uint_eq(r->seq, *n + 1);
    for (size_t i = 0; i < r->len; i++)
        ck_assert_uint_eq(r->payload[i], (uint8_t)(r->seq + i));
    (*n)++;
    return 0;
}

START_TEST(test_large_batch_and_large_record_split_into_blocks)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    uint64_t offs[64];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    size_t big = 3u << 20;
    uint8_t *p = xmalloc(big);
    for (uint64_t s = 1; s <= 3001; s++) {
        size_t n = s == 1500 ? big : 1000;
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)(s + i);
        journal_append(j, 1, 0, p, n);
    }
    free(p);
    struct jbatch *b = journal_seal(j);
    ck_assert_int_eq(journal_commit(j, b), 0);
    journal_batch_free(b);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    /* 3 MB of small records in ~1 MiB blocks, plus the big one alone. */
    ck_assert_int_ge(block_offsets(paths[0], offs, 64), 5);
    j = open_ok(&o);
    uint64_t n = 0;
    char err[256];
    ck_assert_int_eq(journal_read(j, 1, count_cb, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 3001);
    journal_close(j);
}
END_TEST

START_TEST(test_payload_is_sealed_on_disk)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    const char *secret = "the-secret-message-body";
    journal_append(j, 4, T0_US, (const uint8_t *)secret, strlen(secret));
    struct jbatch *b = journal_seal(j);
    ck_assert_int_eq(journal_commit(j, b), 0);
    journal_batch_free(b);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    size_t len;
    uint8_t *p = slurp(paths[0], &len);
    ck_assert_ptr_null(memmem(p, len, "secret", 6));
    free(p);
}
END_TEST

START_TEST(test_second_open_is_refused_by_the_lock)
{
    struct journal_opts o;
    struct reports rep = {0};
    char err[256];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(open_fails(&o, err, sizeof err), -ERR_LOCKED);
    journal_close(j);
    journal_close(open_ok(&o));
}
END_TEST

START_TEST(test_compacted_journal_starts_past_one)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512], err[256];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    for (int i = 0; i < 3; i++) {
        struct journal *j = open_ok(&o);
        ck_assert_int_eq(commit_batch(j, 4), 0);
        journal_close(j);
    }
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 3);
    ck_assert_int_eq(unlink(paths[0]), 0); /* what compaction does */
    struct journal *j = open_ok(&o);
    ck_assert_uint_eq(journal_first_seq(j), 5);
    ck_assert_uint_eq(journal_next_seq(j), 13);
    struct collect c = {.next = 5};
    ck_assert_int_eq(journal_read(j, 5, collect_cb, &c, err, sizeof err), 0);
    ck_assert_uint_eq(c.n, 8);
    /* Asking for what is gone is an error, not a silent later start. */
    ck_assert_int_eq(journal_read(j, 4, collect_cb, &c, err, sizeof err), -ERR_SEQ);
    ck_assert_msg(strstr(err, "starts at seq 5"), "%s", err);
    journal_close(j);
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

/* A restore: a new journal starts right after the restored snapshot,
 * stays there across a reopen, and the option cannot move a journal
 * that already has segments. */
START_TEST(test_new_journal_starts_at_the_first_seq_option)
{
    struct journal_opts o;
    struct reports rep = {0};
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    o.first_seq = 42;
    struct journal *j = open_ok(&o);
    ck_assert_uint_eq(journal_first_seq(j), 42);
    ck_assert_uint_eq(journal_next_seq(j), 42);
    ck_assert_int_eq(commit_batch(j, 3), 0);
    journal_close(j);
    o.first_seq = 0; /* a later start does not know it */
    check_contents(&o, 42, 44);
    o.first_seq = 7; /* ignored: segments exist */
    j = open_ok(&o);
    ck_assert_uint_eq(journal_first_seq(j), 42);
    ck_assert_uint_eq(journal_next_seq(j), 45);
    journal_close(j);
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

START_TEST(test_stray_seg_names_are_reported_and_ignored)
{
    struct journal_opts o;
    struct reports rep = {0};
    char path[512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 4), 0);
    journal_close(j);
    snprintf(path, sizeof path, "%s/0000000000000000.seg", g_dir); /* seqs start at 1 */
    spit(path, (const uint8_t *)"x", 1);
    check_contents(&o, 1, 4);
    ck_assert_int_eq(rep.n, 1);
    ck_assert_str_eq(rep.file, path);
    ck_assert_uint_eq(rep.bytes, 1);
    snprintf(path, sizeof path, "%s/notes.txt", g_dir); /* not the journal's: not reported */
    spit(path, (const uint8_t *)"x", 1);
    rep.n = 0;
    check_contents(&o, 1, 4);
    ck_assert_int_eq(rep.n, 1);
}
END_TEST

/* ---- journal_crash: what a crash in mid-write leaves ---- */

START_TEST(test_torn_tail_at_every_cut_length_is_cut_and_reported)
{
    struct journal_opts o;
    struct reports rep = {0};
    char path[512];
    uint64_t offs[3];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    three_blocks(&o, path, offs);
    size_t len;
    uint8_t *pristine = slurp(path, &len);
    for (size_t cut = offs[2]; cut < len; cut++) {
        spit(path, pristine, cut);
        memset(&rep, 0, sizeof rep);
        check_contents(&o, 1, 7);
        if (cut == offs[2]) {
            ck_assert_int_eq(rep.n, 0); /* a clean end at a block boundary */
            continue;
        }
        ck_assert_int_eq(rep.n, 1);
        ck_assert_str_eq(rep.file, path);
        ck_assert_uint_eq(rep.off, offs[2]);
        ck_assert_uint_eq(rep.bytes, cut - offs[2]);
        ck_assert_msg(strncmp(rep.reason, "torn tail", 9) == 0, "%s", rep.reason);
        ck_assert_uint_eq(file_size(path), offs[2]);
    }
    /* After a cut the journal goes on from the last good record. */
    struct journal *j = open_ok(&o);
    ck_assert_uint_eq(journal_next_seq(j), 8);
    ck_assert_int_eq(commit_batch(j, 5), 0);
    journal_close(j);
    memset(&rep, 0, sizeof rep);
    check_contents(&o, 1, 12);
    ck_assert_int_eq(rep.n, 0);
    free(pristine);
}
END_TEST

START_TEST(test_torn_tail_with_a_zeroed_sector_is_cut)
{
    /* The file size reached the disk, a sector of the last block did not. */
    struct journal_opts o;
    struct reports rep = {0};
    char path[512];
    uint64_t offs[3];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 3), 0);
    ck_assert_int_eq(commit_batch(j, 60), 0); /* a block over several sectors */
    journal_close(j);
    char paths[PATHS_MAX][512];
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    strcpy(path, paths[0]);
    ck_assert_int_eq(block_offsets(path, offs, 3), 2);
    uint64_t size = file_size(path);
    uint64_t sector = (offs[1] / DISK_SECTOR_BYTES + 1) * DISK_SECTOR_BYTES;
    ck_assert_uint_lt(sector + DISK_SECTOR_BYTES, size);
    uint8_t zeros[DISK_SECTOR_BYTES] = {0};
    patch(path, sector, zeros, sizeof zeros);
    check_contents(&o, 1, 3);
    ck_assert_int_eq(rep.n, 1);
    ck_assert_uint_eq(rep.off, offs[1]);
    ck_assert_uint_eq(rep.bytes, size - offs[1]);
    ck_assert_msg(strstr(rep.reason, "torn tail: block fails authentication"), "%s", rep.reason);
}
END_TEST

START_TEST(test_torn_tail_with_a_zeroed_block_header_is_cut)
{
    struct journal_opts o;
    struct reports rep = {0};
    char path[512];
    uint64_t offs[3];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    three_blocks(&o, path, offs);
    uint64_t size = file_size(path);
    uint8_t zeros[BLOCK_HDR_BYTES] = {0};
    patch(path, offs[2], zeros, sizeof zeros);
    check_contents(&o, 1, 7);
    ck_assert_int_eq(rep.n, 1);
    ck_assert_uint_eq(rep.off, offs[2]);
    ck_assert_uint_eq(rep.bytes, size - offs[2]);
}
END_TEST

START_TEST(test_interrupted_segment_creation_is_removed)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 4), 0);
    journal_close(j);
    j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 4), 0);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 2);
    size_t len;
    uint8_t *p = slurp(paths[1], &len);
    const size_t cuts[] = {0, 10, SEG_HDR_BYTES - 1, SEG_HDR_BYTES};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        spit(paths[1], p, cuts[i]);
        memset(&rep, 0, sizeof rep);
        check_contents(&o, 1, 4);
        ck_assert_int_eq(rep.n, 1);
        ck_assert_str_eq(rep.file, paths[1]);
        ck_assert_uint_eq(rep.bytes, cuts[i]);
        ck_assert_int_eq(access(paths[1], F_OK), -1);
    }
    /* A header that never reached the disk (zeros) is the same crash. */
    uint8_t zeros[SEG_HDR_BYTES] = {0};
    spit(paths[1], zeros, sizeof zeros);
    memset(&rep, 0, sizeof rep);
    check_contents(&o, 1, 4);
    ck_assert_int_eq(rep.n, 1);
    ck_assert_int_eq(access(paths[1], F_OK), -1);
    free(p);
}
END_TEST

/* ---- journal_corrupt: damage stops the open, naming file and offset ---- */

static void expect_corrupt_at(const struct journal_opts *o, int code, const char *path,
                              uint64_t off, const char *why)
{
    char err[512], at[64];
    ck_assert_int_eq(open_fails(o, err, sizeof err), code);
    snprintf(at, sizeof at, "offset %" PRIu64 ":", off);
    ck_assert_msg(strstr(err, path) && strstr(err, at), "errbuf: %s", err);
    ck_assert_msg(!why || strstr(err, why), "errbuf: %s", err);
}

START_TEST(test_bit_flip_in_a_middle_block_stops_open)
{
    struct journal_opts o;
    struct reports rep = {0};
    char path[512];
    uint64_t offs[3];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    three_blocks(&o, path, offs);
    uint64_t size = file_size(path);
    flip_bit(path, offs[1] + BLOCK_HDR_BYTES + 5, 3);
    expect_corrupt_at(&o, -ERR_CORRUPT, path, offs[1], "authentication");
    ck_assert_int_eq(rep.n, 0);
    ck_assert_uint_eq(file_size(path), size); /* nothing was cut */
}
END_TEST

START_TEST(test_bit_flip_in_the_last_block_is_damage_not_a_torn_tail)
{
    struct journal_opts o;
    struct reports rep = {0};
    char path[512];
    uint64_t offs[3];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    three_blocks(&o, path, offs);
    uint64_t size = file_size(path);
    /* The rule's one chance case (doc): the block's part of its last
     * sector must not be all zero by chance; the sizes here are fixed. */
    ck_assert(size % DISK_SECTOR_BYTES == 0 || size % DISK_SECTOR_BYTES >= 8);
    const uint64_t at[] = {
        offs[2] + BLOCK_HDR_BYTES + 1, /* body */
        size - 1,                      /* tag */
        offs[2] + BLOCK_OFF_FIRST_SEQ, /* header: CRC catches it */
        offs[2] + BLOCK_OFF_LEN + 2,   /* length: never taken for "incomplete" */
    };
    for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
        flip_bit(path, at[i], 6);
        expect_corrupt_at(&o, -ERR_CORRUPT, path, offs[2], NULL);
        ck_assert_int_eq(rep.n, 0);
        ck_assert_uint_eq(file_size(path), size);
        flip_bit(path, at[i], 6);
    }
    check_contents(&o, 1, 10);
}
END_TEST

START_TEST(test_bit_flip_in_an_earlier_segment_stops_open)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    uint64_t offs[8];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    for (int i = 0; i < 2; i++) {
        struct journal *j = open_ok(&o);
        ck_assert_int_eq(commit_batch(j, 3), 0);
        ck_assert_int_eq(commit_batch(j, 3), 0);
        journal_close(j);
    }
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 2);
    ck_assert_int_eq(block_offsets(paths[0], offs, 8), 2);
    /* The end of a segment that is not the last is never a torn tail. */
    flip_bit(paths[0], file_size(paths[0]) - 3, 0);
    expect_corrupt_at(&o, -ERR_CORRUPT, paths[0], offs[1], NULL);
    flip_bit(paths[0], file_size(paths[0]) - 3, 0);
    /* Nor is a truncated one. */
    ck_assert_int_eq(truncate(paths[0], (off_t)(file_size(paths[0]) - 1)), 0);
    expect_corrupt_at(&o, -ERR_CORRUPT, paths[0], offs[1], "incomplete block");
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

START_TEST(test_segment_header_damage_stops_open)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    for (int i = 0; i < 2; i++) {
        struct journal *j = open_ok(&o);
        ck_assert_int_eq(commit_batch(j, 3), 0);
        journal_close(j);
    }
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 2);
    const uint64_t at[] = {SEG_OFF_FIRST_SEQ, SEG_OFF_ID + 3, SEG_OFF_KEY_CHECK, SEG_OFF_TAG};
    for (int s = 0; s < 2; s++)
        for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
            flip_bit(paths[s], at[i], 1);
            /* A flipped key check bit is damage, not a wrong key. */
            expect_corrupt_at(&o, -ERR_CORRUPT, paths[s], 0, "checksum mismatch");
            flip_bit(paths[s], at[i], 1);
        }
    ck_assert_int_eq(rep.n, 0);
    check_contents(&o, 1, 6);
}
END_TEST

static void rewrite_crc(const char *path, uint64_t off, size_t n)
{
    size_t len;
    uint8_t *p = slurp(path, &len);
    uint32_t crc = crc32c(0, p + off, n);
    uint8_t le[4] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16), (uint8_t)(crc >> 24)};
    patch(path, off + n, le, 4);
    free(p);
}

START_TEST(test_unknown_version_and_tampered_header_are_refused)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512], err[512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 3), 0);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    uint8_t two = 2;
    patch(paths[0], SEG_OFF_VERSION, &two, 1);
    rewrite_crc(paths[0], 0, SEG_OFF_CRC);
    ck_assert_int_eq(open_fails(&o, err, sizeof err), -ERR_VERSION);
    uint8_t one = 1;
    patch(paths[0], SEG_OFF_VERSION, &one, 1);
    /* A changed segment id with a good CRC: the header tag catches it. */
    flip_bit(paths[0], SEG_OFF_ID, 0);
    rewrite_crc(paths[0], 0, SEG_OFF_CRC);
    expect_corrupt_at(&o, -ERR_CORRUPT, paths[0], 0, "fails authentication");
}
END_TEST

START_TEST(test_missing_middle_segment_is_a_seq_gap)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    for (int i = 0; i < 3; i++) {
        struct journal *j = open_ok(&o);
        ck_assert_int_eq(commit_batch(j, 4), 0);
        journal_close(j);
    }
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 3);
    ck_assert_int_eq(unlink(paths[1]), 0);
    expect_corrupt_at(&o, -ERR_SEQ, paths[2], 0, "missing segment");
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

START_TEST(test_segment_named_unlike_its_header_is_refused)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512], other[512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 4), 0);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    snprintf(other, sizeof other, "%s/0000000000000002.seg", g_dir);
    ck_assert_int_eq(rename(paths[0], other), 0);
    expect_corrupt_at(&o, -ERR_CORRUPT, other, 0, "differs from the file name");
}
END_TEST

/* Writes segment 1 by hand: blocks of records with the given seqs. */
static void forge_segment(const uint64_t *const *blocks, const int *counts, const uint64_t *firsts,
                          int nblocks)
{
    uint8_t master[JOURNAL_KEY_LEN], hdr[SEG_HDR_BYTES];
    for (int i = 0; i < JOURNAL_KEY_LEN; i++)
        master[i] = (uint8_t)i;
    struct seg_header sh = {.first_seq = 1, .id = {7, 7, 7}};
    struct seg_key k;
    struct block_work w;
    struct buf out, area;
    buf_init(&out);
    buf_init(&area);
    block_work_init(&w);
    ck_assert_int_eq(seg_key_init(&k, master, sh.id), 0);
    ck_assert_int_eq(seg_header_encode(&sh, &k, master, hdr), 0);
    buf_put(&out, hdr, sizeof hdr);
    for (int b = 0; b < nblocks; b++) {
        buf_reset(&area);
        for (int i = 0; i < counts[b]; i++) {
            uint8_t p[512];
            uint64_t s = blocks[b][i];
            size_t n = payload_for(s, p, sizeof p);
            record_put(&area, s, T0_US + (int64_t)s, (uint16_t)(s % 7), p, n);
        }
        ck_assert_int_eq(block_seal(&w, &k, (uint64_t)b, firsts[b], (uint32_t)counts[b], area.p,
                                    area.len, &out),
                         0);
    }
    char path[512];
    snprintf(path, sizeof path, "%s/0000000000000001.seg", g_dir);
    spit(path, out.p, out.len);
    seg_key_free(&k);
    block_work_free(&w);
    buf_free(&out);
    buf_free(&area);
}

START_TEST(test_seq_gap_in_authentic_blocks_is_refused)
{
    struct journal_opts o;
    struct reports rep = {0};
    char path[512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    snprintf(path, sizeof path, "%s/0000000000000001.seg", g_dir);
    /* The forger is honest: the same shape as the writer's is accepted. */
    static const uint64_t a[] = {1, 2}, b_ok[] = {3, 4}, b_gap[] = {4, 5}, c_gap[] = {3, 5};
    const uint64_t *ok[] = {a, b_ok};
    forge_segment(ok, (const int[]){2, 2}, (const uint64_t[]){1, 3}, 2);
    check_contents(&o, 1, 4);
    /* Between blocks: the second block starts at 4, not 3. */
    const uint64_t *gap[] = {a, b_gap};
    forge_segment(gap, (const int[]){2, 2}, (const uint64_t[]){1, 4}, 2);
    char err[512];
    ck_assert_int_eq(open_fails(&o, err, sizeof err), -ERR_SEQ);
    ck_assert_msg(strstr(err, path) && strstr(err, "block starts at seq 4, expected 3"), "%s",
                  err);
    /* Inside a block: records 3, 5 under a header that says 3. */
    const uint64_t *inner[] = {a, c_gap};
    forge_segment(inner, (const int[]){2, 2}, (const uint64_t[]){1, 3}, 2);
    ck_assert_int_eq(open_fails(&o, err, sizeof err), -ERR_SEQ);
    ck_assert_msg(strstr(err, "record 1 has seq 5, expected 4"), "%s", err);
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

START_TEST(test_replayed_block_at_the_end_is_refused)
{
    struct journal_opts o;
    struct reports rep = {0};
    char path[512];
    uint64_t offs[3];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    three_blocks(&o, path, offs);
    size_t len;
    uint8_t *p = slurp(path, &len);
    uint8_t *q = xmalloc(len + (offs[2] - offs[1]));
    memcpy(q, p, len);
    memcpy(q + len, p + offs[1], offs[2] - offs[1]); /* block 1 again, as block 3 */
    spit(path, q, len + (offs[2] - offs[1]));
    expect_corrupt_at(&o, -ERR_CORRUPT, path, len, "nonce does not match");
    ck_assert_int_eq(rep.n, 0);
    free(p);
    free(q);
}
END_TEST

START_TEST(test_wrong_key_is_named)
{
    struct journal_opts o;
    struct reports rep = {0};
    char err[512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 3), 0);
    journal_close(j);
    o.key[31] ^= 0x80;
    ck_assert_int_eq(open_fails(&o, err, sizeof err), -ERR_CRYPTO);
    ck_assert_msg(strstr(err, "wrong journal key") && strstr(err, "0000000000000001.seg"), "%s",
                  err);
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

START_TEST(test_damage_after_open_stops_read_naming_offset)
{
    struct journal_opts o;
    struct reports rep = {0};
    char path[512], err[512], at[64];
    uint64_t offs[3];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    three_blocks(&o, path, offs);
    struct journal *j = open_ok(&o);
    flip_bit(path, offs[1] + BLOCK_HDR_BYTES, 0);
    struct collect c = {.next = 1};
    ck_assert_int_eq(journal_read(j, 1, collect_cb, &c, err, sizeof err), -ERR_CORRUPT);
    ck_assert_uint_eq(c.n, 3); /* the first block's records, none of the damaged one's */
    snprintf(at, sizeof at, "offset %" PRIu64 ":", offs[1]);
    ck_assert_msg(strstr(err, path) && strstr(err, at), "%s", err);
    journal_close(j);
}
END_TEST

/* ---- journal_fault: I/O errors in commit ---- */

/* Check reports every assertion through a file of its own, which the
 * limit would break too: between setting and lifting it, no ck_assert. */
static int limit_file_size(rlim_t n)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_FSIZE, &rl) != 0)
        return -errno;
    rl.rlim_cur = n;
    return setrlimit(RLIMIT_FSIZE, &rl) != 0 ? -errno : 0;
}

static struct jbatch *fill_batch(struct journal *j, int n)
{
    for (int i = 0; i < n; i++)
        append_one(j);
    struct jbatch *b = journal_seal(j);
    ck_assert_ptr_nonnull(b);
    return b;
}

START_TEST(test_failed_commit_goes_read_only_and_loses_nothing_acknowledged)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    struct stat st;
    signal(SIGXFSZ, SIG_IGN); /* the write then fails with EFBIG */
    opts_init(&o, _i ? JOURNAL_SYNC_ALWAYS : JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 5), 0);
    ck_assert_int_eq(commit_batch(j, 5), 0);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    uint64_t good = file_size(paths[0]);
    struct jbatch *b = fill_batch(j, 10);
    /* Room for part of the batch: a short write (or, with SYNC_ALWAYS, a
     * block or two written and synced), then EFBIG. */
    int lim = limit_file_size((rlim_t)good + 150);
    int rc = journal_commit(j, b);
    int st_rc = stat(paths[0], &st);
    int unlim = limit_file_size(RLIM_INFINITY);
    ck_assert_int_eq(lim, 0);
    ck_assert_int_eq(unlim, 0);
    ck_assert_int_eq(rc, -EFBIG);
    ck_assert_int_eq(st_rc, 0);
    ck_assert_uint_eq((uint64_t)st.st_size, good); /* what the failed commit wrote is gone */
    journal_batch_free(b);
    ck_assert_int_eq(commit_batch(j, 1), -ERR_READONLY);
    journal_close(j);
    check_contents(&o, 1, 10);
    ck_assert_int_eq(rep.n, 0);
    j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 3), 0); /* seqs 11..13: the refused ones are free again */
    journal_close(j);
    check_contents(&o, 1, 13);
}
END_TEST

/* A lazy batch (only volatile events, kernel/bus.c) is written without an
 * fsync of its own under SYNC_BATCH, and the next batch's fsync covers it;
 * journal_sync_to syncs only when a lazy batch lies at the tail;
 * SYNC_ALWAYS ignores the hint. */
START_TEST(test_lazy_batch_has_no_fsync_of_its_own)
{
    struct journal_opts o;
    struct reports rep = {0};
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 3), 0);
    ck_assert_uint_eq(journal_data_syncs(j), 1);
    struct jbatch *b = fill_batch(j, 4);
    journal_batch_lazy(b);
    ck_assert_int_eq(journal_commit(j, b), 0);
    journal_batch_free(b);
    ck_assert_uint_eq(journal_data_syncs(j), 1); /* none of its own */
    ck_assert_int_eq(journal_sync_to(j, 3), 0);
    ck_assert_uint_eq(journal_data_syncs(j), 1); /* 1..3 were synced */
    ck_assert_int_eq(journal_sync_to(j, 7), 0);
    ck_assert_uint_eq(journal_data_syncs(j), 2); /* 4..7 were not: one fdatasync */
    ck_assert_int_eq(journal_sync_to(j, 7), 0);
    ck_assert_uint_eq(journal_data_syncs(j), 2);
    b = fill_batch(j, 1);
    journal_batch_lazy(b);
    ck_assert_int_eq(journal_commit(j, b), 0);
    journal_batch_free(b);
    ck_assert_int_eq(commit_batch(j, 1), 0);
    ck_assert_uint_eq(journal_data_syncs(j), 3); /* this one's covers both */
    ck_assert_int_eq(journal_sync_to(j, 9), 0);
    ck_assert_uint_eq(journal_data_syncs(j), 3);
    journal_close(j);
    check_contents(&o, 1, 9);

    o.sync = JOURNAL_SYNC_ALWAYS;
    j = open_ok(&o);
    b = fill_batch(j, 3);
    journal_batch_lazy(b);
    ck_assert_int_eq(journal_commit(j, b), 0);
    journal_batch_free(b);
    ck_assert_uint_eq(journal_data_syncs(j), 3); /* still one per record */
    ck_assert_int_eq(journal_sync_to(j, 12), 0);
    ck_assert_uint_eq(journal_data_syncs(j), 3);
    journal_close(j);
    check_contents(&o, 1, 12);

    o.sync = JOURNAL_SYNC_NONE; /* the operator's choice: never an fsync */
    j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 2), 0);
    ck_assert_int_eq(journal_sync_to(j, 14), 0);
    ck_assert_uint_eq(journal_data_syncs(j), 0);
    journal_close(j);
    check_contents(&o, 1, 14);
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

START_TEST(test_failed_segment_creation_leaves_no_segment)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    signal(SIGXFSZ, SIG_IGN);
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 5), 0);
    journal_close(j);
    j = open_ok(&o);
    struct jbatch *b = fill_batch(j, 5);
    int lim = limit_file_size(SEG_HDR_BYTES / 2); /* the new segment's header cannot be written */
    int rc = journal_commit(j, b);
    int unlim = limit_file_size(RLIM_INFINITY);
    ck_assert_int_eq(lim, 0);
    ck_assert_int_eq(unlim, 0);
    ck_assert_int_eq(rc, -EFBIG);
    journal_batch_free(b);
    ck_assert_int_eq(commit_batch(j, 5), -ERR_READONLY);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    check_contents(&o, 1, 5);
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

/* ---- journal_compact: removing what a snapshot covers ---- */

/* n commits of 4 records each with segment_bytes_max 1, so every commit
 * starts a segment: segments at seqs 1, 5, 9, ... */
static struct journal *four_per_segment(struct journal_opts *o, struct reports *rep, int n)
{
    opts_init(o, JOURNAL_SYNC_BATCH, 1, rep);
    struct journal *j = open_ok(o);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(commit_batch(j, 4), 0);
    return j;
}

static int compact_ok(struct journal *j, uint64_t upto)
{
    char err[256] = "";
    int n = journal_compact(j, upto, err, sizeof err);
    ck_assert_msg(n >= 0, "journal_compact(%" PRIu64 "): %s (%s)", upto, err, err_name(n));
    return n;
}

/* Reads from first_seq to the end; asking for the seq before fails. */
static void check_starts_at(struct journal *j, uint64_t first, uint64_t last)
{
    char err[256] = "";
    struct collect c = {.next = first};
    ck_assert_uint_eq(journal_first_seq(j), first);
    ck_assert_int_eq(journal_read(j, first, collect_cb, &c, err, sizeof err), 0);
    ck_assert_uint_eq(c.n, last + 1 - first);
    if (first > 1) {
        c.next = first - 1;
        ck_assert_int_eq(journal_read(j, first - 1, collect_cb, &c, err, sizeof err), -ERR_SEQ);
        ck_assert_msg(strstr(err, "starts at seq"), "%s", err);
    }
}

START_TEST(test_compact_removes_only_wholly_covered_segments)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    struct journal *j = four_per_segment(&o, &rep, 5); /* 1..4 5..8 9..12 13..16 17..20 */
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 5);
    ck_assert_int_eq(compact_ok(j, 3), 0); /* seq 4 is not covered: segment 1 stays */
    check_starts_at(j, 1, 20);
    ck_assert_int_eq(rep.n, 0);
    ck_assert_int_eq(compact_ok(j, 4), 1);
    ck_assert_int_eq(rep.n, 1);
    ck_assert_str_eq(rep.file, paths[0]);
    ck_assert_uint_eq(rep.off, 0);
    ck_assert_msg(strstr(rep.reason, "compacted: seqs 1..4"), "%s", rep.reason);
    ck_assert_int_eq(access(paths[0], F_OK), -1);
    check_starts_at(j, 5, 20);
    ck_assert_int_eq(compact_ok(j, 11), 1); /* 5..8 goes, 9..12 holds 12 */
    check_starts_at(j, 9, 20);
    ck_assert_int_eq(compact_ok(j, 16), 2);
    check_starts_at(j, 17, 20);
    ck_assert_int_eq(rep.n, 4);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    ck_assert_str_eq(strrchr(paths[0], '/') + 1, "0000000000000011.seg");
    /* The journal goes on after compaction, and a reopen agrees. */
    ck_assert_int_eq(commit_batch(j, 3), 0);
    journal_close(j);
    j = open_ok(&o);
    ck_assert_uint_eq(journal_next_seq(j), 24);
    check_starts_at(j, 17, 23);
    journal_close(j);
}
END_TEST

START_TEST(test_compact_never_removes_the_newest_segment)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    struct journal *j = four_per_segment(&o, &rep, 3);
    /* Even a snapshot past the end leaves the segment with the newest
     * record: the next seq must stay readable from the journal. */
    ck_assert_int_eq(compact_ok(j, UINT64_MAX), 2);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    ck_assert_str_eq(strrchr(paths[0], '/') + 1, "0000000000000009.seg");
    check_starts_at(j, 9, 12);
    ck_assert_int_eq(compact_ok(j, UINT64_MAX), 0);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    journal_close(j);
    j = open_ok(&o);
    ck_assert_uint_eq(journal_next_seq(j), 13);
    check_starts_at(j, 9, 12);
    journal_close(j);
}
END_TEST

START_TEST(test_compact_with_nothing_to_remove_is_a_noop)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(compact_ok(j, UINT64_MAX), 0); /* no segment at all */
    ck_assert_uint_eq(journal_first_seq(j), 1);
    ck_assert_int_eq(commit_batch(j, 6), 0);
    ck_assert_int_eq(compact_ok(j, 0), 0);
    ck_assert_int_eq(compact_ok(j, UINT64_MAX), 0); /* one segment: the newest */
    check_starts_at(j, 1, 6);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    ck_assert_int_eq(rep.n, 0);
}
END_TEST

START_TEST(test_compact_after_a_failed_commit_keeps_the_newest_record)
{
    /* A commit that started a segment and failed removes it again; the
     * segment before it holds the newest record and must stay. */
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512];
    signal(SIGXFSZ, SIG_IGN);
    struct journal *j = four_per_segment(&o, &rep, 2);
    struct jbatch *b = fill_batch(j, 50);
    int lim = limit_file_size(SEG_HDR_BYTES + 8); /* header fits, the block does not */
    int rc = journal_commit(j, b);
    int unlim = limit_file_size(RLIM_INFINITY);
    ck_assert_int_eq(lim, 0);
    ck_assert_int_eq(unlim, 0);
    ck_assert_int_eq(rc, -EFBIG);
    journal_batch_free(b);
    ck_assert_int_eq(compact_ok(j, UINT64_MAX), 1);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 1);
    ck_assert_str_eq(strrchr(paths[0], '/') + 1, "0000000000000005.seg");
    journal_close(j);
    j = open_ok(&o);
    ck_assert_uint_eq(journal_next_seq(j), 9);
    check_starts_at(j, 5, 8);
    journal_close(j);
}
END_TEST

/* The worker of the overlap test: commits the batches in order and
 * publishes the last durable seq, as the server's worker would. */
struct committer {
    struct journal *j;
    struct jbatch **b;
    int n;
    _Atomic uint64_t durable;
    int rc;
};

static void *committer_main(void *arg)
{
    struct committer *c = arg;
    for (int i = 0; i < c->n && c->rc == 0; i++) {
        uint64_t first, last;
        journal_batch_range(c->b[i], &first, &last);
        c->rc = journal_commit(c->j, c->b[i]);
        if (c->rc == 0)
            atomic_store(&c->durable, last);
    }
    return NULL;
}

START_TEST(test_compact_overlapping_commits_loses_nothing_it_keeps)
{
    enum { BATCHES = 400 };
    struct journal_opts o;
    struct reports rep = {0};
    struct committer c = {.n = BATCHES};
    opts_init(&o, JOURNAL_SYNC_NONE, 1024, &rep);
    c.j = open_ok(&o);
    c.b = xcalloc(BATCHES, sizeof *c.b);
    for (int i = 0; i < BATCHES; i++)
        c.b[i] = fill_batch(c.j, 1 + i % 9);
    uint64_t last = journal_next_seq(c.j) - 1;
    pthread_t t;
    ck_assert_int_eq(pthread_create(&t, NULL, committer_main, &c), 0);
    int removed = 0;
    for (uint64_t seen = 0; seen < last;) {
        seen = atomic_load(&c.durable);
        removed += compact_ok(c.j, seen);
    }
    ck_assert_int_eq(pthread_join(t, NULL), 0);
    ck_assert_int_eq(c.rc, 0);
    removed += compact_ok(c.j, last);
    ck_assert_int_gt(removed, 10);
    uint64_t first = journal_first_seq(c.j);
    ck_assert_uint_gt(first, 1);
    check_starts_at(c.j, first, last);
    journal_close(c.j);
    struct journal *j = open_ok(&o);
    ck_assert_uint_eq(journal_next_seq(j), last + 1);
    check_starts_at(j, first, last);
    journal_close(j);
    for (int i = 0; i < BATCHES; i++)
        journal_batch_free(c.b[i]);
    free(c.b);
}
END_TEST

/* ---- journal_readonly: the offline tools' open ---- */

/* report_arg of a test that also records the segments open announces:
 * report_cb sees only the first member. */
struct rep_and_segs {
    struct reports rep;
    int n;
    struct journal_segment s[8];
};

static void seg_list_cb(void *arg, const struct journal_segment *s)
{
    struct rep_and_segs *rs = arg;
    ck_assert_int_lt(rs->n, 8);
    rs->s[rs->n] = *s;
    rs->s[rs->n].file = NULL; /* borrowed for the call only */
    rs->n++;
}

START_TEST(test_open_announces_each_segment_it_checked)
{
    struct journal_opts o;
    struct rep_and_segs rs = {0};
    opts_init(&o, JOURNAL_SYNC_BATCH, 1, &rs.rep);
    o.segment = seg_list_cb;
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 4), 0);
    ck_assert_int_eq(commit_batch(j, 7), 0);
    journal_close(j);
    char paths[PATHS_MAX][512];
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 2);
    journal_close(open_ok(&o));
    ck_assert_int_eq(rs.n, 2);
    ck_assert_uint_eq(rs.s[0].first_seq, 1);
    ck_assert_uint_eq(rs.s[0].last_seq, 4);
    ck_assert_uint_eq(rs.s[0].records, 4);
    ck_assert_uint_eq(rs.s[0].blocks, 1);
    ck_assert_uint_eq(rs.s[0].bytes, file_size(paths[0]));
    ck_assert_uint_eq(rs.s[1].first_seq, 5);
    ck_assert_uint_eq(rs.s[1].last_seq, 11);
    ck_assert_uint_eq(rs.s[1].records, 7);
    ck_assert_uint_eq(rs.s[1].bytes, file_size(paths[1]));
}
END_TEST

START_TEST(test_readonly_open_reports_a_torn_tail_and_changes_nothing)
{
    struct journal_opts o;
    struct reports rep = {0};
    char path[512], err[256];
    uint64_t offs[3];
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    three_blocks(&o, path, offs);
    uint64_t size = file_size(path);
    ck_assert_int_eq(truncate(path, (off_t)(size - 5)), 0);
    o.readonly = 1;
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(rep.n, 1);
    ck_assert_uint_eq(rep.off, offs[2]);
    ck_assert_uint_eq(rep.bytes, size - 5 - offs[2]);
    ck_assert_msg(strstr(rep.reason, "torn tail") && strstr(rep.reason, "read-only"), "%s",
                  rep.reason);
    ck_assert_uint_eq(file_size(path), size - 5); /* reported, not cut */
    ck_assert_uint_eq(journal_next_seq(j), 8);
    check_starts_at(j, 1, 7); /* reads stop before the tail */
    ck_assert_int_eq(commit_batch(j, 1), -ERR_READONLY);
    ck_assert_int_eq(journal_compact(j, UINT64_MAX, err, sizeof err), -ERR_READONLY);
    journal_close(j);
    /* The next read-write open cuts it, as the server does at start. */
    o.readonly = 0;
    rep.n = 0;
    check_contents(&o, 1, 7);
    ck_assert_int_eq(rep.n, 1);
    ck_assert_uint_eq(file_size(path), offs[2]);
}
END_TEST

START_TEST(test_readonly_open_leaves_an_interrupted_segment_in_place)
{
    struct journal_opts o;
    struct reports rep = {0};
    char paths[PATHS_MAX][512], err[256];
    opts_init(&o, JOURNAL_SYNC_BATCH, 1, &rep);
    struct journal *j = open_ok(&o);
    ck_assert_int_eq(commit_batch(j, 4), 0);
    ck_assert_int_eq(commit_batch(j, 4), 0);
    journal_close(j);
    ck_assert_int_eq(seg_paths(paths, PATHS_MAX), 2);
    ck_assert_int_eq(truncate(paths[1], 10), 0);
    o.readonly = 1;
    j = open_ok(&o);
    ck_assert_int_eq(rep.n, 1);
    ck_assert_str_eq(rep.file, paths[1]);
    ck_assert_msg(strstr(rep.reason, "read-only"), "%s", rep.reason);
    ck_assert_uint_eq(journal_next_seq(j), 5);
    check_starts_at(j, 1, 4);
    journal_close(j);
    ck_assert_int_eq(access(paths[1], F_OK), 0);
    /* A read-only open of a missing directory fails and makes nothing. */
    snprintf(paths[0], sizeof paths[0], "%s/nothing-here", g_dir);
    o.dir = paths[0];
    ck_assert_int_eq(open_fails(&o, err, sizeof err), -ENOENT);
    ck_assert_msg(strstr(err, "nothing-here"), "%s", err);
    ck_assert_int_eq(access(paths[0], F_OK), -1);
}
END_TEST

/* ---- throughput: printed, not asserted ---- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* No ck_assert per record: Check writes down every passing one, which
 * would be what the printout measures. */
static int bench_cb(void *arg, const struct jrec *r)
{
    uint64_t *n = arg;
    if (r->len != 200 || r->seq != *n + 1)
        return -ERR_CORRUPT;
    (*n)++;
    return 0;
}

START_TEST(test_throughput_printout)
{
    const char *env = getenv("STANZAD_BENCH_EVENTS");
    uint64_t events = env ? strtoull(env, NULL, 10) : 100000;
    uint64_t batches = (events + 999) / 1000;
    struct journal_opts o;
    struct reports rep = {0};
    opts_init(&o, JOURNAL_SYNC_BATCH, 0, &rep);
    struct journal *j = open_ok(&o);
    uint8_t p[200];
    double t = now_s();
    for (uint64_t b = 0; b < batches; b++) {
        for (int i = 0; i < 1000; i++) {
            uint64_t s = journal_next_seq(j);
            snprintf((char *)p, sizeof p, "<message to='user%" PRIu64 "@example.org' id='%"
                     PRIu64 "' type='chat'><body>hello there, number %" PRIu64 "</body>"
                     "</message>", s % 977, s, s);
            memset(p + strlen((char *)p), ' ', sizeof p - strlen((char *)p));
            journal_append(j, 4, T0_US + (int64_t)s, p, sizeof p);
        }
        struct jbatch *bt = journal_seal(j);
        ck_assert_int_eq(journal_commit(j, bt), 0);
        journal_batch_free(bt);
    }
    double w = now_s() - t;
    journal_close(j);
    t = now_s();
    j = open_ok(&o);
    double op = now_s() - t;
    uint64_t n = 0;
    char err[256];
    t = now_s();
    ck_assert_int_eq(journal_read(j, 1, bench_cb, &n, err, sizeof err), 0);
    double rd = now_s() - t;
    journal_close(j);
    ck_assert_uint_eq(n, batches * 1000);
    printf("journal: %" PRIu64 " events of 200 B in batches of 1000, SYNC_BATCH: %.0f durable "
           "events/s; open (verify) %.3f s; read %.0f records/s\n",
           n, (double)n / w, op, (double)n / rd);
}
END_TEST

/* ---- journal_key ---- */

static void key_path(char *out, size_t n) { snprintf(out, n, "%s/journal.key", g_dir); }

START_TEST(test_key_is_created_0600_and_read_back)
{
    char path[512], err[256];
    uint8_t k1[JOURNAL_KEY_LEN], k2[JOURNAL_KEY_LEN], zero[JOURNAL_KEY_LEN] = {0};
    key_path(path, sizeof path);
    ck_assert_int_eq(journal_key_load(path, k1, err, sizeof err), 0);
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert_uint_eq(st.st_mode & 0777, 0600);
    ck_assert_uint_eq(st.st_size, JOURNAL_KEY_LEN);
    ck_assert(memcmp(k1, zero, JOURNAL_KEY_LEN) != 0);
    ck_assert_int_eq(journal_key_load(path, k2, err, sizeof err), 0);
    ck_assert(memcmp(k1, k2, JOURNAL_KEY_LEN) == 0);
    size_t len;
    uint8_t *p = slurp(path, &len);
    ck_assert(memcmp(p, k1, JOURNAL_KEY_LEN) == 0);
    free(p);
}
END_TEST

START_TEST(test_key_from_environment_touches_no_file)
{
    char path[512], err[256], hex[65];
    uint8_t k[JOURNAL_KEY_LEN];
    key_path(path, sizeof path);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02X", 255 - i);
    setenv("STANZAD_JOURNAL_KEY", hex, 1);
    ck_assert_int_eq(journal_key_load(path, k, err, sizeof err), 0);
    for (int i = 0; i < 32; i++)
        ck_assert_uint_eq(k[i], 255 - i);
    ck_assert_int_eq(access(path, F_OK), -1);
    hex[63] = 'g';
    setenv("STANZAD_JOURNAL_KEY", hex, 1);
    ck_assert_int_eq(journal_key_load(path, k, err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "STANZAD_JOURNAL_KEY"), "%s", err);
    setenv("STANZAD_JOURNAL_KEY", "00ff", 1);
    ck_assert_int_eq(journal_key_load(path, k, err, sizeof err), -ERR_CONFIG);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

/* journal_key_command: its output (hex, white space around it ignored)
 * is the key; failing, silent, malformed or overlong output is an error
 * that never echoes the output; the variable wins over the command, and
 * no key file is made or read while a command is set. */
START_TEST(test_key_from_command)
{
    char path[512], err[256], hex[65], cmd[160];
    uint8_t k[JOURNAL_KEY_LEN];
    key_path(path, sizeof path);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", i + 1);
    snprintf(cmd, sizeof cmd, "printf '  %s\\n'", hex);
    ck_assert_int_eq(journal_key_obtain(path, cmd, 1, k, err, sizeof err), 0);
    for (int i = 0; i < 32; i++)
        ck_assert_uint_eq(k[i], i + 1);
    ck_assert_int_eq(access(path, F_OK), -1);
    static const struct {
        const char *cmd, *want;
    } bad[] = {
        {"echo " "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20; exit 3",
         "exit status 3"},
        {"true", "printed nothing"},
        {"echo secretsecret", "not 64 hex digits"},
        {"echo 0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1fzz",
         "not 64 hex digits"},
        {"head -c 100000 /dev/zero | tr '\\0' a", "more than"},
        {"kill -9 $$", "signal 9"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = 0;
        ck_assert_int_lt(journal_key_obtain(path, bad[i].cmd, 1, k, err, sizeof err), 0);
        ck_assert_msg(strstr(err, bad[i].want) && strstr(err, "journal_key_command"), "%s: %s",
                      bad[i].cmd, err);
        ck_assert_msg(!strstr(err, "secret") && !strstr(err, "0102"), "output echoed: %s", err);
        ck_assert_int_eq(access(path, F_OK), -1);
    }
    /* The variable comes first: the (failing) command is not even run. */
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", 0xa0 + i);
    setenv("STANZAD_JOURNAL_KEY", hex, 1);
    ck_assert_int_eq(journal_key_obtain(path, "exit 1", 1, k, err, sizeof err), 0);
    ck_assert_uint_eq(k[0], 0xa0);
    unsetenv("STANZAD_JOURNAL_KEY");
    /* No command, no file, create 0 (offline tools): an error, no file made. */
    ck_assert_int_lt(journal_key_obtain(path, "", 0, k, err, sizeof err), 0);
    ck_assert_int_eq(access(path, F_OK), -1);
}
END_TEST

START_TEST(test_key_file_open_to_others_is_refused)
{
    char path[512], err[256];
    uint8_t k[JOURNAL_KEY_LEN];
    key_path(path, sizeof path);
    ck_assert_int_eq(journal_key_load(path, k, err, sizeof err), 0);
    ck_assert_int_eq(chmod(path, 0640), 0);
    ck_assert_int_eq(journal_key_load(path, k, err, sizeof err), -ERR_CONFIG);
    ck_assert_msg(strstr(err, "group or others") && strstr(err, "0640"), "%s", err);
    ck_assert_int_eq(chmod(path, 0604), 0);
    ck_assert_int_eq(journal_key_load(path, k, err, sizeof err), -ERR_CONFIG);
}
END_TEST

START_TEST(test_key_file_of_wrong_size_is_refused)
{
    char path[512], err[256];
    uint8_t k[JOURNAL_KEY_LEN];
    key_path(path, sizeof path);
    int fd = open(path, O_WRONLY | O_CREAT, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "short", 5), 5);
    close(fd);
    ck_assert_int_eq(journal_key_load(path, k, err, sizeof err), -ERR_CORRUPT);
    ck_assert_msg(strstr(err, "holds 5 bytes"), "%s", err);
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
    Suite *s = suite_create("journal");
    TCase *tc = tcase("journal");
    tcase_add_test(tc, test_crc32c_matches_rfc3720_vectors);
    tcase_add_test(tc, test_record_round_trip_and_checksum);
    tcase_add_test(tc, test_block_seal_open_round_trip_lz4_and_stored);
    tcase_add_test(tc, test_format_worked_example);
    tcase_add_test(tc, test_empty_journal_writes_nothing);
    tcase_add_loop_test(tc, test_round_trip_many_batches_across_segments, JOURNAL_SYNC_ALWAYS,
                        JOURNAL_SYNC_NONE + 1);
    tcase_add_test(tc, test_compacted_journal_starts_past_one);
    tcase_add_test(tc, test_new_journal_starts_at_the_first_seq_option);
    tcase_add_test(tc, test_stray_seg_names_are_reported_and_ignored);
    tcase_add_test(tc, test_reopen_continues_with_contiguous_seqs_in_a_new_segment);
    tcase_add_test(tc, test_read_from_a_middle_seq);
    tcase_add_test(tc, test_read_stops_with_the_callbacks_code);
    tcase_add_test(tc, test_sync_always_writes_one_block_per_record);
    tcase_add_test(tc, test_large_batch_and_large_record_split_into_blocks);
    tcase_add_test(tc, test_payload_is_sealed_on_disk);
    tcase_add_test(tc, test_second_open_is_refused_by_the_lock);
    suite_add_tcase(s, tc);

    tc = tcase("journal_crash");
    tcase_add_test(tc, test_torn_tail_at_every_cut_length_is_cut_and_reported);
    tcase_add_test(tc, test_torn_tail_with_a_zeroed_sector_is_cut);
    tcase_add_test(tc, test_torn_tail_with_a_zeroed_block_header_is_cut);
    tcase_add_test(tc, test_interrupted_segment_creation_is_removed);
    suite_add_tcase(s, tc);

    tc = tcase("journal_corrupt");
    tcase_add_test(tc, test_bit_flip_in_a_middle_block_stops_open);
    tcase_add_test(tc, test_bit_flip_in_the_last_block_is_damage_not_a_torn_tail);
    tcase_add_test(tc, test_bit_flip_in_an_earlier_segment_stops_open);
    tcase_add_test(tc, test_segment_header_damage_stops_open);
    tcase_add_test(tc, test_unknown_version_and_tampered_header_are_refused);
    tcase_add_test(tc, test_missing_middle_segment_is_a_seq_gap);
    tcase_add_test(tc, test_segment_named_unlike_its_header_is_refused);
    tcase_add_test(tc, test_seq_gap_in_authentic_blocks_is_refused);
    tcase_add_test(tc, test_replayed_block_at_the_end_is_refused);
    tcase_add_test(tc, test_wrong_key_is_named);
    tcase_add_test(tc, test_damage_after_open_stops_read_naming_offset);
    suite_add_tcase(s, tc);

    tc = tcase("journal_fault");
    tcase_add_loop_test(tc, test_failed_commit_goes_read_only_and_loses_nothing_acknowledged, 0,
                        2);
    tcase_add_test(tc, test_lazy_batch_has_no_fsync_of_its_own);
    tcase_add_test(tc, test_failed_segment_creation_leaves_no_segment);
    suite_add_tcase(s, tc);

    tc = tcase("journal_compact");
    tcase_add_test(tc, test_compact_removes_only_wholly_covered_segments);
    tcase_add_test(tc, test_compact_never_removes_the_newest_segment);
    tcase_add_test(tc, test_compact_with_nothing_to_remove_is_a_noop);
    tcase_add_test(tc, test_compact_after_a_failed_commit_keeps_the_newest_record);
    tcase_add_test(tc, test_compact_overlapping_commits_loses_nothing_it_keeps);
    suite_add_tcase(s, tc);

    tc = tcase("journal_readonly");
    tcase_add_test(tc, test_open_announces_each_segment_it_checked);
    tcase_add_test(tc, test_readonly_open_reports_a_torn_tail_and_changes_nothing);
    tcase_add_test(tc, test_readonly_open_leaves_an_interrupted_segment_in_place);
    suite_add_tcase(s, tc);

    tc = tcase("journal_key");
    tcase_add_test(tc, test_key_is_created_0600_and_read_back);
    tcase_add_test(tc, test_key_from_environment_touches_no_file);
    tcase_add_test(tc, test_key_from_command);
    tcase_add_test(tc, test_key_file_open_to_others_is_refused);
    tcase_add_test(tc, test_key_file_of_wrong_size_is_refused);
    suite_add_tcase(s, tc);

    tc = tcase("journal_throughput");
    tcase_add_test(tc, test_throughput_printout);
    suite_add_tcase(s, tc);

    return run_suite(s);
}
