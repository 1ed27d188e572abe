/* Interleaved weighted round-robin's cursor repair; the pick itself is inline. */
#include "lb/iwrr.h"

void cg_lb_iwrr_fit(cg_lb_iwrr_t *c, const cg_lb_iwrr_level_t *levels, uint32_t n)
{
    if (n == 0) {
        *c = (cg_lb_iwrr_t){0};
        return;
    }
    if (c->round == 0 || c->round > levels[0].weight) {
        c->round = 1;
        c->pos = 0;
    }
    uint32_t l = n - 1;
    while (l > 0 && levels[l].weight < c->round) l--;
    c->level = l;
    if (c->pos >= levels[l].count) c->pos = 0;
}
