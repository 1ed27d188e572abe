/* Instance registrations and their leases (pure: time passed in). */
#include "control/instances.h"
#include "core/log.h"

#include "control/doc.h"
#include "core/err.h"
#include "model/schema.h"
#include "translate/registration.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

void cg_control_inst_free(cg_control_inst_t *inst)
{
    if (!inst) return;
    free(inst->cluster);
    free(inst->namespace_);
    free(inst->address);
    free(inst->admin);
    for (size_t i = 0; i < inst->nlabels; i++) {
        free(inst->labels[i].key);
        free(inst->labels[i].value);
    }
    free(inst->labels);
    free(inst);
}

cg_instance_t cg_control_inst_view(const cg_control_inst_t *inst)
{
    return (cg_instance_t){inst->cluster,  inst->namespace_, inst->labels,
                           inst->nlabels,  inst->address,    1,
                           inst->mtls_port};
}

int cg_control_inst_parse(const char *body, size_t len, cg_control_inst_t **out, cg_buf_t *err)
{
    cg_registration_t r;
    int rc = cg_registration_decode(body, len, &r, err);
    if (rc) return rc;
    cg_control_inst_t *inst = cg_xcalloc(1, sizeof(*inst));
    inst->cluster = r.cluster;
    inst->namespace_ = r.namespace_;
    inst->address = r.address;
    inst->admin = r.admin;
    inst->mtls_port = r.mtls_port;
    inst->labels = r.labels;
    inst->nlabels = r.nlabels;
    *out = inst;
    return 0;
}

static int same_identity(const cg_control_inst_t *a, const cg_control_inst_t *b)
{
    if (strcmp(a->cluster, b->cluster) || strcmp(a->namespace_, b->namespace_) ||
        strcmp(a->address, b->address) || a->nlabels != b->nlabels)
        return 0;
    for (size_t i = 0; i < a->nlabels; i++) {
        size_t j = 0;
        while (j < b->nlabels && strcmp(a->labels[i].key, b->labels[j].key)) j++;
        if (j == b->nlabels || strcmp(a->labels[i].value, b->labels[j].value)) return 0;
    }
    return 1;
}

static void remove_at(cg_control_leases_t *l, size_t i, cg_control_gone_t why)
{
    cg_control_inst_t *inst = l->items.items[i];
    memmove(&l->items.items[i], &l->items.items[i + 1], (l->items.len - i - 1) * sizeof(inst));
    l->items.len--;
    if (l->on_gone) l->on_gone(l, inst, why);
    cg_control_inst_free(inst);
}

const cg_control_inst_t *cg_control_leases_same(const cg_control_leases_t *l,
                                                const cg_control_inst_t *inst)
{
    for (size_t i = 0; i < l->items.len; i++)
        if (same_identity(l->items.items[i], inst)) return l->items.items[i];
    return NULL;
}

void cg_control_inst_new_id(cg_control_inst_t *inst, uint64_t now_ms)
{
    unsigned char r[16];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        static uint64_t counter;
        uint64_t x = ++counter ^ (now_ms * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)inst;
        memcpy(r, &x, 8);
        memcpy(r + 8, &now_ms, 8);
    }
    for (size_t i = 0; i < sizeof(r); i++) snprintf(inst->id + 2 * i, 3, "%02x", r[i]);
}

void cg_control_leases_register(cg_control_leases_t *l, cg_control_inst_t *inst, uint64_t now_ms)
{
    for (size_t i = 0; i < l->items.len;)
        if (same_identity(l->items.items[i], inst))
            remove_at(l, i, CG_CONTROL_GONE_REPLACED);
        else
            i++;
    if (!inst->id[0]) cg_control_inst_new_id(inst, now_ms);
    inst->registered_ms = inst->heartbeat_ms = inst->stored_heartbeat_ms = now_ms;
    cg_vec_push(&l->items, inst);
}

static ssize_t index_of(const cg_control_leases_t *l, const char *id)
{
    for (size_t i = 0; i < l->items.len; i++)
        if (!strcmp(l->items.items[i]->id, id)) return (ssize_t)i;
    return -1;
}

cg_control_inst_t *cg_control_leases_find(const cg_control_leases_t *l, const char *id)
{
    ssize_t i = index_of(l, id);
    return i < 0 ? NULL : l->items.items[i];
}

int cg_control_leases_heartbeat(cg_control_leases_t *l, const char *id, uint64_t now_ms)
{
    cg_control_inst_t *inst = cg_control_leases_find(l, id);
    if (!inst) return CG_ENOENT;
    inst->heartbeat_ms = now_ms;
    inst->grace_ms = 0;
    return 0;
}

int cg_control_leases_remove(cg_control_leases_t *l, const char *id)
{
    ssize_t i = index_of(l, id);
    if (i < 0) return CG_ENOENT;
    remove_at(l, (size_t)i, CG_CONTROL_GONE_DEREGISTERED);
    return 0;
}

size_t cg_control_leases_sweep(cg_control_leases_t *l, uint64_t now_ms)
{
    uint64_t ttl = l->ttl_ms ? l->ttl_ms : CG_CONTROL_TTL_MS;
    size_t n = 0;
    if (l->sweep_ms && l->last_sweep_ms && now_ms > l->last_sweep_ms + 4 * l->sweep_ms) {
        uint64_t stall = now_ms - l->last_sweep_ms - l->sweep_ms;
        for (size_t i = 0; i < l->items.len; i++) {
            cg_control_inst_t *inst = l->items.items[i];
            inst->heartbeat_ms =
                inst->heartbeat_ms + stall < now_ms ? inst->heartbeat_ms + stall : now_ms;
        }
        l->stalls++;
        l->stalled_ms += stall;
        cg_log_warn("control: the control plane did not run for %" PRIu64
                    " ms; leases are credited with that time, not expired for it",
                    stall);
    }
    l->last_sweep_ms = now_ms;
    for (size_t i = 0; i < l->items.len;) {
        const cg_control_inst_t *inst = l->items.items[i];
        if (now_ms >= inst->heartbeat_ms + ttl + inst->grace_ms) {
            remove_at(l, i, CG_CONTROL_GONE_EXPIRED);
            n++;
        } else {
            i++;
        }
    }
    return n;
}

void cg_control_leases_destroy(cg_control_leases_t *l)
{
    for (size_t i = 0; i < l->items.len; i++) cg_control_inst_free(l->items.items[i]);
    cg_vec_free(&l->items);
}
