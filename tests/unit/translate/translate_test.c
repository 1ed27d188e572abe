/* Tests of translation: which Gateways select an instance, service resolution per cluster,
 * auto/named/weighted cluster destinations, warnings and errors. */
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

static const char *const clusters_yaml =
    "apiVersion: crossgate/v1\n"
    "kind: Cluster\n"
    "metadata: {name: c1, labels: {tier: a}}\n"
    "spec:\n"
    "  locality: {region: r1, zone: z1}\n"
    "  gateways:\n"
    "  - {address: 10.0.1.1, namespace: bookinfo, labels: {app: ingress-1}}\n"
    "  - {address: 10.0.1.2, namespace: bookinfo, labels: {app: ingress-1, extra: x}}\n"
    "  - {address: 10.0.1.3, namespace: other, labels: {app: ingress-1}}\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Cluster\n"
    "metadata: {name: c2, labels: {tier: b}}\n"
    "spec:\n"
    "  locality: {region: r2}\n"
    "  gateways: [{address: 10.0.2.1, namespace: bookinfo, labels: {app: ingress-2}}]\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Cluster\n"
    "metadata: {name: c3, labels: {tier: b}}\n"
    "spec:\n"
    "  locality: {region: r2}\n"
    "  gateways: [{address: 10.0.3.1, namespace: bookinfo, labels: {app: nobody}}]\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Cluster\n"
    "metadata: {name: edge}\n"
    "spec: {locality: {region: r1}}\n"
    "---\n";

static const char *const services_yaml =
    "apiVersion: crossgate/v1\n"
    "kind: Service\n"
    "metadata: {name: productpage, namespace: bookinfo, cluster: c1}\n"
    "spec:\n"
    "  hostname: productpage.bookinfo.svc\n"
    "  endpoints: [{address: 10.0.1.10, port: 9080}, {address: 10.0.1.11, port: 9090, weight: 2}]\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Service\n"
    "metadata: {name: productpage, namespace: bookinfo, cluster: c2}\n"
    "spec:\n"
    "  hostname: productpage.bookinfo.svc\n"
    "  endpoints: [{address: 10.0.2.10, port: 9080}]\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Service\n"
    "metadata: {name: productpage, namespace: other, cluster: c1}\n"
    "spec:\n"
    "  hostname: productpage.bookinfo.svc\n"
    "  endpoints: [{address: 10.0.9.9, port: 9080}]\n"
    "---\n";

static const char *const ingress_yaml =
    "apiVersion: gateway.tsb.tetrate.io/v2\n"
    "kind: Gateway\n"
    "metadata: {name: ingress-1, namespace: bookinfo}\n"
    "spec:\n"
    "  workloadSelector: {namespace: bookinfo, labels: {app: ingress-1}}\n"
    "  http:\n"
    "  - name: bookinfo\n"
    "    port: 8080\n"
    "    hostname: bookinfo.example.com\n"
    "    routing:\n"
    "      rules:\n"
    "      - match: [{uri: {prefix: /api}, headers: {x-v: {exact: \"2\"}}}, {uri: {regex: "
    "\"^/v[0-9]$\"}}]\n"
    "        route: {serviceDestination: {host: bookinfo/productpage.bookinfo.svc, port: 9080}}\n"
    "        timeout: 3s\n"
    "      - match: [{uri: {exact: /all}}]\n"
    "        route: {serviceDestination: {host: bookinfo/productpage.bookinfo.svc}}\n"
    "      - match: [{uri: {exact: /again}}]\n"
    "        route: {serviceDestination: {host: bookinfo/productpage.bookinfo.svc, port: 9080}}\n"
    "      - match: [{uri: {exact: /old}}]\n"
    "        redirect: {uri: /new}\n"
    "      - directResponse: {status: 404, body: nothing here}\n"
    "  - name: reviews\n"
    "    port: 8080\n"
    "    hostname: reviews.example.com\n"
    "    routing: {rules: [{route: {serviceDestination: {host: bookinfo/reviews.bookinfo.svc}}}]}\n"
    "---\n"
    "apiVersion: gateway.tsb.tetrate.io/v2\n"
    "kind: Gateway\n"
    "metadata: {name: ingress-2}\n"
    "spec:\n"
    "  workloadSelector: {namespace: bookinfo, labels: {app: ingress-2}}\n"
    "  http:\n"
    "  - name: bookinfo\n"
    "    port: 8080\n"
    "    hostname: bookinfo.example.com\n"
    "    routing: {rules: [{route: {serviceDestination: {host: bookinfo/productpage.bookinfo.svc, "
    "port: 9080}}}]}\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Gateway\n"
    "metadata: {name: pinned}\n"
    "spec:\n"
    "  workloadSelector: {namespace: bookinfo, labels: {app: ingress-1}, cluster: c2}\n"
    "  http:\n"
    "  - name: pinned\n"
    "    port: 8081\n"
    "    hostname: pinned.example.com\n"
    "    routing: {rules: [{directResponse: {status: 200}}]}\n"
    "---\n";

static cg_resource_set_t *load(const char *extra)
{
    cg_buf_t text = {0}, err = {0};
    cg_buf_printf(&text, "%s%s%s%s", clusters_yaml, services_yaml, ingress_yaml,
                  extra ? extra : "");
    cg_resource_set_t *rs = NULL;
    int rc = cg_model_load_buffer("t.yaml", cg_buf_data(&text), cg_buf_size(&text), &rs, &err);
    if (rc != 0) fail_msg("load: %.*s", (int)cg_buf_size(&err), cg_buf_data(&err));
    cg_buf_free(&text);
    cg_buf_free(&err);
    return rs;
}

static cg_snapshot_t *translate(const cg_resource_set_t *rs, const char *cluster, const char *ns,
                                const char *labels, const char *address)
{
    /* labels: "k=v,k=v" */
    char buf[256];
    cg_snap_label_t l[8];
    size_t n = 0;
    snprintf(buf, sizeof(buf), "%s", labels);
    for (char *tok = strtok(buf, ","); tok && n < 8; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        *eq = '\0';
        l[n++] = (cg_snap_label_t){tok, eq + 1};
    }
    cg_instance_t inst = {cluster, ns, l, n, address, 0, 0};
    cg_snapshot_t *s = NULL;
    cg_buf_t err = {0};
    int rc = cg_translate_instance(rs, &inst, 42, &s, &err);
    if (rc != 0) fail_msg("translate: %.*s", (int)cg_buf_size(&err), cg_buf_data(&err));
    cg_buf_free(&err);
    return s;
}

