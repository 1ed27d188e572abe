/* Decoding a snapshot from its JSON encoding (docs/snapshot.md): the inverse of
 * cg_snapshot_encode_json, for the agent's watch and its on-disk cache. Strict: a field of
 * the wrong type or a missing required field rejects the whole snapshot. */
#include "core/err.h"
#include "core/list.h"
#include "lb/retry.h"
#include "core/json.h"
#include "translate/snapshot.h"

#include <stdlib.h>
#include <string.h>

/* Destinations by name, for rules naming theirs: sorted by name, then index. */
typedef struct dest_name {
    const char *name;
    size_t index;
} dest_name_t;

typedef struct dec {
    cg_json_dec_t j;
    dest_name_t *dest_names;
    size_t ndest_names;
} dec_t;

/* The field readers of core/json.h, with this decoder's error state. */
static void bad(dec_t *d, const char *path, const char *what)
{
    cg_json_dec_fail(&d->j, path, what);
}

#define get cg_json_get

static char *str(dec_t *d, const cg_json_t *map, const char *key, int required)
{
    return cg_json_dec_str(&d->j, map, key, required);
}

static uint64_t num(dec_t *d, const cg_json_t *map, const char *key, uint64_t max, uint64_t dflt)
{
    return cg_json_dec_u64(&d->j, map, key, max, dflt);
}

static const cg_json_t *list(dec_t *d, const cg_json_t *map, const char *key)
{
    return cg_json_dec_list(&d->j, map, key);
}

/* The array member key: its items (*l, NULL when absent) and a zeroed C array of as many
 * elements of `size` bytes, whose count goes to *n. */
static void *items(dec_t *d, const cg_json_t *map, const char *key, size_t size,
                   const cg_json_t **l, size_t *n)
{
    *l = list(d, map, key);
    *n = *l ? cg_json_len(*l) : 0;
    return cg_xcalloc(*n, size);
}

static int match_kind(dec_t *d, const cg_json_t *m, cg_snap_strmatch_t *out)
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

