/* Tests of the YAML/JSON node tree: positions, scalar types, aliases, documents, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/yaml.h"

#include <stdio.h>
#include <string.h>

static int parse(const char *name, const char *text, int json, cg_ystream_t *st, cg_buf_t *err)
{
    memset(st, 0, sizeof(*st));
    return cg_model_yaml_parse(name, text, strlen(text), json, st, err);
}

static void test_positions(void **state)
{
    (void)state;
    cg_ystream_t st;
    cg_buf_t err = {0};
    const char *y = "a: 1\n"
                    "b:\n"
                    "  c: [x, \"y\"]\n"
                    "  d: {}\n";
    assert_int_equal(parse("t.yaml", y, 0, &st, &err), 0);
    assert_int_equal(st.ndocs, 1);
    cg_ynode_t *root = st.docs[0].root;
    assert_int_equal(root->kind, CG_YNODE_MAP);
    assert_int_equal(root->n, 2);
    assert_int_equal(root->line, 1);
    assert_int_equal(root->col, 1);
    cg_ynode_t *a = cg_ynode_get(root, "a");
    assert_int_equal(a->line, 1);
    assert_int_equal(a->col, 4);
    cg_ynode_t *b = cg_ynode_get(root, "b");
    assert_int_equal(b->kind, CG_YNODE_MAP);
    assert_int_equal(b->line, 3);
    assert_int_equal(b->col, 3);
    cg_ynode_t *c = cg_ynode_get(b, "c");
    assert_int_equal(c->kind, CG_YNODE_SEQ);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->line, 3);
    assert_int_equal(c->col, 6);
    assert_string_equal(c->items[1]->text, "y");
    assert_int_equal(c->items[1]->col, 10); /* the opening quote */
    cg_ynode_t *d = cg_ynode_get(b, "d");
    assert_int_equal(d->kind, CG_YNODE_MAP);
    assert_int_equal(d->n, 0);
    assert_int_equal(d->line, 4);
    assert_int_equal(d->col, 6);
    assert_null(cg_ynode_get(root, "zz"));
    assert_int_equal(cg_buf_size(&err), 0);
    cg_ystream_free(&st);
}

static void test_scalar_types(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        cg_yscalar_type_t type;
    } cases[] = {
        {"", CG_YSCALAR_NULL},           {"~", CG_YSCALAR_NULL},
        {"null", CG_YSCALAR_NULL},       {"true", CG_YSCALAR_BOOL},
        {"False", CG_YSCALAR_BOOL},      {"yes", CG_YSCALAR_STRING},
        {"8080", CG_YSCALAR_INT},        {"-1", CG_YSCALAR_INT},
        {"0x1F", CG_YSCALAR_INT},        {"0o17", CG_YSCALAR_INT},
        {"1.5", CG_YSCALAR_FLOAT},       {"1e3", CG_YSCALAR_FLOAT},
        {".inf", CG_YSCALAR_FLOAT},      {".nan", CG_YSCALAR_FLOAT},
        {"15s", CG_YSCALAR_STRING},      {"127.0.0.1", CG_YSCALAR_STRING},
        {"\"8080\"", CG_YSCALAR_STRING}, {"'true'", CG_YSCALAR_STRING},
        {"!!str 5", CG_YSCALAR_STRING},  {"abc", CG_YSCALAR_STRING},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char y[64];
        snprintf(y, sizeof(y), "v: %s\n", cases[i].text);
        cg_ystream_t st;
        cg_buf_t err = {0};
        assert_int_equal(parse("t.yaml", y, 0, &st, &err), 0);
        cg_ynode_t *v = cg_ynode_get(st.docs[0].root, "v");
        if (v->stype != cases[i].type)
            fail_msg("%s: got type %d, want %d", cases[i].text, v->stype, cases[i].type);
        cg_ystream_free(&st);
        cg_buf_free(&err);
    }
}

static void test_documents(void **state)
{
    (void)state;
    cg_ystream_t st;
    cg_buf_t err = {0};
    const char *y = "a: 1\n---\n---\n# only a comment\n---\nb: 2\n";
    assert_int_equal(parse("t.yaml", y, 0, &st, &err), 0);
    assert_int_equal(st.ndocs, 4);
    assert_non_null(st.docs[0].root);
    /* the empty documents have no root or a null one */
    for (int i = 1; i <= 2; i++)
        assert_true(st.docs[i].root == NULL || (st.docs[i].root->kind == CG_YNODE_SCALAR &&
                                                st.docs[i].root->stype == CG_YSCALAR_NULL));
    assert_int_equal(cg_ynode_get(st.docs[3].root, "b")->line, 6);
    cg_ystream_free(&st);

    assert_int_equal(parse("t.yaml", "", 0, &st, &err), 0);
    assert_int_equal(st.ndocs, 0);
    cg_ystream_free(&st);
    cg_buf_free(&err);
}

static void test_aliases(void **state)
{
    (void)state;
    cg_ystream_t st;
    cg_buf_t err = {0};
    const char *y = "base: &lbl {app: x}\nother: *lbl\n";
    assert_int_equal(parse("t.yaml", y, 0, &st, &err), 0);
    cg_ynode_t *r = st.docs[0].root;
    assert_ptr_equal(cg_ynode_get(r, "base"), cg_ynode_get(r, "other"));
    cg_ystream_free(&st);

    assert_int_equal(parse("t.yaml", "a: *nope\n", 0, &st, &err), CG_EPARSE);
    cg_buf_append(&err, "", 1);
    assert_non_null(strstr(cg_buf_data(&err), "t.yaml:1:"));
    cg_ystream_free(&st);
    cg_buf_free(&err);
}

