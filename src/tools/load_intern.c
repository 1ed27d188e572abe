/* Cluster name interning for `crossgate load` (load_intern.h). */
#include "tools/load_intern.h"

#include <string.h>

void cg_load_clusters_init(cg_load_clusters_t *t)
{
    memset(t, 0, sizeof(*t));
    t->name[CG_LOAD_CLUSTER_MISSING][0] = '-';
    t->len[CG_LOAD_CLUSTER_MISSING] = 1;
    t->n = 1;
}

unsigned cg_load_clusters_intern(cg_load_clusters_t *t, cg_iov_t v)
{
    if (v.len == 0) return CG_LOAD_CLUSTER_MISSING;
    if (v.len >= CG_LOAD_CLUSTER_NAME) v.len = CG_LOAD_CLUSTER_NAME - 1;
    char clean[CG_LOAD_CLUSTER_NAME];
    for (size_t i = 0; i < v.len; i++) {
        unsigned char ch = (unsigned char)v.base[i];
        clean[i] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    v.base = clean;
    for (unsigned i = 1; i < t->n; i++)
        if (t->len[i] == v.len && !memcmp(t->name[i], v.base, v.len)) return i;
    if (t->n == CG_LOAD_MAX_CLUSTERS - 1) {
        memcpy(t->name[t->n], "(other)", 8);
        t->len[t->n] = 7;
        t->n++;
    }
    if (t->n == CG_LOAD_MAX_CLUSTERS) return CG_LOAD_MAX_CLUSTERS - 1;
    memcpy(t->name[t->n], v.base, v.len);
    t->name[t->n][v.len] = '\0';
    t->len[t->n] = (uint8_t)v.len;
    return t->n++;
}

unsigned cg_load_clusters_sorted(const cg_load_clusters_t *t, uint16_t *order)
{
    unsigned n = 0;
    for (unsigned i = 0; i < t->n; i++) {
        unsigned j = n++;
        while (j > 0 && strcmp(t->name[order[j - 1]], t->name[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = (uint16_t)i;
    }
    return n;
}