static int has_warning(const cg_snapshot_t *s, const char *w)
{
    for (size_t i = 0; i < s->nwarnings; i++)
        if (strcmp(s->warnings[i], w) == 0) return 1;
    return 0;
}

static const cg_snap_destination_t *dest_of(const cg_snapshot_t *s, size_t server, size_t rule)
{
    const cg_snap_rule_t *r = &s->servers[server].rules[rule];
    assert_int_equal(r->action, CG_ACTION_ROUTE);
    assert_true(r->destination < s->ndestinations);
    return &s->destinations[r->destination];
}

/* "10.0.1.1:8080@c1" for each endpoint, comma-separated. */
static void endpoints_str(const cg_snap_destination_t *d, char *out, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < d->nendpoints; i++) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s:%u@%s", i ? "," : "", d->endpoints[i].address,
                 d->endpoints[i].port, d->endpoints[i].cluster ? d->endpoints[i].cluster : "-");
    }
}

#define assert_endpoints(d, want)                                                                  \
    do {                                                                                           \
        char got_[512];                                                                            \
        endpoints_str(d, got_, sizeof(got_));                                                      \
        assert_string_equal(got_, want);                                                           \
    } while (0)

static void test_ingress_instance(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load(NULL);
    /* extra instance labels do not matter: the selector's labels must be a subset */
    cg_snapshot_t *s = translate(rs, "c1", "bookinfo", "app=ingress-1,version=v1", "10.0.1.1");
    assert_int_equal(s->version, 42);
    assert_string_equal(s->cluster, "c1");
    assert_string_equal(s->namespace_, "bookinfo");
    assert_string_equal(s->address, "10.0.1.1");
    assert_int_equal(s->nlabels, 2);
    assert_string_equal(s->labels[1].key, "version");
    assert_string_equal(s->region, "r1");
    assert_string_equal(s->zone, "z1");
    assert_int_equal(s->nservers, 2); /* not "pinned": pinned to cluster c2 */
    const cg_snap_server_t *v = &s->servers[0];
    assert_string_equal(v->gateway, "bookinfo/ingress-1");
    assert_string_equal(v->name, "bookinfo");
    assert_int_equal(v->port, 8080);
    assert_string_equal(v->hostname, "bookinfo.example.com");
    assert_int_equal(v->nrules, 5);

    const cg_snap_rule_t *r = &v->rules[0];
    assert_int_equal(r->nmatches, 2);
    assert_true(r->matches[0].has_uri);
    assert_int_equal(r->matches[0].uri.kind, CG_MATCH_PREFIX);
    assert_string_equal(r->matches[0].uri.value, "/api");
    assert_int_equal(r->matches[0].nheaders, 1);
    assert_string_equal(r->matches[0].headers[0].name, "x-v");
    assert_int_equal(r->matches[0].headers[0].match.kind, CG_MATCH_EXACT);
    assert_string_equal(r->matches[0].headers[0].match.value, "2");
    assert_int_equal(r->matches[1].uri.kind, CG_MATCH_REGEX);
    assert_int_equal(r->timeout_ms, 3000);

    /* the route port picks the endpoints; the Service of this cluster and namespace only */
    const cg_snap_destination_t *d = dest_of(s, 0, 0);
    assert_string_equal(d->name, "service:bookinfo/productpage.bookinfo.svc:9080");
    assert_int_equal(d->mode, CG_DEST_SERVICE);
    assert_int_equal(d->connect_timeout_ms, 5000);
    assert_endpoints(d, "10.0.1.10:9080@c1");
    /* no port: every endpoint, with its weight */
    d = dest_of(s, 0, 1);
    assert_string_equal(d->name, "service:bookinfo/productpage.bookinfo.svc");
    assert_endpoints(d, "10.0.1.10:9080@c1,10.0.1.11:9090@c1");
    assert_int_equal(d->endpoints[1].weight, 2);
    assert_int_equal(v->rules[1].timeout_ms, 15000);
    /* equal destinations are shared */
    assert_int_equal(v->rules[2].destination, v->rules[0].destination);

    r = &v->rules[3];
    assert_int_equal(r->action, CG_ACTION_REDIRECT);
    assert_string_equal(r->redirect.uri, "/new");
    assert_null(r->redirect.scheme);
    assert_null(r->redirect.authority);
    assert_int_equal(r->redirect.port, 0);
    assert_int_equal(r->redirect.redirect_code, 301);
    r = &v->rules[4];
    assert_int_equal(r->action, CG_ACTION_DIRECT);
    assert_int_equal(r->direct.status, 404);
    assert_string_equal(r->direct.body, "nothing here");
    assert_int_equal(r->nmatches, 0);

    /* a missing Service: a destination without endpoints (503 UH) and a warning */
    d = dest_of(s, 1, 0);
    assert_string_equal(d->name, "service:bookinfo/reviews.bookinfo.svc");
    assert_int_equal(d->nendpoints, 0);
    assert_true(has_warning(s, "service bookinfo/reviews.bookinfo.svc not found in cluster c1"));
    assert_int_equal(s->ndestinations, 3);
    assert_int_equal(s->nwarnings, 1);
    cg_snapshot_free(s);
    cg_model_free(rs);
}

/* The same Gateway in another cluster resolves to that cluster's Service. */
static void test_service_per_cluster(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load(NULL);
    cg_snapshot_t *s = translate(rs, "c2", "bookinfo", "app=ingress-1", "10.0.2.5");
    assert_string_equal(s->region, "r2");
    assert_null(s->zone);
    assert_int_equal(s->nservers, 3); /* ingress-1's two servers and the pinned one */
    assert_string_equal(s->servers[2].gateway, "pinned");
    assert_endpoints(dest_of(s, 0, 0), "10.0.2.10:9080@c2");
    cg_snapshot_free(s);

    /* a Service without an endpoint on the route's port */
    const char *svc = "apiVersion: crossgate/v1\nkind: Service\n"
                      "metadata: {name: reviews, namespace: bookinfo, cluster: c1}\n"
                      "spec: {hostname: reviews.bookinfo.svc, endpoints: []}\n";
    cg_model_free(rs);
    rs = load(svc);
    s = translate(rs, "c1", "bookinfo", "app=ingress-1", "10.0.1.1");
    assert_int_equal(dest_of(s, 1, 0)->nendpoints, 0);
    assert_true(
        has_warning(s, "service bookinfo/reviews.bookinfo.svc in cluster c1 has no endpoints"));
    cg_snapshot_free(s);
    cg_model_free(rs);
}

