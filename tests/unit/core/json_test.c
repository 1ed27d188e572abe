/* Tests of the JSON writer's comma bookkeeping and of the strict reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"

#include <stdio.h>
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

/* Keys and values go out in one piece when plain, escaped when not, whatever their length
 * (the one-pass check stops at the first byte that needs it). */
static void test_writer_escapes_keys_and_values(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    cg_jw_t w = cg_jw(&b);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "plain", "caf\xc3\xa9");
    cg_jw_kstr(&w, "q\"k", "a\\b");
    cg_jw_kstr(&w, "", "");
    cg_jw_kstr(&w, "long key past eight bytes", "tab\there and a quote \" at the end");
    cg_jw_key(&w, "ctl\x1f");
    cg_jw_null(&w);
    cg_jw_end(&w);
    assert_text(&b, "{\"plain\":\"caf\xc3\xa9\",\"q\\\"k\":\"a\\\\b\",\"\":\"\","
                    "\"long key past eight bytes\":\"tab\\u0009here and a quote \\\" at the end\","
                    "\"ctl\\u001f\":null}");
    cg_buf_free(&b);
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
        /* the rest of the strictness the reader keeps */
        "9223372036854775808",  /* 2^63: past int64 */
        "-9223372036854775809", /* below -2^63 */
        "{\"k\\u0000\":1}",     /* NUL in a key */
        "\"\\udc00\"",          /* a low surrogate alone */
        "\"\\ud800\\u0041\"",   /* a high surrogate not followed by a low one */
        "\"\\ud800x\"",         /* ... or by nothing */
        "\"\xed\xa0\x80\"",     /* a surrogate encoded in UTF-8 */
        "\"\xc0\xaf\"",         /* an overlong form */
        "\"\xf4\x90\x80\x80\"", /* past U+10FFFF */
        "\"\xe2\x82\"",         /* a sequence cut short */
        "\"a\tb\"",             /* a raw control character */
        "\"\\x41\"",            /* an unknown escape */
        "\"\\u12g4\"",          /* a bad \\u escape */
        "\"abc",                /* unterminated */
        "[1 2]",                /* missing comma */
        "{\"a\" 1}",            /* missing colon */
        "{1:2}",                /* a key that is no string */
        "1.",                   /* no digits after the point */
        "1e",                   /* no exponent digits */
        "-",                    /* a sign alone */
        "+1",                   /* a plus sign */
        ".5",                   /* no integer part */
        "1e999",                /* a real past the double range */
        "tru",                  /* a cut literal */
        "nul", "NaN", "[] []",  /* two documents */
        "{\"a\":1}\n}",         /* a stray closer after the document */
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

/* A NUL byte in the text (not as \\u0000) is refused too: in a string, and outside one. */
static void test_reader_refuses_raw_nul(void **state)
{
    (void)state;
    static const char in_string[] = "\"a\0b\"", outside[] = "[1,\0 2]", after[] = "{}\0";
    const char *docs[] = {in_string, outside, after};
    size_t lens[] = {sizeof(in_string) - 1, sizeof(outside) - 1, sizeof(after) - 1};
    for (size_t i = 0; i < 3; i++) {
        cg_buf_t err = {0};
        assert_null(cg_json_parse("in", docs[i], lens[i], &err));
        assert_true(cg_buf_size(&err) > 0);
        cg_buf_free(&err);
    }
}

/* The error names the line and column of the problem. */
static void test_reader_error_has_position(void **state)
{
    (void)state;
    const char *text = "{\n  \"a\": 1,\n  \"a\": 2\n}";
    cg_buf_t err = {0};
    assert_null(cg_json_parse("doc.json", text, strlen(text), &err));
    cg_buf_append(&err, "", 1);
    assert_string_equal(cg_buf_data(&err), "doc.json:3:3: duplicate object key\n");
    cg_buf_free(&err);
}

/* Duplicates in a large object (sorted, not scanned) are found too, and lookups there work. */
static void test_reader_large_objects(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    cg_buf_append(&b, "{", 1);
    for (int i = 0; i < 100; i++) cg_buf_printf(&b, "%s\"k%d\":%d", i ? "," : "", i, i);
    cg_buf_append(&b, "}", 1);
    cg_json_t *doc = cg_json_parse("t", cg_buf_data(&b), cg_buf_size(&b), NULL);
    assert_non_null(doc);
    assert_int_equal(cg_json_len(doc), 100);
    for (int i = 0; i < 100; i++) {
        char k[8];
        snprintf(k, sizeof(k), "k%d", i);
        assert_int_equal(cg_json_int(cg_json_get(doc, k)), i);
    }
    assert_null(cg_json_get(doc, "k100"));
    cg_json_free(doc);
    b.len--;
    cg_buf_printf(&b, ",\"k57\":0}");
    assert_null(cg_json_parse("t", cg_buf_data(&b), cg_buf_size(&b), NULL));
    cg_buf_free(&b);
}

