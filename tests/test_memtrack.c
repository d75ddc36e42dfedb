/* test_memtrack.c: unit tests of collector/memtrack.c (live-block table, per-site
 * counters, exact peak attribution, folding into nodes and inclusive lines).
 * memtrack.c is part of the extension, not of a library, so it is included directly,
 * with its allocator routed through a fault-injecting wrapper. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

static long fail_countdown = -1;   /* < 0: off; else allocations left before failing */
static long live_allocs;

static void *fi_calloc(size_t n, size_t size)
{
    if (fail_countdown == 0)
        return NULL;
    if (fail_countdown > 0)
        fail_countdown--;
    void *p = calloc(n, size);
    if (p)
        live_allocs++;
    return p;
}

static void *fi_realloc(void *p, size_t n)
{
    if (fail_countdown == 0)
        return NULL;
    if (fail_countdown > 0)
        fail_countdown--;
    void *q = realloc(p, n);
    if (q && !p)
        live_allocs++;
    return q;
}

static void fi_free(void *p)
{
    if (p)
        live_allocs--;
    free(p);
}

#define MT_CALLOC fi_calloc
#define MT_REALLOC fi_realloc
#define MT_FREE fi_free
#include "../collector/memtrack.c"

/* White box: p's table entry, or NULL. */
static struct entry *table_lookup(const pf_memtrack *mt, uintptr_t p)
{
    const struct segment *sg = &mt->seg[hash_seg(p)];
    struct entry *e = &sg->tab[table_find(sg, p)];
    return e->ptr ? e : NULL;
}

#define N PF_MEM_NONE

static void *P(uintptr_t k)
{
    return (void *)(k * 16 + 0x10000);
}

static void expect_mem(const pf_mem *m, uint64_t ab, uint64_t ac, uint64_t fb, uint64_t pk,
                       uint64_t ex)
{
    assert_int_equal(m->alloc_bytes, ab);
    assert_int_equal(m->alloc_count, ac);
    assert_int_equal(m->free_bytes, fb);
    assert_int_equal(m->peak_bytes, pk);
    assert_int_equal(m->exit_bytes, ex);
}

static void site_of(pf_memtrack *mt, uint32_t node, uint32_t line, pf_mem *out)
{
    for (uint32_t i = 0; i < pf_memtrack_nsites(mt); i++) {
        uint32_t n, l;
        pf_memtrack_site(mt, i, &n, &l, out);
        if (n == node && l == line)
            return;
    }
    fail_msg("site (%u, %u) not found", node, line);
}

/* The hand-computed sequence of the design comment: several peaks, sites touched before
 * and after each, a peak only equalled (no move), realloc across sites. */
static void test_memtrack_peak_attribution_hand_sequence(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    /* A = (0,10), B = (1,20), C = (2,30), U = unattributed */
    pf_memtrack_on_alloc(mt, P(1), 100, 0, 10, PF_MEM_PYTHON);   /* live 100: peak 100 */
    pf_memtrack_on_alloc(mt, P(2), 50, 1, 20, PF_MEM_PYTHON);    /* 150: peak (A100 B50) */
    assert_int_equal(pf_memtrack_on_free(mt, P(1)), 1);  /* 50 */
    pf_memtrack_on_alloc(mt, P(3), 30, 2, 30, PF_MEM_PYTHON);    /* 80 */
    pf_memtrack_on_alloc(mt, P(4), 200, 0, 10, PF_MEM_PYTHON);   /* 280: peak (A200 B50 C30) */
    pf_memtrack_on_free(mt, P(2));                /* 230 */
    pf_memtrack_on_alloc(mt, P(5), 60, 1, 20, PF_MEM_PYTHON);    /* 290: peak (A200 B60 C30) */

    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.peak_live_bytes, 290);
    pf_mem m;
    site_of(mt, 0, 10, &m);
    assert_int_equal(m.peak_bytes, 200);
    site_of(mt, 1, 20, &m);
    assert_int_equal(m.peak_bytes, 60);

    pf_memtrack_on_free(mt, P(4));                /* 90 */
    pf_memtrack_on_alloc(mt, P(6), 100, 2, 30, PF_MEM_PYTHON);   /* 190 */
    pf_memtrack_on_alloc(mt, P(7), 100, 2, 30, PF_MEM_PYTHON);   /* 290: equals the peak, no move */
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.peak_live_bytes, 290);
    site_of(mt, 0, 10, &m);
    assert_int_equal(m.peak_bytes, 200);          /* still the first 290 */
    site_of(mt, 2, 30, &m);
    assert_int_equal(m.peak_bytes, 30);

    pf_memtrack_on_alloc(mt, P(8), 10, N, N, PF_MEM_PYTHON);     /* 300: peak (A0 B60 C230 U10) */
    pf_memtrack_on_free(mt, P(6));                /* 200 */
    pf_memtrack_on_realloc(mt, P(5), P(9), 100, 0, 10, PF_MEM_PYTHON);  /* B frees 60, A allocs 100: 240 */

    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.peak_live_bytes, 300);
    assert_int_equal(t.live_bytes, 240);
    assert_int_equal(t.live_blocks, 4);           /* P3 P7 P8 P9 */
    assert_int_equal(t.alloc_bytes, 400 + 110 + 230 + 10);
    assert_int_equal(t.alloc_count, 9);
    assert_int_equal(t.free_bytes, 300 + 110 + 100);
    assert_int_equal(t.nsites, 4);
    expect_mem(&t.unattributed, 10, 1, 0, 10, 10);

    site_of(mt, 0, 10, &m);
    expect_mem(&m, 400, 3, 300, 0, 100);
    site_of(mt, 1, 20, &m);
    expect_mem(&m, 110, 2, 110, 60, 0);
    site_of(mt, 2, 30, &m);
    expect_mem(&m, 230, 3, 100, 230, 130);
    site_of(mt, N, N, &m);
    expect_mem(&m, 10, 1, 0, 10, 10);
    pf_memtrack_free(mt);
}