static void test_selection(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load(NULL);
    static const struct {
        const char *cluster, *ns, *labels;
        size_t nservers;
    } cases[] = {
        {"c1", "bookinfo", "app=ingress-1", 2},  /* ingress-1 */
        {"c1", "bookinfo", "app=ingress-2", 1},  /* ingress-2, any cluster */
        {"c1", "other", "app=ingress-1", 0},     /* namespace differs */
        {"c1", "bookinfo", "app=ingress-3", 0},  /* label value differs */
        {"c1", "bookinfo", "name=ingress-1", 0}, /* label key differs */
        {"c1", "bookinfo", "", 0},               /* no labels */
        {"c2", "bookinfo", "app=ingress-1", 3},  /* + pinned to c2 */
        {"c9", "bookinfo", "app=ingress-1", 2},  /* unknown cluster: still selected */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_snapshot_t *s =
            translate(rs, cases[i].cluster, cases[i].ns, cases[i].labels, "10.1.1.1");
        if (s->nservers != cases[i].nservers)
            fail_msg("case %zu: %zu servers, want %zu", i, s->nservers, cases[i].nservers);
        if (cases[i].nservers == 0) {
            char w[160];
            snprintf(w, sizeof(w), "no Gateway selects this instance (cluster %s, namespace %s)",
                     cases[i].cluster, cases[i].ns);
            assert_true(has_warning(s, w));
        }
        if (strcmp(cases[i].cluster, "c9") == 0) {
            assert_null(s->region);
            assert_true(has_warning(
                s, "cluster c9 has no Cluster resource: the instance's region is unknown"));
        }
        cg_snapshot_free(s);
    }
    cg_model_free(rs);
}

/* The edge Gateway: its first rule sends health checks to cluster c1 only, the second
 * uses the given clusterDestination; server: more fields of its http[] server. */
static char *edge_yaml(const char *dest, const char *server)
{
    cg_buf_t b = {0};
    cg_buf_printf(&b,
                  "apiVersion: gateway.tsb.tetrate.io/v2\n"
                  "kind: Gateway\n"
                  "metadata: {name: edge}\n"
                  "spec:\n"
                  "  workloadSelector: {namespace: edge, labels: {app: edgegw}}\n"
                  "  http:\n"
                  "  - name: bookinfo\n"
                  "    port: 8080\n"
                  "    hostname: bookinfo.example.com\n"
                  "    routing:\n"
                  "      rules:\n"
                  "      - match: [{headers: {x-healthcheck: {exact: \"true\"}}}]\n"
                  "        route: {clusterDestination: {clusters: [{name: c1}]}}\n"
                  "      - route: {clusterDestination: %s}\n%s",
                  dest, server);
    char *s = cg_xstrndup(cg_buf_data(&b), cg_buf_size(&b));
    cg_buf_free(&b);
    return s;
}

static const cg_snap_destination_t *edge_dest(cg_resource_set_t **rs, cg_snapshot_t **s,
                                              const char *dest)
{
    char *y = edge_yaml(dest, "");
    *rs = load(y);
    free(y);
    *s = translate(*rs, "edge", "edge", "app=edgegw", "10.0.0.1");
    assert_int_equal((*s)->nservers, 1);
    assert_string_equal((*s)->region, "r1");
    return dest_of(*s, 0, 1);
}

static void test_edge_auto(void **state)
{
    (void)state;
    cg_resource_set_t *rs;
    cg_snapshot_t *s;
    const cg_snap_destination_t *d = edge_dest(&rs, &s, "{}");
    assert_string_equal(d->name, "clusters:bookinfo.example.com");
    assert_int_equal(d->mode, CG_DEST_AUTO);
    /* c1: two instances selected by ingress-1 (10.0.1.3 is in another namespace); c2 by
     * ingress-2; c3's instance is selected by no Gateway */
    assert_endpoints(d, "10.0.1.1:8080@c1,10.0.1.2:8080@c1,10.0.2.1:8080@c2");
    assert_string_equal(d->endpoints[0].region, "r1");
    assert_string_equal(d->endpoints[0].zone, "z1");
    assert_string_equal(d->endpoints[2].region, "r2");
    assert_null(d->endpoints[2].zone);
    assert_int_equal(d->endpoints[0].weight, 1);
    assert_int_equal(d->nweights, 0);

    const cg_snap_destination_t *hc = dest_of(s, 0, 0);
    assert_string_equal(hc->name, "clusters:bookinfo.example.com:named:c1");
    assert_int_equal(hc->mode, CG_DEST_NAMED);
    assert_endpoints(hc, "10.0.1.1:8080@c1,10.0.1.2:8080@c1");
    assert_int_equal(s->nwarnings, 0);
    cg_snapshot_free(s);
    cg_model_free(rs);

    /* a hostname nobody serves */
    const char *other = "apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: e2}\n"
                        "spec:\n  workloadSelector: {namespace: edge, labels: {app: edgegw}}\n"
                        "  http: [{name: x, port: 8080, hostname: nobody.example.com, "
                        "routing: {rules: [{route: {clusterDestination: {}}}]}}]\n";
    rs = load(other);
    s = translate(rs, "edge", "edge", "app=edgegw", "10.0.0.1");
    assert_int_equal(s->destinations[0].nendpoints, 0);
    assert_true(has_warning(s, "no cluster has a Gateway serving nobody.example.com"));
    cg_snapshot_free(s);
    cg_model_free(rs);
}

static void test_edge_named(void **state)
{
    (void)state;
    cg_resource_set_t *rs;
    cg_snapshot_t *s;
    const cg_snap_destination_t *d =
        edge_dest(&rs, &s, "{clusters: [{name: c2}, {name: c3}, {name: c9}, {name: c1}]}");
    assert_string_equal(d->name, "clusters:bookinfo.example.com:named:c2,c3,c9,c1");
    assert_int_equal(d->mode, CG_DEST_NAMED);
    assert_endpoints(
        d, "10.0.2.1:8080@c2,10.0.1.1:8080@c1,10.0.1.2:8080@c1"); /* in the listed order */
    assert_true(has_warning(s, "named cluster c3 has no Gateway serving bookinfo.example.com"));
    assert_true(has_warning(s, "named cluster c9 has no Cluster resource"));
    assert_int_equal(s->nwarnings, 2);
    cg_snapshot_free(s);
    cg_model_free(rs);

    /* clusters selected by labels */
    d = edge_dest(&rs, &s, "{clusters: [{labels: {tier: b}}, {labels: {tier: z}}]}");
    assert_string_equal(d->name, "clusters:bookinfo.example.com:named:{tier=b},{tier=z}");
    assert_endpoints(d, "10.0.2.1:8080@c2");
    assert_true(has_warning(s, "named cluster c3 has no Gateway serving bookinfo.example.com"));
    assert_true(has_warning(s, "cluster selector {tier=z} matches no Cluster"));
    cg_snapshot_free(s);
    cg_model_free(rs);
}

