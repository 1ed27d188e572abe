/* The framing contract of forwarded heads (http/forward.c): what crosses the gateway, byte for
 * byte. Each case parses a head with the real parser and compares the rebuilt head exactly. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "http/forward.h"
#include "http/parser.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cg_http_head_t head;

static void parse(const char *in, int is_request, cg_http_parser_t *p)
{
    size_t parsed = 0;
    cg_http_parser_init(p, is_request, &head, NULL);
    int r = cg_http_parse_head(p, in, strlen(in), &parsed);
    if (r != 0)
        fail_msg("head does not parse (%d): %s", r, p->error_reason ? p->error_reason : "?");
}

static char *flatten(const cg_http_out_t *o)
{
    static char buf[8192];
    size_t n = 0;
    for (unsigned i = o->pos; i < o->n; i++) {
        memcpy(buf + n, o->iov[i].iov_base, o->iov[i].iov_len);
        n += o->iov[i].iov_len;
    }
    buf[n] = '\0';
    return buf;
}

static const char *forward_request(const char *in, const char *rid, unsigned hops)
{
    static cg_http_out_t o;
    cg_http_parser_t p;
    parse(in, 1, &p);
    cg_http_out_reset(&o);
    cg_http_fwd_req_t f = {.peer_ip = CG_IOV_LIT("10.0.0.9"),
                           .request_id = rid ? cg_iov_str(rid) : CG_IOV_NULL,
                           .hops = hops,
                           .drop_expect = (head.flags & CG_HTTP_F_EXPECT_CONTINUE) != 0};
    assert_int_equal(cg_http_forward_request_head(&o, &head, in, &f), 0);
    return flatten(&o);
}

#define ADDED "x-forwarded-proto: http\r\nx-crossgate-hops: 1\r\n"

/* A WebSocket handshake keeps its Upgrade and gets Connection: upgrade; any other Upgrade is
 * dropped with the rest of the hop-by-hop headers. */
static void test_websocket_handshake_keeps_its_upgrade(void **state)
{
    (void)state;
    static const char ws[] = "GET /chat HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n"
                             "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: k\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n";
    cg_http_parser_t p;
    parse(ws, 1, &p);
    assert_true(cg_http_is_websocket(&head, ws));
    static cg_http_out_t o;
    cg_http_out_reset(&o);
    cg_http_fwd_req_t f = {.peer_ip = CG_IOV_LIT("10.0.0.9"), .hops = 1, .upgrade = 1};
    assert_int_equal(cg_http_forward_request_head(&o, &head, ws, &f), 0);
    assert_string_equal(flatten(&o),
                        "GET /chat HTTP/1.1\r\nHost: a\r\nSec-WebSocket-Key: k\r\n"
                        "Sec-WebSocket-Version: 13\r\nx-forwarded-for: 10.0.0.9\r\n" ADDED
                        "Upgrade: websocket\r\n"
                        "connection: upgrade\r\n\r\n");
    static const char *const not_ws[] = {
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\n\r\n", /* Connection names none */
        "GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nUpgrade: h2c\r\n"
        "Connection: Upgrade\r\n\r\n",
        "POST / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Content-Length: 2\r\n\r\n",
        "GET / HTTP/1.0\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(not_ws) / sizeof(not_ws[0]); i++) {
        parse(not_ws[i], 1, &p);
        if (cg_http_is_websocket(&head, not_ws[i])) fail_msg("taken for WebSocket: %s", not_ws[i]);
    }
    /* a plain forward of the h2c one drops its Upgrade */
    const char *got = forward_request(not_ws[0], NULL, 1);
    assert_null(strstr(got, "pgrade"));
}

static void test_connection_cannot_strip_content_length(void **state)
{
    (void)state;
    /* the reproduction: Connection named Content-Length, which was dropped, and the body went
     * upstream unframed to run as a second request */
    const char *got =
        forward_request("POST /x HTTP/1.1\r\nHost: a\r\nConnection: content-length\r\n"
                        "Content-Length: 36\r\n\r\n",
                        NULL, 1);
    assert_string_equal(got, "POST /x HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 10.0.0.9\r\n" ADDED
                             "content-length: 36\r\n\r\n");
}

