/* Head look-ups and the writev output vector. */
#include "http/message.h"
#include "core/err.h"

#include <errno.h>
#include <llhttp.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int cg_http_head_find(const cg_http_head_t *h, const char *base, cg_iov_t name)
{
    for (int i = 0; i < h->nheaders; i++)
        if (cg_iov_caseeq(cg_span_iov(base, h->headers[i].name), name)) return i;
    return -1;
}

/* RFC 9110 5.6.2: ALPHA, DIGIT and these: !#$%&'*+-.^_`|~ (a table: every byte of every field
 * name of an HTTP/2 request goes through it) */
static const uint8_t tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1,
    ['+'] = 1, ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1,  ['|'] = 1,
    ['~'] = 1, ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,  ['5'] = 1,
    ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
};

int cg_http_is_tchar(unsigned char c)
{
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return 1;
    return tchar[c];
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int cg_http_parse_status_start(const char *data, size_t len, cg_http_status_line_t *out)
{
    if (len < CG_HTTP_STATUS_START) return CG_EAGAIN;
    const char *s = data + CG_HTTP_VERSION_LEN; /* SP 3DIGIT (SP / CR) */
    if (!cg_http_is_version(data) || s[0] != ' ' || s[1] < '1' || s[1] > '5' || !is_digit(s[2]) ||
        !is_digit(s[3]) || (s[4] != ' ' && s[4] != '\r'))
        return CG_EPARSE;
    out->major = (uint8_t)(data[5] - '0');
    out->minor = (uint8_t)(data[7] - '0');
    out->status = (uint16_t)((s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'));
    return 0;
}

/* No SP, CTL or DEL: what may stand in a request line's target or a Host value unquoted. */
static int is_visible(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) return 0;
    return 1;
}

int cg_http_request_head(cg_buf_t *b, const cg_http_request_spec_t *r)
{
    if (!*r->method || !*r->target || !*r->host || !is_visible(r->target) || !is_visible(r->host))
        return CG_EINVAL;
    for (const char *m = r->method; *m; m++)
        if (!cg_http_is_tchar((unsigned char)*m)) return CG_EINVAL;
    size_t before = cg_buf_size(b); /* a reserve may compact b: sizes stay, offsets move */
    int err = cg_buf_printf(b, "%s %s HTTP/1.1\r\nHost: %s\r\n", r->method, r->target, r->host);
    if (!err && r->user_agent) err = cg_buf_printf(b, "User-Agent: %s\r\n", r->user_agent);
    if (!err && r->close) err = cg_buf_append_iov(b, CG_IOV_LIT("Connection: close\r\n"));
    if (!err && r->extra) err = cg_buf_append_str(b, r->extra);
    if (!err && r->content_length >= 0)
        err = cg_buf_printf(b, "Content-Length: %lld\r\n", (long long)r->content_length);
    if (!err) err = cg_buf_append_iov(b, CG_IOV_LIT("\r\n"));
    if (err) b->len = b->off + before;
    return err;
}

int64_t cg_http_parse_content_length(cg_iov_t v)
{
    if (v.len == 0) return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.base[i];
        if (c < '0' || c > '9') return -1;
        if (n > (CG_HTTP_MAX_CONTENT_LENGTH - (c - '0')) / 10) return -1; /* before it can wrap */
        n = n * 10 + (c - '0');
    }
    return n;
}

int cg_http_check_transfer_encoding(cg_iov_t v)
{
    /* a list of tokens separated by OWS "," OWS; no parameters, no empty elements */
    size_t i = 0, nchunked = 0, nother = 0;
    for (;;) {
        while (i < v.len && (v.base[i] == ' ' || v.base[i] == '\t')) i++;
        size_t start = i;
        while (i < v.len && cg_http_is_tchar((unsigned char)v.base[i])) i++;
        if (i == start) return 400;
        if (cg_iov_caseeq_lit(cg_iov(v.base + start, i - start), "chunked"))
            nchunked++;
        else
            nother++;
        while (i < v.len && (v.base[i] == ' ' || v.base[i] == '\t')) i++;
        if (i == v.len) break;
        if (v.base[i] != ',') return 400;
        i++;
    }
    if (nchunked > 1) return 400;
    return nother ? 501 : 0;
}

static int is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* RFC 3986 unreserved / sub-delims, and a pct-encoded triplet at s[i] ("%HH"). */
static int is_unreserved_or_sub(unsigned char c)
{
    if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return 1;
    if (c >= '0' && c <= '9') return 1;
    return c && strchr("-._~!$&'()*+,;=", c) != NULL;
}

static int pct_at(cg_iov_t v, size_t i)
{
    return i + 2 < v.len && v.base[i] == '%' && is_hex((unsigned char)v.base[i + 1]) &&
           is_hex((unsigned char)v.base[i + 2]);
}

int cg_http_valid_authority(cg_iov_t v)
{
    /* host [ ":" port ], host = IP-literal / reg-name (RFC 3986 3.2.2); no userinfo, no empty
     * host. Strict: two readers must never split it differently. */
    size_t i = 0;
    if (v.len == 0) return 0;
    if (v.base[0] == '[') {
        const char *end = memchr(v.base, ']', v.len);
        if (!end || end == v.base + 1) return 0;
        const char *c = v.base + 1;
        if (*c == 'v' ||
            *c == 'V') { /* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
            const char *h = ++c;
            while (c < end && is_hex((unsigned char)*c)) c++;
            if (c == h || c >= end || *c != '.' || c + 1 >= end) return 0;
            for (c++; c < end; c++)
                if (!is_unreserved_or_sub((unsigned char)*c) && *c != ':') return 0;
        } else {
            for (; c < end; c++)
                if (!is_hex((unsigned char)*c) && *c != ':' && *c != '.') return 0; /* IPv6 */
        }
        i = (size_t)(end - v.base) + 1;
    } else {
        while (i < v.len && v.base[i] != ':') {
            unsigned char c = (unsigned char)v.base[i];
            if (c == '%') {
                if (!pct_at(v, i)) return 0;
                i += 3;
                continue;
            }
            if (!is_unreserved_or_sub(c)) return 0;
            i++;
        }
        if (i == 0) return 0; /* ":80": no host */
    }
    if (i == v.len) return 1;
    if (v.base[i] != ':') return 0;
    for (i++; i < v.len; i++)
        if (v.base[i] < '0' || v.base[i] > '9') return 0; /* port = *DIGIT */
    return 1;
}

/* The path and query of a target: pchar / "/" / "?" (RFC 3986 3.3, 3.4), %-triplets whole. */
static int valid_path_query(cg_iov_t v)
{
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.base[i];
        if (c == '%') {
            if (!pct_at(v, i)) return 0;
            i += 2;
        } else if (!is_unreserved_or_sub(c) && c != ':' && c != '@' && c != '/' && c != '?') {
            return 0;
        }
    }
    return 1;
}

