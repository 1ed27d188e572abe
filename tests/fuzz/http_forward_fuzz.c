/* Differential fuzzer of the request path. Client bytes go through the gateway's parser and head
 * rebuilding as src/proxy/conn.c drives them (reads of a chosen size, pipelining, the requests it
 * refuses itself); what would go upstream is parsed again by an independent strict parser
 * (strict_http.c) and must be exactly the requests the gateway forwarded whole, no more and no
 * fewer, each with the client's method, target, end-to-end headers (same values, same order), the
 * gateway's own headers once, one framing, and the body the gateway decoded. The client bytes are
 * also read strictly: where both parsers accept a message they must read it alike.
 *
 * Input: byte 0 flags (bit 0: the gateway generated a request id; bit 1: it drops every Expect),
 * byte 1 the size of each read (0: all in one read), then the client's bytes. */
#include "core/err.h"
#include "http/forward.h"
#include "http/parser.h"
#include "lb/health.h"

#include "fuzz_bytes.h"
#include "strict_http.c"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MSGS 8
#define MAX_HOPS 8 /* CG_MAX_HOPS of src/proxy/conn.c */
#define PEER     "10.0.0.1"
#define GEN_ID   "gen"
#define EP_NAME  "upstream.example" /* the endpoint's name: Host for a Host-less HTTP/1.0 request  \
                                     */

/* How far the gateway got with a message whose head it parsed. */
enum { M_REFUSED, M_FORWARDED, M_BODY_ERROR, M_BODY_MORE };

typedef struct msg {
    size_t start, end;         /* the message in the client bytes (end: when forwarded) */
    cg_http_head_t head;       /* offsets relative to start */
    int state;                 /* M_* */
    int drop_expect;           /* what the forwarding was told */
    size_t up_start, up_end;   /* its bytes in the upstream stream */
    size_t body_off, body_len; /* the body the gateway decoded, in st.decoded */
    uint64_t body_bytes;       /* the parser's own count */
} msg_t;

static struct {
    const uint8_t *raw;
    size_t raw_len;
    const char *in; /* the client's bytes */
    size_t len;
    int gen_id, drop_expect_all;
    size_t step; /* bytes per read */
    msg_t msgs[MAX_MSGS];
    size_t n;
    size_t partial_end; /* upstream bytes including a message not sent whole */
    fz_bytes_t up, decoded;
    cg_http_head_t head, head2, head3;
    cg_http_out_t out;
} st;

static int notes_on(void)
{
    static int on = -1;
    if (on < 0) on = getenv("CG_FUZZ_NOTES") != NULL;
    return on;
}

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("\nhttp_forward_fuzz: invariant broken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fz_dump("input (flags, read size, client bytes)", (const char *)st.raw, st.raw_len);
    fz_dump("upstream bytes", st.up.p, st.partial_end > st.up.len ? st.partial_end : st.up.len);
    abort();
}


static size_t more(size_t avail)
{
    return st.step && avail + st.step < st.len ? avail + st.step : st.len;
}

static int span_eq(sh_str_t s, const char *base, cg_span_t sp)
{
    return sh_str_eq(s, base + sp.off, sp.len);
}

static int lit_caseeq(const char *p, size_t n, const char *lit)
{
    return sh_str_caseeq((sh_str_t){p, n}, lit);
}

/* The same message parsed in one read, with the body raw: the same head, the same end, and the
 * decoded body the checks compare with. */
