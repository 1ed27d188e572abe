/* The control plane's resource store: canonical documents with identity and versions behind a
 * backend ops table (SQLite today, store_sqlite.c), with each document decoded in memory.
 *
 * Two halves. The request half (cg_control_store_apply / _delete_docs / _delete) parses and
 * validates a request body, decides per document what changes, and hands the backend one
 * transaction of puts and deletes; it is the same for every backend. The backend half
 * (cg_control_store_ops_t) keeps the resources durably and answers reads.
 *
 * Revisions: the store has one revision, 0 when empty and new. Every transaction that changes
 * something (a non-empty one) raises it by exactly one, and every resource it writes gets that
 * revision as its version. A request that changes nothing leaves the revision alone.
 *
 * Errors: functions return 0 or a negative CG_E*. A request rejected for its content returns
 * CG_EPARSE with "file:line:col: path: message" lines in errors and changes nothing; an apply
 * whose metadata.resourceVersion does not match the stored resource returns CG_ECONFLICT, the
 * same way; a failed write returns CG_EIO (the backend logs the cause) and changes nothing, in
 * memory or on disk.
 *
 * Callers use the functions below only; the fields of cg_control_store_t are the backend's. */
#ifndef CG_CONTROL_STORE_H
#define CG_CONTROL_STORE_H

#include "control/results.h"
#include "core/buf.h"
#include "core/list.h"
#include "core/loop.h"
#include "model/model.h"

#include <stdint.h>
#include <sys/types.h>

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

/* ---- the backend interface ---- */

/* A condition of a transaction: the resource with this identity is at this version (0: it
 * does not exist). Strings borrowed. */
typedef struct cg_control_check {
    cg_model_kind_t kind;
    const char *cluster, *namespace_, *name;
    uint64_t version;
} cg_control_check_t;

/* One request's changes, committed all or nothing. An identity (kind, cluster, namespace,
 * name) appears at most once in a transaction. */
typedef struct cg_control_txn {
    /* Resources to create or replace, identity, json and set filled in. commit stamps each
     * with version (the new revision), seq (kept from the resource it replaces, else the next
     * one) and updated_us (now), and owns them afterwards, on success and failure alike. */
    CG_VEC(cg_control_res_t *) puts;
    /* Resources to delete, as returned by get (borrowed; each one stored). */
    CG_VEC(const cg_control_res_t *) dels;
    /* Conditions checked inside the transaction, before anything changes: one that does not
     * hold fails the commit with CG_ECONFLICT (apply's compare-and-swap). */
    CG_VEC(cg_control_check_t) checks;
} cg_control_txn_t;

typedef struct cg_control_store cg_control_store_t;

/* One instance's lease as the store keeps it (instances.h holds the live ones). Owns its
 * strings. */
typedef struct cg_control_lease {
    char *id, *owner;
    char *registration;     /* the registration body (JSON, translate/registration.h) */
    uint64_t registered_us; /* wall clock */
    uint64_t expires_us;    /* wall clock at which it ends unless renewed */
} cg_control_lease_t;

typedef CG_VEC(cg_control_lease_t) cg_control_lease_vec_t;

