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
    /* a message with a newline and an escape cannot forge a log line: they come out as '?' */
    assert_int_equal(
        parse(400, "{\"error\":\"bad\\n2026-01-01 [info] forged\\u001b[2J\",\"code\":3}", &a, &err),
        CG_EIO);
    static const char shown[] = "etcd answered 400: bad?2026-01-01 [info] forged?[2J";
    assert_int_equal(err.len, strlen(shown));
    assert_memory_equal(err.base, shown, err.len);
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

/* ---- the watch's stream ---- */

/* Captured from Debian's etcd 3.4.23 (curl -N --raw on /v3/watch of /crossgate/): a watch from
 * revision 1 over a put, a second put of the same key, a put with no value, a txn of two puts,
 * a delete (W1); a watch from a compacted revision (W2); a watch while etcd stops (W4: the
 * error message has no newline, and the body ends). */
/* W1: the body of a watch, as etcd 3.4.23 sent it */
static const char W1_BODY[] =
    "8c\r\n"
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"1\",\"raft_term\":\"2\"},\"created\":true}}\n"
    "\r\n"
    "108\r\n"
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"2\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":"
    "\"L2Nyb3NzZ2F0ZS9sZWFzZXMvaS0x\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":"
    "\"1\",\"value\":\"eyJpZCI6ImktMSJ9\"}}]}}\n"
    "\r\n"
    "110\r\n"
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"3\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":"
    "\"L2Nyb3NzZ2F0ZS9sZWFzZXMvaS0x\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":"
    "\"2\",\"value\":\"eyJpZCI6ImktMSIsIngiOjJ9\"}}]}}\n"
    "\r\n"
    "ed\r\n"
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"4\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":"
    "\"L2Nyb3NzZ2F0ZS9tZXRhL2VtcHR5\",\"create_revision\":\"4\",\"mod_revision\":\"4\",\"version\":"
    "\"1\"}}]}}\n"
    "\r\n"
    "178\r\n"
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"5\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":"
    "\"L2Nyb3NzZ2F0ZS9yZXNvdXJjZXMvYQ==\",\"create_revision\":\"5\",\"mod_revision\":\"5\","
    "\"version\":\"1\",\"value\":\"djE=\"}},{\"kv\":{\"key\":\"L2Nyb3NzZ2F0ZS9yZXNvdXJjZXMvYg==\","
    "\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"djI=\"}}]}}\n"
    "\r\n"
    "d9\r\n"
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"6\",\"raft_term\":\"2\"},\"events\":[{\"type\":"
    "\"DELETE\",\"kv\":{\"key\":\"L2Nyb3NzZ2F0ZS9sZWFzZXMvaS0x\",\"mod_revision\":\"6\"}}]}}\n"
    "\r\n";
static const char *const W1_LINES[] = {
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"1\",\"raft_term\":\"2\"},\"created\":true}}",
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"2\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":"
    "\"L2Nyb3NzZ2F0ZS9sZWFzZXMvaS0x\",\"create_revision\":\"2\",\"mod_revision\":\"2\",\"version\":"
    "\"1\",\"value\":\"eyJpZCI6ImktMSJ9\"}}]}}",
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"3\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":"
    "\"L2Nyb3NzZ2F0ZS9sZWFzZXMvaS0x\",\"create_revision\":\"2\",\"mod_revision\":\"3\",\"version\":"
    "\"2\",\"value\":\"eyJpZCI6ImktMSIsIngiOjJ9\"}}]}}",
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"4\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":"
    "\"L2Nyb3NzZ2F0ZS9tZXRhL2VtcHR5\",\"create_revision\":\"4\",\"mod_revision\":\"4\",\"version\":"
    "\"1\"}}]}}",
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"5\",\"raft_term\":\"2\"},\"events\":[{\"kv\":{\"key\":"
    "\"L2Nyb3NzZ2F0ZS9yZXNvdXJjZXMvYQ==\",\"create_revision\":\"5\",\"mod_revision\":\"5\","
    "\"version\":\"1\",\"value\":\"djE=\"}},{\"kv\":{\"key\":\"L2Nyb3NzZ2F0ZS9yZXNvdXJjZXMvYg==\","
    "\"create_revision\":\"5\",\"mod_revision\":\"5\",\"version\":\"1\",\"value\":\"djI=\"}}]}}",
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"6\",\"raft_term\":\"2\"},\"events\":[{\"type\":"
    "\"DELETE\",\"kv\":{\"key\":\"L2Nyb3NzZ2F0ZS9sZWFzZXMvaS0x\",\"mod_revision\":\"6\"}}]}}",
};
/* W2: the body of a watch, as etcd 3.4.23 sent it */
static const char W2_BODY[] =
    "8c\r\n"
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"6\",\"raft_term\":\"2\"},\"created\":true}}\n"
    "\r\n"
    "95\r\n"
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"raft_term\":\"2\"},\"canceled\":true,\"compact_revision\":\"5\"}}\n"
    "\r\n";
