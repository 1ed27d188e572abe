/* What `crossgate load` counts: requests by status code, cluster and socket error, for the whole
 * run, the live interval and the 100 ms timeline bucket; latency histograms; the timeline of
 * finished buckets. Fixed-size counters, so that counting a response never allocates (the
 * timeline grows once per 100 ms). */
#ifndef CG_TOOLS_LOAD_STATS_H
#define CG_TOOLS_LOAD_STATS_H

#include "core/list.h"
#include "tools/load.h"
#include "tools/load_hist.h"
#include "tools/load_intern.h"

#include <stdint.h>

#define CG_LOAD_MAX_STATUS 1000    /* status codes 100..999; slot 0 is a socket-level failure */
#define CG_LOAD_BUCKET_US  100000u /* timeline resolution */

/* Socket-level failures, by kind. */
enum {
    CG_LOAD_E_REFUSED,
    CG_LOAD_E_CONNECT,
    CG_LOAD_E_RESET,
    CG_LOAD_E_TIMEOUT,
    CG_LOAD_E_CLOSED,
    CG_LOAD_E_PARSE,
    CG_LOAD_E_RST,    /* HTTP/2: the server reset the stream (RST_STREAM) */
    CG_LOAD_E_GOAWAY, /* HTTP/2: refused by the server's GOAWAY, or lost after it */
    CG_LOAD_E_H2,     /* HTTP/2: a protocol error (a bad frame, header or stream state) */
    CG_LOAD_E_DNS,    /* --resolve-via: no address yet (the DNS server never answered) */
    CG_LOAD_E_KINDS
};
extern const char *const cg_load_err_names[CG_LOAD_E_KINDS]; /* "refused", "connect"... */

typedef struct cg_load_counts {
    uint64_t requests;
    uint64_t status[CG_LOAD_MAX_STATUS];
    uint64_t cluster[CG_LOAD_MAX_CLUSTERS];
    uint64_t errors[CG_LOAD_E_KINDS];
} cg_load_counts_t;

/* One finished request: a response (err < 0; cluster an index of the table) or a socket-level
 * failure (status 0, cluster CG_LOAD_CLUSTER_NONE, err a CG_LOAD_E_* kind). */
static inline void cg_load_counts_add(cg_load_counts_t *k, unsigned status, unsigned cluster,
                                      int err)
{
    k->requests++;
    k->status[status]++;
    if (cluster != CG_LOAD_CLUSTER_NONE) k->cluster[cluster]++;
    if (err >= 0) k->errors[err]++;
}
/* Status >= 500 and socket-level failures. */
uint64_t cg_load_counts_failed(const cg_load_counts_t *k);

/* One count of a timeline bucket: a status code or a cluster index, and how many. */
typedef struct cg_load_tl_count {
    uint16_t key;
    uint32_t n;
} cg_load_tl_count_t;

/* A finished 100 ms bucket: its status counts (ascending) then its cluster counts (in name
 * order) are counts[first .. first + nstatus + nclusters). */
typedef struct cg_load_tl_bucket {
    uint32_t first;
    uint16_t nstatus, nclusters;
} cg_load_tl_bucket_t;

typedef struct cg_load_timeline {
    CG_VEC(cg_load_tl_bucket_t) buckets; /* bucket i ends at (i + 1) * 100 ms */
    CG_VEC(cg_load_tl_count_t) counts;
} cg_load_timeline_t;

/* The counters of a run. Owned by the run; all-zero plus cg_load_stats_init is empty. */
typedef struct cg_load_stats {
    cg_load_clusters_t cl;
    cg_load_counts_t total, ival, bucket; /* the run, the live interval, the 100 ms bucket */
    cg_load_hist_t lat, ival_lat;         /* latency of responses: the run, the interval */
    cg_load_hist_t lag; /* open loop: actual minus scheduled send time (the tool's own delay) */
    cg_load_timeline_t timeline;
} cg_load_stats_t;

void cg_load_stats_init(cg_load_stats_t *st);
void cg_load_stats_free(cg_load_stats_t *st);
/* Counts a finished request in the run, the interval and the bucket (see cg_load_counts_add);
 * the latency of a response goes to the histograms. */
void cg_load_stats_record(cg_load_stats_t *st, unsigned status, unsigned cluster, uint64_t lat_us,
                          int err);
/* Appends the current bucket to the timeline and empties it. */
void cg_load_stats_close_bucket(cg_load_stats_t *st);
/* Empties the interval's counters. */
void cg_load_stats_reset_interval(cg_load_stats_t *st);
/* Counts k (and latency h, may be NULL) as a window for the hooks of tools/load.h: statuses
 * ascending, clusters in name order, each list cut at CG_LOAD_WINDOW_MAX entries. */
void cg_load_stats_window(const cg_load_stats_t *st, const cg_load_counts_t *k,
                          const cg_load_hist_t *h, double t, double secs, cg_load_window_t *w);

#endif
