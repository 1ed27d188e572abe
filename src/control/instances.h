/* Gateway instances and their leases: registration, heartbeat, expiry. Pure logic: time is
 * passed in (monotonic milliseconds), nothing here does I/O. */
#ifndef CG_CONTROL_INSTANCES_H
#define CG_CONTROL_INSTANCES_H

#include "core/buf.h"
#include "core/list.h"
#include "translate/snapshot.h"
#include "translate/translate.h"

#include <stdint.h>

#define CG_CONTROL_HEARTBEAT_MS 1000
#define CG_CONTROL_TTL_MS       3000

/* One registered instance. Owns its strings. */
typedef struct cg_control_inst {
    char id[33]; /* 32 hex digits, opaque to clients */
    char *cluster, *namespace_, *address;
    char *admin;        /* may be NULL */
    uint16_t mtls_port; /* 0: no mesh identity */
    cg_snap_label_t *labels;
    size_t nlabels;
    uint64_t registered_ms, heartbeat_ms; /* monotonic */
    uint64_t stored_heartbeat_ms;         /* the heartbeat the store's expiry counts from */
    /* Time past the TTL before the lease expires: a lease last renewed by another control
     * plane (leases_store.c); 0 again with a heartbeat here. */
    uint64_t grace_ms;
    uint64_t registered_wall_us;
    char owner[24]; /* id of the token that registered it ("admin" for the admin credential) */
    void *data;     /* the owner's per-instance state (the watch entry) */
} cg_control_inst_t;

typedef enum {
    CG_CONTROL_GONE_EXPIRED,
    CG_CONTROL_GONE_DEREGISTERED,
    CG_CONTROL_GONE_REPLACED
} cg_control_gone_t;

typedef struct cg_control_leases cg_control_leases_t;
/* Called just before an instance is freed. */
typedef void (*cg_control_lease_gone_cb)(cg_control_leases_t *l, cg_control_inst_t *inst,
                                         cg_control_gone_t why);

struct cg_control_leases {
    CG_VEC(cg_control_inst_t *) items; /* registration order */
    uint64_t ttl_ms;                   /* default CG_CONTROL_TTL_MS */
    /* Fail-safe against our own stalls: with sweep_ms set, a sweep that comes much later than
     * sweep_ms after the last one (the process was stopped, swapped, starved) first credits
     * every lease with the time the control plane itself was not running, so only heartbeats
     * missed while it ran can expire a lease (Consul and etcd guard this case too). */
    uint64_t sweep_ms, last_sweep_ms;
    uint64_t stalls, stalled_ms;      /* stalls credited, and their total */
    cg_control_lease_gone_cb on_gone; /* may be NULL */
    void *data;
};

/* Parses a registration body (JSON: cluster, namespace, labels, address, admin) into a new
 * instance without id or times. On error appends one line to err and returns CG_EINVAL. */
int cg_control_inst_parse(const char *body, size_t len, cg_control_inst_t **out, cg_buf_t *err);
void cg_control_inst_free(cg_control_inst_t *inst);
/* The translation view of an instance (borrowing its strings). */
cg_instance_t cg_control_inst_view(const cg_control_inst_t *inst);

/* Gives inst a new random id (now_ms mixes in when the system has no randomness). */
void cg_control_inst_new_id(cg_control_inst_t *inst, uint64_t now_ms);
/* Takes inst (from cg_control_inst_parse), gives it id (random unless already set) and lease,
 * and replaces any instance with the same cluster, namespace, address and labels. */
void cg_control_leases_register(cg_control_leases_t *l, cg_control_inst_t *inst, uint64_t now_ms);
/* The registered instance with inst's identity (cluster, namespace, address, labels), or NULL. */
const cg_control_inst_t *cg_control_leases_same(const cg_control_leases_t *l,
                                                const cg_control_inst_t *inst);
/* Renews a lease. Returns 0, or CG_ENOENT when the id is unknown (expired or never known). */
int cg_control_leases_heartbeat(cg_control_leases_t *l, const char *id, uint64_t now_ms);
cg_control_inst_t *cg_control_leases_find(const cg_control_leases_t *l, const char *id);
/* Deregisters. Returns 0 or CG_ENOENT. */
int cg_control_leases_remove(cg_control_leases_t *l, const char *id);
/* Removes every instance whose last heartbeat is ttl_ms (plus its grace_ms) or more before
 * now; returns how many. */
size_t cg_control_leases_sweep(cg_control_leases_t *l, uint64_t now_ms);
/* Frees everything (on_gone is not called). */
void cg_control_leases_destroy(cg_control_leases_t *l);

#endif
