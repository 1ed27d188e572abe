/* Tests of the access-log line (Envoy's default format) and of response-flag formatting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/list.h"
#include "proxy/accesslog.h"

#include <stdio.h>
#include <string.h>

static void assert_buf_is(const cg_buf_t *b, const char *want)
{
    size_t n = strlen(want);
    if (cg_buf_size(b) != n || (n && memcmp(cg_buf_data(b), want, n) != 0))
        fail_msg("got  \"%.*s\"\nwant \"%s\"", (int)cg_buf_size(b), cg_buf_data(b), want);
}

static void test_flags_format(void **state)
{
    (void)state;
    static const struct {
        uint32_t flags;
        const char *want;
    } cases[] = {
        {0, "-"},
        {CG_RF_UF, "UF"},
        {CG_RF_NR, "NR"},
        {CG_RF_UF | CG_RF_URX, "UF,URX"},
        {CG_RF_URX | CG_RF_UF, "UF,URX"}, /* always in table order */
        {CG_RF_UH | CG_RF_UO, "UH,UO"},
        {CG_RF_DPE, "DPE"},
        {CG_RF_UH | CG_RF_UF | CG_RF_UO | CG_RF_NR | CG_RF_URX | CG_RF_UT | CG_RF_UC | CG_RF_DC |
             CG_RF_DPE | CG_RF_UPE | CG_RF_SI | CG_RF_LR,
         "UH,UF,UO,NR,URX,UT,UC,DC,DPE,UPE,SI,LR"},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(cases); i++) {
        cg_buf_t b = {0};
        cg_proxy_flags_format(&b, cases[i].flags);
        assert_buf_is(&b, cases[i].want);
        cg_buf_free(&b);
    }
    /* appends to what is there */
    cg_buf_t b = {0};
    cg_buf_append_str(&b, "flags=");
    cg_proxy_flags_format(&b, CG_RF_UT);
    assert_buf_is(&b, "flags=UT");
    cg_buf_free(&b);
}

static void test_line_for_a_proxied_request(void **state)
{
    (void)state;
    cg_access_entry_t e = {
        .start_wall_us = 1700000000123456ull, /* 2023-11-14T22:13:20.123456Z */
        .method = CG_IOV_LIT("GET"),
        .path = CG_IOV_LIT("/productpage?u=normal"),
        .http_minor = 1,
        .status = 200,
        .flags = 0,
        .bytes_received = 0,
        .bytes_sent = 5293,
        .duration_ms = 12,
        .upstream_ms = 10,
        .xff_orig = CG_IOV_NULL,
        .peer_ip = CG_IOV_LIT("10.0.0.1"),
        .user_agent = CG_IOV_LIT("curl/8.0.1"),
        .request_id = CG_IOV_LIT("6f1c7e2a-4d7b-4a9e-9d27-2b1c3d4e5f60"),
        .authority = CG_IOV_LIT("bookinfo.tse.tetratelabs.io"),
        .upstream_host = CG_IOV_LIT("127.0.1.1:8080"),
    };
    cg_buf_t b = {0};
    cg_proxy_access_format(&b, &e);
    assert_buf_is(
        &b, "[2023-11-14T22:13:20.123Z] \"GET /productpage?u=normal HTTP/1.1\" 200 - 0 5293 12 10 "
            "\"10.0.0.1\" \"curl/8.0.1\" \"6f1c7e2a-4d7b-4a9e-9d27-2b1c3d4e5f60\" "
            "\"bookinfo.tse.tetratelabs.io\" \"127.0.1.1:8080\"\n");

    /* lines are appended one after the other */
    e.status = 503;
    e.flags = CG_RF_UF | CG_RF_URX;
    e.upstream_ms = -1;
    e.upstream_host = CG_IOV_NULL;
    e.method = CG_IOV_LIT("POST");
    e.path = CG_IOV_LIT("/x");
    e.http_minor = 0;
    e.bytes_received = 42;
    e.bytes_sent = 91;
    e.duration_ms = 3012;
    e.xff_orig = CG_IOV_LIT("1.2.3.4");
    e.user_agent = CG_IOV_NULL;
    size_t first = cg_buf_size(&b);
    cg_proxy_access_format(&b, &e);
    cg_buf_t second = {0};
    cg_buf_append(&second, cg_buf_data(&b) + first, cg_buf_size(&b) - first);
    assert_buf_is(&second,
                  "[2023-11-14T22:13:20.123Z] \"POST /x HTTP/1.0\" 503 UF,URX 42 91 3012 - "
                  "\"1.2.3.4,10.0.0.1\" \"-\" \"6f1c7e2a-4d7b-4a9e-9d27-2b1c3d4e5f60\" "
                  "\"bookinfo.tse.tetratelabs.io\" \"-\"\n");
    cg_buf_free(&second);
    cg_buf_free(&b);
}

