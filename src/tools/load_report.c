/* The live line, the summary and the JSON report of `crossgate load` (load_report.h). */
#include "tools/load_report.h"

#include "core/json.h"

#include <arpa/inet.h>
#include <stdio.h>

static void fmt_ms(char *out, size_t cap, const cg_load_hist_t *h, double p)
{
    if (!h->count)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.2fms", cg_load_hist_ms(h, p));
}

/* Every cluster seen in the run, with its count in k ("-" when none is seen yet). */
static void print_clusters(const cg_load_stats_t *st, const cg_load_counts_t *k, cg_buf_t *b)
{
    uint16_t order[CG_LOAD_MAX_CLUSTERS];
    unsigned n = cg_load_clusters_sorted(&st->cl, order), shown = 0;
    for (unsigned j = 0; j < n; j++) {
        unsigned i = order[j];
        if (!st->total.cluster[i]) continue;
        cg_buf_printf(b, "%s%s:%llu", shown++ ? " " : "", st->cl.name[i],
                      (unsigned long long)k->cluster[i]);
    }
    if (!shown) cg_buf_append_str(b, "-");
}

/* Every status code seen in the run, with its count in k. */
static void print_statuses(const cg_load_stats_t *st, const cg_load_counts_t *k, cg_buf_t *b)
{
    unsigned shown = 0;
    for (unsigned s = 1; s < CG_LOAD_MAX_STATUS; s++) {
        if (!st->total.status[s]) continue;
        cg_buf_printf(b, "%s%u:%llu", shown++ ? " " : "", s, (unsigned long long)k->status[s]);
    }
    if (!shown) cg_buf_append_str(b, "-");
}

static void print_errors(const cg_load_counts_t *k, cg_buf_t *b)
{
    uint64_t n = k->status[0];
    cg_buf_printf(b, "errors %llu", (unsigned long long)n);
    if (!n) return;
    unsigned shown = 0;
    cg_buf_append_str(b, " (");
    for (int e = 0; e < CG_LOAD_E_KINDS; e++)
        if (k->errors[e])
            cg_buf_printf(b, "%s%s %llu", shown++ ? ", " : "", cg_load_err_names[e],
                          (unsigned long long)k->errors[e]);
    cg_buf_append_str(b, ")");
}

void cg_load_report_interval(const cg_load_stats_t *st, double t, double secs, cg_buf_t *b)
{
    char p50[32], p99[32];
    fmt_ms(p50, sizeof(p50), &st->ival_lat, 50);
    fmt_ms(p99, sizeof(p99), &st->ival_lat, 99);
    cg_buf_printf(b, "%7.1fs  rps %.0f  ", t, secs > 0 ? (double)st->ival.requests / secs : 0.0);
    print_statuses(st, &st->ival, b);
    cg_buf_append_str(b, "  ");
    print_clusters(st, &st->ival, b);
    cg_buf_printf(b, "  p50 %s p99 %s  ", p50, p99);
    print_errors(&st->ival, b);
    cg_buf_append_str(b, "\n");
}

/* The answer's addresses, each after a space ("-" when there is none yet). */
static void print_answer(const cg_load_answer_t *ans, cg_buf_t *b)
{
    char a[INET_ADDRSTRLEN];
    for (unsigned i = 0; i < ans->n; i++)
        cg_buf_printf(b, " %s", inet_ntop(AF_INET, &ans->a[i], a, sizeof(a)));
    if (!ans->n) cg_buf_append_str(b, " -");
}

