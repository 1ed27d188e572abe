/* Tests of the control plane's store: apply (created, unchanged, configured), all-or-nothing
 * validation with file positions, deletes, versions and revisions, and reopening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "control/store.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char cluster1[] =
    "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-1}\n"
    "spec:\n  locality: {region: region-1}\n";
static const char cluster1_comment[] =
    "# same content, other text\napiVersion: crossgate/v1\nkind: Cluster\n"
    "metadata:\n  name: cluster-1\nspec:\n  locality:\n    region: region-1\n";
static const char cluster1_moved[] =
    "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-1}\n"
    "spec:\n  locality: {region: region-2}\n";
static const char two[] =
    "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-2}\n"
    "spec:\n  locality: {region: region-2}\n---\n"
    "apiVersion: crossgate/v1\nkind: Service\nmetadata: {name: pp, namespace: bookinfo, cluster: "
    "cluster-2}\n"
    "spec:\n  hostname: pp.bookinfo\n  endpoints: [{address: 127.0.0.9, port: 9080}]\n";
/* valid first document, invalid second: nothing of it may land */
static const char half_bad[] =
    "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-3}\n"
    "spec:\n  locality: {region: region-3}\n---\n"
    "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-4}\n"
    "spec:\n  locality: {regoin: region-3}\n";

typedef struct fx {
    char dir[64];
    cg_control_store_t st;
} fx_t;

static int setup(void **state)
{
    fx_t *f = cg_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/cg-store-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    cg_buf_t err = {0};
    assert_int_equal(cg_control_store_open(&f->st, f->dir, &err), 0);
    cg_buf_free(&err);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    cg_control_store_close(&f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static size_t nres(fx_t *f)
{
    const cg_control_res_t *const *items;
    return cg_control_store_list(&f->st, &items);
}

/* Applies text; returns the action of result i (or -1 on error), with its version. */
static int apply(fx_t *f, const char *name, const char *text, size_t i, uint64_t *version,
                 cg_buf_t *errors)
{
    cg_control_results_t r = {0};
    int rc = cg_control_store_apply(&f->st, name, text, strlen(text), &r, errors);
    int action = -1;
    if (rc == 0) {
        assert_true(i < r.len);
        action = (int)r.items[i].action;
        if (version) *version = r.items[i].version;
    } else {
        assert_int_equal(r.len, 0);
    }
    cg_control_results_free(&r);
    return action;
}

static void test_created_unchanged_configured(void **state)
{
    fx_t *f = *state;
    uint64_t v = 0;
    assert_int_equal(cg_control_store_revision(&f->st), 0);
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, &v, NULL), CG_CONTROL_CREATED);
    assert_int_equal(v, 1);
    assert_int_equal(cg_control_store_revision(&f->st), 1);
    /* the same content written differently is the same resource */
    assert_int_equal(apply(f, "c1.yaml", cluster1_comment, 0, &v, NULL), CG_CONTROL_UNCHANGED);
    assert_int_equal(v, 1);
    assert_int_equal(cg_control_store_revision(&f->st), 1);
    assert_int_equal(apply(f, "c1.yaml", cluster1_moved, 0, &v, NULL), CG_CONTROL_CONFIGURED);
    assert_int_equal(v, 2);
    assert_int_equal(cg_control_store_revision(&f->st), 2);
    const cg_control_res_t *r = cg_control_store_find(&f->st, CG_KIND_CLUSTER, "", "", "cluster-1");
    assert_non_null(r);
    assert_int_equal(r->version, 2);
    assert_non_null(strstr(r->json, "\"region\":\"region-2\""));
    const cg_resource_set_t *view = cg_control_store_view(&f->st);
    assert_int_equal(view->nclusters, 1);
    assert_string_equal(view->clusters[0].spec.locality.region, "region-2");
}

static void test_multi_document_and_identity(void **state)
{
    fx_t *f = *state;
    cg_control_results_t r = {0};
    cg_buf_t errors = {0};
    assert_int_equal(cg_control_store_apply(&f->st, "two.yaml", two, strlen(two), &r, &errors), 0);
    assert_int_equal(r.len, 2);
    assert_int_equal(r.items[1].kind, CG_KIND_SERVICE);
    assert_string_equal(r.items[1].namespace_, "bookinfo");
    assert_string_equal(r.items[1].cluster, "cluster-2");
    assert_int_equal(r.items[0].version, r.items[1].version); /* one request, one revision */
    cg_control_results_free(&r);
    assert_non_null(cg_control_store_find(&f->st, CG_KIND_SERVICE, "cluster-2", "bookinfo", "pp"));
    assert_null(cg_control_store_find(&f->st, CG_KIND_SERVICE, "cluster-1", "bookinfo", "pp"));
    assert_int_equal(cg_control_store_revision(&f->st), 1);
    cg_buf_free(&errors);
}

