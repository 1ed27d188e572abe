/* YAML/JSON text → a small node tree where every node keeps its line and column. */
#ifndef CG_MODEL_YAML_H
#define CG_MODEL_YAML_H

#include "core/buf.h"

#include <stddef.h>

typedef enum {
    CG_YNODE_SCALAR,
    CG_YNODE_MAP,
    CG_YNODE_SEQ,
} cg_ynode_kind_t;

/* How a scalar was written: this is what tells `8080` (an integer) from `"8080"` (a string). */
typedef enum {
    CG_YSCALAR_NULL,   /* empty, ~, null */
    CG_YSCALAR_BOOL,   /* true/false (YAML 1.2 core schema spellings) */
    CG_YSCALAR_INT,    /* plain decimal, 0x, 0o */
    CG_YSCALAR_FLOAT,  /* plain float, .inf, .nan */
    CG_YSCALAR_STRING, /* anything else, and every quoted/block scalar or !!str */
} cg_yscalar_type_t;

/* A node. Aliases resolve to the anchored node itself, so a node may have several parents;
 * all nodes are owned by their cg_ydoc_t. */
typedef struct cg_ynode {
    cg_ynode_kind_t kind;
    cg_yscalar_type_t stype; /* scalars */
    int line, col;           /* 1-based position of the node's first character */
    char *text;              /* scalars: value, NUL-terminated (may hold NULs: see len) */
    size_t len;
    struct cg_ynode **items; /* SEQ: n items; MAP: 2n entries, key then value */
    size_t n;
} cg_ynode_t;

/* One document of a stream. root is NULL for an empty document. */
typedef struct cg_ydoc {
    cg_ynode_t *root;
    int line, col;    /* where the document starts */
    cg_ynode_t **all; /* every node, for freeing */
    size_t nall, capall;
} cg_ydoc_t;

/* All documents of one file or buffer. */
typedef struct cg_ystream {
    cg_ydoc_t *docs;
    size_t ndocs;
} cg_ystream_t;

/* Parses data (YAML 1.2; JSON when json != 0, a YAML subset either way) into documents.
 * On a syntax error appends "name:line:col: message\n" to errors and returns CG_EPARSE; the
 * documents completed before the error stay in *out so that they can still be checked.
 * *out must be zero-initialised; release with cg_ystream_free in every case. */
int cg_model_yaml_parse(const char *name, const char *data, size_t len, int json, cg_ystream_t *out,
                        cg_buf_t *errors);

/* cg_model_yaml_parse's bound on nodes per buffer: enough for any file a person writes, and it
 * stops an alias bomb's expansion work early. */
#define CG_MODEL_YAML_MAX_NODES 200000

/* The same with another bound ("too many nodes in one file" past max_nodes), for text that is
 * machine-written and already bounded in size, such as a control-plane snapshot. */
int cg_model_yaml_parse_limit(const char *name, const char *data, size_t len, int json,
                              size_t max_nodes, cg_ystream_t *out, cg_buf_t *errors);
void cg_ystream_free(cg_ystream_t *s);

static inline cg_ynode_t *cg_ynode_key(const cg_ynode_t *map, size_t i)
{
    return map->items[2 * i];
}
static inline cg_ynode_t *cg_ynode_value(const cg_ynode_t *map, size_t i)
{
    return map->items[2 * i + 1];
}
/* The value of key `name` in a mapping, or NULL. */
cg_ynode_t *cg_ynode_get(const cg_ynode_t *map, const char *name);
/* "a mapping", "a list", "a string", "an integer"... for error messages. */
const char *cg_ynode_describe(const cg_ynode_t *n);

#endif
