/* The store's request half: parses and validates request bodies into canonical documents,
 * decides what each one changes and commits them through the backend (store.h). */
#include "control/store.h"

#include "control/doc.h"
#include "core/err.h"
#include "model/yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int cg_control_kind_parse(const char *s, size_t len, cg_model_kind_t *kind)
{
    static const struct {
        const char *name;
        cg_model_kind_t kind;
    } names[] = {
        {"gateway", CG_KIND_GATEWAY},
        {"gateways", CG_KIND_GATEWAY},
        {"gw", CG_KIND_GATEWAY},
        {"cluster", CG_KIND_CLUSTER},
        {"clusters", CG_KIND_CLUSTER},
        {"service", CG_KIND_SERVICE},
        {"services", CG_KIND_SERVICE},
        {"svc", CG_KIND_SERVICE},
        {"secret", CG_KIND_SECRET},
        {"secrets", CG_KIND_SECRET},
        {"workspacesetting", CG_KIND_WORKSPACE_SETTING},
        {"workspacesettings", CG_KIND_WORKSPACE_SETTING},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(names); i++)
        if (strlen(names[i].name) == len && strncasecmp(s, names[i].name, len) == 0) {
            *kind = names[i].kind;
            return 0;
        }
    return CG_EINVAL;
}

static int streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

/* ---- for backends' mirrors ---- */

ssize_t cg_control_res_find(cg_control_res_t *const *items, size_t n, cg_model_kind_t kind,
                            const char *cluster, const char *ns, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        const cg_control_res_t *r = items[i];
        if (r->kind == kind && streq(r->name, name) && streq(r->namespace_, ns) &&
            streq(r->cluster, cluster))
            return (ssize_t)i;
    }
    return -1;
}

void cg_control_view_free(cg_resource_set_t *v)
{
    if (!v) return;
    free(v->clusters);
    free(v->services);
    free(v->gateways);
    free(v->secrets);
    free(v->workspace_settings);
    free(v);
}

/* The view borrows every struct of every resource's own set (shallow copies). */
void cg_control_view_rebuild(cg_resource_set_t **view, cg_control_res_t *const *items, size_t n)
{
    cg_control_view_free(*view);
    cg_resource_set_t *v = cg_xcalloc(1, sizeof(*v));
    size_t nc = 0, ns = 0, ng = 0, nx = 0, nw = 0;
    for (size_t i = 0; i < n; i++) {
        const cg_resource_set_t *r = items[i]->set;
        if (!r) continue;
        nc += r->nclusters, ns += r->nservices, ng += r->ngateways, nx += r->nsecrets;
        nw += r->nworkspace_settings;
    }
    v->clusters = cg_xcalloc(nc + 1, sizeof(*v->clusters));
    v->services = cg_xcalloc(ns + 1, sizeof(*v->services));
    v->gateways = cg_xcalloc(ng + 1, sizeof(*v->gateways));
    v->secrets = cg_xcalloc(nx + 1, sizeof(*v->secrets));
    v->workspace_settings = cg_xcalloc(nw + 1, sizeof(*v->workspace_settings));
    for (size_t i = 0; i < n; i++) {
        const cg_resource_set_t *r = items[i]->set;
        if (!r) continue;
        for (size_t j = 0; j < r->nclusters; j++) v->clusters[v->nclusters++] = r->clusters[j];
        for (size_t j = 0; j < r->nservices; j++) v->services[v->nservices++] = r->services[j];
        for (size_t j = 0; j < r->ngateways; j++) v->gateways[v->ngateways++] = r->gateways[j];
        for (size_t j = 0; j < r->nsecrets; j++) v->secrets[v->nsecrets++] = r->secrets[j];
        for (size_t j = 0; j < r->nworkspace_settings; j++)
            v->workspace_settings[v->nworkspace_settings++] = r->workspace_settings[j];
    }
    *view = v;
}

void cg_control_res_free(cg_control_res_t *r)
{
    if (!r) return;
    free(r->cluster);
    free(r->namespace_);
    free(r->name);
    free(r->json);
    cg_model_free(r->set);
    free(r);
}

static void push_result(cg_control_results_t *out, cg_model_kind_t kind, const char *cluster,
                        const char *ns, const char *name, cg_control_action_t a, uint64_t version)
{
    cg_control_result_t r = {
        kind,   cg_xstrdup(cluster ? cluster : ""), cg_xstrdup(ns ? ns : ""), cg_xstrdup(name), a,
        version};
    cg_vec_push(out, r);
}

