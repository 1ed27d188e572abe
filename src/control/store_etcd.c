/* The store's etcd backend: etcd v3 through its JSON gateway (/v3/kv/range, /v3/kv/txn), with
 * the same in-memory mirror as SQLite in front. Keys and bodies: store_etcd_wire.h.
 *
 * One commit is one txn: the transaction's checks become compares on mod_revision, so a
 * resourceVersion is checked where the write happens. The revision is etcd's (header.revision),
 * so it is the same for every process on the same etcd; writes of leases and of the versions'
 * bound raise it too. Requests block the loop as SQLite's writes do, bounded by a timeout; a
 * connection failure tries the next endpoint, and when none answers the write returns CG_EAGAIN
 * with the cause in st->unavailable (answered 503 "store unavailable: ..."). The mirror stays
 * as it was, so reads go on, and the next write simply tries again. */
#include "control/store.h"
#include "control/store_etcd_wire.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "http/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Endpoints in --store etcd://A,B,... at most. */
#define MAX_ENDPOINTS 16
uint32_t cg_control_store_etcd_timeout_ms = CG_CONTROL_STORE_ETCD_TIMEOUT_MS;

typedef struct et {
    char endpoints[MAX_ENDPOINTS][CG_HTTP_URL_MAX / 4];
    size_t nendpoints, current;
    CG_VEC(cg_control_res_t *) res; /* in seq (create_revision) order */
    cg_resource_set_t *view;
    uint64_t revision, versions_held;
    int leases_kept;
    /* A txn went unanswered (timeout, connection lost): etcd may have applied it, so the next
     * successful commit reads every resource back rather than patch the mirror. */
    int stale;
    cg_control_lease_vec_t leases; /* the stored leases, for renewals that carry only the expiry */
} et_t;

static et_t *impl(const cg_control_store_t *st)
{
    return st->impl;
}

/* POSTs body to path on the current endpoint, moving on to the next one on a connection
 * failure. 0 with a filled in, CG_EAGAIN (st->unavailable says why), CG_EIO or CG_EPARSE. */
static int call(cg_control_store_t *st, const char *path, const cg_buf_t *body, cg_etcd_answer_t *a)
{
    et_t *e = impl(st);
    cg_buf_t why = {0};
    int rc = CG_EAGAIN;
    memset(a, 0, sizeof(*a));
    for (size_t tries = 0; tries < e->nendpoints; tries++) {
        char url[CG_HTTP_URL_MAX];
        snprintf(url, sizeof(url), "http://%s%s", e->endpoints[e->current], path);
        cg_http_result_t res = {0};
        cg_http_fetch("POST", url, "content-type: application/json\r\n", body->base, body->len,
                      cg_control_store_etcd_timeout_ms, &res);
        /* every endpoint's cause, on one line: "etcd A: connection refused; etcd B: ..." */
        cg_buf_printf(&why, "%setcd %s: ", tries ? "; " : "", e->endpoints[e->current]);
        if (res.err == 0) {
            size_t at = why.len;
            rc = cg_etcd_answer_parse(res.status, res.body.base ? res.body.base : "", res.body.len,
                                      a, &why);
            cg_http_result_free(&res);
            /* the parser's lines begin "etcd ...": keep the endpoint's name once */
            if (why.len - at > 5 && !memcmp(why.base + at, "etcd ", 5)) {
                memmove(why.base + at, why.base + at + 5, why.len - at - 5);
                why.len -= 5;
            }
            /* an endpoint that answers "no leader" may be cut off: another may have one */
            if (rc != CG_EAGAIN) break;
        } else {
            cg_buf_printf(&why, "%s", cg_strerror(res.err));
            cg_http_result_free(&res);
        }
        cg_etcd_answer_free(a);
        e->current = (e->current + 1) % e->nendpoints;
    }
    if (rc) {
        snprintf(st->unavailable, sizeof(st->unavailable), "%.*s", (int)why.len,
                 why.base ? why.base : "");
        cg_log_error("store: %s", st->unavailable);
    } else {
        st->unavailable[0] = '\0';
    }
    cg_buf_free(&why);
    return rc;
}

static int txn_call(cg_control_store_t *st, cg_etcd_txn_t *t, cg_etcd_answer_t *a)
{
    cg_buf_t body = {0};
    cg_etcd_txn_body(t, &body);
    int rc = call(st, "/v3/kv/txn", &body, a);
    cg_buf_free(&body);
    return rc;
}

