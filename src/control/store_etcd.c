/* The store's etcd backend: etcd v3 through its JSON gateway (/v3/kv/range, /v3/kv/txn,
 * /v3/watch), with an in-memory mirror in front. Keys and bodies: store_etcd_wire.h.
 *
 * One commit is one txn: the transaction's checks become compares on mod_revision, so a
 * resourceVersion is checked where the write happens. Requests block the loop as SQLite's
 * writes do, bounded by a timeout; a connection failure tries the next endpoint, and when none
 * answers the write returns CG_EAGAIN with the cause in st->unavailable (answered 503 "store
 * unavailable: ..."). The mirror stays as it was, so reads go on.
 *
 * Several control planes share one etcd: each keeps its mirror by a watch on every key under
 * /crossgate/, from the revision after the one its mirror holds. The mirror's revision is the
 * last change the watch (or a full read) delivered, so every replica that has seen revision R
 * holds exactly etcd's state at R, and snapshot versions built on it (version_base) agree
 * between replicas. A resource commit waits until the watch has delivered its revision (every
 * other replica's earlier change with it), so a write is read back as etcd holds it; lease
 * writes are patched in at once and the watch's copy of them is skipped (pending). A watch that
 * breaks reconnects, to the next endpoint, from the revision after the mirror's; one on a
 * compacted revision, or a commit the watch does not confirm in time, reads everything again.
 * A control plane started while etcd is unreachable answers "store unavailable" until a read
 * succeeds (retried each second), and never serves an empty mirror as the store's state. */
#include "control/store.h"
#include "control/store_etcd_wire.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "core/sock.h"
#include "http/client.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Endpoints in --store etcd://A,B,... at most. */
#define MAX_ENDPOINTS 16
uint32_t cg_control_store_etcd_timeout_ms = CG_CONTROL_STORE_ETCD_TIMEOUT_MS;

/* The watch's reconnect back-off: doubles from the first to the last, with jitter. */
#define WATCH_BACKOFF_MIN_MS 100
#define WATCH_BACKOFF_MAX_MS 2000
/* How often the watch is checked against etcd (above). */
#define PROBE_MS 3000
/* A store not read yet (etcd unreachable at start) is read again this often. */
#define LOAD_RETRY_MS 1000
/* The longest answer head of a watch. */
#define WATCH_HEAD_MAX 8192
/* Reads of the watch's socket in one turn of the loop: a flood from etcd does not keep the
 * loop from its other work (the rest is read on the next turns). */
#ifndef WATCH_READS_PER_TURN /* a test may make it small */
#define WATCH_READS_PER_TURN 64
#endif

/* A key this process wrote at rev that the watch has not delivered yet: the watch's older
 * events for it are stale (the mirror already holds the write). */
typedef struct pending {
    char *key;
    uint64_t rev;
} pending_t;

enum { W_IDLE, W_CONNECTING, W_HEAD, W_STREAM };
/* watch_line and watch_read, positive values that are not errors: the watch was canceled on a
 * compacted revision and everything read again; etcd ended the answer */
enum { W_COMPACTED = 1, W_ENDED };

typedef struct et {
    cg_control_store_t *st;
    char endpoints[MAX_ENDPOINTS][CG_HTTP_URL_MAX / 4];
    size_t nendpoints, current;
    CG_VEC(cg_control_res_t *) res; /* in seq (create_revision) order */
    cg_resource_set_t *view;
    uint64_t revision; /* the mirror's: the last change it holds */
    uint64_t versions_held;
    uint64_t base; /* snapshot versions are base + revision (version_base) */
    int loaded;    /* the mirror holds etcd's state (else: unreachable since the start) */
    cg_control_lease_vec_t leases; /* the stored leases, for renewals that carry only the expiry */
    CG_VEC(pending_t) pending;
    cg_loop_t *loop; /* NULL until started: no watch, every commit reads back */
    struct {
        int fd, state;
        cg_io_t io;
        size_t at;     /* endpoint */
        cg_buf_t head; /* the answer's head while it arrives */
        cg_etcd_stream_t body;
        uint32_t backoff_ms; /* 0 again once the watch delivers events */
        /* reconnect, the next read of a store not read yet, or (while not W_IDLE) the end of
         * the wait for the watch's creation */
        cg_timer_t timer;
        cg_timer_t more; /* the socket has more to read (WATCH_READS_PER_TURN) */
    } w;
    cg_buf_t tokens; /* meta/tokens */
    int has_tokens;
    int changed, leases_changed, tokens_changed; /* the watch changed the mirror: tell the user */
    /* Every PROBE_MS etcd is asked whether keys changed after the mirror's revision: a watch
     * that stays open but silent (its member cut off from the others) is replaced when two
     * probes in a row say so. */
    cg_timer_t probe;
    uint64_t suspect; /* the mirror's revision at the last probe that found changes, or 0 */
    cg_defer_t notify;
    int notify_queued;
    /* The last call was a txn one endpoint may have applied (it timed out or lost its
     * connection) before another answered: a compare that then fails may be our own write. */
    int uncertain;
} et_t;

static et_t *impl(const cg_control_store_t *st)
{
    return st->impl;
}

/* POSTs body to path on the current endpoint, moving on to the next one on a connection
 * failure, a timeout or etcd's "try again". A write (a txn) that timed out or lost its
 * connection may have been applied (a follower holds a proposal through a leader election):
 * it is sent to the next endpoint all the same, with e->uncertain set, so that the caller can
 * tell its own write from another's when a compare fails (et_commit). 0 with a filled in,
 * CG_EAGAIN (st->unavailable says why), CG_EIO or CG_EPARSE. */
