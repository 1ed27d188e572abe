/* `crossgate get KIND [NAME] [-o table|yaml|json]`: reads resources from the control plane. */
#include "cli/cli.h"
#include "cli/ctl.h"
#include "control/doc.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: crossgate get KIND [NAME] [-o table|yaml|json] [--namespace NS] [--cluster C]\n"
    "                     [--control URL]\n"
    "\n"
    "Lists resources of a kind (gateway|gw, cluster, service|svc, singular or plural), or shows "
    "one.\n"
    "-o yaml and -o json print the stored documents, ready to apply again (json: an array for a\n"
    "list, an object for one).\n"
    "Environment: CROSSGATE_CONTROL (default " CG_CLI_DEFAULT_CONTROL ").\n";

static const char *scalar(const cg_ynode_t *n)
{
    return n && n->kind == CG_YNODE_SCALAR ? n->text : NULL;
}

static void labels_text(const cg_ynode_t *m, cg_buf_t *b)
{
    for (size_t i = 0; m && m->kind == CG_YNODE_MAP && i < m->n; i++)
        cg_buf_printf(b, "%s%s=%s", i ? "," : "", scalar(cg_ynode_key(m, i)),
                      scalar(cg_ynode_value(m, i)));
}

/* One table row per item, by kind. */
static void table_row(cg_cli_table_t *t, const char *kind, const cg_ynode_t *item)
{
    const cg_ynode_t *doc = cg_ynode_get(item, "resource"), *spec = cg_ynode_get(doc, "spec");
    const char *name = cg_control_doc_str(item, "name");
    int valid = cg_ynode_get(item, "valid") && scalar(cg_ynode_get(item, "valid"))[0] == 't';
    cg_buf_t b = {0};
    if (!strcmp(kind, "Cluster")) {
        const cg_ynode_t *loc = cg_ynode_get(spec, "locality"),
                         *gws = cg_ynode_get(spec, "gateways");
        cg_cli_table_addf(t, "%s%s", name, valid ? "" : " (invalid)");
        cg_cli_table_add(t, cg_control_doc_str(loc, "region"));
        cg_cli_table_add(t, cg_control_doc_str(loc, "zone"));
        cg_cli_table_addf(t, "%zu", gws && gws->kind == CG_YNODE_SEQ ? gws->n : 0);
    } else if (!strcmp(kind, "Service")) {
        const cg_ynode_t *eps = cg_ynode_get(spec, "endpoints");
        cg_cli_table_addf(t, "%s%s", name, valid ? "" : " (invalid)");
        cg_cli_table_add(t, cg_control_doc_str(item, "namespace"));
        cg_cli_table_add(t, cg_control_doc_str(item, "cluster"));
        cg_cli_table_add(t, cg_control_doc_str(spec, "hostname"));
        for (size_t i = 0; eps && eps->kind == CG_YNODE_SEQ && i < eps->n; i++)
            cg_buf_printf(&b, "%s%s:%s", i ? "," : "", cg_control_doc_str(eps->items[i], "address"),
                          scalar(cg_ynode_get(eps->items[i], "port")));
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(t, b.base);
    } else {
        const cg_ynode_t *sel = cg_ynode_get(spec, "workloadSelector"),
                         *http = cg_ynode_get(spec, "http");
        cg_cli_table_addf(t, "%s%s", name, valid ? "" : " (invalid)");
        cg_cli_table_add(t, cg_control_doc_str(item, "namespace"));
        const char *sns = cg_control_doc_str(sel, "namespace"),
                   *scl = cg_control_doc_str(sel, "cluster");
        if (scl) cg_buf_printf(&b, "%s:", scl);
        if (sns) cg_buf_printf(&b, "%s ", sns);
        labels_text(cg_ynode_get(sel, "labels"), &b);
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(t, b.base);
        cg_buf_reset(&b);
        for (size_t i = 0; http && http->kind == CG_YNODE_SEQ && i < http->n; i++) {
            const cg_ynode_t *srv = http->items[i];
            cg_buf_printf(&b, "%s%s:%s", i ? "," : "", cg_control_doc_str(srv, "hostname"),
                          scalar(cg_ynode_get(srv, "port")));
        }
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(t, b.base);
    }
    cg_cli_table_addf(t, "%s", scalar(cg_ynode_get(item, "version")));
    cg_cli_table_add(t, cg_control_doc_str(item, "updated"));
    cg_buf_free(&b);
}

