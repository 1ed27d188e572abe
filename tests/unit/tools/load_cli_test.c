/* Tests of the command line of `crossgate load`: flag values and argument parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* the file under test, for its static functions (the engine is linked) */
#include "tools/load.c"

/* --- flag values --- */

static void test_parse_flag_values(void **state)
{
    /* the grammar itself is tested in core/duration_test.c; a flag takes bare seconds */
    static const struct {
        const char *in;
        int ok;
        uint64_t us;
    } cases[] = {
        {"30s", 1, 30000000}, {"500ms", 1, 500000}, {"10", 1, 10000000}, {"1m30s", 1, 90000000},
        {"", 0, 0},           {"5x", 0, 0},         {"250us", 0, 0},     {"1e300s", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t us = 0;
        int r = parse_duration(cases[i].in, &us);
        if ((r == 0) != cases[i].ok) fail_msg("\"%s\": got %d", cases[i].in, r);
        if (cases[i].ok && us != cases[i].us)
            fail_msg("\"%s\": got %llu us", cases[i].in, (unsigned long long)us);
    }
    uint64_t n;
    assert_int_equal(parse_count("50", 100, &n), 0);
    assert_int_equal(n, 50);
    assert_int_not_equal(parse_count("101", 100, &n), 0);
    assert_int_not_equal(parse_count("-1", 100, &n), 0);
    assert_int_not_equal(parse_count("1k", 100, &n), 0);
    assert_int_not_equal(parse_count("", 100, &n), 0);
}

static cli_t cli;

static int args(cg_load_t *ld, const char *line)
{
    static char buf[512]; /* the parsed options point into it */
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof(buf), "load %s", line);
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " ")) argv[argc++] = t;
    argv[argc] = NULL;
    memset(ld, 0, sizeof(*ld));
    memset(&cli, 0, sizeof(cli));
    int r = parse_args(&cli, ld, argc, argv);
    return r;
}

static void test_parse_args(void **state)
{
    cg_load_t *ld = calloc(1, sizeof(*ld));
    assert_int_equal(args(ld, "http://127.0.0.1:8080/p?q=1"), 0);
    assert_int_equal(ld->conns, 1);
    assert_int_equal(ld->max_conns, 1);
    assert_int_equal(ld->duration_us, 10000000);
    assert_int_equal(ld->interval_us, 1000000);
    assert_true(ld->rate == 0);
    assert_string_equal(ld->path, "/p?q=1");
    assert_string_equal(ld->host_hdr, "127.0.0.1:8080");

    assert_int_equal(
        args(ld, "-c 50 -d 30s --rate 200.5 --host app.example -n 1000 --interval 100ms -q "
                 "--json - http://localhost:9/"),
        0);
    assert_int_equal(ld->conns, 50);
    assert_int_equal(ld->max_conns, 512);
    assert_true(ld->rate == 200.5);
    assert_int_equal(ld->max_requests, 1000);
    assert_int_equal(ld->interval_us, 100000);
    assert_string_equal(ld->host_hdr, "app.example");
    assert_string_equal(cli.json_path, "-");
    assert_true(cli.quiet);
    assert_string_equal(ld->path, "/");
    assert_int_equal(cg_addr_port(&ld->addr), 9);

    assert_int_equal(args(ld, "--rate 10 -c 600 http://127.0.0.1:9/"), 0);
    assert_int_equal(ld->max_conns, 600);
    assert_int_equal(args(ld, "--help"), -1);

    static const char *const bad_lines[] = {
        "",
        "http://example.com/",
        "https://127.0.0.1:1/",
        "127.0.0.1:80",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:1/ extra",
        "-c 0 http://127.0.0.1:1/",
        "-c x http://127.0.0.1:1/",
        "-d 0 http://127.0.0.1:1/",
        "-d 25h http://127.0.0.1:1/",
        "--rate 0 http://127.0.0.1:1/",
        "--rate -5 http://127.0.0.1:1/",
        "--interval 1ms http://127.0.0.1:1/",
        "-n 0 http://127.0.0.1:1/",
        "--bogus http://127.0.0.1:1/",
        "http://127.0.0.1:1/ -c",
    };
    for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++)
        if (args(ld, bad_lines[i]) != 2) fail_msg("accepted: %s", bad_lines[i]);
    free(ld);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_flag_values),
        cmocka_unit_test(test_parse_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
