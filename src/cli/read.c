/* Options and JSON answers of the reading commands (read.h). */
#include "cli/read.h"

#include <stdio.h>

cg_json_t *cg_cli_read_answer(const cg_cli_ctl_t *c, const cg_http_result_t *res)
{
    cg_json_t *doc =
        cg_json_parse("answer", res->body.base ? res->body.base : "", res->body.len, NULL);
    if (doc == NULL || cg_json_type(doc) != CG_JSON_OBJECT) {
        fprintf(stderr, "%s: the control plane's answer is not the JSON expected\n", c->prog);
        cg_json_free(doc);
        return NULL;
    }
    return doc;
}

int cg_cli_read_opts(int argc, char **argv, const char *shortopts, const struct option *opts,
                     const char *usage, const char **out, const char **control,
                     void (*more)(int c, void *ctx), void *ctx)
{
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, shortopts, opts, NULL)) != -1) {
        switch (c) {
        case 'o': *out = optarg; break;
        case 'C': *control = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        case '?':
        case ':': fputs(usage, stderr); return 2;
        default:
            if (!more) {
                fputs(usage, stderr);
                return 2;
            }
            more(c, ctx);
            break;
        }
    }
    return -1;
}
