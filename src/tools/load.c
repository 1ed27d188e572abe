/* `crossgate load`: the observation tool. Steady HTTP/1.1 traffic over keep-alive connections,
 * closed-loop or open-loop (--rate), a live line per interval, a summary and a JSON report with
 * a 100 ms timeline. One thread, one loop; nothing is allocated per request. */
#include "cli/cli.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/duration.h"
#include "core/err.h"
#include "core/list.h"
#include "core/loop.h"
#include "core/sock.h"
#include "http/client.h"
#include "http/parser.h"
#include "tools/load.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

static const char usage[] =
    "usage: crossgate load URL [--host NAME] [-c CONNS] [-d DURATION] [--rate RPS]\n"
    "                          [--json FILE] [--interval 1s] [-n MAX_REQUESTS] [--quiet]\n"
    "                          [--timeout 5s] [--max-conns N]\n"
    "\n"
    "Sends GET URL (http://IP:PORT/path, or localhost) and prints, once per interval, the\n"
    "requests per cluster (response header x-app-cluster), status codes, latency percentiles\n"
    "and socket errors; a summary at the end.\n"
    "\n"
    "  -c, --connections N  keep-alive connections (default 1); closed loop: each sends its\n"
    "                       next request when the previous response arrived\n"
    "  --rate RPS           open loop: requests at fixed intervals from the start, spread over\n"
    "                       the connections (more are opened when all are busy, up to\n"
    "                       --max-conns); latency counts from the scheduled send time\n"
    "  -d, --duration D     run time (ms, s, m; default 10s)\n"
    "  -n, --requests N     stop after N requests (whichever of -d and -n comes first)\n"
    "  --host NAME          Host header (default: the URL's host:port)\n"
    "  --json FILE          write a JSON summary with a 100 ms timeline (- for stdout; the\n"
    "                       live lines and summary then go to stderr)\n"
    "  --interval D         live line period (default 1s)\n"
    "  --timeout D          a request (or connect) without a response by then is an error\n"
    "                       and its connection is reopened (default 5s)\n"
    "  --max-conns N        open-loop connection cap (default max(CONNS, 512))\n"
    "  -q, --quiet          no live lines and no text summary\n";

/* ---------------------------------------------------------------------------------------
 * Latency histogram: fixed log-linear buckets over microseconds. 1 us buckets below 1024 us,
 * then 128 buckets per power of two (bucket width < 0.8 % of the value; the midpoint is
 * reported, so the error is below 0.4 %). Values from 2^36 us (19 h) on share the last bucket.
 * --------------------------------------------------------------------------------------- */

#define HIST_LINEAR      1024u
#define HIST_LINEAR_BITS 10
#define HIST_SUB_BITS    7
#define HIST_SUB         (1u << HIST_SUB_BITS)
#define HIST_TOP_BIT     36
#define HIST_BUCKETS     (HIST_LINEAR + (HIST_TOP_BIT - HIST_LINEAR_BITS) * HIST_SUB)

typedef struct hist {
    uint64_t count, sum, min, max;
    uint64_t b[HIST_BUCKETS];
} hist_t;

static unsigned hist_index(uint64_t v)
{
    if (v < HIST_LINEAR) return (unsigned)v;
    if (v >> HIST_TOP_BIT) return HIST_BUCKETS - 1;
    unsigned k = 63u - (unsigned)__builtin_clzll(v); /* HIST_LINEAR_BITS .. HIST_TOP_BIT-1 */
    unsigned sub = (unsigned)(v >> (k - HIST_SUB_BITS)) - HIST_SUB;
    return HIST_LINEAR + (k - HIST_LINEAR_BITS) * HIST_SUB + sub;
}

/* Lowest value of bucket i and its width. */
static uint64_t hist_bucket_low(unsigned i, uint64_t *width)
{
    if (i < HIST_LINEAR) {
        *width = 1;
        return i;
    }
    unsigned k = (i - HIST_LINEAR) / HIST_SUB + HIST_LINEAR_BITS,
             sub = (i - HIST_LINEAR) % HIST_SUB;
    *width = 1ull << (k - HIST_SUB_BITS);
    return (uint64_t)(HIST_SUB + sub) << (k - HIST_SUB_BITS);
}

static void hist_reset(hist_t *h)
{
    memset(h, 0, sizeof(*h));
}

static inline void hist_record(hist_t *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    if (h->count == 0 || v < h->min) h->min = v;
    if (v > h->max) h->max = v;
    h->count++;
    h->sum += v;
}

/* The value at percentile p (0..100]: the smallest recorded value v such that at least p % of
 * the values are <= v, as its bucket's midpoint clamped to [min, max]; the maximum exactly.
 * 0 when empty. */
static uint64_t hist_percentile(const hist_t *h, double p)
{
    if (h->count == 0) return 0;
    double want = p / 100.0 * (double)h->count;
    uint64_t rank = (uint64_t)ceil(want - 1e-9);
    if (rank < 1) rank = 1;
    if (rank >= h->count) return h->max;
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen < rank) continue;
        uint64_t w, v = hist_bucket_low(i, &w);
        v += w / 2;
        if (v < h->min) v = h->min;
        if (v > h->max) v = h->max;
        return v;
    }
    return h->max;
}

/* ---------------------------------------------------------------------------------------
 * Flag values
 * --------------------------------------------------------------------------------------- */

/* A flag's duration (core/duration.h; a bare number is seconds), into microseconds. */
static int parse_duration(const char *s, uint64_t *us)
{
    return cg_duration_parse_us(s, strlen(s), CG_DURATION_BARE_SECONDS, us);
}

static int parse_count(const char *s, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (s[0] < '0' || s[0] > '9') return CG_EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v > max) return CG_EINVAL;
    *out = v;
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Counters
 * --------------------------------------------------------------------------------------- */

#define MAX_STATUS      1000 /* status codes 100..999; slot 0 is a socket-level failure */
#define MAX_CLUSTERS    64
#define CLUSTER_NAME    64
#define CLUSTER_MISSING 0          /* "-": response without x-app-cluster */
#define CLUSTER_NONE    UINT16_MAX /* no response */

enum { E_REFUSED, E_CONNECT, E_RESET, E_TIMEOUT, E_CLOSED, E_PARSE, E_KINDS };
static const char *const err_names[E_KINDS] = {"refused", "connect", "reset",
                                               "timeout", "closed",  "parse"};

typedef struct counts {
    uint64_t requests;
    uint64_t status[MAX_STATUS];
    uint64_t cluster[MAX_CLUSTERS];
    uint64_t errors[E_KINDS];
} counts_t;

/* Names seen in x-app-cluster, interned in order of appearance. The last slot collects any
 * name beyond the table ("(other)"). */
typedef struct clusters {
    unsigned n;
    uint8_t len[MAX_CLUSTERS];
    char name[MAX_CLUSTERS][CLUSTER_NAME];
} clusters_t;

static void clusters_init(clusters_t *t)
{
    memset(t, 0, sizeof(*t));
    t->name[CLUSTER_MISSING][0] = '-';
    t->len[CLUSTER_MISSING] = 1;
    t->n = 1;
}

/* The index of name v (cut to CLUSTER_NAME-1 bytes; bytes other than printable ASCII shown
 * as '?', so names are safe on a terminal and in JSON). */
