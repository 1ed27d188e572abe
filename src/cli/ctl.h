/* What the control-plane commands (apply, delete, get, status) share: the control plane's URL
 * and token, requests with one clear error line, JSON answers, file lists and tables. */
#ifndef CG_CLI_CTL_H
#define CG_CLI_CTL_H

#include "agent/agent.h"
#include "core/buf.h"
#include "core/list.h"
#include "http/client.h"
#include "model/model.h"

#include <stddef.h>

#define CG_CLI_DEFAULT_CONTROL "http://127.0.0.1:7070"

typedef struct cg_cli_ctl {
    const char *prog; /* "crossgate apply", for messages */
    /* --control, else $CROSSGATE_CONTROL, else the default: one URL or several "URL1,URL2"
     * (no trailing '/'); url is the first, for messages */
    cg_agent_urls_t urls;
    const char *url;
    const char *token; /* see cg_cli_token */
} cg_cli_ctl_t;

/* The control-plane credential: token_file's line when given; else $CROSSGATE_TOKEN; else
 * the file $CROSSGATE_TOKEN_FILE names; else $XDG_CONFIG_HOME/crossgate/token (or
 * ~/.config/crossgate/token). NULL when none. */
const char *cg_cli_credential(const char *token_file);

/* Sets the URL from flag (may be NULL) and the environment. Returns 0, or 2 after printing why
 * the URL is unusable. */
int cg_cli_ctl_init(cg_cli_ctl_t *c, const char *prog, const char *flag);
/* Performs a request to the control plane (path starts with '/'). extra: more header lines or
 * NULL. With several URLs, one that refuses the connection (the request was not sent) is
 * followed by the next; a GET moves on after any failure, within 5 s when another URL is
 * left. Returns 0 when an answer came (any status), else prints one line per control plane
 * tried and returns 1. */
int cg_cli_ctl_call(const cg_cli_ctl_t *c, const char *method, const char *path, const char *extra,
                    const char *body, size_t len, cg_http_result_t *res);
/* Prints the answer of a failed request: the server's text lines (validation errors as they
 * are), or one line naming the status. Returns 1. */
int cg_cli_ctl_fail(const cg_cli_ctl_t *c, const cg_http_result_t *res);

/* Reads a results document (control/results.h) and prints the "kind/name action" line of each
 * result (stdout; stderr for the action bad_action, counted in *nbad) and its warnings.
 * Returns 1, after one line on stderr, when the answer is not a results document. */
int cg_cli_ctl_print_results(const cg_cli_ctl_t *c, const cg_http_result_t *res,
                             const char *bad_action, int *nbad);
/* A request answered by a results document (apply, delete): sends it (filename, when not
 * NULL, goes in x-crossgate-filename for the positions of errors) and prints the answer with
 * cg_cli_ctl_print_results, or the failure with cg_cli_ctl_fail. Returns 0 when results were
 * printed, else 1. */
int cg_cli_ctl_results(const cg_cli_ctl_t *c, const char *method, const char *path,
                       const char *filename, const char *body, size_t len, const char *bad_action,
                       int *nbad);

/* Expands files and directories (a directory: its resource files, cg_model_dir_files) into
 * files. Prints one line and returns 1 on a bad path. */
int cg_cli_ctl_expand(const cg_cli_ctl_t *c, char *const *paths, size_t n, cg_model_paths_t *out);
/* Reads a whole file; prints one line and returns 1 on failure. */
int cg_cli_ctl_read_file(const cg_cli_ctl_t *c, const char *path, cg_buf_t *out);

/* Percent-encodes s for a URL path segment or query value. */
void cg_cli_url_escape(cg_buf_t *b, const char *s);
/* "gateway" for "Gateway". */
void cg_cli_kind_lower(const char *kind, char *out, size_t cap);

/* A text table: rows of cells, columns padded to their widest cell. */
typedef struct cg_cli_table {
    CG_VEC(char *) cells;
    size_t ncols;
} cg_cli_table_t;
void cg_cli_table_init(cg_cli_table_t *t, size_t ncols);
/* Adds one cell (copied; NULL prints as "-"); rows fill left to right. */
void cg_cli_table_add(cg_cli_table_t *t, const char *cell);
void cg_cli_table_addf(cg_cli_table_t *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints with `indent` spaces before each row, then frees. */
void cg_cli_table_print(cg_cli_table_t *t, int indent);

#endif
