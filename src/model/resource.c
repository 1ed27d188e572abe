/* The field tables of Cluster, Service and Gateway, and the rules across fields they need. */
#include "model/resource.h"

#include "core/buf.h"
#include "core/err.h"
#include "core/list.h"
#include "tls/tls.h"

#include <openssl/crypto.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REQ      CG_MF_REQUIRED
#define DEF      CG_MF_DEFAULT
#define NONEMPTY CG_MF_NONEMPTY
#define LOWER    CG_MF_LOWER
#define BOUNDS   CG_MF_BOUNDS

#define DAY_MS INT64_C(86400000)

/* Field constructors: struct type, YAML name, C member, flags, then any extra initialisers. */
#define STR(T, yname, m, fl, ...)                                                                  \
    {                                                                                              \
        .name = yname, .type = CG_MT_STRING, .flags = (fl), .off = offsetof(T, m), __VA_ARGS__     \
    }
#define INT(T, yname, m, fl, lo, hi, ...)                                                          \
    {                                                                                              \
        .name = yname, .type = CG_MT_INT, .flags = (fl) | BOUNDS, .off = offsetof(T, m),           \
        .min = (lo), .max = (hi), __VA_ARGS__                                                      \
    }
#define DUR(T, yname, m, fl, lo, hi, ...)                                                          \
    {                                                                                              \
        .name = yname, .type = CG_MT_DURATION, .flags = (fl) | BOUNDS, .off = offsetof(T, m),      \
        .min = (lo), .max = (hi), __VA_ARGS__                                                      \
    }
#define BOOL(T, yname, m, fl, ...)                                                                 \
    {                                                                                              \
        .name = yname, .type = CG_MT_BOOL, .flags = (fl), .off = offsetof(T, m), __VA_ARGS__       \
    }
#define NUM(T, yname, m, fl, lo, hi, ...)                                                          \
    {                                                                                              \
        .name = yname, .type = CG_MT_NUMBER, .flags = (fl) | BOUNDS, .off = offsetof(T, m),        \
        .fmin = (lo), .fmax = (hi), __VA_ARGS__                                                    \
    }
#define STRUCT(T, yname, m, fl, schema, ...)                                                       \
    {                                                                                              \
        .name = yname, .type = CG_MT_STRUCT, .flags = (fl), .off = offsetof(T, m),                 \
        .sub = &(schema), __VA_ARGS__                                                              \
    }
#define OBJ(T, yname, m, fl, schema, ...)                                                          \
    {                                                                                              \
        .name = yname, .type = CG_MT_OBJECT, .flags = (fl), .off = offsetof(T, m),                 \
        .sub = &(schema), __VA_ARGS__                                                              \
    }
#define LIST(T, yname, m, n, fl, schema, ...)                                                      \
    {                                                                                              \
        .name = yname, .type = CG_MT_LIST, .flags = (fl), .off = offsetof(T, m),                   \
        .aux = offsetof(T, n), .sub = &(schema), __VA_ARGS__                                       \
    }
#define STRLIST(T, yname, m, n, fl, ...)                                                           \
    {                                                                                              \
        .name = yname, .type = CG_MT_STRLIST, .flags = (fl), .off = offsetof(T, m),                \
        .aux = offsetof(T, n), __VA_ARGS__                                                         \
    }
#define MAP(T, yname, m, n, fl, ...)                                                               \
    {                                                                                              \
        .name = yname, .type = CG_MT_MAP, .flags = (fl), .off = offsetof(T, m),                    \
        .aux = offsetof(T, n), __VA_ARGS__                                                         \
    }
#define UNSUPPORTED(yname, why)                                                                    \
    {                                                                                              \
        .name = yname, .type = CG_MT_UNSUPPORTED, .doc = why                                       \
    }

#define SCHEMA(var, T, fieldsv, ...)                                                               \
    const cg_model_schema_t var = {.name = #T,                                                     \
                                   .size = sizeof(T),                                              \
                                   .fields = fieldsv,                                              \
                                   .nfields = CG_ARRAY_SIZE(fieldsv),                              \
                                   __VA_ARGS__}

/* ---- string checks ---- */

/* Names end up in "namespace/name" identities and destination names. */
const char *cg_model_check_name(const char *s)
{
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_' && *p != '.')
            return "expected letters, digits, '-', '_' or '.'";
    return NULL;
}

static const char *check_header_name(const char *s)
{
    if (*s == '\0') return "header names must not be empty";
    for (const char *p = s; *p; p++) {
        if (isupper((unsigned char)*p)) return "header names must be lowercase";
        if (!isalnum((unsigned char)*p) && strchr("!#$%&'*+-.^_`|~", *p) == NULL)
            return "expected an HTTP header name";
    }
    return NULL;
}

const char *cg_model_check_label_key(const char *s)
{
    if (*s == '\0') return "label keys must not be empty";
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && strchr("-_./", *p) == NULL)
            return "expected a label key (letters, digits, '-', '_', '.', '/')";
    return NULL;
}

/* The Tetrate API's pattern ^[^/]+/[^/]+$ */
static const char *check_ns_host(const char *s)
{
    const char *slash = strchr(s, '/');
    if (slash == NULL || slash == s || slash[1] == '\0' || strchr(slash + 1, '/') != NULL)
        return "expected \"<namespace>/<fqdn>\"";
    return cg_model_check_hostname(slash + 1) == NULL
               ? NULL
               : "expected \"<namespace>/<fqdn>\" with a DNS name";
}

/* ---- metadata ---- */

/* Every kind's: an apply to the control plane carrying it is compare-and-swap. */
#define META_RESOURCE_VERSION                                                                      \
    STR(cg_model_meta_t, "resourceVersion", resource_version, 0,                                   \
        .doc = "control plane: apply only if the stored resource is at this version (\"0\": "      \
               "only if it does not exist); static mode ignores it")

static const cg_model_field_t meta_cluster_fields[] = {
    STR(cg_model_meta_t, "name", name, REQ | NONEMPTY, .check = cg_model_check_name,
        .doc = "cluster name, unique"),
    MAP(cg_model_meta_t, "labels", labels, nlabels, 0, .keycheck = cg_model_check_label_key,
        .doc = "matched by clusterDestination.clusters[].labels"),
    MAP(cg_model_meta_t, "annotations", annotations, nannotations, 0,
        .doc = "kept, not interpreted"),
    STR(cg_model_meta_t, "organization", organization, 0,
        .doc = "Tetrate hierarchy: kept, not interpreted"),
    META_RESOURCE_VERSION,
};
static SCHEMA(meta_cluster_schema, cg_model_meta_t, meta_cluster_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_meta_t, pos));

static const cg_model_field_t meta_service_fields[] = {
    STR(cg_model_meta_t, "name", name, REQ | NONEMPTY, .check = cg_model_check_name,
        .doc = "service name"),
    STR(cg_model_meta_t, "namespace", namespace_, REQ | NONEMPTY, .check = cg_model_check_name,
        .doc = "namespace; serviceDestination.host names it"),
    STR(cg_model_meta_t, "cluster", cluster, REQ | NONEMPTY, .check = cg_model_check_name,
        .doc = "the cluster this copy of the service lives in"),
    MAP(cg_model_meta_t, "labels", labels, nlabels, 0, .keycheck = cg_model_check_label_key,
        .doc = "kept, not interpreted"),
    MAP(cg_model_meta_t, "annotations", annotations, nannotations, 0,
        .doc = "kept, not interpreted"),
    META_RESOURCE_VERSION,
};
static SCHEMA(meta_service_schema, cg_model_meta_t, meta_service_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_meta_t, pos));

