/* `crossgate delete -f PATH... | KIND NAME`: deletes resources on the control plane. */
#include "cli/cli.h"
#include "cli/ctl.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: crossgate delete -f PATH... [--control URL]\n"
    "       crossgate delete KIND NAME [--namespace NS] [--cluster C] [--control URL]\n"
    "\n"
    "Deletes the resources that files identify (kind, cluster, namespace, name), or one resource\n"
    "by kind (gateway, cluster, service) and name. Exits non-zero when one was not found.\n"
    "Environment: CROSSGATE_CONTROL (default " CG_CLI_DEFAULT_CONTROL "), CROSSGATE_TOKEN.\n";

int cg_cli_delete(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, 0, 'f'},
        {"control", required_argument, 0, 'C'},
        {"namespace", required_argument, 0, 'n'},
        {"cluster", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    cg_model_paths_t args = {0}, files = {0};
    const char *control = NULL, *ns = NULL, *cluster = NULL;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': cg_vec_push(&args, cg_xstrdup(optarg)); break;
        case 'C': control = optarg; break;
        case 'n': ns = optarg; break;
        case 'c': cluster = optarg; break;
        case 'h':
            fputs(usage, stdout);
            rc = 0;
            goto Exit;
        default: fputs(usage, stderr); goto Exit;
        }
    }
    int npos = argc - optind;
    if ((args.len && npos) || (!args.len && npos != 2)) {
        fprintf(stderr, "crossgate delete: give -f PATH... or KIND NAME (try --help)\n");
        goto Exit;
    }
    cg_cli_ctl_t ctl;
    if ((rc = cg_cli_ctl_init(&ctl, "crossgate delete", control))) goto Exit;
    rc = 1;
    if (npos == 2) {
        cg_buf_t path = {0};
        cg_buf_append_str(&path, "/v1/resources/");
        cg_cli_url_escape(&path, argv[optind]);
        cg_buf_append_str(&path, "/");
        cg_cli_url_escape(&path, argv[optind + 1]);
        const char *sep = "?";
        if (ns) cg_buf_append_str(&path, "?namespace="), cg_cli_url_escape(&path, ns), sep = "&";
        if (cluster) cg_buf_printf(&path, "%scluster=", sep), cg_cli_url_escape(&path, cluster);
        cg_buf_append(&path, "", 1);
        int nbad = 0;
        rc = cg_cli_ctl_results(&ctl, "DELETE", path.base, NULL, NULL, 0, "not found", &nbad) ||
             nbad;
        cg_buf_free(&path);
        goto Exit;
    }
    if (cg_cli_ctl_expand(&ctl, args.items, args.len, &files)) goto Exit;
    int failed = 0;
    for (size_t i = 0; i < files.len; i++) {
        cg_buf_t body = {0};
        if (cg_cli_ctl_read_file(&ctl, files.items[i], &body)) {
            cg_buf_free(&body);
            goto Exit;
        }
        int nbad = 0;
        failed |= cg_cli_ctl_results(&ctl, "POST", "/v1/delete", files.items[i],
                                     body.base ? body.base : "", body.len, "not found", &nbad) ||
                  nbad;
        cg_buf_free(&body);
    }
    rc = failed;
Exit:
    cg_model_paths_free(&args);
    cg_model_paths_free(&files);
    return rc;
}
