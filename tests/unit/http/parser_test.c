/* HTTP/1.x parser conformance: table-driven cases from the tests/unit/http/data files, plus the
 * connection-level flows (pipelining, keep-alive, interim responses, output back-pressure).
 *
 * Data file format. Each case becomes one cmocka test "FILE:CASE" and runs three ways: the
 * whole input in one call; the head fed one byte at a time (same buffer, growing length) with
 * an identical result; and, when `data` is given, the body fed one byte at a time in raw mode.
 *
 *   # comment (only at the start of a line); blank lines are ignored
 *   case NAME                  starts a case; "end" closes it
 *   type request|response      default request
 *   skip_body 1                the response answers a HEAD request
 *   in TEXT                    appends TEXT to the input
 *   repeat N TEXT              appends TEXT N times
 *   expect ok|more|error|S[|S] result of cg_http_parse_head: a head, CG_EAGAIN, any error,
 *                              or an error whose error_status is one of the codes (400|505)
 *   rc parse|limit             the error is CG_EPARSE / CG_ELIMIT
 *   method M | url U | version 1.1 | status 200 | reason R
 *   headers N                  number of header lines recorded
 *   header NAME [VALUE]        the first header NAME has exactly VALUE (may be empty)
 *   no_header NAME             no header NAME
 *   content_length N           -1 = none
 *   chunked | keepalive | upgrade | expect_continue | eof_body | has_body | complete   0|1
 *   interim N                  1xx heads (CG_HTTP_INTERIM) before the final head
 *   body_out length|chunked|raw  then cg_http_parse_body over the rest of the input
 *   body TEXT                  the exact bytes queued on the output (lines append)
 *   body_result ok|more|error  what cg_http_parse_body returned last
 *   eof ok|error               then cg_http_parse_eof (its output belongs to "body")
 *   data TEXT                  the decoded payload, checked by a byte-by-byte raw body feed
 *
 * Escapes in TEXT: \r \n \t \0 \\ \s (space, for trailing blanks) \xHH. The end of a line is
 * never part of TEXT. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/list.h"
#include "http/message.h"
#include "http/parser.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef CG_SOURCE_DIR
#error "CG_SOURCE_DIR must name the repository root"
#endif
#define DATA_DIR CG_SOURCE_DIR "/tests/unit/http/data"

enum { EXP_OK, EXP_MORE, EXP_ERROR };
enum {
    XF_CHUNKED,
    XF_KEEPALIVE,
    XF_UPGRADE,
    XF_EXPECT_CONTINUE,
    XF_EOF_BODY,
    XF_HAS_BODY,
    XF_COMPLETE,
    XF_N
};
static const char *const flag_keys[XF_N] = {"chunked",  "keepalive", "upgrade", "expect_continue",
                                            "eof_body", "has_body",  "complete"};
enum { RES_UNSET = -1, RES_OK, RES_MORE, RES_ERROR };

typedef struct {
    char *name;
    cg_buf_t value;
} hdr_expect_t;

typedef struct pcase {
    char *test_name; /* "file:case" */
    const char *file;
    int line;
    int is_request, skip_body;
    cg_buf_t in;
    int expect;
    int statuses[4], nstatuses;
    int rc; /* 0: any error code */
    char *method, *url;
    int ver_major, ver_minor; /* -1: unchecked */
    int status;
    int has_reason;
    cg_buf_t reason;
    int nheaders;
    hdr_expect_t hdrs[16];
    int nhdrs;
    char *no_hdrs[8];
    int nno;
    int has_cl;
    long long content_length;
    int flags[XF_N]; /* -1: unchecked */
    int interim;
    int body_out; /* -1: no body parse */
    int has_body_text;
    cg_buf_t body;
    int body_result, eof;
    int has_data;
    cg_buf_t data;
} pcase_t;

/* ------------------------------------------------------------------ loading */

static void die(const char *file, int line, const char *msg, const char *arg)
{
    fprintf(stderr, "%s:%d: %s%s%s\n", file, line, msg, arg ? ": " : "", arg ? arg : "");
    exit(2);
}

