/* Endpoint choice over the lb/ policies. Health is read lock-free from the endpoint state
 * mirrors; only a failure (or a success after a failure) takes the endpoint's lock. */
#include "proxy/balancer.h"
#include "core/log.h"
#include "lb/priority.h"
#include "lb/swrr.h"

#include <string.h>

int cg_proxy_endpoint_available(const cg_endpoint_t *ep, uint64_t now)
{
    const cg_ep_stats_t *st = ep->stats;
    if (__atomic_load_n(&st->hc_unhealthy, __ATOMIC_RELAXED)) return 0;
    uint64_t until = __atomic_load_n(&st->ejected_until_ms, __ATOMIC_RELAXED);
    return until == 0 || now >= until;
}

void cg_proxy_balancer_priority_load(const cg_dest_t *d, uint64_t now, uint32_t *load)
{
    uint32_t healthy[CG_LB_MAX_PRIORITIES] = {0}, total[CG_LB_MAX_PRIORITIES] = {0};
    for (size_t i = 0; i < d->nendpoints; i++) {
        const cg_endpoint_t *ep = &d->endpoints[i];
        total[ep->priority] += ep->weight;
        if (cg_proxy_endpoint_available(ep, now)) healthy[ep->priority] += ep->weight;
    }
    uint32_t n = d->npriorities ? d->npriorities : 1;
    cg_lb_priority_load(healthy, total, n, d->policy ? d->policy->overprovisioning : 140, load);
}

static int was_tried(const uint16_t *tried, size_t n, size_t i)
{
    for (size_t k = 0; k < n; k++)
        if (tried[k] == i) return 1;
    return 0;
}

static int cluster_tried(const cg_dest_t *d, const uint16_t *tried, size_t n, const char *cluster)
{
    for (size_t k = 0; k < n; k++) {
        const char *c = d->endpoints[tried[k]].cluster;
        if (c == cluster || (c && cluster && !strcmp(c, cluster))) return 1;
    }
    return 0;
}

/* Panic mode's last resort: the endpoint whose ejection ends first, preferring one this
 * request has not tried yet, in a cluster it has not tried yet (a retry in panic still moves
 * on, as retries do). */
static int oldest_ejected(const cg_dest_t *d, const uint16_t *tried, size_t ntried)
{
    int best = -1;
    uint64_t best_key[3] = {0};
    for (size_t i = 0; i < d->nendpoints; i++) {
        const cg_ep_stats_t *st = d->endpoints[i].stats;
        uint64_t at = __atomic_load_n(&st->ejected_until_ms, __ATOMIC_RELAXED);
        if (__atomic_load_n(&st->hc_unhealthy, __ATOMIC_RELAXED)) at = UINT64_MAX - 1;
        uint64_t key[3] = {(uint64_t)cluster_tried(d, tried, ntried, d->endpoints[i].cluster),
                           (uint64_t)was_tried(tried, ntried, i), at};
        int better = best < 0;
        for (int k = 0; !better && k < 3 && key[k] <= best_key[k]; k++) better = key[k] < best_key[k];
        if (better) {
            best = (int)i;
            memcpy(best_key, key, sizeof(key));
        }
    }
    return best;
}

static cg_pick_t pick_weighted(const cg_dest_t *d, cg_dest_wstate_t *ws, const uint16_t *tried, size_t ntried,
                               int cluster)
{
    cg_pick_t p = {.endpoint = -1, .cluster = cluster};
    if (ntried == 0) {
        uint32_t w[64];
        size_t n = d->nclusters < 64 ? d->nclusters : 64;
        for (size_t k = 0; k < n; k++) w[k] = d->clusters[k].weight;
        p.cluster = cg_lb_swrr_pick(ws->cswrr, w, NULL, n);
    }
    if (p.cluster < 0 || d->clusters[p.cluster].nendpoints == 0) return p;
    /* no health checking: strictly round-robin inside the chosen cluster, untried first */
    uint32_t n = d->clusters[p.cluster].nendpoints, start = ws->rr++;
    for (int pass = 0; pass < 2 && p.endpoint < 0; pass++) {
        uint32_t seen = 0;
        for (size_t i = 0; i < d->nendpoints && p.endpoint < 0; i++) {
            size_t e = (start + i) % d->nendpoints;
            if (d->endpoints[e].cluster_idx != p.cluster) continue;
            seen++;
            if (pass == 0 && was_tried(tried, ntried, e)) continue;
            p.endpoint = (int)e;
            p.repeat = pass == 1;
        }
        (void)seen;
        (void)n;
    }
    return p;
}