static int range_call(cg_control_store_t *st, const char *key, int prefix, cg_etcd_answer_t *a)
{
    cg_buf_t body = {0};
    cg_etcd_range_body(&body, key, prefix);
    int rc = call(st, "/v3/kv/range", &body, a);
    cg_buf_free(&body);
    return rc;
}

/* ---- values ---- */

static void res_value(const cg_control_res_t *r, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "kind", cg_model_kind_name(r->kind));
    cg_jw_kstr(&w, "cluster", r->cluster);
    cg_jw_kstr(&w, "namespace", r->namespace_);
    cg_jw_kstr(&w, "name", r->name);
    cg_jw_ku64(&w, "updated_us", r->updated_us);
    cg_jw_kstr(&w, "json", r->json);
    cg_jw_end(&w);
}

static cg_control_res_t *res_parse(const cg_etcd_kv_t *kv)
{
    cg_json_t *doc = cg_json_parse(kv->key, kv->value, kv->value_len, NULL);
    cg_buf_t errors = {0};
    cg_json_dec_t d = {.what = kv->key, .errors = &errors};
    cg_control_res_t *r = cg_xcalloc(1, sizeof(*r));
    char *kind = cg_json_dec_str(&d, doc, "kind", 1);
    r->cluster = cg_json_dec_str(&d, doc, "cluster", 1);
    r->namespace_ = cg_json_dec_str(&d, doc, "namespace", 1);
    r->name = cg_json_dec_str(&d, doc, "name", 1);
    r->json = cg_json_dec_str(&d, doc, "json", 1);
    r->updated_us = cg_json_dec_u64(&d, doc, "updated_us", INT64_MAX, 0);
    r->version = kv->mod_rev;
    r->seq = kv->create_rev;
    if (!doc || d.failed || cg_control_kind_parse(kind, strlen(kind), &r->kind)) {
        cg_log_warn("store: etcd key %s is not a resource, ignored: %.*s", kv->key, (int)errors.len,
                    errors.base ? errors.base : "bad kind");
        cg_control_res_free(r);
        r = NULL;
    } else {
        cg_buf_reset(&errors);
        cg_control_res_decode(r, &errors);
        if (!r->set)
            cg_log_warn("store: stored %s/%s no longer validates, ignored: %.*s",
                        cg_model_kind_name(r->kind), r->name, (int)errors.len,
                        errors.base ? errors.base : "");
    }
    free(kind);
    cg_buf_free(&errors);
    cg_json_free(doc);
    return r;
}

static void lease_value(const cg_control_lease_t *l, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "id", l->id);
    cg_jw_kstr(&w, "owner", l->owner);
    cg_jw_ku64(&w, "registered_us", l->registered_us);
    cg_jw_ku64(&w, "expires_us", l->expires_us);
    cg_jw_kstr(&w, "registration", l->registration);
    cg_jw_end(&w);
}

static int lease_parse(const cg_etcd_kv_t *kv, cg_control_lease_t *l)
{
    cg_json_t *doc = cg_json_parse(kv->key, kv->value, kv->value_len, NULL);
    cg_json_dec_t d = {.what = kv->key};
    memset(l, 0, sizeof(*l));
    l->id = cg_json_dec_str(&d, doc, "id", 1);
    l->owner = cg_json_dec_str(&d, doc, "owner", 1);
    l->registration = cg_json_dec_str(&d, doc, "registration", 1);
    l->registered_us = cg_json_dec_u64(&d, doc, "registered_us", INT64_MAX, 0);
    l->expires_us = cg_json_dec_u64(&d, doc, "expires_us", INT64_MAX, 0);
    cg_json_free(doc);
    if (doc && !d.failed) return 0;
    free(l->id);
    free(l->owner);
    free(l->registration);
    cg_log_warn("store: etcd key %s is not a lease, ignored", kv->key);
    return CG_EPARSE;
}

/* ---- open, close ---- */

static int parse_endpoints(et_t *e, const char *spec, cg_buf_t *err)
{
    const char *p = spec + strlen("etcd://");
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        cg_addr_t addr;
        char host[CG_HTTP_URL_MAX / 4];
        if (n == 0 || n >= sizeof(host) || e->nendpoints == MAX_ENDPOINTS) {
            cg_buf_printf(err, "--store %s: expected etcd://HOST:PORT[,HOST:PORT...] (at most %d)",
                          spec, MAX_ENDPOINTS);
            return CG_EINVAL;
        }
        memcpy(host, p, n);
        host[n] = '\0';
        if (cg_addr_parse(&addr, host) || !strchr(host, ':')) {
            cg_buf_printf(err, "--store: %s: expected an IP:PORT", host);
            return CG_EINVAL;
        }
        snprintf(e->endpoints[e->nendpoints++], sizeof(e->endpoints[0]), "%s", host);
        p += n + (comma != NULL);
    }
    if (e->nendpoints) return 0;
    cg_buf_printf(err, "--store %s: no endpoint", spec);
    return CG_EINVAL;
}

