/* The TLS transport (core/transport.h over an SSL object): OpenSSL's wants become the
 * transport's, its errors a failure reason for the metrics. */
#include "core/err.h"
#include "tls/tls_int.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

static cg_tls__sess_t *sess_of(const cg_xport_t *x)
{
    return x && x->ops == &cg_tls__xport_ops ? x->impl : NULL;
}

/* The peer's certificate failed verification: unknown issuer, or another fault. */
static const char *verify_reason(const cg_tls__sess_t *s)
{
    switch (SSL_get_verify_result(s->ssl)) {
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return "unknown_ca";
    default: return "bad_certificate";
    }
}

/* OpenSSL's reason for a failed handshake, by the first SSL-library error in the queue. */
static const char *ssl_reason(const cg_tls__sess_t *s)
{
    unsigned long e;
    const char *why = "other";
    while ((e = ERR_get_error()) != 0) {
        if (ERR_GET_LIB(e) != ERR_LIB_SSL) continue;
        switch (ERR_GET_REASON(e)) {
        case SSL_R_NO_SHARED_CIPHER:
        case SSL_R_NO_SHARED_SIGNATURE_ALGORITHMS:
        case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
        case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE: why = "no_shared_cipher"; break;
        case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
        case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED: why = "no_client_certificate"; break;
        case SSL_R_CERTIFICATE_VERIFY_FAILED:
            why = s->san_fail ? "bad_certificate" : verify_reason(s);
            break;
        case SSL_R_TLSV1_ALERT_UNKNOWN_CA: why = "unknown_ca"; break;
        case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
        case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
        case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: why = "bad_certificate"; break;
        case SSL_R_UNSUPPORTED_PROTOCOL:
        case SSL_R_WRONG_VERSION_NUMBER:
        case SSL_R_VERSION_TOO_LOW:
        case SSL_R_VERSION_TOO_HIGH:
        case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION: why = "protocol_version"; break;
        case SSL_R_HTTP_REQUEST:
        case SSL_R_HTTPS_PROXY_REQUEST: why = "http_request"; break;
        case SSL_R_UNEXPECTED_EOF_WHILE_READING: why = "eof"; break;
        default: continue;
        }
        break;
    }
    ERR_clear_error();
    return why;
}

/* After an SSL call that did not succeed (r <= 0): CG_EAGAIN with want, 0 at the peer's
 * close_notify, or an error; errors are fatal for the session. */
static int status(cg_xport_t *x, cg_tls__sess_t *s, int r)
{
    int saved = errno;
    switch (SSL_get_error(s->ssl, r)) {
    case SSL_ERROR_WANT_READ: x->want = CG_XPORT_WANT_READ; return CG_EAGAIN;
    case SSL_ERROR_WANT_WRITE: x->want = CG_XPORT_WANT_WRITE; return CG_EAGAIN;
    case SSL_ERROR_ZERO_RETURN: ERR_clear_error(); return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        s->failed = 1;
        if (!s->reason)
            s->reason = saved == 0 || saved == ECONNRESET || saved == EPIPE ? "eof" : "other";
        if (saved == 0) return CG_ECLOSED;
        /* the session has failed: never "try again", whatever errno a stale call left */
        {
            int e = cg_err_from_errno(saved);
            return e == CG_EAGAIN ? CG_EIO : e;
        }
    default:
        s->failed = 1;
        if (!s->done && !s->reason)
            s->reason = ssl_reason(s);
        else
            ERR_clear_error();
        return !strcmp(s->reason ? s->reason : "", "http_request") ? CG_EPARSE : CG_EIO;
    }
}

static int tls_handshake(cg_xport_t *x)
{
    cg_tls__sess_t *s = x->impl;
    if (s->done) return 0;
    if (s->failed) return CG_EIO;
    if (s->servers && !s->peeked) {
        /* plaintext HTTP on a TLS port gets its own reason (and a cleartext 400 from the
         * caller); a peek leaves the bytes for OpenSSL */
        char first[8];
        ssize_t n = recv(x->fd, first, sizeof(first), MSG_PEEK);
        if (n > 0) {
            s->peeked = 1;
            if (cg_tls_looks_like_http(first, (size_t)n)) {
                s->failed = 1;
                s->reason = "http_request";
                return CG_EPARSE;
            }
        } else if (n == 0) {
            s->failed = 1;
            s->reason = "eof";
            return CG_ECLOSED;
        } else if (errno == EAGAIN) {
            x->want = CG_XPORT_WANT_READ;
            return CG_EAGAIN;
        }
    }
    ERR_clear_error();
    int r = SSL_do_handshake(s->ssl);
    if (r == 1) {
        s->done = 1;
        return 0;
    }
    int rc = status(x, s, r);
    if (rc == 0) { /* close_notify before the end of the handshake */
        s->failed = 1;
        s->reason = "eof";
        rc = CG_ECLOSED;
    }
    return rc;
}

static ssize_t tls_read(cg_xport_t *x, void *buf, size_t len)
{
    cg_tls__sess_t *s = x->impl;
    int rc;
    if (!s->done && (rc = tls_handshake(x)) != 0) return rc;
    if (s->failed) return CG_EIO;
    size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(s->ssl, buf, len, &n) == 1) return (ssize_t)n;
    return status(x, s, 0);
}