static void test_connection_cannot_strip_host_te_or_gateway_headers(void **state)
{
    (void)state;
    const char *got = forward_request(
        "POST /x HTTP/1.1\r\nHost: a\r\nConnection: host, transfer-encoding, x-forwarded-for, "
        "x-request-id, x-crossgate-hops, x-forwarded-proto, x-secret\r\nX-Secret: s\r\n"
        "X-Request-Id: r1\r\nX-Forwarded-For: 1.2.3.4\r\nTransfer-Encoding: chunked\r\n\r\n",
        NULL, 1);
    assert_string_equal(got, "POST /x HTTP/1.1\r\nHost: a\r\nX-Request-Id: r1\r\n"
                             "x-forwarded-for: 1.2.3.4,10.0.0.9\r\n" ADDED
                             "transfer-encoding: chunked\r\n\r\n");
}

static void test_every_connection_header_counts(void **state)
{
    (void)state;
    const char *got = forward_request("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n"
                                      "X-A: 1\r\nConnection: x-a\r\nX-B: 2\r\n\r\n",
                                      NULL, 1);
    assert_string_equal(
        got, "GET / HTTP/1.1\r\nHost: a\r\nX-B: 2\r\nx-forwarded-for: 10.0.0.9\r\n" ADDED "\r\n");
}

static void test_hop_by_hop_headers_are_dropped(void **state)
{
    (void)state;
    const char *got =
        forward_request("GET / HTTP/1.1\r\nHost: a\r\nKeep-Alive: 5\r\nTE: trailers\r\n"
                        "Trailer: x\r\nUpgrade: websocket\r\nProxy-Connection: x\r\n\r\n",
                        NULL, 1);
    assert_string_equal(got,
                        "GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 10.0.0.9\r\n" ADDED "\r\n");
}

static void test_content_length_is_normalised(void **state)
{
    (void)state;
    const char *got =
        forward_request("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0005\r\n\r\n", NULL, 1);
    assert_string_equal(got, "POST / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 10.0.0.9\r\n" ADDED
                             "content-length: 5\r\n\r\n");
}

static void test_absolute_form_goes_in_origin_form_with_its_authority_as_host(void **state)
{
    (void)state;
    const char *got =
        forward_request("GET http://b.example:81/p?q HTTP/1.1\r\nHost: a\r\n\r\n", NULL, 1);
    assert_string_equal(
        got,
        "GET /p?q HTTP/1.1\r\nhost: b.example:81\r\nx-forwarded-for: 10.0.0.9\r\n" ADDED "\r\n");
    got = forward_request("GET http://b.example?q HTTP/1.1\r\nHost: b.example\r\n\r\n", NULL, 1);
    assert_string_equal(
        got, "GET /?q HTTP/1.1\r\nhost: b.example\r\nx-forwarded-for: 10.0.0.9\r\n" ADDED "\r\n");
}

/* An endpoint with a Host of its own (an east-west gateway routes on the service's hostname)
 * gets that one instead of the client's, whatever form the client used; nothing else changes. */
static void test_endpoint_host_replaces_the_clients(void **state)
{
    (void)state;
    static const char *const in[] = {
        "GET /p HTTP/1.1\r\nHost: bookinfo.example\r\n\r\n",
        "GET http://bookinfo.example/p HTTP/1.1\r\nHost: bookinfo.example\r\n\r\n",
        "GET /p HTTP/1.0\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        static cg_http_out_t o;
        cg_http_parser_t p;
        parse(in[i], 1, &p);
        cg_http_out_reset(&o);
        cg_http_fwd_req_t f = {.peer_ip = CG_IOV_LIT("10.0.0.9"),
                               .hops = 1,
                               .default_host = CG_IOV_LIT("10.0.0.1:9080"),
                               .host = CG_IOV_LIT("pp.bookinfo.svc")};
        assert_int_equal(cg_http_forward_request_head(&o, &head, in[i], &f), 0);
        assert_string_equal(flatten(&o), "GET /p HTTP/1.1\r\nhost: pp.bookinfo.svc\r\n"
                                         "x-forwarded-for: 10.0.0.9\r\n" ADDED "\r\n");
    }
}

