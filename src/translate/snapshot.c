/* Freeing a snapshot and encoding it as JSON (the schema is in docs/snapshot.md). */
#include "translate/snapshot.h"

#include "core/err.h"
#include "core/list.h"
#include "core/json.h"

#include <openssl/crypto.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

#define TLS_FIELD(k, m, sec)                                                                       \
    {                                                                                              \
        k, offsetof(cg_snap_tls_t, m), sec                                                         \
    }
const cg_snap_tls_field_t cg_snap_tls_fields[] = {
    TLS_FIELD("cert_file", cert_file, 0), TLS_FIELD("key_file", key_file, 0),
    TLS_FIELD("ca_file", ca_file, 0),     TLS_FIELD("cert_pem", cert_pem, 0),
    TLS_FIELD("key_pem", key_pem, 1),     TLS_FIELD("ca_pem", ca_pem, 0),
    TLS_FIELD("secret", secret, 0),       {NULL, 0, 0},
};

#define TLS_STR(t, f) (*(char **)((char *)(t) + (f)->offset))

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++) free(v[i]);
    free(v);
}

void cg_snap_tls_free(cg_snap_tls_t *t)
{
    if (t == NULL) return;
    for (const cg_snap_tls_field_t *f = cg_snap_tls_fields; f->key; f++) {
        if (f->secret && TLS_STR(t, f)) /* key material does not linger in freed memory */
            OPENSSL_cleanse(TLS_STR(t, f), strlen(TLS_STR(t, f))); /* not elided like memset */
        free(TLS_STR(t, f));
    }
    free_strs(t->cipher_suites, t->ncipher_suites);
    free_strs(t->subject_alt_names, t->nsubject_alt_names);
    free(t);
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
        cg_snap_tls_free(v->tls);
    }
    free(s->servers);
    for (size_t i = 0; i < s->ndestinations; i++) {
        cg_snap_destination_t *d = &s->destinations[i];
        free(d->name);
        for (size_t e = 0; e < d->nendpoints; e++) {
            if (!d->endpoints[e].pooled) {
                free(d->endpoints[e].address);
                free(d->endpoints[e].cluster);
                free(d->endpoints[e].region);
                free(d->endpoints[e].zone);
            }
            free(d->endpoints[e].identity);
            free(d->endpoints[e].host);
        }
        free(d->endpoints);
        for (size_t w = 0; w < d->nweights; w++) free(d->weights[w].cluster);
        free(d->weights);
    }
    free(s->destinations);
    for (size_t i = 0; i < s->nwarnings; i++) free(s->warnings[i]);
    free(s->warnings);
    cg_snap_pool_free(s->pool);
    free(s);
}

/* ---- the pool: open addressing by source address, at most half full ---- */

typedef struct pool_slot {
    const char *from; /* the caller's string; NULL: free */
    char *copy;
} pool_slot_t;

struct cg_snap_pool {
    pool_slot_t *slots;
    size_t n, cap;
};

static size_t pool_home(const cg_snap_pool_t *p, const char *s)
{
    return (size_t)(((uint64_t)(uintptr_t)s * 0x9e3779b97f4a7c15u) >> 20) & (p->cap - 1);
}

static void pool_put(cg_snap_pool_t *p, pool_slot_t e)
{
    size_t i = pool_home(p, e.from);
    while (p->slots[i].from) i = (i + 1) & (p->cap - 1);
    p->slots[i] = e;
}

char *cg_snap_pool_ref(cg_snap_pool_t **pool, const char *s)
{
    if (s == NULL) return NULL;
    cg_snap_pool_t *p = *pool;
    if (!p) p = *pool = cg_xcalloc(1, sizeof(*p));
    if (p->cap)
        for (size_t i = pool_home(p, s); p->slots[i].from; i = (i + 1) & (p->cap - 1))
            if (p->slots[i].from == s) return p->slots[i].copy;
    if (2 * (p->n + 1) > p->cap) {
        pool_slot_t *old = p->slots;
        size_t ocap = p->cap;
        p->cap = p->cap ? 2 * p->cap : 64;
        p->slots = cg_xcalloc(p->cap, sizeof(*p->slots));
        for (size_t i = 0; i < ocap; i++)
            if (old[i].from) pool_put(p, old[i]);
        free(old);
    }
    pool_slot_t e = {s, cg_xstrdup(s)};
    pool_put(p, e);
    p->n++;
    return e.copy;
}

