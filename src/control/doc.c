/* Canonical JSON and readable YAML from the model's node trees. */
#include "control/doc.h"

#include "core/err.h"
#include "core/json.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* YAML 1.2 integers (decimal with sign, 0x, 0o) in JSON's decimal form. */
static void json_int(cg_jw_t *w, const char *s)
{
    const char *p = s;
    int neg = 0;
    if (*p == '+' || *p == '-') neg = *p++ == '-';
    int base = 10;
    if (p[0] == '0' && p[1] == 'x')
        base = 16, p += 2;
    else if (p[0] == '0' && p[1] == 'o')
        base = 8, p += 2;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(p, &end, base);
    char tmp[32];
    if (errno || *end || (neg && v > (unsigned long long)INT64_MAX + 1)) {
        /* out of range for 64 bits: keep the decimal digits (JSON allows any) */
        while (*p == '0' && p[1]) p++;
        cg_buf_t b = {0};
        cg_buf_printf(&b, "%s%s", neg ? "-" : "", p);
        cg_jw_raw(w, b.base, b.len);
        cg_buf_free(&b);
        return;
    }
    if (v == 0) neg = 0;
    cg_jw_raw(w, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%s%llu", neg ? "-" : "", v));
}

/* The shortest text that reads back as d, and still reads as a float. */
static void float_text(cg_jw_t *w, double d)
{
    char tmp[48];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    if (!strpbrk(tmp, ".eEn")) strcat(tmp, ".0");
    cg_jw_raw(w, tmp, strlen(tmp));
}

static void json_scalar(cg_jw_t *w, const cg_ynode_t *n)
{
    switch (n->stype) {
    case CG_YSCALAR_NULL: cg_jw_null(w); break;
    case CG_YSCALAR_BOOL: cg_jw_bool(w, (n->text[0] | 0x20) == 't'); break;
    case CG_YSCALAR_INT: json_int(w, n->text); break;
    case CG_YSCALAR_FLOAT: {
        const char *s = n->text;
        double d = strtod(s, NULL);
        if (strstr(s, "inf") || strstr(s, "Inf") || strstr(s, "INF") || !isfinite(d))
            cg_jw_strn(w, s,
                       strlen(s)); /* no JSON spelling: a string, which validation will refuse */
        else
            float_text(w, d);
        break;
    }
    default: cg_jw_strn(w, n->text, n->len); break;
    }
}

static void emit_json(const cg_ynode_t *n, cg_jw_t *w, size_t limit)
{
    if (w->b->len > limit) {
        w->overflow = 1;
        return;
    }
    if (n->kind == CG_YNODE_SCALAR) {
        json_scalar(w, n);
        return;
    }
    int map = n->kind == CG_YNODE_MAP;
    map ? cg_jw_obj(w) : cg_jw_arr(w);
    for (size_t i = 0; i < n->n && !w->overflow; i++) {
        if (map) {
            const cg_ynode_t *k = cg_ynode_key(n, i);
            /* complex keys never validate; keep the JSON well-formed */
            cg_jw_key(w, k->kind == CG_YNODE_SCALAR ? k->text : "");
            emit_json(cg_ynode_value(n, i), w, limit);
        } else {
            emit_json(n->items[i], w, limit);
        }
    }
    cg_jw_end(w);
}

/* Every failure of the writer (output past the limit, nesting past CG_JSON_MAX_DEPTH, no
 * memory) is CG_ELIMIT: the document cannot be written in canonical form. */
static int jw_result(const cg_jw_t *w)
{
    return w->overflow || w->failed ? CG_ELIMIT : 0;
}

int cg_control_doc_json(const cg_ynode_t *n, cg_buf_t *out)
{
    size_t limit = out->len + CG_CONTROL_DOC_MAX;
    cg_jw_t w = cg_jw(out);
    if (n == NULL)
        cg_jw_null(&w);
    else
        emit_json(n, &w, limit);
    return jw_result(&w);
}

/* Redaction levels: a Secret's root (R_ROOT), its stringData/data mapping (R_KEYS), its metadata
 * (R_META) and metadata.annotations (R_VALUES: every value redacted, as kubectl's
 * last-applied-configuration annotation holds the whole Secret, key included). */
enum { R_NONE, R_ROOT, R_KEYS, R_META, R_VALUES };

static int is_private_key(const char *k)
{
    return strcmp(k, "key") == 0 || strcmp(k, "tls.key") == 0;
}

static void emit_json_value(const cg_json_t *v, cg_jw_t *w, int redact)
{
    if (redact == R_VALUES && cg_json_type(v) != CG_JSON_OBJECT) {
        cg_jw_str(w, "<redacted>");
        return;
    }
    switch (cg_json_type(v)) {
    case CG_JSON_NULL: cg_jw_null(w); break;
    case CG_JSON_BOOL: cg_jw_bool(w, cg_json_true(v)); break;
    case CG_JSON_INT: cg_jw_i64(w, cg_json_int(v)); break;
    case CG_JSON_REAL: float_text(w, cg_json_real(v)); break;
    case CG_JSON_STRING: {
        size_t len;
        const char *s = cg_json_string(v, &len);
        cg_jw_strn(w, s, len);
        break;
    }
    case CG_JSON_ARRAY:
        cg_jw_arr(w);
        for (size_t i = 0; i < cg_json_len(v); i++) emit_json_value(cg_json_at(v, i), w, R_NONE);
        cg_jw_end(w);
        break;
    case CG_JSON_OBJECT:
        cg_jw_obj(w);
        for (void *it = cg_json_iter(v); it; it = cg_json_next(v, it)) {
            const char *k = cg_json_iter_key(it);
            cg_jw_key(w, k);
            int sub = R_NONE;
            if (redact == R_ROOT)
                sub = !strcmp(k, "stringData") || !strcmp(k, "data") ? R_KEYS
                      : !strcmp(k, "metadata")                       ? R_META
                                                                     : R_NONE;
            else if (redact == R_META && !strcmp(k, "annotations"))
                sub = R_VALUES;
            if ((redact == R_KEYS && is_private_key(k)) || redact == R_VALUES)
                cg_jw_str(w, "<redacted>");
            else
                emit_json_value(cg_json_iter_value(it), w, sub);
        }
        cg_jw_end(w);
        break;
    }
}

static int json_value(const cg_json_t *v, cg_buf_t *out, int redact)
{
    cg_jw_t w = cg_jw(out);
    if (v == NULL)
        cg_jw_null(&w);
    else
        emit_json_value(v, &w, redact);
    return jw_result(&w);
}

int cg_control_doc_json_value(const cg_json_t *v, cg_buf_t *out)
{
    return json_value(v, out, R_NONE);
}

int cg_control_doc_json_redacted(const cg_json_t *v, cg_buf_t *out)
{
    return json_value(v, out, R_ROOT);
}

/* ---- YAML ---- */

/* Can s be written as a plain scalar and still read back as the same string? */
static int plain_ok(const char *s, size_t len)
{
    static const char *const special[] = {"true", "false", "null", "yes", "no",
                                          "on",   "off",   "y",    "n",   "~"};
    if (len == 0 || strlen(s) != len) return 0;
    for (size_t i = 0; i < sizeof(special) / sizeof(special[0]); i++)
        if (strcasecmp(s, special[i]) == 0) return 0;
    char c0 = s[0];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '_' || c0 == '/')) return 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-' || c == '.' || c == '/' || c == ':'))
            return 0;
    }
    return s[len - 1] != ':';
}

