/* The gateway: loads resources, compiles and publishes configs, owns the listening sockets,
 * runs the workers, the admin endpoint, reloads on SIGHUP or file change. What feeds it in
 * dynamic mode (the agent) is wired in by the composition root, cli/gateway_main.c. */
#include "proxy/server.h"
#include "core/err.h"
#include "core/log.h"
#include "core/signals.h"
#include "http/server.h"
#include "model/model.h"
#include "proxy/admin.h"
#include "proxy/config.h"
#include "proxy/healthcheck.h"
#include "proxy/mesh.h"
#include "proxy/tlsconf.h"
#include "proxy/worker.h"
#include "translate/translate.h"

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
/* Session-ticket keys: a new one encrypts every period, the previous still decrypts for one
 * more (tls/tls.h), so a ticket is good for between one and two periods. */
#define TICKET_ROTATE_MS (12u * 3600u * 1000u)

typedef struct lport {
    uint16_t port;
    int fds[CG_MAX_WORKERS];
} lport_t;

/* One gateway, reached in every callback through the loop, timer or data pointer it handed out.
 * What stays per process lives below this file, and two gateways in one process would share it:
 * the published config and its listener sockets (proxy/worker.h), the endpoint-stats registry
 * and the worker count configs are compiled for (proxy/config.h), and the signal mask. */
struct cg_proxy_server {
    const cg_gateway_opts_t *o;
    cg_loop_t loop;
    cg_worker_t workers[CG_MAX_WORKERS];
    int nworkers, nstarted;
    cg_proxy_settings_t settings;
    lport_t ports[CG_MAX_LISTENERS];
    size_t nports;
    uint64_t version;
    uint64_t files_sig;
    char **tls_paths; /* the TLS files the config in force read (static mode): watched too */
    size_t ntls_paths;
    cg_timer_t watch_timer, drain_timer, ticket_timer, mesh_timer;
    uint64_t mesh_sig; /* of the mesh identity's files (stat), to reload them when they change */
    cg_tls_ticket_keys_t *ticket_keys; /* every TLS set's, for resumption across reloads */
    int draining;
    cg_signals_t signals;
    cg_httpd_t admin;
    int admin_on;
    cg_proxy_hc_t hc;
    uint64_t reloads_ok, reloads_failed;
    cg_proxy_admin_view_t admin_view;
};

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
        /* the files a load reads; an added or removed one changes the directory's mtime */
        cg_model_paths_t files = {0};
        cg_model_dir_files(path, &files);
        for (size_t i = 0; i < files.len; i++) h = sig_mix(h, path_sig(files.items[i], 0));
        cg_model_paths_free(&files);
    }
    return h;
}

static uint64_t files_sig(const cg_proxy_server_t *g)
{
    uint64_t h = 0;
    for (size_t i = 0; i < g->o->npaths; i++) h = sig_mix(h, path_sig(g->o->paths[i], 0));
    for (size_t i = 0; i < g->ntls_paths; i++) h = sig_mix(h, path_sig(g->tls_paths[i], 0));
    return h;
}

static void tls_paths_free(cg_proxy_server_t *g)
{
    for (size_t i = 0; i < g->ntls_paths; i++) free(g->tls_paths[i]);
    free(g->tls_paths);
    g->tls_paths = NULL;
    g->ntls_paths = 0;
}

/* Takes the TLS file paths of the config just installed (certificate, key and CA of every
 * files-mode server), so that a renewed certificate reloads like a changed resource. Returns 1
 * when they differ from the previous config's (the signature must then be taken again). */
static int tls_paths_take(cg_proxy_server_t *g, const cg_snapshot_t *snap)
{
    size_t n = 0, cap = 0;
    char **paths = NULL;
    for (size_t s = 0; s < snap->nservers; s++) {
        const cg_snap_tls_t *t = snap->servers[s].tls;
        const char *files[3] = {t ? t->cert_file : NULL, t ? t->key_file : NULL,
                                t ? t->ca_file : NULL};
        for (int k = 0; k < 3; k++) {
            if (!files[k]) continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 8;
                paths = realloc(paths, cap * sizeof(*paths));
                if (!paths) abort();
            }
            paths[n++] = cg_xstrdup(files[k]);
        }
    }
    int changed = n != g->ntls_paths;
    for (size_t i = 0; !changed && i < n; i++) changed = strcmp(paths[i], g->tls_paths[i]) != 0;
    tls_paths_free(g);
    g->tls_paths = paths;
    g->ntls_paths = n;
    return changed;
}

