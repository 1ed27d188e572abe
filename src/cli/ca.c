/* `crossgate ca init|issue`: a mesh CA in a directory, and the gateway identities it signs. */
#include "cli/cli.h"
#include "cli/ctl.h"
#include "cli/flags.h"
#include "core/buf.h"
#include "core/list.h"
#include "tls/tls.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char usage[] =
    "usage: crossgate ca init --dir DIR [--name NAME] [--days N]\n"
    "       crossgate ca issue --dir DIR --cluster C --namespace N [--dns NAME]... [--days N]\n"
    "                          --out PREFIX\n"
    "\n"
    "init makes a mesh CA (ECDSA P-256): DIR/ca.crt and DIR/ca.key (mode 0600). It refuses to\n"
    "replace an existing CA. Default name \"crossgate mesh CA\", 3650 days.\n"
    "issue signs a gateway identity with the CA in DIR: PREFIX.crt and PREFIX.key (0600), with\n"
    "the URI SAN spiffe://crossgate/ns/N/cluster/C, each --dns as a DNS SAN, and both server and\n"
    "client use. Default 365 days.\n";

#define PROG "crossgate ca"

/* A cluster or namespace name as the resources allow it: [a-z0-9-], 1..63, no leading '-'. */
static int name_ok(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 63 && s[0] != '-' &&
           strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/* Writes data to path.tmp (mode), to be renamed into place by commit(). */
static int stage(const char *path, const cg_buf_t *data, mode_t mode, char *tmp, size_t cap)
{
    snprintf(tmp, cap, "%s.tmp", path);
    /* a file of ours, made now: a leftover (or someone else's) tmp is removed, never reused, so
     * no descriptor opened earlier can read the key; the mode is set before any byte goes in */
    if (unlink(tmp) != 0 && errno != ENOENT) {
        fprintf(stderr, PROG ": cannot replace %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
    if (fd < 0) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", tmp, strerror(errno));
        return 1;
    }
    int ok = fchmod(fd, mode) == 0;
    ssize_t w = ok ? write(fd, cg_buf_data(data), cg_buf_size(data)) : -1;
    ok = ok && w == (ssize_t)cg_buf_size(data) && fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0) ok = 0;
    if (!ok) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", tmp, strerror(e));
        unlink(tmp);
        return 1;
    }
    return 0;
}

/* The certificate and key as path_crt / path_key: both staged first, then renamed, so a failure
 * leaves neither half. */
static int write_pair(const char *path_crt, const char *path_key, const cg_buf_t *crt,
                      const cg_buf_t *key)
{
    char tmp_crt[4200], tmp_key[4200];
    if (stage(path_key, key, 0600, tmp_key, sizeof(tmp_key))) return 1;
    if (stage(path_crt, crt, 0644, tmp_crt, sizeof(tmp_crt))) {
        unlink(tmp_key);
        return 1;
    }
    if (rename(tmp_key, path_key) != 0) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", path_key, strerror(errno));
        unlink(tmp_key);
        unlink(tmp_crt);
        return 1;
    }
    if (rename(tmp_crt, path_crt) != 0) {
        fprintf(stderr, PROG ": cannot write %s: %s\n", path_crt, strerror(errno));
        unlink(tmp_crt);
        unlink(path_key);
        return 1;
    }
    return 0;
}

static int paths(char *crt, char *key, size_t cap, const char *base, const char *suffix)
{
    if ((size_t)snprintf(crt, cap, "%s%s.crt", base, suffix) >= cap ||
        (size_t)snprintf(key, cap, "%s%s.key", base, suffix) >= cap) {
        fprintf(stderr, PROG ": path too long: %s\n", base);
        return 1;
    }
    return 0;
}

static int ca_init(const char *dir, const char *name, int days)
{
    char crt[4096], key[4096];
    cg_buf_t c = {0}, k = {0}, err = {0};
    int rc = 2;
    struct stat st;
    if (paths(crt, key, sizeof(crt), dir, "/ca")) goto Exit;
    /* a new CA directory is made private (it will hold the CA key); an existing one is used */
    if (stat(dir, &st) != 0 && errno == ENOENT && mkdir(dir, 0700) != 0) {
        fprintf(stderr, PROG ": cannot create --dir %s: %s\n", dir, strerror(errno));
        goto Exit;
    }
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        fprintf(stderr, PROG ": --dir %s is not a directory\n", dir);
        goto Exit;
    }
    if (access(crt, F_OK) == 0 || access(key, F_OK) == 0) {
        fprintf(stderr, PROG ": %s already holds a CA; refusing to replace it\n", dir);
        goto Exit;
    }
    if (cg_tls_ca_create(name, days, &c, &k, &err)) {
        fprintf(stderr, PROG ": %.*s\n", (int)cg_buf_size(&err), cg_buf_data(&err));
        goto Exit;
    }
    if (write_pair(crt, key, &c, &k)) goto Exit;
    printf("wrote %s and %s\n", crt, key);
    rc = 0;
