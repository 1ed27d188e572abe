/* Picking the route of a request: virtual host by Host, then the first matching rule. Pure. */
#ifndef CG_PROXY_ROUTER_H
#define CG_PROXY_ROUTER_H

#include "http/message.h"
#include "proxy/config.h"

/* Splits a request target into authority (absolute-form only) and path. */
/* Host without port, for matching. */
cg_iov_t cg_proxy_host_strip_port(cg_iov_t host);
const cg_vhost_t *cg_proxy_route_vhost(const cg_listener_cfg_t *l, cg_iov_t host);
/* First route of vh whose matches hold for the request (head parsed from base). */
const cg_route_t *cg_proxy_route_match(const cg_vhost_t *vh, cg_iov_t path, const cg_http_head_t *h,
                                       const char *base);
int cg_proxy_strmatch(const cg_strmatch_t *m, cg_iov_t v);

#endif
