/* Tests of snapshot recomputation: versions move only for instances whose snapshot content
 * changed, instance-set changes re-translate only new instances and edges, an apply only the
 * instances it can reach (scope.h), waiters wake. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "control/scope.h"
#include "control/store.h"
#include "control/watch.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct fx {
    char dir[64];
    cg_control_store_t st;
    cg_control_leases_t leases;
    cg_control_watch_t w;
    cg_control_inst_t *edge, *ing1, *ing2;
} fx_t;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = cg_xcalloc(1, 1 << 16);
    size_t n = fread(buf, 1, (1 << 16) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void apply_text(fx_t *f, const char *name, const char *text)
{
    cg_control_results_t r = {0};
    cg_buf_t errors = {0};
    int rc = cg_control_store_apply(&f->st, name, text, strlen(text), &r, &errors);
    if (rc) fail_msg("%s: %.*s", name, (int)errors.len, errors.base);
    cg_control_results_free(&r);
    cg_buf_free(&errors);
}

static void apply_example(fx_t *f, const char *file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/examples/%s", CG_SOURCE_DIR, file);
    char *text = slurp(path);
    apply_text(f, file, text);
    free(text);
}

static cg_control_inst_t *add(fx_t *f, const char *cluster, const char *ns, const char *app,
                              const char *address)
{
    char body[256];
    snprintf(
        body, sizeof(body),
        "{\"cluster\":\"%s\",\"namespace\":\"%s\",\"labels\":{\"app\":\"%s\"},\"address\":\"%s\"}",
        cluster, ns, app, address);
    cg_control_inst_t *inst = NULL;
    cg_buf_t err = {0};
    assert_int_equal(cg_control_inst_parse(body, strlen(body), &inst, &err), 0);
    cg_buf_free(&err);
    cg_control_leases_register(&f->leases, inst, 0);
    cg_control_watch_attach(&f->w, inst);
    return inst;
}

static uint64_t version(const cg_control_inst_t *inst)
{
    return ((const cg_control_wentry_t *)inst->data)->version;
}

static void on_gone(cg_control_leases_t *l, cg_control_inst_t *inst, cg_control_gone_t why)
{
    fx_t *f = l->data;
    cg_control_watch_detach(&f->w, inst);
}

static int setup(void **state)
{
    fx_t *f = cg_xcalloc(1, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "/tmp/cg-watch-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    cg_buf_t err = {0};
    assert_int_equal(cg_control_store_open(&f->st, f->dir, &err), 0);
    cg_buf_free(&err);
    static const char *const files[] = {"cluster-1.yaml",          "cluster-2.yaml",
                                        "cluster-edge.yaml",       "productpage-1.yaml",
                                        "productpage-2.yaml",      "bookinfo-ingress-1.yaml",
                                        "bookinfo-ingress-2.yaml", "bookinfo-edge.yaml"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) apply_example(f, files[i]);
    f->leases.on_gone = on_gone;
    f->leases.data = f;
    f->edge = add(f, "cluster-edge", "edge", "edgegw", "127.0.0.1");
    f->ing1 = add(f, "cluster-1", "bookinfo", "ingressgw-1", "127.0.1.2");
    f->ing2 = add(f, "cluster-2", "bookinfo", "ingressgw-2", "127.0.2.2");
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    f->leases.on_gone = NULL;
    for (size_t i = 0; i < f->leases.items.len; i++)
        cg_control_watch_detach(&f->w, f->leases.items.items[i]);
    cg_control_leases_destroy(&f->leases);
    cg_control_store_close(&f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
    assert_int_equal(system(cmd), 0);
    free(f);
    return 0;
}

static size_t recompute(fx_t *f, int what)
{
    return cg_control_watch_recompute(&f->w, cg_control_store_view(&f->st), &f->leases, what);
}

static void test_only_changed_instances_bump(void **state)
{
    fx_t *f = *state;
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 3);
    uint64_t ve = version(f->edge), v1 = version(f->ing1), v2 = version(f->ing2);
    assert_true(ve > 0 && v1 > ve && v2 > v1);
    const cg_control_wentry_t *e = f->edge->data;
    assert_true(e->edge);
    assert_non_null(memmem(e->json.base, e->json.len, "\"address\":\"127.0.1.2\"",
                           strlen("\"address\":\"127.0.1.2\"")));
    /* nothing changed: no version moves */
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 0);
    assert_int_equal(version(f->edge), ve);

    /* the service behind ingress-1 moves: only ingress-1's snapshot changes */
    apply_text(f, "pp1.yaml",
               "apiVersion: crossgate/v1\nkind: Service\nmetadata: {name: productpage, namespace: "
               "bookinfo, cluster: "
               "cluster-1}\nspec:\n  hostname: productpage.bookinfo.svc.cluster.local\n  "
               "endpoints: [{address: "
               "127.0.1.11, port: 9080}]\n");
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 1);
    assert_int_equal(version(f->edge), ve);
    assert_int_equal(version(f->ing2), v2);
    assert_true(version(f->ing1) > v2);
}

