/* SPDX-License-Identifier: Apache-2.0 */
/* quant_matrix.h - what the dense quantized kernel tests (test_linear_q,
 * test_linear_q_w8a8) share: their shapes, and a matrix quantized in a format, checked
 * against the reference's dequantization and uploaded.
 */
#ifndef SPARQ_QUANT_MATRIX_H
#define SPARQ_QUANT_MATRIX_H

#include "kernel_check.h"
#include "ref/quant_linear_ref.h"

typedef struct testing_shape {
    size_t rows, cols;
} testing_shape;

/* A quantization the tests run, with the label their failures name. */
typedef struct testing_qformat {
    const char *label;
    sparq_quant_options quant;
} testing_qformat;

/* The shapes every kernel runs (tiny ones in testing_small_mode). cols: odd, below one
 * vector step, not a multiple of the group, and a multiple of it. */
const testing_shape *testing_q_shapes(size_t *count);

/* The reference's description of a quantization. */
ref_qformat testing_ref_qformat(const sparq_quant_options *q);

/* Weights in [-1, 1] from seed with pruned zeros, row 1 all zero (zero scales) and the
 * first group of row 2 all zero (a zero group scale), quantized as quant says (dense)
 * and uploaded with quantize_activations. *dense gets the reference's dequantization
 * (checked equal to sparq_packed_unpack); *packed_out (if not NULL) keeps the packed
 * matrix. */
sparq_matrix *testing_q_matrix(sparq_context *ctx, const sparq_quant_options *quant,
                               const testing_shape *sh, uint64_t seed, int quantize_activations,
                               float **dense, sparq_packed **packed_out);

/* The defaults of registered kernel name with its tunables 1 .. n (after the work-group
 * size), checked to be names[0 .. n), set to values[0 .. n). */
sparq_kernel_params testing_tile_params(sparq_context *ctx, const char *name,
                                        const char *const *names, const unsigned *values,
                                        size_t n);

#endif
