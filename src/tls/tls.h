/* TLS over OpenSSL 3: server contexts built from PEM, SNI selection among a port's servers,
 * client contexts for the mTLS hop, and the TLS transport (core/transport.h).
 *
 * The tls layer sits between core and http: it knows sockets, bytes and certificates, nothing
 * of HTTP or of resources. Contexts are built off the request path (config compile) and shared
 * read-only by every worker; a handshake's session object belongs to its connection.
 *
 * CONTRACT (the first cut of this header; the implementation may add, not change, without
 * updating every caller). */
#ifndef CG_TLS_TLS_H
#define CG_TLS_TLS_H

#include "core/buf.h"
#include "core/transport.h"

#include <stddef.h>
#include <stdint.h>

/* ---- protocol versions ---- */

/* The Tetrate names: TLS_AUTO, TLSV1_0, TLSV1_1, TLSV1_2, TLSV1_3. */
typedef enum {
    CG_TLS_AUTO = 0,
    CG_TLS_V1_0,
    CG_TLS_V1_1,
    CG_TLS_V1_2,
    CG_TLS_V1_3,
} cg_tls_version_t;
/* 0 and *out, or CG_EINVAL for a name not in the list above. */
int cg_tls_version_parse(const char *name, cg_tls_version_t *out);
const char *cg_tls_version_name(cg_tls_version_t v);

/* ---- material checks (config validation: nothing that serves changes on failure) ---- */

/* What one server (or client identity) is given, as PEM text. ca may be NULL (SIMPLE). */
typedef struct cg_tls_pem {
    const char *cert; /* the certificate chain, leaf first */
    size_t cert_len;
    const char *key; /* the private key of the leaf */
    size_t key_len;
    const char *ca; /* trusted CAs for peer certificates (MUTUAL, or the client side) */
    size_t ca_len;
} cg_tls_pem_t;

/* Checks the material: each part is PEM of the right type, the key matches the leaf, the CA
 * bundle parses. Returns 0, or CG_EINVAL with one line in err naming the part ("cert: not PEM",
 * "key: does not match the certificate", ...). A leaf that is expired or not yet valid is NOT
 * refused: *warning (when not NULL) is set to a malloc'd line naming the dates
 * ("certificate expired on 2026-01-01T00:00:00Z"), NULL otherwise. */
int cg_tls_pem_check(const cg_tls_pem_t *pem, char **warning, cg_buf_t *err);

/* A gateway's mesh identity (pem: cert, key and the mesh CA, all required): as cg_tls_pem_check,
 * and the leaf carries the URI SAN uri and chains to the CA (dates aside: an expired identity is
 * a warning, as above). 0, or CG_EINVAL with one line in err. */
int cg_tls_identity_check(const cg_tls_pem_t *pem, const char *uri, char **warning, cg_buf_t *err);

/* ---- server side ---- */

typedef enum { CG_TLS_SIMPLE = 1, CG_TLS_MUTUAL = 2 } cg_tls_mode_t;

typedef struct cg_tls_server_cfg {
    const char *hostname; /* the server's hostname: "*", "a.example", "*.example" (SNI match) */
    cg_tls_mode_t mode;
    cg_tls_pem_t pem;
    cg_tls_version_t min_version, max_version; /* AUTO: OpenSSL's default floor (TLS 1.2) */
    const char *cipher_suites;                 /* OpenSSL cipher list / TLS 1.3 suites; NULL */
    const char *const *subject_alt_names;      /* MUTUAL: allowed client SANs; NULL = any */
    size_t nsubject_alt_names;
} cg_tls_server_cfg_t;

/* The TLS servers of one listening port, chosen by SNI: the first whose hostname matches
 * (exact before wildcard, as hosts match), else the first server (a client without SNI, or
 * with an unknown name, gets it). Immutable once built; shared by every worker. */
typedef struct cg_tls_servers cg_tls_servers_t;

/* Builds the set. Returns NULL with one line in err ("server N (hostname): ...") on failure.
 * ticket_keys may be NULL (resumption by tickets then uses a key of this set's own). */
typedef struct cg_tls_ticket_keys cg_tls_ticket_keys_t;
cg_tls_servers_t *cg_tls_servers_new(const cg_tls_server_cfg_t *cfgs, size_t n,
                                     cg_tls_ticket_keys_t *ticket_keys, cg_buf_t *err);
void cg_tls_servers_ref(cg_tls_servers_t *s);
void cg_tls_servers_unref(cg_tls_servers_t *s);

/* Session-ticket keys shared by every worker and every set of a process, rotated: a new key
 * encrypts, the previous ones still decrypt for one more period. Thread-safe. */
