/* Bad input, table-driven: each case is a document and the exact error lines it must give,
 * "file:line:col: field.path: message". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/err.h"
#include "model/model.h"

#include <stdio.h>
#include <string.h>

/* A Gateway whose first rule starts at line 12, column 9 (after "      - "). */
#define HEAD                                                                                       \
    "apiVersion: crossgate/v1\n"                                                                   \
    "kind: Gateway\n"                                                                              \
    "metadata: {name: g}\n"                                                                        \
    "spec:\n"                                                                                      \
    "  workloadSelector: {namespace: ns, labels: {app: a}}\n"                                      \
    "  http:\n"                                                                                    \
    "  - name: s\n"                                                                                \
    "    port: 8080\n"                                                                             \
    "    hostname: h.example.com\n"                                                                \
    "    routing:\n"                                                                               \
    "      rules:\n"
#define RULE(r) HEAD "      - " r "\n"
/* A server field at line 13, column 5. */
#define SERVER(x) HEAD "      - route: {clusterDestination: {}}\n    " x "\n"
/* A Cluster / Service whose spec fields start at line 5. */
#define CLUSTER "apiVersion: crossgate/v1\nkind: Cluster\nmetadata: {name: c}\nspec:\n"
/* A WorkspaceSetting whose east-west entries start at line 5, column 5 (after "  - "). */
#define WSETTING                                                                                   \
    "apiVersion: api.tsb.tetrate.io/v2\nkind: WorkspaceSetting\nmetadata: {name: ws}\nspec:\n"     \
    "  defaultEastWestGatewaySettings:\n  - "
#define SERVICE                                                                                    \
    "apiVersion: crossgate/v1\nkind: Service\nmetadata: {name: p, namespace: n, cluster: "         \
    "c}\nspec:\n"

