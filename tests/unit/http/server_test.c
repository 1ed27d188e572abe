/* The control-path server's bounds: at --max-connections with every connection a parked
 * long-poll, accepting pauses (the listener is level-triggered: returning would spin) and
 * resumes as soon as one closes. One loop, real sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../../src/http/server.c"

#include <arpa/inet.h>
#include <netinet/in.h>

static cg_httpd_pending_t *parked[8];
static int nparked;

static void gone(cg_httpd_pending_t *p, void *data)
{
    (void)data;
    for (int i = 0; i < nparked; i++)
        if (parked[i] == p) parked[i] = NULL;
}

static void handler(cg_httpd_t *srv, const cg_httpd_req_t *req, cg_httpd_resp_t *resp)
{
    (void)srv;
    (void)resp;
    parked[nparked++] = cg_httpd_defer(req, gone, NULL); /* every request is a long-poll */
}

static int client(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(write(fd, "GET /w HTTP/1.1\r\nHost: x\r\n\r\n", 28), 28);
    return fd;
}

static void test_full_of_parked_requests_pauses_accepting_then_resumes(void **state)
{
    (void)state;
    cg_loop_t loop;
    assert_int_equal(cg_loop_init(&loop), 0);
    cg_httpd_t s = {.max_conns = 1};
    assert_int_equal(cg_httpd_start(&s, &loop, "127.0.0.1:0", handler, NULL), 0);
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    getsockname(s.fd, (struct sockaddr *)&a, &len);
    int c1 = client(ntohs(a.sin_port));
    for (int i = 0; i < 10 && nparked < 1; i++) cg_loop_run_once(&loop, 100);
    assert_int_equal(nparked, 1);
    int c2 = client(ntohs(a.sin_port));
    for (int i = 0; i < 10 && nparked < 2; i++) cg_loop_run_once(&loop, 100);
    assert_int_equal(nparked, 2); /* let in over the cap: the parked one is never evicted */
    assert_non_null(parked[0]);
    assert_true(s.full);
    /* the listener is out of epoll: nothing to spin on */
    assert_int_equal(epoll_ctl(loop.epfd, EPOLL_CTL_DEL, s.fd, NULL), -1);
    assert_int_equal(errno, ENOENT);
    int c3 = client(ntohs(a.sin_port));
    for (int i = 0; i < 5; i++) cg_loop_run_once(&loop, 0);
    assert_int_equal(nparked, 2); /* waits in the backlog */
    close(c1); /* a watch's client goes: room again */
    for (int i = 0; i < 10 && nparked < 3; i++) cg_loop_run_once(&loop, 100);
    assert_int_equal(nparked, 3); /* the waiting client was accepted and served */
    close(c2);
    close(c3);
    cg_loop_run_once(&loop, 50);
    cg_httpd_stop(&s);
    cg_loop_run_once(&loop, 0);
    cg_loop_destroy(&loop);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_of_parked_requests_pauses_accepting_then_resumes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