/* After a config from the files was installed: watch its TLS files from now on. */
static void watch_tls_files(cg_proxy_server_t *g)
{
    cg_config_t *cfg = cg_proxy_current_config();
    if (cfg && tls_paths_take(g, cfg->snap)) g->files_sig = files_sig(g);
    cg_proxy_config_unref(cfg);
}

/* Static mode: resource files -> this instance's snapshot. Errors are appended to errors. */
static int build_snapshot(const cg_proxy_server_t *g, cg_snapshot_t **out, cg_buf_t *errors)
{
    const cg_gateway_opts_t *o = g->o;
    cg_resource_set_t *rs = NULL;
    int r = cg_model_load_paths(o->paths, o->npaths, &rs, errors);
    if (r) return r;
    if ((r = cg_model_check_files(rs, errors)) != 0) { /* TLS files are read here, where served */
        cg_model_free(rs);
        return r;
    }
    cg_instance_t inst = {
        .cluster = o->cluster,
        .namespace_ = o->namespace_,
        .labels = o->labels,
        .nlabels = o->nlabels,
        .address = o->address,
        /* its own mesh port: an east-west gateway serves there, an ingress fails over from
         * there (static gateways of other clusters stay plain text: nothing registers theirs) */
        .mtls_port = o->identity ? o->mtls_port : 0,
    };
    r = cg_translate_instance(rs, &inst, g->version + 1, out, errors);
    cg_model_free(rs);
    return r;
}

static lport_t *find_port(cg_proxy_server_t *g, uint16_t port)
{
    for (size_t i = 0; i < g->nports; i++)
        if (g->ports[i].port == port) return &g->ports[i];
    return NULL;
}

/* Makes the listening sockets match cfg: opens new ports (all or nothing), forgets removed
 * ones (each worker closes its own socket when it switches). */
static int sync_listeners(cg_proxy_server_t *g, const cg_config_t *cfg, cg_buf_t *errors)
{
    lport_t fresh[CG_MAX_LISTENERS];
    size_t nfresh = 0;
    if (cfg->nlisteners > CG_MAX_LISTENERS) {
        cg_buf_printf(errors, "too many listener ports (%zu, at most %d)\n", cfg->nlisteners,
                      CG_MAX_LISTENERS);
        return CG_ELIMIT;
    }
    for (size_t i = 0; i < cfg->nlisteners; i++) {
        uint16_t port = cfg->listeners[i].port;
        if (find_port(g, port)) continue;
        lport_t *lp = &fresh[nfresh++];
        lp->port = port;
        cg_addr_t a = cfg->bind;
        if (a.u.sa.sa_family == AF_INET6)
            a.u.in6.sin6_port = htons(port);
        else
            a.u.in4.sin_port = htons(port);
        for (int w = 0; w < g->nworkers; w++) {
            int fd = cg_sock_listen(&a, 1, 4096);
            if (fd < 0) {
                char as[64];
                cg_addr_format(&a, as, sizeof(as));
                cg_buf_printf(errors, "cannot listen on %s: %s\n", as, cg_strerror(fd));
                for (int k = 0; k < w; k++) close(lp->fds[k]);
                for (size_t j = 0; j + 1 < nfresh; j++)
                    for (int k = 0; k < g->nworkers; k++) close(fresh[j].fds[k]);
                return fd;
            }
            lp->fds[w] = fd;
        }
    }
    /* keep ports still in use, add the fresh ones */
    lport_t next[CG_MAX_LISTENERS];
    size_t n = 0;
    for (size_t i = 0; i < g->nports; i++)
        if (cg_proxy_config_listener(cfg, g->ports[i].port)) next[n++] = g->ports[i];
    for (size_t i = 0; i < nfresh; i++) next[n++] = fresh[i];
    memcpy(g->ports, next, n * sizeof(lport_t));
    g->nports = n;
    return 0;
}

static void publish(cg_proxy_server_t *g, cg_config_t *cfg)
{
    int fds[CG_MAX_LISTENERS][CG_MAX_WORKERS];
    uint16_t ports[CG_MAX_LISTENERS];
    for (size_t i = 0; i < g->nports; i++) {
        ports[i] = g->ports[i].port;
        memcpy(fds[i], g->ports[i].fds, sizeof(fds[i]));
    }
    g->version = cfg->version;
    cg_proxy_publish(cfg, fds, ports, g->nports);
    for (int w = 0; w < g->nstarted; w++) cg_proxy_worker_notify(&g->workers[w]);
}

