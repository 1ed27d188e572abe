/* The latency histogram of `crossgate load` (load_hist.h). */
#include "tools/load_hist.h"

#include <math.h>

uint64_t cg_load_hist_bucket_low(unsigned i, uint64_t *width)
{
    if (i < CG_LOAD_HIST_LINEAR) {
        *width = 1;
        return i;
    }
    unsigned k = (i - CG_LOAD_HIST_LINEAR) / CG_LOAD_HIST_SUB + CG_LOAD_HIST_LINEAR_BITS,
             sub = (i - CG_LOAD_HIST_LINEAR) % CG_LOAD_HIST_SUB;
    *width = 1ull << (k - CG_LOAD_HIST_SUB_BITS);
    return (uint64_t)(CG_LOAD_HIST_SUB + sub) << (k - CG_LOAD_HIST_SUB_BITS);
}

uint64_t cg_load_hist_percentile(const cg_load_hist_t *h, double p)
{
    if (h->count == 0) return 0;
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)ceil(want - 1e-9);
    if (rank < 1) rank = 1;
    if (rank >= h->count) return h->max;
    uint64_t seen = 0;
    for (unsigned i = 0; i < CG_LOAD_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen < rank) continue;
        uint64_t w, v = cg_load_hist_bucket_low(i, &w);
        v += w / 2;
        if (v < h->min) v = h->min;
        if (v > h->max) v = h->max;
        return v;
    }
    return h->max;
}
