/* Connection lifetimes in the request path (proxy/conn.c, included to reach its statics):
 * frees deferred past the batch of events that caused them, and accepting that pauses rather
 * than spins when descriptors run out. Real sockets, one loop, no threads. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../../src/proxy/conn.c"
#include "../../../src/proxy/conn_reply.c"
#include "../../../src/proxy/conn_up.c"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>

static cg_worker_t w;
static cg_proxy_settings_t settings = {
    .header_timeout_ms = 10000,
    .body_timeout_ms = 10000,
    .idle_timeout_ms = 10000,
    .upstream_idle_ms = 10000,
    .max_idle_per_ep = 4,
    .access_log_fd = -1,
};

static int setup(void **state)
{
    (void)state;
    memset(&w, 0, sizeof(w));
    assert_int_equal(cg_loop_init(&w.loop), 0);
    w.settings = &settings;
    w.loop.data = &w;
    w.rng = 1;
    cg_list_init(&w.conns);
    cg_list_init(&w.free_conns);
    cg_list_init(&w.free_ups);
    cg_list_init(&w.old_holds);
    cg_list_init(&w.free_exchanges);
    cg_list_init(&w.free_h2streams);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cg_proxy__close_all(&w);
    cg_loop_run_once(&w.loop, 0); /* deferred frees */
    cg_timer_stop(&w.loop, &w.accept_timer);
    for (size_t i = 0; i < w.nlisteners; i++) close(w.listeners[i].fd);
    cg_proxy__pools_sweep(&w);
    cg_buf_free(&w.log);
    cg_loop_destroy(&w.loop);
    return 0;
}

/* A downstream connection in the middle of a request, holding an upstream connection. */
static conn_t *conn_with_upstream(int cfd, int ufd, up_t **up)
{
    conn_t *c = cg_xcalloc(1, sizeof(*c));
    c->w = &w;
    c->state = S_UPSTREAM;
    assert_int_equal(exchange_take(c), 0);
    c->ex->req_done = 1;
    cg_list_init(&c->defer.link);
    cg_list_insert_tail(&w.conns, &c->link);
    w.stats.cx_active++;
    cg_xport_tcp_init(&c->xp, cfd);
    assert_int_equal(cg_io_start(&w.loop, &c->io, cfd, conn_on_io), 0);
    up_t *u = up_alloc(&w);
    u->connected = 1;
    u->conn = c;
    c->ex->up = u;
    cg_xport_tcp_init(&u->xp, ufd);
    assert_int_equal(cg_io_start(&w.loop, &u->io, ufd, cg_proxy__up_on_io), 0);
    w.stats.up_cx_active++;
    *up = u;
    return c;
}

/* The reproduction: the client resets and the upstream answers, both in one epoll batch. The
 * client's event frees the upstream connection; the upstream's event then comes from the same
 * batch. With the free-list full the memory was freed at once (use-after-free under ASan);
 * below the cap, another request could have been handed the same object. */
static void test_upstream_freed_by_an_earlier_event_of_the_same_batch(void **state)
{
    (void)state;
    int cs[2], us[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, us), 0);
    close(cs[1]); /* the client is gone: EPOLLHUP on the conn */
    assert_int_equal(write(us[1], "HTTP/1.1 200 OK\r\n", 17), 17); /* the upstream answers */
    w.stats.pool_upstreams = FREE_LIST_MAX; /* free-list full: a free is a free() */
    up_t *u;
    conn_t *c = conn_with_upstream(cs[0], us[0], &u);
    (void)c;
    /* both fds were ready when added: one batch, the conn's event first */
    cg_loop_run_once(&w.loop, 0);
    assert_int_equal(w.stats.cx_active, 0);
    assert_int_equal(w.stats.up_cx_active, 0);
    close(us[1]);
    w.stats.pool_upstreams = 0;
}