static uint32_t weight_of(const cg_snap_destination_t *d, const char *cluster)
{
    for (size_t i = 0; i < d->nweights; i++)
        if (strcmp(d->weights[i].cluster, cluster) == 0) return d->weights[i].weight;
    fail_msg("no weight for %s", cluster);
    return 0;
}

static void test_edge_weighted(void **state)
{
    (void)state;
    cg_resource_set_t *rs;
    cg_snapshot_t *s;
    const cg_snap_destination_t *d = edge_dest(
        &rs, &s,
        "{clusters: [{name: c1, weight: 70}, {name: c3, weight: 30}, {name: c2, weight: 0}]}");
    assert_string_equal(d->name, "clusters:bookinfo.example.com:weighted:c1=70,c3=30,c2=0");
    assert_int_equal(d->mode, CG_DEST_WEIGHTED);
    /* c3 has no endpoint but keeps its share: the proxy answers 503 for it */
    assert_int_equal(d->nweights, 3);
    assert_string_equal(d->weights[0].cluster, "c1");
    assert_int_equal(weight_of(d, "c1"), 70);
    assert_int_equal(weight_of(d, "c3"), 30);
    assert_int_equal(weight_of(d, "c2"), 0);
    assert_endpoints(d, "10.0.1.1:8080@c1,10.0.1.2:8080@c1,10.0.2.1:8080@c2");
    assert_true(has_warning(
        s, "weighted cluster c3 has no Gateway serving bookinfo.example.com: its share is answered "
           "with 503"));
    cg_snapshot_free(s);
    cg_model_free(rs);

    /* a labels entry splits its weight evenly over the clusters it matches; an unknown name
     * and a selector matching nothing keep their shares */
    d = edge_dest(&rs, &s,
                  "{clusters: [{name: c1, weight: 50}, {labels: {tier: b}, weight: 50}, {name: c9, "
                  "weight: 10}, "
                  "{labels: {tier: z}, weight: 5}]}");
    assert_int_equal(d->nweights, 5);
    assert_int_equal(weight_of(d, "c1"), 100);
    assert_int_equal(weight_of(d, "c2"), 50);
    assert_int_equal(weight_of(d, "c3"), 50);
    assert_int_equal(weight_of(d, "c9"), 20);
    assert_int_equal(weight_of(d, "labels:{tier=z}"), 10);
    assert_true(has_warning(
        s, "weighted cluster c9 has no Cluster resource: its share of bookinfo.example.com is "
           "answered with 503"));
    assert_true(has_warning(
        s, "cluster selector {tier=z} matches no Cluster: its share of bookinfo.example.com is "
           "answered with 503"));
    cg_snapshot_free(s);
    cg_model_free(rs);
}

/* Instances the control plane knows about count like the Clusters' static ones. */
static void test_live_instances(void **state)
{
    (void)state;
    char *y = edge_yaml("{}", "");
    cg_resource_set_t *rs = load(y);
    free(y);
    cg_snap_label_t edge_l = {"app", "edgegw"}, l1 = {"app", "ingress-1"}, l3 = {"app", "nobody"};
    cg_instance_t inst = {"edge", "edge", &edge_l, 1, "10.0.0.1", 0, 0};
    cg_instance_t live[] = {
        {"c3", "bookinfo", &l1, 1, "10.0.3.7", 0, 0}, /* selected by ingress-1 */
        {"c3", "bookinfo", &l3, 1, "10.0.3.8", 0, 0}, /* selected by nobody */
        {"c1", "bookinfo", &l1, 1, "10.0.1.1", 0, 0}, /* the static one again: once */
        {"c8", "bookinfo", &l1, 1, "10.0.8.1", 0, 0}, /* no Cluster resource: not a candidate */
    };
    cg_snapshot_t *s = NULL;
    cg_buf_t err = {0};
    assert_int_equal(cg_translate_instance_live(rs, &inst, live, 4, 7, &s, &err), 0);
    assert_endpoints(dest_of(s, 0, 1),
                     "10.0.1.1:8080@c1,10.0.1.2:8080@c1,10.0.2.1:8080@c2,10.0.3.7:8080@c3");
    assert_string_equal(dest_of(s, 0, 1)->endpoints[3].region, "r2");
    cg_snapshot_free(s);
    cg_model_free(rs);
    cg_buf_free(&err);
}

/* Both ends with a mesh identity: the endpoint is the instance's mTLS port, and names the
 * identity the peer must present (its namespace and cluster). One end without: plain text, on
 * the Gateway's port. Static Cluster gateways stay plain text. */
static void test_mtls_hop(void **state)
{
    (void)state;
    char *y = edge_yaml("{}", "");
    cg_resource_set_t *rs = load(y);
    free(y);
    cg_snap_label_t edge_l = {"app", "edgegw"}, l1 = {"app", "ingress-1"};
    cg_instance_t live[] = {
        {"c3", "bookinfo", &l1, 1, "10.0.3.7", 1, 15443}, /* an identity */
        {"c3", "bookinfo", &l1, 1, "10.0.3.8", 1, 0},     /* none */
        {"c1", "bookinfo", &l1, 1, "10.0.1.1", 1, 15443}, /* c1's static gateway, live */
    };
    for (int edge_mtls = 0; edge_mtls < 2; edge_mtls++) {
        cg_instance_t inst = {"edge", "edge", &edge_l, 1, "10.0.0.1", 1, edge_mtls ? 15443 : 0};
        cg_snapshot_t *s = NULL;
        cg_buf_t err = {0};
        assert_int_equal(cg_translate_instance_live(rs, &inst, live, 3, 7, &s, &err), 0);
        const cg_snap_destination_t *d = dest_of(s, 0, 1);
        /* the static gateway that registered is one endpoint: mTLS when the edge can */
        if (edge_mtls)
            assert_endpoints(d, "10.0.1.1:15443@c1,10.0.1.2:8080@c1,10.0.2.1:8080@c2,"
                                "10.0.3.7:15443@c3,10.0.3.8:8080@c3");
        else
            assert_endpoints(d, "10.0.1.1:8080@c1,10.0.1.2:8080@c1,10.0.2.1:8080@c2,"
                                "10.0.3.7:8080@c3,10.0.3.8:8080@c3");
        for (size_t i = 0; i < d->nendpoints; i++) {
            if (edge_mtls && (i == 0 || i == 3))
                assert_string_equal(d->endpoints[i].identity,
                                    i ? "spiffe://crossgate/ns/bookinfo/cluster/c3"
                                      : "spiffe://crossgate/ns/bookinfo/cluster/c1");
            else
                assert_null(d->endpoints[i].identity);
        }
        /* the identity goes through the snapshot's wire form */
        cg_buf_t wire = {0};
        assert_int_equal(cg_snapshot_encode_json(s, &wire), 0);
        cg_buf_append(&wire, "", 1);
        assert_int_equal(!!strstr(cg_buf_data(&wire), "\"identity\""), edge_mtls);
        cg_snapshot_t *back = NULL;
        assert_int_equal(cg_snapshot_decode_json(cg_buf_data(&wire), wire.len - 1, &back, &err), 0);
        const cg_snap_destination_t *bd = dest_of(back, 0, 1);
        if (edge_mtls)
            assert_string_equal(bd->endpoints[3].identity,
                                "spiffe://crossgate/ns/bookinfo/cluster/c3");
        else
            assert_null(bd->endpoints[3].identity);
        cg_snapshot_free(back);
        cg_buf_free(&wire);
        cg_snapshot_free(s);
        cg_buf_free(&err);
    }
    cg_model_free(rs);
}