static const struct {
    const char *name, *yaml, *want;
} cases[] = {
    {"wsetting_wrong_kind", "apiVersion: api.tsb.tetrate.io/v2\nkind: Workspace\n",
     "t.yaml:2:7: kind: kind \"Workspace\" is not supported for api.tsb.tetrate.io/v2 (only "
     "WorkspaceSetting)\n"},
    {"wsetting_no_selector", WSETTING "exposedServices: []\n",
     "t.yaml:6:5: spec.defaultEastWestGatewaySettings[0].workloadSelector: missing required "
     "field\n"},
    {"wsetting_selector_no_labels", WSETTING "workloadSelector: {namespace: eastwest}\n",
     "t.yaml:6:23: spec.defaultEastWestGatewaySettings[0].workloadSelector.labels: missing "
     "required field\n"},
    {"wsetting_empty_service_labels",
     WSETTING "workloadSelector: {namespace: e, labels: {app: ew}}\n"
              "    exposedServices: [{serviceLabels: {}}]\n",
     "t.yaml:7:39: spec.defaultEastWestGatewaySettings[0].exposedServices[0].serviceLabels: "
     "must have at least one entry\n"},
    {"wsetting_exposed_not_list",
     WSETTING "workloadSelector: {namespace: e, labels: {app: ew}}\n"
              "    exposedServices: {serviceLabels: {app: p}}\n",
     "t.yaml:7:22: spec.defaultEastWestGatewaySettings[0].exposedServices: expected a list, got "
     "a mapping\n"},
    {"wsetting_unknown_field",
     WSETTING "workloadSelector: {namespace: e, labels: {app: ew}}\n"
              "    exposedService: []\n",
     "t.yaml:7:5: spec.defaultEastWestGatewaySettings[0].exposedService: unknown field\n"},
    {"wsetting_unsupported",
     "apiVersion: api.tsb.tetrate.io/v2\nkind: WorkspaceSetting\nmetadata: {name: ws}\n"
     "spec: {regionalFailover: []}\n",
     "t.yaml:4:26: spec.regionalFailover: not supported here: give failoverSettings on the "
     "Gateway\n"},
    {"wsetting_no_name",
     "apiVersion: api.tsb.tetrate.io/v2\nkind: WorkspaceSetting\nmetadata: {tenant: t}\n"
     "spec: {}\n",
     "t.yaml:3:11: metadata.name: missing required field\n"},
    {"wsetting_bad_label_key",
     WSETTING "workloadSelector: {namespace: e, labels: {app: ew}}\n"
              "    exposedServices: [{serviceLabels: {\"a b\": x}}]\n",
     "t.yaml:7:40: spec.defaultEastWestGatewaySettings[0].exposedServices[0].serviceLabels.a b: "
     "expected a label key (letters, digits, '-', '_', '.', '/')\n"},
    {"yaml_syntax",
     "apiVersion: crossgate/v1\n"
     "kind: [Gateway\n",
     "t.yaml:3:1: flow sequence without a closing bracket\n"},
    {"yaml_tab",
     "apiVersion: crossgate/v1\n"
     "\tkind: Gateway\n",
     "t.yaml:1:13: invalid multiline plain key\n"},
    {"not_mapping",
     "- a\n"
     "- b\n",
     "t.yaml:1:1: expected a resource (a mapping with apiVersion, kind, metadata, spec), got a "
     "list\n"},
    {"no_apiversion",
     "kind: Cluster\n"
     "metadata: {name: c}\n",
     "t.yaml:1:1: apiVersion: missing required field\n"},
    {"bad_apiversion",
     "apiVersion: v1\n"
     "kind: Cluster\n",
     "t.yaml:2:7: kind: kind \"Cluster\" is not supported for v1 (only Secret)\n"},
    {"bad_apiversion_other",
     "apiVersion: v2\n"
     "kind: Cluster\n",
     "t.yaml:1:13: apiVersion: expected crossgate/v1, gateway.tsb.tetrate.io/v2, "
     "api.tsb.tetrate.io/v2 or v1, got \"v2\"\n"},
    {"bad_kind",
     "apiVersion: crossgate/v1\n"
     "kind: Pod\n",
     "t.yaml:2:7: kind: unknown kind \"Pod\" (expected Cluster, Service or Gateway)\n"},
    {"tetrate_cluster",
     "apiVersion: gateway.tsb.tetrate.io/v2\n"
     "kind: Cluster\n",
     "t.yaml:2:7: kind: kind \"Cluster\" is not supported for gateway.tsb.tetrate.io/v2 (only "
     "Gateway)\n"},
    {"kind_type",
     "apiVersion: crossgate/v1\n"
     "kind: 3\n",
     "t.yaml:2:7: kind: expected a string, got an integer\n"},
    {"missing_metadata_spec",
     "apiVersion: crossgate/v1\n"
     "kind: Cluster\n",
     "t.yaml:1:1: metadata: missing required field\n"
     "t.yaml:1:1: spec: missing required field\n"},
    {"unknown_field",
     CLUSTER "  locality: {region: r}\n"
             "  regoin: x\n",
     "t.yaml:6:3: spec.regoin: unknown field\n"},
    {"unknown_field_near", RULE("redirect: {redirect_code: 302}"),
     "t.yaml:12:20: spec.http[0].routing.rules[0].redirect.redirect_code: unknown field (did you "
     "mean \"redirectCode\"?)\n"},
    {"unknown_toplevel",
     CLUSTER "  locality: {region: r}\n"
             "status: {}\n",
     "t.yaml:6:1: status: unknown field\n"},
    {"missing_region", CLUSTER "  locality: {zone: z}\n",
     "t.yaml:5:13: spec.locality.region: missing required field\n"},
    {"cluster_gw_address",
     CLUSTER "  locality: {region: r}\n"
             "  gateways: [{address: host.local, namespace: n}]\n",
     "t.yaml:6:24: spec.gateways[0].address: expected an IP address literal, got \"host.local\"\n"},
    {"cluster_gw_missing",
     CLUSTER "  locality: {region: r}\n"
             "  gateways:\n"
             "  - labels: {app: x}\n",
     "t.yaml:7:5: spec.gateways[0].address: missing required field\n"
     "t.yaml:7:5: spec.gateways[0].namespace: missing required field\n"},
    {"labels_type",
     CLUSTER "  locality: {region: r}\n"
             "  gateways: [{address: 10.0.0.1, namespace: n, labels: [app]}]\n",
     "t.yaml:6:56: spec.gateways[0].labels: expected a mapping, got a list\n"},
    {"svc_missing_hostname", SERVICE "  endpoints: []\n",
     "t.yaml:5:3: spec.hostname: missing required field\n"},
    {"svc_endpoint",
     SERVICE "  hostname: p.n\n"
             "  endpoints:\n"
             "  - {address: 10.0.0.1}\n"
             "  - {address: 10.0.0.1, port: 65536, weight: 0}\n",
     "t.yaml:7:5: spec.endpoints[0].port: missing required field\n"
     "t.yaml:8:31: spec.endpoints[1].port: must be between 1 and 65535, got 65536\n"
     "t.yaml:8:46: spec.endpoints[1].weight: must be between 1 and 1000000, got 0\n"},
    {"svc_metadata",
     "apiVersion: crossgate/v1\n"
     "kind: Service\n"
     "metadata: {name: p}\n"
     "spec: {hostname: p.n}\n",
     "t.yaml:3:11: metadata.namespace: missing required field\n"
     "t.yaml:3:11: metadata.cluster: missing required field\n"},
    {"port_string",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: s\n"
     "    port: \"8080\"\n"
     "    hostname: h.example.com\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:8:11: spec.http[0].port: expected an integer, got a string\n"},
    {"port_zero",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: s\n"
     "    port: 0\n"
     "    hostname: h.example.com\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:8:11: spec.http[0].port: must be between 1 and 65535, got 0\n"},
    {"port_reserved",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: s\n"
     "    port: 15443\n"
     "    hostname: h.example.com\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:8:11: spec.http[0].port: must not be 15443 (reserved)\n"},
    {"port_big",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: s\n"
     "    port: 65536\n"
     "    hostname: h.example.com\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:8:11: spec.http[0].port: must be between 1 and 65535, got 65536\n"},
    {"port_missing",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: s\n"
     "    hostname: h.example.com\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:7:5: spec.http[0].port: missing required field\n"},
    {"hostname_bad",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: s\n"
     "    port: 8080\n"
     "    hostname: h_x..com\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:9:15: spec.http[0].hostname: expected a DNS name, \"*.\" followed by a DNS name, or "
     "\"*\", got \"h_x..com\"\n"},
    {"hostname_empty",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: s\n"
     "    port: 8080\n"
     "    hostname: \"\"\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:9:15: spec.http[0].hostname: must not be empty\n"},
    {"name_empty",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: \"\"\n"
     "    port: 8080\n"
     "    hostname: h.example.com\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:7:11: spec.http[0].name: must not be empty\n"},
    {"rules_empty",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: s\n"
     "    port: 8080\n"
     "    hostname: h.example.com\n"
     "    routing: {rules: []}\n",
     "t.yaml:10:22: spec.http[0].routing.rules: must have at least one entry\n"},
    {"routing_missing",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  http:\n"
     "  - name: s\n"
     "    port: 8080\n"
     "    hostname: h.example.com\n",
     "t.yaml:7:5: spec.http[0].routing: missing required field\n"},
    {"selector_labels_empty",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  workloadSelector: {namespace: ns, labels: {}}\n"
     "  http:\n"
     "  - name: s\n"
     "    port: 8080\n"
     "    hostname: h.example.com\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:5:45: spec.workloadSelector.labels: must have at least one entry\n"},
    {"selector_missing",
     "apiVersion: crossgate/v1\n"
     "kind: Gateway\n"
     "metadata: {name: g}\n"
     "spec:\n"
     "  http:\n"
     "  - name: s\n"
     "    port: 8080\n"
     "    hostname: h.example.com\n"
     "    routing:\n"
     "      rules:\n"
     "      - route: {clusterDestination: {}}\n",
     "t.yaml:5:3: spec.workloadSelector: missing required field\n"},
    {"strmatch_two",
     RULE("match: [{uri: {exact: /a, prefix: /b}}]\n"
          "        route: {clusterDestination: {}}"),
     "t.yaml:12:23: spec.http[0].routing.rules[0].match[0].uri: expected exactly one of exact, "
     "prefix, regex\n"},
    {"strmatch_none",
     RULE("match: [{uri: {}}]\n"
          "        route: {clusterDestination: {}}"),
     "t.yaml:12:23: spec.http[0].routing.rules[0].match[0].uri: expected exactly one of exact, "
     "prefix, regex\n"},
    {"strmatch_string",
     RULE("match: [{uri: /a}]\n"
          "        route: {clusterDestination: {}}"),
     "t.yaml:12:23: spec.http[0].routing.rules[0].match[0].uri: expected a mapping, got a "
     "string\n"},
    {"strmatch_regex",
     RULE("match: [{headers: {x-a: {regex: \"(a\"}}}]\n"
          "        route: {clusterDestination: {}}"),
     "t.yaml:12:41: spec.http[0].routing.rules[0].match[0].headers.x-a.regex: invalid regular "
     "expression: Unmatched ( or \\(, got \"(a\"\n"},
    {"strmatch_unknown",
     RULE("match: [{uri: {suffix: /a}}]\n"
          "        route: {clusterDestination: {}}"),
     "t.yaml:12:24: spec.http[0].routing.rules[0].match[0].uri.suffix: unknown field\n"
     "t.yaml:12:23: spec.http[0].routing.rules[0].match[0].uri: expected exactly one of exact, "
     "prefix, regex\n"},
    {"header_upper",
     RULE("match: [{headers: {X-Env: {exact: a}}}]\n"
          "        route: {clusterDestination: {}}"),
     "t.yaml:12:28: spec.http[0].routing.rules[0].match[0].headers.X-Env: header names must be "
     "lowercase\n"},
    {"header_bool",
     RULE("match: [{headers: {x-healthcheck: {exact: true}}}]\n"
          "        route: {clusterDestination: {}}"),
     "t.yaml:12:51: spec.http[0].routing.rules[0].match[0].headers.x-healthcheck.exact: expected a "
     "string, got a boolean (quote it: \"true\")\n"},
    {"match_not_list",
     RULE("match: {uri: {exact: /}}\n"
          "        route: {clusterDestination: {}}"),
     "t.yaml:12:16: spec.http[0].routing.rules[0].match: expected a list, got a mapping\n"},
    {"rule_no_action", RULE("match: [{uri: {exact: /}}]"),
     "t.yaml:12:9: spec.http[0].routing.rules[0]: expected exactly one of route, redirect, "
     "directResponse\n"},
    {"rule_two_actions",
     RULE("route: {clusterDestination: {}}\n"
          "        directResponse: {status: 200}"),
     "t.yaml:12:9: spec.http[0].routing.rules[0]: expected exactly one of route, redirect, "
     "directResponse\n"},
    {"route_empty", RULE("route: {}"),
     "t.yaml:12:16: spec.http[0].routing.rules[0].route: expected exactly one of "
     "serviceDestination, clusterDestination\n"},
    {"route_both", RULE("route: {clusterDestination: {}, serviceDestination: {host: a/b}}"),
     "t.yaml:12:16: spec.http[0].routing.rules[0].route: expected exactly one of "
     "serviceDestination, clusterDestination\n"},
    {"weight_negative", RULE("route: {clusterDestination: {clusters: [{name: c1, weight: -1}]}}"),
     "t.yaml:12:68: spec.http[0].routing.rules[0].route.clusterDestination.clusters[0].weight: "
     "must be between 0 and 1000000, got -1\n"},
    {"weight_float", RULE("route: {clusterDestination: {clusters: [{name: c1, weight: 1.5}]}}"),
     "t.yaml:12:68: spec.http[0].routing.rules[0].route.clusterDestination.clusters[0].weight: "
     "expected an integer, got a number\n"},
    {"weight_string", RULE("route: {clusterDestination: {clusters: [{name: c1, weight: \"50\"}]}}"),
     "t.yaml:12:68: spec.http[0].routing.rules[0].route.clusterDestination.clusters[0].weight: "
     "expected an integer, got a string\n"},
    {"weight_partial",
     RULE("route:\n"
          "          clusterDestination:\n"
          "            clusters:\n"
          "            - {name: c1, weight: 50}\n"
          "            - {name: c2}"),
     "t.yaml:16:15: spec.http[0].routing.rules[0].route.clusterDestination.clusters[1].weight: "
     "missing required field (weights are given on other entries)\n"},
    {"weight_zero",
     RULE(
         "route: {clusterDestination: {clusters: [{name: c1, weight: 0}, {name: c2, weight: 0}]}}"),
     "t.yaml:12:48: spec.http[0].routing.rules[0].route.clusterDestination.clusters: weights must "
     "not all be 0\n"},
    {"cluster_entry_empty", RULE("route: {clusterDestination: {clusters: [{weight: 1}]}}"),
     "t.yaml:12:49: spec.http[0].routing.rules[0].route.clusterDestination.clusters[0]: expected "
     "exactly one of name, labels\n"},
    {"cluster_entry_both",
     RULE("route: {clusterDestination: {clusters: [{name: c1, labels: {a: b}}]}}"),
     "t.yaml:12:49: spec.http[0].routing.rules[0].route.clusterDestination.clusters[0]: expected "
     "exactly one of name, labels\n"},
    {"cluster_entry_twice",
     RULE("route: {clusterDestination: {clusters: [{name: c1}, {name: c1}]}}"),
     "t.yaml:12:68: spec.http[0].routing.rules[0].route.clusterDestination.clusters[1].name: "
     "cluster \"c1\" is listed twice\n"},
    {"cluster_network", RULE("route: {clusterDestination: {clusters: [{network: vpc-1}]}}"),
     "t.yaml:12:59: spec.http[0].routing.rules[0].route.clusterDestination.clusters[0].network: "
     "not supported by crossgate (deprecated in the Tetrate API): use labels\n"
     "t.yaml:12:49: spec.http[0].routing.rules[0].route.clusterDestination.clusters[0]: expected "
     "exactly one of name, labels\n"},
    {"svc_host_pattern", RULE("route: {serviceDestination: {host: productpage, port: 9080}}"),
     "t.yaml:12:44: spec.http[0].routing.rules[0].route.serviceDestination.host: expected "
     "\"<namespace>/<fqdn>\", got \"productpage\"\n"},
    {"svc_host_missing", RULE("route: {serviceDestination: {port: 9080}}"),
     "t.yaml:12:37: spec.http[0].routing.rules[0].route.serviceDestination.host: missing required "
     "field\n"},
    {"svc_port_reserved", RULE("route: {serviceDestination: {host: a/b, port: 15443}}"),
     "t.yaml:12:55: spec.http[0].routing.rules[0].route.serviceDestination.port: must not be 15443 "
     "(reserved)\n"},
    {"mixed_servers",
     RULE("route: {clusterDestination: {}}\n"
          "  - name: t\n"
          "    port: 8081\n"
          "    hostname: t.example.com\n"
          "    routing:\n"
          "      rules:\n"
          "      - route: {serviceDestination: {host: a/b}}"),
     "t.yaml:18:16: spec.http[1].routing.rules[0].route: serviceDestination here but "
     "http[0].routing.rules[0] uses clusterDestination: a Gateway routes either to clusters or to "
     "services, not both\n"},
    {"mixed_rules",
     RULE("route: {serviceDestination: {host: a/b}}\n"
          "      - route: {clusterDestination: {}}"),
     "t.yaml:13:16: spec.http[0].routing.rules[1].route: clusterDestination here but "
     "http[0].routing.rules[0] uses serviceDestination: a Gateway routes either to clusters or to "
     "services, not both\n"},
    {"dup_server",
     RULE("route: {clusterDestination: {}}\n"
          "  - name: s\n"
          "    port: 8080\n"
          "    hostname: H.example.com\n"
          "    routing: {rules: [{directResponse: {status: 200}}]}"),
     "t.yaml:13:11: spec.http[1].name: server name \"s\" is already used by http[0]\n"
     "t.yaml:13:5: spec.http[1]: port 8080 and hostname h.example.com are already served by "
     "http[0]\n"},
    {"redirect_bad", RULE("redirect: {scheme: ftp, redirectCode: 200, port: 0}"),
     "t.yaml:12:28: spec.http[0].routing.rules[0].redirect.scheme: expected one of http, https, "
     "got \"ftp\"\n"
     "t.yaml:12:47: spec.http[0].routing.rules[0].redirect.redirectCode: must be between 300 and "
     "308, got 200\n"
     "t.yaml:12:58: spec.http[0].routing.rules[0].redirect.port: must be between 1 and 65535, got "
     "0\n"},
    {"direct_bad",
     RULE("directResponse: {body: x}\n"
          "      - directResponse: {status: 600, body: 3}"),
     "t.yaml:12:25: spec.http[0].routing.rules[0].directResponse.status: missing required field\n"
     "t.yaml:13:34: spec.http[0].routing.rules[1].directResponse.status: must be between 200 and "
     "599, got 600\n"
     "t.yaml:13:45: spec.http[0].routing.rules[1].directResponse.body: expected a string, got an "
     "integer (quote it: \"3\")\n"},
    {"timeout_int",
     RULE("route: {clusterDestination: {}}\n"
          "        timeout: 10"),
     "t.yaml:13:18: spec.http[0].routing.rules[0].timeout: a duration needs a unit (ms, s, m, h), "
     "e.g. \"10ms\" or \"10s\"\n"},
    {"timeout_bad",
     RULE("route: {clusterDestination: {}}\n"
          "        timeout: 1x"),
     "t.yaml:13:18: spec.http[0].routing.rules[0].timeout: expected a duration such as \"250ms\", "
     "\"1.5s\", \"2m\" or \"1h\", got \"1x\"\n"},
    {"timeout_bool",
     RULE("route: {clusterDestination: {}}\n"
          "        timeout: true"),
     "t.yaml:13:18: spec.http[0].routing.rules[0].timeout: expected a duration such as \"250ms\", "
     "\"1s\" or \"2m\", got a boolean\n"},
    {"timeout_big",
     RULE("route: {clusterDestination: {}}\n"
          "        timeout: 25h"),
     "t.yaml:13:18: spec.http[0].routing.rules[0].timeout: must be between 0ms and 24h, got 25h\n"},
    {"retry_on_unknown", SERVER("retries: {retryOn: [5xx, connect-timeout]}"),
     "t.yaml:13:30: spec.http[0].retries.retryOn[1]: expected one of connect-failure, "
     "refused-stream, reset, 5xx, gateway-error, retriable-4xx, per-try-timeout, 502, 503, 504, "
     "got \"connect-timeout\"\n"},
    {"retry_attempts", SERVER("retries: {attempts: -1, perTryTimeout: 5}"),
     "t.yaml:13:25: spec.http[0].retries.attempts: must be between 0 and 10, got -1\n"
     "t.yaml:13:44: spec.http[0].retries.perTryTimeout: a duration needs a unit (ms, s, m, h), "
     "e.g. \"5ms\" or \"5s\"\n"},
    {"retry_on_type", SERVER("retries: {retryOn: 5xx}"),
     "t.yaml:13:24: spec.http[0].retries.retryOn: expected a list, got a string\n"},
    {"outlier_bad",
     SERVER(
         "outlierDetection: {consecutiveGatewayErrors: 0, maxEjectionPercent: 101, interval: 0}"),
     "t.yaml:13:50: spec.http[0].outlierDetection.consecutiveGatewayErrors: must be between 1 and "
     "1000, got 0\n"
     "t.yaml:13:73: spec.http[0].outlierDetection.maxEjectionPercent: must be between 0 and 100, "
     "got 101\n"
     "t.yaml:13:88: spec.http[0].outlierDetection.interval: must be between 1ms and 24h, got 0\n"},
    {"outlier_times", SERVER("outlierDetection: {baseEjectionTime: 1m, maxEjectionTime: 30s}"),
     "t.yaml:13:63: spec.http[0].outlierDetection.maxEjectionTime: must not be less than "
     "baseEjectionTime (60000ms)\n"},
    {"health_bad", SERVER("healthCheck: {enabled: yes, healthyThreshold: 0}"),
     "t.yaml:13:28: spec.http[0].healthCheck.enabled: expected a boolean (true or false), got a "
     "string\n"
     "t.yaml:13:51: spec.http[0].healthCheck.healthyThreshold: must be between 1 and 1000, got "
     "0\n"},
    {"failover_bad", SERVER("failover: {overprovisioningFactor: 0.5}"),
     "t.yaml:13:40: spec.http[0].failover.overprovisioningFactor: must be between 1 and 1000, got "
     "0.5\n"},
    {"failover_type", SERVER("failover: {overprovisioningFactor: \"1.4\"}"),
     "t.yaml:13:40: spec.http[0].failover.overprovisioningFactor: expected a number, got a "
     "string\n"},
    {"failover_settings_unknown", SERVER("failoverSettings: {regionFailover: []}"),
     "t.yaml:13:24: spec.http[0].failoverSettings.regionFailover: unknown field\n"},
    {"failover_settings_type", SERVER("failoverSettings: [CLUSTER]"),
     "t.yaml:13:23: spec.http[0].failoverSettings: expected a mapping, got a list\n"},
    {"failover_priority_type", SERVER("failoverSettings: {failoverPriority: version}"),
     "t.yaml:13:42: spec.http[0].failoverSettings.failoverPriority: expected a list, got a "
     "string\n"},
    {"failover_priority_bad_key", SERVER("failoverSettings: {failoverPriority: [\"a b\", 3]}"),
     "t.yaml:13:43: spec.http[0].failoverSettings.failoverPriority[0]: expected a label key "
     "(letters, digits, '-', '_', "
     "'.', '/'), got \"a b\"\n"
     "t.yaml:13:50: spec.http[0].failoverSettings.failoverPriority[1]: expected a string, got an "
     "integer (quote "
     "it: \"3\")\n"},
    {"failover_priority_twice",
     SERVER("failoverSettings: {failoverPriority: [version, tier, version]}"),
     "t.yaml:13:58: spec.http[0].failoverSettings.failoverPriority[2]: label \"version\" is "
     "already "
     "failoverPriority[0]\n"},
    {"failover_priority_many",
     SERVER("failoverSettings: {failoverPriority: [l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10, "
            "l11, l12, l13, l14, l15, l16]}"),
     "t.yaml:13:42: spec.http[0].failoverSettings.failoverPriority: at most 16 labels, got 17\n"},
    {"regional_failover_twice",
     SERVER("failoverSettings: {regionalFailover: [{from: r1, to: r2}, {from: r1, to: r3}]}"),
     "t.yaml:13:70: spec.http[0].failoverSettings.regionalFailover[1].from: region \"r1\" is "
     "mapped twice "
     "(regionalFailover[0] sends it to \"r2\"): give each region one failover region\n"},
    {"regional_failover_self", SERVER("failoverSettings: {regionalFailover: [{from: r1, to: r1}]}"),
     "t.yaml:13:58: spec.http[0].failoverSettings.regionalFailover[0].to: region \"r1\" fails over "
     "to itself: "
     "name another region\n"},
    {"regional_failover_missing",
     SERVER("failoverSettings: {regionalFailover: [{from: r1}, {to: \"\", from: r2, too: r3}]}"),
     "t.yaml:13:43: spec.http[0].failoverSettings.regionalFailover[0].to: missing required field\n"
     "t.yaml:13:60: spec.http[0].failoverSettings.regionalFailover[1].to: must not be empty\n"
     "t.yaml:13:74: spec.http[0].failoverSettings.regionalFailover[1].too: unknown field\n"},
    {"regional_failover_type", SERVER("failoverSettings: {regionalFailover: {from: r1, to: r2}}"),
     "t.yaml:13:42: spec.http[0].failoverSettings.regionalFailover: expected a list, got a "
     "mapping\n"},
    {"topology_choice_bad", SERVER("failoverSettings: {topologyChoice: ZONE}"),
     "t.yaml:13:40: spec.http[0].failoverSettings.topologyChoice: expected one of CLUSTER, "
     "LOCALITY, got "
     "\"ZONE\"\n"},
    {"failover_settings_auto_lb",
     SERVER("failoverSettings: {automaticLoadBalancing: {enabled: {value: true}}}"),
     "t.yaml:13:48: spec.http[0].failoverSettings.automaticLoadBalancing: not supported by "
     "crossgate\n"},
    {"tls_no_material", SERVER("tls: {mode: SIMPLE}"),
     "t.yaml:13:10: spec.http[0].tls: mode SIMPLE needs exactly one of secretName, files\n"},
    {"tls_both_materials",
     SERVER("tls: {mode: SIMPLE, secretName: s, files: {serverCertificate: c, privateKey: k}}"),
     "t.yaml:13:10: spec.http[0].tls: mode SIMPLE needs exactly one of secretName, files\n"},
    {"tls_bad_mode", SERVER("tls: {mode: STRICT, secretName: s}"),
     "t.yaml:13:17: spec.http[0].tls.mode: expected one of DISABLED, SIMPLE, MUTUAL, got "
     "\"STRICT\"\n"},
    {"tls_simple_no_key", SERVER("tls: {mode: SIMPLE, files: {serverCertificate: c}}"),
     "t.yaml:13:32: spec.http[0].tls.files.privateKey: missing required field (mode SIMPLE)\n"},
    {"tls_mutual_no_ca",
     SERVER("tls: {mode: MUTUAL, files: {serverCertificate: c, privateKey: k}}"),
     "t.yaml:13:32: spec.http[0].tls.files.caCertificates: missing required field (mode "
     "MUTUAL)\n"},
    {"tls_unknown_version", SERVER("tls: {mode: SIMPLE, secretName: s, minProtocolVersion: TLSV2}"),
     "t.yaml:13:60: spec.http[0].tls.minProtocolVersion: expected one of TLS_AUTO, TLSV1_0, "
     "TLSV1_1, TLSV1_2, TLSV1_3, got \"TLSV2\"\n"},
    {"tls_min_above_max",
     SERVER("tls: {mode: SIMPLE, secretName: s, minProtocolVersion: TLSV1_3, maxProtocolVersion: "
            "TLSV1_2}"),
     "t.yaml:13:60: spec.http[0].tls.minProtocolVersion: TLSV1_3 is above maxProtocolVersion "
     "TLSV1_2\n"},
    {"tls_unknown_field", SERVER("tls: {mode: SIMPLE, secretName: s, credentialName: x}"),
     "t.yaml:13:40: spec.http[0].tls.credentialName: unknown field\n"},
    {"tls_empty_secret_name", SERVER("tls: {mode: SIMPLE, secretName: \"\"}"),
     "t.yaml:13:37: spec.http[0].tls.secretName: must not be empty\n"},
    {"tls_ciphers_type", SERVER("tls: {mode: SIMPLE, secretName: s, cipherSuites: AES}"),
     "t.yaml:13:54: spec.http[0].tls.cipherSuites: expected a list, got a string\n"},
    {"tls_mixed_port",
     SERVER("tls: {mode: SIMPLE, secretName: s}\n"
            "  - name: plain\n"
            "    port: 8080\n"
            "    hostname: other.example.com\n"
            "    routing: {rules: [{route: {clusterDestination: {}}}]}"),
     "t.yaml:15:11: spec.http[1].port: port 8080 is served with TLS by http[0]: a port is either "
     "TLS or plain text\n"},
    {"tls_port_15443",
     HEAD "      - route: {clusterDestination: {}}\n"
          "  - name: t\n"
          "    port: 15443\n"
          "    hostname: t.example.com\n"
          "    tls: {mode: SIMPLE, secretName: s}\n"
          "    routing: {rules: [{route: {clusterDestination: {}}}]}\n",
     "t.yaml:14:11: spec.http[1].port: must not be 15443 (reserved)\n"},
    {"tls_passthrough_refused",
     "apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n"
     "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
     "  tls: [{name: p, port: 443, hostname: a.example}]\n",
     "t.yaml:6:8: spec.tls: not supported by crossgate yet (TLS passthrough servers)\n"},
    {"secret_no_material",
     "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\n",
     "t.yaml:1:1: expected exactly one of stringData, data\n"},
    {"secret_no_key", "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {cert: x}\n",
     "t.yaml:4:13: stringData: expected exactly one of key, tls.key\n"},
    {"secret_both_names",
     "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {cert: x, tls.crt: y, key: "
     "k}\n",
     "t.yaml:4:13: stringData: expected exactly one of cert, tls.crt\n"},
    {"secret_not_pem",
     "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\nstringData: {cert: x, key: k}\n",
     "t.yaml:4:14: stringData.cert: not a PEM certificate\n"},
    {"secret_bad_base64",
     "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {tls.crt: \"!!\", tls.key: "
     "aGk=}\n",
     "t.yaml:4:8: data.tls.crt: expected base64 (as kubectl writes data)\n"},
    {"secret_base64_short",
     "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {cert: aGk, key: aGk==}\n",
     "t.yaml:4:19: data.key: expected base64 (as kubectl writes data)\n"},
    {"secret_wrong_kind_v1", "apiVersion: v1\nkind: ConfigMap\n",
     "t.yaml:2:7: kind: kind \"ConfigMap\" is not supported for v1 (only Secret)\n"},
    {"dup_key",
     CLUSTER "  locality: {region: r}\n"
             "  locality: {region: s}\n",
     "t.yaml:6:3: spec.locality: duplicate key (first at line 5)\n"},
    {"meta_name",
     "apiVersion: crossgate/v1\n"
     "kind: Cluster\n"
     "metadata: {name: \"a/b\"}\n"
     "spec: {locality: {region: r}}\n",
     "t.yaml:3:18: metadata.name: expected letters, digits, '-', '_' or '.', got \"a/b\"\n"},
    {"second_doc",
     "apiVersion: crossgate/v1\n"
     "kind: Cluster\n"
     "metadata: {name: c}\n"
     "spec:\n"
     "  locality: {region: r}\n"
     "---\n"
     "apiVersion: crossgate/v1\n"
     "kind: Cluster\n"
     "metadata: {name: c}\n"
     "spec:\n"
     "  locality: {}\n",
     "t.yaml:11:13: spec.locality.region: missing required field\n"},
    {"labels_value_null",
     CLUSTER "  locality: {region: r}\n"
             "  gateways: [{address: 10.0.0.1, namespace: n, labels: {app: }}]\n",
     "t.yaml:6:57: spec.gateways[0].labels.app: expected a string, got null\n"},
};

