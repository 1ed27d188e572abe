/* Tests of the results document: what the control plane writes is what the CLI reads, the
 * text is the one docs/api.md shows, and hostile answers are refused with one line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "control/results.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static void push(cg_control_results_doc_t *d, cg_model_kind_t kind, const char *name,
                 const char *ns, const char *cluster, cg_control_action_t a, uint64_t version)
{
    cg_control_result_t r = {kind,   cg_xstrdup(cluster), cg_xstrdup(ns), cg_xstrdup(name), a,
                             version};
    cg_vec_push(&d->results, r);
}

static void test_round_trip(void **state)
{
    (void)state;
    cg_control_results_doc_t d = {.revision = 9};
    push(&d, CG_KIND_GATEWAY, "bookinfo-edge", "", "", CG_CONTROL_CREATED, 9);
    push(&d, CG_KIND_SERVICE, "pp", "bookinfo", "cluster-2", CG_CONTROL_NOT_FOUND, 0);
    cg_vec_push(&d.warnings, cg_xstrdup("instance x keeps its \"last\" snapshot"));
    cg_buf_t b = {0};
    assert_int_equal(cg_control_results_encode(&d, &b), 0);
    cg_buf_append(&b, "", 1);
    assert_string_equal(
        b.base,
        "{\"results\":[{\"kind\":\"Gateway\",\"name\":\"bookinfo-edge\",\"namespace\":\"\","
        "\"cluster\":\"\",\"action\":\"created\",\"version\":9},{\"kind\":\"Service\",\"name\":"
        "\"pp\",\"namespace\":\"bookinfo\",\"cluster\":\"cluster-2\",\"action\":\"not found\","
        "\"version\":0}],\"revision\":9,\"warnings\":[\"instance x keeps its \\\"last\\\" "
        "snapshot\"]}");
    cg_control_results_doc_t r;
    cg_buf_t err = {0};
    assert_int_equal(cg_control_results_decode(b.base, b.len - 1, &r, &err), 0);
    assert_int_equal(r.revision, 9);
    assert_int_equal(r.results.len, 2);
    assert_int_equal(r.results.items[0].kind, CG_KIND_GATEWAY);
    assert_int_equal(r.results.items[0].action, CG_CONTROL_CREATED);
    assert_int_equal(r.results.items[0].version, 9);
    assert_string_equal(r.results.items[0].namespace_, "");
    assert_int_equal(r.results.items[1].kind, CG_KIND_SERVICE);
    assert_int_equal(r.results.items[1].action, CG_CONTROL_NOT_FOUND);
    assert_string_equal(r.results.items[1].cluster, "cluster-2");
    assert_int_equal(r.warnings.len, 1);
    assert_string_equal(r.warnings.items[0], "instance x keeps its \"last\" snapshot");
    cg_control_results_doc_clear(&r);
    cg_control_results_doc_clear(&d);
    cg_buf_free(&b);
    cg_buf_free(&err);
}

/* A newer control plane may add members: they are ignored. No warnings: none. */
static void test_unknown_members_ignored(void **state)
{
    (void)state;
    static const char doc[] =
        "{\"results\":[{\"kind\":\"Cluster\",\"name\":\"c\",\"namespace\":\"\",\"cluster\":\"\","
        "\"action\":\"unchanged\",\"version\":3,\"new\":1}],\"revision\":4,\"more\":[]}";
    cg_control_results_doc_t r;
    assert_int_equal(cg_control_results_decode(doc, strlen(doc), &r, NULL), 0);
    assert_int_equal(r.results.len, 1);
    assert_int_equal(r.results.items[0].action, CG_CONTROL_UNCHANGED);
    assert_int_equal(r.warnings.len, 0);
    cg_control_results_doc_clear(&r);
}

static void test_hostile(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *error;
    } cases[] = {
        {"", "results:1:"},
        {"[]", "results: : expected an object"},
        {"{}", "results: results: missing"},
        {"{\"results\":{}}", "results: results: expected a list"},
        {"{\"results\":[1]}", "results: results: expected a list of objects"},
        {"{\"results\":[{\"kind\":\"Gate\",\"name\":\"n\",\"namespace\":\"\",\"cluster\":\"\","
         "\"action\":\"created\",\"version\":1}]}",
         "results: kind: unknown value"},
        {"{\"results\":[{\"kind\":\"Gateway\",\"name\":\"n\",\"namespace\":\"\",\"cluster\":\"\","
         "\"action\":\"made\",\"version\":1}]}",
         "results: action: unknown value"},
        {"{\"results\":[{\"kind\":\"Gateway\",\"namespace\":\"\",\"cluster\":\"\","
         "\"action\":\"created\",\"version\":1}]}",
         "results: name: missing"},
        {"{\"results\":[{\"kind\":\"Gateway\",\"name\":\"n\",\"namespace\":\"\",\"cluster\":\"\","
         "\"action\":\"created\",\"version\":-1}]}",
         "results: version: expected a non-negative integer"},
        {"{\"results\":[],\"revision\":\"9\"}", "results: revision: expected a non-negative"},
        {"{\"results\":[],\"warnings\":[1]}", "results: warnings: expected a list of strings"},
        {"{\"results\":[],\"results\":[]}", "results:1:"}, /* duplicate key */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_control_results_doc_t r;
        cg_buf_t err = {0};
        assert_int_equal(cg_control_results_decode(cases[i].doc, strlen(cases[i].doc), &r, &err),
                         CG_EINVAL);
        assert_int_equal(r.results.len, 0);
        cg_buf_append(&err, "", 1);
        if (strncmp(err.base, cases[i].error, strlen(cases[i].error)))
            fail_msg("case %zu: %s", i, err.base);
        cg_buf_free(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_unknown_members_ignored),
        cmocka_unit_test(test_hostile),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
