/* Control-plane credentials: an admin token, reader tokens, and join tokens scoped to one
 * cluster. Only SHA-256 digests are kept (DATA/tokens, mode 0600, rewritten atomically); the
 * secret is shown once, when created. No I/O on the request path beyond the rewrite on change. */
#ifndef CG_CONTROL_TOKENS_H
#define CG_CONTROL_TOKENS_H

#include "core/buf.h"
#include "core/json.h"
#include "core/list.h"
#include "core/sock.h"

#include <stdint.h>

typedef enum { CG_ROLE_ADMIN, CG_ROLE_READER, CG_ROLE_JOIN } cg_role_t;

#define CG_TOKEN_MAX_ALLOW 8
#define CG_TOKEN_ID_LEN    16 /* hex digits */

/* A prefix of addresses a join token may advertise besides its connection's own. */
typedef struct cg_cidr {
    cg_addr_t net;
    uint8_t bits;
} cg_cidr_t;

typedef struct cg_token {
    char id[CG_TOKEN_ID_LEN + 1];
    uint8_t digest[32];
    cg_role_t role;
    char cluster[64];         /* join: the only cluster it may register */
    uint64_t expires_wall_ms; /* 0: never */
    cg_cidr_t allow[CG_TOKEN_MAX_ALLOW];
    size_t nallow;
    uint64_t created_wall_ms;
    /* registration rate (in memory): a token bucket */
    double bucket;
    uint64_t bucket_ms;
} cg_token_t;

typedef struct cg_tokens {
    char *path; /* DATA/tokens */
    CG_VEC(cg_token_t *) items;
    cg_token_t admin; /* the admin credential (DATA/admin.token or --token-file) */
    int insecure;     /* --insecure: every request acts as admin */
    int admin_set;    /* admin.digest holds a credential */
    /* Set: changes are written through persist (the tokens' text, cg_control_tokens_encode)
     * instead of DATA/tokens: a store that several control planes share. 0 or CG_E* with one
     * line in err; on failure the change is not made. */
    int (*persist)(void *persist_data, const char *text, size_t len, cg_buf_t *err);
    void *persist_data;
} cg_tokens_t;

/* Loads DATA/tokens and sets up the admin credential: the content of token_file when given,
 * else DATA/admin.token, created (mode 0600) on first start; *created tells which. Returns 0,
 * or CG_E* with one line in err. */
int cg_control_tokens_open(cg_tokens_t *t, const char *dir, const char *token_file, int *created,
                           cg_buf_t *err);
void cg_control_tokens_close(cg_tokens_t *t);
/* The tokens as DATA/tokens holds them (one a line; digests, never secrets), appended. */
void cg_control_tokens_encode(const cg_tokens_t *t, cg_buf_t *out);
/* Replaces every token (not the admin credential) by those of text, as encode writes it; name
 * goes in error lines. 0, or CG_EPARSE with one line in err and nothing changed. */
int cg_control_tokens_replace(cg_tokens_t *t, const char *name, const char *text, size_t len,
                              cg_buf_t *err);

/* The token an "Authorization: Bearer ..." value names, if valid and not expired; NULL else.
 * Compares digests in constant time. */
const cg_token_t *cg_control_tokens_check(cg_tokens_t *t, cg_iov_t authorization,
                                          uint64_t now_wall_ms);

/* Creates a token; its secret (to hand to the user once) goes to *secret (free it). */
int cg_control_tokens_create(cg_tokens_t *t, cg_role_t role, const char *cluster, uint64_t ttl_ms,
                             const cg_cidr_t *allow, size_t nallow, uint64_t now_wall_ms,
                             char **secret, const cg_token_t **out, cg_buf_t *err);
/* Revokes (forgets) a token. Returns 0 or CG_ENOENT. */
int cg_control_tokens_revoke(cg_tokens_t *t, const char *id, cg_buf_t *err);
/* {"tokens":[{id, role, cluster, expires, allow}]}: never a digest or secret. */
void cg_control_tokens_json(const cg_tokens_t *t, cg_buf_t *out);

/* POST /v1/tokens: {"role": "reader"|"join", "cluster": C, "ttl_ms": N, "allow": ["CIDR", ...]}. */
typedef struct cg_control_token_req {
    cg_role_t role;
    char cluster[64];
    uint64_t ttl_ms;
    cg_cidr_t allow[CG_TOKEN_MAX_ALLOW];
    size_t nallow;
} cg_control_token_req_t;
/* Reads the request strictly (JSON through core/json, at most 64 values and keys); 0, or
 * CG_EINVAL with one message in err. */
int cg_control_token_req_parse(const char *body, size_t len, cg_control_token_req_t *out,
                               cg_buf_t *err);
/* The same request as `crossgate token create` writes it: cluster NULL, ttl_ms 0 and nallow 0
 * leave their member out; allow is sent as given (the control plane checks it). */
void cg_control_token_req_write(cg_buf_t *out, const char *role, const char *cluster,
                                uint64_t ttl_ms, const char *const *allow, size_t nallow);

/* The answer to POST /v1/tokens: {"id", "role", "token" (the secret, shown once), "expires_ms"
 * (0: never)}. Strings are borrowed. */
typedef struct cg_control_token_new {
    const char *id, *role, *token;
    uint64_t expires_ms;
} cg_control_token_new_t;
void cg_control_token_new_write(const cg_control_token_new_t *n, cg_buf_t *out);
/* Reads what cg_control_token_new_write wrote; absent members read as NULL or 0. */
void cg_control_token_new_read(const cg_json_t *doc, cg_control_token_new_t *out);

/* Takes one registration from the token's bucket (rate per second, burst): 1 if allowed. */
int cg_control_tokens_take(cg_token_t *tok, uint64_t now_ms, double rate, double burst);

/* "10.0.0.0/8", "127.0.5.7" (a /32), "::1/128". Returns 0 or CG_EINVAL. */
int cg_cidr_parse(const char *s, cg_cidr_t *out);
int cg_cidr_contains(const cg_cidr_t *c, const cg_addr_t *a);
const char *cg_role_name(cg_role_t r);
int cg_role_parse(const char *s, cg_role_t *out);

#endif
