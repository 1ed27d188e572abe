/* HTTP/2 request fields rebuilt as an HTTP/1.1 head (http/h2req.c): the RFC 9113 §8 rules, and
 * that every head built parses with the real HTTP/1 parser as exactly one request. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "http/h2req.h"
#include "http/parser.h"
#include "../../fuzz/head_same.h"

#include <string.h>

typedef struct {
    const char *name, *value;
} field_t;

static cg_h2req_t req;
static cg_buf_t out;

/* Feeds the fields (a NULL name ends them) and builds the head. */
static int build(const field_t *f, int end_stream, int *chunked)
{
    cg_h2req_reset(&req, 64 * 1024);
    cg_buf_reset(&out);
    for (; f->name; f++)
        cg_h2req_field(&req, (const uint8_t *)f->name, strlen(f->name), (const uint8_t *)f->value,
                       strlen(f->value));
    int c = 0;
    int r = cg_h2req_head(&req, end_stream, &out, &c);
    if (chunked) *chunked = c;
    cg_buf_append(&out, "", 1); /* a NUL after the head, for strstr */
    out.len--;
    return r;
}

#define GET(...)                                                                                   \
    {":method", "GET"}, {":scheme", "https"}, {":path", "/p?q=1"}, __VA_ARGS__,                    \
    {                                                                                              \
        NULL, NULL                                                                                 \
    }

/* The head built is one request the strict parser takes whole. */
static void parses_whole(void)
{
    cg_http_head_t head;
    cg_http_parser_t p;
    cg_http_parser_init(&p, 1, &head, NULL);
    size_t parsed = 0;
    int r = cg_http_parse_head(&p, cg_buf_data(&out), cg_buf_size(&out), &parsed);
    if (r != 0) fail_msg("does not parse (%d): %.*s", r, (int)cg_buf_size(&out), cg_buf_data(&out));
    assert_int_equal(parsed, cg_buf_size(&out));
}

static void test_a_get_becomes_an_http11_head_with_authority_as_host(void **state)
{
    const field_t f[] = {GET({":authority", "a.example:8443"}, {"accept", "*/*"})};
    assert_int_equal(build(f, 1, NULL), 0);
    const char *want = "GET /p?q=1 HTTP/1.1\r\nhost: a.example:8443\r\naccept: */*\r\n\r\n";
    assert_int_equal(cg_buf_size(&out), strlen(want));
    assert_memory_equal(cg_buf_data(&out), want, strlen(want));
    parses_whole();
}

static void test_host_without_authority_and_a_differing_host_is_malformed(void **state)
{
    const field_t same[] = {GET({":authority", "A.example"}, {"host", "a.example"})};
    assert_int_equal(build(same, 1, NULL), 0); /* the same host, case aside: one Host line */
    assert_non_null(strstr(cg_buf_data(&out), "host: A.example\r\n"));
    assert_null(strstr(cg_buf_data(&out), "host: a.example"));
    const field_t only_host[] = {GET({"host", "b.example"})};
    assert_int_equal(build(only_host, 1, NULL), 0);
    assert_non_null(strstr(cg_buf_data(&out), "host: b.example\r\n"));
    const field_t differs[] = {GET({":authority", "a.example"}, {"host", "evil.example"})};
    assert_int_equal(build(differs, 1, NULL), CG_EPARSE);
    const field_t two_hosts[] = {GET({"host", "a.example"}, {"host", "b.example"})};
    assert_int_equal(build(two_hosts, 1, NULL), CG_EPARSE);
}

static void test_cookies_are_joined_and_te_trailers_is_dropped(void **state)
{
    const field_t f[] = {
        GET({":authority", "a"}, {"cookie", "a=1"}, {"te", "trailers"}, {"cookie", "b=2"})};
    assert_int_equal(build(f, 1, NULL), 0);
    assert_non_null(strstr(cg_buf_data(&out), "\r\ncookie: a=1; b=2\r\n"));
    assert_null(strstr(cg_buf_data(&out), "te:"));
    parses_whole();
    const field_t gzip[] = {GET({":authority", "a"}, {"te", "gzip"})};
    assert_int_equal(build(gzip, 1, NULL), CG_EPARSE);
}

