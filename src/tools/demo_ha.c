/* `crossgate demo --ha`: the control plane as an operator runs it when one machine is not
 * enough (docs/operations.md, "HA control plane"): a 3-member etcd (127.0.5.1-3) and two
 * replicas on it (127.0.0.1:7070 and 127.0.5.10:7070), every gateway and the demo's own calls
 * given both URLs. Its drills kill the etcd leader and the replica the gateways use; the report
 * says where each gateway ended up and whether any instance was dropped. */
#include "core/buf.h"
#include "core/clock.h"
#include "core/json.h"
#include "http/client.h"
#include "tools/demo_state.h"

#include <errno.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_INSTANCES 16 /* the demo registers at most 6 gateways */
#define INSTANCE_ID   40

static char etcd_bin[PATH_MAX];
static size_t url_cur; /* where the demo's next control call goes first */

/* What the report says: instances before the failure and at the end at each replica, the
 * member or replica killed, the change the drill applied. */
typedef struct ids {
    char id[MAX_INSTANCES][INSTANCE_ID];
    unsigned n;
    int ok; /* the replica answered */
} ids_t;

static struct {
    ids_t before, after[2];
    const char *killed;            /* the process the drill killed, or NULL */
    const char *leader_at_failure; /* the member that led when the drill found it, or NULL */
} ha;

/* ---------------------------------------------------------------------------------------
 * The control planes' URLs
 * --------------------------------------------------------------------------------------- */

size_t cg_tools__demo_nurls(void)
{
    return D.ha ? 2 : 1;
}

const char *cg_tools__demo_url(size_t i)
{
    return i % cg_tools__demo_nurls() ? CONTROL2_URL : CONTROL_URL;
}

size_t cg_tools__demo_url_cur(void)
{
    return url_cur % cg_tools__demo_nurls();
}

void cg_tools__demo_url_answered(size_t i)
{
    url_cur = i % cg_tools__demo_nurls();
}

/* The replica of URL i. */
static proc_t *replica(size_t i)
{
    return &procs[i % cg_tools__demo_nurls() ? P_CONTROL2 : P_CONTROL];
}

/* ---------------------------------------------------------------------------------------
 * The etcd members
 * --------------------------------------------------------------------------------------- */

void cg_tools__demo_ha_argv(proc_t *p, char **argv, char (*s)[PATH_MAX])
{
    int n = 0;
    snprintf(s[0], PATH_MAX, "%s/%s", D.run, p->name);
    snprintf(s[1], PATH_MAX, "http://%s", p->listen);
    snprintf(s[2], PATH_MAX, "http://%s", p->peer);
    size_t len = 0;
    s[3][0] = '\0';
    for (int i = P_ETCD1; i < P_ETCD1 + ETCD_MEMBERS; i++)
        len += (size_t)snprintf(s[3] + len, PATH_MAX - len, "%s%s=http://%s", len ? "," : "",
                                procs[i].name, procs[i].peer);
    argv[n++] = etcd_bin;
    argv[n++] = "--name";
    argv[n++] = (char *)p->name;
    argv[n++] = "--data-dir";
    argv[n++] = s[0];
    argv[n++] = "--logger";
    argv[n++] = "zap"; /* one JSON object a line, with milliseconds: the demo reads it back */
    argv[n++] = "--listen-client-urls";
    argv[n++] = s[1];
    argv[n++] = "--advertise-client-urls";
    argv[n++] = s[1];
    argv[n++] = "--listen-peer-urls";
    argv[n++] = s[2];
    argv[n++] = "--initial-advertise-peer-urls";
    argv[n++] = s[2];
    argv[n++] = "--initial-cluster";
    argv[n++] = s[3];
    /* a member that restarts asks before it campaigns, so it does not depose a working leader
     * with its higher term (etcd 3.5's default) */
    argv[n++] = "--pre-vote";
    /* ignored by a member that restarts on its data directory: it rejoins */
    argv[n++] = "--initial-cluster-state";
    argv[n++] = "new";
    argv[n++] = "--initial-cluster-token";
    argv[n++] = "crossgate-demo";
    argv[n] = NULL;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path) ? -1 : 0;
}

