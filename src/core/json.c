/* The JSON writer, and typed reading over the reader of json_read.c. */
#include "core/json.h"

#include "core/err.h"
#include "core/list.h"

#include <math.h>
#include <string.h>

/* ---- writer ---- */

/* Appends in place while the buffer has room (the common case: a snapshot makes millions of
 * small appends), through cg_buf_append when it must grow. */
static void put(cg_jw_t *w, const char *p, size_t n)
{
    cg_buf_t *b = w->b;
    if (b->base && b->cap - b->len >= n) {
        memcpy(b->base + b->len, p, n);
        b->len += n;
    } else if (cg_buf_append(b, p, n)) {
        w->failed = 1;
    }
}

/* Nothing in s[0..n) needs escaping: no control character, quote or backslash. Eight bytes at
 * a time ((x - k) & ~x & 0x80.. flags a byte below k, and can flag a byte only past one that
 * is): snapshots are mostly strings. */
static int plain(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101u, high = 0x8080808080808080u;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, q, b;
        memcpy(&x, s + i, 8);
        q = x ^ (ones * '"');
        b = x ^ (ones * '\\');
        if (((x - ones * 0x20) & ~x & high) | ((q - ones) & ~q & high) | ((b - ones) & ~b & high))
            return 0;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\') return 0;
    return 1;
}

/* A quoted string: in one piece when nothing needs escaping, else through the escaper. */
static void put_strn(cg_jw_t *w, const char *s, size_t n)
{
    if (!plain(s, n)) {
        if (cg_buf_append_json_iov(w->b, (cg_iov_t){(char *)s, n})) w->failed = 1;
        return;
    }
    if (cg_buf_reserve(w->b, n + 2)) {
        w->failed = 1;
        return;
    }
    char *o = w->b->base + w->b->len;
    o[0] = '"';
    memcpy(o + 1, s, n);
    o[n + 1] = '"';
    w->b->len += n + 2;
}

/* Bytes a JSON string cannot hold as they are, and NUL (the end of a C string). */
static const uint8_t special[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
};

/* The length of C string s when nothing in it needs escaping (one pass: keys and most values
 * are short), else SIZE_MAX. */
static size_t plain_cstr(const char *s)
{
    size_t i = 0;
    while (!special[(unsigned char)s[i]]) i++;
    return s[i] == '\0' ? i : SIZE_MAX;
}

static void put_str(cg_jw_t *w, const char *s)
{
    if (!s) {
        put(w, "null", 4);
        return;
    }
    size_t n = plain_cstr(s);
    cg_buf_t *b = w->b;
    if (n != SIZE_MAX && b->base && b->cap - b->len >= n + 2) {
        char *o = b->base + b->len;
        o[0] = '"';
        memcpy(o + 1, s, n);
        o[n + 1] = '"';
        b->len += n + 2;
    } else {
        put_strn(w, s, strlen(s));
    }
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
    size_t n = plain_cstr(key);
    cg_buf_t *b = w->b;
    if (n != SIZE_MAX && b->base && b->cap - b->len >= n + 3) { /* "key": in one piece */
        char *o = b->base + b->len;
        o[0] = '"';
        memcpy(o + 1, key, n);
        o[n + 1] = '"';
        o[n + 2] = ':';
        b->len += n + 3;
    } else {
        put_strn(w, key, strlen(key));
        put(w, ":", 1);
    }
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
    put_strn(w, s, n);
}

/* Decimal digits of v, sign first when neg (snapshots hold 100,000s of numbers: no printf). */
static void put_dec(cg_jw_t *w, uint64_t v, int neg)
{
    char d[21], *p = d + sizeof(d);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    if (neg) *--p = '-';
    put(w, p, (size_t)(d + sizeof(d) - p));
}

void cg_jw_u64(cg_jw_t *w, uint64_t v)
{
    sep(w);
    put_dec(w, v, 0);
}

void cg_jw_i64(cg_jw_t *w, int64_t v)
{
    sep(w);
    put_dec(w, v < 0 ? 0 - (uint64_t)v : (uint64_t)v, v < 0);
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

/* ---- typed reading ---- */

void cg_json_dec_fail(cg_json_dec_t *d, const char *key, const char *message)
{
    if (!d->failed && d->errors) cg_buf_printf(d->errors, "%s: %s: %s\n", d->what, key, message);
    d->failed = 1;
}

char *cg_json_dec_str(cg_json_dec_t *d, const cg_json_t *obj, const char *key, int required)
{
    const cg_json_t *n = cg_json_get(obj, key);
    if (cg_json_type(n) == CG_JSON_NULL) {
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
    if (cg_json_type(n) != CG_JSON_INT || cg_json_int(n) < 0) {
        cg_json_dec_fail(d, key, "expected a non-negative integer");
        return dflt;
    }
    uint64_t v = (uint64_t)cg_json_int(n);
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
    if (cg_json_type(n) != CG_JSON_BOOL) {
        cg_json_dec_fail(d, key, "expected true or false");
        return dflt;
    }
    return cg_json_true(n);
}

const cg_json_t *cg_json_dec_list(cg_json_dec_t *d, const cg_json_t *obj, const char *key)
{
    const cg_json_t *n = cg_json_get(obj, key);
    if (n && cg_json_type(n) != CG_JSON_ARRAY) {
        cg_json_dec_fail(d, key, "expected a list");
        return NULL;
    }
    return n;
}

const cg_json_t *cg_json_dec_obj(cg_json_dec_t *d, const cg_json_t *obj, const char *key)
{
    const cg_json_t *n = cg_json_get(obj, key);
    if (n && cg_json_type(n) != CG_JSON_OBJECT) {
        cg_json_dec_fail(d, key, "expected an object");
        return NULL;
    }
    return n;
}
