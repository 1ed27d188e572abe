/* The latency histogram of `crossgate load`: fixed log-linear buckets over microseconds.
 * 1 us buckets below 1024 us, then 128 buckets per power of two (bucket width < 0.8 % of the
 * value; the midpoint is reported, so the error is below 0.4 %). Values from 2^36 us (19 h) on
 * share the last bucket. Recording never allocates. */
#ifndef CG_TOOLS_LOAD_HIST_H
#define CG_TOOLS_LOAD_HIST_H

#include <stdint.h>
#include <string.h>

#define CG_LOAD_HIST_LINEAR      1024u
#define CG_LOAD_HIST_LINEAR_BITS 10
#define CG_LOAD_HIST_SUB_BITS    7
#define CG_LOAD_HIST_SUB         (1u << CG_LOAD_HIST_SUB_BITS)
#define CG_LOAD_HIST_TOP_BIT     36
#define CG_LOAD_HIST_BUCKETS                                                                       \
    (CG_LOAD_HIST_LINEAR + (CG_LOAD_HIST_TOP_BIT - CG_LOAD_HIST_LINEAR_BITS) * CG_LOAD_HIST_SUB)

/* All-zero is empty. */
typedef struct cg_load_hist {
    uint64_t count, sum, min, max;
    uint64_t b[CG_LOAD_HIST_BUCKETS];
} cg_load_hist_t;

/* The bucket of value v. */
static inline unsigned cg_load_hist_index(uint64_t v)
{
    if (v < CG_LOAD_HIST_LINEAR) return (unsigned)v;
    if (v >> CG_LOAD_HIST_TOP_BIT) return CG_LOAD_HIST_BUCKETS - 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* LINEAR_BITS .. TOP_BIT-1 */
    unsigned sub = (unsigned)(v >> (k - CG_LOAD_HIST_SUB_BITS)) - CG_LOAD_HIST_SUB;
    return CG_LOAD_HIST_LINEAR + (k - CG_LOAD_HIST_LINEAR_BITS) * CG_LOAD_HIST_SUB + sub;
}

static inline void cg_load_hist_reset(cg_load_hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

static inline void cg_load_hist_record(cg_load_hist_t *h, uint64_t v)
{
    h->b[cg_load_hist_index(v)]++;
    if (h->count == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->count++;
    h->sum += v;
}

/* Lowest value of bucket i and its width. */
uint64_t cg_load_hist_bucket_low(unsigned i, uint64_t *width);

/* The value at percentile p (0..100]: the smallest recorded value v such that at least p % of
 * the values are <= v, as its bucket's midpoint clamped to [min, max]; the maximum exactly.
 * 0 when empty. */
uint64_t cg_load_hist_percentile(const cg_load_hist_t *h, double p);

/* The percentile in milliseconds (reports print milliseconds). */
static inline double cg_load_hist_ms(const cg_load_hist_t *h, double p)
{
    return (double)cg_load_hist_percentile(h, p) / 1000.0;
}

#endif
