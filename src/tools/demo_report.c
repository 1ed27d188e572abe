/* The reports of `crossgate demo --scenario`: the 100 ms timeline of the run, the failover and
 * recovery figures read from it, report.json and report.svg. Pure functions over plain structs. */
#include "tools/demo.h"

#include "core/clock.h"
#include "core/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------
 * The series
 * --------------------------------------------------------------------------------------- */

int cg_tools_demo_series_cluster(const cg_demo_series_t *s, const char *name)
{
    for (unsigned i = 0; i < s->nclusters; i++)
        if (!strcmp(s->clusters[i], name)) return (int)i;
    return -1;
}

static int cluster_slot(cg_demo_series_t *s, const char *name)
{
    int i = cg_tools_demo_series_cluster(s, name);
    if (i >= 0 || s->nclusters == CG_DEMO_NAMES) return i;
    snprintf(s->clusters[s->nclusters], CG_DEMO_NAME_LEN, "%s", name);
    return (int)s->nclusters++;
}

static int code_slot(cg_demo_series_t *s, unsigned code)
{
    for (unsigned i = 0; i < s->ncodes; i++)
        if (s->codes[i] == code) return (int)i;
    if (s->ncodes == CG_DEMO_NAMES) return -1;
    s->codes[s->ncodes] = code;
    return (int)s->ncodes++;
}

void cg_tools_demo_series_add(cg_demo_series_t *s, const cg_load_window_t *w)
{
    cg_demo_bucket_t b = {
        .t = w->t, .requests = (uint32_t)w->requests, .failed = (uint32_t)w->failed};
    for (unsigned i = 0; i < w->nclusters; i++) {
        int k = cluster_slot(s, w->cluster[i].name);
        if (k >= 0) b.cluster[k] = (uint32_t)w->cluster[i].n;
    }
    for (unsigned i = 0; i < w->nstatus; i++) {
        int k = code_slot(s, w->status[i].code);
        if (k >= 0) b.code[k] = (uint32_t)w->status[i].n;
    }
    cg_vec_push(&s->b, b);
}

void cg_tools_demo_series_free(cg_demo_series_t *s)
{
    cg_vec_free(&s->b);
}

/* ---------------------------------------------------------------------------------------
 * Failover and recovery
 * --------------------------------------------------------------------------------------- */

/* Requests of a window answered by a surviving cluster (not `down`, not "-"). */
static uint32_t on_survivors(const cg_demo_series_t *s, const cg_demo_bucket_t *b, int down)
{
    uint32_t n = 0;
    for (unsigned i = 0; i < s->nclusters; i++)
        if ((int)i != down && strcmp(s->clusters[i], "-") != 0) n += b->cluster[i];
    return n;
}

/* Requests of a window that did not end as a good answer from a survivor. */
static uint32_t bad_requests(const cg_demo_series_t *s, const cg_demo_bucket_t *b, int down)
{
    uint32_t good = on_survivors(s, b, down);
    uint32_t bad = b->requests > good ? b->requests - good : 0;
    return bad > b->failed ? bad : b->failed;
}

