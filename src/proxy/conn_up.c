/* Upstream connections and their per-endpoint pools, and the attempts a request makes on them:
 * picking an endpoint, connecting or reusing, the per-try and route timeouts, retries within
 * the policy and the budget, and the failure answers when no attempt succeeds. */
#include "core/log.h"
#include "core/sock.h"
#include "http/forward.h"
#include "lb/health.h"
#include "proxy/balancer.h"
#include "proxy/conn_int.h"

#include <string.h>
#include <unistd.h>

/* ---------- config holds ---------- */

static void hold_release(cg_worker_t *w, cg_cfg_hold_t *h)
{
    if (--h->users == 0 && h != w->cur) {
        cg_list_unlink(&h->link);
        cg_proxy_config_unref(h->cfg);
        free(h);
    }
}

/* ---------- upstream connections ---------- */

static void up_recycle(cg_loop_t *loop, cg_defer_t *d)
{
    up_t *u = cg_container_of(d, up_t, defer);
    pool_put(&u->w->free_ups, &u->w->stats.pool_upstreams, &u->link, &u->in, u);
}

/* Closes an upstream connection. Its memory is reused or freed only after the current batch
 * of events: a later event of the batch may still name it (cg_io_stop cleared its callback,
 * so the loop skips that event), and it must not be handed to another request before then. */
void cg_proxy__up_free(up_t *u)
{
    cg_worker_t *w = u->w;
    if (u->io.fd >= 0) {
        cg_io_stop(&w->loop, &u->io);
        cg_xport_close(&u->xp);
        u->io.fd = -1;
        w->stats.up_cx_active--;
    }
    cg_timer_stop(&w->loop, &u->timer);
    if (cg_list_linked(&u->link)) {
        cg_list_unlink(&u->link);
        if (u->bucket) u->bucket->nidle--;
    }
    if (u->bucket) u->bucket->users--;
    u->conn = NULL;
    u->bucket = NULL;
    cg_defer(&w->loop, &u->defer, up_recycle);
}

/* A pool bucket's key: the endpoint's address and its transport's opener, mixed word by word
 * (a multiply-xorshift per 8 bytes; once per upstream acquire). */
static uint64_t bucket_hash(const cg_addr_t *a, const cg_xport_opener_t *o)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ a->len;
    const unsigned char *p = (const unsigned char *)&a->u;
    for (size_t i = 0; i < a->len; i += 8) {
        uint64_t w = 0;
        memcpy(&w, p + i, a->len - i < 8 ? a->len - i : 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 33;
    }
    h = (h ^ (uint64_t)(uintptr_t)o->open) * 0xc4ceb9fe1a85ec53ull;
    h = (h ^ (uint64_t)(uintptr_t)o->ctx) * 0xff51afd7ed558ccdull;
    return h ^ (h >> 29);
}

static void bucket_slot_put(cg_worker_t *w, cg_pool_bucket_t *b)
{
    size_t i = b->hash & (w->bucket_cap - 1);
    while (w->bucket_slots[i]) i = (i + 1) & (w->bucket_cap - 1);
    w->bucket_slots[i] = b;
}

/* The pool of (address, transport), made if new: O(1), whatever the number of endpoints. */
static cg_pool_bucket_t *bucket_for(cg_worker_t *w, const cg_addr_t *a, const cg_xport_opener_t *o)
{
    uint64_t h = bucket_hash(a, o);
    for (size_t i = h & (w->bucket_cap - 1); w->bucket_cap && w->bucket_slots[i];
         i = (i + 1) & (w->bucket_cap - 1)) {
        cg_pool_bucket_t *b = w->bucket_slots[i];
        if (b->hash == h && cg_addr_eq(&b->addr, a) && cg_xport_opener_eq(&b->xopen, o)) return b;
    }
    cg_pool_bucket_t *b = cg_xcalloc(1, sizeof(*b));
    b->hash = h;
    b->addr = *a;
    b->xopen = *o;
    cg_list_init(&b->idle);
    if (2 * (w->buckets.len + 1) > w->bucket_cap) {
        /* the table is full: first let go of the pools nothing uses any more (endpoints gone
         * with a config, or idle past their timeout), so the table follows the live endpoints
         * rather than every endpoint ever seen; it grows only if the live ones need it */
        size_t keep = 0;
        for (size_t i = 0; i < w->buckets.len; i++) {
            cg_pool_bucket_t *old = w->buckets.items[i];
            if (old->users)
                w->buckets.items[keep++] = old;
            else
                free(old);
        }
        w->stats.pool_buckets_pruned += w->buckets.len - keep;
        w->buckets.len = keep;
        size_t cap = w->bucket_cap ? w->bucket_cap : 64;
        while (2 * (w->buckets.len + 1) > cap) cap *= 2;
        free(w->bucket_slots);
        w->bucket_cap = cap;
        w->bucket_slots = cg_xcalloc(w->bucket_cap, sizeof(*w->bucket_slots));
        for (size_t i = 0; i < w->buckets.len; i++) bucket_slot_put(w, w->buckets.items[i]);
    }
    cg_vec_push(&w->buckets, b);
    bucket_slot_put(w, b);
    return b;
}