static unsigned clusters_intern(clusters_t *t, cg_iov_t v)
{
    if (v.len == 0) return CLUSTER_MISSING;
    if (v.len >= CLUSTER_NAME) v.len = CLUSTER_NAME - 1;
    char clean[CLUSTER_NAME];
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.base[i];
        clean[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    v.base = clean;
    for (unsigned i = 1; i < t->n; i++)
        if (t->len[i] == v.len && !memcmp(t->name[i], v.base, v.len)) return i;
    if (t->n == MAX_CLUSTERS - 1) {
        memcpy(t->name[t->n], "(other)", 8);
        t->len[t->n] = 7;
        t->n++;
    }
    if (t->n == MAX_CLUSTERS) return MAX_CLUSTERS - 1;
    memcpy(t->name[t->n], v.base, v.len);
    t->name[t->n][v.len] = '\0';
    t->len[t->n] = (uint8_t)v.len;
    return t->n++;
}

/* Indices of the clusters in name order. */
static unsigned clusters_sorted(const clusters_t *t, uint16_t *order)
{
    unsigned n = 0;
    for (unsigned i = 0; i < t->n; i++) {
        unsigned j = n++;
        while (j > 0 && strcmp(t->name[order[j - 1]], t->name[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = (uint16_t)i;
    }
    return n;
}

/* ---------------------------------------------------------------------------------------
 * Open-loop schedule: request k is due at start + k / rate.
 * --------------------------------------------------------------------------------------- */

static uint64_t sched_time(uint64_t start_us, double rate, uint64_t k)
{
    return start_us + (uint64_t)((double)k * 1e6 / rate);
}

/* How many requests are due by `now` (the smallest k with sched_time(k) > now), at most max. */
static uint64_t sched_due(uint64_t start_us, double rate, uint64_t now, uint64_t max)
{
    if (now < start_us) return 0;
    uint64_t k = (uint64_t)((double)(now - start_us) * rate / 1e6) + 1;
    while (k > 0 && sched_time(start_us, rate, k - 1) > now) k--;
    while (sched_time(start_us, rate, k) <= now) k++;
    return k < max ? k : max;
}

/* ---------------------------------------------------------------------------------------
 * Connections and the run
 * --------------------------------------------------------------------------------------- */

#define RBUF       16384
#define BUCKET_US  100000u /* timeline resolution */
#define BACKOFF_MS 10      /* closed loop: pause after a socket error before reconnecting */

enum { ST_CLOSED, ST_CONNECTING, ST_IDLE, ST_WRITING, ST_READING };

/* One client connection; owned by the run's connection array, reused across reconnects. */
typedef struct conn {
    cg_io_t io; /* io.fd = -1 when closed */
    cg_timer_t backoff;
    struct cg_load *ld;
    uint8_t state;
    uint8_t head_done;
    uint8_t in_idle; /* queued on the idle ring (may be stale: checked when popped) */
    uint8_t reaped;  /* closed, waiting for the end of the loop iteration */
    uint8_t pause;   /* closed loop: reconnect after BACKOFF_MS */
    uint16_t status, cluster;
    uint32_t idx;
    uint64_t start_us; /* latency origin: send time, or the scheduled time in open loop */
    uint64_t since_us; /* when the connect or the request began (for --timeout) */
    size_t wpos, rlen, parsed;
    cg_http_parser_t parser;
    cg_http_head_t head;
    char rbuf[RBUF];
} conn_t;

typedef struct cg_load {
    /* options */
    const char *url, *json_path;
    char host[256];
    const char *host_hdr, *path;
    cg_addr_t addr;
    uint32_t conns, max_conns;
    double rate; /* 0: closed loop */
    uint64_t duration_us, interval_us, timeout_us, max_requests;
    int quiet;
    FILE *out, *json;
    /* the request, the same bytes for every send */
    char *req;
    size_t req_len;
    /* connections */
    cg_loop_t *loop;
    conn_t *c;
    uint32_t nslots, nopen, nconnecting;
    uint32_t *idle, idle_head, idle_len; /* ring of connected idle connections (open loop) */
    uint32_t *free_slots, nfree;         /* never-used or reaped slots (open loop) */
    uint32_t *reaped, nreaped;
    cg_defer_t reap_defer;
    cg_http_out_t sink; /* body bytes are parsed and dropped */
    /* schedule and progress */
    uint64_t start_us, deadline_us, end_us;
    uint64_t issued;     /* requests counted against -n (sent, or failed to connect) */
    uint64_t next_sched; /* open loop: scheduled requests handed out so far */
    uint64_t sched_max;  /* open loop: -n, else unbounded */
    uint64_t inflight, late, connects;
    int stopped;
    int tfd;
    cg_io_t tio;
    uint64_t tfd_armed_us;
    cg_timer_t tick, deadline;
    /* results */
    clusters_t cl;
    counts_t total, ival, bucket;
    hist_t lat, ival_lat;
    hist_t lag; /* open loop: actual minus scheduled send time (the tool's own delay) */
    uint64_t ival_start, ival_end, bucket_end, next_edge, nbuckets;
    cg_buf_t timeline; /* encoded buckets, see flush_bucket */
    /* embedded runs (cg_tools_load_*): callbacks instead of output */
    cg_load_hooks_t hooks;
    int embedded, finished;
    cg_defer_t end_defer;
} load_t;

static void fill_window(const load_t *ld, const counts_t *k, const hist_t *h, double t, double secs,
                        cg_load_window_t *w);

static void counts_add(counts_t *k, unsigned status, unsigned cluster, int err)
{
    k->requests++;
    k->status[status]++;
    if (cluster != CLUSTER_NONE) k->cluster[cluster]++;
    if (err >= 0) k->errors[err]++;
}

/* Appends bucket counts as: u16 nstatus, u16 nclusters, then (u16 status, u32 count) and
 * (u16 cluster, u32 count) pairs; resets the bucket. */
static void flush_bucket(load_t *ld)
{
    counts_t *k = &ld->bucket;
    uint16_t ns = 0, nc = 0;
    if (ld->hooks.on_bucket) {
        uint64_t begin = ld->start_us + ld->nbuckets * BUCKET_US;
        uint64_t end = ld->stopped && ld->end_us < ld->bucket_end ? ld->end_us : ld->bucket_end;
        cg_load_window_t w;
        fill_window(ld, k, NULL, (double)(ld->nbuckets + 1) * BUCKET_US / 1e6,
                    (double)(end > begin ? end - begin : 0) / 1e6, &w);
        ld->hooks.on_bucket(ld->hooks.data, &w);
    }
    size_t at = ld->timeline.len;
    cg_buf_append(&ld->timeline, &ns, 2);
    cg_buf_append(&ld->timeline, &nc, 2);
    if (k->requests) {
        for (uint16_t s = 0; s < MAX_STATUS; s++) {
            if (!k->status[s]) continue;
            uint32_t n = (uint32_t)k->status[s];
            cg_buf_append(&ld->timeline, &s, 2);
            cg_buf_append(&ld->timeline, &n, 4);
            ns++;
        }
        uint16_t order[MAX_CLUSTERS];
        unsigned ncl = clusters_sorted(&ld->cl, order);
        for (unsigned j = 0; j < ncl; j++) {
            uint16_t i = order[j];
            if (!k->cluster[i]) continue;
            uint32_t n = (uint32_t)k->cluster[i];
            cg_buf_append(&ld->timeline, &i, 2);
            cg_buf_append(&ld->timeline, &n, 4);
            nc++;
        }
        memcpy(ld->timeline.base + at, &ns, 2);
        memcpy(ld->timeline.base + at + 2, &nc, 2);
        memset(k, 0, sizeof(*k));
    }
    ld->nbuckets++;
}

static void fmt_ms(char *out, size_t cap, const hist_t *h, double p)
{
    if (!h->count)
        snprintf(out, cap, "-");
    else
        snprintf(out, cap, "%.2fms", (double)hist_percentile(h, p) / 1000.0);
}

static void print_clusters(load_t *ld, const counts_t *k, cg_buf_t *b)
{
    uint16_t order[MAX_CLUSTERS];
    unsigned n = clusters_sorted(&ld->cl, order), shown = 0;
    for (unsigned j = 0; j < n; j++) {
        unsigned i = order[j];
        if (!ld->total.cluster[i]) continue;
        cg_buf_printf(b, "%s%s:%llu", shown++ ? " " : "", ld->cl.name[i],
                      (unsigned long long)k->cluster[i]);
    }
    if (!shown) cg_buf_append_str(b, "-");
}

static void print_statuses(load_t *ld, const counts_t *k, cg_buf_t *b)
{
    unsigned shown = 0;
    for (unsigned s = 1; s < MAX_STATUS; s++) {
        if (!ld->total.status[s]) continue;
        cg_buf_printf(b, "%s%u:%llu", shown++ ? " " : "", s, (unsigned long long)k->status[s]);
    }
    if (!shown) cg_buf_append_str(b, "-");
}

static void print_errors(const counts_t *k, cg_buf_t *b)
{
    uint64_t n = k->status[0];
    cg_buf_printf(b, "errors %llu", (unsigned long long)n);
    if (!n) return;
    unsigned shown = 0;
    cg_buf_append_str(b, " (");
    for (int e = 0; e < E_KINDS; e++)
        if (k->errors[e])
            cg_buf_printf(b, "%s%s %llu", shown++ ? ", " : "", err_names[e],
                          (unsigned long long)k->errors[e]);
    cg_buf_append_str(b, ")");
}

/* The live line of the interval ending at `end` (which may be short, at the end of the run). */
static void print_interval(load_t *ld, uint64_t end)
{
    if (ld->hooks.on_interval) {
        cg_load_window_t w;
        fill_window(ld, &ld->ival, &ld->ival_lat, (double)(end - ld->start_us) / 1e6,
                    (double)(end - ld->ival_start) / 1e6, &w);
        ld->hooks.on_interval(ld->hooks.data, &w);
    }
    if (ld->quiet) return;
    double secs = (double)(end - ld->ival_start) / 1e6;
    char p50[32], p99[32];
    fmt_ms(p50, sizeof(p50), &ld->ival_lat, 50);
    fmt_ms(p99, sizeof(p99), &ld->ival_lat, 99);
    cg_buf_t b = {0};
    cg_buf_printf(&b, "%7.1fs  rps %.0f  ", (double)(end - ld->start_us) / 1e6,
                  secs > 0 ? (double)ld->ival.requests / secs : 0.0);
    print_statuses(ld, &ld->ival, &b);
    cg_buf_append_str(&b, "  ");
    print_clusters(ld, &ld->ival, &b);
    cg_buf_printf(&b, "  p50 %s p99 %s  ", p50, p99);
    print_errors(&ld->ival, &b);
    cg_buf_append_str(&b, "\n");
    fwrite(b.base, 1, b.len, ld->out);
    fflush(ld->out);
    cg_buf_free(&b);
}

static void reset_interval(load_t *ld)
{
    memset(&ld->ival, 0, sizeof(ld->ival));
    hist_reset(&ld->ival_lat);
}

/* Closes the 100 ms buckets and live intervals that ended by `now`. */
static void advance(load_t *ld, uint64_t now)
{
    while (now >= ld->bucket_end) {
        flush_bucket(ld);
        ld->bucket_end += BUCKET_US;
    }
    while (now >= ld->ival_end) {
        print_interval(ld, ld->ival_end);
        reset_interval(ld);
        ld->ival_start = ld->ival_end;
        ld->ival_end += ld->interval_us;
    }
    ld->next_edge = ld->bucket_end < ld->ival_end ? ld->bucket_end : ld->ival_end;
}

/* One finished request: a response (err < 0) or a socket-level failure (status 0). */
static void record(load_t *ld, uint64_t now, unsigned status, unsigned cluster, uint64_t lat_us,
                   int err)
{
    if (ld->stopped) return;
    if (now >= ld->deadline_us) {
        ld->late++;
        return;
    }
    if (now >= ld->next_edge) advance(ld, now);
    counts_add(&ld->total, status, cluster, err);
    counts_add(&ld->ival, status, cluster, err);
    counts_add(&ld->bucket, status, cluster, err);
    if (err < 0) {
        hist_record(&ld->lat, lat_us);
        hist_record(&ld->ival_lat, lat_us);
    }
}

static void on_end(cg_loop_t *loop, cg_defer_t *d);

static void stop(load_t *ld, uint64_t end)
{
    if (ld->stopped) return;
    ld->stopped = 1;
    ld->end_us = end;
    if (!ld->embedded)
        cg_loop_stop(ld->loop);
    else if (ld->hooks.on_end)
        cg_defer(ld->loop, &ld->end_defer, on_end);
}

static uint64_t open_backlog(load_t *ld, uint64_t now)
{
    uint64_t due = sched_due(ld->start_us, ld->rate,
                             now < ld->deadline_us ? now : ld->deadline_us - 1, ld->sched_max);
    return due > ld->next_sched ? due - ld->next_sched : 0;
}

static void check_done(load_t *ld, uint64_t now)
{
    if (ld->inflight) return;
    if (ld->rate > 0 ? ld->next_sched >= ld->sched_max
                     : (ld->max_requests && ld->issued >= ld->max_requests))
        stop(ld, now);
}

static int can_issue(load_t *ld, uint64_t now)
{
    return !ld->stopped && now < ld->deadline_us &&
           (!ld->max_requests || ld->issued < ld->max_requests);
}

static void on_reap(cg_loop_t *loop, cg_defer_t *d);

static void conn_close(load_t *ld, conn_t *c)
{
    if (c->io.fd >= 0) {
        cg_io_stop(ld->loop, &c->io);
        close(c->io.fd);
        c->io.fd = -1;
    }
    if (c->state == ST_CONNECTING) ld->nconnecting--;
    if (c->state != ST_CLOSED) ld->nopen--;
    c->state = ST_CLOSED;
    c->rlen = c->parsed = 0;
    /* the slot is reused after this loop iteration, so no stale event of this batch can
     * reach the connection's next socket */
    if (!c->reaped) {
        c->reaped = 1;
        ld->reaped[ld->nreaped++] = c->idx;
        cg_defer(ld->loop, &ld->reap_defer, on_reap);
    }
}

static void conn_fail(load_t *ld, conn_t *c, int kind)
{
    uint64_t now = cg_clock_mono_us();
    if (c->state == ST_WRITING || c->state == ST_READING) {
        ld->inflight--;
        record(ld, now, 0, CLUSTER_NONE, 0, kind);
    } else if (c->state == ST_CONNECTING || c->state == ST_CLOSED) {
        /* the connect was made for a request: that request failed */
        if (ld->rate == 0) {
            if (can_issue(ld, now)) {
                ld->issued++;
                record(ld, now, 0, CLUSTER_NONE, 0, kind);
            }
        } else if (open_backlog(ld, now) > 0) {
            ld->next_sched++;
            record(ld, now, 0, CLUSTER_NONE, 0, kind);
        }
    }
    c->pause = ld->rate == 0;
    conn_close(ld, c);
    check_done(ld, now);
}

/* The kind of a read or write failure on an established connection. */
static int errno_kind(int e)
{
    return e == ETIMEDOUT ? E_TIMEOUT : E_RESET;
}

static void on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events);
static void conn_ready(load_t *ld, conn_t *c, uint64_t now);

static void conn_open(load_t *ld, conn_t *c)
{
    c->pause = 0;
    c->since_us = cg_clock_mono_us();
    int fd = cg_sock_connect(&ld->addr);
    if (fd < 0) {
        conn_fail(ld, c, fd == CG_ECONNREFUSED ? E_REFUSED : E_CONNECT);
        return;
    }
    if (cg_io_start(ld->loop, &c->io, fd, on_io)) {
        close(fd);
        conn_fail(ld, c, E_CONNECT);
        return;
    }
    c->state = ST_CONNECTING;
    ld->nopen++;
    ld->nconnecting++;
    ld->connects++;
}

static void conn_write(load_t *ld, conn_t *c)
{
    while (c->wpos < ld->req_len) {
        ssize_t n = write(c->io.fd, ld->req + c->wpos, ld->req_len - c->wpos);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return; /* EPOLLOUT follows */
            conn_fail(ld, c, errno_kind(errno));
            return;
        }
        c->wpos += (size_t)n;
    }
    c->state = ST_READING;
}

static void conn_send(load_t *ld, conn_t *c, uint64_t start_us, uint64_t now)
{
    c->start_us = start_us;
    c->since_us = now;
    if (ld->rate > 0) hist_record(&ld->lag, now > start_us ? now - start_us : 0);
    c->wpos = 0;
    c->rlen = c->parsed = 0;
    c->head_done = 0;
    cg_http_parser_next(&c->parser);
    c->state = ST_WRITING;
    ld->inflight++;
    conn_write(ld, c);
}

static conn_t *idle_pop(load_t *ld)
{
    while (ld->idle_len) {
        conn_t *c = &ld->c[ld->idle[ld->idle_head]];
        ld->idle_head = (ld->idle_head + 1) % ld->nslots;
        ld->idle_len--;
        c->in_idle = 0;
        if (c->state == ST_IDLE) return c;
    }
    return NULL;
}

static void idle_push(load_t *ld, conn_t *c)
{
    if (c->in_idle) return;
    c->in_idle = 1;
    ld->idle[(ld->idle_head + ld->idle_len) % ld->nslots] = c->idx;
    ld->idle_len++;
}

/* Open loop: hands every due request to an idle connection, opening connections for the
 * rest (one per waiting request, up to the cap); those not served wait in the backlog. */
static void pump(load_t *ld, uint64_t now)
{
    if (ld->stopped) return;
    uint64_t due = sched_due(ld->start_us, ld->rate,
                             now < ld->deadline_us ? now : ld->deadline_us - 1, ld->sched_max);
    while (ld->next_sched < due) {
        conn_t *c = idle_pop(ld);
        if (!c) break;
        conn_send(ld, c, sched_time(ld->start_us, ld->rate, ld->next_sched++), now);
    }
    while (!ld->stopped && ld->nfree && ld->nopen < ld->max_conns &&
           open_backlog(ld, now) > ld->nconnecting)
        conn_open(ld, &ld->c[ld->free_slots[--ld->nfree]]);
}

static void conn_ready(load_t *ld, conn_t *c, uint64_t now)
{
    c->state = ST_IDLE;
    if (ld->rate > 0) {
        idle_push(ld, c);
        pump(ld, now);
    } else if (can_issue(ld, now)) {
        ld->issued++;
        conn_send(ld, c, now, now);
    }
}

/* Parses what is in c->rbuf. Returns 0 when the response is complete (c->status and
 * c->cluster set, c->parsed just past it), CG_EAGAIN for more input, CG_EPARSE. Heads are
 * parsed in place; once the status and cluster are read, head and body bytes are dropped. */
static int conn_parse(load_t *ld, conn_t *c)
{
    cg_http_parser_t *p = &c->parser;
    while (!c->head_done) {
        int r = cg_http_parse_head(p, c->rbuf, c->rlen, &c->parsed);
        if (r == CG_HTTP_INTERIM) {
            memmove(c->rbuf, c->rbuf + c->parsed, c->rlen - c->parsed);
            c->rlen -= c->parsed;
            c->parsed = 0;
            cg_http_parser_next(p);
            continue;
        }
        if (r == CG_EAGAIN) return c->rlen == RBUF ? CG_EPARSE : CG_EAGAIN;
        if (r < 0) return CG_EPARSE;
        c->head_done = 1;
        c->status = c->head.status < MAX_STATUS ? c->head.status : 0;
        int hi = cg_http_head_find(&c->head, c->rbuf, CG_IOV_LIT("x-app-cluster"));
        cg_iov_t v = cg_iov_trim(cg_http_head_value(&c->head, c->rbuf, hi));
        if (hi < 0)
            c->cluster = CLUSTER_MISSING;
        else if (c->cluster == CLUSTER_NONE || c->cluster == CLUSTER_MISSING ||
                 ld->cl.len[c->cluster] != v.len || memcmp(ld->cl.name[c->cluster], v.base, v.len))
            c->cluster = (uint16_t)clusters_intern(&ld->cl, v);
        if (p->complete || !cg_http_parser_has_body(p)) return 0;
        memmove(c->rbuf, c->rbuf + c->parsed, c->rlen - c->parsed);
        c->rlen -= c->parsed;
        c->parsed = 0;
    }
    for (;;) {
        cg_http_out_reset(&ld->sink);
        int r = cg_http_parse_body(p, c->rbuf, c->rlen, &c->parsed, &ld->sink);
        if (r == 0) return 0;
        if (r != CG_EAGAIN) return CG_EPARSE;
        if (c->parsed == c->rlen) {
            c->rlen = c->parsed = 0;
            return CG_EAGAIN;
        }
    }
}

static void conn_done(load_t *ld, conn_t *c, uint32_t events)
{
    uint64_t now = cg_clock_mono_us();
    ld->inflight--;
    record(ld, now, c->status, c->cluster, now - c->start_us, -1);
    int keep = (c->head.flags & CG_HTTP_F_KEEPALIVE) && c->parsed == c->rlen &&
               !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
    c->rlen = c->parsed = 0;
    if (!keep) {
        c->pause = 0;
        conn_close(ld, c);
    } else {
        conn_ready(ld, c, now);
    }
    check_done(ld, now);
}

static void conn_read(load_t *ld, conn_t *c, uint32_t events)
{
    for (;;) {
        ssize_t n = read(c->io.fd, c->rbuf + c->rlen, RBUF - c->rlen);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            if (c->state == ST_READING)
                conn_fail(ld, c, errno_kind(errno));
            else
                conn_close(ld, c);
            return;
        }
        if (n == 0) {
            if (c->state == ST_READING && c->head_done &&
                cg_http_parse_eof(&c->parser, NULL) == 0) {
                conn_done(ld, c, EPOLLRDHUP);
            } else if (c->state == ST_READING) {
                conn_fail(ld, c, E_CLOSED);
            } else {
                c->pause = 0;
                conn_close(ld, c); /* an idle keep-alive connection closed by the server */
            }
            return;
        }
        if (c->state != ST_READING) {
            conn_close(ld, c); /* bytes nobody asked for */
            return;
        }
        c->rlen += (size_t)n;
        int r = conn_parse(ld, c);
        if (r == CG_EAGAIN) continue;
        if (r < 0) {
            conn_fail(ld, c, E_PARSE);
            return;
        }
        /* One request in flight: nothing follows the response until the next request is
         * sent, whose answer brings a new edge. */
        conn_done(ld, c, events);
        return;
    }
}

static void on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    conn_t *c = cg_container_of(io, conn_t, io);
    load_t *ld = c->ld;
    if (c->state == ST_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = cg_sock_error(io->fd);
        if (err) {
            conn_fail(ld, c,
                      err == CG_ECONNREFUSED ? E_REFUSED
                      : err == CG_ETIMEDOUT  ? E_TIMEOUT
                                             : E_CONNECT);
            return;
        }
        ld->nconnecting--;
        conn_ready(ld, c, cg_clock_mono_us());
        return;
    }
    if (c->state == ST_WRITING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) conn_write(ld, c);
    if ((c->state == ST_READING || c->state == ST_IDLE) &&
        (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        conn_read(ld, c, events);
}

static void on_backoff(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, backoff);
    if (c->state == ST_CLOSED && can_issue(c->ld, cg_clock_mono_us())) conn_open(c->ld, c);
}

/* After each loop iteration: closed slots reconnect (closed loop) or become free (open loop). */
static void on_reap(cg_loop_t *loop, cg_defer_t *d)
{
    load_t *ld = cg_container_of(d, load_t, reap_defer);
    uint64_t now = cg_clock_mono_us();
    while (ld->nreaped) {
        conn_t *c = &ld->c[ld->reaped[--ld->nreaped]];
        c->reaped = 0;
        if (ld->stopped || c->state != ST_CLOSED) continue;
        if (ld->rate > 0)
            ld->free_slots[ld->nfree++] = c->idx;
        else if (c->pause)
            cg_timer_start(loop, &c->backoff, BACKOFF_MS, on_backoff);
        else if (can_issue(ld, now))
            conn_open(ld, c);
    }
    if (ld->rate > 0) pump(ld, now);
}

static void arm_schedule(load_t *ld, uint64_t now)
{
    uint64_t due = sched_due(ld->start_us, ld->rate, now, ld->sched_max);
    struct itimerspec its = {0};
    if (due < ld->sched_max) {
        uint64_t at = sched_time(ld->start_us, ld->rate, due);
        if (at >= ld->deadline_us) at = 0;
        if (at && at == ld->tfd_armed_us) return;
        its.it_value.tv_sec = (time_t)(at / 1000000u);
        its.it_value.tv_nsec = (long)(at % 1000000u) * 1000;
        ld->tfd_armed_us = at;
    }
    timerfd_settime(ld->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_schedule(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    load_t *ld = cg_container_of(io, load_t, tio);
    uint64_t v;
    while (read(ld->tfd, &v, sizeof(v)) > 0) {
    }
    ld->tfd_armed_us = 0;
    uint64_t now = cg_clock_mono_us();
    pump(ld, now);
    arm_schedule(ld, now);
}

static void on_tick(cg_loop_t *loop, cg_timer_t *t)
{
    load_t *ld = cg_container_of(t, load_t, tick);
    uint64_t now = cg_clock_mono_us();
    if (ld->stopped) return;
    for (uint32_t i = 0; i < ld->nslots; i++) {
        conn_t *c = &ld->c[i];
        if ((c->state == ST_CONNECTING || c->state == ST_WRITING || c->state == ST_READING) &&
            now - c->since_us >= ld->timeout_us)
            conn_fail(ld, c, E_TIMEOUT);
    }
    if (ld->stopped) return;
    if (now < ld->deadline_us) advance(ld, now);
    uint64_t next = ld->next_edge < ld->deadline_us ? ld->next_edge : ld->deadline_us;
    uint64_t after = next > now ? (next - now + 999) / 1000 : 1;
    if (after < 1) after = 1;
    if (after > BUCKET_US / 1000) after = BUCKET_US / 1000;
    cg_timer_start(loop, &ld->tick, after, on_tick);
}

static void on_deadline(cg_loop_t *loop, cg_timer_t *t)
{
    load_t *ld = cg_container_of(t, load_t, deadline);
    if (cg_clock_mono_us() < ld->deadline_us) {
        cg_timer_start(loop, t, 1, on_deadline);
        return;
    }
    stop(ld, ld->deadline_us);
}

static void on_signal(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    load_t *ld = loop->data;
    stop(ld, cg_clock_mono_us());
}

/* ---------------------------------------------------------------------------------------
 * Reports
 * --------------------------------------------------------------------------------------- */

static uint64_t failed_requests(const counts_t *k)
{
    uint64_t n = k->status[0];
    for (unsigned s = 500; s < MAX_STATUS; s++) n += k->status[s];
    return n;
}

static uint64_t incomplete(load_t *ld)
{
    return ld->inflight + ld->late + (ld->rate > 0 ? open_backlog(ld, ld->end_us) : 0);
}

static void print_summary(load_t *ld)
{
    double secs = (double)(ld->end_us - ld->start_us) / 1e6;
    const counts_t *k = &ld->total;
    cg_buf_t b = {0};
    char p[5][32];
    static const double ps[5] = {50, 90, 99, 99.9, 100};
    for (int i = 0; i < 5; i++) fmt_ms(p[i], sizeof(p[i]), &ld->lat, ps[i]);
    cg_buf_printf(&b, "\nsummary: %s, %.2fs, %s", ld->url, secs,
                  ld->rate > 0 ? "open loop" : "closed loop");
    if (ld->rate > 0) cg_buf_printf(&b, " at %.1f/s", ld->rate);
    cg_buf_printf(&b, ", %u connection%s", ld->conns, ld->conns == 1 ? "" : "s");
    if (ld->rate > 0) cg_buf_printf(&b, " (cap %u)", ld->max_conns);
    cg_buf_printf(&b, ", %llu connects\n", (unsigned long long)ld->connects);
    cg_buf_printf(&b, "  requests    %llu (%.1f/s), failed %llu (status >= 500 or socket error)",
                  (unsigned long long)k->requests, secs > 0 ? (double)k->requests / secs : 0.0,
                  (unsigned long long)failed_requests(k));
    uint64_t inc = incomplete(ld);
    if (inc)
        cg_buf_printf(&b, ", %llu in flight at the end (not counted)", (unsigned long long)inc);
    cg_buf_append_str(&b, "\n  status      ");
    print_statuses(ld, k, &b);
    cg_buf_append_str(&b, "\n  clusters    ");
    print_clusters(ld, k, &b);
    cg_buf_printf(&b, "\n  latency     p50 %s  p90 %s  p99 %s  p99.9 %s  max %s\n  ", p[0], p[1],
                  p[2], p[3], p[4]);
    print_errors(k, &b);
    if (ld->rate > 0) {
        fmt_ms(p[0], sizeof(p[0]), &ld->lag, 50);
        fmt_ms(p[1], sizeof(p[1]), &ld->lag, 99);
        fmt_ms(p[2], sizeof(p[2]), &ld->lag, 100);
        cg_buf_printf(&b,
                      "\n  send lag    p50 %s  p99 %s  max %s (sent after the scheduled time; "
                      "counted in latency)",
                      p[0], p[1], p[2]);
    }
    cg_buf_append_str(&b, "\n");
    fwrite(b.base, 1, b.len, ld->out);
    fflush(ld->out);
    cg_buf_free(&b);
}

static void json_ms(cg_buf_t *b, const char *key, const hist_t *h, double p, int comma)
{
    cg_buf_printf(b, "\"%s\":", key);
    if (!h->count)
        cg_buf_append_str(b, "null");
    else
        cg_buf_printf(b, "%.3f", (double)hist_percentile(h, p) / 1000.0);
    if (comma) cg_buf_append_str(b, ",");
}

static void json_name(cg_buf_t *b, const clusters_t *cl, unsigned i)
{
    cg_buf_append_str(b, "\"");
    cg_buf_append_json_escaped(b, cg_iov(cl->name[i], cl->len[i]));
    cg_buf_append_str(b, "\"");
}

/* The whole report as one JSON object (the format is in docs/load.md). */
static void render_json(load_t *ld, cg_buf_t *b)
{
    const counts_t *k = &ld->total;
    cg_buf_append_str(b, "{\"url\":\"");
    cg_buf_append_json_escaped(b, cg_iov_str(ld->url));
    cg_buf_append_str(b, "\",\"host\":\"");
    cg_buf_append_json_escaped(b, cg_iov_str(ld->host_hdr));
    cg_buf_printf(b, "\",\"mode\":\"%s\",\"connections\":%u,", ld->rate > 0 ? "open" : "closed",
                  ld->conns);
    if (ld->rate > 0)
        cg_buf_printf(b, "\"rate\":%.3f,\"max_connections\":%u,", ld->rate, ld->max_conns);
    else
        cg_buf_append_str(b, "\"rate\":null,");
    cg_buf_printf(
        b,
        "\"connects\":%llu,\"duration_s\":%.3f,\"requests\":%llu,\"failed_requests\":%llu,"
        "\"unfinished_requests\":%llu,\"status\":{",
        (unsigned long long)ld->connects, (double)(ld->end_us - ld->start_us) / 1e6,
        (unsigned long long)k->requests, (unsigned long long)failed_requests(k),
        (unsigned long long)incomplete(ld));
    int n = 0;
    for (unsigned s = 0; s < MAX_STATUS; s++)
        if (k->status[s])
            cg_buf_printf(b, "%s\"%u\":%llu", n++ ? "," : "", s, (unsigned long long)k->status[s]);
    cg_buf_append_str(b, "},\"requests_per_cluster\":{");
    n = 0;
    uint16_t order[MAX_CLUSTERS];
    unsigned ncl = clusters_sorted(&ld->cl, order);
    for (unsigned j = 0; j < ncl; j++) {
        unsigned i = order[j];
        if (!k->cluster[i]) continue;
        if (n++) cg_buf_append_str(b, ",");
        json_name(b, &ld->cl, i);
        cg_buf_printf(b, ":%llu", (unsigned long long)k->cluster[i]);
    }
    cg_buf_append_str(b, "},\"errors\":{");
    for (int e = 0; e < E_KINDS; e++)
        cg_buf_printf(b, "%s\"%s\":%llu", e ? "," : "", err_names[e],
                      (unsigned long long)k->errors[e]);
    cg_buf_append_str(b, "},\"latency_ms\":{");
    json_ms(b, "p50", &ld->lat, 50, 1);
    json_ms(b, "p90", &ld->lat, 90, 1);
    json_ms(b, "p99", &ld->lat, 99, 1);
    json_ms(b, "p999", &ld->lat, 99.9, 1);
    json_ms(b, "max", &ld->lat, 100, 1);
    cg_buf_append_str(b, "\"mean\":");
    if (ld->lat.count)
        cg_buf_printf(b, "%.3f", (double)ld->lat.sum / (double)ld->lat.count / 1000.0);
    else
        cg_buf_append_str(b, "null");
    cg_buf_append_str(b, "}");
    if (ld->rate > 0) {
        cg_buf_append_str(b, ",\"send_lag_ms\":{");
        json_ms(b, "p50", &ld->lag, 50, 1);
        json_ms(b, "p99", &ld->lag, 99, 1);
        json_ms(b, "max", &ld->lag, 100, 0);
        cg_buf_append_str(b, "}");
    }
    cg_buf_append_str(b, ",\"timeline\":[");
    const char *t = ld->timeline.base, *end = t + ld->timeline.len;
    for (uint64_t i = 0; t < end; i++) {
        uint16_t ns, nc, key;
        uint32_t cnt;
        memcpy(&ns, t, 2);
        memcpy(&nc, t + 2, 2);
        t += 4;
        cg_buf_printf(b, "%s{\"t\":%.1f,\"status\":{", i ? "," : "",
                      (double)(i + 1) * BUCKET_US / 1e6);
        for (uint16_t j = 0; j < ns; j++, t += 6) {
            memcpy(&key, t, 2);
            memcpy(&cnt, t + 2, 4);
            cg_buf_printf(b, "%s\"%u\":%u", j ? "," : "", key, cnt);
        }
        cg_buf_append_str(b, "},\"clusters\":{");
        for (uint16_t j = 0; j < nc; j++, t += 6) {
            memcpy(&key, t, 2);
            memcpy(&cnt, t + 2, 4);
            if (j) cg_buf_append_str(b, ",");
            json_name(b, &ld->cl, key);
            cg_buf_printf(b, ":%u", cnt);
        }
        cg_buf_append_str(b, "}}");
    }
    cg_buf_append_str(b, "]}\n");
}

/* A window of counts for the hooks: statuses ascending, clusters in name order, each list cut
 * at CG_LOAD_WINDOW_MAX entries. */
static void fill_window(const load_t *ld, const counts_t *k, const hist_t *h, double t, double secs,
                        cg_load_window_t *w)
{
    memset(w, 0, sizeof(*w));
    w->t = t;
    w->secs = secs;
    w->requests = k->requests;
    w->failed = failed_requests(k);
    w->errors = k->status[0];
    w->p50_ms = w->p99_ms = w->max_ms = -1;
    if (h && h->count) {
        w->p50_ms = (double)hist_percentile(h, 50) / 1000.0;
        w->p99_ms = (double)hist_percentile(h, 99) / 1000.0;
        w->max_ms = (double)h->max / 1000.0;
    }
    if (!k->requests) return;
    for (unsigned s = 0; s < MAX_STATUS && w->nstatus < CG_LOAD_WINDOW_MAX; s++) {
        if (!k->status[s]) continue;
        w->status[w->nstatus].code = s;
        w->status[w->nstatus++].n = k->status[s];
    }
    uint16_t order[MAX_CLUSTERS];
    unsigned n = clusters_sorted(&ld->cl, order);
    for (unsigned j = 0; j < n && w->nclusters < CG_LOAD_WINDOW_MAX; j++) {
        unsigned i = order[j];
        if (!k->cluster[i]) continue;
        w->cluster[w->nclusters].name = ld->cl.name[i];
        w->cluster[w->nclusters++].n = k->cluster[i];
    }
}

/* ---------------------------------------------------------------------------------------
 * Setup and teardown
 * --------------------------------------------------------------------------------------- */

static int bad(const char *fmt, const char *arg)
{
    fputs("crossgate load: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\n", stderr);
    return 2;
}

static int valid_token(const char *s, int allow_space)
{
    for (; *s; s++)
        if ((unsigned char)*s <= ' ' || *s == 0x7f) {
            if (!(allow_space && *s == ' ')) return 0;
        }
    return 1;
}

/* Parses argv into ld; returns 0, or the exit code (help: -1). */
static int parse_args(load_t *ld, int argc, char **argv)
{
    enum { O_HOST = 256, O_RATE, O_JSON, O_INTERVAL, O_TIMEOUT, O_MAXCONNS };
    static const struct option opts[] = {
        {"host", required_argument, 0, O_HOST},
        {"connections", required_argument, 0, 'c'},
        {"duration", required_argument, 0, 'd'},
        {"rate", required_argument, 0, O_RATE},
        {"json", required_argument, 0, O_JSON},
        {"interval", required_argument, 0, O_INTERVAL},
        {"requests", required_argument, 0, 'n'},
        {"timeout", required_argument, 0, O_TIMEOUT},
        {"max-conns", required_argument, 0, O_MAXCONNS},
        {"quiet", no_argument, 0, 'q'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    uint64_t v;
    int max_conns_set = 0, opt;
    ld->conns = 1;
    ld->duration_us = 10000000;
    ld->interval_us = 1000000;
    ld->timeout_us = 5000000;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, ":c:d:n:qh", opts, NULL)) != -1) {
        switch (opt) {
        case O_HOST:
            if (!*optarg || !valid_token(optarg, 0))
                return bad("--host: invalid host \"%s\"", optarg);
            ld->host_hdr = optarg;
            break;
        case 'c':
            if (parse_count(optarg, 100000, &v) || v == 0)
                return bad("-c: expected a connection count from 1, got \"%s\"", optarg);
            ld->conns = (uint32_t)v;
            break;
        case 'd':
            if (parse_duration(optarg, &v) || v < 1000 || v > 86400000000ull)
                return bad(
                    "-d: expected a duration from 1ms to 24h such as 30s, 500ms or 2m, got \"%s\"",
                    optarg);
            ld->duration_us = v;
            break;
        case O_RATE: {
            char *end;
            errno = 0;
            double r = strtod(optarg, &end);
            if (errno || end == optarg || *end || !(r > 0) || r > 10000000)
                return bad("--rate: expected requests per second above 0, got \"%s\"", optarg);
            ld->rate = r;
            break;
        }
        case O_JSON: ld->json_path = optarg; break;
        case O_INTERVAL:
            if (parse_duration(optarg, &v) || v < 10000 || v > 3600000000ull)
                return bad("--interval: expected a duration from 10ms to 1h, got \"%s\"", optarg);
            ld->interval_us = v;
            break;
        case 'n':
            if (parse_count(optarg, UINT64_MAX / 2, &v) || v == 0)
                return bad("-n: expected a request count from 1, got \"%s\"", optarg);
            ld->max_requests = v;
            break;
        case O_TIMEOUT:
            if (parse_duration(optarg, &v) || v < 1000 || v > 3600000000ull)
                return bad("--timeout: expected a duration from 1ms to 1h, got \"%s\"", optarg);
            ld->timeout_us = v;
            break;
        case O_MAXCONNS:
            if (parse_count(optarg, 100000, &v) || v == 0)
                return bad("--max-conns: expected a count from 1, got \"%s\"", optarg);
            ld->max_conns = (uint32_t)v;
            max_conns_set = 1;
            break;
        case 'q': ld->quiet = 1; break;
        case 'h': fputs(usage, stdout); return -1;
        case ':': return bad("%s needs a value (see --help)", argv[optind - 1]);
        default: return bad("unknown option \"%s\" (see --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc) return bad("%s", "missing URL (see --help)");
    if (optind + 1 < argc) return bad("unexpected argument \"%s\"", argv[optind + 1]);
    ld->url = argv[optind];
    if (!strncmp(ld->url, "https://", 8))
        return bad("%s: https is not supported; use http://IP:PORT/path", ld->url);
    if (cg_http_url_parse(ld->url, &ld->addr, ld->host, sizeof(ld->host), &ld->path) ||
        !valid_token(ld->path, 0) || !valid_token(ld->host, 0))
        return bad(
            "malformed URL \"%s\": expected http://IP:PORT/path (an IP address or localhost)",
            ld->url);
    if (!ld->host_hdr) ld->host_hdr = ld->host;
    if (ld->rate > 0) {
        if (!max_conns_set) ld->max_conns = ld->conns > 512 ? ld->conns : 512;
        if (ld->max_conns < ld->conns) ld->max_conns = ld->conns;
    } else {
        ld->max_conns = ld->conns;
    }
    return 0;
}

/* Raises the open-file limit as far as allowed; the connection counts must fit under it. */
static int check_fd_limit(load_t *ld)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl)) return 0;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)ld->conns + 32 > rl.rlim_cur) {
        fprintf(stderr, "crossgate load: -c %u exceeds the open-file limit (%llu)\n", ld->conns,
                (unsigned long long)rl.rlim_cur);
        return 2;
    }
    if (rl.rlim_cur != RLIM_INFINITY && (uint64_t)ld->max_conns + 32 > rl.rlim_cur)
        ld->max_conns = (uint32_t)(rl.rlim_cur - 32);
    return 0;
}

