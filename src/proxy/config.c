/* Compiling a snapshot into request-path tables. */
#include "proxy/config.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/list.h"
#include "core/log.h"
#include "lb/priority.h"
#include "proxy/balancer.h"
#include "proxy/mesh.h"
#include "proxy/tlsconf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct stats_entry {
    struct stats_entry *next;
    uint64_t hash;         /* of dest and endpoint */
    char *dest, *endpoint; /* endpoint "": the destination's own entry, holding its epoch */
    uint32_t refs;         /* configs naming it */
    uint64_t unref_ms;     /* when refs last fell to 0 (or the entry was made) */
    uint64_t epoch;        /* the destination's entry: its health epoch */
    cg_ep_stats_t st;
} stats_entry_t;

int cg_proxy_nworkers = 1;

/* The registry: a list to visit, newest first, and the same entries in an open-addressing
 * table, so that compiling 100,000 endpoints is not 100,000 list walks. All under
 * stats_lock. Configs hold references; the sweep at each compile drops what no config has
 * named for the grace period, so the registry (and /metrics) follows the live configs. */
static pthread_mutex_t stats_lock = PTHREAD_MUTEX_INITIALIZER;
static stats_entry_t *stats_head;
static stats_entry_t **stats_slots; /* NULL = free; at most half are used */
static size_t stats_cap, stats_len;

static uint64_t now_ms(void)
{
    return cg_clock_mono_us() / 1000;
}

static uint64_t stats_hash(const char *dest, const char *endpoint)
{
    return cg_hash_str(cg_hash_str(CG_HASH_SEED, dest), endpoint);
}

static void stats_slot_put(stats_entry_t *e)
{
    size_t i = e->hash & (stats_cap - 1);
    while (stats_slots[i]) i = (i + 1) & (stats_cap - 1);
    stats_slots[i] = e;
}

static void stats_rehash(size_t cap)
{
    free(stats_slots);
    stats_cap = cap;
    stats_slots = cg_xcalloc(stats_cap, sizeof(*stats_slots));
    for (stats_entry_t *o = stats_head; o; o = o->next) stats_slot_put(o);
}

static stats_entry_t *stats_find(uint64_t h, const char *dest, const char *endpoint)
{
    if (stats_cap == 0) return NULL;
    for (size_t i = h & (stats_cap - 1); stats_slots[i]; i = (i + 1) & (stats_cap - 1)) {
        stats_entry_t *e = stats_slots[i];
        if (e->hash == h && !strcmp(e->dest, dest) && !strcmp(e->endpoint, endpoint)) return e;
    }
    return NULL;
}

/* Under stats_lock. */
static stats_entry_t *stats_lookup(const char *dest, const char *endpoint)
{
    uint64_t h = stats_hash(dest, endpoint);
    stats_entry_t *e = stats_find(h, dest, endpoint);
    if (e) return e;
    if (2 * (stats_len + 1) > stats_cap) stats_rehash(stats_cap ? 2 * stats_cap : 64);
    e = cg_xcalloc(1, sizeof(*e));
    pthread_mutex_init(&e->st.lock, NULL);
    e->hash = h;
    e->dest = cg_xstrdup(dest);
    e->endpoint = cg_xstrdup(endpoint);
    e->unref_ms = now_ms(); /* a grace period from birth: a caller may hold it unreferenced */
    e->st.health_epoch = &e->epoch;
    e->next = stats_head;
    stats_head = e;
    stats_slot_put(e);
    stats_len++;
    return e;
}

cg_ep_stats_t *cg_proxy_ep_stats_get(const char *dest, const char *endpoint)
{
    pthread_mutex_lock(&stats_lock);
    stats_entry_t *e = stats_lookup(dest, endpoint);
    pthread_mutex_unlock(&stats_lock);
    return &e->st;
}

void cg_proxy_ep_stats_foreach(cg_ep_stats_visit_cb cb, void *ctx)
{
    pthread_mutex_lock(&stats_lock);
    for (stats_entry_t *e = stats_head; e; e = e->next)
        if (e->endpoint[0]) cb(ctx, e->dest, e->endpoint, &e->st);
    pthread_mutex_unlock(&stats_lock);
}

size_t cg_proxy_ep_stats_sweep(uint64_t now)
{
    pthread_mutex_lock(&stats_lock);
    size_t dropped = 0;
    for (stats_entry_t **pe = &stats_head; *pe;) {
        stats_entry_t *e = *pe;
        if (e->refs || now < e->unref_ms + CG_EP_STATS_GRACE_MS) {
            pe = &e->next;
            continue;
        }
        *pe = e->next;
        pthread_mutex_destroy(&e->st.lock);
        free(e->dest);
        free(e->endpoint);
        free(e);
        dropped++;
    }
    stats_len -= dropped;
    if (dropped) stats_rehash(stats_cap);
    size_t left = stats_len;
    pthread_mutex_unlock(&stats_lock);
    return left;
}

