/* Envoy default access-log format:
 * [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
 * %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
 * "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%"
 * "%UPSTREAM_HOST%"
 * and with --access-log-tls: "%DOWNSTREAM_TLS_VERSION%" "%REQUESTED_SERVER_NAME%" */
#include "proxy/accesslog.h"
#include "core/clock.h"

#include <inttypes.h>
#include <stdio.h>

void cg_proxy_flags_format(cg_buf_t *out, uint32_t flags)
{
    if (!flags) {
        cg_buf_append(out, "-", 1);
        return;
    }
    int first = 1;
#define CG__RF_FMT(name, bit)                                                                      \
    if (flags & (bit)) {                                                                           \
        if (!first) cg_buf_append(out, ",", 1);                                                    \
        cg_buf_append(out, #name, sizeof(#name) - 1);                                              \
        first = 0;                                                                                 \
    }
    CG_RESPONSE_FLAGS(CG__RF_FMT)
#undef CG__RF_FMT
}

/* A header value for the log: '-' when absent; quotes and control bytes are not escaped by
 * Envoy either, but we keep lines one line long. */
static void append_field(cg_buf_t *out, cg_iov_t v)
{
    if (!v.len) {
        cg_buf_append(out, "-", 1);
        return;
    }
    /* runs of printable bytes in one append each; a control byte becomes a space */
    size_t from = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.base[i];
        if (c >= 0x20 && c != 0x7f) continue;
        cg_buf_append(out, v.base + from, i - from);
        cg_buf_append(out, " ", 1);
        from = i + 1;
    }
    cg_buf_append(out, v.base + from, v.len - from);
}

void cg_proxy_access_format(cg_buf_t *out, const cg_access_entry_t *e)
{
    /* the time, its seconds formatted once a second per thread */
    static __thread uint64_t cached_s = UINT64_MAX;
    static __thread char ts[32];
    uint64_t secs = e->start_wall_us / 1000000u;
    if (secs != cached_s) {
        cg_clock_format_iso8601(e->start_wall_us, ts); /* "YYYY-MM-DDTHH:MM:SS.mmmZ" */
        cached_s = secs;
    }
    unsigned ms = (unsigned)((e->start_wall_us / 1000u) % 1000u);
    ts[20] = (char)('0' + ms / 100), ts[21] = (char)('0' + ms / 10 % 10);
    ts[22] = (char)('0' + ms % 10);
    size_t n = 24;
    cg_buf_append(out, "[", 1);
    cg_buf_append(out, ts, n);
    cg_buf_append(out, "] \"", 3);
    append_field(out, e->method);
    cg_buf_append(out, " ", 1);
    append_field(out, e->path);
    if (e->http2)
        cg_buf_printf(out, " HTTP/2\" %d ", e->status);
    else
        cg_buf_printf(out, " HTTP/1.%d\" %d ", e->http_minor, e->status);
    cg_proxy_flags_format(out, e->flags);
    cg_buf_printf(out, " %" PRIu64 " %" PRIu64 " %" PRIu64 " ", e->bytes_received, e->bytes_sent,
                  e->duration_ms);
    if (e->upstream_ms >= 0)
        cg_buf_printf(out, "%" PRId64, e->upstream_ms);
    else
        cg_buf_append(out, "-", 1);
    cg_buf_append(out, " \"", 2);
    if (e->xff_orig.len) {
        append_field(out, e->xff_orig);
        cg_buf_append(out, ",", 1);
    }
    append_field(out, e->peer_ip);
    const cg_iov_t quoted[] = {e->user_agent, e->request_id, e->authority, e->upstream_host};
    for (size_t i = 0; i < sizeof(quoted) / sizeof(quoted[0]); i++) {
        cg_buf_append(out, "\" \"", 3);
        append_field(out, quoted[i]);
    }
    if (e->tls_fields) {
        cg_buf_append(out, "\" \"", 3);
        append_field(out, e->tls_version);
        cg_buf_append(out, "\" \"", 3);
        append_field(out, e->sni);
    }
    cg_buf_append(out, "\"\n", 2);
}
