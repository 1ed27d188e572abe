/* A gateway's link to the control plane: register, keep the lease alive by heartbeat, watch
 * for its snapshot by long-poll, hand each new snapshot to the gateway, cache the last good
 * one on disk, and keep going with jittered back-off while the control plane is away, moving
 * between the control planes it was given. */
#ifndef CG_AGENT_AGENT_H
#define CG_AGENT_AGENT_H

#include "core/buf.h"
#include "core/loop.h"
#include "http/client.h"
#include "translate/snapshot.h"

#include <stddef.h>

/* Control-plane URLs a gateway or the CLI may be given: "URL1,URL2,...". */
#define CG_AGENT_MAX_CONTROLS 8

typedef struct cg_agent_urls {
    char url[CG_AGENT_MAX_CONTROLS][CG_HTTP_URL_MAX + 1]; /* no trailing '/' */
    size_t n;
} cg_agent_urls_t;

/* Splits and checks a list of control-plane URLs (each http://IP:PORT, at most
 * CG_HTTP_URL_MAX bytes, at most CG_AGENT_MAX_CONTROLS of them). Returns 0, or CG_EINVAL with
 * one line (no newline) in err. */
int cg_agent_urls_parse(const char *list, cg_agent_urls_t *out, cg_buf_t *err);

/* One link; a gateway owns it from cg_agent_start to cg_agent_stop. */
typedef struct cg_agent cg_agent_t;

typedef struct cg_agent_cfg {
    /* control plane, http://IP:PORT, or several "URL1,URL2": the agent talks to one at a time
     * and moves to the next when it fails (connection, timeout, 5xx), with back-off */
    const char *url;
    const char *token; /* bearer token or NULL */
    const char *cluster, *namespace_, *address, *admin;
    const cg_snap_label_t *labels;
    size_t nlabels;
    const char *cache_dir; /* NULL: no cache */
    uint16_t mtls_port;    /* advertised: where other gateways reach us over mTLS; 0 none */
} cg_agent_cfg_t;

/* Called on the loop with a decoded snapshot (ownership passes). Returns 0 when the gateway
 * took it, else the agent keeps its last good one (and says so in the log). `text` is the
 * snapshot's JSON, for the cache. */
typedef int (*cg_agent_apply_cb)(void *data, cg_snapshot_t *snap, const char *why);

/* Loads the cached snapshot (if any) and hands it over at once, then starts talking to the
 * control plane. cfg must outlive the agent. Returns 0 and the agent in *out, or CG_E*. */
int cg_agent_start(cg_agent_t **out, cg_loop_t *loop, const cg_agent_cfg_t *cfg,
                   cg_agent_apply_cb cb, void *data);
/* Deregisters (best effort, bounded), stops and frees the agent (NULL: nothing). */
void cg_agent_stop(cg_agent_t *a);
/* For /ready and metrics: 1 while registered and watching. */
int cg_agent_connected(const cg_agent_t *a);

#endif
