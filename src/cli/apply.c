/* `crossgate apply -f PATH...`: validates locally, then sends each file to the control plane. */
#include "cli/cli.h"
#include "cli/ctl.h"
#include "model/model.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: crossgate apply -f PATH... [--control URL]\n"
    "\n"
    "Creates or replaces the resources of files and directories (*.yaml, *.yml, *.json) on the\n"
    "control plane and prints what happened to each: created, configured or unchanged. Nothing is\n"
    "sent unless every file is valid.\n"
    "  -f, --file PATH     file or directory (repeatable)\n"
    "      --control URL   control plane (default $CROSSGATE_CONTROL, else " CG_CLI_DEFAULT_CONTROL
    ")\n"
    "Environment: CROSSGATE_TOKEN is sent as \"Authorization: Bearer\" when set.\n";

int cg_cli_apply(int argc, char **argv)
{
    static const struct option opts[] = {
        {"file", required_argument, 0, 'f'},
        {"control", required_argument, 0, 'C'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    cg_model_paths_t args = {0}, files = {0};
    const char *control = NULL;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': cg_vec_push(&args, cg_xstrdup(optarg)); break;
        case 'C': control = optarg; break;
        case 'h':
            fputs(usage, stdout);
            rc = 0;
            goto Exit;
        default: fputs(usage, stderr); goto Exit;
        }
    }
    if (optind < argc || args.len == 0) {
        fprintf(stderr, "crossgate apply: %s (try --help)\n",
                args.len ? "unexpected argument" : "-f PATH is required");
        goto Exit;
    }
    cg_cli_ctl_t ctl;
    if ((rc = cg_cli_ctl_init(&ctl, "crossgate apply", control))) goto Exit;
    rc = 1;
    if (cg_cli_ctl_expand(&ctl, args.items, args.len, &files)) goto Exit;
    if (files.len == 0) {
        fprintf(stderr, "crossgate apply: no *.yaml, *.yml or *.json file in %s\n", args.items[0]);
        goto Exit;
    }
    /* The same validation as static mode over every file together, so that nothing is sent
     * when one of them is wrong (the control plane validates each request again). */
    cg_resource_set_t *rs = NULL;
    cg_buf_t errors = {0};
    if (cg_model_load_paths((const char *const *)files.items, files.len, &rs, &errors) != 0) {
        fprintf(stderr, "%.*s", (int)errors.len,
                errors.base ? errors.base : "crossgate apply: invalid input\n");
        cg_buf_free(&errors);
        goto Exit;
    }
    cg_model_free(rs);
    cg_buf_free(&errors);
    for (size_t i = 0; i < files.len; i++) {
        cg_buf_t body = {0};
        int nbad = 0, bad = cg_cli_ctl_read_file(&ctl, files.items[i], &body);
        if (!bad)
            bad = cg_cli_ctl_results(&ctl, "POST", "/v1/apply", files.items[i],
                                     body.base ? body.base : "", body.len, NULL, &nbad);
        cg_buf_free(&body);
        if (bad) goto Exit;
    }
    rc = 0;
Exit:
    cg_model_paths_free(&args);
    cg_model_paths_free(&files);
    return rc;
}
