/* Fuzzes the response parser, as the proxy uses it: interim responses, head, body, EOF; a 101
 * only when the request was a WebSocket handshake, and then without a body. */
#include "core/err.h"
#include "http/parser.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256 * 1024) return 0;
    const char *buf = (const char *)data + 1;
    size--;
    cg_http_head_t head;
    cg_http_parser_t p;
    cg_http_out_t out;
    cg_http_parser_init(&p, 0, &head, NULL);
    p.skip_body = data[0] & 1;         /* a response to HEAD */
    p.upgrade_ok = (data[0] & 4) != 0; /* to a WebSocket handshake: a 101 may come */
    size_t start = 0, off = 0;
    int r;
    while ((r = cg_http_parse_head(&p, buf + start, size - start, &off)) == CG_HTTP_INTERIM) {
        start += off;
        off = 0;
        cg_http_parser_next(&p);
        p.skip_body = data[0] & 1;
    }
    if (r != 0) return 0;
    if (head.status == 101) { /* the proxy's tunnel takes what follows: no body, never parsed */
        if (!p.upgrade_ok || cg_http_parser_has_body(&p)) __builtin_trap();
        return 0;
    }
    p.body_out = (data[0] & 2) ? CG_BODY_OUT_CHUNKED : CG_BODY_OUT_RAW;
    while (cg_http_parser_has_body(&p) && !p.complete && off < size - start) {
        cg_http_out_reset(&out);
        r = cg_http_parse_body(&p, buf + start, size - start, &off, &out);
        if (r == CG_EPARSE) return 0;
    }
    cg_http_out_reset(&out);
    cg_http_parse_eof(&p, &out);
    return 0;
}