static void test_closed_upstream_is_not_reused_within_the_batch(void **state)
{
    (void)state;
    int us[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, us), 0);
    up_t *u = up_alloc(&w);
    cg_xport_tcp_init(&u->xp, us[0]);
    assert_int_equal(cg_io_start(&w.loop, &u->io, us[0], cg_proxy__up_on_io), 0);
    w.stats.up_cx_active++;
    cg_proxy__up_free(u);
    assert_null(u->io.cb); /* a stale event of this batch is skipped by the loop */
    up_t *v = up_alloc(&w);
    assert_ptr_not_equal(u, v); /* not handed out again before the batch ends */
    cg_loop_run_once(&w.loop, 0);
    assert_int_equal(w.stats.pool_upstreams, 1); /* recycled once the batch is over */
    up_t *again = up_alloc(&w);
    assert_ptr_equal(again, u);
    cg_proxy__up_free(again);
    cg_proxy__up_free(v);
    cg_loop_run_once(&w.loop, 0);
    close(us[1]);
}

static int listen_loopback(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(fd, 64), 0);
    return fd;
}

static int connect_to(int lfd)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, len), 0);
    return fd;
}

static void add_listener(int lfd)
{
    cg_wlistener_t *l = &w.listeners[w.nlisteners++];
    l->w = &w;
    l->fd = lfd;
    l->port = 1;
    assert_int_equal(cg_io_start_level(&w.loop, &l->io, lfd, EPOLLIN, cg_proxy__accept), 0);
}

/* Runs the loop until cond holds, at most for deadline_ms (the loop sleeps until its next
 * timer or event; no fixed sleeps). */
#define RUN_UNTIL(cond, deadline_ms)                                                               \
    do {                                                                                           \
        uint64_t until_ = cg_clock_mono_us() / 1000 + (deadline_ms);                               \
        while (!(cond) && cg_clock_mono_us() / 1000 < until_) cg_loop_run_once(&w.loop, 100);      \
        assert_true(cond);                                                                         \
    } while (0)

/* A new upstream connection whose socket the loop cannot watch (epoll refuses it): the
 * request gets our own shortage, and the connection object, with the read buffer it took
 * from the free list, goes back to that list, nothing lost (ASan's leak check at exit). */
static void test_upstream_that_cannot_be_watched_is_recycled_with_its_buffer(void **state)
{
    (void)state;
    int lfd = listen_loopback();
    /* a recycled upstream connection whose buffer has storage */
    up_t *old = up_alloc(&w);
    assert_int_equal(cg_buf_reserve(&old->in, READ_CHUNK), 0);
    char *storage = old->in.base;
    cg_proxy__up_free(old);
    cg_loop_run_once(&w.loop, 0);
    assert_int_equal(w.stats.pool_upstreams, 1);

    cg_ep_stats_t st = {0};
    cg_endpoint_t ep = {.stats = &st};
    socklen_t len = sizeof(ep.addr.u);
    assert_int_equal(getsockname(lfd, &ep.addr.u.sa, &len), 0);
    ep.addr.len = len;
    exchange_t x = {0};
    conn_t c = {.w = &w, .ex = &x};
    int epfd = w.loop.epfd;
    w.loop.epfd = -1; /* every epoll_ctl fails */
    int err = 0;
    up_t *u = up_acquire(&c, &ep, 1, &err);
    w.loop.epfd = epfd;
    assert_null(u);
    assert_int_equal(err, CG_ENORES);
    assert_int_equal(w.stats.up_cx_active, 0);
    cg_loop_run_once(&w.loop, 0); /* the deferred recycle */
    assert_int_equal(w.stats.pool_upstreams, 1);
    up_t *again = up_alloc(&w);
    assert_ptr_equal(again, old);
    assert_ptr_equal(again->in.base, storage); /* the buffer came back with it */
    cg_proxy__up_free(again);
    cg_loop_run_once(&w.loop, 0);
    close(lfd);
}

/* The same for an accepted connection: one recycled from the free list, with read-buffer
 * storage, is freed whole when the loop cannot watch it (ASan's leak check at exit: the
 * buffer was once freed without its storage). */
