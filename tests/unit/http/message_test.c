/* Tests of the output vector (merging, scratch, partial writev) and head look-ups. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "http/message.h"
#include "http/parser.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static cg_http_out_t *new_out(void)
{
    cg_http_out_t *o = calloc(1, sizeof(*o));
    assert_non_null(o);
    return o;
}

/* The pending bytes of o, concatenated. */
static void out_collect(const cg_http_out_t *o, cg_buf_t *b)
{
    for (unsigned i = o->pos; i < o->n; i++)
        assert_int_equal(cg_buf_append(b, o->iov[i].iov_base, o->iov[i].iov_len), 0);
}

static void test_push_merges_adjacent_slices(void **state)
{
    (void)state;
    cg_http_out_t *o = new_out();
    static char buf[100];
    for (int i = 0; i < 100; i++) buf[i] = (char)('A' + i % 26);

    assert_int_equal(cg_http_out_push(o, buf, 10), 0);
    assert_int_equal(cg_http_out_push(o, buf + 10, 5), 0); /* adjacent: merged */
    assert_int_equal(o->n, 1);
    assert_ptr_equal(o->iov[0].iov_base, buf);
    assert_int_equal(o->iov[0].iov_len, 15);
    assert_int_equal(cg_http_out_push(o, buf + 20, 5), 0); /* gap: a new slice */
    assert_int_equal(o->n, 2);
    assert_int_equal(cg_http_out_push(o, buf + 25, 0), 0); /* empty: nothing queued */
    assert_int_equal(o->n, 2);
    assert_int_equal(cg_http_out_push(o, buf, 5), 0); /* behind the last one: not merged */
    assert_int_equal(o->n, 3);
    assert_int_equal(cg_http_out_push(o, buf + 5, 3), 0); /* adjacent to the last one only */
    assert_int_equal(o->n, 3);
    assert_int_equal(o->iov[2].iov_len, 8);
    assert_int_equal(o->total, 28);
    assert_true(cg_http_out_pending(o));
    assert_int_equal(cg_http_out_room(o), CG_HTTP_OUT_IOV - 3);

    cg_buf_t b = {0};
    out_collect(o, &b);
    assert_int_equal(cg_buf_size(&b), 28);
    assert_memory_equal(cg_buf_data(&b), "ABCDEFGHIJKLMNOUVWXYABCDEFGH", 28);
    cg_buf_free(&b);

    cg_http_out_reset(o);
    assert_false(cg_http_out_pending(o));
    assert_int_equal(o->n, 0);
    /* after a reset nothing merges with the old slices */
    assert_int_equal(cg_http_out_push(o, buf + 28, 2), 0);
    assert_int_equal(o->n, 1);
    assert_ptr_equal(o->iov[0].iov_base, buf + 28);
    free(o);
}

static void test_push_limit(void **state)
{
    (void)state;
    cg_http_out_t *o = new_out();
    static char buf[2 * CG_HTTP_OUT_IOV + 4];
    for (int i = 0; i < CG_HTTP_OUT_IOV; i++)
        assert_int_equal(cg_http_out_push(o, buf + 2 * i, 1), 0);
    assert_int_equal(o->n, CG_HTTP_OUT_IOV);
    assert_int_equal(cg_http_out_room(o), 0);
    /* full: a new slice is refused... */
    assert_int_equal(cg_http_out_push(o, buf + 2 * CG_HTTP_OUT_IOV + 2, 1), CG_ELIMIT);
    assert_int_equal(o->n, CG_HTTP_OUT_IOV);
    /* ...but one adjacent to the last slice still fits */
    assert_int_equal(cg_http_out_push(o, buf + 2 * CG_HTTP_OUT_IOV - 1, 1), 0);
    assert_int_equal(o->iov[CG_HTTP_OUT_IOV - 1].iov_len, 2);
    free(o);
}

