/* The request path: downstream connections (accepting, reading heads, finishing requests) and
 * the pumps that move heads and bodies between them and their upstreams with backpressure.
 * Upstream connections, pools and attempts are in conn_up.c; local answers in conn_reply.c.
 *
 * Buffers. A downstream connection reads into `in`; the request head stays at its front for
 * the whole request (routing, logging and forwarding slice it), body bytes follow it and are
 * released once written upstream. Upstream responses are read into the upstream's `in` and
 * released once written downstream. Nothing is read while the bytes queued from a buffer are
 * not yet written: that is the backpressure, and it bounds memory per connection.
 *
 * Events are edge-triggered: each side remembers whether its next read and write may make
 * progress (cg_xport_ready_t, core/transport.h) until one says CG_EAGAIN, and then which readiness
 * its transport wants, and cg_proxy__conn_run() makes every progress it can on both sides of one
 * request. All bytes go through each side's transport (cg_xport_t): plain TCP or TLS.
 */
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/sock.h"
#include "http/forward.h"
#include "http/parser.h"
#include "proxy/accesslog.h"
#include "proxy/conn_int.h"
#include "proxy/router.h"
#include "proxy/worker.h"
#include "tls/tls.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Passes of cg_proxy__conn_run over one connection per event before it yields to the others
 * (the work left is picked up on the next turn: see the end of that function). */
#define CONN_RUN_MAX_SPINS 256
/* Request body bytes read ahead of the upstream when none are kept for a retry. */
#define BODY_WINDOW (4 * READ_CHUNK)
/* Loop guard: a request that crossed this many gateways is in a loop. */
#define CG_MAX_HOPS 8

static void finish_request(conn_t *c);
static void header_timeout(cg_loop_t *loop, cg_timer_t *t);
static void idle_timeout(cg_loop_t *loop, cg_timer_t *t);
static void accept_resume(cg_loop_t *loop, cg_timer_t *t);

enum { PAUSE_NONE, PAUSE_FDS, PAUSE_MAX_CONNS }; /* why accepting is paused */

static const cg_xport_opener_t tcp_opener; /* zeroed: plain TCP */

/* ---------- small helpers ---------- */

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

/* Reads through x into b (growing it to keep at least READ_CHUNK free, within limit). Returns
 * bytes read, 0 on EOF, CG_EAGAIN, CG_ELIMIT when the buffer is at its limit, or an error.
 * Keeps r: a read that said CG_EAGAIN waits for what the transport wants, one that drained the
 * stream for the next readable edge (cg_xport_ready_after_read, with its rdhup exception). */
static ssize_t read_into(cg_xport_t *x, cg_xport_ready_t *r, cg_buf_t *b, size_t limit, int rdhup)
{
    if (b->len >= limit) return CG_ELIMIT;
    size_t want = READ_CHUNK;
    if (b->cap - b->len < want && cg_buf_reserve(b, want)) return CG_ENOMEM;
    size_t room = b->cap - b->len;
    if (room > limit - b->len) room = limit - b->len;
    ssize_t n = cg_xport_read(x, b->base + b->len, room);
    if (n > 0) {
        b->len += (size_t)n;
        cg_xport_ready_after_read(r, x, (size_t)n, room, rdhup);
    } else if (n == CG_EAGAIN) {
        cg_xport_ready_read_blocked(r, x);
    }
    return n;
}

/* Drops [from, to) of a buffer whose data starts at base (off == 0), keeping what follows. */
static void buf_cut(cg_buf_t *b, size_t from, size_t to)
{
    if (to < b->len) memmove(b->base + from, b->base + to, b->len - to);
    b->len -= to - from;
}

/* ---------- exchanges ---------- */

/* Gives the connection a fresh exchange for its next request: 0, or CG_ENOMEM. */
static int exchange_take(conn_t *c)
{
    cg_worker_t *w = c->w;
    exchange_t *x;
    if (!cg_list_empty(&w->free_exchanges)) {
        x = cg_container_of(w->free_exchanges.next, exchange_t, link);
        cg_list_unlink(&x->link);
        w->stats.pool_exchanges--;
        memset(&x->parsed, 0, offsetof(exchange_t, rid) - offsetof(exchange_t, parsed));
        cg_http_out_reset(&x->out);
        x->out.total = 0;
    } else if (!(x = calloc(1, sizeof(*x)))) {
        return CG_ENOMEM;
    }
    x->c = c;
    x->upstream_ms = -1;
    cg_http_head_reset(&x->head);
    cg_http_parser_init(&x->parser, 1, &x->head, NULL);
    c->ex = x;
    return 0;
}

/* The request is over: its exchange goes back to the worker (its timers stopped). */
static void exchange_put(conn_t *c)
{
    exchange_t *x = c->ex;
    if (!x) return;
    cg_worker_t *w = c->w;
    c->ex = NULL;
    rq_timer_end(x); /* its timer may stay armed while the exchange is pooled */
    cg_timer_stop(&w->loop, &x->try_timer);
    if (w->stats.pool_exchanges < FREE_LIST_MAX) {
        cg_list_insert_head(&w->free_exchanges, &x->link);
        w->stats.pool_exchanges++;
    } else {
        cg_timer_stop(&w->loop, &x->rq_timer);
        free(x);
    }
}

/* ---------- request start ---------- */

/* The request's Host selects vh, served by another TLS server than the one the handshake chose
 * by SNI (or, without SNI, the first): its certificate does not vouch for that host, so the
 * client must ask again on a connection of its own (421, as Envoy and nginx). */