static const cg_model_field_t meta_gateway_fields[] = {
    STR(cg_model_meta_t, "name", name, REQ | NONEMPTY, .check = cg_model_check_name,
        .doc = "gateway name"),
    STR(cg_model_meta_t, "namespace", namespace_, NONEMPTY, .check = cg_model_check_name,
        .doc = "optional namespace"),
    STR(cg_model_meta_t, "organization", organization, 0,
        .doc = "Tetrate hierarchy: kept, not interpreted"),
    STR(cg_model_meta_t, "tenant", tenant, 0, .doc = "Tetrate hierarchy: kept, not interpreted"),
    STR(cg_model_meta_t, "workspace", workspace, 0,
        .doc = "Tetrate hierarchy: kept, not interpreted"),
    STR(cg_model_meta_t, "group", group, 0, .doc = "Tetrate hierarchy: kept, not interpreted"),
    MAP(cg_model_meta_t, "labels", labels, nlabels, 0, .keycheck = cg_model_check_label_key,
        .doc = "kept, not interpreted"),
    MAP(cg_model_meta_t, "annotations", annotations, nannotations, 0,
        .doc = "kept, not interpreted"),
    META_RESOURCE_VERSION,
};
static SCHEMA(meta_gateway_schema, cg_model_meta_t, meta_gateway_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_meta_t, pos));

/* ---- Cluster ---- */

static const cg_model_field_t locality_fields[] = {
    STR(cg_model_locality_t, "region", region, REQ | NONEMPTY,
        .doc = "region: the edge prefers clusters of its own"),
    STR(cg_model_locality_t, "zone", zone, NONEMPTY, .doc = "zone within the region"),
};
static SCHEMA(locality_schema, cg_model_locality_t, locality_fields);

static const cg_model_field_t cluster_gateway_fields[] = {
    STR(cg_model_cluster_gateway_t, "address", address, REQ, .check = cg_model_check_ip,
        .doc = "IP the instance listens on, reachable from edge gateways"),
    STR(cg_model_cluster_gateway_t, "namespace", namespace_, REQ | NONEMPTY,
        .check = cg_model_check_name,
        .doc = "namespace the instance runs in (matched by workloadSelector.namespace)"),
    MAP(cg_model_cluster_gateway_t, "labels", labels, nlabels, 0,
        .keycheck = cg_model_check_label_key,
        .doc = "instance labels (matched by workloadSelector.labels)"),
};
static SCHEMA(cluster_gateway_schema, cg_model_cluster_gateway_t, cluster_gateway_fields);

static const cg_model_field_t cluster_spec_fields[] = {
    STRUCT(cg_model_cluster_spec_t, "locality", locality, REQ, locality_schema,
           .doc = "where the cluster runs"),
    LIST(cg_model_cluster_spec_t, "gateways", gateways, ngateways, 0, cluster_gateway_schema,
         .doc = "static gateway instances; dynamic ones register with the control plane"),
    UNSUPPORTED("network", "not supported by crossgate: every cluster is assumed reachable"),
    UNSUPPORTED("tokenTtl", "not supported by crossgate"),
};
static SCHEMA(cluster_spec_schema, cg_model_cluster_spec_t, cluster_spec_fields);

/* ---- Service ---- */

static const cg_model_field_t endpoint_fields[] = {
    STR(cg_model_service_endpoint_t, "address", address, REQ, .check = cg_model_check_ip,
        .doc = "IP literal"),
    INT(cg_model_service_endpoint_t, "port", port, REQ, 1, 65535, .doc = "TCP port"),
    INT(cg_model_service_endpoint_t, "weight", weight, DEF, 1, 1000000, .def_i = 1,
        .doc = "relative share among the service's endpoints"),
};
static SCHEMA(endpoint_schema, cg_model_service_endpoint_t, endpoint_fields);

static const cg_model_field_t service_spec_fields[] = {
    STR(cg_model_service_spec_t, "hostname", hostname, REQ | NONEMPTY | LOWER,
        .check = cg_model_check_hostname,
        .doc = "the FQDN serviceDestination.host names after the namespace"),
    LIST(cg_model_service_spec_t, "endpoints", endpoints, nendpoints, 0, endpoint_schema,
         .doc = "where it runs"),
};
static SCHEMA(service_spec_schema, cg_model_service_spec_t, service_spec_fields);

/* ---- Gateway: matching ---- */

static const cg_model_field_t strmatch_fields[] = {
    STR(cg_model_strmatch_t, "exact", exact, 0,
        .doc = "the whole value equals this (case-sensitive)"),
    STR(cg_model_strmatch_t, "prefix", prefix, 0, .doc = "the value starts with this"),
    STR(cg_model_strmatch_t, "regex", regex, 0, .check = cg_model_check_regex,
        .doc = "POSIX extended regular expression matched against the whole value"),
};
static const cg_model_oneof_t strmatch_oneofs[] = {{{"exact", "prefix", "regex"}, 1}};
static SCHEMA(strmatch_schema, cg_model_strmatch_t, strmatch_fields, .oneofs = strmatch_oneofs,
              .noneofs = 1);

static const cg_model_field_t match_fields[] = {
    OBJ(cg_model_match_t, "uri", uri, 0, strmatch_schema, .doc = "StringMatch on the request path"),
    {.name = "headers",
     .type = CG_MT_OBJMAP,
     .off = offsetof(cg_model_match_t, headers),
     .aux = offsetof(cg_model_match_t, nheaders),
     .sub = &strmatch_schema,
     .keycheck = check_header_name,
     .elem_size = sizeof(cg_model_header_match_t),
     .val_off = offsetof(cg_model_header_match_t, match),
     .doc = "lowercase header name → StringMatch; all must hold"},
};
static SCHEMA(match_schema, cg_model_match_t, match_fields);

/* ---- Gateway: destinations ---- */

static const cg_model_field_t service_dest_fields[] = {
    STR(cg_model_service_dest_t, "host", host, REQ, .check = check_ns_host,
        .doc = "\"<namespace>/<fqdn>\" of a Service in the gateway's own cluster"),
    INT(cg_model_service_dest_t, "port", port, CG_MF_EXCL, 1, 65535, .excl = 15443,
        .doc = "endpoint port; omit to use every endpoint"),
    UNSUPPORTED("tls", "not supported by crossgate yet"),
};
static SCHEMA(service_dest_schema, cg_model_service_dest_t, service_dest_fields);

