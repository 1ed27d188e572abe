/* The /clusters document, encoded and decoded through core/json. */
#include "proxy/clusters_doc.h"

#include "core/err.h"
#include "core/json.h"
#include "core/list.h"

#include <stdlib.h>
#include <string.h>

static const char *const health_names[] = {"healthy", "ejected", "probing", "unhealthy"};
#define NHEALTH (sizeof(health_names) / sizeof(health_names[0]))

const char *cg_clusters_health_name(cg_clusters_health_t h)
{
    return (unsigned)h < NHEALTH ? health_names[h] : "unhealthy";
}

static void encode_dest(cg_jw_t *w, const cg_clusters_dest_t *d)
{
    cg_jw_obj(w);
    cg_jw_kstr(w, "name", d->name);
    cg_jw_kstr(w, "mode", cg_dest_mode_name(d->mode));
    if (d->mode == CG_DEST_WEIGHTED) {
        cg_jw_karr(w, "clusters");
        for (size_t k = 0; k < d->nclusters; k++) {
            cg_jw_obj(w);
            cg_jw_kstr(w, "cluster", d->clusters[k].cluster);
            cg_jw_ku64(w, "weight", d->clusters[k].weight);
            cg_jw_ku64(w, "endpoints", d->clusters[k].endpoints);
            cg_jw_end(w);
        }
    } else {
        cg_jw_karr(w, "priorities");
        for (size_t p = 0; p < d->npriorities; p++) {
            cg_jw_obj(w);
            cg_jw_ku64(w, "priority", d->priorities[p].priority);
            cg_jw_ku64(w, "load_percent", d->priorities[p].load_percent);
            cg_jw_end(w);
        }
    }
    cg_jw_end(w);
    cg_jw_karr(w, "endpoints");
    for (size_t e = 0; e < d->nendpoints; e++) {
        const cg_clusters_endpoint_t *ep = &d->endpoints[e];
        cg_jw_obj(w);
        cg_jw_kstr(w, "address", ep->address);
        cg_jw_kstr(w, "cluster", ep->cluster);
        cg_jw_kstr(w, "region", ep->region);
        cg_jw_ku64(w, "priority", ep->priority);
        cg_jw_kstr(w, "health", cg_clusters_health_name(ep->health));
        cg_jw_ku64(w, "ejections", ep->ejections);
        cg_jw_ku64(w, "weight", ep->weight);
        cg_jw_ku64(w, "requests", ep->requests);
        cg_jw_ku64(w, "errors", ep->errors);
        cg_jw_ku64(w, "connect_failures", ep->connect_failures);
        cg_jw_kstr(w, "identity", ep->identity);
        cg_jw_end(w);
    }
    cg_jw_end(w);
    cg_jw_end(w);
}

int cg_clusters_doc_encode(const cg_clusters_doc_t *d, cg_buf_t *out)
{
    cg_jw_t w = cg_jw(out);
    cg_jw_obj(&w);
    cg_jw_ku64(&w, "version", d->version);
    cg_jw_kstr(&w, "region", d->region);
    cg_jw_karr(&w, "destinations");
    for (size_t i = 0; i < d->ndests; i++) encode_dest(&w, &d->dests[i]);
    cg_jw_end(&w);
    cg_jw_end(&w);
    return w.failed || cg_buf_append(out, "\n", 1) ? CG_ENOMEM : 0;
}

/* ---- decoding ---- */

static uint32_t dec_u32(cg_json_dec_t *dec, const cg_json_t *obj, const char *key)
{
    if (!cg_json_get(obj, key)) cg_json_dec_fail(dec, key, "missing");
    return (uint32_t)cg_json_dec_u64(dec, obj, key, UINT32_MAX, 0);
}

/* Each item of the list obj[key], checked to be an object; *n is the count. */
static void *dec_items(cg_json_dec_t *dec, const cg_json_t *obj, const char *key, size_t size,
                       size_t *n)
{
    const cg_json_t *list = cg_json_dec_list(dec, obj, key);
    *n = 0;
    for (size_t i = 0; i < cg_json_len(list); i++)
        if (cg_json_type(cg_json_at(list, i)) != CG_JSON_OBJECT)
            cg_json_dec_fail(dec, key, "expected objects");
    if (dec->failed || !cg_json_len(list)) return NULL;
    *n = cg_json_len(list);
    return cg_xcalloc(*n, size);
}

