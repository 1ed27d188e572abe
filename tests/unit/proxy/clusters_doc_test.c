/* Tests of the /clusters document: the wire text the admin endpoint writes (docs/operations.md),
 * the round trip through the decoder the demo uses, and hostile input to the decoder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/list.h"
#include "proxy/clusters_doc.h"

#include <string.h>

static cg_clusters_endpoint_t eps[] = {
    {"10.0.0.1:80", "cluster-1", "region-1", 0, CG_CLUSTERS_HEALTHY, 0, 1, 10, 1, 0,
     "spiffe://crossgate/ns/bookinfo/cluster/cluster-1"},
    {"10.0.0.2:80", "cluster-2", NULL, 1, CG_CLUSTERS_PROBING, 3, 2, 5, 4, 2, NULL},
};
static cg_clusters_priority_t pris[] = {{0, 70}, {1, 30}};
static cg_clusters_share_t shares[] = {{"cluster-1", 80, 1}, {"cluster-2", 20, 1}};
static cg_clusters_dest_t dests[] = {
    {.name = "edge/auto",
     .mode = CG_DEST_AUTO,
     .priorities = pris,
     .npriorities = 2,
     .endpoints = eps,
     .nendpoints = 2},
    {.name = "edge/w",
     .mode = CG_DEST_WEIGHTED,
     .clusters = shares,
     .nclusters = 2,
     .endpoints = eps + 1,
     .nendpoints = 1},
};
static const cg_clusters_doc_t doc = {
    .version = 7, .region = "region-1", .dests = dests, .ndests = 2};

static const char wire[] =
    "{\"version\":7,\"region\":\"region-1\",\"destinations\":["
    "{\"name\":\"edge/"
    "auto\",\"mode\":\"auto\",\"priorities\":[{\"priority\":0,\"load_percent\":70},"
    "{\"priority\":1,\"load_percent\":30}],\"endpoints\":["
    "{\"address\":\"10.0.0.1:80\",\"cluster\":\"cluster-1\",\"region\":\"region-1\",\"priority\":0,"
    "\"health\":\"healthy\",\"ejections\":0,\"weight\":1,\"requests\":10,\"errors\":1,\"connect_"
    "failures\":0,\"identity\":\"spiffe://crossgate/ns/bookinfo/cluster/cluster-1\"},"
    "{\"address\":\"10.0.0.2:80\",\"cluster\":\"cluster-2\",\"region\":null,\"priority\":1,"
    "\"health\":\"probing\",\"ejections\":3,\"weight\":2,\"requests\":5,\"errors\":4,\"connect_"
    "failures\":2,\"identity\":null}]},"
    "{\"name\":\"edge/"
    "w\",\"mode\":\"weighted\",\"clusters\":[{\"cluster\":\"cluster-1\",\"weight\":80,"
    "\"endpoints\":1},"
    "{\"cluster\":\"cluster-2\",\"weight\":20,\"endpoints\":1}],\"endpoints\":["
    "{\"address\":\"10.0.0.2:80\",\"cluster\":\"cluster-2\",\"region\":null,\"priority\":1,"
    "\"health\":\"probing\",\"ejections\":3,\"weight\":2,\"requests\":5,\"errors\":4,\"connect_"
    "failures\":2,\"identity\":null}]}]}\n";

static void test_encode_writes_the_documented_shape(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    assert_int_equal(cg_clusters_doc_encode(&doc, &b), 0);
    if (cg_buf_size(&b) != strlen(wire) || memcmp(cg_buf_data(&b), wire, strlen(wire)))
        fail_msg("got  %.*s\nwant %s", (int)cg_buf_size(&b), cg_buf_data(&b), wire);
    cg_buf_free(&b);
}

static void assert_ep_eq(const cg_clusters_endpoint_t *a, const cg_clusters_endpoint_t *b)
{
    assert_string_equal(a->address, b->address);
    assert_string_equal(a->cluster, b->cluster);
    if (b->region)
        assert_string_equal(a->region, b->region);
    else
        assert_null(a->region);
    assert_int_equal(a->priority, b->priority);
    assert_int_equal(a->health, b->health);
    assert_int_equal(a->ejections, b->ejections);
    assert_int_equal(a->weight, b->weight);
    assert_int_equal(a->requests, b->requests);
    assert_int_equal(a->errors, b->errors);
    assert_int_equal(a->connect_failures, b->connect_failures);
    if (b->identity)
        assert_string_equal(a->identity, b->identity);
    else
        assert_null(a->identity);
}

static void test_decode_reads_back_what_encode_wrote(void **state)
{
    (void)state;
    cg_clusters_doc_t got;
    cg_buf_t err = {0};
    assert_int_equal(cg_clusters_doc_decode(wire, strlen(wire), &got, &err), 0);
    assert_int_equal(err.len, 0);
    assert_int_equal(got.version, 7);
    assert_string_equal(got.region, "region-1");
    assert_int_equal(got.ndests, 2);
    assert_string_equal(got.dests[0].name, "edge/auto");
    assert_int_equal(got.dests[0].mode, CG_DEST_AUTO);
    assert_int_equal(got.dests[0].npriorities, 2);
    assert_int_equal(got.dests[0].priorities[1].priority, 1);
    assert_int_equal(got.dests[0].priorities[1].load_percent, 30);
    assert_int_equal(got.dests[0].nclusters, 0);
    assert_int_equal(got.dests[0].nendpoints, 2);
    assert_ep_eq(&got.dests[0].endpoints[0], &eps[0]);
    assert_ep_eq(&got.dests[0].endpoints[1], &eps[1]);
    assert_int_equal(got.dests[1].mode, CG_DEST_WEIGHTED);
    assert_int_equal(got.dests[1].nclusters, 2);
    assert_string_equal(got.dests[1].clusters[1].cluster, "cluster-2");
    assert_int_equal(got.dests[1].clusters[1].weight, 20);
    assert_int_equal(got.dests[1].clusters[1].endpoints, 1);
    assert_int_equal(got.dests[1].npriorities, 0);
    assert_ep_eq(&got.dests[1].endpoints[0], &eps[1]);
    cg_clusters_doc_clear(&got);
    assert_int_equal(got.ndests, 0);
    cg_buf_free(&err);
}

static void test_decode_ignores_members_it_does_not_know(void **state)
{
    (void)state;
    static const char text[] =
        "{\"version\":1,\"region\":null,\"extra\":[1,2],\"destinations\":[]}";
    cg_clusters_doc_t got;
    assert_int_equal(cg_clusters_doc_decode(text, strlen(text), &got, NULL), 0);
    assert_int_equal(got.version, 1);
    assert_null(got.region);
    assert_int_equal(got.ndests, 0);
    cg_clusters_doc_clear(&got);
}

/* Each must fail with one line naming the problem, and leave nothing allocated (ASan). */
static void test_decode_rejects_hostile_documents(void **state)
{
    (void)state;
    static const struct {
        const char *text, *word;
    } cases[] = {
        {"", "clusters:"},
        {"[]", "expected an object"},
        {"{\"destinations\":[]}", "version: missing"},
        {"{\"version\":-1}", "version"},
        {"{\"version\":1,\"destinations\":{}}", "expected a list"},
        {"{\"version\":1,\"destinations\":[1]}", "expected objects"},
        {"{\"version\":1,\"destinations\":[{\"name\":\"d\",\"mode\":\"fast\"}]}", "mode"},
        {"{\"version\":1,\"destinations\":[{\"mode\":\"auto\"}]}", "name: missing"},
        {"{\"version\":1,\"destinations\":[{\"name\":\"d\",\"mode\":\"auto\",\"priorities\":[{"
         "\"priority\":0}]}]}",
         "load_percent: missing"},
        {"{\"version\":1,\"destinations\":[{\"name\":\"d\",\"mode\":\"auto\",\"priorities\":[{"
         "\"priority\":0,"
         "\"load_percent\":4294967296}]}]}",
         "load_percent: out of range"},
        {"{\"version\":1,\"destinations\":[{\"name\":\"d\",\"mode\":\"named\",\"endpoints\":[{"
         "\"address\":\"a\","
         "\"priority\":0,\"health\":\"fine\",\"ejections\":0,\"weight\":1}]}]}",
         "health"},
        {"{\"version\":1,\"destinations\":[{\"name\":\"d\",\"mode\":\"named\",\"endpoints\":[{"
         "\"address\":7}]}]}",
         "address: expected a string"},
        {"{\"version\":1,\"destinations\":[{\"name\":\"d\",\"mode\":\"weighted\",\"clusters\":[{"
         "\"cluster\":\"c\","
         "\"weight\":1}]}]}",
         "endpoints: missing"},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(cases); i++) {
        cg_clusters_doc_t got;
        cg_buf_t err = {0};
        int r = cg_clusters_doc_decode(cases[i].text, strlen(cases[i].text), &got, &err);
        if (r != CG_EPARSE) fail_msg("case %zu accepted: %s", i, cases[i].text);
        cg_buf_append(&err, "", 1);
        if (!strstr(err.base, cases[i].word))
            fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, err.base, cases[i].word);
        assert_int_equal(got.ndests, 0);
        assert_null(got.dests);
        cg_buf_free(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_writes_the_documented_shape),
        cmocka_unit_test(test_decode_reads_back_what_encode_wrote),
        cmocka_unit_test(test_decode_ignores_members_it_does_not_know),
        cmocka_unit_test(test_decode_rejects_hostile_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
