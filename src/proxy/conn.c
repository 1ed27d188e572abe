/* The request path: downstream connections, upstream connections and pools, and the pumps
 * that move heads and bodies between them with backpressure.
 *
 * Buffers. A downstream connection reads into `in`; the request head stays at its front for
 * the whole request (routing, logging and forwarding slice it), body bytes follow it and are
 * released once written upstream. Upstream responses are read into the upstream's `in` and
 * released once written downstream. Nothing is read while the bytes queued from a buffer are
 * not yet written: that is the backpressure, and it bounds memory per connection.
 *
 * Events are edge-triggered: each side remembers `readable`/`writable` until a read or write
 * says EAGAIN, and conn_run() makes every progress it can on both sides of one request. */
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/sock.h"
#include "http/forward.h"
#include "http/parser.h"
#include "lb/health.h"
#include "lb/retry.h"
#include "proxy/accesslog.h"
#include "proxy/balancer.h"
#include "proxy/router.h"
#include "proxy/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK (16 * 1024)
/* Loop guard: a request that crossed this many gateways is in a loop. */
#define CG_MAX_HOPS 8
#define FREE_LIST_MAX 1024

enum { S_IDLE, S_HEAD, S_UPSTREAM, S_LOCAL, S_CLOSED };

typedef struct conn conn_t;

typedef struct up {
    cg_io_t io;
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
    cg_timer_t timer;
    cg_defer_t defer; /* the free, after the batch of events that closed it */
    uint8_t connected, readable, writable, eof, reused, got_bytes, head_done;
    uint8_t rdhup; /* epoll saw the peer's FIN: read until EOF, short reads included */
    /* a HEAD, 204 or 304 answer whose head announced a body: an upstream that sends that
     * body anyway would answer the next request with it, so the connection is not pooled */
    uint8_t body_announced;
} up_t;

struct conn {
    cg_io_t io;
    cg_worker_t *w;
    cg_list_t link;
    uint16_t port;
    char peer_ip[48];
    uint8_t peer_ip_len;
    cg_buf_t in;   /* off stays 0: the head is at in.base */
    size_t parsed; /* bytes of in parsed so far */
    size_t head_len;
    cg_http_head_t head;
    cg_http_parser_t parser;
    cg_http_out_t out;
    cg_timer_t timer;    /* header read / keep-alive idle */
    cg_timer_t rq_timer; /* route timeout */
    cg_timer_t try_timer; /* per-try timeout, or the back-off before a repeat */
    cg_defer_t defer;
    up_t *up;
    cg_cfg_hold_t *hold;
    const cg_route_t *route;
    const cg_endpoint_t *ep;
    cg_iov_t authority, path;
    uint8_t state;
    uint8_t readable, writable, peer_eof, close_after;
    uint8_t rdhup; /* as for upstreams */
    uint8_t req_done, resp_done, resp_started, continue_sent, retried_fresh, closing;
    uint8_t body_retained; /* every body byte so far is still in `in` (retry possible) */
    uint8_t retry_counted, backoff_wait, backoff_done, dest_counted;
    uint8_t ntried;
    int8_t wcluster;
    uint16_t hops;
    uint16_t tried[CG_MAX_TRIES];
    uint16_t status;
    uint32_t flags;
    uint64_t start_us, start_wall_us, up_start_us;
    int64_t upstream_ms;
    uint64_t resp_body_start; /* out total when the response body began */
    uint64_t bytes_sent;
    char rid[40];
    uint8_t rid_generated;
};

static void conn_run(conn_t *c);
static void conn_close(conn_t *c);
static void finish_request(conn_t *c);
static void header_timeout(cg_loop_t *loop, cg_timer_t *t);
static void idle_timeout(cg_loop_t *loop, cg_timer_t *t);
static void up_release(conn_t *c, int reusable);
static void accept_resume(cg_loop_t *loop, cg_timer_t *t);
static void try_timeout(cg_loop_t *loop, cg_timer_t *t);

enum { PAUSE_NONE, PAUSE_FDS, PAUSE_MAX_CONNS }; /* why accepting is paused */

/* ---------- small helpers ---------- */

/* Set by the main thread on SIGTERM while the gateway drains. */
static inline int draining(const cg_worker_t *w)
{
    return __atomic_load_n(&w->draining, __ATOMIC_RELAXED);
}

static uint64_t rng_next(cg_worker_t *w)
{
    /* xorshift64*: request ids need uniqueness, not secrecy */
    uint64_t x = w->rng;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    w->rng = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void make_request_id(cg_worker_t *w, char *out)
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = rng_next(w), b = rng_next(w);
    unsigned char bytes[16];
    memcpy(bytes, &a, 8);
    memcpy(bytes + 8, &b, 8);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hex[bytes[i] >> 4];
        *p++ = hex[bytes[i] & 15];
    }
    *p = '\0';
}

/* Reads into b (growing it to keep at least READ_CHUNK free, within limit). Returns bytes read,
 * 0 on EOF, CG_EAGAIN, CG_ELIMIT when the buffer is at its limit, or an error.
 * A read that leaves room in the buffer drained the socket, so *readable is cleared then: that
 * saves the read that would only say EAGAIN, and new data brings a new edge. Not when epoll
 * already reported the peer's FIN (rdhup): it came with the same edge as the data and no new
 * edge would announce it. */
static ssize_t read_into(int fd, cg_buf_t *b, size_t limit, uint8_t *readable, int rdhup)
{
    if (b->len >= limit) return CG_ELIMIT;
    size_t want = READ_CHUNK;
    if (b->cap - b->len < want && cg_buf_reserve(b, want)) return CG_ENOMEM;
    size_t room = b->cap - b->len;
    if (room > limit - b->len) room = limit - b->len;
    for (;;) {
        ssize_t n = read(fd, b->base + b->len, room);
        if (n > 0) {
            b->len += (size_t)n;
            if ((size_t)n < room && !rdhup) *readable = 0;
            return n;
        }
        if (n == 0) return 0;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) return CG_EAGAIN;
        return cg_err_from_errno(errno);
    }
}

/* Drops [from, to) of a buffer whose data starts at base (off == 0), keeping what follows. */
static void buf_cut(cg_buf_t *b, size_t from, size_t to)
{
    if (to < b->len) memmove(b->base + from, b->base + to, b->len - to);
    b->len -= to - from;
}

/* ---------- config holds ---------- */

static void hold_release(cg_worker_t *w, cg_cfg_hold_t *h)
{
    if (--h->users == 0 && h != w->cur) {
        cg_list_unlink(&h->link);
        cg_proxy_config_unref(h->cfg);
        free(h);
    }
}

/* ---------- local replies ---------- */

