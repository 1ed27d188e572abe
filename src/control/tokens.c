/* Control-plane credentials: digests on disk, constant-time checks, join-token scope. */
#include "control/tokens.h"
#include "core/err.h"
#include "core/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

/* A token's secret reads "cgt_<16 hex id>_<32 hex secret>": the id finds the entry, the whole
 * string is what is hashed. The admin credential may be any line (--token-file). */
#define PREFIX     "cgt_"
#define SECRET_HEX 32

static const char *const role_names[] = {"admin", "reader", "join"};

const char *cg_role_name(cg_role_t r)
{
    return role_names[r];
}

int cg_role_parse(const char *s, cg_role_t *out)
{
    for (int i = 0; i < 3; i++)
        if (!strcmp(s, role_names[i])) {
            *out = (cg_role_t)i;
            return 0;
        }
    return CG_EINVAL;
}

static void digest(const char *s, size_t n, uint8_t out[32])
{
    unsigned len = 32;
    EVP_Digest(s, n, out, &len, EVP_sha256(), NULL);
}

static void hex(const uint8_t *b, size_t n, char *out)
{
    static const char h[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = h[b[i] >> 4];
        out[2 * i + 1] = h[b[i] & 15];
    }
    out[2 * n] = '\0';
}

static int unhex(const char *s, uint8_t *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(s + 2 * i, "%2x", &v) != 1) return -1;
        out[i] = (uint8_t)v;
    }
    return 0;
}

static int random_hex(char *out, size_t nbytes)
{
    uint8_t b[32];
    if (nbytes > sizeof(b) || getrandom(b, nbytes, 0) != (ssize_t)nbytes) return CG_ESYS;
    hex(b, nbytes, out);
    return 0;
}

/* ---- CIDR ---- */

int cg_cidr_parse(const char *s, cg_cidr_t *out)
{
    char ip[64];
    const char *slash = strchr(s, '/');
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(ip)) return CG_EINVAL;
    memcpy(ip, s, n);
    ip[n] = '\0';
    if (cg_addr_parse_ip(&out->net, ip, 0)) return CG_EINVAL;
    int max = out->net.u.sa.sa_family == AF_INET ? 32 : 128;
    out->bits = (uint8_t)max;
    if (slash) {
        char *end;
        long b = strtol(slash + 1, &end, 10);
        if (*end || end == slash + 1 || b < 0 || b > max) return CG_EINVAL;
        out->bits = (uint8_t)b;
    }
    return 0;
}

static const uint8_t *addr_bytes(const cg_addr_t *a, int *len)
{
    if (a->u.sa.sa_family == AF_INET) {
        *len = 4;
        return (const uint8_t *)&a->u.in4.sin_addr;
    }
    *len = 16;
    return (const uint8_t *)&a->u.in6.sin6_addr;
}

int cg_cidr_contains(const cg_cidr_t *c, const cg_addr_t *a)
{
    if (c->net.u.sa.sa_family != a->u.sa.sa_family) return 0;
    int n;
    const uint8_t *x = addr_bytes(&c->net, &n), *y = addr_bytes(a, &n);
    int bits = c->bits;
    for (int i = 0; bits > 0; i++, bits -= 8) {
        uint8_t mask = bits >= 8 ? 0xff : (uint8_t)(0xff << (8 - bits));
        if ((x[i] & mask) != (y[i] & mask)) return 0;
    }
    return 1;
}

static void cidr_format(const cg_cidr_t *c, char *out, size_t cap)
{
    char ip[48];
    cg_addr_format_ip(&c->net, ip, sizeof(ip));
    snprintf(out, cap, "%s/%u", ip, c->bits);
}

/* ---- the file: one token a line, "id role cluster|- expires created digest allow,..|-" ---- */

