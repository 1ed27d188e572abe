/* Agent state machine on the gateway's main loop:
 *   REGISTER --ok--> WATCH (long-poll) + HEARTBEAT timer
 *   any failure --> back-off (jittered, 100 ms doubling to 5 s) --> REGISTER or WATCH again
 *   heartbeat or watch says 404 (lease gone) --> REGISTER
 *   with several control planes, a failure (connection, timeout, 5xx) moves to the next one
 * The gateway keeps serving its last good snapshot throughout. */
#include "agent/agent.h"
#include "translate/registration.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/list.h"
#include "core/log.h"
#include "http/client.h"

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

/* One per gateway; the gateway (its composition root) owns it through cg_agent_start/stop. */
struct cg_agent {
    cg_loop_t *loop;
    const cg_agent_cfg_t *cfg;
    cg_agent_apply_cb cb;
    void *data;
    char id[128];
    uint64_t version; /* of the snapshot in force */
    cg_agent_urls_t urls;
    size_t cur;                     /* the control plane talked to */
    size_t reg_at, hb_at, watch_at; /* the one each request in flight went to */
    uint32_t heartbeat_ms;
    uint32_t backoff_ms;
    cg_timer_t hb_timer, retry_timer;
    cg_http_client_t *reg, *hb, *watch;
    char headers[600];
    int connected, stopping;
    int unreachable_logged;
    int hb_early; /* a heartbeat went early after a move and none was answered since */
};

static void do_register(cg_agent_t *a);
static void do_watch(cg_agent_t *a);
static void on_retry(cg_loop_t *loop, cg_timer_t *t);
static void on_hb_timer(cg_loop_t *loop, cg_timer_t *t);

static uint32_t jitter(uint32_t ms)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r)) r = (uint32_t)cg_clock_mono_us();
    return ms / 2 + r % (ms / 2 + 1);
}

static void url_for(const cg_agent_t *a, char *out, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void url_for(const cg_agent_t *a, char *out, size_t cap, const char *fmt, ...)
{
    int n = snprintf(out, cap, "%s", a->urls.url[a->cur]);
    if (n < 0 || (size_t)n >= cap) n = (int)cap - 1; /* cannot happen: URLs are bounded at start */
    while (n > 0 && out[n - 1] == '/') out[--n] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out + n, cap - (size_t)n, fmt, ap);
    va_end(ap);
}

/* A request to control plane `at` failed. With several, the next request goes to the next
 * one (once per failure of the one in use: the heartbeat and the watch both notice); the
 * instance id and the version held go along, so a replica of the same store just goes on
 * and another control plane answers 404, which registers again there.
 *
 * Everything moves at once: a watch still parked on the one left behind (a hung control
 * plane, stopped or its packets dropped, answers it no sooner than its whole long-poll, and
 * meanwhile the changes of the one the heartbeats reach would not come), and the heartbeat,
 * sent now rather than a heartbeat interval later: the lease was last renewed up to an
 * interval ago, and a move after a timed-out heartbeat has already cost another, so waiting
 * a third would let the lease run out (TTL: 3 intervals) at the replica it moves to.
 * Returns 1 when it scheduled that early heartbeat (the caller then leaves the timer be). */
static int lost(cg_agent_t *a, const char *what, int err, int status, size_t at)
{
    a->connected = 0;
    const char *url = a->urls.url[at];
    if (!a->unreachable_logged) {
        if (err)
            cg_log_warn("control plane %s: %s failed (%s); serving config v%" PRIu64
                        " until it is back",
                        url, what, cg_strerror(err), a->version);
        else
            cg_log_warn("control plane %s: %s answered %d; serving config v%" PRIu64
                        " until it is back",
                        url, what, status, a->version);
        a->unreachable_logged = 1;
    }
    if (a->urls.n < 2 || at != a->cur || !(err || status >= 500)) return 0;
    a->cur = (a->cur + 1) % a->urls.n;
    cg_log_info("control plane %s: %s failed; trying %s", url, what, a->urls.url[a->cur]);
    if (a->watch && a->watch_at == at) {
        cg_http_client_cancel(a->watch);
        a->watch = NULL;
        cg_timer_start(a->loop, &a->retry_timer, jitter(BACKOFF_MIN_MS), on_retry);
    }
    int cancelled = 0;
    if (a->hb && a->hb_at == at) {
        cg_http_client_cancel(a->hb);
        a->hb = NULL;
        cancelled = 1;
    }
    if (!a->id[0] || a->hb) return 0;
    /* once per outage: with every control plane down, the interval paces the heartbeats */
    if (!a->hb_early) {
        a->hb_early = 1;
        cg_timer_start(a->loop, &a->hb_timer, jitter(BACKOFF_MIN_MS), on_hb_timer);
        return 1;
    }
    if (cancelled) cg_timer_start(a->loop, &a->hb_timer, a->heartbeat_ms, on_hb_timer);
    return 0;
}