static int hexval(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static void unescape(cg_buf_t *out, const char *s, const char *file, int line)
{
    for (; *s; s++) {
        char c = *s;
        if (c != '\\') {
            cg_buf_append(out, &c, 1);
            continue;
        }
        switch (*++s) {
        case 'r': c = '\r'; break;
        case 'n': c = '\n'; break;
        case 't': c = '\t'; break;
        case '0': c = '\0'; break;
        case 's': c = ' '; break;
        case '\\': c = '\\'; break;
        case 'x': {
            int hi = s[1] ? hexval(s[1]) : -1, lo = hi >= 0 && s[2] ? hexval(s[2]) : -1;
            if (hi < 0 || lo < 0) die(file, line, "bad \\x escape", NULL);
            c = (char)(hi * 16 + lo);
            s += 2;
            break;
        }
        default: die(file, line, "unknown escape", s - 1);
        }
        cg_buf_append(out, &c, 1);
    }
}

static int parse_bool(const char *v, const char *file, int line)
{
    if (!strcmp(v, "0")) return 0;
    if (!strcmp(v, "1")) return 1;
    die(file, line, "expected 0 or 1", v);
    return 0;
}

static int parse_result(const char *v, const char *file, int line)
{
    if (!strcmp(v, "ok")) return RES_OK;
    if (!strcmp(v, "more")) return RES_MORE;
    if (!strcmp(v, "error")) return RES_ERROR;
    die(file, line, "expected ok, more or error", v);
    return RES_UNSET;
}

static pcase_t *new_case(const char *file, int line, const char *name)
{
    pcase_t *c = cg_xcalloc(1, sizeof(*c));
    size_t n = strlen(file) + strlen(name) + 2;
    c->test_name = cg_xmalloc(n);
    snprintf(c->test_name, n, "%s:%s", file, name);
    c->file = file;
    c->line = line;
    c->is_request = 1;
    c->expect = EXP_OK;
    c->ver_major = c->ver_minor = -1;
    c->status = -1;
    c->nheaders = -1;
    for (int i = 0; i < XF_N; i++) c->flags[i] = -1;
    c->interim = -1;
    c->body_out = -1;
    c->body_result = RES_UNSET;
    c->eof = RES_UNSET;
    return c;
}

static void free_case(pcase_t *c)
{
    free(c->test_name);
    cg_buf_free(&c->in);
    free(c->method);
    free(c->url);
    cg_buf_free(&c->reason);
    for (int i = 0; i < c->nhdrs; i++) {
        free(c->hdrs[i].name);
        cg_buf_free(&c->hdrs[i].value);
    }
    for (int i = 0; i < c->nno; i++) free(c->no_hdrs[i]);
    cg_buf_free(&c->body);
    cg_buf_free(&c->data);
    free(c);
}

static CG_VEC(pcase_t *) g_cases;
static CG_VEC(char *) g_files;

static void set_case_key(pcase_t *c, const char *key, const char *v, const char *file, int line)
{
    if (!strcmp(key, "type")) {
        if (!strcmp(v, "request"))
            c->is_request = 1;
        else if (!strcmp(v, "response"))
            c->is_request = 0;
        else
            die(file, line, "type is request or response", v);
    } else if (!strcmp(key, "skip_body")) {
        c->skip_body = parse_bool(v, file, line);
    } else if (!strcmp(key, "in")) {
        unescape(&c->in, v, file, line);
    } else if (!strcmp(key, "repeat")) {
        char *end;
        long n = strtol(v, &end, 10);
        if (end == v || *end != ' ' || n < 1) die(file, line, "repeat N TEXT", v);
        cg_buf_t piece = {0};
        unescape(&piece, end + 1, file, line);
        for (long i = 0; i < n; i++)
            cg_buf_append(&c->in, cg_buf_data(&piece), cg_buf_size(&piece));
        cg_buf_free(&piece);
    } else if (!strcmp(key, "expect")) {
        if (!strcmp(v, "ok"))
            c->expect = EXP_OK;
        else if (!strcmp(v, "more"))
            c->expect = EXP_MORE;
        else if (!strcmp(v, "error"))
            c->expect = EXP_ERROR;
        else {
            c->expect = EXP_ERROR;
            const char *s = v;
            while (*s) {
                char *end;
                long st = strtol(s, &end, 10);
                if (end == s || st < 100 || st > 599 || c->nstatuses == 4)
                    die(file, line, "expect ok|more|error|STATUS[|STATUS]", v);
                c->statuses[c->nstatuses++] = (int)st;
                s = *end == '|' ? end + 1 : end;
                if (*end && *end != '|') die(file, line, "expect ok|more|error|STATUS[|STATUS]", v);
            }
        }
    } else if (!strcmp(key, "rc")) {
        if (!strcmp(v, "parse"))
            c->rc = CG_EPARSE;
        else if (!strcmp(v, "limit"))
            c->rc = CG_ELIMIT;
        else
            die(file, line, "rc parse|limit", v);
    } else if (!strcmp(key, "method")) {
        c->method = cg_xstrdup(v);
    } else if (!strcmp(key, "url")) {
        c->url = cg_xstrdup(v);
    } else if (!strcmp(key, "version")) {
        if (strlen(v) != 3 || !isdigit((unsigned char)v[0]) || v[1] != '.' ||
            !isdigit((unsigned char)v[2]))
            die(file, line, "version D.D", v);
        c->ver_major = v[0] - '0';
        c->ver_minor = v[2] - '0';
    } else if (!strcmp(key, "status")) {
        c->status = atoi(v);
    } else if (!strcmp(key, "reason")) {
        c->has_reason = 1;
        unescape(&c->reason, v, file, line);
    } else if (!strcmp(key, "headers")) {
        c->nheaders = atoi(v);
    } else if (!strcmp(key, "header")) {
        if (c->nhdrs == (int)CG_ARRAY_SIZE(c->hdrs)) die(file, line, "too many header lines", NULL);
        hdr_expect_t *h = &c->hdrs[c->nhdrs++];
        const char *sp = strchr(v, ' ');
        h->name = sp ? cg_xstrndup(v, (size_t)(sp - v)) : cg_xstrdup(v);
        if (sp) unescape(&h->value, sp + 1, file, line);
    } else if (!strcmp(key, "no_header")) {
        if (c->nno == (int)CG_ARRAY_SIZE(c->no_hdrs))
            die(file, line, "too many no_header lines", NULL);
        c->no_hdrs[c->nno++] = cg_xstrdup(v);
    } else if (!strcmp(key, "content_length")) {
        c->has_cl = 1;
        c->content_length = atoll(v);
    } else if (!strcmp(key, "interim")) {
        c->interim = atoi(v);
    } else if (!strcmp(key, "body_out")) {
        if (!strcmp(v, "length"))
            c->body_out = CG_BODY_OUT_LENGTH;
        else if (!strcmp(v, "chunked"))
            c->body_out = CG_BODY_OUT_CHUNKED;
        else if (!strcmp(v, "raw"))
            c->body_out = CG_BODY_OUT_RAW;
        else
            die(file, line, "body_out length|chunked|raw", v);
    } else if (!strcmp(key, "body")) {
        c->has_body_text = 1;
        unescape(&c->body, v, file, line);
    } else if (!strcmp(key, "body_result")) {
        c->body_result = parse_result(v, file, line);
    } else if (!strcmp(key, "eof")) {
        c->eof = parse_result(v, file, line);
    } else if (!strcmp(key, "data")) {
        c->has_data = 1;
        unescape(&c->data, v, file, line);
    } else {
        for (int i = 0; i < XF_N; i++) {
            if (!strcmp(key, flag_keys[i])) {
                c->flags[i] = parse_bool(v, file, line);
                return;
            }
        }
        die(file, line, "unknown key", key);
    }
}

static void load_file(const char *path, const char *file)
{
    FILE *f = fopen(path, "r");
    if (!f) die(path, 0, "cannot open", strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0;
    pcase_t *c = NULL;
    while ((n = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = '\0';
        if (n == 0 || line[0] == '#') continue;
        char *sp = strchr(line, ' ');
        const char *v = sp ? sp + 1 : "";
        if (sp) *sp = '\0';
        if (!strcmp(line, "case")) {
            if (c) die(file, lineno, "case inside a case", v);
            c = new_case(file, lineno, v);
        } else if (!strcmp(line, "end")) {
            if (!c) die(file, lineno, "end outside a case", NULL);
            if (cg_buf_size(&c->in) == 0) die(file, c->line, "case without input", c->test_name);
            cg_vec_push(&g_cases, c);
            c = NULL;
        } else {
            if (!c) die(file, lineno, "key outside a case", line);
            set_case_key(c, line, v, file, lineno);
        }
    }
    if (c) die(file, lineno, "missing end", c->test_name);
    free(line);
    fclose(f);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_all(void)
{
    DIR *d = opendir(DATA_DIR);
    if (!d) die(DATA_DIR, 0, "cannot open", strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n > 4 && !strcmp(e->d_name + n - 4, ".txt"))
            cg_vec_push(&g_files, cg_xstrndup(e->d_name, n - 4));
    }
    closedir(d);
    qsort(g_files.items, g_files.len, sizeof(char *), cmp_str);
    for (size_t i = 0; i < g_files.len; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.txt", DATA_DIR, g_files.items[i]);
        load_file(path, g_files.items[i]);
    }
    if (g_cases.len == 0) die(DATA_DIR, 0, "no cases found", NULL);
}

/* ------------------------------------------------------------------ running */

/* Everything one run allocates, freed by the teardown even when an assertion jumps out. */
typedef struct {
    cg_http_parser_t p;
    cg_http_head_t head;
    cg_http_out_t out;
} run_t;

static run_t *g_runs[4];
static char *g_input;
static cg_buf_t g_got;

static run_t *new_run(void)
{
    for (size_t i = 0; i < CG_ARRAY_SIZE(g_runs); i++) {
        if (!g_runs[i]) {
            g_runs[i] = cg_xcalloc(1, sizeof(run_t));
            return g_runs[i];
        }
    }
    fail_msg("too many runs");
    return NULL;
}

static int case_teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < CG_ARRAY_SIZE(g_runs); i++) {
        free(g_runs[i]);
        g_runs[i] = NULL;
    }
    free(g_input);
    g_input = NULL;
    cg_buf_free(&g_got);
    return 0;
}

/* The outcome of parsing a head, with the buffer the final head is relative to. */
typedef struct {
    int r;
    int interims;
    const char *base; /* start of the final head (after dropped 1xx heads) */
    size_t len;       /* bytes from base to the end of the input */
    size_t parsed;
} head_run_t;

static void start(run_t *run, const pcase_t *c)
{
    cg_http_parser_init(&run->p, c->is_request, &run->head, NULL);
    run->p.skip_body = (uint8_t)c->skip_body;
}

static head_run_t parse_whole(run_t *run, const pcase_t *c, const char *in, size_t len)
{
    head_run_t hr = {.base = in, .len = len};
    start(run, c);
    for (;;) {
        hr.r = cg_http_parse_head(&run->p, hr.base, hr.len, &hr.parsed);
        if (hr.r != CG_HTTP_INTERIM) return hr;
        /* drop the 1xx head and go on with what follows it */
        assert_true(hr.parsed > 0 && hr.parsed <= hr.len);
        hr.interims++;
        hr.base += hr.parsed;
        hr.len -= hr.parsed;
        hr.parsed = 0;
    }
}

/* The same, with the input arriving one byte at a time into the same buffer. */
static head_run_t parse_bytewise(run_t *run, const pcase_t *c, const char *in, size_t len)
{
    head_run_t hr = {.base = in, .len = len, .r = CG_EAGAIN};
    start(run, c);
    for (size_t avail = 1; avail <= hr.len; avail++) {
        hr.r = cg_http_parse_head(&run->p, hr.base, avail, &hr.parsed);
        if (hr.r == CG_HTTP_INTERIM) {
            assert_true(hr.parsed > 0 && hr.parsed <= avail);
            hr.interims++;
            hr.base += hr.parsed;
            hr.len -= hr.parsed;
            hr.parsed = 0;
            avail = 0;
            continue;
        }
        if (hr.r != CG_EAGAIN) return hr;
        if (hr.parsed != avail)
            fail_msg("CG_EAGAIN after consuming %zu of %zu bytes", hr.parsed, avail);
    }
    return hr;
}

static const char *rname(int r)
{
    switch (r) {
    case 0: return "0 (head)";
    case CG_EAGAIN: return "CG_EAGAIN";
    case CG_EPARSE: return "CG_EPARSE";
    case CG_ELIMIT: return "CG_ELIMIT";
    case CG_HTTP_INTERIM: return "CG_HTTP_INTERIM";
    default: return cg_strerror(r);
    }
}

static int flag_value(const run_t *run, int f)
{
    const cg_http_head_t *h = &run->head;
    switch (f) {
    case XF_CHUNKED: return !!(h->flags & CG_HTTP_F_CHUNKED);
    case XF_KEEPALIVE: return !!(h->flags & CG_HTTP_F_KEEPALIVE);
    case XF_UPGRADE: return !!(h->flags & CG_HTTP_F_UPGRADE);
    case XF_EXPECT_CONTINUE: return !!(h->flags & CG_HTTP_F_EXPECT_CONTINUE);
    case XF_EOF_BODY: return !!(h->flags & CG_HTTP_F_EOF_BODY);
    case XF_HAS_BODY: return cg_http_parser_has_body(&run->p);
    case XF_COMPLETE: return run->p.complete;
    }
    return -1;
}

static void check_iov(const char *mode, const char *what, cg_iov_t got, const char *want,
                      size_t wlen)
{
    if (got.len != wlen || (wlen && memcmp(got.base, want, wlen) != 0))
        fail_msg("[%s] %s is \"%.*s\" (%zu bytes), want \"%.*s\" (%zu bytes)", mode, what,
                 (int)(got.len > 200 ? 200 : got.len), got.base, got.len,
                 (int)(wlen > 200 ? 200 : wlen), want, wlen);
}

static void check_head(const pcase_t *c, const char *mode, const run_t *run, const head_run_t *hr)
{
    const cg_http_parser_t *p = &run->p;
    const cg_http_head_t *h = &run->head;
    const char *b = hr->base;

    if (c->interim >= 0 && hr->interims != c->interim)
        fail_msg("[%s] %d interim head(s), want %d", mode, hr->interims, c->interim);
    if (c->expect == EXP_MORE) {
        if (hr->r != CG_EAGAIN)
            fail_msg("[%s] cg_http_parse_head = %s (status %u, %s), want CG_EAGAIN", mode,
                     rname(hr->r), p->error_status, p->error_reason ? p->error_reason : "-");
        return;
    }
    if (c->expect == EXP_ERROR) {
        if (hr->r >= 0 || hr->r == CG_EAGAIN)
            fail_msg("[%s] cg_http_parse_head = %s, want an error%s%d", mode, rname(hr->r),
                     c->nstatuses ? " with status " : "", c->nstatuses ? c->statuses[0] : 0);
        if (c->rc && hr->r != c->rc)
            fail_msg("[%s] cg_http_parse_head = %s, want %s", mode, rname(hr->r), rname(c->rc));
        if (p->error_status == 0) fail_msg("[%s] error without an error_status", mode);
        if (!p->error_reason) fail_msg("[%s] error without an error_reason", mode);
        if (c->nstatuses) {
            int ok = 0;
            for (int i = 0; i < c->nstatuses; i++) ok |= p->error_status == c->statuses[i];
            if (!ok)
                fail_msg("[%s] error_status %u (%s), want %d", mode, p->error_status,
                         p->error_reason, c->statuses[0]);
        }
        return;
    }
    if (hr->r != 0)
        fail_msg("[%s] cg_http_parse_head = %s (status %u, %s), want a head", mode, rname(hr->r),
                 p->error_status, p->error_reason ? p->error_reason : "-");

    /* the head ends just past its CRLFCRLF; every header line ends in CRLF */
    assert_int_equal(h->len, hr->parsed);
    assert_true(hr->parsed >= 4 && hr->parsed <= hr->len);
    assert_memory_equal(b + hr->parsed - 4, "\r\n\r\n", 4);
    for (int i = 0; i < h->nheaders; i++) {
        const cg_http_header_t *hd = &h->headers[i];
        assert_true(hd->line_end > hd->name.off && hd->line_end <= hr->parsed);
        assert_memory_equal(b + hd->line_end - 2, "\r\n", 2);
        if (hd->value.len) { /* an empty value's offset is meaningless */
            assert_true(hd->value.off + hd->value.len <= hd->line_end - 2);
            assert_true(hd->name.off + hd->name.len < hd->value.off);
        }
        assert_int_equal(b[hd->name.off + hd->name.len], ':');
    }

    if (c->method) {
        if (!c->is_request) fail_msg("method on a response case");
        if (strcmp(cg_http_method_name(h->method), c->method) != 0)
            fail_msg("[%s] method %s, want %s", mode, cg_http_method_name(h->method), c->method);
    }
    if (c->url) check_iov(mode, "url", cg_span_iov(b, h->url), c->url, strlen(c->url));
    if (c->ver_major >= 0 && (h->http_major != c->ver_major || h->http_minor != c->ver_minor))
        fail_msg("[%s] version %u.%u, want %d.%d", mode, h->http_major, h->http_minor, c->ver_major,
                 c->ver_minor);
    if (c->status >= 0 && h->status != c->status)
        fail_msg("[%s] status %u, want %d", mode, h->status, c->status);
    if (c->has_reason)
        check_iov(mode, "reason", cg_span_iov(b, h->reason), cg_buf_data(&c->reason),
                  cg_buf_size(&c->reason));
    if (c->nheaders >= 0 && h->nheaders != c->nheaders)
        fail_msg("[%s] %u headers, want %d", mode, h->nheaders, c->nheaders);
    for (int i = 0; i < c->nhdrs; i++) {
        int idx = cg_http_head_find(h, b, cg_iov_str(c->hdrs[i].name));
        if (idx < 0) fail_msg("[%s] no header %s", mode, c->hdrs[i].name);
        char what[128];
        snprintf(what, sizeof(what), "value of %s", c->hdrs[i].name);
        check_iov(mode, what, cg_http_head_value(h, b, idx), cg_buf_data(&c->hdrs[i].value),
                  cg_buf_size(&c->hdrs[i].value));
    }
    for (int i = 0; i < c->nno; i++)
        if (cg_http_head_find(h, b, cg_iov_str(c->no_hdrs[i])) >= 0)
            fail_msg("[%s] unexpected header %s", mode, c->no_hdrs[i]);
    if (c->has_cl && h->content_length != c->content_length)
        fail_msg("[%s] content_length %lld, want %lld", mode, (long long)h->content_length,
                 c->content_length);
    for (int f = 0; f < XF_N; f++)
        if (c->flags[f] >= 0 && flag_value(run, f) != c->flags[f])
            fail_msg("[%s] %s is %d, want %d (flags 0x%x)", mode, flag_keys[f], flag_value(run, f),
                     c->flags[f], h->flags);
}

/* The whole-input and byte-by-byte heads must be the same, field by field. */
static void compare_heads(const cg_http_head_t *a, const cg_http_head_t *b)
{
    assert_int_equal(a->len, b->len);
    assert_int_equal(a->method, b->method);
    assert_int_equal(a->http_major, b->http_major);
    assert_int_equal(a->http_minor, b->http_minor);
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->flags, b->flags);
    assert_int_equal(a->content_length, b->content_length);
    assert_memory_equal(&a->url, &b->url, sizeof(a->url));
    assert_memory_equal(&a->reason, &b->reason, sizeof(a->reason));
    assert_int_equal(a->host_idx, b->host_idx);
    assert_int_equal(a->conn_idx, b->conn_idx);
    assert_int_equal(a->te_idx, b->te_idx);
    assert_int_equal(a->xff_idx, b->xff_idx);
    assert_int_equal(a->rid_idx, b->rid_idx);
    assert_int_equal(a->ua_idx, b->ua_idx);
    assert_int_equal(a->nheaders, b->nheaders);
    for (int i = 0; i < a->nheaders; i++) {
        assert_memory_equal(&a->headers[i].name, &b->headers[i].name, sizeof(cg_span_t));
        assert_memory_equal(&a->headers[i].value, &b->headers[i].value, sizeof(cg_span_t));
        assert_int_equal(a->headers[i].line_end, b->headers[i].line_end);
    }
}