void cg_control_tokens_encode(const cg_tokens_t *t, cg_buf_t *b)
{
    cg_buf_append_str(b, "# crossgate control-plane tokens: SHA-256 digests only. Do not edit.\n");
    for (size_t i = 0; i < t->items.len; i++) {
        const cg_token_t *k = t->items.items[i];
        char d[65], allow[CG_TOKEN_MAX_ALLOW * 48 + 2] = "";
        hex(k->digest, 32, d);
        size_t n = 0;
        for (size_t j = 0; j < k->nallow; j++) {
            char c[64];
            cidr_format(&k->allow[j], c, sizeof(c));
            n += (size_t)snprintf(allow + n, sizeof(allow) - n, "%s%s", j ? "," : "", c);
        }
        cg_buf_printf(b, "%s %s %s %" PRIu64 " %" PRIu64 " %s %s\n", k->id, cg_role_name(k->role),
                      k->cluster[0] ? k->cluster : "-", k->expires_wall_ms, k->created_wall_ms, d,
                      n ? allow : "-");
    }
}

static int save(cg_tokens_t *t, cg_buf_t *err)
{
    cg_buf_t b = {0};
    cg_control_tokens_encode(t, &b);
    if (t->persist) {
        int r = t->persist(t->persist_data, b.base, b.len, err);
        cg_buf_free(&b);
        return r ? CG_EIO : 0;
    }
    char tmp[4200];
    snprintf(tmp, sizeof(tmp), "%s.tmp", t->path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int r = fd < 0 ? -1 : 0;
    if (!r && write(fd, b.base, b.len) != (ssize_t)b.len) r = -1;
    if (!r && fsync(fd)) r = -1;
    if (fd >= 0) close(fd);
    if (!r && rename(tmp, t->path)) r = -1;
    cg_buf_free(&b);
    if (r) {
        cg_buf_printf(err, "cannot write %s: %s", t->path, strerror(errno));
        unlink(tmp);
        return CG_EIO;
    }
    return 0;
}

/* Reads what cg_control_tokens_encode wrote (name in error lines) into items. */
static int decode(const char *name, const char *text, size_t len, cg_tokens_t *t, cg_buf_t *err)
{
    int lineno = 0, r = 0;
    const char *p = text, *end = text + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[1024];
        lineno++;
        if (n >= sizeof(line)) {
            cg_buf_printf(err, "%s:%d: not a token line", name, lineno);
            return CG_EPARSE;
        }
        memcpy(line, p, n);
        line[n] = '\0';
        p += n + (nl != NULL);
        if (line[0] == '#' || line[0] == '\0') continue;
        char id[32], role[16], cluster[64], d[80], allow[400];
        uint64_t exp, created;
        cg_token_t *k = cg_xcalloc(1, sizeof(*k));
        if (sscanf(line, "%31s %15s %63s %" SCNu64 " %" SCNu64 " %79s %399s", id, role, cluster,
                   &exp, &created, d, allow) != 7 ||
            strlen(id) != CG_TOKEN_ID_LEN || cg_role_parse(role, &k->role) || strlen(d) != 64 ||
            unhex(d, k->digest, 32) || k->role == CG_ROLE_ADMIN) {
            cg_buf_printf(err, "%s:%d: not a token line", name, lineno);
            free(k);
            r = CG_EPARSE;
            break;
        }
        memcpy(k->id, id, sizeof(k->id));
        if (strcmp(cluster, "-")) snprintf(k->cluster, sizeof(k->cluster), "%s", cluster);
        k->expires_wall_ms = exp;
        k->created_wall_ms = created;
        if (strcmp(allow, "-")) {
            for (char *save_p = NULL, *c = strtok_r(allow, ",", &save_p);
                 c && k->nallow < CG_TOKEN_MAX_ALLOW; c = strtok_r(NULL, ",", &save_p))
                if (cg_cidr_parse(c, &k->allow[k->nallow]) == 0) k->nallow++;
        }
        cg_vec_push(&t->items, k);
    }
    return r;
}

static int load(cg_tokens_t *t, cg_buf_t *err)
{
    int fd = open(t->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT
                   ? 0
                   : (cg_buf_printf(err, "cannot read %s: %s", t->path, strerror(errno)), CG_EIO);
    cg_buf_t b = {0};
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0) cg_buf_append(&b, chunk, (size_t)n);
    int r = n < 0 ? (cg_buf_printf(err, "cannot read %s: %s", t->path, strerror(errno)), CG_EIO)
                  : decode(t->path, b.base ? b.base : "", b.len, t, err);
    close(fd);
    cg_buf_free(&b);
    return r;
}