static const char *const W2_LINES[] = {
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"6\",\"raft_term\":\"2\"},\"created\":true}}",
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"raft_term\":\"2\"},\"canceled\":true,\"compact_revision\":\"5\"}}",
};
/* W4: the body of a watch, as etcd 3.4.23 sent it */
static const char W4_BODY[] =
    "8c\r\n"
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"6\",\"raft_term\":\"2\"},\"created\":true}}\n"
    "\r\n"
    "6f\r\n"
    "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"transport is "
    "closing\",\"http_status\":\"Service Unavailable\"}}\r\n"
    "0\r\n"
    "\r\n";
static const char *const W4_LINES[] = {
    "{\"result\":{\"header\":{\"cluster_id\":\"15308182597250912163\",\"member_id\":"
    "\"6790082237667345688\",\"revision\":\"6\",\"raft_term\":\"2\"},\"created\":true}}",
    "{\"error\":{\"grpc_code\":14,\"http_code\":503,\"message\":\"transport is "
    "closing\",\"http_status\":\"Service Unavailable\"}}",
};

#define NLINES(a) (sizeof(a) / sizeof(*a))

/* The lines a stream hands out, joined with "\n" after each; the feed's result. */
typedef struct got {
    cg_buf_t lines;
    size_t count, bytes;
} got_t;

static int feed(cg_etcd_stream_t *s, got_t *g, const char *p, size_t n)
{
    int rc = cg_etcd_stream_feed(s, p, n);
    const char *line;
    size_t len;
    while (cg_etcd_stream_next(s, &line, &len)) {
        assert_null(memchr(line, '\n', len));
        cg_buf_append(&g->lines, line, len);
        cg_buf_append(&g->lines, "\n", 1);
        g->count++;
        g->bytes += len;
    }
    return rc;
}

static void expect_lines(const got_t *g, const char *const *lines, size_t n)
{
    cg_buf_t want = {0};
    for (size_t i = 0; i < n; i++) {
        cg_buf_append_str(&want, lines[i]);
        cg_buf_append(&want, "\n", 1);
    }
    assert_int_equal(g->count, n);
    assert_int_equal(g->lines.len, want.len);
    assert_memory_equal(g->lines.base, want.base, want.len);
    cg_buf_free(&want);
}

/* Feeds body in the pieces that cuts (sorted offsets) make; 0 or the first error. */
static int feed_cut(const char *body, size_t n, const size_t *cuts, size_t ncuts, size_t max_line,
                    got_t *g, int *ended)
{
    cg_etcd_stream_t s = {.max_line = max_line};
    size_t at = 0;
    int rc = 0;
    for (size_t i = 0; i <= ncuts && rc == 0; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        rc = feed(&s, g, body + at, to - at);
        at = to;
    }
    *ended = s.ended;
    cg_etcd_stream_free(&s);
    return rc;
}

