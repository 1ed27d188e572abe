/* Reads files and directories, splits documents, decodes each by its kind's table and checks
 * rules across the whole set (unique identities). */
#include "model/model.h"

#include "core/err.h"
#include "core/list.h"
#include "model/yaml.h"
#include "tls/tls.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FILE_SIZE (16u << 20)

typedef struct loader {
    cg_resource_set_t *rs;
    cg_buf_t *errors;
    int nparse; /* documents or files with invalid content */
    int io_err; /* first CG_ENOENT/CG_EIO */
} loader_t;

static const char *intern_file(cg_resource_set_t *rs, const char *name)
{
    rs->files = cg_xrealloc(rs->files, (rs->nfiles + 1) * sizeof(char *));
    rs->files[rs->nfiles] = cg_xstrdup(name);
    return rs->files[rs->nfiles++];
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Decodes one document into the set; returns the number of errors. */
static int load_document(loader_t *l, const char *file, const cg_ydoc_t *doc)
{
    const cg_ynode_t *root = doc->root;
    if (root == NULL || (root->kind == CG_YNODE_SCALAR && root->stype == CG_YSCALAR_NULL)) return 0;
    cg_model_ctx_t ctx;
    cg_model_ctx_init(&ctx, file, l->errors);
    if (root->kind != CG_YNODE_MAP) {
        cg_model_errorf(
            &ctx, root, NULL,
            "expected a resource (a mapping with apiVersion, kind, metadata, spec), got %s",
            cg_ynode_describe(root));
        return ctx.nerrors;
    }
    const cg_ynode_t *av = cg_ynode_get(root, "apiVersion"), *kn = cg_ynode_get(root, "kind");
    if (av == NULL)
        cg_model_errorf(&ctx, root, "apiVersion", "missing required field");
    else if (av->kind != CG_YNODE_SCALAR || av->stype != CG_YSCALAR_STRING)
        cg_model_errorf(&ctx, av, "apiVersion", "expected a string, got %s", cg_ynode_describe(av));
    if (kn == NULL)
        cg_model_errorf(&ctx, root, "kind", "missing required field");
    else if (kn->kind != CG_YNODE_SCALAR || kn->stype != CG_YSCALAR_STRING)
        cg_model_errorf(&ctx, kn, "kind", "expected a string, got %s", cg_ynode_describe(kn));
    if (ctx.nerrors) return ctx.nerrors;

    cg_model_kind_t kind;
    const cg_model_schema_t *schema = cg_model_schema_for(av->text, kn->text, &kind);
    if (schema == NULL) {
        if (strcmp(av->text, "crossgate/v1") == 0)
            cg_model_errorf(&ctx, kn, "kind",
                            "unknown kind \"%s\" (expected Cluster, Service or Gateway)", kn->text);
        else if (strcmp(av->text, "v1") == 0)
            cg_model_errorf(&ctx, kn, "kind", "kind \"%s\" is not supported for v1 (only Secret)",
                            kn->text);
        else if (strcmp(av->text, "api.tsb.tetrate.io/v2") == 0)
            cg_model_errorf(
                &ctx, kn, "kind",
                "kind \"%s\" is not supported for api.tsb.tetrate.io/v2 (only WorkspaceSetting)",
                kn->text);
        else if (strcmp(av->text, "gateway.tsb.tetrate.io/v2") == 0)
            cg_model_errorf(
                &ctx, kn, "kind",
                "kind \"%s\" is not supported for gateway.tsb.tetrate.io/v2 (only Gateway)",
                kn->text);
        else
            cg_model_errorf(
                &ctx, av, "apiVersion",
                "expected crossgate/v1, gateway.tsb.tetrate.io/v2, api.tsb.tetrate.io/v2 or v1, "
                "got \"%s\"",
                av->text);
        return ctx.nerrors;
    }
    void *obj = cg_xcalloc(1, schema->size);
    cg_model_decode(&ctx, schema, root, obj);
    if (ctx.nerrors) {
        cg_model_schema_free(schema, obj);
        free(obj);
        return ctx.nerrors;
    }
    cg_resource_set_t *rs = l->rs;
    switch (kind) {
    case CG_KIND_CLUSTER:
        rs->clusters = cg_xrealloc(rs->clusters, (rs->nclusters + 1) * sizeof(*rs->clusters));
        memcpy(&rs->clusters[rs->nclusters++], obj, sizeof(*rs->clusters));
        break;
    case CG_KIND_SERVICE:
        rs->services = cg_xrealloc(rs->services, (rs->nservices + 1) * sizeof(*rs->services));
        memcpy(&rs->services[rs->nservices++], obj, sizeof(*rs->services));
        break;
    case CG_KIND_GATEWAY:
        rs->gateways = cg_xrealloc(rs->gateways, (rs->ngateways + 1) * sizeof(*rs->gateways));
        memcpy(&rs->gateways[rs->ngateways++], obj, sizeof(*rs->gateways));
        break;
    case CG_KIND_SECRET:
        rs->secrets = cg_xrealloc(rs->secrets, (rs->nsecrets + 1) * sizeof(*rs->secrets));
        memcpy(&rs->secrets[rs->nsecrets++], obj, sizeof(*rs->secrets));
        break;
    case CG_KIND_WORKSPACE_SETTING:
        rs->workspace_settings =
            cg_xrealloc(rs->workspace_settings,
                        (rs->nworkspace_settings + 1) * sizeof(*rs->workspace_settings));
        memcpy(&rs->workspace_settings[rs->nworkspace_settings++], obj,
               sizeof(*rs->workspace_settings));
        break;
    }
    free(obj);
    return 0;
}

static void load_text(loader_t *l, const char *name, const char *data, size_t len)
{
    const char *file = intern_file(l->rs, name);
    cg_ystream_t st = {0};
    if (cg_model_yaml_parse(file, data, len, ends_with(name, ".json"), &st, l->errors) != 0)
        l->nparse++;
    for (size_t i = 0; i < st.ndocs; i++)
        if (load_document(l, file, &st.docs[i]) != 0) l->nparse++;
    cg_ystream_free(&st);
}

static void io_error(loader_t *l, const char *path, const char *what, int e)
{
    cg_buf_printf(l->errors, "%s: %s: %s\n", path, what, strerror(e));
    if (l->io_err == 0) l->io_err = e == ENOENT ? CG_ENOENT : CG_EIO;
}

/* Reads fd to its end, or past max bytes: 0, -1 past max, or read's errno. */
static int read_all(int fd, cg_buf_t *b, size_t max)
{
    for (;;) {
        if (cg_buf_reserve(b, 65536) != 0) abort();
        ssize_t n = read(fd, b->base + b->len, b->cap - b->len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return errno;
        if (n == 0) return 0;
        b->len += (size_t)n;
        if (b->len > max) return -1;
    }
}

static void load_file(loader_t *l, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        io_error(l, path, "cannot open", errno);
        return;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        io_error(l, path, "cannot stat", errno);
        close(fd);
        return;
    }
    if (st.st_size > (off_t)MAX_FILE_SIZE) {
        cg_buf_printf(l->errors, "%s: file larger than %u MiB\n", path, MAX_FILE_SIZE >> 20);
        l->nparse++;
        close(fd);
        return;
    }
    cg_buf_t b = {0};
    int e = read_all(fd, &b, MAX_FILE_SIZE);
    close(fd);
    if (e > 0) {
        io_error(l, path, "cannot read", e);
        cg_buf_free(&b);
        return;
    }
    load_text(l, path, cg_buf_data(&b), cg_buf_size(&b));
    cg_buf_free(&b);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int cg_model_dir_files(const char *dir, cg_model_paths_t *out)
{
    DIR *d = opendir(dir);
    if (d == NULL) return errno;
    cg_model_paths_t names = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue; /* hidden files, editor leftovers */
        if (!ends_with(e->d_name, ".yaml") && !ends_with(e->d_name, ".yml") &&
            !ends_with(e->d_name, ".json"))
            continue;
        cg_vec_push(&names, cg_xstrdup(e->d_name));
    }
    closedir(d);
    if (names.len) qsort(names.items, names.len, sizeof(char *), cmp_str);
    size_t plen = strlen(dir);
    int slash = plen > 0 && dir[plen - 1] == '/';
    for (size_t i = 0; i < names.len; i++) {
        cg_buf_t p = {0};
        cg_buf_printf(&p, "%s%s%s%c", dir, slash ? "" : "/", names.items[i], 0);
        struct stat st;
        if (stat(p.base, &st) == 0 && S_ISREG(st.st_mode)) cg_vec_push(out, cg_xstrdup(p.base));
        cg_buf_free(&p);
    }
    cg_model_paths_free(&names);
    return 0;
}

void cg_model_paths_free(cg_model_paths_t *p)
{
    for (size_t i = 0; i < p->len; i++) free(p->items[i]);
    cg_vec_free(p);
}

static void load_dir(loader_t *l, const char *path)
{
    cg_model_paths_t files = {0};
    int e = cg_model_dir_files(path, &files);
    if (e) io_error(l, path, "cannot open directory", e);
    for (size_t i = 0; i < files.len; i++) load_file(l, files.items[i]);
    cg_model_paths_free(&files);
}

static int streq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a && b && strcmp(a, b) == 0);
}

