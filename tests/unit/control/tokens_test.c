/* Control-plane credentials: digests only on disk, constant-time checks, expiry, revocation,
 * CIDR scope and the registration bucket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "control/tokens.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/cg-tokens-XXXXXX");
    assert_non_null(mkdtemp(dir));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static cg_iov_t bearer(const char *secret, char *buf, size_t cap)
{
    snprintf(buf, cap, "Bearer %s", secret);
    return cg_iov_str(buf);
}

static char *read_admin(void)
{
    static char line[256];
    char path[128];
    snprintf(path, sizeof(path), "%s/admin.token", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof(line), f));
    fclose(f);
    line[strcspn(line, "\n")] = 0;
    return line;
}

static void test_admin_credential_made_once_mode_0600(void **state)
{
    (void)state;
    cg_tokens_t t = {0};
    cg_buf_t err = {0};
    int created;
    assert_int_equal(cg_control_tokens_open(&t, dir, NULL, &created, &err), 0);
    assert_true(created);
    char path[128], b[300];
    snprintf(path, sizeof(path), "%s/admin.token", dir);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    const char *secret = read_admin();
    const cg_token_t *k = cg_control_tokens_check(&t, bearer(secret, b, sizeof(b)), 1);
    assert_non_null(k);
    assert_int_equal(k->role, CG_ROLE_ADMIN);
    assert_null(cg_control_tokens_check(&t, cg_iov_str("Bearer cgt_admin_0000"), 1));
    assert_null(cg_control_tokens_check(&t, cg_iov_str(secret), 1)); /* no "Bearer " */
    cg_control_tokens_close(&t);
    cg_tokens_t again = {0};
    assert_int_equal(cg_control_tokens_open(&again, dir, NULL, &created, &err), 0);
    assert_false(created);
    assert_non_null(cg_control_tokens_check(&again, bearer(secret, b, sizeof(b)), 1));
    cg_control_tokens_close(&again);
    cg_buf_free(&err);
}

