/* Tests of the pieces of `crossgate load`, each through its header: the latency histogram, the
 * open-loop schedule, cluster interning, response parsing on a connection buffer, and the
 * reports (the JSON parsed back by core/json). The command line is in load_cli_test.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "core/json.h"
#include "http/parser.h"
#include "tools/load_engine.h"
#include "tools/load_hist.h"
#include "tools/load_intern.h"
#include "tools/load_report.h"
#include "tools/load_sched.h"
#include "tools/load_stats.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- histogram --- */

static cg_load_hist_t hist; /* static: a failed assertion must not leak it */

static cg_load_hist_t *fresh_hist(void)
{
    cg_load_hist_reset(&hist);
    return &hist;
}

static void assert_close(uint64_t got, double want, double rel)
{
    double err = fabs((double)got - want);
    if (err > want * rel + 0.5)
        fail_msg("got %llu, want %.1f (relative error %.4f > %.4f)", (unsigned long long)got, want,
                 err / want, rel);
}

static void test_hist_buckets_cover_values(void **state)
{
    unsigned prev = 0;
    for (uint64_t v = 0; v < (1ull << 37); v = v < 5000 ? v + 1 : v + v / 97 + 1) {
        unsigned i = cg_load_hist_index(v);
        assert_true(i < CG_LOAD_HIST_BUCKETS);
        assert_true(i >= prev); /* monotonic */
        prev = i;
        if (v >> CG_LOAD_HIST_TOP_BIT) continue;
        uint64_t w, lo = cg_load_hist_bucket_low(i, &w);
        if (v < lo || v >= lo + w)
            fail_msg("value %llu outside bucket %u [%llu, +%llu)", (unsigned long long)v, i,
                     (unsigned long long)lo, (unsigned long long)w);
        if (v < CG_LOAD_HIST_LINEAR)
            assert_int_equal(w, 1);
        else
            assert_true((double)w / (double)lo <= 1.0 / CG_LOAD_HIST_SUB + 1e-12);
    }
    /* the linear and logarithmic parts join without a gap */
    uint64_t w;
    assert_int_equal(cg_load_hist_index(1023), 1023);
    assert_int_equal(cg_load_hist_index(1024), 1024);
    assert_int_equal(cg_load_hist_bucket_low(1024, &w), 1024);
    assert_int_equal(w, 8);
    assert_int_equal(cg_load_hist_index(UINT64_MAX), CG_LOAD_HIST_BUCKETS - 1);
}

static void test_hist_exact_below_one_ms(void **state)
{
    cg_load_hist_t *h = fresh_hist();
    for (uint64_t v = 1; v <= 1000; v++) cg_load_hist_record(h, v);
    assert_int_equal(h->count, 1000);
    assert_int_equal(cg_load_hist_percentile(h, 50), 500);
    assert_int_equal(cg_load_hist_percentile(h, 90), 900);
    assert_int_equal(cg_load_hist_percentile(h, 99), 990);
    assert_int_equal(cg_load_hist_percentile(h, 99.9), 999); /* rank 999, not 1000 by rounding */
    assert_int_equal(cg_load_hist_percentile(h, 100), 1000);
    assert_int_equal(cg_load_hist_percentile(h, 0.01), 1);
    assert_int_equal(h->min, 1);
    assert_int_equal(h->max, 1000);
}

static void test_hist_uniform_within_one_percent(void **state)
{
    cg_load_hist_t *h = fresh_hist();
    /* 1 us .. 10 s, uniform */
    for (uint64_t v = 1; v <= 10000000; v += 7) cg_load_hist_record(h, v);
    static const double ps[] = {10, 25, 50, 75, 90, 99, 99.9};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
        assert_close(cg_load_hist_percentile(h, ps[i]), ps[i] / 100 * 1e7, 0.005);
    assert_int_equal(cg_load_hist_percentile(h, 100), h->max);
}

static void test_hist_log_spread_within_one_percent(void **state)
{
    cg_load_hist_t *h = fresh_hist();
    /* values 1.01^k: each percentile is a known recorded value */
    double v = 1000;
    uint64_t vals[1200];
    for (int k = 0; k < 1200; k++, v *= 1.01) {
        vals[k] = (uint64_t)v;
        cg_load_hist_record(h, vals[k]);
    }
    assert_close(cg_load_hist_percentile(h, 50), (double)vals[599], 0.004);
    assert_close(cg_load_hist_percentile(h, 99), (double)vals[1187], 0.004);
    assert_int_equal(cg_load_hist_percentile(h, 100), vals[1199]);
}

