/* Tests of the pure parts of `crossgate load`: the latency histogram, flag values, the open-loop
 * schedule, cluster names, response parsing on a connection buffer, and the JSON report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* the file under test, for its static functions */
#include "tools/load.c"

/* --- histogram --- */

static hist_t hist; /* static: a failed assertion must not leak it */

static hist_t *fresh_hist(void)
{
    hist_reset(&hist);
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
        unsigned i = hist_index(v);
        assert_true(i < HIST_BUCKETS);
        assert_true(i >= prev); /* monotonic */
        prev = i;
        if (v >> HIST_TOP_BIT) continue;
        uint64_t w, lo = hist_bucket_low(i, &w);
        if (v < lo || v >= lo + w)
            fail_msg("value %llu outside bucket %u [%llu, +%llu)", (unsigned long long)v, i,
                     (unsigned long long)lo, (unsigned long long)w);
        if (v < HIST_LINEAR)
            assert_int_equal(w, 1);
        else
            assert_true((double)w / (double)lo <= 1.0 / HIST_SUB + 1e-12);
    }
    /* the linear and logarithmic parts join without a gap */
    uint64_t w;
    assert_int_equal(hist_index(1023), 1023);
    assert_int_equal(hist_index(1024), 1024);
    assert_int_equal(hist_bucket_low(1024, &w), 1024);
    assert_int_equal(w, 8);
    assert_int_equal(hist_index(UINT64_MAX), HIST_BUCKETS - 1);
}

static void test_hist_exact_below_one_ms(void **state)
{
    hist_t *h = fresh_hist();
    for (uint64_t v = 1; v <= 1000; v++) hist_record(h, v);
    assert_int_equal(h->count, 1000);
    assert_int_equal(hist_percentile(h, 50), 500);
    assert_int_equal(hist_percentile(h, 90), 900);
    assert_int_equal(hist_percentile(h, 99), 990);
    assert_int_equal(hist_percentile(h, 99.9), 999); /* rank 999, not 1000 by rounding */
    assert_int_equal(hist_percentile(h, 100), 1000);
    assert_int_equal(hist_percentile(h, 0.01), 1);
    assert_int_equal(h->min, 1);
    assert_int_equal(h->max, 1000);
}

static void test_hist_uniform_within_one_percent(void **state)
{
    hist_t *h = fresh_hist();
    /* 1 us .. 10 s, uniform */
    for (uint64_t v = 1; v <= 10000000; v += 7) hist_record(h, v);
    static const double ps[] = {10, 25, 50, 75, 90, 99, 99.9};
    for (size_t i = 0; i < sizeof(ps) / sizeof(ps[0]); i++)
        assert_close(hist_percentile(h, ps[i]), ps[i] / 100 * 1e7, 0.005);
    assert_int_equal(hist_percentile(h, 100), h->max);
}

static void test_hist_log_spread_within_one_percent(void **state)
{
    hist_t *h = fresh_hist();
    /* values 1.01^k: each percentile is a known recorded value */
    double v = 1000;
    uint64_t vals[1200];
    for (int k = 0; k < 1200; k++, v *= 1.01) {
        vals[k] = (uint64_t)v;
        hist_record(h, vals[k]);
    }
    assert_close(hist_percentile(h, 50), (double)vals[599], 0.004);
    assert_close(hist_percentile(h, 99), (double)vals[1187], 0.004);
    assert_int_equal(hist_percentile(h, 100), vals[1199]);
}

static void test_hist_tail(void **state)
{
    hist_t *h = fresh_hist();
    assert_int_equal(hist_percentile(h, 50), 0); /* empty */
    for (int i = 0; i < 98; i++) hist_record(h, 100);
    hist_record(h, 50000);
    hist_record(h, 50000);
    assert_int_equal(hist_percentile(h, 50), 100);
    assert_int_equal(hist_percentile(h, 98), 100);
    assert_close(hist_percentile(h, 99), 50000, 0.004);
    assert_int_equal(hist_percentile(h, 100), 50000);
    hist_record(h, 1ull << 40); /* beyond the top bucket: clamped, max exact */
    assert_int_equal(h->max, 1ull << 40);
    assert_int_equal(hist_percentile(h, 100), 1ull << 40);
    hist_reset(h);
    assert_int_equal(h->count, 0);
    hist_record(h, 777777);
    assert_int_equal(hist_percentile(h, 50), 777777); /* clamped to [min, max] */
}

