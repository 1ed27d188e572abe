/* The gateway admin endpoint: /ready, /metrics, /config_dump, /clusters. */
#ifndef CG_PROXY_ADMIN_H
#define CG_PROXY_ADMIN_H

#include "http/server.h"

int cg_proxy_admin_start(cg_httpd_t *srv, cg_loop_t *loop, const char *addr);

#endif
