/* test_cct.c: unit tests of collector/cct.c, the calling-context tree (child lookup by
 * (key, call site), recursion folding, activations' times, the stop-time merge and
 * splice), with every allocation failed in turn through formats/alloc.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "collector/cct.h"
#include "formats/alloc.h"

/* ---- a tiny shadow stack driving the tree the way the collector's hooks do ---- */

typedef struct sim {
    pf_cct *t;
    size_t charged;
    uint32_t root;
    pf_cct_act stack[256];
    uint32_t depth;
    int failed;               /* a push found no memory */
    uint32_t *same_head;      /* list of new nodes' key (pf_cct_add), or NULL */
} sim;

static int sim_init(sim *s, size_t limit)
{
    memset(s, 0, sizeof *s);
    s->t = pf_cct_new(&s->charged, limit);
    if (s->t == NULL)
        return -1;
    s->root = pf_cct_root(s->t);
    return s->root == PF_CCT_NONE ? -1 : 0;
}

static void sim_free(sim *s)
{
    pf_cct_free(s->t);
    s->t = NULL;
}

static void push(sim *s, uintptr_t key, int32_t site, uint64_t now)
{
    uint32_t pid;
    pf_cct_node *pn;
    uint32_t nested = pf_cct_fold(s->t, s->depth ? &s->stack[s->depth - 1] : NULL, s->root,
                                  &pid, &pn, key);
    uint32_t id;
    pf_cct_node *n = pf_cct_find(s->t, pid, pn, key, site, &id);
    if (n == NULL && (n = pf_cct_add(s->t, pid, key, site, (uint8_t)(key & 3), s->same_head,
                                     &id)) == NULL) {
        s->failed = 1;
        return;
    }
    pf_cct_open(&s->stack[s->depth++], n, id, pid, nested, now);
}

static void pop(sim *s, uint64_t now)
{
    s->depth--;
    pf_cct_close(&s->stack[s->depth], s->depth ? &s->stack[s->depth - 1] : NULL, now);
}

/* The child (key, site) of parent id, or NULL. */
static pf_cct_node *child(sim *s, uint32_t parent, uintptr_t key, int32_t site, uint32_t *id)
{
    uint32_t tmp;
    return pf_cct_find(s->t, parent, pf_cct_at(s->t, parent), key, site, id ? id : &tmp);
}

/* ---- merge helpers: lines are site / 10; key 99 is spliced; emitted nodes recorded ---- */

typedef struct out {
    uint32_t id, parent;
    uintptr_t key;
    uint32_t line;
    uint64_t calls, total_ns, self_ns;
} out;

typedef struct merge_ctx {
    out nodes[8192];
    uint32_t n;
    uint32_t moves;
    uint32_t fail_emit_at;    /* emit fails at this index (PF_CCT_NONE: never) */
} merge_ctx;

static uint32_t line_of(void *ctx, const pf_cct_node *parent, const pf_cct_node *n)
{
    (void)ctx; (void)parent;
    return n->site < 0 ? 0 : (uint32_t)n->site / 10;
}

static int splice_99(void *ctx, const pf_cct_node *n)
{
    (void)ctx;
    return n->key == 99;
}

static void count_moves(void *ctx, uint32_t from, uint32_t to)
{
    (void)from; (void)to;
    ((merge_ctx *)ctx)->moves++;
}

static uint32_t record(void *ctx, uint32_t id, const pf_cct_node *n, uint32_t parent_out)
{
    merge_ctx *m = ctx;
    if (m->n == m->fail_emit_at || m->n == sizeof m->nodes / sizeof m->nodes[0])
        return PF_CCT_NONE;
    out *o = &m->nodes[m->n];
    o->id = id;
    o->parent = parent_out;
    o->key = n->key;
    o->line = pf_cct_line(n);
    o->calls = n->calls;
    o->total_ns = n->total_ns;
    o->self_ns = n->self_ns;
    return m->n++;
}

static const pf_cct_merge_ops ops = { splice_99, count_moves, record };

static int merge(sim *s, merge_ctx *m)
{
    memset(m, 0, sizeof *m);
    m->fail_emit_at = PF_CCT_NONE;
    pf_cct_resolve_lines(s->t, line_of, NULL);
    return pf_cct_merge(s->t, s->root, &ops, m);
}

