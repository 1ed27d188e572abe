/* Tests of the command line of `crossgate load`: flags into the engine's options, and the
 * engine's own refusal of what the flags cannot check (the URL, the Host). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/sock.h"
#include "tools/load_cli.h"
#include "tools/load_engine.h"

static cg_load_opts_t opts;
static cg_load_cli_t cli;

static int args(const char *line)
{
    static char buf[512]; /* the parsed options point into it */
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof(buf), "load %s", line);
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " ")) argv[argc++] = t;
    argv[argc] = NULL;
    return cg_tools_load_args(argc, argv, &opts, &cli);
}

/* The flags, then the engine: 0 and the run, or the exit code the command would give. */
static int run_of(const char *line, cg_load_t **out)
{
    int r = args(line);
    *out = NULL;
    if (r) return r;
    char err[256];
    *out = cg_tools_load_new(&opts, NULL, err, sizeof(err));
    return *out ? 0 : 2;
}

/* A duration flag takes the resource grammar (core/duration_test.c) and bare seconds. */
static void test_duration_flags(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int ok;
        uint64_t us;
    } cases[] = {
        {"30s", 1, 30000000}, {"500ms", 1, 500000}, {"10", 1, 10000000}, {"1m30s", 1, 90000000},
        {"5x", 0, 0},         {"250us", 0, 0},      {"1e300s", 0, 0},    {"0", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char line[128];
        snprintf(line, sizeof(line), "-d %s http://127.0.0.1:1/", cases[i].in);
        int r = args(line);
        if ((r == 0) != cases[i].ok) fail_msg("-d %s: got %d", cases[i].in, r);
        if (cases[i].ok && opts.duration_us != cases[i].us)
            fail_msg("-d %s: got %llu us", cases[i].in, (unsigned long long)opts.duration_us);
    }
}

static void test_defaults_and_flags(void **state)
{
    (void)state;
    cg_load_t *ld;
    assert_int_equal(run_of("http://127.0.0.1:8080/p?q=1", &ld), 0);
    assert_int_equal(ld->conns, 1);
    assert_int_equal(ld->max_conns, 1);
    assert_int_equal(ld->duration_us, 10000000);
    assert_int_equal(ld->interval_us, 1000000);
    assert_int_equal(ld->timeout_us, 5000000);
    assert_true(ld->rate == 0);
    assert_string_equal(ld->path, "/p?q=1");
    assert_string_equal(ld->host_hdr, "127.0.0.1:8080");
    /* the request every connection sends */
    static const char want[] = "GET /p?q=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
                               "User-Agent: crossgate-load\r\nAccept: */*\r\n\r\n";
    assert_int_equal(ld->req_len, sizeof(want) - 1);
    assert_memory_equal(ld->req, want, sizeof(want) - 1);
    cg_tools_load_free(ld);

    assert_int_equal(
        run_of("-c 50 -d 30s --rate 200.5 --host app.example -n 1000 --interval 100ms -q "
               "--timeout 2s --json - http://localhost:9/",
               &ld),
        0);
    assert_int_equal(ld->conns, 50);
    assert_int_equal(ld->max_conns, 512); /* open loop: max(connections, 512) */
    assert_true(ld->rate == 200.5);
    assert_int_equal(ld->max_requests, 1000);
    assert_int_equal(ld->interval_us, 100000);
    assert_int_equal(ld->timeout_us, 2000000);
    assert_string_equal(ld->host_hdr, "app.example");
    assert_string_equal(cli.json_path, "-");
    assert_true(cli.quiet);
    assert_string_equal(ld->path, "/");
    assert_int_equal(cg_addr_port(&ld->addr), 9);
    cg_tools_load_free(ld);

    /* the open-loop cap is never below the connections kept open */
    assert_int_equal(run_of("--rate 10 -c 600 http://127.0.0.1:9/", &ld), 0);
    assert_int_equal(ld->max_conns, 600);
    cg_tools_load_free(ld);
    assert_int_equal(run_of("--rate 10 -c 20 --max-conns 5 http://127.0.0.1:9/", &ld), 0);
    assert_int_equal(ld->max_conns, 20);
    cg_tools_load_free(ld);
    assert_int_equal(run_of("--rate 10 -c 20 --max-conns 40 http://127.0.0.1:9/", &ld), 0);
    assert_int_equal(ld->max_conns, 40);
    cg_tools_load_free(ld);
    /* closed loop: exactly the connections */
    assert_int_equal(run_of("-c 20 --max-conns 40 http://127.0.0.1:9/", &ld), 0);
    assert_int_equal(ld->max_conns, 20);
    cg_tools_load_free(ld);

    assert_int_equal(args("--help"), -1);
}

