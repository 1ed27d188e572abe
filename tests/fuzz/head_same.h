/* Does a head filled without parsing (cg_h2req_given_head) say what the strict parser says of
 * the same text? Shared by the h2req fuzzer and its unit test: the first difference, or NULL. */
#ifndef CG_FUZZ_HEAD_SAME_H
#define CG_FUZZ_HEAD_SAME_H

#include "http/message.h"

#include <stdio.h>
#include <string.h>

static inline int span_same(cg_span_t a, cg_span_t b)
{
    return a.off == b.off && a.len == b.len;
}

static inline const char *head_difference(const cg_http_head_t *g, const cg_http_head_t *p)
{
    if (g->len != p->len) return "len";
    if (g->method != p->method) return "method";
    if (g->http_major != p->http_major || g->http_minor != p->http_minor) return "version";
    if (g->status != p->status) return "status";
    if (g->flags != p->flags) return "flags";
    if (g->content_length != p->content_length) return "content_length";
    if (!span_same(g->url, p->url) || !span_same(g->reason, p->reason)) return "url";
    if (!span_same(g->authority, p->authority) || !span_same(g->path, p->path)) return "target";
    if (g->host_idx != p->host_idx || g->conn_idx != p->conn_idx || g->te_idx != p->te_idx ||
        g->xff_idx != p->xff_idx || g->rid_idx != p->rid_idx || g->ua_idx != p->ua_idx ||
        g->cl_idx != p->cl_idx)
        return "a header index";
    if (g->nheaders != p->nheaders) return "nheaders";
    for (int i = 0; i < g->nheaders; i++) {
        const cg_http_header_t *a = &g->headers[i], *b = &p->headers[i];
        if (!span_same(a->name, b->name) || !span_same(a->value, b->value) ||
            a->line_end != b->line_end || a->drop != b->drop) {
            fprintf(stderr, "line %d: given %u+%u %u+%u %u, parsed %u+%u %u+%u %u\n", i,
                    a->name.off, a->name.len, a->value.off, a->value.len, a->line_end, b->name.off,
                    b->name.len, b->value.off, b->value.len, b->line_end);
            return "a header line";
        }
    }
    return NULL;
}

#endif
