/* The control plane process: opens the store and the credentials, takes back the stored
 * instance leases, runs the API, the lease sweep and (for a store without leases) the resync
 * window on one event loop until SIGINT/SIGTERM. */
#include "control/api.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "core/signals.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>

#define SWEEP_MS 250

static void on_sweep(cg_loop_t *loop, cg_timer_t *t)
{
    cg_control_t *cp = cg_container_of(t, cg_control_t, sweep);
    if (cg_control_leases_sweep(&cp->leases, loop->now_ms))
        cg_control__recompute_instances_soon(cp);
    cg_control__leases_renew(cp);
    cg_timer_start(loop, &cp->sweep, SWEEP_MS, on_sweep);
}

static int hold_versions(void *data, uint64_t upto)
{
    return cg_control_store_versions_hold(data, upto);
}

static void on_signal(cg_loop_t *loop, int signo)
{
    cg_log_info("control: signal %d: shutting down", signo);
    cg_loop_stop(loop);
}

/* API connections hold a descriptor each: take the soft limit up to the hard one. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int cg_control_main(const cg_control_opts_t *o)
{
    cg_control_t cp = {.started_wall_us = cg_clock_wall_us()};
    cg_loop_t loop;
    cg_buf_t err = {0};
    int rc = 1;
    cg_signals_t signals = {0};
    static const int stop_signals[] = {SIGINT, SIGTERM};
    const char *listen = o->listen ? o->listen : "127.0.0.1:7070";
    const char *data_dir = o->data_dir ? o->data_dir : "crossgate-data";
    int etcd = o->store && !strncmp(o->store, "etcd://", 7);
    if (o->store_timeout_ms) cg_control_store_etcd_timeout_ms = o->store_timeout_ms;
    if (o->store && !etcd && strcmp(o->store, "sqlite")) {
        fprintf(stderr, "crossgate control: --store %s: expected sqlite or etcd://HOST:PORT\n",
                o->store);
        return 2;
    }
    if (etcd ? cg_control_store_open_backend(&cp.store, &cg_control_store_etcd, o->store, &err)
             : cg_control_store_open(&cp.store, data_dir, &err)) {
        fprintf(stderr, "crossgate control: %.*s\n", (int)err.len, err.base);
        cg_buf_free(&err);
        return 1;
    }
    int created = 0;
    cp.tokens.insecure = o->insecure;
    if (cg_control_tokens_open(&cp.tokens, data_dir, o->token_file, &created, &err)) {
        fprintf(stderr, "crossgate control: %.*s\n", (int)err.len, err.base);
        cg_buf_free(&err);
        cg_control_tokens_close(&cp.tokens);
        cg_control_store_close(&cp.store);
        return 1;
    }
    if (o->insecure)
        cg_log_warn("control: --insecure: no authentication, anyone who can reach %s may apply, "
                    "register and "
                    "read everything",
                    listen);
    else if (created)
        cg_log_info("control: created the admin credential in %s/admin.token (mode 0600): export "
                    "CROSSGATE_TOKEN=$(cat %s/admin.token)",
                    data_dir, data_dir);
    cg_control__tokens_attach(&cp);
    cg_loop_init(&loop);
    cg_signals_start(&signals, &loop, stop_signals, 2, on_signal);
    cp.loop = &loop;
    cp.store.on_change = cg_control__store_changed;
    cp.store.on_leases = cg_control__leases_sync;
    cp.store.on_tokens = cg_control__tokens_sync;
    cp.store.data = &cp;
    cp.leases.ttl_ms = CG_CONTROL_TTL_MS;
    cp.leases.sweep_ms = SWEEP_MS;
    cp.leases.on_gone = cg_control__lease_gone;
    cp.leases.data = &cp;
    /* Snapshot versions continue above every one an earlier run may have handed out (the
     * store holds that bound), so that agents that remember the last one take the next. The
     * wall clock in ms is a floor too: it keeps them increasing over a lost data directory. */
    uint64_t held = cg_control_store_versions_held(&cp.store);
    cp.watch.last_version = cp.started_wall_us / 1000 > held ? cp.started_wall_us / 1000 : held;
    cp.watch.held = cp.watch.last_version;
    cp.watch.hold = hold_versions;
    cp.watch.hold_data = &cp.store;
    uint64_t first_version = cp.watch.last_version + 1; /* this life's first snapshot */
    cp.watch.now_ms = &loop.now_ms;
    cp.watch.order_wait_ms = o->order_wait_ms;
    cp.httpd.max_body = o->max_body ? o->max_body : 4u << 20;
    cp.httpd.request_timeout_ms = o->request_timeout_ms;
    cp.httpd.max_conns = o->max_conns;
    raise_fd_limit();
    int r = cg_httpd_start(&cp.httpd, &loop, listen, cg_control__handle, &cp);
    if (r) {
        fprintf(stderr, "crossgate control: cannot listen on %s: %s\n", listen, cg_strerror(r));
        goto Exit;
    }
    cg_loop_update_time(&loop);
    cp.leases.last_sweep_ms = loop.now_ms; /* a stall before the first sweep is a stall too */
    int kept = 0;
    if (cg_control__leases_load(&cp, &kept, &err)) {
        fprintf(stderr, "crossgate control: %.*s\n", (int)err.len, err.base);
        cg_httpd_stop(&cp.httpd);
        goto Exit;
    }
    /* the instances taken back have their snapshots before any watch asks */
    cg_control__store_changed(&cp.store, &cp);
    /* the store's own work (etcd: the watch that brings other control planes' changes) */
    if ((r = cg_control_store_start(&cp.store, &loop))) {
        fprintf(stderr, "crossgate control: store: %s\n", cg_strerror(r));
        cg_httpd_stop(&cp.httpd);
        goto Exit;
    }
    cg_timer_start(&loop, &cp.sweep, SWEEP_MS, on_sweep);
    /* A store that kept the leases gave back every instance of the run before. One that could
     * not (new, or written before leases were stored) did not: edges then wait a TTL for the
     * gateways to register again (resync.h). */
    if (!kept) cg_control__resync_start(&cp, first_version);
    const cg_control_res_t *const *all;
    cg_log_info("control: listening on %s, data in %s, store %s, revision %" PRIu64
                ", %zu resources%s",
                listen, data_dir, etcd ? o->store : "sqlite", cg_control_store_revision(&cp.store),
                cg_control_store_list(&cp.store, &all),
                o->insecure ? ", INSECURE: no authentication" : ", tokens required");
    cg_loop_run(&loop);
    cg_httpd_stop(&cp.httpd);
    cg_timer_stop(&loop, &cp.sweep);
    cg_timer_stop(&loop, &cp.resync_timer);
    cg_timer_stop(&loop, &cp.recompute_timer);
    cg_timer_stop(&loop, &cp.order_timer);
    cg_loop_run_once(&loop, 0); /* deferred frees */
    rc = 0;
Exit:
    cp.leases.on_gone = NULL;
    for (size_t i = 0; i < cp.leases.items.len; i++)
        cg_control_watch_detach(&cp.watch, cp.leases.items.items[i]);
    cg_control_leases_destroy(&cp.leases);
    cg_control_seen_free(&cp.seen);
    cg_control_store_close(&cp.store);
    cg_signals_stop(&signals, &loop);
    cg_loop_destroy(&loop);
    cg_control_tokens_close(&cp.tokens);
    cg_buf_free(&err);
    return rc;
}
