/* Agent state machine on the gateway's main loop:
 *   REGISTER --ok--> WATCH (long-poll) + HEARTBEAT timer
 *   any failure --> back-off (jittered, 100 ms doubling to 5 s) --> REGISTER or WATCH again
 *   heartbeat or watch says 404 (lease gone) --> REGISTER
 * The gateway keeps serving its last good snapshot throughout. */
#include "agent/agent.h"
#include "translate/registration.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "http/client.h"
#include "model/yaml.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#define WATCH_TIMEOUT_MS 30000
#define BACKOFF_MIN_MS   100
#define BACKOFF_MAX_MS   5000

static struct {
    cg_loop_t *loop;
    const cg_agent_cfg_t *cfg;
    cg_agent_apply_cb cb;
    void *data;
    char id[128];
    uint64_t version; /* of the snapshot in force */
    uint32_t heartbeat_ms;
    uint32_t backoff_ms;
    cg_timer_t hb_timer, retry_timer;
    cg_http_client_t *reg, *hb, *watch;
    char headers[600];
    int connected, stopping;
    int unreachable_logged;
} A;

static void do_register(void);
static void do_watch(void);

static uint32_t jitter(uint32_t ms)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r)) r = (uint32_t)cg_clock_mono_us();
    return ms / 2 + r % (ms / 2 + 1);
}

static void url_for(char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void url_for(char *out, size_t cap, const char *fmt, ...)
{
    int n = snprintf(out, cap, "%s", A.cfg->url);
    if (n < 0 || (size_t)n >= cap) n = (int)cap - 1; /* cannot happen: URLs are bounded at start */
    while (n > 0 && out[n - 1] == '/') out[--n] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
}

static void lost(const char *what, int err, int status)
{
    A.connected = 0;
    if (!A.unreachable_logged) {
        if (err)
            cg_log_warn("control plane %s: %s failed (%s); serving config v%" PRIu64
                        " until it is back",
                        A.cfg->url, what, cg_strerror(err), A.version);
        else
            cg_log_warn("control plane %s: %s answered %d; serving config v%" PRIu64
                        " until it is back",
                        A.cfg->url, what, status, A.version);
        A.unreachable_logged = 1;
    }
}

static void on_retry(cg_loop_t *loop, cg_timer_t *t)
{
    if (A.id[0])
        do_watch();
    else
        do_register();
}

static void backoff(void)
{
    A.backoff_ms = A.backoff_ms ? A.backoff_ms * 2 : BACKOFF_MIN_MS;
    if (A.backoff_ms > BACKOFF_MAX_MS) A.backoff_ms = BACKOFF_MAX_MS;
    cg_timer_start(A.loop, &A.retry_timer, jitter(A.backoff_ms), on_retry);
}

/* ---- cache ---- */

static void cache_path(char *out, size_t cap)
{
    snprintf(out, cap, "%s/snapshot-%s-%s.json", A.cfg->cache_dir, A.cfg->cluster, A.cfg->address);
}

static void cache_write(const char *json, size_t len)
{
    if (!A.cfg->cache_dir) return;
    char path[4096], tmp[4200];
    cache_path(path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    mkdir(A.cfg->cache_dir, 0755);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cg_log_warn("cache: cannot write %s: %s", tmp, strerror(errno));
        return;
    }
    ssize_t w = write(fd, json, len);
    int ok = w == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    if (!ok || rename(tmp, path) != 0) {
        cg_log_warn("cache: cannot write %s", path);
        unlink(tmp);
    }
}

static int take(const char *json, size_t len, const char *why, int cache)
{
    cg_buf_t errors = {0};
    cg_snapshot_t *snap = NULL;
    if (cg_snapshot_decode_json(json, len, &snap, &errors)) {
        size_t n = errors.len;
        while (n && errors.base[n - 1] == '\n') n--; /* the log adds its own */
        cg_log_error("%s: invalid snapshot, keeping config v%" PRIu64 ": %.*s", why, A.version,
                     (int)n, errors.base ? errors.base : "");
        cg_buf_free(&errors);
        return CG_EPARSE;
    }
    cg_buf_free(&errors);
    uint64_t v = snap->version;
    if (A.cb(A.data, snap, why)) return CG_EINVAL; /* the gateway logged why */
    A.version = v;
    if (cache) cache_write(json, len);
    return 0;
}

static void cache_load(void)
{
    if (!A.cfg->cache_dir) return;
    char path[4096];
    cache_path(path, sizeof(path));
    FILE *f = fopen(path, "rb");
    if (!f) return;
    cg_buf_t b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) cg_buf_append(&b, chunk, n);
    fclose(f);
    if (b.len && take(b.base, b.len, "cached snapshot", 0) == 0)
        cg_log_info("serving cached snapshot v%" PRIu64 " from %s", A.version, path);
    cg_buf_free(&b);
}

