/* The resync window (resync.h): the policy, and its glue to the watches of the control plane. */
#include "control/resync.h"

#include "control/api.h"
#include "core/log.h"

#include <inttypes.h>

void cg_control_resync_open(cg_control_resync_t *r, uint64_t now_ms, uint64_t ttl_ms,
                            uint64_t first_version)
{
    r->until_ms = now_ms + ttl_ms;
    r->first_version = first_version;
    r->holding = 0;
}

int cg_control_resync_holds(const cg_control_resync_t *r, int edge, uint64_t after, uint64_t now_ms)
{
    if (!r->until_ms || !edge || after == 0 || after >= r->first_version) return 0;
    return now_ms < r->until_ms;
}

int cg_control__held_back(cg_control_t *cp, const cg_control_wentry_t *e, uint64_t after)
{
    cg_control_resync_t *r = &cp->resync;
    if (!cg_control_resync_holds(r, e->edge, after, cp->loop->now_ms)) return 0;
    if (!r->holding) {
        r->holding = 1;
        cg_log_info("control: holding edge snapshots back for %" PRIu64
                    " ms while gateways of the previous run register again",
                    r->until_ms - cp->loop->now_ms);
    }
    return 1;
}

static void on_resync_end(cg_loop_t *loop, cg_timer_t *t)
{
    cg_control_t *cp = cg_container_of(t, cg_control_t, resync_timer);
    (void)loop;
    cp->resync.until_ms = 0;
    size_t n = cg_control_watch_wake_ready(&cp->watch, &cp->leases);
    if (cp->resync.holding)
        cg_log_info("control: resync window over: %zu edge snapshot(s) sent, %zu instances live", n,
                    cp->leases.items.len);
}

void cg_control__resync_start(cg_control_t *cp, uint64_t first_version)
{
    cg_control_resync_open(&cp->resync, cp->loop->now_ms, CG_CONTROL_TTL_MS, first_version);
    cg_timer_start(cp->loop, &cp->resync_timer, CG_CONTROL_TTL_MS, on_resync_end);
}