static void test_bad_input(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cg_resource_set_t *rs = (cg_resource_set_t *)&cases; /* must stay untouched */
        cg_buf_t err = {0};
        int rc = cg_model_load_buffer("t.yaml", cases[i].yaml, strlen(cases[i].yaml), &rs, &err);
        cg_buf_append(&err, "", 1);
        if (rc != CG_EPARSE) fail_msg("%s: rc %d, want CG_EPARSE", cases[i].name, rc);
        if (rs != (cg_resource_set_t *)&cases) fail_msg("%s: *out was written", cases[i].name);
        if (strcmp(cg_buf_data(&err), cases[i].want) != 0)
            fail_msg("%s:\n got: %s want: %s", cases[i].name, cg_buf_data(&err), cases[i].want);
        cg_buf_free(&err);
    }
}

/* The same documents as JSON give the same paths (JSON is parsed as JSON). */
static void test_json_errors(void **state)
{
    (void)state;
    const char *j = "{\n"
                    "  \"apiVersion\": \"crossgate/v1\",\n"
                    "  \"kind\": \"Service\",\n"
                    "  \"metadata\": {\"name\": \"p\", \"namespace\": \"n\", \"cluster\": \"c\"},\n"
                    "  \"spec\": {\"hostname\": \"p.n\", \"endpoints\": [{\"address\": "
                    "\"10.0.0.1\", \"port\": \"80\"}]}\n"
                    "}\n";
    cg_resource_set_t *rs = NULL;
    cg_buf_t err = {0};
    assert_int_equal(cg_model_load_buffer("s.json", j, strlen(j), &rs, &err), CG_EPARSE);
    cg_buf_append(&err, "", 1);
    assert_string_equal(cg_buf_data(&err),
                        "s.json:5:77: spec.endpoints[0].port: expected an integer, got a string\n");
    cg_buf_free(&err);
}