static int call(cg_control_store_t *st, const char *path, const cg_buf_t *body, cg_etcd_answer_t *a)
{
    const int write = !strcmp(path, "/v3/kv/txn");
    et_t *e = impl(st);
    e->uncertain = 0;
    cg_buf_t why = {0};
    int rc = CG_EAGAIN;
    memset(a, 0, sizeof(*a));
    for (size_t tries = 0; tries < e->nendpoints; tries++) {
        char url[CG_HTTP_URL_MAX];
        snprintf(url, sizeof(url), "http://%s%s", e->endpoints[e->current], path);
        cg_http_result_t res = {0};
        cg_http_fetch("POST", url, "content-type: application/json\r\n", body->base, body->len,
                      cg_control_store_etcd_timeout_ms, &res);
        /* every endpoint's cause, on one line: "etcd A: connection refused; etcd B: ..." */
        cg_buf_printf(&why, "%setcd %s: ", tries ? "; " : "", e->endpoints[e->current]);
        if (res.err == 0) {
            size_t at = why.len;
            rc = cg_etcd_answer_parse(res.status, res.body.base ? res.body.base : "", res.body.len,
                                      a, &why);
            cg_http_result_free(&res);
            /* the parser's lines begin "etcd ...": keep the endpoint's name once */
            if (why.len - at > 5 && !memcmp(why.base + at, "etcd ", 5)) {
                memmove(why.base + at, why.base + at + 5, why.len - at - 5);
                why.len -= 5;
            }
            /* an endpoint that answers "no leader" may be cut off: another may have one */
            if (rc != CG_EAGAIN) break;
        } else {
            int err = res.err;
            cg_buf_printf(&why, "%s", cg_strerror(err));
            cg_http_result_free(&res);
            if (write && err != CG_ECONNREFUSED) {
                cg_buf_printf(&why, " (the write may have been applied)");
                e->uncertain = 1;
            }
        }
        cg_etcd_answer_free(a);
        e->current = (e->current + 1) % e->nendpoints;
    }
    if (rc) {
        snprintf(st->unavailable, sizeof(st->unavailable), "%.*s", (int)why.len,
                 why.base ? why.base : "");
        cg_log_error("store: %s", st->unavailable);
    } else {
        st->unavailable[0] = '\0';
    }
    cg_buf_free(&why);
    return rc;
}

static int txn_call(cg_control_store_t *st, cg_etcd_txn_t *t, cg_etcd_answer_t *a)
{
    cg_buf_t body = {0};
    cg_etcd_txn_body(t, &body);
    int rc = call(st, "/v3/kv/txn", &body, a);
    cg_buf_free(&body);
    return rc;
}

static int range_call(cg_control_store_t *st, const char *key, int prefix, cg_etcd_answer_t *a)
{
    cg_buf_t body = {0};
    cg_etcd_range_body(&body, key, prefix);
    int rc = call(st, "/v3/kv/range", &body, a);
    cg_buf_free(&body);
    return rc;
}

/* ---- values ---- */

static void res_value(const cg_control_res_t *r, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "kind", cg_model_kind_name(r->kind));
    cg_jw_kstr(&w, "cluster", r->cluster);
    cg_jw_kstr(&w, "namespace", r->namespace_);
    cg_jw_kstr(&w, "name", r->name);
    cg_jw_ku64(&w, "updated_us", r->updated_us);
    cg_jw_kstr(&w, "json", r->json);
    cg_jw_end(&w);
}

/* "store: etcd key KEY WHAT, ignored: WHY" with what etcd or another writer put there (the key,
 * the value's names in why) printable: a newline in them cannot forge a log line. */
static void warn_ignored(const char *key, const char *what, const char *why, size_t n)
{
    cg_buf_t b = {0};
    cg_buf_append_str(&b, "store: etcd key ");
    cg_etcd_printable(&b, key, strlen(key));
    cg_buf_printf(&b, " %s, ignored", what);
    while (why && n && why[n - 1] == '\n') n--; /* a validation's lines end with one */
    if (why) {
        cg_buf_append_str(&b, ": ");
        cg_etcd_printable(&b, why, n);
    }
    cg_log_warn("%.*s", (int)b.len, b.base);
    cg_buf_free(&b);
}

static cg_control_res_t *res_parse(const cg_etcd_kv_t *kv)
{
    cg_json_t *doc = cg_json_parse(kv->key, kv->value, kv->value_len, NULL);
    cg_buf_t errors = {0};
    cg_json_dec_t d = {.what = kv->key, .errors = &errors};
    cg_control_res_t *r = cg_xcalloc(1, sizeof(*r));
    char *kind = cg_json_dec_str(&d, doc, "kind", 1);
    r->cluster = cg_json_dec_str(&d, doc, "cluster", 1);
    r->namespace_ = cg_json_dec_str(&d, doc, "namespace", 1);
    r->name = cg_json_dec_str(&d, doc, "name", 1);
    r->json = cg_json_dec_str(&d, doc, "json", 1);
    r->updated_us = cg_json_dec_u64(&d, doc, "updated_us", INT64_MAX, 0);
    r->version = kv->mod_rev;
    r->seq = kv->create_rev;
    cg_buf_t key = {0};
    int bad = !doc || d.failed || cg_control_kind_parse(kind, strlen(kind), &r->kind);
    /* a value under another identity's key would be a second copy of it, that a delete of
     * this key would not remove */
    if (!bad) cg_etcd_res_key(&key, r->kind, r->cluster, r->namespace_, r->name);
    if (bad || strcmp(key.base, kv->key)) {
        const char *why = errors.base ? errors.base : bad ? "bad kind" : "another resource's value";
        warn_ignored(kv->key, "is not a resource", why, errors.base ? errors.len : strlen(why));
        cg_control_res_free(r);
        r = NULL;
    } else {
        cg_buf_reset(&errors);
        cg_control_res_decode(r, &errors);
        if (!r->set)
            warn_ignored(kv->key, "holds a resource that no longer validates",
                         errors.base ? errors.base : "", errors.len);
    }
    free(kind);
    cg_buf_free(&key);
    cg_buf_free(&errors);
    cg_json_free(doc);
    return r;
}

static void lease_value(const cg_control_lease_t *l, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "id", l->id);
    cg_jw_kstr(&w, "owner", l->owner);
    cg_jw_ku64(&w, "registered_us", l->registered_us);
    cg_jw_ku64(&w, "expires_us", l->expires_us);
    cg_jw_kstr(&w, "registration", l->registration);
    cg_jw_end(&w);
}

static int lease_parse(const cg_etcd_kv_t *kv, cg_control_lease_t *l)
{
    cg_json_t *doc = cg_json_parse(kv->key, kv->value, kv->value_len, NULL);
    cg_json_dec_t d = {.what = kv->key};
    memset(l, 0, sizeof(*l));
    l->id = cg_json_dec_str(&d, doc, "id", 1);
    l->owner = cg_json_dec_str(&d, doc, "owner", 1);
    l->registration = cg_json_dec_str(&d, doc, "registration", 1);
    l->registered_us = cg_json_dec_u64(&d, doc, "registered_us", INT64_MAX, 0);
    l->expires_us = cg_json_dec_u64(&d, doc, "expires_us", INT64_MAX, 0);
    cg_json_free(doc);
    if (doc && !d.failed) {
        /* the key names the lease: one whose value says another id would never be dropped */
        cg_buf_t k = {0};
        cg_etcd_lease_key(&k, l->id);
        int same = !strcmp(k.base, kv->key);
        cg_buf_free(&k);
        if (same) return 0;
    }
    free(l->id);
    free(l->owner);
    free(l->registration);
    warn_ignored(kv->key, "is not a lease", NULL, 0);
    return CG_EPARSE;
}