static void test_accepted_connection_that_cannot_be_watched_frees_its_buffer(void **state)
{
    (void)state;
    int lfd = listen_loopback();
    add_listener(lfd);
    conn_t *old = cg_xcalloc(1, sizeof(*old));
    old->w = &w;
    assert_int_equal(cg_buf_reserve(&old->in, READ_CHUNK), 0);
    pool_put(&w.free_conns, &w.stats.pool_conns, &old->link, &old->in, old);
    int client = connect_to(lfd);
    int epfd = w.loop.epfd;
    w.loop.epfd = -1; /* every epoll_ctl fails */
    cg_proxy__accept(&w.loop, &w.listeners[0].io, EPOLLIN);
    w.loop.epfd = epfd;
    assert_int_equal(w.stats.cx_active, 0);
    assert_int_equal(w.stats.pool_conns, 0); /* taken from the list, then freed */
    assert_true(cg_list_empty(&w.free_conns));
    close(client);
}

static void test_out_of_fds_pauses_accepting_and_resumes(void **state)
{
    (void)state;
    int lfd = listen_loopback();
    add_listener(lfd);
    int clients[3];
    for (int i = 0; i < 3; i++) clients[i] = connect_to(lfd);
    struct rlimit saved, low;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
    int next = dup(0);
    close(next);
    low = (struct rlimit){(rlim_t)next, saved.rlim_max}; /* not one more descriptor */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);

    cg_loop_run_once(&w.loop, 0);
    uint64_t pauses = w.stats.accept_paused;
    assert_int_equal(pauses, 1);
    assert_int_equal(w.accept_paused, PAUSE_FDS);
    assert_null(w.listeners[0].io.cb); /* out of the loop: no event, no spin */
    assert_true(cg_timer_active(&w.accept_timer));
    for (int i = 0; i < 5; i++) cg_loop_run_once(&w.loop, 0);
    assert_int_equal(w.stats.accept_paused, pauses); /* nothing retried before the pause ends */
    assert_int_equal(w.stats.cx_active, 0);

    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0); /* descriptors free up */
    RUN_UNTIL(w.stats.cx_active == 3, 5000);               /* resumed by itself */
    assert_int_equal(w.accept_paused, PAUSE_NONE);
    for (int i = 0; i < 3; i++) close(clients[i]);
}

static void test_max_connections_pauses_and_resumes_on_close(void **state)
{
    (void)state;
    settings.max_conns = 2;
    int lfd = listen_loopback();
    add_listener(lfd);
    int clients[3];
    for (int i = 0; i < 3; i++) clients[i] = connect_to(lfd);
    RUN_UNTIL(w.stats.cx_active == 2 && w.accept_paused == PAUSE_MAX_CONNS, 5000);
    assert_null(w.listeners[0].io.cb);
    /* a connection closing makes room: accepting resumes at once, not after the pause */
    cg_proxy__conn_close(cg_container_of(w.conns.next, conn_t, link));
    assert_int_equal(w.accept_paused, PAUSE_NONE);
    RUN_UNTIL(w.stats.cx_total == 3, 5000);
    settings.max_conns = 0;
    for (int i = 0; i < 3; i++) close(clients[i]);
}

/* ---------- a transport that is not TCP ----------
 * What TLS does to the request path, scripted over a socket pair: a handshake that must read
 * (one byte, 'H'), reads that answer CG_EAGAIN wanting writable, bytes taken off the socket
 * and held (read back a few at a time: pending), writes that want readable, and writes that
 * take only part of what they are offered. Edges are given to the connection by hand
 * (conn_on_io), so which ones it acts on is exact. */
typedef struct fake {
    int read_swaps, write_swaps; /* next reads / writes answering CG_EAGAIN with the other want */
    size_t read_max, write_max;  /* at most this much per read / writev */
    char held[4096];
    size_t held_len, held_off;
    int hs_calls, reads, writes, released;
} fake_t;

static int fake_handshake(cg_xport_t *x)
{
    fake_t *f = x->impl;
    f->hs_calls++;
    char h;
    ssize_t n = read(x->fd, &h, 1);
    /* 'H' completes it; 'G' (the G of GET) is plaintext HTTP, as the TLS transport says */
    if (n == 1) return h == 'H' ? 0 : h == 'G' ? CG_EPARSE : CG_EIO;
    if (n < 0 && errno == EAGAIN) {
        x->want = CG_XPORT_WANT_READ;
        return CG_EAGAIN;
    }
    return CG_ECLOSED;
}

