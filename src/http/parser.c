/* llhttp callbacks that record heads as buffer offsets and queue body slices. */
#include "http/parser.h"
#include "core/err.h"

#include <stdio.h>
#include <string.h>

enum { ST_HEAD, ST_HEAD_DONE, ST_BODY, ST_DONE };
enum { TR_LINE_START = 1, TR_IN_LINE, TR_CR, TR_END_CR }; /* the trailer scan: see scan_trailers */

const cg_http_limits_t cg_http_default_limits = {
    .max_head = CG_HTTP_DEFAULT_MAX_HEAD,
    .max_request_line = CG_HTTP_DEFAULT_MAX_REQUEST_LINE,
};

#define P(ll) ((cg_http_parser_t *)(ll)->data)

static int fail(cg_http_parser_t *p, uint16_t status, const char *reason)
{
    p->error_status = status;
    p->error_reason = reason;
    return -1;
}

static void span_add(cg_http_parser_t *p, cg_span_t *s, const char *at, size_t len)
{
    uint32_t off = (uint32_t)(at - p->base);
    if (s->len == 0) s->off = off;
    s->len = off + (uint32_t)len - s->off;
}

static int on_message_begin(llhttp_t *ll)
{
    cg_http_parser_t *p = P(ll);
    cg_http_head_reset(p->head);
    p->in_value = 0;
    p->interim = 0;
    p->te_status = 0;
    p->trailers = 0;
    p->last_chunk = 0;
    return 0;
}

static int on_url(llhttp_t *ll, const char *at, size_t len)
{
    cg_http_parser_t *p = P(ll);
    span_add(p, &p->head->url, at, len);
    if (p->head->url.len > p->limits->max_request_line)
        return fail(p, 414, "request line too long");
    return 0;
}

static int on_status(llhttp_t *ll, const char *at, size_t len)
{
    cg_http_parser_t *p = P(ll);
    span_add(p, &p->head->reason, at, len);
    return 0;
}

static int on_header_field(llhttp_t *ll, const char *at, size_t len)
{
    cg_http_parser_t *p = P(ll);
    cg_http_head_t *h = p->head;
    if (p->state != ST_HEAD) return 0; /* chunked trailers: not forwarded */
    if (h->nheaders == 0 || p->in_value) {
        if (h->nheaders == CG_HTTP_MAX_HEADERS) return fail(p, 431, "too many headers");
        memset(&h->headers[h->nheaders++], 0, sizeof(cg_http_header_t));
    }
    p->in_value = 0;
    span_add(p, &h->headers[h->nheaders - 1].name, at, len);
    return 0;
}

static int on_header_value(llhttp_t *ll, const char *at, size_t len)
{
    cg_http_parser_t *p = P(ll);
    if (p->state != ST_HEAD) return 0;
    p->in_value = 1;
    span_add(p, &p->head->headers[p->head->nheaders - 1].value, at, len);
    return 0;
}

/* Does a Connection value hold a token other than close and keep-alive? Most do not, and then
 * forwarding need not look for headers it names. */
static int names_headers(cg_iov_t v)
{
    size_t i = 0;
    while (i <= v.len) {
        size_t j = i;
        while (j < v.len && v.base[j] != ',') j++;
        cg_iov_t t = cg_iov_trim(cg_iov(v.base + i, j - i));
        if (t.len && !cg_iov_caseeq_lit(t, "close") && !cg_iov_caseeq_lit(t, "keep-alive"))
            return 1;
        i = j + 1;
    }
    return 0;
}

static int is_name(const char *base, cg_span_t s, cg_iov_t lit)
{
    return s.len == lit.len && strncasecmp(base + s.off, lit.base, lit.len) == 0;
}

