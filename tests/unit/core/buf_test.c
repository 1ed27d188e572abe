/* Tests of slices, growable buffers, JSON escaping, allocation helpers and the error table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/list.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void assert_buf_eq(const cg_buf_t *b, const char *want)
{
    size_t n = strlen(want);
    if (cg_buf_size(b) != n || (n && memcmp(cg_buf_data(b), want, n) != 0))
        fail_msg("buffer holds \"%.*s\" (%zu bytes), want \"%s\" (%zu bytes)", (int)cg_buf_size(b),
                 cg_buf_data(b), cg_buf_size(b), want, n);
}

static void test_zero_buffer_is_empty_and_usable(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    assert_int_equal(cg_buf_size(&b), 0);
    cg_buf_reset(&b);
    cg_buf_compact(&b);
    assert_int_equal(cg_buf_append(&b, NULL, 0), 0);
    assert_int_equal(cg_buf_size(&b), 0);
    assert_int_equal(cg_buf_append_str(&b, "abc"), 0);
    assert_buf_eq(&b, "abc");
    assert_true(b.cap >= 3);
    cg_buf_free(&b);
    assert_null(b.base);
    assert_int_equal(b.off + b.len + b.cap, 0);
    cg_buf_free(&b); /* freeing twice is harmless */

    cg_buf_t z = {0}; /* printf into a never-used buffer */
    assert_int_equal(cg_buf_printf(&z, "%d-%s", 42, "x"), 0);
    assert_buf_eq(&z, "42-x");
    cg_buf_free(&z);
}

static void test_append_grows_and_keeps_bytes(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    char want[5000];
    for (size_t i = 0; i < sizeof(want); i++) {
        want[i] = (char)('a' + i % 26);
        assert_int_equal(cg_buf_append(&b, &want[i], 1), 0);
    }
    assert_int_equal(cg_buf_size(&b), sizeof(want));
    assert_memory_equal(cg_buf_data(&b), want, sizeof(want));
    assert_true(b.cap >= b.len);
    /* binary data, NUL bytes included */
    cg_buf_reset(&b);
    assert_int_equal(cg_buf_append(&b, "a\0b", 3), 0);
    assert_int_equal(cg_buf_size(&b), 3);
    assert_memory_equal(cg_buf_data(&b), "a\0b", 3);
    assert_int_equal(cg_buf_append_iov(&b, CG_IOV_LIT("cd")), 0);
    assert_memory_equal(cg_buf_data(&b), "a\0bcd", 5);
    cg_buf_free(&b);
}

static void test_consume_compact_reserve(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    assert_int_equal(cg_buf_append_str(&b, "hello world"), 0);
    char *storage = b.base;
    cg_buf_consume(&b, 6);
    assert_buf_eq(&b, "world");
    assert_int_equal(b.off, 6);
    cg_buf_compact(&b);
    assert_int_equal(b.off, 0);
    assert_ptr_equal(b.base, storage);
    assert_buf_eq(&b, "world");
    /* consuming everything rewinds to the start of the storage */
    cg_buf_consume(&b, 5);
    assert_int_equal(b.off, 0);
    assert_int_equal(b.len, 0);
    assert_int_equal(cg_buf_size(&b), 0);

    /* reserve compacts before it grows: consumed bytes are reused */
    cg_buf_reset(&b);
    size_t cap = b.cap;
    char fill[256];
    memset(fill, 'x', sizeof(fill));
    assert_int_equal(cg_buf_append(&b, fill, cap), 0); /* exactly full */
    assert_int_equal(b.cap, cap);
    cg_buf_consume(&b, cap - 10);
    assert_int_equal(cg_buf_reserve(&b, cap - 20), 0);
    assert_int_equal(b.cap, cap); /* no growth was needed */
    assert_int_equal(b.off, 0);
    assert_int_equal(cg_buf_size(&b), 10);
    assert_true(b.cap - b.len >= cap - 20);
    /* and grows when compaction is not enough, keeping the data */
    assert_int_equal(cg_buf_reserve(&b, 10 * cap), 0);
    assert_true(b.cap - b.len >= 10 * cap);
    assert_int_equal(cg_buf_size(&b), 10);
    assert_memory_equal(cg_buf_data(&b), fill, 10);
    /* reserve(0) never fails nor moves anything */
    assert_int_equal(cg_buf_reserve(&b, 0), 0);
    cg_buf_free(&b);
}

