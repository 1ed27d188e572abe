/* The etcd backend's keys, base64 and gateway bodies (store_etcd_wire.h). */
#include "control/store_etcd_wire.h"

#include "core/err.h"
#include "core/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- keys ---- */

static void segment(cg_buf_t *out, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    cg_buf_append_str(out, "/");
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        unsigned char c = *p;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '.' || c == '_' || c == '-') {
            cg_buf_append(out, &c, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            cg_buf_append(out, e, 3);
        }
    }
}

void cg_etcd_res_key(cg_buf_t *out, cg_model_kind_t kind, const char *cluster, const char *ns,
                     const char *name)
{
    cg_buf_append_str(out, CG_ETCD_PREFIX "resources");
    segment(out, cg_model_kind_name(kind));
    segment(out, cluster);
    segment(out, ns);
    segment(out, name);
    cg_buf_append(out, "", 1);
}

void cg_etcd_lease_key(cg_buf_t *out, const char *id)
{
    cg_buf_append_str(out, CG_ETCD_PREFIX "leases");
    segment(out, id);
    cg_buf_append(out, "", 1);
}

/* ---- base64 ---- */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void cg_etcd_b64_encode(cg_buf_t *out, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n) v |= (uint32_t)s[i + 1] << 8;
        if (i + 2 < n) v |= s[i + 2];
        char q[4] = {b64[v >> 18], b64[(v >> 12) & 63], i + 1 < n ? b64[(v >> 6) & 63] : '=',
                     i + 2 < n ? b64[v & 63] : '='};
        cg_buf_append(out, q, 4);
    }
}

static int b64_value(char c)
{
    const char *at = c ? strchr(b64, c) : NULL;
    return at ? (int)(at - b64) : -1;
}

int cg_etcd_b64_decode(cg_buf_t *out, const char *s, size_t n)
{
    if (n % 4) return CG_EPARSE;
    for (size_t i = 0; i < n; i += 4) {
        int last = i + 4 == n;
        int pad = last && s[i + 3] == '=' ? (s[i + 2] == '=' ? 2 : 1) : 0;
        int v[4];
        for (int j = 0; j < 4; j++) {
            v[j] = j >= 4 - pad ? 0 : b64_value(s[i + j]);
            if (v[j] < 0) return CG_EPARSE;
        }
        unsigned char b[3] = {(unsigned char)(v[0] << 2 | v[1] >> 4),
                              (unsigned char)((v[1] & 15) << 4 | v[2] >> 2),
                              (unsigned char)((v[2] & 3) << 6 | v[3])};
        cg_buf_append(out, b, (size_t)(3 - pad));
    }
    return 0;
}

/* ---- request bodies ---- */

static void kb64(cg_jw_t *w, const char *key, const void *p, size_t n)
{
    cg_buf_t e = {0};
    cg_etcd_b64_encode(&e, p, n);
    cg_jw_key(w, key);
    cg_jw_strn(w, e.base ? e.base : "", e.len);
    cg_buf_free(&e);
}

void cg_etcd_range_body(cg_buf_t *out, const char *key, int prefix)
{
    cg_jw_t w = cg_jw(out);
    size_t n = strlen(key);
    cg_jw_obj(&w);
    kb64(&w, "key", key, n);
    if (prefix && n) {
        /* every key from key up to (not including) key with its last byte raised by one */
        char *end = cg_xstrdup(key);
        end[n - 1]++;
        kb64(&w, "range_end", end, n);
        free(end);
    }
    cg_jw_end(&w);
}

void cg_etcd_count_changed_body(cg_buf_t *out, const char *prefix, uint64_t after)
{
    size_t n = strlen(prefix);
    char *end = cg_xstrdup(prefix);
    end[n - 1]++;
    char v[24];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)(after + 1));
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    kb64(&w, "key", prefix, n);
    kb64(&w, "range_end", end, n);
    cg_jw_kbool(&w, "count_only", 1);
    cg_jw_kstr(&w, "min_mod_revision", v);
    cg_jw_end(&w);
    free(end);
}

