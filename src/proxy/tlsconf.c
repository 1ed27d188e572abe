/* Building a config's TLS server sets from the snapshot (see tlsconf.h). */
#include "proxy/tlsconf.h"
#include "core/err.h"
#include "core/list.h"
#include "proxy/mesh.h"

#include <errno.h>
#include <openssl/crypto.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TLS_FILE_MAX (1u << 20) /* as the model's check of the same files */

static cg_tls_ticket_keys_t *ticket_keys;

void cg_proxy_tls_set_ticket_keys(cg_tls_ticket_keys_t *k)
{
    ticket_keys = k;
}

const char *const cg_proxy_tls_reason_names[CG_PROXY_TLS_NREASONS] = {
#define CG__TLSN(n) #n,
    CG_PROXY_TLS_REASONS(CG__TLSN)
#undef CG__TLSN
};

int cg_proxy_tls_reason_index(const char *reason)
{
    for (int i = 0; reason && i < CG_PROXY_TLS_NREASONS; i++)
        if (!strcmp(reason, cg_proxy_tls_reason_names[i])) return i;
    return CG_PROXY_TLS_FAIL_other;
}

/* The opener of a TLS port: its ctx is the port's server set. */
static int tls_open(void *ctx, cg_xport_t *x, int fd)
{
    return cg_tls_accept(x, ctx, fd);
}

cg_tls_servers_t *cg_proxy_tls_servers(const cg_listener_cfg_t *l)
{
    if (l->xopen.open == tls_open) return l->xopen.ctx;
    return l->mesh ? cg_proxy_mesh_servers() : NULL;
}

void cg_proxy_tls_free(cg_listener_cfg_t *l)
{
    if (l->xopen.open == tls_open) cg_tls_servers_unref(l->xopen.ctx);
    l->xopen = (cg_xport_opener_t){0};
}

int cg_proxy_read_pem(const char *path, cg_buf_t *b)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    int e = fd < 0 ? errno : 0;
    while (fd >= 0) {
        if (cg_buf_reserve(b, 16384)) {
            e = ENOMEM;
            break;
        }
        ssize_t n = read(fd, b->base + b->len, b->cap - b->len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            e = n < 0 ? errno : 0;
            break;
        }
        b->len += (size_t)n;
        if (b->len > TLS_FILE_MAX) {
            e = EFBIG;
            break;
        }
    }
    if (fd >= 0) close(fd);
    if (!e && cg_buf_append(b, "", 1)) e = ENOMEM;
    return e;
}

void cg_proxy_pem_free(cg_buf_t *b)
{
    if (b->base) OPENSSL_cleanse(b->base, b->cap); /* not elided as a memset may be */
    cg_buf_free(b);
}

/* Reads a files-mode part whole into b (NUL-terminated); 0, or an error line in errors. */
static int read_part(const char *path, cg_buf_t *b, const cg_snap_server_t *sv, cg_buf_t *errors)
{
    int e = cg_proxy_read_pem(path, b);
    if (e) {
        cg_buf_printf(errors, "server %s (port %u): cannot read %s: %s\n", sv->name,
                      (unsigned)sv->port, path, strerror(e));
        return e == ENOMEM ? CG_ENOMEM : CG_EINVAL;
    }
    return 0;
}

/* One server's settings and material; the buffers (files mode) hold what pem points into. */
typedef struct part_bufs {
    cg_buf_t cert, key, ca, ciphers;
} part_bufs_t;

static int server_cfg(const cg_snap_server_t *sv, cg_tls_server_cfg_t *o, part_bufs_t *b,
                      cg_buf_t *errors)
{
    const cg_snap_tls_t *t = sv->tls;
    o->hostname = sv->hostname ? sv->hostname : "*";
    o->mode = t->mode == CG_TLS_MUTUAL ? CG_TLS_MUTUAL : CG_TLS_SIMPLE;
    o->min_version = (cg_tls_version_t)t->min_version;
    o->max_version = (cg_tls_version_t)t->max_version;
    for (size_t i = 0; i < t->ncipher_suites; i++) {
        if (i) cg_buf_append(&b->ciphers, ":", 1);
        cg_buf_append(&b->ciphers, t->cipher_suites[i], strlen(t->cipher_suites[i]));
    }
    if (t->ncipher_suites) {
        cg_buf_append(&b->ciphers, "", 1);
        o->cipher_suites = b->ciphers.base;
    }
    o->subject_alt_names = (const char *const *)t->subject_alt_names;
    o->nsubject_alt_names = t->nsubject_alt_names;
    if (t->cert_pem) { /* secret mode: the snapshot carries the text */
        o->pem = (cg_tls_pem_t){t->cert_pem, strlen(t->cert_pem),
                                t->key_pem,  t->key_pem ? strlen(t->key_pem) : 0,
                                t->ca_pem,   t->ca_pem ? strlen(t->ca_pem) : 0};
        return 0;
    }
    if (!t->cert_file || !t->key_file) {
        cg_buf_printf(errors, "server %s (port %u): tls has no certificate\n", sv->name,
                      (unsigned)sv->port);
        return CG_EINVAL;
    }
    if (read_part(t->cert_file, &b->cert, sv, errors) ||
        read_part(t->key_file, &b->key, sv, errors) ||
        (t->ca_file && read_part(t->ca_file, &b->ca, sv, errors)))
        return CG_EINVAL;
    o->pem = (cg_tls_pem_t){b->cert.base,
                            b->cert.len - 1,
                            b->key.base,
                            b->key.len - 1,
                            t->ca_file ? b->ca.base : NULL,
                            t->ca_file ? b->ca.len - 1 : 0};
    return 0;
}

