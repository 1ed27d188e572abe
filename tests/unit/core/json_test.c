/* Tests of the JSON writer's comma bookkeeping and of the strict reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"

#include <stdlib.h>
#include <string.h>

static void assert_text(cg_buf_t *b, const char *want)
{
    cg_buf_append(b, "", 1);
    assert_string_equal(cg_buf_data(b), want);
}

static void test_writer_places_every_comma(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    cg_jw_t w = cg_jw(&b);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "a", "x\"y");
    cg_jw_kstr_opt(&w, "skipped", NULL);
    cg_jw_karr(&w, "list");
    cg_jw_u64(&w, 1);
    cg_jw_i64(&w, -2);
    cg_jw_obj(&w);
    cg_jw_end(&w);
    cg_jw_arr(&w);
    cg_jw_end(&w);
    cg_jw_null(&w);
    cg_jw_end(&w);
    cg_jw_kbool(&w, "t", 1);
    cg_jw_key(&w, "raw");
    cg_jw_raw(&w, "{\"v\":7}", 7);
    cg_jw_key(&w, "d");
    cg_jw_double(&w, 0.25, 2);
    cg_jw_end(&w);
    assert_int_equal(w.depth, 0);
    assert_false(w.failed);
    assert_text(
        &b,
        "{\"a\":\"x\\\"y\",\"list\":[1,-2,{},[],null],\"t\":true,\"raw\":{\"v\":7},\"d\":0.25}");
    cg_buf_free(&b);
}

/* A break puts the member's comma before the whitespace, and none between a key and its value. */
static void test_writer_breaks_lines_between_members(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    cg_jw_t w = cg_jw(&b);
    cg_jw_break(&w, "\n"); /* top level: nothing */
    cg_jw_obj(&w);
    cg_jw_break(&w, "\n "); /* first member: no comma */
    cg_jw_ku64(&w, "a", 1);
    cg_jw_break(&w, "\n ");
    cg_jw_karr(&w, "l");
    cg_jw_break(&w, "\n  ");
    cg_jw_u64(&w, 2);
    cg_jw_break(&w, "\n  ");
    cg_jw_u64(&w, 3);
    cg_jw_end(&w);
    cg_jw_key(&w, "k");
    cg_jw_break(&w, "\n"); /* after a key: nothing */
    cg_jw_bool(&w, 0);
    cg_jw_end(&w);
    assert_text(&b, "{\n \"a\":1,\n \"l\":[\n  2,\n  3],\"k\":false}");
    cg_buf_t err = {0};
    cg_json_t *doc = cg_json_parse("t", cg_buf_data(&b), cg_buf_size(&b) - 1, &err); /* no NUL */
    assert_non_null(doc);
    cg_json_free(doc);
    cg_buf_free(&err);
    cg_buf_free(&b);
}

static void test_writer_output_is_read_back(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    cg_jw_t w = cg_jw(&b);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "ctl", "\x01\n\t\xc3\xa9");
    cg_jw_ku64(&w, "big", UINT64_C(9223372036854775807));
    cg_jw_end(&w);
    cg_buf_t err = {0};
    cg_json_t *doc = cg_json_parse("t", cg_buf_data(&b), cg_buf_size(&b), &err);
    assert_non_null(doc);
    size_t n;
    const char *s = cg_json_string(cg_json_get(doc, "ctl"), &n);
    assert_non_null(s);
    assert_int_equal(n, 5);
    assert_memory_equal(s, "\x01\n\t\xc3\xa9", 5);
    assert_true(cg_json_int(cg_json_get(doc, "big")) == INT64_C(9223372036854775807));
    cg_json_free(doc);
    cg_buf_free(&b);
    cg_buf_free(&err);
}

static void test_writer_refuses_nesting_past_its_bound(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    cg_jw_t w = cg_jw(&b);
    for (int i = 0; i < CG_JSON_MAX_DEPTH + 3; i++) cg_jw_arr(&w);
    assert_true(w.overflow);
    assert_int_equal(w.depth, CG_JSON_MAX_DEPTH);
    cg_buf_free(&b);
}

