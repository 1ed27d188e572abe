/* The client connections of `crossgate load`: connect, send the one request, parse the answer
 * in place, keep the connection alive; in open loop, the pump that hands due requests to idle
 * connections and the timer that wakes it. Nothing is allocated per request. With --http2 a
 * connected connection is an HTTP/2 session (load_h2.c); with --resolve-via its address comes
 * from the DNS answer (load_dns.c). */
#include "core/buf.h"
#include "core/clock.h"
#include "core/err.h"
#include "core/list.h"
#include "tools/load_engine.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/timerfd.h>
#include <unistd.h>

#define BACKOFF_MS 10 /* closed loop: pause after a socket error before reconnecting */

typedef cg_load_conn_t conn_t;

static void on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events);
static void on_reap(cg_loop_t *loop, cg_defer_t *d);
static void pump(cg_load_t *ld, uint64_t now);

void cg_load__conn_close(cg_load_t *ld, conn_t *c)
{
    cg_load__h2_free(c);
    if (c->io.fd >= 0) {
        cg_io_stop(ld->loop, &c->io);
        close(c->io.fd);
        c->io.fd = -1;
    }
    if (c->state == CG_LOAD_ST_CONNECTING) ld->nconnecting--;
    if (c->state != CG_LOAD_ST_CLOSED) ld->nopen--;
    c->state = CG_LOAD_ST_CLOSED;
    c->rlen = c->parsed = 0;
    /* the slot is reused after this loop iteration, so no stale event of this batch can
     * reach the connection's next socket */
    if (!c->reaped) {
        c->reaped = 1;
        ld->reaped[ld->nreaped++] = c->idx;
        cg_defer(ld->loop, &ld->reap_defer, on_reap);
    }
}

void cg_load__conn_fail(cg_load_t *ld, conn_t *c, int kind)
{
    uint64_t now = cg_clock_mono_us();
    if (c->h2) {
        cg_load__h2_fail_all(ld, c, kind, now);
    } else if (c->state == CG_LOAD_ST_WRITING || c->state == CG_LOAD_ST_READING) {
        ld->inflight--;
        cg_load__record(ld, now, 0, CG_LOAD_CLUSTER_NONE, 0, kind);
    } else if (c->state == CG_LOAD_ST_CONNECTING || c->state == CG_LOAD_ST_CLOSED) {
        /* the connect was made for a request: that request failed */
        if (ld->rate == 0) {
            if (cg_load__can_issue(ld, now)) {
                ld->issued++;
                cg_load__record(ld, now, 0, CG_LOAD_CLUSTER_NONE, 0, kind);
            }
        } else if (cg_load_sched_backlog(&ld->sched, now) > 0) {
            ld->sched.next++;
            cg_load__record(ld, now, 0, CG_LOAD_CLUSTER_NONE, 0, kind);
        }
    }
    c->pause = ld->rate == 0;
    cg_load__conn_close(ld, c);
    cg_load__check_done(ld, now);
}

/* The kind of a read or write failure on an established connection. */
static int errno_kind(int e)
{
    return e == ETIMEDOUT ? CG_LOAD_E_TIMEOUT : CG_LOAD_E_RESET;
}

static void conn_open(cg_load_t *ld, conn_t *c)
{
    c->pause = 0;
    c->drain = 0;
    c->since_us = cg_clock_mono_us();
    if (!ld->dns) {
        c->addr = ld->addr;
    } else if (cg_load_dns_pick(ld->dns, &c->addr)) {
        cg_load__conn_fail(ld, c, CG_LOAD_E_DNS);
        return;
    }
    int fd = cg_sock_connect(&c->addr);
    if (fd < 0) {
        cg_load__conn_fail(ld, c, fd == CG_ECONNREFUSED ? CG_LOAD_E_REFUSED : CG_LOAD_E_CONNECT);
        return;
    }
    if (cg_io_start(ld->loop, &c->io, fd, on_io)) {
        close(fd);
        cg_load__conn_fail(ld, c, CG_LOAD_E_CONNECT);
        return;
    }
    c->state = CG_LOAD_ST_CONNECTING;
    ld->nopen++;
    ld->nconnecting++;
    ld->connects++;
}

