/* The command line of `crossgate load`: its flags into the engine's options (tools/load.h) and
 * the few settings that belong to the command itself. */
#ifndef CG_TOOLS_LOAD_CLI_H
#define CG_TOOLS_LOAD_CLI_H

#include "tools/load.h"

typedef struct cg_load_cli {
    const char *json_path; /* --json: a file, "-" for stdout, NULL for none */
    int quiet;             /* -q: no live lines, no text summary */
} cg_load_cli_t;

/* Parses argv (argv[0] is the command). Returns 0; -1 after printing --help; or 2 after
 * printing a one-line reason on stderr. The URL is only checked for its scheme here:
 * cg_tools_load_new reads it, and refuses it with a reason of its own. o's strings point
 * into argv. */
int cg_tools_load_args(int argc, char **argv, cg_load_opts_t *o, cg_load_cli_t *cli);

#endif
