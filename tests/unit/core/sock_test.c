/* Tests of address parsing and formatting, and a loopback listen/connect round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/list.h"
#include "core/sock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* One row: input, expected result, and for good input the family, port and formatted form. */
typedef struct {
    const char *in;
    int ok;
    int family;
    uint16_t port;
    const char *formatted;
} addr_case_t;

static const addr_case_t addr_cases[] = {
    {"127.0.0.1:80", 1, AF_INET, 80, "127.0.0.1:80"},
    {"0.0.0.0:0", 1, AF_INET, 0, "0.0.0.0:0"},
    {"255.255.255.255:65535", 1, AF_INET, 65535, "255.255.255.255:65535"},
    {"10.1.2.3:08080", 1, AF_INET, 8080, "10.1.2.3:8080"},
    {"[::1]:8080", 1, AF_INET6, 8080, "[::1]:8080"},
    {"[::]:0", 1, AF_INET6, 0, "[::]:0"},
    {"[2001:db8::1]:443", 1, AF_INET6, 443, "[2001:db8::1]:443"},
    {"[2001:0DB8:0000:0000:0000:0000:0000:0001]:1", 1, AF_INET6, 1, "[2001:db8::1]:1"},
    {"[::ffff:127.0.0.1]:80", 1, AF_INET6, 80, "[::ffff:127.0.0.1]:80"},

    {"", 0, 0, 0, NULL},
    {":80", 0, 0, 0, NULL},
    {"127.0.0.1", 0, 0, 0, NULL},
    {"127.0.0.1:", 0, 0, 0, NULL},
    {"127.0.0.1:65536", 0, 0, 0, NULL},
    {"127.0.0.1:99999999999999999999", 0, 0, 0, NULL},
    {"127.0.0.1:-1", 0, 0, 0, NULL},
    {"127.0.0.1:80x", 0, 0, 0, NULL},
    {"127.0.0.1:0x50", 0, 0, 0, NULL},
    {"127.0.0.1:80 ", 0, 0, 0, NULL},
    {"127.0.0.1 :80", 0, 0, 0, NULL},
    {"127.0.0.256:80", 0, 0, 0, NULL},
    {"127.0.0:80", 0, 0, 0, NULL},
    {"localhost:80", 0, 0, 0, NULL},
    {"example.com:80", 0, 0, 0, NULL},
    {"[::1]", 0, 0, 0, NULL},
    {"[::1]:", 0, 0, 0, NULL},
    {"[::1]80", 0, 0, 0, NULL},
    {"[::1:80", 0, 0, 0, NULL},
    {"[]:80", 0, 0, 0, NULL},
    {"[::g]:80", 0, 0, 0, NULL},
    {"[::1]:65536", 0, 0, 0, NULL},
    {"1111111111111111111111111111111111111111111111111111111111111111111111:80", 0, 0, 0, NULL},
    {"[1111:1111:1111:1111:1111:1111:1111:1111:1111:1111:1111:1111:1111:1111]:80", 0, 0, 0, NULL},
};

/* The port is digits only: strtol's sign and leading blanks are not part of a port. */
static const addr_case_t lenient_port_cases[] = {
    {"127.0.0.1:+80", 0, 0, 0, NULL}, {"127.0.0.1:-0", 0, 0, 0, NULL},
    {"127.0.0.1: 80", 0, 0, 0, NULL}, {"127.0.0.1:\t80", 0, 0, 0, NULL},
    {"[::1]:+443", 0, 0, 0, NULL},
};

/* An unbracketed IPv6 literal cannot be told apart from its port ("::1:80" is itself an
 * address, so is "2001:db8::1:443"): only "[IPv6]:PORT" may be accepted. */
static const addr_case_t unbracketed_v6_cases[] = {
    {"::1:80", 0, 0, 0, NULL},
    {"2001:db8::1:443", 0, 0, 0, NULL},
    {"fe80::1:8080", 0, 0, 0, NULL},
};

