/* Endpoint choice over the lb/ policies. Health is read lock-free from the endpoint state
 * mirrors, but only when a worker rebuilds its view of a destination; only a failure (or a
 * success after a failure) takes the endpoint's lock.
 *
 * Scheduler: interleaved weighted round-robin (lb/iwrr.h) over each priority's healthy
 * endpoints, heaviest first. It is deterministic like the smooth WRR it replaces (equal
 * weights are plain round-robin; every cycle of sum(weights) picks gives each endpoint its
 * weight exactly) and O(1) per pick, where smooth WRR is O(n) and EDF O(log n) with a heap
 * that falls out of cache at 100k endpoints. Retries, which must skip what they tried, draw
 * from per-priority prefix sums in cluster order instead (lb/wsample.h): a tried cluster or
 * endpoint is one range to step over, so exclusion costs O(tries), not O(endpoints). */
#include "proxy/balancer.h"
#include "core/list.h"
#include "core/log.h"
#include "lb/iwrr.h"
#include "lb/priority.h"
#include "lb/wsample.h"

#include <stdlib.h>
#include <string.h>

#define NP   CG_LB_MAX_PRIORITIES
#define NONE UINT32_MAX

/* Read-only after compile, shared by the workers. */
struct cg_bal_dest {
    uint32_t np;           /* priorities, >= 1 */
    uint32_t poff[NP + 1]; /* priority p's endpoints sit at [poff[p], poff[p + 1]) of both orders */
    uint64_t total[NP];    /* weight of each priority */
    uint32_t *byweight;    /* per priority, heaviest first, then by index */
    uint32_t *bycluster;   /* per priority, by cluster id, then by index */
    uint32_t *weight;      /* per endpoint: its weight, packed for rebuilds */
    uint32_t *group;       /* per endpoint: dense id of (cluster, priority), by cluster first */
    uint32_t *cgroup;      /* cluster id c owns groups [cgroup[c], cgroup[c + 1]) */
    uint8_t *gprio;        /* per group */
    uint32_t ngroups, ncids;
    /* weighted mode */
    uint32_t *corder; /* clusters with a share, heaviest first */
    cg_lb_iwrr_level_t *clevels;
    uint32_t nclevels;
    uint32_t *cfirst; /* cluster k's endpoints are ceps[cfirst[k] .. cfirst[k + 1]) */
    uint32_t *ceps;
};

/* One worker's; arrays laid out like the orders (priority p at poff[p]). */
struct cg_bal_view {
    uint64_t epoch;       /* the destination's health epoch this was built from */
    uint64_t next_expiry; /* the earliest ejection end seen in the future; UINT64_MAX: none */
    uint64_t built_ms;
    uint8_t built, any_load;
    uint8_t unsure; /* health moved since the build, and the rebuild waits (a large destination) */
    uint32_t nhealthy;
    int panic_ep; /* with nhealthy 0: the endpoint whose unavailability ends first */
    uint32_t load[NP];
    uint64_t hweight[NP];
    uint32_t n[NP], nlevels[NP];
    cg_lb_iwrr_t cur[NP];
    uint32_t *rr;               /* healthy endpoints, heaviest first */
    cg_lb_iwrr_level_t *levels; /* their weight levels */
    uint32_t *cidx;             /* healthy endpoints in cluster order */
    uint64_t *csum;             /* prefix sums of their weights, per priority */
    uint32_t *epos;             /* endpoint -> its position in cidx within its priority, or NONE */
    uint32_t *gstart, *gend;    /* group -> its range in cidx */
    /* weighted mode */
    cg_lb_iwrr_t ccur;
    uint32_t *epcur; /* per cluster: round-robin position */
};

int cg_proxy_endpoint_available(const cg_endpoint_t *ep, uint64_t now)
{
    const cg_ep_stats_t *st = ep->stats;
    if (__atomic_load_n(&st->hc_unhealthy, __ATOMIC_RELAXED)) return 0;
    uint64_t until = __atomic_load_n(&st->ejected_until_ms, __ATOMIC_RELAXED);
    return until == 0 || now >= until;
}

