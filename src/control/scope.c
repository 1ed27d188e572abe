/* The reach of a change of the resources (scope.h): which clusters' instances it can affect. */
#include "control/scope.h"

#include "control/watch.h"

#include <stdlib.h>
#include <string.h>

/* The one cluster whose instances a resource's content can change, or NULL for any. What
 * translation reads for an instance that is no edge, while no WorkspaceSetting exists (the
 * watch recomputes everything else whatever the scope): its Cluster (region, zone), the
 * Gateways that select it and the Services of its own cluster. So a Cluster reaches its own
 * instances, a Service its cluster's, a Gateway pinned to a cluster (workloadSelector.cluster)
 * that cluster's; a Gateway selecting in every cluster, a Secret, a WorkspaceSetting, or a
 * resource that no longer decodes may reach any instance. */
static const char *touches(const cg_control_res_t *r)
{
    const cg_resource_set_t *s = r->set;
    if (!s) return NULL;
    switch (r->kind) {
    case CG_KIND_CLUSTER: return s->nclusters == 1 ? s->clusters[0].metadata.name : NULL;
    case CG_KIND_SERVICE: return s->nservices == 1 ? s->services[0].metadata.cluster : NULL;
    case CG_KIND_GATEWAY:
        return s->ngateways == 1 ? s->gateways[0].spec.workload_selector.cluster : NULL;
    default: return NULL;
    }
}

static int identity_cmp(const cg_control_seen_res_t *a, const cg_control_seen_res_t *b)
{
    if (a->kind != b->kind) return a->kind < b->kind ? -1 : 1;
    int c = strcmp(a->cluster, b->cluster);
    if (!c) c = strcmp(a->namespace_, b->namespace_);
    return c ? c : strcmp(a->name, b->name);
}

static int seen_order(const void *a, const void *b)
{
    return identity_cmp(a, b);
}

static char *dup_or_null(const char *s)
{
    return s ? cg_xstrdup(s) : NULL;
}

/* The resource r reaches: its cluster, or everything. */
static void reach(cg_control_scope_t *out, const cg_control_seen_res_t *r)
{
    if (out->all) return;
    if (!r->touches) {
        out->all = 1;
        return;
    }
    cg_vec_push(&out->clusters, cg_xstrdup(r->touches)); /* sorted and made unique after */
}

static int str_order(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void cg_control_scope_diff(cg_control_seen_t *seen, const cg_control_res_t *const *items, size_t n,
                           cg_control_scope_t *out)
{
    *out = (cg_control_scope_t){0};
    cg_control_seen_res_t *now = cg_xcalloc(n + 1, sizeof(*now));
    for (size_t i = 0; i < n; i++) {
        const cg_control_res_t *r = items[i];
        now[i] = (cg_control_seen_res_t){
            r->kind,    cg_xstrdup(r->cluster), cg_xstrdup(r->namespace_), cg_xstrdup(r->name),
            r->version, dup_or_null(touches(r))};
    }
    qsort(now, n, sizeof(*now), seen_order);
    if (!seen->primed) out->all = 1;
    /* merge the two sorted lists: an identity on one side only was added or removed */
    size_t i = 0, j = 0;
    while (!out->all && (i < seen->n || j < n)) {
        int c = i == seen->n ? 1 : j == n ? -1 : identity_cmp(&seen->items[i], &now[j]);
        if (c < 0) {
            reach(out, &seen->items[i++]);
        } else if (c > 0) {
            reach(out, &now[j++]);
        } else {
            if (seen->items[i].version != now[j].version) {
                reach(out, &seen->items[i]);
                reach(out, &now[j]);
            }
            i++, j++;
        }
    }
    if (out->all) {
        for (size_t k = 0; k < out->clusters.len; k++) free(out->clusters.items[k]);
        out->clusters.len = 0;
    }
    if (out->clusters.len) {
        qsort(out->clusters.items, out->clusters.len, sizeof(char *), str_order);
        size_t u = 0;
        for (size_t k = 0; k < out->clusters.len; k++) {
            if (u && strcmp(out->clusters.items[u - 1], out->clusters.items[k]) == 0)
                free(out->clusters.items[k]);
            else
                out->clusters.items[u++] = out->clusters.items[k];
        }
        out->clusters.len = u;
    }
    cg_control_seen_free(seen);
    seen->items = now;
    seen->n = n;
    seen->primed = 1;
}

size_t cg_control_scope_recompute(cg_control_seen_t *seen, const cg_control_store_t *st,
                                  cg_control_watch_t *w, const cg_control_leases_t *leases)
{
    const cg_control_res_t *const *items;
    size_t n = cg_control_store_list(st, &items);
    cg_control_scope_t scope;
    cg_control_scope_diff(seen, items, n, &scope);
    size_t bumped = cg_control_watch_recompute_scope(w, cg_control_store_view(st), leases, &scope);
    cg_control_scope_free(&scope);
    return bumped;
}

int cg_control_scope_has(const cg_control_scope_t *s, const char *cluster)
{
    if (s->all) return 1;
    return s->clusters.len &&
           bsearch(&cluster, s->clusters.items, s->clusters.len, sizeof(char *), str_order);
}

void cg_control_scope_free(cg_control_scope_t *s)
{
    for (size_t i = 0; i < s->clusters.len; i++) free(s->clusters.items[i]);
    cg_vec_free(&s->clusters);
    *s = (cg_control_scope_t){0};
}

void cg_control_seen_free(cg_control_seen_t *seen)
{
    for (size_t i = 0; i < seen->n; i++) {
        free(seen->items[i].cluster);
        free(seen->items[i].namespace_);
        free(seen->items[i].name);
        free(seen->items[i].touches);
    }
    free(seen->items);
    seen->items = NULL;
    seen->n = 0;
    seen->primed = 0;
}
