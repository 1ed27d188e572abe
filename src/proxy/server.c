/* The gateway process: loads resources, compiles and publishes configs, owns the listening
 * sockets, runs the workers, the admin endpoint, reloads on SIGHUP or file change. */
#include "proxy/server.h"
#include "agent/agent.h"
#include "core/err.h"
#include "core/log.h"
#include "core/signals.h"
#include "http/server.h"
#include "model/model.h"
#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/healthcheck.h"
#include "proxy/worker.h"
#include "translate/translate.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <unistd.h>

#define WATCH_INTERVAL_MS 500

typedef struct lport {
    uint16_t port;
    int fds[CG_MAX_WORKERS];
} lport_t;

static struct {
    const cg_gateway_opts_t *o;
    cg_loop_t loop;
    cg_worker_t workers[CG_MAX_WORKERS];
    int nworkers, nstarted;
    cg_proxy_settings_t settings;
    lport_t ports[CG_MAX_LISTENERS];
    size_t nports;
    uint64_t version;
    uint64_t files_sig;
    cg_timer_t watch_timer, drain_timer;
    int draining;
    cg_signals_t signals;
    cg_httpd_t admin;
    cg_agent_cfg_t agent_cfg;
    cg_agent_t *agent;
    cg_proxy_hc_t hc;
    uint64_t reloads_ok, reloads_failed;
} G;

/* A signature of the resource files' names, sizes and mtimes: changes trigger a reload. */
static uint64_t sig_mix(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return h;
}

static uint64_t path_sig(const char *path, uint64_t h)
{
    struct stat st;
    if (stat(path, &st) < 0) return sig_mix(h, 1);
    h = sig_mix(h, (uint64_t)st.st_mtim.tv_sec * 1000000000ULL + (uint64_t)st.st_mtim.tv_nsec);
    h = sig_mix(h, (uint64_t)st.st_size);
    h = sig_mix(h, (uint64_t)st.st_ino);
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        if (!d) return h;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.') continue;
            char sub[4096];
            snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
            h = sig_mix(h, path_sig(sub, 0));
        }
        closedir(d);
    }
    return h;
}

static uint64_t files_sig(void)
{
    uint64_t h = 0;
    for (size_t i = 0; i < G.o->npaths; i++) h = sig_mix(h, path_sig(G.o->paths[i], 0));
    return h;
}

/* Static mode: resource files -> this instance's snapshot. Errors are appended to errors. */
static int build_snapshot(cg_snapshot_t **out, cg_buf_t *errors)
{
    const cg_gateway_opts_t *o = G.o;
    cg_resource_set_t *rs = NULL;
    int r = cg_model_load_paths(o->paths, o->npaths, &rs, errors);
    if (r) return r;
    cg_instance_t inst = {
        .cluster = o->cluster,
        .namespace_ = o->namespace_,
        .labels = o->labels,
        .nlabels = o->nlabels,
        .address = o->address,
    };
    r = cg_translate_instance(rs, &inst, G.version + 1, out, errors);
    cg_model_free(rs);
    return r;
}

static lport_t *find_port(uint16_t port)
{
    for (size_t i = 0; i < G.nports; i++)
        if (G.ports[i].port == port) return &G.ports[i];
    return NULL;
}

/* Makes the listening sockets match cfg: opens new ports (all or nothing), forgets removed
 * ones (each worker closes its own socket when it switches). */