/* What must be accepted: the range limits, escapes, surrogate pairs, the whitespace RFC 8259
 * allows, any value at the top. */
static void test_reader_accepts_the_edges(void **state)
{
    (void)state;
    const char *text = " \t\r\n{\"max\":9223372036854775807,\"min\":-9223372036854775808,"
                       "\"s\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\xe2\x82\xac\","
                       "\"r\":-1.5e-3,\"z\":-0,\"e\":[],\"o\":{},\"t\":true,\"f\":false,"
                       "\"n\":null} ";
    cg_buf_t err = {0};
    cg_json_t *doc = cg_json_parse("t", text, strlen(text), &err);
    if (!doc) fail_msg("%.*s", (int)err.len, err.base);
    assert_true(cg_json_int(cg_json_get(doc, "max")) == INT64_MAX);
    assert_true(cg_json_int(cg_json_get(doc, "min")) == INT64_MIN);
    size_t n;
    const char *s = cg_json_string(cg_json_get(doc, "s"), &n);
    const char want[] = "\"\\/\b\f\n\r\t\xc3\xa9\xf0\x9f\x98\x80\xe2\x82\xac";
    assert_int_equal(n, sizeof(want) - 1);
    assert_memory_equal(s, want, n);
    assert_int_equal(cg_json_type(cg_json_get(doc, "r")), CG_JSON_REAL);
    assert_true(cg_json_real(cg_json_get(doc, "r")) == -1.5e-3);
    assert_int_equal(cg_json_type(cg_json_get(doc, "z")), CG_JSON_INT);
    assert_int_equal(cg_json_type(cg_json_get(doc, "e")), CG_JSON_ARRAY);
    assert_int_equal(cg_json_len(cg_json_get(doc, "e")), 0);
    assert_null(cg_json_at(cg_json_get(doc, "e"), 0));
    assert_int_equal(cg_json_type(cg_json_get(doc, "o")), CG_JSON_OBJECT);
    assert_null(cg_json_iter(cg_json_get(doc, "o")));
    assert_true(cg_json_true(cg_json_get(doc, "t")));
    assert_false(cg_json_true(cg_json_get(doc, "f")));
    assert_int_equal(cg_json_type(cg_json_get(doc, "f")), CG_JSON_BOOL);
    assert_int_equal(cg_json_type(cg_json_get(doc, "n")), CG_JSON_NULL);
    assert_non_null(cg_json_get(doc, "n")); /* present, unlike an absent member */
    cg_json_free(doc);
    static const char *tops[] = {"1", "\"x\"", "null", "[[[]]]", "-0.0"};
    for (size_t i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
        doc = cg_json_parse("t", tops[i], strlen(tops[i]), NULL);
        if (!doc) fail_msg("refused %s", tops[i]);
        cg_json_free(doc);
    }
    cg_buf_free(&err);
}

/* Nesting is bounded (no stack exhaustion from a hostile peer); 512 levels still read. */
static void test_reader_bounds_nesting(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    for (int i = 0; i < 512; i++) cg_buf_append(&b, "[", 1);
    for (int i = 0; i < 512; i++) cg_buf_append(&b, "]", 1);
    cg_json_t *doc = cg_json_parse("t", cg_buf_data(&b), cg_buf_size(&b), NULL);
    assert_non_null(doc);
    cg_json_free(doc);
    cg_buf_reset(&b);
    for (int i = 0; i < 100000; i++) cg_buf_append(&b, "[", 1);
    cg_buf_t err = {0};
    assert_null(cg_json_parse("t", cg_buf_data(&b), cg_buf_size(&b), &err));
    assert_non_null(memmem(err.base, err.len, "nested too deep", 15));
    cg_buf_free(&err);
    cg_buf_free(&b);
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
        cmocka_unit_test(test_writer_escapes_keys_and_values),
        cmocka_unit_test(test_writer_refuses_nesting_past_its_bound),
        cmocka_unit_test(test_reader_refuses_ambiguous_text),
        cmocka_unit_test(test_reader_refuses_raw_nul),
        cmocka_unit_test(test_reader_error_has_position),
        cmocka_unit_test(test_reader_large_objects),
        cmocka_unit_test(test_reader_accepts_the_edges),
        cmocka_unit_test(test_reader_bounds_nesting),
        cmocka_unit_test(test_reader_keeps_document_order),
        cmocka_unit_test(test_typed_reads_record_the_first_problem),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