static void print_table(const char *kind, const cg_ynode_t *const *items, size_t n)
{
    cg_cli_table_t t;
    if (!strcmp(kind, "Cluster")) {
        cg_cli_table_init(&t, 6);
        const char *h[] = {"NAME", "REGION", "ZONE", "GATEWAYS", "VERSION", "UPDATED"};
        for (size_t i = 0; i < 6; i++) cg_cli_table_add(&t, h[i]);
    } else if (!strcmp(kind, "Service")) {
        cg_cli_table_init(&t, 7);
        const char *h[] = {"NAME",      "NAMESPACE", "CLUSTER", "HOSTNAME",
                           "ENDPOINTS", "VERSION",   "UPDATED"};
        for (size_t i = 0; i < 7; i++) cg_cli_table_add(&t, h[i]);
    } else {
        cg_cli_table_init(&t, 6);
        const char *h[] = {"NAME", "NAMESPACE", "SELECTOR", "SERVERS", "VERSION", "UPDATED"};
        for (size_t i = 0; i < 6; i++) cg_cli_table_add(&t, h[i]);
    }
    for (size_t i = 0; i < n; i++) table_row(&t, kind, items[i]);
    cg_cli_table_print(&t, 0);
}

int cg_cli_get(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, 0, 'o'},
        {"control", required_argument, 0, 'C'},
        {"namespace", required_argument, 0, 'n'},
        {"cluster", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *control = NULL, *ns = NULL, *cluster = NULL, *out = "table";
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'C': control = optarg; break;
        case 'n': ns = optarg; break;
        case 'c': cluster = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    int npos = argc - optind;
    if (npos < 1 || npos > 2) {
        fprintf(stderr, "crossgate get: give KIND [NAME] (try --help)\n");
        return 2;
    }
    if (strcmp(out, "table") && strcmp(out, "yaml") && strcmp(out, "json")) {
        fprintf(stderr, "crossgate get: -o wants table, yaml or json, got \"%s\"\n", out);
        return 2;
    }
    cg_cli_ctl_t ctl;
    int rc = cg_cli_ctl_init(&ctl, "crossgate get", control);
    if (rc) return rc;
    cg_buf_t path = {0};
    cg_buf_append_str(&path, "/v1/resources/");
    cg_cli_url_escape(&path, argv[optind]);
    if (npos == 2) cg_buf_append_str(&path, "/"), cg_cli_url_escape(&path, argv[optind + 1]);
    const char *sep = "?";
    if (ns) cg_buf_append_str(&path, "?namespace="), cg_cli_url_escape(&path, ns), sep = "&";
    if (cluster) cg_buf_printf(&path, "%scluster=", sep), cg_cli_url_escape(&path, cluster);
    cg_buf_append(&path, "", 1);
    cg_http_result_t res = {0};
    cg_ystream_t ys = {0};
    CG_VEC(const cg_ynode_t *) items = {0};
    rc = 1;
    if (cg_cli_ctl_call(&ctl, "GET", path.base, NULL, NULL, 0, &res)) goto Exit;
    if (res.status != 200) {
        cg_cli_ctl_fail(&ctl, &res);
        goto Exit;
    }
    if (cg_cli_ctl_json(&ctl, &res, &ys)) goto Exit;
    const cg_ynode_t *root = ys.docs[0].root;
    const cg_ynode_t *list = cg_ynode_get(root, "items");
    const char *kind = cg_control_doc_str(root, "kind");
    if (list && list->kind == CG_YNODE_SEQ)
        for (size_t i = 0; i < list->n; i++) cg_vec_push(&items, list->items[i]);
    else
        cg_vec_push(&items, root);
    cg_buf_t b = {0};
    if (!strcmp(out, "table") && list && items.len == 0) {
        fprintf(stderr, "No %s resources found.\n", kind ? kind : "such");
    } else if (!strcmp(out, "table")) {
        print_table(kind ? kind : "Gateway", items.items, items.len);
    } else if (!strcmp(out, "yaml")) {
        for (size_t i = 0; i < items.len; i++) {
            if (i) cg_buf_append_str(&b, "---\n");
            cg_control_doc_yaml(cg_ynode_get(items.items[i], "resource"), &b);
        }
    } else {
        if (list) cg_buf_append_str(&b, "[");
        for (size_t i = 0; i < items.len; i++) {
            cg_buf_append_str(&b, i ? ",\n" : list ? "\n" : "");
            cg_control_doc_json(cg_ynode_get(items.items[i], "resource"), &b);
        }
        cg_buf_append_str(&b, list ? (items.len ? "\n]\n" : "]\n") : "\n");
    }
    fwrite(b.base ? b.base : "", 1, b.len, stdout);
    cg_buf_free(&b);
    rc = 0;
Exit:
    cg_vec_free(&items);
    cg_ystream_free(&ys);
    cg_http_result_free(&res);
    cg_buf_free(&path);
    return rc;
}
