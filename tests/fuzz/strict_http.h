/* A minimal, strict HTTP/1.1 message parser written from RFC 9112 for the differential fuzzers:
 * it shares no code with src/http (nor llhttp) and refuses whatever RFC 9112 makes invalid or
 * ambiguous, so that what it accepts means one thing to every recipient. */
#ifndef CG_FUZZ_STRICT_HTTP_H
#define CG_FUZZ_STRICT_HTTP_H

#include <stddef.h>
#include <stdint.h>

enum {
    SH_OK,         /* the input is whole messages, nothing left over */
    SH_INCOMPLETE, /* the input ends inside a message (valid so far) */
    SH_INVALID,    /* a syntax or framing error at error_off */
    SH_LIMIT,      /* max_msgs messages parsed and input is left over */
};

/* What kind of rule an SH_INVALID input broke. */
enum {
    SH_E_NONE,
    SH_E_LINE,      /* a bare CR or LF: where lines end is ambiguous */
    SH_E_FIELD,     /* field-line syntax (obs-fold, whitespace before the colon, bad bytes) */
    SH_E_FRAMING,   /* Content-Length / Transfer-Encoding: where the body ends is ambiguous */
    SH_E_CHUNK,     /* chunked-body syntax: chunk sizes, CRLF after the data */
    SH_E_CHUNK_EXT, /* chunk-ext syntax (within a line that ends where everyone sees it end) */
    SH_E_TRAILER,   /* trailer field-line syntax (likewise) */
    SH_E_START,     /* request-line / status-line syntax (method, version, status, reason) */
    SH_E_TARGET,    /* request-target syntax */
    SH_E_HOST,      /* Host: missing in HTTP/1.1, duplicated or not uri-host [ ":" port ] */
    SH_E_SENDER,    /* what a sender must not send but is not ambiguous (framing in 1xx/204, 101) */
    SH_E_LIMIT,     /* a size beyond this parser's bounds */
};

enum { SH_BODY_NONE, SH_BODY_LENGTH, SH_BODY_CHUNKED, SH_BODY_EOF };

enum { SH_FORM_ORIGIN, SH_FORM_ABSOLUTE, SH_FORM_AUTHORITY, SH_FORM_ASTERISK };

#define SH_MAX_MSGS 16

/* A slice of the parsed input (not NUL-terminated). */
typedef struct sh_str {
    const char *p;
    size_t len;
} sh_str_t;

typedef struct sh_field {
    sh_str_t name, value; /* value without its leading and trailing OWS */
} sh_field_t;

typedef struct sh_msg {
    /* offsets in the input: the message, just past its head, just past its end */
    size_t start, head_end, end;
    sh_str_t method, target;    /* requests */
    int form;                   /* SH_FORM_* of the target (requests) */
    int status;                 /* responses */
    sh_str_t reason;            /* responses: may be empty */
    int minor;                  /* HTTP/1.<minor> */
    size_t field0, nfields;     /* header fields: sh_result_t.fields[field0 .. field0 + nfields) */
    size_t trailer0, ntrailers; /* trailer fields of a chunked body, likewise */
    int framing;                /* SH_BODY_*: how the body was delimited */
    int has_cl, has_te;         /* a Content-Length / Transfer-Encoding field is present */
    uint64_t content_length;    /* its value, when has_cl */
    /* the decoded body: sh_result_t.body[body_off .. body_off + body_len) */
    size_t body_off, body_len;
} sh_msg_t;

typedef struct sh_opts {
    int is_request;
    int allow_http10;  /* also accept HTTP/1.0 messages (else HTTP/1.1 only) */
    int head_response; /* responses answer a HEAD request: no body whatever the fields say */
    size_t max_msgs;   /* 0 or more than SH_MAX_MSGS: SH_MAX_MSGS */
} sh_opts_t;

/* Owns fields and body (sh_result_free); the messages' slices point into the input. */
typedef struct sh_result {
    int status;        /* SH_* */
    const char *error; /* what was wrong, for SH_INVALID and SH_LIMIT */
    int error_class;   /* SH_E_*, for SH_INVALID */
    size_t error_off;
    size_t consumed; /* end of the last whole message */
    size_t nmsgs;
    sh_msg_t msgs[SH_MAX_MSGS];
    sh_field_t *fields;
    size_t nfields, cap_fields;
    unsigned char *body;
    size_t body_len;
} sh_result_t;

/* Parses data[0, len) as a sequence of messages. Returns r->status. */
int sh_parse(const char *data, size_t len, const sh_opts_t *o, sh_result_t *r);
void sh_result_free(sh_result_t *r);

/* The i-th header field of m, and the number of fields of m named `name` (case-insensitive). */
const sh_field_t *sh_msg_field(const sh_result_t *r, const sh_msg_t *m, size_t i);
size_t sh_msg_count(const sh_result_t *r, const sh_msg_t *m, const char *name);
/* The first field of m named `name`, or NULL. */
const sh_field_t *sh_msg_find(const sh_result_t *r, const sh_msg_t *m, const char *name);

/* Case-insensitive comparison of a slice with a NUL-terminated name. */
int sh_str_caseeq(sh_str_t s, const char *lit);
/* Exact comparison of two byte strings. */
int sh_str_eq(sh_str_t a, const char *p, size_t len);

#endif
