/* Freeing a snapshot and encoding it as JSON (the schema is in docs/snapshot.md). */
#include "translate/snapshot.h"

#include "core/err.h"

#include <inttypes.h>
#include <stdlib.h>

static void free_rule(cg_snap_rule_t *r)
{
    for (size_t i = 0; i < r->nmatches; i++) {
        cg_snap_match_t *m = &r->matches[i];
        free(m->uri.value);
        for (size_t h = 0; h < m->nheaders; h++) {
            free(m->headers[h].name);
            free(m->headers[h].match.value);
        }
        free(m->headers);
    }
    free(r->matches);
    free(r->redirect.scheme);
    free(r->redirect.authority);
    free(r->redirect.uri);
    free(r->direct.body);
}

void cg_snapshot_free(cg_snapshot_t *s)
{
    if (s == NULL) return;
    free(s->cluster);
    free(s->namespace_);
    for (size_t i = 0; i < s->nlabels; i++) {
        free(s->labels[i].key);
        free(s->labels[i].value);
    }
    free(s->labels);
    free(s->address);
    free(s->region);
    free(s->zone);
    for (size_t i = 0; i < s->nservers; i++) {
        cg_snap_server_t *v = &s->servers[i];
        free(v->gateway);
        free(v->name);
        free(v->hostname);
        for (size_t r = 0; r < v->nrules; r++) free_rule(&v->rules[r]);
        free(v->rules);
    }
    free(s->servers);
    for (size_t i = 0; i < s->ndestinations; i++) {
        cg_snap_destination_t *d = &s->destinations[i];
        free(d->name);
        for (size_t e = 0; e < d->nendpoints; e++) {
            free(d->endpoints[e].address);
            free(d->endpoints[e].cluster);
            free(d->endpoints[e].region);
            free(d->endpoints[e].zone);
        }
        free(d->endpoints);
        for (size_t w = 0; w < d->nweights; w++) free(d->weights[w].cluster);
        free(d->weights);
    }
    free(s->destinations);
    for (size_t i = 0; i < s->nwarnings; i++) free(s->warnings[i]);
    free(s->warnings);
    free(s);
}

/* ---- JSON ---- */

/* ,"key":"value" — skipped when value is NULL (optional fields are omitted). */
static void jfield_str(cg_buf_t *b, const char *key, const char *value, int first)
{
    if (value == NULL) return;
    cg_buf_printf(b, "%s\"%s\":", first ? "" : ",", key);
    cg_buf_append_json_str(b, value);
}

static const char *match_kind(cg_match_kind_t k)
{
    return k == CG_MATCH_EXACT ? "exact" : k == CG_MATCH_PREFIX ? "prefix" : "regex";
}

static const char *mode_name(cg_dest_mode_t m)
{
    switch (m) {
    case CG_DEST_SERVICE: return "service";
    case CG_DEST_AUTO: return "auto";
    case CG_DEST_NAMED: return "named";
    default: return "weighted";
    }
}

static void encode_rule(cg_buf_t *b, const cg_snapshot_t *s, const cg_snap_rule_t *r)
{
    cg_buf_append_str(b, "{\"matches\":[");
    for (size_t i = 0; i < r->nmatches; i++) {
        const cg_snap_match_t *m = &r->matches[i];
        cg_buf_append_str(b, i ? ",{" : "{");
        int first = 1;
        if (m->has_uri) {
            cg_buf_printf(b, "\"uri\":{\"%s\":", match_kind(m->uri.kind));
            cg_buf_append_json_str(b, m->uri.value);
            cg_buf_append_str(b, "}");
            first = 0;
        }
        if (m->nheaders) {
            cg_buf_printf(b, "%s\"headers\":[", first ? "" : ",");
            for (size_t h = 0; h < m->nheaders; h++) {
                cg_buf_append_str(b, h ? ",{\"name\":" : "{\"name\":");
                cg_buf_append_json_str(b, m->headers[h].name);
                cg_buf_printf(b, ",\"%s\":", match_kind(m->headers[h].match.kind));
                cg_buf_append_json_str(b, m->headers[h].match.value);
                cg_buf_append_str(b, "}");
            }
            cg_buf_append_str(b, "]");
        }
        cg_buf_append_str(b, "}");
    }
    cg_buf_append_str(b, "]");
    switch (r->action) {
    case CG_ACTION_ROUTE:
        cg_buf_append_str(b, ",\"action\":\"route\",\"destination\":");
        if (r->destination < s->ndestinations)
            cg_buf_append_json_str(b, s->destinations[r->destination].name);
        else
            cg_buf_append_str(b, "null");
        break;
    case CG_ACTION_REDIRECT:
        cg_buf_append_str(b, ",\"action\":\"redirect\",\"redirect\":{");
        cg_buf_printf(b, "\"code\":%u", (unsigned)r->redirect.code);
        jfield_str(b, "scheme", r->redirect.scheme, 0);
        jfield_str(b, "authority", r->redirect.authority, 0);
        if (r->redirect.port) cg_buf_printf(b, ",\"port\":%u", (unsigned)r->redirect.port);
        jfield_str(b, "uri", r->redirect.uri, 0);
        cg_buf_append_str(b, "}");
        break;
    case CG_ACTION_DIRECT:
        cg_buf_printf(b, ",\"action\":\"direct\",\"direct\":{\"status\":%u",
                      (unsigned)r->direct.status);
        jfield_str(b, "body", r->direct.body, 0);
        cg_buf_append_str(b, "}");
        break;
    }
    cg_buf_printf(b, ",\"timeout_ms\":%" PRIu32 "}", r->timeout_ms);
}