static void test_generated_request_id_replaces_an_empty_one(void **state)
{
    (void)state;
    const char *got =
        forward_request("GET / HTTP/1.1\r\nHost: a\r\nX-Request-Id:\r\n\r\n", "abc", 2);
    assert_string_equal(
        got, "GET / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 10.0.0.9\r\n"
             "x-forwarded-proto: http\r\nx-crossgate-hops: 2\r\nx-request-id: abc\r\n\r\n");
}

static void test_expect_dropped_only_when_answered_here(void **state)
{
    (void)state;
    const char *got = forward_request(
        "PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", NULL, 1);
    assert_string_equal(got, "PUT / HTTP/1.1\r\nHost: a\r\nx-forwarded-for: 10.0.0.9\r\n" ADDED
                             "content-length: 1\r\n\r\n");
}

static void test_hops_is_the_largest_of_all_headers(void **state)
{
    (void)state;
    cg_http_parser_t p;
    const char *in =
        "GET / HTTP/1.1\r\nHost: a\r\nx-crossgate-hops: 1\r\nX-Crossgate-Hops: 9\r\n\r\n";
    parse(in, 1, &p);
    assert_int_equal(cg_http_head_hops(&head, in), 9);
    in = "GET / HTTP/1.1\r\nHost: a\r\nx-crossgate-hops: 1\r\nx-crossgate-hops: x\r\n\r\n";
    parse(in, 1, &p);
    assert_int_equal(cg_http_head_hops(&head, in), UINT_MAX);
    in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    parse(in, 1, &p);
    assert_int_equal(cg_http_head_hops(&head, in), 0);
}

static const char *forward_response(const char *in, int chunked_out, int close)
{
    static cg_http_out_t o;
    cg_http_parser_t p;
    parse(in, 0, &p);
    cg_http_out_reset(&o);
    assert_int_equal(cg_http_forward_response_head(&o, &head, in, chunked_out, close, 0), 0);
    return flatten(&o);
}

static void test_upstream_connection_cannot_strip_response_framing(void **state)
{
    (void)state;
    const char *got =
        forward_response("HTTP/1.1 200 OK\r\nConnection: content-length, x-a\r\nX-A: 1\r\n"
                         "Content-Length: 2\r\n\r\n",
                         0, 0);
    assert_string_equal(got, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n");
}

static void test_response_rechunked_or_closed(void **state)
{
    (void)state;
    const char *got =
        forward_response("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-B: 2\r\n\r\n", 1, 1);
    assert_string_equal(
        got,
        "HTTP/1.1 200 OK\r\nX-B: 2\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n");
    got = forward_response("HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n", 0, 0);
    assert_string_equal(got, "HTTP/1.1 204 No Content\r\n\r\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_websocket_handshake_keeps_its_upgrade),
        cmocka_unit_test(test_connection_cannot_strip_content_length),
        cmocka_unit_test(test_connection_cannot_strip_host_te_or_gateway_headers),
        cmocka_unit_test(test_every_connection_header_counts),
        cmocka_unit_test(test_hop_by_hop_headers_are_dropped),
        cmocka_unit_test(test_content_length_is_normalised),
        cmocka_unit_test(test_absolute_form_goes_in_origin_form_with_its_authority_as_host),
        cmocka_unit_test(test_endpoint_host_replaces_the_clients),
        cmocka_unit_test(test_generated_request_id_replaces_an_empty_one),
        cmocka_unit_test(test_expect_dropped_only_when_answered_here),
        cmocka_unit_test(test_hops_is_the_largest_of_all_headers),
        cmocka_unit_test(test_upstream_connection_cannot_strip_response_framing),
        cmocka_unit_test(test_response_rechunked_or_closed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