static void check_every_split(const char *body, const char *const *lines, size_t nlines,
                              int want_ended)
{
    size_t n = strlen(body);
    int ended;
    /* one feed; byte by byte; cut in two at every offset; in three at every pair */
    got_t g = {0};
    assert_int_equal(feed_cut(body, n, NULL, 0, 0, &g, &ended), 0);
    expect_lines(&g, lines, nlines);
    assert_int_equal(ended, want_ended);
    cg_buf_free(&g.lines);
    size_t *cuts = calloc(n, sizeof(*cuts));
    for (size_t i = 0; i < n; i++) cuts[i] = i + 1;
    g = (got_t){0};
    assert_int_equal(feed_cut(body, n, cuts, n - 1, 0, &g, &ended), 0);
    expect_lines(&g, lines, nlines);
    assert_int_equal(ended, want_ended);
    cg_buf_free(&g.lines);
    for (size_t i = 0; i <= n; i++) {
        g = (got_t){0};
        assert_int_equal(feed_cut(body, n, &i, 1, 0, &g, &ended), 0);
        expect_lines(&g, lines, nlines);
        assert_int_equal(ended, want_ended);
        cg_buf_free(&g.lines);
    }
    /* random splits (a fixed seed: the same every run) */
    srand(7);
    for (int round = 0; round < 2000; round++) {
        size_t k = 0;
        for (size_t i = 1; i < n; i++)
            if (rand() % 16 == 0) cuts[k++] = i;
        g = (got_t){0};
        assert_int_equal(feed_cut(body, n, cuts, k, 0, &g, &ended), 0);
        expect_lines(&g, lines, nlines);
        assert_int_equal(ended, want_ended);
        cg_buf_free(&g.lines);
    }
    free(cuts);
}

static void test_stream_gives_the_same_lines_at_every_split(void **state)
{
    (void)state;
    check_every_split(W1_BODY, W1_LINES, NLINES(W1_LINES), 0);
    check_every_split(W2_BODY, W2_LINES, NLINES(W2_LINES), 0);
    /* the body ends: its last line, without a newline, is handed out */
    check_every_split(W4_BODY, W4_LINES, NLINES(W4_LINES), 1);
}

/* One body fed whole: its result, the lines it gave, whether it ended. */
static int stream_one(const char *body, size_t max_line, got_t *g, int *ended)
{
    return feed_cut(body, strlen(body), NULL, 0, max_line, g, ended);
}

