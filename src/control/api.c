/* The control plane's HTTP/JSON API: resources, instances and leases, snapshot long-polls. */
#include "control/api.h"

#include "control/doc.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"
#include "translate/registration.h"

#include <errno.h>
#include <inttypes.h>
#include <llhttp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECOMPUTE_BATCH_MS    20
#define WATCHERS_PER_INSTANCE 4
#define POLL_DEFAULT_MS       30000
#define POLL_MAX_MS           60000
#define MAX_FILENAME          1024

/* ---- small helpers ---- */

void cg_control__text(cg_httpd_resp_t *resp, int status, const char *fmt, ...)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    cg_buf_reset(&resp->body);
    va_list ap;
    va_start(ap, fmt);
    cg_buf_vprintf(&resp->body, fmt, ap);
    va_end(ap);
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Percent-decodes s into a new string; NULL when malformed or holding NUL. */
static char *pct_decode(cg_iov_t s)
{
    char *out = cg_xmalloc(s.len + 1);
    size_t n = 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.base[i];
        if (c == '%') {
            int h = i + 2 < s.len ? hexval(s.base[i + 1]) : -1,
                l = i + 2 < s.len ? hexval(s.base[i + 2]) : -1;
            if (h < 0 || l < 0 || (h == 0 && l == 0)) {
                free(out);
                return NULL;
            }
            c = (char)(h * 16 + l);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        out[n++] = c;
    }
    out[n] = '\0';
    return out;
}

/* The decoded value of ?key= in a query string; NULL when absent. *bad is set when malformed. */
static char *query_get(cg_iov_t q, const char *key, int *bad)
{
    size_t kl = strlen(key);
    const char *p = q.base, *end = q.base + q.len;
    while (p && p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if ((size_t)(e - p) > kl && p[kl] == '=' && memcmp(p, key, kl) == 0) {
            char *v = pct_decode(cg_iov(p + kl + 1, (size_t)(e - p - kl - 1)));
            if (!v) *bad = 1;
            return v;
        }
        if ((size_t)(e - p) == kl && memcmp(p, key, kl) == 0) return cg_xstrdup("");
        p = amp ? amp + 1 : NULL;
    }
    return NULL;
}

static int query_u64(cg_iov_t q, const char *key, uint64_t def, uint64_t *out)
{
    int bad = 0;
    char *v = query_get(q, key, &bad);
    if (bad) return CG_EINVAL;
    if (!v || !*v) {
        free(v);
        *out = def;
        return 0;
    }
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    int rc = (*end || errno || v[0] == '-') ? CG_EINVAL : 0;
    free(v);
    *out = x;
    return rc;
}

/* Splits a path like /v1/resources/gateway/name into segments (at most max). */
static size_t split_path(cg_iov_t path, cg_iov_t *seg, size_t max)
{
    size_t n = 0;
    const char *p = path.base, *end = path.base + path.len;
    while (p < end && n < max + 1) {
        while (p < end && *p == '/') p++;
        if (p == end) break;
        const char *s = p;
        while (p < end && *p != '/') p++;
        if (n < max) seg[n] = cg_iov(s, (size_t)(p - s));
        n++;
    }
    return n;
}

static int seg_is(cg_iov_t s, const char *lit)
{
    return cg_iov_eq(s, cg_iov_str(lit));
}

/* ---- who may do what ----
 * admin: everything. reader: GET of resources, status, instances and metrics. join (one
 * cluster): register instances of its cluster from their own address, and heartbeat, watch
 * and deregister only the instances it registered. Nothing but /ready answers without one. */
enum { NEED_READ, NEED_ADMIN, NEED_GATEWAY };

static const cg_token_t *authenticate(cg_control_t *cp, const cg_httpd_req_t *req,
                                      cg_httpd_resp_t *resp)
{
    if (cp->tokens.insecure) return &cp->tokens.admin;
    const cg_token_t *tok = cg_control_tokens_check(
        &cp->tokens, cg_httpd_header(req, "authorization"), cg_clock_wall_us() / 1000);
    if (tok) return tok;
    cp->stats.unauthorized++;
    cg_control__text(resp, 401,
                     "unauthorized: this control plane wants \"Authorization: Bearer TOKEN\" (set "
                     "$CROSSGATE_TOKEN, or --token-file; the admin token is in the control plane's "
                     "DATA/admin.token)\n");
    cg_buf_append_str(&resp->headers, "www-authenticate: Bearer\r\n");
    return NULL;
}