static void setup(load_t *ld, cg_loop_t *loop)
{
    cg_buf_t req = {0};
    cg_buf_printf(
        &req, "GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: crossgate-load\r\nAccept: */*\r\n\r\n",
        ld->path, ld->host_hdr);
    ld->req = req.base;
    ld->req_len = req.len;
    ld->loop = loop;
    ld->nslots = ld->max_conns;
    ld->c = cg_xcalloc(ld->nslots, sizeof(conn_t));
    ld->idle = cg_xcalloc(ld->nslots, sizeof(uint32_t));
    ld->free_slots = cg_xcalloc(ld->nslots, sizeof(uint32_t));
    ld->reaped = cg_xcalloc(ld->nslots, sizeof(uint32_t));
    for (uint32_t i = 0; i < ld->nslots; i++) {
        conn_t *c = &ld->c[i];
        c->io.fd = -1;
        c->ld = ld;
        c->idx = i;
        c->cluster = CLUSTER_NONE;
        cg_http_parser_init(&c->parser, 0, &c->head, NULL);
    }
    for (uint32_t i = ld->nslots; i > 0; i--) ld->free_slots[ld->nfree++] = i - 1;
    cg_list_init(&ld->reap_defer.link);
    ld->reap_defer.cb = on_reap;
    clusters_init(&ld->cl);
    ld->sched_max = ld->rate > 0 && ld->max_requests ? ld->max_requests : UINT64_MAX;
    ld->tfd = -1;
}

