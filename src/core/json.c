/* The JSON writer and the reader over Jansson (json.h says why Jansson). */
#include "core/json.h"

#include "core/err.h"
#include "core/list.h"

#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

/* ---- writer ---- */

static void put(cg_jw_t *w, const char *p, size_t n)
{
    if (cg_buf_append(w->b, p, n)) w->failed = 1;
}

static void put_str(cg_jw_t *w, const char *s)
{
    if (cg_buf_append_json_str(w->b, s)) w->failed = 1;
}

/* Before any value or key: the comma that separates it from the previous member. */
static void sep(cg_jw_t *w)
{
    if (w->after_key) {
        w->after_key = 0;
        return;
    }
    if (w->depth == 0) return;
    if (w->has[w->depth - 1]) put(w, ",", 1);
    w->has[w->depth - 1] = 1;
}

static void open(cg_jw_t *w, char c)
{
    sep(w);
    if (w->depth == CG_JSON_MAX_DEPTH) {
        w->overflow = 1;
        return;
    }
    put(w, &c, 1);
    w->array[w->depth] = c == '[';
    w->has[w->depth++] = 0;
}

void cg_jw_obj(cg_jw_t *w)
{
    open(w, '{');
}

void cg_jw_arr(cg_jw_t *w)
{
    open(w, '[');
}

void cg_jw_end(cg_jw_t *w)
{
    if (w->overflow || w->depth == 0) return;
    w->depth--;
    put(w, w->array[w->depth] ? "]" : "}", 1);
}

void cg_jw_key(cg_jw_t *w, const char *key)
{
    sep(w);
    put_str(w, key);
    put(w, ":", 1);
    w->after_key = 1;
}

void cg_jw_str(cg_jw_t *w, const char *s)
{
    sep(w);
    put_str(w, s);
}

void cg_jw_strn(cg_jw_t *w, const char *s, size_t n)
{
    sep(w);
    if (cg_buf_append_json_iov(w->b, (cg_iov_t){(char *)s, n})) w->failed = 1;
}

void cg_jw_u64(cg_jw_t *w, uint64_t v)
{
    sep(w);
    if (cg_buf_printf(w->b, "%" PRIu64, v)) w->failed = 1;
}

void cg_jw_i64(cg_jw_t *w, int64_t v)
{
    sep(w);
    if (cg_buf_printf(w->b, "%" PRId64, v)) w->failed = 1;
}

void cg_jw_double(cg_jw_t *w, double v, int decimals)
{
    sep(w);
    if (!isfinite(v))
        put(w, "null", 4);
    else if (cg_buf_printf(w->b, "%.*f", decimals, v))
        w->failed = 1;
}

void cg_jw_bool(cg_jw_t *w, int v)
{
    sep(w);
    put(w, v ? "true" : "false", v ? 4 : 5);
}

void cg_jw_null(cg_jw_t *w)
{
    sep(w);
    put(w, "null", 4);
}

void cg_jw_break(cg_jw_t *w, const char *space)
{
    if (w->depth == 0 || w->after_key) return; /* between a key and its value: no break */
    if (w->has[w->depth - 1]) put(w, ",", 1);
    put(w, space, strlen(space));
    w->has[w->depth - 1] = 0; /* the comma is written: the member itself takes none */
}

void cg_jw_raw(cg_jw_t *w, const char *json, size_t n)
{
    sep(w);
    put(w, json, n);
}

void cg_jw_kstr(cg_jw_t *w, const char *key, const char *s)
{
    cg_jw_key(w, key);
    cg_jw_str(w, s);
}

void cg_jw_kstr_opt(cg_jw_t *w, const char *key, const char *s)
{
    if (s) cg_jw_kstr(w, key, s);
}

void cg_jw_ku64(cg_jw_t *w, const char *key, uint64_t v)
{
    cg_jw_key(w, key);
    cg_jw_u64(w, v);
}

void cg_jw_ki64(cg_jw_t *w, const char *key, int64_t v)
{
    cg_jw_key(w, key);
    cg_jw_i64(w, v);
}

void cg_jw_kbool(cg_jw_t *w, const char *key, int v)
{
    cg_jw_key(w, key);
    cg_jw_bool(w, v);
}

void cg_jw_kobj(cg_jw_t *w, const char *key)
{
    cg_jw_key(w, key);
    cg_jw_obj(w);
}

void cg_jw_karr(cg_jw_t *w, const char *key)
{
    cg_jw_key(w, key);
    cg_jw_arr(w);
}

/* ---- reader ---- */

/* cg_json_t is json_t: the type exists only so that no caller includes jansson.h. */
#define J(v) ((json_t *)(v))
#define V(j) ((cg_json_t *)(j))

cg_json_t *cg_json_parse(const char *name, const char *data, size_t len, cg_buf_t *errors)
{
    json_error_t e;
    json_t *j = json_loadb(data, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &e);
    if (j == NULL && errors)
        cg_buf_printf(errors, "%s:%d:%d: %s\n", name, e.line, e.column, e.text);
    return V(j);
}

void cg_json_free(cg_json_t *doc)
{
    json_decref(J(doc));
}