/* --- flag values --- */

static void test_parse_flag_values(void **state)
{
    /* the grammar itself is tested in core/duration_test.c; a flag takes bare seconds */
    static const struct {
        const char *in;
        int ok;
        uint64_t us;
    } cases[] = {
        {"30s", 1, 30000000}, {"500ms", 1, 500000}, {"10", 1, 10000000}, {"1m30s", 1, 90000000},
        {"", 0, 0},           {"5x", 0, 0},         {"250us", 0, 0},     {"1e300s", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t us = 0;
        int r = parse_duration(cases[i].in, &us);
        if ((r == 0) != cases[i].ok) fail_msg("\"%s\": got %d", cases[i].in, r);
        if (cases[i].ok && us != cases[i].us)
            fail_msg("\"%s\": got %llu us", cases[i].in, (unsigned long long)us);
    }
    uint64_t n;
    assert_int_equal(parse_count("50", 100, &n), 0);
    assert_int_equal(n, 50);
    assert_int_not_equal(parse_count("101", 100, &n), 0);
    assert_int_not_equal(parse_count("-1", 100, &n), 0);
    assert_int_not_equal(parse_count("1k", 100, &n), 0);
    assert_int_not_equal(parse_count("", 100, &n), 0);
}

static int args(load_t *ld, const char *line)
{
    static char buf[512]; /* the parsed options point into it */
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof(buf), "load %s", line);
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " ")) argv[argc++] = t;
    argv[argc] = NULL;
    memset(ld, 0, sizeof(*ld));
    int r = parse_args(ld, argc, argv);
    return r;
}

static void test_parse_args(void **state)
{
    load_t *ld = calloc(1, sizeof(*ld));
    assert_int_equal(args(ld, "http://127.0.0.1:8080/p?q=1"), 0);
    assert_int_equal(ld->conns, 1);
    assert_int_equal(ld->max_conns, 1);
    assert_int_equal(ld->duration_us, 10000000);
    assert_int_equal(ld->interval_us, 1000000);
    assert_true(ld->rate == 0);
    assert_string_equal(ld->path, "/p?q=1");
    assert_string_equal(ld->host_hdr, "127.0.0.1:8080");

    assert_int_equal(
        args(ld, "-c 50 -d 30s --rate 200.5 --host app.example -n 1000 --interval 100ms -q "
                 "--json - http://localhost:9/"),
        0);
    assert_int_equal(ld->conns, 50);
    assert_int_equal(ld->max_conns, 512);
    assert_true(ld->rate == 200.5);
    assert_int_equal(ld->max_requests, 1000);
    assert_int_equal(ld->interval_us, 100000);
    assert_string_equal(ld->host_hdr, "app.example");
    assert_string_equal(ld->json_path, "-");
    assert_string_equal(ld->path, "/");
    assert_int_equal(cg_addr_port(&ld->addr), 9);

    assert_int_equal(args(ld, "--rate 10 -c 600 http://127.0.0.1:9/"), 0);
    assert_int_equal(ld->max_conns, 600);
    assert_int_equal(args(ld, "--help"), -1);

    static const char *const bad_lines[] = {
        "",
        "http://example.com/",
        "https://127.0.0.1:1/",
        "127.0.0.1:80",
        "http://127.0.0.1:99999/",
        "http://127.0.0.1:1/ extra",
        "-c 0 http://127.0.0.1:1/",
        "-c x http://127.0.0.1:1/",
        "-d 0 http://127.0.0.1:1/",
        "-d 25h http://127.0.0.1:1/",
        "--rate 0 http://127.0.0.1:1/",
        "--rate -5 http://127.0.0.1:1/",
        "--interval 1ms http://127.0.0.1:1/",
        "-n 0 http://127.0.0.1:1/",
        "--bogus http://127.0.0.1:1/",
        "http://127.0.0.1:1/ -c",
    };
    for (size_t i = 0; i < sizeof(bad_lines) / sizeof(bad_lines[0]); i++)
        if (args(ld, bad_lines[i]) != 2) fail_msg("accepted: %s", bad_lines[i]);
    free(ld);
}

/* --- schedule --- */

