/* Admin endpoint handlers. Metrics are defined once in a table and rendered from it. */
#include "proxy/admin.h"
#include "core/clock.h"
#include "lb/priority.h"
#include "proxy/balancer.h"
#include "proxy/config.h"
#include "proxy/worker.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stddef.h>
#include <string.h>

typedef struct metric_def {
    const char *name, *type, *help;
    size_t off; /* into cg_worker_stats_t */
} metric_def_t;

#define WSTAT(f) offsetof(cg_worker_stats_t, f)
static const metric_def_t worker_metrics[] = {
    {"crossgate_downstream_cx_total", "counter", "Downstream connections accepted.", WSTAT(cx_total)},
    {"crossgate_downstream_cx_active", "gauge", "Downstream connections open.", WSTAT(cx_active)},
    {"crossgate_downstream_rq_total", "counter", "Downstream requests.", WSTAT(rq_total)},
    {"crossgate_downstream_rq_active", "gauge", "Downstream requests in flight.", WSTAT(rq_active)},
    {"crossgate_upstream_rq_retry_total", "counter", "Retries started.", WSTAT(rq_retry)},
    {"crossgate_upstream_cx_total", "counter", "Upstream connections opened.", WSTAT(up_cx_total)},
    {"crossgate_upstream_cx_active", "gauge", "Upstream connections open.", WSTAT(up_cx_active)},
    {"crossgate_upstream_cx_reused_total", "counter", "Requests sent on a pooled upstream connection.", WSTAT(up_cx_reused)},
    {"crossgate_upstream_cx_connect_fail_total", "counter", "Upstream connects that failed or timed out.", WSTAT(up_cx_connect_fail)},
    {"crossgate_pool_free_downstream", "gauge", "Downstream connection objects cached for reuse.", WSTAT(pool_conns)},
    {"crossgate_pool_free_upstream", "gauge", "Upstream connection objects cached for reuse.", WSTAT(pool_upstreams)},
    {"crossgate_downstream_accept_paused_total", "counter", "Times accepting paused: out of file descriptors or at max connections.", WSTAT(accept_paused)},
    {"crossgate_downstream_rq_local_exhausted_total", "counter", "Requests answered 503 (OM): no local resource for an upstream connection.", WSTAT(rq_local_exhausted)},
    {"crossgate_downstream_rq_client_timeout_total", "counter", "Requests ended 408 while waiting on the client's body.", WSTAT(rq_client_timeout)},
    {"crossgate_access_log_dropped_bytes_total", "counter", "Access-log bytes dropped because the log could not keep up.", WSTAT(log_dropped_bytes)},
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
    {"crossgate_upstream_rq_total", "Requests sent to an upstream endpoint.", offsetof(cg_ep_stats_t, rq_total)},
    {"crossgate_upstream_rq_error_total", "Requests to an upstream endpoint that failed (5xx, reset, timeout).", offsetof(cg_ep_stats_t, rq_error)},
    {"crossgate_upstream_cx_endpoint_connect_fail_total", "Connect failures per upstream endpoint.", offsetof(cg_ep_stats_t, cx_connect_fail)},
};

typedef struct ep_ctx {
    cg_buf_t *out;
    const ep_metric_t *m;
} ep_ctx_t;