/* Sum of per-site peaks equals the global peak, and per-site values match a brute-force
 * replay that snapshots every site at each new maximum, over a long random run. */
static void test_memtrack_peak_matches_bruteforce_random(void **state)
{
    (void)state;
    enum { NSITE = 17, NPTR = 4000, STEPS = 200000 };
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    static uint64_t size_of[NPTR];
    static int site_of_ptr[NPTR];
    uint64_t live[NSITE] = {0}, at_peak[NSITE] = {0}, total = 0, peak = 0;
    memset(size_of, 0, sizeof size_of);
    uint64_t rng = 88172645463325252ull;
    for (int step = 0; step < STEPS; step++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        int k = (int)(rng % NPTR);
        int s = (int)((rng >> 20) % NSITE);
        uint64_t sz = (rng >> 32) % 1000;
        int op = (int)((rng >> 50) % 3);
        if (size_of[k]) {
            /* live: free or realloc */
            if (op == 0) {
                pf_memtrack_on_free(mt, P(k + 1));
                live[site_of_ptr[k]] -= size_of[k];
                total -= size_of[k];
                size_of[k] = 0;
                site_of_ptr[k] = 0;
                continue;
            }
            pf_memtrack_on_realloc(mt, P(k + 1), P(k + 1), sz + 1, (uint32_t)s, 7, PF_MEM_PYTHON);
            live[site_of_ptr[k]] -= size_of[k];
            total -= size_of[k];
        } else {
            pf_memtrack_on_alloc(mt, P(k + 1), sz + 1, (uint32_t)s, 7, PF_MEM_PYTHON);
        }
        size_of[k] = sz + 1;
        site_of_ptr[k] = s;
        live[s] += sz + 1;
        total += sz + 1;
        if (total > peak) {
            peak = total;
            memcpy(at_peak, live, sizeof live);
        }
    }
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.peak_live_bytes, peak);
    assert_int_equal(t.live_bytes, total);
    uint64_t sum = 0;
    for (int s = 0; s < NSITE; s++) {
        pf_mem m;
        site_of(mt, (uint32_t)s, 7, &m);
        assert_int_equal(m.peak_bytes, at_peak[s]);
        assert_int_equal(m.exit_bytes, live[s]);
        assert_int_equal(m.alloc_bytes - m.free_bytes, m.exit_bytes);
        sum += m.peak_bytes;
    }
    assert_int_equal(sum, peak);
    pf_memtrack_free(mt);
}

/* Millions of live entries: growth, lookups, deletions with backward shift, and the
 * memory per live block. */
static void test_memtrack_table_millions_insert_lookup_delete(void **state)
{
    (void)state;
    enum { COUNT = 3000000 };
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    for (uintptr_t k = 1; k <= COUNT; k++)
        pf_memtrack_on_alloc(mt, P(k), k % 97, (uint32_t)(k % 5), 1, PF_MEM_PYTHON);
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_blocks, COUNT);
    assert_false(t.out_of_memory);
    for (unsigned i = 0; i < SEGMENTS; i++)
        assert_true(mt->seg[i].bits >= 18);       /* every segment grew from 2^10 */
    /* At most 3/4 full, so at most 16 / (3/8) bytes per block right after a growth. */
    assert_true(t.profiler_bytes <= (uint64_t)COUNT * 43 + 65536);
    /* Every entry is found with its size and site. */
    for (uintptr_t k = 1; k <= COUNT; k += 7) {
        const struct entry *e = table_lookup(mt, (uintptr_t)P(k));
        assert_non_null(e);
        assert_int_equal(e->size, k % 97);
        assert_int_equal(mt->sites[e->site].node, k % 5);
    }
    /* Delete the odd ones (scattered across every cluster), then check the even ones are
     * all still reachable: a broken backward shift would hide some of them. */
    uint64_t freed = 0;
    for (uintptr_t k = 1; k <= COUNT; k += 2) {
        assert_int_equal(pf_memtrack_on_free(mt, P(k)), 1);
        freed += k % 97;
    }
    for (uintptr_t k = 2; k <= COUNT; k += 2) {
        assert_non_null(table_lookup(mt, (uintptr_t)P(k)));
    }
    for (uintptr_t k = 1; k <= COUNT; k += 2)
        assert_null(table_lookup(mt, (uintptr_t)P(k)));
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_blocks, COUNT / 2);
    assert_int_equal(t.peak_live_blocks, COUNT);
    assert_int_equal(t.free_bytes, freed);
    assert_int_equal(t.live_bytes + t.free_bytes, t.alloc_bytes);
    /* Freeing them again is an unknown free. */
    assert_int_equal(pf_memtrack_on_free(mt, P(1)), 0);
    pf_memtrack_free(mt);
}

/* Heavy churn on a small address space against a reference model: every cluster shape
 * the backward shift can meet, including wrap-around at the end of the table. */
