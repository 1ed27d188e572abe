/* What the files of the request path share (proxy/conn.c: downstream connections and the
 * pumps; conn_up.c: upstream connections, pools and attempts; conn_reply.c: the answers the
 * gateway gives itself). Private to them: nothing else includes it.
 *
 * Calls across these files are once per request or rarer (an attempt starts, ends, fails), or
 * into cg_proxy__conn_run, which no caller ever inlined; the small helpers every request needs
 * are static inline here. */
#ifndef CG_PROXY_CONN_INT_H
#define CG_PROXY_CONN_INT_H

#include "core/buf.h"
#include "core/err.h"
#include "core/list.h"
#include "core/loop.h"
#include "core/transport.h"
#include "http/message.h"
#include "http/parser.h"
#include "lb/retry.h"
#include "proxy/accesslog.h"
#include "proxy/balancer.h"
#include "proxy/worker.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define READ_CHUNK    (16 * 1024)
#define FREE_LIST_MAX 1024

/* What a failed attempt answers, as Envoy words it. */
#define BODY_CONNECT_FAILURE                                                                       \
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
#define BODY_CONNECT_TERMINATION                                                                   \
    "upstream connect error or disconnect/reset before headers. reset reason: connection "         \
    "termination"

/* S_H2: the connection speaks HTTP/2 (proxy/h2.c); its requests are streams, each with a
 * pseudo-connection of its own that goes through the other states. */
enum { S_IDLE, S_HEAD, S_UPSTREAM, S_LOCAL, S_CLOSED, S_H2 };

typedef struct conn conn_t;
typedef struct h2conn h2conn_t;
typedef struct h2stream h2stream_t;

typedef struct up {
    cg_io_t io;    /* io.fd is xp.fd: both set by up_acquire, cleared by cg_proxy__up_free */
    cg_xport_t xp; /* every read and write goes through it */
    cg_xport_ready_t rdy;
    cg_worker_t *w;
    conn_t *conn; /* the request using it; NULL while pooled */
    cg_pool_bucket_t *bucket;
    cg_list_t link; /* bucket idle list or worker free list */
    cg_addr_t addr;
    cg_ep_stats_t *stats;
    cg_buf_t in;
    size_t parsed;
    cg_http_head_t head;
    cg_http_parser_t parser;
    cg_http_out_t out;
    /* the connect timeout, then the pooled idle timeout: armed once and left armed while the
     * connection serves requests; when it fires it measures from idle_ms (conn_up.c) */
    cg_timer_t timer;
    uint64_t idle_ms; /* when it last went back to the pool */
    cg_defer_t defer; /* the free, after the batch of events that closed it */
    uint8_t connected, eof, reused, got_bytes, head_done;
    uint8_t handshaking; /* the transport's handshake is not complete (never, for TCP) */
    uint8_t rdhup;       /* epoll saw the peer's FIN: read until EOF, short reads included */
    /* a HEAD, 204 or 304 answer whose head announced a body: an upstream that sends that
     * body anyway would answer the next request with it, so the connection is not pooled */
    uint8_t body_announced;
} up_t;

/* An exchange's phase: what it waits for now. Phases move forward, but for a retry, which goes
 * back to BACKOFF, BUDGET or CONNECT. The messages' own facts (req_done, resp_done) and the
 * attempt's (up, its connected and head_done) are kept beside it, not folded in. */
typedef enum x_phase {
    X_HEAD,       /* the request head is read and routed */
    X_BACKOFF,    /* the back-off before repeating an endpoint (try_timer) */
    X_BUDGET,     /* a retry waits for a slot of the retry budget (try_timer, a tick at a time) */
    X_CONNECT,    /* a new upstream connection: its connect and transport handshake */
    X_SEND,       /* the request head and body go upstream */
    X_AWAIT_HEAD, /* the request is sent: the response head is awaited (the per-try timeout) */
    X_STREAM,     /* the response head went to the client: its body streams */
    X_TUNNEL,     /* after the upstream's 101: bytes both ways, as they come */
    X_LOCAL,      /* the gateway's own answer goes out */
    X_DONE,
} x_phase_t;

