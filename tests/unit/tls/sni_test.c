/* Tests of SNI choice without a handshake (includes tls/server.c for its static functions): the
 * server_name extension parsed from hostile bytes, and the server each name picks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../../../src/tls/server.c"

static void test_sni_parse(void **state)
{
    static const struct {
        const char *bytes;
        size_t len;
        const char *name; /* NULL: none */
    } cases[] = {
        {"\x00\x0c\x00\x00\x09"
         "a.example",
         14, "a.example"},
        /* a name of another type first, then the host name */
        {"\x00\x0e\x01\x00\x01X\x00\x00\x07"
         "b.examp",
         16, "b.examp"},
        {"\x00\x0d\x00\x00\x09"
         "a.example",
         14, NULL}, /* list length too long */
        {"\x00\x0b\x00\x00\x09"
         "a.example",
         14, NULL}, /* list length too short */
        {"\x00\x0c\x00\x00\x0a"
         "a.example",
         14, NULL},                            /* name runs past the end */
        {"\x00\x03\x00\x00\x00", 5, NULL},     /* empty name */
        {"\x00\x04\x00\x00\x01\x00", 6, NULL}, /* a NUL inside */
        {"\x00\x05\x01\x00\x02xy", 7, NULL},   /* no host_name entry */
        {"\x00", 1, NULL},
        {"", 0, NULL},
        {"\x00\x02\x00\x00", 4, NULL}, /* an entry cut short */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *name = (const char *)1;
        size_t len = 99;
        sni_parse((const unsigned char *)cases[i].bytes, cases[i].len, &name, &len);
        if (!cases[i].name) {
            assert_null(name);
            assert_int_equal(len, 0);
        } else {
            assert_int_equal(len, strlen(cases[i].name));
            assert_memory_equal(name, cases[i].name, len);
        }
    }
}

static void test_pick(void **state)
{
    static const char *const hosts[] = {"first.example", "*.example",   "*",
                                        "a.example",     "*.b.example", "*.x.b.example"};
    cg_tls__srv_t srv[6] = {0};
    for (size_t i = 0; i < 6; i++) srv[i].hostname = (char *)hosts[i];
    cg_tls_servers_t set = {.n = 6, .srv = srv};
    static const struct {
        const char *sni;
        int index;
    } cases[] = {
        {"first.example", 0},  {"a.example", 3}, /* exact before wildcard */
        {"A.EXAMPLE", 3},                        /* case-insensitive */
        {"c.example", 1},                        /* one label under *.example */
        {"y.b.example", 4},                      /* the longer wildcard wins */
        {"z.x.b.example", 5},  {"b.example", 1},
        {"deep.c.example", 2}, /* *.example covers one label only: the "*" server */
        {"example", 2},        {".example", 2}, /* an empty label is no label */
        {"other.test", 2},     {NULL, 0},       /* no SNI: the first server, not "*" */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *n = cases[i].sni;
        assert_int_equal(pick(&set, n, n ? strlen(n) : 0), cases[i].index);
    }
    /* without a "*" server, unknown names get the first */
    set.n = 2;
    assert_int_equal(pick(&set, "other.test", 10), 0);
    assert_int_equal(pick(&set, "q.example", 9), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sni_parse),
        cmocka_unit_test(test_pick),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
