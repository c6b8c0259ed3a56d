/* SPDX-License-Identifier: Apache-2.0 */
/* fuzz_safetensors.c - libFuzzer target: parses the input as a safetensors file from
 * memory, walks every tensor (converted to float into a bounded buffer) and metadata
 * entry, loads every packed matrix whose NAME.structure entry it finds, and the
 * calibration statistics of every NAME.calib_rows entry.
 */
#include "sparq.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MAX_FLOATS 65536

static float floats[MAX_FLOATS];
static char name[4096];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Whether metadata key is NAME + suffix (NAME non-empty, fits name): NAME into name. */
static int layer_of(const char *key, const char *suffix)
{
    size_t len = strlen(key), slen = strlen(suffix);
    if (len <= slen || len - slen >= sizeof name || strcmp(key + len - slen, suffix) != 0) {
        return 0;
    }
    memcpy(name, key, len - slen);
    name[len - slen] = '\0';
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sparq_safetensors *file = NULL;
    if (sparq_safetensors_open_memory(data, size, &file) != SPARQ_OK) {
        return 0;
    }
    volatile float sink = 0.0f;
    for (size_t i = 0; i < sparq_safetensors_count(file); i++) {
        sparq_safetensors_tensor_info info;
        if (sparq_safetensors_tensor(file, i, &info) != SPARQ_OK) {
            __builtin_trap(); /* every index below count must work */
        }
        sparq_safetensors_tensor_info again;
        if (sparq_safetensors_find(file, info.name, &again) != SPARQ_OK ||
            again.data != info.data) {
            __builtin_trap();
        }
        for (size_t d = 0; d < info.ndim; d++) {
            sink += (float)info.shape[d];
        }
        if (info.count <= MAX_FLOATS &&
            sparq_safetensors_to_f32(&info, floats, info.count) == SPARQ_OK && info.count > 0) {
            sink += floats[0] + floats[info.count - 1];
        }
    }
    for (size_t i = 0; i < sparq_safetensors_metadata_count(file); i++) {
        const char *key, *value;
        if (sparq_safetensors_metadata_entry(file, i, &key, &value) != SPARQ_OK ||
            sparq_safetensors_metadata(file, key) != value) {
            __builtin_trap();
        }
        if (layer_of(key, ".calib_rows")) {
            sparq_calib *calib = NULL;
            if (sparq_calib_load(file, name, &calib) == SPARQ_OK) {
                sink += (float)sparq_calib_sumsq(calib)[sparq_calib_cols(calib) - 1];
                sparq_calib_free(calib);
            }
        }
        if (layer_of(key, ".structure")) {
            sparq_packed *packed = NULL;
            if (sparq_packed_load(file, name, &packed) == SPARQ_OK) {
                size_t rows = sparq_packed_rows(packed), cols = sparq_packed_cols(packed);
                if (rows > 0 && cols <= MAX_FLOATS / rows &&
                    sparq_packed_unpack(packed, floats) == SPARQ_OK) {
                    sink += floats[rows * cols - 1];
                }
                sparq_packed_free(packed);
            }
        }
    }
    (void)sink;
    sparq_safetensors_close(file);
    return 0;
}