void cg_load_report_summary(const cg_load_run_info_t *run, const cg_load_stats_t *st, cg_buf_t *b)
{
    double secs = run->secs;
    const cg_load_counts_t *k = &st->total;
    char p[5][32];
    static const double ps[5] = {50, 90, 99, 99.9, 100};
    for (int i = 0; i < 5; i++) fmt_ms(p[i], sizeof(p[i]), &st->lat, ps[i]);
    cg_buf_printf(b, "\nsummary: %s, %.2fs, %s", run->url, secs,
                  run->rate > 0 ? "open loop" : "closed loop");
    if (run->rate > 0) cg_buf_printf(b, " at %.1f/s", run->rate);
    cg_buf_printf(b, ", %u connection%s", run->conns, run->conns == 1 ? "" : "s");
    if (run->rate > 0) cg_buf_printf(b, " (cap %u)", run->max_conns);
    if (run->streams)
        cg_buf_printf(b, ", h2c %u stream%s each", run->streams, run->streams == 1 ? "" : "s");
    cg_buf_printf(b, ", %llu connects\n", (unsigned long long)run->connects);
    cg_buf_printf(b, "  requests    %llu (%.1f/s), failed %llu (status >= 500 or socket error)",
                  (unsigned long long)k->requests, secs > 0 ? (double)k->requests / secs : 0.0,
                  (unsigned long long)cg_load_counts_failed(k));
    if (run->unfinished)
        cg_buf_printf(b, ", %llu in flight at the end (not counted)",
                      (unsigned long long)run->unfinished);
    cg_buf_append_str(b, "\n  status      ");
    print_statuses(st, k, b);
    cg_buf_append_str(b, "\n  clusters    ");
    print_clusters(st, k, b);
    cg_buf_printf(b, "\n  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n  ", p[0], p[1],
                  p[2], p[3], p[4]);
    print_errors(k, b);
    if (run->rate > 0) {
        fmt_ms(p[0], sizeof(p[0]), &st->lag, 50);
        fmt_ms(p[1], sizeof(p[1]), &st->lag, 99);
        fmt_ms(p[2], sizeof(p[2]), &st->lag, 100);
        cg_buf_printf(b,
                      "\n  send lag    p50 %s  p99 %s  max %s (sent after the scheduled time; "
                      "counted in latency)",
                      p[0], p[1], p[2]);
    }
    if (run->dns) {
        cg_load_dns_counts_t n;
        cg_load_dns_counts(run->dns, &n);
        cg_buf_printf(b, "\n  dns         %s: %llu queries, %llu failed, %llu answer changes, now",
                      cg_load_dns_server(run->dns), (unsigned long long)n.queries,
                      (unsigned long long)n.failures, (unsigned long long)n.changes);
        print_answer(cg_load_dns_answer(run->dns), b);
        if (n.failures) cg_buf_printf(b, " (last failure: %s)", cg_load_dns_error(run->dns));
    }
    cg_buf_append_str(b, "\n");
}

/* ---- JSON ---- */

/* "key": the percentile in milliseconds, or null without values. */
static void json_ms(cg_jw_t *w, const char *key, const cg_load_hist_t *h, double p)
{
    cg_jw_key(w, key);
    if (h->count)
        cg_jw_double(w, cg_load_hist_ms(h, p), 3);
    else
        cg_jw_null(w);
}

static void json_status_key(cg_jw_t *w, unsigned code)
{
    char key[8];
    snprintf(key, sizeof(key), "%u", code);
    cg_jw_key(w, key);
}

static void json_timeline(cg_jw_t *w, const cg_load_stats_t *st)
{
    const cg_load_timeline_t *tl = &st->timeline;
    cg_jw_karr(w, "timeline");
    for (size_t i = 0; i < tl->buckets.len; i++) {
        const cg_load_tl_bucket_t *bk = &tl->buckets.items[i];
        const cg_load_tl_count_t *c = &tl->counts.items[bk->first];
        cg_jw_obj(w);
        cg_jw_key(w, "t");
        cg_jw_double(w, (double)(i + 1) * CG_LOAD_BUCKET_US / 1e6, 1);
        cg_jw_kobj(w, "status");
        for (unsigned j = 0; j < bk->nstatus; j++, c++) {
            json_status_key(w, c->key);
            cg_jw_u64(w, c->n);
        }
        cg_jw_end(w);
        cg_jw_kobj(w, "clusters");
        for (unsigned j = 0; j < bk->nclusters; j++, c++) cg_jw_ku64(w, st->cl.name[c->key], c->n);
        cg_jw_end(w);
        cg_jw_end(w);
    }
    cg_jw_end(w);
}

