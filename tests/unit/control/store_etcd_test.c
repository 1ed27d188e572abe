/* Tests of the etcd backend's pure half: keys, base64, request bodies, and the parsing of the
 * v3 gateway's answers (hand-written as etcd 3.4 writes them, error answers included). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "control/store_etcd_wire.h"
#include "core/err.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_keys_escape_every_segment(void **state)
{
    (void)state;
    cg_buf_t k = {0};
    cg_etcd_res_key(&k, CG_KIND_SERVICE, "cluster-1", "bookinfo", "pp");
    assert_string_equal(k.base, "/crossgate/resources/Service/cluster-1/bookinfo/pp");
    cg_buf_reset(&k);
    cg_etcd_res_key(&k, CG_KIND_CLUSTER, "", "", "c1");
    assert_string_equal(k.base, "/crossgate/resources/Cluster///c1");
    /* a "/" in a name cannot make two identities one key */
    cg_buf_reset(&k);
    cg_etcd_res_key(&k, CG_KIND_SERVICE, "a", "b/c", "d");
    assert_string_equal(k.base, "/crossgate/resources/Service/a/b%2Fc/d");
    cg_buf_reset(&k);
    cg_etcd_res_key(&k, CG_KIND_SERVICE, "a", "b%2Fc", "d");
    assert_string_equal(k.base, "/crossgate/resources/Service/a/b%252Fc/d");
    cg_buf_reset(&k);
    cg_etcd_lease_key(&k, "i-00ff");
    assert_string_equal(k.base, "/crossgate/leases/i-00ff");
    cg_buf_free(&k);
}

static void check_b64(const char *plain, const char *encoded)
{
    cg_buf_t e = {0}, d = {0};
    cg_etcd_b64_encode(&e, plain, strlen(plain));
    assert_int_equal(e.len, strlen(encoded));
    assert_memory_equal(e.base ? e.base : "", encoded, e.len);
    assert_int_equal(cg_etcd_b64_decode(&d, encoded, strlen(encoded)), 0);
    assert_int_equal(d.len, strlen(plain));
    assert_memory_equal(d.base ? d.base : "", plain, d.len);
    cg_buf_free(&e);
    cg_buf_free(&d);
}

static void test_base64_round_trips_and_rejects(void **state)
{
    (void)state;
    check_b64("", "");
    check_b64("f", "Zg==");
    check_b64("fo", "Zm8=");
    check_b64("foo", "Zm9v");
    check_b64("foobar", "Zm9vYmFy");
    check_b64("/crossgate/", "L2Nyb3NzZ2F0ZS8=");
    static const char *bad[] = {"Zg", "Zg=", "Z===", "Zm9v!A==", "Zg==Zg==", "=Zg="};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        cg_buf_t d = {0};
        assert_int_equal(cg_etcd_b64_decode(&d, bad[i], strlen(bad[i])), CG_EPARSE);
        cg_buf_free(&d);
    }
}

static void test_range_body_covers_the_prefix(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    cg_etcd_range_body(&b, "/crossgate/", 1);
    /* range_end is "/crossgate0": the prefix with its last byte raised by one */
    assert_int_equal(b.len,
                     strlen("{\"key\":\"L2Nyb3NzZ2F0ZS8=\",\"range_end\":\"L2Nyb3NzZ2F0ZTA=\"}"));
    assert_memory_equal(b.base, "{\"key\":\"L2Nyb3NzZ2F0ZS8=\",\"range_end\":\"L2Nyb3NzZ2F0ZTA=\"}",
                        b.len);
    cg_buf_reset(&b);
    cg_etcd_range_body(&b, "a", 0);
    assert_int_equal(b.len, strlen("{\"key\":\"YQ==\"}"));
    assert_memory_equal(b.base, "{\"key\":\"YQ==\"}", b.len);
    cg_buf_free(&b);
}

static void test_txn_body_has_compares_then_writes(void **state)
{
    (void)state;
    cg_etcd_txn_t t = {0};
    cg_buf_t b = {0};
    cg_etcd_txn_compare_mod(&t, "a", 0);
    cg_etcd_txn_compare_mod(&t, "b", 12);
    cg_etcd_txn_put(&t, "a", "x", 1);
    cg_etcd_txn_delete(&t, "b");
    cg_etcd_txn_body(&t, &b);
    static const char want[] =
        "{\"compare\":[{\"key\":\"YQ==\",\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":"
        "\"0\"},{\"key\":\"Yg==\",\"target\":\"MOD\",\"result\":\"EQUAL\",\"mod_revision\":\"12\"}"
        "],\"success\":[{\"request_put\":{\"key\":\"YQ==\",\"value\":\"eA==\"}},"
        "{\"request_delete_range\":{\"key\":\"Yg==\"}}]}";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.base, want, b.len);
    /* it is JSON */
    cg_json_t *doc = cg_json_parse("txn", b.base, b.len, NULL);
    assert_non_null(doc);
    cg_json_free(doc);
    cg_buf_reset(&b);
    cg_etcd_txn_body(&t, &b); /* an empty one after: the txn was freed */
    assert_int_equal(b.len, strlen("{\"compare\":[],\"success\":[]}"));
    cg_buf_free(&b);
}

static int parse(int status, const char *body, cg_etcd_answer_t *a, cg_buf_t *err)
{
    cg_buf_reset(err);
    return cg_etcd_answer_parse(status, body, strlen(body), a, err);
}