typedef struct cg_control_store_ops {
    const char *name; /* "sqlite" */
    /* Opens (creating) the store kept under dir and loads it; sets st->impl. On failure writes
     * one line to err, leaves nothing open and returns CG_EIO. */
    int (*open)(cg_control_store_t *st, const char *dir, cg_buf_t *err);
    void (*close)(cg_control_store_t *st); /* also after a failed open; st->impl NULL after */
    /* Optional. Begins the backend's own work on the loop (etcd: the watch that keeps the
     * mirror, the read of a store unreachable at open); 0 or CG_E*. The backend then calls
     * on_change and on_leases for the changes that reach it from other writers. */
    int (*start)(cg_control_store_t *st, cg_loop_t *loop);
    /* Optional (NULL: always). Does the store hold the backend's state? An etcd store opened
     * while etcd was unreachable does not until a read succeeds: every request is answered
     * "store unavailable" meanwhile (st->unavailable says why). */
    int (*ready)(const cg_control_store_t *st);
    /* Optional (NULL or 0: versions are the control plane's own count, kept above
     * versions_held). Otherwise snapshot versions are this plus the revision at which each
     * snapshot was computed, the same in every process on the store: a gateway that moves
     * between control planes keeps its version. */
    uint64_t (*version_base)(const cg_control_store_t *st);
    uint64_t (*revision)(const cg_control_store_t *st);
    /* The resource with this identity ("" for an absent cluster or namespace), or NULL. */
    const cg_control_res_t *(*get)(const cg_control_store_t *st, cg_model_kind_t kind,
                                   const char *cluster, const char *namespace_, const char *name);
    /* Every resource in creation (seq) order: *items gets the array, the count is returned. */
    size_t (*list)(const cg_control_store_t *st, const cg_control_res_t *const **items);
    /* Every decodable resource as one set, in creation order, borrowing the resources' sets. */
    const cg_resource_set_t *(*view)(const cg_control_store_t *st);
    /* Applies a non-empty transaction durably, then in memory: 0, or CG_ECONFLICT (a check
     * failed) or CG_EIO, with nothing changed. Pointers from get, list and view are invalid
     * after a successful commit. */
    int (*commit)(cg_control_store_t *st, cg_control_txn_t *txn);

    /* Snapshot versions (watch.h) must never go backwards, across restarts included, or a
     * gateway that holds version N waits forever for one above it. versions_held is the
     * highest version the control plane may have handed out (0 for a new store);
     * versions_hold records a higher bound durably, before any version up to it goes out.
     * 0, or CG_EIO with the old bound kept. */
    uint64_t (*versions_held)(const cg_control_store_t *st);
    int (*versions_hold)(cg_control_store_t *st, uint64_t upto);

    /* Instance leases, kept so that a restarted control plane knows every instance registered
     * before it. Each write is one transaction: 0, or CG_EIO with nothing changed.
     * lease_put stores one lease, deleting the lease replaces (NULL: none) with it;
     * lease_renew sets the expiry of n leases (id and expires_us read); lease_drop deletes n
     * leases by id (deregistered, expired). lease_list appends every stored lease to out in
     * registration order (the caller frees them with cg_control_lease_vec_free) and sets
     * *kept to 0 when the store could not have kept the leases of an earlier run (it had no
     * lease table yet: new, or written by a version without leases). */
    int (*lease_put)(cg_control_store_t *st, const cg_control_lease_t *l, const char *replaces);
    int (*lease_renew)(cg_control_store_t *st, const cg_control_lease_t *items, size_t n);
    int (*lease_drop)(cg_control_store_t *st, const char *const *ids, size_t n);
    int (*lease_list)(cg_control_store_t *st, cg_control_lease_vec_t *out, int *kept);

    /* Optional (NULL: tokens stay in DATA/tokens, tokens.h). The control-plane tokens kept in
     * the store, for every control plane on it: tokens_put stores their text (0, or CG_EIO
     * with nothing changed); tokens_get appends the stored text to out and returns 1, or 0
     * when none was ever stored. on_tokens tells of another writer's change. */
    int (*tokens_put)(cg_control_store_t *st, const char *text, size_t len);
    int (*tokens_get)(const cg_control_store_t *st, cg_buf_t *out);
} cg_control_store_ops_t;

/* A store: its backend and the backend's state (touched by the backend only). Zero when not
 * open. */
struct cg_control_store {
    const cg_control_store_ops_t *ops;
    void *impl;
    /* Called after every committed change of the resources (the control plane recomputes
     * snapshots there), with data; NULL: nobody listens. Set by the store's user. */
    void (*on_change)(cg_control_store_t *st, void *data);
    /* Called after the stored leases changed by another writer (lease_list tells them); NULL:
     * nobody listens. */
    void (*on_leases)(cg_control_store_t *st, void *data);
    /* Called after another writer changed the stored tokens (tokens_get tells them). */
    void (*on_tokens)(cg_control_store_t *st, void *data);
    void *data;
    /* Why the store is unreachable, one line, set by a backend whose write returns CG_EAGAIN
     * (nothing changed, the store could not be reached: answered 503 "store unavailable"). */
    char unavailable[256];
};

extern const cg_control_store_ops_t cg_control_store_sqlite; /* DIR/crossgate.db */
/* etcd v3 through its JSON gateway: "dir" is the endpoint list, "etcd://HOST:PORT[,...]"
 * (store_etcd.c). */
extern const cg_control_store_ops_t cg_control_store_etcd;
/* One etcd request to one endpoint, connect included (--store-timeout). */
#define CG_CONTROL_STORE_ETCD_TIMEOUT_MS 2000
extern uint32_t cg_control_store_etcd_timeout_ms;

/* For backends: frees a resource (NULL is fine); decodes r->json into r->set (NULL and errors
 * when it does not hold exactly one valid resource), naming it "Kind/name" in positions. */
void cg_control_res_free(cg_control_res_t *r);
void cg_control_res_decode(cg_control_res_t *r, cg_buf_t *errors);
/* For backends' in-memory mirrors: the index of the resource with this identity among n, or
 * -1; the view (every decodable resource as one set, borrowing their sets, in the order given)
 * rebuilt in *view, the old one freed; a view freed (NULL is fine). */
