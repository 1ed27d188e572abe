/* Tests of cg_snapshot_decode_json: encode → decode → encode gives the same bytes for the
 * snapshots of the guide's examples (ingress, auto, named and weighted edges, with live
 * instances), and malformed input is an error that leaks nothing. */
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

static cg_resource_set_t *load(const char *edge_file)
{
    static const char *const common[] = {"cluster-1.yaml",         "cluster-2.yaml",
                                         "cluster-edge.yaml",      "productpage-1.yaml",
                                         "productpage-2.yaml",     "bookinfo-ingress-1.yaml",
                                         "bookinfo-ingress-2.yaml"};
    char paths[8][512];
    const char *p[8];
    size_t n = 0;
    for (; n < sizeof(common) / sizeof(common[0]); n++) {
        snprintf(paths[n], sizeof(paths[n]), "%s/examples/%s", CG_SOURCE_DIR, common[n]);
        p[n] = paths[n];
    }
    snprintf(paths[n], sizeof(paths[n]), "%s/examples/%s", CG_SOURCE_DIR, edge_file);
    p[n] = paths[n];
    n++;
    cg_resource_set_t *rs = NULL;
    cg_buf_t err = {0};
    int rc = cg_model_load_paths(p, n, &rs, &err);
    if (rc) fail_msg("%.*s", (int)err.len, err.base);
    cg_buf_free(&err);
    return rs;
}

static void round_trip(const cg_resource_set_t *rs, const cg_instance_t *inst,
                       const cg_instance_t *live, size_t nlive)
{
    cg_snapshot_t *s = NULL, *d = NULL;
    cg_buf_t err = {0}, a = {0}, b = {0};
    assert_int_equal(cg_translate_instance_live(rs, inst, live, nlive, 1234567890123ull, &s, &err),
                     0);
    assert_int_equal(cg_snapshot_encode_json(s, &a), 0);
    int rc = cg_snapshot_decode_json(a.base, a.len, &d, &err);
    if (rc) fail_msg("decode: %.*s", (int)err.len, err.base);
    assert_int_equal(cg_snapshot_encode_json(d, &b), 0);
    if (a.len != b.len || memcmp(a.base, b.base, a.len))
        fail_msg("round trip differs:\n%.*s\n%.*s", (int)a.len, a.base, (int)b.len, b.base);
    assert_int_equal(d->version, 1234567890123ull);
    cg_snapshot_free(s);
    cg_snapshot_free(d);
    cg_buf_free(&err);
    cg_buf_free(&a);
    cg_buf_free(&b);
}

static const cg_snap_label_t edge_labels[] = {{"app", "edgegw"}};
static const cg_snap_label_t ing1_labels[] = {{"app", "ingressgw-1"}};
static const cg_snap_label_t ing2_labels[] = {{"app", "ingressgw-2"}};

static void test_round_trip_examples(void **state)
{
    (void)state;
    static const char *const edges[] = {"bookinfo-edge.yaml", "edge-named.yaml",
                                        "edge-weighted.yaml"};
    const cg_instance_t edge = {"cluster-edge", "edge", edge_labels, 1, "127.0.0.1", 0, 0};
    const cg_instance_t ing1 = {"cluster-1", "bookinfo", ing1_labels, 1, "127.0.1.1", 0, 0};
    const cg_instance_t live[] = {
        {"cluster-1", "bookinfo", ing1_labels, 1, "127.0.1.7", 0, 0},
        {"cluster-2", "bookinfo", ing2_labels, 1, "127.0.2.7", 0, 0},
        {"cluster-9", "bookinfo", ing2_labels, 1, "127.0.9.7", 0, 0}, /* no Cluster resource */
    };
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        cg_resource_set_t *rs = load(edges[i]);
        round_trip(rs, &edge, NULL, 0);
        round_trip(rs, &edge, live, 3);
        round_trip(rs, &ing1, live, 3);
        cg_model_free(rs);
    }
}

static void test_malformed_is_an_error(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "",
        "{",
        "[]",
        "{\"version\":\"one\"}",
        "{\"version\":1,\"servers\":[{\"rules\":[{\"action\":\"route\",\"destination\":\"nowhere\"}"
        "]}]}",
        "{\"version\":1,\"cluster\":\"c\",\"namespace\":\"n\",\"labels\":{},\"address\":\"127.0.0."
        "1\",\"servers\":[],"
        "\"destinations\":[{\"name\":\"x\",\"mode\":\"sideways\",\"connect_timeout_ms\":1,"
        "\"endpoints\":[]}],\"warnings\":[]}",
        "{\"version\":-1}",
        "not json at all",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_snapshot_t *d = NULL;
        cg_buf_t err = {0};
        int rc = cg_snapshot_decode_json(cases[i], strlen(cases[i]), &d, &err);
        if (rc == 0) fail_msg("case %zu accepted", i);
        assert_null(d);
        assert_true(err.len > 0);
        cg_buf_free(&err);
    }
    /* a valid snapshot cut anywhere is refused */
    cg_resource_set_t *rs = load("bookinfo-edge.yaml");
    const cg_instance_t edge = {"cluster-edge", "edge", edge_labels, 1, "127.0.0.1", 0, 0};
    cg_snapshot_t *s = NULL;
    cg_buf_t err = {0}, a = {0};
    assert_int_equal(cg_translate_instance(rs, &edge, 7, &s, &err), 0);
    cg_snapshot_encode_json(s, &a);
    for (size_t cut = 0; cut < a.len; cut += 7) {
        cg_snapshot_t *d = NULL;
        cg_buf_reset(&err);
        if (cg_snapshot_decode_json(a.base, cut, &d, &err) == 0)
            fail_msg("cut at %zu accepted", cut);
        assert_null(d);
    }
    cg_snapshot_free(s);
    cg_model_free(rs);
    cg_buf_free(&err);
    cg_buf_free(&a);
}

