/* Admin endpoint handlers. Metrics are defined once in a table and rendered from it; the JSON
 * pages are written through core/json (/clusters through its description, clusters_doc.h). */
#include "proxy/admin.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/list.h"
#include "lb/priority.h"
#include "proxy/balancer.h"
#include "proxy/clusters_doc.h"
#include "proxy/mesh.h"
#include "proxy/config.h"
#include "proxy/worker.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct metric_def {
    const char *name, *type, *help;
    size_t off; /* into cg_worker_stats_t */
} metric_def_t;

#define WSTAT(f) offsetof(cg_worker_stats_t, f)
static const metric_def_t worker_metrics[] = {
    {"crossgate_downstream_cx_total", "counter", "Downstream connections accepted.",
     WSTAT(cx_total)},
    {"crossgate_downstream_cx_active", "gauge", "Downstream connections open.", WSTAT(cx_active)},
    {"crossgate_downstream_rq_total", "counter", "Downstream requests.", WSTAT(rq_total)},
    {"crossgate_downstream_rq_active", "gauge", "Downstream requests in flight.", WSTAT(rq_active)},
    {"crossgate_upstream_rq_retry_total", "counter", "Retries started.", WSTAT(rq_retry)},
    {"crossgate_upstream_cx_total", "counter", "Upstream connections opened.", WSTAT(up_cx_total)},
    {"crossgate_upstream_cx_active", "gauge", "Upstream connections open.", WSTAT(up_cx_active)},
    {"crossgate_upstream_cx_reused_total", "counter",
     "Requests sent on a pooled upstream connection.", WSTAT(up_cx_reused)},
    {"crossgate_upstream_cx_connect_fail_total", "counter",
     "Upstream connects that failed or timed out.", WSTAT(up_cx_connect_fail)},
    {"crossgate_pool_free_downstream", "gauge", "Downstream connection objects cached for reuse.",
     WSTAT(pool_conns)},
    {"crossgate_pool_free_upstream", "gauge", "Upstream connection objects cached for reuse.",
     WSTAT(pool_upstreams)},
    {"crossgate_pool_free_exchange", "gauge",
     "Request objects cached for reuse (an idle connection holds none).", WSTAT(pool_exchanges)},
    {"crossgate_pool_http2_streams", "gauge",
     "HTTP/2 stream objects cached for reuse (an idle HTTP/2 connection holds none).",
     WSTAT(pool_h2streams)},
    {"crossgate_pool_free_buffer", "gauge",
     "Read buffers cached for reuse (an idle connection holds none).", WSTAT(pool_buffers)},
    {"crossgate_downstream_accept_paused_total", "counter",
     "Times accepting paused: out of file descriptors or at max connections.",
     WSTAT(accept_paused)},
    {"crossgate_downstream_rq_local_exhausted_total", "counter",
     "Requests answered 503 (OM): no local resource for an upstream connection.",
     WSTAT(rq_local_exhausted)},
    {"crossgate_downstream_rq_client_timeout_total", "counter",
     "Requests ended 408 while waiting on the client's body.", WSTAT(rq_client_timeout)},
    {"crossgate_access_log_dropped_bytes_total", "counter",
     "Access-log bytes dropped because the log could not keep up.", WSTAT(log_dropped_bytes)},
    {"crossgate_downstream_cx_upgrades_total", "counter",
     "WebSocket tunnels opened (upstream answered 101).", WSTAT(upgrades_total)},
    {"crossgate_downstream_cx_upgrades_active", "gauge", "WebSocket tunnels open.",
     WSTAT(upgrades_active)},
    {"crossgate_downstream_cx_http2_total", "counter", "HTTP/2 connections.", WSTAT(h2_total)},
    {"crossgate_downstream_cx_http2_active", "gauge", "HTTP/2 connections open.", WSTAT(h2_active)},
    {"crossgate_downstream_rq_http2_total", "counter", "HTTP/2 streams opened.",
     WSTAT(h2_streams_total)},
    {"crossgate_http2_goaway_sent_total", "counter",
     "HTTP/2 connections sent GOAWAY NO_ERROR (draining, or idle for the idle timeout).",
     WSTAT(h2_goaway)},
    {"crossgate_http2_goaway_calm_total", "counter",
     "HTTP/2 connections sent GOAWAY ENHANCE_YOUR_CALM (resets or frames past their rate).",
     WSTAT(h2_calm)},
    {"crossgate_http2_malformed_total", "counter",
     "HTTP/2 streams reset as malformed, and connection protocol errors.", WSTAT(h2_malformed)},
    {"crossgate_http2_stalled_total", "counter",
     "HTTP/2 connections and streams ended because nothing moved for the idle timeout.",
     WSTAT(h2_stalled)},
    {"crossgate_downstream_tls_handshake_total", "counter", "Downstream TLS handshakes completed.",
     WSTAT(tls_handshakes)},
    {"crossgate_downstream_tls_resumed_total", "counter",
     "Downstream TLS handshakes that resumed a session.", WSTAT(tls_resumed)},
};