static void test_scratch_copy_and_printf(void **state)
{
    (void)state;
    cg_http_out_t *o = new_out();
    char tmp[8] = "ab";
    assert_int_equal(cg_http_out_copy(o, tmp, 2), 0);
    memcpy(tmp, "XY", 2); /* the copy does not alias the caller's bytes */
    assert_int_equal(cg_http_out_copy(o, "cd", 2), 0);
    assert_int_equal(cg_http_out_printf(o, "%x\r\n", 255), 0);
    assert_int_equal(o->n, 1); /* consecutive scratch pieces are adjacent: one slice */
    assert_int_equal(o->scratch_len, 8);
    cg_buf_t b = {0};
    out_collect(o, &b);
    assert_int_equal(cg_buf_size(&b), 8);
    assert_memory_equal(cg_buf_data(&b), "abcdff\r\n", 8);
    cg_buf_free(&b);

    /* scratch overflow is refused and leaves the out unchanged */
    char big[CG_HTTP_OUT_SCRATCH];
    memset(big, 'z', sizeof(big));
    assert_int_equal(cg_http_out_copy(o, big, CG_HTTP_OUT_SCRATCH - 8), 0);
    assert_int_equal(o->scratch_len, CG_HTTP_OUT_SCRATCH);
    unsigned n = o->n;
    uint64_t total = o->total;
    assert_int_equal(cg_http_out_copy(o, "x", 1), CG_ELIMIT);
    assert_int_equal(cg_http_out_printf(o, "%d", 1), CG_ELIMIT);
    assert_int_equal(o->n, n);
    assert_int_equal(o->total, total);
    assert_int_equal(o->scratch_len, CG_HTTP_OUT_SCRATCH);

    /* printf that needs exactly the remaining room plus its NUL */
    cg_http_out_reset(o);
    assert_int_equal(cg_http_out_copy(o, big, CG_HTTP_OUT_SCRATCH - 4), 0);
    assert_int_equal(cg_http_out_printf(o, "%s", "abcd"), CG_ELIMIT);
    assert_int_equal(cg_http_out_printf(o, "%s", "abc"), 0);
    assert_int_equal(o->scratch_len, CG_HTTP_OUT_SCRATCH - 1);
    free(o);
}

static void drain(int fd, cg_buf_t *into)
{
    char tmp[65536];
    for (;;) {
        ssize_t r = read(fd, tmp, sizeof(tmp));
        if (r > 0) {
            assert_int_equal(cg_buf_append(into, tmp, (size_t)r), 0);
            continue;
        }
        if (r < 0 && errno == EINTR) continue;
        assert_true(r < 0 && errno == EAGAIN);
        return;
    }
}

static void test_write_partial_and_resume(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    int small = 4096;
    assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);

    enum { BIG = 1 << 20 };
    char *big = malloc(BIG);
    assert_non_null(big);
    for (size_t i = 0; i < BIG; i++) big[i] = (char)(i * 7 + i / 251);

    cg_http_out_t *o = new_out();
    assert_int_equal(
        cg_http_out_printf(o, "HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n", BIG + 3), 0);
    assert_int_equal(cg_http_out_push(o, big, BIG / 2), 0);
    assert_int_equal(cg_http_out_push(o, big + BIG / 2, BIG / 2), 0); /* merged */
    assert_int_equal(cg_http_out_push(o, "END", 3), 0);
    assert_int_equal(o->n, 3);
    cg_buf_t want = {0};
    out_collect(o, &want);
    uint64_t queued = o->total;
    assert_int_equal(queued, cg_buf_size(&want));

    cg_buf_t got = {0};
    size_t written = 0;
    cg_xport_t x;
    cg_xport_tcp_init(&x, sv[0]);
    ssize_t w = cg_http_out_write(o, &x);
    assert_true(w > 0);
    assert_true((size_t)w < cg_buf_size(&want)); /* the socket buffer is far smaller */
    assert_true(cg_http_out_pending(o));
    assert_int_equal(x.want, CG_XPORT_WANT_WRITE); /* the rest waits for the socket to drain */
    written += (size_t)w;
    /* nothing was read: the socket is still full */
    assert_int_equal(cg_http_out_write(o, &x), CG_EAGAIN);
    assert_true(cg_http_out_pending(o));

    int rounds = 0;
    while (cg_http_out_pending(o)) {
        assert_true(++rounds < 100000);
        drain(sv[1], &got);
        w = cg_http_out_write(o, &x);
        if (w == CG_EAGAIN) continue;
        assert_true(w > 0);
        written += (size_t)w;
        /* the pending slices are exactly what remains to be written */
        cg_buf_t rest = {0};
        out_collect(o, &rest);
        assert_int_equal(cg_buf_size(&rest), cg_buf_size(&want) - written);
        if (cg_buf_size(&rest))
            assert_memory_equal(cg_buf_data(&rest), cg_buf_data(&want) + written,
                                cg_buf_size(&rest));
        cg_buf_free(&rest);
    }
    assert_true(rounds > 1);
    drain(sv[1], &got);
    assert_int_equal(written, cg_buf_size(&want));
    assert_int_equal(cg_buf_size(&got), cg_buf_size(&want));
    assert_memory_equal(cg_buf_data(&got), cg_buf_data(&want), cg_buf_size(&want));
    /* all written: the out is reset for reuse; the byte count keeps accumulating (the proxy
     * measures bytes sent across several writes with it) */
    assert_int_equal(o->n, 0);
    assert_int_equal(o->pos, 0);
    assert_int_equal(o->scratch_len, 0);
    assert_int_equal(o->total, queued);
    /* nothing pending: writing is a no-op */
    assert_int_equal(cg_http_out_write(o, &x), 0);

    cg_buf_free(&want);
    cg_buf_free(&got);
    free(big);
    free(o);
    close(sv[0]);
    close(sv[1]);
}

