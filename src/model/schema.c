/* The table-driven decoder: walks a node tree with a cg_model_schema_t, stores into C structs,
 * applies defaults and reports every problem with file:line:col and the field path. */
#include "model/schema.h"

#include "core/duration.h"
#include "core/err.h"
#include "core/list.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUDGET 1000000 /* nodes visited per document, aliases included */

void cg_model_ctx_init(cg_model_ctx_t *ctx, const char *file, cg_buf_t *errors)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->file = file;
    ctx->errors = errors;
    ctx->budget = BUDGET;
}

size_t cg_model_path_push(cg_model_ctx_t *ctx, const char *fmt, ...)
{
    size_t saved = ctx->pathlen;
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    const char *s = (ctx->pathlen == 0 && tmp[0] == '.') ? tmp + 1 : tmp;
    size_t n = strlen(s);
    if (ctx->pathlen + n >= sizeof(ctx->path)) n = sizeof(ctx->path) - 1 - ctx->pathlen;
    memcpy(ctx->path + ctx->pathlen, s, n);
    ctx->pathlen += n;
    ctx->path[ctx->pathlen] = '\0';
    return saved;
}

void cg_model_errorf(cg_model_ctx_t *ctx, const cg_ynode_t *node, const char *sub, const char *fmt,
                     ...)
{
    int line = node ? node->line : 1, col = node ? node->col : 1;
    if (ctx->nerrors++ >= CG_MODEL_MAX_ERRORS) {
        if (ctx->nerrors == CG_MODEL_MAX_ERRORS + 1)
            cg_buf_printf(ctx->errors,
                          "%s:%d:%d: too many errors; the rest of this document is not checked\n",
                          ctx->file, line, col);
        return;
    }
    size_t saved = ctx->pathlen;
    if (sub != NULL && sub[0] != '\0')
        cg_model_path_push(ctx, (sub[0] == '.' || sub[0] == '[') ? "%s" : ".%s", sub);
    cg_buf_printf(ctx->errors, "%s:%d:%d: %s%s", ctx->file, line, col, ctx->path,
                  ctx->pathlen ? ": " : "");
    va_list ap;
    va_start(ap, fmt);
    cg_buf_vprintf(ctx->errors, fmt, ap);
    va_end(ap);
    cg_buf_append_str(ctx->errors, "\n");
    cg_model_path_pop(ctx, saved);
}

const cg_model_field_t *cg_model_schema_field(const cg_model_schema_t *schema, const char *name)
{
    for (size_t i = 0; i < schema->nfields; i++)
        if (strcmp(schema->fields[i].name, name) == 0) return &schema->fields[i];
    return NULL;
}

/* ---- scalar checks ---- */

const char *cg_model_check_ip(const char *s)
{
    unsigned char b[16];
    if (inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1) return NULL;
    return "expected an IP address literal";
}

const char *cg_model_check_hostname(const char *s)
{
    static const char *const why = "expected a DNS name, \"*.\" followed by a DNS name, or \"*\"";
    if (strcmp(s, "*") == 0) return NULL;
    if (s[0] == '*') {
        if (s[1] != '.') return why;
        s += 2;
    }
    size_t label = 0, total = 0;
    if (*s == '\0') return why;
    for (; *s; s++, total++) {
        unsigned char c = (unsigned char)*s;
        if (c == '.') {
            if (label == 0) return why;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_') {
            if (++label > 63) return "expected a DNS name (a label is longer than 63 characters)";
        } else {
            return why;
        }
    }
    if (label == 0 || total > 253) return why;
    return NULL;
}

const char *cg_model_check_regex(const char *s)
{
    static __thread char msg[200];
    regex_t re;
    int rc = regcomp(&re, s, REG_EXTENDED | REG_NOSUB);
    if (rc == 0) {
        regfree(&re);
        return NULL;
    }
    char why[128];
    regerror(rc, &re, why, sizeof(why));
    regfree(&re);
    snprintf(msg, sizeof(msg), "invalid regular expression: %s", why);
    return msg;
}

