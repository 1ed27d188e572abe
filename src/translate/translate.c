/* Translation of resources into one instance's snapshot: which Gateways select it, what each
 * rule does, and which endpoints every destination has. */
#include "translate/translate.h"

#include "core/err.h"
#include "core/list.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 5000
#define DEFAULT_TIMEOUT_MS         15000
#define DEFAULT_REDIRECT_CODE      301

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
} ginst_t;

typedef struct tx {
    const cg_resource_set_t *rs;
    const cg_instance_t *inst;
    const cg_instance_t *live;
    size_t nlive;
    cg_buf_t *errors;
    int nerrors;
    const char *region; /* of the instance's own cluster: its endpoints get priority 0 */
    CG_VEC(cg_snap_server_t) servers;
    CG_VEC(cg_snap_destination_t) dests;
    CG_VEC(char *) warnings;
    CG_VEC(size_t) server_http; /* per server: index of its http[] in its Gateway */
    CG_VEC(const cg_model_gateway_t *) server_gw;
} tx_t;

static char *xstrdup_or_null(const char *s)
{
    return s ? cg_xstrdup(s) : NULL;
}

static void warn(tx_t *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(tx_t *t, const char *fmt, ...)
{
    cg_buf_t b = {0};
    va_list ap;
    va_start(ap, fmt);
    cg_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cg_buf_append(&b, "", 1);
    for (size_t i = 0; i < t->warnings.len; i++) {
        if (strcmp(t->warnings.items[i], cg_buf_data(&b)) == 0) {
            cg_buf_free(&b);
            return;
        }
    }
    cg_vec_push(&t->warnings, cg_xstrdup(cg_buf_data(&b)));
    cg_buf_free(&b);
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

static int selects(const cg_model_gateway_t *gw, const char *cluster, const char *ns,
                   const labels_view_t *labels)
{
    const cg_model_workload_selector_t *ws = &gw->spec.workload_selector;
    if (ns == NULL || strcmp(ws->namespace_, ns) != 0) return 0;
    if (ws->cluster != NULL && (cluster == NULL || strcmp(ws->cluster, cluster) != 0)) return 0;
    return labels_subset(ws->labels, ws->nlabels, labels);
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
    if (srv->outlier_detection) {
        const cg_model_outlier_t *o = srv->outlier_detection;
        p->outlier.consecutive_gateway_errors = (uint32_t)o->consecutive_gateway_errors;
        p->outlier.interval_ms = (uint32_t)o->interval_ms;
        p->outlier.base_ejection_ms = (uint32_t)o->base_ejection_time_ms;
        p->outlier.max_ejection_ms = (uint32_t)o->max_ejection_time_ms;
        p->outlier.max_ejection_percent = (uint32_t)o->max_ejection_percent;
    }
    if (mode == CG_DEST_WEIGHTED || (mode == CG_DEST_SERVICE && !srv->outlier_detection))
        p->outlier.consecutive_gateway_errors = 0; /* off */
    p->health_check = cg_lb_hc_defaults;
    if (srv->health_check) {
        const cg_model_health_check_t *h = srv->health_check;
        p->health_check.enabled = (uint8_t)h->enabled;
        p->health_check.interval_ms = (uint32_t)h->interval_ms;
        p->health_check.timeout_ms = (uint32_t)h->timeout_ms;
        p->health_check.unhealthy_threshold = (uint32_t)h->unhealthy_threshold;
        p->health_check.healthy_threshold = (uint32_t)h->healthy_threshold;
    }
    if (mode == CG_DEST_WEIGHTED || (mode == CG_DEST_SERVICE && !srv->health_check))
        p->health_check.enabled = 0;
    p->overprovisioning =
        srv->failover ? (uint32_t)lround(srv->failover->overprovisioning_factor * 100) : 140;
}

static int policy_eq(const cg_snap_policy_t *a, const cg_snap_policy_t *b)
{
    const cg_lb_retry_cfg_t *r = &a->retry, *q = &b->retry;
    const cg_lb_outlier_cfg_t *o = &a->outlier, *u = &b->outlier;
    const cg_lb_hc_cfg_t *h = &a->health_check, *k = &b->health_check;
    return r->attempts == q->attempts && r->per_try_timeout_ms == q->per_try_timeout_ms &&
           r->retry_on == q->retry_on && r->backoff_base_ms == q->backoff_base_ms &&
           r->backoff_max_ms == q->backoff_max_ms && r->budget_percent == q->budget_percent &&
           r->budget_min == q->budget_min && r->buffer_limit == q->buffer_limit &&
           o->consecutive_gateway_errors == u->consecutive_gateway_errors &&
           o->interval_ms == u->interval_ms && o->base_ejection_ms == u->base_ejection_ms &&
           o->max_ejection_ms == u->max_ejection_ms &&
           o->max_ejection_percent == u->max_ejection_percent && h->enabled == k->enabled &&
           h->interval_ms == k->interval_ms && h->timeout_ms == k->timeout_ms &&
           h->unhealthy_threshold == k->unhealthy_threshold &&
           h->healthy_threshold == k->healthy_threshold &&
           a->overprovisioning == b->overprovisioning;
}

/* Destinations are named by what they send to, so equal routes share one (and the name stays
 * stable across snapshots, which lets the proxy keep endpoint state). Servers with different
 * policies for the same targets get their own, named after the server. Returns the index of
 * an existing match, or SIZE_MAX with *name_out set to the name a new one must take. */
static size_t find_dest(const tx_t *t, const char *base, const cg_snap_policy_t *pol, size_t server,
                        char **name_out)
{
    *name_out = NULL;
    int taken = 0;
    for (size_t i = 0; i < t->dests.len; i++) {
        if (strcmp(t->dests.items[i].name, base) != 0) continue;
        if (policy_eq(&t->dests.items[i].policy, pol)) return i;
        taken = 1;
    }
    cg_buf_t b = {0};
    cg_buf_append_str(&b, base);
    if (taken) {
        const cg_snap_server_t *s = &t->servers.items[server];
        cg_buf_printf(&b, "@%s/%s", s->gateway, s->name);
        cg_buf_append(&b, "", 1);
        for (size_t i = 0; i < t->dests.len; i++) {
            if (strcmp(t->dests.items[i].name, cg_buf_data(&b)) == 0) {
                cg_buf_free(&b);
                return i; /* the same server's other rule */
            }
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
    cg_vec_push(&t->dests, d);
    *index = t->dests.len - 1;
    return &t->dests.items[*index];
}

static void add_endpoint(cg_snap_destination_t *d, const char *address, uint16_t port,
                         const char *cluster, const char *region, const char *zone, uint32_t weight,
                         uint32_t priority)
{
    for (size_t i = 0; i < d->nendpoints; i++)
        if (d->endpoints[i].port == port && strcmp(d->endpoints[i].address, address) == 0) return;
    d->endpoints = cg_xrealloc(d->endpoints, (d->nendpoints + 1) * sizeof(*d->endpoints));
    d->endpoints[d->nendpoints++] = (cg_snap_endpoint_t){
        .address = cg_xstrdup(address),
        .port = port,
        .cluster = xstrdup_or_null(cluster),
        .region = xstrdup_or_null(region),
        .zone = xstrdup_or_null(zone),
        .weight = weight ? weight : 1,
        .priority = priority,
    };
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
    char *name;
    size_t idx = find_dest(t, base, &pol, server, &name);
    if (idx != SIZE_MAX) return idx;
    cg_snap_destination_t *d = new_dest(t, name, CG_DEST_SERVICE, &pol, &idx);
    const char *slash = strchr(sd->host, '/');
    size_t nslen = (size_t)(slash - sd->host);
    const char *fqdn = slash + 1;
    int found = 0;
    for (size_t i = 0; i < t->rs->nservices; i++) {
        const cg_model_service_t *s = &t->rs->services[i];
        if (strcmp(s->metadata.cluster, t->inst->cluster) != 0) continue;
        if (strlen(s->metadata.namespace_) != nslen ||
            strncmp(s->metadata.namespace_, sd->host, nslen) != 0)
            continue;
        if (strcasecmp(s->spec.hostname, fqdn) != 0) continue;
        found = 1;
        for (size_t e = 0; e < s->spec.nendpoints; e++) {
            const cg_model_service_endpoint_t *ep = &s->spec.endpoints[e];
            if (sd->port && ep->port != sd->port) continue;
            add_endpoint(d, ep->address, (uint16_t)ep->port, s->metadata.cluster, NULL, NULL,
                         (uint32_t)ep->weight, 0);
        }
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

/* The gateway instances of a cluster: its static spec.gateways, then live registrations. */
static size_t cluster_instances(const tx_t *t, const cg_model_cluster_t *c, ginst_t **out)
{
    size_t n = 0;
    ginst_t *v = cg_xcalloc(c->spec.ngateways + t->nlive + 1, sizeof(*v));
    for (size_t i = 0; i < c->spec.ngateways; i++) {
        const cg_model_cluster_gateway_t *g = &c->spec.gateways[i];
        v[n++] =
            (ginst_t){c->metadata.name, g->namespace_, g->address, {g->labels, NULL, g->nlabels}};
    }
    for (size_t i = 0; i < t->nlive; i++) {
        const cg_instance_t *l = &t->live[i];
        if (l->cluster == NULL || l->address == NULL || strcmp(l->cluster, c->metadata.name) != 0)
            continue;
        v[n++] = (ginst_t){l->cluster, l->namespace_, l->address, {NULL, l->labels, l->nlabels}};
    }
    *out = v;
    return n;
}

static int own_listener(const tx_t *t, const char *address, int64_t port)
{
    if (t->inst->address == NULL || strcmp(address, t->inst->address) != 0) return 0;
    for (size_t i = 0; i < t->servers.len; i++)
        if (t->servers.items[i].port == port) return 1;
    return 0;
}

/* Adds to d the endpoints of cluster c serving hostname: instances selected by a workload
 * Gateway (one that does not route to clusters) with an http[] server for the hostname.
 * Returns how many endpoints it contributed. */
static size_t cluster_endpoints(tx_t *t, cg_snap_destination_t *d, const cg_model_cluster_t *c,
                                const char *hostname)
{
    size_t before = d->nendpoints;
    /* own region first; every other region is one remote priority (no failover order yet) */
    const char *region = c->spec.locality.region;
    uint32_t priority = t->region != NULL && strcmp(region, t->region) != 0 ? 1 : 0;
    ginst_t *gi;
    size_t ngi = cluster_instances(t, c, &gi);
    for (size_t i = 0; i < ngi; i++) {
        for (size_t g = 0; g < t->rs->ngateways; g++) {
            const cg_model_gateway_t *gw = &t->rs->gateways[g];
            if (cg_model_gateway_routes_to_clusters(gw)) continue;
            if (!selects(gw, c->metadata.name, gi[i].namespace_, &gi[i].labels)) continue;
            for (size_t h = 0; h < gw->spec.nhttp; h++) {
                const cg_model_http_server_t *srv = &gw->spec.http[h];
                if (strcmp(srv->hostname, hostname) != 0) continue;
                if (own_listener(t, gi[i].address, srv->port)) continue;
                add_endpoint(d, gi[i].address, (uint16_t)srv->port, c->metadata.name, region,
                             c->spec.locality.zone, 1, priority);
            }
        }
    }
    free(gi);
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

static void add_weight(cg_snap_destination_t *d, const char *cluster, uint64_t w)
{
    for (size_t i = 0; i < d->nweights; i++) {
        if (strcmp(d->weights[i].cluster, cluster) == 0) {
            uint64_t sum = d->weights[i].weight + w;
            d->weights[i].weight = sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
            return;
        }
    }
    d->weights = cg_xrealloc(d->weights, (d->nweights + 1) * sizeof(*d->weights));
    d->weights[d->nweights++] =
        (cg_snap_cluster_weight_t){cg_xstrdup(cluster), w > UINT32_MAX ? UINT32_MAX : (uint32_t)w};
}

/* Weighted: every entry's weight goes to the clusters it names; a labels entry's weight is
 * split evenly across the clusters it matches (all weights scaled by the lcm of the split
 * sizes so the split stays exact). Clusters without endpoints keep their share: the proxy
 * answers 503 for it, as a strict split requires. */
static void weighted_dest(tx_t *t, cg_snap_destination_t *d, const cg_model_cluster_dest_t *cd,
                          const char *hostname)
{
    const cg_resource_set_t *rs = t->rs;
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
            add_weight(d, ref->name, w);
            if (cg_model_find_cluster(rs, ref->name) == NULL)
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
            add_weight(d, cg_buf_data(&b), w);
            warn(t, "cluster selector %s matches no Cluster: its share of %s is answered with 503",
                 cg_buf_data(&b) + 7, hostname);
            cg_buf_free(&b);
            continue;
        }
        for (size_t c = 0; c < rs->nclusters; c++)
            if (cluster_has_labels(&rs->clusters[c], ref))
                add_weight(d, rs->clusters[c].metadata.name, (w + m / 2) / m);
    }
    for (size_t i = 0; i < d->nweights; i++) {
        const cg_model_cluster_t *c = cg_model_find_cluster(rs, d->weights[i].cluster);
        if (c != NULL && cluster_endpoints(t, d, c, hostname) == 0)
            warn(t, "weighted cluster %s has no Gateway serving %s: its share is answered with 503",
                 c->metadata.name, hostname);
    }
}

static void named_dest(tx_t *t, cg_snap_destination_t *d, const cg_model_cluster_dest_t *cd,
                       const char *hostname)
{
    const cg_resource_set_t *rs = t->rs;
    CG_VEC(const cg_model_cluster_t *) cand = {0};
    for (size_t i = 0; i < cd->nclusters; i++) {
        const cg_model_cluster_ref_t *ref = &cd->clusters[i];
        size_t before = cand.len;
        for (size_t c = 0; c < rs->nclusters; c++) {
            const cg_model_cluster_t *cl = &rs->clusters[c];
            int hit =
                ref->name ? strcmp(cl->metadata.name, ref->name) == 0 : cluster_has_labels(cl, ref);
            if (!hit) continue;
            int dup = 0;
            for (size_t k = 0; k < cand.len; k++) dup |= cand.items[k] == cl;
            if (!dup) cg_vec_push(&cand, cl);
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
    for (size_t k = 0; k < cand.len; k++)
        if (cluster_endpoints(t, d, cand.items[k], hostname) == 0)
            warn(t, "named cluster %s has no Gateway serving %s", cand.items[k]->metadata.name,
                 hostname);
    cg_vec_free(&cand);
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
    char *name;
    size_t idx = find_dest(t, cg_buf_data(&base), &pol, server, &name);
    cg_buf_free(&base);
    if (idx != SIZE_MAX) return idx;
    cg_snap_destination_t *d = new_dest(t, name, mode, &pol, &idx);
    if (mode == CG_DEST_AUTO) {
        for (size_t c = 0; c < t->rs->nclusters; c++)
            cluster_endpoints(t, d, &t->rs->clusters[c], hostname);
        if (d->nendpoints == 0) warn(t, "no cluster has a Gateway serving %s", hostname);
    } else if (mode == CG_DEST_NAMED) {
        named_dest(t, d, cd, hostname);
    } else {
        weighted_dest(t, d, cd, hostname);
    }
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
        r->redirect.port = (uint16_t)m->redirect->port;
        r->redirect.code = m->redirect->redirect_code ? (uint16_t)m->redirect->redirect_code
                                                      : DEFAULT_REDIRECT_CODE;
    } else if (m->direct_response) {
        r->action = CG_ACTION_DIRECT;
        r->direct.status = (uint16_t)m->direct_response->status;
        r->direct.body = xstrdup_or_null(m->direct_response->body);
    } else {
        r->action = CG_ACTION_ROUTE;
    }
}

static void add_servers(tx_t *t, const cg_model_gateway_t *gw)
{
    for (size_t h = 0; h < gw->spec.nhttp; h++) {
        const cg_model_http_server_t *srv = &gw->spec.http[h];
        int clash = 0;
        for (size_t o = 0; o < t->servers.len && !clash; o++) {
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
        cg_snap_server_t s = {
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

static void free_tx(tx_t *t)
{
    cg_snapshot_t tmp = {
        .servers = t->servers.items,
        .nservers = t->servers.len,
        .destinations = t->dests.items,
        .ndestinations = t->dests.len,
        .warnings = t->warnings.items,
        .nwarnings = t->warnings.len,
    };
    cg_snapshot_t *heap = cg_xmalloc(sizeof(*heap));
    *heap = tmp;
    cg_snapshot_free(heap);
    cg_vec_free(&t->server_gw);
    cg_vec_free(&t->server_http);
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
    for (size_t g = 0; g < rs->ngateways; g++) {
        if (!selects(&rs->gateways[g], inst->cluster, inst->namespace_, &mine)) continue;
        selected++;
        add_servers(&t, &rs->gateways[g]);
    }
    if (t.nerrors) {
        free_tx(&t);
        return CG_EINVAL;
    }
    const cg_model_cluster_t *own = cg_model_find_cluster(rs, inst->cluster);
    t.region = own ? own->spec.locality.region : NULL;
    resolve_routes(&t);

    if (selected == 0)
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
    cg_vec_free(&t.server_gw);
    cg_vec_free(&t.server_http);
    *out = s;
    return 0;
}

int cg_translate_instance(const cg_resource_set_t *rs, const cg_instance_t *inst, uint64_t version,
                          cg_snapshot_t **out, cg_buf_t *errors)
{
    return cg_translate_instance_live(rs, inst, NULL, 0, version, out, errors);
}