static void res_clear(et_t *e)
{
    for (size_t i = 0; i < e->res.len; i++) cg_control_res_free(e->res.items[i]);
    e->res.len = 0;
}

static void et_close(cg_control_store_t *st)
{
    et_t *e = impl(st);
    if (!e) return;
    res_clear(e);
    cg_vec_free(&e->res);
    cg_control_view_free(e->view);
    cg_control_lease_vec_free(&e->leases);
    free(e);
    st->impl = NULL;
}

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = (*(cg_control_res_t *const *)a)->seq, y = (*(cg_control_res_t *const *)b)->seq;
    return x < y ? -1 : x > y;
}

static int cmp_lease_seq(const void *a, const void *b)
{
    const cg_etcd_kv_t *x = a, *y = b;
    return x->create_rev < y->create_rev ? -1 : x->create_rev > y->create_rev;
}

/* Every resource from etcd into the mirror (what was there is replaced, on success only). */
static int load_resources(cg_control_store_t *st)
{
    et_t *e = impl(st);
    cg_etcd_answer_t a;
    int rc = range_call(st, CG_ETCD_PREFIX "resources/", 1, &a);
    if (rc) return rc;
    res_clear(e);
    e->revision = a.revision;
    for (size_t i = 0; i < a.kvs.len; i++) {
        cg_control_res_t *r = res_parse(&a.kvs.items[i]);
        if (r) cg_vec_push(&e->res, r);
    }
    cg_etcd_answer_free(&a);
    if (e->res.len) qsort(e->res.items, e->res.len, sizeof(*e->res.items), cmp_seq);
    e->stale = 0;
    return 0;
}

static int load(cg_control_store_t *st)
{
    et_t *e = impl(st);
    cg_etcd_answer_t a;
    int rc = load_resources(st);
    if (rc) return rc;
    if ((rc = range_call(st, CG_ETCD_PREFIX "leases/", 1, &a))) return rc;
    if (a.kvs.len) qsort(a.kvs.items, a.kvs.len, sizeof(*a.kvs.items), cmp_lease_seq);
    for (size_t i = 0; i < a.kvs.len; i++) {
        cg_control_lease_t l;
        if (lease_parse(&a.kvs.items[i], &l) == 0) cg_vec_push(&e->leases, l);
    }
    cg_etcd_answer_free(&a);
    if ((rc = range_call(st, CG_ETCD_PREFIX "meta/versions", 0, &a))) return rc;
    if (a.kvs.len) e->versions_held = strtoull(a.kvs.items[0].value, NULL, 10);
    cg_etcd_answer_free(&a);
    if ((rc = range_call(st, CG_ETCD_PREFIX "meta/store", 0, &a))) return rc;
    e->leases_kept = a.kvs.len != 0;
    cg_etcd_answer_free(&a);
    if (!e->leases_kept) {
        cg_etcd_txn_t t = {0};
        cg_etcd_txn_put(&t, CG_ETCD_PREFIX "meta/store", "1", 1);
        if ((rc = txn_call(st, &t, &a))) return rc;
        e->revision = a.revision;
        cg_etcd_answer_free(&a);
    }
    return 0;
}

static int et_open(cg_control_store_t *st, const char *spec, cg_buf_t *err)
{
    et_t *e = cg_xcalloc(1, sizeof(*e));
    st->impl = e;
    if (parse_endpoints(e, spec, err) == 0) {
        if (load(st) == 0) {
            cg_control_view_rebuild(&e->view, e->res.items, e->res.len);
            return 0;
        }
        cg_buf_printf(err, "store unavailable: %s", st->unavailable);
    }
    et_close(st);
    return CG_EIO;
}

/* ---- resources ---- */

