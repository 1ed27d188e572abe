/* The demo app's WebSocket echo (tools/app_ws.c): the handshake's accept key, and the echo of
 * frames over a socketpair, with hostile frames closed with their code. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "core/loop.h"
#include "tools/app_ws.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void test_accept_key_is_rfc_6455s(void **state)
{
    (void)state;
    char out[29];
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ=="; /* RFC 6455 1.3 */
    assert_int_equal(cg_tools_ws_accept_key(key, sizeof(key) - 1, out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(cg_tools_ws_accept_key("", 0, out), -1);
    char big[200];
    memset(big, 'a', sizeof(big));
    assert_int_equal(cg_tools_ws_accept_key(big, sizeof(big), out), -1);
}

/* Starts the echo on one end of a socketpair with `first` as bytes that followed the handshake,
 * runs the loop once, and reads what came back (after the 101 head) into got. */
static size_t exchange(const unsigned char *first, size_t n, unsigned char *got, size_t cap)
{
    cg_loop_t loop;
    int sv[2];
    assert_int_equal(cg_loop_init(&loop), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    cg_buf_t after = {0};
    cg_buf_append(&after, first, n);
    assert_int_equal(cg_tools_ws_start(&loop, sv[0], "x", &after), 0);
    cg_buf_free(&after);
    cg_loop_run_once(&loop, 0);
    char buf[4096];
    ssize_t r = recv(sv[1], buf, sizeof(buf), MSG_DONTWAIT);
    assert_true(r > 0);
    char *body = memmem(buf, (size_t)r, "\r\n\r\n", 4);
    assert_non_null(body);
    body += 4;
    size_t len = (size_t)(buf + r - body);
    assert_true(len <= cap);
    memcpy(got, body, len);
    close(sv[1]);
    cg_loop_run_once(&loop, 0); /* the echo sees the close and frees itself */
    cg_loop_destroy(&loop);
    return len;
}

static void test_a_masked_text_frame_comes_back_unmasked(void **state)
{
    (void)state;
    const unsigned char mask[4] = {1, 2, 3, 4};
    unsigned char f[2 + 4 + 5] = {0x81, 0x80 | 5, 1, 2, 3, 4};
    for (int i = 0; i < 5; i++) f[6 + i] = (unsigned char)("hello"[i] ^ mask[i & 3]);
    unsigned char got[64];
    size_t n = exchange(f, sizeof(f), got, sizeof(got));
    assert_int_equal(n, 7);
    assert_memory_equal(got, "\x81\x05hello", 7);
}

static void test_hostile_frames_are_closed_with_their_code(void **state)
{
    (void)state;
    unsigned char got[64];
    /* unmasked: 1002 */
    const unsigned char unmasked[] = {0x81, 0x02, 'h', 'i'};
    assert_int_equal(exchange(unmasked, sizeof(unmasked), got, sizeof(got)), 4);
    assert_memory_equal(got, "\x88\x02\x03\xea", 4);
    /* a frame of 2^63 bytes announced: 1009, nothing read for it */
    const unsigned char huge[] = {0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    assert_int_equal(exchange(huge, sizeof(huge), got, sizeof(got)), 4);
    assert_memory_equal(got, "\x88\x02\x03\xf1", 4);
    /* a ping of 126 bytes (control frames hold at most 125): 1002 */
    const unsigned char ping[] = {0x89, 0xfe, 0x00, 0x7e};
    assert_int_equal(exchange(ping, sizeof(ping), got, sizeof(got)), 4);
    assert_memory_equal(got, "\x88\x02\x03\xea", 4);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_accept_key_is_rfc_6455s),
        cmocka_unit_test(test_a_masked_text_frame_comes_back_unmasked),
        cmocka_unit_test(test_hostile_frames_are_closed_with_their_code),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