static void on_retry(cg_loop_t *loop, cg_timer_t *t)
{
    cg_agent_t *a = cg_container_of(t, cg_agent_t, retry_timer);
    if (a->id[0])
        do_watch(a);
    else
        do_register(a);
}

static void backoff(cg_agent_t *a)
{
    a->backoff_ms = a->backoff_ms ? a->backoff_ms * 2 : BACKOFF_MIN_MS;
    if (a->backoff_ms > BACKOFF_MAX_MS) a->backoff_ms = BACKOFF_MAX_MS;
    cg_timer_start(a->loop, &a->retry_timer, jitter(a->backoff_ms), on_retry);
}

/* ---- cache ---- */

static void cache_path(const cg_agent_t *a, char *out, size_t cap)
{
    snprintf(out, cap, "%s/snapshot-%s-%s.json", a->cfg->cache_dir, a->cfg->cluster,
             a->cfg->address);
}

static void cache_write(const cg_agent_t *a, const char *json, size_t len)
{
    if (!a->cfg->cache_dir) return;
    char path[4096], tmp[4200];
    cache_path(a, path, sizeof(path));
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    mkdir(a->cfg->cache_dir, 0755);
    /* the snapshot may hold private keys (a Secret's): owner only, even over an old tmp */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd >= 0 && fchmod(fd, 0600) != 0) {
        close(fd);
        fd = -1;
    }
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

static int take(cg_agent_t *a, const char *json, size_t len, const char *why, int cache)
{
    cg_buf_t errors = {0};
    cg_snapshot_t *snap = NULL;
    uint64_t t0 = cg_clock_mono_us();
    if (cg_snapshot_decode_json(json, len, &snap, &errors)) {
        size_t n = errors.len;
        while (n && errors.base[n - 1] == '\n') n--; /* the log adds its own */
        cg_log_error("%s: invalid snapshot, keeping config v%" PRIu64 ": %.*s", why, a->version,
                     (int)n, errors.base ? errors.base : "");
        cg_buf_free(&errors);
        return CG_EPARSE;
    }
    cg_buf_free(&errors);
    uint64_t v = snap->version, t1 = cg_clock_mono_us();
    if (a->cb(a->data, snap, why)) return CG_EINVAL; /* the gateway logged why */
    uint64_t t2 = cg_clock_mono_us();
    /* what a large snapshot costs here (bench/intake.py reads it) */
    cg_log_info("snapshot v%" PRIu64 ": %zu bytes, decoded in %.1f ms, compiled and swapped in "
                "%.1f ms",
                v, len, (double)(t1 - t0) / 1000.0, (double)(t2 - t1) / 1000.0);
    a->version = v;
    if (cache) cache_write(a, json, len);
    return 0;
}

static void cache_load(cg_agent_t *a)
{
    if (!a->cfg->cache_dir) return;
    char path[4096];
    cache_path(a, path, sizeof(path));
    FILE *f = fopen(path, "rb");
    if (!f) return;
    cg_buf_t b = {0};
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) cg_buf_append(&b, chunk, n);
    fclose(f);
    if (b.len && take(a, b.base, b.len, "cached snapshot", 0) == 0)
        cg_log_info("serving cached snapshot v%" PRIu64 " from %s", a->version, path);
    cg_buf_free(&b);
}

/* ---- heartbeat ---- */

/* The control plane no longer knows our instance (the lease expired while we were away, or
 * it restarted): drop what belongs to the old id and register again. Whichever of heartbeat
 * and watch notices first does it; the other then finds no id and leaves it be. */
static void lease_lost(cg_agent_t *a, const char *who)
{
    if (!a->id[0]) return;
    cg_log_warn("control plane forgot instance %s (%s said 404): registering again", a->id, who);
    a->id[0] = '\0';
    if (a->watch) {
        cg_http_client_cancel(a->watch);
        a->watch = NULL;
    }
    if (a->hb) {
        cg_http_client_cancel(a->hb);
        a->hb = NULL;
    }
    cg_timer_stop(a->loop, &a->hb_timer);
    cg_timer_stop(a->loop, &a->retry_timer);
    do_register(a);
}

