/* The store's SQLite backend: DIR/crossgate.db (WAL, synchronous=FULL: an acknowledged write
 * survives a crash) behind an in-memory mirror that requests and translation read. Tables:
 * resources, leases (one row an instance), meta (the revision, the snapshot versions' bound). */
#include "control/store.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS resources("
    " kind TEXT NOT NULL, cluster TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,"
    " seq INTEGER NOT NULL, version INTEGER NOT NULL, updated_us INTEGER NOT NULL,"
    " body TEXT NOT NULL, PRIMARY KEY(kind, cluster, namespace, name));"
    "CREATE TABLE IF NOT EXISTS leases("
    " id TEXT PRIMARY KEY, seq INTEGER NOT NULL, owner TEXT NOT NULL,"
    " registered_us INTEGER NOT NULL, expires_us INTEGER NOT NULL, registration TEXT NOT NULL);"
    "CREATE INDEX IF NOT EXISTS leases_seq ON leases(seq);";

typedef struct sq {
    sqlite3 *db;
    CG_VEC(cg_control_res_t *) res; /* in seq order */
    uint64_t revision;
    uint64_t versions_held; /* meta 'versions': the snapshot versions' bound */
    int leases_kept;        /* the lease table was there before this open */
    uint64_t next_seq;
    cg_resource_set_t *view; /* every decodable resource, shallow, rebuilt on change */
} sq_t;

static sq_t *impl(const cg_control_store_t *st)
{
    return st->impl;
}

/* ---- SQLite ---- */

static int db_exec(sq_t *s, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        cg_log_error("store: %s: %s", sql, msg ? msg : sqlite3_errmsg(s->db));
        sqlite3_free(msg);
        return CG_EIO;
    }
    return 0;
}

/* One integer of the meta table (0 when absent); CG_EIO when unreadable. */
static int meta_get(sq_t *s, const char *key, uint64_t *out)
{
    sqlite3_stmt *q = NULL;
    *out = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key=?", -1, &q, NULL))
        return CG_EIO;
    sqlite3_bind_text(q, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(q);
    if (rc == SQLITE_ROW) *out = (uint64_t)sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : CG_EIO;
}

/* Runs one prepared statement to its end and finalizes it: 0 or CG_EIO. */
static int step_done(sqlite3_stmt *q)
{
    int rc = sqlite3_step(q) == SQLITE_DONE ? 0 : CG_EIO;
    sqlite3_finalize(q);
    return rc;
}

static int load_all(sq_t *s)
{
    sqlite3_stmt *q = NULL;
    if (meta_get(s, "revision", &s->revision) || meta_get(s, "versions", &s->versions_held))
        return CG_EIO;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT kind, cluster, namespace, name, seq, version, updated_us, body "
                           "FROM resources ORDER BY seq",
                           -1, &q, NULL))
        return CG_EIO;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        const char *kind = (const char *)sqlite3_column_text(q, 0);
        cg_control_res_t *r = cg_xcalloc(1, sizeof(*r));
        if (cg_control_kind_parse(kind, strlen(kind), &r->kind)) {
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
        cg_buf_t errors = {0};
        cg_control_res_decode(r, &errors);
        if (!r->set)
            cg_log_warn("store: stored %s/%s no longer validates, ignored: %.*s",
                        cg_model_kind_name(r->kind), r->name, (int)errors.len,
                        errors.base ? errors.base : "");
        cg_buf_free(&errors);
        if (r->seq >= s->next_seq) s->next_seq = r->seq + 1;
        cg_vec_push(&s->res, r);
    }
    sqlite3_finalize(q);
    return rc == SQLITE_DONE ? 0 : CG_EIO;
}

static void sq_close(cg_control_store_t *st)
{
    sq_t *s = impl(st);
    if (!s) return;
    for (size_t i = 0; i < s->res.len; i++) cg_control_res_free(s->res.items[i]);
    cg_vec_free(&s->res);
    cg_control_view_free(s->view);
    if (s->db) sqlite3_close(s->db);
    free(s);
    st->impl = NULL;
}

