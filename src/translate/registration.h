/* The registration document: what a gateway instance tells the control plane about itself
 * (POST /v1/instances, docs/api.md). The agent writes it and the control plane reads it, both
 * through this one description, with the resource model's name checks. */
#ifndef CG_TRANSLATE_REGISTRATION_H
#define CG_TRANSLATE_REGISTRATION_H

#include "core/buf.h"
#include "translate/snapshot.h"

typedef struct cg_registration {
    char *cluster, *namespace_, *address;
    char *admin; /* the instance's admin endpoint "host:port"; may be NULL */
    cg_snap_label_t *labels;
    size_t nlabels;
    /* The port where the instance takes mTLS from other gateways (it has a mesh identity whose
     * URI SAN names its cluster and namespace); 0: none, plain text only. */
    uint16_t mtls_port;
} cg_registration_t;

/* Appends the document. */
int cg_registration_encode(const cg_registration_t *r, cg_buf_t *out);

/* Reads a document into *out (zeroed first; namespace defaults to "default"). On error writes
 * one line "field: problem" (or "malformed JSON: ...") to err, frees what it read and returns
 * CG_EINVAL. */
int cg_registration_decode(const char *body, size_t len, cg_registration_t *out, cg_buf_t *err);
void cg_registration_clear(cg_registration_t *r);

/* The control plane's answer to a registration: the instance's id and how often it must
 * heartbeat within its lease (docs/api.md). */
typedef struct cg_registration_answer {
    char id[64];
    uint64_t heartbeat_ms, ttl_ms;
} cg_registration_answer_t;

/* The bounds a gateway keeps its heartbeat within, whatever a control plane says. */
#define CG_REGISTRATION_HEARTBEAT_MIN_MS 50
#define CG_REGISTRATION_HEARTBEAT_MAX_MS 60000

int cg_registration_answer_encode(const cg_registration_answer_t *a, cg_buf_t *out);
/* Reads an answer: the id must be printable and fit; heartbeat_ms must lie within the bounds
 * above (1000 when absent). CG_EINVAL with one line in err otherwise. */
int cg_registration_answer_decode(const char *body, size_t len, cg_registration_answer_t *out,
                                  cg_buf_t *err);

#endif