static int allowed(cg_control_t *cp, const cg_token_t *tok, int need, cg_httpd_resp_t *resp)
{
    int ok = tok->role == CG_ROLE_ADMIN || (need == NEED_READ && tok->role == CG_ROLE_READER) ||
             (need == NEED_GATEWAY && tok->role == CG_ROLE_JOIN);
    if (ok) return 1;
    cp->stats.forbidden++;
    cg_control__text(resp, 403, "forbidden: a %s token cannot do this (it needs %s)\n",
                     cg_role_name(tok->role),
                     need == NEED_READ    ? "a reader or admin token"
                     : need == NEED_ADMIN ? "the admin token"
                                          : "a join or admin token");
    return 0;
}

/* May tok act on this instance (heartbeat, watch, deregister)? Its registrant or the admin. */
static int owns(cg_control_t *cp, const cg_token_t *tok, const cg_control_inst_t *inst,
                cg_httpd_resp_t *resp)
{
    if (tok->role == CG_ROLE_ADMIN || (tok->role == CG_ROLE_JOIN && !strcmp(tok->id, inst->owner)))
        return 1;
    cp->stats.forbidden++;
    cg_control__text(resp, 403, "forbidden: instance %s was registered by another token\n",
                     inst->id);
    return 0;
}

/* The name of the file a request's body came from (positions in errors). */
static char *request_filename(const cg_httpd_req_t *req)
{
    cg_iov_t h = cg_iov_trim(cg_httpd_header(req, "x-crossgate-filename"));
    if (h.len == 0 || h.len > MAX_FILENAME) return cg_xstrdup("request");
    for (size_t i = 0; i < h.len; i++)
        if ((unsigned char)h.base[i] < 0x20 || h.base[i] == 0x7f) return cg_xstrdup("request");
    return cg_xstrndup(h.base, h.len);
}

/* ---- recomputation ---- */

static void order_arm(cg_control_t *cp);

static void on_order_timer(cg_loop_t *loop, cg_timer_t *t)
{
    cg_control_t *cp = cg_container_of(t, cg_control_t, order_timer);
    cg_control_watch_expire(&cp->watch);
    order_arm(cp);
}

/* The timer that ends the holds of make-before-break (watch.h) that nothing ended before. */
static void order_arm(cg_control_t *cp)
{
    uint64_t due = cg_control_watch_hold_deadline(&cp->watch), now = cp->loop->now_ms;
    if (!due)
        cg_timer_stop(cp->loop, &cp->order_timer);
    else
        cg_timer_start(cp->loop, &cp->order_timer, due > now ? due - now : 0, on_order_timer);
}

/* CG_CONTROL_RECOMPUTE_ALL: the resources changed, the instances that can reach are recomputed
 * (scope.h; every one the first time); CG_CONTROL_RECOMPUTE_INSTANCES: the instance set did. */
static void recompute(cg_control_t *cp, int what)
{
    cp->recomputes++;
    /* a store that numbers versions: base + the revision the view is at */
    uint64_t base = cg_control_store_version_base(&cp->store);
    cp->watch.floor = base ? base + cg_control_store_revision(&cp->store) : 0;
    if (what == CG_CONTROL_RECOMPUTE_ALL) {
        cg_timer_stop(cp->loop, &cp->recompute_timer); /* covers it: new instances, edges */
        cg_control_scope_recompute(&cp->seen, &cp->store, &cp->watch, &cp->leases);
    } else {
        cg_control_watch_recompute(&cp->watch, cg_control_store_view(&cp->store), &cp->leases,
                                   what);
    }
    order_arm(cp);
}

/* The store committed a change of the resources. */
void cg_control__store_changed(cg_control_store_t *st, void *data)
{
    (void)st;
    recompute(data, CG_CONTROL_RECOMPUTE_ALL);
}