int cg_http_check_target(cg_http_head_t *h, const char *base, int method)
{
    cg_iov_t t = cg_span_iov(base, h->url);
    h->authority = (cg_span_t){0, 0};
    h->path = h->url;
    if (method == HTTP_CONNECT) return 0; /* authority-form; refused by the proxy */
    if (t.len == 0 || memchr(t.base, '#', t.len)) return 400;
    if (t.base[0] == '/') return valid_path_query(t) ? 0 : 400;
    if (t.len == 1 && t.base[0] == '*') return method == HTTP_OPTIONS ? 0 : 400;
    size_t skip;
    const cg_iov_t http = CG_IOV_LIT("http://"), https = CG_IOV_LIT("https://");
    if (t.len >= http.len && strncasecmp(t.base, http.base, http.len) == 0)
        skip = http.len;
    else if (t.len >= https.len && strncasecmp(t.base, https.base, https.len) == 0)
        skip = https.len;
    else
        return 400;
    size_t e = skip;
    while (e < t.len && t.base[e] != '/' && t.base[e] != '?') e++;
    if (!cg_http_valid_authority(cg_iov(t.base + skip, e - skip))) return 400;
    h->authority = (cg_span_t){h->url.off + (uint32_t)skip, (uint32_t)(e - skip)};
    h->path = (cg_span_t){h->url.off + (uint32_t)e, (uint32_t)(t.len - e)};
    return valid_path_query(cg_span_iov(base, h->path)) ? 0 : 400;
}