static int misdirected(const conn_t *c, const cg_listener_cfg_t *l, const cg_vhost_t *vh)
{
    const cg_tls_servers_t *now = cg_proxy_tls_servers(l);
    if (!now) return 0; /* the port is plain text since a reload: no server to compare */
    cg_xport_t *xp = conn_tls_xport((conn_t *)c);
    if (now == c->tls_set) return vh->tls_index != cg_tls_server_index(xp);
    /* accepted under an older config: the index names a server of its set, not of this one;
     * choose again by the name the client sent, as the handshake did (exact, wildcard, first) */
    const char *sni = cg_tls_sni(xp);
    const cg_vhost_t *by_sni = sni ? cg_proxy_route_vhost(l, cg_iov_str(sni)) : NULL;
    return vh->tls_index != (by_sni ? by_sni->tls_index : 0);
}

static void on_request_head(conn_t *c)
{
    cg_worker_t *w = c->w;
    cg_http_head_t *h = &c->ex->head;
    const char *b = c->in.base;
    cg_timer_stop(&w->loop, &c->timer);
    if (!w->cur || !cg_proxy_config_listener(w->cur->cfg, c->port)) {
        /* a config change removed the listener that accepted this keep-alive connection:
         * close it unanswered, as a server closes an idle connection, so the client (an edge
         * reusing a pooled connection) sends again on a new one rather than taking a 404 */
        cg_proxy__conn_close(c);
        return;
    }
    c->ex->hold = w->cur;
    c->ex->hold->users++;
    w->stats.rq_total++;
    w->stats.rq_active++;
    c->ex->req_done = !(h->flags & CG_HTTP_F_HAS_BODY);
    if (!(h->flags & CG_HTTP_F_KEEPALIVE)) c->close_after = 1;

    cg_http_request_target(h, b, &c->ex->authority, &c->ex->path);
    c->ex->ws = (uint8_t)cg_http_is_websocket(h, b);
    if (h->rid_idx >= 0 && h->headers[h->rid_idx].value.len) {
        c->ex->rid_generated = 0;
    } else {
        make_request_id(w, c->ex->rid);
        c->ex->rid_generated = 1;
    }
    if (h->http_minor == 1 && h->host_idx < 0) {
        cg_proxy__local_reply(c, 400, CG_RF_DPE, "missing host header", 1);
        return;
    }
    if (h->method == HTTP_CONNECT) {
        cg_proxy__local_reply(c, 405, 0, "CONNECT is not supported", 1);
        return;
    }
    if (cg_iov_eq(c->ex->path, CG_IOV_LIT(CG_HEALTHZ_PATH)) &&
        (h->method == HTTP_GET || h->method == HTTP_HEAD)) {
        /* every gateway answers its health check on every listener */
        cg_proxy__local_reply(c, draining(w) ? 503 : 200, 0, draining(w) ? "draining\n" : "ok\n",
                              0);
        return;
    }
    unsigned hops = cg_http_head_hops(h, b);
    if (hops >= CG_MAX_HOPS) {
        cg_proxy__local_reply(c, 508, 0, "loop detected: too many gateway hops\n", 1);
        return;
    }
    c->ex->hops = (uint16_t)hops;
    if ((h->flags & CG_HTTP_F_CHUNKED) &&
        cg_http_parser_check_body(&c->ex->parser, b, c->in.len, c->ex->head_len)) {
        /* what already arrived of the body is malformed: refuse it before anything goes on */
        cg_proxy__local_reply(c, c->ex->parser.error_status, CG_RF_DPE, c->ex->parser.error_reason,
                              1);
        return;
    }
    const cg_listener_cfg_t *l = cg_proxy_config_listener(c->ex->hold->cfg, c->port);
    const cg_vhost_t *vh = l ? cg_proxy_route_vhost(l, c->ex->authority) : NULL;
    if (!vh && l && l->mesh) {
        /* the mesh port: a gateway sent a host this one does not serve (its Gateway was just
         * deleted, say, and the edge has not heard yet). Closed unanswered, as a port without
         * that Gateway would refuse the connection, so the edge tries another cluster rather
         * than passing a 404 on. */
        c->ex->flags |= CG_RF_NR;
        cg_proxy__conn_close(c);
        return;
    }
    if (vh && c->tls_set && misdirected(c, l, vh)) {
        cg_proxy__local_reply(c, 421, 0, "misdirected request\n", 1);
        return;
    }
    const cg_route_t *rt = vh ? cg_proxy_route_match(vh, c->ex->path, h, b) : NULL;
    if (!rt) {
        cg_proxy__local_reply(c, 404, CG_RF_NR, NULL, 0);
        return;
    }
    c->ex->route = rt;
    switch (rt->action) {
    case CG_ACTION_DIRECT:
        cg_proxy__local_reply(c, rt->direct->status, 0, rt->direct->body, 0);
        return;
    case CG_ACTION_REDIRECT: cg_proxy__redirect_reply(c, rt->redirect); return;
    case CG_ACTION_ROUTE: break;
    }
    if (rt->timeout_ms) {
        exchange_t *x = c->ex;
        x->rq_due_ms = w->loop.now_ms + rt->timeout_ms;
        /* a timer left armed by an earlier request fires early (and is armed again), but not
         * late */
        if (!cg_timer_active(&x->rq_timer) || x->rq_timer.due_ms > x->rq_due_ms)
            cg_timer_start(&w->loop, &x->rq_timer, rt->timeout_ms, cg_proxy__rq_timeout);
    }
    rt->dest->ws[w->id].active++;
    c->ex->dest_counted = 1;
    c->ex->ntried = 0;
    c->ex->wcluster = -1;
    c->ex->body_retained = 1;
    cg_proxy__start_attempt(c);
}

