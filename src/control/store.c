/* Resource store: SQLite (WAL, synchronous=FULL: an acknowledged write survives a crash)
 * behind an in-memory mirror that translation reads. */
#include "control/store.h"

#include "control/doc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "model/yaml.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS resources("
    " kind TEXT NOT NULL, cluster TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
    " seq INTEGER NOT NULL, version INTEGER NOT NULL, updated_us INTEGER NOT NULL,"
    " body TEXT NOT NULL, PRIMARY KEY(kind, cluster, namespace, name));";

const char *cg_control_action_name(cg_control_action_t a)
{
    switch (a) {
    case CG_CONTROL_CREATED: return "created";
    case CG_CONTROL_CONFIGURED: return "configured";
    case CG_CONTROL_UNCHANGED: return "unchanged";
    case CG_CONTROL_DELETED: return "deleted";
    default: return "not found";
    }
}

int cg_control_kind_parse(const char *s, size_t len, cg_model_kind_t *kind)
{
    static const struct {
        const char *name;
        cg_model_kind_t kind;
    } names[] = {
        {"gateway", CG_KIND_GATEWAY},  {"gateways", CG_KIND_GATEWAY}, {"gw", CG_KIND_GATEWAY},
        {"cluster", CG_KIND_CLUSTER},  {"clusters", CG_KIND_CLUSTER}, {"service", CG_KIND_SERVICE},
        {"services", CG_KIND_SERVICE}, {"svc", CG_KIND_SERVICE},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(names); i++)
        if (strlen(names[i].name) == len && strncasecmp(s, names[i].name, len) == 0) {
            *kind = names[i].kind;
            return 0;
        }
    return CG_EINVAL;
}

static int kind_from_name(const char *s, cg_model_kind_t *k)
{
    return cg_control_kind_parse(s, strlen(s), k);
}

static int streq(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

static void res_free(cg_control_res_t *r)
{
    if (!r) return;
    free(r->cluster);
    free(r->namespace_);
    free(r->name);
    free(r->json);
    cg_model_free(r->set);
    free(r);
}

void cg_control_results_free(cg_control_results_t *r)
{
    for (size_t i = 0; i < r->len; i++) {
        free(r->items[i].cluster);
        free(r->items[i].namespace_);
        free(r->items[i].name);
    }
    cg_vec_free(r);
}

static void push_result(cg_control_results_t *out, cg_model_kind_t kind, const char *cluster,
                        const char *ns, const char *name, cg_control_action_t a, uint64_t version)
{
    cg_control_result_t r = {
        kind,   cg_xstrdup(cluster ? cluster : ""), cg_xstrdup(ns ? ns : ""), cg_xstrdup(name), a,
        version};
    cg_vec_push(out, r);
}

/* ---- the in-memory mirror ---- */

static ssize_t find_index(const cg_control_store_t *st, cg_model_kind_t kind, const char *cluster,
                          const char *ns, const char *name)
{
    for (size_t i = 0; i < st->res.len; i++) {
        const cg_control_res_t *r = st->res.items[i];
        if (r->kind == kind && streq(r->name, name) && streq(r->namespace_, ns) &&
            streq(r->cluster, cluster))
            return (ssize_t)i;
    }
    return -1;
}

const cg_control_res_t *cg_control_store_find(const cg_control_store_t *st, cg_model_kind_t kind,
                                              const char *cluster, const char *ns, const char *name)
{
    ssize_t i = find_index(st, kind, cluster, ns, name);
    return i < 0 ? NULL : st->res.items[i];
}

static void view_free(cg_resource_set_t *v)
{
    if (!v) return;
    free(v->clusters);
    free(v->services);
    free(v->gateways);
    free(v);
}

/* The view borrows every struct of every resource's own set (shallow copies). */
static void rebuild_view(cg_control_store_t *st)
{
    view_free(st->view);
    cg_resource_set_t *v = cg_xcalloc(1, sizeof(*v));
    size_t nc = 0, ns = 0, ng = 0;
    for (size_t i = 0; i < st->res.len; i++) {
        const cg_resource_set_t *s = st->res.items[i]->set;
        if (!s) continue;
        nc += s->nclusters, ns += s->nservices, ng += s->ngateways;
    }
    v->clusters = cg_xcalloc(nc + 1, sizeof(*v->clusters));
    v->services = cg_xcalloc(ns + 1, sizeof(*v->services));
    v->gateways = cg_xcalloc(ng + 1, sizeof(*v->gateways));
    for (size_t i = 0; i < st->res.len; i++) {
        const cg_resource_set_t *s = st->res.items[i]->set;
        if (!s) continue;
        for (size_t j = 0; j < s->nclusters; j++) v->clusters[v->nclusters++] = s->clusters[j];
        for (size_t j = 0; j < s->nservices; j++) v->services[v->nservices++] = s->services[j];
        for (size_t j = 0; j < s->ngateways; j++) v->gateways[v->ngateways++] = s->gateways[j];
    }
    st->view = v;
}

/* The identity of a set holding exactly one resource. */
static const cg_model_meta_t *single_meta(const cg_resource_set_t *s, cg_model_kind_t *kind)
{
    if (s->nclusters) return *kind = CG_KIND_CLUSTER, &s->clusters[0].metadata;
    if (s->nservices) return *kind = CG_KIND_SERVICE, &s->services[0].metadata;
    if (s->ngateways) return *kind = CG_KIND_GATEWAY, &s->gateways[0].metadata;
    return NULL;
}

/* Decodes one canonical document alone; label names it in positions. */
static cg_resource_set_t *decode_one(const char *label, const char *json, cg_buf_t *errors)
{
    cg_resource_set_t *s = NULL;
    if (cg_model_load_buffer(label, json, strlen(json), &s, errors) != 0) return NULL;
    cg_model_kind_t k;
    if (single_meta(s, &k) == NULL || s->nclusters + s->nservices + s->ngateways != 1) {
        cg_model_free(s);
        return NULL;
    }
    return s;
}

/* ---- SQLite ---- */

static int db_exec(cg_control_store_t *st, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        cg_log_error("store: %s: %s", sql, msg ? msg : sqlite3_errmsg(st->db));
        sqlite3_free(msg);
        return CG_EIO;
    }
    return 0;
}