/* The identity of a resource: kind, metadata.cluster, metadata.namespace, metadata.name. */
static const cg_model_meta_t *meta_at(const cg_resource_set_t *rs, cg_model_kind_t k, size_t i)
{
    if (k == CG_KIND_CLUSTER) return &rs->clusters[i].metadata;
    if (k == CG_KIND_SERVICE) return &rs->services[i].metadata;
    if (k == CG_KIND_SECRET) return &rs->secrets[i].metadata;
    if (k == CG_KIND_WORKSPACE_SETTING) return &rs->workspace_settings[i].metadata;
    return &rs->gateways[i].metadata;
}

static int check_duplicates(loader_t *l)
{
    const cg_resource_set_t *rs = l->rs;
    const size_t counts[] = {rs->nclusters, rs->nservices, rs->ngateways, rs->nsecrets,
                             rs->nworkspace_settings};
    int bad = 0;
    for (int k = CG_KIND_CLUSTER; k <= CG_KIND_WORKSPACE_SETTING; k++) {
        for (size_t i = 0; i < counts[k]; i++) {
            const cg_model_meta_t *m = meta_at(rs, (cg_model_kind_t)k, i);
            for (size_t j = 0; j < i; j++) {
                const cg_model_meta_t *o = meta_at(rs, (cg_model_kind_t)k, j);
                if (!streq(m->name, o->name) || !streq(m->namespace_, o->namespace_) ||
                    !streq(m->cluster, o->cluster))
                    continue;
                cg_buf_printf(l->errors,
                              "%s:%d:%d: metadata.name: duplicate %s %s%s%s%s%s (first defined at "
                              "%s:%d:%d)\n",
                              m->pos.file, m->pos.line, m->pos.col,
                              cg_model_kind_name((cg_model_kind_t)k),
                              m->namespace_ ? m->namespace_ : "", m->namespace_ ? "/" : "", m->name,
                              m->cluster ? " in cluster " : "", m->cluster ? m->cluster : "",
                              o->pos.file, o->pos.line, o->pos.col);
                bad++;
                break;
            }
        }
    }
    return bad;
}