static void run_addr_cases(const addr_case_t *cases, size_t ncases)
{
    int failures = 0;
    for (size_t i = 0; i < ncases; i++) {
        const addr_case_t *c = &cases[i];
        cg_addr_t a;
        int r = cg_addr_parse(&a, c->in);
        if (!c->ok) {
            if (r != CG_EINVAL) {
                char got[80];
                cg_addr_format(&a, got, sizeof(got));
                print_error("cg_addr_parse(\"%s\") = %d (%s), want CG_EINVAL\n", c->in, r, got);
                failures++;
            }
            continue;
        }
        if (r != 0) {
            print_error("cg_addr_parse(\"%s\") = %d, want 0\n", c->in, r);
            failures++;
            continue;
        }
        char out[80], ip[64];
        size_t n = cg_addr_format(&a, out, sizeof(out));
        if (a.u.sa.sa_family != c->family || cg_addr_port(&a) != c->port ||
            strcmp(out, c->formatted) != 0 || n != strlen(out)) {
            print_error("cg_addr_parse(\"%s\"): family %d port %u \"%s\", want %d %u \"%s\"\n",
                        c->in, a.u.sa.sa_family, cg_addr_port(&a), out, c->family, c->port,
                        c->formatted);
            failures++;
        }
        assert_int_equal(a.len, c->family == AF_INET ? sizeof(struct sockaddr_in)
                                                     : sizeof(struct sockaddr_in6));
        n = cg_addr_format_ip(&a, ip, sizeof(ip));
        assert_int_equal(n, strlen(ip));
        /* the IP part of the formatted form, brackets stripped */
        const char *want_ip = c->formatted + (c->family == AF_INET6);
        size_t want_len = (size_t)(strrchr(c->formatted, ':') - want_ip) - (c->family == AF_INET6);
        assert_int_equal(n, want_len);
        assert_memory_equal(ip, want_ip, want_len);
        /* formatting then parsing again gives the same address */
        cg_addr_t b;
        assert_int_equal(cg_addr_parse(&b, out), 0);
        assert_true(cg_addr_eq(&a, &b));
    }
    if (failures) fail_msg("%d address case(s) failed", failures);
}

static void test_addr_parse_table(void **state)
{
    (void)state;
    run_addr_cases(addr_cases, CG_ARRAY_SIZE(addr_cases));
}

static void test_addr_parse_port_is_digits_only(void **state)
{
    (void)state;
    run_addr_cases(lenient_port_cases, CG_ARRAY_SIZE(lenient_port_cases));
}

static void test_addr_parse_rejects_unbracketed_ipv6(void **state)
{
    (void)state;
    run_addr_cases(unbracketed_v6_cases, CG_ARRAY_SIZE(unbracketed_v6_cases));
}

static void test_addr_parse_ip(void **state)
{
    (void)state;
    cg_addr_t a, b;
    assert_int_equal(cg_addr_parse_ip(&a, "10.0.0.1", 9080), 0);
    assert_int_equal(a.u.sa.sa_family, AF_INET);
    assert_int_equal(cg_addr_port(&a), 9080);
    assert_int_equal(cg_addr_parse(&b, "10.0.0.1:9080"), 0);
    assert_true(cg_addr_eq(&a, &b));
    assert_int_equal(cg_addr_parse(&b, "10.0.0.1:9081"), 0);
    assert_false(cg_addr_eq(&a, &b));
    assert_int_equal(cg_addr_parse(&b, "10.0.0.2:9080"), 0);
    assert_false(cg_addr_eq(&a, &b));

    assert_int_equal(cg_addr_parse_ip(&a, "fe80::1", 1), 0);
    assert_int_equal(a.u.sa.sa_family, AF_INET6);
    assert_int_equal(cg_addr_parse(&b, "[fe80::1]:1"), 0);
    assert_true(cg_addr_eq(&a, &b));
    assert_int_equal(cg_addr_parse_ip(&b, "::ffff:10.0.0.1", 9080), 0);
    cg_addr_t v4;
    assert_int_equal(cg_addr_parse_ip(&v4, "10.0.0.1", 9080), 0);
    assert_false(cg_addr_eq(&v4, &b)); /* families differ */

    static const char *const bad[] = {"",       "1.2.3", "1.2.3.4.5", "1.2.3.4:80", "[::1]",
                                      "::1::2", "host",  " 1.2.3.4",  "1.2.3.4 "};
    for (size_t i = 0; i < CG_ARRAY_SIZE(bad); i++)
        if (cg_addr_parse_ip(&a, bad[i], 80) != CG_EINVAL)
            fail_msg("cg_addr_parse_ip(\"%s\") accepted", bad[i]);
}