static void collect(cg_http_out_t *o, cg_buf_t *into)
{
    assert_true(o->n <= CG_HTTP_OUT_IOV);
    assert_true(o->scratch_len <= CG_HTTP_OUT_SCRATCH);
    for (unsigned i = o->pos; i < o->n; i++)
        cg_buf_append(into, o->iov[i].iov_base, o->iov[i].iov_len);
    cg_http_out_reset(o);
}

static int to_result(int r)
{
    return r == 0 ? RES_OK : r == CG_EAGAIN ? RES_MORE : RES_ERROR;
}

static const char *const res_names[] = {"ok", "more", "error"};

/* Body parse over data[parsed, avail) until it needs more input, completes or fails. */
static int body_step(run_t *run, const char *base, size_t avail, size_t *parsed, cg_buf_t *got)
{
    int r;
    int spins = 0;
    do {
        size_t before = *parsed;
        r = cg_http_parse_body(&run->p, base, avail, parsed, &run->out);
        collect(&run->out, got);
        assert_true(*parsed >= before && *parsed <= avail);
        /* a pause because the out filled up: flushed, go on */
        assert_true(++spins < 100000);
    } while (r == CG_EAGAIN && *parsed < avail);
    return r;
}

static void run_case(void **state)
{
    const pcase_t *c = *state;
    size_t len = cg_buf_size(&c->in);
    /* an exact-size copy: ASan catches any read past the input */
    g_input = cg_xmalloc(len);
    memcpy(g_input, cg_buf_data(&c->in), len);

    run_t *whole = new_run();
    head_run_t hw = parse_whole(whole, c, g_input, len);
    check_head(c, "whole", whole, &hw);

    run_t *bytes = new_run();
    head_run_t hb = parse_bytewise(bytes, c, g_input, len);
    check_head(c, "byte-by-byte", bytes, &hb);
    if (c->expect == EXP_OK) {
        compare_heads(&whole->head, &bytes->head);
        assert_int_equal(hw.parsed, hb.parsed);
    }
    if (c->expect == EXP_ERROR) assert_int_equal(whole->p.error_status, bytes->p.error_status);

    if (c->expect != EXP_OK || c->body_out < 0) {
        if (c->has_body_text || c->body_result != RES_UNSET || c->eof != RES_UNSET || c->has_data)
            fail_msg("%s: body keys need expect ok and body_out", c->test_name);
        return;
    }

    /* the body, all input at once */
    whole->p.body_out = (uint8_t)c->body_out;
    size_t parsed = hw.parsed;
    int r = body_step(whole, hw.base, hw.len, &parsed, &g_got);
    if (c->body_result != RES_UNSET && to_result(r) != c->body_result)
        fail_msg("cg_http_parse_body = %s (status %u, %s), want %s", rname(r),
                 whole->p.error_status, whole->p.error_reason ? whole->p.error_reason : "-",
                 res_names[c->body_result]);
    if (r == 0 && c->is_request) {
        /* a complete request leaves the following bytes unparsed */
        assert_true(parsed <= hw.len);
    }
    if (c->eof != RES_UNSET) {
        int e = cg_http_parse_eof(&whole->p, &whole->out);
        collect(&whole->out, &g_got);
        if (to_result(e) != c->eof)
            fail_msg("cg_http_parse_eof = %s, want %s", rname(e), res_names[c->eof]);
    }
    if (c->has_body_text)
        check_iov("whole", "body output", cg_iov(cg_buf_data(&g_got), cg_buf_size(&g_got)),
                  cg_buf_data(&c->body), cg_buf_size(&c->body));

    if (!c->has_data) return;
    /* the body again, one byte at a time, decoded (raw) */
    cg_buf_free(&g_got);
    run_t *slow = new_run();
    head_run_t hs = parse_whole(slow, c, g_input, len);
    assert_int_equal(hs.r, 0);
    slow->p.body_out = CG_BODY_OUT_RAW;
    parsed = hs.parsed;
    r = CG_EAGAIN;
    for (size_t avail = hs.parsed + 1; avail <= hs.len && r == CG_EAGAIN; avail++)
        r = body_step(slow, hs.base, avail, &parsed, &g_got);
    if (c->body_result != RES_UNSET && to_result(r) != c->body_result)
        fail_msg("[byte-by-byte] cg_http_parse_body = %s, want %s", rname(r),
                 res_names[c->body_result]);
    if (c->eof != RES_UNSET) {
        int e = cg_http_parse_eof(&slow->p, &slow->out);
        collect(&slow->out, &g_got);
        if (to_result(e) != c->eof)
            fail_msg("[byte-by-byte] cg_http_parse_eof = %s, want %s", rname(e), res_names[c->eof]);
    }
    check_iov("byte-by-byte", "decoded body", cg_iov(cg_buf_data(&g_got), cg_buf_size(&g_got)),
              cg_buf_data(&c->data), cg_buf_size(&c->data));
    if (c->body_result == RES_OK) assert_int_equal(slow->p.body_bytes, cg_buf_size(&c->data));
}

