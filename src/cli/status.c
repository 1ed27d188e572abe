/* `crossgate status`: clusters, live instances and, per hostname, what each edge sends to. */
#include "cli/cli.h"
#include "cli/ctl.h"
#include "control/doc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: crossgate status [-o table|json] [--control URL]\n"
    "\n"
    "Shows the clusters with their regions, the live gateway instances, and per hostname the\n"
    "destination set each edge instance uses: its clusters, their priority and why.\n"
    "Environment: CROSSGATE_CONTROL (default " CG_CLI_DEFAULT_CONTROL ").\n";

static const char *s(const cg_ynode_t *map, const char *key)
{
    const cg_ynode_t *v = cg_ynode_get(map, key);
    return v && v->kind == CG_YNODE_SCALAR && v->stype != CG_YSCALAR_NULL ? v->text : NULL;
}

static const cg_ynode_t *seq(const cg_ynode_t *map, const char *key)
{
    const cg_ynode_t *v = cg_ynode_get(map, key);
    return v && v->kind == CG_YNODE_SEQ ? v : NULL;
}

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

static void clusters(const cg_ynode_t *root)
{
    const cg_ynode_t *cl = seq(root, "clusters");
    printf("CLUSTERS\n");
    if (!cl || cl->n == 0) {
        printf("  (none)\n\n");
        return;
    }
    cg_cli_table_t t;
    cg_cli_table_init(&t, 5);
    const char *h[] = {"NAME", "REGION", "ZONE", "STATIC GATEWAYS", "LIVE INSTANCES"};
    for (size_t i = 0; i < 5; i++) cg_cli_table_add(&t, h[i]);
    for (size_t i = 0; i < cl->n; i++) {
        const cg_ynode_t *c = cl->items[i];
        cg_cli_table_add(&t, s(c, "name"));
        cg_cli_table_add(&t, s(c, "region"));
        cg_cli_table_add(&t, s(c, "zone"));
        cg_cli_table_add(&t, s(c, "static_gateways"));
        cg_cli_table_add(&t, s(c, "live_instances"));
    }
    cg_cli_table_print(&t, 2);
    printf("\n");
}

