/* Draw u below the weight that is left, then step u over each left-out range that starts at
 * or before it (in position order), and binary-search the prefix sums. */
#include "lb/wsample.h"

static uint64_t below(const uint64_t *cum, uint32_t pos)
{
    return pos ? cum[pos - 1] : 0;
}

int64_t cg_lb_wsample(const uint64_t *cum, size_t n, cg_lb_range_t *ex, size_t nex, uint64_t random)
{
    if (n == 0) return -1;
    /* insertion sort by lo, clamped to n, then merged: k is small (a request's tries) */
    size_t m = 0;
    for (size_t i = 0; i < nex; i++) {
        cg_lb_range_t r = ex[i];
        if (r.hi > n) r.hi = (uint32_t)n;
        if (r.lo >= r.hi) continue;
        size_t j = m++;
        while (j > 0 && ex[j - 1].lo > r.lo) {
            ex[j] = ex[j - 1];
            j--;
        }
        ex[j] = r;
    }
    size_t k = 0;
    for (size_t i = 0; i < m; i++) {
        if (k && ex[i].lo <= ex[k - 1].hi) {
            if (ex[i].hi > ex[k - 1].hi) ex[k - 1].hi = ex[i].hi;
        } else {
            ex[k++] = ex[i];
        }
    }
    uint64_t left = cum[n - 1];
    for (size_t i = 0; i < k; i++) left -= below(cum, ex[i].hi) - below(cum, ex[i].lo);
    if (left == 0) return -1;
    uint64_t u = random % left;
    for (size_t i = 0; i < k && u >= below(cum, ex[i].lo); i++)
        u += below(cum, ex[i].hi) - below(cum, ex[i].lo);
    size_t lo = 0, hi = n - 1; /* the first position whose prefix sum exceeds u */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > u)
            hi = mid;
        else
            lo = mid + 1;
    }
    return (int64_t)lo;
}