/* ------------------------------------------------------------------ connection flows */

typedef struct {
    cg_http_parser_t p;
    cg_http_head_t head;
    cg_http_out_t out;
    cg_buf_t got;
} flow_t;

static int flow_setup(void **state)
{
    *state = cg_xcalloc(1, sizeof(flow_t));
    return 0;
}

static int flow_teardown(void **state)
{
    flow_t *f = *state;
    cg_buf_free(&f->got);
    free(f);
    return 0;
}

#define LIT(s) s, sizeof(s) - 1

static void expect_head(flow_t *f, const char *base, size_t len, size_t *parsed, const char *url)
{
    int r = cg_http_parse_head(&f->p, base, len, parsed);
    if (r != 0)
        fail_msg("cg_http_parse_head = %s (status %u, %s), want the head of %s", rname(r),
                 f->p.error_status, f->p.error_reason ? f->p.error_reason : "-", url);
    check_iov("flow", "url", cg_span_iov(base, f->head.url), url, strlen(url));
}

/* Pipelining: a request with a body, then a bodiless one, in one buffer. */
static void test_pipelined_post_then_get(void **state)
{
    flow_t *f = *state;
    static const char in[] = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                             "GET /b HTTP/1.1\r\nHost: y\r\n\r\n";
    size_t len = sizeof(in) - 1, parsed = 0;
    cg_http_parser_init(&f->p, 1, &f->head, NULL);
    expect_head(f, in, len, &parsed, "/a");
    assert_true(cg_http_parser_has_body(&f->p));
    f->p.body_out = CG_BODY_OUT_LENGTH;
    assert_int_equal(cg_http_parse_body(&f->p, in, len, &parsed, &f->out), 0);
    collect(&f->out, &f->got);
    check_iov("flow", "body", cg_iov(cg_buf_data(&f->got), cg_buf_size(&f->got)), LIT("abc"));
    assert_int_equal(parsed, strstr(in, "GET") - in);

    cg_http_parser_next(&f->p);
    const char *second = in + parsed; /* the caller drops the first request's bytes */
    size_t p2 = 0;
    expect_head(f, second, len - parsed, &p2, "/b");
    assert_int_equal(p2, len - parsed);
    cg_iov_t host = cg_http_head_value(&f->head, second, f->head.host_idx);
    check_iov("flow", "host", host, LIT("y"));
}

