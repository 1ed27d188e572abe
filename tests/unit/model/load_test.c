/* Tests of loading valid resources: every field lands where translation reads it, defaults
 * apply, files and directories load in order, duplicates across files are refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static cg_resource_set_t *load_ok(const char *name, const char *text)
{
    cg_resource_set_t *rs = NULL;
    cg_buf_t err = {0};
    int rc = cg_model_load_buffer(name, text, strlen(text), &rs, &err);
    if (rc != 0) fail_msg("load failed (%d):\n%.*s", rc, (int)cg_buf_size(&err), cg_buf_data(&err));
    assert_int_equal(cg_buf_size(&err), 0);
    cg_buf_free(&err);
    return rs;
}

static const char *kv(const cg_model_kv_t *v, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i].key, key) == 0) return v[i].value;
    return NULL;
}

static void test_cluster_all_fields(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load_ok("c.yaml", "apiVersion: crossgate/v1\n"
                                              "kind: Cluster\n"
                                              "metadata:\n"
                                              "  name: cluster-1\n"
                                              "  labels: {env: prod}\n"
                                              "  annotations: {note: x}\n"
                                              "  organization: tse\n"
                                              "spec:\n"
                                              "  locality: {region: region-1, zone: zone-a}\n"
                                              "  gateways:\n"
                                              "  - address: 127.0.1.1\n"
                                              "    namespace: bookinfo\n"
                                              "    labels: {app: ingressgw-1, version: \"2\"}\n"
                                              "  - {address: \"::1\", namespace: ns2}\n");
    assert_int_equal(rs->nclusters, 1);
    const cg_model_cluster_t *c = &rs->clusters[0];
    assert_string_equal(c->metadata.name, "cluster-1");
    assert_string_equal(kv(c->metadata.labels, c->metadata.nlabels, "env"), "prod");
    assert_string_equal(kv(c->metadata.annotations, c->metadata.nannotations, "note"), "x");
    assert_string_equal(c->metadata.organization, "tse");
    assert_string_equal(c->spec.locality.region, "region-1");
    assert_string_equal(c->spec.locality.zone, "zone-a");
    assert_int_equal(c->spec.ngateways, 2);
    assert_string_equal(c->spec.gateways[0].address, "127.0.1.1");
    assert_string_equal(c->spec.gateways[0].namespace_, "bookinfo");
    assert_int_equal(c->spec.gateways[0].nlabels, 2);
    assert_string_equal(kv(c->spec.gateways[0].labels, 2, "version"), "2");
    assert_string_equal(c->spec.gateways[1].address, "::1");
    assert_int_equal(c->spec.gateways[1].nlabels, 0);
    assert_string_equal(c->pos.file, "c.yaml");
    assert_int_equal(c->pos.line, 1);
    assert_ptr_equal(cg_model_find_cluster(rs, "cluster-1"), c);
    assert_null(cg_model_find_cluster(rs, "cluster-9"));
    cg_model_free(rs);
}

static void test_service_all_fields(void **state)
{
    (void)state;
    cg_resource_set_t *rs =
        load_ok("s.yaml", "apiVersion: crossgate/v1\n"
                          "kind: Service\n"
                          "metadata: {name: productpage, namespace: bookinfo, cluster: cluster-1, "
                          "labels: {app: pp}, annotations: {owner: me}}\n"
                          "spec:\n"
                          "  hostname: ProductPage.Bookinfo.svc.cluster.local\n"
                          "  endpoints:\n"
                          "  - {address: 127.0.1.10, port: 9080}\n"
                          "  - {address: 127.0.1.11, port: 9081, weight: 3}\n");
    assert_int_equal(rs->nservices, 1);
    const cg_model_service_t *s = &rs->services[0];
    assert_string_equal(s->metadata.name, "productpage");
    assert_string_equal(s->metadata.namespace_, "bookinfo");
    assert_string_equal(s->metadata.cluster, "cluster-1");
    assert_string_equal(kv(s->metadata.labels, s->metadata.nlabels, "app"), "pp");
    assert_string_equal(kv(s->metadata.annotations, s->metadata.nannotations, "owner"), "me");
    assert_string_equal(s->spec.hostname,
                        "productpage.bookinfo.svc.cluster.local"); /* lowercased */
    assert_int_equal(s->spec.nendpoints, 2);
    assert_int_equal(s->spec.endpoints[0].port, 9080);
    assert_int_equal(s->spec.endpoints[0].weight, 1); /* default */
    assert_int_equal(s->spec.endpoints[1].weight, 3);
    cg_model_free(rs);
}

