/* Tests of the tls layer's material: version names, the plaintext sniff, the mesh CA's
 * certificates, and cg_tls_pem_check's answer to each kind of bad input. Keys and certificates
 * are made at run time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "tls/tls_int.h"

#include "certs.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>

static pair_t ca, leaf, other;

static void issue(pair_t *out, const char *cn, const char *dns, const char *uri, int64_t from_s,
                  int days)
{
    issue_pair(&ca, out, cn, dns, uri, from_s, days);
}

static int setup(void **state)
{
    cg_buf_t err = {0};
    assert_int_equal(cg_tls_ca_create("test CA", 1, &ca.cert, &ca.key, &err), 0);
    issue(&leaf, "a.example", "a.example", "spiffe://crossgate/ns/n/cluster/c", 0, 1);
    issue(&other, "b.example", "b.example", NULL, 0, 1);
    cg_buf_free(&err);
    return 0;
}

static int teardown(void **state)
{
    pair_free(&ca);
    pair_free(&leaf);
    pair_free(&other);
    return 0;
}

static void test_version_names(void **state)
{
    static const struct {
        const char *name;
        cg_tls_version_t v;
    } cases[] = {
        {"TLS_AUTO", CG_TLS_AUTO}, {"TLSV1_0", CG_TLS_V1_0}, {"TLSV1_1", CG_TLS_V1_1},
        {"TLSV1_2", CG_TLS_V1_2},  {"TLSV1_3", CG_TLS_V1_3},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_tls_version_t v = CG_TLS_AUTO;
        assert_int_equal(cg_tls_version_parse(cases[i].name, &v), 0);
        assert_int_equal(v, cases[i].v);
        assert_string_equal(cg_tls_version_name(v), cases[i].name);
    }
    static const char *const bad[] = {"TLSv1_2", "TLSV1_4", "", "tls_auto", "TLSV1_2 "};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        cg_tls_version_t v = CG_TLS_V1_3;
        assert_int_equal(cg_tls_version_parse(bad[i], &v), CG_EINVAL);
        assert_int_equal(v, CG_TLS_V1_3);
    }
    assert_int_equal(cg_tls_version_parse(NULL, &(cg_tls_version_t){0}), CG_EINVAL);
    assert_string_equal(cg_tls_version_name((cg_tls_version_t)42), "?");
}

static void test_looks_like_http(void **state)
{
    static const struct {
        const char *data;
        size_t len;
        int http;
    } cases[] = {
        {"GET / HTTP/1.1\r\n", 16, 1},
        {"POST /x HTTP/1.1", 16, 1},
        {"OPTIONS * HTTP/1.1", 18, 1},
        {"G", 1, 1},   /* a short prefix: judged on what is there */
        {"PRI", 3, 1}, /* the h2 preface too */
        {"\x16\x03\x01\x02\x00", 5, 0},
        {"\x16", 1, 0},
        {"", 0, 0},
        {"get / HTTP/1.1", 14, 0},
        {"AB / x", 6, 0}, /* no method is two letters */
        {" GET", 4, 0},
        {"GETGETGETGETGETGETGET", 21, 0}, /* no space in the first 16 bytes */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_int_equal(cg_tls_looks_like_http(cases[i].data, cases[i].len), cases[i].http);
}

static X509 *parse(cg_buf_t *pem)
{
    BIO *b = BIO_new_mem_buf(cg_buf_data(pem), (int)cg_buf_size(pem));
    X509 *x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(x);
    return x;
}