/* After a merge the tree is the merged tree: a plain walk (no splice) gives the very
 * records the merge emitted, in the same order (how the collector writes the trace at
 * stop), also once the lookup tables and the merge's space are released. */
static const pf_cct_walk_ops plain_walk = { NULL, record, NULL };

static void expect_walk_matches_merge(sim *s, const merge_ctx *m)
{
    static merge_ctx w;
    size_t before = pf_cct_bytes(s->t);
    pf_cct_release(s->t);
    assert_true(pf_cct_bytes(s->t) <= before);
    memset(&w, 0, sizeof w);
    w.fail_emit_at = PF_CCT_NONE;
    assert_int_equal(pf_cct_walk(s->t, s->root, &plain_walk, &w, NULL), 0);
    assert_int_equal(w.n, m->n);
    assert_memory_equal(w.nodes, m->nodes, m->n * sizeof m->nodes[0]);
}

/* ---- tests ---- */

static void test_cct_node_fits_56_bytes(void **state)
{
    (void)state;
    assert_true(sizeof(pf_cct_node) <= 56);
}

static void test_cct_call_sites_are_part_of_the_key(void **state)
{
    (void)state;
    sim s;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);             /* main */
    for (int i = 0; i < 3; i++) {
        push(&s, 2, 10, 10);        /* f from site 10 */
        pop(&s, 11);
        push(&s, 2, 20, 12);        /* f from site 20 */
        pop(&s, 15);
    }
    pop(&s, 20);
    assert_false(s.failed);
    uint32_t main_id, a, b;
    assert_non_null(child(&s, s.root, 1, -1, &main_id));
    pf_cct_node *na = child(&s, main_id, 2, 10, &a);
    pf_cct_node *nb = child(&s, main_id, 2, 20, &b);
    assert_non_null(na);
    assert_non_null(nb);
    assert_int_not_equal(a, b);
    assert_int_equal(na->calls, 3);
    assert_int_equal(nb->calls, 3);
    assert_int_equal(na->total_ns, 3);
    assert_int_equal(nb->total_ns, 9);
    pf_cct_node *m = pf_cct_at(s.t, main_id);
    assert_int_equal(m->total_ns, 20);
    assert_int_equal(m->self_ns, 20 - 12);
    assert_null(child(&s, main_id, 2, 30, NULL));
    assert_int_equal(pf_cct_count(s.t), 4);   /* root, main, f@10, f@20 */
    sim_free(&s);
    assert_int_equal(s.charged, 0);
}

/* f calls itself 5 deep from one site: C0, C1, C2 and every deeper level folded into C2. */
static void test_cct_direct_recursion_folds_into_three_nodes(void **state)
{
    (void)state;
    sim s;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 7, -1, 0);             /* C0 */
    for (int d = 1; d < 5; d++)
        push(&s, 7, 40, (uint64_t)d);
    for (int d = 5; d > 0; d--)
        pop(&s, (uint64_t)(100 - d));       /* returns at 95, 96, 97, 98, 99 */
    assert_false(s.failed);
    assert_int_equal(pf_cct_count(s.t), 4);
    uint32_t c0, c1, c2;
    pf_cct_node *n0 = child(&s, s.root, 7, -1, &c0);
    pf_cct_node *n1 = child(&s, c0, 7, 40, &c1);
    pf_cct_node *n2 = child(&s, c1, 7, 40, &c2);
    assert_non_null(n0);
    assert_non_null(n1);
    assert_non_null(n2);
    assert_int_equal(pf_cct_chain(n0), 0);
    assert_int_equal(pf_cct_chain(n1), 1);
    assert_int_equal(pf_cct_chain(n2), 2);
    assert_null(child(&s, c2, 7, 40, NULL));   /* never deeper */
    assert_int_equal(n0->calls, 1);
    assert_int_equal(n1->calls, 1);
    assert_int_equal(n2->calls, 3);             /* depths 2, 3, 4 */
    assert_int_equal(n0->total_ns, 99);
    assert_int_equal(n1->total_ns, 98 - 1);
    assert_int_equal(n2->total_ns, 97 - 2);     /* only the outermost C2 activation */
    /* self times add up to the root's total */
    assert_int_equal(n0->self_ns + n1->self_ns + n2->self_ns, 99);
    sim_free(&s);
}