int cg_control_tokens_replace(cg_tokens_t *t, const char *name, const char *text, size_t len,
                              cg_buf_t *err)
{
    cg_tokens_t fresh = {0};
    int r = decode(name, text, len, &fresh, err);
    if (r) {
        for (size_t i = 0; i < fresh.items.len; i++) free(fresh.items.items[i]);
        cg_vec_free(&fresh.items);
        return r;
    }
    /* a token that stays keeps its registration bucket */
    for (size_t i = 0; i < fresh.items.len; i++) {
        cg_token_t *k = fresh.items.items[i];
        for (size_t j = 0; j < t->items.len; j++) {
            const cg_token_t *old = t->items.items[j];
            if (strcmp(old->id, k->id)) continue;
            k->bucket = old->bucket;
            k->bucket_ms = old->bucket_ms;
        }
    }
    for (size_t i = 0; i < t->items.len; i++) free(t->items.items[i]);
    cg_vec_free(&t->items);
    t->items = fresh.items;
    return 0;
}

/* ---- admin credential ---- */

static char *read_line_file(const char *path, cg_buf_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cg_buf_printf(err, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    char buf[4096];
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        cg_buf_printf(err, "cannot read %s: %s", path, strerror(errno));
        return NULL;
    }
    cg_iov_t v = cg_iov_trim(cg_iov(buf, (size_t)n));
    while (v.len && (v.base[v.len - 1] == '\n' || v.base[v.len - 1] == '\r'))
        v = cg_iov_trim(cg_iov(v.base, v.len - 1));
    if (v.len == 0 || memchr(v.base, '\n', v.len)) {
        cg_buf_printf(err, "%s must hold one non-empty line", path);
        return NULL;
    }
    return cg_xstrndup(v.base, v.len);
}

int cg_control_tokens_open(cg_tokens_t *t, const char *dir, const char *token_file, int *created,
                           cg_buf_t *err)
{
    char path[4096];
    *created = 0;
    /* the data directory may be new (a store that keeps nothing in it: etcd) */
    if (mkdir(dir, 0700) && errno != EEXIST) {
        cg_buf_printf(err, "cannot create %s: %s", dir, strerror(errno));
        return CG_EIO;
    }
    snprintf(path, sizeof(path), "%s/tokens", dir);
    t->path = cg_xstrdup(path);
    int r = load(t, err);
    if (r) return r;
    snprintf(t->admin.id, sizeof(t->admin.id), "admin");
    t->admin.role = CG_ROLE_ADMIN;
    char *secret = NULL;
    if (token_file) {
        if (!(secret = read_line_file(token_file, err))) return CG_EINVAL;
    } else {
        snprintf(path, sizeof(path), "%s/admin.token", dir);
        if (access(path, F_OK) == 0) {
            if (!(secret = read_line_file(path, err))) return CG_EINVAL;
        } else if (t->insecure) {
            return 0; /* no credential is made for a control plane that asks for none */
        } else {
            char s[SECRET_HEX + 1];
            if (random_hex(s, SECRET_HEX / 2)) return CG_ESYS;
            cg_buf_t b = {0};
            cg_buf_printf(&b, PREFIX "admin_%s\n", s);
            int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
            int ok = fd >= 0 && write(fd, b.base, b.len) == (ssize_t)b.len && fsync(fd) == 0;
            if (fd >= 0) close(fd);
            if (!ok) {
                cg_buf_printf(err, "cannot write %s: %s", path, strerror(errno));
                cg_buf_free(&b);
                return CG_EIO;
            }
            secret = cg_xstrndup(b.base, b.len - 1);
            cg_buf_free(&b);
            *created = 1;
        }
    }
    digest(secret, strlen(secret), t->admin.digest);
    t->admin_set = 1;
    OPENSSL_cleanse(secret, strlen(secret));
    free(secret);
    return 0;
}

void cg_control_tokens_close(cg_tokens_t *t)
{
    for (size_t i = 0; i < t->items.len; i++) free(t->items.items[i]);
    cg_vec_free(&t->items);
    free(t->path);
    t->path = NULL;
}

