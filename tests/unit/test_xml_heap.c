/* test_xml_heap: kernel/xml_heap.c. Blocks never overlap and keep their
 * bytes through realloc, every class and the large path are used, and
 * memory goes back to the system once every block of a slab is freed. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/xml_heap.h"
#include "fixture.h"

#define LIVE_MAX 4000

struct live {
    unsigned char *p;
    size_t n;
    unsigned char tag;
};

static void fill(struct live *l)
{
    memset(l->p, l->tag, l->n);
}

static void check_fill(const struct live *l)
{
    size_t i = 0;
    while (i < l->n && l->p[i] == l->tag)
        i++;
    ck_assert_msg(i == l->n, "block %p byte %zu changed", (void *)l->p, i);
}

static size_t pick_size(uint64_t *seed)
{
    *seed = *seed * 6364136223846793005u + 1442695040888963407u;
    unsigned r = (unsigned)(*seed >> 33);
    switch (r % 8) {
    case 0: return 1 + r % 31;          /* below the smallest class */
    case 1: return 32;                  /* exactly a class */
    case 2: return 33 + r % 500;
    case 3: return 1000 + r % 3000;
    case 4: return r % 2 ? 16384 : 129 + r % 2000; /* the largest class; the stepped ones */
    case 5: return r % 16 ? 1 + r % 64 : 16385 + r % 100000; /* now and then a mapping of its own */
    default: return 1 + r % 4096;
    }
}

START_TEST(test_random_blocks_never_overlap_and_all_memory_returns)
{
    static struct live live[LIVE_MAX];
    size_t nlive = 0;
    uint64_t seed = 42;
    for (unsigned step = 0; step < 300000; step++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        unsigned op = (unsigned)(seed >> 40) % 3;
        if (nlive < LIVE_MAX && (op == 0 || nlive == 0)) {
            struct live *l = &live[nlive++];
            l->n = pick_size(&seed);
            l->p = xml_heap_malloc(l->n);
            ck_assert_ptr_nonnull(l->p);
            ck_assert_uint_eq((uintptr_t)l->p % 16, 0);
            l->tag = (unsigned char)step;
            fill(l);
        } else if (op == 1) {
            size_t i = (size_t)(seed >> 20) % nlive;
            check_fill(&live[i]);
            xml_heap_free(live[i].p);
            live[i] = live[--nlive];
        } else {
            size_t i = (size_t)(seed >> 20) % nlive;
            struct live *l = &live[i];
            check_fill(l);
            size_t n = pick_size(&seed);
            l->p = xml_heap_realloc(l->p, n);
            ck_assert_ptr_nonnull(l->p);
            size_t keep = n < l->n ? n : l->n;
            size_t k = 0;
            while (k < keep && l->p[k] == l->tag)
                k++;
            ck_assert_msg(k == keep, "realloc lost byte %zu of %zu", k, keep);
            l->n = n;
            fill(l);
        }
    }
    for (size_t i = 0; i < nlive; i++) {
        check_fill(&live[i]);
        xml_heap_free(live[i].p);
    }
    struct xml_heap_stats st;
    xml_heap_stats(&st);
    ck_assert_uint_eq(st.slabs, 0);
    ck_assert_uint_eq(st.large, 0);
    ck_assert_uint_eq(st.bytes_mapped, 0);
}
END_TEST

START_TEST(test_a_slab_goes_back_when_its_last_block_is_freed)
{
    void *a = xml_heap_malloc(100), *b = xml_heap_malloc(100);
    struct xml_heap_stats st;
    xml_heap_stats(&st);
    ck_assert_uint_eq(st.slabs, 1); /* one class, one slab */
    ck_assert_uint_eq(st.bytes_mapped, 64u << 10);
    xml_heap_free(a);
    xml_heap_stats(&st);
    ck_assert_uint_eq(st.slabs, 1);
    xml_heap_free(b);
    xml_heap_stats(&st);
    ck_assert_uint_eq(st.slabs, 0);
    ck_assert_uint_eq(st.bytes_mapped, 0);
    void *big = xml_heap_malloc(200000);
    xml_heap_stats(&st);
    ck_assert_uint_eq(st.large, 1);
    ck_assert_uint_ge(st.bytes_mapped, 200000);
    xml_heap_free(big);
    xml_heap_free(NULL);
    xml_heap_stats(&st);
    ck_assert_uint_eq(st.bytes_mapped, 0);
}
END_TEST

START_TEST(test_realloc_within_its_class_keeps_the_block)
{
    char *p = xml_heap_malloc(40); /* class 48 */
    memcpy(p, "0123456789", 10);
    ck_assert_ptr_eq(xml_heap_realloc(p, 48), p);
    char *q = xml_heap_realloc(p, 49); /* next class: moved, bytes kept */
    ck_assert_ptr_ne(q, p);
    ck_assert_int_eq(memcmp(q, "0123456789", 10), 0);
    char *r = xml_heap_realloc(q, 20); /* a class too big: moved down */
    ck_assert_int_eq(memcmp(r, "0123456789", 10), 0);
    xml_heap_free(r);
    char *n = xml_heap_realloc(NULL, 10);
    ck_assert_ptr_nonnull(n);
    xml_heap_free(n);
    struct xml_heap_stats st;
    xml_heap_stats(&st);
    ck_assert_uint_eq(st.bytes_mapped, 0);
}
END_TEST

/* Every size up to the largest class fits the class it gets: realloc to
 * the same size keeps the block, and all of it can be written. */
START_TEST(test_every_small_size_fits_its_class)
{
    for (size_t n = 1; n <= 16384; n++) {
        unsigned char *p = xml_heap_malloc(n);
        memset(p, 0xab, n);
        ck_assert_ptr_eq(xml_heap_realloc(p, n), p);
        xml_heap_free(p);
    }
    struct xml_heap_stats st;
    xml_heap_stats(&st);
    ck_assert_uint_eq(st.bytes_mapped, 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("xml_heap");
    TCase *tc = tcase_create("heap");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_a_slab_goes_back_when_its_last_block_is_freed);
    tcase_add_test(tc, test_realloc_within_its_class_keeps_the_block);
    tcase_add_test(tc, test_every_small_size_fits_its_class);
    tcase_add_test(tc, test_random_blocks_never_overlap_and_all_memory_returns);
    suite_add_tcase(s, tc);
    return run_suite(s);
}
