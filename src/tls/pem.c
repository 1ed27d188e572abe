/* PEM material: loading certificates, keys and CA bundles from memory, the config-time checks
 * (cg_tls_pem_check), and the subject-alternative-name match both sides use. */
#include "core/err.h"
#include "tls/tls_int.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Calls fn on each PEM block of [pem, pem+len) in order. Returns the number of blocks, or
 * CG_EINVAL (message in err) when there is none, a block is malformed, or fn refuses one. */
typedef int (*block_fn)(void *arg, const char *name, const unsigned char *der, long len,
                        cg_buf_t *err);

/* What a part was meant to hold, for "not a PEM ..." */
static const char *pem_noun(const char *part)
{
    return !strcmp(part, "key")  ? "a PEM private key"
           : !strcmp(part, "ca") ? "a PEM certificate bundle"
                                 : "a PEM certificate";
}

static int each_block(const char *pem, size_t len, const char *part, block_fn fn, void *arg,
                      cg_buf_t *err)
{
    if (!pem || len == 0) {
        cg_buf_printf(err, "%s: missing", part);
        return CG_EINVAL;
    }
    if (len > INT32_MAX) {
        cg_buf_printf(err, "%s: too large", part);
        return CG_EINVAL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return CG_ENOMEM;
    int count = 0, rc;
    ERR_clear_error();
    for (;;) {
        char *name = NULL, *header = NULL;
        unsigned char *der = NULL;
        long dlen = 0;
        if (!PEM_read_bio(bio, &name, &header, &der, &dlen)) {
            unsigned long e = ERR_peek_last_error();
            ERR_clear_error();
            if (ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
                if (count > 0) break;
                cg_buf_printf(err, "%s: not %s", part, pem_noun(part));
            } else {
                cg_buf_printf(err, "%s: malformed PEM block %d", part, count + 1);
            }
            goto Error;
        }
        int ok = fn(arg, name, der, dlen, err);
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_clear_free(der, (size_t)(dlen > 0 ? dlen : 0)); /* a key's DER is key material */
        if (ok) goto Error;
        count++;
    }
    rc = count;
    goto Exit;
Error:
    rc = CG_EINVAL;
Exit:
    BIO_free(bio);
    return rc;
}

typedef struct {
    const char *part;
    X509 *leaf;
    STACK_OF(X509) * rest;
} certs_t;

static int cert_block(void *arg, const char *name, const unsigned char *der, long len,
                      cg_buf_t *err)
{
    certs_t *c = arg;
    if (strcmp(name, "CERTIFICATE") != 0) {
        cg_buf_printf(err, "%s: not a certificate (found %s)", c->part, name);
        return CG_EINVAL;
    }
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, len);
    if (!x || p != der + len) {
        X509_free(x);
        ERR_clear_error();
        cg_buf_printf(err, "%s: malformed certificate", c->part);
        return CG_EINVAL;
    }
    if (!c->leaf) {
        c->leaf = x;
        return 0;
    }
    if (!c->rest) c->rest = sk_X509_new_null();
    if (!c->rest || !sk_X509_push(c->rest, x)) {
        X509_free(x);
        return CG_ENOMEM;
    }
    return 0;
}

static int load_certs(const char *pem, size_t len, const char *part, certs_t *c, cg_buf_t *err)
{
    *c = (certs_t){.part = part};
    if (each_block(pem, len, part, cert_block, c, err) < 0) {
        X509_free(c->leaf);
        sk_X509_pop_free(c->rest, X509_free);
        *c = (certs_t){0};
        return CG_EINVAL;
    }
    return 0;
}

int cg_tls__load_chain(const char *pem, size_t len, const char *part, X509 **leaf,
                       STACK_OF(X509) * *chain, cg_buf_t *err)
{
    certs_t c;
    if (load_certs(pem, len, part, &c, err)) return CG_EINVAL;
    *leaf = c.leaf;
    if (chain)
        *chain = c.rest;
    else
        sk_X509_pop_free(c.rest, X509_free);
    return 0;
}

int cg_tls__load_ca(const char *pem, size_t len, const char *part, STACK_OF(X509) * *cas,
                    cg_buf_t *err)
{
    certs_t c;
    if (load_certs(pem, len, part, &c, err)) return CG_EINVAL;
    if (!c.rest) c.rest = sk_X509_new_null();
    if (!c.rest || !sk_X509_insert(c.rest, c.leaf, 0)) {
        X509_free(c.leaf);
        sk_X509_pop_free(c.rest, X509_free);
        return CG_ENOMEM;
    }
    *cas = c.rest;
    return 0;
}

