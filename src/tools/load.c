/* `crossgate load`: the observation tool. Steady HTTP/1.1 (or h2c) traffic over keep-alive
 * connections, closed-loop or open-loop (--rate), a live line per interval, a summary and a JSON
 * report with a 100 ms timeline. One thread, one loop; nothing is allocated per request. This
 * file is the command line: the flags, the output files and the signals around the engine. */
#include "cli/cli.h"
#include "core/buf.h"
#include "core/duration.h"
#include "core/err.h"
#include "core/loop.h"
#include "http/client.h"
#include "tools/load_cli.h"
#include "tools/load_engine.h"
#include "tools/load_report.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

static const char usage[] =
    "usage: crossgate load URL [--host NAME] [-c CONNS] [-d DURATION] [--rate RPS]\n"
    "                          [--json FILE] [--interval 1s] [-n MAX_REQUESTS] [--quiet]\n"
    "                          [--timeout 5s] [--max-conns N] [--http2 [--streams N]]\n"
    "                          [--resolve-via DNS_IP:PORT]\n"
    "\n"
    "Sends GET URL (http://IP:PORT/path, or localhost) and prints, once per interval, the\n"
    "requests per cluster (response header x-app-cluster), status codes, latency percentiles\n"
    "and socket errors; a summary at the end.\n"
    "\n"
    "  -c, --connections N  keep-alive connections (default 1); closed loop: each sends its\n"
    "                       next request when the previous response arrived\n"
    "  --rate RPS           open loop: requests at fixed intervals from the start, spread over\n"
    "                       the connections (more are opened when all are busy, up to\n"
    "                       --max-conns); latency counts from the scheduled send time\n"
    "  -d, --duration D     run time (ms, s, m; default 10s)\n"
    "  -n, --requests N     stop after N requests (whichever of -d and -n comes first)\n"
    "  --host NAME          Host header (default: the URL's host:port)\n"
    "  --json FILE          write a JSON summary with a 100 ms timeline (- for stdout; the\n"
    "                       live lines and summary then go to stderr)\n"
    "  --interval D         live line period (default 1s)\n"
    "  --timeout D          a request (or connect) without a response by then is an error\n"
    "                       and its connection is reopened (default 5s)\n"
    "  --max-conns N        open-loop connection cap (default max(CONNS, 512))\n"
    "  --http2              HTTP/2 instead of HTTP/1.1: prior-knowledge h2c (cleartext;\n"
    "                       https is not supported)\n"
    "  --streams N          with --http2: requests in flight per connection (default 1, as\n"
    "                       many as HTTP/1.1 with the same -c; at most 1000)\n"
    "  --resolve-via IP:PORT  resolve the URL's hostname with A queries to this DNS server,\n"
    "                       again every TTL (at least 1s); connections go round robin over\n"
    "                       the answer, and leave an address that is no longer in it\n"
    "  -q, --quiet          no live lines and no text summary\n";

/* A flag's duration (core/duration.h; a bare number is seconds), into microseconds. */
static int parse_duration(const char *s, uint64_t *us)
{
    return cg_duration_parse_us(s, strlen(s), CG_DURATION_BARE_SECONDS, us);
}

static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9') return CG_EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return CG_EINVAL;
    *out = v;
    return 0;
}

