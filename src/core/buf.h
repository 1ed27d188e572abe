/* Slices and growable byte buffers. The all-zero cg_buf_t is a valid empty buffer. */
#ifndef CG_CORE_BUF_H
#define CG_CORE_BUF_H

#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

typedef struct cg_iov {
    char *base;
    size_t len;
} cg_iov_t;

#define CG_IOV_LIT(s) ((cg_iov_t){(char *)(s), sizeof(s) - 1})
#define CG_IOV_NULL   ((cg_iov_t){NULL, 0})

static inline cg_iov_t cg_iov(const char *base, size_t len)
{
    return (cg_iov_t){(char *)base, len};
}
static inline cg_iov_t cg_iov_str(const char *s)
{
    return (cg_iov_t){(char *)s, s ? strlen(s) : 0};
}
static inline int cg_iov_eq(cg_iov_t a, cg_iov_t b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.base, b.base, a.len) == 0);
}
static inline int cg_iov_caseeq(cg_iov_t a, cg_iov_t b)
{
    return a.len == b.len && (a.len == 0 || strncasecmp(a.base, b.base, a.len) == 0);
}
/* Two optional strings: both NULL, or equal. */
static inline int cg_str_same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}
static inline int cg_iov_caseeq_lit(cg_iov_t a, const char *lit)
{
    return cg_iov_caseeq(a, cg_iov_str(lit));
}
/* Strips leading and trailing SP/HTAB. */
cg_iov_t cg_iov_trim(cg_iov_t s);
/* Does the comma-separated token list `list` hold `token` (case-insensitive)? */
int cg_iov_list_has(cg_iov_t list, const char *token);

/* [base, base+off) consumed, [base+off, base+len) data, [base+len, base+cap) free. */
typedef struct cg_buf {
    char *base;
    size_t off, len, cap;
} cg_buf_t;

static inline char *cg_buf_data(const cg_buf_t *b)
{
    return b->base + b->off;
}
static inline size_t cg_buf_size(const cg_buf_t *b)
{
    return b->len - b->off;
}
static inline void cg_buf_consume(cg_buf_t *b, size_t n)
{
    b->off += n;
    if (b->off == b->len) b->off = b->len = 0;
}
/* Ensures at least `n` free bytes at the tail; compacts first. Returns 0 or CG_ENOMEM. */
int cg_buf_reserve(cg_buf_t *b, size_t n);
/* Moves unconsumed data to the start of the storage. */
void cg_buf_compact(cg_buf_t *b);
int cg_buf_append_slow(cg_buf_t *b, const void *p, size_t n);
/* Appends n bytes (inline when they fit: HTTP/2 fields are many small appends). 0 or
 * CG_ENOMEM. */
static inline int cg_buf_append(cg_buf_t *b, const void *p, size_t n)
{
    if (b->cap - b->len < n || !n) return cg_buf_append_slow(b, p, n);
    memcpy(b->base + b->len, p, n);
    b->len += n;
    return 0;
}
static inline int cg_buf_append_iov(cg_buf_t *b, cg_iov_t s)
{
    return cg_buf_append(b, s.base, s.len);
}
static inline int cg_buf_append_str(cg_buf_t *b, const char *s)
{
    return cg_buf_append(b, s, strlen(s));
}
int cg_buf_printf(cg_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cg_buf_vprintf(cg_buf_t *b, const char *fmt, va_list ap);
/* Appends s with JSON string escaping (no surrounding quotes). */
int cg_buf_append_json_escaped(cg_buf_t *b, cg_iov_t s);
/* Appends s as a quoted JSON string. */
int cg_buf_append_json_iov(cg_buf_t *b, cg_iov_t s);
/* The same for a C string; NULL is written as null. */
int cg_buf_append_json_str(cg_buf_t *b, const char *s);
void cg_buf_reset(cg_buf_t *b);
void cg_buf_free(cg_buf_t *b);

#endif
