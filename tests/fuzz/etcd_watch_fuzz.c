/* Fuzzes the etcd watch's answer body (control/store_etcd_wire.c): the chunked stream taken
 * apart into lines, and each line read as a watch message. The same body fed whole and in
 * pieces must fail or not alike and, when it does not, give the same lines; no line holds a
 * newline or is longer than max_line, and the lines are never more bytes than the data fed;
 * every message that parses is well formed (a put has its value, NUL-terminated, a delete
 * none, every event a key and a mod_revision, the cancel reason is one printable line).
 *
 * Input: byte 0 chooses max_line (bit 7 set: the default, else 1 + the low 7 bits), byte 1
 * seeds the piece sizes (1 to 32 bytes each), the rest is the body. */
#include "control/store_etcd_wire.h"
#include "core/err.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what)
{
    if (ok) return;
    fprintf(stderr, "etcd_watch_fuzz: %s\n", what);
    abort();
}

static void message(const char *line, size_t len)
{
    cg_etcd_watch_msg_t m;
    cg_buf_t err = {0};
    int rc = cg_etcd_watch_parse(line, len, &m, &err);
    check(rc == 0 || rc == CG_EPARSE, "a parse error other than CG_EPARSE");
    if (rc) {
        check(err.len > 0, "an error without a cause");
        check(m.events.len == 0, "events kept after an error");
    }
    size_t rn = strnlen(m.cancel_reason, sizeof(m.cancel_reason));
    check(rn < sizeof(m.cancel_reason), "a cancel reason without its NUL");
    for (size_t i = 0; i < rn; i++)
        check((unsigned char)m.cancel_reason[i] >= 0x20 && m.cancel_reason[i] != 0x7f,
              "a control character in the cancel reason");
    for (size_t i = 0; i < m.events.len; i++) {
        const cg_etcd_event_t *e = &m.events.items[i];
        check(e->kv.key != NULL && e->kv.mod_rev > 0, "an event without a key or mod_revision");
        if (e->del) {
            check(e->kv.value == NULL, "a delete with a value");
        } else {
            check(e->kv.value != NULL && e->kv.value[e->kv.value_len] == '\0',
                  "a put without its NUL-terminated value");
            check(e->kv.create_rev > 0, "a put without a create_revision");
        }
    }
    cg_etcd_watch_msg_free(&m);
    cg_buf_free(&err);
}

typedef struct run {
    cg_buf_t lines; /* each followed by "\n" */
    size_t count, bytes;
    int rc, ended;
} run_t;

/* Feeds body in pieces (whole when seed is 0), handing out the lines after each feed. */
static void feed(const char *body, size_t n, size_t max_line, unsigned seed, run_t *r)
{
    cg_etcd_stream_t s = {.max_line = max_line};
    size_t max = max_line ? max_line : (size_t)64 << 20;
    uint32_t x = seed * 2654435761u + 1;
    memset(r, 0, sizeof(*r));
    for (size_t at = 0; at < n && r->rc == 0;) {
        size_t piece = n - at;
        if (seed) {
            x ^= x << 13, x ^= x >> 17, x ^= x << 5;
            if (piece > 1 + x % 32) piece = 1 + x % 32;
        }
        r->rc = cg_etcd_stream_feed(&s, body + at, piece);
        at += piece;
        check(r->rc == 0 || r->rc == CG_EPARSE, "a feed error other than CG_EPARSE");
        const char *line;
        size_t len;
        while (r->rc == 0 && cg_etcd_stream_next(&s, &line, &len)) {
            check(memchr(line, '\n', len) == NULL, "a line holds a newline");
            check(len <= max, "a line longer than max_line");
            r->bytes += len;
            r->count++;
            check(r->bytes + r->count - 1 <= at, "more line bytes than data fed");
            cg_buf_append(&r->lines, line, len);
            cg_buf_append(&r->lines, "\n", 1);
            if (seed == 0) message(line, len);
        }
    }
    r->ended = s.ended;
    cg_etcd_stream_free(&s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 256 * 1024) return 0;
    size_t max_line = data[0] & 0x80 ? 0 : (size_t)(data[0] & 0x7f) + 1;
    unsigned seed = (unsigned)data[1] + 1;
    const char *body = (const char *)data + 2;
    size_t n = size - 2;
    run_t whole, pieces;
    feed(body, n, max_line, 0, &whole);
    feed(body, n, max_line, seed, &pieces);
    check((whole.rc == 0) == (pieces.rc == 0), "fed whole and in pieces, only one failed");
    if (whole.rc == 0) {
        check(whole.ended == pieces.ended, "fed whole and in pieces, only one ended");
        check(whole.lines.len == pieces.lines.len &&
                  (whole.lines.len == 0 ||
                   !memcmp(whole.lines.base, pieces.lines.base, whole.lines.len)),
              "fed whole and in pieces, different lines");
    }
    /* the message parser on its own: the body as one line */
    message(body, n);
    cg_buf_free(&whole.lines);
    cg_buf_free(&pieces.lines);
    return 0;
}