static void json_dns(cg_jw_t *w, const cg_load_dns_t *d)
{
    cg_load_dns_counts_t n;
    char a[INET_ADDRSTRLEN];
    const cg_load_answer_t *ans = cg_load_dns_answer(d);
    cg_load_dns_counts(d, &n);
    cg_jw_kobj(w, "dns");
    cg_jw_kstr(w, "server", cg_load_dns_server(d));
    cg_jw_ku64(w, "queries", n.queries);
    cg_jw_ku64(w, "failures", n.failures);
    cg_jw_ku64(w, "changes", n.changes);
    cg_jw_karr(w, "addresses");
    for (unsigned i = 0; i < ans->n; i++)
        cg_jw_str(w, inet_ntop(AF_INET, &ans->a[i], a, sizeof(a)));
    cg_jw_end(w);
    cg_jw_key(w, "last_error");
    if (n.failures)
        cg_jw_str(w, cg_load_dns_error(d));
    else
        cg_jw_null(w);
    cg_jw_end(w);
}

void cg_load_report_json(const cg_load_run_info_t *run, const cg_load_stats_t *st, cg_buf_t *b)
{
    const cg_load_counts_t *k = &st->total;
    cg_jw_t w = cg_jw(b);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "url", run->url);
    cg_jw_kstr(&w, "host", run->host);
    cg_jw_kstr(&w, "mode", run->rate > 0 ? "open" : "closed");
    cg_jw_ku64(&w, "connections", run->conns);
    cg_jw_key(&w, "rate");
    if (run->rate > 0) {
        cg_jw_double(&w, run->rate, 3);
        cg_jw_ku64(&w, "max_connections", run->max_conns);
    } else {
        cg_jw_null(&w);
    }
    cg_jw_ku64(&w, "connects", run->connects);
    if (run->streams) {
        cg_jw_kstr(&w, "protocol", "h2c");
        cg_jw_ku64(&w, "streams", run->streams);
    }
    cg_jw_key(&w, "duration_s");
    cg_jw_double(&w, run->secs, 3);
    cg_jw_ku64(&w, "requests", k->requests);
    cg_jw_ku64(&w, "failed_requests", cg_load_counts_failed(k));
    cg_jw_ku64(&w, "unfinished_requests", run->unfinished);

    cg_jw_kobj(&w, "status");
    for (unsigned s = 0; s < CG_LOAD_MAX_STATUS; s++) {
        if (!k->status[s]) continue;
        json_status_key(&w, s);
        cg_jw_u64(&w, k->status[s]);
    }
    cg_jw_end(&w);
    cg_jw_kobj(&w, "requests_per_cluster");
    uint16_t order[CG_LOAD_MAX_CLUSTERS];
    unsigned ncl = cg_load_clusters_sorted(&st->cl, order);
    for (unsigned j = 0; j < ncl; j++)
        if (k->cluster[order[j]]) cg_jw_ku64(&w, st->cl.name[order[j]], k->cluster[order[j]]);
    cg_jw_end(&w);
    cg_jw_kobj(&w, "errors");
    for (int e = 0; e < CG_LOAD_E_KINDS; e++) cg_jw_ku64(&w, cg_load_err_names[e], k->errors[e]);
    cg_jw_end(&w);

    cg_jw_kobj(&w, "latency_ms");
    json_ms(&w, "p50", &st->lat, 50);
    json_ms(&w, "p90", &st->lat, 90);
    json_ms(&w, "p99", &st->lat, 99);
    json_ms(&w, "p999", &st->lat, 99.9);
    json_ms(&w, "max", &st->lat, 100);
    cg_jw_key(&w, "mean");
    if (st->lat.count)
        cg_jw_double(&w, (double)st->lat.sum / (double)st->lat.count / 1000.0, 3);
    else
        cg_jw_null(&w);
    cg_jw_end(&w);
    if (run->rate > 0) {
        cg_jw_kobj(&w, "send_lag_ms");
        json_ms(&w, "p50", &st->lag, 50);
        json_ms(&w, "p99", &st->lag, 99);
        json_ms(&w, "max", &st->lag, 100);
        cg_jw_end(&w);
    }
    if (run->dns) json_dns(&w, run->dns);
    json_timeline(&w, st);
    cg_jw_end(&w);
    cg_buf_append_str(b, "\n");
}