cg_tls_ticket_keys_t *cg_tls_ticket_keys_new(void);      /* NULL: out of memory or randomness */
void cg_tls_ticket_keys_rotate(cg_tls_ticket_keys_t *k); /* from the main thread's timer */
void cg_tls_ticket_keys_free(cg_tls_ticket_keys_t *k);   /* after every set that uses them */

/* Starts a server-side TLS transport on an accepted, non-blocking fd: x's ops become TLS. The
 * handshake runs on the first handshake/read/write call. Returns 0, CG_ENOMEM. */
int cg_tls_accept(cg_xport_t *x, cg_tls_servers_t *s, int fd);

/* After the handshake: what was negotiated, for routing, logs and metrics. Strings live as long
 * as the transport. */
const char *cg_tls_sni(const cg_xport_t *x);     /* NULL when the client sent none */
const char *cg_tls_version(const cg_xport_t *x); /* "TLSv1.3" */
const char *cg_tls_alpn(const cg_xport_t *x);    /* "h2", "http/1.1", or NULL */
int cg_tls_resumed(const cg_xport_t *x);
/* Index in the set's cfgs of the server the handshake chose (for 421 when Host names another). */
int cg_tls_server_index(const cg_xport_t *x);
/* (Each getter answers NULL / 0 / -1 for a TCP transport, and cg_tls_version and cg_tls_resumed
 * before the handshake's end; cg_tls_server_index is -1 on the client side.) */

/* Why a handshake failed, for the metrics: "no_shared_cipher", "bad_certificate",
 * "no_client_certificate", "unknown_ca", "protocol_version", "http_request" (plaintext HTTP on a
 * TLS port), "eof", "other". Valid after handshake returned an error.
 *
 * (Added by the implementation.) The handshake's errors: CG_EPARSE when the client sent
 * plaintext HTTP ("http_request"; its bytes are still unread in the socket, so the caller can
 * write its cleartext 400 on the fd itself, then close), CG_ECLOSED when the peer left before
 * the end ("eof"), CG_EIO otherwise. After any of them reads and writes answer CG_EIO and
 * shutdown does nothing. A peer that closes without close_notify reads as the end (0), like
 * TCP: HTTP's own framing tells a truncated message. */
const char *cg_tls_failure_reason(const cg_xport_t *x);

/* The first bytes of a connection look like a plaintext HTTP request, not a TLS ClientHello
 * (for nginx's cleartext 400 on a TLS port). len may be short; 1 = HTTP. */
int cg_tls_looks_like_http(const char *data, size_t len);

/* ---- client side (the edge → ingress mTLS hop, health checks over it) ---- */

typedef struct cg_tls_client cg_tls_client_t;
typedef struct cg_tls_client_cfg {
    cg_tls_pem_t pem; /* the gateway's identity (cert + key) and the mesh CA (ca) */
} cg_tls_client_cfg_t;
cg_tls_client_t *cg_tls_client_new(const cg_tls_client_cfg_t *cfg, cg_buf_t *err);
void cg_tls_client_ref(cg_tls_client_t *c);
void cg_tls_client_unref(cg_tls_client_t *c);
/* Starts a client-side TLS transport on a connecting, non-blocking fd. The peer must present a
 * certificate from the CA whose URI SAN equals expect_uri_san (NULL: any from the CA). */
int cg_tls_connect(cg_xport_t *x, cg_tls_client_t *c, int fd, const char *expect_uri_san);

/* The URI SAN of a gateway identity: namespace, then cluster. `crossgate ca issue` writes it; an
 * edge expects it of the ingress it sends to over mTLS. */
#define CG_TLS_MESH_URI "spiffe://crossgate/ns/%s/cluster/%s"

/* ---- a mesh CA (`crossgate ca`, and the tests' own certificates) ---- */

/* A new ECDSA P-256 CA: cert and key PEM appended to cert_out / key_out. days of validity. */
int cg_tls_ca_create(const char *common_name, int days, cg_buf_t *cert_out, cg_buf_t *key_out,
                     cg_buf_t *err);
/* Issues a leaf signed by the CA (PEM in ca_cert / ca_key): DNS SANs, URI SANs (either may be
 * empty), valid from not_before_s seconds from now (may be negative) for days. */
typedef struct cg_tls_issue {
    const char *common_name;
    const char *const *dns;
    size_t ndns;
    const char *const *uris; /* "spiffe://crossgate/ns/NAMESPACE/cluster/CLUSTER" */
    size_t nuris;
    int64_t not_before_s;
    int days;
} cg_tls_issue_t;
int cg_tls_ca_issue(const char *ca_cert, const char *ca_key, const cg_tls_issue_t *req,
                    cg_buf_t *cert_out, cg_buf_t *key_out, cg_buf_t *err);

#endif
