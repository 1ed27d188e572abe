/* --resolve-via of `crossgate load` (clients behind a GSLB): the URL's hostname is resolved by
 * A queries to one DNS server, again every TTL of the answer, and new connections go round robin
 * over the answer's addresses. The query is sent on the run's loop (a connected UDP socket), so
 * a slow or dead DNS server never stalls the traffic; glibc's resolver builds the query and
 * parses the answer. A failed query keeps the last good answer. */
#ifndef CG_TOOLS_LOAD_DNS_H
#define CG_TOOLS_LOAD_DNS_H

#include "core/loop.h"
#include "core/sock.h"

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>

/* Addresses kept from one answer (the rest are ignored). */
#define CG_LOAD_DNS_MAX 16
/* A query without an answer by then has failed. */
#define CG_LOAD_DNS_TIMEOUT_MS 1000
/* The floor of the re-resolve period (a TTL of 0 or 1 s), and the wait after a failure. */
#define CG_LOAD_DNS_MIN_TTL 1

/* The A records of one answer. */
typedef struct cg_load_answer {
    unsigned n;
    uint32_t ttl; /* the smallest TTL of the records, seconds */
    struct in_addr a[CG_LOAD_DNS_MAX];
} cg_load_answer_t;

/* Parses the response msg to query id for name: a response (QR), NOERROR, not truncated, the
 * question being name, and at least one A record of class IN for name or the end of its CNAME
 * chain. Returns 0, or CG_EPARSE with a one-line reason in *why. Pure: the unit tests feed it
 * hand-made packets. */
int cg_load_dns_parse(const uint8_t *msg, size_t len, uint16_t id, const char *name,
                      cg_load_answer_t *out, const char **why);
/* Whether the two answers hold the same addresses (in any order). */
int cg_load_answer_same(const cg_load_answer_t *a, const cg_load_answer_t *b);
/* Whether address a (its IP; any port) is in the answer. */
int cg_load_answer_has(const cg_load_answer_t *ans, const cg_addr_t *a);

typedef struct cg_load_dns cg_load_dns_t;

/* What a query ended with: `changed` when the answer differs from the last good one (the first
 * answer included); otherwise `err` is 0 (the same answer) or the query failed with the reason
 * in cg_load_dns_error. */
typedef void (*cg_load_dns_cb)(void *data, int changed, int err);

/* A resolver of name (the URL's hostname) through server "IP:PORT", giving addresses with port.
 * Returns NULL with a one-line reason in err. */
cg_load_dns_t *cg_load_dns_new(const char *server, const char *name, uint16_t port, char *err,
                               size_t errcap);
/* Sends the first query on loop; cb follows each answer or failure, then queries go again
 * every TTL (at least CG_LOAD_DNS_MIN_TTL seconds, and that long after a failure). */
void cg_load_dns_start(cg_load_dns_t *d, cg_loop_t *loop, cg_load_dns_cb cb, void *data);
void cg_load_dns_stop(cg_load_dns_t *d);
void cg_load_dns_free(cg_load_dns_t *d);
/* The last good answer (n == 0 before the first). */
const cg_load_answer_t *cg_load_dns_answer(const cg_load_dns_t *d);
/* The next address for a new connection, round robin over the answer. CG_ENOENT before the
 * first answer. */
int cg_load_dns_pick(cg_load_dns_t *d, cg_addr_t *out);
/* The reason of the last failed query ("" when none failed). */
const char *cg_load_dns_error(const cg_load_dns_t *d);
/* The server "IP:PORT" as given; the name resolved. */
const char *cg_load_dns_server(const cg_load_dns_t *d);
const char *cg_load_dns_name(const cg_load_dns_t *d);

typedef struct cg_load_dns_counts {
    uint64_t queries, failures, changes;
} cg_load_dns_counts_t;
void cg_load_dns_counts(const cg_load_dns_t *d, cg_load_dns_counts_t *out);

#endif