static void test_json(void **state)
{
    (void)state;
    cg_ystream_t st;
    cg_buf_t err = {0};
    const char *j = "{\n  \"kind\": \"Gateway\",\n  \"port\": 8080,\n  \"s\": \"8080\"\n}\n";
    assert_int_equal(parse("t.json", j, 1, &st, &err), 0);
    cg_ynode_t *r = st.docs[0].root;
    assert_int_equal(cg_ynode_get(r, "port")->stype, CG_YSCALAR_INT);
    assert_int_equal(cg_ynode_get(r, "s")->stype, CG_YSCALAR_STRING);
    assert_int_equal(cg_ynode_get(r, "port")->line, 3);
    cg_ystream_free(&st);
    cg_buf_free(&err);
}

static void test_syntax_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"a: [1, 2\nb: 3\n", "t.yaml:3:1: flow sequence without a closing bracket\n"},
        {"a: \"x\n", "t.yaml:1:5: double-quoted scalar without closing quote\n"},
        {"a: 1\n  b: 2\n", "t.yaml:1:4: invalid multiline plain key\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_ystream_t st;
        cg_buf_t err = {0};
        assert_int_equal(parse("t.yaml", cases[i].text, 0, &st, &err), CG_EPARSE);
        cg_buf_append(&err, "", 1);
        assert_string_equal(cg_buf_data(&err), cases[i].want);
        cg_ystream_free(&st);
        cg_buf_free(&err);
    }
}

/* Documents completed before a syntax error are kept so that they can still be checked. */
static void test_error_keeps_earlier_documents(void **state)
{
    (void)state;
    cg_ystream_t st;
    cg_buf_t err = {0};
    assert_int_equal(parse("t.yaml", "a: 1\n---\nb: [\n", 0, &st, &err), CG_EPARSE);
    assert_int_equal(st.ndocs, 1);
    assert_non_null(cg_ynode_get(st.docs[0].root, "a"));
    cg_ystream_free(&st);
    cg_buf_free(&err);
}

/* Resource files keep the default bound; a caller that trusts its input more passes its own. */
static void test_node_limit(void **state)
{
    (void)state;
    cg_buf_t text = {0};
    cg_buf_append_str(&text, "[");
    for (size_t i = 0; i < CG_MODEL_YAML_MAX_NODES; i++) cg_buf_append_str(&text, i ? ",1" : "1");
    cg_buf_append_str(&text, "]");
    cg_ystream_t st = {0};
    cg_buf_t err = {0};
    assert_int_equal(cg_model_yaml_parse("t.json", text.base, text.len, 1, &st, &err), CG_EPARSE);
    cg_buf_append(&err, "", 1);
    assert_non_null(strstr(cg_buf_data(&err), "too many nodes in one file"));
    cg_ystream_free(&st);
    cg_buf_reset(&err);
    assert_int_equal(cg_model_yaml_parse_limit("t.json", text.base, text.len, 1,
                                               CG_MODEL_YAML_MAX_NODES + 1, &st, &err),
                     0);
    assert_int_equal(st.docs[0].root->n, CG_MODEL_YAML_MAX_NODES);
    cg_ystream_free(&st);
    assert_int_equal(cg_model_yaml_parse_limit("t.json", "[1,2]", 5, 1, 2, &st, &err), CG_EPARSE);
    cg_ystream_free(&st);
    cg_buf_free(&err);
    cg_buf_free(&text);
}

/* resources_fuzz: a directive line holding an invalid UTF-8 byte sent libfyaml into an endless
 * loop. Text that is not UTF-8 is refused, with its position, before libfyaml sees it. */
static void test_not_utf8_is_refused_with_a_position(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"%\xe5\n", 3, "t.yaml:1:2: not UTF-8 text (byte 0xe5)"},
        {"a: 1\nb: \xc0\xaf\n", 10, "t.yaml:2:4: not UTF-8 text (byte 0xc0)"}, /* overlong */
        {"a: \xed\xa0\x80\n", 7, "t.yaml:1:4: not UTF-8 text (byte 0xed)"},  /* surrogate */
        {"a: \xf4\x90\x80\x80\n", 8, "t.yaml:1:4: not UTF-8 text (byte 0xf4)"}, /* past U+10FFFF */
        {"a: b\0c\n", 7, "t.yaml:1:5: not UTF-8 text (byte 0x00)"},
        {"a: \xe2\x82", 5, "t.yaml:1:4: not UTF-8 text (byte 0xe2)"}, /* cut off */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_ystream_t ys = {0};
        cg_buf_t err = {0};
        assert_int_equal(cg_model_yaml_parse("t.yaml", cases[i].in, cases[i].len, 0, &ys, &err), CG_EPARSE);
        assert_non_null(err.base);
        assert_true(strncmp(err.base, cases[i].want, strlen(cases[i].want)) == 0);
        cg_ystream_free(&ys);
        cg_buf_free(&err);
    }
    cg_ystream_t ys = {0};
    cg_buf_t err = {0};
    assert_int_equal(cg_model_yaml_parse("t.yaml", "a: \"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"\n", 16, 0, &ys, &err), 0);
    cg_ystream_free(&ys);
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_utf8_is_refused_with_a_position),
        cmocka_unit_test(test_positions),
        cmocka_unit_test(test_scalar_types),
        cmocka_unit_test(test_documents),
        cmocka_unit_test(test_aliases),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_syntax_errors),
        cmocka_unit_test(test_error_keeps_earlier_documents),
        cmocka_unit_test(test_node_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
