/* Worker threads and the published config they pick up between events. */
#include "proxy/worker.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

/* Published by the main thread under `pub_lock`; workers poll `pub_version` without it. */
static pthread_mutex_t pub_lock = PTHREAD_MUTEX_INITIALIZER;
static cg_config_t *pub_cfg;
static uint64_t pub_version;
static uint16_t pub_ports[CG_MAX_LISTENERS];
static int pub_fds[CG_MAX_LISTENERS][CG_MAX_WORKERS];
static size_t pub_nports;

void cg_proxy_publish(cg_config_t *cfg, int fds[][CG_MAX_WORKERS], const uint16_t *ports,
                      size_t nports)
{
    pthread_mutex_lock(&pub_lock);
    cg_config_t *old = pub_cfg;
    pub_cfg = cfg;
    pub_nports = nports;
    for (size_t i = 0; i < nports; i++) {
        pub_ports[i] = ports[i];
        memcpy(pub_fds[i], fds[i], sizeof(pub_fds[i]));
    }
    __atomic_add_fetch(&pub_version, 1, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&pub_lock);
    cg_proxy_config_unref(old);
}

uint64_t cg_proxy_published_version(void)
{
    return __atomic_load_n(&pub_version, __ATOMIC_ACQUIRE);
}

cg_config_t *cg_proxy_current_config(void)
{
    pthread_mutex_lock(&pub_lock);
    cg_config_t *c = pub_cfg;
    if (c) cg_proxy_config_ref(c);
    pthread_mutex_unlock(&pub_lock);
    return c;
}

static void switch_listeners(cg_worker_t *w, const uint16_t *ports, int fds[][CG_MAX_WORKERS],
                             size_t n)
{
    /* drop listeners whose port is gone (this worker owns its socket) */
    for (size_t i = 0; i < w->nlisteners;) {
        int keep = 0;
        for (size_t j = 0; j < n; j++)
            if (ports[j] == w->listeners[i].port && fds[j][w->id] == w->listeners[i].fd) keep = 1;
        if (keep) {
            i++;
            continue;
        }
        cg_io_stop(&w->loop, &w->listeners[i].io);
        close(w->listeners[i].fd);
        w->listeners[i] = w->listeners[--w->nlisteners];
        for (size_t k = 0; k < w->nlisteners; k++) w->listeners[k].io.cb = cg_proxy__accept;
    }
    /* the moved entries' io pointers changed: re-register all */
    for (size_t i = 0; i < w->nlisteners; i++) {
        cg_io_stop(&w->loop, &w->listeners[i].io);
        cg_io_start_level(&w->loop, &w->listeners[i].io, w->listeners[i].fd, EPOLLIN,
                          cg_proxy__accept);
    }
    for (size_t j = 0; j < n; j++) {
        int have = 0;
        for (size_t i = 0; i < w->nlisteners; i++)
            if (w->listeners[i].port == ports[j] && w->listeners[i].fd == fds[j][w->id]) have = 1;
        if (have || w->nlisteners == CG_MAX_LISTENERS) continue;
        cg_wlistener_t *l = &w->listeners[w->nlisteners++];
        l->w = w;
        l->port = ports[j];
        l->fd = fds[j][w->id];
        cg_io_start_level(&w->loop, &l->io, l->fd, EPOLLIN, cg_proxy__accept);
    }
}

static void pick_up_config(cg_worker_t *w)
{
    uint64_t v = cg_proxy_published_version();
    if (v == w->cfg_version) return;
    uint16_t ports[CG_MAX_LISTENERS];
    static __thread int fds[CG_MAX_LISTENERS][CG_MAX_WORKERS];
    pthread_mutex_lock(&pub_lock);
    cg_config_t *cfg = pub_cfg;
    if (cfg) cg_proxy_config_ref(cfg);
    size_t n = pub_nports;
    memcpy(ports, pub_ports, sizeof(ports));
    memcpy(fds, pub_fds, sizeof(fds));
    v = pub_version;
    pthread_mutex_unlock(&pub_lock);
    w->cfg_version = v;
    if (!cfg) return;
    cg_cfg_hold_t *h = cg_xcalloc(1, sizeof(*h));
    h->cfg = cfg;
    cg_list_init(&h->link);
    cg_cfg_hold_t *old = w->cur;
    w->cur = h;
    if (old) {
        if (old->users == 0) {
            cg_proxy_config_unref(old->cfg);
            free(old);
        } else {
            cg_list_insert_tail(&w->old_holds, &old->link); /* freed by its last request */
        }
    }
    switch_listeners(w, ports, fds, n);
}