static void local_reply(conn_t *c, int status, uint32_t flags, const char *body, int close)
{
    cg_http_out_t *o = &c->out;
    cg_http_out_reset(o);
    size_t blen = body ? strlen(body) : 0;
    c->status = (uint16_t)status;
    c->flags |= flags;
    if (close || !(c->head.flags & CG_HTTP_F_KEEPALIVE) || draining(c->w)) c->close_after = 1;
    cg_http_out_printf(o,
                       "HTTP/1.1 %d %s\r\ncontent-length: %zu\r\ncontent-type: text/plain\r\n%s\r\n",
                       status, cg_http_status_reason(status), blen,
                       c->close_after ? "connection: close\r\n" : "");
    c->resp_body_start = o->total;
    if (blen) cg_http_out_push(o, body, blen); /* body is static or lives in the config */
    c->resp_started = 1;
    c->resp_done = 1;
    /* a request body we did not read leaves the connection unsynchronised */
    if (!c->req_done) c->close_after = 1;
    c->state = S_LOCAL;
}

static void redirect_reply(conn_t *c, const cg_snap_redirect_t *r)
{
    cg_http_out_t *o = &c->out;
    cg_http_out_reset(o);
    c->status = r->redirect_code ? (int)r->redirect_code : 301;
    if (!(c->head.flags & CG_HTTP_F_KEEPALIVE) || !c->req_done || draining(c->w)) c->close_after = 1;
    cg_iov_t host = c->authority;
    cg_iov_t hostonly = cg_proxy_host_strip_port(host);
    cg_iov_t port = CG_IOV_NULL;
    if (hostonly.len < host.len) port = cg_iov(host.base + hostonly.len + 1, host.len - hostonly.len - 1);
    cg_http_out_printf(o, "HTTP/1.1 %d %s\r\nlocation: %s://", c->status,
                       cg_http_status_reason(c->status), r->scheme ? r->scheme : "http");
    if (r->authority) cg_http_out_push(o, r->authority, strlen(r->authority));
    else cg_http_out_push(o, hostonly.base, hostonly.len);
    if (r->port) cg_http_out_printf(o, ":%u", (unsigned)r->port);
    else if (!r->authority && port.len) cg_http_out_printf(o, ":%.*s", (int)port.len, port.base);
    if (r->uri) cg_http_out_push(o, r->uri, strlen(r->uri));
    else cg_http_out_push(o, c->path.base, c->path.len);
    cg_http_out_printf(o, "\r\ncontent-length: 0\r\n%s\r\n", c->close_after ? "connection: close\r\n" : "");
    c->resp_body_start = o->total;
    c->resp_started = c->resp_done = 1;
    c->state = S_LOCAL;
}

/* ---------- upstream connections ---------- */

static void up_on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events);

/* Puts a closed connection object on its free list (keeping its buffer's storage), or frees it
 * once the list holds FREE_LIST_MAX. */
static void pool_put(cg_list_t *free_list, uint64_t *nfree, cg_list_t *link, cg_buf_t *in, void *obj)
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

static void up_recycle(cg_loop_t *loop, cg_defer_t *d)
{
    up_t *u = cg_container_of(d, up_t, defer);
    pool_put(&u->w->free_ups, &u->w->stats.pool_upstreams, &u->link, &u->in, u);
}

/* Closes an upstream connection. Its memory is reused or freed only after the current batch
 * of events: a later event of the batch may still name it (cg_io_stop cleared its callback,
 * so the loop skips that event), and it must not be handed to another request before then. */
static void up_free(up_t *u)
{
    cg_worker_t *w = u->w;
    if (u->io.fd >= 0) {
        cg_io_stop(&w->loop, &u->io);
        close(u->io.fd);
        u->io.fd = -1;
        w->stats.up_cx_active--;
    }
    cg_timer_stop(&w->loop, &u->timer);
    if (cg_list_linked(&u->link)) {
        cg_list_unlink(&u->link);
        if (u->bucket) u->bucket->nidle--;
    }
    u->conn = NULL;
    u->bucket = NULL;
    cg_defer(&w->loop, &u->defer, up_recycle);
}

static cg_pool_bucket_t *bucket_for(cg_worker_t *w, const cg_addr_t *a)
{
    for (size_t i = 0; i < w->buckets.len; i++)
        if (cg_addr_eq(&w->buckets.items[i]->addr, a)) return w->buckets.items[i];
    cg_pool_bucket_t *b = cg_xcalloc(1, sizeof(*b));
    b->addr = *a;
    cg_list_init(&b->idle);
    cg_vec_push(&w->buckets, b);
    return b;
}

static void up_idle_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    up_free(cg_container_of(t, up_t, timer));
}

static void up_connect_timeout(cg_loop_t *loop, cg_timer_t *t);

static up_t *up_alloc(cg_worker_t *w)
{
    up_t *u;
    if (!cg_list_empty(&w->free_ups)) {
        u = cg_container_of(w->free_ups.next, up_t, link);
        cg_list_unlink(&u->link);
        w->stats.pool_upstreams--;
        cg_buf_t keep = u->in;
        memset(u, 0, sizeof(*u));
        u->in = keep;
    } else {
        u = cg_xcalloc(1, sizeof(*u));
    }
    cg_list_init(&u->link);
    cg_list_init(&u->defer.link);
    u->w = w;
    u->io.fd = -1;
    return u;
}

/* Takes a pooled connection to the endpoint, or starts a new one. */
static up_t *up_acquire(conn_t *c, const cg_endpoint_t *ep, int fresh, int *err)
{
    cg_worker_t *w = c->w;
    cg_pool_bucket_t *b = bucket_for(w, &ep->addr);
    up_t *u;
    if (!fresh && !cg_list_empty(&b->idle)) {
        u = cg_container_of(b->idle.next, up_t, link);
        cg_list_unlink(&u->link);
        b->nidle--;
        cg_timer_stop(&w->loop, &u->timer);
        u->reused = 1;
        w->stats.up_cx_reused++;
    } else {
        int fd = cg_sock_connect(&ep->addr);
        if (fd < 0) {
            *err = fd;
            return NULL;
        }
        u = up_alloc(w);
        u->addr = ep->addr;
        u->stats = ep->stats;
        if ((*err = cg_io_start(&w->loop, &u->io, fd, up_on_io)) != 0) {
            close(fd);
            u->io.fd = -1;
            up_free(u);
            if (*err == CG_ESYS || *err == CG_ENOMEM) *err = CG_ENORES; /* epoll out of room */
            return NULL;
        }
        w->stats.up_cx_total++;
        w->stats.up_cx_active++;
        __atomic_fetch_add(&ep->stats->cx_total, 1, __ATOMIC_RELAXED);
        cg_timer_start(&w->loop, &u->timer, c->route->dest->connect_timeout_ms, up_connect_timeout);
    }
    u->bucket = b;
    u->conn = c;
    u->stats = ep->stats;
    u->parsed = 0;
    u->got_bytes = u->head_done = u->body_announced = 0;
    cg_buf_reset(&u->in);
    cg_http_out_reset(&u->out);
    cg_http_parser_init(&u->parser, 0, &u->head, NULL);
    u->parser.skip_body = c->head.method == HTTP_HEAD;
    return u;
}

