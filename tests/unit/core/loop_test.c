/* Tests of the event loop: timer order, re-arm and stop, deferred work after the event batch,
 * the cached clock, wake-ups and edge-triggered I/O. Timer tests drive a test clock
 * (cg_loop_set_clock) and move time by hand; none sleeps. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/err.h"
#include "core/list.h"
#include "core/loop.h"

#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

static int setup_loop(void **state)
{
    cg_loop_t *loop = calloc(1, sizeof(*loop));
    if (!loop || cg_loop_init(loop) != 0) return -1;
    *state = loop;
    return 0;
}

static int teardown_loop(void **state)
{
    cg_loop_t *loop = *state;
    cg_loop_destroy(loop);
    free(loop);
    return 0;
}

/* A clock the test moves by hand. Starts far from zero so nothing depends on a zero origin. */
typedef struct {
    cg_loop_t *loop;
    uint64_t mono_us, wall_us;
    int reads;
} test_clock_t;

static void test_clock_read(void *ctx, uint64_t *mono_us, uint64_t *wall_us)
{
    test_clock_t *c = ctx;
    *mono_us = c->mono_us;
    *wall_us = c->wall_us;
    c->reads++;
}

static test_clock_t g_clock;

static int setup_test_clock_loop(void **state)
{
    if (setup_loop(state)) return -1;
    g_clock =
        (test_clock_t){.loop = *state, .mono_us = 7000000123ull, .wall_us = 1700000000000000ull};
    cg_loop_set_clock(*state, test_clock_read, &g_clock);
    return 0;
}

/* Moves the test clock on by ms and runs one iteration that does not wait. */
static void advance(cg_loop_t *loop, uint64_t ms)
{
    g_clock.mono_us += ms * 1000;
    g_clock.wall_us += ms * 1000;
    cg_loop_run_once(loop, 0);
}

/* ---- timers ---- */

typedef struct {
    cg_timer_t t;
    int id;
    int *log;
    size_t *nlog;
    uint64_t fired_at_ms;
    uint64_t due_at_start;
} rec_timer_t;

static void rec_cb(cg_loop_t *loop, cg_timer_t *t)
{
    rec_timer_t *r = cg_container_of(t, rec_timer_t, t);
    assert_false(cg_timer_active(t)); /* a firing timer is disarmed before its callback */
    r->log[(*r->nlog)++] = r->id;
    r->fired_at_ms = loop->now_ms;
}

static void test_timers_fire_in_due_order(void **state)
{
    cg_loop_t *loop = *state;
    int log[8];
    size_t nlog = 0;
    static const uint64_t after[] = {30, 5, 20, 0, 10, 25};
    rec_timer_t t[6];
    memset(t, 0, sizeof(t));
    uint64_t start = loop->now_ms;
    for (int i = 0; i < 6; i++) {
        t[i] = (rec_timer_t){.id = (int)after[i], .log = log, .nlog = &nlog};
        assert_false(cg_timer_active(&t[i].t));
        cg_timer_start(loop, &t[i].t, after[i], rec_cb);
        assert_true(cg_timer_active(&t[i].t));
        assert_int_equal(t[i].t.due_ms, start + after[i]);
    }
    /* one millisecond at a time: each fires in the iteration its due time is reached, not
     * before, not later */
    static const int want[] = {0, 5, 10, 20, 25, 30};
    cg_loop_run_once(loop, 0);
    assert_int_equal(nlog, 1);
    for (uint64_t ms = 1; ms <= 30; ms++) {
        advance(loop, 1);
        size_t due = 0;
        for (int i = 0; i < 6; i++) due += (uint64_t)want[i] <= ms;
        assert_int_equal(nlog, due);
    }
    assert_memory_equal(log, want, sizeof(want));
    for (int i = 0; i < 6; i++) {
        assert_false(cg_timer_active(&t[i].t));
        assert_int_equal(t[i].fired_at_ms, start + after[i]);
    }
    assert_int_equal(loop->heap_len, 0);
}