static ssize_t fake_read(cg_xport_t *x, void *buf, size_t len)
{
    fake_t *f = x->impl;
    f->reads++;
    if (f->read_swaps) {
        f->read_swaps--;
        x->want = CG_XPORT_WANT_WRITE;
        return CG_EAGAIN;
    }
    if (f->held_off == f->held_len) {
        ssize_t n = read(x->fd, f->held, sizeof(f->held));
        if (n < 0 && errno == EAGAIN) {
            x->want = CG_XPORT_WANT_READ;
            return CG_EAGAIN;
        }
        if (n <= 0) return n == 0 ? 0 : CG_ECONNRESET;
        f->held_len = (size_t)n;
        f->held_off = 0;
    }
    size_t n = f->held_len - f->held_off;
    if (n > len) n = len;
    if (n > f->read_max) n = f->read_max;
    memcpy(buf, f->held + f->held_off, n);
    f->held_off += n;
    return (ssize_t)n;
}

static ssize_t fake_writev(cg_xport_t *x, const struct iovec *iov, int iovcnt)
{
    fake_t *f = x->impl;
    f->writes++;
    if (f->write_swaps) {
        f->write_swaps--;
        x->want = CG_XPORT_WANT_READ;
        return CG_EAGAIN;
    }
    assert_true(iovcnt > 0);
    size_t n = iov[0].iov_len < f->write_max ? iov[0].iov_len : f->write_max;
    ssize_t k = write(x->fd, iov[0].iov_base, n);
    if (k < 0 && errno == EAGAIN) {
        x->want = CG_XPORT_WANT_WRITE;
        return CG_EAGAIN;
    }
    return k < 0 ? CG_ECONNRESET : k;
}

static size_t fake_pending(const cg_xport_t *x)
{
    const fake_t *f = x->impl;
    return f->held_len - f->held_off;
}

static int fake_shutdown(cg_xport_t *x)
{
    (void)x;
    return 0;
}

static void fake_release(cg_xport_t *x)
{
    ((fake_t *)x->impl)->released++;
}

static const cg_xport_ops_t fake_ops = {
    .name = "fake",
    .read = fake_read,
    .writev = fake_writev,
    .handshake = fake_handshake,
    .pending = fake_pending,
    .shutdown = fake_shutdown,
    .release = fake_release,
};

/* A listener on port 1 with no virtual hosts: every request is answered 404 by the gateway. */
static cg_listener_cfg_t no_vhosts = {.port = 1};
static cg_config_t cfg_404 = {.listeners = &no_vhosts, .nlisteners = 1};
static cg_cfg_hold_t hold_404 = {.cfg = &cfg_404, .users = 1};

/* A connection as accepted, over the fake transport on fd. */
static conn_t *fake_conn(int fd, fake_t *f, int handshaking)
{
    conn_t *c = cg_xcalloc(1, sizeof(*c));
    c->w = &w;
    c->port = 1;
    c->state = S_IDLE;
    cg_list_init(&c->defer.link);
    c->xp = (cg_xport_t){.ops = &fake_ops, .impl = f, .fd = fd};
    c->handshaking = (uint8_t)handshaking;
    assert_int_equal(cg_io_start(&w.loop, &c->io, fd, conn_on_io), 0);
    cg_list_insert_tail(&w.conns, &c->link);
    w.stats.cx_active++;
    w.stats.cx_total++;
    w.cur = &hold_404;
    return c;
}

static const char request_404[] = "GET /x HTTP/1.1\r\nHost: a\r\n\r\n";

/* Reads the whole 404 answer from the client's end (it is there already: no waiting). */
static void expect_404(int fd)
{
    char buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_true(strncmp(buf, "HTTP/1.1 404 ", 13) == 0);
    assert_non_null(strstr(buf, "\r\n\r\n"));
}

static void expect_nothing(int fd)
{
    char b;
    assert_int_equal(recv(fd, &b, 1, MSG_DONTWAIT), -1);
    assert_int_equal(errno, EAGAIN);
}