/* Every error of a document is reported, up to a cap; then one line says the rest was not
 * checked. Each document has its own budget. */
static void test_error_cap(void **state)
{
    (void)state;
    cg_buf_t doc = {0};
    cg_buf_append_str(&doc, CLUSTER "  locality: {region: r}\n  gateways:\n");
    for (int i = 0; i < 30; i++) cg_buf_printf(&doc, "  - {address: bad%d, namespace: n}\n", i);
    cg_buf_append_str(&doc, "---\n" CLUSTER "  locality: {}\n");
    cg_resource_set_t *rs = NULL;
    cg_buf_t err = {0};
    assert_int_equal(
        cg_model_load_buffer("t.yaml", cg_buf_data(&doc), cg_buf_size(&doc), &rs, &err), CG_EPARSE);
    cg_buf_append(&err, "", 1);
    int lines = 0;
    for (const char *p = cg_buf_data(&err); (p = strchr(p, '\n')) != NULL; p++) lines++;
    assert_int_equal(lines, 20 + 1 + 1);
    assert_non_null(
        strstr(cg_buf_data(&err),
               "t.yaml:26:15: spec.gateways[19].address: expected an IP address literal"));
    assert_non_null(
        strstr(cg_buf_data(&err),
               "t.yaml:27:15: too many errors; the rest of this document is not checked\n"));
    assert_non_null(
        strstr(cg_buf_data(&err), "t.yaml:42:13: spec.locality.region: missing required field\n"));
    assert_null(strstr(cg_buf_data(&err), "gateways[20]"));
    cg_buf_free(&err);
    cg_buf_free(&doc);
}