/* Envoy's priority load from 64-bit weight sums, scaled down alike when they would not fit
 * the 32-bit arithmetic. */
static void loads_of(const cg_dest_t *d, const uint64_t *healthy, const uint64_t *total,
                     uint32_t np, uint32_t *load)
{
    uint32_t h[NP], t[NP];
    uint64_t max = 0;
    unsigned shift = 0;
    for (uint32_t p = 0; p < np; p++)
        if (total[p] > max) max = total[p];
    while ((max >> shift) > UINT32_MAX) shift++;
    for (uint32_t p = 0; p < np; p++) {
        h[p] = (uint32_t)(healthy[p] >> shift);
        t[p] = (uint32_t)(total[p] >> shift);
    }
    cg_lb_priority_load(h, t, np, d->policy ? d->policy->overprovisioning : 140, load);
}

void cg_proxy_balancer_priority_load(const cg_dest_t *d, uint64_t now, uint32_t *load)
{
    uint64_t healthy[NP] = {0}, total[NP] = {0};
    for (size_t i = 0; i < d->nendpoints; i++) {
        const cg_endpoint_t *ep = &d->endpoints[i];
        total[ep->priority] += ep->weight;
        if (cg_proxy_endpoint_available(ep, now)) healthy[ep->priority] += ep->weight;
    }
    loads_of(d, healthy, total, d->npriorities ? d->npriorities : 1, load);
}

/* ---- compile: the orders */

/* qsort has no context argument; compile runs on the main thread only */
static const cg_dest_t *order_dest;

static int cmp_u32(uint32_t a, uint32_t b)
{
    return (a > b) - (a < b);
}

static int by_cluster_name(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    const char *cx = order_dest->endpoints[x].cluster, *cy = order_dest->endpoints[y].cluster;
    int r = cx && cy ? strcmp(cx, cy) : (cx != NULL) - (cy != NULL);
    return r ? r : cmp_u32(x, y);
}

/* The endpoint orders after the cluster ids: two keys each, then the index. */
enum { BY_CID_PRIO, BY_PRIO_CID, BY_PRIO_WEIGHT };
static int order_mode;

static void order_keys(uint32_t i, uint32_t *k)
{
    const cg_endpoint_t *ep = &order_dest->endpoints[i];
    k[0] = order_mode == BY_CID_PRIO ? ep->cid : ep->priority;
    k[1] = order_mode == BY_CID_PRIO   ? ep->priority
           : order_mode == BY_PRIO_CID ? ep->cid
                                       : UINT32_MAX - ep->weight;
    k[2] = i;
}

static int by_keys(const void *a, const void *b)
{
    uint32_t x[3], y[3];
    order_keys(*(const uint32_t *)a, x);
    order_keys(*(const uint32_t *)b, y);
    for (int k = 0; k < 3; k++)
        if (x[k] != y[k]) return cmp_u32(x[k], y[k]);
    return 0;
}

static int by_cluster_weight(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    int r = cmp_u32(order_dest->clusters[y].weight, order_dest->clusters[x].weight);
    return r ? r : cmp_u32(x, y);
}

static uint32_t *sorted(const cg_dest_t *d, int mode)
{
    int (*cmp)(const void *, const void *) = mode < 0 ? by_cluster_name : by_keys;
    order_mode = mode;
    uint32_t *o = cg_xcalloc(d->nendpoints ? d->nendpoints : 1, sizeof(uint32_t));
    for (size_t i = 0; i < d->nendpoints; i++) o[i] = (uint32_t)i;
    order_dest = d;
    qsort(o, d->nendpoints, sizeof(uint32_t), cmp);
    return o;
}