/* The pool's idle timeout, lazy: the timer is not stopped when a request takes the connection
 * nor moved when it comes back (two heap operations a request). When it fires: in use, it is
 * done (the next release arms it again); pooled for less than the timeout, it is armed for what
 * is left; else the connection is closed. */
static void up_idle_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    up_t *u = cg_container_of(t, up_t, timer);
    if (u->conn) return;
    uint64_t idle = loop->now_ms - u->idle_ms, limit = u->w->settings->upstream_idle_ms;
    if (idle < limit) {
        cg_timer_start(loop, t, limit - idle, up_idle_timeout);
        return;
    }
    cg_proxy__up_free(u);
}

static void up_connect_timeout(cg_loop_t *loop, cg_timer_t *t);

static up_t *up_alloc(cg_worker_t *w)
{
    up_t *u = POOL_TAKE(&w->free_ups, &w->stats.pool_upstreams, up_t, sizeof(up_t));
    cg_list_init(&u->link);
    cg_list_init(&u->defer.link);
    u->w = w;
    u->io.fd = u->xp.fd = -1;
    return u;
}

/* Takes a pooled connection to the endpoint, or starts a new one. */
static up_t *up_acquire(conn_t *c, const cg_endpoint_t *ep, int fresh, int *err)
{
    cg_worker_t *w = c->w;
    cg_pool_bucket_t *b = bucket_for(w, &ep->addr, &ep->xopen);
    up_t *u;
    if (!fresh && !cg_list_empty(&b->idle)) {
        u = cg_container_of(b->idle.next, up_t, link);
        cg_list_unlink(&u->link);
        b->nidle--;
        /* its idle timer stays armed (up_idle_timeout) */
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
        /* as downstream: only a transport with state of its own (TLS) shakes hands */
        if ((*err = cg_xport_open(&ep->xopen, &u->xp, fd)) != 0 ||
            (*err = cg_io_start(&w->loop, &u->io, fd, cg_proxy__up_on_io)) != 0) {
            cg_xport_close(&u->xp);
            u->io.fd = -1;
            cg_proxy__up_free(u);
            if (*err == CG_ESYS || *err == CG_ENOMEM) *err = CG_ENORES; /* out of room */
            return NULL;
        }
        u->handshaking = u->xp.impl != NULL;
        w->stats.up_cx_total++;
        w->stats.up_cx_active++;
        __atomic_fetch_add(&ep->stats->cx_total, 1, __ATOMIC_RELAXED);
        cg_timer_start(&w->loop, &u->timer, c->ex->route->dest->connect_timeout_ms,
                       up_connect_timeout);
    }
    if (u->bucket != b) b->users++; /* a new connection (a pooled one is counted already) */
    u->bucket = b;
    u->conn = c;
    u->stats = ep->stats;
    u->parsed = 0;
    u->got_bytes = u->head_done = u->body_announced = 0;
    cg_buf_reset(&u->in);
    cg_http_out_reset(&u->out);
    cg_http_parser_init(&u->parser, 0, &u->head, NULL);
    u->parser.skip_body = c->ex->head.method == HTTP_HEAD;
    u->parser.upgrade_ok = c->ex->ws;
    return u;
}

