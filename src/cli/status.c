/* `crossgate status`: clusters, live instances and, per hostname, what each edge sends to. */
#include "cli/cli.h"
#include "cli/ctl.h"
#include "cli/read.h"
#include "control/status.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: crossgate status [-o table|json] [--control URL]\n"
    "\n"
    "Shows the clusters with their regions, the live gateway instances, and per hostname the\n"
    "destination set each edge instance uses: its clusters, their priority and why; per\n"
    "service of each workload instance, where its east-west failover goes and why.\n"
    "Environment: CROSSGATE_CONTROL (default " CG_CLI_DEFAULT_CONTROL ").\n";

static void duration(cg_buf_t *b, long long ms)
{
    if (ms < 10000)
        cg_buf_printf(b, "%.1fs", (double)ms / 1000);
    else if (ms < 120000)
        cg_buf_printf(b, "%llds", ms / 1000);
    else if (ms < 7200000)
        cg_buf_printf(b, "%lldm", ms / 60000);
    else
        cg_buf_printf(b, "%lldh", ms / 3600000);
}

/* A section of the report: its title, then (none) or a table with these headings, to fill
 * from the items of the list `key`. Returns the list, or NULL when it has no items. */
static const cg_json_t *section(const cg_json_t *root, const char *key, const char *title,
                                const char *none, const char *const *headings, size_t n,
                                cg_cli_table_t *t)
{
    const cg_json_t *list = cg_json_get(root, key);
    printf("%s\n", title);
    if (cg_json_type(list) != CG_JSON_ARRAY || cg_json_len(list) == 0) {
        printf("  %s\n\n", none);
        return NULL;
    }
    cg_cli_table_init(t, n);
    for (size_t i = 0; i < n; i++) cg_cli_table_add(t, headings[i]);
    return list;
}

static void clusters(const cg_json_t *root)
{
    static const char *const h[] = {"NAME", "REGION", "ZONE", "STATIC GATEWAYS", "LIVE INSTANCES"};
    cg_cli_table_t t;
    const cg_json_t *cl = section(root, "clusters", "CLUSTERS", "(none)", h, 5, &t);
    if (!cl) return;
    for (size_t i = 0; i < cg_json_len(cl); i++) {
        cg_control_status_cluster_t c;
        cg_control_status_read(cg_json_at(cl, i), cg_control_status_cluster_fields, &c);
        cg_cli_table_add(&t, c.name);
        cg_cli_table_add(&t, c.region);
        cg_cli_table_add(&t, c.zone);
        cg_cli_table_addf(&t, "%" PRIu64, c.static_gateways);
        cg_cli_table_addf(&t, "%" PRIu64, c.live_instances);
    }
    cg_cli_table_print(&t, 2);
    printf("\n");
}

static void instances(const cg_json_t *root)
{
    static const char *const h[] = {"ID",   "CLUSTER", "NAMESPACE", "LABELS",    "ADDRESS",
                                    "MTLS", "ADMIN",   "AGE",       "HEARTBEAT", "SNAPSHOT"};
    cg_cli_table_t t;
    const cg_json_t *in = section(root, "instances", "INSTANCES", "(none live)", h, 10, &t);
    if (!in) return;
    for (size_t i = 0; i < cg_json_len(in); i++) {
        const cg_json_t *o = cg_json_at(in, i);
        cg_control_status_instance_t x;
        cg_control_status_read(o, cg_control_status_instance_fields, &x);
        cg_buf_t b = {0};
        cg_cli_table_addf(&t, "%.12s", x.id ? x.id : "?");
        cg_cli_table_add(&t, x.cluster);
        cg_cli_table_add(&t, x.namespace_);
        const cg_json_t *l = cg_json_get(o, "labels");
        for (void *it = cg_json_iter(l); it; it = cg_json_next(l, it)) {
            const char *v = cg_json_string(cg_json_iter_value(it), NULL);
            cg_buf_printf(&b, "%s%s=%s", b.len ? "," : "", cg_json_iter_key(it), v ? v : "");
        }
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(&t, b.base);
        cg_cli_table_add(&t, x.address);
        if (x.mtls_port)
            cg_cli_table_addf(&t, "%" PRIu64, x.mtls_port);
        else
            cg_cli_table_add(&t, "-");
        cg_cli_table_add(&t, x.admin);
        cg_buf_reset(&b);
        duration(&b, (long long)x.age_ms);
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(&t, b.base);
        cg_buf_reset(&b);
        duration(&b, (long long)x.last_heartbeat_ms_ago);
        cg_buf_append_str(&b, " ago");
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(&t, b.base);
        cg_cli_table_addf(&t, "v%" PRIu64 "%s%s", x.snapshot_version,
                          x.error ? " (stale: error)" : "", x.held_for ? " (held)" : "");
        cg_buf_free(&b);
    }
    cg_cli_table_print(&t, 2);
    for (size_t i = 0; i < cg_json_len(in); i++) {
        cg_control_status_instance_t x;
        cg_control_status_read(cg_json_at(in, i), cg_control_status_instance_fields, &x);
        if (x.error) printf("  ! %.12s keeps its last snapshot: %s", x.id, x.error);
        if (x.held_for)
            printf("  ~ %.12s: v%" PRIu64 " held for %" PRIu64
                   " ms so far, until %.12s serves v%" PRIu64 " (make-before-break)\n",
                   x.id, x.snapshot_version, x.held_ms, x.held_for, x.held_for_version);
    }
    printf("\n");
}

