/* Socket helpers. */
#include "core/sock.h"
#include "core/err.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cg_addr_parse_ip(cg_addr_t *a, const char *ip, uint16_t port)
{
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, ip, &a->u.in4.sin_addr) == 1) {
        a->u.in4.sin_family = AF_INET;
        a->u.in4.sin_port = htons(port);
        a->len = sizeof(a->u.in4);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &a->u.in6.sin6_addr) == 1) {
        a->u.in6.sin6_family = AF_INET6;
        a->u.in6.sin6_port = htons(port);
        a->len = sizeof(a->u.in6);
        return 0;
    }
    return CG_EINVAL;
}

int cg_addr_parse(cg_addr_t *a, const char *hostport)
{
    char host[64];
    const char *colon;
    if (hostport[0] == '[') {
        const char *end = strchr(hostport, ']');
        if (!end || end[1] != ':' || (size_t)(end - hostport - 1) >= sizeof(host)) return CG_EINVAL;
        memcpy(host, hostport + 1, (size_t)(end - hostport - 1));
        host[end - hostport - 1] = '\0';
        colon = end + 1;
    } else {
        colon = strrchr(hostport, ':');
        if (!colon || (size_t)(colon - hostport) >= sizeof(host)) return CG_EINVAL;
        if (memchr(hostport, ':', (size_t)(colon - hostport))) return CG_EINVAL; /* IPv6 needs [] */
        memcpy(host, hostport, (size_t)(colon - hostport));
        host[colon - hostport] = '\0';
    }
    for (const char *d = colon + 1; *d; d++)
        if (*d < '0' || *d > '9') return CG_EINVAL;
    char *end;
    errno = 0;
    long port = strtol(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port < 0 || port > 65535) return CG_EINVAL;
    return cg_addr_parse_ip(a, host, (uint16_t)port);
}

size_t cg_addr_format_ip(const cg_addr_t *a, char *out, size_t cap)
{
    const void *src = a->u.sa.sa_family == AF_INET6 ? (const void *)&a->u.in6.sin6_addr
                                                    : (const void *)&a->u.in4.sin_addr;
    if (!inet_ntop(a->u.sa.sa_family, src, out, (socklen_t)cap)) {
        if (cap) out[0] = '\0';
        return 0;
    }
    return strlen(out);
}

uint16_t cg_addr_port(const cg_addr_t *a)
{
    return ntohs(a->u.sa.sa_family == AF_INET6 ? a->u.in6.sin6_port : a->u.in4.sin_port);
}

/* Decimal digits of v at o; returns the end. */
static char *put_u32(char *o, uint32_t v)
{
    char d[10];
    int n = 0;
    do {
        d[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n) *o++ = d[--n];
    return o;
}

size_t cg_addr_format(const cg_addr_t *a, char *out, size_t cap)
{
    if (a->u.sa.sa_family == AF_INET && cap >= sizeof("255.255.255.255:65535")) {
        /* by hand: a snapshot's 100,000 endpoints each get a name, and printf is most of it */
        const unsigned char *b = (const unsigned char *)&a->u.in4.sin_addr;
        char *o = out;
        for (int i = 0; i < 4; i++) {
            if (i) *o++ = '.';
            o = put_u32(o, b[i]);
        }
        *o++ = ':';
        o = put_u32(o, cg_addr_port(a));
        *o = '\0';
        return (size_t)(o - out);
    }
    char ip[INET6_ADDRSTRLEN];
    cg_addr_format_ip(a, ip, sizeof(ip));
    int n = snprintf(out, cap, a->u.sa.sa_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
                     cg_addr_port(a));
    return n > 0 ? (size_t)n : 0;
}

int cg_addr_eq(const cg_addr_t *a, const cg_addr_t *b)
{
    return a->len == b->len && memcmp(&a->u, &b->u, a->len) == 0;
}

int cg_sock_listen(const cg_addr_t *a, int reuseport, int backlog)
{
    int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return cg_err_from_errno(errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (bind(fd, &a->u.sa, a->len) < 0 || listen(fd, backlog) < 0) {
        int e = cg_err_from_errno(errno);
        close(fd);
        return e;
    }
    return fd;
}

int cg_sock_connect(const cg_addr_t *a)
{
    return cg_sock_connect_from(a, NULL);
}

int cg_sock_connect_from(const cg_addr_t *a, const cg_addr_t *src)
{
    int fd = socket(a->u.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return cg_err_from_errno(errno);
    if (src && src->u.sa.sa_family == a->u.sa.sa_family && bind(fd, &src->u.sa, src->len) < 0) {
        int e = cg_err_from_errno(errno);
        close(fd);
        return e;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (connect(fd, &a->u.sa, a->len) < 0 && errno != EINPROGRESS) {
        int e = cg_err_from_errno(errno);
        close(fd);
        return e;
    }
    return fd;
}

int cg_sock_error(int fd)
{
    int err = 0;
    socklen_t len = sizeof(err);
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return cg_err_from_errno(errno);
    return err ? cg_err_from_errno(err) : 0;
}

int cg_sock_set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ? CG_ESYS : 0;
}