/* Compiles a snapshot (taking it), opens its listeners and publishes it. */
static int install(cg_proxy_server_t *g, cg_snapshot_t *snap, cg_buf_t *errors)
{
    cg_config_t *cfg = NULL;
    for (size_t i = 0; i < snap->nwarnings; i++) cg_log_warn("%s", snap->warnings[i]);
    int r = cg_proxy_config_compile(snap, &cfg, errors);
    if (r) return r;
    r = sync_listeners(g, cfg, errors);
    if (r) {
        cg_proxy_config_unref(cfg);
        return r;
    }
    publish(g, cfg);
    return 0;
}

int cg_proxy_server_apply(cg_proxy_server_t *g, cg_snapshot_t *snap, const char *why)
{
    cg_buf_t errors = {0};
    uint64_t v = snap->version;
    int r = install(g, snap, &errors);
    if (r) {
        g->reloads_failed++;
        cg_log_error("snapshot v%llu from %s rejected, keeping config v%llu:\n%.*s",
                     (unsigned long long)v, why, (unsigned long long)g->version, (int)errors.len,
                     errors.base ? errors.base : "");
    } else {
        g->reloads_ok++;
        cg_log_info("config v%llu applied (%s)", (unsigned long long)g->version, why);
    }
    cg_buf_free(&errors);
    return r;
}

static void reload(cg_proxy_server_t *g, const char *why)
{
    cg_buf_t errors = {0};
    cg_snapshot_t *snap = NULL;
    int r = build_snapshot(g, &snap, &errors);
    if (!r) r = install(g, snap, &errors);
    if (r) {
        g->reloads_failed++;
        cg_log_error(
            "reload (%s) rejected, keeping config v%llu:\n%.*s", why,
            (unsigned long long)g->version,
            (int)(errors.len && errors.base[errors.len - 1] == '\n' ? errors.len - 1 : errors.len),
            errors.base ? errors.base : "");
    } else {
        g->reloads_ok++;
        cg_log_info("config v%llu applied (%s)", (unsigned long long)g->version, why);
        watch_tls_files(g);
    }
    cg_buf_free(&errors);
}

static void on_watch(cg_loop_t *loop, cg_timer_t *t)
{
    cg_proxy_server_t *g = cg_container_of(t, cg_proxy_server_t, watch_timer);
    uint64_t s = files_sig(g);
    if (s != g->files_sig) {
        g->files_sig = s;
        reload(g, "files changed");
    }
    cg_timer_start(loop, t, WATCH_INTERVAL_MS, on_watch);
}

static uint64_t mesh_files_sig(void)
{
    const char *const *p = cg_proxy_mesh_paths();
    uint64_t h = 0;
    for (int i = 0; p && i < 3; i++) h = sig_mix(h, path_sig(p[i], 0));
    return h;
}

/* The mesh identity renewed: new handshakes use it, live connections keep theirs. */
static void reload_mesh(cg_proxy_server_t *g, const char *why)
{
    g->mesh_sig = mesh_files_sig();
    cg_buf_t err = {0};
    int r = cg_proxy_mesh_reload(&err);
    if (r < 0)
        cg_log_error("mesh identity reload (%s) rejected, keeping the one in force: %.*s", why,
                     (int)err.len, err.base ? err.base : "");
    else if (r > 0)
        cg_log_info("mesh identity reloaded (%s)", why);
    cg_buf_free(&err);
}

static void on_mesh_watch(cg_loop_t *loop, cg_timer_t *t)
{
    cg_proxy_server_t *g = cg_container_of(t, cg_proxy_server_t, mesh_timer);
    if (mesh_files_sig() != g->mesh_sig) reload_mesh(g, "files changed");
    cg_timer_start(loop, t, WATCH_INTERVAL_MS, on_mesh_watch);
}

static void on_ticket_rotate(cg_loop_t *loop, cg_timer_t *t)
{
    cg_proxy_server_t *g = cg_container_of(t, cg_proxy_server_t, ticket_timer);
    cg_tls_ticket_keys_rotate(g->ticket_keys);
    cg_timer_start(loop, t, TICKET_ROTATE_MS, on_ticket_rotate);
}

static void on_drained(cg_loop_t *loop, cg_timer_t *t)
{
    cg_log_info("drained: shutting down");
    cg_loop_stop(loop);
}

