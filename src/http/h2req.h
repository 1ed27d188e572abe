/* An HTTP/2 request's header list rebuilt as an HTTP/1.1 request head (RFC 9113 §8.2, §8.3), so
 * the strict HTTP/1 parser and everything after it see a stream as they see any request. The
 * checks here are what keeps the rebuilt text one request and no other: fields that would split
 * the request line or a header line, or that have no meaning in HTTP/2, make the stream
 * malformed, never forwarded. nghttp2 checks the frame layer and much of §8 itself; the head
 * built here must not depend on that. */
#ifndef CG_HTTP_H2REQ_H
#define CG_HTTP_H2REQ_H

#include "core/buf.h"
#include "http/parser.h"

#include <stddef.h>
#include <stdint.h>

/* Fields a head given without a second parse may have (more: the parser reads it). */
#define CG_H2REQ_GIVEN_FIELDS 32

typedef struct cg_h2req {
    cg_buf_t method, path, authority, host, cookie, fields; /* values; "name: value\r\n" lines */
    size_t hlist;    /* the list's size as RFC 9113 §6.5.2 counts it: name + value + 32 each */
    size_t max_list; /* past it the request is too large (431) */
    uint8_t has_scheme, cl_seen;
    uint8_t bad;       /* malformed: a stream error (PROTOCOL_ERROR) */
    uint8_t too_large; /* the list is past max_list: answered 431 */
    /* for cg_h2req_given_head: every value is VCHAR, SP or HTAB only, and the lengths of the
     * first CG_H2REQ_GIVEN_FIELDS lines of `fields` (nfields counts them all) */
    uint8_t plain;
    uint16_t nfields;
    struct {
        uint32_t name, value;
    } lens[CG_H2REQ_GIVEN_FIELDS];
} cg_h2req_t;

/* Ready for a new request, keeping the buffers' storage. */
void cg_h2req_reset(cg_h2req_t *r, size_t max_list);
void cg_h2req_free(cg_h2req_t *r);
/* One field of the request's header block, in order. Sets bad or too_large; once either is set
 * the rest are only counted. */
void cg_h2req_field(cg_h2req_t *r, const uint8_t *name, size_t namelen, const uint8_t *value,
                    size_t valuelen);
/* The block ended: appends the HTTP/1.1 head to out, with Host from :authority (or Host), the
 * cookies joined, and, when a body follows (!end_stream) without a content-length, a chunked
 * framing (*chunked = 1: the body is then sent in chunks, and the last chunk at its end).
 * Returns 0, CG_EPARSE (malformed), CG_ELIMIT (too large) or CG_ENOMEM; nothing is appended
 * unless 0. */
int cg_h2req_head(cg_h2req_t *r, int end_stream, cg_buf_t *out, int *chunked);
/* The head cg_h2req_head built (end_stream set) at text[0, len), filled into h as the strict
 * parser (http/parser.c) fills it from that text, without parsing it again: the builder knows
 * where each line is. Only for the plain case, a request without a body or content-length, a
 * common method, an origin-form target of unreserved, sub-delims, ":@/?%" characters, a valid
 * Host, plain values and at most CG_H2REQ_GIVEN_FIELDS fields within lim; 0 then, else -1 and
 * the caller parses the text (which also gives any error its status). */
int cg_h2req_given_head(const cg_h2req_t *r, const char *text, size_t len, cg_http_head_t *h,
                        const cg_http_limits_t *lim);

#endif
