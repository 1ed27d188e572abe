/* The results document, written and read in one place (results.h). */
#include "control/results.h"

#include "core/err.h"
#include "core/json.h"

#include <stdlib.h>
#include <string.h>

static const char *const action_names[] = {
    [CG_CONTROL_CREATED] = "created",     [CG_CONTROL_CONFIGURED] = "configured",
    [CG_CONTROL_UNCHANGED] = "unchanged", [CG_CONTROL_DELETED] = "deleted",
    [CG_CONTROL_NOT_FOUND] = "not found",
};

static const cg_model_kind_t kinds[] = {CG_KIND_CLUSTER, CG_KIND_SERVICE, CG_KIND_GATEWAY,
                                        CG_KIND_SECRET, CG_KIND_WORKSPACE_SETTING};

const char *cg_control_action_name(cg_control_action_t a)
{
    return (size_t)a < CG_ARRAY_SIZE(action_names) ? action_names[a] : "not found";
}

void cg_control_results_free(cg_control_results_t *r)
{
    for (size_t i = 0; i < r->len; i++) {
        free(r->items[i].cluster);
        free(r->items[i].namespace_);
        free(r->items[i].name);
    }
    cg_vec_free(r);
}

void cg_control_results_doc_clear(cg_control_results_doc_t *d)
{
    cg_control_results_free(&d->results);
    for (size_t i = 0; i < d->warnings.len; i++) free(d->warnings.items[i]);
    cg_vec_free(&d->warnings);
    memset(d, 0, sizeof(*d));
}

void cg_control_identity_json(cg_jw_t *w, cg_model_kind_t kind, const char *name, const char *ns,
                              const char *cluster)
{
    cg_jw_kstr(w, "kind", cg_model_kind_name(kind));
    cg_jw_kstr(w, "name", name ? name : "");
    cg_jw_kstr(w, "namespace", ns ? ns : "");
    cg_jw_kstr(w, "cluster", cluster ? cluster : "");
}

int cg_control_results_encode(const cg_control_results_doc_t *d, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_karr(&w, "results");
    for (size_t i = 0; i < d->results.len; i++) {
        const cg_control_result_t *x = &d->results.items[i];
        cg_jw_obj(&w);
        cg_control_identity_json(&w, x->kind, x->name, x->namespace_, x->cluster);
        cg_jw_kstr(&w, "action", cg_control_action_name(x->action));
        cg_jw_ku64(&w, "version", x->version);
        cg_jw_end(&w);
    }
    cg_jw_end(&w);
    cg_jw_ku64(&w, "revision", d->revision);
    cg_jw_karr(&w, "warnings");
    for (size_t i = 0; i < d->warnings.len; i++) cg_jw_str(&w, d->warnings.items[i]);
    cg_jw_end(&w);
    cg_jw_end(&w);
    return w.failed ? CG_ENOMEM : 0;
}

/* A required string member naming one of n names; its index, or -1 (failure recorded). */
static int dec_enum(cg_json_dec_t *dec, const cg_json_t *obj, const char *key,
                    const char *(*name)(size_t), size_t n)
{
    char *s = cg_json_dec_str(dec, obj, key, 1);
    int found = -1;
    for (size_t i = 0; s && i < n && found < 0; i++)
        if (!strcmp(s, name(i))) found = (int)i;
    if (s && found < 0) cg_json_dec_fail(dec, key, "unknown value");
    free(s);
    return found;
}

static const char *kind_at(size_t i)
{
    return cg_model_kind_name(kinds[i]);
}

static const char *action_at(size_t i)
{
    return action_names[i];
}

static void dec_result(cg_json_dec_t *dec, const cg_json_t *v, cg_control_result_t *r)
{
    if (cg_json_type(v) != CG_JSON_OBJECT) {
        cg_json_dec_fail(dec, "results", "expected a list of objects");
        return;
    }
    int k = dec_enum(dec, v, "kind", kind_at, CG_ARRAY_SIZE(kinds));
    int a = dec_enum(dec, v, "action", action_at, CG_ARRAY_SIZE(action_names));
    r->kind = k >= 0 ? kinds[k] : CG_KIND_CLUSTER;
    r->action = a >= 0 ? (cg_control_action_t)a : CG_CONTROL_NOT_FOUND;
    r->name = cg_json_dec_str(dec, v, "name", 1);
    r->namespace_ = cg_json_dec_str(dec, v, "namespace", 1);
    r->cluster = cg_json_dec_str(dec, v, "cluster", 1);
    r->version = cg_json_dec_u64(dec, v, "version", UINT64_MAX, 0);
}

int cg_control_results_decode(const char *body, size_t len, cg_control_results_doc_t *d,
                              cg_buf_t *err)
{
    memset(d, 0, sizeof(*d));
    cg_json_t *doc = cg_json_parse("results", body, len, err);
    if (doc == NULL) return CG_EINVAL;
    cg_json_dec_t dec = {.what = "results", .errors = err};
    if (cg_json_type(doc) != CG_JSON_OBJECT) cg_json_dec_fail(&dec, "", "expected an object");
    const cg_json_t *list = cg_json_dec_list(&dec, doc, "results");
    if (!dec.failed && !list) cg_json_dec_fail(&dec, "results", "missing");
    for (size_t i = 0; !dec.failed && i < cg_json_len(list); i++) {
        cg_control_result_t r = {0};
        dec_result(&dec, cg_json_at(list, i), &r);
        cg_vec_push(&d->results, r); /* also when failed: freed with the rest */
    }
    d->revision = cg_json_dec_u64(&dec, doc, "revision", UINT64_MAX, 0);
    const cg_json_t *w = cg_json_dec_list(&dec, doc, "warnings");
    for (size_t i = 0; !dec.failed && i < cg_json_len(w); i++) {
        const char *s = cg_json_string(cg_json_at(w, i), NULL);
        if (!s)
            cg_json_dec_fail(&dec, "warnings", "expected a list of strings");
        else
            cg_vec_push(&d->warnings, cg_xstrdup(s));
    }
    cg_json_free(doc);
    if (dec.failed) {
        cg_control_results_doc_clear(d);
        return CG_EINVAL;
    }
    return 0;
}