/* ---- open, close ---- */

static int parse_endpoints(et_t *e, const char *spec, cg_buf_t *err)
{
    const char *p = spec + strlen("etcd://");
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        cg_addr_t addr;
        char host[CG_HTTP_URL_MAX / 4];
        if (n == 0 || n >= sizeof(host) || e->nendpoints == MAX_ENDPOINTS) {
            cg_buf_printf(err, "--store %s: expected etcd://HOST:PORT[,HOST:PORT...] (at most %d)",
                          spec, MAX_ENDPOINTS);
            return CG_EINVAL;
        }
        memcpy(host, p, n);
        host[n] = '\0';
        if (cg_addr_parse(&addr, host) || !strchr(host, ':')) {
            cg_buf_printf(err, "--store: %s: expected an IP:PORT", host);
            return CG_EINVAL;
        }
        snprintf(e->endpoints[e->nendpoints++], sizeof(e->endpoints[0]), "%s", host);
        p += n + (comma != NULL);
    }
    if (e->nendpoints) return 0;
    cg_buf_printf(err, "--store %s: no endpoint", spec);
    return CG_EINVAL;
}

static void res_clear(et_t *e)
{
    for (size_t i = 0; i < e->res.len; i++) cg_control_res_free(e->res.items[i]);
    e->res.len = 0;
}

static void lease_free(cg_control_lease_t *l)
{
    free(l->id);
    free(l->owner);
    free(l->registration);
}

static void pending_clear(et_t *e, uint64_t upto)
{
    size_t k = 0;
    for (size_t i = 0; i < e->pending.len; i++) {
        if (e->pending.items[i].rev <= upto)
            free(e->pending.items[i].key);
        else
            e->pending.items[k++] = e->pending.items[i];
    }
    e->pending.len = k;
}

static void watch_close(et_t *e);

static void et_close(cg_control_store_t *st)
{
    et_t *e = impl(st);
    if (!e) return;
    watch_close(e);
    if (e->loop) {
        cg_timer_stop(e->loop, &e->w.timer);
        cg_timer_stop(e->loop, &e->probe);
    }
    if (e->notify_queued) cg_defer_cancel(&e->notify);
    res_clear(e);
    cg_vec_free(&e->res);
    cg_control_view_free(e->view);
    cg_control_lease_vec_free(&e->leases);
    pending_clear(e, UINT64_MAX);
    cg_vec_free(&e->pending);
    cg_buf_free(&e->tokens);
    free(e);
    st->impl = NULL;
}

static int cmp_seq(const void *a, const void *b)
{
    uint64_t x = (*(cg_control_res_t *const *)a)->seq, y = (*(cg_control_res_t *const *)b)->seq;
    return x < y ? -1 : x > y;
}

static int cmp_lease_seq(const void *a, const void *b)
{
    const cg_etcd_kv_t *x = a, *y = b;
    return x->create_rev < y->create_rev ? -1 : x->create_rev > y->create_rev;
}

#define TOKENS_KEY CG_ETCD_PREFIX "meta/tokens"

/* The stored tokens' text (NULL: none stored). */
static void tokens_set(et_t *e, const char *text, size_t len)
{
    cg_buf_reset(&e->tokens);
    e->has_tokens = text != NULL;
    if (text) cg_buf_append(&e->tokens, text, len);
}

/* Every resource and lease from etcd into the mirror, at one revision (what was there is
 * replaced, on success only). */
static int load_all(cg_control_store_t *st)
{
    et_t *e = impl(st);
    cg_etcd_answer_t a;
    /* one range over leases/, meta/ and resources/ (in that order): one revision */
    cg_buf_t body = {0};
    cg_etcd_range_between(&body, CG_ETCD_PREFIX "leases/", CG_ETCD_PREFIX "resources0");
    int rc = call(st, "/v3/kv/range", &body, &a);
    cg_buf_free(&body);
    if (rc) return rc;
    res_clear(e);
    cg_control_lease_vec_free(&e->leases);
    pending_clear(e, UINT64_MAX);
    tokens_set(e, NULL, 0);
    e->revision = a.revision;
    const size_t nl = strlen(CG_ETCD_PREFIX "leases/");
    CG_VEC(cg_etcd_kv_t *) leases = {0};
    for (size_t i = 0; i < a.kvs.len; i++) {
        cg_etcd_kv_t *kv = &a.kvs.items[i];
        if (!strncmp(kv->key, CG_ETCD_PREFIX "leases/", nl)) {
            cg_vec_push(&leases, kv);
            continue;
        }
        if (!strcmp(kv->key, TOKENS_KEY)) {
            tokens_set(e, kv->value, kv->value_len);
            continue;
        }
        if (strncmp(kv->key, CG_ETCD_PREFIX "resources/", strlen(CG_ETCD_PREFIX "resources/")))
            continue; /* other meta/ keys: read at the start only */
        cg_control_res_t *r = res_parse(kv);
        if (r) cg_vec_push(&e->res, r);
    }
    if (leases.len) {
        /* registration order: each lease's create_revision */
        cg_etcd_kv_t *sorted = cg_xcalloc(leases.len, sizeof(*sorted));
        for (size_t i = 0; i < leases.len; i++) sorted[i] = *leases.items[i];
        qsort(sorted, leases.len, sizeof(*sorted), cmp_lease_seq);
        for (size_t i = 0; i < leases.len; i++) {
            cg_control_lease_t l;
            if (lease_parse(&sorted[i], &l) == 0) cg_vec_push(&e->leases, l);
        }
        free(sorted);
    }
    cg_vec_free(&leases);
    cg_etcd_answer_free(&a);
    if (e->res.len) qsort(e->res.items, e->res.len, sizeof(*e->res.items), cmp_seq);
    cg_control_view_rebuild(&e->view, e->res.items, e->res.len);
    return 0;
}

