/* Builds cg_ynode_t trees from libfyaml's event stream, keeping positions for every node. */
#include "model/yaml.h"

#include "core/err.h"
#include "core/list.h"

#include <libfyaml.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An alias expands to a shared node, so nesting aliases cannot blow up memory; the depth and
 * the caller's node limit bound the rest. */
#define MAX_DEPTH 64

typedef struct anchor {
    char *name;
    cg_ynode_t *node;
} anchor_t;

typedef struct open_coll {
    cg_ynode_t *node;
    char *anchor; /* registered when the collection completes: no cycles */
    size_t cap;
    int key_pending;
} open_coll_t;

typedef struct builder {
    const char *name;
    cg_buf_t *errors;
    cg_ystream_t *out;
    cg_ydoc_t *doc;
    CG_VEC(anchor_t) anchors;
    open_coll_t stack[MAX_DEPTH];
    size_t depth;
    int last_line, last_col;
    size_t nnodes, max_nodes;
    int failed;
    int in_doc;
} builder_t;

cg_ynode_t *cg_ynode_get(const cg_ynode_t *map, const char *name)
{
    if (map == NULL || map->kind != CG_YNODE_MAP) return NULL;
    size_t nl = strlen(name);
    for (size_t i = 0; i < map->n; i++) {
        const cg_ynode_t *k = cg_ynode_key(map, i);
        if (k->kind == CG_YNODE_SCALAR && k->len == nl && memcmp(k->text, name, nl) == 0)
            return cg_ynode_value(map, i);
    }
    return NULL;
}

const char *cg_ynode_describe(const cg_ynode_t *n)
{
    if (n->kind == CG_YNODE_MAP) return "a mapping";
    if (n->kind == CG_YNODE_SEQ) return "a list";
    switch (n->stype) {
    case CG_YSCALAR_NULL: return "null";
    case CG_YSCALAR_BOOL: return "a boolean";
    case CG_YSCALAR_INT: return "an integer";
    case CG_YSCALAR_FLOAT: return "a number";
    default: return "a string";
    }
}

static int all_in(const char *s, size_t len, const char *set)
{
    if (len == 0) return 0;
    for (size_t i = 0; i < len; i++)
        if (strchr(set, s[i]) == NULL || s[i] == '\0') return 0;
    return 1;
}

static int is_float(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+')) i++;
    if (len - i == 4 && (memcmp(s + i, ".inf", 4) == 0 || memcmp(s + i, ".Inf", 4) == 0 ||
                         memcmp(s + i, ".INF", 4) == 0))
        return 1;
    while (i < len && s[i] >= '0' && s[i] <= '9') i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++, digits++;
    }
    if (digits == 0) return 0;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+')) i++;
        size_t e = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9') i++, e++;
        if (e == 0) return 0;
    }
    return i == len;
}

/* The YAML 1.2 core schema's resolution of plain scalars. */
static cg_yscalar_type_t classify_plain(const char *s, size_t len)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE"};
    for (size_t i = 0; i < CG_ARRAY_SIZE(nulls); i++)
        if (len == strlen(nulls[i]) && memcmp(s, nulls[i], len) == 0) return CG_YSCALAR_NULL;
    for (size_t i = 0; i < CG_ARRAY_SIZE(bools); i++)
        if (len == strlen(bools[i]) && memcmp(s, bools[i], len) == 0) return CG_YSCALAR_BOOL;
    size_t i = (len > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    if (all_in(s + i, len - i, "0123456789")) return CG_YSCALAR_INT;
    if (len > 2 && s[0] == '0' && s[1] == 'x' && all_in(s + 2, len - 2, "0123456789abcdefABCDEF"))
        return CG_YSCALAR_INT;
    if (len > 2 && s[0] == '0' && s[1] == 'o' && all_in(s + 2, len - 2, "01234567"))
        return CG_YSCALAR_INT;
    if (len == 4 &&
        (memcmp(s, ".nan", 4) == 0 || memcmp(s, ".NaN", 4) == 0 || memcmp(s, ".NAN", 4) == 0))
        return CG_YSCALAR_FLOAT;
    if (is_float(s, len)) return CG_YSCALAR_FLOAT;
    return CG_YSCALAR_STRING;
}

static void fail(builder_t *b, int line, int col, const char *msg)
{
    if (!b->failed) cg_buf_printf(b->errors, "%s:%d:%d: %s\n", b->name, line, col, msg);
    b->failed = 1;
}

static cg_ynode_t *new_node(builder_t *b, cg_ynode_kind_t kind, const struct fy_mark *m)
{
    if (++b->nnodes > b->max_nodes) {
        fail(b, b->last_line, b->last_col, "too many nodes in one file");
        return NULL;
    }
    cg_ynode_t *n = cg_xcalloc(1, sizeof(*n));
    n->kind = kind;
    if (m != NULL && m->line >= 0) {
        b->last_line = n->line = m->line + 1;
        b->last_col = n->col = m->column + 1;
    } else {
        n->line = b->last_line; /* empty scalars have no mark: use the key before them */
        n->col = b->last_col;
    }
    cg_ydoc_t *d = b->doc;
    if (d->nall == d->capall) {
        d->capall = d->capall ? d->capall * 2 : 64;
        d->all = cg_xrealloc(d->all, d->capall * sizeof(*d->all));
    }
    d->all[d->nall++] = n;
    return n;
}

