/* The snapshot: everything one gateway instance serves, as plain data. It is the one
 * contract between translation (static files or the control plane) and the data plane,
 * and is encoded as JSON for /config_dump and the control-plane watch (docs/snapshot.md).
 * Immutable once built. Every pointer is owned by the snapshot; cg_snapshot_free frees all. */
#ifndef CG_TRANSLATE_SNAPSHOT_H
#define CG_TRANSLATE_SNAPSHOT_H

#include "core/buf.h"
#include "lb/health.h"
#include "lb/outlier.h"
#include "lb/retry.h"
#include "model/resource.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { CG_MATCH_EXACT, CG_MATCH_PREFIX, CG_MATCH_REGEX } cg_match_kind_t;

typedef struct cg_snap_strmatch {
    cg_match_kind_t kind;
    char *value;
} cg_snap_strmatch_t;

typedef struct cg_snap_header_match {
    char *name; /* lowercase */
    cg_snap_strmatch_t match;
} cg_snap_header_match_t;

/* One match condition: all of its parts must hold (uri AND every header). */
typedef struct cg_snap_match {
    int has_uri;
    cg_snap_strmatch_t uri;
    cg_snap_header_match_t *headers;
    size_t nheaders;
} cg_snap_match_t;

typedef struct cg_snap_endpoint {
    char *address; /* IP literal */
    uint16_t port;
    char *cluster;     /* workload cluster the endpoint lives in (may be NULL for plain services) */
    char *region;      /* may be NULL */
    char *zone;        /* may be NULL */
    uint32_t weight;   /* >= 1 */
    uint32_t priority; /* 0 = the instance's own region, 1.. = remote (failover order) */
    /* mTLS: the URI SAN the endpoint must present (CG_TLS_MESH_URI of its namespace and
     * cluster), and port is its mTLS port; NULL: plain text */
    char *identity;
    /* The Host the request carries to this endpoint instead of the client's: an east-west
     * gateway's, which routes on the service's hostname; NULL: the client's */
    char *host;
    /* address, cluster, region and zone are the snapshot's pool's (cg_snap_pool_ref): not
     * freed one by one. 0: each is its own allocation. */
    uint8_t pooled;
} cg_snap_endpoint_t;

typedef enum {
    CG_DEST_SERVICE,  /* serviceDestination: endpoints of a Service in the instance's cluster */
    CG_DEST_AUTO,     /* clusterDestination: {} */
    CG_DEST_NAMED,    /* clusterDestination.clusters[].name, no weights */
    CG_DEST_WEIGHTED, /* clusterDestination.clusters[] with weights */
} cg_dest_mode_t;

/* "service", "auto", "named", "weighted": the one spelling of each mode, on every wire. */
const char *cg_dest_mode_name(cg_dest_mode_t m);
/* The mode called name; -1 for none. */
int cg_dest_mode_parse(const char *name, cg_dest_mode_t *out);

/* For weighted mode: the share of each cluster (endpoints of that cluster are in endpoints[]). */
typedef struct cg_snap_cluster_weight {
    char *cluster;
    uint32_t weight;
} cg_snap_cluster_weight_t;

/* How a destination set is balanced, retried and health-checked (http[] server settings with
 * their documented defaults filled in by translation). */
typedef struct cg_snap_policy {
    cg_lb_retry_cfg_t retry;
    cg_lb_outlier_cfg_t outlier; /* consecutive_gateway_errors 0 = off */
    cg_lb_hc_cfg_t health_check;
    uint32_t overprovisioning; /* percent: 140 = factor 1.4 */
} cg_snap_policy_t;

/* A destination set: what a route forwards to. Referenced by index from rules. */
typedef struct cg_snap_destination {
    char *name; /* unique in the snapshot:
                   "service:bookinfo/productpage.bookinfo.svc.cluster.local:9080" */
    cg_dest_mode_t mode;
    cg_snap_endpoint_t *endpoints;
    size_t nendpoints;
    cg_snap_cluster_weight_t *weights; /* weighted mode only */
    size_t nweights;
    uint32_t connect_timeout_ms; /* default 5000 */
    cg_snap_policy_t policy;
} cg_snap_destination_t;

typedef enum { CG_ACTION_ROUTE, CG_ACTION_REDIRECT, CG_ACTION_DIRECT } cg_action_kind_t;
/* The action called name ("route", "redirect", "direct"); -1 for none. */
int cg_snap_action_parse(const char *name, cg_action_kind_t *out);

/* A redirect or a direct response is the validated resource's own data (model/resource.h),
 * copied: the snapshot adds nothing to either. */
typedef cg_model_redirect_t cg_snap_redirect_t; /* redirect_code 0 reads as 301 */
typedef cg_model_direct_response_t cg_snap_direct_t;

typedef struct cg_snap_rule {
    cg_snap_match_t *matches; /* OR-ed; none = match everything */
    size_t nmatches;
    cg_action_kind_t action;
    size_t destination; /* index into snapshot destinations (ROUTE) */
    cg_snap_redirect_t redirect;
    cg_snap_direct_t direct;
    uint32_t timeout_ms; /* whole request, all tries; default 15000; 0 = none */
} cg_snap_rule_t;

/* A TLS server's settings (http[].tls), for the gateway to build its contexts from. The
 * material is either file paths (files mode: the gateway reads them) or PEM text (a Secret's,
 * delivered only to the instances whose Gateways name it). */