/* Finishes with the request's upstream: back to the pool when it can carry another request. */
static void up_release(conn_t *c, int reusable)
{
    up_t *u = c->up;
    if (!u) return;
    c->up = NULL;
    u->conn = NULL;
    cg_worker_t *w = u->w;
    if (reusable && !u->eof && !u->rdhup && u->connected && !(draining(c->w)) && !u->body_announced &&
        (u->head.flags & CG_HTTP_F_KEEPALIVE) && u->parsed == u->in.len &&
        u->bucket->nidle < w->settings->max_idle_per_ep) {
        cg_buf_reset(&u->in);
        cg_list_insert_head(&u->bucket->idle, &u->link);
        u->bucket->nidle++;
        cg_timer_start(&w->loop, &u->timer, w->settings->upstream_idle_ms, up_idle_timeout);
        return;
    }
    up_free(u);
}

/* ---------- request start ---------- */

static int build_upstream_head(conn_t *c, up_t *u)
{
    cg_http_fwd_req_t f = {
        /* the connection outlives the write: its fields are slices, not copies */
        .peer_ip = cg_iov(c->peer_ip, c->peer_ip_len),
        .request_id = c->rid_generated ? cg_iov(c->rid, 36) : CG_IOV_NULL,
        .hops = (unsigned)c->hops + 1,
        .drop_expect = (c->head.flags & CG_HTTP_F_EXPECT_CONTINUE) != 0,
        /* an HTTP/1.0 request may come without Host; it goes on as 1.1, which needs one: the
         * endpoint's address, as nginx's proxy_set_header Host $proxy_host */
        .default_host = c->ep ? cg_iov_str(c->ep->name) : CG_IOV_NULL,
    };
    return cg_http_forward_request_head(&u->out, &c->head, c->in.base, &f);
}

#define BODY_CONNECT_FAILURE                                                                       \
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure"
#define BODY_CONNECT_TERMINATION                                                                   \
    "upstream connect error or disconnect/reset before headers. reset reason: connection termination"

static void start_attempt(conn_t *c);

/* Ends the current attempt's bookkeeping (retry budget) and drops its upstream connection. */
static void attempt_end(conn_t *c, int reusable)
{
    cg_timer_stop(&c->w->loop, &c->try_timer);
    if (c->retry_counted) {
        c->route->dest->ws[c->w->id].retries--;
        c->retry_counted = 0;
    }
    if (c->up) up_release(c, reusable);
}

/* Lets go of everything a request holds: its attempt, its place in the retry budget, its
 * config. */
static void request_release(conn_t *c, int reusable)
{
    if (c->route) attempt_end(c, reusable);
    else if (c->up) up_release(c, reusable);
    if (c->dest_counted) {
        c->route->dest->ws[c->w->id].active--;
        c->dest_counted = 0;
    }
    if (c->hold) {
        hold_release(c->w, c->hold);
        c->hold = NULL;
    }
}

/* Is the request stalled on its client, so that a timeout is the client's fault? */
static int waiting_on_client(const conn_t *c)
{
    if (c->backoff_wait) return 0; /* we are the ones waiting, before a retry */
    /* still owed its body, and nothing of it queued for the upstream (else the upstream is the
     * one not keeping up) */
    if (!c->req_done && !(c->up && cg_http_out_pending(&c->up->out))) return 1;
    /* the response streams, and the client is not reading it */
    return c->resp_started && cg_http_out_pending(&c->out);
}

/* A timeout while the client owes us its body is the client's fault: 408, and nothing counted
 * against the endpoint (a trickling client must not get healthy upstreams ejected). */
static void client_timeout(conn_t *c, const char *why)
{
    c->w->stats.rq_client_timeout++;
    attempt_end(c, 0);
    if (c->resp_started) {
        conn_close(c);
        return;
    }
    local_reply(c, 408, CG_RF_SI, why, 1);
    conn_run(c);
}

static void rq_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, rq_timer);
    if (waiting_on_client(c)) {
        client_timeout(c, "request body timeout");
        return;
    }
    c->flags |= CG_RF_UT;
    if (c->up && c->ep) {
        __atomic_fetch_add(&c->ep->stats->rq_error, 1, __ATOMIC_RELAXED);
        cg_proxy_balancer_result(c->route->dest, c->ep, 0, loop->now_ms);
    }
    attempt_end(c, 0);
    if (c->resp_started) {
        conn_close(c);
        return;
    }
    local_reply(c, 504, 0, "upstream request timeout", 1);
    conn_run(c);
}

/* No request body byte for body_timeout_ms while one was due. */
static void body_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, timer);
    if (c->state != S_UPSTREAM || c->req_done) return;
    if (!waiting_on_client(c)) { /* the upstream is the one not reading: not the client's stall */
        cg_timer_start(loop, &c->timer, c->w->settings->body_timeout_ms, body_timeout);
        return;
    }
    client_timeout(c, "request body timeout");
}

/* The per-try timeout runs once the whole request is in (as Envoy's): time the client takes
 * to send its body is not the upstream's. */
static void start_try_timer(conn_t *c)
{
    uint32_t ms = c->route->dest->policy->retry.per_try_timeout_ms;
    if (ms && c->req_done && !c->backoff_wait) cg_timer_start(&c->w->loop, &c->try_timer, ms, try_timeout);
}

/* May the request go again after a failure of kind `what` (CG_RETRY_ON_*, 0 for a plain
 * status) with `status` (0: no response)? */
static int can_retry(conn_t *c, uint32_t what, int status)
{
    const cg_lb_retry_cfg_t *rc = &c->route->dest->policy->retry;
    if (c->resp_started || (uint32_t)(c->ntried - 1) >= rc->attempts || c->ntried >= CG_MAX_TRIES) return 0;
    if (!cg_lb_retry_matches(rc->retry_on, what, status)) return 0;
    /* the body must still be whole in our buffer to be sent again */
    if ((c->head.flags & CG_HTTP_F_HAS_BODY) && !c->body_retained) return 0;
    /* a request that reached the upstream is replayed only when replaying is harmless */
    if (what != CG_RETRY_ON_CONNECT_FAILURE && !cg_lb_retry_idempotent(c->head.method)) return 0;
    return 1;
}

/* Do the policy and the retry budget allow another attempt? Flags why not. */
static int retry_allowed(conn_t *c, uint32_t what, int status)
{
    if (!can_retry(c, what, status)) {
        if (c->ntried > 1) c->flags |= CG_RF_URX;
        return 0;
    }
    cg_dest_t *d = c->route->dest;
    cg_dest_wstate_t *ws = &d->ws[c->w->id];
    const cg_lb_retry_cfg_t *rc = &d->policy->retry;
    if (!cg_lb_retry_budget_allows(ws->active, ws->retries, rc->budget_percent, rc->budget_min)) {
        c->flags |= CG_RF_UO;
        return 0;
    }
    return 1;
}

