/* Endpoint choice: locality priorities, retries to other clusters, panic mode, weighted mode,
 * and outlier detection fed by attempt results. Configs are compiled from snapshot JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "proxy/balancer.h"
#include "proxy/config.h"
#include "translate/snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POLICY                                                                                     \
    "\"policy\":{\"retry\":{\"attempts\":2,\"retry_on\":[\"connect-failure\",\"reset\",\"503\"]}," \
    "\"outlier\":{\"consecutive_gateway_errors\":3,\"interval_ms\":1000,\"base_ejection_ms\":"     \
    "5000,"                                                                                        \
    "\"max_ejection_ms\":30000,\"max_ejection_percent\":100},"                                     \
    "\"health_check\":{\"enabled\":false},\"overprovisioning\":140}"

/* c1a and c1b in the edge's region (priority 0), c2 remote (priority 1). */
static const char auto_json[] =
    "{\"version\":1,\"address\":\"127.0.0.1\",\"region\":\"r1\",\"servers\":[],"
    "\"destinations\":[{\"name\":\"bal-auto\",\"mode\":\"auto\",\"endpoints\":["
    "{\"address\":\"10.9.0.1\",\"port\":80,\"cluster\":\"c1a\",\"region\":\"r1\",\"weight\":1,"
    "\"priority\":0},"
    "{\"address\":\"10.9.0.2\",\"port\":80,\"cluster\":\"c1b\",\"region\":\"r1\",\"weight\":1,"
    "\"priority\":0},"
    "{\"address\":\"10.9.0.3\",\"port\":80,\"cluster\":\"c2\",\"region\":\"r2\",\"weight\":1,"
    "\"priority\":1}]," POLICY "}]}";

static const char weighted_json[] =
    "{\"version\":1,\"address\":\"127.0.0.1\",\"servers\":[],"
    "\"destinations\":[{\"name\":\"bal-weighted\",\"mode\":\"weighted\",\"endpoints\":["
    "{\"address\":\"10.9.1.1\",\"port\":80,\"cluster\":\"c1\",\"weight\":1,\"priority\":0},"
    "{\"address\":\"10.9.1.2\",\"port\":80,\"cluster\":\"c2\",\"weight\":1,\"priority\":0}],"
    "\"weights\":[{\"cluster\":\"c1\",\"weight\":75},{\"cluster\":\"c2\",\"weight\":25},{"
    "\"cluster\":\"c3\",\"weight\":0}]," POLICY "}]}";

static cg_config_t *compile_len(const char *json, size_t len)
{
    cg_buf_t errors = {0};
    cg_snapshot_t *s = NULL;
    if (cg_snapshot_decode_json(json, len, &s, &errors))
        fail_msg("decode: %.*s", (int)errors.len, errors.base);
    cg_config_t *c = NULL;
    if (cg_proxy_config_compile(s, &c, &errors))
        fail_msg("compile: %.*s", (int)errors.len, errors.base);
    cg_buf_free(&errors);
    return c;
}

static cg_config_t *compile(const char *json)
{
    return compile_len(json, strlen(json));
}

static void reset_health(cg_dest_t *d)
{
    for (size_t i = 0; i < d->nendpoints; i++) {
        cg_ep_stats_t *st = d->endpoints[i].stats;
        cg_proxy_ep_stats_set_ejected(st, 0);
        cg_proxy_ep_stats_set_unhealthy(st, 0);
        st->streak = 0;
        memset(&st->outlier, 0, sizeof(st->outlier));
    }
}

static void test_local_priority_takes_everything_while_healthy(void **state)
{
    cg_config_t *c = compile(auto_json);
    cg_dest_t *d = &c->dests[0];
    reset_health(d);
    int counts[3] = {0};
    for (uint64_t r = 0; r < 600; r++)
        counts[cg_proxy_balancer_pick(d, 0, NULL, 0, -1, 1000, r).endpoint]++;
    assert_int_equal(counts[2], 0);
    assert_int_equal(counts[0], 300); /* smooth round-robin inside the priority */
    assert_int_equal(counts[1], 300);
    cg_proxy_config_unref(c);
}