Exit:
    cg_buf_free(&c);
    cg_buf_free(&k);
    cg_buf_free(&err);
    return rc;
}

typedef CG_VEC(const char *) names_t;

static int ca_issue(const char *dir, const char *cluster, const char *ns, const names_t *dns,
                    int days, const char *out)
{
    char ca_crt[4096], ca_key[4096], crt[4096], key[4096], uri[200];
    cg_cli_ctl_t ctl = {.prog = PROG};
    cg_buf_t cc = {0}, ck = {0}, c = {0}, k = {0}, err = {0};
    int rc = 2;
    if (!name_ok(cluster) || !name_ok(ns)) {
        fprintf(stderr, PROG ": --%s wants a name of [a-z0-9-] (1..63), got \"%s\"\n",
                name_ok(cluster) ? "namespace" : "cluster", name_ok(cluster) ? ns : cluster);
        goto Exit;
    }
    if (paths(ca_crt, ca_key, sizeof(ca_crt), dir, "/ca") || paths(crt, key, sizeof(crt), out, ""))
        goto Exit;
    if (cg_cli_ctl_read_file(&ctl, ca_crt, &cc) || cg_cli_ctl_read_file(&ctl, ca_key, &ck) ||
        cg_buf_append(&cc, "", 1) || cg_buf_append(&ck, "", 1))
        goto Exit;
    snprintf(uri, sizeof(uri), CG_TLS_MESH_URI, ns, cluster);
    const char *uris[] = {uri};
    cg_tls_issue_t req = {.common_name = cluster,
                          .dns = dns->items,
                          .ndns = dns->len,
                          .uris = uris,
                          .nuris = 1,
                          .days = days};
    if (cg_tls_ca_issue(cg_buf_data(&cc), cg_buf_data(&ck), &req, &c, &k, &err)) {
        fprintf(stderr, PROG ": %.*s\n", (int)cg_buf_size(&err), cg_buf_data(&err));
        goto Exit;
    }
    if (write_pair(crt, key, &c, &k)) goto Exit;
    printf("wrote %s and %s (%s)\n", crt, key, uri);
    rc = 0;
Exit:
    cg_buf_free(&cc);
    cg_buf_free(&ck);
    cg_buf_free(&c);
    cg_buf_free(&k);
    cg_buf_free(&err);
    return rc;
}

int cg_cli_ca(int argc, char **argv)
{
    static const struct option opts[] = {
        {"dir", required_argument, 0, 'd'},
        {"name", required_argument, 0, 'n'},
        {"days", required_argument, 0, 'D'},
        {"cluster", required_argument, 0, 'c'},
        {"namespace", required_argument, 0, 'N'},
        {"dns", required_argument, 0, 's'},
        {"out", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    const char *dir = NULL, *name = NULL, *cluster = NULL, *ns = NULL, *out = NULL;
    int64_t days = 0;
    names_t dns = {0};
    int c, rc = 2;
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        fputs(usage, stdout);
        return 0;
    }
    if (argc < 2 || (strcmp(argv[1], "init") != 0 && strcmp(argv[1], "issue") != 0)) {
        fputs(usage, stderr);
        return 2;
    }
    const char *verb = argv[1];
    int init = !strcmp(verb, "init");
    optind = 1;
    while ((c = getopt_long(argc - 1, argv + 1, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': dir = optarg; break;
        case 'n': name = optarg; break;
        case 'D':
            if (cg_cli_flag_count("ca", "--days", optarg, 1, 36500, &days)) goto Exit;
            break;
        case 'c': cluster = optarg; break;
        case 'N': ns = optarg; break;
        case 's': cg_vec_push(&dns, optarg); break;
        case 'o': out = optarg; break;
        case 'h':
            fputs(usage, stdout);
            rc = 0;
            goto Exit;
        default: fputs(usage, stderr); goto Exit;
        }
    }
    if (optind < argc - 1) {
        fprintf(stderr, PROG " %s: unexpected argument \"%s\"\n", verb, argv[optind + 1]);
        goto Exit;
    }
    const char *missing = !dir       ? "--dir"
                          : init     ? NULL
                          : !cluster ? "--cluster"
                          : !ns      ? "--namespace"
                          : !out     ? "--out"
                                     : NULL;
    const char *stray = init ? (cluster   ? "--cluster"
                                : ns      ? "--namespace"
                                : out     ? "--out"
                                : dns.len ? "--dns"
                                          : NULL)
                             : (name ? "--name" : NULL);
    if (missing || stray) {
        fprintf(stderr, PROG " %s: %s %s\n", verb, missing ? missing : stray,
                missing ? "is required" : "does not apply here");
        goto Exit;
    }
    if (init)
        rc = ca_init(dir, name ? name : "crossgate mesh CA", days ? (int)days : 3650);
    else
        rc = ca_issue(dir, cluster, ns, &dns, days ? (int)days : 365, out);
Exit:
    cg_vec_free(&dns);
    return rc;
}
