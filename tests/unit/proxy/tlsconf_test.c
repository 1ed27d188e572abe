/* A config's TLS (proxy/tlsconf.c): a port whose servers carry tls gets one set of TLS servers
 * and the opener that starts handshakes on it, each vhost knowing its server's index in that set;
 * material is PEM from the snapshot or files read at compile; a port with TLS and plain-text
 * servers, an unreadable file and bad PEM are refused with a line naming the server. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/list.h"
#include "proxy/config.h"
#include "proxy/tlsconf.h"
#include "tls/tls.h"
#include "translate/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define J(...) #__VA_ARGS__

/* Port 8443: three servers listed so that the vhost order (exact, wildcard, any) is not the
 * snapshot's; port 8080 plain text. */
static const char snap_json[] = J({
    "version" : 1,
    "address" : "127.0.0.1",
    "servers" : [
        {"name" : "any", "port" : 8443, "hostname" : "*", "rules" : []},
        {"name" : "wild", "port" : 8443, "hostname" : "*.example.com", "rules" : []},
        {"name" : "exact", "port" : 8443, "hostname" : "a.example.com", "rules" : []},
        {"name" : "plain", "port" : 8080, "hostname" : "*", "rules" : []}
    ]
});

static cg_buf_t ca_cert, ca_key, leaf_cert, leaf_key;