int cg_model_parse_duration(const char *s, int64_t *ms)
{
    uint64_t v;
    if (cg_duration_parse_ms(s, strlen(s), 0, &v)) return CG_EINVAL;
    *ms = (int64_t)v;
    return 0;
}

/* ---- decoding ---- */

#define AT(obj, off, type) ((type *)((char *)(obj) + (off)))

static int spend(cg_model_ctx_t *ctx, const cg_ynode_t *n)
{
    if (ctx->budget == 0) return -1;
    if (--ctx->budget == 0) {
        cg_model_errorf(ctx, n, NULL, "document too large (aliases expand to too many nodes)");
        return -1;
    }
    return 0;
}

/* Compares ignoring case, '_' and '-': catches redirect_code for redirectCode. */
static int loosely_equal(const char *a, const char *b)
{
    for (;;) {
        while (*a == '_' || *a == '-') a++;
        while (*b == '_' || *b == '-') b++;
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return 0;
        if (*a == '\0') return 1;
        a++, b++;
    }
}

static int is_string(const cg_ynode_t *n)
{
    return n->kind == CG_YNODE_SCALAR && n->stype == CG_YSCALAR_STRING;
}

static void wrong_type(cg_model_ctx_t *ctx, const cg_ynode_t *v, const char *want)
{
    if (v->kind == CG_YNODE_SCALAR && v->stype != CG_YSCALAR_STRING &&
        v->stype != CG_YSCALAR_NULL && strcmp(want, "a string") == 0)
        cg_model_errorf(ctx, v, NULL, "expected a string, got %s (quote it: \"%s\")",
                        cg_ynode_describe(v), v->text);
    else
        cg_model_errorf(ctx, v, NULL, "expected %s, got %s", want, cg_ynode_describe(v));
}

static void list_enums(cg_buf_t *b, const char *const *enums)
{
    for (size_t i = 0; enums[i]; i++) cg_buf_printf(b, "%s%s", i ? ", " : "", enums[i]);
}

/* Checks a string against the field's rules; returns a malloc'd (possibly lowercased) copy or
 * NULL after reporting. */
static char *take_string(cg_model_ctx_t *ctx, const cg_model_field_t *f, const cg_ynode_t *v)
{
    if (!is_string(v)) {
        wrong_type(ctx, v, "a string");
        return NULL;
    }
    if (strlen(v->text) != v->len) {
        cg_model_errorf(ctx, v, NULL, "string contains a NUL character");
        return NULL;
    }
    if ((f->flags & CG_MF_NONEMPTY) && v->len == 0) {
        cg_model_errorf(ctx, v, NULL, "must not be empty");
        return NULL;
    }
    char *s = cg_xstrdup(v->text);
    if (f->flags & CG_MF_LOWER)
        for (char *p = s; *p; p++) *p = (char)tolower((unsigned char)*p);
    if (f->enums != NULL) {
        size_t i;
        for (i = 0; f->enums[i] && strcmp(f->enums[i], s) != 0; i++)
            ;
        if (f->enums[i] == NULL) {
            cg_buf_t b = {0};
            list_enums(&b, f->enums);
            cg_buf_append(&b, "", 1);
            cg_model_errorf(ctx, v, NULL, "expected one of %s, got \"%s\"", cg_buf_data(&b), s);
            cg_buf_free(&b);
            free(s);
            return NULL;
        }
    }
    const char *why = f->check ? f->check(s) : NULL;
    if (why != NULL) {
        cg_model_errorf(ctx, v, NULL, "%s, got \"%s\"", why, v->text);
        free(s);
        return NULL;
    }
    return s;
}