static void on_recompute(cg_loop_t *loop, cg_timer_t *t)
{
    recompute(cg_container_of(t, cg_control_t, recompute_timer), CG_CONTROL_RECOMPUTE_INSTANCES);
}

/* A reader of snapshots (status) sees every change made so far: a pending batch runs now. */
static void recompute_flush(cg_control_t *cp)
{
    if (cg_timer_active(&cp->recompute_timer)) {
        cg_timer_stop(cp->loop, &cp->recompute_timer);
        recompute(cp, CG_CONTROL_RECOMPUTE_INSTANCES);
    }
}

/* The instance set changed: recompute within RECOMPUTE_BATCH_MS, together with whatever else
 * changes meanwhile. A new instance's watch waits for it (its entry has no version yet). */
void cg_control__recompute_instances_soon(cg_control_t *cp)
{
    if (!cg_timer_active(&cp->recompute_timer))
        cg_timer_start(cp->loop, &cp->recompute_timer, RECOMPUTE_BATCH_MS, on_recompute);
}

/* Instances whose translation failed, as warnings for an apply answer. */
static void instance_warnings(cg_control_t *cp, cg_control_results_doc_t *d)
{
    for (size_t i = 0; i < cp->leases.items.len; i++) {
        const cg_control_inst_t *inst = cp->leases.items.items[i];
        const cg_control_wentry_t *e = inst->data;
        if (!e || !e->error) continue;
        cg_buf_t m = {0};
        cg_buf_printf(&m, "instance %s (cluster %s, namespace %s, %s) keeps its last snapshot: %s",
                      inst->id, inst->cluster, inst->namespace_, inst->address, e->error);
        while (m.len && m.base[m.len - 1] == '\n') m.len--;
        cg_vec_push(&d->warnings, cg_xstrndup(m.base, m.len));
        cg_buf_free(&m);
    }
}

/* ---- resources ---- */

/* The results document of a request; takes the results (empty after). */
static void results_answer(cg_control_t *cp, cg_control_results_t *r, cg_httpd_resp_t *resp)
{
    cg_control_results_doc_t d = {.results = *r, .revision = cg_control_store_revision(&cp->store)};
    memset(r, 0, sizeof(*r));
    instance_warnings(cp, &d);
    resp->content_type = "application/json";
    cg_control_results_encode(&d, &resp->body);
    cg_buf_append_str(&resp->body, "\n");
    cg_control_results_doc_clear(&d);
}

static void handle_apply(cg_control_t *cp, const cg_httpd_req_t *req, cg_httpd_resp_t *resp,
                         int del)
{
    char *name = request_filename(req);
    cg_control_results_t results = {0};
    cg_buf_t errors = {0};
    int rc =
        del ? cg_control_store_delete_docs(&cp->store, name, req->body.base ? req->body.base : "",
                                           req->body.len, &results, &errors)
            : cg_control_store_apply(&cp->store, name, req->body.base ? req->body.base : "",
                                     req->body.len, &results, &errors);
    if (rc) {
        uint64_t *counter = del                  ? &cp->stats.delete_rejected
                            : rc == CG_ECONFLICT ? &cp->stats.apply_conflicts
                                                 : &cp->stats.apply_rejected;
        ++*counter;
        int status = rc == CG_EPARSE ? 400 : rc == CG_ECONFLICT ? 409 : rc == CG_EAGAIN ? 503 : 500;
        cg_control__text(resp, status, "%.*s", (int)errors.len, errors.base ? errors.base : "");
        if (status == 500 && errors.len == 0) cg_control__text(resp, 500, "store: write failed\n");
    } else {
        if (del)
            cp->stats.delete_ok++;
        else
            cp->stats.apply_ok++;
        results_answer(cp, &results, resp);
        cg_log_info("control: %s %s: revision %" PRIu64, del ? "delete" : "apply", name,
                    cg_control_store_revision(&cp->store));
    }
    cg_control_results_free(&results);
    cg_buf_free(&errors);
    free(name);
}