static int et_commit(cg_control_store_t *st, cg_control_txn_t *txn)
{
    et_t *e = impl(st);
    uint64_t now = cg_clock_wall_us();
    cg_etcd_txn_t t = {0};
    cg_buf_t key = {0}, value = {0};
    for (size_t i = 0; i < txn->checks.len; i++) {
        const cg_control_check_t *c = &txn->checks.items[i];
        cg_buf_reset(&key);
        cg_etcd_res_key(&key, c->kind, c->cluster, c->namespace_, c->name);
        cg_etcd_txn_compare_mod(&t, key.base, c->version);
    }
    for (size_t i = 0; i < txn->puts.len; i++) {
        cg_control_res_t *r = txn->puts.items[i];
        r->updated_us = now;
        cg_buf_reset(&key);
        cg_buf_reset(&value);
        cg_etcd_res_key(&key, r->kind, r->cluster, r->namespace_, r->name);
        res_value(r, &value);
        cg_etcd_txn_put(&t, key.base, value.base, value.len);
    }
    for (size_t i = 0; i < txn->dels.len; i++) {
        const cg_control_res_t *r = txn->dels.items[i];
        cg_buf_reset(&key);
        cg_etcd_res_key(&key, r->kind, r->cluster, r->namespace_, r->name);
        cg_etcd_txn_delete(&t, key.base);
    }
    cg_buf_free(&key);
    cg_buf_free(&value);
    cg_etcd_answer_t a;
    int rc = txn_call(st, &t, &a);
    if (rc == 0 && !a.succeeded) rc = CG_ECONFLICT;
    uint64_t revision = a.revision;
    cg_etcd_answer_free(&a);
    if (rc == CG_EAGAIN) e->stale = 1;
    if (rc == 0 && e->stale && load_resources(st) == 0) {
        for (size_t i = 0; i < txn->puts.len; i++) cg_control_res_free(txn->puts.items[i]);
        cg_control_view_rebuild(&e->view, e->res.items, e->res.len);
        return 0;
    }
    if (rc) {
        for (size_t i = 0; i < txn->puts.len; i++) cg_control_res_free(txn->puts.items[i]);
        return rc == CG_EPARSE ? CG_EIO : rc;
    }
    /* in memory as etcd now has it: a new key's create_revision is this revision */
    e->revision = revision;
    for (size_t i = 0; i < txn->dels.len; i++) {
        const cg_control_res_t *r = txn->dels.items[i];
        ssize_t at = cg_control_res_find(e->res.items, e->res.len, r->kind, r->cluster,
                                         r->namespace_, r->name);
        if (at < 0) continue;
        cg_control_res_free(e->res.items[at]);
        memmove(&e->res.items[at], &e->res.items[at + 1],
                (e->res.len - (size_t)at - 1) * sizeof(*e->res.items));
        e->res.len--;
    }
    for (size_t i = 0; i < txn->puts.len; i++) {
        cg_control_res_t *r = txn->puts.items[i];
        ssize_t at = cg_control_res_find(e->res.items, e->res.len, r->kind, r->cluster,
                                         r->namespace_, r->name);
        r->version = revision;
        if (at >= 0) {
            r->seq = e->res.items[at]->seq;
            cg_control_res_free(e->res.items[at]);
            e->res.items[at] = r;
        } else {
            r->seq = revision;
            cg_vec_push(&e->res, r);
        }
    }
    if (e->res.len) qsort(e->res.items, e->res.len, sizeof(*e->res.items), cmp_seq);
    cg_control_view_rebuild(&e->view, e->res.items, e->res.len);
    return 0;
}

static uint64_t et_revision(const cg_control_store_t *st)
{
    return impl(st)->revision;
}

static const cg_control_res_t *et_get(const cg_control_store_t *st, cg_model_kind_t kind,
                                      const char *cluster, const char *ns, const char *name)
{
    const et_t *e = impl(st);
    ssize_t i = cg_control_res_find(e->res.items, e->res.len, kind, cluster, ns, name);
    return i < 0 ? NULL : e->res.items[i];
}

static size_t et_list(const cg_control_store_t *st, const cg_control_res_t *const **items)
{
    const et_t *e = impl(st);
    *items = (const cg_control_res_t *const *)e->res.items;
    return e->res.len;
}

static const cg_resource_set_t *et_view(const cg_control_store_t *st)
{
    return impl(st)->view;
}

/* ---- snapshot versions ---- */

static uint64_t et_versions_held(const cg_control_store_t *st)
{
    return impl(st)->versions_held;
}

/* Writes t and takes etcd's revision: 0, or CG_EIO (the cause is logged). */
static int write_txn(cg_control_store_t *st, cg_etcd_txn_t *t)
{
    cg_etcd_answer_t a;
    int rc = txn_call(st, t, &a);
    if (rc == 0) impl(st)->revision = a.revision;
    cg_etcd_answer_free(&a);
    return rc ? CG_EIO : 0;
}

