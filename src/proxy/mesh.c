/* The mesh identity, its client and its server (see mesh.h). */
#include "proxy/mesh.h"
#include "core/err.h"
#include "core/hash.h"
#include "core/list.h"
#include "core/log.h"
#include "proxy/tlsconf.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One peer identity the edge sends to: interned, so equal URIs give equal openers. Peers live
 * until unload (configs and pool buckets hold pointers to them); there is one per cluster and
 * namespace the control plane ever named, a few bytes each. */
typedef struct peer {
    struct peer *next;
    uint64_t hash;
    char uri[];
} peer_t;

/* Slots of the peers' hash table; chains beyond are a lookup per endpoint at compile, off the
 * request path. */
#define PEER_SLOTS 4096
/* Distinct peer identities a process keeps: peers are never freed (configs and pool buckets
 * point at them), so registrations that invent names cannot grow them without bound. */
#define PEER_MAX 65536

static struct {
    /* guards client and servers: workers take a reference under it (servers is also read
     * without it, atomically, only to compare) */
    pthread_mutex_t lock;
    cg_tls_client_t *client;
    cg_tls_servers_t *servers;
    uint64_t sig; /* of the bytes in force */
    uint16_t port;
    char *paths[3]; /* cert, key, ca */
    char *uri;      /* this gateway's own */
    cg_tls_ticket_keys_t *ticket_keys;
    peer_t *peers[PEER_SLOTS];
    size_t npeers;
} mesh = {.lock = PTHREAD_MUTEX_INITIALIZER};

static int mesh_connect(void *ctx, cg_xport_t *x, int fd)
{
    const peer_t *p = ctx;
    pthread_mutex_lock(&mesh.lock);
    int r = mesh.client ? cg_tls_connect(x, mesh.client, fd, p->uri) : CG_EINVAL;
    pthread_mutex_unlock(&mesh.lock);
    return r;
}

static int mesh_accept(void *ctx, cg_xport_t *x, int fd)
{
    (void)ctx;
    pthread_mutex_lock(&mesh.lock);
    int r = mesh.servers ? cg_tls_accept(x, mesh.servers, fd) : CG_EINVAL;
    pthread_mutex_unlock(&mesh.lock);
    return r;
}

/* Reads the three files and, when their bytes differ from sig (or always when force), builds
 * the client and server from them. 1 built (in *client, *servers, *new_sig), 0 unchanged,
 * CG_EINVAL with one line in err. */
static int build(int force, cg_tls_client_t **client, cg_tls_servers_t **servers, uint64_t *new_sig,
                 cg_buf_t *err)
{
    static const char *const part[3] = {"certificate", "key", "CA"};
    cg_buf_t b[3] = {{0}};
    int rc = CG_EINVAL;
    for (int i = 0; i < 3; i++) {
        int e = cg_proxy_read_pem(mesh.paths[i], &b[i]);
        if (e) {
            cg_buf_printf(err, "mesh %s %s: cannot read: %s", part[i], mesh.paths[i], strerror(e));
            goto Exit;
        }
    }
    uint64_t sig = CG_HASH_SEED;
    for (int i = 0; i < 3; i++)
        sig = cg_hash_bytes(sig, b[i].base, b[i].len); /* each ends in NUL */
    if (!force && sig == mesh.sig) {
        rc = 0;
        goto Exit;
    }
    cg_tls_pem_t pem = {b[0].base, b[0].len - 1, b[1].base, b[1].len - 1, b[2].base, b[2].len - 1};
    char *warning = NULL;
    cg_buf_t e = {0};
    if (cg_tls_identity_check(&pem, mesh.uri, &warning, &e)) {
        cg_buf_printf(err, "mesh identity %s: %.*s", mesh.paths[0], (int)e.len,
                      e.base ? e.base : "");
        cg_buf_free(&e);
        goto Exit;
    }
    cg_tls_client_cfg_t ccfg = {pem};
    cg_tls_server_cfg_t scfg = {.hostname = "*", .mode = CG_TLS_MUTUAL, .pem = pem};
    cg_tls_client_t *c = cg_tls_client_new(&ccfg, &e);
    cg_tls_servers_t *s = c ? cg_tls_servers_new(&scfg, 1, mesh.ticket_keys, &e) : NULL;
    if (!s) {
        cg_tls_client_unref(c);
        cg_buf_printf(err, "mesh identity %s: %.*s", mesh.paths[0], (int)e.len,
                      e.base ? e.base : "");
        cg_buf_free(&e);
        free(warning);
        goto Exit;
    }
    cg_buf_free(&e);
    if (warning) cg_log_warn("mesh identity %s: %s", mesh.paths[0], warning);
    free(warning);
    *client = c;
    *servers = s;
    *new_sig = sig;
    rc = 1;
Exit:
    for (int i = 0; i < 3; i++) cg_proxy_pem_free(&b[i]);
    return rc;
}