static int load_all(cg_control_store_t *st)
{
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(st->db, "SELECT value FROM meta WHERE key='revision'", -1, &q, NULL))
        return CG_EIO;
    if (sqlite3_step(q) == SQLITE_ROW) st->revision = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    if (sqlite3_prepare_v2(st->db,
                           "SELECT kind, cluster, namespace, name, seq, version, updated_us, body "
                           "FROM resources ORDER BY seq",
                           -1, &q, NULL))
        return CG_EIO;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        cg_control_res_t *r = cg_xcalloc(1, sizeof(*r));
        if (kind_from_name((const char *)sqlite3_column_text(q, 0), &r->kind)) {
            free(r);
            continue;
        }
        r->cluster = cg_xstrdup((const char *)sqlite3_column_text(q, 1));
        r->namespace_ = cg_xstrdup((const char *)sqlite3_column_text(q, 2));
        r->name = cg_xstrdup((const char *)sqlite3_column_text(q, 3));
        r->seq = (uint64_t)sqlite3_column_int64(q, 4);
        r->version = (uint64_t)sqlite3_column_int64(q, 5);
        r->updated_us = (uint64_t)sqlite3_column_int64(q, 6);
        r->json = cg_xstrdup((const char *)sqlite3_column_text(q, 7));
        cg_buf_t label = {0}, errors = {0};
        cg_buf_printf(&label, "%s/%s%c", cg_model_kind_name(r->kind), r->name, 0);
        r->set = decode_one(label.base, r->json, &errors);
        if (!r->set)
            cg_log_warn("store: stored %s no longer validates, ignored: %.*s", label.base,
                        (int)errors.len, errors.base ? errors.base : "");
        cg_buf_free(&label);
        cg_buf_free(&errors);
        if (r->seq >= st->next_seq) st->next_seq = r->seq + 1;
        cg_vec_push(&st->res, r);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : CG_EIO;
}

int cg_control_store_open(cg_control_store_t *st, const char *dir, cg_buf_t *err)
{
    memset(st, 0, sizeof(*st));
    st->next_seq = 1;
    mkdir(dir, 0700);
    cg_buf_t path = {0};
    cg_buf_printf(&path, "%s/crossgate.db%c", dir, 0);
    int rc = sqlite3_open_v2(path.base, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        cg_buf_printf(err, "cannot open %s: %s", path.base,
                      st->db ? sqlite3_errmsg(st->db) : "out of memory");
        goto Error;
    }
    sqlite3_busy_timeout(st->db, 5000);
    if (db_exec(st, "PRAGMA journal_mode=WAL") || db_exec(st, "PRAGMA synchronous=FULL") ||
        db_exec(st, schema_sql) || load_all(st)) {
        cg_buf_printf(err, "cannot use %s: %s", path.base, sqlite3_errmsg(st->db));
        goto Error;
    }
    rebuild_view(st);
    cg_buf_free(&path);
    return 0;
Error:
    cg_buf_free(&path);
    cg_control_store_close(st);
    return CG_EIO;
}

