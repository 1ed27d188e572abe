/* TEMPORARY (branch h-model only): the two tls.h functions the model layer calls, so that the
 * model's TLS checks build and test before the tls layer lands. DROP AT MERGE: src/tls/tls.c
 * implements the contract. */
#include "tls/tls.h"

#include "core/err.h"
#include "core/list.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static const char *const version_names[] = {"TLS_AUTO", "TLSV1_0", "TLSV1_1", "TLSV1_2", "TLSV1_3"};

int cg_tls_version_parse(const char *name, cg_tls_version_t *out)
{
    for (size_t i = 0; i < sizeof(version_names) / sizeof(version_names[0]); i++)
        if (strcmp(name, version_names[i]) == 0) return *out = (cg_tls_version_t)i, 0;
    return CG_EINVAL;
}

const char *cg_tls_version_name(cg_tls_version_t v)
{
    return (unsigned)v < 5 ? version_names[v] : "TLS_AUTO";
}

static X509 *read_cert(const char *pem, size_t len)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

int cg_tls_pem_check(const cg_tls_pem_t *pem, char **warning, cg_buf_t *err)
{
    if (warning) *warning = NULL;
    X509 *leaf = read_cert(pem->cert, pem->cert_len);
    if (leaf == NULL) {
        ERR_clear_error();
        cg_buf_printf(err, "cert: not a PEM certificate");
        return CG_EINVAL;
    }
    BIO *b = BIO_new_mem_buf(pem->key, (int)pem->key_len);
    EVP_PKEY *key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    int rc = 0;
    if (key == NULL) {
        cg_buf_printf(err, "key: not a PEM private key");
        rc = CG_EINVAL;
    } else if (X509_check_private_key(leaf, key) != 1) {
        cg_buf_printf(err, "key: does not match the certificate");
        rc = CG_EINVAL;
    } else if (pem->ca != NULL) {
        X509 *ca = read_cert(pem->ca, pem->ca_len);
        if (ca == NULL) {
            cg_buf_printf(err, "ca: not a PEM certificate");
            rc = CG_EINVAL;
        }
        X509_free(ca);
    }
    if (rc == 0 && warning && X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0) {
        struct tm tm;
        char when[32] = "?";
        if (ASN1_TIME_to_tm(X509_get0_notAfter(leaf), &tm) == 1)
            strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        char line[64];
        snprintf(line, sizeof(line), "certificate expired on %s", when);
        *warning = cg_xstrdup(line);
    }
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(leaf);
    return rc;
}
