/* HTTP/1.x message heads as offsets into the buffer they were read into (no copies), and the
 * output vector that carries heads and bodies to a socket with one writev. */
#ifndef CG_HTTP_MESSAGE_H
#define CG_HTTP_MESSAGE_H

#include "core/buf.h"
#include "core/transport.h"

#include <stdint.h>
#include <sys/uio.h>

#define CG_HTTP_MAX_HEADERS 100
#define CG_HTTP_OUT_IOV     64
#define CG_HTTP_OUT_SCRATCH 1024

typedef struct cg_span {
    uint32_t off, len;
} cg_span_t;

typedef struct cg_http_header {
    cg_span_t name, value;
    uint32_t line_end; /* offset just past the line's CRLF */
    uint8_t drop;      /* not forwarded (hop-by-hop or rewritten) */
} cg_http_header_t;

enum {
    CG_HTTP_F_CHUNKED = 1 << 0,
    CG_HTTP_F_KEEPALIVE = 1 << 1,
    CG_HTTP_F_EXPECT_CONTINUE = 1 << 2,
    CG_HTTP_F_UPGRADE = 1 << 3,
    CG_HTTP_F_HAS_BODY = 1 << 4,         /* CL > 0 or chunked */
    CG_HTTP_F_EOF_BODY = 1 << 5,         /* response delimited by connection close */
    CG_HTTP_F_MULTI_CONNECTION = 1 << 6, /* more than one Connection header (conn_idx: the first) */
    CG_HTTP_F_CONN_NAMES =
        1 << 7, /* a Connection token other than close / keep-alive names a header */
};

/* Fixed protocol elements, spelled once. */
#define CG_HTTP_100_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"
#define CG_HTTP_LAST_CHUNK   "0\r\n\r\n" /* last-chunk, no trailers, end of message */

/* Largest Content-Length accepted (4 EiB): far beyond any real body, far from wrapping. */
#define CG_HTTP_MAX_CONTENT_LENGTH (INT64_C(1) << 62)

/* A parsed head. Offsets are relative to the start of the buffer data it was parsed from. */
typedef struct cg_http_head {
    uint32_t len;   /* bytes of the whole head, CRLFCRLF included */
    uint8_t method; /* llhttp_method_t */
    uint8_t http_major, http_minor;
    uint16_t status;
    uint16_t flags;
    int64_t content_length; /* -1: none */
    cg_span_t url, reason;
    /* request target split (requests only): authority of an absolute-form target (len 0 for
     * origin-form), and the part to forward in origin-form: it may be empty or start with '?'
     * ("http://h?q"), then "/" goes in front of it */
    cg_span_t authority, path;
    int16_t host_idx, conn_idx, te_idx, xff_idx, rid_idx, ua_idx, cl_idx; /* -1: absent */
    uint16_t nheaders;
    cg_http_header_t headers[CG_HTTP_MAX_HEADERS];
} cg_http_head_t;

/* No method parsed (a request refused before its head was read): named "-". */
#define CG_HTTP_METHOD_NONE 0xff

/* An empty head: no fields, no framing, no method. Every head starts so (the parser, for each
 * message; an exchange, for each request), so nothing of an earlier message survives in it. */
static inline void cg_http_head_reset(cg_http_head_t *h)
{
    h->len = 0;
    h->method = CG_HTTP_METHOD_NONE;
    h->http_major = h->http_minor = 0;
    h->status = 0;
    h->nheaders = 0;
    h->flags = 0;
    h->content_length = -1;
    h->url = h->reason = h->authority = h->path = (cg_span_t){0, 0};
    h->host_idx = h->conn_idx = h->te_idx = h->xff_idx = h->rid_idx = h->ua_idx = h->cl_idx = -1;
}

static inline cg_iov_t cg_span_iov(const char *base, cg_span_t s)
{
    return (cg_iov_t){(char *)base + s.off, s.len};
}
/* Value of the header at idx, or an empty slice. */
static inline cg_iov_t cg_http_head_value(const cg_http_head_t *h, const char *base, int idx)
{
    return idx < 0 ? CG_IOV_NULL : cg_span_iov(base, h->headers[idx].value);
}
/* First header named `name` (case-insensitive), -1 if absent. */
int cg_http_head_find(const cg_http_head_t *h, const char *base, cg_iov_t name);
const char *cg_http_method_name(int method);

/* Strict syntax checks shared by both directions. */
/* A token character (RFC 9110 5.6.2): what field names and methods are made of. */
int cg_http_is_tchar(unsigned char c);
/* Content-Length: 1*DIGIT up to CG_HTTP_MAX_CONTENT_LENGTH; the value, or -1. */
int64_t cg_http_parse_content_length(cg_iov_t v);
/* Transfer-Encoding: 0 for exactly "chunked", 501 for a well-formed list of other codings,
 * 400 for a malformed one (or chunked twice). */
