/* The engine of `crossgate load` end to end on a real loop: closed and open loop against a
 * keep-alive server thread on 127.0.0.1, and a target that refuses connections. The runs end
 * by their own deadline (short ones); the counts, the windows and the JSON report agree. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"
#include "core/loop.h"
#include "tools/load.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 32

static int lfd, stop_server;
static pthread_t server;

/* Answers every request (one per read: the engine sends one at a time) on every connection. */
static void *serve(void *arg)
{
    (void)arg;
    static const char answer[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nx-app-cluster: c-test\r\n\r\nok";
    struct pollfd p[MAX_FDS] = {{.fd = lfd, .events = POLLIN}};
    int n = 1;
    while (!__atomic_load_n(&stop_server, __ATOMIC_ACQUIRE)) {
        if (poll(p, (nfds_t)n, 20) <= 0) continue;
        for (int i = n - 1; i >= 0; i--) {
            if (!p[i].revents) continue;
            if (i == 0) {
                int fd = accept(lfd, NULL, NULL);
                if (fd >= 0 && n < MAX_FDS)
                    p[n++] = (struct pollfd){.fd = fd, .events = POLLIN};
                else if (fd >= 0)
                    close(fd);
                continue;
            }
            char req[4096];
            ssize_t got = read(p[i].fd, req, sizeof(req));
            if (got <= 0 || write(p[i].fd, answer, sizeof(answer) - 1) < 0) {
                close(p[i].fd);
                p[i] = p[--n];
            }
        }
    }
    for (int i = 1; i < n; i++) close(p[i].fd);
    return NULL;
}

/* The server's port. */
static unsigned start_server(void)
{
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 64), 0);
    socklen_t alen = sizeof(a);
    getsockname(lfd, (struct sockaddr *)&a, &alen);
    __atomic_store_n(&stop_server, 0, __ATOMIC_RELEASE);
    pthread_create(&server, NULL, serve, NULL);
    return ntohs(a.sin_port);
}

static void stop(void)
{
    __atomic_store_n(&stop_server, 1, __ATOMIC_RELEASE);
    pthread_join(server, NULL);
    close(lfd);
}

typedef struct seen {
    int ended;
    unsigned intervals, buckets;
    uint64_t interval_requests, bucket_requests;
} seen_t;

static void on_interval(void *data, const cg_load_window_t *w)
{
    seen_t *s = data;
    s->intervals++;
    s->interval_requests += w->requests;
}

static void on_bucket(void *data, const cg_load_window_t *w)
{
    seen_t *s = data;
    s->buckets++;
    s->bucket_requests += w->requests;
}

static void on_end(void *data)
{
    ((seen_t *)data)->ended = 1;
}

/* Runs until the engine says its duration is over (or 10 s pass: a failure). */
static cg_load_t *run(const cg_load_opts_t *o, seen_t *s, cg_loop_t *loop)
{
    char err[200];
    cg_load_hooks_t h = {
        .on_interval = on_interval, .on_bucket = on_bucket, .on_end = on_end, .data = s};
    cg_load_t *ld = cg_tools_load_new(o, &h, err, sizeof(err));
    if (!ld) fail_msg("%s", err);
    cg_tools_load_start(ld, loop);
    uint64_t give_up = cg_tools_load_start_us(ld) + 10000000;
    while (!s->ended) {
        cg_loop_run_once(loop, 50);
        if (loop->now_us > give_up) fail_msg("the run did not end");
    }
    cg_tools_load_stop(ld);
    return ld;
}

static cg_json_t *report(cg_load_t *ld)
{
    cg_buf_t b = {0}, errs = {0};
    cg_tools_load_json(ld, &b);
    cg_json_t *doc = cg_json_parse("report", b.base, b.len, &errs);
    if (!doc) fail_msg("%.*s", (int)errs.len, errs.base);
    cg_buf_free(&b);
    cg_buf_free(&errs);
    return doc;
}

