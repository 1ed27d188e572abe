/* --http2 of `crossgate load`: each connection is an HTTP/2 session (prior-knowledge h2c,
 * libnghttp2) carrying up to --streams requests at once. A request is counted, timed and
 * classified as on HTTP/1.1 (load_client.c): its response when its last frame arrives, or a
 * failure of a kind saying why (reset by the server, refused after a GOAWAY, a protocol error,
 * the connection lost). nghttp2 callbacks only count; connections are opened, refilled and
 * closed after nghttp2 has returned. */
#include "core/clock.h"
#include "core/err.h"
#include "tools/load_engine.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef cg_load_conn_t conn_t;
typedef cg_load_stream_t stream_t;

int cg_load__h2_close_kind(int rst, uint32_t error_code, int goaway)
{
    if (rst) return CG_LOAD_E_RST;
    /* nghttp2 closes the streams a GOAWAY left unprocessed with REFUSED_STREAM */
    if (goaway && error_code == NGHTTP2_REFUSED_STREAM) return CG_LOAD_E_GOAWAY;
    return CG_LOAD_E_H2;
}

/* The stream's outcome, once: a response (err < 0) or a failure of kind err. */
static void count(cg_load_t *ld, conn_t *c, stream_t *s, uint64_t now, int err)
{
    if (s->counted) return;
    s->counted = 1;
    ld->inflight--;
    if (err < 0) {
        cg_load__record(ld, now, s->status, s->cluster, now - s->start_us, -1);
    } else {
        cg_load__record(ld, now, 0, CG_LOAD_CLUSTER_NONE, 0, err);
        c->pause = ld->rate == 0; /* closed loop: a failing server is not hammered */
    }
    cg_load__check_done(ld, now);
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user_data)
{
    conn_t *c = user_data;
    stream_t *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s || frame->hd.type != NGHTTP2_HEADERS) return 0;
    if (namelen == 7 && !memcmp(name, ":status", 7)) {
        /* nghttp2 checked it is three digits; a 1xx is interim and its HEADERS not the last */
        unsigned code = (unsigned)(value[0] - '0') * 100 + (unsigned)(value[1] - '0') * 10 +
                        (unsigned)(value[2] - '0');
        if (code >= 200) s->status = (uint16_t)code;
    } else if (namelen == 13 && !memcmp(name, "x-app-cluster", 13) && s->status) {
        cg_load_t *ld = c->ld;
        cg_iov_t v = cg_iov_trim((cg_iov_t){(char *)value, valuelen});
        /* c->cluster caches the connection's last name, as on HTTP/1.1 */
        if (c->cluster == CG_LOAD_CLUSTER_NONE || c->cluster == CG_LOAD_CLUSTER_MISSING ||
            !cg_load_clusters_is(&ld->st.cl, c->cluster, v))
            c->cluster = (uint16_t)cg_load_clusters_intern(&ld->st.cl, v);
        s->cluster = c->cluster;
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    conn_t *c = user_data;
    if (frame->hd.type == NGHTTP2_GOAWAY) {
        c->goaway = 1;
        return 0;
    }
    stream_t *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!s) return 0;
    if (frame->hd.type == NGHTTP2_RST_STREAM) {
        s->rst = 1;
    } else if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) &&
               (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) && s->status) {
        count(c->ld, c, s, cg_clock_mono_us(), -1);
    }
    return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *user_data)
{
    conn_t *c = user_data;
    stream_t *s = nghttp2_session_get_stream_user_data(session, stream_id);
    if (!s || s->id != stream_id) return 0;
    count(c->ld, c, s, cg_clock_mono_us(), cg_load__h2_close_kind(s->rst, error_code, c->goaway));
    s->id = 0;
    c->busy--;
    return 0;
}

int cg_load__h2_open(cg_load_t *ld, conn_t *c)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb)) return CG_ENOMEM;
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    int rv = nghttp2_session_client_new(&c->h2, cb, c);
    nghttp2_session_callbacks_del(cb);
    if (rv) {
        c->h2 = NULL;
        return CG_ENOMEM;
    }
    /* no server push; the preface and this SETTINGS go out with the first write */
    const nghttp2_settings_entry set[] = {{NGHTTP2_SETTINGS_ENABLE_PUSH, 0}};
    nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, set, 1);
    c->busy = 0;
    c->goaway = 0;
    c->h2_out = NULL;
    c->h2_out_len = 0;
    c->h2_read_us = cg_clock_mono_us();
    for (uint32_t i = 0; i < ld->streams; i++) c->st[i] = (stream_t){0};
    return 0;
}

int cg_load__h2_has_room(const cg_load_t *ld, const conn_t *c)
{
    return c->h2 && c->state == CG_LOAD_ST_IDLE && !c->goaway && !c->drain && c->busy < ld->streams;
}

void cg_load__h2_send(cg_load_t *ld, conn_t *c, uint64_t start_us, uint64_t now)
{
    stream_t *s = c->st;
    while (s->id) s++; /* a free slot is there: cg_load__h2_has_room */
    *s = (stream_t){.start_us = start_us, .since_us = now, .cluster = CG_LOAD_CLUSTER_MISSING};
    if (ld->rate > 0) cg_load_hist_record(&ld->st.lag, now > start_us ? now - start_us : 0);
    ld->inflight++;
    /* the run's strings outlive the session: nghttp2 need not copy them */
    const uint8_t f = NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE;
#define NV(n, v)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), f                                \
    }
    const nghttp2_nv nv[] = {
        NV(":method", "GET"),
        NV(":scheme", "http"),
        NV(":authority", ld->host_hdr),
        NV(":path", ld->path),
        NV("user-agent", "crossgate-load"),
        NV("accept", "*/*"),
    };