cg_json_type_t cg_json_type(const cg_json_t *v)
{
    if (v == NULL) return CG_JSON_NULL; /* an absent member */
    switch (json_typeof(J(v))) {
    case JSON_OBJECT: return CG_JSON_OBJECT;
    case JSON_ARRAY: return CG_JSON_ARRAY;
    case JSON_STRING: return CG_JSON_STRING;
    case JSON_INTEGER: return CG_JSON_INT;
    case JSON_REAL: return CG_JSON_REAL;
    case JSON_TRUE:
    case JSON_FALSE: return CG_JSON_BOOL;
    default: return CG_JSON_NULL;
    }
}

const char *cg_json_describe(const cg_json_t *v)
{
    static const char *names[] = {"null",     "true or false", "an integer", "a number",
                                  "a string", "a list",        "an object"};
    return v ? names[cg_json_type(v)] : "nothing";
}

const cg_json_t *cg_json_get(const cg_json_t *v, const char *key)
{
    return v && json_is_object(J(v)) ? V(json_object_get(J(v), key)) : NULL;
}

size_t cg_json_len(const cg_json_t *v)
{
    if (v == NULL) return 0;
    if (json_is_array(J(v))) return json_array_size(J(v));
    if (json_is_object(J(v))) return json_object_size(J(v));
    return 0;
}

const cg_json_t *cg_json_at(const cg_json_t *arr, size_t i)
{
    return arr ? V(json_array_get(J(arr), i)) : NULL;
}

void *cg_json_iter(const cg_json_t *obj)
{
    return obj && json_is_object(J(obj)) ? json_object_iter(J(obj)) : NULL;
}

void *cg_json_next(const cg_json_t *obj, void *it)
{
    return json_object_iter_next(J(obj), it);
}

const char *cg_json_iter_key(void *it)
{
    return json_object_iter_key(it);
}

const cg_json_t *cg_json_iter_value(void *it)
{
    return V(json_object_iter_value(it));
}

const char *cg_json_string(const cg_json_t *v, size_t *len)
{
    if (v == NULL || !json_is_string(J(v))) return NULL;
    if (len) *len = json_string_length(J(v));
    return json_string_value(J(v));
}

int64_t cg_json_int(const cg_json_t *v)
{
    return v && json_is_integer(J(v)) ? (int64_t)json_integer_value(J(v)) : 0;
}

double cg_json_real(const cg_json_t *v)
{
    return v && json_is_number(J(v)) ? json_number_value(J(v)) : 0;
}

int cg_json_true(const cg_json_t *v)
{
    return v && json_is_true(J(v));
}

/* ---- typed reading ---- */

void cg_json_dec_fail(cg_json_dec_t *d, const char *key, const char *message)
{
    if (!d->failed && d->errors) cg_buf_printf(d->errors, "%s: %s: %s\n", d->what, key, message);
    d->failed = 1;
}

char *cg_json_dec_str(cg_json_dec_t *d, const cg_json_t *obj, const char *key, int required)
{
    const cg_json_t *n = cg_json_get(obj, key);
    if (n == NULL || json_is_null(J(n))) {
        if (required) cg_json_dec_fail(d, key, "missing");
        return NULL;
    }
    size_t len;
    const char *s = cg_json_string(n, &len);
    if (s == NULL) {
        cg_json_dec_fail(d, key, "expected a string");
        return NULL;
    }
    return cg_xstrndup(s, len);
}

uint64_t cg_json_dec_u64(cg_json_dec_t *d, const cg_json_t *obj, const char *key, uint64_t max,
                         uint64_t dflt)
{
    const cg_json_t *n = cg_json_get(obj, key);
    if (n == NULL) return dflt;
    if (!json_is_integer(J(n)) || json_integer_value(J(n)) < 0) {
        cg_json_dec_fail(d, key, "expected a non-negative integer");
        return dflt;
    }
    uint64_t v = (uint64_t)json_integer_value(J(n));
    if (v > max) {
        cg_json_dec_fail(d, key, "out of range");
        return dflt;
    }
    return v;
}

int cg_json_dec_bool(cg_json_dec_t *d, const cg_json_t *obj, const char *key, int dflt)
{
    const cg_json_t *n = cg_json_get(obj, key);
    if (n == NULL) return dflt;
    if (!json_is_boolean(J(n))) {
        cg_json_dec_fail(d, key, "expected true or false");
        return dflt;
    }
    return json_is_true(J(n));
}

const cg_json_t *cg_json_dec_list(cg_json_dec_t *d, const cg_json_t *obj, const char *key)
{
    const cg_json_t *n = cg_json_get(obj, key);
    if (n && !json_is_array(J(n))) {
        cg_json_dec_fail(d, key, "expected a list");
        return NULL;
    }
    return n;
}

const cg_json_t *cg_json_dec_obj(cg_json_dec_t *d, const cg_json_t *obj, const char *key)
{
    const cg_json_t *n = cg_json_get(obj, key);
    if (n && !json_is_object(J(n))) {
        cg_json_dec_fail(d, key, "expected an object");
        return NULL;
    }
    return n;
}