static void test_join_token_persists_as_a_digest_expires_and_revokes(void **state)
{
    (void)state;
    cg_tokens_t t = {0};
    cg_buf_t err = {0};
    int created;
    assert_int_equal(cg_control_tokens_open(&t, dir, NULL, &created, &err), 0);
    cg_cidr_t allow;
    assert_int_equal(cg_cidr_parse("10.1.0.0/16", &allow), 0);
    char *secret;
    const cg_token_t *k;
    assert_int_equal(cg_control_tokens_create(&t, CG_ROLE_JOIN, "cluster-1", 60000, &allow, 1, 1000,
                                              &secret, &k, &err),
                     0);
    char id[CG_TOKEN_ID_LEN + 1], b[300];
    memcpy(id, k->id, sizeof(id));
    /* the file holds no secret */
    char path[128], content[4096] = "";
    snprintf(path, sizeof(path), "%s/tokens", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(content, 1, sizeof(content) - 1, f);
    fclose(f);
    content[n] = 0;
    assert_null(strstr(content, secret + 4 + CG_TOKEN_ID_LEN + 1));
    assert_non_null(strstr(content, id));
    cg_control_tokens_close(&t);
    /* reloaded: still valid until it expires */
    cg_tokens_t r = {0};
    assert_int_equal(cg_control_tokens_open(&r, dir, NULL, &created, &err), 0);
    k = cg_control_tokens_check(&r, bearer(secret, b, sizeof(b)), 2000);
    assert_non_null(k);
    assert_int_equal(k->role, CG_ROLE_JOIN);
    assert_string_equal(k->cluster, "cluster-1");
    assert_int_equal(k->nallow, 1);
    assert_null(cg_control_tokens_check(&r, bearer(secret, b, sizeof(b)), 61000)); /* expired */
    secret[strlen(secret) - 1] ^= 1;
    assert_null(cg_control_tokens_check(&r, bearer(secret, b, sizeof(b)), 2000)); /* one bit off */
    secret[strlen(secret) - 1] ^= 1;
    assert_int_equal(cg_control_tokens_revoke(&r, id, &err), 0);
    assert_null(cg_control_tokens_check(&r, bearer(secret, b, sizeof(b)), 2000));
    assert_int_equal(cg_control_tokens_revoke(&r, id, &err), CG_ENOENT);
    free(secret);
    cg_control_tokens_close(&r);
    cg_buf_free(&err);
}

/* The store a shared control plane writes its tokens to: the last text written. */
static cg_buf_t persisted;
static int persist_fails;

static int persist(void *data, const char *text, size_t len, cg_buf_t *err)
{
    (void)data;
    if (persist_fails) {
        cg_buf_printf(err, "store unavailable: test");
        return CG_EIO;
    }
    cg_buf_reset(&persisted);
    cg_buf_append(&persisted, text, len);
    cg_buf_append(&persisted, "", 1); /* for strstr; len excludes it */
    persisted.len--;
    return 0;
}

static void test_tokens_through_a_shared_store(void **state)
{
    (void)state;
    cg_tokens_t a = {0}, b = {0};
    cg_buf_t err = {0};
    int created;
    assert_int_equal(cg_control_tokens_open(&a, dir, NULL, &created, &err), 0);
    assert_int_equal(cg_control_tokens_open(&b, dir, NULL, &created, &err), 0);
    a.persist = persist;
    char *secret, bb[300];
    const cg_token_t *k;
    assert_int_equal(
        cg_control_tokens_create(&a, CG_ROLE_JOIN, "c1", 0, NULL, 0, 1000, &secret, &k, &err), 0);
    char id[CG_TOKEN_ID_LEN + 1];
    memcpy(id, k->id, sizeof(id));
    /* written through persist, not to DATA/tokens */
    char path[128];
    snprintf(path, sizeof(path), "%s/tokens", dir);
    assert_int_not_equal(access(path, F_OK), 0);
    assert_non_null(strstr(persisted.base, id));
    assert_null(strstr(persisted.base, secret + 4 + CG_TOKEN_ID_LEN + 1));
    /* the other control plane takes the text: the token is valid there, with its scope */
    assert_null(cg_control_tokens_check(&b, bearer(secret, bb, sizeof(bb)), 2000));
    assert_int_equal(cg_control_tokens_replace(&b, "store", persisted.base, persisted.len, &err),
                     0);
    k = cg_control_tokens_check(&b, bearer(secret, bb, sizeof(bb)), 2000);
    assert_non_null(k);
    assert_string_equal(k->cluster, "c1");
    /* bad text changes nothing, with one line naming it */
    assert_int_equal(cg_control_tokens_replace(&b, "store", "garbage line\n", 13, &err), CG_EPARSE);
    assert_non_null(strstr(err.base, "store:1: not a token line"));
    assert_non_null(cg_control_tokens_check(&b, bearer(secret, bb, sizeof(bb)), 2000));
    /* an admin line is never taken from the store: there is one admin credential */
    cg_buf_t adm = {0};
    cg_buf_printf(&adm, "%s admin - 0 0 %064d -\n", id, 0);
    assert_int_equal(cg_control_tokens_replace(&b, "store", adm.base, adm.len, &err), CG_EPARSE);
    cg_buf_free(&adm);
    /* revoked at a: gone at b once b takes the text */
    assert_int_equal(cg_control_tokens_revoke(&a, id, &err), 0);
    assert_int_equal(cg_control_tokens_replace(&b, "store", persisted.base, persisted.len, &err),
                     0);
    assert_null(cg_control_tokens_check(&b, bearer(secret, bb, sizeof(bb)), 2000));
    /* a store that cannot be written: the change is not made */
    persist_fails = 1;
    char *s2;
    assert_int_equal(
        cg_control_tokens_create(&a, CG_ROLE_READER, NULL, 0, NULL, 0, 1000, &s2, &k, &err),
        CG_EIO);
    assert_int_equal(a.items.len, 0);
    persist_fails = 0;
    free(secret);
    cg_buf_free(&persisted);
    cg_control_tokens_close(&a);
    cg_control_tokens_close(&b);
    cg_buf_free(&err);
}

static void test_token_rules(void **state)
{
    (void)state;
    cg_tokens_t t = {0};
    cg_buf_t err = {0};
    int created;
    assert_int_equal(cg_control_tokens_open(&t, dir, NULL, &created, &err), 0);
    char *secret;
    const cg_token_t *k;
    assert_int_equal(
        cg_control_tokens_create(&t, CG_ROLE_JOIN, NULL, 0, NULL, 0, 1, &secret, &k, &err),
        CG_EINVAL);
    assert_int_equal(
        cg_control_tokens_create(&t, CG_ROLE_READER, "c", 0, NULL, 0, 1, &secret, &k, &err),
        CG_EINVAL);
    assert_int_equal(
        cg_control_tokens_create(&t, CG_ROLE_ADMIN, NULL, 0, NULL, 0, 1, &secret, &k, &err),
        CG_EINVAL);
    cg_control_tokens_close(&t);
    cg_buf_free(&err);
}

static void test_cidr(void **state)
{
    (void)state;
    cg_cidr_t c;
    cg_addr_t a;
    assert_int_equal(cg_cidr_parse("127.0.5.0/24", &c), 0);
    cg_addr_parse_ip(&a, "127.0.5.200", 0);
    assert_true(cg_cidr_contains(&c, &a));
    cg_addr_parse_ip(&a, "127.0.6.1", 0);
    assert_false(cg_cidr_contains(&c, &a));
    assert_int_equal(cg_cidr_parse("10.0.0.7", &c), 0); /* a /32 */
    cg_addr_parse_ip(&a, "10.0.0.7", 0);
    assert_true(cg_cidr_contains(&c, &a));
    cg_addr_parse_ip(&a, "10.0.0.8", 0);
    assert_false(cg_cidr_contains(&c, &a));
    assert_int_equal(cg_cidr_parse("10.0.0.0/33", &c), CG_EINVAL);
    assert_int_equal(cg_cidr_parse("nope/8", &c), CG_EINVAL);
    assert_int_equal(cg_cidr_parse("::1/128", &c), 0);
    cg_addr_parse_ip(&a, "127.0.0.1", 0);
    assert_false(cg_cidr_contains(&c, &a)); /* other family */
}

static void test_registration_bucket(void **state)
{
    (void)state;
    cg_token_t k = {0};
    int ok = 0;
    for (int i = 0; i < 300; i++) ok += cg_control_tokens_take(&k, 1000, 20, 200);
    assert_int_equal(ok, 200); /* the burst, then nothing at the same instant */
    assert_int_equal(cg_control_tokens_take(&k, 1000 + 50, 20, 200),
                     1); /* one more after 50 ms at 20/s */
    assert_int_equal(cg_control_tokens_take(&k, 1000 + 50, 20, 200), 0);
}

/* POST /v1/tokens bodies: what is accepted and the one message for each way to be wrong. */
static void test_token_request(void **state)
{
    (void)state;
    cg_buf_t deep = {0}, many = {0};
    for (int i = 0; i < 70; i++) cg_buf_append_str(&deep, "[");
    for (int i = 0; i < 70; i++) cg_buf_append_str(&deep, "]");
    cg_buf_append(&deep, "", 1);
    cg_buf_append_str(&many, "{\"role\":\"join\",\"cluster\":\"c\",\"allow\":[");
    for (int i = 0; i < 60; i++) cg_buf_printf(&many, "%s\"10.0.0.%d\"", i ? "," : "", i);
    cg_buf_append(&many, "]}", 3);
    static const char tail[] = " (expected role, cluster, ttl_ms, allow)";
    const struct {
        const char *body, *err; /* err NULL: accepted */
    } cases[] = {
        {"{\"role\":\"reader\"}", NULL},
        {" {\"role\":\"join\",\"cluster\":\"c-1\",\"ttl_ms\":60000,\"allow\":[\"10.0.0.0/8\"]}\n",
         NULL},
        {"", "expected one JSON object with role, cluster, ttl_ms, allow"},
        {"[1]", "expected one JSON object with role, cluster, ttl_ms, allow"},
        {"{", "malformed JSON"},
        {"{\"role\":\"reader\",\"role\":\"join\"}", "malformed JSON"},
        {deep.base, "malformed JSON"},
        {many.base, "malformed JSON"},
        {"{}", "role: missing required field"},
        {"{\"role\":\"root\"}", "role: expected reader or join"},
        {"{\"role\":1}", "role: unknown field or wrong type"},
        {"{\"role\":\"join\",\"cluster\":\"\"}", "cluster: expected a name of 1 to 63 characters"},
        {"{\"role\":\"join\",\"cluster\":\"a b\"}",
         "cluster: must be printable ASCII without spaces"},
        {"{\"role\":\"reader\",\"ttl_ms\":-1}", "ttl_ms: expected milliseconds, at most 10 years"},
        {"{\"role\":\"reader\",\"ttl_ms\":1.5}", "ttl_ms: expected milliseconds, at most 10 years"},
        {"{\"role\":\"reader\",\"ttl_ms\":315360000001}",
         "ttl_ms: expected milliseconds, at most 10 years"},
        {"{\"role\":\"join\",\"allow\":[\"x\"]}",
         "allow: expected at most 8 addresses or prefixes (10.0.0.0/8)"},
        {"{\"role\":\"join\",\"allow\":\"10.0.0.0/8\"}", "allow: unknown field or wrong type"},
        {"{\"role\":\"reader\",\"bogus\":1}", "bogus: unknown field or wrong type"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_control_token_req_t r;
        cg_buf_t err = {0};
        int rc = cg_control_token_req_parse(cases[i].body, strlen(cases[i].body), &r, &err);
        cg_buf_append(&err, "", 1);
        if (!cases[i].err) {
            if (rc) fail_msg("case %zu refused: %s", i, err.base);
        } else {
            cg_buf_t want = {0};
            cg_buf_printf(&want, "%s%s%c", cases[i].err,
                          strstr(cases[i].err, "unknown field") ? tail : "", 0);
            if (rc != CG_EINVAL || strcmp(err.base, want.base))
                fail_msg("case %zu: %d %s, not %s", i, rc, err.base, want.base);
            cg_buf_free(&want);
        }
        cg_buf_free(&err);
    }
    cg_buf_free(&deep);
    cg_buf_free(&many);
}

/* What the CLI writes is what the control plane reads; the answer reads back the same. */
static void test_token_request_and_answer_round_trip(void **state)
{
    (void)state;
    const char *allow[] = {"10.9.0.0/16", "127.0.5.7"};
    cg_buf_t b = {0};
    cg_control_token_req_write(&b, "join", "cluster-1", 3600000, allow, 2);
    cg_control_token_req_t r;
    cg_buf_t err = {0};
    assert_int_equal(cg_control_token_req_parse(b.base, b.len, &r, &err), 0);
    assert_int_equal(r.role, CG_ROLE_JOIN);
    assert_string_equal(r.cluster, "cluster-1");
    assert_int_equal(r.ttl_ms, 3600000);
    assert_int_equal(r.nallow, 2);
    assert_int_equal(r.allow[0].bits, 16);
    assert_int_equal(r.allow[1].bits, 32);
    cg_buf_reset(&b);
    cg_control_token_req_write(&b, "reader", NULL, 0, NULL, 0);
    assert_int_equal(b.len, strlen("{\"role\":\"reader\"}"));
    assert_memory_equal(b.base, "{\"role\":\"reader\"}", b.len);

    cg_buf_reset(&b);
    cg_control_token_new_t made = {"0123456789abcdef", "join", "cgt_x_y", 42}, back;
    cg_control_token_new_write(&made, &b);
    cg_json_t *doc = cg_json_parse("answer", b.base, b.len, &err);
    assert_non_null(doc);
    cg_control_token_new_read(doc, &back);
    assert_string_equal(back.id, made.id);
    assert_string_equal(back.role, made.role);
    assert_string_equal(back.token, made.token);
    assert_int_equal(back.expires_ms, 42);
    cg_json_free(doc);
    cg_buf_free(&b);
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_credential_made_once_mode_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_token_persists_as_a_digest_expires_and_revokes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_rules, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_through_a_shared_store, setup, teardown),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_registration_bucket),
        cmocka_unit_test(test_token_request),
        cmocka_unit_test(test_token_request_and_answer_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
