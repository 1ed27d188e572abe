/* JSON: one writer and one reader for every document crossgate writes or reads on the wire
 * (snapshots, registrations, API bodies, admin pages, reports).
 *
 * The writer appends compact JSON to a cg_buf_t and does the comma bookkeeping itself, so a
 * caller says what it writes and never where the commas go. The reader (json_read.c) is our
 * own, strict RFC 8259: duplicate keys, NUL in strings (\u0000), lone surrogates, invalid
 * UTF-8 (overlong forms, encoded surrogates, past U+10FFFF), control characters, trailing
 * bytes, integers outside [-2^63, 2^63) and reals that overflow are errors, as is nesting past
 * 512. It parses into a tree held in one arena (a few large allocations, one free).
 * Chosen by measurement (bench/control.sh, the 10.5 MB, 100,000-endpoint edge snapshot):
 * 25 ms, against 326 ms for Jansson with JSON_REJECT_DUPLICATES (which it replaces, with the
 * same strictness) and 0.5-1.5 s for libfyaml plus our node tree; json-c (0.08 s) and
 * cJSON (0.10 s) were faster than Jansson but json-c accepts single-quoted strings and keeps
 * the last of duplicate keys silently, and cJSON holds numbers as doubles, which loses 64-bit
 * versions. */
#ifndef CG_CORE_JSON_H
#define CG_CORE_JSON_H

#include "core/buf.h"

#include <stddef.h>
#include <stdint.h>

/* ---- writer ---- */

/* Containers nest at most this deep; deeper writes are dropped and set `overflow`. */
#define CG_JSON_MAX_DEPTH 32

typedef struct cg_jw {
    cg_buf_t *b;
    int depth;
    int after_key;                    /* a key was written: the next value takes no comma */
    int overflow;                     /* nesting past CG_JSON_MAX_DEPTH: a bug in the caller */
    int failed;                       /* an append failed (out of memory): the text is incomplete */
    uint8_t has[CG_JSON_MAX_DEPTH];   /* the container at this depth has a member already */
    uint8_t array[CG_JSON_MAX_DEPTH]; /* ... and is an array, not an object */
} cg_jw_t;

static inline cg_jw_t cg_jw(cg_buf_t *b)
{
    return (cg_jw_t){.b = b};
}

void cg_jw_obj(cg_jw_t *w);
void cg_jw_arr(cg_jw_t *w);
void cg_jw_end(cg_jw_t *w); /* closes the innermost object or array */
void cg_jw_key(cg_jw_t *w, const char *key);
void cg_jw_str(cg_jw_t *w, const char *s); /* NULL writes null */
void cg_jw_strn(cg_jw_t *w, const char *s, size_t n);
void cg_jw_u64(cg_jw_t *w, uint64_t v);
void cg_jw_i64(cg_jw_t *w, int64_t v);
void cg_jw_double(cg_jw_t *w, double v, int decimals); /* non-finite writes null */
void cg_jw_bool(cg_jw_t *w, int v);
void cg_jw_null(cg_jw_t *w);
/* Whitespace (say "\n  ") before the next member, for a document meant to be read by eye: the
 * comma that member needs is written before the whitespace, so the text stays valid JSON. */
void cg_jw_break(cg_jw_t *w, const char *space);
/* A value that is JSON already (a snapshot inside a watch answer). */
void cg_jw_raw(cg_jw_t *w, const char *json, size_t n);

/* "key": value pairs. cg_jw_kstr_opt writes nothing when s is NULL (an omitted optional). */
void cg_jw_kstr(cg_jw_t *w, const char *key, const char *s);
void cg_jw_kstr_opt(cg_jw_t *w, const char *key, const char *s);
void cg_jw_ku64(cg_jw_t *w, const char *key, uint64_t v);
void cg_jw_ki64(cg_jw_t *w, const char *key, int64_t v);
void cg_jw_kbool(cg_jw_t *w, const char *key, int v);
void cg_jw_kobj(cg_jw_t *w, const char *key);
void cg_jw_karr(cg_jw_t *w, const char *key);

/* ---- reader ---- */

typedef struct cg_json cg_json_t; /* a value; owned by the document it was parsed into */

typedef enum {
    CG_JSON_NULL,
    CG_JSON_BOOL,
    CG_JSON_INT,
    CG_JSON_REAL,
    CG_JSON_STRING,
    CG_JSON_ARRAY,
    CG_JSON_OBJECT,
} cg_json_type_t;

/* Parses one JSON value (any type at the top). On error appends
 * "name:line:col: message\n" to errors (when not NULL) and returns NULL. */
cg_json_t *cg_json_parse(const char *name, const char *data, size_t len, cg_buf_t *errors);
void cg_json_free(cg_json_t *doc);

/* CG_JSON_NULL for NULL too (an absent member). */
cg_json_type_t cg_json_type(const cg_json_t *v);
/* "an object", "a list", "a string", "an integer"... for error messages. */
const char *cg_json_describe(const cg_json_t *v);
/* The member `key` of an object; NULL when absent or when v is not an object. */
const cg_json_t *cg_json_get(const cg_json_t *v, const char *key);
/* Number of items of an array or members of an object (0 for anything else). */
size_t cg_json_len(const cg_json_t *v);
const cg_json_t *cg_json_at(const cg_json_t *arr, size_t i);
/* Object members in document order: for (it = cg_json_iter(o); it; it = cg_json_next(o, it)) */
void *cg_json_iter(const cg_json_t *obj);
void *cg_json_next(const cg_json_t *obj, void *it);
const char *cg_json_iter_key(void *it);
const cg_json_t *cg_json_iter_value(void *it);
/* Scalars. cg_json_string returns NULL for a non-string; cg_json_int 0 for a non-integer. */
const char *cg_json_string(const cg_json_t *v, size_t *len);
int64_t cg_json_int(const cg_json_t *v);
/* An integer or a real as a double; 0 for anything else. */
double cg_json_real(const cg_json_t *v);
int cg_json_true(const cg_json_t *v);

/* ---- typed reading with one error ----
 * Reads fields of machine-written documents. The first problem is recorded as
 * "<what>: <key>: <message>\n" in errors and sets failed; later reads return their defaults,
 * so a decoder reads on and checks `failed` once. */
typedef struct cg_json_dec {
    const char *what; /* "snapshot", "registration"... */
    cg_buf_t *errors;
    int failed;
} cg_json_dec_t;

void cg_json_dec_fail(cg_json_dec_t *d, const char *key, const char *message);
/* A string member, copied (NULL when absent or null; "missing" when required). */
char *cg_json_dec_str(cg_json_dec_t *d, const cg_json_t *obj, const char *key, int required);
/* A non-negative integer member in [0, max]; dflt when absent. */
uint64_t cg_json_dec_u64(cg_json_dec_t *d, const cg_json_t *obj, const char *key, uint64_t max,
                         uint64_t dflt);
/* true/false; dflt when absent. */
int cg_json_dec_bool(cg_json_dec_t *d, const cg_json_t *obj, const char *key, int dflt);
/* An array member (NULL when absent, which callers treat as empty). */
const cg_json_t *cg_json_dec_list(cg_json_dec_t *d, const cg_json_t *obj, const char *key);
/* An object member (NULL when absent). */
const cg_json_t *cg_json_dec_obj(cg_json_dec_t *d, const cg_json_t *obj, const char *key);

#endif
