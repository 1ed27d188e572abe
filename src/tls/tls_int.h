/* What the files of the tls layer share: the structures behind tls.h's opaque types, the PEM
 * loaders, and the OpenSSL ex-data slots that lead a callback back to them. */
#ifndef CG_TLS_TLS_INT_H
#define CG_TLS_TLS_INT_H

#include "tls/tls.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>

/* One server of a set. Owns its context, which points back here (ex-data slot cg_tls__ex_srv). */
typedef struct cg_tls__srv {
    SSL_CTX *ctx;
    char *hostname; /* lower case */
    cg_tls_mode_t mode;
    int min_version, max_version; /* OpenSSL's numbers; 0 = no bound */
    char *ciphers;                /* the TLS 1.2 list, or NULL for OpenSSL's default */
    char *suites;                 /* the TLS 1.3 suites, or NULL */
    char **sans;                  /* MUTUAL: allowed client SANs; nsans == 0: any */
    size_t nsans;
    struct cg_tls_servers *set;
    int index;
} cg_tls__srv_t;

struct cg_tls_servers {
    int refs; /* atomic */
    size_t n;
    cg_tls__srv_t *srv;
    cg_tls_ticket_keys_t *keys; /* shared, or own_keys */
    int own_keys;
    unsigned char alpn[32]; /* ALPN wire format: what the servers select, in preference order */
    size_t alpn_len;
};

/* Ticket keys: keys[0] encrypts, all decrypt. */
#define CG_TLS__NKEYS 3
typedef struct cg_tls__tkey {
    unsigned char name[16];
    unsigned char aes[32];
    unsigned char hmac[32];
} cg_tls__tkey_t;

struct cg_tls_ticket_keys {
    pthread_rwlock_t lock;
    cg_tls__tkey_t keys[CG_TLS__NKEYS];
    size_t nkeys;
};

/* A client's sessions to resume, one per expected peer identity (URI SAN): a new connection to
 * a peer it has verified resumes (health probes, pools refilling) instead of a full handshake.
 * Keyed by the SAN the connection expects, so a session is offered only to the identity that
 * earned it. Bounded; under the client's lock (any worker connects). */
#define CG_TLS__SESS_SLOTS 4096
typedef struct cg_tls__cached {
    char *san;
    SSL_SESSION *sess;
} cg_tls__cached_t;

struct cg_tls_client {
    int refs; /* atomic */
    SSL_CTX *ctx;
    pthread_mutex_t lock;                       /* guards cache */
    cg_tls__cached_t cache[CG_TLS__SESS_SLOTS]; /* open addressing by the SAN's hash */
    size_t ncached;
};

/* One connection's TLS session: the transport's impl. Owned by the transport; holds a reference
 * on its servers set or client. */
typedef struct cg_tls__sess {
    SSL *ssl;
    cg_tls_servers_t *servers; /* server side */
    cg_tls_client_t *client;   /* client side */
    char *expect_uri_san;      /* client side: what the peer's URI SAN must be; NULL = any */
    const char *reason;        /* why the handshake failed */
    int server_index;
    uint8_t done;     /* the handshake completed */
    uint8_t failed;   /* a fatal error: no more I/O, no close_notify */
    uint8_t peeked;   /* the first bytes were looked at for plaintext HTTP */
    uint8_t shut;     /* close_notify sent */
    uint8_t san_fail; /* the peer's certificate passed the CA but not the SAN check */
    uint8_t san_ok;   /* ... and passed it (a session of this connection may be cached) */
} cg_tls__sess_t;

/* The most the transport gathers from small iovs into one record: TLS's largest plaintext. */
#define CG_TLS__GATHER 16384

extern const cg_xport_ops_t cg_tls__xport_ops;

/* The session-ticket callback of every server context: keys from the context's set. */
int cg_tls__ticket_cb(SSL *ssl, unsigned char *key_name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
                      EVP_MAC_CTX *hctx, int enc);

/* The ex-data slots: SSL_CTX -> cg_tls__srv_t (server contexts), SSL -> cg_tls__sess_t. */
int cg_tls__ex_srv(void);
int cg_tls__ex_sess(void);

/* OpenSSL's protocol number for a version (0 for AUTO). */
int cg_tls__proto(cg_tls_version_t v);

/* PEM loaders: part names the material in messages ("cert", "key", "ca"). Each returns 0 or
 * CG_EINVAL with one line appended to err. */
int cg_tls__load_chain(const char *pem, size_t len, const char *part, X509 **leaf,
                       STACK_OF(X509) * *chain, cg_buf_t *err);
int cg_tls__load_key(const char *pem, size_t len, const char *part, EVP_PKEY **key, cg_buf_t *err);
int cg_tls__load_ca(const char *pem, size_t len, const char *part, STACK_OF(X509) * *cas,
                    cg_buf_t *err);
/* Loads cert, key (checking they match) and, when present, the CA bundle into ctx: the chain it
 * presents and its trust store. */
int cg_tls__ctx_material(SSL_CTX *ctx, const cg_tls_pem_t *pem, cg_buf_t *err);

/* Does x carry a URI (or, unless uri_only, a DNS) subject alternative name equal to one of
 * names, byte for byte? */
int cg_tls__cert_has_san(X509 *x, const char *const *names, size_t n, int uri_only);

/* cg_tls_servers_new with the ALPN protocols (wire format) the servers select. */
cg_tls_servers_t *cg_tls__servers_new(const cg_tls_server_cfg_t *cfgs, size_t n,
                                      cg_tls_ticket_keys_t *ticket_keys, const unsigned char *alpn,
                                      size_t alpn_len, cg_buf_t *err);

/* Frees a session and drops its references. */
void cg_tls__sess_free(cg_tls__sess_t *s);

/* A session over a new SSL object of ctx on fd (CG_ENOMEM: NULL), and the transport over it. */
cg_tls__sess_t *cg_tls__sess_new(SSL_CTX *ctx, int fd);
void cg_tls__xport_init(cg_xport_t *x, cg_tls__sess_t *s);

#endif