/* One request's life on a downstream connection: its head and parser, its answer's output
 * queue, its route and attempts, retries and timers, and what its access-log line reports.
 * Taken from the worker's free list when a request's first byte arrives and given back when it
 * ends, so an idle keep-alive connection holds none (nor a read buffer: see buf_give). */
typedef struct exchange {
    cg_list_t link; /* the worker's free list */
    conn_t *c;
    /* kept across requests, each reset by its own means when the exchange is taken */
    cg_http_head_t head;
    cg_http_parser_t parser;
    cg_http_out_t out;
    /* route timeout, lazy: rq_due_ms is the request's deadline (0: none); the timer is left
     * armed when the request ends, and when it fires early it is armed again for what is left
     * (cg_proxy__rq_timeout), so that a request costs the timer heap nothing */
    cg_timer_t rq_timer;
    uint64_t rq_due_ms;
    cg_timer_t try_timer; /* per-try timeout, or the back-off before a repeat; likewise */
    /* from here to rid: zeroed for each request */
    size_t parsed; /* bytes of c->in parsed so far */
    size_t head_len;
    up_t *up;
    cg_cfg_hold_t *hold;
    const cg_route_t *route;
    const cg_endpoint_t *ep;
    cg_iov_t authority, path;
    uint8_t phase; /* x_phase_t */
    uint8_t req_done, resp_done, continue_sent, retried_fresh;
    uint8_t body_retained; /* every body byte so far is still in `in` (retry possible) */
    uint8_t retry_counted, backoff_done, dest_counted;
    /* X_BUDGET: the retry waits for a slot until retry_deadline_ms, then answers wait_status
     * (UO) */
    uint16_t wait_status;
    uint32_t wait_flag;
    const char *wait_body;
    uint64_t retry_deadline_ms;
    uint8_t ntried;
    uint8_t ws; /* a WebSocket handshake: Upgrade goes on, and it is never retried once sent */
    uint8_t tun_closed;                 /* the client ended its side of the tunnel */
    uint8_t tun_up_shut, tun_down_shut; /* that end passed on: the other's write side shut */
    size_t tun_queued; /* client bytes after the head in c->in, queued to the upstream */
    uint64_t tun_rx;   /* tunnel bytes from the client */
    int32_t wcluster;
    uint16_t hops;
    uint32_t tried[CG_MAX_TRIES];
    uint16_t status;
    uint32_t flags;
    uint64_t start_us, start_wall_us, up_start_us;
    int64_t upstream_ms;
    uint64_t resp_body_start; /* out total when the response body began */
    uint64_t bytes_sent;
    uint8_t rid_generated; /* rid holds the id made up for this request */
    char rid[40];          /* last: not cleared when the object is reused */
} exchange_t;

/* A downstream connection: its socket and transport, its read buffer, and the request in
 * progress (ex; NULL between requests). */
struct conn {
    cg_io_t io;    /* io.fd is xp.fd: both set at accept, cleared by cg_proxy__conn_close */
    cg_xport_t xp; /* every read and write goes through it */
    cg_xport_ready_t rdy;
    cg_worker_t *w;
    cg_list_t link;
    exchange_t *ex;
    cg_buf_t in;      /* off stays 0: the head is at in.base; no storage while idle */
    cg_timer_t timer; /* header read / keep-alive idle / request body */
    cg_defer_t defer;
    /* the TLS servers the connection was accepted with (its transport holds a reference, so
     * the pointer names them while it lives); NULL: plain text */
    const cg_tls_servers_t *tls_set;
    uint16_t port;
    uint8_t state;
    uint8_t handshaking; /* as for upstreams; the accept-time header timer bounds it */
    uint8_t peer_eof, close_after, closing;
    uint8_t rdhup; /* as for upstreams */
    /* HTTP/2: h2 on a connection that speaks it; on a stream's pseudo-connection, the stream
     * and the connection it came on (its transport, for TLS facts; NULL otherwise) */
    h2conn_t *h2;
    h2stream_t *h2s;
    conn_t *parent;
    uint8_t peer_ip_len;
    char peer_ip[48]; /* last: set at accept */
};

/* Has the client had a response head (the upstream's, a tunnel's 101, or our own)? After it, a
 * failure cannot be answered: the connection (or stream) is cut. */
