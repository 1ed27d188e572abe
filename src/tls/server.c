/* The TLS servers of one listening port: a context per server (certificate, versions, ciphers,
 * client verification), chosen per connection by SNI in the ClientHello callback. */
#include "core/err.h"
#include "tls/tls_int.h"

#include <ctype.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What listeners offer, in the server's order of preference: HTTP/2 first (proxy/h2.c). */
static const unsigned char alpn_listener[] = "\x02h2\x08http/1.1";

/* ---- choosing the server ---- */

/* The server for an SNI name (len 0: none): exact hostname, else the longest "*.suffix" whose
 * suffix follows exactly one label, else a "*" server, else the first. */
static int pick(const cg_tls_servers_t *set, const char *name, size_t len)
{
    int any = -1, wild = -1;
    size_t wild_len = 0;
    const char *dot = len ? memchr(name, '.', len) : NULL;
    for (size_t i = 0; len && i < set->n; i++) {
        const char *h = set->srv[i].hostname;
        size_t hl = strlen(h);
        if (h[0] != '*') {
            if (hl == len && !strncasecmp(h, name, len)) return (int)i;
        } else if (hl == 1) {
            if (any < 0) any = (int)i;
        } else if (dot && dot > name && h[1] == '.' && (size_t)(name + len - dot) == hl - 1 &&
                   !strncasecmp(dot, h + 1, hl - 1) && hl > wild_len) {
            wild = (int)i;
            wild_len = hl;
        }
    }
    if (wild >= 0) return wild;
    return any >= 0 ? any : 0;
}

/* The host_name of a server_name extension's body (RFC 6066 §3), or len 0. */
static void sni_parse(const unsigned char *p, size_t n, const char **name, size_t *len)
{
    *name = NULL;
    *len = 0;
    if (n < 2 || ((size_t)p[0] << 8 | p[1]) != n - 2) return;
    p += 2;
    n -= 2;
    while (n >= 3) {
        size_t l = (size_t)p[1] << 8 | p[2];
        if (l > n - 3) return;
        if (p[0] == TLSEXT_NAMETYPE_host_name) {
            if (l == 0 || l > 255 || memchr(p + 3, '\0', l)) return;
            *name = (const char *)p + 3;
            *len = l;
            return;
        }
        p += 3 + l;
        n -= 3 + l;
    }
}

static int apply(SSL *ssl, const cg_tls__srv_t *srv)
{
    SSL_CTX *ctx = srv->ctx;
    if (SSL_set_SSL_CTX(ssl, ctx) != ctx) return 0;
    /* what SSL_set_SSL_CTX does not carry over from the new context (the certificate and the
     * security level, kept together in OpenSSL, do come over) */
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
    return SSL_set_min_proto_version(ssl, srv->min_version) == 1 &&
           SSL_set_max_proto_version(ssl, srv->max_version) == 1 &&
           SSL_set_cipher_list(ssl, srv->ciphers ? srv->ciphers : OSSL_default_cipher_list()) ==
               1 &&
           SSL_set_ciphersuites(ssl, srv->suites ? srv->suites : OSSL_default_ciphersuites()) == 1;
}

static int hello_cb(SSL *ssl, int *alert, void *arg)
{
    cg_tls_servers_t *set = arg;
    cg_tls__sess_t *s = SSL_get_ex_data(ssl, cg_tls__ex_sess());
    const char *name = NULL;
    size_t len = 0;
    const unsigned char *ext;
    size_t extlen;
    if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &ext, &extlen))
        sni_parse(ext, extlen, &name, &len);
    int i = pick(set, name, len);
    if (s) s->server_index = i;
    if (SSL_get_SSL_CTX(ssl) != set->srv[i].ctx && !apply(ssl, &set->srv[i])) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    return SSL_CLIENT_HELLO_SUCCESS;
}