/* One stored resource as GET /v1/resources answers it (control/doc.h describes the answer). */
static void item_json(cg_jw_t *w, const cg_control_res_t *r)
{
    cg_buf_t redacted = {0}; /* a Secret's private key never leaves the control plane */
    if (r->kind == CG_KIND_SECRET) {
        cg_buf_t perr = {0};
        cg_json_t *doc = cg_json_parse("secret", r->json, strlen(r->json), &perr);
        cg_buf_free(&perr);
        if (doc == NULL || cg_control_doc_json_redacted(doc, &redacted) != 0 ||
            cg_buf_append(&redacted, "", 1) != 0) {
            cg_buf_reset(&redacted);
            cg_buf_append_str(&redacted, "null");
            cg_buf_append(&redacted, "", 1);
        }
        cg_json_free(doc);
    }
    char when[32];
    cg_clock_format_iso8601(r->updated_us, when);
    const cg_control_doc_item_t it = {.kind = cg_model_kind_name(r->kind),
                                      .name = r->name,
                                      .namespace_ = r->namespace_,
                                      .cluster = r->cluster,
                                      .version = r->version,
                                      .updated = when,
                                      .valid = r->set != NULL,
                                      .resource_json =
                                          r->kind == CG_KIND_SECRET ? redacted.base : r->json};
    cg_control_doc_item_write(w, &it);
    cg_buf_free(&redacted);
}

/* Resolves {kind}/{name}?namespace=&cluster=: a given namespace or cluster must match; when not
 * given, the name must be unique. Fills resp on failure and returns NULL. */
static const cg_control_res_t *resolve(cg_control_t *cp, cg_model_kind_t kind, const char *name,
                                       const char *ns, const char *cluster, cg_httpd_resp_t *resp)
{
    const cg_control_res_t *found = NULL;
    int n = 0;
    const cg_control_res_t *const *items;
    size_t nitems = cg_control_store_list(&cp->store, &items);
    for (size_t i = 0; i < nitems; i++) {
        const cg_control_res_t *r = items[i];
        if (r->kind != kind || strcmp(r->name, name)) continue;
        if (ns && strcmp(r->namespace_, ns)) continue;
        if (cluster && strcmp(r->cluster, cluster)) continue;
        found = r;
        n++;
    }
    if (n == 1) return found;
    char lower[16];
    snprintf(lower, sizeof(lower), "%s", cg_model_kind_name(kind));
    lower[0] = (char)(lower[0] | 0x20);
    if (n == 0)
        cg_control__text(resp, 404, "%s/%s not found\n", lower, name);
    else
        cg_control__text(
            resp, 400,
            "%s/%s is ambiguous: %d resources have that name (give --namespace and/or --cluster)\n",
            lower, name, n);
    return NULL;
}

