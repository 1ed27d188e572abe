/* TLS servers in the snapshot: files and Secret modes, a Secret delivered only to the
 * instances whose Gateways name it (and to a registered instance only when the Gateway names its
 * cluster), a missing Secret, ports mixing TLS and plain text across
 * Gateways, the encoding's round trip and its redacted form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "../model/tls_fixture.h"
#include "core/err.h"
#include "translate/translate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static fx_cert_t web, other, ca;

static int setup(void **state)
{
    (void)state;
    web = fx_cert("web.example", -1, 30);
    other = fx_cert("other.example", -1, 30);
    ca = fx_cert("ca.example", -1, 30);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_cert_free(&web);
    fx_cert_free(&other);
    fx_cert_free(&ca);
    return 0;
}

static void secret(cg_buf_t *b, const char *ns, const char *name, const fx_cert_t *c,
                   const fx_cert_t *cacert)
{
    static char cb[4096], kb[4096], ab[4096];
    fx_indent(cb, sizeof(cb), c->cert, 4);
    fx_indent(kb, sizeof(kb), c->key, 4);
    cg_buf_printf(b,
                  "---\napiVersion: v1\nkind: Secret\nmetadata: {name: %s, namespace: %s}\n"
                  "stringData:\n  cert: |\n%s  key: |\n%s",
                  name, ns, cb, kb);
    if (cacert) {
        fx_indent(ab, sizeof(ab), cacert->cert, 4);
        cg_buf_printf(b, "  cacert: |\n%s", ab);
    }
}

static void gateway(cg_buf_t *b, const char *ns, const char *name, const char *app, int port,
                    const char *tls)
{
    cg_buf_printf(b,
                  "---\napiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: %s, namespace: "
                  "%s}\nspec:\n  workloadSelector: {namespace: gw, labels: {app: %s}}\n  http:\n"
                  "  - name: %s-s\n    port: %d\n    hostname: %s.example\n%s%s\n"
                  "    routing: {rules: [{directResponse: {status: 200}}]}\n",
                  name, ns, app, name, port, name, tls ? "    tls: " : "", tls ? tls : "");
}

static cg_resource_set_t *load(cg_buf_t *text)
{
    cg_resource_set_t *rs = NULL;
    cg_buf_t err = {0};
    int rc = cg_model_load_buffer("t.yaml", cg_buf_data(text), cg_buf_size(text), &rs, &err);
    if (rc != 0) fail_msg("load: %.*s", (int)cg_buf_size(&err), cg_buf_data(&err));
    cg_buf_free(&err);
    return rs;
}

static int translate(const cg_resource_set_t *rs, const char *app, cg_snapshot_t **s, cg_buf_t *err)
{
    cg_snap_label_t l = {"app", (char *)app};
    cg_instance_t inst = {"c1", "gw", &l, 1, "127.0.0.1", 0, 0};
    return cg_translate_instance(rs, &inst, 1, s, err);
}

static const cg_snap_server_t *server(const cg_snapshot_t *s, const char *name)
{
    for (size_t i = 0; i < s->nservers; i++)
        if (strcmp(s->servers[i].name, name) == 0) return &s->servers[i];
    return NULL;
}

/* The PEM body's first line after the header: unique to that key or certificate. */
static const char *body(const char *pem)
{
    static char line[80];
    const char *p = strchr(pem, '\n') + 1;
    snprintf(line, sizeof(line), "%.*s", (int)(strchr(p, '\n') - p), p);
    return line;
}