static void test_timer_rearm_and_stop(void **state)
{
    cg_loop_t *loop = *state;
    int log[8];
    size_t nlog = 0;
    rec_timer_t a = {.id = 1, .log = log, .nlog = &nlog};
    rec_timer_t b = {.id = 2, .log = log, .nlog = &nlog};
    rec_timer_t c = {.id = 3, .log = log, .nlog = &nlog};
    rec_timer_t d = {.id = 4, .log = log, .nlog = &nlog};

    cg_timer_start(loop, &a.t, 40, rec_cb);
    cg_timer_start(loop, &b.t, 10, rec_cb);
    cg_timer_start(loop, &c.t, 20, rec_cb);
    cg_timer_start(loop, &d.t, 30, rec_cb);
    assert_int_equal(loop->heap_len, 4);
    /* re-arm in place: earlier, later; still one heap entry each */
    cg_timer_start(loop, &a.t, 1, rec_cb);
    cg_timer_start(loop, &b.t, 50, rec_cb);
    assert_int_equal(loop->heap_len, 4);
    /* stop one; stopping again and stopping a never-armed timer are no-ops */
    cg_timer_stop(loop, &c.t);
    assert_false(cg_timer_active(&c.t));
    cg_timer_stop(loop, &c.t);
    rec_timer_t idle = {0};
    cg_timer_stop(loop, &idle.t);
    assert_int_equal(loop->heap_len, 3);

    uint64_t start = loop->now_ms;
    advance(loop, 1);
    assert_int_equal(nlog, 1); /* a, moved from 40 to 1 */
    advance(loop, 19);
    assert_int_equal(nlog, 1); /* c (20) was stopped; b moved from 10 to 50 */
    advance(loop, 10);
    assert_int_equal(nlog, 2); /* d at 30 */
    advance(loop, 19);
    assert_int_equal(nlog, 2);
    advance(loop, 1);
    assert_int_equal(nlog, 3); /* b at 50 */
    static const int want[] = {1, 4, 2};
    assert_memory_equal(log, want, sizeof(want));
    assert_int_equal(a.fired_at_ms, start + 1);
    assert_int_equal(d.fired_at_ms, start + 30);
    assert_int_equal(b.fired_at_ms, start + 50);
    /* the stopped timer never fires */
    advance(loop, 1000);
    assert_int_equal(nlog, 3);

    /* a fired timer can be started again */
    cg_timer_start(loop, &c.t, 0, rec_cb);
    cg_loop_run_once(loop, 0);
    assert_int_equal(nlog, 4);
    assert_int_equal(log[3], 3);
}

typedef struct {
    cg_timer_t t;
    int fires;
    int limit;
    uint64_t at[8];
} periodic_t;

static void periodic_cb(cg_loop_t *loop, cg_timer_t *t)
{
    periodic_t *p = cg_container_of(t, periodic_t, t);
    p->at[p->fires] = loop->now_ms;
    if (++p->fires < p->limit) cg_timer_start(loop, t, 2, periodic_cb);
}

static void test_timer_rearm_from_callback(void **state)
{
    cg_loop_t *loop = *state;
    periodic_t p = {.limit = 5};
    uint64_t start = loop->now_ms;
    cg_timer_start(loop, &p.t, 1, periodic_cb);
    /* re-armed from its callback, it is not run again in the same iteration */
    advance(loop, 1);
    assert_int_equal(p.fires, 1);
    assert_true(cg_timer_active(&p.t));
    for (int i = 0; i < 20; i++) advance(loop, 1);
    assert_int_equal(p.fires, 5);
    for (int i = 0; i < 5; i++) assert_int_equal(p.at[i], start + 1 + 2 * (uint64_t)i);
    assert_false(cg_timer_active(&p.t));
    advance(loop, 100);
    assert_int_equal(p.fires, 5);
}

typedef struct {
    cg_timer_t t;
    cg_timer_t *victim;
    int fired;
} killer_t;

static void killer_cb(cg_loop_t *loop, cg_timer_t *t)
{
    killer_t *k = cg_container_of(t, killer_t, t);
    k->fired++;
    if (k->victim) cg_timer_stop(loop, k->victim);
}

static void test_timer_stopped_by_earlier_timer_in_same_batch(void **state)
{
    cg_loop_t *loop = *state;
    killer_t first = {0}, second = {0};
    first.victim = &second.t;
    cg_timer_start(loop, &first.t, 1, killer_cb);
    cg_timer_start(loop, &second.t, 2, killer_cb);
    advance(loop, 5); /* both are due in the same iteration */
    assert_int_equal(first.fired, 1);
    assert_int_equal(second.fired, 0);
    assert_int_equal(loop->heap_len, 0);
}

