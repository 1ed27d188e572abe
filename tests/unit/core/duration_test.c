/* Tests of the one duration grammar (core/duration.h): resource values, flag leniency, and
 * every kind of bad input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/duration.h"
#include "core/err.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *in;
    int rc;
    uint64_t out;
} dcase_t;

static void run(const dcase_t *c, size_t n, int us, unsigned flags)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t v = 12345;
        int rc = us ? cg_duration_parse_us(c[i].in, strlen(c[i].in), flags, &v)
                    : cg_duration_parse_ms(c[i].in, strlen(c[i].in), flags, &v);
        if (rc != c[i].rc) fail_msg("\"%s\": rc %d, want %d", c[i].in, rc, c[i].rc);
        if (rc == 0 && v != c[i].out)
            fail_msg("\"%s\": %llu, want %llu", c[i].in, (unsigned long long)v,
                     (unsigned long long)c[i].out);
        if (rc != 0 && v != 12345) fail_msg("\"%s\": output written on error", c[i].in);
    }
}

static void test_values_in_ms(void **state)
{
    (void)state;
    static const dcase_t cases[] = {
        {"0", 0, 0},
        {"0s", 0, 0},
        {"250ms", 0, 250},
        {"1s", 0, 1000},
        {"1.5s", 0, 1500},
        {"2m", 0, 120000},
        {"1h", 0, 3600000},
        {"1m30s", 0, 90000},
        {"1h1m1s1ms", 0, 3661001},
        {"1s1s", 0, 2000},
        {"0.5ms", 0, 1},
        {"0.4ms", 0, 0},
        {".5s", 0, 500},
        {"5.s", 0, 5000},
        {"007s", 0, 7000},
        {"2500000000h", 0, 9000000000000000ull},
    };
    run(cases, sizeof(cases) / sizeof(cases[0]), 0, 0);
}

static void test_values_in_us(void **state)
{
    (void)state;
    static const dcase_t cases[] = {
        {"30s", 0, 30000000}, {"500ms", 0, 500000},  {"0.25ms", 0, 250},
        {"2m", 0, 120000000}, {"1h", 0, 3600000000}, {"0.001ms", 0, 1},
    };
    run(cases, sizeof(cases) / sizeof(cases[0]), 1, 0);
}

static void test_bad_input(void **state)
{
    (void)state;
    static const dcase_t cases[] = {
        /* empty and no number */
        {"", CG_EINVAL, 0},
        {"s", CG_EINVAL, 0},
        {".", CG_EINVAL, 0},
        {".s", CG_EINVAL, 0},
        /* no unit, unknown units */
        {"10", CG_EINVAL, 0},
        {"00", CG_EINVAL, 0},
        {"1x", CG_EINVAL, 0},
        {"5us", CG_EINVAL, 0},
        {"1d", CG_EINVAL, 0},
        {"1S", CG_EINVAL, 0},
        {"1m30", CG_EINVAL, 0},
        /* signs */
        {"-1s", CG_EINVAL, 0},
        {"+1s", CG_EINVAL, 0},
        {"1s-1s", CG_EINVAL, 0},
        /* garbage after the number or the unit */
        {"1e3s", CG_EINVAL, 0},
        {"0x10s", CG_EINVAL, 0},
        {"1s ", CG_EINVAL, 0},
        {" 1s", CG_EINVAL, 0},
        {"1 s", CG_EINVAL, 0},
        {"1.2.3s", CG_EINVAL, 0},
        {"1sx", CG_EINVAL, 0},
        {"inf", CG_EINVAL, 0},
        {"nans", CG_EINVAL, 0},
        /* overflow: beyond 2^53 ms */
        {"2502000000h", CG_ELIMIT, 0},
        {"9007199254740994ms", CG_ELIMIT, 0},
        {"99999999999999999999999999999999999999999999999999999999999999999999999h", CG_ELIMIT, 0},
    };
    run(cases, sizeof(cases) / sizeof(cases[0]), 0, 0);
    run(cases, sizeof(cases) / sizeof(cases[0]), 1, 0);
}

/* Flags: a bare number is seconds; everything else is the resource grammar. */
static void test_bare_seconds(void **state)
{
    (void)state;
    static const dcase_t ms[] = {
        {"10", 0, 10000},      {"1.5", 0, 1500},     {"0", 0, 0},          {"00", 0, 0},
        {"5s", 0, 5000},       {"1m30s", 0, 90000},  {"", CG_EINVAL, 0},   {"-1", CG_EINVAL, 0},
        {"1e3", CG_EINVAL, 0}, {"+5", CG_EINVAL, 0}, {"5 ", CG_EINVAL, 0}, {"1s5", CG_EINVAL, 0},
        {"inf", CG_EINVAL, 0},
    };
    run(ms, sizeof(ms) / sizeof(ms[0]), 0, CG_DURATION_BARE_SECONDS);
    static const dcase_t us[] = {{"10", 0, 10000000}, {"0.1", 0, 100000}};
    run(us, sizeof(us) / sizeof(us[0]), 1, CG_DURATION_BARE_SECONDS);
}

/* The input is a slice: nothing past len is read, and a unit cut off is missing. */
static void test_slice_not_terminated(void **state)
{
    (void)state;
    uint64_t v = 0;
    assert_int_equal(cg_duration_parse_ms("15s0", 3, 0, &v), 0);
    assert_int_equal(v, 15000);
    assert_int_equal(cg_duration_parse_ms("250ms", 4, 0, &v), 0); /* "250m" */
    assert_int_equal(v, 250 * 60000);
    assert_int_equal(cg_duration_parse_ms("5s", 1, 0, &v), CG_EINVAL);
    assert_int_equal(cg_duration_parse_ms("5e3", 1, CG_DURATION_BARE_SECONDS, &v), 0);
    assert_int_equal(v, 5000);
    /* a number longer than 64 characters: the extra fraction digits do not count */
    char longnum[128];
    snprintf(longnum, sizeof(longnum), "1.%070ds", 1);
    assert_int_equal(cg_duration_parse_ms(longnum, strlen(longnum), 0, &v), 0);
    assert_int_equal(v, 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values_in_ms),
        cmocka_unit_test(test_values_in_us),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_bare_seconds),
        cmocka_unit_test(test_slice_not_terminated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