/* The identity of a set holding exactly one resource. */
static const cg_model_meta_t *single_meta(const cg_resource_set_t *s, cg_model_kind_t *kind)
{
    if (s->nclusters) return *kind = CG_KIND_CLUSTER, &s->clusters[0].metadata;
    if (s->nservices) return *kind = CG_KIND_SERVICE, &s->services[0].metadata;
    if (s->ngateways) return *kind = CG_KIND_GATEWAY, &s->gateways[0].metadata;
    if (s->nsecrets) return *kind = CG_KIND_SECRET, &s->secrets[0].metadata;
    if (s->nworkspace_settings)
        return *kind = CG_KIND_WORKSPACE_SETTING, &s->workspace_settings[0].metadata;
    return NULL;
}

/* Decodes one canonical document alone; label names it in positions. */
static cg_resource_set_t *decode_one(const char *label, const char *json, cg_buf_t *errors)
{
    cg_resource_set_t *s = NULL;
    if (cg_model_load_buffer(label, json, strlen(json), &s, errors) != 0) return NULL;
    cg_model_kind_t k;
    if (single_meta(s, &k) == NULL ||
        s->nclusters + s->nservices + s->ngateways + s->nsecrets + s->nworkspace_settings != 1) {
        cg_model_free(s);
        return NULL;
    }
    return s;
}

void cg_control_res_decode(cg_control_res_t *r, cg_buf_t *errors)
{
    cg_buf_t label = {0};
    cg_buf_printf(&label, "%s/%s%c", cg_model_kind_name(r->kind), r->name, 0);
    cg_model_free(r->set);
    r->set = decode_one(label.base, r->json, errors);
    cg_buf_free(&label);
}

/* ---- the backend ---- */

int cg_control_store_open_backend(cg_control_store_t *st, const cg_control_store_ops_t *ops,
                                  const char *dir, cg_buf_t *err)
{
    st->ops = ops;
    st->impl = NULL;
    if (ops->open(st, dir, err) == 0) return 0;
    st->ops = NULL;
    return CG_EIO;
}

int cg_control_store_open(cg_control_store_t *st, const char *dir, cg_buf_t *err)
{
    return cg_control_store_open_backend(st, &cg_control_store_sqlite, dir, err);
}

void cg_control_store_close(cg_control_store_t *st)
{
    if (st->ops) st->ops->close(st);
    st->ops = NULL;
    st->impl = NULL;
}

int cg_control_store_is_open(const cg_control_store_t *st)
{
    return st->ops != NULL;
}

int cg_control_store_start(cg_control_store_t *st, cg_loop_t *loop)
{
    return st->ops && st->ops->start ? st->ops->start(st, loop) : 0;
}

const char *cg_control_store_why(const cg_control_store_t *st, const char *fallback)
{
    return st->unavailable[0] ? st->unavailable : fallback;
}

int cg_control_store_ready(const cg_control_store_t *st)
{
    return st->ops && (!st->ops->ready || st->ops->ready(st));
}

int cg_control_store_keeps_tokens(const cg_control_store_t *st)
{
    return st->ops && st->ops->tokens_put && st->ops->tokens_get;
}

int cg_control_store_tokens_put(cg_control_store_t *st, const char *text, size_t len)
{
    return cg_control_store_keeps_tokens(st) ? st->ops->tokens_put(st, text, len) : CG_EINVAL;
}

int cg_control_store_tokens_get(const cg_control_store_t *st, cg_buf_t *out)
{
    return cg_control_store_keeps_tokens(st) ? st->ops->tokens_get(st, out) : 0;
}

uint64_t cg_control_store_version_base(const cg_control_store_t *st)
{
    return st->ops && st->ops->version_base ? st->ops->version_base(st) : 0;
}

uint64_t cg_control_store_revision(const cg_control_store_t *st)
{
    return st->ops->revision(st);
}

const cg_control_res_t *cg_control_store_find(const cg_control_store_t *st, cg_model_kind_t kind,
                                              const char *cluster, const char *ns, const char *name)
{
    return st->ops->get(st, kind, cluster ? cluster : "", ns ? ns : "", name);
}

size_t cg_control_store_list(const cg_control_store_t *st, const cg_control_res_t *const **items)
{
    return st->ops->list(st, items);
}