static void prepare_weighted(cg_dest_t *d, struct cg_bal_dest *b)
{
    size_t nc = d->nclusters;
    b->corder = cg_xcalloc(nc ? nc : 1, sizeof(uint32_t));
    b->clevels = cg_xcalloc(nc ? nc : 1, sizeof(cg_lb_iwrr_level_t));
    uint32_t n = 0;
    for (size_t k = 0; k < nc; k++)
        if (d->clusters[k].weight) b->corder[n++] = (uint32_t)k;
    order_dest = d;
    qsort(b->corder, n, sizeof(uint32_t), by_cluster_weight);
    for (uint32_t i = 0; i < n; i++)
        cg_lb_iwrr_push(b->clevels, &b->nclevels, d->clusters[b->corder[i]].weight, i);
    /* each cluster's endpoints, in index order: a counting sort */
    b->cfirst = cg_xcalloc(nc + 1, sizeof(uint32_t));
    b->ceps = cg_xcalloc(d->nendpoints ? d->nendpoints : 1, sizeof(uint32_t));
    for (size_t e = 0; e < d->nendpoints; e++)
        if (d->endpoints[e].cluster_idx >= 0) b->cfirst[d->endpoints[e].cluster_idx + 1]++;
    for (size_t k = 0; k < nc; k++) b->cfirst[k + 1] += b->cfirst[k];
    uint32_t *fill = cg_xcalloc(nc ? nc : 1, sizeof(uint32_t));
    for (size_t e = 0; e < d->nendpoints; e++) {
        int k = d->endpoints[e].cluster_idx;
        if (k >= 0) b->ceps[b->cfirst[k] + fill[k]++] = (uint32_t)e;
    }
    free(fill);
}

void cg_proxy_balancer_prepare(cg_dest_t *d, int nworkers)
{
    struct cg_bal_dest *b = cg_xcalloc(1, sizeof(*b));
    size_t n = d->nendpoints, n1 = n ? n : 1;
    d->bal = b;
    b->np = d->npriorities ? d->npriorities : 1;
    /* cluster ids: equal names (and all the unnamed) share one */
    uint32_t *o = sorted(d, -1);
    for (size_t i = 0; i < n; i++) {
        const cg_endpoint_t *prev = i ? &d->endpoints[o[i - 1]] : NULL, *ep = &d->endpoints[o[i]];
        int same = prev && (prev->cluster == ep->cluster ||
                            (prev->cluster && ep->cluster && !strcmp(prev->cluster, ep->cluster)));
        if (prev && !same) b->ncids++;
        d->endpoints[o[i]].cid = b->ncids;
    }
    if (n) b->ncids++;
    free(o);
    /* groups: (cluster, priority), numbered by cluster first so a cluster's are adjacent */
    o = sorted(d, BY_CID_PRIO);
    b->group = cg_xcalloc(n1, sizeof(uint32_t));
    b->weight = cg_xcalloc(n1, sizeof(uint32_t));
    b->gprio = cg_xcalloc(n1, 1);
    b->cgroup = cg_xcalloc(b->ncids + 1, sizeof(uint32_t));
    for (size_t i = 0; i < n; i++) {
        const cg_endpoint_t *prev = i ? &d->endpoints[o[i - 1]] : NULL, *ep = &d->endpoints[o[i]];
        if (!prev || prev->cid != ep->cid || prev->priority != ep->priority) {
            b->gprio[b->ngroups] = (uint8_t)ep->priority;
            b->ngroups++;
            if (!prev || prev->cid != ep->cid) b->cgroup[ep->cid] = b->ngroups - 1;
        }
        b->group[o[i]] = b->ngroups - 1;
    }
    b->cgroup[b->ncids] = b->ngroups;
    free(o);
    b->bycluster = sorted(d, BY_PRIO_CID);
    b->byweight = sorted(d, BY_PRIO_WEIGHT);
    for (size_t e = 0; e < n; e++) {
        b->poff[d->endpoints[e].priority + 1]++;
        b->total[d->endpoints[e].priority] += d->endpoints[e].weight;
        b->weight[e] = d->endpoints[e].weight;
    }
    for (uint32_t p = 0; p < NP; p++) b->poff[p + 1] += b->poff[p];
    if (d->mode == CG_DEST_WEIGHTED) prepare_weighted(d, b);

    for (int w = 0; w < nworkers; w++) {
        struct cg_bal_view *v = cg_xcalloc(1, sizeof(*v));
        if (d->mode == CG_DEST_WEIGHTED) {
            v->epcur = cg_xcalloc(d->nclusters ? d->nclusters : 1, sizeof(uint32_t));
            cg_lb_iwrr_fit(&v->ccur, b->clevels, b->nclevels);
        } else {
            v->rr = cg_xcalloc(n1, sizeof(uint32_t));
            v->levels = cg_xcalloc(n1, sizeof(cg_lb_iwrr_level_t));
            v->cidx = cg_xcalloc(n1, sizeof(uint32_t));
            v->csum = cg_xcalloc(n1, sizeof(uint64_t));
            v->epos = cg_xcalloc(n1, sizeof(uint32_t));
            v->gstart = cg_xcalloc(n1, sizeof(uint32_t));
            v->gend = cg_xcalloc(n1, sizeof(uint32_t));
        }
        d->ws[w].view = v;
    }
}

