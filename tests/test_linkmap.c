/* test_linkmap.c: unit tests of collector/linkmap.c, the collector's table of pending
 * links: puts, gets by kind, removals that keep every other entry findable (against a
 * reference array, with addresses that collide in the table), growth, the entry cap,
 * the byte limit and every allocation failed in turn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collector/linkmap.h"
#include "formats/alloc.h"

static void test_linkmap_put_get_remove(void **state)
{
    (void)state;
    size_t charged = 0;
    pf_linkmap *m = pf_linkmap_new(&charged, 0, 1u << 10);
    assert_non_null(m);
    assert_true(charged > 0);
    assert_null(pf_linkmap_get(m, 0x1000, 0));
    assert_int_equal(pf_linkmap_put(m, 0x1000, -7, 0), 0);
    assert_int_equal(pf_linkmap_put(m, 0x2000, -9, 1), 0);
    pf_link_entry *e = pf_linkmap_get(m, 0x1000, 0);
    assert_non_null(e);
    assert_int_equal(e->site, -7);
    assert_int_equal(e->resolved, 0);
    e->resolved = 1;
    e->site = -11;
    assert_int_equal(pf_linkmap_get(m, 0x1000, 0)->site, -11);
    assert_null(pf_linkmap_get(m, 0x1000, 1));      /* another kind does not find it */
    assert_null(pf_linkmap_get(m, 0x2000, 0));
    assert_int_equal(pf_linkmap_get(m, 0x2000, 1)->site, -9);
    /* a reused address: the put replaces, unresolved, possibly of another kind */
    assert_int_equal(pf_linkmap_put(m, 0x1000, -13, 1), 0);
    assert_int_equal(pf_linkmap_count(m), 2);
    assert_null(pf_linkmap_get(m, 0x1000, 0));
    assert_int_equal(pf_linkmap_get(m, 0x1000, 1)->resolved, 0);
    pf_linkmap_remove(m, 0x1000);
    pf_linkmap_remove(m, 0x1000);                   /* twice: no-op */
    pf_linkmap_remove(m, 0x3000);
    assert_null(pf_linkmap_get(m, 0x1000, 1));
    assert_int_equal(pf_linkmap_count(m), 1);
    assert_int_equal(pf_linkmap_put(m, 0, -7, 0), 0);   /* NULL is never an object */
    assert_null(pf_linkmap_get(m, 0, 0));
    assert_int_equal(pf_linkmap_count(m), 1);
    assert_int_equal(pf_linkmap_dropped(m), 0);
    pf_linkmap_free(m);
    assert_int_equal(charged, 0);
    pf_linkmap_free(NULL);
}

/* Random puts and removes of addresses from a small pool (so runs of colliding
 * entries form and break up), checked against a plain array after every step. */
static void test_linkmap_matches_a_reference_under_churn(void **state)
{
    (void)state;
    enum { POOL = 3000, STEPS = 200000 };
    static int32_t ref[POOL];           /* 0 = absent, else the site */
    memset(ref, 0, sizeof ref);
    size_t charged = 0;
    pf_linkmap *m = pf_linkmap_new(&charged, 0, 1u << 16);
    assert_non_null(m);
    uint32_t count = 0, rng = 12345;
    for (int step = 0; step < STEPS; step++) {
        rng = rng * 1103515245u + 12345u;
        uint32_t k = (rng >> 8) % POOL;
        uintptr_t key = 0x7f0000001000u + (uintptr_t)k * 64;   /* like object addresses */
        if ((rng >> 4) & 1) {
            int32_t site = -2 - (int32_t)(step & 0xffff);
            assert_int_equal(pf_linkmap_put(m, key, site, 0), 0);
            count += ref[k] == 0;
            ref[k] = site;
        } else {
            pf_linkmap_remove(m, key);
            count -= ref[k] != 0;
            ref[k] = 0;
        }
        if (step % 997 == 0 || step == STEPS - 1) {
            for (uint32_t j = 0; j < POOL; j++) {
                pf_link_entry *e = pf_linkmap_get(m, 0x7f0000001000u + (uintptr_t)j * 64, 0);
                if (ref[j] == 0)
                    assert_null(e);
                else {
                    assert_non_null(e);
                    assert_int_equal(e->site, ref[j]);
                }
            }
        }
        assert_int_equal(pf_linkmap_count(m), count);
    }
    pf_linkmap_free(m);
    assert_int_equal(charged, 0);
}

/* At its cap (and at the byte limit) the table refuses puts and counts them; what it
 * holds stays findable, and removing makes room again. */
static void test_linkmap_refuses_and_counts_when_full(void **state)
{
    (void)state;
    size_t charged = 0;
    pf_linkmap *m = pf_linkmap_new(&charged, 0, 64);
    assert_non_null(m);
    uintptr_t k;
    for (k = 1; k <= 48; k++)                       /* 3/4 of 64 slots */
        assert_int_equal(pf_linkmap_put(m, k * 16, -2, 0), 0);
    assert_int_equal(pf_linkmap_put(m, 49 * 16, -2, 0), -1);
    assert_int_equal(pf_linkmap_put(m, 5 * 16, -4, 0), 0);   /* replacing needs no room */
    assert_int_equal(pf_linkmap_dropped(m), 1);
    assert_int_equal(pf_linkmap_count(m), 48);
    for (k = 1; k <= 48; k++)
        assert_non_null(pf_linkmap_get(m, k * 16, 0));
    pf_linkmap_remove(m, 7 * 16);
    assert_int_equal(pf_linkmap_put(m, 49 * 16, -2, 0), 0);
    pf_linkmap_free(m);

    /* the byte limit: the first table fits, growing past 4 KiB does not */
    charged = 0;
    m = pf_linkmap_new(&charged, 4096, 1u << 20);
    assert_non_null(m);
    for (k = 1; k < 10000 && pf_linkmap_put(m, k * 16, -2, 0) == 0; k++)
        ;
    assert_true(k < 10000);
    assert_true(charged <= 4096);
    assert_int_equal(pf_linkmap_dropped(m), 1);
    pf_linkmap_free(m);
    assert_int_equal(charged, 0);
    assert_null(pf_linkmap_new(&charged, 64, 1024));   /* not even the first table */
    assert_int_equal(charged, 0);
}

/* Every allocation failed in turn: new fails cleanly or puts are refused; never a
 * leak, never a lost entry. */
static void test_linkmap_out_of_memory_at_every_allocation(void **state)
{
    (void)state;
    long before = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        size_t charged = 0;
        pf_alloc_fail_after(n);
        pf_linkmap *m = pf_linkmap_new(&charged, 0, 1u << 12);
        int refused = m == NULL;
        for (uintptr_t k = 1; m != NULL && k <= 1000; k++) {
            if (pf_linkmap_put(m, k * 32, -(int32_t)k - 1, 0) < 0) {
                refused = 1;
                continue;
            }
            assert_int_equal(pf_linkmap_get(m, k * 32, 0)->site, -(int32_t)k - 1);
        }
        pf_linkmap_free(m);
        pf_alloc_fail_after(-1);
        assert_int_equal(charged, 0);
        assert_int_equal(pf_alloc_live_blocks(), before);
        if (!refused)
            break;
        assert_true(n < 100);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linkmap_put_get_remove),
        cmocka_unit_test(test_linkmap_matches_a_reference_under_churn),
        cmocka_unit_test(test_linkmap_refuses_and_counts_when_full),
        cmocka_unit_test(test_linkmap_out_of_memory_at_every_allocation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
