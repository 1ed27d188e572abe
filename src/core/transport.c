/* The plain TCP transport (core/transport.h). */
#include "core/transport.h"
#include "core/err.h"

#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

static ssize_t tcp_read(cg_xport_t *x, void *buf, size_t len)
{
    for (;;) {
        ssize_t n = read(x->fd, buf, len);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            x->want = CG_XPORT_WANT_READ;
            return CG_EAGAIN;
        }
        return cg_err_from_errno(errno);
    }
}

static ssize_t tcp_writev(cg_xport_t *x, const struct iovec *iov, int iovcnt)
{
    for (;;) {
        ssize_t n = writev(x->fd, iov, iovcnt);
        if (n >= 0) return n;
        if (errno == EINTR) continue;
        if (errno == EAGAIN) {
            x->want = CG_XPORT_WANT_WRITE;
            return CG_EAGAIN;
        }
        return cg_err_from_errno(errno);
    }
}

static int tcp_handshake(cg_xport_t *x)
{
    (void)x;
    return 0;
}

static size_t tcp_pending(const cg_xport_t *x)
{
    (void)x;
    return 0;
}

static int tcp_shutdown(cg_xport_t *x)
{
    return shutdown(x->fd, SHUT_WR) == 0 ? 0 : cg_err_from_errno(errno);
}

static void tcp_release(cg_xport_t *x)
{
    (void)x;
}

const cg_xport_ops_t cg_xport_tcp = {
    .name = "tcp",
    .read = tcp_read,
    .writev = tcp_writev,
    .handshake = tcp_handshake,
    .pending = tcp_pending,
    .shutdown = tcp_shutdown,
    .release = tcp_release,
};