static const char *why_mode(const char *mode)
{
    if (!mode) return "";
    if (!strcmp(mode, "auto"))
        return "auto: every cluster with a live gateway selected by a workload Gateway for this "
               "hostname";
    if (!strcmp(mode, "named"))
        return "named: the listed clusters that have a workload Gateway for this hostname";
    if (!strcmp(mode, "weighted"))
        return "weighted: strict split by weight, no failover, no health checks";
    return "service: endpoints of a Service";
}

/* edge_region: the edge's own; a priority is the order of failover, which failoverSettings may
 * make other than "own region first" (labels alone, a zone first). */
static void destination(const cg_json_t *o, const char *edge_region)
{
    cg_control_status_dest_t d;
    cg_control_status_read(o, cg_control_status_dest_fields, &d);
    printf("    destination %s\n      %s\n", d.name, why_mode(d.mode));
    const cg_json_t *eps = cg_json_get(o, "endpoints"), *ws = cg_json_get(o, "weights");
    cg_cli_table_t t;
    int weighted = d.mode && !strcmp(d.mode, "weighted");
    cg_cli_table_init(&t, 4);
    const char *h[] = {"CLUSTER", "REGION", weighted ? "WEIGHT" : "PRIORITY", "ENDPOINTS"};
    for (size_t i = 0; i < 4; i++) cg_cli_table_add(&t, h[i]);
    /* one row per cluster, in endpoint order (weighted: in weight order) */
    CG_VEC(const char *) seen = {0};
    size_t nrows = cg_json_len(weighted ? ws : eps);
    for (size_t i = 0; i < nrows; i++) {
        cg_control_status_weight_t wt = {0};
        cg_control_status_endpoint_t ep;
        if (weighted)
            cg_control_status_read(cg_json_at(ws, i), cg_control_status_weight_fields, &wt);
        else
            cg_control_status_read(cg_json_at(eps, i), cg_control_status_endpoint_fields, &ep);
        const char *cl = weighted ? wt.cluster : ep.cluster;
        int dup = 0;
        for (size_t k = 0; k < seen.len && !dup; k++)
            dup = cl && seen.items[k] && !strcmp(seen.items[k], cl);
        if (dup) continue;
        cg_vec_push(&seen, cl);
        cg_buf_t b = {0};
        const char *region = NULL;
        int have_prio = 0;
        uint64_t prio = 0;
        for (size_t e = 0; e < cg_json_len(eps); e++) {
            cg_control_status_read(cg_json_at(eps, e), cg_control_status_endpoint_fields, &ep);
            if (!cg_str_same(cl, ep.cluster)) continue;
            region = ep.region;
            prio = ep.priority;
            have_prio = 1;
            cg_buf_printf(&b, "%s%s:%" PRIu64 "%s", b.len ? "," : "", ep.address, ep.port,
                          ep.identity ? " (mTLS)" : "");
        }
        if (!b.len) cg_buf_append_str(&b, weighted ? "none: its share gets 503" : "none");
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(&t, cl);
        cg_cli_table_add(&t, region);
        if (weighted)
            cg_cli_table_addf(&t, "%" PRIu64, wt.weight);
        else if (have_prio && edge_region == NULL)
            cg_cli_table_addf(&t, "%" PRIu64, prio);
        else if (have_prio)
            cg_cli_table_addf(&t, "%" PRIu64 " (%s%s)", prio,
                              cg_str_same(region, edge_region) ? "local region" : "remote",
                              prio == 0 ? "" : ": failover");
        else
            cg_cli_table_add(&t, NULL);
        cg_cli_table_add(&t, b.base);
        cg_buf_free(&b);
    }
    cg_cli_table_print(&t, 6);
    if (seen.len == 0) printf("      (no endpoints: requests get 503 no healthy upstream)\n");
    cg_vec_free(&seen);
}

