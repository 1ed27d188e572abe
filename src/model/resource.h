/* The resource kinds users write (Cluster, Service, Gateway) as C structs, and their tables.
 * Field names follow docs/resources.md; every string is owned by the resource. */
#ifndef CG_MODEL_RESOURCE_H
#define CG_MODEL_RESOURCE_H

#include "model/schema.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    CG_KIND_CLUSTER,
    CG_KIND_SERVICE,
    CG_KIND_GATEWAY,
    CG_KIND_SECRET,
    CG_KIND_WORKSPACE_SETTING,
} cg_model_kind_t;

/* metadata: one struct for every kind; each kind's table allows its own subset. */
typedef struct cg_model_meta {
    cg_model_pos_t pos;
    char *name;
    char *namespace_;      /* Service (required), Gateway (optional) */
    char *cluster;         /* Service: the cluster it lives in */
    cg_model_kv_t *labels; /* Cluster: matched by clusterDestination.clusters[].labels */
    size_t nlabels;
    cg_model_kv_t *annotations;
    size_t nannotations;
    char *organization, *tenant, *workspace, *group; /* Tetrate hierarchy: kept, unused */
    char *resource_version; /* the control plane's compare-and-swap (docs/api.md); else unused */
} cg_model_meta_t;

/* ---- Cluster ---- */

typedef struct cg_model_locality {
    char *region; /* required */
    char *zone;
} cg_model_locality_t;

/* A static gateway instance of a cluster (dynamic ones register with the control plane). */
typedef struct cg_model_cluster_gateway {
    char *address; /* IP literal */
    char *namespace_;
    cg_model_kv_t *labels;
    size_t nlabels;
} cg_model_cluster_gateway_t;

typedef struct cg_model_cluster_spec {
    cg_model_locality_t locality;
    cg_model_cluster_gateway_t *gateways;
    size_t ngateways;
} cg_model_cluster_spec_t;

/* ---- Service ---- */

typedef struct cg_model_service_endpoint {
    char *address;  /* IP literal */
    int64_t port;   /* 1..65535 */
    int64_t weight; /* default 1 */
} cg_model_service_endpoint_t;

typedef struct cg_model_service_spec {
    char *hostname; /* lowercase */
    cg_model_service_endpoint_t *endpoints;
    size_t nendpoints;
} cg_model_service_spec_t;

/* ---- Gateway ---- */

/* StringMatch: exactly one of the three is set. */
typedef struct cg_model_strmatch {
    char *exact, *prefix, *regex;
} cg_model_strmatch_t;

typedef struct cg_model_header_match {
    char *name; /* lowercase */
    cg_model_strmatch_t match;
} cg_model_header_match_t;

typedef struct cg_model_match {
    cg_model_strmatch_t *uri; /* NULL = any */
    cg_model_header_match_t *headers;
    size_t nheaders;
} cg_model_match_t;

typedef struct cg_model_service_dest {
    char *host;   /* "namespace/fqdn" */
    int64_t port; /* 0 = omitted */
} cg_model_service_dest_t;

typedef struct cg_model_cluster_ref {
    char *name; /* exactly one of name, labels */
    cg_model_kv_t *labels;
    size_t nlabels;
    int64_t weight;
    int has_weight;
} cg_model_cluster_ref_t;

typedef struct cg_model_cluster_dest {
    cg_model_cluster_ref_t *clusters; /* none = auto */
    size_t nclusters;
} cg_model_cluster_dest_t;

typedef struct cg_model_route {
    cg_model_service_dest_t *service_destination; /* exactly one of the two */
    cg_model_cluster_dest_t *cluster_destination;
} cg_model_route_t;

/* The snapshot carries these two as they are (translate/snapshot.h). */
typedef struct cg_model_redirect {
    char *uri, *authority, *scheme; /* NULL = keep */
    int64_t port;                   /* 0 = keep */
    int64_t redirect_code;          /* default 301 */
} cg_model_redirect_t;

typedef struct cg_model_direct_response {
    int64_t status;
    char *body; /* may be NULL */
} cg_model_direct_response_t;

typedef struct cg_model_rule {
    cg_model_pos_t pos;
    cg_model_match_t *match; /* OR-ed; none = everything */
    size_t nmatch;
    cg_model_route_t *route; /* exactly one of route, redirect, direct_response */
    cg_model_redirect_t *redirect;
    cg_model_direct_response_t *direct_response;
    int64_t timeout_ms; /* default 15000; 0 = none */
} cg_model_rule_t;