void cg_proxy__log_flush(cg_worker_t *w)
{
    int fd = w->settings->access_log_fd;
    if (fd < 0) {
        cg_buf_reset(&w->log);
        return;
    }
    /* the fd is non-blocking: a slow reader (a pipe, a terminal) costs log lines, never the
     * worker's time; what it cannot take now stays queued, within CG_ACCESS_LOG_MAX_PENDING */
    while (cg_buf_size(&w->log)) {
        ssize_t n = write(fd, cg_buf_data(&w->log), cg_buf_size(&w->log));
        if (n > 0) {
            cg_buf_consume(&w->log, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) break;
        /* a broken log (EPIPE, ENOSPC): drop what is queued rather than retry for ever */
        w->stats.log_dropped_bytes += cg_buf_size(&w->log);
        cg_buf_reset(&w->log);
        break;
    }
    if (!cg_buf_size(&w->log))
        w->log.off = w->log.len = 0;
    else if (w->log.off > w->log.cap / 2)
        cg_buf_compact(&w->log);
}

static void on_log_timer(cg_loop_t *loop, cg_timer_t *t)
{
    cg_proxy__log_flush(cg_container_of(t, cg_worker_t, log_timer));
}

/* After each loop turn: lines wait for the buffer to fill (finish_request writes it at
 * CG_ACCESS_LOG_FLUSH_AT) or for the timer, so a busy worker writes its log in large writes. */
static void flush_log(cg_worker_t *w)
{
    if (cg_buf_size(&w->log) && !w->log_timer.heap_idx)
        cg_timer_start(&w->loop, &w->log_timer, CG_ACCESS_LOG_FLUSH_MS, on_log_timer);
}

static void on_iteration(cg_loop_t *loop)
{
    cg_worker_t *w = loop->data;
    pick_up_config(w);
    flush_log(w);
    if (__builtin_expect(__atomic_load_n(&w->draining, __ATOMIC_RELAXED), 0) && !w->drain_seen) {
        w->drain_seen = 1;
        cg_proxy__drain(w); /* HTTP/2 connections get GOAWAY now, not at their next request */
    }
}

static void on_wake(cg_loop_t *loop)
{
    pick_up_config(loop->data);
}

static void *worker_main(void *arg)
{
    cg_worker_t *w = arg;
    sigset_t set;
    sigfillset(&set);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pick_up_config(w);
    cg_loop_run(&w->loop);
    cg_proxy__close_all(w);
    cg_loop_run_once(&w->loop, 0); /* run deferred frees */
    cg_timer_stop(&w->loop, &w->log_timer);
    cg_proxy__log_flush(w); /* what is left, before the worker goes */
    return NULL;
}

int cg_proxy_worker_start(cg_worker_t *w, int id, const cg_proxy_settings_t *s)
{
    memset(w, 0, sizeof(*w));
    int r = cg_loop_init(&w->loop);
    if (r) return r;
    w->id = id;
    w->settings = s;
    w->loop.data = w;
    w->loop.on_iteration = on_iteration;
    w->loop.on_wake = on_wake;
    cg_list_init(&w->conns);
    cg_list_init(&w->free_conns);
    cg_list_init(&w->free_ups);
    cg_list_init(&w->free_exchanges);
    cg_list_init(&w->free_h2streams);
    cg_list_init(&w->old_holds);
    if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng) || !w->rng)
        w->rng = cg_clock_mono_us() | 1;
    if (pthread_create(&w->thread, NULL, worker_main, w)) return CG_ESYS;
    return 0;
}

void cg_proxy_worker_notify(cg_worker_t *w)
{
    cg_loop_wake(&w->loop);
}

void cg_proxy_worker_stop(cg_worker_t *w)
{
    cg_loop_stop(&w->loop);
    pthread_join(w->thread, NULL);
    for (size_t i = 0; i < w->nlisteners; i++) close(w->listeners[i].fd);
    cg_proxy__pools_sweep(w);
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &w->old_holds)
    {
        cg_cfg_hold_t *h = cg_container_of(pos, cg_cfg_hold_t, link);
        cg_proxy_config_unref(h->cfg);
        free(h);
    }
    if (w->cur) {
        cg_proxy_config_unref(w->cur->cfg);
        free(w->cur);
    }
    cg_buf_free(&w->log);
    cg_loop_destroy(&w->loop);
}