static void test_printf(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    assert_int_equal(cg_buf_printf(&b, "%s=%u;", "a", 1u), 0);
    assert_int_equal(cg_buf_printf(&b, "%s", ""), 0);
    assert_int_equal(cg_buf_printf(&b, "%05.1f", 2.5), 0);
    assert_buf_eq(&b, "a=1;002.5");

    /* output larger than the free room: the retry path after reserving */
    char big[3000];
    memset(big, 'q', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    cg_buf_reset(&b);
    assert_int_equal(cg_buf_append_str(&b, "<"), 0);
    assert_int_equal(cg_buf_printf(&b, "%s>", big), 0);
    assert_int_equal(cg_buf_size(&b), sizeof(big) + 1);
    assert_int_equal(cg_buf_data(&b)[0], '<');
    assert_int_equal(cg_buf_data(&b)[sizeof(big) - 1], 'q');
    assert_int_equal(cg_buf_data(&b)[sizeof(big)], '>');

    /* output that fills the free room exactly (vsnprintf truncates by one) */
    for (size_t fill = 0; fill < 40; fill++) {
        cg_buf_t c = {0};
        assert_int_equal(cg_buf_reserve(&c, 32), 0);
        size_t room = c.cap - c.len;
        char s[512];
        memset(s, 'z', room - fill);
        s[room - fill] = '\0';
        assert_int_equal(cg_buf_printf(&c, "%s", s), 0);
        assert_int_equal(cg_buf_size(&c), room - fill);
        assert_memory_equal(cg_buf_data(&c), s, room - fill);
        assert_int_equal(cg_buf_printf(&c, "!"), 0);
        assert_int_equal(cg_buf_data(&c)[room - fill], '!');
        cg_buf_free(&c);
    }

    /* printf after a partial consume keeps the unconsumed prefix */
    cg_buf_reset(&b);
    assert_int_equal(cg_buf_append_str(&b, "0123456789"), 0);
    cg_buf_consume(&b, 4);
    assert_int_equal(cg_buf_printf(&b, "%s", big), 0);
    assert_int_equal(cg_buf_size(&b), 6 + sizeof(big) - 1);
    assert_memory_equal(cg_buf_data(&b), "456789qqq", 9);
    cg_buf_free(&b);
}

static void test_json_escape(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        size_t len;
        const char *want;
    } cases[] = {
        {"plain", 5, "plain"},
        {"", 0, ""},
        {"a\"b", 3, "a\\\"b"},
        {"a\\b", 3, "a\\\\b"},
        {"\n\r\t", 3, "\\u000a\\u000d\\u0009"},
        {"\x01\x1f", 2, "\\u0001\\u001f"},
        {"a\0b", 3, "a\\u0000b"},
        {"\x7f", 1, "\x7f"},
        {"caf\xc3\xa9", 5, "caf\xc3\xa9"}, /* UTF-8 passes through */
        {"</script>", 9, "</script>"},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(cases); i++) {
        cg_buf_t b = {0};
        assert_int_equal(cg_buf_append_json_escaped(&b, cg_iov(cases[i].in, cases[i].len)), 0);
        assert_buf_eq(&b, cases[i].want);
        cg_buf_free(&b);
    }
}

