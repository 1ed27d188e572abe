/* Session-ticket keys shared by every server context of a process: keys[0] encrypts new tickets,
 * it and the previous ones decrypt, so a rotation does not cut resumption short and any worker
 * resumes a session another issued. */
#include "core/err.h"
#include "core/log.h"
#include "tls/tls_int.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>

static int fresh_key(cg_tls__tkey_t *k)
{
    return RAND_bytes(k->name, sizeof(k->name)) == 1 && RAND_bytes(k->aes, sizeof(k->aes)) == 1 &&
                   RAND_bytes(k->hmac, sizeof(k->hmac)) == 1
               ? 0
               : CG_EIO;
}

cg_tls_ticket_keys_t *cg_tls_ticket_keys_new(void)
{
    cg_tls_ticket_keys_t *k = calloc(1, sizeof(*k));
    if (!k) return NULL;
    if (pthread_rwlock_init(&k->lock, NULL)) {
        free(k);
        return NULL;
    }
    if (fresh_key(&k->keys[0])) {
        cg_tls_ticket_keys_free(k);
        return NULL;
    }
    k->nkeys = 1;
    return k;
}

void cg_tls_ticket_keys_rotate(cg_tls_ticket_keys_t *k)
{
    cg_tls__tkey_t next;
    if (fresh_key(&next)) {
        cg_log_warn("tls: no randomness for a new ticket key; keeping the current one");
        return;
    }
    pthread_rwlock_wrlock(&k->lock);
    memmove(&k->keys[1], &k->keys[0], sizeof(k->keys[0]) * (CG_TLS__NKEYS - 1));
    k->keys[0] = next;
    if (k->nkeys < CG_TLS__NKEYS) k->nkeys++;
    pthread_rwlock_unlock(&k->lock);
    OPENSSL_cleanse(&next, sizeof(next));
}

void cg_tls_ticket_keys_free(cg_tls_ticket_keys_t *k)
{
    if (!k) return;
    pthread_rwlock_destroy(&k->lock);
    OPENSSL_cleanse(k->keys, sizeof(k->keys));
    free(k);
}

static int set_hmac(EVP_MAC_CTX *hctx, unsigned char *key)
{
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, key, 32),
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    return EVP_MAC_CTX_set_params(hctx, params) == 1;
}

int cg_tls__ticket_cb(SSL *ssl, unsigned char *key_name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
                      EVP_MAC_CTX *hctx, int enc)
{
    cg_tls__srv_t *srv = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), cg_tls__ex_srv());
    if (!srv) return -1;
    cg_tls_ticket_keys_t *k = srv->set->keys;
    int rc = -1;
    pthread_rwlock_rdlock(&k->lock);
    if (enc) {
        cg_tls__tkey_t *key = &k->keys[0];
        memcpy(key_name, key->name, sizeof(key->name));
        if (RAND_bytes(iv, 16) == 1 &&
            EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes, iv) == 1 &&
            set_hmac(hctx, key->hmac))
            rc = 1;
        goto Exit;
    }
    rc = 0; /* an unknown key: a full handshake, and a new ticket */
    for (size_t i = 0; i < k->nkeys; i++) {
        cg_tls__tkey_t *key = &k->keys[i];
        if (memcmp(key_name, key->name, sizeof(key->name)) != 0) continue;
        if (!set_hmac(hctx, key->hmac) ||
            EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, key->aes, iv) != 1)
            rc = -1;
        else
            rc =
                i == 0 ? 1 : 2; /* 2: an older key; OpenSSL issues a ticket under the current one */
        break;
    }
Exit:
    pthread_rwlock_unlock(&k->lock);
    return rc;
}
