/* `crossgate demo`: the guide in one command. Starts the control plane, the edge gateway and two
 * workload clusters (an ingress gateway and a productpage app each) as child processes on the
 * addresses of examples/, applies examples/, drives open-loop traffic through the edge and shows
 * where it goes; keys, or --scenario, provoke the guide's failures. */
#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/list.h"
#include "core/sock.h"
#include "http/client.h"
#include "model/yaml.h"
#include "tools/demo.h"
#include "cli/ctl.h"
#include "tools/demo_state.h"
#include "tools/load.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: crossgate demo [--dir DIR] [--rate RPS] [--examples DIR]\n"
    "       crossgate demo --scenario NAME [--report DIR] [--dir DIR] [--rate RPS]\n"
    "\n"
    "Runs the guide on this machine: the control plane, the edge gateway (cluster-edge,\n"
    "region-1) on 127.0.0.1:8080, and cluster-1 (region-1) and cluster-2 (region-2), each an\n"
    "ingress gateway and a productpage app, as child processes on the addresses of examples/;\n"
    "applies examples/ and sends open-loop traffic through the edge. Try:\n"
    "  curl --connect-to bookinfo.tse.tetratelabs.io:80:127.0.0.1:8080 \\\n"
    "       http://bookinfo.tse.tetratelabs.io/productpage\n"
    "\n"
    "On a terminal it shows a live view, and keys provoke the guide's failures (q quits).\n"
    "Without one it prints a line per second until SIGINT or SIGTERM. Either way every child\n"
    "process is stopped on the way out; their logs stay in the run directory.\n"
    "\n"
    "  --scenario NAME  run one failure test under load, write DIR/report.json and\n"
    "                   DIR/report.svg and exit (scenarios below)\n"
    "  --report DIR     where the scenario's report goes (default RUN_DIR/report)\n"
    "  --dir DIR        run directory for logs and state (default a new /tmp/crossgate-demo-*)\n"
    "  --rate RPS       requests per second through the edge (default 200)\n"
    "  --examples DIR   the guide's resource files (default: examples/ of the source tree)\n"
    "\n"
    "Scenarios (failure at 3 s, restore at 8 s, end at 14 s):\n";

/* ---------------------------------------------------------------------------------------
 * The layout: what runs where (the addresses of examples/)
 * --------------------------------------------------------------------------------------- */

proc_t cg_tools__demo_procs[NPROCS] = {
    [P_CONTROL] = {.name = "control",
                   .role = "control plane",
                   .kind = K_CONTROL,
                   .cluster = "-",
                   .region = "-",
                   .address = "127.0.0.1",
                   .listen = CONTROL_LISTEN},
    [P_APP1] = {.name = "app-1",
                .role = "productpage",
                .kind = K_APP,
                .cluster = "cluster-1",
                .region = "region-1",
                .address = "127.0.1.10",
                .listen = "127.0.1.10:9080"},
    [P_APP2] = {.name = "app-2",
                .role = "productpage",
                .kind = K_APP,
                .cluster = "cluster-2",
                .region = "region-2",
                .address = "127.0.2.10",
                .listen = "127.0.2.10:9080"},
    [P_IN1] = {.name = "ingress-1",
               .role = "ingress gateway",
               .kind = K_INGRESS,
               .cluster = "cluster-1",
               .region = "region-1",
               .ns = "bookinfo",
               .label = "app=ingressgw-1",
               .address = "127.0.1.1",
               .listen = "127.0.1.1:8080",
               .admin = "127.0.1.1:15000",
               .workers = 1},
    [P_IN2] = {.name = "ingress-2",
               .role = "ingress gateway",
               .kind = K_INGRESS,
               .cluster = "cluster-2",
               .region = "region-2",
               .ns = "bookinfo",
               .label = "app=ingressgw-2",
               .address = "127.0.2.1",
               .listen = "127.0.2.1:8080",
               .admin = "127.0.2.1:15000",
               .workers = 1},
    [P_EDGE] = {.name = "edge",
                .role = "edge gateway",
                .kind = K_EDGE,
                .cluster = "cluster-edge",
                .region = EDGE_REGION,
                .ns = "edge",
                .label = "app=edgegw",
                .address = EDGE_IP,
                .listen = EDGE_LISTEN,
                .admin = EDGE_ADMIN,
                .workers = 2},
};

/* The base resources, applied in this order before the edge Gateway. */
static const char *const base_files[] = {
    "cluster-1.yaml",          "cluster-2.yaml",     "cluster-edge.yaml",
    "productpage-1.yaml",      "productpage-2.yaml", "bookinfo-ingress-1.yaml",
    "bookinfo-ingress-2.yaml",
};

/* ---------------------------------------------------------------------------------------
 * Scenarios
 * --------------------------------------------------------------------------------------- */

typedef struct scenario {
    const char *name, *summary;
    const char *edge_file;  /* an examples/ file for the edge Gateway, or NULL: */
    const char *edge_extra; /* bookinfo-edge.yaml with these lines added to its http server */
    const char *down;       /* the cluster the failure hits */
    void (*provoke)(char *what, size_t cap);
    void (*restore)(char *what, size_t cap);
    const char *settings;
} scenario_t;

static void remove_gateway(char *what, size_t cap);
static void apply_gateway(char *what, size_t cap);
static void kill_ingress1(char *what, size_t cap);
static void start_ingress1(char *what, size_t cap);
static void kill_app1(char *what, size_t cap);
static void start_app1(char *what, size_t cap);
static void hang_ingress1(char *what, size_t cap);
static void resume_ingress1(char *what, size_t cap);
static void kill_ingress2(char *what, size_t cap);
static void start_ingress2(char *what, size_t cap);
static void kill_region(char *what, size_t cap);
static void start_region(char *what, size_t cap);

