/* Compiling a snapshot into request-path tables (listeners, virtual hosts, routes,
 * destinations) and what the compile refuses; and the endpoint stats registry: one entry per
 * (destination, endpoint), found again by every later compile, visited newest first. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/clock.h"
#include "core/list.h"
#include "core/err.h"
#include "lb/priority.h"
#include "proxy/config.h"
#include "translate/snapshot.h"

#include <stdio.h>
#include <string.h>

enum { NDESTS = 40, NEPS = 500 };

typedef struct visit {
    cg_ep_stats_t **seen;
    size_t n;
    int in_order;
    int prev_d, prev_e;
} visit_t;

static void on_entry(void *ctx, const char *dest, const char *ep, const cg_ep_stats_t *st)
{
    visit_t *v = ctx;
    int d, e, a, b;
    if (sscanf(dest, "dest-%d", &d) != 1 || sscanf(ep, "10.0.%d.%d:80", &a, &b) != 2) return;
    e = a * 256 + b;
    assert_ptr_equal(v->seen[d * NEPS + e], st);
    if (v->n && (d > v->prev_d || (d == v->prev_d && e > v->prev_e))) v->in_order = 0;
    v->prev_d = d;
    v->prev_e = e;
    v->n++;
}

static void test_registry(void **state)
{
    (void)state;
    cg_ep_stats_t **seen = cg_xcalloc(NDESTS * NEPS, sizeof(*seen));
    char dest[32], ep[32];
    for (int d = 0; d < NDESTS; d++) {
        for (int e = 0; e < NEPS; e++) {
            snprintf(dest, sizeof(dest), "dest-%d", d);
            snprintf(ep, sizeof(ep), "10.0.%d.%d:80", e / 256, e % 256);
            cg_ep_stats_t *st = cg_proxy_ep_stats_get(dest, ep);
            assert_non_null(st);
            for (int k = 0; k < e; k += 97) assert_ptr_not_equal(seen[d * NEPS + k], st);
            seen[d * NEPS + e] = st;
        }
    }
    /* the same pairs again (a reload): the same counters */
    for (int d = 0; d < NDESTS; d++) {
        for (int e = 0; e < NEPS; e++) {
            snprintf(dest, sizeof(dest), "dest-%d", d);
            snprintf(ep, sizeof(ep), "10.0.%d.%d:80", e / 256, e % 256);
            assert_ptr_equal(cg_proxy_ep_stats_get(dest, ep), seen[d * NEPS + e]);
        }
    }
    /* the key is the pair, not the concatenation */
    assert_ptr_not_equal(cg_proxy_ep_stats_get("ab", "c"), cg_proxy_ep_stats_get("a", "bc"));
    visit_t v = {.seen = seen, .in_order = 1};
    cg_proxy_ep_stats_foreach(on_entry, &v);
    assert_int_equal(v.n, NDESTS * NEPS);
    assert_true(v.in_order); /* newest first */
    free(seen);
}

/* ---- cg_proxy_config_compile */

#define J(...) #__VA_ARGS__

