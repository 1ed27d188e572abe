/* HTTP/2 from clients (RFC 9113), through nghttp2: each stream becomes an exchange of its own,
 * sent upstream over the pooled HTTP/1.1 connections with the retries, outlier detection,
 * failover and access-log lines of any HTTP/1.1 request.
 *
 * A stream gets a pseudo-connection (a conn_t with `parent` set) that the HTTP/1 request path
 * drives as it drives a client connection: the stream's header list is rebuilt as an HTTP/1.1
 * request head (RFC 9113 §8 translation, checked here) and its DATA as the body, framed with
 * content-length or chunks. The strict HTTP/1 parser reads that head again, but for the plain
 * request without a body (a GET, mostly), whose head h2req fills in as it builds the text
 * (cg_h2req_given_head: the fuzzer holds it to be the parser's head of that text). The
 * pseudo-connection reads them through a transport of its own (h2s_ops), so the request path takes
 * bytes only when it can forward them: a stream's window is given back to the client as those bytes
 * are read, which is the upload's backpressure. The response goes the other way without a head in
 * text: build_response_head (conn.c) and the local replies submit their fields here, and the
 * body bytes the request path queues in the exchange's output are what the stream's data
 * provider sends, at the pace the client's flow-control window allows; the request path reads
 * no more from the upstream while they are queued, which is the download's backpressure.
 *
 * Defences (each a knob in cg_proxy_settings_t): streams at once (SETTINGS_MAX_CONCURRENT_STREAMS),
 * the header list (decoded bytes, so an HPACK bomb stops there too) and the header block on the
 * wire across CONTINUATION frames, client stream resets per second (rapid reset), and frames
 * that ask work of the server without carrying a request (PING, SETTINGS, PRIORITY, empty DATA)
 * per second. Past a rate the connection gets GOAWAY ENHANCE_YOUR_CALM and closes. A client that
 * stops reading stops its connection's output, and with it its reads; one that lets nothing
 * move for the idle timeout (a zero window, say) loses the connection, and a stream whose
 * response cannot move for that long is reset. */
#include "core/log.h"
#include "http/forward.h"
#include "http/h2req.h"
#include "proxy/conn_int.h"

#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Frames serialised ahead of the socket: past this nghttp2 is asked for no more, and no more
 * is read from the client until the socket takes them (a client that does not read its
 * PING and SETTINGS acknowledgements stops being read). */
#define WBUF_MAX (64 * 1024)
/* The connection-level receive window. Connection-level flow control is given back as soon as
 * bytes arrive: the per-stream windows bound what a stream can queue. */
#define CONN_WINDOW (1 << 24)
/* Passes of h2_run per event, as CONN_RUN_MAX_SPINS. */
#define H2_RUN_MAX_SPINS 64

typedef struct h2conn h2conn_t;

struct h2stream {
    cg_list_t link;  /* hc->streams, or the worker's pool */
    cg_list_t ready; /* hc->ready: to run once nghttp2 returns */
    h2conn_t *hc;
    conn_t *sc; /* the pseudo-connection; NULL once the request path is done with it */
    int32_t id;
    size_t head_left;  /* bytes of the rebuilt head at the front of rx, not read yet */
    size_t chunk_left; /* body bytes of the chunk being read (chunked framing) */
    char stage[24];    /* framing bytes (a chunk's size line, CRLF, the last chunk) to read */
    uint8_t stage_off, stage_len;
    uint8_t chunked, last_chunk;
    uint64_t sent_ms; /* the response last moved (the stall timer's reference) */
    uint8_t head_built, rx_end, h2_closed, reset_by_client, eof_sent, submitted;
    uint8_t head_end; /* the HEADERS frame ended the stream: no body */
    uint8_t stalled;  /* reset by h2_stall: the next pass skips it */
    /* last, kept with their storage when the object is reused (stream_new) */
    cg_h2req_t req; /* the request's fields, to be rebuilt as HTTP/1.1 */
    cg_buf_t rx;    /* request bytes (head, then body) the request path has not read */
    cg_buf_t nvbuf; /* the response's fields */
};
typedef struct h2stream h2stream_t;

struct h2conn {
    conn_t *c;
    nghttp2_session *s;
    cg_buf_t wbuf; /* serialised frames not yet written, from wpos */
    size_t wpos;
    cg_list_t streams, ready;
    cg_defer_t send_defer;
    uint32_t nstreams;
    uint64_t window_s; /* the second the rate counters below are for */
    uint32_t resets, glitches;
    size_t hblock; /* wire bytes of the header block in progress */
    /* the last time something moved (a request's head or body in, response bytes out): the
     * timer is armed once and, when it fires early, armed again for what is left */
    uint64_t active_ms;
    /* the stall timer of every stream whose response head went out: one for the connection,
     * armed for the earliest of their deadlines (h2_stall), so that a stream costs it nothing */
    cg_timer_t stall_timer;
    uint8_t in_run, calm, goaway, dying, got_request;
    uint8_t creating;     /* inside nghttp2_session_server_new3 (h2_realloc) */
    uint8_t frame_shared; /* nghttp2's output frame buffer is the worker's (h2_realloc) */
};

static void h2_send_later(cg_loop_t *loop, cg_defer_t *d);
static void h2_timeout(cg_loop_t *loop, cg_timer_t *t);
static void h2_stall(cg_loop_t *loop, cg_timer_t *t);