static const char *const full_gateway =
    "apiVersion: crossgate/v1\n"
    "kind: Gateway\n"
    "metadata: {name: edge, namespace: edge-ns, annotations: {a: b}, labels: {team: net}}\n"
    "spec:\n"
    "  workloadSelector: {namespace: edge, labels: {app: edgegw}, cluster: cluster-edge}\n"
    "  http:\n"
    "  - name: main\n"
    "    port: 8080\n"
    "    hostname: Bookinfo.Example.COM\n"
    "    routing:\n"
    "      rules:\n"
    "      - match:\n"
    "        - uri: {prefix: /api}\n"
    "          headers: {x-a: {exact: \"1\"}, x-b: {regex: \"^v[0-9]+$\"}}\n"
    "        - uri: {exact: /}\n"
    "        route:\n"
    "          clusterDestination:\n"
    "            clusters:\n"
    "            - {name: cluster-1, weight: 80}\n"
    "            - {labels: {tier: b}, weight: 20}\n"
    "        timeout: 2.5s\n"
    "      - match: [{uri: {regex: \"^/old/.*\"}}]\n"
    "        redirect: {uri: /new, authority: example.com, port: 8443, scheme: https, "
    "redirectCode: 302}\n"
    "      - match: [{uri: {exact: /r}}]\n"
    "        redirect: {scheme: http}\n"
    "      - match: [{uri: {exact: /teapot}}]\n"
    "        directResponse: {status: 418, body: \"short and stout\\n\"}\n"
    "        timeout: 0\n"
    "      - route: {clusterDestination: {}}\n"
    "    retries: {attempts: 3, perTryTimeout: 250ms, retryOn: [connect-failure, refused-stream, "
    "reset, 5xx, "
    "gateway-error, retriable-4xx, \"502\", \"503\", \"504\"]}\n"
    "    outlierDetection: {consecutiveGatewayErrors: 5, interval: 2s, baseEjectionTime: 10s, "
    "maxEjectionTime: 1m, "
    "maxEjectionPercent: 50}\n"
    "    healthCheck: {enabled: false, interval: 500ms, timeout: 250ms, unhealthyThreshold: 3, "
    "healthyThreshold: 2}\n"
    "    failover: {overprovisioningFactor: 1000}\n"
    "  - name: other\n"
    "    port: 8081\n"
    "    hostname: \"*\"\n"
    "    routing: {rules: [{route: {clusterDestination: {clusters: [{name: c1}, {labels: {x: "
    "y}}]}}}]}\n"
    "    retries: {}\n"
    "    outlierDetection: {}\n"
    "    healthCheck: {}\n"
    "    failover: {overprovisioningFactor: 1.4}\n";

