/* test_erasure: crypto-erasure of message content (journal/erasure.h).
 *
 * The key table on its own (seal, unseal, destroy, what survives a
 * reopen, what the file holds afterwards) and through the journal
 * (sealed records read back in clear, erased records read back as frames
 * without content, before and after a reopen, and keys dropped when
 * compaction removes their records). */
#include <check.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "journal/erasure.h"
#include "journal/journal.h"
#include "kernel/err.h"
#include "kernel/mem.h"
#include "fixture.h"

static char g_dir[64];
static uint8_t g_master[32];

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)st, (void)flag, (void)f;
    return remove(p);
}

static void setup(void)
{
    strcpy(g_dir, "/tmp/test_erasure.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(g_dir));
    for (int i = 0; i < 32; i++)
        g_master[i] = (uint8_t)(0xa0 + i);
    unsetenv("STANZAD_JOURNAL_KEY");
}

static void teardown(void) { nftw(g_dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS); }

static struct erasure *table_open(int readonly)
{
    struct erasure *e = NULL;
    char err[256] = "";
    int rc = erasure_open(&e, g_dir, g_master, readonly, err, sizeof err);
    ck_assert_msg(rc == 0, "erasure_open: %s", err);
    return e;
}

static void flush(struct erasure *e)
{
    struct erasure_writes *w = erasure_take(e);
    ck_assert_int_eq(erasure_write(e, w, 1), 0);
    erasure_writes_free(w);
}

static const char text[] = "<message><body>meet me at the usual place</body></message>";

static void seal(struct erasure *e, uint64_t seq, int durable, struct buf *out)
{
    buf_reset(out);
    erasure_seal(e, seq, durable, (const uint8_t *)text, sizeof text - 1, out);
    ck_assert_uint_eq(out->len, sizeof text - 1 + ERASURE_TAG_LEN);
    ck_assert_ptr_null(memmem(out->p, out->len, "usual place", 11));
}

static int unseal_is_text(struct erasure *e, uint64_t seq, const struct buf *sealed)
{
    struct buf plain;
    buf_init(&plain);
    int rc = erasure_unseal(e, seq, sealed->p, sealed->len, &plain);
    if (rc == 0)
        rc = plain.len == sizeof text - 1 && memcmp(plain.p, text, plain.len) == 0 ? 0 : -1000;
    buf_free(&plain);
    return rc;
}

START_TEST(test_seal_unseal_destroy)
{
    struct erasure *e = table_open(0);
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);
    seal(e, 7, 1, &a);
    seal(e, 8, 0, &b);
    ck_assert_int_eq(unseal_is_text(e, 7, &a), 0);
    ck_assert_int_eq(unseal_is_text(e, 8, &b), 0);
    ck_assert_uint_eq(erasure_count(e), 2);
    /* Each record has its own key, tied to its seq. */
    ck_assert_int_eq(unseal_is_text(e, 8, &a), -ERR_CORRUPT);
    a.p[3] ^= 1;
    ck_assert_int_eq(unseal_is_text(e, 7, &a), -ERR_CORRUPT);
    a.p[3] ^= 1;
    ck_assert_int_eq(erasure_destroy(e, 7), 1);
    ck_assert_int_eq(erasure_destroy(e, 7), 0);
    ck_assert_int_eq(erasure_destroy(e, 8), 1);
    ck_assert_int_eq(unseal_is_text(e, 7, &a), -ERR_NOTFOUND);
    ck_assert_int_eq(unseal_is_text(e, 8, &b), -ERR_NOTFOUND);
    ck_assert_uint_eq(erasure_count(e), 0);
    erasure_close(e);
    buf_free(&a);
    buf_free(&b);
}
END_TEST

START_TEST(test_durable_keys_survive_a_reopen_ephemeral_ones_do_not)
{
    struct erasure *e = table_open(0);
    struct buf a, b, c;
    buf_init(&a);
    buf_init(&b);
    buf_init(&c);
    seal(e, 1, 1, &a);
    seal(e, 2, 0, &b);
    seal(e, 3, 1, &c);
    flush(e);
    erasure_close(e);

    e = table_open(1);
    ck_assert_uint_eq(erasure_count(e), 2);
    ck_assert_int_eq(unseal_is_text(e, 1, &a), 0);
    ck_assert_int_eq(unseal_is_text(e, 2, &b), -ERR_NOTFOUND); /* memory only: a crash erases */
    ck_assert_int_eq(unseal_is_text(e, 3, &c), 0);
    erasure_close(e);

    /* A key the master key did not wrap opens nothing. */
    g_master[0] ^= 1;
    e = table_open(1);
    ck_assert_int_eq(unseal_is_text(e, 1, &a), -ERR_CORRUPT);
    erasure_close(e);
    g_master[0] ^= 1;
    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
}
END_TEST

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    uint8_t *p = xmalloc(1 << 20);
    *len = fread(p, 1, 1 << 20, f);
    fclose(f);
    return p;
}