/* The first read: the meta keys, then everything. */
static int load(cg_control_store_t *st)
{
    et_t *e = impl(st);
    cg_etcd_answer_t a;
    int rc;
    if ((rc = range_call(st, CG_ETCD_PREFIX "meta/versions", 0, &a))) return rc;
    if (a.kvs.len) e->versions_held = strtoull(a.kvs.items[0].value, NULL, 10);
    cg_etcd_answer_free(&a);
    if ((rc = range_call(st, CG_ETCD_PREFIX "meta/store", 0, &a))) return rc;
    /* meta/store holds the snapshot versions' base: the wall clock in ms when the store was
     * made, so that they start above those of any control plane before it ("1" from a version
     * that kept a bound in meta/versions instead: above that bound) */
    uint64_t base = a.kvs.len ? strtoull(a.kvs.items[0].value, NULL, 10) : 0;
    cg_etcd_answer_free(&a);
    if (!base) {
        char v[24];
        int n = snprintf(v, sizeof(v), "%llu", (unsigned long long)(cg_clock_wall_us() / 1000));
        cg_etcd_txn_t t = {0};
        cg_etcd_txn_compare_mod(&t, CG_ETCD_PREFIX "meta/store", 0);
        cg_etcd_txn_put(&t, CG_ETCD_PREFIX "meta/store", v, (size_t)n);
        if ((rc = txn_call(st, &t, &a))) return rc;
        cg_etcd_answer_free(&a);
        /* another control plane may have made it first: read the one that holds */
        if ((rc = range_call(st, CG_ETCD_PREFIX "meta/store", 0, &a))) return rc;
        base = a.kvs.len ? strtoull(a.kvs.items[0].value, NULL, 10) : 0;
        cg_etcd_answer_free(&a);
    }
    if (base <= 1) base = e->versions_held + 1;
    e->base = base > e->versions_held ? base : e->versions_held + 1;
    if ((rc = load_all(st))) return rc;
    e->loaded = 1;
    return 0;
}

static int et_open(cg_control_store_t *st, const char *spec, cg_buf_t *err)
{
    et_t *e = cg_xcalloc(1, sizeof(*e));
    st->impl = e;
    e->st = st;
    e->w.fd = -1;
    if (parse_endpoints(e, spec, err) == 0) {
        /* etcd not reachable yet: the store opens, says it is unavailable, and reads again
         * from the loop (et_start) */
        if (load(st))
            cg_log_warn("store: %s: not read yet, answering \"store unavailable\" until it is",
                        st->unavailable);
        return 0;
    }
    et_close(st);
    return CG_EIO;
}

static int et_ready(const cg_control_store_t *st)
{
    return impl(st)->loaded;
}

static uint64_t et_version_base(const cg_control_store_t *st)
{
    return impl(st)->base;
}

/* ---- the watch ---- */

static void notify(et_t *e);
static void watch_start(et_t *e);

static void on_notify(cg_loop_t *loop, cg_defer_t *d)
{
    (void)loop;
    et_t *e = cg_container_of(d, et_t, notify);
    cg_control_store_t *st = e->st;
    e->notify_queued = 0;
    int changed = e->changed, leases = e->leases_changed, tokens = e->tokens_changed;
    e->changed = e->leases_changed = e->tokens_changed = 0;
    /* tokens first: a lease registered with a new join token names it as owner */
    if (tokens && st->on_tokens) st->on_tokens(st, st->data);
    if (changed && st->on_change) st->on_change(st, st->data);
    if (leases && st->on_leases) st->on_leases(st, st->data);
}

/* The store's user hears of the watch's changes once per loop turn, after the request being
 * handled (if any) is done with the store. */
static void notify(et_t *e)
{
    if (!e->loop || e->notify_queued || !(e->changed || e->leases_changed || e->tokens_changed))
        return;
    e->notify_queued = 1;
    cg_defer(e->loop, &e->notify, on_notify);
}

static void watch_close(et_t *e)
{
    if (e->w.fd >= 0) {
        if (e->loop) cg_io_stop(e->loop, &e->w.io);
        close(e->w.fd);
    }
    if (e->loop) cg_timer_stop(e->loop, &e->w.more);
    e->w.fd = -1;
    e->w.state = W_IDLE;
    cg_buf_free(&e->w.head);
    cg_etcd_stream_free(&e->w.body);
}

static void on_watch_timer(cg_loop_t *loop, cg_timer_t *t);

/* The watch broke (why: one line): try again after a back-off, on the next endpoint. */
static void watch_retry(et_t *e, const char *why)
{
    if (e->w.state == W_STREAM || e->w.backoff_ms == 0)
        cg_log_warn("store: watch on etcd %s: %s; watching again from revision %" PRIu64,
                    e->endpoints[e->w.at], why, e->revision + 1);
    watch_close(e);
    e->w.at = (e->w.at + 1) % e->nendpoints;
    uint32_t b = e->w.backoff_ms ? e->w.backoff_ms * 2 : WATCH_BACKOFF_MIN_MS;
    e->w.backoff_ms = b > WATCH_BACKOFF_MAX_MS ? WATCH_BACKOFF_MAX_MS : b;
    uint32_t jitter = (uint32_t)(cg_clock_mono_us() % (e->w.backoff_ms / 2 + 1));
    cg_timer_start(e->loop, &e->w.timer, e->w.backoff_ms / 2 + jitter, on_watch_timer);
}

/* Everything read again (a compacted revision, a commit not confirmed): the users hear of it
 * as of any change. 0 or the read's error. */
static int relist(et_t *e)
{
    int rc = load_all(e->st);
    if (rc == 0) {
        e->changed = e->leases_changed = e->tokens_changed = 1;
        notify(e);
    }
    return rc;
}

static ssize_t lease_find(const et_t *e, const char *id);
static void lease_forget(et_t *e, const char *id);

/* Is the watch's event for key at rev older than a write of ours the mirror holds already? */
static int superseded(const et_t *e, const char *key, uint64_t rev)
{
    for (size_t i = 0; i < e->pending.len; i++)
        if (e->pending.items[i].rev >= rev && !strcmp(e->pending.items[i].key, key)) return 1;
    return 0;
}