/* Pipelining after a request without a body: the next head must parse. */
static void test_pipelined_get_then_get(void **state)
{
    flow_t *f = *state;
    static const char in[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
                             "GET /b HTTP/1.1\r\nHost: y\r\n\r\n"
                             "HEAD /c HTTP/1.1\r\nHost: z\r\n\r\n";
    size_t len = sizeof(in) - 1, parsed = 0;
    cg_http_parser_init(&f->p, 1, &f->head, NULL);
    expect_head(f, in, len, &parsed, "/a");
    assert_false(cg_http_parser_has_body(&f->p));
    const char *next = in;
    for (int i = 0; i < 2; i++) {
        cg_http_parser_next(&f->p);
        next += parsed;
        parsed = 0;
        expect_head(f, next, (size_t)(in + len - next), &parsed, i == 0 ? "/b" : "/c");
    }
    assert_int_equal(next + parsed, in + len);
}

/* Keep-alive: the next request arrives in a later read, after the first one was answered. */
static void test_keepalive_get_then_get_in_a_later_read(void **state)
{
    flow_t *f = *state;
    static const char first[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";
    static const char second[] = "GET /b HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t parsed = 0;
    cg_http_parser_init(&f->p, 1, &f->head, NULL);
    expect_head(f, first, sizeof(first) - 1, &parsed, "/a");
    cg_http_parser_next(&f->p);
    parsed = 0;
    expect_head(f, second, sizeof(second) - 1, &parsed, "/b");
}

/* Upstream keep-alive: a 204 (no body) and then the next response on the connection. */
static void test_response_after_204_on_the_same_connection(void **state)
{
    flow_t *f = *state;
    static const char in[] = "HTTP/1.1 204 No Content\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    size_t len = sizeof(in) - 1, parsed = 0;
    cg_http_parser_init(&f->p, 0, &f->head, NULL);
    assert_int_equal(cg_http_parse_head(&f->p, in, len, &parsed), 0);
    assert_int_equal(f->head.status, 204);
    assert_false(cg_http_parser_has_body(&f->p));
    cg_http_parser_next(&f->p);
    const char *second = in + parsed;
    size_t p2 = 0;
    int r = cg_http_parse_head(&f->p, second, len - parsed, &p2);
    if (r != 0)
        fail_msg("second response: %s (status %u, %s)", rname(r), f->p.error_status,
                 f->p.error_reason);
    assert_int_equal(f->head.status, 200);
    f->p.body_out = CG_BODY_OUT_LENGTH;
    assert_int_equal(cg_http_parse_body(&f->p, second, len - parsed, &p2, &f->out), 0);
    collect(&f->out, &f->got);
    check_iov("flow", "body", cg_iov(cg_buf_data(&f->got), cg_buf_size(&f->got)), LIT("ok"));
}

/* A response to HEAD completes at its head; the next response parses. */
static void test_response_after_head_response(void **state)
{
    flow_t *f = *state;
    static const char in[] = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello";
    size_t len = sizeof(in) - 1, parsed = 0;
    cg_http_parser_init(&f->p, 0, &f->head, NULL);
    f->p.skip_body = 1;
    assert_int_equal(cg_http_parse_head(&f->p, in, len, &parsed), 0);
    assert_true(f->p.complete);
    assert_false(cg_http_parser_has_body(&f->p));
    assert_int_equal(parsed, strstr(in + 1, "HTTP/1.1") - in);
    cg_http_parser_next(&f->p); /* clears skip_body: the next request was a GET */
    const char *second = in + parsed;
    size_t p2 = 0;
    assert_int_equal(cg_http_parse_head(&f->p, second, len - parsed, &p2), 0);
    assert_true(cg_http_parser_has_body(&f->p));
    f->p.body_out = CG_BODY_OUT_RAW;
    assert_int_equal(cg_http_parse_body(&f->p, second, len - parsed, &p2, &f->out), 0);
    collect(&f->out, &f->got);
    check_iov("flow", "body", cg_iov(cg_buf_data(&f->got), cg_buf_size(&f->got)), LIT("hello"));
}

/* The proxy's way with 1xx: drop the bytes, cg_http_parser_next, parse again. */
static void test_interim_then_parser_next(void **state)
{
    flow_t *f = *state;
    static const char in[] = "HTTP/1.1 100 Continue\r\n\r\n"
                             "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
    size_t len = sizeof(in) - 1, parsed = 0;
    cg_http_parser_init(&f->p, 0, &f->head, NULL);
    assert_int_equal(cg_http_parse_head(&f->p, in, len, &parsed), CG_HTTP_INTERIM);
    assert_int_equal(parsed, strlen("HTTP/1.1 100 Continue\r\n\r\n"));
    cg_http_parser_next(&f->p);
    const char *final = in + parsed;
    size_t p2 = 0;
    assert_int_equal(cg_http_parse_head(&f->p, final, len - parsed, &p2), 0);
    assert_int_equal(f->head.status, 200);
    assert_int_equal(f->head.content_length, 2);
    f->p.body_out = CG_BODY_OUT_LENGTH;
    assert_int_equal(cg_http_parse_body(&f->p, final, len - parsed, &p2, &f->out), 0);
    collect(&f->out, &f->got);
    check_iov("flow", "body", cg_iov(cg_buf_data(&f->got), cg_buf_size(&f->got)), LIT("ok"));
}

/* A 101 is a response only to a WebSocket handshake the gateway forwarded (upgrade_ok): then
 * its head is the whole message and what follows is left unparsed; else it is a 502, as is a
 * 101 that claims a body. */
static void test_101_only_when_an_upgrade_was_asked(void **state)
{
    flow_t *f = *state;
    static const char in[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\n\r\n\x81\x05hello";
    size_t head = strlen("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                         "Connection: Upgrade\r\n\r\n");
    size_t parsed = 0;
    cg_http_parser_init(&f->p, 0, &f->head, NULL);
    f->p.upgrade_ok = 1;
    assert_int_equal(cg_http_parse_head(&f->p, in, sizeof(in) - 1, &parsed), 0);
    assert_int_equal(parsed, head);
    assert_int_equal(f->head.status, 101);
    assert_true(f->head.flags & CG_HTTP_F_UPGRADE);
    assert_false(f->head.flags & CG_HTTP_F_HAS_BODY);
    parsed = 0;
    cg_http_parser_init(&f->p, 0, &f->head, NULL); /* not asked: unsolicited */
    assert_int_equal(cg_http_parse_head(&f->p, in, sizeof(in) - 1, &parsed), CG_EPARSE);
    assert_int_equal(f->p.error_status, 502);
    static const char body[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nContent-Length: 5\r\n\r\nhello";
    parsed = 0;
    cg_http_parser_init(&f->p, 0, &f->head, NULL);
    f->p.upgrade_ok = 1;
    assert_int_equal(cg_http_parse_head(&f->p, body, sizeof(body) - 1, &parsed), CG_EPARSE);
    assert_string_equal(f->p.error_reason, "101 with a body");
}

/* Many small chunks: the parser pauses before the output vector overflows and resumes after
 * the caller flushed; the re-chunked output is exact. */
static void test_chunked_output_pauses_when_out_fills(void **state)
{
    flow_t *f = *state;
    cg_buf_t in = {0}, want = {0};
    cg_buf_append_str(&in, "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 300; i++) {
        cg_buf_printf(&in, "%x\r\n", i % 20 + 1);
        cg_buf_printf(&want, "%x\r\n", i % 20 + 1);
        for (int k = 0; k < i % 20 + 1; k++) {
            cg_buf_append(&in, "abcdefghijklmnopqrstuvwxyz" + (i % 7), 1);
            cg_buf_append(&want, "abcdefghijklmnopqrstuvwxyz" + (i % 7), 1);
        }
        cg_buf_append_str(&in, "\r\n");
        cg_buf_append_str(&want, "\r\n");
    }
    cg_buf_append_str(&in, "0\r\n\r\n");
    cg_buf_append_str(&want, "0\r\n\r\n");

    size_t parsed = 0, len = cg_buf_size(&in);
    const char *b = cg_buf_data(&in);
    cg_http_parser_init(&f->p, 1, &f->head, NULL);
    assert_int_equal(cg_http_parse_head(&f->p, b, len, &parsed), 0);
    f->p.body_out = CG_BODY_OUT_CHUNKED;
    int r, pauses = 0;
    while ((r = cg_http_parse_body(&f->p, b, len, &parsed, &f->out)) == CG_EAGAIN) {
        assert_true(parsed < len);
        assert_true(cg_http_out_room(&f->out) > 0);
        collect(&f->out, &f->got);
        assert_true(++pauses < 1000);
    }
    if (r != 0) fail_msg("cg_http_parse_body = %s (%s)", rname(r), f->p.error_reason);
    collect(&f->out, &f->got);
    assert_true(pauses >= 10); /* 300 chunks x 3 slices cannot fit in one vector */
    assert_int_equal(parsed, len);
    check_iov("flow", "re-chunked body", cg_iov(cg_buf_data(&f->got), cg_buf_size(&f->got)),
              cg_buf_data(&want), cg_buf_size(&want));
    cg_buf_free(&in);
    cg_buf_free(&want);
}

/* The limits, at their boundaries, with small custom values; whole and byte-by-byte. */
static int parse_with(flow_t *f, const cg_http_limits_t *lim, const char *in, size_t len,
                      int bytewise)
{
    size_t parsed = 0;
    int r = CG_EAGAIN;
    cg_http_parser_init(&f->p, 1, &f->head, lim);
    if (!bytewise) return cg_http_parse_head(&f->p, in, len, &parsed);
    for (size_t avail = 1; avail <= len && r == CG_EAGAIN; avail++)
        r = cg_http_parse_head(&f->p, in, avail, &parsed);
    return r;
}

static void test_limit_boundaries(void **state)
{
    flow_t *f = *state;
    static const cg_http_limits_t lim = {.max_head = 64, .max_request_line = 8};
    char in[256];
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        /* url of exactly 8 bytes, and of 9 */
        snprintf(in, sizeof(in), "GET /2345678 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_int_equal(parse_with(f, &lim, in, strlen(in), bytewise), 0);
        snprintf(in, sizeof(in), "GET /23456789 HTTP/1.1\r\nHost: a\r\n\r\n");
        assert_true(parse_with(f, &lim, in, strlen(in), bytewise) < 0);
        assert_int_equal(f->p.error_status, 414);

        /* a head of exactly 64 bytes, and of 65 */
        const char *pre = "GET / HTTP/1.1\r\nHost: ";
        size_t fill = 64 - strlen(pre) - 4;
        snprintf(in, sizeof(in), "%s%.*s\r\n\r\n", pre, (int)fill,
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_int_equal(strlen(in), 64);
        assert_int_equal(parse_with(f, &lim, in, 64, bytewise), 0);
        assert_int_equal(f->head.len, 64);
        snprintf(in, sizeof(in), "%s%.*s\r\n\r\n", pre, (int)fill + 1,
                 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
        assert_int_equal(parse_with(f, &lim, in, 65, bytewise), CG_ELIMIT);
        assert_int_equal(f->p.error_status, 431);
    }
    assert_int_equal(cg_http_default_limits.max_head, 64 * 1024);
    assert_int_equal(cg_http_default_limits.max_request_line, 8 * 1024);
    cg_http_parser_init(&f->p, 1, &f->head, NULL);
    assert_ptr_equal(f->p.limits, &cg_http_default_limits);
}

/* Header indexes and raw line slices (the forwarder copies kept lines as they are). */
static void test_head_indexes_and_line_slices(void **state)
{
    flow_t *f = *state;
    static const char in[] = "POST /p HTTP/1.1\r\n"
                             "Host: a\r\n"
                             "Connection: keep-alive\r\n"
                             "X-Forwarded-For: 1.1.1.1\r\n"
                             "X-Request-Id: r1\r\n"
                             "User-Agent: u/1\r\n"
                             "Transfer-Encoding: chunked\r\n"
                             "X-Other:  spaced\r\n"
                             "\r\n";
    size_t parsed = 0;
    cg_http_parser_init(&f->p, 1, &f->head, NULL);
    assert_int_equal(cg_http_parse_head(&f->p, in, sizeof(in) - 1, &parsed), 0);
    cg_http_head_t *h = &f->head;
    assert_int_equal(h->nheaders, 7);
    assert_int_equal(h->host_idx, 0);
    assert_int_equal(h->conn_idx, 1);
    assert_int_equal(h->xff_idx, 2);
    assert_int_equal(h->rid_idx, 3);
    assert_int_equal(h->ua_idx, 4);
    assert_int_equal(h->te_idx, 5);
    static const char *const lines[] = {
        "Host: a\r\n",          "Connection: keep-alive\r\n", "X-Forwarded-For: 1.1.1.1\r\n",
        "X-Request-Id: r1\r\n", "User-Agent: u/1\r\n",        "Transfer-Encoding: chunked\r\n",
        "X-Other:  spaced\r\n",
    };
    for (int i = 0; i < 7; i++) {
        cg_http_header_t *hd = &h->headers[i];
        assert_false(hd->drop);
        check_iov("flow", "header line", cg_iov(in + hd->name.off, hd->line_end - hd->name.off),
                  lines[i], strlen(lines[i]));
    }
    check_iov("flow", "spaced value", cg_http_head_value(h, in, 6), LIT("spaced"));
    /* the decoded body bytes are counted (the access log's bytes received) */
    static const char body[] = "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n";
    char *all = cg_xmalloc(sizeof(in) - 1 + sizeof(body) - 1);
    memcpy(all, in, sizeof(in) - 1);
    memcpy(all + sizeof(in) - 1, body, sizeof(body) - 1);
    f->p.body_out = CG_BODY_OUT_CHUNKED;
    int r = cg_http_parse_body(&f->p, all, sizeof(in) - 1 + sizeof(body) - 1, &parsed, &f->out);
    free(all);
    assert_int_equal(r, 0);
    assert_int_equal(f->p.body_bytes, 5);
    assert_true(f->p.complete);
    /* more calls after completion are no-ops */
    assert_int_equal(cg_http_parse_body(&f->p, in, 0, &parsed, &f->out), 0);
    assert_int_equal(cg_http_parse_eof(&f->p, &f->out), 0);
}

/* The peer closing in the middle of a head is an error, never a message. */
static void test_eof_inside_head(void **state)
{
    flow_t *f = *state;
    static const char in[] = "GET / HTTP/1.1\r\nHost: a\r\n";
    size_t parsed = 0;
    cg_http_parser_init(&f->p, 1, &f->head, NULL);
    assert_int_equal(cg_http_parse_head(&f->p, in, sizeof(in) - 1, &parsed), CG_EAGAIN);
    assert_int_equal(cg_http_parse_eof(&f->p, &f->out), CG_EPARSE);
    assert_false(f->p.complete);

    static const char resp[] = "HTTP/1.1 200 OK\r\nContent-";
    parsed = 0;
    cg_http_parser_init(&f->p, 0, &f->head, NULL);
    assert_int_equal(cg_http_parse_head(&f->p, resp, sizeof(resp) - 1, &parsed), CG_EAGAIN);
    assert_int_equal(cg_http_parse_eof(&f->p, &f->out), CG_EPARSE);
}

/* After a parse error, later input does not turn into a message. */
static void test_error_is_final(void **state)
{
    flow_t *f = *state;
    static const char in[] = "GET / HTTP/1.1\r\nHost : a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    size_t parsed = 0;
    cg_http_parser_init(&f->p, 1, &f->head, NULL);
    assert_int_equal(cg_http_parse_head(&f->p, in, sizeof(in) - 1, &parsed), CG_EPARSE);
    assert_int_equal(f->p.error_status, 400);
    assert_true(cg_http_parse_head(&f->p, in, sizeof(in) - 1, &parsed) < 0);
}

/* ------------------------------------------------------------------ main */

int main(void)
{
    static const struct CMUnitTest flows[] = {
        cmocka_unit_test_setup_teardown(test_pipelined_post_then_get, flow_setup, flow_teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_get_then_get, flow_setup, flow_teardown),
        cmocka_unit_test_setup_teardown(test_keepalive_get_then_get_in_a_later_read, flow_setup,
                                        flow_teardown),
        cmocka_unit_test_setup_teardown(test_response_after_204_on_the_same_connection, flow_setup,
                                        flow_teardown),
        cmocka_unit_test_setup_teardown(test_response_after_head_response, flow_setup,
                                        flow_teardown),
        cmocka_unit_test_setup_teardown(test_interim_then_parser_next, flow_setup, flow_teardown),
        cmocka_unit_test_setup_teardown(test_101_only_when_an_upgrade_was_asked, flow_setup,
                                        flow_teardown),
        cmocka_unit_test_setup_teardown(test_chunked_output_pauses_when_out_fills, flow_setup,
                                        flow_teardown),
        cmocka_unit_test_setup_teardown(test_limit_boundaries, flow_setup, flow_teardown),
        cmocka_unit_test_setup_teardown(test_head_indexes_and_line_slices, flow_setup,
                                        flow_teardown),
        cmocka_unit_test_setup_teardown(test_eof_inside_head, flow_setup, flow_teardown),
        cmocka_unit_test_setup_teardown(test_error_is_final, flow_setup, flow_teardown),
    };
    load_all();
    size_t nflows = CG_ARRAY_SIZE(flows), n = nflows + g_cases.len;
    struct CMUnitTest *tests = cg_xcalloc(n, sizeof(*tests));
    memcpy(tests, flows, sizeof(flows));
    for (size_t i = 0; i < g_cases.len; i++) {
        tests[nflows + i] = (struct CMUnitTest){
            .name = g_cases.items[i]->test_name,
            .test_func = run_case,
            .teardown_func = case_teardown,
            .initial_state = g_cases.items[i],
        };
    }
    int failed = _cmocka_run_group_tests("http_parser", tests, n, NULL, NULL);
    free(tests);
    for (size_t i = 0; i < g_cases.len; i++) free_case(g_cases.items[i]);
    cg_vec_free(&g_cases);
    for (size_t i = 0; i < g_files.len; i++) free(g_files.items[i]);
    cg_vec_free(&g_files);
    return failed;
}