static cg_resource_set_t *fixture(void)
{
    cg_buf_t t = {0};
    secret(&t, "a", "web", &web, NULL);
    secret(&t, "b", "other", &other, &ca);
    gateway(&t, "a", "ga", "x", 8443,
            "{mode: SIMPLE, secretName: web, minProtocolVersion: TLSV1_2}");
    gateway(&t, "a", "gc", "x", 9443,
            "{mode: MUTUAL, files: {serverCertificate: /etc/c.pem, privateKey: /etc/k.pem, "
            "caCertificates: /etc/ca.pem}, cipherSuites: [AES128-SHA], subjectAltNames: [cl]}");
    gateway(&t, "a", "gd", "x", 7443, "{mode: SIMPLE, secretName: nowhere}");
    gateway(&t, "a", "ge", "x", 6443, "{mode: MUTUAL, secretName: web}");
    gateway(&t, "b", "gb", "y", 8443, "{mode: MUTUAL, secretName: other}");
    gateway(&t, "b", "gp", "y", 8080, NULL);
    cg_resource_set_t *rs = load(&t);
    cg_buf_free(&t);
    return rs;
}

static void test_secret_delivery(void **state)
{
    (void)state;
    cg_resource_set_t *rs = fixture();
    cg_snapshot_t *x = NULL, *y = NULL;
    cg_buf_t err = {0};
    assert_int_equal(translate(rs, "x", &x, &err), 0);
    assert_int_equal(translate(rs, "y", &y, &err), 0);

    const cg_snap_server_t *a = server(x, "ga-s");
    assert_non_null(a);
    assert_non_null(a->tls);
    assert_int_equal(a->tls->mode, 1);
    assert_int_equal(a->tls->min_version, 3);
    assert_string_equal(a->tls->cert_pem, web.cert);
    assert_string_equal(a->tls->key_pem, web.key);
    assert_null(a->tls->ca_pem);
    assert_null(a->tls->cert_file);
    assert_string_equal(a->tls->secret, "a/web");

    const cg_snap_server_t *c = server(x, "gc-s");
    assert_non_null(c);
    assert_int_equal(c->tls->mode, 2);
    assert_string_equal(c->tls->cert_file, "/etc/c.pem");
    assert_string_equal(c->tls->ca_file, "/etc/ca.pem");
    assert_string_equal(c->tls->cipher_suites[0], "AES128-SHA");
    assert_string_equal(c->tls->subject_alt_names[0], "cl");
    assert_null(c->tls->key_pem);

    /* a missing Secret, a Secret without the cacert MUTUAL needs: not served, a warning each */
    assert_null(server(x, "gd-s"));
    assert_null(server(x, "ge-s"));
    int seen = 0;
    for (size_t i = 0; i < x->nwarnings; i++) {
        seen += strcmp(x->warnings[i], "Gateway a/gd http[0] (gd-s): Secret a/nowhere does not "
                                       "exist: the server is not served") == 0;
        seen += strcmp(x->warnings[i], "Gateway a/ge http[0] (ge-s): Secret a/web has no cacert "
                                       "(mode MUTUAL): the server is not served") == 0;
    }
    assert_int_equal(seen, 2);

    const cg_snap_server_t *b = server(y, "gb-s");
    assert_string_equal(b->tls->ca_pem, ca.cert);
    assert_null(server(y, "gp-s")->tls);

    /* each instance's encoding holds its own Secret's material and nothing of the other's */
    cg_buf_t jx = {0}, jy = {0};
    assert_int_equal(cg_snapshot_encode_json(x, &jx), 0);
    assert_int_equal(cg_snapshot_encode_json(y, &jy), 0);
    cg_buf_append(&jx, "", 1);
    cg_buf_append(&jy, "", 1);
    assert_non_null(strstr(cg_buf_data(&jx), body(web.key)));
    assert_null(strstr(cg_buf_data(&jx), body(other.key)));
    assert_null(strstr(cg_buf_data(&jx), body(other.cert)));
    assert_null(strstr(cg_buf_data(&jx), body(ca.cert)));
    assert_non_null(strstr(cg_buf_data(&jy), body(other.key)));
    assert_null(strstr(cg_buf_data(&jy), body(web.key)));
    assert_null(strstr(cg_buf_data(&jy), body(web.cert)));

    cg_buf_free(&jx);
    cg_buf_free(&jy);
    cg_snapshot_free(x);
    cg_snapshot_free(y);
    cg_model_free(rs);
    cg_buf_free(&err);
}

