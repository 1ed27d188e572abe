/* The counters of `crossgate load` (load_stats.h). */
#include "tools/load_stats.h"

#include <string.h>

const char *const cg_load_err_names[CG_LOAD_E_KINDS] = {
    "refused", "connect",    "reset",  "timeout",  "closed",
    "parse",   "rst_stream", "goaway", "protocol", "dns"};

uint64_t cg_load_counts_failed(const cg_load_counts_t *k)
{
    uint64_t n = k->status[0];
    for (unsigned s = 500; s < CG_LOAD_MAX_STATUS; s++) n += k->status[s];
    return n;
}

void cg_load_stats_init(cg_load_stats_t *st)
{
    cg_load_clusters_init(&st->cl);
}

void cg_load_stats_free(cg_load_stats_t *st)
{
    cg_vec_free(&st->timeline.buckets);
    cg_vec_free(&st->timeline.counts);
}

void cg_load_stats_record(cg_load_stats_t *st, unsigned status, unsigned cluster, uint64_t lat_us,
                          int err)
{
    cg_load_counts_add(&st->total, status, cluster, err);
    cg_load_counts_add(&st->ival, status, cluster, err);
    cg_load_counts_add(&st->bucket, status, cluster, err);
    if (err < 0) {
        cg_load_hist_record(&st->lat, lat_us);
        cg_load_hist_record(&st->ival_lat, lat_us);
    }
}

void cg_load_stats_close_bucket(cg_load_stats_t *st)
{
    cg_load_counts_t *k = &st->bucket;
    cg_load_timeline_t *tl = &st->timeline;
    cg_load_tl_bucket_t b = {.first = (uint32_t)tl->counts.len};
    if (k->requests) {
        for (unsigned s = 0; s < CG_LOAD_MAX_STATUS; s++) {
            if (!k->status[s]) continue;
            cg_load_tl_count_t c = {(uint16_t)s, (uint32_t)k->status[s]};
            cg_vec_push(&tl->counts, c);
            b.nstatus++;
        }
        uint16_t order[CG_LOAD_MAX_CLUSTERS];
        unsigned n = cg_load_clusters_sorted(&st->cl, order);
        for (unsigned j = 0; j < n; j++) {
            if (!k->cluster[order[j]]) continue;
            cg_load_tl_count_t c = {order[j], (uint32_t)k->cluster[order[j]]};
            cg_vec_push(&tl->counts, c);
            b.nclusters++;
        }
        memset(k, 0, sizeof(*k));
    }
    cg_vec_push(&tl->buckets, b);
}

void cg_load_stats_reset_interval(cg_load_stats_t *st)
{
    memset(&st->ival, 0, sizeof(st->ival));
    cg_load_hist_reset(&st->ival_lat);
}

void cg_load_stats_window(const cg_load_stats_t *st, const cg_load_counts_t *k,
                          const cg_load_hist_t *h, double t, double secs, cg_load_window_t *w)
{
    memset(w, 0, sizeof(*w));
    w->t = t;
    w->secs = secs;
    w->requests = k->requests;
    w->failed = cg_load_counts_failed(k);
    w->errors = k->status[0];
    w->p50_ms = w->p99_ms = w->max_ms = -1;
    if (h && h->count) {
        w->p50_ms = cg_load_hist_ms(h, 50);
        w->p99_ms = cg_load_hist_ms(h, 99);
        w->max_ms = (double)h->max / 1000.0;
    }
    if (!k->requests) return;
    for (unsigned s = 0; s < CG_LOAD_MAX_STATUS && w->nstatus < CG_LOAD_WINDOW_MAX; s++) {
        if (!k->status[s]) continue;
        w->status[w->nstatus].code = s;
        w->status[w->nstatus++].n = k->status[s];
    }
    uint16_t order[CG_LOAD_MAX_CLUSTERS];
    unsigned n = cg_load_clusters_sorted(&st->cl, order);
    for (unsigned j = 0; j < n && w->nclusters < CG_LOAD_WINDOW_MAX; j++) {
        unsigned i = order[j];
        if (!k->cluster[i]) continue;
        w->cluster[w->nclusters].name = st->cl.name[i];
        w->cluster[w->nclusters++].n = k->cluster[i];
    }
}