/* ---------- response head ---------- */

static int build_response_head(conn_t *c, up_t *u)
{
    if (c->parent) return cg_proxy__h2_response_head(c, u);
    cg_http_head_t *h = &u->head;
    int chunked_out = 0;
    /* a body the client will get (not HEAD, 1xx, 204, 304), delimited by chunks or the close */
    if (cg_http_parser_has_body(&u->parser) &&
        (h->flags & (CG_HTTP_F_CHUNKED | CG_HTTP_F_EOF_BODY))) {
        if (c->ex->head.http_minor >= 1) {
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
    int r = cg_http_forward_response_head(&c->ex->out, h, u->in.base, chunked_out, c->close_after,
                                          c->ex->head.http_minor == 0);
    c->ex->resp_body_start = c->ex->out.total;
    return r;
}

/* ---------- the pump ---------- */

/* Writes what is queued when a write may make progress. Returns progress (1), 0, or an error.
 * A write that leaves bytes queued blocked: no write until the readiness the transport wants. */
static inline int flush_out(cg_http_out_t *o, cg_xport_t *x, cg_xport_ready_t *r)
{
    if (!cg_http_out_pending(o) || !r->wr) return 0;
    ssize_t n = cg_http_out_write(o, x);
    if (n == CG_EAGAIN) {
        cg_xport_ready_write_blocked(r, x);
        return 0;
    }
    if (n < 0) return (int)n;
    if (cg_http_out_pending(o)) cg_xport_ready_write_blocked(r, x);
    return 1;
}

static int flush_down(conn_t *c)
{
    /* idle: nothing to send; a stream's bytes leave through its data provider (h2.c) */
    return c->ex && !c->parent ? flush_out(&c->ex->out, &c->xp, &c->rdy) : 0;
}

static int flush_up(up_t *u)
{
    return u->connected && !u->handshaking ? flush_out(&u->out, &u->xp, &u->rdy) : 0;
}

/* Moves request body bytes from the client to the upstream. Returns progress (1), 0, or <0
 * when the client broke the request. */
static int pump_request_body(conn_t *c, up_t *u)
{
    if (c->ex->req_done || cg_http_out_pending(&u->out)) return 0;
    /* what was queued has been written: release it, keeping the head, unless it is kept
     * whole for a retry (up to the buffer limit) */
    if (c->ex->body_retained &&
        c->ex->parsed - c->ex->head_len > c->ex->route->dest->policy->retry.buffer_limit)
        c->ex->body_retained = 0;
    if (!c->ex->body_retained && c->ex->parsed > c->ex->head_len) {
        buf_cut(&c->in, c->ex->head_len, c->ex->parsed);
        c->ex->parsed = c->ex->head_len;
    }
    if ((c->ex->head.flags & CG_HTTP_F_EXPECT_CONTINUE) && !c->ex->continue_sent &&
        c->in.len == c->ex->head_len) {
        c->ex->continue_sent = 1;
        if (c->parent) /* an interim HEADERS frame: the stream's output is body bytes only */
            cg_proxy__h2_continue(c);
        else
            CG_HTTP_OUT_PUSH_LIT(&c->ex->out, CG_HTTP_100_CONTINUE);
        return 1;
    }
    int progress = 0;
    if (c->ex->parsed < c->in.len) {
        c->ex->parser.body_out =
            (c->ex->head.flags & CG_HTTP_F_CHUNKED) ? CG_BODY_OUT_CHUNKED : CG_BODY_OUT_LENGTH;
        int r = cg_http_parse_body(&c->ex->parser, c->in.base, c->in.len, &c->ex->parsed, &u->out);
        if (r == CG_EPARSE) return CG_EPARSE;
        if (r == 0) {
            c->ex->req_done = 1;
            cg_timer_stop(&c->w->loop, &c->timer);
            start_try_timer(c);
        }
        progress = 1;
        if (cg_http_out_pending(&u->out)) return 1;
    }
    if (c->ex->req_done || !c->rdy.rd) return progress;
    size_t keep = c->ex->body_retained ? c->ex->route->dest->policy->retry.buffer_limit : 0;
    ssize_t n = read_into(&c->xp, &c->rdy, &c->in,
                          c->ex->head_len + (keep > BODY_WINDOW ? keep : BODY_WINDOW) + READ_CHUNK,
                          c->rdhup);
    if (n == CG_EAGAIN) return progress;
    if (n == 0 || (n < 0 && n != CG_ELIMIT)) return CG_ECLOSED;
    if (n > 0)
        cg_timer_start(&c->w->loop, &c->timer, c->w->settings->body_timeout_ms,
                       cg_proxy__body_timeout);
    return 1;
}

/* ---------- WebSocket: the tunnel after a 101 ---------- */

/* Bytes read per direction before they are written on (the backpressure bound). */
#define TUNNEL_CHUNK (4 * READ_CHUNK)

static void tunnel_timeout(cg_loop_t *loop, cg_timer_t *t);

/* The upstream answered the handshake with 101: from here on the bytes of both sides are the
 * new protocol's, passed on as they come. The route timeout no longer applies; the idle timeout
 * does, restarted by every byte. Never pooled again. */
static int start_tunnel(conn_t *c, up_t *u)
{
    exchange_t *x = c->ex;
    cg_worker_t *w = c->w;
    rq_timer_end(x);
    cg_timer_stop(&w->loop, &x->try_timer);
    cg_proxy_balancer_result(x->route->dest, x->ep, 101, w->loop.now_ms);
    x->status = 101;
    x->upstream_ms = (int64_t)((w->loop.now_us - x->up_start_us) / 1000);
    if (cg_http_forward_upgrade_head(&x->out, &u->head, u->in.base)) return CG_EPARSE;
    x->resp_body_start = x->out.total;
    x->phase = X_TUNNEL;
    u->body_announced = 1; /* not HTTP any more: never back to the pool */
    c->close_after = 1;
    w->stats.upgrades_total++;
    w->stats.upgrades_active++;
    cg_timer_start(&w->loop, &c->timer, w->settings->idle_timeout_ms, tunnel_timeout);
    return 1;
}

/* Moves tunnel bytes both ways; each direction reads again only once what it read is written.
 * The client's bytes follow the request head in c->in (kept for the access log); the
 * upstream's are u->in, u->parsed of them queued. An end of either side is passed on as a
 * half-close once what it sent is written. Returns progress, or CG_ECLOSED when the tunnel is
 * over: both sides ended, or one failed. */
static int pump_tunnel(conn_t *c, up_t *u)
{
    exchange_t *x = c->ex;
    int progress = 0, r;
    if ((r = flush_up(u)) < 0) return CG_ECLOSED;
    progress |= r;
    if (!cg_http_out_pending(&u->out)) { /* client -> upstream */
        if (x->tun_queued) {
            buf_cut(&c->in, x->parsed, x->parsed + x->tun_queued);
            x->tun_queued = 0;
        }
        if (x->tun_closed) {
            /* the client ended its side, and all it sent is written: a half-close, passed on,
             * while the other direction goes on (a WebSocket closing handshake, a lingering
             * peer); the tunnel ends once both are done */
            if (!x->tun_up_shut) {
                x->tun_up_shut = 1;
                cg_xport_shutdown(&u->xp);
                progress = 1;
            }
        } else if (c->in.len > x->parsed) {
            size_t n = c->in.len - x->parsed;
            cg_http_out_reset(&u->out);
            if (cg_http_out_push(&u->out, c->in.base + x->parsed, n)) return CG_ECLOSED;
            x->tun_queued = n;
            x->tun_rx += n;
            progress = 1;
            if ((r = flush_up(u)) < 0) return CG_ECLOSED;
        } else if (c->rdy.rd) {
            ssize_t n = read_into(&c->xp, &c->rdy, &c->in, x->parsed + TUNNEL_CHUNK, c->rdhup);
            if (n == 0)
                x->tun_closed = 1;
            else if (n < 0 && n != CG_EAGAIN)
                return CG_ECLOSED;
            if (n != CG_EAGAIN) progress = 1;
        }
    }
    if (!cg_http_out_pending(&x->out)) { /* upstream -> client */
        if (u->parsed) {
            buf_cut(&u->in, 0, u->parsed);
            u->parsed = 0;
        }
        if (u->eof) {
            if (!x->tun_down_shut) { /* likewise, the upstream's end */
                x->tun_down_shut = 1;
                cg_xport_shutdown(&c->xp);
                progress = 1;
            }
        } else if (u->in.len) {
            cg_http_out_reset(&x->out);
            if (cg_http_out_push(&x->out, u->in.base, u->in.len)) return CG_ECLOSED;
            u->parsed = u->in.len;
            progress = 1;
        } else if (u->rdy.rd) {
            ssize_t n = read_into(&u->xp, &u->rdy, &u->in, TUNNEL_CHUNK, u->rdhup);
            if (n == 0)
                u->eof = 1;
            else if (n < 0 && n != CG_EAGAIN)
                return CG_ECLOSED;
            if (n != CG_EAGAIN) progress = 1;
        }
    }
    if (x->tun_up_shut && x->tun_down_shut) return CG_ECLOSED;
    if (progress)
        cg_timer_start(&c->w->loop, &c->timer, c->w->settings->idle_timeout_ms, tunnel_timeout);
    return progress;
}

/* The tunnel is over: both connections close, and the request is logged once, with the bytes
 * each way. */
static void end_tunnel(conn_t *c)
{
    cg_proxy__attempt_end(c, 0);
    c->ex->req_done = c->ex->resp_done = 1;
    c->close_after = 1;
    finish_request(c);
}

static void tunnel_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    end_tunnel(cg_container_of(t, conn_t, timer));
}

/* Moves the response from the upstream to the client. */
static int pump_response(conn_t *c, up_t *u)
{
    if (c->ex->resp_done || cg_http_out_pending(&c->ex->out)) return 0;
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
                u->parser.skip_body = c->ex->head.method == HTTP_HEAD;
                return 1;
            }
            if (r == CG_EAGAIN) goto Read;
            if (r < 0) return CG_EPARSE;
            if ((u->head.flags & CG_HTTP_F_CHUNKED) &&
                cg_http_parser_check_body(&u->parser, u->in.base, u->in.len, u->parsed))
                return CG_EPARSE; /* a malformed body already here: 502 rather than a cut-off 200 */
            u->head_done = 1;
            int st = u->head.status;
            if (st == 101) return start_tunnel(c, u); /* the parser allows it to handshakes only */
            /* the per-try timeout bounds the wait for a response head, not the client's pace */
            if (c->ex->phase != X_BACKOFF) cg_timer_stop(&c->w->loop, &c->ex->try_timer);
            if (!cg_http_parser_has_body(&u->parser) &&
                (u->head.content_length > 0 || (u->head.flags & CG_HTTP_F_CHUNKED)))
                u->body_announced = 1;
            cg_proxy_balancer_result(c->ex->route->dest, c->ex->ep, st, c->w->loop.now_ms);
            if (st >= 500) __atomic_fetch_add(&c->ex->ep->stats->rq_error, 1, __ATOMIC_RELAXED);
            if (st >= 500 || st == 409) {
                uint32_t what = st == 502   ? CG_RETRY_ON_502
                                : st == 503 ? CG_RETRY_ON_503
                                : st == 504 ? CG_RETRY_ON_504
                                            : 0;
                int go = cg_proxy__retry_allowed(c, what, st);
                if (go != CG_RETRY_NO) {
                    cg_proxy__attempt_end(c, 0); /* the rest of this response is not wanted */
                    if (go == CG_RETRY_GO)
                        cg_proxy__retry_start(c);
                    else /* if no slot comes, the client gets this status, flagged UO */
                        cg_proxy__retry_wait(c, st, 0, "upstream retry budget exhausted\n");
                    return 1;
                }
            }
            c->ex->status = u->head.status;
            c->ex->upstream_ms = (int64_t)((c->w->loop.now_us - c->ex->up_start_us) / 1000);
            if (build_response_head(c, u)) return CG_EPARSE;
            c->ex->phase = X_STREAM;
            if (u->parser.complete) {
                c->ex->resp_done = 1;
                return 1;
            }
            if (!cg_http_parser_has_body(&u->parser)) {
                c->ex->resp_done = 1;
                return 1;
            }
            progress = 1;
        }
        if (u->parsed < u->in.len) {
            int r = cg_http_parse_body(&u->parser, u->in.base, u->in.len, &u->parsed, &c->ex->out);
            if (r == CG_EPARSE) return CG_EPARSE;
            if (r == 0) c->ex->resp_done = 1;
            progress = 1;
            if (cg_http_out_pending(&c->ex->out) || c->ex->resp_done) return 1;
        }
        if (u->eof) {
            if (cg_http_parse_eof(&u->parser, &c->ex->out) == 0) {
                c->ex->resp_done = 1;
                return 1;
            }
            return CG_ECLOSED;
        }
    }
