/* Tests of the snapshot's JSON encoding, and of the guide's example files end to end:
 * examples/ → model → translate → JSON for an ingress instance and the edge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/list.h"
#include "translate/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *encode(const cg_snapshot_t *s)
{
    cg_buf_t b = {0};
    assert_int_equal(cg_snapshot_encode_json(s, &b), 0);
    char *out = cg_xstrndup(cg_buf_data(&b), cg_buf_size(&b));
    cg_buf_free(&b);
    return out;
}

/* A hand-built snapshot holding every kind of field. */
static void test_encode_all_fields(void **state)
{
    (void)state;
    cg_snapshot_t *s = cg_xcalloc(1, sizeof(*s));
    s->version = 18446744073709551615ull;
    s->cluster = cg_xstrdup("edge");
    s->namespace_ = cg_xstrdup("edge");
    s->nlabels = 2;
    s->labels = cg_xcalloc(2, sizeof(*s->labels));
    s->labels[0] = (cg_snap_label_t){cg_xstrdup("app"), cg_xstrdup("edgegw")};
    s->labels[1] = (cg_snap_label_t){cg_xstrdup("q\"uote"), cg_xstrdup("back\\slash\n")};
    s->address = cg_xstrdup("127.0.0.1");
    s->region = cg_xstrdup("region-1");

    s->nservers = 1;
    s->servers = cg_xcalloc(1, sizeof(*s->servers));
    cg_snap_server_t *v = &s->servers[0];
    v->gateway = cg_xstrdup("ns/edge");
    v->name = cg_xstrdup("bookinfo");
    v->port = 8080;
    v->hostname = cg_xstrdup("*.example.com");
    v->nrules = 3;
    v->rules = cg_xcalloc(3, sizeof(*v->rules));
    cg_snap_rule_t *r = &v->rules[0];
    r->nmatches = 2;
    r->matches = cg_xcalloc(2, sizeof(*r->matches));
    r->matches[0].has_uri = 1;
    r->matches[0].uri = (cg_snap_strmatch_t){CG_MATCH_PREFIX, cg_xstrdup("/api")};
    r->matches[0].nheaders = 2;
    r->matches[0].headers = cg_xcalloc(2, sizeof(cg_snap_header_match_t));
    r->matches[0].headers[0] =
        (cg_snap_header_match_t){cg_xstrdup("x-a"), {CG_MATCH_EXACT, cg_xstrdup("1")}};
    r->matches[0].headers[1] =
        (cg_snap_header_match_t){cg_xstrdup("x-b"), {CG_MATCH_REGEX, cg_xstrdup("^v[0-9]$")}};
    r->matches[1].nheaders = 1;
    r->matches[1].headers = cg_xcalloc(1, sizeof(cg_snap_header_match_t));
    r->matches[1].headers[0] =
        (cg_snap_header_match_t){cg_xstrdup("x-c"), {CG_MATCH_PREFIX, cg_xstrdup("z")}};
    r->action = CG_ACTION_ROUTE;
    r->destination = 0;
    r->timeout_ms = 15000;
    r = &v->rules[1];
    r->action = CG_ACTION_REDIRECT;
    r->redirect = (cg_snap_redirect_t){.scheme = cg_xstrdup("https"),
                                       .authority = cg_xstrdup("example.com"),
                                       .uri = cg_xstrdup("/new"),
                                       .port = 8443,
                                       .redirect_code = 302};
    r->timeout_ms = 0;
    r = &v->rules[2];
    r->action = CG_ACTION_DIRECT;
    r->direct = (cg_snap_direct_t){.status = 503, .body = cg_xstrdup("no healthy upstream\n")};
    r->timeout_ms = 1;

    s->ndestinations = 1;
    s->destinations = cg_xcalloc(1, sizeof(*s->destinations));
    cg_snap_destination_t *d = &s->destinations[0];
    d->name = cg_xstrdup("clusters:x:weighted:c1=1,c2=3");
    d->mode = CG_DEST_WEIGHTED;
    d->connect_timeout_ms = 5000;
    d->nendpoints = 2;
    d->endpoints = cg_xcalloc(2, sizeof(*d->endpoints));
    d->endpoints[0] = (cg_snap_endpoint_t){cg_xstrdup("10.0.1.1"),
                                           8080,
                                           cg_xstrdup("c1"),
                                           cg_xstrdup("r1"),
                                           cg_xstrdup("z1"),
                                           1,
                                           0,
                                           NULL,
                                           NULL,
                                           0};
    d->endpoints[1] =
        (cg_snap_endpoint_t){cg_xstrdup("::1"), 80, NULL, NULL, NULL, 7, 2, NULL, NULL, 0};
    d->policy.retry = cg_lb_retry_defaults;
    d->policy.retry.retry_on = CG_RETRY_ON_5XX | CG_RETRY_ON_RETRIABLE_4XX;
    d->policy.outlier = cg_lb_outlier_defaults;
    d->policy.health_check = cg_lb_hc_defaults;
    d->policy.health_check.enabled = 0;
    d->policy.overprovisioning = 250;
    d->nweights = 2;
    d->weights = cg_xcalloc(2, sizeof(*d->weights));
    d->weights[0] = (cg_snap_cluster_weight_t){cg_xstrdup("c1"), 1};
    d->weights[1] = (cg_snap_cluster_weight_t){cg_xstrdup("c2"), 3};
    s->nwarnings = 1;
    s->warnings = cg_xcalloc(1, sizeof(char *));
    s->warnings[0] = cg_xstrdup("named cluster c3 has no Gateway serving x");

    char *j = encode(s);
    assert_string_equal(
        j,
        "{\"version\":18446744073709551615,\"cluster\":\"edge\",\"namespace\":\"edge\","
        "\"labels\":{\"app\":\"edgegw\",\"q\\\"uote\":\"back\\\\slash\\u000a\"},"
        "\"address\":\"127.0.0.1\",\"region\":\"region-1\","
        "\"servers\":[{\"gateway\":\"ns/"
        "edge\",\"name\":\"bookinfo\",\"port\":8080,\"hostname\":\"*.example.com\","
        "\"rules\":["
        "{\"matches\":[{\"uri\":{\"prefix\":\"/"
        "api\"},\"headers\":[{\"name\":\"x-a\",\"exact\":\"1\"},"
        "{\"name\":\"x-b\",\"regex\":\"^v[0-9]$\"}]},{\"headers\":[{\"name\":\"x-c\",\"prefix\":"
        "\"z\"}]}],"
        "\"action\":\"route\",\"destination\":\"clusters:x:weighted:c1=1,c2=3\",\"timeout_ms\":"
        "15000},"
        "{\"matches\":[],\"action\":\"redirect\",\"redirect\":{\"code\":302,\"scheme\":\"https\","
        "\"authority\":\"example.com\",\"port\":8443,\"uri\":\"/new\"},\"timeout_ms\":0},"
        "{\"matches\":[],\"action\":\"direct\",\"direct\":{\"status\":503,\"body\":\"no healthy "
        "upstream\\u000a\"},"
        "\"timeout_ms\":1}]}],"
        "\"destinations\":[{\"name\":\"clusters:x:weighted:c1=1,c2=3\",\"mode\":\"weighted\","
        "\"connect_timeout_ms\":5000,\"endpoints\":["
        "{\"address\":\"10.0.1.1\",\"port\":8080,\"cluster\":\"c1\",\"region\":\"r1\",\"zone\":"
        "\"z1\",\"weight\":1,"
        "\"priority\":0},"
        "{\"address\":\"::1\",\"port\":80,\"weight\":7,\"priority\":2}],"
        "\"weights\":[{\"cluster\":\"c1\",\"weight\":1},{\"cluster\":\"c2\",\"weight\":3}],"
        "\"policy\":{\"retry\":{\"attempts\":2,\"per_try_timeout_ms\":0,\"retry_on\":[\"5xx\","
        "\"retriable-4xx\"],"
        "\"backoff_base_ms\":25,\"backoff_max_ms\":250,\"budget_percent\":20,\"budget_min\":3,"
        "\"buffer_limit\":65536},"
        "\"outlier\":{\"consecutive_gateway_errors\":3,\"interval_ms\":1000,\"base_ejection_ms\":"
        "5000,"
        "\"max_ejection_ms\":30000,\"max_ejection_percent\":100},"
        "\"health_check\":{\"enabled\":false,\"interval_ms\":1000,\"timeout_ms\":1000,\"unhealthy_"
        "threshold\":2,"
        "\"healthy_threshold\":1},\"overprovisioning\":250}}],"
        "\"warnings\":[\"named cluster c3 has no Gateway serving x\"]}");
    free(j);
    cg_snapshot_free(s);
    cg_snapshot_free(NULL);
}

