/* Active health checks: the main thread probes every endpoint of every destination whose
 * policy enables them with GET /.crossgate/healthz, and publishes the verdict to the
 * workers through the endpoint state. */
#ifndef CG_PROXY_HEALTHCHECK_H
#define CG_PROXY_HEALTHCHECK_H

#include "core/loop.h"

void cg_proxy_hc_start(cg_loop_t *loop);
void cg_proxy_hc_stop(void);

#endif