/* A call from a C2 node to the same key at another site gets its own sibling of C2. */
static void test_cct_folded_call_keeps_its_call_site(void **state)
{
    (void)state;
    sim s;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 7, -1, 0);
    push(&s, 7, 40, 1);
    push(&s, 7, 40, 2);             /* C2 */
    push(&s, 7, 50, 3);             /* from C2 at 50: C1's child (7, 50), nested */
    pop(&s, 4);
    pop(&s, 5);
    pop(&s, 6);
    pop(&s, 7);
    uint32_t c0, c1, x;
    child(&s, s.root, 7, -1, &c0);
    child(&s, c0, 7, 40, &c1);
    pf_cct_node *n = child(&s, c1, 7, 50, &x);
    assert_non_null(n);
    assert_int_equal(pf_cct_chain(n), 2);
    assert_int_equal(n->calls, 1);
    assert_int_equal(n->total_ns, 0);           /* nested: inside C2's open activation */
    assert_int_equal(n->self_ns, 1);
    sim_free(&s);
}

/* 80,000 distinct callees of one node: all found again, in O(1) each (hashed). */
static void test_cct_many_children_are_hashed(void **state)
{
    (void)state;
    sim s;
    enum { N = 80000 };
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);
    for (uintptr_t k = 0; k < N; k++) {
        push(&s, 1000 + k * 16, 8, k);
        pop(&s, k + 1);
    }
    for (uintptr_t k = 0; k < N; k += 7) {      /* and again: found, not added */
        push(&s, 1000 + k * 16, 8, k);
        pop(&s, k + 1);
    }
    pop(&s, N + 1);
    assert_false(s.failed);
    assert_int_equal(pf_cct_count(s.t), N + 2);
    uint32_t m;
    pf_cct_node *mn = child(&s, s.root, 1, -1, &m);
    assert_true(pf_cct_flags(mn) & PF_CCT_HASHED);
    for (uintptr_t k = 0; k < N; k++) {
        pf_cct_node *c = child(&s, m, 1000 + k * 16, 8, NULL);
        assert_non_null(c);
        assert_int_equal(c->calls, k % 7 == 0 ? 2 : 1);
    }
    double per = (double)pf_cct_bytes(s.t) / pf_cct_count(s.t);
    printf("# cct: %u nodes, %zu bytes, %.1f bytes/node (80,000 callees of one node)\n",
           pf_cct_count(s.t), pf_cct_bytes(s.t), per);
    assert_true(per <= 96.0);
    assert_int_equal(s.charged, pf_cct_bytes(s.t));
    sim_free(&s);
    assert_int_equal(s.charged, 0);
}

/* A bushy tree (fan-out 4, depth 8): bytes per node of an ordinary program's shape. */
static void build_bushy(sim *s, uintptr_t key, int depth, uint64_t *now)
{
    push(s, key, 4, (*now)++);
    if (depth > 0)
        for (uintptr_t k = 0; k < 4; k++)
            build_bushy(s, key * 4 + k + 1, depth - 1, now);
    pop(s, (*now)++);
}

static void test_cct_bytes_per_node_of_a_bushy_tree(void **state)
{
    (void)state;
    sim s;
    assert_int_equal(sim_init(&s, 0), 0);
    uint64_t now = 0;
    build_bushy(&s, 1, 8, &now);
    assert_false(s.failed);
    double per = (double)pf_cct_bytes(s.t) / pf_cct_count(s.t);
    printf("# cct: %u nodes, %.1f bytes/node (fan-out 4, depth 8)\n", pf_cct_count(s.t), per);
    assert_true(per <= 96.0);
    sim_free(&s);
}

