/* The instance leases' durable half: every registration is in the store before it is answered,
 * renewals follow in one batch per sweep, and a start takes back the leases of the run before.
 *
 * The live leases (instances.h) stay the truth while the process runs; the store is what a
 * restart begins from. A lease taken back gets one TTL from the start, whatever expiry the
 * store holds: time the control plane was not running is credited, as for a stall (a gateway
 * could not heartbeat a process that was down), so a gateway that is still there keeps its
 * instance, its id and its watch, and one that is gone expires a TTL later. */
#include "control/api.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/log.h"
#include "translate/registration.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Wall clock at which inst's lease ends unless renewed (monotonic heartbeat + TTL). */
static uint64_t expires_us(const cg_control_t *cp, const cg_control_inst_t *inst)
{
    uint64_t end_ms = inst->heartbeat_ms + cp->leases.ttl_ms;
    uint64_t left_ms = end_ms > cp->loop->now_ms ? end_ms - cp->loop->now_ms : 0;
    return cg_clock_wall_us() + left_ms * 1000;
}

int cg_control__lease_store(cg_control_t *cp, const cg_control_inst_t *inst, const char *replaces)
{
    cg_registration_t reg = {
        .cluster = inst->cluster,
        .namespace_ = inst->namespace_,
        .address = inst->address,
        .admin = inst->admin,
        .labels = inst->labels,
        .nlabels = inst->nlabels,
        .mtls_port = inst->mtls_port,
    };
    cg_buf_t body = {0};
    cg_registration_encode(&reg, &body);
    cg_buf_append(&body, "", 1);
    cg_control_lease_t l = {
        .id = (char *)inst->id,
        .owner = (char *)inst->owner,
        .registration = body.base,
        .registered_us = inst->registered_wall_us,
        .expires_us = cg_clock_wall_us() + cp->leases.ttl_ms * 1000,
    };
    int rc = cg_control_store_lease_put(&cp->store, &l, replaces);
    cg_buf_free(&body);
    return rc;
}

void cg_control__lease_unstore(cg_control_t *cp, const char *id)
{
    if (cg_control_store_lease_drop(&cp->store, &id, 1))
        cg_log_warn("control: instance %s: its lease stays in the store until a restart expires "
                    "it",
                    id);
}

void cg_control__leases_renew(cg_control_t *cp)
{
    CG_VEC(cg_control_lease_t) batch = {0};
    for (size_t i = 0; i < cp->leases.items.len; i++) {
        const cg_control_inst_t *inst = cp->leases.items.items[i];
        if (inst->heartbeat_ms == inst->stored_heartbeat_ms) continue;
        cg_control_lease_t l = {.id = (char *)inst->id, .expires_us = expires_us(cp, inst)};
        cg_vec_push(&batch, l);
    }
    /* on failure the live leases are still right; the next sweep writes them again */
    if (cg_control_store_lease_renew(&cp->store, batch.items, batch.len) == 0)
        for (size_t i = 0; i < cp->leases.items.len; i++) {
            cg_control_inst_t *inst = cp->leases.items.items[i];
            inst->stored_heartbeat_ms = inst->heartbeat_ms;
        }
    cg_vec_free(&batch);
}

/* A stored lease as a live instance (registered, with its watch entry), or NULL when it
 * cannot be read (dropped from the store). */
static cg_control_inst_t *take_back(cg_control_t *cp, const cg_control_lease_t *l)
{
    cg_control_inst_t *inst = NULL;
    cg_buf_t why = {0};
    if (strlen(l->id) >= sizeof(inst->id) || strlen(l->owner) >= sizeof(inst->owner) ||
        cg_control_inst_parse(l->registration, strlen(l->registration), &inst, &why)) {
        cg_log_warn("control: stored lease %s is unreadable, dropped: %.*s", l->id, (int)why.len,
                    why.base ? why.base : "bad id or owner");
        cg_buf_free(&why);
        cg_control__lease_unstore(cp, l->id);
        return NULL;
    }
    snprintf(inst->id, sizeof(inst->id), "%s", l->id);
    snprintf(inst->owner, sizeof(inst->owner), "%s", l->owner);
    inst->registered_wall_us = l->registered_us;
    cg_control_leases_register(&cp->leases, inst, cp->loop->now_ms);
    cg_control_watch_attach(&cp->watch, inst);
    return inst;
}

int cg_control__leases_load(cg_control_t *cp, int *kept, cg_buf_t *err)
{
    cg_control_lease_vec_t v = {0};
    if (cg_control_store_lease_list(&cp->store, &v, kept)) {
        cg_buf_printf(err, "cannot read the instance leases");
        return CG_EIO;
    }
    for (size_t i = 0; i < v.len; i++) take_back(cp, &v.items[i]);
    if (v.len)
        cg_log_info("control: %zu instance lease(s) taken back from the store, each for one TTL "
                    "(%u ms) until its gateway's next heartbeat",
                    v.len, (unsigned)cp->leases.ttl_ms);
    cg_control_lease_vec_free(&v);
    return 0;
}

/* The heartbeat (monotonic) at which a lease that ends at expires_us (wall clock) began. */
static uint64_t heartbeat_of(const cg_control_t *cp, uint64_t expires_us)
{
    uint64_t now_us = cg_clock_wall_us(), ttl_ms = cp->leases.ttl_ms;
    uint64_t left_ms = expires_us > now_us ? (expires_us - now_us) / 1000 : 0;
    if (left_ms > ttl_ms) left_ms = ttl_ms; /* a clock ahead of ours gives one TTL, no more */
    uint64_t end_ms = cp->loop->now_ms + left_ms;
    return end_ms > ttl_ms ? end_ms - ttl_ms : 0;
}

void cg_control__leases_sync(cg_control_store_t *st, void *data)
{
    cg_control_t *cp = data;
    cg_control_lease_vec_t v = {0};
    int kept, changed = 0;
    if (cg_control_store_lease_list(st, &v, &kept)) return;
    /* what the store no longer holds went away at another control plane: its lease is
     * already gone, nothing to drop */
    cp->syncing = 1;
    for (size_t i = 0; i < cp->leases.items.len;) {
        const char *id = cp->leases.items.items[i]->id;
        size_t j = 0;
        while (j < v.len && strcmp(v.items[j].id, id)) j++;
        if (j < v.len) {
            i++;
            continue;
        }
        cg_control_leases_remove(&cp->leases, id);
        changed = 1;
    }
    for (size_t i = 0; i < v.len; i++) {
        const cg_control_lease_t *l = &v.items[i];
        cg_control_inst_t *inst = cg_control_leases_find(&cp->leases, l->id);
        if (!inst) {
            /* registered at another control plane (one with the same identity is replaced) */
            if (!(inst = take_back(cp, l))) continue;
            cg_log_info("control: instance %s registered at another control plane: cluster %s, "
                        "namespace %s, address %s",
                        inst->id, inst->cluster, inst->namespace_, inst->address);
            changed = 1;
        }
        /* renewed elsewhere: the stored expiry is the lease's, and nothing to write back */
        uint64_t hb = heartbeat_of(cp, l->expires_us);
        if (hb > inst->heartbeat_ms) {
            inst->heartbeat_ms = hb;
            inst->stored_heartbeat_ms = hb;
        }
    }
    cp->syncing = 0;
    cg_control_lease_vec_free(&v);
    if (changed) cg_control__recompute_instances_soon(cp);
}
