/* The framing contract for what a gateway forwards: a head it rebuilds from a parsed one, with
 * the framing it validated itself (its own Content-Length, or chunked it re-encodes), hop-by-hop
 * headers and those named in Connection removed, and its own forwarding headers added. No
 * header of the client or the upstream can remove the framing or the gateway's own headers. */
#ifndef CG_HTTP_FORWARD_H
#define CG_HTTP_FORWARD_H

#include "http/message.h"

/* Loop guard: every gateway counts itself in this header. */
#define CG_HTTP_HOPS_HEADER "x-crossgate-hops"

/* What the gateway adds to a request it forwards. */
typedef struct cg_http_fwd_req {
    cg_iov_t peer_ip;      /* appended to x-forwarded-for; must outlive the write */
    cg_iov_t request_id;   /* replaces the client's x-request-id when set (generated) */
    unsigned hops;         /* x-crossgate-hops to send */
    uint8_t drop_expect;   /* the gateway answers 100-continue itself */
    uint8_t https;         /* the client's connection is TLS: x-forwarded-proto: https */
    cg_iov_t default_host; /* Host to send when the request has none (HTTP/1.0) */
    /* Host to send instead of the client's (an east-west gateway routes on the service's
     * hostname); empty: the client's */
    cg_iov_t host;
    uint8_t upgrade; /* a WebSocket handshake: its Upgrade goes on, with Connection: upgrade */
} cg_http_fwd_req_t;

/* Queues the request head to send upstream, as slices of base (the request's read buffer) and
 * of o's scratch. Absolute-form targets go in origin-form with their authority as Host.
 * Returns 0 or CG_ELIMIT (the head does not fit the output vector). */
int cg_http_forward_request_head(cg_http_out_t *o, const cg_http_head_t *h, const char *base,
                                 const cg_http_fwd_req_t *f);

/* Queues the response head to send downstream. chunked_out: the body goes re-chunked (else a
 * Content-Length, when the upstream sent one, is sent normalised); close: add
 * "connection: close"; keepalive_10: add "connection: keep-alive" (an HTTP/1.0 client). */
int cg_http_forward_response_head(cg_http_out_t *o, const cg_http_head_t *h, const char *base,
                                  int chunked_out, int close, int keepalive_10);

/* Queues the head of a 101 (Switching Protocols) that answers a WebSocket handshake the gateway
 * forwarded: the upstream's headers, its Upgrade, and Connection: upgrade. */
int cg_http_forward_upgrade_head(cg_http_out_t *o, const cg_http_head_t *h, const char *base);

/* A WebSocket handshake (RFC 6455 4.1): a GET of HTTP/1.1, without a body, whose Connection
 * names upgrade (the parser's CG_HTTP_F_UPGRADE) and whose only Upgrade is "websocket". Any
 * other Upgrade is hop-by-hop and dropped, and the request goes on as a plain one. */
int cg_http_is_websocket(const cg_http_head_t *h, const char *base);

/* The hop count a request carries: the largest of its x-crossgate-hops headers (so duplicates
 * cannot hide one), 0 without any, UINT_MAX for a value that is not 1*DIGIT. */
unsigned cg_http_head_hops(const cg_http_head_t *h, const char *base);

/* Is `name` hop-by-hop for this message: one of RFC 9110's, or named in a Connection header?
 * Callers handle the headers Connection may never remove before asking. */
int cg_http_hop_by_hop(const cg_http_head_t *h, const char *base, cg_iov_t name);

/* The fields of a response head as they cross to an HTTP/2 client: the ones
 * cg_http_forward_response_head keeps, as received (names as the upstream spelled them), then
 * content-length where the head has one. `each` returns non-zero to stop (CG_ENOMEM then);
 * the value slices it gets live only for the call. */
typedef int (*cg_http_field_cb)(void *ctx, cg_iov_t name, cg_iov_t value);
int cg_http_response_fields(const cg_http_head_t *h, const char *base, cg_http_field_cb each,
                            void *ctx);

#endif
