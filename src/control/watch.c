/* Snapshot recomputation per instance, content comparison, make-before-break ordering and
 * long-poll wake-ups. */
#include "control/watch.h"

#include "control/scope.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/log.h"
#include "translate/translate.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

void cg_control_watch_attach(cg_control_watch_t *w, cg_control_inst_t *inst)
{
    if (!w->held_entries.next) cg_list_init(&w->held_entries);
    cg_control_wentry_t *e = cg_xcalloc(1, sizeof(*e));
    e->inst = inst;
    cg_list_init(&e->waiters);
    cg_list_init(&e->held_link);
    inst->data = e;
}

static void unhold(cg_control_watch_t *w, cg_control_wentry_t *e, cg_list_t *ready);
static void forget(cg_control_watch_t *w, const cg_control_wentry_t *gone);

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
    if (e->deps.len) unhold(w, e, NULL);
    forget(w, e);
    cg_vec_free(&e->deps);
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

/* Translates one instance; returns 1 when its version was bumped, its previous snapshot (NULL
 * for its first) then in *prev for the caller to free. */
static int recompute_one(cg_control_watch_t *w, cg_control_wentry_t *e, const cg_resource_set_t *rs,
                         const cg_instance_t *live, size_t nlive, cg_snapshot_t **prev)
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
    if (w->floor) {
        /* the store's numbering: nothing to hold */
    } else if (w->hold && w->last_version + 1 > w->held) {
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
    if (w->floor)
        snap->version = w->floor > e->version ? w->floor : e->version + 1;
    else
        snap->version = ++w->last_version;
    if (cg_snapshot_json_set_version(&json, snap->version)) {
        cg_buf_reset(&json);
        cg_snapshot_encode_json(snap, &json);
    }
    cg_buf_free(&e->json);
    e->json = json;
    *prev = e->snap;
    e->snap = snap;
    e->version = snap->version;
    e->changed_us = cg_clock_wall_us();
    w->bumped++;
    return 1;
}

/* Moves e's waiters whose `after` is below its version, and that it does not hold, to
 * `ready`. */
static void take_ready(cg_control_wentry_t *e, cg_list_t *ready)
{
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &e->waiters)
    {
        cg_control_waiter_t *wt = cg_container_of(pos, cg_control_waiter_t, link);
        if (wt->after >= e->version || cg_control_watch_holds(e, wt->after)) continue;
        cg_list_unlink(&wt->link);
        cg_list_insert_tail(ready, &wt->link);
    }
}

/* ---- make-before-break ----
 * A change goes out in an order that never refuses traffic. An instance whose snapshot gains
 * endpoints of another (an edge, of an ingress that has a new listener) waits until that
 * instance's gateway serves its new version: its watch says so (`after`), which the agent
 * sends once the snapshot is installed and its listeners open. An instance that loses
 * endpoints in another's snapshot and has a new version of its own (an ingress dropping a
 * listener) waits until the other's gateway serves the version without them. Every hold ends
 * after order_wait_ms, so a dead gateway delays the others by that much at most. */

typedef struct change {
    cg_control_wentry_t *e;
    cg_snapshot_t *prev; /* its snapshot before the change; NULL: its first */
} change_t;
typedef CG_VEC(change_t) changes_t;

static uint64_t now_ms(const cg_control_watch_t *w)
{
    return w->now_ms ? *w->now_ms : 0;
}

int cg_control_watch_holds(const cg_control_wentry_t *e, uint64_t after)
{
    return after != 0 && e->deps.len != 0;
}

/* A multiset of keys: an endpoint of a destination (destination name, address, port),
 * or an instance by address (name NULL, port 0) with its index. Open addressing, never more
 * than half full, no removal. */
typedef struct kslot {
    uint64_t h; /* 0: free */
    const char *name, *address;
    uint32_t port;
    size_t idx;
} kslot_t;
typedef struct kset {
    kslot_t *s;
    size_t mask;
} kset_t;

static uint64_t khash(const char *name, const char *address, uint32_t port)
{
    uint64_t h = cg_hash_str(cg_hash_str(CG_HASH_SEED, name ? name : ""), address);
    return cg_hash_bytes(h, &port, sizeof(port)) | 1;
}