static int finish(loader_t *l, cg_resource_set_t **out)
{
    if (l->nparse == 0) l->nparse += check_duplicates(l);
    if (l->nparse || l->io_err) {
        cg_model_free(l->rs);
        return l->nparse ? CG_EPARSE : l->io_err;
    }
    *out = l->rs;
    return 0;
}

int cg_model_load_paths(const char *const *paths, size_t npaths, cg_resource_set_t **out,
                        cg_buf_t *errors)
{
    loader_t l = {.rs = cg_xcalloc(1, sizeof(cg_resource_set_t)), .errors = errors};
    for (size_t i = 0; i < npaths; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0)
            io_error(&l, paths[i], "cannot open", errno);
        else if (S_ISDIR(st.st_mode))
            load_dir(&l, paths[i]);
        else
            load_file(&l, paths[i]);
    }
    return finish(&l, out);
}

int cg_model_load_buffer(const char *name, const char *data, size_t len, cg_resource_set_t **out,
                         cg_buf_t *errors)
{
    loader_t l = {.rs = cg_xcalloc(1, sizeof(cg_resource_set_t)), .errors = errors};
    load_text(&l, name, data, len);
    return finish(&l, out);
}

void cg_model_free(cg_resource_set_t *rs)
{
    if (rs == NULL) return;
    cg_model_kind_t k;
    const cg_model_schema_t *cs = cg_model_schema_for("crossgate/v1", "Cluster", &k);
    const cg_model_schema_t *ss = cg_model_schema_for("crossgate/v1", "Service", &k);
    const cg_model_schema_t *gs = cg_model_schema_for("crossgate/v1", "Gateway", &k);
    for (size_t i = 0; i < rs->nclusters; i++) cg_model_schema_free(cs, &rs->clusters[i]);
    for (size_t i = 0; i < rs->nservices; i++) cg_model_schema_free(ss, &rs->services[i]);
    for (size_t i = 0; i < rs->ngateways; i++) {
        for (size_t h = 0; h < rs->gateways[i].spec.nhttp; h++)
            if (rs->gateways[i].spec.http[h].tls) free(rs->gateways[i].spec.http[h].tls->warning);
        cg_model_schema_free(gs, &rs->gateways[i]);
    }
    for (size_t i = 0; i < rs->nsecrets; i++) cg_model_secret_free(&rs->secrets[i]);
    free(rs->secrets);
    const cg_model_schema_t *ws =
        cg_model_schema_for("api.tsb.tetrate.io/v2", "WorkspaceSetting", &k);
    for (size_t i = 0; i < rs->nworkspace_settings; i++)
        cg_model_schema_free(ws, &rs->workspace_settings[i]);
    free(rs->workspace_settings);
    for (size_t i = 0; i < rs->nfiles; i++) free(rs->files[i]);
    free(rs->clusters);
    free(rs->services);
    free(rs->gateways);
    free(rs->files);
    free(rs);
}