void cg_http_request_target(const cg_http_head_t *h, const char *base, cg_iov_t *authority,
                            cg_iov_t *path)
{
    *authority = h->authority.len ? cg_span_iov(base, h->authority)
                                  : cg_http_head_value(h, base, h->host_idx);
    *path = cg_span_iov(base, h->path);
    if (path->len == 0 || path->base[0] == '?') *path = CG_IOV_LIT("/");
}

const char *cg_http_method_name(int method)
{
    return method == CG_HTTP_METHOD_NONE ? "-" : llhttp_method_name((llhttp_method_t)method);
}

const char *cg_http_status_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 508: return "Loop Detected";
    default: return "Unknown";
    }
}

int cg_http_out_push(cg_http_out_t *o, const char *p, size_t n)
{
    if (n == 0) return 0;
    o->total += n;
    if (o->n > o->pos) {
        struct iovec *last = &o->iov[o->n - 1];
        if ((char *)last->iov_base + last->iov_len == p) {
            last->iov_len += n;
            return 0;
        }
    }
    if (o->n == CG_HTTP_OUT_IOV) return CG_ELIMIT;
    o->iov[o->n].iov_base = (void *)p;
    o->iov[o->n].iov_len = n;
    o->n++;
    return 0;
}

int cg_http_out_copy(cg_http_out_t *o, const char *p, size_t n)
{
    if ((size_t)(CG_HTTP_OUT_SCRATCH - o->scratch_len) < n) return CG_ELIMIT;
    char *dst = o->scratch + o->scratch_len;
    memcpy(dst, p, n);
    o->scratch_len += (uint16_t)n;
    return cg_http_out_push(o, dst, n);
}

int cg_http_out_printf(cg_http_out_t *o, const char *fmt, ...)
{
    size_t room = CG_HTTP_OUT_SCRATCH - o->scratch_len;
    char *dst = o->scratch + o->scratch_len;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, room, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= room) return CG_ELIMIT;
    o->scratch_len += (uint16_t)n;
    return cg_http_out_push(o, dst, (size_t)n);
}

/* n bytes of what is pending went out: past them. */
static void out_advance(cg_http_out_t *o, size_t n)
{
    while (n && o->pos < o->n) {
        struct iovec *v = &o->iov[o->pos];
        if (n >= v->iov_len) {
            n -= v->iov_len;
            o->pos++;
        } else {
            v->iov_base = (char *)v->iov_base + n;
            v->iov_len -= n;
            n = 0;
        }
    }
}

size_t cg_http_out_take(cg_http_out_t *o, void *buf, size_t len)
{
    size_t n = 0;
    for (unsigned i = o->pos; i < o->n && n < len; i++) {
        size_t k = o->iov[i].iov_len < len - n ? o->iov[i].iov_len : len - n;
        memcpy((char *)buf + n, o->iov[i].iov_base, k);
        n += k;
    }
    out_advance(o, n);
    if (o->pos == o->n) cg_http_out_reset(o);
    return n;
}

ssize_t cg_http_out_write(cg_http_out_t *o, cg_xport_t *x)
{
    size_t done = 0;
    while (o->pos < o->n) {
        int cnt = o->n - o->pos;
        if (cnt > 1024) cnt = 1024; /* IOV_MAX on Linux */
        ssize_t w = cg_xport_writev(x, &o->iov[o->pos], cnt);
        if (w < 0) {
            if (w == CG_EAGAIN) return done ? (ssize_t)done : CG_EAGAIN;
            return w;
        }
        done += (size_t)w;
        out_advance(o, (size_t)w);
        if (o->pos < o->n && x->impl == NULL) {
            /* a short TCP write: the socket buffer is full (a TLS transport that framed part
             * of what it was offered is offered the rest at once, until it says CG_EAGAIN) */
            x->want = CG_XPORT_WANT_WRITE;
            return (ssize_t)done;
        }
    }
    cg_http_out_reset(o);
    return (ssize_t)done;
}