static void on_heartbeat(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    cg_agent_t *a = data;
    a->hb = NULL;
    if (a->stopping) return;
    if (!res->err && res->status == 404) {
        lease_lost(a, "heartbeat");
        return;
    }
    int early = 0;
    if (res->err || res->status != 200)
        early = lost(a, "heartbeat", res->err, res->status, a->hb_at);
    else
        a->hb_early = 0;
    if (a->id[0] && !early) cg_timer_start(a->loop, &a->hb_timer, a->heartbeat_ms, on_hb_timer);
}

static void on_hb_timer(cg_loop_t *loop, cg_timer_t *t)
{
    cg_agent_t *a = cg_container_of(t, cg_agent_t, hb_timer);
    if (!a->id[0] || a->hb) return;
    char url[1024];
    url_for(a, url, sizeof(url), "/v1/instances/%s/heartbeat", a->id);
    a->hb_at = a->cur;
    a->hb = cg_http_client_start(a->loop, "PUT", url, a->headers, "", 0, a->heartbeat_ms,
                                 on_heartbeat, a);
    if (!a->hb) {
        if (!lost(a, "heartbeat", CG_ECONNREFUSED, 0, a->hb_at))
            cg_timer_start(a->loop, &a->hb_timer, a->heartbeat_ms, on_hb_timer);
    }
}

/* ---- watch ---- */

static void on_watch(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    cg_agent_t *a = data;
    a->watch = NULL;
    if (a->stopping) return;
    if (!res->err && res->status == 200) {
        if (!a->connected || a->unreachable_logged)
            cg_log_info("control plane %s: watching (config v%" PRIu64 ")",
                        a->urls.url[a->watch_at], a->version);
        a->connected = 1;
        a->unreachable_logged = 0;
        if (take(a, res->body.base ? res->body.base : "", res->body.len, "control plane", 1)) {
            /* the watch after our version would hand back the same snapshot at once: back off
             * rather than spin on it (and flood the log) until the control plane has another */
            backoff(a);
            return;
        }
        a->backoff_ms = 0;
        do_watch(a);
        return;
    }
    if (!res->err && res->status == 304) {
        a->connected = 1;
        a->backoff_ms = 0;
        do_watch(a);
        return;
    }
    if (!res->err && res->status == 404) {
        lease_lost(a, "watch");
        return;
    }
    lost(a, "watch", res->err, res->status, a->watch_at);
    backoff(a);
}

static void do_watch(cg_agent_t *a)
{
    if (a->watch || !a->id[0]) return;
    char url[1024];
    url_for(a, url, sizeof(url), "/v1/instances/%s/snapshot?after=%" PRIu64 "&timeout_ms=%d", a->id,
            a->version, WATCH_TIMEOUT_MS);
    a->watch_at = a->cur;
    a->watch = cg_http_client_start(a->loop, "GET", url, a->headers, NULL, 0,
                                    WATCH_TIMEOUT_MS + 5000, on_watch, a);
    if (!a->watch) {
        lost(a, "watch", CG_ECONNREFUSED, 0, a->watch_at);
        backoff(a);
    }
}

/* ---- register ---- */

static void on_register(cg_http_client_t *c, cg_http_result_t *res, void *data)
{
    cg_agent_t *a = data;
    a->reg = NULL;
    if (a->stopping) return;
    if (res->err || res->status != 200) {
        if (!res->err && res->status >= 400 && res->status < 500 && res->status != 404)
            cg_log_error("control plane refused registration (%d): %.*s", res->status,
                         (int)res->body.len, res->body.base ? res->body.base : "");
        lost(a, "registration", res->err, res->status, a->reg_at);
        backoff(a);
        return;
    }
    cg_registration_answer_t answer;
    cg_buf_t why = {0};
    if (cg_registration_answer_decode(res->body.base ? res->body.base : "", res->body.len, &answer,
                                      &why)) {
        cg_log_error("control plane answered registration with no usable instance id: %.*s",
                     (int)why.len, why.base ? why.base : "");
        cg_buf_free(&why);
        lost(a, "registration", CG_EPARSE, 0, a->reg_at);
        backoff(a);
        return;
    }
    snprintf(a->id, sizeof(a->id), "%s", answer.id);
    a->heartbeat_ms = (uint32_t)answer.heartbeat_ms;
    cg_log_info("registered with control plane %s as %s", a->urls.url[a->reg_at], a->id);
    a->backoff_ms = 0;
    cg_timer_start(a->loop, &a->hb_timer, a->heartbeat_ms, on_hb_timer);
    do_watch(a);
}