typedef struct cg_model_routing {
    cg_model_rule_t *rules;
    size_t nrules;
} cg_model_routing_t;

/* Our additions (optional); their defaults apply field by field once the object is given. */
typedef struct cg_model_retries {
    int64_t attempts;           /* default 2 */
    int64_t per_try_timeout_ms; /* default 0 = bounded by the rule timeout only */
    char **retry_on; /* none given: connect-failure, reset, 502, 503, 504, per-try-timeout */
    size_t nretry_on;
} cg_model_retries_t;

typedef struct cg_model_outlier {
    int64_t consecutive_gateway_errors; /* default 3 */
    int64_t interval_ms;                /* default 1000 */
    int64_t base_ejection_time_ms;      /* default 5000 */
    int64_t max_ejection_time_ms;       /* default 30000 */
    int64_t max_ejection_percent;       /* default 100 */
} cg_model_outlier_t;

typedef struct cg_model_health_check {
    int enabled;                 /* default true */
    int64_t interval_ms;         /* default 1000 */
    int64_t timeout_ms;          /* default 1000 */
    int64_t unhealthy_threshold; /* default 2 */
    int64_t healthy_threshold;   /* default 1 */
} cg_model_health_check_t;

typedef struct cg_model_failover {
    double overprovisioning_factor; /* default 1.4 */
} cg_model_failover_t;

/* Tetrate's failoverSettings: the order in which an edge falls back to remote clusters. */
#define CG_MODEL_MAX_FAILOVER_LABELS   16
#define CG_MODEL_MAX_REGIONAL_FAILOVER 64

typedef struct cg_model_regional_failover {
    char *from, *to; /* regions: from's edges fail over to to's clusters */
} cg_model_regional_failover_t;

typedef struct cg_model_failover_settings {
    char **failover_priority; /* ordered label keys; P0 = every one matches the edge's */
    size_t nfailover_priority;
    cg_model_regional_failover_t *regional_failover; /* each from at most once, from != to */
    size_t nregional_failover;
    char *topology_choice; /* "CLUSTER" (default) or "LOCALITY" */
    int locality;          /* derived by the table's check: topology_choice is LOCALITY */
} cg_model_failover_settings_t;

/* ServerTLSSettings (Tetrate): mode DISABLED is plain text; SIMPLE and MUTUAL take their
 * material from exactly one of files (paths read where the gateway runs) or secretName (a Secret
 * in the Gateway's namespace). */
typedef enum {
    CG_MODEL_TLS_DISABLED = 0,
    CG_MODEL_TLS_SIMPLE = 1,
    CG_MODEL_TLS_MUTUAL = 2
} cg_model_tls_mode_t;

typedef struct cg_model_tls_files {
    char *server_certificate, *private_key, *ca_certificates;
    /* where each was written (set by the table's check; line 0 = absent) */
    cg_model_pos_t cert_pos, key_pos, ca_pos;
} cg_model_tls_files_t;

typedef struct cg_model_tls {
    cg_model_pos_t pos;
    char *mode; /* "DISABLED" (default), "SIMPLE", "MUTUAL" */
    cg_model_tls_files_t *files;
    char *secret_name;
    char *min_protocol_version, *max_protocol_version; /* default TLS_AUTO */
    char **cipher_suites;
    size_t ncipher_suites;
    char **subject_alt_names;
    size_t nsubject_alt_names;
    /* derived by the table's check */
    cg_model_tls_mode_t mode_v;
    int min_v, max_v; /* cg_tls_version_t */
    /* files mode, set by cg_model_check_files: a warning about the certificate (its expiry),
     * malloc'd; freed by cg_model_free */
    char *warning;
} cg_model_tls_t;

typedef struct cg_model_http_server {
    cg_model_pos_t pos;
    char *name;
    int64_t port;
    char *hostname; /* lowercase */
    cg_model_routing_t routing;
    cg_model_retries_t *retries; /* NULL = defaults */
    cg_model_outlier_t *outlier_detection;
    cg_model_health_check_t *health_check;
    cg_model_failover_t *failover;
    cg_model_failover_settings_t *failover_settings; /* NULL = own region first, then the rest */
    cg_model_tls_t *tls;                             /* NULL = plain text */
} cg_model_http_server_t;

