/* What the control plane knows, rendered: GET /v1/status (JSON) and GET /metrics (Prometheus). */
#include "control/api.h"

#include "core/clock.h"
#include "core/json.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

static void instance_json(cg_control_t *cp, const cg_control_inst_t *inst, cg_jw_t *w)
{
    const cg_control_wentry_t *e = inst->data;
    uint64_t now = cp->loop->now_ms;
    char when[32];
    cg_clock_format_iso8601(inst->registered_wall_us, when);
    cg_jw_obj(w);
    cg_jw_kstr(w, "id", inst->id);
    cg_jw_kstr(w, "cluster", inst->cluster);
    cg_jw_kstr(w, "namespace", inst->namespace_);
    cg_jw_kobj(w, "labels");
    for (size_t i = 0; i < inst->nlabels; i++) {
        /* absent label strings are written as "" */
        cg_jw_key(w, inst->labels[i].key ? inst->labels[i].key : "");
        cg_jw_str(w, inst->labels[i].value ? inst->labels[i].value : "");
    }
    cg_jw_end(w);
    cg_jw_kstr(w, "address", inst->address);
    cg_jw_kstr(w, "admin", inst->admin);
    cg_jw_kstr(w, "registered", when);
    cg_jw_ku64(w, "age_ms", now - inst->registered_ms);
    cg_jw_ku64(w, "last_heartbeat_ms_ago", now - inst->heartbeat_ms);
    cg_jw_ku64(w, "snapshot_version", e ? e->version : 0);
    cg_jw_kstr(w, "error", e ? e->error : NULL);
    cg_jw_end(w);
}

static void instances_json(cg_control_t *cp, cg_jw_t *w)
{
    cg_jw_karr(w, "instances");
    for (size_t i = 0; i < cp->leases.items.len; i++)
        instance_json(cp, cp->leases.items.items[i], w);
    cg_jw_end(w);
}

void cg_control__instances_json(cg_control_t *cp, cg_buf_t *b)
{
    cg_jw_t w = cg_jw(b);
    cg_jw_obj(&w);
    instances_json(cp, &w);
    cg_jw_end(&w);
    cg_buf_append_str(b, "\n");
}

static void destination_json(const cg_snap_destination_t *d, cg_jw_t *w)
{
    cg_jw_obj(w);
    cg_jw_kstr(w, "name", d->name);
    cg_jw_kstr(w, "mode", cg_dest_mode_name(d->mode));
    cg_jw_ku64(w, "overprovisioning", d->policy.overprovisioning);
    cg_jw_karr(w, "endpoints");
    for (size_t e = 0; e < d->nendpoints; e++) {
        const cg_snap_endpoint_t *ep = &d->endpoints[e];
        cg_jw_obj(w);
        cg_jw_kstr(w, "address", ep->address);
        cg_jw_ku64(w, "port", ep->port);
        cg_jw_kstr(w, "cluster", ep->cluster);
        cg_jw_kstr(w, "region", ep->region);
        cg_jw_ku64(w, "priority", ep->priority);
        cg_jw_ku64(w, "weight", ep->weight);
        cg_jw_end(w);
    }
    cg_jw_end(w);
    cg_jw_karr(w, "weights");
    for (size_t i = 0; i < d->nweights; i++) {
        cg_jw_obj(w);
        cg_jw_kstr(w, "cluster", d->weights[i].cluster);
        cg_jw_ku64(w, "weight", d->weights[i].weight);
        cg_jw_end(w);
    }
    cg_jw_end(w);
    cg_jw_end(w);
}

