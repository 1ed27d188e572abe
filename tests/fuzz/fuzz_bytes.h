/* Helpers shared by the differential forwarding fuzzers: a growable byte string, flattening a
 * cg_http_out_t into one, and printing bytes escaped when an invariant breaks. */
#ifndef CG_FUZZ_BYTES_H
#define CG_FUZZ_BYTES_H

#include "http/message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fz_bytes {
    char *p;
    size_t len, cap;
} fz_bytes_t;

static inline void fz_append(fz_bytes_t *b, const void *p, size_t n)
{
    if (n == 0) return;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *q = realloc(b->p, cap);
        if (!q) abort();
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static inline void fz_free(fz_bytes_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

/* What a writev of o's pending slices would send, appended to b; then o is emptied (as a
 * complete write leaves it). */
static inline void fz_flatten(fz_bytes_t *b, cg_http_out_t *o)
{
    for (unsigned i = o->pos; i < o->n; i++) fz_append(b, o->iov[i].iov_base, o->iov[i].iov_len);
    cg_http_out_reset(o);
}

/* Prints bytes C-escaped, as they would go in a string literal. */
static inline void fz_dump(const char *label, const char *p, size_t n)
{
    fprintf(stderr, "%s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\r')
            fputs("\\r", stderr);
        else if (c == '\n')
            fputs("\\n\"\n    \"", stderr);
        else if (c == '\t')
            fputs("\\t", stderr);
        else if (c == '"' || c == '\\')
            fprintf(stderr, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(stderr, "\\x%02x\"\"", c);
        else
            fputc(c, stderr);
    }
    fputs("\"\n", stderr);
}

#endif
