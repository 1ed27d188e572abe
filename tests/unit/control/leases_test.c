/* Tests of instance registrations and leases: parsing, expiry with time passed in, renewal,
 * replacement of the same identity, deregistration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "control/instances.h"
#include "core/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_parse_table(void **state)
{
    (void)state;
    static const struct {
        const char *body;
        const char *err; /* NULL: accepted; else a substring of the message */
    } cases[] = {
        {"{\"cluster\":\"cluster-1\",\"namespace\":\"bookinfo\",\"labels\":{\"app\":\"ingressgw-"
         "1\"},"
         "\"address\":\"127.0.1.1\",\"admin\":\"127.0.1.1:15000\"}",
         NULL},
        {"{\"cluster\":\"c\",\"address\":\"::1\"}", NULL},
        {"", "malformed JSON"},
        {"[1,2]", "expected one JSON object"},
        {"{\"cluster\":\"c\"", "malformed JSON"},
        {"{\"address\":\"127.0.0.1\"}", "cluster: missing required field"},
        {"{\"cluster\":\"c\"}", "address: missing required field"},
        {"{\"cluster\":\"c\",\"address\":\"not-an-ip\"}", "address: expected an IP address"},
        {"{\"cluster\":5,\"address\":\"127.0.0.1\"}", "cluster: expected a string"},
        {"{\"cluster\":\"\",\"address\":\"127.0.0.1\"}", "cluster: must not be empty"},
        {"{\"cluster\":\"a b\",\"address\":\"127.0.0.1\"}", "cluster: must be printable"},
        {"{\"cluster\":\"c\",\"address\":\"127.0.0.1\",\"labels\":[\"x\"]}",
         "labels: expected an object"},
        {"{\"cluster\":\"c\",\"address\":\"127.0.0.1\",\"labels\":{\"a\":1}}",
         "labels: expected an object"},
        {"{\"cluster\":\"c\",\"address\":\"127.0.0.1\",\"colour\":\"red\"}",
         "colour: unknown field"},
        {"{\"cluster\":\"c\",\"cluster\":\"d\",\"address\":\"127.0.0.1\"}", "duplicate object key"},
        /* the resource model's names: a cluster no resource could name is refused */
        {"{\"cluster\":\"a/b\",\"address\":\"127.0.0.1\"}", "cluster: expected letters, digits"},
        {"{\"cluster\":\"c\",\"address\":\"127.0.0.1\",\"labels\":{\"k:y\":\"v\"}}",
         "expected a label key"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_control_inst_t *inst = NULL;
        cg_buf_t err = {0};
        int rc = cg_control_inst_parse(cases[i].body, strlen(cases[i].body), &inst, &err);
        cg_buf_append(&err, "", 1);
        if (cases[i].err == NULL) {
            if (rc) fail_msg("case %zu rejected: %s", i, err.base);
            assert_non_null(inst);
            cg_control_inst_free(inst);
        } else {
            assert_int_equal(rc, CG_EINVAL);
            assert_null(inst);
            if (!strstr(err.base, cases[i].err))
                fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err.base, cases[i].err);
        }
        cg_buf_free(&err);
    }
}

static cg_control_inst_t *make(const char *cluster, const char *address, const char *app)
{
    char body[256];
    snprintf(
        body, sizeof(body),
        "{\"cluster\":\"%s\",\"namespace\":\"ns\",\"labels\":{\"app\":\"%s\"},\"address\":\"%s\"}",
        cluster, app, address);
    cg_control_inst_t *inst = NULL;
    cg_buf_t err = {0};
    assert_int_equal(cg_control_inst_parse(body, strlen(body), &inst, &err), 0);
    cg_buf_free(&err);
    return inst;
}

static int gone[3];
static void on_gone(cg_control_leases_t *l, cg_control_inst_t *inst, cg_control_gone_t why)
{
    gone[why]++;
}

static void test_expiry_and_heartbeat(void **state)
{
    (void)state;
    memset(gone, 0, sizeof(gone));
    cg_control_leases_t l = {.ttl_ms = 3000, .on_gone = on_gone};
    cg_control_inst_t *a = make("c1", "127.0.0.1", "a"), *b = make("c2", "127.0.0.2", "b");
    cg_control_leases_register(&l, a, 1000);
    cg_control_leases_register(&l, b, 1500);
    char ida[33], idb[33];
    memcpy(ida, a->id, sizeof(ida));
    memcpy(idb, b->id, sizeof(idb));
    assert_int_equal(strlen(ida), 32);
    assert_string_not_equal(ida, idb);
    assert_int_equal(cg_control_leases_sweep(&l, 3999), 0);
    assert_int_equal(cg_control_leases_heartbeat(&l, ida, 3999), 0); /* a renews, b does not */
    assert_int_equal(cg_control_leases_sweep(&l, 4499), 0);
    assert_int_equal(cg_control_leases_sweep(&l, 4500), 1); /* b: 3 s after its last sign */
    assert_null(cg_control_leases_find(&l, idb));
    assert_int_equal(gone[CG_CONTROL_GONE_EXPIRED], 1);
    assert_int_equal(cg_control_leases_heartbeat(&l, idb, 4500), CG_ENOENT);
    assert_int_equal(cg_control_leases_sweep(&l, 6998), 0);
    assert_int_equal(cg_control_leases_sweep(&l, 6999), 1);
    assert_int_equal(l.items.len, 0);
    assert_int_equal(gone[CG_CONTROL_GONE_EXPIRED], 2);
    cg_control_leases_destroy(&l);
}