void cg_tools_demo_analyze(const cg_demo_series_t *s, const char *down, double failed_at,
                           double restored_at, cg_demo_analysis_t *a)
{
    const double eps = 1e-6;
    int d = cg_tools_demo_series_cluster(s, down);
    uint64_t warm_req = 0, warm_down = 0, warm_n = 0;
    memset(a, 0, sizeof(*a));
    a->failover_s = a->recovery_s = -1;
    for (size_t i = 0; i < s->b.len; i++) {
        const cg_demo_bucket_t *b = &s->b.items[i];
        if (b->t > failed_at + eps) break;
        warm_req += b->requests;
        warm_n++;
        if (d >= 0) warm_down += b->cluster[d];
    }
    a->warm_share = warm_req ? (double)warm_down / (double)warm_req : 0;

    /* failover: the windows that end after the failure and by the restore. Right after the
     * failure, windows with less than half the usual traffic are not failed over either: their
     * requests are stuck (a hung ingress) and finish later, with their full latency. A lull
     * later on is the machine's, not the failure's. */
    double usual = warm_n ? (double)warm_req / (double)warm_n : 0;
    double first = -1, last_bad = -1, last = -1;
    int stuck = 1; /* still in the stretch of bad or starved windows after the failure */
    for (size_t i = 0; i < s->b.len; i++) {
        const cg_demo_bucket_t *b = &s->b.items[i];
        if (b->t <= failed_at + eps) continue;
        if (b->t > restored_at + eps) break;
        if (first < 0) first = b->t;
        last = b->t;
        a->failed_during += b->failed;
        int bad = bad_requests(s, b, d) != 0;
        stuck = stuck && (bad || (double)b->requests < 0.5 * usual);
        if (bad || stuck) last_bad = b->t;
    }
    if (first >= 0) {
        if (last_bad < 0)
            a->failover_s = first - failed_at;
        else if (last_bad < last - eps)
            a->failover_s = last_bad - failed_at;
    }

    /* recovery: the failed cluster back at (nearly) its warm-up share */
    double want = 0.9 * a->warm_share;
    for (size_t i = 0; i < s->b.len && d >= 0; i++) {
        const cg_demo_bucket_t *b = &s->b.items[i];
        if (b->t <= restored_at + eps || !b->requests || !b->cluster[d]) continue;
        if ((double)b->cluster[d] / (double)b->requests + eps >= want) {
            a->recovery_s = b->t - restored_at;
            break;
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * report.json
 * --------------------------------------------------------------------------------------- */

void cg_tools_demo_json_opt(cg_jw_t *w, const char *key, double v, int decimals)
{
    cg_jw_key(w, key);
    if (v < 0)
        cg_jw_null(w);
    else
        cg_jw_double(w, v, decimals);
}

static void json_fixed(cg_jw_t *w, const char *key, double v, int decimals)
{
    cg_jw_key(w, key);
    cg_jw_double(w, v, decimals);
}

static void json_time(cg_jw_t *w, const char *key, uint64_t wall_us)
{
    char ts[40];
    cg_jw_key(w, key);
    if (!wall_us) {
        cg_jw_null(w);
        return;
    }
    cg_clock_format_iso8601(wall_us, ts);
    cg_jw_str(w, ts);
}

static void json_code_key(cg_jw_t *w, unsigned code)
{
    char key[16];
    snprintf(key, sizeof(key), "%u", code);
    cg_jw_key(w, key);
}

/* What the demo did: {"action":..., "at_s":..., "time":...}. */
static void json_action(cg_jw_t *w, const char *key, const char *action, double at_s,
                        uint64_t wall_us)
{
    cg_jw_kobj(w, key);
    cg_jw_kstr(w, "action", action);
    json_fixed(w, "at_s", at_s, 3);
    json_time(w, "time", wall_us);
    cg_jw_end(w);
}

static void json_load(cg_jw_t *w, const cg_demo_report_t *r)
{
    const cg_load_window_t *k = &r->totals;
    json_time(w, "started", r->start_wall_us);
    json_time(w, "ended", r->end_wall_us);
    json_fixed(w, "rate", r->rate, 1);
    cg_jw_kstr_opt(w, "protocol", r->protocol);
    cg_jw_kstr_opt(w, "mode", r->mode);
    json_fixed(w, "duration_s", r->duration_s, 3);
    cg_jw_ku64(w, "requests", k->requests);
    cg_jw_kobj(w, "status");
    for (unsigned i = 0; i < k->nstatus; i++) {
        json_code_key(w, k->status[i].code);
        cg_jw_u64(w, k->status[i].n);
    }
    cg_jw_end(w);
    cg_jw_kobj(w, "requests_per_cluster");
    for (unsigned i = 0; i < k->nclusters; i++) cg_jw_ku64(w, k->cluster[i].name, k->cluster[i].n);
    cg_jw_end(w);
    cg_jw_kobj(w, "latency_ms");
    cg_tools_demo_json_opt(w, "p50", k->p50_ms, 3);
    cg_tools_demo_json_opt(w, "p99", k->p99_ms, 3);
    cg_tools_demo_json_opt(w, "max", k->max_ms, 3);
    cg_jw_end(w);
}

static void json_timeline(cg_jw_t *w, const cg_demo_series_t *s)
{
    cg_jw_karr(w, "timeline");
    for (size_t i = 0; i < s->b.len; i++) {
        const cg_demo_bucket_t *t = &s->b.items[i];
        cg_jw_break(w, "\n  ");
        cg_jw_obj(w);
        json_fixed(w, "t", t->t, 1);
        cg_jw_ku64(w, "requests", t->requests);
        cg_jw_ku64(w, "failed", t->failed);
        cg_jw_kobj(w, "status");
        for (unsigned c = 0; c < s->ncodes; c++) {
            if (!t->code[c]) continue;
            json_code_key(w, s->codes[c]);
            cg_jw_u64(w, t->code[c]);
        }
        cg_jw_end(w);
        cg_jw_kobj(w, "clusters");
        for (unsigned c = 0; c < s->nclusters; c++)
            if (t->cluster[c]) cg_jw_ku64(w, s->clusters[c], t->cluster[c]);
        cg_jw_end(w);
        cg_jw_end(w);
    }
    cg_jw_end(w);
}

void cg_tools_demo_report_json(const cg_demo_report_t *r, cg_buf_t *b)
{
    cg_jw_t w = cg_jw(b);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "scenario", r->scenario);
    cg_jw_kstr(&w, "summary", r->summary);
    cg_jw_break(&w, "\n ");
    json_action(&w, "failure", r->failure_action, r->failed_at, r->failed_wall_us);
    cg_jw_break(&w, "\n ");
    json_action(&w, "restore", r->restore_action, r->restored_at, r->restored_wall_us);
    cg_jw_break(&w, "\n ");
    cg_jw_kstr(&w, "failed_cluster", r->down);
    /* surviving clusters: every cluster seen but the failed one and "-" */
    cg_jw_karr(&w, "surviving_clusters");
    for (unsigned i = 0; i < r->series->nclusters; i++) {
        const char *c = r->series->clusters[i];
        if (strcmp(c, "-") && !(r->down && !strcmp(c, r->down))) cg_jw_str(&w, c);
    }
    cg_jw_end(&w);
    cg_jw_break(&w, "\n ");
    cg_jw_ku64(&w, "failed_requests", r->totals.failed);
    cg_tools_demo_json_opt(&w, "failover_seconds", r->a.failover_s, 1);
    cg_tools_demo_json_opt(&w, "recovery_seconds", r->a.recovery_s, 1);
    cg_jw_ku64(&w, "failed_during_outage", r->a.failed_during);
    json_fixed(&w, "warm_up_share", r->a.warm_share, 3);
    cg_jw_break(&w, "\n ");
    cg_jw_kstr(&w, "guide",
               "it can take up to 60 seconds to identify a failure and re-configure the Edge "
               "Gateway");
    cg_jw_break(&w, "\n ");
    json_load(&w, r);
    cg_jw_break(&w, "\n ");
    cg_jw_kstr(&w, "edge_gateway", r->edge_file);
    cg_jw_kstr(&w, "settings", r->settings);
    cg_jw_break(&w, "\n ");
    if (r->gslb_json) {
        cg_jw_key(&w, "gslb");
        cg_jw_raw(&w, r->gslb_json, strlen(r->gslb_json));
        cg_jw_break(&w, "\n ");
    }
    if (r->ha_json) {
        cg_jw_key(&w, "ha");
        cg_jw_raw(&w, r->ha_json, strlen(r->ha_json));
        cg_jw_break(&w, "\n ");
    }
    cg_jw_karr(&w, "events");
    for (size_t i = 0; i < r->nevents; i++) {
        cg_jw_break(&w, "\n  ");
        cg_jw_obj(&w);
        json_fixed(&w, "t", r->events[i].t, 3);
        cg_jw_kstr(&w, "who", r->events[i].who);
        cg_jw_kstr(&w, "text", r->events[i].text);
        cg_jw_end(&w);
    }
    cg_jw_end(&w);
    cg_jw_break(&w, "\n ");
    json_timeline(&w, r->series);
    cg_jw_end(&w);
    cg_buf_append_str(b, "\n");
}

/* ---------------------------------------------------------------------------------------
 * report.svg
 * --------------------------------------------------------------------------------------- */

#define SVG_W      960
#define SVG_H      440
#define PLOT_L     64
#define PLOT_R     24
#define PLOT_T     100 /* above the plot: the heading and the marker labels */
#define PLOT_B     96  /* below the plot: the x axis labels and the legend */
#define COLOR_FAIL "#d62728"
#define COLOR_REST "#9a9a9a"

static const char *const palette[] = {"#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd",
                                      "#17becf", "#8c564b", "#bcbd22", "#e377c2"};

static void xml_text(cg_buf_t *b, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': cg_buf_append_str(b, "&amp;"); break;
        case '<': cg_buf_append_str(b, "&lt;"); break;
        case '>': cg_buf_append_str(b, "&gt;"); break;
        case '"': cg_buf_append_str(b, "&quot;"); break;
        default:
            if ((unsigned char)*s >= 0x20 || *s == '\t') cg_buf_append(b, s, 1);
        }
    }
}