static void test_handshake_then_a_read_that_wants_writable_then_held_bytes(void **state)
{
    (void)state;
    int cs[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    fake_t f = {.read_swaps = 1, .read_max = 5, .write_max = 1 << 20};
    conn_t *c = fake_conn(cs[0], &f, 1);

    conn_on_io(&w.loop, &c->io, EPOLLOUT); /* a new socket is writable: the handshake tries */
    assert_int_equal(f.hs_calls, 1);
    assert_true(c->handshaking);
    conn_on_io(&w.loop, &c->io, EPOLLOUT); /* it waits for readable: not tried again */
    assert_int_equal(f.hs_calls, 1);
    assert_int_equal(f.reads, 0); /* no HTTP before the handshake */

    assert_int_equal(write(cs[1], "H", 1), 1);
    assert_int_equal(write(cs[1], request_404, sizeof(request_404) - 1),
                     (ssize_t)sizeof(request_404) - 1);
    conn_on_io(&w.loop, &c->io, EPOLLIN);
    assert_int_equal(f.hs_calls, 2);
    assert_false(c->handshaking);
    assert_int_equal(f.reads, 1); /* CG_EAGAIN, wanting writable */
    assert_int_equal(c->in.len, 0);
    conn_on_io(&w.loop, &c->io, EPOLLIN); /* a readable edge does not free that read */
    assert_int_equal(f.reads, 1);
    expect_nothing(cs[1]);

    /* the writable edge does; the read takes the whole request off the socket and hands it on
     * five bytes at a time: short reads that did not drain it (pending), with no edge between */
    conn_on_io(&w.loop, &c->io, EPOLLOUT);
    assert_true(f.reads > (int)(sizeof(request_404) - 1) / 5);
    assert_int_equal(fake_pending(&c->xp), 0);
    expect_404(cs[1]);
    assert_int_equal(c->state, S_IDLE); /* answered, kept alive */

    cg_proxy__conn_close(c);
    assert_int_equal(f.released, 1); /* closing releases the transport */
    close(cs[1]);
}

/* Pools are found by (address, transport) in O(1): 20,000 endpoints, each its own bucket,
 * found again as made; the same address over another transport is another pool. */
static void test_pool_buckets_by_address_and_transport(void **state)
{
    (void)state;
    enum { N = 20000 };
    static cg_pool_bucket_t *made[N];
    cg_xport_opener_t tls = {(int (*)(void *, cg_xport_t *, int))1, (void *)2}, tcp = {0};
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < N; i++) {
            cg_addr_t a;
            char ip[32];
            snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
            assert_int_equal(cg_addr_parse_ip(&a, ip, (uint16_t)(8000 + i % 7)), 0);
            cg_pool_bucket_t *b = bucket_for(&w, &a, &tcp);
            if (pass == 0) {
                b->users = 1; /* in use: kept as the table grows */
                made[i] = b;
            } else {
                assert_ptr_equal(b, made[i]);
            }
        }
    assert_int_equal(w.buckets.len, N);
    cg_addr_t a;
    assert_int_equal(cg_addr_parse_ip(&a, "10.0.0.0", 8000), 0);
    cg_pool_bucket_t *t = bucket_for(&w, &a, &tls);
    assert_ptr_not_equal(t, made[0]);
    assert_ptr_equal(bucket_for(&w, &a, &tls), t);
    assert_int_equal(w.buckets.len, N + 1);
}

/* Pools nothing uses go when the table fills, so endpoints that come and go (config after
 * config) do not grow it for ever; used ones stay, found as before. */
static void test_unused_pool_buckets_are_pruned_as_endpoints_churn(void **state)
{
    (void)state;
    cg_xport_opener_t tcp = {0};
    cg_addr_t a;
    assert_int_equal(cg_addr_parse_ip(&a, "10.9.9.9", 9000), 0);
    cg_pool_bucket_t *live = bucket_for(&w, &a, &tcp);
    live->users = 1;
    for (int i = 0; i < 100000; i++) { /* endpoints seen once, never used */
        cg_addr_t e;
        char ip[32];
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        assert_int_equal(cg_addr_parse_ip(&e, ip, 8000), 0);
        bucket_for(&w, &e, &tcp);
        assert_true(w.bucket_cap <= 128); /* never grows past what the live ones need */
    }
    assert_true(w.stats.pool_buckets_pruned >= 99000);
    assert_ptr_equal(bucket_for(&w, &a, &tcp), live);
    live->users = 0;
}

