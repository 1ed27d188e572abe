/* The cluster names `crossgate load` counts by (the x-app-cluster response header), interned
 * into a fixed table in order of appearance, so that counting a response never allocates. */
#ifndef CG_TOOLS_LOAD_INTERN_H
#define CG_TOOLS_LOAD_INTERN_H

#include "core/buf.h"

#include <stdint.h>

#define CG_LOAD_MAX_CLUSTERS    64
#define CG_LOAD_CLUSTER_NAME    64         /* bytes per name, NUL included */
#define CG_LOAD_CLUSTER_MISSING 0          /* "-": a response without x-app-cluster */
#define CG_LOAD_CLUSTER_NONE    UINT16_MAX /* no response */

/* The last slot collects any name beyond the table ("(other)"). */
typedef struct cg_load_clusters {
    unsigned n;
    uint8_t len[CG_LOAD_MAX_CLUSTERS];
    char name[CG_LOAD_MAX_CLUSTERS][CG_LOAD_CLUSTER_NAME];
} cg_load_clusters_t;

/* An empty table holding only "-". */
void cg_load_clusters_init(cg_load_clusters_t *t);
/* The index of name v (empty: CG_LOAD_CLUSTER_MISSING). The name is cut to
 * CG_LOAD_CLUSTER_NAME-1 bytes and bytes other than printable ASCII are kept as '?', so names
 * are safe on a terminal and in JSON. */
unsigned cg_load_clusters_intern(cg_load_clusters_t *t, cg_iov_t v);
/* Whether entry i holds exactly v (a check before interning the same name again). */
static inline int cg_load_clusters_is(const cg_load_clusters_t *t, unsigned i, cg_iov_t v)
{
    return i < t->n && t->len[i] == v.len && !memcmp(t->name[i], v.base, v.len);
}
/* Fills order with the indices of the names in name order; returns how many. */
unsigned cg_load_clusters_sorted(const cg_load_clusters_t *t, uint16_t *order);

#endif