/* Sites 10 and 12 are both line 1: their nodes merge, and so do their children. */
static void test_cct_merge_joins_siblings_of_the_same_line(void **state)
{
    (void)state;
    sim s;
    merge_ctx m;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);
    push(&s, 2, 10, 1);             /* f at line 1 */
    push(&s, 3, 30, 2);             /*   g at line 3 */
    pop(&s, 3);
    pop(&s, 4);
    push(&s, 4, 25, 5);             /* h at line 2 */
    pop(&s, 6);
    push(&s, 2, 12, 7);             /* f at line 1 again, other site */
    push(&s, 3, 31, 8);             /*   g at line 3: merges with the first g */
    pop(&s, 10);
    push(&s, 5, 40, 11);            /*   k, only under the second f */
    pop(&s, 12);
    pop(&s, 13);
    pop(&s, 20);
    assert_int_equal(merge(&s, &m), 0);
    /* main; the survivor f (the later node heads the list: new children go first);
     * under it g and k; then h */
    assert_int_equal(m.n, 5);
    assert_int_equal(m.nodes[0].key, 1);
    assert_int_equal(m.nodes[0].parent, PF_CCT_NONE);
    assert_int_equal(m.nodes[1].key, 2);
    assert_int_equal(m.nodes[1].parent, 0);
    assert_int_equal(m.nodes[1].line, 1);
    assert_int_equal(m.nodes[1].calls, 2);
    assert_int_equal(m.nodes[1].total_ns, 3 + 6);
    assert_int_equal(m.nodes[1].self_ns, 2 + 3);
    uint64_t g = 0, k = 0, h = 0;
    for (uint32_t i = 0; i < m.n; i++) {
        if (m.nodes[i].key == 3) {
            g++;
            assert_int_equal(m.nodes[i].parent, 1);
            assert_int_equal(m.nodes[i].calls, 2);
            assert_int_equal(m.nodes[i].total_ns, 1 + 2);
            assert_int_equal(m.nodes[i].line, 3);
        } else if (m.nodes[i].key == 5) {
            k++;
            assert_int_equal(m.nodes[i].parent, 1);
        } else if (m.nodes[i].key == 4) {
            h++;
            assert_int_equal(m.nodes[i].parent, 0);
            assert_int_equal(m.nodes[i].line, 2);
        }
    }
    assert_int_equal(g, 1);
    assert_int_equal(k, 1);
    assert_int_equal(h, 1);
    assert_int_equal(m.moves, 2);   /* f into f, g into g */
    /* pre-order: every parent comes before its children */
    for (uint32_t i = 0; i < m.n; i++)
        assert_true(m.nodes[i].parent == PF_CCT_NONE || m.nodes[i].parent < i);
    expect_walk_matches_merge(&s, &m);
    sim_free(&s);
}

/* The survivor's own children come first, then the merged siblings' in merge order. */
static void test_cct_merge_keeps_child_order(void **state)
{
    (void)state;
    sim s;
    merge_ctx m;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);
    for (int32_t site = 13; site >= 10; site--) {   /* four f nodes, all line 1 */
        push(&s, 2, site, 1);
        push(&s, (uintptr_t)(100 + site), 0, 2);    /* each with its own child */
        pop(&s, 3);
        pop(&s, 4);
    }
    pop(&s, 5);
    assert_int_equal(merge(&s, &m), 0);
    assert_int_equal(m.n, 6);
    assert_int_equal(m.nodes[1].calls, 4);
    /* list order of main's children: f@10, f@11, f@12, f@13 (newest first) */
    assert_int_equal(m.nodes[2].key, 110);
    assert_int_equal(m.nodes[3].key, 111);
    assert_int_equal(m.nodes[4].key, 112);
    assert_int_equal(m.nodes[5].key, 113);
    expect_walk_matches_merge(&s, &m);
    sim_free(&s);
}

/* A spliced node (key 99) disappears: its callees move up with line 0, its self time too. */
static void test_cct_merge_splices_nodes_out(void **state)
{
    (void)state;
    sim s;
    merge_ctx m;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);
    push(&s, 99, 10, 1);            /* ours */
    push(&s, 99, 20, 2);            /* ours, nested: its callee moves up twice */
    push(&s, 5, 30, 3);
    pop(&s, 4);
    pop(&s, 6);
    push(&s, 6, 40, 7);
    pop(&s, 8);
    pop(&s, 10);
    push(&s, 5, 0, 11);             /* main calls 5 itself at line 0: merges with the moved one */
    pop(&s, 12);
    pop(&s, 20);
    assert_int_equal(merge(&s, &m), 0);
    assert_int_equal(m.n, 3);       /* main, 5, 6 */
    assert_int_equal(m.nodes[0].key, 1);
    assert_int_equal(m.nodes[0].self_ns, (20 - 9 - 1) + (9 - 4 - 1) + (4 - 1));
    for (uint32_t i = 1; i < m.n; i++) {
        assert_int_equal(m.nodes[i].parent, 0);
        assert_int_equal(m.nodes[i].line, 0);
        if (m.nodes[i].key == 5)
            assert_int_equal(m.nodes[i].calls, 2);
        else
            assert_int_equal(m.nodes[i].key, 6);
    }
    expect_walk_matches_merge(&s, &m);
    sim_free(&s);
}