/* Starts the next attempt (after retry_allowed said yes), counted against the budget. */
static void retry_start(conn_t *c)
{
    cg_dest_wstate_t *ws = &c->route->dest->ws[c->w->id];
    ws->retries++;
    c->retry_counted = 1;
    c->w->stats.rq_retry++;
    start_attempt(c);
}

/* The current attempt failed before a response reached the client. */
static void attempt_failed(conn_t *c, uint32_t what, uint32_t flag, int local_status, const char *body)
{
    up_t *u = c->up;
    if (u && u->reused && !u->got_bytes && !c->retried_fresh && what == CG_RETRY_ON_RESET &&
        !(c->head.flags & CG_HTTP_F_HAS_BODY) && cg_lb_retry_idempotent(c->head.method) && !c->resp_started) {
        /* a pooled connection the upstream had already closed: once more on a new one, not
         * counted against the endpoint or the retry policy */
        c->retried_fresh = 1;
        c->ntried--;
        attempt_end(c, 0);
        start_attempt(c);
        return;
    }
    if (c->ep) {
        if (what == CG_RETRY_ON_CONNECT_FAILURE)
            __atomic_fetch_add(&c->ep->stats->cx_connect_fail, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->ep->stats->rq_error, 1, __ATOMIC_RELAXED);
        cg_proxy_balancer_result(c->route->dest, c->ep, 0, c->w->loop.now_ms);
    }
    attempt_end(c, 0);
    if (retry_allowed(c, what, 0)) {
        retry_start(c);
        return;
    }
    if (c->resp_started) {
        c->flags |= flag;
        conn_close(c);
        return;
    }
    local_reply(c, local_status, flag, body, 0);
}

static void up_connect_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    up_t *u = cg_container_of(t, up_t, timer);
    conn_t *c = u->conn;
    if (!c) {
        up_free(u);
        return;
    }
    c->w->stats.up_cx_connect_fail++;
    attempt_failed(c, CG_RETRY_ON_CONNECT_FAILURE, CG_RF_UF, 503, BODY_CONNECT_FAILURE);
    conn_run(c);
}

static void try_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, try_timer);
    if (c->backoff_wait) { /* the back-off before repeating an endpoint is over */
        c->backoff_wait = 0;
        start_attempt(c);
    } else {
        attempt_failed(c, CG_RETRY_ON_PER_TRY_TIMEOUT, CG_RF_UT, 504, "upstream request timeout");
    }
    conn_run(c);
}

/* Rewinds the request parser so the body is sent again from the start of the buffer. */
static void rewind_request(conn_t *c)
{
    size_t p = 0;
    cg_http_parser_next(&c->parser);
    cg_http_parse_head(&c->parser, c->in.base, c->head_len, &p);
    c->parsed = c->head_len;
    c->req_done = !(c->head.flags & CG_HTTP_F_HAS_BODY);
}

static void start_attempt(conn_t *c)
{
    cg_worker_t *w = c->w;
    cg_dest_t *d = c->route->dest;
    cg_pick_t pk = cg_proxy_balancer_pick(d, w->id, c->tried, c->ntried, c->wcluster, w->loop.now_ms, rng_next(w));
    if (c->ntried == 0) c->wcluster = (int8_t)pk.cluster;
    if (pk.endpoint < 0) {
        attempt_end(c, 0);
        local_reply(c, 503, CG_RF_UH, "no healthy upstream", 0);
        return;
    }
    if (pk.repeat && !c->backoff_done) {
        /* the same endpoint again: wait a jittered back-off first */
        const cg_lb_retry_cfg_t *rc = &d->policy->retry;
        uint32_t ms = cg_lb_retry_backoff_ms(c->ntried, rc->backoff_base_ms, rc->backoff_max_ms, rng_next(w));
        c->backoff_done = 1;
        if (ms) {
            c->backoff_wait = 1;
            c->state = S_UPSTREAM;
            cg_timer_start(&w->loop, &c->try_timer, ms, try_timeout);
            return;
        }
    }
    c->backoff_done = 0;
    const cg_endpoint_t *ep = &d->endpoints[pk.endpoint];
    c->ep = ep;
    c->tried[c->ntried++] = (uint16_t)pk.endpoint;
    if (c->ntried > 1 || c->retried_fresh) rewind_request(c);
    int err = 0;
    up_t *u = up_acquire(c, ep, c->retried_fresh, &err);
    if (!u && cg_err_local_shortage(err)) {
        /* our own shortage (fds, memory), not the endpoint's: no attempt, no ejection */
        c->ntried--;
        c->ep = NULL;
        w->stats.rq_local_exhausted++;
        attempt_end(c, 0);
        local_reply(c, 503, CG_RF_OM, "local resources exhausted", 0);
        return;
    }
    if (!u) {
        attempt_failed(c, CG_RETRY_ON_CONNECT_FAILURE, CG_RF_UF, 503, BODY_CONNECT_FAILURE);
        return;
    }
    c->up = u;
    __atomic_fetch_add(&ep->stats->rq_total, 1, __ATOMIC_RELAXED);
    c->up_start_us = w->loop.now_us;
    if (build_upstream_head(c, u)) {
        /* nothing was written: a pooled connection goes back to the pool unharmed */
        attempt_end(c, 1);
        local_reply(c, 431, 0, "request header too large to forward", 1);
        return;
    }
    start_try_timer(c);
    if (!c->req_done) cg_timer_start(&w->loop, &c->timer, w->settings->body_timeout_ms, body_timeout);
    c->state = S_UPSTREAM;
}