void cg_etcd_range_between(cg_buf_t *out, const char *from, const char *to)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    kb64(&w, "key", from, strlen(from));
    kb64(&w, "range_end", to, strlen(to));
    cg_jw_end(&w);
}

static cg_jw_t item(cg_buf_t *b, size_t *count)
{
    if ((*count)++) cg_buf_append_str(b, ",");
    return cg_jw(b);
}

void cg_etcd_txn_compare_mod(cg_etcd_txn_t *t, const char *key, uint64_t rev)
{
    cg_jw_t w = item(&t->compare, &t->ncompare);
    cg_jw_obj(&w);
    kb64(&w, "key", key, strlen(key));
    cg_jw_kstr(&w, "target", "MOD");
    cg_jw_kstr(&w, "result", "EQUAL");
    /* int64 travels as a string in the gateway's JSON */
    char v[24];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)rev);
    cg_jw_kstr(&w, "mod_revision", v);
    cg_jw_end(&w);
}

void cg_etcd_txn_compare_exists(cg_etcd_txn_t *t, const char *key)
{
    cg_jw_t w = item(&t->compare, &t->ncompare);
    cg_jw_obj(&w);
    kb64(&w, "key", key, strlen(key));
    cg_jw_kstr(&w, "target", "VERSION");
    cg_jw_kstr(&w, "result", "GREATER");
    cg_jw_kstr(&w, "version", "0");
    cg_jw_end(&w);
}

void cg_etcd_txn_put(cg_etcd_txn_t *t, const char *key, const char *value, size_t len)
{
    cg_jw_t w = item(&t->success, &t->nsuccess);
    cg_jw_obj(&w);
    cg_jw_kobj(&w, "request_put");
    kb64(&w, "key", key, strlen(key));
    kb64(&w, "value", value, len);
    cg_jw_end(&w);
    cg_jw_end(&w);
}

void cg_etcd_txn_delete(cg_etcd_txn_t *t, const char *key)
{
    cg_jw_t w = item(&t->success, &t->nsuccess);
    cg_jw_obj(&w);
    cg_jw_kobj(&w, "request_delete_range");
    kb64(&w, "key", key, strlen(key));
    cg_jw_end(&w);
    cg_jw_end(&w);
}

void cg_etcd_txn_body(cg_etcd_txn_t *t, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_key(&w, "compare");
    cg_jw_raw(&w, "[", 1);
    if (t->compare.len) cg_buf_append(out, t->compare.base, t->compare.len);
    cg_buf_append_str(out, "]");
    cg_jw_key(&w, "success");
    cg_jw_raw(&w, "[", 1);
    if (t->success.len) cg_buf_append(out, t->success.base, t->success.len);
    cg_buf_append_str(out, "]");
    cg_jw_end(&w);
    cg_etcd_txn_free(t);
}

void cg_etcd_txn_free(cg_etcd_txn_t *t)
{
    cg_buf_free(&t->compare);
    cg_buf_free(&t->success);
    t->ncompare = t->nsuccess = 0;
}

/* ---- answers ---- */

void cg_etcd_printable(cg_buf_t *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
        cg_buf_append(out, &c, 1);
    }
}

/* An int64 as the gateway writes it (a decimal string; an integer accepted too); absent: 0. */
static int read_u64(const cg_json_t *v, uint64_t *out)
{
    size_t n = 0;
    const char *s = cg_json_string(v, &n);
    *out = 0;
    if (!v) return 0;
    if (cg_json_type(v) == CG_JSON_INT) {
        if (cg_json_int(v) < 0) return CG_EPARSE;
        *out = (uint64_t)cg_json_int(v);
        return 0;
    }
    if (!s || n == 0 || n > 19) return CG_EPARSE;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return CG_EPARSE;
        *out = *out * 10 + (uint64_t)(s[i] - '0');
    }
    return 0;
}