static void test_stream_framing(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        size_t max_line;
        int rc, ended;
        const char *lines; /* each followed by "\n" */
    } cases[] = {
        /* chunk extensions are skipped, upper and lower case hex */
        {"3;name=value\r\nab\n\r\n", 0, 0, 0, "ab\n"},
        {"3;a;b=\"c\"\r\nab\n\r\nA\r\n0123456\n89\r\n", 0, 0, 0, "ab\n0123456\n"},
        {"a\r\n0123456\n89\r\n1\r\n\n\r\n", 0, 0, 0, "0123456\n89\n"},
        /* a line split over chunks, and lines in one chunk */
        {"2\r\n{\"\r\n3\r\na\":\r\n3\r\n1}\n\r\n", 0, 0, 0, "{\"a\":1}\n"},
        {"6\r\na\nb\n\nc\r\n2\r\nd\n\r\n", 0, 0, 0, "a\nb\n\ncd\n"},
        /* the last chunk, trailers: the body ends; its partial line is the last */
        {"2\r\nab\r\n0\r\n\r\n", 0, 0, 1, "ab\n"},
        {"3\r\nab\n\r\n0\r\nX-Trailer: 1\r\nY: 2\r\n\r\n", 0, 0, 1, "ab\n"},
        {"3\r\nab\n\r\n0;ext\r\n\r\n", 0, 0, 1, "ab\n"},
        {"3\r\nab\n\r\n0\r\nX-Trailer: 1\r\n", 0, 0, 0, "ab\n"}, /* trailers not over yet */
        /* anything after the end */
        {"3\r\nab\n\r\n0\r\n\r\n3\r\ncd\n\r\n", 0, CG_EPARSE, 1, "ab\n"},
        {"0\r\n\r\nx", 0, CG_EPARSE, 1, ""},
        /* sizes that are not hex, or empty */
        {"zz\r\nab\r\n", 0, CG_EPARSE, 0, ""},
        {"\r\nab\r\n", 0, CG_EPARSE, 0, ""},
        {" 2\r\nab\r\n", 0, CG_EPARSE, 0, ""},
        {"2 \r\nab\r\n", 0, CG_EPARSE, 0, ""},
        {"0x2\r\nab\r\n", 0, CG_EPARSE, 0, ""},
        {"-2\r\nab\r\n", 0, CG_EPARSE, 0, ""},
        {";x\r\nab\r\n", 0, CG_EPARSE, 0, ""},
        /* a bare LF in the framing */
        {"2\nab\r\n", 0, CG_EPARSE, 0, ""},
        {"3\r\nab\n\n", 0, CG_EPARSE, 0, "ab\n"},
        /* no CRLF after a chunk's data */
        {"3\r\nab\n3\r\ncd\n\r\n", 0, CG_EPARSE, 0, "ab\n"},
        {"3\r\nab\nxy\r\n", 0, CG_EPARSE, 0, "ab\n"},
        {"3\r\nab\n\rx\n", 0, CG_EPARSE, 0, "ab\n"},
        /* a chunk's size is not bounded by max_line (16 here), its lines are; a size past
         * 64 bits is an error */
        {"11\r\n0123456789abcdef\n\r\n", 16, 0, 0, "0123456789abcdef\n"},
        {"12\r\n0123456789abcdefg\n\r\n", 16, CG_EPARSE, 0, ""},
        {"fffffffffffffff\r\nab\n", 16, 0, 0, "ab\n"},
        {"ffffffffffffffff\r\nab\n", 16, 0, 0, "ab\n"},
        {"10000000000000000\r\nab\n", 16, CG_EPARSE, 0, ""},
        {"ffffffffffffffffffffffff\r\n", 0, CG_EPARSE, 0, ""},
        /* a line past max_line (8 here) over several chunks; many short lines are fine */
        {"5\r\n01234\r\n3\r\n567\r\n1\r\n\n\r\n", 8, 0, 0, "01234567\n"},
        {"5\r\n01234\r\n4\r\n5678\r\n", 8, CG_EPARSE, 0, ""},
        {"9\r\n01234567\n\r\n", 8, 0, 0, "01234567\n"},
        {"a\r\n012345678\n\r\n", 8, CG_EPARSE, 0, ""},
        {"f\r\n0\n1\n2\n3\n4\n5\n6\n7\r\n", 8, 0, 0, "0\n1\n2\n3\n4\n5\n6\n"},
        {"10\r\n0123\n4567\n89abcd\r\n", 8, 0, 0, "0123\n4567\n"},
        {"e\r\n0\n123456789\nab\r\n", 8, CG_EPARSE, 0, ""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        got_t g = {0};
        int ended;
        int rc = stream_one(cases[i].body, cases[i].max_line, &g, &ended);
        if (rc != cases[i].rc || ended != cases[i].ended || g.lines.len != strlen(cases[i].lines) ||
            memcmp(g.lines.base ? g.lines.base : "", cases[i].lines, g.lines.len))
            fail_msg("case %zu: rc %d ended %d lines \"%.*s\"", i, rc, ended, (int)g.lines.len,
                     g.lines.base ? g.lines.base : "");
        cg_buf_free(&g.lines);
    }
}

static void test_stream_bounds_a_size_line(void **state)
{
    (void)state;
    /* a size line of 256 bytes at most, however it arrives: leading zeros, or an extension */
    char big[600];
    for (size_t ext = 0; ext < 2; ext++) {
        for (size_t len = 250; len < 260; len++) {
            memset(big, '0', len);
            if (ext) /* "3;000..." */
                memcpy(big, "3;", 2);
            else /* "000...3" */
                big[len - 1] = '3';
            memcpy(big + len, "\r\nab\n\r\n", 8);
            got_t g = {0};
            int ended;
            int rc = stream_one(big, 0, &g, &ended);
            /* the line is len bytes and its CRLF */
            assert_int_equal(rc, len + 2 <= 256 ? 0 : CG_EPARSE);
            assert_int_equal(g.count, len + 2 <= 256 ? 1 : 0);
            cg_buf_free(&g.lines);
        }
    }
    /* an endless one, fed a byte at a time */
    cg_etcd_stream_t s = {0};
    int rc = 0;
    for (size_t i = 0; i < 10000 && rc == 0; i++) rc = cg_etcd_stream_feed(&s, "0", 1);
    assert_int_equal(rc, CG_EPARSE);
    assert_true(s.raw.len <= 256);
    cg_etcd_stream_free(&s);
}

/* ---- watch messages ---- */

static int wparse(const char *line, cg_etcd_watch_msg_t *m, cg_buf_t *err)
{
    cg_buf_reset(err);
    return cg_etcd_watch_parse(line, strlen(line), m, err);
}