static int parse_int(const cg_ynode_t *v, int64_t *out)
{
    const char *s = v->text;
    int neg = 0, base = 10;
    if (*s == '-' || *s == '+') neg = (*s++ == '-');
    if (s[0] == '0' && s[1] == 'x')
        base = 16, s += 2;
    else if (s[0] == '0' && s[1] == 'o')
        base = 8, s += 2;
    errno = 0;
    char *end;
    unsigned long long u = strtoull(s, &end, base);
    if (errno != 0 || *end != '\0' || end == s) return -1;
    if (u > (unsigned long long)INT64_MAX) return -1;
    *out = neg ? -(int64_t)u : (int64_t)u;
    return 0;
}

/* A bound as it is written: "8080", or for durations "24h", "1s", "250ms". */
static void fmt_bound(char *out, size_t n, int64_t x, int duration)
{
    if (!duration)
        snprintf(out, n, "%lld", (long long)x);
    else if (x != 0 && x % 3600000 == 0)
        snprintf(out, n, "%lldh", (long long)(x / 3600000));
    else if (x != 0 && x % 60000 == 0)
        snprintf(out, n, "%lldm", (long long)(x / 60000));
    else if (x != 0 && x % 1000 == 0)
        snprintf(out, n, "%llds", (long long)(x / 1000));
    else
        snprintf(out, n, "%lldms", (long long)x);
}

static int check_int_bounds(cg_model_ctx_t *ctx, const cg_model_field_t *f, const cg_ynode_t *v,
                            int64_t x, int duration)
{
    if ((f->flags & CG_MF_BOUNDS) && (x < f->min || x > f->max)) {
        char lo[32], hi[32];
        fmt_bound(lo, sizeof(lo), f->min, duration);
        fmt_bound(hi, sizeof(hi), f->max, duration);
        if (f->max == INT64_MAX)
            cg_model_errorf(ctx, v, NULL, "must be at least %s, got %s", lo, v->text);
        else
            cg_model_errorf(ctx, v, NULL, "must be between %s and %s, got %s", lo, hi, v->text);
        return -1;
    }
    if ((f->flags & CG_MF_EXCL) && x == f->excl) {
        cg_model_errorf(ctx, v, NULL, "must not be %lld (reserved)", (long long)f->excl);
        return -1;
    }
    return 0;
}

static int decode_map_entries(cg_model_ctx_t *ctx, const cg_ynode_t *v, const char *what);

