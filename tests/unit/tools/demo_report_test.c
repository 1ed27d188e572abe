/* Tests of the reports of `crossgate demo --scenario`: the timeline series, the failover and
 * recovery figures read from it, report.json and report.svg. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/json.h"
#include "tools/demo.h"

#include <stdio.h>
#include <string.h>

/* A 100 ms window with counts per cluster ("-" for answers without x-app-cluster) and a
 * number of 503s among the "-" answers. */
static void add(cg_demo_series_t *s, double t, unsigned c1, unsigned c2, unsigned e503)
{
    cg_load_window_t w = {.t = t, .secs = 0.1};
    w.requests = c1 + c2 + e503;
    w.failed = e503;
    if (c1 + c2) {
        w.status[w.nstatus].code = 200;
        w.status[w.nstatus++].n = c1 + c2;
    }
    if (e503) {
        w.status[w.nstatus].code = 503;
        w.status[w.nstatus++].n = e503;
        w.cluster[w.nclusters].name = "-";
        w.cluster[w.nclusters++].n = e503;
    }
    if (c1) {
        w.cluster[w.nclusters].name = "cluster-1";
        w.cluster[w.nclusters++].n = c1;
    }
    if (c2) {
        w.cluster[w.nclusters].name = "cluster-2";
        w.cluster[w.nclusters++].n = c2;
    }
    cg_tools_demo_series_add(s, &w);
}

/* Windows [from, to) seconds, every one alike. */
static void span(cg_demo_series_t *s, double from, double to, unsigned c1, unsigned c2,
                 unsigned e503)
{
    for (int i = (int)(from * 10 + 0.5); i < (int)(to * 10 + 0.5); i++)
        add(s, (i + 1) / 10.0, c1, c2, e503);
}

static void assert_secs(double got, double want)
{
    if (want < 0) {
        if (got >= 0) fail_msg("got %.3f s, want none", got);
        return;
    }
    if (got < want - 0.011 || got > want + 0.011) fail_msg("got %.3f s, want %.3f s", got, want);
}

static void test_series(void **state)
{
    cg_demo_series_t s = {0};
    add(&s, 0.1, 20, 0, 0);
    add(&s, 0.2, 5, 10, 5);
    assert_int_equal(s.b.len, 2);
    assert_int_equal(cg_tools_demo_series_cluster(&s, "cluster-1"), 0);
    assert_int_equal(cg_tools_demo_series_cluster(&s, "cluster-2"), 2);
    assert_int_equal(cg_tools_demo_series_cluster(&s, "-"), 1);
    assert_int_equal(cg_tools_demo_series_cluster(&s, "nope"), -1);
    assert_int_equal(s.b.items[1].requests, 20);
    assert_int_equal(s.b.items[1].failed, 5);
    assert_int_equal(s.b.items[1].cluster[2], 10);
    assert_int_equal(s.ncodes, 2);
    cg_tools_demo_series_free(&s);
}

/* The local cluster fails at 3.0 s: one window of mixed traffic, then all on cluster-2 until the
 * restore at 8.0 s; one mixed window after it, then all back. */
static void test_failover_and_recovery(void **state)
{
    cg_demo_series_t s = {0};
    cg_demo_analysis_t a;
    span(&s, 0, 3.0, 20, 0, 0);
    span(&s, 3.0, 3.2, 5, 15, 0);
    span(&s, 3.2, 8.0, 0, 20, 0);
    span(&s, 8.0, 8.1, 10, 10, 0);
    span(&s, 8.1, 14.0, 20, 0, 0);
    cg_tools_demo_analyze(&s, "cluster-1", 3.0004, 8.0004, &a);
    assert_true(a.warm_share > 0.999);
    assert_secs(a.failover_s, 0.2);
    assert_secs(a.recovery_s, 0.2); /* 8.1 is half back only */
    assert_int_equal(a.failed_during, 0);
    cg_tools_demo_series_free(&s);

    /* nothing ever reached the failed cluster after the failure: within one window */
    span(&s, 0, 3.0, 20, 0, 0);
    span(&s, 3.0, 8.0, 0, 20, 0);
    span(&s, 8.0, 14.0, 20, 0, 0);
    cg_tools_demo_analyze(&s, "cluster-1", 3.001, 8.001, &a);
    assert_secs(a.failover_s, 0.099);
    assert_secs(a.recovery_s, 0.099);
    cg_tools_demo_series_free(&s);

    /* it never came back */
    span(&s, 0, 3.0, 20, 0, 0);
    span(&s, 3.0, 14.0, 0, 20, 0);
    cg_tools_demo_analyze(&s, "cluster-1", 3.0, 8.0, &a);
    assert_secs(a.recovery_s, -1);
    cg_tools_demo_series_free(&s);
}