static void test_hist_tail(void **state)
{
    cg_load_hist_t *h = fresh_hist();
    assert_int_equal(cg_load_hist_percentile(h, 50), 0); /* empty */
    for (int i = 0; i < 98; i++) cg_load_hist_record(h, 100);
    cg_load_hist_record(h, 50000);
    cg_load_hist_record(h, 50000);
    assert_int_equal(cg_load_hist_percentile(h, 50), 100);
    assert_int_equal(cg_load_hist_percentile(h, 98), 100);
    assert_close(cg_load_hist_percentile(h, 99), 50000, 0.004);
    assert_int_equal(cg_load_hist_percentile(h, 100), 50000);
    cg_load_hist_record(h, 1ull << 40); /* beyond the top bucket: clamped, max exact */
    assert_int_equal(h->max, 1ull << 40);
    assert_int_equal(cg_load_hist_percentile(h, 100), 1ull << 40);
    cg_load_hist_reset(h);
    assert_int_equal(h->count, 0);
    cg_load_hist_record(h, 777777);
    assert_int_equal(cg_load_hist_percentile(h, 50), 777777); /* clamped to [min, max] */
}

/* --- schedule --- */

static cg_load_sched_t sched(uint64_t start, double rate, uint64_t max)
{
    return (cg_load_sched_t){
        .start_us = start, .deadline_us = UINT64_MAX, .rate = rate, .max = max};
}

static void test_schedule(void **state)
{
    static const double rates[] = {0.5, 1, 3, 7.5, 1000, 33333.3, 1000000};
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        uint64_t start = 123456789;
        cg_load_sched_t s = sched(start, rates[r], UINT64_MAX);
        assert_int_equal(cg_load_sched_due(&s, start - 1), 0);
        assert_int_equal(cg_load_sched_due(&s, start), 1); /* request 0 at start */
        uint64_t prev = 0;
        for (uint64_t t = 0; t < 30000000; t = t * 3 + 17) {
            uint64_t due = cg_load_sched_due(&s, start + t);
            assert_true(due >= prev);
            prev = due;
            assert_true(cg_load_sched_time(&s, due - 1) <= start + t);
            assert_true(cg_load_sched_time(&s, due) > start + t);
            /* about rate * t requests by t */
            double want = (double)t * rates[r] / 1e6 + 1;
            assert_true(fabs((double)due - want) <= 1.0);
        }
        s.max = 5;
        assert_int_equal(cg_load_sched_due(&s, start + 100000000), 5); /* -n caps it */
    }
    /* exactly on the schedule: due includes the request scheduled now */
    cg_load_sched_t s = sched(0, 1000, UINT64_MAX);
    assert_int_equal(cg_load_sched_time(&s, 7), 7000);
    assert_int_equal(cg_load_sched_due(&s, 7000), 8);
    assert_int_equal(cg_load_sched_due(&s, 6999), 7);
}

/* The pump's view, with the time passed in: what is owed, handed out in order, and when to
 * wake up next; nothing is due at or after the deadline. */
static void test_schedule_backlog_and_wakeup(void **state)
{
    /* 100/s from t=1 s, deadline at 1.5 s: requests at 1.00, 1.01, ... 1.49 s */
    cg_load_sched_t s = sched(1000000, 100, UINT64_MAX);
    s.deadline_us = 1500000;
    uint64_t at;
    assert_int_equal(cg_load_sched_backlog(&s, 999999), 0);
    assert_int_equal(cg_load_sched_take(&s, 999999, &at), 0);
    assert_int_equal(cg_load_sched_wakeup(&s, 999999), 1000000);
    assert_int_equal(cg_load_sched_backlog(&s, 1000000), 1);
    assert_int_equal(cg_load_sched_wakeup(&s, 1000000), 1010000);
    /* 35 ms late: four are owed, handed out at their scheduled times (latency counts from
     * there) */
    assert_int_equal(cg_load_sched_backlog(&s, 1035000), 4);
    for (uint64_t k = 0; k < 4; k++) {
        assert_int_equal(cg_load_sched_take(&s, 1035000, &at), 1);
        assert_int_equal(at, 1000000 + k * 10000);
    }
    assert_int_equal(cg_load_sched_take(&s, 1035000, &at), 0);
    assert_int_equal(cg_load_sched_backlog(&s, 1035000), 0);
    assert_int_equal(cg_load_sched_wakeup(&s, 1035000), 1040000);
    /* past the deadline only the 50 requests of the run are owed, and no wakeup */
    assert_int_equal(cg_load_sched_backlog(&s, 9000000), 46);
    assert_int_equal(cg_load_sched_wakeup(&s, 1495000), 0);
    assert_int_equal(cg_load_sched_wakeup(&s, 1485000), 1490000);
    /* -n: at most max in all */
    s.max = 6;
    assert_int_equal(cg_load_sched_backlog(&s, 9000000), 2);
    assert_int_equal(cg_load_sched_wakeup(&s, 1000000), 1010000);
    assert_int_equal(cg_load_sched_wakeup(&s, 1050000), 0);
}

