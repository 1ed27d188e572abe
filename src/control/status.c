/* What the control plane knows, rendered: GET /v1/status (JSON) and GET /metrics (Prometheus). */
#include "control/api.h"

#include "core/clock.h"

#include <inttypes.h>
#include <stddef.h>
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
                  cp->store.revision, rs->nclusters, rs->nservices, rs->ngateways);
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
