/* A config's TLS: each listening port whose servers carry tls (snapshot cg_snap_tls_t) gets one
 * set of TLS servers (tls/tls.h), built at compile, off the request path, and an opener that
 * starts accepted connections' handshakes on it. The process's session-ticket keys are the
 * server's (proxy/server.c), shared by every set. */
#ifndef CG_PROXY_TLSCONF_H
#define CG_PROXY_TLSCONF_H

#include "core/buf.h"
#include "proxy/config.h"
#include "tls/tls.h"

/* The session-ticket key ring every set built from now on uses (NULL: each set its own). Set
 * by the main thread before it compiles a config; kept until every config is freed. */
void cg_proxy_tls_set_ticket_keys(cg_tls_ticket_keys_t *k);

/* Builds the TLS of every listener of c from snap's servers (in the snapshot's order, which is
 * also the order the listener's vhosts were appended in: vhost tls_index). Files-mode material
 * is read here. A port with both TLS and plain-text servers is refused. 0, or CG_EINVAL with
 * one line per failure in errors; what was built stays in c for cg_proxy_tls_free. */
int cg_proxy_tls_compile(cg_config_t *c, const cg_snapshot_t *snap, cg_buf_t *errors);
/* Lets go of a listener's TLS servers (with the config). */
void cg_proxy_tls_free(cg_listener_cfg_t *l);
/* The listener's TLS servers, NULL for a plain-text port. For the mesh port: the mesh's set in
 * force (proxy/mesh.h), which a reload may replace; to compare, not to hold. */
cg_tls_servers_t *cg_proxy_tls_servers(const cg_listener_cfg_t *l);

/* Reads a PEM file whole into b, NUL-terminated (b->len counts the NUL); at most 1 MiB. 0 or an
 * errno value. */
int cg_proxy_read_pem(const char *path, cg_buf_t *b);
/* Frees what cg_proxy_read_pem read, wiped first: it may hold a private key. */
void cg_proxy_pem_free(cg_buf_t *b);

/* Handshake failure reasons (cg_tls_failure_reason), indexed for the per-worker counters. */
#define CG_PROXY_TLS_REASONS(X)                                                                    \
    X(no_shared_cipher)                                                                            \
    X(bad_certificate)                                                                             \
    X(no_client_certificate)                                                                       \
    X(unknown_ca)                                                                                  \
    X(protocol_version)                                                                            \
    X(http_request)                                                                                \
    X(eof)                                                                                         \
    X(other)
enum {
#define CG__TLSR(n) CG_PROXY_TLS_FAIL_##n,
    CG_PROXY_TLS_REASONS(CG__TLSR)
#undef CG__TLSR
        CG_PROXY_TLS_NREASONS
};
extern const char *const cg_proxy_tls_reason_names[CG_PROXY_TLS_NREASONS];
/* The index of a reason string; an unknown or NULL one is "other". */
int cg_proxy_tls_reason_index(const char *reason);

#endif
