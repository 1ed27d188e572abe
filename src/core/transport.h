/* A connection's byte stream: plain TCP, or TLS (tls/tls.h). The request path, the upstream
 * pools and the health probes read and write only through it, so none of them knows which one
 * it has; the loop (edge-triggered epoll) still watches the fd itself.
 *
 * Readiness belongs to the transport. Over TCP a read waits for the socket to be readable and a
 * write for it to be writable. Over TLS either can wait for the other direction (a read may
 * have to send a handshake or key-update record first; a write may have to read one), and a
 * read can leave decrypted bytes in the library that no new epoll edge will announce. So after
 * CG_EAGAIN the caller looks at `want` to learn which readiness the blocked operation waits for,
 * and only a TCP read that filled less than asked shows the stream drained (cg_xport_drained):
 * a TLS stream is drained when a read says CG_EAGAIN. */
#ifndef CG_CORE_TRANSPORT_H
#define CG_CORE_TRANSPORT_H

#include "core/err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

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

/* How a new connection's transport starts (a listener's TLS servers, a destination's mTLS
 * client): open(ctx, x, fd) makes x a transport on the socket fd, or fails (x is then TCP on fd,
 * for the caller to close). A zeroed opener is plain TCP. ctx lives as long as the config that
 * holds the opener; a transport keeps what it needs of it (a reference) until its release. */
typedef struct cg_xport_opener {
    int (*open)(void *ctx, cg_xport_t *x, int fd);
    void *ctx;
} cg_xport_opener_t;

static inline int cg_xport_open(const cg_xport_opener_t *o, cg_xport_t *x, int fd)
{
    cg_xport_tcp_init(x, fd);
    return o->open ? o->open(o->ctx, x, fd) : 0;
}

static inline int cg_xport_opener_eq(const cg_xport_opener_t *a, const cg_xport_opener_t *b)
{
    return a->open == b->open && a->ctx == b->ctx;
}

static inline ssize_t cg_xport_read(cg_xport_t *x, void *buf, size_t len)
{
    return x->ops->read(x, buf, len);
}

static inline ssize_t cg_xport_writev(cg_xport_t *x, const struct iovec *iov, int iovcnt)
{
    return x->ops->writev(x, iov, iovcnt);
}

/* 1 when the transport holds bytes for the next read (never for TCP: no call made). */
static inline int cg_xport_holds(const cg_xport_t *x)
{
    return x->impl != NULL && x->ops->pending(x) != 0;
}

/* After a read that returned got < asked bytes: 1 when nothing more can be read until the
 * socket reports readable again. Only TCP can tell from a short read. A TLS read returns at
 * most one record, and the next records may already sit in the kernel's buffer, where no new
 * edge will announce them: a TLS stream is drained only once a read said CG_EAGAIN. */
static inline int cg_xport_drained(const cg_xport_t *x, size_t got, size_t asked)
{
    return got < asked && x->impl == NULL;
}

/* Ends the write side (a half-close: reads go on): 0, CG_EAGAIN or an error (best effort). */
static inline int cg_xport_shutdown(cg_xport_t *x)
{
    return x->ops->shutdown(x);
}

/* Lets go of the transport and closes its fd; the loop must no longer watch it. A transport
 * with state (TLS) first ends its write side, best effort (close_notify); TCP closes at once. */
static inline void cg_xport_close(cg_xport_t *x)
{
    if (x->impl) {
        x->ops->shutdown(x);
        x->ops->release(x);
        x->impl = NULL;
    }
    if (x->fd >= 0) close(x->fd);
    x->fd = -1;
}

/* ---------- readiness under edge-triggered epoll ----------
 *
 * The loop reports each socket's readiness once, as an edge; the connection remembers it until
 * an operation says CG_EAGAIN. What it remembers is whether the next read (rd) and the next
 * write (wr) may make progress, and, while one may not, which socket readiness frees it
 * (rd_wait, wr_wait: a CG_XPORT_WANT_*, 0 meaning its own direction, so that a zeroed struct is
 * a new connection waiting for its first edges). Over TCP a read always waits for readable and
 * a write for writable; over TLS a read may wait for writable and a write for readable. */
typedef struct cg_xport_ready {
    uint8_t rd, wr;
    uint8_t rd_wait, wr_wait;
} cg_xport_ready_t;

/* An epoll edge: `in` when the socket reported readable (or the peer's end), `out` writable. */
static inline void cg_xport_ready_events(cg_xport_ready_t *r, int in, int out)
{
    unsigned got = (in ? CG_XPORT_WANT_READ : 0u) | (out ? CG_XPORT_WANT_WRITE : 0u);
    if (got & (r->rd_wait ? r->rd_wait : CG_XPORT_WANT_READ)) r->rd = 1;
    if (got & (r->wr_wait ? r->wr_wait : CG_XPORT_WANT_WRITE)) r->wr = 1;
}

/* A read answered CG_EAGAIN: no read until the readiness it wants. */
static inline void cg_xport_ready_read_blocked(cg_xport_ready_t *r, const cg_xport_t *x)
{
    r->rd = 0;
    r->rd_wait = x->want;
}

/* A write left bytes unsent and the transport's want says what frees the rest. */
static inline void cg_xport_ready_write_blocked(cg_xport_ready_t *r, const cg_xport_t *x)
{
    r->wr = 0;
    r->wr_wait = x->want;
}

/* A read filled got of the asked bytes. When that drained the stream (cg_xport_drained) the
 * read waits for the next readable edge: that saves the read that would only say EAGAIN. Not
 * when epoll already reported the peer's FIN (rdhup): it came with the same edge as the data
 * and no new edge would announce it. */
static inline void cg_xport_ready_after_read(cg_xport_ready_t *r, const cg_xport_t *x, size_t got,
                                             size_t asked, int rdhup)
{
    if (!rdhup && cg_xport_drained(x, got, asked)) {
        r->rd = 0;
        r->rd_wait = 0;
    }
}

/* Moves a handshake on when an edge may have freed it (the handshake reads and writes, so
 * either direction's readiness lets it try). 1 once complete (both directions are then tried:
 * the handshake may have swallowed their edges), 0 while it waits (both wait for what it
 * wants), or the handshake's error. */
static inline int cg_xport_ready_handshake(cg_xport_ready_t *r, cg_xport_t *x)
{
    if (!r->rd && !r->wr) return 0;
    int e = x->ops->handshake(x);
    if (e == 0) {
        r->rd = r->wr = 1;
        r->rd_wait = r->wr_wait = 0;
        return 1;
    }
    if (e != CG_EAGAIN) return e;
    r->rd = r->wr = 0;
    r->rd_wait = r->wr_wait = x->want;
    return 0;
}

#endif
