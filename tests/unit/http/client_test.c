/* The control-path HTTP client bounds what it buffers: a response body past
 * cg_http_client_max_body fails the request (CG_ELIMIT) instead of growing without limit, and
 * URLs past CG_HTTP_URL_MAX, or that would break the request head, are refused. A real server
 * thread on 127.0.0.1. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "http/client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int lfd;
static size_t body_len;
static int chunked;

static void *serve_one(void *arg)
{
    (void)arg;
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) return NULL;
    char req[4096];
    ssize_t got = read(fd, req, sizeof(req)); /* the request fits one read */
    (void)got;
    char head[128];
    int n = chunked ? snprintf(head, sizeof(head),
                               "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    : snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\ncontent-length: %zu\r\n\r\n",
                               body_len);
    if (write(fd, head, (size_t)n) != n) goto Exit;
    static char block[64 * 1024];
    memset(block, 'x', sizeof(block));
    for (size_t left = body_len; left;) {
        size_t k = left < sizeof(block) ? left : sizeof(block);
        if (chunked) {
            n = snprintf(head, sizeof(head), "%zx\r\n", k);
            if (write(fd, head, (size_t)n) != n) goto Exit;
        }
        if (write(fd, block, k) != (ssize_t)k) goto Exit; /* the client may stop reading: EPIPE */
        if (chunked && write(fd, "\r\n", 2) != 2) goto Exit;
        left -= k;
    }
    if (chunked && write(fd, "0\r\n\r\n", 5) != 5) goto Exit;
Exit:
    close(fd);
    return NULL;
}

static void fetch(size_t len, int is_chunked, cg_http_result_t *res)
{
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    socklen_t alen = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &alen);
    body_len = len;
    chunked = is_chunked;
    pthread_t t;
    pthread_create(&t, NULL, serve_one, NULL);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x", ntohs(a.sin_port));
    cg_http_fetch("GET", url, NULL, NULL, 0, 10000, res);
    pthread_join(t, NULL);
    close(lfd);
}

static void test_body_within_the_limit_is_returned(void **state)
{
    (void)state;
    cg_http_client_max_body = 1 << 20;
    cg_http_result_t res = {0};
    fetch(512 * 1024, 0, &res);
    assert_int_equal(res.err, 0);
    assert_int_equal(res.status, 200);
    assert_int_equal(res.body.len, 512 * 1024);
    cg_http_result_free(&res);
}

static void test_body_past_the_limit_fails_the_request(void **state)
{
    (void)state;
    cg_http_client_max_body = 1 << 20;
    for (int ch = 0; ch < 2; ch++) {
        cg_http_result_t res = {0};
        fetch(3 << 20, ch, &res);
        assert_int_equal(res.err, CG_ELIMIT);
        assert_true(res.body.len <= (size_t)1 << 20);
        cg_http_result_free(&res);
    }
}

static void test_overlong_url_is_refused(void **state)
{
    (void)state;
    char url[CG_HTTP_URL_MAX + 64];
    memset(url, 'a', sizeof(url) - 1);
    url[sizeof(url) - 1] = '\0';
    memcpy(url, "http://127.0.0.1:1/", 19);
    cg_addr_t addr;
    char host[256];
    const char *path;
    assert_int_equal(cg_http_url_parse(url, &addr, host, sizeof(host), &path), CG_EINVAL);
}

/* A URL whose path would end the request line early (header injection) starts no request and
 * opens no connection. */
static void test_url_that_would_inject_a_header_is_refused(void **state)
{
    (void)state;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(l, 4), 0);
    socklen_t alen = sizeof(a);
    getsockname(l, (struct sockaddr *)&a, &alen);
    char url[96];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/x HTTP/1.1\r\nX-Injected: 1\r\n\r\nGET /y",
             ntohs(a.sin_port));
    cg_loop_t loop;
    assert_int_equal(cg_loop_init(&loop), 0);
    assert_null(cg_http_client_start(&loop, "GET", url, NULL, NULL, 0, 1000, NULL, NULL));
    assert_int_equal(accept(l, NULL, NULL), -1); /* nothing connected */
    assert_int_equal(errno, EAGAIN);
    cg_loop_destroy(&loop);
    close(l);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_within_the_limit_is_returned),
        cmocka_unit_test(test_body_past_the_limit_fails_the_request),
        cmocka_unit_test(test_overlong_url_is_refused),
        cmocka_unit_test(test_url_that_would_inject_a_header_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