/* Something moved: the connection's timer counts from now (armed if it is not). */
static inline void conn_moved(h2conn_t *hc)
{
    cg_worker_t *w = hc->c->w;
    hc->active_ms = w->loop.now_ms;
    if (!cg_timer_active(&hc->c->timer))
        cg_timer_start(&w->loop, &hc->c->timer, w->settings->idle_timeout_ms, h2_timeout);
}

/* ---------- the stream's transport: the request bytes, as a client connection's ---------- */

/* The request as the HTTP/1 path reads it: the rebuilt head, then the body. A body without a
 * content-length is framed here, as it is read: each chunk announces what has arrived so far
 * (not one chunk per DATA frame, so a client sending one-byte frames cannot make the queue grow
 * past its window by the framing), the last chunk follows the stream's end. Framing bytes that
 * do not fit a read wait in `stage`. The window is given back by the DATA bytes read. */
static ssize_t h2s_read(cg_xport_t *x, void *buf, size_t len)
{
    h2stream_t *st = x->impl;
    char *out = buf;
    size_t n = 0, data = 0;
    while (n < len) {
        if (st->stage_off < st->stage_len) {
            size_t k = st->stage_len - st->stage_off;
            if (k > len - n) k = len - n;
            memcpy(out + n, st->stage + st->stage_off, k);
            st->stage_off += (uint8_t)k;
            n += k;
            continue;
        }
        size_t have = cg_buf_size(&st->rx) - st->head_left;
        if (st->head_left || !st->chunked || st->chunk_left) {
            /* head bytes, a content-length body, or the chunk in progress: as they are */
            size_t k = st->head_left ? st->head_left : st->chunked ? st->chunk_left : have;
            if (!st->head_left && k > have) k = have;
            if (k > len - n) k = len - n;
            if (!k) break;
            memcpy(out + n, cg_buf_data(&st->rx), k);
            cg_buf_consume(&st->rx, k);
            n += k;
            if (st->head_left) {
                st->head_left -= k;
            } else {
                data += k;
                if (st->chunked && !(st->chunk_left -= k)) {
                    memcpy(st->stage, "\r\n", 2);
                    st->stage_off = 0, st->stage_len = 2;
                }
            }
            continue;
        }
        st->stage_off = 0;
        if (have) { /* a new chunk: all that has arrived */
            st->chunk_left = have;
            st->stage_len = (uint8_t)snprintf(st->stage, sizeof(st->stage), "%zx\r\n", have);
        } else if (st->rx_end && !st->last_chunk) {
            st->last_chunk = 1;
            st->stage_len = sizeof(CG_HTTP_LAST_CHUNK) - 1;
            memcpy(st->stage, CG_HTTP_LAST_CHUNK, st->stage_len);
        } else {
            st->stage_len = 0;
            break;
        }
    }
    if (!cg_buf_size(&st->rx)) cg_buf_reset(&st->rx);
    if (!n) {
        if (st->rx_end && (!st->chunked || st->last_chunk)) return 0;
        x->want = CG_XPORT_WANT_READ;
        return CG_EAGAIN;
    }
    /* taken by the request path: the client may send that much more on this stream */
    if (data && !st->hc->dying && !st->h2_closed)
        nghttp2_session_consume_stream(st->hc->s, st->id, data);
    return (ssize_t)n;
}

int cg_proxy__h2_take_head(conn_t *sc)
{
    h2stream_t *st = sc->h2s;
    exchange_t *x = sc->ex;
    size_t n = st->head_left;
    if (!st->head_built || !st->head_end || !n || n != cg_buf_size(&st->rx) || sc->in.len ||
        cg_h2req_given_head(&st->req, cg_buf_data(&st->rx), n, &x->head, x->parser.limits))
        return 0;
    buf_take(sc->w, &sc->in);
    if (cg_buf_reserve(&sc->in, n)) return 0; /* the read path meets the same failure */
    memcpy(sc->in.base, cg_buf_data(&st->rx), n);
    sc->in.len = n;
    cg_buf_reset(&st->rx);
    st->head_left = 0;
    cg_http_parser_given_head(&x->parser);
    return 1;
}

static ssize_t h2s_writev(cg_xport_t *x, const struct iovec *iov, int iovcnt)
{
    (void)x, (void)iov, (void)iovcnt;
    return CG_EINVAL; /* the response leaves through the data provider, never here */
}

static int h2s_handshake(cg_xport_t *x)
{
    (void)x;
    return 0;
}

static size_t h2s_pending(const cg_xport_t *x)
{
    (void)x;
    return 0;
}

static int h2s_shutdown(cg_xport_t *x)
{
    (void)x;
    return 0;
}

static void h2s_release(cg_xport_t *x)
{
    x->impl = NULL;
}

static const cg_xport_ops_t h2s_ops = {"h2",        h2s_read,     h2s_writev, h2s_handshake,
                                       h2s_pending, h2s_shutdown, h2s_release};

/* ---------- rates ---------- */

/* The client went past a limit: GOAWAY ENHANCE_YOUR_CALM, nothing more is read, and the
 * connection closes once that is written. Said once per connection, with why. */
static void calm_down(h2conn_t *hc, const char *why)
{
    if (hc->calm) return;
    hc->calm = 1;
    hc->c->w->stats.h2_calm++;
    cg_log_warn("h2 client %.*s: %s: GOAWAY ENHANCE_YOUR_CALM", (int)hc->c->peer_ip_len,
                hc->c->peer_ip, why);
    nghttp2_session_terminate_session(hc->s, NGHTTP2_ENHANCE_YOUR_CALM);
}