static void test_invalid_changes_nothing(void **state)
{
    fx_t *f = *state;
    cg_buf_t errors = {0};
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, NULL, NULL), CG_CONTROL_CREATED);
    assert_int_equal(apply(f, "dir/half.yaml", half_bad, 0, NULL, &errors), -1);
    cg_buf_append(&errors, "", 1);
    /* the same message as static mode: file:line:col: path: message */
    if (!strstr(errors.base, "dir/half.yaml:11:14: spec.locality.regoin: unknown field"))
        fail_msg("%s", errors.base);
    assert_int_equal(cg_control_store_revision(&f->st), 1);
    assert_int_equal(nres(f), 1);
    assert_null(cg_control_store_find(&f->st, CG_KIND_CLUSTER, "", "", "cluster-3"));
    /* duplicates within one body */
    cg_buf_reset(&errors);
    char dup[512];
    snprintf(dup, sizeof(dup), "%s---\n%s", cluster1_moved, cluster1_moved);
    assert_int_equal(apply(f, "dup.yaml", dup, 0, NULL, &errors), -1);
    cg_buf_append(&errors, "", 1);
    assert_non_null(strstr(errors.base, "dup.yaml:"));
    assert_non_null(strstr(errors.base, "duplicate Cluster cluster-1"));
    assert_int_equal(cg_control_store_revision(&f->st), 1);
    cg_buf_free(&errors);
}

static void test_delete(void **state)
{
    fx_t *f = *state;
    cg_control_results_t r = {0};
    cg_buf_t errors = {0};
    assert_int_equal(apply(f, "two.yaml", two, 0, NULL, NULL), CG_CONTROL_CREATED);
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, NULL, NULL), CG_CONTROL_CREATED);
    assert_int_equal(cg_control_store_revision(&f->st), 2);
    assert_int_equal(
        cg_control_store_delete_docs(&f->st, "two.yaml", two, strlen(two), &r, &errors), 0);
    assert_int_equal(r.len, 2);
    assert_int_equal(r.items[0].action, CG_CONTROL_DELETED);
    assert_int_equal(r.items[1].action, CG_CONTROL_DELETED);
    cg_control_results_free(&r);
    assert_int_equal(cg_control_store_revision(&f->st), 3);
    /* again: nothing there, no new revision */
    assert_int_equal(
        cg_control_store_delete_docs(&f->st, "two.yaml", two, strlen(two), &r, &errors), 0);
    assert_int_equal(r.items[0].action, CG_CONTROL_NOT_FOUND);
    assert_int_equal(r.items[1].action, CG_CONTROL_NOT_FOUND);
    cg_control_results_free(&r);
    assert_int_equal(cg_control_store_revision(&f->st), 3);
    assert_int_equal(
        cg_control_store_delete(&f->st, CG_KIND_CLUSTER, NULL, NULL, "cluster-1", &r, &errors), 0);
    assert_int_equal(r.items[0].action, CG_CONTROL_DELETED);
    cg_control_results_free(&r);
    assert_int_equal(nres(f), 0);
    assert_int_equal(cg_control_store_view(&f->st)->nclusters, 0);
    cg_buf_free(&errors);
}