/* A base64 member into a NUL-terminated copy (absent: ""). */
static int read_b64(const cg_json_t *v, char **out, size_t *len)
{
    size_t n = 0;
    const char *s = cg_json_string(v, &n);
    cg_buf_t b = {0};
    *out = NULL;
    if (v && !s) return CG_EPARSE;
    if (s && cg_etcd_b64_decode(&b, s, n)) {
        cg_buf_free(&b);
        return CG_EPARSE;
    }
    if (len) *len = b.len;
    cg_buf_append(&b, "", 1);
    *out = b.base;
    return 0;
}

/* One key-value ({"key", "value", "create_revision", "mod_revision"}); a deleted one (del)
 * has its key and mod_revision only, and gets no value. 0 or CG_EPARSE (nothing kept). */
static int read_kv(const cg_json_t *kv, cg_etcd_kv_t *e, int del)
{
    memset(e, 0, sizeof(*e));
    if (cg_json_type(kv) != CG_JSON_OBJECT || read_b64(cg_json_get(kv, "key"), &e->key, NULL) ||
        (!del && read_b64(cg_json_get(kv, "value"), &e->value, &e->value_len)) ||
        read_u64(cg_json_get(kv, "create_revision"), &e->create_rev) ||
        read_u64(cg_json_get(kv, "mod_revision"), &e->mod_rev) || !e->mod_rev ||
        (!del && !e->create_rev)) {
        free(e->key);
        free(e->value);
        memset(e, 0, sizeof(*e));
        return CG_EPARSE;
    }
    return 0;
}

int cg_etcd_answer_parse(int status, const char *body, size_t len, cg_etcd_answer_t *a,
                         cg_buf_t *err)
{
    memset(a, 0, sizeof(*a));
    cg_json_t *doc = cg_json_parse("etcd", body, len, NULL);
    if (status != 200) {
        /* grpc codes: 4 deadline exceeded, 14 unavailable (no leader, stopping) */
        int64_t code = cg_json_int(cg_json_get(doc, "code"));
        size_t n = 0;
        const char *m = cg_json_string(cg_json_get(doc, "error"), &n);
        if (!m) m = cg_json_string(cg_json_get(doc, "message"), &n);
        if (m) {
            cg_buf_printf(err, "etcd answered %d: ", status);
            cg_etcd_printable(err, m, n > 200 ? 200 : n);
        } else
            cg_buf_printf(err, "etcd answered %d", status);
        cg_json_free(doc);
        return code == 4 || code == 14 || status == 503 ? CG_EAGAIN : CG_EIO;
    }
    int rc = 0;
    const cg_json_t *header = cg_json_get(doc, "header"), *kvs = cg_json_get(doc, "kvs");
    const cg_json_t *ok = cg_json_get(doc, "succeeded");
    if (cg_json_type(doc) != CG_JSON_OBJECT || cg_json_type(header) != CG_JSON_OBJECT ||
        read_u64(cg_json_get(header, "revision"), &a->revision) || a->revision == 0 ||
        (kvs && cg_json_type(kvs) != CG_JSON_ARRAY) || (ok && cg_json_type(ok) != CG_JSON_BOOL)) {
        rc = CG_EPARSE;
        goto Exit;
    }
    /* the gateway leaves out members at their default: no "succeeded" is false */
    a->succeeded = cg_json_true(ok);
    if (read_u64(cg_json_get(doc, "count"), &a->count)) {
        rc = CG_EPARSE;
        goto Exit;
    }
    for (size_t i = 0; i < cg_json_len(kvs); i++) {
        cg_etcd_kv_t e;
        if (read_kv(cg_json_at(kvs, i), &e, 0)) {
            rc = CG_EPARSE;
            goto Exit;
        }
        cg_vec_push(&a->kvs, e);
    }
Exit:
    if (rc) {
        cg_etcd_answer_free(a);
        cg_buf_printf(err, "etcd: not an answer of the v3 gateway");
    }
    cg_json_free(doc);
    return rc;
}

void cg_etcd_answer_free(cg_etcd_answer_t *a)
{
    for (size_t i = 0; i < a->kvs.len; i++) {
        free(a->kvs.items[i].key);
        free(a->kvs.items[i].value);
    }
    cg_vec_free(&a->kvs);
}