static void one_read(msg_t *m)
{
    const char *base = st.in + m->start;
    size_t n = st.len - m->start, off = 0;
    cg_http_parser_t q;
    cg_http_head_t *h = &st.head2;
    cg_http_parser_init(&q, 1, h, NULL);
    int r = cg_http_parse_head(&q, base, n, &off);
    if (r != 0)
        fail("message %zu: the head parses in reads but not in one (%d)", (size_t)(m - st.msgs), r);
    const cg_http_head_t *g = &m->head;
    int same = off == g->len && h->nheaders == g->nheaders && h->method == g->method &&
               h->flags == g->flags && h->content_length == g->content_length &&
               h->url.off == g->url.off && h->url.len == g->url.len &&
               h->http_minor == g->http_minor;
    for (int i = 0; same && i < h->nheaders; i++)
        same = h->headers[i].name.off == g->headers[i].name.off &&
               h->headers[i].name.len == g->headers[i].name.len &&
               h->headers[i].value.off == g->headers[i].value.off &&
               h->headers[i].value.len == g->headers[i].value.len;
    if (!same)
        fail("message %zu: the head parsed in reads differs from the head parsed in one",
             (size_t)(m - st.msgs));
    /* a retry parses the head again from exactly its bytes (rewind_request in conn.c) */
    cg_http_parser_t t;
    cg_http_head_t *hh = &st.head3;
    size_t toff = 0;
    cg_http_parser_init(&t, 1, hh, NULL);
    if (cg_http_parse_head(&t, base, g->len, &toff) != 0 || toff != g->len ||
        hh->nheaders != g->nheaders || hh->flags != g->flags ||
        hh->content_length != g->content_length || hh->path.len != g->path.len)
        fail("message %zu: the head parsed again from its own bytes (a retry) differs",
             (size_t)(m - st.msgs));
    m->body_off = st.decoded.len;
    if (h->flags & CG_HTTP_F_HAS_BODY) {
        q.body_out = CG_BODY_OUT_RAW;
        for (;;) {
            cg_http_out_reset(&st.out);
            r = cg_http_parse_body(&q, base, n, &off, &st.out);
            fz_flatten(&st.decoded, &st.out);
            if (r == 0) break;
            if (r == CG_EPARSE)
                fail("message %zu: the body parses in reads but not in one", (size_t)(m - st.msgs));
            if (off == n)
                fail("message %zu: the body completes in reads but not in one",
                     (size_t)(m - st.msgs));
        }
    }
    m->body_len = st.decoded.len - m->body_off;
    if (m->start + off != m->end)
        fail("message %zu ends at %zu when read in pieces, at %zu in one read",
             (size_t)(m - st.msgs), m->end, m->start + off);
    if (m->body_bytes != m->body_len || q.body_bytes != m->body_len)
        fail("message %zu: body_bytes %llu / %llu, decoded %zu", (size_t)(m - st.msgs),
             (unsigned long long)m->body_bytes, (unsigned long long)q.body_bytes, m->body_len);
}