/* splitmix64: a stand-in for the worker's random source */
static uint64_t next_random(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

enum { PICKS = 20000 };

/* Share of first picks, in percent, that land on each endpoint. */
static void pick_shares(const cg_dest_t *d, uint64_t seed, double *share)
{
    int counts[16] = {0};
    for (int i = 0; i < PICKS; i++) {
        cg_pick_t p = cg_proxy_balancer_pick(d, 0, NULL, 0, -1, 1000, next_random(&seed));
        assert_true(p.endpoint >= 0 && (size_t)p.endpoint < d->nendpoints);
        assert_false(p.panic);
        counts[p.endpoint]++;
    }
    for (size_t i = 0; i < d->nendpoints; i++) share[i] = 100.0 * counts[i] / PICKS;
}

static void assert_near(double got, double want, const char *what)
{
    /* 20000 draws: one standard deviation of a 50 % share is 0.35 points */
    if (want == 0 ? got != 0 : (got < want - 1.5 || got > want + 1.5))
        fail_msg("%s: %.2f %%, want %.0f %%", what, got, want);
}

static void test_half_the_local_clusters_down_spills_30_percent(void **state)
{
    cg_config_t *c = compile(auto_json);
    cg_dest_t *d = &c->dests[0];
    reset_health(d);
    cg_proxy_ep_stats_set_unhealthy(d->endpoints[0].stats, 1);
    double share[3];
    pick_shares(d, 1, share);
    assert_near(share[0], 0, "unhealthy c1a");
    assert_near(share[1], 70, "c1b (local, 50 % healthy x 1.4)");
    assert_near(share[2], 30, "c2 (remote)");
    cg_proxy_config_unref(c);
}

/* Four endpoints of weight 1 in each of two priorities. */
static const char two_priorities_json[] =
    "{\"version\":1,\"address\":\"127.0.0.1\",\"region\":\"r1\",\"servers\":[],"
    "\"destinations\":[{\"name\":\"bal-prio\",\"mode\":\"auto\",\"endpoints\":["
    "{\"address\":\"10.9.2.1\",\"port\":80,\"cluster\":\"a1\",\"region\":\"r1\",\"weight\":1,"
    "\"priority\":0},"
    "{\"address\":\"10.9.2.2\",\"port\":80,\"cluster\":\"a2\",\"region\":\"r1\",\"weight\":1,"
    "\"priority\":0},"
    "{\"address\":\"10.9.2.3\",\"port\":80,\"cluster\":\"a3\",\"region\":\"r1\",\"weight\":1,"
    "\"priority\":0},"
    "{\"address\":\"10.9.2.4\",\"port\":80,\"cluster\":\"a4\",\"region\":\"r1\",\"weight\":1,"
    "\"priority\":0},"
    "{\"address\":\"10.9.2.5\",\"port\":80,\"cluster\":\"b1\",\"region\":\"r2\",\"weight\":1,"
    "\"priority\":1},"
    "{\"address\":\"10.9.2.6\",\"port\":80,\"cluster\":\"b2\",\"region\":\"r2\",\"weight\":1,"
    "\"priority\":1},"
    "{\"address\":\"10.9.2.7\",\"port\":80,\"cluster\":\"b3\",\"region\":\"r2\",\"weight\":1,"
    "\"priority\":1},"
    "{\"address\":\"10.9.2.8\",\"port\":80,\"cluster\":\"b4\",\"region\":\"r2\",\"weight\":1,"
    "\"priority\":1}]," POLICY "}]}";

static void test_traffic_follows_envoys_priority_load_table(void **state)
{
    /* Envoy's priority-levels table (overprovisioning 1.4): healthy share of P0 and P1 ->
     * traffic to P0 and P1; healthy endpoints of a priority share its traffic equally */
    static const struct {
        int healthy0, healthy1; /* of 4 each */
        double p0, p1;
    } rows[] = {
        {4, 4, 100, 0}, {2, 4, 70, 30}, {1, 4, 35, 65},
        {0, 4, 0, 100}, {1, 1, 50, 50}, {3, 0, 100, 0},
    };
    cg_config_t *c = compile(two_priorities_json);
    cg_dest_t *d = &c->dests[0];
    assert_int_equal(d->nendpoints, 8);
    for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
        reset_health(d);
        for (int i = rows[r].healthy0; i < 4; i++)
            cg_proxy_ep_stats_set_unhealthy(d->endpoints[i].stats, 1);
        for (int i = rows[r].healthy1; i < 4; i++)
            cg_proxy_ep_stats_set_unhealthy(d->endpoints[4 + i].stats, 1);
        double share[8], prio[2] = {0, 0};
        pick_shares(d, 100 + r, share);
        for (int i = 0; i < 8; i++) {
            int healthy = i < 4 ? i < rows[r].healthy0 : i - 4 < rows[r].healthy1;
            double want =
                !healthy ? 0
                         : (i < 4 ? rows[r].p0 / rows[r].healthy0 : rows[r].p1 / rows[r].healthy1);
            char what[64];
            snprintf(what, sizeof(what), "row %zu endpoint %d", r, i);
            assert_near(share[i], want, what);
            prio[i / 4] += share[i];
        }
        assert_near(prio[0], rows[r].p0, "priority 0");
        assert_near(prio[1], rows[r].p1, "priority 1");
    }
    cg_proxy_config_unref(c);
}