/* One record from the iovs: the first alone when it is 8 KiB or more (or the only one), else as
 * many bytes as fit a 16 KiB record, gathered on the stack. The stack is enough because
 * SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER lets a retry come from another address, and OpenSSL has
 * encrypted what it took before it answers WANT_WRITE; so an idle connection holds no buffer of
 * ours and a write allocates nothing. A retry after CG_EAGAIN must offer OpenSSL at least what
 * it offered before: it does, since the caller offers the same bytes first and the choice
 * depends on the first iov alone. */
static ssize_t tls_writev(cg_xport_t *x, const struct iovec *iov, int iovcnt)
{
    cg_tls__sess_t *s = x->impl;
    char gather[CG_TLS__GATHER];
    int rc;
    if (!s->done && (rc = tls_handshake(x)) != 0) return rc;
    if (s->failed) return CG_EIO;
    while (iovcnt > 0 && iov[0].iov_len == 0) iov++, iovcnt--;
    if (iovcnt == 0) return 0;
    const void *p = iov[0].iov_base;
    size_t len = iov[0].iov_len;
    if (iovcnt > 1 && len < sizeof(gather) / 2) {
        len = 0;
        for (int i = 0; i < iovcnt && len < sizeof(gather); i++) {
            size_t take = iov[i].iov_len;
            if (take > sizeof(gather) - len) take = sizeof(gather) - len;
            memcpy(gather + len, iov[i].iov_base, take);
            len += take;
        }
        p = gather;
    }
    size_t n = 0;
    ERR_clear_error();
    if (SSL_write_ex(s->ssl, p, len, &n) == 1) return (ssize_t)n;
    rc = status(x, s, 0);
    return rc == 0 ? CG_ECLOSED : rc;
}

static size_t tls_pending(const cg_xport_t *x)
{
    const cg_tls__sess_t *s = x->impl;
    if (!s->done || s->failed) return 0;
    int n = SSL_pending(s->ssl);
    /* read-ahead (tls_int.h) may hold records not yet decrypted: bytes for the next read too,
     * which no epoll edge will announce */
    return n > 0 ? (size_t)n : (size_t)SSL_has_pending(s->ssl);
}

static int tls_shutdown(cg_xport_t *x)
{
    cg_tls__sess_t *s = x->impl;
    if (s->shut || s->failed || !s->done) return 0;
    ERR_clear_error();
    int r = SSL_shutdown(s->ssl);
    if (r >= 0) {
        s->shut = 1;
        return 0;
    }
    int rc = status(x, s, r);
    return rc == CG_EAGAIN ? rc : 0;
}

void cg_tls__sess_free(cg_tls__sess_t *s)
{
    SSL_free(s->ssl);
    cg_tls_servers_unref(s->servers);
    cg_tls_client_unref(s->client);
    free(s->expect_uri_san);
    free(s);
}

static void tls_release(cg_xport_t *x)
{
    if (!x->impl) return;
    cg_tls__sess_free(x->impl);
    x->impl = NULL;
}

const cg_xport_ops_t cg_tls__xport_ops = {
    .name = "tls",
    .read = tls_read,
    .writev = tls_writev,
    .handshake = tls_handshake,
    .pending = tls_pending,
    .shutdown = tls_shutdown,
    .release = tls_release,
};

cg_tls__sess_t *cg_tls__sess_new(SSL_CTX *ctx, int fd)
{
    cg_tls__sess_t *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    if (!(s->ssl = SSL_new(ctx)) || SSL_set_fd(s->ssl, fd) != 1 ||
        SSL_set_ex_data(s->ssl, cg_tls__ex_sess(), s) != 1) {
        ERR_clear_error();
        cg_tls__sess_free(s);
        return NULL;
    }
    return s;
}

void cg_tls__xport_init(cg_xport_t *x, cg_tls__sess_t *s)
{
    x->ops = &cg_tls__xport_ops;
    x->impl = s;
    x->fd = SSL_get_fd(s->ssl);
    x->want = 0;
}

/* ---- what was negotiated ---- */

const char *cg_tls_sni(const cg_xport_t *x)
{
    cg_tls__sess_t *s = sess_of(x);
    return s && s->servers ? SSL_get_servername(s->ssl, TLSEXT_NAMETYPE_host_name) : NULL;
}

const char *cg_tls_version(const cg_xport_t *x)
{
    cg_tls__sess_t *s = sess_of(x);
    return s && s->done ? SSL_get_version(s->ssl) : NULL;
}

const char *cg_tls_alpn(const cg_xport_t *x)
{
    static const char *const known[] = {"http/1.1", "h2"};
    cg_tls__sess_t *s = sess_of(x);
    const unsigned char *p;
    unsigned int len = 0;
    if (!s) return NULL;
    SSL_get0_alpn_selected(s->ssl, &p, &len);
    for (size_t i = 0; len && i < sizeof(known) / sizeof(known[0]); i++)
        if (strlen(known[i]) == len && !memcmp(known[i], p, len)) return known[i];
    return NULL;
}

int cg_tls_resumed(const cg_xport_t *x)
{
    cg_tls__sess_t *s = sess_of(x);
    return s && s->done && SSL_session_reused(s->ssl) == 1;
}

int cg_tls_server_index(const cg_xport_t *x)
{
    cg_tls__sess_t *s = sess_of(x);
    return s && s->servers ? s->server_index : -1;
}

const char *cg_tls_failure_reason(const cg_xport_t *x)
{
    cg_tls__sess_t *s = sess_of(x);
    return s && s->reason ? s->reason : "other";
}
