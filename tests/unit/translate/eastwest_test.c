/* Tests of east-west translation: which instances a WorkspaceSetting makes east-west gateways and
 * what they serve, and the failover endpoints an ingress's service destination gets (same region
 * first, then other regions or failoverSettings' order, over mTLS with the service's hostname). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "translate/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* c1 (r1) has the ingress; c2 (r1) and c3 (r2) each an east-west gateway; c4 (r3) one that
 * exposes only services labelled tier=front. */
static const char *const base_yaml =
    "apiVersion: crossgate/v1\n"
    "kind: Cluster\n"
    "metadata: {name: c1}\n"
    "spec: {locality: {region: r1}}\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Cluster\n"
    "metadata: {name: c3}\n"
    "spec:\n"
    "  locality: {region: r2}\n"
    "  gateways: [{address: 10.0.3.1, namespace: eastwest, labels: {app: eastwest-gateway}}]\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Cluster\n"
    "metadata: {name: c2}\n"
    "spec:\n"
    "  locality: {region: r1}\n"
    "  gateways: [{address: 10.0.2.1, namespace: eastwest, labels: {app: eastwest-gateway}}]\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Cluster\n"
    "metadata: {name: c4}\n"
    "spec:\n"
    "  locality: {region: r3}\n"
    "  gateways: [{address: 10.0.4.1, namespace: eastwest, labels: {app: ew-front}}]\n"
    "---\n"
    "apiVersion: api.tsb.tetrate.io/v2\n"
    "kind: WorkspaceSetting\n"
    "metadata: {organization: tetrate, tenant: tetrate, workspace: bookinfo-ws, name: ws}\n"
    "spec:\n"
    "  defaultEastWestGatewaySettings:\n"
    "  - workloadSelector: {namespace: eastwest, labels: {app: eastwest-gateway}}\n"
    "  - workloadSelector: {namespace: eastwest, labels: {app: ew-front}}\n"
    "    exposedServices: [{serviceLabels: {tier: front}}]\n"
    "---\n"
    "apiVersion: crossgate/v1\n"
    "kind: Gateway\n"
    "metadata: {name: ingress-1}\n"
    "spec:\n"
    "  workloadSelector: {namespace: bookinfo, labels: {app: ingress-1}}\n"
    "  http:\n"
    "  - name: bookinfo\n"
    "    port: 8080\n"
    "    hostname: bookinfo.example.com\n"
    "    routing: {rules: [{route: {serviceDestination: {host: bookinfo/pp.bookinfo.svc}}}]}\n"
    "%s"
    "---\n";

/* A Service of cluster c with one endpoint and labels (a flow mapping's insides, may be ""). */
static void service(cg_buf_t *b, const char *c, const char *ns, const char *addr,
                    const char *labels)
{
    cg_buf_printf(b,
                  "---\n"
                  "apiVersion: crossgate/v1\n"
                  "kind: Service\n"
                  "metadata: {name: pp, namespace: %s, cluster: %s, labels: {%s}}\n"
                  "spec: {hostname: pp.bookinfo.svc, endpoints: [{address: %s, port: 9080}]}\n",
                  ns, c, labels, addr);
}

static cg_resource_set_t *load_with(const char *server_extra, int front_in_c4)
{
    cg_buf_t text = {0}, err = {0};
    cg_buf_printf(&text, base_yaml, server_extra);
    service(&text, "c1", "bookinfo", "10.0.1.10", "");
    service(&text, "c2", "bookinfo", "10.0.2.10", "");
    service(&text, "c3", "bookinfo", "10.0.3.10", "");
    service(&text, "c4", "bookinfo", "10.0.4.10", front_in_c4 ? "tier: front" : "tier: back");
    service(&text, "c2", "other", "10.0.2.99", ""); /* another namespace: another service */
    cg_resource_set_t *rs = NULL;
    int rc = cg_model_load_buffer("t.yaml", cg_buf_data(&text), cg_buf_size(&text), &rs, &err);
    if (rc != 0) fail_msg("load: %.*s", (int)cg_buf_size(&err), cg_buf_data(&err));
    cg_buf_free(&text);
    cg_buf_free(&err);
    return rs;
}

static cg_snapshot_t *translate(const cg_resource_set_t *rs, const cg_instance_t *inst,
                                const cg_instance_t *live, size_t nlive)
{
    cg_snapshot_t *s = NULL;
    cg_buf_t err = {0};
    if (cg_translate_instance_live(rs, inst, live, nlive, 1, &s, &err) != 0)
        fail_msg("translate: %.*s", (int)cg_buf_size(&err), cg_buf_data(&err));
    cg_buf_free(&err);
    return s;
}

static int has_warning(const cg_snapshot_t *s, const char *prefix)
{
    for (size_t i = 0; i < s->nwarnings; i++)
        if (strncmp(s->warnings[i], prefix, strlen(prefix)) == 0) return 1;
    return 0;
}