static void test_memtrack_table_churn_matches_model(void **state)
{
    (void)state;
    enum { KEYS = 20000, STEPS = 2000000 };
    static uint32_t model[KEYS];                  /* size + 1, 0 = absent */
    memset(model, 0, sizeof model);
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    uint64_t rng = 0x2545F4914F6CDD1Dull, live = 0;
    size_t count = 0;
    for (int step = 0; step < STEPS; step++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        /* Addresses spaced 8 apart and a few far away, like pymalloc pools and mmaps. */
        uint32_t k = (uint32_t)(rng % KEYS);
        void *p = (void *)((uintptr_t)k * 8 + ((k & 1023) == 5 ? 0x7f0000000000u : 0x1000u));
        uint32_t sz = (uint32_t)((rng >> 40) % 512);
        if (model[k]) {
            assert_int_equal(pf_memtrack_on_free(mt, p), 1);
            live -= model[k] - 1;
            model[k] = 0;
            count--;
        } else {
            pf_memtrack_on_alloc(mt, p, sz, 3, 4, PF_MEM_PYTHON);
            model[k] = sz + 1;
            live += sz;
            count++;
        }
        if (step % 100000 == 0) {
            pf_memtrack_totals t;
            pf_memtrack_get_totals(mt, &t);
            assert_int_equal(t.live_bytes, live);
            assert_int_equal(t.live_blocks, count);
        }
    }
    for (uint32_t k = 0; k < KEYS; k++) {
        void *p = (void *)((uintptr_t)k * 8 + ((k & 1023) == 5 ? 0x7f0000000000u : 0x1000u));
        assert_int_equal(pf_memtrack_on_free(mt, p), model[k] ? 1 : 0);
    }
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 0);
    assert_int_equal(t.live_blocks, 0);
    pf_memtrack_free(mt);
}

static void test_memtrack_realloc_is_free_plus_alloc_at_current_site(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    pf_memtrack_on_alloc(mt, P(1), 100, 0, 0, PF_MEM_PYTHON);
    /* In place, grown, from another site: site 0 frees 100, site 1 allocates 150. */
    pf_memtrack_on_realloc(mt, P(1), P(1), 150, 1, 1, PF_MEM_PYTHON);
    /* Moved: site 1 frees 150, site 2 allocates 40. */
    pf_memtrack_on_realloc(mt, P(1), P(2), 40, 2, 2, PF_MEM_PYTHON);
    assert_int_equal(pf_memtrack_on_free(mt, P(1)), 0);   /* the old address is gone */
    /* realloc(NULL, n) is a plain allocation. */
    pf_memtrack_on_realloc(mt, NULL, P(3), 8, 2, 2, PF_MEM_PYTHON);
    /* realloc of a block allocated before tracking: only the new block counts. */
    pf_memtrack_on_realloc(mt, P(50), P(51), 9, 2, 2, PF_MEM_PYTHON);
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 40 + 8 + 9);
    assert_int_equal(t.peak_live_bytes, 150);
    assert_int_equal(t.alloc_count, 5);
    assert_int_equal(t.unknown_frees, 2);
    pf_mem m;
    site_of(mt, 0, 0, &m);
    expect_mem(&m, 100, 1, 100, 0, 0);
    site_of(mt, 1, 1, &m);
    expect_mem(&m, 150, 1, 150, 150, 0);
    site_of(mt, 2, 2, &m);
    expect_mem(&m, 57, 3, 0, 0, 57);
    pf_memtrack_free(mt);
}

/* The two-step realloc used by the hook: a failed realloc leaves everything unchanged. */
static void test_memtrack_detach_reattach_on_failed_realloc(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    pf_memtrack_on_alloc(mt, P(1), 100, 0, 0, PF_MEM_PYTHON);
    pf_memtrack_on_alloc(mt, P(2), 5, 1, 0, PF_MEM_PYTHON);
    pf_memtrack_totals before, after;
    pf_memtrack_get_totals(mt, &before);
    pf_memtrack_block b;
    assert_int_equal(pf_memtrack_detach(mt, P(1), &b), 1);
    assert_int_equal(b.size, 100);
    assert_int_equal(pf_memtrack_detach(mt, P(1), &b), 0);   /* already out */
    b.ptr = (uintptr_t)P(1); b.size = 100; b.site = 0;
    pf_memtrack_reattach(mt, &b);
    pf_memtrack_get_totals(mt, &after);
    assert_memory_equal(&before, &after, sizeof before);
    /* Then a successful one through commit. */
    assert_int_equal(pf_memtrack_detach(mt, P(1), &b), 1);
    pf_memtrack_commit_realloc(mt, &b, P(7), 300, 1, 0, PF_MEM_PYTHON);
    pf_memtrack_get_totals(mt, &after);
    assert_int_equal(after.live_bytes, 305);
    assert_int_equal(after.peak_live_bytes, 305);
    pf_memtrack_free(mt);
}

static void test_memtrack_unknown_free_is_ignored(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    pf_memtrack_on_alloc(mt, P(1), 10, 0, 0, PF_MEM_PYTHON);
    assert_int_equal(pf_memtrack_on_free(mt, P(99)), 0);
    assert_int_equal(pf_memtrack_on_free(mt, NULL), 0);
    pf_memtrack_on_alloc(mt, NULL, 10, 0, 0, PF_MEM_PYTHON);                /* never tracked */
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 10);
    assert_int_equal(t.free_bytes, 0);
    assert_int_equal(t.unknown_frees, 1);
    assert_int_equal(t.alloc_count, 1);
    pf_memtrack_free(mt);
}