static void do_register(cg_agent_t *a)
{
    if (a->reg) return;
    cg_buf_t body = {0};
    cg_registration_t reg = {
        .cluster = (char *)a->cfg->cluster,
        .namespace_ = (char *)a->cfg->namespace_,
        .address = (char *)a->cfg->address,
        .admin = (char *)a->cfg->admin,
        .labels = (cg_snap_label_t *)a->cfg->labels,
        .nlabels = a->cfg->nlabels,
        .mtls_port = a->cfg->mtls_port,
    };
    cg_registration_encode(&reg, &body);
    char url[1024];
    url_for(a, url, sizeof(url), "/v1/instances");
    a->reg_at = a->cur;
    a->reg = cg_http_client_start(a->loop, "POST", url, a->headers, body.base, body.len, 3000,
                                  on_register, a);
    cg_buf_free(&body);
    if (!a->reg) {
        lost(a, "registration", CG_ECONNREFUSED, 0, a->reg_at);
        backoff(a);
    }
}

int cg_agent_urls_parse(const char *list, cg_agent_urls_t *out, cg_buf_t *err)
{
    out->n = 0;
    const char *p = list;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && p[len - 1] == '/') len--;
        if (out->n == CG_AGENT_MAX_CONTROLS) {
            cg_buf_printf(err, "more than %d control-plane URLs", CG_AGENT_MAX_CONTROLS);
            return CG_EINVAL;
        }
        if (len > CG_HTTP_URL_MAX) {
            cg_buf_printf(err, "a control-plane URL is longer than %d bytes", CG_HTTP_URL_MAX);
            return CG_EINVAL;
        }
        char *u = out->url[out->n];
        memcpy(u, p, len);
        u[len] = '\0';
        cg_addr_t ca;
        char host[256];
        const char *path;
        if (cg_http_url_parse(u, &ca, host, sizeof(host), &path)) {
            cg_buf_printf(err, "control-plane URL \"%s\" is not http://IP:PORT", u);
            return CG_EINVAL;
        }
        out->n++;
        if (!comma) return 0;
        p = comma + 1;
    }
}

int cg_agent_start(cg_agent_t **out, cg_loop_t *loop, const cg_agent_cfg_t *cfg,
                   cg_agent_apply_cb cb, void *data)
{
    cg_agent_urls_t urls;
    cg_buf_t err = {0};
    *out = NULL;
    int rc = cg_agent_urls_parse(cfg->url, &urls, &err);
    cg_buf_free(&err);
    if (rc) return CG_EINVAL;
    /* connect from the advertised address: a join token admits only that one (the source is
     * http/client's, for the whole process: agents of other addresses would need their own) */
    if (cg_addr_parse_ip(&cg_http_client_source, cfg->address, 0)) cg_http_client_source.len = 0;
    cg_agent_t *a = cg_xcalloc(1, sizeof(*a));
    a->urls = urls;
    a->loop = loop;
    a->cfg = cfg;
    a->cb = cb;
    a->data = data;
    a->heartbeat_ms = 1000;
    snprintf(a->headers, sizeof(a->headers), "Content-Type: application/json\r\n%s%s%s",
             cfg->token ? "Authorization: Bearer " : "", cfg->token ? cfg->token : "",
             cfg->token ? "\r\n" : "");
    *out = a;
    cache_load(a);
    do_register(a);
    return 0;
}

int cg_agent_connected(const cg_agent_t *a)
{
    return a->connected;
}

void cg_agent_stop(cg_agent_t *a)
{
    if (!a) return;
    a->stopping = 1;
    cg_timer_stop(a->loop, &a->hb_timer);
    cg_timer_stop(a->loop, &a->retry_timer);
    if (a->reg) cg_http_client_cancel(a->reg);
    if (a->hb) cg_http_client_cancel(a->hb);
    if (a->watch) cg_http_client_cancel(a->watch);
    a->reg = a->hb = a->watch = NULL;
    if (a->id[0]) {
        char url[1024];
        url_for(a, url, sizeof(url), "/v1/instances/%s", a->id);
        cg_http_result_t res;
        cg_http_fetch("DELETE", url, a->headers, NULL, 0, 500, &res);
        cg_http_result_free(&res);
    }
    free(a);
}