static void handle_resources(cg_control_t *cp, const cg_httpd_req_t *req, cg_httpd_resp_t *resp,
                             cg_iov_t *seg, size_t nseg)
{
    cg_model_kind_t kind;
    if (cg_control_kind_parse(seg[2].base, seg[2].len, &kind)) {
        cg_control__text(resp, 404,
                         "unknown kind \"%.*s\" (expected gateway, cluster, service, secret or "
                         "workspacesetting)\n",
                         (int)seg[2].len, seg[2].base);
        return;
    }
    int bad = 0;
    char *ns = query_get(req->query, "namespace", &bad),
         *cluster = query_get(req->query, "cluster", &bad);
    char *name = nseg == 4 ? pct_decode(seg[3]) : NULL;
    if (bad || (nseg == 4 && !name)) {
        cg_control__text(resp, 400, "malformed query or path\n");
        goto Exit;
    }
    if (ns && !*ns) free(ns), ns = NULL;
    if (cluster && !*cluster) free(cluster), cluster = NULL;
    if (req->method == HTTP_GET && nseg == 3) {
        cg_jw_t w = cg_jw(&resp->body);
        cg_control_doc_list_open(&w, cg_model_kind_name(kind),
                                 cg_control_store_revision(&cp->store));
        const cg_control_res_t *const *items;
        size_t nitems = cg_control_store_list(&cp->store, &items);
        for (size_t i = 0; i < nitems; i++) {
            const cg_control_res_t *r = items[i];
            if (r->kind != kind || (ns && strcmp(ns, r->namespace_)) ||
                (cluster && strcmp(cluster, r->cluster)))
                continue;
            item_json(&w, r);
        }
        cg_jw_end(&w);
        cg_jw_end(&w);
        cg_buf_append_str(&resp->body, "\n");
        resp->content_type = "application/json";
    } else if (req->method == HTTP_GET && nseg == 4) {
        const cg_control_res_t *r = resolve(cp, kind, name, ns, cluster, resp);
        if (r) {
            cg_jw_t w = cg_jw(&resp->body);
            item_json(&w, r);
            cg_buf_append_str(&resp->body, "\n");
            resp->content_type = "application/json";
        }
    } else if (req->method == HTTP_DELETE && nseg == 4) {
        const cg_control_res_t *r = resolve(cp, kind, name, ns, cluster, resp);
        if (!r) {
            cp->stats.delete_rejected++;
            goto Exit;
        }
        cg_control_results_t results = {0};
        cg_buf_t errors = {0};
        int rc = cg_control_store_delete(&cp->store, r->kind, r->cluster, r->namespace_, r->name,
                                         &results, &errors);
        if (rc) {
            cp->stats.delete_rejected++;
            cg_control__text(resp, rc == CG_EAGAIN ? 503 : 500, "%.*s", (int)errors.len,
                             errors.base ? errors.base : "");
        } else {
            cp->stats.delete_ok++;
            results_answer(cp, &results, resp);
        }
        cg_control_results_free(&results);
        cg_buf_free(&errors);
    } else {
        cg_control__text(resp, 405, "method not allowed\n");
    }
Exit:
    free(ns);
    free(cluster);
    free(name);
}

/* ---- instances ---- */

void cg_control__lease_gone(cg_control_leases_t *l, cg_control_inst_t *inst, cg_control_gone_t why)
{
    cg_control_t *cp = l->data;
    static const char *const whys[] = {"lease expired", "deregistered",
                                       "replaced by a new registration"};
    cg_log_info("control: instance %s (cluster %s, namespace %s, %s) gone: %s", inst->id,
                inst->cluster, inst->namespace_, inst->address, whys[why]);
    if (why == CG_CONTROL_GONE_EXPIRED) cp->stats.expired++;
    /* a replaced one's row went with its successor's; one that went at another control
     * plane has none left */
    if (!cp->syncing) cg_control__lease_unstore(cp, inst->id);
    cg_control_watch_detach(&cp->watch, inst);
    order_arm(cp);
}

/* Registrations a join token may make: a burst of JOIN_BURST, then JOIN_RATE a second. */
#define JOIN_RATE  20.0
#define JOIN_BURST 200.0

/* What a join token may register: its own cluster, from the address it advertises (or one its
 * token allows, for NAT and load balancers). Fills resp and returns 0 when refused. */
static int join_scope_ok(cg_control_t *cp, const cg_httpd_req_t *req, cg_httpd_resp_t *resp,
                         const cg_token_t *tok, const cg_control_inst_t *inst)
{
    if (strcmp(inst->cluster, tok->cluster) != 0) {
        cg_control__text(resp, 403,
                         "forbidden: this join token registers instances of cluster %s, not %s\n",
                         tok->cluster, inst->cluster);
        return 0;
    }
    cg_addr_t adv, peer;
    char peer_ip[64];
    snprintf(peer_ip, sizeof(peer_ip), "%.*s", (int)req->peer_ip.len, req->peer_ip.base);
    int ok = cg_addr_parse_ip(&adv, inst->address, 0) == 0 &&
             cg_addr_parse_ip(&peer, peer_ip, 0) == 0 && cg_addr_eq(&adv, &peer);
    for (size_t i = 0; !ok && i < tok->nallow; i++) ok = cg_cidr_contains(&tok->allow[i], &adv);
    if (!ok) {
        cg_control__text(resp, 403,
                         "forbidden: advertised address %s is not this connection's source address "
                         "%s (a join token may "
                         "allow others: crossgate token create --allow-address)\n",
                         inst->address, peer_ip);
        return 0;
    }
    return 1;
}

