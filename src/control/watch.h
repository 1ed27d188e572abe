/* Per-instance snapshots and their watchers: recompute on change, bump an instance's version
 * only when its encoded snapshot changed, wake the long-polls waiting for it. No I/O: waiters
 * are callbacks (the API parks HTTP requests behind them). */
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
    uint64_t computed; /* translations done */
    uint64_t bumped;   /* versions handed out */
    uint64_t waiting;  /* waiters parked now */
} cg_control_watch_t;

/* Gives a new instance its entry (not computed yet). */
void cg_control_watch_attach(cg_control_watch_t *w, cg_control_inst_t *inst);
/* Wakes the instance's waiters with NULL and frees its entry. */
void cg_control_watch_detach(cg_control_watch_t *w, cg_control_inst_t *inst);

enum {
    CG_CONTROL_RECOMPUTE_ALL,       /* resources changed: every instance */
    CG_CONTROL_RECOMPUTE_INSTANCES, /* the instance set changed: new instances and edges only */
};
/* Recomputes snapshots of the leases' instances against rs; returns how many versions were
 * bumped. Wakes waiters whose `after` is below their entry's new version. */
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

/* Parks a waiter on an entry (the caller checked that the version is not above `after`). */
void cg_control_watch_wait(cg_control_watch_t *w, cg_control_wentry_t *e, cg_control_waiter_t *wt);
/* Removes a parked waiter without calling it. */
void cg_control_watch_cancel(cg_control_watch_t *w, cg_control_waiter_t *wt);

#endif