static void kset_init(kset_t *k, size_t n)
{
    size_t cap = 16;
    while (cap < 2 * n + 2) cap *= 2;
    k->s = cg_xcalloc(cap, sizeof(*k->s));
    k->mask = cap - 1;
}

static void kset_add(kset_t *k, const char *name, const char *address, uint32_t port, size_t idx)
{
    uint64_t h = khash(name, address, port);
    size_t i = h & k->mask;
    while (k->s[i].h) i = (i + 1) & k->mask;
    k->s[i] = (kslot_t){.h = h, .name = name, .address = address, .port = port, .idx = idx};
}

/* The next entry with this key after *pos (SIZE_MAX: the first): 1 with its index, or 0. */
static int kset_next(const kset_t *k, const char *name, const char *address, uint32_t port,
                     size_t *pos, size_t *idx)
{
    uint64_t h = khash(name, address, port);
    for (size_t i = *pos == SIZE_MAX ? h & k->mask : (*pos + 1) & k->mask; k->s[i].h;
         i = (i + 1) & k->mask) {
        const kslot_t *s = &k->s[i];
        if (s->h == h && s->port == port && !strcmp(s->address, address) &&
            !strcmp(s->name ? s->name : "", name ? name : "")) {
            *pos = i;
            *idx = s->idx;
            return 1;
        }
    }
    return 0;
}

/* Every endpoint of a snapshot counts: those of other gateways are an edge's cluster
 * destinations and an ingress's east-west failover (the address of a live instance tells them
 * from workloads). */
static size_t endpoints(const cg_snapshot_t *s)
{
    size_t n = 0;
    for (size_t i = 0; i < s->ndestinations; i++) n += s->destinations[i].nendpoints;
    return n;
}

static int same_endpoint(const cg_snap_endpoint_t *a, const cg_snap_endpoint_t *b)
{
    return a->port == b->port && !strcmp(a->address, b->address);
}

static void flag(const kset_t *by_address, const char *address, uint8_t *flags, uint8_t bit)
{
    size_t pos = SIZE_MAX, i;
    while (kset_next(by_address, NULL, address, 0, &pos, &i)) flags[i] |= bit;
}

/* How far ahead gained_in looks for an endpoint, and how many it checks one by one. */
#define FOLLOW 8

/* Sets bit in flags[i] for every instance i (of by_address) with an endpoint in t that f, the
 * same destination before (NULL: none), lacks. Endpoints keep their order from one snapshot to
 * the next, so one walk over both finds the few that may be new (100,000 endpoints: no table);
 * each is then looked for in all of f, or, past FOLLOW of them, in a set of f's. */
static void gained_in(const cg_snap_destination_t *f, const cg_snap_destination_t *t,
                      const kset_t *by_address, uint8_t *flags, uint8_t bit)
{
    size_t nf = f ? f->nendpoints : 0, i = 0, nmissed = 0, missed[FOLLOW];
    for (size_t j = 0; j < t->nendpoints && nmissed <= FOLLOW; j++) {
        size_t k = 0;
        while (k < FOLLOW && i + k < nf && !same_endpoint(&f->endpoints[i + k], &t->endpoints[j]))
            k++;
        if (k < FOLLOW && i + k < nf)
            i += k + 1;
        else if (nmissed++ < FOLLOW)
            missed[nmissed - 1] = j;
    }
    if (nmissed <= FOLLOW) {
        for (size_t m = 0; m < nmissed; m++) {
            const cg_snap_endpoint_t *ep = &t->endpoints[missed[m]];
            size_t k = 0;
            while (k < nf && !same_endpoint(&f->endpoints[k], ep)) k++;
            if (k == nf) flag(by_address, ep->address, flags, bit);
        }
        return;
    }
    kset_t have;
    kset_init(&have, nf);
    for (size_t k = 0; k < nf; k++)
        kset_add(&have, NULL, f->endpoints[k].address, f->endpoints[k].port, 0);
    for (size_t j = 0; j < t->nendpoints; j++) {
        size_t at = SIZE_MAX, x;
        const cg_snap_endpoint_t *ep = &t->endpoints[j];
        if (!kset_next(&have, NULL, ep->address, ep->port, &at, &x))
            flag(by_address, ep->address, flags, bit);
    }
    free(have.s);
}