static const cg_model_field_t cluster_ref_fields[] = {
    STR(cg_model_cluster_ref_t, "name", name, NONEMPTY, .check = cg_model_check_name,
        .doc = "a Cluster's metadata.name"),
    MAP(cg_model_cluster_ref_t, "labels", labels, nlabels, NONEMPTY,
        .keycheck = cg_model_check_label_key,
        .doc = "selects every Cluster whose metadata.labels hold all of these"),
    INT(cg_model_cluster_ref_t, "weight", weight, CG_MF_HAS, 0, 1000000,
        .aux = offsetof(cg_model_cluster_ref_t, has_weight),
        .doc = "share of traffic; given on one entry, required on all (weighted mode)"),
    UNSUPPORTED("network",
                "not supported by crossgate (deprecated in the Tetrate API): use labels"),
};
static const cg_model_oneof_t cluster_ref_oneofs[] = {{{"name", "labels"}, 1}};
static SCHEMA(cluster_ref_schema, cg_model_cluster_ref_t, cluster_ref_fields,
              .oneofs = cluster_ref_oneofs, .noneofs = 1);

static void check_cluster_dest(cg_model_ctx_t *ctx, const cg_ynode_t *map, void *obj)
{
    const cg_model_cluster_dest_t *d = obj;
    const cg_ynode_t *list = cg_ynode_get(map, "clusters");
    int weighted = 0;
    uint64_t sum = 0;
    for (size_t i = 0; i < d->nclusters; i++) weighted |= d->clusters[i].has_weight;
    for (size_t i = 0; i < d->nclusters; i++) {
        const cg_model_cluster_ref_t *c = &d->clusters[i];
        const cg_ynode_t *item = list->items[i];
        char sub[48];
        if (weighted && !c->has_weight) {
            snprintf(sub, sizeof(sub), ".clusters[%zu].weight", i);
            cg_model_errorf(ctx, item, sub,
                            "missing required field (weights are given on other entries)");
        }
        sum += (uint64_t)c->weight;
        for (size_t j = 0; c->name && j < i; j++) {
            if (d->clusters[j].name && strcmp(d->clusters[j].name, c->name) == 0) {
                snprintf(sub, sizeof(sub), ".clusters[%zu].name", i);
                cg_model_errorf(ctx, cg_ynode_get(item, "name"), sub,
                                "cluster \"%s\" is listed twice", c->name);
            }
        }
    }
    if (weighted && sum == 0) cg_model_errorf(ctx, list, ".clusters", "weights must not all be 0");
}

static const cg_model_field_t cluster_dest_fields[] = {
    LIST(cg_model_cluster_dest_t, "clusters", clusters, nclusters, 0, cluster_ref_schema,
         .doc = "none: every cluster serving the hostname (auto); names or labels: named; with "
                "weights: weighted"),
};
static SCHEMA(cluster_dest_schema, cg_model_cluster_dest_t, cluster_dest_fields,
              .check = check_cluster_dest);

static const cg_model_field_t route_fields[] = {
    OBJ(cg_model_route_t, "serviceDestination", service_destination, 0, service_dest_schema,
        .doc = "route to a Service (workload/ingress gateway)"),
    OBJ(cg_model_route_t, "clusterDestination", cluster_destination, 0, cluster_dest_schema,
        .doc = "route to the gateways of other clusters (edge gateway)"),
};
static const cg_model_oneof_t route_oneofs[] = {{{"serviceDestination", "clusterDestination"}, 1}};
static SCHEMA(route_schema, cg_model_route_t, route_fields, .oneofs = route_oneofs, .noneofs = 1);

static const char *const schemes[] = {"http", "https", NULL};

static const cg_model_field_t redirect_fields[] = {
    STR(cg_model_redirect_t, "uri", uri, 0, .doc = "replaces the path (and query)"),
    STR(cg_model_redirect_t, "authority", authority, 0, .doc = "replaces the host"),
    INT(cg_model_redirect_t, "port", port, 0, 1, 65535, .doc = "replaces the port"),
    STR(cg_model_redirect_t, "scheme", scheme, 0, .enums = schemes, .doc = "http or https"),
    INT(cg_model_redirect_t, "redirectCode", redirect_code, DEF, 300, 308, .def_i = 301,
        .doc = "3xx status"),
};
static SCHEMA(redirect_schema, cg_model_redirect_t, redirect_fields);

static const cg_model_field_t direct_fields[] = {
    INT(cg_model_direct_response_t, "status", status, REQ, 200, 599, .doc = "HTTP status"),
    STR(cg_model_direct_response_t, "body", body, 0, .doc = "response body (text/plain)"),
};
static SCHEMA(direct_schema, cg_model_direct_response_t, direct_fields);

static const cg_model_field_t rule_fields[] = {
    LIST(cg_model_rule_t, "match", match, nmatch, 0, match_schema,
         .doc = "conditions, OR-ed; none = every request"),
    OBJ(cg_model_rule_t, "route", route, 0, route_schema, .doc = "forward the request"),
    OBJ(cg_model_rule_t, "redirect", redirect, 0, redirect_schema, .doc = "answer with a redirect"),
    OBJ(cg_model_rule_t, "directResponse", direct_response, 0, direct_schema,
        .doc = "answer directly"),
    DUR(cg_model_rule_t, "timeout", timeout_ms, DEF, 0, DAY_MS, .def_i = 15000,
        .doc = "whole request including retries; 0 = none"),
    UNSUPPORTED("modify", "not supported by crossgate yet"),
    UNSUPPORTED("corsPolicy", "not supported by crossgate yet"),
    UNSUPPORTED("extensions", "not supported by crossgate"),
    UNSUPPORTED("disableExternalAuthorization", "not supported by crossgate"),
};
static const cg_model_oneof_t rule_oneofs[] = {{{"route", "redirect", "directResponse"}, 1}};
static SCHEMA(rule_schema, cg_model_rule_t, rule_fields, .oneofs = rule_oneofs, .noneofs = 1,
              .has_pos = 1, .pos_off = offsetof(cg_model_rule_t, pos));

static const cg_model_field_t routing_fields[] = {
    LIST(cg_model_routing_t, "rules", rules, nrules, REQ | NONEMPTY, rule_schema,
         .doc = "evaluated in order; the first rule whose match holds wins"),
    UNSUPPORTED("corsPolicy", "not supported by crossgate yet"),
};
static SCHEMA(routing_schema, cg_model_routing_t, routing_fields);

/* ---- Gateway: our additions ---- */

static const char *const retry_conditions[] = {"connect-failure",
                                               "refused-stream",
                                               "reset",
                                               "5xx",
                                               "gateway-error",
                                               "retriable-4xx",
                                               "per-try-timeout",
                                               "502",
                                               "503",
                                               "504",
                                               NULL};

static const cg_model_field_t retries_fields[] = {
    INT(cg_model_retries_t, "attempts", attempts, DEF, 0, 10, .def_i = 2,
        .doc = "retries after the first try"),
    DUR(cg_model_retries_t, "perTryTimeout", per_try_timeout_ms, DEF, 0, DAY_MS, .def_i = 0,
        .doc = "bound on one try; 0 = only the rule timeout"),
    STRLIST(cg_model_retries_t, "retryOn", retry_on, nretry_on, 0, .enums = retry_conditions,
            .doc = "conditions; default connect-failure, reset, 502, 503, 504, per-try-timeout"),
};
static SCHEMA(retries_schema, cg_model_retries_t, retries_fields);

static void check_outlier(cg_model_ctx_t *ctx, const cg_ynode_t *map, void *obj)
{
    const cg_model_outlier_t *o = obj;
    if (o->max_ejection_time_ms < o->base_ejection_time_ms)
        cg_model_errorf(
            ctx, cg_ynode_get(map, "maxEjectionTime") ? cg_ynode_get(map, "maxEjectionTime") : map,
            ".maxEjectionTime", "must not be less than baseEjectionTime (%lldms)",
            (long long)o->base_ejection_time_ms);
}

