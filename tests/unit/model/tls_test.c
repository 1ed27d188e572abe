/* http[].tls and Secrets with real material: certificates made at run time, files read by
 * cg_model_check_files, Secrets checked at load. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/model.h"
#include "tls_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[64];
static fx_cert_t good, other, expired;
static char cert_path[128], key_path[128], ca_path[128], other_key_path[128], junk_path[128],
    expired_cert_path[128], expired_key_path[128];

static int setup(void **state)
{
    (void)state;
    strcpy(dir, "/tmp/cg_tls_test_XXXXXX");
    if (mkdtemp(dir) == NULL) return -1;
    good = fx_cert("a.example", -1, 30);
    other = fx_cert("b.example", -1, 30);
    expired = fx_cert("old.example", -30, -1);
    snprintf(cert_path, sizeof(cert_path), "%s/cert.pem", dir);
    snprintf(key_path, sizeof(key_path), "%s/key.pem", dir);
    snprintf(ca_path, sizeof(ca_path), "%s/ca.pem", dir);
    snprintf(other_key_path, sizeof(other_key_path), "%s/other.key", dir);
    snprintf(junk_path, sizeof(junk_path), "%s/junk.pem", dir);
    snprintf(expired_cert_path, sizeof(expired_cert_path), "%s/old.pem", dir);
    snprintf(expired_key_path, sizeof(expired_key_path), "%s/old.key", dir);
    fx_write(cert_path, good.cert);
    fx_write(key_path, good.key);
    fx_write(ca_path, other.cert);
    fx_write(other_key_path, other.key);
    fx_write(junk_path, "not a certificate\n");
    fx_write(expired_cert_path, expired.cert);
    fx_write(expired_key_path, expired.key);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    const char *paths[] = {cert_path, key_path,          ca_path,         other_key_path,
                           junk_path, expired_cert_path, expired_key_path};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) unlink(paths[i]);
    rmdir(dir);
    fx_cert_free(&good);
    fx_cert_free(&other);
    fx_cert_free(&expired);
    return 0;
}

/* A Gateway with one TLS server; its tls mapping is on line 9. */
static void gateway(char *out, size_t n, const char *tls)
{
    snprintf(out, n,
             "apiVersion: crossgate/v1\n"
             "kind: Gateway\n"
             "metadata: {name: g, namespace: ns}\n"
             "spec:\n"
             "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
             "  http:\n"
             "  - name: s\n"
             "    port: 8443\n"
             "    tls: %s\n"
             "    hostname: a.example\n"
             "    routing: {rules: [{directResponse: {status: 200}}]}\n",
             tls);
}

static cg_resource_set_t *load(const char *yaml, int want_ok, cg_buf_t *err)
{
    cg_resource_set_t *rs = NULL;
    int rc = cg_model_load_buffer("t.yaml", yaml, strlen(yaml), &rs, err);
    cg_buf_append(err, "", 1);
    if ((rc == 0) != want_ok) fail_msg("load rc %d: %s", rc, cg_buf_data(err));
    return rs;
}

static void test_files_ok(void **state)
{
    (void)state;
    char tls[1024], yaml[4096];
    snprintf(tls, sizeof(tls),
             "{mode: MUTUAL, files: {serverCertificate: %s, privateKey: %s, caCertificates: %s}, "
             "minProtocolVersion: TLSV1_2, maxProtocolVersion: TLSV1_3, cipherSuites: "
             "[ECDHE-ECDSA-AES128-GCM-SHA256], subjectAltNames: [spiffe://x, client.example]}",
             cert_path, key_path, ca_path);
    gateway(yaml, sizeof(yaml), tls);
    cg_buf_t err = {0};
    cg_resource_set_t *rs = load(yaml, 1, &err);
    const cg_model_http_server_t *h = &rs->gateways[0].spec.http[0];
    assert_true(cg_model_http_is_tls(h));
    assert_int_equal(h->tls->mode_v, CG_MODEL_TLS_MUTUAL);
    assert_int_equal(h->tls->min_v, 3);
    assert_int_equal(h->tls->max_v, 4);
    assert_int_equal(h->tls->ncipher_suites, 1);
    assert_string_equal(h->tls->subject_alt_names[1], "client.example");
    assert_string_equal(h->tls->files->ca_certificates, ca_path);
    assert_int_equal(cg_model_check_files(rs, &err), 0);
    assert_null(h->tls->warning);
    cg_model_free(rs);
    cg_buf_free(&err);
}

