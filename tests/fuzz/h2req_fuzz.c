/* Fuzzes the HTTP/2-to-HTTP/1.1 request rebuild (http/h2req.c) against the strict parser: any
 * head it builds must parse as exactly one request, whole, with the method, target and Host it
 * was given, and chunked exactly when it said so. A head the parser reads otherwise is a
 * request smuggled through the translation. A head given without that parse
 * (cg_h2req_given_head) must be the parser's head of the same text, and given only for a text
 * the parser takes.
 *
 * Input: one flags byte (bit 0: END_STREAM on the headers; bit 1: a 256-byte list limit), then
 * fields, each a name length (1 byte), a value length (2 bytes, little-endian), the name and
 * the value. */
#include "core/err.h"
#include "http/h2req.h"
#include "http/parser.h"
#include "head_same.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok, const char *what, const cg_buf_t *head)
{
    if (ok) return;
    fprintf(stderr, "h2req: %s:\n%.*s\n", what, (int)cg_buf_size(head), cg_buf_data(head));
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 64 * 1024) return 0;
    static cg_h2req_t req;
    static cg_buf_t out;
    cg_h2req_reset(&req, (data[0] & 2) ? 256 : 64 * 1024);
    cg_buf_reset(&out);
    size_t i = 1;
    while (i + 3 <= size) {
        size_t nlen = data[i], vlen = (size_t)data[i + 1] | (size_t)data[i + 2] << 8;
        i += 3;
        if (nlen + vlen > size - i) break;
        cg_h2req_field(&req, data + i, nlen, data + i + nlen, vlen);
        i += nlen + vlen;
    }
    int chunked = 0;
    if (cg_h2req_head(&req, data[0] & 1, &out, &chunked) != 0) return 0;
    check(cg_buf_size(&out) > 0, "empty head", &out);

    cg_http_head_t head;
    cg_http_parser_t p;
    cg_http_parser_init(&p, 1, &head, NULL);
    size_t parsed = 0;
    const char *b = cg_buf_data(&out);
    int r = cg_http_parse_head(&p, b, cg_buf_size(&out), &parsed);
    static cg_http_head_t given;
    if ((data[0] & 1) &&
        cg_h2req_given_head(&req, b, cg_buf_size(&out), &given, &cg_http_default_limits) == 0) {
        check(r == 0, "given a head the parser refuses", &out);
        const char *diff = head_difference(&given, &head);
        if (diff) fprintf(stderr, "differs in %s\n", diff);
        check(!diff, "given another head than the parser's", &out);
    }
    /* the parser may refuse what it finds wrong (a bad authority, a bad content-length): the
     * request is then answered 400, never forwarded; what it takes must be what was built */
    if (r != 0) return 0;
    check(parsed == cg_buf_size(&out), "parsed less than the whole head", &out);
    check(!!(head.flags & CG_HTTP_F_CHUNKED) == chunked, "chunked disagrees", &out);
    cg_iov_t target = cg_span_iov(b, head.url);
    const cg_buf_t *want = cg_buf_size(&req.path) ? &req.path : &req.authority;
    check(target.len == cg_buf_size(want) && !memcmp(target.base, cg_buf_data(want), target.len),
          "another target", &out);
    const cg_buf_t *host = cg_buf_size(&req.authority) ? &req.authority : &req.host;
    if (cg_buf_size(host)) {
        cg_iov_t h = cg_http_head_value(&head, b, head.host_idx);
        check(h.len == cg_buf_size(host) && !memcmp(h.base, cg_buf_data(host), h.len),
              "another host", &out);
    }
    return 0;
}
