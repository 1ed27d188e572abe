/* The results document: the answer of POST /v1/apply, POST /v1/delete and DELETE
 * /v1/resources/{kind}/{name} (docs/api.md): what one request did to each resource, the
 * revision after it and the instances whose snapshot could not follow. The control plane
 * writes it and the CLI reads it, both through this one description:
 *
 *   {"results":[{"kind":"Gateway","name":"edge","namespace":"","cluster":"",
 *                "action":"created","version":9}],
 *    "revision":9,"warnings":["instance ... keeps its last snapshot: ..."]} */
#ifndef CG_CONTROL_RESULTS_H
#define CG_CONTROL_RESULTS_H

#include "core/buf.h"
#include "core/json.h"
#include "core/list.h"
#include "model/model.h"

#include <stdint.h>

typedef enum {
    CG_CONTROL_CREATED,
    CG_CONTROL_CONFIGURED,
    CG_CONTROL_UNCHANGED,
    CG_CONTROL_DELETED,
    CG_CONTROL_NOT_FOUND,
} cg_control_action_t;

/* What a request did to one resource. Owns its strings ("" when absent). */
typedef struct cg_control_result {
    cg_model_kind_t kind;
    char *cluster, *namespace_, *name;
    cg_control_action_t action;
    uint64_t version; /* after the request; 0 for deleted / not found */
} cg_control_result_t;

typedef CG_VEC(cg_control_result_t) cg_control_results_t;

void cg_control_results_free(cg_control_results_t *r);
/* "created", "configured", "unchanged", "deleted", "not found" */
const char *cg_control_action_name(cg_control_action_t a);

/* Writes the identity members "kind", "name", "namespace", "cluster" of an object (results
 * here, resource items in GET /v1/resources): absent strings as "". */
void cg_control_identity_json(cg_jw_t *w, cg_model_kind_t kind, const char *name,
                              const char *namespace_, const char *cluster);

/* The whole document. Owns everything in it. */
typedef struct cg_control_results_doc {
    cg_control_results_t results;
    uint64_t revision;
    CG_VEC(char *) warnings;
} cg_control_results_doc_t;

/* Appends the document (compact JSON, no newline). */
int cg_control_results_encode(const cg_control_results_doc_t *d, cg_buf_t *out);
/* Reads a document into *d (zeroed first). Members it does not know are ignored (a newer
 * control plane may add some); a missing or mistyped one is an error: one line in err, what
 * was read freed, CG_EINVAL. */
int cg_control_results_decode(const char *body, size_t len, cg_control_results_doc_t *d,
                              cg_buf_t *err);
void cg_control_results_doc_clear(cg_control_results_doc_t *d);

#endif
