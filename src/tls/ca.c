/* A small mesh CA: ECDSA P-256 keys, SHA-256 signatures, a CA certificate and the leaves it
 * issues (gateway identities with a SPIFFE-style URI SAN, server certificates with DNS SANs). */
#include "core/err.h"
#include "tls/tls_int.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <string.h>

#define MAX_DAYS 36500

static int append_bio(cg_buf_t *out, BIO *b)
{
    char *p;
    long n = BIO_get_mem_data(b, &p);
    return n > 0 ? cg_buf_append(out, p, (size_t)n) : CG_ENOMEM;
}

/* A name that goes into a certificate: printable ASCII without spaces (CN: spaces allowed). */
static int printable(const char *s, size_t max, int spaces)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < (spaces ? 0x20 : 0x21) || s[i] > 0x7e) return 0;
    return 1;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    int ok = e && X509_add_ext(x, e, -1) == 1;
    X509_EXTENSION_free(e);
    return ok;
}

static int add_names(GENERAL_NAMES *gens, int type, const char *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        GENERAL_NAME *g = GENERAL_NAME_new();
        ASN1_IA5STRING *s = ASN1_IA5STRING_new();
        if (!g || !s || ASN1_STRING_set(s, names[i], (int)strlen(names[i])) != 1) {
            GENERAL_NAME_free(g);
            ASN1_IA5STRING_free(s);
            return 0;
        }
        GENERAL_NAME_set0_value(g, type, s);
        if (!sk_GENERAL_NAME_push(gens, g)) {
            GENERAL_NAME_free(g);
            return 0;
        }
    }
    return 1;
}

/* The SANs built as values, never through the config-string parser: a hostile name cannot
 * smuggle in another entry. */
static int add_sans(X509 *x, const cg_tls_issue_t *req)
{
    if (req->ndns + req->nuris == 0) return 1;
    GENERAL_NAMES *gens = sk_GENERAL_NAME_new_null();
    int ok = gens && add_names(gens, GEN_DNS, req->dns, req->ndns) &&
             add_names(gens, GEN_URI, req->uris, req->nuris) &&
             X509_add1_ext_i2d(x, NID_subject_alt_name, gens, 0, X509V3_ADD_DEFAULT) == 1;
    GENERAL_NAMES_free(gens);
    return ok;
}

/* A certificate for key, named cn, valid [now + from_s, + days], serial random 127 bits. */
static X509 *new_cert(EVP_PKEY *key, const char *cn, int64_t from_s, int days)
{
    X509 *x = X509_new();
    unsigned char rnd[16];
    BIGNUM *bn = NULL;
    if (!x || X509_set_version(x, 2) != 1 || RAND_bytes(rnd, sizeof(rnd)) != 1) goto Error;
    rnd[0] = (rnd[0] & 0x7f) | 0x40; /* positive, and 16 bytes long */
    if (!(bn = BN_bin2bn(rnd, sizeof(rnd), NULL)) ||
        !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)))
        goto Error;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1,
                                   0) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), (long)from_s) ||
        !X509_time_adj_ex(X509_getm_notAfter(x), days, (long)from_s, NULL) ||
        X509_set_pubkey(x, key) != 1)
        goto Error;
    BN_free(bn);
    return x;
Error:
    BN_free(bn);
    X509_free(x);
    return NULL;
}

static int emit(X509 *x, EVP_PKEY *key, cg_buf_t *cert_out, cg_buf_t *key_out)
{
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    int rc = CG_ENOMEM;
    if (cb && kb && PEM_write_bio_X509(cb, x) == 1 &&
        PEM_write_bio_PrivateKey(kb, key, NULL, NULL, 0, NULL, NULL) == 1 &&
        !append_bio(cert_out, cb) && !append_bio(key_out, kb))
        rc = 0;
    BIO_free(cb);
    BIO_free(kb);
    return rc;
}

int cg_tls_ca_create(const char *common_name, int days, cg_buf_t *cert_out, cg_buf_t *key_out,
                     cg_buf_t *err)
{
    EVP_PKEY *key = NULL;
    X509 *x = NULL;
    int rc = CG_EINVAL;
    if (!printable(common_name, 64, 1)) {
        cg_buf_printf(err, "name: 1 to 64 printable ASCII characters");
        goto Exit;
    }
    if (days < 1 || days > MAX_DAYS) {
        cg_buf_printf(err, "days: expected 1..%d, got %d", MAX_DAYS, days);
        goto Exit;
    }
    rc = CG_ENOMEM;
    if (!(key = EVP_EC_gen("P-256")) || !(x = new_cert(key, common_name, -300, days))) goto Exit;
    if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1 ||
        !add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
        !add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
        !add_ext(x, x, NID_subject_key_identifier, "hash") || !X509_sign(x, key, EVP_sha256()))
        goto Exit;
    rc = emit(x, key, cert_out, key_out);
