/* test_journal_verify: journal_opts.verify_on_read (journal/journal.h).
 *
 * Open then authenticates only the newest segment and walks the block
 * headers of the others; the first journal_read must authenticate every
 * block of those, whatever its `from`, and stop at damage naming the
 * file and the offset, as open does without the option. Nothing may be
 * skipped silently: not before `from` (a snapshot covers it), not when
 * `from` is past the end, not a header-chain break. */
#include <check.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/block.h"
#include "journal/journal.h"
#include "kernel/err.h"
#include "kernel/le.h"
#include "fixture.h"

#define SEGS 3
#define BATCHES 2 /* per segment */
#define PER_BATCH 4

static char g_dir[64];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void setup(void)
{
    strcpy(g_dir, "/tmp/test_jverify.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
}

static void teardown(void) { nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static void opts_init(struct journal_opts *o, int verify_on_read)
{
    memset(o, 0, sizeof *o);
    o->dir = g_dir;
    for (int i = 0; i < JOURNAL_KEY_LEN; i++)
        o->key[i] = (uint8_t)(3 * i);
    o->sync = JOURNAL_SYNC_NONE;
    o->verify_on_read = verify_on_read;
}

/* SEGS segments (each open starts one), BATCHES blocks each. */
static void fill(void)
{
    struct journal_opts o;
    opts_init(&o, 0);
    for (int s = 0; s < SEGS; s++) {
        struct journal *j;
        char err[256];
        ck_assert_int_eq(journal_open(&j, &o, err, sizeof err), 0);
        for (int b = 0; b < BATCHES; b++) {
            for (int i = 0; i < PER_BATCH; i++) {
                char p[64];
                int n = snprintf(p, sizeof p, "<e n='%d'/>", (s * BATCHES + b) * PER_BATCH + i);
                journal_append(j, 1, 1000 + i, (const uint8_t *)p, (size_t)n);
            }
            struct jbatch *bt = journal_seal(j);
            ck_assert_int_eq(journal_commit(j, bt), 0);
            journal_batch_free(bt);
        }
        journal_close(j);
    }
}

static void seg_path(int s, char out[512])
{
    uint64_t first = (uint64_t)s * BATCHES * PER_BATCH + 1;
    snprintf(out, 512, "%s/%016" PRIx64 ".seg", g_dir, first);
}

/* The offset of the second block of segment s. */
static uint64_t second_block(int s)
{
    char path[512];
    uint8_t h[BLOCK_HDR_BYTES];
    seg_path(s, path);
    int fd = open(path, O_RDONLY);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, h, sizeof h, SEG_HDR_BYTES), (ssize_t)sizeof h);
    close(fd);
    return SEG_HDR_BYTES + le_get32(h + BLOCK_OFF_LEN);
}

static void flip(int s, uint64_t off)
{
    char path[512];
    uint8_t b;
    seg_path(s, path);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
    b ^= 0x10;
    ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
    close(fd);
}

static int count_cb(void *arg, const struct jrec *r)
{
    (void)r;
    ++*(uint64_t *)arg;
    return 0;
}

/* Opens with verify_on_read (must succeed), reads from `from`, and
 * expects the damage of segment s at offset off. */
static void read_fails_at(int s, uint64_t off, uint64_t from)
{
    struct journal_opts o;
    struct journal *j;
    char err[512] = "", path[512], at[64];
    uint64_t n = 0;
    opts_init(&o, 1);
    ck_assert_msg(journal_open(&j, &o, err, sizeof err) == 0, "open: %s", err);
    ck_assert_int_eq(journal_read(j, from, count_cb, &n, err, sizeof err), -ERR_CORRUPT);
    seg_path(s, path);
    snprintf(at, sizeof at, "offset %" PRIu64 ":", off);
    ck_assert_msg(strstr(err, path) && strstr(err, at), "from %" PRIu64 ": %s", from, err);
    /* Still damaged on a second read: no read passes it. */
    ck_assert_int_eq(journal_read(j, from, count_cb, &n, err, sizeof err), -ERR_CORRUPT);
    journal_close(j);
}