/* Counts one event against a per-second limit; 1 when it is past it (calm_down). */
static int over_rate(h2conn_t *hc, uint32_t *count, uint32_t limit, const char *what)
{
    uint64_t now_s = hc->c->w->loop.now_ms / 1000;
    if (now_s != hc->window_s) {
        hc->window_s = now_s;
        hc->resets = hc->glitches = 0;
    }
    if (++*count <= limit) return 0;
    if (!hc->calm) {
        char why[80];
        snprintf(why, sizeof(why), "more than %u %s a second", limit, what);
        calm_down(hc, why);
    }
    return 1;
}

/* GOAWAY NO_ERROR (draining, or idle): no new streams; the open ones finish. Once. */
static void send_goaway(h2conn_t *hc)
{
    if (hc->goaway) return;
    hc->goaway = 1;
    hc->c->w->stats.h2_goaway++;
    nghttp2_submit_goaway(hc->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(hc->s),
                          NGHTTP2_NO_ERROR, NULL, 0);
}

/* ---------- streams ---------- */

static void stream_ready(h2stream_t *st)
{
    if (!cg_list_linked(&st->ready)) cg_list_insert_tail(&st->hc->ready, &st->ready);
}

static h2stream_t *stream_new(h2conn_t *hc, int32_t id)
{
    conn_t *c = hc->c;
    cg_worker_t *w = c->w;
    h2stream_t *st;
    if (!cg_list_empty(&w->free_h2streams)) {
        st = cg_container_of(w->free_h2streams.next, h2stream_t, link);
        cg_list_unlink(&st->link);
        w->stats.pool_h2streams--;
        memset(st, 0, offsetof(h2stream_t, req));
        cg_buf_reset(&st->rx), cg_buf_reset(&st->nvbuf);
    } else if (!(st = calloc(1, sizeof(*st)))) {
        return NULL;
    }
    conn_t *sc = POOL_TAKE(&w->free_conns, &w->stats.pool_conns, conn_t, offsetof(conn_t, peer_ip));
    st->hc = hc;
    st->id = id;
    st->sc = sc;
    cg_h2req_reset(&st->req, w->settings->h2_max_header_list);
    cg_list_init(&st->ready);
    sc->w = w;
    sc->port = c->port;
    sc->state = S_IDLE;
    sc->parent = c;
    sc->h2s = st;
    sc->tls_set = c->tls_set;
    sc->close_after = 1; /* one request per stream */
    sc->io.fd = -1;
    sc->xp = (cg_xport_t){.ops = &h2s_ops, .impl = st, .fd = -1};
    sc->rdy.rd = sc->rdy.wr = 1;
    memcpy(sc->peer_ip, c->peer_ip, c->peer_ip_len);
    sc->peer_ip_len = c->peer_ip_len;
    cg_list_init(&sc->link);
    cg_list_init(&sc->defer.link);
    sc->timer.cb = NULL;
    cg_list_insert_tail(&hc->streams, &st->link);
    hc->nstreams++;
    w->stats.h2_streams_total++;
    return st;
}

static void stream_buffers_free(h2stream_t *st)
{
    cg_h2req_free(&st->req);
    cg_buf_free(&st->rx), cg_buf_free(&st->nvbuf);
}

/* Back to the worker's pool: small buffers are kept for the next stream, a large one (a body
 * that waited, a big head) is not. */
#define STREAM_KEEP_CAP 4096
static void stream_free(h2stream_t *st)
{
    h2conn_t *hc = st->hc;
    cg_worker_t *w = hc->c->w;
    if (cg_list_linked(&st->ready)) cg_list_unlink(&st->ready);
    cg_list_unlink(&st->link);
    hc->nstreams--;
    if (w->stats.pool_h2streams >= FREE_LIST_MAX) {
        stream_buffers_free(st);
        free(st);
    } else {
        if (st->rx.cap > STREAM_KEEP_CAP) cg_buf_free(&st->rx);
        if (st->req.fields.cap > STREAM_KEEP_CAP) cg_buf_free(&st->req.fields);
        if (st->nvbuf.cap > STREAM_KEEP_CAP) cg_buf_free(&st->nvbuf);
        cg_list_insert_head(&w->free_h2streams, &st->link);
        w->stats.pool_h2streams++;
    }
    /* an idle connection keeps no output buffer */
    if (!hc->nstreams && hc->wpos == cg_buf_size(&hc->wbuf)) {
        cg_buf_free(&hc->wbuf);
        hc->wpos = 0;
    }
}

/* The callbacks and options every session of this worker thread uses, made once. */
static __thread nghttp2_session_callbacks *cbs;
static __thread nghttp2_option *opt;

/* ---------- nghttp2's memory ---------- */

/* nghttp2 gives each session an output frame buffer of a frame's largest size (its
 * NGHTTP2_FRAMEBUF_CHUNKLEN: header, a flag byte, 16 KiB of payload), allocated as the session is
 * made and kept for its life: most of what an idle connection holds. Its bytes matter only
 * between nghttp2_session_mem_send serialising a frame into it and h2_write copying them out,
 * before any other session of the worker sends: so the sessions of a worker share one. The
 * allocator gives it to a session's first allocation of that size while the session is made
 * (only its frame buffer is that large then); any other allocation, and a resize of the shared
 * one, is the session's own. */
#define FRAMEBUF_LEN (9 + 1 + 16384)
static __thread char *framebuf;

static void *h2_malloc(size_t n, void *user)
{
    (void)user;
    return malloc(n);
}

static void *h2_calloc(size_t k, size_t n, void *user)
{
    (void)user;
    return calloc(k, n);
}