/* Closes the connections and stops the timers; the results stay. */
static void release(load_t *ld)
{
    if (!ld->loop) return;
    for (uint32_t i = 0; i < ld->nslots; i++) {
        conn_t *c = &ld->c[i];
        cg_timer_stop(ld->loop, &c->backoff);
        if (c->io.fd >= 0) {
            cg_io_stop(ld->loop, &c->io);
            close(c->io.fd);
            c->io.fd = -1;
        }
    }
    cg_defer_cancel(&ld->reap_defer);
    cg_defer_cancel(&ld->end_defer);
    cg_timer_stop(ld->loop, &ld->tick);
    cg_timer_stop(ld->loop, &ld->deadline);
    if (ld->tfd >= 0) {
        cg_io_stop(ld->loop, &ld->tio);
        close(ld->tfd);
        ld->tfd = -1;
    }
}

static void teardown(load_t *ld)
{
    release(ld);
    free(ld->c);
    free(ld->idle);
    free(ld->free_slots);
    free(ld->reaped);
    free(ld->req);
    cg_buf_free(&ld->timeline);
    ld->c = NULL;
    ld->idle = ld->free_slots = ld->reaped = NULL;
    ld->req = NULL;
}

static void finish_run(load_t *ld);

/* Time zero of the run: the schedule, the intervals and the timeline count from here. */
static void start_clock(load_t *ld, uint64_t start)
{
    ld->start_us = start;
    ld->deadline_us = start + ld->duration_us;
    ld->ival_start = start;
    ld->ival_end = start + ld->interval_us;
    ld->bucket_end = start + BUCKET_US;
    ld->next_edge = ld->bucket_end < ld->ival_end ? ld->bucket_end : ld->ival_end;
}