static void test_connection_specific_fields_are_malformed(void **state)
{
    const char *names[] = {"connection", "keep-alive", "proxy-connection", "transfer-encoding",
                           "upgrade"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        const field_t f[] = {GET({":authority", "a"}, {names[i], "x"})};
        assert_int_equal(build(f, 1, NULL), CG_EPARSE);
    }
}

static void test_bytes_that_would_split_a_line_are_malformed(void **state)
{
    const field_t cases[][5] = {
        {GET({"x", "a\r\nx-injected: 1"})},
        {GET({"x", "a\nb"})},
        {GET({"x", "nul\0"})}, /* strlen stops at the NUL: the next case has it inside */
        {GET({"X-Upper", "v"})},
        {GET({"bad name", "v"})},
        {GET({"x", " leading space"})},
        {GET({"x", "trailing tab\t"})},
        {GET({"", "v"})},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (i == 2) continue;
        if (build(cases[i], 1, NULL) != CG_EPARSE)
            fail_msg("case %zu built: %.*s", i, (int)cg_buf_size(&out), cg_buf_data(&out));
    }
    cg_h2req_reset(&req, 64 * 1024);
    cg_h2req_field(&req, (const uint8_t *)":method", 7, (const uint8_t *)"GET", 3);
    cg_h2req_field(&req, (const uint8_t *)"x", 1, (const uint8_t *)"a\0b", 3);
    assert_int_equal(req.bad, 1);
    /* the request line: a space, CR or control in the method, path or authority */
    const field_t sp_path[] = {
        {":method", "GET"}, {":scheme", "http"}, {":path", "/a HTTP/1.1"}, {NULL, NULL}};
    assert_int_equal(build(sp_path, 1, NULL), CG_EPARSE);
    const field_t sp_method[] = {
        {":method", "G T"}, {":scheme", "http"}, {":path", "/"}, {NULL, NULL}};
    assert_int_equal(build(sp_method, 1, NULL), CG_EPARSE);
    const field_t crlf_auth[] = {GET({":authority", "a\r\nb"})};
    assert_int_equal(build(crlf_auth, 1, NULL), CG_EPARSE);
    const field_t sp_host[] = {GET({"host", "a b"})};
    assert_int_equal(build(sp_host, 1, NULL), CG_EPARSE);
}

static void test_pseudo_headers_required_once_and_known(void **state)
{
    const field_t no_path[] = {{":method", "GET"}, {":scheme", "http"}, {NULL, NULL}};
    assert_int_equal(build(no_path, 1, NULL), CG_EPARSE);
    const field_t no_scheme[] = {{":method", "GET"}, {":path", "/"}, {NULL, NULL}};
    assert_int_equal(build(no_scheme, 1, NULL), CG_EPARSE);
    const field_t no_method[] = {{":scheme", "http"}, {":path", "/"}, {NULL, NULL}};
    assert_int_equal(build(no_method, 1, NULL), CG_EPARSE);
    const field_t twice[] = {GET({":path", "/other"})};
    assert_int_equal(build(twice, 1, NULL), CG_EPARSE);
    const field_t unknown[] = {GET({":protocol", "websocket"})};
    assert_int_equal(build(unknown, 1, NULL), CG_EPARSE);
    /* CONNECT: :authority alone, rebuilt for the HTTP/1 path to refuse by name */
    const field_t connect[] = {{":method", "CONNECT"}, {":authority", "a:443"}, {NULL, NULL}};
    assert_int_equal(build(connect, 1, NULL), 0);
    assert_memory_equal(cg_buf_data(&out), "CONNECT a:443 HTTP/1.1\r\n", 24);
    const field_t connect_path[] = {
        {":method", "CONNECT"}, {":authority", "a:443"}, {":path", "/"}, {NULL, NULL}};
    assert_int_equal(build(connect_path, 1, NULL), CG_EPARSE);
}