static uint64_t sum_stat(const cg_proxy_admin_view_t *view, size_t off)
{
    uint64_t v = 0;
    for (int i = 0; i < *view->nworkers; i++) {
        const uint64_t *p = (const uint64_t *)((const char *)&view->workers[i].stats + off);
        v += __atomic_load_n(p, __ATOMIC_RELAXED);
    }
    return v;
}

typedef struct ep_metric {
    const char *name, *help;
    size_t off;
} ep_metric_t;
static const ep_metric_t ep_metrics[] = {
    {"crossgate_upstream_rq_total", "Requests sent to an upstream endpoint.",
     offsetof(cg_ep_stats_t, rq_total)},
    {"crossgate_upstream_rq_error_total",
     "Requests to an upstream endpoint that failed (5xx, reset, timeout).",
     offsetof(cg_ep_stats_t, rq_error)},
    {"crossgate_upstream_cx_endpoint_connect_fail_total", "Connect failures per upstream endpoint.",
     offsetof(cg_ep_stats_t, cx_connect_fail)},
};

typedef struct ep_ctx {
    cg_buf_t *out;
    const ep_metric_t *m;
} ep_ctx_t;

static void ep_line(void *ctx, const char *dest, const char *ep, const cg_ep_stats_t *st)
{
    ep_ctx_t *c = ctx;
    uint64_t v =
        __atomic_load_n((const uint64_t *)((const char *)st + c->m->off), __ATOMIC_RELAXED);
    cg_buf_printf(c->out, "%s{destination=\"%s\",endpoint=\"%s\"} %" PRIu64 "\n", c->m->name, dest,
                  ep, v);
}

