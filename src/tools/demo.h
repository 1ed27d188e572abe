/* `crossgate demo`: what the command (demo.c: processes, terminal view, scenarios) and its
 * reports (demo_report.c: failover analysis, report.json, report.svg) share. The report side is
 * pure: plain structs in, text out, so unit tests cover it without processes. */
#ifndef CG_TOOLS_DEMO_H
#define CG_TOOLS_DEMO_H

#include "core/buf.h"
#include "core/json.h"
#include "core/list.h"
#include "tools/load.h"

#include <stdint.h>

#define CG_DEMO_NAMES    12 /* distinct clusters (and status codes) a series tracks */
#define CG_DEMO_NAME_LEN 64

/* One 100 ms window of a run. */
typedef struct cg_demo_bucket {
    double t;                        /* end of the window, seconds since the load started */
    uint32_t requests;               /* finished in the window */
    uint32_t failed;                 /* status >= 500 or socket-level failure */
    uint32_t cluster[CG_DEMO_NAMES]; /* by index into the series' cluster names */
    uint32_t code[CG_DEMO_NAMES];    /* by index into the series' status codes */
} cg_demo_bucket_t;

/* The timeline of a run: cluster names and status codes in order of appearance, one bucket per
 * 100 ms window. The zero value is an empty series. */
typedef struct cg_demo_series {
    char clusters[CG_DEMO_NAMES][CG_DEMO_NAME_LEN];
    unsigned nclusters;
    unsigned codes[CG_DEMO_NAMES];
    unsigned ncodes;
    CG_VEC(cg_demo_bucket_t) b;
} cg_demo_series_t;

/* Appends a timeline window of the load engine (names beyond CG_DEMO_NAMES count only in
 * requests and failed). */
void cg_tools_demo_series_add(cg_demo_series_t *s, const cg_load_window_t *w);
void cg_tools_demo_series_free(cg_demo_series_t *s);
/* Index of a cluster name, or -1. */
int cg_tools_demo_series_cluster(const cg_demo_series_t *s, const char *name);

/* What a failure did to the traffic. Times in seconds; < 0 means "did not happen". */
typedef struct cg_demo_analysis {
    double warm_share;      /* share of the failed cluster in the windows before the failure */
    double failover_s;      /* from the failure to the end of the last window, before the restore,
                               with a request not answered below 500 by a surviving cluster, or
                               with less than half the warm-up traffic (requests stuck) */
    double recovery_s;      /* from the restore to the end of the first window in which the failed
                               cluster answers at least 90 % of its warm-up share again */
    uint64_t failed_during; /* failed requests between the failure and the restore */
} cg_demo_analysis_t;

void cg_tools_demo_analyze(const cg_demo_series_t *s, const char *down, double failed_at,
                           double restored_at, cg_demo_analysis_t *a);

/* Something that happened during a run (a gateway log line, an action of the demo). */
typedef struct cg_demo_event {
    double t;     /* seconds since the load started (negative: during set-up) */
    char who[16]; /* "edge", "ingress-1", "control", "demo" */
    char text[240];
} cg_demo_event_t;

/* Everything report.json and report.svg say about one scenario run. */
typedef struct cg_demo_report {
    const char *scenario, *summary;
    const char *failure_action, *restore_action; /* what the demo did, in words */
    const char *down;                            /* the cluster the failure hits */
    const char *edge_file;                       /* the edge Gateway applied */
    const char *settings;                        /* why the edge has those settings */
    const char *protocol;                        /* the load's: "HTTP/1.1" or "HTTP/2" */
    const char *mode; /* the control plane's: "single" or "ha" (etcd, two replicas); NULL: none */
    double rate, duration_s;
    double failed_at, restored_at; /* seconds since the load started */
    uint64_t start_wall_us, failed_wall_us, restored_wall_us, end_wall_us;
    cg_load_window_t totals;
    const cg_demo_series_t *series;
    const cg_demo_event_t *events;
    size_t nevents;
    cg_demo_analysis_t a;
    const char *gslb_json; /* report.json's "gslb" object (JSON text), or NULL: none */
    const char *ha_json;   /* report.json's "ha" object (JSON text), or NULL: none */
    const char *per;       /* what the chart's series is by: "cluster" (NULL) or "edge" */
} cg_demo_report_t;

void cg_tools_demo_report_json(const cg_demo_report_t *r, cg_buf_t *out);
/* "key": v with `decimals`, or null when v is negative (not measured). */
void cg_tools_demo_json_opt(cg_jw_t *w, const char *key, double v, int decimals);
/* A standalone SVG chart: requests per cluster per 100 ms, stacked, failures in red, the
 * failure and the restore as labelled vertical lines. */
void cg_tools_demo_report_svg(const cg_demo_report_t *r, cg_buf_t *out);

#endif