static const char weights_json[] =
    "{\"version\":1,\"address\":\"127.0.0.1\",\"region\":\"r1\",\"servers\":[],"
    "\"destinations\":[{\"name\":\"bal-w\",\"mode\":\"auto\",\"endpoints\":["
    "{\"address\":\"10.9.3.1\",\"port\":80,\"cluster\":\"a\",\"region\":\"r1\",\"weight\":6,"
    "\"priority\":0},"
    "{\"address\":\"10.9.3.2\",\"port\":80,\"cluster\":\"b\",\"region\":\"r1\",\"weight\":3,"
    "\"priority\":0},"
    "{\"address\":\"10.9.3.3\",\"port\":80,\"cluster\":\"c\",\"region\":\"r1\",\"weight\":1,"
    "\"priority\":0}]," POLICY "}]}";

static void test_endpoint_weights_set_the_split_inside_a_priority(void **state)
{
    cg_config_t *c = compile(weights_json);
    cg_dest_t *d = &c->dests[0];
    reset_health(d);
    double share[3];
    pick_shares(d, 7, share);
    assert_near(share[0], 60, "weight 6 of 10");
    assert_near(share[1], 30, "weight 3 of 10");
    assert_near(share[2], 10, "weight 1 of 10");
    /* a down endpoint's share goes to the others in proportion: 6:1 */
    cg_proxy_ep_stats_set_unhealthy(d->endpoints[1].stats, 1);
    pick_shares(d, 8, share);
    assert_near(share[0], 600.0 / 7, "weight 6 of 7");
    assert_near(share[1], 0, "down");
    assert_near(share[2], 100.0 / 7, "weight 1 of 7");
    cg_proxy_config_unref(c);
}

static void test_retry_goes_to_another_cluster_then_another_endpoint(void **state)
{
    cg_config_t *c = compile(auto_json);
    cg_dest_t *d = &c->dests[0];
    reset_health(d);
    uint32_t tried[2] = {0};
    cg_pick_t p = cg_proxy_balancer_pick(d, 0, tried, 1, -1, 1000, 7);
    assert_int_equal(p.endpoint, 1); /* untried local cluster first */
    assert_false(p.repeat);
    tried[1] = 1;
    p = cg_proxy_balancer_pick(d, 0, tried, 2, -1, 1000, 7);
    assert_int_equal(p.endpoint, 2); /* then the remote one */
    /* an ejected endpoint is not retried while others can take it */
    cg_proxy_ep_stats_set_ejected(d->endpoints[2].stats, 5000);
    p = cg_proxy_balancer_pick(d, 0, tried, 2, -1, 1000, 7);
    assert_true(p.repeat);
    assert_int_not_equal(p.endpoint, 2);
    cg_proxy_config_unref(c);
}