static int on_header_value_complete(llhttp_t *ll)
{
    cg_http_parser_t *p = P(ll);
    cg_http_head_t *h = p->head;
    if (p->state != ST_HEAD) return 0;
    int idx = h->nheaders - 1;
    cg_http_header_t *hd = &h->headers[idx];
    hd->line_end = 0; /* set by check_head once the whole head is in */
    p->in_value = 1;
    const char *b = p->base;
    if (hd->name.len == 0) return fail(p, 400, "empty header name");
    /* llhttp drops leading whitespace of a value but keeps trailing whitespace */
    while (hd->value.len && (b[hd->value.off + hd->value.len - 1] == ' ' ||
                             b[hd->value.off + hd->value.len - 1] == '\t'))
        hd->value.len--;
    cg_span_t n = hd->name;
    cg_iov_t v = cg_span_iov(b, hd->value);
    int r;
    switch (n.len) {
    case sizeof("host") - 1:
        if (is_name(b, n, CG_IOV_LIT("host")) && p->ll.type == HTTP_REQUEST) {
            if (h->host_idx >= 0) return fail(p, 400, "duplicate host header");
            if (!cg_http_valid_authority(v)) return fail(p, 400, "invalid host header");
            h->host_idx = (int16_t)idx;
        }
        break;
    case sizeof("connection") - 1: /* and user-agent */
        if (is_name(b, n, CG_IOV_LIT("connection"))) {
            if (h->conn_idx >= 0)
                h->flags |= CG_HTTP_F_MULTI_CONNECTION;
            else
                h->conn_idx = (int16_t)idx;
            if (names_headers(v)) h->flags |= CG_HTTP_F_CONN_NAMES;
        } else if (is_name(b, n, CG_IOV_LIT("user-agent"))) {
            h->ua_idx = (int16_t)idx;
        }
        break;
    case sizeof("content-length") - 1:
        if (is_name(b, n, CG_IOV_LIT("content-length"))) {
            /* our own reading, not llhttp's: 1*DIGIT within a bound, so no value can wrap */
            if (h->cl_idx >= 0) return fail(p, 400, "duplicate content-length");
            int64_t cl = cg_http_parse_content_length(v);
            if (cl < 0) return fail(p, 400, "invalid content-length");
            h->cl_idx = (int16_t)idx;
            h->content_length = cl;
        }
        break;
    case sizeof("x-request-id") - 1:
        if (is_name(b, n, CG_IOV_LIT("x-request-id"))) h->rid_idx = (int16_t)idx;
        break;
    case sizeof("x-forwarded-for") - 1:
        if (is_name(b, n, CG_IOV_LIT("x-forwarded-for"))) h->xff_idx = (int16_t)idx;
        break;
    case sizeof("transfer-encoding") - 1:
        if (is_name(b, n, CG_IOV_LIT("transfer-encoding"))) {
            if (h->te_idx >= 0) return fail(p, 400, "duplicate transfer-encoding");
            if ((r = cg_http_check_transfer_encoding(v)) == 400)
                return fail(p, 400, "invalid transfer-encoding");
            p->te_status =
                (uint16_t)r; /* a 501 waits for the whole head: ambiguity is a 400 first */
            h->te_idx = (int16_t)idx;
        }
        break;
    case sizeof("expect") - 1:
        if (is_name(b, n, CG_IOV_LIT("expect")) &&
            p->ll.http_minor >= 1 && /* RFC 9110 10.1.1: not for 1.0 */
            cg_iov_caseeq_lit(cg_span_iov(b, hd->value), "100-continue"))
            h->flags |= CG_HTTP_F_EXPECT_CONTINUE;
        break;
    }
    return 0;
}

/* The start line exactly as RFC 9112 writes it, where llhttp tolerates more (runs of spaces):
 * request-line = method SP request-target SP HTTP-version CRLF, after at most the empty lines
 * llhttp skips; status-line = HTTP-version SP 3DIGIT [SP reason] CRLF. */
