/* Interleaved weighted round-robin: items sorted heaviest first; round r visits, in order,
 * every item whose weight is at least r. Each cycle of sum(weights) picks gives every item
 * exactly its weight, equal weights are plain round-robin, and every pick is O(1) whatever
 * the item count or the weights. Pure. */
#ifndef CG_LB_IWRR_H
#define CG_LB_IWRR_H

#include <stddef.h>
#include <stdint.h>

/* One distinct weight: the items [0, count) weigh at least `weight`. */
typedef struct cg_lb_iwrr_level {
    uint32_t weight, count;
} cg_lb_iwrr_level_t;

/* The caller's cursor; all-zero is valid once cg_lb_iwrr_fit has run. */
typedef struct cg_lb_iwrr {
    uint32_t round; /* 1 .. levels[0].weight */
    uint32_t level; /* the lightest level whose weight is >= round */
    uint32_t pos;   /* next position in [0, levels[level].count) */
} cg_lb_iwrr_t;

/* Appends item i (0-based, non-increasing weights, weight >= 1) to levels[0..*n). */
static inline void cg_lb_iwrr_push(cg_lb_iwrr_level_t *levels, uint32_t *n, uint32_t weight,
                                   uint32_t i)
{
    if (*n == 0 || levels[*n - 1].weight != weight) levels[(*n)++].weight = weight;
    levels[*n - 1].count = i + 1;
}

/* Brings a cursor back in range after the levels changed (a rebuild), keeping its place in
 * the cycle where it can. O(levels). */
void cg_lb_iwrr_fit(cg_lb_iwrr_t *c, const cg_lb_iwrr_level_t *levels, uint32_t n);
/* The position of the next item; n >= 1 and the cursor fitted to these levels. */
static inline uint32_t cg_lb_iwrr_next(cg_lb_iwrr_t *c, const cg_lb_iwrr_level_t *levels,
                                       uint32_t n)
{
    uint32_t at = c->pos;
    if (++c->pos >= levels[c->level].count) {
        c->pos = 0;
        if (++c->round > levels[0].weight) {
            c->round = 1;
            c->level = n - 1;
        } else if (c->round > levels[c->level].weight) {
            c->level--; /* weights are distinct and descending: one step suffices */
        }
    }
    return at;
}

#endif