/* "addr:port@cluster/Ppriority" per endpoint, comma-separated. */
static void endpoints_str(const cg_snap_destination_t *d, char *out, size_t n)
{
    out[0] = '\0';
    for (size_t i = 0; i < d->nendpoints; i++) {
        size_t len = strlen(out);
        snprintf(out + len, n - len, "%s%s:%u@%s/P%u", i ? "," : "", d->endpoints[i].address,
                 d->endpoints[i].port, d->endpoints[i].cluster, d->endpoints[i].priority);
    }
}

#define assert_endpoints(d, want)                                                                  \
    do {                                                                                           \
        char got_[512];                                                                            \
        endpoints_str(d, got_, sizeof(got_));                                                      \
        assert_string_equal(got_, want);                                                           \
    } while (0)

static const cg_snap_label_t ingress_l = {"app", "ingress-1"}, ew_l = {"app", "eastwest-gateway"};

static void test_eastwest_gateway_servers(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load_with("", 0);
    cg_instance_t ew = {"c2", "eastwest", &ew_l, 1, "10.0.2.1", 0, 15443};
    cg_snapshot_t *s = translate(rs, &ew, NULL, 0);
    /* one server per exposed hostname, on the mesh port only, to its own cluster's endpoints */
    assert_int_equal(s->nservers, 1);
    assert_true(s->servers[0].east_west);
    assert_int_equal(s->servers[0].port, 15443);
    assert_string_equal(s->servers[0].hostname, "pp.bookinfo.svc");
    assert_string_equal(s->servers[0].gateway, "ws");
    const cg_snap_destination_t *d = &s->destinations[s->servers[0].rules[0].destination];
    assert_string_equal(d->name, "service:bookinfo/pp.bookinfo.svc");
    assert_endpoints(d, "10.0.2.10:9080@c2/P0");
    /* the other namespace's Service of the same hostname is another service: not mixed in */
    assert_true(has_warning(s, "east-west: Service other/pp has hostname pp.bookinfo.svc"));
    /* an east-west gateway never fails over again: its destination has no policy of its own */
    assert_int_equal(d->policy.outlier.consecutive_gateway_errors, 0);
    /* the wire form keeps east_west */
    cg_buf_t wire = {0}, err = {0};
    assert_int_equal(cg_snapshot_encode_json(s, &wire), 0);
    cg_snapshot_t *back = NULL;
    assert_int_equal(cg_snapshot_decode_json(cg_buf_data(&wire), wire.len, &back, &err), 0);
    assert_true(back->servers[0].east_west);
    cg_snapshot_free(back);
    cg_buf_free(&wire);
    cg_buf_free(&err);
    cg_snapshot_free(s);

    /* without a mesh identity it serves nothing, and says why */
    ew.mtls_port = 0;
    s = translate(rs, &ew, NULL, 0);
    assert_int_equal(s->nservers, 0);
    assert_true(has_warning(s, "WorkspaceSetting ws makes this instance an east-west gateway"));
    cg_snapshot_free(s);

    /* exposedServices: c4's gateway exposes only tier=front */
    cg_snap_label_t front = {"app", "ew-front"};
    cg_instance_t ew4 = {"c4", "eastwest", &front, 1, "10.0.4.1", 0, 15443};
    s = translate(rs, &ew4, NULL, 0);
    assert_int_equal(s->nservers, 0);
    cg_snapshot_free(s);
    cg_model_free(rs);
    rs = load_with("", 1);
    s = translate(rs, &ew4, NULL, 0);
    assert_int_equal(s->nservers, 1);
    cg_snapshot_free(s);
    cg_model_free(rs);
}