static void test_gateway_all_fields(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load_ok("g.yaml", full_gateway);
    assert_int_equal(rs->ngateways, 1);
    const cg_model_gateway_t *g = &rs->gateways[0];
    assert_string_equal(g->api_version, "crossgate/v1");
    assert_string_equal(g->kind, "Gateway");
    assert_string_equal(g->metadata.namespace_, "edge-ns");
    assert_string_equal(kv(g->metadata.annotations, g->metadata.nannotations, "a"), "b");
    assert_string_equal(kv(g->metadata.labels, g->metadata.nlabels, "team"), "net");
    const cg_model_workload_selector_t *ws = &g->spec.workload_selector;
    assert_string_equal(ws->namespace_, "edge");
    assert_string_equal(kv(ws->labels, ws->nlabels, "app"), "edgegw");
    assert_string_equal(ws->cluster, "cluster-edge");
    assert_int_equal(g->spec.nhttp, 2);
    assert_true(cg_model_gateway_routes_to_clusters(g));

    const cg_model_http_server_t *h = &g->spec.http[0];
    assert_string_equal(h->name, "main");
    assert_int_equal(h->port, 8080);
    assert_string_equal(h->hostname, "bookinfo.example.com");
    assert_int_equal(h->pos.line, 7);
    assert_int_equal(h->routing.nrules, 5);

    const cg_model_rule_t *r = &h->routing.rules[0];
    assert_int_equal(r->pos.line, 12);
    assert_int_equal(r->nmatch, 2);
    assert_string_equal(r->match[0].uri->prefix, "/api");
    assert_int_equal(r->match[0].nheaders, 2);
    assert_string_equal(r->match[0].headers[0].name, "x-a");
    assert_string_equal(r->match[0].headers[0].match.exact, "1");
    assert_string_equal(r->match[0].headers[1].match.regex, "^v[0-9]+$");
    const char *v;
    assert_int_equal(cg_model_strmatch_kind(&r->match[0].headers[1].match, &v), 2);
    assert_string_equal(v, "^v[0-9]+$");
    assert_string_equal(r->match[1].uri->exact, "/");
    assert_null(r->redirect);
    assert_null(r->direct_response);
    const cg_model_cluster_dest_t *cd = r->route->cluster_destination;
    assert_null(r->route->service_destination);
    assert_int_equal(cd->nclusters, 2);
    assert_string_equal(cd->clusters[0].name, "cluster-1");
    assert_int_equal(cd->clusters[0].weight, 80);
    assert_true(cd->clusters[0].has_weight);
    assert_string_equal(kv(cd->clusters[1].labels, cd->clusters[1].nlabels, "tier"), "b");
    assert_int_equal(cd->clusters[1].weight, 20);
    assert_int_equal(r->timeout_ms, 2500);

    r = &h->routing.rules[1];
    assert_string_equal(r->match[0].uri->regex, "^/old/.*");
    assert_string_equal(r->redirect->uri, "/new");
    assert_string_equal(r->redirect->authority, "example.com");
    assert_int_equal(r->redirect->port, 8443);
    assert_string_equal(r->redirect->scheme, "https");
    assert_int_equal(r->redirect->redirect_code, 302);
    assert_int_equal(r->timeout_ms, 15000); /* default */
    r = &h->routing.rules[2];
    assert_int_equal(r->redirect->redirect_code, 301); /* default */
    assert_null(r->redirect->uri);
    assert_int_equal(r->redirect->port, 0);
    r = &h->routing.rules[3];
    assert_int_equal(r->direct_response->status, 418);
    assert_string_equal(r->direct_response->body, "short and stout\n");
    assert_int_equal(r->timeout_ms, 0);
    r = &h->routing.rules[4];
    assert_non_null(r->route->cluster_destination);
    assert_int_equal(r->route->cluster_destination->nclusters, 0);
    assert_int_equal(r->nmatch, 0);

    assert_int_equal(h->retries->attempts, 3);
    assert_int_equal(h->retries->per_try_timeout_ms, 250);
    assert_int_equal(h->retries->nretry_on, 9);
    assert_string_equal(h->retries->retry_on[8], "504");
    assert_int_equal(h->outlier_detection->consecutive_gateway_errors, 5);
    assert_int_equal(h->outlier_detection->interval_ms, 2000);
    assert_int_equal(h->outlier_detection->base_ejection_time_ms, 10000);
    assert_int_equal(h->outlier_detection->max_ejection_time_ms, 60000);
    assert_int_equal(h->outlier_detection->max_ejection_percent, 50);
    assert_false(h->health_check->enabled);
    assert_int_equal(h->health_check->interval_ms, 500);
    assert_int_equal(h->health_check->timeout_ms, 250);
    assert_int_equal(h->health_check->unhealthy_threshold, 3);
    assert_int_equal(h->health_check->healthy_threshold, 2);
    assert_true(h->failover->overprovisioning_factor == 1000.0);

    /* the defaults of our additions, object by object */
    h = &g->spec.http[1];
    assert_string_equal(h->hostname, "*");
    assert_int_equal(h->retries->attempts, 2);
    assert_int_equal(h->retries->per_try_timeout_ms, 0);
    assert_int_equal(h->retries->nretry_on, 0);
    assert_int_equal(h->outlier_detection->consecutive_gateway_errors, 3);
    assert_int_equal(h->outlier_detection->interval_ms, 1000);
    assert_int_equal(h->outlier_detection->base_ejection_time_ms, 5000);
    assert_int_equal(h->outlier_detection->max_ejection_time_ms, 30000);
    assert_int_equal(h->outlier_detection->max_ejection_percent, 100);
    assert_true(h->health_check->enabled);
    assert_int_equal(h->health_check->interval_ms, 1000);
    assert_int_equal(h->health_check->timeout_ms, 1000);
    assert_int_equal(h->health_check->unhealthy_threshold, 2);
    assert_int_equal(h->health_check->healthy_threshold, 1);
    assert_true(h->failover->overprovisioning_factor > 1.39 &&
                h->failover->overprovisioning_factor < 1.41);
    cd = h->routing.rules[0].route->cluster_destination;
    assert_false(cd->clusters[0].has_weight);
    cg_model_free(rs);
}

