/* Fuzzes the JSON reader (core/json_read.c: every document a peer sends goes through it). An
 * accepted document is written back with the writer; that text must read again and write the
 * same bytes, so nothing accepted is lost or changed on the way (a NUL, an invalid UTF-8 byte or
 * a rounded number would not read back the same). */
#include "core/json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void emit(cg_jw_t *w, const cg_json_t *v)
{
    switch (cg_json_type(v)) {
    case CG_JSON_NULL: cg_jw_null(w); break;
    case CG_JSON_BOOL: cg_jw_bool(w, cg_json_true(v)); break;
    case CG_JSON_INT: cg_jw_i64(w, cg_json_int(v)); break;
    case CG_JSON_REAL: {
        /* %.17g reads back as the same double; ".0" keeps "5" or "-0" a real */
        char num[40];
        int n = snprintf(num, sizeof(num), "%.17g", cg_json_real(v));
        if (!strpbrk(num, ".e")) n += snprintf(num + n, sizeof(num) - (size_t)n, ".0");
        cg_jw_raw(w, num, (size_t)n);
        break;
    }
    case CG_JSON_STRING: {
        size_t len;
        const char *s = cg_json_string(v, &len);
        if (strlen(s) != len) abort(); /* no NUL inside an accepted string */
        cg_jw_strn(w, s, len);
        break;
    }
    case CG_JSON_ARRAY:
        cg_jw_arr(w);
        for (size_t i = 0; i < cg_json_len(v); i++) emit(w, cg_json_at(v, i));
        cg_jw_end(w);
        break;
    case CG_JSON_OBJECT: {
        size_t n = 0;
        cg_jw_obj(w);
        for (void *it = cg_json_iter(v); it; it = cg_json_next(v, it), n++) {
            const char *k = cg_json_iter_key(it);
            if (cg_json_get(v, k) != cg_json_iter_value(it)) abort(); /* keys are unique */
            cg_jw_key(w, k);
            emit(w, cg_json_iter_value(it));
        }
        if (n != cg_json_len(v)) abort();
        cg_jw_end(w);
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 64 * 1024) return 0;
    cg_buf_t errors = {0}, a = {0}, b = {0};
    cg_json_t *doc = cg_json_parse("fuzz", (const char *)data, size, &errors);
    if (!doc) {
        if (errors.len == 0) abort(); /* a refusal always says why */
        cg_buf_free(&errors);
        return 0;
    }
    cg_jw_t w = cg_jw(&a);
    emit(&w, doc);
    cg_json_free(doc);
    if (!w.overflow) { /* the writer nests 32 deep, the reader 512 */
        cg_json_t *again = cg_json_parse("again", a.base, a.len, &errors);
        if (!again) {
            fprintf(stderr, "written text does not read back: %.*s", (int)errors.len, errors.base);
            abort();
        }
        cg_jw_t w2 = cg_jw(&b);
        emit(&w2, again);
        cg_json_free(again);
        if (a.len != b.len || memcmp(a.base, b.base, a.len) != 0) abort();
    }
    cg_buf_free(&a);
    cg_buf_free(&b);
    cg_buf_free(&errors);
    return 0;
}
