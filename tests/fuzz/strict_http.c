/* The strict RFC 9112 parser of the differential fuzzers (see strict_http.h). Grammar references
 * are to RFC 9112 (messages) and RFC 9110 (fields, URIs); where the RFCs allow a recipient to be
 * lenient, this parser is not. */
#include "strict_http.h"

#include <stdlib.h>
#include <string.h>

typedef struct ps {
    const char *d;
    size_t len;
    const sh_opts_t *o;
    sh_result_t *r;
} ps_t;

enum { P_OK, P_MORE, P_BAD };

static int bad(ps_t *s, size_t off, int cls, const char *why)
{
    s->r->error_class = cls;
    s->r->error = why;
    s->r->error_off = off;
    return P_BAD;
}

static int is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}
static int is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
static int is_hex(unsigned char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
static unsigned hex_val(unsigned char c)
{
    return is_digit(c) ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}
/* RFC 9110 5.6.2 */
static int is_tchar(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}
static int is_ws(unsigned char c)
{
    return c == ' ' || c == '\t';
}
/* VCHAR / obs-text: field-vchar (RFC 9110 5.5) */
static int is_fvchar(unsigned char c)
{
    return (c >= 0x21 && c <= 0x7e) || c >= 0x80;
}
/* RFC 3986 2.3 and 2.2 */
static int is_unreserved(unsigned char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}
static int is_subdelim(unsigned char c)
{
    return c && strchr("!$&'()*+,;=", c) != NULL;
}

static int lower_eq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x = (unsigned char)(x | 0x20);
        if (y >= 'A' && y <= 'Z') y = (unsigned char)(y | 0x20);
        if (x != y) return 0;
    }
    return 1;
}

int sh_str_caseeq(sh_str_t s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && lower_eq(s.p, lit, n);
}

int sh_str_eq(sh_str_t a, const char *p, size_t len)
{
    return a.len == len && (len == 0 || memcmp(a.p, p, len) == 0);
}

const sh_field_t *sh_msg_field(const sh_result_t *r, const sh_msg_t *m, size_t i)
{
    return i < m->nfields ? &r->fields[m->field0 + i] : NULL;
}

size_t sh_msg_count(const sh_result_t *r, const sh_msg_t *m, const char *name)
{
    size_t n = 0;
    for (size_t i = 0; i < m->nfields; i++) n += sh_str_caseeq(r->fields[m->field0 + i].name, name);
    return n;
}

const sh_field_t *sh_msg_find(const sh_result_t *r, const sh_msg_t *m, const char *name)
{
    for (size_t i = 0; i < m->nfields; i++)
        if (sh_str_caseeq(r->fields[m->field0 + i].name, name)) return &r->fields[m->field0 + i];
    return NULL;
}

/* The CRLF that ends the line starting at pos (RFC 9112 2.2: no bare CR, no bare LF). */
static int find_eol(ps_t *s, size_t pos, size_t *eol)
{
    for (size_t i = pos; i < s->len; i++) {
        char c = s->d[i];
        if (c == '\n') return bad(s, i, SH_E_LINE, "bare LF");
        if (c == '\r') {
            if (i + 1 == s->len) return P_MORE;
            if (s->d[i + 1] != '\n') return bad(s, i, SH_E_LINE, "bare CR");
            *eol = i;
            return P_OK;
        }
    }
    return P_MORE;
}

/* pct-encoded at p[i]: "%" HEXDIG HEXDIG */
static int pct_at(const char *p, size_t n, size_t i)
{
    return p[i] == '%' && i + 2 < n && is_hex((unsigned char)p[i + 1]) &&
           is_hex((unsigned char)p[i + 2]);
}

/* uri-host [ ":" port ] (RFC 9110 7.2, RFC 3986 3.2.2); userinfo is not allowed. Empty host
 * part only when allow_empty_host. */