typedef struct {
    const char *part;
    int keys;
} keys_t;

static int key_block(void *arg, const char *name, const unsigned char *der, long len, cg_buf_t *err)
{
    keys_t *k = arg;
    if (!strcmp(name, "EC PARAMETERS")) return 0; /* what `openssl ecparam -genkey` puts first */
    if (!strcmp(name, "ENCRYPTED PRIVATE KEY")) {
        cg_buf_printf(err, "%s: encrypted keys are not supported", k->part);
        return CG_EINVAL;
    }
    size_t nl = strlen(name);
    if (nl < 11 || strcmp(name + nl - 11, "PRIVATE KEY") != 0) {
        cg_buf_printf(err, "%s: not a private key (found %s)", k->part, name);
        return CG_EINVAL;
    }
    if (++k->keys > 1) {
        cg_buf_printf(err, "%s: more than one private key", k->part);
        return CG_EINVAL;
    }
    return 0;
}

static int no_password(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

int cg_tls__load_key(const char *pem, size_t len, const char *part, EVP_PKEY **key, cg_buf_t *err)
{
    keys_t k = {.part = part};
    if (each_block(pem, len, part, key_block, &k, err) < 0) return CG_EINVAL;
    if (k.keys == 0) {
        cg_buf_printf(err, "%s: no private key", part);
        return CG_EINVAL;
    }
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio) return CG_ENOMEM;
    *key = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
    BIO_free(bio);
    ERR_clear_error();
    if (!*key) {
        cg_buf_printf(err, "%s: malformed private key", part);
        return CG_EINVAL;
    }
    return 0;
}

/* "2026-01-01T00:00:00Z" */
static void iso_time(const ASN1_TIME *t, char *out, size_t cap)
{
    struct tm tm;
    if (!ASN1_TIME_to_tm(t, &tm) || !strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, cap, "(unreadable date)");
}

static char *validity_warning(X509 *leaf)
{
    char when[32], *line = NULL;
    const ASN1_TIME *nb = X509_get0_notBefore(leaf), *na = X509_get0_notAfter(leaf);
    if (X509_cmp_current_time(na) <= 0) {
        iso_time(na, when, sizeof(when));
        if (asprintf(&line, "certificate expired on %s", when) < 0) line = NULL;
    } else if (X509_cmp_current_time(nb) >= 0) {
        iso_time(nb, when, sizeof(when));
        if (asprintf(&line, "certificate not valid before %s", when) < 0) line = NULL;
    }
    return line;
}

int cg_tls_pem_check(const cg_tls_pem_t *pem, char **warning, cg_buf_t *err)
{
    X509 *leaf = NULL;
    EVP_PKEY *key = NULL;
    STACK_OF(X509) *cas = NULL;
    int rc = CG_EINVAL;
    if (warning) *warning = NULL;
    if (cg_tls__load_chain(pem->cert, pem->cert_len, "cert", &leaf, NULL, err)) goto Exit;
    if (cg_tls__load_key(pem->key, pem->key_len, "key", &key, err)) goto Exit;
    if (X509_check_private_key(leaf, key) != 1) {
        ERR_clear_error();
        cg_buf_printf(err, "key: does not match the certificate");
        goto Exit;
    }
    if (pem->ca && cg_tls__load_ca(pem->ca, pem->ca_len, "ca", &cas, err)) goto Exit;
    if (warning) *warning = validity_warning(leaf);
    rc = 0;
Exit:
    X509_free(leaf);
    EVP_PKEY_free(key);
    sk_X509_pop_free(cas, X509_free);
    return rc;
}