/* ---- watch ---- */

void cg_etcd_watch_body(cg_buf_t *out, const char *prefix, uint64_t from)
{
    cg_buf_t range = {0};
    cg_etcd_range_body(&range, prefix, 1);
    char v[24];
    snprintf(v, sizeof(v), "%llu", (unsigned long long)(from ? from : 1));
    /* {"create_request":{"key":...,"range_end":...,"start_revision":"N"}} */
    cg_buf_append_str(out, "{\"create_request\":");
    cg_buf_append(out, range.base, range.len - 1); /* without its closing brace */
    cg_buf_printf(out, ",\"start_revision\":\"%s\"}}", v);
    cg_buf_free(&range);
}

enum { ST_SIZE, ST_DATA, ST_DATA_END, ST_TRAILER };

/* The longest chunk-size line (hex digits and extensions) accepted. */
#define MAX_SIZE_LINE 256

int cg_etcd_stream_feed(cg_etcd_stream_t *s, const char *p, size_t n)
{
    size_t max = s->max_line ? s->max_line : (size_t)64 << 20;
    /* what was handed out goes first, so that data holds one partial line at most */
    if (s->taken) {
        memmove(s->data.base, s->data.base + s->taken, s->data.len - s->taken);
        s->data.len -= s->taken;
        s->taken = 0;
    }
    while (n) {
        if (s->ended) return CG_EPARSE;
        if (s->state == ST_DATA) {
            size_t take = n < s->left ? n : (size_t)s->left;
            /* every line's length, the one that goes on (partial) and those that end here */
            const char *q = p, *end = p + take, *nl;
            size_t partial = s->partial;
            for (; (nl = memchr(q, '\n', (size_t)(end - q))); q = nl + 1) {
                if (partial + (size_t)(nl - q) > max) return CG_EPARSE;
                partial = 0;
            }
            partial += (size_t)(end - q);
            if (partial > max) return CG_EPARSE;
            s->partial = partial; /* only with the bytes it counts: next relies on it */
            cg_buf_append(&s->data, p, take);
            p += take;
            n -= take;
            s->left -= take;
            if (s->left == 0) s->state = ST_DATA_END;
            continue;
        }
        /* a line of framing: a chunk size, the CRLF after data, a trailer line */
        const char *nl = memchr(p, '\n', n);
        size_t take = nl ? (size_t)(nl - p) + 1 : n;
        if (s->raw.len + take > MAX_SIZE_LINE) return CG_EPARSE;
        cg_buf_append(&s->raw, p, take);
        p += take;
        n -= take;
        if (!nl) break;
        size_t len = s->raw.len - 1;
        if (len == 0 || s->raw.base[len - 1] != '\r') return CG_EPARSE;
        len--;
        const char *l = s->raw.base;
        if (s->state == ST_DATA_END) {
            if (len) return CG_EPARSE;
            s->state = ST_SIZE;
        } else if (s->state == ST_SIZE) {
            uint64_t size = 0;
            size_t i = 0;
            for (; i < len; i++) {
                char c = l[i];
                int d = c >= '0' && c <= '9'   ? c - '0'
                        : c >= 'a' && c <= 'f' ? c - 'a' + 10
                        : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                               : -1;
                if (d < 0) break;
                if (size >> 60) return CG_EPARSE; /* past 64 bits */
                size = size * 16 + (uint64_t)d;
            }
            /* a chunk's size is no line's: lines are bounded as they arrive */
            if (i == 0 || (i < len && l[i] != ';')) return CG_EPARSE;
            s->left = size;
            s->state = size ? ST_DATA : ST_TRAILER;
        } else if (len == 0) { /* the end of the trailers: the body is over */
            s->ended = 1;
        }
        cg_buf_reset(&s->raw);
    }
    return 0;
}

