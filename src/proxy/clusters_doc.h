/* The admin endpoint's /clusters document (docs/operations.md): per destination its mode, each
 * priority's load (weighted mode: each cluster's share) and each endpoint's state. The admin
 * endpoint writes it and `crossgate demo` reads it, both through this one description. */
#ifndef CG_PROXY_CLUSTERS_DOC_H
#define CG_PROXY_CLUSTERS_DOC_H

#include "core/buf.h"
#include "translate/snapshot.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CG_CLUSTERS_HEALTHY,
    CG_CLUSTERS_EJECTED,   /* by outlier detection, until its ejection ends */
    CG_CLUSTERS_PROBING,   /* the ejection ended: the next request is the probe */
    CG_CLUSTERS_UNHEALTHY, /* by active health checks */
} cg_clusters_health_t;

/* "healthy", "ejected", "probing", "unhealthy". */
const char *cg_clusters_health_name(cg_clusters_health_t h);

typedef struct cg_clusters_endpoint {
    char *address;          /* "ip:port" */
    char *cluster, *region; /* may be NULL */
    uint32_t priority;
    cg_clusters_health_t health;
    uint32_t ejections, weight;
    uint64_t requests, errors, connect_failures;
    char *identity; /* the mTLS hop's expected URI SAN; NULL: plain text */
} cg_clusters_endpoint_t;

typedef struct cg_clusters_priority {
    uint32_t priority, load_percent;
} cg_clusters_priority_t;

/* Weighted mode: one cluster's share. */
typedef struct cg_clusters_share {
    char *cluster;
    uint32_t weight, endpoints;
} cg_clusters_share_t;

typedef struct cg_clusters_dest {
    char *name;
    cg_dest_mode_t mode;
    cg_clusters_share_t *clusters; /* weighted mode */
    size_t nclusters;
    cg_clusters_priority_t *priorities; /* the other modes */
    size_t npriorities;
    cg_clusters_endpoint_t *endpoints;
    size_t nendpoints;
} cg_clusters_dest_t;

/* Owns its strings and arrays when decoded; a writer may lend them (and then not clear it). */
typedef struct cg_clusters_doc {
    uint64_t version;
    char *region; /* may be NULL */
    cg_clusters_dest_t *dests;
    size_t ndests;
} cg_clusters_doc_t;

/* Appends the document and a newline. Returns 0 or CG_ENOMEM. */
int cg_clusters_doc_encode(const cg_clusters_doc_t *d, cg_buf_t *out);
/* Reads a document into *out (zeroed first); members it does not know are ignored. On error
 * appends one line "clusters: ...\n" to errors (when not NULL), frees what it read and returns
 * CG_EPARSE. */
int cg_clusters_doc_decode(const char *json, size_t len, cg_clusters_doc_t *out, cg_buf_t *errors);
void cg_clusters_doc_clear(cg_clusters_doc_t *d);

#endif