static const scenario_t scenarios[] = {
    {"remove-gateway", "delete the Gateway bookinfo-ingress-1 on the control plane; apply it again",
     "bookinfo-edge.yaml", NULL, "cluster-1", remove_gateway, apply_gateway,
     "examples/bookinfo-edge.yaml as it is (auto). The control plane drops ingress-1 from the "
     "edge's snapshot when its Gateway is deleted and adds it back on apply: no health check or "
     "outlier detection decides here."},
    {"scale-ingress", "SIGKILL ingress-1 (scaled to 0 replicas); start it again",
     "bookinfo-edge.yaml", NULL, "cluster-1", kill_ingress1, start_ingress1,
     "examples/bookinfo-edge.yaml as it is (auto, defaults: ejection after 3 gateway errors for "
     "5 s, then 10 s, ... up to 30 s; health checks every 1 s, 2 failures: unhealthy, 1 success: "
     "healthy). Requests to the dead ingress fail to connect and are retried on cluster-2 at "
     "once. The 5 s ejection is over by the restart at 8 s, so the first successful health "
     "check brings ingress-1 back."},
    {"scale-upstream", "SIGKILL app-1 (productpage scaled to 0); start it again", NULL,
     "      outlierDetection: {baseEjectionTime: 1s, maxEjectionTime: 3s}\n", "cluster-1",
     kill_app1, start_app1,
     "auto with outlierDetection {baseEjectionTime: 1s, maxEjectionTime: 3s}. ingress-1 stays up "
     "and passes its health checks, so only outlier detection decides: its 503s eject it, and "
     "when an ejection ends one real request probes it (retried on cluster-2 if it fails). "
     "Ejections of 1, 2, 3, 3 s end at about 4, 6, 9 s, so the probe after the restart at 8 s "
     "comes at about 9 s. With the defaults (5 s, then 10 s) the probe at about 8 s would race "
     "the restart and the next one would come at about 18 s, after the run."},
    {"hang-ingress", "SIGSTOP ingress-1 (accepts, never answers); SIGCONT", NULL,
     "      retries: {perTryTimeout: 500ms}\n", "cluster-1", hang_ingress1, resume_ingress1,
     "auto with retries {perTryTimeout: 500ms}: a request stuck on the hung ingress is retried on "
     "cluster-2 after 500 ms instead of waiting for the 15 s route timeout. Otherwise defaults: "
     "outlier detection ejects ingress-1 after 3 timeouts, health checks (timeout 1 s) mark it "
     "unhealthy after 2 failures and healthy again at the first answer after SIGCONT."},
    {"weighted-canary", "edge-weighted.yaml (50/50), then SIGKILL ingress-2; start it again",
     "edge-weighted.yaml", NULL, "cluster-2", kill_ingress2, start_ingress2,
     "examples/edge-weighted.yaml (cluster-1: 50, cluster-2: 50): a strict split without health "
     "checks or failover, so cluster-2's half is answered 503 while its ingress is down, as the "
     "guide says."},
    {"region-down", "SIGKILL every region-1 workload process (ingress-1, app-1); start them again",
     "bookinfo-edge.yaml", NULL, "cluster-1", kill_region, start_region,
     "examples/bookinfo-edge.yaml as it is (auto, defaults). The edge's own region has no "
     "working cluster left, so priority 1 (region-2) takes all the traffic; health checks bring "
     "cluster-1 back after the restart."},
};

/* ---------------------------------------------------------------------------------------
 * State and events
 * --------------------------------------------------------------------------------------- */

demo_t cg_tools__demo;

/* Seconds since time zero (before the load starts: 0). */
double cg_tools__demo_now(void)
{
    return D.t0_mono ? ((double)cg_clock_mono_us() - (double)D.t0_mono) / 1e6 : 0;
}

void cg_tools__demo_out(const char *s, int print)
{
    if (print && !D.live) {
        fputs(s, stdout);
        fputc('\n', stdout);
        fflush(stdout);
    }
    if (D.demo_log) {
        fputs(s, D.demo_log);
        fputc('\n', D.demo_log);
        fflush(D.demo_log);
    }
}

void cg_tools__demo_event(double t, const char *who, int print, const char *fmt, ...)
{
    cg_demo_event_t e = {.t = D.started ? t : SETUP_T};
    print = print && !D.finished; /* after the run: the shut-down goes to demo.log only */
    snprintf(e.who, sizeof(e.who), "%s", who);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.text, sizeof(e.text), fmt, ap);
    va_end(ap);
    if (D.nshown == MAX_EVENTS) {
        memmove(D.shown, D.shown + 1, (MAX_EVENTS - 1) * sizeof(D.shown[0]));
        D.nshown--;
    }
    D.shown[D.nshown++] = e;
    if (D.sc && D.started && D.events.len < MAX_REPORT_EVENTS) cg_vec_push(&D.events, e);
    char line[400];
    if (D.started)
        snprintf(line, sizeof(line), "  [%6.1fs] %-9s %s", t, e.who, e.text);
    else
        snprintf(line, sizeof(line), "  [ set-up] %-9s %s", e.who, e.text);
    cg_tools__demo_out(line, print);
    cg_tools__demo_draw();
}

/* ---------------------------------------------------------------------------------------
 * Signals (set-up and shut-down poll them; the live run watches the signalfd on its loop)
 * --------------------------------------------------------------------------------------- */

static void take_signals(void)
{
    struct signalfd_siginfo si;
    while (read(D.sigfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD)
            cg_tools__demo_reap();
        else if (si.ssi_signo == SIGWINCH)
            cg_tools__demo_draw();
        else
            D.interrupted = (int)si.ssi_signo;
    }
}

static void on_signal(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    take_signals();
}

/* ---------------------------------------------------------------------------------------
 * Talking to the children: the control API, admin endpoints, a request through the edge
 * --------------------------------------------------------------------------------------- */

static int read_file(const char *path, cg_buf_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    char tmp[8192];
    ssize_t n;
    while ((n = read(fd, tmp, sizeof(tmp))) > 0) cg_buf_append(out, tmp, (size_t)n);
    close(fd);
    return n < 0 ? -1 : 0;
}

