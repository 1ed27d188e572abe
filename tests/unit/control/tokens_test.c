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
    assert_int_equal(cg_control_tokens_create(&t, CG_ROLE_JOIN, "cluster-1", 60000, &allow, 1, 1000, &secret, &k, &err), 0);
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

static void test_token_rules(void **state)
{
    (void)state;
    cg_tokens_t t = {0};
    cg_buf_t err = {0};
    int created;
    assert_int_equal(cg_control_tokens_open(&t, dir, NULL, &created, &err), 0);
    char *secret;
    const cg_token_t *k;
    assert_int_equal(cg_control_tokens_create(&t, CG_ROLE_JOIN, NULL, 0, NULL, 0, 1, &secret, &k, &err), CG_EINVAL);
    assert_int_equal(cg_control_tokens_create(&t, CG_ROLE_READER, "c", 0, NULL, 0, 1, &secret, &k, &err), CG_EINVAL);
    assert_int_equal(cg_control_tokens_create(&t, CG_ROLE_ADMIN, NULL, 0, NULL, 0, 1, &secret, &k, &err), CG_EINVAL);
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
    assert_int_equal(cg_control_tokens_take(&k, 1000 + 50, 20, 200), 1); /* one more after 50 ms at 20/s */
    assert_int_equal(cg_control_tokens_take(&k, 1000 + 50, 20, 200), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_admin_credential_made_once_mode_0600, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_token_persists_as_a_digest_expires_and_revokes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_token_rules, setup, teardown),
        cmocka_unit_test(test_cidr),
        cmocka_unit_test(test_registration_bucket),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