static void test_write_to_closed_peer(void **state)
{
    (void)state;
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[1]);
    cg_http_out_t *o = new_out();
    assert_int_equal(cg_http_out_push(o, "hello", 5), 0);
    cg_xport_t x;
    cg_xport_tcp_init(&x, sv[0]);
    assert_int_equal(cg_http_out_write(o, &x), CG_ECONNRESET);
    assert_true(cg_http_out_pending(o));
    free(o);
    close(sv[0]);
    signal(SIGPIPE, old);
}

static void test_head_lookups(void **state)
{
    (void)state;
    static const char req[] = "GET / HTTP/1.1\r\nHost: a\r\nX-Thing: 1\r\nx-thing: 2\r\n\r\n";
    cg_http_head_t *h = calloc(1, sizeof(*h));
    cg_http_parser_t p;
    size_t parsed = 0;
    cg_http_parser_init(&p, 1, h, NULL);
    assert_int_equal(cg_http_parse_head(&p, req, sizeof(req) - 1, &parsed), 0);
    assert_int_equal(cg_http_head_find(h, req, CG_IOV_LIT("host")), 0);
    assert_int_equal(cg_http_head_find(h, req, CG_IOV_LIT("x-thing")), 1); /* the first one */
    assert_int_equal(cg_http_head_find(h, req, CG_IOV_LIT("X-THING")), 1);
    assert_int_equal(cg_http_head_find(h, req, CG_IOV_LIT("x-thin")), -1);
    assert_int_equal(cg_http_head_find(h, req, CG_IOV_LIT("")), -1);
    cg_iov_t v = cg_http_head_value(h, req, 1);
    assert_true(cg_iov_eq(v, CG_IOV_LIT("1")));
    v = cg_http_head_value(h, req, -1);
    assert_int_equal(v.len, 0);
    free(h);

    assert_string_equal(cg_http_method_name(HTTP_GET), "GET");
    assert_string_equal(cg_http_method_name(HTTP_HEAD), "HEAD");
    assert_string_equal(cg_http_method_name(HTTP_POST), "POST");
    assert_string_equal(cg_http_method_name(HTTP_OPTIONS), "OPTIONS");
    static const struct {
        int status;
        const char *reason;
    } reasons[] = {
        {200, "OK"},
        {204, "No Content"},
        {400, "Bad Request"},
        {404, "Not Found"},
        {408, "Request Timeout"},
        {413, "Payload Too Large"},
        {414, "URI Too Long"},
        {431, "Request Header Fields Too Large"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
        {508, "Loop Detected"},
        {299, "Unknown"},
    };
    for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
        assert_string_equal(cg_http_status_reason(reasons[i].status), reasons[i].reason);
}

/* The start of a status line, read by hand (health probes) and by the parser's strict check. */
static void test_status_line_start(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int want; /* the status, or CG_EAGAIN / CG_EPARSE */
        int major, minor;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\n", 200, 1, 1},
        {"HTTP/1.0 503\r\n", 503, 1, 0},
        {"HTTP/1.1 101 \r\n", 101, 1, 1},
        {"HTTP/1.1 599 x", 599, 1, 1},
        {"HTTP/1.1 200", CG_EAGAIN, 0, 0}, /* SP or CR must follow: not yet known */
        {"", CG_EAGAIN, 0, 0},
        {"HTTP/1.1 200\n", CG_EPARSE, 0, 0}, /* bare LF */
        {"HTTP/1.1 2000 ", CG_EPARSE, 0, 0},
        {"HTTP/1.1 099 x", CG_EPARSE, 0, 0},
        {"HTTP/1.1 600 x", CG_EPARSE, 0, 0},
        {"HTTP/1.1 20x x", CG_EPARSE, 0, 0},
        {"HTTP/1.x 200 x", CG_EPARSE, 0, 0},
        {"HTTP/11  200 x", CG_EPARSE, 0, 0},
        {"HTTP/1.1  200 x", CG_EPARSE, 0, 0},
        {"http/1.1 200 x", CG_EPARSE, 0, 0},
        {"ICY 200 OK\r\n\r\n", CG_EPARSE, 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_http_status_line_t sl = {0};
        int r = cg_http_parse_status_start(cases[i].in, strlen(cases[i].in), &sl);
        if (cases[i].want < 0) {
            if (r != cases[i].want) fail_msg("\"%s\": %d, want %d", cases[i].in, r, cases[i].want);
            continue;
        }
        if (r != 0 || sl.status != cases[i].want || sl.major != cases[i].major ||
            sl.minor != cases[i].minor)
            fail_msg("\"%s\": %d %u %u.%u", cases[i].in, r, sl.status, sl.major, sl.minor);
    }
}

/* One request-head builder for the control path and tools: the exact bytes each user sent
 * before it, and no head at all when a piece would break the framing. */
static void test_request_head(void **state)
{
    (void)state;
    /* the heads http/client.c, tools/load.c and proxy/healthcheck.c (a literal) send */
    static const struct {
        cg_http_request_spec_t spec;
        const char *want;
    } cases[] = {
        {{.method = "POST",
          .target = "/v1/x?a=1",
          .host = "127.0.0.1:80",
          .close = 1,
          .extra = "X-A: 1\r\n",
          .content_length = 0},
         "POST /v1/x?a=1 HTTP/1.1\r\nHost: 127.0.0.1:80\r\nConnection: close\r\nX-A: 1\r\n"
         "Content-Length: 0\r\n\r\n"},
        {{.method = "GET",
          .target = "/",
          .host = "h:8080",
          .user_agent = "crossgate-load",
          .extra = "Accept: */*\r\n",
          .content_length = -1},
         "GET / HTTP/1.1\r\nHost: h:8080\r\nUser-Agent: crossgate-load\r\nAccept: */*\r\n\r\n"},
        {{.method = "GET",
          .target = "/.crossgate/healthz",
          .host = "crossgate-healthcheck",
          .user_agent = "crossgate-healthcheck",
          .close = 1,
          .content_length = -1},
         "GET /.crossgate/healthz HTTP/1.1\r\nHost: crossgate-healthcheck\r\n"
         "User-Agent: crossgate-healthcheck\r\nConnection: close\r\n\r\n"},
    };
    cg_buf_t b = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        b.len = 0;
        assert_int_equal(cg_http_request_head(&b, &cases[i].spec), 0);
        assert_int_equal(b.len, strlen(cases[i].want));
        assert_memory_equal(b.base, cases[i].want, b.len);
    }

    /* appended after what the buffer holds, consumed bytes before it or not */
    cg_buf_reset(&b);
    assert_int_equal(cg_buf_append_str(&b, "xxabc"), 0);
    cg_buf_consume(&b, 2);
    cg_http_request_spec_t r =
        (cg_http_request_spec_t){.method = "GET", .target = "/", .host = "h", .content_length = -1};
    assert_int_equal(cg_http_request_head(&b, &r), 0);
    assert_int_equal(cg_buf_size(&b), 3 + sizeof("GET / HTTP/1.1\r\nHost: h\r\n\r\n") - 1);
    assert_memory_equal(cg_buf_data(&b), "abcGET / HTTP/1.1\r\n", 19);

    /* hostile pieces: nothing appended */
    static const cg_http_request_spec_t bad[] = {
        {.method = "GET", .target = "/a\r\nX-Injected: 1", .host = "h", .content_length = -1},
        {.method = "GET", .target = "/a b", .host = "h", .content_length = -1},
        {.method = "GET", .target = "/", .host = "h\r\nX: 1", .content_length = -1},
        {.method = "GET", .target = "/", .host = "", .content_length = -1},
        {.method = "GE T", .target = "/", .host = "h", .content_length = -1},
        {.method = "", .target = "/", .host = "h", .content_length = -1},
        {.method = "GET", .target = "", .host = "h", .content_length = -1},
        {.method = "GET", .target = "/\x7f", .host = "h", .content_length = -1},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        size_t before = cg_buf_size(&b);
        if (cg_http_request_head(&b, &bad[i]) != CG_EINVAL) fail_msg("bad[%zu] accepted", i);
        assert_int_equal(cg_buf_size(&b), before);
    }
    cg_buf_free(&b);
}

static void test_decimal_writes_the_digits_without_a_nul(void **state)
{
    (void)state;
    const struct {
        uint64_t v;
        const char *s;
    } t[] = {
        {0, "0"}, {7, "7"}, {10, "10"}, {12345, "12345"}, {UINT64_MAX, "18446744073709551615"}};
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        char d[21];
        memset(d, 'x', sizeof(d));
        size_t n = cg_http_decimal(d, t[i].v);
        assert_int_equal(n, strlen(t[i].s));
        assert_memory_equal(d, t[i].s, n);
        assert_int_equal(d[n], 'x');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_push_merges_adjacent_slices),
        cmocka_unit_test(test_push_limit),
        cmocka_unit_test(test_scratch_copy_and_printf),
        cmocka_unit_test(test_write_partial_and_resume),
        cmocka_unit_test(test_write_to_closed_peer),
        cmocka_unit_test(test_head_lookups),
        cmocka_unit_test(test_status_line_start),
        cmocka_unit_test(test_request_head),
        cmocka_unit_test(test_decimal_writes_the_digits_without_a_nul),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
