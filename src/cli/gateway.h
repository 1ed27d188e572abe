/* `crossgate gateway`: the process is a composition root. The proxy's server serves; in dynamic
 * mode the agent, a layer below it, feeds it snapshots. Neither knows the other: they meet here. */
#ifndef CG_CLI_GATEWAY_H
#define CG_CLI_GATEWAY_H

#include "proxy/server.h"

/* What dynamic mode adds to the gateway's options. */
typedef struct cg_cli_dynamic {
    const char *control;   /* control-plane URL; NULL: static mode */
    const char *token;     /* bearer token for the control plane, or NULL */
    const char *cache_dir; /* last good snapshot, for restarts without a control plane */
} cg_cli_dynamic_t;

/* Runs the gateway until a signal stops it. Returns the process's exit status. */
int cg_cli__gateway_main(const cg_gateway_opts_t *o, const cg_cli_dynamic_t *dyn);

#endif