/* Each of these is a reason to refuse a document; RFC 8259 and our wire contracts agree. */
static void test_reader_refuses_ambiguous_text(void **state)
{
    (void)state;
    static const char *bad[] = {
        "{\"a\":1,\"a\":2}",    /* duplicate key: which one would a peer use? */
        "\"a\\u0000b\"",        /* NUL inside a string: C strings would cut it */
        "{\"a\":1} x",          /* trailing bytes */
        "{'a':1}",              /* single quotes */
        "\"\\ud800\"",          /* lone surrogate */
        "\"\xff\"",             /* not UTF-8 */
        "18446744073709551616", /* past 2^64 */
        "01",                   /* leading zero */
        "[1,]",                 /* trailing comma */
        "",                     /* nothing */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cg_buf_t err = {0};
        cg_json_t *doc = cg_json_parse("in", bad[i], strlen(bad[i]), &err);
        if (doc) fail_msg("accepted %s", bad[i]);
        assert_true(cg_buf_size(&err) > 0);
        assert_memory_equal(cg_buf_data(&err), "in:", 3);
        cg_buf_free(&err);
    }
}

static void test_reader_keeps_document_order(void **state)
{
    (void)state;
    const char *text = "{\"z\":1,\"a\":2,\"m\":3}";
    cg_json_t *doc = cg_json_parse("t", text, strlen(text), NULL);
    assert_non_null(doc);
    const char *order[3];
    size_t n = 0;
    for (void *it = cg_json_iter(doc); it; it = cg_json_next(doc, it))
        order[n++] = cg_json_iter_key(it);
    assert_int_equal(n, 3);
    assert_string_equal(order[0], "z");
    assert_string_equal(order[1], "a");
    assert_string_equal(order[2], "m");
    cg_json_free(doc);
}

static void test_typed_reads_record_the_first_problem(void **state)
{
    (void)state;
    const char *text = "{\"s\":5,\"n\":-1,\"big\":70000,\"b\":\"yes\",\"l\":{}}";
    cg_json_t *doc = cg_json_parse("t", text, strlen(text), NULL);
    assert_non_null(doc);
    cg_buf_t err = {0};
    cg_json_dec_t d = {.what = "doc", .errors = &err};
    assert_null(cg_json_dec_str(&d, doc, "missing", 0));
    assert_false(d.failed); /* an absent optional is no problem */
    assert_null(cg_json_dec_str(&d, doc, "s", 1));
    assert_true(d.failed);
    assert_int_equal(cg_json_dec_u64(&d, doc, "n", 10, 4), 4);
    assert_int_equal(cg_json_dec_u64(&d, doc, "big", 65535, 9), 9);
    assert_int_equal(cg_json_dec_bool(&d, doc, "b", 1), 1);
    assert_null(cg_json_dec_list(&d, doc, "l"));
    cg_buf_append(&err, "", 1);
    assert_string_equal(cg_buf_data(&err), "doc: s: expected a string\n");

    cg_json_dec_t e = {.what = "doc", .errors = NULL};
    assert_int_equal(cg_json_dec_u64(&e, doc, "big", 65535, 9), 9);
    assert_true(e.failed);
    cg_json_dec_t f = {.what = "doc"};
    assert_int_equal(cg_json_dec_u64(&f, doc, "n", 10, 4), 4);
    assert_true(f.failed);
    cg_json_dec_t g = {.what = "doc"};
    assert_null(cg_json_dec_str(&g, doc, "absent", 1));
    assert_true(g.failed);
    cg_json_free(doc);
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_writer_places_every_comma),
        cmocka_unit_test(test_writer_breaks_lines_between_members),
        cmocka_unit_test(test_writer_output_is_read_back),
        cmocka_unit_test(test_writer_refuses_nesting_past_its_bound),
        cmocka_unit_test(test_reader_refuses_ambiguous_text),
        cmocka_unit_test(test_reader_keeps_document_order),
        cmocka_unit_test(test_typed_reads_record_the_first_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