/* An address allocated again without its free being seen: the old block counts as freed. */
static void test_memtrack_reused_address_frees_the_stale_block(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    pf_memtrack_on_alloc(mt, P(1), 10, 0, 0, PF_MEM_PYTHON);
    pf_memtrack_on_alloc(mt, P(1), 30, 1, 0, PF_MEM_PYTHON);
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 30);
    assert_int_equal(t.live_blocks, 1);
    pf_mem m;
    site_of(mt, 0, 0, &m);
    expect_mem(&m, 10, 1, 10, 0, 0);
    pf_memtrack_free(mt);
}

static void test_memtrack_blocks_of_4gib_and_more_keep_exact_size(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    uint64_t big = (uint64_t)5 << 30, edge = UINT32_MAX;
    pf_memtrack_on_alloc(mt, P(1), (size_t)big, 0, 0, PF_MEM_PYTHON);
    pf_memtrack_on_alloc(mt, P(2), (size_t)edge, 0, 0, PF_MEM_PYTHON);
    pf_memtrack_on_alloc(mt, P(3), (size_t)edge - 1, 0, 0, PF_MEM_PYTHON);
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, big + edge + edge - 1);
    pf_memtrack_on_free(mt, P(2));
    pf_memtrack_on_realloc(mt, P(1), P(4), 3, 0, 0, PF_MEM_PYTHON);
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, edge - 1 + 3);
    assert_int_equal(t.free_bytes, big + edge);
    assert_int_equal(mt->nbigs, 0);
    pf_memtrack_free(mt);
}

static void test_memtrack_exit_bytes_are_blocks_still_live(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    for (uintptr_t k = 1; k <= 1000; k++)
        pf_memtrack_on_alloc(mt, P(k), 24, (uint32_t)(k % 2), 0, PF_MEM_PYTHON);
    for (uintptr_t k = 1; k <= 1000; k += 2)   /* frees every block of node 1 */
        pf_memtrack_on_free(mt, P(k));
    pf_mem nodes[2];
    assert_int_equal(pf_memtrack_result(mt, 2, NULL, NULL, NULL, nodes, NULL, NULL), 0);
    expect_mem(&nodes[0], 12000, 500, 0, 24000 / 2, 12000);
    expect_mem(&nodes[1], 12000, 500, 12000, 12000, 0);
    pf_memtrack_free(mt);
}

static const pf_memtrack_line *find_line(const pf_memtrack_line *ls, uint32_t n,
                                         uint32_t code, uint32_t line)
{
    for (uint32_t i = 0; i < n; i++)
        if (ls[i].code == code && ls[i].line == line)
            return &ls[i];
    return NULL;
}

/* Folding sites into node self and line inclusive values, with recursion and a C
 * function.  Codes: 0 main, 1 f, 2 g.  Nodes: 0 main; 1 f called from main:5; 2 g from
 * f:7; 3 g from g:9 (recursion); 4 a C function called from main:6. */
static void test_memtrack_result_nodes_self_lines_inclusive(void **state)
{
    (void)state;
    uint32_t parent[5] = { N, 0, 1, 2, 0 };
    uint32_t code[5] = { 0, 1, 2, 2, N };
    uint32_t call_line[5] = { 0, 5, 7, 9, 6 };
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    pf_memtrack_on_alloc(mt, P(1), 100, 2, 9, PF_MEM_PYTHON);    /* g:9, under f:7, main:5 */
    pf_memtrack_on_alloc(mt, P(2), 40, 0, 6, PF_MEM_PYTHON);     /* main:6 itself */
    pf_memtrack_on_alloc(mt, P(3), 7, 3, 9, PF_MEM_PYTHON);      /* g:9 again in the recursive g */
    pf_memtrack_on_alloc(mt, P(4), 1, 4, 6, PF_MEM_PYTHON);      /* inside the C function called at main:6 */
    pf_memtrack_on_alloc(mt, P(5), 2, N, 0, PF_MEM_PYTHON);      /* unattributed */
    pf_memtrack_on_alloc(mt, P(6), 3, 9, 1, PF_MEM_PYTHON);      /* a node the caller does not know */
    pf_memtrack_on_alloc(mt, P(7), 5, 1, 0, PF_MEM_PYTHON);      /* in f, line unknown */
    pf_memtrack_on_free(mt, P(2));
    pf_mem nodes[5];
    pf_memtrack_line *ls = NULL;
    uint32_t nls = 0;
    assert_int_equal(pf_memtrack_result(mt, 5, parent, code, call_line, nodes, &ls, &nls), 0);
    expect_mem(&nodes[0], 40, 1, 40, 40, 0);
    expect_mem(&nodes[1], 5, 1, 0, 5, 5);
    expect_mem(&nodes[2], 100, 1, 0, 100, 100);
    expect_mem(&nodes[3], 7, 1, 0, 7, 7);
    expect_mem(&nodes[4], 1, 1, 0, 1, 1);
    assert_int_equal(nls, 4);
    const pf_memtrack_line *l;
    assert_non_null(l = find_line(ls, nls, 2, 9));
    expect_mem(&l->mem, 107, 2, 0, 107, 107);     /* twice on one stack, counted once */
    assert_non_null(l = find_line(ls, nls, 1, 7));
    expect_mem(&l->mem, 107, 2, 0, 107, 107);
    assert_non_null(l = find_line(ls, nls, 0, 5));
    expect_mem(&l->mem, 112, 3, 0, 112, 112);
    assert_non_null(l = find_line(ls, nls, 0, 6));
    expect_mem(&l->mem, 41, 2, 40, 41, 1);
    pf_memtrack_lines_free(ls);
    /* Without a tree, lines get only the innermost allocations. */
    assert_int_equal(pf_memtrack_result(mt, 5, NULL, code, NULL, NULL, &ls, &nls), 0);
    assert_int_equal(nls, 2);
    assert_non_null(l = find_line(ls, nls, 2, 9));
    assert_int_equal(l->mem.alloc_bytes, 107);
    assert_null(find_line(ls, nls, 0, 5));
    pf_memtrack_lines_free(ls);
    /* A parent cycle (corrupt input) terminates. */
    uint32_t cyc[2] = { 1, 0 }, cc[2] = { 0, 0 }, cl[2] = { 3, 4 };
    assert_int_equal(pf_memtrack_result(mt, 2, cyc, cc, cl, NULL, &ls, &nls), 0);
    pf_memtrack_lines_free(ls);
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    expect_mem(&t.unattributed, 2, 1, 0, 2, 2);
    pf_memtrack_free(mt);
}