/* A string as YAML: plain when it reads back as the same string, else double-quoted. */
static void yaml_str(cg_buf_t *b, const char *s, size_t len)
{
    if (plain_ok(s, len))
        cg_buf_append(b, s, len);
    else
        cg_buf_append_json_iov(b, cg_iov(s, len));
}

static void yaml_scalar(cg_buf_t *b, const cg_json_t *v)
{
    size_t len;
    const char *s = cg_json_string(v, &len);
    if (s) {
        yaml_str(b, s, len);
        return;
    }
    cg_jw_t w = cg_jw(b); /* every other scalar is written as in JSON */
    emit_json_value(v, &w, R_NONE);
}

static void indent(cg_buf_t *b, int level)
{
    for (int i = 0; i < level; i++) cg_buf_append(b, "  ", 2);
}

static int is_coll(const cg_json_t *v)
{
    return cg_json_type(v) == CG_JSON_OBJECT || cg_json_type(v) == CG_JSON_ARRAY;
}

static int emit_yaml(const cg_json_t *n, cg_buf_t *b, int level, int inline_first, size_t limit);

/* The value after "key:" or "- ": scalars and empty collections on the same line. */
static int emit_yaml_value(const cg_json_t *v, cg_buf_t *b, int level, size_t limit)
{
    if (!is_coll(v)) {
        cg_buf_append(b, " ", 1);
        yaml_scalar(b, v);
        cg_buf_append(b, "\n", 1);
        return 0;
    }
    if (cg_json_len(v) == 0) {
        cg_buf_append_str(b, cg_json_type(v) == CG_JSON_OBJECT ? " {}\n" : " []\n");
        return 0;
    }
    cg_buf_append(b, "\n", 1);
    return emit_yaml(v, b, level, 0, limit);
}