static const cg_model_field_t outlier_fields[] = {
    INT(cg_model_outlier_t, "consecutiveGatewayErrors", consecutive_gateway_errors, DEF, 1, 1000,
        .def_i = 3, .doc = "gateway failures in a row that eject an endpoint"),
    DUR(cg_model_outlier_t, "interval", interval_ms, DEF, 1, DAY_MS, .def_i = 1000,
        .doc = "how often ejections are re-checked"),
    DUR(cg_model_outlier_t, "baseEjectionTime", base_ejection_time_ms, DEF, 1, DAY_MS,
        .def_i = 5000, .doc = "first ejection; the n-th lasts n times as long"),
    DUR(cg_model_outlier_t, "maxEjectionTime", max_ejection_time_ms, DEF, 1, DAY_MS, .def_i = 30000,
        .doc = "cap on one ejection"),
    INT(cg_model_outlier_t, "maxEjectionPercent", max_ejection_percent, DEF, 0, 100, .def_i = 100,
        .doc = "share of a destination's endpoints that may be ejected at once"),
};
static SCHEMA(outlier_schema, cg_model_outlier_t, outlier_fields, .check = check_outlier);

static const cg_model_field_t health_fields[] = {
    BOOL(cg_model_health_check_t, "enabled", enabled, DEF, .def_i = 1,
         .doc = "active checks of edge → ingress"),
    DUR(cg_model_health_check_t, "interval", interval_ms, DEF, 1, DAY_MS, .def_i = 1000,
        .doc = "between checks"),
    DUR(cg_model_health_check_t, "timeout", timeout_ms, DEF, 1, DAY_MS, .def_i = 1000,
        .doc = "per check"),
    INT(cg_model_health_check_t, "unhealthyThreshold", unhealthy_threshold, DEF, 1, 1000,
        .def_i = 2, .doc = "failures in a row → unhealthy"),
    INT(cg_model_health_check_t, "healthyThreshold", healthy_threshold, DEF, 1, 1000, .def_i = 1,
        .doc = "successes in a row → healthy"),
};
static SCHEMA(health_schema, cg_model_health_check_t, health_fields);

static const cg_model_field_t failover_fields[] = {
    NUM(cg_model_failover_t, "overprovisioningFactor", overprovisioning_factor, DEF, 1.0, 1000.0,
        .def_f = 1.4,
        .doc = "priority health = min(100%, factor × healthy share); large = stay local until all "
               "local fail"),
};
static SCHEMA(failover_schema, cg_model_failover_t, failover_fields);

static const cg_model_field_t regional_failover_fields[] = {
    STR(cg_model_regional_failover_t, "from", from, REQ | NONEMPTY,
        .doc = "a region (Cluster spec.locality.region): the edges in it"),
    STR(cg_model_regional_failover_t, "to", to, REQ | NONEMPTY,
        .doc = "the region they fail over to first when their own region's clusters fail"),
};
static SCHEMA(regional_failover_schema, cg_model_regional_failover_t, regional_failover_fields);

/* The orderings a table cannot say: a region fails over to one other region, a label is
 * matched once; the lists are bounded (priority levels past the balancer's are merged anyway). */
static void check_failover_settings(cg_model_ctx_t *ctx, const cg_ynode_t *map, void *obj)
{
    cg_model_failover_settings_t *f = obj;
    f->locality = strcmp(f->topology_choice, "LOCALITY") == 0;
    const cg_ynode_t *labels = cg_ynode_get(map, "failoverPriority");
    const cg_ynode_t *regions = cg_ynode_get(map, "regionalFailover");
    char sub[64];
    if (f->nfailover_priority > CG_MODEL_MAX_FAILOVER_LABELS) {
        cg_model_errorf(ctx, labels, ".failoverPriority", "at most %d labels, got %zu",
                        CG_MODEL_MAX_FAILOVER_LABELS, f->nfailover_priority);
        return;
    }
    if (f->nregional_failover > CG_MODEL_MAX_REGIONAL_FAILOVER) {
        cg_model_errorf(ctx, regions, ".regionalFailover", "at most %d entries, got %zu",
                        CG_MODEL_MAX_REGIONAL_FAILOVER, f->nregional_failover);
        return;
    }
    for (size_t i = 0; i < f->nfailover_priority; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(f->failover_priority[i], f->failover_priority[j]) == 0) {
                snprintf(sub, sizeof(sub), ".failoverPriority[%zu]", i);
                cg_model_errorf(ctx, labels->items[i], sub,
                                "label \"%s\" is already failoverPriority[%zu]",
                                f->failover_priority[i], j);
                break;
            }
    for (size_t i = 0; i < f->nregional_failover; i++) {
        const cg_model_regional_failover_t *r = &f->regional_failover[i];
        const cg_ynode_t *item = regions->items[i];
        if (strcmp(r->from, r->to) == 0) {
            snprintf(sub, sizeof(sub), ".regionalFailover[%zu].to", i);
            cg_model_errorf(ctx, cg_ynode_get(item, "to"), sub,
                            "region \"%s\" fails over to itself: name another region", r->to);
        }
        for (size_t j = 0; j < i; j++)
            if (strcmp(f->regional_failover[j].from, r->from) == 0) {
                snprintf(sub, sizeof(sub), ".regionalFailover[%zu].from", i);
                cg_model_errorf(ctx, cg_ynode_get(item, "from"), sub,
                                "region \"%s\" is mapped twice (regionalFailover[%zu] sends it to "
                                "\"%s\"): give each region one failover region",
                                r->from, j, f->regional_failover[j].to);
                break;
            }
    }
}

static const char *const topology_choices[] = {"CLUSTER", "LOCALITY", NULL};

static const cg_model_field_t failover_settings_fields[] = {
    STRLIST(cg_model_failover_settings_t, "failoverPriority", failover_priority, nfailover_priority,
            0, .check = cg_model_check_label_key,
            .doc = "ordered label keys: clusters matching all of the edge's come first, then those "
                   "matching all but the last, ..."),
    LIST(cg_model_failover_settings_t, "regionalFailover", regional_failover, nregional_failover, 0,
         regional_failover_schema,
         .doc = "{from, to}: the region an edge in from tries after its own, before the others"),
    STR(cg_model_failover_settings_t, "topologyChoice", topology_choice, DEF, .def_s = "CLUSTER",
        .enums = topology_choices,
        .doc = "CLUSTER: the own region is one level; LOCALITY: its own zone first; ignored "
               "with failoverPriority"),
    UNSUPPORTED("automaticLoadBalancing", "not supported by crossgate"),
};
static SCHEMA(failover_settings_schema, cg_model_failover_settings_t, failover_settings_fields,
              .check = check_failover_settings);

/* ---- Gateway: TLS (ServerTLSSettings) ---- */

static const char *const tls_modes[] = {"DISABLED", "SIMPLE", "MUTUAL", NULL};
static const char *const tls_versions[] = {"TLS_AUTO", "TLSV1_0", "TLSV1_1",
                                           "TLSV1_2",  "TLSV1_3", NULL};

