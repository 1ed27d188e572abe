/* Choosing the endpoint of each attempt: priority load by locality and health, weighted
 * round-robin within a priority, retries to endpoints and clusters not yet tried, weighted
 * mode's strict split; and feeding attempt results to outlier detection.
 *
 * Each worker keeps, per destination, the healthy endpoints of each priority, rebuilt when
 * the destination's health epoch moves (every ejection, return and health-check verdict
 * bumps it) or when the earliest ejection it saw ends; never per request (and, for a large
 * destination, at most once per CG_BAL_REBUILD_EVERY_MS). A first pick is
 * O(1) whatever the endpoint count; a retry is O(log n + tries^2). */
#ifndef CG_PROXY_BALANCER_H
#define CG_PROXY_BALANCER_H

#include "proxy/config.h"

#include <stddef.h>
#include <stdint.h>

#define CG_MAX_TRIES 16
/* A destination this large rebuilds a worker's view at most once per interval (a rebuild is
 * O(n): about 2 ms at 100k endpoints); in between, first picks check the endpoint's own state
 * and draw again past one that became unavailable, and an endpoint that came back waits at
 * most the interval for traffic. Smaller ones rebuild on every health change. */
#define CG_BAL_REBUILD_SMALL    4096
#define CG_BAL_REBUILD_EVERY_MS 50

typedef struct cg_pick {
    int endpoint;   /* index, or -1: nothing to send to (503 UH) */
    int cluster;    /* weighted mode: the cluster chosen on the first attempt */
    uint8_t repeat; /* an endpoint already tried: wait a back-off first */
    uint8_t panic;  /* every endpoint unavailable: took the longest-ejected one */
} cg_pick_t;

int cg_proxy_endpoint_available(const cg_endpoint_t *ep, uint64_t now_ms);
/* The load each priority gets now, in percent (load[CG_LB_MAX_PRIORITIES]), read from the
 * endpoints themselves (O(n): for the admin endpoint, not the request path). */
void cg_proxy_balancer_priority_load(const cg_dest_t *d, uint64_t now_ms, uint32_t *load);
/* tried[0..ntried) are endpoint indices already attempted for this request; cluster is the
 * weighted cluster chosen by the first pick (ignored on the first pick). */
cg_pick_t cg_proxy_balancer_pick(const cg_dest_t *d, int worker, const uint32_t *tried,
                                 size_t ntried, int cluster, uint64_t now_ms, uint64_t random);
/* Tells outlier detection how an attempt went (status 0: no response). Returns 1 when it
 * ejected the endpoint, -1 when the endpoint came back, 0 otherwise. */
int cg_proxy_balancer_result(const cg_dest_t *d, const cg_endpoint_t *ep, int status,
                             uint64_t now_ms);

/* Config compile: the orders of d's endpoints and one view per worker (d->ws); d's
 * endpoints, clusters and stats are set. Release frees them. Main thread only. */
void cg_proxy_balancer_prepare(cg_dest_t *d, int nworkers);
void cg_proxy_balancer_release(cg_dest_t *d);

#endif
