/* `crossgate demo`: the second edge and the GSLB in front of both (the guides that follow the
 * failover guide: "Extended Demo Environment", "Edge Load Balancing and Failover"). edge-2
 * (cluster-edge-2, region-2) runs bookinfo-edge-2; PowerDNS Authoritative answers for the guide's
 * hostname with LUA records (ifurlup) that list only the edges whose health URL answers; the GSLB
 * drills send their load through it with `crossgate load --resolve-via`, probe edge-1's health
 * the guide's way, and count from the edges' access logs which edge answered what. */
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "tools/demo_state.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ZONE "tse.tetratelabs.io"
/* edge-1's health is probed this often during a GSLB drill */
#define PROBE_MS 250

/* The GSLB's files and its control socket: RUN/gslb. */
static char gslb_dir[RUN_MAX + 16];
static char pdns_bin[PATH_MAX];

static int write_text(const char *dir, const char *name, const char *text)
{
    char path[RUN_MAX + 64];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f)) {
        fprintf(stderr, "crossgate demo: cannot write %s: %s\n", path, strerror(errno));
        if (f) fclose(f);
        return 1;
    }
    return 0;
}

/* PowerDNS unprivileged on the demo's address: no daemon, no guardian, no syslog, no caches (a
 * cached answer would outlive the health checks), LUA records on, health checks every
 * GSLB_CHECK_S seconds; the zone from a zone file (the bind backend). */
static int write_pdns_files(void)
{
    char text[3 * RUN_MAX + 1024];
    snprintf(text, sizeof(text),
             "# the demo's GSLB (crossgate demo): PowerDNS Authoritative, bind backend\n"
             "launch=bind\n"
             "bind-config=%s/named.conf\n"
             "local-address=" DNS_IP "\n"
             "local-port=%s\n"
             "socket-dir=%s\n"
             "daemon=no\n"
             "guardian=no\n"
             "disable-syslog=yes\n"
             "log-timestamp=no\n"
             "loglevel=6\n"
             "write-pid=no\n"
             "webserver=no\n"
             "cache-ttl=0\n"
             "query-cache-ttl=0\n"
             "negquery-cache-ttl=0\n"
             "security-poll-suffix=\n"
             "enable-lua-records=yes\n"
             "lua-health-checks-interval=%d\n",
             gslb_dir, strchr(DNS_LISTEN, ':') + 1, gslb_dir, GSLB_CHECK_S);
    if (write_text(gslb_dir, "pdns.conf", text)) return 1;
    snprintf(text, sizeof(text), "zone \"" ZONE "\" { type master; file \"%s/" ZONE ".zone\"; };\n",
             gslb_dir);
    if (write_text(gslb_dir, "named.conf", text)) return 1;
    /* ifurlup probes the URL at each address (the URL's host is the Host header) and answers
     * with every address that answered below 400 (selector all); while none does, or before its
     * first check, with all of them (backupSelector all). PowerDNS 4.7's ifurlup sends no
     * request headers of its own, so it probes the URL-only form of the health check. */
    snprintf(text, sizeof(text),
             "$ORIGIN " ZONE ".\n"
             "$TTL %d\n"
             "@ IN SOA ns admin 1 60 60 60 %d\n"
             "@ IN NS ns\n"
             "ns IN A " DNS_IP "\n"
             "bookinfo %d IN LUA A \"ifurlup('http://" HOSTNAME ":%d" GSLB_HEALTH_PATH "', "
             "{{'" EDGE_IP "', '" EDGE2_IP "'}}, "
             "{selector='all', backupSelector='all', timeout='1'})\"\n",
             GSLB_TTL_S, GSLB_TTL_S, GSLB_TTL_S, EDGE_PORT);
    return write_text(gslb_dir, ZONE ".zone", text);
}