static void test_panic_prefers_untried_and_oldest_ejection(void **state)
{
    cg_config_t *c = compile(auto_json);
    cg_dest_t *d = &c->dests[0];
    reset_health(d);
    cg_proxy_ep_stats_set_ejected(d->endpoints[0].stats, 9000);
    cg_proxy_ep_stats_set_ejected(d->endpoints[1].stats, 8000);
    cg_proxy_ep_stats_set_ejected(d->endpoints[2].stats, 7000);
    cg_pick_t p = cg_proxy_balancer_pick(d, 0, NULL, 0, -1, 1000, 1);
    assert_true(p.panic);
    assert_int_equal(p.endpoint, 2); /* ejection ends first */
    uint32_t tried[1] = {2};
    p = cg_proxy_balancer_pick(d, 0, tried, 1, -1, 1000, 1);
    assert_true(p.panic);
    assert_int_equal(p.endpoint, 1); /* a retry in panic still moves to another cluster */
    assert_false(p.repeat);
    cg_proxy_config_unref(c);
}

static void test_outlier_results_eject_and_return(void **state)
{
    cg_config_t *c = compile(auto_json);
    cg_dest_t *d = &c->dests[0];
    reset_health(d);
    cg_endpoint_t *ep = &d->endpoints[0];
    assert_int_equal(cg_proxy_balancer_result(d, ep, 503, 1000), 0);
    assert_int_equal(cg_proxy_balancer_result(d, ep, 0, 1001), 0);
    assert_int_equal(cg_proxy_balancer_result(d, ep, 502, 1002), 1);
    assert_false(cg_proxy_endpoint_available(ep, 1003));
    assert_true(cg_proxy_endpoint_available(ep, 1002 + 5000));
    /* the probe succeeds */
    assert_int_equal(cg_proxy_balancer_result(d, ep, 200, 1002 + 5000), -1);
    assert_true(cg_proxy_endpoint_available(ep, 1002 + 5001));
    assert_int_equal(ep->stats->ejected_until_ms, 0);
    cg_proxy_config_unref(c);
}

static void test_weighted_is_strict_and_stays_in_its_cluster(void **state)
{
    cg_config_t *c = compile(weighted_json);
    cg_dest_t *d = &c->dests[0];
    reset_health(d);
    /* health plays no part: the dead cluster keeps its share */
    cg_proxy_ep_stats_set_unhealthy(d->endpoints[1].stats, 1);
    int per_cluster[3] = {0};
    for (int i = 0; i < 400; i++) {
        cg_pick_t p = cg_proxy_balancer_pick(d, 0, NULL, 0, -1, 1000, (uint64_t)i);
        per_cluster[p.cluster]++;
        assert_int_equal(p.endpoint, p.cluster); /* one endpoint per cluster here */
    }
    assert_int_equal(per_cluster[0], 300);
    assert_int_equal(per_cluster[1], 100);
    assert_int_equal(per_cluster[2], 0);
    /* a retry repeats inside the chosen cluster */
    uint32_t tried[1] = {1};
    cg_pick_t p = cg_proxy_balancer_pick(d, 0, tried, 1, 1, 1000, 3);
    assert_int_equal(p.endpoint, 1);
    assert_true(p.repeat);
    /* outlier detection is off in weighted mode */
    for (int i = 0; i < 5; i++)
        assert_int_equal(cg_proxy_balancer_result(d, &d->endpoints[0], 503, 1000), 0);
    assert_true(cg_proxy_endpoint_available(&d->endpoints[0], 1000));
    cg_proxy_config_unref(c);
}

/* ---- at scale: 100,000 endpoints in 1,000 clusters of 100 */

enum { BIG_CLUSTERS = 1000, BIG_PER = 100, BIG = BIG_CLUSTERS * BIG_PER };

/* Clusters 500..999 are local (priority 0), so every local endpoint sits past index 50,000;
 * weights 1..5. */
