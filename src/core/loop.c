/* epoll event loop with a binary-heap timer queue. */
#include "core/loop.h"
#include "core/clock.h"
#include "core/err.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define MAX_EVENTS 256

void cg_loop_update_time(cg_loop_t *loop)
{
    if (loop->clock) {
        loop->clock(loop->clock_ctx, &loop->now_us, &loop->wall_us);
    } else {
        loop->now_us = cg_clock_mono_us();
        loop->wall_us = cg_clock_wall_us();
    }
    loop->now_ms = loop->now_us / 1000;
}

void cg_loop_set_clock(cg_loop_t *loop, cg_loop_clock_fn fn, void *ctx)
{
    loop->clock = fn;
    loop->clock_ctx = ctx;
    cg_loop_update_time(loop);
}

static void on_wakefd(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    uint64_t v;
    while (read(io->fd, &v, sizeof(v)) > 0) {
    }
    if (loop->on_wake) loop->on_wake(loop);
}

int cg_loop_init(cg_loop_t *loop)
{
    memset(loop, 0, sizeof(*loop));
    cg_list_init(&loop->deferred);
    loop->epfd = epoll_create1(EPOLL_CLOEXEC);
    if (loop->epfd < 0) return cg_err_from_errno(errno);
    loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (loop->wakefd < 0) {
        close(loop->epfd);
        return cg_err_from_errno(errno);
    }
    cg_loop_update_time(loop);
    return cg_io_start_level(loop, &loop->wake_io, loop->wakefd, EPOLLIN, on_wakefd);
}

void cg_loop_destroy(cg_loop_t *loop)
{
    close(loop->wakefd);
    close(loop->epfd);
    free(loop->heap);
    loop->heap = NULL;
}

void cg_loop_stop(cg_loop_t *loop)
{
    __atomic_store_n(&loop->stop, 1, __ATOMIC_RELEASE);
    cg_loop_wake(loop);
}

void cg_loop_wake(cg_loop_t *loop)
{
    uint64_t one = 1;
    ssize_t w = write(loop->wakefd, &one, sizeof(one));
    (void)w;
}

int cg_io_start(cg_loop_t *loop, cg_io_t *io, int fd, cg_io_cb cb)
{
    io->fd = fd;
    io->cb = cb;
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return cg_err_from_errno(errno);
    return 0;
}

int cg_io_start_level(cg_loop_t *loop, cg_io_t *io, int fd, uint32_t events, cg_io_cb cb)
{
    io->fd = fd;
    io->cb = cb;
    struct epoll_event ev = {.events = events, .data.ptr = io};
    if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) return cg_err_from_errno(errno);
    return 0;
}

void cg_io_stop(cg_loop_t *loop, cg_io_t *io)
{
    if (io->fd >= 0) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, io->fd, NULL);
    io->cb = NULL;
}

/* --- timer heap (1-based indices stored in the timers) --- */

static void heap_swap(cg_loop_t *loop, size_t a, size_t b)
{
    cg_timer_t *t = loop->heap[a];
    loop->heap[a] = loop->heap[b];
    loop->heap[b] = t;
    loop->heap[a]->heap_idx = a + 1;
    loop->heap[b]->heap_idx = b + 1;
}

static void heap_up(cg_loop_t *loop, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (loop->heap[p]->due_ms <= loop->heap[i]->due_ms) break;
        heap_swap(loop, i, p);
        i = p;
    }
}

static void heap_down(cg_loop_t *loop, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        if (l < loop->heap_len && loop->heap[l]->due_ms < loop->heap[m]->due_ms) m = l;
        if (r < loop->heap_len && loop->heap[r]->due_ms < loop->heap[m]->due_ms) m = r;
        if (m == i) break;
        heap_swap(loop, i, m);
        i = m;
    }
}

void cg_timer_stop(cg_loop_t *loop, cg_timer_t *t)
{
    if (!t->heap_idx) return;
    size_t i = t->heap_idx - 1;
    t->heap_idx = 0;
    loop->heap_len--;
    if (i == loop->heap_len) return;
    loop->heap[i] = loop->heap[loop->heap_len];
    loop->heap[i]->heap_idx = i + 1;
    heap_down(loop, i);
    heap_up(loop, i);
}

void cg_timer_start(cg_loop_t *loop, cg_timer_t *t, uint64_t after_ms, cg_timer_cb cb)
{
    t->cb = cb;
    uint64_t due = loop->now_ms + after_ms;
    if (t->heap_idx) {
        /* re-arm in place: cheaper than stop + start */
        size_t i = t->heap_idx - 1;
        uint64_t old = t->due_ms;
        t->due_ms = due;
        if (due < old)
            heap_up(loop, i);
        else if (due > old)
            heap_down(loop, i);
        return;
    }
    if (loop->heap_len == loop->heap_cap) {
        loop->heap_cap = loop->heap_cap ? loop->heap_cap * 2 : 64;
        loop->heap = cg_xrealloc(loop->heap, loop->heap_cap * sizeof(*loop->heap));
    }
    t->due_ms = due;
    loop->heap[loop->heap_len] = t;
    t->heap_idx = ++loop->heap_len;
    heap_up(loop, loop->heap_len - 1);
}

static void run_timers(cg_loop_t *loop)
{
    while (loop->heap_len && loop->heap[0]->due_ms <= loop->now_ms) {
        cg_timer_t *t = loop->heap[0];
        cg_timer_stop(loop, t);
        t->cb(loop, t);
    }
}

void cg_defer(cg_loop_t *loop, cg_defer_t *d, cg_defer_cb cb)
{
    d->cb = cb;
    if (cg_list_linked(&d->link)) return;
    cg_list_insert_tail(&loop->deferred, &d->link);
}

void cg_defer_cancel(cg_defer_t *d)
{
    if (cg_list_linked(&d->link)) cg_list_unlink(&d->link);
}

static void run_deferred(cg_loop_t *loop)
{
    while (!cg_list_empty(&loop->deferred)) {
        cg_defer_t *d = cg_container_of(loop->deferred.next, cg_defer_t, link);
        cg_list_unlink(&d->link);
        d->cb(loop, d);
    }
}

void cg_loop_run_once(cg_loop_t *loop, int max_wait_ms)
{
    struct epoll_event events[MAX_EVENTS];
    int timeout = max_wait_ms;
    if (!cg_list_empty(&loop->deferred)) {
        timeout = 0;
    } else if (loop->heap_len) {
        uint64_t due = loop->heap[0]->due_ms;
        int t = due <= loop->now_ms ? 0 : (int)(due - loop->now_ms);
        if (timeout < 0 || t < timeout) timeout = t;
    }
    int n = epoll_wait(loop->epfd, events, MAX_EVENTS, timeout);
    cg_loop_update_time(loop);
    for (int i = 0; i < n; i++) {
        cg_io_t *io = events[i].data.ptr;
        if (io->cb) io->cb(loop, io, events[i].events);
        /* deferred work (closes, retries) runs between events so freed objects never see a
         * stale event from this batch: closes are deferred and run after the batch. */
    }
    run_timers(loop);
    run_deferred(loop);
    if (loop->on_iteration) loop->on_iteration(loop);
}

void cg_loop_run(cg_loop_t *loop)
{
    while (!__atomic_load_n(&loop->stop, __ATOMIC_ACQUIRE)) cg_loop_run_once(loop, -1);
}