static int sq_open(cg_control_store_t *st, const char *dir, cg_buf_t *err)
{
    sq_t *s = cg_xcalloc(1, sizeof(*s));
    st->impl = s;
    s->next_seq = 1;
    mkdir(dir, 0700);
    cg_buf_t path = {0};
    cg_buf_printf(&path, "%s/crossgate.db%c", dir, 0);
    int rc = sqlite3_open_v2(path.base, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        cg_buf_printf(err, "cannot open %s: %s", path.base,
                      s->db ? sqlite3_errmsg(s->db) : "out of memory");
        goto Error;
    }
    sqlite3_busy_timeout(s->db, 5000);
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT 1 FROM sqlite_master WHERE type='table' AND name='leases'", -1,
                           &q, NULL) == SQLITE_OK)
        s->leases_kept = sqlite3_step(q) == SQLITE_ROW;
    sqlite3_finalize(q);
    if (db_exec(s, "PRAGMA journal_mode=WAL") || db_exec(s, "PRAGMA synchronous=FULL") ||
        db_exec(s, schema_sql) || load_all(s)) {
        cg_buf_printf(err, "cannot use %s: %s", path.base, sqlite3_errmsg(s->db));
        goto Error;
    }
    cg_control_view_rebuild(&s->view, s->res.items, s->res.len);
    cg_buf_free(&path);
    return 0;
Error:
    cg_buf_free(&path);
    sq_close(st);
    return CG_EIO;
}

/* A change waiting for its transaction: new (or replacement) resource, or a deletion. */
typedef struct change {
    cg_control_res_t *res; /* NULL: delete */
    ssize_t old;           /* index of what it replaces or deletes, -1 if new */
} change_t;

typedef CG_VEC(change_t) changes_t;