/* A hung ingress: nothing finishes for half a second, then the stuck requests finish at once on
 * the surviving cluster. Those empty windows are not "failed over". */
static void test_stuck_requests_delay_failover(void **state)
{
    cg_demo_series_t s = {0};
    cg_demo_analysis_t a;
    span(&s, 0, 3.0, 20, 0, 0);
    span(&s, 3.0, 3.5, 0, 0, 0);
    span(&s, 3.5, 3.6, 0, 100, 0);
    span(&s, 3.6, 8.0, 0, 20, 0);
    span(&s, 8.0, 14.0, 20, 0, 0);
    cg_tools_demo_analyze(&s, "cluster-1", 3.0, 8.0, &a);
    assert_secs(a.failover_s, 0.5);
    cg_tools_demo_series_free(&s);
}

/* Weighted 50/50 and cluster-2 down: half the requests fail until the restore; no failover. */
static void test_weighted_has_no_failover(void **state)
{
    cg_demo_series_t s = {0};
    cg_demo_analysis_t a;
    span(&s, 0, 3.0, 10, 10, 0);
    span(&s, 3.0, 8.0, 10, 0, 10);
    span(&s, 8.0, 8.1, 10, 4, 6);
    span(&s, 8.1, 14.0, 10, 10, 0);
    cg_tools_demo_analyze(&s, "cluster-2", 3.0, 8.0, &a);
    assert_true(a.warm_share > 0.499 && a.warm_share < 0.501);
    assert_secs(a.failover_s, -1);
    assert_int_equal(a.failed_during, 500);
    assert_secs(a.recovery_s, 0.2); /* 4 of 20 in 8.1 is below 90 % of a half */
    cg_tools_demo_series_free(&s);
}

static cg_demo_report_t *report_of(cg_demo_series_t *s, cg_demo_event_t *ev)
{
    static cg_demo_report_t r;
    memset(&r, 0, sizeof(r));
    r.scenario = "scale-ingress";
    r.summary = "SIGKILL ingress-1; start it again";
    r.failure_action = "SIGKILL ingress-1 (pid 42) & \"friends\" <now>";
    r.restore_action = "start ingress-1 again";
    r.down = "cluster-1";
    r.edge_file = "examples/bookinfo-edge.yaml";
    r.settings = "defaults";
    r.rate = 200;
    r.duration_s = 14;
    r.failed_at = 3.0;
    r.restored_at = 8.0;
    r.start_wall_us = 1795784166853000ull;
    r.failed_wall_us = r.start_wall_us + 3000000;
    r.restored_wall_us = r.start_wall_us + 8000000;
    r.end_wall_us = r.start_wall_us + 14000000;
    r.series = s;
    r.events = ev;
    r.nevents = 1;
    r.totals.requests = 2800;
    r.totals.failed = 0;
    r.totals.nstatus = 1;
    r.totals.status[0].code = 200;
    r.totals.status[0].n = 2800;
    r.totals.nclusters = 2;
    r.totals.cluster[0].name = "cluster-1";
    r.totals.cluster[0].n = 1800;
    r.totals.cluster[1].name = "cluster-2";
    r.totals.cluster[1].n = 1000;
    r.totals.p50_ms = 0.3;
    r.totals.p99_ms = 2.5;
    r.totals.max_ms = 7;
    cg_tools_demo_analyze(s, r.down, r.failed_at, r.restored_at, &r.a);
    return &r;
}