/* The same for whole snapshots: destinations are matched by name. */
static void gained(const cg_snapshot_t *from, const cg_snapshot_t *to, const kset_t *by_address,
                   uint8_t *flags, uint8_t bit)
{
    kset_t names;
    kset_init(&names, from->ndestinations);
    for (size_t d = 0; d < from->ndestinations; d++)
        kset_add(&names, from->destinations[d].name, "", 0, d);
    for (size_t d = 0; d < to->ndestinations; d++) {
        size_t at = SIZE_MAX, x;
        const cg_snap_destination_t *t = &to->destinations[d];
        int found = kset_next(&names, t->name, "", 0, &at, &x);
        gained_in(found ? &from->destinations[x] : NULL, t, by_address, flags, bit);
    }
    free(names.s);
}

/* Does `from` wait, itself or through those it waits for, for `to`? (marks with mark_gen) */
static int waits_for(cg_control_watch_t *w, cg_control_wentry_t *from,
                     const cg_control_wentry_t *to)
{
    if (from == to) return 1;
    if (from->mark == w->mark_gen) return 0;
    from->mark = w->mark_gen;
    for (size_t i = 0; i < from->deps.len; i++)
        if (waits_for(w, from->deps.items[i].on, to)) return 1;
    return 0;
}

#define INST_FMT     "instance %s (cluster %s, %s)"
#define INST_ARGS(e) (e)->inst->id, (e)->inst->cluster, (e)->inst->address

/* x holds its version until on's gateway serves `version`. */
static void wait_for(cg_control_watch_t *w, cg_control_wentry_t *x, cg_control_wentry_t *on,
                     uint64_t version, const char *why)
{
    if (x == on || on->acked >= version) return;
    for (size_t i = 0; i < x->deps.len; i++)
        if (x->deps.items[i].on == on) {
            if (x->deps.items[i].version < version) x->deps.items[i].version = version;
            return;
        }
    w->mark_gen++;
    if (waits_for(w, on, x)) {
        w->holds_unordered++;
        cg_log_warn("control: " INST_FMT " v%" PRIu64 " and " INST_FMT " v%" PRIu64
                    " would wait for each other (one change adds and removes endpoints between "
                    "them): not ordered; apply the addition and the removal separately",
                    INST_ARGS(x), x->version, INST_ARGS(on), on->version);
        return;
    }
    cg_vec_push(&x->deps, ((cg_control_wdep_t){.on = on, .version = version}));
    if (x->deps.len > 1) return;
    x->held_since_ms = now_ms(w);
    x->hold_until_ms =
        x->held_since_ms + (w->order_wait_ms ? w->order_wait_ms : CG_CONTROL_ORDER_WAIT_MS);
    cg_list_insert_tail(&w->held_entries, &x->held_link);
    w->nheld++;
    w->holds++;
    cg_log_info("control: " INST_FMT " snapshot v%" PRIu64 " held until " INST_FMT
                " serves v%" PRIu64 " (%s)",
                INST_ARGS(x), x->version, INST_ARGS(on), version, why);
}

/* The holds a recompute's changes make: additions first, so that a cycle is broken in their
 * favour, each in the leases' order (deterministic). */
static void order(cg_control_watch_t *w, const changes_t *ch, const cg_control_leases_t *leases)
{
    size_t n = leases->items.len;
    kset_t by_address = {0};
    uint8_t *flags = NULL;
    for (int removals = 0; removals < 2; removals++)
        for (size_t c = 0; c < ch->len; c++) {
            cg_control_wentry_t *e = ch->items[c].e;
            const cg_snapshot_t *prev = ch->items[c].prev;
            if (!prev || (!endpoints(prev) && !endpoints(e->snap))) continue;
            if (!flags) {
                flags = cg_xcalloc(n + 1, 1);
                kset_init(&by_address, n);
                for (size_t i = 0; i < n; i++)
                    kset_add(&by_address, NULL, leases->items.items[i]->address, 0, i);
            }
            memset(flags, 0, n);
            if (removals)
                gained(e->snap, prev, &by_address, flags, 1);
            else
                gained(prev, e->snap, &by_address, flags, 1);
            for (size_t i = 0; i < n; i++) {
                cg_control_wentry_t *o = leases->items.items[i]->data;
                if (!flags[i] || !o || o == e || !o->version) continue;
                if (!removals)
                    wait_for(w, e, o, o->version, "ingress first: it gains endpoints of that one");
                else if (o->version > o->acked)
                    wait_for(w, o, e, e->version, "edge first: that one drops endpoints of it");
            }
        }
    free(flags);
    free(by_address.s);
}

