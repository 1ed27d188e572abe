/* The translate layer's hash table and by-name runs (index.h says what they are for). */
#include "translate/index.h"

#include "core/list.h"

#include <stdlib.h>
#include <string.h>

void cg_translate__htab_add(cg_translate__htab_t *t, uint64_t h, size_t entry)
{
    if (2 * (t->len + 1) > t->cap) {
        cg_translate__htab_t n = {.cap = t->cap ? 2 * t->cap : 16};
        n.hashes = cg_xcalloc(n.cap, sizeof(*n.hashes));
        n.entries = cg_xcalloc(n.cap, sizeof(*n.entries));
        for (size_t i = 0; i < t->cap; i++)
            if (t->hashes[i]) cg_translate__htab_add(&n, t->hashes[i], t->entries[i]);
        free(t->hashes);
        free(t->entries);
        *t = n;
    }
    h = h ? h : 1;
    size_t i = h & (t->cap - 1);
    while (t->hashes[i]) i = (i + 1) & (t->cap - 1);
    t->hashes[i] = h;
    t->entries[i] = entry;
    t->len++;
}

int cg_translate__htab_next(const cg_translate__htab_t *t, uint64_t h, size_t *slot, size_t *entry)
{
    if (t->cap == 0) return 0;
    h = h ? h : 1;
    size_t mask = t->cap - 1;
    for (size_t i = *slot == SIZE_MAX ? h & mask : (*slot + 1) & mask; t->hashes[i];
         i = (i + 1) & mask) {
        if (t->hashes[i] == h) {
            *slot = i;
            *entry = t->entries[i];
            return 1;
        }
    }
    return 0;
}

void cg_translate__htab_free(cg_translate__htab_t *t)
{
    free(t->hashes);
    free(t->entries);
    memset(t, 0, sizeof(*t));
}

int cg_translate__by_name_order(const void *a, const void *b)
{
    const cg_translate__by_name_t *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    return c ? c : (x->index > y->index) - (x->index < y->index);
}

size_t cg_translate__by_name_run(const cg_translate__by_name_t *v, size_t n, const char *name,
                                 size_t *first)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(v[mid].name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = lo;
    while (lo < n && strcmp(v[lo].name, name) == 0) lo++;
    return lo;
}
