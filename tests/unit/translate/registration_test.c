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

/* The mTLS port: encoded when set, read back; anything but a port number 1..65535 refused. */
static void test_registration_mtls_port(void **state)
{
    (void)state;
    cg_registration_t r = {.cluster = "c1",
                           .namespace_ = "ns",
                           .address = "127.0.0.1",
                           .mtls_port = 15443},
                      b;
    cg_buf_t out = {0}, err = {0};
    assert_int_equal(cg_registration_encode(&r, &out), 0);
    cg_buf_append(&out, "", 1);
    assert_non_null(strstr(cg_buf_data(&out), "\"mtls_port\":15443"));
    assert_int_equal(cg_registration_decode(cg_buf_data(&out), out.len - 1, &b, &err), 0);
    assert_int_equal(b.mtls_port, 15443);
    cg_registration_clear(&b);
    cg_buf_free(&out);
    r.mtls_port = 0; /* no identity: not in the document at all */
    assert_int_equal(cg_registration_encode(&r, &out), 0);
    cg_buf_append(&out, "", 1);
    assert_null(strstr(cg_buf_data(&out), "mtls_port"));
    assert_int_equal(cg_registration_decode(cg_buf_data(&out), out.len - 1, &b, &err), 0);
    assert_int_equal(b.mtls_port, 0);
    cg_registration_clear(&b);
    cg_buf_free(&out);
    static const char *const bad[] = {"0", "65536", "-1", "1.5", "\"15443\"", "null", "true"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char doc[160];
        snprintf(doc, sizeof(doc),
                 "{\"cluster\":\"c1\",\"address\":\"127.0.0.1\",\"mtls_port\":%s}", bad[i]);
        cg_buf_free(&err);
        if (cg_registration_decode(doc, strlen(doc), &b, &err) != CG_EINVAL)
            fail_msg("accepted %s", doc);
        cg_buf_append(&err, "", 1);
        if (!strstr(cg_buf_data(&err), "mtls_port: expected a port number 1..65535"))
            fail_msg("%s: \"%s\"", doc, cg_buf_data(&err));
    }
    cg_buf_free(&err);
}

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
        cmocka_unit_test(test_registration_mtls_port),
        cmocka_unit_test(test_answer_round_trip),
        cmocka_unit_test(test_answer_defaults_heartbeat),
        cmocka_unit_test(test_answer_refuses_hostile_documents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