static void handle_register(cg_control_t *cp, const cg_httpd_req_t *req, cg_httpd_resp_t *resp,
                            const cg_token_t *tok)
{
    cg_control_inst_t *inst = NULL;
    cg_buf_t err = {0};
    if (cg_control_inst_parse(req->body.base ? req->body.base : "", req->body.len, &inst, &err)) {
        cg_control__text(resp, 400, "bad registration: %.*s\n", (int)err.len,
                         err.base ? err.base : "");
        cg_buf_free(&err);
        return;
    }
    if (tok->role == CG_ROLE_JOIN) {
        if (!join_scope_ok(cp, req, resp, tok, inst)) {
            cp->stats.forbidden++;
            cg_control_inst_free(inst);
            return;
        }
        if (!cg_control_tokens_take((cg_token_t *)tok, cp->loop->now_ms, JOIN_RATE, JOIN_BURST)) {
            cp->stats.rate_limited++;
            cg_control__text(resp, 429, "too many registrations with this token: retry later\n");
            cg_buf_append_str(&resp->headers, "retry-after: 1\r\n");
            cg_control_inst_free(inst);
            return;
        }
    }
    snprintf(inst->owner, sizeof(inst->owner), "%s", tok->id);
    const cg_control_inst_t *same = cg_control_leases_same(&cp->leases, inst);
    if (same && strcmp(same->owner, inst->owner) && tok->role != CG_ROLE_ADMIN) {
        /* a registration replaces an earlier one of the same gateway (a restart), never one
         * another token made */
        cg_control__text(
            resp, 409, "conflict: instance %s with this identity was registered by another token\n",
            same->id);
        cg_control_inst_free(inst);
        return;
    }
    inst->registered_wall_us = cg_clock_wall_us();
    cg_control_inst_new_id(inst, cp->loop->now_ms);
    /* in the store before it is answered: a restarted control plane knows this instance */
    if (cg_control__lease_store(cp, inst, same ? same->id : NULL)) {
        cg_control__text(resp, 503,
                         "store unavailable: the registration could not be written: "
                         "retry later\n");
        cg_buf_append_str(&resp->headers, "retry-after: 1\r\n");
        cg_control_inst_free(inst);
        return;
    }
    cg_control_leases_register(&cp->leases, inst, cp->loop->now_ms);
    cg_control_watch_attach(&cp->watch, inst);
    cp->stats.registrations++;
    cg_log_info("control: instance %s registered: cluster %s, namespace %s, address %s", inst->id,
                inst->cluster, inst->namespace_, inst->address);
    cg_control__recompute_instances_soon(cp);
    resp->content_type = "application/json";
    cg_registration_answer_t answer = {.heartbeat_ms = CG_CONTROL_HEARTBEAT_MS,
                                       .ttl_ms = cp->leases.ttl_ms};
    snprintf(answer.id, sizeof(answer.id), "%s", inst->id);
    cg_registration_answer_encode(&answer, &resp->body);
    cg_buf_append_str(&resp->body, "\n");
}

/* A parked long-poll. */
typedef struct poll {
    cg_control_waiter_t waiter;
    cg_httpd_pending_t *pending;
    cg_timer_t timer;
    cg_control_t *cp;
} poll_t;

static void snapshot_response(const cg_control_wentry_t *e, cg_httpd_resp_t *resp)
{
    resp->status = 200;
    resp->content_type = "application/json";
    cg_buf_append(&resp->body, e->json.base, e->json.len);
    cg_buf_printf(&resp->headers, "x-crossgate-version: %" PRIu64 "\r\n", e->version);
}
static void poll_woken(cg_control_waiter_t *w, const cg_control_wentry_t *e)
{
    poll_t *p = cg_container_of(w, poll_t, waiter);
    if (e && (cg_control__held_back(p->cp, e, w->after) || cg_control_watch_holds(e, w->after))) {
        cg_control_watch_wait(&p->cp->watch, e->inst->data, w); /* until the window ends */
        return;
    }
    cg_httpd_resp_t resp = {0};
    if (e)
        snapshot_response(e, &resp);
    else
        cg_control__text(&resp, 404, "instance gone: register again\n");
    cg_timer_stop(p->cp->loop, &p->timer);
    cg_httpd_complete(p->pending, &resp);
    free(p);
}

