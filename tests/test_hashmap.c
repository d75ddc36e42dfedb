/* test_hashmap.c: the one hash table (formats/hashmap.c) and hash functions
 * (formats/hash.h): exact keys across growth, hashed keys that collide, reserve,
 * clear, and out-of-memory at every allocation leaving the map unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "formats/alloc.h"
#include "formats/hash.h"
#include "formats/hashmap.h"

static void test_hashmap_exact_keys_survive_growth(void **state)
{
    (void)state;
    pf_hmap *m = pf_hmap_new(0);
    assert_non_null(m);
    for (uint32_t i = 0; i < 100000; i++) {
        int inserted = 0;
        uint32_t *v = pf_hmap_slot(m, (uint64_t)i << 32 | (i * 7u), &inserted);
        assert_non_null(v);
        assert_int_equal(inserted, 1);
        assert_int_equal(*v, PF_HMAP_NONE);
        *v = i;
    }
    assert_int_equal(pf_hmap_count(m), 100000);
    for (uint32_t i = 0; i < 100000; i++)
        assert_int_equal(pf_hmap_get(m, (uint64_t)i << 32 | (i * 7u)), i);
    assert_int_equal(pf_hmap_get(m, 12345), PF_HMAP_NONE);
    int inserted = 1;
    assert_int_equal(*pf_hmap_slot(m, 5ull << 32 | 35u, &inserted), 5);
    assert_int_equal(inserted, 0);
    /* Load stays at most 3/4: 16 bytes a slot. */
    assert_true(pf_hmap_bytes(m) <= 100000 * 16 * 4 / 3 * 2 + 64);
    pf_hmap_clear(m);
    assert_int_equal(pf_hmap_count(m), 0);
    assert_int_equal(pf_hmap_get(m, 5ull << 32 | 35u), PF_HMAP_NONE);
    pf_hmap_free(m);
    pf_hmap_free(NULL);
}

static const char *words[] = { "alpha", "beta", "gamma", "delta", "alpha2" };
static const char *wanted;

static int eq_word(void *ctx, uint32_t v)
{
    (void)ctx;
    return strcmp(words[v], wanted) == 0;
}

static void test_hashmap_hashed_keys_share_a_hash(void **state)
{
    (void)state;
    pf_hmap *m = pf_hmap_new(2);
    /* Every word under one hash: find must compare each candidate. */
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(pf_hmap_add(m, 42, i), 0);
    for (uint32_t i = 0; i < 5; i++) {
        wanted = words[i];
        assert_int_equal(pf_hmap_find(m, 42, eq_word, NULL), i);
    }
    wanted = "omega";
    assert_int_equal(pf_hmap_find(m, 42, eq_word, NULL), PF_HMAP_NONE);
    wanted = "alpha";
    assert_int_equal(pf_hmap_find(m, 43, eq_word, NULL), PF_HMAP_NONE);
    pf_hmap_free(m);
}

static void test_hashmap_reserve_means_no_allocation(void **state)
{
    (void)state;
    pf_hmap *m = pf_hmap_new(0);
    assert_int_equal(pf_hmap_reserve(m, 1000), 0);
    pf_alloc_fail_after(0);
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(pf_hmap_add(m, pf_hash_u64(i), i), 0);
    pf_alloc_fail_after(-1);
    assert_int_equal(pf_hmap_count(m), 1000);
    pf_hmap_free(m);
}

static void test_hashmap_out_of_memory_leaves_map_unchanged(void **state)
{
    (void)state;
    long base = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        pf_alloc_fail_after(n);
        pf_hmap *m = pf_hmap_new(0);
        int failed = m == NULL;
        uint32_t done = 0;
        for (uint32_t i = 0; m != NULL && i < 200; i++) {
            uint32_t *v = pf_hmap_slot(m, i, NULL);
            if (v == NULL) {
                failed = 1;
                break;
            }
            *v = i;
            done++;
        }
        pf_alloc_fail_after(-1);
        if (m != NULL) {
            assert_int_equal(pf_hmap_count(m), done);
            for (uint32_t i = 0; i < done; i++)
                assert_int_equal(pf_hmap_get(m, i), i);
        }
        pf_hmap_free(m);
        assert_int_equal(pf_alloc_live_blocks(), base);
        if (!failed)
            break;
    }
}

static void test_hash_bytes_reads_only_its_length(void **state)
{
    (void)state;
    char a[32], b[32];
    memset(a, 'x', sizeof a);
    memset(b, 'x', sizeof b);
    b[13] = 'y';   /* past the hashed length: must not matter */
    for (size_t n = 0; n <= 13; n++)
        assert_true(pf_hash_bytes(a, n) == pf_hash_bytes(b, n));
    assert_true(pf_hash_bytes(a, 14) != pf_hash_bytes(b, 14));
    assert_true(pf_hash_bytes("ab", 2) != pf_hash_bytes("ba", 2));
    assert_true(pf_hash_bytes("", 0) != pf_hash_bytes("\0", 1));
    assert_true(pf_hash_pair(1, 2) != pf_hash_pair(2, 1));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hashmap_exact_keys_survive_growth),
        cmocka_unit_test(test_hashmap_hashed_keys_share_a_hash),
        cmocka_unit_test(test_hashmap_reserve_means_no_allocation),
        cmocka_unit_test(test_hashmap_out_of_memory_leaves_map_unchanged),
        cmocka_unit_test(test_hash_bytes_reads_only_its_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
