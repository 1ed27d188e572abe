/* Control-plane benchmark: snapshot compute time for an edge instance with many clusters and
 * hostnames (defaults: 1,000 clusters, 100 hostnames, one live ingress per cluster, auto
 * cluster destinations; named or weighted ones select every Cluster by a label), and what the
 * gateway does with it: decode and compile. Prints figures; asserts nothing. Build and run
 * with bench/control.sh. */
#include "control/scope.h"
#include "control/store.h"
#include "control/watch.h"
#include "core/clock.h"
#include "core/json.h"
#include "core/list.h"
#include "proxy/config.h"
#include "translate/translate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Wall clock and this process's CPU time since the last start(): the machine may be shared,
 * and CPU time is what a busy neighbour disturbs least. */
static double cpu0;

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static uint64_t start(void)
{
    cpu0 = cpu_ms();
    return cg_clock_mono_us();
}

static double ms_since(uint64_t t0)
{
    return (double)(cg_clock_mono_us() - t0) / 1000.0;
}

/* "12.3 ms (CPU 11.9 ms)" since start() returned t0; four in flight at once. */
static const char *lap(uint64_t t0)
{
    static char bufs[4][48];
    static int at;
    double wall = ms_since(t0), cpu = cpu_ms() - cpu0;
    char *b = bufs[at++ % 4];
    snprintf(b, sizeof(bufs[0]), "%.1f ms (CPU %.1f ms)", wall, cpu);
    return b;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int nclusters = argc > 1 ? atoi(argv[1]) : 1000, nhosts = argc > 2 ? atoi(argv[2]) : 100;
    int runs = argc > 3 ? atoi(argv[3]) : 5;
    const char *mode = argc > 4 ? argv[4] : "auto", *route;
    if (strcmp(mode, "auto") == 0) {
        route = "{}";
    } else if (strcmp(mode, "named") == 0) {
        route = "{clusters: [{labels: {bench: \"yes\"}}]}";
    } else if (strcmp(mode, "weighted") == 0) {
        route = "{clusters: [{labels: {bench: \"yes\"}, weight: 1}]}";
    } else {
        fprintf(stderr, "mode: auto, named or weighted\n");
        return 2;
    }
    cg_buf_t text = {0};
    for (int c = 0; c < nclusters; c++)
        cg_buf_printf(
            &text,
            "---\napiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-%d%s}\n"
            "spec:\n  locality: {region: region-%d}\n",
            c, strcmp(mode, "auto") ? ", labels: {bench: \"yes\"}" : "", c % 10);
    cg_buf_printf(&text,
                  "---\napiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-edge}\n"
                  "spec:\n  locality: {region: region-0}\n");
    /* workload Gateways: every ingress serves every hostname */
    for (int h = 0; h < nhosts; h++)
        cg_buf_printf(
            &text,
            "---\napiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: ingress-%d}\n"
            "spec:\n  workloadSelector: {namespace: bookinfo, labels: {app: ingressgw}}\n  http:\n"
            "  - name: h%d\n    port: %d\n    hostname: host-%d.example.com\n    routing:\n      "
            "rules:\n"
            "      - route: {serviceDestination: {host: bookinfo/pp.bookinfo.svc.cluster.local, "
            "port: 9080}}\n",
            h, h, 8000 + h % 50, h);
    /* the edge: one auto destination per hostname */
    cg_buf_printf(&text,
                  "---\napiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: edge}\n"
                  "spec:\n  workloadSelector: {namespace: edge, labels: {app: edgegw}}\n  http:\n");
    for (int h = 0; h < nhosts; h++)
        cg_buf_printf(
            &text,
            "  - name: h%d\n    port: 8080\n    hostname: host-%d.example.com\n    routing:\n"
            "      rules:\n      - route: {clusterDestination: %s}\n",
            h, h, route);

    printf("control-plane snapshot benchmark: %d clusters (10 regions), %d hostnames, %d live "
           "ingress instances, %s cluster destinations\n",
           nclusters, nhosts, nclusters, mode);
    printf("  resources: %zu bytes of YAML, %d documents\n", text.len, nclusters + 2 + nhosts);

    cg_buf_t errors = {0};
    cg_resource_set_t *rs = NULL;
    uint64_t t0 = start();
    if (cg_model_load_buffer("bench.yaml", text.base, text.len, &rs, &errors)) {
        fprintf(stderr, "%.*s", (int)errors.len, errors.base);
        return 1;
    }
    printf("  load + validate (cg_model_load_buffer): %.1f ms\n", ms_since(t0));

    /* the same through the store: canonical form, one SQLite transaction */
    char dir[] = "/tmp/cg-bench-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    cg_control_store_t st;
    if (cg_control_store_open(&st, dir, &errors)) return 1;
    cg_control_results_t results = {0};
    t0 = start();
    if (cg_control_store_apply(&st, "bench.yaml", text.base, text.len, &results, &errors)) return 1;
    printf("  store apply of the whole set (validate, canonicalise, commit): %.1f ms\n",
           ms_since(t0));
    cg_control_results_free(&results);

    cg_snap_label_t ing_labels[] = {{"app", "ingressgw"}}, edge_labels[] = {{"app", "edgegw"}};
    cg_instance_t *live = cg_xcalloc((size_t)nclusters, sizeof(*live));
    char(*addr)[32] = cg_xcalloc((size_t)nclusters, 32);
    char(*cname)[32] = cg_xcalloc((size_t)nclusters, 32);
    for (int c = 0; c < nclusters; c++) {
        snprintf(addr[c], 32, "10.%d.%d.1", c / 256, c % 256);
        snprintf(cname[c], 32, "cluster-%d", c);
        live[c] = (cg_instance_t){.cluster = cname[c],
                                  .namespace_ = "bookinfo",
                                  .labels = ing_labels,
                                  .nlabels = 1,
                                  .address = addr[c]};
    }
    cg_instance_t edge = {.cluster = "cluster-edge",
                          .namespace_ = "edge",
                          .labels = edge_labels,
                          .nlabels = 1,
                          .address = "127.0.0.1"};
    double *t = cg_xcalloc((size_t)runs, sizeof(double)),
           *te = cg_xcalloc((size_t)runs, sizeof(double)),
           *tc = cg_xcalloc((size_t)runs, sizeof(double)),
           *tec = cg_xcalloc((size_t)runs, sizeof(double));
    size_t json_len = 0, nendpoints = 0;
    for (int r = 0; r < runs; r++) {
        cg_snapshot_t *s = NULL;
        t0 = start();
        if (cg_translate_instance_live(cg_control_store_view(&st), &edge, live, (size_t)nclusters,
                                       1, &s, &errors)) {
            fprintf(stderr, "%.*s", (int)errors.len, errors.base);
            return 1;
        }
        t[r] = ms_since(t0);
        tc[r] = cpu_ms() - cpu0;
        cg_buf_t json = {0};
        t0 = start();
        cg_snapshot_encode_json(s, &json);
        te[r] = ms_since(t0);
        tec[r] = cpu_ms() - cpu0;
        json_len = json.len;
        nendpoints = 0;
        for (size_t d = 0; d < s->ndestinations; d++) nendpoints += s->destinations[d].nendpoints;
        if (r == runs - 1) {
            /* the gateway's side: decode, then compile twice (the second finds every
             * endpoint's stats already registered, as a reload does) */
            for (int pass = 0; pass < 2; pass++) {
                cg_snapshot_t *back = NULL;
                t0 = start();
                cg_buf_reset(&errors);
                if (cg_snapshot_decode_json(json.base, json.len, &back, &errors)) {
                    printf("  decode (agent side) FAILED after %.1f ms: %.*s", ms_since(t0),
                           (int)errors.len, errors.base);
                    break;
                }
                double dwall = ms_since(t0), dcpu = cpu_ms() - cpu0;
                if (pass == 0)
                    printf("  decode (agent side, cg_snapshot_decode_json): %s\n", lap(t0));
                cg_config_t *cfg = NULL;
                t0 = start();
                if (cg_proxy_config_compile(back, &cfg, &errors)) {
                    printf("  compile FAILED: %.*s", (int)errors.len, errors.base);
                    break;
                }
                double cwall = ms_since(t0), ccpu = cpu_ms() - cpu0;
                printf("  compile (data plane, cg_proxy_config_compile), %s: %s\n",
                       pass ? "again (stats registered)" : "first", lap(t0));
                if (pass == 1)
                    printf("  gateway intake without the transfer (decode + compile again): %.1f "
                           "ms (CPU %.1f ms)\n",
                           dwall + cwall, dcpu + ccpu);
                cg_proxy_config_unref(cfg); /* and the snapshot it took */
            }
            t0 = start();
            cg_json_t *doc = cg_json_parse("snapshot", json.base, json.len, NULL);
            cg_json_free(doc);
            printf("  of decode, the JSON reader alone (cg_json_parse + cg_json_free): %s\n",
                   lap(t0));
        }
        cg_buf_free(&json);
        cg_snapshot_free(s);
    }
    qsort(t, (size_t)runs, sizeof(double), cmp_double);
    qsort(te, (size_t)runs, sizeof(double), cmp_double);
    qsort(tc, (size_t)runs, sizeof(double), cmp_double);
    qsort(tec, (size_t)runs, sizeof(double), cmp_double);
    printf("  edge snapshot: %zu destinations' endpoints, %.1f MB of JSON\n", nendpoints,
           (double)json_len / 1e6);
    printf("  translate (cg_translate_instance_live), %d runs: median %.1f ms, min %.1f ms, max "
           "%.1f ms (CPU median %.1f ms)\n",
           runs, t[runs / 2], t[0], t[runs - 1], tc[runs / 2]);
    printf("  encode (cg_snapshot_encode_json): median %.1f ms, min %.1f ms (CPU median %.1f ms)\n",
           te[runs / 2], te[0], tec[runs / 2]);

    /* the control plane's full recompute after a resource change: every instance */
    cg_control_leases_t leases = {0};
    cg_control_watch_t w = {0};
    for (int c = 0; c <= nclusters; c++) {
        char body[160];
        if (c < nclusters)
            snprintf(body, sizeof(body),
                     "{\"cluster\":\"%s\",\"namespace\":\"bookinfo\",\"labels\":{\"app\":"
                     "\"ingressgw\"},\"address\":\"%s\"}",
                     cname[c], addr[c]);
        else
            snprintf(body, sizeof(body),
                     "{\"cluster\":\"cluster-edge\",\"namespace\":\"edge\",\"labels\":{\"app\":"
                     "\"edgegw\"},\"address\":\"127.0.0.1\"}");
        cg_control_inst_t *inst = NULL;
        cg_control_inst_parse(body, strlen(body), &inst, &errors);
        cg_control_leases_register(&leases, inst, 0);
        cg_control_watch_attach(&w, inst);
    }
    /* the first diff of the store reaches every instance, as at the control plane's start */
    cg_control_seen_t seen = {0};
    t0 = start();
    size_t bumped = cg_control_scope_recompute(&seen, &st, &w, &leases);
    printf("  recompute every instance (%d), first time: %s, %zu versions\n", nclusters + 1,
           lap(t0), bumped);
    t0 = start();
    bumped = cg_control_watch_recompute(&w, cg_control_store_view(&st), &leases,
                                        CG_CONTROL_RECOMPUTE_ALL);
    printf("  recompute every instance, nothing changed: %s, %zu versions\n", lap(t0), bumped);
    t0 = start();
    bumped = cg_control_watch_recompute(&w, cg_control_store_view(&st), &leases,
                                        CG_CONTROL_RECOMPUTE_INSTANCES);
    printf("  recompute after an instance-set change (edges only): %s, %zu versions\n", lap(t0),
           bumped);

    /* one apply that touches one cluster, `runs` times: cluster-5 moves to another zone; its
     * instance's snapshot and the edge's change (an endpoint's zone), no other */
    double *ta = cg_xcalloc((size_t)runs, sizeof(double)),
           *tac = cg_xcalloc((size_t)runs, sizeof(double));
    double apply_ms = 0;
    uint64_t computed = 0;
    for (int r = 0; r < runs; r++) {
        char doc[200];
        snprintf(doc, sizeof(doc),
                 "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: cluster-5%s}\n"
                 "spec:\n  locality: {region: region-5, zone: zone-%d}\n",
                 strcmp(mode, "auto") ? ", labels: {bench: \"yes\"}" : "", r);
        t0 = start();
        if (cg_control_store_apply(&st, "one.yaml", doc, strlen(doc), &results, &errors)) {
            fprintf(stderr, "%.*s", (int)errors.len, errors.base);
            return 1;
        }
        apply_ms += ms_since(t0) / runs;
        cg_control_results_free(&results);
        computed = w.computed;
        t0 = start();
        bumped = cg_control_scope_recompute(&seen, &st, &w, &leases);
        ta[r] = ms_since(t0);
        tac[r] = cpu_ms() - cpu0;
    }
    qsort(ta, (size_t)runs, sizeof(double), cmp_double);
    qsort(tac, (size_t)runs, sizeof(double), cmp_double);
    printf("  apply touching one cluster (cluster-5's zone), %d runs: store apply %.1f ms, then "
           "recompute median %.1f ms, min %.1f ms (CPU median %.1f ms, min %.1f ms): %" PRIu64
           " instances recomputed, %zu versions\n",
           runs, apply_ms, ta[runs / 2], ta[0], tac[runs / 2], tac[0], w.computed - computed,
           bumped);
    free(ta);
    free(tac);
    /* the same change recomputed the way every apply was before: each instance */
    computed = w.computed;
    t0 = start();
    bumped = cg_control_watch_recompute(&w, cg_control_store_view(&st), &leases,
                                        CG_CONTROL_RECOMPUTE_ALL);
    printf("  the same without the scope (every instance, as before): %s, %" PRIu64
           " instances recomputed\n",
           lap(t0), w.computed - computed);
    cg_control_seen_free(&seen);
    /* make-before-break: every gateway serves its snapshot; an ingress leaves and comes back,
     * and the edge's recompute compares its endpoints before and after (the order of the wake) */
    for (size_t i = 0; i < leases.items.len; i++) {
        cg_control_wentry_t *e = leases.items.items[i]->data;
        cg_control_watch_ack(&w, e, e->version);
    }
    cg_control_inst_t *back = NULL;
    {
        char body[160];
        snprintf(body, sizeof(body),
                 "{\"cluster\":\"%s\",\"namespace\":\"bookinfo\",\"labels\":{\"app\":"
                 "\"ingressgw\"},\"address\":\"%s\"}",
                 cname[0], addr[0]);
        cg_control_inst_parse(body, strlen(body), &back, &errors);
    }
    cg_control_watch_detach(&w, leases.items.items[0]);
    cg_control_leases_remove(&leases, leases.items.items[0]->id);
    t0 = start();
    bumped = cg_control_watch_recompute(&w, cg_control_store_view(&st), &leases,
                                        CG_CONTROL_RECOMPUTE_INSTANCES);
    printf("  recompute after an ingress left (the edge's endpoints compared): %s, %zu versions\n",
           lap(t0), bumped);
    cg_control_leases_register(&leases, back, 0);
    cg_control_watch_attach(&w, back);
    t0 = start();
    bumped = cg_control_watch_recompute(&w, cg_control_store_view(&st), &leases,
                                        CG_CONTROL_RECOMPUTE_INSTANCES);
    printf("  recompute after it came back: %s, %zu versions, %" PRIu64 " held\n", lap(t0), bumped,
           w.nheld);

    for (size_t i = 0; i < leases.items.len; i++)
        cg_control_watch_detach(&w, leases.items.items[i]);
    cg_control_leases_destroy(&leases);
    cg_control_store_close(&st);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    if (system(cmd)) return 1;
    free(t);
    free(te);
    free(tc);
    free(tec);
    free(live);
    free(addr);
    free(cname);
    cg_model_free(rs);
    cg_buf_free(&text);
    cg_buf_free(&errors);
    return 0;
}
