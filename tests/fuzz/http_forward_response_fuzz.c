/* Differential fuzzer of the response path. Upstream bytes go through the gateway's parser and
 * head rebuilding as src/proxy/conn.c drives them (reads of a chosen size, 1xx interim responses
 * dropped, the body re-chunked when chunked or delimited by the close, the close itself); what the
 * client would get is parsed again by an independent strict parser (strict_http.c) and must be
 * exactly one clean response when the gateway forwarded it whole (a response cut off must not
 * look whole), with the upstream's status, end-to-end headers (same values, same order), one
 * framing and the body the gateway decoded. The upstream bytes are also read strictly: where both
 * parsers accept the response they must read it alike.
 *
 * Input: byte 0 flags (bit 0: the request was HEAD; bit 1: the client speaks HTTP/1.0, so the body
 * goes raw to the close rather than re-chunked; bit 2: the client's connection closes after this
 * response), byte 1 the size of each read (0: all in one read), then the upstream's bytes; they
 * end where the upstream closes. */
#include "core/err.h"
#include "http/forward.h"
#include "http/parser.h"

#include "fuzz_bytes.h"
#include "strict_http.c"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_INTERIM 16

/* How far the gateway got with the final response. */
enum { R_NONE, R_REFUSED, R_FORWARDED, R_BODY_ERROR, R_BODY_MORE };

static struct {
    const uint8_t *raw;
    size_t raw_len;
    const char *in; /* the upstream's bytes */
    size_t len;
    int head;    /* the request was HEAD */
    int http10;  /* the client speaks HTTP/1.0 */
    int close;   /* "connection: close" goes to the client */
    size_t step; /* bytes per read */
    size_t ninterim;
    size_t interim_end[MAX_INTERIM]; /* end of each dropped 1xx, for the strict reading */
    int state;                       /* R_* */
    size_t start, end;               /* the final response in the upstream bytes */
    int chunked_out;
    int unframed;     /* the upstream sent it chunked or to the close */
    cg_http_head_t h; /* the final response's head, offsets relative to start */
    uint64_t body_bytes;
    fz_bytes_t down, decoded;
    cg_http_head_t head2;
    cg_http_out_t out;
} st;