void cg_snap_pool_free(cg_snap_pool_t *p)
{
    if (!p) return;
    for (size_t i = 0; i < p->cap; i++) free(p->slots[i].copy);
    free(p->slots);
    free(p);
}

/* ---- JSON ---- */

static const char *match_kind(cg_match_kind_t k)
{
    return k == CG_MATCH_EXACT ? "exact" : k == CG_MATCH_PREFIX ? "prefix" : "regex";
}

static const char *const dest_modes[] = {"service", "auto", "named", "weighted"};
static const char *const actions[] = {"route", "redirect", "direct"};

/* The index of name in names[n], or -1. */
static int name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; name && i < n; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

const char *cg_dest_mode_name(cg_dest_mode_t m)
{
    return (unsigned)m < 4 ? dest_modes[m] : "weighted";
}

int cg_dest_mode_parse(const char *name, cg_dest_mode_t *out)
{
    int i = name_index(dest_modes, 4, name);
    if (i >= 0) *out = (cg_dest_mode_t)i;
    return i < 0 ? -1 : 0;
}

int cg_snap_action_parse(const char *name, cg_action_kind_t *out)
{
    int i = name_index(actions, 3, name);
    if (i >= 0) *out = (cg_action_kind_t)i;
    return i < 0 ? -1 : 0;
}

static void encode_rule(cg_jw_t *w, const cg_snapshot_t *s, const cg_snap_rule_t *r)
{
    cg_jw_obj(w);
    cg_jw_karr(w, "matches");
    for (size_t i = 0; i < r->nmatches; i++) {
        const cg_snap_match_t *m = &r->matches[i];
        cg_jw_obj(w);
        if (m->has_uri) {
            cg_jw_kobj(w, "uri");
            cg_jw_kstr(w, match_kind(m->uri.kind), m->uri.value);
            cg_jw_end(w);
        }
        if (m->nheaders) {
            cg_jw_karr(w, "headers");
            for (size_t h = 0; h < m->nheaders; h++) {
                cg_jw_obj(w);
                cg_jw_kstr(w, "name", m->headers[h].name);
                cg_jw_kstr(w, match_kind(m->headers[h].match.kind), m->headers[h].match.value);
                cg_jw_end(w);
            }
            cg_jw_end(w);
        }
        cg_jw_end(w);
    }
    cg_jw_end(w);
    const char *action = actions[(unsigned)r->action < 3 ? r->action : CG_ACTION_DIRECT];
    cg_jw_kstr(w, "action", action);
    if (r->action == CG_ACTION_ROUTE) {
        cg_jw_kstr(w, "destination",
                   r->destination < s->ndestinations ? s->destinations[r->destination].name : NULL);
    } else {
        cg_jw_kobj(w, action); /* the redirect or the direct response */
        if (r->action == CG_ACTION_REDIRECT) {
            cg_jw_ku64(w, "code", r->redirect.redirect_code);
            cg_jw_kstr_opt(w, "scheme", r->redirect.scheme);
            cg_jw_kstr_opt(w, "authority", r->redirect.authority);
            if (r->redirect.port) cg_jw_ku64(w, "port", r->redirect.port);
            cg_jw_kstr_opt(w, "uri", r->redirect.uri);
        } else {
            cg_jw_ku64(w, "status", r->direct.status);
            cg_jw_kstr_opt(w, "body", r->direct.body);
        }
        cg_jw_end(w);
    }
    cg_jw_ku64(w, "timeout_ms", r->timeout_ms);
    cg_jw_end(w);
}

