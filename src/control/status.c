/* What the control plane knows, rendered: GET /v1/status (JSON) and GET /metrics (Prometheus). */
#include "control/status.h"

#include "control/api.h"

#include "core/clock.h"
#include "core/json.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

/* ---- the status document (control/status.h) ---- */

#define STR(T, key, m)                                                                             \
    {                                                                                              \
        key, CG_STATUS_STR, offsetof(T, m)                                                         \
    }
#define U64(T, key, m)                                                                             \
    {                                                                                              \
        key, CG_STATUS_U64, offsetof(T, m)                                                         \
    }
#define MORE(key)                                                                                  \
    {                                                                                              \
        key, CG_STATUS_MORE, 0                                                                     \
    }
#define END                                                                                        \
    {                                                                                              \
        NULL, CG_STATUS_MORE, 0                                                                    \
    }

const cg_control_status_field_t cg_control_status_top_fields[] = {
    U64(cg_control_status_top_t, "revision", revision),
    MORE("resources"),
    MORE("clusters"),
    MORE("instances"),
    MORE("edges"),
    MORE("services"),
    END,
};

#define T cg_control_status_cluster_t
const cg_control_status_field_t cg_control_status_cluster_fields[] = {
    STR(T, "name", name),
    STR(T, "region", region),
    STR(T, "zone", zone),
    U64(T, "static_gateways", static_gateways),
    U64(T, "live_instances", live_instances),
    END,
};
#undef T

#define T cg_control_status_instance_t
const cg_control_status_field_t cg_control_status_instance_fields[] = {
    STR(T, "id", id),
    STR(T, "cluster", cluster),
    STR(T, "namespace", namespace_),
    MORE("labels"),
    STR(T, "address", address),
    STR(T, "admin", admin),
    STR(T, "registered", registered),
    U64(T, "age_ms", age_ms),
    U64(T, "last_heartbeat_ms_ago", last_heartbeat_ms_ago),
    U64(T, "snapshot_version", snapshot_version),
    STR(T, "error", error),
    U64(T, "mtls_port", mtls_port),
    U64(T, "served_version", served_version),
    STR(T, "held_for", held_for),
    U64(T, "held_for_version", held_for_version),
    U64(T, "held_ms", held_ms),
    END,
};
#undef T

#define T cg_control_status_edge_t
const cg_control_status_field_t cg_control_status_edge_fields[] = {
    STR(T, "instance", instance),
    STR(T, "cluster", cluster),
    STR(T, "namespace", namespace_),
    STR(T, "address", address),
    STR(T, "region", region),
    U64(T, "snapshot_version", snapshot_version),
    MORE("routes"),
    MORE("destinations"),
    MORE("warnings"),
    END,
};
#undef T

#define T cg_control_status_route_t
const cg_control_status_field_t cg_control_status_route_fields[] = {
    STR(T, "hostname", hostname),
    U64(T, "port", port),
    U64(T, "rule", rule),
    U64(T, "matches", matches),
    STR(T, "gateway", gateway),
    STR(T, "destination", destination),
    END,
};
#undef T

#define T cg_control_status_dest_t
const cg_control_status_field_t cg_control_status_dest_fields[] = {
    STR(T, "name", name),
    STR(T, "mode", mode),
    U64(T, "overprovisioning", overprovisioning),
    MORE("endpoints"), /* written by dest_more, as every MORE member by its object's function */
    MORE("weights"),
    END,
};
#undef T

#define T cg_control_status_endpoint_t
const cg_control_status_field_t cg_control_status_endpoint_fields[] = {
    STR(T, "address", address),   U64(T, "port", port),         STR(T, "cluster", cluster),
    STR(T, "region", region),     U64(T, "priority", priority), U64(T, "weight", weight),
    STR(T, "identity", identity), STR(T, "host", host),         END,
};
#undef T

#define T cg_control_status_service_t
const cg_control_status_field_t cg_control_status_service_fields[] = {
    STR(T, "instance", instance),
    STR(T, "cluster", cluster),
    STR(T, "region", region),
    STR(T, "destination", destination),
    U64(T, "mtls_port", mtls_port),
    STR(T, "why", why),
    MORE("endpoints"),
    END,
};
#undef T

#define T cg_control_status_weight_t
const cg_control_status_field_t cg_control_status_weight_fields[] = {
    STR(T, "cluster", cluster),
    U64(T, "weight", weight),
    END,
};
#undef T

