/* Protocol version names, the plaintext-HTTP sniff, and the layer's OpenSSL ex-data slots. */
#include "core/err.h"
#include "tls/tls_int.h"

#include <pthread.h>
#include <string.h>

static const struct {
    const char *name;
    int proto;
} versions[] = {
    [CG_TLS_AUTO] = {"TLS_AUTO", 0},
    [CG_TLS_V1_0] = {"TLSV1_0", TLS1_VERSION},
    [CG_TLS_V1_1] = {"TLSV1_1", TLS1_1_VERSION},
    [CG_TLS_V1_2] = {"TLSV1_2", TLS1_2_VERSION},
    [CG_TLS_V1_3] = {"TLSV1_3", TLS1_3_VERSION},
};
#define NVERSIONS (sizeof(versions) / sizeof(versions[0]))

int cg_tls_version_parse(const char *name, cg_tls_version_t *out)
{
    for (size_t i = 0; name && i < NVERSIONS; i++)
        if (!strcmp(name, versions[i].name)) {
            *out = (cg_tls_version_t)i;
            return 0;
        }
    return CG_EINVAL;
}

const char *cg_tls_version_name(cg_tls_version_t v)
{
    return (unsigned)v < NVERSIONS ? versions[v].name : "?";
}

int cg_tls__proto(cg_tls_version_t v)
{
    return (unsigned)v < NVERSIONS ? versions[v].proto : 0;
}

/* A TLS connection starts with a handshake record (0x16); an HTTP/1 request with a method token
 * of upper-case letters and a space (methods are at most 15 letters here). A short prefix is
 * judged on what is there. */
int cg_tls_looks_like_http(const char *data, size_t len)
{
    size_t i;
    for (i = 0; i < len && i < 16; i++) {
        unsigned char c = (unsigned char)data[i];
        if (c == ' ') return i >= 3;
        if (c < 'A' || c > 'Z') return 0;
    }
    return i > 0 && i == len; /* all letters so far, and no more to see */
}

static int ex_srv = -1, ex_sess = -1;
static pthread_once_t ex_once = PTHREAD_ONCE_INIT;

static void ex_init(void)
{
    ex_srv = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
    ex_sess = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

int cg_tls__ex_srv(void)
{
    pthread_once(&ex_once, ex_init);
    return ex_srv;
}

int cg_tls__ex_sess(void)
{
    pthread_once(&ex_once, ex_init);
    return ex_sess;
}
