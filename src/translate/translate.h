/* Translation: resources + one gateway instance → that instance's snapshot. A pure function
 * over plain data, shared by static mode (files) and the control plane. */
#ifndef CG_TRANSLATE_TRANSLATE_H
#define CG_TRANSLATE_TRANSLATE_H

#include "core/buf.h"
#include "model/model.h"
#include "translate/snapshot.h"

#include <stddef.h>
#include <stdint.h>

/* Who a gateway instance is. Borrowed: translation copies what it keeps. */
typedef struct cg_instance {
    const char *cluster, *namespace_;
    const cg_snap_label_t *labels;
    size_t nlabels;
    const char *address; /* IP the instance binds/advertises */
    /* Registered with the control plane: only its cluster is vouched for (its join token binds
     * it); its namespace and labels are what it claims. Such an instance gets a Secret's private
     * key only from a Gateway whose workloadSelector names its cluster. 0 in static mode. */
    int registered;
    /* Where the instance takes mTLS from other gateways (its mesh identity names its cluster and
     * namespace); 0: none. An edge with one sends to instances with one over mTLS, on that
     * port; otherwise in plain text, on the Gateway's. */
    uint16_t mtls_port;
} cg_instance_t;

/* Builds the snapshot for one instance. Returns 0 (warnings go into snapshot->warnings) or
 * CG_EINVAL with "file:line:col: path: message" lines in errors (two Gateways serving the
 * same port and hostname on this instance, an incomplete instance). */
int cg_translate_instance(const cg_resource_set_t *rs, const cg_instance_t *inst, uint64_t version,
                          cg_snapshot_t **out, cg_buf_t *errors);

/* The same, with gateway instances known besides the Clusters' static spec.gateways (the
 * control plane's live registrations); each live instance's cluster names its Cluster. */
int cg_translate_instance_live(const cg_resource_set_t *rs, const cg_instance_t *inst,
                               const cg_instance_t *live, size_t nlive, uint64_t version,
                               cg_snapshot_t **out, cg_buf_t *errors);

#endif