static void test_disabled_is_plain(void **state)
{
    (void)state;
    char yaml[4096];
    gateway(yaml, sizeof(yaml), "{mode: DISABLED}");
    cg_buf_t err = {0};
    cg_resource_set_t *rs = load(yaml, 1, &err);
    assert_false(cg_model_http_is_tls(&rs->gateways[0].spec.http[0]));
    assert_int_equal(cg_model_check_files(rs, &err), 0);
    cg_model_free(rs);
    cg_buf_free(&err);
}

/* Each bad file is refused at its field: "file:line:col: path: message". */
static void test_files_bad(void **state)
{
    (void)state;
    const char *missing = "/nonexistent/cg/cert.pem";
    struct {
        const char *cert, *key, *want_field, *want_msg;
    } c[] = {
        {missing, key_path, "serverCertificate",
         "cannot open /nonexistent/cg/cert.pem: No such file or directory"},
        {junk_path, key_path, "serverCertificate", "not a PEM certificate"},
        {cert_path, junk_path, "privateKey", "not a PEM private key"},
        {cert_path, other_key_path, "privateKey", "does not match the certificate"},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        char tls[1024], yaml[4096], want[512];
        snprintf(tls, sizeof(tls), "{mode: SIMPLE, files: {serverCertificate: %s, privateKey: %s}}",
                 c[i].cert, c[i].key);
        gateway(yaml, sizeof(yaml), tls);
        cg_buf_t err = {0};
        cg_resource_set_t *rs = load(yaml, 1, &err);
        cg_buf_reset(&err);
        assert_int_equal(cg_model_check_files(rs, &err), CG_EPARSE);
        cg_buf_append(&err, "", 1);
        /* serverCertificate's value is at column 52, privateKey's after it */
        int col =
            strcmp(c[i].want_field, "privateKey") == 0 ? 52 + (int)strlen(c[i].cert) + 14 : 52;
        if (strstr(c[i].want_msg, "cannot open") != NULL)
            snprintf(want, sizeof(want), "t.yaml:9:%d: spec.http[0].tls.files.%s: %s\n", col,
                     c[i].want_field, c[i].want_msg);
        else
            snprintf(want, sizeof(want), "t.yaml:9:%d: spec.http[0].tls.files.%s: %s: %s\n", col,
                     c[i].want_field,
                     strcmp(c[i].want_field, "privateKey") == 0 ? c[i].key : c[i].cert,
                     c[i].want_msg);
        assert_string_equal(cg_buf_data(&err), want);
        cg_model_free(rs);
        cg_buf_free(&err);
    }
}

static void test_files_expired_warns(void **state)
{
    (void)state;
    char tls[1024], yaml[4096];
    snprintf(tls, sizeof(tls), "{mode: SIMPLE, files: {serverCertificate: %s, privateKey: %s}}",
             expired_cert_path, expired_key_path);
    gateway(yaml, sizeof(yaml), tls);
    cg_buf_t err = {0};
    cg_resource_set_t *rs = load(yaml, 1, &err);
    assert_int_equal(cg_model_check_files(rs, &err), 0);
    const char *w = rs->gateways[0].spec.http[0].tls->warning;
    assert_non_null(w);
    assert_non_null(strstr(w, "t.yaml:9:52: spec.http[0].tls.files.serverCertificate: "));
    assert_non_null(strstr(w, "certificate expired on 20"));
    cg_model_free(rs);
    cg_buf_free(&err);
}

