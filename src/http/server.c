/* Control-path HTTP server: buffers a whole request, calls the handler, writes the response. */
#include "http/server.h"
#include "core/err.h"
#include "core/log.h"
#include "http/parser.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_CHUNK      4096 /* free space kept in a connection's read buffer */
#define ACCEPT_BATCH    32   /* accepts per listener event, for fairness with open connections */
#define ACCEPT_PAUSE_MS 500  /* out of fds or full: accepting pauses this long at most */
#define LISTEN_BACKLOG  512

/* A parked request: embedded in its connection, live while `gone` is set. */
struct cg_httpd_pending {
    cg_httpd_gone_cb gone;
    void *data;
    int close; /* the request asked for connection close */
    int head;  /* HEAD: no body */
};

typedef struct sconn {
    cg_io_t io;
    cg_httpd_pending_t pending;
    cg_httpd_t *srv;
    cg_list_t link;
    cg_buf_t in, out;
    size_t parsed, head_len;
    cg_http_head_t head;
    cg_http_parser_t parser;
    cg_http_out_t body_out; /* collects body slices */
    cg_buf_t body;
    cg_timer_t timer;
    cg_defer_t defer;
    cg_defer_t resume; /* after cg_httpd_complete: serve what waited, on the loop */
    char peer[48];
    uint8_t head_done, closing, dead;
    uint8_t taken;      /* cg_httpd_takeover: the fd is the handler's now */
    uint8_t in_request; /* a request's first byte came: the request deadline runs */
} sconn_t;

static void accept_resume(cg_loop_t *loop, cg_timer_t *t);

static void sconn_free(cg_loop_t *loop, cg_defer_t *d)
{
    sconn_t *c = cg_container_of(d, sconn_t, defer);
    cg_buf_free(&c->in);
    cg_buf_free(&c->out);
    cg_buf_free(&c->body);
    free(c);
}

static void sconn_close(sconn_t *c)
{
    if (c->dead) return;
    c->dead = 1;
    if (c->pending.gone) {
        cg_httpd_gone_cb gone = c->pending.gone;
        c->pending.gone = NULL;
        gone(&c->pending, c->pending.data);
    }
    cg_defer_cancel(&c->resume);
    cg_io_stop(c->srv->loop, &c->io);
    close(c->io.fd);
    cg_timer_stop(c->srv->loop, &c->timer);
    cg_list_unlink(&c->link);
    c->srv->nconns--;
    if (c->srv->full) accept_resume(c->srv->loop, &c->srv->accept_timer); /* room again */
    cg_list_init(&c->defer.link);
    cg_defer(c->srv->loop, &c->defer, sconn_free);
}

/* The handler took the connection over: forget it, without closing its fd. */
static void sconn_detach(sconn_t *c)
{
    c->dead = 1;
    cg_defer_cancel(&c->resume);
    cg_timer_stop(c->srv->loop, &c->timer);
    cg_list_unlink(&c->link);
    c->srv->nconns--;
    if (c->srv->full) accept_resume(c->srv->loop, &c->srv->accept_timer);
    cg_list_init(&c->defer.link);
    cg_defer(c->srv->loop, &c->defer, sconn_free);
}

int cg_httpd_takeover(const cg_httpd_req_t *req, cg_buf_t *after)
{
    sconn_t *c = req->conn;
    c->taken = 1;
    cg_io_stop(c->srv->loop, &c->io); /* the caller watches the fd from now on */
    if (cg_buf_size(&c->in) > c->parsed)
        cg_buf_append(after, cg_buf_data(&c->in) + c->parsed, cg_buf_size(&c->in) - c->parsed);
    return c->io.fd;
}

static void on_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    sconn_t *c = cg_container_of(t, sconn_t, timer);
    if (c->in_request) c->srv->timed_out++;
    sconn_close(c);
}

/* Between requests: the idle timeout; the next request's first byte starts its deadline. */
static void wait_next_request(sconn_t *c)
{
    c->in_request = 0;
    cg_timer_start(c->srv->loop, &c->timer, c->srv->idle_timeout_ms, on_timeout);
    /* the oldest-first order is the eviction order: a connection starts over at the tail */
    cg_list_unlink(&c->link);
    cg_list_insert_tail(&c->srv->conns, &c->link);
}