static void value_pos(cg_model_ctx_t *ctx, const cg_ynode_t *map, const char *key,
                      cg_model_pos_t *out)
{
    const cg_ynode_t *v = cg_ynode_get(map, key);
    if (v != NULL) *out = (cg_model_pos_t){ctx->file, v->line, v->col};
}

static void check_tls_files(cg_model_ctx_t *ctx, const cg_ynode_t *map, void *obj)
{
    cg_model_tls_files_t *f = obj;
    if (map == NULL || map->kind != CG_YNODE_MAP) return;
    value_pos(ctx, map, "serverCertificate", &f->cert_pos);
    value_pos(ctx, map, "privateKey", &f->key_pos);
    value_pos(ctx, map, "caCertificates", &f->ca_pos);
}

static const cg_model_field_t tls_files_fields[] = {
    STR(cg_model_tls_files_t, "serverCertificate", server_certificate, NONEMPTY,
        .doc = "path of the certificate chain (PEM, leaf first), read where the gateway runs"),
    STR(cg_model_tls_files_t, "privateKey", private_key, NONEMPTY,
        .doc = "path of the leaf's private key (PEM)"),
    STR(cg_model_tls_files_t, "caCertificates", ca_certificates, NONEMPTY,
        .doc = "path of the CAs that client certificates must chain to (PEM; MUTUAL)"),
};
static SCHEMA(tls_files_schema, cg_model_tls_files_t, tls_files_fields, .check = check_tls_files);

static const cg_ynode_t *node_or(const cg_ynode_t *map, const char *key)
{
    const cg_ynode_t *v = cg_ynode_get(map, key);
    return v ? v : map;
}

static void check_tls(cg_model_ctx_t *ctx, const cg_ynode_t *map, void *obj)
{
    cg_model_tls_t *t = obj;
    cg_tls_version_t lo = CG_TLS_AUTO, hi = CG_TLS_AUTO;
    t->mode_v = strcmp(t->mode, "MUTUAL") == 0   ? CG_MODEL_TLS_MUTUAL
                : strcmp(t->mode, "SIMPLE") == 0 ? CG_MODEL_TLS_SIMPLE
                                                 : CG_MODEL_TLS_DISABLED;
    if (cg_tls_version_parse(t->min_protocol_version, &lo) != 0 ||
        cg_tls_version_parse(t->max_protocol_version, &hi) != 0) {
        cg_model_errorf(ctx, map, NULL, "unknown protocol version");
        return;
    }
    t->min_v = (int)lo, t->max_v = (int)hi;
    if (lo != CG_TLS_AUTO && hi != CG_TLS_AUTO && lo > hi)
        cg_model_errorf(ctx, node_or(map, "minProtocolVersion"), ".minProtocolVersion",
                        "%s is above maxProtocolVersion %s", t->min_protocol_version,
                        t->max_protocol_version);
    if (t->mode_v == CG_MODEL_TLS_DISABLED) return;
    if ((t->files != NULL) == (t->secret_name != NULL)) {
        cg_model_errorf(ctx, map, NULL, "mode %s needs exactly one of secretName, files", t->mode);
        return;
    }
    if (t->files == NULL) return; /* the Secret's keys are checked when it is resolved */
    const cg_ynode_t *fn = cg_ynode_get(map, "files");
    if (t->files->server_certificate == NULL)
        cg_model_errorf(ctx, fn, ".files.serverCertificate", "missing required field (mode %s)",
                        t->mode);
    if (t->files->private_key == NULL)
        cg_model_errorf(ctx, fn, ".files.privateKey", "missing required field (mode %s)", t->mode);
    if (t->mode_v == CG_MODEL_TLS_MUTUAL && t->files->ca_certificates == NULL)
        cg_model_errorf(ctx, fn, ".files.caCertificates", "missing required field (mode MUTUAL)");
}

static const cg_model_field_t tls_fields[] = {
    STR(cg_model_tls_t, "mode", mode, DEF, .def_s = "DISABLED", .enums = tls_modes,
        .doc = "DISABLED (plain text, the default), SIMPLE (server certificate) or MUTUAL (client "
               "certificates required too)"),
    OBJ(cg_model_tls_t, "files", files, 0, tls_files_schema,
        .doc = "the material as files on the gateway's host; exactly one of files, secretName"),
    STR(cg_model_tls_t, "secretName", secret_name, NONEMPTY, .check = cg_model_check_name,
        .doc = "a Secret in the Gateway's namespace with keys cert, key (and cacert for MUTUAL)"),
    STR(cg_model_tls_t, "minProtocolVersion", min_protocol_version, DEF, .def_s = "TLS_AUTO",
        .enums = tls_versions, .doc = "TLS_AUTO (TLS 1.2), TLSV1_0 .. TLSV1_3"),
    STR(cg_model_tls_t, "maxProtocolVersion", max_protocol_version, DEF, .def_s = "TLS_AUTO",
        .enums = tls_versions, .doc = "TLS_AUTO (TLS 1.3), TLSV1_0 .. TLSV1_3"),
    STRLIST(cg_model_tls_t, "cipherSuites", cipher_suites, ncipher_suites, 0,
            .doc = "OpenSSL cipher names allowed; none = OpenSSL's defaults"),
    STRLIST(cg_model_tls_t, "subjectAltNames", subject_alt_names, nsubject_alt_names, 0,
            .doc = "MUTUAL: client certificates must carry one of these SANs; none = any"),
};
static SCHEMA(tls_schema, cg_model_tls_t, tls_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_tls_t, pos), .check = check_tls);

/* ---- Gateway: servers and spec ---- */

static const cg_model_field_t http_fields[] = {
    STR(cg_model_http_server_t, "name", name, REQ | NONEMPTY,
        .doc = "unique within the Gateway; appears in metrics"),
    INT(cg_model_http_server_t, "port", port, REQ | CG_MF_EXCL, 1, 65535, .excl = 15443,
        .doc = "listener port"),
    STR(cg_model_http_server_t, "hostname", hostname, REQ | NONEMPTY | LOWER,
        .check = cg_model_check_hostname,
        .doc = "Host the server answers for: a name, \"*.suffix\" or \"*\""),
    STRUCT(cg_model_http_server_t, "routing", routing, REQ, routing_schema, .doc = "the rules"),
    OBJ(cg_model_http_server_t, "retries", retries, 0, retries_schema,
        .doc = "retry policy (crossgate addition)"),
    OBJ(cg_model_http_server_t, "outlierDetection", outlier_detection, 0, outlier_schema,
        .doc = "passive health (crossgate addition)"),
    OBJ(cg_model_http_server_t, "healthCheck", health_check, 0, health_schema,
        .doc = "active health (crossgate addition)"),
    OBJ(cg_model_http_server_t, "failover", failover, 0, failover_schema,
        .doc = "locality failover (crossgate addition)"),
    OBJ(cg_model_http_server_t, "failoverSettings", failover_settings, 0, failover_settings_schema,
        .doc = "the order of remote clusters (Tetrate's FailoverSettings)"),
    OBJ(cg_model_http_server_t, "tls", tls, 0, tls_schema,
        .doc = "ServerTLSSettings; omitted or mode DISABLED: plain-text HTTP"),
    UNSUPPORTED("authentication", "not supported by crossgate"),
    UNSUPPORTED("authorization", "not supported by crossgate"),
    UNSUPPORTED("rateLimiting", "not supported by crossgate"),
    UNSUPPORTED("transit", "not supported by crossgate"),
    UNSUPPORTED("trafficMode", "not supported by crossgate"),
    UNSUPPORTED("extensions", "not supported by crossgate"),
    UNSUPPORTED("openapi", "not supported by crossgate"),
};
static SCHEMA(http_schema, cg_model_http_server_t, http_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_http_server_t, pos));