static void conn_write(cg_load_t *ld, conn_t *c)
{
    while (c->wpos < ld->req_len) {
        ssize_t n = write(c->io.fd, ld->req + c->wpos, ld->req_len - c->wpos);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return; /* EPOLLOUT follows */
            cg_load__conn_fail(ld, c, errno_kind(errno));
            return;
        }
        c->wpos += (size_t)n;
    }
    c->state = CG_LOAD_ST_READING;
}

static void conn_send(cg_load_t *ld, conn_t *c, uint64_t start_us, uint64_t now)
{
    if (c->h2) {
        cg_load__h2_send(ld, c, start_us, now);
        cg_load__h2_flush(ld, c);
        return;
    }
    c->start_us = start_us;
    c->since_us = now;
    if (ld->rate > 0) cg_load_hist_record(&ld->st.lag, now > start_us ? now - start_us : 0);
    c->wpos = 0;
    c->rlen = c->parsed = 0;
    c->head_done = 0;
    cg_http_parser_next(&c->parser);
    c->state = CG_LOAD_ST_WRITING;
    ld->inflight++;
    conn_write(ld, c);
}

static conn_t *idle_pop(cg_load_t *ld)
{
    while (ld->idle_len) {
        conn_t *c = &ld->c[ld->idle[ld->idle_head]];
        ld->idle_head = (ld->idle_head + 1) % ld->nslots;
        ld->idle_len--;
        c->in_idle = 0;
        if (c->state == CG_LOAD_ST_IDLE && (!c->h2 || cg_load__h2_has_room(ld, c))) return c;
    }
    return NULL;
}

static void idle_push(cg_load_t *ld, conn_t *c)
{
    if (c->in_idle) return;
    c->in_idle = 1;
    ld->idle[(ld->idle_head + ld->idle_len) % ld->nslots] = c->idx;
    ld->idle_len++;
}

/* Open loop: hands every due request to an idle connection, opening connections for the
 * rest (one per waiting request, up to the cap); those not served wait in the backlog. */
static void pump(cg_load_t *ld, uint64_t now)
{
    if (ld->stopped) return;
    conn_t *c;
    uint64_t at;
    while (cg_load_sched_backlog(&ld->sched, now) > 0 && (c = idle_pop(ld)) &&
           cg_load_sched_take(&ld->sched, now, &at)) {
        conn_send(ld, c, at, now);
        /* an HTTP/2 connection with streams to spare goes to the back of the ring */
        if (c->h2 && cg_load__h2_has_room(ld, c)) idle_push(ld, c);
    }
    uint64_t per_conn = ld->streams ? ld->streams : 1;
    while (!ld->stopped && ld->nfree && ld->nopen < ld->max_conns &&
           cg_load_sched_backlog(&ld->sched, now) > ld->nconnecting * per_conn)
        conn_open(ld, &ld->c[ld->free_slots[--ld->nfree]]);
}

void cg_load__conn_more(cg_load_t *ld, conn_t *c, uint64_t now)
{
    if (c->state == CG_LOAD_ST_CLOSED) return;
    if ((c->drain || c->goaway) && !c->busy) {
        cg_load__conn_close(ld, c); /* reopened after this loop iteration (on_reap) */
        return;
    }
    if (!cg_load__h2_has_room(ld, c)) return;
    if (ld->rate > 0) {
        idle_push(ld, c);
        pump(ld, now);
        return;
    }
    while (cg_load__h2_has_room(ld, c) && cg_load__can_issue(ld, now)) {
        ld->issued++;
        cg_load__h2_send(ld, c, now, now);
    }
    cg_load__h2_flush(ld, c);
}

static void conn_ready(cg_load_t *ld, conn_t *c, uint64_t now)
{
    c->state = CG_LOAD_ST_IDLE;
    if (c->drain) {
        /* its address left the DNS answer while it was connecting */
        cg_load__conn_close(ld, c);
        return;
    }
    if (ld->streams) {
        if (cg_load__h2_open(ld, c)) {
            cg_load__conn_fail(ld, c, CG_LOAD_E_H2);
            return;
        }
        cg_load__conn_more(ld, c, now);
        if (c->h2 && !c->busy) cg_load__h2_flush(ld, c); /* the preface, at least */
        return;
    }
    if (ld->rate > 0) {
        idle_push(ld, c);
        pump(ld, now);
    } else if (cg_load__can_issue(ld, now)) {
        ld->issued++;
        conn_send(ld, c, now, now);
    }
}

/* Heads are parsed in place; once the status and cluster are read, head and body bytes are
 * dropped. */
