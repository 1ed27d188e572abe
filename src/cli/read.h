/* What the reading commands (get, status, token) share besides cli/ctl.h: their common options
 * and their JSON answers, read through core/json. */
#ifndef CG_CLI_READ_H
#define CG_CLI_READ_H

#include "cli/ctl.h"
#include "core/json.h"

#include <getopt.h>

/* The answer's JSON object (free it with cg_json_free), or NULL after one line on stderr. */
cg_json_t *cg_cli_read_answer(const cg_cli_ctl_t *c, const cg_http_result_t *res);

/* getopt_long over opts, handling -o/--output ('o', into *out), --control ('C', into *control)
 * and -h/--help ('h') here and every other option with more(c, ctx) (NULL: there are none).
 * Returns -1 to go on, with optind at the first operand, or the exit status (0 after --help,
 * 2 after a usage error). */
int cg_cli_read_opts(int argc, char **argv, const char *shortopts, const struct option *opts,
                     const char *usage, const char **out, const char **control,
                     void (*more)(int c, void *ctx), void *ctx);

#endif