/* What a registration cannot do to endpoints that are not its own: an instance no Gateway
 * selects, or of another namespace, at a static gateway's address leaves that gateway as it
 * is; one of another cluster at a live instance's address and port does not hide it. */
static void test_registrations_do_not_take_over_endpoints(void **state)
{
    (void)state;
    char *y = edge_yaml("{}", "");
    cg_resource_set_t *rs = load(y);
    free(y);
    cg_snap_label_t edge_l = {"app", "edgegw"}, l1 = {"app", "ingress-1"}, l3 = {"app", "nobody"};
    cg_instance_t live[] = {
        {"c1", "evil", &l3, 1, "10.0.1.1", 1, 9999},      /* selected by nobody */
        {"c1", "evil", &l1, 1, "10.0.1.2", 1, 9999},      /* another namespace than the static */
        {"c3", "bookinfo", &l1, 1, "10.0.3.7", 1, 15443}, /* c3's own */
        {"c1", "bookinfo", &l1, 1, "10.0.3.7", 1, 15443}, /* c1's token, at c3's address */
    };
    cg_instance_t inst = {"edge", "edge", &edge_l, 1, "10.0.0.1", 1, 15443};
    cg_snapshot_t *s = NULL;
    cg_buf_t err = {0};
    assert_int_equal(cg_translate_instance_live(rs, &inst, live, 4, 7, &s, &err), 0);
    const cg_snap_destination_t *d = dest_of(s, 0, 1);
    assert_endpoints(d, "10.0.1.1:8080@c1,10.0.1.2:8080@c1,10.0.3.7:15443@c1,10.0.2.1:8080@c2,"
                        "10.0.3.7:15443@c3");
    assert_null(d->endpoints[0].identity);
    assert_null(d->endpoints[1].identity);
    assert_string_equal(d->endpoints[2].identity, "spiffe://crossgate/ns/bookinfo/cluster/c1");
    assert_string_equal(d->endpoints[4].identity, "spiffe://crossgate/ns/bookinfo/cluster/c3");
    cg_snapshot_free(s);
    cg_buf_free(&err);
    cg_model_free(rs);
}

/* An instance serving both roles for a hostname never lists itself as an endpoint. */
static void test_no_self_endpoint(void **state)
{
    (void)state;
    const char *y = "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cx}\n"
                    "spec: {locality: {region: r1}, gateways: [{address: 10.0.5.1, namespace: n, "
                    "labels: {app: both}}]}\n"
                    "---\n"
                    "apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: e}\n"
                    "spec:\n  workloadSelector: {namespace: n, labels: {app: both}}\n"
                    "  http: [{name: e, port: 8080, hostname: bookinfo.example.com, "
                    "routing: {rules: [{route: {clusterDestination: {}}}]}}]\n"
                    "---\n"
                    "apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: w}\n"
                    "spec:\n  workloadSelector: {namespace: n, labels: {app: both}}\n"
                    "  http: [{name: w, port: 9000, hostname: bookinfo.example.com, "
                    "routing: {rules: [{directResponse: {status: 200}}]}}]\n";
    cg_resource_set_t *rs = load(y);
    cg_snapshot_t *s = translate(rs, "cx", "n", "app=both", "10.0.5.1");
    assert_int_equal(s->nservers, 2);
    assert_endpoints(dest_of(s, 0, 0), "10.0.1.1:8080@c1,10.0.1.2:8080@c1,10.0.2.1:8080@c2");
    cg_snapshot_free(s);
    /* another instance at another address does send to it */
    s = translate(rs, "cx", "n", "app=both", "10.0.5.2");
    assert_endpoints(dest_of(s, 0, 0),
                     "10.0.1.1:8080@c1,10.0.1.2:8080@c1,10.0.2.1:8080@c2,10.0.5.1:9000@cx");
    cg_snapshot_free(s);
    cg_model_free(rs);
}

/* Endpoints in the instance's own region are priority 0, the others 1; without a known own
 * region there is no preference. */
static void test_priorities(void **state)
{
    (void)state;
    cg_resource_set_t *rs;
    cg_snapshot_t *s;
    const cg_snap_destination_t *d = edge_dest(&rs, &s, "{}");
    assert_int_equal(d->endpoints[0].priority, 0); /* c1, r1 */
    assert_int_equal(d->endpoints[1].priority, 0);
    assert_int_equal(d->endpoints[2].priority, 1); /* c2, r2 */
    cg_snapshot_free(s);
    s = translate(rs, "nowhere", "edge", "app=edgegw", "10.0.0.1");
    assert_null(s->region);
    d = dest_of(s, 0, 1);
    for (size_t i = 0; i < d->nendpoints; i++) assert_int_equal(d->endpoints[i].priority, 0);
    cg_snapshot_free(s);
    cg_model_free(rs);
}

/* ---- failover order (failoverSettings) ---- */

/* The head of an edge Gateway e, up to its http[] servers. */
#define EDGE_E                                                                                     \
    "apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: e}\n"                               \
    "spec:\n  workloadSelector: {namespace: edge, labels: {app: edgegw}}\n"                        \
    "  http:\n"

/* Besides the fixture's c1 (r1, z1, tier a: two endpoints), c2 (r2, tier b) and the edge's
 * cluster (r1, no labels): c4 in r3 (tier a), c5 in r4, c6 in r1 zone z2 (tier b), all served
 * by ingress-2; edge2, an edge cluster in r1 zone z1 with tier a. */