/* Link sites (<= PF_CCT_SITE_LINK) resolve to no line, like -1, but keep their nodes
 * apart: from each other and from the ordinary siblings of the same (key, line 0). */
static void test_cct_merge_keeps_link_sites_apart(void **state)
{
    (void)state;
    sim s;
    merge_ctx m;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);
    push(&s, 7, -1, 1);                             /* an unlinked 7 (line 0) */
    pop(&s, 2);
    push(&s, 7, PF_CCT_SITE_LINK - 6, 3);           /* 7 linked to creator A */
    push(&s, 8, 10, 4);
    pop(&s, 5);
    pop(&s, 7);
    push(&s, 7, PF_CCT_SITE_LINK - 8, 8);           /* 7 linked to creator B */
    pop(&s, 9);
    push(&s, 7, PF_CCT_SITE_LINK - 6, 10);          /* A's again: the same node */
    pop(&s, 12);
    push(&s, 7, 3, 13);                             /* site 3 is line 0 too: merges with -1 */
    pop(&s, 14);
    pop(&s, 20);
    assert_int_equal(merge(&s, &m), 0);
    uint32_t sevens = 0;
    uint64_t calls = 0;
    for (uint32_t i = 0; i < m.n; i++) {
        if (m.nodes[i].key != 7)
            continue;
        sevens++;
        calls += m.nodes[i].calls;
        assert_int_equal(m.nodes[i].line, 0);
        pf_cct_node *n = pf_cct_at(s.t, m.nodes[i].id);
        if (n->site == PF_CCT_SITE_LINK - 6)
            assert_int_equal(m.nodes[i].calls, 2);
        else
            assert_int_equal(m.nodes[i].calls, 1 + (n->site != PF_CCT_SITE_LINK - 8));
    }
    assert_int_equal(sevens, 3);
    assert_int_equal(calls, 5);
    assert_int_equal(m.moves, 1);                   /* only site 3 into -1 */
    expect_walk_matches_merge(&s, &m);
    sim_free(&s);
}

/* The caller's marks stay with a node and do not disturb the tree's own flags. */
static void test_cct_marks_are_kept(void **state)
{
    (void)state;
    sim s;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);
    pf_cct_node *n = s.stack[0].node;
    pf_cct_mark(n, PF_CCT_MARK1);
    for (int k = 0; k < PF_CCT_SMALL + 2; k++) {    /* makes n hashed */
        push(&s, (uintptr_t)(10 + k), 0, 1);
        pop(&s, 2);
    }
    assert_int_equal(pf_cct_flags(n), PF_CCT_MARK1 | PF_CCT_HASHED);
    pf_cct_mark(n, PF_CCT_MARK2 | PF_CCT_ROOT);     /* only marks can be set */
    assert_int_equal(pf_cct_flags(n), PF_CCT_MARK1 | PF_CCT_MARK2 | PF_CCT_HASHED);
    assert_non_null(child(&s, s.stack[0].id, 15, 0, NULL));
    sim_free(&s);
}

/* Merging 80,000 siblings of the same line: linear (this would take minutes if not). */
static void test_cct_merge_of_many_siblings(void **state)
{
    (void)state;
    sim s;
    static merge_ctx m;
    enum { N = 80000 };
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);
    for (int32_t i = 0; i < N; i++) {
        push(&s, (uintptr_t)(1000 + (i % 2000) * 16), i % 10, (uint64_t)i);   /* line 0 */
        pop(&s, (uint64_t)i + 1);
    }
    pop(&s, N + 1);
    memset(&m, 0, sizeof m);
    m.fail_emit_at = PF_CCT_NONE;
    pf_cct_resolve_lines(s.t, line_of, NULL);
    assert_int_equal(pf_cct_merge(s.t, s.root, &ops, &m), 0);
    assert_int_equal(m.n, 1 + 2000);
    uint64_t calls = 0;
    for (uint32_t i = 1; i < m.n; i++)
        calls += m.nodes[i].calls;
    assert_int_equal(calls, N);
    expect_walk_matches_merge(&s, &m);
    sim_free(&s);
}

