/* `crossgate gateway`: flags to options, then the gateway process. */
#include "cli/cli.h"
#include "cli/ctl.h"
#include "cli/flags.h"
#include "cli/gateway.h"
#include "agent/agent.h"
#include "core/list.h"
#include "core/log.h"
#include "core/sock.h"
#include "http/client.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: crossgate gateway --cluster NAME [--namespace NS] [--label KEY=VALUE]... [--address "
    "IP]\n"
    "                         (-f PATH... | --control URL [--cache-dir DIR])\n"
    "                         [--admin ADDR:PORT|off] [--workers N]\n"
    "                         [--access-log PATH|-|off] [--log-level debug|info|warn|error]\n"
    "\n"
    "Runs one gateway instance. It serves the Gateway resources whose workloadSelector matches\n"
    "its namespace and labels, on --address (default 127.0.0.1) and the ports they name.\n"
    "  -f, --file PATH        static mode: resource file or directory (repeatable); reloaded on\n"
    "                         change and on SIGHUP\n"
    "      --control URL      dynamic mode: register with the control plane and follow its\n"
    "                         snapshots (a join token: --token-file, $CROSSGATE_TOKEN,\n"
    "                         $CROSSGATE_TOKEN_FILE or ~/.config/crossgate/token);\n"
    "                         URL1,URL2,...: several, the next one when one fails\n"
    "      --token-file FILE  the control-plane token, one line\n"
    "      --cache-dir DIR    keep the last good snapshot here; used when the control plane is\n"
    "                         down at start\n"
    "      --admin ADDR:PORT  admin endpoint, read-only (default 127.0.0.1:15000, as Istio's:\n"
    "                         never the traffic address; 'off' disables)\n"
    "      --workers N        worker threads (default: number of CPUs)\n"
    "      --access-log DEST  access log file, '-' for stdout (default) or 'off'\n"
    "      --access-log-tls   end each access-log line with Envoy's %DOWNSTREAM_TLS_VERSION%\n"
    "                         and %REQUESTED_SERVER_NAME%, quoted ('-' on plain text)\n"
    "      --drain-time SECS  on SIGTERM, fail health checks and close keep-alive connections\n"
    "                         for this long before stopping (default 0: stop at once)\n"
    "      --header-timeout D a request head must arrive within D (default 10s; else 408)\n"
    "      --body-timeout D   a request body may pause at most D between bytes (default 30s;\n"
    "                         else 408, never counted against the upstream)\n"
    "      --idle-timeout D   close keep-alive connections idle for D (default 60s)\n"
    "      --upstream-max-idle N  idle upstream connections kept per endpoint per worker\n"
    "                         (default 1024: an HTTP/2 client's streams each hold one while\n"
    "                         in flight, and a smaller pool closes and reopens them)\n"
    "      --max-connections N  downstream connections per worker (default 65536, or what\n"
    "                         the file descriptor limit allows; the soft limit is raised to\n"
    "                         the hard one as needed)\n"
    "      --identity PREFIX  the mesh identity PREFIX.crt and PREFIX.key (`crossgate ca issue\n"
    "                         --out PREFIX`): take mTLS from other gateways on --mtls-port and\n"
    "                         send to theirs over mTLS (needs --mesh-ca; reloaded on change)\n"
    "      --mesh-ca FILE     the mesh CA that signs every gateway's identity\n"
    "      --mtls-port N      the mesh mTLS port (default 15443, as TSB's)\n"
    "      --require-mtls     send to other gateways over mTLS only: an endpoint of a cluster\n"
    "                         destination without a mesh identity is left out (with a warning)\n"
    "\n"
    "HTTP/2 (ALPN h2 on TLS listeners, the prior-knowledge preface on every listener):\n"
    "      --h2-max-streams N       streams at once per connection (default 100)\n"
    "      --h2-max-header-list B   a request's header list, decoded (default 65536; else 431)\n"
    "      --h2-max-resets N        client stream resets a second per connection (default\n"
    "                               100; past it GOAWAY ENHANCE_YOUR_CALM: rapid reset)\n"
    "      --h2-max-control-frames N  PING, SETTINGS, PRIORITY and empty frames a second per\n"
    "                               connection (default 1000; past it, GOAWAY likewise)\n";