int cg_tools__demo_gslb_prepare(void)
{
    char path[PATH_MAX + 64];
    if (cg_tools__demo_find_bin("pdns_server", pdns_bin, sizeof(pdns_bin))) {
        fprintf(stderr, "crossgate demo: pdns_server not found on PATH or in /usr/sbin "
                        "(scripts/deps.sh installs pdns-server and pdns-backend-bind)\n");
        return 1;
    }
    snprintf(gslb_dir, sizeof(gslb_dir), "%s/gslb", D.run);
    if (mkdir(gslb_dir, 0755) && errno != EEXIST) {
        fprintf(stderr, "crossgate demo: cannot create %s: %s\n", gslb_dir, strerror(errno));
        return 1;
    }
    if (write_pdns_files()) return 1;
    static const char *const files[] = {"cluster-edge-2.yaml", "bookinfo-edge-2.yaml"};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", D.examples, files[i]);
        if (cg_tools__demo_apply_now(path)) return 1;
    }
    return 0;
}

void cg_tools__demo_gslb_argv(char **argv, char (*s)[PATH_MAX])
{
    snprintf(s[0], PATH_MAX, "--config-dir=%s", gslb_dir);
    argv[0] = pdns_bin;
    argv[1] = s[0];
    argv[2] = NULL;
}

/* `pdns_control rping` answers PONG: the server is up and has read its zone. */
static int pdns_ready(void *arg)
{
    char sock[RUN_MAX + 32], out[64] = "";
    snprintf(sock, sizeof(sock), "--socket-dir=%s", gslb_dir);
    int fds[2];
    if (pipe(fds)) return 0;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        dup2(D.devnull, STDERR_FILENO);
        close(fds[0]);
        execlp("pdns_control", "pdns_control", sock, "rping", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    /* a server that accepts on its socket and never answers must not stall the set-up */
    struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
    ssize_t n = pid > 0 && poll(&pfd, 1, 1000) == 1 ? read(fds[0], out, sizeof(out) - 1) : -1;
    close(fds[0]);
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
    }
    return n > 0 && !strncmp(out, "PONG", 4);
}

/* edge-2 answers from its own region's cluster, and its health rules are in force. */
static int edge2_ready(void *arg)
{
    char cluster[64];
    if (cg_tools__demo_request(EDGE2_LISTEN, "/productpage", NULL, cluster, sizeof(cluster)) !=
            200 ||
        strcmp(cluster, "cluster-2") != 0)
        return 0;
    return cg_tools__demo_request(EDGE2_LISTEN, GSLB_HEALTH_PATH, NULL, cluster, sizeof(cluster)) ==
           200;
}

int cg_tools__demo_gslb_ready(void)
{
    return cg_tools__demo_wait_for("traffic through edge-2 at " EDGE2_LISTEN, &procs[P_EDGE2],
                                   15000, edge2_ready, NULL) ||
           cg_tools__demo_wait_for("the GSLB (PowerDNS) on " DNS_LISTEN, &procs[P_DNS], 10000,
                                   pdns_ready, NULL);
}

/* ---------------------------------------------------------------------------------------
 * edge-1's health, probed as the guide's GSLB would: the header form and the URL form
 * --------------------------------------------------------------------------------------- */

enum { PROBE_HEADER, PROBE_URL, NPROBE_KINDS };
enum { PHASE_BEFORE, PHASE_OUTAGE, PHASE_AFTER, NPHASES };

static const char *const probe_name[NPROBE_KINDS] = {"x-healthcheck", "url"};

static struct {
    cg_timer_t timer;
    int running;
    int last[NPROBE_KINDS];
    /* status counts per probe and phase: 200, 503, other, no answer */
    unsigned n[NPROBE_KINDS][NPHASES][4];
    double first_503[NPROBE_KINDS]; /* after the failure; < 0: none */
} probes;

static unsigned status_slot(int st)
{
    return st == 200 ? 0 : st == 503 ? 1 : st < 0 ? 3 : 2;
}