/* The guide's Tetrate Gateway files apply unchanged, hierarchy metadata included. */
static void test_tetrate_gateway(void **state)
{
    (void)state;
    cg_resource_set_t *rs =
        load_ok("t.yaml", "apiVersion: gateway.tsb.tetrate.io/v2\n"
                          "kind: Gateway\n"
                          "metadata:\n"
                          "  organization: tse \n"
                          "  tenant: tse\n"
                          "  workspace: bookinfo-ws\n"
                          "  group: bookinfo-gwgroup-1\n"
                          "  name: bookinfo-ingress-1\n"
                          "  annotations:\n"
                          "    tsb.tetrate.io/organization: tse\n"
                          "spec:\n"
                          "  workloadSelector:\n"
                          "    namespace: bookinfo\n"
                          "    labels:\n"
                          "      app: ingressgw-1\n"
                          "  http:\n"
                          "  - name: bookinfo\n"
                          "    port: 80\n"
                          "    hostname: bookinfo.tse.tetratelabs.io\n"
                          "    routing:\n"
                          "      rules:\n"
                          "      - route:\n"
                          "          serviceDestination:\n"
                          "            host: bookinfo/productpage.bookinfo.svc.cluster.local\n"
                          "            port: 9080\n");
    const cg_model_gateway_t *g = &rs->gateways[0];
    assert_string_equal(g->api_version, "gateway.tsb.tetrate.io/v2");
    assert_string_equal(g->metadata.organization, "tse");
    assert_string_equal(g->metadata.workspace, "bookinfo-ws");
    assert_string_equal(g->metadata.group, "bookinfo-gwgroup-1");
    assert_string_equal(g->metadata.tenant, "tse");
    assert_null(g->metadata.namespace_);
    const cg_model_service_dest_t *sd = g->spec.http[0].routing.rules[0].route->service_destination;
    assert_string_equal(sd->host, "bookinfo/productpage.bookinfo.svc.cluster.local");
    assert_int_equal(sd->port, 9080);
    assert_false(cg_model_gateway_routes_to_clusters(g));
    cg_model_free(rs);
}

static void test_json_and_multi_documents(void **state)
{
    (void)state;
    cg_resource_set_t *rs =
        load_ok("r.json", "{\"apiVersion\": \"crossgate/v1\", \"kind\": \"Cluster\",\n"
                          " \"metadata\": {\"name\": \"c1\"},\n"
                          " \"spec\": {\"locality\": {\"region\": \"r1\"}}}\n");
    assert_int_equal(rs->nclusters, 1);
    cg_model_free(rs);

    rs = load_ok("m.yaml", "---\n"
                           "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: a}\nspec: "
                           "{locality: {region: r}}\n"
                           "---\n"
                           "---\n"
                           "# nothing here\n"
                           "---\n"
                           "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: b}\nspec: "
                           "{locality: {region: r}}\n");
    assert_int_equal(rs->nclusters, 2);
    assert_string_equal(rs->clusters[1].metadata.name, "b");
    assert_int_equal(rs->clusters[1].pos.line, 10);
    cg_model_free(rs);

    rs = load_ok("empty.yaml", "");
    assert_int_equal(rs->nclusters + rs->nservices + rs->ngateways, 0);
    cg_model_free(rs);
}