static inline int resp_started(const exchange_t *x)
{
    return x->phase >= X_STREAM;
}

/* Set by the main thread on SIGTERM while the gateway drains. */
static inline int draining(const cg_worker_t *w)
{
    return __atomic_load_n(&w->draining, __ATOMIC_RELAXED);
}

static inline uint64_t rng_next(cg_worker_t *w)
{
    /* xorshift64*: request ids need uniqueness, not secrecy */
    uint64_t x = w->rng;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Puts a closed connection object on its free list (keeping its buffer's storage), or frees it
 * once the list holds FREE_LIST_MAX. */
static inline void pool_put(cg_list_t *free_list, uint64_t *nfree, cg_list_t *link, cg_buf_t *in,
                            void *obj)
{
    if (*nfree < FREE_LIST_MAX) {
        cg_buf_reset(in);
        cg_list_insert_head(free_list, link);
        (*nfree)++;
    } else {
        cg_buf_free(in);
        free(obj);
    }
}

/* pool_put's counterpart: takes an object of `size` bytes off its free list, or allocates one,
 * zeroed over its first `clear` bytes (all of a new one) with its buffer's storage kept. */
static inline void *pool_take(cg_list_t *free_list, uint64_t *nfree, size_t size, size_t link_off,
                              size_t in_off, size_t clear)
{
    if (cg_list_empty(free_list)) return cg_xcalloc(1, size);
    cg_list_t *link = free_list->next;
    cg_list_unlink(link);
    (*nfree)--;
    char *obj = (char *)link - link_off;
    cg_buf_t keep = *(cg_buf_t *)(obj + in_off);
    memset(obj, 0, clear);
    *(cg_buf_t *)(obj + in_off) = keep;
    return obj;
}
#define POOL_TAKE(free_list, nfree, type, clear)                                                   \
    ((type *)pool_take((free_list), (nfree), sizeof(type), offsetof(type, link),                   \
                       offsetof(type, in), (clear)))

/* Read buffers of READ_CHUNK bytes, the size an empty buffer grows to first: a connection takes
 * one when it has bytes to read and gives it back when it goes idle with none left, so idle
 * connections hold no buffer (as HAProxy's buffer pools). Larger ones (a big head, a body kept
 * for a retry) are freed rather than cached. */
#define BUF_POOL_MAX 1024
static inline void buf_give(cg_worker_t *w, cg_buf_t *b)
{
    if (!b->base) return;
    if (b->cap == READ_CHUNK && w->stats.pool_buffers < BUF_POOL_MAX) {
        memcpy(b->base, &w->free_bufs, sizeof(void *));
        w->free_bufs = b->base;
        w->stats.pool_buffers++;
    } else {
        free(b->base);
    }
    *b = (cg_buf_t){0};
}

static inline void buf_take(cg_worker_t *w, cg_buf_t *b)
{
    if (b->base || !w->free_bufs) return; /* has one, or cg_buf_reserve makes one */
    b->base = w->free_bufs;
    memcpy(&w->free_bufs, b->base, sizeof(void *));
    w->stats.pool_buffers--;
    b->off = b->len = 0;
    b->cap = READ_CHUNK;
}

/* The transport TLS facts come from: a stream's are its connection's. */
static inline cg_xport_t *conn_tls_xport(conn_t *c)
{
    return c->parent ? &c->parent->xp : &c->xp;
}

/* conn.c: the downstream side */
void cg_proxy__conn_run(conn_t *c);
void cg_proxy__conn_close(conn_t *c);
/* A request refused before its head was read whole (too large, malformed, too slow): counted
 * as a request and answered status, flagged DPE (SI for 408), and the connection closes. */
void cg_proxy__refuse_head(conn_t *c, int status, const char *reason);

/* h2.c: HTTP/2 connections and their streams */
/* The cleartext preface in c->in: 1 whole, CG_EAGAIN a prefix of it so far, 0 not it. */
int cg_proxy__h2_preface(const conn_t *c);
/* The connection speaks HTTP/2 from here on (ALPN h2, or the preface): 0, or CG_ENOMEM. */
int cg_proxy__h2_start(conn_t *c);
void cg_proxy__h2_run(conn_t *c);
/* A stream's request head, without a body, given to its new exchange without a second parse
 * (cg_h2req_given_head): its bytes in c->in, c->ex->head filled, the parser past the message.
 * 1, or 0 when it is not such a head (nothing changed: the read and parse path takes it). */
int cg_proxy__h2_take_head(conn_t *sc);
void cg_proxy__h2_close(conn_t *c);
/* Frees the worker's cached stream objects (at its end). */
void cg_proxy__h2_pool_sweep(cg_worker_t *w);
/* GOAWAY: no new streams; the connection ends once the open ones are done. */
void cg_proxy__h2_drain(conn_t *c);
/* A stream's pseudo-connection ran (its response may have bytes for the stream), or closed
 * (whole: its response was complete; otherwise the stream is reset). */
void cg_proxy__h2_stream_ran(conn_t *sc);
/* The client asked to be told to send its body (expect: 100-continue): an interim 100. */
void cg_proxy__h2_continue(conn_t *sc);
void cg_proxy__h2_stream_closed(conn_t *sc, int whole);
/* The response head of a stream, submitted as HTTP/2 fields: from the upstream's head (0, or
 * an error), or a local reply's (location: the parts of a redirect's Location, or none). */
int cg_proxy__h2_response_head(conn_t *sc, up_t *u);
void cg_proxy__h2_reply_head(conn_t *sc, int status, size_t content_length,
                             const char *content_type, const cg_iov_t *location, size_t nloc);

/* conn_reply.c */
void cg_proxy__local_reply(conn_t *c, int status, uint32_t flags, const char *body, int close);
void cg_proxy__redirect_reply(conn_t *c, const cg_snap_redirect_t *r);
/* Plaintext HTTP on a TLS port (the handshake said CG_EPARSE): nginx's cleartext 400, written
 * on the socket itself; the caller then closes. */
void cg_proxy__plaintext_reply(int fd);

/* conn_up.c: upstream connections and pools */
void cg_proxy__up_on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events);
void cg_proxy__up_free(up_t *u);
void cg_proxy__up_release(conn_t *c, int reusable);
/* conn_up.c: attempts, retries and the timeouts that end them */
void cg_proxy__start_attempt(conn_t *c);
void cg_proxy__attempt_end(conn_t *c, int reusable);
void cg_proxy__attempt_failed(conn_t *c, uint32_t what, uint32_t flag, int local_status,
                              const char *body);
/* May the request go again? CG_RETRY_NO (flags why), CG_RETRY_GO, or CG_RETRY_WAIT: the policy
 * allows it but the budget is spent for now (cg_proxy__retry_wait). */
enum { CG_RETRY_NO, CG_RETRY_GO, CG_RETRY_WAIT };
int cg_proxy__retry_allowed(conn_t *c, uint32_t what, int status);
void cg_proxy__retry_start(conn_t *c);
/* Waits for a slot of the retry budget (ticks of a few ms, up to the back-off cap), then
 * retries, or answers status with flag and UO. */
void cg_proxy__retry_wait(conn_t *c, int status, uint32_t flag, const char *body);
void cg_proxy__request_release(conn_t *c, int reusable);
void cg_proxy__rq_timeout(cg_loop_t *loop, cg_timer_t *t);
/* The route timeout ends: the request finished, or became a tunnel. */
static inline void rq_timer_end(exchange_t *x)
{
    x->rq_due_ms = 0;
}
void cg_proxy__body_timeout(cg_loop_t *loop, cg_timer_t *t);
void cg_proxy__try_timeout(cg_loop_t *loop, cg_timer_t *t);

/* The per-try timeout runs once the whole request is in (as Envoy's): time the client takes
 * to send its body is not the upstream's. */
static inline void start_try_timer(conn_t *c)
{
    exchange_t *x = c->ex;
    uint32_t ms = x->route->dest->policy->retry.per_try_timeout_ms;
    if (ms && x->req_done && x->phase != X_BACKOFF)
        cg_timer_start(&c->w->loop, &x->try_timer, ms, cg_proxy__try_timeout);
}

#endif