static void render_metrics(const cg_proxy_admin_view_t *view, cg_buf_t *out)
{
    for (size_t i = 0; i < sizeof(worker_metrics) / sizeof(worker_metrics[0]); i++) {
        const metric_def_t *m = &worker_metrics[i];
        cg_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", m->name, m->help,
                      m->name, m->type, m->name, sum_stat(view, m->off));
    }
    cg_buf_printf(out, "# HELP crossgate_downstream_rq_xx Downstream responses by status class.\n"
                       "# TYPE crossgate_downstream_rq_xx counter\n");
    for (int k = 1; k <= 5; k++)
        cg_buf_printf(
            out, "crossgate_downstream_rq_xx{class=\"%dxx\"} %" PRIu64 "\n", k,
            sum_stat(view, offsetof(cg_worker_stats_t, rq_class) + (size_t)k * sizeof(uint64_t)));
    cg_buf_printf(out, "# HELP crossgate_downstream_tls_handshake_failed_total Downstream TLS "
                       "handshakes that failed, by reason.\n"
                       "# TYPE crossgate_downstream_tls_handshake_failed_total counter\n");
    for (int k = 0; k < CG_PROXY_TLS_NREASONS; k++)
        cg_buf_printf(
            out, "crossgate_downstream_tls_handshake_failed_total{reason=\"%s\"} %" PRIu64 "\n",
            cg_proxy_tls_reason_names[k],
            sum_stat(view, offsetof(cg_worker_stats_t, tls_fail) + (size_t)k * sizeof(uint64_t)));
    for (size_t i = 0; i < sizeof(ep_metrics) / sizeof(ep_metrics[0]); i++) {
        cg_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", ep_metrics[i].name,
                      ep_metrics[i].help, ep_metrics[i].name);
        ep_ctx_t ctx = {out, &ep_metrics[i]};
        cg_proxy_ep_stats_foreach(ep_line, &ctx);
    }
    cg_config_t *cfg = cg_proxy_current_config();
    cg_buf_printf(out,
                  "# HELP crossgate_config_version Version of the config in force.\n"
                  "# TYPE crossgate_config_version gauge\ncrossgate_config_version %" PRIu64 "\n",
                  cfg ? cfg->version : 0);
    cg_buf_printf(out,
                  "# HELP crossgate_config_reloads_total Config reloads by result.\n"
                  "# TYPE crossgate_config_reloads_total counter\n"
                  "crossgate_config_reloads_total{result=\"ok\"} %" PRIu64 "\n"
                  "crossgate_config_reloads_total{result=\"rejected\"} %" PRIu64 "\n",
                  *view->reloads_ok, *view->reloads_failed);
    cg_proxy_config_unref(cfg);
}

static cg_clusters_health_t health_of(const cg_endpoint_t *ep, uint64_t now)
{
    if (__atomic_load_n(&ep->stats->hc_unhealthy, __ATOMIC_RELAXED)) return CG_CLUSTERS_UNHEALTHY;
    uint64_t until = __atomic_load_n(&ep->stats->ejected_until_ms, __ATOMIC_RELAXED);
    if (until && now < until) return CG_CLUSTERS_EJECTED;
    if (until) return CG_CLUSTERS_PROBING; /* ejection expired: the next request is the probe */
    return CG_CLUSTERS_HEALTHY;
}

/* The document lends the config's strings: it is freed here, never cleared. */
static void render_clusters(cg_buf_t *out, const cg_config_t *cfg)
{
    uint64_t now = cg_clock_mono_us() / 1000;
    cg_clusters_doc_t doc = {
        .version = cfg->version,
        .region = cfg->snap->region,
        .dests = cg_xcalloc(cfg->ndests ? cfg->ndests : 1, sizeof(cg_clusters_dest_t)),
        .ndests = cfg->ndests,
    };
    for (size_t i = 0; i < cfg->ndests; i++) {
        const cg_dest_t *d = &cfg->dests[i];
        cg_clusters_dest_t *o = &doc.dests[i];
        o->name = (char *)d->name;
        o->mode = d->mode;
        if (d->mode == CG_DEST_WEIGHTED) {
            o->clusters = cg_xcalloc(d->nclusters ? d->nclusters : 1, sizeof(*o->clusters));
            o->nclusters = d->nclusters;
            for (size_t k = 0; k < d->nclusters; k++)
                o->clusters[k] = (cg_clusters_share_t){
                    (char *)d->clusters[k].name, d->clusters[k].weight, d->clusters[k].nendpoints};
        } else {
            uint32_t load[CG_LB_MAX_PRIORITIES];
            cg_proxy_balancer_priority_load(d, now, load);
            o->npriorities = d->npriorities ? d->npriorities : 1;
            o->priorities = cg_xcalloc(o->npriorities, sizeof(*o->priorities));
            for (uint32_t p = 0; p < o->npriorities; p++)
                o->priorities[p] = (cg_clusters_priority_t){p, load[p]};
        }
        o->endpoints = cg_xcalloc(d->nendpoints ? d->nendpoints : 1, sizeof(*o->endpoints));
        o->nendpoints = d->nendpoints;
        for (size_t e = 0; e < d->nendpoints; e++) {
            const cg_endpoint_t *ep = &d->endpoints[e];
            pthread_mutex_lock(&ep->stats->lock);
            uint32_t ejections = ep->stats->outlier.ejections;
            pthread_mutex_unlock(&ep->stats->lock);
            o->endpoints[e] = (cg_clusters_endpoint_t){
                .address = (char *)ep->name,
                .cluster = (char *)ep->cluster,
                .region = (char *)ep->region,
                .priority = ep->priority,
                .health = health_of(ep, now),
                .ejections = ejections,
                .weight = ep->weight,
                .requests = __atomic_load_n(&ep->stats->rq_total, __ATOMIC_RELAXED),
                .errors = __atomic_load_n(&ep->stats->rq_error, __ATOMIC_RELAXED),
                .connect_failures = __atomic_load_n(&ep->stats->cx_connect_fail, __ATOMIC_RELAXED),
                .identity = (char *)cg_proxy_mesh_peer_uri(&ep->xopen),
            };
        }
    }
    cg_clusters_doc_encode(&doc, out);
    for (size_t i = 0; i < doc.ndests; i++) {
        free(doc.dests[i].clusters);
        free(doc.dests[i].priorities);
        free(doc.dests[i].endpoints);
    }
    free(doc.dests);
}