static void ep_line(void *ctx, const char *dest, const char *ep, const cg_ep_stats_t *st)
{
    ep_ctx_t *c = ctx;
    uint64_t v = __atomic_load_n((const uint64_t *)((const char *)st + c->m->off), __ATOMIC_RELAXED);
    cg_buf_printf(c->out, "%s{destination=\"%s\",endpoint=\"%s\"} %" PRIu64 "\n", c->m->name, dest, ep, v);
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
    for (size_t i = 0; i < sizeof(ep_metrics) / sizeof(ep_metrics[0]); i++) {
        cg_buf_printf(out, "# HELP %s %s\n# TYPE %s counter\n", ep_metrics[i].name, ep_metrics[i].help,
                      ep_metrics[i].name);
        ep_ctx_t ctx = {out, &ep_metrics[i]};
        cg_proxy_ep_stats_foreach(ep_line, &ctx);
    }
    cg_config_t *cfg = cg_proxy_current_config();
    cg_buf_printf(out, "# HELP crossgate_config_version Version of the config in force.\n"
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

static const char *mode_name(cg_dest_mode_t m)
{
    switch (m) {
    case CG_DEST_SERVICE: return "service";
    case CG_DEST_AUTO: return "auto";
    case CG_DEST_NAMED: return "named";
    case CG_DEST_WEIGHTED: return "weighted";
    }
    return "?";
}

static const char *health_name(const cg_endpoint_t *ep, uint64_t now)
{
    if (__atomic_load_n(&ep->stats->hc_unhealthy, __ATOMIC_RELAXED)) return "unhealthy";
    uint64_t until = __atomic_load_n(&ep->stats->ejected_until_ms, __ATOMIC_RELAXED);
    if (until && now < until) return "ejected";
    if (until) return "probing"; /* ejection expired: the next request is the probe */
    return "healthy";
}

static void render_clusters(cg_buf_t *out, const cg_config_t *cfg)
{
    uint64_t now = cg_clock_mono_us() / 1000;
    cg_buf_printf(out, "{\"version\":%" PRIu64 ",\"region\":", cfg->version);
    cg_buf_append_json_str(out, cfg->snap->region);
    cg_buf_append_str(out, ",\"destinations\":[");
    for (size_t i = 0; i < cfg->ndests; i++) {
        const cg_dest_t *d = &cfg->dests[i];
        cg_buf_append_str(out, i ? ",{\"name\":" : "{\"name\":");
        cg_buf_append_json_str(out, d->name);
        cg_buf_printf(out, ",\"mode\":\"%s\"", mode_name(d->mode));
        if (d->mode == CG_DEST_WEIGHTED) {
            cg_buf_append_str(out, ",\"clusters\":[");
            for (size_t k = 0; k < d->nclusters; k++) {
                cg_buf_append_str(out, k ? ",{\"cluster\":" : "{\"cluster\":");
                cg_buf_append_json_str(out, d->clusters[k].name);
                cg_buf_printf(out, ",\"weight\":%u,\"endpoints\":%u}", d->clusters[k].weight, d->clusters[k].nendpoints);
            }
            cg_buf_append_str(out, "]");
        } else {
            uint32_t load[CG_LB_MAX_PRIORITIES];
            cg_proxy_balancer_priority_load(d, now, load);
            cg_buf_append_str(out, ",\"priorities\":[");
            for (uint32_t p = 0; p < (d->npriorities ? d->npriorities : 1); p++)
                cg_buf_printf(out, "%s{\"priority\":%u,\"load_percent\":%u}", p ? "," : "", p, load[p]);
            cg_buf_append_str(out, "]");
        }
        cg_buf_append_str(out, ",\"endpoints\":[");
        for (size_t e = 0; e < d->nendpoints; e++) {
            const cg_endpoint_t *ep = &d->endpoints[e];
            cg_buf_append_str(out, e ? ",{\"address\":" : "{\"address\":");
            cg_buf_append_json_str(out, ep->name);
            cg_buf_append_str(out, ",\"cluster\":");
            cg_buf_append_json_str(out, ep->cluster);
            cg_buf_append_str(out, ",\"region\":");
            cg_buf_append_json_str(out, ep->region);
            pthread_mutex_lock(&ep->stats->lock);
            uint32_t ejections = ep->stats->outlier.ejections;
            pthread_mutex_unlock(&ep->stats->lock);
            cg_buf_printf(out,
                          ",\"priority\":%u,\"health\":\"%s\",\"ejections\":%u,\"weight\":%u,\"requests\":%" PRIu64
                          ",\"errors\":%" PRIu64 ",\"connect_failures\":%" PRIu64 "}",
                          ep->priority, health_name(ep, now), ejections, ep->weight,
                          __atomic_load_n(&ep->stats->rq_total, __ATOMIC_RELAXED),
                          __atomic_load_n(&ep->stats->rq_error, __ATOMIC_RELAXED),
                          __atomic_load_n(&ep->stats->cx_connect_fail, __ATOMIC_RELAXED));
        }
        cg_buf_append_str(out, "]}");
    }
    cg_buf_append_str(out, "]}\n");
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
        cg_buf_printf(&resp->body, "{\"version\":%" PRIu64 ",\"snapshot\":", cfg->version);
        cg_snapshot_encode_json(cfg->snap, &resp->body);
        cg_buf_append_str(&resp->body, "}\n");
    } else if (cg_iov_eq(req->path, CG_IOV_LIT("/clusters")) && cfg) {
        resp->content_type = "application/json";
        render_clusters(&resp->body, cfg);
    } else {
        resp->status = 404;
        cg_buf_append_str(&resp->body, "not found: try /ready, /metrics, /config_dump, /clusters\n");
    }
    cg_proxy_config_unref(cfg);
}

int cg_proxy_admin_start(cg_httpd_t *srv, cg_loop_t *loop, const char *addr,
                         const cg_proxy_admin_view_t *view)
{
    return cg_httpd_start(srv, loop, addr, handle, (void *)view);
}
