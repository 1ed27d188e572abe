/* HTTP/2 request fields to an HTTP/1.1 head: see h2req.h. */
#include "http/h2req.h"
#include "core/err.h"
#include "http/message.h"

#include <string.h>

void cg_h2req_reset(cg_h2req_t *r, size_t max_list)
{
    cg_buf_reset(&r->method), cg_buf_reset(&r->path), cg_buf_reset(&r->authority);
    cg_buf_reset(&r->host), cg_buf_reset(&r->cookie), cg_buf_reset(&r->fields);
    r->hlist = 0;
    r->max_list = max_list;
    r->has_scheme = r->cl_seen = r->bad = r->too_large = 0;
    r->plain = 1;
    r->nfields = 0;
}

void cg_h2req_free(cg_h2req_t *r)
{
    cg_buf_free(&r->method), cg_buf_free(&r->path), cg_buf_free(&r->authority);
    cg_buf_free(&r->host), cg_buf_free(&r->cookie), cg_buf_free(&r->fields);
}

/* RFC 9113 §8.2.1: lower-case names of token characters. */
static int valid_name(const uint8_t *n, size_t len)
{
    if (!len) return 0;
    for (size_t i = 0; i < len; i++)
        if (!cg_http_is_tchar(n[i]) || (n[i] >= 'A' && n[i] <= 'Z')) return 0;
    return 1;
}

/* Values without NUL, CR, LF or DEL, and without white space at either end. Clears *plain for a
 * value with any other control character or a byte past ASCII (cg_h2req_given_head). */
static int valid_value(const uint8_t *v, size_t len, uint8_t *plain)
{
    if (len && (v[0] == ' ' || v[0] == '\t' || v[len - 1] == ' ' || v[len - 1] == '\t')) return 0;
    int other = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == 0 || v[i] == '\r' || v[i] == '\n' || v[i] == 0x7f) return 0;
        other |= (v[i] < 0x20 && v[i] != '\t') || v[i] > 0x7f;
    }
    if (other) *plain = 0;
    return 1;
}

/* A request-line part (method, target, authority): visible ASCII only, so the line cannot be
 * split into more parts than it has. */
static int valid_visible(const uint8_t *v, size_t len)
{
    if (!len) return 0;
    for (size_t i = 0; i < len; i++)
        if (v[i] <= 0x20 || v[i] >= 0x7f) return 0;
    return 1;
}

/* A pseudo-header given once, with a value of its kind (RFC 9113 §8.3: each at most once). */
static int set_once(cg_buf_t *b, const uint8_t *v, size_t len)
{
    return !cg_buf_size(b) && valid_visible(v, len) && !cg_buf_append(b, v, len);
}

#define NAME_IS(lit) (namelen == sizeof(lit) - 1 && memcmp(name, lit, namelen) == 0)

void cg_h2req_field(cg_h2req_t *r, const uint8_t *name, size_t namelen, const uint8_t *value,
                    size_t valuelen)
{
    if (r->bad || r->too_large) return;
    r->hlist += namelen + valuelen + 32;
    if (r->hlist > r->max_list) {
        r->too_large = 1;
        return;
    }
    if (namelen && name[0] == ':') {
        /* pseudo-headers come first (nghttp2 enforces the order) and only these four */
        int ok;
        if (NAME_IS(":method"))
            ok = set_once(&r->method, value, valuelen);
        else if (NAME_IS(":path"))
            ok = set_once(&r->path, value, valuelen);
        else if (NAME_IS(":authority"))
            ok = set_once(&r->authority, value, valuelen);
        else if (NAME_IS(":scheme"))
            ok = !r->has_scheme && valid_visible(value, valuelen) && (r->has_scheme = 1);
        else
            ok = 0;
        if (!ok) r->bad = 1;
        return;
    }
    if (!valid_name(name, namelen) || !valid_value(value, valuelen, &r->plain)) {
        r->bad = 1;
        return;
    }
    /* connection-specific fields are malformed in HTTP/2 (§8.2.2); te may only say trailers,
     * and goes no further (hop-by-hop) */
    if (NAME_IS("connection") || NAME_IS("keep-alive") || NAME_IS("proxy-connection") ||
        NAME_IS("transfer-encoding") || NAME_IS("upgrade")) {
        r->bad = 1;
        return;
    }
    if (NAME_IS("te")) {
        if (!(valuelen == 8 && memcmp(value, "trailers", 8) == 0)) r->bad = 1;
        return;
    }
    if (NAME_IS("host")) {
        if (cg_buf_size(&r->host) || cg_buf_append(&r->host, value, valuelen)) r->bad = 1;
        return;
    }
    if (NAME_IS("cookie")) {
        /* §8.2.3: crumbs are joined with "; " for an HTTP/1.1 hop */
        if ((cg_buf_size(&r->cookie) && cg_buf_append(&r->cookie, "; ", 2)) ||
            cg_buf_append(&r->cookie, value, valuelen))
            r->bad = 1;
        return;
    }
    if (NAME_IS("content-length")) r->cl_seen = 1;
    if (cg_buf_append(&r->fields, name, namelen) || cg_buf_append(&r->fields, ": ", 2) ||
        cg_buf_append(&r->fields, value, valuelen) || cg_buf_append(&r->fields, "\r\n", 2)) {
        r->bad = 1;
        return;
    }
    if (r->nfields < CG_H2REQ_GIVEN_FIELDS) {
        r->lens[r->nfields].name = (uint32_t)namelen;
        r->lens[r->nfields].value = (uint32_t)valuelen;
    }
    if (r->nfields < UINT16_MAX) r->nfields++;
}