Exit:
    if (rc == CG_ENOMEM) cg_buf_printf(err, "could not make the CA (out of memory)");
    ERR_clear_error();
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

static int check_request(const cg_tls_issue_t *req, cg_buf_t *err)
{
    if (!printable(req->common_name, 64, 1)) {
        cg_buf_printf(err, "common name: 1 to 64 printable ASCII characters");
        return CG_EINVAL;
    }
    if (req->days < 1 || req->days > MAX_DAYS) {
        cg_buf_printf(err, "days: expected 1..%d, got %d", MAX_DAYS, req->days);
        return CG_EINVAL;
    }
    if (req->not_before_s < -(int64_t)MAX_DAYS * 86400 ||
        req->not_before_s > (int64_t)MAX_DAYS * 86400) {
        cg_buf_printf(err, "not_before: out of range");
        return CG_EINVAL;
    }
    for (size_t i = 0; i < req->ndns; i++)
        if (!printable(req->dns[i], 253, 0) ||
            strspn(req->dns[i], "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                "0123456789.-*") != strlen(req->dns[i]) ||
            strchr(req->dns[i] + (strncmp(req->dns[i], "*.", 2) ? 0 : 2), '*') ||
            !strcmp(req->dns[i], "*.")) {
            cg_buf_printf(err, "dns: \"%s\" is not a host name", req->dns[i]);
            return CG_EINVAL;
        }
    for (size_t i = 0; i < req->nuris; i++)
        if (!printable(req->uris[i], 1024, 0) || !strchr(req->uris[i], ':')) {
            cg_buf_printf(err, "uri: \"%s\" is not a URI", req->uris[i]);
            return CG_EINVAL;
        }
    return 0;
}

int cg_tls_ca_issue(const char *ca_cert, const char *ca_key, const cg_tls_issue_t *req,
                    cg_buf_t *cert_out, cg_buf_t *key_out, cg_buf_t *err)
{
    X509 *ca = NULL, *x = NULL;
    EVP_PKEY *cakey = NULL, *key = NULL;
    int rc = CG_EINVAL;
    if (check_request(req, err) ||
        cg_tls__load_chain(ca_cert, ca_cert ? strlen(ca_cert) : 0, "ca cert", &ca, NULL, err) ||
        cg_tls__load_key(ca_key, ca_key ? strlen(ca_key) : 0, "ca key", &cakey, err))
        goto Exit;
    if (X509_check_private_key(ca, cakey) != 1) {
        cg_buf_printf(err, "ca key: does not match the CA certificate");
        goto Exit;
    }
    if (X509_check_ca(ca) == 0) {
        cg_buf_printf(err, "ca cert: not a CA certificate");
        goto Exit;
    }
    rc = CG_ENOMEM;
    if (!(key = EVP_EC_gen("P-256")) ||
        !(x = new_cert(key, req->common_name, req->not_before_s, req->days)))
        goto Exit;
    if (X509_set_issuer_name(x, X509_get_subject_name(ca)) != 1 ||
        !add_ext(x, ca, NID_basic_constraints, "critical,CA:FALSE") ||
        !add_ext(x, ca, NID_key_usage, "critical,digitalSignature") ||
        !add_ext(x, ca, NID_ext_key_usage, "serverAuth,clientAuth") ||
        !add_ext(x, ca, NID_subject_key_identifier, "hash") ||
        !add_ext(x, ca, NID_authority_key_identifier, "keyid:always") || !add_sans(x, req) ||
        !X509_sign(x, cakey, EVP_sha256()))
        goto Exit;
    rc = emit(x, key, cert_out, key_out);
Exit:
    if (rc == CG_ENOMEM) cg_buf_printf(err, "could not issue the certificate (out of memory)");
    ERR_clear_error();
    X509_free(ca);
    X509_free(x);
    EVP_PKEY_free(cakey);
    EVP_PKEY_free(key);
    return rc;
}