/* Time zero, the timers and the first connections. */
static void begin(load_t *ld)
{
    cg_loop_t *loop = ld->loop;
    cg_loop_update_time(loop);
    start_clock(ld, loop->now_us);
    cg_timer_start(loop, &ld->deadline, (ld->duration_us + 999) / 1000, on_deadline);
    cg_timer_start(loop, &ld->tick, BUCKET_US / 1000, on_tick);
    if (ld->rate > 0) {
        /* the schedule needs microseconds, the loop's timers have milliseconds */
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        ld->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (ld->tfd >= 0) cg_io_start_level(loop, &ld->tio, ld->tfd, EPOLLIN, on_schedule);
        pump(ld, ld->start_us);
        /* keep CONNS connections open from the start, like a pool of clients */
        for (uint32_t i = 0; i < ld->conns && ld->nopen < ld->conns && ld->nfree; i++)
            conn_open(ld, &ld->c[ld->free_slots[--ld->nfree]]);
        if (ld->tfd >= 0)
            arm_schedule(ld, ld->start_us);
        else
            fprintf(stderr, "crossgate load: timerfd: %s\n", strerror(errno));
    } else {
        for (uint32_t i = 0; i < ld->conns; i++)
            if (can_issue(ld, ld->start_us)) conn_open(ld, &ld->c[i]);
    }
}