/* Puts new material in force; the old goes when its last connection does. */
static void swap_in(cg_tls_client_t *c, cg_tls_servers_t *s, uint64_t sig)
{
    pthread_mutex_lock(&mesh.lock);
    cg_tls_client_t *oc = mesh.client;
    cg_tls_servers_t *os = mesh.servers;
    mesh.client = c;
    __atomic_store_n(&mesh.servers, s, __ATOMIC_RELEASE);
    mesh.sig = sig;
    pthread_mutex_unlock(&mesh.lock);
    cg_tls_client_unref(oc);
    if (os) cg_tls_servers_unref(os);
}

int cg_proxy_mesh_load(const cg_proxy_mesh_opts_t *o, cg_buf_t *err)
{
    cg_proxy_mesh_unload();
    if (!o->identity || !o->ca || !o->cluster || !o->namespace_ || !o->port) {
        cg_buf_printf(err, "mesh: an identity needs --mesh-ca, --cluster, --namespace and a port");
        return CG_EINVAL;
    }
    size_t n = strlen(o->identity);
    mesh.paths[0] = cg_xmalloc(n + 5);
    mesh.paths[1] = cg_xmalloc(n + 5);
    snprintf(mesh.paths[0], n + 5, "%s.crt", o->identity);
    snprintf(mesh.paths[1], n + 5, "%s.key", o->identity);
    mesh.paths[2] = cg_xstrdup(o->ca);
    mesh.uri = cg_xasprintf(CG_TLS_MESH_URI, o->namespace_, o->cluster);
    mesh.ticket_keys = o->ticket_keys;
    cg_tls_client_t *c = NULL;
    cg_tls_servers_t *s = NULL;
    uint64_t sig = 0;
    if (build(1, &c, &s, &sig, err) != 1) {
        cg_proxy_mesh_unload();
        return CG_EINVAL;
    }
    swap_in(c, s, sig);
    mesh.port = o->port;
    return 0;
}

int cg_proxy_mesh_reload(cg_buf_t *err)
{
    if (!mesh.port) return 0;
    cg_tls_client_t *c = NULL;
    cg_tls_servers_t *s = NULL;
    uint64_t sig = 0;
    int r = build(0, &c, &s, &sig, err);
    if (r == 1) swap_in(c, s, sig);
    return r;
}

const char *const *cg_proxy_mesh_paths(void)
{
    return mesh.port ? (const char *const *)mesh.paths : NULL;
}

void cg_proxy_mesh_unload(void)
{
    swap_in(NULL, NULL, 0);
    for (int i = 0; i < 3; i++) {
        free(mesh.paths[i]);
        mesh.paths[i] = NULL;
    }
    free(mesh.uri);
    mesh.uri = NULL;
    mesh.port = 0;
    mesh.ticket_keys = NULL;
    for (size_t i = 0; i < PEER_SLOTS; i++) {
        while (mesh.peers[i]) {
            peer_t *p = mesh.peers[i];
            mesh.peers[i] = p->next;
            free(p);
        }
    }
    mesh.npeers = 0;
}

static int required;

void cg_proxy_mesh_set_required(int on)
{
    required = on;
}

int cg_proxy_mesh_required(void)
{
    return required;
}

uint16_t cg_proxy_mesh_port(void)
{
    return mesh.port;
}

cg_xport_opener_t cg_proxy_mesh_listener(void)
{
    return (cg_xport_opener_t){mesh_accept, NULL};
}

cg_xport_opener_t cg_proxy_mesh_peer(const char *uri)
{
    if (!mesh.port) return (cg_xport_opener_t){0};
    uint64_t h = cg_hash_str(CG_HASH_SEED, uri);
    peer_t **slot = &mesh.peers[h % PEER_SLOTS];
    for (peer_t *p = *slot; p; p = p->next)
        if (p->hash == h && !strcmp(p->uri, uri)) return (cg_xport_opener_t){mesh_connect, p};
    if (mesh.npeers >= PEER_MAX) return (cg_xport_opener_t){0};
    mesh.npeers++;
    size_t n = strlen(uri) + 1;
    peer_t *p = cg_xmalloc(sizeof(*p) + n);
    p->hash = h;
    memcpy(p->uri, uri, n);
    p->next = *slot;
    *slot = p;
    return (cg_xport_opener_t){mesh_connect, p};
}

const char *cg_proxy_mesh_peer_uri(const cg_xport_opener_t *o)
{
    return o->open == mesh_connect ? ((const peer_t *)o->ctx)->uri : NULL;
}

cg_tls_servers_t *cg_proxy_mesh_servers(void)
{
    return __atomic_load_n(&mesh.servers, __ATOMIC_ACQUIRE);
}