#undef NV
    int32_t id = nghttp2_submit_request(c->h2, NULL, nv, sizeof(nv) / sizeof(nv[0]), NULL, s);
    if (id < 0) {
        /* stream ids used up (2^31 per connection): this request fails, the next goes on a
         * new connection */
        s->id = -1;
        count(ld, c, s, now, CG_LOAD_E_H2);
        s->id = 0;
        c->goaway = 1;
        return;
    }
    s->id = id;
    c->busy++;
}

/* Writes what nghttp2 has to send. Returns -1 (all written, or the rest waits for EPOLLOUT) or
 * the failure kind. */
static int flush(conn_t *c)
{
    for (;;) {
        if (!c->h2_out_len) {
            ssize_t n = nghttp2_session_mem_send(c->h2, &c->h2_out);
            if (n < 0) return CG_LOAD_E_H2;
            if (n == 0) return -1;
            c->h2_out_len = (size_t)n;
        }
        ssize_t n = write(c->io.fd, c->h2_out, c->h2_out_len);
        if (n < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN) return -1;
            return errno == ETIMEDOUT ? CG_LOAD_E_TIMEOUT : CG_LOAD_E_RESET;
        }
        c->h2_out += n;
        c->h2_out_len -= (size_t)n;
    }
}

void cg_load__h2_fail_all(cg_load_t *ld, conn_t *c, int kind, uint64_t now)
{
    for (uint32_t i = 0; c->busy && i < ld->streams; i++) {
        stream_t *s = &c->st[i];
        if (!s->id) continue;
        count(ld, c, s, now, kind);
        s->id = 0;
        c->busy--;
    }
    c->busy = 0;
    cg_load__h2_free(c);
}

void cg_load__h2_free(conn_t *c)
{
    if (!c->h2) return;
    /* the slots are already free: no stream-close callback can count anything twice */
    nghttp2_session_del(c->h2);
    c->h2 = NULL;
    c->h2_out_len = 0;
}

/* After nghttp2 ran: writes its frames, then refills c or closes it when the session is over. */
static void settle(cg_load_t *ld, conn_t *c, uint64_t now)
{
    int kind = flush(c);
    if (kind >= 0) {
        cg_load__conn_fail(ld, c, kind);
        return;
    }
    if (!nghttp2_session_want_read(c->h2) && !nghttp2_session_want_write(c->h2) &&
        (c->busy || !c->goaway)) {
        /* nghttp2 ended the session: a protocol error it answered with GOAWAY, or streams
         * lost with the server's GOAWAY (a GOAWAY with nothing in flight is a plain close,
         * in cg_load__conn_more) */
        cg_load__conn_fail(ld, c, c->goaway ? CG_LOAD_E_GOAWAY : CG_LOAD_E_H2);
        return;
    }
    cg_load__conn_more(ld, c, now);
}

void cg_load__h2_flush(cg_load_t *ld, conn_t *c)
{
    int kind = flush(c);
    if (kind >= 0) cg_load__conn_fail(ld, c, kind);
}

void cg_load__h2_io(cg_load_t *ld, conn_t *c, uint32_t events)
{
    uint64_t now = cg_clock_mono_us();
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        for (;;) {
            ssize_t n = read(c->io.fd, c->rbuf, CG_LOAD_RBUF);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n <= 0) {
                int kind = n < 0       ? (errno == ETIMEDOUT ? CG_LOAD_E_TIMEOUT : CG_LOAD_E_RESET)
                           : c->goaway ? CG_LOAD_E_GOAWAY
                                       : CG_LOAD_E_CLOSED;
                if (c->busy) {
                    cg_load__conn_fail(ld, c, kind);
                } else {
                    c->pause = 0; /* an idle session closed by the server: reopen */
                    cg_load__h2_free(c);
                    cg_load__conn_close(ld, c);
                }
                return;
            }
            c->h2_read_us = now = cg_clock_mono_us();
            ssize_t rv = nghttp2_session_mem_recv(c->h2, (const uint8_t *)c->rbuf, (size_t)n);
            if (rv < 0) {
                cg_load__conn_fail(ld, c, CG_LOAD_E_H2);
                return;
            }
            if (!nghttp2_session_want_read(c->h2)) break;
        }
    }
    settle(ld, c, now);
}

void cg_load__h2_tick(cg_load_t *ld, conn_t *c, uint64_t now)
{
    if (!c->h2 || !c->busy) return;
    int late = 0;
    for (uint32_t i = 0; i < ld->streams; i++) {
        stream_t *s = &c->st[i];
        if (s->id <= 0 || s->counted || now - s->since_us < ld->timeout_us) continue;
        if (now - c->h2_read_us >= ld->timeout_us) {
            /* the server sent nothing for as long: the connection is dead, not one stream */
            cg_load__conn_fail(ld, c, CG_LOAD_E_TIMEOUT);
            return;
        }
        count(ld, c, s, now, CG_LOAD_E_TIMEOUT);
        nghttp2_submit_rst_stream(c->h2, NGHTTP2_FLAG_NONE, s->id, NGHTTP2_CANCEL);
        late = 1;
    }
    if (late) settle(ld, c, now);
}