static int bad(const char *fmt, const char *arg)
{
    fputs("crossgate load: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    return 2;
}

int cg_tools_load_args(int argc, char **argv, cg_load_opts_t *o, cg_load_cli_t *cli)
{
    enum {
        O_HOST = 256,
        O_RATE,
        O_JSON,
        O_INTERVAL,
        O_TIMEOUT,
        O_MAXCONNS,
        O_HTTP2,
        O_STREAMS,
        O_RESOLVE
    };
    static const struct option opts[] = {
        {"host", required_argument, 0, O_HOST},
        {"connections", required_argument, 0, 'c'},
        {"duration", required_argument, 0, 'd'},
        {"rate", required_argument, 0, O_RATE},
        {"json", required_argument, 0, O_JSON},
        {"interval", required_argument, 0, O_INTERVAL},
        {"requests", required_argument, 0, 'n'},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"max-conns", required_argument, 0, O_MAXCONNS},
        {"http2", no_argument, 0, O_HTTP2},
        {"streams", required_argument, 0, O_STREAMS},
        {"resolve-via", required_argument, 0, O_RESOLVE},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    uint64_t v;
    int opt;
    *o = (cg_load_opts_t){0}; /* zero fields take the engine's defaults (tools/load.h) */
    *cli = (cg_load_cli_t){0};
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:d:n:qh", opts, NULL)) != -1) {
        switch (opt) {
        case O_HOST:
            if (!*optarg || !cg_load__valid_token(optarg, 0))
                return bad("--host: invalid host \"%s\"", optarg);
            o->host = optarg;
            break;
        case 'c':
            if (parse_count(optarg, 100000, &v) || v == 0)
                return bad("-c: expected a connection count from 1, got \"%s\"", optarg);
            o->connections = (uint32_t)v;
            break;
        case 'd':
            if (parse_duration(optarg, &v) || v < 1000 || v > 86400000000ull)
                return bad(
                    "-d: expected a duration from 1ms to 24h such as 30s, 500ms or 2m, got \"%s\"",
                    optarg);
            o->duration_us = v;
            break;
        case O_RATE: {
            char *end;
            errno = 0;
            double r = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(r > 0) || r > 10000000)
                return bad("--rate: expected requests per second above 0, got \"%s\"", optarg);
            o->rate = r;
            break;
        }
        case O_JSON: cli->json_path = optarg; break;
        case O_INTERVAL:
            if (parse_duration(optarg, &v) || v < 10000 || v > 3600000000ull)
                return bad("--interval: expected a duration from 10ms to 1h, got \"%s\"", optarg);
            o->interval_us = v;
            break;
        case 'n':
            if (parse_count(optarg, UINT64_MAX / 2, &v) || v == 0)
                return bad("-n: expected a request count from 1, got \"%s\"", optarg);
            o->max_requests = v;
            break;
        case O_TIMEOUT:
            if (parse_duration(optarg, &v) || v < 1000 || v > 3600000000ull)
                return bad("--timeout: expected a duration from 1ms to 1h, got \"%s\"", optarg);
            o->timeout_us = v;
            break;
        case O_MAXCONNS:
            if (parse_count(optarg, 100000, &v) || v == 0)
                return bad("--max-conns: expected a count from 1, got \"%s\"", optarg);
            o->max_conns = (uint32_t)v;
            break;
        case O_HTTP2: o->http2 = 1; break;
        case O_STREAMS:
            if (parse_count(optarg, CG_LOAD_MAX_STREAMS, &v) || v == 0)
                return bad("--streams: expected a stream count from 1 to 1000, got \"%s\"", optarg);
            o->streams = (uint32_t)v;
            break;
        case O_RESOLVE: o->resolve_via = optarg; break;
        case 'q': cli->quiet = 1; break;
        case 'h': fputs(usage, stdout); return -1;
        case ':': return bad("%s needs a value (see --help)", argv[optind - 1]);
        default: return bad("unknown option \"%s\" (see --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc) return bad("%s", "missing URL (see --help)");
    if (optind + 1 < argc) return bad("unexpected argument \"%s\"", argv[optind + 1]);
    o->url = argv[optind];
    if (o->streams && !o->http2) return bad("%s", "--streams needs --http2");
    if (!strncmp(o->url, "https://", 8))
        return bad(o->http2 ? "%s: https is not supported; --http2 speaks h2c to http:// URLs"
                            : "%s: https is not supported; use http://IP:PORT/path",
                   o->url);
    return 0; /* the URL itself is checked by cg_tools_load_new, the one place that reads it */
}

/* The command line's own state around the run. */
typedef struct cli {
    const cg_load_t *ld;
    cg_load_cli_t opt;
    FILE *out, *json; /* live lines and summary; the JSON report */
} cli_t;

/* Raises the open-file limit as far as allowed; the connection counts must fit under it. */
static int check_fd_limit(cg_load_t *ld)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)ld->conns + 32 > rl.rlim_cur) {
        fprintf(stderr, "crossgate load: -c %u exceeds the open-file limit (%llu)\n", ld->conns,
                (unsigned long long)rl.rlim_cur);
        return 2;
    }
    if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)ld->max_conns + 32 > rl.rlim_cur)
        ld->max_conns = (uint32_t)(rl.rlim_cur - 32);
    return 0;
}

static void print_banner(const cli_t *cli, const cg_load_t *ld)
{
    FILE *out = cli->out;
    fprintf(out, "crossgate load %s (Host: %s): ", ld->url, ld->host_hdr);
    if (ld->rate > 0)
        fprintf(out, "open loop, %.1f req/s over %u+ connections (cap %u)", ld->rate, ld->conns,
                ld->max_conns);
    else
        fprintf(out, "closed loop, %u connection%s", ld->conns, ld->conns == 1 ? "" : "s");
    if (ld->streams)
        fprintf(out, ", h2c %u stream%s each", ld->streams, ld->streams == 1 ? "" : "s");
    if (ld->dns) fprintf(out, ", resolved via %s", cg_load_dns_server(ld->dns));
    fprintf(out, ", %.1fs", (double)ld->duration_us / 1e6);
    if (ld->max_requests) fprintf(out, " or %llu requests", (unsigned long long)ld->max_requests);
    fputs("\n", out);
    fflush(out);
}

