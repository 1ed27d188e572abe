/* Inside the engine of `crossgate load` (tools/load.h): the run and its connections. Shared by
 * load_run.c (the run: time, counting, the embedding API), load_client.c (the connections and
 * the open-loop pump) and load.c (the command line). Not for other tools. */
#ifndef CG_TOOLS_LOAD_ENGINE_H
#define CG_TOOLS_LOAD_ENGINE_H

#include "core/loop.h"
#include "core/sock.h"
#include "http/parser.h"
#include "tools/load.h"
#include "tools/load_dns.h"
#include "tools/load_report.h"
#include "tools/load_sched.h"
#include "tools/load_stats.h"

#include <stddef.h>
#include <stdint.h>

#define CG_LOAD_RBUF 16384 /* a connection's read buffer: a response head must fit */

enum {
    CG_LOAD_ST_CLOSED,
    CG_LOAD_ST_CONNECTING,
    CG_LOAD_ST_IDLE,
    CG_LOAD_ST_WRITING,
    CG_LOAD_ST_READING
};

/* One HTTP/2 stream slot of a connection (--http2): a request in flight. */
typedef struct cg_load_stream {
    uint64_t start_us; /* latency origin: submit time, or the scheduled time in open loop */
    uint64_t since_us; /* when it was submitted (for the timeout) */
    int32_t id;        /* 0: free */
    uint16_t status, cluster;
    uint8_t counted; /* its outcome is recorded (a response, or a timeout we reset) */
    uint8_t rst;     /* the server reset it */
} cg_load_stream_t;

/* One client connection; owned by the run's connection array, reused across reconnects. */
typedef struct cg_load_conn {
    cg_io_t io; /* io.fd = -1 when closed */
    cg_timer_t backoff;
    cg_load_t *ld;
    uint8_t state;
    uint8_t head_done;
    uint8_t in_idle; /* queued on the idle ring (may be stale: checked when popped) */
    uint8_t reaped;  /* closed, waiting for the end of the loop iteration */
    uint8_t pause;   /* closed loop: reconnect after a pause */
    uint8_t drain;   /* its address left the DNS answer: close after the current request */
    uint8_t goaway;  /* HTTP/2: the server sent GOAWAY; no new streams */
    uint16_t status, cluster;
    uint32_t idx;
    uint64_t start_us; /* latency origin: send time, or the scheduled time in open loop */
    uint64_t since_us; /* when the connect or the request began (for the timeout) */
    size_t wpos, rlen, parsed;
    cg_addr_t addr; /* where it is connected (--resolve-via: one of the answer's addresses) */
    /* HTTP/2 (load_h2.c): the session, its stream slots (ld->streams of them, owned by the
     * run), the frames not written yet (nghttp2's buffer, valid until the next send) */
    struct nghttp2_session *h2;
    cg_load_stream_t *st;
    uint32_t busy; /* streams in flight */
    const uint8_t *h2_out;
    size_t h2_out_len;
    uint64_t h2_read_us; /* when the server last sent anything */
    cg_http_parser_t parser;
    cg_http_head_t head;
    char rbuf[CG_LOAD_RBUF];
} cg_load_conn_t;

struct cg_load {
    /* options: from cg_tools_load_new or the command line */
    const char *url;
    char host[256];
    const char *host_hdr, *path;
    cg_addr_t addr;
    uint32_t conns, max_conns;
    uint32_t streams;   /* --http2: streams per connection; 0: HTTP/1.1 */
    cg_load_dns_t *dns; /* --resolve-via; NULL: ld->addr is the one address */
    int dns_started;    /* the first answer (or failure) came: connections began */
    double rate;        /* 0: closed loop */
    uint64_t duration_us, interval_us, timeout_us, max_requests;
    cg_load_hooks_t hooks;
    /* the request, the same bytes for every send */
    char *req;
    size_t req_len;
    /* connections (load_client.c) */
    cg_loop_t *loop;
    cg_load_conn_t *c;
    uint32_t nslots, nopen, nconnecting;
    uint32_t *idle, idle_head, idle_len; /* ring of connected idle connections (open loop) */
    uint32_t *free_slots, nfree;         /* never-used or reaped slots (open loop) */
    uint32_t *reaped, nreaped;
    cg_defer_t reap_defer;
    cg_http_out_t sink;            /* body bytes are parsed and dropped */
    cg_load_stream_t *streams_mem; /* --http2: nslots * streams slots */
    int tfd;                       /* open loop: the schedule's timer, microsecond precision */
    cg_io_t tio;
    uint64_t tfd_armed_us;
    /* schedule and progress (load_run.c) */
    uint64_t start_us, deadline_us, end_us;
    cg_load_sched_t sched; /* open loop */
    uint64_t issued;       /* requests counted against -n (sent, or failed to connect) */
    uint64_t inflight, late, connects;
    int stopped, finished;
    cg_timer_t tick, deadline;
    cg_defer_t end_defer;
    /* results */
    cg_load_stats_t st;
    uint64_t ival_start, ival_end, bucket_end, next_edge;
};

