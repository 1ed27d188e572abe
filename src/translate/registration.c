/* The registration document, written and read in one place (registration.h). */
#include "translate/registration.h"

#include "core/err.h"
#include "core/json.h"
#include "core/list.h"
#include "model/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Everything a registration carries ends up in logs, metrics labels and the status page: at
 * most this long, and printable. */
#define REG_VALUE_MAX 253

static const char *check_printable(const char *s, size_t len)
{
    if (len == 0) return "must not be empty";
    if (len > REG_VALUE_MAX) return "longer than 253 characters";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return "must be printable ASCII without spaces";
    return NULL;
}

/* Names are the resource model's names (a Cluster's metadata.name), so that every registered
 * cluster is one a resource can name. */
static const char *check_name(const char *s, size_t len)
{
    const char *why = check_printable(s, len);
    return why ? why : cg_model_check_name(s);
}

static const char *check_label_key(const char *s, size_t len)
{
    const char *why = check_printable(s, len);
    return why ? why : cg_model_check_label_key(s);
}

static const char *check_ip(const char *s, size_t len)
{
    const char *why = check_printable(s, len);
    return why ? why : cg_model_check_ip(s) ? "expected an IP address" : NULL;
}

/* The fields, in the order they are written. */
static const struct {
    const char *name;
    size_t off;
    const char *(*check)(const char *, size_t);
    int required;
} fields[] = {
    {"cluster", offsetof(cg_registration_t, cluster), check_name, 1},
    {"namespace", offsetof(cg_registration_t, namespace_), check_name, 0},
    {"address", offsetof(cg_registration_t, address), check_ip, 1},
    {"admin", offsetof(cg_registration_t, admin), check_printable, 0},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static char **field_of(const cg_registration_t *r, size_t i)
{
    return (char **)((char *)r + fields[i].off);
}

int cg_registration_encode(const cg_registration_t *r, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    for (size_t i = 0; i < NFIELDS; i++) cg_jw_kstr_opt(&w, fields[i].name, *field_of(r, i));
    if (r->mtls_port) cg_jw_ku64(&w, "mtls_port", r->mtls_port);
    cg_jw_kobj(&w, "labels");
    for (size_t i = 0; i < r->nlabels; i++) cg_jw_kstr(&w, r->labels[i].key, r->labels[i].value);
    cg_jw_end(&w);
    cg_jw_end(&w);
    return w.failed ? CG_ENOMEM : 0;
}

void cg_registration_clear(cg_registration_t *r)
{
    for (size_t i = 0; i < NFIELDS; i++) free(*field_of(r, i));
    for (size_t i = 0; i < r->nlabels; i++) {
        free(r->labels[i].key);
        free(r->labels[i].value);
    }
    free(r->labels);
    memset(r, 0, sizeof(*r));
}

static const char *decode_labels(const cg_json_t *v, cg_registration_t *r)
{
    static const char *const want = "expected an object of strings";
    if (cg_json_type(v) != CG_JSON_OBJECT) return want;
    r->labels = cg_xcalloc(cg_json_len(v) + 1, sizeof(*r->labels));
    for (void *it = cg_json_iter(v); it; it = cg_json_next(v, it)) {
        const char *k = cg_json_iter_key(it), *why;
        size_t vlen;
        const char *val = cg_json_string(cg_json_iter_value(it), &vlen);
        if (val == NULL) return want;
        if ((why = check_label_key(k, strlen(k))) || (why = check_printable(val, vlen))) return why;
        r->labels[r->nlabels++] = (cg_snap_label_t){cg_xstrdup(k), cg_xstrdup(val)};
    }
    return NULL;
}

int cg_registration_decode(const char *body, size_t len, cg_registration_t *r, cg_buf_t *err)
{
    memset(r, 0, sizeof(*r));
    cg_buf_t perr = {0};
    cg_json_t *doc = cg_json_parse("registration", body, len, &perr);
    if (doc == NULL) {
        cg_buf_printf(err, "malformed JSON: %.*s",
                      (int)(perr.len && perr.base[perr.len - 1] == '\n' ? perr.len - 1 : perr.len),
                      perr.base ? perr.base : "");
        cg_buf_free(&perr);
        return CG_EINVAL;
    }
    const char *field = "", *bad = NULL;
    if (cg_json_type(doc) != CG_JSON_OBJECT) {
        cg_buf_printf(err,
                      "expected one JSON object with cluster, namespace, labels, address, admin");
        cg_json_free(doc);
        return CG_EINVAL;
    }
    for (void *it = cg_json_iter(doc); it && !bad; it = cg_json_next(doc, it)) {
        field = cg_json_iter_key(it);
        const cg_json_t *v = cg_json_iter_value(it);
        size_t i = 0;
        while (i < NFIELDS && strcmp(field, fields[i].name)) i++;
        if (i < NFIELDS) {
            size_t vlen;
            const char *s = cg_json_string(v, &vlen);
            if (s == NULL)
                bad = "expected a string";
            else if (!(bad = fields[i].check(s, vlen)))
                *field_of(r, i) = cg_xstrdup(s);
        } else if (!strcmp(field, "labels")) {
            bad = decode_labels(v, r);
        } else if (!strcmp(field, "mtls_port")) {
            int64_t p = cg_json_type(v) == CG_JSON_INT ? cg_json_int(v) : -1;
            if (p < 1 || p > 65535)
                bad = "expected a port number 1..65535";
            else
                r->mtls_port = (uint16_t)p;
        } else {
            bad = "unknown field (expected cluster, namespace, labels, address, admin, mtls_port)";
        }
    }
    for (size_t i = 0; i < NFIELDS && !bad; i++)
        if (fields[i].required && *field_of(r, i) == NULL)
            field = fields[i].name, bad = "missing required field";
    char fname[80];
    snprintf(fname, sizeof(fname), "%s", field);
    cg_json_free(doc);
    if (bad) {
        cg_buf_printf(err, "%s: %s", fname, bad);
        cg_registration_clear(r);
        return CG_EINVAL;
    }
    if (!r->namespace_) r->namespace_ = cg_xstrdup("default");
    return 0;
}

/* ---- the answer ---- */

int cg_registration_answer_encode(const cg_registration_answer_t *a, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, "id", a->id);
    cg_jw_ku64(&w, "heartbeat_ms", a->heartbeat_ms);
    cg_jw_ku64(&w, "ttl_ms", a->ttl_ms);
    cg_jw_end(&w);
    return w.failed ? CG_ENOMEM : 0;
}