static int sync_listeners(const cg_config_t *cfg, cg_buf_t *errors)
{
    lport_t fresh[CG_MAX_LISTENERS];
    size_t nfresh = 0;
    if (cfg->nlisteners > CG_MAX_LISTENERS) {
        cg_buf_printf(errors, "too many listener ports (%zu, at most %d)\n", cfg->nlisteners, CG_MAX_LISTENERS);
        return CG_ELIMIT;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        uint16_t port = cfg->listeners[i].port;
        if (find_port(port)) continue;
        lport_t *lp = &fresh[nfresh++];
        lp->port = port;
        cg_addr_t a = cfg->bind;
        if (a.u.sa.sa_family == AF_INET6) a.u.in6.sin6_port = htons(port);
        else a.u.in4.sin_port = htons(port);
        for (int w = 0; w < G.nworkers; w++) {
            int fd = cg_sock_listen(&a, 1, 4096);
            if (fd < 0) {
                char as[64];
                cg_addr_format(&a, as, sizeof(as));
                cg_buf_printf(errors, "cannot listen on %s: %s\n", as, cg_strerror(fd));
                for (int k = 0; k < w; k++) close(lp->fds[k]);
                for (size_t j = 0; j + 1 < nfresh; j++)
                    for (int k = 0; k < G.nworkers; k++) close(fresh[j].fds[k]);
                return fd;
            }
            lp->fds[w] = fd;
        }
    }
    /* keep ports still in use, add the fresh ones */
    lport_t next[CG_MAX_LISTENERS];
    size_t n = 0;
    for (size_t i = 0; i < G.nports; i++)
        if (cg_proxy_config_listener(cfg, G.ports[i].port)) next[n++] = G.ports[i];
    for (size_t i = 0; i < nfresh; i++) next[n++] = fresh[i];
    memcpy(G.ports, next, n * sizeof(lport_t));
    G.nports = n;
    return 0;
}

static void publish(cg_config_t *cfg)
{
    int fds[CG_MAX_LISTENERS][CG_MAX_WORKERS];
    uint16_t ports[CG_MAX_LISTENERS];
    for (size_t i = 0; i < G.nports; i++) {
        ports[i] = G.ports[i].port;
        memcpy(fds[i], G.ports[i].fds, sizeof(fds[i]));
    }
    G.version = cfg->version;
    cg_proxy_publish(cfg, fds, ports, G.nports);
    for (int w = 0; w < G.nstarted; w++) cg_proxy_worker_notify(&G.workers[w]);
}

/* Compiles a snapshot (taking it), opens its listeners and publishes it. */
static int install(cg_snapshot_t *snap, cg_buf_t *errors)
{
    cg_config_t *cfg = NULL;
    for (size_t i = 0; i < snap->nwarnings; i++) cg_log_warn("%s", snap->warnings[i]);
    int r = cg_proxy_config_compile(snap, &cfg, errors);
    if (r) return r;
    r = sync_listeners(cfg, errors);
    if (r) {
        cg_proxy_config_unref(cfg);
        return r;
    }
    publish(cfg);
    return 0;
}

/* The agent hands over a snapshot from the control plane (or the cache). */
static int on_agent_snapshot(void *data, cg_snapshot_t *snap, const char *why)
{
    cg_buf_t errors = {0};
    uint64_t v = snap->version;
    int r = install(snap, &errors);
    if (r) {
        G.reloads_failed++;
        cg_log_error("snapshot v%llu from %s rejected, keeping config v%llu:\n%.*s", (unsigned long long)v, why,
                     (unsigned long long)G.version, (int)errors.len, errors.base ? errors.base : "");
    } else {
        G.reloads_ok++;
        cg_log_info("config v%llu applied (%s)", (unsigned long long)G.version, why);
    }
    cg_buf_free(&errors);
    return r;
}

static void reload(const char *why)
{
    cg_buf_t errors = {0};
    cg_snapshot_t *snap = NULL;
    int r = build_snapshot(&snap, &errors);
    if (!r) r = install(snap, &errors);
    if (r) {
        G.reloads_failed++;
        cg_log_error("reload (%s) rejected, keeping config v%llu:\n%.*s", why, (unsigned long long)G.version,
                     (int)(errors.len && errors.base[errors.len - 1] == '\n' ? errors.len - 1 : errors.len),
                     errors.base ? errors.base : "");
    } else {
        G.reloads_ok++;
        cg_log_info("config v%llu applied (%s)", (unsigned long long)G.version, why);
    }
    cg_buf_free(&errors);
}

static void on_watch(cg_loop_t *loop, cg_timer_t *t)
{
    uint64_t s = files_sig();
    if (s != G.files_sig) {
        G.files_sig = s;
        reload("files changed");
    }
    cg_timer_start(loop, t, WATCH_INTERVAL_MS, on_watch);
}

static void on_drained(cg_loop_t *loop, cg_timer_t *t)
{
    cg_log_info("drained: shutting down");
    cg_loop_stop(loop);
}