/* Retiring a key: its nodes get another key, so a new object at the same address (the
 * same key value) gets nodes of its own; the kind and lines stay. */
static void test_cct_rekey_retires_a_key(void **state)
{
    (void)state;
    sim s;
    uint32_t head = PF_CCT_NONE;
    assert_int_equal(sim_init(&s, 0), 0);
    s.same_head = &head;
    push(&s, 1, -1, 0);
    for (uintptr_t k = 0; k < 20; k++) {   /* 20 children: hashed */
        push(&s, 1000 + k * 16, 8, k);
        pop(&s, k + 1);
    }
    s.same_head = NULL;
    push(&s, 1000 + 5 * 16, 9, 30);        /* key 1080 at another site: not in head's list */
    pop(&s, 31);
    s.same_head = &head;
    pop(&s, 40);
    /* head lists every node added with it: main and the 20 children */
    uint32_t n = 0;
    for (uint32_t id = head; id != PF_CCT_NONE; id = pf_cct_at(s.t, id)->next_same)
        n++;
    assert_int_equal(n, 21);
    /* retire one child's key by hand: a list of that child only */
    uint32_t m, c;
    child(&s, s.root, 1, -1, &m);
    pf_cct_node *cn = child(&s, m, 1000 + 7 * 16, 8, &c);
    cn->next_same = PF_CCT_NONE;
    pf_cct_rekey(s.t, c, 3);
    assert_int_equal(cn->key, 3);
    assert_null(child(&s, m, 1000 + 7 * 16, 8, NULL));   /* (a retired key is never looked up) */
    push(&s, 1, -1, 50);
    push(&s, 1000 + 7 * 16, 8, 51);        /* the "new object": a new node */
    pop(&s, 52);
    pop(&s, 53);
    assert_int_equal(child(&s, m, 1000 + 7 * 16, 8, NULL)->calls, 1);
    assert_int_equal(cn->calls, 1);
    assert_int_equal(pf_cct_kind(cn), (1000 + 7 * 16) & 3);
    sim_free(&s);
}

/* A key retired and reused 20,000 times under one hashed parent (a program that keeps
 * compiling and dropping code at the same address): lookups stay O(1) and right. */
static void test_cct_rekeyed_entries_are_reused(void **state)
{
    (void)state;
    sim s;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);
    for (uintptr_t k = 0; k < 20; k++) {   /* hashed parent */
        push(&s, 1000 + k * 16, 8, k);
        pop(&s, k + 1);
    }
    uint32_t m;
    child(&s, s.root, 1, -1, &m);
    size_t bytes = 0;
    for (uintptr_t gen = 0; gen < 20000; gen++) {
        uint32_t head = PF_CCT_NONE;
        s.same_head = &head;
        push(&s, 0x7000, -1, 100 + gen);   /* the "same address" again */
        pop(&s, 101 + gen);
        s.same_head = NULL;
        assert_false(s.failed);
        assert_int_equal(pf_cct_at(s.t, head)->calls, 1);   /* a new node each time */
        pf_cct_rekey(s.t, head, (uintptr_t)(gen * 2 + 1));
        if (gen == 100)
            bytes = pf_cct_bytes(s.t);
    }
    pop(&s, 50000);
    assert_int_equal(pf_cct_count(s.t), 2 + 20 + 20000);
    /* the child table did not grow with the retired entries (only the node chunks did) */
    assert_true(pf_cct_bytes(s.t) - bytes <= (size_t)20000 * sizeof(pf_cct_node) + 64 * 1024);
    sim_free(&s);
}