const cg_control_status_field_t *
cg_control_status_write(cg_jw_t *w, const cg_control_status_field_t *f, const void *row)
{
    for (; f->key; f++) {
        const char *at = (const char *)row + f->offset;
        switch (f->type) {
        case CG_STATUS_STR: {
            const char *v;
            memcpy(&v, at, sizeof(v));
            cg_jw_kstr(w, f->key, v);
            break;
        }
        case CG_STATUS_U64: {
            uint64_t v;
            memcpy(&v, at, sizeof(v));
            cg_jw_ku64(w, f->key, v);
            break;
        }
        case CG_STATUS_MORE: return f;
        }
    }
    return NULL;
}

void cg_control_status_read(const cg_json_t *obj, const cg_control_status_field_t *f, void *row)
{
    for (; f->key; f++) {
        char *at = (char *)row + f->offset;
        const cg_json_t *v = cg_json_get(obj, f->key);
        if (f->type == CG_STATUS_STR) {
            const char *s = cg_json_string(v, NULL);
            memcpy(at, &s, sizeof(s));
        } else if (f->type == CG_STATUS_U64) {
            int64_t i = cg_json_int(v);
            uint64_t u = i > 0 ? (uint64_t)i : 0;
            memcpy(at, &u, sizeof(u));
        }
    }
}

/* One object: its table's members, with `more` writing each CG_STATUS_MORE member's value
 * (NULL for a table without any). */
typedef void (*more_fn)(cg_jw_t *w, const char *key, const void *ctx);

static void write_object(cg_jw_t *w, const cg_control_status_field_t *f, const void *row,
                         more_fn more, const void *ctx)
{
    cg_jw_obj(w);
    while ((f = cg_control_status_write(w, f, row))) {
        cg_jw_key(w, f->key);
        more(w, f->key, ctx);
        f++;
    }
    cg_jw_end(w);
}

static void instance_more(cg_jw_t *w, const char *key, const void *ctx)
{
    const cg_control_inst_t *inst = ctx;
    cg_jw_obj(w); /* labels; absent label strings are written as "" */
    for (size_t i = 0; i < inst->nlabels; i++) {
        cg_jw_key(w, inst->labels[i].key ? inst->labels[i].key : "");
        cg_jw_str(w, inst->labels[i].value ? inst->labels[i].value : "");
    }
    cg_jw_end(w);
}

static void instance_json(cg_control_t *cp, const cg_control_inst_t *inst, cg_jw_t *w)
{
    const cg_control_wentry_t *e = inst->data;
    uint64_t now = cp->loop->now_ms;
    char when[32];
    cg_clock_format_iso8601(inst->registered_wall_us, when);
    const cg_control_wdep_t *held = e && e->deps.len ? &e->deps.items[0] : NULL;
    cg_control_status_instance_t row = {
        .id = inst->id,
        .cluster = inst->cluster,
        .namespace_ = inst->namespace_,
        .address = inst->address,
        .admin = inst->admin,
        .registered = when,
        .age_ms = now - inst->registered_ms,
        .last_heartbeat_ms_ago = now - inst->heartbeat_ms,
        .snapshot_version = e ? e->version : 0,
        .error = e ? e->error : NULL,
        .mtls_port = inst->mtls_port,
        .served_version = e ? e->acked : 0,
        .held_for = held ? held->on->inst->id : NULL,
        .held_for_version = held ? held->version : 0,
        .held_ms = held ? now - e->held_since_ms : 0,
    };
    write_object(w, cg_control_status_instance_fields, &row, instance_more, inst);
}

static void instances_json(cg_control_t *cp, cg_jw_t *w)
{
    cg_jw_arr(w);
    for (size_t i = 0; i < cp->leases.items.len; i++)
        instance_json(cp, cp->leases.items.items[i], w);
    cg_jw_end(w);
}

void cg_control__instances_json(cg_control_t *cp, cg_buf_t *b)
{
    cg_jw_t w = cg_jw(b);
    cg_jw_obj(&w);
    cg_jw_key(&w, "instances");
    instances_json(cp, &w);
    cg_jw_end(&w);
    cg_buf_append_str(b, "\n");
}