/* An idle keep-alive connection holds neither an exchange nor a read buffer: both go back to
 * the worker when a request ends and come back when the next one's bytes arrive (idle, active,
 * idle, active, idle; ASan sees every handover). Pipelined bytes keep both. */
static void test_idle_connection_gives_back_its_exchange_and_buffer(void **state)
{
    (void)state;
    int cs[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    fake_t f = {.read_max = 1 << 20, .write_max = 1 << 20};
    conn_t *c = fake_conn(cs[0], &f, 0);
    assert_null(c->ex);
    assert_null(c->in.base);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(write(cs[1], request_404, sizeof(request_404) - 1),
                         (ssize_t)sizeof(request_404) - 1);
        conn_on_io(&w.loop, &c->io, EPOLLIN | EPOLLOUT);
        expect_404(cs[1]);
        assert_int_equal(c->state, S_IDLE);
        assert_null(c->ex);
        assert_null(c->in.base);
        /* the same one each time: taken from the pool and given back */
        assert_int_equal(w.stats.pool_exchanges, 1);
        assert_int_equal(w.stats.pool_buffers, 1);
    }
    /* two requests in one write: the second is still in the buffer when the first ends */
    char two[2 * sizeof(request_404)];
    memcpy(two, request_404, sizeof(request_404) - 1);
    memcpy(two + sizeof(request_404) - 1, request_404, sizeof(request_404) - 1);
    assert_int_equal(write(cs[1], two, 2 * (sizeof(request_404) - 1)),
                     (ssize_t)(2 * (sizeof(request_404) - 1)));
    conn_on_io(&w.loop, &c->io, EPOLLIN | EPOLLOUT);
    char buf[1024];
    ssize_t n = recv(cs[1], buf, sizeof(buf) - 1, MSG_DONTWAIT);
    assert_true(n > 0);
    buf[n] = '\0';
    char *second = strstr(buf + 1, "HTTP/1.1 404 ");
    assert_non_null(second); /* both answered, in order */
    assert_null(c->ex);
    assert_null(c->in.base);
    cg_proxy__conn_close(c);
    close(cs[1]);
}

/* Reads fd to its end (the gateway closed it): what it held, NUL-terminated. */
static size_t read_to_end(int fd, char *buf, size_t cap)
{
    size_t got = 0;
    for (;;) {
        ssize_t n = recv(fd, buf + got, cap - 1 - got, MSG_DONTWAIT);
        if (n <= 0) {
            assert_int_equal(n, 0); /* the end, not "nothing yet" */
            break;
        }
        got += (size_t)n;
    }
    buf[got] = '\0';
    return got;
}