static void add_anchor(builder_t *b, const char *name, cg_ynode_t *n)
{
    anchor_t a = {cg_xstrdup(name), n};
    cg_vec_push(&b->anchors, a);
}

static void free_anchors(builder_t *b)
{
    for (size_t i = 0; i < b->anchors.len; i++) free(b->anchors.items[i].name);
    cg_vec_free(&b->anchors);
}

static cg_ynode_t *find_anchor(builder_t *b, const char *name)
{
    for (size_t i = b->anchors.len; i-- > 0;) /* the latest definition wins */
        if (strcmp(b->anchors.items[i].name, name) == 0) return b->anchors.items[i].node;
    return NULL;
}

/* Attaches a finished node to the open collection, or makes it the document root. */
static void attach(builder_t *b, cg_ynode_t *n)
{
    if (b->depth == 0) {
        b->doc->root = n;
        return;
    }
    open_coll_t *c = &b->stack[b->depth - 1];
    cg_ynode_t *coll = c->node;
    size_t used = coll->kind == CG_YNODE_MAP ? coll->n * 2 + (size_t)c->key_pending : coll->n;
    if (used == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        coll->items = cg_xrealloc(coll->items, c->cap * sizeof(cg_ynode_t *));
    }
    coll->items[used] = n;
    if (coll->kind == CG_YNODE_SEQ) {
        coll->n++;
    } else if (!c->key_pending) {
        c->key_pending = 1; /* a mapping's n counts complete pairs */
    } else {
        c->key_pending = 0;
        coll->n++;
    }
}

static const char *anchor_text(struct fy_token *t)
{
    return t ? fy_token_get_text0(t) : NULL;
}

static void on_event(builder_t *b, struct fy_event *e)
{
    const struct fy_mark *m = fy_event_start_mark(e);
    cg_ynode_t *n;
    switch (e->type) {
    case FYET_DOCUMENT_START: {
        cg_ystream_t *s = b->out;
        s->docs = cg_xrealloc(s->docs, (s->ndocs + 1) * sizeof(*s->docs));
        b->doc = &s->docs[s->ndocs++];
        memset(b->doc, 0, sizeof(*b->doc));
        if (m != NULL && m->line >= 0) {
            b->last_line = m->line + 1;
            b->last_col = m->column + 1;
        }
        b->doc->line = b->last_line;
        b->doc->col = b->last_col;
        b->in_doc = 1;
        free_anchors(b);
        break;
    }
    case FYET_DOCUMENT_END: b->in_doc = 0; break;
    case FYET_MAPPING_START:
    case FYET_SEQUENCE_START: {
        if (b->depth == MAX_DEPTH) {
            fail(b, m ? m->line + 1 : b->last_line, m ? m->column + 1 : b->last_col,
                 "nesting too deep");
            return;
        }
        n = new_node(b, e->type == FYET_MAPPING_START ? CG_YNODE_MAP : CG_YNODE_SEQ, m);
        if (n == NULL) return;
        const char *a = anchor_text(e->type == FYET_MAPPING_START ? e->mapping_start.anchor
                                                                  : e->sequence_start.anchor);
        b->stack[b->depth++] = (open_coll_t){n, a ? cg_xstrdup(a) : NULL, 0, 0};
        break;
    }
    case FYET_MAPPING_END:
    case FYET_SEQUENCE_END: {
        if (b->depth == 0) return;
        open_coll_t c = b->stack[--b->depth];
        if (c.anchor != NULL) {
            add_anchor(b, c.anchor, c.node);
            free(c.anchor);
        }
        attach(b, c.node);
        break;
    }
    case FYET_SCALAR: {
        n = new_node(b, CG_YNODE_SCALAR, m);
        if (n == NULL) return;
        size_t len = 0;
        const char *t = fy_token_get_text(e->scalar.value, &len);
        if (t == NULL) t = "", len = 0;
        n->text = cg_xstrndup(t, len);
        n->len = len;
        enum fy_scalar_style st = fy_token_scalar_style(e->scalar.value);
        const char *tag = e->scalar.tag ? fy_token_get_text0(e->scalar.tag) : NULL;
        if (st == FYSS_SINGLE_QUOTED || st == FYSS_DOUBLE_QUOTED) {
            if (n->col > 1) n->col--; /* point at the quote, not the first character inside */
            n->stype = CG_YSCALAR_STRING;
        } else if (st != FYSS_PLAIN || (tag != NULL && strcmp(tag, "tag:yaml.org,2002:str") == 0)) {
            n->stype = CG_YSCALAR_STRING;
        } else {
            n->stype = classify_plain(t, len);
        }
        const char *a = anchor_text(e->scalar.anchor);
        if (a != NULL) add_anchor(b, a, n);
        attach(b, n);
        break;
    }
    case FYET_ALIAS: {
        const char *a = anchor_text(e->alias.anchor);
        cg_ynode_t *target = a ? find_anchor(b, a) : NULL;
        if (target == NULL) {
            char msg[160];
            snprintf(msg, sizeof(msg), "unknown anchor '%s'", a ? a : "");
            fail(b, m ? m->line + 1 : b->last_line, m ? m->column + 1 : b->last_col, msg);
            return;
        }
        attach(b, target);
        break;
    }
    default: break;
    }
}

