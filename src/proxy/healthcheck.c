/* Health-check prober on the main loop. One probe per (destination, endpoint); a probe is a
 * short-lived connection: connect, send the request, read the status line, close. Its bytes go
 * through a transport (core/transport.h); a probe is rare, so on every event it simply tries
 * each step in turn (handshake, the rest of the request, reads until CG_EAGAIN) rather than
 * keep readiness: whatever direction a blocked step wants, its edge brings it back here. */
#include "proxy/healthcheck.h"
#include "core/err.h"
#include "core/log.h"
#include "core/sock.h"
#include "http/message.h"
#include "lb/health.h"
#include "proxy/config.h"
#include "proxy/worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 100

typedef struct probe {
    cg_list_t link;
    cg_ep_stats_t *st;
    cg_addr_t addr;
    char name[64];
    char cluster[64];
    cg_lb_hc_cfg_t cfg;
    uint64_t next_due;
    cg_io_t io; /* io.fd is xp.fd: both set by probe_start, cleared by probe_close */
    cg_xport_t xp;
    cg_xport_opener_t xopen; /* the endpoint's, from this tick's config (valid during it) */
    cg_timer_t timeout;
    char buf[128];
    size_t len;
    size_t sent; /* bytes of the request written */
    uint8_t inflight, connected, handshaking, seen;
} probe_t;

static const char request[] = "GET " CG_HEALTHZ_PATH " HTTP/1.1\r\nHost: crossgate-healthcheck\r\n"
                              "User-Agent: crossgate-healthcheck\r\nConnection: close\r\n\r\n";

static void probe_close(cg_loop_t *loop, probe_t *p)
{
    if (!p->inflight) return;
    cg_io_stop(loop, &p->io);
    cg_xport_close(&p->xp);
    p->io.fd = -1;
    cg_timer_stop(loop, &p->timeout);
    p->inflight = 0;
}

static void probe_done(cg_loop_t *loop, probe_t *p, cg_hc_outcome_t r)
{
    probe_close(loop, p);
    if (cg_lb_hc_on_result(&p->st->hc, &p->cfg, r)) {
        cg_proxy_ep_stats_set_unhealthy(p->st, p->st->hc.unhealthy);
        if (p->st->hc.unhealthy)
            cg_log_warn("health check: %s (cluster %s) unhealthy (%s)", p->name, p->cluster,
                        r == CG_HC_BAD_STATUS ? "bad status" : "no answer");
        else
            cg_log_info("health check: %s (cluster %s) healthy", p->name, p->cluster);
    }
}

static void on_probe_io(cg_loop_t *l, cg_io_t *io, uint32_t events)
{
    probe_t *p = cg_container_of(io, probe_t, io);
    if (!p->connected) {
        if (cg_sock_error(io->fd) || (events & EPOLLERR)) {
            probe_done(l, p, CG_HC_NETWORK);
            return;
        }
        if (!(events & EPOLLOUT)) return;
        p->connected = 1;
    }
    if (p->handshaking) {
        int r = p->xp.ops->handshake(&p->xp);
        if (r == CG_EAGAIN) return;
        if (r < 0) {
            probe_done(l, p, CG_HC_NETWORK);
            return;
        }
        p->handshaking = 0;
    }
    while (p->sent < sizeof(request) - 1) {
        struct iovec v = {(char *)request + p->sent, sizeof(request) - 1 - p->sent};
        ssize_t w = cg_xport_writev(&p->xp, &v, 1);
        if (w == CG_EAGAIN) return;
        if (w < 0) {
            probe_done(l, p, CG_HC_NETWORK);
            return;
        }
        p->sent += (size_t)w;
    }
    for (;;) {
        ssize_t n = cg_xport_read(&p->xp, p->buf + p->len, sizeof(p->buf) - 1 - p->len);
        if (n == CG_EAGAIN) break;
        if (n <= 0) {
            probe_done(l, p, CG_HC_NETWORK);
            return;
        }
        p->len += (size_t)n;
        p->buf[p->len] = '\0';
        if (p->len >= CG_HTTP_STATUS_START || memchr(p->buf, '\n', p->len)) break;
    }
    /* a probe reads no further than the start of the status line */
    cg_http_status_line_t sl;
    int r = cg_http_parse_status_start(p->buf, p->len, &sl);
    if (r == CG_EAGAIN) return;
    int ok = r == 0 && sl.major == 1 && sl.status == 200;
    probe_done(l, p, ok ? CG_HC_OK : CG_HC_BAD_STATUS);
}

static void on_probe_timeout(cg_loop_t *l, cg_timer_t *t)
{
    probe_done(l, cg_container_of(t, probe_t, timeout), CG_HC_NETWORK);
}

static void probe_start(cg_loop_t *loop, probe_t *p)
{
    p->next_due = loop->now_ms + p->cfg.interval_ms;
    p->len = 0;
    p->sent = 0;
    p->connected = 0;
    int fd = cg_sock_connect(&p->addr);
    if (cg_err_local_shortage(fd)) return; /* our shortage says nothing of the endpoint */
    if (fd < 0) {
        probe_done(loop, p, CG_HC_NETWORK);
        return;
    }
    if (cg_xport_open(&p->xopen, &p->xp, fd)) { /* our shortage too: the probe is not run */
        cg_xport_close(&p->xp);
        return;
    }
    if (cg_io_start(loop, &p->io, fd, on_probe_io)) {
        cg_xport_close(&p->xp);
        probe_done(loop, p, CG_HC_NETWORK);
        return;
    }
    p->handshaking = p->xp.impl != NULL; /* as the request path's connections */
    p->inflight = 1;
    cg_timer_start(loop, &p->timeout, p->cfg.timeout_ms, on_probe_timeout);
}