int cg_cli_gateway(int argc, char **argv)
{
    static const struct option opts[] = {
        {"cluster", required_argument, 0, 'c'},
        {"namespace", required_argument, 0, 'n'},
        {"label", required_argument, 0, 'l'},
        {"address", required_argument, 0, 'a'},
        {"file", required_argument, 0, 'f'},
        {"admin", required_argument, 0, 'A'},
        {"workers", required_argument, 0, 'w'},
        {"access-log", required_argument, 0, 'L'},
        {"access-log-tls", no_argument, 0, 'S'},
        {"log-level", required_argument, 0, 'v'},
        {"control", required_argument, 0, 'C'},
        {"cache-dir", required_argument, 0, 'D'},
        {"drain-time", required_argument, 0, 'T'},
        {"header-timeout", required_argument, 0, 'H'},
        {"idle-timeout", required_argument, 0, 'I'},
        {"max-connections", required_argument, 0, 'M'},
        {"body-timeout", required_argument, 0, 'B'},
        {"token-file", required_argument, 0, 'K'},
        {"identity", required_argument, 0, 'i'},
        {"mesh-ca", required_argument, 0, 'm'},
        {"mtls-port", required_argument, 0, 'P'},
        {"require-mtls", no_argument, 0, 'R'},
        {"h2-max-streams", required_argument, 0, 1001},
        {"upstream-max-idle", required_argument, 0, 1005},
        {"h2-max-header-list", required_argument, 0, 1002},
        {"h2-max-resets", required_argument, 0, 1003},
        {"h2-max-control-frames", required_argument, 0, 1004},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    enum { HOUR_MS = 3600 * 1000 }; /* the longest timeout a flag takes */
    cg_gateway_opts_t o = {.namespace_ = "default", .address = "127.0.0.1", .mtls_port = 15443};
    int64_t n;
    cg_cli_dynamic_t dyn = {0};
    CG_VEC(const char *) paths = {0};
    CG_VEC(cg_snap_label_t) labels = {0};
    char admin_default[80];
    const char *token_file = NULL;
    int c, rc = 2;
    optind = 1;
    while ((c = getopt_long(argc, argv, "f:h", opts, NULL)) != -1) {
        switch (c) {
        case 'c': o.cluster = optarg; break;
        case 'n': o.namespace_ = optarg; break;
        case 'a': o.address = optarg; break;
        case 'f': cg_vec_push(&paths, optarg); break;
        case 'A': o.admin = optarg; break;
        case 'L': o.access_log = optarg; break;
        case 'S': o.access_log_tls = 1; break;
        case 'l': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "crossgate gateway: --label wants KEY=VALUE, got \"%s\"\n", optarg);
                goto Exit;
            }
            cg_snap_label_t l = {cg_xstrndup(optarg, (size_t)(eq - optarg)), cg_xstrdup(eq + 1)};
            cg_vec_push(&labels, l);
            break;
        }
        case 'w':
            if (cg_cli_flag_count("gateway", "--workers", optarg, 1, CG_MAX_WORKERS, &n)) goto Exit;
            o.workers = (int)n;
            break;
        case 'v':
            if (cg_cli_flag_log_level("gateway", optarg)) goto Exit;
            break;
        case 'C': dyn.control = optarg; break;
        case 'K': token_file = optarg; break;
        case 'D': dyn.cache_dir = optarg; break;
        case 'T':
            if (cg_cli_flag_duration_ms("gateway", "--drain-time", optarg, 0, HOUR_MS, &o.drain_ms))
                goto Exit;
            break;
        case 'H':
            if (cg_cli_flag_duration_ms("gateway", "--header-timeout", optarg, 1, HOUR_MS,
                                        &o.header_timeout_ms))
                goto Exit;
            break;
        case 'I':
            if (cg_cli_flag_duration_ms("gateway", "--idle-timeout", optarg, 1, HOUR_MS,
                                        &o.idle_timeout_ms))
                goto Exit;
            break;
        case 'B':
            if (cg_cli_flag_duration_ms("gateway", "--body-timeout", optarg, 1, HOUR_MS,
                                        &o.body_timeout_ms))
                goto Exit;
            break;
        case 'M':
            if (cg_cli_flag_count("gateway", "--max-connections", optarg, 1, 10000000, &n))
                goto Exit;
            o.max_conns = (uint32_t)n;
            break;
        case 'i': o.identity = optarg; break;
        case 'R': o.require_mtls = 1; break;
        case 'm': o.mesh_ca = optarg; break;
        case 'P':
            if (cg_cli_flag_count("gateway", "--mtls-port", optarg, 1, 65535, &n)) goto Exit;
            o.mtls_port = (uint16_t)n;
            break;
        case 1001:
            if (cg_cli_flag_count("gateway", "--h2-max-streams", optarg, 1, 100000, &n)) goto Exit;
            o.h2_max_streams = (uint32_t)n;
            break;
        case 1002:
            if (cg_cli_flag_count("gateway", "--h2-max-header-list", optarg, 1024, 1 << 24, &n))
                goto Exit;
            o.h2_max_header_list = (uint32_t)n;
            break;
        case 1003:
            if (cg_cli_flag_count("gateway", "--h2-max-resets", optarg, 1, 1000000, &n)) goto Exit;
            o.h2_max_resets = (uint32_t)n;
            break;
        case 1004:
            if (cg_cli_flag_count("gateway", "--h2-max-control-frames", optarg, 1, 1000000, &n))
                goto Exit;
            o.h2_max_glitches = (uint32_t)n;
            break;
        case 1005:
            if (cg_cli_flag_count("gateway", "--upstream-max-idle", optarg, 1, 1000000, &n))
                goto Exit;
            o.upstream_max_idle = (uint32_t)n;
            break;
        case 'h':
            fputs(usage, stdout);
            rc = 0;
            goto Exit;
        default: fputs(usage, stderr); goto Exit;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "crossgate gateway: unexpected argument \"%s\"\n", argv[optind]);
        goto Exit;
    }
    if (!o.cluster) {
        fprintf(stderr, "crossgate gateway: --cluster is required\n");
        goto Exit;
    }
    if (!paths.len && !dyn.control) {
        fprintf(stderr, "crossgate gateway: give resource files with -f PATH, or a control plane "
                        "with --control URL\n");
        goto Exit;
    }
    if (paths.len && dyn.control) {
        fprintf(stderr, "crossgate gateway: -f (static mode) and --control (dynamic mode) exclude "
                        "each other\n");
        goto Exit;
    }
    if (!o.identity != !o.mesh_ca) {
        fprintf(stderr, "crossgate gateway: --identity and --mesh-ca go together\n");
        goto Exit;
    }
    if (o.require_mtls && !o.identity) {
        fprintf(stderr, "crossgate gateway: --require-mtls needs --identity and --mesh-ca\n");
        goto Exit;
    }
    if (dyn.control) {
        cg_agent_urls_t urls;
        cg_buf_t err = {0};
        if (cg_agent_urls_parse(dyn.control, &urls, &err)) {
            fprintf(stderr,
                    "crossgate gateway: --control wants http://IP:PORT[,http://IP:PORT...]: "
                    "%.*s\n",
                    (int)err.len, err.base);
            cg_buf_free(&err);
            goto Exit;
        }
        dyn.token = cg_cli_credential(token_file);
        if (token_file && !dyn.token) {
            fprintf(stderr, "crossgate gateway: cannot read a token from --token-file %s\n",
                    token_file);
            goto Exit;
        }
    }
    cg_addr_t a;
    if (cg_addr_parse_ip(&a, o.address, 0)) {
        fprintf(stderr, "crossgate gateway: --address wants an IP address, got \"%s\"\n",
                o.address);
        goto Exit;
    }
    if (!o.admin) {
        /* loopback, not the data-plane address: who can reach the traffic port must not read
         * /config_dump */
        snprintf(admin_default, sizeof(admin_default), "127.0.0.1:15000");
        o.admin = admin_default;
    } else if (strcmp(o.admin, "off") != 0 && cg_addr_parse(&a, o.admin)) {
        fprintf(stderr, "crossgate gateway: --admin wants IP:PORT or off, got \"%s\"\n", o.admin);
        goto Exit;
    }
    o.paths = paths.items;
    o.npaths = paths.len;
    o.labels = labels.items;
    o.nlabels = labels.len;
    rc = cg_cli__gateway_main(&o, &dyn);
Exit:
    for (size_t i = 0; i < labels.len; i++) {
        free(labels.items[i].key);
        free(labels.items[i].value);
    }
    cg_vec_free(&labels);
    cg_vec_free(&paths);
    return rc;
}