static void pending_add(et_t *e, const char *key, uint64_t rev)
{
    pending_t p = {cg_xstrdup(key), rev};
    cg_vec_push(&e->pending, p);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* The index of the stored resource with this key, or -1. The key's four segments are decoded
 * and the resource found by its identity: one key built, not one per stored resource (a
 * message of 1000 puts into a mirror of 10000 took 0.7 s); a key that is not what
 * cg_etcd_res_key writes for that identity names none. */
static ssize_t res_find_key(const et_t *e, const char *key)
{
    const char *p = key + strlen(CG_ETCD_PREFIX "resources/");
    cg_buf_t seg[4] = {{0}}, k = {0};
    ssize_t at = -1;
    size_t n = 0;
    for (; n < 4; n++, p++) {
        for (; *p && *p != '/'; p++) {
            char c = *p;
            if (c == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
                c = (char)(hexval(p[1]) << 4 | hexval(p[2]));
                p += 2;
            }
            cg_buf_append(&seg[n], &c, 1);
        }
        cg_buf_append(&seg[n], "", 1);
        if (!*p) break;
    }
    cg_model_kind_t kind;
    if (n == 3 && !cg_control_kind_parse(seg[0].base, seg[0].len - 1, &kind)) {
        cg_etcd_res_key(&k, kind, seg[1].base, seg[2].base, seg[3].base);
        if (!strcmp(k.base, key))
            at = cg_control_res_find(e->res.items, e->res.len, kind, seg[1].base, seg[2].base,
                                     seg[3].base);
    }
    for (size_t i = 0; i < 4; i++) cg_buf_free(&seg[i]);
    cg_buf_free(&k);
    return at;
}

static void res_remove_at(et_t *e, size_t at)
{
    cg_control_res_free(e->res.items[at]);
    memmove(&e->res.items[at], &e->res.items[at + 1],
            (e->res.len - at - 1) * sizeof(*e->res.items));
    e->res.len--;
}

static void apply_event(et_t *e, cg_etcd_event_t *ev)
{
    const char *key = ev->kv.key;
    if (!strncmp(key, CG_ETCD_PREFIX "resources/", strlen(CG_ETCD_PREFIX "resources/"))) {
        ssize_t at = res_find_key(e, key);
        if (at >= 0) res_remove_at(e, (size_t)at);
        if (!ev->del) {
            cg_control_res_t *r = res_parse(&ev->kv);
            if (r) cg_vec_push(&e->res, r);
        }
        e->changed = 1;
    } else if (!strncmp(key, CG_ETCD_PREFIX "leases/", strlen(CG_ETCD_PREFIX "leases/"))) {
        if (superseded(e, key, ev->kv.mod_rev)) return;
        cg_control_lease_t l;
        if (ev->del || lease_parse(&ev->kv, &l)) {
            /* deleted, or no longer a lease: the lease of this key goes (lease_parse holds the
             * id to the key's last segment, as cg_etcd_lease_key wrote it) */
            for (size_t i = 0; i < e->leases.len; i++) {
                cg_buf_t k = {0};
                cg_etcd_lease_key(&k, e->leases.items[i].id);
                int same = !strcmp(k.base, key);
                cg_buf_free(&k);
                if (same) {
                    lease_forget(e, e->leases.items[i].id);
                    e->leases_changed = 1;
                    break;
                }
            }
        } else {
            ssize_t at = lease_find(e, l.id);
            if (at >= 0) {
                lease_free(&e->leases.items[at]);
                e->leases.items[at] = l;
            } else {
                cg_vec_push(&e->leases, l);
            }
            e->leases_changed = 1;
        }
    } else if (!strcmp(key, TOKENS_KEY)) {
        if (superseded(e, key, ev->kv.mod_rev)) return;
        tokens_set(e, ev->del ? NULL : ev->kv.value, ev->del ? 0 : ev->kv.value_len);
        e->tokens_changed = 1;
    }
    /* other meta/ keys: read at the start only */
}

/* One line of the watch's answer. 0, or CG_EPARSE / CG_ECONNRESET / W_COMPACTED (the watch
 * must start over; W_COMPACTED: everything was read again). */
static int watch_line(et_t *e, const char *line, size_t len)
{
    cg_etcd_watch_msg_t m;
    cg_buf_t why = {0};
    if (cg_etcd_watch_parse(line, len, &m, &why)) {
        cg_log_warn("store: %.*s", (int)why.len, why.base ? why.base : "");
        cg_buf_free(&why);
        cg_etcd_watch_msg_free(&m);
        return CG_EPARSE;
    }
    cg_buf_free(&why);
    int rc = 0;
    if (m.canceled) {
        if (m.compact_revision) {
            /* the revisions after ours are gone: everything again, then watch from there */
            cg_log_warn("store: etcd compacted revision %" PRIu64 " and before, past the mirror's "
                        "%" PRIu64 ": reading everything again",
                        m.compact_revision, e->revision);
            /* a failed read leaves the mirror as it was: the back-off path tries again */
            rc = relist(e) ? CG_EIO : W_COMPACTED;
        } else {
            /* etcd ended it otherwise (its member lost the leader, a permission the watch
             * lacks): after a back-off */
            cg_log_warn("store: etcd canceled the watch: %s",
                        m.cancel_reason[0] ? m.cancel_reason : "no reason given");
            rc = CG_ECONNRESET;
        }
    } else {
        int resources = 0;
        const uint64_t held = e->revision; /* a txn's events share one revision */
        for (size_t i = 0; i < m.events.len; i++) {
            cg_etcd_event_t *ev = &m.events.items[i];
            if (ev->kv.mod_rev <= held) continue; /* a full read has it already */
            int was = e->changed;
            apply_event(e, ev);
            resources |= e->changed && !was;
            if (ev->kv.mod_rev > e->revision) e->revision = ev->kv.mod_rev;
        }
        if (resources) {
            if (e->res.len) qsort(e->res.items, e->res.len, sizeof(*e->res.items), cmp_seq);
            cg_control_view_rebuild(&e->view, e->res.items, e->res.len);
        }
        pending_clear(e, e->revision);
        /* created: the wait for it is over (watch_start); a watch that delivers is a good one,
         * a created one may be canceled at once */
        if (m.created) cg_timer_stop(e->loop, &e->w.timer);
        if (m.events.len) e->w.backoff_ms = 0;
    }
    cg_etcd_watch_msg_free(&m);
    return rc;
}

/* Reads what the watch has: 0 (more may come), or a reason to start over (and the caller
 * does). */
static void on_watch_more(cg_loop_t *loop, cg_timer_t *t);

static int watch_read(et_t *e)
{
    char buf[16384];
    for (int reads = 0;; reads++) {
        if (reads == WATCH_READS_PER_TURN) {
            /* edge-triggered: nothing says the rest is there, the timer comes back for it */
            cg_timer_start(e->loop, &e->w.more, 1, on_watch_more);
            return 0;
        }
        ssize_t n = read(e->w.fd, buf, sizeof(buf));
        if (n == 0) return CG_ECONNRESET;
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return 0;
            return cg_err_from_errno(errno);
        }
        const char *p = buf;
        size_t left = (size_t)n;
        if (e->w.state == W_HEAD) {
            size_t had = e->w.head.len;
            cg_buf_append(&e->w.head, p, left);
            const char *h = e->w.head.base;
            const char *end = memmem(h, e->w.head.len, "\r\n\r\n", 4);
            if (!end) {
                if (e->w.head.len > WATCH_HEAD_MAX) return CG_EPARSE;
                continue;
            }
            size_t hlen = (size_t)(end - h) + 4;
            /* a 200 with a chunked body, as the gateway streams it */
            if (hlen > WATCH_HEAD_MAX || hlen < 13 || memcmp(h, "HTTP/1.1 200 ", 13) ||
                !memmem(h, hlen, "\r\nTransfer-Encoding: chunked\r\n", 30))
                return CG_EPARSE;
            p += hlen - had;
            left -= hlen - had;
            e->w.state = W_STREAM;
        }
        if (cg_etcd_stream_feed(&e->w.body, p, left)) return CG_EPARSE;
        const char *line;
        size_t len;
        while (cg_etcd_stream_next(&e->w.body, &line, &len)) {
            int rc = watch_line(e, line, len);
            if (rc) return rc;
        }
        /* the body's last chunk: nothing more comes on this connection */
        if (e->w.body.ended) return W_ENDED;
    }
}