/* An edge's routing: which destination each hostname uses, and each destination's endpoints. */
static void edge_json(const cg_control_inst_t *inst, const cg_snapshot_t *s, cg_jw_t *w)
{
    cg_jw_obj(w);
    cg_jw_kstr(w, "instance", inst->id);
    cg_jw_kstr(w, "cluster", inst->cluster);
    cg_jw_kstr(w, "namespace", inst->namespace_);
    cg_jw_kstr(w, "address", inst->address);
    cg_jw_kstr(w, "region", s->region);
    cg_jw_ku64(w, "snapshot_version", s->version);
    cg_jw_karr(w, "routes");
    for (size_t i = 0; i < s->nservers; i++) {
        const cg_snap_server_t *v = &s->servers[i];
        for (size_t r = 0; r < v->nrules; r++) {
            const cg_snap_rule_t *rule = &v->rules[r];
            if (rule->action != CG_ACTION_ROUTE || rule->destination >= s->ndestinations) continue;
            cg_jw_obj(w);
            cg_jw_kstr(w, "hostname", v->hostname);
            cg_jw_ku64(w, "port", v->port);
            cg_jw_ku64(w, "rule", r);
            cg_jw_ku64(w, "matches", rule->nmatches);
            cg_jw_kstr(w, "gateway", v->gateway);
            cg_jw_kstr(w, "destination", s->destinations[rule->destination].name);
            cg_jw_end(w);
        }
    }
    cg_jw_end(w);
    cg_jw_karr(w, "destinations");
    for (size_t i = 0; i < s->ndestinations; i++) destination_json(&s->destinations[i], w);
    cg_jw_end(w);
    cg_jw_karr(w, "warnings");
    for (size_t i = 0; i < s->nwarnings; i++) cg_jw_str(w, s->warnings[i] ? s->warnings[i] : "");
    cg_jw_end(w);
    cg_jw_end(w);
}

void cg_control__status_json(cg_control_t *cp, cg_buf_t *b)
{
    const cg_resource_set_t *rs = cg_control_store_view(&cp->store);
    cg_jw_t w = cg_jw(b);
    cg_jw_obj(&w);
    cg_jw_ku64(&w, "revision", cp->store.revision);
    cg_jw_kobj(&w, "resources");
    cg_jw_ku64(&w, "Cluster", rs->nclusters);
    cg_jw_ku64(&w, "Service", rs->nservices);
    cg_jw_ku64(&w, "Gateway", rs->ngateways);
    cg_jw_end(&w);
    cg_jw_karr(&w, "clusters");
    for (size_t i = 0; i < rs->nclusters; i++) {
        const cg_model_cluster_t *c = &rs->clusters[i];
        size_t live = 0;
        for (size_t j = 0; j < cp->leases.items.len; j++)
            if (!strcmp(cp->leases.items.items[j]->cluster, c->metadata.name)) live++;
        cg_jw_obj(&w);
        cg_jw_kstr(&w, "name", c->metadata.name);
        cg_jw_kstr(&w, "region", c->spec.locality.region);
        cg_jw_kstr(&w, "zone", c->spec.locality.zone);
        cg_jw_ku64(&w, "static_gateways", c->spec.ngateways);
        cg_jw_ku64(&w, "live_instances", live);
        cg_jw_end(&w);
    }
    cg_jw_end(&w);
    instances_json(cp, &w);
    cg_jw_karr(&w, "edges");
    for (size_t i = 0; i < cp->leases.items.len; i++) {
        const cg_control_inst_t *inst = cp->leases.items.items[i];
        const cg_control_wentry_t *e = inst->data;
        if (e && e->snap && e->edge) edge_json(inst, e->snap, &w);
    }
    cg_jw_end(&w);
    cg_jw_end(&w);
    cg_buf_append_str(b, "\n");
}

/* ---- metrics: one table, rendered in Prometheus text format ---- */

/* One sample of a metric: a number of the control plane or of its resource set, by where it
 * lives (a uint64_t, size_t or uint32_t member). */
typedef struct sample {
    const char *labels; /* "" or "{kind=\"Cluster\"}" */
    int in_rs;          /* a member of the store's resource set, not of cg_control_t */
    size_t offset, size;
} sample_t;

#define CP(labels, m)                                                                              \
    {                                                                                              \
        labels, 0, offsetof(cg_control_t, m), sizeof(((cg_control_t *)0)->m)                       \
    }
#define RS(labels, m)                                                                              \
    {                                                                                              \
        labels, 1, offsetof(cg_resource_set_t, m), sizeof(((cg_resource_set_t *)0)->m)             \
    }