/* Many distinct lines (the line table grows) and out of memory while folding. */
static void test_memtrack_result_many_lines_and_out_of_memory(void **state)
{
    (void)state;
    enum { NODES = 3000 };
    static uint32_t parent[NODES], code[NODES], call_line[NODES];
    for (uint32_t n = 0; n < NODES; n++) {
        parent[n] = n ? n - 1 : N;                 /* one deep chain */
        code[n] = n % 50;
        call_line[n] = n ? 10 + n % 7 : 0;
    }
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    for (uint32_t n = 0; n < NODES; n += 97)
        pf_memtrack_on_alloc(mt, P(n + 1), 10, n, 100 + n, PF_MEM_PYTHON);
    pf_memtrack_line *ls;
    uint32_t nls;
    assert_int_equal(pf_memtrack_result(mt, NODES, parent, code, call_line, NULL, &ls, &nls), 0);
    /* Every (code, calling line) pair on the chain holds all sites below it, once. */
    const pf_memtrack_line *top = find_line(ls, nls, 0, 11);   /* node 1's call from code 0 */
    assert_non_null(top);
    assert_int_equal(top->mem.alloc_count, (NODES + 96) / 97 - 1);
    pf_memtrack_lines_free(ls);
    int ok = 0;
    for (long k = 0; k < 50 && !ok; k++) {
        long before = live_allocs;
        fail_countdown = k;
        ok = pf_memtrack_result(mt, NODES, parent, code, call_line, NULL, &ls, &nls) == 0;
        fail_countdown = -1;
        if (ok) {
            assert_int_equal(nls > 0, 1);
            pf_memtrack_lines_free(ls);
        } else {
            assert_null(ls);
        }
        assert_int_equal(live_allocs, before);
    }
    assert_true(ok);
    pf_memtrack_free(mt);
}

/* Sites are interned: the same pair is one site whichever order they come in. */
static void test_memtrack_sites_are_interned_and_grow(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    uintptr_t k = 1;
    for (int round = 0; round < 3; round++)
        for (uint32_t n = 0; n < 300; n++)
            for (uint32_t l = 0; l < 30; l++)
                pf_memtrack_on_alloc(mt, P(k++), 1, n, l, PF_MEM_PYTHON);
    assert_int_equal(pf_memtrack_nsites(mt), 9000);
    pf_mem m;
    site_of(mt, 299, 29, &m);
    expect_mem(&m, 3, 3, 0, 3, 3);
    pf_memtrack_free(mt);
}

/* Out of memory at every possible point: recording stops cleanly, the numbers recorded
 * so far stay consistent (live = alloc - free, sum of site peaks = peak), nothing leaks. */
static void test_memtrack_out_of_memory_is_sticky_and_consistent(void **state)
{
    (void)state;
    int succeeded = 0;
    for (long n = 0; n < 200 && !succeeded; n++) {
        long live_before = live_allocs;
        fail_countdown = n;
        pf_memtrack *mt = pf_memtrack_new();
        if (!mt) {
            fail_countdown = -1;
            assert_int_equal(live_allocs, live_before);
            continue;
        }
        for (uintptr_t k = 1; k <= 20000; k++) {
            pf_memtrack_on_alloc(mt, P(k), 8, (uint32_t)(k % 200), 0, PF_MEM_PYTHON);
            if (k % 3 == 0)
                pf_memtrack_on_free(mt, P(k - 1));
        }
        fail_countdown = -1;
        pf_memtrack_totals t;
        pf_memtrack_get_totals(mt, &t);
        assert_int_equal(t.live_bytes + t.free_bytes, t.alloc_bytes);
        assert_int_equal(t.live_bytes, t.live_blocks * 8);
        pf_mem nodes[200];
        assert_int_equal(pf_memtrack_result(mt, 200, NULL, NULL, NULL, nodes, NULL, NULL), 0);
        uint64_t sum = 0;
        for (int i = 0; i < 200; i++)
            sum += nodes[i].peak_bytes;
        assert_int_equal(sum, t.peak_live_bytes);
        succeeded = !t.out_of_memory;
        pf_memtrack_free(mt);
        assert_int_equal(live_allocs, live_before);
    }
    assert_true(succeeded);
}