Read:
    if (!u->rdy.rd) {
        if (u->eof) return CG_ECLOSED;
        return progress;
    }
    {
        /* the response head must fit the upstream parser's head limit; body bytes stream through
         * the same bound */
        ssize_t n =
            read_into(&u->xp, &u->rdy, &u->in, u->parser.limits->max_head + READ_CHUNK, u->rdhup);
        if (n == CG_EAGAIN) return progress;
        if (n == CG_ELIMIT && !u->head_done) return CG_EPARSE; /* response head too large */
        if (n == 0) {
            u->eof = 1;
            u->rdy.rd = 0;
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
    rq_timer_end(c->ex);
    if (c->ex->phase == X_TUNNEL) w->stats.upgrades_active--;
    int klass = c->ex->status / 100;
    if (klass >= 1 && klass <= 5) w->stats.rq_class[klass]++;
    w->stats.rq_active--;

    if (w->settings->access_log_fd >= 0) {
        cg_http_head_t *h = &c->ex->head;
        const char *b = c->in.base;
        const char *m = cg_http_method_name(h->method);
        /* sliced again: reading the body may have moved c->in since on_request_head, and a
         * request whose head never parsed has no target of its own */
        cg_iov_t authority = CG_IOV_NULL, path = CG_IOV_NULL;
        if (c->ex->head_len) cg_http_request_target(h, b, &authority, &path);
        cg_access_entry_t e = {
            .start_wall_us = c->ex->start_wall_us,
            .method = cg_iov_str(m),
            .path = path,
            .http_minor = h->http_minor,
            .http2 = c->parent != NULL,
            .status = c->ex->status,
            .flags = c->ex->flags,
            .bytes_received = c->ex->phase == X_TUNNEL ? c->ex->tun_rx : c->ex->parser.body_bytes,
            .bytes_sent = c->ex->out.total - c->ex->resp_body_start,
            .duration_ms = (w->loop.now_us - c->ex->start_us) / 1000,
            .upstream_ms = c->ex->upstream_ms,
            .xff_orig = cg_http_head_value(h, b, h->xff_idx),
            .peer_ip = cg_iov(c->peer_ip, c->peer_ip_len),
            .user_agent = cg_http_head_value(h, b, h->ua_idx),
            .request_id = c->ex->rid_generated ? cg_iov_str(c->ex->rid)
                                               : cg_http_head_value(h, b, h->rid_idx),
            .authority = authority,
            .upstream_host = c->ex->ep ? cg_iov_str(c->ex->ep->name) : CG_IOV_NULL,
        };
        if (w->settings->access_log_tls) {
            const char *v = c->tls_set ? cg_tls_version(conn_tls_xport(c)) : NULL;
            const char *sni = c->tls_set ? cg_tls_sni(conn_tls_xport(c)) : NULL;
            e.tls_fields = 1;
            e.tls_version = v ? cg_iov_str(v) : CG_IOV_NULL;
            e.sni = sni ? cg_iov_str(sni) : CG_IOV_NULL;
        }
        size_t before = w->log.len;
        cg_proxy_access_format(&w->log, &e);
        if (cg_buf_size(&w->log) > CG_ACCESS_LOG_MAX_PENDING) { /* the log is not keeping up */
            w->stats.log_dropped_bytes += w->log.len - before;
            w->log.len = before;
        }
        if (cg_buf_size(&w->log) > CG_ACCESS_LOG_FLUSH_AT) cg_proxy__log_flush(w);
    }
    cg_proxy__request_release(c, c->ex->req_done && c->ex->resp_done);
    c->ex->phase = X_DONE;
    if (c->close_after || !c->ex->req_done) {
        cg_proxy__conn_close(c);
        return;
    }
    /* keep-alive: drop this request's bytes, keep any pipelined ones; without any, the
     * connection waits holding no buffer and no exchange */
    buf_cut(&c->in, 0, c->ex->parsed);
    exchange_put(c);
    c->state = S_IDLE;
    if (!c->in.len) buf_give(w, &c->in);
    cg_timer_start(&w->loop, &c->timer, w->settings->idle_timeout_ms, idle_timeout);
}

/* A request's first bytes are in: it gets its exchange. 0, or -1 when the connection closed
 * (no memory for one). */
static int start_reading_head(conn_t *c)
{
    if (exchange_take(c)) {
        cg_proxy__conn_close(c);
        return -1;
    }
    c->state = S_HEAD;
    c->ex->start_us = c->w->loop.now_us;
    c->ex->start_wall_us = c->w->loop.wall_us;
    /* a stream's head is whole before it runs: its connection's timer bounds the wait for it */
    if (!c->parent)
        cg_timer_start(&c->w->loop, &c->timer, c->w->settings->header_timeout_ms, header_timeout);
    return 0;
}

void cg_proxy__refuse_head(conn_t *c, int status, const char *reason)
{
    if (!c->ex && start_reading_head(c)) return;
    c->ex->hold = c->w->cur;
    c->ex->hold->users++;
    c->w->stats.rq_total++;
    c->w->stats.rq_active++;
    c->ex->req_done = 0;
    cg_proxy__local_reply(c, status, status == 408 ? CG_RF_SI : CG_RF_DPE, reason, 1);
}

/* Reads and parses a request head. Returns progress, or -1 when the connection closed (or
 * became HTTP/2's: the preface). */
static int step_head(conn_t *c)
{
    int progress = 0;
    if (c->state == S_IDLE && c->in.len && !c->parent) {
        int h2 = cg_proxy__h2_preface(c);
        if (h2 == 1) {
            if (cg_proxy__h2_start(c)) cg_proxy__conn_close(c);
            return -1;
        }
        if (h2 == CG_EAGAIN) goto Read; /* the preface so far: wait for the rest */
    }
    if (__builtin_expect(c->parent != NULL, 0) && c->state == S_IDLE && !c->in.len) {
        /* a stream's head: taken as the HTTP/2 codec read it when it can be, else read below */
        if (start_reading_head(c)) return -1;
        if (cg_proxy__h2_take_head(c)) {
            c->ex->parsed = c->ex->head_len = c->ex->head.len;
            on_request_head(c);
            return 1;
        }
    }
    if (c->in.len && (c->state == S_IDLE || c->in.len > c->ex->parsed)) {
        if (c->state == S_IDLE && start_reading_head(c)) return -1;
        int r = cg_http_parse_head(&c->ex->parser, c->in.base, c->in.len, &c->ex->parsed);
        if (r == 0) {
            c->ex->head_len = c->ex->parsed;
            on_request_head(c);
            return 1;
        }
        if (r != CG_EAGAIN) {
            cg_proxy__refuse_head(c, c->ex->parser.error_status ? c->ex->parser.error_status : 400,
                                  c->ex->parser.error_reason);
            return 1;
        }
    }
Read:
    if (!c->rdy.rd) return progress;
    buf_take(c->w, &c->in);
    const cg_http_limits_t *lim = c->ex ? c->ex->parser.limits : &cg_http_default_limits;
    ssize_t n = read_into(&c->xp, &c->rdy, &c->in, lim->max_head + READ_CHUNK, c->rdhup);
    if (n == CG_EAGAIN) {
        if (c->state == S_IDLE && !c->in.len) buf_give(c->w, &c->in); /* nothing came: idle */
        return progress;
    }
    if (n == CG_ELIMIT) {
        cg_proxy__refuse_head(c, 431, "header block too large");
        return 1;
    }
    if (n <= 0) {
        cg_proxy__conn_close(c); /* closed between requests or mid-head */
        return -1;
    }
    return 1;
}

/* Moves the transport's handshake on (TLS): still S_IDLE, so the timer armed at accept bounds it
 * and closes the connection unanswered. Returns progress, or -1 when the connection closed (or
 * became HTTP/2's: ALPN chose h2). */
static int step_handshake(conn_t *c)
{
    cg_worker_stats_t *st = &c->w->stats;
    int r = cg_xport_ready_handshake(&c->rdy, &c->xp);
    if (r < 0) {
        st->tls_fail[cg_proxy_tls_reason_index(cg_tls_failure_reason(&c->xp))]++;
        /* plaintext HTTP gets nginx's cleartext 400; any other peer is not one to talk to */
        if (r == CG_EPARSE) cg_proxy__plaintext_reply(c->xp.fd);
        cg_proxy__conn_close(c);
        return -1;
    }
    if (r == 1) {
        c->handshaking = 0;
        st->tls_handshakes++;
        if (cg_tls_resumed(&c->xp)) st->tls_resumed++;
        const char *alpn = cg_tls_alpn(&c->xp);
        if (alpn && strcmp(alpn, "h2") == 0) {
            if (cg_proxy__h2_start(c)) cg_proxy__conn_close(c);
            return -1; /* HTTP/2's from here on */
        }
    }
    return r;
}

/* Moves a new upstream connection's handshake on (TLS), within its connect timeout. Returns
 * progress; a failed handshake is a failed connect (and progress, as the attempt moved on). */
static int step_up_handshake(conn_t *c, up_t *u)
{
    int r = cg_xport_ready_handshake(&u->rdy, &u->xp);
    if (r == 0) return 0;
    if (r < 0) {
        c->w->stats.up_cx_connect_fail++;
        cg_proxy__attempt_failed(c, CG_RETRY_ON_CONNECT_FAILURE, CG_RF_UF, 503,
                                 BODY_CONNECT_FAILURE);
        return 1;
    }
    u->handshaking = 0;
    if (c->ex->phase == X_CONNECT) c->ex->phase = X_SEND;
    cg_timer_stop(&c->w->loop, &u->timer);
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
    for (spins = 0; spins < CONN_RUN_MAX_SPINS && c->state != S_CLOSED; spins++) {
        int progress = 0, r;
        r = flush_down(c);
        if (r < 0) {
            c->ex->flags |= CG_RF_DC;
            if (c->ex->up) cg_proxy__up_release(c, 0);
            cg_proxy__conn_close(c);
            return;
        }
        progress |= r;
        switch (c->state) {
        case S_IDLE:
        case S_HEAD:
            if (__builtin_expect(c->handshaking, 0)) {
                r = step_handshake(c);
                if (r < 0) return;
                progress |= r;
                if (c->handshaking) break;
            }
            r = step_head(c);
            if (r < 0) return;
            progress |= r;
            break;
        case S_UPSTREAM: {
            up_t *u = c->ex->up;
            if (!u || !u->connected) break;
            if (__builtin_expect(u->handshaking, 0)) {
                r = step_up_handshake(c, u);
                progress |= r;
                if (r <= 0 || c->ex->up != u) break;
            }
            if (__builtin_expect(c->ex->phase == X_TUNNEL, 0)) {
                r = pump_tunnel(c, u);
                if (r < 0) {
                    end_tunnel(c);
                    return;
                }
                progress |= r;
                break;
            }
            r = flush_up(u);
            if (r < 0) {
                cg_proxy__attempt_failed(c, CG_RETRY_ON_RESET, CG_RF_UC, 503,
                                         BODY_CONNECT_TERMINATION);
                progress = 1;
                break;
            }
            progress |= r;
            r = pump_request_body(c, u);
            if (r == CG_EPARSE) {
                c->ex->flags |= CG_RF_DPE;
                cg_proxy__attempt_end(c, 0);
                if (resp_started(c->ex)) {
                    cg_proxy__conn_close(c);
                    return;
                }
                cg_proxy__local_reply(c,
                                      c->ex->parser.error_status ? c->ex->parser.error_status : 400,
                                      0, "bad request body", 1);
                progress = 1;
                break;
            }
            if (r < 0) { /* client went away mid-body */
                c->ex->flags |= CG_RF_DC;
                cg_proxy__attempt_end(c, 0);
                c->ex->status = resp_started(c->ex) ? c->ex->status : 0;
                finish_request(c);
                return;
            }
            progress |= r;
            if (!c->ex->up) break;
            if (c->ex->phase == X_SEND && c->ex->req_done && !cg_http_out_pending(&u->out))
                c->ex->phase = X_AWAIT_HEAD; /* the whole request is written */
            r = pump_response(c, u);
            if (c->ex->up != u) { /* a retry replaced the attempt */
                progress = 1;
                break;
            }
            if (r < 0) {
                if (r == CG_EPARSE)
                    cg_proxy__attempt_failed(c, CG_RETRY_ON_RESET, CG_RF_UPE, 502,
                                             "upstream protocol error");
                else
                    cg_proxy__attempt_failed(c, CG_RETRY_ON_RESET, CG_RF_UC, 503,
                                             BODY_CONNECT_TERMINATION);
                progress = 1;
                break;
            }
            progress |= r;
            if (c->ex->resp_done && c->ex->req_done && !cg_http_out_pending(&c->ex->out) &&
                !cg_http_out_pending(&u->out)) {
                finish_request(c);
                progress = 1;
            } else if (c->ex->resp_done && !c->ex->req_done && !cg_http_out_pending(&c->ex->out)) {
                /* answered before the request body ended: the connection cannot continue */
                c->close_after = 1;
                finish_request(c);
                return;
            }
            break;
        }
        case S_LOCAL:
            if (!cg_http_out_pending(&c->ex->out)) {
                finish_request(c);
                progress = 1;
            }
            break;
        }
        if (!progress) break;
    }
    if (spins == CONN_RUN_MAX_SPINS && c->state != S_CLOSED) {
        /* stopped for fairness with work left: bytes already queued bring no new edge (an
         * upstream that finished sending, a client that keeps up), so ask for both sockets
         * to be reported again rather than stall until a timeout */
        io_rearm(&c->w->loop, &c->io);
        if (c->ex->up) io_rearm(&c->w->loop, &c->ex->up->io);
    }
}

void cg_proxy__conn_run(conn_t *c)
{
    if (__builtin_expect(c->h2 != NULL, 0)) {
        cg_proxy__h2_run(c);
        return;
    }
    conn_run(c);
    if (__builtin_expect(c->parent != NULL, 0)) cg_proxy__h2_stream_ran(c);
}

/* ---------- events ---------- */

static void conn_on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    conn_t *c = cg_container_of(io, conn_t, io);
    cg_xport_ready_events(&c->rdy, events & (EPOLLIN | EPOLLRDHUP), events & EPOLLOUT);
    if (events & EPOLLRDHUP) c->rdhup = 1;
    if (events & (EPOLLHUP | EPOLLERR)) {
        /* reset or fully closed by the client */
        if (c->ex) c->ex->flags |= CG_RF_DC;
        if (c->handshaking) {
            /* the handshake reads what came before the end (an alert, say): its failure is
             * counted with its reason, as any other */
            c->rdy.rd = c->rdy.wr = 1;
            if (step_handshake(c) >= 0) cg_proxy__conn_close(c);
            return;
        }
        if (c->state == S_UPSTREAM || c->state == S_LOCAL) {
            if (c->ex->up) cg_proxy__up_release(c, 0);
            c->ex->status = resp_started(c->ex) ? c->ex->status : 0;
            c->close_after = 1;
            finish_request(c);
        } else {
            cg_proxy__conn_close(c);
        }
        return;
    }
    cg_proxy__conn_run(c);
}