/* A big edge's snapshot has more nodes than a resource file may: it still decodes, and every
 * rule finds its destination by name. */
static void test_large_snapshot(void **state)
{
    (void)state;
    enum { NDESTS = 400, NEPS = 100 }; /* ~290,000 nodes */
    cg_snapshot_t *s = cg_xcalloc(1, sizeof(*s));
    s->version = 1;
    s->address = cg_xstrdup("127.0.0.1");
    s->ndestinations = NDESTS;
    s->destinations = cg_xcalloc(NDESTS, sizeof(*s->destinations));
    s->nservers = NDESTS;
    s->servers = cg_xcalloc(NDESTS, sizeof(*s->servers));
    for (size_t i = 0; i < NDESTS; i++) {
        cg_snap_destination_t *d = &s->destinations[i];
        char name[64];
        snprintf(name, sizeof(name), "clusters:host-%zu.example.com", i);
        d->name = cg_xstrdup(name);
        d->mode = CG_DEST_AUTO;
        d->connect_timeout_ms = 5000;
        d->policy.overprovisioning = 140;
        d->nendpoints = NEPS;
        d->endpoints = cg_xcalloc(NEPS, sizeof(*d->endpoints));
        for (size_t e = 0; e < NEPS; e++) {
            char addr[32];
            snprintf(addr, sizeof(addr), "10.0.%zu.%zu", e / 256, e % 256);
            d->endpoints[e] = (cg_snap_endpoint_t){.address = cg_xstrdup(addr),
                                                   .port = 8080,
                                                   .weight = 1,
                                                   .priority = (uint32_t)(e % 2)};
        }
        cg_snap_server_t *sv = &s->servers[i];
        sv->name = cg_xstrdup(name + 9);
        sv->hostname = cg_xstrdup(name + 9);
        sv->port = 8080;
        sv->nrules = 1;
        sv->rules = cg_xcalloc(1, sizeof(*sv->rules));
        sv->rules[0].destination = NDESTS - 1 - i; /* far from its own index */
    }
    cg_buf_t a = {0}, b = {0}, err = {0};
    cg_snapshot_encode_json(s, &a);
    cg_snapshot_t *d = NULL;
    int rc = cg_snapshot_decode_json(a.base, a.len, &d, &err);
    if (rc) fail_msg("decode: %.*s", (int)err.len, err.base);
    for (size_t i = 0; i < NDESTS; i++)
        assert_int_equal(d->servers[i].rules[0].destination, NDESTS - 1 - i);
    cg_snapshot_encode_json(d, &b);
    assert_true(a.len == b.len && memcmp(a.base, b.base, a.len) == 0);
    cg_snapshot_free(s);
    cg_snapshot_free(d);
    cg_buf_free(&a);
    cg_buf_free(&b);
    cg_buf_free(&err);
}

/* Every number of the policy table survives encode → decode, and each one alone makes two
 * policies differ (the comparison that lets routes share a destination sees all of them). */
static void test_policy_fields_round_trip(void **state)
{
    (void)state;
    cg_snap_policy_t p = {0};
    uint32_t n = 1;
    for (const cg_snap_policy_field_t *f = cg_snap_policy_fields; f->key; f++, n++) {
        uint32_t v = f->type == CG_SNAP_PF_BOOL       ? 1
                     : f->type == CG_SNAP_PF_RETRY_ON ? (CG_RETRY_ON_RESET | CG_RETRY_ON_503)
                                                      : (n % 90) + 2; /* within every bound */
        cg_snap_policy_set(&p, f, v);
        cg_snap_policy_t q = p;
        cg_snap_policy_set(&q, f, cg_snap_policy_get(&p, f) ^ 1);
        if (f->type == CG_SNAP_PF_RETRY_ON) cg_snap_policy_set(&q, f, CG_RETRY_ON_RESET);
        if (cg_snap_policy_eq(&p, &q)) fail_msg("%s.%s is not compared", f->section, f->key);
    }
    cg_snapshot_t s = {.version = 1, .ndestinations = 1};
    cg_snap_destination_t d = {.name = "d", .mode = CG_DEST_NAMED, .policy = p};
    s.destinations = &d;
    cg_buf_t json = {0}, err = {0};
    assert_int_equal(cg_snapshot_encode_json(&s, &json), 0);
    cg_snapshot_t *back = NULL;
    if (cg_snapshot_decode_json(json.base, json.len, &back, &err))
        fail_msg("%.*s", (int)err.len, err.base);
    assert_true(cg_snap_policy_eq(&back->destinations[0].policy, &p));
    for (const cg_snap_policy_field_t *f = cg_snap_policy_fields; f->key; f++)
        assert_int_equal(cg_snap_policy_get(&back->destinations[0].policy, f),
                         cg_snap_policy_get(&p, f));
    cg_snapshot_free(back);
    cg_buf_free(&json);
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_examples),
        cmocka_unit_test(test_malformed_is_an_error),
        cmocka_unit_test(test_large_snapshot),
        cmocka_unit_test(test_policy_fields_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