static void dest_more(cg_jw_t *w, const char *key, const void *ctx)
{
    const cg_snap_destination_t *d = ctx;
    cg_jw_arr(w);
    if (!strcmp(key, "endpoints")) {
        for (size_t e = 0; e < d->nendpoints; e++) {
            const cg_snap_endpoint_t *ep = &d->endpoints[e];
            cg_control_status_endpoint_t row = {ep->address,  ep->port,   ep->cluster,  ep->region,
                                                ep->priority, ep->weight, ep->identity, ep->host};
            write_object(w, cg_control_status_endpoint_fields, &row, NULL, NULL);
        }
    } else {
        for (size_t i = 0; i < d->nweights; i++) {
            cg_control_status_weight_t row = {d->weights[i].cluster, d->weights[i].weight};
            write_object(w, cg_control_status_weight_fields, &row, NULL, NULL);
        }
    }
    cg_jw_end(w);
}

/* An edge's routing: which destination each hostname uses, and each destination's endpoints. */
static void edge_more(cg_jw_t *w, const char *key, const void *ctx)
{
    const cg_snapshot_t *s = ctx;
    cg_jw_arr(w);
    if (!strcmp(key, "routes")) {
        for (size_t i = 0; i < s->nservers; i++) {
            const cg_snap_server_t *v = &s->servers[i];
            for (size_t r = 0; r < v->nrules; r++) {
                const cg_snap_rule_t *rule = &v->rules[r];
                if (rule->action != CG_ACTION_ROUTE || rule->destination >= s->ndestinations)
                    continue;
                cg_control_status_route_t row = {
                    v->hostname,    v->port,    r,
                    rule->nmatches, v->gateway, s->destinations[rule->destination].name};
                write_object(w, cg_control_status_route_fields, &row, NULL, NULL);
            }
        }
    } else if (!strcmp(key, "destinations")) {
        for (size_t i = 0; i < s->ndestinations; i++) {
            const cg_snap_destination_t *d = &s->destinations[i];
            cg_control_status_dest_t row = {d->name, cg_dest_mode_name(d->mode),
                                            d->policy.overprovisioning};
            write_object(w, cg_control_status_dest_fields, &row, dest_more, d);
        }
    } else {
        for (size_t i = 0; i < s->nwarnings; i++)
            cg_jw_str(w, s->warnings[i] ? s->warnings[i] : "");
    }
    cg_jw_end(w);
}

/* Why a service destination's failover goes where it goes: read off its endpoints (east-west
 * ones carry the Host the east-west gateway routes on) and the instance. */
static const char *service_why(const cg_snapshot_t *s, const cg_snap_destination_t *d,
                               uint64_t mtls_port)
{
    for (size_t i = 0; i < s->nservers; i++)
        if (s->servers[i].east_west)
            return "east-west gateway: forwards to this cluster's endpoints only, no further "
                   "failover";
    for (size_t e = 0; e < d->nendpoints; e++)
        if (d->endpoints[e].host)
            return "when every local endpoint has failed: the east-west gateways of other "
                   "clusters that expose this service, over mTLS, same region first";
    if (!mtls_port)
        return "no failover: this instance has no mesh identity (--identity), and the east-west "
               "hop is mTLS";
    return "no failover: no east-west gateway of another cluster exposes this service "
           "(WorkspaceSetting)";
}

static void services_json(cg_control_t *cp, cg_jw_t *w)
{
    cg_jw_arr(w);
    for (size_t i = 0; i < cp->leases.items.len; i++) {
        const cg_control_inst_t *inst = cp->leases.items.items[i];
        const cg_control_wentry_t *e = inst->data;
        if (!e || !e->snap || e->edge) continue;
        const cg_snapshot_t *s = e->snap;
        for (size_t k = 0; k < s->ndestinations; k++) {
            const cg_snap_destination_t *d = &s->destinations[k];
            if (d->mode != CG_DEST_SERVICE) continue;
            cg_control_status_service_t row = {inst->id,        inst->cluster,
                                               s->region,       d->name,
                                               inst->mtls_port, service_why(s, d, inst->mtls_port)};
            write_object(w, cg_control_status_service_fields, &row, dest_more, d);
        }
    }
    cg_jw_end(w);
}

typedef struct top_ctx {
    cg_control_t *cp;
    const cg_resource_set_t *rs;
} top_ctx_t;