static const char *const regions_yaml =
    "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: c4, labels: {tier: a}}\n"
    "spec: {locality: {region: r3}, gateways: [{address: 10.0.4.1, namespace: bookinfo, "
    "labels: {app: ingress-2}}]}\n"
    "---\n"
    "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: c5}\n"
    "spec: {locality: {region: r4}, gateways: [{address: 10.0.5.1, namespace: bookinfo, "
    "labels: {app: ingress-2}}]}\n"
    "---\n"
    "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: c6, labels: {tier: b}}\n"
    "spec: {locality: {region: r1, zone: z2}, gateways: [{address: 10.0.6.1, namespace: "
    "bookinfo, labels: {app: ingress-2}}]}\n"
    "---\n"
    "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: edge2, labels: {tier: a}}\n"
    "spec: {locality: {region: r1, zone: z1}}\n"
    "---\n";

/* "cluster=priority" per cluster of d, in endpoint order (a cluster's endpoints share one). */
static void priorities_str(const cg_snap_destination_t *d, char *out, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < d->nendpoints; i++) {
        if (i && strcmp(d->endpoints[i].cluster, d->endpoints[i - 1].cluster) == 0) {
            assert_int_equal(d->endpoints[i].priority, d->endpoints[i - 1].priority);
            continue;
        }
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s=%u", len ? "," : "", d->endpoints[i].cluster,
                 d->endpoints[i].priority);
    }
}

#define assert_priorities(d, want)                                                                 \
    do {                                                                                           \
        char got_[256];                                                                            \
        priorities_str(d, got_, sizeof(got_));                                                     \
        assert_string_equal(got_, want);                                                           \
    } while (0)

/* load() with regions_yaml and more documents. */
static cg_resource_set_t *load_regions(const char *more)
{
    cg_buf_t b = {0};
    cg_buf_printf(&b, "%s%s", regions_yaml, more);
    cg_buf_append(&b, "", 1);
    cg_resource_set_t *rs = load(cg_buf_data(&b));
    cg_buf_free(&b);
    return rs;
}

/* The edge's default-rule destination dest with these server fields, seen by an edge
 * instance of cluster edge_cluster; the caller frees *s and *rs. */
static const cg_snap_destination_t *ordered(cg_resource_set_t **rs, cg_snapshot_t **s,
                                            const char *dest, const char *server,
                                            const char *edge_cluster)
{
    char *edge = edge_yaml(dest, server);
    *rs = load_regions(edge);
    free(edge);
    *s = translate(*rs, edge_cluster, "edge", "app=edgegw", "10.0.0.1");
    return dest_of(*s, 0, 1);
}

#define assert_order(server, edge_cluster, want)                                                   \
    do {                                                                                           \
        cg_resource_set_t *rs_;                                                                    \
        cg_snapshot_t *s_;                                                                         \
        assert_priorities(ordered(&rs_, &s_, "{}", server, edge_cluster), want);                   \
        cg_snapshot_free(s_);                                                                      \
        cg_model_free(rs_);                                                                        \
    } while (0)

/* Without failoverSettings the own region is priority 0 and every other region 1; an empty
 * failoverSettings (topologyChoice CLUSTER) is the same order. */
static void test_failover_own_region_first(void **state)
{
    (void)state;
    assert_order("", "edge", "c1=0,c2=1,c4=1,c5=1,c6=0");
    assert_order("    failoverSettings: {}\n", "edge", "c1=0,c2=1,c4=1,c5=1,c6=0");
    /* an edge whose region is unknown has no preference, settings or not */
    assert_order("    failoverSettings: {regionalFailover: [{from: r1, to: r3}]}\n", "nowhere",
                 "c1=0,c2=0,c4=0,c5=0,c6=0");
}

/* regionalFailover: after the own region, the region it names, then the others; that
 * region's own entry names the next one, and a cycle ends the chain. */
static void test_failover_regional_order(void **state)
{
    (void)state;
    assert_order("    failoverSettings: {regionalFailover: [{from: r1, to: r3}]}\n", "edge",
                 "c1=0,c2=2,c4=1,c5=2,c6=0");
    assert_order("    failoverSettings:\n"
                 "      regionalFailover: [{from: r3, to: r2}, {from: r2, to: r4}, "
                 "{from: r1, to: r3}]\n",
                 "edge", "c1=0,c2=2,c4=1,c5=3,c6=0");
    assert_order("    failoverSettings:\n"
                 "      regionalFailover: [{from: r1, to: r3}, {from: r3, to: r1}]\n",
                 "edge", "c1=0,c2=2,c4=1,c5=2,c6=0");
    /* entries of other regions do not apply to an edge in r1 */
    assert_order("    failoverSettings: {regionalFailover: [{from: r2, to: r3}]}\n", "edge",
                 "c1=0,c2=1,c4=1,c5=1,c6=0");
    /* LOCALITY: the edge's own zone first, then the rest of its region (edge2 is in z1) */
    assert_order("    failoverSettings:\n"
                 "      regionalFailover: [{from: r1, to: r3}]\n"
                 "      topologyChoice: LOCALITY\n",
                 "edge2", "c1=0,c2=3,c4=2,c5=3,c6=1");
}

/* failoverPriority: clusters sharing every listed label with the edge's Cluster first, then
 * those sharing all but the last, ...; alone, it is the whole order (the own region counts
 * only through topology.kubernetes.io/region), and topologyChoice is ignored. */
static void test_failover_priority_labels(void **state)
{
    (void)state;
    /* edge2 has tier a: c1 and c4 share it; c2 and c6 have tier b, c5 none */
    assert_order("    failoverSettings: {failoverPriority: [tier], topologyChoice: LOCALITY}\n",
                 "edge2", "c1=0,c2=1,c4=0,c5=1,c6=1");
    assert_order("    failoverSettings:\n"
                 "      failoverPriority: [topology.kubernetes.io/region, tier]\n",
                 "edge2", "c1=0,c2=2,c4=2,c5=2,c6=1");
    assert_order("    failoverSettings:\n"
                 "      failoverPriority: [topology.kubernetes.io/region, "
                 "topology.kubernetes.io/zone]\n",
                 "edge2", "c1=0,c2=2,c4=2,c5=2,c6=1");
    /* a label neither side has matches (absent is alike): the edge cluster has no tier, c5
     * neither */
    assert_order("    failoverSettings: {failoverPriority: [tier]}\n", "edge",
                 "c1=1,c2=1,c4=1,c5=0,c6=1");
    /* with regionalFailover: regions first, labels order the clusters of each region tier */
    assert_order("    failoverSettings:\n"
                 "      regionalFailover: [{from: r1, to: r3}]\n"
                 "      failoverPriority: [tier]\n",
                 "edge2", "c1=0,c2=3,c4=2,c5=3,c6=1");
}