static void test_reopen_keeps_everything(void **state)
{
    fx_t *f = *state;
    assert_int_equal(apply(f, "two.yaml", two, 0, NULL, NULL), CG_CONTROL_CREATED);
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, NULL, NULL), CG_CONTROL_CREATED);
    assert_int_equal(apply(f, "c1.yaml", cluster1_moved, 0, NULL, NULL), CG_CONTROL_CONFIGURED);
    cg_control_store_close(&f->st);
    cg_buf_t err = {0};
    assert_int_equal(cg_control_store_open(&f->st, f->dir, &err), 0);
    assert_int_equal(cg_control_store_revision(&f->st), 3);
    assert_int_equal(nres(f), 3);
    /* creation order survives: cluster-2 and the service first, then cluster-1 */
    const cg_control_res_t *const *items;
    assert_int_equal(cg_control_store_list(&f->st, &items), 3);
    assert_string_equal(items[0]->name, "cluster-2");
    assert_string_equal(items[2]->name, "cluster-1");
    assert_int_equal(items[2]->version, 3);
    const cg_resource_set_t *view = cg_control_store_view(&f->st);
    assert_int_equal(view->nclusters, 2);
    assert_int_equal(view->nservices, 1);
    uint64_t v;
    assert_int_equal(apply(f, "c1.yaml", cluster1_moved, 0, &v, NULL), CG_CONTROL_UNCHANGED);
    assert_int_equal(v, 3);
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, &v, NULL), CG_CONTROL_CONFIGURED);
    assert_int_equal(v, 4);
    cg_buf_free(&err);
}

/* The backend's transaction contract, used directly: puts and deletes commit as one revision,
 * each put stamped with it and a new seq, and the mirror, the view and the disk follow. */
static void test_backend_txn(void **state)
{
    fx_t *f = *state;
    assert_int_equal(apply(f, "two.yaml", two, 0, NULL, NULL), CG_CONTROL_CREATED);
    const cg_control_store_ops_t *ops = f->st.ops;
    assert_string_equal(ops->name, "sqlite");
    cg_control_res_t *r = cg_xcalloc(1, sizeof(*r));
    r->kind = CG_KIND_CLUSTER;
    r->cluster = cg_xstrdup("");
    r->namespace_ = cg_xstrdup("");
    r->name = cg_xstrdup("cluster-9");
    r->json = cg_xstrdup("{\"apiVersion\":\"crossgate/v1\",\"kind\":\"Cluster\",\"metadata\":"
                         "{\"name\":\"cluster-9\"},\"spec\":{\"locality\":{\"region\":\"r9\"}}}");
    cg_buf_t errors = {0};
    cg_control_res_decode(r, &errors);
    assert_non_null(r->set);
    assert_int_equal(errors.len, 0);
    cg_buf_free(&errors);
    cg_control_txn_t txn = {0};
    cg_vec_push(&txn.puts, r);
    cg_vec_push(&txn.dels, ops->get(&f->st, CG_KIND_SERVICE, "cluster-2", "bookinfo", "pp"));
    assert_non_null(txn.dels.items[0]);
    assert_int_equal(ops->commit(&f->st, &txn), 0);
    cg_vec_free(&txn.puts);
    cg_vec_free(&txn.dels);
    assert_int_equal(ops->revision(&f->st), 2);
    const cg_control_res_t *got = ops->get(&f->st, CG_KIND_CLUSTER, "", "", "cluster-9");
    assert_ptr_equal(got, r); /* the store owns the put now */
    assert_int_equal(got->version, 2);
    assert_int_equal(got->seq, 3);
    assert_true(got->updated_us > 0);
    assert_null(ops->get(&f->st, CG_KIND_SERVICE, "cluster-2", "bookinfo", "pp"));
    assert_int_equal(ops->view(&f->st)->nclusters, 2);
    assert_int_equal(ops->view(&f->st)->nservices, 0);
    /* and durably */
    cg_control_store_close(&f->st);
    cg_buf_t err = {0};
    assert_int_equal(cg_control_store_open(&f->st, f->dir, &err), 0);
    const cg_control_res_t *const *items;
    assert_int_equal(cg_control_store_list(&f->st, &items), 2);
    assert_string_equal(items[0]->name, "cluster-2");
    assert_string_equal(items[1]->name, "cluster-9");
    assert_int_equal(cg_control_store_revision(&f->st), 2);
    cg_buf_free(&err);
}

/* A backend whose writes fail: the request half reports CG_EIO, changes nothing and leaks
 * nothing (commit owns the puts even when it fails). */
static int failing_commit(cg_control_store_t *st, cg_control_txn_t *txn)
{
    (void)st;
    for (size_t i = 0; i < txn->puts.len; i++) cg_control_res_free(txn->puts.items[i]);
    return CG_EIO;
}

