/* Tests of the plain TCP transport (core/transport.h) over a socket pair: bytes both ways,
 * EAGAIN with the readiness it waits for, the orderly end, and the drained rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/transport.h"

#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void pair(int fds[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
}

static void test_bytes_both_ways_and_eagain(void **state)
{
    (void)state;
    int fds[2];
    pair(fds);
    cg_xport_t a, b;
    cg_xport_tcp_init(&a, fds[0]);
    cg_xport_tcp_init(&b, fds[1]);
    assert_int_equal(a.ops->handshake(&a), 0);

    char buf[64];
    assert_int_equal(cg_xport_read(&b, buf, sizeof(buf)), CG_EAGAIN);
    assert_int_equal(b.want, CG_XPORT_WANT_READ);

    struct iovec iov[2] = {{"hello ", 6}, {"world", 5}};
    assert_int_equal(cg_xport_writev(&a, iov, 2), 11);
    ssize_t n = cg_xport_read(&b, buf, sizeof(buf));
    assert_int_equal(n, 11);
    assert_memory_equal(buf, "hello world", 11);
    assert_true(cg_xport_drained(&b, (size_t)n, sizeof(buf)));
    assert_false(cg_xport_drained(&b, sizeof(buf), sizeof(buf)));
    assert_int_equal(b.ops->pending(&b), 0);

    /* fill the socket until it refuses: the writer then waits for writability */
    static char big[65536];
    struct iovec one = {big, sizeof(big)};
    ssize_t w;
    size_t total = 0;
    while ((w = cg_xport_writev(&a, &one, 1)) > 0) total += (size_t)w;
    assert_int_equal(w, CG_EAGAIN);
    assert_int_equal(a.want, CG_XPORT_WANT_WRITE);
    assert_true(total > 0);

    close(fds[0]);
    close(fds[1]);
}

static void test_shutdown_is_an_orderly_end(void **state)
{
    (void)state;
    int fds[2];
    pair(fds);
    cg_xport_t a, b;
    cg_xport_tcp_init(&a, fds[0]);
    cg_xport_tcp_init(&b, fds[1]);
    struct iovec iov = {"last", 4};
    assert_int_equal(cg_xport_writev(&a, &iov, 1), 4);
    assert_int_equal(a.ops->shutdown(&a), 0);
    char buf[16];
    assert_int_equal(cg_xport_read(&b, buf, sizeof(buf)), 4);
    assert_int_equal(cg_xport_read(&b, buf, sizeof(buf)), 0); /* the end, not an error */
    a.ops->release(&a);
    a.ops->release(&a); /* idempotent */
    close(fds[0]);
    close(fds[1]);
}

static void test_errors_are_errors(void **state)
{
    (void)state;
    cg_xport_t bad;
    cg_xport_tcp_init(&bad, -1);
    char buf[4];
    ssize_t r = cg_xport_read(&bad, buf, sizeof(buf));
    assert_true(r < 0 && r != CG_EAGAIN);
    struct iovec iov = {"x", 1};
    r = cg_xport_writev(&bad, &iov, 1);
    assert_true(r < 0 && r != CG_EAGAIN);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_both_ways_and_eagain),
        cmocka_unit_test(test_shutdown_is_an_orderly_end),
        cmocka_unit_test(test_errors_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
