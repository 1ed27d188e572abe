/* Tests of the table machinery's scalar rules: durations, IPs, hostnames, regexes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/resource.h"
#include "model/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_durations(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        int ok;
        int64_t ms;
    } cases[] = {
        {"0", 1, 0},       {"250ms", 1, 250}, {"1s", 1, 1000},    {"1.5s", 1, 1500},
        {"15s", 1, 15000}, {"2m", 1, 120000}, {"1h", 1, 3600000}, {"1m30s", 1, 90000},
        {"0.5ms", 1, 1},   {"0s", 1, 0},      {"", 0, 0},         {"10", 0, 0},
        {"1x", 0, 0},      {"-1s", 0, 0},     {"s", 0, 0},        {"1e3s", 0, 0},
        {"0x10s", 0, 0},   {"1s ", 0, 0},     {"1 s", 0, 0},      {"1.2.3s", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t ms = -1;
        int rc = cg_model_parse_duration(cases[i].text, &ms);
        if (cases[i].ok) {
            if (rc != 0) fail_msg("\"%s\" should parse", cases[i].text);
            if (ms != cases[i].ms)
                fail_msg("\"%s\": %lld ms, want %lld", cases[i].text, (long long)ms,
                         (long long)cases[i].ms);
        } else if (rc != CG_EINVAL) {
            fail_msg("\"%s\" should not parse", cases[i].text);
        }
    }
}

static void test_checks(void **state)
{
    (void)state;
    assert_null(cg_model_check_ip("127.0.0.1"));
    assert_null(cg_model_check_ip("::1"));
    assert_null(cg_model_check_ip("fe80::1"));
    assert_non_null(cg_model_check_ip("1.2.3"));
    assert_non_null(cg_model_check_ip("localhost"));
    assert_non_null(cg_model_check_ip("127.0.0.1:80"));

    assert_null(cg_model_check_hostname("bookinfo.tse.tetratelabs.io"));
    assert_null(cg_model_check_hostname("*.tetratelabs.io"));
    assert_null(cg_model_check_hostname("*"));
    assert_null(cg_model_check_hostname("localhost"));
    assert_non_null(cg_model_check_hostname(""));
    assert_non_null(cg_model_check_hostname("a..b"));
    assert_non_null(cg_model_check_hostname("a.b."));
    assert_non_null(cg_model_check_hostname("*x.b"));
    assert_non_null(cg_model_check_hostname("a.*.b"));
    assert_non_null(cg_model_check_hostname("host:80"));
    assert_non_null(cg_model_check_hostname("a b"));

    assert_null(cg_model_check_regex("^/api/v[0-9]+$"));
    const char *why = cg_model_check_regex("a(");
    assert_non_null(why);
    assert_non_null(strstr(why, "invalid regular expression"));
}

/* Every table is well formed: fields fit the presence bitmask, names are unique, one-of
 * groups name real fields, required fields have no defaults, and every field is documented. */
static void test_tables(void **state)
{
    (void)state;
    for (size_t s = 0; cg_model_all_schemas[s]; s++) {
        const cg_model_schema_t *sc = cg_model_all_schemas[s];
        assert_true(sc->nfields <= 64);
        for (size_t i = 0; i < sc->nfields; i++) {
            const cg_model_field_t *f = &sc->fields[i];
            if (f->doc == NULL) fail_msg("%s.%s has no doc", sc->name, f->name);
            for (size_t j = 0; j < i; j++)
                if (strcmp(f->name, sc->fields[j].name) == 0)
                    fail_msg("%s.%s twice", sc->name, f->name);
            assert_false((f->flags & CG_MF_REQUIRED) && (f->flags & CG_MF_DEFAULT));
            if (f->type == CG_MT_STRUCT || f->type == CG_MT_OBJECT || f->type == CG_MT_LIST ||
                f->type == CG_MT_OBJMAP)
                assert_non_null(f->sub);
        }
        for (size_t o = 0; o < sc->noneofs; o++)
            for (size_t j = 0; j < 4 && sc->oneofs[o].names[j]; j++)
                assert_non_null(cg_model_schema_field(sc, sc->oneofs[o].names[j]));
    }
}

/* docs/resources.md names every field of every table (as `name`, `a.name`, `name[]...`). */
static int documented(const char *doc, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = doc; (p = strstr(p, name)) != NULL; p++) {
        if (p == doc) continue;
        char before = p[-1], after = p[n];
        if ((before == '`' || before == '.') && (after == '`' || after == '.' || after == '['))
            return 1;
    }
    return 0;
}

static void test_docs_cover_tables(void **state)
{
    (void)state;
    FILE *f = fopen(CG_SOURCE_DIR "/docs/resources.md", "r");
    assert_non_null(f);
    static char doc[1 << 17];
    size_t len = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[len] = '\0';
    for (size_t s = 0; cg_model_all_schemas[s]; s++)
        for (size_t i = 0; i < cg_model_all_schemas[s]->nfields; i++) {
            const char *name = cg_model_all_schemas[s]->fields[i].name;
            if (!documented(doc, name)) fail_msg("docs/resources.md does not mention `%s`", name);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_durations),
        cmocka_unit_test(test_checks),
        cmocka_unit_test(test_tables),
        cmocka_unit_test(test_docs_cover_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
