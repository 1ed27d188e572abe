/* Decoding a snapshot from its JSON encoding (docs/snapshot.md): the inverse of
 * cg_snapshot_encode_json, for the agent's watch and its on-disk cache. Strict: a field of
 * the wrong type or a missing required field rejects the whole snapshot. */
#include "core/err.h"
#include "core/list.h"
#include "lb/retry.h"
#include "model/yaml.h"
#include "translate/snapshot.h"

#include <stdlib.h>
#include <string.h>

/* A snapshot is machine-written and already bounded by the HTTP client's 64 MiB response
 * limit; 100,000 endpoints take about 1.3 million nodes. The resource-file limit would refuse
 * it. */
#define SNAPSHOT_MAX_NODES 20000000

/* Destinations by name, for rules naming theirs: sorted by name, then index. */
typedef struct dest_name {
    const char *name;
    size_t index;
} dest_name_t;

typedef struct dec {
    cg_buf_t *errors;
    int failed;
    dest_name_t *dest_names;
    size_t ndest_names;
} dec_t;

static void bad(dec_t *d, const char *path, const char *what)
{
    if (!d->failed) cg_buf_printf(d->errors, "snapshot: %s: %s\n", path, what);
    d->failed = 1;
}

static const cg_ynode_t *get(const cg_ynode_t *map, const char *key)
{
    return map && map->kind == CG_YNODE_MAP ? cg_ynode_get(map, key) : NULL;
}

static char *str(dec_t *d, const cg_ynode_t *map, const char *key, int required)
{
    const cg_ynode_t *n = get(map, key);
    if (!n || (n->kind == CG_YNODE_SCALAR && n->stype == CG_YSCALAR_NULL)) {
        if (required) bad(d, key, "missing");
        return NULL;
    }
    if (n->kind != CG_YNODE_SCALAR || n->stype != CG_YSCALAR_STRING) {
        bad(d, key, "expected a string");
        return NULL;
    }
    return cg_xstrndup(n->text, n->len);
}

static uint64_t num(dec_t *d, const cg_ynode_t *map, const char *key, uint64_t max, uint64_t dflt)
{
    const cg_ynode_t *n = get(map, key);
    if (!n) return dflt;
    if (n->kind != CG_YNODE_SCALAR || n->stype != CG_YSCALAR_INT || n->text[0] == '-') {
        bad(d, key, "expected a non-negative integer");
        return dflt;
    }
    unsigned long long v = strtoull(n->text, NULL, 10);
    if (v > max) {
        bad(d, key, "out of range");
        return dflt;
    }
    return v;
}

static int boolean(dec_t *d, const cg_ynode_t *map, const char *key)
{
    const cg_ynode_t *n = get(map, key);
    if (!n) return 0;
    if (n->kind != CG_YNODE_SCALAR || n->stype != CG_YSCALAR_BOOL) {
        bad(d, key, "expected true or false");
        return 0;
    }
    return n->text[0] == 't';
}

/* A list (absent = empty). */
static const cg_ynode_t *list(dec_t *d, const cg_ynode_t *map, const char *key)
{
    const cg_ynode_t *n = get(map, key);
    if (n && n->kind != CG_YNODE_SEQ) {
        bad(d, key, "expected a list");
        return NULL;
    }
    return n;
}

static int match_kind(dec_t *d, const cg_ynode_t *m, cg_snap_strmatch_t *out)
{
    static const char *kinds[] = {"exact", "prefix", "regex"};
    for (int k = 0; k < 3; k++) {
        if (get(m, kinds[k])) {
            out->kind = (cg_match_kind_t)k;
            out->value = str(d, m, kinds[k], 1);
            return 0;
        }
    }
    bad(d, "match", "expected exact, prefix or regex");
    return -1;
}