static void test_round_trip_and_redaction(void **state)
{
    (void)state;
    cg_resource_set_t *rs = fixture();
    cg_snapshot_t *x = NULL, *back = NULL;
    cg_buf_t err = {0}, j1 = {0}, j2 = {0}, red = {0};
    assert_int_equal(translate(rs, "x", &x, &err), 0);
    assert_int_equal(cg_snapshot_encode_json(x, &j1), 0);
    if (cg_snapshot_decode_json(cg_buf_data(&j1), cg_buf_size(&j1), &back, &err) != 0)
        fail_msg("decode: %.*s", (int)cg_buf_size(&err), cg_buf_data(&err));
    assert_int_equal(cg_snapshot_encode_json(back, &j2), 0);
    assert_int_equal(cg_buf_size(&j1), cg_buf_size(&j2));
    assert_memory_equal(cg_buf_data(&j1), cg_buf_data(&j2), cg_buf_size(&j1));
    assert_string_equal(server(back, "ga-s")->tls->key_pem, web.key);

    assert_int_equal(cg_snapshot_encode_json_redacted(x, &red), 0);
    cg_buf_append(&red, "", 1);
    assert_null(strstr(cg_buf_data(&red), "PRIVATE KEY"));
    assert_null(strstr(cg_buf_data(&red), body(web.key)));
    assert_non_null(strstr(cg_buf_data(&red), "\"key_pem\":\"<redacted>\""));
    assert_non_null(strstr(cg_buf_data(&red), body(web.cert))); /* certificates are public */

    cg_buf_free(&j1);
    cg_buf_free(&j2);
    cg_buf_free(&red);
    cg_snapshot_free(x);
    cg_snapshot_free(back);
    cg_model_free(rs);
    cg_buf_free(&err);
}

/* Two Gateways of one instance: one port cannot be TLS for one and plain text for the other. */
/* A registered instance's namespace and labels are only what it claims; its cluster is what its
 * join token binds. A Secret's key reaches it only from a Gateway whose workloadSelector names
 * that cluster; any other TLS server with a Secret is left out, with a warning. */
static void test_secret_only_to_named_cluster(void **state)
{
    (void)state;
    cg_buf_t t = {0};
    secret(&t, "a", "web", &web, NULL);
    gateway(&t, "a", "ga", "x", 8443, "{mode: SIMPLE, secretName: web}");
    gateway(&t, "a", "gf", "x", 9443,
            "{mode: SIMPLE, files: {serverCertificate: /etc/c.pem, privateKey: /etc/k.pem}}");
    cg_buf_printf(&t, "---\napiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: gn, "
                      "namespace: a}\nspec:\n  workloadSelector: {cluster: c1, namespace: gw, "
                      "labels: {app: x}}\n  http:\n  - name: gn-s\n    port: 7443\n    "
                      "hostname: gn.example\n    tls: {mode: SIMPLE, secretName: web}\n    "
                      "routing: {rules: [{directResponse: {status: 200}}]}\n");
    cg_resource_set_t *rs = load(&t);
    cg_snap_label_t l = {"app", "x"};
    cg_snapshot_t *s = NULL, *st = NULL;
    cg_buf_t err = {0}, j = {0};

    cg_instance_t reg = {"c1", "gw", &l, 1, "127.0.0.1", 1, 0};
    assert_int_equal(cg_translate_instance(rs, &reg, 1, &s, &err), 0);
    assert_null(server(s, "ga-s"));
    assert_non_null(server(s, "gf-s")->tls); /* files stay on the gateway's own disk */
    assert_string_equal(server(s, "gn-s")->tls->key_pem, web.key);
    int seen = 0;
    for (size_t i = 0; i < s->nwarnings; i++)
        seen += strcmp(s->warnings[i],
                       "Gateway a/ga http[0] (ga-s): Secret a/web is sent to a registered "
                       "instance only when the Gateway's workloadSelector.cluster names its "
                       "cluster: the server is not served") == 0;
    assert_int_equal(seen, 1);
    cg_snapshot_free(s);

    /* the same instance claiming another cluster gets no Gateway gn, so no key at all */
    cg_instance_t other_cluster = {"c2", "gw", &l, 1, "127.0.0.1", 1, 0};
    assert_int_equal(cg_translate_instance(rs, &other_cluster, 1, &s, &err), 0);
    assert_int_equal(cg_snapshot_encode_json(s, &j), 0);
    cg_buf_append(&j, "", 1);
    assert_null(strstr(cg_buf_data(&j), "PRIVATE KEY"));
    cg_snapshot_free(s);

    /* static mode (the gateway reading its own files) is unaffected */
    cg_instance_t stat = {"c2", "gw", &l, 1, "127.0.0.1", 0, 0};
    assert_int_equal(cg_translate_instance(rs, &stat, 1, &st, &err), 0);
    assert_string_equal(server(st, "ga-s")->tls->key_pem, web.key);
    cg_snapshot_free(st);

    cg_buf_free(&j);
    cg_buf_free(&err);
    cg_buf_free(&t);
    cg_model_free(rs);
}

