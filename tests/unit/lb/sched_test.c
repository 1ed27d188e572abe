/* The balancer's schedulers: interleaved WRR gives each item its weight exactly per cycle,
 * in O(1) a pick; the excluding weighted draw never lands in a left-out range. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lb/iwrr.h"
#include "lb/wsample.h"

static uint32_t levels_of(const uint32_t *w, uint32_t n, cg_lb_iwrr_level_t *l)
{
    uint32_t nl = 0;
    for (uint32_t i = 0; i < n; i++) cg_lb_iwrr_push(l, &nl, w[i], i);
    return nl;
}

static void test_iwrr_gives_each_its_weight_per_cycle(void **state)
{
    (void)state;
    static const uint32_t w[] = {6, 3, 3, 1};
    cg_lb_iwrr_level_t l[4];
    uint32_t nl = levels_of(w, 4, l);
    assert_int_equal(nl, 3);
    cg_lb_iwrr_t c = {0};
    cg_lb_iwrr_fit(&c, l, nl);
    /* round 1 visits all, rounds 2-3 the weight-3s and up, rounds 4-6 the heaviest */
    static const uint32_t want[] = {0, 1, 2, 3, 0, 1, 2, 0, 1, 2, 0, 0, 0};
    for (int cycle = 0; cycle < 3; cycle++)
        for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
            assert_int_equal(cg_lb_iwrr_next(&c, l, nl), want[i]);
}

static void test_iwrr_equal_weights_are_round_robin_and_fit_keeps_place(void **state)
{
    (void)state;
    static const uint32_t w[] = {2, 2, 2, 2, 2};
    cg_lb_iwrr_level_t l[5];
    uint32_t nl = levels_of(w, 5, l);
    cg_lb_iwrr_t c = {0};
    cg_lb_iwrr_fit(&c, l, nl);
    for (uint32_t i = 0; i < 20; i++) assert_int_equal(cg_lb_iwrr_next(&c, l, nl), i % 5);
    assert_int_equal(cg_lb_iwrr_next(&c, l, nl), 0);
    assert_int_equal(cg_lb_iwrr_next(&c, l, nl), 1);
    /* the set shrinks to two (a rebuild): the cursor comes back in range */
    nl = levels_of(w, 2, l);
    cg_lb_iwrr_fit(&c, l, nl);
    for (int i = 0; i < 8; i++) assert_true(cg_lb_iwrr_next(&c, l, nl) < 2);
    /* and a heavier set: the round is kept when it still exists */
    static const uint32_t w2[] = {9, 1};
    nl = levels_of(w2, 2, l);
    cg_lb_iwrr_fit(&c, l, nl);
    int counts[2] = {0};
    for (int i = 0; i < 100; i++) counts[cg_lb_iwrr_next(&c, l, nl)]++;
    assert_int_equal(counts[0], 90);
    assert_int_equal(counts[1], 10);
}

static void test_wsample_skips_ranges_and_keeps_proportions(void **state)
{
    (void)state;
    /* weights 1, 2, 3, 4, 5, 6 */
    uint64_t cum[6];
    uint64_t s = 0;
    for (int i = 0; i < 6; i++) cum[i] = s += (uint64_t)i + 1;
    int counts[6] = {0};
    const int draws = 14 * 1000;
    for (int r = 0; r < draws; r++) {
        /* positions 1 and 3..4 left out (given out of order, overlapping): 1 + 3 + 6 remain */
        cg_lb_range_t ex[] = {{3, 5}, {1, 2}, {4, 5}};
        int64_t at = cg_lb_wsample(cum, 6, ex, 3, (uint64_t)r * 7919u);
        assert_true(at >= 0 && at < 6);
        counts[at]++;
    }
    assert_int_equal(counts[1], 0);
    assert_int_equal(counts[3], 0);
    assert_int_equal(counts[4], 0);
    /* draws spread over the weight left (10): exact for consecutive residues */
    assert_int_equal(counts[0] + counts[2] + counts[5], draws);
    assert_in_range(counts[0], draws / 10 - 100, draws / 10 + 100);
    assert_in_range(counts[2], 3 * draws / 10 - 100, 3 * draws / 10 + 100);
    assert_in_range(counts[5], 6 * draws / 10 - 100, 6 * draws / 10 + 100);
    cg_lb_range_t all[] = {{0, 6}};
    assert_int_equal(cg_lb_wsample(cum, 6, all, 1, 5), -1);
    assert_int_equal(cg_lb_wsample(cum, 0, NULL, 0, 5), -1);
    /* a range past the end is clamped */
    cg_lb_range_t past[] = {{5, 900}};
    for (uint64_t r = 0; r < 50; r++) assert_true(cg_lb_wsample(cum, 6, past, 1, r) < 5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_iwrr_gives_each_its_weight_per_cycle),
        cmocka_unit_test(test_iwrr_equal_weights_are_round_robin_and_fit_keeps_place),
        cmocka_unit_test(test_wsample_skips_ranges_and_keeps_proportions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
