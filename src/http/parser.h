/* Incremental HTTP/1.x parsing on llhttp (strict mode). Heads are recorded as offsets into the
 * caller's buffer; bodies come out as slices queued on a cg_http_out_t, re-framed for the
 * receiving side (Content-Length as is, chunked re-chunked per piece, or raw to close). */
#ifndef CG_HTTP_PARSER_H
#define CG_HTTP_PARSER_H

#include "http/message.h"

#include <llhttp.h>
#include <stddef.h>

/* The defaults (no configuration sets others today): a request over either is refused with 431
 * or 414, a response head over max_head is a 502. */
#define CG_HTTP_DEFAULT_MAX_HEAD         (64 * 1024)
#define CG_HTTP_DEFAULT_MAX_REQUEST_LINE (8 * 1024)

typedef struct cg_http_limits {
    uint32_t max_head;         /* a whole head, CRLFCRLF included */
    uint32_t max_request_line; /* the request target */
} cg_http_limits_t;

extern const cg_http_limits_t cg_http_default_limits;

enum { CG_BODY_OUT_NONE, CG_BODY_OUT_LENGTH, CG_BODY_OUT_CHUNKED, CG_BODY_OUT_RAW };

typedef struct cg_http_parser {
    llhttp_t ll;
    cg_http_head_t *head;
    const char *base; /* buffer data start for the current execute */
    const cg_http_limits_t *limits;
    cg_http_out_t *out;  /* body output of the current execute */
    uint64_t body_bytes; /* decoded body bytes seen */
    uint8_t state;
    uint8_t in_value;  /* last header callback was a value */
    uint8_t body_out;  /* CG_BODY_OUT_* */
    uint8_t skip_body; /* response to HEAD */
    uint8_t interim;   /* current response is 1xx */
    uint8_t complete;
    uint8_t upgrade_ok; /* a response may be a 101: the request was a WebSocket handshake */
    uint8_t trailers;   /* in the trailer section: scanned by us before llhttp parses it */
    uint32_t trailer_bytes;
    uint8_t last_chunk;    /* the last chunk's header was parsed */
    uint16_t te_status;    /* 501 for a well-formed Transfer-Encoding naming another coding */
    uint16_t error_status; /* status to answer a parse error with (400, 414, 431, 413, 502) */
    const char *error_reason;
} cg_http_parser_t;

void cg_http_parser_init(cg_http_parser_t *p, int is_request, cg_http_head_t *head,
                         const cg_http_limits_t *limits);
/* Prepares for the next message on the same connection. */
void cg_http_parser_next(cg_http_parser_t *p);

#define CG_HTTP_INTERIM 1

/* Parses a head from data[*parsed, len), the head starting at data[0]. Returns 0 when the head
 * is complete (then *parsed is just past it and p->head is filled), CG_EAGAIN for more input,
 * CG_HTTP_INTERIM when a 1xx response ended at *parsed (drop those bytes and call again), or
 * CG_EPARSE/CG_ELIMIT with p->error_status/error_reason set. Bytes already parsed must
 * still be at the same offsets on the next call. */
int cg_http_parse_head(cg_http_parser_t *p, const char *data, size_t len, size_t *parsed);

/* The head is p->head as filled by other means than parsing (cg_h2req_given_head: a request the
 * HTTP/2 codec read), for a message without a body: the parser stands as after that head and
 * the message's end (cg_http_parse_body returns 0). */
void cg_http_parser_given_head(cg_http_parser_t *p);

/* Parses body bytes data[*parsed, len), queueing them on out framed as p->body_out.
 * Returns 0 when the message is complete, CG_EAGAIN when all input was used (or out is
 * nearly full: call again after flushing), or CG_EPARSE. */
int cg_http_parse_body(cg_http_parser_t *p, const char *data, size_t len, size_t *parsed,
                       cg_http_out_t *out);
/* Validates the body bytes already received, data[from, len), without consuming them or queueing
 * anything: lets a gateway refuse a malformed body before a byte of the message goes on.
 * Returns 0 (valid so far, or complete) or CG_EPARSE with p->error_status/error_reason set. */
int cg_http_parser_check_body(cg_http_parser_t *p, const char *data, size_t len, size_t from);
/* The peer closed: completes an EOF-delimited body (returns 0) or reports truncation. */
int cg_http_parse_eof(cg_http_parser_t *p, cg_http_out_t *out);

/* Does this head need a body read (request with CL/chunked, or response with a body)? */
static inline int cg_http_parser_has_body(const cg_http_parser_t *p)
{
    return (p->head->flags & (CG_HTTP_F_HAS_BODY | CG_HTTP_F_EOF_BODY)) != 0;
}

#endif
