/* Active health-check transitions, after Envoy's: a bad status fails at once, network
 * failures need unhealthy_threshold in a row, recovery needs healthy_threshold successes. */
#include "lb/health.h"

const cg_lb_hc_cfg_t cg_lb_hc_defaults = {
    .enabled = 1,
    .interval_ms = 1000,
    .timeout_ms = 1000,
    .unhealthy_threshold = 2,
    .healthy_threshold = 1,
};

int cg_lb_hc_on_result(cg_lb_hc_t *h, const cg_lb_hc_cfg_t *c, cg_hc_outcome_t r)
{
    if (r == CG_HC_OK) {
        h->fails = 0;
        if (!h->unhealthy) return 0;
        if (++h->successes >= c->healthy_threshold) {
            h->unhealthy = 0;
            h->successes = 0;
            return 1;
        }
        return 0;
    }
    h->successes = 0;
    if (h->unhealthy) return 0;
    if (r == CG_HC_BAD_STATUS || ++h->fails >= c->unhealthy_threshold) {
        h->unhealthy = 1;
        h->fails = 0;
        return 1;
    }
    return 0;
}
