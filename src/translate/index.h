/* Lookup structures translation builds once per snapshot, so that a big edge (1,000 clusters x
 * 100 hostnames: 100,000 endpoints) never compares all pairs of anything: a hash table of entry
 * numbers and a sorted array of entries by name. Internal to the translate layer. */
#ifndef CG_TRANSLATE_INDEX_H
#define CG_TRANSLATE_INDEX_H

#include <stddef.h>
#include <stdint.h>

/* Entry numbers (indexes into the caller's arrays) by a hash the caller computes; the caller
 * compares the keys of the entries a lookup yields. No removal. All-zero is an empty table. */
typedef struct cg_translate__htab {
    uint64_t *hashes; /* 0 = free slot */
    size_t *entries;
    size_t cap, len; /* cap is 0 or a power of two, at least twice len */
} cg_translate__htab_t;

void cg_translate__htab_add(cg_translate__htab_t *t, uint64_t h, size_t entry);
/* The entries added under hash h, one per call; *slot starts at SIZE_MAX. */
int cg_translate__htab_next(const cg_translate__htab_t *t, uint64_t h, size_t *slot, size_t *entry);
void cg_translate__htab_free(cg_translate__htab_t *t);

/* Entries of an array by a name, sorted by name and then index (qsort with
 * cg_translate__by_name_order): all entries of one name are a run, in array order. */
typedef struct cg_translate__by_name {
    const char *name;
    size_t index;
} cg_translate__by_name_t;

int cg_translate__by_name_order(const void *a, const void *b);
/* The run of entries called name: [*first, return value). */
size_t cg_translate__by_name_run(const cg_translate__by_name_t *v, size_t n, const char *name,
                                 size_t *first);

#endif