static int valid_host_port(const char *p, size_t n, int allow_empty_host)
{
    size_t i = 0;
    if (n && p[0] == '[') {
        /* IP-literal, IPv6address in the shape of its characters */
        i = 1;
        while (i < n && (is_hex((unsigned char)p[i]) || p[i] == ':' || p[i] == '.')) i++;
        if (i < 3 || i == n || p[i] != ']') return 0;
        i++;
    } else {
        while (i < n) {
            unsigned char c = (unsigned char)p[i];
            if (c == '%') {
                if (!pct_at(p, n, i)) return 0;
                i += 3;
            } else if (is_unreserved(c) || is_subdelim(c)) {
                i++;
            } else {
                break;
            }
        }
        if (i == 0 && !allow_empty_host) return 0;
    }
    if (i == n) return 1;
    if (p[i] != ':') return 0;
    for (i++; i < n; i++)
        if (!is_digit((unsigned char)p[i])) return 0;
    return 1;
}

/* path-abempty [ "?" query ] of an origin-form or absolute-form target: pchar / "/" / "?" */
static int valid_path_query(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '%') {
            if (!pct_at(p, n, i)) return 0;
            i += 2;
            continue;
        }
        if (!(is_unreserved(c) || is_subdelim(c) || c == ':' || c == '@' || c == '/' || c == '?'))
            return 0;
    }
    return 1;
}

/* RFC 9112 3.2: the four forms of request-target. */
static int check_target(ps_t *s, sh_msg_t *m, size_t off)
{
    const char *t = m->target.p;
    size_t n = m->target.len;
    if (sh_str_eq(m->method, "CONNECT", 7)) {
        /* authority-form = uri-host ":" port */
        m->form = SH_FORM_AUTHORITY;
        if (!memchr(t, ':', n) || !valid_host_port(t, n, 0))
            return bad(s, off, SH_E_TARGET, "bad authority-form target");
        return P_OK;
    }
    if (t[0] == '/') {
        m->form = SH_FORM_ORIGIN;
        if (!valid_path_query(t, n)) return bad(s, off, SH_E_TARGET, "bad origin-form target");
        return P_OK;
    }
    if (n == 1 && t[0] == '*') {
        m->form = SH_FORM_ASTERISK;
        if (!sh_str_eq(m->method, "OPTIONS", 7))
            return bad(s, off, SH_E_TARGET, "asterisk-form target for a method other than OPTIONS");
        return P_OK;
    }
    /* absolute-form: scheme "://" authority path-abempty [ "?" query ] (RFC 9110 4.2) */
    m->form = SH_FORM_ABSOLUTE;
    size_t i = 0;
    if (!is_alpha((unsigned char)t[0])) return bad(s, off, SH_E_TARGET, "bad request-target");
    while (i < n && (is_alpha((unsigned char)t[i]) || is_digit((unsigned char)t[i]) ||
                     t[i] == '+' || t[i] == '-' || t[i] == '.'))
        i++;
    if (n - i < 3 || memcmp(t + i, "://", 3) != 0)
        return bad(s, off, SH_E_TARGET, "bad absolute-form target");
    size_t a = i + 3, e = a;
    while (e < n && t[e] != '/' && t[e] != '?') e++;
    if (!valid_host_port(t + a, e - a, 0))
        return bad(s, off, SH_E_TARGET, "bad authority in absolute-form target");
    if (!valid_path_query(t + e, n - e))
        return bad(s, off, SH_E_TARGET, "bad path in absolute-form target");
    return P_OK;
}

static int parse_version(ps_t *s, const char *p, size_t n, size_t off, int *minor)
{
    /* HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3) */
    if (n != 8 || memcmp(p, "HTTP/1.", 7) != 0) return bad(s, off, SH_E_START, "bad HTTP version");
    if (p[7] == '1')
        *minor = 1;
    else if (p[7] == '0' && s->o->allow_http10)
        *minor = 0;
    else
        return bad(s, off, SH_E_START, "HTTP version not accepted");
    return P_OK;
}

/* request-line = method SP request-target SP HTTP-version */
static int parse_request_line(ps_t *s, size_t pos, size_t eol, sh_msg_t *m)
{
    const char *d = s->d;
    size_t i = pos;
    while (i < eol && is_tchar((unsigned char)d[i])) i++;
    if (i == pos || i == eol || d[i] != ' ') return bad(s, i, SH_E_START, "bad method");
    m->method = (sh_str_t){d + pos, i - pos};
    size_t t = ++i;
    while (i < eol && d[i] != ' ') i++;
    if (i == t || i == eol) return bad(s, i, SH_E_TARGET, "bad request-target");
    m->target = (sh_str_t){d + t, i - t};
    if (check_target(s, m, t)) return P_BAD;
    i++;
    return parse_version(s, d + i, eol - i, i, &m->minor);
}