static int dest_name_order(const void *a, const void *b)
{
    const dest_name_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

static void index_dests(dec_t *d, const cg_ynode_t *dests)
{
    d->dest_names = cg_xcalloc(dests ? dests->n : 0, sizeof(*d->dest_names));
    for (size_t i = 0; dests && i < dests->n; i++) {
        const cg_ynode_t *nm = get(dests->items[i], "name");
        if (nm && nm->kind == CG_YNODE_SCALAR)
            d->dest_names[d->ndest_names++] = (dest_name_t){nm->text, i};
    }
    qsort(d->dest_names, d->ndest_names, sizeof(*d->dest_names), dest_name_order);
}

/* The index of the destination called name (the last one, should two share it), or -1. */
static size_t find_dest(const dec_t *d, const char *name)
{
    size_t lo = 0, hi = d->ndest_names; /* first entry whose name sorts after name */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(d->dest_names[mid].name, name) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && strcmp(d->dest_names[lo - 1].name, name) == 0) return d->dest_names[lo - 1].index;
    return (size_t)-1;
}

static void decode_rule(dec_t *d, const cg_ynode_t *n, cg_snap_rule_t *r)
{
    const cg_ynode_t *ms = list(d, n, "matches");
    r->nmatches = ms ? ms->n : 0;
    r->matches = cg_xcalloc(r->nmatches, sizeof(cg_snap_match_t));
    for (size_t i = 0; i < r->nmatches; i++) {
        const cg_ynode_t *m = ms->items[i];
        cg_snap_match_t *sm = &r->matches[i];
        const cg_ynode_t *uri = get(m, "uri");
        if (uri) {
            sm->has_uri = 1;
            match_kind(d, uri, &sm->uri);
        }
        const cg_ynode_t *hs = list(d, m, "headers");
        sm->nheaders = hs ? hs->n : 0;
        sm->headers = cg_xcalloc(sm->nheaders, sizeof(cg_snap_header_match_t));
        for (size_t h = 0; h < sm->nheaders; h++) {
            sm->headers[h].name = str(d, hs->items[h], "name", 1);
            match_kind(d, hs->items[h], &sm->headers[h].match);
        }
    }
    char *action = str(d, n, "action", 1);
    if (action && !strcmp(action, "route")) {
        r->action = CG_ACTION_ROUTE;
        char *dest = str(d, n, "destination", 1);
        r->destination = dest ? find_dest(d, dest) : (size_t)-1;
        if (r->destination == (size_t)-1)
            bad(d, "destination", "names no destination of the snapshot");
        free(dest);
    } else if (action && !strcmp(action, "redirect")) {
        const cg_ynode_t *rd = get(n, "redirect");
        r->action = CG_ACTION_REDIRECT;
        r->redirect.code = (uint16_t)num(d, rd, "code", 399, 301);
        r->redirect.scheme = str(d, rd, "scheme", 0);
        r->redirect.authority = str(d, rd, "authority", 0);
        r->redirect.port = (uint16_t)num(d, rd, "port", 65535, 0);
        r->redirect.uri = str(d, rd, "uri", 0);
    } else if (action && !strcmp(action, "direct")) {
        const cg_ynode_t *dr = get(n, "direct");
        r->action = CG_ACTION_DIRECT;
        r->direct.status = (uint16_t)num(d, dr, "status", 599, 200);
        r->direct.body = str(d, dr, "body", 0);
    } else {
        bad(d, "action", "expected route, redirect or direct");
    }
    free(action);
    r->timeout_ms = (uint32_t)num(d, n, "timeout_ms", UINT32_MAX, 15000);
}