static void h2_mfree(void *p, void *user)
{
    h2conn_t *hc = user;
    if (p && p == framebuf) {
        hc->frame_shared = 0;
        return;
    }
    free(p);
}

static void *h2_realloc(void *p, size_t n, void *user)
{
    h2conn_t *hc = user;
    if (!p && n == FRAMEBUF_LEN && hc->creating && !hc->frame_shared) {
        if (!framebuf && !(framebuf = malloc(FRAMEBUF_LEN))) return NULL;
        hc->frame_shared = 1;
        return framebuf;
    }
    if (p && p == framebuf) { /* never done by nghttp2 today: made the session's own */
        char *q = malloc(n);
        if (!q) return NULL;
        memcpy(q, p, n < FRAMEBUF_LEN ? n : FRAMEBUF_LEN);
        hc->frame_shared = 0;
        return q;
    }
    return realloc(p, n);
}

void cg_proxy__h2_pool_sweep(cg_worker_t *w)
{
    nghttp2_session_callbacks_del(cbs);
    nghttp2_option_del(opt);
    cbs = NULL, opt = NULL;
    free(framebuf); /* every session of the worker is gone */
    framebuf = NULL;
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &w->free_h2streams)
    {
        h2stream_t *st = cg_container_of(pos, h2stream_t, link);
        cg_list_unlink(pos);
        stream_buffers_free(st);
        free(st);
    }
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user)
{
    (void)flags, (void)user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: not forwarded */
    h2stream_t *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (st) cg_h2req_field(&st->req, name, namelen, value, valuelen);
    return 0;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    h2conn_t *hc = user;
    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
    if (hc->calm || hc->goaway || draining(hc->c->w)) {
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, frame->hd.stream_id,
                                  NGHTTP2_REFUSED_STREAM);
        return 0;
    }
    h2stream_t *st = stream_new(hc, frame->hd.stream_id);
    if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* the stream is reset */
    nghttp2_session_set_stream_user_data(s, frame->hd.stream_id, st);
    return 0;
}

/* Frames on the wire before nghttp2 reads them: the header block's size across CONTINUATION
 * frames (CVE-2024-27316: a block that never ends), and the frames that ask for work without
 * carrying a request. */
static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *user)
{
    (void)s;
    h2conn_t *hc = user;
    const cg_proxy_settings_t *set = hc->c->w->settings;
    if (hc->calm) return 0;
    switch (hd->type) {
    case NGHTTP2_HEADERS:
        hc->hblock = 0;
        /* fall through */
    case NGHTTP2_CONTINUATION:
        hc->hblock += hd->length;
        /* the block on the wire: a list within the limit, Huffman-coded or not, takes at most
         * about its decoded size, so a longer block is not one to wait for */
        if (hc->hblock > (size_t)set->h2_max_header_list + 1024) {
            char why[64];
            snprintf(why, sizeof(why), "header block over %u bytes", set->h2_max_header_list);
            calm_down(hc, why);
        } else if (hd->type == NGHTTP2_CONTINUATION && hd->length == 0 &&
                   over_rate(hc, &hc->glitches, set->h2_max_glitches, "empty frames")) {
            return 0;
        }
        break;
    case NGHTTP2_PING:
    case NGHTTP2_SETTINGS:
    case NGHTTP2_PRIORITY:
        if (!(hd->flags & NGHTTP2_FLAG_ACK))
            over_rate(hc, &hc->glitches, set->h2_max_glitches, "control frames");
        break;
    case NGHTTP2_RST_STREAM: over_rate(hc, &hc->resets, set->h2_max_resets, "stream resets"); break;
    }
    return 0;
}

/* A window opened by less than this asks for a frame too small to be worth its header (data
 * dribble, CVE-2019-9511), or for nothing: counted with the control frames. Clients open windows
 * by half of them at a time. */
#define TINY_WINDOW_UPDATE 1024

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *user)
{
    h2conn_t *hc = user;
    if (hc->calm) return 0;
    if (frame->hd.type == NGHTTP2_WINDOW_UPDATE &&
        frame->window_update.window_size_increment < TINY_WINDOW_UPDATE)
        over_rate(hc, &hc->glitches, hc->c->w->settings->h2_max_glitches, "tiny window updates");
    h2stream_t *st = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
    if (!st) return 0;
    int end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    switch (frame->hd.type) {
    case NGHTTP2_HEADERS:
        if (frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
            int chunked = 0;
            int r = cg_h2req_head(&st->req, end, &st->rx, &chunked);
            st->chunked = (uint8_t)chunked;
            st->head_built = r == 0;
            st->head_end = (uint8_t)end;
            st->head_left = r == 0 ? cg_buf_size(&st->rx) : 0;
            if (r == CG_EPARSE || r == CG_ENOMEM) {
                /* malformed (RFC 9113 §8.1.1): a stream error, never forwarded (counted once
                 * it closes, with the resets the client provokes) */
                nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_PROTOCOL_ERROR);
                return 0;
            }
            if (!hc->got_request) { /* from the header timeout to the idle timeout */
                hc->got_request = 1;
                cg_timer_stop(&hc->c->w->loop, &hc->c->timer);
            }
            conn_moved(hc);
        }
        if (end) st->rx_end = 1;
        stream_ready(st);
        break;
    case NGHTTP2_DATA:
        /* padding only, or nothing: no work for us, and a flood of them is one to stop */
        if (!end && frame->hd.length - frame->data.padlen == 0)
            over_rate(hc, &hc->glitches, hc->c->w->settings->h2_max_glitches, "empty frames");
        if (end) {
            st->rx_end = 1;
            stream_ready(st);
        }
        break;
    case NGHTTP2_RST_STREAM: st->reset_by_client = 1; break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    (void)flags;
    h2conn_t *hc = user;
    nghttp2_session_consume_connection(s, len);
    h2stream_t *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st || !st->sc || !st->head_built) {
        nghttp2_session_consume_stream(s, id, len); /* nobody reads it: drop it */
        return 0;
    }
    if (cg_buf_append(&st->rx, data, len)) {
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
        return 0;
    }
    conn_moved(hc);
    stream_ready(st);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user)
{
    h2stream_t *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st) return 0;
    st->h2_closed = 1;
    nghttp2_session_set_stream_user_data(s, id, NULL);
    /* a stream error the client caused (a bad length, a window overflow, DATA past its end):
     * counted with the client's own resets, so provoking resets is no way around their limit
     * (MadeYouReset, CVE-2025-8671) */
    if (!st->reset_by_client &&
        (code == NGHTTP2_PROTOCOL_ERROR || code == NGHTTP2_FLOW_CONTROL_ERROR ||
         code == NGHTTP2_STREAM_CLOSED || code == NGHTTP2_FRAME_SIZE_ERROR)) {
        h2conn_t *hc = user;
        hc->c->w->stats.h2_malformed++;
        over_rate(hc, &hc->resets, hc->c->w->settings->h2_max_resets, "provoked stream resets");
    }
    if (!st->sc)
        stream_free(st);
    else
        stream_ready(st); /* the request path learns it once nghttp2 returns */
    return 0;
}