static cg_config_t *compile_big(void)
{
    cg_buf_t j = {0};
    cg_buf_printf(&j, "{\"version\":1,\"address\":\"127.0.0.1\",\"region\":\"r1\",\"servers\":[],"
                      "\"destinations\":[{\"name\":\"bal-big\",\"mode\":\"auto\",\"endpoints\":[");
    for (int e = 0; e < BIG; e++) {
        int c = e / BIG_PER;
        cg_buf_printf(
            &j,
            "%s{\"address\":\"10.%d.%d.%d\",\"port\":80,\"cluster\":\"c%d\",\"region\":\"%s\","
            "\"weight\":%d,\"priority\":%d}",
            e ? "," : "", e >> 16, (e >> 8) & 255, e & 255, c, c < 500 ? "r2" : "r1", 1 + e * 7 % 5,
            c < 500 ? 1 : 0);
    }
    cg_buf_printf(&j, "]," POLICY "}]}");
    cg_config_t *c = compile_len(j.base, j.len);
    cg_buf_free(&j);
    return c;
}

static int big_priority(int e)
{
    return e / BIG_PER < 500 ? 1 : 0;
}

/* Picks exactly two scheduler cycles of the available weight of priority `prio` and checks
 * that every endpoint got twice its weight if available and of that priority, else none. */
static void assert_two_cycles(const cg_dest_t *d, uint32_t *counts, int prio, uint64_t now,
                              const char *what)
{
    uint64_t cycle = 0;
    for (int e = 0; e < BIG; e++)
        if (big_priority(e) == prio && cg_proxy_endpoint_available(&d->endpoints[e], now))
            cycle += d->endpoints[e].weight;
    assert_true(cycle > 0);
    memset(counts, 0, BIG * sizeof(*counts));
    uint64_t seed = 42;
    for (uint64_t i = 0; i < 2 * cycle; i++) {
        cg_pick_t p = cg_proxy_balancer_pick(d, 0, NULL, 0, -1, now, next_random(&seed));
        assert_false(p.panic);
        counts[p.endpoint]++;
    }
    for (int e = 0; e < BIG; e++) {
        int live = big_priority(e) == prio && cg_proxy_endpoint_available(&d->endpoints[e], now);
        uint32_t want = live ? 2 * d->endpoints[e].weight : 0;
        if (counts[e] != want)
            fail_msg("%s: endpoint %d got %u picks, want %u", what, e, counts[e], want);
    }
}

