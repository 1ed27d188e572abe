/* LD_PRELOAD shim for wrk in bench/run.sh's handshake mode: every reconnection makes a full
 * TLS handshake.
 *
 * wrk (4.1, src/ssl.c) gives each connection one SSL object for its whole life and, when the
 * server closes, reconnects through SSL_shutdown + SSL_clear + SSL_connect. SSL_clear keeps the
 * object's session (it drops only a session that was not shut down cleanly), so the next
 * SSL_connect offers it: a TLS 1.3 ticket, or a TLS 1.2 session id or ticket, and a server that
 * accepts it resumes (a run against crossgate without this shim resumed about half of its
 * handshakes). Dropping the session right after SSL_clear makes the next ClientHello offer
 * nothing to resume, whatever each server does with tickets and caches. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <openssl/ssl.h>

int SSL_clear(SSL *s)
{
    static int (*real_clear)(SSL *);
    if (!real_clear) real_clear = (int (*)(SSL *))dlsym(RTLD_NEXT, "SSL_clear");
    if (!real_clear) return 0;
    int rc = real_clear(s);
    SSL_set_session(s, NULL);
    return rc;
}
