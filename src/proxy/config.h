/* A snapshot compiled for the request path: listeners by port, virtual hosts, routes with
 * compiled matchers, destinations with parsed addresses. Immutable and shared by all workers;
 * freed when its reference count drops to zero. */
#ifndef CG_PROXY_CONFIG_H
#define CG_PROXY_CONFIG_H

#include "core/buf.h"
#include "core/sock.h"
#include "core/transport.h"
#include "translate/snapshot.h"

#include <pthread.h>
#include <regex.h>
#include <stdint.h>

/* Counters and health of one upstream endpoint, shared by every worker. They outlive configs
 * (keyed by destination name + address), so a reload keeps ejections and counts; an entry no
 * config has referenced for CG_EP_STATS_GRACE_MS goes at the next reload. */
typedef struct cg_ep_stats {
    uint64_t rq_total, rq_error, cx_connect_fail, cx_total; /* relaxed atomics */
    /* health: readable without the lock through these mirrors; written only through
     * cg_proxy_ep_stats_set_ejected / _set_unhealthy, which bump the destination's epoch */
    uint64_t ejected_until_ms; /* 0 = not ejected; else ejected until then (probe after) */
    uint8_t hc_unhealthy;      /* active health check verdict */
    uint64_t *health_epoch;    /* the destination name's: bumped on every health change */
    uint32_t streak;           /* mirror of outlier.consecutive: 0 lets successes skip the lock */
    pthread_mutex_t lock;      /* guards outlier */
    cg_lb_outlier_t outlier;
    cg_lb_hc_t hc; /* the health checker's only (proxy/healthcheck.c, on the main loop) */
} cg_ep_stats_t;

typedef struct cg_endpoint {
    cg_addr_t addr;
    char name[64];                /* "ip:port" for logs */
    const char *cluster, *region; /* borrowed from the snapshot */
    uint32_t weight;
    uint32_t priority;
    int cluster_idx; /* weighted mode: index into dest clusters */
    uint32_t cid;    /* the destination's dense id of cluster (NULL is one cluster too) */
    cg_ep_stats_t *stats;
    /* its connections' and health probes' transport (mTLS: the ctx names the peer identity the
     * endpoint must present); zero: plain TCP */
    cg_xport_opener_t xopen;
    const char *host; /* Host sent to it instead of the client's; NULL: the client's (borrowed) */
} cg_endpoint_t;

/* Weighted mode: one cluster's share. */
typedef struct cg_dest_cluster {
    const char *name;
    uint32_t weight;
    uint32_t nendpoints;
} cg_dest_cluster_t;

struct cg_bal_dest; /* proxy/balancer.c: the destination's orders, built at compile */
struct cg_bal_view; /* proxy/balancer.c: one worker's healthy sets and cursors */

/* What one worker keeps per destination: balancer state and retry-budget counts. */
typedef struct cg_dest_wstate {
    struct cg_bal_view *view; /* owned */
    uint32_t active;          /* requests in flight */
    uint32_t retries;         /* retries in flight */
} cg_dest_wstate_t;

typedef struct cg_dest {
    const char *name;
    cg_dest_mode_t mode;
    cg_endpoint_t *endpoints;
    size_t nendpoints;
    cg_dest_cluster_t *clusters; /* weighted mode */
    size_t nclusters;
    uint32_t npriorities;
    uint32_t connect_timeout_ms;
    const cg_snap_policy_t *policy;
    uint64_t *health_epoch;  /* shared with the endpoints' stats (NULL without endpoints) */
    struct cg_bal_dest *bal; /* owned */
    cg_dest_wstate_t *ws;    /* one per worker */
} cg_dest_t;

/* Number of workers configs are compiled for (set once at start-up). */
extern int cg_proxy_nworkers;

typedef struct cg_strmatch {
    cg_match_kind_t kind;
    cg_iov_t value;
    regex_t re; /* kind == CG_MATCH_REGEX */
} cg_strmatch_t;

typedef struct cg_header_matcher {
    cg_iov_t name;
    cg_strmatch_t m;
} cg_header_matcher_t;

typedef struct cg_match {
    int has_uri;
    cg_strmatch_t uri;
    cg_header_matcher_t *headers;
    size_t nheaders;
} cg_match_t;

typedef struct cg_route {
    cg_match_t *matches;
    size_t nmatches;
    cg_action_kind_t action;
    cg_dest_t *dest;
    const cg_snap_redirect_t *redirect;
    const cg_snap_direct_t *direct;
    uint32_t timeout_ms;
} cg_route_t;

enum { CG_VHOST_EXACT, CG_VHOST_WILDCARD, CG_VHOST_ANY };

typedef struct cg_vhost {
    int kind;
    cg_iov_t host; /* exact: the name; wildcard: the suffix including the dot (".example.com") */
    const char *server; /* http[].name, for stats */
    int tls_index;      /* on a TLS port: its server's index in the port's set (421 by SNI) */
    uint32_t seq;       /* its server's index in the snapshot: ties in the order go by it */
    cg_route_t *routes;
    size_t nroutes;
} cg_vhost_t;

typedef struct cg_listener_cfg {
    uint16_t port;
    cg_vhost_t *vhosts; /* exact first, then wildcards longest first, then "*" */
    size_t nvhosts;
    cg_xport_opener_t xopen; /* accepted connections' transport (TLS); zero: plain TCP */
    /* the mesh port (proxy/mesh.h): every other listener's vhosts, whose routes it borrows */
    int mesh;
} cg_listener_cfg_t;

typedef struct cg_config {
    int refs; /* atomic */
    uint64_t version;
    cg_snapshot_t *snap; /* owned; kept for /config_dump */
    cg_addr_t bind;      /* listener IP (port 0) */
    cg_listener_cfg_t *listeners;
    size_t nlisteners;
    cg_dest_t *dests;
    size_t ndests;
    cg_route_t *routes; /* storage for all vhosts' routes */
} cg_config_t;

/* Compiles snap (taking ownership, also on failure). Errors go to errors. */
int cg_proxy_config_compile(cg_snapshot_t *snap, cg_config_t **out, cg_buf_t *errors);
void cg_proxy_config_ref(cg_config_t *c);
void cg_proxy_config_unref(cg_config_t *c);
const cg_listener_cfg_t *cg_proxy_config_listener(const cg_config_t *c, uint16_t port);

/* Upstream endpoint stats registry (process-wide). Entries are referenced by the configs
 * that name them; one unreferenced for longer than the grace period is dropped by the sweep
 * each compile runs (the main thread, never the request path). */
#define CG_EP_STATS_GRACE_MS 60000
/* The entry of (dest, endpoint), made if new; not a reference (configs take theirs). */
cg_ep_stats_t *cg_proxy_ep_stats_get(const char *dest, const char *endpoint);
typedef void (*cg_ep_stats_visit_cb)(void *ctx, const char *dest, const char *endpoint,
                                     const cg_ep_stats_t *st);
/* Visits every endpoint entry, newest first. */
void cg_proxy_ep_stats_foreach(cg_ep_stats_visit_cb cb, void *ctx);
/* Drops entries unreferenced since before now_ms - CG_EP_STATS_GRACE_MS; returns how many
 * entries are left. */
size_t cg_proxy_ep_stats_sweep(uint64_t now_ms);
/* Health changes: each bumps the destination's health epoch when the value changes. */
void cg_proxy_ep_stats_set_ejected(cg_ep_stats_t *st, uint64_t until_ms);
void cg_proxy_ep_stats_set_unhealthy(cg_ep_stats_t *st, uint8_t unhealthy);

#endif