static void decode_policy(dec_t *d, const cg_ynode_t *p, cg_snap_policy_t *pol)
{
    const cg_ynode_t *r = get(p, "retry"), *o = get(p, "outlier"), *h = get(p, "health_check");
    pol->retry.attempts = (uint32_t)num(d, r, "attempts", 100, 0);
    pol->retry.per_try_timeout_ms = (uint32_t)num(d, r, "per_try_timeout_ms", UINT32_MAX, 0);
    const cg_ynode_t *on = list(d, r, "retry_on");
    for (size_t i = 0; on && i < on->n; i++) {
        uint32_t bits =
            on->items[i]->kind == CG_YNODE_SCALAR ? cg_lb_retry_on_parse(on->items[i]->text) : 0;
        if (!bits) bad(d, "retry_on", "unknown condition");
        pol->retry.retry_on |= bits;
    }
    pol->retry.backoff_base_ms = (uint32_t)num(d, r, "backoff_base_ms", UINT32_MAX, 25);
    pol->retry.backoff_max_ms = (uint32_t)num(d, r, "backoff_max_ms", UINT32_MAX, 250);
    pol->retry.budget_percent = (uint32_t)num(d, r, "budget_percent", 100, 20);
    pol->retry.budget_min = (uint32_t)num(d, r, "budget_min", UINT32_MAX, 3);
    pol->retry.buffer_limit = (uint32_t)num(d, r, "buffer_limit", UINT32_MAX, 64 * 1024);
    pol->outlier.consecutive_gateway_errors =
        (uint32_t)num(d, o, "consecutive_gateway_errors", UINT32_MAX, 0);
    pol->outlier.interval_ms = (uint32_t)num(d, o, "interval_ms", UINT32_MAX, 1000);
    pol->outlier.base_ejection_ms = (uint32_t)num(d, o, "base_ejection_ms", UINT32_MAX, 5000);
    pol->outlier.max_ejection_ms = (uint32_t)num(d, o, "max_ejection_ms", UINT32_MAX, 30000);
    pol->outlier.max_ejection_percent = (uint32_t)num(d, o, "max_ejection_percent", 100, 100);
    pol->health_check.enabled = (uint8_t)boolean(d, h, "enabled");
    pol->health_check.interval_ms = (uint32_t)num(d, h, "interval_ms", UINT32_MAX, 1000);
    pol->health_check.timeout_ms = (uint32_t)num(d, h, "timeout_ms", UINT32_MAX, 1000);
    pol->health_check.unhealthy_threshold =
        (uint32_t)num(d, h, "unhealthy_threshold", UINT32_MAX, 2);
    pol->health_check.healthy_threshold = (uint32_t)num(d, h, "healthy_threshold", UINT32_MAX, 1);
    pol->overprovisioning = (uint32_t)num(d, p, "overprovisioning", UINT32_MAX, 140);
}

static void decode_destination(dec_t *d, const cg_ynode_t *n, cg_snap_destination_t *sd)
{
    sd->name = str(d, n, "name", 1);
    char *mode = str(d, n, "mode", 1);
    static const char *modes[] = {"service", "auto", "named", "weighted"};
    int found = 0;
    for (int m = 0; mode && m < 4; m++)
        if (!strcmp(mode, modes[m])) sd->mode = (cg_dest_mode_t)m, found = 1;
    if (!found) bad(d, "mode", "expected service, auto, named or weighted");
    free(mode);
    sd->connect_timeout_ms = (uint32_t)num(d, n, "connect_timeout_ms", UINT32_MAX, 5000);
    const cg_ynode_t *eps = list(d, n, "endpoints");
    sd->nendpoints = eps ? eps->n : 0;
    sd->endpoints = cg_xcalloc(sd->nendpoints, sizeof(cg_snap_endpoint_t));
    for (size_t e = 0; e < sd->nendpoints; e++) {
        const cg_ynode_t *en = eps->items[e];
        cg_snap_endpoint_t *ep = &sd->endpoints[e];
        ep->address = str(d, en, "address", 1);
        ep->port = (uint16_t)num(d, en, "port", 65535, 0);
        ep->cluster = str(d, en, "cluster", 0);
        ep->region = str(d, en, "region", 0);
        ep->zone = str(d, en, "zone", 0);
        ep->weight = (uint32_t)num(d, en, "weight", UINT32_MAX, 1);
        ep->priority = (uint32_t)num(d, en, "priority", 64, 0);
    }
    const cg_ynode_t *ws = list(d, n, "weights");
    sd->nweights = ws ? ws->n : 0;
    sd->weights = cg_xcalloc(sd->nweights, sizeof(cg_snap_cluster_weight_t));
    for (size_t w = 0; w < sd->nweights; w++) {
        sd->weights[w].cluster = str(d, ws->items[w], "cluster", 1);
        sd->weights[w].weight = (uint32_t)num(d, ws->items[w], "weight", UINT32_MAX, 0);
    }
    decode_policy(d, get(n, "policy"), &sd->policy);
}

