/* The gateway: listeners, workers, admin endpoint, health checks and reloads. In static mode it
 * reads resource files itself; in dynamic mode the composition root (cli/gateway_main.c) hands
 * it snapshots through cg_proxy_server_apply. */
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
    const char *const *paths; /* static mode: resource files (none: snapshots come by apply) */
    size_t npaths;
    const char *admin;      /* ip:port or "off" */
    const char *access_log; /* path, "-" or "off" */
    int access_log_tls;     /* lines end with the TLS version and the SNI */
    int workers;
    uint32_t header_timeout_ms, body_timeout_ms, idle_timeout_ms, max_conns;
    uint32_t upstream_max_idle; /* pooled connections per endpoint per worker (0: 1024) */
    uint32_t drain_ms; /* on SIGTERM: health checks fail and connections close for this long */
    /* HTTP/2 limits (cg_proxy_settings_t; 0: the default) */
    uint32_t h2_max_streams, h2_max_header_list, h2_max_resets, h2_max_glitches;
    /* The mesh identity (proxy/mesh.h): PREFIX.crt and PREFIX.key, as `crossgate ca issue
     * --out PREFIX` writes them, and the mesh CA. With it the gateway takes mTLS from other
     * gateways on mtls_port and sends to theirs over mTLS; NULL: plain text between gateways. */
    const char *identity, *mesh_ca;
    uint16_t mtls_port; /* default 15443 */
    int require_mtls;   /* leave out hops to other gateways that are not mTLS (needs identity) */
} cg_gateway_opts_t;

typedef struct cg_proxy_server cg_proxy_server_t;

/* Opens the access log, the loop and its signals, the admin endpoint, in static mode the first
 * config, and starts the workers. o must outlive the server. On failure says why on stderr and
 * returns CG_E* with *out NULL. */
int cg_proxy_server_start(cg_proxy_server_t **out, const cg_gateway_opts_t *o);
/* The server's main loop, for what runs beside it (the agent). */
cg_loop_t *cg_proxy_server_loop(cg_proxy_server_t *g);
/* Compiles a snapshot (taking it), opens its listeners and publishes it; logs the outcome, with
 * why, and counts it as a reload. Returns 0, or CG_E* with the config in force kept. */
int cg_proxy_server_apply(cg_proxy_server_t *g, cg_snapshot_t *snap, const char *why);
/* Serves until a signal (or the end of a drain) stops the loop. */
void cg_proxy_server_run(cg_proxy_server_t *g);
/* Stops the workers and the admin endpoint, closes what start opened and frees g (NULL: none). */
void cg_proxy_server_stop(cg_proxy_server_t *g);

#endif