static void test_a_body_without_length_is_chunked_and_with_length_is_not(void **state)
{
    int chunked = 0;
    const field_t post[] = {{":method", "POST"},
                            {":scheme", "http"},
                            {":path", "/u"},
                            {":authority", "a"},
                            {NULL, NULL}};
    assert_int_equal(build(post, 0, &chunked), 0);
    assert_int_equal(chunked, 1);
    assert_non_null(strstr(cg_buf_data(&out), "\r\ntransfer-encoding: chunked\r\n\r\n"));
    parses_whole();
    assert_int_equal(build(post, 1, &chunked), 0); /* END_STREAM on HEADERS: no body */
    assert_int_equal(chunked, 0);
    assert_null(strstr(cg_buf_data(&out), "transfer-encoding"));
    const field_t with_cl[] = {{":method", "POST"}, {":scheme", "http"},     {":path", "/u"},
                               {":authority", "a"}, {"content-length", "5"}, {NULL, NULL}};
    assert_int_equal(build(with_cl, 0, &chunked), 0);
    assert_int_equal(chunked, 0);
    assert_non_null(strstr(cg_buf_data(&out), "\r\ncontent-length: 5\r\n"));
    parses_whole();
}

static void test_a_list_past_the_limit_is_too_large_and_stops_collecting(void **state)
{
    cg_h2req_reset(&req, 200);
    cg_buf_reset(&out);
    char value[100];
    memset(value, 'v', sizeof(value));
    cg_h2req_field(&req, (const uint8_t *)":method", 7, (const uint8_t *)"GET", 3);
    for (int i = 0; i < 10; i++)
        cg_h2req_field(&req, (const uint8_t *)"x", 1, (const uint8_t *)value, sizeof(value));
    assert_int_equal(req.too_large, 1);
    assert_true(cg_buf_size(&req.fields) < 200); /* nothing kept past the limit */
    int chunked;
    assert_int_equal(cg_h2req_head(&req, 1, &out, &chunked), CG_ELIMIT);
    assert_int_equal(cg_buf_size(&out), 0);
}

static int teardown(void **state)
{
    cg_h2req_free(&req);
    cg_buf_free(&out);
    return 0;
}

/* A plain request without a body is given its head without a second parse: the very head the
 * strict parser reads from the same text. */
static void test_a_plain_request_is_given_the_parsers_head(void **state)
{
    (void)state;
    const field_t f1[] = {GET({":authority", "a.example:8443"}, {"accept", "*/*"})};
    const field_t f2[] = {GET({":authority", "a.example"}, {"user-agent", "ua/1"},
                              {"x-request-id", "r1"}, {"x-forwarded-for", "10.0.0.1"},
                              {"cookie", "a=1"}, {"empty", ""}, {"cookie", "b=2"},
                              {"user-agent", "ua/2"}, {"expect", "100-Continue"})};
    const field_t f3[] = {{":method", "DELETE"},
                          {":scheme", "http"},
                          {":path", "/a/b;c=d?e=f&g=%20~"},
                          {"host", "h.example"},
                          {"accept-encoding", "gzip, deflate\tbr"},
                          {NULL, NULL}};
    const field_t *cases[] = {f1, f2, f3};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(build(cases[i], 1, NULL), 0);
        cg_http_head_t parsed, given;
        cg_http_parser_t p;
        cg_http_parser_init(&p, 1, &parsed, NULL);
        size_t at = 0;
        assert_int_equal(cg_http_parse_head(&p, cg_buf_data(&out), cg_buf_size(&out), &at), 0);
        assert_int_equal(cg_h2req_given_head(&req, cg_buf_data(&out), cg_buf_size(&out), &given,
                                             &cg_http_default_limits),
                         0);
        const char *diff = head_difference(&given, &parsed);
        if (diff) fail_msg("case %zu: the given head differs in %s", i, diff);
    }
}

