/* Control-path HTTP client. */
#include "http/client.h"
#include "core/err.h"
#include "http/parser.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The read buffer at most: the head and the body bytes not yet parsed. */
#define MAX_RESPONSE (64 * 1024 * 1024)
#define READ_CHUNK   (16 * 1024) /* free space kept in the read buffer */

struct cg_http_client {
    cg_loop_t *loop;
    cg_io_t io;
    cg_timer_t timer;
    cg_defer_t defer;
    cg_buf_t req, in;
    size_t parsed;
    cg_http_head_t head;
    cg_http_parser_t parser;
    cg_http_out_t out;
    cg_http_result_t res;
    cg_http_client_cb cb;
    void *data;
    uint8_t connected, head_done, done;
};

size_t cg_http_client_max_body = CG_HTTP_CLIENT_MAX_BODY;
cg_addr_t cg_http_client_source;

int cg_http_url_parse(const char *url, cg_addr_t *addr, char *host, size_t hostcap,
                      const char **path)
{
    static const char scheme[] = "http://", localhost[] = "localhost";
    if (strncmp(url, scheme, sizeof(scheme) - 1) != 0 || strlen(url) > CG_HTTP_URL_MAX)
        return CG_EINVAL;
    const char *h = url + sizeof(scheme) - 1, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= hostcap) return CG_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *path = slash ? slash : "/";
    char tmp[300];
    if (!strncmp(host, localhost, sizeof(localhost) - 1))
        snprintf(tmp, sizeof(tmp), "127.0.0.1%s", host + sizeof(localhost) - 1);
    else
        snprintf(tmp, sizeof(tmp), "%s", host);
    if (!strchr(tmp, ':') || (tmp[0] == '[' && !strstr(tmp, "]:"))) {
        char with_port[310];
        snprintf(with_port, sizeof(with_port), "%s:80", tmp);
        return cg_addr_parse(addr, with_port);
    }
    return cg_addr_parse(addr, tmp);
}

static void free_client(cg_loop_t *loop, cg_defer_t *d)
{
    cg_http_client_t *c = cg_container_of(d, cg_http_client_t, defer);
    cg_buf_free(&c->req);
    cg_buf_free(&c->in);
    cg_http_result_free(&c->res);
    free(c);
}

static void finish(cg_http_client_t *c, int err)
{
    if (c->done) return;
    c->done = 1;
    cg_timer_stop(c->loop, &c->timer);
    if (c->io.fd >= 0) {
        cg_io_stop(c->loop, &c->io);
        close(c->io.fd);
        c->io.fd = -1;
    }
    c->res.err = err;
    if (c->cb) c->cb(c, &c->res, c->data);
    cg_list_init(&c->defer.link);
    cg_defer(c->loop, &c->defer, free_client);
}

void cg_http_client_cancel(cg_http_client_t *c)
{
    c->cb = NULL;
    finish(c, CG_ECLOSED);
}

static void on_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    finish(cg_container_of(t, cg_http_client_t, timer), CG_ETIMEDOUT);
}

static int consume(cg_http_client_t *c)
{
    if (!c->head_done) {
        int r = cg_http_parse_head(&c->parser, c->in.base, c->in.len, &c->parsed);
        if (r == CG_HTTP_INTERIM) {
            cg_buf_consume(&c->in, c->parsed);
            cg_buf_compact(&c->in);
            c->parsed = 0;
            cg_http_parser_next(&c->parser);
            return consume(c);
        }
        if (r == CG_EAGAIN) return CG_EAGAIN;
        if (r < 0) return CG_EPARSE;
        c->head_done = 1;
        c->res.status = c->head.status;
        cg_buf_append(&c->res.headers, c->in.base, c->head.len);
        if (c->parser.complete || !cg_http_parser_has_body(&c->parser)) return 0;
    }
    c->parser.body_out = CG_BODY_OUT_LENGTH;
    while (c->parsed < c->in.len) {
        cg_http_out_reset(&c->out);
        int r = cg_http_parse_body(&c->parser, c->in.base, c->in.len, &c->parsed, &c->out);
        for (unsigned i = 0; i < c->out.n; i++) {
            if (c->res.body.len + c->out.iov[i].iov_len > cg_http_client_max_body) return CG_ELIMIT;
            cg_buf_append(&c->res.body, c->out.iov[i].iov_base, c->out.iov[i].iov_len);
        }
        if (r == 0) return 0;
        if (r == CG_EPARSE) return CG_EPARSE;
    }
    /* the head stays in `in` (offsets point into it); drop parsed body bytes */
    if (c->parsed > c->head.len) {
        memmove(c->in.base + c->head.len, c->in.base + c->parsed, c->in.len - c->parsed);
        c->in.len -= c->parsed - c->head.len;
        c->parsed = c->head.len;
    }
    return CG_EAGAIN;
}