/* --- clusters --- */

static void test_clusters(void **state)
{
    cg_load_clusters_t t;
    cg_load_clusters_init(&t);
    assert_int_equal(cg_load_clusters_intern(&t, CG_IOV_NULL), CG_LOAD_CLUSTER_MISSING);
    unsigned b = cg_load_clusters_intern(&t, CG_IOV_LIT("cluster-2"));
    unsigned a = cg_load_clusters_intern(&t, CG_IOV_LIT("cluster-1"));
    assert_int_not_equal(a, b);
    assert_int_equal(cg_load_clusters_intern(&t, CG_IOV_LIT("cluster-2")), b);
    uint16_t order[CG_LOAD_MAX_CLUSTERS];
    assert_int_equal(cg_load_clusters_sorted(&t, order), 3);
    assert_string_equal(t.name[order[0]], "-");
    assert_string_equal(t.name[order[1]], "cluster-1");
    assert_string_equal(t.name[order[2]], "cluster-2");
    /* long names are cut, and the table's overflow lands in one slot */
    char name[128];
    memset(name, 'n', 100);
    name[100] = '\0';
    assert_int_equal(t.len[cg_load_clusters_intern(&t, cg_iov_str(name))],
                     CG_LOAD_CLUSTER_NAME - 1);
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        unsigned k = cg_load_clusters_intern(&t, cg_iov_str(name));
        assert_true(k < CG_LOAD_MAX_CLUSTERS);
    }
    assert_int_equal(t.n, CG_LOAD_MAX_CLUSTERS);
    assert_string_equal(t.name[CG_LOAD_MAX_CLUSTERS - 1], "(other)");
    assert_int_equal(cg_load_clusters_intern(&t, CG_IOV_LIT("brand-new")),
                     CG_LOAD_MAX_CLUSTERS - 1);
    assert_int_equal(cg_load_clusters_intern(&t, CG_IOV_LIT("cluster-1")), a);
}

/* --- response parsing on a connection's buffer --- */

typedef struct fixture {
    cg_load_t ld;
    cg_load_conn_t c;
} fixture_t;

static fixture_t *fixture(void)
{
    fixture_t *f = calloc(1, sizeof(*f));
    cg_load_stats_init(&f->ld.st);
    f->c.cluster = CG_LOAD_CLUSTER_NONE;
    cg_http_parser_init(&f->c.parser, 0, &f->c.head, NULL);
    return f;
}

/* Feeds `in` in pieces of `step` bytes; returns the first non-EAGAIN result. */
static int feed(fixture_t *f, const char *in, size_t step)
{
    cg_load_conn_t *c = &f->c;
    c->head_done = 0;
    c->rlen = c->parsed = 0;
    cg_http_parser_next(&c->parser);
    size_t len = strlen(in), off = 0;
    int r = CG_EAGAIN;
    while (off < len) {
        size_t n = len - off < step ? len - off : step;
        if (n > CG_LOAD_RBUF - c->rlen) n = CG_LOAD_RBUF - c->rlen;
        memcpy(c->rbuf + c->rlen, in + off, n);
        c->rlen += n;
        off += n;
        r = cg_load__conn_parse(&f->ld, c);
        if (r != CG_EAGAIN) return r;
    }
    return r;
}