/* Finishes with the request's upstream: back to the pool when it can carry another request. */
void cg_proxy__up_release(conn_t *c, int reusable)
{
    up_t *u = c->ex->up;
    if (!u) return;
    c->ex->up = NULL;
    u->conn = NULL;
    cg_worker_t *w = u->w;
    if (reusable && !u->eof && !u->rdhup && u->connected && !(draining(c->w)) &&
        !u->body_announced && (u->head.flags & CG_HTTP_F_KEEPALIVE) && u->parsed == u->in.len &&
        !cg_xport_holds(&u->xp) && u->bucket->nidle < w->settings->max_idle_per_ep) {
        cg_buf_reset(&u->in);
        cg_list_insert_head(&u->bucket->idle, &u->link);
        u->bucket->nidle++;
        u->idle_ms = w->loop.now_ms;
        if (!cg_timer_active(&u->timer))
            cg_timer_start(&w->loop, &u->timer, w->settings->upstream_idle_ms, up_idle_timeout);
        return;
    }
    cg_proxy__up_free(u);
}

/* ---------- request start ---------- */

static int build_upstream_head(conn_t *c, up_t *u)
{
    cg_http_fwd_req_t f = {
        /* the connection outlives the write: its fields are slices, not copies */
        .peer_ip = cg_iov(c->peer_ip, c->peer_ip_len),
        .request_id = c->ex->rid_generated ? cg_iov(c->ex->rid, 36) : CG_IOV_NULL,
        .hops = (unsigned)c->ex->hops + 1,
        .drop_expect = (c->ex->head.flags & CG_HTTP_F_EXPECT_CONTINUE) != 0,
        .https = c->tls_set != NULL,
        /* an HTTP/1.0 request may come without Host; it goes on as 1.1, which needs one: the
         * endpoint's address, as nginx's proxy_set_header Host $proxy_host */
        .default_host = c->ex->ep ? cg_iov_str(c->ex->ep->name) : CG_IOV_NULL,
        .host = c->ex->ep && c->ex->ep->host ? cg_iov_str(c->ex->ep->host) : CG_IOV_NULL,
        .upgrade = c->ex->ws,
    };
    return cg_http_forward_request_head(&u->out, &c->ex->head, c->in.base, &f);
}

/* Ends the current attempt's bookkeeping (retry budget) and drops its upstream connection. */
void cg_proxy__attempt_end(conn_t *c, int reusable)
{
    cg_timer_stop(&c->w->loop, &c->ex->try_timer);
    if (c->ex->retry_counted) {
        c->ex->route->dest->ws[c->w->id].retries--;
        c->ex->retry_counted = 0;
    }
    if (c->ex->up) cg_proxy__up_release(c, reusable);
}

/* Lets go of everything a request holds: its attempt, its place in the retry budget, its
 * config. */
void cg_proxy__request_release(conn_t *c, int reusable)
{
    if (c->ex->route)
        cg_proxy__attempt_end(c, reusable);
    else if (c->ex->up)
        cg_proxy__up_release(c, reusable);
    if (c->ex->dest_counted) {
        c->ex->route->dest->ws[c->w->id].active--;
        c->ex->dest_counted = 0;
    }
    if (c->ex->hold) {
        hold_release(c->w, c->ex->hold);
        c->ex->hold = NULL;
    }
}

/* Is the request stalled on its client, so that a timeout is the client's fault? */
static int waiting_on_client(const conn_t *c)
{
    if (c->ex->phase == X_BACKOFF || c->ex->phase == X_BUDGET) return 0; /* we wait to retry */
    /* still owed its body, and nothing of it queued for the upstream (else the upstream is the
     * one not keeping up) */
    if (!c->ex->req_done && !(c->ex->up && cg_http_out_pending(&c->ex->up->out))) return 1;
    /* the response streams, and the client is not reading it */
    return resp_started(c->ex) && cg_http_out_pending(&c->ex->out);
}

/* A timeout while the client owes us its body is the client's fault: 408, and nothing counted
 * against the endpoint (a trickling client must not get healthy upstreams ejected). */
static void client_timeout(conn_t *c, const char *why)
{
    c->w->stats.rq_client_timeout++;
    cg_proxy__attempt_end(c, 0);
    if (resp_started(c->ex)) {
        cg_proxy__conn_close(c);
        return;
    }
    cg_proxy__local_reply(c, 408, CG_RF_SI, why, 1);
    cg_proxy__conn_run(c);
}