/* The byte limit: adds fail and the sticky flag is set, what was recorded stays. */
static void test_cct_limit_stops_growth(void **state)
{
    (void)state;
    sim s;
    assert_int_equal(sim_init(&s, 200000), 0);
    push(&s, 1, -1, 0);
    uintptr_t k;
    for (k = 0; k < 100000 && !s.failed; k++) {
        push(&s, 1000 + k * 16, 8, k);
        if (!s.failed)
            pop(&s, k + 1);
    }
    assert_true(s.failed);
    assert_true(pf_cct_oom(s.t));
    assert_true(k > 1000);
    assert_true(s.charged <= 200000 + pf_cct_bytes(s.t) / 2);
    sim_free(&s);
    assert_int_equal(s.charged, 0);
}

/* Builds a tree that needs several chunks and a hashed parent; with injected failures it
 * must fail cleanly (NULL, sticky flag) and free everything. */
static int build_all(sim *s)
{
    if (sim_init(s, 0) < 0)
        return -1;
    push(s, 1, -1, 0);
    for (uintptr_t k = 0; k < 3000 && !s->failed; k++) {
        push(s, 1000 + k * 16, (int32_t)(k % 3), k);
        if (s->failed)
            break;
        push(s, 5, 1, k);
        if (!s->failed)
            pop(s, k + 1);
        pop(s, k + 1);
    }
    if (s->failed) {
        assert_true(pf_cct_oom(s->t));
        return -1;
    }
    return 0;
}

static void test_cct_out_of_memory_at_every_allocation(void **state)
{
    (void)state;
    long base = pf_alloc_live_blocks();
    for (long n = 0;; n++) {
        sim s;
        pf_alloc_fail_after(n);
        int r = build_all(&s);
        pf_alloc_fail_after(-1);
        if (s.t != NULL)
            sim_free(&s);
        assert_int_equal(pf_alloc_live_blocks(), base);
        if (r == 0)
            break;
        assert_true(n < 10000);
    }
}

static void test_cct_merge_out_of_memory_at_every_allocation(void **state)
{
    (void)state;
    long base = pf_alloc_live_blocks();
    static merge_ctx m;
    for (long n = 0;; n++) {
        sim s;
        assert_int_equal(build_all(&s), 0);
        memset(&m, 0, sizeof m);
        m.fail_emit_at = PF_CCT_NONE;
        pf_cct_resolve_lines(s.t, line_of, NULL);
        pf_alloc_fail_after(n);
        int r = pf_cct_merge(s.t, s.root, &ops, &m);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        sim_free(&s);
        assert_int_equal(pf_alloc_live_blocks(), base);
        if (r == 0) {
            assert_int_equal(injected, 0);
            assert_int_equal(m.n, 1 + 3000 + 3000);
            break;
        }
        assert_true(n < 10000);
    }
}

static void test_cct_merge_stops_when_emit_fails(void **state)
{
    (void)state;
    sim s;
    static merge_ctx m;
    assert_int_equal(build_all(&s), 0);
    memset(&m, 0, sizeof m);
    m.fail_emit_at = 10;
    pf_cct_resolve_lines(s.t, line_of, NULL);
    assert_int_equal(pf_cct_merge(s.t, s.root, &ops, &m), -1);
    assert_int_equal(m.n, 10);
    sim_free(&s);
}

/* ---- the snapshot walk ---- */

static uint64_t absorbed;

static void absorb_self(void *ctx, uint32_t id, const pf_cct_node *n, uint32_t into)
{
    (void)ctx; (void)id;
    if (into != PF_CCT_NONE)
        absorbed += n->self_ns;
}

static const pf_cct_walk_ops wops = { splice_99, record, absorb_self };

/* The walk outputs the same stats as a merge, without merging same-line siblings and
 * without changing the tree (a second walk gives the same nodes). */