START_TEST(test_clean_journal_reads_whole)
{
    fill();
    struct journal_opts o;
    struct journal *j;
    char err[256];
    uint64_t total = SEGS * BATCHES * PER_BATCH, n = 0;
    opts_init(&o, 1);
    ck_assert_int_eq(journal_open(&j, &o, err, sizeof err), 0);
    ck_assert_int_eq(journal_read(j, 1, count_cb, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, total);
    n = 0;
    ck_assert_int_eq(journal_read(j, total - 1, count_cb, &n, err, sizeof err), 0);
    ck_assert_uint_eq(n, 2);
    journal_close(j);
}
END_TEST

START_TEST(test_bit_flip_in_an_earlier_segment_stops_the_first_read)
{
    fill();
    uint64_t off = second_block(0);
    flip(0, off + BLOCK_HDR_BYTES + 2); /* the body: only the tag catches it */
    /* Without the option, open finds it. */
    struct journal_opts o;
    struct journal *j;
    char err[512];
    opts_init(&o, 0);
    ck_assert_int_eq(journal_open(&j, &o, err, sizeof err), -ERR_CORRUPT);
    /* With it, every read finds it: from the start, from a later segment
     * (a snapshot covers the damaged one), from past the end. */
    uint64_t total = SEGS * BATCHES * PER_BATCH;
    const uint64_t froms[] = {1, BATCHES * PER_BATCH + 1, total, total + 1};
    for (size_t i = 0; i < sizeof froms / sizeof *froms; i++)
        read_fails_at(0, off, froms[i]);
}
END_TEST

START_TEST(test_middle_segment_and_tag_damage)
{
    fill();
    uint64_t off = second_block(1);
    char path[512];
    struct stat st;
    seg_path(1, path);
    ck_assert_int_eq(stat(path, &st), 0);
    flip(1, (uint64_t)st.st_size - 1); /* the last block's tag */
    uint64_t total = SEGS * BATCHES * PER_BATCH;
    read_fails_at(1, off, 1);
    read_fails_at(1, off, total);
}
END_TEST

START_TEST(test_header_damage_still_stops_open)
{
    fill();
    uint64_t off = second_block(0);
    flip(0, off + BLOCK_OFF_FIRST_SEQ); /* block header: its CRC fails at open */
    struct journal_opts o;
    struct journal *j;
    char err[512], path[512], at[64];
    opts_init(&o, 1);
    ck_assert_int_eq(journal_open(&j, &o, err, sizeof err), -ERR_CORRUPT);
    seg_path(0, path);
    snprintf(at, sizeof at, "offset %" PRIu64 ":", off);
    ck_assert_msg(strstr(err, path) && strstr(err, at), "%s", err);
}
END_TEST

START_TEST(test_newest_segment_is_authenticated_at_open)
{
    fill();
    uint64_t off = second_block(SEGS - 1);
    flip(SEGS - 1, off + BLOCK_HDR_BYTES + 1);
    struct journal_opts o;
    struct journal *j;
    char err[512], path[512], at[64];
    opts_init(&o, 1);
    /* Damage, not a torn tail: the open refuses and cuts nothing. */
    ck_assert_int_eq(journal_open(&j, &o, err, sizeof err), -ERR_CORRUPT);
    seg_path(SEGS - 1, path);
    snprintf(at, sizeof at, "offset %" PRIu64 ":", off);
    ck_assert_msg(strstr(err, path) && strstr(err, at), "%s", err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("journal_verify");
    TCase *t = tcase_create("verify_on_read");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_clean_journal_reads_whole);
    tcase_add_test(t, test_bit_flip_in_an_earlier_segment_stops_the_first_read);
    tcase_add_test(t, test_middle_segment_and_tag_damage);
    tcase_add_test(t, test_header_damage_still_stops_open);
    tcase_add_test(t, test_newest_segment_is_authenticated_at_open);
    suite_add_tcase(s, t);
    return run_suite(s);
}