static void test_json(void **state)
{
    cg_demo_series_t s = {0};
    cg_demo_event_t ev = {.t = 3.01, .who = "edge", .text = "outlier: ingress-1 ejected"};
    span(&s, 0, 3.0, 20, 0, 0);
    span(&s, 3.0, 8.0, 0, 20, 0);
    span(&s, 8.0, 14.0, 20, 0, 0);
    cg_demo_report_t *r = report_of(&s, &ev);
    cg_buf_t b = {0};
    cg_tools_demo_report_json(r, &b);
    cg_buf_append(&b, "", 1);
    assert_non_null(strstr(b.base, "\"failed_requests\":0,\"failover_seconds\":0.1,"
                                   "\"recovery_seconds\":0.1"));
    assert_non_null(strstr(b.base, "\"surviving_clusters\":[\"cluster-2\"]"));
    assert_non_null(
        strstr(b.base, "\"requests_per_cluster\":{\"cluster-1\":1800,\"cluster-2\":1000}"));
    assert_non_null(strstr(b.base, "\"time\":\"2026-11-27T"));
    assert_non_null(strstr(b.base, "\\\"friends\\\""));
    assert_non_null(strstr(b.base,
                           "{\"t\":14.0,\"requests\":20,\"failed\":0,\"status\":{\"200\":20},"
                           "\"clusters\":{\"cluster-1\":20}}]}\n"));

    /* it is JSON, and the figures are where scripts look for them */
    cg_buf_t err = {0};
    cg_json_t *doc = cg_json_parse("report.json", b.base, b.len - 1, &err);
    if (!doc) fail_msg("%.*s", (int)err.len, err.base);
    assert_string_equal(cg_json_string(cg_json_get(doc, "scenario"), NULL), "scale-ingress");
    assert_int_equal(cg_json_len(cg_json_get(doc, "timeline")), 140);
    assert_int_equal(cg_json_len(cg_json_get(doc, "events")), 1);
    assert_int_equal(cg_json_int(cg_json_get(cg_json_get(doc, "status"), "200")), 2800);
    cg_json_free(doc);
    cg_buf_free(&err);

    /* the protocol and the control plane's mode, and the "ha" object of a --ha run as given */
    assert_null(cg_json_get(doc = cg_json_parse("report.json", b.base, b.len - 1, NULL), "mode"));
    cg_json_free(doc);
    r->protocol = "HTTP/2";
    r->mode = "ha";
    r->ha_json = "{\"killed\":\"etcd-2\",\"instances_dropped\":0}";
    cg_buf_reset(&b);
    cg_tools_demo_report_json(r, &b);
    doc = cg_json_parse("report.json", b.base, b.len, NULL);
    assert_non_null(doc);
    assert_string_equal(cg_json_string(cg_json_get(doc, "protocol"), NULL), "HTTP/2");
    assert_string_equal(cg_json_string(cg_json_get(doc, "mode"), NULL), "ha");
    assert_string_equal(cg_json_string(cg_json_get(cg_json_get(doc, "ha"), "killed"), NULL),
                        "etcd-2");
    cg_json_free(doc);
    cg_buf_reset(&b);
    cg_tools_demo_report_svg(r, &b);
    cg_buf_append(&b, "", 1);
    assert_non_null(strstr(b.base, "200 req/s open loop HTTP/2, control plane ha, 2800 requests"));
    r->protocol = r->mode = r->ha_json = NULL;

    /* never: null */
    r->a.failover_s = -1;
    cg_buf_reset(&b);
    cg_tools_demo_report_json(r, &b);
    cg_buf_append(&b, "", 1);
    assert_non_null(strstr(b.base, "\"failover_seconds\":null"));
    cg_buf_free(&b);
    cg_tools_demo_series_free(&s);
}

static size_t count(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = strstr(s, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

static void test_svg(void **state)
{
    cg_demo_series_t s = {0};
    span(&s, 0, 3.0, 20, 0, 0);
    span(&s, 3.0, 8.0, 10, 0, 10);
    span(&s, 8.0, 14.0, 10, 10, 0);
    cg_buf_t b = {0};
    cg_tools_demo_report_svg(report_of(&s, NULL), &b);
    cg_buf_append(&b, "", 1);
    assert_true(!strncmp(b.base, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=", 50));
    assert_non_null(strstr(b.base, "</svg>\n"));
    assert_int_equal(count(b.base, "<line class=\"marker failure\""), 1);
    assert_int_equal(count(b.base, "<line class=\"marker restore\""), 1);
    /* labels are escaped */
    assert_non_null(strstr(b.base, "&amp; &quot;friends&quot; &lt;now&gt;"));
    assert_null(strstr(b.base, "& \""));
    /* one group per cluster, the failures in red; a rect per non-empty window and series */
    assert_int_equal(count(b.base, "<g class=\"series\""), 4);
    assert_non_null(strstr(b.base, "fill=\"#d62728\""));
    assert_int_equal(count(b.base, "<rect x="), 140 + 60 + 50 + 3 /* legend */);
    /* every element opened is closed */
    assert_int_equal(count(b.base, "<g "), count(b.base, "</g>"));
    assert_int_equal(count(b.base, "<text"), count(b.base, "</text>"));
    cg_buf_free(&b);
    cg_tools_demo_series_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_series),
        cmocka_unit_test(test_failover_and_recovery),
        cmocka_unit_test(test_stuck_requests_delay_failover),
        cmocka_unit_test(test_weighted_has_no_failover),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_svg),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