static int decode_value(cg_model_ctx_t *ctx, const cg_model_field_t *f, const cg_ynode_t *v,
                        void *obj)
{
    int before = ctx->nerrors;
    int is_null = v->kind == CG_YNODE_SCALAR && v->stype == CG_YSCALAR_NULL;
    switch (f->type) {
    case CG_MT_STRING: {
        char *s = take_string(ctx, f, v);
        if (s) *AT(obj, f->off, char *) = s;
        break;
    }
    case CG_MT_INT: {
        int64_t x;
        if (v->kind != CG_YNODE_SCALAR || v->stype != CG_YSCALAR_INT) {
            wrong_type(ctx, v, "an integer");
        } else if (parse_int(v, &x) != 0) {
            cg_model_errorf(ctx, v, NULL, "integer out of range: %s", v->text);
        } else if (check_int_bounds(ctx, f, v, x, 0) == 0) {
            *AT(obj, f->off, int64_t) = x;
        }
        break;
    }
    case CG_MT_NUMBER: {
        if (v->kind != CG_YNODE_SCALAR ||
            (v->stype != CG_YSCALAR_INT && v->stype != CG_YSCALAR_FLOAT)) {
            wrong_type(ctx, v, "a number");
            break;
        }
        double x = strtod(v->text, NULL);
        if (!isfinite(x)) {
            cg_model_errorf(ctx, v, NULL, "expected a finite number, got %s", v->text);
        } else if ((f->flags & CG_MF_BOUNDS) && (x < f->fmin || x > f->fmax)) {
            cg_model_errorf(ctx, v, NULL, "must be between %g and %g, got %s", f->fmin, f->fmax,
                            v->text);
        } else {
            *AT(obj, f->off, double) = x;
        }
        break;
    }
    case CG_MT_BOOL:
        if (v->kind != CG_YNODE_SCALAR || v->stype != CG_YSCALAR_BOOL)
            wrong_type(ctx, v, "a boolean (true or false)");
        else
            *AT(obj, f->off, int) = (v->text[0] == 't' || v->text[0] == 'T');
        break;
    case CG_MT_DURATION: {
        int64_t ms;
        if (v->kind != CG_YNODE_SCALAR ||
            (v->stype != CG_YSCALAR_STRING && v->stype != CG_YSCALAR_INT)) {
            wrong_type(ctx, v, "a duration such as \"250ms\", \"1s\" or \"2m\"");
        } else if (cg_model_parse_duration(v->text, &ms) != 0) {
            if (v->stype == CG_YSCALAR_INT)
                cg_model_errorf(ctx, v, NULL,
                                "a duration needs a unit (ms, s, m, h), e.g. \"%sms\" or \"%ss\"",
                                v->text, v->text);
            else
                cg_model_errorf(
                    ctx, v, NULL,
                    "expected a duration such as \"250ms\", \"1.5s\", \"2m\" or \"1h\", got \"%s\"",
                    v->text);
        } else if (check_int_bounds(ctx, f, v, ms, 1) == 0) {
            *AT(obj, f->off, int64_t) = ms;
        }
        break;
    }
    case CG_MT_STRUCT: cg_model_decode(ctx, f->sub, v, AT(obj, f->off, void)); break;
    case CG_MT_OBJECT: {
        void *sub = cg_xcalloc(1, f->sub->size);
        *AT(obj, f->off, void *) = sub;
        cg_model_decode(ctx, f->sub, v, sub);
        break;
    }
    case CG_MT_LIST:
    case CG_MT_STRLIST: {
        if (is_null) break;
        if (v->kind != CG_YNODE_SEQ) {
            wrong_type(ctx, v, "a list");
            break;
        }
        size_t esz = f->type == CG_MT_LIST ? f->sub->size : sizeof(char *);
        char *arr = cg_xcalloc(v->n ? v->n : 1, esz);
        *AT(obj, f->off, void *) = arr;
        *AT(obj, f->aux, size_t) = v->n;
        for (size_t i = 0; i < v->n; i++) {
            size_t saved = cg_model_path_push(ctx, "[%zu]", i);
            const cg_ynode_t *item = v->items[i];
            if (f->type == CG_MT_LIST) {
                cg_model_decode(ctx, f->sub, item, arr + i * esz);
            } else if (spend(ctx, item) == 0) {
                ((char **)arr)[i] = take_string(ctx, f, item);
            }
            cg_model_path_pop(ctx, saved);
        }
        break;
    }
    case CG_MT_MAP:
    case CG_MT_OBJMAP: {
        if (is_null) break;
        if (decode_map_entries(ctx, v, "a mapping") != 0) break;
        size_t esz = f->type == CG_MT_MAP ? sizeof(cg_model_kv_t) : f->elem_size;
        char *arr = cg_xcalloc(v->n ? v->n : 1, esz);
        *AT(obj, f->off, void *) = arr;
        *AT(obj, f->aux, size_t) = v->n;
        for (size_t i = 0; i < v->n; i++) {
            const cg_ynode_t *k = cg_ynode_key(v, i), *val = cg_ynode_value(v, i);
            char *elem = arr + i * esz;
            size_t saved = cg_model_path_push(ctx, ".%s", k->text);
            const char *why = f->keycheck ? f->keycheck(k->text) : NULL;
            if (why != NULL) cg_model_errorf(ctx, k, NULL, "%s", why);
            *(char **)elem = cg_xstrdup(k->text);
            if (f->type == CG_MT_MAP) {
                if (spend(ctx, val) == 0) {
                    cg_model_field_t vf = *f;
                    vf.flags &= ~(unsigned)CG_MF_NONEMPTY;
                    ((cg_model_kv_t *)elem)->value = take_string(ctx, &vf, val);
                }
            } else {
                cg_model_decode(ctx, f->sub, val, elem + f->val_off);
            }
            cg_model_path_pop(ctx, saved);
        }
        break;
    }
    case CG_MT_UNSUPPORTED:
        cg_model_errorf(ctx, v, NULL, "%s", f->doc ? f->doc : "not supported by crossgate");
        break;
    }
    if (ctx->nerrors != before) return -1;
    if ((f->flags & CG_MF_NONEMPTY) &&
        (f->type == CG_MT_LIST || f->type == CG_MT_STRLIST || f->type == CG_MT_MAP ||
         f->type == CG_MT_OBJMAP) &&
        *AT(obj, f->aux, size_t) == 0) {
        cg_model_errorf(ctx, v, NULL, "must have at least one entry");
        return -1;
    }
    return 0;
}