/* e holds nothing any more; its waiters go to ready (NULL: none, it is going away). */
static void unhold(cg_control_watch_t *w, cg_control_wentry_t *e, cg_list_t *ready)
{
    e->deps.len = 0;
    cg_list_unlink(&e->held_link);
    w->nheld--;
    if (ready) take_ready(e, ready);
}

/* Drops the conditions on `on` up to version `upto` from every hold; wakes those that end. */
static size_t satisfied(cg_control_watch_t *w, const cg_control_wentry_t *on, uint64_t upto)
{
    cg_list_t ready, *pos, *tmp;
    cg_list_init(&ready);
    cg_list_foreach_safe(pos, tmp, &w->held_entries)
    {
        cg_control_wentry_t *h = cg_container_of(pos, cg_control_wentry_t, held_link);
        size_t k = 0;
        for (size_t i = 0; i < h->deps.len; i++)
            if (h->deps.items[i].on != on || h->deps.items[i].version > upto)
                h->deps.items[k++] = h->deps.items[i];
        h->deps.len = k;
        if (!k) unhold(w, h, &ready);
    }
    return wake(w, &ready, 0);
}

/* An instance went away: nothing waits for it any more. */
static void forget(cg_control_watch_t *w, const cg_control_wentry_t *gone)
{
    satisfied(w, gone, UINT64_MAX);
}

size_t cg_control_watch_ack(cg_control_watch_t *w, cg_control_wentry_t *e, uint64_t after)
{
    if (after > e->version || after <= e->acked) return 0;
    e->acked = after;
    return satisfied(w, e, after);
}

uint64_t cg_control_watch_hold_deadline(const cg_control_watch_t *w)
{
    uint64_t first = 0;
    if (!w->held_entries.next) return 0;
    for (const cg_list_t *pos = w->held_entries.next; pos != &w->held_entries; pos = pos->next) {
        const cg_control_wentry_t *h = cg_container_of(pos, cg_control_wentry_t, held_link);
        if (!first || h->hold_until_ms < first) first = h->hold_until_ms;
    }
    return first;
}

size_t cg_control_watch_expire(cg_control_watch_t *w)
{
    if (!w->held_entries.next) return 0;
    uint64_t now = now_ms(w);
    cg_list_t ready, *pos, *tmp;
    cg_list_init(&ready);
    cg_list_foreach_safe(pos, tmp, &w->held_entries)
    {
        cg_control_wentry_t *h = cg_container_of(pos, cg_control_wentry_t, held_link);
        if (now < h->hold_until_ms) continue;
        const cg_control_wdep_t *d = &h->deps.items[0];
        w->holds_expired++;
        cg_log_warn("control: " INST_FMT " snapshot v%" PRIu64 " sent after %" PRIu64
                    " ms without " INST_FMT " serving v%" PRIu64
                    " (and %zu more waited for): the order wait is over",
                    INST_ARGS(h), h->version, now - h->held_since_ms, INST_ARGS(d->on), d->version,
                    h->deps.len - 1);
        unhold(w, h, &ready);
    }
    return wake(w, &ready, 0);
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
    changes_t ch = {0};
    for (size_t i = 0; i < n; i++) {
        cg_control_wentry_t *e = leases->items.items[i]->data;
        if (!e) continue;
        if (!wanted(e, rs, what, scope)) continue;
        cg_snapshot_t *prev = NULL;
        if (!recompute_one(w, e, rs, live, n, &prev)) continue;
        bumped++;
        cg_vec_push(&ch, ((change_t){e, prev}));
    }
    free(live);
    order(w, &ch, leases);
    for (size_t i = 0; i < ch.len; i++) {
        take_ready(ch.items[i].e, &ready);
        cg_snapshot_free(ch.items[i].prev);
    }
    cg_vec_free(&ch);
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