static void test_instance_changes_touch_new_and_edges(void **state)
{
    fx_t *f = *state;
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 3);
    uint64_t ve = version(f->edge), v1 = version(f->ing1), v2 = version(f->ing2);
    uint64_t computed = f->w.computed;
    cg_control_inst_t *ing1b = add(f, "cluster-1", "bookinfo", "ingressgw-1", "127.0.1.3");
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_INSTANCES),
                     2);                           /* the new one and the edge */
    assert_int_equal(f->w.computed - computed, 2); /* ingresses not even translated */
    assert_true(version(f->edge) > ve);
    assert_true(version(ing1b) > 0);
    assert_int_equal(version(f->ing1), v1);
    assert_int_equal(version(f->ing2), v2);
    const cg_control_wentry_t *e = f->edge->data;
    assert_non_null(memmem(e->json.base, e->json.len, "\"address\":\"127.0.1.3\"",
                           strlen("\"address\":\"127.0.1.3\"")));
    /* it leaves: the edge drops it */
    ve = version(f->edge);
    assert_int_equal(cg_control_leases_remove(&f->leases, ing1b->id), 0);
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_INSTANCES), 1);
    assert_true(version(f->edge) > ve);
    assert_null(memmem(e->json.base, e->json.len, "\"address\":\"127.0.1.3\"",
                       strlen("\"address\":\"127.0.1.3\"")));
}

typedef struct rec {
    cg_control_waiter_t w;
    int calls;
    const cg_control_wentry_t *got;
} rec_t;

static void woke(cg_control_waiter_t *w, const cg_control_wentry_t *e)
{
    rec_t *r = cg_container_of(w, rec_t, w);
    r->calls++;
    r->got = e;
}

static void test_waiters(void **state)
{
    fx_t *f = *state;
    recompute(f, CG_CONTROL_RECOMPUTE_ALL);
    rec_t a = {.w = {.after = version(f->ing1), .cb = woke}},
          b = {.w = {.after = version(f->ing2), .cb = woke}};
    cg_control_watch_wait(&f->w, f->ing1->data, &a.w);
    cg_control_watch_wait(&f->w, f->ing2->data, &b.w);
    assert_int_equal(f->w.waiting, 2);
    apply_text(f, "pp1.yaml",
               "apiVersion: crossgate/v1\nkind: Service\nmetadata: {name: productpage, namespace: "
               "bookinfo, cluster: "
               "cluster-1}\nspec:\n  hostname: productpage.bookinfo.svc.cluster.local\n  "
               "endpoints: [{address: "
               "127.0.1.12, port: 9080}]\n");
    recompute(f, CG_CONTROL_RECOMPUTE_ALL);
    assert_int_equal(a.calls, 1);
    assert_ptr_equal(a.got, f->ing1->data);
    assert_true(a.got->version > a.w.after);
    assert_int_equal(b.calls, 0);
    assert_int_equal(f->w.waiting, 1);
    /* the instance leaves: its waiter learns it with NULL */
    assert_int_equal(cg_control_leases_remove(&f->leases, f->ing2->id), 0);
    assert_int_equal(b.calls, 1);
    assert_null(b.got);
    assert_int_equal(f->w.waiting, 0);
    /* cancel: never called */
    rec_t c = {.w = {.after = version(f->edge), .cb = woke}};
    cg_control_watch_wait(&f->w, f->edge->data, &c.w);
    cg_control_watch_cancel(&f->w, &c.w);
    assert_int_equal(cg_control_leases_remove(&f->leases, f->edge->id), 0);
    assert_int_equal(c.calls, 0);
}

