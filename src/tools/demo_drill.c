/* The drills of `crossgate demo`: what keys and scenarios do to the guide's processes and
 * resources (SIGKILL, SIGSTOP, start again; apply and delete on the control plane), the table of
 * scenarios, and the control API calls with their answers. */
#include "core/err.h"
#include "core/json.h"
#include "core/list.h"
#include "http/client.h"
#include "tools/demo_state.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * The control API
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

/* "Gateway bookinfo-ingress-1 deleted, revision 9" from an apply/delete answer:
 * {"results":[{"kind":...,"name":...,"action":...}, ...],"revision":N}. */
static void describe_results(const cg_buf_t *body, char *out, size_t cap)
{
    cg_json_t *doc = cg_json_parse("answer", body->base ? body->base : "", body->len, NULL);
    const cg_json_t *res = cg_json_get(doc, "results"), *rev = cg_json_get(doc, "revision");
    size_t n = 0;
    out[0] = '\0';
    for (size_t i = 0; i < cg_json_len(res) && cg_json_type(res) == CG_JSON_ARRAY && n < cap; i++) {
        const cg_json_t *r = cg_json_at(res, i);
        const char *kind = cg_json_string(cg_json_get(r, "kind"), NULL),
                   *name = cg_json_string(cg_json_get(r, "name"), NULL),
                   *act = cg_json_string(cg_json_get(r, "action"), NULL);
        if (!kind || !name || !act) continue;
        n += (size_t)snprintf(out + n, cap - n, "%s%s %s %s", n ? ", " : "", kind, name, act);
    }
    if (rev && cg_json_type(rev) == CG_JSON_INT && n < cap)
        snprintf(out + n, cap - n, " (revision %lld)", (long long)cg_json_int(rev));
    cg_json_free(doc);
}

/* One line of an answer's body, for a message. */
static int body_len(const cg_http_result_t *res)
{
    size_t n = res->body.len;
    while (n && res->body.base[n - 1] == '\n') n--;
    return (int)(n > 160 ? 160 : n);
}

/* Set-up: POST /v1/apply with one file, waiting for the answer; with --ha, a control plane
 * that cannot be reached is followed by the next. */
int cg_tools__demo_apply_now(const char *path)
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
    size_t at = cg_tools__demo_url_cur();
    for (size_t tries = 0; tries < cg_tools__demo_nurls(); tries++, at++) {
        char url[128];
        snprintf(url, sizeof(url), "%s/v1/apply", cg_tools__demo_url(at));
        cg_http_result_free(&res);
        memset(&res, 0, sizeof(res));
        cg_http_fetch("POST", url, hdr.base, body.base ? body.base : "", body.len, 5000, &res);
        if (!res.err) break;
    }
    if (res.err || res.status != 200) {
        fprintf(stderr, "crossgate demo: applying %s failed: %s%.*s\n", path,
                res.err ? cg_strerror(res.err) : "", res.err ? 0 : body_len(&res),
                res.body.base ? res.body.base : "");
        goto Exit;
    }
    cg_tools__demo_url_answered(at);
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

/* A control API request in flight; owned by the calls list until its answer. With --ha, a
 * control plane that cannot be reached is followed by the next, and "store unavailable" (etcd
 * electing a leader) is sent again after a pause, until RESEND_FOR_MS after the first try. */
#define RESEND_MS     250
#define RESEND_FOR_MS 5000
typedef struct api_call {
    cg_list_t link;
    cg_http_client_t *c;
    char what[120];
    int gw1; /* -1: not about bookinfo-ingress-1; 0/1: deleted/applied on success */
    char mode[16];
    char path[16]; /* /v1/apply or /v1/delete */
    cg_buf_t body, hdr;
    size_t at, tries; /* the URL it went to; those tried since the last answer */
    double first_s;   /* the time of the first try */
    cg_timer_t resend;
} api_call_t;

static cg_list_t calls = {&calls, &calls};

static void api_free(api_call_t *a)
{
    cg_list_unlink(&a->link);
    cg_timer_stop(&D.loop, &a->resend);
    if (a->c) cg_http_client_cancel(a->c);
    cg_buf_free(&a->body);
    cg_buf_free(&a->hdr);
    free(a);
}

/* Abandons the requests still in flight (on the way out). */
void cg_tools__demo_api_cancel_all(void)
{
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &calls) api_free(cg_container_of(pos, api_call_t, link));
}