static void test_encode_empty(void **state)
{
    (void)state;
    cg_snapshot_t *s = cg_xcalloc(1, sizeof(*s));
    s->cluster = cg_xstrdup("c");
    s->namespace_ = cg_xstrdup("n");
    s->address = cg_xstrdup("10.0.0.1");
    char *j = encode(s);
    assert_string_equal(j, "{\"version\":0,\"cluster\":\"c\",\"namespace\":\"n\",\"labels\":{},"
                           "\"address\":\"10.0.0.1\","
                           "\"servers\":[],\"destinations\":[],\"warnings\":[]}");
    free(j);
    /* appends: existing content stays */
    cg_buf_t b = {0};
    cg_buf_append_str(&b, "x");
    assert_int_equal(cg_snapshot_encode_json(s, &b), 0);
    assert_int_equal(cg_buf_data(&b)[0], 'x');
    assert_int_equal(cg_buf_data(&b)[1], '{');
    cg_buf_free(&b);
    cg_snapshot_free(s);
}

/* ---- the guide's files ---- */

static cg_resource_set_t *load_examples(const char *edge_file)
{
    static const char *const files[] = {"cluster-1.yaml",          "cluster-2.yaml",
                                        "cluster-edge.yaml",       "productpage-1.yaml",
                                        "productpage-2.yaml",      "bookinfo-ingress-1.yaml",
                                        "bookinfo-ingress-2.yaml", NULL};
    char full[8][256];
    const char *paths[8];
    size_t n = 0;
    for (; files[n]; n++) {
        snprintf(full[n], sizeof(full[n]), "%s/examples/%s", CG_SOURCE_DIR, files[n]);
        paths[n] = full[n];
    }
    snprintf(full[n], sizeof(full[n]), "%s/examples/%s", CG_SOURCE_DIR, edge_file);
    paths[n] = full[n];
    n++;
    cg_resource_set_t *rs = NULL;
    cg_buf_t err = {0};
    if (cg_model_load_paths(paths, n, &rs, &err) != 0)
        fail_msg("%.*s", (int)cg_buf_size(&err), cg_buf_data(&err));
    cg_buf_free(&err);
    return rs;
}

