/* Shared plumbing of the control-plane commands. */
#include "cli/ctl.h"

#include "control/results.h"
#include "core/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CALL_TIMEOUT_MS 30000
/* A read with another control plane to try after this one: a hung one (stopped, its packets
 * dropped) costs this long, not CALL_TIMEOUT_MS, before the next one answers. */
#define READ_TRY_TIMEOUT_MS 5000
#define MAX_FILE            (16u << 20)

int cg_cli_ctl_init(cg_cli_ctl_t *c, const char *prog, const char *flag)
{
    memset(c, 0, sizeof(*c));
    c->prog = prog;
    const char *u = flag && *flag ? flag : getenv("CROSSGATE_CONTROL");
    if (!u || !*u) u = CG_CLI_DEFAULT_CONTROL;
    cg_buf_t err = {0};
    if (cg_agent_urls_parse(u, &c->urls, &err)) {
        fprintf(stderr, "%s: %.*s\n", prog, (int)err.len, err.base);
        cg_buf_free(&err);
        return 2;
    }
    c->url = c->urls.url[0];
    c->token = cg_cli_credential(NULL);
    return 0;
}

/* One line of a file, trimmed, into a static buffer; NULL if unreadable or empty. */
static const char *token_from_file(const char *path)
{
    static char buf[1100];
    FILE *f = fopen(path, "re");
    if (!f) return NULL;
    char *line = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (!line) return NULL;
    cg_iov_t v = cg_iov_trim(cg_iov_str(buf));
    while (v.len && (v.base[v.len - 1] == '\n' || v.base[v.len - 1] == '\r')) v.len--;
    if (!v.len) return NULL;
    memmove(buf, v.base, v.len);
    buf[v.len] = '\0';
    return buf;
}

const char *cg_cli_credential(const char *token_file)
{
    if (token_file) return token_from_file(token_file);
    const char *t = getenv("CROSSGATE_TOKEN");
    if (t && *t) return t;
    const char *f = getenv("CROSSGATE_TOKEN_FILE");
    if (f && *f) return token_from_file(f);
    char path[4096];
    const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
    if (xdg && *xdg)
        snprintf(path, sizeof(path), "%s/crossgate/token", xdg);
    else if (home && *home)
        snprintf(path, sizeof(path), "%s/.config/crossgate/token", home);
    else
        return NULL;
    return token_from_file(path);
}

int cg_cli_ctl_call(const cg_cli_ctl_t *c, const char *method, const char *path, const char *extra,
                    const char *body, size_t len, cg_http_result_t *res)
{
    cg_buf_t url = {0}, hdr = {0};
    if (c->token) cg_buf_printf(&hdr, "authorization: Bearer %s\r\n", c->token);
    if (extra) cg_buf_append_str(&hdr, extra);
    if (body) cg_buf_append_str(&hdr, "content-type: application/yaml\r\n");
    cg_buf_append(&hdr, "", 1);
    int read = !strcmp(method, "GET");
    for (size_t i = 0; i < c->urls.n; i++) {
        if (i) cg_http_result_free(res);
        cg_buf_reset(&url);
        cg_buf_printf(&url, "%s%s%c", c->urls.url[i], path, 0);
        int more = i + 1 < c->urls.n;
        cg_http_fetch(method, url.base, hdr.base, body, len,
                      read && more ? READ_TRY_TIMEOUT_MS : CALL_TIMEOUT_MS, res);
        if (res->err == 0) break;
        fprintf(stderr, "%s: cannot reach the control plane at %s: %s\n", c->prog, c->urls.url[i],
                cg_strerror(res->err));
        /* a write goes elsewhere only after a refused connection: nothing reached that one,
         * while one that timed out or closed may have applied it. A read may go anywhere. */
        if (res->err != CG_ECONNREFUSED && !read) break;
    }
    cg_buf_free(&url);
    cg_buf_free(&hdr);
    return res->err == 0 ? 0 : 1;
}

int cg_cli_ctl_fail(const cg_cli_ctl_t *c, const cg_http_result_t *res)
{
    cg_iov_t b = cg_iov(res->body.base, res->body.len);
    while (b.len && (b.base[b.len - 1] == '\n' || b.base[b.len - 1] == ' ')) b.len--;
    if ((res->status == 400 || res->status == 409) && b.len) {
        /* validation errors and conflicts: file:line:col lines, printed as static mode prints
         * them */
        fprintf(stderr, "%.*s\n", (int)b.len, b.base);
    } else if (b.len && !memchr(b.base, '\n', b.len) && b.len < 500) {
        fprintf(stderr, "%s: %.*s (HTTP %d)\n", c->prog, (int)b.len, b.base, res->status);
    } else {
        fprintf(stderr, "%s: the control plane answered HTTP %d\n", c->prog, res->status);
    }
    return 1;
}

int cg_cli_ctl_expand(const cg_cli_ctl_t *c, char *const *paths, size_t n, cg_model_paths_t *out)
{
    for (size_t i = 0; i < n; i++) {
        struct stat st;
        if (stat(paths[i], &st) != 0) {
            fprintf(stderr, "%s: cannot open %s: %s\n", c->prog, paths[i], strerror(errno));
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            cg_vec_push(out, cg_xstrdup(paths[i]));
            continue;
        }
        int e = cg_model_dir_files(paths[i], out);
        if (e) {
            fprintf(stderr, "%s: cannot open directory %s: %s\n", c->prog, paths[i], strerror(e));
            return 1;
        }
    }
    return 0;
}