static int setup(void **state)
{
    (void)state;
    cg_buf_t err = {0};
    static const char *const dns[] = {"a.example.com"};
    cg_tls_issue_t req = {.common_name = "a", .dns = dns, .ndns = 1, .days = 1};
    if (cg_tls_ca_create("unit CA", 1, &ca_cert, &ca_key, &err) || cg_buf_append(&ca_cert, "", 1) ||
        cg_buf_append(&ca_key, "", 1) ||
        cg_tls_ca_issue(ca_cert.base, ca_key.base, &req, &leaf_cert, &leaf_key, &err) ||
        cg_buf_append(&leaf_cert, "", 1) || cg_buf_append(&leaf_key, "", 1))
        fail_msg("pki: %.*s", (int)err.len, err.base);
    cg_buf_free(&err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cg_buf_free(&ca_cert);
    cg_buf_free(&ca_key);
    cg_buf_free(&leaf_cert);
    cg_buf_free(&leaf_key);
    return 0;
}

static cg_snapshot_t *decode(void)
{
    cg_buf_t errors = {0};
    cg_snapshot_t *s = NULL;
    if (cg_snapshot_decode_json(snap_json, strlen(snap_json), &s, &errors))
        fail_msg("decode: %.*s", (int)errors.len, errors.base);
    cg_buf_free(&errors);
    return s;
}

static cg_snap_tls_t *pem_tls(const char *cert, const char *key)
{
    cg_snap_tls_t *t = cg_xcalloc(1, sizeof(*t));
    t->mode = CG_TLS_SIMPLE;
    t->cert_pem = cg_xstrdup(cert);
    t->key_pem = cg_xstrdup(key);
    return t;
}

static void tls_on_port_8443(cg_snapshot_t *s)
{
    for (size_t i = 0; i < 3; i++) s->servers[i].tls = pem_tls(leaf_cert.base, leaf_key.base);
}

static int compile(cg_snapshot_t *s, cg_config_t **c, cg_buf_t *errors)
{
    *c = NULL;
    int rc = cg_proxy_config_compile(s, c, errors);
    cg_buf_append(errors, "", 1);
    return rc;
}

static void test_a_tls_port_gets_one_set_and_each_vhost_its_index(void **state)
{
    (void)state;
    cg_snapshot_t *s = decode();
    tls_on_port_8443(s);
    cg_buf_t errors = {0};
    cg_config_t *c;
    if (compile(s, &c, &errors)) fail_msg("compile: %s", errors.base);
    const cg_listener_cfg_t *tls = cg_proxy_config_listener(c, 8443);
    const cg_listener_cfg_t *plain = cg_proxy_config_listener(c, 8080);
    assert_non_null(tls);
    assert_non_null(plain);
    assert_non_null(cg_proxy_tls_servers(tls));
    assert_non_null(tls->xopen.open);
    assert_null(cg_proxy_tls_servers(plain));
    assert_null(plain->xopen.open);
    /* vhosts are reordered (exact, wildcard, any); the index stays the snapshot's */
    assert_int_equal(tls->nvhosts, 3);
    static const char *const order[] = {"exact", "wild", "any"};
    static const int index[] = {2, 1, 0};
    for (int i = 0; i < 3; i++) {
        assert_string_equal(tls->vhosts[i].server, order[i]);
        assert_int_equal(tls->vhosts[i].tls_index, index[i]);
    }
    /* the opener starts a TLS transport holding its own reference to the set */
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    cg_xport_t x;
    assert_int_equal(cg_xport_open(&tls->xopen, &x, fds[0]), 0);
    assert_non_null(x.impl);
    cg_proxy_config_unref(c); /* the transport outlives the config (ASan: no use after free) */
    cg_xport_close(&x);
    close(fds[1]);
    cg_buf_free(&errors);
}

static void expect_refused(void (*edit)(cg_snapshot_t *), const char *want)
{
    cg_snapshot_t *s = decode();
    edit(s);
    cg_buf_t errors = {0};
    cg_config_t *c;
    assert_int_equal(compile(s, &c, &errors), CG_EINVAL);
    assert_null(c);
    if (!strstr(errors.base, want)) fail_msg("errors \"%s\" lack \"%s\"", errors.base, want);
    cg_buf_free(&errors);
}

static void mixed_port(cg_snapshot_t *s)
{
    tls_on_port_8443(s);
    s->servers[3].port = 8443;
}

static void missing_file(cg_snapshot_t *s)
{
    for (size_t i = 0; i < 3; i++) {
        cg_snap_tls_t *t = cg_xcalloc(1, sizeof(*t));
        t->mode = CG_TLS_SIMPLE;
        t->cert_file = cg_xstrdup("/nonexistent/cert.pem");
        t->key_file = cg_xstrdup("/nonexistent/key.pem");
        s->servers[i].tls = t;
    }
}

static void wrong_key(cg_snapshot_t *s)
{
    tls_on_port_8443(s);
    cg_snap_tls_free(s->servers[1].tls);
    s->servers[1].tls = pem_tls(leaf_cert.base, ca_key.base);
}

static void test_what_a_tls_port_cannot_serve_is_refused(void **state)
{
    (void)state;
    expect_refused(mixed_port, "port 8443: server any is TLS and server plain plain text");
    expect_refused(missing_file,
                   "server any (port 8443): cannot read /nonexistent/cert.pem: No such file");
    expect_refused(wrong_key, "port 8443: server 1 (*.example.com)");
}

static char *write_temp(const char *text)
{
    char *path = cg_xstrdup("/tmp/cg-tlsconf-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_files_are_read_at_compile(void **state)
{
    (void)state;
    char *cert = write_temp(leaf_cert.base), *key = write_temp(leaf_key.base);
    cg_snapshot_t *s = decode();
    for (size_t i = 0; i < 3; i++) {
        cg_snap_tls_t *t = cg_xcalloc(1, sizeof(*t));
        t->mode = CG_TLS_SIMPLE;
        t->cert_file = cg_xstrdup(cert);
        t->key_file = cg_xstrdup(key);
        s->servers[i].tls = t;
    }
    cg_buf_t errors = {0};
    cg_config_t *c;
    if (compile(s, &c, &errors)) fail_msg("compile: %s", errors.base);
    /* read at compile: the files can go, the config still serves */
    unlink(cert);
    unlink(key);
    assert_non_null(cg_proxy_tls_servers(cg_proxy_config_listener(c, 8443)));
    cg_proxy_config_unref(c);
    cg_buf_free(&errors);
    free(cert);
    free(key);
}

static void test_failure_reasons_have_indexes(void **state)
{
    (void)state;
    for (int i = 0; i < CG_PROXY_TLS_NREASONS; i++)
        assert_int_equal(cg_proxy_tls_reason_index(cg_proxy_tls_reason_names[i]), i);
    assert_int_equal(cg_proxy_tls_reason_index("http_request"), CG_PROXY_TLS_FAIL_http_request);
    assert_int_equal(cg_proxy_tls_reason_index("no such reason"), CG_PROXY_TLS_FAIL_other);
    assert_int_equal(cg_proxy_tls_reason_index(NULL), CG_PROXY_TLS_FAIL_other);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_tls_port_gets_one_set_and_each_vhost_its_index),
        cmocka_unit_test(test_what_a_tls_port_cannot_serve_is_refused),
        cmocka_unit_test(test_files_are_read_at_compile),
        cmocka_unit_test(test_failure_reasons_have_indexes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