START_TEST(test_destroy_overwrites_the_slot_on_disk_at_once)
{
    struct erasure *e = table_open(0);
    struct buf a, b;
    buf_init(&a);
    buf_init(&b);
    seal(e, 41, 1, &a);
    seal(e, 42, 1, &b);
    flush(e);
    char path[128];
    snprintf(path, sizeof path, "%s/%s", g_dir, ERASURE_FILE);
    size_t len;
    uint8_t *before = slurp(path, &len);
    ck_assert_uint_eq(len, 16 + 2 * 40);
    ck_assert_int_eq(erasure_destroy(e, 41), 1);
    /* No sync yet: the overwrite is already what any reader of the file sees. */
    size_t len2;
    uint8_t *after = slurp(path, &len2);
    ck_assert_uint_eq(len2, len);
    int slot41 = before[16] == 41 ? 16 : 56;
    for (int i = 0; i < 40; i++)
        ck_assert_uint_eq(after[slot41 + i], 0);
    ck_assert_int_ne(memcmp(before + slot41 + 8, after + slot41 + 8, 32), 0);
    erasure_close(e);

    /* The freed slot is reused; the table does not grow with traffic. */
    e = table_open(0);
    for (uint64_t s = 100; s < 150; s++) {
        seal(e, s, 1, &a);
        flush(e);
        ck_assert_int_eq(erasure_destroy(e, s), 1);
    }
    free(after);
    after = slurp(path, &len2);
    ck_assert_uint_eq(len2, 16 + 2 * 40);
    ck_assert_int_eq(unseal_is_text(e, 42, &b), 0);
    erasure_close(e);
    free(before);
    free(after);
    buf_free(&a);
    buf_free(&b);
}
END_TEST

/* A table reopened with a hole in it: disk slot i must stay slot i, or a
 * destroy zeroes another record's key (found by the crash test). */
START_TEST(test_reopen_with_free_slots_keeps_slot_positions)
{
    struct erasure *e = table_open(0);
    struct buf a, b, c;
    buf_init(&a);
    buf_init(&b);
    buf_init(&c);
    seal(e, 1, 1, &a);
    seal(e, 2, 1, &b);
    seal(e, 3, 1, &c);
    flush(e);
    ck_assert_int_eq(erasure_destroy(e, 1), 1); /* disk slot 0 is now free */
    erasure_close(e);
    e = table_open(0);
    ck_assert_int_eq(erasure_destroy(e, 3), 1);
    seal(e, 4, 1, &a); /* reuses a free slot, never one that holds seq 2 */
    flush(e);
    erasure_close(e);
    e = table_open(1);
    ck_assert_uint_eq(erasure_count(e), 2);
    ck_assert_int_eq(unseal_is_text(e, 2, &b), 0);
    ck_assert_int_eq(unseal_is_text(e, 4, &a), 0);
    ck_assert_int_eq(unseal_is_text(e, 3, &c), -ERR_NOTFOUND);
    erasure_close(e);
    buf_free(&a);
    buf_free(&b);
    buf_free(&c);
}
END_TEST

START_TEST(test_damaged_table_stops_the_open)
{
    struct erasure *e = table_open(0);
    struct buf a;
    buf_init(&a);
    seal(e, 5, 1, &a);
    flush(e);
    erasure_close(e);
    char path[128], err[256] = "";
    snprintf(path, sizeof path, "%s/%s", g_dir, ERASURE_FILE);
    ck_assert_int_eq(truncate(path, 16 + 39), 0);
    ck_assert_int_eq(erasure_open(&e, g_dir, g_master, 0, err, sizeof err), -ERR_CORRUPT);
    ck_assert_ptr_nonnull(strstr(err, ERASURE_FILE));
    buf_free(&a);
}
END_TEST

/* ---- through the journal ---- */

struct seen {
    int n;
    uint64_t seq[8];
    int erased[8];
    uint16_t type[8];
    int clear[8]; /* payload equals text */
};

