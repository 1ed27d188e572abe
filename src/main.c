/* crossgate: one binary, every role. Dispatches to the subcommand. */
#include "cli/cli.h"

#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"gateway", cg_cli_gateway, "run a gateway instance (ingress or edge)"},
    {"control", cg_cli_control, "run the control plane (resources, instances, snapshots)"},
    {"apply", cg_cli_apply, "create or replace resources from files on the control plane"},
    {"delete", cg_cli_delete, "delete resources from the control plane"},
    {"get", cg_cli_get, "show resources stored on the control plane"},
    {"status", cg_cli_status, "clusters, live instances and per-hostname routing"},
    {"token", cg_cli_token, "create, list and revoke reader and join tokens (admin)"},
    {"ca", cg_cli_ca, "make a mesh CA and issue gateway identities (mTLS certificates)"},
    {"app", cg_cli_app, "run the demo upstream application (productpage)"},
    {"load", cg_cli_load, "send steady traffic and watch where it goes (observation tool)"},
    {"demo", cg_cli_demo,
     "run the guide: every role on this machine, live traffic, failure drills"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: crossgate COMMAND [OPTIONS]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nRun 'crossgate COMMAND --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "crossgate: unknown command \"%s\" (try 'crossgate --help')\n", argv[1]);
    return 2;
}