int cg_load__conn_parse(cg_load_t *ld, conn_t *c)
{
    cg_http_parser_t *p = &c->parser;
    while (!c->head_done) {
        int r = cg_http_parse_head(p, c->rbuf, c->rlen, &c->parsed);
        if (r == CG_HTTP_INTERIM) {
            memmove(c->rbuf, c->rbuf + c->parsed, c->rlen - c->parsed);
            c->rlen -= c->parsed;
            c->parsed = 0;
            cg_http_parser_next(p);
            continue;
        }
        if (r == CG_EAGAIN) return c->rlen == CG_LOAD_RBUF ? CG_EPARSE : CG_EAGAIN;
        if (r < 0) return CG_EPARSE;
        c->head_done = 1;
        c->status = c->head.status < CG_LOAD_MAX_STATUS ? c->head.status : 0;
        int hi = cg_http_head_find(&c->head, c->rbuf, CG_IOV_LIT("x-app-cluster"));
        cg_iov_t v = cg_iov_trim(cg_http_head_value(&c->head, c->rbuf, hi));
        if (hi < 0)
            c->cluster = CG_LOAD_CLUSTER_MISSING;
        else if (c->cluster == CG_LOAD_CLUSTER_NONE || c->cluster == CG_LOAD_CLUSTER_MISSING ||
                 !cg_load_clusters_is(&ld->st.cl, c->cluster, v))
            c->cluster = (uint16_t)cg_load_clusters_intern(&ld->st.cl, v);
        if (p->complete || !cg_http_parser_has_body(p)) return 0;
        memmove(c->rbuf, c->rbuf + c->parsed, c->rlen - c->parsed);
        c->rlen -= c->parsed;
        c->parsed = 0;
    }
    for (;;) {
        cg_http_out_reset(&ld->sink);
        int r = cg_http_parse_body(p, c->rbuf, c->rlen, &c->parsed, &ld->sink);
        if (r == 0) return 0;
        if (r != CG_EAGAIN) return CG_EPARSE;
        if (c->parsed == c->rlen) {
            c->rlen = c->parsed = 0;
            return CG_EAGAIN;
        }
    }
}
static void conn_done(cg_load_t *ld, conn_t *c, uint32_t events)
{
    uint64_t now = cg_clock_mono_us();
    ld->inflight--;
    cg_load__record(ld, now, c->status, c->cluster, now - c->start_us, -1);
    int keep = (c->head.flags & CG_HTTP_F_KEEPALIVE) && c->parsed == c->rlen && !c->drain &&
               !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR));
    c->rlen = c->parsed = 0;
    if (!keep) {
        c->pause = 0;
        cg_load__conn_close(ld, c);
    } else {
        conn_ready(ld, c, now);
    }
    cg_load__check_done(ld, now);
}

static void conn_read(cg_load_t *ld, conn_t *c, uint32_t events)
{
    for (;;) {
        ssize_t n = read(c->io.fd, c->rbuf + c->rlen, CG_LOAD_RBUF - c->rlen);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return;
            if (c->state == CG_LOAD_ST_READING)
                cg_load__conn_fail(ld, c, errno_kind(errno));
            else
                cg_load__conn_close(ld, c);
            return;
        }
        if (n == 0) {
            if (c->state == CG_LOAD_ST_READING && c->head_done &&
                cg_http_parse_eof(&c->parser, NULL) == 0) {
                conn_done(ld, c, EPOLLRDHUP);
            } else if (c->state == CG_LOAD_ST_READING) {
                cg_load__conn_fail(ld, c, CG_LOAD_E_CLOSED);
            } else {
                c->pause = 0;
                cg_load__conn_close(ld, c); /* an idle keep-alive connection closed by the server */
            }
            return;
        }
        if (c->state != CG_LOAD_ST_READING) {
            cg_load__conn_close(ld, c); /* bytes nobody asked for */
            return;
        }
        c->rlen += (size_t)n;
        int r = cg_load__conn_parse(ld, c);
        if (r == CG_EAGAIN) continue;
        if (r < 0) {
            cg_load__conn_fail(ld, c, CG_LOAD_E_PARSE);
            return;
        }
        /* One request in flight: nothing follows the response until the next request is
         * sent, whose answer brings a new edge. */
        conn_done(ld, c, events);
        return;
    }
}

