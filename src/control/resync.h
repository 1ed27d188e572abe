/* The resync window after a control-plane start.
 *
 * After a restart the control plane knows no instance until each one's next heartbeat is
 * refused and it registers again (within a second or so; at the latest one lease TTL later,
 * or its lease would have ended anyway). An edge snapshot computed meanwhile lacks the
 * ingress instances not back yet: with none back it has no endpoint at all (503 for every
 * request), and in weighted mode a missing cluster's share gets 503. So for one TTL after
 * start, an edge whose watch says it serves a snapshot of an earlier life (`after` below
 * this life's first version) keeps it: its watch is parked until the window ends and then
 * answered with the snapshot of the instances that came back. Gateways without a snapshot
 * (after=0) and non-edges are answered at once. */
#ifndef CG_CONTROL_RESYNC_H
#define CG_CONTROL_RESYNC_H

#include <stdint.h>

typedef struct cg_control_resync {
    uint64_t until_ms;      /* monotonic end of the window; 0 once it is over */
    uint64_t first_version; /* snapshot versions below this one come from an earlier life */
    int holding;            /* an edge has been held back (logged once) */
} cg_control_resync_t;

/* Opens the window for ttl_ms from now_ms; this life's snapshots start at first_version. */
void cg_control_resync_open(cg_control_resync_t *r, uint64_t now_ms, uint64_t ttl_ms,
                            uint64_t first_version);
/* The policy, pure: is the watch of an instance (edge or not) that serves the snapshot
 * `after` (0: none yet) held back at now_ms? */
int cg_control_resync_holds(const cg_control_resync_t *r, int edge, uint64_t after,
                            uint64_t now_ms);

#endif
