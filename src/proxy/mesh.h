/* The mesh: this gateway's identity between gateways (the TSB 15443 pattern).
 *
 * With an identity (a certificate whose URI SAN is CG_TLS_MESH_URI of its namespace and cluster,
 * its key, and the mesh CA), the gateway
 *   - listens on the mesh port (default 15443) for other gateways: mTLS, a peer certificate from
 *     the mesh CA required, then the same virtual hosts as its own listeners;
 *   - sends to endpoints the snapshot marks with an identity over mTLS, and accepts the peer
 *     only if its certificate carries that URI SAN (the cluster it meant to reach).
 *
 * The state is process-wide, like the ticket keys, and outlives configs: a config's openers
 * point into it, and new handshakes always use the material in force, so a renewed identity
 * (files rewritten, or SIGHUP) applies to new connections without a recompile while existing
 * ones continue. Loading and reloading run on the main thread; the openers run on workers. */
#ifndef CG_PROXY_MESH_H
#define CG_PROXY_MESH_H

#include "core/buf.h"
#include "core/transport.h"
#include "tls/tls.h"

#include <stddef.h>
#include <stdint.h>

typedef struct cg_proxy_mesh_opts {
    const char *identity;              /* PREFIX: PREFIX.crt and PREFIX.key */
    const char *ca;                    /* the mesh CA bundle */
    const char *cluster, *namespace_;  /* what the identity must name */
    uint16_t port;                     /* the mesh port */
    cg_tls_ticket_keys_t *ticket_keys; /* the server's; may be NULL */
} cg_proxy_mesh_opts_t;

/* Reads and checks the identity, builds the client and the mesh port's server. 0, or CG_EINVAL
 * with one line in err (nothing is in force then). An expired identity is loaded, with a
 * warning in the log naming the date. */
int cg_proxy_mesh_load(const cg_proxy_mesh_opts_t *o, cg_buf_t *err);
/* Reads the files again: 1 when they changed and the new material is now in force, 0 when they
 * are the same bytes, CG_EINVAL with one line in err when they are bad (the previous material
 * stays in force). */
int cg_proxy_mesh_reload(cg_buf_t *err);
/* The files to watch (3 paths) when the mesh is on; NULL otherwise. */
const char *const *cg_proxy_mesh_paths(void);
/* Lets go of everything (after the workers stopped). */
void cg_proxy_mesh_unload(void);

/* --require-mtls: configs leave out hops to other gateways that are not mTLS (proxy/config.c).
 * Set at start, before the first compile. */
void cg_proxy_mesh_set_required(int on);
int cg_proxy_mesh_required(void);

/* The mesh port, 0 when the mesh is off. */
uint16_t cg_proxy_mesh_port(void);
/* The opener of the mesh port's accepted connections. */
cg_xport_opener_t cg_proxy_mesh_listener(void);
/* The opener of connections to a peer that must present URI SAN uri: the same opener (pointer
 * for pointer, so pools keep one bucket per peer) for the same uri. Zero when the mesh is off,
 * or past 65,536 distinct peers (PEER_MAX in mesh.c). */
cg_xport_opener_t cg_proxy_mesh_peer(const char *uri);
/* The expected URI SAN of an opener from cg_proxy_mesh_peer; NULL for any other. */
const char *cg_proxy_mesh_peer_uri(const cg_xport_opener_t *o);
/* The mesh port's server set in force (to compare, not to hold); NULL when off. */
cg_tls_servers_t *cg_proxy_mesh_servers(void);

#endif
