/* Priority load: Envoy's documented tables, and priority choice. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lb/priority.h"

typedef struct {
    uint32_t healthy[3], total[3];
    size_t n;
    uint32_t overprov;
    uint32_t want[3];
} case_t;

/* From Envoy's priority.rst tables (P1 fully healthy unless stated) */
static const case_t cases[] = {
    {{100, 100}, {100, 100}, 2, 140, {100, 0}},
    {{72, 100}, {100, 100}, 2, 140, {100, 0}},
    {{71, 100}, {100, 100}, 2, 140, {99, 1}},
    {{50, 100}, {100, 100}, 2, 140, {70, 30}},
    {{25, 100}, {100, 100}, 2, 140, {35, 65}},
    {{0, 100}, {100, 100}, 2, 140, {0, 100}},
    {{25, 25}, {100, 100}, 2, 140, {50, 50}},
    /* Envoy's docs print 36/36/28 for this row; its code (distributeLoad: integer shares,
     * remainder to the first available priority) gives 37/35/28, and so do we */
    {{25, 25, 20}, {100, 100, 100}, 3, 140, {37, 35, 28}},
    /* the guide's two-cluster edge: one of two local clusters down spills 30 % */
    {{1, 1}, {2, 1}, 2, 140, {70, 30}},
    /* four local instances, two down: about 70 % local */
    {{2, 1}, {4, 1}, 2, 140, {70, 30}},
    /* "stay local until every local cluster fails" */
    {{1, 1}, {2, 1}, 2, 10000, {100, 0}},
    /* everything down: no load anywhere */
    {{0, 0}, {2, 1}, 2, 140, {0, 0}},
    /* no remote priority at all */
    {{1}, {2}, 1, 140, {100}},
};

static void test_envoy_tables(void **state)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t load[3] = {0};
        cg_lb_priority_load(cases[i].healthy, cases[i].total, cases[i].n, cases[i].overprov, load);
        for (size_t p = 0; p < cases[i].n; p++) {
            if (load[p] != cases[i].want[p]) fail_msg("case %zu priority %zu: got %u want %u", i, p, load[p], cases[i].want[p]);
        }
    }
}

static void test_choose(void **state)
{
    uint32_t load[2] = {70, 30};
    assert_int_equal(cg_lb_priority_choose(load, 2, 1), 0);
    assert_int_equal(cg_lb_priority_choose(load, 2, 70), 0);
    assert_int_equal(cg_lb_priority_choose(load, 2, 71), 1);
    assert_int_equal(cg_lb_priority_choose(load, 2, 100), 1);
    uint32_t none[2] = {0, 0};
    assert_int_equal(cg_lb_priority_choose(none, 2, 50), -1);
    uint32_t remote[2] = {0, 100};
    assert_int_equal(cg_lb_priority_choose(remote, 2, 1), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envoy_tables),
        cmocka_unit_test(test_choose),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