/* Builds one listener's set from its servers (snapshot indexes idx[0, n)). */
static int listener_tls(cg_listener_cfg_t *l, const cg_snapshot_t *snap, const size_t *idx,
                        size_t n, cg_buf_t *errors)
{
    size_t ntls = 0;
    for (size_t i = 0; i < n; i++) ntls += snap->servers[idx[i]].tls != NULL;
    if (ntls == 0) return 0;
    if (ntls != n) { /* the Tetrate rule, checked upstream; a config that breaks it is refused */
        const cg_snap_server_t *t = NULL, *p = NULL;
        for (size_t i = 0; i < n; i++) {
            const cg_snap_server_t *sv = &snap->servers[idx[i]];
            if (sv->tls && !t) t = sv;
            if (!sv->tls && !p) p = sv;
        }
        cg_buf_printf(errors,
                      "port %u: server %s is TLS and server %s plain text; a port is TLS or plain "
                      "text\n",
                      (unsigned)l->port, t->name, p->name);
        return CG_EINVAL;
    }
    cg_tls_server_cfg_t *cfgs = cg_xcalloc(n, sizeof(*cfgs));
    part_bufs_t *bufs = cg_xcalloc(n, sizeof(*bufs));
    int err = 0;
    for (size_t i = 0; i < n; i++)
        if (server_cfg(&snap->servers[idx[i]], &cfgs[i], &bufs[i], errors)) err = CG_EINVAL;
    if (!err) {
        cg_buf_t e = {0};
        cg_tls_servers_t *s = cg_tls_servers_new(cfgs, n, ticket_keys, &e);
        if (s) {
            l->xopen = (cg_xport_opener_t){tls_open, s};
        } else {
            cg_buf_printf(errors, "port %u: %.*s\n", (unsigned)l->port,
                          (int)(e.len && e.base[e.len - 1] == '\n' ? e.len - 1 : e.len),
                          e.base ? e.base : "");
            err = CG_EINVAL;
        }
        cg_buf_free(&e);
    }
    for (size_t i = 0; i < n; i++) {
        cg_buf_free(&bufs[i].cert);
        cg_proxy_pem_free(&bufs[i].key);
        cg_buf_free(&bufs[i].ca);
        cg_buf_free(&bufs[i].ciphers);
    }
    free(bufs);
    free(cfgs);
    return err;
}

int cg_proxy_tls_compile(cg_config_t *c, const cg_snapshot_t *snap, cg_buf_t *errors)
{
    /* the servers of each listener, in the snapshot's order: one pass to count, one to place */
    size_t *start = cg_xcalloc(c->nlisteners + 1, sizeof(size_t));
    size_t *idx = cg_xcalloc(snap->nservers ? snap->nservers : 1, sizeof(size_t));
    int32_t *listener_of = cg_xcalloc(65536, sizeof(int32_t));
    for (size_t i = 0; i < c->nlisteners; i++) listener_of[c->listeners[i].port] = (int32_t)i + 1;
    for (size_t s = 0; s < snap->nservers; s++) {
        int32_t li = listener_of[snap->servers[s].port];
        if (li) start[li]++;
    }
    for (size_t i = 1; i <= c->nlisteners; i++) start[i] += start[i - 1];
    size_t *fill = cg_xcalloc(c->nlisteners ? c->nlisteners : 1, sizeof(size_t));
    for (size_t s = 0; s < snap->nservers; s++) {
        int32_t li = listener_of[snap->servers[s].port];
        if (li) idx[start[li - 1] + fill[li - 1]++] = s;
    }
    int err = 0;
    for (size_t i = 0; i < c->nlisteners; i++)
        if (listener_tls(&c->listeners[i], snap, idx + start[i], start[i + 1] - start[i], errors))
            err = CG_EINVAL;
    free(fill);
    free(listener_of);
    free(idx);
    free(start);
    return err;
}