/* retry_on bits as the snapshot spells them (lb/retry.c also reads aliases) */
static const struct {
    uint32_t bit;
    const char *name;
} retry_conditions[] = {
    {CG_RETRY_ON_CONNECT_FAILURE, "connect-failure"},
    {CG_RETRY_ON_RESET, "reset"},
    {CG_RETRY_ON_502, "502"},
    {CG_RETRY_ON_503, "503"},
    {CG_RETRY_ON_504, "504"},
    {CG_RETRY_ON_5XX, "5xx"},
    {CG_RETRY_ON_RETRIABLE_4XX, "retriable-4xx"},
    {CG_RETRY_ON_PER_TRY_TIMEOUT, "per-try-timeout"},
    {0, NULL},
};

#define RETRY(key, type, m, max, dflt)                                                             \
    {                                                                                              \
        "retry", key, type, offsetof(cg_snap_policy_t, retry.m), max, dflt                         \
    }
#define OUTLIER(key, m, max, dflt)                                                                 \
    {                                                                                              \
        "outlier", key, CG_SNAP_PF_U32, offsetof(cg_snap_policy_t, outlier.m), max, dflt           \
    }
#define HC(key, type, m, dflt)                                                                     \
    {                                                                                              \
        "health_check", key, type, offsetof(cg_snap_policy_t, health_check.m), UINT32_MAX, dflt    \
    }

const cg_snap_policy_field_t cg_snap_policy_fields[] = {
    RETRY("attempts", CG_SNAP_PF_U32, attempts, 100, 0),
    RETRY("per_try_timeout_ms", CG_SNAP_PF_U32, per_try_timeout_ms, UINT32_MAX, 0),
    RETRY("retry_on", CG_SNAP_PF_RETRY_ON, retry_on, UINT32_MAX, 0),
    RETRY("backoff_base_ms", CG_SNAP_PF_U32, backoff_base_ms, UINT32_MAX, 25),
    RETRY("backoff_max_ms", CG_SNAP_PF_U32, backoff_max_ms, UINT32_MAX, 250),
    RETRY("budget_percent", CG_SNAP_PF_U32, budget_percent, 100, 20),
    RETRY("budget_min", CG_SNAP_PF_U32, budget_min, UINT32_MAX, 3),
    RETRY("buffer_limit", CG_SNAP_PF_U32, buffer_limit, UINT32_MAX, 64 * 1024),
    OUTLIER("consecutive_gateway_errors", consecutive_gateway_errors, UINT32_MAX, 0),
    OUTLIER("interval_ms", interval_ms, UINT32_MAX, 1000),
    OUTLIER("base_ejection_ms", base_ejection_ms, UINT32_MAX, 5000),
    OUTLIER("max_ejection_ms", max_ejection_ms, UINT32_MAX, 30000),
    OUTLIER("max_ejection_percent", max_ejection_percent, 100, 100),
    HC("enabled", CG_SNAP_PF_BOOL, enabled, 0),
    HC("interval_ms", CG_SNAP_PF_U32, interval_ms, 1000),
    HC("timeout_ms", CG_SNAP_PF_U32, timeout_ms, 1000),
    HC("unhealthy_threshold", CG_SNAP_PF_U32, unhealthy_threshold, 2),
    HC("healthy_threshold", CG_SNAP_PF_U32, healthy_threshold, 1),
    {NULL, "overprovisioning", CG_SNAP_PF_U32, offsetof(cg_snap_policy_t, overprovisioning),
     UINT32_MAX, 140},
    {NULL, NULL, 0, 0, 0, 0},
};

uint32_t cg_snap_policy_get(const cg_snap_policy_t *p, const cg_snap_policy_field_t *f)
{
    const char *at = (const char *)p + f->offset;
    if (f->type == CG_SNAP_PF_BOOL) return *(const uint8_t *)at;
    uint32_t v;
    memcpy(&v, at, sizeof(v));
    return v;
}

void cg_snap_policy_set(cg_snap_policy_t *p, const cg_snap_policy_field_t *f, uint32_t v)
{
    char *at = (char *)p + f->offset;
    if (f->type == CG_SNAP_PF_BOOL)
        *(uint8_t *)at = (uint8_t)v;
    else
        memcpy(at, &v, sizeof(v));
}

int cg_snap_policy_eq(const cg_snap_policy_t *a, const cg_snap_policy_t *b)
{
    for (const cg_snap_policy_field_t *f = cg_snap_policy_fields; f->key; f++)
        if (cg_snap_policy_get(a, f) != cg_snap_policy_get(b, f)) return 0;
    return 1;
}