/* Waiters parked on purpose although their entry's version is above `after` (the resync
 * window) are woken by wake_ready; those with nothing new stay parked. */
static void test_wake_ready_wakes_only_waiters_behind(void **state)
{
    fx_t *f = *state;
    recompute(f, CG_CONTROL_RECOMPUTE_ALL);
    rec_t held = {.w = {.after = version(f->edge) - 1, .cb = woke}},
          current = {.w = {.after = version(f->ing1), .cb = woke}};
    cg_control_watch_wait(&f->w, f->edge->data, &held.w);
    cg_control_watch_wait(&f->w, f->ing1->data, &current.w);
    assert_int_equal(cg_control_watch_wake_ready(&f->w, &f->leases), 1);
    assert_int_equal(held.calls, 1);
    assert_ptr_equal(held.got, f->edge->data);
    assert_int_equal(current.calls, 0);
    assert_int_equal(f->w.waiting, 1);
    assert_int_equal(cg_control_watch_wake_ready(&f->w, &f->leases), 0);
    cg_control_watch_cancel(&f->w, &current.w);
    assert_int_equal(f->w.waiting, 0);
}

static void test_translation_error_keeps_last_snapshot(void **state)
{
    fx_t *f = *state;
    recompute(f, CG_CONTROL_RECOMPUTE_ALL);
    uint64_t v1 = version(f->ing1);
    /* a second Gateway on ingress-1's port and hostname: that instance cannot be translated */
    apply_text(f, "clash.yaml",
               "apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: clash}\nspec:\n  "
               "workloadSelector: "
               "{namespace: bookinfo, labels: {app: ingressgw-1}}\n  http:\n  - name: x\n    port: "
               "8080\n    hostname: "
               "bookinfo.tse.tetratelabs.io\n    routing:\n      rules:\n      - directResponse: "
               "{status: 200}\n");
    recompute(f, CG_CONTROL_RECOMPUTE_ALL);
    const cg_control_wentry_t *e = f->ing1->data;
    assert_non_null(e->error);
    assert_int_equal(version(f->ing1), v1);
    assert_non_null(e->snap);
}

/* The versions' bound: recorded a block ahead before a version beyond it goes out, once per
 * block; when recording fails nothing goes out and the next attempt goes on from there. */
typedef struct holds {
    int calls, fail;
    uint64_t upto;
} holds_t;

static int hold(void *data, uint64_t upto)
{
    holds_t *h = data;
    h->calls++;
    if (h->fail) return CG_EIO;
    h->upto = upto;
    return 0;
}

static void test_versions_are_held_before_they_go_out(void **state)
{
    fx_t *f = *state;
    holds_t h = {.fail = 1};
    f->w.last_version = f->w.held = 5000;
    f->w.hold = hold;
    f->w.hold_data = &h;
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 0);
    assert_int_equal(version(f->edge), 0);
    assert_non_null(((const cg_control_wentry_t *)f->edge->data)->error);
    h.fail = 0;
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 3);
    assert_int_equal(h.upto, 5000 + CG_CONTROL_VERSIONS_HOLD);
    assert_int_equal(f->w.held, h.upto);
    assert_int_equal(version(f->ing2), 5003);
    assert_null(((const cg_control_wentry_t *)f->edge->data)->error);
    int calls = h.calls;
    cg_control_inst_t *more = add(f, "cluster-1", "bookinfo", "ingressgw-1", "127.0.1.3");
    assert_true(recompute(f, CG_CONTROL_RECOMPUTE_INSTANCES) >= 1);
    assert_true(version(more) > 5003);
    assert_int_equal(h.calls, calls); /* within the block: no write */
}

/* ---- scoped recomputes (scope.h): an apply recomputes the instances it can reach ---- */

static size_t recompute_changed(fx_t *f, cg_control_seen_t *seen, uint64_t *computed)
{
    uint64_t before = f->w.computed;
    size_t bumped = cg_control_scope_recompute(seen, &f->st, &f->w, &f->leases);
    *computed = f->w.computed - before;
    return bumped;
}

