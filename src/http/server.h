/* A small HTTP/1.1 server for the control path: admin endpoints, the control-plane API and the
 * demo app. Whole requests are buffered (bounded), handlers fill a response, keep-alive and
 * pipelining are honoured. Not the proxy's request path, which streams. */
#ifndef CG_HTTP_SERVER_H
#define CG_HTTP_SERVER_H

#include "core/buf.h"
#include "core/list.h"
#include "core/loop.h"
#include "core/sock.h"
#include "http/message.h"

typedef struct cg_httpd cg_httpd_t;

typedef struct cg_httpd_req {
    const char *base; /* head and body live here */
    const cg_http_head_t *head;
    int method;
    cg_iov_t path;  /* without query */
    cg_iov_t query; /* after '?', may be empty */
    cg_iov_t body;
    cg_iov_t peer_ip;
    void *conn; /* internal: the connection, for cg_httpd_defer */
} cg_httpd_req_t;

typedef struct cg_httpd_resp {
    int status;
    const char *content_type; /* default text/plain */
    cg_buf_t body;
    cg_buf_t headers; /* extra "name: value\r\n" lines */
    int close;
} cg_httpd_resp_t;

/* Fills resp. Runs on the server's loop. */
typedef void (*cg_httpd_handler)(cg_httpd_t *srv, const cg_httpd_req_t *req, cg_httpd_resp_t *resp);

/* Deferred responses (long-poll). Inside a handler, cg_httpd_defer() parks the request: resp
 * is then ignored, the connection answers nothing (later pipelined requests wait) and its idle
 * timeout is suspended until cg_httpd_complete(). The request's slices are only valid during
 * the handler: copy what is needed later. If the client goes away (or the server stops) first,
 * gone(p, data) runs once and p is invalid when it returns; it must not call
 * cg_httpd_complete(). One deferred request per connection at a time. */
typedef struct cg_httpd_pending cg_httpd_pending_t;
typedef void (*cg_httpd_gone_cb)(cg_httpd_pending_t *p, void *data);
cg_httpd_pending_t *cg_httpd_defer(const cg_httpd_req_t *req, cg_httpd_gone_cb gone, void *data);
/* Queues resp (its buffers are taken over: the caller's resp is left empty) and ends p; the
 * bytes go out, and requests pipelined behind it are served, later on the loop, so no handler
 * runs inside this call. Not from inside the handler that deferred (answer directly there). */
void cg_httpd_complete(cg_httpd_pending_t *p, cg_httpd_resp_t *resp);

struct cg_httpd {
    cg_loop_t *loop;
    cg_io_t io;
    int fd;
    cg_httpd_handler handler;
    void *data;
    size_t max_body;          /* 413 beyond; default 1 MiB */
    uint32_t idle_timeout_ms; /* between requests; default 60 s */
    /* A whole request, from its first byte, within this; never reset per byte, so a client
     * trickling a head or body (slowloris) is closed on time. Default 10 s. */
    uint32_t request_timeout_ms;
    /* Open connections at most (default 1024). A new one over the cap closes the connection
     * that has waited longest for its request to complete (never a parked long-poll), so
     * slow clients cannot lock out a normal one. */
    uint32_t max_conns;
    uint32_t nconns;
    uint64_t evicted, timed_out; /* counters */
    cg_timer_t accept_timer;     /* out of fds, or full of parked watches: accepting pauses */
    int full;                    /* paused at max_conns: resumes when a connection closes */
    cg_list_t conns;             /* oldest first */
};

/* Listens on addr (ip:port). Returns 0 or CG_E*. */
int cg_httpd_start(cg_httpd_t *srv, cg_loop_t *loop, const char *addr, cg_httpd_handler h,
                   void *data);
void cg_httpd_stop(cg_httpd_t *srv);
/* Finds a header value in a request (case-insensitive), or an empty slice. */
cg_iov_t cg_httpd_header(const cg_httpd_req_t *req, const char *name);

/* Inside a handler: takes the connection over, for a protocol switch (the demo app's WebSocket
 * echo). Returns its non-blocking fd, which the caller now owns, and appends to `after` the
 * bytes that came behind the request (the new protocol's first); the server forgets the
 * connection when the handler returns, and resp is ignored. The caller writes its own answer. */
int cg_httpd_takeover(const cg_httpd_req_t *req, cg_buf_t *after);

#endif