/* {"version":N,"snapshot":{...}} */
static void render_config_dump(cg_buf_t *out, const cg_config_t *cfg)
{
    cg_buf_t snap = {0};
    cg_snapshot_encode_json_redacted(cfg->snap, &snap); /* no private key */
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_ku64(&w, "version", cfg->version);
    cg_jw_key(&w, "snapshot");
    cg_jw_raw(&w, cg_buf_data(&snap), cg_buf_size(&snap));
    cg_jw_end(&w);
    cg_buf_append(out, "\n", 1);
    cg_buf_free(&snap);
}

static void handle(cg_httpd_t *srv, const cg_httpd_req_t *req, cg_httpd_resp_t *resp)
{
    if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
        /* read-only: nothing here changes the gateway, so nothing but GET is accepted */
        resp->status = 405;
        cg_buf_append_str(&resp->headers, "allow: GET, HEAD\r\n");
        cg_buf_append_str(&resp->body, "method not allowed: the admin endpoint is read-only\n");
        return;
    }
    cg_config_t *cfg = cg_proxy_current_config();
    if (cg_iov_eq(req->path, CG_IOV_LIT("/ready"))) {
        resp->status = cfg ? 200 : 503;
        cg_buf_append_str(&resp->body, cfg ? "LIVE\n" : "NOT READY\n");
    } else if (cg_iov_eq(req->path, CG_IOV_LIT("/metrics"))) {
        resp->content_type = "text/plain; version=0.0.4";
        render_metrics(srv->data, &resp->body);
    } else if (cg_iov_eq(req->path, CG_IOV_LIT("/config_dump")) && cfg) {
        resp->content_type = "application/json";
        render_config_dump(&resp->body, cfg);
    } else if (cg_iov_eq(req->path, CG_IOV_LIT("/clusters")) && cfg) {
        resp->content_type = "application/json";
        render_clusters(&resp->body, cfg);
    } else {
        resp->status = 404;
        cg_buf_append_str(&resp->body,
                          "not found: try /ready, /metrics, /config_dump, /clusters\n");
    }
    cg_proxy_config_unref(cfg);
}

int cg_proxy_admin_start(cg_httpd_t *srv, cg_loop_t *loop, const char *addr,
                         const cg_proxy_admin_view_t *view)
{
    return cg_httpd_start(srv, loop, addr, handle, (void *)view);
}