static void routing(const cg_json_t *root)
{
    const cg_json_t *edges = cg_json_get(root, "edges");
    printf("ROUTING (per hostname, per edge instance)\n");
    if (cg_json_len(edges) == 0 || cg_json_type(edges) != CG_JSON_ARRAY) {
        printf("  (no live edge instance: none has a Gateway with a clusterDestination)\n");
        return;
    }
    for (size_t i = 0; i < cg_json_len(edges); i++) {
        const cg_json_t *eo = cg_json_at(edges, i), *routes = cg_json_get(eo, "routes"),
                        *dests = cg_json_get(eo, "destinations");
        cg_control_status_edge_t e;
        cg_control_status_read(eo, cg_control_status_edge_fields, &e);
        for (size_t r = 0; r < cg_json_len(routes); r++) {
            cg_control_status_route_t rt;
            cg_control_status_read(cg_json_at(routes, r), cg_control_status_route_fields, &rt);
            printf("  %s:%" PRIu64 "  on edge %.12s (cluster %s, namespace %s, %s, region %s), "
                   "gateway %s rule %" PRIu64 "%s\n",
                   rt.hostname, rt.port, e.instance, e.cluster, e.namespace_, e.address,
                   e.region ? e.region : "unknown", rt.gateway, rt.rule,
                   rt.matches ? " (with match conditions)" : "");
            for (size_t d = 0; d < cg_json_len(dests); d++) {
                const char *name = cg_json_string(cg_json_get(cg_json_at(dests, d), "name"), NULL);
                if (rt.destination && name && !strcmp(rt.destination, name))
                    destination(cg_json_at(dests, d), e.region);
            }
        }
        const cg_json_t *w = cg_json_get(eo, "warnings");
        for (size_t k = 0; k < cg_json_len(w); k++) {
            const char *text = cg_json_string(cg_json_at(w, k), NULL);
            printf("    warning: %s\n", text ? text : "");
        }
    }
}

/* Per service destination of a workload instance: its local endpoints, then where failover
 * goes (east-west gateways, by priority) and why. */
static void services(const cg_json_t *root)
{
    const cg_json_t *svcs = cg_json_get(root, "services");
    printf("\nSERVICES (per workload instance: where each service's failover goes, and why)\n");
    if (cg_json_len(svcs) == 0 || cg_json_type(svcs) != CG_JSON_ARRAY) {
        printf("  (no live workload instance routes to a service)\n");
        return;
    }
    for (size_t i = 0; i < cg_json_len(svcs); i++) {
        const cg_json_t *so = cg_json_at(svcs, i), *eps = cg_json_get(so, "endpoints");
        cg_control_status_service_t sv;
        cg_control_status_read(so, cg_control_status_service_fields, &sv);
        printf("  %s  on %.12s (cluster %s, region %s)\n      %s\n", sv.destination, sv.instance,
               sv.cluster, sv.region ? sv.region : "unknown", sv.why ? sv.why : "");
        cg_cli_table_t t;
        cg_cli_table_init(&t, 4);
        const char *h[] = {"PRIORITY", "CLUSTER", "ENDPOINT", "WHY"};
        for (size_t k = 0; k < 4; k++) cg_cli_table_add(&t, h[k]);
        for (size_t e = 0; e < cg_json_len(eps); e++) {
            cg_control_status_endpoint_t ep;
            cg_control_status_read(cg_json_at(eps, e), cg_control_status_endpoint_fields, &ep);
            cg_cli_table_addf(&t, "%" PRIu64, ep.priority);
            cg_cli_table_add(&t, ep.cluster);
            cg_cli_table_addf(&t, "%s:%" PRIu64 "%s", ep.address, ep.port,
                              ep.identity ? " (mTLS)" : "");
            if (!ep.host)
                cg_cli_table_add(&t, "local endpoint");
            else
                cg_cli_table_addf(&t, "east-west gateway, %s region%s%s, Host %s",
                                  cg_str_same(ep.region, sv.region) ? "same" : "other",
                                  ep.region ? " " : "", ep.region ? ep.region : "", ep.host);
        }
        cg_cli_table_print(&t, 6);
        if (cg_json_len(eps) == 0) printf("      (no endpoints: requests get 503)\n");
    }
}

int cg_cli_status(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'},
        {"control", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *control = NULL, *out = "table";
    int rc = cg_cli_read_opts(argc, argv, "o:h", opts, usage, &out, &control, NULL, NULL);
    if (rc >= 0) return rc;
    if (optind < argc || (strcmp(out, "table") && strcmp(out, "json"))) {
        fprintf(stderr, "crossgate status: %s (try --help)\n",
                optind < argc ? "unexpected argument" : "-o wants table or json");
        return 2;
    }
    cg_cli_ctl_t ctl;
    rc = cg_cli_ctl_init(&ctl, "crossgate status", control);
    if (rc) return rc;
    cg_http_result_t res = {0};
    cg_json_t *doc = NULL;
    rc = 1;
    if (cg_cli_ctl_call(&ctl, "GET", "/v1/status", NULL, NULL, 0, &res)) goto Exit;
    if (res.status != 200) {
        cg_cli_ctl_fail(&ctl, &res);
        goto Exit;
    }
    if (!strcmp(out, "json")) {
        fwrite(res.body.base, 1, res.body.len, stdout);
        rc = 0;
        goto Exit;
    }
    if (!(doc = cg_cli_read_answer(&ctl, &res))) goto Exit;
    cg_control_status_top_t top;
    cg_control_status_read(doc, cg_control_status_top_fields, &top);
    printf("control plane %s, revision %" PRIu64 "\n\n", ctl.url, top.revision);
    clusters(doc);
    instances(doc);
    routing(doc);
    services(doc);
    rc = 0;
Exit:
    cg_json_free(doc);
    cg_http_result_free(&res);
    return rc;
}
