/* The scale-upstream-eastwest scenario of `crossgate demo`: the guide's "Scale Upstream Services"
 * with TSB's east-west failover on. A WorkspaceSetting makes eastwest-2 an east-west gateway of
 * cluster-2; when productpage in cluster-1 goes, ingress-1 serves through it over mTLS, and the
 * edge sees nothing. */
#include "tools/demo_state.h"

#include "http/client.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tetrate's resource, as TSB's east-west guide writes it. */
static const char ws_setting[] =
    "# TSB's east-west guide: eastwest-2 exposes cluster-2's services\n"
    "apiVersion: api.tsb.tetrate.io/v2\n"
    "kind: WorkspaceSetting\n"
    "metadata:\n"
    "  organization: tse\n"
    "  tenant: tse\n"
    "  workspace: bookinfo-ws\n"
    "  name: bookinfo-ws-setting\n"
    "spec:\n"
    "  defaultEastWestGatewaySettings:\n"
    "    - workloadSelector:\n"
    "        namespace: eastwest\n"
    "        labels:\n"
    "          app: eastwest-gateway\n";

/* examples/bookinfo-ingress-1.yaml with short ejections of the dead productpage, so that the
 * probe after the restart at 8 s comes within the run (the defaults: 5 s, then 10 s). */
static const char ingress1[] =
    "# examples/bookinfo-ingress-1.yaml with outlierDetection (scenario scale-upstream-eastwest)\n"
    "apiVersion: gateway.tsb.tetrate.io/v2\n"
    "kind: Gateway\n"
    "metadata:\n"
    "  organization: tse\n"
    "  tenant: tse\n"
    "  workspace: bookinfo-ws\n"
    "  group: bookinfo-gwgroup-1\n"
    "  name: bookinfo-ingress-1\n"
    "spec:\n"
    "  workloadSelector:\n"
    "    namespace: bookinfo\n"
    "    labels:\n"
    "      app: ingressgw-1\n"
    "  http:\n"
    "  - name: bookinfo\n"
    "    port: 8080\n"
    "    hostname: " HOSTNAME "\n"
    "    outlierDetection: {baseEjectionTime: 1s, maxEjectionTime: 3s}\n"
    "    routing:\n"
    "      rules:\n"
    "      - route:\n"
    "          serviceDestination:\n"
    "            host: bookinfo/productpage.bookinfo.svc.cluster.local\n"
    "            port: 9080\n";

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return 1;
    fputs(text, f);
    return fclose(f) ? 1 : 0;
}

/* The body of a GET to an admin endpoint (NULL when it did not answer 200); free it. */
static char *admin_get(const proc_t *p, const char *path)
{
    char url[128];
    snprintf(url, sizeof(url), "http://%s%s", p->admin, path);
    cg_http_result_t res = {0};
    cg_http_fetch("GET", url, NULL, NULL, 0, 500, &res);
    char *body = NULL;
    if (!res.err && res.status == 200) {
        body = malloc(res.body.len + 1);
        if (body) {
            memcpy(body, res.body.base, res.body.len);
            body[res.body.len] = '\0';
        }
    }
    cg_http_result_free(&res);
    return body;
}

static int ready(void *arg)
{
    char *b = admin_get(arg, "/ready");
    free(b);
    return b != NULL;
}

/* ingress-1's snapshot in force has eastwest-2 as an endpoint with the Host it routes on. */
static int ingress_fails_over(void *arg)
{
    (void)arg;
    char *b = admin_get(&procs[P_IN1], "/config_dump");
    int ok = b && strstr(b, procs[P_EW2].address) &&
             strstr(b, "\"host\":\"productpage.bookinfo.svc.cluster.local\"");
    free(b);
    return ok;
}

static int eastwest_prepare(void)
{
    char ws[PATH_MAX + 32], in1[PATH_MAX + 32];
    snprintf(ws, sizeof(ws), "%s/bookinfo-ws-setting.yaml", D.run);
    snprintf(in1, sizeof(in1), "%s/bookinfo-ingress-1-eastwest.yaml", D.run);
    if (write_text(ws, ws_setting) || write_text(in1, ingress1)) {
        fprintf(stderr, "crossgate demo: cannot write %s\n", ws);
        return 1;
    }
    if (cg_tools__demo_apply_now(ws) || cg_tools__demo_apply_now(in1)) return 1;
    proc_t *ew = &procs[P_EW2];
    if (cg_tools__demo_proc_start(ew) ||
        cg_tools__demo_wait_for("eastwest-2 on 127.0.2.2:15000", ew, 10000, ready, ew) ||
        cg_tools__demo_wait_for("ingress-1 to fail over to eastwest-2", &procs[P_IN1], 10000,
                                ingress_fails_over, NULL))
        return 1;
    cg_tools__demo_event(SETUP_T, "demo", 1,
                         "east-west: eastwest-2 (cluster-2) serves productpage on %s over mTLS; "
                         "ingress-1 fails over to it at priority 1",
                         ew->mesh);
    return 0;
}

/* The sum of a counter's samples in a Prometheus text body (0 when absent). */
static uint64_t counter(const char *text, const char *name)
{
    uint64_t sum = 0;
    size_t n = strlen(name);
    for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
        if (strncmp(l, name, n) != 0 || (l[n] != ' ' && l[n] != '{')) continue;
        const char *sp = strchr(l, ' ');
        if (sp) sum += strtoull(sp + 1, NULL, 10);
    }
    return sum;
}

static void eastwest_finish(void)
{
    char *m = admin_get(&procs[P_EW2], "/metrics");
    uint64_t served = m ? counter(m, "crossgate_downstream_rq_total") : 0;
    free(m);
    unsigned ejections = 0;
    cg_tools__demo_edge_view_now(&D.ev);
    for (unsigned i = 0; i < D.ev.nep; i++)
        if (!strcmp(D.ev.ep[i].cluster, "cluster-1")) ejections += D.ev.ep[i].ejections;
    EVENT("demo",
          "east-west: eastwest-2 served %" PRIu64 " requests; the edge ejected cluster-1 %u "
          "times",
          served, ejections);
}

static const scenario_hooks_t hooks[] = {
    {"scale-upstream-eastwest", eastwest_prepare, eastwest_finish},
};

const scenario_hooks_t *cg_tools__demo_hooks(const scenario_t *sc)
{
    for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]); i++)
        if (!strcmp(hooks[i].scenario, sc->name)) return &hooks[i];
    return NULL;
}
