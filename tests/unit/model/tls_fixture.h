/* Test certificates made at run time (no key is ever committed): a self-signed P-256 leaf,
 * valid from `from_days` to `to_days` days from now, as PEM text. Include from one test file. */
#ifndef CG_TESTS_TLS_FIXTURE_H
#define CG_TESTS_TLS_FIXTURE_H

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fx_cert {
    char *cert, *key; /* PEM, malloc'd */
} fx_cert_t;

static __attribute__((unused)) char *fx_bio_text(BIO *b)
{
    char *p;
    long n = BIO_get_mem_data(b, &p);
    char *s = malloc((size_t)n + 1);
    memcpy(s, p, (size_t)n);
    s[n] = '\0';
    BIO_free(b);
    return s;
}

static __attribute__((unused)) fx_cert_t fx_cert(const char *cn, long from_days, long to_days)
{
    fx_cert_t out = {0};
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), from_days * 86400);
    X509_gmtime_adj(X509_getm_notAfter(x), to_days * 86400);
    X509_set_pubkey(x, k);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, k, EVP_sha256());
    BIO *cb = BIO_new(BIO_s_mem()), *kb = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(cb, x);
    PEM_write_bio_PrivateKey(kb, k, NULL, NULL, 0, NULL, NULL);
    out.cert = fx_bio_text(cb);
    out.key = fx_bio_text(kb);
    X509_free(x);
    EVP_PKEY_free(k);
    return out;
}

static __attribute__((unused)) void fx_cert_free(fx_cert_t *c)
{
    free(c->cert);
    free(c->key);
}

static __attribute__((unused)) void fx_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(text, f) < 0) abort();
    fclose(f);
}

/* text as standard base64, malloc'd (for a Secret's data). */
static __attribute__((unused)) char *fx_base64(const char *text)
{
    size_t n = strlen(text);
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)text, (int)n);
    return out;
}

/* text indented by `indent` spaces on every line (a YAML block scalar's body). */
static __attribute__((unused)) void fx_indent(char *out, size_t cap, const char *text, int indent)
{
    size_t o = 0;
    int bol = 1;
    for (const char *p = text; *p && o + (size_t)indent + 2 < cap; p++) {
        if (bol)
            for (int i = 0; i < indent; i++) out[o++] = ' ';
        out[o++] = *p;
        bol = *p == '\n';
    }
    out[o] = '\0';
}

#endif