void cg_proxy_balancer_release(cg_dest_t *d)
{
    for (int w = 0; d->ws && w < cg_proxy_nworkers; w++) {
        struct cg_bal_view *v = d->ws[w].view;
        if (!v) continue;
        free(v->rr);
        free(v->levels);
        free(v->cidx);
        free(v->csum);
        free(v->epos);
        free(v->gstart);
        free(v->gend);
        free(v->epcur);
        free(v);
        d->ws[w].view = NULL;
    }
    struct cg_bal_dest *b = d->bal;
    if (!b) return;
    free(b->byweight);
    free(b->bycluster);
    free(b->group);
    free(b->weight);
    free(b->cgroup);
    free(b->gprio);
    free(b->corder);
    free(b->clevels);
    free(b->cfirst);
    free(b->ceps);
    free(b);
    d->bal = NULL;
}

/* ---- a worker's view: rebuilt on health events, not per request */

static void rebuild(const cg_dest_t *d, struct cg_bal_view *v, uint64_t now)
{
    const struct cg_bal_dest *b = d->bal;
    v->epoch = __atomic_load_n(d->health_epoch, __ATOMIC_ACQUIRE);
    v->next_expiry = UINT64_MAX;
    v->nhealthy = 0;
    v->panic_ep = -1;
    uint64_t panic_at = UINT64_MAX;
    for (size_t e = 0; e < d->nendpoints; e++) {
        if (e + 8 < d->nendpoints) __builtin_prefetch(d->endpoints[e + 8].stats);
        const cg_ep_stats_t *st = d->endpoints[e].stats;
        int unhealthy = __atomic_load_n(&st->hc_unhealthy, __ATOMIC_RELAXED);
        uint64_t until = __atomic_load_n(&st->ejected_until_ms, __ATOMIC_RELAXED);
        int ejected = until && now < until;
        if (!unhealthy && ejected && until < v->next_expiry) v->next_expiry = until;
        if (unhealthy || ejected) {
            uint64_t at = unhealthy ? UINT64_MAX - 1 : until;
            if (v->panic_ep < 0 || at < panic_at) {
                v->panic_ep = (int)e;
                panic_at = at;
            }
            v->epos[e] = NONE;
        } else {
            v->epos[e] = 0;
            v->nhealthy++;
        }
    }
    memset(v->gstart, 0, b->ngroups * sizeof(uint32_t));
    memset(v->gend, 0, b->ngroups * sizeof(uint32_t));
    for (uint32_t p = 0; p < b->np; p++) {
        uint32_t off = b->poff[p], k = 0, nl = 0;
        uint64_t sum = 0;
        for (uint32_t i = off; i < b->poff[p + 1]; i++) {
            uint32_t e = b->bycluster[i], g = b->group[e];
            if (v->epos[e] == NONE) continue;
            if (v->gend[g] == 0) v->gstart[g] = k;
            v->gend[g] = k + 1;
            sum += b->weight[e];
            v->cidx[off + k] = e;
            v->csum[off + k] = sum;
            v->epos[e] = k++;
        }
        v->n[p] = k;
        v->hweight[p] = sum;
        k = 0;
        for (uint32_t i = off; i < b->poff[p + 1]; i++) {
            uint32_t e = b->byweight[i];
            if (v->epos[e] == NONE) continue;
            v->rr[off + k] = e;
            cg_lb_iwrr_push(v->levels + off, &nl, b->weight[e], k);
            k++;
        }
        v->nlevels[p] = nl;
        cg_lb_iwrr_fit(&v->cur[p], v->levels + off, nl);
    }
    loads_of(d, v->hweight, b->total, b->np, v->load);
    v->any_load = 0;
    for (uint32_t p = 0; p < b->np; p++) v->any_load |= v->load[p] != 0;
    v->built = 1;
    v->built_ms = now;
    v->unsure = 0;
}

