/* The demo app's WebSocket echo (RFC 6455), on /ws: enough of the protocol to show WebSocket
 * through the gateways end to end. Every data frame comes back as it was sent (unmasked, as a
 * server sends), a ping gets its pong, a close its close. Hostile input is bounded: a frame of
 * more than 1 MiB, a control frame over 125 bytes or fragmented, or an unmasked frame closes
 * the connection (1009 / 1002). */
#include "tools/app_ws.h"
#include "core/buf.h"
#include "core/list.h"
#include "core/loop.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WS_GUID      "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define WS_MAX_FRAME (1u << 20)
#define WS_LINGER    (4u << 20) /* read and dropped after our close frame, at most */

typedef struct ws {
    cg_io_t io;
    cg_loop_t *loop;
    cg_buf_t in, out;
    cg_defer_t defer;
    int closing;    /* after our close frame: flush, then close */
    size_t drained; /* lingering: bytes read and dropped after our close frame went out */
} ws_t;

int cg_tools_ws_accept_key(const char *key, size_t len, char out[29])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    char buf[128];
    if (len == 0 || len > sizeof(buf) - sizeof(WS_GUID)) return -1;
    memcpy(buf, key, len);
    memcpy(buf + len, WS_GUID, sizeof(WS_GUID) - 1);
    if (!EVP_Digest(buf, len + sizeof(WS_GUID) - 1, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 characters and a NUL */
    return 0;
}

static void ws_free(cg_loop_t *loop, cg_defer_t *d)
{
    ws_t *w = cg_container_of(d, ws_t, defer);
    cg_buf_free(&w->in);
    cg_buf_free(&w->out);
    free(w);
}

static void ws_close(ws_t *w)
{
    if (w->io.fd < 0) return;
    cg_io_stop(w->loop, &w->io);
    close(w->io.fd);
    w->io.fd = -1;
    cg_list_init(&w->defer.link);
    cg_defer(w->loop, &w->defer, ws_free);
}

/* Queues one unmasked frame. */
static void frame(ws_t *w, unsigned char first, const unsigned char *p, size_t n)
{
    unsigned char h[10];
    size_t hl = 2;
    h[0] = first;
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n < 65536) {
        h[1] = 126, h[2] = (unsigned char)(n >> 8), h[3] = (unsigned char)n, hl = 4;
    } else {
        h[1] = 127, hl = 10;
        for (int i = 0; i < 8; i++) h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
    }
    cg_buf_append(&w->out, h, hl);
    cg_buf_append(&w->out, p, n);
}

static void fail(ws_t *w, unsigned code)
{
    unsigned char c[2] = {(unsigned char)(code >> 8), (unsigned char)code};
    frame(w, 0x88, c, 2);
    w->closing = 1;
}

/* Echoes every whole frame in w->in. */
static void frames(ws_t *w)
{
    while (!w->closing) {
        unsigned char *b = (unsigned char *)cg_buf_data(&w->in);
        size_t avail = cg_buf_size(&w->in);
        if (avail < 2) return;
        unsigned op = b[0] & 0x0f, fin = b[0] & 0x80;
        uint64_t n = b[1] & 0x7f;
        size_t off = 2;
        if (!(b[1] & 0x80)) {
            fail(w, 1002);
            return;
        } /* a client masks every frame */
        if (n == 126) {
            if (avail < 4) return;
            n = (uint64_t)b[2] << 8 | b[3], off = 4;
        } else if (n == 127) {
            if (avail < 10) return;
            n = 0;
            for (int i = 0; i < 8; i++) n = n << 8 | b[2 + i];
            off = 10;
        }
        if (n > WS_MAX_FRAME) {
            fail(w, 1009);
            return;
        }
        if (op >= 8 && (n > 125 || !fin)) {
            fail(w, 1002);
            return;
        }
        if (avail < off + 4 + n) return;
        unsigned char *mask = b + off, *p = b + off + 4;
        for (uint64_t i = 0; i < n; i++) p[i] ^= mask[i & 3];
        if (op == 8) { /* close: answered with its code, then we close */
            frame(w, 0x88, p, n >= 2 ? 2 : 0);
            w->closing = 1;
        } else if (op == 9) {
            frame(w, 0x8a, p, (size_t)n);
        } else if (op != 10) {
            frame(w, b[0], p, (size_t)n); /* data and continuation frames, as they came */
        }
        cg_buf_consume(&w->in, off + 4 + (size_t)n);
    }
}

static void ws_run(ws_t *w)
{
    for (;;) {
        if (cg_buf_size(&w->out)) {
            ssize_t n = write(w->io.fd, cg_buf_data(&w->out), cg_buf_size(&w->out));
            if (n < 0 && errno == EAGAIN) return; /* nothing is read while echoes wait */
            if (n < 0) {
                ws_close(w);
                return;
            }
            cg_buf_consume(&w->out, (size_t)n);
            continue;
        }
        if (w->closing) {
            /* a lingering close, as nginx's: our close frame is out; stop sending and read
             * what the peer still sends until it closes (at most WS_LINGER bytes), so that
             * unread bytes do not turn our close into a reset that loses that frame */
            if (w->closing == 1) {
                shutdown(w->io.fd, SHUT_WR);
                w->closing = 2;
            }
            char sink[16384];
            ssize_t n;
            while ((n = read(w->io.fd, sink, sizeof(sink))) > 0 && w->drained < WS_LINGER)
                w->drained += (size_t)n;
            if (n < 0 && (errno == EAGAIN || errno == EINTR) && w->drained < WS_LINGER) return;
            ws_close(w);
            return;
        }
        if (cg_buf_reserve(&w->in, 16384)) {
            ws_close(w);
            return;
        }
        ssize_t n = read(w->io.fd, w->in.base + w->in.len, w->in.cap - w->in.len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        if (n <= 0) {
            ws_close(w);
            return;
        }
        w->in.len += (size_t)n;
        frames(w);
    }
}

static void on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    ws_t *w = cg_container_of(io, ws_t, io);
    if (events & (EPOLLERR | EPOLLHUP)) {
        ws_close(w);
        return;
    }
    ws_run(w);
}

int cg_tools_ws_start(cg_loop_t *loop, int fd, const char *accept, const cg_buf_t *after)
{
    ws_t *w = calloc(1, sizeof(*w));
    if (!w) {
        close(fd);
        return -1;
    }
    w->loop = loop;
    cg_buf_printf(
        &w->out,
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
        "sec-websocket-accept: %s\r\n\r\n",
        accept);
    if (cg_buf_size(after)) cg_buf_append(&w->in, cg_buf_data(after), cg_buf_size(after));
    if (cg_io_start(loop, &w->io, fd, on_io)) {
        close(fd);
        cg_buf_free(&w->in);
        cg_buf_free(&w->out);
        free(w);
        return -1;
    }
    frames(w);
    ws_run(w);
    return 0;
}