static void
test_100k_endpoints_get_traffic_by_weight_and_health_events_change_the_sets(void **state)
{
    cg_config_t *c = compile_big();
    cg_dest_t *d = &c->dests[0];
    assert_int_equal(d->nendpoints, BIG);
    reset_health(d);
    for (int e = 0; e < BIG; e++) {
        if (e % 97 == 0) cg_proxy_ep_stats_set_ejected(d->endpoints[e].stats, 1000000000);
        if (e % 101 == 0) cg_proxy_ep_stats_set_unhealthy(d->endpoints[e].stats, 1);
    }
    uint32_t *counts = calloc(BIG, sizeof(*counts));
    /* the local priority is 98 % healthy: it takes everything, each endpoint by its weight */
    assert_two_cycles(d, counts, 0, 1000, "all local");

    /* an outlier ejection takes one endpoint out of the set ... */
    int x = 77777;
    assert_true(x % 97 && x % 101 && big_priority(x) == 0);
    cg_endpoint_t *ep = &d->endpoints[x];
    assert_int_equal(cg_proxy_balancer_result(d, ep, 503, 1000), 0);
    assert_int_equal(cg_proxy_balancer_result(d, ep, 503, 1000), 0);
    assert_int_equal(cg_proxy_balancer_result(d, ep, 503, 1000), 1);
    assert_two_cycles(d, counts, 0, 1001, "one ejected");
    assert_int_equal(counts[x], 0);
    /* ... and its expiry puts it back (the probe) without any other event */
    uint64_t back = ep->stats->ejected_until_ms;
    assert_two_cycles(d, counts, 0, back, "ejection over");
    assert_int_equal(counts[x], 2 * ep->weight);

    /* a destination this large rebuilds at most once per interval: in between, an endpoint
     * that fails is skipped at once, and one that comes back waits for the next rebuild */
    int y = 88888, z = 99999;
    assert_true(y % 97 && y % 101 && z % 97 && z % 101);
    uint64_t t = back + CG_BAL_REBUILD_EVERY_MS;
    cg_proxy_ep_stats_set_unhealthy(d->endpoints[y].stats, 1);
    assert_two_cycles(d, counts, 0, t, "y down (rebuilt)");
    cg_proxy_ep_stats_set_unhealthy(d->endpoints[z].stats, 1);
    assert_two_cycles(d, counts, 0, t + 1, "z down too (skipped)");
    cg_proxy_ep_stats_set_unhealthy(d->endpoints[z].stats, 0);
    cg_proxy_ep_stats_set_unhealthy(d->endpoints[y].stats, 0);
    uint64_t seed = 5;
    for (int i = 0; i < 2 * BIG * 5; i++) { /* more than a cycle: weights are at most 5 */
        int e = cg_proxy_balancer_pick(d, 0, NULL, 0, -1, t + CG_BAL_REBUILD_EVERY_MS - 1,
                                       next_random(&seed))
                    .endpoint;
        assert_int_not_equal(e, y);
    }
    assert_two_cycles(d, counts, 0, t + CG_BAL_REBUILD_EVERY_MS, "y back");
    assert_int_equal(counts[y], 2 * d->endpoints[y].weight);
    back = t + CG_BAL_REBUILD_EVERY_MS;

    /* the whole local priority fails its health checks: the remote one takes everything */
    for (int e = 0; e < BIG; e++)
        if (big_priority(e) == 0) cg_proxy_ep_stats_set_unhealthy(d->endpoints[e].stats, 1);
    assert_two_cycles(d, counts, 1, back, "all remote");

    /* retries: never a tried cluster while others are healthy, never an unavailable endpoint
     * (once the local priority is back, after the rebuild interval) */
    for (int e = 0; e < BIG; e++)
        if (big_priority(e) == 0 && e % 101)
            cg_proxy_ep_stats_set_unhealthy(d->endpoints[e].stats, 0);
    back += CG_BAL_REBUILD_EVERY_MS;
    uint32_t tried[2] = {60001, 70001}; /* clusters 600 and 700 */
    seed = 9;
    memset(counts, 0, BIG * sizeof(*counts));
    for (int i = 0; i < 20000; i++) {
        cg_pick_t p = cg_proxy_balancer_pick(d, 0, tried, 2, -1, back, next_random(&seed));
        assert_false(p.repeat);
        assert_true(cg_proxy_endpoint_available(&d->endpoints[p.endpoint], back));
        assert_int_not_equal(p.endpoint / BIG_PER, 600);
        assert_int_not_equal(p.endpoint / BIG_PER, 700);
        assert_int_equal(big_priority(p.endpoint), 0); /* as local as the candidates allow */
        counts[p.endpoint / BIG_PER]++;
    }
    /* and they spread over the other local clusters (about 40 each) */
    for (int k = 500; k < BIG_CLUSTERS; k++)
        if (k != 600 && k != 700 && counts[k] == 0) fail_msg("cluster %d got no retry", k);
    /* cluster 800 fails within the rebuild interval: retries skip it all the same */
    for (int e = 800 * BIG_PER; e < 801 * BIG_PER; e++)
        cg_proxy_ep_stats_set_unhealthy(d->endpoints[e].stats, 1);
    for (int i = 0; i < 20000; i++) {
        cg_pick_t p = cg_proxy_balancer_pick(d, 0, tried, 2, -1, back + 1, next_random(&seed));
        assert_true(cg_proxy_endpoint_available(&d->endpoints[p.endpoint], back + 1));
        assert_int_not_equal(p.endpoint / BIG_PER, 800);
    }
    free(counts);
    cg_proxy_config_unref(c);
}

