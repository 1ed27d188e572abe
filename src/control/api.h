/* The control plane process: HTTP/JSON API (docs/api.md) over the store, the instance leases
 * and the snapshot watches, all on one event loop. */
#ifndef CG_CONTROL_API_H
#define CG_CONTROL_API_H

#include "control/instances.h"
#include "control/resync.h"
#include "control/scope.h"
#include "control/store.h"
#include "control/tokens.h"
#include "control/watch.h"
#include "core/loop.h"
#include "http/server.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cg_control_opts {
    const char *listen;        /* ip:port, default 127.0.0.1:7070 */
    const char *data_dir;      /* default ./crossgate-data */
    const char *store;         /* NULL or "sqlite": SQLite in data_dir; "etcd://HOST:PORT[,...]" */
    uint32_t store_timeout_ms; /* one etcd request to one endpoint; 0: 2 s */
    const char *token_file; /* the admin credential (else DATA/admin.token, made on first start) */
    int insecure;    /* no authentication at all: an explicit choice, warned on every start */
    size_t max_body; /* request body limit (413 beyond); default 4 MiB */
    uint32_t request_timeout_ms; /* a whole request from its first byte; default 10 s */
    uint32_t max_conns;          /* open API connections; default 1024 */
    uint32_t order_wait_ms;      /* make-before-break: the longest hold (watch.h); 0: 2 s */
} cg_control_opts_t;

/* Counters for /metrics. */
typedef struct cg_control_stats {
    uint64_t apply_ok, apply_rejected, apply_conflicts, delete_ok, delete_rejected, unauthorized,
        forbidden, rate_limited;
    uint64_t registrations, deregistrations, expired;
} cg_control_stats_t;

typedef struct cg_control {
    cg_loop_t *loop;
    cg_httpd_t httpd;
    cg_control_store_t store;
    cg_control_leases_t leases;
    cg_control_watch_t watch;
    cg_control_seen_t seen; /* the resources the last recompute saw (scope.h) */
    cg_control_stats_t stats;
    cg_tokens_t tokens;
    cg_timer_t sweep;
    /* Instance churn is recomputed in batches: a burst of registrations costs one recompute
     * per RECOMPUTE_BATCH_MS, not one each. */
    cg_timer_t recompute_timer;
    uint64_t recomputes;
    uint64_t started_wall_us;
    /* Resync window: for one lease TTL after start, an edge that still serves a snapshot of
     * an earlier control-plane life is not sent a new one (resync.h). */
    cg_control_resync_t resync;
    cg_timer_t resync_timer;
    /* Make-before-break: ends the holds (watch.h) whose wait is over. */
    cg_timer_t order_timer;
    /* The live leases are being brought in line with the store's (leases_store.c): instances
     * that go away meanwhile have no lease left to drop. */
    int syncing;
} cg_control_t;

/* Runs `crossgate control` until SIGINT/SIGTERM. Returns the exit status; failures to start
 * print one line on stderr. */
int cg_control_main(const cg_control_opts_t *o);

/* ---- inside the control layer ---- */

/* api.c: the API's request handler; what a lease's end does; an instance recompute within a
 * batch window; what a change of the store does; a text/plain answer. */
void cg_control__handle(cg_httpd_t *srv, const cg_httpd_req_t *req, cg_httpd_resp_t *resp);
void cg_control__lease_gone(cg_control_leases_t *l, cg_control_inst_t *inst, cg_control_gone_t why);
void cg_control__recompute_instances_soon(cg_control_t *cp);
/* The store's on_change (data: the control plane): recomputes the snapshots the change can
 * reach (scope.h). */
void cg_control__store_changed(cg_control_store_t *st, void *data);
void cg_control__text(cg_httpd_resp_t *resp, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* leases_store.c: the leases' durable half. Stores a new instance's lease (replacing the lease
 * replaces, NULL for none): 0 or CG_EIO; drops one (logged on failure); writes the renewals
 * since the last call, in one batch; takes back the stored leases at start (*kept: the store
 * could hold an earlier run's, see cg_control_store_ops_t.lease_list). */
int cg_control__lease_store(cg_control_t *cp, const cg_control_inst_t *inst, const char *replaces);
void cg_control__lease_unstore(cg_control_t *cp, const char *id);
void cg_control__leases_renew(cg_control_t *cp);
int cg_control__leases_load(cg_control_t *cp, int *kept, cg_buf_t *err);
/* The store's on_leases (data: the control plane): instances registered, renewed, dropped or
 * expired at another control plane on the same store become so here too. */
void cg_control__leases_sync(cg_control_store_t *st, void *data);

/* token_api.c: /v1/tokens (the admin's; seg and nseg are the path's segments). */
void cg_control__handle_tokens(cg_control_t *cp, const cg_httpd_req_t *req, cg_httpd_resp_t *resp,
                               const cg_iov_t *seg, size_t nseg);

/* token_api.c: a store that keeps the tokens (etcd) keeps this control plane's: attach takes
 * the stored ones (or stores DATA/tokens' when it holds none) and writes every change there;
 * sync is the store's on_tokens, another control plane's change. */
void cg_control__tokens_attach(cg_control_t *cp);
void cg_control__tokens_sync(cg_control_store_t *st, void *data);
/* resync.c: opens the window (from now, one lease TTL); is this watch held back now? */
void cg_control__resync_start(cg_control_t *cp, uint64_t first_version);
int cg_control__held_back(cg_control_t *cp, const cg_control_wentry_t *e, uint64_t after);

/* status.c: GET /v1/status and GET /metrics bodies. */
void cg_control__status_json(cg_control_t *cp, cg_buf_t *out);
void cg_control__metrics(cg_control_t *cp, cg_buf_t *out);
/* GET /v1/instances: {"instances":[...]} with the objects of /v1/status. */
void cg_control__instances_json(cg_control_t *cp, cg_buf_t *out);

#endif