static const cg_model_field_t selector_fields[] = {
    STR(cg_model_workload_selector_t, "namespace", namespace_, REQ | NONEMPTY,
        .check = cg_model_check_name, .doc = "namespace of the gateway instances"),
    MAP(cg_model_workload_selector_t, "labels", labels, nlabels, REQ | NONEMPTY,
        .keycheck = cg_model_check_label_key, .doc = "every label must be on the instance"),
    STR(cg_model_workload_selector_t, "cluster", cluster, NONEMPTY, .check = cg_model_check_name,
        .doc = "only instances of this cluster (crossgate addition)"),
};
static SCHEMA(selector_schema, cg_model_workload_selector_t, selector_fields);

/* Route kind of a rule: 1 cluster, 2 service, 0 neither. */
static int rule_dest(const cg_model_rule_t *r)
{
    if (r->route == NULL) return 0;
    return r->route->cluster_destination ? 1 : 2;
}

static const cg_ynode_t *route_node(const cg_ynode_t *spec, size_t s, size_t r)
{
    const cg_ynode_t *http = cg_ynode_get(spec, "http");
    const cg_ynode_t *routing = cg_ynode_get(http->items[s], "routing");
    const cg_ynode_t *rules = cg_ynode_get(routing, "rules");
    const cg_ynode_t *route = cg_ynode_get(rules->items[r], "route");
    return route ? route : rules->items[r];
}

static void check_gateway_spec(cg_model_ctx_t *ctx, const cg_ynode_t *map, void *obj)
{
    const cg_model_gateway_spec_t *g = obj;
    const cg_ynode_t *http = cg_ynode_get(map, "http");
    char sub[96];
    size_t first_s = 0, first_r = 0;
    int first = 0;
    for (size_t s = 0; s < g->nhttp; s++) {
        const cg_model_http_server_t *h = &g->http[s];
        for (size_t o = 0; o < s; o++) {
            if (strcmp(g->http[o].name, h->name) == 0) {
                snprintf(sub, sizeof(sub), ".http[%zu].name", s);
                cg_model_errorf(ctx, cg_ynode_get(http->items[s], "name"), sub,
                                "server name \"%s\" is already used by http[%zu]", h->name, o);
            }
            if (g->http[o].port == h->port &&
                cg_model_http_is_tls(&g->http[o]) != cg_model_http_is_tls(h)) {
                snprintf(sub, sizeof(sub), ".http[%zu].port", s);
                cg_model_errorf(ctx, cg_ynode_get(http->items[s], "port"), sub,
                                "port %lld is served with%s TLS by http[%zu]: a port is either "
                                "TLS or plain text",
                                (long long)h->port, cg_model_http_is_tls(h) ? "out" : "", o);
            } else if (g->http[o].port == h->port &&
                       strcmp(g->http[o].hostname, h->hostname) == 0) {
                snprintf(sub, sizeof(sub), ".http[%zu]", s);
                cg_model_errorf(ctx, http->items[s], sub,
                                "port %lld and hostname %s are already served by http[%zu]",
                                (long long)h->port, h->hostname, o);
            }
        }
        for (size_t r = 0; r < h->routing.nrules; r++) {
            int k = rule_dest(&h->routing.rules[r]);
            if (k == 0) continue;
            if (first == 0) {
                first = k, first_s = s, first_r = r;
            } else if (k != first) {
                snprintf(sub, sizeof(sub), ".http[%zu].routing.rules[%zu].route", s, r);
                cg_model_errorf(ctx, route_node(map, s, r), sub,
                                "%s here but http[%zu].routing.rules[%zu] uses %s: a Gateway "
                                "routes either to clusters "
                                "or to services, not both",
                                k == 1 ? "clusterDestination" : "serviceDestination", first_s,
                                first_r, first == 1 ? "clusterDestination" : "serviceDestination");
            }
        }
    }
}

static const cg_model_field_t gateway_spec_fields[] = {
    STRUCT(cg_model_gateway_spec_t, "workloadSelector", workload_selector, REQ, selector_schema,
           .doc = "the gateway instances this Gateway configures"),
    LIST(cg_model_gateway_spec_t, "http", http, nhttp, 0, http_schema, .doc = "HTTP servers"),
    UNSUPPORTED("tls", "not supported by crossgate yet (TLS passthrough servers)"),
    UNSUPPORTED("tcp", "not supported by crossgate yet (TCP servers)"),
    UNSUPPORTED("wasmPlugins", "not supported by crossgate"),
    UNSUPPORTED("waf", "not supported by crossgate"),
    UNSUPPORTED("configGenerationMetadata", "not supported by crossgate"),
};
static SCHEMA(gateway_spec_schema, cg_model_gateway_spec_t, gateway_spec_fields,
              .check = check_gateway_spec);

/* ---- documents ---- */

#define DOC_FIELDS(T, meta_s, spec_s)                                                              \
    STR(T, "apiVersion", api_version, REQ,                                                         \
        .doc = "crossgate/v1 (Gateway: also gateway.tsb.tetrate.io/v2)"),                          \
        STR(T, "kind", kind, REQ, .doc = "the resource kind"),                                     \
        STRUCT(T, "metadata", metadata, REQ, meta_s, .doc = "identity"),                           \
        STRUCT(T, "spec", spec, REQ, spec_s, .doc = "the resource itself")

static const cg_model_field_t cluster_doc_fields[] = {
    DOC_FIELDS(cg_model_cluster_t, meta_cluster_schema, cluster_spec_schema)};
static const cg_model_field_t service_doc_fields[] = {
    DOC_FIELDS(cg_model_service_t, meta_service_schema, service_spec_schema)};
static const cg_model_field_t gateway_doc_fields[] = {
    DOC_FIELDS(cg_model_gateway_t, meta_gateway_schema, gateway_spec_schema)};
static SCHEMA(cluster_doc_schema, cg_model_cluster_t, cluster_doc_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_cluster_t, pos));
static SCHEMA(service_doc_schema, cg_model_service_t, service_doc_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_service_t, pos));
static SCHEMA(gateway_doc_schema, cg_model_gateway_t, gateway_doc_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_gateway_t, pos));

/* ---- Secret (v1, as Kubernetes) ---- */

static const cg_model_field_t meta_secret_fields[] = {
    STR(cg_model_meta_t, "name", name, REQ | NONEMPTY, .check = cg_model_check_name,
        .doc = "secret name; http[].tls.secretName names it"),
    STR(cg_model_meta_t, "namespace", namespace_, NONEMPTY, .check = cg_model_check_name,
        .doc = "the namespace of the Gateways that may use it"),
    MAP(cg_model_meta_t, "labels", labels, nlabels, 0, .keycheck = cg_model_check_label_key,
        .doc = "kept, not interpreted"),
    MAP(cg_model_meta_t, "annotations", annotations, nannotations, 0,
        .doc = "kept, not interpreted"),
    META_RESOURCE_VERSION,
};
static SCHEMA(meta_secret_schema, cg_model_meta_t, meta_secret_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_meta_t, pos));

