/* Outlier detection, active health state and retry arithmetic. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <llhttp.h>

#include "lb/health.h"
#include "lb/outlier.h"
#include "lb/retry.h"

static void test_outlier_ejects_after_consecutive_gateway_errors(void **state)
{
    cg_lb_outlier_cfg_t c = cg_lb_outlier_defaults; /* 3 errors, 5 s base, 30 s max */
    cg_lb_outlier_t o = {0};
    assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 1000, 1), 0);
    assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 1001, 1), 0);
    /* a success breaks the streak */
    assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_SUCCESS, 1002, 1), 0);
    assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 1003, 1), 0);
    assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_OTHER_5XX, 1004, 1), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 1005, 1), 0);
    assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 1006, 1), 1);
    assert_true(o.ejected);
    assert_int_equal(o.ejected_until_ms, 1006 + 5000);
    assert_false(cg_lb_outlier_available(&o, 6005));
    /* results of requests begun before the ejection change nothing */
    assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 2000, 1), 0);
    assert_true(cg_lb_outlier_available(&o, 6006));
}

static void test_outlier_ejection_grows_by_base_each_time_up_to_max(void **state)
{
    /* DESIGN and docs/operations.md: base x n (n = recent ejections), capped at max */
    cg_lb_outlier_cfg_t c = cg_lb_outlier_defaults; /* 5 s base, 30 s max */
    cg_lb_outlier_t o = {0};
    for (int i = 0; i < 3; i++) cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 0, 1);
    assert_int_equal(o.ejected_until_ms, 5000);
    /* each failed speculative probe sends it straight back, for one base longer: 10 s, 15 s, ... */
    uint64_t want[] = {10000, 15000, 20000, 25000, 30000, 30000, 30000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        uint64_t t = o.ejected_until_ms;
        assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, t, 1), 1);
        assert_int_equal(o.ejected_at_ms, t);
        assert_int_equal(o.ejected_until_ms - o.ejected_at_ms, want[i]);
    }
    assert_int_equal(o.ejections, 8);
    /* the probe succeeds: back in rotation */
    uint64_t t = o.ejected_until_ms;
    assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_SUCCESS, t, 1), -1);
    assert_false(o.ejected);
    assert_true(cg_lb_outlier_available(&o, t));
}

static void test_outlier_ejection_cap_need_not_be_a_multiple_of_base(void **state)
{
    cg_lb_outlier_cfg_t c = cg_lb_outlier_defaults;
    c.base_ejection_ms = 4000;
    c.max_ejection_ms = 10000; /* 4, 8, then the cap: 10, not 12 */
    cg_lb_outlier_t o = {0};
    for (int i = 0; i < 3; i++) cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 0, 1);
    uint64_t want[] = {4000, 8000, 10000, 10000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        if (i) cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, o.ejected_until_ms, 1);
        assert_int_equal(o.ejected_until_ms - o.ejected_at_ms, want[i]);
    }
    /* a max below base is no cap below base (Envoy: max_ejection_time is at least base) */
    c.max_ejection_ms = 1000;
    cg_lb_outlier_t p = {0};
    for (int i = 0; i < 3; i++) cg_lb_outlier_on_result(&p, &c, CG_LB_GATEWAY_ERROR, 0, 1);
    assert_int_equal(p.ejected_until_ms, 4000);
    cg_lb_outlier_on_result(&p, &c, CG_LB_GATEWAY_ERROR, 4000, 1);
    assert_int_equal(p.ejected_until_ms - p.ejected_at_ms, 4000);
}

static void test_outlier_backoff_decays_with_clean_time(void **state)
{
    cg_lb_outlier_cfg_t c = cg_lb_outlier_defaults;
    cg_lb_outlier_t o = {0};
    for (int i = 0; i < 3; i++) cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 0, 1);
    cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 5000, 1); /* backoff 2 */
    cg_lb_outlier_on_result(&o, &c, CG_LB_SUCCESS, 15000, 1);      /* returns */
    /* long clean stretch: the multiplier decays to zero, the next ejection is base again */
    uint64_t t = 15000 + 60000;
    for (int i = 0; i < 3; i++) cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, t, 1);
    assert_int_equal(o.ejected_until_ms - o.ejected_at_ms, 5000);
}

static void test_outlier_cap(void **state)
{
    assert_true(cg_lb_outlier_cap_allows(1, 2, 100));
    assert_false(cg_lb_outlier_cap_allows(1, 2, 50));
    assert_true(cg_lb_outlier_cap_allows(0, 2, 50));
    assert_false(cg_lb_outlier_cap_allows(0, 2, 10)); /* Envoy's 10 % never ejects on two hosts */
    cg_lb_outlier_cfg_t c = cg_lb_outlier_defaults;
    cg_lb_outlier_t o = {0};
    for (int i = 0; i < 5; i++)
        assert_int_equal(cg_lb_outlier_on_result(&o, &c, CG_LB_GATEWAY_ERROR, 0, 0), 0);
    assert_false(o.ejected);
}

static void test_outlier_classify(void **state)
{
    assert_int_equal(cg_lb_outlier_classify(0), CG_LB_GATEWAY_ERROR);
    assert_int_equal(cg_lb_outlier_classify(502), CG_LB_GATEWAY_ERROR);
    assert_int_equal(cg_lb_outlier_classify(503), CG_LB_GATEWAY_ERROR);
    assert_int_equal(cg_lb_outlier_classify(504), CG_LB_GATEWAY_ERROR);
    assert_int_equal(cg_lb_outlier_classify(500), CG_LB_OTHER_5XX);
    assert_int_equal(cg_lb_outlier_classify(404), CG_LB_SUCCESS);
    assert_int_equal(cg_lb_outlier_classify(200), CG_LB_SUCCESS);
}

