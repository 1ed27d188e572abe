/* What the tls tests share: certificates and keys made at run time by the mesh CA. Included by
 * one test file each (static functions). */
#ifndef CG_TESTS_TLS_CERTS_H
#define CG_TESTS_TLS_CERTS_H

#include "core/buf.h"
#include "tls/tls.h"

/* A certificate and its key, PEM. */
typedef struct {
    cg_buf_t cert, key;
} pair_t;

/* b's data as a C string (a NUL kept past the end, not counted). */
static inline const char *pem_str(cg_buf_t *b)
{
    if (cg_buf_size(b) == 0 || b->base[b->len - 1] != '\0') cg_buf_append(b, "", 1), b->len--;
    return cg_buf_data(b);
}

/* A leaf from issuer: one DNS and one URI SAN (each may be NULL), valid from from_s seconds from
 * now for days. */
static inline void issue_pair(pair_t *issuer, pair_t *out, const char *cn, const char *dns,
                              const char *uri, int64_t from_s, int days)
{
    cg_buf_t err = {0};
    cg_tls_issue_t req = {.common_name = cn,
                          .dns = &dns,
                          .ndns = dns != NULL,
                          .uris = &uri,
                          .nuris = uri != NULL,
                          .not_before_s = from_s,
                          .days = days};
    assert_int_equal(cg_tls_ca_issue(pem_str(&issuer->cert), pem_str(&issuer->key), &req,
                                     &out->cert, &out->key, &err),
                     0);
    cg_buf_free(&err);
}

static inline void pair_free(pair_t *p)
{
    cg_buf_free(&p->cert);
    cg_buf_free(&p->key);
}

#endif