static int alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                   const unsigned char *in, unsigned int inlen, void *arg)
{
    cg_tls_servers_t *set = arg;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, set->alpn, (unsigned)set->alpn_len, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

/* MUTUAL with subject_alt_names: the client's leaf must carry one of them (DNS or URI). */
static int verify_cb(int ok, X509_STORE_CTX *sctx)
{
    if (!ok || X509_STORE_CTX_get_error_depth(sctx) != 0) return ok;
    SSL *ssl = X509_STORE_CTX_get_ex_data(sctx, SSL_get_ex_data_X509_STORE_CTX_idx());
    cg_tls__srv_t *srv = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cg_tls__ex_srv());
    if (!srv || srv->nsans == 0) return 1;
    if (cg_tls__cert_has_san(X509_STORE_CTX_get_current_cert(sctx), (const char *const *)srv->sans,
                             srv->nsans, 0))
        return 1;
    cg_tls__sess_t *s = SSL_get_ex_data(ssl, cg_tls__ex_sess());
    if (s) s->san_fail = 1;
    X509_STORE_CTX_set_error(sctx, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

/* ---- building a set ---- */

static char *lower_dup(const char *s)
{
    char *d = strdup(s);
    for (char *p = d; p && *p; p++) *p = (char)tolower((unsigned char)*p);
    return d;
}

/* "TLS_AES_128_GCM_SHA256:ECDHE-ECDSA-AES128-GCM-SHA256": TLS 1.3 suites (TLS_*) and the TLS 1.2
 * list apart, as OpenSSL configures them apart. Separators: ':', ',' or spaces. */
static int split_ciphers(const char *list, char **c12, char **c13)
{
    cg_buf_t b12 = {0}, b13 = {0};
    const char *p = list;
    int rc = 0;
    while (*p && !rc) {
        size_t n = strcspn(p, ":, ");
        if (n) {
            cg_buf_t *b = n > 4 && !strncmp(p, "TLS_", 4) ? &b13 : &b12;
            if ((cg_buf_size(b) && cg_buf_append(b, ":", 1)) || cg_buf_append(b, p, n))
                rc = CG_ENOMEM;
        }
        p += n + (p[n] != '\0');
    }
    if (!rc && cg_buf_size(&b12)) rc = cg_buf_append(&b12, "", 1);
    if (!rc && cg_buf_size(&b13)) rc = cg_buf_append(&b13, "", 1);
    if (rc) {
        cg_buf_free(&b12);
        cg_buf_free(&b13);
        return rc;
    }
    *c12 = b12.base;
    *c13 = b13.base;
    return 0;
}

/* A session-id context per hostname and verification (mode, CA bundle, allowed SANs): a
 * session resumes only on a server like the one that made it, in any set and any worker, and
 * not after a reload changed who may connect. */
static int set_sid_ctx(SSL_CTX *ctx, const cg_tls__srv_t *srv, const cg_tls_server_cfg_t *cfg)
{
    unsigned char md[EVP_MAX_MD_SIZE], mode = (unsigned char)srv->mode;
    unsigned int mdlen = 0;
    EVP_MD_CTX *h = EVP_MD_CTX_new();
    int ok = h && EVP_DigestInit_ex(h, EVP_sha256(), NULL) == 1 &&
             EVP_DigestUpdate(h, srv->hostname, strlen(srv->hostname) + 1) == 1 &&
             EVP_DigestUpdate(h, &mode, 1) == 1;
    if (ok && srv->mode == CG_TLS_MUTUAL) {
        ok = EVP_DigestUpdate(h, cfg->pem.ca, cfg->pem.ca_len) == 1;
        for (size_t i = 0; ok && i < srv->nsans; i++)
            ok = EVP_DigestUpdate(h, srv->sans[i], strlen(srv->sans[i]) + 1) == 1;
    }
    ok = ok && EVP_DigestFinal_ex(h, md, &mdlen) == 1;
    EVP_MD_CTX_free(h);
    if (mdlen > SSL_MAX_SID_CTX_LENGTH) mdlen = SSL_MAX_SID_CTX_LENGTH;
    return ok && SSL_CTX_set_session_id_context(ctx, md, mdlen) == 1;
}

static int build(cg_tls_servers_t *set, cg_tls__srv_t *srv, const cg_tls_server_cfg_t *cfg,
                 cg_buf_t *err)
{
    SSL_CTX *ctx = srv->ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) return CG_ENOMEM;
    SSL_CTX_set_ex_data(ctx, cg_tls__ex_srv(), srv);
    srv->hostname = lower_dup(cfg->hostname ? cfg->hostname : "*");
    if (!srv->hostname) return CG_ENOMEM;
    srv->mode = cfg->mode;
    if (cfg->mode != CG_TLS_SIMPLE && cfg->mode != CG_TLS_MUTUAL) {
        cg_buf_printf(err, "mode: expected SIMPLE or MUTUAL");
        return CG_EINVAL;
    }
    srv->min_version = cg_tls__proto(cfg->min_version);
    if (!srv->min_version) srv->min_version = TLS1_2_VERSION;
    srv->max_version = cg_tls__proto(cfg->max_version);
    if (srv->max_version && srv->max_version < srv->min_version) {
        cg_buf_printf(
            err, "max_version %s is below min_version %s", cg_tls_version_name(cfg->max_version),
            cg_tls_version_name(cfg->min_version == CG_TLS_AUTO ? CG_TLS_V1_2 : cfg->min_version));
        return CG_EINVAL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                                 SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_read_ahead(ctx, 1); /* whole socket reads, not a header then a body per record */
    /* OpenSSL 3 allows TLS 1.0 and 1.1 only at security level 0; a config that names them has
     * asked for them */
    if (srv->min_version < TLS1_2_VERSION) SSL_CTX_set_security_level(ctx, 0);
    if (SSL_CTX_set_min_proto_version(ctx, srv->min_version) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, srv->max_version) != 1) {
        cg_buf_printf(err, "protocol versions refused by OpenSSL");
        return CG_EINVAL;
    }
    if (cfg->cipher_suites && *cfg->cipher_suites) {
        if (split_ciphers(cfg->cipher_suites, &srv->ciphers, &srv->suites)) return CG_ENOMEM;
        if ((srv->ciphers && SSL_CTX_set_cipher_list(ctx, srv->ciphers) != 1) ||
            (srv->suites && SSL_CTX_set_ciphersuites(ctx, srv->suites) != 1)) {
            ERR_clear_error();
            cg_buf_printf(err, "cipher_suites: no cipher OpenSSL knows in \"%s\"",
                          cfg->cipher_suites);
            return CG_EINVAL;
        }
    }
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF); /* tickets only: no shared state */
    SSL_CTX_set_num_tickets(ctx, 1);
    if (SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, cg_tls__ticket_cb) != 1) return CG_ENOMEM;
    if (cfg->mode == CG_TLS_MUTUAL && (!cfg->pem.ca || !cfg->pem.ca_len)) {
        cg_buf_printf(err, "ca: MUTUAL needs the CA certificates that sign client certificates");
        return CG_EINVAL;
    }
    if (cg_tls__ctx_material(ctx, &cfg->pem, err)) return CG_EINVAL;
    if (cfg->mode == CG_TLS_MUTUAL) {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_cb);
        if (cfg->nsubject_alt_names) {
            srv->sans = calloc(cfg->nsubject_alt_names, sizeof(*srv->sans));
            if (!srv->sans) return CG_ENOMEM;
            for (size_t i = 0; i < cfg->nsubject_alt_names; i++, srv->nsans++)
                if (!(srv->sans[i] = strdup(cfg->subject_alt_names[i]))) return CG_ENOMEM;
        }
    }
    if (!set_sid_ctx(ctx, srv, cfg)) return CG_ENOMEM;
    SSL_CTX_set_client_hello_cb(ctx, hello_cb, set);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_cb, set);
    return 0;
}