static int write_changes(sq_t *s, changes_t *ch, uint64_t revision)
{
    sqlite3_stmt *up = NULL, *del = NULL, *meta = NULL;
    int rc = CG_EIO;
    if (db_exec(s, "BEGIN IMMEDIATE")) return CG_EIO;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO resources(kind, cluster, namespace, name, seq, "
                           "version, updated_us, body) VALUES(?,?,?,?,?,?,?,?)",
                           -1, &up, NULL) ||
        sqlite3_prepare_v2(
            s->db, "DELETE FROM resources WHERE kind=? AND cluster=? AND namespace=? AND name=?",
            -1, &del, NULL) ||
        sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES('revision', ?)",
                           -1, &meta, NULL))
        goto Exit;
    for (size_t i = 0; i < ch->len; i++) {
        const cg_control_res_t *r =
            ch->items[i].res ? ch->items[i].res : s->res.items[ch->items[i].old];
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
    rc = db_exec(s, "COMMIT");
Exit:
    if (rc) {
        cg_log_error("store: write failed: %s", sqlite3_errmsg(s->db));
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
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

/* Durably first, then in memory. */
static int sq_commit(cg_control_store_t *st, cg_control_txn_t *txn)
{
    sq_t *s = impl(st);
    uint64_t revision = s->revision + 1, now = cg_clock_wall_us();
    changes_t ch = {0};
    /* One process writes this file: the mirror is the stored state, checked before anything. */
    for (size_t i = 0; i < txn->checks.len; i++) {
        const cg_control_check_t *c = &txn->checks.items[i];
        ssize_t at = cg_control_res_find(s->res.items, s->res.len, c->kind, c->cluster,
                                         c->namespace_, c->name);
        if ((at < 0 ? 0 : s->res.items[at]->version) == c->version) continue;
        for (size_t j = 0; j < txn->puts.len; j++) cg_control_res_free(txn->puts.items[j]);
        return CG_ECONFLICT;
    }
    for (size_t i = 0; i < txn->puts.len; i++) {
        cg_control_res_t *r = txn->puts.items[i];
        ssize_t old = cg_control_res_find(s->res.items, s->res.len, r->kind, r->cluster,
                                          r->namespace_, r->name);
        r->version = revision;
        r->updated_us = now;
        r->seq = old >= 0 ? s->res.items[old]->seq : s->next_seq++;
        change_t c = {r, old};
        cg_vec_push(&ch, c);
    }
    for (size_t i = 0; i < txn->dels.len; i++) {
        const cg_control_res_t *r = txn->dels.items[i];
        change_t c = {NULL, cg_control_res_find(s->res.items, s->res.len, r->kind, r->cluster,
                                                r->namespace_, r->name)};
        if (c.old >= 0) cg_vec_push(&ch, c);
    }
    int rc = ch.len ? write_changes(s, &ch, revision) : 0;
    if (rc) {
        for (size_t i = 0; i < ch.len; i++) cg_control_res_free(ch.items[i].res);
        cg_vec_free(&ch);
        return rc;
    }
    s->revision = ch.len ? revision : s->revision;
    for (size_t i = 0; i < ch.len; i++) {
        change_t *c = &ch.items[i];
        if (c->old >= 0) {
            cg_control_res_free(s->res.items[c->old]);
            s->res.items[c->old] = c->res; /* NULL for a deletion: compacted below */
        } else {
            cg_vec_push(&s->res, c->res);
        }
    }
    size_t n = 0;
    for (size_t i = 0; i < s->res.len; i++)
        if (s->res.items[i]) s->res.items[n++] = s->res.items[i];
    s->res.len = n;
    if (n) qsort(s->res.items, n, sizeof(*s->res.items), cmp_seq);
    if (ch.len) cg_control_view_rebuild(&s->view, s->res.items, s->res.len);
    cg_vec_free(&ch);
    return 0;
}

static uint64_t sq_revision(const cg_control_store_t *st)
{
    return impl(st)->revision;
}

static const cg_control_res_t *sq_get(const cg_control_store_t *st, cg_model_kind_t kind,
                                      const char *cluster, const char *ns, const char *name)
{
    const sq_t *s = impl(st);
    ssize_t i = cg_control_res_find(s->res.items, s->res.len, kind, cluster, ns, name);
    return i < 0 ? NULL : s->res.items[i];
}

static size_t sq_list(const cg_control_store_t *st, const cg_control_res_t *const **items)
{
    const sq_t *s = impl(st);
    *items = (const cg_control_res_t *const *)s->res.items;
    return s->res.len;
}

static const cg_resource_set_t *sq_view(const cg_control_store_t *st)
{
    return impl(st)->view;
}

/* ---- snapshot versions ---- */

static uint64_t sq_versions_held(const cg_control_store_t *st)
{
    return impl(st)->versions_held;
}

static int sq_versions_hold(cg_control_store_t *st, uint64_t upto)
{
    sq_t *s = impl(st);
    sqlite3_stmt *q = NULL;
    if (upto <= s->versions_held) return 0;
    if (sqlite3_prepare_v2(s->db, "INSERT OR REPLACE INTO meta(key, value) VALUES('versions', ?)",
                           -1, &q, NULL))
        goto Error;
    sqlite3_bind_int64(q, 1, (sqlite3_int64)upto);
    if (step_done(q)) goto Error;
    s->versions_held = upto;
    return 0;
Error:
    cg_log_error("store: cannot record snapshot versions: %s", sqlite3_errmsg(s->db));
    return CG_EIO;
}

/* ---- leases ---- */

/* Runs fn inside one transaction: 0, or CG_EIO, rolled back. */
static int in_txn(sq_t *s, const char *what, int (*fn)(sq_t *s, const void *arg), const void *arg)
{
    if (db_exec(s, "BEGIN IMMEDIATE")) return CG_EIO;
    if (fn(s, arg) == 0 && db_exec(s, "COMMIT") == 0) return 0;
    cg_log_error("store: %s failed: %s", what, sqlite3_errmsg(s->db));
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return CG_EIO;
}

/* Deletes n leases by id. */
typedef struct ids {
    const char *const *ids;
    size_t n;
} ids_t;

static int drop_ids(sq_t *s, const void *arg)
{
    const ids_t *a = arg;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "DELETE FROM leases WHERE id=?", -1, &q, NULL)) return CG_EIO;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_text(q, 1, a->ids[i], -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) rc = CG_EIO;
    }
    sqlite3_finalize(q);
    return rc;
}