/* What the scope skipped was indeed unchanged: translating every instance moves nothing. */
static void assert_nothing_missed(fx_t *f)
{
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 0);
}

static const char pp1_moved[] =
    "apiVersion: crossgate/v1\nkind: Service\nmetadata: {name: productpage, namespace: "
    "bookinfo, cluster: cluster-1}\nspec:\n  hostname: productpage.bookinfo.svc.cluster.local\n"
    "  endpoints: [{address: 127.0.1.11, port: 9080}]\n";

static void test_scoped_service_change_recomputes_its_cluster_and_edges(void **state)
{
    fx_t *f = *state;
    cg_control_seen_t seen = {0};
    uint64_t computed;
    assert_int_equal(recompute_changed(f, &seen, &computed), 3); /* the first diff: every one */
    assert_int_equal(computed, 3);
    uint64_t ve = version(f->edge), v2 = version(f->ing2);
    apply_text(f, "pp1.yaml", pp1_moved);
    assert_int_equal(recompute_changed(f, &seen, &computed), 1);
    assert_int_equal(computed, 2); /* cluster-1's ingress and the edge; cluster-2's untouched */
    assert_true(version(f->ing1) > v2);
    assert_int_equal(version(f->ing2), v2);
    assert_int_equal(version(f->edge), ve);
    assert_nothing_missed(f);
    /* nothing changed: nothing but the edge is translated */
    assert_int_equal(recompute_changed(f, &seen, &computed), 0);
    assert_int_equal(computed, 1);
    cg_control_seen_free(&seen);
}

static void test_scoped_delete_and_cluster_change_reach_their_cluster(void **state)
{
    fx_t *f = *state;
    cg_control_seen_t seen = {0};
    uint64_t computed;
    recompute_changed(f, &seen, &computed);
    uint64_t v1 = version(f->ing1), v2 = version(f->ing2), ve = version(f->edge);
    cg_control_results_t r = {0};
    cg_buf_t errors = {0};
    assert_int_equal(cg_control_store_delete(&f->st, CG_KIND_SERVICE, "cluster-2", "bookinfo",
                                             "productpage", &r, &errors),
                     0);
    cg_control_results_free(&r);
    assert_int_equal(recompute_changed(f, &seen, &computed), 1); /* ingress-2 lost its service */
    assert_int_equal(computed, 2);
    assert_true(version(f->ing2) > v2);
    assert_int_equal(version(f->ing1), v1);
    assert_nothing_missed(f);
    /* cluster-1 moves to another zone: its instance and the edge's endpoint in it change */
    apply_text(f, "c1.yaml",
               "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-1}\nspec:\n"
               "  locality: {region: region-1, zone: zone-b}\n  gateways:\n  - {address: "
               "127.0.1.1, namespace: bookinfo, labels: {app: ingressgw-1}}\n");
    v2 = version(f->ing2);
    assert_int_equal(recompute_changed(f, &seen, &computed), 2);
    assert_int_equal(computed, 2);
    assert_true(version(f->ing1) > v1 && version(f->edge) > ve);
    assert_int_equal(version(f->ing2), v2);
    assert_nothing_missed(f);
    cg_buf_free(&errors);
    cg_control_seen_free(&seen);
}

/* A Gateway that may select instances of any cluster reaches every instance; one pinned to a
 * cluster (workloadSelector.cluster), that cluster's, before and after the change. */