static int check_start_line(cg_http_parser_t *p, const char *data, size_t end)
{
    const cg_http_head_t *h = p->head;
    size_t i = 0;
    if (p->ll.type == HTTP_REQUEST) {
        while (i + 1 < end && data[i] == '\r' && data[i + 1] == '\n') i += 2;
        size_t m = strlen(cg_http_method_name(h->method));
        size_t v = (size_t)h->url.off + h->url.len; /* just past the target */
        /* SP HTTP-version CRLF after the target */
        if (h->url.off != i + m + 1 || data[i + m] != ' ' || v + CG_HTTP_VERSION_LEN + 3 > end ||
            data[v] != ' ' || !cg_http_is_version(data + v + 1) ||
            data[v + 1 + CG_HTTP_VERSION_LEN] != '\r')
            return fail(p, 400, "malformed request line");
        return 0;
    }
    /* reason-phrase = *( HTAB / SP / VCHAR / obs-text ): llhttp lets control bytes through */
    for (uint32_t k = h->reason.off; k < h->reason.off + h->reason.len; k++) {
        unsigned char c = (unsigned char)data[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(p, 502, "control character in the reason phrase");
    }
    cg_http_status_line_t sl;
    if (end <= CG_HTTP_STATUS_START || cg_http_parse_status_start(data, end, &sl))
        return fail(p, 502, "malformed status line");
    return 0;
}

/* Strict framing checks llhttp leaves to us, on the complete head bytes data[start, end):
 * every line ends in CRLF (no bare CR or LF), no obs-fold continuation lines. Also records
 * each header's line end so kept headers can be forwarded as raw slices. */
static int check_head(cg_http_parser_t *p, const char *data, size_t start, size_t end)
{
    cg_http_head_t *h = p->head;
    if (check_start_line(p, data, end)) return -1;
    size_t line_start = start;
    int hi = 0;
    /* a line at a time (memchr, not a byte at a time): its one CR is the one before its LF */
    for (size_t at = start; at < end;) {
        const char *lf = memchr(data + at, '\n', end - at);
        size_t i = lf ? (size_t)(lf - data) : end;
        const char *cr = memchr(data + at, '\r', i - at);
        if (cr && (!lf || (size_t)(cr - data) + 1 != i)) return fail(p, 400, "bare CR");
        if (!lf) break;
        if (i == start || data[i - 1] != '\r') return fail(p, 400, "bare LF");
        size_t next = i + 1;
        at = next;
        if (next < end && (data[next] == ' ' || data[next] == '\t'))
            return fail(p, 400, "obs-fold");
        if (hi < h->nheaders && h->headers[hi].name.off == line_start) {
            h->headers[hi].line_end = (uint32_t)next;
            hi++;
        }
        line_start = next;
    }
    if (hi != h->nheaders) return fail(p, 400, "malformed header line");
    return 0;
}

static int on_headers_complete(llhttp_t *ll)
{
    cg_http_parser_t *p = P(ll);
    cg_http_head_t *h = p->head;
    h->method = ll->method;
    h->http_major = ll->http_major;
    h->http_minor = ll->http_minor;
    h->status = ll->status_code;
    /* llhttp refuses some of these only once asked for the body, and a head we stop at may be
     * followed by the next message: check them all here, for both directions */
    if (h->te_idx >= 0 && h->cl_idx >= 0)
        return fail(p, 400, "both content-length and transfer-encoding");
    if (p->te_status) return fail(p, p->te_status, "transfer-coding not implemented");
    if ((ll->flags & F_TRANSFER_ENCODING) && !(ll->flags & F_CHUNKED))
        return fail(p, 400, "transfer-encoding must be chunked");
    if (ll->http_major != 1) {
        if (ll->http_major == 0) return fail(p, 400, "HTTP/0.9 is not supported");
        return fail(p, 505, "HTTP version not supported");
    }
    /* RFC 9112 6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing */
    if (h->te_idx >= 0 && ll->http_minor == 0)
        return fail(p, 400, "transfer-encoding in an HTTP/1.0 message");
    if (ll->type == HTTP_REQUEST) {
        int r = cg_http_check_target(h, p->base, ll->method);
        if (r) return fail(p, (uint16_t)r, "invalid request target");
    } else if (h->status == 101) {
        /* an upgrade is asked for only by a WebSocket handshake the gateway forwarded (any other
         * Upgrade is hop-by-hop and dropped): a 101 to anything else is unsolicited */
        if (!p->upgrade_ok) return fail(p, 502, "unsolicited 101 switching protocols");
        if (h->cl_idx >= 0 || h->te_idx >= 0) return fail(p, 502, "101 with a body");
    }
    if (ll->flags & F_CHUNKED) h->flags |= CG_HTTP_F_CHUNKED;
    if (!!(h->flags & CG_HTTP_F_CHUNKED) != (h->te_idx >= 0))
        return fail(p, 400, "invalid transfer-encoding");
    if (llhttp_should_keep_alive(ll)) h->flags |= CG_HTTP_F_KEEPALIVE;
    if (ll->upgrade) h->flags |= CG_HTTP_F_UPGRADE;
    if (ll->type == HTTP_RESPONSE && h->status == 101) {
        /* the head is the whole message: what follows is the new protocol, not HTTP */
        h->flags |= CG_HTTP_F_UPGRADE;
        p->state = ST_HEAD_DONE;
        return HPE_PAUSED;
    }
    if (ll->type == HTTP_RESPONSE && h->status >= 100 && h->status < 200 && h->status != 101) {
        /* an interim answer has no body (RFC 9110 15.2): one that claims one is ambiguous */
        if (h->cl_idx >= 0 || h->te_idx >= 0) return fail(p, 502, "interim response with a body");
        p->interim = 1;
        return 1; /* no body: llhttp goes to message complete, where we pause */
    }
    int bodiless = ll->type == HTTP_RESPONSE && (h->status == 204 || h->status == 304);
    if (!bodiless && ((h->flags & CG_HTTP_F_CHUNKED) || h->content_length > 0))
        h->flags |= CG_HTTP_F_HAS_BODY;
    if (ll->type == HTTP_RESPONSE && !(h->flags & CG_HTTP_F_HAS_BODY) && h->content_length < 0 &&
        !p->skip_body && !bodiless)
        h->flags |= CG_HTTP_F_EOF_BODY;
    if (p->skip_body) h->flags &= (uint16_t) ~(CG_HTTP_F_HAS_BODY | CG_HTTP_F_EOF_BODY);
    p->state = ST_HEAD_DONE;
    if (p->skip_body || bodiless) return 1; /* llhttp goes to message complete, where we pause */
    return HPE_PAUSED;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    cg_http_parser_t *p = P(ll);
    cg_http_out_t *o = p->out;
    p->body_bytes += len;
    if (!o || len == 0) return 0;
    if (p->body_out == CG_BODY_OUT_CHUNKED) {
        if (cg_http_out_printf(o, "%zx\r\n", len) || cg_http_out_push(o, at, len) ||
            CG_HTTP_OUT_PUSH_LIT(o, "\r\n"))
            return fail(p, 502, "output vector full");
        return 0;
    }
    if (cg_http_out_push(o, at, len)) return fail(p, 502, "output vector full");
    return 0;
}

/* The last chunk: pause, so the trailer section is scanned by us before llhttp reads it. */
static int on_chunk_header(llhttp_t *ll)
{
    cg_http_parser_t *p = P(ll);
    if (ll->content_length != 0) return 0;
    p->trailers = TR_LINE_START;
    p->trailer_bytes = 0;
    p->last_chunk = 1;
    return HPE_PAUSED;
}

/* Keeps room for the pieces one more chunk can add: pause when nearly full. */
static int on_chunk_complete(llhttp_t *ll)
{
    cg_http_parser_t *p = P(ll);
    /* never at the last chunk: what completes the message would wait for input that never comes */
    if (p->last_chunk) return 0;
    if (p->out && (cg_http_out_room(p->out) < 8 || CG_HTTP_OUT_SCRATCH - p->out->scratch_len < 64))
        return HPE_PAUSED;
    return 0;
}

static int on_message_complete(llhttp_t *ll)
{
    cg_http_parser_t *p = P(ll);
    if (p->interim) return HPE_PAUSED; /* cg_http_parse_head reports CG_HTTP_INTERIM */
    if (p->out && p->body_out == CG_BODY_OUT_CHUNKED) {
        if (CG_HTTP_OUT_PUSH_LIT(p->out, CG_HTTP_LAST_CHUNK))
            return fail(p, 502, "output vector full");
    }
    p->complete = 1;
    if (p->state == ST_HEAD_DONE || p->state == ST_HEAD)
        p->state = ST_HEAD_DONE;
    else
        p->state = ST_DONE;
    return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_status = on_status,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_chunk_complete = on_chunk_complete,
    .on_message_complete = on_message_complete,
};

void cg_http_parser_init(cg_http_parser_t *p, int is_request, cg_http_head_t *head,
                         const cg_http_limits_t *limits)
{
    memset(p, 0, sizeof(*p));
    llhttp_init(&p->ll, is_request ? HTTP_REQUEST : HTTP_RESPONSE, &settings);
    p->ll.data = p;
    p->head = head;
    p->limits = limits ? limits : &cg_http_default_limits;
}

void cg_http_parser_next(cg_http_parser_t *p)
{
    /* Messages are delimited by us (head end, body complete): start the next one afresh
     * rather than letting llhttp finish a message we stopped parsing at its head. */
    llhttp_reset(&p->ll);
    p->state = ST_HEAD;
    p->complete = 0;
    p->trailers = 0;
    p->last_chunk = 0;
    p->te_status = 0;
    p->skip_body = 0;
    p->body_bytes = 0;
    p->body_out = CG_BODY_OUT_NONE;
    p->error_status = 0;
    p->error_reason = NULL;
    p->out = NULL;
}

void cg_http_parser_given_head(cg_http_parser_t *p)
{
    p->state = ST_DONE;
    p->complete = 1;
}

static int map_error(cg_http_parser_t *p, llhttp_errno_t e)
{
    if (!p->error_status) {
        p->error_status = 400;
        p->error_reason = llhttp_get_error_reason(&p->ll);
        /* 505 for a well-formed version we do not speak; a malformed one is a 400 */
        if (e == HPE_INVALID_VERSION && p->error_reason &&
            !strcmp(p->error_reason, "Invalid HTTP version"))
            p->error_status = 505;
    }
    return CG_EPARSE;
}

int cg_http_parse_head(cg_http_parser_t *p, const char *data, size_t len, size_t *parsed)
{
    if (p->state != ST_HEAD) return 0;
    p->base = data;
    p->out = NULL;
    size_t start = *parsed;
    llhttp_errno_t e = llhttp_execute(&p->ll, data + start, len - start);
    if (e == HPE_OK) {
        *parsed = len;
        if (len > p->limits->max_head) {
            p->error_status = 431;
            p->error_reason = "header block too large";
            return CG_ELIMIT;
        }
        return CG_EAGAIN;
    }
    if (e != HPE_PAUSED) return map_error(p, e);
    *parsed = (size_t)(llhttp_get_error_pos(&p->ll) - data);
    llhttp_resume(&p->ll);
    if (p->interim) {
        p->interim = 0;
        if (check_head(p, data, 0, *parsed))
            return CG_EPARSE; /* the same strictness as a final head */
        return CG_HTTP_INTERIM;
    }
    p->head->len = (uint32_t)*parsed;
    if (p->head->len > p->limits->max_head) {
        p->error_status = 431;
        p->error_reason = "header block too large";
        return CG_ELIMIT;
    }
    if (check_head(p, data, 0, *parsed)) return CG_EPARSE;
    return 0;
}

/* The trailer section, scanned as it streams, before llhttp parses the same bytes: what llhttp
 * (even strict) lets through is refused here: a bare LF or CR, obs-fold. Field syntax itself is
 * llhttp's. p->trailers holds where the scan is (TR_*); 0 once the section has ended. */
static int scan_trailers(cg_http_parser_t *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n && p->trailers; i++) {
        char c = s[i];
        if (++p->trailer_bytes > p->limits->max_head) return fail(p, 431, "trailers too large");
        switch (p->trailers) {
        case TR_LINE_START:
            if (c == '\r')
                p->trailers = TR_END_CR;
            else if (c == '\n')
                return fail(p, 400, "bare LF in trailers");
            else if (c == ' ' || c == '\t')
                return fail(p, 400, "obs-fold in trailers");
            else
                p->trailers = TR_IN_LINE;
            break;
        case TR_IN_LINE:
            if (c == '\r')
                p->trailers = TR_CR;
            else if (c == '\n')
                return fail(p, 400, "bare LF in trailers");
            break;
        case TR_CR:
            if (c != '\n') return fail(p, 400, "bare CR in trailers");
            p->trailers = TR_LINE_START;
            break;
        case TR_END_CR:
            if (c != '\n') return fail(p, 400, "bare CR in trailers");
            p->trailers = 0; /* the empty line: the section, and the message, end here */
            break;
        }
    }
    return 0;
}

