/* Outlier detection (passive health): consecutive gateway failures eject an endpoint for a
 * time that grows with repeated ejections; on expiry the next real request is the
 * speculative probe. Pure: time is passed in, the caller serialises access. */
#ifndef CG_LB_OUTLIER_H
#define CG_LB_OUTLIER_H

#include <stdint.h>

typedef struct cg_lb_outlier_cfg {
    uint32_t consecutive_gateway_errors; /* default 3 */
    uint32_t interval_ms;                /* backoff decays by one step per clean interval; 1000 */
    uint32_t base_ejection_ms;           /* 5000 */
    uint32_t max_ejection_ms;            /* 30000 */
    uint32_t max_ejection_percent;       /* 100 */
} cg_lb_outlier_cfg_t;

extern const cg_lb_outlier_cfg_t cg_lb_outlier_defaults;

typedef enum {
    CG_LB_SUCCESS,       /* any response that is not a 5xx */
    CG_LB_GATEWAY_ERROR, /* connect failure, reset before response, timeout, 502, 503, 504 */
    CG_LB_OTHER_5XX,     /* 500, 501, ...: resets the gateway-error streak */
} cg_lb_result_t;

typedef struct cg_lb_outlier {
    uint32_t consecutive; /* current streak of gateway errors */
    uint32_t backoff;     /* ejection multiplier */
    uint32_t ejections;   /* total, for display */
    uint8_t ejected;
    uint64_t ejected_at_ms, ejected_until_ms;
} cg_lb_outlier_t;

/* Can take traffic at `now`: not ejected, or its ejection has expired (probe). */
static inline int cg_lb_outlier_available(const cg_lb_outlier_t *o, uint64_t now)
{
    return !o->ejected || now >= o->ejected_until_ms;
}

/* Records one result. can_eject says whether the ejection cap leaves room for one more
 * ejected endpoint. Returns 1 when the endpoint got ejected, -1 when it returned (probe
 * succeeded), 0 otherwise. */
int cg_lb_outlier_on_result(cg_lb_outlier_t *o, const cg_lb_outlier_cfg_t *c, cg_lb_result_t r, uint64_t now,
                            int can_eject);
/* Would one more ejection stay within max_ejection_percent? */
int cg_lb_outlier_cap_allows(uint32_t ejected, uint32_t total, uint32_t max_percent);
/* Maps an attempt's outcome to a result: status 0 means no response (connect failure, reset,
 * timeout). */
cg_lb_result_t cg_lb_outlier_classify(int status);

#endif