static void srv_clear(cg_tls__srv_t *srv)
{
    SSL_CTX_free(srv->ctx);
    free(srv->hostname);
    free(srv->ciphers);
    free(srv->suites);
    for (size_t i = 0; i < srv->nsans; i++) free(srv->sans[i]);
    free(srv->sans);
}

static void set_free(cg_tls_servers_t *set)
{
    for (size_t i = 0; i < set->n; i++) srv_clear(&set->srv[i]);
    free(set->srv);
    if (set->own_keys) cg_tls_ticket_keys_free(set->keys);
    free(set);
}

cg_tls_servers_t *cg_tls__servers_new(const cg_tls_server_cfg_t *cfgs, size_t n,
                                      cg_tls_ticket_keys_t *ticket_keys, const unsigned char *alpn,
                                      size_t alpn_len, cg_buf_t *err)
{
    cg_tls_servers_t *set = calloc(1, sizeof(*set));
    cg_buf_t why = {0};
    int rc = CG_ENOMEM;
    if (!set) goto Error;
    set->refs = 1;
    if (n == 0 || alpn_len > sizeof(set->alpn)) {
        cg_buf_printf(err, n == 0 ? "no TLS server" : "ALPN list too long");
        goto Error;
    }
    memcpy(set->alpn, alpn, alpn_len);
    set->alpn_len = alpn_len;
    set->keys = ticket_keys;
    if (!set->keys) {
        if (!(set->keys = cg_tls_ticket_keys_new())) goto Error;
        set->own_keys = 1;
    }
    if (!(set->srv = calloc(n, sizeof(*set->srv)))) goto Error;
    for (size_t i = 0; i < n; i++) {
        set->n = i + 1;
        set->srv[i].set = set;
        set->srv[i].index = (int)i;
        if ((rc = build(set, &set->srv[i], &cfgs[i], &why))) {
            if (rc == CG_ENOMEM || !cg_buf_size(&why)) {
                cg_buf_reset(&why);
                cg_buf_printf(&why, "out of memory");
            }
            cg_buf_printf(err, "server %zu (%s): %.*s", i,
                          cfgs[i].hostname ? cfgs[i].hostname : "*", (int)cg_buf_size(&why),
                          cg_buf_data(&why));
            rc = CG_EINVAL;
            goto Error;
        }
    }
    ERR_clear_error();
    return set;
Error:
    if (rc == CG_ENOMEM && !cg_buf_size(err)) cg_buf_printf(err, "out of memory");
    ERR_clear_error();
    cg_buf_free(&why);
    if (set) set_free(set);
    return NULL;
}

cg_tls_servers_t *cg_tls_servers_new(const cg_tls_server_cfg_t *cfgs, size_t n,
                                     cg_tls_ticket_keys_t *ticket_keys, cg_buf_t *err)
{
    return cg_tls__servers_new(cfgs, n, ticket_keys, alpn_listener, sizeof(alpn_listener) - 1, err);
}

void cg_tls_servers_ref(cg_tls_servers_t *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void cg_tls_servers_unref(cg_tls_servers_t *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) set_free(s);
}

int cg_tls_accept(cg_xport_t *x, cg_tls_servers_t *set, int fd)
{
    cg_tls__sess_t *s = cg_tls__sess_new(set->srv[0].ctx, fd);
    if (!s) return CG_ENOMEM;
    SSL_set_accept_state(s->ssl);
    cg_tls_servers_ref(set);
    s->servers = set;
    cg_tls__xport_init(x, s);
    return 0;
}