/* err holds exactly want. */
static void expect_err(const cg_buf_t *err, const char *want)
{
    assert_int_equal(err->len, strlen(want));
    assert_memory_equal(err->base, want, err->len);
}

static void test_watch_messages_as_etcd_writes_them(void **state)
{
    (void)state;
    cg_etcd_watch_msg_t m;
    cg_buf_t err = {0};
    /* created */
    assert_int_equal(wparse(W1_LINES[0], &m, &err), 0);
    assert_int_equal(m.revision, 1);
    assert_true(m.created);
    assert_false(m.canceled);
    assert_int_equal(m.compact_revision, 0);
    assert_int_equal(m.events.len, 0);
    cg_etcd_watch_msg_free(&m);
    /* a put: no "type" is a PUT */
    assert_int_equal(wparse(W1_LINES[1], &m, &err), 0);
    assert_int_equal(m.revision, 2);
    assert_false(m.created);
    assert_int_equal(m.events.len, 1);
    assert_false(m.events.items[0].del);
    assert_string_equal(m.events.items[0].kv.key, "/crossgate/leases/i-1");
    assert_string_equal(m.events.items[0].kv.value, "{\"id\":\"i-1\"}");
    assert_int_equal(m.events.items[0].kv.value_len, strlen("{\"id\":\"i-1\"}"));
    assert_int_equal(m.events.items[0].kv.create_rev, 2);
    assert_int_equal(m.events.items[0].kv.mod_rev, 2);
    cg_etcd_watch_msg_free(&m);
    /* the same key again: its create_revision stays */
    assert_int_equal(wparse(W1_LINES[2], &m, &err), 0);
    assert_int_equal(m.events.items[0].kv.create_rev, 2);
    assert_int_equal(m.events.items[0].kv.mod_rev, 3);
    assert_string_equal(m.events.items[0].kv.value, "{\"id\":\"i-1\",\"x\":2}");
    cg_etcd_watch_msg_free(&m);
    /* an empty value is left out */
    assert_int_equal(wparse(W1_LINES[3], &m, &err), 0);
    assert_string_equal(m.events.items[0].kv.key, "/crossgate/meta/empty");
    assert_string_equal(m.events.items[0].kv.value, "");
    assert_int_equal(m.events.items[0].kv.value_len, 0);
    cg_etcd_watch_msg_free(&m);
    /* a txn's puts: one message, one revision */
    assert_int_equal(wparse(W1_LINES[4], &m, &err), 0);
    assert_int_equal(m.revision, 5);
    assert_int_equal(m.events.len, 2);
    assert_string_equal(m.events.items[0].kv.key, "/crossgate/resources/a");
    assert_string_equal(m.events.items[0].kv.value, "v1");
    assert_string_equal(m.events.items[1].kv.key, "/crossgate/resources/b");
    assert_string_equal(m.events.items[1].kv.value, "v2");
    assert_int_equal(m.events.items[1].kv.mod_rev, 5);
    cg_etcd_watch_msg_free(&m);
    /* a delete: key and mod_revision only */
    assert_int_equal(wparse(W1_LINES[5], &m, &err), 0);
    assert_int_equal(m.revision, 6);
    assert_int_equal(m.events.len, 1);
    assert_true(m.events.items[0].del);
    assert_string_equal(m.events.items[0].kv.key, "/crossgate/leases/i-1");
    assert_null(m.events.items[0].kv.value);
    assert_int_equal(m.events.items[0].kv.create_rev, 0);
    assert_int_equal(m.events.items[0].kv.mod_rev, 6);
    cg_etcd_watch_msg_free(&m);
    /* created, then canceled: revision 5 was compacted (the header has no revision) */
    assert_int_equal(wparse(W2_LINES[0], &m, &err), 0);
    assert_true(m.created);
    assert_int_equal(m.revision, 6);
    cg_etcd_watch_msg_free(&m);
    assert_int_equal(wparse(W2_LINES[1], &m, &err), 0);
    assert_true(m.canceled);
    assert_false(m.created);
    assert_int_equal(m.compact_revision, 5);
    assert_int_equal(m.revision, 0);
    assert_int_equal(m.events.len, 0);
    assert_string_equal(m.cancel_reason, "");
    cg_etcd_watch_msg_free(&m);
    /* created and canceled at once, with etcd's reason (auth on, a user without the range):
     * one line however etcd writes it, cut at 127 bytes */
    assert_int_equal(wparse("{\"result\":{\"header\":{\"revision\":\"6\"},\"created\":true,"
                            "\"canceled\":true,\"cancel_reason\":\"etcdserver: permission "
                            "denied\\nforged\"}}",
                            &m, &err),
                     0);
    assert_true(m.created);
    assert_true(m.canceled);
    assert_string_equal(m.cancel_reason, "etcdserver: permission denied?forged");
    cg_etcd_watch_msg_free(&m);
    char longer[400];
    snprintf(longer, sizeof(longer),
             "{\"result\":{\"header\":{},\"canceled\":true,\"cancel_reason\":\"%0200d\"}}", 7);
    assert_int_equal(wparse(longer, &m, &err), 0);
    assert_int_equal(strlen(m.cancel_reason), 127);
    cg_etcd_watch_msg_free(&m);
    /* etcd stopping: an error, with its message */
    assert_int_equal(wparse(W4_LINES[1], &m, &err), CG_EPARSE);
    expect_err(&err, "etcd watch: transport is closing");
    assert_int_equal(m.events.len, 0);
    cg_etcd_watch_msg_free(&m);
    cg_buf_free(&err);
}

