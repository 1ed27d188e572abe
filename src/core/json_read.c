/* The strict JSON reader (json.h says why our own): one pass over the text into a tree that
 * lives in one arena, so a document costs a few large allocations and one free. The tree is
 * compact (16-byte values held inline in their arrays and objects, repeated keys stored once,
 * strings unaligned): a 10 MB snapshot touches about three times its size, and page faults on
 * fresh memory were a quarter of the time with a tree of pointers. */
#include "core/json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Containers nest at most this deep when read (the writer's bound is CG_JSON_MAX_DEPTH). */
#define MAX_READ_DEPTH 512
/* Objects with more members than this get a sorted index: duplicate keys are found by
 * sorting, and lookups are binary searches. Smaller ones are scanned. */
#define SCAN_MEMBERS 16

/* Repeated keys ("address", "port"...) are kept once per document: this many slots (a power
 * of two, half used at most), for keys up to INTERN_MAX bytes without escapes. */
#define INTERN_SLOTS 512
#define INTERN_MAX   64

typedef struct member member_t;

struct cg_json {
    uint8_t type; /* cg_json_type_t */
    uint8_t b;    /* true */
    uint32_t n;   /* string length, items or members (a document is below 4 GiB) */
    union {
        int64_t i;
        double d;
        const char *s;     /* NUL-terminated */
        cg_json_t *items;  /* arrays */
        member_t *members; /* objects, in document order; above SCAN_MEMBERS members followed
                            * by n pointers to them sorted by key */
    } u;
};

struct member {
    const char *key; /* NUL-terminated (a key holding NUL is refused) */
    uint32_t klen;   /* compared first: most keys differ in length or first byte */
    cg_json_t value;
};

typedef struct intern {
    const char *key;
    uint32_t klen, hash;
} intern_t;

typedef struct block {
    struct block *next;
    size_t used, size;
    _Alignas(max_align_t) char data[];
} block_t;

/* What cg_json_parse hands out: the root value first, so that a cg_json_t * is the document. */
typedef struct doc {
    cg_json_t root;
    block_t *blocks;
} doc_t;

/* A container being read: its children so far sit on the parser's stack from `base`. */
typedef struct parser {
    const char *p, *start, *end;
    doc_t *doc;
    const char *error; /* the first problem; NULL while all is well */
    const char *error_at;
    member_t *stack; /* children of the open containers (key NULL in arrays) */
    size_t nstack, capstack;
    int depth;
    size_t ninterned;
    intern_t interned[INTERN_SLOTS];
} parser_t;

static void fail(parser_t *ps, const char *at, const char *message)
{
    if (ps->error) return;
    ps->error = message;
    ps->error_at = at;
}

/* n bytes at a multiple of align (a power of two, at most 16). */
static void *arena(parser_t *ps, size_t n, size_t align)
{
    block_t *b = ps->doc->blocks;
    size_t at = b ? (b->used + align - 1) & ~(align - 1) : 0;
    if (!b || at > b->size || b->size - at < n) {
        size_t size = b ? b->size * 2 : 16384;
        if (size > (1u << 20)) size = 1u << 20;
        if (size < n) size = n;
        block_t *nb = malloc(sizeof(*nb) + size);
        if (!nb) {
            fail(ps, ps->p, "out of memory");
            return NULL;
        }
        nb->size = size;
        nb->used = 0;
        nb->next = b;
        ps->doc->blocks = b = nb;
        at = 0;
    }
    void *r = b->data + at;
    b->used = at + n;
    return r;
}

static int push(parser_t *ps, const char *key, size_t klen, const cg_json_t *v)
{
    if (ps->nstack == ps->capstack) {
        size_t cap = ps->capstack ? ps->capstack * 2 : 256;
        member_t *s = realloc(ps->stack, cap * sizeof(*s));
        if (!s) {
            fail(ps, ps->p, "out of memory");
            return -1;
        }
        ps->stack = s;
        ps->capstack = cap;
    }
    ps->stack[ps->nstack++] = (member_t){key, (uint32_t)klen, *v};
    return 0;
}

