/* Tests of the command-line flag values every command shares (cli/flags.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "cli/flags.h"
#include "core/log.h"

static void test_count(void **state)
{
    (void)state;
    int64_t n = -7;
    assert_int_equal(cg_cli_flag_count("t", "--n", "1", 1, 10, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(cg_cli_flag_count("t", "--n", "10", 1, 10, &n), 0);
    assert_int_equal(n, 10);
    static const char *const bad[] = {"0",  "11", "",   "-1",  "+2",
                                      " 3", "3 ", "3x", "0x3", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        n = -7;
        if (cg_cli_flag_count("t", "--n", bad[i], 1, 10, &n) != -1) fail_msg("took \"%s\"", bad[i]);
        assert_int_equal(n, -7); /* nothing written on refusal */
    }
}

static void test_duration(void **state)
{
    (void)state;
    uint32_t ms = 7;
    assert_int_equal(cg_cli_flag_duration_ms("t", "--d", "250ms", 1, 3600000, &ms), 0);
    assert_int_equal(ms, 250);
    assert_int_equal(cg_cli_flag_duration_ms("t", "--d", "5", 1, 3600000, &ms), 0); /* seconds */
    assert_int_equal(ms, 5000);
    assert_int_equal(cg_cli_flag_duration_ms("t", "--d", "1m30s", 1, 3600000, &ms), 0);
    assert_int_equal(ms, 90000);
    assert_int_equal(cg_cli_flag_duration_ms("t", "--d", "0", 0, 3600000, &ms), 0);
    assert_int_equal(ms, 0);
    static const char *const bad[] = {"0", "", "2h", "5x", "-1s", "1e3", "inf"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ms = 7;
        if (cg_cli_flag_duration_ms("t", "--d", bad[i], 1, 3600000, &ms) != -1)
            fail_msg("took \"%s\"", bad[i]);
        assert_int_equal(ms, 7);
    }
}

static void test_log_level(void **state)
{
    (void)state;
    int was = cg_log_level;
    assert_int_equal(cg_cli_flag_log_level("t", "debug"), 0);
    assert_int_equal(cg_log_level, CG_LOG_DEBUG);
    assert_int_equal(cg_cli_flag_log_level("t", "error"), 0);
    assert_int_equal(cg_log_level, CG_LOG_ERROR);
    assert_int_equal(cg_cli_flag_log_level("t", "DEBUG"), -1);
    assert_int_equal(cg_cli_flag_log_level("t", ""), -1);
    assert_int_equal(cg_log_level, CG_LOG_ERROR); /* a refused level changes nothing */
    cg_log_level = was;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_duration),
        cmocka_unit_test(test_log_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