static void encode_policy(cg_jw_t *w, const cg_snap_policy_t *p)
{
    cg_jw_kobj(w, "policy");
    const char *section = NULL;
    for (const cg_snap_policy_field_t *f = cg_snap_policy_fields; f->key; f++) {
        if (!cg_str_same(f->section, section)) {
            if (section) cg_jw_end(w);
            if (f->section) cg_jw_kobj(w, f->section);
            section = f->section;
        }
        uint32_t v = cg_snap_policy_get(p, f);
        switch (f->type) {
        case CG_SNAP_PF_U32: cg_jw_ku64(w, f->key, v); break;
        case CG_SNAP_PF_BOOL: cg_jw_kbool(w, f->key, v != 0); break;
        case CG_SNAP_PF_RETRY_ON:
            cg_jw_karr(w, f->key);
            for (const __typeof__(retry_conditions[0]) *c = retry_conditions; c->name; c++)
                if (v & c->bit) cg_jw_str(w, c->name);
            cg_jw_end(w);
            break;
        }
    }
    if (section) cg_jw_end(w);
    cg_jw_end(w);
}

static void encode_destination(cg_jw_t *w, const cg_snap_destination_t *d)
{
    cg_jw_obj(w);
    cg_jw_kstr(w, "name", d->name);
    cg_jw_kstr(w, "mode", cg_dest_mode_name(d->mode));
    cg_jw_ku64(w, "connect_timeout_ms", d->connect_timeout_ms);
    cg_jw_karr(w, "endpoints");
    for (size_t e = 0; e < d->nendpoints; e++) {
        const cg_snap_endpoint_t *ep = &d->endpoints[e];
        cg_jw_obj(w);
        cg_jw_kstr_opt(w, "address", ep->address);
        cg_jw_ku64(w, "port", ep->port);
        cg_jw_kstr_opt(w, "cluster", ep->cluster);
        cg_jw_kstr_opt(w, "region", ep->region);
        cg_jw_kstr_opt(w, "zone", ep->zone);
        cg_jw_ku64(w, "weight", ep->weight);
        cg_jw_ku64(w, "priority", ep->priority);
        cg_jw_kstr_opt(w, "identity", ep->identity);
        cg_jw_kstr_opt(w, "host", ep->host);
        cg_jw_end(w);
    }
    cg_jw_end(w);
    if (d->mode == CG_DEST_WEIGHTED) {
        cg_jw_karr(w, "weights");
        for (size_t i = 0; i < d->nweights; i++) {
            cg_jw_obj(w);
            cg_jw_kstr_opt(w, "cluster", d->weights[i].cluster);
            cg_jw_ku64(w, "weight", d->weights[i].weight);
            cg_jw_end(w);
        }
        cg_jw_end(w);
    }
    encode_policy(w, &d->policy);
    cg_jw_end(w);
}

static const char *const tls_modes[] = {"DISABLED", "SIMPLE", "MUTUAL"};
static const char *const tls_versions[] = {"TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"};

static void encode_strs(cg_jw_t *w, const char *key, char *const *v, size_t n)
{
    cg_jw_karr(w, key);
    for (size_t i = 0; i < n; i++) cg_jw_str(w, v[i]);
    cg_jw_end(w);
}

static void encode_tls(cg_jw_t *w, const cg_snap_tls_t *t, int redact)
{
    cg_jw_kobj(w, "tls");
    cg_jw_kstr(w, "mode", tls_modes[t->mode < 3 ? t->mode : 0]);
    cg_jw_kstr(w, "min_version", tls_versions[t->min_version < 5 ? t->min_version : 0]);
    cg_jw_kstr(w, "max_version", tls_versions[t->max_version < 5 ? t->max_version : 0]);
    encode_strs(w, "cipher_suites", t->cipher_suites, t->ncipher_suites);
    encode_strs(w, "subject_alt_names", t->subject_alt_names, t->nsubject_alt_names);
    for (const cg_snap_tls_field_t *f = cg_snap_tls_fields; f->key; f++)
        if (TLS_STR(t, f))
            cg_jw_kstr(w, f->key, redact && f->secret ? "<redacted>" : TLS_STR(t, f));
    cg_jw_end(w);
}

