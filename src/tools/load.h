/* The traffic engine of `crossgate load`, embeddable: a run on the caller's event loop that
 * reports each live interval and each 100 ms timeline window through callbacks. `crossgate
 * demo` drives its traffic with it; `crossgate load` is the same engine with flags and output. */
#ifndef CG_TOOLS_LOAD_H
#define CG_TOOLS_LOAD_H

#include "core/buf.h"
#include "core/loop.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cg_load cg_load_t;

typedef struct cg_load_opts {
    const char *url;         /* http://IP:PORT/path (an IP address or localhost) */
    const char *host;        /* Host header; NULL: the URL's host:port */
    double rate;             /* open loop at this many requests per second; 0: closed loop */
    uint32_t connections;    /* kept open from the start (0: 1) */
    uint32_t max_conns;      /* open loop: connection cap (0: max(connections, 512)) */
    uint64_t duration_us;    /* 0: 10 s; at most 24 h */
    uint64_t interval_us;    /* live interval (0: 1 s) */
    uint64_t timeout_us;     /* a connect or request older than this fails as "timeout" (0: 5 s) */
    uint64_t max_requests;   /* stop after this many requests (0: no limit) */
    int http2;               /* prior-knowledge h2c instead of HTTP/1.1 */
    uint32_t streams;        /* http2: requests in flight per connection (0: 1) */
    const char *resolve_via; /* "IP:PORT" of a DNS server for the URL's hostname; NULL: the
                                URL names an IP address */
} cg_load_opts_t;

/* The most streams per HTTP/2 connection (--streams), and in flight over all connections
 * (their slots are allocated at the start: 32 bytes each). */
#define CG_LOAD_MAX_STREAMS       1000
#define CG_LOAD_MAX_STREAMS_TOTAL 1000000

/* At most this many status codes and cluster names are listed per window (the rest are still
 * counted in requests and failed). */
#define CG_LOAD_WINDOW_MAX 16

/* What finished in one window: a live interval, a 100 ms timeline bucket, or the whole run. */
typedef struct cg_load_window {
    double t;                      /* end of the window, seconds since the start of the run */
    double secs;                   /* its length (the last window of a run cut short is partial) */
    uint64_t requests;             /* responses + socket-level failures */
    uint64_t failed;               /* status >= 500 + socket-level failures */
    uint64_t errors;               /* socket-level failures (status 0) */
    double p50_ms, p99_ms, max_ms; /* latency of the window's responses; -1 when none or for
                                      timeline buckets (not tracked per bucket) */
    unsigned nstatus, nclusters;
    struct {
        unsigned code; /* 0 = socket-level failure */
        uint64_t n;
    } status[CG_LOAD_WINDOW_MAX]; /* ascending */
    struct {
        const char *name; /* x-app-cluster value, "-" when absent; valid until cg_tools_load_free */
        uint64_t n;
    } cluster[CG_LOAD_WINDOW_MAX]; /* in name order */
} cg_load_window_t;

typedef struct cg_load_hooks {
    void (*on_interval)(void *data, const cg_load_window_t *w); /* every live interval */
    void (*on_bucket)(void *data, const cg_load_window_t *w);   /* every 100 ms window */
    void (*on_end)(void *data); /* the run reached its duration; called at the end of a loop
                                   iteration, so the callee may call cg_tools_load_stop */
    void (*on_note)(void *data, const char *line); /* --resolve-via: a new answer, a failure */
    void *data;
} cg_load_hooks_t;

/* A run, not started. Returns NULL with a one-line reason in err when the options are unusable
 * (a malformed URL, a Host that is not one token). hooks may be NULL. */
cg_load_t *cg_tools_load_new(const cg_load_opts_t *o, const cg_load_hooks_t *hooks, char *err,
                             size_t errcap);
/* Starts sending on loop (time zero is now). The loop must outlive the run. */
void cg_tools_load_start(cg_load_t *ld, cg_loop_t *loop);
/* Ends the run now (or confirms its end): the last windows are reported, connections closed.
 * Requests still in flight are not counted. Idempotent. */
void cg_tools_load_stop(cg_load_t *ld);
/* Monotonic microseconds (cg_clock_mono_us) of time zero; 0 before the start. */
uint64_t cg_tools_load_start_us(const cg_load_t *ld);
/* The whole run so far as one window (percentiles over every response). */
void cg_tools_load_totals(const cg_load_t *ld, cg_load_window_t *out);
/* The JSON report of docs/load.md, after the stop. */
void cg_tools_load_json(cg_load_t *ld, cg_buf_t *out);
void cg_tools_load_free(cg_load_t *ld);

#endif