/* ---- load_run.c ---- */

/* Time zero of the run: the schedule, the intervals and the timeline count from here. */
void cg_load__start_clock(cg_load_t *ld, uint64_t start);
/* One finished request at `now`: a response (err < 0) or a socket-level failure (status 0,
 * err a CG_LOAD_E_* kind). Closes the windows that ended before it. */
void cg_load__record(cg_load_t *ld, uint64_t now, unsigned status, unsigned cluster,
                     uint64_t lat_us, int err);
/* Ends the run when every request it may send is answered. */
void cg_load__check_done(cg_load_t *ld, uint64_t now);
/* Whether the closed loop may send another request at `now`. */
int cg_load__can_issue(const cg_load_t *ld, uint64_t now);
/* Closes the last buckets and the last (possibly short) interval at ld->end_us. */
void cg_load__finish(cg_load_t *ld);
/* The run as the reports describe it. */
void cg_load__run_info(const cg_load_t *ld, cg_load_run_info_t *out);
/* No control bytes or spaces (allow_space: spaces allowed): safe in a request head. */
int cg_load__valid_token(const char *s, int allow_space);

/* ---- load_client.c ---- */

/* The connection slots (all closed) and the request bytes, for the options set. */
void cg_load__conns_init(cg_load_t *ld);
/* Closes every connection and the schedule's timer. */
void cg_load__conns_close(cg_load_t *ld);
void cg_load__conns_free(cg_load_t *ld);
/* The first connections (and in open loop the schedule's timer) at time zero; with
 * --resolve-via, after the first DNS answer (or failure): cg_load__conns_begin. */
void cg_load__conns_start(cg_load_t *ld);
void cg_load__conns_begin(cg_load_t *ld);
/* A request or connect failed with kind (CG_LOAD_E_*): counted, the connection closed. */
void cg_load__conn_fail(cg_load_t *ld, cg_load_conn_t *c, int kind);
/* Closes c (its requests are not counted here; see cg_load__conn_fail). */
void cg_load__conn_close(cg_load_t *ld, cg_load_conn_t *c);
/* c can take more requests (HTTP/2: a stream finished): sends them (closed loop) or offers c to
 * the open-loop pump; closes it when it is draining or the server sent GOAWAY and nothing is in
 * flight. */
void cg_load__conn_more(cg_load_t *ld, cg_load_conn_t *c, uint64_t now);
/* Parses what is in c->rbuf. Returns 0 when the response is complete (c->status and
 * c->cluster set, c->parsed just past it), CG_EAGAIN for more input, CG_EPARSE. */
int cg_load__conn_parse(cg_load_t *ld, cg_load_conn_t *c);

/* ---- load_h2.c: --http2, prior-knowledge h2c on the connection ---- */

/* The session on a connected c: the preface and SETTINGS are queued. Returns 0 or CG_ENOMEM. */
int cg_load__h2_open(cg_load_t *ld, cg_load_conn_t *c);
/* Whether c may take another stream now. */
int cg_load__h2_has_room(const cg_load_t *ld, const cg_load_conn_t *c);
/* Submits one request on c (a free stream slot is there: cg_load__h2_has_room). */
void cg_load__h2_send(cg_load_t *ld, cg_load_conn_t *c, uint64_t start_us, uint64_t now);
/* Writes the frames nghttp2 has queued on c (after cg_load__h2_send); a write error fails c. */
void cg_load__h2_flush(cg_load_t *ld, cg_load_conn_t *c);
/* Socket events on a connected c. */
void cg_load__h2_io(cg_load_t *ld, cg_load_conn_t *c, uint32_t events);
/* Fails the streams of c older than the timeout at `now`. */
void cg_load__h2_tick(cg_load_t *ld, cg_load_conn_t *c, uint64_t now);
/* Counts every stream still in flight on c as a failure of kind; frees the session. */
void cg_load__h2_fail_all(cg_load_t *ld, cg_load_conn_t *c, int kind, uint64_t now);
/* Frees the session of a closing c (its streams were counted). */
void cg_load__h2_free(cg_load_conn_t *c);
/* The failure kind of a stream closed before its response was complete: reset by the server
 * (rst, error_code its code), refused after a GOAWAY, or anything else the session saw wrong. */
int cg_load__h2_close_kind(int rst, uint32_t error_code, int goaway);

#endif