static void header_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, timer);
    if (c->state == S_IDLE) {
        cg_proxy__conn_close(c);
        return;
    }
    if (c->state != S_HEAD) return;
    cg_proxy__refuse_head(c, 408, "request header timeout");
    cg_proxy__conn_run(c);
}

static void idle_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, timer);
    if (c->state == S_IDLE)
        cg_proxy__conn_close(c);
    else if (c->state == S_HEAD)
        header_timeout(loop, t);
}

static void conn_free(cg_loop_t *loop, cg_defer_t *d)
{
    conn_t *c = cg_container_of(d, conn_t, defer);
    buf_give(c->w, &c->in);
    pool_put(&c->w->free_conns, &c->w->stats.pool_conns, &c->link, &c->in, c);
}

void cg_proxy__conn_close(conn_t *c)
{
    if (c->state == S_CLOSED) return;
    cg_worker_t *w = c->w;
    if (c->ex && c->ex->hold) {
        /* closed mid-request (upstream reset after the response began, client gone, ...):
         * the request still ends, counted and logged with its flags; that comes back here */
        c->close_after = 1;
        finish_request(c);
        return;
    }
    int whole = c->ex && c->ex->resp_done;
    if (c->ex) cg_proxy__request_release(c, 0);
    exchange_put(c);
    c->state = S_CLOSED;
    cg_timer_stop(&w->loop, &c->timer);
    if (c->parent) { /* a stream: its connection goes on */
        cg_proxy__h2_stream_closed(c, whole);
        cg_defer(&w->loop, &c->defer, conn_free);
        return;
    }
    if (c->h2) cg_proxy__h2_close(c);
    cg_io_stop(&w->loop, &c->io);
    cg_xport_close(&c->xp);
    c->io.fd = -1;
    cg_list_unlink(&c->link);
    w->stats.cx_active--;
    if (w->accept_paused == PAUSE_MAX_CONNS) accept_resume(&w->loop, &w->accept_timer);
    /* freed after this batch of events: a later event of the batch may still name it */
    cg_defer(&w->loop, &c->defer, conn_free);
}