static void skip_ws(parser_t *ps)
{
    const char *p = ps->p, *e = ps->end;
    while (p < e && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    ps->p = p;
}

static int hex4(const char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        int c = (unsigned char)p[i], d;
        if (c >= '0' && c <= '9')
            d = c - '0';
        else if (c >= 'a' && c <= 'f')
            d = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            d = c - 'A' + 10;
        else
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Length of the well-formed UTF-8 sequence at p (first byte >= 0x80), or 0: overlong forms,
 * UTF-16 surrogates and code points past U+10FFFF are not UTF-8. */
static size_t utf8_len(const unsigned char *p, const unsigned char *e)
{
    unsigned c = p[0];
    size_t n;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if ((size_t)(e - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf) return 0;
    return n;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xc0 | cp >> 6);
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xe0 | cp >> 12);
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    } else {
        *o++ = (char)(0xf0 | cp >> 18);
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3f));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3f));
        *o++ = (char)(0x80 | (cp & 0x3f));
    }
    return o;
}

/* A key seen before in this document, or NULL (then it is remembered, when there is room). */
static const char *interned(parser_t *ps, const char *q, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)q[i]) * 16777619u;
    size_t i = h & (INTERN_SLOTS - 1);
    for (; ps->interned[i].key; i = (i + 1) & (INTERN_SLOTS - 1)) {
        const intern_t *e = &ps->interned[i];
        if (e->hash == h && e->klen == n && memcmp(e->key, q, n) == 0) return e->key;
    }
    if (2 * (ps->ninterned + 1) > INTERN_SLOTS) return NULL;
    char *k = arena(ps, n + 1, 1);
    if (!k) return NULL;
    memcpy(k, q, n);
    k[n] = '\0';
    ps->interned[i] = (intern_t){k, (uint32_t)n, h};
    ps->ninterned++;
    return k;
}

/* A string at ps->p (the opening quote): its text, NUL-terminated, in the arena (a key without
 * escapes: once per document). An escape never decodes to more bytes than it takes, so the
 * raw length bounds the result. */
static const char *read_string(parser_t *ps, size_t *len, int key)
{
    const char *q = ps->p + 1, *e = ps->end;
    /* the plain run: most strings have no escape and are ASCII */
    const char *r = q;
    while (r < e && *r != '"' && *r != '\\' && (unsigned char)*r >= 0x20 &&
           (unsigned char)*r < 0x80)
        r++;
    const char *close = r;
    while (close < e && *close != '"') close += *close == '\\' && close + 1 < e ? 2 : 1;
    if (close >= e) {
        fail(ps, ps->p, "unterminated string");
        return NULL;
    }
    if (key && r == close && (size_t)(r - q) <= INTERN_MAX) {
        const char *k = interned(ps, q, (size_t)(r - q));
        if (k) {
            *len = (size_t)(r - q);
            ps->p = close + 1;
            return k;
        }
        if (ps->error) return NULL;
    }
    char *out = arena(ps, (size_t)(close - q) + 1, 1);
    if (!out) return NULL;
    memcpy(out, q, (size_t)(r - q));
    char *o = out + (r - q);
    while (r < close) {
        unsigned char c = (unsigned char)*r;
        if (c < 0x20) {
            fail(ps, r, "control character in a string");
            return NULL;
        }
        if (c >= 0x80) {
            size_t n = utf8_len((const unsigned char *)r, (const unsigned char *)close);
            if (!n) {
                fail(ps, r, "invalid UTF-8 in a string");
                return NULL;
            }
            memcpy(o, r, n);
            o += n;
            r += n;
            continue;
        }
        if (c != '\\') {
            *o++ = (char)c;
            r++;
            continue;
        }
        char x = r[1];
        const char *esc = r;
        r += 2;
        switch (x) {
        case '"': *o++ = '"'; break;
        case '\\': *o++ = '\\'; break;
        case '/': *o++ = '/'; break;
        case 'b': *o++ = '\b'; break;
        case 'f': *o++ = '\f'; break;
        case 'n': *o++ = '\n'; break;
        case 'r': *o++ = '\r'; break;
        case 't': *o++ = '\t'; break;
        case 'u': {
            int cp = close - r >= 4 ? hex4(r) : -1;
            if (cp < 0) {
                fail(ps, esc, "invalid \\u escape");
                return NULL;
            }
            r += 4;
            if (cp >= 0xdc00 && cp <= 0xdfff) {
                fail(ps, esc, "lone UTF-16 surrogate in a \\u escape");
                return NULL;
            }
            if (cp >= 0xd800 && cp <= 0xdbff) {
                int lo = close - r >= 6 && r[0] == '\\' && r[1] == 'u' ? hex4(r + 2) : -1;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    fail(ps, esc, "lone UTF-16 surrogate in a \\u escape");
                    return NULL;
                }
                r += 6;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            }
            if (cp == 0) {
                fail(ps, esc, "\\u0000 is not allowed in a string");
                return NULL;
            }
            o = put_utf8(o, (unsigned)cp);
            break;
        }
        default: fail(ps, esc, "invalid escape"); return NULL;
        }
    }
    *o = '\0';
    *len = (size_t)(o - out);
    ps->p = close + 1;
    return out;
}