#define COUNTER(name, help, ...)                                                                   \
    {                                                                                              \
        name, "counter", help,                                                                     \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
#define GAUGE(name, help, ...)                                                                     \
    {                                                                                              \
        name, "gauge", help,                                                                       \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }

static const struct {
    const char *name, *type, *help;
    sample_t samples[3]; /* up to the first with size 0 */
} metrics[] = {
    GAUGE("crossgate_control_resources", "Stored resources by kind.",
          RS("{kind=\"Cluster\"}", nclusters), RS("{kind=\"Service\"}", nservices),
          RS("{kind=\"Gateway\"}", ngateways)),
    GAUGE("crossgate_control_instances_live", "Gateway instances holding a lease.",
          CP("", leases.items.len)),
    COUNTER("crossgate_control_apply_requests_total", "Apply requests by result.",
            CP("{result=\"ok\"}", stats.apply_ok),
            CP("{result=\"rejected\"}", stats.apply_rejected)),
    COUNTER("crossgate_control_delete_requests_total", "Delete requests by result.",
            CP("{result=\"ok\"}", stats.delete_ok),
            CP("{result=\"rejected\"}", stats.delete_rejected)),
    COUNTER("crossgate_control_unauthorized_total",
            "Requests refused for a missing or wrong token.", CP("", stats.unauthorized)),
    COUNTER("crossgate_control_registrations_total", "Instance registrations.",
            CP("", stats.registrations)),
    COUNTER("crossgate_control_leases_expired_total", "Leases that expired without heartbeats.",
            CP("", stats.expired)),
    GAUGE("crossgate_control_watches_active", "Snapshot long-polls parked now.",
          CP("", watch.waiting)),
    COUNTER("crossgate_control_snapshots_computed_total", "Snapshot translations.",
            CP("", watch.computed)),
    COUNTER("crossgate_control_snapshot_versions_total",
            "Snapshot versions handed out (content changed).", CP("", watch.bumped)),
    GAUGE("crossgate_control_revision", "Global resource revision.", CP("", store.revision)),
    COUNTER("crossgate_control_stalls_total",
            "Times the control plane found it had not run for a while and credited every lease "
            "with it.",
            CP("", leases.stalls)),
    COUNTER("crossgate_control_recomputes_total",
            "Snapshot recomputes (instance churn is batched: a burst costs one per 20 ms).",
            CP("", recomputes)),
    COUNTER("crossgate_control_connections_evicted_total",
            "API connections closed to make room at --max-connections (the longest waiting first).",
            CP("", httpd.evicted)),
    COUNTER("crossgate_control_requests_timed_out_total",
            "API connections closed because a request did not complete within --request-timeout.",
            CP("", httpd.timed_out)),
    GAUGE("crossgate_control_connections", "Open API connections.", CP("", httpd.nconns)),
    COUNTER("crossgate_control_forbidden_total",
            "Requests refused because the token's role or scope does not allow them (403).",
            CP("", stats.forbidden)),
    COUNTER("crossgate_control_rate_limited_total",
            "Registrations or watches refused over their limit (429).", CP("", stats.rate_limited)),
};

static uint64_t sample_value(const void *base, const sample_t *s)
{
    const char *at = (const char *)base + s->offset;
    if (s->size == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, at, sizeof(v));
        return v;
    }
    uint64_t v;
    memcpy(&v, at, sizeof(v));
    return v;
}

void cg_control__metrics(cg_control_t *cp, cg_buf_t *b)
{
    _Static_assert(sizeof(size_t) == sizeof(uint64_t), "counts are read as 64-bit numbers");
    const cg_resource_set_t *rs = cg_control_store_view(&cp->store);
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        const char *n = metrics[i].name;
        cg_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", n, metrics[i].help, n, metrics[i].type);
        for (const sample_t *s = metrics[i].samples; s < metrics[i].samples + 3 && s->size; s++)
            cg_buf_printf(b, "%s%s %" PRIu64 "\n", n, s->labels,
                          sample_value(s->in_rs ? (const void *)rs : (const void *)cp, s));
    }
}
