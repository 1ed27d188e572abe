/* Tests of the registration answer (translate/registration.h): what the control plane writes,
 * the agent reads back, and what the agent refuses from a control plane it cannot trust. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "translate/registration.h"

#include <stdio.h>
#include <string.h>

static void test_answer_round_trip(void **state)
{
    (void)state;
    cg_registration_answer_t a = {.heartbeat_ms = 1000, .ttl_ms = 3000}, b;
    snprintf(a.id, sizeof(a.id), "0123456789abcdef0123456789abcdef");
    cg_buf_t out = {0}, err = {0};
    assert_int_equal(cg_registration_answer_encode(&a, &out), 0);
    cg_buf_append(&out, "", 1);
    assert_string_equal(cg_buf_data(&out),
                        "{\"id\":\"0123456789abcdef0123456789abcdef\",\"heartbeat_ms\":1000,"
                        "\"ttl_ms\":3000}");
    assert_int_equal(cg_registration_answer_decode(cg_buf_data(&out), out.len - 1, &b, &err), 0);
    assert_string_equal(b.id, a.id);
    assert_int_equal(b.heartbeat_ms, 1000);
    assert_int_equal(b.ttl_ms, 3000);
    cg_buf_free(&out);
    cg_buf_free(&err);
}

static void test_answer_defaults_heartbeat(void **state)
{
    (void)state;
    cg_registration_answer_t b;
    cg_buf_t err = {0};
    static const char doc[] = "{\"id\":\"abc\",\"future\":true}"; /* unknown members ignored */
    assert_int_equal(cg_registration_answer_decode(doc, sizeof(doc) - 1, &b, &err), 0);
    assert_string_equal(b.id, "abc");
    assert_int_equal(b.heartbeat_ms, 1000);
    cg_buf_free(&err);
}

static void test_answer_refuses_hostile_documents(void **state)
{
    (void)state;
    static const struct {
        const char *doc, *why;
    } cases[] = {
        {"", "registration answer"},
        {"[]", "expected an object"},
        {"{\"heartbeat_ms\":1000}", "id"},
        {"{\"id\":\"\"}", "id"},
        {"{\"id\":\"a b\"}", "printable"},
        {"{\"id\":\"a\\nb\"}", "printable"},
        {"{\"id\":7}", "id"},
        {"{\"id\":\"0123456789012345678901234567890123456789012345678901234567890123\"}",
         "longer than 63"},
        {"{\"id\":\"a\",\"heartbeat_ms\":0}", "heartbeat_ms"},
        {"{\"id\":\"a\",\"heartbeat_ms\":60001}", "heartbeat_ms"},
        {"{\"id\":\"a\",\"heartbeat_ms\":-5}", "heartbeat_ms"},
        {"{\"id\":\"a\",\"heartbeat_ms\":\"1000\"}", "heartbeat_ms"},
        {"{\"id\":\"a\",\"id\":\"b\"}", "duplicate"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_registration_answer_t b;
        cg_buf_t err = {0};
        int r = cg_registration_answer_decode(cases[i].doc, strlen(cases[i].doc), &b, &err);
        cg_buf_append(&err, "", 1);
        if (r != CG_EINVAL) fail_msg("accepted %s", cases[i].doc);
        if (!strstr(cg_buf_data(&err), cases[i].why))
            fail_msg("%s: \"%s\" does not say \"%s\"", cases[i].doc, cg_buf_data(&err),
                     cases[i].why);
        cg_buf_free(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_answer_round_trip),
        cmocka_unit_test(test_answer_defaults_heartbeat),
        cmocka_unit_test(test_answer_refuses_hostile_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