static void run(load_t *ld)
{
    begin(ld);
    while (!ld->stopped) cg_loop_run_once(ld->loop, -1);
    finish_run(ld);
}

/* Closes the last buckets and the last (possibly short) interval at ld->end_us. */
static void finish_run(load_t *ld)
{
    advance(ld, ld->end_us);
    if (ld->end_us > ld->bucket_end - BUCKET_US) flush_bucket(ld);
    if (ld->ival.requests || ld->end_us - ld->ival_start >= ld->interval_us / 10)
        print_interval(ld, ld->end_us);
}

static void print_banner(load_t *ld)
{
    fprintf(ld->out, "crossgate load %s (Host: %s): ", ld->url, ld->host_hdr);
    if (ld->rate > 0)
        fprintf(ld->out, "open loop, %.1f req/s over %u+ connections (cap %u)", ld->rate, ld->conns,
                ld->max_conns);
    else
        fprintf(ld->out, "closed loop, %u connection%s", ld->conns, ld->conns == 1 ? "" : "s");
    fprintf(ld->out, ", %.1fs", (double)ld->duration_us / 1e6);
    if (ld->max_requests)
        fprintf(ld->out, " or %llu requests", (unsigned long long)ld->max_requests);
    fputs("\n", ld->out);
    fflush(ld->out);
}

