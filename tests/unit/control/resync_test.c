/* Tests of the resync window's policy: which watches are held back after a start. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "control/resync.h"

static void test_holds(void **state)
{
    (void)state;
    /* opened at 1000 ms for 3000 ms; this life's snapshots start at version 500 */
    cg_control_resync_t r = {0};
    cg_control_resync_open(&r, 1000, 3000, 500);
    static const struct {
        int edge;
        uint64_t after, now_ms;
        int held;
    } cases[] = {
        {1, 499, 1000, 1},                    /* an edge serving a snapshot of an earlier life */
        {1, 1, 3999, 1},   {1, 499, 4000, 0}, /* the window is over */
        {1, 500, 1000, 0},                    /* a snapshot of this life */
        {1, 0, 1000, 0},                      /* no snapshot yet: answered at once */
        {0, 499, 1000, 0},                    /* not an edge */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(
            cg_control_resync_holds(&r, cases[i].edge, cases[i].after, cases[i].now_ms),
            cases[i].held);
    /* closed (until_ms 0) or never opened: nothing is held */
    r.until_ms = 0;
    assert_int_equal(cg_control_resync_holds(&r, 1, 499, 1000), 0);
    cg_control_resync_t never = {0};
    assert_int_equal(cg_control_resync_holds(&never, 1, 499, 0), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