static void free_doc(cg_ydoc_t *d)
{
    for (size_t i = 0; i < d->nall; i++) {
        free(d->all[i]->text);
        free(d->all[i]->items);
        free(d->all[i]);
    }
    free(d->all);
    memset(d, 0, sizeof(*d));
}

void cg_ystream_free(cg_ystream_t *s)
{
    for (size_t i = 0; i < s->ndocs; i++) free_doc(&s->docs[i]);
    free(s->docs);
    s->docs = NULL;
    s->ndocs = 0;
}

int cg_model_yaml_parse(const char *name, const char *data, size_t len, int json, cg_ystream_t *out,
                        cg_buf_t *errors)
{
    return cg_model_yaml_parse_limit(name, data, len, json, CG_MODEL_YAML_MAX_NODES, out, errors);
}

/* Where data stops being UTF-8 text (RFC 3629: no overlong forms, surrogates or code points
 * past U+10FFFF; no NUL, which YAML and JSON text never hold), or len when it does not. libfyaml
 * is not handed anything else: a directive line holding an invalid byte sent it into an endless
 * loop (found by resources_fuzz: "%\xe5\n"). */
static size_t utf8_bad_at(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c == 0) return i;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t n;
        uint32_t cp;
        if (c >= 0xc2 && c <= 0xdf) n = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef) n = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4) n = 3, cp = c & 0x07;
        else return i;
        if (i + n >= len) return i; /* cut off */
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80) return i;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return i;
        i += n + 1;
    }
    return len;
}

int cg_model_yaml_parse_limit(const char *name, const char *data, size_t len, int json,
                              size_t max_nodes, cg_ystream_t *out, cg_buf_t *errors)
{
    size_t bad = utf8_bad_at((const unsigned char *)data, len);
    if (bad < len) {
        int line = 1, col = 1;
        for (size_t i = 0; i < bad; i++) {
            if (data[i] == '\n') line++, col = 1;
            else col++;
        }
        cg_buf_printf(errors, "%s:%d:%d: not UTF-8 text (byte 0x%02x)\n", name, line, col, (unsigned char)data[bad]);
        return CG_EPARSE;
    }
    builder_t b = {.name = name,
                   .errors = errors,
                   .out = out,
                   .last_line = 1,
                   .last_col = 1,
                   .max_nodes = max_nodes};
    struct fy_diag_cfg dcfg;
    fy_diag_cfg_default(&dcfg);
    dcfg.fp = NULL; /* never print: errors are collected and reported with our positions */
    dcfg.output_fn = NULL;
    dcfg.colorize = false;
    struct fy_diag *diag = fy_diag_create(&dcfg);
    if (diag == NULL) return CG_ENOMEM;
    fy_diag_set_collect_errors(diag, true);
    struct fy_parse_cfg cfg = {
        .flags = FYPCF_QUIET | FYPCF_COLLECT_DIAG | FYPCF_DEFAULT_VERSION_1_2 |
                 (json ? FYPCF_JSON_FORCE : FYPCF_JSON_NONE),
        .diag = diag,
    };
    struct fy_parser *p = fy_parser_create(&cfg);
    if (p == NULL) {
        fy_diag_destroy(diag);
        return CG_ENOMEM;
    }
    int rc = 0;
    if (len == 0) goto Exit; /* libfyaml refuses empty input; it is an empty stream */
    if (fy_parser_set_string(p, data, len) != 0) {
        rc = CG_ENOMEM;
        goto Exit;
    }
    struct fy_event *e;
    while (!b.failed && (e = fy_parser_parse(p)) != NULL) {
        on_event(&b, e);
        fy_parser_event_free(p, e);
    }
    if (fy_parser_get_stream_error(p) || fy_diag_got_error(diag)) {
        void *it = NULL;
        struct fy_diag_error *de;
        int reported = 0;
        while ((de = fy_diag_errors_iterate(diag, &it)) != NULL && !reported) {
            if (de->type < FYET_ERROR) continue;
            cg_buf_printf(errors, "%s:%d:%d: %s\n", name, de->line, de->column,
                          de->msg ? de->msg : "syntax error");
            reported = 1;
        }
        if (!reported && !b.failed)
            cg_buf_printf(errors, "%s:%d:%d: invalid YAML\n", name, b.last_line, b.last_col);
        b.failed = 1;
    }
    /* the document being built when an error hit is incomplete: drop it */
    if (b.failed && b.in_doc && out->ndocs > 0) free_doc(&out->docs[--out->ndocs]);
    for (size_t i = 0; i < b.depth; i++) free(b.stack[i].anchor);
    if (b.failed) rc = CG_EPARSE;
Exit:
    free_anchors(&b);
    fy_parser_destroy(p);
    fy_diag_destroy(diag);
    return rc;
}