static void test_port_mix_across_gateways(void **state)
{
    (void)state;
    cg_buf_t t = {0};
    secret(&t, "a", "web", &web, NULL);
    gateway(&t, "a", "ga", "x", 8443, "{mode: SIMPLE, secretName: web}");
    gateway(&t, "a", "gp", "x", 8443, NULL);
    cg_resource_set_t *rs = load(&t);
    cg_snapshot_t *s = NULL;
    cg_buf_t err = {0};
    assert_int_equal(translate(rs, "x", &s, &err), CG_EINVAL);
    cg_buf_append(&err, "", 1);
    assert_non_null(strstr(cg_buf_data(&err),
                           ": spec.http[0].port: port 8443 on this instance is served with TLS "
                           "by Gateway a/ga: a port is either TLS or plain text\n"));
    cg_buf_free(&err);
    cg_buf_free(&t);
    cg_model_free(rs);
}

static void test_decode_rejects_bad_tls(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "{\"mode\":\"SIMPLE\"}",
        "{\"mode\":\"SIMPLE\",\"cert_file\":\"/a\",\"key_pem\":\"k\"}",
        "{\"mode\":\"PLAIN\",\"cert_file\":\"/a\",\"key_file\":\"/b\"}",
        "{\"mode\":\"SIMPLE\",\"cert_file\":\"/a\",\"key_file\":\"/b\",\"min_version\":\"TLS9\"}",
        "{\"mode\":\"MUTUAL\",\"cert_file\":\"/a\",\"key_file\":\"/b\"}",
        "{\"mode\":\"SIMPLE\",\"cert_file\":\"/a\",\"key_file\":\"/b\",\"cipher_suites\":[1]}",
        "[]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char json[512];
        snprintf(json, sizeof(json),
                 "{\"version\":1,\"servers\":[{\"port\":1,\"hostname\":\"h\",\"rules\":[],"
                 "\"tls\":%s}]}",
                 bad[i]);
        cg_snapshot_t *s = NULL;
        cg_buf_t err = {0};
        if (cg_snapshot_decode_json(json, strlen(json), &s, &err) != CG_EPARSE)
            fail_msg("accepted: %s", bad[i]);
        cg_buf_free(&err);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_delivery),
        cmocka_unit_test(test_round_trip_and_redaction),
        cmocka_unit_test(test_secret_only_to_named_cluster),
        cmocka_unit_test(test_port_mix_across_gateways),
        cmocka_unit_test(test_decode_rejects_bad_tls),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