/* The request path of src/proxy/conn.c, on st.in: fills st.msgs and st.up. */
static void run_gateway(void)
{
    cg_http_parser_t p;
    cg_http_head_t *h = &st.head;
    cg_http_out_t *out = &st.out;
    cg_http_parser_init(&p, 1, h, NULL);
    size_t start = 0, avail = more(0);
    while (st.n < MAX_MSGS && start < st.len) {
        if (st.n) cg_http_parser_next(&p);
        size_t off = 0;
        int r;
        while (avail == start) avail = more(avail); /* a head is parsed once a byte of it is in */
        for (;;) {
            r = cg_http_parse_head(&p, st.in + start, avail - start, &off);
            if (r != CG_EAGAIN || avail == st.len) break;
            avail = more(avail);
        }
        if (r != 0) return; /* refused (400, 414, 431, 505), or the input ends inside the head */
        msg_t *m = &st.msgs[st.n++];
        m->start = start;
        m->state = M_REFUSED;
        memcpy(&m->head, h, sizeof(*h));
        const char *base = st.in + start;
        /* what on_request_head answers itself: nothing goes on, and the connection closes */
        if (h->http_minor == 1 && h->host_idx < 0) return;
        if (h->method == HTTP_CONNECT) return;
        cg_iov_t authority, path;
        cg_http_request_target(h, base, &authority, &path);
        if ((h->method == HTTP_GET || h->method == HTTP_HEAD) &&
            cg_iov_eq(path, CG_IOV_LIT(CG_HEALTHZ_PATH)))
            return; /* answered locally; the model stops there */
        if (cg_http_head_hops(h, base) >= MAX_HOPS) return;
        if ((h->flags & CG_HTTP_F_CHUNKED) &&
            cg_http_parser_check_body(&p, base, avail - start, off))
            return;
        size_t checked = avail; /* the bytes cg_http_parser_check_body found valid */
        m->drop_expect = st.drop_expect_all || (h->flags & CG_HTTP_F_EXPECT_CONTINUE) != 0;
        cg_http_fwd_req_t f = {
            .peer_ip = CG_IOV_LIT(PEER),
            .request_id = st.gen_id ? CG_IOV_LIT(GEN_ID) : CG_IOV_NULL,
            .hops = 1,
            .drop_expect = (uint8_t)m->drop_expect,
            .default_host = CG_IOV_LIT(EP_NAME), /* build_upstream_head: the endpoint's name */
        };
        cg_http_out_reset(out);
        out->total = 0;
        if (cg_http_forward_request_head(out, h, base, &f))
            return; /* 431: does not fit the vector */
        m->up_start = st.up.len;
        fz_flatten(&st.up, out);
        int done = !(h->flags & CG_HTTP_F_HAS_BODY);
        if (!done) {
            p.body_out = (h->flags & CG_HTTP_F_CHUNKED) ? CG_BODY_OUT_CHUNKED : CG_BODY_OUT_LENGTH;
            m->state = M_BODY_MORE;
            for (;;) {
                if (off == avail - start) {
                    if (avail == st.len) break;
                    avail = more(avail);
                }
                size_t before = off;
                r = cg_http_parse_body(&p, base, avail - start, &off, out);
                unsigned queued = out->n;
                fz_flatten(&st.up, out);
                if (r == 0) {
                    done = 1;
                    break;
                }
                if (r == CG_EPARSE) {
                    /* 502 is the parser's own limit (output vector full), not the client's fault */
                    if (p.error_status == 502)
                        fail("message %zu: a body aborted by the gateway's own limit: %s", st.n - 1,
                             p.error_reason ? p.error_reason : "?");
                    /* conn.c relies on the check: what it passed must not fail here */
                    if ((h->flags & CG_HTTP_F_CHUNKED) && avail == checked)
                        fail("message %zu: cg_http_parser_check_body passes a body that "
                             "cg_http_parse_body refuses: %s",
                             st.n - 1, p.error_reason ? p.error_reason : "?");
                    m->state = M_BODY_ERROR;
                    break;
                }
                if (off == before && !queued)
                    fail("message %zu: cg_http_parse_body makes no progress at offset %zu",
                         st.n - 1, start + off);
            }
        }
        if (!done) {
            /* the upstream connection is aborted: what went of this message is void */
            st.partial_end = st.up.len;
            st.up.len = m->up_start;
            return;
        }
        m->state = M_FORWARDED;
        m->end = start + off;
        m->up_end = st.up.len;
        m->body_bytes = p.body_bytes;
        one_read(m);
        if (!(h->flags & CG_HTTP_F_KEEPALIVE)) return; /* the connection closes after it */
        start += off;
    }
}

