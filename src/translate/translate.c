/* Translation of resources into one instance's snapshot: which Gateways select it, what each
 * rule does, and which endpoints every destination has. */
#include "translate/translate.h"

#include "core/err.h"
#include "core/hash.h"
#include "core/list.h"
#include "lb/priority.h"
#include "tls/tls.h"
#include "translate/index.h"

#include <math.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS         15000
#define DEFAULT_REDIRECT_CODE      301
/* An east-west gateway of Cluster.spec.gateways is reached here: it takes mTLS only, on the
 * mesh port, and a static entry does not register which (a live one does) */
#define DEFAULT_MESH_PORT 15443

/* Labels of an instance, either from a resource (kv) or from the caller (snap). */
typedef struct labels_view {
    const cg_model_kv_t *kv;
    const cg_snap_label_t *snap;
    size_t n;
} labels_view_t;

/* A gateway instance that an edge may send to. */
typedef struct ginst {
    const char *cluster, *namespace_, *address;
    labels_view_t labels;
    uint16_t mtls_port; /* 0: plain text only */
} ginst_t;

/* One way an instance of a cluster serves a hostname: a workload Gateway selecting the
 * instance has an http[] server for it. */
typedef struct serving {
    size_t host; /* hostname id: index into edge_ix_t.hosts */
    size_t seq;  /* instance, then Gateway, then http[] order */
    const char *address;
    int64_t port;
    const char *namespace_; /* the instance's: its mesh identity names it */
    uint16_t mtls_port;     /* the instance takes mTLS there; 0: plain text only */
} serving_t;

typedef CG_VEC(serving_t) serving_vec_t;

typedef struct cluster_serving {
    int built;
    serving_t *items; /* by host, then seq */
    size_t n;
} cluster_serving_t;

/* What an edge needs to find endpoints, built when the first cluster destination is resolved
 * (a workload instance never needs it). */
typedef struct edge_ix {
    cg_translate__by_name_t *clusters; /* rs->clusters by metadata.name */
    cg_translate__by_name_t *live; /* live instances (with a cluster and an address) by cluster */
    size_t nlive;
    size_t *workload; /* indexes of the Gateways that route to services, in order */
    size_t nworkload;
    size_t *http_host; /* workload[w]'s http[h]: hostname id at http_first[w] + h */
    size_t *http_first;
    cg_translate__htab_t host_ix; /* hostname ids by hostname */
    CG_VEC(const char *) hosts;
    uint8_t own_ports[65536 / 8]; /* ports of this instance's own servers */
    cluster_serving_t *serving;   /* per rs->clusters entry, built on first use */
    size_t nclusters;
} edge_ix_t;

/* Services of the instance's own cluster by namespace and hostname, for service routes. */
typedef struct service_key {
    const char *namespace_, *hostname;
    size_t nslen;
    size_t index;
} service_key_t;

/* What translation keeps per destination besides the snapshot's fields. */
typedef struct dest_aux {
    cg_translate__htab_t endpoints; /* by address and port */
    size_t cap;                     /* of the destination's endpoints[] */
    /* the server's failoverSettings the endpoints were ordered by: equal routes of servers
     * ordering them otherwise do not share the destination */
    const cg_model_failover_settings_t *failover;
} dest_aux_t;

typedef struct tx {
    const cg_resource_set_t *rs;
    const cg_instance_t *inst;
    const cg_instance_t *live;
    size_t nlive;
    cg_buf_t *errors;
    int nerrors;
    const cg_model_cluster_t *own; /* the instance's Cluster, NULL when it has none */
    const char *region;            /* of the instance's own cluster: its endpoints get priority 0 */
    CG_VEC(cg_snap_server_t) servers;
    CG_VEC(cg_snap_destination_t) dests;
    CG_VEC(char *) warnings;
    CG_VEC(size_t) server_http; /* per server: index of its http[] in its Gateway */
    CG_VEC(const cg_model_gateway_t *) server_gw;
    uint8_t tls_ports[65536 / 8], plain_ports[65536 / 8]; /* of the servers so far */
    /* indexes of the above, kept in step */
    cg_translate__htab_t warning_ix; /* by text */
    cg_translate__htab_t server_ix;  /* by port and hostname */
    cg_translate__htab_t dest_ix;    /* by name (unique: find_dest never makes a second) */
    CG_VEC(dest_aux_t) dest_aux;
    cg_snap_pool_t *pool; /* the endpoints' strings: the snapshot's */
    /* built on first use */
    service_key_t *services;
    size_t nservices;
    int services_built;
    edge_ix_t *edge;
} tx_t;

static char *xstrdup_or_null(const char *s)
{
    return s ? cg_xstrdup(s) : NULL;
}