static const char *watch_why(int rc)
{
    return rc == W_COMPACTED ? "canceled by etcd (compacted), again"
           : rc == W_ENDED   ? "etcd ended the watch's answer"
           : rc == CG_EPARSE ? "not a watch answer of the v3 gateway"
                             : cg_strerror(rc);
}

/* The watch is over (rc from watch_read): after a compaction (everything read again) it starts
 * again at once from the new revision, unless it did so already with no event since (etcd
 * canceling each watch would have the loop spin on it); otherwise after a back-off. */
static void watch_again(et_t *e, int rc)
{
    if (rc == W_COMPACTED && e->w.backoff_ms == 0) {
        watch_close(e);
        e->w.backoff_ms = WATCH_BACKOFF_MIN_MS;
        watch_start(e);
    } else {
        watch_retry(e, watch_why(rc));
    }
}

static void on_watch_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    (void)loop;
    et_t *e = cg_container_of(io, et_t, w.io);
    if (e->w.state == W_CONNECTING) {
        int err = cg_sock_error(e->w.fd);
        if (err || (events & CG_IO_HUP)) {
            watch_retry(e, cg_strerror(err ? err : CG_ECONNREFUSED));
            return;
        }
        if (!(events & CG_IO_WRITE)) return;
        cg_buf_t req = {0}, body = {0};
        cg_etcd_watch_body(&body, CG_ETCD_PREFIX, e->revision + 1);
        cg_buf_printf(&req,
                      "POST /v3/watch HTTP/1.1\r\nHost: %s\r\ncontent-type: application/json\r\n"
                      "content-length: %zu\r\n\r\n%.*s",
                      e->endpoints[e->w.at], body.len, (int)body.len, body.base);
        ssize_t n = write(e->w.fd, req.base, req.len);
        int ok = n == (ssize_t)req.len; /* a few hundred bytes into an empty socket buffer */
        cg_buf_free(&req);
        cg_buf_free(&body);
        if (!ok) {
            watch_retry(e, "cannot send the watch request");
            return;
        }
        e->w.state = W_HEAD;
    }
    int rc = watch_read(e);
    /* a hang-up once everything is read (not when the rest waits for the next turn) */
    if (rc == 0 && (events & CG_IO_HUP) && !cg_timer_active(&e->w.more)) rc = CG_ECONNRESET;
    if (rc) watch_again(e, rc);
    notify(e);
}

static void on_watch_more(cg_loop_t *loop, cg_timer_t *t)
{
    et_t *e = cg_container_of(t, et_t, w.more);
    on_watch_io(loop, &e->w.io, 0);
}

static void watch_start(et_t *e)
{
    cg_addr_t addr;
    int fd = cg_addr_parse(&addr, e->endpoints[e->w.at]) ? CG_EINVAL : cg_sock_connect(&addr);
    if (fd < 0) {
        watch_retry(e, cg_strerror(fd));
        return;
    }
    e->w.fd = fd;
    e->w.state = W_CONNECTING;
    if (cg_io_start(e->loop, &e->w.io, fd, on_watch_io)) {
        watch_retry(e, "cannot watch the socket");
        return;
    }
    /* a connect, an answer or a creation that does not come is a failure too; counted from
     * now, not from the start of a loop turn that may have spent long in blocking reads */
    cg_loop_update_time(e->loop);
    cg_timer_start(e->loop, &e->w.timer, cg_control_store_etcd_timeout_ms, on_watch_timer);
}

static void on_watch_timer(cg_loop_t *loop, cg_timer_t *t)
{
    (void)loop;
    et_t *e = cg_container_of(t, et_t, w.timer);
    if (e->w.state != W_IDLE) {
        watch_retry(e, "not created in time");
        return;
    }
    if (!e->loaded) {
        /* started while etcd was unreachable: read it, then tell the users it is there */
        if (load(e->st)) {
            cg_timer_start(e->loop, &e->w.timer, LOAD_RETRY_MS, on_watch_timer);
            return;
        }
        cg_log_info("store: read etcd at revision %" PRIu64 ": %zu resources, %zu leases",
                    e->revision, e->res.len, e->leases.len);
        e->changed = e->leases_changed = e->tokens_changed = 1;
        notify(e);
    }
    watch_start(e);
}

static void on_probe(cg_loop_t *loop, cg_timer_t *t)
{
    et_t *e = cg_container_of(t, et_t, probe);
    cg_timer_start(loop, &e->probe, PROBE_MS, on_probe);
    if (e->w.state != W_STREAM) {
        e->suspect = 0;
        return;
    }
    cg_buf_t body = {0};
    cg_etcd_answer_t a;
    cg_etcd_count_changed_body(&body, CG_ETCD_PREFIX, e->revision);
    int rc = call(e->st, "/v3/kv/range", &body, &a);
    cg_buf_free(&body);
    if (rc) return; /* etcd unreachable: the watch will say so too */
    uint64_t n = a.count;
    cg_etcd_answer_free(&a);
    if (n == 0) {
        e->suspect = 0;
    } else if (e->suspect != e->revision) {
        e->suspect = e->revision; /* the watch may be delivering them right now */
    } else {
        e->suspect = 0;
        char why[128];
        snprintf(why, sizeof(why), "%" PRIu64 " change(s) after revision %" PRIu64 " not delivered",
                 n, e->revision);
        watch_retry(e, why);
    }
}

static int et_start(cg_control_store_t *st, cg_loop_t *loop)
{
    et_t *e = impl(st);
    e->loop = loop;
    cg_timer_start(loop, &e->probe, PROBE_MS, on_probe);
    if (e->loaded)
        watch_start(e);
    else
        cg_timer_start(loop, &e->w.timer, LOAD_RETRY_MS, on_watch_timer);
    return 0;
}

/* Waits (blocking, within the store timeout) until the watch has delivered revision rev, so
 * that the mirror holds it and everything before it; otherwise reads everything again. 0, or
 * the read's error. */
