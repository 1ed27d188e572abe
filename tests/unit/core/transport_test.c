/* Tests of the plain TCP transport (core/transport.h) over a socket pair: bytes both ways,
 * EAGAIN with the readiness it waits for, the orderly end, and the drained rule; and of the
 * readiness bookkeeping the request path keeps per connection, with a scripted transport that
 * wants the other direction and holds bytes of its own. */
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

/* A transport that answers what the test scripts: its next CG_EAGAIN's want, bytes it holds. */
typedef struct script {
    int hs_result; /* what the handshake answers */
    uint8_t hs_want;
    size_t held;
    int hs_calls;
} script_t;

static int script_handshake(cg_xport_t *x)
{
    script_t *s = x->impl;
    s->hs_calls++;
    if (s->hs_result == CG_EAGAIN) x->want = s->hs_want;
    return s->hs_result;
}

static size_t script_pending(const cg_xport_t *x)
{
    return ((const script_t *)x->impl)->held;
}

static const cg_xport_ops_t script_ops = {
    .name = "script", .handshake = script_handshake, .pending = script_pending};

/* Blocks the read (or the write) on `want`; only an edge of that direction frees it. */
static void blocked_until(cg_xport_ready_t *r, cg_xport_t *x, int read, uint8_t want)
{
    uint8_t *ok = read ? &r->rd : &r->wr;
    x->want = want;
    if (read)
        cg_xport_ready_read_blocked(r, x);
    else
        cg_xport_ready_write_blocked(r, x);
    int in = want == CG_XPORT_WANT_READ;
    cg_xport_ready_events(r, !in, in);
    assert_false(*ok);
    cg_xport_ready_events(r, in, !in);
    assert_true(*ok);
}

static void test_a_blocked_read_waits_for_what_it_wants(void **state)
{
    (void)state;
    script_t s = {0};
    cg_xport_t x = {.ops = &script_ops, .impl = &s, .fd = -1};
    cg_xport_ready_t r = {0}; /* new: both directions wait for their own edge */
    cg_xport_ready_events(&r, 0, 1);
    assert_false(r.rd);
    assert_true(r.wr);
    cg_xport_ready_events(&r, 1, 0);
    assert_true(r.rd);

    /* a read that wants writable is not freed by a readable edge, only by a writable one; a
     * write that wants readable the other way round */
    blocked_until(&r, &x, 1, CG_XPORT_WANT_WRITE);
    blocked_until(&r, &x, 0, CG_XPORT_WANT_READ);

    /* plain TCP: a blocked read waits for readable, a blocked write for writable */
    cg_xport_t t;
    cg_xport_tcp_init(&t, -1);
    t.want = CG_XPORT_WANT_READ;
    cg_xport_ready_read_blocked(&r, &t);
    cg_xport_ready_events(&r, 0, 1);
    assert_false(r.rd);
    cg_xport_ready_events(&r, 1, 0);
    assert_true(r.rd);
}

/* Over TCP a short read drains the socket; over a transport with state (TLS) only CG_EAGAIN
 * does, since it reads a record at a time and the next may already be in the kernel. */
static void test_only_tcp_is_drained_by_a_short_read(void **state)
{
    (void)state;
    script_t s = {.held = 0};
    cg_xport_t x = {.ops = &script_ops, .impl = &s, .fd = -1};
    cg_xport_ready_t r = {.rd = 1, .wr = 1};
    cg_xport_ready_after_read(&r, &x, 10, 4096, 0);
    assert_true(r.rd); /* short, nothing held, still not drained: read until CG_EAGAIN */
    s.held = 100;
    cg_xport_ready_after_read(&r, &x, 10, 4096, 0);
    assert_true(r.rd);
    x.want = CG_XPORT_WANT_READ;
    cg_xport_ready_read_blocked(&r, &x);
    assert_false(r.rd); /* CG_EAGAIN: wait for the next readable edge */
    cg_xport_ready_events(&r, 0, 1);
    assert_false(r.rd);
    cg_xport_ready_events(&r, 1, 0);
    assert_true(r.rd);

    cg_xport_t t;
    cg_xport_tcp_init(&t, -1);
    cg_xport_ready_after_read(&r, &t, 4096, 4096, 0);
    assert_true(r.rd); /* a full read: maybe more */
    cg_xport_ready_after_read(&r, &t, 10, 4096, 1);
    assert_true(r.rd); /* the peer's FIN came with the data's edge: read to the end */
    cg_xport_ready_after_read(&r, &t, 10, 4096, 0);
    assert_false(r.rd); /* a short TCP read drains */
}

/* An edge (in, out), then the handshake helper: what it answers, and the handshake calls so far. */
static void hs_edge(cg_xport_ready_t *r, cg_xport_t *x, int in, int out, int answer, int calls)
{
    cg_xport_ready_events(r, in, out);
    assert_int_equal(cg_xport_ready_handshake(r, x), answer);
    assert_int_equal(((script_t *)x->impl)->hs_calls, calls);
}

static void test_the_handshake_waits_for_its_want_and_then_frees_both(void **state)
{
    (void)state;
    script_t s = {.hs_result = CG_EAGAIN, .hs_want = CG_XPORT_WANT_READ};
    cg_xport_t x = {.ops = &script_ops, .impl = &s, .fd = -1};
    cg_xport_ready_t r = {0};
    hs_edge(&r, &x, 0, 0, 0, 0); /* no edge yet: not tried */
    hs_edge(&r, &x, 0, 1, 0, 1); /* a new socket is writable: tried */
    hs_edge(&r, &x, 0, 1, 0, 1); /* it wants readable: a writable edge does not retry it */
    s.hs_want = CG_XPORT_WANT_WRITE;
    hs_edge(&r, &x, 1, 0, 0, 2);
    hs_edge(&r, &x, 1, 0, 0, 2); /* now it wants writable */
    s.hs_result = 0;
    hs_edge(&r, &x, 0, 1, 1, 3);
    assert_true(r.rd && r.wr); /* both tried next: the handshake may have taken their edges */
    assert_int_equal(r.rd_wait, 0);
    assert_int_equal(r.wr_wait, 0);

    s.hs_result = CG_EIO;
    hs_edge(&r, &x, 1, 0, CG_EIO, 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytes_both_ways_and_eagain),
        cmocka_unit_test(test_shutdown_is_an_orderly_end),
        cmocka_unit_test(test_errors_are_errors),
        cmocka_unit_test(test_a_blocked_read_waits_for_what_it_wants),
        cmocka_unit_test(test_only_tcp_is_drained_by_a_short_read),
        cmocka_unit_test(test_the_handshake_waits_for_its_want_and_then_frees_both),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