/* Two listeners; port 8080 has one virtual host of each kind, listed out of order. */
static const char snap_json[] = J({
    "version" : 42,
    "address" : "127.0.0.7",
    "region" : "r1",
    "servers" : [
        {
            "name" : "any",
            "port" : 8080,
            "hostname" : "*",
            "rules" : [ {"action" : "direct", "direct" : {"status" : 404, "body" : "none"}} ]
        },
        {
            "name" : "short-wild",
            "port" : 8080,
            "hostname" : "*.example.com",
            "rules" : [ {"action" : "route", "destination" : "d-auto"} ]
        },
        {
            "name" : "exact",
            "port" : 8080,
            "hostname" : "shop.example.com",
            "rules" : [
                {
                    "matches" : [
                        {
                            "uri" : {"prefix" : "/api/"},
                            "headers" : [
                                {"name" : "x-v", "regex" : "v[0-9]+"},
                                {"name" : "x-c", "exact" : "a"}
                            ]
                        },
                        {"uri" : {"exact" : "/health"}}
                    ],
                    "action" : "route",
                    "destination" : "d-weighted",
                    "timeout_ms" : 2500
                },
                {
                    "action" : "redirect",
                    "redirect" : {"code" : 308, "scheme" : "https"},
                    "timeout_ms" : 0
                }
            ]
        },
        {
            "name" : "long-wild",
            "port" : 8080,
            "hostname" : "*.eu.example.com",
            "rules" : [ {"action" : "route", "destination" : "d-auto"} ]
        },
        {
            "name" : "other",
            "port" : 9090,
            "hostname" : "other.test",
            "rules" : [ {"action" : "route", "destination" : "d-auto"} ]
        }
    ],
    "destinations" : [
        {
            "name" : "d-auto",
            "mode" : "auto",
            "connect_timeout_ms" : 0,
            "endpoints" : [
                {
                    "address" : "10.8.0.1",
                    "port" : 81,
                    "cluster" : "c1",
                    "region" : "r1",
                    "weight" : 0,
                    "priority" : 0
                },
                {
                    "address" : "10.8.0.2",
                    "port" : 82,
                    "cluster" : "c2",
                    "region" : "r2",
                    "weight" : 4,
                    "priority" : 2
                },
                {"address" : "::1", "port" : 83, "cluster" : "c3", "weight" : 1, "priority" : 30}
            ],
            "policy" : {
                "retry" : {"attempts" : 3, "budget_percent" : 25, "budget_min" : 4},
                "outlier" : {"consecutive_gateway_errors" : 5},
                "overprovisioning" : 150
            }
        },
        {
            "name" : "d-weighted",
            "mode" : "weighted",
            "connect_timeout_ms" : 700,
            "endpoints" : [
                {"address" : "10.8.1.1", "port" : 80, "cluster" : "c2"},
                {"address" : "10.8.1.2", "port" : 80, "cluster" : "c1"},
                {"address" : "10.8.1.3", "port" : 80, "cluster" : "c2"},
                {"address" : "10.8.1.4", "port" : 80, "cluster" : "c9"}
            ],
            "weights" : [
                {"cluster" : "c1", "weight" : 80}, {"cluster" : "c2", "weight" : 20},
                {"cluster" : "c3", "weight" : 0}
            ]
        }
    ]
});

static cg_snapshot_t *decode(const char *json)
{
    cg_buf_t errors = {0};
    cg_snapshot_t *s = NULL;
    if (cg_snapshot_decode_json(json, strlen(json), &s, &errors))
        fail_msg("decode: %.*s", (int)errors.len, errors.base);
    cg_buf_free(&errors);
    return s;
}

static cg_config_t *compile_ok(cg_snapshot_t *s)
{
    cg_buf_t errors = {0};
    cg_config_t *c = NULL;
    int rc = cg_proxy_config_compile(s, &c, &errors);
    if (rc) fail_msg("compile: %d %.*s", rc, (int)errors.len, errors.base);
    assert_int_equal(errors.len, 0);
    cg_buf_free(&errors);
    return c;
}

static int iov_is(cg_iov_t v, const char *s)
{
    return v.len == strlen(s) && !memcmp(v.base, s, v.len);
}

static void test_compile_groups_servers_into_listeners_and_orders_vhosts(void **state)
{
    (void)state;
    cg_config_t *c = compile_ok(decode(snap_json));
    assert_int_equal(c->version, 42);
    char bind[64];
    cg_addr_format(&c->bind, bind, sizeof(bind));
    assert_string_equal(bind, "127.0.0.7:0");
    assert_int_equal(c->nlisteners, 2);
    assert_null(cg_proxy_config_listener(c, 7777));
    const cg_listener_cfg_t *l = cg_proxy_config_listener(c, 8080);
    assert_non_null(l);
    assert_int_equal(l->port, 8080);
    assert_int_equal(l->nvhosts, 4);
    /* exact first, then wildcards longest first (by their ".suffix"), then "*" */
    assert_int_equal(l->vhosts[0].kind, CG_VHOST_EXACT);
    assert_true(iov_is(l->vhosts[0].host, "shop.example.com"));
    assert_string_equal(l->vhosts[0].server, "exact");
    assert_int_equal(l->vhosts[1].kind, CG_VHOST_WILDCARD);
    assert_true(iov_is(l->vhosts[1].host, ".eu.example.com"));
    assert_int_equal(l->vhosts[2].kind, CG_VHOST_WILDCARD);
    assert_true(iov_is(l->vhosts[2].host, ".example.com"));
    assert_int_equal(l->vhosts[3].kind, CG_VHOST_ANY);
    assert_string_equal(l->vhosts[3].server, "any");
    const cg_listener_cfg_t *o = cg_proxy_config_listener(c, 9090);
    assert_non_null(o);
    assert_int_equal(o->nvhosts, 1);
    assert_true(iov_is(o->vhosts[0].host, "other.test"));
    cg_proxy_config_unref(c);
}