static void test_answers_parse(void **state)
{
    (void)state;
    cg_etcd_answer_t a;
    cg_buf_t err = {0};
    /* a range, as etcd 3.4 answers it */
    assert_int_equal(
        parse(200,
              "{\"header\":{\"cluster_id\":\"18109415925192441486\",\"member_id\":"
              "\"14151223598256048048\",\"revision\":\"2\",\"raft_term\":\"2\"},\"kvs\":[{\"key\":"
              "\"YQ==\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":\"1\","
              "\"value\":\"Yg==\"}],\"count\":\"1\"}",
              &a, &err),
        0);
    assert_int_equal(a.revision, 2);
    assert_int_equal(a.kvs.len, 1);
    assert_string_equal(a.kvs.items[0].key, "a");
    assert_string_equal(a.kvs.items[0].value, "b");
    assert_int_equal(a.kvs.items[0].value_len, 1);
    assert_int_equal(a.kvs.items[0].create_rev, 2);
    assert_int_equal(a.kvs.items[0].mod_rev, 2);
    assert_false(a.succeeded);
    cg_etcd_answer_free(&a);
    /* an empty value is left out */
    assert_int_equal(parse(200,
                           "{\"header\":{\"revision\":\"7\"},\"kvs\":[{\"key\":\"YQ==\","
                           "\"create_revision\":\"3\",\"mod_revision\":\"7\"}]}",
                           &a, &err),
                     0);
    assert_string_equal(a.kvs.items[0].value, "");
    assert_int_equal(a.kvs.items[0].value_len, 0);
    cg_etcd_answer_free(&a);
    /* a txn that succeeded; one whose compare failed (no "succeeded": false is left out) */
    assert_int_equal(parse(200,
                           "{\"header\":{\"revision\":\"9\"},\"succeeded\":true,\"responses\":[{"
                           "\"response_put\":{\"header\":{\"revision\":\"9\"}}}]}",
                           &a, &err),
                     0);
    assert_true(a.succeeded);
    assert_int_equal(a.revision, 9);
    cg_etcd_answer_free(&a);
    assert_int_equal(parse(200, "{\"header\":{\"revision\":\"9\"}}", &a, &err), 0);
    assert_false(a.succeeded);
    assert_int_equal(a.kvs.len, 0);
    cg_etcd_answer_free(&a);
}

static void test_error_answers(void **state)
{
    (void)state;
    cg_etcd_answer_t a;
    cg_buf_t err = {0};
    /* etcd's own error answers: the cause, one line */
    assert_int_equal(parse(400,
                           "{\"error\":\"illegal base64 data at input byte 0\",\"message\":"
                           "\"illegal base64 data at input byte 0\",\"code\":3}",
                           &a, &err),
                     CG_EIO);
    assert_int_equal(err.len, strlen("etcd answered 400: illegal base64 data at input byte 0"));
    assert_memory_equal(err.base, "etcd answered 400: illegal base64 data at input byte 0",
                        err.len);
    cg_etcd_answer_free(&a);
    /* no leader, deadline: try again (another endpoint, or later) */
    assert_int_equal(parse(503,
                           "{\"error\":\"etcdserver: no leader\",\"message\":\"etcdserver: no "
                           "leader\",\"code\":14}",
                           &a, &err),
                     CG_EAGAIN);
    assert_non_null(strstr(err.base, "no leader"));
    cg_etcd_answer_free(&a);
    assert_int_equal(
        parse(500, "{\"error\":\"etcdserver: request timed out\",\"code\":4}", &a, &err),
        CG_EAGAIN);
    cg_etcd_answer_free(&a);
    assert_int_equal(parse(502, "<html>bad gateway</html>", &a, &err), CG_EIO);
    assert_int_equal(err.len, strlen("etcd answered 502"));
    cg_etcd_answer_free(&a);
    /* a 200 that is not a gateway answer */
    static const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"header\":{}}",
        "{\"header\":{\"revision\":\"x1\"}}",
        "{\"header\":{\"revision\":\"-1\"}}",
        "{\"header\":{\"revision\":\"99999999999999999999\"}}",
        "{\"header\":{\"revision\":\"2\"},\"succeeded\":\"yes\"}",
        "{\"header\":{\"revision\":\"2\"},\"kvs\":{}}",
        "{\"header\":{\"revision\":\"2\"},\"kvs\":[1]}",
        "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"YQ\",\"create_revision\":\"1\","
        "\"mod_revision\":\"1\"}]}",
        "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"YQ==\",\"create_revision\":\"1\"}]}",
        "{\"header\":{\"revision\":\"2\"},\"kvs\":[{\"key\":\"YQ==\",\"value\":7,"
        "\"create_revision\":\"1\",\"mod_revision\":\"1\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        assert_int_equal(parse(200, bad[i], &a, &err), CG_EPARSE);
        assert_non_null(strstr(err.base, "not an answer of the v3 gateway"));
        assert_null(strchr(err.base, '\n'));
        assert_int_equal(a.kvs.len, 0);
        cg_etcd_answer_free(&a);
    }
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_escape_every_segment),
        cmocka_unit_test(test_base64_round_trips_and_rejects),
        cmocka_unit_test(test_range_body_covers_the_prefix),
        cmocka_unit_test(test_txn_body_has_compares_then_writes),
        cmocka_unit_test(test_answers_parse),
        cmocka_unit_test(test_error_answers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
