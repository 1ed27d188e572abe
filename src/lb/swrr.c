/* Smooth weighted round-robin: each pick adds every eligible item's weight to its current
 * value, takes the largest, and subtracts the total from it. */
#include "lb/swrr.h"

int cg_lb_swrr_pick(int64_t *current, const uint32_t *weight, const uint8_t *eligible, size_t n)
{
    int best = -1;
    int64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!weight[i] || (eligible && !eligible[i])) continue;
        current[i] += weight[i];
        total += weight[i];
        if (best < 0 || current[i] > current[best]) best = (int)i;
    }
    if (best >= 0) current[best] -= total;
    return best;
}