static void on_signal(cg_loop_t *loop, int signo)
{
    if (signo == SIGHUP) {
        if (!G.o->npaths) return;
        G.files_sig = files_sig();
        reload("SIGHUP");
    } else if (G.o->drain_ms && !G.draining) {
        /* drain: health checks say 503 so edges move away, keep-alive connections close
         * after their current response, then stop (a second signal stops at once) */
        G.draining = 1;
        cg_log_info("signal %d: draining for %u ms", signo, G.o->drain_ms);
        for (int w = 0; w < G.nstarted; w++) __atomic_store_n(&G.workers[w].draining, 1, __ATOMIC_RELAXED);
        cg_timer_start(loop, &G.drain_timer, G.o->drain_ms, on_drained);
    } else {
        cg_log_info("signal %d: shutting down", signo);
        cg_loop_stop(loop);
    }
}

uint64_t cg_proxy_server_reloads(int ok)
{
    return ok ? G.reloads_ok : G.reloads_failed;
}

int cg_proxy_server_nworkers(void)
{
    return G.nworkers;
}

const cg_worker_stats_t *cg_proxy_server_worker_stats(int i)
{
    return &G.workers[i].stats;
}

/* Workers write the access log without blocking. Standard output is reopened as a file
 * description of our own, so O_NONBLOCK does not leak to the shell or terminal sharing it; a
 * socket cannot be reopened, so it gets a duplicate with O_NONBLOCK set. */