static void noop_timer_cb(cg_loop_t *loop, cg_timer_t *t)
{
    (void)loop;
    (void)t;
}

/* Many timers with random delays and random stops: fire order never goes back in time and
 * exactly the armed ones fire. Exercises heap removal from the middle. */
static int g_stress_log_bad;
static uint64_t g_stress_last_due;
static int g_stress_fired;

static void stress_cb(cg_loop_t *loop, cg_timer_t *t)
{
    (void)loop;
    if (t->due_ms < g_stress_last_due) g_stress_log_bad++;
    g_stress_last_due = t->due_ms;
    g_stress_fired++;
}

static void test_timer_heap_stress(void **state)
{
    cg_loop_t *loop = *state;
    enum { N = 1000 };
    cg_timer_t *t = calloc(N, sizeof(*t));
    assert_non_null(t);
    unsigned seed = 12345;
    int armed = 0;
    g_stress_log_bad = 0;
    g_stress_last_due = 0;
    g_stress_fired = 0;
    for (int i = 0; i < N; i++) cg_timer_start(loop, &t[i], rand_r(&seed) % 40, stress_cb);
    for (int i = 0; i < N; i++) {
        int k = rand_r(&seed) % 4;
        if (k == 0)
            cg_timer_stop(loop, &t[i]);
        else if (k == 1)
            cg_timer_start(loop, &t[i], rand_r(&seed) % 40, stress_cb); /* re-arm */
    }
    for (int i = 0; i < N; i++) armed += cg_timer_active(&t[i]);
    assert_int_equal(loop->heap_len, (size_t)armed);
    /* heap invariant and back-indices */
    for (size_t i = 0; i < loop->heap_len; i++) {
        assert_int_equal(loop->heap[i]->heap_idx, i + 1);
        if (i) assert_true(loop->heap[(i - 1) / 2]->due_ms <= loop->heap[i]->due_ms);
    }
    advance(loop, 39);
    assert_int_equal(loop->heap_len, 0);
    assert_int_equal(g_stress_fired, armed);
    assert_int_equal(g_stress_log_bad, 0);
    free(t);
    (void)noop_timer_cb;
}

/* ---- cached time ---- */

typedef struct {
    cg_timer_t t;
    uint64_t before_ms, before_us, before_wall, after_ms, after_us, after_wall;
} clock_probe_t;

static void clock_probe_cb(cg_loop_t *loop, cg_timer_t *t)
{
    clock_probe_t *p = cg_container_of(t, clock_probe_t, t);
    p->before_ms = loop->now_ms;
    p->before_us = loop->now_us;
    p->before_wall = loop->wall_us;
    g_clock.mono_us += 20000; /* a slow callback */
    g_clock.wall_us += 20000;
    p->after_ms = loop->now_ms;
    p->after_us = loop->now_us;
    p->after_wall = loop->wall_us;
}

static void test_cached_time(void **state)
{
    cg_loop_t *loop = *state;
    /* set_clock reads the new source at once */
    assert_int_equal(loop->now_us, g_clock.mono_us);
    assert_int_equal(loop->now_ms, g_clock.mono_us / 1000);
    assert_int_equal(loop->wall_us, g_clock.wall_us);

    /* the time does not move during callbacks of one iteration, and the source is read once */
    clock_probe_t p = {0};
    cg_timer_start(loop, &p.t, 0, clock_probe_cb);
    int reads = g_clock.reads;
    cg_loop_run_once(loop, 0);
    assert_int_equal(g_clock.reads, reads + 1);
    assert_int_equal(p.before_ms, p.after_ms);
    assert_int_equal(p.before_us, p.after_us);
    assert_int_equal(p.before_wall, p.after_wall);
    /* and is read again at the next iteration */
    uint64_t then = loop->now_us;
    cg_loop_run_once(loop, 0);
    assert_int_equal(loop->now_us, then + 20000);
    assert_int_equal(loop->now_ms, loop->now_us / 1000);
    assert_int_equal(loop->wall_us, p.before_wall + 20000);

    /* cg_loop_update_time refreshes on demand */
    then = loop->now_us;
    g_clock.mono_us += 2500;
    cg_loop_update_time(loop);
    assert_int_equal(loop->now_us, then + 2500);
    assert_int_equal(loop->now_ms, (then + 2500) / 1000);

    /* timers are relative to the cached time, not to the moment of the call */
    uint64_t cached = loop->now_ms;
    g_clock.mono_us += 10000;
    cg_timer_t t = {0};
    cg_timer_start(loop, &t, 100, noop_timer_cb);
    assert_int_equal(t.due_ms, cached + 100);
    cg_timer_stop(loop, &t);
}