static void on_probe(cg_loop_t *loop, cg_timer_t *t)
{
    double now = cg_tools__demo_now();
    int phase = D.failed_wall == 0     ? PHASE_BEFORE
                : D.restored_wall == 0 ? PHASE_OUTAGE
                                       : PHASE_AFTER;
    for (int k = 0; k < NPROBE_KINDS; k++) {
        char cluster[64];
        /* the guide's probe: curl -H "X-HealthCheck: true" .../productpage?HC */
        int st = k == PROBE_HEADER
                     ? cg_tools__demo_request(EDGE_LISTEN, "/productpage?HC",
                                              "X-HealthCheck: true\r\n", cluster, sizeof(cluster))
                     : cg_tools__demo_request(EDGE_LISTEN, GSLB_HEALTH_PATH, NULL, cluster,
                                              sizeof(cluster));
        probes.n[k][phase][status_slot(st)]++;
        if (phase == PHASE_OUTAGE && st == 503 && probes.first_503[k] < 0)
            probes.first_503[k] = now - D.failed_at;
        if (st != probes.last[k]) {
            char what[32];
            snprintf(what, sizeof(what), st < 0 ? "no answer" : "%d", st);
            EVENT("demo", "edge-1 health probe (%s): %s%s%s",
                  k == PROBE_HEADER ? "X-HealthCheck: true" : GSLB_HEALTH_PATH, what,
                  cluster[0] ? " from " : "", cluster);
            probes.last[k] = st;
        }
    }
    cg_timer_start(loop, t, PROBE_MS, on_probe);
}

void cg_tools__demo_gslb_start(void)
{
    memset(&probes, 0, sizeof(probes));
    for (int k = 0; k < NPROBE_KINDS; k++) {
        probes.last[k] = 0;
        probes.first_503[k] = -1;
    }
    probes.running = 1;
    cg_timer_start(&D.loop, &probes.timer, PROBE_MS, on_probe);
}

void cg_tools__demo_gslb_note(void *data, const char *line)
{
    EVENT("load", "%s", line);
}

/* Seconds from the failure to the first event of `who` after it whose text has `has` and not
 * `lacks` (either may be NULL); < 0: none before the restore. */
static double event_after_failure(const char *who, const char *has, const char *lacks)
{
    for (size_t i = 0; i < D.events.len; i++) {
        const cg_demo_event_t *ev = &D.events.items[i];
        if (ev->t < D.failed_at || ev->t > D.restored_at || strcmp(ev->who, who) != 0) continue;
        if ((!has || strstr(ev->text, has)) && (!lacks || !strstr(ev->text, lacks)))
            return ev->t - D.failed_at;
    }
    return -1;
}

void cg_tools__demo_gslb_stop(void)
{
    if (probes.running) cg_timer_stop(&D.loop, &probes.timer);
    probes.running = 0;
}

/* ---------------------------------------------------------------------------------------
 * Which edge answered: the edges' access logs, by 100 ms window
 * --------------------------------------------------------------------------------------- */

#define NEDGES 2
static const char *const edge_label[NEDGES] = {"edge-1", "edge-2"};

/* Adds the load's answered requests (GET /productpage below 500) in one edge's access log to
 * the windows of s, as cluster k. Returns how many. */
static uint64_t count_access_log(const proc_t *p, cg_demo_series_t *s, unsigned k)
{
    char path[PATH_MAX + 32], line[2048];
    uint64_t total = 0;
    snprintf(path, sizeof(path), "%s/%s.access.log", D.run, p->name);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof(line), f)) {
        if (line[0] != '[') continue;
        uint64_t wall = cg_tools__demo_log_time(line + 1);
        const char *req = strstr(line, "] \"GET /productpage ");
        const char *q = req ? strchr(req + 3, '"') : NULL;
        if (!wall || !q || wall < D.t0_wall || atoi(q + 1) >= 500 || strstr(req, "?HC ")) continue;
        size_t i = (size_t)((double)(wall - D.t0_wall) / 1e5);
        if (i >= s->b.len) continue;
        s->b.items[i].cluster[k]++;
        total++;
    }
    fclose(f);
    return total;
}

/* From the failure to the end of the last window, before the restore, with an answer from
 * edge-1 or a failed request: when all traffic was on edge-2. < 0: it never was. */
static double edge2_only_seconds(const cg_demo_series_t *e)
{
    double last = -1;
    int any_after = 0;
    for (size_t i = 0; i < e->b.len; i++) {
        const cg_demo_bucket_t *b = &e->b.items[i];
        if (b->t <= D.failed_at + 1e-9 || b->t > D.restored_at + 1e-9) continue;
        any_after = 1;
        if (b->cluster[0] || b->failed) last = b->t;
    }
    if (!any_after) return -1;
    if (last < 0) return 0.1;
    return last >= D.restored_at - 0.1 - 1e-9 ? -1 : last - D.failed_at;
}