void cg_control_store_close(cg_control_store_t *st)
{
    for (size_t i = 0; i < st->res.len; i++) res_free(st->res.items[i]);
    cg_vec_free(&st->res);
    view_free(st->view);
    st->view = NULL;
    if (st->db) sqlite3_close(st->db);
    st->db = NULL;
}

/* A change waiting for its transaction: new (or replacement) resource, or a deletion. */
typedef struct change {
    cg_control_res_t *res; /* NULL: delete */
    ssize_t old;           /* index of what it replaces or deletes, -1 if new */
} change_t;

typedef CG_VEC(change_t) changes_t;

static int write_changes(cg_control_store_t *st, changes_t *ch, uint64_t revision)
{
    sqlite3_stmt *up = NULL, *del = NULL, *meta = NULL;
    int rc = CG_EIO;
    if (db_exec(st, "BEGIN IMMEDIATE")) return CG_EIO;
    if (sqlite3_prepare_v2(st->db,
                           "INSERT OR REPLACE INTO resources(kind, cluster, namespace, name, seq, "
                           "version, updated_us, body) VALUES(?,?,?,?,?,?,?,?)",
                           -1, &up, NULL) ||
        sqlite3_prepare_v2(
            st->db, "DELETE FROM resources WHERE kind=? AND cluster=? AND namespace=? AND name=?",
            -1, &del, NULL) ||
        sqlite3_prepare_v2(st->db, "INSERT OR REPLACE INTO meta(key, value) VALUES('revision', ?)",
                           -1, &meta, NULL))
        goto Exit;
    for (size_t i = 0; i < ch->len; i++) {
        const cg_control_res_t *r =
            ch->items[i].res ? ch->items[i].res : st->res.items[ch->items[i].old];
        sqlite3_stmt *q = ch->items[i].res ? up : del;
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, cg_model_kind_name(r->kind), -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 2, r->cluster, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 3, r->namespace_, -1, SQLITE_STATIC);
        sqlite3_bind_text(q, 4, r->name, -1, SQLITE_STATIC);
        if (q == up) {
            sqlite3_bind_int64(q, 5, (sqlite3_int64)r->seq);
            sqlite3_bind_int64(q, 6, (sqlite3_int64)r->version);
            sqlite3_bind_int64(q, 7, (sqlite3_int64)r->updated_us);
            sqlite3_bind_text(q, 8, r->json, -1, SQLITE_STATIC);
        }
        if (sqlite3_step(q) != SQLITE_DONE) goto Exit;
    }
    sqlite3_bind_int64(meta, 1, (sqlite3_int64)revision);
    if (sqlite3_step(meta) != SQLITE_DONE) goto Exit;
    rc = db_exec(st, "COMMIT");
Exit:
    if (rc) {
        cg_log_error("store: write failed: %s", sqlite3_errmsg(st->db));
        sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
    }
    sqlite3_finalize(up);
    sqlite3_finalize(del);
    sqlite3_finalize(meta);
    return rc;
}

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = (*(cg_control_res_t *const *)a)->seq, y = (*(cg_control_res_t *const *)b)->seq;
    return x < y ? -1 : x > y;
}