static void decode_endpoint(cg_json_dec_t *dec, const cg_json_t *o, cg_clusters_endpoint_t *ep)
{
    ep->address = cg_json_dec_str(dec, o, "address", 1);
    ep->cluster = cg_json_dec_str(dec, o, "cluster", 0);
    ep->region = cg_json_dec_str(dec, o, "region", 0);
    ep->priority = dec_u32(dec, o, "priority");
    const char *h = cg_json_string(cg_json_get(o, "health"), NULL);
    size_t k = 0;
    while (h && k < NHEALTH && strcmp(h, health_names[k])) k++;
    if (!h || k == NHEALTH)
        cg_json_dec_fail(dec, "health", "expected healthy, ejected, probing or unhealthy");
    ep->health = (cg_clusters_health_t)(k < NHEALTH ? k : 0);
    ep->ejections = dec_u32(dec, o, "ejections");
    ep->weight = dec_u32(dec, o, "weight");
    ep->requests = cg_json_dec_u64(dec, o, "requests", UINT64_MAX, 0);
    ep->errors = cg_json_dec_u64(dec, o, "errors", UINT64_MAX, 0);
    ep->connect_failures = cg_json_dec_u64(dec, o, "connect_failures", UINT64_MAX, 0);
    ep->identity = cg_json_dec_str(dec, o, "identity", 0);
}

static void decode_dest(cg_json_dec_t *dec, const cg_json_t *o, cg_clusters_dest_t *d)
{
    d->name = cg_json_dec_str(dec, o, "name", 1);
    if (cg_dest_mode_parse(cg_json_string(cg_json_get(o, "mode"), NULL), &d->mode))
        cg_json_dec_fail(dec, "mode", "expected service, auto, named or weighted");
    if (d->mode == CG_DEST_WEIGHTED) {
        d->clusters = dec_items(dec, o, "clusters", sizeof(*d->clusters), &d->nclusters);
        const cg_json_t *list = cg_json_get(o, "clusters");
        for (size_t k = 0; k < d->nclusters; k++) {
            const cg_json_t *c = cg_json_at(list, k);
            d->clusters[k].cluster = cg_json_dec_str(dec, c, "cluster", 1);
            d->clusters[k].weight = dec_u32(dec, c, "weight");
            d->clusters[k].endpoints = dec_u32(dec, c, "endpoints");
        }
    } else {
        d->priorities = dec_items(dec, o, "priorities", sizeof(*d->priorities), &d->npriorities);
        const cg_json_t *list = cg_json_get(o, "priorities");
        for (size_t p = 0; p < d->npriorities; p++) {
            d->priorities[p].priority = dec_u32(dec, cg_json_at(list, p), "priority");
            d->priorities[p].load_percent = dec_u32(dec, cg_json_at(list, p), "load_percent");
        }
    }
    d->endpoints = dec_items(dec, o, "endpoints", sizeof(*d->endpoints), &d->nendpoints);
    const cg_json_t *list = cg_json_get(o, "endpoints");
    for (size_t e = 0; e < d->nendpoints; e++)
        decode_endpoint(dec, cg_json_at(list, e), &d->endpoints[e]);
}

int cg_clusters_doc_decode(const char *json, size_t len, cg_clusters_doc_t *out, cg_buf_t *errors)
{
    memset(out, 0, sizeof(*out));
    cg_json_t *doc = cg_json_parse("clusters", json, len, errors);
    if (!doc) return CG_EPARSE;
    cg_json_dec_t dec = {.what = "clusters", .errors = errors};
    if (cg_json_type(doc) != CG_JSON_OBJECT)
        cg_json_dec_fail(&dec, "(document)", "expected an object");
    if (!cg_json_get(doc, "version")) cg_json_dec_fail(&dec, "version", "missing");
    out->version = cg_json_dec_u64(&dec, doc, "version", UINT64_MAX, 0);
    out->region = cg_json_dec_str(&dec, doc, "region", 0);
    out->dests = dec_items(&dec, doc, "destinations", sizeof(*out->dests), &out->ndests);
    const cg_json_t *list = cg_json_get(doc, "destinations");
    for (size_t i = 0; i < out->ndests; i++) decode_dest(&dec, cg_json_at(list, i), &out->dests[i]);
    cg_json_free(doc);
    if (dec.failed) {
        cg_clusters_doc_clear(out);
        return CG_EPARSE;
    }
    return 0;
}

void cg_clusters_doc_clear(cg_clusters_doc_t *d)
{
    for (size_t i = 0; i < d->ndests; i++) {
        cg_clusters_dest_t *dst = &d->dests[i];
        free(dst->name);
        for (size_t k = 0; k < dst->nclusters; k++) free(dst->clusters[k].cluster);
        free(dst->clusters);
        free(dst->priorities);
        for (size_t e = 0; e < dst->nendpoints; e++) {
            free(dst->endpoints[e].address);
            free(dst->endpoints[e].cluster);
            free(dst->endpoints[e].region);
            free(dst->endpoints[e].identity);
        }
        free(dst->endpoints);
    }
    free(d->dests);
    free(d->region);
    memset(d, 0, sizeof(*d));
}