static void test_line_for_a_malformed_request(void **state)
{
    (void)state;
    /* a request refused before its method and path were known */
    cg_access_entry_t e = {
        .start_wall_us = 0,
        .http_minor = 1,
        .status = 400,
        .flags = CG_RF_DPE,
        .upstream_ms = -1,
        .peer_ip = CG_IOV_LIT("::1"),
    };
    cg_buf_t b = {0};
    cg_proxy_access_format(&b, &e);
    assert_buf_is(&b, "[1970-01-01T00:00:00.000Z] \"- - HTTP/1.1\" 400 DPE 0 0 0 - \"::1\" \"-\" "
                      "\"-\" \"-\" \"-\"\n");
    cg_buf_free(&b);
}

static void test_line_stays_one_line(void **state)
{
    (void)state;
    /* client-controlled values cannot break the line: control bytes become spaces */
    cg_access_entry_t e = {
        .start_wall_us = 1700000000999999ull,
        .method = CG_IOV_LIT("GET"),
        .path = CG_IOV_LIT("/a"),
        .http_minor = 1,
        .status = 404,
        .flags = CG_RF_NR,
        .upstream_ms = -1,
        .xff_orig = cg_iov("a\nb", 3),
        .peer_ip = CG_IOV_LIT("10.0.0.1"),
        .user_agent = cg_iov("ua\r\n\t\x01\x7fz", 8),
        .request_id = cg_iov("r\0d", 3),
        .authority = CG_IOV_LIT("h\x1b[31m"),
    };
    cg_buf_t b = {0};
    cg_proxy_access_format(&b, &e);
    assert_buf_is(&b,
                  "[2023-11-14T22:13:20.999Z] \"GET /a HTTP/1.1\" 404 NR 0 0 0 - \"a b,10.0.0.1\" "
                  "\"ua     z\" \"r d\" \"h [31m\" \"-\"\n");
    const char *nl = memchr(cg_buf_data(&b), '\n', cg_buf_size(&b));
    assert_ptr_equal(nl, cg_buf_data(&b) + cg_buf_size(&b) - 1);
    cg_buf_free(&b);
}

static void test_tls_fields_end_the_line_when_asked_for(void **state)
{
    (void)state;
    cg_access_entry_t e = {
        .start_wall_us = 0,
        .method = CG_IOV_LIT("GET"),
        .path = CG_IOV_LIT("/"),
        .http_minor = 1,
        .status = 200,
        .upstream_ms = -1,
        .peer_ip = CG_IOV_LIT("10.0.0.1"),
        .tls_version = CG_IOV_LIT("TLSv1.3"),
        .sni = cg_iov("a.example\n", 10),
    };
    static const char head[] = "[1970-01-01T00:00:00.000Z] \"GET / HTTP/1.1\" 200 - 0 0 0 - "
                               "\"10.0.0.1\" \"-\" \"-\" \"-\" \"-\"";
    cg_buf_t b = {0};
    cg_proxy_access_format(&b, &e); /* not asked for: the default format, whatever is set */
    assert_buf_is(&b, "[1970-01-01T00:00:00.000Z] \"GET / HTTP/1.1\" 200 - 0 0 0 - \"10.0.0.1\" "
                      "\"-\" \"-\" \"-\" \"-\"\n");
    cg_buf_reset(&b);
    e.tls_fields = 1;
    cg_proxy_access_format(&b, &e); /* the client's name cannot break the line either */
    char want[256];
    snprintf(want, sizeof(want), "%s \"TLSv1.3\" \"a.example \"\n", head);
    assert_buf_is(&b, want);
    cg_buf_reset(&b);
    e.tls_version = e.sni = CG_IOV_NULL; /* plain text */
    cg_proxy_access_format(&b, &e);
    snprintf(want, sizeof(want), "%s \"-\" \"-\"\n", head);
    assert_buf_is(&b, want);
    cg_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_flags_format),
        cmocka_unit_test(test_line_for_a_proxied_request),
        cmocka_unit_test(test_line_for_a_malformed_request),
        cmocka_unit_test(test_line_stays_one_line),
        cmocka_unit_test(test_tls_fields_end_the_line_when_asked_for),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