static void test_failed_commit_changes_nothing(void **state)
{
    fx_t *f = *state;
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, NULL, NULL), CG_CONTROL_CREATED);
    cg_control_store_close(&f->st);
    static cg_control_store_ops_t broken; /* outlives the test: teardown closes through it */
    broken = cg_control_store_sqlite;
    broken.commit = failing_commit;
    cg_buf_t err = {0}, errors = {0};
    assert_int_equal(cg_control_store_open_backend(&f->st, &broken, f->dir, &err), 0);
    assert_true(cg_control_store_is_open(&f->st));
    cg_control_results_t r = {0};
    assert_int_equal(cg_control_store_apply(&f->st, "two.yaml", two, strlen(two), &r, &errors),
                     CG_EIO);
    assert_int_equal(r.len, 0);
    cg_buf_append(&errors, "", 1);
    assert_string_equal(errors.base, "store: write failed\n");
    assert_int_equal(
        cg_control_store_delete(&f->st, CG_KIND_CLUSTER, NULL, NULL, "cluster-1", &r, &errors),
        CG_EIO);
    assert_int_equal(r.len, 0);
    /* a request that changes nothing never reaches the backend's commit */
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, NULL, NULL), CG_CONTROL_UNCHANGED);
    assert_int_equal(cg_control_store_revision(&f->st), 1);
    assert_int_equal(nres(f), 1);
    assert_non_null(cg_control_store_find(&f->st, CG_KIND_CLUSTER, NULL, NULL, "cluster-1"));
    cg_buf_free(&err);
    cg_buf_free(&errors);
}

static void reopen(fx_t *f)
{
    cg_control_store_close(&f->st);
    cg_buf_t err = {0};
    assert_int_equal(cg_control_store_open(&f->st, f->dir, &err), 0);
    cg_buf_free(&err);
}

/* The snapshot versions' bound only rises, and survives a reopen. */
static void test_versions_held_survive_reopen(void **state)
{
    fx_t *f = *state;
    assert_int_equal(cg_control_store_versions_held(&f->st), 0);
    assert_int_equal(cg_control_store_versions_hold(&f->st, 5000), 0);
    assert_int_equal(cg_control_store_versions_hold(&f->st, 100), 0); /* lower: kept */
    assert_int_equal(cg_control_store_versions_held(&f->st), 5000);
    reopen(f);
    assert_int_equal(cg_control_store_versions_held(&f->st), 5000);
    assert_int_equal(cg_control_store_versions_hold(&f->st, 9000), 0);
    reopen(f);
    assert_int_equal(cg_control_store_versions_held(&f->st), 9000);
}

static cg_control_lease_t lease(const char *id, uint64_t expires_us)
{
    return (cg_control_lease_t){(char *)id, (char *)"admin",
                                (char *)"{\"cluster\":\"c1\",\"address\":\"127.0.0.2\"}", 7,
                                expires_us};
}

/* Leases: put (replacing), renew, drop, listed in registration order across a reopen; *kept
 * says whether an earlier run's leases could be there. */
static void test_leases_put_renew_drop_list(void **state)
{
    fx_t *f = *state;
    cg_control_lease_vec_t v = {0};
    int kept = -1;
    assert_int_equal(cg_control_store_lease_list(&f->st, &v, &kept), 0);
    assert_int_equal(v.len, 0);
    assert_int_equal(kept, 0); /* a new store */
    cg_control_lease_t a = lease("aaaa", 100), b = lease("bbbb", 200), c = lease("cccc", 300);
    assert_int_equal(cg_control_store_lease_put(&f->st, &b, NULL), 0);
    assert_int_equal(cg_control_store_lease_put(&f->st, &a, NULL), 0);
    assert_int_equal(cg_control_store_lease_put(&f->st, &c, "bbbb"), 0); /* c replaces b */
    cg_control_lease_t renewed[] = {lease("aaaa", 1000), lease("cccc", 3000)};
    assert_int_equal(cg_control_store_lease_renew(&f->st, renewed, 2), 0);
    reopen(f);
    assert_int_equal(cg_control_store_lease_list(&f->st, &v, &kept), 0);
    assert_int_equal(kept, 1);
    assert_int_equal(v.len, 2);
    assert_string_equal(v.items[0].id, "aaaa");
    assert_int_equal(v.items[0].expires_us, 1000);
    assert_string_equal(v.items[1].id, "cccc");
    assert_int_equal(v.items[1].expires_us, 3000);
    assert_int_equal(v.items[1].registered_us, 7);
    assert_string_equal(v.items[1].owner, "admin");
    assert_string_equal(v.items[1].registration, c.registration);
    cg_control_lease_vec_free(&v);
    const char *gone[] = {"aaaa", "nope"};
    assert_int_equal(cg_control_store_lease_drop(&f->st, gone, 2), 0);
    assert_int_equal(cg_control_store_lease_list(&f->st, &v, &kept), 0);
    assert_int_equal(v.len, 1);
    assert_string_equal(v.items[0].id, "cccc");
    cg_control_lease_vec_free(&v);
}