static void warn(tx_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(tx_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = cg_xvasprintf(fmt, ap);
    va_end(ap);
    uint64_t h = cg_hash_str(CG_HASH_SEED, text);
    for (size_t slot = SIZE_MAX, e; cg_translate__htab_next(&t->warning_ix, h, &slot, &e);) {
        if (strcmp(t->warnings.items[e], text) == 0) {
            free(text);
            return;
        }
    }
    cg_translate__htab_add(&t->warning_ix, h, t->warnings.len);
    cg_vec_push(&t->warnings, text);
}

static const char *label_get(const labels_view_t *v, const char *key)
{
    for (size_t i = 0; i < v->n; i++) {
        const char *k = v->kv ? v->kv[i].key : v->snap[i].key;
        if (strcmp(k, key) == 0) return v->kv ? v->kv[i].value : v->snap[i].value;
    }
    return NULL;
}

/* Every selector label is on the instance with the same value. */
static int labels_subset(const cg_model_kv_t *sel, size_t nsel, const labels_view_t *have)
{
    for (size_t i = 0; i < nsel; i++) {
        const char *v = label_get(have, sel[i].key);
        if (v == NULL || strcmp(v, sel[i].value) != 0) return 0;
    }
    return 1;
}

static int selector_selects(const cg_model_workload_selector_t *ws, const char *cluster,
                            const char *ns, const labels_view_t *labels)
{
    if (ns == NULL || strcmp(ws->namespace_, ns) != 0) return 0;
    if (ws->cluster != NULL && (cluster == NULL || strcmp(ws->cluster, cluster) != 0)) return 0;
    return labels_subset(ws->labels, ws->nlabels, labels);
}

static int selects(const cg_model_gateway_t *gw, const char *cluster, const char *ns,
                   const labels_view_t *labels)
{
    return selector_selects(&gw->spec.workload_selector, cluster, ns, labels);
}

/* The first WorkspaceSetting whose defaultEastWestGatewaySettings select the instance: it is an
 * east-west gateway. NULL: it is not. */
static const cg_model_workspace_setting_t *eastwest_setting(const cg_resource_set_t *rs,
                                                            const char *cluster, const char *ns,
                                                            const labels_view_t *labels)
{
    for (size_t i = 0; i < rs->nworkspace_settings; i++) {
        const cg_model_workspace_setting_t *w = &rs->workspace_settings[i];
        for (size_t e = 0; e < w->spec.neast_west; e++)
            if (selector_selects(&w->spec.east_west[e].workload_selector, cluster, ns, labels))
                return w;
    }
    return NULL;
}

/* An east-west gateway (cluster, ns, labels) exposes Service s: s is of its cluster and some
 * settings that select it list no exposedServices, or one whose serviceLabels s carries. */
static int eastwest_exposes(const cg_resource_set_t *rs, const char *cluster, const char *ns,
                            const labels_view_t *labels, const cg_model_service_t *s)
{
    if (strcmp(s->metadata.cluster, cluster) != 0) return 0;
    labels_view_t have = {s->metadata.labels, NULL, s->metadata.nlabels};
    for (size_t i = 0; i < rs->nworkspace_settings; i++) {
        const cg_model_workspace_setting_t *w = &rs->workspace_settings[i];
        for (size_t e = 0; e < w->spec.neast_west; e++) {
            const cg_model_eastwest_settings_t *ew = &w->spec.east_west[e];
            if (!selector_selects(&ew->workload_selector, cluster, ns, labels)) continue;
            if (ew->nexposed_services == 0) return 1;
            for (size_t x = 0; x < ew->nexposed_services; x++)
                if (labels_subset(ew->exposed_services[x].service_labels,
                                  ew->exposed_services[x].nservice_labels, &have))
                    return 1;
        }
    }
    return 0;
}

static char *gateway_id(const cg_model_gateway_t *gw)
{
    cg_buf_t b = {0};
    if (gw->metadata.namespace_) cg_buf_printf(&b, "%s/", gw->metadata.namespace_);
    cg_buf_append_str(&b, gw->metadata.name);
    char *s = cg_xstrndup(cg_buf_data(&b), cg_buf_size(&b));
    cg_buf_free(&b);
    return s;
}

/* ---- destinations ---- */

/* Numbers of the model's outlierDetection and healthCheck (validated int64_t) and where they
 * go in the snapshot's policy (uint32_t). */
typedef struct number_map {
    size_t to, from; /* offsets in cg_snap_policy_t and in the model's struct */
} number_map_t;

#define TO(m, T, f)                                                                                \
    {                                                                                              \
        offsetof(cg_snap_policy_t, m), offsetof(T, f)                                              \
    }
static const number_map_t outlier_from_model[] = {
    TO(outlier.consecutive_gateway_errors, cg_model_outlier_t, consecutive_gateway_errors),
    TO(outlier.interval_ms, cg_model_outlier_t, interval_ms),
    TO(outlier.base_ejection_ms, cg_model_outlier_t, base_ejection_time_ms),
    TO(outlier.max_ejection_ms, cg_model_outlier_t, max_ejection_time_ms),
    TO(outlier.max_ejection_percent, cg_model_outlier_t, max_ejection_percent),
};
static const number_map_t hc_from_model[] = {
    TO(health_check.interval_ms, cg_model_health_check_t, interval_ms),
    TO(health_check.timeout_ms, cg_model_health_check_t, timeout_ms),
    TO(health_check.unhealthy_threshold, cg_model_health_check_t, unhealthy_threshold),
    TO(health_check.healthy_threshold, cg_model_health_check_t, healthy_threshold),
};
#undef TO

static void copy_numbers(cg_snap_policy_t *p, const void *model, const number_map_t *map, size_t n)
{
    for (; n--; map++) {
        int64_t v;
        memcpy(&v, (const char *)model + map->from, sizeof(v));
        uint32_t u = (uint32_t)v;
        memcpy((char *)p + map->to, &u, sizeof(u));
    }
}

/* Settings of the http[] server a route belongs to, with the documented defaults. Weighted
 * routes split strictly: no ejection, no active checks. Service routes (ingress → app) eject
 * and check only when asked: an app failing is not the gateway's health. */
static void fill_policy(cg_snap_policy_t *p, const cg_model_http_server_t *srv, cg_dest_mode_t mode)
{
    p->retry = cg_lb_retry_defaults;
    if (srv->retries) {
        p->retry.attempts = (uint32_t)srv->retries->attempts;
        p->retry.per_try_timeout_ms = (uint32_t)srv->retries->per_try_timeout_ms;
        if (srv->retries->nretry_on) {
            p->retry.retry_on = 0;
            for (size_t i = 0; i < srv->retries->nretry_on; i++)
                p->retry.retry_on |= cg_lb_retry_on_parse(srv->retries->retry_on[i]);
        }
    }
    p->outlier = cg_lb_outlier_defaults;
    if (srv->outlier_detection)
        copy_numbers(p, srv->outlier_detection, outlier_from_model,
                     CG_ARRAY_SIZE(outlier_from_model));
    if (mode == CG_DEST_WEIGHTED || (mode == CG_DEST_SERVICE && !srv->outlier_detection))
        p->outlier.consecutive_gateway_errors = 0; /* off */
    p->health_check = cg_lb_hc_defaults;
    if (srv->health_check) {
        p->health_check.enabled = (uint8_t)srv->health_check->enabled;
        copy_numbers(p, srv->health_check, hc_from_model, CG_ARRAY_SIZE(hc_from_model));
    }
    if (mode == CG_DEST_WEIGHTED || (mode == CG_DEST_SERVICE && !srv->health_check))
        p->health_check.enabled = 0;
    p->overprovisioning =
        srv->failover ? (uint32_t)lround(srv->failover->overprovisioning_factor * 100) : 140;
}

static size_t dest_named(const tx_t *t, const char *name)
{
    uint64_t h = cg_hash_str(CG_HASH_SEED, name);
    for (size_t slot = SIZE_MAX, e; cg_translate__htab_next(&t->dest_ix, h, &slot, &e);)
        if (strcmp(t->dests.items[e].name, name) == 0) return e;
    return SIZE_MAX;
}

/* Two servers order remote clusters alike (NULL: the default order). */
static int failover_same(const cg_model_failover_settings_t *a,
                         const cg_model_failover_settings_t *b)
{
    if (a == b) return 1;
    if (a == NULL || b == NULL || a->locality != b->locality ||
        a->nfailover_priority != b->nfailover_priority ||
        a->nregional_failover != b->nregional_failover)
        return 0;
    for (size_t i = 0; i < a->nfailover_priority; i++)
        if (strcmp(a->failover_priority[i], b->failover_priority[i]) != 0) return 0;
    for (size_t i = 0; i < a->nregional_failover; i++)
        if (strcmp(a->regional_failover[i].from, b->regional_failover[i].from) != 0 ||
            strcmp(a->regional_failover[i].to, b->regional_failover[i].to) != 0)
            return 0;
    return 1;
}

/* Destinations are named by what they send to, so equal routes share one (and the name stays
 * stable across snapshots, which lets the proxy keep endpoint state). Servers with different
 * policies (or failover orders) for the same targets get their own, named after the server.
 * Returns the index of an existing match, or SIZE_MAX with *name_out set to the name a new one
 * must take. */
static size_t find_dest(const tx_t *t, const char *base, const cg_snap_policy_t *pol,
                        const cg_model_failover_settings_t *fs, size_t server, char **name_out)
{
    *name_out = NULL;
    size_t i = dest_named(t, base);
    if (i != SIZE_MAX && cg_snap_policy_eq(&t->dests.items[i].policy, pol) &&
        failover_same(t->dest_aux.items[i].failover, fs))
        return i;
    cg_buf_t b = {0};
    cg_buf_append_str(&b, base);
    if (i != SIZE_MAX) {
        const cg_snap_server_t *s = &t->servers.items[server];
        cg_buf_printf(&b, "@%s/%s", s->gateway, s->name);
        cg_buf_append(&b, "", 1);
        i = dest_named(t, cg_buf_data(&b));
        if (i != SIZE_MAX) {
            cg_buf_free(&b);
            return i; /* the same server's other rule */
        }
    } else {
        cg_buf_append(&b, "", 1);
    }
    *name_out = cg_xstrdup(cg_buf_data(&b));
    cg_buf_free(&b);
    return SIZE_MAX;
}

static cg_snap_destination_t *new_dest(tx_t *t, char *name, cg_dest_mode_t mode,
                                       const cg_snap_policy_t *pol, size_t *index)
{
    cg_snap_destination_t d = {.name = name,
                               .mode = mode,
                               .connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_MS,
                               .policy = *pol};
    cg_translate__htab_add(&t->dest_ix, cg_hash_str(CG_HASH_SEED, name), t->dests.len);
    cg_vec_push(&t->dests, d);
    cg_vec_push(&t->dest_aux, (dest_aux_t){0});
    *index = t->dests.len - 1;
    return &t->dests.items[*index];
}

static cg_snap_endpoint_t *add_endpoint(tx_t *t, cg_snap_destination_t *d, const char *address,
                                        uint16_t port, const char *cluster, const char *region,
                                        const char *zone, uint32_t weight, uint32_t priority)
{
    dest_aux_t *aux = &t->dest_aux.items[d - t->dests.items];
    /* the key is what makes two endpoints the same: address, port and cluster (many clusters
     * at one address, as registrations may claim, must not all land in one bucket) */
    uint64_t h = cg_hash_bytes(cg_hash_str(CG_HASH_SEED, address), &port, sizeof(port));
    if (cluster) h = cg_hash_str(h, cluster);
    for (size_t slot = SIZE_MAX, e; cg_translate__htab_next(&aux->endpoints, h, &slot, &e);)
        /* the same address and port under another cluster is kept: a registration (which a
         * cluster's join token can make at any address it may use) never hides another
         * cluster's endpoint, nor takes its place */
        if (d->endpoints[e].port == port && strcmp(d->endpoints[e].address, address) == 0 &&
            cg_str_same(d->endpoints[e].cluster, cluster))
            return NULL;
    if (d->nendpoints == aux->cap) {
        aux->cap = aux->cap ? 2 * aux->cap : 4;
        d->endpoints = cg_xrealloc(d->endpoints, aux->cap * sizeof(*d->endpoints));
    }
    cg_translate__htab_add(&aux->endpoints, h, d->nendpoints);
    d->endpoints[d->nendpoints++] = (cg_snap_endpoint_t){
        .address = cg_snap_pool_ref(&t->pool, address),
        .port = port,
        .cluster = cg_snap_pool_ref(&t->pool, cluster),
        .region = cg_snap_pool_ref(&t->pool, region),
        .zone = cg_snap_pool_ref(&t->pool, zone),
        .weight = weight ? weight : 1,
        .priority = priority,
        .pooled = 1,
    };
    return &d->endpoints[d->nendpoints - 1];
}

static int service_key_order(const void *a, const void *b)
{
    const service_key_t *x = a, *y = b;
    size_t n = x->nslen < y->nslen ? x->nslen : y->nslen;
    int c = strncmp(x->namespace_, y->namespace_, n);
    if (c == 0) c = (x->nslen > y->nslen) - (x->nslen < y->nslen);
    if (c == 0) c = strcasecmp(x->hostname, y->hostname);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* The services of the instance's cluster in namespace ns (nslen bytes) with hostname fqdn (any
 * case): [*first, return value) of t->services. */
static size_t services_named(tx_t *t, const char *ns, size_t nslen, const char *fqdn, size_t *first)
{
    if (!t->services_built) {
        t->services_built = 1;
        t->services = cg_xcalloc(t->rs->nservices, sizeof(*t->services));
        for (size_t i = 0; i < t->rs->nservices; i++) {
            const cg_model_service_t *s = &t->rs->services[i];
            if (strcmp(s->metadata.cluster, t->inst->cluster) != 0) continue;
            t->services[t->nservices++] = (service_key_t){s->metadata.namespace_, s->spec.hostname,
                                                          strlen(s->metadata.namespace_), i};
        }
        qsort(t->services, t->nservices, sizeof(*t->services), service_key_order);
    }
    service_key_t key = {ns, fqdn, nslen, 0}; /* sorts before every entry of its run */
    size_t lo = 0, hi = t->nservices;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (service_key_order(&t->services[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    key.index = SIZE_MAX;
    while (lo < t->nservices && service_key_order(&t->services[lo], &key) < 0) lo++;
    return lo;
}

/* The id of a hostname that workload Gateways serve, or SIZE_MAX. */
static size_t host_id(const edge_ix_t *x, const char *hostname)
{
    uint64_t h = cg_hash_str(CG_HASH_SEED, hostname);
    for (size_t slot = SIZE_MAX, e; cg_translate__htab_next(&x->host_ix, h, &slot, &e);)
        if (strcmp(x->hosts.items[e], hostname) == 0) return e;
    return SIZE_MAX;
}

/* Called once every server is known: own_ports needs them all. */
static edge_ix_t *edge_ix(tx_t *t)
{
    if (t->edge) return t->edge;
    const cg_resource_set_t *rs = t->rs;
    edge_ix_t *x = t->edge = cg_xcalloc(1, sizeof(*x));
    x->clusters = cg_xcalloc(rs->nclusters, sizeof(*x->clusters));
    for (size_t i = 0; i < rs->nclusters; i++)
        x->clusters[i] = (cg_translate__by_name_t){rs->clusters[i].metadata.name, i};
    qsort(x->clusters, rs->nclusters, sizeof(*x->clusters), cg_translate__by_name_order);
    x->live = cg_xcalloc(t->nlive, sizeof(*x->live));
    for (size_t i = 0; i < t->nlive; i++)
        if (t->live[i].cluster != NULL && t->live[i].address != NULL)
            x->live[x->nlive++] = (cg_translate__by_name_t){t->live[i].cluster, i};
    qsort(x->live, x->nlive, sizeof(*x->live), cg_translate__by_name_order);
    x->workload = cg_xcalloc(rs->ngateways, sizeof(*x->workload));
    x->http_first = cg_xcalloc(rs->ngateways, sizeof(*x->http_first));
    size_t nhttp = 0;
    for (size_t g = 0; g < rs->ngateways; g++) {
        if (cg_model_gateway_routes_to_clusters(&rs->gateways[g])) continue;
        x->http_first[x->nworkload] = nhttp;
        x->workload[x->nworkload++] = g;
        nhttp += rs->gateways[g].spec.nhttp;
    }
    x->http_host = cg_xcalloc(nhttp, sizeof(*x->http_host));
    for (size_t w = 0; w < x->nworkload; w++) {
        const cg_model_gateway_t *gw = &rs->gateways[x->workload[w]];
        for (size_t h = 0; h < gw->spec.nhttp; h++) {
            const char *name = gw->spec.http[h].hostname;
            size_t id = host_id(x, name);
            if (id == SIZE_MAX) {
                id = x->hosts.len;
                cg_translate__htab_add(&x->host_ix, cg_hash_str(CG_HASH_SEED, name), id);
                cg_vec_push(&x->hosts, name);
            }
            x->http_host[x->http_first[w] + h] = id;
        }
    }
    for (size_t i = 0; i < t->servers.len; i++) {
        uint16_t port = t->servers.items[i].port;
        x->own_ports[port / 8] |= (uint8_t)(1u << (port % 8));
    }
    x->serving = cg_xcalloc(rs->nclusters, sizeof(*x->serving));
    x->nclusters = rs->nclusters;
    return x;
}

static void edge_ix_free(edge_ix_t *x)
{
    if (x == NULL) return;
    free(x->clusters);
    free(x->live);
    free(x->workload);
    free(x->http_first);
    free(x->http_host);
    cg_translate__htab_free(&x->host_ix);
    cg_vec_free(&x->hosts);
    for (size_t i = 0; i < x->nclusters; i++) free(x->serving[i].items);
    free(x->serving);
    free(x);
}

/* The Clusters called name, in resource order: [*first, return value) of edge_ix(t)->clusters. */
static size_t clusters_named(tx_t *t, const char *name, size_t *first)
{
    edge_ix_t *x = edge_ix(t);
    return cg_translate__by_name_run(x->clusters, t->rs->nclusters, name, first);
}

static const cg_model_cluster_t *find_cluster(tx_t *t, const char *name)
{
    size_t first, end = clusters_named(t, name, &first);
    return end > first ? &t->rs->clusters[t->edge->clusters[first].index] : NULL;
}

static int serving_order(const void *a, const void *b)
{
    const serving_t *x = a, *y = b;
    if (x->host != y->host) return x->host < y->host ? -1 : 1;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static void add_serving(serving_vec_t *v, const edge_ix_t *x, const cg_resource_set_t *rs,
                        const cg_model_cluster_t *c, const ginst_t *gi)
{
    for (size_t w = 0; w < x->nworkload; w++) {
        const cg_model_gateway_t *gw = &rs->gateways[x->workload[w]];
        if (!selects(gw, c->metadata.name, gi->namespace_, &gi->labels)) continue;
        for (size_t h = 0; h < gw->spec.nhttp; h++) {
            serving_t sv = {x->http_host[x->http_first[w] + h],
                            v->len,
                            gi->address,
                            gw->spec.http[h].port,
                            gi->namespace_,
                            gi->mtls_port};
            cg_vec_push(v, sv);
        }
    }
}

/* How the gateway instances of cluster c (its static spec.gateways, then live registrations)
 * serve hostnames: worked out once per cluster, however many destinations ask. */
static const cluster_serving_t *cluster_serving(tx_t *t, const cg_model_cluster_t *c)
{
    edge_ix_t *x = edge_ix(t);
    cluster_serving_t *cs = &x->serving[c - t->rs->clusters];
    if (cs->built) return cs;
    serving_vec_t v = {0};
    for (size_t i = 0; i < c->spec.ngateways; i++) {
        const cg_model_cluster_gateway_t *g = &c->spec.gateways[i];
        ginst_t gi = {
            c->metadata.name, g->namespace_, g->address, {g->labels, NULL, g->nlabels}, 0};
        add_serving(&v, x, t->rs, c, &gi);
    }
    size_t nstatic = v.len;
    size_t first, end = cg_translate__by_name_run(x->live, x->nlive, c->metadata.name, &first);
    for (size_t i = first; i < end; i++) {
        const cg_instance_t *l = &t->live[x->live[i].index];
        ginst_t gi = {
            l->cluster, l->namespace_, l->address, {NULL, l->labels, l->nlabels}, l->mtls_port};
        add_serving(&v, x, t->rs, c, &gi);
    }
    if (v.len > 1) qsort(v.items, v.len, sizeof(*v.items), serving_order);
    /* A live instance that serves a host as a static gateway does (the same address, Gateway
     * port and namespace: the same Gateways select it) is that gateway: its mTLS port holds
     * for the static entry too, so the two make one endpoint, not a plain one and an mTLS one.
     * An instance no Gateway selects, or of another namespace, changes nothing. Entries of a
     * host are adjacent, static ones first (seq). */
    for (size_t i = 0; i < v.len;) {
        size_t run = i;
        while (run < v.len && v.items[run].host == v.items[i].host) run++;
        for (size_t s = i; s < run && v.items[s].seq < nstatic; s++)
            for (size_t l = s + 1; l < run; l++) {
                const serving_t *lv = &v.items[l];
                serving_t *sv = &v.items[s];
                if (lv->seq >= nstatic && lv->mtls_port && lv->port == sv->port &&
                    !strcmp(lv->address, sv->address) &&
                    cg_str_same(lv->namespace_, sv->namespace_)) {
                    sv->mtls_port = lv->mtls_port;
                    break;
                }
            }
        i = run;
    }
    *cs = (cluster_serving_t){1, v.items, v.len};
    return cs;
}

static int own_listener(const tx_t *t, const char *address, int64_t port)
{
    if (strcmp(address, t->inst->address) != 0) return 0;
    return port >= 0 && port <= UINT16_MAX && (t->edge->own_ports[port / 8] >> (port % 8) & 1);
}

/* ---- failover order ---- */

/* How a destination ranks its clusters: the server's failoverSettings and the regions an edge
 * in the instance's region tries in turn (its own, then where regionalFailover sends it, then
 * where that one's entry sends it, ...). */
typedef struct failover_order {
    const cg_model_failover_settings_t *fs; /* NULL: own region 0, every other region 1 */
    const char *chain[CG_MODEL_MAX_REGIONAL_FAILOVER + 1];
    size_t nchain;
} failover_order_t;

static int region_has_cluster(const tx_t *t, const char *region)
{
    for (size_t c = 0; c < t->rs->nclusters; c++)
        if (strcmp(t->rs->clusters[c].spec.locality.region, region) == 0) return 1;
    return 0;
}

/* Follows regionalFailover from the instance's region; a region already on the way ends it
 * (a cycle), so it takes at most one step per entry. */
static void failover_order(tx_t *t, failover_order_t *o, const cg_model_failover_settings_t *fs,
                           size_t server)
{
    o->fs = fs;
    o->nchain = 0;
    if (t->region == NULL) return;
    o->chain[o->nchain++] = t->region;
    for (size_t step = 0; fs != NULL && step < fs->nregional_failover; step++) {
        const char *at = o->chain[o->nchain - 1], *next = NULL;
        for (size_t i = 0; i < fs->nregional_failover && next == NULL; i++)
            if (strcmp(fs->regional_failover[i].from, at) == 0) next = fs->regional_failover[i].to;
        for (size_t k = 0; next != NULL && k < o->nchain; k++)
            if (strcmp(o->chain[k], next) == 0) next = NULL;
        if (next == NULL) break;
        if (!region_has_cluster(t, next)) {
            const cg_snap_server_t *s = &t->servers.items[server];
            warn(t, "Gateway %s server %s: regionalFailover sends %s to %s, which no Cluster is in",
                 s->gateway, s->name, at, next);
        }
        o->chain[o->nchain++] = next;
    }
}

/* A cluster's value of a failoverPriority key: the well-known topology keys are its locality,
 * other keys its metadata.labels; absent is "" (Istio compares absent labels as empty). */
static const char *failover_label(const cg_model_cluster_t *c, const char *key)
{
    const char *v;
    if (strcmp(key, "topology.kubernetes.io/region") == 0) {
        v = c->spec.locality.region;
    } else if (strcmp(key, "topology.kubernetes.io/zone") == 0) {
        v = c->spec.locality.zone;
    } else {
        labels_view_t lv = {c->metadata.labels, NULL, c->metadata.nlabels};
        v = label_get(&lv, key);
    }
    return v ? v : "";
}

/* The rank of cluster c, lower first. Region tier: own region 0, then the regionalFailover
 * chain, then every other region (topologyChoice LOCALITY splits the own region by zone).
 * failoverPriority with N labels: N minus how many leading labels the cluster shares with the
 * instance's Cluster, within each region tier; given without regionalFailover it alone ranks
 * (Istio), and topologyChoice is ignored (Tetrate). Not yet dense: failover_levels numbers
 * the ranks a destination uses. */
static uint32_t cluster_rank(const tx_t *t, const failover_order_t *o, const cg_model_cluster_t *c)
{
    const char *region = c->spec.locality.region;
    const cg_model_failover_settings_t *fs = o->fs;
    if (t->region == NULL) return 0; /* the instance's region is unknown: no preference */
    if (fs == NULL) return strcmp(region, t->region) != 0;
    size_t nlabels = fs->nfailover_priority, k = 0;
    uint32_t tier = 0;
    if (fs->nregional_failover || nlabels == 0) {
        int zones = fs->locality && nlabels == 0;
        while (k < o->nchain && strcmp(o->chain[k], region) != 0) k++;
        tier = (uint32_t)k + (uint32_t)(zones && k > 0);
        if (k == 0 && zones && !cg_str_same(c->spec.locality.zone, t->own->spec.locality.zone))
            tier = 1;
    }
    size_t matched = 0;
    while (matched < nlabels && strcmp(failover_label(c, fs->failover_priority[matched]),
                                       failover_label(t->own, fs->failover_priority[matched])) == 0)
        matched++;
    return tier * (uint32_t)(nlabels + 1) + (uint32_t)(nlabels - matched);
}

static int u32_order(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/* With failoverSettings, the ranks d's endpoints have become priorities 0, 1, ... in order (a
 * step no cluster fills takes no level, as Istio numbers them). The balancer has
 * CG_LB_MAX_PRIORITIES levels: ranks past them all go into the last one, with a warning. */
static void number_levels(tx_t *t, cg_snap_destination_t *d)
{
    if (d->nendpoints == 0) return;
    uint32_t *ranks = cg_xmalloc(d->nendpoints * sizeof(*ranks));
    for (size_t e = 0; e < d->nendpoints; e++) ranks[e] = d->endpoints[e].priority;
    qsort(ranks, d->nendpoints, sizeof(*ranks), u32_order);
    size_t nlevels = 0;
    for (size_t e = 0; e < d->nendpoints; e++)
        if (nlevels == 0 || ranks[nlevels - 1] != ranks[e]) ranks[nlevels++] = ranks[e];
    for (size_t e = 0; e < d->nendpoints; e++) {
        const uint32_t *at =
            bsearch(&d->endpoints[e].priority, ranks, nlevels, sizeof(*ranks), u32_order);
        size_t level = (size_t)(at - ranks);
        d->endpoints[e].priority =
            (uint32_t)(level < CG_LB_MAX_PRIORITIES ? level : CG_LB_MAX_PRIORITIES - 1);
    }
    if (nlevels > CG_LB_MAX_PRIORITIES)
        warn(t,
             "destination %s: failoverSettings make %zu levels, the balancer has %d: levels %d "
             "to %zu share priority %d",
             d->name, nlevels, CG_LB_MAX_PRIORITIES, CG_LB_MAX_PRIORITIES - 1, nlevels - 1,
             CG_LB_MAX_PRIORITIES - 1);
    free(ranks);
}

static void failover_levels(tx_t *t, cg_snap_destination_t *d, const failover_order_t *o)
{
    if (o->fs != NULL) number_levels(t, d);
}

/* ---- east-west failover ---- */

/* Where a service route fails over to when every local endpoint has failed: the east-west
 * gateways of other clusters that expose a Service of the same namespace and hostname (the
 * same service), each an endpoint at a lower priority than every local one, ranked as the edge
 * ranks clusters (its own region first, then failoverSettings' order or every other region).
 * The hop is mTLS to the gateway's mesh port, so an instance without a mesh identity has none;
 * the request carries the Service's hostname as Host, which the gateway routes on. */
typedef struct ew_target {
    const char *address, *namespace_; /* the east-west gateway's */
    uint16_t port;                    /* its mesh port */
    const char *host;                 /* the remote Service's hostname */
    const cg_model_cluster_t *cluster;
} ew_target_t;

typedef CG_VEC(ew_target_t) ew_targets_t;

static void eastwest_targets(tx_t *t, const char *ns, size_t nslen, const char *fqdn,
                             ew_targets_t *out)
{
    const cg_resource_set_t *rs = t->rs;
    if (!t->inst->mtls_port || rs->nworkspace_settings == 0) return;
    edge_ix_t *x = edge_ix(t);
    for (size_t i = 0; i < rs->nservices; i++) {
        const cg_model_service_t *s = &rs->services[i];
        const char *sns = s->metadata.namespace_;
        if (strcmp(s->metadata.cluster, t->inst->cluster) == 0 || strlen(sns) != nslen ||
            strncmp(sns, ns, nslen) != 0 || strcasecmp(s->spec.hostname, fqdn) != 0)
            continue;
        const cg_model_cluster_t *c = find_cluster(t, s->metadata.cluster);
        if (c == NULL) continue; /* no Cluster: no region, no gateways */
        for (size_t g = 0; g < c->spec.ngateways; g++) {
            const cg_model_cluster_gateway_t *gw = &c->spec.gateways[g];
            labels_view_t lv = {gw->labels, NULL, gw->nlabels};
            if (eastwest_exposes(rs, c->metadata.name, gw->namespace_, &lv, s))
                cg_vec_push(out, ((ew_target_t){gw->address, gw->namespace_, DEFAULT_MESH_PORT,
                                                s->spec.hostname, c}));
        }
        size_t first, end = cg_translate__by_name_run(x->live, x->nlive, c->metadata.name, &first);
        for (size_t k = first; k < end; k++) {
            const cg_instance_t *l = &t->live[x->live[k].index];
            labels_view_t lv = {NULL, l->labels, l->nlabels};
            if (l->mtls_port && eastwest_exposes(rs, c->metadata.name, l->namespace_, &lv, s))
                cg_vec_push(out, ((ew_target_t){l->address, l->namespace_, l->mtls_port,
                                                s->spec.hostname, c}));
        }
    }
}

static void eastwest_endpoints(tx_t *t, cg_snap_destination_t *d, const ew_targets_t *ew,
                               const failover_order_t *o)
{
    for (size_t i = 0; i < ew->len; i++) {
        const ew_target_t *e = &ew->items[i];
        const cg_model_cluster_t *c = e->cluster;
        cg_snap_endpoint_t *ep =
            add_endpoint(t, d, e->address, e->port, c->metadata.name, c->spec.locality.region,
                         c->spec.locality.zone, 1, 1 + cluster_rank(t, o, c));
        if (ep == NULL) continue; /* the same gateway for another copy of the service */
        ep->identity = cg_xasprintf(CG_TLS_MESH_URI, e->namespace_, c->metadata.name);
        ep->host = cg_xstrdup(e->host);
    }
    number_levels(t, d);
}

/* An east-west gateway's servers: one per hostname of the exposed Services of its cluster, on
 * the mesh port only, each routing to those Services' endpoints in this cluster and nowhere
 * else (a request that came through one east-west hop never takes another: no loop). */
static void eastwest_servers(tx_t *t, const cg_model_workspace_setting_t *ws,
                             const labels_view_t *mine)
{
    static const cg_model_http_server_t defaults; /* every setting at its documented default */
    const cg_instance_t *in = t->inst;
    if (!in->mtls_port) {
        warn(t,
             "WorkspaceSetting %s makes this instance an east-west gateway, which takes mTLS "
             "only: without a mesh identity (--identity) it serves nothing",
             ws->metadata.name);
        return;
    }
    cg_snap_policy_t pol;
    fill_policy(&pol, &defaults, CG_DEST_SERVICE);
    for (size_t i = 0; i < t->rs->nservices; i++) {
        const cg_model_service_t *s = &t->rs->services[i];
        if (!eastwest_exposes(t->rs, in->cluster, in->namespace_, mine, s)) continue;
        char *dname = cg_xasprintf("service:%s/%s", s->metadata.namespace_, s->spec.hostname);
        uint64_t key = cg_hash_str(CG_HASH_SEED, s->spec.hostname);
        size_t found = SIZE_MAX;
        for (size_t slot = SIZE_MAX, o;
             found == SIZE_MAX && cg_translate__htab_next(&t->server_ix, key, &slot, &o);)
            if (strcasecmp(t->servers.items[o].hostname, s->spec.hostname) == 0) found = o;
        size_t idx;
        if (found == SIZE_MAX) {
            new_dest(t, dname, CG_DEST_SERVICE, &pol, &idx);
            cg_snap_server_t sv = {
                .gateway = cg_xstrdup(ws->metadata.name),
                .name = cg_xasprintf("eastwest:%s/%s", s->metadata.namespace_, s->metadata.name),
                .port = in->mtls_port,
                .hostname = cg_xstrdup(s->spec.hostname),
                .nrules = 1,
                .rules = cg_xcalloc(1, sizeof(cg_snap_rule_t)),
                .east_west = 1,
            };
            sv.rules[0] = (cg_snap_rule_t){
                .action = CG_ACTION_ROUTE, .destination = idx, .timeout_ms = DEFAULT_TIMEOUT_MS};
            cg_translate__htab_add(&t->server_ix, key, t->servers.len);
            cg_vec_push(&t->servers, sv);
        } else {
            idx = t->servers.items[found].rules[0].destination;
            if (strcmp(t->dests.items[idx].name, dname) != 0) {
                warn(t,
                     "east-west: Service %s/%s has hostname %s, which %s already has: it is not "
                     "exposed",
                     s->metadata.namespace_, s->metadata.name, s->spec.hostname,
                     t->dests.items[idx].name + strlen("service:"));
                free(dname);
                continue;
            }
            free(dname);
        }
        cg_snap_destination_t *d = &t->dests.items[idx];
        for (size_t e = 0; e < s->spec.nendpoints; e++) {
            const cg_model_service_endpoint_t *ep = &s->spec.endpoints[e];
            add_endpoint(t, d, ep->address, (uint16_t)ep->port, s->metadata.cluster, NULL, NULL,
                         (uint32_t)ep->weight, 0);
        }
    }
}

static size_t service_dest(tx_t *t, const cg_model_service_dest_t *sd, size_t server,
                           const cg_model_http_server_t *srv)
{
    char base[600];
    if (sd->port)
        snprintf(base, sizeof(base), "service:%s:%lld", sd->host, (long long)sd->port);
    else
        snprintf(base, sizeof(base), "service:%s", sd->host);
    cg_snap_policy_t pol;
    fill_policy(&pol, srv, CG_DEST_SERVICE);
    const char *slash = strchr(sd->host, '/');
    size_t nslen = (size_t)(slash - sd->host);
    const char *fqdn = slash + 1;
    ew_targets_t ew = {0};
    eastwest_targets(t, sd->host, nslen, fqdn, &ew);
    /* failing over needs failures seen: TSB adds outlier detection with east-west failover */
    if (ew.len && !srv->outlier_detection)
        pol.outlier.consecutive_gateway_errors = cg_lb_outlier_defaults.consecutive_gateway_errors;
    const cg_model_failover_settings_t *fs = ew.len ? srv->failover_settings : NULL;
    char *name;
    size_t idx = find_dest(t, base, &pol, fs, server, &name);
    if (idx != SIZE_MAX) {
        cg_vec_free(&ew);
        return idx;
    }
    cg_snap_destination_t *d = new_dest(t, name, CG_DEST_SERVICE, &pol, &idx);
    t->dest_aux.items[idx].failover = fs;
    size_t first, end = services_named(t, sd->host, nslen, fqdn, &first);
    int found = end > first;
    for (size_t i = first; i < end; i++) {
        const cg_model_service_t *s = &t->rs->services[t->services[i].index];
        for (size_t e = 0; e < s->spec.nendpoints; e++) {
            const cg_model_service_endpoint_t *ep = &s->spec.endpoints[e];
            if (sd->port && ep->port != sd->port) continue;
            add_endpoint(t, d, ep->address, (uint16_t)ep->port, s->metadata.cluster, NULL, NULL,
                         (uint32_t)ep->weight, 0);
        }
    }
    if (ew.len) {
        failover_order_t o;
        failover_order(t, &o, fs, server);
        eastwest_endpoints(t, d, &ew, &o);
        cg_vec_free(&ew);
    }
    if (!found)
        warn(t, "service %s not found in cluster %s", sd->host, t->inst->cluster);
    else if (d->nendpoints == 0 && sd->port)
        warn(t, "service %s in cluster %s has no endpoint on port %lld", sd->host, t->inst->cluster,
             (long long)sd->port);
    else if (d->nendpoints == 0)
        warn(t, "service %s in cluster %s has no endpoints", sd->host, t->inst->cluster);
    return idx;
}

/* Adds to d the endpoints of cluster c serving a hostname (host: its host_id): instances
 * selected by a workload Gateway (one that does not route to clusters) with an http[] server
 * for the hostname, at c's rank in order o. Returns how many endpoints it contributed. */
static size_t cluster_endpoints(tx_t *t, cg_snap_destination_t *d, const cg_model_cluster_t *c,
                                size_t host, const failover_order_t *o)
{
    if (host == SIZE_MAX) return 0; /* no workload Gateway serves it */
    size_t before = d->nendpoints;
    const char *region = c->spec.locality.region;
    uint32_t priority = cluster_rank(t, o, c);
    const cluster_serving_t *cs = cluster_serving(t, c);
    size_t lo = 0, hi = cs->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cs->items[mid].host < host)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < cs->n && cs->items[i].host == host; i++) {
        const serving_t *sv = &cs->items[i];
        if (own_listener(t, sv->address, sv->port)) continue;
        /* both ends have a mesh identity: the hop is mTLS, to the instance's mTLS port, and the
         * peer must prove it is of this cluster (the SAN its identity carries) */
        int mtls = t->inst->mtls_port && sv->mtls_port;
        cg_snap_endpoint_t *ep =
            add_endpoint(t, d, sv->address, mtls ? sv->mtls_port : (uint16_t)sv->port,
                         c->metadata.name, region, c->spec.locality.zone, 1, priority);
        if (ep && mtls)
            ep->identity = cg_xasprintf(CG_TLS_MESH_URI, sv->namespace_, c->metadata.name);
    }
    return d->nendpoints - before;
}

static void append_labels(cg_buf_t *b, const cg_model_kv_t *kv, size_t n)
{
    cg_buf_append_str(b, "{");
    for (size_t i = 0; i < n; i++)
        cg_buf_printf(b, "%s%s=%s", i ? "," : "", kv[i].key, kv[i].value);
    cg_buf_append_str(b, "}");
}

static int cluster_has_labels(const cg_model_cluster_t *c, const cg_model_cluster_ref_t *ref)
{
    labels_view_t v = {c->metadata.labels, NULL, c->metadata.nlabels};
    return labels_subset(ref->labels, ref->nlabels, &v);
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* d's weights while weighted_dest builds them. */
typedef struct weights_ix {
    cg_translate__htab_t by_cluster;
    size_t cap;
} weights_ix_t;

static void add_weight(cg_snap_destination_t *d, weights_ix_t *ix, const char *cluster, uint64_t w)
{
    uint64_t h = cg_hash_str(CG_HASH_SEED, cluster);
    for (size_t slot = SIZE_MAX, i; cg_translate__htab_next(&ix->by_cluster, h, &slot, &i);) {
        if (strcmp(d->weights[i].cluster, cluster) == 0) {
            uint64_t sum = d->weights[i].weight + w;
            d->weights[i].weight = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
            return;
        }
    }
    if (d->nweights == ix->cap) {
        ix->cap = ix->cap ? 2 * ix->cap : 4;
        d->weights = cg_xrealloc(d->weights, ix->cap * sizeof(*d->weights));
    }
    cg_translate__htab_add(&ix->by_cluster, h, d->nweights);
    d->weights[d->nweights++] =
        (cg_snap_cluster_weight_t){cg_xstrdup(cluster), w > UINT32_MAX ? UINT32_MAX : (uint32_t)w};
}

/* Weighted: every entry's weight goes to the clusters it names; a labels entry's weight is
 * split evenly across the clusters it matches (all weights scaled by the lcm of the split
 * sizes so the split stays exact). Clusters without endpoints keep their share: the proxy
 * answers 503 for it, as a strict split requires. */
static void weighted_dest(tx_t *t, cg_snap_destination_t *d, const cg_model_cluster_dest_t *cd,
                          const char *hostname, const failover_order_t *o)
{
    const cg_resource_set_t *rs = t->rs;
    weights_ix_t ix = {0};
    uint64_t scale = 1;
    for (size_t i = 0; i < cd->nclusters; i++) {
        const cg_model_cluster_ref_t *ref = &cd->clusters[i];
        if (ref->name) continue;
        uint64_t m = 0;
        for (size_t c = 0; c < rs->nclusters; c++)
            m += (uint64_t)cluster_has_labels(&rs->clusters[c], ref);
        if (m > 1 && scale <= 1000) scale = scale / gcd(scale, m) * m;
    }
    for (size_t i = 0; i < cd->nclusters; i++) {
        const cg_model_cluster_ref_t *ref = &cd->clusters[i];
        uint64_t w = (uint64_t)ref->weight * scale;
        if (ref->name) {
            add_weight(d, &ix, ref->name, w);
            if (find_cluster(t, ref->name) == NULL)
                warn(t,
                     "weighted cluster %s has no Cluster resource: its share of %s is answered "
                     "with 503",
                     ref->name, hostname);
            continue;
        }
        uint64_t m = 0;
        for (size_t c = 0; c < rs->nclusters; c++)
            m += (uint64_t)cluster_has_labels(&rs->clusters[c], ref);
        if (m == 0) {
            cg_buf_t b = {0};
            cg_buf_append_str(&b, "labels:");
            append_labels(&b, ref->labels, ref->nlabels);
            cg_buf_append(&b, "", 1);
            add_weight(d, &ix, cg_buf_data(&b), w);
            warn(t, "cluster selector %s matches no Cluster: its share of %s is answered with 503",
                 cg_buf_data(&b) + 7, hostname);
            cg_buf_free(&b);
            continue;
        }
        for (size_t c = 0; c < rs->nclusters; c++)
            if (cluster_has_labels(&rs->clusters[c], ref))
                add_weight(d, &ix, rs->clusters[c].metadata.name, (w + m / 2) / m);
    }
    cg_translate__htab_free(&ix.by_cluster);
    size_t host = host_id(edge_ix(t), hostname);
    for (size_t i = 0; i < d->nweights; i++) {
        const cg_model_cluster_t *c = find_cluster(t, d->weights[i].cluster);
        if (c != NULL && cluster_endpoints(t, d, c, host, o) == 0)
            warn(t, "weighted cluster %s has no Gateway serving %s: its share is answered with 503",
                 c->metadata.name, hostname);
    }
}

static void named_dest(tx_t *t, cg_snap_destination_t *d, const cg_model_cluster_dest_t *cd,
                       const char *hostname, const failover_order_t *o)
{
    const cg_resource_set_t *rs = t->rs;
    CG_VEC(const cg_model_cluster_t *) cand = {0};
    uint8_t *picked = cg_xcalloc(rs->nclusters, 1);
    for (size_t i = 0; i < cd->nclusters; i++) {
        const cg_model_cluster_ref_t *ref = &cd->clusters[i];
        size_t before = cand.len;
        /* by name: the run of that name in the cluster index; by labels: every Cluster */
        size_t first = 0, end = ref->name ? clusters_named(t, ref->name, &first) : rs->nclusters;
        for (size_t k = first; k < end; k++) {
            size_t c = ref->name ? t->edge->clusters[k].index : k;
            if (picked[c] || (!ref->name && !cluster_has_labels(&rs->clusters[c], ref))) continue;
            picked[c] = 1;
            cg_vec_push(&cand, &rs->clusters[c]);
        }
        if (cand.len == before && ref->name) {
            warn(t, "named cluster %s has no Cluster resource", ref->name);
        } else if (cand.len == before) {
            cg_buf_t b = {0};
            append_labels(&b, ref->labels, ref->nlabels);
            cg_buf_append(&b, "", 1);
            warn(t, "cluster selector %s matches no Cluster", cg_buf_data(&b));
            cg_buf_free(&b);
        }
    }
    size_t host = host_id(edge_ix(t), hostname);
    for (size_t k = 0; k < cand.len; k++)
        if (cluster_endpoints(t, d, cand.items[k], host, o) == 0)
            warn(t, "named cluster %s has no Gateway serving %s", cand.items[k]->metadata.name,
                 hostname);
    cg_vec_free(&cand);
    free(picked);
}

static size_t cluster_dest(tx_t *t, const cg_model_cluster_dest_t *cd, size_t server,
                           const cg_model_http_server_t *srv)
{
    const char *hostname = srv->hostname;
    int weighted = 0;
    for (size_t i = 0; i < cd->nclusters; i++) weighted |= cd->clusters[i].has_weight;
    cg_dest_mode_t mode = cd->nclusters == 0 ? CG_DEST_AUTO
                          : weighted         ? CG_DEST_WEIGHTED
                                             : CG_DEST_NAMED;
    cg_buf_t base = {0};
    cg_buf_printf(&base, "clusters:%s", hostname);
    if (mode != CG_DEST_AUTO)
        cg_buf_append_str(&base, mode == CG_DEST_WEIGHTED ? ":weighted:" : ":named:");
    for (size_t i = 0; i < cd->nclusters; i++) {
        const cg_model_cluster_ref_t *ref = &cd->clusters[i];
        if (i) cg_buf_append_str(&base, ",");
        if (ref->name)
            cg_buf_append_str(&base, ref->name);
        else
            append_labels(&base, ref->labels, ref->nlabels);
        if (weighted) cg_buf_printf(&base, "=%lld", (long long)ref->weight);
    }
    cg_buf_append(&base, "", 1);
    cg_snap_policy_t pol;
    fill_policy(&pol, srv, mode);
    /* weights split strictly: there is no order to fail over in */
    const cg_model_failover_settings_t *fs =
        mode == CG_DEST_WEIGHTED ? NULL : srv->failover_settings;
    char *name;
    size_t idx = find_dest(t, cg_buf_data(&base), &pol, fs, server, &name);
    cg_buf_free(&base);
    if (mode == CG_DEST_WEIGHTED && srv->failover_settings != NULL)
        warn(t, "Gateway %s server %s: failoverSettings do not apply to its weighted route",
             t->servers.items[server].gateway, t->servers.items[server].name);
    if (idx != SIZE_MAX) return idx;
    cg_snap_destination_t *d = new_dest(t, name, mode, &pol, &idx);
    t->dest_aux.items[idx].failover = fs;
    failover_order_t o;
    failover_order(t, &o, fs, server);
    if (mode == CG_DEST_AUTO) {
        size_t host = host_id(edge_ix(t), hostname);
        for (size_t c = 0; c < t->rs->nclusters; c++)
            cluster_endpoints(t, d, &t->rs->clusters[c], host, &o);
        if (d->nendpoints == 0) warn(t, "no cluster has a Gateway serving %s", hostname);
    } else if (mode == CG_DEST_NAMED) {
        named_dest(t, d, cd, hostname, &o);
    } else {
        weighted_dest(t, d, cd, hostname, &o);
    }
    failover_levels(t, d, &o);
    return idx;
}

/* ---- servers and rules ---- */

static void copy_strmatch(cg_snap_strmatch_t *dst, const cg_model_strmatch_t *src)
{
    const char *v;
    int k = cg_model_strmatch_kind(src, &v);
    dst->kind = k == 0 ? CG_MATCH_EXACT : k == 1 ? CG_MATCH_PREFIX : CG_MATCH_REGEX;
    dst->value = cg_xstrdup(v);
}

static void build_rule(cg_snap_rule_t *r, const cg_model_rule_t *m)
{
    r->nmatches = m->nmatch;
    r->matches = m->nmatch ? cg_xcalloc(m->nmatch, sizeof(*r->matches)) : NULL;
    for (size_t i = 0; i < m->nmatch; i++) {
        const cg_model_match_t *mm = &m->match[i];
        cg_snap_match_t *sm = &r->matches[i];
        if (mm->uri) {
            sm->has_uri = 1;
            copy_strmatch(&sm->uri, mm->uri);
        }
        sm->nheaders = mm->nheaders;
        sm->headers = mm->nheaders ? cg_xcalloc(mm->nheaders, sizeof(*sm->headers)) : NULL;
        for (size_t h = 0; h < mm->nheaders; h++) {
            sm->headers[h].name = cg_xstrdup(mm->headers[h].name);
            copy_strmatch(&sm->headers[h].match, &mm->headers[h].match);
        }
    }
    r->timeout_ms = (uint32_t)m->timeout_ms;
    if (m->redirect) {
        r->action = CG_ACTION_REDIRECT;
        r->redirect.scheme = xstrdup_or_null(m->redirect->scheme);
        r->redirect.authority = xstrdup_or_null(m->redirect->authority);
        r->redirect.uri = xstrdup_or_null(m->redirect->uri);
        r->redirect.port = m->redirect->port;
        r->redirect.redirect_code =
            m->redirect->redirect_code ? m->redirect->redirect_code : DEFAULT_REDIRECT_CODE;
    } else if (m->direct_response) {
        r->action = CG_ACTION_DIRECT;
        r->direct.status = m->direct_response->status;
        r->direct.body = xstrdup_or_null(m->direct_response->body);
    } else {
        r->action = CG_ACTION_ROUTE;
    }
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = cg_xvasprintf(fmt, ap);
    va_end(ap);
    return text;
}

static char **copy_strs(char *const *v, size_t n)
{
    char **out = cg_xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) out[i] = cg_xstrdup(v[i]);
    return out;
}

static int port_bit(const uint8_t *bits, int64_t port)
{
    return bits[port / 8] >> (port % 8) & 1;
}

/* A port is TLS or plain text on an instance, whichever Gateways its servers come from. */
static int port_mixes(tx_t *t, const cg_model_gateway_t *gw, size_t h)
{
    const cg_model_http_server_t *srv = &gw->spec.http[h];
    int tls = cg_model_http_is_tls(srv);
    if (!port_bit(tls ? t->plain_ports : t->tls_ports, srv->port)) return 0;
    for (size_t o = 0; o < t->servers.len; o++) {
        const cg_snap_server_t *other = &t->servers.items[o];
        if (other->port != srv->port || (other->tls != NULL) == tls) continue;
        cg_buf_printf(t->errors,
                      "%s:%d:%d: spec.http[%zu].port: port %lld on this instance is served with%s "
                      "TLS by Gateway %s: a port is either TLS or plain text\n",
                      srv->pos.file, srv->pos.line, srv->pos.col, h, (long long)srv->port,
                      tls ? "out" : "", other->gateway);
        t->nerrors++;
        return 1;
    }
    return 0;
}

/* The snapshot's TLS settings of a server; NULL (with a warning) when its Secret is missing,
 * lacks what the mode needs, or may not go to this instance: that server is not served. Only a
 * Secret a selecting Gateway names enters the snapshot, and for a registered instance only when
 * that Gateway's workloadSelector names the instance's cluster. */
static cg_snap_tls_t *server_tls(tx_t *t, const cg_model_gateway_t *gw, size_t h)
{
    const cg_model_tls_t *m = gw->spec.http[h].tls;
    const cg_model_secret_t *sec = NULL;
    char *sid = NULL;
    if (m->secret_name != NULL) {
        const char *ns = gw->metadata.namespace_;
        sec = cg_model_find_secret(t->rs, ns, m->secret_name);
        sid = xasprintf("%s%s%s", ns ? ns : "", ns ? "/" : "", m->secret_name);
        /* a registered instance's namespace and labels are only claimed: the key goes to it
         * only when the Gateway selects its cluster, which its join token binds */
        const char *why = sec == NULL ? "does not exist"
                          : m->mode_v == CG_MODEL_TLS_MUTUAL && sec->ca == NULL
                              ? "has no cacert (mode MUTUAL)"
                          : t->inst->registered && gw->spec.workload_selector.cluster == NULL
                              ? "is sent to a registered instance only when the Gateway's "
                                "workloadSelector.cluster names its cluster"
                              : NULL;
        if (why != NULL) {
            char *gid = gateway_id(gw);
            warn(t, "Gateway %s http[%zu] (%s): Secret %s %s: the server is not served", gid, h,
                 gw->spec.http[h].name, sid, why);
            free(gid);
            free(sid);
            return NULL;
        }
        if (sec->warning) warn(t, "Secret %s: %s", sid, sec->warning);
    } else if (m->warning != NULL) {
        warn(t, "%s", m->warning);
    }
    cg_snap_tls_t *s = cg_xcalloc(1, sizeof(*s));
    s->mode = (uint8_t)m->mode_v;
    s->min_version = (uint8_t)m->min_v;
    s->max_version = (uint8_t)m->max_v;
    s->cipher_suites = copy_strs(m->cipher_suites, m->ncipher_suites);
    s->ncipher_suites = m->ncipher_suites;
    s->subject_alt_names = copy_strs(m->subject_alt_names, m->nsubject_alt_names);
    s->nsubject_alt_names = m->nsubject_alt_names;
    if (sec != NULL) {
        s->cert_pem = cg_xstrdup(sec->cert);
        s->key_pem = cg_xstrdup(sec->key);
        s->ca_pem = m->mode_v == CG_MODEL_TLS_MUTUAL ? cg_xstrdup(sec->ca) : NULL;
        s->secret = sid;
    } else {
        s->cert_file = cg_xstrdup(m->files->server_certificate);
        s->key_file = cg_xstrdup(m->files->private_key);
        s->ca_file =
            m->mode_v == CG_MODEL_TLS_MUTUAL ? cg_xstrdup(m->files->ca_certificates) : NULL;
    }
    return s;
}

static void add_servers(tx_t *t, const cg_model_gateway_t *gw)
{
    for (size_t h = 0; h < gw->spec.nhttp; h++) {
        const cg_model_http_server_t *srv = &gw->spec.http[h];
        int clash = port_mixes(t, gw, h);
        uint64_t key =
            cg_hash_str(cg_hash_bytes(CG_HASH_SEED, &srv->port, sizeof(srv->port)), srv->hostname);
        for (size_t slot = SIZE_MAX, o;
             !clash && cg_translate__htab_next(&t->server_ix, key, &slot, &o);) {
            const cg_snap_server_t *other = &t->servers.items[o];
            if (other->port != srv->port || strcmp(other->hostname, srv->hostname) != 0) continue;
            const cg_model_http_server_t *osrv =
                &t->server_gw.items[o]->spec.http[t->server_http.items[o]];
            cg_buf_printf(t->errors,
                          "%s:%d:%d: spec.http[%zu]: port %lld hostname %s on this instance is "
                          "also served by Gateway "
                          "%s (%s:%d:%d)\n",
                          srv->pos.file, srv->pos.line, srv->pos.col, h, (long long)srv->port,
                          srv->hostname, other->gateway, osrv->pos.file, osrv->pos.line,
                          osrv->pos.col);
            t->nerrors++;
            clash = 1;
        }
        if (clash) continue;
        cg_snap_tls_t *tls = NULL;
        if (cg_model_http_is_tls(srv) && (tls = server_tls(t, gw, h)) == NULL) continue;
        uint8_t *bits = tls ? t->tls_ports : t->plain_ports;
        bits[srv->port / 8] |= (uint8_t)(1u << (srv->port % 8));
        cg_snap_server_t s = {
            .tls = tls,
            .gateway = gateway_id(gw),
            .name = cg_xstrdup(srv->name),
            .port = (uint16_t)srv->port,
            .hostname = cg_xstrdup(srv->hostname),
            .nrules = srv->routing.nrules,
            .rules =
                cg_xcalloc(srv->routing.nrules ? srv->routing.nrules : 1, sizeof(cg_snap_rule_t)),
        };
        for (size_t r = 0; r < srv->routing.nrules; r++)
            build_rule(&s.rules[r], &srv->routing.rules[r]);
        cg_translate__htab_add(&t->server_ix, key, t->servers.len);
        cg_vec_push(&t->servers, s);
        cg_vec_push(&t->server_gw, gw);
        cg_vec_push(&t->server_http, h);
    }
}

/* Destinations are resolved once every server is known: the edge never targets itself. */
static void resolve_routes(tx_t *t)
{
    for (size_t i = 0; i < t->servers.len; i++) {
        const cg_model_http_server_t *srv =
            &t->server_gw.items[i]->spec.http[t->server_http.items[i]];
        for (size_t r = 0; r < srv->routing.nrules; r++) {
            const cg_model_route_t *route = srv->routing.rules[r].route;
            if (route == NULL) continue;
            size_t d = route->service_destination
                           ? service_dest(t, route->service_destination, i, srv)
                           : cluster_dest(t, route->cluster_destination, i, srv);
            t->servers.items[i].rules[r].destination = d; /* after the call: it may grow dests */
        }
    }
}

static void free_indexes(tx_t *t)
{
    cg_translate__htab_free(&t->warning_ix);
    cg_translate__htab_free(&t->server_ix);
    cg_translate__htab_free(&t->dest_ix);
    for (size_t i = 0; i < t->dest_aux.len; i++)
        cg_translate__htab_free(&t->dest_aux.items[i].endpoints);
    cg_vec_free(&t->dest_aux);
    free(t->services);
    edge_ix_free(t->edge);
    cg_vec_free(&t->server_gw);
    cg_vec_free(&t->server_http);
}

static void free_tx(tx_t *t)
{
    cg_snapshot_t tmp = {
        .servers = t->servers.items,
        .nservers = t->servers.len,
        .destinations = t->dests.items,
        .ndestinations = t->dests.len,
        .warnings = t->warnings.items,
        .nwarnings = t->warnings.len,
        .pool = t->pool,
    };
    cg_snapshot_t *heap = cg_xmalloc(sizeof(*heap));
    *heap = tmp;
    cg_snapshot_free(heap);
    free_indexes(t);
}

int cg_translate_instance_live(const cg_resource_set_t *rs, const cg_instance_t *inst,
                               const cg_instance_t *live, size_t nlive, uint64_t version,
                               cg_snapshot_t **out, cg_buf_t *errors)
{
    if (inst->cluster == NULL || inst->namespace_ == NULL || inst->address == NULL) {
        cg_buf_printf(errors, "instance: cluster, namespace and address are required\n");
        return CG_EINVAL;
    }
    tx_t t = {.rs = rs, .inst = inst, .live = live, .nlive = nlive, .errors = errors};
    labels_view_t mine = {NULL, inst->labels, inst->nlabels};
    size_t selected = 0;
    /* an east-west gateway serves the mesh port only: Gateways that select it are not served */
    const cg_model_workspace_setting_t *ew =
        eastwest_setting(rs, inst->cluster, inst->namespace_, &mine);
    for (size_t g = 0; g < rs->ngateways; g++) {
        if (!selects(&rs->gateways[g], inst->cluster, inst->namespace_, &mine)) continue;
        selected++;
        if (ew == NULL) {
            add_servers(&t, &rs->gateways[g]);
            continue;
        }
        char *gid = gateway_id(&rs->gateways[g]);
        warn(&t,
             "Gateway %s selects this instance, which WorkspaceSetting %s makes an east-west "
             "gateway (the mesh port only): the Gateway is not served here",
             gid, ew->metadata.name);
        free(gid);
    }
    if (t.nerrors) {
        free_tx(&t);
        return CG_EINVAL;
    }
    const cg_model_cluster_t *own = cg_model_find_cluster(rs, inst->cluster);
    t.own = own;
    t.region = own ? own->spec.locality.region : NULL;
    if (ew != NULL)
        eastwest_servers(&t, ew, &mine);
    else
        resolve_routes(&t);

    if (selected == 0 && ew == NULL)
        warn(&t, "no Gateway selects this instance (cluster %s, namespace %s)", inst->cluster,
             inst->namespace_);
    if (own == NULL)
        warn(&t, "cluster %s has no Cluster resource: the instance's region is unknown",
             inst->cluster);

    cg_snapshot_t *s = cg_xcalloc(1, sizeof(*s));
    s->version = version;
    s->cluster = cg_xstrdup(inst->cluster);
    s->namespace_ = cg_xstrdup(inst->namespace_);
    s->address = cg_xstrdup(inst->address);
    s->nlabels = inst->nlabels;
    s->labels = inst->nlabels ? cg_xcalloc(inst->nlabels, sizeof(*s->labels)) : NULL;
    for (size_t i = 0; i < inst->nlabels; i++) {
        s->labels[i].key = cg_xstrdup(inst->labels[i].key);
        s->labels[i].value = cg_xstrdup(inst->labels[i].value);
    }
    s->region = own ? xstrdup_or_null(own->spec.locality.region) : NULL;
    s->zone = own ? xstrdup_or_null(own->spec.locality.zone) : NULL;
    s->servers = t.servers.items;
    s->nservers = t.servers.len;
    s->destinations = t.dests.items;
    s->ndestinations = t.dests.len;
    s->warnings = t.warnings.items;
    s->nwarnings = t.warnings.len;
    s->pool = t.pool;
    free_indexes(&t);
    *out = s;
    return 0;
}

int cg_translate_instance(const cg_resource_set_t *rs, const cg_instance_t *inst, uint64_t version,
                          cg_snapshot_t **out, cg_buf_t *errors)
{
    return cg_translate_instance_live(rs, inst, NULL, 0, version, out, errors);
}