/* status-line = HTTP-version SP status-code SP [ reason-phrase ] */
static int parse_status_line(ps_t *s, size_t pos, size_t eol, sh_msg_t *m)
{
    const char *d = s->d;
    if (eol - pos < 13 || d[pos + 8] != ' ' || d[pos + 12] != ' ')
        return bad(s, pos, SH_E_START, "bad status-line");
    if (parse_version(s, d + pos, 8, pos, &m->minor)) return P_BAD;
    int st = 0;
    for (size_t i = pos + 9; i < pos + 12; i++) {
        if (!is_digit((unsigned char)d[i])) return bad(s, i, SH_E_START, "bad status code");
        st = st * 10 + (d[i] - '0');
    }
    /* RFC 9110 15: values outside 100..599 are invalid */
    if (st < 100 || st > 599) return bad(s, pos + 9, SH_E_START, "status code out of range");
    m->status = st;
    for (size_t i = pos + 13; i < eol; i++)
        if (!is_fvchar((unsigned char)d[i]) && !is_ws((unsigned char)d[i]))
            return bad(s, i, SH_E_START, "bad reason-phrase");
    m->reason = (sh_str_t){d + pos + 13, eol - pos - 13};
    return P_OK;
}

static int push_field(ps_t *s, sh_str_t name, sh_str_t value)
{
    sh_result_t *r = s->r;
    if (r->nfields == r->cap_fields) {
        size_t cap = r->cap_fields ? 2 * r->cap_fields : 32;
        sh_field_t *f = realloc(r->fields, cap * sizeof(*f));
        if (!f) abort();
        r->fields = f;
        r->cap_fields = cap;
    }
    r->fields[r->nfields++] = (sh_field_t){name, value};
    return P_OK;
}

/* *( field-line CRLF ) CRLF, field-line = field-name ":" OWS field-value OWS (RFC 9112 5) */
static int parse_fields(ps_t *s, size_t *pos, size_t *first, size_t *count, int cls)
{
    const char *d = s->d;
    *first = s->r->nfields;
    *count = 0;
    for (;;) {
        size_t eol;
        int e = find_eol(s, *pos, &eol);
        if (e) return e;
        if (eol == *pos) {
            *pos = eol + 2;
            return P_OK;
        }
        size_t i = *pos;
        while (i < eol && is_tchar((unsigned char)d[i])) i++;
        if (i == *pos)
            return bad(s, i, cls, is_ws((unsigned char)d[i]) ? "obs-fold" : "bad field name");
        /* RFC 9112 5.1: no whitespace between the name and the colon */
        if (i == eol || d[i] != ':') return bad(s, i, cls, "bad field name or no colon");
        sh_str_t name = {d + *pos, i - *pos};
        i++;
        while (i < eol && is_ws((unsigned char)d[i])) i++;
        size_t ve = eol;
        while (ve > i && is_ws((unsigned char)d[ve - 1])) ve--;
        for (size_t k = i; k < ve; k++)
            if (!is_fvchar((unsigned char)d[k]) && !is_ws((unsigned char)d[k]))
                return bad(s, k, cls, "bad character in field value");
        push_field(s, name, (sh_str_t){d + i, ve - i});
        (*count)++;
        *pos = eol + 2;
    }
}

/* chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ) (RFC 9112 7.1.1) */
static int parse_chunk_ext(ps_t *s, size_t i, size_t eol)
{
    const char *d = s->d;
    while (i < eol) {
        size_t j = i;
        while (j < eol && is_ws((unsigned char)d[j])) j++;
        if (j == eol || d[j] != ';') return bad(s, j, SH_E_CHUNK_EXT, "bad chunk extension");
        j++;
        while (j < eol && is_ws((unsigned char)d[j])) j++;
        size_t ns = j;
        while (j < eol && is_tchar((unsigned char)d[j])) j++;
        if (j == ns) return bad(s, j, SH_E_CHUNK_EXT, "bad chunk extension name");
        size_t k = j;
        while (k < eol && is_ws((unsigned char)d[k])) k++;
        if (k < eol && d[k] == '=') {
            k++;
            while (k < eol && is_ws((unsigned char)d[k])) k++;
            if (k < eol && d[k] == '"') {
                /* quoted-string (RFC 9110 5.6.4) */
                for (k++;; k++) {
                    if (k == eol)
                        return bad(s, k, SH_E_CHUNK_EXT, "unterminated quoted chunk extension");
                    unsigned char c = (unsigned char)d[k];
                    if (c == '"') break;
                    if (c == '\\') {
                        if (++k == eol) return bad(s, k, SH_E_CHUNK_EXT, "bad quoted-pair");
                        c = (unsigned char)d[k];
                        if (!is_fvchar(c) && !is_ws(c))
                            return bad(s, k, SH_E_CHUNK_EXT, "bad quoted-pair");
                        continue;
                    }
                    if (!(is_ws(c) || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
                          (c >= 0x5d && c <= 0x7e) || c >= 0x80))
                        return bad(s, k, SH_E_CHUNK_EXT, "bad character in quoted chunk extension");
                }
                k++;
            } else {
                size_t vs = k;
                while (k < eol && is_tchar((unsigned char)d[k])) k++;
                if (k == vs) return bad(s, k, SH_E_CHUNK_EXT, "bad chunk extension value");
            }
            j = k;
        }
        i = j;
    }
    return P_OK;
}

static void body_append(ps_t *s, const char *p, size_t n)
{
    memcpy(s->r->body + s->r->body_len, p, n);
    s->r->body_len += n;
}

/* chunked-body = *chunk last-chunk trailer-section CRLF (RFC 9112 7.1) */
static int parse_chunked(ps_t *s, size_t *pos, sh_msg_t *m)
{
    const char *d = s->d;
    for (;;) {
        size_t eol;
        int e = find_eol(s, *pos, &eol);
        if (e) return e;
        size_t i = *pos;
        uint64_t size = 0;
        while (i < eol && is_hex((unsigned char)d[i])) {
            if (size >> 56) return bad(s, i, SH_E_LIMIT, "chunk size too large");
            size = size * 16 + hex_val((unsigned char)d[i]);
            i++;
        }
        if (i == *pos) return bad(s, i, SH_E_CHUNK, "bad chunk size");
        if (parse_chunk_ext(s, i, eol)) return P_BAD;
        *pos = eol + 2;
        if (size == 0) break;
        if ((uint64_t)(s->len - *pos) < size) return P_MORE;
        body_append(s, d + *pos, (size_t)size);
        *pos += (size_t)size;
        size_t left = s->len - *pos;
        if (left == 0 || (left == 1 && d[*pos] == '\r')) return P_MORE;
        if (d[*pos] != '\r' || d[*pos + 1] != '\n')
            return bad(s, *pos, SH_E_CHUNK, "no CRLF after chunk data");
        *pos += 2;
    }
    return parse_fields(s, pos, &m->trailer0, &m->ntrailers, SH_E_TRAILER);
}

