/* Fuzzes the decoders of the documents that cross the network between a gateway, the control
 * plane and the CLI, each described once: the registration and its answer, the apply results,
 * /clusters. Whatever decodes must encode and decode again to the same bytes.
 *
 * Input: byte 0 chooses the document (mod 4), the rest is the JSON text. */
#include "control/results.h"
#include "proxy/clusters_doc.h"
#include "translate/registration.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same(const cg_buf_t *a, const cg_buf_t *b)
{
    if (a->len != b->len || memcmp(cg_buf_data(a), cg_buf_data(b), a->len) != 0) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256 * 1024) return 0;
    const char *json = (const char *)data + 1;
    size_t len = size - 1;
    cg_buf_t err = {0}, a = {0}, b = {0};
    switch (data[0] % 4) {
    case 0: {
        cg_registration_t r, s;
        if (cg_registration_decode(json, len, &r, &err) == 0) {
            cg_registration_encode(&r, &a);
            if (cg_registration_decode(cg_buf_data(&a), a.len, &s, &err) != 0) abort();
            cg_registration_encode(&s, &b);
            same(&a, &b);
            cg_registration_clear(&s);
            cg_registration_clear(&r);
        }
        break;
    }
    case 1: {
        cg_registration_answer_t r, s;
        if (cg_registration_answer_decode(json, len, &r, &err) == 0) {
            cg_registration_answer_encode(&r, &a);
            if (cg_registration_answer_decode(cg_buf_data(&a), a.len, &s, &err) != 0) abort();
            cg_registration_answer_encode(&s, &b);
            same(&a, &b);
        }
        break;
    }
    case 2: {
        cg_control_results_doc_t r, s;
        if (cg_control_results_decode(json, len, &r, &err) == 0) {
            cg_control_results_encode(&r, &a);
            if (cg_control_results_decode(cg_buf_data(&a), a.len, &s, &err) != 0) abort();
            cg_control_results_encode(&s, &b);
            same(&a, &b);
            cg_control_results_doc_clear(&s);
            cg_control_results_doc_clear(&r);
        }
        break;
    }
    default: {
        cg_clusters_doc_t r, s;
        if (cg_clusters_doc_decode(json, len, &r, &err) == 0) {
            cg_clusters_doc_encode(&r, &a);
            if (cg_clusters_doc_decode(cg_buf_data(&a), a.len, &s, &err) != 0) abort();
            cg_clusters_doc_encode(&s, &b);
            same(&a, &b);
            cg_clusters_doc_clear(&s);
            cg_clusters_doc_clear(&r);
        }
        break;
    }
    }
    cg_buf_free(&a);
    cg_buf_free(&b);
    cg_buf_free(&err);
    return 0;
}