static char *translate_json(const cg_resource_set_t *rs, const char *cluster, const char *ns,
                            const char *app, const char *address)
{
    cg_snap_label_t l = {"app", (char *)app};
    cg_instance_t inst = {cluster, ns, &l, 1, address, 0, 0};
    cg_snapshot_t *s = NULL;
    cg_buf_t err = {0};
    if (cg_translate_instance(rs, &inst, 1, &s, &err) != 0)
        fail_msg("%.*s", (int)cg_buf_size(&err), cg_buf_data(&err));
    cg_buf_free(&err);
    char *j = encode(s);
    cg_snapshot_free(s);
    return j;
}

/* The policies translation fills in: service routes retry but neither eject nor check;
 * auto/named routes do all three; weighted routes only retry. */
#define RETRY_DEFAULT                                                                              \
    "\"retry\":{\"attempts\":2,\"per_try_timeout_ms\":0,\"retry_on\":[\"connect-failure\","        \
    "\"reset\",\"502\",\"503\","                                                                   \
    "\"504\",\"per-try-timeout\"],\"backoff_base_ms\":25,\"backoff_max_ms\":250,\"budget_"         \
    "percent\":20,"                                                                                \
    "\"budget_min\":3,\"buffer_limit\":65536}"
#define OUTLIER(n)                                                                                 \
    "\"outlier\":{\"consecutive_gateway_errors\":" #n                                              \
    ",\"interval_ms\":1000,\"base_ejection_ms\":5000,"                                             \
    "\"max_ejection_ms\":30000,\"max_ejection_percent\":100}"
#define HC(on)                                                                                     \
    "\"health_check\":{\"enabled\":" #on                                                           \
    ",\"interval_ms\":1000,\"timeout_ms\":1000,\"unhealthy_threshold\":2,"                         \
    "\"healthy_threshold\":1}"
#define POLICY_SERVICE                                                                             \
    ",\"policy\":{" RETRY_DEFAULT "," OUTLIER(0) "," HC(false) ",\"overprovisioning\":140}"
