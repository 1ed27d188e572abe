/* Active health-check state of one endpoint. Pure. */
#ifndef CG_LB_HEALTH_H
#define CG_LB_HEALTH_H

#include <stdint.h>

#define CG_HEALTHZ_PATH "/.crossgate/healthz"

typedef struct cg_lb_hc_cfg {
    uint8_t enabled;              /* on by default for edge -> ingress */
    uint32_t interval_ms;         /* 1000 */
    uint32_t timeout_ms;          /* 1000 */
    uint32_t unhealthy_threshold; /* 2 network failures */
    uint32_t healthy_threshold;   /* 1 */
} cg_lb_hc_cfg_t;

extern const cg_lb_hc_cfg_t cg_lb_hc_defaults;

typedef enum {
    CG_HC_OK,          /* 200 */
    CG_HC_NETWORK,     /* connect failure, reset, timeout: counts toward the threshold */
    CG_HC_BAD_STATUS,  /* any other status (503 draining): unhealthy at once */
} cg_hc_outcome_t;

typedef struct cg_lb_hc {
    uint8_t unhealthy;
    uint32_t fails, successes;
} cg_lb_hc_t;

/* Records one check. Returns 1 when the endpoint changed state. */
int cg_lb_hc_on_result(cg_lb_hc_t *h, const cg_lb_hc_cfg_t *c, cg_hc_outcome_t r);

#endif
