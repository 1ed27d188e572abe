/* Declarative field tables: one table per object drives decoding, validation, defaults,
 * freeing and the reference docs. The control plane validates with the same tables. */
#ifndef CG_MODEL_SCHEMA_H
#define CG_MODEL_SCHEMA_H

#include "core/buf.h"
#include "model/yaml.h"

#include <stddef.h>
#include <stdint.h>

/* How a field is stored in its C struct (at cg_model_field_t.off). */
typedef enum {
    CG_MT_STRING,      /* char *, NULL when absent */
    CG_MT_INT,         /* int64_t */
    CG_MT_NUMBER,      /* double */
    CG_MT_BOOL,        /* int, 0 or 1 */
    CG_MT_DURATION,    /* int64_t milliseconds, written "250ms", "1.5s", "2m", "1h", "1m30s", "0" */
    CG_MT_STRUCT,      /* a struct embedded at off, described by sub */
    CG_MT_OBJECT,      /* a pointer to a struct described by sub, NULL when absent */
    CG_MT_LIST,        /* a pointer to an array of sub structs; count (size_t) at aux */
    CG_MT_STRLIST,     /* char **, count (size_t) at aux */
    CG_MT_MAP,         /* string → string: cg_model_kv_t *, count (size_t) at aux */
    CG_MT_OBJMAP,      /* string → object: array of elem_size structs, key (char *) at offset 0,
                          value decoded with sub at val_off; count (size_t) at aux */
    CG_MT_UNSUPPORTED, /* a Tetrate field crossgate does not implement: always an error */
} cg_model_type_t;

typedef struct cg_model_kv {
    char *key, *value;
} cg_model_kv_t;

/* Where a value was written. file points into the resource set (or the caller's name). */
typedef struct cg_model_pos {
    const char *file;
    int line, col;
} cg_model_pos_t;

enum {
    CG_MF_REQUIRED = 1 << 0, /* absent → error */
    CG_MF_DEFAULT = 1 << 1,  /* absent → def_i / def_f / def_s */
    CG_MF_HAS = 1 << 2,      /* an int at aux is set to 1 when the field is present (scalars) */
    CG_MF_NONEMPTY = 1 << 3, /* strings: length >= 1; lists and maps: at least one entry */
    CG_MF_LOWER = 1 << 4,    /* strings: stored lowercase */
    CG_MF_EXCL = 1 << 5,     /* ints: the value excl is not allowed */
    CG_MF_BOUNDS = 1 << 6,   /* ints, durations: min..max; numbers: fmin..fmax */
};

typedef struct cg_model_schema cg_model_schema_t;
typedef struct cg_model_ctx cg_model_ctx_t;

/* Extra check of a string (or a map key): returns NULL when fine, else what was expected. */
typedef const char *(*cg_model_strcheck_fn)(const char *s);

typedef struct cg_model_field {
    const char *name; /* the YAML/JSON key */
    cg_model_type_t type;
    unsigned flags;
    size_t off; /* the value */
    size_t aux; /* LIST/STRLIST/MAP/OBJMAP: count; CG_MF_HAS: presence flag */
    const cg_model_schema_t *sub;
    int64_t min, max, excl;
    double fmin, fmax;
    int64_t def_i;
    double def_f;
    const char *def_s;
    const char *const *enums;      /* STRING, STRLIST: allowed values, NULL-terminated */
    cg_model_strcheck_fn check;    /* STRING, STRLIST items, MAP values */
    cg_model_strcheck_fn keycheck; /* MAP, OBJMAP keys */
    size_t elem_size, val_off;     /* OBJMAP */
    const char *doc;               /* one line; for CG_MT_UNSUPPORTED, the reason its error gives */
} cg_model_field_t;

/* At most/exactly one of the named fields may be present. */
typedef struct cg_model_oneof {
    const char *names[4];
    int exactly; /* 1: exactly one; 0: at most one */
} cg_model_oneof_t;

struct cg_model_schema {
    const char *name; /* the type's name in docs and messages: "HttpRouteRule" */
    size_t size;      /* of the C struct */
    const cg_model_field_t *fields;
    size_t nfields;
    const cg_model_oneof_t *oneofs;
    size_t noneofs;
    int has_pos; /* the struct stores its own position at pos_off */
    size_t pos_off;
    /* Cross-field rules a table cannot say; runs after the fields decoded without error. */
    void (*check)(cg_model_ctx_t *ctx, const cg_ynode_t *map, void *obj);
};

/* Per-document decode state: the file name, the field path and the errors so far. */
#define CG_MODEL_MAX_ERRORS 20
struct cg_model_ctx {
    const char *file;
    cg_buf_t *errors;
    int nerrors;    /* in this document */
    char path[512]; /* "spec.http[0].routing" */
    size_t pathlen;
    size_t budget; /* nodes left to visit: aliases may fan out */
};

void cg_model_ctx_init(cg_model_ctx_t *ctx, const char *file, cg_buf_t *errors);

/* Decodes mapping `node` into obj (sizeof = schema->size, zeroed by the caller) and validates
 * it. Errors go to ctx; returns the number of errors this call added. obj is always left in a
 * state cg_model_schema_free can release. */
int cg_model_decode(cg_model_ctx_t *ctx, const cg_model_schema_t *schema, const cg_ynode_t *node,
                    void *obj);
/* Frees what cg_model_decode stored in obj (not obj itself). */
void cg_model_schema_free(const cg_model_schema_t *schema, void *obj);

/* Reports "file:line:col: path[.sub]: message" at node (NULL = the document start). */
void cg_model_errorf(cg_model_ctx_t *ctx, const cg_ynode_t *node, const char *sub, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));
/* The field path stack: push ".name" or "[i]" (printf-style), pop back to a saved length. */
size_t cg_model_path_push(cg_model_ctx_t *ctx, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void cg_model_path_pop(cg_model_ctx_t *ctx, size_t saved)
{
    ctx->pathlen = saved;
    ctx->path[saved] = '\0';
}

/* Parses a duration ("250ms", "1.5s", "2m", "1h", "1m30s", "0") to milliseconds. Returns 0
 * or CG_EINVAL. */
int cg_model_parse_duration(const char *s, int64_t *ms);
/* Finds a field of a schema by YAML name. */
const cg_model_field_t *cg_model_schema_field(const cg_model_schema_t *schema, const char *name);

/* String checks shared by the tables. */
const char *cg_model_check_ip(const char *s);       /* an IPv4 or IPv6 literal */
const char *cg_model_check_hostname(const char *s); /* DNS name, "*.name" or "*" */
const char *cg_model_check_regex(const char *s);    /* compiles as a POSIX extended regex */
const char *cg_model_check_name(const char *s);  /* a resource name: letters, digits, -_. */
const char *cg_model_check_label_key(const char *s); /* letters, digits, -_./, not empty */

#endif