const cg_resource_set_t *cg_control_store_view(const cg_control_store_t *st)
{
    return st->ops->view(st);
}

uint64_t cg_control_store_versions_held(const cg_control_store_t *st)
{
    return st->ops->versions_held(st);
}

int cg_control_store_versions_hold(cg_control_store_t *st, uint64_t upto)
{
    return st->ops->versions_hold(st, upto);
}

int cg_control_store_lease_put(cg_control_store_t *st, const cg_control_lease_t *l,
                               const char *replaces)
{
    return st->ops->lease_put(st, l, replaces);
}

int cg_control_store_lease_renew(cg_control_store_t *st, const cg_control_lease_t *items, size_t n)
{
    return n ? st->ops->lease_renew(st, items, n) : 0;
}

int cg_control_store_lease_drop(cg_control_store_t *st, const char *const *ids, size_t n)
{
    return n ? st->ops->lease_drop(st, ids, n) : 0;
}

int cg_control_store_lease_list(cg_control_store_t *st, cg_control_lease_vec_t *out, int *kept)
{
    return st->ops->lease_list(st, out, kept);
}

void cg_control_lease_vec_free(cg_control_lease_vec_t *v)
{
    for (size_t i = 0; i < v->len; i++) {
        free(v->items[i].id);
        free(v->items[i].owner);
        free(v->items[i].registration);
    }
    cg_vec_free(v);
}

/* Commits a transaction when it holds anything and tells the listener; frees its vectors. */
static int commit(cg_control_store_t *st, cg_control_txn_t *txn, cg_control_results_t *results,
                  cg_buf_t *errors)
{
    int changes = txn->puts.len + txn->dels.len != 0;
    int rc = changes ? st->ops->commit(st, txn) : 0;
    cg_vec_free(&txn->puts);
    cg_vec_free(&txn->dels);
    cg_vec_free(&txn->checks);
    if (rc) {
        cg_control_results_free(results);
        if (rc == CG_ECONFLICT)
            cg_buf_printf(errors, "conflict: a resource changed while this request ran: get it "
                                  "again and re-apply\n");
        else if (rc == CG_EAGAIN)
            cg_buf_printf(errors, "store unavailable: %s\n",
                          cg_control_store_why(st, "cannot reach the store"));
        else
            cg_buf_printf(errors, "store: write failed\n");
        if (rc != CG_ECONFLICT && rc != CG_EAGAIN) rc = CG_EIO;
    } else if (changes && st->on_change) {
        st->on_change(st, st->data);
    }
    return rc;
}

/* ---- requests ---- */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Splits validated content into canonical single-resource documents. */
typedef struct parsed_doc {
    cg_control_res_t *res; /* identity, json, set; version/seq unset */
    /* metadata.resourceVersion, taken out of the document: apply is compare-and-swap */
    int has_expect;
    uint64_t expect; /* 0: the resource must not exist */
    int line, col;   /* of the resourceVersion */
} parsed_doc_t;
typedef CG_VEC(parsed_doc_t) parsed_docs_t;

static void parsed_free(parsed_docs_t *d)
{
    for (size_t i = 0; i < d->len; i++) cg_control_res_free(d->items[i].res);
    cg_vec_free(d);
}

/* Takes metadata.resourceVersion (validated a string by the model) out of a document's tree,
 * so that the stored canonical form never holds it. 1 when it was there, -1 when it is not a
 * version (error written), 0 when absent. */
static int take_resource_version(const char *name, cg_ynode_t *md, parsed_doc_t *d,
                                 cg_buf_t *errors)
{
    for (size_t i = 0; md && md->kind == CG_YNODE_MAP && i < md->n; i++) {
        const cg_ynode_t *k = cg_ynode_key(md, i), *v = cg_ynode_value(md, i);
        if (k->kind != CG_YNODE_SCALAR || strcmp(k->text, "resourceVersion")) continue;
        d->line = v->line;
        d->col = v->col;
        char *end = NULL;
        errno = 0;
        unsigned long long x = v->kind == CG_YNODE_SCALAR ? strtoull(v->text, &end, 10) : 0;
        if (!end || end == v->text || *end || errno || v->text[0] < '0' || v->text[0] > '9') {
            cg_buf_printf(errors,
                          "%s:%d:%d: metadata.resourceVersion: expected the version of the stored "
                          "resource (digits, as `crossgate get` shows it)\n",
                          name, v->line, v->col);
            return -1;
        }
        d->has_expect = 1;
        d->expect = x;
        memmove(&md->items[2 * i], &md->items[2 * i + 2], (md->n - i - 1) * 2 * sizeof(*md->items));
        md->n--;
        return 1;
    }
    return 0;
}