static inline int fresh(const cg_dest_t *d, const struct cg_bal_view *v, uint64_t now)
{
    return v->built && now < v->next_expiry &&
           __atomic_load_n(d->health_epoch, __ATOMIC_ACQUIRE) == v->epoch;
}

/* The view is stale. must: rebuild now, even a large destination within its interval. */
static __attribute__((noinline)) void refresh(const cg_dest_t *d, struct cg_bal_view *v,
                                              uint64_t now, int must)
{
    if (!must && v->built && d->nendpoints >= CG_BAL_REBUILD_SMALL &&
        now < v->built_ms + CG_BAL_REBUILD_EVERY_MS) {
        v->unsure = 1;
        return;
    }
    rebuild(d, v, now);
}

/* ---- picks */

static int was_tried(const uint32_t *tried, size_t n, size_t i)
{
    for (size_t k = 0; k < n; k++)
        if (tried[k] == i) return 1;
    return 0;
}

/* Panic mode's last resort: the endpoint whose ejection ends first, preferring one this
 * request has not tried yet, in a cluster it has not tried yet (a retry in panic still moves
 * on, as retries do). O(n * tries): only retries in panic come here. */
static int oldest_ejected(const cg_dest_t *d, const uint32_t *tried, size_t ntried)
{
    int best = -1;
    uint64_t best_key[3] = {0};
    for (size_t i = 0; i < d->nendpoints; i++) {
        const cg_ep_stats_t *st = d->endpoints[i].stats;
        uint64_t at = __atomic_load_n(&st->ejected_until_ms, __ATOMIC_RELAXED);
        if (__atomic_load_n(&st->hc_unhealthy, __ATOMIC_RELAXED)) at = UINT64_MAX - 1;
        uint64_t ctried = 0;
        for (size_t k = 0; k < ntried && !ctried; k++)
            ctried = d->endpoints[tried[k]].cid == d->endpoints[i].cid;
        uint64_t key[3] = {ctried, (uint64_t)was_tried(tried, ntried, i), at};
        int better = best < 0;
        for (int k = 0; !better && k < 3 && key[k] <= best_key[k]; k++)
            better = key[k] < best_key[k];
        if (better) {
            best = (int)i;
            memcpy(best_key, key, sizeof(key));
        }
    }
    return best;
}

static inline __attribute__((always_inline)) int first_pick(const cg_dest_t *d,
                                                            struct cg_bal_view *v, uint64_t random)
{
    const struct cg_bal_dest *b = d->bal;
    int prio = -1;
    if (v->any_load) {
        prio = cg_lb_priority_choose(v->load, b->np, (uint32_t)(random % 100) + 1);
    } else {
        /* every priority's health rounds to 0: share by healthy weight, as one pool */
        uint64_t all = 0;
        for (uint32_t p = 0; p < b->np; p++) all += v->hweight[p];
        uint64_t u = random % all;
        for (prio = 0; (uint32_t)prio + 1 < b->np && u >= v->hweight[prio]; prio++)
            u -= v->hweight[prio];
    }
    if (prio < 0 || v->n[prio] == 0) return -1;
    uint32_t off = b->poff[prio];
    return (int)v->rr[off + cg_lb_iwrr_next(&v->cur[prio], v->levels + off, v->nlevels[prio])];
}