/* "Gateway bookinfo-ingress-1 deleted, revision 9" from an apply/delete answer. */
static void describe_results(const cg_buf_t *body, char *out, size_t cap)
{
    cg_ystream_t ys = {0};
    cg_buf_t err = {0};
    size_t n = 0;
    out[0] = '\0';
    if (cg_model_yaml_parse("answer", body->base ? body->base : "", body->len, 1, &ys, &err) == 0 &&
        ys.ndocs == 1 && ys.docs[0].root && ys.docs[0].root->kind == CG_YNODE_MAP) {
        cg_ynode_t *res = cg_ynode_get(ys.docs[0].root, "results");
        for (size_t i = 0; res && res->kind == CG_YNODE_SEQ && i < res->n && n < cap; i++) {
            cg_ynode_t *kind = cg_ynode_get(res->items[i], "kind"),
                       *name = cg_ynode_get(res->items[i], "name"),
                       *act = cg_ynode_get(res->items[i], "action");
            if (!kind || !name || !act || kind->kind != CG_YNODE_SCALAR ||
                name->kind != CG_YNODE_SCALAR || act->kind != CG_YNODE_SCALAR)
                continue;
            n += (size_t)snprintf(out + n, cap - n, "%s%s %s %s", n ? ", " : "", kind->text,
                                  name->text, act->text);
        }
        cg_ynode_t *rev = cg_ynode_get(ys.docs[0].root, "revision");
        if (rev && rev->kind == CG_YNODE_SCALAR && n < cap)
            snprintf(out + n, cap - n, " (revision %s)", rev->text);
    }
    cg_ystream_free(&ys);
    cg_buf_free(&err);
}

/* Set-up: POST /v1/apply with one file, waiting for the answer. */
static int apply_now(const char *path)
{
    cg_buf_t body = {0}, hdr = {0};
    cg_http_result_t res = {0};
    int rc = -1;
    if (read_file(path, &body)) {
        fprintf(stderr, "crossgate demo: cannot read %s: %s\n", path, strerror(errno));
        goto Exit;
    }
    cg_buf_printf(&hdr, "x-crossgate-filename: %s\r\ncontent-type: application/yaml\r\n%s%c", path,
                  D.auth, 0);
    cg_http_fetch("POST", CONTROL_URL "/v1/apply", hdr.base, body.base ? body.base : "", body.len,
                  5000, &res);
    if (res.err || res.status != 200) {
        fprintf(stderr, "crossgate demo: applying %s failed: %s%.*s\n", path,
                res.err ? cg_strerror(res.err) : "",
                res.err ? 0
                        : (int)(res.body.len && res.body.base[res.body.len - 1] == '\n'
                                    ? res.body.len - 1
                                    : res.body.len),
                res.body.base ? res.body.base : "");
        goto Exit;
    }
    char what[300];
    describe_results(&res.body, what, sizeof(what));
    EVENT("control", "applied %s: %s", strrchr(path, '/') ? strrchr(path, '/') + 1 : path, what);
    rc = 0;
Exit:
    cg_http_result_free(&res);
    cg_buf_free(&body);
    cg_buf_free(&hdr);
    return rc;
}

/* A control API request in flight; owned by the calls list until its answer. */
typedef struct api_call {
    cg_list_t link;
    cg_http_client_t *c;
    char what[120];
    int gw1; /* -1: not about bookinfo-ingress-1; 0/1: deleted/applied on success */
    char mode[16];
} api_call_t;

static cg_list_t calls = {&calls, &calls};

/* Abandons the requests still in flight (on the way out). */
static void api_cancel_all(void)
{
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &calls)
    {
        api_call_t *a = cg_container_of(pos, api_call_t, link);
        cg_list_unlink(&a->link);
        cg_http_client_cancel(a->c);
        free(a);
    }
}

static void on_api(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    api_call_t *a = data;
    char what[300];
    cg_list_unlink(&a->link);
    if (res->err) {
        EVENT("control", "%s: %s", a->what, cg_strerror(res->err));
    } else if (res->status != 200) {
        int n = (int)res->body.len;
        while (n > 0 && res->body.base[n - 1] == '\n') n--;
        EVENT("control", "%s: HTTP %d %.*s", a->what, res->status, n > 160 ? 160 : n,
              res->body.base ? res->body.base : "");
    } else {
        describe_results(&res->body, what, sizeof(what));
        EVENT("control", "%s", what);
        if (a->gw1 >= 0) D.gw1_deleted = !a->gw1;
        if (a->mode[0]) snprintf(D.edge_mode, sizeof(D.edge_mode), "%s", a->mode);
    }
    free(a);
    cg_tools__demo_draw();
}

/* Live: sends examples/FILE to /v1/apply or /v1/delete without waiting (the answer becomes an
 * event). */
static void api_send(const char *verb, const char *file, int gw1, const char *mode)
{
    char path[PATH_MAX + 64];
    cg_buf_t body = {0}, hdr = {0};
    snprintf(path, sizeof(path), "%s/%s", D.examples, file);
    if (read_file(path, &body)) {
        EVENT("demo", "cannot read %s: %s", path, strerror(errno));
        cg_buf_free(&body);
        return;
    }
    api_call_t *a = cg_xcalloc(1, sizeof(*a));
    snprintf(a->what, sizeof(a->what), "%s %s", verb, file);
    a->gw1 = gw1;
    snprintf(a->mode, sizeof(a->mode), "%s", mode ? mode : "");
    cg_buf_printf(&hdr, "x-crossgate-filename: %s\r\ncontent-type: application/yaml\r\n%s%c", path,
                  D.auth, 0);
    const char *url = !strcmp(verb, "delete") ? CONTROL_URL "/v1/delete" : CONTROL_URL "/v1/apply";
    a->c = cg_http_client_start(&D.loop, "POST", url, hdr.base, body.base ? body.base : "",
                                body.len, 5000, on_api, a);
    if (a->c) {
        cg_list_insert_tail(&calls, &a->link);
    } else {
        EVENT("control", "%s: cannot reach the control plane", a->what);
        free(a);
    }
    cg_buf_free(&body);
    cg_buf_free(&hdr);
}

static int http_ok(const char *url)
{
    cg_http_result_t res = {0};
    cg_http_fetch("GET", url, NULL, NULL, 0, 500, &res);
    int ok = !res.err && res.status == 200;
    cg_http_result_free(&res);
    return ok;
}

/* One GET /productpage through the edge with the guide's Host; the status, and the answering
 * cluster in `cluster`. -1 when there was no answer. */
