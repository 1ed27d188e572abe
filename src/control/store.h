/* The control plane's resource store: canonical documents with identity and versions in SQLite
 * (WAL, one transaction per request), mirrored in memory with each document decoded. */
#ifndef CG_CONTROL_STORE_H
#define CG_CONTROL_STORE_H

#include "core/buf.h"
#include "core/list.h"
#include "model/model.h"

#include <stdint.h>

typedef struct sqlite3 sqlite3;

/* One stored resource. Owns its strings and set. */
typedef struct cg_control_res {
    cg_model_kind_t kind;
    char *cluster, *namespace_, *name; /* "" when absent */
    char *json;                        /* canonical document (compact JSON) */
    uint64_t version;                  /* the revision at which it last changed */
    uint64_t seq;                      /* creation order: the order translation sees */
    uint64_t updated_us;               /* wall clock of the last change */
    cg_resource_set_t *set;            /* json decoded alone; NULL if it no longer validates */
} cg_control_res_t;

typedef enum {
    CG_CONTROL_CREATED,
    CG_CONTROL_CONFIGURED,
    CG_CONTROL_UNCHANGED,
    CG_CONTROL_DELETED,
    CG_CONTROL_NOT_FOUND,
} cg_control_action_t;

/* What a request did to one resource. Owns its strings. */
typedef struct cg_control_result {
    cg_model_kind_t kind;
    char *cluster, *namespace_, *name;
    cg_control_action_t action;
    uint64_t version; /* after the request; 0 for deleted / not found */
} cg_control_result_t;

typedef CG_VEC(cg_control_result_t) cg_control_results_t;

typedef struct cg_control_store {
    sqlite3 *db;
    CG_VEC(cg_control_res_t *) res; /* in seq order */
    uint64_t revision;              /* increments with every request that changes something */
    uint64_t next_seq;
    cg_resource_set_t *view; /* every decodable resource, shallow, rebuilt on change */
} cg_control_store_t;

/* Opens (creating) DIR/crossgate.db and loads it. On failure writes one line to err and
 * returns CG_EIO. */
int cg_control_store_open(cg_control_store_t *st, const char *dir, cg_buf_t *err);
void cg_control_store_close(cg_control_store_t *st);

/* Creates or replaces every document of one file's content, all or nothing. name is used in
 * error positions (and ".json" selects JSON). Returns 0 with one result per document, CG_EPARSE
 * with "file:line:col: path: message" lines in errors (nothing changed), or CG_EIO. */
int cg_control_store_apply(cg_control_store_t *st, const char *name, const char *data, size_t len,
                           cg_control_results_t *results, cg_buf_t *errors);
/* Deletes the resources the documents of data identify (missing ones: CG_CONTROL_NOT_FOUND). */
int cg_control_store_delete_docs(cg_control_store_t *st, const char *name, const char *data,
                                 size_t len, cg_control_results_t *results, cg_buf_t *errors);
/* Deletes one resource by identity (NULL or "" cluster/namespace: absent). */
int cg_control_store_delete(cg_control_store_t *st, cg_model_kind_t kind, const char *cluster,
                            const char *namespace_, const char *name, cg_control_results_t *results,
                            cg_buf_t *errors);

const cg_control_res_t *cg_control_store_find(const cg_control_store_t *st, cg_model_kind_t kind,
                                              const char *cluster, const char *namespace_,
                                              const char *name);
/* Every resource as one set for translation, in creation order. Valid until the next change. */
static inline const cg_resource_set_t *cg_control_store_view(const cg_control_store_t *st)
{
    return st->view;
}

void cg_control_results_free(cg_control_results_t *r);
/* "created", "configured", "unchanged", "deleted", "not found" */
const char *cg_control_action_name(cg_control_action_t a);
/* A kind as users type it: gateway, gateways, gw, cluster(s), service(s), svc, any case. */
int cg_control_kind_parse(const char *s, size_t len, cg_model_kind_t *kind);

#endif
