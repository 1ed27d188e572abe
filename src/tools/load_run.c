/* The run of `crossgate load`: time zero, the deadline, the 100 ms timeline buckets and the
 * live intervals, the per-connection timeout, and the embedding API of tools/load.h. The
 * connections are in load_client.c, the counters in load_stats.c. */
#include "core/clock.h"
#include "core/list.h"
#include "http/client.h"
#include "tools/load_engine.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cg_load__start_clock(cg_load_t *ld, uint64_t start)
{
    ld->start_us = start;
    ld->deadline_us = start + ld->duration_us;
    ld->ival_start = start;
    ld->ival_end = start + ld->interval_us;
    ld->bucket_end = start + CG_LOAD_BUCKET_US;
    ld->next_edge = ld->bucket_end < ld->ival_end ? ld->bucket_end : ld->ival_end;
    ld->sched = (cg_load_sched_t){
        .start_us = start,
        .deadline_us = ld->deadline_us,
        .rate = ld->rate,
        .max = ld->rate > 0 && ld->max_requests ? ld->max_requests : UINT64_MAX,
    };
}

/* Reports the 100 ms bucket to the hooks and appends it to the timeline. */
static void flush_bucket(cg_load_t *ld)
{
    if (ld->hooks.on_bucket) {
        uint64_t n = ld->st.timeline.buckets.len;
        uint64_t begin = ld->start_us + n * CG_LOAD_BUCKET_US;
        uint64_t end = ld->stopped && ld->end_us < ld->bucket_end ? ld->end_us : ld->bucket_end;
        cg_load_window_t w;
        cg_load_stats_window(&ld->st, &ld->st.bucket, NULL,
                             (double)(n + 1) * CG_LOAD_BUCKET_US / 1e6,
                             (double)(end > begin ? end - begin : 0) / 1e6, &w);
        ld->hooks.on_bucket(ld->hooks.data, &w);
    }
    cg_load_stats_close_bucket(&ld->st);
}

/* Reports the interval ending at `end` (which may be short, at the end of the run). */
static void flush_interval(cg_load_t *ld, uint64_t end)
{
    if (!ld->hooks.on_interval) return;
    cg_load_window_t w;
    cg_load_stats_window(&ld->st, &ld->st.ival, &ld->st.ival_lat,
                         (double)(end - ld->start_us) / 1e6, (double)(end - ld->ival_start) / 1e6,
                         &w);
    ld->hooks.on_interval(ld->hooks.data, &w);
}

/* Closes the 100 ms buckets and live intervals that ended by `now`. */
static void advance(cg_load_t *ld, uint64_t now)
{
    while (now >= ld->bucket_end) {
        flush_bucket(ld);
        ld->bucket_end += CG_LOAD_BUCKET_US;
    }
    while (now >= ld->ival_end) {
        flush_interval(ld, ld->ival_end);
        cg_load_stats_reset_interval(&ld->st);
        ld->ival_start = ld->ival_end;
        ld->ival_end += ld->interval_us;
    }
    ld->next_edge = ld->bucket_end < ld->ival_end ? ld->bucket_end : ld->ival_end;
}

void cg_load__record(cg_load_t *ld, uint64_t now, unsigned status, unsigned cluster,
                     uint64_t lat_us, int err)
{
    if (ld->stopped) return;
    if (now >= ld->deadline_us) {
        ld->late++;
        return;
    }
    if (now >= ld->next_edge) advance(ld, now);
    cg_load_stats_record(&ld->st, status, cluster, lat_us, err);
}

static void on_end(cg_loop_t *loop, cg_defer_t *d)
{
    cg_load_t *ld = cg_container_of(d, cg_load_t, end_defer);
    if (ld->hooks.on_end) ld->hooks.on_end(ld->hooks.data);
}

static void stop(cg_load_t *ld, uint64_t end)
{
    if (ld->stopped) return;
    ld->stopped = 1;
    ld->end_us = end;
    if (ld->hooks.on_end) cg_defer(ld->loop, &ld->end_defer, on_end);
}

void cg_load__check_done(cg_load_t *ld, uint64_t now)
{
    if (ld->inflight) return;
    if (ld->rate > 0 ? ld->sched.next >= ld->sched.max
                     : (ld->max_requests && ld->issued >= ld->max_requests))
        stop(ld, now);
}

int cg_load__can_issue(const cg_load_t *ld, uint64_t now)
{
    return !ld->stopped && now < ld->deadline_us &&
           (!ld->max_requests || ld->issued < ld->max_requests);
}