static void top_more(cg_jw_t *w, const char *key, const void *ctx)
{
    cg_control_t *cp = ((const top_ctx_t *)ctx)->cp;
    const cg_resource_set_t *rs = ((const top_ctx_t *)ctx)->rs;
    if (!strcmp(key, "resources")) {
        cg_jw_obj(w);
        cg_jw_ku64(w, "Cluster", rs->nclusters);
        cg_jw_ku64(w, "Service", rs->nservices);
        cg_jw_ku64(w, "Gateway", rs->ngateways);
        cg_jw_end(w);
    } else if (!strcmp(key, "clusters")) {
        cg_jw_arr(w);
        for (size_t i = 0; i < rs->nclusters; i++) {
            const cg_model_cluster_t *c = &rs->clusters[i];
            cg_control_status_cluster_t row = {c->metadata.name, c->spec.locality.region,
                                               c->spec.locality.zone, c->spec.ngateways, 0};
            for (size_t j = 0; j < cp->leases.items.len; j++)
                if (!strcmp(cp->leases.items.items[j]->cluster, c->metadata.name))
                    row.live_instances++;
            write_object(w, cg_control_status_cluster_fields, &row, NULL, NULL);
        }
        cg_jw_end(w);
    } else if (!strcmp(key, "instances")) {
        instances_json(cp, w);
    } else if (!strcmp(key, "services")) {
        services_json(cp, w);
    } else {
        cg_jw_arr(w);
        for (size_t i = 0; i < cp->leases.items.len; i++) {
            const cg_control_inst_t *inst = cp->leases.items.items[i];
            const cg_control_wentry_t *e = inst->data;
            if (!e || !e->snap || !e->edge) continue;
            cg_control_status_edge_t row = {inst->id,      inst->cluster,   inst->namespace_,
                                            inst->address, e->snap->region, e->snap->version};
            write_object(w, cg_control_status_edge_fields, &row, edge_more, e->snap);
        }
        cg_jw_end(w);
    }
}

void cg_control__status_json(cg_control_t *cp, cg_buf_t *b)
{
    top_ctx_t ctx = {cp, cg_control_store_view(&cp->store)};
    cg_control_status_top_t row = {cg_control_store_revision(&cp->store)};
    cg_jw_t w = cg_jw(b);
    write_object(&w, cg_control_status_top_fields, &row, top_more, &ctx);
    cg_buf_append_str(b, "\n");
}

/* ---- metrics: one table, rendered in Prometheus text format ---- */

/* One sample of a metric: a number of the control plane, of the store's resource set, or the
 * store's revision (asked of the store: its fields are its own), by where it lives (a uint64_t,
 * size_t or uint32_t member). */
enum { IN_CP, IN_RS, IN_REVISION };
typedef struct sample {
    const char *labels; /* "" or "{kind=\"Cluster\"}" */
    int in;             /* IN_*: which of those offset is in */
    size_t offset, size;
} sample_t;

#define CP(labels, m)                                                                              \
    {                                                                                              \
        labels, IN_CP, offsetof(cg_control_t, m), sizeof(((cg_control_t *)0)->m)                   \
    }
#define RS(labels, m)                                                                              \
    {                                                                                              \
        labels, IN_RS, offsetof(cg_resource_set_t, m), sizeof(((cg_resource_set_t *)0)->m)         \
    }

#define REVISION()                                                                                 \
    {                                                                                              \
        "", IN_REVISION, 0, sizeof(uint64_t)                                                       \
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
            CP("{result=\"rejected\"}", stats.apply_rejected),
            CP("{result=\"conflict\"}", stats.apply_conflicts)),
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
    GAUGE("crossgate_control_snapshots_held",
          "Snapshot versions held back now for make-before-break (until the gateways they "
          "depend on take theirs).",
          CP("", watch.nheld)),
    COUNTER("crossgate_control_snapshot_holds_total",
            "Snapshot versions held back for make-before-break.", CP("", watch.holds)),
    COUNTER("crossgate_control_snapshot_holds_expired_total",
            "Holds that ended because the order wait passed, not because the gateways they "
            "waited for took their snapshots.",
            CP("", watch.holds_expired)),
    COUNTER("crossgate_control_snapshot_holds_unordered_total",
            "Holds not made because they would have closed a cycle (one change adding and "
            "removing endpoints between two instances).",
            CP("", watch.holds_unordered)),
    GAUGE("crossgate_control_revision", "Global resource revision.", REVISION()),
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
    uint64_t revision = cg_control_store_revision(&cp->store);
    const void *in[] = {
        [IN_CP] = cp, [IN_RS] = cg_control_store_view(&cp->store), [IN_REVISION] = &revision};
    for (size_t i = 0; i < sizeof(metrics) / sizeof(metrics[0]); i++) {
        const char *n = metrics[i].name;
        cg_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", n, metrics[i].help, n, metrics[i].type);
        for (const sample_t *s = metrics[i].samples; s < metrics[i].samples + 3 && s->size; s++)
            cg_buf_printf(b, "%s%s %" PRIu64 "\n", n, s->labels, sample_value(in[s->in], s));
    }
}
