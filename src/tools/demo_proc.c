/* `crossgate demo`: the child processes (each in its own process group, stopped on every way
 * out, SIGTERMed by the kernel if the demo dies), the addresses they need, and their logs read
 * back as events. */
#include "tools/demo_state.h"

#include "core/clock.h"
#include "core/sock.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------------
 * Child processes
 * --------------------------------------------------------------------------------------- */

static proc_t *proc_by_pid(pid_t pid)
{
    for (int i = 0; i < NPROCS; i++)
        if (procs[i].pid == pid) return &procs[i];
    return NULL;
}

void cg_tools__demo_describe_status(int st, char *out, size_t cap)
{
    if (WIFEXITED(st))
        snprintf(out, cap, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(out, cap, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(out, cap, "status %d", st);
}

void cg_tools__demo_proc_reaped(proc_t *p, int st)
{
    p->pid = 0;
    p->frozen = 0;
    p->wstatus = st;
    if (!p->stopping) {
        char why[64];
        p->exited = 1;
        cg_tools__demo_describe_status(st, why, sizeof(why));
        EVENT("demo", "%s exited by itself (%s); its log: %s", p->name, why, p->log);
    }
    p->stopping = 0;
}

/* Collects every child that exited (SIGCHLD). */
void cg_tools__demo_reap(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        proc_t *p = proc_by_pid(pid);
        if (p) cg_tools__demo_proc_reaped(p, st);
    }
}

/* The argument vector of p in buf (strings) and argv. */
static void proc_argv(proc_t *p, char **argv, char (*s)[PATH_MAX])
{
    int n = 0;
    argv[n++] = D.self;
    switch (p->kind) {
    case K_DNS: cg_tools__demo_gslb_argv(argv, s); return;
    case K_ETCD: cg_tools__demo_ha_argv(p, argv, s); return;
    case K_CONTROL:
        snprintf(s[0], PATH_MAX, "%s/%s-data", D.run, p->name);
        argv[n++] = "control";
        argv[n++] = "--listen";
        argv[n++] = (char *)p->listen;
        argv[n++] = "--data";
        argv[n++] = s[0];
        if (!D.ha) break;
        argv[n++] = "--store";
        argv[n++] = "etcd://" ETCD_ENDPOINTS;
        if (p == &procs[P_CONTROL]) break;
        /* the replicas share the first one's admin credential (made on its first start) */
        snprintf(s[1], PATH_MAX, "%s/%s-data/admin.token", D.run, procs[P_CONTROL].name);
        argv[n++] = "--token-file";
        argv[n++] = s[1];
        break;
    case K_APP:
        argv[n++] = "app";
        argv[n++] = "--listen";
        argv[n++] = (char *)p->listen;
        argv[n++] = "--cluster";
        argv[n++] = (char *)p->cluster;
        break;
    default:
        snprintf(s[0], PATH_MAX, "%s/cache/%s", D.run, p->name);
        snprintf(s[1], PATH_MAX, "%s/%s.access.log", D.run, p->name);
        snprintf(s[2], PATH_MAX, "%d", p->workers);
        argv[n++] = "gateway";
        argv[n++] = "--cluster";
        argv[n++] = (char *)p->cluster;
        argv[n++] = "--namespace";
        argv[n++] = (char *)p->ns;
        argv[n++] = "--label";
        argv[n++] = (char *)p->label;
        argv[n++] = "--address";
        argv[n++] = (char *)p->address;
        argv[n++] = "--admin";
        argv[n++] = (char *)p->admin;
        argv[n++] = "--control";
        argv[n++] = D.ha ? CONTROL_URLS : CONTROL_URL;
        argv[n++] = "--cache-dir";
        argv[n++] = s[0];
        argv[n++] = "--access-log";
        argv[n++] = s[1];
        argv[n++] = "--workers";
        argv[n++] = s[2];
        /* every gateway has a mesh identity: edge -> ingress goes over mTLS on 15443 */
        snprintf(s[3], PATH_MAX, "%s/pki/%s", D.run, p->name);
        snprintf(s[4], PATH_MAX, "%s/pki/mesh/ca.crt", D.run);
        argv[n++] = "--identity";
        argv[n++] = s[3];
        argv[n++] = "--mesh-ca";
        argv[n++] = s[4];
    }
    argv[n] = NULL;
}

/* Starts p in its own process group, stdout and stderr appended to its log. It gets SIGTERM
 * if the demo dies (even by SIGKILL). Returns 0 or -1 (reported). */
int cg_tools__demo_proc_start(proc_t *p)
{
    char *argv[40], s[5][PATH_MAX];
    if (p->pid) return 0;
    proc_argv(p, argv, s);
    int fd =
        open(p->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | (p->starts ? 0 : O_TRUNC), 0644);
    if (fd < 0) {
        EVENT("demo", "cannot write %s: %s", p->log, strerror(errno));
        return -1;
    }
    if (p->logfd < 0) p->logfd = open(p->log, O_RDONLY | O_CLOEXEC);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent) _exit(1); /* the demo died before the prctl */
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGPIPE, SIG_DFL);
        dup2(D.devnull, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    int e = errno;
    close(fd);
    if (pid < 0) {
        EVENT("demo", "cannot start %s: %s", p->name, strerror(e));
        return -1;
    }
    setpgid(pid, pid); /* also here: no window in which a signal to the group misses it */
    p->pid = pid;
    p->frozen = p->stopping = p->exited = 0;
    p->starts++;
    return 0;
}

