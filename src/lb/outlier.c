/* Outlier detection state machine. */
#include "lb/outlier.h"

const cg_lb_outlier_cfg_t cg_lb_outlier_defaults = {
    .consecutive_gateway_errors = 3,
    .interval_ms = 1000,
    .base_ejection_ms = 5000,
    .max_ejection_ms = 30000,
    .max_ejection_percent = 100,
};

cg_lb_result_t cg_lb_outlier_classify(int status)
{
    if (status == 0 || status == 502 || status == 503 || status == 504) return CG_LB_GATEWAY_ERROR;
    if (status >= 500) return CG_LB_OTHER_5XX;
    return CG_LB_SUCCESS;
}

int cg_lb_outlier_cap_allows(uint32_t ejected, uint32_t total, uint32_t max_percent)
{
    if (!total) return 0;
    return (uint64_t)100 * (ejected + 1) / total <= max_percent;
}

static void eject(cg_lb_outlier_t *o, const cg_lb_outlier_cfg_t *c, uint64_t now)
{
    uint32_t base = c->base_ejection_ms ? c->base_ejection_ms : 1;
    uint32_t max = c->max_ejection_ms > base ? c->max_ejection_ms : base;
    /* the multiplier decays by one per clean interval since the last ejection ended */
    if (o->ejections && now > o->ejected_until_ms && c->interval_ms) {
        uint64_t steps = (now - o->ejected_until_ms) / c->interval_ms;
        o->backoff = steps >= o->backoff ? 0 : o->backoff - (uint32_t)steps;
    }
    if ((uint64_t)base * o->backoff < (uint64_t)max) o->backoff++;
    uint64_t dur = (uint64_t)base * o->backoff;
    if (dur > max) dur = max;
    o->ejected = 1;
    o->ejections++;
    o->consecutive = 0;
    o->ejected_at_ms = now;
    o->ejected_until_ms = now + dur;
}

int cg_lb_outlier_on_result(cg_lb_outlier_t *o, const cg_lb_outlier_cfg_t *c, cg_lb_result_t r, uint64_t now,
                            int can_eject)
{
    if (o->ejected) {
        if (now < o->ejected_until_ms) return 0; /* began before the ejection: already counted */
        /* the first result after expiry is the probe: one failure sends it straight back */
        o->ejected = 0;
        o->consecutive = 0;
        if (r == CG_LB_GATEWAY_ERROR) {
            eject(o, c, now);
            return 1;
        }
        return -1;
    }
    if (r != CG_LB_GATEWAY_ERROR) {
        o->consecutive = 0;
        return 0;
    }
    o->consecutive++;
    if (o->consecutive >= c->consecutive_gateway_errors && can_eject) {
        eject(o, c, now);
        return 1;
    }
    return 0;
}