void cg_proxy__rq_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    exchange_t *x = cg_container_of(t, exchange_t, rq_timer);
    if (!x->rq_due_ms) return; /* the request ended (the exchange may be pooled) */
    if (loop->now_ms < x->rq_due_ms) {
        cg_timer_start(loop, t, x->rq_due_ms - loop->now_ms, cg_proxy__rq_timeout);
        return;
    }
    x->rq_due_ms = 0;
    conn_t *c = x->c;
    if (waiting_on_client(c)) {
        client_timeout(c, "request body timeout");
        return;
    }
    c->ex->flags |= CG_RF_UT;
    if (c->ex->up && c->ex->ep) {
        __atomic_fetch_add(&c->ex->ep->stats->rq_error, 1, __ATOMIC_RELAXED);
        cg_proxy_balancer_result(c->ex->route->dest, c->ex->ep, 0, loop->now_ms);
    }
    cg_proxy__attempt_end(c, 0);
    if (resp_started(c->ex)) {
        cg_proxy__conn_close(c);
        return;
    }
    cg_proxy__local_reply(c, 504, 0, "upstream request timeout", 1);
    cg_proxy__conn_run(c);
}

/* No request body byte for body_timeout_ms while one was due. */
void cg_proxy__body_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, timer);
    if (c->state != S_UPSTREAM || c->ex->req_done) return;
    if (!waiting_on_client(c)) { /* the upstream is the one not reading: not the client's stall */
        cg_timer_start(loop, &c->timer, c->w->settings->body_timeout_ms, cg_proxy__body_timeout);
        return;
    }
    client_timeout(c, "request body timeout");
}

/* May the request go again after a failure of kind `what` (CG_RETRY_ON_*, 0 for a plain
 * status) with `status` (0: no response)? */
static int can_retry(conn_t *c, uint32_t what, int status)
{
    const cg_lb_retry_cfg_t *rc = &c->ex->route->dest->policy->retry;
    if (resp_started(c->ex) || (uint32_t)(c->ex->ntried - 1) >= rc->attempts ||
        c->ex->ntried >= CG_MAX_TRIES)
        return 0;
    if (!cg_lb_retry_matches(rc->retry_on, what, status)) return 0;
    /* a WebSocket handshake that reached the upstream is not sent again (as Envoy) */
    if (c->ex->ws && what != CG_RETRY_ON_CONNECT_FAILURE) return 0;
    /* the body must still be whole in our buffer to be sent again */
    if ((c->ex->head.flags & CG_HTTP_F_HAS_BODY) && !c->ex->body_retained) return 0;
    /* a request that reached the upstream is replayed only when replaying is harmless */
    if (what != CG_RETRY_ON_CONNECT_FAILURE && !cg_lb_retry_idempotent(c->ex->head.method))
        return 0;
    return 1;
}

/* Has this worker's retry budget for the request's destination a slot for one more retry? */
static int budget_has_slot(const conn_t *c)
{
    const cg_dest_t *d = c->ex->route->dest;
    const cg_dest_wstate_t *ws = &d->ws[c->w->id];
    const cg_lb_retry_cfg_t *rc = &d->policy->retry;
    return cg_lb_retry_budget_allows(ws->active, ws->retries, rc->budget_percent, rc->budget_min);
}

/* Does the policy allow another attempt (flags URX when not), and has the budget a slot now? */
int cg_proxy__retry_allowed(conn_t *c, uint32_t what, int status)
{
    if (!can_retry(c, what, status)) {
        if (c->ex->ntried > 1) c->ex->flags |= CG_RF_URX;
        return CG_RETRY_NO;
    }
    return budget_has_slot(c) ? CG_RETRY_GO : CG_RETRY_WAIT;
}

/* How often a retry waiting on the budget looks again. */
#define RETRY_WAIT_TICK_MS 5

/* The budget caps retries in flight, not retries wanted: in a burst of failures (an ingress
 * that fails slowly, then every request's retry to a cold pool at once) a retry waits a little
 * for a slot rather than failing at once, and still never exceeds the cap. */
void cg_proxy__retry_wait(conn_t *c, int status, uint32_t flag, const char *body)
{
    exchange_t *x = c->ex;
    x->phase = X_BUDGET;
    x->retry_deadline_ms = c->w->loop.now_ms + x->route->dest->policy->retry.backoff_max_ms;
    x->wait_status = (uint16_t)status;
    x->wait_flag = flag;
    x->wait_body = body;
    c->state = S_UPSTREAM;
    cg_timer_start(&c->w->loop, &x->try_timer, RETRY_WAIT_TICK_MS, cg_proxy__try_timeout);
}

