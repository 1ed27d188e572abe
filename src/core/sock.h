/* Sockets: address parsing, listeners, non-blocking connects. IPv4 and IPv6. */
#ifndef CG_CORE_SOCK_H
#define CG_CORE_SOCK_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct cg_addr {
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } u;
    socklen_t len;
} cg_addr_t;

/* Parses "IP" with port `port`. Returns 0 or CG_EINVAL. */
int cg_addr_parse_ip(cg_addr_t *a, const char *ip, uint16_t port);
/* Parses "IP:PORT" or "[IPv6]:PORT". */
int cg_addr_parse(cg_addr_t *a, const char *hostport);
/* "ip:port" into out; returns length. */
size_t cg_addr_format(const cg_addr_t *a, char *out, size_t cap);
/* Just the IP. */
size_t cg_addr_format_ip(const cg_addr_t *a, char *out, size_t cap);
uint16_t cg_addr_port(const cg_addr_t *a);
int cg_addr_eq(const cg_addr_t *a, const cg_addr_t *b);

/* A non-blocking listening socket; reuseport lets each worker own one. Returns fd or CG_E*. */
int cg_sock_listen(const cg_addr_t *a, int reuseport, int backlog);
/* Starts a non-blocking connect; returns fd (connect may be in progress) or CG_E*. */
int cg_sock_connect(const cg_addr_t *a);
/* The same from source address src (its port 0: any), or like cg_sock_connect when src is NULL
 * or of another family. */
int cg_sock_connect_from(const cg_addr_t *a, const cg_addr_t *src);
/* The pending error of a socket after a connect (0 when connected). */
int cg_sock_error(int fd);
int cg_sock_set_nodelay(int fd);

#endif