const cg_token_t *cg_control_tokens_check(cg_tokens_t *t, cg_iov_t h, uint64_t now_wall_ms)
{
    h = cg_iov_trim(h);
    if (h.len < 8 || strncasecmp(h.base, "Bearer ", 7) != 0) return NULL;
    cg_iov_t s = cg_iov_trim(cg_iov(h.base + 7, h.len - 7));
    if (s.len == 0 || s.len > 1024) return NULL;
    uint8_t d[32];
    digest(s.base, s.len, d);
    if (t->admin_set && CRYPTO_memcmp(d, t->admin.digest, 32) == 0) return &t->admin;
    if (s.len != sizeof(PREFIX) - 1 + CG_TOKEN_ID_LEN + 1 + SECRET_HEX || memcmp(s.base, PREFIX, 4))
        return NULL;
    const char *id = s.base + 4;
    for (size_t i = 0; i < t->items.len; i++) {
        cg_token_t *k = t->items.items[i];
        if (memcmp(k->id, id, CG_TOKEN_ID_LEN) != 0) continue;
        if (CRYPTO_memcmp(d, k->digest, 32) != 0) return NULL;
        if (k->expires_wall_ms && now_wall_ms >= k->expires_wall_ms) return NULL;
        return k;
    }
    return NULL;
}

int cg_control_tokens_create(cg_tokens_t *t, cg_role_t role, const char *cluster, uint64_t ttl_ms,
                             const cg_cidr_t *allow, size_t nallow, uint64_t now_wall_ms,
                             char **secret, const cg_token_t **out, cg_buf_t *err)
{
    if (role == CG_ROLE_ADMIN) {
        cg_buf_printf(
            err, "there is one admin credential (DATA/admin.token); create reader or join tokens");
        return CG_EINVAL;
    }
    if ((role == CG_ROLE_JOIN) != (cluster && *cluster)) {
        cg_buf_printf(err, role == CG_ROLE_JOIN ? "a join token needs a cluster"
                                                : "only join tokens have a cluster");
        return CG_EINVAL;
    }
    if (cluster && strlen(cluster) >= sizeof(((cg_token_t *)0)->cluster)) {
        cg_buf_printf(err, "cluster name too long");
        return CG_EINVAL;
    }
    if (nallow && role != CG_ROLE_JOIN) {
        cg_buf_printf(err, "only join tokens have allowed addresses");
        return CG_EINVAL;
    }
    if (nallow > CG_TOKEN_MAX_ALLOW) {
        cg_buf_printf(err, "at most %d allowed address prefixes", CG_TOKEN_MAX_ALLOW);
        return CG_EINVAL;
    }
    cg_token_t *k = cg_xcalloc(1, sizeof(*k));
    char s[SECRET_HEX + 1];
    if (random_hex(k->id, CG_TOKEN_ID_LEN / 2) || random_hex(s, SECRET_HEX / 2)) {
        free(k);
        return CG_ESYS;
    }
    k->role = role;
    if (cluster) snprintf(k->cluster, sizeof(k->cluster), "%s", cluster);
    k->created_wall_ms = now_wall_ms;
    k->expires_wall_ms = ttl_ms ? now_wall_ms + ttl_ms : 0;
    if (nallow) memcpy(k->allow, allow, nallow * sizeof(*allow));
    k->nallow = nallow;
    cg_buf_t b = {0};
    cg_buf_printf(&b, PREFIX "%s_%s", k->id, s);
    digest(b.base, b.len, k->digest);
    cg_vec_push(&t->items, k);
    if (save(t, err)) {
        t->items.len--;
        free(k);
        cg_buf_free(&b);
        return CG_EIO;
    }
    *secret = cg_xstrndup(b.base, b.len);
    cg_buf_free(&b);
    *out = k;
    return 0;
}

int cg_control_tokens_revoke(cg_tokens_t *t, const char *id, cg_buf_t *err)
{
    for (size_t i = 0; i < t->items.len; i++) {
        cg_token_t *k = t->items.items[i];
        if (strcmp(k->id, id) != 0) continue;
        t->items.items[i] = t->items.items[--t->items.len];
        if (save(t, err)) {
            cg_vec_push(&t->items, k);
            return CG_EIO;
        }
        free(k);
        return 0;
    }
    return CG_ENOENT;
}