#define POLICY_CLUSTERS                                                                            \
    ",\"policy\":{" RETRY_DEFAULT "," OUTLIER(3) "," HC(true) ",\"overprovisioning\":140}"
#define POLICY_WEIGHTED                                                                            \
    ",\"policy\":{" RETRY_DEFAULT "," OUTLIER(0) "," HC(false) ",\"overprovisioning\":140}"

static void test_examples_ingress(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load_examples("bookinfo-edge.yaml");
    char *j = translate_json(rs, "cluster-1", "bookinfo", "ingressgw-1", "127.0.1.1");
    assert_string_equal(
        j,
        "{\"version\":1,\"cluster\":\"cluster-1\",\"namespace\":\"bookinfo\","
        "\"labels\":{\"app\":\"ingressgw-1\"},\"address\":\"127.0.1.1\",\"region\":\"region-1\","
        "\"servers\":[{\"gateway\":\"bookinfo-ingress-1\",\"name\":\"bookinfo\",\"port\":8080,"
        "\"hostname\":\"bookinfo.tse.tetratelabs.io\",\"rules\":[{\"matches\":[],\"action\":"
        "\"route\","
        "\"destination\":\"service:bookinfo/productpage.bookinfo.svc.cluster.local:9080\","
        "\"timeout_ms\":15000}]}],"
        "\"destinations\":[{\"name\":\"service:bookinfo/"
        "productpage.bookinfo.svc.cluster.local:9080\","
        "\"mode\":\"service\",\"connect_timeout_ms\":5000,\"endpoints\":[{\"address\":\"127.0.1."
        "10\","
        "\"port\":9080,\"cluster\":\"cluster-1\",\"weight\":1,\"priority\":0}]" POLICY_SERVICE "}],"
        "\"warnings\":[]}");
    free(j);
    j = translate_json(rs, "cluster-2", "bookinfo", "ingressgw-2", "127.0.2.1");
    assert_non_null(strstr(
        j, "\"endpoints\":[{\"address\":\"127.0.2.10\",\"port\":9080,\"cluster\":\"cluster-2\""));
    assert_non_null(strstr(j, "\"gateway\":\"bookinfo-ingress-2\""));
    free(j);
    cg_model_free(rs);
}

static const char edge_head[] =
    "{\"version\":1,\"cluster\":\"cluster-edge\",\"namespace\":\"edge\",\"labels\":{\"app\":"
    "\"edgegw\"},"
    "\"address\":\"127.0.0.1\",\"region\":\"region-1\",\"servers\":[{\"gateway\":\"bookinfo-edge\","
    "\"name\":\"bookinfo\","
    "\"port\":8080,\"hostname\":\"bookinfo.tse.tetratelabs.io\",\"rules\":[";
/* the edge is in region-1: cluster-1 is local (priority 0), cluster-2 remote (priority 1) */
#define EP1                                                                                        \
    "{\"address\":\"127.0.1.1\",\"port\":8080,\"cluster\":\"cluster-1\",\"region\":\"region-1\","  \
    "\"weight\":1,"                                                                                \
    "\"priority\":0}"
#define EP2                                                                                        \
    "{\"address\":\"127.0.2.1\",\"port\":8080,\"cluster\":\"cluster-2\",\"region\":\"region-2\","  \
    "\"weight\":1,"                                                                                \
    "\"priority\":1}"

static void expect_edge(const char *edge_file, const char *rules_and_rest)
{
    cg_resource_set_t *rs = load_examples(edge_file);
    char *j = translate_json(rs, "cluster-edge", "edge", "edgegw", "127.0.0.1");
    char want[4096];
    snprintf(want, sizeof(want), "%s%s", edge_head, rules_and_rest);
    assert_string_equal(j, want);
    free(j);
    cg_model_free(rs);
}