static void on_request_head(conn_t *c)
{
    cg_worker_t *w = c->w;
    cg_http_head_t *h = &c->head;
    const char *b = c->in.base;
    cg_timer_stop(&w->loop, &c->timer);
    if (!w->cur || !cg_proxy_config_listener(w->cur->cfg, c->port)) {
        /* a config change removed the listener that accepted this keep-alive connection:
         * close it unanswered, as a server closes an idle connection, so the client (an edge
         * reusing a pooled connection) sends again on a new one rather than taking a 404 */
        conn_close(c);
        return;
    }
    c->hold = w->cur;
    c->hold->users++;
    w->stats.rq_total++;
    w->stats.rq_active++;
    c->req_done = !(h->flags & CG_HTTP_F_HAS_BODY);
    if (!(h->flags & CG_HTTP_F_KEEPALIVE)) c->close_after = 1;

    cg_http_request_target(h, b, &c->authority, &c->path);
    if (h->rid_idx >= 0 && h->headers[h->rid_idx].value.len) {
        c->rid_generated = 0;
    } else {
        make_request_id(w, c->rid);
        c->rid_generated = 1;
    }
    if (h->http_minor == 1 && h->host_idx < 0) {
        local_reply(c, 400, CG_RF_DPE, "missing host header", 1);
        return;
    }
    if (h->method == HTTP_CONNECT) {
        local_reply(c, 405, 0, "CONNECT is not supported", 1);
        return;
    }
    if (cg_iov_eq(c->path, CG_IOV_LIT(CG_HEALTHZ_PATH)) && (h->method == HTTP_GET || h->method == HTTP_HEAD)) {
        /* every gateway answers its health check on every listener */
        local_reply(c, draining(w) ? 503 : 200, 0, draining(w) ? "draining\n" : "ok\n", 0);
        return;
    }
    unsigned hops = cg_http_head_hops(h, b);
    if (hops >= CG_MAX_HOPS) {
        local_reply(c, 508, 0, "loop detected: too many gateway hops\n", 1);
        return;
    }
    c->hops = (uint16_t)hops;
    if ((h->flags & CG_HTTP_F_CHUNKED) && cg_http_parser_check_body(&c->parser, b, c->in.len, c->head_len)) {
        /* what already arrived of the body is malformed: refuse it before anything goes on */
        local_reply(c, c->parser.error_status, CG_RF_DPE, c->parser.error_reason, 1);
        return;
    }
    const cg_listener_cfg_t *l = cg_proxy_config_listener(c->hold->cfg, c->port);
    const cg_vhost_t *vh = l ? cg_proxy_route_vhost(l, c->authority) : NULL;
    const cg_route_t *rt = vh ? cg_proxy_route_match(vh, c->path, h, b) : NULL;
    if (!rt) {
        local_reply(c, 404, CG_RF_NR, NULL, 0);
        return;
    }
    c->route = rt;
    switch (rt->action) {
    case CG_ACTION_DIRECT:
        local_reply(c, rt->direct->status, 0, rt->direct->body, 0);
        return;
    case CG_ACTION_REDIRECT: redirect_reply(c, rt->redirect); return;
    case CG_ACTION_ROUTE: break;
    }
    if (rt->timeout_ms) cg_timer_start(&w->loop, &c->rq_timer, rt->timeout_ms, rq_timeout);
    rt->dest->ws[w->id].active++;
    c->dest_counted = 1;
    c->ntried = 0;
    c->wcluster = -1;
    c->body_retained = 1;
    start_attempt(c);
}

/* ---------- response head ---------- */

static int build_response_head(conn_t *c, up_t *u)
{
    cg_http_head_t *h = &u->head;
    int chunked_out = 0;
    /* a body the client will get (not HEAD, 1xx, 204, 304), delimited by chunks or the close */
    if (cg_http_parser_has_body(&u->parser) && (h->flags & (CG_HTTP_F_CHUNKED | CG_HTTP_F_EOF_BODY))) {
        if (c->head.http_minor >= 1) {
            chunked_out = 1;
            u->parser.body_out = CG_BODY_OUT_CHUNKED;
        } else {
            u->parser.body_out = CG_BODY_OUT_RAW;
            c->close_after = 1;
        }
    } else {
        u->parser.body_out = CG_BODY_OUT_LENGTH;
    }
    if (draining(c->w)) c->close_after = 1;
    int r = cg_http_forward_response_head(&c->out, h, u->in.base, chunked_out, c->close_after,
                                          c->head.http_minor == 0);
    c->resp_body_start = c->out.total;
    return r;
}

/* ---------- the pump ---------- */

static int flush_down(conn_t *c)
{
    if (!cg_http_out_pending(&c->out) || !c->writable) return 0;
    ssize_t n = cg_http_out_write(&c->out, c->io.fd);
    if (n == CG_EAGAIN) {
        c->writable = 0;
        return 0;
    }
    if (n < 0) return (int)n;
    if (cg_http_out_pending(&c->out)) c->writable = 0;
    return 1;
}

static int flush_up(up_t *u)
{
    if (!cg_http_out_pending(&u->out) || !u->writable || !u->connected) return 0;
    ssize_t n = cg_http_out_write(&u->out, u->io.fd);
    if (n == CG_EAGAIN) {
        u->writable = 0;
        return 0;
    }
    if (n < 0) return (int)n;
    if (cg_http_out_pending(&u->out)) u->writable = 0;
    return 1;
}

/* Moves request body bytes from the client to the upstream. Returns progress (1), 0, or <0
 * when the client broke the request. */
