/* Client contexts for the mTLS hop between gateways: our identity, the mesh CA as the only
 * trust, and a peer whose URI SAN names the cluster we meant to reach. */
#include "core/err.h"
#include "core/hash.h"
#include "tls/tls_int.h"

#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>

static const unsigned char alpn_http11[] = "\x08http/1.1";

/* The chain passed the CA; the leaf must also carry the URI SAN the connection expects. */
static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
    if (!ok || X509_STORE_CTX_get_error_depth(sctx) != 0) return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    cg_tls__sess_t *s = SSL_get_ex_data(ssl, cg_tls__ex_sess());
    if (!s || !s->expect_uri_san) return 1;
    const char *want = s->expect_uri_san;
    if (cg_tls__cert_has_san(X509_STORE_CTX_get_current_cert(sctx), &want, 1, 1)) {
        s->san_ok = 1;
        return 1;
    }
    s->san_fail = 1;
    X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

/* The slot of san in the cache: its own, or the empty one where it would go (NULL: full). */
static cg_tls__cached_t *cache_slot(cg_tls_client_t *c, const char *san)
{
    uint64_t h = cg_hash_str(CG_HASH_SEED, san);
    for (size_t k = 0; k < CG_TLS__SESS_SLOTS; k++) {
        cg_tls__cached_t *e = &c->cache[(h + k) & (CG_TLS__SESS_SLOTS - 1)];
        if (!e->san || !strcmp(e->san, san)) return e;
    }
    return NULL;
}

/* A new session (TLS 1.3: a ticket after the handshake) from a peer that proved the identity
 * its connection expected, or that resumed one cached for it: kept for the next connection. */
static int new_session_cb(SSL *ssl, SSL_SESSION *sess)
{
    cg_tls__sess_t *s = SSL_get_ex_data(ssl, cg_tls__ex_sess());
    if (!s || !s->client || !s->expect_uri_san || !(s->san_ok || SSL_session_reused(ssl))) return 0;
    cg_tls_client_t *c = s->client;
    pthread_mutex_lock(&c->lock);
    cg_tls__cached_t *e = cache_slot(c, s->expect_uri_san);
    /* a new identity only while the table is at most half full: probes stay short */
    if (e && !e->san && c->ncached < CG_TLS__SESS_SLOTS / 2 && (e->san = strdup(s->expect_uri_san)))
        c->ncached++;
    /* a copy: OpenSSL marks the connection's own session not resumable when the connection is
     * freed without close_notify, as pooled connections and health probes are */
    SSL_SESSION *copy = e && e->san ? SSL_SESSION_dup(sess) : NULL;
    if (copy) {
        SSL_SESSION_free(e->sess);
        e->sess = copy;
    }
    pthread_mutex_unlock(&c->lock);
    return 0; /* the connection's own reference stays the connection's */
}

cg_tls_client_t *cg_tls_client_new(const cg_tls_client_cfg_t *cfg, cg_buf_t *err)
{
    cg_tls_client_t *c = calloc(1, sizeof(*c));
    if (!c || !(c->ctx = SSL_CTX_new(TLS_client_method()))) {
        cg_buf_printf(err, "out of memory");
        goto Error;
    }
    c->refs = 1;
    if (!cfg->pem.ca || !cfg->pem.ca_len) {
        cg_buf_printf(err, "ca: a client needs the CA that signs its peers");
        goto Error;
    }
    if (cg_tls__ctx_material(c->ctx, &cfg->pem, err)) goto Error;
    SSL_CTX_set_options(c->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                    SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                                 SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(c->ctx, 1); /* as the servers (server.c) */
    if (SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_alpn_protos(c->ctx, alpn_http11, sizeof(alpn_http11) - 1) != 0) {
        cg_buf_printf(err, "out of memory");
        goto Error;
    }
    SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, verify_cb);
    pthread_mutex_init(&c->lock, NULL);
    SSL_CTX_set_session_cache_mode(c->ctx,
                                   SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(c->ctx, new_session_cb);
    ERR_clear_error();
    return c;
Error:
    ERR_clear_error();
    if (c) SSL_CTX_free(c->ctx); /* the lock is initialised last: nothing to destroy yet */
    free(c);
    return NULL;
}

void cg_tls_client_ref(cg_tls_client_t *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
}

void cg_tls_client_unref(cg_tls_client_t *c)
{
    if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) != 0) return;
    for (size_t i = 0; i < CG_TLS__SESS_SLOTS; i++) {
        SSL_SESSION_free(c->cache[i].sess);
        free(c->cache[i].san);
    }
    pthread_mutex_destroy(&c->lock);
    SSL_CTX_free(c->ctx);
    free(c);
}

int cg_tls_connect(cg_xport_t *x, cg_tls_client_t *c, int fd, const char *expect_uri_san)
{
    cg_tls__sess_t *s = cg_tls__sess_new(c->ctx, fd);
    if (!s) return CG_ENOMEM;
    SSL_set_connect_state(s->ssl);
    cg_tls_client_ref(c);
    s->client = c;
    s->server_index = -1;
    if (expect_uri_san && !(s->expect_uri_san = strdup(expect_uri_san))) {
        cg_tls__sess_free(s);
        return CG_ENOMEM;
    }
    if (expect_uri_san) { /* offer the session this identity earned, if any */
        pthread_mutex_lock(&c->lock);
        cg_tls__cached_t *e = cache_slot(c, expect_uri_san);
        if (e && e->sess) SSL_set_session(s->ssl, e->sess); /* takes its own reference */
        pthread_mutex_unlock(&c->lock);
    }
    cg_tls__xport_init(x, s);
    return 0;
}