static void on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    cg_http_client_t *c = cg_container_of(io, cg_http_client_t, io);
    if (!c->connected) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = cg_sock_error(io->fd);
        if (err) {
            finish(c, err);
            return;
        }
        c->connected = 1;
    }
    if (cg_http_out_pending(&c->out) && c->head_done == 0 && c->parsed == 0) {
        cg_xport_t x; /* the control-path client speaks plain TCP */
        cg_xport_tcp_init(&x, io->fd);
        ssize_t w = cg_http_out_write(&c->out, &x);
        if (w < 0 && w != CG_EAGAIN) {
            finish(c, CG_ECONNRESET);
            return;
        }
        if (cg_http_out_pending(&c->out)) return;
        cg_http_out_reset(&c->out);
    }
    for (;;) {
        if (cg_buf_reserve(&c->in, READ_CHUNK)) {
            finish(c, CG_ENOMEM);
            return;
        }
        ssize_t n = read(io->fd, c->in.base + c->in.len, c->in.cap - c->in.len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
            int r = CG_ECLOSED;
            if (c->head_done) r = cg_http_parse_eof(&c->parser, NULL) == 0 ? 0 : CG_ECLOSED;
            finish(c, r);
            return;
        }
        c->in.len += (size_t)n;
        if (c->in.len > MAX_RESPONSE) {
            finish(c, CG_ELIMIT);
            return;
        }
        int r = consume(c);
        if (r == 0) {
            finish(c, 0);
            return;
        }
        if (r != CG_EAGAIN) {
            finish(c, r);
            return;
        }
    }
}

cg_http_client_t *cg_http_client_start(cg_loop_t *loop, const char *method, const char *url,
                                       const char *extra_headers, const char *body, size_t body_len,
                                       uint32_t timeout_ms, cg_http_client_cb cb, void *data)
{
    cg_addr_t addr;
    char host[256];
    const char *path;
    if (cg_http_url_parse(url, &addr, host, sizeof(host), &path)) return NULL;
    cg_http_client_t *c = cg_xcalloc(1, sizeof(*c));
    c->loop = loop;
    c->cb = cb;
    c->data = data;
    c->io.fd = -1;
    cg_http_request_spec_t spec = {
        .method = method,
        .target = path,
        .host = host,
        .close = 1,
        .extra = extra_headers,
        .content_length = body ? (int64_t)body_len : -1,
    };
    if (cg_http_request_head(&c->req, &spec) || (body && cg_buf_append(&c->req, body, body_len)))
        goto Error;
    cg_http_out_push(&c->out, c->req.base, c->req.len);
    cg_http_parser_init(&c->parser, 0, &c->head, NULL);
    c->parser.skip_body = !strcmp(method, "HEAD");
    int fd = cg_sock_connect_from(&addr, cg_http_client_source.len ? &cg_http_client_source : NULL);
    if (fd < 0) goto Error;
    if (cg_io_start(loop, &c->io, fd, on_io)) {
        close(fd);
        goto Error;
    }
    cg_timer_start(loop, &c->timer, timeout_ms, on_timeout);
    return c;
Error:
    cg_buf_free(&c->req);
    free(c);
    return NULL;
}

static void fetch_done(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    cg_http_result_t *out = data;
    *out = *res;
    memset(res, 0, sizeof(*res)); /* ownership moves to the caller */
}

void cg_http_fetch(const char *method, const char *url, const char *extra_headers, const char *body,
                   size_t body_len, uint32_t timeout_ms, cg_http_result_t *res)
{
    memset(res, 0, sizeof(*res));
    res->err = CG_EAGAIN;
    cg_loop_t loop;
    if (cg_loop_init(&loop)) {
        res->err = CG_ESYS;
        return;
    }
    if (!cg_http_client_start(&loop, method, url, extra_headers, body, body_len, timeout_ms,
                              fetch_done, res)) {
        res->err = CG_ECONNREFUSED;
    } else {
        while (res->err == CG_EAGAIN) cg_loop_run_once(&loop, 100);
        cg_loop_run_once(&loop, 0); /* deferred free */
    }
    cg_loop_destroy(&loop);
}

void cg_http_result_free(cg_http_result_t *res)
{
    cg_buf_free(&res->headers);
    cg_buf_free(&res->body);
}