static void test_scoped_gateway_reach_follows_its_selector(void **state)
{
    fx_t *f = *state;
    cg_control_seen_t seen = {0};
    uint64_t computed;
    recompute_changed(f, &seen, &computed);
    static const char gw[] =
        "apiVersion: gateway.tsb.tetrate.io/v2\nkind: Gateway\nmetadata: {name: "
        "bookinfo-ingress-1}\nspec:\n  workloadSelector: {namespace: bookinfo, labels: {app: "
        "ingressgw-1}%s}\n  http:\n  - name: bookinfo\n    port: %d\n    hostname: "
        "bookinfo.tse.tetratelabs.io\n    routing:\n      rules:\n      - route: "
        "{serviceDestination: {host: bookinfo/productpage.bookinfo.svc.cluster.local, port: "
        "9080}}\n";
    char text[1024];
    snprintf(text, sizeof(text), gw, ", cluster: cluster-1", 8080);
    apply_text(f, "gw.yaml", text); /* was unpinned: any instance */
    recompute_changed(f, &seen, &computed);
    assert_int_equal(computed, 3);
    assert_nothing_missed(f);
    snprintf(text, sizeof(text), gw, ", cluster: cluster-1", 8081);
    apply_text(f, "gw.yaml", text); /* pinned before and after: cluster-1 and the edge */
    uint64_t v2 = version(f->ing2), v1 = version(f->ing1);
    recompute_changed(f, &seen, &computed);
    assert_int_equal(computed, 2);
    assert_true(version(f->ing1) > v1);
    assert_int_equal(version(f->ing2), v2);
    assert_nothing_missed(f);
    snprintf(text, sizeof(text), gw, ", cluster: cluster-2", 8081);
    apply_text(f, "gw.yaml", text); /* moved to cluster-2: both clusters */
    recompute_changed(f, &seen, &computed);
    assert_int_equal(computed, 3);
    assert_nothing_missed(f);
    cg_control_seen_free(&seen);
}

/* ---- make-before-break ---- */

static cg_control_wentry_t *entry(const cg_control_inst_t *inst)
{
    return inst->data;
}

/* Every gateway serves its current snapshot, as its watch says. */
static void all_serve(fx_t *f)
{
    for (size_t i = 0; i < f->leases.items.len; i++) {
        cg_control_wentry_t *e = f->leases.items.items[i]->data;
        cg_control_watch_ack(&f->w, e, e->version);
    }
}

/* The example file with every "port: 8080" made `port` (NULL: as it is). */
static char *example_text(const char *file, const char *port)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/examples/%s", CG_SOURCE_DIR, file);
    char *text = slurp(path), *at;
    while (port && (at = strstr(text, "port: 8080"))) memcpy(at + 6, port, 4);
    return text;
}

static void delete_example(fx_t *f, const char *file)
{
    char *text = example_text(file, NULL);
    cg_control_results_t r = {0};
    cg_buf_t errors = {0};
    assert_int_equal(cg_control_store_delete_docs(&f->st, file, text, strlen(text), &r, &errors),
                     0);
    cg_control_results_free(&r);
    cg_buf_free(&errors);
    free(text);
}

static uint64_t clock_ms;

static int setup_order(void **state)
{
    setup(state);
    fx_t *f = *state;
    clock_ms = 1000;
    f->w.now_ms = &clock_ms;
    f->w.order_wait_ms = 500;
    recompute(f, CG_CONTROL_RECOMPUTE_ALL);
    all_serve(f);
    return 0;
}

/* A new ingress: the edge's snapshot with its endpoints waits until it serves its first one. */
static void test_order_ingress_first_when_an_edge_gains_its_endpoints(void **state)
{
    fx_t *f = *state;
    uint64_t ve = version(f->edge);
    rec_t edge = {.w = {.after = ve, .cb = woke}}, fresh = {.w = {.after = 0, .cb = woke}};
    cg_control_watch_wait(&f->w, f->edge->data, &edge.w);
    cg_control_inst_t *ing = add(f, "cluster-1", "bookinfo", "ingressgw-1", "127.0.1.3");
    cg_control_watch_wait(&f->w, ing->data, &fresh.w);
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_INSTANCES), 2);
    assert_true(version(f->edge) > ve);
    assert_int_equal(fresh.calls, 1); /* the ingress first */
    assert_int_equal(edge.calls, 0);  /* the edge waits */
    assert_int_equal(f->w.nheld, 1);
    assert_int_equal(f->w.holds, 1);
    assert_true(cg_control_watch_holds(entry(f->edge), ve));
    assert_false(cg_control_watch_holds(entry(f->edge), 0)); /* an edge with nothing yet: at once */
    assert_int_equal(cg_control_watch_hold_deadline(&f->w), 1000 + 500);
    /* an ingress that never held anything says so: nothing changes */
    assert_int_equal(cg_control_watch_ack(&f->w, ing->data, 0), 0);
    assert_int_equal(cg_control_watch_ack(&f->w, ing->data, version(ing) + 1), 0); /* not ours */
    assert_int_equal(edge.calls, 0);
    /* it serves its snapshot (listens): the edge gets its own */
    assert_int_equal(cg_control_watch_ack(&f->w, ing->data, version(ing)), 1);
    assert_int_equal(edge.calls, 1);
    assert_ptr_equal(edge.got, f->edge->data);
    assert_int_equal(f->w.nheld, 0);
    assert_int_equal(cg_control_watch_hold_deadline(&f->w), 0);
    assert_int_equal(f->w.holds_expired, 0);
}