cg_iov_t cg_httpd_header(const cg_httpd_req_t *req, const char *name)
{
    int i = cg_http_head_find(req->head, req->base, cg_iov_str(name));
    return cg_http_head_value(req->head, req->base, i);
}

/* Every response head: status line, content-type (text/plain unless given), content-length,
 * the handler's extra lines, connection: close when the connection ends after it. */
static void write_head(sconn_t *c, int status, const char *content_type, size_t content_length,
                       cg_iov_t extra, int close)
{
    cg_buf_printf(&c->out, "HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: %zu\r\n", status,
                  cg_http_status_reason(status), content_type ? content_type : "text/plain",
                  content_length);
    if (extra.len) cg_buf_append_iov(&c->out, extra);
    if (close) {
        cg_buf_append_iov(&c->out, CG_IOV_LIT("connection: close\r\n"));
        c->closing = 1;
    }
    cg_buf_append_iov(&c->out, CG_IOV_LIT("\r\n"));
}

/* The server's own answers (refused requests). */
static void respond(sconn_t *c, int status, const char *body, int close)
{
    write_head(c, status, NULL, strlen(body), CG_IOV_NULL, close);
    cg_buf_append_str(&c->out, body);
}

static void write_response(sconn_t *c, cg_httpd_resp_t *resp, int close, int head)
{
    write_head(c, resp->status, resp->content_type, resp->body.len,
               cg_iov(resp->headers.base, resp->headers.len), close);
    if (!head) cg_buf_append(&c->out, resp->body.base, resp->body.len);
    cg_buf_free(&resp->body);
    cg_buf_free(&resp->headers);
}

/* Runs the handler; returns 1 when it deferred its response, 2 when it took the connection. */
static int dispatch(sconn_t *c)
{
    cg_httpd_t *s = c->srv;
    cg_httpd_req_t req = {
        .base = cg_buf_data(&c->in),
        .head = &c->head,
        .method = c->head.method,
        .body = cg_iov(c->body.base, c->body.len),
        .peer_ip = cg_iov_str(c->peer),
        .conn = c,
    };
    cg_iov_t url = cg_span_iov(cg_buf_data(&c->in), c->head.url);
    char *q = memchr(url.base, '?', url.len);
    req.path = q ? cg_iov(url.base, (size_t)(q - url.base)) : url;
    req.query = q ? cg_iov(q + 1, url.len - (size_t)(q - url.base) - 1) : CG_IOV_NULL;
    cg_httpd_resp_t resp = {.status = 200};
    s->handler(s, &req, &resp);
    if (c->taken) {
        cg_buf_free(&resp.body);
        cg_buf_free(&resp.headers);
        return 2;
    }
    int close = resp.close || !(c->head.flags & CG_HTTP_F_KEEPALIVE);
    if (c->pending.gone) {
        cg_buf_free(&resp.body);
        cg_buf_free(&resp.headers);
        c->pending.close = close;
        c->pending.head = c->head.method == HTTP_HEAD;
        return 1;
    }
    write_response(c, &resp, close, c->head.method == HTTP_HEAD);
    return 0;
}

cg_httpd_pending_t *cg_httpd_defer(const cg_httpd_req_t *req, cg_httpd_gone_cb gone, void *data)
{
    sconn_t *c = req->conn;
    c->pending = (cg_httpd_pending_t){.gone = gone, .data = data};
    cg_timer_stop(c->srv->loop, &c->timer);
    return &c->pending;
}

static void sconn_run(sconn_t *c);

static void on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    sconn_t *c = cg_container_of(io, sconn_t, io);
    if (events & (EPOLLERR | EPOLLHUP)) {
        sconn_close(c);
        return;
    }
    sconn_run(c);
}

static void finish_request(sconn_t *c)
{
    cg_buf_consume(&c->in, c->parsed);
    c->parsed = 0;
    c->head_done = 0;
    cg_http_parser_next(&c->parser);
}

static void start_request(sconn_t *c)
{
    if (c->in_request) return;
    c->in_request = 1;
    cg_timer_start(c->srv->loop, &c->timer, c->srv->request_timeout_ms, on_timeout);
}