/* A retry: another cluster first, then another endpoint, then the same again; within the
 * first stage that has a candidate, as local a priority as has one. */
static int retry_pick(const cg_dest_t *d, struct cg_bal_view *v, const uint32_t *te, size_t nte,
                      const uint32_t *tc, size_t ntc, uint64_t random)
{
    const struct cg_bal_dest *b = d->bal;
    cg_lb_range_t ex[CG_MAX_TRIES];
    for (int stage = 0; stage < 3; stage++) {
        for (uint32_t p = 0; p < b->np; p++) {
            if (v->n[p] == 0) continue;
            size_t nex = 0;
            if (stage == 0) {
                for (size_t k = 0; k < ntc; k++)
                    for (uint32_t g = b->cgroup[tc[k]]; g < b->cgroup[tc[k] + 1]; g++)
                        if (b->gprio[g] == p && v->gend[g] > v->gstart[g])
                            ex[nex++] = (cg_lb_range_t){v->gstart[g], v->gend[g]};
            } else if (stage == 1) {
                for (size_t k = 0; k < nte; k++)
                    if (d->endpoints[te[k]].priority == p && v->epos[te[k]] != NONE)
                        ex[nex++] = (cg_lb_range_t){v->epos[te[k]], v->epos[te[k]] + 1};
            }
            uint32_t off = b->poff[p];
            int64_t at = cg_lb_wsample(v->csum + off, v->n[p], ex, nex, random);
            if (at >= 0) return (int)v->cidx[off + (uint32_t)at];
        }
    }
    return -1;
}

static cg_pick_t pick_weighted(const cg_dest_t *d, struct cg_bal_view *v, const uint32_t *tried,
                               size_t ntried, int cluster)
{
    const struct cg_bal_dest *b = d->bal;
    cg_pick_t p = {.endpoint = -1, .cluster = cluster};
    if (ntried == 0)
        p.cluster =
            b->nclevels ? (int)b->corder[cg_lb_iwrr_next(&v->ccur, b->clevels, b->nclevels)] : -1;
    if (p.cluster < 0 || (size_t)p.cluster >= d->nclusters) return p;
    /* no health checking: strictly round-robin inside the chosen cluster, untried first;
     * ntried + 1 consecutive endpoints hold an untried one if the cluster has one */
    const uint32_t *eps = b->ceps + b->cfirst[p.cluster];
    uint32_t n = b->cfirst[p.cluster + 1] - b->cfirst[p.cluster];
    if (n == 0) return p;
    uint32_t start = v->epcur[p.cluster]++ % n;
    for (uint32_t i = 0; i < n && i <= ntried; i++) {
        uint32_t e = eps[(start + i) % n];
        if (!was_tried(tried, ntried, e)) {
            p.endpoint = (int)e;
            return p;
        }
    }
    p.endpoint = (int)eps[start];
    p.repeat = 1;
    return p;
}

/* A pick from a view that health has moved past: check each draw, draw again past what
 * became unavailable, and rebuild after a few misses (then -1: pick as usual). */
static __attribute__((noinline)) int pick_unsure(const cg_dest_t *d, struct cg_bal_view *v,
                                                 const uint32_t *te, size_t nte, const uint32_t *tc,
                                                 size_t ntc, uint64_t now, uint64_t random)
{
    int e = -1;
    for (int k = 0; k < 8 && v->nhealthy; k++) {
        e = nte ? retry_pick(d, v, te, nte, tc, ntc, random) : first_pick(d, v, random);
        if (e >= 0 && cg_proxy_endpoint_available(&d->endpoints[e], now)) return e;
        random = random >> 7 | random << 57;
    }
    refresh(d, v, now, 1);
    return -1;
}

