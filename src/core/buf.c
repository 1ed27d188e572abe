/* Growable byte buffers and small string helpers. */
#include "core/buf.h"
#include "core/err.h"
#include "core/list.h"

#include <stdio.h>
#include <stdlib.h>

void *cg_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "crossgate: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}
void *cg_xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fprintf(stderr, "crossgate: out of memory allocating %zu bytes\n", n * sz);
        abort();
    }
    return p;
}
void *cg_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "crossgate: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return q;
}
char *cg_xstrndup(const char *s, size_t n)
{
    char *d = cg_xmalloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
char *cg_xstrdup(const char *s)
{
    return cg_xstrndup(s, strlen(s));
}
char *cg_xvasprintf(const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n < 0) n = 0; /* an encoding error: an empty string, as cg_buf_vprintf gives */
    char *s = cg_xmalloc((size_t)n + 1);
    if (vsnprintf(s, (size_t)n + 1, fmt, again) < 0) s[0] = '\0';
    va_end(again);
    return s;
}

char *cg_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = cg_xvasprintf(fmt, ap);
    va_end(ap);
    return s;
}

cg_iov_t cg_iov_trim(cg_iov_t s)
{
    while (s.len && (s.base[0] == ' ' || s.base[0] == '\t')) s.base++, s.len--;
    while (s.len && (s.base[s.len - 1] == ' ' || s.base[s.len - 1] == '\t')) s.len--;
    return s;
}

int cg_iov_list_has(cg_iov_t list, const char *token)
{
    size_t tl = strlen(token), i = 0;
    while (i <= list.len) {
        size_t j = i;
        while (j < list.len && list.base[j] != ',') j++;
        cg_iov_t item = cg_iov_trim(cg_iov(list.base + i, j - i));
        if (item.len == tl && strncasecmp(item.base, token, tl) == 0) return 1;
        i = j + 1;
    }
    return 0;
}

void cg_buf_compact(cg_buf_t *b)
{
    if (b->off == 0) return;
    memmove(b->base, b->base + b->off, b->len - b->off);
    b->len -= b->off;
    b->off = 0;
}

int cg_buf_reserve(cg_buf_t *b, size_t n)
{
    if (b->cap - b->len >= n) return 0;
    cg_buf_compact(b);
    if (b->cap - b->len >= n) return 0;
    size_t ncap = b->cap ? b->cap : 256;
    while (ncap - b->len < n) ncap *= 2;
    char *nb = realloc(b->base, ncap);
    if (!nb) return CG_ENOMEM;
    b->base = nb;
    b->cap = ncap;
    return 0;
}

int cg_buf_append_slow(cg_buf_t *b, const void *p, size_t n)
{
    int r = cg_buf_reserve(b, n);
    if (r) return r;
    if (n) memcpy(b->base + b->len, p, n);
    b->len += n;
    return 0;
}

int cg_buf_vprintf(cg_buf_t *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(b->base ? b->base + b->len : NULL, b->base ? b->cap - b->len : 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return CG_EINVAL;
    if ((size_t)n >= b->cap - b->len || !b->base) {
        int r = cg_buf_reserve(b, (size_t)n + 1);
        if (r) return r;
        vsnprintf(b->base + b->len, b->cap - b->len, fmt, ap);
    }
    b->len += (size_t)n;
    return 0;
}

int cg_buf_printf(cg_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = cg_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return r;
}

int cg_buf_append_json_escaped(cg_buf_t *b, cg_iov_t s)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < s.len) {
        /* the run of bytes that need no escape goes in one append */
        size_t j = i;
        while (j < s.len && (unsigned char)s.base[j] >= 0x20 && s.base[j] != '"' &&
               s.base[j] != '\\')
            j++;
        if (j > i && cg_buf_append(b, s.base + i, j - i)) return CG_ENOMEM;
        if (j == s.len) break;
        unsigned char c = (unsigned char)s.base[j];
        char esc[6];
        int r;
        if (c == '"' || c == '\\') {
            esc[0] = '\\', esc[1] = (char)c;
            r = cg_buf_append(b, esc, 2);
        } else {
            esc[0] = '\\', esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4],
            esc[5] = hex[c & 15];
            r = cg_buf_append(b, esc, 6);
        }
        if (r) return r;
        i = j + 1;
    }
    return 0;
}

int cg_buf_append_json_iov(cg_buf_t *b, cg_iov_t s)
{
    int r = cg_buf_append(b, "\"", 1);
    r |= cg_buf_append_json_escaped(b, s);
    r |= cg_buf_append(b, "\"", 1);
    return r ? CG_ENOMEM : 0;
}

int cg_buf_append_json_str(cg_buf_t *b, const char *s)
{
    return s ? cg_buf_append_json_iov(b, cg_iov_str(s)) : cg_buf_append(b, "null", 4);
}

void cg_buf_reset(cg_buf_t *b)
{
    b->off = b->len = 0;
}

void cg_buf_free(cg_buf_t *b)
{
    free(b->base);
    b->base = NULL;
    b->off = b->len = b->cap = 0;
}
