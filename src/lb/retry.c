/* Retry budget, back-off and conditions. */
#include "lb/retry.h"

#include <llhttp.h>
#include <string.h>

const cg_lb_retry_cfg_t cg_lb_retry_defaults = {
    .attempts = 2,
    .per_try_timeout_ms = 0,
    .retry_on = CG_RETRY_ON_DEFAULT,
    .backoff_base_ms = 25,
    .backoff_max_ms = 250,
    .budget_percent = 20,
    .budget_min = 3,
    .buffer_limit = 64 * 1024,
};

int cg_lb_retry_matches(uint32_t retry_on, uint32_t what, int status)
{
    if (retry_on & what) return 1;
    if (retry_on & CG_RETRY_ON_5XX) {
        if (what & (CG_RETRY_ON_CONNECT_FAILURE | CG_RETRY_ON_RESET | CG_RETRY_ON_PER_TRY_TIMEOUT)) return 1;
        if (status >= 500 && status <= 599) return 1;
    }
    if ((retry_on & CG_RETRY_ON_RETRIABLE_4XX) && status == 409) return 1;
    return 0;
}

int cg_lb_retry_budget_allows(uint32_t active, uint32_t retries, uint32_t percent, uint32_t min)
{
    uint64_t limit = (uint64_t)active * percent / 100;
    if (limit < min) limit = min;
    return retries < limit;
}

uint32_t cg_lb_retry_backoff_ms(uint32_t n, uint32_t base, uint32_t max, uint64_t random)
{
    if (n == 0 || base == 0) return 0;
    uint64_t interval = base;
    for (uint32_t i = 1; i < n && interval < max; i++) interval *= 2;
    if (interval > max) interval = max;
    return (uint32_t)(random % interval);
}

int cg_lb_retry_idempotent(int m)
{
    switch (m) {
    case HTTP_GET:
    case HTTP_HEAD:
    case HTTP_OPTIONS:
    case HTTP_PUT:
    case HTTP_DELETE:
    case HTTP_TRACE: return 1;
    default: return 0;
    }
}

uint32_t cg_lb_retry_on_parse(const char *t)
{
    static const struct {
        const char *name;
        uint32_t bits;
    } names[] = {
        {"connect-failure", CG_RETRY_ON_CONNECT_FAILURE},
        {"refused-stream", CG_RETRY_ON_CONNECT_FAILURE},
        {"reset", CG_RETRY_ON_RESET},
        {"5xx", CG_RETRY_ON_5XX},
        {"gateway-error", CG_RETRY_ON_GATEWAY_ERROR},
        {"retriable-4xx", CG_RETRY_ON_RETRIABLE_4XX},
        {"502", CG_RETRY_ON_502},
        {"503", CG_RETRY_ON_503},
        {"504", CG_RETRY_ON_504},
        {"per-try-timeout", CG_RETRY_ON_PER_TRY_TIMEOUT},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (!strcmp(names[i].name, t)) return names[i].bits;
    return 0;
}