/* A step no cluster fills takes no level; a region the chain names without a Cluster is
 * reported. */
static void test_failover_fall_through(void **state)
{
    (void)state;
    assert_order("    failoverSettings:\n"
                 "      regionalFailover: [{from: r1, to: r9}, {from: r9, to: r4}]\n",
                 "edge", "c1=0,c2=2,c4=2,c5=1,c6=0");
    cg_resource_set_t *rs;
    cg_snapshot_t *s;
    ordered(&rs, &s, "{}", "    failoverSettings: {regionalFailover: [{from: r1, to: r9}]}\n",
            "edge");
    assert_true(has_warning(
        s,
        "Gateway edge server bookinfo: regionalFailover sends r1 to r9, which no Cluster is in"));
    cg_snapshot_free(s);
    cg_model_free(rs);
    /* a named destination is ordered the same way, over its clusters only */
    const cg_snap_destination_t *d =
        ordered(&rs, &s, "{clusters: [{name: c5}, {name: c2}, {name: c1}]}",
                "    failoverSettings: {regionalFailover: [{from: r1, to: r4}]}\n", "edge");
    assert_priorities(d, "c5=1,c2=2,c1=0");
    /* the health-check rule's destination (c1 only) is ordered too: one level */
    assert_priorities(dest_of(s, 0, 0), "c1=0");
    cg_snapshot_free(s);
    cg_model_free(rs);
}

/* Levels past the balancer's CG_LB_MAX_PRIORITIES (8) share the last one, with a warning. */
static void test_failover_clamped(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    cg_buf_append_str(&b, EDGE_E "  - name: far\n    port: 8080\n    hostname: far.example.com\n"
                                 "    routing: {rules: [{route: {clusterDestination: {}}}]}\n"
                                 "    failoverSettings:\n      regionalFailover:\n");
    for (int r = 1; r < 10; r++) cg_buf_printf(&b, "      - {from: q%d, to: q%d}\n", r, r + 1);
    cg_buf_append_str(&b, "---\napiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: far}\n"
                          "spec:\n  workloadSelector: {namespace: far, labels: {app: far}}\n"
                          "  http: [{name: far, port: 8080, hostname: far.example.com, routing: "
                          "{rules: [{directResponse: {status: 200}}]}}]\n"
                          "---\napiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: qe}\n"
                          "spec: {locality: {region: q1}}\n");
    /* ten regions q1..q10, one cluster each, listed last first */
    for (int r = 10; r >= 1; r--)
        cg_buf_printf(&b,
                      "---\napiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: k%d}\n"
                      "spec: {locality: {region: q%d}, gateways: [{address: 10.1.0.%d, "
                      "namespace: far, labels: {app: far}}]}\n",
                      r, r, r);
    cg_buf_append(&b, "", 1);
    cg_resource_set_t *rs = load(cg_buf_data(&b));
    cg_buf_free(&b);
    cg_snapshot_t *s = translate(rs, "qe", "edge", "app=edgegw", "10.0.0.1");
    assert_priorities(dest_of(s, 0, 0), "k10=7,k9=7,k8=7,k7=6,k6=5,k5=4,k4=3,k3=2,k2=1,k1=0");
    assert_true(has_warning(s, "destination clusters:far.example.com: failoverSettings make 10 "
                               "levels, the balancer has 8: levels 7 to 9 share priority 7"));
    cg_snapshot_free(s);
    cg_model_free(rs);
}

/* Servers ordering the same targets differently get destinations of their own; equal
 * settings share one. Weighted routes split strictly: their settings are reported unused. */
static void test_failover_destinations(void **state)
{
    (void)state;
    const char *y = EDGE_E
        "  - name: to-r2\n    port: 8080\n    hostname: bookinfo.example.com\n"
        "    routing: {rules: [{route: {clusterDestination: {}}}]}\n"
        "    failoverSettings: {regionalFailover: [{from: r1, to: r2}]}\n"
        "  - name: also-r2\n    port: 8081\n    hostname: bookinfo.example.com\n"
        "    routing: {rules: [{route: {clusterDestination: {}}}]}\n"
        "    failoverSettings: {regionalFailover: [{from: r1, to: r2}]}\n"
        "  - name: plain\n    port: 8082\n    hostname: bookinfo.example.com\n"
        "    routing: {rules: [{route: {clusterDestination: {}}}]}\n"
        "  - name: split\n    port: 8083\n    hostname: bookinfo.example.com\n"
        "    routing: {rules: [{route: {clusterDestination: {clusters: [{name: c1, weight: 1}, "
        "{name: c2, weight: 1}]}}}]}\n"
        "    failoverSettings: {regionalFailover: [{from: r1, to: r2}]}\n";
    cg_resource_set_t *rs = load_regions(y);
    cg_snapshot_t *s = translate(rs, "edge", "edge", "app=edgegw", "10.0.0.1");
    assert_string_equal(dest_of(s, 0, 0)->name, "clusters:bookinfo.example.com");
    assert_int_equal(s->servers[1].rules[0].destination, s->servers[0].rules[0].destination);
    assert_string_equal(dest_of(s, 2, 0)->name, "clusters:bookinfo.example.com@e/plain");
    assert_priorities(dest_of(s, 0, 0), "c1=0,c2=1,c4=2,c5=2,c6=0");
    assert_priorities(dest_of(s, 2, 0), "c1=0,c2=1,c4=1,c5=1,c6=0");
    assert_int_equal(dest_of(s, 3, 0)->mode, CG_DEST_WEIGHTED);
    assert_true(has_warning(
        s, "Gateway e server split: failoverSettings do not apply to its weighted route"));
    cg_snapshot_free(s);
    cg_model_free(rs);
}