/* A mapping's keys must be distinct scalars. */
static int decode_map_entries(cg_model_ctx_t *ctx, const cg_ynode_t *v, const char *what)
{
    if (v->kind != CG_YNODE_MAP) {
        wrong_type(ctx, v, what);
        return -1;
    }
    int bad = 0;
    for (size_t i = 0; i < v->n; i++) {
        const cg_ynode_t *k = cg_ynode_key(v, i);
        if (k->kind != CG_YNODE_SCALAR || k->stype == CG_YSCALAR_NULL) {
            cg_model_errorf(ctx, k, NULL, "keys must be strings, got %s", cg_ynode_describe(k));
            bad = 1;
            continue;
        }
        for (size_t j = 0; j < i; j++) {
            const cg_ynode_t *o = cg_ynode_key(v, j);
            if (o->kind == CG_YNODE_SCALAR && strcmp(o->text, k->text) == 0) {
                cg_model_errorf(ctx, k, k->text, "duplicate key (first at line %d)", o->line);
                bad = 1;
                break;
            }
        }
    }
    return bad ? -1 : 0;
}

static void apply_default(const cg_model_field_t *f, void *obj)
{
    switch (f->type) {
    case CG_MT_STRING: *AT(obj, f->off, char *) = f->def_s ? cg_xstrdup(f->def_s) : NULL; break;
    case CG_MT_INT:
    case CG_MT_DURATION: *AT(obj, f->off, int64_t) = f->def_i; break;
    case CG_MT_NUMBER: *AT(obj, f->off, double) = f->def_f; break;
    case CG_MT_BOOL: *AT(obj, f->off, int) = f->def_i != 0; break;
    default: break;
    }
}