int cg_tls_identity_check(const cg_tls_pem_t *pem, const char *uri, char **warning, cg_buf_t *err)
{
    if (!pem->ca || !pem->ca_len) {
        cg_buf_printf(err, "ca: the mesh CA is required");
        return CG_EINVAL;
    }
    if (cg_tls_pem_check(pem, warning, err)) return CG_EINVAL;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL, *cas = NULL;
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *vc = X509_STORE_CTX_new();
    int rc = CG_EINVAL;
    if (!store || !vc) {
        cg_buf_printf(err, "out of memory");
        goto Exit;
    }
    if (cg_tls__load_chain(pem->cert, pem->cert_len, "cert", &leaf, &chain, err) ||
        cg_tls__load_ca(pem->ca, pem->ca_len, "ca", &cas, err))
        goto Exit;
    if (!cg_tls__cert_has_san(leaf, &uri, 1, 1)) {
        cg_buf_printf(err, "cert: has no URI SAN %s", uri);
        goto Exit;
    }
    for (int i = 0; i < sk_X509_num(cas); i++) X509_STORE_add_cert(store, sk_X509_value(cas, i));
    /* signed by the mesh CA, whatever the dates (an expired leaf is served, with its warning) */
    X509_STORE_set_flags(store, X509_V_FLAG_NO_CHECK_TIME);
    if (X509_STORE_CTX_init(vc, store, leaf, chain) != 1 || X509_verify_cert(vc) != 1) {
        cg_buf_printf(err, "cert: not issued by the mesh CA (%s)",
                      X509_verify_cert_error_string(X509_STORE_CTX_get_error(vc)));
        goto Exit;
    }
    rc = 0;
Exit:
    ERR_clear_error();
    X509_STORE_CTX_free(vc);
    X509_STORE_free(store);
    X509_free(leaf);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(cas, X509_free);
    if (rc && warning) {
        free(*warning);
        *warning = NULL;
    }
    return rc;
}

int cg_tls__ctx_material(SSL_CTX *ctx, const cg_tls_pem_t *pem, cg_buf_t *err)
{
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL, *cas = NULL;
    EVP_PKEY *key = NULL;
    int rc = CG_EINVAL;
    if (cg_tls__load_chain(pem->cert, pem->cert_len, "cert", &leaf, &chain, err)) goto Exit;
    if (cg_tls__load_key(pem->key, pem->key_len, "key", &key, err)) goto Exit;
    if (pem->ca && cg_tls__load_ca(pem->ca, pem->ca_len, "ca", &cas, err)) goto Exit;
    if (SSL_CTX_use_certificate(ctx, leaf) != 1 || (chain && SSL_CTX_set1_chain(ctx, chain) != 1)) {
        cg_buf_printf(err, "cert: refused by OpenSSL (key too weak?)");
        goto Exit;
    }
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        cg_buf_printf(err, "key: does not match the certificate");
        goto Exit;
    }
    X509_STORE *store = SSL_CTX_get_cert_store(ctx);
    for (int i = 0; i < sk_X509_num(cas); i++) {
        X509 *ca = sk_X509_value(cas, i);
        if (X509_STORE_add_cert(store, ca) != 1 || SSL_CTX_add_client_CA(ctx, ca) != 1) {
            cg_buf_printf(err, "ca: certificate %d refused", i + 1);
            goto Exit;
        }
    }
    rc = 0;
Exit:
    ERR_clear_error();
    X509_free(leaf);
    EVP_PKEY_free(key);
    sk_X509_pop_free(chain, X509_free);
    sk_X509_pop_free(cas, X509_free);
    return rc;
}

int cg_tls__cert_has_san(X509 *x, const char *const *names, size_t n, int uri_only)
{
    GENERAL_NAMES *gens = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    int found = 0;
    for (int i = 0; !found && i < sk_GENERAL_NAME_num(gens); i++) {
        const GENERAL_NAME *g = sk_GENERAL_NAME_value(gens, i);
        const ASN1_IA5STRING *s;
        if (g->type == GEN_URI)
            s = g->d.uniformResourceIdentifier;
        else if (g->type == GEN_DNS && !uri_only)
            s = g->d.dNSName;
        else
            continue;
        const unsigned char *p = ASN1_STRING_get0_data(s);
        size_t len = (size_t)ASN1_STRING_length(s);
        /* an allowed name with a ':' is a URI and matches URI SANs only; any other is a DNS name
         * (which cannot hold a ':') and matches DNS SANs only: a DNS SAN spelled like an allowed
         * URI proves nothing */
        for (size_t j = 0; !found && j < n; j++)
            found = (strchr(names[j], ':') != NULL) == (g->type == GEN_URI) &&
                    strlen(names[j]) == len && memcmp(names[j], p, len) == 0;
    }
    GENERAL_NAMES_free(gens);
    return found;
}