static int seen_cb(void *arg, const struct jrec *r)
{
    struct seen *s = arg;
    ck_assert_int_lt(s->n, 8);
    s->seq[s->n] = r->seq;
    s->erased[s->n] = r->erased;
    s->type[s->n] = r->type;
    s->clear[s->n] = r->len == sizeof text - 1 && memcmp(r->payload, text, r->len) == 0;
    s->n++;
    return 0;
}

static struct journal *journal_at(int readonly, uint64_t seg_max)
{
    struct journal_opts o;
    memset(&o, 0, sizeof o);
    o.dir = g_dir;
    memcpy(o.key, g_master, 32);
    o.sync = JOURNAL_SYNC_BATCH;
    o.segment_bytes_max = seg_max;
    o.readonly = readonly;
    struct journal *j = NULL;
    char err[256] = "";
    ck_assert_msg(journal_open(&j, &o, err, sizeof err) == 0, "journal_open: %s", err);
    return j;
}

static void commit(struct journal *j)
{
    struct jbatch *b = journal_seal(j);
    ck_assert_int_eq(journal_commit(j, b), 0);
    journal_batch_free(b);
}

START_TEST(test_journal_sealed_records_read_clear_then_erased)
{
    struct journal *j = journal_at(0, 0);
    const uint8_t *t = (const uint8_t *)text;
    ck_assert_uint_eq(journal_append(j, 4, 1, t, sizeof text - 1), 1);
    ck_assert_uint_eq(journal_append_sealed(j, 4, 2, 0, t, sizeof text - 1), 2);
    ck_assert_uint_eq(journal_append_sealed(j, 10, 3, 1, t, sizeof text - 1), 3);
    commit(j);
    struct seen s = {0};
    char err[256];
    ck_assert_int_eq(journal_read(j, 1, seen_cb, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.n, 3);
    for (int i = 0; i < 3; i++)
        ck_assert(s.clear[i] && !s.erased[i]);
    ck_assert_uint_eq(s.type[1], 4);
    ck_assert_uint_eq(s.type[2], 10);
    ck_assert_int_eq(journal_erase(j, 2), 1);
    ck_assert_int_eq(journal_erasable(j, 2), 0);
    ck_assert_int_eq(journal_erasable(j, 3), 1);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(journal_read(j, 1, seen_cb, &s, err, sizeof err), 0);
    ck_assert(s.erased[1] && !s.clear[1] && s.type[1] == 4);
    ck_assert(!s.erased[2] && s.clear[2]);
    journal_close(j);

    /* After a reopen, the durable key is still there until erased. */
    j = journal_at(0, 0);
    ck_assert_uint_eq(journal_erasable_count(j), 1);
    ck_assert_int_eq(journal_erase(j, 3), 1);
    journal_close(j);
    j = journal_at(1, 0);
    memset(&s, 0, sizeof s);
    ck_assert_int_eq(journal_read(j, 1, seen_cb, &s, err, sizeof err), 0);
    ck_assert_int_eq(s.n, 3);
    ck_assert(s.clear[0] && s.erased[1] && s.erased[2]);
    journal_close(j);
}
END_TEST

START_TEST(test_compaction_destroys_keys_of_removed_records)
{
    struct journal *j = journal_at(0, 65536);
    uint8_t big[40000];
    memset(big, 'x', sizeof big);
    for (int i = 0; i < 6; i++) {
        journal_append_sealed(j, 10, i, 1, big, sizeof big);
        commit(j); /* one record per segment, nearly: 40 kB each into 64 kB segments */
    }
    ck_assert_uint_eq(journal_erasable_count(j), 6);
    char err[256];
    int removed = journal_compact(j, 4, err, sizeof err);
    ck_assert_int_gt(removed, 0);
    uint64_t first = journal_first_seq(j);
    for (uint64_t s = 1; s <= 6; s++)
        ck_assert_int_eq(journal_erasable(j, s), s >= first);
    journal_close(j);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("erasure");
    TCase *t = tcase_create("table");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_seal_unseal_destroy);
    tcase_add_test(t, test_durable_keys_survive_a_reopen_ephemeral_ones_do_not);
    tcase_add_test(t, test_destroy_overwrites_the_slot_on_disk_at_once);
    tcase_add_test(t, test_damaged_table_stops_the_open);
    tcase_add_test(t, test_reopen_with_free_slots_keeps_slot_positions);
    suite_add_tcase(s, t);
    t = tcase_create("journal");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_journal_sealed_records_read_clear_then_erased);
    tcase_add_test(t, test_compaction_destroys_keys_of_removed_records);
    suite_add_tcase(s, t);
    return run_suite(s);
}
