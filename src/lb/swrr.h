/* Smooth weighted round-robin (nginx's): spreads picks by weight without bursts. Pure. */
#ifndef CG_LB_SWRR_H
#define CG_LB_SWRR_H

#include <stddef.h>
#include <stdint.h>

/* current[] is the caller's state, one per item, zero-initialised. Items with weight 0 or
 * not eligible (eligible[i] == 0 when eligible != NULL) are skipped. Returns -1 if none. */
int cg_lb_swrr_pick(int64_t *current, const uint32_t *weight, const uint8_t *eligible, size_t n);

#endif