/* The probes by endpoint, for one sync: open addressing over the stats pointers, built when
 * the config changes, so matching a config of n endpoints costs O(n), not O(n^2). */
typedef struct probe_index {
    probe_t **slot;
    size_t mask;
} probe_index_t;

static size_t slot_of(const probe_index_t *ix, const cg_ep_stats_t *st)
{
    uint64_t h = (uint64_t)(uintptr_t)st * 0x9E3779B97F4A7C15ull;
    size_t i = (size_t)(h >> 20) & ix->mask;
    while (ix->slot[i] && ix->slot[i]->st != st) i = (i + 1) & ix->mask;
    return i;
}

static void index_add(probe_index_t *ix, probe_t *p)
{
    ix->slot[slot_of(ix, p->st)] = p;
}

static void probe_free(cg_loop_t *loop, probe_t *p)
{
    probe_close(loop, p);
    /* an endpoint no longer checked is not held back by an old verdict */
    cg_proxy_ep_stats_set_unhealthy(p->st, 0);
    memset(&p->st->hc, 0, sizeof(p->st->hc));
    cg_list_unlink(&p->link);
    free(p);
}

/* Matches the probes to cfg's endpoints: a probe for each health-checked endpoint (new ones
 * due now), the check settings refreshed, probes of endpoints gone freed. */
static void match_config(cg_proxy_hc_t *hc, cg_loop_t *l, const cg_config_t *cfg)
{
    size_t want = 0, have = 0;
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &hc->probes)
    {
        cg_container_of(pos, probe_t, link)->seen = 0;
        have++;
    }
    for (size_t i = 0; cfg && i < cfg->ndests; i++) want += cfg->dests[i].nendpoints;
    size_t cap = 16;
    while (cap < 2 * (want + have)) cap <<= 1;
    probe_index_t ix = {cg_xcalloc(cap, sizeof(probe_t *)), cap - 1};
    cg_list_foreach_safe(pos, tmp, &hc->probes) index_add(&ix, cg_container_of(pos, probe_t, link));
    for (size_t i = 0; cfg && i < cfg->ndests; i++) {
        const cg_dest_t *d = &cfg->dests[i];
        if (!d->policy || !d->policy->health_check.enabled || d->mode == CG_DEST_WEIGHTED) continue;
        for (size_t e = 0; e < d->nendpoints; e++) {
            const cg_endpoint_t *ep = &d->endpoints[e];
            probe_t *p = ix.slot[slot_of(&ix, ep->stats)];
            if (!p) {
                p = cg_xcalloc(1, sizeof(*p));
                p->st = ep->stats;
                p->addr = ep->addr;
                p->io.fd = p->xp.fd = -1;
                memcpy(p->name, ep->name, sizeof(p->name));
                snprintf(p->cluster, sizeof(p->cluster), "%s", ep->cluster ? ep->cluster : "-");
                p->next_due = l->now_ms;
                cg_list_insert_tail(&hc->probes, &p->link);
                index_add(&ix, p);
            }
            p->cfg = d->policy->health_check;
            p->xopen = ep->xopen;
            if (!p->cfg.interval_ms) p->cfg.interval_ms = 1000;
            if (!p->cfg.timeout_ms) p->cfg.timeout_ms = 1000;
            p->seen = 1;
        }
    }
    free(ix.slot);
    cg_list_foreach_safe(pos, tmp, &hc->probes)
    {
        probe_t *p = cg_container_of(pos, probe_t, link);
        if (!p->seen) probe_free(l, p);
    }
}

static void on_tick(cg_loop_t *l, cg_timer_t *t)
{
    cg_proxy_hc_t *hc = cg_container_of(t, cg_proxy_hc_t, tick);
    cg_config_t *cfg = cg_proxy_current_config();
    if (cfg != hc->synced) {
        /* a new config: match the probes to it once; it stays held (so its address cannot be
         * a later config's, and the probes' openers live as long as they do) */
        match_config(hc, l, cfg);
        cg_proxy_config_unref(hc->synced);
        hc->synced = cfg;
    } else {
        cg_proxy_config_unref(cfg);
    }
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &hc->probes)
    {
        probe_t *p = cg_container_of(pos, probe_t, link);
        if (!p->inflight && l->now_ms >= p->next_due) probe_start(l, p);
    }
    cg_timer_start(l, t, TICK_MS, on_tick);
}

void cg_proxy_hc_start(cg_proxy_hc_t *hc, cg_loop_t *loop)
{
    hc->loop = loop;
    hc->synced = NULL;
    cg_list_init(&hc->probes);
    cg_timer_start(loop, &hc->tick, 0, on_tick);
}

void cg_proxy_hc_stop(cg_proxy_hc_t *hc)
{
    if (!hc->loop) return;
    cg_timer_stop(hc->loop, &hc->tick);
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &hc->probes)
        probe_free(hc->loop, cg_container_of(pos, probe_t, link));
    cg_proxy_config_unref(hc->synced);
    hc->synced = NULL;
    hc->loop = NULL;
}