static void on_signal(cg_loop_t *loop, int signo)
{
    cg_proxy_server_t *g = cg_container_of(loop, cg_proxy_server_t, loop);
    if (signo == SIGHUP) {
        if (cg_proxy_mesh_port()) reload_mesh(g, "SIGHUP");
        if (!g->o->npaths) return;
        g->files_sig = files_sig(g);
        reload(g, "SIGHUP");
    } else if (g->o->drain_ms && !g->draining) {
        /* drain: health checks say 503 so edges move away, keep-alive connections close
         * after their current response, then stop (a second signal stops at once) */
        g->draining = 1;
        cg_log_info("signal %d: draining for %u ms", signo, g->o->drain_ms);
        for (int w = 0; w < g->nstarted; w++) {
            __atomic_store_n(&g->workers[w].draining, 1, __ATOMIC_RELAXED);
            cg_proxy_worker_notify(&g->workers[w]);
        }
        cg_timer_start(loop, &g->drain_timer, g->o->drain_ms, on_drained);
    } else {
        cg_log_info("signal %d: shutting down", signo);
        cg_loop_stop(loop);
    }
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
    uint64_t fit = rl.rlim_cur > FD_RESERVE + 2 * (uint64_t)nworkers
                       ? (rl.rlim_cur - FD_RESERVE) / (2 * (uint64_t)nworkers)
                       : 0;
    if (fit < 1) {
        fprintf(stderr,
                "crossgate: the file descriptor limit (ulimit -n) is %" PRIu64
                ", too low to serve\n",
                (uint64_t)rl.rlim_cur);
        return -1;
    }
    s->max_conns = (uint32_t)fit;
    cg_log_info("file descriptor limit %" PRIu64 ": at most %u connections per worker",
                (uint64_t)rl.rlim_cur, s->max_conns);
    return 0;
}

int cg_proxy_server_start(cg_proxy_server_t **out, const cg_gateway_opts_t *o)
{
    cg_proxy_server_t *g = cg_xcalloc(1, sizeof(*g));
    *out = NULL;
    g->o = o;
    g->nworkers = o->workers > 0 ? o->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (g->nworkers < 1) g->nworkers = 1;
    if (g->nworkers > CG_MAX_WORKERS) g->nworkers = CG_MAX_WORKERS;
    cg_proxy_nworkers = g->nworkers;
    g->settings = (cg_proxy_settings_t){
        .header_timeout_ms = o->header_timeout_ms ? o->header_timeout_ms : 10000,
        .body_timeout_ms = o->body_timeout_ms ? o->body_timeout_ms : 30000,
        .idle_timeout_ms = o->idle_timeout_ms ? o->idle_timeout_ms : 60000,
        .upstream_idle_ms = 30000,
        .max_conns = o->max_conns ? o->max_conns : 65536,
        .max_idle_per_ep = o->upstream_max_idle ? o->upstream_max_idle : 1024,
        .access_log_fd = -1,
        .access_log_tls = o->access_log_tls != 0,
        .h2_max_streams = o->h2_max_streams ? o->h2_max_streams : 100,
        .h2_max_header_list = o->h2_max_header_list ? o->h2_max_header_list : 64 * 1024,
        .h2_max_resets = o->h2_max_resets ? o->h2_max_resets : 100,
        .h2_max_glitches = o->h2_max_glitches ? o->h2_max_glitches : 1000,
    };
    if (!o->access_log || !strcmp(o->access_log, "-")) {
        g->settings.access_log_fd = open_stdout_nonblocking();
    } else if (strcmp(o->access_log, "off") != 0) {
        /* non-blocking, so a FIFO whose reader stalls never blocks a worker */
        g->settings.access_log_fd =
            open(o->access_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0644);
        if (g->settings.access_log_fd < 0) {
            fprintf(stderr, "crossgate: cannot open access log %s: %s\n", o->access_log,
                    strerror(errno));
            free(g);
            return CG_EIO;
        }
    }

    static const int signals[] = {SIGHUP, SIGINT, SIGTERM};
    g->ticket_keys = cg_tls_ticket_keys_new();
    if (!g->ticket_keys) {
        fprintf(stderr, "crossgate: cannot make TLS session-ticket keys\n");
        if (g->settings.access_log_fd > STDERR_FILENO) close(g->settings.access_log_fd);
        free(g);
        return CG_ENOMEM;
    }
    cg_proxy_tls_set_ticket_keys(g->ticket_keys);
    if (cg_loop_init(&g->loop)) {
        cg_proxy_tls_set_ticket_keys(NULL);
        cg_tls_ticket_keys_free(g->ticket_keys);
        fprintf(stderr, "crossgate: cannot create the event loop\n");
        if (g->settings.access_log_fd > STDERR_FILENO) close(g->settings.access_log_fd);
        free(g);
        return CG_ESYS;
    }
    int r = cg_signals_start(&g->signals, &g->loop, signals, 3, on_signal);
    if (r) {
        fprintf(stderr, "crossgate: cannot create the event loop\n");
        goto Error;
    }
    if (o->admin && strcmp(o->admin, "off") != 0) {
        g->admin_view = (cg_proxy_admin_view_t){
            .workers = g->workers,
            .nworkers = &g->nworkers,
            .reloads_ok = &g->reloads_ok,
            .reloads_failed = &g->reloads_failed,
        };
        r = cg_proxy_admin_start(&g->admin, &g->loop, o->admin, &g->admin_view);
        if (r) {
            fprintf(stderr, "crossgate: cannot listen on admin address %s: %s\n", o->admin,
                    cg_strerror(r));
            goto Error;
        }
        g->admin_on = 1;
    }
    if (o->identity) {
        cg_buf_t err = {0};
        cg_proxy_mesh_opts_t mo = {o->identity,   o->mesh_ca,   o->cluster,
                                   o->namespace_, o->mtls_port, g->ticket_keys};
        r = cg_proxy_mesh_load(&mo, &err);
        if (r) fprintf(stderr, "crossgate: %.*s\n", (int)err.len, err.base ? err.base : "");
        cg_buf_free(&err);
        if (r) goto Error;
        g->mesh_sig = mesh_files_sig();
    }
    cg_proxy_mesh_set_required(o->require_mtls);
    if (o->npaths) {
        cg_buf_t errors = {0};
        cg_snapshot_t *snap = NULL;
        g->files_sig = files_sig(g);
        r = build_snapshot(g, &snap, &errors);
        if (!r) r = install(g, snap, &errors);
        if (r) fprintf(stderr, "%.*s", (int)errors.len, errors.base ? errors.base : "");
        cg_buf_free(&errors);
        if (r) goto Error;
        watch_tls_files(g);
    }
    if (size_fd_limit(&g->settings, g->nworkers, o->max_conns != 0)) {
        r = CG_ELIMIT;
        goto Error;
    }
    for (int w = 0; w < g->nworkers; w++) {
        r = cg_proxy_worker_start(&g->workers[w], w, &g->settings);
        if (r) {
            fprintf(stderr, "crossgate: cannot start worker thread\n");
            goto Error;
        }
        g->nstarted = w + 1;
    }
    *out = g;
    return 0;

Error:
    cg_proxy_server_stop(g);
    return r;
}

