/* Resource documents as canonical text: a YAML/JSON node tree re-serialised as compact JSON
 * (what the control plane stores and compares), and a stored document read back from an
 * answer as that JSON again or as block YAML (what `get -o json` and `get -o yaml` print). */
#ifndef CG_CONTROL_DOC_H
#define CG_CONTROL_DOC_H

#include "core/buf.h"
#include "core/json.h"
#include "model/yaml.h"

#include <stdint.h>

/* Output beyond this many bytes is refused (aliases may expand a small input). */
#define CG_CONTROL_DOC_MAX (8u << 20)

/* Appends n as compact JSON: mapping keys in written order, strings escaped, integers in
 * decimal, booleans and null lowercase. Returns 0 or CG_ELIMIT. */
int cg_control_doc_json(const cg_ynode_t *n, cg_buf_t *out);
/* The same for a value parsed with core/json (a stored document in an API answer): what
 * cg_control_doc_json wrote, written again. Returns 0 or CG_ELIMIT. */
int cg_control_doc_json_value(const cg_json_t *v, cg_buf_t *out);
/* The same for a stored Secret as answers show it: the values of `key` and `tls.key` under
 * `stringData` / `data` are written "<redacted>" (certificates are kept). */
int cg_control_doc_json_redacted(const cg_json_t *v, cg_buf_t *out);
/* Appends v as block-style YAML (a mapping or list at indentation 0), ending in a newline;
 * strings that could read as something else are double-quoted. Returns 0 or CG_ELIMIT. */
int cg_control_doc_yaml(const cg_json_t *v, cg_buf_t *out);

/* GET /v1/resources/{kind}[/{name}], described once: a list answer is {"kind", "revision",
 * "items": [item...]}, a one-resource answer is the item alone. */
typedef struct cg_control_doc_item {
    const char *kind, *name, *namespace_, *cluster; /* "" for no namespace or cluster */
    uint64_t version;
    const char *updated;       /* ISO 8601, UTC */
    int valid;                 /* the stored document translates */
    const char *resource_json; /* writing: the stored canonical JSON, written as it is */
    const cg_json_t *resource; /* reading: the same, parsed */
} cg_control_doc_item_t;

void cg_control_doc_item_write(cg_jw_t *w, const cg_control_doc_item_t *it);
/* Strings borrowed from obj; absent members read as NULL, 0 or false. */
void cg_control_doc_item_read(const cg_json_t *obj, cg_control_doc_item_t *out);
/* Opens a list answer up to its items; the caller writes each item, then cg_jw_end twice. */
void cg_control_doc_list_open(cg_jw_t *w, const char *kind, uint64_t revision);
/* The items of a list answer (NULL when root is one item) and its kind. */
const cg_json_t *cg_control_doc_list_read(const cg_json_t *root, const char **kind);

/* A node tree's member's string value (NULL when absent or not a string). */
const char *cg_control_doc_str(const cg_ynode_t *map, const char *key);

#endif