static void test_format_small_buffers(void **state)
{
    (void)state;
    cg_addr_t a;
    assert_int_equal(cg_addr_parse(&a, "192.168.100.200:65535"), 0);
    char out[8];
    memset(out, 'X', sizeof(out));
    cg_addr_format(&a, out, sizeof(out));
    assert_int_equal(out[sizeof(out) - 1], '\0'); /* truncated, never unterminated */
    memset(out, 'X', sizeof(out));
    assert_int_equal(cg_addr_format_ip(&a, out, sizeof(out)), 0); /* does not fit */
    assert_int_equal(out[0], '\0');
}

/* IPv4 names are written without printf: the same text as inet_ntop and "%u" would give. */
static void test_format_ipv4(void **state)
{
    (void)state;
    static const char *const names[] = {"0.0.0.0:0", "255.255.255.255:65535", "10.1.20.3:8080",
                                        "127.0.0.1:9", "100.0.99.250:10000"};
    for (size_t i = 0; i < CG_ARRAY_SIZE(names); i++) {
        cg_addr_t a;
        char out[64];
        assert_int_equal(cg_addr_parse(&a, names[i]), 0);
        assert_int_equal(cg_addr_format(&a, out, sizeof(out)), strlen(names[i]));
        assert_string_equal(out, names[i]);
    }
}

static void test_listen_connect_loopback(void **state)
{
    (void)state;
    cg_addr_t a;
    assert_int_equal(cg_addr_parse(&a, "127.0.0.1:0"), 0);
    int lfd = cg_sock_listen(&a, 1, 16);
    assert_true(lfd >= 0);
    cg_addr_t bound = {.len = sizeof(bound.u)};
    assert_int_equal(getsockname(lfd, &bound.u.sa, &bound.len), 0);
    assert_int_not_equal(cg_addr_port(&bound), 0);

    int cfd = cg_sock_connect(&bound);
    assert_true(cfd >= 0);
    struct pollfd pfd = {.fd = cfd, .events = POLLOUT};
    assert_int_equal(poll(&pfd, 1, 5000), 1);
    assert_int_equal(cg_sock_error(cfd), 0);
    assert_int_equal(cg_sock_set_nodelay(cfd), 0);
    int afd;
    struct pollfd lp = {.fd = lfd, .events = POLLIN};
    assert_int_equal(poll(&lp, 1, 5000), 1);
    afd = accept(lfd, NULL, NULL);
    assert_true(afd >= 0);
    close(afd);
    close(cfd);

    /* a second listener on the same port without SO_REUSEPORT on both is refused */
    int l2 = cg_sock_listen(&bound, 0, 16);
    assert_int_equal(l2, CG_EADDRINUSE);
    /* with reuseport on both it is allowed (one listener per worker) */
    l2 = cg_sock_listen(&bound, 1, 16);
    assert_true(l2 >= 0);
    close(l2);
    close(lfd);

    /* nothing listens on that port any more: the connect fails with ECONNREFUSED */
    cfd = cg_sock_connect(&bound);
    if (cfd >= 0) {
        pfd = (struct pollfd){.fd = cfd, .events = POLLOUT};
        assert_int_equal(poll(&pfd, 1, 5000), 1);
        assert_int_equal(cg_sock_error(cfd), CG_ECONNREFUSED);
        close(cfd);
    } else {
        assert_int_equal(cfd, CG_ECONNREFUSED);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_addr_parse_table),
        cmocka_unit_test(test_addr_parse_port_is_digits_only),
        cmocka_unit_test(test_addr_parse_rejects_unbracketed_ipv6),
        cmocka_unit_test(test_addr_parse_ip),
        cmocka_unit_test(test_format_small_buffers),
        cmocka_unit_test(test_format_ipv4),
        cmocka_unit_test(test_listen_connect_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