int cg_etcd_stream_next(cg_etcd_stream_t *s, const char **line, size_t *len)
{
    const char *start = s->data.base + s->taken;
    size_t avail = s->data.len - s->taken;
    /* the partial line at the end has no newline: a long one is not searched at every feed */
    size_t scan = avail - s->partial;
    const char *nl = scan ? memchr(start, '\n', scan) : NULL;
    if (!nl && !(s->ended && avail)) return 0;
    *line = start;
    *len = nl ? (size_t)(nl - start) : avail;
    s->taken += nl ? *len + 1 : avail;
    if (!nl) s->partial = 0; /* the last line, handed out */
    return 1;
}

void cg_etcd_stream_free(cg_etcd_stream_t *s)
{
    cg_buf_free(&s->data);
    cg_buf_free(&s->raw);
    memset(s, 0, sizeof(*s));
}

int cg_etcd_watch_parse(const char *line, size_t len, cg_etcd_watch_msg_t *m, cg_buf_t *err)
{
    memset(m, 0, sizeof(*m));
    cg_json_t *doc = cg_json_parse("etcd watch", line, len, NULL);
    const cg_json_t *res = cg_json_get(doc, "result"), *error = cg_json_get(doc, "error");
    int rc = CG_EPARSE;
    if (error) {
        size_t n = 0;
        const cg_json_t *msg = cg_json_get(error, "message");
        const char *s = cg_json_string(msg ? msg : error, &n);
        cg_buf_printf(err, "etcd watch: ");
        cg_etcd_printable(err, s ? s : "failed", s ? (n > 200 ? 200 : n) : 6);
        goto Exit;
    }
    const cg_json_t *header = cg_json_get(res, "header"), *events = cg_json_get(res, "events");
    const cg_json_t *created = cg_json_get(res, "created"),
                    *canceled = cg_json_get(res, "canceled");
    if (cg_json_type(res) != CG_JSON_OBJECT || cg_json_type(header) != CG_JSON_OBJECT ||
        read_u64(cg_json_get(header, "revision"), &m->revision) ||
        read_u64(cg_json_get(res, "compact_revision"), &m->compact_revision) ||
        (events && cg_json_type(events) != CG_JSON_ARRAY) ||
        (created && cg_json_type(created) != CG_JSON_BOOL) ||
        (canceled && cg_json_type(canceled) != CG_JSON_BOOL))
        goto Bad;
    m->created = cg_json_true(created);
    m->canceled = cg_json_true(canceled);
    const cg_json_t *reason = cg_json_get(res, "cancel_reason");
    size_t rn = 0;
    const char *rs = cg_json_string(reason, &rn);
    if (reason && !rs) goto Bad;
    /* one line for the log: control characters become '?' */
    for (size_t i = 0; rs && i < rn && i + 1 < sizeof(m->cancel_reason); i++)
        m->cancel_reason[i] = (unsigned char)rs[i] < 0x20 || rs[i] == 0x7f ? '?' : rs[i];
    for (size_t i = 0; i < cg_json_len(events); i++) {
        const cg_json_t *ev = cg_json_at(events, i);
        size_t n = 0;
        const cg_json_t *t = cg_json_get(ev, "type");
        const char *type = cg_json_string(t, &n);
        cg_etcd_event_t e = {0};
        /* the gateway leaves out the default: no "type" is a PUT (a number is not a name) */
        if (t && !(type && n == 3 && !memcmp(type, "PUT", 3)) &&
            !(type && n == 6 && !memcmp(type, "DELETE", 6)))
            goto Bad;
        e.del = type && n == 6;
        if (cg_json_type(ev) != CG_JSON_OBJECT || read_kv(cg_json_get(ev, "kv"), &e.kv, e.del))
            goto Bad;
        cg_vec_push(&m->events, e);
    }
    rc = 0;
    goto Exit;
Bad:
    cg_buf_printf(err, "etcd watch: not a message of the v3 gateway");
Exit:
    if (rc) cg_etcd_watch_msg_free(m);
    cg_json_free(doc);
    return rc;
}

void cg_etcd_watch_msg_free(cg_etcd_watch_msg_t *m)
{
    for (size_t i = 0; i < m->events.len; i++) {
        free(m->events.items[i].kv.key);
        free(m->events.items[i].kv.value);
    }
    cg_vec_free(&m->events);
}
