/* Fuzzes the request parser: heads (whole and split in two), then bodies in both framings. */
#include "core/err.h"
#include "http/parser.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void parse(const char *buf, size_t size, size_t split)
{
    cg_http_head_t head;
    cg_http_parser_t p;
    cg_http_out_t out;
    cg_http_parser_init(&p, 1, &head, NULL);
    size_t parsed = 0;
    for (int msg = 0; msg < 8 && parsed < size; msg++) {
        size_t start = parsed;
        /* offsets are relative to the message start */
        size_t off = 0;
        int r = cg_http_parse_head(&p, buf + start, split && split - start < size - start ? split - start : size - start, &off);
        if (r == CG_EAGAIN) r = cg_http_parse_head(&p, buf + start, size - start, &off);
        if (r != 0) return;
        p.body_out = (head.flags & CG_HTTP_F_CHUNKED) ? CG_BODY_OUT_CHUNKED : CG_BODY_OUT_LENGTH;
        while (cg_http_parser_has_body(&p) && off < size - start) {
            cg_http_out_reset(&out);
            r = cg_http_parse_body(&p, buf + start, size - start, &off, &out);
            if (r == 0 || r == CG_EPARSE) break;
        }
        if (!p.complete && cg_http_parser_has_body(&p)) return;
        parsed = start + off;
        cg_http_parser_next(&p);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024) return 0;
    parse((const char *)data, size, 0);
    parse((const char *)data, size, size / 2);
    return 0;
}
