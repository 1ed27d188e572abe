/* The event loop: one per thread. epoll (edge-triggered), a timer heap, deferred callbacks,
 * and a cached clock read once per iteration. */
#ifndef CG_CORE_LOOP_H
#define CG_CORE_LOOP_H

#include "core/list.h"

#include <stdint.h>
#include <sys/epoll.h>

typedef struct cg_loop cg_loop_t;
typedef struct cg_io cg_io_t;
typedef struct cg_timer cg_timer_t;
typedef struct cg_defer cg_defer_t;

enum { CG_IO_READ = EPOLLIN, CG_IO_WRITE = EPOLLOUT, CG_IO_HUP = EPOLLRDHUP | EPOLLHUP | EPOLLERR };

typedef void (*cg_io_cb)(cg_loop_t *loop, cg_io_t *io, uint32_t events);
typedef void (*cg_timer_cb)(cg_loop_t *loop, cg_timer_t *t);
typedef void (*cg_defer_cb)(cg_loop_t *loop, cg_defer_t *d);
/* A time source: writes the monotonic and the wall clock, in microseconds. */
typedef void (*cg_loop_clock_fn)(void *ctx, uint64_t *mono_us, uint64_t *wall_us);

/* A file descriptor watched by the loop. Owned by its embedder. */
struct cg_io {
    int fd;
    cg_io_cb cb;
};

/* A one-shot timer. Zero-initialised = inactive. */
struct cg_timer {
    uint64_t due_ms;
    size_t heap_idx; /* 0 = not armed; else index+1 in the heap */
    cg_timer_cb cb;
};

/* Work to run once at the end of the current iteration. */
struct cg_defer {
    cg_list_t link;
    cg_defer_cb cb;
};

struct cg_loop {
    int epfd;
    int wakefd;
    cg_io_t wake_io;
    volatile int stop;
    uint64_t now_ms;        /* monotonic, read once per iteration */
    uint64_t now_us;        /* same instant, microseconds */
    uint64_t wall_us;       /* wall clock at the same instant */
    cg_loop_clock_fn clock; /* NULL: the system clocks; else a test's (cg_loop_set_clock) */
    void *clock_ctx;
    cg_timer_t **heap;
    size_t heap_len, heap_cap;
    cg_list_t deferred;
    void (*on_wake)(cg_loop_t *loop);      /* called on the loop's thread after cg_loop_wake */
    void (*on_iteration)(cg_loop_t *loop); /* after each batch of events, before sleeping */
    void *data;
};

int cg_loop_init(cg_loop_t *loop);
void cg_loop_destroy(cg_loop_t *loop);
/* Runs until cg_loop_stop. */
void cg_loop_run(cg_loop_t *loop);
/* Runs one iteration, waiting at most max_wait_ms (-1: until an event or timer). */
void cg_loop_run_once(cg_loop_t *loop, int max_wait_ms);
/* Thread-safe: asks the loop to stop / to call on_wake. */
void cg_loop_stop(cg_loop_t *loop);
void cg_loop_wake(cg_loop_t *loop);
void cg_loop_update_time(cg_loop_t *loop);
/* Replaces the loop's time source (NULL: back to the system clocks) and reads it at once, so a
 * test can move time by hand: timers fire when the clock it controls reaches them. epoll's wait
 * is still real time, so such a test runs iterations with max_wait_ms 0. */
void cg_loop_set_clock(cg_loop_t *loop, cg_loop_clock_fn fn, void *ctx);

/* Adds fd for edge-triggered read+write+hangup readiness. */
int cg_io_start(cg_loop_t *loop, cg_io_t *io, int fd, cg_io_cb cb);
/* Adds fd for level-triggered readiness of `events` only (listeners, eventfds). */
int cg_io_start_level(cg_loop_t *loop, cg_io_t *io, int fd, uint32_t events, cg_io_cb cb);
void cg_io_stop(cg_loop_t *loop, cg_io_t *io);

void cg_timer_start(cg_loop_t *loop, cg_timer_t *t, uint64_t after_ms, cg_timer_cb cb);
void cg_timer_stop(cg_loop_t *loop, cg_timer_t *t);
static inline int cg_timer_active(const cg_timer_t *t)
{
    return t->heap_idx != 0;
}

void cg_defer(cg_loop_t *loop, cg_defer_t *d, cg_defer_cb cb);
void cg_defer_cancel(cg_defer_t *d);

#endif
