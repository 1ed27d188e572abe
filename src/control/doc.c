/* Canonical JSON and readable YAML from the model's node trees. */
#include "control/doc.h"

#include "core/err.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* YAML 1.2 integers (decimal with sign, 0x, 0o) in JSON's decimal form. */
static void json_int(cg_buf_t *b, const char *s)
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
    if (errno || *end || (neg && v > (unsigned long long)INT64_MAX + 1)) {
        /* out of range for 64 bits: keep the decimal digits (JSON allows any) */
        while (*p == '0' && p[1]) p++;
        cg_buf_printf(b, "%s%s", neg ? "-" : "", p);
        return;
    }
    if (v == 0) neg = 0;
    cg_buf_printf(b, "%s%llu", neg ? "-" : "", v);
}

static void json_float(cg_buf_t *b, const char *s)
{
    double d = strtod(s, NULL);
    if (strstr(s, "inf") || strstr(s, "Inf") || strstr(s, "INF") || !isfinite(d)) {
        cg_buf_append_json_iov(b, cg_iov(s, strlen(s))); /* no JSON spelling: a string, which validation will refuse */
        return;
    }
    char tmp[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    cg_buf_append_str(b, tmp);
    if (!strpbrk(tmp, ".eEn")) cg_buf_append_str(b, ".0"); /* stays a float when read back */
}

static void json_scalar(cg_buf_t *b, const cg_ynode_t *n)
{
    switch (n->stype) {
    case CG_YSCALAR_NULL: cg_buf_append_str(b, "null"); break;
    case CG_YSCALAR_BOOL:
        cg_buf_append_str(b, (n->text[0] | 0x20) == 't' ? "true" : "false");
        break;
    case CG_YSCALAR_INT: json_int(b, n->text); break;
    case CG_YSCALAR_FLOAT: json_float(b, n->text); break;
    default: cg_buf_append_json_iov(b, cg_iov(n->text, n->len)); break;
    }
}

static int emit_json(const cg_ynode_t *n, cg_buf_t *b, size_t limit)
{
    if (b->len > limit) return CG_ELIMIT;
    if (n->kind == CG_YNODE_SCALAR) {
        json_scalar(b, n);
        return 0;
    }
    int map = n->kind == CG_YNODE_MAP;
    cg_buf_append(b, map ? "{" : "[", 1);
    for (size_t i = 0; i < n->n; i++) {
        if (i) cg_buf_append(b, ",", 1);
        if (map) {
            const cg_ynode_t *k = cg_ynode_key(n, i);
            if (k->kind == CG_YNODE_SCALAR)
                cg_buf_append_json_iov(b, cg_iov(k->text, k->len));
            else
                cg_buf_append_json_iov(b, cg_iov("", 0)); /* complex keys never validate; keep the JSON well-formed */
            cg_buf_append(b, ":", 1);
            if (emit_json(cg_ynode_value(n, i), b, limit)) return CG_ELIMIT;
        } else if (emit_json(n->items[i], b, limit)) {
            return CG_ELIMIT;
        }
    }
    cg_buf_append(b, map ? "}" : "]", 1);
    return 0;
}

int cg_control_doc_json(const cg_ynode_t *n, cg_buf_t *out)
{
    size_t limit = out->len + CG_CONTROL_DOC_MAX;
    if (n == NULL) return cg_buf_append_str(out, "null");
    return emit_json(n, out, limit);
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

static void yaml_scalar(cg_buf_t *b, const cg_ynode_t *n)
{
    if (n->stype == CG_YSCALAR_STRING) {
        if (plain_ok(n->text, n->len))
            cg_buf_append(b, n->text, n->len);
        else
            cg_buf_append_json_iov(b, cg_iov(n->text, n->len));
    } else {
        json_scalar(b, n);
    }
}

static void indent(cg_buf_t *b, int level)
{
    for (int i = 0; i < level; i++) cg_buf_append(b, "  ", 2);
}

static int is_empty_coll(const cg_ynode_t *n)
{
    return n->kind != CG_YNODE_SCALAR && n->n == 0;
}

static int emit_yaml(const cg_ynode_t *n, cg_buf_t *b, int level, int inline_first, size_t limit);

/* The value after "key:" or "- ": scalars and empty collections on the same line. */
static int emit_yaml_value(const cg_ynode_t *v, cg_buf_t *b, int level, size_t limit)
{
    if (v->kind == CG_YNODE_SCALAR) {
        cg_buf_append(b, " ", 1);
        yaml_scalar(b, v);
        cg_buf_append(b, "\n", 1);
        return 0;
    }
    if (is_empty_coll(v)) {
        cg_buf_append_str(b, v->kind == CG_YNODE_MAP ? " {}\n" : " []\n");
        return 0;
    }
    cg_buf_append(b, "\n", 1);
    return emit_yaml(v, b, level, 0, limit);
}

/* Block collection at `level`; inline_first: the first line continues a "- " already written. */
static int emit_yaml(const cg_ynode_t *n, cg_buf_t *b, int level, int inline_first, size_t limit)
{
    if (b->len > limit) return CG_ELIMIT;
    for (size_t i = 0; i < n->n; i++) {
        if (!(inline_first && i == 0)) indent(b, level);
        if (n->kind == CG_YNODE_MAP) {
            const cg_ynode_t *k = cg_ynode_key(n, i), *v = cg_ynode_value(n, i);
            if (k->kind == CG_YNODE_SCALAR && plain_ok(k->text, k->len))
                cg_buf_append(b, k->text, k->len);
            else if (k->kind == CG_YNODE_SCALAR)
                cg_buf_append_json_iov(b, cg_iov(k->text, k->len));
            else
                cg_buf_append_str(b, "\"\"");
            cg_buf_append(b, ":", 1);
            /* lists under a key sit at the key's indentation, as kubectl writes them */
            int sub = v->kind == CG_YNODE_SEQ ? level : level + 1;
            if (emit_yaml_value(v, b, sub, limit)) return CG_ELIMIT;
        } else {
            const cg_ynode_t *v = n->items[i];
            cg_buf_append(b, "-", 1);
            if (v->kind == CG_YNODE_MAP && v->n) {
                cg_buf_append(b, " ", 1);
                if (emit_yaml(v, b, level + 1, 1, limit)) return CG_ELIMIT;
            } else if (emit_yaml_value(v, b, level + 1, limit)) {
                return CG_ELIMIT;
            }
        }
    }
    return 0;
}

int cg_control_doc_yaml(const cg_ynode_t *n, cg_buf_t *out)
{
    size_t limit = out->len + CG_CONTROL_DOC_MAX;
    if (n == NULL) return cg_buf_append_str(out, "null\n");
    if (n->kind == CG_YNODE_SCALAR) {
        yaml_scalar(out, n);
        return cg_buf_append(out, "\n", 1);
    }
    if (is_empty_coll(n)) return cg_buf_append_str(out, n->kind == CG_YNODE_MAP ? "{}\n" : "[]\n");
    return emit_yaml(n, out, 0, 0, limit);
}

const char *cg_control_doc_str(const cg_ynode_t *map, const char *key)
{
    const cg_ynode_t *v = cg_ynode_get(map, key);
    return v && v->kind == CG_YNODE_SCALAR && v->stype == CG_YSCALAR_STRING ? v->text : NULL;
}

int64_t cg_control_doc_int(const cg_ynode_t *map, const char *key, int64_t def)
{
    const cg_ynode_t *v = cg_ynode_get(map, key);
    if (!v || v->kind != CG_YNODE_SCALAR || v->stype != CG_YSCALAR_INT) return def;
    return strtoll(v->text, NULL, 0);
}