static void poll_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    poll_t *p = cg_container_of(t, poll_t, timer);
    cg_control_watch_cancel(&p->cp->watch, &p->waiter);
    cg_httpd_resp_t resp = {.status = 304};
    cg_httpd_complete(p->pending, &resp);
    free(p);
}

static void poll_gone(cg_httpd_pending_t *pending, void *data)
{
    poll_t *p = data;
    cg_control_watch_cancel(&p->cp->watch, &p->waiter);
    cg_timer_stop(p->cp->loop, &p->timer);
    free(p);
}

static void handle_snapshot(cg_control_t *cp, const cg_httpd_req_t *req, cg_httpd_resp_t *resp,
                            cg_control_inst_t *inst)
{
    uint64_t after, timeout;
    if (query_u64(req->query, "after", 0, &after) ||
        query_u64(req->query, "timeout_ms", POLL_DEFAULT_MS, &timeout)) {
        cg_control__text(resp, 400, "after and timeout_ms must be non-negative integers\n");
        return;
    }
    if (timeout > POLL_MAX_MS) timeout = POLL_MAX_MS;
    cg_control_wentry_t *e = inst->data;
    /* the gateway serves `after`: what waited for it goes out (make-before-break) */
    cg_control_watch_ack(&cp->watch, e, after);
    order_arm(cp);
    if (e->version > after && !cg_control__held_back(cp, e, after) &&
        !cg_control_watch_holds(e, after)) {
        snapshot_response(e, resp);
        return;
    }
    if (timeout == 0) {
        resp->status = 304;
        return;
    }
    size_t parked = 0;
    cg_list_t *pos;
    for (pos = e->waiters.next; pos != &e->waiters; pos = pos->next) parked++;
    if (parked >= WATCHERS_PER_INSTANCE) {
        /* one gateway watches its snapshot once; more is a leak or an abuse */
        cp->stats.rate_limited++;
        cg_control__text(resp, 429, "too many watches of instance %s (at most %d)\n", inst->id,
                         WATCHERS_PER_INSTANCE);
        return;
    }
    poll_t *p = cg_xcalloc(1, sizeof(*p));
    p->cp = cp;
    p->waiter.after = after;
    p->waiter.cb = poll_woken;
    p->pending = cg_httpd_defer(req, poll_gone, p);
    cg_control_watch_wait(&cp->watch, e, &p->waiter);
    cg_timer_start(cp->loop, &p->timer, timeout, poll_timeout);
}

static void handle_instances(cg_control_t *cp, const cg_httpd_req_t *req, cg_httpd_resp_t *resp,
                             const cg_token_t *tok, cg_iov_t *seg, size_t nseg)
{
    if (nseg == 2) {
        if (req->method == HTTP_POST) {
            if (allowed(cp, tok, NEED_GATEWAY, resp)) handle_register(cp, req, resp, tok);
        } else if (req->method == HTTP_GET) {
            if (!allowed(cp, tok, NEED_READ, resp)) return;
            cg_control__instances_json(cp, &resp->body);
            resp->content_type = "application/json";
        } else {
            cg_control__text(resp, 405, "method not allowed\n");
        }
        return;
    }
    if (!allowed(cp, tok, NEED_GATEWAY, resp)) return;
    char id[40];
    if (seg[2].len >= sizeof(id)) {
        cg_control__text(resp, 404, "unknown instance\n");
        return;
    }
    memcpy(id, seg[2].base, seg[2].len);
    id[seg[2].len] = '\0';
    cg_control_inst_t *inst = cg_control_leases_find(&cp->leases, id);
    int heartbeat = nseg == 4 && seg_is(seg[3], "heartbeat") && req->method == HTTP_PUT;
    int snapshot = nseg == 4 && seg_is(seg[3], "snapshot") && req->method == HTTP_GET;
    int deregister = nseg == 3 && req->method == HTTP_DELETE;
    if (!heartbeat && !snapshot && !deregister) {
        cg_control__text(resp, 405, "method not allowed\n");
        return;
    }
    if (!inst) {
        cg_control__text(resp, 404, "unknown instance: register again\n");
        return;
    }
    if (!owns(cp, tok, inst, resp)) return;
    if (heartbeat) {
        cg_control_leases_heartbeat(&cp->leases, id, cp->loop->now_ms);
        resp->status = 200;
    } else if (deregister) {
        cp->stats.deregistrations++;
        cg_control_leases_remove(&cp->leases, id);
        cg_control__recompute_instances_soon(cp);
        resp->status = 200;
    } else {
        handle_snapshot(cp, req, resp, inst);
    }
}