static void test_schedule(void **state)
{
    static const double rates[] = {0.5, 1, 3, 7.5, 1000, 33333.3, 1000000};
    for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
        double rate = rates[r];
        uint64_t start = 123456789;
        assert_int_equal(sched_due(start, rate, start - 1, UINT64_MAX), 0);
        assert_int_equal(sched_due(start, rate, start, UINT64_MAX), 1); /* request 0 at start */
        uint64_t prev = 0;
        for (uint64_t t = 0; t < 30000000; t = t * 3 + 17) {
            uint64_t due = sched_due(start, rate, start + t, UINT64_MAX);
            assert_true(due >= prev);
            prev = due;
            assert_true(sched_time(start, rate, due - 1) <= start + t);
            assert_true(sched_time(start, rate, due) > start + t);
            /* about rate * t requests by t */
            double want = (double)t * rate / 1e6 + 1;
            assert_true(fabs((double)due - want) <= 1.0);
        }
        assert_int_equal(sched_due(start, rate, start + 100000000, 5), 5); /* -n caps it */
    }
    /* exactly on the schedule: due includes the request scheduled now */
    assert_int_equal(sched_time(0, 1000, 7), 7000);
    assert_int_equal(sched_due(0, 1000, 7000, UINT64_MAX), 8);
    assert_int_equal(sched_due(0, 1000, 6999, UINT64_MAX), 7);
}

/* --- clusters --- */

static void test_clusters(void **state)
{
    clusters_t t;
    clusters_init(&t);
    assert_int_equal(clusters_intern(&t, CG_IOV_NULL), CLUSTER_MISSING);
    unsigned b = clusters_intern(&t, CG_IOV_LIT("cluster-2"));
    unsigned a = clusters_intern(&t, CG_IOV_LIT("cluster-1"));
    assert_int_not_equal(a, b);
    assert_int_equal(clusters_intern(&t, CG_IOV_LIT("cluster-2")), b);
    uint16_t order[MAX_CLUSTERS];
    assert_int_equal(clusters_sorted(&t, order), 3);
    assert_string_equal(t.name[order[0]], "-");
    assert_string_equal(t.name[order[1]], "cluster-1");
    assert_string_equal(t.name[order[2]], "cluster-2");
    /* long names are cut, and the table's overflow lands in one slot */
    char name[128];
    memset(name, 'n', 100);
    name[100] = '\0';
    assert_int_equal(t.len[clusters_intern(&t, cg_iov_str(name))], CLUSTER_NAME - 1);
    for (int i = 0; i < 100; i++) {
        snprintf(name, sizeof(name), "c%d", i);
        unsigned k = clusters_intern(&t, cg_iov_str(name));
        assert_true(k < MAX_CLUSTERS);
    }
    assert_int_equal(t.n, MAX_CLUSTERS);
    assert_string_equal(t.name[MAX_CLUSTERS - 1], "(other)");
    assert_int_equal(clusters_intern(&t, CG_IOV_LIT("brand-new")), MAX_CLUSTERS - 1);
    assert_int_equal(clusters_intern(&t, CG_IOV_LIT("cluster-1")), a);
}

/* --- response parsing on a connection's buffer --- */

typedef struct fixture {
    load_t ld;
    conn_t c;
} fixture_t;

static fixture_t *fixture(void)
{
    fixture_t *f = calloc(1, sizeof(*f));
    clusters_init(&f->ld.cl);
    f->c.cluster = CLUSTER_NONE;
    cg_http_parser_init(&f->c.parser, 0, &f->c.head, NULL);
    return f;
}