static int open_stdout_nonblocking(void)
{
    int fd = open("/proc/self/fd/1", O_WRONLY | O_APPEND | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0) return fd;
    fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (fd < 0) return STDOUT_FILENO;
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* Descriptors kept aside from connections: listeners, admin, control-plane link, health
 * checks, log files, epoll and eventfds. */
#define FD_RESERVE 64

/* Each downstream connection can hold one upstream connection: two descriptors. Raises the soft
 * RLIMIT_NOFILE up to the hard limit (never the hard limit itself: that is the operator's) to
 * fit max_conns; without an explicit --max-connections, fits max_conns to the limit instead.
 * Returns 0, or -1 after one line naming the limit. */
static int size_fd_limit(cg_proxy_settings_t *s, int nworkers, int explicit_max)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 0;
    uint64_t need = (uint64_t)s->max_conns * (uint64_t)nworkers * 2 + FD_RESERVE;
    if (rl.rlim_cur < need && rl.rlim_cur < rl.rlim_max) {
        struct rlimit want = {need < rl.rlim_max ? (rlim_t)need : rl.rlim_max, rl.rlim_max};
        if (setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
    }
    if (rl.rlim_cur >= need) return 0;
    if (explicit_max) {
        fprintf(stderr,
                "crossgate: --max-connections %u with %d workers needs %" PRIu64
                " file descriptors, but the limit (ulimit -n) is %" PRIu64 "\n",
                s->max_conns, nworkers, need, (uint64_t)rl.rlim_cur);
        return -1;
    }
    uint64_t fit = rl.rlim_cur > FD_RESERVE + 2 * (uint64_t)nworkers ? (rl.rlim_cur - FD_RESERVE) / (2 * (uint64_t)nworkers) : 0;
    if (fit < 1) {
        fprintf(stderr, "crossgate: the file descriptor limit (ulimit -n) is %" PRIu64 ", too low to serve\n",
                (uint64_t)rl.rlim_cur);
        return -1;
    }
    s->max_conns = (uint32_t)fit;
    cg_log_info("file descriptor limit %" PRIu64 ": at most %u connections per worker", (uint64_t)rl.rlim_cur,
                s->max_conns);
    return 0;
}

int cg_proxy_server_run(const cg_gateway_opts_t *o)
{
    int rc = 1;
    G.o = o;
    G.nworkers = o->workers > 0 ? o->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (G.nworkers < 1) G.nworkers = 1;
    if (G.nworkers > CG_MAX_WORKERS) G.nworkers = CG_MAX_WORKERS;
    cg_proxy_nworkers = G.nworkers;
    G.settings = (cg_proxy_settings_t){
        .header_timeout_ms = o->header_timeout_ms ? o->header_timeout_ms : 10000,
        .body_timeout_ms = o->body_timeout_ms ? o->body_timeout_ms : 30000,
        .idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : 60000,
        .upstream_idle_ms = 30000,
        .max_conns = o->max_conns ? o->max_conns : 65536,
        .max_idle_per_ep = 256,
        .access_log_fd = -1,
    };
    if (!o->access_log || !strcmp(o->access_log, "-")) {
        G.settings.access_log_fd = open_stdout_nonblocking();
    } else if (strcmp(o->access_log, "off") != 0) {
        /* non-blocking, so a FIFO whose reader stalls never blocks a worker */
        G.settings.access_log_fd = open(o->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
        if (G.settings.access_log_fd < 0) {
            fprintf(stderr, "crossgate: cannot open access log %s: %s\n", o->access_log, strerror(errno));
            return 1;
        }
    }

    static const int signals[] = {SIGHUP, SIGINT, SIGTERM};
    if (cg_loop_init(&G.loop) || cg_signals_start(&G.signals, &G.loop, signals, 3, on_signal)) {
        fprintf(stderr, "crossgate: cannot create the event loop\n");
        return 1;
    }
    if (o->admin && strcmp(o->admin, "off") != 0) {
        int r = cg_proxy_admin_start(&G.admin, &G.loop, o->admin);
        if (r) {
            fprintf(stderr, "crossgate: cannot listen on admin address %s: %s\n", o->admin, cg_strerror(r));
            goto Exit;
        }
    }
    if (o->npaths) {
        cg_buf_t errors = {0};
        cg_snapshot_t *snap = NULL;
        G.files_sig = files_sig();
        int r = build_snapshot(&snap, &errors);
        if (!r) r = install(snap, &errors);
        if (r) {
            fprintf(stderr, "%.*s", (int)errors.len, errors.base ? errors.base : "");
            cg_buf_free(&errors);
            if (o->admin && strcmp(o->admin, "off") != 0) cg_httpd_stop(&G.admin);
            goto Exit;
        }
        cg_buf_free(&errors);
    }
    if (size_fd_limit(&G.settings, G.nworkers, o->max_conns != 0)) {
        G.nworkers = 0; /* none started */
        goto Stop;
    }
    for (int w = 0; w < G.nworkers; w++) {
        if (cg_proxy_worker_start(&G.workers[w], w, &G.settings)) {
            fprintf(stderr, "crossgate: cannot start worker thread\n");
            G.nworkers = w;
            goto Stop;
        }
        G.nstarted = w + 1;
    }
    if (o->control) {
        G.agent_cfg = (cg_agent_cfg_t){
            .url = o->control,
            .token = o->token,
            .cluster = o->cluster,
            .namespace_ = o->namespace_,
            .address = o->address,
            .admin = o->admin,
            .labels = o->labels,
            .nlabels = o->nlabels,
            .cache_dir = o->cache_dir,
        };
        if (cg_agent_start(&G.agent, &G.loop, &G.agent_cfg, on_agent_snapshot, NULL)) goto Stop;
    }
    if (o->npaths) cg_timer_start(&G.loop, &G.watch_timer, WATCH_INTERVAL_MS, on_watch);
    cg_proxy_hc_start(&G.hc, &G.loop);
    {
        char lst[512];
        size_t n = 0;
        for (size_t i = 0; i < G.nports && n < sizeof(lst) - 16; i++)
            n += (size_t)snprintf(lst + n, sizeof(lst) - n, "%s%u", i ? "," : "", G.ports[i].port);
        lst[n] = '\0';
        cg_log_info("gateway cluster=%s namespace=%s address=%s ports=%s workers=%d admin=%s config v%llu",
                    o->cluster, o->namespace_, o->address, n ? lst : "-", G.nworkers,
                    o->admin ? o->admin : "off", (unsigned long long)G.version);
    }
    cg_loop_run(&G.loop);
    rc = 0;

Stop:
    cg_agent_stop(G.agent);
    G.agent = NULL;
    cg_proxy_hc_stop(&G.hc);
    for (int w = 0; w < G.nworkers; w++) cg_proxy_worker_stop(&G.workers[w]);
    if (o->admin && strcmp(o->admin, "off") != 0) cg_httpd_stop(&G.admin);
    cg_loop_run_once(&G.loop, 0);
    cg_proxy_publish(NULL, NULL, NULL, 0);
Exit:
    cg_signals_stop(&G.signals, &G.loop);
    cg_loop_destroy(&G.loop);
    if (G.settings.access_log_fd > STDERR_FILENO) close(G.settings.access_log_fd);
    return rc;
}
