/* --resolve-via of `crossgate load` (load_dns.h): A queries on the run's loop, built and parsed
 * by glibc's resolver (res_nmkquery, ns_initparse), answers kept and handed out round robin. */
#include "tools/load_dns.h"

#include "core/clock.h"
#include "core/err.h"
#include "core/list.h"

#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <netinet/in.h>
#include <resolv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

struct cg_load_dns {
    char server_str[64];
    cg_addr_t server;
    char name[NS_MAXDNAME];
    uint16_t port;
    struct __res_state res; /* only to build queries: never sends */
    cg_loop_t *loop;
    cg_load_dns_cb cb;
    void *data;
    int fd;
    cg_io_t io;
    cg_timer_t timer; /* the query's timeout, or the next query */
    uint16_t id;
    int pending;
    cg_load_answer_t ans;
    uint32_t rr;
    cg_load_dns_counts_t n;
    char error[128];
};

int cg_load_dns_parse(const uint8_t *msg, size_t len, uint16_t id, const char *name,
                      cg_load_answer_t *out, const char **why)
{
    ns_msg h;
    ns_rr rr;
    char owner[NS_MAXDNAME];
    *out = (cg_load_answer_t){0};
    if (len > 65535 || ns_initparse(msg, (int)len, &h) < 0) {
        *why = "malformed DNS message";
        return CG_EPARSE;
    }
    if (ns_msg_id(h) != id || !ns_msg_getflag(h, ns_f_qr)) {
        *why = "not the answer to our query (id)";
        return CG_EPARSE;
    }
    if (ns_msg_getflag(h, ns_f_tc)) {
        *why = "truncated answer";
        return CG_EPARSE;
    }
    int rcode = ns_msg_getflag(h, ns_f_rcode);
    if (rcode != ns_r_noerror) {
        *why = rcode == ns_r_nxdomain   ? "NXDOMAIN (no such name)"
               : rcode == ns_r_servfail ? "SERVFAIL"
               : rcode == ns_r_refused  ? "REFUSED"
                                        : "error response code";
        return CG_EPARSE;
    }
    if (ns_msg_count(h, ns_s_qd) != 1 || ns_parserr(&h, ns_s_qd, 0, &rr) < 0 ||
        strcasecmp(ns_rr_name(rr), name) || ns_rr_type(rr) != ns_t_a) {
        *why = "not the answer to our question";
        return CG_EPARSE;
    }
    /* the name whose A records count: name, or the target of a CNAME of it, in answer order */
    snprintf(owner, sizeof(owner), "%s", name);
    for (int i = 0; i < ns_msg_count(h, ns_s_an); i++) {
        if (ns_parserr(&h, ns_s_an, i, &rr) < 0) {
            *why = "malformed answer record";
            return CG_EPARSE;
        }
        if (ns_rr_class(rr) != ns_c_in || strcasecmp(ns_rr_name(rr), owner)) continue;
        if (ns_rr_type(rr) == ns_t_cname) {
            if (ns_name_uncompress(ns_msg_base(h), ns_msg_end(h), ns_rr_rdata(rr), owner,
                                   sizeof(owner)) < 0) {
                *why = "malformed CNAME record";
                return CG_EPARSE;
            }
            continue;
        }
        if (ns_rr_type(rr) != ns_t_a || ns_rr_rdlen(rr) != 4 || out->n == CG_LOAD_DNS_MAX) continue;
        memcpy(&out->a[out->n], ns_rr_rdata(rr), 4);
        if (out->n == 0 || ns_rr_ttl(rr) < out->ttl) out->ttl = ns_rr_ttl(rr);
        out->n++;
    }
    if (out->n == 0) {
        *why = "no A record in the answer";
        return CG_EPARSE;
    }
    return 0;
}

int cg_load_answer_has(const cg_load_answer_t *ans, const cg_addr_t *a)
{
    if (a->u.sa.sa_family != AF_INET) return 0;
    for (unsigned i = 0; i < ans->n; i++)
        if (ans->a[i].s_addr == a->u.in4.sin_addr.s_addr) return 1;
    return 0;
}

int cg_load_answer_same(const cg_load_answer_t *a, const cg_load_answer_t *b)
{
    if (a->n != b->n) return 0;
    for (unsigned i = 0; i < a->n; i++) {
        unsigned j = 0;
        while (j < b->n && b->a[j].s_addr != a->a[i].s_addr) j++;
        if (j == b->n) return 0;
    }
    return 1;
}

cg_load_dns_t *cg_load_dns_new(const char *server, const char *name, uint16_t port, char *err,
                               size_t errcap)
{
    cg_load_dns_t *d = cg_xcalloc(1, sizeof(*d));
    d->fd = -1;
    d->port = port;
    if (strlen(server) >= sizeof(d->server_str) || cg_addr_parse(&d->server, server) ||
        !cg_addr_port(&d->server)) {
        snprintf(err, errcap, "--resolve-via: expected a DNS server as IP:PORT, got \"%s\"",
                 server);
        goto Error;
    }
    snprintf(d->server_str, sizeof(d->server_str), "%s", server);
    size_t nl = strlen(name);
    if (nl == 0 || nl >= sizeof(d->name) || name[0] == '[' ||
        inet_pton(AF_INET, name, &(struct in_addr){0}) == 1) {
        snprintf(err, errcap, "--resolve-via: the URL needs a hostname to resolve, got \"%s\"",
                 name);
        goto Error;
    }
    snprintf(d->name, sizeof(d->name), "%s", name);
    if (res_ninit(&d->res) < 0) {
        snprintf(err, errcap, "--resolve-via: cannot initialise the resolver");
        goto Error;
    }
    return d;
Error:
    free(d);
    return NULL;
}

