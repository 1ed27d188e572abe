/* `crossgate control`: flags to options, then the control plane process. */
#include "cli/cli.h"
#include "cli/flags.h"
#include "control/api.h"
#include "core/log.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: crossgate control [--listen ADDR:PORT] [--data DIR] [--store sqlite|etcd://H:P,...]\n"
    "                         [--store-timeout D] [--token-file FILE | --insecure]\n"
    "                         [--max-body BYTES] [--request-timeout D] [--max-connections N]\n"
    "                         [--order-wait D] [--log-level debug|info|warn|error]\n"
    "\n"
    "Runs the control plane: stores resources (SQLite in DIR), tracks gateway instances by\n"
    "lease and serves each one its snapshot. API: docs/api.md.\n"
    "      --listen ADDR:PORT  API address (default 127.0.0.1:7070)\n"
    "      --data DIR          store directory (default ./crossgate-data)\n"
    "      --store STORE       sqlite (default: DIR/crossgate.db) or etcd://HOST:PORT[,...]\n"
    "                         (etcd v3 JSON gateway; the next endpoint on a connection failure)\n"
    "      --store-timeout D   one etcd request to one endpoint (default 2s); writes block the\n"
    "                         control plane that long when an endpoint does not answer\n"
    "      --token-file FILE   the admin credential (default: DATA/admin.token, created\n"
    "                         mode 0600 on first start); reader and join tokens: crossgate token\n"
    "      --insecure          no authentication at all (warned on every start)\n"
    "      --max-body BYTES    request body limit, 413 beyond (default 4194304)\n"
    "      --request-timeout D a whole request within D of its first byte, else the\n"
    "                         connection closes (default 10s; never reset per byte)\n"
    "      --max-connections N open API connections (default 1024); past it, the one that\n"
    "                         waited longest for its request is closed\n"
    "      --order-wait D      make-before-break: the longest a snapshot waits for the gateways\n"
    "                         it depends on to take theirs (default 2s)\n";

int cg_cli_control(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},
        {"data", required_argument, 0, 'd'},
        {"store", required_argument, 0, 's'},
        {"store-timeout", required_argument, 0, 'S'},
        {"token-file", required_argument, 0, 't'},
        {"insecure", no_argument, 0, 'I'},
        {"max-body", required_argument, 0, 'm'},
        {"request-timeout", required_argument, 0, 'T'},
        {"max-connections", required_argument, 0, 'M'},
        {"order-wait", required_argument, 0, 'O'},
        {"log-level", required_argument, 0, 'v'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    cg_control_opts_t o = {0};
    int c;
    int64_t n;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': o.listen = optarg; break;
        case 'd': o.data_dir = optarg; break;
        case 's': o.store = optarg; break;
        case 'S':
            if (cg_cli_flag_duration_ms("control", "--store-timeout", optarg, 100, 60 * 1000,
                                        &o.store_timeout_ms))
                return 2;
            break;
        case 't': o.token_file = optarg; break;
        case 'I': o.insecure = 1; break;
        case 'm':
            if (cg_cli_flag_count("control", "--max-body", optarg, 1024, 1ll << 30, &n)) return 2;
            o.max_body = (size_t)n;
            break;
        case 'T':
            if (cg_cli_flag_duration_ms("control", "--request-timeout", optarg, 100, 3600 * 1000,
                                        &o.request_timeout_ms))
                return 2;
            break;
        case 'M':
            if (cg_cli_flag_count("control", "--max-connections", optarg, 1, 1000000, &n)) return 2;
            o.max_conns = (uint32_t)n;
            break;
        case 'O':
            if (cg_cli_flag_duration_ms("control", "--order-wait", optarg, 100, 60 * 1000,
                                        &o.order_wait_ms))
                return 2;
            break;
        case 'v':
            if (cg_cli_flag_log_level("control", optarg)) return 2;
            break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "crossgate control: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    return cg_control_main(&o);
}