int cg_cli_ctl_read_file(const cg_cli_ctl_t *c, const char *path, cg_buf_t *out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot open %s: %s\n", c->prog, path, strerror(errno));
        return 1;
    }
    for (;;) {
        if (cg_buf_reserve(out, 65536)) abort();
        ssize_t n = read(fd, out->base + out->len, out->cap - out->len);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            fprintf(stderr, "%s: cannot read %s: %s\n", c->prog, path, strerror(errno));
            close(fd);
            return 1;
        }
        if (n == 0) break;
        out->len += (size_t)n;
        if (out->len > MAX_FILE) {
            fprintf(stderr, "%s: %s: file larger than %u MiB\n", c->prog, path, MAX_FILE >> 20);
            close(fd);
            return 1;
        }
    }
    close(fd);
    return 0;
}

void cg_cli_url_escape(cg_buf_t *b, const char *s)
{
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            strchr("-._~", ch))
            cg_buf_append(b, s, 1);
        else
            cg_buf_printf(b, "%%%02X", ch);
    }
}

void cg_cli_kind_lower(const char *kind, char *out, size_t cap)
{
    size_t i = 0;
    for (; kind && kind[i] && i + 1 < cap; i++)
        out[i] = (char)(kind[i] >= 'A' && kind[i] <= 'Z' ? kind[i] + 32 : kind[i]);
    out[i] = '\0';
}

/* ---- tables ---- */

void cg_cli_table_init(cg_cli_table_t *t, size_t ncols)
{
    memset(t, 0, sizeof(*t));
    t->ncols = ncols;
}

void cg_cli_table_add(cg_cli_table_t *t, const char *cell)
{
    cg_vec_push(&t->cells, cg_xstrdup(cell && *cell ? cell : "-"));
}

void cg_cli_table_addf(cg_cli_table_t *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cg_vec_push(&t->cells, cg_xvasprintf(fmt, ap));
    va_end(ap);
}

void cg_cli_table_print(cg_cli_table_t *t, int indent)
{
    size_t w[32] = {0}, nc = t->ncols < 32 ? t->ncols : 32;
    for (size_t i = 0; i < t->cells.len; i++) {
        size_t l = strlen(t->cells.items[i]);
        if (l > w[i % nc]) w[i % nc] = l;
    }
    for (size_t i = 0; i < t->cells.len; i++) {
        size_t col = i % nc;
        if (col == 0) printf("%*s", indent, "");
        int last = col == nc - 1 || i == t->cells.len - 1;
        if (last)
            printf("%s\n", t->cells.items[i]);
        else
            printf("%-*s   ", (int)w[col], t->cells.items[i]);
    }
    for (size_t i = 0; i < t->cells.len; i++) free(t->cells.items[i]);
    cg_vec_free(&t->cells);
}

int cg_cli_ctl_print_results(const cg_cli_ctl_t *c, const cg_http_result_t *res,
                             const char *bad_action, int *nbad)
{
    cg_control_results_doc_t d;
    if (cg_control_results_decode(res->body.base ? res->body.base : "", res->body.len, &d, NULL)) {
        fprintf(stderr, "%s: the control plane's answer is not the JSON expected\n", c->prog);
        return 1;
    }
    for (size_t i = 0; i < d.results.len; i++) {
        const cg_control_result_t *r = &d.results.items[i];
        const char *action = cg_control_action_name(r->action);
        char lower[32];
        cg_cli_kind_lower(cg_model_kind_name(r->kind), lower, sizeof(lower));
        int bad = bad_action && !strcmp(action, bad_action);
        FILE *f = bad ? stderr : stdout;
        fprintf(f, "%s/%s %s", lower, r->name, action);
        if (*r->namespace_ || *r->cluster) {
            fprintf(f, " (");
            if (*r->namespace_)
                fprintf(f, "namespace %s%s", r->namespace_, *r->cluster ? ", " : "");
            if (*r->cluster) fprintf(f, "cluster %s", r->cluster);
            fprintf(f, ")");
        }
        fprintf(f, "\n");
        if (bad) ++*nbad;
    }
    for (size_t i = 0; i < d.warnings.len; i++)
        fprintf(stderr, "warning: %s\n", d.warnings.items[i]);
    cg_control_results_doc_clear(&d);
    return 0;
}

int cg_cli_ctl_results(const cg_cli_ctl_t *c, const char *method, const char *path,
                       const char *filename, const char *body, size_t len, const char *bad_action,
                       int *nbad)
{
    cg_http_result_t res = {0};
    cg_buf_t hdr = {0};
    if (filename) cg_buf_printf(&hdr, "x-crossgate-filename: %s\r\n", filename);
    cg_buf_append(&hdr, "", 1);
    int rc = cg_cli_ctl_call(c, method, path, hdr.base, body, len, &res);
    if (rc == 0 && res.status != 200) rc = cg_cli_ctl_fail(c, &res);
    if (rc == 0) rc = cg_cli_ctl_print_results(c, &res, bad_action, nbad);
    cg_http_result_free(&res);
    cg_buf_free(&hdr);
    return rc;
}