/* A reused run directory: the members start a new cluster, with nothing in it. */
static int wipe_members(void)
{
    char dir[PATH_MAX + 64];
    for (int i = P_ETCD1; i < P_ETCD1 + ETCD_MEMBERS; i++) {
        snprintf(dir, sizeof(dir), "%s/%s", D.run, procs[i].name);
        if (access(dir, F_OK) == 0 && nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS)) {
            fprintf(stderr, "crossgate demo: cannot remove %s: %s\n", dir, strerror(errno));
            return 1;
        }
    }
    return 0;
}

/* A POST to a member's v3 JSON gateway; the parsed answer or NULL. */
static cg_json_t *etcd_post(const proc_t *m, const char *path)
{
    char url[128];
    cg_http_result_t res = {0};
    snprintf(url, sizeof(url), "http://%s%s", m->listen, path);
    cg_http_fetch("POST", url, "content-type: application/json\r\n", "{}", 2, 500, &res);
    cg_json_t *doc = NULL;
    if (!res.err && res.status == 200)
        doc = cg_json_parse("etcd", res.body.base ? res.body.base : "", res.body.len, NULL);
    cg_http_result_free(&res);
    return doc;
}

/* The member that leads, by /v3/maintenance/status on each running one (the one whose own id
 * is the leader it names); -1 when none says so. */
static int etcd_leader(void)
{
    for (int i = P_ETCD1; i < P_ETCD1 + ETCD_MEMBERS; i++) {
        if (!procs[i].pid || procs[i].frozen) continue;
        cg_json_t *doc = etcd_post(&procs[i], "/v3/maintenance/status");
        const char *self =
                       cg_json_string(cg_json_get(cg_json_get(doc, "header"), "member_id"), NULL),
                   *leader = cg_json_string(cg_json_get(doc, "leader"), NULL);
        int yes = self && leader && !strcmp(self, leader);
        cg_json_free(doc);
        if (yes) return i;
    }
    return -1;
}

static int members_healthy(void *arg)
{
    for (int i = P_ETCD1; i < P_ETCD1 + ETCD_MEMBERS; i++) {
        char url[128];
        cg_http_result_t res = {0};
        snprintf(url, sizeof(url), "http://%s/health", procs[i].listen);
        cg_http_fetch("GET", url, NULL, NULL, 0, 500, &res);
        int ok = !res.err && res.status == 200 && res.body.base &&
                 memmem(res.body.base, res.body.len, "\"true\"", 6);
        cg_http_result_free(&res);
        if (!ok) return 0;
    }
    return etcd_leader() >= 0;
}

int cg_tools__demo_ha_start(void)
{
    if (cg_tools__demo_find_bin("etcd", etcd_bin, sizeof(etcd_bin))) {
        fprintf(stderr, "crossgate demo: --ha: etcd not found on PATH or in /usr/sbin "
                        "(scripts/deps.sh installs etcd-server)\n");
        return 1;
    }
    if (wipe_members()) return 1;
    for (int i = P_ETCD1; i < P_ETCD1 + ETCD_MEMBERS; i++)
        if (cg_tools__demo_proc_start(&procs[i])) return 1;
    if (cg_tools__demo_wait_for("the etcd members on 127.0.5.1-3:" ETCD_CLIENT_PORT,
                                &procs[P_ETCD1], 20000, members_healthy, NULL))
        return 1;
    int l = etcd_leader();
    cg_tools__demo_event(SETUP_T, "demo", 0, "etcd: 3 members healthy, %s leads",
                         l >= 0 ? procs[l].name : "none");
    /* the second replica takes the first one's admin credential: one at a time */
    static const int order[] = {P_CONTROL, P_CONTROL2};
    for (size_t i = 0; i < 2; i++) {
        proc_t *p = &procs[order[i]];
        char url[128], what[128];
        snprintf(url, sizeof(url), "http://%s/ready", p->listen);
        snprintf(what, sizeof(what), "the control plane %s on %s", p->name, p->listen);
        if (cg_tools__demo_proc_start(p) ||
            cg_tools__demo_wait_for(what, p, 15000, cg_tools__demo_url_ok, url))
            return 1;
    }
    /* a `crossgate` command run from the demo's environment gets both */
    setenv("CROSSGATE_CONTROL", CONTROL_URLS, 1);
    return 0;
}

