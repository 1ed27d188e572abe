/* The gateway admin endpoint: /ready, /metrics, /config_dump, /clusters. */
#ifndef CG_PROXY_ADMIN_H
#define CG_PROXY_ADMIN_H

#include "http/server.h"
#include "proxy/worker.h"

#include <stdint.h>

/* What the endpoint reads of the gateway that runs it (the rest, the config in force, it takes
 * from proxy/worker.h). The gateway fills it and keeps it, and what it points to, alive while
 * the endpoint runs. */
typedef struct cg_proxy_admin_view {
    const cg_worker_t *workers; /* counters of the first *nworkers, read with relaxed loads */
    const int *nworkers;
    const uint64_t *reloads_ok, *reloads_failed; /* config reloads, by result */
} cg_proxy_admin_view_t;

int cg_proxy_admin_start(cg_httpd_t *srv, cg_loop_t *loop, const char *addr,
                         const cg_proxy_admin_view_t *view);

#endif