static void encode_policy(cg_buf_t *b, const cg_snap_policy_t *p)
{
    const cg_lb_retry_cfg_t *r = &p->retry;
    const cg_lb_outlier_cfg_t *o = &p->outlier;
    const cg_lb_hc_cfg_t *h = &p->health_check;
    static const struct {
        uint32_t bit;
        const char *name;
    } conditions[] = {
        {CG_RETRY_ON_CONNECT_FAILURE, "connect-failure"},
        {CG_RETRY_ON_RESET, "reset"},
        {CG_RETRY_ON_502, "502"},
        {CG_RETRY_ON_503, "503"},
        {CG_RETRY_ON_504, "504"},
        {CG_RETRY_ON_5XX, "5xx"},
        {CG_RETRY_ON_RETRIABLE_4XX, "retriable-4xx"},
        {CG_RETRY_ON_PER_TRY_TIMEOUT, "per-try-timeout"},
    };
    cg_buf_printf(b,
                  ",\"policy\":{\"retry\":{\"attempts\":%" PRIu32 ",\"per_try_timeout_ms\":%" PRIu32
                  ",\"retry_on\":[",
                  r->attempts, r->per_try_timeout_ms);
    int first = 1;
    for (size_t i = 0; i < sizeof(conditions) / sizeof(conditions[0]); i++) {
        if (!(r->retry_on & conditions[i].bit)) continue;
        cg_buf_printf(b, "%s\"%s\"", first ? "" : ",", conditions[i].name);
        first = 0;
    }
    cg_buf_printf(
        b,
        "],\"backoff_base_ms\":%" PRIu32 ",\"backoff_max_ms\":%" PRIu32
        ",\"budget_percent\":%" PRIu32 ",\"budget_min\":%" PRIu32 ",\"buffer_limit\":%" PRIu32 "}",
        r->backoff_base_ms, r->backoff_max_ms, r->budget_percent, r->budget_min, r->buffer_limit);
    cg_buf_printf(b,
                  ",\"outlier\":{\"consecutive_gateway_errors\":%" PRIu32
                  ",\"interval_ms\":%" PRIu32 ",\"base_ejection_ms\":%" PRIu32
                  ",\"max_ejection_ms\":%" PRIu32 ",\"max_ejection_percent\":%" PRIu32 "}",
                  o->consecutive_gateway_errors, o->interval_ms, o->base_ejection_ms,
                  o->max_ejection_ms, o->max_ejection_percent);
    cg_buf_printf(b,
                  ",\"health_check\":{\"enabled\":%s,\"interval_ms\":%" PRIu32
                  ",\"timeout_ms\":%" PRIu32 ",\"unhealthy_threshold\":%" PRIu32
                  ",\"healthy_threshold\":%" PRIu32 "}",
                  h->enabled ? "true" : "false", h->interval_ms, h->timeout_ms,
                  h->unhealthy_threshold, h->healthy_threshold);
    cg_buf_printf(b, ",\"overprovisioning\":%" PRIu32 "}", p->overprovisioning);
}

