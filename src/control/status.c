/* What the control plane knows, rendered: GET /v1/status (JSON) and GET /metrics (Prometheus). */
#include "control/api.h"

#include "core/clock.h"

#include <inttypes.h>
#include <string.h>

/* Absent strings are written as "" in the API's answers. */
static void jstr(cg_buf_t *b, const char *s)
{
    cg_buf_append_json_str(b, s ? s : "");
}

static void jkey_str(cg_buf_t *b, const char *key, const char *v, int comma)
{
    cg_buf_printf(b, "%s\"%s\":", comma ? "," : "", key);
    if (v)
        jstr(b, v);
    else
        cg_buf_append_str(b, "null");
}

static void instance_json(cg_control_t *cp, const cg_control_inst_t *inst, cg_buf_t *b)
{
    const cg_control_wentry_t *e = inst->data;
    uint64_t now = cp->loop->now_ms;
    char when[32];
    cg_clock_format_iso8601(inst->registered_wall_us, when);
    jkey_str(b, "id", inst->id, 0);
    jkey_str(b, "cluster", inst->cluster, 1);
    jkey_str(b, "namespace", inst->namespace_, 1);
    cg_buf_append_str(b, ",\"labels\":{");
    for (size_t i = 0; i < inst->nlabels; i++) {
        if (i) cg_buf_append_str(b, ",");
        jstr(b, inst->labels[i].key);
        cg_buf_append_str(b, ":");
        jstr(b, inst->labels[i].value);
    }
    cg_buf_append_str(b, "}");
    jkey_str(b, "address", inst->address, 1);
    jkey_str(b, "admin", inst->admin, 1);
    jkey_str(b, "registered", when, 1);
    cg_buf_printf(b, ",\"age_ms\":%" PRIu64 ",\"last_heartbeat_ms_ago\":%" PRIu64,
                  now - inst->registered_ms, now - inst->heartbeat_ms);
    cg_buf_printf(b, ",\"snapshot_version\":%" PRIu64, e ? e->version : 0);
    jkey_str(b, "error", e ? e->error : NULL, 1);
}

void cg_control__instances_json(cg_control_t *cp, cg_buf_t *b)
{
    cg_buf_append_str(b, "{\"instances\":[");
    for (size_t i = 0; i < cp->leases.items.len; i++) {
        cg_buf_append_str(b, i ? ",{" : "{");
        instance_json(cp, cp->leases.items.items[i], b);
        cg_buf_append_str(b, "}");
    }
    cg_buf_append_str(b, "]}\n");
}

/* An edge's routing: which destination each hostname uses, and each destination's endpoints. */
static void edge_json(const cg_control_inst_t *inst, const cg_snapshot_t *s, cg_buf_t *b)
{
    jkey_str(b, "instance", inst->id, 0);
    jkey_str(b, "cluster", inst->cluster, 1);
    jkey_str(b, "namespace", inst->namespace_, 1);
    jkey_str(b, "address", inst->address, 1);
    jkey_str(b, "region", s->region, 1);
    cg_buf_printf(b, ",\"snapshot_version\":%" PRIu64 ",\"routes\":[", s->version);
    int first = 1;
    for (size_t i = 0; i < s->nservers; i++) {
        const cg_snap_server_t *v = &s->servers[i];
        for (size_t r = 0; r < v->nrules; r++) {
            const cg_snap_rule_t *rule = &v->rules[r];
            if (rule->action != CG_ACTION_ROUTE || rule->destination >= s->ndestinations) continue;
            cg_buf_append_str(b, first ? "{" : ",{");
            jkey_str(b, "hostname", v->hostname, 0);
            cg_buf_printf(b, ",\"port\":%u,\"rule\":%zu,\"matches\":%zu", (unsigned)v->port, r,
                          rule->nmatches);
            jkey_str(b, "gateway", v->gateway, 1);
            jkey_str(b, "destination", s->destinations[rule->destination].name, 1);
            cg_buf_append_str(b, "}");
            first = 0;
        }
    }
    cg_buf_append_str(b, "],\"destinations\":[");
    for (size_t i = 0; i < s->ndestinations; i++) {
        const cg_snap_destination_t *d = &s->destinations[i];
        cg_buf_append_str(b, i ? ",{" : "{");
        jkey_str(b, "name", d->name, 0);
        cg_buf_printf(b, ",\"mode\":\"%s\",\"overprovisioning\":%" PRIu32 ",\"endpoints\":[",
                      cg_dest_mode_name(d->mode), d->policy.overprovisioning);
        for (size_t e = 0; e < d->nendpoints; e++) {
            const cg_snap_endpoint_t *ep = &d->endpoints[e];
            cg_buf_append_str(b, e ? ",{" : "{");
            jkey_str(b, "address", ep->address, 0);
            cg_buf_printf(b, ",\"port\":%u", (unsigned)ep->port);
            jkey_str(b, "cluster", ep->cluster, 1);
            jkey_str(b, "region", ep->region, 1);
            cg_buf_printf(b, ",\"priority\":%" PRIu32 ",\"weight\":%" PRIu32 "}", ep->priority,
                          ep->weight);
        }
        cg_buf_append_str(b, "],\"weights\":[");
        for (size_t w = 0; w < d->nweights; w++) {
            cg_buf_append_str(b, w ? ",{" : "{");
            jkey_str(b, "cluster", d->weights[w].cluster, 0);
            cg_buf_printf(b, ",\"weight\":%" PRIu32 "}", d->weights[w].weight);
        }
        cg_buf_append_str(b, "]}");
    }
    cg_buf_append_str(b, "],\"warnings\":[");
    for (size_t i = 0; i < s->nwarnings; i++) {
        if (i) cg_buf_append_str(b, ",");
        jstr(b, s->warnings[i]);
    }
    cg_buf_append_str(b, "]");
}