typedef struct cg_snap_tls {
    uint8_t mode;                     /* cg_tls_mode_t: 1 SIMPLE, 2 MUTUAL */
    uint8_t min_version, max_version; /* cg_tls_version_t: 0 AUTO, 1 TLSv1.0 .. 4 TLSv1.3 */
    char **cipher_suites;
    size_t ncipher_suites;
    char **subject_alt_names;
    size_t nsubject_alt_names;
    char *cert_file, *key_file, *ca_file; /* files mode; ca_file NULL for SIMPLE */
    char *cert_pem, *key_pem, *ca_pem;    /* secret mode; ca_pem may be NULL */
    char *secret;                         /* secret mode: "namespace/name" (or "name") */
} cg_snap_tls_t;

/* The tls strings, described once for the encoder, the decoder and the free. */
typedef struct cg_snap_tls_field {
    const char *key;
    size_t offset; /* of a char * in cg_snap_tls_t */
    int secret;    /* private key material: never printed (redacted encoding, logs) */
} cg_snap_tls_field_t;
extern const cg_snap_tls_field_t cg_snap_tls_fields[]; /* ends with key NULL */

/* One http[] server of a Gateway resource that selects this instance. */
typedef struct cg_snap_server {
    char *gateway; /* "namespace/name" of the Gateway resource it came from */
    char *name;    /* http[].name */
    uint16_t port;
    char *hostname; /* lowercase; "*.example.com" or "*" allowed */
    cg_snap_rule_t *rules;
    size_t nrules;
    cg_snap_tls_t *tls; /* NULL = plain text */
    /* An east-west gateway's server: served on the mesh port only (port is that port), never
     * on a listener of its own */
    int east_west;
} cg_snap_server_t;

typedef struct cg_snap_label {
    char *key, *value;
} cg_snap_label_t;

/* Copies of strings that many endpoints repeat (an instance's address appears in every
 * destination it serves, a cluster's name and region in each of its endpoints), one per
 * snapshot: translating 100,000 endpoints makes a few thousand copies, not 400,000. */
typedef struct cg_snap_pool cg_snap_pool_t;

/* The pool's copy of the string at s (NULL for NULL), *pool created on first use. Keyed by the
 * address s, not the text (no hashing of text): for a caller whose strings stay in place and
 * unchanged while it fills the pool, as translation's (the resource set's, the instances').
 * Valid while the pool is. */
char *cg_snap_pool_ref(cg_snap_pool_t **pool, const char *s);
void cg_snap_pool_free(cg_snap_pool_t *pool);

typedef struct cg_snapshot {
    uint64_t version;
    /* the instance it is for */
    char *cluster;
    char *namespace_;
    cg_snap_label_t *labels;
    size_t nlabels;
    char *address; /* where listeners bind */
    char *region;  /* of its own Cluster resource; may be NULL */
    char *zone;

    cg_snap_server_t *servers;
    size_t nservers;
    cg_snap_destination_t *destinations;
    size_t ndestinations;
    char **warnings; /* translation warnings (e.g. named cluster without a Gateway) */
    size_t nwarnings;
    cg_snap_pool_t *pool; /* what pooled endpoints point into; NULL: none */
} cg_snapshot_t;

/* A destination's policy, described once for the encoder, the decoder and the comparison that
 * lets equal routes share a destination: every number, in the order the encoding writes it. */
typedef enum {
    CG_SNAP_PF_U32,      /* a uint32_t */
    CG_SNAP_PF_BOOL,     /* a uint8_t written as true/false */
    CG_SNAP_PF_RETRY_ON, /* the retry_on bits, written as a list of condition names */
} cg_snap_policy_field_type_t;

typedef struct cg_snap_policy_field {
    const char *section; /* the policy's member object ("retry"...), NULL for the policy itself */
    const char *key;
    cg_snap_policy_field_type_t type;
    size_t offset;      /* in cg_snap_policy_t */
    uint32_t max, dflt; /* the decoder's bound and the value of an absent key */
} cg_snap_policy_field_t;

extern const cg_snap_policy_field_t cg_snap_policy_fields[]; /* ends with key NULL */

/* The field's value, widened to 32 bits. */
uint32_t cg_snap_policy_get(const cg_snap_policy_t *p, const cg_snap_policy_field_t *f);
void cg_snap_policy_set(cg_snap_policy_t *p, const cg_snap_policy_field_t *f, uint32_t v);
int cg_snap_policy_eq(const cg_snap_policy_t *a, const cg_snap_policy_t *b);

void cg_snapshot_free(cg_snapshot_t *s);
/* Appends the snapshot's JSON encoding (docs/snapshot.md) to out. */
int cg_snapshot_encode_json(const cg_snapshot_t *s, cg_buf_t *out);
/* The same for people (/config_dump, logs): every private key is written "<redacted>". */
int cg_snapshot_encode_json_redacted(const cg_snapshot_t *s, cg_buf_t *out);
/* Rewrites the version of an encoding (the encoder writes it first), so that a snapshot is
 * encoded once when only its version differs: 0, or CG_EINVAL for text that does not start
 * {"version":N, or CG_ENOMEM (json unchanged then). */
int cg_snapshot_json_set_version(cg_buf_t *json, uint64_t version);
void cg_snap_tls_free(cg_snap_tls_t *t);
/* The index of a mode ("SIMPLE" 1, "MUTUAL" 2) or version name ("TLS_AUTO" 0 .. "TLSV1_3" 4) as
 * the encoding writes it, or -1. */
int cg_snap_tls_mode_parse(const char *name);
int cg_snap_tls_version_parse(const char *name);
/* The inverse (src/translate/snapshot_decode.c): every field the encoder writes. Returns 0, or
 * CG_EPARSE with "snapshot: field: message" in errors and *out untouched. */
int cg_snapshot_decode_json(const char *json, size_t len, cg_snapshot_t **out, cg_buf_t *errors);

#endif
