/* Priority-level load (Envoy's integer algorithm): how much of the traffic each priority gets
 * given its healthy share, with the overprovisioning factor. Pure. */
#ifndef CG_LB_PRIORITY_H
#define CG_LB_PRIORITY_H

#include <stddef.h>
#include <stdint.h>

#define CG_LB_MAX_PRIORITIES 8

/* healthy[p] / total[p] per priority (weights or counts); overprov in percent (140 = 1.4).
 * Writes load[p] in percent, summing to 100 unless every priority has total 0 or healthy 0
 * (then all zero). */
void cg_lb_priority_load(const uint32_t *healthy, const uint32_t *total, size_t n, uint32_t overprov,
                         uint32_t *load);
/* Picks a priority for a value in 1..100 against cumulative loads; -1 when all loads are 0. */
int cg_lb_priority_choose(const uint32_t *load, size_t n, uint32_t v);

#endif