void cg_tools__demo_gslb_report(cg_buf_t *json, cg_demo_series_t *e)
{
    /* the edges write the access-log lines they still buffer (up to 100 ms) when they stop */
    cg_tools__demo_stop_all();
    /* the same windows as the run's series, by edge instead of by cluster */
    for (unsigned k = 0; k < NEDGES; k++)
        snprintf(e->clusters[k], CG_DEMO_NAME_LEN, "%s", edge_label[k]);
    e->nclusters = NEDGES;
    e->ncodes = D.series.ncodes;
    memcpy(e->codes, D.series.codes, sizeof(e->codes));
    for (size_t i = 0; i < D.series.b.len; i++) {
        cg_demo_bucket_t b = D.series.b.items[i];
        memset(b.cluster, 0, sizeof(b.cluster));
        cg_vec_push(&e->b, b);
    }
    uint64_t per[NEDGES] = {count_access_log(&procs[P_EDGE], e, 0),
                            count_access_log(&procs[P_EDGE2], e, 1)};
    double only2 = edge2_only_seconds(e);
    /* the GSLB's side: its health check declares edge-1 down; the load's next answer has only
     * edge-2 ("dns: NAME via DNS: ADDRESSES (ttl Ns)") */
    double down_s = event_after_failure("gslb", "declaring " EDGE_IP " DOWN", NULL);
    double answer_s = event_after_failure("load", EDGE2_IP " (ttl", EDGE_IP " ");

    cg_jw_t w = cg_jw(json);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "dns", DNS_LISTEN);
    cg_jw_kstr(&w, "server", "PowerDNS Authoritative (bind backend, LUA records)");
    cg_jw_kstr(&w, "name", HOSTNAME);
    cg_jw_key(&w, "ttl_s");
    cg_jw_u64(&w, GSLB_TTL_S);
    cg_jw_key(&w, "check_interval_s");
    cg_jw_u64(&w, GSLB_CHECK_S);
    cg_jw_kstr(&w, "health_url", "http://" HOSTNAME ":8080" GSLB_HEALTH_PATH);
    cg_jw_kobj(&w, "requests_per_edge");
    for (unsigned k = 0; k < NEDGES; k++) {
        cg_jw_key(&w, edge_label[k]);
        cg_jw_u64(&w, per[k]);
    }
    cg_jw_end(&w);
    cg_tools_demo_json_opt(&w, "edge1_down_at_gslb_seconds", down_s, 2);
    cg_tools_demo_json_opt(&w, "answer_without_edge1_seconds", answer_s, 2);
    cg_tools_demo_json_opt(&w, "edge2_only_seconds", only2, 1);
    cg_jw_kobj(&w, "edge1_probes");
    static const char *const phase_name[NPHASES] = {"before", "outage", "after"};
    static const char *const slot_name[4] = {"200", "503", "other", "no_answer"};
    for (int k = 0; k < NPROBE_KINDS; k++) {
        cg_jw_kobj(&w, probe_name[k]);
        for (int ph = 0; ph < NPHASES; ph++) {
            cg_jw_kobj(&w, phase_name[ph]);
            for (int sl = 0; sl < 4; sl++) {
                if (!probes.n[k][ph][sl]) continue;
                cg_jw_key(&w, slot_name[sl]);
                cg_jw_u64(&w, probes.n[k][ph][sl]);
            }
            cg_jw_end(&w);
        }
        cg_tools_demo_json_opt(&w, "first_503_s", probes.first_503[k], 2);
        cg_jw_end(&w);
    }
    cg_jw_end(&w);
    cg_jw_end(&w);
    printf("gslb (TTL %d s, health checks every %d s): %llu requests answered by edge-1, %llu by "
           "edge-2; after the failure: edge-1 down at the GSLB %.2f s, an answer without it %.2f "
           "s, all traffic on edge-2 %.1f s (-1: never)\n",
           GSLB_TTL_S, GSLB_CHECK_S, (unsigned long long)per[0], (unsigned long long)per[1], down_s,
           answer_s, only2);
}