static int et_versions_hold(cg_control_store_t *st, uint64_t upto)
{
    et_t *e = impl(st);
    if (upto <= e->versions_held) return 0;
    char v[24];
    int n = snprintf(v, sizeof(v), "%llu", (unsigned long long)upto);
    cg_etcd_txn_t t = {0};
    cg_etcd_txn_put(&t, CG_ETCD_PREFIX "meta/versions", v, (size_t)n);
    if (write_txn(st, &t)) return CG_EIO;
    e->versions_held = upto;
    return 0;
}

/* ---- leases ---- */

static ssize_t lease_find(const et_t *e, const char *id)
{
    for (size_t i = 0; i < e->leases.len; i++)
        if (!strcmp(e->leases.items[i].id, id)) return (ssize_t)i;
    return -1;
}

static void lease_forget(et_t *e, const char *id)
{
    ssize_t at = lease_find(e, id);
    if (at < 0) return;
    cg_control_lease_t *l = &e->leases.items[at];
    free(l->id);
    free(l->owner);
    free(l->registration);
    memmove(l, l + 1, (e->leases.len - (size_t)at - 1) * sizeof(*l));
    e->leases.len--;
}

static void lease_copy(cg_control_lease_vec_t *out, const cg_control_lease_t *l)
{
    cg_control_lease_t c = {
        .id = cg_xstrdup(l->id),
        .owner = cg_xstrdup(l->owner),
        .registration = cg_xstrdup(l->registration),
        .registered_us = l->registered_us,
        .expires_us = l->expires_us,
    };
    cg_vec_push(out, c);
}

static void txn_lease_put(cg_etcd_txn_t *t, const cg_control_lease_t *l)
{
    cg_buf_t key = {0}, value = {0};
    cg_etcd_lease_key(&key, l->id);
    lease_value(l, &value);
    cg_etcd_txn_put(t, key.base, value.base, value.len);
    cg_buf_free(&key);
    cg_buf_free(&value);
}

static void txn_lease_delete(cg_etcd_txn_t *t, const char *id)
{
    cg_buf_t key = {0};
    cg_etcd_lease_key(&key, id);
    cg_etcd_txn_delete(t, key.base);
    cg_buf_free(&key);
}

static int et_lease_put(cg_control_store_t *st, const cg_control_lease_t *l, const char *replaces)
{
    et_t *e = impl(st);
    cg_etcd_txn_t t = {0};
    if (replaces && strcmp(replaces, l->id)) txn_lease_delete(&t, replaces);
    txn_lease_put(&t, l);
    if (write_txn(st, &t)) return CG_EIO;
    if (replaces) lease_forget(e, replaces);
    lease_forget(e, l->id);
    lease_copy(&e->leases, l);
    return 0;
}

static int et_lease_renew(cg_control_store_t *st, const cg_control_lease_t *items, size_t n)
{
    et_t *e = impl(st);
    cg_etcd_txn_t t = {0};
    for (size_t i = 0; i < n; i++) {
        ssize_t at = lease_find(e, items[i].id);
        if (at < 0) continue;
        cg_control_lease_t l = e->leases.items[at];
        l.expires_us = items[i].expires_us;
        txn_lease_put(&t, &l);
    }
    if (t.nsuccess == 0) {
        cg_etcd_txn_free(&t);
        return 0;
    }
    if (write_txn(st, &t)) return CG_EIO;
    for (size_t i = 0; i < n; i++) {
        ssize_t at = lease_find(e, items[i].id);
        if (at >= 0) e->leases.items[at].expires_us = items[i].expires_us;
    }
    return 0;
}

static int et_lease_drop(cg_control_store_t *st, const char *const *ids, size_t n)
{
    et_t *e = impl(st);
    cg_etcd_txn_t t = {0};
    for (size_t i = 0; i < n; i++) txn_lease_delete(&t, ids[i]);
    if (write_txn(st, &t)) return CG_EIO;
    for (size_t i = 0; i < n; i++) lease_forget(e, ids[i]);
    return 0;
}

static int et_lease_list(cg_control_store_t *st, cg_control_lease_vec_t *out, int *kept)
{
    const et_t *e = impl(st);
    *kept = e->leases_kept;
    for (size_t i = 0; i < e->leases.len; i++) {
        lease_copy(out, &e->leases.items[i]);
    }
    return 0;
}

const cg_control_store_ops_t cg_control_store_etcd = {
    .name = "etcd",
    .open = et_open,
    .close = et_close,
    .revision = et_revision,
    .get = et_get,
    .list = et_list,
    .view = et_view,
    .commit = et_commit,
    .versions_held = et_versions_held,
    .versions_hold = et_versions_hold,
    .lease_put = et_lease_put,
    .lease_renew = et_lease_renew,
    .lease_drop = et_lease_drop,
    .lease_list = et_lease_list,
};