static int catch_up(et_t *e, uint64_t rev)
{
    uint64_t deadline = cg_clock_mono_us() + (uint64_t)cg_control_store_etcd_timeout_ms * 1000;
    while (e->revision < rev && e->w.state == W_STREAM) {
        uint64_t now = cg_clock_mono_us();
        if (now >= deadline) break;
        struct pollfd pfd = {.fd = e->w.fd, .events = POLLIN};
        int n = poll(&pfd, 1, (int)((deadline - now + 999) / 1000));
        if (n < 0 && errno != EINTR) break;
        if (n <= 0) continue;
        int rc = watch_read(e);
        if (rc == 0 && (pfd.revents & (POLLHUP | POLLERR)) && !cg_timer_active(&e->w.more))
            rc = CG_ECONNRESET;
        if (rc) {
            /* the loop starts it again; the read below covers the gap */
            watch_again(e, rc);
            break;
        }
    }
    if (e->revision >= rev) return 0;
    /* a watch that stays open but silent (its member cut off from the others) is replaced */
    if (e->w.state == W_STREAM) watch_retry(e, "it did not deliver a committed revision in time");
    return relist(e);
}

/* ---- resources ---- */

static int unloaded(cg_control_store_t *st)
{
    if (impl(st)->loaded) return 0;
    if (!st->unavailable[0])
        snprintf(st->unavailable, sizeof(st->unavailable), "etcd not read yet");
    return CG_EAGAIN;
}

/* Does the mirror hold txn's writes: every put with its content, none of the deleted keys
 * (their resources, borrowed from the mirror, may be gone)? */
static int holds(const et_t *e, const cg_control_txn_t *txn, char *const *del_keys, size_t ndel)
{
    for (size_t i = 0; i < txn->puts.len; i++) {
        const cg_control_res_t *r = txn->puts.items[i];
        ssize_t at = cg_control_res_find(e->res.items, e->res.len, r->kind, r->cluster,
                                         r->namespace_, r->name);
        if (at < 0 || strcmp(e->res.items[at]->json, r->json)) return 0;
    }
    for (size_t i = 0; i < ndel; i++)
        if (res_find_key(e, del_keys[i]) >= 0) return 0;
    return 1;
}

static int et_commit(cg_control_store_t *st, cg_control_txn_t *txn)
{
    et_t *e = impl(st);
    uint64_t now = cg_clock_wall_us();
    cg_etcd_txn_t t = {0};
    cg_buf_t key = {0}, value = {0};
    CG_VEC(char *) del_keys = {0};
    int rc = unloaded(st);
    if (rc) goto Exit;
    for (size_t i = 0; i < txn->checks.len; i++) {
        const cg_control_check_t *c = &txn->checks.items[i];
        cg_buf_reset(&key);
        cg_etcd_res_key(&key, c->kind, c->cluster, c->namespace_, c->name);
        cg_etcd_txn_compare_mod(&t, key.base, c->version);
    }
    for (size_t i = 0; i < txn->puts.len; i++) {
        cg_control_res_t *r = txn->puts.items[i];
        r->updated_us = now;
        cg_buf_reset(&key);
        cg_buf_reset(&value);
        cg_etcd_res_key(&key, r->kind, r->cluster, r->namespace_, r->name);
        res_value(r, &value);
        cg_etcd_txn_put(&t, key.base, value.base, value.len);
    }
    for (size_t i = 0; i < txn->dels.len; i++) {
        const cg_control_res_t *r = txn->dels.items[i];
        cg_buf_reset(&key);
        cg_etcd_res_key(&key, r->kind, r->cluster, r->namespace_, r->name);
        cg_etcd_txn_delete(&t, key.base);
        cg_vec_push(&del_keys, cg_xstrdup(key.base));
    }
    cg_etcd_answer_t a;
    rc = txn_call(st, &t, &a);
    if (rc == 0 && !a.succeeded) rc = CG_ECONFLICT;
    uint64_t revision = a.revision;
    cg_etcd_answer_free(&a);
    /* a compare that failed after an attempt that may have been applied: if etcd now holds
     * exactly this transaction's writes, they are ours */
    if (rc == CG_ECONFLICT && e->uncertain && catch_up(e, revision) == 0 &&
        holds(e, txn, del_keys.items, del_keys.len)) {
        cg_log_warn("store: a commit whose first attempt went unanswered was applied by it");
        rc = 0;
    }
    /* unanswered (timeout, connection lost): etcd may have applied it, the watch tells */
    if (rc == CG_EPARSE) rc = CG_EIO;
    if (rc == 0) {
        /* the mirror takes the write from the watch, with any other writer's before it; the
         * caller hears of the change itself */
        if (catch_up(e, revision)) {
            cg_log_error("store: the commit at revision %" PRIu64 " could not be read back",
                         revision);
            rc = CG_EIO;
        }
        e->changed = 0;
        notify(e); /* the leases other writers changed meanwhile */
    }
Exit:
    cg_etcd_txn_free(&t);
    cg_buf_free(&key);
    cg_buf_free(&value);
    for (size_t i = 0; i < del_keys.len; i++) free(del_keys.items[i]);
    cg_vec_free(&del_keys);
    for (size_t i = 0; i < txn->puts.len; i++) cg_control_res_free(txn->puts.items[i]);
    return rc;
}

static uint64_t et_revision(const cg_control_store_t *st)
{
    return impl(st)->revision;
}

static const cg_control_res_t *et_get(const cg_control_store_t *st, cg_model_kind_t kind,
                                      const char *cluster, const char *ns, const char *name)
{
    const et_t *e = impl(st);
    ssize_t i = cg_control_res_find(e->res.items, e->res.len, kind, cluster, ns, name);
    return i < 0 ? NULL : e->res.items[i];
}

static size_t et_list(const cg_control_store_t *st, const cg_control_res_t *const **items)
{
    const et_t *e = impl(st);
    *items = (const cg_control_res_t *const *)e->res.items;
    return e->res.len;
}

static const cg_resource_set_t *et_view(const cg_control_store_t *st)
{
    return impl(st)->view;
}

/* ---- snapshot versions ---- */

static uint64_t et_versions_held(const cg_control_store_t *st)
{
    return impl(st)->versions_held;
}

/* Snapshot versions are base + revision here (version_base): nothing to hold. */
static int et_versions_hold(cg_control_store_t *st, uint64_t upto)
{
    (void)st;
    (void)upto;
    return 0;
}

/* ---- leases ---- */

static ssize_t lease_find(const et_t *e, const char *id)
{
    for (size_t i = 0; i < e->leases.len; i++)
        if (!strcmp(e->leases.items[i].id, id)) return (ssize_t)i;
    return -1;
}