static int is_digit(const char *p, const char *e)
{
    return p < e && *p >= '0' && *p <= '9';
}

static void read_number(parser_t *ps, cg_json_t *v)
{
    const char *s = ps->p, *p = s, *e = ps->end;
    int neg = 0, real = 0;
    if (p < e && *p == '-') {
        neg = 1;
        p++;
    }
    if (!is_digit(p, e)) {
        fail(ps, s, "invalid number");
        return;
    }
    if (*p == '0') {
        p++;
        if (is_digit(p, e)) {
            fail(ps, s, "invalid number: leading zero");
            return;
        }
    } else {
        while (is_digit(p, e)) p++;
    }
    if (p < e && *p == '.') {
        real = 1;
        p++;
        if (!is_digit(p, e)) {
            fail(ps, s, "invalid number");
            return;
        }
        while (is_digit(p, e)) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        real = 1;
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (!is_digit(p, e)) {
            fail(ps, s, "invalid number");
            return;
        }
        while (is_digit(p, e)) p++;
    }
    ps->p = p;
    if (!real) {
        /* exact: -2^63 .. 2^63-1, anything past is refused rather than rounded */
        uint64_t mag = 0, limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        for (const char *d = s + neg; d < p; d++) {
            unsigned dig = (unsigned)(*d - '0');
            if (mag > (limit - dig) / 10) {
                fail(ps, s, "integer out of range (past 2^63)");
                return;
            }
            mag = mag * 10 + dig;
        }
        v->type = CG_JSON_INT;
        v->u.i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
        return;
    }
    char small[64], *buf = small;
    size_t n = (size_t)(p - s);
    if (n >= sizeof(small) && !(buf = malloc(n + 1))) {
        fail(ps, s, "out of memory");
        return;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    errno = 0;
    double d = strtod(buf, NULL);
    int range = errno == ERANGE && (d > 1.0 || d < -1.0);
    if (buf != small) free(buf);
    if (range) {
        fail(ps, s, "real number out of range");
        return;
    }
    v->type = CG_JSON_REAL;
    v->u.d = d;
}

static int literal(parser_t *ps, const char *word, size_t n)
{
    if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n) != 0) {
        fail(ps, ps->p, "invalid token");
        return -1;
    }
    ps->p += n;
    return 0;
}

/* A large object's index (see struct cg_json). */
static const member_t **sorted_of(const cg_json_t *v)
{
    return (const member_t **)(void *)(v->u.members + v->n);
}

static int same_key(const member_t *m, const char *key, size_t klen)
{
    return m->klen == klen && m->key[0] == key[0] && memcmp(m->key, key, klen) == 0;
}

static int key_order(const void *a, const void *b)
{
    return strcmp((*(const member_t *const *)a)->key, (*(const member_t *const *)b)->key);
}

static void read_value(parser_t *ps, cg_json_t *v);

/* After a container's item: 1 on a comma (another item follows), 0 on the closer, -1 (failed)
 * on anything else. */
static int after_item(parser_t *ps, char closer, const char *expected)
{
    skip_ws(ps);
    if (ps->p < ps->end && (*ps->p == ',' || *ps->p == closer)) {
        int comma = *ps->p++ == ',';
        if (comma) skip_ws(ps);
        return comma;
    }
    fail(ps, ps->p, expected);
    return -1;
}