static int on_invalid_frame(nghttp2_session *s, const nghttp2_frame *frame, int err, void *user)
{
    (void)s, (void)frame, (void)err;
    h2conn_t *hc = user;
    hc->c->w->stats.h2_malformed++;
    over_rate(hc, &hc->glitches, hc->c->w->settings->h2_max_glitches, "invalid frames");
    return 0;
}

/* ---------- the response ---------- */

static ssize_t data_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *data_flags, nghttp2_data_source *source, void *user)
{
    (void)s, (void)id, (void)user;
    h2stream_t *st = source->ptr;
    conn_t *sc = st->sc;
    size_t n = 0;
    if (sc && sc->ex) {
        cg_http_out_t *o = &sc->ex->out;
        n = cg_http_out_take(o, buf, length);
        /* room again: the request path may read more of the response */
        if (!cg_http_out_pending(o)) stream_ready(st);
        if (n) {
            st->sent_ms = sc->w->loop.now_ms;
            conn_moved(st->hc);
        }
        if (!cg_http_out_pending(o) && sc->ex->resp_done) *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    } else {
        *data_flags |= NGHTTP2_DATA_FLAG_EOF; /* the request path finished it whole */
    }
    if (*data_flags & NGHTTP2_DATA_FLAG_EOF)
        st->eof_sent = 1;
    else if (!n)
        return NGHTTP2_ERR_DEFERRED;
    return (ssize_t)n;
}

/* Collects the response fields into the stream's nvbuf as lower-case "name\0value" pairs; the
 * nghttp2_nv array is built from it once it stops moving. */
typedef struct nvcollect {
    h2stream_t *st;
    size_t n;
    int err;
} nvcollect_t;

/* One field whose value is the parts given, one after the other. */
static int nv_add_parts(nvcollect_t *nc, cg_iov_t name, const cg_iov_t *parts, size_t nparts)
{
    cg_buf_t *b = &nc->st->nvbuf;
    size_t at = cg_buf_size(b), vlen = 0;
    for (size_t i = 0; i < nparts; i++) vlen += parts[i].len;
    uint32_t lens[2] = {(uint32_t)name.len, (uint32_t)vlen};
    int r = cg_buf_append(b, lens, sizeof(lens)) || cg_buf_append(b, name.base, name.len);
    for (size_t i = 0; i < nparts && !r; i++) r = cg_buf_append(b, parts[i].base, parts[i].len);
    if (r) {
        nc->err = 1;
        return -1;
    }
    char *p = cg_buf_data(b) + at + sizeof(lens);
    for (size_t i = 0; i < name.len; i++)
        if (p[i] >= 'A' && p[i] <= 'Z') p[i] = (char)(p[i] + 32);
    nc->n++;
    return 0;
}

static int nv_add(void *ctx, cg_iov_t name, cg_iov_t value)
{
    return nv_add_parts(ctx, name, &value, 1);
}

/* Submits the response head: :status, then the collected fields. */
static int submit_head(h2stream_t *st, int status, size_t nfields, int body)
{
    h2conn_t *hc = st->hc;
    if (hc->dying || st->h2_closed || st->submitted) return CG_ECLOSED;
    char code[4] = {(char)('0' + status / 100 % 10), (char)('0' + status / 10 % 10),
                    (char)('0' + status % 10), 0};
    nghttp2_nv stack[64];
    nghttp2_nv *nva = nfields + 1 <= 64 ? stack : calloc(nfields + 1, sizeof(*nva));
    if (!nva) return CG_ENOMEM;
    nva[0] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)code, 7, 3, NGHTTP2_NV_FLAG_NONE};
    const char *p = cg_buf_data(&st->nvbuf);
    for (size_t i = 0; i < nfields; i++) {
        uint32_t lens[2];
        memcpy(lens, p, sizeof(lens));
        p += sizeof(lens);
        nva[i + 1] = (nghttp2_nv){(uint8_t *)p, (uint8_t *)p + lens[0], lens[0], lens[1],
                                  NGHTTP2_NV_FLAG_NONE};
        p += lens[0] + lens[1];
    }
    nghttp2_data_provider prd = {.source.ptr = st, .read_callback = data_read};
    int rv = nghttp2_submit_response(hc->s, st->id, nva, nfields + 1, body ? &prd : NULL);
    if (nva != stack) free(nva);
    if (rv) return CG_EPARSE;
    st->submitted = 1;
    if (!body) st->eof_sent = 1;
    if (st->sc) {
        cg_loop_t *loop = &st->sc->w->loop;
        st->sent_ms = loop->now_ms;
        cg_timer_stop(loop, &st->sc->timer); /* a request body's timeout ends here */
        if (!cg_timer_active(&hc->stall_timer))
            cg_timer_start(loop, &hc->stall_timer, st->sc->w->settings->idle_timeout_ms, h2_stall);
    }
    return 0;
}