static int write_json(load_t *ld)
{
    cg_buf_t b = {0};
    render_json(ld, &b);
    int rc = 0;
    if (fwrite(b.base, 1, b.len, ld->json) != b.len || fflush(ld->json)) {
        fprintf(stderr, "crossgate load: cannot write %s: %s\n", ld->json_path, strerror(errno));
        rc = 1;
    }
    cg_buf_free(&b);
    return rc;
}

int cg_cli_load(int argc, char **argv)
{
    load_t *ld = cg_xcalloc(1, sizeof(*ld));
    cg_loop_t loop;
    cg_io_t sig_io;
    sigset_t set;
    int rc, sfd = -1, have_loop = 0;
    sigemptyset(&set);
    if ((rc = parse_args(ld, argc, argv))) {
        rc = rc < 0 ? 0 : rc; /* --help */
        goto Exit;
    }
    if ((rc = check_fd_limit(ld))) goto Exit;
    ld->out = stdout;
    if (ld->json_path && !strcmp(ld->json_path, "-")) {
        ld->json = stdout;
        ld->out = stderr; /* stdout carries only the JSON */
    } else if (ld->json_path && !(ld->json = fopen(ld->json_path, "w"))) {
        fprintf(stderr, "crossgate load: cannot write %s: %s\n", ld->json_path, strerror(errno));
        rc = 2;
        goto Exit;
    }
    if (cg_loop_init(&loop)) {
        fprintf(stderr, "crossgate load: cannot create the event loop\n");
        rc = 1;
        goto Exit;
    }
    have_loop = 1;
    signal(SIGPIPE, SIG_IGN);
    /* Ctrl-C ends the run early, with the summary and the JSON of what was measured */
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sfd >= 0) cg_io_start_level(&loop, &sig_io, sfd, EPOLLIN, on_signal);

    setup(ld, &loop);
    loop.data = ld;
    if (!ld->quiet) print_banner(ld);
    run(ld);
    if (!ld->quiet) print_summary(ld);
    if (ld->json) rc = write_json(ld);
    teardown(ld);

