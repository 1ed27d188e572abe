/* FNV-1a: a small, good-enough hash for the control path's tables (not for untrusted keys
 * on the request path). */
#ifndef CG_CORE_HASH_H
#define CG_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CG_HASH_SEED 0xcbf29ce484222325ull

static inline uint64_t cg_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* With its NUL, so that consecutive strings of a key cannot run into each other. */
static inline uint64_t cg_hash_str(uint64_t h, const char *s)
{
    return cg_hash_bytes(h, s, strlen(s) + 1);
}

#endif