static void read_array(parser_t *ps, cg_json_t *v)
{
    size_t base = ps->nstack;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ']') {
        ps->p++;
    } else {
        for (;;) {
            cg_json_t item;
            read_value(ps, &item);
            if (ps->error || push(ps, NULL, 0, &item)) return;
            int more = after_item(ps, ']', "expected ',' or ']'");
            if (more < 0) return;
            if (!more) break;
        }
    }
    size_t n = ps->nstack - base;
    v->type = CG_JSON_ARRAY;
    v->n = (uint32_t)n;
    v->u.items = n ? arena(ps, n * sizeof(*v->u.items), 8) : NULL;
    if (n && !v->u.items) return;
    for (size_t i = 0; i < n; i++) v->u.items[i] = ps->stack[base + i].value;
    ps->nstack = base;
}

static void read_object(parser_t *ps, cg_json_t *v)
{
    size_t base = ps->nstack;
    const char *open = ps->p;
    ps->p++;
    skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '}') {
        ps->p++;
    } else {
        for (;;) {
            if (ps->p >= ps->end || *ps->p != '"') {
                fail(ps, ps->p, "expected a string key");
                return;
            }
            const char *at = ps->p;
            size_t klen;
            const char *key = read_string(ps, &klen, 1);
            if (!key) return;
            /* small objects: the duplicate is found here; larger ones once sorted below */
            if (ps->nstack - base < SCAN_MEMBERS)
                for (size_t i = base; i < ps->nstack; i++)
                    if (same_key(&ps->stack[i], key, klen)) {
                        fail(ps, at, "duplicate object key");
                        return;
                    }
            skip_ws(ps);
            if (ps->p >= ps->end || *ps->p != ':') {
                fail(ps, ps->p, "expected ':'");
                return;
            }
            ps->p++;
            skip_ws(ps);
            cg_json_t val;
            read_value(ps, &val);
            if (ps->error || push(ps, key, klen, &val)) return;
            int more = after_item(ps, '}', "expected ',' or '}'");
            if (more < 0) return;
            if (!more) break;
        }
    }
    size_t n = ps->nstack - base, big = n > SCAN_MEMBERS;
    v->type = CG_JSON_OBJECT;
    v->n = (uint32_t)n;
    v->u.members = n ? arena(ps, n * (sizeof(member_t) + big * sizeof(member_t *)), 8) : NULL;
    if (n && !v->u.members) return;
    if (n) memcpy(v->u.members, ps->stack + base, n * sizeof(member_t));
    ps->nstack = base;
    if (big) {
        const member_t **sorted = sorted_of(v);
        for (size_t i = 0; i < n; i++) sorted[i] = &v->u.members[i];
        qsort(sorted, n, sizeof(*sorted), key_order);
        for (size_t i = 1; i < n; i++)
            if (strcmp(sorted[i - 1]->key, sorted[i]->key) == 0) {
                fail(ps, open, "duplicate object key");
                return;
            }
    }
}

static void read_value(parser_t *ps, cg_json_t *v)
{
    memset(v, 0, sizeof(*v));
    if (ps->p >= ps->end) {
        fail(ps, ps->p, "unexpected end of input");
        return;
    }
    switch (*ps->p) {
    case '{':
    case '[':
        if (++ps->depth > MAX_READ_DEPTH) {
            fail(ps, ps->p, "nested too deep");
            return;
        }
        if (*ps->p == '{')
            read_object(ps, v);
        else
            read_array(ps, v);
        ps->depth--;
        return;
    case '"': {
        size_t len;
        const char *s = read_string(ps, &len, 0);
        if (!s) return;
        v->type = CG_JSON_STRING;
        v->u.s = s;
        v->n = (uint32_t)len;
        return;
    }
    case 't':
        v->type = CG_JSON_BOOL;
        v->b = 1;
        literal(ps, "true", 4);
        return;
    case 'f':
        v->type = CG_JSON_BOOL;
        literal(ps, "false", 5);
        return;
    case 'n':
        v->type = CG_JSON_NULL;
        literal(ps, "null", 4);
        return;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            read_number(ps, v);
        else
            fail(ps, ps->p, "invalid token");
    }
}

