/* test_rss.c: the collector's RSS sample buffer (collector/rss.c, plain C): bounded
 * memory by halving the resolution, time order, the emitted record's last sample,
 * final value and peak, and the /proc readers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "collector/rss.h"
#include "formats/alloc.h"

static void test_rss_halves_resolution_when_full(void **state)
{
    (void)state;
    pf_rss_rec *r = pf_rss_new(1000);
    assert_non_null(r);
    uint64_t iv;
    assert_int_equal(pf_rss_count(r, &iv), 0);
    assert_true(iv == PF_RSS_INTERVAL_NS);
    uint64_t now = 1000;
    for (uint32_t i = 0; i < PF_RSS_MAX; i++) {
        pf_rss_add(r, now, i);
        assert_true(pf_rss_due(r) == now + PF_RSS_INTERVAL_NS);
        now += PF_RSS_INTERVAL_NS;
    }
    assert_int_equal(pf_rss_count(r, &iv), PF_RSS_MAX);
    pf_rss_add(r, now, 999999);                 /* full: halve, then store */
    assert_int_equal(pf_rss_count(r, &iv), PF_RSS_MAX / 2 + 1);
    assert_true(iv == 2 * PF_RSS_INTERVAL_NS);
    assert_true(pf_rss_due(r) == now + 2 * PF_RSS_INTERVAL_NS);
    {
        /* kept: every other of the first buffer (0, 2, 4, ...), then the new one */
        pf_trace *t0 = pf_trace_new();
        pf_process p0 = { 1, 0, pf_strtab_intern_cstr(t0->strings, ""), 0, 0, 0, 0, 0, 0, 0,
                          PF_EXIT_UNKNOWN, 0 };
        pf_trace_add_process(t0, &p0);
        assert_int_equal(pf_rss_emit(r, t0, 0, now), 0);
        const pf_rss *e0 = &t0->rss[0];
        assert_int_equal(e0->nsamples, PF_RSS_MAX / 2 + 1);
        assert_true(e0->samples[0].time_ns == 0 && e0->samples[0].bytes == 0);
        assert_true(e0->samples[1].time_ns == 2 * PF_RSS_INTERVAL_NS && e0->samples[1].bytes == 2);
        assert_true(e0->samples[PF_RSS_MAX / 2].bytes == 999999);
        pf_trace_free(t0);
    }
    /* a long run stays bounded */
    for (uint32_t i = 0; i < 4 * PF_RSS_MAX; i++) {
        now += iv;
        pf_rss_add(r, now, 5);
        pf_rss_count(r, &iv);
    }
    assert_true(pf_rss_count(r, NULL) <= PF_RSS_MAX);

    pf_trace *t = pf_trace_new();
    pf_process p = { 1, 0, pf_strtab_intern_cstr(t->strings, ""), 0, 0, 0, 0, 0, 0, 0,
                     PF_EXIT_UNKNOWN, 0 };
    assert_int_equal(pf_trace_add_process(t, &p), 0);
    assert_int_equal(pf_rss_emit(r, t, 0, now + 1), 0);
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    const pf_rss *e = &t->rss[0];
    assert_true(e->samples[0].time_ns == 0 && e->samples[0].bytes == 0);
    /* the last sample is the value now, at now; the peak is at least every sample */
    assert_true(e->samples[e->nsamples - 1].time_ns == now + 1 - 1000);
    assert_true(e->final_bytes > 0);            /* read from /proc/self/statm */
    assert_true(e->peak_bytes >= 999999);
    for (uint32_t k = 0; k < e->nsamples; k++)
        assert_true(e->samples[k].bytes <= e->peak_bytes);
    pf_trace_free(t);
    pf_rss_free(r);
}

static void test_rss_reads_proc(void **state)
{
    (void)state;
    uint64_t now = pf_rss_now(), peak = pf_rss_peak();
    assert_true(now > 0);
    assert_true(peak >= now);
    /* touching 64 MiB raises both */
    size_t n = 64u << 20;
    volatile char *b = malloc(n);
    assert_non_null((void *)b);
    for (size_t i = 0; i < n; i += 4096)
        b[i] = 1;
    assert_true(pf_rss_now() >= now + (48u << 20));
    assert_true(pf_rss_peak() >= now + (48u << 20));
    free((void *)b);
}

static void test_rss_sample_takes_a_reading(void **state)
{
    (void)state;
    pf_rss_rec *r = pf_rss_new(0);
    pf_rss_take(r, 5);
    pf_rss_take(r, 3);                          /* a clock step back stays in order */
    assert_int_equal(pf_rss_count(r, NULL), 2);
    pf_trace *t = pf_trace_new();
    pf_process p = { 1, 0, pf_strtab_intern_cstr(t->strings, ""), 0, 0, 0, 0, 0, 0, 0,
                     PF_EXIT_UNKNOWN, 0 };
    pf_trace_add_process(t, &p);
    assert_int_equal(pf_rss_emit(r, t, 0, 2), 0);
    assert_int_equal(t->rss[0].nsamples, 2);    /* now (2) is not after the last one (5) */
    assert_true(t->rss[0].samples[1].time_ns == 5);
    assert_int_equal(pf_trace_validate(t, NULL), 0);
    pf_trace_free(t);
    pf_rss_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rss_halves_resolution_when_full),
        cmocka_unit_test(test_rss_reads_proc),
        cmocka_unit_test(test_rss_sample_takes_a_reading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