/* Sends sig to p's process group. */
void cg_tools__demo_proc_signal(proc_t *p, int sig)
{
    if (p->pid > 0) kill(-p->pid, sig);
}

/* SIGKILL and wait: the addresses are free when this returns. */
void cg_tools__demo_proc_kill(proc_t *p)
{
    if (!p->pid) return;
    p->stopping = 1;
    cg_tools__demo_proc_signal(p, SIGKILL);
    int st;
    if (waitpid(p->pid, &st, 0) == p->pid) cg_tools__demo_proc_reaped(p, st);
}

/* Stops every child: SIGTERM (and SIGCONT for a frozen one), the gateways and apps first so
 * they can deregister, then the control plane, then its etcd; SIGKILL for any still there after a
 * grace period. Reaps them all. */
void cg_tools__demo_stop_all(void)
{
    static const int order[2][NPROCS] = {
        {P_DNS, P_EDGE, P_EDGE2, P_EW2, P_IN1, P_IN2, P_APP1, P_APP2, -1},
        {P_CONTROL, P_CONTROL2, -1}};
    for (int round = 0; round < 2; round++) {
        int any = 0;
        for (int i = 0; i < NPROCS && order[round][i] >= 0; i++) {
            proc_t *p = &procs[order[round][i]];
            if (!p->pid) continue;
            p->stopping = 1;
            cg_tools__demo_proc_signal(p, SIGTERM);
            cg_tools__demo_proc_signal(p, SIGCONT);
            any = 1;
        }
        uint64_t end = cg_clock_mono_us() + 3000000;
        while (any && cg_clock_mono_us() < end) {
            any = 0;
            for (int i = 0; i < NPROCS && order[round][i] >= 0; i++) {
                proc_t *p = &procs[order[round][i]];
                int st;
                if (p->pid && waitpid(p->pid, &st, WNOHANG) == p->pid)
                    cg_tools__demo_proc_reaped(p, st);
                any |= p->pid != 0;
            }
            if (any) usleep(10000);
        }
    }
    cg_tools__demo_ha_stop();
    for (int i = 0; i < NPROCS; i++) {
        proc_t *p = &procs[i];
        if (!p->pid) continue;
        EVENT("demo", "%s did not stop on SIGTERM: SIGKILL", p->name);
        cg_tools__demo_proc_kill(p);
    }
}

/* ---------------------------------------------------------------------------------------
 * Ports
 * --------------------------------------------------------------------------------------- */