static void test_closed_loop_counts_every_answer(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/p", start_server());
    cg_loop_t loop;
    assert_int_equal(cg_loop_init(&loop), 0);
    seen_t s = {0};
    cg_load_opts_t o = {.url = url, .connections = 2, .duration_us = 300000, .interval_us = 100000};
    cg_load_t *ld = run(&o, &s, &loop);
    cg_load_window_t t;
    cg_tools_load_totals(ld, &t);
    assert_true(t.requests > 0);
    assert_int_equal(t.failed, 0);
    assert_int_equal(t.nstatus, 1);
    assert_int_equal(t.status[0].code, 200);
    assert_int_equal(t.nclusters, 1);
    assert_string_equal(t.cluster[0].name, "c-test");
    assert_true(t.p50_ms >= 0 && t.p50_ms <= t.max_ms);
    /* every request is in exactly one interval and one bucket; 3 of each */
    assert_int_equal(s.interval_requests, t.requests);
    assert_int_equal(s.bucket_requests, t.requests);
    assert_int_equal(s.buckets, 3);
    assert_int_equal(s.intervals, 3);
    cg_json_t *doc = report(ld);
    assert_int_equal(cg_json_int(cg_json_get(doc, "requests")), (int64_t)t.requests);
    assert_int_equal(cg_json_int(cg_json_get(doc, "connects")), 2);
    assert_int_equal(cg_json_len(cg_json_get(doc, "timeline")), 3);
    assert_string_equal(cg_json_string(cg_json_get(doc, "mode"), NULL), "closed");
    cg_json_free(doc);
    cg_tools_load_free(ld);
    stop();
    cg_loop_destroy(&loop);
}

static void test_open_loop_sends_on_schedule(void **state)
{
    (void)state;
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", start_server());
    cg_loop_t loop;
    assert_int_equal(cg_loop_init(&loop), 0);
    seen_t s = {0};
    /* 200/s for 0.5 s: requests at 0, 5, ... 495 ms */
    cg_load_opts_t o = {.url = url, .rate = 200, .connections = 2, .duration_us = 500000};
    cg_load_t *ld = run(&o, &s, &loop);
    cg_json_t *doc = report(ld);
    int64_t done = cg_json_int(cg_json_get(doc, "requests")),
            unfinished = cg_json_int(cg_json_get(doc, "unfinished_requests"));
    if (done + unfinished != 100)
        fail_msg("%lld answered + %lld unfinished, want 100", (long long)done,
                 (long long)unfinished);
    assert_true(done >= 50); /* most answered by the deadline, even on a busy machine */
    assert_int_equal(cg_json_int(cg_json_get(doc, "failed_requests")), 0);
    assert_string_equal(cg_json_string(cg_json_get(doc, "mode"), NULL), "open");
    assert_non_null(cg_json_get(doc, "send_lag_ms"));
    cg_json_free(doc);
    cg_tools_load_free(ld);
    stop();
    cg_loop_destroy(&loop);
}

static void test_refused_connections_are_errors(void **state)
{
    (void)state;
    /* a port nobody listens on: bind one and close it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &alen);
    close(fd);
    char url[64];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u/", ntohs(a.sin_port));
    cg_loop_t loop;
    assert_int_equal(cg_loop_init(&loop), 0);
    seen_t s = {0};
    cg_load_opts_t o = {.url = url, .rate = 100, .duration_us = 200000};
    cg_load_t *ld = run(&o, &s, &loop);
    cg_json_t *doc = report(ld);
    int64_t n = cg_json_int(cg_json_get(doc, "requests"));
    assert_true(n > 0);
    assert_int_equal(cg_json_int(cg_json_get(doc, "failed_requests")), n);
    assert_int_equal(cg_json_int(cg_json_get(cg_json_get(doc, "errors"), "refused")), n);
    assert_int_equal(cg_json_int(cg_json_get(cg_json_get(doc, "status"), "0")), n);
    cg_json_free(doc);
    cg_tools_load_free(ld);
    cg_loop_destroy(&loop);
}

static void test_bad_options_are_refused(void **state)
{
    (void)state;
    char err[200];
    static const char *const urls[] = {NULL, "", "https://127.0.0.1:1/", "http://example.com/",
                                       "http://127.0.0.1:1/a b"};
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        cg_load_opts_t o = {.url = urls[i]};
        err[0] = '\0';
        assert_null(cg_tools_load_new(&o, NULL, err, sizeof(err)));
        assert_non_null(strstr(err, "malformed URL"));
    }
    cg_load_opts_t o = {.url = "http://127.0.0.1:1/", .host = "a\r\nb"};
    assert_null(cg_tools_load_new(&o, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "invalid host"));
    cg_tools_load_free(NULL);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_closed_loop_counts_every_answer),
        cmocka_unit_test(test_open_loop_sends_on_schedule),
        cmocka_unit_test(test_refused_connections_are_errors),
        cmocka_unit_test(test_bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