static void bump(cg_ep_stats_t *st)
{
    __atomic_fetch_add(__atomic_load_n(&st->health_epoch, __ATOMIC_ACQUIRE), 1, __ATOMIC_RELEASE);
}

void cg_proxy_ep_stats_set_ejected(cg_ep_stats_t *st, uint64_t until)
{
    if (__atomic_exchange_n(&st->ejected_until_ms, until, __ATOMIC_RELAXED) != until) bump(st);
}

void cg_proxy_ep_stats_set_unhealthy(cg_ep_stats_t *st, uint8_t unhealthy)
{
    if (__atomic_exchange_n(&st->hc_unhealthy, unhealthy, __ATOMIC_RELAXED) != unhealthy) bump(st);
}

/* A config's references: its destinations' own entries and their endpoints'. */
static void dest_take_stats(cg_dest_t *d)
{
    pthread_mutex_lock(&stats_lock);
    stats_entry_t *de = stats_lookup(d->name, "");
    de->refs++;
    d->health_epoch = &de->epoch;
    for (size_t e = 0; e < d->nendpoints; e++) {
        stats_entry_t *x = stats_lookup(d->name, d->endpoints[e].name);
        x->refs++;
        __atomic_store_n(&x->st.health_epoch, &de->epoch, __ATOMIC_RELEASE);
        d->endpoints[e].stats = &x->st;
    }
    pthread_mutex_unlock(&stats_lock);
}

static void dest_drop_stats(cg_dest_t *d)
{
    if (!d->health_epoch) return;
    uint64_t now = now_ms();
    pthread_mutex_lock(&stats_lock);
    stats_entry_t *de = cg_container_of(d->health_epoch, stats_entry_t, epoch);
    if (--de->refs == 0) de->unref_ms = now;
    for (size_t e = 0; e < d->nendpoints; e++) {
        stats_entry_t *x = cg_container_of(d->endpoints[e].stats, stats_entry_t, st);
        if (--x->refs == 0) x->unref_ms = now;
    }
    pthread_mutex_unlock(&stats_lock);
}

static int compile_strmatch(cg_strmatch_t *m, const cg_snap_strmatch_t *s, cg_buf_t *errors)
{
    m->kind = s->kind;
    m->value = cg_iov_str(s->value);
    if (s->kind != CG_MATCH_REGEX) return 0;
    /* anchored like Envoy's safe_regex: the whole value must match */
    size_t n = strlen(s->value);
    char *pat = cg_xmalloc(n + 5);
    snprintf(pat, n + 5, "^(%s)$", s->value);
    int r = regcomp(&m->re, pat, REG_EXTENDED | REG_NOSUB);
    free(pat);
    if (r) {
        cg_buf_printf(errors, "invalid regex \"%s\"\n", s->value);
        m->kind = CG_MATCH_EXACT; /* nothing to free */
        return CG_EINVAL;
    }
    return 0;
}

static void free_strmatch(cg_strmatch_t *m)
{
    if (m->kind == CG_MATCH_REGEX) regfree(&m->re);
}

static int vhost_order(const void *a, const void *b)
{
    const cg_vhost_t *x = a, *y = b;
    if (x->kind != y->kind) return x->kind - y->kind;
    if (x->kind == CG_VHOST_WILDCARD && x->host.len != y->host.len)
        return (int)y->host.len - (int)x->host.len;
    return (x->seq > y->seq) - (x->seq < y->seq); /* qsort is not stable: the snapshot's order */
}

/* Weighted clusters sorted by name (qsort has no context argument; compile runs on the main
 * thread only). */
static const cg_dest_cluster_t *sort_ctx;

static int cluster_order(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int r = strcmp(sort_ctx[x].name, sort_ctx[y].name);
    return r ? r : (x > y) - (x < y);
}