static int pump_request_body(conn_t *c, up_t *u)
{
    if (c->req_done || cg_http_out_pending(&u->out)) return 0;
    /* what was queued has been written: release it, keeping the head, unless it is kept
     * whole for a retry (up to the buffer limit) */
    if (c->body_retained && c->parsed - c->head_len > c->route->dest->policy->retry.buffer_limit)
        c->body_retained = 0;
    if (!c->body_retained && c->parsed > c->head_len) {
        buf_cut(&c->in, c->head_len, c->parsed);
        c->parsed = c->head_len;
    }
    if ((c->head.flags & CG_HTTP_F_EXPECT_CONTINUE) && !c->continue_sent && c->in.len == c->head_len) {
        c->continue_sent = 1;
        cg_http_out_push(&c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        return 1;
    }
    int progress = 0;
    if (c->parsed < c->in.len) {
        c->parser.body_out = (c->head.flags & CG_HTTP_F_CHUNKED) ? CG_BODY_OUT_CHUNKED : CG_BODY_OUT_LENGTH;
        int r = cg_http_parse_body(&c->parser, c->in.base, c->in.len, &c->parsed, &u->out);
        if (r == CG_EPARSE) return CG_EPARSE;
        if (r == 0) {
            c->req_done = 1;
            cg_timer_stop(&c->w->loop, &c->timer);
            start_try_timer(c);
        }
        progress = 1;
        if (cg_http_out_pending(&u->out)) return 1;
    }
    if (c->req_done || !c->readable) return progress;
    size_t keep = c->body_retained ? c->route->dest->policy->retry.buffer_limit : 0;
    ssize_t n = read_into(c->io.fd, &c->in, c->head_len + (keep > 4 * READ_CHUNK ? keep : 4 * READ_CHUNK) + READ_CHUNK, &c->readable, c->rdhup);
    if (n == CG_EAGAIN) {
        c->readable = 0;
        return progress;
    }
    if (n == 0 || (n < 0 && n != CG_ELIMIT)) return CG_ECLOSED;
    if (n > 0) cg_timer_start(&c->w->loop, &c->timer, c->w->settings->body_timeout_ms, body_timeout);
    return 1;
}

/* Moves the response from the upstream to the client. */
static int pump_response(conn_t *c, up_t *u)
{
    if (c->resp_done || cg_http_out_pending(&c->out)) return 0;
    if (u->head_done && u->parsed) {
        buf_cut(&u->in, 0, u->parsed);
        u->parsed = 0;
    }
    int progress = 0;
    if (u->parsed < u->in.len || (u->eof && u->head_done)) {
        if (!u->head_done) {
            int r = cg_http_parse_head(&u->parser, u->in.base, u->in.len, &u->parsed);
            if (r == CG_HTTP_INTERIM) {
                buf_cut(&u->in, 0, u->parsed);
                u->parsed = 0;
                cg_http_parser_next(&u->parser);
                u->parser.skip_body = c->head.method == HTTP_HEAD;
                return 1;
            }
            if (r == CG_EAGAIN) goto Read;
            if (r < 0) return CG_EPARSE;
            if ((u->head.flags & CG_HTTP_F_CHUNKED) &&
                cg_http_parser_check_body(&u->parser, u->in.base, u->in.len, u->parsed))
                return CG_EPARSE; /* a malformed body already here: 502 rather than a cut-off 200 */
            u->head_done = 1;
            int st = u->head.status;
            /* the per-try timeout bounds the wait for a response head, not the client's pace */
            if (!c->backoff_wait) cg_timer_stop(&c->w->loop, &c->try_timer);
            if (!cg_http_parser_has_body(&u->parser) &&
                (u->head.content_length > 0 || (u->head.flags & CG_HTTP_F_CHUNKED)))
                u->body_announced = 1;
            cg_proxy_balancer_result(c->route->dest, c->ep, st, c->w->loop.now_ms);
            if (st >= 500) __atomic_fetch_add(&c->ep->stats->rq_error, 1, __ATOMIC_RELAXED);
            if (st >= 500 || st == 409) {
                uint32_t what = st == 502 ? CG_RETRY_ON_502 : st == 503 ? CG_RETRY_ON_503 : st == 504 ? CG_RETRY_ON_504 : 0;
                if (retry_allowed(c, what, st)) {
                    attempt_end(c, 0); /* the rest of this response is not wanted */
                    retry_start(c);
                    return 1;
                }
            }
            c->status = u->head.status;
            c->upstream_ms = (int64_t)((c->w->loop.now_us - c->up_start_us) / 1000);
            if (build_response_head(c, u)) return CG_EPARSE;
            c->resp_started = 1;
            if (u->parser.complete) {
                c->resp_done = 1;
                return 1;
            }
            if (!cg_http_parser_has_body(&u->parser)) {
                c->resp_done = 1;
                return 1;
            }
            progress = 1;
        }
        if (u->parsed < u->in.len) {
            int r = cg_http_parse_body(&u->parser, u->in.base, u->in.len, &u->parsed, &c->out);
            if (r == CG_EPARSE) return CG_EPARSE;
            if (r == 0) c->resp_done = 1;
            progress = 1;
            if (cg_http_out_pending(&c->out) || c->resp_done) return 1;
        }
        if (u->eof) {
            if (cg_http_parse_eof(&u->parser, &c->out) == 0) {
                c->resp_done = 1;
                return 1;
            }
            return CG_ECLOSED;
        }
    }
Read:
    if (!u->readable) {
        if (u->eof) return CG_ECLOSED;
        return progress;
    }
    {
        ssize_t n = read_into(u->io.fd, &u->in, 64 * 1024 + READ_CHUNK, &u->readable, u->rdhup);
        if (n == CG_EAGAIN) {
            u->readable = 0;
            return progress;
        }
        if (n == CG_ELIMIT && !u->head_done) return CG_EPARSE; /* response head too large */
        if (n == 0) {
            u->eof = 1;
            u->readable = 0;
            if (!u->head_done) return CG_ECLOSED;
            return 1;
        }
        if (n < 0) return CG_ECLOSED;
        u->got_bytes = 1;
        return 1;
    }
}

static void finish_request(conn_t *c)
{
    cg_worker_t *w = c->w;
    cg_timer_stop(&w->loop, &c->rq_timer);
    int klass = c->status / 100;
    if (klass >= 1 && klass <= 5) w->stats.rq_class[klass]++;
    w->stats.rq_active--;

    if (w->settings->access_log_fd >= 0) {
        cg_http_head_t *h = &c->head;
        const char *b = c->in.base;
        const char *m = cg_http_method_name(h->method);
        /* sliced again: reading the body may have moved c->in since on_request_head, and a
         * request whose head never parsed has no target of its own */
        cg_iov_t authority = CG_IOV_NULL, path = CG_IOV_NULL;
        if (c->head_len) cg_http_request_target(h, b, &authority, &path);
        cg_access_entry_t e = {
            .start_wall_us = c->start_wall_us,
            .method = cg_iov_str(m),
            .path = path,
            .http_minor = h->http_minor,
            .status = c->status,
            .flags = c->flags,
            .bytes_received = c->parser.body_bytes,
            .bytes_sent = c->out.total - c->resp_body_start,
            .duration_ms = (w->loop.now_us - c->start_us) / 1000,
            .upstream_ms = c->upstream_ms,
            .xff_orig = cg_http_head_value(h, b, h->xff_idx),
            .peer_ip = cg_iov(c->peer_ip, c->peer_ip_len),
            .user_agent = cg_http_head_value(h, b, h->ua_idx),
            .request_id = c->rid_generated ? cg_iov_str(c->rid) : cg_http_head_value(h, b, h->rid_idx),
            .authority = authority,
            .upstream_host = c->ep ? cg_iov_str(c->ep->name) : CG_IOV_NULL,
        };
        size_t before = w->log.len;
        cg_proxy_access_format(&w->log, &e);
        if (cg_buf_size(&w->log) > CG_ACCESS_LOG_MAX_PENDING) { /* the log is not keeping up */
            w->stats.log_dropped_bytes += w->log.len - before;
            w->log.len = before;
        }
        if (cg_buf_size(&w->log) > CG_ACCESS_LOG_FLUSH_AT) cg_proxy__log_flush(w);
    }
    request_release(c, c->req_done && c->resp_done);
    if (c->close_after || !c->req_done) {
        conn_close(c);
        return;
    }
    /* keep-alive: drop this request's bytes, keep any pipelined ones */
    buf_cut(&c->in, 0, c->parsed);
    c->parsed = 0;
    c->head_len = 0;
    cg_http_parser_next(&c->parser);
    c->state = S_IDLE;
    c->route = NULL;
    c->ep = NULL;
    c->flags = 0;
    c->status = 0;
    c->req_done = c->resp_done = c->resp_started = c->continue_sent = c->retried_fresh = 0;
    c->ntried = 0;
    c->backoff_wait = c->backoff_done = 0;
    c->upstream_ms = -1;
    c->out.total = 0;
    cg_timer_start(&w->loop, &c->timer, w->settings->idle_timeout_ms, idle_timeout);
}


static void start_reading_head(conn_t *c)
{
    c->state = S_HEAD;
    c->start_us = c->w->loop.now_us;
    c->start_wall_us = c->w->loop.wall_us;
    cg_timer_start(&c->w->loop, &c->timer, c->w->settings->header_timeout_ms, header_timeout);
}

/* Reads and parses a request head. Returns progress. */
static int step_head(conn_t *c)
{
    int progress = 0;
    if (c->in.len > c->parsed || (c->state == S_IDLE && c->in.len)) {
        if (c->state == S_IDLE) start_reading_head(c);
        int r = cg_http_parse_head(&c->parser, c->in.base, c->in.len, &c->parsed);
        if (r == 0) {
            c->head_len = c->parsed;
            on_request_head(c);
            return 1;
        }
        if (r != CG_EAGAIN) {
            c->hold = c->w->cur;
            c->hold->users++;
            c->w->stats.rq_total++;
            c->w->stats.rq_active++;
            c->req_done = 0;
            local_reply(c, c->parser.error_status ? c->parser.error_status : 400, CG_RF_DPE,
                        c->parser.error_reason, 1);
            return 1;
        }
    }
    if (!c->readable) return progress;
    ssize_t n = read_into(c->io.fd, &c->in, c->parser.limits->max_head + READ_CHUNK, &c->readable, c->rdhup);
    if (n == CG_EAGAIN) {
        c->readable = 0;
        return progress;
    }
    if (n == CG_ELIMIT) {
        c->hold = c->w->cur;
        c->hold->users++;
        c->w->stats.rq_total++;
        c->w->stats.rq_active++;
        local_reply(c, 431, CG_RF_DPE, "header block too large", 1);
        return 1;
    }
    if (n <= 0) {
        conn_close(c); /* closed between requests or mid-head */
        return -1;
    }
    return 1;
}

/* Has epoll report the socket again on the next turn: EPOLL_CTL_MOD re-checks the readiness of
 * an edge-triggered fd and queues an event if it is ready now (same mask as cg_io_start). */
static void io_rearm(cg_loop_t *loop, cg_io_t *io)
{
    struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = io};
    if (io->fd >= 0) epoll_ctl(loop->epfd, EPOLL_CTL_MOD, io->fd, &ev);
}