void cg_control__status_json(cg_control_t *cp, cg_buf_t *b)
{
    const cg_resource_set_t *rs = cg_control_store_view(&cp->store);
    cg_buf_printf(b,
                  "{\"revision\":%" PRIu64
                  ",\"resources\":{\"Cluster\":%zu,\"Service\":%zu,\"Gateway\":%zu}",
                  cg_control_store_revision(&cp->store), rs->nclusters, rs->nservices, rs->ngateways);
    cg_buf_append_str(b, ",\"clusters\":[");
    for (size_t i = 0; i < rs->nclusters; i++) {
        const cg_model_cluster_t *c = &rs->clusters[i];
        size_t live = 0;
        for (size_t j = 0; j < cp->leases.items.len; j++)
            if (!strcmp(cp->leases.items.items[j]->cluster, c->metadata.name)) live++;
        cg_buf_append_str(b, i ? ",{" : "{");
        jkey_str(b, "name", c->metadata.name, 0);
        jkey_str(b, "region", c->spec.locality.region, 1);
        jkey_str(b, "zone", c->spec.locality.zone, 1);
        cg_buf_printf(b, ",\"static_gateways\":%zu,\"live_instances\":%zu}", c->spec.ngateways,
                      live);
    }
    cg_buf_append_str(b, "],\"instances\":[");
    for (size_t i = 0; i < cp->leases.items.len; i++) {
        cg_buf_append_str(b, i ? ",{" : "{");
        instance_json(cp, cp->leases.items.items[i], b);
        cg_buf_append_str(b, "}");
    }
    cg_buf_append_str(b, "],\"edges\":[");
    int first = 1;
    for (size_t i = 0; i < cp->leases.items.len; i++) {
        const cg_control_inst_t *inst = cp->leases.items.items[i];
        const cg_control_wentry_t *e = inst->data;
        if (!e || !e->snap || !e->edge) continue;
        cg_buf_append_str(b, first ? "{" : ",{");
        edge_json(inst, e->snap, b);
        cg_buf_append_str(b, "}");
        first = 0;
    }
    cg_buf_append_str(b, "]}\n");
}

/* ---- metrics: one table, rendered in Prometheus text format ---- */

typedef enum {
    M_RESOURCES,
    M_INSTANCES,
    M_APPLY,
    M_DELETE,
    M_UNAUTH,
    M_REGISTER,
    M_EXPIRED,
    M_WATCHES,
    M_COMPUTED,
    M_BUMPED,
    M_REVISION,
    M_STALLS,
    M_RECOMPUTES,
    M_EVICTED,
    M_TIMED_OUT,
    M_CONNS,
    M_FORBIDDEN,
    M_LIMITED
} metric_id_t;