static void on_tick(cg_loop_t *loop, cg_timer_t *t)
{
    cg_load_t *ld = cg_container_of(t, cg_load_t, tick);
    uint64_t now = cg_clock_mono_us();
    if (ld->stopped) return;
    for (uint32_t i = 0; i < ld->nslots; i++) {
        cg_load_conn_t *c = &ld->c[i];
        if ((c->state == CG_LOAD_ST_CONNECTING || c->state == CG_LOAD_ST_WRITING ||
             c->state == CG_LOAD_ST_READING) &&
            now - c->since_us >= ld->timeout_us)
            cg_load__conn_fail(ld, c, CG_LOAD_E_TIMEOUT);
        else if (c->h2)
            cg_load__h2_tick(ld, c, now);
    }
    if (ld->stopped) return;
    if (now < ld->deadline_us) advance(ld, now);
    uint64_t next = ld->next_edge < ld->deadline_us ? ld->next_edge : ld->deadline_us;
    uint64_t after = next > now ? (next - now + 999) / 1000 : 1;
    if (after < 1) after = 1;
    if (after > CG_LOAD_BUCKET_US / 1000) after = CG_LOAD_BUCKET_US / 1000;
    cg_timer_start(loop, &ld->tick, after, on_tick);
}

static void on_deadline(cg_loop_t *loop, cg_timer_t *t)
{
    cg_load_t *ld = cg_container_of(t, cg_load_t, deadline);
    if (cg_clock_mono_us() < ld->deadline_us) {
        cg_timer_start(loop, t, 1, on_deadline);
        return;
    }
    stop(ld, ld->deadline_us);
}

void cg_load__finish(cg_load_t *ld)
{
    advance(ld, ld->end_us);
    if (ld->end_us > ld->bucket_end - CG_LOAD_BUCKET_US) flush_bucket(ld);
    if (ld->st.ival.requests || ld->end_us - ld->ival_start >= ld->interval_us / 10)
        flush_interval(ld, ld->end_us);
}

void cg_load__run_info(const cg_load_t *ld, cg_load_run_info_t *out)
{
    *out = (cg_load_run_info_t){
        .url = ld->url,
        .host = ld->host_hdr,
        .rate = ld->rate,
        .conns = ld->conns,
        .max_conns = ld->max_conns,
        .connects = ld->connects,
        .streams = ld->streams,
        .dns = ld->dns,
        .unfinished = ld->inflight + ld->late +
                      (ld->rate > 0 ? cg_load_sched_backlog(&ld->sched, ld->end_us) : 0),
        .secs = (double)(ld->end_us - ld->start_us) / 1e6,
    };
}

int cg_load__valid_token(const char *s, int allow_space)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) {
            if (!(allow_space && *s == ' ')) return 0;
        }
    return 1;
}

/* --resolve-via: "http://NAME[:PORT]/path" into host ("NAME[:PORT]", the default Host), name,
 * port and path. Returns 0 or CG_EINVAL. */
static int parse_name_url(const char *url, char *host, size_t hostcap, char *name, size_t namecap,
                          uint16_t *port, const char **path)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof(scheme) - 1)) return CG_EINVAL;
    const char *h = url + sizeof(scheme) - 1, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    if (hl == 0 || hl >= hostcap) return CG_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *path = slash ? slash : "/";
    const char *colon = strchr(host, ':');
    size_t nl = colon ? (size_t)(colon - host) : hl;
    if (nl == 0 || nl >= namecap) return CG_EINVAL;
    for (size_t i = 0; i < nl; i++)
        if (!((host[i] >= 'a' && host[i] <= 'z') || (host[i] >= 'A' && host[i] <= 'Z') ||
              (host[i] >= '0' && host[i] <= '9') || host[i] == '-' || host[i] == '.' ||
              host[i] == '_'))
            return CG_EINVAL;
    memcpy(name, host, nl);
    name[nl] = '\0';
    *port = 80;
    if (colon) {
        char *end;
        unsigned long p = strtoul(colon + 1, &end, 10);
        if (!colon[1] || *end || p == 0 || p > 65535) return CG_EINVAL;
        *port = (uint16_t)p;
    }
    return 0;
}

/* Closes the connections and stops the timers; the results stay. */
static void release(cg_load_t *ld)
{
    if (!ld->loop) return;
    cg_load__conns_close(ld);
    cg_defer_cancel(&ld->end_defer);
    cg_timer_stop(ld->loop, &ld->tick);
    cg_timer_stop(ld->loop, &ld->deadline);
}

/* ---- the API of tools/load.h ---- */