/* RFC 9110 7.6.1 hop-by-hop fields (and Trailer, whose trailers the gateway does not forward). */
static int hop_by_hop(const char *p, size_t n)
{
    static const char *const names[] = {"connection", "keep-alive",        "proxy-connection", "te",
                                        "trailer",    "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (lit_caseeq(p, n, names[i])) return 1;
    return 0;
}

/* Is the field name in the connection-option list of any Connection field of the head? */
static int nominated(const cg_http_head_t *h, const char *base, const char *name, size_t nlen)
{
    for (int i = 0; i < h->nheaders; i++) {
        const cg_http_header_t *hd = &h->headers[i];
        if (!lit_caseeq(base + hd->name.off, hd->name.len, "connection")) continue;
        const char *v = base + hd->value.off, *e = v + hd->value.len;
        while (v <= e) {
            const char *c = memchr(v, ',', (size_t)(e - v));
            if (!c) c = e;
            const char *a = v, *b = c;
            while (a < b && (*a == ' ' || *a == '\t')) a++;
            while (b > a && (b[-1] == ' ' || b[-1] == '\t')) b--;
            if ((size_t)(b - a) == nlen && nlen && strncasecmp(a, name, nlen) == 0) return 1;
            v = c + 1;
        }
    }
    return 0;
}

static int is_xff(const char *p, size_t n)
{
    return lit_caseeq(p, n, "x-forwarded-for");
}

/* The client headers that must arrive upstream as they are, in order. */
static int expected_fields(const msg_t *m, const char *base, int absolute, sh_str_t *names,
                           sh_str_t *values)
{
    const cg_http_head_t *h = &m->head;
    int n = 0;
    for (int i = 0; i < h->nheaders; i++) {
        const char *np = base + h->headers[i].name.off;
        size_t nl = h->headers[i].name.len;
        if (hop_by_hop(np, nl) || lit_caseeq(np, nl, "content-length") || is_xff(np, nl) ||
            lit_caseeq(np, nl, "x-forwarded-proto") || lit_caseeq(np, nl, CG_HTTP_HOPS_HEADER))
            continue;
        if (lit_caseeq(np, nl, "host")) {
            if (absolute) continue; /* the target's authority replaces it */
            /* kept even when Connection names it: a request without Host is invalid */
        } else if (lit_caseeq(np, nl, "x-request-id")) {
            if (st.gen_id) continue; /* the generated one replaces it */
            /* the gateway's own header: Connection cannot remove it (forward.h) */
        } else {
            if (m->drop_expect && lit_caseeq(np, nl, "expect")) continue;
            if (nominated(h, base, np, nl)) continue;
        }
        names[n] = (sh_str_t){np, nl};
        values[n] = (sh_str_t){base + h->headers[i].value.off, h->headers[i].value.len};
        n++;
    }
    return n;
}

static void check_request(size_t k, const msg_t *m, const sh_result_t *r, const sh_msg_t *u)
{
    const cg_http_head_t *h = &m->head;
    const char *base = st.in + m->start;
    /* method: the client's own token, as sent */
    const char *line = base;
    while (line + 2 <= base + h->url.off && line[0] == '\r' && line[1] == '\n') line += 2;
    if (h->url.off < 1 || base[h->url.off - 1] != ' ' ||
        !sh_str_eq(u->method, line, (size_t)(base + h->url.off - 1 - line)))
        fail("message %zu: upstream method %.*s is not the client's", k, (int)u->method.len,
             u->method.p);
    const char *mname = cg_http_method_name(h->method);
    if (!sh_str_eq(u->method, mname, strlen(mname))) fail("message %zu: method name differs", k);
    /* target: origin-form as is; absolute-form as its path, its authority as Host */
    const char *url = base + h->url.off;
    size_t ulen = h->url.len;
    int absolute = 0;
    sh_str_t authority = {0, 0};
    if (ulen && (url[0] == '/' || (ulen == 1 && url[0] == '*'))) {
        if (!sh_str_eq(u->target, url, ulen))
            fail("message %zu: upstream target differs from the client's", k);
    } else {
        const char *sep = ulen >= 3 ? memmem(url, ulen, "://", 3) : NULL;
        if (!sep) fail("message %zu: forwarded a target of no known form: %.*s", k, (int)ulen, url);
        const char *a = sep + 3, *e = a, *end = url + ulen;
        while (e < end && *e != '/' && *e != '?') e++;
        authority = (sh_str_t){a, (size_t)(e - a)};
        absolute = 1;
        size_t pl = (size_t)(end - e);
        int ok = pl && e[0] == '/' ? sh_str_eq(u->target, e, pl)
                                   : u->target.len == pl + 1 && u->target.p[0] == '/' &&
                                         memcmp(u->target.p + 1, e, pl) == 0;
        if (!ok)
            fail("message %zu: upstream target %.*s is not the path of %.*s", k, (int)u->target.len,
                 u->target.p, (int)ulen, url);
    }
    if (absolute != (h->authority.len != 0))
        fail("message %zu: the gateway took the target's form otherwise", k);
    if (u->form != (ulen == 1 && url[0] == '*' ? SH_FORM_ASTERISK : SH_FORM_ORIGIN))
        fail("message %zu: the upstream target is not in origin-form", k);

    /* the client's end-to-end headers, then the gateway's own, once each */
    sh_str_t names[CG_HTTP_MAX_HEADERS], values[CG_HTTP_MAX_HEADERS];
    int ne = expected_fields(m, base, absolute, names, values), ie = 0;
    size_t nxff = 0, nxfp = 0, nhops = 0, nrid = 0, nhost = 0;
    for (size_t i = 0; i < u->nfields; i++) {
        const sh_field_t *f = sh_msg_field(r, u, i);
        if (sh_str_caseeq(f->name, "x-forwarded-for")) {
            nxff++;
            /* every x-forwarded-for value the client sent, in order, then the peer */
            fz_bytes_t want = {0};
            for (int j = 0; j < h->nheaders; j++) {
                const cg_http_header_t *hd = &h->headers[j];
                if (!is_xff(base + hd->name.off, hd->name.len) || !hd->value.len) continue;
                fz_append(&want, base + hd->value.off, hd->value.len);
                fz_append(&want, ",", 1);
            }
            fz_append(&want, PEER, strlen(PEER));
            int ok = sh_str_eq(f->value, want.p, want.len);
            fz_free(&want);
            if (!ok) fail("message %zu: x-forwarded-for is %.*s", k, (int)f->value.len, f->value.p);
        } else if (sh_str_caseeq(f->name, "x-forwarded-proto")) {
            nxfp++;
            if (!sh_str_eq(f->value, "http", 4))
                fail("message %zu: x-forwarded-proto is not http", k);
        } else if (sh_str_caseeq(f->name, CG_HTTP_HOPS_HEADER)) {
            nhops++;
            if (!sh_str_eq(f->value, "1", 1))
                fail("message %zu: %s is not 1", k, CG_HTTP_HOPS_HEADER);
        } else if (st.gen_id && sh_str_caseeq(f->name, "x-request-id")) {
            nrid++;
            if (!sh_str_eq(f->value, GEN_ID, strlen(GEN_ID)))
                fail("message %zu: x-request-id is not the generated one", k);
        } else if ((absolute || h->host_idx < 0) && sh_str_caseeq(f->name, "host")) {
            /* the gateway's: the target's authority, or the endpoint's name for a Host-less
             * HTTP/1.0 request (HTTP/1.1 needs one) */
            nhost++;
            if (absolute ? !sh_str_eq(f->value, authority.p, authority.len)
                         : !sh_str_eq(f->value, EP_NAME, strlen(EP_NAME)))
                fail("message %zu: host %.*s is not the gateway's", k, (int)f->value.len,
                     f->value.p);
        } else if (sh_str_caseeq(f->name, "content-length") ||
                   sh_str_caseeq(f->name, "transfer-encoding")) {
            /* framing: checked below */
        } else {
            if (ie == ne)
                fail("message %zu: upstream field %.*s: the client sent no such end-to-end field",
                     k, (int)f->name.len, f->name.p);
            if (!sh_str_eq(f->name, names[ie].p, names[ie].len) ||
                !sh_str_eq(f->value, values[ie].p, values[ie].len))
                fail("message %zu: upstream field %zu is %.*s: %.*s, the client's is %.*s: %.*s", k,
                     i, (int)f->name.len, f->name.p, (int)f->value.len, f->value.p,
                     (int)names[ie].len, names[ie].p, (int)values[ie].len, values[ie].p);
            ie++;
        }
    }
    if (ie != ne)
        fail("message %zu: client field %.*s did not arrive upstream", k, (int)names[ie].len,
             names[ie].p);
    if (nxff != 1 || nxfp != 1 || nhops != 1 || nrid != (st.gen_id ? 1u : 0u) ||
        nhost != (absolute || h->host_idx < 0 ? 1u : 0u))
        fail("message %zu: gateway headers xff %zu xfp %zu hops %zu rid %zu host %zu", k, nxff,
             nxfp, nhops, nrid, nhost);

    /* framing: the client's, validated: chunked stays chunked, a length stays that length */
    if (h->te_idx >= 0) {
        if (u->framing != SH_BODY_CHUNKED)
            fail("message %zu: a chunked request goes on unchunked", k);
    } else if (h->cl_idx >= 0) {
        cg_span_t v = h->headers[h->cl_idx].value;
        uint64_t cl = 0;
        for (uint32_t i = 0; i < v.len; i++) cl = cl * 10 + (uint64_t)(base[v.off + i] - '0');
        if (u->framing != SH_BODY_LENGTH || u->content_length != cl)
            fail("message %zu: Content-Length %llu goes on as framing %d length %llu", k,
                 (unsigned long long)cl, u->framing, (unsigned long long)u->content_length);
    } else if (u->has_cl || u->has_te) {
        fail("message %zu: a request without a body goes on with a framing field", k);
    }
    if (!sh_str_eq((sh_str_t){(const char *)r->body + u->body_off, u->body_len},
                   st.decoded.p + m->body_off, m->body_len))
        fail("message %zu: the upstream body (%zu bytes) is not the body the gateway decoded (%zu "
             "bytes)",
             k, u->body_len, m->body_len);
}

static void check_upstream(void)
{
    size_t nf = 0;
    for (size_t i = 0; i < st.n; i++) nf += st.msgs[i].state == M_FORWARDED;
    sh_opts_t o = {.is_request = 1, .max_msgs = MAX_MSGS};
    sh_result_t r;
    sh_parse(st.up.p, st.up.len, &o, &r);
    if (r.status != SH_OK)
        fail("the upstream bytes are not clean HTTP/1.1 (%s at offset %zu)",
             r.error ? r.error : "?", r.error_off);
    if (r.nmsgs != nf) fail("%zu requests forwarded whole, %zu go upstream", nf, r.nmsgs);
    size_t k = 0;
    for (size_t i = 0; i < st.n; i++) {
        const msg_t *m = &st.msgs[i];
        if (m->state != M_FORWARDED) continue;
        const sh_msg_t *u = &r.msgs[k];
        if (u->start != m->up_start || u->end != m->up_end)
            fail("upstream request %zu spans [%zu, %zu), the gateway sent [%zu, %zu)", k, u->start,
                 u->end, m->up_start, m->up_end);
        check_request(i, m, &r, u);
        k++;
    }
    sh_result_free(&r);
    if (st.partial_end > st.up.len) {
        /* a request cut off (the upstream connection is aborted) must not look whole before that */
        sh_parse(st.up.p, st.partial_end, &o, &r);
        if (r.nmsgs > nf)
            fail("a request the gateway did not finish forwarding parses as complete upstream");
        sh_result_free(&r);
    }
}

/* Refusals that mean recipients may disagree on where a message ends. */
static int ambiguity(int cls)
{
    return cls == SH_E_LINE || cls == SH_E_FIELD || cls == SH_E_FRAMING || cls == SH_E_CHUNK;
}

/* Where the strict parser accepts a client message the gateway parsed, they must agree on it. */
static void check_client_reading(void)
{
    sh_opts_t o = {.is_request = 1, .allow_http10 = 1, .max_msgs = MAX_MSGS};
    sh_result_t r;
    sh_parse(st.in, st.len, &o, &r);
    for (size_t k = 0; k < st.n && k < r.nmsgs; k++) {
        const msg_t *m = &st.msgs[k];
        const sh_msg_t *c = &r.msgs[k];
        const cg_http_head_t *h = &m->head;
        const char *base = st.in + m->start;
        if (c->start != m->start)
            fail("client message %zu starts at %zu for the gateway, %zu strictly", k, m->start,
                 c->start);
        if (c->head_end != m->start + h->len)
            fail("client message %zu: heads end at %zu and %zu", k, m->start + h->len, c->head_end);
        const char *mname = cg_http_method_name(h->method);
        if (!sh_str_eq(c->method, mname, strlen(mname)) || !span_eq(c->target, base, h->url) ||
            c->minor != h->http_minor)
            fail("client message %zu: request lines read differently", k);
        if (c->nfields != h->nheaders)
            fail("client message %zu: %d fields for the gateway, %zu strictly", k, h->nheaders,
                 c->nfields);
        for (size_t i = 0; i < c->nfields; i++) {
            const sh_field_t *f = sh_msg_field(&r, c, i);
            if (!span_eq(f->name, base, h->headers[i].name) ||
                !span_eq(f->value, base, h->headers[i].value))
                fail("client message %zu: field %zu is %.*s: %.*s strictly, %.*s: %.*s for the "
                     "gateway",
                     k, i, (int)f->name.len, f->name.p, (int)f->value.len, f->value.p,
                     (int)h->headers[i].name.len, base + h->headers[i].name.off,
                     (int)h->headers[i].value.len, base + h->headers[i].value.off);
        }
        if (m->state == M_FORWARDED) {
            if (c->end != m->end)
                fail("client message %zu ends at %zu for the gateway, %zu strictly", k, m->end,
                     c->end);
            if (!sh_str_eq((sh_str_t){(const char *)r.body + c->body_off, c->body_len},
                           st.decoded.p + m->body_off, m->body_len))
                fail("client message %zu: bodies decoded differently", k);
        } else if (m->state == M_BODY_MORE) {
            fail("client message %zu: the gateway waits for body bytes past its end at %zu", k,
                 c->end);
        }
    }
    /* The first message the strict parser did not complete: if the gateway forwarded it, the strict
     * parser must not read it on past the gateway's end, nor refuse it for where its lines or its
     * body end. Other refusals (target, Host, version) are leniencies, not ambiguities. */
    size_t k = r.nmsgs;
    if (k < st.n && st.msgs[k].state == M_FORWARDED && r.status != SH_LIMIT) {
        const msg_t *m = &st.msgs[k];
        if (r.status == SH_INCOMPLETE)
            fail("client message %zu ends at %zu for the gateway, the strict parser reads on past "
                 "the input",
                 k, m->end);
        if (ambiguity(r.error_class))
            fail("client message %zu is forwarded, though ambiguous: %s at %zu", k, r.error,
                 r.error_off);
        if (notes_on()) {
            fprintf(stderr,
                    "note: the gateway forwards client message %zu, refused strictly: %s at %zu\n",
                    k, r.error ? r.error : "?", r.error_off);
            fz_dump("  message", st.in + m->start, m->end - m->start);
        }
    }
    sh_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 64 * 1024) return 0;
    st.raw = data;
    st.raw_len = size;
    st.gen_id = data[0] & 1;
    st.drop_expect_all = (data[0] & 2) != 0;
    st.step = data[1];
    st.in = (const char *)data + 2;
    st.len = size - 2;
    st.n = 0;
    st.partial_end = 0;
    st.up.len = st.decoded.len = 0;
    run_gateway();
    if (notes_on()) {
        static const char *const names[] = {"refused", "forwarded", "body error",
                                            "body incomplete"};
        fprintf(stderr, "note: %zu heads:", st.n);
        for (size_t i = 0; i < st.n; i++) fprintf(stderr, " %s", names[st.msgs[i].state]);
        fputc('\n', stderr);
        fz_dump("  upstream", st.up.p, st.up.len);
    }
    check_upstream();
    check_client_reading();
    return 0;
}