int cg_registration_answer_decode(const char *body, size_t len, cg_registration_answer_t *out,
                                  cg_buf_t *err)
{
    memset(out, 0, sizeof(*out));
    cg_json_t *doc = cg_json_parse("registration answer", body, len, err);
    if (doc == NULL) return CG_EINVAL;
    cg_json_dec_t d = {.what = "registration answer", .errors = err};
    if (cg_json_type(doc) != CG_JSON_OBJECT) {
        cg_json_dec_fail(&d, "", "expected an object with id, heartbeat_ms, ttl_ms");
    } else {
        char *id = cg_json_dec_str(&d, doc, "id", 1);
        const char *why = id ? check_printable(id, strlen(id)) : NULL;
        if (why == NULL && id && strlen(id) >= sizeof(out->id)) why = "longer than 63 characters";
        if (why)
            cg_json_dec_fail(&d, "id", why);
        else if (id)
            memcpy(out->id, id, strlen(id) + 1);
        free(id);
        out->heartbeat_ms = cg_json_dec_u64(&d, doc, "heartbeat_ms", UINT64_MAX, 1000);
        if (!d.failed && (out->heartbeat_ms < CG_REGISTRATION_HEARTBEAT_MIN_MS ||
                          out->heartbeat_ms > CG_REGISTRATION_HEARTBEAT_MAX_MS))
            cg_json_dec_fail(&d, "heartbeat_ms", "expected 50..60000");
        out->ttl_ms = cg_json_dec_u64(&d, doc, "ttl_ms", UINT64_MAX, 0);
    }
    cg_json_free(doc);
    return d.failed ? CG_EINVAL : 0;
}