int cg_snap_tls_mode_parse(const char *name)
{
    return name_index(tls_modes, 3, name);
}

int cg_snap_tls_version_parse(const char *name)
{
    return name_index(tls_versions, 5, name);
}

static int encode(const cg_snapshot_t *s, cg_buf_t *out, int redact);

int cg_snapshot_encode_json(const cg_snapshot_t *s, cg_buf_t *out)
{
    return encode(s, out, 0);
}

int cg_snapshot_encode_json_redacted(const cg_snapshot_t *s, cg_buf_t *out)
{
    return encode(s, out, 1);
}

static int encode(const cg_snapshot_t *s, cg_buf_t *out, int redact)
{
    /* straight into out; on failure out is cut back to what it held */
    size_t start = out->len;
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_ku64(&w, "version", s->version); /* first: cg_snapshot_json_set_version relies on it */
    cg_jw_kstr_opt(&w, "cluster", s->cluster);
    cg_jw_kstr_opt(&w, "namespace", s->namespace_);
    cg_jw_kobj(&w, "labels");
    for (size_t i = 0; i < s->nlabels; i++) cg_jw_kstr(&w, s->labels[i].key, s->labels[i].value);
    cg_jw_end(&w);
    cg_jw_kstr_opt(&w, "address", s->address);
    cg_jw_kstr_opt(&w, "region", s->region);
    cg_jw_kstr_opt(&w, "zone", s->zone);
    cg_jw_karr(&w, "servers");
    for (size_t i = 0; i < s->nservers; i++) {
        const cg_snap_server_t *v = &s->servers[i];
        cg_jw_obj(&w);
        cg_jw_kstr_opt(&w, "gateway", v->gateway);
        cg_jw_kstr_opt(&w, "name", v->name);
        cg_jw_ku64(&w, "port", v->port);
        cg_jw_kstr_opt(&w, "hostname", v->hostname);
        if (v->east_west) cg_jw_kbool(&w, "east_west", 1);
        cg_jw_karr(&w, "rules");
        for (size_t r = 0; r < v->nrules; r++) encode_rule(&w, s, &v->rules[r]);
        cg_jw_end(&w);
        if (v->tls) encode_tls(&w, v->tls, redact);
        cg_jw_end(&w);
    }
    cg_jw_end(&w);
    cg_jw_karr(&w, "destinations");
    for (size_t i = 0; i < s->ndestinations; i++) encode_destination(&w, &s->destinations[i]);
    cg_jw_end(&w);
    cg_jw_karr(&w, "warnings");
    for (size_t i = 0; i < s->nwarnings; i++) cg_jw_str(&w, s->warnings[i]);
    cg_jw_end(&w);
    cg_jw_end(&w);
    if (!w.failed) return 0;
    out->len = start;
    return CG_ENOMEM;
}

int cg_snapshot_json_set_version(cg_buf_t *json, uint64_t version)
{
    static const char head[] = "{\"version\":";
    size_t h = sizeof(head) - 1;
    const char *p = cg_buf_data(json);
    size_t len = cg_buf_size(json), end = h;
    if (len < h || memcmp(p, head, h) != 0) return CG_EINVAL;
    while (end < len && p[end] >= '0' && p[end] <= '9') end++;
    if (end == h) return CG_EINVAL;
    char num[24];
    int n = snprintf(num, sizeof(num), "%" PRIu64, version);
    if ((size_t)n == end - h) { /* as many digits: in place */
        memcpy((char *)p + h, num, (size_t)n);
        return 0;
    }
    cg_buf_t b = {0};
    if (cg_buf_reserve(&b, len - (end - h) + (size_t)n) || cg_buf_append(&b, head, h) ||
        cg_buf_append(&b, num, (size_t)n) || cg_buf_append(&b, p + end, len - end)) {
        cg_buf_free(&b);
        return CG_ENOMEM;
    }
    cg_buf_free(json);
    *json = b;
    return 0;
}