/* Feeds `in` in pieces of `step` bytes; returns the first non-EAGAIN result. */
static int feed(fixture_t *f, const char *in, size_t step)
{
    conn_t *c = &f->c;
    c->head_done = 0;
    c->rlen = c->parsed = 0;
    cg_http_parser_next(&c->parser);
    size_t len = strlen(in), off = 0;
    int r = CG_EAGAIN;
    while (off < len) {
        size_t n = len - off < step ? len - off : step;
        if (n > RBUF - c->rlen) n = RBUF - c->rlen;
        memcpy(c->rbuf + c->rlen, in + off, n);
        c->rlen += n;
        off += n;
        r = conn_parse(&f->ld, c);
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
        assert_string_equal(f->ld.cl.name[f->c.cluster], "cluster-1");
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
    assert_string_equal(f->ld.cl.name[f->c.cluster], "cluster-2");
    assert_int_equal(feed(f,
                          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nx-app-cluster:  "
                          "cluster-1 \r\n\r\n",
                          3),
                     0);
    assert_int_equal(f->c.status, 204);
    assert_int_equal(f->c.cluster, c1);
    assert_int_equal(feed(f, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", 100), 0);
    assert_int_equal(f->c.cluster, CLUSTER_MISSING);

    /* Connection: close, and bytes after the response, are seen by the caller */
    assert_int_equal(
        feed(f, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nokEXTRA", 100),
        0);
    assert_false(f->c.head.flags & CG_HTTP_F_KEEPALIVE);
    assert_int_equal(f->c.rlen - f->c.parsed, 5);

    /* a body larger than the buffer streams through it */
    size_t big = 3 * RBUF + 11;
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
    char *huge = malloc(RBUF + 200);
    int n = snprintf(huge, 100, "HTTP/1.1 200 OK\r\nx-pad: ");
    memset(huge + n, 'a', RBUF);
    strcpy(huge + n + RBUF, "\r\n\r\n");
    assert_int_equal(feed(f, huge, 4096), CG_EPARSE);
    free(huge);
    free(f);
}

/* --- counting, timeline and the JSON report --- */

static void test_report(void **state)
{
    load_t *ld = calloc(1, sizeof(*ld));
    ld->url = "http://127.0.0.1:1/";
    ld->host_hdr = "h\"x";
    ld->conns = 2;
    ld->max_conns = 2;
    ld->quiet = 1;
    ld->duration_us = 10000000;
    ld->interval_us = 1000000;
    clusters_init(&ld->cl);
    start_clock(ld, 1000000);
    unsigned c1 = clusters_intern(&ld->cl, CG_IOV_LIT("cluster-1"));
    unsigned c2 = clusters_intern(&ld->cl, CG_IOV_LIT("cluster-2"));
    uint64_t t0 = ld->start_us;
    record(ld, t0 + 10000, 200, c1, 1000, -1);
    record(ld, t0 + 90000, 200, c1, 3000, -1);
    record(ld, t0 + 150000, 503, c2, 2000, -1);
    record(ld, t0 + 420000, 0, CLUSTER_NONE, 0, E_REFUSED);
    record(ld, t0 + 430000, 200, CLUSTER_MISSING, 4000, -1);
    record(ld, t0 + 20000000, 200, c1, 1, -1); /* after the deadline: not counted */
    ld->end_us = t0 + 450000;
    finish_run(ld);

    assert_int_equal(ld->total.requests, 5);
    assert_int_equal(failed_requests(&ld->total), 2);
    assert_int_equal(ld->late, 1);
    assert_int_equal(ld->nbuckets, 5); /* 0.1 .. 0.4 full, 0.5 partial */

    cg_buf_t b = {0};
    render_json(ld, &b);
    cg_buf_append(&b, "", 1);
    static const char want[] =
        "{\"url\":\"http://127.0.0.1:1/"
        "\",\"host\":\"h\\\"x\",\"mode\":\"closed\",\"connections\":2,\"rate\":null,"
        "\"connects\":0,\"duration_s\":0.450,\"requests\":5,\"failed_requests\":2,\"unfinished_"
        "requests\":1,"
        "\"status\":{\"0\":1,\"200\":3,\"503\":1},"
        "\"requests_per_cluster\":{\"-\":1,\"cluster-1\":2,\"cluster-2\":1},"
        "\"errors\":{\"refused\":1,\"connect\":0,\"reset\":0,\"timeout\":0,\"closed\":0,\"parse\":"
        "0},"
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
    cg_buf_free(&ld->timeline);
    free(ld);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_buckets_cover_values),
        cmocka_unit_test(test_hist_exact_below_one_ms),
        cmocka_unit_test(test_hist_uniform_within_one_percent),
        cmocka_unit_test(test_hist_log_spread_within_one_percent),
        cmocka_unit_test(test_hist_tail),
        cmocka_unit_test(test_parse_flag_values),
        cmocka_unit_test(test_parse_args),
        cmocka_unit_test(test_schedule),
        cmocka_unit_test(test_clusters),
        cmocka_unit_test(test_parse_responses),
        cmocka_unit_test(test_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