/* A waiting retry's tick: go if the budget has a slot now, give up at the deadline. */
static void retry_wait_tick(conn_t *c)
{
    exchange_t *x = c->ex;
    if (budget_has_slot(c)) {
        cg_proxy__retry_start(c);
    } else if (c->w->loop.now_ms >= x->retry_deadline_ms) {
        cg_proxy__local_reply(c, x->wait_status, x->wait_flag | CG_RF_UO, x->wait_body, 0);
    } else {
        cg_timer_start(&c->w->loop, &x->try_timer, RETRY_WAIT_TICK_MS, cg_proxy__try_timeout);
    }
}

/* Starts the next attempt (after cg_proxy__retry_allowed said yes), counted against the budget. */
void cg_proxy__retry_start(conn_t *c)
{
    cg_dest_wstate_t *ws = &c->ex->route->dest->ws[c->w->id];
    ws->retries++;
    c->ex->retry_counted = 1;
    c->w->stats.rq_retry++;
    cg_proxy__start_attempt(c);
}

/* The current attempt failed before a response reached the client. */
void cg_proxy__attempt_failed(conn_t *c, uint32_t what, uint32_t flag, int local_status,
                              const char *body)
{
    up_t *u = c->ex->up;
    if (u && u->reused && !u->got_bytes && !c->ex->retried_fresh && what == CG_RETRY_ON_RESET &&
        !(c->ex->head.flags & CG_HTTP_F_HAS_BODY) && cg_lb_retry_idempotent(c->ex->head.method) &&
        !resp_started(c->ex)) {
        /* a pooled connection the upstream had already closed: once more on a new one, not
         * counted against the endpoint or the retry policy */
        c->ex->retried_fresh = 1;
        c->ex->ntried--;
        cg_proxy__attempt_end(c, 0);
        cg_proxy__start_attempt(c);
        return;
    }
    if (c->ex->ep) {
        if (what == CG_RETRY_ON_CONNECT_FAILURE)
            __atomic_fetch_add(&c->ex->ep->stats->cx_connect_fail, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&c->ex->ep->stats->rq_error, 1, __ATOMIC_RELAXED);
        cg_proxy_balancer_result(c->ex->route->dest, c->ex->ep, 0, c->w->loop.now_ms);
    }
    cg_proxy__attempt_end(c, 0);
    int r = cg_proxy__retry_allowed(c, what, 0);
    if (r == CG_RETRY_GO) {
        cg_proxy__retry_start(c);
        return;
    }
    if (r == CG_RETRY_WAIT) {
        cg_proxy__retry_wait(c, local_status, flag, body);
        return;
    }
    if (resp_started(c->ex)) {
        c->ex->flags |= flag;
        cg_proxy__conn_close(c);
        return;
    }
    cg_proxy__local_reply(c, local_status, flag, body, 0);
}

static void up_connect_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    up_t *u = cg_container_of(t, up_t, timer);
    conn_t *c = u->conn;
    if (!c) {
        cg_proxy__up_free(u);
        return;
    }
    c->w->stats.up_cx_connect_fail++;
    cg_proxy__attempt_failed(c, CG_RETRY_ON_CONNECT_FAILURE, CG_RF_UF, 503, BODY_CONNECT_FAILURE);
    cg_proxy__conn_run(c);
}

void cg_proxy__try_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, exchange_t, try_timer)->c;
    if (c->ex->phase == X_BUDGET) {
        retry_wait_tick(c);
    } else if (c->ex->phase == X_BACKOFF) { /* the back-off before repeating an endpoint is over */
        cg_proxy__start_attempt(c);
    } else {
        cg_proxy__attempt_failed(c, CG_RETRY_ON_PER_TRY_TIMEOUT, CG_RF_UT, 504,
                                 "upstream request timeout");
    }
    cg_proxy__conn_run(c);
}

/* Rewinds the request parser so the body is sent again from the start of the buffer. */
static void rewind_request(conn_t *c)
{
    size_t p = 0;
    cg_http_parser_next(&c->ex->parser);
    cg_http_parse_head(&c->ex->parser, c->in.base, c->ex->head_len, &p);
    c->ex->parsed = c->ex->head_len;
    c->ex->req_done = !(c->ex->head.flags & CG_HTTP_F_HAS_BODY);
}

