/* Per-instance snapshots and their watchers: recompute on change, bump an instance's version
 * only when its encoded snapshot changed, wake the long-polls waiting for it, in an order that
 * never refuses traffic (make-before-break, below). No I/O: waiters are callbacks (the API
 * parks HTTP requests behind them), time is the caller's clock. */
#ifndef CG_CONTROL_WATCH_H
#define CG_CONTROL_WATCH_H

#include "control/instances.h"
#include "core/buf.h"
#include "core/list.h"
#include "model/model.h"
#include "translate/snapshot.h"

#include <stdint.h>

typedef struct cg_control_wentry cg_control_wentry_t;
typedef struct cg_control_waiter cg_control_waiter_t;

/* Called once: with the entry when its version passed `after`, or with NULL when the instance
 * went away. The waiter is already unlinked; the callback may free it. */
typedef void (*cg_control_waiter_cb)(cg_control_waiter_t *w, const cg_control_wentry_t *e);

struct cg_control_waiter {
    cg_list_t link;
    uint64_t after;
    cg_control_waiter_cb cb;
    cg_control_wentry_t *entry; /* set while parked */
};

/* One condition of a held version: the gateway of `on` serves `version` or later. */
typedef struct cg_control_wdep {
    cg_control_wentry_t *on;
    uint64_t version;
} cg_control_wdep_t;

/* The snapshot state of one instance (inst->data). */
struct cg_control_wentry {
    cg_control_inst_t *inst;
    uint64_t version;    /* of the last snapshot content; 0 = none yet */
    uint64_t changed_us; /* wall clock of the last version */
    cg_buf_t json;       /* last good snapshot, encoded with `version` */
    cg_snapshot_t *snap; /* the same, decoded (status) */
    char *error;         /* translation errors of the last attempt, NULL when it succeeded */
    int computed;        /* translated at least once */
    int edge;            /* the snapshot has cluster destinations: depends on the instance set */
    cg_list_t waiters;
    /* Make-before-break. acked: the version its gateway serves, as its last watch said
     * (`after`; never above `version`). While deps is not empty, `version` is held: a gateway
     * serving an earlier one is not sent it until every dep holds or hold_until_ms passes. */
    uint64_t acked;
    CG_VEC(cg_control_wdep_t) deps;
    uint64_t held_since_ms, hold_until_ms;
    cg_list_t held_link; /* in the watch's held list while deps is not empty */
    uint64_t mark;       /* graph walks (cycle check) */
};

/* How many snapshot versions one hold covers: one durable write per this many versions, and
 * at most this many skipped by a restart. */
#define CG_CONTROL_VERSIONS_HOLD 1024

typedef struct cg_control_watch {
    uint64_t last_version; /* versions handed out increase across instances */
    /* Versions up to `held` go out as they are; the next one first asks hold(hold_data, upto)
     * to record a bound durably (the store: a restart continues above it). When that fails
     * the instance keeps its last snapshot and the attempt is retried on the next change.
     * NULL hold: no bound is kept. */
    uint64_t held;
    int (*hold)(void *hold_data, uint64_t upto);
    void *hold_data;
    /* Nonzero: the store numbers versions (cg_control_store_version_base): a snapshot that
     * changes gets floor (base + the store's revision, set before each recompute), or one more
     * than its last version if that is higher; last_version and hold are not used. Every
     * control plane on the store hands out the same version for the same content. */
    uint64_t floor;
    uint64_t computed; /* translations done */
    uint64_t bumped;   /* versions handed out */
    uint64_t waiting;  /* waiters parked now */
    /* Make-before-break: the longest a version is held for gateways that do not take theirs
     * (0: CG_CONTROL_ORDER_WAIT_MS); the caller's monotonic clock in ms (NULL: reads 0); the
     * held entries (the list, initialised by the first attach); counters for /metrics. */
    uint32_t order_wait_ms;
    const uint64_t *now_ms;
    cg_list_t held_entries;
    uint64_t nheld, holds, holds_expired, holds_unordered, mark_gen;
} cg_control_watch_t;

/* A dead or stuck gateway delays the others' snapshots by at most this. */
#define CG_CONTROL_ORDER_WAIT_MS 2000

/* Gives a new instance its entry (not computed yet). */
void cg_control_watch_attach(cg_control_watch_t *w, cg_control_inst_t *inst);
/* Wakes the instance's waiters with NULL and frees its entry. */
void cg_control_watch_detach(cg_control_watch_t *w, cg_control_inst_t *inst);

enum {
    CG_CONTROL_RECOMPUTE_ALL,       /* resources changed: every instance */
    CG_CONTROL_RECOMPUTE_INSTANCES, /* the instance set changed: new instances and edges only */
};
/* Recomputes snapshots of the leases' instances against rs; returns how many versions were
 * bumped. Wakes waiters whose `after` is below their entry's new version, except where the
 * change is ordered:
 *   - an instance whose snapshot gains endpoints (destination, address, port) of another one
 *     (an edge sending to an ingress; an ingress failing over to an east-west gateway) holds its
 *     new version until that instance's gateway serves its own current version (it listens):
 *     ingresses first when a listener is added;
 *   - an instance that loses endpoints in another's snapshot, with a new version of its own
 *     not yet served (an ingress dropping a listener), holds it until the other's gateway
 *     serves the version without them: edges first when an endpoint is removed.
 * A hold that would close a cycle is not made (counted in holds_unordered, logged); every hold
 * ends after order_wait_ms. Only versions after an instance's first are ordered. */
size_t cg_control_watch_recompute(cg_control_watch_t *w, const cg_resource_set_t *rs,
                                  const cg_control_leases_t *leases, int what);
/* The same after a change of the resources that reaches only `scope` (scope.h): the instances
 * of its clusters, and those CG_CONTROL_RECOMPUTE_INSTANCES recomputes (new ones, edges, ones
 * whose last attempt failed, every one while a WorkspaceSetting exists). */
struct cg_control_scope;
size_t cg_control_watch_recompute_scope(cg_control_watch_t *w, const cg_resource_set_t *rs,
                                        const cg_control_leases_t *leases,
                                        const struct cg_control_scope *scope);

/* Wakes every parked waiter whose entry's version is above its `after` (waiters a caller
 * held back on purpose, see the resync window in resync.h). Returns how many. */
size_t cg_control_watch_wake_ready(cg_control_watch_t *w, const cg_control_leases_t *leases);

/* A watch says its gateway serves `after`: records it (acked) and sends the versions it held
 * back. Returns how many waiters were woken. */
size_t cg_control_watch_ack(cg_control_watch_t *w, cg_control_wentry_t *e, uint64_t after);
/* Is e's version held from a watch that serves `after`? (after 0, no snapshot yet: never) */
int cg_control_watch_holds(const cg_control_wentry_t *e, uint64_t after);
/* The earliest end of a hold (the caller's clock), 0 when nothing is held. */
uint64_t cg_control_watch_hold_deadline(const cg_control_watch_t *w);
/* Ends the holds whose time is up (logged); returns how many waiters were woken. */
size_t cg_control_watch_expire(cg_control_watch_t *w);

/* Parks a waiter on an entry (the caller checked that the version is not above `after`). */
void cg_control_watch_wait(cg_control_watch_t *w, cg_control_wentry_t *e, cg_control_waiter_t *wt);
/* Removes a parked waiter without calling it. */
void cg_control_watch_cancel(cg_control_watch_t *w, cg_control_waiter_t *wt);

#endif