const cg_model_cluster_t *cg_model_find_cluster(const cg_resource_set_t *rs, const char *name)
{
    for (size_t i = 0; i < rs->nclusters; i++)
        if (strcmp(rs->clusters[i].metadata.name, name) == 0) return &rs->clusters[i];
    return NULL;
}

const cg_model_secret_t *cg_model_find_secret(const cg_resource_set_t *rs, const char *namespace_,
                                              const char *name)
{
    for (size_t i = 0; i < rs->nsecrets; i++) {
        const cg_model_meta_t *m = &rs->secrets[i].metadata;
        if (strcmp(m->name, name) == 0 && streq(m->namespace_, namespace_)) return &rs->secrets[i];
    }
    return NULL;
}

/* ---- TLS files (static mode) ---- */

/* Reads a whole small file as text; NULL with the reason in err. */
static char *read_small(const char *path, size_t *len, cg_buf_t *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        cg_buf_printf(err, "cannot open %s: %s", path, strerror(errno));
        return NULL;
    }
    cg_buf_t b = {0};
    int e = read_all(fd, &b, 1u << 20);
    close(fd);
    if (e != 0) {
        if (e > 0)
            cg_buf_printf(err, "cannot read %s: %s", path, strerror(e));
        else
            cg_buf_printf(err, "%s is larger than 1 MiB", path);
        cg_buf_free(&b);
        return NULL;
    }
    *len = b.len;
    cg_buf_append(&b, "", 1);
    return b.base;
}

typedef struct tls_file {
    const char *field, *path;
    cg_model_pos_t pos;
    char *text;
    size_t len;
} tls_file_t;

static void file_error(cg_buf_t *errors, const tls_file_t *f, size_t s, const char *msg)
{
    cg_buf_printf(errors, "%s:%d:%d: spec.http[%zu].tls.files.%s: %s\n", f->pos.file, f->pos.line,
                  f->pos.col, s, f->field, msg);
}

static int check_server_files(const cg_model_http_server_t *h, size_t s, cg_buf_t *errors)
{
    const cg_model_tls_files_t *fs = h->tls->files;
    tls_file_t f[3] = {
        {"serverCertificate", fs->server_certificate, fs->cert_pos, NULL, 0},
        {"privateKey", fs->private_key, fs->key_pos, NULL, 0},
        {"caCertificates", fs->ca_certificates, fs->ca_pos, NULL, 0},
    };
    int bad = 0;
    for (int i = 0; i < 3; i++) {
        if (f[i].path == NULL) continue;
        cg_buf_t err = {0};
        f[i].text = read_small(f[i].path, &f[i].len, &err);
        if (f[i].text == NULL) {
            cg_buf_append(&err, "", 1);
            file_error(errors, &f[i], s, cg_buf_data(&err));
            bad++;
        }
        cg_buf_free(&err);
    }
    if (bad == 0) {
        cg_tls_pem_t pem = {f[0].text, f[0].len, f[1].text, f[1].len, f[2].text, f[2].len};
        cg_buf_t err = {0};
        char *warning = NULL;
        if (cg_tls_pem_check(&pem, &warning, &err) != 0) {
            cg_buf_append(&err, "", 1);
            const char *e = cg_buf_data(&err);
            int which = strncmp(e, "key", 3) == 0 ? 1 : strncmp(e, "ca", 2) == 0 ? 2 : 0;
            const char *colon = strchr(e, ':');
            char msg[512];
            snprintf(msg, sizeof(msg), "%s: %s", f[which].path,
                     colon ? colon + 1 + (colon[1] == ' ') : e);
            file_error(errors, &f[which], s, msg);
            bad++;
        }
        cg_buf_free(&err);
        if (warning != NULL) {
            cg_buf_t w = {0};
            cg_buf_printf(&w, "%s:%d:%d: spec.http[%zu].tls.files.serverCertificate: %s: %s%c",
                          f[0].pos.file, f[0].pos.line, f[0].pos.col, s, f[0].path, warning, 0);
            free(h->tls->warning);
            h->tls->warning = cg_xstrdup(cg_buf_data(&w));
            cg_buf_free(&w);
            free(warning);
        }
    }
    for (int i = 0; i < 3; i++) free(f[i].text);
    return bad;
}

int cg_model_check_files(cg_resource_set_t *rs, cg_buf_t *errors)
{
    int bad = 0;
    for (size_t g = 0; g < rs->ngateways; g++)
        for (size_t s = 0; s < rs->gateways[g].spec.nhttp; s++) {
            const cg_model_http_server_t *h = &rs->gateways[g].spec.http[s];
            if (cg_model_http_is_tls(h) && h->tls->files) bad += check_server_files(h, s, errors);
        }
    return bad ? CG_EPARSE : 0;
}
