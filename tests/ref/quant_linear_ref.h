/* SPDX-License-Identifier: Apache-2.0 */
/* quant_linear_ref.h - plain-C references for the dense quantized linear kernels:
 * weights dequantized from the packed dense layout (then ref_linear_act), per-row
 * activation quantization (symmetric int8, or ONNX DynamicQuantizeLinear uint8), and
 * the exact integer W8A8 product with the kernels' float epilogue. */
#ifndef SPARQ_QUANT_LINEAR_REF_H
#define SPARQ_QUANT_LINEAR_REF_H
#include <stddef.h>
#include <stdint.h>

/* The quantization of a dense packed matrix, as sparq_quant_options says it. */
typedef struct ref_qformat {
    int encoding;    /* 2: i8, 3: i4 (sparq_encoding)                                 */
    int granularity; /* 0 tensor, 1 row, 2 group                                       */
    size_t group_size;
    int asymmetric;
} ref_qformat;

/* Groups per row (1 unless per group) and the scale index of W[r, c]. */
size_t ref_q_groups_per_row(const ref_qformat *f, size_t cols);
size_t ref_q_scale_index(const ref_qformat *f, size_t cols, size_t r, size_t c);
/* Code of W[r, c] from the dense layout (i4: rows of ceil(cols/2) bytes, low nibble
 * first, sign-extended). */
int ref_q_code(const ref_qformat *f, const void *values, size_t cols, size_t r, size_t c);
/* out[r*cols + c] = (q - z) * scale, in float. zero_points may be NULL (symmetric). */
void ref_q_dequantize(const ref_qformat *f, size_t rows, size_t cols, const void *values,
                      const float *scales, const int8_t *zero_points, float *out);

/* Per-row activation quantization of x (batch x cols): codes q[b*cols + k], scale[b],
 * zero_point[b]. asym 0: int8 in [-127, 127], scale = max|x| / 127 (0 for an all-zero
 * row), zero point 0. asym 1: ONNX DynamicQuantizeLinear (uint8, float32 arithmetic,
 * ties to even). */
void ref_quantize_rows(size_t batch, size_t cols, const float *x, int asym, int *q,
                       float *scale, int *zero_point);

/* W8A8 with weights in the i8 dense layout: acc[(b*rows + m)*gpr + g] = the exact
 * sum over the columns of scale segment g (the whole row unless per group) of
 * (xq - xzp[b]) * (wq - wzp), in int64 (acc may be NULL), and
 *   y[b*rows + m] = act((float)acc * (xscale[b] * wscale) + bias[m])     tensor/row
 *   y[b*rows + m] = act(xscale[b] * sum_g((float)acc_g * wscale_g) + bias[m]) groups
 * with every float operation rounded as the kernel does (bias may be NULL; act as
 * sparq_activation). */
void ref_w8a8_linear(const ref_qformat *f, size_t rows, size_t cols, const int8_t *wq,
                     const float *wscales, const int8_t *wzp, size_t batch, const int *xq,
                     const float *xscale, const int *xzp, const float *bias, int act, float *y,
                     int64_t *acc);

#endif