static void test_ca_certificates(void **state)
{
    X509 *c = parse(&ca.cert), *l = parse(&leaf.cert);
    assert_int_equal(X509_check_ca(c), 1);
    assert_int_equal(X509_check_ca(l), 0);
    assert_true(X509_get_extended_key_usage(l) & XKU_SSL_SERVER);
    assert_true(X509_get_extended_key_usage(l) & XKU_SSL_CLIENT);
    assert_int_equal(X509_check_issued(c, l), X509_V_OK);
    EVP_PKEY *pub = X509_get0_pubkey(l);
    assert_int_equal(EVP_PKEY_get_base_id(pub), EVP_PKEY_EC);
    assert_int_equal(X509_get_signature_nid(l), NID_ecdsa_with_SHA256);
    const ASN1_INTEGER *serial = X509_get0_serialNumber(l);
    assert_int_equal(ASN1_STRING_length(serial), 16); /* 128 random bits, kept positive */
    const char *uri = "spiffe://crossgate/ns/n/cluster/c", *dns = "a.example";
    assert_true(cg_tls__cert_has_san(l, &uri, 1, 1));
    assert_true(cg_tls__cert_has_san(l, &dns, 1, 0));
    assert_false(cg_tls__cert_has_san(l, &dns, 1, 1)); /* a DNS name is not a URI */
    const char *near = "spiffe://crossgate/ns/n/cluster/cc";
    assert_false(cg_tls__cert_has_san(l, &near, 1, 0));
    /* the key PEM is what OpenSSL reads back, and it is the leaf's */
    assert_int_equal(
        cg_tls_pem_check(&(cg_tls_pem_t){cg_buf_data(&leaf.cert), cg_buf_size(&leaf.cert),
                                         cg_buf_data(&leaf.key), cg_buf_size(&leaf.key),
                                         cg_buf_data(&ca.cert), cg_buf_size(&ca.cert)},
                         NULL, &(cg_buf_t){0}),
        0);
    X509_free(c);
    X509_free(l);
}

static void test_ca_refuses_bad_requests(void **state)
{
    cg_buf_t cert = {0}, key = {0}, err = {0};
    const char *smuggle = "a.example,URI:spiffe://x";
    cg_tls_issue_t req = {.common_name = "x", .dns = &smuggle, .ndns = 1, .days = 1};
    assert_int_equal(cg_tls_ca_issue(pem_str(&ca.cert), pem_str(&ca.key), &req, &cert, &key, &err),
                     CG_EINVAL);
    assert_string_equal(pem_str(&err), "dns: \"a.example,URI:spiffe://x\" is not a host name");
    /* a wildcard only as a whole first label: no catch-all "*", no "a*.example" */
    static const char *const wild[] = {"*", "*.", "a*.example", "*.*.example", "a.*.example"};
    for (size_t i = 0; i < sizeof(wild) / sizeof(wild[0]); i++) {
        cg_buf_reset(&err);
        req.dns = &wild[i];
        assert_int_equal(
            cg_tls_ca_issue(pem_str(&ca.cert), pem_str(&ca.key), &req, &cert, &key, &err),
            CG_EINVAL);
    }
    const char *ok = "*.b.example";
    req.dns = &ok;
    cg_buf_reset(&err);
    assert_int_equal(cg_tls_ca_issue(pem_str(&ca.cert), pem_str(&ca.key), &req, &cert, &key, &err),
                     0);
    cg_buf_free(&cert);
    cg_buf_free(&key);
    cg_buf_reset(&err);
    req.ndns = 0;
    req.days = 0;
    assert_int_equal(cg_tls_ca_issue(pem_str(&ca.cert), pem_str(&ca.key), &req, &cert, &key, &err),
                     CG_EINVAL);
    assert_string_equal(pem_str(&err), "days: expected 1..36500, got 0");
    cg_buf_reset(&err);
    req.days = 1;
    /* a CA key that is not the CA certificate's */
    assert_int_equal(
        cg_tls_ca_issue(pem_str(&ca.cert), pem_str(&leaf.key), &req, &cert, &key, &err), CG_EINVAL);
    assert_string_equal(pem_str(&err), "ca key: does not match the CA certificate");
    cg_buf_reset(&err);
    /* a leaf is not a CA */
    assert_int_equal(
        cg_tls_ca_issue(pem_str(&leaf.cert), pem_str(&leaf.key), &req, &cert, &key, &err),
        CG_EINVAL);
    assert_string_equal(pem_str(&err), "ca cert: not a CA certificate");
    cg_buf_reset(&err);
    assert_int_equal(cg_tls_ca_create("", 1, &cert, &key, &err), CG_EINVAL);
    assert_int_equal(cg_buf_size(&cert), 0);
    assert_int_equal(cg_buf_size(&key), 0);
    cg_buf_free(&err);
}

/* One bad input and the exact line it earns. */
static void check_refused(const char *cert, const char *key, const char *ca_pem, const char *want)
{
    cg_tls_pem_t pem = {cert, strlen(cert), key, strlen(key), ca_pem, ca_pem ? strlen(ca_pem) : 0};
    cg_buf_t err = {0};
    char *warning = (char *)"untouched";
    assert_int_equal(cg_tls_pem_check(&pem, &warning, &err), CG_EINVAL);
    assert_string_equal(pem_str(&err), want);
    assert_null(warning);
    cg_buf_free(&err);
}