static void test_compile_builds_routes_with_matchers_and_actions(void **state)
{
    (void)state;
    cg_config_t *c = compile_ok(decode(snap_json));
    const cg_vhost_t *shop = &cg_proxy_config_listener(c, 8080)->vhosts[0];
    assert_int_equal(shop->nroutes, 2);
    const cg_route_t *api = &shop->routes[0];
    assert_int_equal(api->action, CG_ACTION_ROUTE);
    assert_ptr_equal(api->dest, &c->dests[1]);
    assert_string_equal(api->dest->name, "d-weighted");
    assert_int_equal(api->timeout_ms, 2500);
    assert_int_equal(api->nmatches, 2);
    const cg_match_t *m = &api->matches[0];
    assert_true(m->has_uri);
    assert_int_equal(m->uri.kind, CG_MATCH_PREFIX);
    assert_true(iov_is(m->uri.value, "/api/"));
    assert_int_equal(m->nheaders, 2);
    assert_true(iov_is(m->headers[0].name, "x-v"));
    assert_int_equal(m->headers[0].m.kind, CG_MATCH_REGEX);
    /* the regex is anchored: the whole value must match (Envoy's safe_regex) */
    assert_int_equal(regexec(&m->headers[0].m.re, "v12", 0, NULL, 0), 0);
    assert_int_not_equal(regexec(&m->headers[0].m.re, "xv12", 0, NULL, 0), 0);
    assert_int_not_equal(regexec(&m->headers[0].m.re, "v12x", 0, NULL, 0), 0);
    assert_int_equal(m->headers[1].m.kind, CG_MATCH_EXACT);
    assert_true(iov_is(m->headers[1].m.value, "a"));
    assert_true(api->matches[1].has_uri);
    assert_int_equal(api->matches[1].uri.kind, CG_MATCH_EXACT);
    assert_int_equal(api->matches[1].nheaders, 0);

    const cg_route_t *redir = &shop->routes[1];
    assert_int_equal(redir->action, CG_ACTION_REDIRECT);
    assert_null(redir->dest);
    assert_int_equal(redir->nmatches, 0); /* matches everything */
    assert_int_equal(redir->redirect->redirect_code, 308);
    assert_string_equal(redir->redirect->scheme, "https");
    assert_int_equal(redir->timeout_ms, 0);

    const cg_vhost_t *any = &cg_proxy_config_listener(c, 8080)->vhosts[3];
    assert_int_equal(any->routes[0].action, CG_ACTION_DIRECT);
    assert_int_equal(any->routes[0].direct->status, 404);
    assert_string_equal(any->routes[0].direct->body, "none");
    assert_int_equal(any->routes[0].timeout_ms, 15000); /* the default */
    cg_proxy_config_unref(c);
}