/* ---- heartbeat ---- */

static void on_hb_timer(cg_loop_t *loop, cg_timer_t *t);

/* The control plane no longer knows our instance (the lease expired while we were away, or
 * it restarted): drop what belongs to the old id and register again. Whichever of heartbeat
 * and watch notices first does it; the other then finds no id and leaves it be. */
static void lease_lost(const char *who)
{
    if (!A.id[0]) return;
    cg_log_warn("control plane forgot instance %s (%s said 404): registering again", A.id, who);
    A.id[0] = '\0';
    if (A.watch) {
        cg_http_client_cancel(A.watch);
        A.watch = NULL;
    }
    if (A.hb) {
        cg_http_client_cancel(A.hb);
        A.hb = NULL;
    }
    cg_timer_stop(A.loop, &A.hb_timer);
    cg_timer_stop(A.loop, &A.retry_timer);
    do_register();
}

static void on_heartbeat(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    A.hb = NULL;
    if (A.stopping) return;
    if (!res->err && res->status == 404) {
        lease_lost("heartbeat");
        return;
    }
    if (res->err || res->status != 200) lost("heartbeat", res->err, res->status);
    if (A.id[0]) cg_timer_start(A.loop, &A.hb_timer, A.heartbeat_ms, on_hb_timer);
}

static void on_hb_timer(cg_loop_t *loop, cg_timer_t *t)
{
    if (!A.id[0] || A.hb) return;
    char url[1024];
    url_for(url, sizeof(url), "/v1/instances/%s/heartbeat", A.id);
    A.hb = cg_http_client_start(A.loop, "PUT", url, A.headers, "", 0, A.heartbeat_ms, on_heartbeat,
                                NULL);
    if (!A.hb) {
        lost("heartbeat", CG_ECONNREFUSED, 0);
        cg_timer_start(A.loop, &A.hb_timer, A.heartbeat_ms, on_hb_timer);
    }
}

/* ---- watch ---- */

static void on_watch(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    A.watch = NULL;
    if (A.stopping) return;
    if (!res->err && res->status == 200) {
        if (!A.connected || A.unreachable_logged)
            cg_log_info("control plane %s: watching (config v%" PRIu64 ")", A.cfg->url, A.version);
        A.connected = 1;
        A.unreachable_logged = 0;
        if (take(res->body.base ? res->body.base : "", res->body.len, "control plane", 1)) {
            /* the watch after our version would hand back the same snapshot at once: back off
             * rather than spin on it (and flood the log) until the control plane has another */
            backoff();
            return;
        }
        A.backoff_ms = 0;
        do_watch();
        return;
    }
    if (!res->err && res->status == 304) {
        A.connected = 1;
        A.backoff_ms = 0;
        do_watch();
        return;
    }
    if (!res->err && res->status == 404) {
        lease_lost("watch");
        return;
    }
    lost("watch", res->err, res->status);
    backoff();
}

static void do_watch(void)
{
    if (A.watch || !A.id[0]) return;
    char url[1024];
    url_for(url, sizeof(url), "/v1/instances/%s/snapshot?after=%" PRIu64 "&timeout_ms=%d", A.id,
            A.version, WATCH_TIMEOUT_MS);
    A.watch = cg_http_client_start(A.loop, "GET", url, A.headers, NULL, 0, WATCH_TIMEOUT_MS + 5000,
                                   on_watch, NULL);
    if (!A.watch) {
        lost("watch", CG_ECONNREFUSED, 0);
        backoff();
    }
}

/* ---- register ---- */

