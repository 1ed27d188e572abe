/* Loading resource files (YAML or JSON, several documents each) into a validated set. */
#ifndef CG_MODEL_MODEL_H
#define CG_MODEL_MODEL_H

#include "core/buf.h"
#include "core/list.h"
#include "model/resource.h"

#include <stddef.h>

/* Resources parsed from files, in the order they were read. Owns everything it points to,
 * including the file names every cg_model_pos_t points into. Immutable once loaded. */
typedef struct cg_resource_set {
    cg_model_cluster_t *clusters;
    size_t nclusters;
    cg_model_service_t *services;
    size_t nservices;
    cg_model_gateway_t *gateways;
    size_t ngateways;
    cg_model_secret_t *secrets;
    size_t nsecrets;
    cg_model_workspace_setting_t *workspace_settings;
    size_t nworkspace_settings;
    char **files;
    size_t nfiles;
} cg_resource_set_t;

/* Loads files and directories (a directory: its *.yaml, *.yml and *.json files, sorted by
 * name, not recursive). On any error appends "file:line:col: field.path: message\n" lines
 * to errors, leaves *out untouched and returns CG_EPARSE (invalid content), or CG_ENOENT /
 * CG_EIO when a path cannot be read and nothing else was wrong. */
int cg_model_load_paths(const char *const *paths, size_t npaths, cg_resource_set_t **out,
                        cg_buf_t *errors);
/* The same for one in-memory buffer; name is used in error positions (a name ending in
 * ".json" parses as JSON, anything else as YAML). */
int cg_model_load_buffer(const char *name, const char *data, size_t len, cg_resource_set_t **out,
                         cg_buf_t *errors);
void cg_model_free(cg_resource_set_t *rs);

/* The resource files of a directory, as cg_model_load_paths reads them: its *.yaml, *.yml and
 * *.json entries that are regular files (links followed), dot files skipped, sorted by name
 * (strcmp), not recursive, each "dir/name" (no doubled '/'), appended to out (free with
 * cg_model_paths_free). Returns 0, or opendir's errno with nothing appended. */
typedef CG_VEC(char *) cg_model_paths_t;
int cg_model_dir_files(const char *dir, cg_model_paths_t *out);
void cg_model_paths_free(cg_model_paths_t *p);

/* Lookups; NULL when absent. */
const cg_model_cluster_t *cg_model_find_cluster(const cg_resource_set_t *rs, const char *name);
/* The Secret namespace/name; a NULL namespace matches a Secret without one. */
const cg_model_secret_t *cg_model_find_secret(const cg_resource_set_t *rs, const char *namespace_,
                                              const char *name);

/* Reads the certificate files that the Gateways' http[].tls.files name, on this host (static
 * mode: the gateway that serves them). An unreadable file, a file that is not PEM or a key that
 * does not match its certificate is an error "file:line:col: path: message" at the field; an
 * expired certificate is not: its warning is kept in the tls (cg_model_tls_t.warning) and
 * translation reports it. Returns 0 or CG_EPARSE. */
int cg_model_check_files(cg_resource_set_t *rs, cg_buf_t *errors);

#endif