static void test_watch_messages_rejected(void **state)
{
    (void)state;
    cg_etcd_watch_msg_t m;
    cg_buf_t err = {0};
    /* {"error": ...} in both shapes, and one with no message */
    static const struct {
        const char *line, *err;
    } errors[] = {
        {"{\"error\":\"etcdserver: no leader\"}", "etcd watch: etcdserver: no leader"},
        {"{\"error\":{\"grpc_code\":14,\"message\":\"etcdserver: no leader\"}}",
         "etcd watch: etcdserver: no leader"},
        {"{\"error\":{\"grpc_code\":2}}", "etcd watch: failed"},
        {"{\"error\":{},\"result\":{\"header\":{\"revision\":\"2\"}}}", "etcd watch: failed"},
    };
    for (size_t i = 0; i < sizeof(errors) / sizeof(*errors); i++) {
        assert_int_equal(wparse(errors[i].line, &m, &err), CG_EPARSE);
        expect_err(&err, errors[i].err);
        cg_etcd_watch_msg_free(&m);
    }
#define EV(ev)   "{\"result\":{\"header\":{\"revision\":\"9\"},\"events\":[" ev "]}}"
#define KV(k, v) "\"kv\":{\"key\":\"" k "\",\"create_revision\":\"2\",\"mod_revision\":\"9\"" v "}"
    /* the events parse, for the rejected ones below to differ from it by one thing */
    assert_int_equal(
        wparse(EV("{" KV("YQ==", ",\"value\":\"Yg==\"") "},"
                                                        "{\"type\":\"PUT\"," KV(
                                                            "YQ==",
                                                            "") "},"
                                                                "{\"type\":\"DELETE\",\"kv\":{"
                                                                "\"key\":\"YQ==\",\"mod_revision\":"
                                                                "\"9\"}}"),
               &m, &err),
        0);
    assert_int_equal(m.events.len, 3);
    assert_false(m.events.items[0].del);
    assert_string_equal(m.events.items[0].kv.value, "b");
    assert_false(m.events.items[1].del);
    assert_true(m.events.items[2].del);
    cg_etcd_watch_msg_free(&m);
    static const char *bad[] = {
        "",
        "\n",
        "[]",
        "{}",
        "{\"result\":1}",
        "{\"result\":{}}",
        "{\"result\":{\"header\":1}}",
        "{\"result\":{\"header\":{\"revision\":\"x\"}}}",
        "{\"result\":{\"header\":{\"revision\":\"-2\"}}}",
        "{\"result\":{\"header\":{\"revision\":-2}}}",
        "{\"result\":{\"header\":{\"revision\":\"99999999999999999999\"}}}",
        "{\"result\":{\"header\":{},\"created\":\"true\"}}",
        "{\"result\":{\"header\":{},\"canceled\":1}}",
        "{\"result\":{\"header\":{},\"canceled\":true,\"compact_revision\":\"5x\"}}",
        "{\"result\":{\"header\":{},\"events\":{}}}",
        "{\"result\":{\"header\":{},\"canceled\":true,\"cancel_reason\":7}}",
        "{\"result\":{\"header\":{}}} trailing",
        EV("1"),
        EV("{}"),
        EV("{\"kv\":1}"),
        /* unknown types, or not a name */
        EV("{\"type\":\"PATCH\"," KV("YQ==", "") "}"),
        EV("{\"type\":\"put\"," KV("YQ==", "") "}"),
        EV("{\"type\":\"PUTX\"," KV("YQ==", "") "}"),
        EV("{\"type\":\"\"," KV("YQ==", "") "}"),
        EV("{\"type\":1," KV("YQ==", "") "}"),
        EV("{\"type\":0," KV("YQ==", "") "}"),
        EV("{\"type\":null," KV("YQ==", "") "}"),
        /* bad base64 in the key or the value */
        EV("{" KV("YQ", "") "}"),
        EV("{" KV("Y!==", "") "}"),
        EV("{" KV("YQ==", ",\"value\":\"Yg=\"") "}"),
        EV("{" KV("YQ==", ",\"value\":\"====\"") "}"),
        EV("{" KV("YQ==", ",\"value\":7") "}"),
        /* a put with no create_revision; an event with no mod_revision */
        EV("{\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"9\"}}"),
        EV("{\"type\":\"DELETE\",\"kv\":{\"key\":\"YQ==\"}}"),
        EV("{\"type\":\"DELETE\",\"kv\":{\"key\":\"YQ==\",\"mod_revision\":\"0\"}}"),
        /* one bad event spoils the message */
        EV("{" KV("YQ==", "") "},{" KV("YQ", "") "}"),
    };
#undef EV
#undef KV
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        if (wparse(bad[i], &m, &err) != CG_EPARSE) fail_msg("parsed: %s", bad[i]);
        expect_err(&err, "etcd watch: not a message of the v3 gateway");
        assert_int_equal(m.events.len, 0);
        cg_etcd_watch_msg_free(&m);
    }
    cg_buf_free(&err);
}

