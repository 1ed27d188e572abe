/* Tests of canonical documents: JSON normalisation and YAML output that reads back the same. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "control/doc.h"
#include "core/err.h"

#include <stdlib.h>
#include <string.h>

static char *to_json(const char *yaml, int json_in)
{
    cg_ystream_t ys = {0};
    cg_buf_t err = {0}, out = {0};
    assert_int_equal(cg_model_yaml_parse("t", yaml, strlen(yaml), json_in, &ys, &err), 0);
    assert_int_equal(cg_control_doc_json(ys.docs[0].root, &out), 0);
    cg_buf_append(&out, "", 1);
    cg_ystream_free(&ys);
    cg_buf_free(&err);
    return out.base;
}

/* JSON parsed with core/json, then written by write (YAML, or JSON again). */
static char *rewrite(const char *json, int (*write)(const cg_json_t *, cg_buf_t *))
{
    cg_buf_t err = {0}, out = {0};
    cg_json_t *doc = cg_json_parse("t", json, strlen(json), &err);
    assert_non_null(doc);
    assert_int_equal(write(doc, &out), 0);
    cg_buf_append(&out, "", 1);
    cg_json_free(doc);
    cg_buf_free(&err);
    return out.base;
}

static void test_json_normalises(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {
        {"a: 1", "{\"a\":1}"},
        {"a: +7", "{\"a\":7}"},
        {"a: 0x1F", "{\"a\":31}"},
        {"a: 0o17", "{\"a\":15}"},
        {"a: 1.4", "{\"a\":1.4}"},
        {"a: True", "{\"a\":true}"},
        {"a: ~", "{\"a\":null}"},
        {"a: '1'", "{\"a\":\"1\"}"},
        {"a: \"q\\\"\\n\"", "{\"a\":\"q\\\"\\u000a\"}"},
        {"a: [x, {b: c}]\nd: {}\ne: []", "{\"a\":[\"x\",{\"b\":\"c\"}],\"d\":{},\"e\":[]}"},
        {"# comment\nb: &x {k: v}\nc: *x", "{\"b\":{\"k\":\"v\"},\"c\":{\"k\":\"v\"}}"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *j = to_json(cases[i].in, 0);
        if (strcmp(j, cases[i].out)) fail_msg("case %zu: %s != %s", i, j, cases[i].out);
        free(j);
    }
}

/* YAML out, read back, JSON out again: the same bytes. */
static void test_yaml_round_trip(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "{\"apiVersion\":\"crossgate/"
        "v1\",\"kind\":\"Cluster\",\"metadata\":{\"name\":\"cluster-1\",\"labels\":{\"a/"
        "b\":\"true\",\"n\":\"1\"}},"
        "\"spec\":{\"locality\":{\"region\":\"region-1\"},\"gateways\":[{\"address\":\"127.0.1.1\","
        "\"labels\":{\"app\":\"x\"}}]}}",
        "{\"s\":[\"*.example.com\",\"*\",\"a: "
        "b\",\"#c\",\"\",\"null\",\"yes\",\"-1\",\"x:\",\"multi\\u000aline\",\" lead\"],"
        "\"n\":[1,-2,1.5,true,false,null],\"e\":{},\"l\":[],\"nested\":[[1,[2]],[{\"a\":[]}]],\"k "
        "y\":{\"\":1}}",
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *y = rewrite(cases[i], cg_control_doc_yaml);
        char *j = to_json(y, 0);
        if (strcmp(j, cases[i])) fail_msg("case %zu:\n%s\n->\n%s\n->\n%s", i, cases[i], y, j);
        char *r = rewrite(cases[i], cg_control_doc_json_value); /* the same bytes */
        if (strcmp(r, cases[i])) fail_msg("case %zu: rewritten as %s", i, r);
        free(y);
        free(j);
        free(r);
    }
}

/* Nesting past the writer's depth cannot be stored in canonical form: CG_ELIMIT, not a
 * truncated document (validation refuses such documents before they get here). */
static void test_json_too_deep(void **state)
{
    (void)state;
    cg_buf_t in = {0}, err = {0}, out = {0};
    for (int i = 0; i < CG_JSON_MAX_DEPTH + 1; i++) cg_buf_append_str(&in, "[");
    for (int i = 0; i < CG_JSON_MAX_DEPTH + 1; i++) cg_buf_append_str(&in, "]");
    cg_ystream_t ys = {0};
    assert_int_equal(cg_model_yaml_parse("t", in.base, in.len, 1, &ys, &err), 0);
    assert_int_equal(cg_control_doc_json(ys.docs[0].root, &out), CG_ELIMIT);
    cg_buf_reset(&out);
    cg_buf_reset(&in);
    for (int i = 0; i < CG_JSON_MAX_DEPTH; i++) cg_buf_append_str(&in, "[");
    for (int i = 0; i < CG_JSON_MAX_DEPTH; i++) cg_buf_append_str(&in, "]");
    cg_ystream_free(&ys);
    ys = (cg_ystream_t){0};
    assert_int_equal(cg_model_yaml_parse("t", in.base, in.len, 1, &ys, &err), 0);
    assert_int_equal(cg_control_doc_json(ys.docs[0].root, &out), 0);
    assert_int_equal(out.len, 2 * CG_JSON_MAX_DEPTH);
    cg_ystream_free(&ys);
    cg_buf_free(&in);
    cg_buf_free(&err);
    cg_buf_free(&out);
}