/* Commits the changes (durably first, then in memory) and frees them. */
static int commit(cg_control_store_t *st, changes_t *ch, uint64_t revision)
{
    if (ch->len == 0) return 0;
    int rc = write_changes(st, ch, revision);
    if (rc) {
        for (size_t i = 0; i < ch->len; i++) res_free(ch->items[i].res);
        return rc;
    }
    st->revision = revision;
    for (size_t i = 0; i < ch->len; i++) {
        change_t *c = &ch->items[i];
        if (c->old >= 0) {
            res_free(st->res.items[c->old]);
            st->res.items[c->old] = c->res; /* NULL for a deletion: compacted below */
        } else {
            cg_vec_push(&st->res, c->res);
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < st->res.len; i++)
        if (st->res.items[i]) st->res.items[n++] = st->res.items[i];
    st->res.len = n;
    if (n) qsort(st->res.items, n, sizeof(*st->res.items), cmp_seq);
    rebuild_view(st);
    return 0;
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
} parsed_doc_t;
typedef CG_VEC(parsed_doc_t) parsed_docs_t;

static void parsed_free(parsed_docs_t *d)
{
    for (size_t i = 0; i < d->len; i++) res_free(d->items[i].res);
    cg_vec_free(d);
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
        const cg_ynode_t *md = cg_ynode_get(root, "metadata");
        cg_buf_printf(&label, "%s/%s%c", cg_control_doc_str(root, "kind"),
                      cg_control_doc_str(md, "name"), 0);
        cg_resource_set_t *set = NULL;
        if (cg_control_doc_json(root, &json) == 0 && cg_buf_append(&json, "", 1) == 0)
            set = decode_one(label.base, json.base, errors);
        if (set == NULL) {
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
            parsed_doc_t d = {r};
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
static int check_merged(const cg_control_store_t *st, const parsed_docs_t *docs, cg_buf_t *errors)
{
    for (size_t i = 0; i < docs->len; i++)
        for (size_t j = 0; j < i; j++) {
            const cg_control_res_t *a = docs->items[i].res, *b = docs->items[j].res;
            if (a->kind == b->kind && streq(a->name, b->name) &&
                streq(a->namespace_, b->namespace_) && streq(a->cluster, b->cluster)) {
                cg_buf_printf(errors, "duplicate %s %s in one request\n",
                              cg_model_kind_name(a->kind), a->name);
                return CG_EPARSE;
            }
        }
    (void)st;
    return 0;
}

int cg_control_store_apply(cg_control_store_t *st, const char *name, const char *data, size_t len,
                           cg_control_results_t *results, cg_buf_t *errors)
{
    parsed_docs_t docs = {0};
    int rc = parse_docs(name, data, len, &docs, errors);
    if (rc) return rc;
    if ((rc = check_merged(st, &docs, errors))) goto Exit;
    uint64_t revision = st->revision + 1, now = cg_clock_wall_us();
    changes_t ch = {0};
    for (size_t i = 0; i < docs.len; i++) {
        cg_control_res_t *r = docs.items[i].res;
        ssize_t old = find_index(st, r->kind, r->cluster, r->namespace_, r->name);
        cg_control_action_t a = CG_CONTROL_CREATED;
        if (old >= 0 && strcmp(st->res.items[old]->json, r->json) == 0) {
            a = CG_CONTROL_UNCHANGED;
            r->version = st->res.items[old]->version;
        } else {
            a = old >= 0 ? CG_CONTROL_CONFIGURED : CG_CONTROL_CREATED;
            r->version = revision;
            r->updated_us = now;
            r->seq = old >= 0 ? st->res.items[old]->seq : st->next_seq++;
            change_t c = {r, old};
            cg_vec_push(&ch, c);
            docs.items[i].res = NULL; /* owned by the change now */
        }
        push_result(results, r->kind, r->cluster, r->namespace_, r->name, a, r->version);
    }
    rc = commit(st, &ch, revision);
    cg_vec_free(&ch);
    if (rc) {
        cg_control_results_free(results);
        cg_buf_printf(errors, "store: write failed\n");
    }
Exit:
    parsed_free(&docs);
    return rc;
}

static int delete_ids(cg_control_store_t *st, cg_control_res_t *const *ids, size_t n,
                      cg_control_results_t *results, cg_buf_t *errors)
{
    changes_t ch = {0};
    for (size_t i = 0; i < n; i++) {
        const cg_control_res_t *r = ids[i];
        ssize_t old = find_index(st, r->kind, r->cluster, r->namespace_, r->name);
        for (size_t j = 0; old >= 0 && j < ch.len; j++)
            if (ch.items[j].old == old) old = -1; /* named twice */
        push_result(results, r->kind, r->cluster, r->namespace_, r->name,
                    old >= 0 ? CG_CONTROL_DELETED : CG_CONTROL_NOT_FOUND, 0);
        if (old >= 0) {
            change_t c = {NULL, old};
            cg_vec_push(&ch, c);
        }
    }
    int rc = commit(st, &ch, st->revision + 1);
    cg_vec_free(&ch);
    if (rc) {
        cg_control_results_free(results);
        cg_buf_printf(errors, "store: write failed\n");
    }
    return rc;
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