static void schedule(cg_load_dns_t *d, uint32_t secs);

/* The query ended (answered or not): counts it, tells the run, and plans the next one. */
static void finish(cg_load_dns_t *d, const cg_load_answer_t *ans, const char *why)
{
    d->pending = 0;
    cg_timer_stop(d->loop, &d->timer);
    if (d->fd >= 0) {
        cg_io_stop(d->loop, &d->io);
        close(d->fd);
        d->fd = -1;
    }
    if (!ans) {
        d->n.failures++;
        snprintf(d->error, sizeof(d->error), "%s", why);
        schedule(d, CG_LOAD_DNS_MIN_TTL);
        d->cb(d->data, 0, CG_EIO);
        return;
    }
    int changed = !cg_load_answer_same(&d->ans, ans);
    d->ans = *ans;
    if (changed) {
        d->n.changes++;
        d->rr = 0;
    }
    schedule(d, ans->ttl > CG_LOAD_DNS_MIN_TTL ? ans->ttl : CG_LOAD_DNS_MIN_TTL);
    d->cb(d->data, changed, 0);
}

static void on_readable(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    cg_load_dns_t *d = cg_container_of(io, cg_load_dns_t, io);
    uint8_t msg[NS_MAXMSG];
    for (;;) {
        ssize_t n = recv(d->fd, msg, sizeof(msg), 0);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && errno == EAGAIN) return;
        if (n < 0) {
            /* connected UDP: an ICMP port unreachable comes back as ECONNREFUSED */
            finish(d, NULL, errno == ECONNREFUSED ? "refused (nothing listens)" : strerror(errno));
            return;
        }
        cg_load_answer_t ans;
        const char *why;
        if (cg_load_dns_parse(msg, (size_t)n, d->id, d->name, &ans, &why) == 0) {
            finish(d, &ans, NULL);
            return;
        }
        /* a stray datagram (another id) is dropped; a real answer that is wrong ends it */
        if (n >= 2 && (uint16_t)((msg[0] << 8) | msg[1]) == d->id) {
            finish(d, NULL, why);
            return;
        }
    }
}

static void on_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    cg_load_dns_t *d = cg_container_of(t, cg_load_dns_t, timer);
    finish(d, NULL, "timeout (no answer within 1s)");
}

static void query(cg_load_dns_t *d)
{
    uint8_t q[NS_PACKETSZ];
    const char *why = NULL;
    int len =
        res_nmkquery(&d->res, ns_o_query, d->name, ns_c_in, ns_t_a, NULL, 0, NULL, q, sizeof(q));
    d->n.queries++;
    d->pending = 1;
    if (len < 12) {
        finish(d, NULL, "cannot build the query (bad hostname)");
        return;
    }
    d->id = (uint16_t)((q[0] << 8) | q[1]);
    d->fd = socket(d->server.u.sa.sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (d->fd < 0 || connect(d->fd, &d->server.u.sa, d->server.len) < 0 ||
        send(d->fd, q, (size_t)len, 0) != len)
        why = strerror(errno);
    else if (cg_io_start_level(d->loop, &d->io, d->fd, EPOLLIN, on_readable))
        why = "cannot watch the socket";
    if (why) {
        if (d->fd >= 0) close(d->fd);
        d->fd = -1;
        finish(d, NULL, why);
        return;
    }
    cg_timer_start(d->loop, &d->timer, CG_LOAD_DNS_TIMEOUT_MS, on_timeout);
}

static void on_next(cg_loop_t *loop, cg_timer_t *t)
{
    query(cg_container_of(t, cg_load_dns_t, timer));
}

static void schedule(cg_load_dns_t *d, uint32_t secs)
{
    cg_timer_start(d->loop, &d->timer, (uint64_t)secs * 1000, on_next);
}

void cg_load_dns_start(cg_load_dns_t *d, cg_loop_t *loop, cg_load_dns_cb cb, void *data)
{
    d->loop = loop;
    d->cb = cb;
    d->data = data;
    query(d);
}

void cg_load_dns_stop(cg_load_dns_t *d)
{
    if (!d || !d->loop) return;
    cg_timer_stop(d->loop, &d->timer);
    if (d->fd >= 0) {
        cg_io_stop(d->loop, &d->io);
        close(d->fd);
        d->fd = -1;
    }
    d->pending = 0;
}

void cg_load_dns_free(cg_load_dns_t *d)
{
    if (!d) return;
    cg_load_dns_stop(d);
    res_nclose(&d->res);
    free(d);
}

const cg_load_answer_t *cg_load_dns_answer(const cg_load_dns_t *d)
{
    return &d->ans;
}

int cg_load_dns_pick(cg_load_dns_t *d, cg_addr_t *out)
{
    if (d->ans.n == 0) return CG_ENOENT;
    struct in_addr a = d->ans.a[d->rr++ % d->ans.n];
    *out = (cg_addr_t){.len = sizeof(struct sockaddr_in)};
    out->u.in4 =
        (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(d->port), .sin_addr = a};
    return 0;
}

const char *cg_load_dns_error(const cg_load_dns_t *d)
{
    return d->error;
}

const char *cg_load_dns_server(const cg_load_dns_t *d)
{
    return d->server_str;
}

const char *cg_load_dns_name(const cg_load_dns_t *d)
{
    return d->name;
}

void cg_load_dns_counts(const cg_load_dns_t *d, cg_load_dns_counts_t *out)
{
    *out = d->n;
}