/* Site (node, line, kind)'s counters; fails if there is none. */
static void site_kind_of(pf_memtrack *mt, uint32_t node, uint32_t line, unsigned kind,
                         pf_mem *out)
{
    for (uint32_t i = 0; i < pf_memtrack_nsites(mt); i++) {
        uint32_t n, l;
        pf_memtrack_site(mt, i, &n, &l, out);
        if (n == node && l == line && pf_memtrack_site_kind(mt, i) == kind)
            return;
    }
    fail_msg("site (%u, %u, kind %u) not found", node, line, kind);
}

/* The kind is part of the site: a Python and a native block on the same line are two
 * sites, and the native share of the peak is exactly the native sites' bytes then. */
static void test_memtrack_kinds_are_separate_sites_and_native_peak_is_exact(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    pf_memtrack_on_alloc(mt, P(1), 100, 0, 5, PF_MEM_PYTHON);
    pf_memtrack_on_alloc(mt, P(2), 1000, 0, 5, PF_MEM_NATIVE);    /* 1100: peak */
    pf_memtrack_on_alloc(mt, P(3), 10, 0, 5, PF_MEM_PYTHON);      /* 1110: peak */
    pf_memtrack_on_alloc(mt, P(4), 50, 1, 6, PF_MEM_REPORTED);    /* 1160: peak (P110 N1000 R50) */
    pf_memtrack_on_free(mt, P(2));                                /* 160 */
    pf_memtrack_on_alloc(mt, P(5), 500, 1, 6, PF_MEM_PYTHON);     /* 660 */
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.nsites, 4);
    assert_int_equal(t.peak_live_bytes, 1160);
    assert_int_equal(t.peak_native_bytes, 1050);
    assert_int_equal(t.native_live_bytes, 50);
    assert_int_equal(t.native_alloc_bytes, 1050);
    pf_mem m;
    site_kind_of(mt, 0, 5, PF_MEM_PYTHON, &m);
    expect_mem(&m, 110, 2, 0, 110, 110);
    site_kind_of(mt, 0, 5, PF_MEM_NATIVE, &m);
    expect_mem(&m, 1000, 1, 1000, 1000, 0);
    /* Folding into nodes adds the kinds up. */
    pf_mem nodes[2];
    assert_int_equal(pf_memtrack_result(mt, 2, NULL, NULL, NULL, nodes, NULL, NULL), 0);
    expect_mem(&nodes[0], 1110, 3, 1000, 1110, 110);
    expect_mem(&nodes[1], 550, 2, 0, 50, 550);
    /* A realloc takes the kind of the allocator that reallocated. */
    pf_memtrack_on_realloc(mt, P(1), P(6), 200, 0, 5, PF_MEM_NATIVE);
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.native_live_bytes, 250);
    /* An unknown kind is native. */
    pf_memtrack_on_alloc(mt, P(7), 1, 9, 9, 77);
    site_kind_of(mt, 9, 9, PF_MEM_NATIVE, &m);
    pf_memtrack_free(mt);
}

/* PyTraceMalloc_Track/Untrack: a report of a block whose allocation was seen is ignored,
 * an unseen one is counted until its unreport (or its free); an unreport removes only
 * what a report created.  numpy's sequences, step by step. */
static void test_memtrack_reports_never_double_count(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    pf_memtrack_totals t;
    /* numpy's new array: malloc (seen), Track: ignored. */
    pf_memtrack_on_alloc(mt, P(1), 800, 0, 3, PF_MEM_NATIVE);
    assert_int_equal(pf_memtrack_on_report(mt, P(1), 800, 0, 3), 0);
    /* numpy's realloc that moves: realloc (seen), Untrack(old): nothing there any more,
     * Track(new): seen already. */
    pf_memtrack_on_realloc(mt, P(1), P(2), 1600, 0, 4, PF_MEM_NATIVE);
    assert_int_equal(pf_memtrack_on_unreport(mt, P(1)), 0);
    assert_int_equal(pf_memtrack_on_report(mt, P(2), 1600, 0, 4), 0);
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 1600);
    assert_int_equal(t.alloc_bytes, 2400);
    /* numpy's free: Untrack (its allocation was seen: ignored), then free (seen). */
    assert_int_equal(pf_memtrack_on_unreport(mt, P(2)), 0);
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 1600);
    assert_int_equal(pf_memtrack_on_free(mt, P(2)), 1);
    /* A buffer from an allocator we do not see: counted from report to unreport. */
    assert_int_equal(pf_memtrack_on_report(mt, P(3), 500, 1, 7), 1);
    assert_int_equal(pf_memtrack_on_report(mt, P(3), 500, 1, 7), 0);    /* once */
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 500);
    assert_int_equal(t.native_live_bytes, 500);
    pf_mem m;
    site_kind_of(mt, 1, 7, PF_MEM_REPORTED, &m);
    expect_mem(&m, 500, 1, 0, 0, 500);           /* the peak (1600) was before it */
    assert_int_equal(pf_memtrack_on_unreport(mt, P(3)), 1);
    assert_int_equal(pf_memtrack_on_unreport(mt, P(3)), 0);
    /* A reported block freed by a free we see is gone too; its unreport then is a no-op. */
    assert_int_equal(pf_memtrack_on_report(mt, P(4), 64, 1, 7), 1);
    assert_int_equal(pf_memtrack_on_free(mt, P(4)), 1);
    assert_int_equal(pf_memtrack_on_unreport(mt, P(4)), 0);
    /* A report inside a mapping we saw is that mapping's memory. */
    pf_memtrack_on_map(mt, (void *)0x100000, 0x4000, 2, 1, PF_MEM_NATIVE);
    assert_int_equal(pf_memtrack_on_report(mt, (void *)0x101000, 0x1000, 2, 1), 0);
    assert_int_equal(pf_memtrack_on_report(mt, (void *)0x104000, 0x1000, 2, 1), 1);
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 0x5000);
    assert_int_equal(t.alloc_bytes - t.free_bytes, t.live_bytes);
    assert_int_equal(pf_memtrack_on_report(mt, NULL, 1, 0, 0), 0);
    assert_int_equal(pf_memtrack_on_unreport(mt, NULL), 0);
    pf_memtrack_free(mt);
}