void cg_tools__demo_ha_stop(void)
{
    for (;;) {
        int l = etcd_leader();
        for (int i = P_ETCD1; l < 0 && i < P_ETCD1 + ETCD_MEMBERS; i++)
            if (procs[i].pid) l = i;
        if (l < 0) return;
        proc_t *p = &procs[l];
        p->stopping = 1;
        cg_tools__demo_proc_signal(p, SIGTERM);
        cg_tools__demo_proc_signal(p, SIGCONT);
        int st;
        for (uint64_t end = cg_clock_mono_us() + 3000000; cg_clock_mono_us() < end; usleep(10000))
            if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
                cg_tools__demo_proc_reaped(p, st);
                break;
            }
        if (p->pid) {
            EVENT("demo", "%s did not stop on SIGTERM: SIGKILL", p->name);
            cg_tools__demo_proc_kill(p);
        }
    }
}

/* ---------------------------------------------------------------------------------------
 * Instances and where the gateways are
 * --------------------------------------------------------------------------------------- */

/* GET /v1/instances at replica i: the ids it knows. */
static void list_instances(size_t i, ids_t *out)
{
    char url[128];
    cg_http_result_t res = {0};
    memset(out, 0, sizeof(*out));
    if (!replica(i)->pid) return;
    snprintf(url, sizeof(url), "%s/v1/instances", cg_tools__demo_url(i));
    cg_http_fetch("GET", url, D.auth, NULL, 0, 1000, &res);
    cg_json_t *doc = NULL;
    if (!res.err && res.status == 200)
        doc = cg_json_parse("instances", res.body.base ? res.body.base : "", res.body.len, NULL);
    const cg_json_t *list = cg_json_get(doc, "instances");
    out->ok = list && cg_json_type(list) == CG_JSON_ARRAY;
    for (size_t k = 0; out->ok && k < cg_json_len(list) && out->n < MAX_INSTANCES; k++) {
        const char *id = cg_json_string(cg_json_get(cg_json_at(list, k), "id"), NULL);
        if (id) snprintf(out->id[out->n++], INSTANCE_ID, "%s", id);
    }
    cg_json_free(doc);
    cg_http_result_free(&res);
}

static int has(const ids_t *s, const char *id)
{
    for (unsigned i = 0; i < s->n; i++)
        if (!strcmp(s->id[i], id)) return 1;
    return 0;
}

void cg_tools__demo_ha_log(proc_t *p, const char *msg)
{
    /* "registered with control plane URL as ID", "control plane URL: watching (config vN)",
     * "control plane URL: watch failed; trying URL2" (what it asks next) */
    static const char *const says[] = {"registered with control plane ", "; trying ",
                                       "control plane "};
    for (size_t k = 0; k < 3; k++) {
        const char *at = strstr(msg, says[k]);
        if (!at || (k == 2 && !strstr(msg, ": watching (config"))) continue;
        at += strlen(says[k]);
        for (size_t i = 0; i < cg_tools__demo_nurls(); i++) {
            size_t n = strlen(cg_tools__demo_url(i));
            if (!strncmp(at, cg_tools__demo_url(i), n) && strchr(" :", at[n]))
                p->control = (unsigned)i + 1;
        }
        return;
    }
}

/* The replica most gateways say they talk to (the edge's on a tie). */
static size_t gateways_replica(void)
{
    unsigned on[2] = {0, 0};
    for (int i = 0; i < NPROCS; i++)
        if (procs[i].pid && procs[i].control) on[(procs[i].control - 1) % 2]++;
    if (on[0] == on[1] && procs[P_EDGE].control) return (procs[P_EDGE].control - 1) % 2;
    return on[1] > on[0] ? 1 : 0;
}

/* ---------------------------------------------------------------------------------------
 * The drills
 * --------------------------------------------------------------------------------------- */

/* what += ", " + more. */
static void append(char *what, size_t cap, const char *more)
{
    size_t n = strlen(what);
    if (n < cap) snprintf(what + n, cap - n, "%s%s", n ? "; " : "", more);
}