void cg_control_tokens_json(const cg_tokens_t *t, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_karr(&w, "tokens");
    for (size_t i = 0; i < t->items.len; i++) {
        const cg_token_t *k = t->items.items[i];
        cg_jw_obj(&w);
        cg_jw_kstr(&w, "id", k->id);
        cg_jw_kstr(&w, "role", cg_role_name(k->role));
        cg_jw_kstr(&w, "cluster", k->cluster[0] ? k->cluster : NULL);
        cg_jw_ku64(&w, "created_ms", k->created_wall_ms);
        cg_jw_ku64(&w, "expires_ms", k->expires_wall_ms);
        cg_jw_karr(&w, "allow");
        for (size_t j = 0; j < k->nallow; j++) {
            char c[64];
            cidr_format(&k->allow[j], c, sizeof(c));
            cg_jw_str(&w, c);
        }
        cg_jw_end(&w);
        cg_jw_end(&w);
    }
    cg_jw_end(&w);
    cg_jw_end(&w);
    cg_buf_append_str(out, "\n");
}

int cg_control_tokens_take(cg_token_t *tok, uint64_t now_ms, double rate, double burst)
{
    if (tok->bucket_ms == 0)
        tok->bucket = burst;
    else
        tok->bucket += (double)(now_ms - tok->bucket_ms) * rate / 1000.0;
    if (tok->bucket > burst) tok->bucket = burst;
    tok->bucket_ms = now_ms;
    if (tok->bucket < 1.0) return 0;
    tok->bucket -= 1.0;
    return 1;
}

/* ---- POST /v1/tokens: the request and the answer, each described once ---- */

/* The request's members, in the order `crossgate token create` writes them. */
enum { REQ_ROLE, REQ_CLUSTER, REQ_TTL, REQ_ALLOW, REQ_N };
static const char *const req_keys[REQ_N] = {"role", "cluster", "ttl_ms", "allow"};
#define REQ_EXPECTED "role, cluster, ttl_ms, allow"

/* A token request is small: past this many values and keys it is not one (the bound the
 * request had when it was read as YAML, which also bounds its nesting). */
#define REQ_MAX_NODES 64
#define TTL_MAX_MS    (10ull * 365 * 86400 * 1000)

void cg_control_token_req_write(cg_buf_t *out, const char *role, const char *cluster,
                                uint64_t ttl_ms, const char *const *allow, size_t nallow)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, req_keys[REQ_ROLE], role);
    cg_jw_kstr_opt(&w, req_keys[REQ_CLUSTER], cluster);
    if (ttl_ms) cg_jw_ku64(&w, req_keys[REQ_TTL], ttl_ms);
    if (nallow) {
        cg_jw_karr(&w, req_keys[REQ_ALLOW]);
        for (size_t i = 0; i < nallow; i++) cg_jw_str(&w, allow[i]);
        cg_jw_end(&w);
    }
    cg_jw_end(&w);
}

/* Values and keys in v, counting up to max + 1 at most. */
static size_t count_nodes(const cg_json_t *v, size_t max)
{
    size_t n = 1;
    if (cg_json_type(v) == CG_JSON_ARRAY) {
        for (size_t i = 0; i < cg_json_len(v) && n <= max; i++)
            n += count_nodes(cg_json_at(v, i), max - n);
    } else if (cg_json_type(v) == CG_JSON_OBJECT) {
        for (void *it = cg_json_iter(v); it && n <= max; it = cg_json_next(v, it))
            n += 1 + count_nodes(cg_json_iter_value(it), max - n);
    }
    return n;
}

static int only_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (!strchr(" \t\r\n", s[i])) return 0;
    return 1;
}