static void test_handshake_outcomes_plaintext_gets_400_others_close_silently(void **state)
{
    (void)state;
    char buf[1024];
    /* plaintext HTTP: nginx's cleartext 400 on the socket, then the close */
    int cs[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    fake_t f = {.read_max = 1 << 20, .write_max = 1 << 20};
    conn_t *c = fake_conn(cs[0], &f, 1);
    assert_int_equal(write(cs[1], request_404, sizeof(request_404) - 1),
                     (ssize_t)sizeof(request_404) - 1);
    conn_on_io(&w.loop, &c->io, EPOLLIN | EPOLLOUT);
    assert_int_equal(c->state, S_CLOSED);
    read_to_end(cs[1], buf, sizeof(buf));
    assert_string_equal(buf, PLAINTEXT_REPLY);
    assert_int_equal(w.stats.tls_fail[CG_PROXY_TLS_FAIL_other], 1); /* a fake has no reason */
    assert_int_equal(w.stats.rq_total, 0);                          /* not a request */
    close(cs[1]);

    /* another failure: closed, nothing written */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    c = fake_conn(cs[0], &f, 1);
    assert_int_equal(write(cs[1], "X", 1), 1);
    conn_on_io(&w.loop, &c->io, EPOLLIN);
    assert_int_equal(c->state, S_CLOSED);
    assert_int_equal(read_to_end(cs[1], buf, sizeof(buf)), 0);
    assert_int_equal(w.stats.tls_fail[CG_PROXY_TLS_FAIL_other], 2);
    close(cs[1]);

    /* a reset mid-handshake still runs it, to count the failure */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    c = fake_conn(cs[0], &f, 1);
    close(cs[1]);
    conn_on_io(&w.loop, &c->io, EPOLLIN | EPOLLHUP);
    assert_int_equal(c->state, S_CLOSED);
    assert_int_equal(w.stats.tls_fail[CG_PROXY_TLS_FAIL_other], 3);

    /* a completed one is counted */
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    c = fake_conn(cs[0], &f, 1);
    assert_int_equal(write(cs[1], "H", 1), 1);
    conn_on_io(&w.loop, &c->io, EPOLLIN);
    assert_false(c->handshaking);
    assert_int_equal(w.stats.tls_handshakes, 1);
    assert_int_equal(w.stats.tls_resumed, 0);
    cg_proxy__conn_close(c);
    close(cs[1]);
}

static void test_a_write_that_wants_readable_and_partial_writes(void **state)
{
    (void)state;
    int cs[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    fake_t f = {.write_swaps = 1, .read_max = 1 << 20, .write_max = 7};
    conn_t *c = fake_conn(cs[0], &f, 0);
    assert_int_equal(write(cs[1], request_404, sizeof(request_404) - 1),
                     (ssize_t)sizeof(request_404) - 1);
    conn_on_io(&w.loop, &c->io, EPOLLIN | EPOLLOUT);
    assert_int_equal(f.writes, 1); /* CG_EAGAIN, wanting readable */
    assert_int_equal(c->state, S_LOCAL);
    conn_on_io(&w.loop, &c->io, EPOLLOUT); /* a writable edge does not free that write */
    assert_int_equal(f.writes, 1);
    expect_nothing(cs[1]);
    /* the readable edge does; each writev takes seven bytes, and the rest is offered at once
     * (a short write is not a full socket here): the whole answer goes in this one event */
    conn_on_io(&w.loop, &c->io, EPOLLIN);
    assert_true(f.writes > 2);
    expect_404(cs[1]);
    assert_int_equal(c->state, S_IDLE);
    close(cs[1]);
}

/* The listener's opener (TLS, in the config) makes accepted connections' transports; one that
 * fails leaves no connection behind. Pooled upstreams are kept apart by their opener. */
static fake_t opened;
static int fake_open(void *ctx, cg_xport_t *x, int fd)
{
    if (ctx) return CG_ENOMEM;
    *x = (cg_xport_t){.ops = &fake_ops, .impl = &opened, .fd = fd};
    return 0;
}

static void test_the_listeners_opener_makes_the_transport(void **state)
{
    (void)state;
    int lfd = listen_loopback();
    add_listener(lfd);
    cg_listener_cfg_t tls = {.port = 1, .xopen = {.open = fake_open}};
    cg_config_t cfg = {.listeners = &tls, .nlisteners = 1};
    cg_cfg_hold_t hold = {.cfg = &cfg, .users = 1};
    w.cur = &hold;
    int client = connect_to(lfd);
    RUN_UNTIL(w.stats.cx_active == 1, 5000);
    conn_t *c = cg_container_of(w.conns.next, conn_t, link);
    assert_ptr_equal(c->xp.ops, &fake_ops);
    assert_true(c->handshaking); /* TLS first, HTTP after */
    assert_int_equal(c->xp.fd, c->io.fd);

    static int fail;
    tls.xopen.ctx = &fail; /* this opener fails */
    int again = connect_to(lfd);
    char b;
    RUN_UNTIL(recv(again, &b, 1, MSG_DONTWAIT) == 0, 5000); /* closed at once */
    assert_int_equal(w.stats.cx_active, 1);                 /* not kept */
    assert_int_equal(w.stats.cx_total, 1);
    close(again);
    close(client);

    cg_addr_t a = {0};
    cg_xport_opener_t tcp = {0}, other = {.open = fake_open};
    assert_ptr_equal(bucket_for(&w, &a, &tcp), bucket_for(&w, &a, &tcp));
    assert_ptr_not_equal(bucket_for(&w, &a, &tcp), bucket_for(&w, &a, &other));
}

/* An upstream connection whose transport still holds bytes after the response (the upstream
 * sent more than it answered) must not serve the next request; one that holds none is pooled. */
static void test_an_upstream_whose_transport_holds_bytes_is_not_pooled(void **state)
{
    (void)state;
    cg_addr_t a = {0};
    cg_xport_opener_t tcp = {0};
    cg_pool_bucket_t *b = bucket_for(&w, &a, &tcp);
    for (size_t held = 3;; held = 0) {
        int cs[2], us[2];
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, us), 0);
        up_t *u;
        conn_t *c = conn_with_upstream(cs[0], us[0], &u);
        fake_t f = {.held_len = held};
        u->xp = (cg_xport_t){.ops = &fake_ops, .impl = &f, .fd = us[0]};
        u->bucket = b;
        b->users++;
        u->head.flags = CG_HTTP_F_KEEPALIVE;
        cg_proxy__up_release(c, 1);
        assert_int_equal(b->nidle, held ? 0 : 1);
        assert_int_equal(f.released, held ? 1 : 0);
        cg_proxy__conn_close(c);
        close(cs[1]);
        close(us[1]);
        if (!held) {
            cg_proxy__up_free(u); /* before f goes */
            break;
        }
    }
}

