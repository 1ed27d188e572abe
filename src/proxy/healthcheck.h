/* Active health checks: the main thread probes every endpoint of every destination whose
 * policy enables them with GET /.crossgate/healthz, and publishes the verdict to the
 * workers through the endpoint state. */
#ifndef CG_PROXY_HEALTHCHECK_H
#define CG_PROXY_HEALTHCHECK_H

#include "core/list.h"
#include "core/loop.h"

/* One prober per gateway, on the gateway's main loop; owned (embedded) by the gateway. */
typedef struct cg_config cg_config_t;

typedef struct cg_proxy_hc {
    cg_loop_t *loop; /* NULL: not started */
    cg_list_t probes;
    cg_timer_t tick;
    cg_config_t *synced; /* the config the probes were last matched to (a reference) */
} cg_proxy_hc_t;

void cg_proxy_hc_start(cg_proxy_hc_t *hc, cg_loop_t *loop);
void cg_proxy_hc_stop(cg_proxy_hc_t *hc);

#endif