/* Message framing from the header fields (RFC 9112 6.1-6.3), refusing every ambiguity. */
static int check_framing(ps_t *s, sh_msg_t *m)
{
    sh_result_t *r = s->r;
    size_t ncl = sh_msg_count(r, m, "content-length"),
           nte = sh_msg_count(r, m, "transfer-encoding");
    size_t off = m->start;
    if (ncl > 1) return bad(s, off, SH_E_FRAMING, "more than one Content-Length");
    if (nte > 1) return bad(s, off, SH_E_FRAMING, "more than one Transfer-Encoding");
    if (ncl && nte) return bad(s, off, SH_E_FRAMING, "both Content-Length and Transfer-Encoding");
    m->has_cl = ncl != 0;
    m->has_te = nte != 0;
    if (nte) {
        if (!sh_str_caseeq(sh_msg_find(r, m, "transfer-encoding")->value, "chunked"))
            return bad(s, off, SH_E_FRAMING, "transfer-coding other than chunked");
        if (m->minor == 0)
            return bad(s, off, SH_E_FRAMING, "Transfer-Encoding in an HTTP/1.0 message");
    }
    if (ncl) {
        sh_str_t v = sh_msg_find(r, m, "content-length")->value;
        if (v.len == 0) return bad(s, off, SH_E_FRAMING, "empty Content-Length");
        uint64_t n = 0;
        for (size_t i = 0; i < v.len; i++) {
            if (!is_digit((unsigned char)v.p[i]))
                return bad(s, off, SH_E_FRAMING, "bad Content-Length");
            if (n > (UINT64_C(1) << 62) / 10)
                return bad(s, off, SH_E_LIMIT, "Content-Length too large");
            n = n * 10 + (uint64_t)(v.p[i] - '0');
        }
        m->content_length = n;
    }
    if (s->o->is_request) {
        /* RFC 9112 3.2: exactly one Host in HTTP/1.1, never more than one, and a valid one */
        size_t nhost = sh_msg_count(r, m, "host");
        if (nhost > 1) return bad(s, off, SH_E_HOST, "more than one Host");
        if (nhost == 0 && m->minor == 1)
            return bad(s, off, SH_E_HOST, "HTTP/1.1 request without Host");
        if (nhost) {
            sh_str_t h = sh_msg_find(r, m, "host")->value;
            if (h.len && !valid_host_port(h.p, h.len, 0))
                return bad(s, off, SH_E_HOST, "invalid Host");
        }
        m->framing = nte ? SH_BODY_CHUNKED : ncl ? SH_BODY_LENGTH : SH_BODY_NONE;
        return P_OK;
    }
    int st = m->status;
    if (st == 101)
        return bad(s, off, SH_E_SENDER, "101 switching protocols: what follows is not HTTP/1.1");
    /* RFC 9112 6.1, 6.2: a sender MUST NOT send either in a 1xx or 204 response */
    if ((st < 200 || st == 204) && (ncl || nte))
        return bad(s, off, SH_E_SENDER, "framing field in a 1xx or 204 response");
    if (s->o->head_response || st < 200 || st == 204 || st == 304)
        m->framing = SH_BODY_NONE;
    else
        m->framing = nte ? SH_BODY_CHUNKED : ncl ? SH_BODY_LENGTH : SH_BODY_EOF;
    return P_OK;
}

static int parse_msg(ps_t *s, size_t pos, sh_msg_t *m)
{
    memset(m, 0, sizeof(*m));
    m->start = pos;
    size_t eol;
    int e = find_eol(s, pos, &eol);
    if (e) return e;
    e = s->o->is_request ? parse_request_line(s, pos, eol, m) : parse_status_line(s, pos, eol, m);
    if (e) return e;
    pos = eol + 2;
    if ((e = parse_fields(s, &pos, &m->field0, &m->nfields, SH_E_FIELD))) return e;
    m->head_end = pos;
    if ((e = check_framing(s, m))) return e;
    m->body_off = s->r->body_len;
    switch (m->framing) {
    case SH_BODY_LENGTH:
        if ((uint64_t)(s->len - pos) < m->content_length) return P_MORE;
        body_append(s, s->d + pos, (size_t)m->content_length);
        pos += (size_t)m->content_length;
        break;
    case SH_BODY_CHUNKED:
        if ((e = parse_chunked(s, &pos, m))) return e;
        break;
    case SH_BODY_EOF:
        body_append(s, s->d + pos, s->len - pos);
        pos = s->len;
        break;
    }
    m->body_len = s->r->body_len - m->body_off;
    m->end = pos;
    return P_OK;
}

int sh_parse(const char *data, size_t len, const sh_opts_t *o, sh_result_t *r)
{
    memset(r, 0, sizeof(*r));
    r->body = malloc(len ? len : 1);
    if (!r->body) abort();
    ps_t s = {data, len, o, r};
    size_t max = o->max_msgs && o->max_msgs <= SH_MAX_MSGS ? o->max_msgs : SH_MAX_MSGS;
    size_t pos = 0;
    while (pos < len) {
        if (r->nmsgs == max) {
            r->error = "more messages than expected";
            r->error_off = pos;
            return r->status = SH_LIMIT;
        }
        sh_msg_t *m = &r->msgs[r->nmsgs];
        int e = parse_msg(&s, pos, m);
        if (e == P_MORE) {
            r->error = "input ends inside a message";
            r->error_off = len;
            return r->status = SH_INCOMPLETE;
        }
        if (e == P_BAD) return r->status = SH_INVALID;
        r->nmsgs++;
        pos = r->consumed = m->end;
    }
    return r->status = SH_OK;
}

void sh_result_free(sh_result_t *r)
{
    free(r->fields);
    free(r->body);
    r->fields = NULL;
    r->body = NULL;
}