int cg_snapshot_decode_json(const char *json, size_t len, cg_snapshot_t **out, cg_buf_t *errors)
{
    cg_ystream_t ys = {0};
    dec_t d = {.errors = errors};
    int r = cg_model_yaml_parse_limit("snapshot", json, len, 1, SNAPSHOT_MAX_NODES, &ys, errors);
    if (r || ys.ndocs != 1 || !ys.docs[0].root || ys.docs[0].root->kind != CG_YNODE_MAP) {
        if (!r) cg_buf_append_str(errors, "snapshot: expected one JSON object\n");
        cg_ystream_free(&ys);
        return CG_EPARSE;
    }
    const cg_ynode_t *root = ys.docs[0].root;
    cg_snapshot_t *s = cg_xcalloc(1, sizeof(*s));
    s->version = num(&d, root, "version", UINT64_MAX, 0);
    if (!get(root, "version")) bad(&d, "version", "missing");
    s->cluster = str(&d, root, "cluster", 0);
    s->namespace_ = str(&d, root, "namespace", 0);
    const cg_ynode_t *labels = get(root, "labels");
    if (labels && labels->kind == CG_YNODE_MAP) {
        s->nlabels = labels->n;
        s->labels = cg_xcalloc(labels->n, sizeof(cg_snap_label_t));
        for (size_t i = 0; i < labels->n; i++) {
            const cg_ynode_t *k = cg_ynode_key(labels, i), *v = cg_ynode_value(labels, i);
            if (k->kind != CG_YNODE_SCALAR || v->kind != CG_YNODE_SCALAR) {
                bad(&d, "labels", "expected string values");
                continue;
            }
            s->labels[i].key = cg_xstrndup(k->text, k->len);
            s->labels[i].value = cg_xstrndup(v->text, v->len);
        }
    } else if (labels) {
        bad(&d, "labels", "expected an object");
    }
    s->address = str(&d, root, "address", 0);
    s->region = str(&d, root, "region", 0);
    s->zone = str(&d, root, "zone", 0);
    const cg_ynode_t *dests = list(&d, root, "destinations");
    s->ndestinations = dests ? dests->n : 0;
    s->destinations = cg_xcalloc(s->ndestinations, sizeof(cg_snap_destination_t));
    for (size_t i = 0; i < s->ndestinations; i++)
        decode_destination(&d, dests->items[i], &s->destinations[i]);
    index_dests(&d, dests);
    const cg_ynode_t *servers = list(&d, root, "servers");
    s->nservers = servers ? servers->n : 0;
    s->servers = cg_xcalloc(s->nservers, sizeof(cg_snap_server_t));
    for (size_t i = 0; i < s->nservers; i++) {
        const cg_ynode_t *sn = servers->items[i];
        cg_snap_server_t *sv = &s->servers[i];
        sv->gateway = str(&d, sn, "gateway", 0);
        sv->name = str(&d, sn, "name", 0);
        sv->port = (uint16_t)num(&d, sn, "port", 65535, 0);
        if (!sv->port) bad(&d, "servers[].port", "expected 1..65535");
        sv->hostname = str(&d, sn, "hostname", 1);
        const cg_ynode_t *rules = list(&d, sn, "rules");
        sv->nrules = rules ? rules->n : 0;
        sv->rules = cg_xcalloc(sv->nrules, sizeof(cg_snap_rule_t));
        for (size_t k = 0; k < sv->nrules; k++) decode_rule(&d, rules->items[k], &sv->rules[k]);
    }
    const cg_ynode_t *warnings = list(&d, root, "warnings");
    s->nwarnings = warnings ? warnings->n : 0;
    s->warnings = cg_xcalloc(s->nwarnings, sizeof(char *));
    for (size_t i = 0; i < s->nwarnings; i++) {
        const cg_ynode_t *w = warnings->items[i];
        s->warnings[i] = cg_xstrndup(w->kind == CG_YNODE_SCALAR ? w->text : "",
                                     w->kind == CG_YNODE_SCALAR ? w->len : 0);
    }
    free(d.dest_names);
    cg_ystream_free(&ys);
    if (d.failed) {
        cg_snapshot_free(s);
        return CG_EPARSE;
    }
    *out = s;
    return 0;
}
