/* `crossgate app`: the demo upstream ("productpage"). Answers every path with
 * "NAME from CLUSTER", header x-app-cluster, and /healthz; /ws is a WebSocket echo. */
#include "cli/cli.h"
#include "core/err.h"
#include "core/log.h"
#include "core/signals.h"
#include "http/forward.h"
#include "http/server.h"
#include "tools/app_ws.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage[] =
    "usage: crossgate app --listen ADDR:PORT --cluster NAME [--name productpage]\n"
    "\n"
    "The demo upstream: 200 with body \"NAME from CLUSTER\\n\" and header\n"
    "x-app-cluster: CLUSTER on every path; /healthz answers ok; /ws is a WebSocket echo.\n";

typedef struct app {
    const char *cluster, *name;
} app_t;

static void handle(cg_httpd_t *srv, const cg_httpd_req_t *req, cg_httpd_resp_t *resp)
{
    app_t *a = srv->data;
    cg_buf_printf(&resp->headers, "x-app-cluster: %s\r\n", a->cluster);
    cg_iov_t rid = cg_httpd_header(req, "x-request-id");
    if (rid.len) cg_buf_printf(&resp->headers, "x-request-id: %.*s\r\n", (int)rid.len, rid.base);
    if (cg_iov_eq(req->path, CG_IOV_LIT("/ws")) && cg_http_is_websocket(req->head, req->base)) {
        /* the WebSocket echo: the connection leaves the HTTP server */
        cg_iov_t key = cg_httpd_header(req, "sec-websocket-key");
        char accept[29];
        if (cg_tools_ws_accept_key(key.base, key.len, accept) == 0) {
            cg_buf_t after = {0};
            int fd = cg_httpd_takeover(req, &after);
            cg_tools_ws_start(srv->loop, fd, accept, &after);
            cg_buf_free(&after);
            return;
        }
        resp->status = 400;
        cg_buf_append_str(&resp->body, "bad websocket key\n");
        return;
    }
    if (cg_iov_eq(req->path, CG_IOV_LIT("/healthz"))) {
        cg_buf_append_str(&resp->body, "ok\n");
        return;
    }
    /* echo the request body size so tests can check what arrived */
    cg_buf_printf(&resp->headers, "x-app-body-bytes: %zu\r\n", req->body.len);
    cg_buf_printf(&resp->body, "%s from %s\n", a->name, a->cluster);
}

static void on_signal(cg_loop_t *loop, int signo)
{
    cg_loop_stop(loop);
}

int cg_cli_app(int argc, char **argv)
{
    static const struct option opts[] = {
        {"listen", required_argument, 0, 'l'},
        {"cluster", required_argument, 0, 'c'},
        {"name", required_argument, 0, 'n'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *listen = NULL;
    app_t a = {.name = "productpage"};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'l': listen = optarg; break;
        case 'c': a.cluster = optarg; break;
        case 'n': a.name = optarg; break;
        case 'h': fputs(usage, stdout); return 0;
        default: fputs(usage, stderr); return 2;
        }
    }
    if (!listen || !a.cluster) {
        fprintf(stderr, "crossgate app: --listen and --cluster are required\n");
        return 2;
    }
    cg_loop_t loop;
    cg_signals_t signals = {0};
    static const int stop_signals[] = {SIGINT, SIGTERM};
    cg_httpd_t srv = {.max_body = 64 * 1024 * 1024};
    cg_loop_init(&loop);
    cg_signals_start(&signals, &loop, stop_signals, 2, on_signal);
    int r = cg_httpd_start(&srv, &loop, listen, handle, &a);
    if (r) {
        fprintf(stderr, "crossgate app: cannot listen on %s: %s\n", listen, cg_strerror(r));
        cg_signals_stop(&signals, &loop);
        cg_loop_destroy(&loop);
        return 1;
    }
    cg_log_info("app %s for cluster %s listening on %s", a.name, a.cluster, listen);
    cg_loop_run(&loop);
    cg_httpd_stop(&srv);
    cg_loop_run_once(&loop, 0);
    cg_signals_stop(&signals, &loop);
    cg_loop_destroy(&loop);
    return 0;
}