/* A resources answer as the control plane writes it, read back by `crossgate get`. */
static void test_list_answer_round_trip(void **state)
{
    (void)state;
    cg_buf_t b = {0}, err = {0};
    cg_jw_t w = cg_jw(&b);
    cg_control_doc_list_open(&w, "Service", 7);
    cg_control_doc_item_t in = {"Service", "web",
                                "shop",    NULL,
                                3,         "2026-01-02T03:04:05.000Z",
                                1,         "{\"spec\":{\"hostname\":\"web\"}}",
                                NULL};
    cg_control_doc_item_write(&w, &in);
    cg_jw_end(&w);
    cg_jw_end(&w);
    cg_buf_append(&b, "", 1);
    assert_string_equal(b.base,
                        "{\"kind\":\"Service\",\"revision\":7,\"items\":[{\"kind\":\"Service\","
                        "\"name\":\"web\",\"namespace\":\"shop\",\"cluster\":\"\","
                        "\"version\":3,\"updated\":\"2026-01-02T03:04:05.000Z\","
                        "\"valid\":true,\"resource\":{\"spec\":{\"hostname\":\"web\"}}}]}");
    cg_json_t *doc = cg_json_parse("answer", b.base, b.len - 1, &err);
    assert_non_null(doc);
    const char *kind;
    const cg_json_t *items = cg_control_doc_list_read(doc, &kind);
    assert_string_equal(kind, "Service");
    assert_int_equal(cg_json_len(items), 1);
    cg_control_doc_item_t out;
    cg_control_doc_item_read(cg_json_at(items, 0), &out);
    assert_string_equal(out.name, "web");
    assert_string_equal(out.namespace_, "shop");
    assert_string_equal(out.cluster, "");
    assert_int_equal(out.version, 3);
    assert_true(out.valid);
    assert_string_equal(
        cg_json_string(cg_json_get(cg_json_get(out.resource, "spec"), "hostname"), NULL), "web");
    assert_null(cg_control_doc_list_read(cg_json_at(items, 0), &kind)); /* one item: no list */
    cg_json_free(doc);
    cg_buf_free(&b);
    cg_buf_free(&err);
}

/* A Secret as answers show it: private keys redacted under stringData and data, every value of
 * metadata.annotations redacted (kubectl's last-applied-configuration holds the whole Secret),
 * the rest kept; a key called "key" elsewhere is not touched. */
static void test_secret_annotations_redacted(void **state)
{
    (void)state;
    char *j = rewrite("{\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"annotations\":{"
                      "\"kubectl.kubernetes.io/last-applied-configuration\":\"{\\\"stringData\\\":"
                      "{\\\"key\\\":\\\"-----BEGIN PRIVATE KEY-----\\\"}}\",\"note\":\"n\"},"
                      "\"labels\":{\"a\":\"b\"}},\"annotations\":{\"x\":\"y\"}}",
                      cg_control_doc_json_redacted);
    assert_string_equal(j, "{\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\",\"annotations\":{"
                           "\"kubectl.kubernetes.io/last-applied-configuration\":\"<redacted>\","
                           "\"note\":\"<redacted>\"},\"labels\":{\"a\":\"b\"}},"
                           "\"annotations\":{\"x\":\"y\"}}");
    free(j);
    /* annotations that are not a mapping are redacted whole */
    j = rewrite("{\"metadata\":{\"annotations\":\"PRIVATE KEY\"}}", cg_control_doc_json_redacted);
    assert_string_equal(j, "{\"metadata\":{\"annotations\":\"<redacted>\"}}");
    free(j);
    /* a document that is not a Secret keeps its annotations */
    j = rewrite("{\"metadata\":{\"annotations\":{\"a\":\"b\"}}}", cg_control_doc_json_value);
    assert_string_equal(j, "{\"metadata\":{\"annotations\":{\"a\":\"b\"}}}");
    free(j);
}

static void test_secret_redacted(void **state)
{
    (void)state;
    char *j = rewrite("{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":\"s\","
                      "\"labels\":{\"key\":\"v\"}},\"stringData\":{\"cert\":\"C\",\"key\":"
                      "\"K1\"},\"data\":{\"tls.crt\":\"QQ==\",\"tls.key\":\"SzI=\"}}",
                      cg_control_doc_json_redacted);
    assert_string_equal(j, "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"metadata\":{\"name\":"
                           "\"s\",\"labels\":{\"key\":\"v\"}},\"stringData\":{\"cert\":\"C\","
                           "\"key\":\"<redacted>\"},\"data\":{\"tls.crt\":\"QQ==\",\"tls.key\":"
                           "\"<redacted>\"}}");
    free(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_normalises), cmocka_unit_test(test_yaml_round_trip),
        cmocka_unit_test(test_json_too_deep),   cmocka_unit_test(test_list_answer_round_trip),
        cmocka_unit_test(test_secret_redacted), cmocka_unit_test(test_secret_annotations_redacted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