cg_load_t *cg_tools_load_new(const cg_load_opts_t *o, const cg_load_hooks_t *hooks, char *err,
                             size_t errcap)
{
    cg_load_t *ld = cg_xcalloc(1, sizeof(*ld));
    ld->url = o->url;
    ld->rate = o->rate > 0 ? o->rate : 0;
    ld->conns = o->connections ? o->connections : 1;
    ld->duration_us = o->duration_us ? o->duration_us : 10000000;
    if (ld->duration_us > 86400000000ull) ld->duration_us = 86400000000ull;
    ld->interval_us = o->interval_us ? o->interval_us : 1000000;
    ld->timeout_us = o->timeout_us ? o->timeout_us : 5000000;
    ld->max_requests = o->max_requests;
    ld->streams = o->http2 ? (o->streams ? o->streams : 1) : 0;
    if (ld->streams > CG_LOAD_MAX_STREAMS) ld->streams = CG_LOAD_MAX_STREAMS;
    if (hooks) ld->hooks = *hooks;
    if (o->resolve_via) {
        char name[256];
        uint16_t port;
        if (!ld->url ||
            parse_name_url(ld->url, ld->host, sizeof(ld->host), name, sizeof(name), &port,
                           &ld->path) ||
            !cg_load__valid_token(ld->path, 0)) {
            snprintf(err, errcap,
                     "malformed URL \"%s\": expected http://HOSTNAME[:PORT]/path with "
                     "--resolve-via",
                     ld->url ? ld->url : "");
            free(ld);
            return NULL;
        }
        if (!(ld->dns = cg_load_dns_new(o->resolve_via, name, port, err, errcap))) {
            free(ld);
            return NULL;
        }
    } else if (!ld->url ||
               cg_http_url_parse(ld->url, &ld->addr, ld->host, sizeof(ld->host), &ld->path) ||
               !cg_load__valid_token(ld->path, 0) || !cg_load__valid_token(ld->host, 0)) {
        snprintf(err, errcap,
                 "malformed URL \"%s\": expected http://IP:PORT/path (an IP address or localhost)",
                 ld->url ? ld->url : "");
        free(ld);
        return NULL;
    }
    ld->host_hdr = o->host && *o->host ? o->host : ld->host;
    /* every request is this one head, built once by the HTTP layer's builder, which refuses a
     * Host or target that would break the request line or add header lines */
    cg_buf_t req = {0};
    const cg_http_request_spec_t spec = {.method = "GET",
                                         .target = ld->path,
                                         .host = ld->host_hdr,
                                         .user_agent = "crossgate-load",
                                         .extra = "Accept: */*\r\n",
                                         .content_length = -1};
    if (!cg_load__valid_token(ld->host_hdr, 0) || cg_http_request_head(&req, &spec) != 0) {
        snprintf(err, errcap, "invalid host \"%s\"", ld->host_hdr);
        cg_buf_free(&req);
        cg_load_dns_free(ld->dns);
        free(ld);
        return NULL;
    }
    ld->req = req.base;
    ld->req_len = req.len;
    /* open loop: more connections when all are busy, up to the cap */
    uint32_t cap = o->max_conns ? o->max_conns : ld->conns > 512 ? ld->conns : 512;
    ld->max_conns = ld->rate > 0 && cap > ld->conns ? cap : ld->conns;
    if ((uint64_t)ld->max_conns * ld->streams > CG_LOAD_MAX_STREAMS_TOTAL) {
        snprintf(err, errcap,
                 "--streams %u over %u connections is more than %u streams in flight; lower "
                 "--streams, -c or --max-conns",
                 ld->streams, ld->max_conns, CG_LOAD_MAX_STREAMS_TOTAL);
        free(ld->req);
        cg_load_dns_free(ld->dns);
        free(ld);
        return NULL;
    }
    return ld;
}

void cg_tools_load_start(cg_load_t *ld, cg_loop_t *loop)
{
    if (ld->loop) return;
    ld->loop = loop;
    cg_load__conns_init(ld);
    cg_load_stats_init(&ld->st);
    cg_list_init(&ld->end_defer.link);
    cg_loop_update_time(loop);
    cg_load__start_clock(ld, loop->now_us);
    cg_timer_start(loop, &ld->deadline, (ld->duration_us + 999) / 1000, on_deadline);
    cg_timer_start(loop, &ld->tick, CG_LOAD_BUCKET_US / 1000, on_tick);
    cg_load__conns_start(ld);
}

void cg_tools_load_stop(cg_load_t *ld)
{
    if (!ld->loop || ld->finished) return;
    if (!ld->stopped) {
        ld->stopped = 1;
        ld->end_us = cg_clock_mono_us();
        if (ld->end_us > ld->deadline_us) ld->end_us = ld->deadline_us;
    }
    cg_defer_cancel(&ld->end_defer);
    ld->finished = 1;
    cg_load__finish(ld);
    release(ld);
}

uint64_t cg_tools_load_start_us(const cg_load_t *ld)
{
    return ld->start_us;
}

void cg_tools_load_totals(const cg_load_t *ld, cg_load_window_t *out)
{
    uint64_t end = ld->stopped ? ld->end_us : cg_clock_mono_us();
    double secs = ld->start_us && end > ld->start_us ? (double)(end - ld->start_us) / 1e6 : 0;
    cg_load_stats_window(&ld->st, &ld->st.total, &ld->st.lat, secs, secs, out);
}

void cg_tools_load_json(cg_load_t *ld, cg_buf_t *out)
{
    cg_load_run_info_t run;
    cg_load__run_info(ld, &run);
    cg_load_report_json(&run, &ld->st, out);
}

void cg_tools_load_free(cg_load_t *ld)
{
    if (!ld) return;
    cg_tools_load_stop(ld);
    if (ld->loop) cg_load__conns_free(ld);
    free(ld->req); /* built by cg_tools_load_new, before any start */
    cg_load_dns_free(ld->dns);
    cg_load_stats_free(&ld->st);
    free(ld);
}