int cg_model_decode(cg_model_ctx_t *ctx, const cg_model_schema_t *schema, const cg_ynode_t *node,
                    void *obj)
{
    int before = ctx->nerrors;
    uint64_t seen = 0;
    const cg_ynode_t *where = node;
    /* a null value (`field:` with nothing) stands for an empty mapping */
    int empty = node == NULL || (node->kind == CG_YNODE_SCALAR && node->stype == CG_YSCALAR_NULL);
    if (!empty) {
        if (spend(ctx, node) != 0) return ctx->nerrors - before;
        if (decode_map_entries(ctx, node, "a mapping") != 0) return ctx->nerrors - before;
        if (schema->has_pos)
            *AT(obj, schema->pos_off, cg_model_pos_t) =
                (cg_model_pos_t){ctx->file, node->line, node->col};
        for (size_t i = 0; i < node->n; i++) {
            const cg_ynode_t *k = cg_ynode_key(node, i), *v = cg_ynode_value(node, i);
            const cg_model_field_t *f = cg_model_schema_field(schema, k->text);
            if (f == NULL) {
                const char *near = NULL;
                for (size_t j = 0; j < schema->nfields && !near; j++)
                    if (loosely_equal(schema->fields[j].name, k->text))
                        near = schema->fields[j].name;
                if (near)
                    cg_model_errorf(ctx, k, k->text, "unknown field (did you mean \"%s\"?)", near);
                else
                    cg_model_errorf(ctx, k, k->text, "unknown field");
                continue;
            }
            seen |= (uint64_t)1 << (f - schema->fields);
            size_t saved = cg_model_path_push(ctx, ".%s", f->name);
            if (spend(ctx, v) == 0 && decode_value(ctx, f, v, obj) == 0 && (f->flags & CG_MF_HAS))
                *AT(obj, f->aux, int) = 1;
            cg_model_path_pop(ctx, saved);
        }
    } else if (node != NULL && schema->has_pos) {
        *AT(obj, schema->pos_off, cg_model_pos_t) =
            (cg_model_pos_t){ctx->file, node->line, node->col};
    }
    for (size_t i = 0; i < schema->nfields; i++) {
        const cg_model_field_t *f = &schema->fields[i];
        if (seen & ((uint64_t)1 << i)) continue;
        if (f->flags & CG_MF_REQUIRED)
            cg_model_errorf(ctx, where, f->name, "missing required field");
        else if (f->flags & CG_MF_DEFAULT)
            apply_default(f, obj);
    }
    for (size_t i = 0; i < schema->noneofs; i++) {
        const cg_model_oneof_t *o = &schema->oneofs[i];
        int count = 0;
        for (size_t j = 0; j < CG_ARRAY_SIZE(o->names) && o->names[j]; j++) {
            const cg_model_field_t *f = cg_model_schema_field(schema, o->names[j]);
            if (f && (seen & ((uint64_t)1 << (f - schema->fields)))) count++;
        }
        if (count == 1 || (count == 0 && !o->exactly)) continue;
        cg_buf_t b = {0};
        for (size_t j = 0; j < CG_ARRAY_SIZE(o->names) && o->names[j]; j++)
            cg_buf_printf(&b, "%s%s", j ? ", " : "", o->names[j]);
        cg_buf_append(&b, "", 1);
        cg_model_errorf(ctx, where, NULL, "expected %s of %s",
                        o->exactly ? "exactly one" : "at most one", cg_buf_data(&b));
        cg_buf_free(&b);
    }
    if (ctx->nerrors == before && schema->check != NULL) schema->check(ctx, node, obj);
    return ctx->nerrors - before;
}

void cg_model_schema_free(const cg_model_schema_t *schema, void *obj)
{
    if (obj == NULL) return;
    for (size_t i = 0; i < schema->nfields; i++) {
        const cg_model_field_t *f = &schema->fields[i];
        switch (f->type) {
        case CG_MT_STRING:
            free(*AT(obj, f->off, char *));
            *AT(obj, f->off, char *) = NULL;
            break;
        case CG_MT_STRUCT: cg_model_schema_free(f->sub, AT(obj, f->off, void)); break;
        case CG_MT_OBJECT: {
            void *sub = *AT(obj, f->off, void *);
            cg_model_schema_free(f->sub, sub);
            free(sub);
            *AT(obj, f->off, void *) = NULL;
            break;
        }
        case CG_MT_LIST:
        case CG_MT_STRLIST:
        case CG_MT_MAP:
        case CG_MT_OBJMAP: {
            char *arr = *AT(obj, f->off, char *);
            size_t n = *AT(obj, f->aux, size_t);
            for (size_t j = 0; arr && j < n; j++) {
                if (f->type == CG_MT_LIST) {
                    cg_model_schema_free(f->sub, arr + j * f->sub->size);
                } else if (f->type == CG_MT_STRLIST) {
                    free(((char **)arr)[j]);
                } else if (f->type == CG_MT_MAP) {
                    free(((cg_model_kv_t *)arr)[j].key);
                    free(((cg_model_kv_t *)arr)[j].value);
                } else {
                    free(*(char **)(arr + j * f->elem_size));
                    cg_model_schema_free(f->sub, arr + j * f->elem_size + f->val_off);
                }
            }
            free(arr);
            *AT(obj, f->off, char *) = NULL;
            *AT(obj, f->aux, size_t) = 0;
            break;
        }
        default: break;
        }
    }
}