cg_pick_t cg_proxy_balancer_pick(const cg_dest_t *d, int worker, const uint32_t *tried,
                                 size_t ntried, int cluster, uint64_t now, uint64_t random)
{
    struct cg_bal_view *v = d->ws[worker].view;
    /* only what indexes this destination counts as tried */
    uint32_t te[CG_MAX_TRIES], tc[CG_MAX_TRIES];
    size_t nte = 0, ntc = 0;
    for (size_t k = 0; k < ntried && nte < CG_MAX_TRIES; k++) {
        if (tried[k] >= d->nendpoints || was_tried(te, nte, tried[k])) continue;
        te[nte++] = tried[k];
        uint32_t c = d->endpoints[tried[k]].cid;
        if (!was_tried(tc, ntc, c)) tc[ntc++] = c;
    }
    if (d->mode == CG_DEST_WEIGHTED) return pick_weighted(d, v, te, nte, cluster);

    cg_pick_t p = {.endpoint = -1, .cluster = -1};
    if (d->nendpoints == 0) return p;
    /* A sure view is not checked against the endpoint's own state: a pick racing an ejection
     * on another worker may still take it, as it could when the state was read per pick. */
    if (!fresh(d, v, now)) refresh(d, v, now, 0);
    if (v->unsure && (p.endpoint = pick_unsure(d, v, te, nte, tc, ntc, now, random)) >= 0) {
        p.repeat = (uint8_t)was_tried(te, nte, (size_t)p.endpoint);
        return p;
    }
    if (v->nhealthy == 0) {
        /* panic is off: rather than failing outright, try the longest-ejected endpoint */
        p.endpoint = nte ? oldest_ejected(d, te, nte) : v->panic_ep;
        p.panic = 1;
    } else {
        p.endpoint = nte ? retry_pick(d, v, te, nte, tc, ntc, random) : first_pick(d, v, random);
    }
    if (p.endpoint < 0) p.endpoint = oldest_ejected(d, te, nte);
    p.repeat = (uint8_t)was_tried(te, nte, (size_t)p.endpoint);
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
    pthread_mutex_lock(&st->lock);
    int can = 1;
    if (r == CG_LB_GATEWAY_ERROR && !st->outlier.ejected &&
        st->outlier.consecutive + 1 >= pol->outlier.consecutive_gateway_errors) {
        /* only a result that may eject needs the cap, and the count is O(n): ejections are rare */
        uint32_t ejected = 0;
        for (size_t i = 0; i < d->nendpoints; i++) {
            uint64_t until =
                __atomic_load_n(&d->endpoints[i].stats->ejected_until_ms, __ATOMIC_RELAXED);
            if (until && now < until) ejected++;
        }
        can = cg_lb_outlier_cap_allows(ejected, (uint32_t)d->nendpoints,
                                       pol->outlier.max_ejection_percent);
    }
    int rv = cg_lb_outlier_on_result(&st->outlier, &pol->outlier, r, now, can);
    __atomic_store_n(&st->streak, st->outlier.consecutive, __ATOMIC_RELAXED);
    cg_proxy_ep_stats_set_ejected(st, st->outlier.ejected ? st->outlier.ejected_until_ms : 0);
    uint32_t n = st->outlier.ejections;
    uint64_t dur = st->outlier.ejected_until_ms - st->outlier.ejected_at_ms;
    pthread_mutex_unlock(&st->lock);
    if (rv == 1)
        cg_log_warn("outlier: %s (cluster %s) ejected for %llu ms (ejection %u) from %s", ep->name,
                    ep->cluster ? ep->cluster : "-", (unsigned long long)dur, n, d->name);
    else if (rv == -1)
        cg_log_info("outlier: %s (cluster %s) returned to %s", ep->name,
                    ep->cluster ? ep->cluster : "-", d->name);
    return rv;
}