static int parse_docs(const char *name, const char *data, size_t len, parsed_docs_t *out,
                      cg_buf_t *errors)
{
    /* The same validation as static mode, positions in the caller's file. */
    cg_resource_set_t *check = NULL;
    int rc = cg_model_load_buffer(name, data, len, &check, errors);
    if (rc) return CG_EPARSE;
    cg_model_free(check);

    cg_ystream_t ys = {0};
    rc = cg_model_yaml_parse(name, data, len, ends_with(name, ".json"), &ys, errors);
    for (size_t i = 0; rc == 0 && i < ys.ndocs; i++) {
        const cg_ynode_t *root = ys.docs[i].root;
        if (root == NULL || root->kind != CG_YNODE_MAP) continue; /* empty documents */
        cg_buf_t json = {0}, label = {0};
        cg_ynode_t *md = cg_ynode_get(root, "metadata");
        cg_buf_printf(&label, "%s/%s%c", cg_control_doc_str(root, "kind"),
                      cg_control_doc_str(md, "name"), 0);
        cg_resource_set_t *set = NULL;
        parsed_doc_t d = {0};
        if (take_resource_version(name, md, &d, errors) < 0) {
            rc = CG_EPARSE;
        } else if (cg_control_doc_json(root, &json) == 0 && cg_buf_append(&json, "", 1) == 0) {
            set = decode_one(label.base, json.base, errors);
        }
        if (rc) {
            /* reported */
        } else if (set == NULL) {
            cg_buf_printf(errors, "%s:%d:%d: document cannot be stored in canonical form\n", name,
                          root->line, root->col);
            rc = CG_EPARSE;
        } else {
            cg_control_res_t *r = cg_xcalloc(1, sizeof(*r));
            const cg_model_meta_t *m = single_meta(set, &r->kind);
            r->name = cg_xstrdup(m->name);
            r->namespace_ = cg_xstrdup(m->namespace_ ? m->namespace_ : "");
            r->cluster = cg_xstrdup(m->cluster ? m->cluster : "");
            r->json = cg_xstrdup(json.base);
            r->set = set;
            d.res = r;
            cg_vec_push(out, d);
        }
        cg_buf_free(&json);
        cg_buf_free(&label);
    }
    cg_ystream_free(&ys);
    if (rc) {
        parsed_free(out);
        return CG_EPARSE;
    }
    return 0;
}

/* The merged set must hold each identity once (the body's own duplicates were reported with
 * positions by the model; this guards the merge itself). */
static int same_id(const cg_control_res_t *a, const cg_control_res_t *b)
{
    return a->kind == b->kind && streq(a->name, b->name) && streq(a->namespace_, b->namespace_) &&
           streq(a->cluster, b->cluster);
}

static int check_merged(const parsed_docs_t *docs, cg_buf_t *errors)
{
    for (size_t i = 0; i < docs->len; i++)
        for (size_t j = 0; j < i; j++) {
            const cg_control_res_t *a = docs->items[i].res, *b = docs->items[j].res;
            if (same_id(a, b)) {
                cg_buf_printf(errors, "duplicate %s %s in one request\n",
                              cg_model_kind_name(a->kind), a->name);
                return CG_EPARSE;
            }
        }
    return 0;
}

/* The documents carrying a resourceVersion against the store: each mismatch is one error line
 * with the position of its resourceVersion, and CG_ECONFLICT; else their checks go into txn
 * (for a backend shared with other writers to check again inside the transaction). */