static void on_register(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    A.reg = NULL;
    if (A.stopping) return;
    if (res->err || res->status != 200) {
        if (!res->err && res->status >= 400 && res->status < 500 && res->status != 404)
            cg_log_error("control plane refused registration (%d): %.*s", res->status,
                         (int)res->body.len, res->body.base ? res->body.base : "");
        lost("registration", res->err, res->status);
        backoff();
        return;
    }
    cg_ystream_t ys = {0};
    cg_buf_t errors = {0};
    const cg_ynode_t *id = NULL, *hb = NULL;
    if (cg_model_yaml_parse("registration", res->body.base ? res->body.base : "", res->body.len, 1,
                            &ys, &errors) == 0 &&
        ys.ndocs == 1 && ys.docs[0].root && ys.docs[0].root->kind == CG_YNODE_MAP) {
        id = cg_ynode_get(ys.docs[0].root, "id");
        hb = cg_ynode_get(ys.docs[0].root, "heartbeat_ms");
    }
    if (!id || id->kind != CG_YNODE_SCALAR || !id->len || id->len >= sizeof(A.id)) {
        cg_log_error("control plane answered registration without an instance id");
        cg_ystream_free(&ys);
        cg_buf_free(&errors);
        lost("registration", CG_EPARSE, 0);
        backoff();
        return;
    }
    memcpy(A.id, id->text, id->len);
    A.id[id->len] = '\0';
    A.heartbeat_ms = 1000;
    if (hb && hb->kind == CG_YNODE_SCALAR) {
        long v = strtol(hb->text, NULL, 10);
        if (v >= 50 && v <= 60000) A.heartbeat_ms = (uint32_t)v;
    }
    cg_ystream_free(&ys);
    cg_buf_free(&errors);
    cg_log_info("registered with control plane %s as %s", A.cfg->url, A.id);
    A.backoff_ms = 0;
    cg_timer_start(A.loop, &A.hb_timer, A.heartbeat_ms, on_hb_timer);
    do_watch();
}

static void do_register(void)
{
    if (A.reg) return;
    cg_buf_t body = {0};
    cg_registration_t reg = {
        .cluster = (char *)A.cfg->cluster,
        .namespace_ = (char *)A.cfg->namespace_,
        .address = (char *)A.cfg->address,
        .admin = (char *)A.cfg->admin,
        .labels = (cg_snap_label_t *)A.cfg->labels,
        .nlabels = A.cfg->nlabels,
    };
    cg_registration_encode(&reg, &body);
    char url[1024];
    url_for(url, sizeof(url), "/v1/instances");
    A.reg = cg_http_client_start(A.loop, "POST", url, A.headers, body.base, body.len, 3000,
                                 on_register, NULL);
    cg_buf_free(&body);
    if (!A.reg) {
        lost("registration", CG_ECONNREFUSED, 0);
        backoff();
    }
}

int cg_agent_start(cg_loop_t *loop, const cg_agent_cfg_t *cfg, cg_agent_apply_cb cb, void *data)
{
    cg_addr_t a;
    char host[256];
    const char *path;
    if (cg_http_url_parse(cfg->url, &a, host, sizeof(host), &path)) return CG_EINVAL;
    /* connect from the advertised address: a join token admits only that one */
    if (cg_addr_parse_ip(&cg_http_client_source, cfg->address, 0)) cg_http_client_source.len = 0;
    memset(&A, 0, sizeof(A));
    A.loop = loop;
    A.cfg = cfg;
    A.cb = cb;
    A.data = data;
    A.heartbeat_ms = 1000;
    snprintf(A.headers, sizeof(A.headers), "Content-Type: application/json\r\n%s%s%s",
             cfg->token ? "Authorization: Bearer " : "", cfg->token ? cfg->token : "",
             cfg->token ? "\r\n" : "");
    cache_load();
    do_register();
    return 0;
}

int cg_agent_connected(void)
{
    return A.connected;
}

void cg_agent_stop(void)
{
    if (!A.loop) return;
    A.stopping = 1;
    cg_timer_stop(A.loop, &A.hb_timer);
    cg_timer_stop(A.loop, &A.retry_timer);
    if (A.reg) cg_http_client_cancel(A.reg);
    if (A.hb) cg_http_client_cancel(A.hb);
    if (A.watch) cg_http_client_cancel(A.watch);
    A.reg = A.hb = A.watch = NULL;
    if (A.id[0]) {
        char url[1024];
        url_for(url, sizeof(url), "/v1/instances/%s", A.id);
        cg_http_result_t res;
        cg_http_fetch("DELETE", url, A.headers, NULL, 0, 500, &res);
        cg_http_result_free(&res);
    }
    A.loop = NULL;
}