static void api_go(api_call_t *a);

static void on_resend(cg_loop_t *loop, cg_timer_t *t)
{
    api_go(cg_container_of(t, api_call_t, resend));
}

static void on_api(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    api_call_t *a = data;
    char what[300];
    a->c = NULL;
    if (res->err && ++a->tries < cg_tools__demo_nurls()) {
        EVENT("control", "%s at %s: %s; trying %s", a->what, cg_tools__demo_url(a->at),
              cg_strerror(res->err), cg_tools__demo_url(a->at + 1));
        a->at++;
        api_go(a);
        return;
    }
    if (res->err) {
        EVENT("control", "%s: %s", a->what, cg_strerror(res->err));
    } else if (res->status != 200) {
        EVENT("control", "%s: HTTP %d %.*s", a->what, res->status, body_len(res),
              res->body.base ? res->body.base : "");
        if (D.ha && res->status == 503 && res->body.base &&
            !strncmp(res->body.base, "store unavailable",
                     res->body.len < 17 ? res->body.len : 17) &&
            cg_tools__demo_now() - a->first_s < RESEND_FOR_MS / 1000.0) {
            a->tries = 0;
            cg_timer_start(&D.loop, &a->resend, RESEND_MS, on_resend);
            return;
        }
    } else {
        cg_tools__demo_url_answered(a->at);
        describe_results(&res->body, what, sizeof(what));
        if (D.ha)
            EVENT("control", "%s (through %s)", what,
                  a->at % cg_tools__demo_nurls() ? procs[P_CONTROL2].name : procs[P_CONTROL].name);
        else
            EVENT("control", "%s", what);
        if (a->gw1 >= 0) D.gw1_deleted = !a->gw1;
        if (a->mode[0]) snprintf(D.edge_mode, sizeof(D.edge_mode), "%s", a->mode);
    }
    api_free(a);
    cg_tools__demo_draw();
}

static void api_go(api_call_t *a)
{
    char url[128];
    snprintf(url, sizeof(url), "%s%s", cg_tools__demo_url(a->at), a->path);
    a->c = cg_http_client_start(&D.loop, "POST", url, a->hdr.base, a->body.base ? a->body.base : "",
                                a->body.len, 5000, on_api, a);
    if (!a->c) {
        cg_http_result_t res = {.err = CG_ECONNREFUSED};
        on_api(NULL, &res, a);
    }
}

/* Live: sends examples/FILE to /v1/apply or /v1/delete without waiting (the answer becomes an
 * event). */
static void api_send(const char *verb, const char *file, int gw1, const char *mode)
{
    char path[PATH_MAX + 64];
    api_call_t *a = cg_xcalloc(1, sizeof(*a));
    snprintf(path, sizeof(path), "%s/%s", D.examples, file);
    if (read_file(path, &a->body)) {
        EVENT("demo", "cannot read %s: %s", path, strerror(errno));
        cg_buf_free(&a->body);
        free(a);
        return;
    }
    snprintf(a->what, sizeof(a->what), "%s %s", verb, file);
    a->gw1 = gw1;
    snprintf(a->mode, sizeof(a->mode), "%s", mode ? mode : "");
    snprintf(a->path, sizeof(a->path), "%s", !strcmp(verb, "delete") ? "/v1/delete" : "/v1/apply");
    cg_buf_printf(&a->hdr, "x-crossgate-filename: %s\r\ncontent-type: application/yaml\r\n%s%c",
                  path, D.auth, 0);
    a->at = cg_tools__demo_url_cur();
    a->first_s = cg_tools__demo_now();
    cg_list_insert_tail(&calls, &a->link);
    api_go(a);
}

/* ---------------------------------------------------------------------------------------
 * Actions (keys and scenarios)
 * --------------------------------------------------------------------------------------- */

void cg_tools__demo_act_kill(proc_t *p, char *what, size_t cap)
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

void cg_tools__demo_act_start(proc_t *p, char *what, size_t cap)
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

void cg_tools__demo_remove_gateway(char *what, size_t cap)
{
    snprintf(what, cap, "crossgate delete -f bookinfo-ingress-1.yaml");
    EVENT("demo", "%s", what);
    api_send("delete", "bookinfo-ingress-1.yaml", 0, NULL);
}