static void test_pem_check_bad_inputs(void **state)
{
    const char *c = pem_str(&leaf.cert), *k = pem_str(&leaf.key), *ok_ca = pem_str(&ca.cert);
    static const char garbage[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
    static const char broken[] = "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
    check_refused("hello, world\n", k, NULL, "cert: not a PEM certificate");
    check_refused("", k, NULL, "cert: missing");
    check_refused(k, k, NULL, "cert: not a certificate (found PRIVATE KEY)");
    check_refused(garbage, k, NULL, "cert: malformed certificate");
    check_refused(broken, k, NULL, "cert: malformed PEM block 1");
    check_refused(c, "not a key", NULL, "key: not a PEM private key");
    check_refused(c, c, NULL, "key: not a private key (found CERTIFICATE)");
    check_refused(c, pem_str(&other.key), NULL, "key: does not match the certificate");
    check_refused(c, k, garbage, "ca: malformed certificate");
    check_refused(c, k, "just text", "ca: not a PEM certificate bundle");
    static const char encrypted[] =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
    check_refused(c, encrypted, NULL, "key: encrypted keys are not supported");
    /* and the good material passes without a warning */
    cg_tls_pem_t pem = {c, strlen(c), k, strlen(k), ok_ca, strlen(ok_ca)};
    char *warning = (char *)"untouched";
    cg_buf_t err = {0};
    assert_int_equal(cg_tls_pem_check(&pem, &warning, &err), 0);
    assert_null(warning);
    assert_int_equal(cg_buf_size(&err), 0);
}

static void check_warning(int64_t from_s, int days, const char *prefix)
{
    pair_t p = {0};
    issue(&p, "old.example", "old.example", NULL, from_s, days);
    cg_tls_pem_t pem = {cg_buf_data(&p.cert),
                        cg_buf_size(&p.cert),
                        cg_buf_data(&p.key),
                        cg_buf_size(&p.key),
                        NULL,
                        0};
    char *warning = NULL;
    cg_buf_t err = {0};
    assert_int_equal(cg_tls_pem_check(&pem, &warning, &err), 0); /* served, with a warning */
    assert_non_null(warning);
    size_t pl = strlen(prefix);
    assert_int_equal(strncmp(warning, prefix, pl), 0);
    const char *when = warning + pl; /* 2026-01-01T00:00:00Z */
    assert_int_equal(strlen(when), 20);
    assert_true(when[4] == '-' && when[7] == '-' && when[10] == 'T' && when[13] == ':' &&
                when[19] == 'Z');
    free(warning);
    pair_free(&p);
}

static void test_pem_check_warns_about_dates(void **state)
{
    check_warning(-3 * 86400, 1, "certificate expired on ");
    check_warning(2 * 86400, 1, "certificate not valid before ");
}

/* A mesh identity: its URI SAN must be the gateway's own, and it must chain to the mesh CA,
 * whatever its dates (an expired one is a warning). */
static void test_identity_check(void **state)
{
    (void)state;
    static const char uri[] = "spiffe://crossgate/ns/n/cluster/c";
    cg_tls_pem_t pem = {pem_str(&leaf.cert),    cg_buf_size(&leaf.cert), pem_str(&leaf.key),
                        cg_buf_size(&leaf.key), pem_str(&ca.cert),       cg_buf_size(&ca.cert)};
    cg_buf_t err = {0};
    char *warning = NULL;
    assert_int_equal(cg_tls_identity_check(&pem, uri, &warning, &err), 0);
    assert_null(warning);
    /* another cluster's name */
    assert_int_equal(
        cg_tls_identity_check(&pem, "spiffe://crossgate/ns/n/cluster/d", &warning, &err),
        CG_EINVAL);
    assert_string_equal(pem_str(&err), "cert: has no URI SAN spiffe://crossgate/ns/n/cluster/d");
    assert_null(warning);
    cg_buf_reset(&err);
    /* a prefix of the SAN is not the SAN */
    assert_int_equal(
        cg_tls_identity_check(&pem, "spiffe://crossgate/ns/n/cluster/", &warning, &err), CG_EINVAL);
    cg_buf_reset(&err);
    /* issued by another CA */
    pair_t ca2 = {0}, foreign = {0};
    assert_int_equal(cg_tls_ca_create("other CA", 1, &ca2.cert, &ca2.key, &err), 0);
    issue_pair(&ca2, &foreign, "c", NULL, uri, 0, 1);
    cg_tls_pem_t fp = {pem_str(&foreign.cert), cg_buf_size(&foreign.cert),
                       pem_str(&foreign.key),  cg_buf_size(&foreign.key),
                       pem_str(&ca.cert),      cg_buf_size(&ca.cert)};
    assert_int_equal(cg_tls_identity_check(&fp, uri, &warning, &err), CG_EINVAL);
    assert_non_null(strstr(pem_str(&err), "cert: not issued by the mesh CA"));
    cg_buf_reset(&err);
    /* no CA given */
    cg_tls_pem_t noca = pem;
    noca.ca = NULL;
    noca.ca_len = 0;
    assert_int_equal(cg_tls_identity_check(&noca, uri, &warning, &err), CG_EINVAL);
    assert_string_equal(pem_str(&err), "ca: the mesh CA is required");
    cg_buf_reset(&err);
    /* expired: accepted, with the warning */
    pair_t old = {0};
    issue_pair(&ca, &old, "c", NULL, uri, -3 * 86400, 1);
    cg_tls_pem_t op = {pem_str(&old.cert),    cg_buf_size(&old.cert), pem_str(&old.key),
                       cg_buf_size(&old.key), pem_str(&ca.cert),      cg_buf_size(&ca.cert)};
    assert_int_equal(cg_tls_identity_check(&op, uri, &warning, &err), 0);
    assert_non_null(warning);
    assert_non_null(strstr(warning, "certificate expired on "));
    free(warning);
    pair_free(&ca2);
    pair_free(&foreign);
    pair_free(&old);
    cg_buf_free(&err);
}

static void test_pem_check_survives_damaged_material(void **state)
{
    /* every cut and every flipped byte of good material is either accepted or refused with a
     * line; nothing crashes or leaks (the run is under ASan) */
    const char *parts[] = {pem_str(&leaf.cert), pem_str(&leaf.key), pem_str(&ca.cert)};
    unsigned seed = 11;
    int refused = 0, accepted = 0;
    for (int round = 0; round < 600; round++) {
        int which = round % 3;
        size_t len = strlen(parts[which]);
        char *bad = malloc(len + 1);
        memcpy(bad, parts[which], len + 1);
        seed = seed * 1103515245u + 12345u;
        size_t at = (seed >> 8) % len;
        size_t use = len;
        if (round % 2)
            use = at; /* cut short */
        else
            bad[at] = (char)(bad[at] ^ (1u << ((seed >> 4) % 8))); /* one bit flipped */
        cg_tls_pem_t pem = {parts[0],         strlen(parts[0]), parts[1],
                            strlen(parts[1]), parts[2],         strlen(parts[2])};
        const char **slot = which == 0 ? &pem.cert : which == 1 ? &pem.key : &pem.ca;
        size_t *slot_len = which == 0 ? &pem.cert_len : which == 1 ? &pem.key_len : &pem.ca_len;
        *slot = bad;
        *slot_len = use;
        char *warning = NULL;
        cg_buf_t err = {0};
        int rc = cg_tls_pem_check(&pem, &warning, &err);
        assert_true(rc == 0 || rc == CG_EINVAL);
        rc ? refused++ : accepted++;
        if (rc) {
            assert_true(cg_buf_size(&err) > 0);
            assert_null(memchr(cg_buf_data(&err), '\n', cg_buf_size(&err))); /* one line */
        }
        free(warning);
        cg_buf_free(&err);
        free(bad);
    }
    assert_true(refused > 300); /* most damage is seen */
    assert_true(accepted > 0);  /* some is harmless (a flipped bit in a signature, say) */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_names),
        cmocka_unit_test(test_looks_like_http),
        cmocka_unit_test(test_ca_certificates),
        cmocka_unit_test(test_ca_refuses_bad_requests),
        cmocka_unit_test(test_pem_check_bad_inputs),
        cmocka_unit_test(test_pem_check_warns_about_dates),
        cmocka_unit_test(test_pem_check_survives_damaged_material),
        cmocka_unit_test(test_identity_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