static int check_versions(cg_control_store_t *st, const char *name, const parsed_docs_t *docs,
                          cg_control_txn_t *txn, cg_buf_t *errors)
{
    int rc = 0;
    for (size_t i = 0; i < docs->len; i++) {
        const parsed_doc_t *d = &docs->items[i];
        if (!d->has_expect) continue;
        const cg_control_res_t *r = d->res;
        const cg_control_res_t *old =
            cg_control_store_find(st, r->kind, r->cluster, r->namespace_, r->name);
        uint64_t now = old ? old->version : 0;
        cg_control_check_t c = {r->kind, r->cluster, r->namespace_, r->name, d->expect};
        cg_vec_push(&txn->checks, c);
        if (now == d->expect) continue;
        cg_buf_printf(errors, "%s:%d:%d: %s/%s: conflict: resourceVersion is %" PRIu64 ", ", name,
                      d->line, d->col, cg_model_kind_name(r->kind), r->name, d->expect);
        if (!old)
            cg_buf_printf(errors, "but no such resource is stored");
        else if (d->expect == 0)
            cg_buf_printf(errors, "but it exists, at version %" PRIu64, now);
        else
            cg_buf_printf(errors, "but the stored resource is at version %" PRIu64, now);
        cg_buf_printf(errors, " (it changed since it was read: get it again and re-apply)\n");
        rc = CG_ECONFLICT;
    }
    return rc;
}

int cg_control_store_apply(cg_control_store_t *st, const char *name, const char *data, size_t len,
                           cg_control_results_t *results, cg_buf_t *errors)
{
    parsed_docs_t docs = {0};
    int rc = parse_docs(name, data, len, &docs, errors);
    if (rc) return rc;
    cg_control_txn_t txn = {0};
    if ((rc = check_merged(&docs, errors)) ||
        (rc = check_versions(st, name, &docs, &txn, errors))) {
        cg_vec_free(&txn.checks);
        goto Exit;
    }
    for (size_t i = 0; i < docs.len; i++) {
        cg_control_res_t *r = docs.items[i].res;
        const cg_control_res_t *old =
            cg_control_store_find(st, r->kind, r->cluster, r->namespace_, r->name);
        cg_control_action_t a = CG_CONTROL_CREATED;
        uint64_t version = 0; /* the new revision: filled in after the commit */
        if (old && strcmp(old->json, r->json) == 0) {
            a = CG_CONTROL_UNCHANGED;
            version = old->version;
        } else {
            a = old ? CG_CONTROL_CONFIGURED : CG_CONTROL_CREATED;
            cg_vec_push(&txn.puts, r);
            docs.items[i].res = NULL; /* the transaction's now */
        }
        push_result(results, r->kind, r->cluster, r->namespace_, r->name, a, version);
    }
    if ((rc = commit(st, &txn, results, errors))) goto Exit;
    for (size_t i = 0; i < results->len; i++)
        if (results->items[i].action != CG_CONTROL_UNCHANGED)
            results->items[i].version = cg_control_store_revision(st);
Exit:
    parsed_free(&docs);
    return rc;
}

static int delete_ids(cg_control_store_t *st, cg_control_res_t *const *ids, size_t n,
                      cg_control_results_t *results, cg_buf_t *errors)
{
    cg_control_txn_t txn = {0};
    for (size_t i = 0; i < n; i++) {
        const cg_control_res_t *r = ids[i];
        const cg_control_res_t *old =
            cg_control_store_find(st, r->kind, r->cluster, r->namespace_, r->name);
        for (size_t j = 0; old && j < txn.dels.len; j++)
            if (txn.dels.items[j] == old) old = NULL; /* named twice */
        push_result(results, r->kind, r->cluster, r->namespace_, r->name,
                    old ? CG_CONTROL_DELETED : CG_CONTROL_NOT_FOUND, 0);
        if (old) cg_vec_push(&txn.dels, old);
    }
    return commit(st, &txn, results, errors);
}

int cg_control_store_delete_docs(cg_control_store_t *st, const char *name, const char *data,
                                 size_t len, cg_control_results_t *results, cg_buf_t *errors)
{
    parsed_docs_t docs = {0};
    int rc = parse_docs(name, data, len, &docs, errors);
    if (rc) return rc;
    CG_VEC(cg_control_res_t *) ids = {0};
    for (size_t i = 0; i < docs.len; i++) cg_vec_push(&ids, docs.items[i].res);
    rc = delete_ids(st, ids.items, ids.len, results, errors);
    cg_vec_free(&ids);
    parsed_free(&docs);
    return rc;
}

int cg_control_store_delete(cg_control_store_t *st, cg_model_kind_t kind, const char *cluster,
                            const char *ns, const char *name, cg_control_results_t *results,
                            cg_buf_t *errors)
{
    cg_control_res_t id = {.kind = kind,
                           .cluster = (char *)(cluster ? cluster : ""),
                           .namespace_ = (char *)(ns ? ns : ""),
                           .name = (char *)name};
    cg_control_res_t *p = &id;
    return delete_ids(st, &p, 1, results, errors);
}