static void test_parse_responses(void **state)
{
    fixture_t *f = fixture();
    static const char ok[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-App-Cluster: cluster-1\r\n\r\nhello";
    for (size_t step = 1; step <= sizeof(ok); step++) {
        assert_int_equal(feed(f, ok, step), 0);
        assert_int_equal(f->c.status, 200);
        assert_string_equal(f->ld.st.cl.name[f->c.cluster], "cluster-1");
        assert_int_equal(f->c.parsed, f->c.rlen); /* nothing left over */
        assert_true(f->c.head.flags & CG_HTTP_F_KEEPALIVE);
    }
    unsigned c1 = f->c.cluster;

    /* chunked, 1xx before the answer, a padded header value, no header at all */
    assert_int_equal(feed(f,
                          "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: "
                          "chunked\r\nx-app-cluster: cluster-2\r\n\r\n"
                          "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                          7),
                     0);
    assert_int_equal(f->c.status, 503);
    assert_string_equal(f->ld.st.cl.name[f->c.cluster], "cluster-2");
    assert_int_equal(feed(f,
                          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nx-app-cluster:  "
                          "cluster-1 \r\n\r\n",
                          3),
                     0);
    assert_int_equal(f->c.status, 204);
    assert_int_equal(f->c.cluster, c1);
    assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100), 0);
    assert_int_equal(f->c.cluster, CG_LOAD_CLUSTER_MISSING);

    /* Connection: close, and bytes after the response, are seen by the caller */
    assert_int_equal(
        feed(f, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokEXTRA", 100),
        0);
    assert_false(f->c.head.flags & CG_HTTP_F_KEEPALIVE);
    assert_int_equal(f->c.rlen - f->c.parsed, 5);

    /* a body larger than the buffer streams through it */
    size_t big = 3 * CG_LOAD_RBUF + 11;
    char *resp = malloc(big + 100);
    int hl = snprintf(resp, 100, "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n", big);
    memset(resp + hl, 'x', big);
    resp[hl + big] = '\0';
    assert_int_equal(feed(f, resp, 5000), 0);
    free(resp);

    /* a body delimited by the connection's end */
    assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nx-app-cluster: eof\r\n\r\nuntil close", 100),
                     CG_EAGAIN);
    assert_int_equal(cg_http_parse_eof(&f->c.parser, NULL), 0);

    /* malformed, or a head that does not fit the buffer */
    assert_int_equal(feed(f, "HTTZ/1.1 200 OK\r\n\r\n", 100), CG_EPARSE);
    assert_int_equal(feed(f, "HTTP/1.1 200 OK\nContent-Length: 0\n\n", 100), CG_EPARSE);
    char *huge = malloc(CG_LOAD_RBUF + 200);
    int n = snprintf(huge, 100, "HTTP/1.1 200 OK\r\nx-pad: ");
    memset(huge + n, 'a', CG_LOAD_RBUF);
    strcpy(huge + n + CG_LOAD_RBUF, "\r\n\r\n");
    assert_int_equal(feed(f, huge, 4096), CG_EPARSE);
    free(huge);
    free(f);
}

/* --- counting, timeline and the JSON report --- */

static const cg_json_t *get(const cg_json_t *v, const char *path)
{
    char key[64];
    while (v && *path) {
        size_t n = strcspn(path, ".");
        snprintf(key, sizeof(key), "%.*s", (int)n, path);
        v = cg_json_get(v, key);
        path += n + (path[n] == '.');
    }
    if (!v) fail_msg("no %s", path);
    return v;
}

/* The run's windows close as requests are recorded, with the time passed in; the report is
 * the format of docs/load.md, byte for byte. */