static void test_compile_builds_destinations(void **state)
{
    (void)state;
    int saved = cg_proxy_nworkers;
    cg_proxy_nworkers = 3;
    cg_config_t *c = compile_ok(decode(snap_json));
    assert_int_equal(c->ndests, 2);

    const cg_dest_t *a = &c->dests[0];
    assert_string_equal(a->name, "d-auto");
    assert_int_equal(a->mode, CG_DEST_AUTO);
    assert_int_equal(a->connect_timeout_ms, 5000); /* 0: the default */
    assert_int_equal(a->nendpoints, 3);
    assert_string_equal(a->endpoints[0].name, "10.8.0.1:81");
    assert_string_equal(a->endpoints[0].cluster, "c1");
    assert_string_equal(a->endpoints[0].region, "r1");
    assert_int_equal(a->endpoints[0].weight, 1); /* 0 would never be picked */
    assert_int_equal(a->endpoints[1].weight, 4);
    assert_int_equal(a->endpoints[1].priority, 2);
    assert_null(a->endpoints[2].region);
    assert_int_equal(a->endpoints[2].priority,
                     CG_LB_MAX_PRIORITIES - 1); /* 30 folds into the last */
    assert_int_equal(a->npriorities, CG_LB_MAX_PRIORITIES);
    char v6[64];
    cg_addr_format(&a->endpoints[2].addr, v6, sizeof(v6));
    assert_string_equal(a->endpoints[2].name, v6);
    assert_string_equal(v6, "[::1]:83");
    for (size_t e = 0; e < a->nendpoints; e++) assert_int_equal(a->endpoints[e].cluster_idx, -1);
    /* the destination's limits are the snapshot's */
    assert_int_equal(a->policy->retry.attempts, 3);
    assert_int_equal(a->policy->retry.budget_percent, 25);
    assert_int_equal(a->policy->retry.budget_min, 4);
    assert_int_equal(a->policy->outlier.consecutive_gateway_errors, 5);
    assert_int_equal(a->policy->overprovisioning, 150);
    /* balancer state for each worker, zeroed */
    assert_non_null(a->ws);
    for (int w = 0; w < 3; w++) {
        assert_int_equal(a->ws[w].active, 0);
        assert_non_null(a->ws[w].view);
    }

    const cg_dest_t *wd = &c->dests[1];
    assert_int_equal(wd->mode, CG_DEST_WEIGHTED);
    assert_int_equal(wd->connect_timeout_ms, 700);
    assert_int_equal(wd->nclusters, 3);
    assert_string_equal(wd->clusters[0].name, "c1");
    assert_int_equal(wd->clusters[0].weight, 80);
    assert_int_equal(wd->clusters[0].nendpoints, 1);
    assert_int_equal(wd->clusters[1].weight, 20);
    assert_int_equal(wd->clusters[1].nendpoints, 2);
    assert_int_equal(wd->clusters[2].nendpoints, 0);
    assert_int_equal(wd->endpoints[0].cluster_idx, 1);
    assert_int_equal(wd->endpoints[1].cluster_idx, 0);
    assert_int_equal(wd->endpoints[2].cluster_idx, 1);
    assert_int_equal(wd->endpoints[3].cluster_idx, -1); /* c9 has no share */
    for (int w = 0; w < 3; w++) assert_non_null(wd->ws[w].view);

    /* a reload finds the same endpoint counters: ejections and counts survive it */
    cg_ep_stats_t *st = a->endpoints[1].stats;
    assert_ptr_equal(st, cg_proxy_ep_stats_get("d-auto", "10.8.0.2:82"));
    cg_config_t *again = compile_ok(decode(snap_json));
    assert_ptr_equal(again->dests[0].endpoints[1].stats, st);
    assert_ptr_not_equal(again->dests[1].endpoints[0].stats, st);
    cg_proxy_config_unref(again);

    /* a reference keeps the config alive past its first owner */
    cg_proxy_config_ref(c);
    cg_proxy_config_unref(c);
    assert_string_equal(c->dests[0].name, "d-auto");
    cg_proxy_config_unref(c);
    cg_proxy_nworkers = saved;
}

/* Compiles json after edit(snap) and expects a refusal whose errors contain want. */
static void expect_refused(const char *json, void (*edit)(cg_snapshot_t *), const char *want)
{
    cg_snapshot_t *s = decode(json);
    if (edit) edit(s);
    cg_buf_t errors = {0};
    cg_config_t *c = (cg_config_t *)(uintptr_t)1;
    int rc = cg_proxy_config_compile(s, &c, &errors); /* takes s, also on failure */
    assert_int_equal(rc, CG_EINVAL);
    assert_ptr_equal(c, (cg_config_t *)(uintptr_t)1); /* nothing handed out */
    cg_buf_append(&errors, "", 1);
    if (!strstr(errors.base, want)) fail_msg("errors \"%s\" lack \"%s\"", errors.base, want);
    cg_buf_free(&errors);
}

static void bad_instance_address(cg_snapshot_t *s)
{
    free(s->address);
    s->address = cg_xstrdup("gateway.local");
}

static void bad_endpoint_address(cg_snapshot_t *s)
{
    free(s->destinations[1].endpoints[2].address);
    s->destinations[1].endpoints[2].address = cg_xstrdup("10.8.1.300");
}

static void missing_destination(cg_snapshot_t *s)
{
    s->servers[4].rules[0].destination = 7; /* the decoder resolves names; a struct may not */
}

static void bad_regexes(cg_snapshot_t *s)
{
    cg_snap_match_t *m = &s->servers[2].rules[0].matches[0];
    free(m->headers[0].match.value);
    m->headers[0].match.value = cg_xstrdup("v[0-9");
    m->headers[1].match.kind = CG_MATCH_REGEX;
    free(m->headers[1].match.value);
    m->headers[1].match.value = cg_xstrdup("(a");
    s->servers[2].rules[0].matches[1].uri.kind = CG_MATCH_REGEX;
    free(s->servers[2].rules[0].matches[1].uri.value);
    s->servers[2].rules[0].matches[1].uri.value = cg_xstrdup("*x");
}