/* An ingress Gateway deleted: the ingress's snapshot without its listener waits until the edge
 * serves the one without its endpoint; applied again, the edge waits for the ingress. */
static void test_order_edges_first_when_an_edge_loses_endpoints(void **state)
{
    fx_t *f = *state;
    uint64_t ve = version(f->edge), v1 = version(f->ing1), v2 = version(f->ing2);
    rec_t edge = {.w = {.after = ve, .cb = woke}}, ing1 = {.w = {.after = v1, .cb = woke}};
    cg_control_watch_wait(&f->w, f->edge->data, &edge.w);
    cg_control_watch_wait(&f->w, f->ing1->data, &ing1.w);
    delete_example(f, "bookinfo-ingress-1.yaml");
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 2);
    assert_int_equal(version(f->ing2), v2);
    assert_int_equal(edge.calls, 1); /* the edge first */
    assert_int_equal(ing1.calls, 0);
    assert_true(cg_control_watch_holds(entry(f->ing1), v1));
    assert_int_equal(f->w.nheld, 1);
    /* the edge's watch still serves the old one: nothing */
    assert_int_equal(cg_control_watch_ack(&f->w, f->edge->data, ve), 0);
    assert_int_equal(ing1.calls, 0);
    assert_int_equal(cg_control_watch_ack(&f->w, f->edge->data, version(f->edge)), 1);
    assert_int_equal(ing1.calls, 1);
    assert_int_equal(f->w.nheld, 0);

    /* applied again: the ingress first */
    cg_control_watch_ack(&f->w, f->ing1->data, version(f->ing1));
    ve = version(f->edge);
    v1 = version(f->ing1);
    edge = (rec_t){.w = {.after = ve, .cb = woke}};
    ing1 = (rec_t){.w = {.after = v1, .cb = woke}};
    cg_control_watch_wait(&f->w, f->edge->data, &edge.w);
    cg_control_watch_wait(&f->w, f->ing1->data, &ing1.w);
    apply_example(f, "bookinfo-ingress-1.yaml");
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 2);
    assert_int_equal(ing1.calls, 1);
    assert_int_equal(edge.calls, 0);
    /* a resync-style wake of everything ready leaves a held edge alone */
    assert_int_equal(cg_control_watch_wake_ready(&f->w, &f->leases), 0);
    assert_int_equal(cg_control_watch_ack(&f->w, f->ing1->data, version(f->ing1)), 1);
    assert_int_equal(edge.calls, 1);
    assert_int_equal(f->w.holds, 2);
}

/* A gateway that never takes its snapshot delays the others by order_wait_ms, no more. */
static void test_order_hold_ends_after_the_wait(void **state)
{
    fx_t *f = *state;
    uint64_t ve = version(f->edge);
    rec_t edge = {.w = {.after = ve, .cb = woke}};
    cg_control_watch_wait(&f->w, f->edge->data, &edge.w);
    add(f, "cluster-1", "bookinfo", "ingressgw-1", "127.0.1.3"); /* and never watches */
    recompute(f, CG_CONTROL_RECOMPUTE_INSTANCES);
    assert_int_equal(edge.calls, 0);
    clock_ms += 499;
    assert_int_equal(cg_control_watch_expire(&f->w), 0);
    assert_int_equal(edge.calls, 0);
    clock_ms += 1;
    assert_int_equal(cg_control_watch_expire(&f->w), 1);
    assert_int_equal(edge.calls, 1);
    assert_int_equal(f->w.holds_expired, 1);
    assert_int_equal(f->w.nheld, 0);
    assert_int_equal(cg_control_watch_hold_deadline(&f->w), 0);
}

