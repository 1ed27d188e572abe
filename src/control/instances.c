/* Instance registrations and their leases (pure: time passed in). */
#include "control/instances.h"
#include "core/log.h"

#include "control/doc.h"
#include "core/err.h"
#include "model/schema.h"
#include "model/yaml.h"

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
    return (cg_instance_t){inst->cluster, inst->namespace_, inst->labels, inst->nlabels,
                           inst->address};
}

static int is_string(const cg_ynode_t *n)
{
    return n->kind == CG_YNODE_SCALAR && n->stype == CG_YSCALAR_STRING;
}

/* A label key or value, a cluster or namespace name: printable, no spaces, bounded. */
static const char *check_name(const char *s, size_t len)
{
    if (len == 0) return "must not be empty";
    if (len > 253) return "longer than 253 characters";
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
            return "must be printable ASCII without spaces";
    return NULL;
}

int cg_control_inst_parse(const char *body, size_t len, cg_control_inst_t **out, cg_buf_t *err)
{
    cg_ystream_t ys = {0};
    cg_buf_t perr = {0};
    cg_control_inst_t *inst = cg_xcalloc(1, sizeof(*inst));
    const char *bad = NULL;
    char field[80] = "";
    if (cg_model_yaml_parse("registration", body, len, 1, &ys, &perr) != 0) {
        cg_buf_printf(err, "malformed JSON: %.*s",
                      (int)(perr.len && perr.base[perr.len - 1] == '\n' ? perr.len - 1 : perr.len),
                      perr.base ? perr.base : "");
        goto Error;
    }
    const cg_ynode_t *root = ys.ndocs == 1 ? ys.docs[0].root : NULL;
    if (!root || root->kind != CG_YNODE_MAP) {
        cg_buf_printf(err,
                      "expected one JSON object with cluster, namespace, labels, address, admin");
        goto Error;
    }
    for (size_t i = 0; i < root->n && !bad; i++) {
        const cg_ynode_t *k = cg_ynode_key(root, i), *v = cg_ynode_value(root, i);
        snprintf(field, sizeof(field), "%s", k->kind == CG_YNODE_SCALAR ? k->text : "?");
        char **dst = !strcmp(field, "cluster")     ? &inst->cluster
                     : !strcmp(field, "namespace") ? &inst->namespace_
                     : !strcmp(field, "address")   ? &inst->address
                     : !strcmp(field, "admin")     ? &inst->admin
                                                   : NULL;
        if (dst) {
            if (*dst)
                bad = "given twice";
            else if (!is_string(v))
                bad = "expected a string";
            else if (!(bad = check_name(v->text, v->len)))
                *dst = cg_xstrdup(v->text);
        } else if (!strcmp(field, "labels")) {
            if (v->kind != CG_YNODE_MAP) {
                bad = "expected an object of strings";
                break;
            }
            inst->labels = cg_xcalloc(v->n + 1, sizeof(*inst->labels));
            for (size_t j = 0; j < v->n && !bad; j++) {
                const cg_ynode_t *lk = cg_ynode_key(v, j), *lv = cg_ynode_value(v, j);
                if (!is_string(lk) || !is_string(lv))
                    bad = "expected an object of strings";
                else if (!(bad = check_name(lk->text, lk->len)) &&
                         !(bad = check_name(lv->text, lv->len))) {
                    for (size_t d = 0; d < inst->nlabels && !bad; d++)
                        if (!strcmp(inst->labels[d].key, lk->text)) bad = "duplicate label key";
                    if (!bad)
                        inst->labels[inst->nlabels++] =
                            (cg_snap_label_t){cg_xstrdup(lk->text), cg_xstrdup(lv->text)};
                }
            }
        } else {
            bad = "unknown field (expected cluster, namespace, labels, address, admin)";
        }
    }
    if (!bad) {
        if (!inst->cluster)
            snprintf(field, sizeof(field), "cluster"), bad = "missing required field";
        else if (!inst->address)
            snprintf(field, sizeof(field), "address"), bad = "missing required field";
        else if (cg_model_check_ip(inst->address))
            snprintf(field, sizeof(field), "address"), bad = "expected an IP address";
    }
    if (bad) {
        cg_buf_printf(err, "%s: %s", field, bad);
        goto Error;
    }
    if (!inst->namespace_) inst->namespace_ = cg_xstrdup("default");
    cg_ystream_free(&ys);
    cg_buf_free(&perr);
    *out = inst;
    return 0;
Error:
    cg_ystream_free(&ys);
    cg_buf_free(&perr);
    cg_control_inst_free(inst);
    return CG_EINVAL;
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

const cg_control_inst_t *cg_control_leases_same(const cg_control_leases_t *l, const cg_control_inst_t *inst)
{
    for (size_t i = 0; i < l->items.len; i++)
        if (same_identity(l->items.items[i], inst)) return l->items.items[i];
    return NULL;
}

void cg_control_leases_register(cg_control_leases_t *l, cg_control_inst_t *inst, uint64_t now_ms)
{
    for (size_t i = 0; i < l->items.len;)
        if (same_identity(l->items.items[i], inst))
            remove_at(l, i, CG_CONTROL_GONE_REPLACED);
        else
            i++;
    if (!inst->id[0]) {
        unsigned char r[16];
        if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
            static uint64_t counter;
            uint64_t x = ++counter ^ (now_ms * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)inst;
            memcpy(r, &x, 8);
            memcpy(r + 8, &now_ms, 8);
        }
        for (size_t i = 0; i < sizeof(r); i++) snprintf(inst->id + 2 * i, 3, "%02x", r[i]);
    }
    inst->registered_ms = inst->heartbeat_ms = now_ms;
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
            inst->heartbeat_ms = inst->heartbeat_ms + stall < now_ms ? inst->heartbeat_ms + stall : now_ms;
        }
        l->stalls++;
        l->stalled_ms += stall;
        cg_log_warn("control: the control plane did not run for %" PRIu64
                    " ms; leases are credited with that time, not expired for it", stall);
    }
    l->last_sweep_ms = now_ms;
    for (size_t i = 0; i < l->items.len;) {
        if (now_ms >= l->items.items[i]->heartbeat_ms + ttl) {
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
