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
#include <sys/wait.h>
#include <unistd.h>

static const char usage[] =
    "usage: crossgate demo [--dir DIR] [--rate RPS] [--http2] [--ha] [--examples DIR]\n"
    "       crossgate demo --scenario NAME [--report DIR] [--dir DIR] [--rate RPS] [--http2]\n"
    "                      [--ha]\n"
    "\n"
    "Runs the guide on this machine: the control plane, the edge gateway (cluster-edge,\n"
    "region-1) on 127.0.0.1:8080, and cluster-1 (region-1) and cluster-2 (region-2), each an\n"
    "ingress gateway and a productpage app, as child processes on the addresses of examples/,\n"
    "with a second edge (cluster-edge-2, region-2) on 127.0.4.1:8080 and PowerDNS in front of\n"
    "both edges as the GSLB on 127.0.4.53:8053; applies examples/ and sends open-loop traffic\n"
    "through the edge (the GSLB scenarios: through the GSLB). Try:\n"
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
    "  --http2          the traffic speaks HTTP/2 to the edge (prior-knowledge h2c), one\n"
    "                   stream at a time per connection, as HTTP/1.1 does\n"
    "  --ha             the control plane on a 3-member etcd (127.0.5.1-3:2379) with a second\n"
    "                   replica on " CONTROL2_LISTEN "; every gateway and the demo's own calls\n"
    "                   get both URLs (needs etcd: scripts/deps.sh installs etcd-server)\n"
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
               .mesh = "127.0.1.1:15443",
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
               .mesh = "127.0.2.1:15443",
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
                .mesh = EDGE_IP ":15443",
                .https = EDGE_HTTPS,
                .workers = 2},
    [P_EW2] = {.name = "eastwest-2",
               .role = "east-west gateway",
               .kind = K_INGRESS,
               .cluster = "cluster-2",
               .region = "region-2",
               .ns = "eastwest",
               .label = "app=eastwest-gateway",
               .address = "127.0.2.2",
               .listen = "127.0.2.2:15443",
               .admin = "127.0.2.2:15000",
               .mesh = "127.0.2.2:15443",
               .workers = 1},
    [P_EDGE2] = {.name = "edge-2",
                 .role = "edge gateway",
                 .kind = K_EDGE,
                 .cluster = "cluster-edge-2",
                 .region = "region-2",
                 .ns = "edge",
                 .label = "app=edgegw-2",
                 .address = EDGE2_IP,
                 .listen = EDGE2_LISTEN,
                 .admin = EDGE2_IP ":15000",
                 .mesh = EDGE2_IP ":15443",
                 .workers = 1},
    [P_DNS] = {.name = "gslb",
               .role = "GSLB (PowerDNS)",
               .kind = K_DNS,
               .cluster = "-",
               .region = "-",
               .address = DNS_IP,
               .listen = DNS_LISTEN},
    [P_CONTROL2] = {.name = "control-2",
                    .role = "control plane",
                    .kind = K_CONTROL,
                    .cluster = "-",
                    .region = "-",
                    .address = CONTROL2_IP,
                    .listen = CONTROL2_LISTEN,
                    .ha = 1},
    [P_ETCD1] = {.name = "etcd-1",
                 .role = "etcd member",
                 .kind = K_ETCD,
                 .cluster = "-",
                 .region = "-",
                 .address = "127.0.5.1",
                 .listen = "127.0.5.1:" ETCD_CLIENT_PORT,
                 .peer = "127.0.5.1:" ETCD_PEER_PORT,
                 .ha = 1},
    [P_ETCD2] = {.name = "etcd-2",
                 .role = "etcd member",
                 .kind = K_ETCD,
                 .cluster = "-",
                 .region = "-",
                 .address = "127.0.5.2",
                 .listen = "127.0.5.2:" ETCD_CLIENT_PORT,
                 .peer = "127.0.5.2:" ETCD_PEER_PORT,
                 .ha = 1},
    [P_ETCD3] = {.name = "etcd-3",
                 .role = "etcd member",
                 .kind = K_ETCD,
                 .cluster = "-",
                 .region = "-",
                 .address = "127.0.5.3",
                 .listen = "127.0.5.3:" ETCD_CLIENT_PORT,
                 .peer = "127.0.5.3:" ETCD_PEER_PORT,
                 .ha = 1},
};

