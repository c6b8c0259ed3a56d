/* SPDX-License-Identifier: Apache-2.0 */
/* make_corpus.c - writes the seed corpus of fuzz_safetensors (tiny valid files: every
 * dtype with metadata, an empty file, one packed matrix per structure, calibration
 * statistics with and without H) into a folder.
 * Usage: fuzz_make_corpus tests/fuzz/corpus
 */
#include "sparq.h"

#include <stdio.h>
#include <string.h>

static int failed(sparq_status st)
{
    if (st != SPARQ_OK) {
        fprintf(stderr, "fuzz_make_corpus: %s\n", sparq_last_error());
        return 1;
    }
    return 0;
}

static int write_dtypes(const char *path)
{
    const size_t s4[1] = {4}, s2x2[2] = {2, 2}, s0[2] = {0, 3};
    const float f32[4] = {1.5f, -2.0f, 0.25f, 3.0f};
    const uint16_t f16[4] = {0x3C00, 0xC000, 0x7C00, 0x0001};
    const uint16_t bf16[4] = {0x3F80, 0xC040, 0x7F80, 0x0001};
    const int8_t i8[4] = {-128, 0, 1, 127};
    const uint8_t u8[4] = {0, 1, 2, 255};
    const uint16_t u16[4] = {1, 2, 3, 65535};
    const int32_t i32[4] = {-1, 2, 3, 4};
    const uint32_t u32[4] = {1, 2, 3, 4};
    const int64_t i64[4] = {-1, 2, 3, 1099511627776};
    const uint64_t u64[4] = {1, 2, 3, 4};
    sparq_safetensors_writer *w = NULL;
    if (failed(sparq_safetensors_writer_create(&w))) {
        return 1;
    }
    int bad = failed(sparq_safetensors_writer_add(w, "f32", SPARQ_DTYPE_F32, 2, s2x2, f32, 16)) ||
              failed(sparq_safetensors_writer_add(w, "f16", SPARQ_DTYPE_F16, 1, s4, f16, 8)) ||
              failed(sparq_safetensors_writer_add(w, "bf16", SPARQ_DTYPE_BF16, 1, s4, bf16, 8)) ||
              failed(sparq_safetensors_writer_add(w, "i8", SPARQ_DTYPE_I8, 1, s4, i8, 4)) ||
              failed(sparq_safetensors_writer_add(w, "u8", SPARQ_DTYPE_U8, 1, s4, u8, 4)) ||
              failed(sparq_safetensors_writer_add(w, "u16", SPARQ_DTYPE_U16, 1, s4, u16, 8)) ||
              failed(sparq_safetensors_writer_add(w, "i32", SPARQ_DTYPE_I32, 1, s4, i32, 16)) ||
              failed(sparq_safetensors_writer_add(w, "u32", SPARQ_DTYPE_U32, 1, s4, u32, 16)) ||
              failed(sparq_safetensors_writer_add(w, "i64", SPARQ_DTYPE_I64, 1, s4, i64, 32)) ||
              failed(sparq_safetensors_writer_add(w, "u64", SPARQ_DTYPE_U64, 1, s4, u64, 32)) ||
              failed(sparq_safetensors_writer_add(w, "scalar", SPARQ_DTYPE_F32, 0, NULL, f32, 4)) ||
              failed(sparq_safetensors_writer_add(w, "empty", SPARQ_DTYPE_F32, 2, s0, NULL, 0)) ||
              failed(sparq_safetensors_writer_set_metadata(w, "format", "pt")) ||
              failed(sparq_safetensors_writer_write(w, path));
    sparq_safetensors_writer_free(w);
    return bad;
}

static int write_empty(const char *path)
{
    sparq_safetensors_writer *w = NULL;
    if (failed(sparq_safetensors_writer_create(&w))) {
        return 1;
    }
    int bad = failed(sparq_safetensors_writer_write(w, path));
    sparq_safetensors_writer_free(w);
    return bad;
}

/* A 4 x 8 matrix (2:4 along cols, one zero row) packed as structure s. */
static int write_packed(const char *path, int s)
{
    float m[4 * 8];
    for (int i = 0; i < 32; i++) {
        int zero = i % 4 == 1 || i % 4 == 3 || i / 8 == 2;
        m[i] = zero ? 0.0f : (float)(i % 7) - 2.5f;
    }
    sparq_pack_options o;
    memset(&o, 0, sizeof o);
    o.structure = (sparq_structure)s;
    o.quant.encoding = (sparq_encoding)((s + 1) % 4);
    if (o.quant.encoding == SPARQ_ENCODING_I8 || o.quant.encoding == SPARQ_ENCODING_I4) {
        o.quant.granularity = (sparq_scale_granularity)(s % 3);
        o.quant.asymmetric = s % 2;
        if (o.quant.granularity == SPARQ_SCALE_GROUP) {
            o.quant.group_size = 32;
        }
    }
    if (o.structure == SPARQ_STRUCTURE_BSR) {
        o.block_rows = 2;
        o.block_cols = 4;
    }
    if (o.structure == SPARQ_STRUCTURE_NM) {
        o.nm_n = 2;
        o.nm_m = 4;
    }
    sparq_packed *p = NULL;
    if (failed(sparq_packed_create(&o, 4, 8, m, &p))) {
        return 1;
    }
    sparq_safetensors_writer *w = NULL;
    int bad = failed(sparq_safetensors_writer_create(&w)) ||
              failed(sparq_packed_save(w, "w", p)) ||
              failed(sparq_safetensors_writer_write(w, path));
    sparq_safetensors_writer_free(w);
    sparq_packed_free(p);
    return bad;
}

/* Statistics of two layers: "a" with H, "b" with sums of squares only. */
static int write_calib(const char *path)
{
    const float x[12] = {1.0f, -2.0f, 0.5f, 3.0f,  0.0f, 1.5f,
                         -1.0f, 2.0f, 0.25f, 4.0f, -0.5f, 1.0f};
    sparq_calib *a = NULL, *b = NULL;
    sparq_safetensors_writer *w = NULL;
    int bad = failed(sparq_calib_create(4, 1, &a)) || failed(sparq_calib_create(4, 0, &b)) ||
              failed(sparq_calib_accumulate(a, x, 3)) || failed(sparq_calib_accumulate(b, x, 3)) ||
              failed(sparq_safetensors_writer_create(&w)) || failed(sparq_calib_save(w, "a", a)) ||
              failed(sparq_calib_save(w, "b", b)) ||
              failed(sparq_safetensors_writer_write(w, path));
    sparq_safetensors_writer_free(w);
    sparq_calib_free(a);
    sparq_calib_free(b);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fuzz_make_corpus FOLDER\n");
        return 2;
    }
    static const char *const structures[4] = {"dense", "csr", "bsr", "nm"};
    char path[4096];
    snprintf(path, sizeof path, "%s/dtypes.safetensors", argv[1]);
    int bad = write_dtypes(path);
    snprintf(path, sizeof path, "%s/empty.safetensors", argv[1]);
    bad = bad || write_empty(path);
    for (int s = 0; s < 4 && !bad; s++) {
        snprintf(path, sizeof path, "%s/packed_%s.safetensors", argv[1], structures[s]);
        bad = write_packed(path, s);
    }
    snprintf(path, sizeof path, "%s/calib.safetensors", argv[1]);
    bad = bad || write_calib(path);
    return bad ? 1 : 0;
}