static void index_dests(dec_t *d, const cg_json_t *dests)
{
    d->dest_names = cg_xcalloc(dests ? cg_json_len(dests) : 0, sizeof(*d->dest_names));
    for (size_t i = 0; dests && i < cg_json_len(dests); i++) {
        const cg_json_t *nm = get(cg_json_at(dests, i), "name");
        if (cg_json_string(nm, NULL))
            d->dest_names[d->ndest_names++] = (dest_name_t){cg_json_string(nm, NULL), i};
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

static void decode_rule(dec_t *d, const cg_json_t *n, cg_snap_rule_t *r)
{
    const cg_json_t *ms;
    r->matches = items(d, n, "matches", sizeof(cg_snap_match_t), &ms, &r->nmatches);
    for (size_t i = 0; i < r->nmatches; i++) {
        const cg_json_t *m = cg_json_at(ms, i);
        cg_snap_match_t *sm = &r->matches[i];
        const cg_json_t *uri = get(m, "uri");
        if (uri) {
            sm->has_uri = 1;
            match_kind(d, uri, &sm->uri);
        }
        const cg_json_t *hs;
        sm->headers = items(d, m, "headers", sizeof(cg_snap_header_match_t), &hs, &sm->nheaders);
        for (size_t h = 0; h < sm->nheaders; h++) {
            sm->headers[h].name = str(d, cg_json_at(hs, h), "name", 1);
            match_kind(d, cg_json_at(hs, h), &sm->headers[h].match);
        }
    }
    char *action = str(d, n, "action", 1);
    const cg_json_t *o = action ? get(n, action) : NULL; /* the redirect or direct response */
    if (cg_snap_action_parse(action, &r->action)) {
        bad(d, "action", "expected route, redirect or direct");
    } else if (r->action == CG_ACTION_ROUTE) {
        char *dest = str(d, n, "destination", 1);
        r->destination = dest ? find_dest(d, dest) : (size_t)-1;
        if (r->destination == (size_t)-1)
            bad(d, "destination", "names no destination of the snapshot");
        free(dest);
    } else if (r->action == CG_ACTION_REDIRECT) {
        r->redirect.redirect_code = (int64_t)num(d, o, "code", 399, 301);
        r->redirect.scheme = str(d, o, "scheme", 0);
        r->redirect.authority = str(d, o, "authority", 0);
        r->redirect.port = (int64_t)num(d, o, "port", 65535, 0);
        r->redirect.uri = str(d, o, "uri", 0);
    } else {
        r->direct.status = (int64_t)num(d, o, "status", 599, 200);
        r->direct.body = str(d, o, "body", 0);
    }
    free(action);
    r->timeout_ms = (uint32_t)num(d, n, "timeout_ms", UINT32_MAX, 15000);
}

static void decode_policy(dec_t *d, const cg_json_t *p, cg_snap_policy_t *pol)
{
    for (const cg_snap_policy_field_t *f = cg_snap_policy_fields; f->key; f++) {
        const cg_json_t *obj = f->section ? get(p, f->section) : p;
        uint32_t v = 0;
        switch (f->type) {
        case CG_SNAP_PF_U32: v = (uint32_t)num(d, obj, f->key, f->max, f->dflt); break;
        case CG_SNAP_PF_BOOL:
            v = (uint32_t)cg_json_dec_bool(&d->j, obj, f->key, (int)f->dflt);
            break;
        case CG_SNAP_PF_RETRY_ON: {
            const cg_json_t *on = list(d, obj, f->key);
            for (size_t i = 0; on && i < cg_json_len(on); i++) {
                const char *c = cg_json_string(cg_json_at(on, i), NULL);
                uint32_t bits = c ? cg_lb_retry_on_parse(c) : 0;
                if (!bits) bad(d, f->key, "unknown condition");
                v |= bits;
            }
            break;
        }
        }
        cg_snap_policy_set(pol, f, v);
    }
}

static void decode_destination(dec_t *d, const cg_json_t *n, cg_snap_destination_t *sd)
{
    sd->name = str(d, n, "name", 1);
    char *mode = str(d, n, "mode", 1);
    if (cg_dest_mode_parse(mode, &sd->mode))
        bad(d, "mode", "expected service, auto, named or weighted");
    free(mode);
    sd->connect_timeout_ms = (uint32_t)num(d, n, "connect_timeout_ms", UINT32_MAX, 5000);
    const cg_json_t *eps;
    sd->endpoints = items(d, n, "endpoints", sizeof(cg_snap_endpoint_t), &eps, &sd->nendpoints);
    for (size_t e = 0; e < sd->nendpoints; e++) {
        const cg_json_t *en = cg_json_at(eps, e);
        cg_snap_endpoint_t *ep = &sd->endpoints[e];
        ep->address = str(d, en, "address", 1);
        ep->port = (uint16_t)num(d, en, "port", 65535, 0);
        ep->cluster = str(d, en, "cluster", 0);
        ep->region = str(d, en, "region", 0);
        ep->zone = str(d, en, "zone", 0);
        ep->weight = (uint32_t)num(d, en, "weight", UINT32_MAX, 1);
        ep->priority = (uint32_t)num(d, en, "priority", 64, 0);
        ep->identity = str(d, en, "identity", 0);
        ep->host = str(d, en, "host", 0);
    }
    const cg_json_t *ws;
    sd->weights = items(d, n, "weights", sizeof(cg_snap_cluster_weight_t), &ws, &sd->nweights);
    for (size_t w = 0; w < sd->nweights; w++) {
        sd->weights[w].cluster = str(d, cg_json_at(ws, w), "cluster", 1);
        sd->weights[w].weight = (uint32_t)num(d, cg_json_at(ws, w), "weight", UINT32_MAX, 0);
    }
    decode_policy(d, get(n, "policy"), &sd->policy);
}

static char **decode_strs(dec_t *d, const cg_json_t *n, const char *key, size_t *count)
{
    const cg_json_t *l;
    char **v = items(d, n, key, sizeof(char *), &l, count);
    for (size_t i = 0; i < *count; i++) {
        const char *x = cg_json_string(cg_json_at(l, i), NULL);
        if (x == NULL) bad(d, key, "expected a list of strings");
        v[i] = cg_xstrdup(x ? x : "");
    }
    return v;
}

static cg_snap_tls_t *decode_tls(dec_t *d, const cg_json_t *n)
{
    cg_snap_tls_t *t = cg_xcalloc(1, sizeof(*t));
    char *mode = str(d, n, "mode", 1), *lo = str(d, n, "min_version", 0),
         *hi = str(d, n, "max_version", 0);
    int m = mode ? cg_snap_tls_mode_parse(mode) : -1;
    int l = lo ? cg_snap_tls_version_parse(lo) : 0, h = hi ? cg_snap_tls_version_parse(hi) : 0;
    if (m < 1) bad(d, "servers[].tls.mode", "expected SIMPLE or MUTUAL");
    if (l < 0 || h < 0)
        bad(d, "servers[].tls.min_version", "expected TLS_AUTO or TLSV1_0..TLSV1_3");
    t->mode = (uint8_t)(m < 0 ? 0 : m);
    t->min_version = (uint8_t)(l < 0 ? 0 : l);
    t->max_version = (uint8_t)(h < 0 ? 0 : h);
    free(mode), free(lo), free(hi);
    t->cipher_suites = decode_strs(d, n, "cipher_suites", &t->ncipher_suites);
    t->subject_alt_names = decode_strs(d, n, "subject_alt_names", &t->nsubject_alt_names);
    for (const cg_snap_tls_field_t *f = cg_snap_tls_fields; f->key; f++)
        *(char **)((char *)t + f->offset) = str(d, n, f->key, 0);
    if ((t->cert_file == NULL) == (t->cert_pem == NULL) ||
        (t->key_file == NULL) == (t->key_pem == NULL) || (t->cert_file && t->key_pem) ||
        (t->cert_pem && t->key_file))
        bad(d, "servers[].tls", "expected cert_file and key_file, or cert_pem and key_pem");
    if (t->mode == 2 && t->ca_file == NULL && t->ca_pem == NULL)
        bad(d, "servers[].tls", "mode MUTUAL needs ca_file or ca_pem");
    return t;
}

int cg_snapshot_decode_json(const char *json, size_t len, cg_snapshot_t **out, cg_buf_t *errors)
{
    dec_t d = {.j = {.what = "snapshot", .errors = errors}};
    cg_json_t *doc = cg_json_parse("snapshot", json, len, errors);
    if (doc == NULL || cg_json_type(doc) != CG_JSON_OBJECT) {
        if (doc) cg_buf_append_str(errors, "snapshot: expected one JSON object\n");
        cg_json_free(doc);
        return CG_EPARSE;
    }
    const cg_json_t *root = doc;
    cg_snapshot_t *s = cg_xcalloc(1, sizeof(*s));
    s->version = num(&d, root, "version", UINT64_MAX, 0);
    if (!get(root, "version")) bad(&d, "version", "missing");
    s->cluster = str(&d, root, "cluster", 0);
    s->namespace_ = str(&d, root, "namespace", 0);
    const cg_json_t *labels = get(root, "labels");
    if (labels && cg_json_type(labels) == CG_JSON_OBJECT) {
        s->labels = cg_xcalloc(cg_json_len(labels), sizeof(cg_snap_label_t));
        for (void *it = cg_json_iter(labels); it; it = cg_json_next(labels, it)) {
            const char *v = cg_json_string(cg_json_iter_value(it), NULL);
            if (v == NULL) {
                bad(&d, "labels", "expected string values");
                continue;
            }
            s->labels[s->nlabels].key = cg_xstrdup(cg_json_iter_key(it));
            s->labels[s->nlabels++].value = cg_xstrdup(v);
        }
    } else if (labels) {
        bad(&d, "labels", "expected an object");
    }
    s->address = str(&d, root, "address", 0);
    s->region = str(&d, root, "region", 0);
    s->zone = str(&d, root, "zone", 0);
    const cg_json_t *dests;
    s->destinations =
        items(&d, root, "destinations", sizeof(cg_snap_destination_t), &dests, &s->ndestinations);
    for (size_t i = 0; i < s->ndestinations; i++)
        decode_destination(&d, cg_json_at(dests, i), &s->destinations[i]);
    index_dests(&d, dests);
    const cg_json_t *servers;
    s->servers = items(&d, root, "servers", sizeof(cg_snap_server_t), &servers, &s->nservers);
    for (size_t i = 0; i < s->nservers; i++) {
        const cg_json_t *sn = cg_json_at(servers, i);
        cg_snap_server_t *sv = &s->servers[i];
        sv->gateway = str(&d, sn, "gateway", 0);
        sv->name = str(&d, sn, "name", 0);
        sv->port = (uint16_t)num(&d, sn, "port", 65535, 0);
        if (!sv->port) bad(&d, "servers[].port", "expected 1..65535");
        sv->hostname = str(&d, sn, "hostname", 1);
        sv->east_west = cg_json_dec_bool(&d.j, sn, "east_west", 0);
        const cg_json_t *rules;
        sv->rules = items(&d, sn, "rules", sizeof(cg_snap_rule_t), &rules, &sv->nrules);
        for (size_t k = 0; k < sv->nrules; k++)
            decode_rule(&d, cg_json_at(rules, k), &sv->rules[k]);
        const cg_json_t *tls = get(sn, "tls");
        if (tls && cg_json_type(tls) == CG_JSON_OBJECT)
            sv->tls = decode_tls(&d, tls);
        else if (tls)
            bad(&d, "servers[].tls", "expected an object");
    }
    const cg_json_t *warnings;
    s->warnings = items(&d, root, "warnings", sizeof(char *), &warnings, &s->nwarnings);
    for (size_t i = 0; i < s->nwarnings; i++) {
        const cg_json_t *w = cg_json_at(warnings, i);
        s->warnings[i] = cg_xstrdup(cg_json_string(w, NULL) ? cg_json_string(w, NULL) : "");
    }
    free(d.dest_names);
    cg_json_free(doc);
    if (d.j.failed) {
        cg_snapshot_free(s);
        return CG_EPARSE;
    }
    *out = s;
    return 0;
}