static int edge_request(char *cluster, size_t cap)
{
    cg_addr_t a;
    cluster[0] = '\0';
    if (cg_addr_parse(&a, EDGE_LISTEN)) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    static const char req[] = "GET /productpage HTTP/1.1\r\nHost: " HOSTNAME
                              "\r\nUser-Agent: crossgate-demo\r\nConnection: close\r\n\r\n";
    char buf[4096];
    size_t len = 0;
    int status = -1;
    if (connect(fd, &a.u.sa, a.len) == 0 && write(fd, req, sizeof(req) - 1) == sizeof(req) - 1) {
        ssize_t n;
        while (len < sizeof(buf) - 1 && (n = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
            len += (size_t)n;
        buf[len] = '\0';
        if (len > 12 && !strncmp(buf, "HTTP/1.", 7)) status = atoi(buf + 9);
        for (char *h = strstr(buf, "\r\n"); h && h[2] != '\r'; h = strstr(h + 2, "\r\n")) {
            if (strncasecmp(h + 2, "x-app-cluster:", 14)) continue;
            char *v = h + 16, *e = strstr(v, "\r\n");
            while (*v == ' ') v++;
            snprintf(cluster, cap, "%.*s", e ? (int)(e - v) : 0, v);
            break;
        }
    }
    close(fd);
    return status;
}

static void on_tail(cg_loop_t *loop, cg_timer_t *t)
{
    cg_tools__demo_tail_logs();
    cg_timer_start(loop, t, TAIL_MS, on_tail);
}

/* ---------------------------------------------------------------------------------------
 * Actions (keys and scenarios)
 * --------------------------------------------------------------------------------------- */

static void act_kill(proc_t *p, char *what, size_t cap)
{
    if (!p->pid) {
        snprintf(what, cap, "%s is not running", p->name);
        EVENT("demo", "%s", what);
        return;
    }
    pid_t pid = p->pid;
    cg_tools__demo_proc_kill(p);
    snprintf(what, cap, "SIGKILL %s (pid %d)", p->name, (int)pid);
    EVENT("demo", "%s", what);
}

static void act_start(proc_t *p, char *what, size_t cap)
{
    if (p->pid) {
        snprintf(what, cap, "%s is already running", p->name);
        EVENT("demo", "%s", what);
        return;
    }
    if (cg_tools__demo_proc_start(p) == 0) {
        snprintf(what, cap, "start %s again (pid %d)", p->name, (int)p->pid);
        EVENT("demo", "%s", what);
    } else {
        snprintf(what, cap, "cannot start %s", p->name);
    }
}

static void act_freeze(proc_t *p, int on, char *what, size_t cap)
{
    if (!p->pid) {
        snprintf(what, cap, "%s is not running", p->name);
        EVENT("demo", "%s", what);
        return;
    }
    cg_tools__demo_proc_signal(p, on ? SIGSTOP : SIGCONT);
    p->frozen = on;
    snprintf(what, cap, "%s %s (pid %d)", on ? "SIGSTOP" : "SIGCONT", p->name, (int)p->pid);
    EVENT("demo", "%s%s", what, on ? ": it accepts connections and never answers" : "");
}

static void remove_gateway(char *what, size_t cap)
{
    snprintf(what, cap, "crossgate delete -f bookinfo-ingress-1.yaml");
    EVENT("demo", "%s", what);
    api_send("delete", "bookinfo-ingress-1.yaml", 0, NULL);
}

static void apply_gateway(char *what, size_t cap)
{
    snprintf(what, cap, "crossgate apply -f bookinfo-ingress-1.yaml");
    EVENT("demo", "%s", what);
    api_send("apply", "bookinfo-ingress-1.yaml", 1, NULL);
}

static void kill_ingress1(char *what, size_t cap)
{
    act_kill(&procs[P_IN1], what, cap);
}
static void start_ingress1(char *what, size_t cap)
{
    act_start(&procs[P_IN1], what, cap);
}
static void kill_app1(char *what, size_t cap)
{
    act_kill(&procs[P_APP1], what, cap);
}
static void start_app1(char *what, size_t cap)
{
    act_start(&procs[P_APP1], what, cap);
}
static void hang_ingress1(char *what, size_t cap)
{
    act_freeze(&procs[P_IN1], 1, what, cap);
}
static void resume_ingress1(char *what, size_t cap)
{
    act_freeze(&procs[P_IN1], 0, what, cap);
}
static void kill_ingress2(char *what, size_t cap)
{
    act_kill(&procs[P_IN2], what, cap);
}
static void start_ingress2(char *what, size_t cap)
{
    act_start(&procs[P_IN2], what, cap);
}

/* The workload processes of the edge's own region: ingress gateways and apps. */
static void region_each(int start, char *what, size_t cap)
{
    size_t n = 0;
    char one[160];
    what[0] = '\0';
    /* apps first on the way up, ingresses first on the way down */
    static const int down[] = {P_IN1, P_IN2, P_APP1, P_APP2}, up[] = {P_APP1, P_APP2, P_IN1, P_IN2};
    for (int i = 0; i < 4; i++) {
        proc_t *p = &procs[start ? up[i] : down[i]];
        if (strcmp(p->region, EDGE_REGION) != 0) continue;
        if (start)
            act_start(p, one, sizeof(one));
        else
            act_kill(p, one, sizeof(one));
        if (n < cap) n += (size_t)snprintf(what + n, cap - n, "%s%s", n ? ", " : "", one);
    }
}

static void kill_region(char *what, size_t cap)
{
    region_each(0, what, cap);
}
static void start_region(char *what, size_t cap)
{
    region_each(1, what, cap);
}

/* Back to the start: every process running and answering, ingress-1's Gateway applied, the
 * edge on auto. */
static void restore_all(void)
{
    char what[200];
    for (int i = 0; i < NPROCS; i++) {
        proc_t *p = &procs[i];
        if (p->frozen) act_freeze(p, 0, what, sizeof(what));
        if (!p->pid) act_start(p, what, sizeof(what));
    }
    if (D.gw1_deleted) apply_gateway(what, sizeof(what));
    if (strcmp(D.edge_mode, "auto") != 0) api_send("apply", "bookinfo-edge.yaml", -1, "auto");
}

static void on_key(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    char keys[32], what[200];
    ssize_t n = read(STDIN_FILENO, keys, sizeof(keys));
    if (n <= 0) { /* the terminal went away */
        cg_io_stop(loop, io);
        D.keys = 0;
        return;
    }
    for (ssize_t i = 0; i < n; i++) {
        proc_t *in1 = &procs[P_IN1], *in2 = &procs[P_IN2];
        switch (keys[i]) {
        case 'q':
        case 'Q': D.done = 1; break;
        case 'g': (D.gw1_deleted ? apply_gateway : remove_gateway)(what, sizeof(what)); break;
        case 'k': (in1->pid ? act_kill : act_start)(in1, what, sizeof(what)); break;
        case 'K': (in2->pid ? act_kill : act_start)(in2, what, sizeof(what)); break;
        case 'u':
            (procs[P_APP1].pid ? act_kill : act_start)(&procs[P_APP1], what, sizeof(what));
            break;
        case 'U':
            (procs[P_APP2].pid ? act_kill : act_start)(&procs[P_APP2], what, sizeof(what));
            break;
        case 'h': act_freeze(in1, !in1->frozen, what, sizeof(what)); break;
        case 'H': act_freeze(in2, !in2->frozen, what, sizeof(what)); break;
        case 'a':
            EVENT("demo", "crossgate apply -f bookinfo-edge.yaml (auto)");
            api_send("apply", "bookinfo-edge.yaml", -1, "auto");
            break;
        case 'n':
            EVENT("demo", "crossgate apply -f edge-named.yaml (named)");
            api_send("apply", "edge-named.yaml", -1, "named");
            break;
        case 'w':
            EVENT("demo", "crossgate apply -f edge-weighted.yaml (weighted 50/50)");
            api_send("apply", "edge-weighted.yaml", -1, "weighted");
            break;
        case 'r': restore_all(); break;
        case '\f': cg_tools__demo_draw(); break;
        default: break;
        }
    }
    cg_tools__demo_draw();
}

static void on_bucket(void *data, const cg_load_window_t *w)
{
    if (D.sc) cg_tools_demo_series_add(&D.series, w);
}

static void on_load_end(void *data)
{
    D.done = 1;
}
/* ---------------------------------------------------------------------------------------
 * Set-up
 * --------------------------------------------------------------------------------------- */

/* Polls ok() until it holds, watching signals and the children. 0, or 1 after printing why. */
static int wait_for(const char *what, proc_t *p, int timeout_ms, int (*ok)(void *), void *arg)
{
    uint64_t end = cg_clock_mono_us() + (uint64_t)timeout_ms * 1000;
    for (;;) {
        take_signals();
        cg_tools__demo_tail_logs();
        if (D.interrupted) return 1;
        for (int i = 0; i < NPROCS; i++) {
            if (!procs[i].exited) continue;
            char why[64];
            cg_tools__demo_describe_status(procs[i].wstatus, why, sizeof(why));
            fprintf(stderr, "crossgate demo: %s exited during start-up (%s); see %s\n",
                    procs[i].name, why, procs[i].log);
            return 1;
        }
        if (ok(arg)) return 0;
        if (cg_clock_mono_us() > end) {
            fprintf(stderr, "crossgate demo: timed out waiting for %s; see %s\n", what, p->log);
            return 1;
        }
        usleep(50000);
    }
}

static int url_ready(void *arg)
{
    return http_ok(arg);
}

static int edge_ready(void *arg)
{
    const char *want = arg;
    edge_view_t v;
    char cluster[64];
    if (!cg_tools__demo_edge_view_now(&v) || v.nep < 2) return 0;
    if (strcmp(v.mode, "weighted") != 0)
        for (unsigned i = 0; i < v.nep; i++)
            if (strcmp(v.ep[i].health, "healthy") != 0) return 0;
    if (edge_request(cluster, sizeof(cluster)) != 200) return 0;
    return !want || !strcmp(cluster, want);
}

static int mkdirs(const char *path)
{
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof(tmp), "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(tmp, 0755) && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(tmp, 0755) && errno != EEXIST ? -1 : 0;
}

/* The run directory, fresh state in it, and the log paths. */
static int make_run_dir(void)
{
    if (D.dir_opt) {
        char real[PATH_MAX];
        if (strlen(D.dir_opt) >= RUN_MAX || mkdirs(D.dir_opt)) {
            fprintf(stderr, "crossgate demo: cannot create %s: %s\n", D.dir_opt,
                    strlen(D.dir_opt) >= RUN_MAX ? "name too long" : strerror(errno));
            return 1;
        }
        if (!realpath(D.dir_opt, real) || strlen(real) >= RUN_MAX)
            snprintf(real, sizeof(real), "%s", D.dir_opt);
        memcpy(D.run, real, strlen(real) + 1); /* shorter than RUN_MAX: checked above */
    } else {
        snprintf(D.run, sizeof(D.run), "/tmp/crossgate-demo-XXXXXX");
        if (!mkdtemp(D.run)) {
            fprintf(stderr, "crossgate demo: cannot create a run directory in /tmp: %s\n",
                    strerror(errno));
            return 1;
        }
    }
    char path[PATH_MAX + 128];
    /* a reused directory: the control plane's store and the snapshot caches start empty */
    static const char *const db[] = {"crossgate.db", "crossgate.db-wal", "crossgate.db-shm"};
    for (size_t i = 0; i < sizeof(db) / sizeof(db[0]); i++) {
        snprintf(path, sizeof(path), "%s/control-data/%s", D.run, db[i]);
        unlink(path);
    }
    for (int i = 0; i < NPROCS; i++) {
        proc_t *p = &procs[i];
        snprintf(p->log, sizeof(p->log), "%s/%s.log", D.run, p->name);
        p->logfd = -1;
        if (p->kind == K_INGRESS || p->kind == K_EDGE) {
            snprintf(path, sizeof(path), "%s/cache/%s/snapshot-%s-%s.json", D.run, p->name,
                     p->cluster, p->address);
            unlink(path);
        }
    }
    snprintf(path, sizeof(path), "%s/cache", D.run);
    mkdir(path, 0755); /* each gateway makes its own directory in it */
    snprintf(path, sizeof(path), "%s/demo.log", D.run);
    D.demo_log = fopen(path, "w");
    if (!D.demo_log) {
        fprintf(stderr, "crossgate demo: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    return 0;
}

/* Writes the scenario's edge Gateway: bookinfo-edge.yaml with extra lines in its http server. */
static int write_edge_variant(void)
{
    snprintf(D.edge_file, sizeof(D.edge_file), "%s/edge-%s.yaml", D.run, D.sc->name);
    FILE *f = fopen(D.edge_file, "w");
    if (!f) {
        fprintf(stderr, "crossgate demo: cannot write %s: %s\n", D.edge_file, strerror(errno));
        return 1;
    }
    fprintf(f,
            "# examples/bookinfo-edge.yaml with the settings of scenario %s (crossgate demo)\n"
            "apiVersion: gateway.tsb.tetrate.io/v2\n"
            "kind: Gateway\n"
            "metadata:\n"
            "  organization: tse\n"
            "  tenant: tse\n"
            "  workspace: edge-ws\n"
            "  group: edge-gwgroup\n"
            "  name: bookinfo-edge\n"
            "spec:\n"
            "  workloadSelector:\n"
            "    namespace: edge\n"
            "    labels:\n"
            "      app: edgegw\n"
            "  http:\n"
            "    - name: bookinfo\n"
            "      port: %d\n"
            "      hostname: " HOSTNAME "\n"
            "      routing:\n"
            "        rules:\n"
            "          - route:\n"
            "              clusterDestination: {}\n"
            "%s",
            D.sc->name, EDGE_PORT, D.sc->edge_extra);
    return fclose(f) ? 1 : 0;
}

static void print_table(void)
{
    char pid[16];
    printf("\n%-16s %-13s %-9s %-16s %-16s %-7s %s\n", "ROLE", "CLUSTER", "REGION", "ADDRESS",
           "ADMIN", "PID", "LOG");
    for (int i = 0; i < NPROCS; i++) {
        const proc_t *p = &procs[i];
        snprintf(pid, sizeof(pid), "%d", (int)p->pid);
        printf("%-16s %-13s %-9s %-16s %-16s %-7s %s\n", p->role, p->cluster, p->region, p->listen,
               p->admin ? p->admin : "-", pid, p->log);
    }
    printf("\nrun dir %s (demo.log: what this shows; *.access.log: the gateways' access logs)\n"
           "try: curl --connect-to %s:80:%s http://%s/productpage\n\n",
           D.run, HOSTNAME, EDGE_LISTEN, HOSTNAME);
    fflush(stdout);
}

/* Starts everything and waits until traffic through the edge reaches the expected cluster. */
static int setup(void)
{
    char path[PATH_MAX + 64];
    if (D.sc && D.sc->edge_extra) {
        if (write_edge_variant()) return 1;
    } else {
        snprintf(D.edge_file, sizeof(D.edge_file), "%s/%s", D.examples,
                 D.sc ? D.sc->edge_file : "bookinfo-edge.yaml");
    }
    snprintf(D.edge_mode, sizeof(D.edge_mode), "%s",
             D.sc && !strcmp(D.sc->name, "weighted-canary") ? "weighted" : "auto");
    printf("crossgate demo: starting in %s\n", D.run);
    fflush(stdout);

    proc_t *ctl = &procs[P_CONTROL];
    if (cg_tools__demo_proc_start(ctl)) return 1;
    if (wait_for("the control plane", ctl, 10000, url_ready, CONTROL_URL "/ready")) return 1;
    /* the control plane made its admin credential on first start: the demo's own calls and
     * every gateway it starts (they inherit the environment) use it */
    snprintf(path, sizeof(path), "%s/control-data/admin.token", D.run);
    const char *tok = cg_cli_credential(path);
    if (!tok) {
        fprintf(stderr, "crossgate demo: cannot read the control plane's credential %s\n", path);
        return 1;
    }
    snprintf(D.auth, sizeof(D.auth), "authorization: Bearer %.120s\r\n", tok);
    setenv("CROSSGATE_TOKEN", tok, 1);
    for (size_t i = 0; i < sizeof(base_files) / sizeof(base_files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", D.examples, base_files[i]);
        if (apply_now(path)) return 1;
    }
    if (apply_now(D.edge_file)) return 1;

    static const int order[] = {P_APP1, P_APP2, P_IN1, P_IN2, P_EDGE};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (cg_tools__demo_proc_start(&procs[order[i]])) return 1;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        proc_t *p = &procs[order[i]];
        char url[128], what[64];
        if (p->kind == K_APP)
            snprintf(url, sizeof(url), "http://%s/healthz", p->listen);
        else
            snprintf(url, sizeof(url), "http://%s/ready", p->admin);
        snprintf(what, sizeof(what), "%s on %s", p->name, p->kind == K_APP ? p->listen : p->admin);
        if (wait_for(what, p, 10000, url_ready, url)) return 1;
    }
    /* ready: both ingresses healthy at the edge and a request answered by the cluster the
     * run starts on (cluster-1 unless the split is weighted) */
    if (wait_for("traffic through the edge at " EDGE_LISTEN, &procs[P_EDGE], 15000, edge_ready,
                 strcmp(D.edge_mode, "weighted") ? "cluster-1" : NULL))
        return 1;
    cg_tools__demo_edge_view_now(&D.ev);
    print_table();
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Runs
 * --------------------------------------------------------------------------------------- */

static void on_fail_timer(cg_loop_t *loop, cg_timer_t *t)
{
    D.failed_wall = cg_clock_wall_us();
    D.failed_at = cg_tools__demo_now();
    D.sc->provoke(D.fail_what, sizeof(D.fail_what));
}

static void on_restore_timer(cg_loop_t *loop, cg_timer_t *t)
{
    D.restored_wall = cg_clock_wall_us();
    D.restored_at = cg_tools__demo_now();
    D.sc->restore(D.restore_what, sizeof(D.restore_what));
}

static int start_load(uint64_t duration_us)
{
    char err[200];
    cg_load_opts_t o = {
        .url = "http://" EDGE_LISTEN "/productpage",
        .host = HOSTNAME,
        .rate = D.rate,
        .connections = 4,
        .max_conns = 1024,
        .duration_us = duration_us,
        .timeout_us = 20000000, /* above the 15 s route timeout: the gateways' answers count */
    };
    cg_load_hooks_t h = {
        .on_interval = cg_tools__demo_on_interval, .on_bucket = on_bucket, .on_end = on_load_end};
    D.load = cg_tools_load_new(&o, &h, err, sizeof(err));
    if (!D.load) {
        fprintf(stderr, "crossgate demo: %s\n", err);
        return 1;
    }
    cg_loop_update_time(&D.loop);
    cg_tools_load_start(D.load, &D.loop);
    D.t0_mono = cg_tools_load_start_us(D.load);
    D.t0_wall = cg_clock_wall_us() - (cg_clock_mono_us() - D.t0_mono);
    D.started = 1;
    return 0;
}

static int write_file(const char *path, const cg_buf_t *b)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    size_t n = fwrite(b->base, 1, b->len, f);
    return fclose(f) || n != b->len ? -1 : 0;
}

/* report.json and report.svg, and the figures on stdout. */
static int write_report(uint64_t end_wall)
{
    cg_demo_report_t r = {
        .scenario = D.sc->name,
        .summary = D.sc->summary,
        .failure_action = D.fail_what,
        .restore_action = D.restore_what,
        .down = D.sc->down,
        .edge_file = D.edge_file,
        .settings = D.sc->settings,
        .rate = D.rate,
        .failed_at = D.failed_at,
        .restored_at = D.restored_at,
        .start_wall_us = D.t0_wall,
        .failed_wall_us = D.failed_wall,
        .restored_wall_us = D.restored_wall,
        .end_wall_us = end_wall,
        .series = &D.series,
        .events = D.events.items,
        .nevents = D.events.len,
    };
    cg_tools_load_totals(D.load, &r.totals);
    r.duration_s = r.totals.t;
    cg_tools_demo_analyze(&D.series, D.sc->down, D.failed_at, D.restored_at, &r.a);
    if (mkdirs(D.report)) {
        fprintf(stderr, "crossgate demo: cannot create %s: %s\n", D.report, strerror(errno));
        return 1;
    }
    char path[PATH_MAX + 32], fo[32], re[32];
    cg_buf_t b = {0};
    int rc = 0;
    cg_tools_demo_report_json(&r, &b);
    snprintf(path, sizeof(path), "%s/report.json", D.report);
    if (write_file(path, &b)) {
        fprintf(stderr, "crossgate demo: cannot write %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    cg_buf_reset(&b);
    cg_tools_demo_report_svg(&r, &b);
    snprintf(path, sizeof(path), "%s/report.svg", D.report);
    if (write_file(path, &b)) {
        fprintf(stderr, "crossgate demo: cannot write %s: %s\n", path, strerror(errno));
        rc = 1;
    }
    cg_buf_free(&b);
    snprintf(fo, sizeof(fo), r.a.failover_s < 0 ? "none" : "%.1f s", r.a.failover_s);
    snprintf(re, sizeof(re), r.a.recovery_s < 0 ? "none" : "%.1f s", r.a.recovery_s);
    printf("\nscenario %s: %llu requests at %.0f/s, %llu failed; failover %s, recovery %s "
           "(the guide: failover can take up to 60 s)\n"
           "  failure at %.1f s: %s\n  restore at %.1f s: %s\n"
           "report: %s/report.json, %s/report.svg\n",
           D.sc->name, (unsigned long long)r.totals.requests, D.rate,
           (unsigned long long)r.totals.failed, fo, re, D.failed_at, D.fail_what, D.restored_at,
           D.restore_what, D.report, D.report);
    fflush(stdout);
    return rc;
}

static int run(void)
{
    cg_timer_start(&D.loop, &D.tail_timer, TAIL_MS, on_tail);
    cg_timer_start(&D.loop, &D.poll_timer, POLL_MS, cg_tools__demo_on_poll);
    if (D.keys) {
        cg_tools__demo_term_raw();
        if (D.keys) cg_io_start_level(&D.loop, &D.key_io, STDIN_FILENO, EPOLLIN, on_key);
    }
    if (!D.live) {
        if (D.sc)
            printf("scenario %s: %s\n  failure at 3 s, restore at 8 s, end at 14 s; %.0f req/s "
                   "through %s\n\n",
                   D.sc->name, D.sc->summary, D.rate, EDGE_LISTEN);
        else if (D.keys)
            printf("keys: g delete/apply bookinfo-ingress-1, k/K kill/start ingress-1/2, u/U "
                   "kill/start app-1/2,\n      h/H hang/resume ingress-1/2, a/n/w edge "
                   "auto/named/weighted, r restore all, q quit\n\n");
        else
            printf("%.0f req/s through %s; Ctrl-C (SIGINT) or SIGTERM stops everything\n\n", D.rate,
                   EDGE_LISTEN);
        fflush(stdout);
    }
    if (start_load(D.sc ? SCENARIO_END_US : 86400000000ull)) return 1;
    if (D.sc) {
        /* +1: the loop's timers count whole milliseconds from a truncated now, so this fires
         * at the time or up to 2 ms after it, never before */
        cg_timer_start(&D.loop, &D.fail_timer, SCENARIO_FAIL_MS + 1, on_fail_timer);
        cg_timer_start(&D.loop, &D.restore_timer, SCENARIO_RESTORE_MS + 1, on_restore_timer);
    }
    cg_tools__demo_draw();
    while (!D.done && !D.interrupted) cg_loop_run_once(&D.loop, -1);
    cg_tools__demo_tail_logs();
    cg_tools_load_stop(D.load);
    D.finished = 1;
    uint64_t end_wall = cg_clock_wall_us();
    cg_tools__demo_term_restore();
    if (D.interrupted && D.sc) {
        fprintf(stderr, "crossgate demo: interrupted; no report written\n");
        return 1;
    }
    if (D.sc) return write_report(end_wall);
    cg_load_window_t t;
    cg_tools_load_totals(D.load, &t);
    printf("\nstopped after %.1f s: %llu requests, %llu failed\n", t.t,
           (unsigned long long)t.requests, (unsigned long long)t.failed);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * The command
 * --------------------------------------------------------------------------------------- */

static void list_scenarios(FILE *f)
{
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        fprintf(f, "  %-16s %s\n", scenarios[i].name, scenarios[i].summary);
}

/* The examples directory: --examples, else examples/ next to the build directory of this
 * binary, else ./examples. */
static int find_examples(void)
{
    char probe[PATH_MAX + 32], dir[PATH_MAX];
    if (D.examples_opt) {
        snprintf(dir, sizeof(dir), "%s", D.examples_opt);
    } else {
        snprintf(dir, sizeof(dir), "%s", D.self);
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        snprintf(probe, sizeof(probe), "%s/../examples/bookinfo-edge.yaml", dir);
        if (access(probe, R_OK) == 0)
            strncat(dir, "/../examples", sizeof(dir) - strlen(dir) - 1);
        else
            snprintf(dir, sizeof(dir), "examples");
    }
    snprintf(probe, sizeof(probe), "%s/bookinfo-edge.yaml", dir);
    char real[PATH_MAX];
    if (access(probe, R_OK) != 0 || !realpath(dir, real) || strlen(real) >= RUN_MAX) {
        fprintf(stderr,
                "crossgate demo: no examples directory with bookinfo-edge.yaml at %s "
                "(give --examples DIR)\n",
                dir);
        return 1;
    }
    memcpy(D.examples, real, strlen(real) + 1); /* shorter than RUN_MAX: checked above */
    return 0;
}

static int parse_args(int argc, char **argv)
{
    enum { O_SCENARIO = 256, O_REPORT, O_DIR, O_RATE, O_EXAMPLES };
    static const struct option opts[] = {
        {"scenario", required_argument, 0, O_SCENARIO},
        {"report", required_argument, 0, O_REPORT},
        {"dir", required_argument, 0, O_DIR},
        {"rate", required_argument, 0, O_RATE},
        {"examples", required_argument, 0, O_EXAMPLES},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *scenario = NULL;
    int c;
    D.rate = 200;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case O_SCENARIO: scenario = optarg; break;
        case O_REPORT: D.report_opt = optarg; break;
        case O_DIR: D.dir_opt = optarg; break;
        case O_EXAMPLES: D.examples_opt = optarg; break;
        case O_RATE: {
            char *end;
            errno = 0;
            double r = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(r >= 1) || r > 100000) {
                fprintf(stderr,
                        "crossgate demo: --rate: expected 1 to 100000 requests per "
                        "second, got \"%s\"\n",
                        optarg);
                return 2;
            }
            D.rate = r;
            break;
        }
        case 'h':
            fputs(usage, stdout);
            list_scenarios(stdout);
            return -1;
        case ':':
            fprintf(stderr, "crossgate demo: %s needs a value (see --help)\n", argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "crossgate demo: unknown option \"%s\" (see --help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "crossgate demo: unexpected argument \"%s\" (see --help)\n", argv[optind]);
        return 2;
    }
    if (scenario) {
        for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
            if (!strcmp(scenarios[i].name, scenario)) D.sc = &scenarios[i];
        if (!D.sc) {
            fprintf(stderr, "crossgate demo: unknown scenario \"%s\"; the scenarios are:\n",
                    scenario);
            list_scenarios(stderr);
            return 2;
        }
    } else if (D.report_opt) {
        fprintf(stderr, "crossgate demo: --report goes with --scenario NAME\n");
        return 2;
    }
    return 0;
}

int cg_cli_demo(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc) return rc < 0 ? 0 : rc;
    ssize_t n = readlink("/proc/self/exe", D.self, sizeof(D.self) - 1);
    if (n <= 0) {
        fprintf(stderr, "crossgate demo: cannot find its own binary: %s\n", strerror(errno));
        return 1;
    }
    D.self[n] = '\0';
    if (find_examples() || cg_tools__demo_check_ports()) return 1;
    D.keys = !D.sc && isatty(STDIN_FILENO);
    D.screen = D.keys && isatty(STDOUT_FILENO);

    /* signals arrive on a signalfd; children get a clean mask and dispositions */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGWINCH);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    D.sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    D.devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (D.sigfd < 0 || D.devnull < 0 || cg_loop_init(&D.loop)) {
        fprintf(stderr, "crossgate demo: cannot set up: %s\n", strerror(errno));
        return 1;
    }
    D.have_loop = 1;
    cg_io_start_level(&D.loop, &D.sig_io, D.sigfd, EPOLLIN, on_signal);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    rc = 1;
    if (make_run_dir()) goto Exit;
    if (D.sc) {
        if (D.report_opt)
            snprintf(D.report, sizeof(D.report), "%s", D.report_opt);
        else
            snprintf(D.report, sizeof(D.report), "%s/report", D.run);
    }
    if (setup()) {
        if (D.interrupted) fprintf(stderr, "crossgate demo: interrupted during start-up\n");
        goto Exit;
    }
    rc = run();
    if (D.interrupted && !D.sc) rc = 0;
Exit:
    cg_tools__demo_term_restore();
    api_cancel_all();
    if (D.clusters_req) cg_http_client_cancel(D.clusters_req);
    D.clusters_req = NULL;
    if (D.have_loop) {
        cg_timer_stop(&D.loop, &D.tail_timer);
        cg_timer_stop(&D.loop, &D.poll_timer);
        cg_timer_stop(&D.loop, &D.fail_timer);
        cg_timer_stop(&D.loop, &D.restore_timer);
        if (D.keys) cg_io_stop(&D.loop, &D.key_io);
    }
    cg_tools__demo_stop_all();
    cg_tools__demo_tail_logs();
    if (D.load) {
        cg_tools_load_free(D.load);
        D.load = NULL;
    }
    if (D.have_loop) {
        cg_loop_run_once(&D.loop, 0); /* frees cancelled clients */
        cg_io_stop(&D.loop, &D.sig_io);
        cg_loop_destroy(&D.loop);
    }
    for (int i = 0; i < NPROCS; i++)
        if (procs[i].logfd >= 0) close(procs[i].logfd);
    if (D.run[0]) printf("crossgate demo: stopped every process; logs in %s\n", D.run);
    if (D.demo_log) fclose(D.demo_log);
    cg_tools_demo_series_free(&D.series);
    cg_vec_free(&D.events);
    close(D.sigfd);
    close(D.devnull);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    return rc;
}