static void test_compile_refuses_what_the_request_path_cannot_use(void **state)
{
    (void)state;
    expect_refused(snap_json, bad_instance_address,
                   "instance address \"gateway.local\" is not an IP address");
    expect_refused(snap_json, bad_endpoint_address,
                   "destination d-weighted: endpoint \"10.8.1.300\" is not an IP address");
    expect_refused(snap_json, missing_destination, "rule refers to missing destination 7");
    /* every bad regex is reported, not just the first (a uri and two headers here) */
    expect_refused(snap_json, bad_regexes, "invalid regex \"v[0-9\"\ninvalid regex \"(a\"\n");
    expect_refused(snap_json, bad_regexes, "invalid regex \"*x\"\n");
    /* a destination no rule uses is still compiled, and still checked */
    expect_refused(J({
                       "version" : 1,
                       "servers" : [],
                       "destinations" : [ {
                           "name" : "unused",
                           "mode" : "service",
                           "endpoints" : [ {"address" : "example.com", "port" : 80} ]
                       } ]
                   }),
                   NULL, "destination unused: endpoint \"example.com\" is not an IP address");
}

static void test_compile_accepts_an_empty_snapshot(void **state)
{
    (void)state;
    cg_config_t *c = compile_ok(decode(J({"version" : 3, "servers" : [], "destinations" : []})));
    assert_int_equal(c->nlisteners, 0);
    assert_int_equal(c->ndests, 0);
    assert_null(cg_proxy_config_listener(c, 80));
    char bind[64];
    cg_addr_format(&c->bind, bind, sizeof(bind));
    assert_string_equal(bind, "0.0.0.0:0"); /* no address: every interface */
    cg_proxy_config_unref(c);
}

/* ---- the registry follows the live configs */

typedef struct {
    int e1, e2;
} sweep_seen_t;

static void on_sweep_entry(void *ctx, const char *dest, const char *ep, const cg_ep_stats_t *st)
{
    (void)st;
    sweep_seen_t *v = ctx;
    if (strcmp(dest, "d-sweep")) return;
    v->e1 += !strcmp(ep, "10.7.0.1:80");
    v->e2 += !strcmp(ep, "10.7.0.2:80");
}

static sweep_seen_t sweep_seen(void)
{
    sweep_seen_t v = {0};
    cg_proxy_ep_stats_foreach(on_sweep_entry, &v);
    return v;
}

static void test_registry_drops_endpoints_no_config_names_after_the_grace(void **state)
{
    (void)state;
    cg_config_t *a = compile_ok(decode(J({
        "version" : 1,
        "servers" : [],
        "destinations" : [ {
            "name" : "d-sweep",
            "mode" : "auto",
            "endpoints" :
                [ {"address" : "10.7.0.1", "port" : 80}, {"address" : "10.7.0.2", "port" : 80} ]
        } ]
    })));
    cg_config_t *b = compile_ok(decode(J({
        "version" : 2,
        "servers" : [],
        "destinations" : [ {
            "name" : "d-sweep",
            "mode" : "auto",
            "endpoints" : [ {"address" : "10.7.0.1", "port" : 80} ]
        } ]
    })));
    assert_ptr_equal(a->dests[0].endpoints[0].stats, b->dests[0].endpoints[0].stats);
    assert_ptr_equal(a->dests[0].health_epoch, b->dests[0].health_epoch);
    uint64_t now = cg_clock_mono_us() / 1000;
    size_t before = cg_proxy_ep_stats_sweep(now + CG_EP_STATS_GRACE_MS + 1);
    sweep_seen_t v = sweep_seen();
    assert_true(v.e1 == 1 && v.e2 == 1); /* both named by a live config */
    /* the old config goes: 10.7.0.2 stays for the grace period, then goes */
    cg_proxy_config_unref(a);
    now = cg_clock_mono_us() / 1000;
    assert_int_equal(cg_proxy_ep_stats_sweep(now), before);
    assert_int_equal(sweep_seen().e2, 1);
    assert_int_equal(cg_proxy_ep_stats_sweep(now + CG_EP_STATS_GRACE_MS + 1), before - 1);
    v = sweep_seen();
    assert_true(v.e1 == 1 && v.e2 == 0);
    /* the last config goes too: the endpoint and the destination's own entry */
    cg_proxy_config_unref(b);
    assert_int_equal(cg_proxy_ep_stats_sweep(now + 2 * CG_EP_STATS_GRACE_MS + 1), before - 3);
    assert_int_equal(sweep_seen().e1, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry),
        cmocka_unit_test(test_compile_groups_servers_into_listeners_and_orders_vhosts),
        cmocka_unit_test(test_compile_builds_routes_with_matchers_and_actions),
        cmocka_unit_test(test_compile_builds_destinations),
        cmocka_unit_test(test_compile_refuses_what_the_request_path_cannot_use),
        cmocka_unit_test(test_compile_accepts_an_empty_snapshot),
        cmocka_unit_test(test_registry_drops_endpoints_no_config_names_after_the_grace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