static void free_blocks(block_t *b)
{
    while (b) {
        block_t *next = b->next;
        free(b);
        b = next;
    }
}

cg_json_t *cg_json_parse(const char *name, const char *data, size_t len, cg_buf_t *errors)
{
    doc_t *doc = calloc(1, sizeof(*doc));
    parser_t *ps = calloc(1, sizeof(*ps));
    if (!doc || !ps || len >= UINT32_MAX) {
        if (errors)
            cg_buf_printf(errors, "%s:1:1: %s\n", name,
                          len >= UINT32_MAX ? "document too large" : "out of memory");
        free(doc);
        free(ps);
        return NULL;
    }
    *ps = (parser_t){.p = data, .start = data, .end = data + len, .doc = doc};
    skip_ws(ps);
    read_value(ps, &doc->root);
    if (!ps->error) {
        skip_ws(ps);
        if (ps->p != ps->end) fail(ps, ps->p, "end of file expected");
    }
    free(ps->stack);
    const char *error = ps->error, *error_at = ps->error_at;
    free(ps);
    if (!error) return &doc->root;
    if (errors) {
        /* line and column (in bytes, from 1) of the problem */
        int line = 1, col = 1;
        for (const char *c = data; c < error_at; c++) {
            if (*c == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        cg_buf_printf(errors, "%s:%d:%d: %s\n", name, line, col, error);
    }
    free_blocks(doc->blocks);
    free(doc);
    return NULL;
}

void cg_json_free(cg_json_t *root)
{
    if (!root) return;
    doc_t *doc = (doc_t *)root;
    free_blocks(doc->blocks);
    free(doc);
}

cg_json_type_t cg_json_type(const cg_json_t *v)
{
    return v ? (cg_json_type_t)v->type : CG_JSON_NULL; /* NULL: an absent member */
}

const char *cg_json_describe(const cg_json_t *v)
{
    static const char *names[] = {"null",     "true or false", "an integer", "a number",
                                  "a string", "a list",        "an object"};
    return v ? names[v->type] : "nothing";
}

const cg_json_t *cg_json_get(const cg_json_t *v, const char *key)
{
    if (!v || v->type != CG_JSON_OBJECT) return NULL;
    if (v->n <= SCAN_MEMBERS) {
        size_t klen = strlen(key);
        for (size_t i = 0; i < v->n; i++)
            if (same_key(&v->u.members[i], key, klen)) return &v->u.members[i].value;
        return NULL;
    }
    size_t lo = 0, hi = v->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const member_t *m = sorted_of(v)[mid];
        int c = strcmp(m->key, key);
        if (c == 0) return &m->value;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

size_t cg_json_len(const cg_json_t *v)
{
    return v && (v->type == CG_JSON_ARRAY || v->type == CG_JSON_OBJECT) ? v->n : 0;
}

const cg_json_t *cg_json_at(const cg_json_t *arr, size_t i)
{
    return arr && arr->type == CG_JSON_ARRAY && i < arr->n ? &arr->u.items[i] : NULL;
}

void *cg_json_iter(const cg_json_t *obj)
{
    return obj && obj->type == CG_JSON_OBJECT && obj->n ? obj->u.members : NULL;
}

void *cg_json_next(const cg_json_t *obj, void *it)
{
    member_t *m = (member_t *)it + 1;
    return m < obj->u.members + obj->n ? m : NULL;
}

const char *cg_json_iter_key(void *it)
{
    return ((member_t *)it)->key;
}

const cg_json_t *cg_json_iter_value(void *it)
{
    return &((member_t *)it)->value;
}

const char *cg_json_string(const cg_json_t *v, size_t *len)
{
    if (!v || v->type != CG_JSON_STRING) return NULL;
    if (len) *len = v->n;
    return v->u.s;
}

int64_t cg_json_int(const cg_json_t *v)
{
    return v && v->type == CG_JSON_INT ? v->u.i : 0;
}

double cg_json_real(const cg_json_t *v)
{
    if (!v) return 0;
    if (v->type == CG_JSON_INT) return (double)v->u.i;
    return v->type == CG_JSON_REAL ? v->u.d : 0;
}

int cg_json_true(const cg_json_t *v)
{
    return v && v->type == CG_JSON_BOOL && v->b;
}