static void conn_run(conn_t *c)
{
    int spins;
    for (spins = 0; spins < 256 && c->state != S_CLOSED; spins++) {
        int progress = 0, r;
        r = flush_down(c);
        if (r < 0) {
            c->flags |= CG_RF_DC;
            if (c->up) up_release(c, 0);
            conn_close(c);
            return;
        }
        progress |= r;
        switch (c->state) {
        case S_IDLE:
        case S_HEAD:
            r = step_head(c);
            if (r < 0) return;
            progress |= r;
            break;
        case S_UPSTREAM: {
            up_t *u = c->up;
            if (!u || !u->connected) break;
            r = flush_up(u);
            if (r < 0) {
                attempt_failed(c, CG_RETRY_ON_RESET, CG_RF_UC, 503, BODY_CONNECT_TERMINATION);
                progress = 1;
                break;
            }
            progress |= r;
            r = pump_request_body(c, u);
            if (r == CG_EPARSE) {
                c->flags |= CG_RF_DPE;
                attempt_end(c, 0);
                if (c->resp_started) {
                    conn_close(c);
                    return;
                }
                local_reply(c, c->parser.error_status ? c->parser.error_status : 400, 0, "bad request body", 1);
                progress = 1;
                break;
            }
            if (r < 0) { /* client went away mid-body */
                c->flags |= CG_RF_DC;
                attempt_end(c, 0);
                c->status = c->resp_started ? c->status : 0;
                finish_request(c);
                return;
            }
            progress |= r;
            if (!c->up) break;
            r = pump_response(c, u);
            if (c->up != u) { /* a retry replaced the attempt */
                progress = 1;
                break;
            }
            if (r < 0) {
                if (r == CG_EPARSE) attempt_failed(c, CG_RETRY_ON_RESET, CG_RF_UPE, 502, "upstream protocol error");
                else attempt_failed(c, CG_RETRY_ON_RESET, CG_RF_UC, 503, BODY_CONNECT_TERMINATION);
                progress = 1;
                break;
            }
            progress |= r;
            if (c->resp_done && c->req_done && !cg_http_out_pending(&c->out) &&
                !cg_http_out_pending(&u->out)) {
                finish_request(c);
                progress = 1;
            } else if (c->resp_done && !c->req_done && !cg_http_out_pending(&c->out)) {
                /* answered before the request body ended: the connection cannot continue */
                c->close_after = 1;
                finish_request(c);
                return;
            }
            break;
        }
        case S_LOCAL:
            if (!cg_http_out_pending(&c->out)) {
                finish_request(c);
                progress = 1;
            }
            break;
        }
        if (!progress) break;
    }
    if (spins == 256 && c->state != S_CLOSED) {
        /* stopped for fairness with work left: bytes already queued bring no new edge (an
         * upstream that finished sending, a client that keeps up), so ask for both sockets
         * to be reported again rather than stall until a timeout */
        io_rearm(&c->w->loop, &c->io);
        if (c->up) io_rearm(&c->w->loop, &c->up->io);
    }
}

/* ---------- events ---------- */

static void up_on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    up_t *u = cg_container_of(io, up_t, io);
    conn_t *c = u->conn;
    if (!c) {
        /* pooled: input or hang-up means the upstream closed or misbehaved; EPOLLOUT edges
         * keep coming as earlier writes are acknowledged and mean nothing here */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) up_free(u);
        return;
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->readable = 1;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->rdhup = 1;
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) u->writable = 1;
    if (!u->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = cg_sock_error(io->fd);
        if (err || (events & EPOLLERR)) {
            c->w->stats.up_cx_connect_fail++;
            attempt_failed(c, CG_RETRY_ON_CONNECT_FAILURE, CG_RF_UF, 503, BODY_CONNECT_FAILURE);
            conn_run(c);
            return;
        }
        u->connected = 1;
        cg_timer_stop(loop, &u->timer);
    }
    conn_run(c);
}

static void conn_on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    conn_t *c = cg_container_of(io, conn_t, io);
    if (events & (EPOLLIN | EPOLLRDHUP)) c->readable = 1;
    if (events & EPOLLRDHUP) c->rdhup = 1;
    if (events & EPOLLOUT) c->writable = 1;
    if (events & (EPOLLHUP | EPOLLERR)) {
        /* reset or fully closed by the client */
        c->flags |= CG_RF_DC;
        if (c->state == S_UPSTREAM || c->state == S_LOCAL) {
            if (c->up) up_release(c, 0);
            c->status = c->resp_started ? c->status : 0;
            c->close_after = 1;
            finish_request(c);
        } else {
            conn_close(c);
        }
        return;
    }
    conn_run(c);
}

static void header_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, timer);
    if (c->state == S_IDLE) {
        conn_close(c);
        return;
    }
    if (c->state != S_HEAD) return;
    c->hold = c->w->cur;
    c->hold->users++;
    c->w->stats.rq_total++;
    c->w->stats.rq_active++;
    local_reply(c, 408, CG_RF_SI, "request header timeout", 1);
    conn_run(c);
}