static int append_line(cg_buf_t *out, const char *name, size_t nlen, const cg_buf_t *v)
{
    return cg_buf_append(out, name, nlen) || cg_buf_append(out, cg_buf_data(v), cg_buf_size(v)) ||
           cg_buf_append(out, "\r\n", 2);
}

int cg_h2req_head(cg_h2req_t *r, int end_stream, cg_buf_t *out, int *chunked)
{
    *chunked = 0;
    if (r->too_large) return CG_ELIMIT;
    if (r->bad || !cg_buf_size(&r->method)) return CG_EPARSE;
    int connect =
        cg_buf_size(&r->method) == 7 && memcmp(cg_buf_data(&r->method), "CONNECT", 7) == 0;
    const cg_buf_t *target = &r->path;
    if (connect) {
        /* §8.5: :authority only; the HTTP/1 path refuses CONNECT by name (405) */
        if (cg_buf_size(&r->path) || r->has_scheme || !cg_buf_size(&r->authority)) return CG_EPARSE;
        target = &r->authority;
    } else if (!cg_buf_size(&r->path) || !r->has_scheme) {
        return CG_EPARSE; /* §8.3.1: both required */
    }
    /* :authority stands for Host (§8.3.1); a Host naming another is malformed */
    const cg_buf_t *host = cg_buf_size(&r->authority) ? &r->authority : &r->host;
    if (cg_buf_size(&r->authority) && cg_buf_size(&r->host) &&
        !cg_iov_caseeq(cg_iov(cg_buf_data(&r->authority), cg_buf_size(&r->authority)),
                       cg_iov(cg_buf_data(&r->host), cg_buf_size(&r->host))))
        return CG_EPARSE;
    if (cg_buf_size(host) && !valid_visible((const uint8_t *)cg_buf_data(host), cg_buf_size(host)))
        return CG_EPARSE;
    size_t start = cg_buf_size(out);
    int c = !end_stream && !r->cl_seen;
    int e = 0;
    e |= cg_buf_append(out, cg_buf_data(&r->method), cg_buf_size(&r->method));
    e |= cg_buf_append(out, " ", 1);
    e |= cg_buf_append(out, cg_buf_data(target), cg_buf_size(target));
    e |= cg_buf_append(out, " HTTP/1.1\r\n", 11);
    if (cg_buf_size(host)) e |= append_line(out, "host: ", 6, host);
    e |= cg_buf_append(out, cg_buf_data(&r->fields), cg_buf_size(&r->fields));
    if (cg_buf_size(&r->cookie)) e |= append_line(out, "cookie: ", 8, &r->cookie);
    if (c) e |= cg_buf_append(out, "transfer-encoding: chunked\r\n", 28);
    e |= cg_buf_append(out, "\r\n", 2);
    if (e) {
        out->len = out->off + start; /* nothing appended */
        return CG_ENOMEM;
    }
    *chunked = c;
    return 0;
}

/* ---------- the head given without a second parse ---------- */

/* The methods the given head takes, by name; any other is the parser's to read. */
static int given_method(const cg_buf_t *m)
{
    const char *s = cg_buf_data(m);
    switch (cg_buf_size(m)) {
    case 3:
        if (!memcmp(s, "GET", 3)) return HTTP_GET;
        if (!memcmp(s, "PUT", 3)) return HTTP_PUT;
        break;
    case 4:
        if (!memcmp(s, "HEAD", 4)) return HTTP_HEAD;
        if (!memcmp(s, "POST", 4)) return HTTP_POST;
        break;
    case 5:
        if (!memcmp(s, "PATCH", 5)) return HTTP_PATCH;
        break;
    case 6:
        if (!memcmp(s, "DELETE", 6)) return HTTP_DELETE;
        break;
    case 7:
        if (!memcmp(s, "OPTIONS", 7)) return HTTP_OPTIONS;
        break;
    }
    return -1;
}