/* --http2 speaks h2c with one stream per connection unless --streams says more; --resolve-via
 * takes a hostname URL and an IP:PORT server, and the Host stays the URL's host:port. */
static void test_http2_and_resolve_flags(void **state)
{
    (void)state;
    cg_load_t *ld;
    assert_int_equal(run_of("http://127.0.0.1:8080/", &ld), 0);
    assert_int_equal(ld->streams, 0); /* HTTP/1.1 */
    assert_null(ld->dns);
    cg_tools_load_free(ld);
    assert_int_equal(run_of("--http2 http://127.0.0.1:8080/", &ld), 0);
    assert_int_equal(ld->streams, 1);
    cg_tools_load_free(ld);
    assert_int_equal(run_of("--http2 --streams 10 -c 3 http://127.0.0.1:8080/", &ld), 0);
    assert_int_equal(ld->streams, 10);
    assert_int_equal(ld->conns, 3);
    cg_tools_load_free(ld);

    assert_int_equal(run_of("--resolve-via 127.0.0.1:5353 http://app.gslb.test:8080/x", &ld), 0);
    assert_non_null(ld->dns);
    assert_string_equal(cg_load_dns_name(ld->dns), "app.gslb.test");
    assert_string_equal(cg_load_dns_server(ld->dns), "127.0.0.1:5353");
    assert_string_equal(ld->host_hdr, "app.gslb.test:8080");
    assert_string_equal(ld->path, "/x");
    cg_tools_load_free(ld);
    /* no port: 80, and the Host is the bare name */
    assert_int_equal(run_of("--resolve-via 127.0.0.1:53 --http2 http://app.example", &ld), 0);
    assert_string_equal(ld->host_hdr, "app.example");
    assert_string_equal(ld->path, "/");
    cg_load_dns_t *d = ld->dns;
    assert_int_equal(cg_load_dns_pick(d, &(cg_addr_t){0}), CG_ENOENT); /* no answer yet */
    cg_tools_load_free(ld);
}

static void test_bad_command_lines(void **state)
{
    (void)state;
    static const char *const bad_lines[] = {
        "",
        "http://example.com/",
        "https://127.0.0.1:1/",
        "127.0.0.1:80",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:1/ extra",
        "-c 0 http://127.0.0.1:1/",
        "-c x http://127.0.0.1:1/",
        "-c 100001 http://127.0.0.1:1/",
        "-d 0 http://127.0.0.1:1/",
        "-d 25h http://127.0.0.1:1/",
        "--rate 0 http://127.0.0.1:1/",
        "--rate -5 http://127.0.0.1:1/",
        "--interval 1ms http://127.0.0.1:1/",
        "--timeout 0 http://127.0.0.1:1/",
        "-n 0 http://127.0.0.1:1/",
        "-n -1 http://127.0.0.1:1/",
        "--max-conns 0 --rate 1 http://127.0.0.1:1/",
        "--bogus http://127.0.0.1:1/",
        "http://127.0.0.1:1/ -c",
        "--streams 4 http://127.0.0.1:1/",
        "--http2 --streams 0 http://127.0.0.1:1/",
        "--http2 --streams 1001 http://127.0.0.1:1/",
        "--http2 https://127.0.0.1:1/",
        "--resolve-via 127.0.0.1 http://app.example:1/",
        "--resolve-via 127.0.0.1:0 http://app.example:1/",
        "--resolve-via ns.example:53 http://app.example:1/",
        "--resolve-via 127.0.0.1:53 http://127.0.0.1:1/",
        "--resolve-via 127.0.0.1:53 http://app.example:0/",
        "--resolve-via 127.0.0.1:53 http://app.example:99999/",
        "--resolve-via 127.0.0.1:53 http://a@b.example:1/",
        "--resolve-via 127.0.0.1:53 http://:80/",
        "--resolve-via 127.0.0.1:53 https://app.example/",
        "--resolve-via",
        "--http2 --streams 1000 -c 1001 http://127.0.0.1:1/",
        "--http2 --streams 1000 --rate 5 --max-conns 2000 http://127.0.0.1:1/",
    };
    for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++) {
        cg_load_t *ld;
        int r = run_of(bad_lines[i], &ld);
        if (r != 2) fail_msg("accepted (%d): %s", r, bad_lines[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_flags),
        cmocka_unit_test(test_defaults_and_flags),
        cmocka_unit_test(test_http2_and_resolve_flags),
        cmocka_unit_test(test_bad_command_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