static void idle_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, timer);
    if (c->state == S_IDLE) conn_close(c);
    else if (c->state == S_HEAD) header_timeout(loop, t);
}

static void conn_free(cg_loop_t *loop, cg_defer_t *d)
{
    conn_t *c = cg_container_of(d, conn_t, defer);
    pool_put(&c->w->free_conns, &c->w->stats.pool_conns, &c->link, &c->in, c);
}

static void conn_close(conn_t *c)
{
    if (c->state == S_CLOSED) return;
    cg_worker_t *w = c->w;
    if (c->hold) {
        /* closed mid-request (upstream reset after the response began, client gone, ...):
         * the request still ends, counted and logged with its flags; that comes back here */
        c->close_after = 1;
        finish_request(c);
        return;
    }
    request_release(c, 0);
    c->state = S_CLOSED;
    cg_timer_stop(&w->loop, &c->timer);
    cg_timer_stop(&w->loop, &c->rq_timer);
    cg_timer_stop(&w->loop, &c->try_timer);
    cg_io_stop(&w->loop, &c->io);
    close(c->io.fd);
    c->io.fd = -1;
    cg_list_unlink(&c->link);
    w->stats.cx_active--;
    if (w->accept_paused == PAUSE_MAX_CONNS) accept_resume(&w->loop, &w->accept_timer);
    /* freed after this batch of events: a later event of the batch may still name it */
    cg_defer(&w->loop, &c->defer, conn_free);
}

/* ---------- accepting ---------- */

#define ACCEPT_BATCH 64        /* accepts per listener event, for fairness with open connections */
#define ACCEPT_PAUSE_MS 500    /* as nginx: stop accepting for a while when fds run out */
#define ACCEPT_LOG_EVERY_MS 1000

static void accept_resume(cg_loop_t *loop, cg_timer_t *t)
{
    cg_worker_t *w = cg_container_of(t, cg_worker_t, accept_timer);
    cg_timer_stop(loop, &w->accept_timer);
    w->accept_paused = PAUSE_NONE;
    for (size_t i = 0; i < w->nlisteners; i++) {
        cg_wlistener_t *l = &w->listeners[i];
        cg_io_stop(loop, &l->io);
        l->io.fd = l->fd;
        cg_io_start_level(loop, &l->io, l->fd, EPOLLIN, cg_proxy__accept);
    }
}

/* Listeners are level-triggered: returning with a connection still queued would spin. Take
 * them out of the loop instead, and back after a pause (or once a connection closes, at
 * max_conns). Logs at most one line a second. */
static void accept_pause(cg_worker_t *w, int why, uint16_t port, int err)
{
    for (size_t i = 0; i < w->nlisteners; i++) cg_io_stop(&w->loop, &w->listeners[i].io);
    w->accept_paused = (uint8_t)why;
    w->stats.accept_paused++;
    cg_timer_start(&w->loop, &w->accept_timer, ACCEPT_PAUSE_MS, accept_resume);
    if (w->accept_log_ms && w->loop.now_ms - w->accept_log_ms < ACCEPT_LOG_EVERY_MS) {
        w->accept_suppressed++;
        return;
    }
    w->accept_log_ms = w->loop.now_ms;
    if (why == PAUSE_FDS)
        cg_log_warn("worker %d: accept on port %u: %s; pausing %d ms (%" PRIu64 " pauses not logged)", w->id, port,
                    strerror(err), ACCEPT_PAUSE_MS, w->accept_suppressed);
    else
        cg_log_warn("worker %d: %u connections, the most allowed (--max-connections); pausing accepts (%" PRIu64
                    " pauses not logged)",
                    w->id, w->settings->max_conns, w->accept_suppressed);
    w->accept_suppressed = 0;
}

void cg_proxy__accept(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    cg_wlistener_t *l = cg_container_of(io, cg_wlistener_t, io);
    cg_worker_t *w = l->w;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (w->settings->max_conns && w->stats.cx_active >= w->settings->max_conns) {
            accept_pause(w, PAUSE_MAX_CONNS, l->port, 0);
            return;
        }
        cg_addr_t peer;
        peer.len = sizeof(peer.u);
        int fd = accept4(l->fd, &peer.u.sa, &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            if (errno == EAGAIN) return;
            if (cg_err_local_shortage(cg_err_from_errno(errno))) {
                accept_pause(w, PAUSE_FDS, l->port, errno);
                return;
            }
            cg_log_warn("accept on port %u: %s", l->port, strerror(errno));
            return;
        }
        cg_sock_set_nodelay(fd);
        conn_t *c;
        if (!cg_list_empty(&w->free_conns)) {
            c = cg_container_of(w->free_conns.next, conn_t, link);
            cg_list_unlink(&c->link);
            w->stats.pool_conns--;
            cg_buf_t keep = c->in;
            memset(c, 0, offsetof(conn_t, rid));
            c->in = keep;
        } else {
            c = cg_xcalloc(1, sizeof(*c));
        }
        c->w = w;
        c->port = l->port;
        c->upstream_ms = -1;
        c->state = S_IDLE;
        c->peer_ip_len = (uint8_t)cg_addr_format_ip(&peer, c->peer_ip, sizeof(c->peer_ip));
        cg_http_parser_init(&c->parser, 1, &c->head, NULL);
        cg_list_init(&c->defer.link);
        if (cg_io_start(loop, &c->io, fd, conn_on_io)) {
            close(fd);
            cg_buf_free(&c->in);
            free(c);
            continue;
        }
        cg_list_insert_tail(&w->conns, &c->link);
        w->stats.cx_total++;
        w->stats.cx_active++;
        /* the first request must arrive within the header timeout */
        c->timer.cb = NULL;
        cg_timer_start(loop, &c->timer, w->settings->header_timeout_ms, idle_timeout);
    }
}

void cg_proxy__close_all(cg_worker_t *w)
{
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &w->conns) conn_close(cg_container_of(pos, conn_t, link));
    for (size_t i = 0; i < w->buckets.len; i++) {
        cg_pool_bucket_t *b = w->buckets.items[i];
        cg_list_foreach_safe(pos, tmp, &b->idle) up_free(cg_container_of(pos, up_t, link));
    }
}

void cg_proxy__pools_sweep(cg_worker_t *w)
{
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &w->free_conns)
    {
        conn_t *c = cg_container_of(pos, conn_t, link);
        cg_list_unlink(pos);
        cg_buf_free(&c->in);
        free(c);
    }
    cg_list_foreach_safe(pos, tmp, &w->free_ups)
    {
        up_t *u = cg_container_of(pos, up_t, link);
        cg_list_unlink(pos);
        cg_buf_free(&u->in);
        free(u);
    }
    for (size_t i = 0; i < w->buckets.len; i++) free(w->buckets.items[i]);
    cg_vec_free(&w->buckets);
    w->stats.pool_conns = w->stats.pool_upstreams = 0;
}
