/* A connection's byte stream: plain TCP, or TLS (tls/tls.h). The request path, the upstream
 * pools and the health probes read and write only through it, so none of them knows which one
 * it has; the loop (edge-triggered epoll) still watches the fd itself.
 *
 * Readiness belongs to the transport. Over TCP a read waits for the socket to be readable and a
 * write for it to be writable. Over TLS either can wait for the other direction (a read may
 * have to send a handshake or key-update record first; a write may have to read one), and a
 * read can leave decrypted bytes in the library that no new epoll edge will announce. So after
 * CG_EAGAIN the caller looks at `want` to learn which readiness the blocked operation waits for,
 * and after a read that filled less than asked it asks `pending` before it concludes the stream
 * is drained (cg_xport_drained). */
#ifndef CG_CORE_TRANSPORT_H
#define CG_CORE_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

typedef struct cg_xport cg_xport_t;

/* What an operation that answered CG_EAGAIN waits for. */
enum { CG_XPORT_WANT_READ = 1, CG_XPORT_WANT_WRITE = 2 };

typedef struct cg_xport_ops {
    const char *name; /* "tcp", "tls": for logs and metrics */
    /* Up to len bytes into buf: the count (> 0), 0 at the peer's orderly end of the stream
     * (TCP FIN; TLS close_notify), CG_EAGAIN (see want), or another CG_E* error. */
    ssize_t (*read)(cg_xport_t *x, void *buf, size_t len);
    /* From iov[0, iovcnt): the bytes taken (> 0, may be short), CG_EAGAIN (see want), or an
     * error. A TLS transport takes at most what it can frame now and reports that count; the
     * caller offers the rest again, the same bytes first. */
    ssize_t (*writev)(cg_xport_t *x, const struct iovec *iov, int iovcnt);
    /* Moves the handshake on: 0 once it is complete (at once for TCP), CG_EAGAIN (see want), or
     * an error (the peer is not one to talk to: the connection is closed). Reads and writes
     * before completion are the transport's business: each first calls this. */
    int (*handshake)(cg_xport_t *x);
    /* Bytes the transport already holds for the next read (TLS: decrypted, not yet read). */
    size_t (*pending)(const cg_xport_t *x);
    /* Ends the write side: TCP shutdown(SHUT_WR); TLS sends close_notify. 0, CG_EAGAIN or an
     * error; the caller may close without it after an error. */
    int (*shutdown)(cg_xport_t *x);
    /* Frees what the transport holds (not the fd, which the connection closes). Idempotent. */
    void (*release)(cg_xport_t *x);
} cg_xport_ops_t;

struct cg_xport {
    const cg_xport_ops_t *ops;
    void *impl; /* the TLS session; NULL for TCP */
    int fd;
    uint8_t want; /* CG_XPORT_WANT_*: set with every CG_EAGAIN */
};

extern const cg_xport_ops_t cg_xport_tcp;

static inline void cg_xport_tcp_init(cg_xport_t *x, int fd)
{
    x->ops = &cg_xport_tcp;
    x->impl = NULL;
    x->fd = fd;
    x->want = 0;
}

static inline ssize_t cg_xport_read(cg_xport_t *x, void *buf, size_t len)
{
    return x->ops->read(x, buf, len);
}

static inline ssize_t cg_xport_writev(cg_xport_t *x, const struct iovec *iov, int iovcnt)
{
    return x->ops->writev(x, iov, iovcnt);
}

/* After a read that returned got < asked bytes: 1 when nothing more can be read until the
 * socket reports readable again (no bytes held by the transport). */
static inline int cg_xport_drained(const cg_xport_t *x, size_t got, size_t asked)
{
    return got < asked && (x->impl == NULL || x->ops->pending(x) == 0);
}

#endif