static const cg_model_field_t secret_keys_fields[] = {
    STR(cg_model_secret_keys_t, "cert", cert, NONEMPTY,
        .doc = "the certificate chain (PEM, leaf first): Tetrate's name"),
    STR(cg_model_secret_keys_t, "key", key, NONEMPTY, .doc = "the leaf's private key (PEM)"),
    STR(cg_model_secret_keys_t, "cacert", cacert, NONEMPTY,
        .doc = "CAs that client certificates must chain to (PEM; MUTUAL)"),
    STR(cg_model_secret_keys_t, "tls.crt", tls_crt, NONEMPTY,
        .doc = "kubernetes.io/tls name of cert"),
    STR(cg_model_secret_keys_t, "tls.key", tls_key, NONEMPTY,
        .doc = "kubernetes.io/tls name of key"),
    STR(cg_model_secret_keys_t, "ca.crt", ca_crt, NONEMPTY,
        .doc = "kubernetes.io/tls name of cacert"),
};
static const cg_model_oneof_t secret_keys_oneofs[] = {
    {{"cert", "tls.crt"}, 1}, {{"key", "tls.key"}, 1}, {{"cacert", "ca.crt"}, 0}};
static SCHEMA(secret_keys_schema, cg_model_secret_keys_t, secret_keys_fields,
              .oneofs = secret_keys_oneofs, .noneofs = 3);

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

/* Standard base64 with padding; whitespace (line breaks) is skipped. A malloc'd NUL-terminated
 * result, or NULL when s is not base64 or the text holds a NUL. */
static char *b64_decode(const char *s)
{
    size_t n = strlen(s), o = 0, pad = 0, nchars = 0;
    char *out = cg_xmalloc(n / 4 * 3 + 4);
    uint32_t acc = 0;
    int bits = 0;
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
        if (c == '=') {
            pad++;
            continue;
        }
        int v = b64_value(c);
        if (v < 0 || pad) goto bad;
        nchars++;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    size_t rem = nchars % 4;
    if (rem == 1 || pad > 2 || (pad && pad != (4 - rem) % 4) || (acc & ((1u << bits) - 1)) != 0 ||
        memchr(out, 0, o) != NULL)
        goto bad;
    out[o] = '\0';
    return out;
bad:
    free(out);
    return NULL;
}

/* The key node of name in map (block scalars' values have no useful start mark), else map. */
static const cg_ynode_t *key_or(const cg_ynode_t *map, const char *name)
{
    for (size_t i = 0; map && map->kind == CG_YNODE_MAP && i < map->n; i++) {
        const cg_ynode_t *k = cg_ynode_key(map, i);
        if (k->kind == CG_YNODE_SCALAR && strcmp(k->text, name) == 0) return k;
    }
    return map;
}

static char *secret_value(cg_model_ctx_t *ctx, const cg_ynode_t *keys, const char *a,
                          const char *va, const char *b, const char *vb, int base64)
{
    const char *v = va ? va : vb;
    if (v == NULL) return NULL;
    if (!base64) return cg_xstrdup(v);
    char *d = b64_decode(v);
    if (d == NULL)
        cg_model_errorf(ctx, key_or(keys, va ? a : b), va ? a : b,
                        "expected base64 (as kubectl writes data)");
    return d;
}

static void check_secret(cg_model_ctx_t *ctx, const cg_ynode_t *map, void *obj)
{
    cg_model_secret_t *sec = obj;
    int base64 = sec->data != NULL;
    const cg_model_secret_keys_t *k = base64 ? sec->data : sec->string_data;
    const char *field = base64 ? "data" : "stringData";
    const cg_ynode_t *keys = cg_ynode_get(map, field);
    size_t saved = cg_model_path_push(ctx, ".%s", field);
    int before = ctx->nerrors;
    char *cert = secret_value(ctx, keys, "cert", k->cert, "tls.crt", k->tls_crt, base64);
    char *key = secret_value(ctx, keys, "key", k->key, "tls.key", k->tls_key, base64);
    char *ca = secret_value(ctx, keys, "cacert", k->cacert, "ca.crt", k->ca_crt, base64);
    char *warning = NULL;
    if (ctx->nerrors == before) {
        cg_tls_pem_t pem = {cert, strlen(cert), key, strlen(key), ca, ca ? strlen(ca) : 0};
        cg_buf_t err = {0};
        if (cg_tls_pem_check(&pem, &warning, &err) != 0) {
            cg_buf_append(&err, "", 1);
            const char *e = cg_buf_data(&err);
            const char *name = strncmp(e, "key", 3) == 0  ? (k->key ? "key" : "tls.key")
                               : strncmp(e, "ca", 2) == 0 ? (k->cacert ? "cacert" : "ca.crt")
                                                          : (k->cert ? "cert" : "tls.crt");
            const char *colon = strchr(e, ':');
            cg_model_errorf(ctx, key_or(keys, name), name, "%s",
                            colon ? colon + 1 + (colon[1] == ' ') : e);
        }
        cg_buf_free(&err);
    }
    cg_model_path_pop(ctx, saved);
    if (ctx->nerrors != before) {
        free(cert), free(key), free(ca), free(warning);
        return;
    }
    sec->cert = cert, sec->key = key, sec->ca = ca, sec->warning = warning;
}

static const cg_model_field_t secret_doc_fields[] = {
    STR(cg_model_secret_t, "apiVersion", api_version, REQ, .doc = "v1"),
    STR(cg_model_secret_t, "kind", kind, REQ, .doc = "Secret"),
    STRUCT(cg_model_secret_t, "metadata", metadata, REQ, meta_secret_schema, .doc = "identity"),
    STR(cg_model_secret_t, "type", type, 0, .doc = "kept: kubernetes.io/tls, Opaque"),
    OBJ(cg_model_secret_t, "stringData", string_data, 0, secret_keys_schema,
        .doc = "the material as PEM text; exactly one of stringData, data"),
    OBJ(cg_model_secret_t, "data", data, 0, secret_keys_schema,
        .doc = "the material as base64 of PEM (as kubectl writes it)"),
};
static const cg_model_oneof_t secret_oneofs[] = {{{"stringData", "data"}, 1}};
static SCHEMA(secret_doc_schema, cg_model_secret_t, secret_doc_fields, .oneofs = secret_oneofs,
              .noneofs = 1, .has_pos = 1, .pos_off = offsetof(cg_model_secret_t, pos),
              .check = check_secret);

void cg_model_secret_free(cg_model_secret_t *s)
{
    if (s->key) OPENSSL_cleanse(s->key, strlen(s->key)); /* no key left in freed memory */
    free(s->cert), free(s->key), free(s->ca), free(s->warning);
    s->cert = s->key = s->ca = s->warning = NULL;
    cg_model_schema_free(&secret_doc_schema, s);
}

/* ---- WorkspaceSetting (api.tsb.tetrate.io/v2) ---- */