/* Processes buffered requests; returns 0 to go on reading, -1 when taken over (c is gone). */
static int process(sconn_t *c)
{
    cg_httpd_t *s = c->srv;
    while (!c->closing && !c->pending.gone) {
        if (!c->head_done) {
            int r = cg_http_parse_head(&c->parser, c->in.base + c->in.off, cg_buf_size(&c->in),
                                       &c->parsed);
            if (r == CG_EAGAIN) return 0;
            if (r != 0) {
                respond(c, c->parser.error_status ? c->parser.error_status : 400,
                        c->parser.error_reason ? c->parser.error_reason : "bad request", 1);
                return 0;
            }
            c->head_done = 1;
            c->head_len = c->parsed;
            cg_buf_reset(&c->body);
            if (c->head.content_length > (int64_t)s->max_body) {
                respond(c, 413, "request body too large\n", 1);
                return 0;
            }
            if ((c->head.flags & CG_HTTP_F_EXPECT_CONTINUE) && cg_http_parser_has_body(&c->parser))
                cg_buf_append_iov(&c->out, CG_IOV_LIT(CG_HTTP_100_CONTINUE));
        }
        if (cg_http_parser_has_body(&c->parser) && !c->parser.complete) {
            cg_http_out_reset(&c->body_out);
            c->parser.body_out = CG_BODY_OUT_LENGTH;
            int r = cg_http_parse_body(&c->parser, c->in.base + c->in.off, cg_buf_size(&c->in),
                                       &c->parsed, &c->body_out);
            for (unsigned i = 0; i < c->body_out.n; i++)
                cg_buf_append(&c->body, c->body_out.iov[i].iov_base, c->body_out.iov[i].iov_len);
            if (c->body.len > s->max_body) {
                respond(c, 413, "request body too large\n", 1);
                return 0;
            }
            if (r == CG_EPARSE) {
                respond(c, 400, "bad request body\n", 1);
                return 0;
            }
            if (r == CG_EAGAIN) {
                /* body bytes are copied out: keep only the head and what is unparsed */
                size_t keep_from = c->in.off + c->head_len;
                size_t parsed_abs = c->in.off + c->parsed;
                if (parsed_abs > keep_from) {
                    memmove(c->in.base + keep_from, c->in.base + parsed_abs,
                            c->in.len - parsed_abs);
                    c->in.len -= parsed_abs - keep_from;
                    c->parsed = c->head_len;
                }
                return 0;
            }
        }
        int d = dispatch(c);
        if (d == 2) {
            sconn_detach(c);
            return -1;
        }
        if (d) return 0; /* parked: the request stays until cg_httpd_complete */
        finish_request(c);
        wait_next_request(c);
        if (cg_buf_size(&c->in)) start_request(c); /* pipelined: its bytes are here */
    }
    return 0;
}

static void on_resume(cg_loop_t *loop, cg_defer_t *d)
{
    sconn_t *c = cg_container_of(d, sconn_t, resume);
    if (c->dead) return;
    if (process(c) < 0) return; /* pipelined requests that waited; taken over */
    sconn_run(c);
}

void cg_httpd_complete(cg_httpd_pending_t *p, cg_httpd_resp_t *resp)
{
    sconn_t *c = cg_container_of(p, sconn_t, pending);
    p->gone = NULL;
    write_response(c, resp, resp->close || p->close, p->head);
    finish_request(c);
    wait_next_request(c);
    cg_defer(c->srv->loop, &c->resume, on_resume); /* never re-enters a handler from here */
}

static void sconn_run(sconn_t *c)
{
    for (;;) {
        if (c->out.len) {
            ssize_t w = write(c->io.fd, c->out.base + c->out.off, cg_buf_size(&c->out));
            if (w < 0 && errno == EAGAIN) return;
            if (w < 0) {
                sconn_close(c);
                return;
            }
            cg_buf_consume(&c->out, (size_t)w);
            if (c->out.len) return;
        }
        if (c->closing) {
            sconn_close(c);
            return;
        }
        if (cg_buf_reserve(&c->in, READ_CHUNK)) {
            sconn_close(c);
            return;
        }
        ssize_t n = read(c->io.fd, c->in.base + c->in.len, c->in.cap - c->in.len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
            sconn_close(c);
            return;
        }
        if (n < 0) return;
        c->in.len += (size_t)n;
        /* a whole request at most (a head within the parser's limit and a body within
         * max_body), and what one read may bring beyond it */
        if (cg_buf_size(&c->in) > c->parser.limits->max_head + c->srv->max_body + READ_CHUNK) {
            sconn_close(c);
            return;
        }
        if (!c->pending.gone) start_request(c);
        if (process(c) < 0) return; /* taken over by the handler */
    }
}

