/* The answers the gateway gives itself: errors, its health check, direct responses and
 * redirects. */
#include "http/message.h"
#include "proxy/conn_int.h"
#include "proxy/router.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Every local answer's head, in two steps. reply_begin() decides whether the connection ends
 * after the answer (`close` asks for it; a client that does not keep alive, or draining, always
 * gets it) and writes the status line; the caller may queue header lines after it.
 * reply_end() writes the framing (content-length, content-type when given, connection: close
 * when the connection ends) and marks the response whole. All of it goes to the out's scratch,
 * so the head is one slice. */
static void reply_begin(conn_t *c, int status, int close)
{
    cg_http_out_reset(&c->ex->out);
    c->ex->status = (uint16_t)status;
    if (close || !(c->ex->head.flags & CG_HTTP_F_KEEPALIVE) || draining(c->w)) c->close_after = 1;
    if (!c->parent) /* a stream's head goes as HTTP/2 fields, in reply_end */
        cg_http_out_printf(&c->ex->out, "HTTP/1.1 %d %s\r\n", status,
                           cg_http_status_reason(status));
}

static void reply_end(conn_t *c, size_t content_length, const char *content_type,
                      const cg_iov_t *location, size_t nloc)
{
    if (c->parent) {
        cg_proxy__h2_reply_head(c, c->ex->status, content_length, content_type, location, nloc);
        c->ex->phase = X_LOCAL;
        c->ex->resp_done = 1;
        c->state = S_LOCAL;
        return;
    }
    cg_http_out_printf(&c->ex->out, "content-length: %zu\r\n%s%s%s%s\r\n", content_length,
                       content_type ? "content-type: " : "", content_type ? content_type : "",
                       content_type ? "\r\n" : "", c->close_after ? "connection: close\r\n" : "");
    c->ex->resp_body_start = c->ex->out.total;
    c->ex->phase = X_LOCAL;
    c->ex->resp_done = 1;
    c->state = S_LOCAL;
}

void cg_proxy__local_reply(conn_t *c, int status, uint32_t flags, const char *body, int close)
{
    size_t blen = body ? strlen(body) : 0;
    c->ex->flags |= flags;
    reply_begin(c, status, close);
    reply_end(c, blen, "text/plain", NULL, 0);
    if (blen) cg_http_out_push(&c->ex->out, body, blen); /* body is static or lives in the config */
    /* a request body we did not read leaves the connection unsynchronised */
    if (!c->ex->req_done) c->close_after = 1;
}

void cg_proxy__redirect_reply(conn_t *c, const cg_snap_redirect_t *r)
{
    cg_http_out_t *o = &c->ex->out;
    reply_begin(c, r->redirect_code ? (int)r->redirect_code : 301, !c->ex->req_done);
    /* Location in parts: scheme, "://", host, ":port", path; slices of the config and the
     * request, but for the port, printed here */
    cg_iov_t host = c->ex->authority;
    cg_iov_t hostonly = cg_proxy_host_strip_port(host);
    cg_iov_t port = CG_IOV_NULL;
    if (hostonly.len < host.len)
        port = cg_iov(host.base + hostonly.len + 1, host.len - hostonly.len - 1);
    cg_iov_t loc[5];
    size_t n = 0;
    loc[n++] = cg_iov_str(r->scheme ? r->scheme : "http");
    loc[n++] = CG_IOV_LIT("://");
    loc[n++] = r->authority ? cg_iov_str(r->authority) : hostonly;
    char digits[24];
    if (r->port || (!r->authority && port.len)) {
        int len = r->port ? snprintf(digits, sizeof(digits), ":%u", (unsigned)r->port)
                          : snprintf(digits, sizeof(digits), ":%.*s", (int)port.len, port.base);
        if (len > 0 && (size_t)len < sizeof(digits)) loc[n++] = cg_iov(digits, (size_t)len);
    }
    loc[n++] = r->uri ? cg_iov_str(r->uri) : c->ex->path;
    if (!c->parent) {
        CG_HTTP_OUT_PUSH_LIT(o, "location: ");
        for (size_t i = 0; i < n; i++) {
            /* the port's digits live on this stack: copied; the rest outlive the write */
            if (loc[i].base == digits)
                cg_http_out_copy(o, loc[i].base, loc[i].len);
            else
                cg_http_out_push(o, loc[i].base, loc[i].len);
        }
        CG_HTTP_OUT_PUSH_LIT(o, "\r\n");
    }
    reply_end(c, 0, NULL, loc, n);
}

/* nginx's answer to plaintext HTTP on a TLS port, in clear text. */
#define PLAINTEXT_BODY "The plain HTTP request was sent to HTTPS port\n"
#define PLAINTEXT_REPLY                                                                            \
    "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ncontent-length: 46\r\n"               \
    "connection: close\r\n\r\n" PLAINTEXT_BODY
#define PLAINTEXT_DRAIN_MAX (64 * 1024)

void cg_proxy__plaintext_reply(int fd)
{
    _Static_assert(sizeof(PLAINTEXT_BODY) - 1 == 46, "content-length");
    /* read what the client sent first (the handshake only peeked at it): closing a socket with
     * unread bytes resets the connection, and the reset can overtake the answer */
    char scratch[4096];
    for (size_t got = 0; got < PLAINTEXT_DRAIN_MAX;) {
        ssize_t n = recv(fd, scratch, sizeof(scratch), MSG_DONTWAIT);
        if (n <= 0) break;
        got += (size_t)n;
    }
    /* one small write on a fresh socket: it fits the send buffer; a client that does not
     * read it loses it, as with nginx */
    (void)!send(fd, PLAINTEXT_REPLY, sizeof(PLAINTEXT_REPLY) - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
    shutdown(fd, SHUT_WR);
}