/* Block collection at `level`; inline_first: the first line continues a "- " already written. */
static int emit_yaml(const cg_json_t *n, cg_buf_t *b, int level, int inline_first, size_t limit)
{
    if (b->len > limit) return CG_ELIMIT;
    if (cg_json_type(n) == CG_JSON_OBJECT) {
        int first = 1;
        for (void *it = cg_json_iter(n); it; it = cg_json_next(n, it), first = 0) {
            if (!(inline_first && first)) indent(b, level);
            const char *k = cg_json_iter_key(it);
            const cg_json_t *v = cg_json_iter_value(it);
            yaml_str(b, k, strlen(k));
            cg_buf_append(b, ":", 1);
            /* lists under a key sit at the key's indentation, as kubectl writes them */
            int sub = cg_json_type(v) == CG_JSON_ARRAY ? level : level + 1;
            if (emit_yaml_value(v, b, sub, limit)) return CG_ELIMIT;
        }
        return 0;
    }
    for (size_t i = 0; i < cg_json_len(n); i++) {
        if (!(inline_first && i == 0)) indent(b, level);
        const cg_json_t *v = cg_json_at(n, i);
        cg_buf_append(b, "-", 1);
        if (cg_json_type(v) == CG_JSON_OBJECT && cg_json_len(v)) {
            cg_buf_append(b, " ", 1);
            if (emit_yaml(v, b, level + 1, 1, limit)) return CG_ELIMIT;
        } else if (emit_yaml_value(v, b, level + 1, limit)) {
            return CG_ELIMIT;
        }
    }
    return 0;
}

int cg_control_doc_yaml(const cg_json_t *v, cg_buf_t *out)
{
    size_t limit = out->len + CG_CONTROL_DOC_MAX;
    if (v == NULL) return cg_buf_append_str(out, "null\n");
    if (!is_coll(v)) {
        yaml_scalar(out, v);
        return cg_buf_append(out, "\n", 1);
    }
    if (cg_json_len(v) == 0)
        return cg_buf_append_str(out, cg_json_type(v) == CG_JSON_OBJECT ? "{}\n" : "[]\n");
    return emit_yaml(v, out, 0, 0, limit);
}

const char *cg_control_doc_str(const cg_ynode_t *map, const char *key)
{
    const cg_ynode_t *v = cg_ynode_get(map, key);
    return v && v->kind == CG_YNODE_SCALAR && v->stype == CG_YSCALAR_STRING ? v->text : NULL;
}

/* ---- GET /v1/resources answers ---- */

enum { I_KIND, I_NAME, I_NAMESPACE, I_CLUSTER, I_VERSION, I_UPDATED, I_VALID, I_RESOURCE, I_N };
static const char *const item_keys[I_N] = {"kind",    "name",    "namespace", "cluster",
                                           "version", "updated", "valid",     "resource"};
enum { L_KIND, L_REVISION, L_ITEMS, L_N };
static const char *const list_keys[L_N] = {"kind", "revision", "items"};

void cg_control_doc_item_write(cg_jw_t *w, const cg_control_doc_item_t *it)
{
    const char *const strs[] = {it->kind, it->name, it->namespace_, it->cluster};
    cg_jw_obj(w);
    for (int k = I_KIND; k <= I_CLUSTER; k++) cg_jw_kstr(w, item_keys[k], strs[k] ? strs[k] : "");
    cg_jw_ku64(w, item_keys[I_VERSION], it->version);
    cg_jw_kstr(w, item_keys[I_UPDATED], it->updated);
    cg_jw_kbool(w, item_keys[I_VALID], it->valid);
    cg_jw_key(w, item_keys[I_RESOURCE]);
    cg_jw_raw(w, it->resource_json, strlen(it->resource_json));
    cg_jw_end(w);
}

void cg_control_doc_item_read(const cg_json_t *obj, cg_control_doc_item_t *out)
{
    const char **strs[] = {&out->kind, &out->name, &out->namespace_, &out->cluster};
    for (int k = I_KIND; k <= I_CLUSTER; k++)
        *strs[k] = cg_json_string(cg_json_get(obj, item_keys[k]), NULL);
    int64_t v = cg_json_int(cg_json_get(obj, item_keys[I_VERSION]));
    out->version = v > 0 ? (uint64_t)v : 0;
    out->updated = cg_json_string(cg_json_get(obj, item_keys[I_UPDATED]), NULL);
    out->valid = cg_json_true(cg_json_get(obj, item_keys[I_VALID]));
    out->resource_json = NULL;
    out->resource = cg_json_get(obj, item_keys[I_RESOURCE]);
}

void cg_control_doc_list_open(cg_jw_t *w, const char *kind, uint64_t revision)
{
    cg_jw_obj(w);
    cg_jw_kstr(w, list_keys[L_KIND], kind);
    cg_jw_ku64(w, list_keys[L_REVISION], revision);
    cg_jw_karr(w, list_keys[L_ITEMS]);
}

const cg_json_t *cg_control_doc_list_read(const cg_json_t *root, const char **kind)
{
    const cg_json_t *items = cg_json_get(root, list_keys[L_ITEMS]);
    *kind = cg_json_string(cg_json_get(root, list_keys[L_KIND]), NULL);
    return cg_json_type(items) == CG_JSON_ARRAY ? items : NULL;
}