static void accept_resume(cg_loop_t *loop, cg_timer_t *t)
{
    cg_httpd_t *s = cg_container_of(t, cg_httpd_t, accept_timer);
    cg_timer_stop(loop, &s->accept_timer);
    s->full = 0;
    cg_io_start_level(loop, &s->io, s->fd, EPOLLIN, s->io.cb);
}

/* Makes room for one more connection: closes the one that has waited longest for its request
 * (the list is oldest first; parked long-polls are not waiting on their client). */
static int evict_one(cg_httpd_t *s)
{
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &s->conns)
    {
        sconn_t *c = cg_container_of(pos, sconn_t, link);
        if (c->pending.gone) continue;
        s->evicted++;
        sconn_close(c);
        return 1;
    }
    return 0;
}

static void on_accept(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    cg_httpd_t *s = cg_container_of(io, cg_httpd_t, io);
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        cg_addr_t peer;
        peer.len = sizeof(peer.u);
        int fd = accept4(s->fd, &peer.u.sa, &peer.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (cg_err_local_shortage(cg_err_from_errno(errno))) {
                /* level-triggered: returning would spin; pause accepting a while instead */
                cg_io_stop(loop, &s->io);
                s->io.cb = on_accept;
                cg_timer_start(loop, &s->accept_timer, ACCEPT_PAUSE_MS, accept_resume);
            }
            return;
        }
        int pause = 0;
        if (s->nconns >= s->max_conns && !evict_one(s)) {
            /* every connection is a parked watch: this one is let in over the cap, and the
             * backlog waits. The listener is level-triggered, so it leaves the loop until a
             * connection closes (or a while passes). */
            cg_io_stop(loop, &s->io);
            s->io.cb = on_accept;
            s->full = 1;
            cg_timer_start(loop, &s->accept_timer, ACCEPT_PAUSE_MS, accept_resume);
            pause = 1;
        }
        sconn_t *c = cg_xcalloc(1, sizeof(*c));
        c->srv = s;
        cg_addr_format_ip(&peer, c->peer, sizeof(c->peer));
        cg_http_parser_init(&c->parser, 1, &c->head, NULL);
        if (cg_io_start(loop, &c->io, fd, on_io)) {
            close(fd);
            free(c);
            continue;
        }
        cg_list_insert_tail(&s->conns, &c->link);
        s->nconns++;
        cg_list_init(&c->resume.link);
        /* the first request must come within the request deadline (no idle grace first) */
        start_request(c);
        if (pause) return;
    }
}

int cg_httpd_start(cg_httpd_t *s, cg_loop_t *loop, const char *addr, cg_httpd_handler h, void *data)
{
    cg_addr_t a;
    if (cg_addr_parse(&a, addr)) return CG_EINVAL;
    s->loop = loop;
    s->handler = h;
    s->data = data;
    if (!s->max_body) s->max_body = 1024 * 1024;
    if (!s->idle_timeout_ms) s->idle_timeout_ms = 60000;
    if (!s->request_timeout_ms) s->request_timeout_ms = 10000;
    if (!s->max_conns) s->max_conns = 1024;
    cg_list_init(&s->conns);
    int fd = cg_sock_listen(&a, 0, LISTEN_BACKLOG);
    if (fd < 0) return fd;
    s->fd = fd;
    return cg_io_start_level(loop, &s->io, fd, EPOLLIN, on_accept);
}

void cg_httpd_stop(cg_httpd_t *s)
{
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &s->conns) sconn_close(cg_container_of(pos, sconn_t, link));
    cg_timer_stop(s->loop, &s->accept_timer);
    cg_io_stop(s->loop, &s->io);
    close(s->fd);
}