static void lease_forget(et_t *e, const char *id)
{
    ssize_t at = lease_find(e, id);
    if (at < 0) return;
    cg_control_lease_t *l = &e->leases.items[at];
    lease_free(l);
    memmove(l, l + 1, (e->leases.len - (size_t)at - 1) * sizeof(*l));
    e->leases.len--;
}

static void lease_copy(cg_control_lease_vec_t *out, const cg_control_lease_t *l)
{
    cg_control_lease_t c = {
        .id = cg_xstrdup(l->id),
        .owner = cg_xstrdup(l->owner),
        .registration = cg_xstrdup(l->registration),
        .registered_us = l->registered_us,
        .expires_us = l->expires_us,
    };
    cg_vec_push(out, c);
}

/* A write patched into the mirror at once (leases, tokens; resources wait for the watch
 * instead, et_commit): the keys it touches wait in pending until the watch passes them. */
typedef struct patch_txn {
    cg_etcd_txn_t t;
    CG_VEC(char *) keys;
} patch_txn_t;

static void patch_put(patch_txn_t *pt, const char *key, const char *value, size_t len)
{
    cg_etcd_txn_put(&pt->t, key, value, len);
    cg_vec_push(&pt->keys, cg_xstrdup(key));
}

static void txn_lease_put(patch_txn_t *pt, const cg_control_lease_t *l, int only_if_there)
{
    cg_buf_t key = {0}, value = {0};
    cg_etcd_lease_key(&key, l->id);
    lease_value(l, &value);
    /* a renewal must not bring back a lease another control plane dropped meanwhile */
    if (only_if_there) cg_etcd_txn_compare_exists(&pt->t, key.base);
    patch_put(pt, key.base, value.base, value.len);
    cg_buf_free(&key);
    cg_buf_free(&value);
}

static void txn_lease_delete(patch_txn_t *pt, const char *id)
{
    cg_buf_t key = {0};
    cg_etcd_lease_key(&key, id);
    cg_etcd_txn_delete(&pt->t, key.base);
    cg_vec_push(&pt->keys, cg_xstrdup(key.base));
    cg_buf_free(&key);
}

/* Writes a patch txn: 0 (the keys now pending), CG_ECONFLICT (a compare failed) or CG_EIO.
 * The txn is freed. */
static int patch_write(cg_control_store_t *st, patch_txn_t *pt)
{
    et_t *e = impl(st);
    cg_etcd_answer_t a;
    int rc = unloaded(st) ? CG_EIO : txn_call(st, &pt->t, &a);
    if (rc == 0) {
        if (!a.succeeded) rc = CG_ECONFLICT;
        for (size_t i = 0; i < pt->keys.len && rc == 0; i++)
            pending_add(e, pt->keys.items[i], a.revision);
        cg_etcd_answer_free(&a);
    } else {
        rc = CG_EIO;
    }
    for (size_t i = 0; i < pt->keys.len; i++) free(pt->keys.items[i]);
    cg_vec_free(&pt->keys);
    cg_etcd_txn_free(&pt->t);
    return rc;
}

static int et_lease_put(cg_control_store_t *st, const cg_control_lease_t *l, const char *replaces)
{
    et_t *e = impl(st);
    patch_txn_t lt = {0};
    if (replaces && strcmp(replaces, l->id)) txn_lease_delete(&lt, replaces);
    txn_lease_put(&lt, l, 0);
    if (patch_write(st, &lt)) return CG_EIO;
    if (replaces) lease_forget(e, replaces);
    lease_forget(e, l->id);
    lease_copy(&e->leases, l);
    return 0;
}

static int et_lease_renew(cg_control_store_t *st, const cg_control_lease_t *items, size_t n)
{
    et_t *e = impl(st);
    patch_txn_t lt = {0};
    for (size_t i = 0; i < n; i++) {
        ssize_t at = lease_find(e, items[i].id);
        if (at < 0) continue;
        cg_control_lease_t l = e->leases.items[at];
        l.expires_us = items[i].expires_us;
        txn_lease_put(&lt, &l, 1);
    }
    if (lt.t.nsuccess == 0) {
        cg_etcd_txn_free(&lt.t);
        cg_vec_free(&lt.keys);
        return 0;
    }
    /* CG_ECONFLICT: one was dropped elsewhere; the watch brings the drop (and the sync removes
     * its instance), the others are renewed on the next sweep */
    if (patch_write(st, &lt)) return CG_EIO;
    for (size_t i = 0; i < n; i++) {
        ssize_t at = lease_find(e, items[i].id);
        if (at >= 0) e->leases.items[at].expires_us = items[i].expires_us;
    }
    return 0;
}

static int et_lease_drop(cg_control_store_t *st, const char *const *ids, size_t n)
{
    et_t *e = impl(st);
    patch_txn_t lt = {0};
    for (size_t i = 0; i < n; i++) txn_lease_delete(&lt, ids[i]);
    if (patch_write(st, &lt)) return CG_EIO;
    for (size_t i = 0; i < n; i++) lease_forget(e, ids[i]);
    return 0;
}

static int et_lease_list(cg_control_store_t *st, cg_control_lease_vec_t *out, int *kept)
{
    const et_t *e = impl(st);
    /* every version of this backend kept its leases */
    *kept = 1;
    for (size_t i = 0; i < e->leases.len; i++) lease_copy(out, &e->leases.items[i]);
    return 0;
}

/* ---- tokens ---- */

static int et_tokens_put(cg_control_store_t *st, const char *text, size_t len)
{
    et_t *e = impl(st);
    patch_txn_t lt = {0};
    patch_put(&lt, TOKENS_KEY, text, len);
    if (patch_write(st, &lt)) return CG_EIO;
    tokens_set(e, text, len);
    return 0;
}

static int et_tokens_get(const cg_control_store_t *st, cg_buf_t *out)
{
    const et_t *e = impl(st);
    if (!e->has_tokens) return 0;
    cg_buf_append(out, e->tokens.base ? e->tokens.base : "", e->tokens.len);
    return 1;
}

const cg_control_store_ops_t cg_control_store_etcd = {
    .name = "etcd",
    .open = et_open,
    .close = et_close,
    .start = et_start,
    .ready = et_ready,
    .version_base = et_version_base,
    .revision = et_revision,
    .get = et_get,
    .list = et_list,
    .view = et_view,
    .commit = et_commit,
    .versions_held = et_versions_held,
    .versions_hold = et_versions_hold,
    .lease_put = et_lease_put,
    .lease_renew = et_lease_renew,
    .lease_drop = et_lease_drop,
    .lease_list = et_lease_list,
    .tokens_put = et_tokens_put,
    .tokens_get = et_tokens_get,
};