/* ---- dispatch ---- */

/* The answer while the store has not been read (an etcd store unreachable since the start). */
static void not_read_yet(cg_control_t *cp, cg_httpd_resp_t *resp)
{
    cg_control__text(resp, 503, "store unavailable: %s\n",
                     cg_control_store_why(&cp->store, "not read yet"));
}

void cg_control__handle(cg_httpd_t *srv, const cg_httpd_req_t *req, cg_httpd_resp_t *resp)
{
    cg_control_t *cp = srv->data;
    cg_iov_t seg[5];
    size_t nseg = split_path(req->path, seg, 5);
    int m = req->method;
    if (nseg == 1 && seg_is(seg[0], "ready") && (m == HTTP_GET || m == HTTP_HEAD)) {
        if (!cg_control_store_is_open(&cp->store))
            cg_control__text(resp, 503, "store not open\n");
        else if (!cg_control_store_ready(&cp->store))
            not_read_yet(cp, resp);
        else
            cg_control__text(resp, 200, "ready\n");
        return;
    }
    const cg_token_t *tok = authenticate(cp, req, resp);
    if (!tok) return;
    if (nseg == 1 && seg_is(seg[0], "metrics") && m == HTTP_GET) {
        if (!allowed(cp, tok, NEED_READ, resp)) return;
        resp->content_type = "text/plain; version=0.0.4";
        cg_control__metrics(cp, &resp->body);
    } else if (nseg >= 2 && seg_is(seg[0], "v1") && !seg_is(seg[1], "tokens") &&
               !cg_control_store_ready(&cp->store)) {
        /* an etcd store not read yet: nothing here is the store's state */
        not_read_yet(cp, resp);
    } else if (nseg >= 2 && seg_is(seg[0], "v1")) {
        if (nseg == 2 && (seg_is(seg[1], "apply") || seg_is(seg[1], "delete"))) {
            if (m != HTTP_POST)
                cg_control__text(resp, 405, "method not allowed\n");
            else if (allowed(cp, tok, NEED_ADMIN, resp))
                handle_apply(cp, req, resp, seg_is(seg[1], "delete"));
        } else if (nseg == 2 && seg_is(seg[1], "status")) {
            if (m != HTTP_GET)
                cg_control__text(resp, 405, "method not allowed\n");
            else if (allowed(cp, tok, NEED_READ, resp)) {
                recompute_flush(cp);
                resp->content_type = "application/json";
                cg_control__status_json(cp, &resp->body);
            }
        } else if ((nseg == 3 || nseg == 4) && seg_is(seg[1], "resources")) {
            if (allowed(cp, tok, m == HTTP_GET ? NEED_READ : NEED_ADMIN, resp))
                handle_resources(cp, req, resp, seg, nseg);
        } else if (nseg >= 2 && nseg <= 4 && seg_is(seg[1], "instances")) {
            handle_instances(cp, req, resp, tok, seg, nseg);
        } else if ((nseg == 2 || nseg == 3) && seg_is(seg[1], "tokens")) {
            if (allowed(cp, tok, NEED_ADMIN, resp))
                cg_control__handle_tokens(cp, req, resp, seg, nseg);
        } else {
            cg_control__text(resp, 404, "no such endpoint: %.*s\n", (int)req->path.len,
                             req->path.base);
        }
    } else {
        cg_control__text(resp, 404, "no such endpoint: %.*s\n", (int)req->path.len, req->path.base);
    }
}