static void test_report(void **state)
{
    cg_load_t *ld = calloc(1, sizeof(*ld));
    ld->url = "http://127.0.0.1:1/";
    ld->host_hdr = "h\"x";
    ld->conns = 2;
    ld->max_conns = 2;
    ld->duration_us = 10000000;
    ld->interval_us = 1000000;
    cg_load_stats_init(&ld->st);
    cg_load__start_clock(ld, 1000000);
    unsigned c1 = cg_load_clusters_intern(&ld->st.cl, CG_IOV_LIT("cluster-1"));
    unsigned c2 = cg_load_clusters_intern(&ld->st.cl, CG_IOV_LIT("cluster-2"));
    uint64_t t0 = ld->start_us;
    cg_load__record(ld, t0 + 10000, 200, c1, 1000, -1);
    cg_load__record(ld, t0 + 90000, 200, c1, 3000, -1);
    cg_load__record(ld, t0 + 150000, 503, c2, 2000, -1);
    cg_load__record(ld, t0 + 420000, 0, CG_LOAD_CLUSTER_NONE, 0, CG_LOAD_E_REFUSED);
    cg_load__record(ld, t0 + 430000, 200, CG_LOAD_CLUSTER_MISSING, 4000, -1);
    cg_load__record(ld, t0 + 20000000, 200, c1, 1, -1); /* after the deadline: not counted */
    ld->end_us = t0 + 450000;
    cg_load__finish(ld);

    assert_int_equal(ld->st.total.requests, 5);
    assert_int_equal(cg_load_counts_failed(&ld->st.total), 2);
    assert_int_equal(ld->late, 1);
    assert_int_equal(ld->st.timeline.buckets.len, 5); /* 0.1 .. 0.4 full, 0.5 partial */

    cg_buf_t b = {0};
    cg_tools_load_json(ld, &b);
    cg_buf_append(&b, "", 1);
    static const char want[] =
        "{\"url\":\"http://127.0.0.1:1/"
        "\",\"host\":\"h\\\"x\",\"mode\":\"closed\",\"connections\":2,\"rate\":null,"
        "\"connects\":0,\"duration_s\":0.450,\"requests\":5,\"failed_requests\":2,\"unfinished_"
        "requests\":1,"
        "\"status\":{\"0\":1,\"200\":3,\"503\":1},"
        "\"requests_per_cluster\":{\"-\":1,\"cluster-1\":2,\"cluster-2\":1},"
        "\"errors\":{\"refused\":1,\"connect\":0,\"reset\":0,\"timeout\":0,\"closed\":0,\"parse\":"
        "0,\"rst_stream\":0,\"goaway\":0,\"protocol\":0,\"dns\":0},"
        "\"latency_ms\":{\"p50\":2.004,\"p90\":4.000,\"p99\":4.000,\"p999\":4.000,\"max\":4.000,"
        "\"mean\":2.500},"
        "\"timeline\":["
        "{\"t\":0.1,\"status\":{\"200\":2},\"clusters\":{\"cluster-1\":2}},"
        "{\"t\":0.2,\"status\":{\"503\":1},\"clusters\":{\"cluster-2\":1}},"
        "{\"t\":0.3,\"status\":{},\"clusters\":{}},"
        "{\"t\":0.4,\"status\":{},\"clusters\":{}},"
        "{\"t\":0.5,\"status\":{\"0\":1,\"200\":1},\"clusters\":{\"-\":1}}"
        "]}\n";
    assert_string_equal(b.base, want);
    cg_buf_free(&b);
    cg_load_stats_free(&ld->st);
    free(ld);
}

/* The report from counters alone (no run): open loop, cluster names that need escaping,
 * parsed back by the strict reader. */