static void kill_etcd_leader(char *what, size_t cap)
{
    char one[200];
    int l = etcd_leader();
    ha.leader_at_failure = l >= 0 ? procs[l].name : NULL;
    what[0] = '\0';
    if (l < 0) {
        snprintf(what, cap, "no etcd member says it leads: nothing killed");
        EVENT("demo", "%s", what);
    } else {
        ha.killed = procs[l].name;
        cg_tools__demo_act_kill(&procs[l], one, sizeof(one));
        snprintf(what, cap, "%s, the etcd leader", one);
    }
    cg_tools__demo_remove_gateway(one, sizeof(one));
    append(what, cap, one);
}

static void start_etcd_member(char *what, size_t cap)
{
    char one[200];
    what[0] = '\0';
    for (int i = P_ETCD1; i < P_ETCD1 + ETCD_MEMBERS; i++) {
        if (procs[i].pid) continue;
        cg_tools__demo_act_start(&procs[i], one, sizeof(one));
        append(what, cap, one);
    }
    cg_tools__demo_apply_gateway(one, sizeof(one));
    append(what, cap, one);
}

static void kill_replica(char *what, size_t cap)
{
    char one[200];
    size_t used = gateways_replica();
    proc_t *p = replica(used);
    list_instances(1 - used, &ha.before);
    ha.killed = p->name;
    cg_tools__demo_act_kill(p, one, sizeof(one));
    snprintf(what, cap, "%s, the control plane the gateways use (%s)", one,
             cg_tools__demo_url(used));
    cg_tools__demo_remove_gateway(one, sizeof(one));
    append(what, cap, one);
}

static void start_replica(char *what, size_t cap)
{
    char one[200];
    what[0] = '\0';
    for (size_t i = 0; i < 2; i++) {
        if (replica(i)->pid) continue;
        cg_tools__demo_act_start(replica(i), one, sizeof(one));
        append(what, cap, one);
    }
    cg_tools__demo_apply_gateway(one, sizeof(one));
    append(what, cap, one);
}

const scenario_t cg_tools__demo_ha_scenarios[] = {
    {"etcd-member-down",
     "--ha: SIGKILL the etcd leader, delete bookinfo-ingress-1; restart the member, apply it",
     "bookinfo-edge.yaml", NULL, "cluster-1", kill_etcd_leader, start_etcd_member,
     "examples/bookinfo-edge.yaml as it is (auto); the control plane on a 3-member etcd with two "
     "replicas. The leader found through /v3/maintenance/status is SIGKILLed and the change is "
     "applied while the two others elect a new one: the control plane's write goes to the next "
     "member, and a \"store unavailable\" answer (no leader yet) is sent again. The edge drops "
     "ingress-1 when the change is served, and takes it back after the member restarts."},
    {"control-plane-down",
     "--ha: SIGKILL the control replica the gateways use, delete bookinfo-ingress-1 through the "
     "other; restart it, apply",
     "bookinfo-edge.yaml", NULL, "cluster-1", kill_replica, start_replica,
     "examples/bookinfo-edge.yaml as it is (auto); two control-plane replicas on a 3-member etcd, "
     "every gateway given both URLs. The gateways' watches on the killed replica break; each "
     "moves to the other with its instance id and config version, which it knows from etcd, so "
     "no gateway registers again and no instance is dropped. The change goes through the "
     "survivor and reaches the edge by its watch there."},
};

const size_t cg_tools__demo_ha_nscenarios =
    sizeof(cg_tools__demo_ha_scenarios) / sizeof(cg_tools__demo_ha_scenarios[0]);

/* ---------------------------------------------------------------------------------------
 * The live keys
 * --------------------------------------------------------------------------------------- */