/* The base resources, applied in this order before the edge Gateway. */
static const char *const base_files[] = {
    "cluster-1.yaml",          "cluster-2.yaml",     "cluster-edge.yaml",
    "productpage-1.yaml",      "productpage-2.yaml", "bookinfo-ingress-1.yaml",
    "bookinfo-ingress-2.yaml",
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

static int http_ok(const char *url)
{
    cg_http_result_t res = {0};
    cg_http_fetch("GET", url, NULL, NULL, 0, 500, &res);
    int ok = !res.err && res.status == 200;
    cg_http_result_free(&res);
    return ok;
}

int cg_tools__demo_request(const char *listen, const char *path, const char *extra, char *cluster,
                           size_t cap)
{
    cg_addr_t a;
    cluster[0] = '\0';
    if (cg_addr_parse(&a, listen)) return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct timeval tv = {1, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    char req[512], buf[4096];
    int rl = snprintf(req, sizeof(req),
                      "GET %s HTTP/1.1\r\nHost: " HOSTNAME "\r\nUser-Agent: crossgate-demo\r\n%s"
                      "Connection: close\r\n\r\n",
                      path, extra ? extra : "");
    size_t len = 0;
    int status = -1;
    if (rl > 0 && (size_t)rl < sizeof(req) && connect(fd, &a.u.sa, a.len) == 0 &&
        write(fd, req, (size_t)rl) == rl) {
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

/* One GET /productpage through the edge with the guide's Host; the status, and the answering
 * cluster in `cluster`. -1 when there was no answer. */
static int edge_request(char *cluster, size_t cap)
{
    return cg_tools__demo_request(EDGE_LISTEN, "/productpage", NULL, cluster, cap);
}

static void on_tail(cg_loop_t *loop, cg_timer_t *t)
{
    cg_tools__demo_tail_logs();
    cg_timer_start(loop, t, TAIL_MS, on_tail);
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
int cg_tools__demo_wait_for(const char *what, proc_t *p, int timeout_ms, int (*ok)(void *),
                            void *arg)
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

int cg_tools__demo_url_ok(void *url)
{
    return http_ok(url);
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

/* Writes an edge Gateway to path: comment (a line), then the Gateway name with one http server
 * for the guide's hostname on port, its tls lines (or ""), its route to every cluster, and extra
 * lines in the server. */
static int write_edge_gateway(const char *path, const char *comment, const char *name,
                              const char *server, int port, const char *tls, const char *extra)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "crossgate demo: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    fprintf(f,
            "# %s (crossgate demo)\n"
            "apiVersion: gateway.tsb.tetrate.io/v2\n"
            "kind: Gateway\n"
            "metadata:\n"
            "  organization: tse\n"
            "  tenant: tse\n"
            "  workspace: edge-ws\n"
            "  group: edge-gwgroup\n"
            "  name: %s\n"
            "spec:\n"
            "  workloadSelector:\n"
            "    namespace: edge\n"
            "    labels:\n"
            "      app: edgegw\n"
            "  http:\n"
            "    - name: %s\n"
            "      port: %d\n"
            "      hostname: " HOSTNAME "\n"
            "%s"
            "      routing:\n"
            "        rules:\n"
            "          - route:\n"
            "              clusterDestination: {}\n"
            "%s",
            comment, name, server, port, tls, extra);
    return fclose(f) ? 1 : 0;
}

/* Writes the scenario's edge Gateway: bookinfo-edge.yaml with extra lines in its http server. */
static int write_edge_variant(void)
{
    char comment[200];
    snprintf(D.edge_file, sizeof(D.edge_file), "%s/edge-%s.yaml", D.run, D.sc->name);
    snprintf(comment, sizeof(comment),
             "examples/bookinfo-edge.yaml with the settings of scenario %s", D.sc->name);
    return write_edge_gateway(D.edge_file, comment, "bookinfo-edge", "bookinfo", EDGE_PORT, "",
                              D.sc->edge_extra);
}

/* Runs `crossgate ARGS...` (this binary) to its end, its output into demo.log. 0 on success. */
static int run_self(const char *const *args)
{
    char *argv[16];
    size_t n = 0;
    argv[n++] = D.self;
    for (; *args && n < 15; args++) argv[n++] = (char *)*args;
    argv[n] = NULL;
    fflush(D.demo_log);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = fileno(D.demo_log);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(D.self, argv);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "crossgate demo: crossgate %s %s failed (see %s/demo.log)\n", argv[1],
                argv[2] ? argv[2] : "", D.run);
        return 1;
    }
    return 0;
}

/* The demo's certificates, made with `crossgate ca` as an operator would: a mesh CA and an
 * identity for every gateway (edge -> ingress over mTLS on 15443), and a web CA whose
 * certificate for the guide's hostname the edge serves on its HTTPS port. */
static int make_pki(void)
{
    char dir[PATH_MAX], mesh[PATH_MAX], web[PATH_MAX], out[PATH_MAX + 64], ca[PATH_MAX + 16];
    snprintf(dir, sizeof(dir), "%s/pki", D.run);
    snprintf(mesh, sizeof(mesh), "%s/pki/mesh", D.run);
    snprintf(web, sizeof(web), "%s/pki/web", D.run);
    mkdir(dir, 0700);
    static const char *const mesh_name[] = {"--name", "crossgate demo mesh CA"};
    static const char *const web_name[] = {"--name", "crossgate demo web CA"};
    const char *const *names[2] = {mesh_name, web_name};
    const char *dirs[2] = {mesh, web};
    for (int i = 0; i < 2; i++) { /* a reused run directory keeps its CAs */
        snprintf(ca, sizeof(ca), "%s/ca.crt", dirs[i]);
        if (access(ca, F_OK) == 0) continue;
        const char *args[] = {"ca", "init", "--dir", dirs[i], names[i][0], names[i][1], NULL};
        if (run_self(args)) return 1;
    }
    for (int i = 0; i < NPROCS; i++) {
        const proc_t *p = &procs[i];
        if (p->kind != K_INGRESS && p->kind != K_EDGE) continue;
        snprintf(out, sizeof(out), "%s/%s", dir, p->name);
        const char *args[] = {"ca",          "issue", "--dir", mesh, "--cluster", p->cluster,
                              "--namespace", p->ns,   "--out", out,  NULL};
        if (run_self(args)) return 1;
    }
    snprintf(out, sizeof(out), "%s/edge-https", dir);
    const char *args[] = {"ca",           "issue",       "--dir", web,     "--cluster",
                          "cluster-edge", "--namespace", "edge",  "--dns", HOSTNAME,
                          "--out",        out,           NULL};
    return run_self(args);
}

/* The edge's HTTPS server: a Gateway of its own beside bookinfo-edge (which the scenarios
 * replace), the same hostname on EDGE_HTTPS_PORT with the web CA's certificate. */
static int write_https_gateway(char *path, size_t cap)
{
    char tls[2 * PATH_MAX + 200];
    snprintf(path, cap, "%s/bookinfo-edge-https.yaml", D.run);
    snprintf(tls, sizeof(tls),
             "      tls:\n"
             "        mode: SIMPLE\n"
             "        files:\n"
             "          serverCertificate: %s/pki/edge-https.crt\n"
             "          privateKey: %s/pki/edge-https.key\n",
             D.run, D.run);
    return write_edge_gateway(
        path, "the edge's HTTPS server, its certificate from the demo web CA pki/web/ca.crt",
        "bookinfo-edge-https", "bookinfo-https", EDGE_HTTPS_PORT, tls, "");
}

static void print_table(void)
{
    char pid[16];
    printf("\n%-16s %-15s %-9s %-16s %-16s %-7s %s\n", "ROLE", "CLUSTER", "REGION", "ADDRESS",
           "ADMIN", "PID", "LOG");
    for (int i = 0; i < NPROCS; i++) {
        const proc_t *p = &procs[i];
        if (p->ha && !D.ha) continue;
        snprintf(pid, sizeof(pid), "%d", (int)p->pid);
        printf("%-16s %-15s %-9s %-16s %-16s %-7s %s\n", p->role, p->cluster, p->region, p->listen,
               p->admin ? p->admin : "-", pid, p->log);
    }
    printf("\nrun dir %s (demo.log: what this shows; *.access.log: the gateways' access logs)\n"
           "edge -> ingress: mTLS on 15443 (mesh CA %s/pki/mesh/ca.crt)\n"
           "try: curl --connect-to %s:80:%s http://%s/productpage\n"
           "     curl --cacert %s/pki/web/ca.crt --connect-to %s:443:%s https://%s/productpage\n\n",
           D.run, D.run, HOSTNAME, EDGE_LISTEN, HOSTNAME, D.run, HOSTNAME, EDGE_HTTPS, HOSTNAME);
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
    char https[PATH_MAX + 64];
    if (make_pki() || write_https_gateway(https, sizeof(https))) return 1;

    proc_t *ctl = &procs[P_CONTROL];
    if (D.ha) {
        if (cg_tools__demo_ha_start()) return 1;
    } else if (cg_tools__demo_proc_start(ctl) ||
               cg_tools__demo_wait_for("the control plane", ctl, 10000, cg_tools__demo_url_ok,
                                       CONTROL_URL "/ready")) {
        return 1;
    }
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
        if (cg_tools__demo_apply_now(path)) return 1;
    }
    if (cg_tools__demo_apply_now(D.edge_file) || cg_tools__demo_apply_now(https)) return 1;
    if (cg_tools__demo_gslb_prepare()) return 1;

    static const int order[] = {P_APP1, P_APP2, P_IN1, P_IN2, P_EDGE, P_EDGE2, P_DNS};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (cg_tools__demo_proc_start(&procs[order[i]])) return 1;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        proc_t *p = &procs[order[i]];
        char url[128], what[64];
        if (p->kind == K_DNS) continue;
        if (p->kind == K_APP)
            snprintf(url, sizeof(url), "http://%s/healthz", p->listen);
        else
            snprintf(url, sizeof(url), "http://%s/ready", p->admin);
        snprintf(what, sizeof(what), "%s on %s", p->name, p->kind == K_APP ? p->listen : p->admin);
        if (cg_tools__demo_wait_for(what, p, 10000, cg_tools__demo_url_ok, url)) return 1;
    }
    /* ready: both ingresses healthy at the edge and a request answered by the cluster the
     * run starts on (cluster-1 unless the split is weighted) */
    if (cg_tools__demo_wait_for("traffic through the edge at " EDGE_LISTEN, &procs[P_EDGE], 15000,
                                edge_ready, strcmp(D.edge_mode, "weighted") ? "cluster-1" : NULL))
        return 1;
    const scenario_hooks_t *hooks = D.sc ? cg_tools__demo_hooks(D.sc) : NULL;
    if (hooks && hooks->prepare && hooks->prepare()) return 1;
    if (cg_tools__demo_gslb_ready()) return 1;
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
    cg_tools__demo_ha_before();
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
        .url = cg_tools__demo_gslb_run() ? "http://" HOSTNAME ":8080/productpage"
                                         : "http://" EDGE_LISTEN "/productpage",
        .resolve_via = cg_tools__demo_gslb_run() ? DNS_LISTEN : NULL,
        .host = HOSTNAME,
        .rate = D.rate,
        .http2 = D.http2,
        .streams = D.http2 ? 1 : 0,
        .connections = 4,
        .max_conns = 1024,
        .duration_us = duration_us,
        .timeout_us = 20000000, /* above the 15 s route timeout: the gateways' answers count */
    };
    cg_load_hooks_t h = {.on_interval = cg_tools__demo_on_interval,
                         .on_bucket = on_bucket,
                         .on_end = on_load_end,
                         .on_note = cg_tools__demo_gslb_note};
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
    const scenario_hooks_t *hooks = cg_tools__demo_hooks(D.sc);
    if (hooks && hooks->finish) hooks->finish();
    cg_demo_report_t r = {
        .scenario = D.sc->name,
        .summary = D.sc->summary,
        .failure_action = D.fail_what,
        .restore_action = D.restore_what,
        .down = D.sc->down,
        .edge_file = D.edge_file,
        .settings = D.sc->settings,
        .rate = D.rate,
        .protocol = D.http2 ? "HTTP/2" : "HTTP/1.1",
        .mode = D.ha ? "ha" : "single",
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
    cg_buf_t extra = {0}, ha = {0};
    cg_demo_series_t edges = {0};
    if (D.ha) {
        cg_tools__demo_ha_finish(&ha);
        cg_buf_append(&ha, "", 1);
        r.ha_json = ha.base;
        r.events = D.events.items; /* the finish added one */
        r.nevents = D.events.len;
    }
    if (cg_tools__demo_gslb_run()) {
        cg_tools__demo_gslb_report(&extra, &edges);
        cg_buf_append(&extra, "", 1);
        r.gslb_json = extra.base;
    }
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
    for (int chart = 0; chart < (cg_tools__demo_gslb_run() ? 2 : 1); chart++) {
        /* GSLB scenarios: a second chart of the same windows by the edge that answered */
        cg_demo_report_t by = r;
        if (chart) {
            by.series = &edges;
            by.per = "edge";
        }
        cg_buf_reset(&b);
        cg_tools_demo_report_svg(&by, &b);
        snprintf(path, sizeof(path), "%s/%s.svg", D.report, chart ? "report-edges" : "report");
        if (write_file(path, &b)) {
            fprintf(stderr, "crossgate demo: cannot write %s: %s\n", path, strerror(errno));
            rc = 1;
        }
    }
    cg_buf_free(&b);
    cg_buf_free(&extra);
    cg_buf_free(&ha);
    cg_tools_demo_series_free(&edges);
    snprintf(fo, sizeof(fo), r.a.failover_s < 0 ? "none" : "%.1f s", r.a.failover_s);
    snprintf(re, sizeof(re), r.a.recovery_s < 0 ? "none" : "%.1f s", r.a.recovery_s);
    printf("\nscenario %s (%s, control plane %s): %llu requests at %.0f/s, %llu failed; failover "
           "%s, recovery %s (the guide: failover can take up to 60 s)\n"
           "  failure at %.1f s: %s\n  restore at %.1f s: %s\n"
           "report: %s/report.json, %s/report.svg\n",
           D.sc->name, r.protocol, r.mode, (unsigned long long)r.totals.requests, D.rate,
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
        if (D.keys)
            cg_io_start_level(&D.loop, &D.key_io, STDIN_FILENO, EPOLLIN, cg_tools__demo_on_key);
    }
    if (!D.live) {
        if (D.sc)
            printf("scenario %s: %s\n  failure at 3 s, restore at 8 s, end at 14 s; %.0f req/s "
                   "through %s\n\n",
                   D.sc->name, D.sc->summary, D.rate,
                   cg_tools__demo_gslb_run() ? HOSTNAME ":8080 resolved by the GSLB " DNS_LISTEN
                                             : EDGE_LISTEN);
        else if (D.keys)
            printf("keys: g delete/apply bookinfo-ingress-1, k/K kill/start ingress-1/2, u/U "
                   "kill/start app-1/2,\n      h/H hang/resume ingress-1/2, a/n/w edge "
                   "auto/named/weighted,\n      e kill/start edge-2, %sr restore all, q quit\n\n",
                   D.ha ? "x kill the etcd leader/start it, c kill/start the gateways' control "
                          "replica,\n      "
                        : "");
        else
            printf("%.0f req/s through %s; Ctrl-C (SIGINT) or SIGTERM stops everything\n\n", D.rate,
                   EDGE_LISTEN);
        fflush(stdout);
    }
    if (start_load(D.sc ? SCENARIO_END_US : 86400000000ull)) return 1;
    if (cg_tools__demo_gslb_run()) cg_tools__demo_gslb_start();
    if (D.sc) {
        /* +1: the loop's timers count whole milliseconds from a truncated now, so this fires
         * at the time or up to 2 ms after it, never before */
        cg_timer_start(&D.loop, &D.fail_timer, SCENARIO_FAIL_MS + 1, on_fail_timer);
        cg_timer_start(&D.loop, &D.restore_timer, SCENARIO_RESTORE_MS + 1, on_restore_timer);
    }
    cg_tools__demo_draw();
    while (!D.done && !D.interrupted) cg_loop_run_once(&D.loop, -1);
    cg_tools__demo_tail_logs();
    if (cg_tools__demo_gslb_run()) cg_tools__demo_gslb_stop();
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
    /* the --ha ones come last, their summary says so */
    for (size_t i = 0; i < cg_tools__demo_nscenarios; i++)
        fprintf(f, "  %-19s %s\n", cg_tools__demo_scenarios[i].name,
                cg_tools__demo_scenarios[i].summary);
    for (size_t i = 0; i < cg_tools__demo_gslb_nscenarios; i++)
        fprintf(f, "  %-19s %s\n", cg_tools__demo_gslb_scenarios[i].name,
                cg_tools__demo_gslb_scenarios[i].summary);
    for (size_t i = 0; i < cg_tools__demo_ha_nscenarios; i++)
        fprintf(f, "  %-19s %s\n", cg_tools__demo_ha_scenarios[i].name,
                cg_tools__demo_ha_scenarios[i].summary);
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
    enum { O_SCENARIO = 256, O_REPORT, O_DIR, O_RATE, O_EXAMPLES, O_HTTP2, O_HA };
    static const struct option opts[] = {
        {"scenario", required_argument, 0, O_SCENARIO},
        {"report", required_argument, 0, O_REPORT},
        {"dir", required_argument, 0, O_DIR},
        {"rate", required_argument, 0, O_RATE},
        {"examples", required_argument, 0, O_EXAMPLES},
        {"http2", no_argument, 0, O_HTTP2},
        {"ha", no_argument, 0, O_HA},
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
        case O_HTTP2: D.http2 = 1; break;
        case O_HA: D.ha = 1; break;
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
        for (size_t i = 0; i < cg_tools__demo_nscenarios; i++)
            if (!strcmp(cg_tools__demo_scenarios[i].name, scenario))
                D.sc = &cg_tools__demo_scenarios[i];
        for (size_t i = 0; i < cg_tools__demo_gslb_nscenarios; i++)
            if (!strcmp(cg_tools__demo_gslb_scenarios[i].name, scenario))
                D.sc = &cg_tools__demo_gslb_scenarios[i];
        for (size_t i = 0; i < cg_tools__demo_ha_nscenarios; i++) {
            if (strcmp(cg_tools__demo_ha_scenarios[i].name, scenario)) continue;
            if (!D.ha) {
                fprintf(stderr,
                        "crossgate demo: scenario %s needs --ha (a 3-member etcd and two "
                        "control-plane replicas)\n",
                        scenario);
                return 2;
            }
            D.sc = &cg_tools__demo_ha_scenarios[i];
        }
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
    cg_tools__demo_api_cancel_all();
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