static void test_report_json_parses_back(void **state)
{
    cg_load_stats_t *st = calloc(1, sizeof(*st));
    cg_load_stats_init(st);
    unsigned q = cg_load_clusters_intern(&st->cl, CG_IOV_LIT("we\"ird\\name"));
    unsigned ctl = cg_load_clusters_intern(&st->cl, CG_IOV_LIT("tab\there"));
    assert_string_equal(st->cl.name[ctl], "tab?here");
    for (int i = 0; i < 10; i++) cg_load_stats_record(st, 200, q, 1500, -1);
    cg_load_stats_record(st, 0, CG_LOAD_CLUSTER_NONE, 0, CG_LOAD_E_TIMEOUT);
    cg_load_stats_close_bucket(st);
    cg_load_stats_close_bucket(st); /* an empty one */
    cg_load_stats_record(st, 502, ctl, 800, -1);
    cg_load_stats_close_bucket(st);
    cg_load_hist_record(&st->lag, 250);
    cg_load_run_info_t run = {.url = "http://[::1]:8080/a?b",
                              .host = "app",
                              .rate = 99.5,
                              .conns = 3,
                              .max_conns = 512,
                              .connects = 4,
                              .unfinished = 2,
                              .secs = 0.3};
    cg_buf_t b = {0}, errs = {0};
    cg_load_report_json(&run, st, &b);
    assert_true(b.len > 0 && b.base[b.len - 1] == '\n');
    cg_json_t *doc = cg_json_parse("report", b.base, b.len, &errs);
    if (!doc) fail_msg("%.*s", (int)errs.len, errs.base);
    assert_string_equal(cg_json_string(get(doc, "mode"), NULL), "open");
    assert_string_equal(cg_json_string(get(doc, "url"), NULL), "http://[::1]:8080/a?b");
    assert_int_equal(cg_json_int(get(doc, "max_connections")), 512);
    assert_int_equal(cg_json_int(get(doc, "requests")), 12);
    assert_int_equal(cg_json_int(get(doc, "failed_requests")), 2);
    assert_int_equal(cg_json_int(get(doc, "unfinished_requests")), 2);
    assert_int_equal(cg_json_int(get(doc, "status.200")), 10);
    assert_int_equal(cg_json_int(get(doc, "status.0")), 1);
    assert_int_equal(cg_json_int(get(doc, "errors.timeout")), 1);
    const cg_json_t *pc = get(doc, "requests_per_cluster");
    assert_int_equal(cg_json_len(pc), 2);
    assert_int_equal(cg_json_int(cg_json_get(pc, "we\"ird\\name")), 10);
    assert_int_equal(cg_json_int(cg_json_get(pc, "tab?here")), 1);
    assert_int_equal(cg_json_type(get(doc, "send_lag_ms.p50")), CG_JSON_REAL);
    const cg_json_t *tl = get(doc, "timeline");
    assert_int_equal(cg_json_len(tl), 3);
    assert_int_equal(cg_json_int(get(cg_json_at(tl, 0), "status.200")), 10);
    assert_int_equal(cg_json_len(get(cg_json_at(tl, 1), "status")), 0);
    assert_int_equal(cg_json_int(get(cg_json_at(tl, 2), "clusters.tab?here")), 1);
    cg_json_free(doc);

    /* no responses: the percentiles are null */
    cg_load_stats_t *empty = calloc(1, sizeof(*empty));
    cg_load_stats_init(empty);
    run.rate = 0;
    cg_buf_reset(&b);
    cg_load_report_json(&run, empty, &b);
    doc = cg_json_parse("report", b.base, b.len, &errs);
    assert_non_null(doc);
    assert_int_equal(cg_json_type(get(doc, "latency_ms.p99")), CG_JSON_NULL);
    assert_int_equal(cg_json_type(get(doc, "rate")), CG_JSON_NULL);
    assert_null(cg_json_get(doc, "send_lag_ms"));
    cg_json_free(doc);
    cg_buf_free(&b);
    cg_buf_free(&errs);
    cg_load_stats_free(st);
    cg_load_stats_free(empty);
    free(st);
    free(empty);
}

/* The live line and the summary list every status and cluster of the run. */
static void test_report_text(void **state)
{
    cg_load_stats_t *st = calloc(1, sizeof(*st));
    cg_load_stats_init(st);
    unsigned a = cg_load_clusters_intern(&st->cl, CG_IOV_LIT("a"));
    cg_load_stats_record(st, 200, a, 2000, -1);
    cg_load_stats_reset_interval(st);
    cg_load_stats_record(st, 0, CG_LOAD_CLUSTER_NONE, 0, CG_LOAD_E_REFUSED);
    cg_buf_t b = {0};
    cg_load_report_interval(st, 2.0, 1.0, &b);
    cg_buf_append(&b, "", 1);
    assert_string_equal(b.base, "    2.0s  rps 1  200:0  a:0  p50 - p99 -  errors 1 (refused 1)\n");
    cg_buf_reset(&b);
    cg_load_run_info_t run = {.url = "http://x/", .host = "x", .conns = 1, .secs = 2};
    cg_load_report_summary(&run, st, &b);
    cg_buf_append(&b, "", 1);
    assert_non_null(strstr(b.base, "requests    2 (1.0/s), failed 1"));
    assert_non_null(strstr(b.base, "status      200:1\n  clusters    a:1\n"));
    assert_null(strstr(b.base, "send lag"));
    cg_buf_free(&b);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets_cover_values),
        cmocka_unit_test(test_hist_exact_below_one_ms),
        cmocka_unit_test(test_hist_uniform_within_one_percent),
        cmocka_unit_test(test_hist_log_spread_within_one_percent),
        cmocka_unit_test(test_hist_tail),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_schedule_backlog_and_wakeup),
        cmocka_unit_test(test_clusters),
        cmocka_unit_test(test_parse_responses),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_report_json_parses_back),
        cmocka_unit_test(test_report_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}