static int find_cluster(const cg_dest_cluster_t *cl, const size_t *order, size_t n,
                        const char *name)
{
    if (!name) return -1;
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int r = strcmp(cl[order[mid]].name, name);
        if (r == 0) {
            /* a cluster named twice: its last share takes the endpoints */
            while (mid + 1 < n && !strcmp(cl[order[mid + 1]].name, name)) mid++;
            return (int)order[mid];
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void config_free(cg_config_t *c)
{
    for (size_t i = 0; i < c->nlisteners; i++) {
        cg_listener_cfg_t *l = &c->listeners[i];
        for (size_t v = 0; v < l->nvhosts; v++) {
            cg_vhost_t *vh = &l->vhosts[v];
            /* the mesh port's vhosts are copies, but for the east-west servers it alone has */
            if (l->mesh && !c->snap->servers[vh->seq].east_west) continue;
            for (size_t r = 0; r < vh->nroutes; r++) {
                cg_route_t *rt = &vh->routes[r];
                for (size_t m = 0; m < rt->nmatches; m++) {
                    cg_match_t *mm = &rt->matches[m];
                    if (mm->has_uri) free_strmatch(&mm->uri);
                    for (size_t h = 0; h < mm->nheaders; h++) free_strmatch(&mm->headers[h].m);
                    free(mm->headers);
                }
                free(rt->matches);
            }
            free(vh->routes);
        }
        free(l->vhosts);
        cg_proxy_tls_free(l);
    }
    free(c->listeners);
    for (size_t i = 0; i < c->ndests; i++) {
        cg_dest_t *d = &c->dests[i];
        cg_proxy_balancer_release(d);
        dest_drop_stats(d);
        free(d->ws);
        free(d->clusters);
        free(d->endpoints);
    }
    free(c->dests);
    cg_snapshot_free(c->snap);
    free(c);
}

static int compile_route(cg_config_t *c, cg_route_t *rt, const cg_snap_rule_t *r, cg_buf_t *errors)
{
    int err = 0;
    rt->action = r->action;
    rt->timeout_ms = r->timeout_ms;
    rt->redirect = &r->redirect;
    rt->direct = &r->direct;
    if (r->action == CG_ACTION_ROUTE) {
        if (r->destination >= c->ndests) {
            cg_buf_printf(errors, "rule refers to missing destination %zu\n", r->destination);
            return CG_EINVAL;
        }
        rt->dest = &c->dests[r->destination];
    }
    rt->nmatches = r->nmatches;
    rt->matches = cg_xcalloc(r->nmatches, sizeof(cg_match_t));
    for (size_t m = 0; m < r->nmatches; m++) {
        const cg_snap_match_t *sm = &r->matches[m];
        cg_match_t *mm = &rt->matches[m];
        mm->has_uri = sm->has_uri;
        if (sm->has_uri && compile_strmatch(&mm->uri, &sm->uri, errors)) {
            mm->has_uri = 0;
            err = CG_EINVAL;
        }
        mm->nheaders = sm->nheaders;
        mm->headers = cg_xcalloc(sm->nheaders, sizeof(cg_header_matcher_t));
        for (size_t h = 0; h < sm->nheaders; h++) {
            mm->headers[h].name = cg_iov_str(sm->headers[h].name);
            if (compile_strmatch(&mm->headers[h].m, &sm->headers[h].match, errors)) err = CG_EINVAL;
        }
    }
    return err;
}

/* The virtual host of the snapshot's server s, its routes compiled. */
static int fill_vhost(cg_config_t *c, cg_vhost_t *vh, size_t s, cg_buf_t *errors)
{
    const cg_snap_server_t *sv = &c->snap->servers[s];
    int err = 0;
    vh->seq = (uint32_t)s;
    const char *hn = sv->hostname ? sv->hostname : "*";
    vh->server = sv->name;
    if (!strcmp(hn, "*")) {
        vh->kind = CG_VHOST_ANY;
    } else if (hn[0] == '*' && hn[1] == '.') {
        vh->kind = CG_VHOST_WILDCARD;
        vh->host = cg_iov_str(hn + 1);
    } else {
        vh->kind = CG_VHOST_EXACT;
        vh->host = cg_iov_str(hn);
    }
    vh->nroutes = sv->nrules;
    vh->routes = cg_xcalloc(sv->nrules, sizeof(cg_route_t));
    for (size_t r = 0; r < sv->nrules; r++)
        if (compile_route(c, &vh->routes[r], &sv->rules[r], errors)) err = CG_EINVAL;
    return err;
}

/* The mesh port: mTLS from other gateways, then the same hosts as every other port (a host on
 * several ports: its first server in the snapshot's order, as the vhost order goes), then an
 * east-west gateway's servers, which no other port serves. */
static int mesh_listener(cg_config_t *c, uint16_t port, cg_buf_t *errors)
{
    size_t n = 0;
    int err = 0;
    for (size_t i = 0; i < c->nlisteners; i++) n += c->listeners[i].nvhosts;
    for (size_t s = 0; s < c->snap->nservers; s++) n += c->snap->servers[s].east_west != 0;
    cg_listener_cfg_t *m = &c->listeners[c->nlisteners++];
    m->port = port;
    m->mesh = 1;
    m->xopen = cg_proxy_mesh_listener();
    m->vhosts = cg_xcalloc(n ? n : 1, sizeof(cg_vhost_t));
    for (size_t i = 0; i + 1 < c->nlisteners; i++)
        for (size_t v = 0; v < c->listeners[i].nvhosts; v++) {
            const cg_vhost_t *from = &c->listeners[i].vhosts[v];
            /* a MUTUAL server admits only its own CA's clients with its own SANs: a mesh peer
             * proves neither, so the mesh port does not serve it */
            const cg_snap_tls_t *tls = c->snap->servers[from->seq].tls;
            if (tls && tls->mode == CG_TLS_MUTUAL) continue;
            cg_vhost_t *vh = &m->vhosts[m->nvhosts++];
            *vh = *from;
            vh->tls_index = 0; /* the mesh set has one server */
        }
    for (size_t s = 0; s < c->snap->nservers; s++)
        if (c->snap->servers[s].east_west && fill_vhost(c, &m->vhosts[m->nvhosts++], s, errors))
            err = CG_EINVAL;
    return err;
}

int cg_proxy_config_compile(cg_snapshot_t *snap, cg_config_t **out, cg_buf_t *errors)
{
    cg_config_t *c = cg_xcalloc(1, sizeof(*c));
    int err = 0;
    c->refs = 1;
    c->snap = snap;
    c->version = snap->version;
    if (cg_addr_parse_ip(&c->bind, snap->address ? snap->address : "0.0.0.0", 0)) {
        cg_buf_printf(errors, "instance address \"%s\" is not an IP address\n", snap->address);
        err = CG_EINVAL;
        goto Error;
    }

    c->ndests = snap->ndestinations;
    c->dests = cg_xcalloc(c->ndests, sizeof(cg_dest_t));
    for (size_t i = 0; i < c->ndests; i++) {
        const cg_snap_destination_t *sd = &snap->destinations[i];
        cg_dest_t *d = &c->dests[i];
        d->name = sd->name;
        d->mode = sd->mode;
        d->connect_timeout_ms = sd->connect_timeout_ms ? sd->connect_timeout_ms : 5000;
        d->endpoints = cg_xcalloc(sd->nendpoints, sizeof(cg_endpoint_t));
        /* --require-mtls: a hop to another gateway (the cluster modes) that is not mTLS is left
         * out, said once per destination and compile; a Service's endpoints are not gateways */
        int plain_out = cg_proxy_mesh_required() && sd->mode != CG_DEST_SERVICE;
        size_t left_out = 0;
        for (size_t e = 0; e < sd->nendpoints; e++) {
            const cg_snap_endpoint_t *se = &sd->endpoints[e];
            if (plain_out && !se->identity) {
                left_out++;
                continue;
            }
            cg_endpoint_t *ep = &d->endpoints[d->nendpoints++];
            if (cg_addr_parse_ip(&ep->addr, se->address, se->port)) {
                cg_buf_printf(errors, "destination %s: endpoint \"%s\" is not an IP address\n",
                              sd->name, se->address);
                err = CG_EINVAL;
                goto Error;
            }
            cg_addr_format(&ep->addr, ep->name, sizeof(ep->name));
            ep->cluster = se->cluster;
            ep->region = se->region;
            ep->host = se->host;
            ep->weight = se->weight ? se->weight : 1;
            ep->priority =
                se->priority < CG_LB_MAX_PRIORITIES ? se->priority : CG_LB_MAX_PRIORITIES - 1;
            if (ep->priority + 1 > d->npriorities) d->npriorities = ep->priority + 1;
            ep->cluster_idx = -1;
            if (se->identity) { /* the hop is mTLS: the peer must prove this identity */
                ep->xopen = cg_proxy_mesh_peer(se->identity);
                if (!ep->xopen.open) {
                    cg_buf_printf(errors,
                                  cg_proxy_mesh_port()
                                      ? "destination %s: endpoint %s needs mTLS (%s): too many "
                                        "distinct mesh identities (65536)\n"
                                      : "destination %s: endpoint %s needs mTLS (%s) but this "
                                        "gateway has no --identity\n",
                                  sd->name, ep->name, se->identity);
                    err = CG_EINVAL;
                    goto Error;
                }
            }
        }
        if (left_out)
            cg_log_warn("destination %s: %zu endpoint(s) without an mTLS identity left out "
                        "(--require-mtls)",
                        sd->name, left_out);
        dest_take_stats(d);
        d->policy = &sd->policy;
        if (d->mode == CG_DEST_WEIGHTED) {
            d->nclusters = sd->nweights;
            d->clusters = cg_xcalloc(sd->nweights, sizeof(cg_dest_cluster_t));
            /* each endpoint finds its cluster's share through a sorted index: one pass */
            size_t *order = cg_xcalloc(sd->nweights, sizeof(size_t));
            for (size_t k = 0; k < sd->nweights; k++) {
                d->clusters[k].name = sd->weights[k].cluster;
                d->clusters[k].weight = sd->weights[k].weight;
                order[k] = k;
            }
            sort_ctx = d->clusters;
            qsort(order, sd->nweights, sizeof(size_t), cluster_order);
            for (size_t e = 0; e < d->nendpoints; e++) {
                int k = find_cluster(d->clusters, order, sd->nweights, d->endpoints[e].cluster);
                if (k < 0) continue;
                d->endpoints[e].cluster_idx = k;
                d->clusters[k].nendpoints++;
            }
            free(order);
        }
        d->ws = cg_xcalloc((size_t)cg_proxy_nworkers, sizeof(cg_dest_wstate_t));
        cg_proxy_balancer_prepare(d, cg_proxy_nworkers);
    }

    /* group servers by port: count first, so each listener gets just its own vhosts */
    uint32_t *per_port = cg_xcalloc(65536, sizeof(uint32_t));
    int32_t *listener_of = cg_xcalloc(65536, sizeof(int32_t));
    size_t neast_west = 0;
    for (size_t s = 0; s < snap->nservers; s++) {
        if (snap->servers[s].east_west)
            neast_west++;
        else
            per_port[snap->servers[s].port]++;
    }
    uint16_t mesh_port = cg_proxy_mesh_port();
    if (neast_west && !mesh_port) {
        cg_buf_printf(errors,
                      "%zu east-west server(s) need the mesh port, but this gateway has no "
                      "--identity\n",
                      neast_west);
        err = CG_EINVAL;
    }
    if (mesh_port && per_port[mesh_port]) {
        cg_buf_printf(errors,
                      "port %u is this gateway's mesh mTLS port (--mtls-port); no Gateway "
                      "can serve on it\n",
                      (unsigned)mesh_port);
        err = CG_EINVAL;
    }
    c->listeners = cg_xcalloc(snap->nservers + 1, sizeof(cg_listener_cfg_t)); /* + the mesh's */
    for (size_t s = 0; s < snap->nservers; s++) {
        const cg_snap_server_t *sv = &snap->servers[s];
        cg_listener_cfg_t *l;
        if (sv->east_west) continue; /* the mesh port's only */
        if (listener_of[sv->port]) {
            l = &c->listeners[listener_of[sv->port] - 1];
        } else {
            l = &c->listeners[c->nlisteners++];
            listener_of[sv->port] = (int32_t)c->nlisteners;
            l->port = sv->port;
            l->vhosts = cg_xcalloc(per_port[sv->port], sizeof(cg_vhost_t));
        }
        cg_vhost_t *vh = &l->vhosts[l->nvhosts++];
        vh->tls_index = (int)l->nvhosts - 1; /* the port's servers in order: its TLS set's */
        if (fill_vhost(c, vh, s, errors)) err = CG_EINVAL;
    }
    free(per_port);
    free(listener_of);
    if (!err && cg_proxy_tls_compile(c, snap, errors)) err = CG_EINVAL;
    if (mesh_port && !err && mesh_listener(c, mesh_port, errors)) err = CG_EINVAL;
    for (size_t i = 0; i < c->nlisteners; i++)
        qsort(c->listeners[i].vhosts, c->listeners[i].nvhosts, sizeof(cg_vhost_t), vhost_order);
    if (err) goto Error;
    cg_proxy_ep_stats_sweep(now_ms()); /* after this config took its references */
    *out = c;
    return 0;

Error:
    config_free(c);
    return err;
}

void cg_proxy_config_ref(cg_config_t *c)
{
    __atomic_fetch_add(&c->refs, 1, __ATOMIC_RELAXED);
}

void cg_proxy_config_unref(cg_config_t *c)
{
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0) config_free(c);
}

const cg_listener_cfg_t *cg_proxy_config_listener(const cg_config_t *c, uint16_t port)
{
    for (size_t i = 0; i < c->nlisteners; i++)
        if (c->listeners[i].port == port) return &c->listeners[i];
    return NULL;
}
