/* `crossgate token create|list|revoke`: reader and join tokens on the control plane (admin). */
#include "cli/cli.h"
#include "cli/ctl.h"
#include "cli/read.h"
#include "control/tokens.h"
#include "core/buf.h"
#include "model/schema.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: crossgate token create (--cluster NAME [--allow-address CIDR]... | --role reader)\n"
    "                              [--ttl D] [--control URL] [--token-file FILE]\n"
    "       crossgate token list [--control URL] [--token-file FILE]\n"
    "       crossgate token revoke ID [--control URL] [--token-file FILE]\n"
    "\n"
    "Manages control-plane tokens (needs the admin credential). A join token (--cluster) lets a\n"
    "gateway register instances of that one cluster, advertising the address it connects from\n"
    "(or one --allow-address admits, for NAT), and act only on the instances it registered. A\n"
    "reader token may get resources and status. The secret is printed once, on stdout.\n"
    "Revoking a token ends its instances' leases within one TTL (3 s).\n"
    "Credential: --token-file, else $CROSSGATE_TOKEN, $CROSSGATE_TOKEN_FILE or\n"
    "~/.config/crossgate/token.\n";

static int call(cg_cli_ctl_t *ctl, const char *method, const char *path, const char *body,
                cg_http_result_t *res)
{
    if (cg_cli_ctl_call(ctl, method, path, body ? "content-type: application/json\r\n" : NULL, body,
                        body ? strlen(body) : 0, res))
        return 1;
    if (res->status != 200) return cg_cli_ctl_fail(ctl, res);
    return 0;
}

int cg_cli_token(int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, 0, 'c'}, {"role", required_argument, 0, 'r'},
        {"ttl", required_argument, 0, 't'},     {"allow-address", required_argument, 0, 'a'},
        {"control", required_argument, 0, 'C'}, {"token-file", required_argument, 0, 'T'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0},
    };
    const char *cluster = NULL, *role = NULL, *control = NULL, *token_file = NULL;
    int64_t ttl_ms = 0;
    CG_VEC(const char *) allow = {0}; /* --allow-address values */
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': cluster = optarg; break;
        case 'r': role = optarg; break;
        case 't':
            if (cg_model_parse_duration(optarg, &ttl_ms) || ttl_ms < 1000) {
                fprintf(stderr,
                        "crossgate token: --ttl wants a duration of at least 1s (such as 24h), got "
                        "\"%s\"\n",
                        optarg);
                goto Exit;
            }
            break;
        case 'a': cg_vec_push(&allow, optarg); break;
        case 'C': control = optarg; break;
        case 'T': token_file = optarg; break;
        case 'h':
            fputs(usage, stdout);
            rc = 0;
            goto Exit;
        default: fputs(usage, stderr); goto Exit;
        }
    }
    if (optind >= argc) {
        fputs(usage, stderr);
        goto Exit;
    }
    const char *verb = argv[optind];
    cg_cli_ctl_t ctl;
    if (cg_cli_ctl_init(&ctl, "crossgate token", control)) goto Exit;
    if (token_file && !(ctl.token = cg_cli_credential(token_file))) {
        fprintf(stderr, "crossgate token: cannot read a token from %s\n", token_file);
        goto Exit;
    }
    cg_http_result_t res = {0};
    if (!strcmp(verb, "create") && optind + 1 == argc) {
        if (!cluster == !role || (role && strcmp(role, "reader")) || (role && allow.len)) {
            fprintf(
                stderr,
                "crossgate token create: give --cluster NAME (a join token) or --role reader\n");
            goto Exit;
        }
        cg_buf_t body = {0};
        cg_control_token_req_write(&body, role ? "reader" : "join", cluster, (uint64_t)ttl_ms,
                                   allow.items, allow.len);
        cg_buf_append(&body, "", 1);
        rc = call(&ctl, "POST", "/v1/tokens", body.base, &res);
        cg_buf_free(&body);
        cg_json_t *doc = rc ? NULL : cg_cli_read_answer(&ctl, &res);
        if (!rc && !doc) rc = 1;
        if (doc) {
            cg_control_token_new_t made;
            cg_control_token_new_read(doc, &made);
            printf("%s\n", made.token ? made.token : "");
            fprintf(stderr, "crossgate token: created %s token %s%s%s\n", role ? "reader" : "join",
                    made.id ? made.id : "?", cluster ? " for cluster " : "",
                    cluster ? cluster : "");
            cg_json_free(doc);
        }
    } else if (!strcmp(verb, "list") && optind + 1 == argc) {
        rc = call(&ctl, "GET", "/v1/tokens", NULL, &res);
        if (!rc) fwrite(res.body.base, 1, res.body.len, stdout);
    } else if (!strcmp(verb, "revoke") && optind + 2 == argc) {
        char path[128];
        snprintf(path, sizeof(path), "/v1/tokens/%.64s", argv[optind + 1]);
        rc = call(&ctl, "DELETE", path, NULL, &res);
        if (!rc) fwrite(res.body.base, 1, res.body.len, stderr);
    } else {
        fputs(usage, stderr);
        rc = 2;
    }
    cg_http_result_free(&res);
Exit:
    cg_vec_free(&allow);
    return rc;
}