static void test_system_clock_by_default_and_after_a_test_clock(void **state)
{
    cg_loop_t *loop = *state;
    for (int round = 0; round < 2; round++) {
        /* now_ms and now_us are the same instant, monotonic and close to the real clock */
        assert_null(loop->clock);
        assert_int_equal(loop->now_ms, loop->now_us / 1000);
        uint64_t mono = cg_clock_mono_us();
        assert_true(loop->now_us <= mono);
        assert_true(mono - loop->now_us < 5000000u);
        uint64_t wall = cg_clock_wall_us();
        assert_true(loop->wall_us <= wall && wall - loop->wall_us < 5000000u);
        uint64_t before = cg_clock_mono_us();
        cg_loop_update_time(loop);
        assert_true(loop->now_us >= before && loop->now_us <= cg_clock_mono_us());
        /* a test clock far from the real one, then the system clocks again */
        test_clock_t c = {.mono_us = 42, .wall_us = 43};
        cg_loop_set_clock(loop, test_clock_read, &c);
        assert_int_equal(loop->now_us, 42);
        assert_int_equal(loop->wall_us, 43);
        cg_loop_set_clock(loop, NULL, NULL);
        assert_null(loop->clock_ctx);
    }
}

static void test_iso8601(void **state)
{
    (void)state;
    char out[32];
    assert_int_equal(cg_clock_format_iso8601(0, out), 24);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    assert_int_equal(cg_clock_format_iso8601(1700000000123456ull, out), 24);
    assert_string_equal(out, "2023-11-14T22:13:20.123Z");
    assert_int_equal(cg_clock_format_iso8601(951782400999999ull, out), 24);
    assert_string_equal(out, "2000-02-29T00:00:00.999Z");
}

/* ---- deferred work ---- */

typedef struct {
    cg_defer_t d;
    int id;
    int *log;
    size_t *nlog;
} rec_defer_t;

static void rec_defer_cb(cg_loop_t *loop, cg_defer_t *d)
{
    (void)loop;
    rec_defer_t *r = cg_container_of(d, rec_defer_t, d);
    assert_false(cg_list_linked(&d->link));
    r->log[(*r->nlog)++] = r->id;
}

/* Two eventfds readable in the same epoll batch. Each I/O callback defers work; no deferred
 * callback may run before every event of the batch was handled. */
typedef struct {
    cg_io_t io;
    rec_defer_t def;
    int ran_before_batch_end; /* deferred work seen when this I/O callback ran */
    int calls;
} ev_t;

static int g_deferred_runs;

static void counting_defer_cb(cg_loop_t *loop, cg_defer_t *d)
{
    rec_defer_cb(loop, d);
    g_deferred_runs++;
}

static void ev_cb(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    ev_t *e = cg_container_of(io, ev_t, io);
    uint64_t v;
    ssize_t n = read(io->fd, &v, sizeof(v));
    (void)n;
    e->calls++;
    e->ran_before_batch_end = g_deferred_runs;
    cg_defer(loop, &e->def.d, counting_defer_cb);
}

static void test_defer_runs_after_the_batch(void **state)
{
    cg_loop_t *loop = *state;
    int log[8];
    size_t nlog = 0;
    ev_t ev[2];
    memset(ev, 0, sizeof(ev));
    g_deferred_runs = 0;
    for (int i = 0; i < 2; i++) {
        int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        assert_true(fd >= 0);
        ev[i].def = (rec_defer_t){.id = i, .log = log, .nlog = &nlog};
        assert_int_equal(cg_io_start_level(loop, &ev[i].io, fd, CG_IO_READ, ev_cb), 0);
        uint64_t one = 1;
        assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
    }
    cg_loop_run_once(loop, 1000);
    assert_int_equal(ev[0].calls, 1);
    assert_int_equal(ev[1].calls, 1);
    assert_int_equal(ev[0].ran_before_batch_end, 0);
    assert_int_equal(ev[1].ran_before_batch_end, 0);
    assert_int_equal(nlog, 2);
    assert_int_equal(g_deferred_runs, 2);
    for (int i = 0; i < 2; i++) {
        cg_io_stop(loop, &ev[i].io);
        close(ev[i].io.fd);
    }
}