cg_pick_t cg_proxy_balancer_pick(const cg_dest_t *d, int worker, const uint16_t *tried, size_t ntried, int cluster,
                                 uint64_t now, uint64_t random)
{
    cg_dest_wstate_t *ws = &d->ws[worker];
    if (d->mode == CG_DEST_WEIGHTED) return pick_weighted(d, ws, tried, ntried, cluster);

    cg_pick_t p = {.endpoint = -1, .cluster = -1};
    if (d->nendpoints == 0) return p;
    size_t n = d->nendpoints;
    uint8_t avail[256], elig[256];
    uint32_t weight[256];
    if (n > 256) n = 256;
    size_t navail = 0;
    for (size_t i = 0; i < n; i++) {
        avail[i] = (uint8_t)cg_proxy_endpoint_available(&d->endpoints[i], now);
        weight[i] = d->endpoints[i].weight;
        navail += avail[i];
    }
    if (navail == 0) {
        /* panic is off: rather than failing outright, try the longest-ejected endpoint */
        p.endpoint = oldest_ejected(d, tried, ntried);
        p.panic = 1;
        p.repeat = was_tried(tried, ntried, (size_t)p.endpoint);
        return p;
    }
    int prio = -1;
    if (ntried == 0) {
        uint32_t load[CG_LB_MAX_PRIORITIES];
        cg_proxy_balancer_priority_load(d, now, load);
        prio = cg_lb_priority_choose(load, d->npriorities ? d->npriorities : 1, (uint32_t)(random % 100) + 1);
        for (size_t i = 0; i < n; i++) elig[i] = avail[i] && (prio < 0 || d->endpoints[i].priority == (uint32_t)prio);
    } else {
        /* a retry: another cluster first, then another endpoint, then the same again */
        size_t cnt = 0;
        for (int stage = 0; stage < 3 && cnt == 0; stage++) {
            for (size_t i = 0; i < n; i++) {
                elig[i] = avail[i];
                if (stage < 2 && was_tried(tried, ntried, i)) elig[i] = 0;
                if (stage == 0 && cluster_tried(d, tried, ntried, d->endpoints[i].cluster)) elig[i] = 0;
                cnt += elig[i];
            }
        }
        /* stay as local as the candidates allow */
        uint32_t best = UINT32_MAX;
        for (size_t i = 0; i < n; i++)
            if (elig[i] && d->endpoints[i].priority < best) best = d->endpoints[i].priority;
        for (size_t i = 0; i < n; i++)
            if (elig[i] && d->endpoints[i].priority != best) elig[i] = 0;
    }
    p.endpoint = cg_lb_swrr_pick(ws->swrr, weight, elig, n);
    if (p.endpoint < 0) p.endpoint = oldest_ejected(d, tried, ntried);
    p.repeat = was_tried(tried, ntried, (size_t)p.endpoint);
    return p;
}

int cg_proxy_balancer_result(const cg_dest_t *d, const cg_endpoint_t *ep, int status, uint64_t now)
{
    const cg_snap_policy_t *pol = d->policy;
    if (!pol || !pol->outlier.consecutive_gateway_errors || d->mode == CG_DEST_WEIGHTED) return 0;
    cg_ep_stats_t *st = ep->stats;
    cg_lb_result_t r = cg_lb_outlier_classify(status);
    if (r != CG_LB_GATEWAY_ERROR && !__atomic_load_n(&st->streak, __ATOMIC_RELAXED) &&
        !__atomic_load_n(&st->ejected_until_ms, __ATOMIC_RELAXED))
        return 0; /* the common case: a success on a healthy endpoint */
    uint32_t ejected = 0;
    for (size_t i = 0; i < d->nendpoints; i++) {
        uint64_t until = __atomic_load_n(&d->endpoints[i].stats->ejected_until_ms, __ATOMIC_RELAXED);
        if (until && now < until) ejected++;
    }
    int can = cg_lb_outlier_cap_allows(ejected, (uint32_t)d->nendpoints, pol->outlier.max_ejection_percent);
    pthread_mutex_lock(&st->lock);
    int rv = cg_lb_outlier_on_result(&st->outlier, &pol->outlier, r, now, can);
    __atomic_store_n(&st->streak, st->outlier.consecutive, __ATOMIC_RELAXED);
    __atomic_store_n(&st->ejected_until_ms, st->outlier.ejected ? st->outlier.ejected_until_ms : 0,
                     __ATOMIC_RELAXED);
    uint32_t n = st->outlier.ejections;
    uint64_t dur = st->outlier.ejected_until_ms - st->outlier.ejected_at_ms;
    pthread_mutex_unlock(&st->lock);
    if (rv == 1)
        cg_log_warn("outlier: %s (cluster %s) ejected for %llu ms (ejection %u) from %s", ep->name,
                    ep->cluster ? ep->cluster : "-", (unsigned long long)dur, n, d->name);
    else if (rv == -1)
        cg_log_info("outlier: %s (cluster %s) returned to %s", ep->name, ep->cluster ? ep->cluster : "-", d->name);
    return rv;
}
