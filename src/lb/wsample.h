/* Weighted random choice over prefix sums with a few position ranges left out: what a retry
 * needs to skip the clusters and endpoints it already tried in O(log n + k log k), with no
 * scan of the candidates. Pure. */
#ifndef CG_LB_WSAMPLE_H
#define CG_LB_WSAMPLE_H

#include <stddef.h>
#include <stdint.h>

/* Positions [lo, hi) to leave out. */
typedef struct cg_lb_range {
    uint32_t lo, hi;
} cg_lb_range_t;

/* cum[i] = weight[0] + ... + weight[i], non-decreasing, n >= 0. ex[0..nex) may overlap and
 * come in any order (they are sorted in place). Returns the chosen position, with chance
 * proportional to its weight among those not left out, or -1 when none has weight. */
int64_t cg_lb_wsample(const uint64_t *cum, size_t n, cg_lb_range_t *ex, size_t nex,
                      uint64_t random);

#endif