static void secret_yaml(char *out, size_t n, const char *cert_key, const char *cert,
                        const char *key_key, const char *key)
{
    char c[4096], k[4096];
    fx_indent(c, sizeof(c), cert, 4);
    fx_indent(k, sizeof(k), key, 4);
    snprintf(out, n,
             "apiVersion: v1\n"
             "kind: Secret\n"
             "metadata: {name: web, namespace: ns}\n"
             "type: kubernetes.io/tls\n"
             "stringData:\n"
             "  %s: |\n%s"
             "  %s: |\n%s",
             cert_key, c, key_key, k);
}

static void test_secret_string_data(void **state)
{
    (void)state;
    char yaml[8192];
    secret_yaml(yaml, sizeof(yaml), "cert", good.cert, "key", good.key);
    cg_buf_t err = {0};
    cg_resource_set_t *rs = load(yaml, 1, &err);
    assert_int_equal(rs->nsecrets, 1);
    const cg_model_secret_t *s = cg_model_find_secret(rs, "ns", "web");
    assert_non_null(s);
    assert_null(cg_model_find_secret(rs, NULL, "web"));
    assert_string_equal(s->cert, good.cert);
    assert_string_equal(s->key, good.key);
    assert_null(s->ca);
    assert_null(s->warning);
    cg_model_free(rs);
    cg_buf_free(&err);
}

static void test_secret_data_base64(void **state)
{
    (void)state;
    char *c = fx_base64(good.cert), *k = fx_base64(good.key), *ca = fx_base64(other.cert);
    size_t n = strlen(c) + strlen(k) + strlen(ca) + 512;
    char *yaml = malloc(n);
    snprintf(yaml, n,
             "apiVersion: v1\nkind: Secret\nmetadata: {name: web}\n"
             "data:\n  tls.crt: %s\n  tls.key: %s\n  ca.crt: %s\n",
             c, k, ca);
    cg_buf_t err = {0};
    cg_resource_set_t *rs = load(yaml, 1, &err);
    const cg_model_secret_t *s = cg_model_find_secret(rs, NULL, "web");
    assert_non_null(s);
    assert_string_equal(s->cert, good.cert);
    assert_string_equal(s->key, good.key);
    assert_string_equal(s->ca, other.cert);
    cg_model_free(rs);
    cg_buf_free(&err);
    free(yaml), free(c), free(k), free(ca);
}

static void test_secret_bad(void **state)
{
    (void)state;
    char yaml[8192];
    secret_yaml(yaml, sizeof(yaml), "tls.crt", good.cert, "tls.key", other.key);
    cg_buf_t err = {0};
    cg_resource_set_t *rs = load(yaml, 0, &err);
    assert_null(rs);
    char want[128];
    int line = 7;
    for (const char *p = good.cert; *p; p++) line += *p == '\n';
    snprintf(want, sizeof(want),
             "t.yaml:%d:3: stringData.tls.key: does not match the certificate\n", line);
    assert_string_equal(cg_buf_data(&err), want);
    cg_buf_free(&err);

    /* expired: accepted, with a warning */
    secret_yaml(yaml, sizeof(yaml), "cert", expired.cert, "key", expired.key);
    rs = load(yaml, 1, &err);
    assert_non_null(rs->secrets[0].warning);
    assert_non_null(strstr(rs->secrets[0].warning, "certificate expired on 20"));
    cg_model_free(rs);
    cg_buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files_ok),           cmocka_unit_test(test_disabled_is_plain),
        cmocka_unit_test(test_files_bad),          cmocka_unit_test(test_files_expired_warns),
        cmocka_unit_test(test_secret_string_data), cmocka_unit_test(test_secret_data_base64),
        cmocka_unit_test(test_secret_bad),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