/* An origin-form target of unreserved, sub-delims, ":@/?%" (RFC 3986): what the strict parser
 * takes as it is. A fragment, an absolute form, any other byte: the parser's. */
static int given_target(const cg_buf_t *t)
{
    const unsigned char *s = (const unsigned char *)cg_buf_data(t);
    size_t n = cg_buf_size(t);
    if (!n || s[0] != '/') return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') continue;
        if (c >= '0' && c <= '9') continue;
        if (!strchr("-._~!$&'()*+,;=:@/?%", c)) return 0;
    }
    return 1;
}

#define IS_LIT(p, n, lit) ((n) == sizeof(lit) - 1 && memcmp((p), lit, (n)) == 0)

/* One header line at text[*at): name, ": ", value, CRLF, as cg_h2req_head wrote it. */
static cg_http_header_t *given_line(cg_http_head_t *h, size_t *at, size_t nlen, size_t vlen)
{
    cg_http_header_t *hd = &h->headers[h->nheaders++];
    hd->name = (cg_span_t){(uint32_t)*at, (uint32_t)nlen};
    hd->value = (cg_span_t){(uint32_t)(*at + nlen + 2), (uint32_t)vlen};
    *at += nlen + 2 + vlen + 2;
    hd->line_end = (uint32_t)*at;
    if (!vlen) hd->value.off = hd->line_end; /* where the parser places an empty one */
    hd->drop = 0;
    return hd;
}

int cg_h2req_given_head(const cg_h2req_t *r, const char *text, size_t len, cg_http_head_t *h,
                        const cg_http_limits_t *lim)
{
    if (r->bad || r->too_large || r->cl_seen || !r->plain || r->nfields > CG_H2REQ_GIVEN_FIELDS ||
        r->has_scheme != 1 || len > lim->max_head)
        return -1;
    int method = given_method(&r->method);
    if (method < 0 || !given_target(&r->path) || cg_buf_size(&r->path) > lim->max_request_line)
        return -1;
    const cg_buf_t *host = cg_buf_size(&r->authority) ? &r->authority : &r->host;
    if (!cg_buf_size(host) ||
        !cg_http_valid_authority(cg_iov(cg_buf_data(host), cg_buf_size(host))))
        return -1;
    size_t clen = cg_buf_size(&r->cookie);
    if (clen && cg_buf_data(&r->cookie)[clen - 1] == ' ')
        return -1; /* an empty last crumb: "a=1; ", which the parser trims */
    size_t nlines = 1 + r->nfields + (clen != 0);
    if (nlines > CG_HTTP_MAX_HEADERS) return -1;
    cg_http_head_reset(h);
    h->method = (uint8_t)method;
    h->http_major = 1, h->http_minor = 1;
    h->flags = CG_HTTP_F_KEEPALIVE;
    size_t at = cg_buf_size(&r->method) + 1;
    h->url = (cg_span_t){(uint32_t)at, (uint32_t)cg_buf_size(&r->path)};
    at += cg_buf_size(&r->path) + sizeof(" HTTP/1.1\r\n") - 1;
    h->host_idx = (int16_t)h->nheaders;
    given_line(h, &at, 4, cg_buf_size(host));
    for (uint16_t i = 0; i < r->nfields; i++) {
        size_t nl = r->lens[i].name, vl = r->lens[i].value;
        const char *n = text + at;
        int idx = h->nheaders;
        const cg_http_header_t *hd = given_line(h, &at, nl, vl);
        /* as the parser's on_header_value_complete: the last of each wins */
        if (IS_LIT(n, nl, "user-agent"))
            h->ua_idx = (int16_t)idx;
        else if (IS_LIT(n, nl, "x-request-id"))
            h->rid_idx = (int16_t)idx;
        else if (IS_LIT(n, nl, "x-forwarded-for"))
            h->xff_idx = (int16_t)idx;
        else if (IS_LIT(n, nl, "expect") &&
                 cg_iov_caseeq_lit(cg_span_iov(text, hd->value), "100-continue"))
            h->flags |= CG_HTTP_F_EXPECT_CONTINUE;
    }
    if (cg_buf_size(&r->cookie)) given_line(h, &at, 6, cg_buf_size(&r->cookie));
    at += 2;
    if (at != len) return -1; /* not the head cg_h2req_head built from r */
    h->len = (uint32_t)len;
    if (cg_http_check_target(h, text, method)) return -1;
    return 0;
}