/* ---------- accepting ---------- */

#define ACCEPT_BATCH        64  /* accepts per listener event, for fairness with open connections */
#define ACCEPT_PAUSE_MS     500 /* as nginx: stop accepting for a while when fds run out */
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
        cg_log_warn("worker %d: accept on port %u: %s; pausing %d ms (%" PRIu64
                    " pauses not logged)",
                    w->id, port, strerror(err), ACCEPT_PAUSE_MS, w->accept_suppressed);
    else
        cg_log_warn("worker %d: %u connections, the most allowed (--max-connections); pausing "
                    "accepts (%" PRIu64 " pauses not logged)",
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
        conn_t *c =
            POOL_TAKE(&w->free_conns, &w->stats.pool_conns, conn_t, offsetof(conn_t, peer_ip));
        c->w = w;
        c->port = l->port;
        c->state = S_IDLE;
        c->peer_ip_len = (uint8_t)cg_addr_format_ip(&peer, c->peer_ip, sizeof(c->peer_ip));
        cg_list_init(&c->defer.link);
        /* the listener's transport (TLS, from the config; plain TCP without one) */
        const cg_listener_cfg_t *lc =
            w->cur ? cg_proxy_config_listener(w->cur->cfg, l->port) : NULL;
        if (cg_xport_open(lc ? &lc->xopen : &tcp_opener, &c->xp, fd) ||
            cg_io_start(loop, &c->io, fd, conn_on_io)) {
            cg_xport_close(&c->xp);
            cg_buf_free(&c->in);
            free(c);
            continue;
        }
        /* a transport with state of its own (TLS) shakes hands before HTTP; TCP never does */
        c->handshaking = c->xp.impl != NULL;
        c->tls_set = lc ? cg_proxy_tls_servers(lc) : NULL;
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
    cg_list_foreach_safe(pos, tmp, &w->conns)
        cg_proxy__conn_close(cg_container_of(pos, conn_t, link));
    for (size_t i = 0; i < w->buckets.len; i++) {
        cg_pool_bucket_t *b = w->buckets.items[i];
        cg_list_foreach_safe(pos, tmp, &b->idle)
            cg_proxy__up_free(cg_container_of(pos, up_t, link));
    }
}

void cg_proxy__drain(cg_worker_t *w)
{
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &w->conns)
    {
        conn_t *c = cg_container_of(pos, conn_t, link);
        if (c->h2) cg_proxy__h2_drain(c);
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
    cg_list_foreach_safe(pos, tmp, &w->free_exchanges)
    {
        cg_list_unlink(pos);
        exchange_t *x = cg_container_of(pos, exchange_t, link);
        cg_timer_stop(&w->loop, &x->rq_timer);
        free(x);
    }
    cg_proxy__h2_pool_sweep(w);
    while (w->free_bufs) {
        void *b = w->free_bufs;
        memcpy(&w->free_bufs, b, sizeof(void *));
        free(b);
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
    free(w->bucket_slots);
    w->bucket_slots = NULL;
    w->bucket_cap = 0;
    w->stats.pool_conns = w->stats.pool_upstreams = 0;
    w->stats.pool_exchanges = w->stats.pool_buffers = w->stats.pool_h2streams = 0;
}