/* A round step for about five grid lines up to `top`. */
static double nice_step(double top)
{
    static const double m[] = {1, 2, 2.5, 5};
    for (double p = 1;; p *= 10)
        for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
            if (m[i] * p * 5 >= top) return m[i] * p;
}

static void fmt_secs(char *out, size_t cap, double v)
{
    if (v < 0)
        snprintf(out, cap, "none");
    else
        snprintf(out, cap, "%.1f s", v);
}

/* Named clusters in name order (not "-"): the stacking order, bottom up. */
static unsigned stack_order(const cg_demo_series_t *s, unsigned *order)
{
    unsigned n = 0;
    for (unsigned i = 0; i < s->nclusters; i++) {
        if (!strcmp(s->clusters[i], "-")) continue;
        unsigned j = n++;
        while (j > 0 && strcmp(s->clusters[order[j - 1]], s->clusters[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    return n;
}

/* The series of the chart, bottom up: the named clusters in stack order (k < nord), the
 * answers without x-app-cluster (k == nord), the failures (`failed` names them). */
static const char *series_style(const cg_demo_series_t *s, const unsigned *order, unsigned nord,
                                unsigned k, const char *failed, const char **color)
{
    if (k < nord) {
        *color = palette[k % (sizeof(palette) / sizeof(palette[0]))];
        return s->clusters[order[k]];
    }
    if (k == nord) {
        *color = COLOR_REST;
        return "other (no x-app-cluster)";
    }
    *color = COLOR_FAIL;
    return failed;
}

/* Whether any window has good answers not from a named cluster. */
static int any_unnamed(const cg_demo_series_t *s, const unsigned *order, unsigned nord)
{
    for (size_t i = 0; i < s->b.len; i++) {
        uint32_t named = 0;
        for (unsigned j = 0; j < nord; j++) named += s->b.items[i].cluster[order[j]];
        if (s->b.items[i].requests - s->b.items[i].failed > named) return 1;
    }
    return 0;
}

static void marker(cg_buf_t *b, const char *kind, double x, double top, double bottom,
                   const char *label, int anchor_end)
{
    cg_buf_printf(b,
                  "<line class=\"marker %s\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                  "stroke=\"#222\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>\n",
                  kind, x, top - 6, x, bottom);
    cg_buf_printf(b,
                  "<text class=\"marker-label %s\" x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" "
                  "font-size=\"12\" fill=\"#222\">",
                  kind, anchor_end ? x - 4 : x + 4, top - 10, anchor_end ? "end" : "start");
    xml_text(b, label);
    cg_buf_append_str(b, "</text>\n");
}

void cg_tools_demo_report_svg(const cg_demo_report_t *r, cg_buf_t *b)
{
    const cg_demo_series_t *s = r->series;
    const double pw = SVG_W - PLOT_L - PLOT_R, ph = SVG_H - PLOT_T - PLOT_B;
    const double top = PLOT_T, bottom = PLOT_T + ph;
    double dur = r->duration_s;
    uint32_t ymax = 1;
    for (size_t i = 0; i < s->b.len; i++) {
        if (s->b.items[i].t > dur) dur = s->b.items[i].t;
        if (s->b.items[i].requests > ymax) ymax = s->b.items[i].requests;
    }
    if (dur < 1) dur = 1;
    double step = nice_step(ymax * 1.1), ytop = ceil((double)ymax * 1.1 / step) * step;
    double xs = pw / dur, ys = ph / ytop;
    unsigned order[CG_DEMO_NAMES];
    unsigned nord = stack_order(s, order);
    char fo[32], re[32], line[600];

    cg_buf_printf(b,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                  "viewBox=\"0 0 %d %d\" font-family=\"Helvetica, Arial, sans-serif\" "
                  "font-size=\"12\">\n<title>",
                  SVG_W, SVG_H, SVG_W, SVG_H);
    snprintf(line, sizeof(line), "crossgate demo: %s", r->scenario ? r->scenario : "run");
    xml_text(b, line);
    cg_buf_append_str(b, "</title>\n<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");

    /* heading */
    cg_buf_printf(b, "<text x=\"%d\" y=\"24\" font-size=\"16\" font-weight=\"bold\">", PLOT_L);
    snprintf(line, sizeof(line), "crossgate demo, scenario %s: requests per %s per 100 ms",
             r->scenario ? r->scenario : "-", r->per ? r->per : "cluster");
    xml_text(b, line);
    cg_buf_append_str(b, "</text>\n");
    fmt_secs(fo, sizeof(fo), r->a.failover_s);
    fmt_secs(re, sizeof(re), r->a.recovery_s);
    snprintf(line, sizeof(line),
             "%.0f req/s open loop%s%s%s%s, %llu requests, %llu failed; failover %s, recovery "
             "%s (the guide: up to 60 s)",
             r->rate, r->protocol ? " " : "", r->protocol ? r->protocol : "",
             r->mode ? ", control plane " : "", r->mode ? r->mode : "",
             (unsigned long long)r->totals.requests, (unsigned long long)r->totals.failed, fo, re);
    cg_buf_printf(b, "<text x=\"%d\" y=\"44\" fill=\"#444\">", PLOT_L);
    xml_text(b, line);
    cg_buf_append_str(b, "</text>\n");

    /* the outage, shaded */
    double fx = PLOT_L + r->failed_at * xs, rx = PLOT_L + r->restored_at * xs;
    if (r->restored_at > r->failed_at)
        cg_buf_printf(b,
                      "<rect class=\"outage\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                      "fill=\"#f3f3f3\"/>\n",
                      fx, top, rx - fx, ph);

    /* grid and axes */
    cg_buf_append_str(b, "<g class=\"grid\" stroke=\"#dddddd\" stroke-width=\"1\">\n");
    for (double y = step; y <= ytop + 1e-9; y += step)
        cg_buf_printf(b, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", PLOT_L,
                      bottom - y * ys, PLOT_L + pw, bottom - y * ys);
    cg_buf_append_str(b, "</g>\n<g class=\"axis\" font-size=\"11\" fill=\"#444\">\n");
    for (double y = 0; y <= ytop + 1e-9; y += step)
        cg_buf_printf(b, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g</text>\n", PLOT_L - 6,
                      bottom - y * ys + 4, y);
    int xstep = dur > 30 ? 5 : dur > 12 ? 2 : 1;
    for (int x = 0; x <= (int)floor(dur + 1e-9); x += xstep)
        cg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%d</text>\n",
                      PLOT_L + x * xs, bottom + 16, x);
    cg_buf_printf(b,
                  "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">seconds since the load "
                  "started</text>\n",
                  PLOT_L + pw / 2, bottom + 34);
    cg_buf_printf(b,
                  "<text transform=\"translate(16 %.1f) rotate(-90)\" text-anchor=\"middle\">"
                  "requests per 100 ms</text>\n</g>\n",
                  top + ph / 2);

    /* the stacked bars: one group per series, bottom up */
    double bw = 0.1 * xs;
    for (unsigned k = 0; k <= nord + 1; k++) {
        const char *color, *name = series_style(s, order, nord, k, "503 / failed", &color);
        cg_buf_printf(b, "<g class=\"series\" fill=\"%s\" shape-rendering=\"crispEdges\"><title>",
                      color);
        xml_text(b, name);
        cg_buf_append_str(b, "</title>\n");
        for (size_t i = 0; i < s->b.len; i++) {
            const cg_demo_bucket_t *t = &s->b.items[i];
            uint32_t below = 0, named = 0, n;
            for (unsigned j = 0; j < nord; j++) named += t->cluster[order[j]];
            if (named > t->requests - t->failed) named = t->requests - t->failed;
            if (k < nord) {
                for (unsigned j = 0; j < k; j++) below += t->cluster[order[j]];
                n = t->cluster[order[k]];
                if (below + n > named) n = below < named ? named - below : 0;
            } else if (k == nord) {
                below = named;
                n = t->requests - t->failed - named;
            } else {
                below = t->requests - t->failed;
                n = t->failed;
            }
            if (!n) continue;
            cg_buf_printf(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"/>\n",
                          PLOT_L + (t->t - 0.1) * xs, bottom - (below + n) * ys, bw, n * ys);
        }
        cg_buf_append_str(b, "</g>\n");
    }
    cg_buf_printf(b,
                  "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#444\"/>\n"
                  "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#444\"/>\n",
                  PLOT_L, bottom, PLOT_L + pw, bottom, PLOT_L, top, PLOT_L, bottom);

    /* the failure and the restore */
    snprintf(line, sizeof(line), "failure at %.1f s: %s", r->failed_at,
             r->failure_action ? r->failure_action : "");
    marker(b, "failure", fx, top, bottom, line, 0);
    snprintf(line, sizeof(line), "restore at %.1f s: %s", r->restored_at,
             r->restore_action ? r->restore_action : "");
    /* the restore label goes right of its line unless that runs off the chart */
    marker(b, "restore", rx, top - 16, bottom, line, rx + 7.0 * (double)strlen(line) > SVG_W);

    /* legend */
    double lx = PLOT_L, ly = SVG_H - 22;
    cg_buf_append_str(b, "<g class=\"legend\" font-size=\"12\">\n");
    for (unsigned k = 0; k <= nord + 1; k++) {
        if (k == nord && !any_unnamed(s, order, nord)) continue;
        const char *color,
            *name = series_style(s, order, nord, k, "503 and other failures", &color);
        cg_buf_printf(b, "<rect x=\"%.1f\" y=\"%.1f\" width=\"12\" height=\"12\" fill=\"%s\"/>", lx,
                      ly - 10, color);
        cg_buf_printf(b, "<text x=\"%.1f\" y=\"%.1f\">", lx + 16, ly);
        xml_text(b, name);
        cg_buf_append_str(b, "</text>\n");
        lx += 16 + 7.0 * (double)strlen(name) + 18;
    }
    cg_buf_printf(
        b,
        "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#222\" "
        "stroke-dasharray=\"6 4\"/><text x=\"%.1f\" y=\"%.1f\">failure / restore</text>\n",
        lx, ly - 4, lx + 22, ly - 4, lx + 28, ly);
    cg_buf_append_str(b, "</g>\n</svg>\n");
}