/* Anything but the plain case is left to the parser, which gives its errors their status. */
static void test_a_request_not_plain_is_left_to_the_parser(void **state)
{
    (void)state;
    const field_t with_length[] = {GET({":authority", "a"}, {"content-length", "0"})};
    const field_t absolute[] = {{":method", "GET"},
                                {":scheme", "https"},
                                {":path", "http://a/"},
                                {":authority", "a"},
                                {NULL, NULL}};
    const field_t asterisk[] = {{":method", "OPTIONS"},
                                {":scheme", "https"},
                                {":path", "*"},
                                {":authority", "a"},
                                {NULL, NULL}};
    const field_t fragment[] = {{":method", "GET"},
                                {":scheme", "https"},
                                {":path", "/a#b"},
                                {":authority", "a"},
                                {NULL, NULL}};
    const field_t other_method[] = {{":method", "PROPFIND"},
                                    {":scheme", "https"},
                                    {":path", "/"},
                                    {":authority", "a"},
                                    {NULL, NULL}};
    const field_t control[] = {GET({":authority", "a"}, {"x", "a\x01b"})};
    const field_t high[] = {GET({":authority", "a"}, {"x", "caf\xc3\xa9"})};
    const field_t bad_host[] = {GET({":authority", "a b"})};
    const field_t no_host[] = {GET({"accept", "*/*"})};
    const field_t *cases[] = {with_length, absolute, asterisk, fragment, other_method,
                              control,     high,     bad_host, no_host};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (build(cases[i], 1, NULL) != 0) continue; /* malformed already: never a head */
        cg_http_head_t given;
        if (cg_h2req_given_head(&req, cg_buf_data(&out), cg_buf_size(&out), &given,
                                &cg_http_default_limits) != -1)
            fail_msg("case %zu was given a head", i);
    }
    /* past the fields a given head records */
    cg_h2req_reset(&req, 64 * 1024);
    cg_buf_reset(&out);
    const field_t base[] = {GET({":authority", "a"})};
    for (const field_t *f = base; f->name; f++)
        cg_h2req_field(&req, (const uint8_t *)f->name, strlen(f->name), (const uint8_t *)f->value,
                       strlen(f->value));
    for (int i = 0; i <= CG_H2REQ_GIVEN_FIELDS; i++)
        cg_h2req_field(&req, (const uint8_t *)"x", 1, (const uint8_t *)"y", 1);
    int chunked;
    assert_int_equal(cg_h2req_head(&req, 1, &out, &chunked), 0);
    cg_http_head_t given;
    assert_int_equal(cg_h2req_given_head(&req, cg_buf_data(&out), cg_buf_size(&out), &given,
                                         &cg_http_default_limits),
                     -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_get_becomes_an_http11_head_with_authority_as_host),
        cmocka_unit_test(test_host_without_authority_and_a_differing_host_is_malformed),
        cmocka_unit_test(test_cookies_are_joined_and_te_trailers_is_dropped),
        cmocka_unit_test(test_connection_specific_fields_are_malformed),
        cmocka_unit_test(test_bytes_that_would_split_a_line_are_malformed),
        cmocka_unit_test(test_pseudo_headers_required_once_and_known),
        cmocka_unit_test(test_a_body_without_length_is_chunked_and_with_length_is_not),
        cmocka_unit_test(test_a_list_past_the_limit_is_too_large_and_stops_collecting),
        cmocka_unit_test(test_a_plain_request_is_given_the_parsers_head),
        cmocka_unit_test(test_a_request_not_plain_is_left_to_the_parser),
    };
    return cmocka_run_group_tests(tests, NULL, teardown);
}