/* The instance waited for goes away: the hold ends, and the one that held goes on. */
static void test_order_hold_ends_when_the_one_waited_for_goes(void **state)
{
    fx_t *f = *state;
    uint64_t ve = version(f->edge);
    rec_t edge = {.w = {.after = ve, .cb = woke}};
    cg_control_watch_wait(&f->w, f->edge->data, &edge.w);
    cg_control_inst_t *ing = add(f, "cluster-1", "bookinfo", "ingressgw-1", "127.0.1.3");
    recompute(f, CG_CONTROL_RECOMPUTE_INSTANCES);
    assert_int_equal(edge.calls, 0);
    assert_int_equal(cg_control_leases_remove(&f->leases, ing->id), 0);
    assert_int_equal(edge.calls, 1);
    assert_ptr_equal(edge.got, f->edge->data);
    assert_int_equal(f->w.nheld, 0);
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_INSTANCES), 1); /* the edge drops it */
    assert_int_equal(f->w.nheld, 0);
    /* and the held one going away leaves nothing behind either */
    rec_t again = {.w = {.after = version(f->edge), .cb = woke}};
    cg_control_watch_wait(&f->w, f->edge->data, &again.w);
    ing = add(f, "cluster-1", "bookinfo", "ingressgw-1", "127.0.1.3");
    recompute(f, CG_CONTROL_RECOMPUTE_INSTANCES);
    assert_int_equal(f->w.nheld, 1);
    assert_int_equal(cg_control_leases_remove(&f->leases, f->edge->id), 0);
    assert_int_equal(again.calls, 1);
    assert_null(again.got);
    assert_int_equal(f->w.nheld, 0);
    assert_int_equal(cg_control_watch_hold_deadline(&f->w), 0);
}

/* A listener that moves to another port adds and removes endpoints between the same two
 * instances: each would wait for the other. The addition is ordered, the removal is not. */
static void test_order_cycle_is_not_held(void **state)
{
    fx_t *f = *state;
    uint64_t ve = version(f->edge), v1 = version(f->ing1);
    rec_t edge = {.w = {.after = ve, .cb = woke}}, ing1 = {.w = {.after = v1, .cb = woke}};
    cg_control_watch_wait(&f->w, f->edge->data, &edge.w);
    cg_control_watch_wait(&f->w, f->ing1->data, &ing1.w);
    char *text = example_text("bookinfo-ingress-1.yaml", "8081");
    apply_text(f, "moved.yaml", text);
    free(text);
    assert_int_equal(recompute(f, CG_CONTROL_RECOMPUTE_ALL), 2);
    assert_int_equal(f->w.holds_unordered, 1);
    assert_int_equal(ing1.calls, 1);
    assert_int_equal(edge.calls, 0);
    assert_int_equal(cg_control_watch_ack(&f->w, f->ing1->data, version(f->ing1)), 1);
    assert_int_equal(edge.calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_only_changed_instances_bump, setup, teardown),
        cmocka_unit_test_setup_teardown(test_instance_changes_touch_new_and_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scoped_service_change_recomputes_its_cluster_and_edges,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_scoped_delete_and_cluster_change_reach_their_cluster,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_scoped_gateway_reach_follows_its_selector, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_waiters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wake_ready_wakes_only_waiters_behind, setup, teardown),
        cmocka_unit_test_setup_teardown(test_versions_are_held_before_they_go_out, setup, teardown),
        cmocka_unit_test_setup_teardown(test_translation_error_keeps_last_snapshot, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_order_ingress_first_when_an_edge_gains_its_endpoints,
                                        setup_order, teardown),
        cmocka_unit_test_setup_teardown(test_order_edges_first_when_an_edge_loses_endpoints,
                                        setup_order, teardown),
        cmocka_unit_test_setup_teardown(test_order_hold_ends_after_the_wait, setup_order, teardown),
        cmocka_unit_test_setup_teardown(test_order_hold_ends_when_the_one_waited_for_goes,
                                        setup_order, teardown),
        cmocka_unit_test_setup_teardown(test_order_cycle_is_not_held, setup_order, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