void cg_proxy__start_attempt(conn_t *c)
{
    cg_worker_t *w = c->w;
    cg_dest_t *d = c->ex->route->dest;
    cg_pick_t pk = cg_proxy_balancer_pick(d, w->id, c->ex->tried, c->ex->ntried, c->ex->wcluster,
                                          w->loop.now_ms, rng_next(w));
    if (c->ex->ntried == 0) c->ex->wcluster = (int32_t)pk.cluster;
    if (pk.endpoint < 0) {
        cg_proxy__attempt_end(c, 0);
        cg_proxy__local_reply(c, 503, CG_RF_UH, "no healthy upstream", 0);
        return;
    }
    if (pk.repeat && !c->ex->backoff_done) {
        /* the same endpoint again: wait a jittered back-off first */
        const cg_lb_retry_cfg_t *rc = &d->policy->retry;
        uint32_t ms = cg_lb_retry_backoff_ms(c->ex->ntried, rc->backoff_base_ms, rc->backoff_max_ms,
                                             rng_next(w));
        c->ex->backoff_done = 1;
        if (ms) {
            c->ex->phase = X_BACKOFF;
            c->state = S_UPSTREAM;
            cg_timer_start(&w->loop, &c->ex->try_timer, ms, cg_proxy__try_timeout);
            return;
        }
    }
    c->ex->backoff_done = 0;
    const cg_endpoint_t *ep = &d->endpoints[pk.endpoint];
    c->ex->ep = ep;
    c->ex->tried[c->ex->ntried++] = (uint32_t)pk.endpoint;
    if (c->ex->ntried > 1 || c->ex->retried_fresh) rewind_request(c);
    int err = 0;
    up_t *u = up_acquire(c, ep, c->ex->retried_fresh, &err);
    if (!u && cg_err_local_shortage(err)) {
        /* our own shortage (fds, memory), not the endpoint's: no attempt, no ejection */
        c->ex->ntried--;
        c->ex->ep = NULL;
        w->stats.rq_local_exhausted++;
        cg_proxy__attempt_end(c, 0);
        cg_proxy__local_reply(c, 503, CG_RF_OM, "local resources exhausted", 0);
        return;
    }
    if (!u) {
        cg_proxy__attempt_failed(c, CG_RETRY_ON_CONNECT_FAILURE, CG_RF_UF, 503,
                                 BODY_CONNECT_FAILURE);
        return;
    }
    c->ex->up = u;
    __atomic_fetch_add(&ep->stats->rq_total, 1, __ATOMIC_RELAXED);
    c->ex->up_start_us = w->loop.now_us;
    if (build_upstream_head(c, u)) {
        /* nothing was written: a pooled connection goes back to the pool unharmed */
        cg_proxy__attempt_end(c, 1);
        cg_proxy__local_reply(c, 431, 0, "request header too large to forward", 1);
        return;
    }
    c->ex->phase = u->connected && !u->handshaking ? X_SEND : X_CONNECT;
    start_try_timer(c);
    if (!c->ex->req_done)
        cg_timer_start(&w->loop, &c->timer, w->settings->body_timeout_ms, cg_proxy__body_timeout);
    c->state = S_UPSTREAM;
}

void cg_proxy__up_on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    up_t *u = cg_container_of(io, up_t, io);
    conn_t *c = u->conn;
    if (!c) {
        /* pooled: input or hang-up means the upstream closed or misbehaved; EPOLLOUT edges
         * keep coming as earlier writes are acknowledged and mean nothing here */
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) cg_proxy__up_free(u);
        return;
    }
    cg_xport_ready_events(&u->rdy, events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR),
                          events & (EPOLLOUT | EPOLLERR | EPOLLHUP));
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) u->rdhup = 1;
    if (!u->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        int err = cg_sock_error(io->fd);
        if (err || (events & EPOLLERR)) {
            c->w->stats.up_cx_connect_fail++;
            cg_proxy__attempt_failed(c, CG_RETRY_ON_CONNECT_FAILURE, CG_RF_UF, 503,
                                     BODY_CONNECT_FAILURE);
            cg_proxy__conn_run(c);
            return;
        }
        u->connected = 1;
        /* the connect timeout bounds a handshake too: stopped once that is done (conn.c) */
        if (!u->handshaking) {
            cg_timer_stop(loop, &u->timer);
            if (c->ex->phase == X_CONNECT) c->ex->phase = X_SEND;
        }
    }
    cg_proxy__conn_run(c);
}