static const struct {
    metric_id_t id;
    const char *name, *type, *help;
} metrics[] = {
    {M_RESOURCES, "crossgate_control_resources", "gauge", "Stored resources by kind."},
    {M_INSTANCES, "crossgate_control_instances_live", "gauge",
     "Gateway instances holding a lease."},
    {M_APPLY, "crossgate_control_apply_requests_total", "counter", "Apply requests by result."},
    {M_DELETE, "crossgate_control_delete_requests_total", "counter", "Delete requests by result."},
    {M_UNAUTH, "crossgate_control_unauthorized_total", "counter",
     "Requests refused for a missing or wrong token."},
    {M_REGISTER, "crossgate_control_registrations_total", "counter", "Instance registrations."},
    {M_EXPIRED, "crossgate_control_leases_expired_total", "counter",
     "Leases that expired without heartbeats."},
    {M_WATCHES, "crossgate_control_watches_active", "gauge", "Snapshot long-polls parked now."},
    {M_COMPUTED, "crossgate_control_snapshots_computed_total", "counter", "Snapshot translations."},
    {M_BUMPED, "crossgate_control_snapshot_versions_total", "counter",
     "Snapshot versions handed out (content changed)."},
    {M_REVISION, "crossgate_control_revision", "gauge", "Global resource revision."},
    {M_STALLS, "crossgate_control_stalls_total", "counter",
     "Times the control plane found it had not run for a while and credited every lease with it."},
    {M_RECOMPUTES, "crossgate_control_recomputes_total", "counter",
     "Snapshot recomputes (instance churn is batched: a burst costs one per 20 ms)."},
    {M_EVICTED, "crossgate_control_connections_evicted_total", "counter",
     "API connections closed to make room at --max-connections (the longest waiting first)."},
    {M_TIMED_OUT, "crossgate_control_requests_timed_out_total", "counter",
     "API connections closed because a request did not complete within --request-timeout."},
    {M_CONNS, "crossgate_control_connections", "gauge", "Open API connections."},
    {M_FORBIDDEN, "crossgate_control_forbidden_total", "counter",
     "Requests refused because the token's role or scope does not allow them (403)."},
    {M_LIMITED, "crossgate_control_rate_limited_total", "counter",
     "Registrations or watches refused over their limit (429)."},
};

void cg_control__metrics(cg_control_t *cp, cg_buf_t *b)
{
    const cg_resource_set_t *rs = cg_control_store_view(&cp->store);
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        const char *n = metrics[i].name;
        cg_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", n, metrics[i].help, n, metrics[i].type);
        switch (metrics[i].id) {
        case M_RESOURCES:
            cg_buf_printf(
                b, "%s{kind=\"Cluster\"} %zu\n%s{kind=\"Service\"} %zu\n%s{kind=\"Gateway\"} %zu\n",
                n, rs->nclusters, n, rs->nservices, n, rs->ngateways);
            break;
        case M_INSTANCES: cg_buf_printf(b, "%s %zu\n", n, cp->leases.items.len); break;
        case M_APPLY:
            cg_buf_printf(b, "%s{result=\"ok\"} %" PRIu64 "\n%s{result=\"rejected\"} %" PRIu64 "\n",
                          n, cp->stats.apply_ok, n, cp->stats.apply_rejected);
            break;
        case M_DELETE:
            cg_buf_printf(b, "%s{result=\"ok\"} %" PRIu64 "\n%s{result=\"rejected\"} %" PRIu64 "\n",
                          n, cp->stats.delete_ok, n, cp->stats.delete_rejected);
            break;
        case M_UNAUTH: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->stats.unauthorized); break;
        case M_REGISTER: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->stats.registrations); break;
        case M_EXPIRED: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->stats.expired); break;
        case M_WATCHES: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->watch.waiting); break;
        case M_COMPUTED: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->watch.computed); break;
        case M_BUMPED: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->watch.bumped); break;
        case M_REVISION: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cg_control_store_revision(&cp->store)); break;
        case M_STALLS: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->leases.stalls); break;
        case M_RECOMPUTES: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->recomputes); break;
        case M_EVICTED: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->httpd.evicted); break;
        case M_TIMED_OUT: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->httpd.timed_out); break;
        case M_CONNS: cg_buf_printf(b, "%s %u\n", n, cp->httpd.nconns); break;
        case M_FORBIDDEN: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->stats.forbidden); break;
        case M_LIMITED: cg_buf_printf(b, "%s %" PRIu64 "\n", n, cp->stats.rate_limited); break;
        }
    }
}