/* Same name in different clusters or namespaces is fine: identity is kind, cluster,
 * namespace, name. */
static void test_identity(void **state)
{
    (void)state;
    cg_resource_set_t *rs =
        load_ok("i.yaml", "apiVersion: crossgate/v1\nkind: Service\n"
                          "metadata: {name: p, namespace: a, cluster: c1}\nspec: {hostname: p.a}\n"
                          "---\napiVersion: crossgate/v1\nkind: Service\n"
                          "metadata: {name: p, namespace: a, cluster: c2}\nspec: {hostname: p.a}\n"
                          "---\napiVersion: crossgate/v1\nkind: Service\n"
                          "metadata: {name: p, namespace: b, cluster: c1}\nspec: {hostname: p.b}\n"
                          "---\napiVersion: crossgate/v1\nkind: Cluster\n"
                          "metadata: {name: p}\nspec: {locality: {region: r}}\n");
    assert_int_equal(rs->nservices, 3);
    cg_model_free(rs);

    cg_buf_t err = {0};
    rs = NULL;
    const char *dup = "apiVersion: crossgate/v1\nkind: Service\n"
                      "metadata: {name: p, namespace: a, cluster: c1}\nspec: {hostname: p.a}\n"
                      "---\napiVersion: crossgate/v1\nkind: Service\n"
                      "metadata: {name: p, namespace: a, cluster: c1}\nspec: {hostname: p.b}\n";
    assert_int_equal(cg_model_load_buffer("d.yaml", dup, strlen(dup), &rs, &err), CG_EPARSE);
    assert_null(rs);
    cg_buf_append(&err, "", 1);
    assert_string_equal(cg_buf_data(&err),
                        "d.yaml:8:11: metadata.name: duplicate Service a/p in cluster c1 "
                        "(first defined at d.yaml:3:11)\n");
    cg_buf_free(&err);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_paths(void **state)
{
    (void)state;
    char dir[] = "/tmp/cg-model-test-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char p[256];
    snprintf(p, sizeof(p), "%s/b.yaml", dir);
    write_file(p, "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: b}\nspec: {locality: "
                  "{region: r}}\n");
    snprintf(p, sizeof(p), "%s/a.yml", dir);
    write_file(p, "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: a}\nspec: {locality: "
                  "{region: r}}\n");
    snprintf(p, sizeof(p), "%s/c.json", dir);
    write_file(p, "{\"apiVersion\": \"crossgate/v1\", \"kind\": \"Cluster\", \"metadata\": "
                  "{\"name\": \"c\"}, "
                  "\"spec\": {\"locality\": {\"region\": \"r\"}}}");
    snprintf(p, sizeof(p), "%s/notes.txt", dir);
    write_file(p, "not a resource");
    snprintf(p, sizeof(p), "%s/.hidden.yaml", dir);
    write_file(p, "not: [valid");
    snprintf(p, sizeof(p), "%s/sub", dir);
    assert_int_equal(mkdir(p, 0700), 0);
    snprintf(p, sizeof(p), "%s/sub/z.yaml", dir);
    write_file(p, "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: z}\nspec: {locality: "
                  "{region: r}}\n");

    /* a directory: its files by name, not recursive */
    const char *paths[] = {dir};
    cg_resource_set_t *rs = NULL;
    cg_buf_t err = {0};
    assert_int_equal(cg_model_load_paths(paths, 1, &rs, &err), 0);
    assert_int_equal(rs->nclusters, 3);
    assert_string_equal(rs->clusters[0].metadata.name, "a");
    assert_string_equal(rs->clusters[1].metadata.name, "b");
    assert_string_equal(rs->clusters[2].metadata.name, "c");
    snprintf(p, sizeof(p), "%s/a.yml", dir);
    assert_string_equal(rs->clusters[0].pos.file, p);
    cg_model_free(rs);

    /* files and directories mixed; a missing path */
    snprintf(p, sizeof(p), "%s/sub/z.yaml", dir);
    const char *mixed[] = {p, dir};
    rs = NULL;
    assert_int_equal(cg_model_load_paths(mixed, 2, &rs, &err), 0);
    assert_int_equal(rs->nclusters, 4);
    assert_string_equal(rs->clusters[0].metadata.name, "z");
    cg_model_free(rs);

    const char *missing[] = {"/nonexistent/crossgate.yaml"};
    rs = NULL;
    assert_int_equal(cg_model_load_paths(missing, 1, &rs, &err), CG_ENOENT);
    assert_null(rs);
    cg_buf_append(&err, "", 1);
    assert_string_equal(cg_buf_data(&err),
                        "/nonexistent/crossgate.yaml: cannot open: No such file or directory\n");
    cg_buf_reset(&err);

    /* a duplicate across files names the second file */
    snprintf(p, sizeof(p), "%s/d.yaml", dir);
    write_file(p, "apiVersion: crossgate/v1\nkind: Cluster\nmetadata:\n  name: a\nspec: {locality: "
                  "{region: r}}\n");
    rs = NULL;
    assert_int_equal(cg_model_load_paths(paths, 1, &rs, &err), CG_EPARSE);
    assert_null(rs);
    cg_buf_append(&err, "", 1);
    char want[512];
    snprintf(want, sizeof(want),
             "%s/d.yaml:4:3: metadata.name: duplicate Cluster a (first defined at %s/a.yml:3:11)\n",
             dir, dir);
    assert_string_equal(cg_buf_data(&err), want);
    cg_buf_free(&err);

    const char *names[] = {"a.yml",     "b.yaml",       "c.json",     "d.yaml",
                           "notes.txt", ".hidden.yaml", "sub/z.yaml", "sub"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
        assert_int_equal(i == 7 ? rmdir(p) : unlink(p), 0);
    }
    assert_int_equal(rmdir(dir), 0);
}

/* The examples directory as a whole holds three variants of the edge Gateway under one name
 * (apply one of them): loading all of it reports the duplicates. */
static void test_examples_directory(void **state)
{
    (void)state;
    const char *paths[] = {CG_SOURCE_DIR "/examples"};
    cg_resource_set_t *rs = NULL;
    cg_buf_t err = {0};
    assert_int_equal(cg_model_load_paths(paths, 1, &rs, &err), CG_EPARSE);
    cg_buf_append(&err, "", 1);
    assert_non_null(strstr(cg_buf_data(&err), "/examples/edge-named.yaml:"));
    assert_non_null(strstr(cg_buf_data(&err), "duplicate Gateway bookinfo-edge"));
    cg_buf_free(&err);

    static const char *const files[] = {"cluster-1.yaml",          "cluster-2.yaml",
                                        "cluster-edge.yaml",       "productpage-1.yaml",
                                        "productpage-2.yaml",      "bookinfo-ingress-1.yaml",
                                        "bookinfo-ingress-2.yaml", "bookinfo-edge.yaml"};
    char full[8][256];
    const char *list[8];
    for (size_t i = 0; i < 8; i++) {
        snprintf(full[i], sizeof(full[i]), "%s/examples/%s", CG_SOURCE_DIR, files[i]);
        list[i] = full[i];
    }
    assert_int_equal(cg_model_load_paths(list, 8, &rs, &err), 0);
    assert_int_equal(rs->nclusters, 3);
    assert_int_equal(rs->nservices, 2);
    assert_int_equal(rs->ngateways, 3);
    cg_model_free(rs);
    for (const char *v = "edge-named.yaml"; v;
         v = strcmp(v, "edge-named.yaml") == 0 ? "edge-weighted.yaml" : NULL) {
        snprintf(full[7], sizeof(full[7]), "%s/examples/%s", CG_SOURCE_DIR, v);
        rs = NULL;
        assert_int_equal(cg_model_load_paths(list, 8, &rs, &err), 0);
        cg_model_free(rs);
    }
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cluster_all_fields),
        cmocka_unit_test(test_service_all_fields),
        cmocka_unit_test(test_gateway_all_fields),
        cmocka_unit_test(test_tetrate_gateway),
        cmocka_unit_test(test_json_and_multi_documents),
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_examples_directory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
