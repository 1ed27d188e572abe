/* The output of `crossgate load`: the live line of an interval, the text summary and the JSON
 * report of docs/load.md, rendered from a run's counters (load_stats.h). */
#ifndef CG_TOOLS_LOAD_REPORT_H
#define CG_TOOLS_LOAD_REPORT_H

#include "core/buf.h"
#include "tools/load_dns.h"
#include "tools/load_stats.h"

#include <stdint.h>

/* What a report says about the run besides its counters. */
typedef struct cg_load_run_info {
    const char *url, *host; /* the URL and the Host header sent */
    double rate;            /* 0: closed loop */
    uint32_t conns, max_conns;
    uint64_t connects;
    uint32_t streams;         /* HTTP/2 streams per connection; 0: HTTP/1.1 */
    const cg_load_dns_t *dns; /* --resolve-via, or NULL */
    uint64_t unfinished;      /* in flight, late or not sent at the end: not counted */
    double secs;              /* length of the run */
} cg_load_run_info_t;

/* The live line of the interval ending `t` seconds into the run, `secs` long. */
void cg_load_report_interval(const cg_load_stats_t *st, double t, double secs, cg_buf_t *out);
/* The text summary of the whole run. */
void cg_load_report_summary(const cg_load_run_info_t *run, const cg_load_stats_t *st,
                            cg_buf_t *out);
/* The JSON report, one object and a newline. */
void cg_load_report_json(const cg_load_run_info_t *run, const cg_load_stats_t *st, cg_buf_t *out);

#endif