/* Aliases share nodes, so a small document can describe a huge tree: walking it is bounded
 * (1000 servers x 1000 rules x 1000 matches would be 10^9 nodes). */
static void test_alias_bomb(void **state)
{
    (void)state;
    cg_buf_t doc = {0};
    cg_buf_append_str(&doc, "apiVersion: crossgate/v1\nkind: Gateway\nmetadata: {name: g}\nspec:\n"
                            "  workloadSelector: {namespace: ns, labels: {app: a}}\n"
                            "  http:\n"
                            "  - &srv\n"
                            "    name: s\n    port: 8080\n    hostname: h\n"
                            "    routing:\n      rules:\n"
                            "      - &rule\n"
                            "        route: {clusterDestination: {}}\n"
                            "        match:\n"
                            "        - &m {uri: {prefix: /}}\n");
    for (int i = 0; i < 999; i++) cg_buf_append_str(&doc, "        - *m\n");
    for (int i = 0; i < 999; i++) cg_buf_append_str(&doc, "      - *rule\n");
    for (int i = 0; i < 999; i++) cg_buf_append_str(&doc, "  - *srv\n");
    cg_resource_set_t *rs = NULL;
    cg_buf_t err = {0};
    assert_int_equal(
        cg_model_load_buffer("t.yaml", cg_buf_data(&doc), cg_buf_size(&doc), &rs, &err), CG_EPARSE);
    cg_buf_append(&err, "", 1);
    assert_non_null(
        strstr(cg_buf_data(&err), "document too large (aliases expand to too many nodes)"));
    cg_buf_free(&err);
    cg_buf_free(&doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_json_errors),
        cmocka_unit_test(test_error_cap),
        cmocka_unit_test(test_alias_bomb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