#define PG 0x1000u
#define A(k) ((void *)(uintptr_t)(0x40000000u + (uintptr_t)(k) * PG))

/* Mapped ranges: whole, head, tail, a hole that splits, several at once, MAP_FIXED over
 * recorded ranges, unmaps of nothing. */
static void test_memtrack_ranges_unmap_whole_head_tail_and_split(void **state)
{
    (void)state;
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    pf_memtrack_totals t;
    pf_mem m;
    pf_memtrack_on_map(mt, A(0), 10 * PG, 1, 1, PF_MEM_NATIVE);      /* [0, 10) */
    pf_memtrack_on_map(mt, A(20), 4 * PG, 2, 2, PF_MEM_NATIVE);      /* [20, 24) */
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 14 * PG);
    assert_int_equal(t.live_blocks, 2);
    assert_int_equal(t.peak_native_bytes, 14 * PG);
    /* A free never matches a mapping. */
    assert_int_equal(pf_memtrack_on_free(mt, A(0)), 0);
    assert_int_equal(pf_memtrack_on_unmap(mt, A(0), 2 * PG), 2 * PG);   /* head: [2, 10) */
    assert_int_equal(pf_memtrack_on_unmap(mt, A(8), 2 * PG), 2 * PG);   /* tail: [2, 8) */
    assert_int_equal(pf_memtrack_on_unmap(mt, A(4), PG), PG);           /* hole: [2,4) [5,8) */
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 5 * PG + 4 * PG);
    assert_int_equal(t.live_blocks, 3);
    assert_int_equal(t.alloc_count, 2);                 /* a split is no allocation */
    site_kind_of(mt, 1, 1, PF_MEM_NATIVE, &m);
    expect_mem(&m, 10 * PG, 1, 5 * PG, 10 * PG, 5 * PG);
    /* One unmap over both pieces of the split, the gap between them and into the next
     * range: [3, 21) removes 1 + 3 pages of range 1 and 1 page of range 2. */
    assert_int_equal(pf_memtrack_on_unmap(mt, A(3), 18 * PG), 5 * PG);
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, PG + 3 * PG);        /* [2, 3) and [21, 24) */
    assert_int_equal(t.live_blocks, 2);
    /* Unmapping nothing recorded is an unknown free and changes nothing. */
    uint64_t unknown = t.unknown_frees;
    assert_int_equal(pf_memtrack_on_unmap(mt, A(100), PG), 0);
    assert_int_equal(pf_memtrack_on_unmap(mt, A(5), 10 * PG), 0);
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.unknown_frees, unknown + 2);
    /* MAP_FIXED over recorded pages: they are freed by their site, the new range is the
     * new site's. */
    pf_memtrack_on_map(mt, A(2), 20 * PG, 3, 3, PF_MEM_NATIVE);      /* [2, 22) */
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 20 * PG + 2 * PG);   /* [2, 22) and [22, 24) */
    assert_int_equal(t.live_blocks, 2);
    site_kind_of(mt, 2, 2, PF_MEM_NATIVE, &m);
    expect_mem(&m, 4 * PG, 1, 2 * PG, 2 * PG, 2 * PG);   /* 22 pages live: the new peak */
    assert_int_equal(t.alloc_bytes - t.free_bytes, t.live_bytes);
    /* Unmapping everything, in one call past the end of the address space. */
    assert_int_equal(pf_memtrack_on_unmap(mt, A(0), UINTPTR_MAX), 22 * PG);
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.live_bytes, 0);
    assert_int_equal(t.live_blocks, 0);
    assert_int_equal(t.peak_live_blocks, 3);
    pf_memtrack_on_map(mt, NULL, PG, 0, 0, PF_MEM_NATIVE);          /* ignored */
    pf_memtrack_on_map(mt, A(1), 0, 0, 0, PF_MEM_NATIVE);           /* ignored */
    pf_memtrack_get_totals(mt, &t);
    assert_int_equal(t.alloc_count, 3);
    pf_memtrack_free(mt);
}

/* Random maps and unmaps of pages against a page-by-page model: live bytes per site,
 * the peak and the per-site bytes at the peak stay exact through any cut and split. */