/* Server settings become the destination policy; what is not given takes the lb defaults. */
static void test_policy(void **state)
{
    (void)state;
    const char *y = EDGE_E
        "  - name: plain\n    port: 8080\n    hostname: bookinfo.example.com\n"
        "    routing: {rules: [{route: {clusterDestination: {}}}]}\n"
        "  - name: tuned\n    port: 8081\n    hostname: bookinfo.example.com\n"
        "    routing: {rules: [{route: {clusterDestination: {}}},\n"
        "                      {route: {clusterDestination: {clusters: [{name: c1, weight: "
        "1}]}}}]}\n"
        "    retries: {attempts: 5, perTryTimeout: 2s, retryOn: [5xx, refused-stream]}\n"
        "    outlierDetection: {consecutiveGatewayErrors: 7, interval: 3s, baseEjectionTime: 1s, "
        "maxEjectionTime: 9s, "
        "maxEjectionPercent: 50}\n"
        "    healthCheck: {enabled: true, interval: 2s, timeout: 500ms, unhealthyThreshold: 4, "
        "healthyThreshold: 3}\n"
        "    failover: {overprovisioningFactor: 100}\n"
        "  - name: same\n    port: 8082\n    hostname: bookinfo.example.com\n"
        "    routing: {rules: [{route: {clusterDestination: {}}}]}\n";
    cg_resource_set_t *rs = load(y);
    cg_snapshot_t *s = translate(rs, "edge", "edge", "app=edgegw", "10.0.0.1");
    assert_int_equal(s->nservers, 3);
    /* plain: defaults, everything on */
    const cg_snap_destination_t *d = dest_of(s, 0, 0);
    assert_string_equal(d->name, "clusters:bookinfo.example.com");
    assert_int_equal(d->policy.retry.attempts, cg_lb_retry_defaults.attempts);
    assert_int_equal(d->policy.retry.retry_on, CG_RETRY_ON_DEFAULT);
    assert_int_equal(d->policy.outlier.consecutive_gateway_errors, 3);
    assert_int_equal(d->policy.outlier.base_ejection_ms, cg_lb_outlier_defaults.base_ejection_ms);
    assert_true(d->policy.health_check.enabled);
    assert_int_equal(d->policy.overprovisioning, 140);
    /* tuned: its own destination, named after the server, with its settings */
    d = dest_of(s, 1, 0);
    assert_string_equal(d->name, "clusters:bookinfo.example.com@e/tuned");
    assert_int_equal(d->policy.retry.attempts, 5);
    assert_int_equal(d->policy.retry.per_try_timeout_ms, 2000);
    assert_int_equal(d->policy.retry.retry_on, CG_RETRY_ON_5XX | CG_RETRY_ON_CONNECT_FAILURE);
    assert_int_equal(d->policy.retry.backoff_base_ms, 25);
    assert_int_equal(d->policy.outlier.consecutive_gateway_errors, 7);
    assert_int_equal(d->policy.outlier.interval_ms, 3000);
    assert_int_equal(d->policy.outlier.base_ejection_ms, 1000);
    assert_int_equal(d->policy.outlier.max_ejection_ms, 9000);
    assert_int_equal(d->policy.outlier.max_ejection_percent, 50);
    assert_true(d->policy.health_check.enabled);
    assert_int_equal(d->policy.health_check.interval_ms, 2000);
    assert_int_equal(d->policy.health_check.timeout_ms, 500);
    assert_int_equal(d->policy.health_check.unhealthy_threshold, 4);
    assert_int_equal(d->policy.health_check.healthy_threshold, 3);
    assert_int_equal(d->policy.overprovisioning, 10000);
    /* weighted: strict split, no ejection or active checks even when configured */
    d = dest_of(s, 1, 1);
    assert_int_equal(d->mode, CG_DEST_WEIGHTED);
    assert_int_equal(d->policy.retry.attempts, 5);
    assert_int_equal(d->policy.outlier.consecutive_gateway_errors, 0);
    assert_false(d->policy.health_check.enabled);
    /* same settings as plain: shared */
    assert_int_equal(s->servers[2].rules[0].destination, s->servers[0].rules[0].destination);
    assert_int_equal(s->ndestinations, 3);
    cg_snapshot_free(s);
    cg_model_free(rs);

    /* service routes: retries by default, ejection and checks only when asked */
    rs = load(NULL);
    s = translate(rs, "c1", "bookinfo", "app=ingress-1", "10.0.1.1");
    d = dest_of(s, 0, 0);
    assert_int_equal(d->policy.retry.attempts, 2);
    assert_int_equal(d->policy.outlier.consecutive_gateway_errors, 0);
    assert_false(d->policy.health_check.enabled);
    cg_snapshot_free(s);
    cg_model_free(rs);
}

static void test_errors(void **state)
{
    (void)state;
    /* two Gateways serving one port and hostname on the same instance */
    const char *y = "apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: dup, namespace: x}\n"
                    "spec:\n"
                    "  workloadSelector: {namespace: bookinfo, labels: {app: ingress-1}}\n"
                    "  http:\n"
                    "  - name: other\n"
                    "    port: 8080\n"
                    "    hostname: BOOKINFO.example.com\n"
                    "    routing: {rules: [{directResponse: {status: 200}}]}\n";
    cg_resource_set_t *rs = load(y);
    cg_snap_label_t l = {"app", "ingress-1"};
    cg_instance_t inst = {"c1", "bookinfo", &l, 1, "10.0.1.1", 0, 0};
    cg_snapshot_t *s = (cg_snapshot_t *)&inst;
    cg_buf_t err = {0};
    assert_int_equal(cg_translate_instance(rs, &inst, 1, &s, &err), CG_EINVAL);
    assert_ptr_equal(s, (cg_snapshot_t *)&inst);
    cg_buf_append(&err, "", 1);
    /* ingress-1's http[0] is at line 57 of the fixture; the extra document starts at 99 */
    assert_string_equal(
        cg_buf_data(&err),
        "t.yaml:105:5: spec.http[0]: port 8080 hostname bookinfo.example.com on this "
        "instance is also served by Gateway bookinfo/ingress-1 (t.yaml:57:5)\n");
    cg_buf_reset(&err);
    /* on another instance the two do not meet */
    inst.namespace_ = "elsewhere";
    assert_int_equal(cg_translate_instance(rs, &inst, 1, &s, &err), 0);
    cg_snapshot_free(s);

    cg_instance_t bad = {NULL, "bookinfo", NULL, 0, "10.0.0.1", 0, 0};
    assert_int_equal(cg_translate_instance(rs, &bad, 1, &s, &err), CG_EINVAL);
    cg_model_free(rs);
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ingress_instance),
        cmocka_unit_test(test_service_per_cluster),
        cmocka_unit_test(test_selection),
        cmocka_unit_test(test_edge_auto),
        cmocka_unit_test(test_edge_named),
        cmocka_unit_test(test_edge_weighted),
        cmocka_unit_test(test_live_instances),
        cmocka_unit_test(test_mtls_hop),
        cmocka_unit_test(test_registrations_do_not_take_over_endpoints),
        cmocka_unit_test(test_no_self_endpoint),
        cmocka_unit_test(test_priorities),
        cmocka_unit_test(test_failover_own_region_first),
        cmocka_unit_test(test_failover_regional_order),
        cmocka_unit_test(test_failover_priority_labels),
        cmocka_unit_test(test_failover_fall_through),
        cmocka_unit_test(test_failover_clamped),
        cmocka_unit_test(test_failover_destinations),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
