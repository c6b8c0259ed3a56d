/* SPDX-License-Identifier: Apache-2.0 */
/* quant_matrix.c - the dense quantized kernel tests' shapes and matrices (see
 * quant_matrix.h).
 */
#include "quant_matrix.h"

#include <stdlib.h>
#include <string.h>

static const testing_shape small_shapes[] = {{5, 7}, {6, 45}, {3, 64}};
static const testing_shape shapes[] = {{5, 7}, {17, 257}, {33, 300}, {40, 512}};

const testing_shape *testing_q_shapes(size_t *count)
{
    *count = testing_small_mode() ? sizeof small_shapes / sizeof small_shapes[0]
                                  : sizeof shapes / sizeof shapes[0];
    return testing_small_mode() ? small_shapes : shapes;
}

ref_qformat testing_ref_qformat(const sparq_quant_options *q)
{
    return (ref_qformat){(int)q->encoding, (int)q->granularity, q->group_size, q->asymmetric};
}

sparq_matrix *testing_q_matrix(sparq_context *ctx, const sparq_quant_options *quant,
                               const testing_shape *sh, uint64_t seed, int quantize_activations,
                               float **dense, sparq_packed **packed_out)
{
    size_t rows = sh->rows, cols = sh->cols;
    float *w = malloc(rows * cols * sizeof *w), *unpacked = malloc(rows * cols * sizeof *w);
    assert_non_null(w), assert_non_null(unpacked);
    testing_fill_uniform(w, rows * cols, seed, -1, 1);
    for (size_t i = 0; i < rows * cols; i += 7)
        w[i] = 0.0f;
    if (rows > 1)
        memset(w + cols, 0, cols * sizeof *w);
    if (rows > 2)
        memset(w + 2 * cols, 0, (cols < 32 ? cols : 32) * sizeof *w);
    sparq_pack_options pack = {.structure = SPARQ_STRUCTURE_DENSE, .quant = *quant};
    sparq_matrix_options mo = {.quantize_activations = quantize_activations};
    sparq_packed *packed = NULL;
    sparq_matrix *m = testing_matrix(ctx, &pack, rows, cols, w, &mo, "dense quantized",
                                     unpacked, &packed);
    if (quant->encoding == SPARQ_ENCODING_F16) {
        /* f16 storage has no codes: the reference uses the (exhaustively tested) unpack */
        memcpy(w, unpacked, rows * cols * sizeof *w);
    } else {
        sparq_packed_array values, scales, zps = {0};
        assert_int_equal(sparq_packed_find_array(packed, "values", &values), SPARQ_OK);
        assert_int_equal(sparq_packed_find_array(packed, "scales", &scales), SPARQ_OK);
        if (quant->asymmetric)
            assert_int_equal(sparq_packed_find_array(packed, "zero_points", &zps), SPARQ_OK);
        ref_qformat rf = testing_ref_qformat(quant);
        ref_q_dequantize(&rf, rows, cols, values.data, scales.data, zps.data, w);
        assert_memory_equal(w, unpacked, rows * cols * sizeof *w);
    }
    free(unpacked);
    if (packed_out)
        *packed_out = packed;
    else
        sparq_packed_free(packed);
    *dense = w;
    return m;
}

sparq_kernel_params testing_tile_params(sparq_context *ctx, const char *name,
                                        const char *const *names, const unsigned *values,
                                        size_t n)
{
    const sparq_kernel_info *k = sparq_kernel_find(name);
    assert_non_null(k);
    sparq_kernel_params p;
    sparq_kernel_default_params(k, &ctx->caps, &p);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(k->tunables[1 + i].name, names[i]);
        p.value[1 + i] = values[i];
    }
    return p;
}
