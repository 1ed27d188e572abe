/* Fuzzes the snapshot decoder (what a gateway accepts from the control plane or its cache);
 * whatever decodes must encode and decode again to the same bytes. */
#include "translate/snapshot.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 256 * 1024) return 0;
    cg_buf_t errors = {0}, a = {0}, b = {0};
    cg_snapshot_t *s = NULL, *t = NULL;
    if (cg_snapshot_decode_json((const char *)data, size, &s, &errors) == 0) {
        cg_snapshot_encode_json(s, &a);
        if (cg_snapshot_decode_json(a.base, a.len, &t, &errors) != 0) abort();
        cg_snapshot_encode_json(t, &b);
        if (a.len != b.len || memcmp(a.base, b.base, a.len) != 0) abort();
        cg_snapshot_free(t);
        cg_snapshot_free(s);
    }
    cg_buf_free(&a);
    cg_buf_free(&b);
    cg_buf_free(&errors);
    return 0;
}
