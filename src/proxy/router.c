/* Host and rule matching. */
#include "proxy/router.h"

#include <string.h>

cg_iov_t cg_proxy_host_strip_port(cg_iov_t h)
{
    if (h.len && h.base[0] == '[') { /* [v6]:port */
        char *end = memchr(h.base, ']', h.len);
        return end ? cg_iov(h.base, (size_t)(end - h.base) + 1) : h;
    }
    for (size_t i = h.len; i > 0; i--) {
        char c = h.base[i - 1];
        if (c == ':') {
            h.len = i - 1;
            break;
        }
        if (c < '0' || c > '9') break;
    }
    /* a trailing dot (FQDN form) does not change the name */
    if (h.len > 1 && h.base[h.len - 1] == '.') h.len--;
    return h;
}

const cg_vhost_t *cg_proxy_route_vhost(const cg_listener_cfg_t *l, cg_iov_t host)
{
    host = cg_proxy_host_strip_port(host);
    for (size_t i = 0; i < l->nvhosts; i++) {
        const cg_vhost_t *vh = &l->vhosts[i];
        switch (vh->kind) {
        case CG_VHOST_EXACT:
            if (cg_iov_caseeq(vh->host, host)) return vh;
            break;
        case CG_VHOST_WILDCARD:
            /* "*.example.com" matches exactly one more label */
            if (host.len > vh->host.len &&
                strncasecmp(host.base + host.len - vh->host.len, vh->host.base, vh->host.len) ==
                    0 &&
                !memchr(host.base, '.', host.len - vh->host.len))
                return vh;
            break;
        case CG_VHOST_ANY: return vh;
        }
    }
    return NULL;
}

static cg_iov_t strip_query(cg_iov_t p)
{
    char *q = memchr(p.base, '?', p.len);
    return q ? cg_iov(p.base, (size_t)(q - p.base)) : p;
}

int cg_proxy_strmatch(const cg_strmatch_t *m, cg_iov_t v)
{
    switch (m->kind) {
    case CG_MATCH_EXACT: return cg_iov_eq(m->value, v);
    case CG_MATCH_PREFIX:
        return v.len >= m->value.len &&
               (m->value.len == 0 || memcmp(v.base, m->value.base, m->value.len) == 0);
    case CG_MATCH_REGEX: {
        regmatch_t pm[1] = {{.rm_so = 0, .rm_eo = (regoff_t)v.len}};
        const char *s = v.len ? v.base : "";
        return regexec(&m->re, s, 1, pm, REG_STARTEND) == 0;
    }
    }
    return 0;
}

static int match_holds(const cg_match_t *m, cg_iov_t path, const cg_http_head_t *h,
                       const char *base)
{
    if (m->has_uri) {
        /* like Envoy: prefix sees the whole path, exact and regex the path without query */
        cg_iov_t p = m->uri.kind == CG_MATCH_PREFIX ? path : strip_query(path);
        if (!cg_proxy_strmatch(&m->uri, p)) return 0;
    }
    for (size_t i = 0; i < m->nheaders; i++) {
        int idx = cg_http_head_find(h, base, m->headers[i].name);
        if (idx < 0) return 0;
        if (!cg_proxy_strmatch(&m->headers[i].m, cg_span_iov(base, h->headers[idx].value)))
            return 0;
    }
    return 1;
}

const cg_route_t *cg_proxy_route_match(const cg_vhost_t *vh, cg_iov_t path, const cg_http_head_t *h,
                                       const char *base)
{
    for (size_t r = 0; r < vh->nroutes; r++) {
        const cg_route_t *rt = &vh->routes[r];
        if (rt->nmatches == 0) return rt;
        for (size_t m = 0; m < rt->nmatches; m++)
            if (match_holds(&rt->matches[m], path, h, base)) return rt;
    }
    return NULL;
}