Exit:
    if (sfd >= 0) {
        cg_io_stop(&loop, &sig_io);
        close(sfd);
    }
    if (have_loop) cg_loop_destroy(&loop);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    if (ld->json && ld->json != stdout) fclose(ld->json);
    free(ld);
    return rc;
}

/* ---------------------------------------------------------------------------------------
 * The engine for other tools (tools/load.h)
 * --------------------------------------------------------------------------------------- */

static void on_end(cg_loop_t *loop, cg_defer_t *d)
{
    load_t *ld = cg_container_of(d, load_t, end_defer);
    if (ld->hooks.on_end) ld->hooks.on_end(ld->hooks.data);
}

cg_load_t *cg_tools_load_new(const cg_load_opts_t *o, const cg_load_hooks_t *hooks, char *err,
                             size_t errcap)
{
    load_t *ld = cg_xcalloc(1, sizeof(*ld));
    ld->embedded = 1;
    ld->quiet = 1;
    ld->url = o->url;
    ld->rate = o->rate > 0 ? o->rate : 0;
    ld->conns = o->connections ? o->connections : 1;
    ld->duration_us = o->duration_us ? o->duration_us : 10000000;
    if (ld->duration_us > 86400000000ull) ld->duration_us = 86400000000ull;
    ld->interval_us = o->interval_us ? o->interval_us : 1000000;
    ld->timeout_us = o->timeout_us ? o->timeout_us : 5000000;
    if (hooks) ld->hooks = *hooks;
    if (!ld->url || cg_http_url_parse(ld->url, &ld->addr, ld->host, sizeof(ld->host), &ld->path) ||
        !valid_token(ld->path, 0) || !valid_token(ld->host, 0)) {
        snprintf(err, errcap, "malformed URL \"%s\": expected http://IP:PORT/path",
                 ld->url ? ld->url : "");
        free(ld);
        return NULL;
    }
    ld->host_hdr = o->host && *o->host ? o->host : ld->host;
    if (!valid_token(ld->host_hdr, 0)) {
        snprintf(err, errcap, "invalid host \"%s\"", ld->host_hdr);
        free(ld);
        return NULL;
    }
    if (ld->rate > 0)
        ld->max_conns = o->max_conns > ld->conns ? o->max_conns : ld->conns > 512 ? ld->conns : 512;
    else
        ld->max_conns = ld->conns;
    return ld;
}

void cg_tools_load_start(cg_load_t *ld, cg_loop_t *loop)
{
    if (ld->loop) return;
    setup(ld, loop);
    cg_list_init(&ld->end_defer.link);
    begin(ld);
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
    finish_run(ld);
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
    fill_window(ld, &ld->total, &ld->lat, secs, secs, out);
}

void cg_tools_load_json(cg_load_t *ld, cg_buf_t *out)
{
    render_json(ld, out);
}

void cg_tools_load_free(cg_load_t *ld)
{
    if (!ld) return;
    cg_tools_load_stop(ld);
    teardown(ld);
    free(ld);
}
