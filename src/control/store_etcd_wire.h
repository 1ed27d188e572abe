/* The etcd backend's pure half (store_etcd.c): keys, base64, the JSON bodies of the v3 gateway's
 * requests and the parsing of its answers, apart from any connection so that tests can feed
 * them etcd's answers by hand.
 *
 * Keys, all under "/crossgate/":
 *   resources/KIND/CLUSTER/NAMESPACE/NAME  one resource (its mod_revision is its version,
 *                                          its create_revision its creation order)
 *   leases/ID                              one instance lease
 *   meta/versions                          the snapshot versions' bound (decimal)
 *   meta/store                             written on first open: leases could be kept
 * Each segment is percent-encoded (all but A-Z a-z 0-9 . _ -), so that a "/" in a name
 * cannot make two identities one key. */
#ifndef CG_CONTROL_STORE_ETCD_WIRE_H
#define CG_CONTROL_STORE_ETCD_WIRE_H

#include "core/buf.h"
#include "core/list.h"
#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

#define CG_ETCD_PREFIX "/crossgate/"

/* The key of a resource (appended to out, NUL-terminated). */
void cg_etcd_res_key(cg_buf_t *out, cg_model_kind_t kind, const char *cluster, const char *ns,
                     const char *name);
/* The key of a lease; of a meta entry. */
void cg_etcd_lease_key(cg_buf_t *out, const char *id);

/* Standard base64 with padding, appended. decode: 0, or CG_EPARSE for anything else. */
void cg_etcd_b64_encode(cg_buf_t *out, const void *p, size_t n);
int cg_etcd_b64_decode(cg_buf_t *out, const char *s, size_t n);

/* A range request body: the one key, or with prefix set every key that starts with it. */
void cg_etcd_range_body(cg_buf_t *out, const char *key, int prefix);

/* A transaction being built: compares (mod_revision equal to rev; 0 is "does not exist"),
 * then puts and deletes, all in one /v3/kv/txn. */
typedef struct cg_etcd_txn {
    cg_buf_t compare, success;
    size_t ncompare, nsuccess;
} cg_etcd_txn_t;

void cg_etcd_txn_compare_mod(cg_etcd_txn_t *t, const char *key, uint64_t rev);
void cg_etcd_txn_put(cg_etcd_txn_t *t, const char *key, const char *value, size_t len);
void cg_etcd_txn_delete(cg_etcd_txn_t *t, const char *key);
/* The request body (appended to out); the txn is freed. */
void cg_etcd_txn_body(cg_etcd_txn_t *t, cg_buf_t *out);
void cg_etcd_txn_free(cg_etcd_txn_t *t);

/* One key-value of a range answer, decoded. Owns its strings (NUL-terminated). */
typedef struct cg_etcd_kv {
    char *key, *value;
    size_t value_len;
    uint64_t create_rev, mod_rev;
} cg_etcd_kv_t;

typedef struct cg_etcd_answer {
    uint64_t revision; /* header.revision: the store's revision after the request */
    int succeeded;     /* a txn: its compares held */
    CG_VEC(cg_etcd_kv_t) kvs;
} cg_etcd_answer_t;

/* What an answer says. An HTTP status other than 200 with etcd's {"error", "code"}:
 * CG_EAGAIN for the codes that mean "try again" (unavailable, deadline, no leader) and
 * CG_EIO for others, with etcd's message in err; a 200 that is not a well-formed answer:
 * CG_EPARSE. 0 with a filled in; free it with cg_etcd_answer_free either way. */
int cg_etcd_answer_parse(int status, const char *body, size_t len, cg_etcd_answer_t *a,
                         cg_buf_t *err);
void cg_etcd_answer_free(cg_etcd_answer_t *a);

#endif
