/* Head rebuilding for forwarded messages: one place decides what crosses the gateway. */
#include "http/forward.h"
#include "core/err.h"
#include "http/parser.h"

#include <limits.h>
#include <string.h>
#include <strings.h>

/* Header classes, by name. Length first: most names are ruled out without a comparison. */
enum { H_OTHER, H_HOP, H_HOST, H_CL, H_TE, H_XFF, H_XFP, H_RID, H_HOPS, H_EXPECT, H_CLASSES };

static int classify(cg_iov_t n)
{
#define IS(lit) (n.len == sizeof(lit) - 1 && strncasecmp(n.base, lit, n.len) == 0)
    switch (n.len) {
    case 2: return IS("te") ? H_HOP : H_OTHER;
    case 4: return IS("host") ? H_HOST : H_OTHER;
    case 6: return IS("expect") ? H_EXPECT : H_OTHER;
    case 7: return IS("trailer") || IS("upgrade") ? H_HOP : H_OTHER;
    case 10: return IS("connection") || IS("keep-alive") ? H_HOP : H_OTHER;
    case 12: return IS("x-request-id") ? H_RID : H_OTHER;
    case 14: return IS("content-length") ? H_CL : H_OTHER;
    case 15: return IS("x-forwarded-for") ? H_XFF : H_OTHER;
    case 16: return IS("proxy-connection") ? H_HOP : IS(CG_HTTP_HOPS_HEADER) ? H_HOPS : H_OTHER;
    case 17: return IS("transfer-encoding") ? H_TE : IS("x-forwarded-proto") ? H_XFP : H_OTHER;
    }
    return H_OTHER;
#undef IS
}

static int list_has(cg_iov_t list, cg_iov_t tok)
{
    size_t i = 0;
    while (i <= list.len) {
        size_t j = i;
        while (j < list.len && list.base[j] != ',') j++;
        cg_iov_t item = cg_iov_trim(cg_iov(list.base + i, j - i));
        if (cg_iov_caseeq(item, tok)) return 1;
        i = j + 1;
    }
    return 0;
}

static int nominated(const cg_http_head_t *h, const char *base, cg_iov_t name)
{
    if (!(h->flags & CG_HTTP_F_CONN_NAMES)) return 0;
    if (!(h->flags & CG_HTTP_F_MULTI_CONNECTION))
        return list_has(cg_span_iov(base, h->headers[h->conn_idx].value), name);
    for (int i = h->conn_idx; i < h->nheaders; i++) {
        const cg_http_header_t *hd = &h->headers[i];
        if (cg_iov_caseeq_lit(cg_span_iov(base, hd->name), "connection") &&
            list_has(cg_span_iov(base, hd->value), name))
            return 1;
    }
    return 0;
}

int cg_http_hop_by_hop(const cg_http_head_t *h, const char *base, cg_iov_t name)
{
    return classify(name) == H_HOP || nominated(h, base, name);
}

unsigned cg_http_head_hops(const cg_http_head_t *h, const char *base)
{
    unsigned max = 0;
    for (int i = 0; i < h->nheaders; i++) {
        const cg_http_header_t *hd = &h->headers[i];
        if (hd->name.len != sizeof(CG_HTTP_HOPS_HEADER) - 1 ||
            !cg_iov_caseeq_lit(cg_span_iov(base, hd->name), CG_HTTP_HOPS_HEADER))
            continue;
        cg_iov_t v = cg_span_iov(base, hd->value);
        if (v.len == 0 || v.len > 9) return UINT_MAX;
        unsigned n = 0;
        for (size_t k = 0; k < v.len; k++) {
            if (v.base[k] < '0' || v.base[k] > '9') return UINT_MAX;
            n = n * 10 + (unsigned)(v.base[k] - '0');
        }
        if (n > max) max = n;
    }
    return max;
}

/* A decimal number into the output's scratch (no printf on the request path). */
static int out_u64(cg_http_out_t *o, uint64_t v)
{
    char d[20];
    return cg_http_out_copy(o, d, cg_http_decimal(d, v));
}

#define PUSH_LIT(o, lit) cg_http_out_push(o, lit, sizeof(lit) - 1)

static int push_line(cg_http_out_t *o, const char *base, const cg_http_header_t *hd)
{
    return cg_http_out_push(o, base + hd->name.off, hd->line_end - hd->name.off);
}

/* Queues the header lines whose class `keep` allows: KEEP unless a Connection header names
 * them, PROTECT whatever Connection says (the classes the gateway rebuilds are not kept). */