static void on_io(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    conn_t *c = cg_container_of(io, conn_t, io);
    cg_load_t *ld = c->ld;
    if (c->state == CG_LOAD_ST_CONNECTING) {
        if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
        int err = cg_sock_error(io->fd);
        if (err) {
            cg_load__conn_fail(ld, c,
                               err == CG_ECONNREFUSED ? CG_LOAD_E_REFUSED
                               : err == CG_ETIMEDOUT  ? CG_LOAD_E_TIMEOUT
                                                      : CG_LOAD_E_CONNECT);
            return;
        }
        ld->nconnecting--;
        conn_ready(ld, c, cg_clock_mono_us());
        return;
    }
    if (c->h2) {
        cg_load__h2_io(ld, c, events);
        return;
    }
    if (c->state == CG_LOAD_ST_WRITING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        conn_write(ld, c);
    if ((c->state == CG_LOAD_ST_READING || c->state == CG_LOAD_ST_IDLE) &&
        (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        conn_read(ld, c, events);
}

static void on_backoff(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, backoff);
    if (c->state == CG_LOAD_ST_CLOSED && cg_load__can_issue(c->ld, cg_clock_mono_us()))
        conn_open(c->ld, c);
}

/* After each loop iteration: closed slots reconnect (closed loop) or become free (open loop). */
static void on_reap(cg_loop_t *loop, cg_defer_t *d)
{
    cg_load_t *ld = cg_container_of(d, cg_load_t, reap_defer);
    uint64_t now = cg_clock_mono_us();
    while (ld->nreaped) {
        conn_t *c = &ld->c[ld->reaped[--ld->nreaped]];
        c->reaped = 0;
        if (ld->stopped || c->state != CG_LOAD_ST_CLOSED) continue;
        if (ld->rate > 0)
            ld->free_slots[ld->nfree++] = c->idx;
        else if (c->pause)
            cg_timer_start(loop, &c->backoff, BACKOFF_MS, on_backoff);
        else if (cg_load__can_issue(ld, now))
            conn_open(ld, c);
    }
    if (ld->rate > 0) pump(ld, now);
}

static void arm_schedule(cg_load_t *ld, uint64_t now)
{
    uint64_t at = cg_load_sched_wakeup(&ld->sched, now);
    if (at && at == ld->tfd_armed_us) return;
    struct itimerspec its = {0};
    its.it_value.tv_sec = (time_t)(at / 1000000u);
    its.it_value.tv_nsec = (long)(at % 1000000u) * 1000;
    ld->tfd_armed_us = at;
    timerfd_settime(ld->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void on_schedule(cg_loop_t *loop, cg_io_t *io, uint32_t events)
{
    cg_load_t *ld = cg_container_of(io, cg_load_t, tio);
    uint64_t v;
    while (read(ld->tfd, &v, sizeof(v)) > 0) {
    }
    ld->tfd_armed_us = 0;
    uint64_t now = cg_clock_mono_us();
    pump(ld, now);
    arm_schedule(ld, now);
}

void cg_load__conns_init(cg_load_t *ld)
{
    ld->nslots = ld->max_conns;
    ld->c = cg_xcalloc(ld->nslots, sizeof(conn_t));
    ld->idle = cg_xcalloc(ld->nslots, sizeof(uint32_t));
    ld->free_slots = cg_xcalloc(ld->nslots, sizeof(uint32_t));
    ld->reaped = cg_xcalloc(ld->nslots, sizeof(uint32_t));
    if (ld->streams)
        ld->streams_mem = cg_xcalloc((size_t)ld->nslots * ld->streams, sizeof(cg_load_stream_t));
    for (uint32_t i = 0; i < ld->nslots; i++) {
        conn_t *c = &ld->c[i];
        if (ld->streams) c->st = &ld->streams_mem[(size_t)i * ld->streams];
        c->io.fd = -1;
        c->ld = ld;
        c->idx = i;
        c->cluster = CG_LOAD_CLUSTER_NONE;
        cg_http_parser_init(&c->parser, 0, &c->head, NULL);
    }
    for (uint32_t i = ld->nslots; i > 0; i--) ld->free_slots[ld->nfree++] = i - 1;
    cg_list_init(&ld->reap_defer.link);
    ld->reap_defer.cb = on_reap;
    ld->tfd = -1;
}

/* The line of a new answer or of a failed query, for the hooks. */
static void dns_note(cg_load_t *ld, int err)
{
    char a[INET_ADDRSTRLEN];
    const cg_load_answer_t *ans = cg_load_dns_answer(ld->dns);
    cg_buf_t b = {0};
    cg_buf_printf(&b, "dns: %s via %s", cg_load_dns_name(ld->dns), cg_load_dns_server(ld->dns));
    if (err) cg_buf_printf(&b, " failed: %s; keeping", cg_load_dns_error(ld->dns));
    cg_buf_append_str(&b, err ? "" : ":");
    for (unsigned i = 0; i < ans->n; i++)
        cg_buf_printf(&b, " %s", inet_ntop(AF_INET, &ans->a[i], a, sizeof(a)));
    if (!ans->n) cg_buf_append_str(&b, " no address");
    if (!err) cg_buf_printf(&b, " (ttl %us)", ans->ttl);
    cg_buf_append(&b, "", 1);
    ld->hooks.on_note(ld->hooks.data, b.base);
    cg_buf_free(&b);
}

/* --resolve-via: the answer changed, or a query failed. A connection to an address no longer
 * in the answer is closed once its request is done (at once when idle) and reopened to a
 * current one. */
static void on_dns(void *data, int changed, int err)
{
    cg_load_t *ld = data;
    if (ld->stopped) return;
    if (ld->hooks.on_note && (changed || err)) dns_note(ld, err);
    if (!ld->dns_started) {
        ld->dns_started = 1;
        cg_load__conns_begin(ld);
        return;
    }
    if (!changed) return;
    const cg_load_answer_t *ans = cg_load_dns_answer(ld->dns);
    for (uint32_t i = 0; i < ld->nslots; i++) {
        conn_t *c = &ld->c[i];
        if (c->state == CG_LOAD_ST_CLOSED || cg_load_answer_has(ans, &c->addr)) continue;
        c->drain = 1;
        if (c->state == CG_LOAD_ST_IDLE && (!c->h2 || !c->busy)) {
            c->pause = 0;
            cg_load__conn_close(ld, c);
        }
    }
}

void cg_load__conns_start(cg_load_t *ld)
{
    if (ld->dns) {
        /* the first connections wait for the first answer (or failure) */
        cg_load_dns_start(ld->dns, ld->loop, on_dns, ld);
        return;
    }
    cg_load__conns_begin(ld);
}

void cg_load__conns_begin(cg_load_t *ld)
{
    if (ld->rate > 0) {
        /* the schedule needs microseconds, the loop's timers have milliseconds */
        prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
        ld->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (ld->tfd >= 0) cg_io_start_level(ld->loop, &ld->tio, ld->tfd, EPOLLIN, on_schedule);
        pump(ld, ld->start_us);
        /* keep CONNS connections open from the start, like a pool of clients */
        for (uint32_t i = 0; i < ld->conns && ld->nopen < ld->conns && ld->nfree; i++)
            conn_open(ld, &ld->c[ld->free_slots[--ld->nfree]]);
        if (ld->tfd >= 0)
            arm_schedule(ld, ld->start_us);
        else
            fprintf(stderr, "crossgate load: timerfd: %s\n", strerror(errno));
    } else {
        for (uint32_t i = 0; i < ld->conns; i++)
            if (cg_load__can_issue(ld, ld->start_us)) conn_open(ld, &ld->c[i]);
    }
}

void cg_load__conns_close(cg_load_t *ld)
{
    for (uint32_t i = 0; i < ld->nslots; i++) {
        conn_t *c = &ld->c[i];
        cg_timer_stop(ld->loop, &c->backoff);
        cg_load__h2_free(c);
        if (c->io.fd >= 0) {
            cg_io_stop(ld->loop, &c->io);
            close(c->io.fd);
            c->io.fd = -1;
        }
    }
    cg_defer_cancel(&ld->reap_defer);
    cg_load_dns_stop(ld->dns);
    if (ld->tfd >= 0) {
        cg_io_stop(ld->loop, &ld->tio);
        close(ld->tfd);
        ld->tfd = -1;
    }
}

void cg_load__conns_free(cg_load_t *ld)
{
    free(ld->c);
    free(ld->idle);
    free(ld->free_slots);
    free(ld->reaped);
    free(ld->streams_mem);
    ld->streams_mem = NULL;
    ld->c = NULL;
    ld->idle = ld->free_slots = ld->reaped = NULL;
}