/* A TLS server: tls given with mode SIMPLE or MUTUAL. */
static inline int cg_model_http_is_tls(const cg_model_http_server_t *h)
{
    return h->tls != NULL && h->tls->mode_v != CG_MODEL_TLS_DISABLED;
}

typedef struct cg_model_workload_selector {
    char *namespace_;
    cg_model_kv_t *labels; /* at least one */
    size_t nlabels;
    char *cluster; /* optional: pins the selector to one cluster */
} cg_model_workload_selector_t;

typedef struct cg_model_gateway_spec {
    cg_model_workload_selector_t workload_selector;
    cg_model_http_server_t *http;
    size_t nhttp;
} cg_model_gateway_spec_t;

/* ---- resources ---- */

typedef struct cg_model_cluster {
    cg_model_pos_t pos; /* the document */
    char *api_version, *kind;
    cg_model_meta_t metadata;
    cg_model_cluster_spec_t spec;
} cg_model_cluster_t;

typedef struct cg_model_service {
    cg_model_pos_t pos;
    char *api_version, *kind;
    cg_model_meta_t metadata;
    cg_model_service_spec_t spec;
} cg_model_service_t;

typedef struct cg_model_gateway {
    cg_model_pos_t pos;
    char *api_version, *kind;
    cg_model_meta_t metadata;
    cg_model_gateway_spec_t spec;
} cg_model_gateway_t;

/* ---- Secret (apiVersion v1, as Kubernetes) ---- */

/* The keys a Secret may hold: Tetrate's names and the kubernetes.io/tls ones. */
typedef struct cg_model_secret_keys {
    char *cert, *key, *cacert;
    char *tls_crt, *tls_key, *ca_crt;
} cg_model_secret_keys_t;

typedef struct cg_model_secret {
    cg_model_pos_t pos;
    char *api_version, *kind;
    cg_model_meta_t metadata;
    char *type;                          /* optional: kubernetes.io/tls, Opaque */
    cg_model_secret_keys_t *string_data; /* PEM text; exactly one of string_data, data */
    cg_model_secret_keys_t *data;        /* base64 of PEM */
    /* derived by the table's check: the PEM text, NUL-terminated (ca may be NULL) */
    char *cert, *key, *ca;
    char *warning; /* the certificate's expiry, or NULL */
} cg_model_secret_t;

/* ---- WorkspaceSetting (api.tsb.tetrate.io/v2, as Tetrate) ---- */

/* Services an east-west gateway exposes: those whose metadata.labels hold every label. */
typedef struct cg_model_exposed_service {
    cg_model_kv_t *service_labels; /* at least one */
    size_t nservice_labels;
} cg_model_exposed_service_t;

/* The instances a workloadSelector picks are east-west gateways of their cluster: mTLS on the
 * mesh port only, to the exposed services of that cluster (none listed: every service). */
typedef struct cg_model_eastwest_settings {
    cg_model_workload_selector_t workload_selector;
    cg_model_exposed_service_t *exposed_services;
    size_t nexposed_services;
} cg_model_eastwest_settings_t;

typedef struct cg_model_workspace_setting_spec {
    char *display_name, *description; /* kept, not interpreted */
    cg_model_eastwest_settings_t *east_west;
    size_t neast_west;
} cg_model_workspace_setting_spec_t;

typedef struct cg_model_workspace_setting {
    cg_model_pos_t pos;
    char *api_version, *kind;
    cg_model_meta_t metadata;
    cg_model_workspace_setting_spec_t spec;
} cg_model_workspace_setting_t;

/* Frees a Secret's fields and what its check derived (not s itself). */
void cg_model_secret_free(cg_model_secret_t *s);

/* The document schema of (apiVersion, kind), or NULL when the pair is not accepted. */
const cg_model_schema_t *cg_model_schema_for(const char *api_version, const char *kind,
                                             cg_model_kind_t *kind_out);
/* The kind's name as written in documents: "Cluster"... */
const char *cg_model_kind_name(cg_model_kind_t kind);

/* A Gateway routes to clusters (edge) when one of its rules has a clusterDestination. */
int cg_model_gateway_routes_to_clusters(const cg_model_gateway_t *gw);
/* Which StringMatch variant is set; the value is returned through *value. */
int cg_model_strmatch_kind(const cg_model_strmatch_t *m,
                           const char **value); /* 0 exact, 1 prefix, 2 regex */

/* Every table, NULL-terminated: the schema tests walk them all (each field documented, names well
 * formed). */
extern const cg_model_schema_t *const cg_model_all_schemas[];

#endif