static void test_iov_helpers(void **state)
{
    (void)state;
    assert_true(cg_iov_eq(CG_IOV_LIT("abc"), cg_iov_str("abc")));
    assert_false(cg_iov_eq(CG_IOV_LIT("abc"), cg_iov_str("abC")));
    assert_false(cg_iov_eq(CG_IOV_LIT("abc"), cg_iov_str("ab")));
    assert_true(cg_iov_eq(CG_IOV_NULL, cg_iov_str("")));
    assert_true(cg_iov_eq(CG_IOV_NULL, cg_iov_str(NULL)));
    assert_true(cg_iov_caseeq(CG_IOV_LIT("Keep-Alive"), CG_IOV_LIT("keep-alive")));
    assert_false(cg_iov_caseeq(CG_IOV_LIT("keep-alive"), CG_IOV_LIT("keep-alive ")));
    assert_true(cg_iov_caseeq_lit(CG_IOV_LIT("CLOSE"), "close"));

    static const struct {
        const char *in, *want;
    } trims[] = {
        {"", ""}, {"   ", ""}, {" a ", "a"}, {"\t a b \t", "a b"}, {"a", "a"}, {"\ra\r", "\ra\r"},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(trims); i++) {
        cg_iov_t t = cg_iov_trim(cg_iov_str(trims[i].in));
        if (!cg_iov_eq(t, cg_iov_str(trims[i].want)))
            fail_msg("trim(\"%s\") = \"%.*s\", want \"%s\"", trims[i].in, (int)t.len, t.base,
                     trims[i].want);
    }

    static const struct {
        const char *list, *token;
        int want;
    } lists[] = {
        {"close", "close", 1},
        {"Close", "close", 1},
        {"keep-alive, Upgrade", "upgrade", 1},
        {"keep-alive,upgrade", "keep-alive", 1},
        {" a ,\tb\t, c ", "b", 1},
        {"a,,b", "b", 1},
        {"closed", "close", 0},
        {"x-close", "close", 0},
        {"clos", "close", 0},
        {"", "close", 0},
        {",", "close", 0},
        {"a b", "a", 0},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(lists); i++) {
        int got = cg_iov_list_has(cg_iov_str(lists[i].list), lists[i].token);
        if (got != lists[i].want)
            fail_msg("list_has(\"%s\", \"%s\") = %d, want %d", lists[i].list, lists[i].token, got,
                     lists[i].want);
    }
    /* an absent header is an empty slice with a NULL base */
    assert_int_equal(cg_iov_list_has(CG_IOV_NULL, "close"), 0);
}

static void test_xalloc(void **state)
{
    (void)state;
    char *s = cg_xstrdup("hello");
    assert_string_equal(s, "hello");
    free(s);
    s = cg_xstrndup("hello", 3);
    assert_string_equal(s, "hel");
    free(s);
    s = cg_xstrndup("", 0);
    assert_string_equal(s, "");
    free(s);
    int *v = cg_xcalloc(8, sizeof(int));
    for (int i = 0; i < 8; i++) assert_int_equal(v[i], 0);
    v = cg_xrealloc(v, 16 * sizeof(int));
    v[15] = 1;
    free(v);
    void *z = cg_xmalloc(0); /* a zero-size request still returns a pointer */
    assert_non_null(z);
    free(z);

    CG_VEC(int) vec = {0};
    for (int i = 0; i < 100; i++) cg_vec_push(&vec, i * 2);
    assert_int_equal(vec.len, 100);
    assert_true(vec.cap >= 100);
    for (int i = 0; i < 100; i++) assert_int_equal(vec.items[i], i * 2);
    cg_vec_free(&vec);
    assert_null(vec.items);
    assert_int_equal(vec.len, 0);
}

static void test_list(void **state)
{
    (void)state;
    typedef struct {
        int v;
        cg_list_t link;
    } item_t;
    cg_list_t head;
    cg_list_init(&head);
    assert_true(cg_list_empty(&head));
    item_t items[4] = {{.v = 0}, {.v = 1}, {.v = 2}, {.v = 3}};
    cg_list_t zero = {0};
    assert_false(cg_list_linked(&zero)); /* all-zero node counts as unlinked */
    cg_list_insert_tail(&head, &items[1].link);
    cg_list_insert_tail(&head, &items[2].link);
    cg_list_insert_head(&head, &items[0].link);
    cg_list_insert_tail(&head, &items[3].link);
    assert_true(cg_list_linked(&items[2].link));
    cg_list_unlink(&items[2].link);
    assert_false(cg_list_linked(&items[2].link));
    int want[] = {0, 1, 3}, i = 0;
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &head)
    {
        item_t *it = cg_container_of(pos, item_t, link);
        assert_true(i < 3);
        assert_int_equal(it->v, want[i++]);
        cg_list_unlink(pos); /* safe iteration allows unlinking the current node */
    }
    assert_int_equal(i, 3);
    assert_true(cg_list_empty(&head));
}