int cg_http_check_transfer_encoding(cg_iov_t v);
/* A Host value or target authority: reg-name / IP-literal with an optional port, no userinfo. */
int cg_http_valid_authority(cg_iov_t v);
/* Classifies a request's target into h->authority / h->path (origin, absolute or asterisk
 * form). Returns 0, or the status to refuse it with. */
int cg_http_check_target(cg_http_head_t *h, const char *base, int method);
/* The target of a request head as routing sees it: the authority of an absolute-form target,
 * else Host; the path, "/" when the target has none ("http://h", "http://h?q"). */
void cg_http_request_target(const cg_http_head_t *h, const char *base, cg_iov_t *authority,
                            cg_iov_t *path);
const char *cg_http_status_reason(int status);
/* v in decimal at out (room for 20 digits), no NUL; returns the digits written. For a length on
 * the per-request path, where snprintf costs more than the rest of the field. */
static inline size_t cg_http_decimal(char *out, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do tmp[n++] = (char)('0' + v % 10);
    while (v /= 10);
    for (size_t i = 0; i < n; i++) out[i] = tmp[n - 1 - i];
    return n;
}

/* HTTP/1 heads built and read by hand, for the control path and tools (the proxy forwards heads
 * through http/forward.c and parses them with http/parser.c). */

/* HTTP-version = "HTTP/" DIGIT "." DIGIT (RFC 9112 2.3), CG_HTTP_VERSION_LEN bytes at s. */
#define CG_HTTP_VERSION_LEN (sizeof("HTTP/1.1") - 1)
static inline int cg_http_is_version(const char *s)
{
    return s[0] == 'H' && s[1] == 'T' && s[2] == 'T' && s[3] == 'P' && s[4] == '/' && s[5] >= '0' &&
           s[5] <= '9' && s[6] == '.' && s[7] >= '0' && s[7] <= '9';
}

/* A status line's start: HTTP-version SP 3DIGIT, then SP (a reason follows) or CR (RFC 9112 4);
 * the first CG_HTTP_STATUS_START bytes of a response tell it. */
#define CG_HTTP_STATUS_START (CG_HTTP_VERSION_LEN + sizeof(" 200 ") - 1)
typedef struct cg_http_status_line {
    uint8_t major, minor;
    uint16_t status; /* 100..599 */
} cg_http_status_line_t;
/* Reads it from data[0, len): 0, CG_EAGAIN while len < CG_HTTP_STATUS_START, or CG_EPARSE. */
int cg_http_parse_status_start(const char *data, size_t len, cg_http_status_line_t *out);

/* A request head: the request line, Host, the optional lines in this order, the blank line. */
typedef struct cg_http_request_spec {
    const char *method, *target, *host;
    const char *user_agent; /* NULL: none */
    int close;              /* Connection: close */
    const char *extra;      /* "name: value\r\n" lines, or NULL */
    int64_t content_length; /* < 0: none (no body) */
} cg_http_request_spec_t;
/* Appends it to b. CG_EINVAL when the method is not a token or the target or host holds a space
 * or control character (nothing is appended then), CG_ENOMEM. */
int cg_http_request_head(cg_buf_t *b, const cg_http_request_spec_t *r);

/* Bytes on their way to one socket: slices of read buffers and of a small scratch area. */
typedef struct cg_http_out {
    struct iovec iov[CG_HTTP_OUT_IOV];
    uint16_t n, pos;      /* iov[pos..n) pending */
    uint16_t scratch_len; /* used bytes of scratch */
    uint64_t total; /* bytes ever queued (kept across resets; the owner zeroes it per message) */
    char scratch[CG_HTTP_OUT_SCRATCH];
} cg_http_out_t;

static inline void cg_http_out_reset(cg_http_out_t *o)
{
    o->n = o->pos = o->scratch_len = 0;
}
static inline int cg_http_out_pending(const cg_http_out_t *o)
{
    return o->pos < o->n;
}
static inline unsigned cg_http_out_room(const cg_http_out_t *o)
{
    return CG_HTTP_OUT_IOV - o->n;
}
/* Queues a slice (must outlive the write). Merges with the previous slice when adjacent. */
int cg_http_out_push(cg_http_out_t *o, const char *p, size_t n);
/* Queues a string literal (static storage: it outlives any write), its length counted by the
 * compiler. */
#define CG_HTTP_OUT_PUSH_LIT(o, lit) cg_http_out_push((o), "" lit, sizeof(lit) - 1)
/* Copies bytes into scratch and queues them. */
int cg_http_out_copy(cg_http_out_t *o, const char *p, size_t n);
int cg_http_out_printf(cg_http_out_t *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Writes what is pending through the transport; returns bytes written, CG_EAGAIN when nothing
 * could go, or a negative error. Whenever bytes are left pending (a positive count or CG_EAGAIN),
 * x->want says which readiness the rest waits for. Resets the out when all is written. */
ssize_t cg_http_out_write(cg_http_out_t *o, cg_xport_t *x);
/* Copies up to len pending bytes into buf, as a write that took them: returns the count, and
 * resets the out when nothing is left pending. */
size_t cg_http_out_take(cg_http_out_t *o, void *buf, size_t len);

#endif
