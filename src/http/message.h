/* HTTP/1.x message heads as offsets into the buffer they were read into (no copies), and the
 * output vector that carries heads and bodies to a socket with one writev. */
#ifndef CG_HTTP_MESSAGE_H
#define CG_HTTP_MESSAGE_H

#include "core/buf.h"

#include <stdint.h>
#include <sys/uio.h>

#define CG_HTTP_MAX_HEADERS 100
#define CG_HTTP_OUT_IOV 64
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
    CG_HTTP_F_HAS_BODY = 1 << 4, /* CL > 0 or chunked */
    CG_HTTP_F_EOF_BODY = 1 << 5, /* response delimited by connection close */
};

/* A parsed head. Offsets are relative to the start of the buffer data it was parsed from. */
typedef struct cg_http_head {
    uint32_t len; /* bytes of the whole head, CRLFCRLF included */
    uint8_t method; /* llhttp_method_t */
    uint8_t http_major, http_minor;
    uint16_t status;
    uint16_t flags;
    int64_t content_length; /* -1: none */
    cg_span_t url, reason;
    int16_t host_idx, conn_idx, te_idx, xff_idx, rid_idx, ua_idx; /* -1: absent */
    uint16_t nheaders;
    cg_http_header_t headers[CG_HTTP_MAX_HEADERS];
} cg_http_head_t;

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
const char *cg_http_status_reason(int status);

/* Bytes on their way to one socket: slices of read buffers and of a small scratch area. */
typedef struct cg_http_out {
    struct iovec iov[CG_HTTP_OUT_IOV];
    uint16_t n, pos;      /* iov[pos..n) pending */
    uint16_t scratch_len; /* used bytes of scratch */
    uint64_t total;       /* bytes ever queued (kept across resets; the owner zeroes it per message) */
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
/* Copies bytes into scratch and queues them. */
int cg_http_out_copy(cg_http_out_t *o, const char *p, size_t n);
int cg_http_out_printf(cg_http_out_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* writev()s what is pending; returns bytes written, CG_EAGAIN when the socket is full before
 * everything went, or a negative error. Resets the out when all is written. */
ssize_t cg_http_out_write(cg_http_out_t *o, int fd);

#endif
