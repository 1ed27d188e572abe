/* GET /v1/status and GET /v1/instances, described once: the control plane writes each object
 * of the document from a row of plain values through these field tables (control/status.c),
 * and `crossgate status` reads the same rows back through them (cli/status.c). */
#ifndef CG_CONTROL_STATUS_H
#define CG_CONTROL_STATUS_H

#include "core/json.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CG_STATUS_STR,  /* const char *; NULL is written as null */
    CG_STATUS_U64,  /* uint64_t */
    CG_STATUS_MORE, /* a member the caller writes and reads itself (a list, the labels) */
} cg_control_status_type_t;

typedef struct cg_control_status_field {
    const char *key;
    cg_control_status_type_t type;
    size_t offset; /* in the row */
} cg_control_status_field_t;

/* The objects of the document, in the order their members are written; each table ends with
 * key NULL. Strings are borrowed (from the control plane's state, or from the parsed answer). */
typedef struct cg_control_status_top {
    uint64_t revision; /* then resources, clusters, instances, edges, services */
} cg_control_status_top_t;

typedef struct cg_control_status_cluster {
    const char *name, *region, *zone;
    uint64_t static_gateways, live_instances;
} cg_control_status_cluster_t;

typedef struct cg_control_status_instance {
    const char *id, *cluster, *namespace_; /* then labels: {key: value} */
    const char *address, *admin, *registered;
    uint64_t age_ms, last_heartbeat_ms_ago, snapshot_version;
    const char *error;       /* NULL: the last translation succeeded */
    uint64_t mtls_port;      /* where it takes mTLS from other gateways; 0: it has no identity */
    uint64_t served_version; /* the version its gateway serves, as its watch said; 0: unknown */
    /* make-before-break: snapshot_version is held until the gateway of instance held_for (the
     * first waited for) serves held_for_version; held_ms so far. NULL: not held */
    const char *held_for;
    uint64_t held_for_version, held_ms;
} cg_control_status_instance_t;

typedef struct cg_control_status_edge {
    const char *instance, *cluster, *namespace_, *address, *region;
    uint64_t snapshot_version; /* then routes, destinations, warnings */
} cg_control_status_edge_t;

typedef struct cg_control_status_route {
    const char *hostname;
    uint64_t port, rule, matches;
    const char *gateway, *destination;
} cg_control_status_route_t;

typedef struct cg_control_status_dest {
    const char *name, *mode;
    uint64_t overprovisioning; /* then endpoints, weights */
} cg_control_status_dest_t;

typedef struct cg_control_status_endpoint {
    const char *address;
    uint64_t port;
    const char *cluster, *region;
    uint64_t priority, weight;
    const char *identity; /* the hop is mTLS and the peer must prove this URI SAN; NULL: plain */
    const char *host;     /* the Host sent to it (an east-west gateway's); NULL: the client's */
} cg_control_status_endpoint_t;

/* A service destination of a workload instance (ingress or east-west gateway): its endpoints,
 * local first, then where failover goes, and why it goes there (or nowhere). */
typedef struct cg_control_status_service {
    const char *instance, *cluster, *region, *destination;
    uint64_t mtls_port;
    const char *why; /* then endpoints */
} cg_control_status_service_t;

typedef struct cg_control_status_weight {
    const char *cluster;
    uint64_t weight;
} cg_control_status_weight_t;

extern const cg_control_status_field_t cg_control_status_top_fields[];
extern const cg_control_status_field_t cg_control_status_cluster_fields[];
extern const cg_control_status_field_t cg_control_status_instance_fields[];
extern const cg_control_status_field_t cg_control_status_edge_fields[];
extern const cg_control_status_field_t cg_control_status_route_fields[];
extern const cg_control_status_field_t cg_control_status_dest_fields[];
extern const cg_control_status_field_t cg_control_status_endpoint_fields[];
extern const cg_control_status_field_t cg_control_status_weight_fields[];
extern const cg_control_status_field_t cg_control_status_service_fields[];

/* Writes row's members from f up to the next CG_STATUS_MORE one, whose field it returns (the
 * caller writes that member, then goes on from the field after it), or NULL at the end. */
const cg_control_status_field_t *
cg_control_status_write(cg_jw_t *w, const cg_control_status_field_t *f, const void *row);
/* Reads every string and number member of obj into row: NULL or 0 when absent or of another
 * type (the reader shows what it gets). */
void cg_control_status_read(const cg_json_t *obj, const cg_control_status_field_t *f, void *row);

#endif