/* Weighted mode past the old 64-cluster cap: 300 clusters of 3 endpoints, weights 1..7. */
static void test_weighted_splits_exactly_over_hundreds_of_clusters(void **state)
{
    enum { NC = 300, PER = 3 };
    cg_buf_t j = {0};
    cg_buf_printf(&j,
                  "{\"version\":1,\"address\":\"127.0.0.1\",\"servers\":[],"
                  "\"destinations\":[{\"name\":\"bal-wbig\",\"mode\":\"weighted\",\"endpoints\":[");
    for (int e = 0; e < NC * PER; e++)
        cg_buf_printf(&j,
                      "%s{\"address\":\"10.9.%d.%d\",\"port\":80,\"cluster\":\"k%d\",\"weight\":1,"
                      "\"priority\":0}",
                      e ? "," : "", e >> 8, e & 255, e / PER);
    cg_buf_printf(&j, "],\"weights\":[");
    uint64_t cycle = 0;
    for (int k = 0; k < NC; k++) {
        cg_buf_printf(&j, "%s{\"cluster\":\"k%d\",\"weight\":%d}", k ? "," : "", k, 1 + k % 7);
        cycle += 1 + k % 7;
    }
    cg_buf_printf(&j, "]," POLICY "}]}");
    cg_config_t *c = compile_len(j.base, j.len);
    cg_buf_free(&j);
    const cg_dest_t *d = &c->dests[0];
    int per_cluster[NC] = {0}, per_ep[NC * PER] = {0};
    for (uint64_t i = 0; i < 3 * PER * cycle; i++) {
        cg_pick_t p = cg_proxy_balancer_pick(d, 0, NULL, 0, -1, 1000, i);
        assert_true(p.cluster >= 0 && p.cluster < NC);
        assert_int_equal(p.endpoint / PER, p.cluster);
        per_cluster[p.cluster]++;
        per_ep[p.endpoint]++;
    }
    for (int k = 0; k < NC; k++) {
        assert_int_equal(per_cluster[k], 3 * PER * (1 + k % 7)); /* strict split, cluster 299 too */
        for (int e = 0; e < PER; e++)
            assert_int_equal(per_ep[k * PER + e], 3 * (1 + k % 7)); /* round-robin */
    }
    /* a retry in cluster 250 moves to its untried endpoints, then repeats */
    uint32_t tried[3] = {250 * PER};
    cg_pick_t p = cg_proxy_balancer_pick(d, 0, tried, 1, 250, 1000, 1);
    assert_int_equal(p.endpoint / PER, 250);
    assert_false(p.repeat);
    tried[1] = (uint32_t)p.endpoint;
    p = cg_proxy_balancer_pick(d, 0, tried, 2, 250, 1000, 1);
    assert_int_equal(p.endpoint / PER, 250);
    assert_false(p.repeat);
    assert_true(p.endpoint != (int)tried[0] && p.endpoint != (int)tried[1]);
    tried[2] = (uint32_t)p.endpoint;
    p = cg_proxy_balancer_pick(d, 0, tried, 3, 250, 1000, 1);
    assert_int_equal(p.endpoint / PER, 250);
    assert_true(p.repeat);
    /* a cluster index from nowhere answers nothing rather than reading past the table */
    assert_int_equal(cg_proxy_balancer_pick(d, 0, tried, 1, NC, 1000, 1).endpoint, -1);
    cg_proxy_config_unref(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_local_priority_takes_everything_while_healthy),
        cmocka_unit_test(test_half_the_local_clusters_down_spills_30_percent),
        cmocka_unit_test(test_traffic_follows_envoys_priority_load_table),
        cmocka_unit_test(test_endpoint_weights_set_the_split_inside_a_priority),
        cmocka_unit_test(test_retry_goes_to_another_cluster_then_another_endpoint),
        cmocka_unit_test(test_panic_prefers_untried_and_oldest_ejection),
        cmocka_unit_test(test_outlier_results_eject_and_return),
        cmocka_unit_test(test_weighted_is_strict_and_stays_in_its_cluster),
        cmocka_unit_test(test_weighted_splits_exactly_over_hundreds_of_clusters),
        cmocka_unit_test(
            test_100k_endpoints_get_traffic_by_weight_and_health_events_change_the_sets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