/* The listener hears of committed changes only: not of a request that changes nothing. */
static void count_change(cg_control_store_t *st, void *data)
{
    (void)st;
    ++*(int *)data;
}

static void test_on_change_after_commits_only(void **state)
{
    fx_t *f = *state;
    int changes = 0;
    f->st.on_change = count_change;
    f->st.data = &changes;
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, NULL, NULL), CG_CONTROL_CREATED);
    assert_int_equal(changes, 1);
    assert_int_equal(apply(f, "c1.yaml", cluster1_comment, 0, NULL, NULL), CG_CONTROL_UNCHANGED);
    cg_control_results_t r = {0};
    cg_buf_t errors = {0};
    assert_int_equal(apply(f, "bad.yaml", half_bad, 0, NULL, &errors), -1);
    assert_int_equal(changes, 1);
    assert_int_equal(
        cg_control_store_delete(&f->st, CG_KIND_CLUSTER, NULL, NULL, "cluster-9", &r, &errors), 0);
    cg_control_results_free(&r);
    assert_int_equal(changes, 1); /* not found: nothing changed */
    assert_int_equal(
        cg_control_store_delete(&f->st, CG_KIND_CLUSTER, NULL, NULL, "cluster-1", &r, &errors), 0);
    cg_control_results_free(&r);
    assert_int_equal(changes, 2);
    cg_buf_free(&errors);
}

static char *with_version(const char *doc, const char *rv)
{
    /* cluster1's metadata with a resourceVersion */
    cg_buf_t b = {0};
    cg_buf_printf(&b,
                  "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-1, "
                  "resourceVersion: %s}\nspec:\n  locality: {region: %s}\n%c",
                  rv, doc, 0);
    return b.base;
}

/* resourceVersion makes apply compare-and-swap: applied at the stored version, refused with
 * the position and both versions otherwise, "0" creates only; never stored. */
static void test_apply_with_resource_version_is_compare_and_swap(void **state)
{
    fx_t *f = *state;
    cg_buf_t errors = {0};
    char *create = with_version("region-1", "\"0\"");
    uint64_t v;
    assert_int_equal(apply(f, "c.yaml", create, 0, &v, &errors), CG_CONTROL_CREATED);
    assert_int_equal(v, 1);
    const cg_control_res_t *r =
        cg_control_store_find(&f->st, CG_KIND_CLUSTER, NULL, NULL, "cluster-1");
    assert_null(strstr(r->json, "resourceVersion"));
    /* the same text again is unchanged without it, a conflict with it ("0": exists) */
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, NULL, &errors), CG_CONTROL_UNCHANGED);
    cg_control_results_t res = {0};
    assert_int_equal(
        cg_control_store_apply(&f->st, "c.yaml", create, strlen(create), &res, &errors),
        CG_ECONFLICT);
    cg_buf_append(&errors, "", 1);
    assert_non_null(strstr(errors.base, "c.yaml:3:"));
    assert_non_null(strstr(errors.base, "Cluster/cluster-1: conflict: resourceVersion is 0, but "
                                        "it exists, at version 1"));
    cg_buf_reset(&errors);
    /* at the stored version: applied; the old version again: refused, nothing changed */
    char *at1 = with_version("region-2", "\"1\""), *at1b = with_version("region-3", "'1'");
    assert_int_equal(apply(f, "c.yaml", at1, 0, &v, &errors), CG_CONTROL_CONFIGURED);
    assert_int_equal(v, 2);
    assert_int_equal(cg_control_store_apply(&f->st, "c.yaml", at1b, strlen(at1b), &res, &errors),
                     CG_ECONFLICT);
    assert_int_equal(res.len, 0);
    cg_buf_append(&errors, "", 1);
    assert_non_null(strstr(errors.base, "resourceVersion is 1, but the stored resource is at "
                                        "version 2 (it changed since it was read"));
    assert_int_equal(cg_control_store_revision(&f->st), 2);
    r = cg_control_store_find(&f->st, CG_KIND_CLUSTER, NULL, NULL, "cluster-1");
    assert_non_null(strstr(r->json, "region-2"));
    /* a multi-document apply with one stale document changes nothing */
    cg_buf_t multi = {0};
    cg_buf_printf(&multi, "%s---\n%s%c", two, at1b, 0);
    cg_buf_reset(&errors);
    assert_int_equal(
        cg_control_store_apply(&f->st, "m.yaml", multi.base, multi.len - 1, &res, &errors),
        CG_ECONFLICT);
    assert_int_equal(nres(f), 1);
    /* not a version, or a resource that is not there */
    char *bad = with_version("region-2", "\"v2\""), *gone = with_version("region-2", "\"7\"");
    cg_buf_reset(&errors);
    assert_int_equal(cg_control_store_apply(&f->st, "b.yaml", bad, strlen(bad), &res, &errors),
                     CG_EPARSE);
    cg_buf_append(&errors, "", 1);
    assert_non_null(strstr(errors.base, "b.yaml:3:"));
    assert_non_null(strstr(errors.base, "metadata.resourceVersion: expected the version"));
    cg_control_results_t dr = {0};
    assert_int_equal(
        cg_control_store_delete(&f->st, CG_KIND_CLUSTER, NULL, NULL, "cluster-1", &dr, &errors), 0);
    cg_control_results_free(&dr);
    cg_buf_reset(&errors);
    assert_int_equal(cg_control_store_apply(&f->st, "g.yaml", gone, strlen(gone), &res, &errors),
                     CG_ECONFLICT);
    cg_buf_append(&errors, "", 1);
    assert_non_null(strstr(errors.base, "but no such resource is stored"));
    free(create);
    free(at1);
    free(at1b);
    free(bad);
    free(gone);
    cg_buf_free(&multi);
    cg_buf_free(&errors);
}

