/* A small HTTP/1.1 client for the control path (agent, CLI, tools): one request per
 * connection, whole response buffered (bounded). Asynchronous on a loop, or blocking. */
#ifndef CG_HTTP_CLIENT_H
#define CG_HTTP_CLIENT_H

#include "core/buf.h"
#include "core/loop.h"
#include "core/sock.h"

typedef struct cg_http_client cg_http_client_t;

/* Longest URL accepted: the control path builds request URLs from it in fixed buffers. */
#define CG_HTTP_URL_MAX 512
/* Largest response body buffered (a 1,000-cluster snapshot is about 14 MB); a larger one fails
 * the request with CG_ELIMIT. A variable so tests can lower it. */
#define CG_HTTP_CLIENT_MAX_BODY ((size_t)256 << 20)
extern size_t cg_http_client_max_body;
/* Process-wide source address of control-path connections (len 0: the kernel's choice). A
 * gateway sets its --address, so the control plane sees the address the gateway advertises. */
extern cg_addr_t cg_http_client_source;

typedef struct cg_http_result {
    int err; /* 0, or CG_E* (connect failure, timeout, malformed response) */
    int status;
    cg_buf_t headers; /* raw header block */
    cg_buf_t body;
} cg_http_result_t;

typedef void (*cg_http_client_cb)(cg_http_client_t *c, cg_http_result_t *res, void *data);

/* Splits "http://host:port/path?q" into address and path; host must be an IP (or
 * "localhost"). Returns 0 or CG_EINVAL. */
int cg_http_url_parse(const char *url, cg_addr_t *addr, char *host, size_t hostcap,
                      const char **path);

/* Starts a request. extra_headers: "name: value\r\n" lines or NULL. The callback runs once, on
 * the loop; the client frees itself after it returns. Returns NULL when the request could not
 * start (the callback is not called then). */
cg_http_client_t *cg_http_client_start(cg_loop_t *loop, const char *method, const char *url,
                                       const char *extra_headers, const char *body, size_t body_len,
                                       uint32_t timeout_ms, cg_http_client_cb cb, void *data);
/* Abandons a request in flight; its callback is not called. */
void cg_http_client_cancel(cg_http_client_t *c);

/* Blocking: performs the request on a private loop. res must be freed with
 * cg_http_result_free. */
void cg_http_fetch(const char *method, const char *url, const char *extra_headers, const char *body,
                   size_t body_len, uint32_t timeout_ms, cg_http_result_t *res);
void cg_http_result_free(cg_http_result_t *res);

#endif