typedef struct put {
    const cg_control_lease_t *l;
    const char *replaces;
} put_t;

static int put_one(sq_t *s, const void *arg)
{
    const put_t *a = arg;
    ids_t old = {&a->replaces, 1};
    sqlite3_stmt *q = NULL;
    if (a->replaces && drop_ids(s, &old)) return CG_EIO;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO leases(id, seq, owner, registered_us, "
                           "expires_us, registration) VALUES(?1, (SELECT IFNULL(MAX(seq), 0) + 1 "
                           "FROM leases), ?2, ?3, ?4, ?5)",
                           -1, &q, NULL))
        return CG_EIO;
    sqlite3_bind_text(q, 1, a->l->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(q, 2, a->l->owner, -1, SQLITE_STATIC);
    sqlite3_bind_int64(q, 3, (sqlite3_int64)a->l->registered_us);
    sqlite3_bind_int64(q, 4, (sqlite3_int64)a->l->expires_us);
    sqlite3_bind_text(q, 5, a->l->registration, -1, SQLITE_STATIC);
    return step_done(q);
}

typedef struct renew {
    const cg_control_lease_t *items;
    size_t n;
} renew_t;

static int renew_all(sq_t *s, const void *arg)
{
    const renew_t *a = arg;
    sqlite3_stmt *q = NULL;
    if (sqlite3_prepare_v2(s->db, "UPDATE leases SET expires_us=? WHERE id=?", -1, &q, NULL))
        return CG_EIO;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        sqlite3_reset(q);
        sqlite3_bind_int64(q, 1, (sqlite3_int64)a->items[i].expires_us);
        sqlite3_bind_text(q, 2, a->items[i].id, -1, SQLITE_STATIC);
        if (sqlite3_step(q) != SQLITE_DONE) rc = CG_EIO;
    }
    sqlite3_finalize(q);
    return rc;
}

static int sq_lease_put(cg_control_store_t *st, const cg_control_lease_t *l, const char *replaces)
{
    put_t a = {l, replaces};
    return in_txn(impl(st), "lease write", put_one, &a);
}

static int sq_lease_renew(cg_control_store_t *st, const cg_control_lease_t *items, size_t n)
{
    renew_t a = {items, n};
    return in_txn(impl(st), "lease renewal", renew_all, &a);
}

static int sq_lease_drop(cg_control_store_t *st, const char *const *ids, size_t n)
{
    ids_t a = {ids, n};
    return in_txn(impl(st), "lease removal", drop_ids, &a);
}

static int sq_lease_list(cg_control_store_t *st, cg_control_lease_vec_t *out, int *kept)
{
    sq_t *s = impl(st);
    sqlite3_stmt *q = NULL;
    *kept = s->leases_kept;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT id, owner, registered_us, expires_us, registration FROM leases "
                           "ORDER BY seq",
                           -1, &q, NULL))
        return CG_EIO;
    int rc;
    while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
        cg_control_lease_t l = {
            .id = cg_xstrdup((const char *)sqlite3_column_text(q, 0)),
            .owner = cg_xstrdup((const char *)sqlite3_column_text(q, 1)),
            .registered_us = (uint64_t)sqlite3_column_int64(q, 2),
            .expires_us = (uint64_t)sqlite3_column_int64(q, 3),
            .registration = cg_xstrdup((const char *)sqlite3_column_text(q, 4)),
        };
        cg_vec_push(out, l);
    }
    sqlite3_finalize(q);
    if (rc == SQLITE_DONE) return 0;
    cg_log_error("store: cannot read leases: %s", sqlite3_errmsg(s->db));
    return CG_EIO;
}

const cg_control_store_ops_t cg_control_store_sqlite = {
    .name = "sqlite",
    .open = sq_open,
    .close = sq_close,
    .revision = sq_revision,
    .get = sq_get,
    .list = sq_list,
    .view = sq_view,
    .commit = sq_commit,
    .versions_held = sq_versions_held,
    .versions_hold = sq_versions_hold,
    .lease_put = sq_lease_put,
    .lease_renew = sq_lease_renew,
    .lease_drop = sq_lease_drop,
    .lease_list = sq_lease_list,
};