int cg_tools__demo_ha_key(char key)
{
    char what[200];
    if (!D.ha || (key != 'x' && key != 'c')) return 0;
    if (key == 'x') {
        int down = -1;
        for (int i = P_ETCD1; i < P_ETCD1 + ETCD_MEMBERS; i++)
            if (!procs[i].pid) down = i;
        if (down >= 0) {
            cg_tools__demo_act_start(&procs[down], what, sizeof(what));
        } else {
            int l = etcd_leader();
            if (l >= 0)
                cg_tools__demo_act_kill(&procs[l], what, sizeof(what));
            else
                EVENT("demo", "no etcd member says it leads");
        }
        return 1;
    }
    for (size_t i = 0; i < 2; i++)
        if (!replica(i)->pid) {
            cg_tools__demo_act_start(replica(i), what, sizeof(what));
            return 1;
        }
    cg_tools__demo_act_kill(replica(gateways_replica()), what, sizeof(what));
    return 1;
}

/* ---------------------------------------------------------------------------------------
 * The report
 * --------------------------------------------------------------------------------------- */

void cg_tools__demo_ha_before(void)
{
    if (!D.ha) return;
    /* the survivor of control-plane-down is asked at its failure; any replica otherwise */
    list_instances(cg_tools__demo_url_cur(), &ha.before);
    if (!ha.before.ok) list_instances(1 - cg_tools__demo_url_cur(), &ha.before);
}

static void json_ids(cg_jw_t *w, const char *key, const ids_t *s)
{
    if (!s->ok) {
        cg_jw_key(w, key);
        cg_jw_null(w);
        return;
    }
    cg_jw_karr(w, key);
    for (unsigned i = 0; i < s->n; i++) cg_jw_str(w, s->id[i]);
    cg_jw_end(w);
}

void cg_tools__demo_ha_finish(cg_buf_t *json)
{
    char line[200];
    int l = etcd_leader();
    unsigned dropped = 0;
    for (size_t i = 0; i < 2; i++) list_instances(i, &ha.after[i]);
    for (unsigned k = 0; k < ha.before.n; k++)
        for (size_t i = 0; i < 2; i++)
            if (ha.after[i].ok && !has(&ha.after[i], ha.before.id[k])) {
                dropped++;
                break;
            }
    size_t n = 0;
    for (int i = 0; i < NPROCS; i++) {
        const proc_t *p = &procs[i];
        if ((p->kind != K_EDGE && p->kind != K_INGRESS) || !p->control || n >= sizeof(line))
            continue;
        n += (size_t)snprintf(line + n, sizeof(line) - n, "%s%s: %s", n ? ", " : "", p->name,
                              replica(p->control - 1)->name);
    }
    EVENT("demo",
          "ha: the gateways talk to %s; %u of the %u instances before the failure "
          "dropped; etcd leader %s",
          n ? line : "-", dropped, ha.before.n, l >= 0 ? procs[l].name : "none");
    cg_jw_t w = cg_jw(json);
    cg_jw_obj(&w);
    cg_jw_karr(&w, "etcd");
    for (int i = P_ETCD1; i < P_ETCD1 + ETCD_MEMBERS; i++) cg_jw_str(&w, procs[i].listen);
    cg_jw_end(&w);
    cg_jw_karr(&w, "controls");
    for (size_t i = 0; i < 2; i++) cg_jw_str(&w, cg_tools__demo_url(i));
    cg_jw_end(&w);
    cg_jw_kstr_opt(&w, "killed", ha.killed);
    cg_jw_kstr_opt(&w, "etcd_leader_at_failure", ha.leader_at_failure);
    cg_jw_kstr_opt(&w, "etcd_leader_at_end", l >= 0 ? procs[l].name : NULL);
    /* the control plane each gateway last said it talks to */
    cg_jw_kobj(&w, "gateways");
    for (int i = 0; i < NPROCS; i++) {
        const proc_t *p = &procs[i];
        if ((p->kind != K_EDGE && p->kind != K_INGRESS) || !p->pid) continue;
        cg_jw_kstr_opt(&w, p->name, p->control ? cg_tools__demo_url(p->control - 1) : NULL);
    }
    cg_jw_end(&w);
    json_ids(&w, "instances_at_failure", &ha.before);
    cg_jw_kobj(&w, "instances_at_end");
    for (size_t i = 0; i < 2; i++) json_ids(&w, replica(i)->name, &ha.after[i]);
    cg_jw_end(&w);
    cg_jw_ku64(&w, "instances_dropped", dropped);
    cg_jw_end(&w);
}