static void encode_destination(cg_buf_t *b, const cg_snap_destination_t *d)
{
    cg_buf_append_str(b, "{\"name\":");
    cg_buf_append_json_str(b, d->name);
    cg_buf_printf(b, ",\"mode\":\"%s\",\"connect_timeout_ms\":%" PRIu32 ",\"endpoints\":[",
                  mode_name(d->mode), d->connect_timeout_ms);
    for (size_t e = 0; e < d->nendpoints; e++) {
        const cg_snap_endpoint_t *ep = &d->endpoints[e];
        cg_buf_append_str(b, e ? ",{" : "{");
        jfield_str(b, "address", ep->address, 1);
        cg_buf_printf(b, ",\"port\":%u", (unsigned)ep->port);
        jfield_str(b, "cluster", ep->cluster, 0);
        jfield_str(b, "region", ep->region, 0);
        jfield_str(b, "zone", ep->zone, 0);
        cg_buf_printf(b, ",\"weight\":%" PRIu32 ",\"priority\":%" PRIu32 "}", ep->weight,
                      ep->priority);
    }
    cg_buf_append_str(b, "]");
    if (d->mode == CG_DEST_WEIGHTED) {
        cg_buf_append_str(b, ",\"weights\":[");
        for (size_t w = 0; w < d->nweights; w++) {
            cg_buf_append_str(b, w ? ",{" : "{");
            jfield_str(b, "cluster", d->weights[w].cluster, 1);
            cg_buf_printf(b, ",\"weight\":%" PRIu32 "}", d->weights[w].weight);
        }
        cg_buf_append_str(b, "]");
    }
    encode_policy(b, &d->policy);
    cg_buf_append_str(b, "}");
}

int cg_snapshot_encode_json(const cg_snapshot_t *s, cg_buf_t *out)
{
    cg_buf_t b = {0};
    cg_buf_printf(&b, "{\"version\":%" PRIu64, s->version);
    jfield_str(&b, "cluster", s->cluster, 0);
    jfield_str(&b, "namespace", s->namespace_, 0);
    cg_buf_append_str(&b, ",\"labels\":{");
    for (size_t i = 0; i < s->nlabels; i++) {
        if (i) cg_buf_append_str(&b, ",");
        cg_buf_append_json_str(&b, s->labels[i].key);
        cg_buf_append_str(&b, ":");
        cg_buf_append_json_str(&b, s->labels[i].value);
    }
    cg_buf_append_str(&b, "}");
    jfield_str(&b, "address", s->address, 0);
    jfield_str(&b, "region", s->region, 0);
    jfield_str(&b, "zone", s->zone, 0);
    cg_buf_append_str(&b, ",\"servers\":[");
    for (size_t i = 0; i < s->nservers; i++) {
        const cg_snap_server_t *v = &s->servers[i];
        cg_buf_append_str(&b, i ? ",{" : "{");
        /* gateway and name are optional: the first field written carries no comma */
        jfield_str(&b, "gateway", v->gateway, 1);
        jfield_str(&b, "name", v->name, v->gateway == NULL);
        cg_buf_printf(&b, "%s\"port\":%u", v->gateway || v->name ? "," : "", (unsigned)v->port);
        jfield_str(&b, "hostname", v->hostname, 0);
        cg_buf_append_str(&b, ",\"rules\":[");
        for (size_t r = 0; r < v->nrules; r++) {
            if (r) cg_buf_append_str(&b, ",");
            encode_rule(&b, s, &v->rules[r]);
        }
        cg_buf_append_str(&b, "]}");
    }
    cg_buf_append_str(&b, "],\"destinations\":[");
    for (size_t i = 0; i < s->ndestinations; i++) {
        if (i) cg_buf_append_str(&b, ",");
        encode_destination(&b, &s->destinations[i]);
    }
    cg_buf_append_str(&b, "],\"warnings\":[");
    for (size_t i = 0; i < s->nwarnings; i++) {
        if (i) cg_buf_append_str(&b, ",");
        cg_buf_append_json_str(&b, s->warnings[i]);
    }
    cg_buf_append_str(&b, "]}");
    int rc = cg_buf_append(out, cg_buf_data(&b), cg_buf_size(&b));
    cg_buf_free(&b);
    return rc;
}