/* Runs llhttp over body bytes data[*parsed, len) until the message completes, input runs out or
 * a callback pauses; checks the trailer section before llhttp parses it. */
static int execute_body(cg_http_parser_t *p, const char *data, size_t len, size_t *parsed)
{
    for (;;) {
        size_t start = *parsed;
        if (start == len) return CG_EAGAIN;
        if (p->trailers && scan_trailers(p, data + start, len - start)) return CG_EPARSE;
        llhttp_errno_t e = llhttp_execute(&p->ll, data + start, len - start);
        if (e == HPE_OK) {
            *parsed = len;
            return CG_EAGAIN;
        }
        if (e != HPE_PAUSED) return map_error(p, e);
        *parsed = (size_t)(llhttp_get_error_pos(&p->ll) - data);
        if (p->complete) return 0;
        llhttp_resume(&p->ll);
        if (!p->trailers) return CG_EAGAIN; /* the output is nearly full: the caller flushes */
        /* paused at the last chunk: scan its trailer section, then let llhttp parse it */
    }
}

int cg_http_parse_body(cg_http_parser_t *p, const char *data, size_t len, size_t *parsed,
                       cg_http_out_t *out)
{
    if (p->complete) return 0;
    p->state = ST_BODY;
    p->base = data;
    p->out = out;
    int r = execute_body(p, data, len, parsed);
    p->out = NULL;
    return r;
}

int cg_http_parser_check_body(cg_http_parser_t *p, const char *data, size_t len, size_t from)
{
    if (p->complete || from >= len) return 0;
    cg_http_parser_t t = *p; /* llhttp keeps all its state in the struct: a copy parses alone */
    t.ll.data = &t;
    t.state = ST_BODY;
    t.base = data;
    t.out = NULL;
    size_t pos = from;
    if (execute_body(&t, data, len, &pos) != CG_EPARSE) return 0; /* valid so far, or complete */
    p->error_status = t.error_status;
    p->error_reason = t.error_reason;
    return CG_EPARSE;
}

int cg_http_parse_eof(cg_http_parser_t *p, cg_http_out_t *out)
{
    if (p->complete) return 0;
    if (p->state != ST_HEAD && (p->head->flags & CG_HTTP_F_EOF_BODY)) {
        /* a body delimited by the close: the close is its end */
        if (out && p->body_out == CG_BODY_OUT_CHUNKED &&
            CG_HTTP_OUT_PUSH_LIT(out, CG_HTTP_LAST_CHUNK))
            return CG_ELIMIT;
        p->complete = 1;
        return 0;
    }
    return CG_EPARSE;
}
