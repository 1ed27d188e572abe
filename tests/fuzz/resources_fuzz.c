/* Fuzzes resource loading (YAML and JSON) and, when it loads, translation for an instance. */
#include "model/model.h"
#include "translate/translate.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 128 * 1024) return 0;
    cg_buf_t errors = {0};
    cg_resource_set_t *rs = NULL;
    const char *name = (data[0] & 1) ? "fuzz.json" : "fuzz.yaml";
    if (cg_model_load_buffer(name, (const char *)data + 1, size - 1, &rs, &errors) == 0) {
        cg_snap_label_t labels[] = {{"app", "edgegw"}};
        cg_instance_t inst = {.cluster = "cluster-edge", .namespace_ = "edge", .labels = labels, .nlabels = 1,
                              .address = "127.0.0.1"};
        cg_snapshot_t *snap = NULL;
        cg_buf_t out = {0};
        if (cg_translate_instance(rs, &inst, 1, &snap, &errors) == 0) {
            cg_snapshot_encode_json(snap, &out);
            cg_snapshot_free(snap);
        }
        cg_buf_free(&out);
        cg_model_free(rs);
    }
    cg_buf_free(&errors);
    return 0;
}