int cg_proxy__h2_response_head(conn_t *sc, up_t *u)
{
    h2stream_t *st = sc->h2s;
    cg_buf_reset(&st->nvbuf);
    nvcollect_t nc = {st, 0, 0};
    /* chunks and close-delimited bodies arrive whole, as DATA frames; no framing in text */
    u->parser.body_out = CG_BODY_OUT_RAW;
    cg_http_response_fields(&u->head, u->in.base, nv_add, &nc);
    if (nc.err) return CG_ENOMEM;
    sc->ex->resp_body_start = sc->ex->out.total;
    return submit_head(st, u->head.status, nc.n, cg_http_parser_has_body(&u->parser));
}

void cg_proxy__h2_reply_head(conn_t *sc, int status, size_t content_length,
                             const char *content_type, const cg_iov_t *location, size_t nloc)
{
    h2stream_t *st = sc->h2s;
    cg_buf_reset(&st->nvbuf);
    nvcollect_t nc = {st, 0, 0};
    char len[24];
    int n = snprintf(len, sizeof(len), "%zu", content_length);
    nv_add(&nc, CG_IOV_LIT("content-length"), cg_iov(len, (size_t)n));
    if (content_type) nv_add(&nc, CG_IOV_LIT("content-type"), cg_iov_str(content_type));
    if (nloc) nv_add_parts(&nc, CG_IOV_LIT("location"), location, nloc);
    sc->ex->resp_body_start = sc->ex->out.total;
    if (nc.err || submit_head(st, status, nc.n, content_length > 0)) sc->close_after = 1;
}

/* ---------- the connection ---------- */

static int h2_write(h2conn_t *hc)
{
    conn_t *c = hc->c;
    int progress = 0;
    for (;;) {
        /* serialise what nghttp2 has, up to the bound */
        while (cg_buf_size(&hc->wbuf) - hc->wpos < WBUF_MAX) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(hc->s, &data);
            if (n < 0) return CG_EPARSE;
            if (n == 0) break;
            if (cg_buf_append(&hc->wbuf, data, (size_t)n)) return CG_ENOMEM;
        }
        size_t left = cg_buf_size(&hc->wbuf) - hc->wpos;
        if (!left || !c->rdy.wr) break;
        struct iovec v = {cg_buf_data(&hc->wbuf) + hc->wpos, left};
        ssize_t w = cg_xport_writev(&c->xp, &v, 1);
        if (w == CG_EAGAIN) {
            cg_xport_ready_write_blocked(&c->rdy, &c->xp);
            break;
        }
        if (w < 0) return (int)w;
        hc->wpos += (size_t)w;
        progress = 1;
        if (hc->wpos == cg_buf_size(&hc->wbuf)) {
            cg_buf_reset(&hc->wbuf);
            hc->wpos = 0;
        } else if (!c->xp.impl) {
            cg_xport_ready_write_blocked(&c->rdy, &c->xp); /* a short TCP write: full */
            break;
        }
    }
    return progress;
}

/* Runs the streams nghttp2's callbacks marked: their request path reads what arrived, or
 * learns the stream is gone. */
static void run_ready(h2conn_t *hc)
{
    while (!cg_list_empty(&hc->ready)) {
        h2stream_t *st = cg_container_of(hc->ready.next, h2stream_t, ready);
        cg_list_unlink(&st->ready);
        conn_t *sc = st->sc;
        if (!sc) continue;
        if (st->h2_closed && !st->eof_sent) {
            /* reset by the client, or closed with the connection, before its response ended */
            if (sc->ex) sc->ex->flags |= CG_RF_DC;
            cg_proxy__conn_close(sc);
            continue;
        }
        if (st->req.too_large && sc->state == S_IDLE) {
            /* the header list was over the limit: 431, as HTTP/1.1's head limit */
            st->rx_end = 1;
            cg_proxy__refuse_head(sc, 431, "header block too large");
        }
        sc->rdy.rd = 1;
        cg_proxy__conn_run(sc);
    }
}

static void h2_free(h2conn_t *hc)
{
    cg_buf_free(&hc->wbuf);
    free(hc);
}

void cg_proxy__h2_close(conn_t *c)
{
    h2conn_t *hc = c->h2;
    if (!hc) return;
    hc->dying = 1;
    cg_defer_cancel(&hc->send_defer);
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &hc->streams)
    {
        h2stream_t *st = cg_container_of(pos, h2stream_t, link);
        st->h2_closed = 1;
        if (st->sc) {
            if (st->sc->ex) st->sc->ex->flags |= CG_RF_DC;
            cg_proxy__conn_close(st->sc); /* frees st: it is closed on both sides */
        } else {
            stream_free(st);
        }
    }
    cg_timer_stop(&c->w->loop, &hc->stall_timer);
    nghttp2_session_del(hc->s);
    c->h2 = NULL;
    c->w->stats.h2_active--;
    h2_free(hc);
}