static void test_ingress_failover_order(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load_with("", 1);
    cg_instance_t in = {"c1", "bookinfo", &ingress_l, 1, "10.0.1.1", 0, 15443};
    cg_snapshot_t *s = translate(rs, &in, NULL, 0);
    const cg_snap_destination_t *d = &s->destinations[s->servers[0].rules[0].destination];
    /* local first; then c2's east-west gateway (same region), then c3's and c4's (other regions) */
    assert_endpoints(d, "10.0.1.10:9080@c1/P0,10.0.2.1:15443@c2/P1,10.0.3.1:15443@c3/P2,"
                        "10.0.4.1:15443@c4/P2");
    assert_null(d->endpoints[0].identity);
    assert_null(d->endpoints[0].host);
    assert_string_equal(d->endpoints[1].identity, "spiffe://crossgate/ns/eastwest/cluster/c2");
    assert_string_equal(d->endpoints[1].host, "pp.bookinfo.svc");
    /* failures must be seen to fail over: outlier detection is on (TSB adds it) */
    assert_int_equal(d->policy.outlier.consecutive_gateway_errors, 3);
    cg_buf_t wire = {0}, err = {0};
    assert_int_equal(cg_snapshot_encode_json(s, &wire), 0);
    cg_snapshot_t *back = NULL;
    assert_int_equal(cg_snapshot_decode_json(cg_buf_data(&wire), wire.len, &back, &err), 0);
    assert_string_equal(back->destinations[0].endpoints[1].host, "pp.bookinfo.svc");
    cg_snapshot_free(back);
    cg_buf_free(&wire);
    cg_buf_free(&err);
    cg_snapshot_free(s);
    cg_model_free(rs);

    /* c4 does not expose it (tier=back): not a target */
    rs = load_with("", 0);
    s = translate(rs, &in, NULL, 0);
    d = &s->destinations[0];
    assert_endpoints(d, "10.0.1.10:9080@c1/P0,10.0.2.1:15443@c2/P1,10.0.3.1:15443@c3/P2");
    cg_snapshot_free(s);

    /* an ingress without a mesh identity has no mTLS hop: no east-west failover, no outlier
     * detection it did not ask for */
    in.mtls_port = 0;
    s = translate(rs, &in, NULL, 0);
    assert_endpoints(&s->destinations[0], "10.0.1.10:9080@c1/P0");
    assert_int_equal(s->destinations[0].policy.outlier.consecutive_gateway_errors, 0);
    cg_snapshot_free(s);
    cg_model_free(rs);

    /* failoverSettings order the remote clusters: r1 -> r3 before r2 */
    rs = load_with(
        "    failoverSettings: {regionalFailover: [{from: r1, to: r3}, {from: r3, to: r2}]}\n", 1);
    in.mtls_port = 15443;
    s = translate(rs, &in, NULL, 0);
    assert_endpoints(&s->destinations[0], "10.0.1.10:9080@c1/P0,10.0.2.1:15443@c2/P1,"
                                          "10.0.3.1:15443@c3/P3,10.0.4.1:15443@c4/P2");
    cg_snapshot_free(s);
    cg_model_free(rs);
}

/* A live east-west instance is reached on the mesh port it registered; one without a mesh port
 * is not a target, nor is a live instance of the ingress's own cluster. */
static void test_live_eastwest_instances(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load_with("", 0);
    cg_instance_t live[] = {
        {"c2", "eastwest", &ew_l, 1, "10.0.2.7", 1, 16443},
        {"c2", "eastwest", &ew_l, 1, "10.0.2.8", 1, 0},
        {"c1", "eastwest", &ew_l, 1, "10.0.1.7", 1, 15443},
    };
    cg_instance_t in = {"c1", "bookinfo", &ingress_l, 1, "10.0.1.1", 1, 15443};
    cg_snapshot_t *s = translate(rs, &in, live, 3);
    assert_endpoints(&s->destinations[0], "10.0.1.10:9080@c1/P0,10.0.2.1:15443@c2/P1,"
                                          "10.0.2.7:16443@c2/P1,10.0.3.1:15443@c3/P2");
    cg_snapshot_free(s);
    cg_model_free(rs);
}

/* An instance a Gateway and a WorkspaceSetting both select is east-west: the Gateway is not
 * served there, with a warning. */
static void test_gateway_on_eastwest_instance(void **state)
{
    (void)state;
    cg_resource_set_t *rs = load_with("", 0);
    cg_snap_label_t l2[] = {{"app", "ingress-1"}};
    cg_instance_t in = {"c2", "bookinfo", l2, 1, "10.0.2.5", 0, 15443};
    cg_snapshot_t *s = translate(rs, &in, NULL, 0);
    assert_int_equal(s->nservers, 1); /* not east-west: its namespace is bookinfo */
    assert_false(s->servers[0].east_west);
    cg_snapshot_free(s);
    cg_model_free(rs);

    cg_buf_t text = {0}, err = {0};
    cg_buf_printf(&text, base_yaml, "");
    cg_buf_append_str(&text,
                      "apiVersion: api.tsb.tetrate.io/v2\n"
                      "kind: WorkspaceSetting\n"
                      "metadata: {name: ws-ingress}\n"
                      "spec:\n"
                      "  defaultEastWestGatewaySettings:\n"
                      "  - workloadSelector: {namespace: bookinfo, labels: {app: ingress-1}}\n");
    service(&text, "c2", "bookinfo", "10.0.2.10", "");
    rs = NULL;
    if (cg_model_load_buffer("t.yaml", cg_buf_data(&text), cg_buf_size(&text), &rs, &err) != 0)
        fail_msg("load: %.*s", (int)cg_buf_size(&err), cg_buf_data(&err));
    s = translate(rs, &in, NULL, 0);
    assert_int_equal(s->nservers, 1);
    assert_true(s->servers[0].east_west);
    assert_true(has_warning(s, "Gateway ingress-1 selects this instance, which WorkspaceSetting "
                               "ws-ingress makes an east-west gateway"));
    cg_snapshot_free(s);
    cg_model_free(rs);
    cg_buf_free(&text);
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eastwest_gateway_servers),
        cmocka_unit_test(test_ingress_failover_order),
        cmocka_unit_test(test_live_eastwest_instances),
        cmocka_unit_test(test_gateway_on_eastwest_instance),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