ssize_t cg_control_res_find(cg_control_res_t *const *items, size_t n, cg_model_kind_t kind,
                            const char *cluster, const char *namespace_, const char *name);
void cg_control_view_rebuild(cg_resource_set_t **view, cg_control_res_t *const *items, size_t n);
void cg_control_view_free(cg_resource_set_t *v);

/* ---- the store ---- */

/* Opens the store with a backend (cg_control_store_open: SQLite, DIR/crossgate.db). */
int cg_control_store_open_backend(cg_control_store_t *st, const cg_control_store_ops_t *ops,
                                  const char *dir, cg_buf_t *err);
int cg_control_store_open(cg_control_store_t *st, const char *dir, cg_buf_t *err);
void cg_control_store_close(cg_control_store_t *st);
/* 1 while open: the store answers requests. */
int cg_control_store_is_open(const cg_control_store_t *st);
/* Begins the backend's work on the loop (start above; nothing for SQLite). */
int cg_control_store_start(cg_control_store_t *st, cg_loop_t *loop);
/* Why the store could not be reached (st->unavailable), or fallback when it did not say: what
 * follows "store unavailable: " in an answer. */
const char *cg_control_store_why(const cg_control_store_t *st, const char *fallback);
/* 1 when open and holding the backend's state (ready above). */
int cg_control_store_ready(const cg_control_store_t *st);
/* The snapshot versions' base (version_base above), 0 for a count of the control plane's own. */
uint64_t cg_control_store_version_base(const cg_control_store_t *st);

/* Creates or replaces every document of one file's content, all or nothing. name is used in
 * error positions (and ".json" selects JSON). A document whose metadata carries
 * resourceVersion is applied only while the stored resource is at that version ("0": only
 * while none is stored). Returns 0 with one result per document, CG_EPARSE or CG_ECONFLICT
 * with "file:line:col: ..." lines in errors (nothing changed), or CG_EIO. */
int cg_control_store_apply(cg_control_store_t *st, const char *name, const char *data, size_t len,
                           cg_control_results_t *results, cg_buf_t *errors);
/* Deletes the resources the documents of data identify (missing ones: CG_CONTROL_NOT_FOUND). */
int cg_control_store_delete_docs(cg_control_store_t *st, const char *name, const char *data,
                                 size_t len, cg_control_results_t *results, cg_buf_t *errors);
/* Deletes one resource by identity (NULL or "" cluster/namespace: absent). */
int cg_control_store_delete(cg_control_store_t *st, cg_model_kind_t kind, const char *cluster,
                            const char *namespace_, const char *name, cg_control_results_t *results,
                            cg_buf_t *errors);

uint64_t cg_control_store_revision(const cg_control_store_t *st);
/* NULL or "" cluster/namespace: absent. Valid until the next change. */
const cg_control_res_t *cg_control_store_find(const cg_control_store_t *st, cg_model_kind_t kind,
                                              const char *cluster, const char *namespace_,
                                              const char *name);
/* Every resource in creation order; valid until the next change. */
size_t cg_control_store_list(const cg_control_store_t *st, const cg_control_res_t *const **items);
/* Every resource as one set for translation, in creation order. Valid until the next change. */
const cg_resource_set_t *cg_control_store_view(const cg_control_store_t *st);

/* Snapshot versions and leases: the backend's, through the ops table (above). */
uint64_t cg_control_store_versions_held(const cg_control_store_t *st);
int cg_control_store_versions_hold(cg_control_store_t *st, uint64_t upto);
int cg_control_store_lease_put(cg_control_store_t *st, const cg_control_lease_t *l,
                               const char *replaces);
int cg_control_store_lease_renew(cg_control_store_t *st, const cg_control_lease_t *items, size_t n);
int cg_control_store_lease_drop(cg_control_store_t *st, const char *const *ids, size_t n);
int cg_control_store_lease_list(cg_control_store_t *st, cg_control_lease_vec_t *out, int *kept);
void cg_control_lease_vec_free(cg_control_lease_vec_t *v);
/* Tokens in the store (tokens_put and tokens_get above): 1 when the backend keeps them. */
int cg_control_store_keeps_tokens(const cg_control_store_t *st);
int cg_control_store_tokens_put(cg_control_store_t *st, const char *text, size_t len);
int cg_control_store_tokens_get(const cg_control_store_t *st, cg_buf_t *out);

/* A kind as users type it: gateway, gateways, gw, cluster(s), service(s), svc, any case. */
int cg_control_kind_parse(const char *s, size_t len, cg_model_kind_t *kind);

#endif