static void test_cct_walk_leaves_the_tree_as_it_was(void **state)
{
    (void)state;
    sim s;
    static merge_ctx m, again;
    assert_int_equal(sim_init(&s, 0), 0);
    push(&s, 1, -1, 0);
    push(&s, 99, 10, 1);            /* ours: spliced */
    push(&s, 5, 30, 3);             /* its callee moves up, line 0 */
    pop(&s, 4);
    pop(&s, 6);
    push(&s, 5, 0, 11);             /* a sibling of the same (key, line): not merged */
    pop(&s, 12);
    pop(&s, 20);
    pf_cct_resolve_lines(s.t, line_of, NULL);
    uint32_t out_of[16];
    absorbed = 0;
    memset(&m, 0, sizeof m);
    m.fail_emit_at = PF_CCT_NONE;
    assert_int_equal(pf_cct_walk(s.t, s.root, &wops, &m, out_of), 0);
    assert_int_equal(m.n, 3);       /* main, 5 (moved up), 5 */
    assert_int_equal(m.nodes[0].key, 1);
    assert_int_equal(m.nodes[1].parent, 0);
    assert_int_equal(m.nodes[2].parent, 0);
    assert_int_equal(m.nodes[1].line + m.nodes[2].line, 0);
    assert_int_equal(m.nodes[1].calls + m.nodes[2].calls, 2);
    assert_int_equal(absorbed, (6 - 1) - (4 - 3));   /* the spliced node's own time */
    uint32_t spliced = PF_CCT_NONE;
    for (uint32_t i = 0; i < pf_cct_count(s.t); i++)
        if (pf_cct_at(s.t, i)->key == 99)
            spliced = i;
    assert_int_equal(out_of[spliced], 0);          /* went to main's output node */
    memset(&again, 0, sizeof again);
    again.fail_emit_at = PF_CCT_NONE;
    assert_int_equal(pf_cct_walk(s.t, s.root, &wops, &again, NULL), 0);
    assert_int_equal(again.n, m.n);
    assert_memory_equal(again.nodes, m.nodes, m.n * sizeof m.nodes[0]);
    sim_free(&s);
}

static void test_cct_walk_out_of_memory_and_failed_emit(void **state)
{
    (void)state;
    long base = pf_alloc_live_blocks();
    static merge_ctx m;
    sim s;
    assert_int_equal(build_all(&s), 0);
    pf_cct_resolve_lines(s.t, line_of, NULL);
    for (long n = 0;; n++) {
        memset(&m, 0, sizeof m);
        m.fail_emit_at = PF_CCT_NONE;
        pf_alloc_fail_after(n);
        int r = pf_cct_walk(s.t, s.root, &wops, &m, NULL);
        long injected = pf_alloc_injected_failures();
        pf_alloc_fail_after(-1);
        if (r == 0) {
            assert_int_equal(injected, 0);
            assert_int_equal(m.n, 1 + 3000 + 3000);
            break;
        }
        assert_true(n < 100);
    }
    memset(&m, 0, sizeof m);
    m.fail_emit_at = 10;
    assert_int_equal(pf_cct_walk(s.t, s.root, &wops, &m, NULL), -1);
    assert_int_equal(m.n, 10);
    sim_free(&s);
    assert_int_equal(pf_alloc_live_blocks(), base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cct_walk_leaves_the_tree_as_it_was),
        cmocka_unit_test(test_cct_walk_out_of_memory_and_failed_emit),
        cmocka_unit_test(test_cct_node_fits_56_bytes),
        cmocka_unit_test(test_cct_call_sites_are_part_of_the_key),
        cmocka_unit_test(test_cct_direct_recursion_folds_into_three_nodes),
        cmocka_unit_test(test_cct_folded_call_keeps_its_call_site),
        cmocka_unit_test(test_cct_many_children_are_hashed),
        cmocka_unit_test(test_cct_bytes_per_node_of_a_bushy_tree),
        cmocka_unit_test(test_cct_merge_joins_siblings_of_the_same_line),
        cmocka_unit_test(test_cct_merge_keeps_child_order),
        cmocka_unit_test(test_cct_merge_splices_nodes_out),
        cmocka_unit_test(test_cct_merge_keeps_link_sites_apart),
        cmocka_unit_test(test_cct_marks_are_kept),
        cmocka_unit_test(test_cct_merge_of_many_siblings),
        cmocka_unit_test(test_cct_rekey_retires_a_key),
        cmocka_unit_test(test_cct_rekeyed_entries_are_reused),
        cmocka_unit_test(test_cct_limit_stops_growth),
        cmocka_unit_test(test_cct_out_of_memory_at_every_allocation),
        cmocka_unit_test(test_cct_merge_out_of_memory_at_every_allocation),
        cmocka_unit_test(test_cct_merge_stops_when_emit_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