static void write_out(FILE *out, cg_buf_t *b)
{
    fwrite(b->base, 1, b->len, out);
    fflush(out);
    cg_buf_free(b);
}

/* The live line, from the hook the engine calls at the end of each interval. */
static void on_interval(void *data, const cg_load_window_t *w)
{
    cli_t *cli = data;
    cg_buf_t b = {0};
    cg_load_report_interval(&cli->ld->st, w->t, w->secs, &b);
    write_out(cli->out, &b);
}

/* A line from the engine (--resolve-via: a new answer, a failed query). */
static void on_note(void *data, const char *line)
{
    cli_t *cli = data;
    fprintf(cli->out, "%s\n", line);
    fflush(cli->out);
}

static void print_summary(const cli_t *cli, const cg_load_t *ld)
{
    cg_load_run_info_t run;
    cg_buf_t b = {0};
    cg_load__run_info(ld, &run);
    cg_load_report_summary(&run, &ld->st, &b);
    write_out(cli->out, &b);
}

static int write_json(const cli_t *cli, cg_load_t *ld)
{
    cg_buf_t b = {0};
    cg_tools_load_json(ld, &b);
    int rc = 0;
    if (fwrite(b.base, 1, b.len, cli->json) != b.len || fflush(cli->json)) {
        fprintf(stderr, "crossgate load: cannot write %s: %s\n", cli->opt.json_path,
                strerror(errno));
        rc = 1;
    }
    cg_buf_free(&b);
    return rc;
}

static void on_signal(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    cg_tools_load_stop(loop->data);
}

int cg_cli_load(int argc, char **argv)
{
    cg_load_opts_t o;
    cli_t cli = {.out = stdout};
    cg_load_t *ld = NULL;
    cg_loop_t loop;
    cg_io_t sig_io;
    sigset_t set;
    int rc, sfd = -1, have_loop = 0;
    char err[256];
    sigemptyset(&set);
    if ((rc = cg_tools_load_args(argc, argv, &o, &cli.opt))) {
        rc = rc < 0 ? 0 : rc; /* --help */
        goto Exit;
    }
    if (!(ld = cg_tools_load_new(&o, NULL, err, sizeof(err)))) {
        rc = bad("%s", err);
        goto Exit;
    }
    cli.ld = ld;
    if ((rc = check_fd_limit(ld))) goto Exit;
    if (cli.opt.json_path && !strcmp(cli.opt.json_path, "-")) {
        cli.json = stdout;
        cli.out = stderr; /* stdout carries only the JSON */
    } else if (cli.opt.json_path && !(cli.json = fopen(cli.opt.json_path, "w"))) {
        fprintf(stderr, "crossgate load: cannot write %s: %s\n", cli.opt.json_path,
                strerror(errno));
        rc = 2;
        goto Exit;
    }
    if (cg_loop_init(&loop)) {
        fprintf(stderr, "crossgate load: cannot create the event loop\n");
        rc = 1;
        goto Exit;
    }
    have_loop = 1;
    signal(SIGPIPE, SIG_IGN);
    /* Ctrl-C ends the run early, with the summary and the JSON of what was measured */
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd >= 0) cg_io_start_level(&loop, &sig_io, sfd, EPOLLIN, on_signal);

    if (!cli.opt.quiet) {
        ld->hooks = (cg_load_hooks_t){.on_interval = on_interval, .on_note = on_note, .data = &cli};
        print_banner(&cli, ld);
    }
    loop.data = ld;
    cg_tools_load_start(ld, &loop);
    while (!ld->stopped) cg_loop_run_once(&loop, -1);
    cg_tools_load_stop(ld);
    if (!cli.opt.quiet) print_summary(&cli, ld);
    if (cli.json) rc = write_json(&cli, ld);

Exit:
    cg_tools_load_free(ld);
    if (sfd >= 0) {
        cg_io_stop(&loop, &sig_io);
        close(sfd);
    }
    if (have_loop) cg_loop_destroy(&loop);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    if (cli.json && cli.json != stdout) fclose(cli.json);
    return rc;
}