/* A lease renewed by another control plane (grace_ms set) lasts its grace past the TTL; a
 * heartbeat here makes it an ordinary one again. */
static void test_grace_of_a_lease_renewed_elsewhere(void **state)
{
    (void)state;
    memset(gone, 0, sizeof(gone));
    cg_control_leases_t l = {.ttl_ms = 3000, .on_gone = on_gone};
    cg_control_inst_t *a = make("c1", "127.0.0.1", "a"), *b = make("c2", "127.0.0.2", "b");
    cg_control_leases_register(&l, a, 1000);
    cg_control_leases_register(&l, b, 1000);
    a->grace_ms = b->grace_ms = 3000;
    assert_int_equal(cg_control_leases_heartbeat(&l, b->id, 2000), 0); /* b: ours now */
    assert_int_equal(b->grace_ms, 0);
    assert_int_equal(cg_control_leases_sweep(&l, 4999), 0);
    assert_int_equal(cg_control_leases_sweep(&l, 5000), 1); /* b: 3 s after its heartbeat */
    assert_int_equal(l.items.len, 1);
    assert_int_equal(cg_control_leases_sweep(&l, 6999), 0); /* a: TTL + grace after 1000 */
    assert_int_equal(cg_control_leases_sweep(&l, 7000), 1);
    assert_int_equal(gone[CG_CONTROL_GONE_EXPIRED], 2);
    cg_control_leases_destroy(&l);
}

/* SIGSTOP for 10 s, then SIGCONT: the first sweep comes 10 s after the last. The control plane
 * was not running, so that time must not count against anyone's lease. */
static void test_a_stall_of_the_control_plane_expires_no_lease(void **state)
{
    (void)state;
    memset(gone, 0, sizeof(gone));
    cg_control_leases_t l = {.ttl_ms = 3000, .sweep_ms = 250, .on_gone = on_gone};
    cg_control_inst_t *a = make("c1", "127.0.0.1", "a");
    cg_control_leases_register(&l, a, 1000);
    char ida[33];
    memcpy(ida, a->id, sizeof(ida));
    for (uint64_t t = 1000; t <= 2000; t += 250)
        assert_int_equal(cg_control_leases_sweep(&l, t), 0);
    assert_int_equal(cg_control_leases_heartbeat(&l, ida, 2000), 0);
    /* stopped from 2000 to 12000 */
    assert_int_equal(cg_control_leases_sweep(&l, 12000), 0);
    assert_int_equal(l.stalls, 1);
    assert_int_equal(gone[CG_CONTROL_GONE_EXPIRED], 0);
    /* running again, no heartbeat: the lease expires 3 s of running time after the last one */
    uint64_t t = 12000;
    size_t n = 0;
    while (!n && t < 20000) n = cg_control_leases_sweep(&l, t += 250);
    assert_int_equal(n, 1);
    assert_true(t >= 12000 + 2750 && t <= 12000 + 3250);
    cg_control_leases_destroy(&l);
}

static void test_replace_and_remove(void **state)
{
    (void)state;
    memset(gone, 0, sizeof(gone));
    cg_control_leases_t l = {.on_gone = on_gone};
    cg_control_inst_t *a = make("c1", "127.0.0.1", "a");
    cg_control_leases_register(&l, a, 0);
    char old[33];
    memcpy(old, a->id, sizeof(old));
    /* same identity (a restarted gateway): replaces; other labels: a second instance */
    cg_control_inst_t *a2 = make("c1", "127.0.0.1", "a"), *other = make("c1", "127.0.0.1", "z");
    cg_control_leases_register(&l, a2, 10);
    assert_int_equal(gone[CG_CONTROL_GONE_REPLACED], 1);
    assert_null(cg_control_leases_find(&l, old));
    cg_control_leases_register(&l, other, 20);
    assert_int_equal(l.items.len, 2);
    assert_int_equal(cg_control_leases_remove(&l, a2->id), 0);
    assert_int_equal(gone[CG_CONTROL_GONE_DEREGISTERED], 1);
    assert_int_equal(cg_control_leases_remove(&l, old), CG_ENOENT);
    assert_int_equal(l.items.len, 1);
    cg_instance_t v = cg_control_inst_view(l.items.items[0]);
    assert_string_equal(v.cluster, "c1");
    assert_string_equal(v.labels[0].value, "z");
    cg_control_leases_destroy(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_table),
        cmocka_unit_test(test_expiry_and_heartbeat),
        cmocka_unit_test(test_grace_of_a_lease_renewed_elsewhere),
        cmocka_unit_test(test_a_stall_of_the_control_plane_expires_no_lease),
        cmocka_unit_test(test_replace_and_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