typedef struct {
    rec_defer_t r;
    rec_defer_t *chain; /* deferred from this callback */
} chain_defer_t;

static void chain_cb(cg_loop_t *loop, cg_defer_t *d)
{
    chain_defer_t *c = cg_container_of(d, chain_defer_t, r.d);
    rec_defer_cb(loop, d);
    if (c->chain) cg_defer(loop, &c->chain->d, rec_defer_cb);
}

static void test_defer_order_dedup_cancel(void **state)
{
    cg_loop_t *loop = *state;
    int log[16];
    size_t nlog = 0;
    rec_defer_t a = {.id = 1, .log = log, .nlog = &nlog};
    rec_defer_t b = {.id = 2, .log = log, .nlog = &nlog};
    rec_defer_t c = {.id = 3, .log = log, .nlog = &nlog};
    rec_defer_t late = {.id = 9, .log = log, .nlog = &nlog};
    chain_defer_t ch = {.r = {.id = 4, .log = log, .nlog = &nlog}, .chain = &late};

    cg_defer_cancel(&a.d); /* cancelling a never-deferred (all-zero) one is harmless */
    cg_defer(loop, &a.d, rec_defer_cb);
    cg_defer(loop, &b.d, rec_defer_cb);
    cg_defer(loop, &a.d, rec_defer_cb); /* already queued: stays in place, runs once */
    cg_defer(loop, &c.d, rec_defer_cb);
    cg_defer(loop, &ch.r.d, chain_cb);
    cg_defer_cancel(&b.d);
    cg_defer_cancel(&b.d);

    /* pending deferred work makes the iteration not block */
    uint64_t t0 = cg_clock_mono_us();
    cg_loop_run_once(loop, 5000);
    assert_true(cg_clock_mono_us() - t0 < 2000000u);
    static const int want[] = {1, 3, 4, 9}; /* FIFO; work deferred while draining runs too */
    assert_int_equal(nlog, 4);
    assert_memory_equal(log, want, sizeof(want));
    assert_true(cg_list_empty(&loop->deferred));

    /* a deferred object can be deferred again after it ran */
    cg_defer(loop, &b.d, rec_defer_cb);
    cg_loop_run_once(loop, 0);
    assert_int_equal(nlog, 5);
    assert_int_equal(log[4], 2);
}

static void defer_from_timer_cb(cg_loop_t *loop, cg_timer_t *t);

typedef struct {
    cg_timer_t t;
    rec_defer_t d;
    size_t nlog_at_timer;
} timer_defer_t;

static void defer_from_timer_cb(cg_loop_t *loop, cg_timer_t *t)
{
    timer_defer_t *td = cg_container_of(t, timer_defer_t, t);
    td->nlog_at_timer = *td->d.nlog;
    cg_defer(loop, &td->d.d, rec_defer_cb);
}

static void test_defer_from_timer_runs_same_iteration(void **state)
{
    cg_loop_t *loop = *state;
    int log[4];
    size_t nlog = 0;
    timer_defer_t td = {.d = {.id = 7, .log = log, .nlog = &nlog}};
    cg_timer_start(loop, &td.t, 0, defer_from_timer_cb);
    cg_loop_run_once(loop, 0);
    assert_int_equal(td.nlog_at_timer, 0);
    assert_int_equal(nlog, 1);
    assert_int_equal(log[0], 7);
}

/* ---- wake, stop, iteration hook ---- */

static int g_wakes, g_iterations; /* written on the loop's thread, read on the other */

static void on_wake(cg_loop_t *loop)
{
    (void)loop;
    __atomic_add_fetch(&g_wakes, 1, __ATOMIC_RELEASE);
}

static void on_iteration(cg_loop_t *loop)
{
    (void)loop;
    __atomic_add_fetch(&g_iterations, 1, __ATOMIC_RELEASE);
}

static void *stopper(void *arg)
{
    /* wake the loop, wait (with a deadline) until it has run on_wake, then stop it: the wake
     * may come before cg_loop_run started, the eventfd keeps it */
    cg_loop_wake(arg);
    uint64_t deadline = cg_clock_mono_us() + 5000000u;
    while (!__atomic_load_n(&g_wakes, __ATOMIC_ACQUIRE) && cg_clock_mono_us() < deadline)
        sched_yield();
    cg_loop_stop(arg);
    return NULL;
}