static void test_health_transitions(void **state)
{
    cg_lb_hc_cfg_t c = cg_lb_hc_defaults; /* 2 network failures, 1 success */
    cg_lb_hc_t h = {0};
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_NETWORK), 0);
    assert_false(h.unhealthy);
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_OK), 0); /* resets the count */
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_NETWORK), 0);
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_NETWORK), 1);
    assert_true(h.unhealthy);
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_NETWORK), 0);
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_OK), 1);
    assert_false(h.unhealthy);
    /* a bad status (draining) fails at once */
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_BAD_STATUS), 1);
    assert_true(h.unhealthy);
    c.healthy_threshold = 3;
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_OK), 0);
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_OK), 0);
    assert_int_equal(cg_lb_hc_on_result(&h, &c, CG_HC_OK), 1);
}

static void test_retry_budget(void **state)
{
    /* 20 % of active, at least 3 */
    assert_true(cg_lb_retry_budget_allows(2, 2, 20, 3));
    assert_false(cg_lb_retry_budget_allows(2, 3, 20, 3));
    assert_true(cg_lb_retry_budget_allows(25, 4, 20, 3));
    assert_false(cg_lb_retry_budget_allows(25, 5, 20, 3));
}

/* splitmix64: a stand-in for the worker's random source, well spread over 64 bits */
static uint64_t next_random(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void test_retry_backoff_is_full_jitter_doubling_up_to_max(void **state)
{
    /* docs/operations.md: a jittered back-off, 25 ms base, 250 ms cap; full jitter: uniform over
     * [0, min(max, base x 2^(n-1))) before the n-th repeat */
    static const struct {
        uint32_t n, bound;
    } cases[] = {{1, 25}, {2, 50}, {3, 100}, {4, 200}, {5, 250}, {10, 250}, {40, 250}};
    uint64_t seed = 42;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        enum { DRAWS = 4000 };
        uint32_t bound = cases[i].bound, lo = UINT32_MAX, hi = 0;
        uint64_t sum = 0;
        uint8_t seen[250] = {0};
        unsigned distinct = 0;
        for (int k = 0; k < DRAWS; k++) {
            uint32_t ms = cg_lb_retry_backoff_ms(cases[i].n, 25, 250, next_random(&seed));
            assert_true(ms < bound);
            if (!seen[ms]++) distinct++;
            if (ms < lo) lo = ms;
            if (ms > hi) hi = ms;
            sum += ms;
        }
        /* spread over the whole interval, not a fixed or clustered wait */
        assert_true(distinct > bound * 9 / 10);
        assert_true(lo < bound / 10 + 1);
        assert_true(hi >= bound - bound / 10 - 1);
        double mean = (double)sum / DRAWS;
        assert_true(mean > 0.45 * bound && mean < 0.55 * bound);
    }
    /* nothing to wait for without a base or before a repeat */
    assert_int_equal(cg_lb_retry_backoff_ms(0, 25, 250, 12345), 0);
    assert_int_equal(cg_lb_retry_backoff_ms(3, 0, 250, 12345), 0);
}

static void test_retry_conditions(void **state)
{
    uint32_t d = cg_lb_retry_defaults.retry_on;
    assert_true(cg_lb_retry_matches(d, CG_RETRY_ON_CONNECT_FAILURE, 0));
    assert_true(cg_lb_retry_matches(d, CG_RETRY_ON_RESET, 0));
    assert_true(cg_lb_retry_matches(d, CG_RETRY_ON_503, 503));
    assert_false(cg_lb_retry_matches(d, 0, 500));
    assert_true(cg_lb_retry_matches(CG_RETRY_ON_5XX, 0, 500));
    assert_true(cg_lb_retry_matches(CG_RETRY_ON_5XX, CG_RETRY_ON_RESET, 0));
    assert_true(cg_lb_retry_matches(CG_RETRY_ON_RETRIABLE_4XX, 0, 409));
    assert_false(cg_lb_retry_matches(CG_RETRY_ON_CONNECT_FAILURE, CG_RETRY_ON_503, 503));
    assert_int_equal(cg_lb_retry_on_parse("gateway-error"), CG_RETRY_ON_GATEWAY_ERROR);
    assert_int_equal(cg_lb_retry_on_parse("bogus"), 0);
    assert_true(cg_lb_retry_idempotent(HTTP_GET));
    assert_true(cg_lb_retry_idempotent(HTTP_PUT));
    assert_false(cg_lb_retry_idempotent(HTTP_POST));
    assert_false(cg_lb_retry_idempotent(HTTP_PATCH));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outlier_ejects_after_consecutive_gateway_errors),
        cmocka_unit_test(test_outlier_ejection_grows_by_base_each_time_up_to_max),
        cmocka_unit_test(test_outlier_ejection_cap_need_not_be_a_multiple_of_base),
        cmocka_unit_test(test_outlier_backoff_decays_with_clean_time),
        cmocka_unit_test(test_outlier_cap),
        cmocka_unit_test(test_outlier_classify),
        cmocka_unit_test(test_health_transitions),
        cmocka_unit_test(test_retry_budget),
        cmocka_unit_test(test_retry_backoff_is_full_jitter_doubling_up_to_max),
        cmocka_unit_test(test_retry_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
