/* Access log in Envoy's default format, buffered per worker, written in batches. */
#ifndef CG_PROXY_ACCESSLOG_H
#define CG_PROXY_ACCESSLOG_H

#include "core/buf.h"

#include <stdint.h>

/* Response flags (Envoy's short names). */
#define CG_RESPONSE_FLAGS(X)                                                                       \
    X(UH, 1u << 0)                                                                                 \
    X(UF, 1u << 1)                                                                                 \
    X(UO, 1u << 2)                                                                                 \
    X(NR, 1u << 3)                                                                                 \
    X(URX, 1u << 4)                                                                                \
    X(UT, 1u << 5)                                                                                 \
    X(UC, 1u << 6)                                                                                 \
    X(DC, 1u << 7)                                                                                 \
    X(DPE, 1u << 8)                                                                                \
    X(UPE, 1u << 9)                                                                                \
    X(SI, 1u << 10)                                                                                \
    X(LR, 1u << 11)                                                                                \
    X(OM, 1u << 12) /* overload: a local resource (fds, memory) ran out; no endpoint's fault */

enum {
#define CG__RF(name, bit) CG_RF_##name = bit,
    CG_RESPONSE_FLAGS(CG__RF)
#undef CG__RF
};

/* Appends the flags as "UF,URX" or "-". */
void cg_proxy_flags_format(cg_buf_t *out, uint32_t flags);

typedef struct cg_access_entry {
    uint64_t start_wall_us;
    cg_iov_t method, path;
    int http_minor;
    int http2; /* the request came as an HTTP/2 stream */
    int status;
    uint32_t flags;
    uint64_t bytes_received, bytes_sent;
    uint64_t duration_ms;
    int64_t upstream_ms; /* -1: none */
    cg_iov_t xff_orig;   /* incoming x-forwarded-for (may be empty) */
    cg_iov_t peer_ip;    /* appended to x-forwarded-for */
    cg_iov_t user_agent, request_id, authority, upstream_host;
    /* --access-log-tls: %DOWNSTREAM_TLS_VERSION% and %REQUESTED_SERVER_NAME% end the line */
    uint8_t tls_fields;
    cg_iov_t tls_version, sni; /* empty on plain text, or without SNI */
} cg_access_entry_t;

/* Appends one line in Envoy's default format (and the TLS fields when asked for). */
void cg_proxy_access_format(cg_buf_t *out, const cg_access_entry_t *e);

#endif