enum { DROP, KEEP, PROTECT };
static int kept(const cg_http_head_t *h, const char *base, cg_iov_t name,
                const uint8_t keep[H_CLASSES])
{
    int k = classify(name);
    return keep[k] == PROTECT || (keep[k] == KEEP && !nominated(h, base, name));
}

static int push_headers(cg_http_out_t *o, const cg_http_head_t *h, const char *base,
                        const uint8_t keep[H_CLASSES])
{
    int r = 0;
    for (int i = 0; i < h->nheaders; i++) {
        const cg_http_header_t *hd = &h->headers[i];
        if (kept(h, base, cg_span_iov(base, hd->name), keep)) r |= push_line(o, base, hd);
    }
    return r;
}

/* Queues every header line called name (lower case), as received. */
static int push_named(cg_http_out_t *o, const cg_http_head_t *h, const char *base, const char *name)
{
    int r = 0;
    for (int i = 0; i < h->nheaders; i++) {
        const cg_http_header_t *hd = &h->headers[i];
        if (cg_iov_caseeq(cg_span_iov(base, hd->name), cg_iov_str(name)))
            r |= push_line(o, base, hd);
    }
    return r;
}

int cg_http_is_websocket(const cg_http_head_t *h, const char *base)
{
    if (!(h->flags & CG_HTTP_F_UPGRADE) || h->method != HTTP_GET || h->http_minor != 1 ||
        (h->flags & CG_HTTP_F_HAS_BODY))
        return 0;
    int n = 0, ws = 0;
    for (int i = 0; i < h->nheaders; i++) {
        const cg_http_header_t *hd = &h->headers[i];
        if (!cg_iov_caseeq_lit(cg_span_iov(base, hd->name), "upgrade")) continue;
        n++;
        ws = cg_iov_caseeq_lit(cg_iov_trim(cg_span_iov(base, hd->value)), "websocket");
    }
    return n == 1 && ws;
}

int cg_http_forward_upgrade_head(cg_http_out_t *o, const cg_http_head_t *h, const char *base)
{
    static const uint8_t keep[H_CLASSES] = {
        [H_OTHER] = KEEP, [H_HOST] = KEEP, [H_XFF] = KEEP,    [H_XFP] = KEEP,
        [H_RID] = KEEP,   [H_HOPS] = KEEP, [H_EXPECT] = KEEP,
    };
    int r = PUSH_LIT(o, "HTTP/1.1 101 Switching Protocols\r\n");
    r |= push_headers(o, h, base, keep);
    r |= push_named(o, h, base, "upgrade");
    r |= PUSH_LIT(o, "connection: upgrade\r\n\r\n");
    return r ? CG_ELIMIT : 0;
}

int cg_http_forward_request_head(cg_http_out_t *o, const cg_http_head_t *h, const char *base,
                                 const cg_http_fwd_req_t *f)
{
    const char *m = cg_http_method_name(h->method);
    int r = 0, absolute = h->authority.len != 0, replaced = f->host.len != 0;
    cg_iov_t path = cg_span_iov(base, h->path);
    r |= cg_http_out_push(o, m, strlen(m));
    r |= PUSH_LIT(o, " ");
    if (path.len == 0 || path.base[0] == '?') r |= PUSH_LIT(o, "/");
    r |= cg_http_out_push(o, path.base, path.len);
    r |= PUSH_LIT(o, " HTTP/1.1\r\n");
    if (replaced) {
        r |= PUSH_LIT(o, "host: ");
        r |= cg_http_out_push(o, f->host.base, f->host.len);
        r |= PUSH_LIT(o, "\r\n");
    } else if (absolute) {
        /* RFC 9112 3.2.2: the target's authority wins over Host; send it as Host */
        r |= PUSH_LIT(o, "host: ");
        r |= cg_http_out_push(o, base + h->authority.off, h->authority.len);
        r |= PUSH_LIT(o, "\r\n");
    } else if (h->host_idx < 0 && f->default_host.len) {
        r |= PUSH_LIT(o, "host: ");
        r |= cg_http_out_push(o, f->default_host.base, f->default_host.len);
        r |= PUSH_LIT(o, "\r\n");
    }
    /* framing, hop-by-hop and the gateway's own headers are rebuilt below or not forwarded */
    const uint8_t keep[H_CLASSES] = {
        [H_OTHER] = KEEP,
        [H_HOST] = absolute || replaced ? DROP : PROTECT,
        [H_RID] = f->request_id.len ? DROP : PROTECT,
        [H_EXPECT] = f->drop_expect ? DROP : KEEP,
    };
    r |= push_headers(o, h, base, keep);
    /* every x-forwarded-for the client sent, in order, then the peer */
    r |= PUSH_LIT(o, "x-forwarded-for: ");
    if (h->xff_idx >= 0) {
        for (int i = 0; i < h->nheaders; i++) {
            const cg_http_header_t *hd = &h->headers[i];
            if (hd->name.len != 15 || classify(cg_span_iov(base, hd->name)) != H_XFF ||
                !hd->value.len)
                continue;
            r |= cg_http_out_push(o, base + hd->value.off, hd->value.len);
            r |= PUSH_LIT(o, ",");
        }
    }
    r |= cg_http_out_push(o, f->peer_ip.base, f->peer_ip.len);
    r |= f->https ? PUSH_LIT(o, "\r\nx-forwarded-proto: https\r\n" CG_HTTP_HOPS_HEADER ": ")
                  : PUSH_LIT(o, "\r\nx-forwarded-proto: http\r\n" CG_HTTP_HOPS_HEADER ": ");
    r |= out_u64(o, f->hops);
    r |= PUSH_LIT(o, "\r\n");
    if (f->upgrade) {
        r |= push_named(o, h, base, "upgrade");
        r |= PUSH_LIT(o, "connection: upgrade\r\n");
    }
    if (f->request_id.len) {
        r |= PUSH_LIT(o, "x-request-id: ");
        r |= cg_http_out_push(o, f->request_id.base, f->request_id.len);
        r |= PUSH_LIT(o, "\r\n");
    }
    if (h->flags & CG_HTTP_F_CHUNKED) {
        r |= PUSH_LIT(o, "transfer-encoding: chunked\r\n");
    } else if (h->content_length >= 0) {
        r |= PUSH_LIT(o, "content-length: ");
        r |= out_u64(o, (uint64_t)h->content_length);
        r |= PUSH_LIT(o, "\r\n");
    }
    r |= PUSH_LIT(o, "\r\n");
    return r ? CG_ELIMIT : 0;
}

