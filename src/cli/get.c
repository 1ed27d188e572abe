/* `crossgate get KIND [NAME] [-o table|yaml|json]`: reads resources from the control plane. */
#include "cli/cli.h"
#include "cli/ctl.h"
#include "cli/read.h"
#include "control/doc.h"

#include <getopt.h>
#include <inttypes.h>
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

/* A member's string, or NULL. */
static const char *str(const cg_json_t *obj, const char *key)
{
    return cg_json_string(cg_json_get(obj, key), NULL);
}

/* A scalar as text (a number in decimal, into tmp), or NULL for anything else. */
static const char *text(const cg_json_t *v, char tmp[24])
{
    if (cg_json_type(v) == CG_JSON_INT) {
        snprintf(tmp, 24, "%" PRId64, cg_json_int(v));
        return tmp;
    }
    return cg_json_string(v, NULL);
}

static void labels_text(const cg_json_t *m, cg_buf_t *b)
{
    char tmp[24];
    int first = 1;
    for (void *it = cg_json_iter(m); it; it = cg_json_next(m, it), first = 0)
        cg_buf_printf(b, "%s%s=%s", first ? "" : ",", cg_json_iter_key(it),
                      text(cg_json_iter_value(it), tmp));
}

/* "host:port,host:port" of the list items' members host and port. */
static void pairs_text(const cg_json_t *list, const char *host, cg_buf_t *b)
{
    char tmp[24];
    for (size_t i = 0; i < cg_json_len(list); i++) {
        const cg_json_t *o = cg_json_at(list, i);
        cg_buf_printf(b, "%s%s:%s", i ? "," : "", str(o, host), text(cg_json_get(o, "port"), tmp));
    }
    cg_buf_append(b, "", 1);
}

/* One table row per item, by kind. */
static void table_row(cg_cli_table_t *t, const char *kind, const cg_json_t *obj)
{
    cg_control_doc_item_t item;
    cg_control_doc_item_read(obj, &item);
    const cg_json_t *spec = cg_json_get(item.resource, "spec");
    cg_buf_t b = {0};
    cg_cli_table_addf(t, "%s%s", item.name, item.valid ? "" : " (invalid)");
    if (!strcmp(kind, "Cluster")) {
        const cg_json_t *loc = cg_json_get(spec, "locality"), *gws = cg_json_get(spec, "gateways");
        cg_cli_table_add(t, str(loc, "region"));
        cg_cli_table_add(t, str(loc, "zone"));
        cg_cli_table_addf(t, "%zu", cg_json_type(gws) == CG_JSON_ARRAY ? cg_json_len(gws) : 0);
    } else if (!strcmp(kind, "Service")) {
        cg_cli_table_add(t, item.namespace_);
        cg_cli_table_add(t, item.cluster);
        cg_cli_table_add(t, str(spec, "hostname"));
        pairs_text(cg_json_get(spec, "endpoints"), "address", &b);
        cg_cli_table_add(t, b.base);
    } else {
        const cg_json_t *sel = cg_json_get(spec, "workloadSelector");
        cg_cli_table_add(t, item.namespace_);
        const char *sns = str(sel, "namespace"), *scl = str(sel, "cluster");
        if (scl) cg_buf_printf(&b, "%s:", scl);
        if (sns) cg_buf_printf(&b, "%s ", sns);
        labels_text(cg_json_get(sel, "labels"), &b);
        cg_buf_append(&b, "", 1);
        cg_cli_table_add(t, b.base);
        cg_buf_reset(&b);
        pairs_text(cg_json_get(spec, "http"), "hostname", &b);
        cg_cli_table_add(t, b.base);
    }
    cg_cli_table_addf(t, "%" PRIu64, item.version);
    cg_cli_table_add(t, item.updated);
    cg_buf_free(&b);
}

static void print_table(const char *kind, const cg_json_t *const *items, size_t n)
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

static void filter_opt(int c, void *ctx)
{
    const char **filter = ctx;
    filter[c == 'n' ? 0 : 1] = optarg;
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
    const char *control = NULL, *out = "table";
    const char *filter[2] = {NULL, NULL}; /* --namespace, --cluster */
    int rc = cg_cli_read_opts(argc, argv, "o:n:h", opts, usage, &out, &control, filter_opt, filter);
    if (rc >= 0) return rc;
    const char *ns = filter[0], *cluster = filter[1];
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
    rc = cg_cli_ctl_init(&ctl, "crossgate get", control);
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
    cg_json_t *root = NULL;
    CG_VEC(const cg_json_t *) items = {0};
    rc = 1;
    if (cg_cli_ctl_call(&ctl, "GET", path.base, NULL, NULL, 0, &res)) goto Exit;
    if (res.status != 200) {
        cg_cli_ctl_fail(&ctl, &res);
        goto Exit;
    }
    if (!(root = cg_cli_read_answer(&ctl, &res))) goto Exit;
    const char *kind;
    const cg_json_t *list = cg_control_doc_list_read(root, &kind);
    for (size_t i = 0; i < cg_json_len(list); i++) cg_vec_push(&items, cg_json_at(list, i));
    if (!list) cg_vec_push(&items, root);
    cg_buf_t b = {0};
    if (!strcmp(out, "table") && list && items.len == 0) {
        fprintf(stderr, "No %s resources found.\n", kind ? kind : "such");
    } else if (!strcmp(out, "table")) {
        print_table(kind ? kind : "Gateway", items.items, items.len);
    } else if (!strcmp(out, "yaml")) {
        for (size_t i = 0; i < items.len; i++) {
            if (i) cg_buf_append_str(&b, "---\n");
            cg_control_doc_item_t item;
            cg_control_doc_item_read(items.items[i], &item);
            cg_control_doc_yaml(item.resource, &b);
        }
    } else {
        if (list) cg_buf_append_str(&b, "[");
        for (size_t i = 0; i < items.len; i++) {
            cg_buf_append_str(&b, i ? ",\n" : list ? "\n" : "");
            cg_control_doc_item_t item;
            cg_control_doc_item_read(items.items[i], &item);
            cg_control_doc_json_value(item.resource, &b);
        }
        cg_buf_append_str(&b, list ? (items.len ? "\n]\n" : "]\n") : "\n");
    }
    fwrite(b.base ? b.base : "", 1, b.len, stdout);
    cg_buf_free(&b);
    rc = 0;
Exit:
    cg_vec_free(&items);
    cg_json_free(root);
    cg_http_result_free(&res);
    cg_buf_free(&path);
    return rc;
}