void cg_tools__demo_apply_gateway(char *what, size_t cap)
{
    snprintf(what, cap, "crossgate apply -f bookinfo-ingress-1.yaml");
    EVENT("demo", "%s", what);
    api_send("apply", "bookinfo-ingress-1.yaml", 1, NULL);
}

static void kill_ingress1(char *what, size_t cap)
{
    cg_tools__demo_act_kill(&procs[P_IN1], what, cap);
}
static void start_ingress1(char *what, size_t cap)
{
    cg_tools__demo_act_start(&procs[P_IN1], what, cap);
}
static void kill_app1(char *what, size_t cap)
{
    cg_tools__demo_act_kill(&procs[P_APP1], what, cap);
}
static void start_app1(char *what, size_t cap)
{
    cg_tools__demo_act_start(&procs[P_APP1], what, cap);
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
    cg_tools__demo_act_kill(&procs[P_IN2], what, cap);
}
static void start_ingress2(char *what, size_t cap)
{
    cg_tools__demo_act_start(&procs[P_IN2], what, cap);
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
            cg_tools__demo_act_start(p, one, sizeof(one));
        else
            cg_tools__demo_act_kill(p, one, sizeof(one));
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
        if (p->ha && !D.ha) continue;
        if (p->frozen) act_freeze(p, 0, what, sizeof(what));
        if (!p->pid) cg_tools__demo_act_start(p, what, sizeof(what));
    }
    if (D.gw1_deleted) cg_tools__demo_apply_gateway(what, sizeof(what));
    if (strcmp(D.edge_mode, "auto") != 0) api_send("apply", "bookinfo-edge.yaml", -1, "auto");
}

void cg_tools__demo_on_key(cg_loop_t *loop, cg_io_t *io, uint32_t events)
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
        case 'g':
            (D.gw1_deleted ? cg_tools__demo_apply_gateway
                           : cg_tools__demo_remove_gateway)(what, sizeof(what));
            break;
        case 'k':
            (in1->pid ? cg_tools__demo_act_kill : cg_tools__demo_act_start)(in1, what,
                                                                            sizeof(what));
            break;
        case 'K':
            (in2->pid ? cg_tools__demo_act_kill : cg_tools__demo_act_start)(in2, what,
                                                                            sizeof(what));
            break;
        case 'u':
            (procs[P_APP1].pid ? cg_tools__demo_act_kill
                               : cg_tools__demo_act_start)(&procs[P_APP1], what, sizeof(what));
            break;
        case 'U':
            (procs[P_APP2].pid ? cg_tools__demo_act_kill
                               : cg_tools__demo_act_start)(&procs[P_APP2], what, sizeof(what));
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
        default:
            if (!cg_tools__demo_ha_key(keys[i])) cg_tools__demo_gslb_key(keys[i]);
            break;
        }
    }
    cg_tools__demo_draw();
}

/* ---------------------------------------------------------------------------------------
 * Scenarios
 * --------------------------------------------------------------------------------------- */

const scenario_t cg_tools__demo_scenarios[] = {
    {"remove-gateway", "delete the Gateway bookinfo-ingress-1 on the control plane; apply it again",
     "bookinfo-edge.yaml", NULL, "cluster-1", cg_tools__demo_remove_gateway,
     cg_tools__demo_apply_gateway,
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
    {"scale-upstream-eastwest",
     "with east-west on: SIGKILL app-1 (productpage scaled to 0); start it again",
     "bookinfo-edge.yaml", NULL, "cluster-1", kill_app1, start_app1,
     "examples/bookinfo-edge.yaml as it is (auto, defaults); a WorkspaceSetting makes eastwest-2 "
     "(cluster-2, 127.0.2.2:15443, mTLS only) an east-west gateway, and bookinfo-ingress-1 has "
     "outlierDetection {baseEjectionTime: 1s, maxEjectionTime: 3s}. ingress-1's try on the dead "
     "productpage is retried at once on cluster-2's east-west gateway (priority 1, over mTLS, "
     "Host productpage.bookinfo.svc.cluster.local), so ingress-1 answers 200 and the edge sees "
     "no error and ejects nothing. Ejections of app-1 of 1, 2, 3, 3 s end at about 4, 6, 9 s: "
     "the probe after the restart at 8 s brings cluster-1's own productpage back at about 9 s."},
};

const size_t cg_tools__demo_nscenarios =
    sizeof(cg_tools__demo_scenarios) / sizeof(cg_tools__demo_scenarios[0]);