static void test_err_table(void **state)
{
    (void)state;
    static const int codes[] = {
#define X(name, msg) CG_##name,
        CG_ERRNO_MAP(X)
#undef X
    };
    static const char *const msgs[] = {
#define X(name, msg) msg,
        CG_ERRNO_MAP(X)
#undef X
    };
    assert_string_equal(cg_strerror(CG_OK), "ok");
    for (size_t i = 0; i < CG_ARRAY_SIZE(codes); i++) {
        assert_true(codes[i] < 0);
        assert_true(codes[i] > -4096); /* distinct from -errno values mistaken for CG_E* */
        assert_string_equal(cg_strerror(codes[i]), msgs[i]);
        for (size_t j = 0; j < i; j++) assert_int_not_equal(codes[i], codes[j]);
    }
    assert_string_equal(cg_strerror(CG_EAGAIN), "resource temporarily unavailable");
    assert_string_equal(cg_strerror(CG_EPARSE), "parse error");
    assert_string_equal(cg_strerror(1), "unknown error");
    assert_string_equal(cg_strerror(-1), "unknown error");
    assert_string_equal(cg_strerror(CG__ERR_FIRST), "unknown error");
    assert_string_equal(cg_strerror(CG__ERR_LAST), "unknown error");
}

static void test_err_from_errno(void **state)
{
    (void)state;
    static const struct {
        int e, want;
    } cases[] = {
        {EAGAIN, CG_EAGAIN},         {EWOULDBLOCK, CG_EAGAIN},
        {ENOMEM, CG_ENOMEM},         {EINVAL, CG_EINVAL},
        {ETIMEDOUT, CG_ETIMEDOUT},   {ECONNREFUSED, CG_ECONNREFUSED},
        {ECONNRESET, CG_ECONNRESET}, {EPIPE, CG_ECONNRESET},
        {ENOENT, CG_ENOENT},         {EEXIST, CG_EEXIST},
        {EADDRINUSE, CG_EADDRINUSE}, {EBADF, CG_ESYS},
        {EACCES, CG_EACCES},         {0, CG_ESYS},
    };
    for (size_t i = 0; i < CG_ARRAY_SIZE(cases); i++) {
        int got = cg_err_from_errno(cases[i].e);
        if (got != cases[i].want)
            fail_msg("errno %d (%s) maps to %d (%s), want %d (%s)", cases[i].e,
                     strerror(cases[i].e), got, cg_strerror(got), cases[i].want,
                     cg_strerror(cases[i].want));
    }
}

static char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *fmt(const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    char *s = cg_xvasprintf(f, ap);
    va_end(ap);
    return s;
}

/* The formatted string is whole, however long, and an empty format gives "". */
static void test_xvasprintf_formats_whole_strings(void **state)
{
    (void)state;
    char *s = fmt("%s/%d", "a", 7);
    assert_string_equal(s, "a/7");
    free(s);
    s = fmt("%s", "");
    assert_string_equal(s, "");
    free(s);
    char big[5000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    s = fmt("<%s>", big);
    assert_int_equal(strlen(s), sizeof(big) + 1);
    assert_int_equal(s[0], '<');
    assert_int_equal(s[sizeof(big)], '>');
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_zero_buffer_is_empty_and_usable),
        cmocka_unit_test(test_xvasprintf_formats_whole_strings),
        cmocka_unit_test(test_append_grows_and_keeps_bytes),
        cmocka_unit_test(test_consume_compact_reserve),
        cmocka_unit_test(test_printf),
        cmocka_unit_test(test_json_escape),
        cmocka_unit_test(test_iov_helpers),
        cmocka_unit_test(test_xalloc),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_err_table),
        cmocka_unit_test(test_err_from_errno),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