/* One member of the request; 0, or -1 with the message in err. */
static int req_member(const char *key, const cg_json_t *v, cg_control_token_req_t *out,
                      cg_buf_t *err)
{
    int k = 0;
    while (k < REQ_N && strcmp(key, req_keys[k])) k++;
    size_t len = 0;
    const char *s = cg_json_string(v, &len);
    cg_json_type_t type = cg_json_type(v);
    if (k == REQ_ROLE && s) {
        if (cg_role_parse(s, &out->role) == 0) return 0;
        cg_buf_printf(err, "role: expected reader or join");
    } else if (k == REQ_CLUSTER && s) {
        if (len == 0 || len >= sizeof(out->cluster)) {
            cg_buf_printf(err, "cluster: expected a name of 1 to 63 characters");
            return -1;
        }
        for (size_t j = 0; j < len; j++)
            if ((unsigned char)s[j] <= ' ' || (unsigned char)s[j] >= 0x7f) {
                cg_buf_printf(err, "cluster: must be printable ASCII without spaces");
                return -1;
            }
        memcpy(out->cluster, s, len + 1);
        return 0;
    } else if (k == REQ_TTL && type != CG_JSON_ARRAY && type != CG_JSON_OBJECT) {
        int64_t n = cg_json_int(v);
        if (type == CG_JSON_INT && n >= 0 && (uint64_t)n <= TTL_MAX_MS) {
            out->ttl_ms = (uint64_t)n;
            return 0;
        }
        cg_buf_printf(err, "ttl_ms: expected milliseconds, at most 10 years");
    } else if (k == REQ_ALLOW && type == CG_JSON_ARRAY) {
        for (size_t j = 0; j < cg_json_len(v); j++) {
            const char *c = cg_json_string(cg_json_at(v, j), NULL);
            if (out->nallow == CG_TOKEN_MAX_ALLOW || !c ||
                cg_cidr_parse(c, &out->allow[out->nallow])) {
                cg_buf_printf(err, "allow: expected at most %d addresses or prefixes (10.0.0.0/8)",
                              CG_TOKEN_MAX_ALLOW);
                return -1;
            }
            out->nallow++;
        }
        return 0;
    } else {
        cg_buf_printf(err, "%s: unknown field or wrong type (expected " REQ_EXPECTED ")", key);
    }
    return -1;
}

int cg_control_token_req_parse(const char *body, size_t len, cg_control_token_req_t *out,
                               cg_buf_t *err)
{
    memset(out, 0, sizeof(*out));
    if (only_space(body, len)) {
        cg_buf_printf(err, "expected one JSON object with " REQ_EXPECTED);
        return CG_EINVAL;
    }
    cg_json_t *doc = cg_json_parse("token request", body, len, NULL);
    int r = CG_EINVAL, have_role = 0;
    if (doc == NULL || count_nodes(doc, REQ_MAX_NODES) > REQ_MAX_NODES) {
        cg_buf_printf(err, "malformed JSON");
        goto Exit;
    }
    if (cg_json_type(doc) != CG_JSON_OBJECT) {
        cg_buf_printf(err, "expected one JSON object with " REQ_EXPECTED);
        goto Exit;
    }
    for (void *it = cg_json_iter(doc); it; it = cg_json_next(doc, it)) {
        const char *key = cg_json_iter_key(it);
        if (req_member(key, cg_json_iter_value(it), out, err)) goto Exit;
        have_role |= !strcmp(key, req_keys[REQ_ROLE]);
    }
    if (!have_role) {
        cg_buf_printf(err, "role: missing required field");
        goto Exit;
    }
    r = 0;
Exit:
    cg_json_free(doc);
    return r;
}

/* The answer: the new token, its secret shown once. */
enum { NEW_ID, NEW_ROLE, NEW_TOKEN, NEW_EXPIRES, NEW_N };
static const char *const new_keys[NEW_N] = {"id", "role", "token", "expires_ms"};

void cg_control_token_new_write(const cg_control_token_new_t *n, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_kstr(&w, new_keys[NEW_ID], n->id);
    cg_jw_kstr(&w, new_keys[NEW_ROLE], n->role);
    cg_jw_kstr(&w, new_keys[NEW_TOKEN], n->token);
    cg_jw_ku64(&w, new_keys[NEW_EXPIRES], n->expires_ms);
    cg_jw_end(&w);
    cg_buf_append_str(out, "\n");
}

void cg_control_token_new_read(const cg_json_t *doc, cg_control_token_new_t *out)
{
    out->id = cg_json_string(cg_json_get(doc, new_keys[NEW_ID]), NULL);
    out->role = cg_json_string(cg_json_get(doc, new_keys[NEW_ROLE]), NULL);
    out->token = cg_json_string(cg_json_get(doc, new_keys[NEW_TOKEN]), NULL);
    int64_t e = cg_json_int(cg_json_get(doc, new_keys[NEW_EXPIRES]));
    out->expires_ms = e > 0 ? (uint64_t)e : 0;
}