static void test_wake_and_stop_from_another_thread(void **state)
{
    cg_loop_t *loop = *state;
    g_wakes = g_iterations = 0;
    loop->on_wake = on_wake;
    loop->on_iteration = on_iteration;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper, loop), 0);
    cg_loop_run(loop); /* returns only once stopped */
    pthread_join(th, NULL);
    assert_true(g_wakes >= 1);
    assert_true(g_iterations >= 1);
    assert_int_equal(loop->stop, 1);
}

static void stop_cb(cg_loop_t *loop, cg_timer_t *t)
{
    (void)t;
    cg_loop_stop(loop);
}

static void test_stop_from_timer(void **state)
{
    cg_loop_t *loop = *state;
    cg_timer_t t = {0};
    cg_timer_start(loop, &t, 5, stop_cb);
    cg_loop_run(loop);
    assert_false(cg_timer_active(&t));
}

/* ---- edge-triggered I/O ---- */

typedef struct {
    cg_io_t io;
    int calls;
    uint32_t last_events;
} io_rec_t;

static void io_rec_cb(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    (void)loop;
    io_rec_t *r = cg_container_of(io, io_rec_t, io);
    r->calls++;
    r->last_events = events;
}

static void test_edge_triggered_io(void **state)
{
    cg_loop_t *loop = *state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
    io_rec_t r = {0};
    assert_int_equal(cg_io_start(loop, &r.io, sv[0], io_rec_cb), 0);
    cg_loop_run_once(loop, 1000);
    assert_int_equal(r.calls, 1); /* initially writable */
    assert_true(r.last_events & CG_IO_WRITE);
    cg_loop_run_once(loop, 0);
    assert_int_equal(r.calls, 1); /* edge-triggered: no new edge, no new call */

    assert_int_equal(write(sv[1], "x", 1), 1);
    cg_loop_run_once(loop, 1000);
    assert_int_equal(r.calls, 2);
    assert_true(r.last_events & CG_IO_READ);
    cg_loop_run_once(loop, 0);
    assert_int_equal(r.calls, 2); /* data unread, but no new edge */

    close(sv[1]);
    cg_loop_run_once(loop, 1000);
    assert_int_equal(r.calls, 3);
    assert_true(r.last_events & CG_IO_HUP);

    cg_io_stop(loop, &r.io);
    assert_null(r.io.cb);
    cg_loop_run_once(loop, 0);
    assert_int_equal(r.calls, 3);
    /* adding a closed descriptor reports an error */
    close(sv[0]);
    assert_int_not_equal(cg_io_start(loop, &r.io, sv[0], io_rec_cb), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_timers_fire_in_due_order, setup_test_clock_loop,
                                        teardown_loop),
        cmocka_unit_test_setup_teardown(test_timer_rearm_and_stop, setup_test_clock_loop,
                                        teardown_loop),
        cmocka_unit_test_setup_teardown(test_timer_rearm_from_callback, setup_test_clock_loop,
                                        teardown_loop),
        cmocka_unit_test_setup_teardown(test_timer_stopped_by_earlier_timer_in_same_batch,
                                        setup_test_clock_loop, teardown_loop),
        cmocka_unit_test_setup_teardown(test_timer_heap_stress, setup_test_clock_loop,
                                        teardown_loop),
        cmocka_unit_test_setup_teardown(test_cached_time, setup_test_clock_loop, teardown_loop),
        cmocka_unit_test_setup_teardown(test_system_clock_by_default_and_after_a_test_clock,
                                        setup_loop, teardown_loop),
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test_setup_teardown(test_defer_runs_after_the_batch, setup_loop, teardown_loop),
        cmocka_unit_test_setup_teardown(test_defer_order_dedup_cancel, setup_loop, teardown_loop),
        cmocka_unit_test_setup_teardown(test_defer_from_timer_runs_same_iteration, setup_loop,
                                        teardown_loop),
        cmocka_unit_test_setup_teardown(test_wake_and_stop_from_another_thread, setup_loop,
                                        teardown_loop),
        cmocka_unit_test_setup_teardown(test_stop_from_timer, setup_loop, teardown_loop),
        cmocka_unit_test_setup_teardown(test_edge_triggered_io, setup_loop, teardown_loop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
