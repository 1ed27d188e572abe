/* Envoy's priority load: health(P) = min(100, overprov * healthy / total); loads are handed
 * out in priority order scaled by the normalized total availability; the rounding remainder
 * goes to the first priority with any health. */
#include "lb/priority.h"

void cg_lb_priority_load(const uint32_t *healthy, const uint32_t *total, size_t n, uint32_t overprov,
                         uint32_t *load)
{
    uint32_t health[CG_LB_MAX_PRIORITIES];
    uint32_t nta = 0;
    if (n > CG_LB_MAX_PRIORITIES) n = CG_LB_MAX_PRIORITIES;
    for (size_t p = 0; p < n; p++) {
        uint64_t h = total[p] ? (uint64_t)overprov * healthy[p] / total[p] : 0;
        health[p] = h > 100 ? 100 : (uint32_t)h;
        nta += health[p];
        load[p] = 0;
    }
    if (nta > 100) nta = 100;
    if (nta == 0) return;
    uint32_t remaining = 100;
    for (size_t p = 0; p < n; p++) {
        uint32_t l = health[p] * 100 / nta;
        if (l > remaining) l = remaining;
        load[p] = l;
        remaining -= l;
    }
    for (size_t p = 0; p < n && remaining; p++) {
        if (health[p]) {
            load[p] += remaining;
            remaining = 0;
        }
    }
}

int cg_lb_priority_choose(const uint32_t *load, size_t n, uint32_t v)
{
    uint32_t acc = 0;
    for (size_t p = 0; p < n; p++) {
        acc += load[p];
        if (load[p] && v <= acc) return (int)p;
    }
    return -1;
}
