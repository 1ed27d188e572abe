/* Worker threads: each owns an event loop, one SO_REUSEPORT socket per listener port, its
 * upstream connection pools, its access-log buffer and its counters. */
#ifndef CG_PROXY_WORKER_H
#define CG_PROXY_WORKER_H

#include "core/buf.h"
#include "core/list.h"
#include "core/loop.h"
#include "proxy/config.h"
#include "proxy/tlsconf.h"

#include <pthread.h>
#include <stdint.h>

#define CG_MAX_WORKERS   64
#define CG_MAX_LISTENERS 64

typedef struct cg_worker cg_worker_t;

/* A config as one worker holds it: counts the worker's requests still using it. */
typedef struct cg_cfg_hold {
    cg_config_t *cfg;
    uint32_t users;
    cg_list_t link;
} cg_cfg_hold_t;

typedef struct cg_wlistener {
    cg_io_t io;
    cg_worker_t *w;
    uint16_t port;
    int fd;
} cg_wlistener_t;

/* Per-worker counters: written by the worker only, read by admin with relaxed loads. */
typedef struct cg_worker_stats {
    uint64_t cx_total, cx_active;
    uint64_t rq_total, rq_active, rq_retry;
    uint64_t rq_class[6]; /* index 1..5: 1xx..5xx */
    uint64_t up_cx_total, up_cx_active, up_cx_reused, up_cx_connect_fail;
    uint64_t pool_conns, pool_upstreams;   /* objects cached in free lists */
    uint64_t pool_exchanges, pool_buffers; /* request objects and read buffers cached */
    uint64_t pool_h2streams;               /* HTTP/2 stream objects cached */
    uint64_t accept_paused;                /* times accepting paused (fds or max connections) */
    uint64_t rq_local_exhausted;           /* requests answered 503 OM: no fd for an upstream */
    uint64_t rq_client_timeout;            /* requests ended 408 waiting on the client */
    uint64_t log_dropped_bytes;            /* access-log bytes dropped: the log could not keep up */
    uint64_t upgrades_total, upgrades_active; /* WebSocket tunnels (after the upstream's 101) */
    uint64_t tls_handshakes, tls_resumed;     /* downstream handshakes completed; of them resumed */
    uint64_t tls_fail[CG_PROXY_TLS_NREASONS]; /* failed, by cg_tls_failure_reason */
    uint64_t h2_total, h2_active, h2_streams_total; /* HTTP/2 connections; their streams */
    uint64_t h2_goaway;    /* connections sent GOAWAY NO_ERROR: draining, or idle */
    uint64_t h2_calm;      /* connections sent GOAWAY ENHANCE_YOUR_CALM (a flood, a reset storm) */
    uint64_t h2_malformed; /* streams reset as malformed, and connection errors */
    uint64_t h2_stalled;   /* connections and streams ended as nothing moved (a shut window) */
} cg_worker_stats_t;

typedef struct cg_pool_bucket {
    uint64_t hash; /* of addr and xopen: its slot in the worker's table */
    cg_addr_t addr;
    cg_xport_opener_t xopen; /* a pooled connection is reused only over the same transport */
    cg_list_t idle;
    uint32_t nidle;
} cg_pool_bucket_t;

typedef struct cg_proxy_settings {
    uint32_t header_timeout_ms; /* 10 s: 408 */
    uint32_t body_timeout_ms;   /* 30 s without a request body byte while one is due: 408 */
    uint32_t idle_timeout_ms;   /* 60 s between requests */
    uint32_t upstream_idle_ms;  /* 30 s pooled */
    uint32_t max_conns;         /* per worker */
    uint32_t max_idle_per_ep;   /* pooled connections per endpoint per worker */
    int access_log_fd;          /* -1: off */
    uint8_t access_log_tls;     /* lines end with the TLS version and SNI (--access-log-tls) */
    /* HTTP/2 (proxy/h2.c): streams at once per connection (100), the header list in decoded
     * bytes (64 KiB), client stream resets a second (100) and frames a second that carry no
     * request, PING, SETTINGS, PRIORITY, empty DATA (1000); past either rate, GOAWAY */
    uint32_t h2_max_streams, h2_max_header_list, h2_max_resets, h2_max_glitches;
} cg_proxy_settings_t;

struct cg_worker {
    cg_loop_t loop;
    int id;
    pthread_t thread;
    const cg_proxy_settings_t *settings;
    uint64_t cfg_version;
    cg_cfg_hold_t *cur; /* config new requests use */
    cg_list_t old_holds;
    cg_wlistener_t listeners[CG_MAX_LISTENERS];
    size_t nlisteners;
    cg_list_t conns; /* all downstream connections */
    cg_list_t free_conns, free_ups, free_exchanges;
    cg_list_t free_h2streams; /* HTTP/2 stream objects, for reuse by any connection */
    void *free_bufs; /* read buffers of idle connections, chained through their first bytes */
    CG_VEC(cg_pool_bucket_t *) buckets;
    cg_pool_bucket_t **bucket_slots; /* the same buckets by (address, transport): open addressing */
    size_t bucket_cap;               /* slots; at most half used */
    cg_buf_t log;                    /* access-log lines awaiting write */
    cg_timer_t log_timer; /* writes them at most CG_ACCESS_LOG_FLUSH_MS after the first */
    /* accepting pauses when fds or max_conns run out, and resumes on its own */
    cg_timer_t accept_timer;
    uint8_t accept_paused;
    uint64_t accept_log_ms;     /* last "accept paused" log line: at most one a second */
    uint64_t accept_suppressed; /* pauses not logged since */
    uint64_t rng;
    int draining;       /* written by the main thread (atomic), read by the worker */
    uint8_t drain_seen; /* the worker acted on it */
    cg_worker_stats_t stats;
};

/* Process-wide: the config in force, published by the main thread. */
void cg_proxy_publish(cg_config_t *cfg, int listener_fds[][CG_MAX_WORKERS], const uint16_t *ports,
                      size_t nports);
uint64_t cg_proxy_published_version(void);
/* Returns a new reference to the published config (or NULL). */
cg_config_t *cg_proxy_current_config(void);

int cg_proxy_worker_start(cg_worker_t *w, int id, const cg_proxy_settings_t *s);
void cg_proxy_worker_stop(cg_worker_t *w);
/* Called by the main thread after publish. */
void cg_proxy_worker_notify(cg_worker_t *w);

/* Implemented in conn.c */
void cg_proxy__accept(cg_loop_t *loop, cg_io_t *io, uint32_t events);
void cg_proxy__close_all(cg_worker_t *w);
/* Draining began: connections that can be told so (HTTP/2's GOAWAY) are. */
void cg_proxy__drain(cg_worker_t *w);
void cg_proxy__pools_sweep(cg_worker_t *w);

/* Access-log lines a worker keeps queued while its log cannot keep up; past that, new lines are
 * dropped (counted in crossgate_access_log_dropped_bytes_total). */
#define CG_ACCESS_LOG_MAX_PENDING (1024 * 1024)
#define CG_ACCESS_LOG_FLUSH_AT    (64 * 1024)
/* ... or this long after the first line queued (Envoy flushes its file logs every second):
 * one write for many lines, not one per loop turn. */
#define CG_ACCESS_LOG_FLUSH_MS 100
/* Writes queued access-log lines without blocking (worker.c). */
void cg_proxy__log_flush(cg_worker_t *w);

#endif