/* What a response keeps of its upstream's head: framing and hop-by-hop fields are rebuilt for
 * the client's hop (or, for HTTP/2, have no place in it). */
/* A response head's content-length goes on: also for HEAD and 304, where it describes the body
 * not sent; never for 1xx and 204, which have none. */
static int response_has_length(const cg_http_head_t *h)
{
    return h->content_length >= 0 && h->status != 204 && h->status >= 200;
}

static const uint8_t response_keep[H_CLASSES] = {
    [H_OTHER] = KEEP, [H_HOST] = KEEP, [H_XFF] = KEEP,    [H_XFP] = KEEP,
    [H_RID] = KEEP,   [H_HOPS] = KEEP, [H_EXPECT] = KEEP,
};

int cg_http_forward_response_head(cg_http_out_t *o, const cg_http_head_t *h, const char *base,
                                  int chunked_out, int close, int keepalive_10)
{
    int r = 0;
    r |= PUSH_LIT(o, "HTTP/1.1 ");
    r |= out_u64(o, h->status); /* 100..599: the parser's start-line check */
    r |= PUSH_LIT(o, " ");
    if (h->reason.len)
        r |= cg_http_out_push(o, base + h->reason.off, h->reason.len);
    else
        r |= cg_http_out_push(o, cg_http_status_reason(h->status),
                              strlen(cg_http_status_reason(h->status)));
    r |= PUSH_LIT(o, "\r\n");
    r |= push_headers(o, h, base, response_keep);
    if (chunked_out) {
        r |= PUSH_LIT(o, "transfer-encoding: chunked\r\n");
    } else if (response_has_length(h)) {
        r |= PUSH_LIT(o, "content-length: ");
        r |= out_u64(o, (uint64_t)h->content_length);
        r |= PUSH_LIT(o, "\r\n");
    }
    if (close)
        r |= PUSH_LIT(o, "connection: close\r\n");
    else if (keepalive_10)
        r |= PUSH_LIT(o, "connection: keep-alive\r\n");
    r |= PUSH_LIT(o, "\r\n");
    return r ? CG_ELIMIT : 0;
}

int cg_http_response_fields(const cg_http_head_t *h, const char *base, cg_http_field_cb each,
                            void *ctx)
{
    for (int i = 0; i < h->nheaders; i++) {
        const cg_http_header_t *hd = &h->headers[i];
        cg_iov_t name = cg_span_iov(base, hd->name);
        if (kept(h, base, name, response_keep) && each(ctx, name, cg_span_iov(base, hd->value)))
            return CG_ENOMEM;
    }
    if (response_has_length(h)) {
        char d[20];
        size_t n = cg_http_decimal(d, (uint64_t)h->content_length);
        if (each(ctx, CG_IOV_LIT("content-length"), cg_iov(d, n))) return CG_ENOMEM;
    }
    return 0;
}