static const cg_model_field_t meta_workspace_setting_fields[] = {
    STR(cg_model_meta_t, "name", name, REQ | NONEMPTY, .check = cg_model_check_name,
        .doc = "workspace setting name"),
    STR(cg_model_meta_t, "organization", organization, 0,
        .doc = "Tetrate hierarchy: kept, not interpreted"),
    STR(cg_model_meta_t, "tenant", tenant, 0, .doc = "Tetrate hierarchy: kept, not interpreted"),
    STR(cg_model_meta_t, "workspace", workspace, 0,
        .doc = "Tetrate hierarchy: kept, not interpreted"),
    MAP(cg_model_meta_t, "labels", labels, nlabels, 0, .keycheck = cg_model_check_label_key,
        .doc = "kept, not interpreted"),
    MAP(cg_model_meta_t, "annotations", annotations, nannotations, 0,
        .doc = "kept, not interpreted"),
};
static SCHEMA(meta_workspace_setting_schema, cg_model_meta_t, meta_workspace_setting_fields,
              .has_pos = 1, .pos_off = offsetof(cg_model_meta_t, pos));

static const cg_model_field_t exposed_service_fields[] = {
    MAP(cg_model_exposed_service_t, "serviceLabels", service_labels, nservice_labels,
        REQ | NONEMPTY, .keycheck = cg_model_check_label_key,
        .doc = "a Service is exposed when its metadata.labels hold every one"),
};
static SCHEMA(exposed_service_schema, cg_model_exposed_service_t, exposed_service_fields);

static const cg_model_field_t eastwest_fields[] = {
    STRUCT(cg_model_eastwest_settings_t, "workloadSelector", workload_selector, REQ,
           selector_schema, .doc = "the east-west gateway instances"),
    LIST(cg_model_eastwest_settings_t, "exposedServices", exposed_services, nexposed_services, 0,
         exposed_service_schema, .doc = "the services they expose; none listed: every service"),
};
static SCHEMA(eastwest_schema, cg_model_eastwest_settings_t, eastwest_fields);

static const cg_model_field_t workspace_setting_spec_fields[] = {
    STR(cg_model_workspace_setting_spec_t, "displayName", display_name, 0,
        .doc = "kept, not interpreted"),
    STR(cg_model_workspace_setting_spec_t, "description", description, 0,
        .doc = "kept, not interpreted"),
    LIST(cg_model_workspace_setting_spec_t, "defaultEastWestGatewaySettings", east_west, neast_west,
         0, eastwest_schema, .doc = "east-west gateways and what they expose"),
    UNSUPPORTED("defaultTrafficSetting", "not supported by crossgate"),
    UNSUPPORTED("defaultSecuritySetting", "not supported by crossgate"),
    UNSUPPORTED("regionalFailover", "not supported here: give failoverSettings on the Gateway"),
    UNSUPPORTED("failoverSettings", "not supported here: give failoverSettings on the Gateway"),
    UNSUPPORTED("configGenerationMetadata", "not supported by crossgate"),
};
static SCHEMA(workspace_setting_spec_schema, cg_model_workspace_setting_spec_t,
              workspace_setting_spec_fields);

static const cg_model_field_t workspace_setting_doc_fields[] = {
    STR(cg_model_workspace_setting_t, "apiVersion", api_version, REQ,
        .doc = "api.tsb.tetrate.io/v2"),
    STR(cg_model_workspace_setting_t, "kind", kind, REQ, .doc = "WorkspaceSetting"),
    STRUCT(cg_model_workspace_setting_t, "metadata", metadata, REQ, meta_workspace_setting_schema,
           .doc = "identity"),
    STRUCT(cg_model_workspace_setting_t, "spec", spec, REQ, workspace_setting_spec_schema,
           .doc = "the setting itself"),
};
static SCHEMA(workspace_setting_doc_schema, cg_model_workspace_setting_t,
              workspace_setting_doc_fields, .has_pos = 1,
              .pos_off = offsetof(cg_model_workspace_setting_t, pos));

const cg_model_schema_t *const cg_model_all_schemas[] = {
    &cluster_doc_schema,
    &meta_cluster_schema,
    &cluster_spec_schema,
    &locality_schema,
    &cluster_gateway_schema,
    &service_doc_schema,
    &meta_service_schema,
    &service_spec_schema,
    &endpoint_schema,
    &gateway_doc_schema,
    &meta_gateway_schema,
    &gateway_spec_schema,
    &selector_schema,
    &http_schema,
    &routing_schema,
    &rule_schema,
    &match_schema,
    &strmatch_schema,
    &route_schema,
    &service_dest_schema,
    &cluster_dest_schema,
    &cluster_ref_schema,
    &redirect_schema,
    &direct_schema,
    &retries_schema,
    &outlier_schema,
    &health_schema,
    &failover_schema,
    &failover_settings_schema,
    &regional_failover_schema,
    &tls_schema,
    &tls_files_schema,
    &secret_doc_schema,
    &meta_secret_schema,
    &secret_keys_schema,
    &workspace_setting_doc_schema,
    &meta_workspace_setting_schema,
    &workspace_setting_spec_schema,
    &eastwest_schema,
    &exposed_service_schema,
    NULL,
};

const cg_model_schema_t *cg_model_schema_for(const char *api_version, const char *kind,
                                             cg_model_kind_t *kind_out)
{
    if (strcmp(api_version, "crossgate/v1") == 0) {
        if (strcmp(kind, "Cluster") == 0) return *kind_out = CG_KIND_CLUSTER, &cluster_doc_schema;
        if (strcmp(kind, "Service") == 0) return *kind_out = CG_KIND_SERVICE, &service_doc_schema;
        if (strcmp(kind, "Gateway") == 0) return *kind_out = CG_KIND_GATEWAY, &gateway_doc_schema;
    } else if (strcmp(api_version, "v1") == 0) {
        if (strcmp(kind, "Secret") == 0) return *kind_out = CG_KIND_SECRET, &secret_doc_schema;
    } else if (strcmp(api_version, "gateway.tsb.tetrate.io/v2") == 0) {
        if (strcmp(kind, "Gateway") == 0) return *kind_out = CG_KIND_GATEWAY, &gateway_doc_schema;
    } else if (strcmp(api_version, "api.tsb.tetrate.io/v2") == 0) {
        if (strcmp(kind, "WorkspaceSetting") == 0)
            return *kind_out = CG_KIND_WORKSPACE_SETTING, &workspace_setting_doc_schema;
    }
    return NULL;
}

const char *cg_model_kind_name(cg_model_kind_t kind)
{
    switch (kind) {
    case CG_KIND_CLUSTER: return "Cluster";
    case CG_KIND_SERVICE: return "Service";
    case CG_KIND_SECRET: return "Secret";
    case CG_KIND_WORKSPACE_SETTING: return "WorkspaceSetting";
    default: return "Gateway";
    }
}

int cg_model_gateway_routes_to_clusters(const cg_model_gateway_t *gw)
{
    for (size_t s = 0; s < gw->spec.nhttp; s++)
        for (size_t r = 0; r < gw->spec.http[s].routing.nrules; r++)
            if (rule_dest(&gw->spec.http[s].routing.rules[r]) == 1) return 1;
    return 0;
}

int cg_model_strmatch_kind(const cg_model_strmatch_t *m, const char **value)
{
    if (m->exact) return *value = m->exact, 0;
    if (m->prefix) return *value = m->prefix, 1;
    *value = m->regex ? m->regex : "";
    return 2;
}
