/* The demo app's WebSocket echo (src/tools/app_ws.c). */
#ifndef CG_TOOLS_APP_WS_H
#define CG_TOOLS_APP_WS_H

#include "core/buf.h"
#include "core/loop.h"

#include <stddef.h>

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 4.2.2): 28 characters and a NUL in
 * out. 0, or -1 for an empty or oversized key. */
int cg_tools_ws_accept_key(const char *key, size_t len, char out[29]);
/* Answers the handshake on fd (taken over from the HTTP server) with 101 and accept, then echoes
 * frames until either side closes; after: bytes that followed the handshake. Owns fd from here
 * (closed on failure too). 0, or -1. */
int cg_tools_ws_start(cg_loop_t *loop, int fd, const char *accept, const cg_buf_t *after);

#endif