__attribute__((noreturn, format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
    va_list ap;
    fputs("\nhttp_forward_response_fuzz: invariant broken: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fz_dump("input (flags, read size, upstream bytes)", (const char *)st.raw, st.raw_len);
    fz_dump("bytes to the client", st.down.p, st.down.len);
    abort();
}

static int notes_on(void)
{
    static int on = -1;
    if (on < 0) on = getenv("CG_FUZZ_NOTES") != NULL;
    return on;
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

/* The final response parsed in one read, with the body raw: the same head, the same end, and the
 * decoded body the checks compare with. */
static void one_read(void)
{
    const char *base = st.in + st.start;
    size_t n = st.len - st.start, off = 0;
    cg_http_parser_t q;
    cg_http_head_t *h = &st.head2;
    const cg_http_head_t *g = &st.h;
    cg_http_parser_init(&q, 0, h, NULL);
    q.skip_body = (uint8_t)st.head;
    int r = cg_http_parse_head(&q, base, n, &off);
    if (r != 0) fail("the head parses in reads but not in one (%d)", r);
    int same = off == g->len && h->nheaders == g->nheaders && h->status == g->status &&
               h->flags == g->flags && h->content_length == g->content_length &&
               h->reason.off == g->reason.off && h->reason.len == g->reason.len &&
               h->http_minor == g->http_minor;
    for (int i = 0; same && i < h->nheaders; i++)
        same = h->headers[i].name.off == g->headers[i].name.off &&
               h->headers[i].name.len == g->headers[i].name.len &&
               h->headers[i].value.off == g->headers[i].value.off &&
               h->headers[i].value.len == g->headers[i].value.len;
    if (!same) fail("the head parsed in reads differs from the head parsed in one");
    q.body_out = CG_BODY_OUT_RAW;
    if (!q.complete && cg_http_parser_has_body(&q)) {
        for (;;) {
            if (off == n) {
                cg_http_out_reset(&st.out);
                if (cg_http_parse_eof(&q, &st.out))
                    fail("the body completes in reads but not in one");
                fz_flatten(&st.decoded, &st.out);
                break;
            }
            cg_http_out_reset(&st.out);
            r = cg_http_parse_body(&q, base, n, &off, &st.out);
            fz_flatten(&st.decoded, &st.out);
            if (r == 0) break;
            if (r == CG_EPARSE) fail("the body parses in reads but not in one");
        }
    }
    if (st.start + off != st.end)
        fail("the response ends at %zu when read in pieces, at %zu in one read", st.end,
             st.start + off);
    if (st.body_bytes != st.decoded.len || q.body_bytes != st.decoded.len)
        fail("body_bytes %llu / %llu, decoded %zu", (unsigned long long)st.body_bytes,
             (unsigned long long)q.body_bytes, st.decoded.len);
}

/* The response path of src/proxy/conn.c (pump_response, build_response_head): fills st.down. */
static void run_gateway(void)
{
    cg_http_parser_t p;
    cg_http_head_t *h = &st.h;
    cg_http_out_t *out = &st.out;
    cg_http_parser_init(&p, 0, h, NULL);
    p.skip_body = (uint8_t)st.head;
    size_t start = 0, avail = more(0), off = 0;
    int r;
    for (;;) {
        if (avail == start) {
            if (avail == st.len) return; /* closed before a head */
            avail = more(avail);
        }
        r = cg_http_parse_head(&p, st.in + start, avail - start, &off);
        if (r == CG_HTTP_INTERIM) {
            if (st.ninterim < MAX_INTERIM) st.interim_end[st.ninterim] = start + off;
            st.ninterim++;
            start += off;
            off = 0;
            cg_http_parser_next(&p);
            p.skip_body = (uint8_t)st.head;
            continue;
        }
        if (r != CG_EAGAIN || avail == st.len) break;
        avail = more(avail);
    }
    if (r != 0) return; /* 502, or closed inside the head */
    st.start = start;
    st.state = R_REFUSED;
    const char *base = st.in + start;
    if ((h->flags & CG_HTTP_F_CHUNKED) && cg_http_parser_check_body(&p, base, avail - start, off))
        return;
    size_t checked = avail; /* the bytes cg_http_parser_check_body found valid */
    /* build_response_head: a body the client gets (not HEAD, 1xx, 204, 304) goes re-chunked to an
     * HTTP/1.1 client, raw to the close to an HTTP/1.0 one */
    st.unframed =
        cg_http_parser_has_body(&p) && (h->flags & (CG_HTTP_F_CHUNKED | CG_HTTP_F_EOF_BODY));
    st.chunked_out = st.unframed && !st.http10;
    p.body_out = !st.unframed ? CG_BODY_OUT_LENGTH
                 : st.http10  ? CG_BODY_OUT_RAW
                              : CG_BODY_OUT_CHUNKED;
    if (st.unframed && st.http10) st.close = 1;
    cg_http_out_reset(out);
    out->total = 0;
    if (cg_http_forward_response_head(out, h, base, st.chunked_out, st.close, st.http10))
        return; /* 502 */
    fz_flatten(&st.down, out);
    int done = p.complete || !cg_http_parser_has_body(&p);
    st.state = R_BODY_MORE;
    while (!done) {
        if (off == avail - start) {
            if (avail == st.len) {
                /* the upstream closed: the end of a body delimited by the close, else a truncation
                 */
                if (cg_http_parse_eof(&p, out) == 0) done = 1;
                fz_flatten(&st.down, out);
                break;
            }
            avail = more(avail);
        }
        size_t before = off;
        r = cg_http_parse_body(&p, base, avail - start, &off, out);
        unsigned queued = out->n;
        fz_flatten(&st.down, out);
        if (r == 0) {
            done = 1;
            break;
        }
        if (r == CG_EPARSE) {
            if (p.error_status == 502)
                fail("a body aborted by the gateway's own limit: %s",
                     p.error_reason ? p.error_reason : "?");
            /* conn.c relies on the check: what it passed must not fail here */
            if ((h->flags & CG_HTTP_F_CHUNKED) && avail == checked)
                fail("cg_http_parser_check_body passes a body that cg_http_parse_body refuses: %s",
                     p.error_reason ? p.error_reason : "?");
            st.state = R_BODY_ERROR;
            break;
        }
        if (off == before && !queued)
            fail("cg_http_parse_body makes no progress at offset %zu", start + off);
    }
    if (!done) return;
    st.state = R_FORWARDED;
    st.end = start + off; /* a body delimited by the close ends with the input */
    st.body_bytes = p.body_bytes;
    one_read();
}

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

static void check_response(const sh_result_t *r, const sh_msg_t *u)
{
    const cg_http_head_t *h = &st.h;
    const char *base = st.in + st.start;
    if (u->status != h->status) fail("status %d goes to the client as %d", h->status, u->status);
    if (h->reason.len && !span_eq(u->reason, base, h->reason)) fail("the reason phrase changed");

    /* the upstream's end-to-end headers, as they are, in order; then the framing */
    int ie = 0;
    size_t nconn = 0;
    for (size_t i = 0; i < u->nfields; i++) {
        const sh_field_t *f = sh_msg_field(r, u, i);
        if (sh_str_caseeq(f->name, "content-length") || sh_str_caseeq(f->name, "transfer-encoding"))
            continue;
        if (sh_str_caseeq(f->name, "connection")) {
            /* only the gateway's own: the upstream's Connection is hop-by-hop */
            const char *want = st.close ? "close" : st.http10 ? "keep-alive" : "";
            if (!sh_str_eq(f->value, want, strlen(want)))
                fail("connection: %.*s goes to the client", (int)f->value.len, f->value.p);
            nconn++;
            continue;
        }
        const cg_http_header_t *hd = NULL;
        while (ie < h->nheaders) {
            const cg_http_header_t *c = &h->headers[ie++];
            const char *np = base + c->name.off;
            if (hop_by_hop(np, c->name.len) || lit_caseeq(np, c->name.len, "content-length") ||
                nominated(h, base, np, c->name.len))
                continue;
            hd = c;
            break;
        }
        if (!hd)
            fail("field %.*s goes to the client: the upstream sent no such end-to-end field",
                 (int)f->name.len, f->name.p);
        if (!span_eq(f->name, base, hd->name) || !span_eq(f->value, base, hd->value))
            fail("client field %zu is %.*s: %.*s, the upstream's is %.*s: %.*s", i,
                 (int)f->name.len, f->name.p, (int)f->value.len, f->value.p, (int)hd->name.len,
                 base + hd->name.off, (int)hd->value.len, base + hd->value.off);
    }
    if (nconn != (st.close || st.http10 ? 1u : 0u))
        fail("%zu connection fields go to the client", nconn);
    for (; ie < h->nheaders; ie++) {
        const cg_http_header_t *c = &h->headers[ie];
        const char *np = base + c->name.off;
        if (!hop_by_hop(np, c->name.len) && !lit_caseeq(np, c->name.len, "content-length") &&
            !nominated(h, base, np, c->name.len))
            fail("upstream field %.*s did not reach the client", (int)c->name.len, np);
    }

    /* framing: chunked when the upstream chunked or delimited by the close, else its length */
    int bodiless = st.head || h->status == 204 || h->status == 304;
    uint64_t cl = 0;
    if (h->cl_idx >= 0) {
        cg_span_t v = h->headers[h->cl_idx].value;
        for (uint32_t i = 0; i < v.len; i++) cl = cl * 10 + (uint64_t)(base[v.off + i] - '0');
    }
    if (bodiless) {
        /* no body goes: no Transfer-Encoding (RFC 9112 6.1 for a 204; the gateway's rule for HEAD
         * and 304), and the upstream's Content-Length but on a 204 (it describes the body not
         * sent) */
        if (u->has_te) fail("a response without a body goes to the client chunked");
        if (h->status == 204 || h->cl_idx < 0) {
            if (u->has_cl) fail("a response without a body goes with a content-length of its own");
        } else if (!u->has_cl || u->content_length != cl) {
            fail("Content-Length %llu of a response without a body goes as %llu",
                 (unsigned long long)cl, (unsigned long long)u->content_length);
        }
    } else if (h->te_idx >= 0 || h->cl_idx < 0) {
        /* chunked or to the close: re-chunked for HTTP/1.1, raw to the close for HTTP/1.0 */
        if (st.http10) {
            if (u->has_te || u->has_cl)
                fail("the response goes to an HTTP/1.0 client with a framing field");
            if (u->framing != SH_BODY_EOF)
                fail("the response to an HTTP/1.0 client is not delimited by the close");
        } else if (!u->has_te || u->has_cl) {
            fail("the response goes to the client unchunked");
        }
    } else if (!u->has_cl || u->has_te || u->content_length != cl) {
        fail("Content-Length %llu goes to the client as length %llu", (unsigned long long)cl,
             (unsigned long long)u->content_length);
    }
    if (!sh_str_eq((sh_str_t){(const char *)r->body + u->body_off, u->body_len}, st.decoded.p,
                   st.decoded.len))
        fail("the body to the client (%zu bytes) is not the body the gateway decoded (%zu bytes)",
             u->body_len, st.decoded.len);
}

static void check_client(void)
{
    sh_opts_t o = {.is_request = 0, .head_response = st.head, .max_msgs = 1};
    sh_result_t r;
    sh_parse(st.down.p, st.down.len, &o, &r);
    if (st.state == R_FORWARDED) {
        if (r.status != SH_OK)
            fail("the bytes to the client are not clean HTTP/1.1 (%s at offset %zu)",
                 r.error ? r.error : "?", r.error_off);
        if (r.nmsgs != 1) fail("the client gets %zu responses", r.nmsgs);
        check_response(&r, &r.msgs[0]);
    } else if (r.nmsgs && !(st.http10 && !st.chunked_out && st.unframed)) {
        /* (a body to an HTTP/1.0 client goes raw to the close: a cut-off cannot show there) */
        fail("a response the gateway did not finish forwarding looks whole to the client");
    }
    sh_result_free(&r);
}

/* Refusals that mean recipients may disagree on where a message ends. */
static int ambiguity(int cls)
{
    return cls == SH_E_LINE || cls == SH_E_FIELD || cls == SH_E_FRAMING || cls == SH_E_CHUNK;
}

/* Where the strict parser accepts the upstream's response, the gateway must read it alike. */
static void check_upstream_reading(void)
{
    if (st.state == R_NONE) return;
    sh_opts_t o = {.is_request = 0, .allow_http10 = 1, .head_response = st.head};
    sh_result_t r;
    sh_parse(st.in, st.len, &o, &r);
    size_t ni = st.ninterim < MAX_INTERIM ? st.ninterim : MAX_INTERIM;
    for (size_t k = 0; k < ni && k < r.nmsgs; k++)
        if (r.msgs[k].status >= 200 || r.msgs[k].end != st.interim_end[k])
            fail("interim response %zu read differently (strictly: status %d, end %zu)", k,
                 r.msgs[k].status, r.msgs[k].end);
    if (st.ninterim < MAX_INTERIM && r.nmsgs > st.ninterim) {
        const sh_msg_t *c = &r.msgs[st.ninterim];
        const cg_http_head_t *h = &st.h;
        const char *base = st.in + st.start;
        if (c->start != st.start || c->head_end != st.start + h->len)
            fail("the final response's head is delimited differently");
        if (c->status != h->status || c->minor != h->http_minor ||
            !span_eq(c->reason, base, h->reason))
            fail("the status-line is read differently");
        if (c->nfields != h->nheaders)
            fail("%d fields for the gateway, %zu strictly", h->nheaders, c->nfields);
        for (size_t i = 0; i < c->nfields; i++) {
            const sh_field_t *f = sh_msg_field(&r, c, i);
            if (!span_eq(f->name, base, h->headers[i].name) ||
                !span_eq(f->value, base, h->headers[i].value))
                fail("field %zu is %.*s: %.*s strictly, %.*s: %.*s for the gateway", i,
                     (int)f->name.len, f->name.p, (int)f->value.len, f->value.p,
                     (int)h->headers[i].name.len, base + h->headers[i].name.off,
                     (int)h->headers[i].value.len, base + h->headers[i].value.off);
        }
        if (st.state == R_FORWARDED) {
            if (c->end != st.end)
                fail("the response ends at %zu for the gateway, %zu strictly", st.end, c->end);
            if (!sh_str_eq((sh_str_t){(const char *)r.body + c->body_off, c->body_len},
                           st.decoded.p, st.decoded.len))
                fail("the body is decoded differently");
        } else if (st.state == R_BODY_MORE) {
            fail("the gateway waits for body bytes past the response's end at %zu", c->end);
        }
    } else if (r.nmsgs <= st.ninterim && r.status != SH_LIMIT &&
               (r.nmsgs < st.ninterim || st.state == R_FORWARDED)) {
        /* the first response the strict parser did not complete, which the gateway took (as an
         * interim it dropped, or as the final it forwarded): the strict parser must not read it on
         * past the gateway's end, nor refuse it for where its lines or its body end */
        if (r.status == SH_INCOMPLETE) {
            fail("response %zu: the strict parser reads on past where the gateway ended it",
                 r.nmsgs);
        } else if (ambiguity(r.error_class)) {
            fail("response %zu is taken, though ambiguous: %s at %zu", r.nmsgs, r.error,
                 r.error_off);
        }
        if (notes_on() && st.state == R_FORWARDED) {
            fprintf(stderr, "note: the gateway forwards a response refused strictly: %s at %zu\n",
                    r.error ? r.error : "?", r.error_off);
            fz_dump("  response", st.in + st.start, st.end - st.start);
        }
    }
    sh_result_free(&r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 64 * 1024) return 0;
    st.raw = data;
    st.raw_len = size;
    st.head = data[0] & 1;
    st.http10 = (data[0] & 2) != 0;
    st.close = (data[0] & 4) != 0;
    st.step = data[1];
    st.in = (const char *)data + 2;
    st.len = size - 2;
    st.ninterim = 0;
    st.state = R_NONE;
    st.start = st.end = 0;
    st.chunked_out = st.unframed = 0;
    st.down.len = st.decoded.len = 0;
    run_gateway();
    if (notes_on()) {
        static const char *const names[] = {"no head", "refused", "forwarded", "body error",
                                            "body incomplete"};
        fprintf(stderr, "note: %zu interim, final response %s\n", st.ninterim, names[st.state]);
        fz_dump("  to the client", st.down.p, st.down.len);
    }
    check_client();
    check_upstream_reading();
    return 0;
}
