/* Retry policy arithmetic: budget and jittered back-off. Pure. */
#ifndef CG_LB_RETRY_H
#define CG_LB_RETRY_H

#include <stdint.h>

/* What a failed attempt was, for matching against retryOn. */
enum {
    CG_RETRY_ON_CONNECT_FAILURE = 1 << 0, /* connect refused or timed out */
    CG_RETRY_ON_RESET = 1 << 1,           /* reset/closed before the response began */
    CG_RETRY_ON_502 = 1 << 2,
    CG_RETRY_ON_503 = 1 << 3,
    CG_RETRY_ON_504 = 1 << 4,
    CG_RETRY_ON_5XX = 1 << 5,             /* any 5xx (and resets and connect failures) */
    CG_RETRY_ON_RETRIABLE_4XX = 1 << 6,   /* 409 */
    CG_RETRY_ON_PER_TRY_TIMEOUT = 1 << 7,
};
#define CG_RETRY_ON_GATEWAY_ERROR (CG_RETRY_ON_502 | CG_RETRY_ON_503 | CG_RETRY_ON_504)
#define CG_RETRY_ON_DEFAULT                                                                        \
    (CG_RETRY_ON_CONNECT_FAILURE | CG_RETRY_ON_RESET | CG_RETRY_ON_GATEWAY_ERROR | CG_RETRY_ON_PER_TRY_TIMEOUT)

typedef struct cg_lb_retry_cfg {
    uint32_t attempts;        /* retries after the first try; default 2 */
    uint32_t per_try_timeout_ms; /* 0 = none */
    uint32_t retry_on;        /* CG_RETRY_ON_* */
    uint32_t backoff_base_ms; /* 25 */
    uint32_t backoff_max_ms;  /* 250 */
    uint32_t budget_percent;  /* 20 */
    uint32_t budget_min;      /* 3 */
    uint32_t buffer_limit;    /* request body kept for retry; 64 KiB */
} cg_lb_retry_cfg_t;

extern const cg_lb_retry_cfg_t cg_lb_retry_defaults;

/* Does a failure of kind `what` (a CG_RETRY_ON_* bit; status for responses) match retry_on? */
int cg_lb_retry_matches(uint32_t retry_on, uint32_t what, int status);
/* May one more retry start with `active` requests and `retries` retries in flight? */
int cg_lb_retry_budget_allows(uint32_t active, uint32_t retries, uint32_t percent, uint32_t min);
/* Full-jitter exponential back-off before the n-th repeat (n >= 1) of the same endpoint. */
uint32_t cg_lb_retry_backoff_ms(uint32_t n, uint32_t base, uint32_t max, uint64_t random);
/* Methods that may be replayed after the request was sent. */
int cg_lb_retry_idempotent(int llhttp_method);
/* Parses a retryOn token ("connect-failure", "reset", "5xx", "gateway-error", "502", ...);
 * returns its bits or 0 when unknown. */
uint32_t cg_lb_retry_on_parse(const char *token);

#endif