static void test_examples_edge(void **state)
{
    (void)state;
    expect_edge(
        "bookinfo-edge.yaml",
        "{\"matches\":[],\"action\":\"route\",\"destination\":\"clusters:bookinfo.tse.tetratelabs."
        "io\","
        "\"timeout_ms\":15000}]}],"
        "\"destinations\":[{\"name\":\"clusters:bookinfo.tse.tetratelabs.io\",\"mode\":\"auto\","
        "\"connect_timeout_ms\":5000,\"endpoints\":[" EP1 "," EP2 "]" POLICY_CLUSTERS
        "}],\"warnings\":[]}");
    expect_edge("edge-named.yaml",
                "{\"matches\":[{\"headers\":[{\"name\":\"x-healthcheck\",\"exact\":\"true\"}]}],"
                "\"action\":\"route\","
                "\"destination\":\"clusters:bookinfo.tse.tetratelabs.io:named:cluster-1\","
                "\"timeout_ms\":15000},"
                "{\"matches\":[],\"action\":\"route\","
                "\"destination\":\"clusters:bookinfo.tse.tetratelabs.io:named:cluster-1,cluster-"
                "2\",\"timeout_ms\":15000}]}],"
                "\"destinations\":[{\"name\":\"clusters:bookinfo.tse.tetratelabs.io:named:cluster-"
                "1\",\"mode\":\"named\","
                "\"connect_timeout_ms\":5000,\"endpoints\":[" EP1 "]" POLICY_CLUSTERS "},"
                "{\"name\":\"clusters:bookinfo.tse.tetratelabs.io:named:cluster-1,cluster-2\","
                "\"mode\":\"named\","
                "\"connect_timeout_ms\":5000,\"endpoints\":[" EP1 "," EP2 "]" POLICY_CLUSTERS
                "}],\"warnings\":[]}");
    expect_edge("edge-weighted.yaml",
                "{\"matches\":[],\"action\":\"route\","
                "\"destination\":\"clusters:bookinfo.tse.tetratelabs.io:weighted:cluster-1=50,"
                "cluster-2=50\","
                "\"timeout_ms\":15000}]}],"
                "\"destinations\":[{\"name\":\"clusters:bookinfo.tse.tetratelabs.io:weighted:"
                "cluster-1=50,cluster-2=50\","
                "\"mode\":\"weighted\",\"connect_timeout_ms\":5000,\"endpoints\":[" EP1 "," EP2 "],"
                "\"weights\":[{\"cluster\":\"cluster-1\",\"weight\":50},{\"cluster\":\"cluster-2\","
                "\"weight\":50}]" POLICY_WEIGHTED "}],"
                "\"warnings\":[]}");
}

/* The pool keeps one copy per source string (by address), and a snapshot frees its pooled
 * endpoints' strings once, with the pool (ASan: no leak, no double free). */
static void test_pool_shares_copies_per_source(void **state)
{
    (void)state;
    char a[] = "10.0.0.1", b[] = "10.0.0.1"; /* equal text, two sources */
    cg_snapshot_t *s = cg_xcalloc(1, sizeof(*s));
    char *x = cg_snap_pool_ref(&s->pool, a), *y = cg_snap_pool_ref(&s->pool, a),
         *z = cg_snap_pool_ref(&s->pool, b);
    assert_ptr_equal(x, y);
    assert_ptr_not_equal(x, a); /* a copy, not the source */
    assert_ptr_not_equal(x, z);
    assert_string_equal(z, "10.0.0.1");
    assert_null(cg_snap_pool_ref(&s->pool, NULL));
    /* past a rehash every source still finds its copy */
    char names[200][8];
    char *copies[200];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "n%d", i);
        copies[i] = cg_snap_pool_ref(&s->pool, names[i]);
    }
    for (int i = 0; i < 200; i++) assert_ptr_equal(cg_snap_pool_ref(&s->pool, names[i]), copies[i]);
    assert_ptr_equal(cg_snap_pool_ref(&s->pool, a), x);
    s->ndestinations = 1;
    s->destinations = cg_xcalloc(1, sizeof(*s->destinations));
    cg_snap_destination_t *d = &s->destinations[0];
    d->name = cg_xstrdup("d");
    d->nendpoints = 2;
    d->endpoints = cg_xcalloc(2, sizeof(*d->endpoints));
    for (int e = 0; e < 2; e++) /* two endpoints sharing the address */
        d->endpoints[e] = (cg_snap_endpoint_t){
            .address = x, .port = (uint16_t)(80 + e), .cluster = copies[e], .pooled = 1};
    cg_snapshot_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_all_fields),
        cmocka_unit_test(test_pool_shares_copies_per_source),
        cmocka_unit_test(test_encode_empty),
        cmocka_unit_test(test_examples_ingress),
        cmocka_unit_test(test_examples_edge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
