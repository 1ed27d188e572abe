/* /v1/tokens: list, create (the secret shown once) and revoke control-plane tokens. */
#include "control/api.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/json.h"
#include "core/log.h"

#include <inttypes.h>
#include <llhttp.h>
#include <stdlib.h>
#include <string.h>

void cg_control__handle_tokens(cg_control_t *cp, const cg_httpd_req_t *req, cg_httpd_resp_t *resp,
                               const cg_iov_t *seg, size_t nseg)
{
    if (nseg == 2 && req->method == HTTP_GET) {
        resp->content_type = "application/json";
        cg_control_tokens_json(&cp->tokens, &resp->body);
        return;
    }
    if (nseg == 3 && req->method == HTTP_DELETE) {
        char id[CG_TOKEN_ID_LEN + 1];
        cg_buf_t err = {0};
        int r = seg[2].len == CG_TOKEN_ID_LEN
                    ? (memcpy(id, seg[2].base, CG_TOKEN_ID_LEN), id[CG_TOKEN_ID_LEN] = 0,
                       cg_control_tokens_revoke(&cp->tokens, id, &err))
                    : CG_ENOENT;
        if (r == CG_ENOENT)
            cg_control__text(resp, 404, "unknown token\n");
        else if (r)
            cg_control__text(resp, 500, "%.*s\n", (int)err.len, err.base);
        else {
            /* its instances can no longer heartbeat: their leases end within one TTL */
            cg_log_info("control: token %s revoked", id);
            cg_control__text(resp, 200, "token %s revoked\n", id);
        }
        cg_buf_free(&err);
        return;
    }
    if (nseg != 2 || req->method != HTTP_POST) {
        cg_control__text(resp, 405, "method not allowed\n");
        return;
    }
    cg_buf_t err = {0};
    cg_control_token_req_t tr;
    if (cg_control_token_req_parse(req->body.base ? req->body.base : "", req->body.len, &tr,
                                   &err)) {
        cg_control__text(resp, 400, "bad token request: %.*s\n", (int)err.len,
                         err.base ? err.base : "");
        cg_buf_free(&err);
        return;
    }
    char *secret = NULL;
    const cg_token_t *k = NULL;
    int r =
        cg_control_tokens_create(&cp->tokens, tr.role, tr.cluster[0] ? tr.cluster : NULL, tr.ttl_ms,
                                 tr.allow, tr.nallow, cg_clock_wall_us() / 1000, &secret, &k, &err);
    if (r) {
        cg_control__text(resp, r == CG_EINVAL ? 400 : 500, "cannot create token: %.*s\n",
                         (int)err.len, err.base ? err.base : "");
        cg_buf_free(&err);
        return;
    }
    cg_log_info("control: %s token %s created%s%s", cg_role_name(k->role), k->id,
                k->cluster[0] ? " for cluster " : "", k->cluster);
    resp->content_type = "application/json";
    const cg_control_token_new_t answer = {.id = k->id,
                                           .role = cg_role_name(k->role),
                                           .token = secret,
                                           .expires_ms = k->expires_wall_ms};
    cg_control_token_new_write(&answer, &resp->body);
    free(secret);
}

/* ---- tokens kept in a shared store ---- */

static int persist(void *data, const char *text, size_t len, cg_buf_t *err)
{
    cg_control_t *cp = data;
    if (cg_control_store_tokens_put(&cp->store, text, len) == 0) return 0;
    cg_buf_printf(err, "store unavailable: %s",
                  cg_control_store_why(&cp->store, "cannot write the tokens"));
    return CG_EIO;
}

void cg_control__tokens_sync(cg_control_store_t *st, void *data)
{
    cg_control_t *cp = data;
    cg_buf_t text = {0}, err = {0};
    if (!cg_control_store_ready(st)) return; /* read once it is */
    if (cg_control_store_tokens_get(st, &text)) {
        if (cg_control_tokens_replace(&cp->tokens, "the store's tokens", text.base ? text.base : "",
                                      text.len, &err))
            cg_log_error("control: %.*s: the tokens stay as they were", (int)err.len, err.base);
    } else if (cp->tokens.items.len) {
        /* a store without tokens yet: this control plane's (DATA/tokens) become everyone's */
        cg_control_tokens_encode(&cp->tokens, &text);
        if (cg_control_store_tokens_put(st, text.base, text.len) == 0)
            cg_log_info("control: %zu token(s) of %s copied into the store", cp->tokens.items.len,
                        cp->tokens.path);
    }
    cg_buf_free(&text);
    cg_buf_free(&err);
}

void cg_control__tokens_attach(cg_control_t *cp)
{
    if (!cg_control_store_keeps_tokens(&cp->store)) return;
    cp->tokens.persist = persist;
    cp->tokens.persist_data = cp;
    cg_control__tokens_sync(&cp->store, cp);
}