/* A backend that checks again inside its transaction (a store shared with other writers): the
 * request half reports its CG_ECONFLICT as a conflict. */
static void test_backend_conflict_is_a_conflict(void **state)
{
    fx_t *f = *state;
    assert_int_equal(apply(f, "c1.yaml", cluster1, 0, NULL, NULL), CG_CONTROL_CREATED);
    const cg_control_store_ops_t *ops = f->st.ops;
    cg_control_res_t *r = cg_xcalloc(1, sizeof(*r));
    r->kind = CG_KIND_CLUSTER;
    r->cluster = cg_xstrdup("");
    r->namespace_ = cg_xstrdup("");
    r->name = cg_xstrdup("cluster-1");
    r->json = cg_xstrdup("{}");
    cg_control_txn_t txn = {0};
    cg_vec_push(&txn.puts, r);
    cg_control_check_t c = {CG_KIND_CLUSTER, "", "", "cluster-1", 7};
    cg_vec_push(&txn.checks, c);
    assert_int_equal(ops->commit(&f->st, &txn), CG_ECONFLICT);
    cg_vec_free(&txn.puts);
    cg_vec_free(&txn.checks);
    assert_int_equal(cg_control_store_revision(&f->st), 1);
}

static void test_kind_names(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int ok;
        cg_model_kind_t k;
    } cases[] = {
        {"gateway", 1, CG_KIND_GATEWAY},
        {"Gateways", 1, CG_KIND_GATEWAY},
        {"GW", 1, CG_KIND_GATEWAY},
        {"cluster", 1, CG_KIND_CLUSTER},
        {"clusters", 1, CG_KIND_CLUSTER},
        {"service", 1, CG_KIND_SERVICE},
        {"SVC", 1, CG_KIND_SERVICE},
        {"services", 1, CG_KIND_SERVICE},
        {"gate", 0, 0},
        {"", 0, 0},
        {"servicess", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_model_kind_t k = 99;
        int rc = cg_control_kind_parse(cases[i].s, strlen(cases[i].s), &k);
        assert_int_equal(rc == 0, cases[i].ok);
        if (cases[i].ok) assert_int_equal(k, cases[i].k);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_created_unchanged_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_document_and_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reopen_keeps_everything, setup, teardown),
        cmocka_unit_test_setup_teardown(test_backend_txn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_commit_changes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_held_survive_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leases_put_renew_drop_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_change_after_commits_only, setup, teardown),
        cmocka_unit_test_setup_teardown(test_apply_with_resource_version_is_compare_and_swap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_backend_conflict_is_a_conflict, setup, teardown),
        cmocka_unit_test(test_kind_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
