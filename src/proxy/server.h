/* The `crossgate gateway` process in static mode. */
#ifndef CG_PROXY_SERVER_H
#define CG_PROXY_SERVER_H

#include "proxy/worker.h"
#include "translate/snapshot.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cg_gateway_opts {
    const char *cluster, *namespace_, *address;
    cg_snap_label_t *labels;
    size_t nlabels;
    const char *const *paths;
    size_t npaths;
    const char *admin;      /* ip:port or "off" */
    const char *access_log; /* path, "-" or "off" */
    const char *control;    /* dynamic mode: control-plane URL (else static mode: paths) */
    const char *token;      /* bearer token for the control plane */
    const char *cache_dir;  /* last good snapshot, for restarts without a control plane */
    int workers;
    uint32_t header_timeout_ms, body_timeout_ms, idle_timeout_ms, max_conns;
    uint32_t drain_ms; /* on SIGTERM: health checks fail and connections close for this long */
} cg_gateway_opts_t;

typedef struct cg_proxy_server cg_proxy_server_t;

int cg_proxy_server_run(const cg_gateway_opts_t *o);

#endif
