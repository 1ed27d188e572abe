/* What a change of the stored resources touches: the clusters whose instances' snapshots it can
 * change, found from the store's per-resource versions, so that an apply to one cluster
 * recomputes that cluster's instances and the edges, not every instance. */
#ifndef CG_CONTROL_SCOPE_H
#define CG_CONTROL_SCOPE_H

#include "control/instances.h"
#include "control/store.h"
#include "core/list.h"

#include <stddef.h>
#include <stdint.h>

/* A change's reach. `all`: any instance may be affected; else the instances of `clusters`
 * (sorted, unique), besides those the watch always recomputes (watch.h). */
typedef struct cg_control_scope {
    int all;
    CG_VEC(char *) clusters;
} cg_control_scope_t;

/* One resource as the last diff saw it. Owns its strings. */
typedef struct cg_control_seen_res {
    cg_model_kind_t kind;
    char *cluster, *namespace_, *name; /* identity, "" when absent */
    uint64_t version;
    char *touches; /* the one cluster whose instances it can change; NULL: any instance */
} cg_control_seen_res_t;

/* The resources of the last diff, by identity. All-zero: nothing seen yet. */
typedef struct cg_control_seen {
    cg_control_seen_res_t *items;
    size_t n;
    int primed; /* a diff ran: the first one reaches every instance */
} cg_control_seen_t;

/* Compares the store's resources (items, n: cg_control_store_list) with what *seen holds,
 * fills *out (zeroed first) with what the resources added, removed or changed since (each
 * one's cluster before and after the change) can reach, and makes *seen hold items. */
void cg_control_scope_diff(cg_control_seen_t *seen, const cg_control_res_t *const *items, size_t n,
                           cg_control_scope_t *out);
/* Diffs the store st against *seen and recomputes the snapshots of the instances the change
 * reaches (cg_control_watch_recompute_scope); returns how many versions were bumped. */
struct cg_control_watch;
size_t cg_control_scope_recompute(cg_control_seen_t *seen, const cg_control_store_t *st,
                                  struct cg_control_watch *w, const cg_control_leases_t *leases);
/* 1 when an instance of cluster is in the scope. */
int cg_control_scope_has(const cg_control_scope_t *s, const char *cluster);
void cg_control_scope_free(cg_control_scope_t *s);
void cg_control_seen_free(cg_control_seen_t *seen);

#endif