/* Writes, reads and runs streams until nothing moves. Returns -1 when the connection closed. */
static int h2_step(conn_t *c)
{
    h2conn_t *hc = c->h2;
    int spins;
    hc->in_run = 1;
    for (spins = 0; spins < H2_RUN_MAX_SPINS; spins++) {
        int progress = 0;
        int r = h2_write(hc);
        if (r < 0) goto Close;
        progress |= r;
        if (c->rdy.rd && !hc->calm && cg_buf_size(&hc->wbuf) - hc->wpos < WBUF_MAX) {
            buf_take(c->w, &c->in);
            if (cg_buf_reserve(&c->in, READ_CHUNK)) goto Close;
            ssize_t n = cg_xport_read(&c->xp, c->in.base, c->in.cap);
            if (n > 0) {
                cg_xport_ready_after_read(&c->rdy, &c->xp, (size_t)n, c->in.cap, c->rdhup);
                ssize_t rv =
                    nghttp2_session_mem_recv(hc->s, (const uint8_t *)c->in.base, (size_t)n);
                if (rv < 0) {
                    /* a connection error (bad preface, flow-control violation, flood): nghttp2
                     * queued its GOAWAY; it goes out, best effort, and the connection ends */
                    c->w->stats.h2_malformed++;
                    hc->calm = 1;
                    nghttp2_session_terminate_session(hc->s, NGHTTP2_PROTOCOL_ERROR);
                }
                progress = 1;
            } else if (n == CG_EAGAIN) {
                cg_xport_ready_read_blocked(&c->rdy, &c->xp);
            } else {
                goto Close; /* the client ended the connection, or it failed */
            }
            c->in.len = 0;
            if (!cg_xport_holds(&c->xp)) buf_give(c->w, &c->in);
        }
        if (!cg_list_empty(&hc->ready)) {
            run_ready(hc);
            progress = 1;
        }
        if (!nghttp2_session_want_read(hc->s) && !nghttp2_session_want_write(hc->s) &&
            cg_buf_size(&hc->wbuf) == hc->wpos)
            goto Close; /* GOAWAY sent and every stream done */
        if (hc->calm && cg_buf_size(&hc->wbuf) == hc->wpos && !nghttp2_session_want_write(hc->s))
            goto Close;
        if (!progress) break;
    }
    hc->in_run = 0;
    if (spins == H2_RUN_MAX_SPINS) cg_defer(&c->w->loop, &hc->send_defer, h2_send_later);
    return 0;
Close:
    hc->in_run = 0;
    cg_proxy__conn_close(c);
    return -1;
}

void cg_proxy__h2_run(conn_t *c)
{
    h2conn_t *hc = c->h2;
    if (draining(c->w) && !hc->goaway) cg_proxy__h2_drain(c);
    h2_step(c);
}

static void h2_send_later(cg_loop_t *loop, cg_defer_t *d)
{
    (void)loop;
    h2conn_t *hc = cg_container_of(d, h2conn_t, send_defer);
    h2_step(hc->c);
}

/* Nothing moved for the timeout: an idle connection (or one that never finished its header
 * block) is told GOAWAY and closed; with streams open it is stalled, a zero window say. */
static void h2_timeout(cg_loop_t *loop, cg_timer_t *t)
{
    conn_t *c = cg_container_of(t, conn_t, timer);
    h2conn_t *hc = c->h2;
    if (!hc) return;
    /* before the first request the header timeout applies, then the idle timeout */
    uint32_t limit =
        hc->got_request ? c->w->settings->idle_timeout_ms : c->w->settings->header_timeout_ms;
    uint64_t idle = loop->now_ms - hc->active_ms;
    if (idle < limit) {
        cg_timer_start(loop, t, (uint32_t)(limit - idle), h2_timeout);
        return;
    }
    if (hc->nstreams && cg_buf_size(&hc->wbuf) == hc->wpos) {
        /* streams wait on their upstreams (the route and per-try timeouts bound that), or each
         * on its own window (h2_stall): not the connection's stall */
        cg_timer_start(loop, t, limit, h2_timeout);
        return;
    }
    /* idle, or the client reads nothing of what is written to it */
    if (hc->nstreams) c->w->stats.h2_stalled++;
    send_goaway(hc);
    h2_write(hc);
    cg_proxy__conn_close(c);
}

/* A stream's response did not move for the idle timeout while bytes of it waited for the
 * client's window: reset. One that waits on its upstream (a long poll, a pause mid-body) is not
 * stalled: the route timeout is its bound, and its deadline counts from now. The connection's
 * stall timer is armed for the earliest deadline of its streams; a stream reset is closed alone
 * and the others are looked at again in a pass of their own (the close may end much). */
static void h2_stall(cg_loop_t *loop, cg_timer_t *t)
{
    h2conn_t *hc = cg_container_of(t, h2conn_t, stall_timer);
    uint64_t limit = hc->c->w->settings->idle_timeout_ms, next = 0;
    cg_list_t *pos, *tmp;
    cg_list_foreach_safe(pos, tmp, &hc->streams)
    {
        h2stream_t *st = cg_container_of(pos, h2stream_t, link);
        conn_t *sc = st->sc;
        if (!sc || !st->submitted || st->stalled || sc->state == S_CLOSED) continue;
        uint64_t due = loop->now_ms + limit;
        if (sc->ex && cg_http_out_pending(&sc->ex->out)) {
            due = st->sent_ms + limit;
            if (due <= loop->now_ms) {
                st->stalled = 1;
                sc->w->stats.h2_stalled++;
                sc->ex->flags |= CG_RF_DC;
                cg_timer_start(loop, t, 0, h2_stall);
                cg_proxy__conn_close(sc);
                return;
            }
        }
        if (!next || due < next) next = due;
    }
    if (next) cg_timer_start(loop, t, next - loop->now_ms, h2_stall);
}