static void instances(const cg_ynode_t *root)
{
    const cg_ynode_t *in = seq(root, "instances");
    printf("INSTANCES\n");
    if (!in || in->n == 0) {
        printf("  (none live)\n\n");
        return;
    }
    cg_cli_table_t t;
    cg_cli_table_init(&t, 9);
    const char *h[] = {"ID",    "CLUSTER", "NAMESPACE", "LABELS",  "ADDRESS",
                       "ADMIN", "AGE",     "HEARTBEAT", "SNAPSHOT"};
    for (size_t i = 0; i < 9; i++) cg_cli_table_add(&t, h[i]);
    for (size_t i = 0; i < in->n; i++) {
        const cg_ynode_t *x = in->items[i];
        cg_buf_t b = {0};
        cg_cli_table_addf(&t, "%.12s", s(x, "id") ? s(x, "id") : "?");
        cg_cli_table_add(&t, s(x, "cluster"));
        cg_cli_table_add(&t, s(x, "namespace"));
        const cg_ynode_t *l = cg_ynode_get(x, "labels");
        for (size_t j = 0; l && l->kind == CG_YNODE_MAP && j < l->n; j++)
            cg_buf_printf(&b, "%s%s=%s", j ? "," : "", cg_ynode_key(l, j)->text,
                          cg_ynode_value(l, j)->text);
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(&t, b.base);
        cg_cli_table_add(&t, s(x, "address"));
        cg_cli_table_add(&t, s(x, "admin"));
        cg_buf_reset(&b);
        duration(&b, cg_control_doc_int(x, "age_ms", 0));
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(&t, b.base);
        cg_buf_reset(&b);
        duration(&b, cg_control_doc_int(x, "last_heartbeat_ms_ago", 0));
        cg_buf_append_str(&b, " ago");
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(&t, b.base);
        cg_cli_table_addf(&t, "v%s%s", s(x, "snapshot_version") ? s(x, "snapshot_version") : "?",
                          s(x, "error") ? " (stale: error)" : "");
        cg_buf_free(&b);
    }
    cg_cli_table_print(&t, 2);
    for (size_t i = 0; i < in->n; i++)
        if (s(in->items[i], "error"))
            printf("  ! %.12s keeps its last snapshot: %s", s(in->items[i], "id"),
                   s(in->items[i], "error"));
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

static void destination(const cg_ynode_t *d)
{
    const char *mode = s(d, "mode");
    printf("    destination %s\n      %s\n", s(d, "name"), why_mode(mode));
    const cg_ynode_t *eps = seq(d, "endpoints"), *ws = seq(d, "weights");
    cg_cli_table_t t;
    int weighted = mode && !strcmp(mode, "weighted");
    cg_cli_table_init(&t, 4);
    const char *h[] = {"CLUSTER", "REGION", weighted ? "WEIGHT" : "PRIORITY", "ENDPOINTS"};
    for (size_t i = 0; i < 4; i++) cg_cli_table_add(&t, h[i]);
    /* one row per cluster, in endpoint order (weighted: in weight order) */
    CG_VEC(const char *) seen = {0};
    size_t nrows = weighted && ws ? ws->n : eps ? eps->n : 0;
    for (size_t i = 0; i < nrows; i++) {
        const char *cl = weighted ? s(ws->items[i], "cluster") : s(eps->items[i], "cluster");
        int dup = 0;
        for (size_t k = 0; k < seen.len && !dup; k++)
            dup = cl && seen.items[k] && !strcmp(seen.items[k], cl);
        if (dup) continue;
        cg_vec_push(&seen, cl);
        cg_buf_t b = {0};
        const char *region = NULL, *prio = NULL;
        for (size_t e = 0; eps && e < eps->n; e++) {
            const char *ecl = s(eps->items[e], "cluster");
            if (!(cl && ecl && !strcmp(cl, ecl)) && !(!cl && !ecl)) continue;
            region = s(eps->items[e], "region");
            prio = s(eps->items[e], "priority");
            cg_buf_printf(&b, "%s%s:%s", b.len ? "," : "", s(eps->items[e], "address"),
                          s(eps->items[e], "port"));
        }
        if (!b.len) cg_buf_append_str(&b, weighted ? "none: its share gets 503" : "none");
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(&t, cl);
        cg_cli_table_add(&t, region);
        if (weighted)
            cg_cli_table_add(&t, s(ws->items[i], "weight"));
        else if (prio)
            cg_cli_table_addf(&t, "%s (%s)", prio,
                              !strcmp(prio, "0") ? "local region" : "remote: failover");
        else
            cg_cli_table_add(&t, NULL);
        cg_cli_table_add(&t, b.base);
        cg_buf_free(&b);
    }
    if (seen.len == 0) {
        cg_cli_table_print(&t, 6);
        printf("      (no endpoints: requests get 503 no healthy upstream)\n");
    } else {
        cg_cli_table_print(&t, 6);
    }
    cg_vec_free(&seen);
}

static void routing(const cg_ynode_t *root)
{
    const cg_ynode_t *edges = seq(root, "edges");
    printf("ROUTING (per hostname, per edge instance)\n");
    if (!edges || edges->n == 0) {
        printf("  (no live edge instance: none has a Gateway with a clusterDestination)\n");
        return;
    }
    for (size_t i = 0; i < edges->n; i++) {
        const cg_ynode_t *e = edges->items[i], *routes = seq(e, "routes"),
                         *dests = seq(e, "destinations");
        for (size_t r = 0; routes && r < routes->n; r++) {
            const cg_ynode_t *rt = routes->items[r];
            const char *dn = s(rt, "destination");
            printf("  %s:%s  on edge %.12s (cluster %s, namespace %s, %s, region %s), gateway %s "
                   "rule %s%s\n",
                   s(rt, "hostname"), s(rt, "port"), s(e, "instance"), s(e, "cluster"),
                   s(e, "namespace"), s(e, "address"), s(e, "region") ? s(e, "region") : "unknown",
                   s(rt, "gateway"), s(rt, "rule"),
                   cg_control_doc_int(rt, "matches", 0) ? " (with match conditions)" : "");
            for (size_t d = 0; dests && d < dests->n; d++)
                if (dn && s(dests->items[d], "name") && !strcmp(dn, s(dests->items[d], "name")))
                    destination(dests->items[d]);
        }
        const cg_ynode_t *w = seq(e, "warnings");
        for (size_t k = 0; w && k < w->n; k++) printf("    warning: %s\n", w->items[k]->text);
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
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'C': control = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc || (strcmp(out, "table") && strcmp(out, "json"))) {
        fprintf(stderr, "crossgate status: %s (try --help)\n",
                optind < argc ? "unexpected argument" : "-o wants table or json");
        return 2;
    }
    cg_cli_ctl_t ctl;
    int rc = cg_cli_ctl_init(&ctl, "crossgate status", control);
    if (rc) return rc;
    cg_http_result_t res = {0};
    cg_ystream_t ys = {0};
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
    if (cg_cli_ctl_json(&ctl, &res, &ys)) goto Exit;
    const cg_ynode_t *root = ys.docs[0].root;
    printf("control plane %s, revision %s\n\n", ctl.url, s(root, "revision"));
    clusters(root);
    instances(root);
    routing(root);
    rc = 0;
Exit:
    cg_ystream_free(&ys);
    cg_http_result_free(&res);
    return rc;
}