static void test_memtrack_ranges_match_page_model_random(void **state)
{
    (void)state;
    enum { PAGES = 512, STEPS = 40000, NSITE = 5 };
    pf_memtrack *mt = pf_memtrack_new();
    assert_non_null(mt);
    static int owner[PAGES];            /* site + 1 mapping the page, 0 = unmapped */
    uint64_t live[NSITE] = {0}, at_peak[NSITE] = {0}, total = 0, peak = 0;
    memset(owner, 0, sizeof owner);
    uint64_t rng = 0x9E3779B97F4A7C15ull;
    for (int step = 0; step < STEPS; step++) {
        rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
        unsigned a = (unsigned)(rng % PAGES);
        unsigned len = 1 + (unsigned)((rng >> 16) % 40);
        if (a + len > PAGES)
            len = PAGES - a;
        int site = (int)((rng >> 40) % NSITE);
        if ((rng >> 60) % 2) {
            pf_memtrack_on_map(mt, A(a), (size_t)len * PG, (uint32_t)site, 0, PF_MEM_NATIVE);
            for (unsigned k = a; k < a + len; k++) {
                if (owner[k]) {
                    live[owner[k] - 1] -= PG;
                    total -= PG;
                }
            }
            for (unsigned k = a; k < a + len; k++)
                owner[k] = site + 1;
            live[site] += (uint64_t)len * PG;
            total += (uint64_t)len * PG;
            if (total > peak) {
                peak = total;
                memcpy(at_peak, live, sizeof live);
            }
        } else {
            uint64_t expect = 0;
            for (unsigned k = a; k < a + len; k++) {
                if (owner[k]) {
                    live[owner[k] - 1] -= PG;
                    total -= PG;
                    expect += PG;
                    owner[k] = 0;
                }
            }
            assert_int_equal(pf_memtrack_on_unmap(mt, A(a), (size_t)len * PG), expect);
        }
        /* the ranges stay sorted, disjoint and non-empty */
        for (size_t i = 0; i < mt->nranges; i++) {
            assert_true(mt->ranges[i].start < mt->ranges[i].end);
            if (i)
                assert_true(mt->ranges[i - 1].end <= mt->ranges[i].start);
        }
    }
    pf_memtrack_totals t;
    pf_memtrack_get_totals(mt, &t);
    assert_false(t.out_of_memory);
    assert_int_equal(t.live_bytes, total);
    assert_int_equal(t.peak_live_bytes, peak);
    assert_int_equal(t.peak_native_bytes, peak);
    for (int s = 0; s < NSITE; s++) {
        pf_mem m;
        site_kind_of(mt, (uint32_t)s, 0, PF_MEM_NATIVE, &m);
        assert_int_equal(m.exit_bytes, live[s]);
        assert_int_equal(m.peak_bytes, at_peak[s]);
    }
    pf_memtrack_free(mt);
}

/* A split that cannot allocate its tail counts the tail freed: live never exceeds what
 * is recorded, nothing leaks, and the flag is set. */
static void test_memtrack_range_split_out_of_memory_stays_consistent(void **state)
{
    (void)state;
    for (long n = 0;; n++) {
        long live_before = live_allocs;
        pf_memtrack *mt = pf_memtrack_new();
        assert_non_null(mt);
        for (unsigned k = 0; k < 16; k++)
            pf_memtrack_on_map(mt, A(k * 10), 8 * PG, k, 0, PF_MEM_NATIVE);
        fail_countdown = n;
        for (unsigned k = 0; k < 16; k++)
            pf_memtrack_on_unmap(mt, A(k * 10 + 3), PG);       /* 16 splits */
        fail_countdown = -1;
        pf_memtrack_totals t;
        pf_memtrack_get_totals(mt, &t);
        assert_int_equal(t.alloc_bytes - t.free_bytes, t.live_bytes);
        uint64_t recorded = 0;
        for (size_t i = 0; i < mt->nranges; i++)
            recorded += mt->ranges[i].end - mt->ranges[i].start;
        assert_int_equal(recorded, t.live_bytes);
        int done = !t.out_of_memory;
        if (done)
            assert_int_equal(t.live_bytes, 16 * 7 * PG);
        pf_memtrack_free(mt);
        assert_int_equal(live_allocs, live_before);
        if (done)
            break;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memtrack_peak_attribution_hand_sequence),
        cmocka_unit_test(test_memtrack_peak_matches_bruteforce_random),
        cmocka_unit_test(test_memtrack_table_millions_insert_lookup_delete),
        cmocka_unit_test(test_memtrack_table_churn_matches_model),
        cmocka_unit_test(test_memtrack_realloc_is_free_plus_alloc_at_current_site),
        cmocka_unit_test(test_memtrack_detach_reattach_on_failed_realloc),
        cmocka_unit_test(test_memtrack_unknown_free_is_ignored),
        cmocka_unit_test(test_memtrack_reused_address_frees_the_stale_block),
        cmocka_unit_test(test_memtrack_blocks_of_4gib_and_more_keep_exact_size),
        cmocka_unit_test(test_memtrack_exit_bytes_are_blocks_still_live),
        cmocka_unit_test(test_memtrack_result_nodes_self_lines_inclusive),
        cmocka_unit_test(test_memtrack_result_many_lines_and_out_of_memory),
        cmocka_unit_test(test_memtrack_sites_are_interned_and_grow),
        cmocka_unit_test(test_memtrack_out_of_memory_is_sticky_and_consistent),
        cmocka_unit_test(test_memtrack_kinds_are_separate_sites_and_native_peak_is_exact),
        cmocka_unit_test(test_memtrack_reports_never_double_count),
        cmocka_unit_test(test_memtrack_ranges_unmap_whole_head_tail_and_split),
        cmocka_unit_test(test_memtrack_ranges_match_page_model_random),
        cmocka_unit_test(test_memtrack_range_split_out_of_memory_stays_consistent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