void cg_proxy__h2_drain(conn_t *c)
{
    h2conn_t *hc = c->h2;
    if (!hc || hc->goaway) return;
    send_goaway(hc);
    if (!hc->in_run) cg_defer(&c->w->loop, &hc->send_defer, h2_send_later);
}

/* ---------- the hooks the request path calls ---------- */

void cg_proxy__h2_continue(conn_t *sc)
{
    h2stream_t *st = sc->h2s;
    if (!st || st->hc->dying || st->h2_closed || st->submitted) return;
    static const nghttp2_nv nv = {(uint8_t *)":status", (uint8_t *)"100", 7, 3,
                                  NGHTTP2_NV_FLAG_NONE};
    nghttp2_submit_headers(st->hc->s, NGHTTP2_FLAG_NONE, st->id, NULL, &nv, 1, NULL);
}

void cg_proxy__h2_stream_ran(conn_t *sc)
{
    h2stream_t *st = sc->h2s;
    if (!st) return;
    h2conn_t *hc = st->hc;
    if (hc->dying) return;
    if (sc->state != S_CLOSED && sc->ex && cg_http_out_pending(&sc->ex->out) && st->submitted &&
        !st->h2_closed)
        nghttp2_session_resume_data(hc->s, st->id);
    if (!hc->in_run) cg_defer(&sc->w->loop, &hc->send_defer, h2_send_later);
}

void cg_proxy__h2_stream_closed(conn_t *sc, int whole)
{
    h2stream_t *st = sc->h2s;
    h2conn_t *hc = st->hc;
    sc->h2s = NULL;
    st->sc = NULL;
    if (!hc->dying && !st->h2_closed) {
        if (!st->submitted)
            /* never answered (the mesh port's unserved host, say): refused, so the client may
             * send it again elsewhere */
            nghttp2_submit_rst_stream(hc->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_REFUSED_STREAM);
        else if (!st->eof_sent && !whole)
            nghttp2_submit_rst_stream(hc->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        else
            nghttp2_session_resume_data(hc->s, st->id); /* its END_STREAM */
        if (!hc->in_run) cg_defer(&sc->w->loop, &hc->send_defer, h2_send_later);
    }
    if (st->h2_closed || hc->dying) stream_free(st);
}

int cg_proxy__h2_preface(const conn_t *c)
{
    static const char preface[] = NGHTTP2_CLIENT_MAGIC;
    size_t n = c->in.len < sizeof(preface) - 1 ? c->in.len : sizeof(preface) - 1;
    if (memcmp(c->in.base, preface, n) != 0) return 0;
    return n == sizeof(preface) - 1 ? 1 : CG_EAGAIN;
}

int cg_proxy__h2_start(conn_t *c)
{
    cg_worker_t *w = c->w;
    const cg_proxy_settings_t *set = w->settings;
    h2conn_t *hc = calloc(1, sizeof(*hc));
    if (!hc) return CG_ENOMEM;
    if (!cbs) {
        if (nghttp2_session_callbacks_new(&cbs) || nghttp2_option_new(&opt)) {
            free(hc);
            return CG_ENOMEM;
        }
        nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
        nghttp2_session_callbacks_set_on_begin_frame_callback(cbs, on_begin_frame);
        nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(cbs, on_invalid_frame);
        /* window updates follow what the request path takes, not what arrives */
        nghttp2_option_set_no_auto_window_update(opt, 1);
        nghttp2_option_set_max_outbound_ack(opt, 1000);
        nghttp2_option_set_max_settings(opt, 32);
    }
    nghttp2_mem mem = {hc, h2_malloc, h2_mfree, h2_calloc, h2_realloc};
    hc->creating = 1;
    int rv = nghttp2_session_server_new3(&hc->s, cbs, hc, opt, &mem);
    hc->creating = 0;
    if (rv) {
        free(hc);
        return CG_ENOMEM;
    }
    hc->c = c;
    cg_list_init(&hc->streams);
    cg_list_init(&hc->ready);
    cg_list_init(&hc->send_defer.link);
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, set->h2_max_streams},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, set->h2_max_header_list},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, NGHTTP2_INITIAL_WINDOW_SIZE},
    };
    if (nghttp2_submit_settings(hc->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) ||
        nghttp2_session_set_local_window_size(hc->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW)) {
        nghttp2_session_del(hc->s);
        free(hc);
        return CG_ENOMEM;
    }
    c->h2 = hc;
    c->state = S_H2;
    w->stats.h2_total++;
    w->stats.h2_active++;
    hc->active_ms = w->loop.now_ms;
    cg_timer_start(&w->loop, &c->timer, set->header_timeout_ms, h2_timeout);
    /* what was read already (the cleartext preface, and maybe more) goes first */
    if (c->in.len) {
        hc->in_run = 1;
        ssize_t got = nghttp2_session_mem_recv(hc->s, (const uint8_t *)c->in.base, c->in.len);
        hc->in_run = 0;
        c->in.len = 0;
        if (got < 0) hc->calm = 1;
    }
    buf_give(w, &c->in);
    h2_step(c);
    return 0;
}