int cg_tools__demo_find_bin(const char *name, char *out, size_t cap)
{
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof(dirs), "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(out, cap, "%s/%s", d, name);
        if (access(out, X_OK) == 0) return 0;
    }
    return -1;
}

/* 0 when hostport can be bound, else the errno. */
static int port_free(const char *hostport)
{
    cg_addr_t a;
    if (cg_addr_parse(&a, hostport)) return EINVAL;
    int fd = socket(a.u.sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return errno;
    int one = 1, e = 0;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, &a.u.sa, a.len) < 0) e = errno;
    close(fd);
    return e;
}

/* Every address the children will listen on, before anything starts. */
int cg_tools__demo_check_ports(void)
{
    static const int order[NPROCS] = {P_EDGE,  P_CONTROL, P_IN1,   P_APP1, P_IN2,
                                      P_APP2,  P_EW2,     P_EDGE2, P_DNS,  P_CONTROL2,
                                      P_ETCD1, P_ETCD2,   P_ETCD3};
    for (int i = 0; i < NPROCS; i++) {
        const proc_t *p = &procs[order[i]];
        const char *addrs[5] = {p->listen, p->admin, p->mesh, p->https, p->peer};
        if (p->ha && !D.ha) continue;
        for (int k = 0; k < 5; k++) {
            if (!addrs[k]) continue;
            int e = port_free(addrs[k]);
            if (e == EADDRINUSE) {
                fprintf(stderr, "crossgate demo: %s is already in use\n", addrs[k]);
                return 1;
            }
            if (e) {
                fprintf(stderr, "crossgate demo: cannot listen on %s (%s): %s\n", addrs[k], p->name,
                        strerror(e));
                return 1;
            }
        }
    }
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Events from the children's logs
 * --------------------------------------------------------------------------------------- */

/* Replaces every `from` in s (in place, at most cap bytes) by `to`. */
static void replace_all(char *s, size_t cap, const char *from, const char *to)
{
    size_t fl = strlen(from), tl = strlen(to);
    for (char *p = strstr(s, from); p; p = strstr(p + tl, from)) {
        size_t rest = strlen(p + fl);
        if ((size_t)(p - s) + tl + rest + 1 > cap) return;
        memmove(p + tl, p + fl, rest + 1);
        memcpy(p, to, tl);
    }
}

/* Instance ids (32 hex digits) shortened to 8. */
static void shorten_ids(char *s)
{
    for (char *p = s; *p; p++) {
        size_t n = 0;
        while (p[n] && strchr("0123456789abcdef", p[n])) n++;
        if (n == 32) {
            memmove(p + 8, p + 32, strlen(p + 32) + 1);
            p += 8;
        } else if (n) {
            p += n - 1;
        }
    }
}

/* Wall time of a log line's "2006-01-02T15:04:05.000Z" prefix, or 0. */
uint64_t cg_tools__demo_log_time(const char *line)
{
    struct tm tm = {0};
    int ms = 0;
    if (sscanf(line, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    return t < 0 ? 0 : (uint64_t)t * 1000000 + (uint64_t)ms * 1000;
}

/* The string value of "key" in a one-line JSON object (etcd's zap log), unescaped only as far
 * as a log line needs. */
static void zap_field(const char *line, const char *key, char *out, size_t cap)
{
    char k[32];
    size_t n = 0;
    snprintf(k, sizeof(k), "\"%s\":\"", key);
    const char *v = strstr(line, k);
    out[0] = '\0';
    if (!v) return;
    for (v += strlen(k); *v && *v != '"' && n + 1 < cap; v++) {
        if (*v == '\\' && v[1]) v++;
        out[n++] = *v;
    }
    out[n] = '\0';
}

/* etcd (zap, one JSON object a line): its leader elections, and what it says is fatal. */
static void etcd_line(proc_t *p, const char *line)
{
    char ts[40], level[16], msg[sizeof(((cg_demo_event_t *)0)->text)];
    zap_field(line, "level", level, sizeof(level));
    zap_field(line, "msg", msg, sizeof(msg));
    int fatal = !strcmp(level, "fatal") || !strcmp(level, "panic");
    if (!strstr(msg, "became leader at term") && !fatal) return;
    zap_field(line, "ts", ts, sizeof(ts));
    uint64_t wall = cg_tools__demo_log_time(ts);
    double t = wall && D.t0_wall ? ((double)wall - (double)D.t0_wall) / 1e6 : cg_tools__demo_now();
    cg_tools__demo_event(t, p->name, D.started || fatal, "%s", msg);
}

static void log_line(proc_t *p, char *line)
{
    static const char *const keep[] = {
        " applied (",        "outlier:",      "health check:",     "registered with control",
        "serving cached",    "signal ",       "control: apply",    "control: delete",
        "control: instance", "; trying http", ": watching (config"};
    /* PowerDNS: only what its health checks decide, and its errors */
    if (p->kind == K_DNS && !strstr(line, "monitoring declaring") && !strstr(line, "rror") &&
        !strstr(line, "atal"))
        return;
    if (p->kind == K_ETCD) {
        etcd_line(p, line);
        return;
    }
    uint64_t wall = cg_tools__demo_log_time(line);
    const char *msg = line, *lvl = "";
    if (wall) {
        char *b = strchr(line, '[');
        if (!b || !strchr(b, ']')) return;
        lvl = b + 1;
        msg = strchr(b, ']') + 1;
        while (*msg == ' ') msg++;
    }
    int show = !wall || !strncmp(lvl, "warn", 4) || !strncmp(lvl, "error", 5);
    for (size_t i = 0; !show && i < sizeof(keep) / sizeof(keep[0]); i++)
        show = strstr(msg, keep[i]) != NULL;
    if (!show || !*msg) return;
    char text[sizeof(((cg_demo_event_t *)0)->text)];
    snprintf(text, sizeof(text), "%s", msg);
    char *from = strstr(text, " from clusters:");
    if (from) *from = '\0';
    for (int i = 0; i < NPROCS; i++) {
        if (procs[i].kind != K_INGRESS) continue;
        char c[64], c2[64];
        snprintf(c, sizeof(c), "(cluster %s)", procs[i].cluster);
        snprintf(c2, sizeof(c2), "(%s)", procs[i].cluster);
        replace_all(text, sizeof(text), procs[i].listen, procs[i].name);
        replace_all(text, sizeof(text), c, c2);
    }
    shorten_ids(text);
    if (p->kind == K_INGRESS || p->kind == K_EDGE) cg_tools__demo_ha_log(p, text);
    double t = wall && D.t0_wall ? ((double)wall - (double)D.t0_wall) / 1e6 : cg_tools__demo_now();
    int loud = !wall || !strncmp(lvl, "warn", 4) || !strncmp(lvl, "error", 5);
    cg_tools__demo_event(t, p->name, D.started || loud, "%s", text);
}

/* Reads what the children logged since the last look. */
void cg_tools__demo_tail_logs(void)
{
    for (int i = 0; i < NPROCS; i++) {
        proc_t *p = &procs[i];
        if (p->logfd < 0) continue;
        for (;;) {
            ssize_t n = read(p->logfd, p->part + p->npart, sizeof(p->part) - 1 - p->npart);
            if (n <= 0) break;
            p->npart += (size_t)n;
            p->part[p->npart] = '\0';
            char *s = p->part, *nl;
            while ((nl = strchr(s, '\n'))) {
                *nl = '\0';
                log_line(p, s);
                s = nl + 1;
            }
            p->npart -= (size_t)(s - p->part);
            memmove(p->part, s, p->npart);
            if (p->npart == sizeof(p->part) - 1) { /* a line longer than the buffer */
                p->part[p->npart] = '\0';
                log_line(p, p->part);
                p->npart = 0;
            }
        }
    }
}