/* ---------------------------------------------------------------------------------------
 * The drills
 * --------------------------------------------------------------------------------------- */

/* Each of procs[which[...]] (-1 ends it) killed or started, in that order; what says so. */
static void each(const int *which, int start, char *what, size_t cap)
{
    size_t n = 0;
    char one[160];
    what[0] = '\0';
    for (; *which >= 0; which++) {
        proc_t *p = &procs[*which];
        if (start)
            cg_tools__demo_act_start(p, one, sizeof(one));
        else
            cg_tools__demo_act_kill(p, one, sizeof(one));
        if (n < cap) n += (size_t)snprintf(what + n, cap - n, "%s%s", n ? ", " : "", one);
    }
}

static const int edge1[] = {P_EDGE, -1};
static const int local_down[] = {P_IN1, P_APP1, -1}, local_up[] = {P_APP1, P_IN1, -1};
static const int region_down[] = {P_EDGE, P_IN1, P_APP1, -1},
                 region_up[] = {P_APP1, P_IN1, P_EDGE, -1};

/* An action of a drill: each of `list` killed (start 0) or started. */
#define DRILL_ACTION(fn, list, start)                                                              \
    static void fn(char *what, size_t cap)                                                         \
    {                                                                                              \
        each(list, start, what, cap);                                                              \
    }
DRILL_ACTION(kill_edge1, edge1, 0)
DRILL_ACTION(start_edge1, edge1, 1)
DRILL_ACTION(kill_local, local_down, 0)
DRILL_ACTION(start_local, local_up, 1)
DRILL_ACTION(kill_region1, region_down, 0)
DRILL_ACTION(start_region1, region_up, 1)

void cg_tools__demo_gslb_key(char key)
{
    char what[200];
    proc_t *e2 = &procs[P_EDGE2];
    if (key == 'e')
        (e2->pid ? cg_tools__demo_act_kill : cg_tools__demo_act_start)(e2, what, sizeof(what));
}

const scenario_t cg_tools__demo_gslb_scenarios[] = {
    {
        "edge-down",
        "through the GSLB: SIGKILL edge-1; start it again",
        "bookinfo-edge-gslb.yaml",
        NULL,
        "cluster-1",
        kill_edge1,
        start_edge1,
        "examples/bookinfo-edge-gslb.yaml on edge-1 and bookinfo-edge-2.yaml on edge-2 (the health "
        "rules first, then auto). The load resolves the guide's hostname through the GSLB every "
        "TTL "
        "(1 s); PowerDNS checks each edge's health URL every 1 s and drops edge-1 when it stops "
        "answering. Requests on connections to edge-1 fail until the answer changes.",
    },
    {
        "local-clusters-down",
        "through the GSLB: SIGKILL edge-1's local clusters (ingress-1, app-1); start them again",
        "bookinfo-edge-gslb.yaml",
        NULL,
        "cluster-1",
        kill_local,
        start_local,
        "the guide's scenario 3. edge-1 forwards real traffic to region-2, so none fails; its "
        "health "
        "rules route only to region-1, so the health check answers 503 and the GSLB drops edge-1. "
        "The load then moves to edge-2 without a failed request.",
    },
    {
        "region-down-edge",
        "through the GSLB: SIGKILL region-1's edge and cluster (edge-1, ingress-1, app-1); start "
        "them again",
        "bookinfo-edge-gslb.yaml",
        NULL,
        "cluster-1",
        kill_region1,
        start_region1,
        "region-1 goes at once: its edge and its workload cluster. The GSLB drops edge-1 as in "
        "edge-down; edge-2 serves from cluster-2.",
    },
};

const size_t cg_tools__demo_gslb_nscenarios =
    sizeof(cg_tools__demo_gslb_scenarios) / sizeof(cg_tools__demo_gslb_scenarios[0]);

int cg_tools__demo_gslb_run(void)
{
    return D.sc >= cg_tools__demo_gslb_scenarios &&
           D.sc < cg_tools__demo_gslb_scenarios + cg_tools__demo_gslb_nscenarios;
}