cg_loop_t *cg_proxy_server_loop(cg_proxy_server_t *g)
{
    return &g->loop;
}

void cg_proxy_server_run(cg_proxy_server_t *g)
{
    const cg_gateway_opts_t *o = g->o;
    if (o->npaths) cg_timer_start(&g->loop, &g->watch_timer, WATCH_INTERVAL_MS, on_watch);
    cg_timer_start(&g->loop, &g->ticket_timer, TICKET_ROTATE_MS, on_ticket_rotate);
    if (cg_proxy_mesh_port())
        cg_timer_start(&g->loop, &g->mesh_timer, WATCH_INTERVAL_MS, on_mesh_watch);
    cg_proxy_hc_start(&g->hc, &g->loop);
    char lst[512];
    size_t n = 0;
    for (size_t i = 0; i < g->nports && n < sizeof(lst) - 16; i++)
        n += (size_t)snprintf(lst + n, sizeof(lst) - n, "%s%u", i ? "," : "", g->ports[i].port);
    lst[n] = '\0';
    cg_log_info(
        "gateway cluster=%s namespace=%s address=%s ports=%s workers=%d admin=%s config v%llu",
        o->cluster, o->namespace_, o->address, n ? lst : "-", g->nworkers,
        o->admin ? o->admin : "off", (unsigned long long)g->version);
    cg_loop_run(&g->loop);
}

void cg_proxy_server_stop(cg_proxy_server_t *g)
{
    if (!g) return;
    cg_proxy_hc_stop(&g->hc);
    for (int w = 0; w < g->nstarted; w++) cg_proxy_worker_stop(&g->workers[w]);
    if (g->admin_on) cg_httpd_stop(&g->admin);
    cg_loop_run_once(&g->loop, 0);
    cg_proxy_publish(NULL, NULL, NULL, 0);
    cg_signals_stop(&g->signals, &g->loop);
    cg_loop_destroy(&g->loop);
    if (g->settings.access_log_fd > STDERR_FILENO) close(g->settings.access_log_fd);
    /* the configs, and with them the TLS sets that use the keys, are gone */
    cg_proxy_mesh_unload();
    cg_proxy_tls_set_ticket_keys(NULL);
    cg_tls_ticket_keys_free(g->ticket_keys);
    tls_paths_free(g);
    free(g);
}