static void test_watch_body_and_range_between(void **state)
{
    (void)state;
    cg_buf_t b = {0};
    cg_etcd_watch_body(&b, "/crossgate/", 7);
    static const char want[] = "{\"create_request\":{\"key\":\"L2Nyb3NzZ2F0ZS8=\",\"range_end\":"
                               "\"L2Nyb3NzZ2F0ZTA=\",\"start_revision\":\"7\"}}";
    assert_int_equal(b.len, strlen(want));
    assert_memory_equal(b.base, want, b.len);
    /* from 0: from 1, all the history etcd has */
    cg_buf_reset(&b);
    cg_etcd_watch_body(&b, "/crossgate/", 0);
    assert_non_null(strstr(b.base, "\"start_revision\":\"1\"}}"));
    cg_buf_reset(&b);
    cg_etcd_range_between(&b, "/crossgate/leases/", "/crossgate/resources0");
    static const char range[] = "{\"key\":\"L2Nyb3NzZ2F0ZS9sZWFzZXMv\",\"range_end\":"
                                "\"L2Nyb3NzZ2F0ZS9yZXNvdXJjZXMw\"}";
    assert_int_equal(b.len, strlen(range));
    assert_memory_equal(b.base, range, b.len);
    cg_buf_free(&b);
    cg_etcd_txn_t t = {0};
    cg_etcd_txn_compare_exists(&t, "a");
    cg_etcd_txn_body(&t, &b);
    static const char exists[] =
        "{\"compare\":[{\"key\":\"YQ==\",\"target\":\"VERSION\",\"result\":"
        "\"GREATER\",\"version\":\"0\"}],\"success\":[]}";
    assert_int_equal(b.len, strlen(exists));
    assert_memory_equal(b.base, exists, b.len);
    cg_buf_free(&b);
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
        cmocka_unit_test(test_stream_gives_the_same_lines_at_every_split),
        cmocka_unit_test(test_stream_framing),
        cmocka_unit_test(test_stream_bounds_a_size_line),
        cmocka_unit_test(test_watch_messages_as_etcd_writes_them),
        cmocka_unit_test(test_watch_messages_rejected),
        cmocka_unit_test(test_watch_body_and_range_between),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
