/* Snapshot recomputation per instance, content comparison and long-poll wake-ups. */
#include "control/watch.h"

#include "control/scope.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "translate/translate.h"

#include <stdlib.h>
#include <string.h>

void cg_control_watch_attach(cg_control_watch_t *w, cg_control_inst_t *inst)
{
    cg_control_wentry_t *e = cg_xcalloc(1, sizeof(*e));
    e->inst = inst;
    cg_list_init(&e->waiters);
    inst->data = e;
}

/* Calls every waiter on list: with its entry, or with NULL when the instance is gone. Returns
 * how many. */
static size_t wake(cg_control_watch_t *w, cg_list_t *list, int gone)
{
    size_t n = 0;
    while (!cg_list_empty(list)) {
        cg_control_waiter_t *wt = cg_container_of(list->next, cg_control_waiter_t, link);
        cg_list_unlink(&wt->link);
        w->waiting--;
        cg_control_wentry_t *e = gone ? NULL : wt->entry;
        wt->entry = NULL;
        wt->cb(wt, e);
        n++;
    }
    return n;
}

void cg_control_watch_detach(cg_control_watch_t *w, cg_control_inst_t *inst)
{
    cg_control_wentry_t *e = inst->data;
    if (!e) return;
    inst->data = NULL;
    wake(w, &e->waiters, 1);
    cg_buf_free(&e->json);
    cg_snapshot_free(e->snap);
    free(e->error);
    free(e);
}

static int has_cluster_destinations(const cg_snapshot_t *s)
{
    for (size_t i = 0; i < s->ndestinations; i++)
        if (s->destinations[i].mode != CG_DEST_SERVICE) return 1;
    return 0;
}

/* Translates one instance; returns 1 when its version was bumped. */
static int recompute_one(cg_control_watch_t *w, cg_control_wentry_t *e, const cg_resource_set_t *rs,
                         const cg_instance_t *live, size_t nlive)
{
    cg_instance_t me = cg_control_inst_view(e->inst);
    cg_snapshot_t *snap = NULL;
    cg_buf_t errors = {0}, json = {0};
    w->computed++;
    e->computed = 1;
    int rc = cg_translate_instance_live(rs, &me, live, nlive, e->version, &snap, &errors);
    if (rc != 0) {
        /* keep serving the last good snapshot; say why in status */
        char *msg = cg_xstrndup(errors.base ? errors.base : "translation failed",
                                errors.base ? errors.len : 18);
        if (!e->error || strcmp(e->error, msg))
            cg_log_warn("control: instance %s (%s/%s %s): snapshot not updated: %s", e->inst->id,
                        e->inst->cluster, e->inst->namespace_, e->inst->address, msg);
        free(e->error);
        e->error = msg;
        cg_buf_free(&errors);
        return 0;
    }
    cg_buf_free(&errors);
    free(e->error);
    e->error = NULL;
    e->edge = has_cluster_destinations(snap);
    cg_snapshot_encode_json(snap, &json);
    if (e->version && json.len == e->json.len && memcmp(json.base, e->json.base, json.len) == 0) {
        cg_buf_free(&json);
        cg_snapshot_free(snap);
        return 0;
    }
    if (w->hold && w->last_version + 1 > w->held) {
        uint64_t upto = w->last_version + CG_CONTROL_VERSIONS_HOLD;
        if (w->hold(w->hold_data, upto) != 0) {
            free(e->error);
            e->error = cg_xstrdup("store unavailable: cannot record the snapshot version");
            cg_buf_free(&json);
            cg_snapshot_free(snap);
            return 0;
        }
        w->held = upto;
    }
    /* the content changed: only the version in the text differs from what was encoded */
    snap->version = ++w->last_version;
    if (cg_snapshot_json_set_version(&json, snap->version)) {
        cg_buf_reset(&json);
        cg_snapshot_encode_json(snap, &json);
    }
    cg_buf_free(&e->json);
    e->json = json;
    cg_snapshot_free(e->snap);
    e->snap = snap;
    e->version = snap->version;
    e->changed_us = cg_clock_wall_us();
    w->bumped++;
    return 1;
}

/* Moves e's waiters whose `after` is below its version to `ready`. */
static void take_ready(cg_control_wentry_t *e, cg_list_t *ready)
{
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &e->waiters)
    {
        cg_control_waiter_t *wt = cg_container_of(pos, cg_control_waiter_t, link);
        if (wt->after >= e->version) continue;
        cg_list_unlink(&wt->link);
        cg_list_insert_tail(ready, &wt->link);
    }
}

/* Whether e is recomputed: always for CG_CONTROL_RECOMPUTE_ALL without a scope. Only an edge's
 * snapshot depends on other instances (its cluster destinations) and on other clusters'
 * resources, and, once a WorkspaceSetting exists, an ingress's (its service destinations fail
 * over to other clusters' east-west instances); an instance whose last attempt failed is
 * retried too. */
static int wanted(const cg_control_wentry_t *e, const cg_resource_set_t *rs, int what,
                  const cg_control_scope_t *scope)
{
    if (what == CG_CONTROL_RECOMPUTE_ALL && !scope) return 1;
    if (!e->computed || e->edge || e->error || rs->nworkspace_settings != 0) return 1;
    return scope && cg_control_scope_has(scope, e->inst->cluster);
}

static size_t recompute(cg_control_watch_t *w, const cg_resource_set_t *rs,
                        const cg_control_leases_t *leases, int what,
                        const cg_control_scope_t *scope)
{
    size_t n = leases->items.len, bumped = 0;
    cg_instance_t *live = cg_xcalloc(n + 1, sizeof(*live));
    for (size_t i = 0; i < n; i++) live[i] = cg_control_inst_view(leases->items.items[i]);
    cg_list_t ready;
    cg_list_init(&ready);
    for (size_t i = 0; i < n; i++) {
        cg_control_wentry_t *e = leases->items.items[i]->data;
        if (!e) continue;
        if (!wanted(e, rs, what, scope)) continue;
        if (!recompute_one(w, e, rs, live, n)) continue;
        bumped++;
        take_ready(e, &ready);
    }
    free(live);
    /* Wake after every entry is settled: a callback may park or free things. */
    wake(w, &ready, 0);
    return bumped;
}

size_t cg_control_watch_recompute(cg_control_watch_t *w, const cg_resource_set_t *rs,
                                  const cg_control_leases_t *leases, int what)
{
    return recompute(w, rs, leases, what, NULL);
}

size_t cg_control_watch_recompute_scope(cg_control_watch_t *w, const cg_resource_set_t *rs,
                                        const cg_control_leases_t *leases,
                                        const cg_control_scope_t *scope)
{
    return recompute(w, rs, leases, CG_CONTROL_RECOMPUTE_ALL, scope);
}

size_t cg_control_watch_wake_ready(cg_control_watch_t *w, const cg_control_leases_t *leases)
{
    cg_list_t ready;
    cg_list_init(&ready);
    for (size_t i = 0; i < leases->items.len; i++) {
        cg_control_wentry_t *e = leases->items.items[i]->data;
        if (!e) continue;
        take_ready(e, &ready);
    }
    return wake(w, &ready, 0);
}

void cg_control_watch_wait(cg_control_watch_t *w, cg_control_wentry_t *e, cg_control_waiter_t *wt)
{
    wt->entry = e;
    cg_list_insert_tail(&e->waiters, &wt->link);
    w->waiting++;
}

void cg_control_watch_cancel(cg_control_watch_t *w, cg_control_waiter_t *wt)
{
    if (!wt->entry) return;
    cg_list_unlink(&wt->link);
    wt->entry = NULL;
    w->waiting--;
}
