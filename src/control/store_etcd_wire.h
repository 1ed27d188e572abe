/* The etcd backend's pure half (store_etcd.c): keys, base64, the JSON bodies of the v3 gateway's
 * requests and the parsing of its answers, apart from any connection so that tests can feed
 * them etcd's answers by hand.
 *
 * Keys, all under "/crossgate/":
 *   resources/KIND/CLUSTER/NAMESPACE/NAME  one resource (its mod_revision is its version,
 *                                          its create_revision its creation order)
 *   leases/ID                              one instance lease
 *   meta/versions                          the snapshot versions' bound (decimal)
 *   meta/store                             written on first open: leases could be kept
 * Each segment is percent-encoded (all but A-Z a-z 0-9 . _ -), so that a "/" in a name
 * cannot make two identities one key. */
#ifndef CG_CONTROL_STORE_ETCD_WIRE_H
#define CG_CONTROL_STORE_ETCD_WIRE_H

#include "core/buf.h"
#include "core/list.h"
#include "model/model.h"

#include <stddef.h>
#include <stdint.h>

#define CG_ETCD_PREFIX "/crossgate/"

/* The key of a resource (appended to out, NUL-terminated). */
void cg_etcd_res_key(cg_buf_t *out, cg_model_kind_t kind, const char *cluster, const char *ns,
                     const char *name);
/* The key of a lease; of a meta entry. */
void cg_etcd_lease_key(cg_buf_t *out, const char *id);

/* Standard base64 with padding, appended. decode: 0, or CG_EPARSE for anything else. */
void cg_etcd_b64_encode(cg_buf_t *out, const void *p, size_t n);
int cg_etcd_b64_decode(cg_buf_t *out, const char *s, size_t n);

/* A range request body: the one key, or with prefix set every key that starts with it. */
void cg_etcd_range_body(cg_buf_t *out, const char *key, int prefix);

/* A range request body that counts the keys under prefix changed after revision `after`
 * (the answer's "count"; the watch's probe). */
void cg_etcd_count_changed_body(cg_buf_t *out, const char *prefix, uint64_t after);

/* A range request body: every key from `from` up to (not including) `to`. */
void cg_etcd_range_between(cg_buf_t *out, const char *from, const char *to);

/* A transaction being built: compares (mod_revision equal to rev; 0 is "does not exist"),
 * then puts and deletes, all in one /v3/kv/txn. */
typedef struct cg_etcd_txn {
    cg_buf_t compare, success;
    size_t ncompare, nsuccess;
} cg_etcd_txn_t;

void cg_etcd_txn_compare_mod(cg_etcd_txn_t *t, const char *key, uint64_t rev);
/* A compare: the key exists (its version is above 0). */
void cg_etcd_txn_compare_exists(cg_etcd_txn_t *t, const char *key);
void cg_etcd_txn_put(cg_etcd_txn_t *t, const char *key, const char *value, size_t len);
void cg_etcd_txn_delete(cg_etcd_txn_t *t, const char *key);
/* The request body (appended to out); the txn is freed. */
void cg_etcd_txn_body(cg_etcd_txn_t *t, cg_buf_t *out);
void cg_etcd_txn_free(cg_etcd_txn_t *t);

/* One key-value of a range answer, decoded. Owns its strings (NUL-terminated). */
typedef struct cg_etcd_kv {
    char *key, *value;
    size_t value_len;
    uint64_t create_rev, mod_rev;
} cg_etcd_kv_t;

typedef struct cg_etcd_answer {
    uint64_t revision; /* header.revision: the store's revision after the request */
    int succeeded;     /* a txn: its compares held */
    uint64_t count;    /* a range: how many keys matched */
    CG_VEC(cg_etcd_kv_t) kvs;
} cg_etcd_answer_t;

/* Appends n bytes of s with every control character (a newline that would forge a log line,
 * an escape) as '?': for what etcd or another writer put in a message or a key. */
void cg_etcd_printable(cg_buf_t *out, const char *s, size_t n);

/* What an answer says. An HTTP status other than 200 with etcd's {"error", "code"}:
 * CG_EAGAIN for the codes that mean "try again" (unavailable, deadline, no leader) and
 * CG_EIO for others, with etcd's message in err; a 200 that is not a well-formed answer:
 * CG_EPARSE. 0 with a filled in; free it with cg_etcd_answer_free either way. */
int cg_etcd_answer_parse(int status, const char *body, size_t len, cg_etcd_answer_t *a,
                         cg_buf_t *err);
void cg_etcd_answer_free(cg_etcd_answer_t *a);

/* ---- watch ---- */

/* The body that opens a watch on every key under prefix from revision `from` on (1: all the
 * history etcd still has), appended to out. */
void cg_etcd_watch_body(cg_buf_t *out, const char *prefix, uint64_t from);

/* The watch answer's body, a chunked HTTP/1.1 body carrying one JSON message per line, taken
 * apart as bytes arrive: cg_etcd_stream_feed appends the chunks' data and
 * cg_etcd_stream_next hands out each complete line. A malformed chunk framing, a line longer
 * than max_line (a whole resource set fits: 64 MiB when 0), or a byte after the
 * body's end is CG_EPARSE. The body ends (ended) with its last chunk and trailers: the gateway
 * ends it so when the watch fails, after an {"error": ...} message with no newline, which is
 * then handed out as the last line. */
typedef struct cg_etcd_stream {
    cg_buf_t data;   /* dechunked bytes not yet handed out as lines */
    size_t taken;    /* bytes of data handed out already */
    size_t partial;  /* bytes at the end of data after its last newline */
    cg_buf_t raw;    /* framing bytes not yet understood (a partial size line) */
    uint64_t left;   /* data bytes left in the current chunk */
    int state;       /* where in a chunk */
    int ended;       /* the body ended: no more data */
    size_t max_line; /* 0: 64 MiB */
} cg_etcd_stream_t;

int cg_etcd_stream_feed(cg_etcd_stream_t *s, const char *p, size_t n);
/* The next complete line (without its newline): 1 with *line and *len set (valid until the
 * next feed), 0 when none is complete yet (or, once the body ended, when none is left). */
int cg_etcd_stream_next(cg_etcd_stream_t *s, const char **line, size_t *len);
void cg_etcd_stream_free(cg_etcd_stream_t *s);

/* One event of a watch message: a put (kv's value set) or a delete (kv's value NULL). */
typedef struct cg_etcd_event {
    int del;
    cg_etcd_kv_t kv; /* a delete carries key and mod_rev only */
} cg_etcd_event_t;

/* One watch message, decoded. */
typedef struct cg_etcd_watch_msg {
    uint64_t revision;         /* header.revision (0 when absent: a canceled watch has none) */
    int created, canceled;     /* the watch was created; it ended (compact_revision says why) */
    uint64_t compact_revision; /* canceled because the revision asked for was compacted */
    char cancel_reason[128];   /* etcd's word for a cancel, cut short ("": none) */
    CG_VEC(cg_etcd_event_t) events;
} cg_etcd_watch_msg_t;

/* Parses one line of the watch answer: 0, or CG_EPARSE (an {"error": ...} line included, with
 * etcd's message in err). Free it with cg_etcd_watch_msg_free either way. */
int cg_etcd_watch_parse(const char *line, size_t len, cg_etcd_watch_msg_t *m, cg_buf_t *err);
void cg_etcd_watch_msg_free(cg_etcd_watch_msg_t *m);

#endif