static void fake_clock(void *ctx, uint64_t *mono_us, uint64_t *wall_us)
{
    *mono_us = *wall_us = *(uint64_t *)ctx;
}

/* The pool's idle timer is left armed while a request uses the connection (lazy): when it
 * fires, a connection pooled again since counts from its last release, not its first. */
static void test_pooled_upstream_idle_timeout_counts_from_its_last_release(void **state)
{
    (void)state;
    uint64_t now_us = 1000 * 1000;
    cg_loop_set_clock(&w.loop, fake_clock, &now_us);
    cg_endpoint_t ep = {0};
    cg_pool_bucket_t *b = bucket_for(&w, &ep.addr, &ep.xopen);
    int cs[2], us[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, cs), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, us), 0);
    up_t *u;
    conn_t *c = conn_with_upstream(cs[0], us[0], &u);
    u->bucket = b;
    b->users++;
    u->head.flags = CG_HTTP_F_KEEPALIVE;
    cg_proxy__up_release(c, 1); /* pooled at 1 s: its timer is due at 11 s */
    assert_int_equal(b->nidle, 1);
    now_us += 6 * 1000 * 1000;
    cg_loop_run_once(&w.loop, 0);
    int err = 0;
    assert_ptr_equal(up_acquire(c, &ep, 0, &err), u); /* reused at 7 s */
    c->ex->up = u;
    u->head.flags = CG_HTTP_F_KEEPALIVE;
    cg_proxy__up_release(c, 1); /* pooled again at 7 s: closed at 17 s */
    now_us += 4 * 1000 * 1000 + 1000;
    cg_loop_run_once(&w.loop, 0);
    assert_int_equal(b->nidle, 1); /* 11 s: idle for 4 s only, the timer is armed again */
    assert_int_equal(w.stats.up_cx_active, 1);
    assert_true(cg_timer_active(&u->timer));
    now_us += 6 * 1000 * 1000;
    cg_loop_run_once(&w.loop, 0);
    assert_int_equal(b->nidle, 0); /* 17 s: closed */
    assert_int_equal(w.stats.up_cx_active, 0);
    cg_loop_set_clock(&w.loop, NULL, NULL);
    cg_proxy__conn_close(c);
    close(cs[1]);
    close(us[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_upstream_freed_by_an_earlier_event_of_the_same_batch,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_upstream_is_not_reused_within_the_batch, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_upstream_that_cannot_be_watched_is_recycled_with_its_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_accepted_connection_that_cannot_be_watched_frees_its_buffer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_fds_pauses_accepting_and_resumes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_max_connections_pauses_and_resumes_on_close, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_idle_connection_gives_back_its_exchange_and_buffer,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_pool_buckets_by_address_and_transport, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_unused_pool_buckets_are_pruned_as_endpoints_churn,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_handshake_then_a_read_that_wants_writable_then_held_bytes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_write_that_wants_readable_and_partial_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_handshake_outcomes_plaintext_gets_400_others_close_silently, setup, teardown),
        cmocka_unit_test_setup_teardown(test_the_listeners_opener_makes_the_transport, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_an_upstream_whose_transport_holds_bytes_is_not_pooled,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_pooled_upstream_idle_timeout_counts_from_its_last_release, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
