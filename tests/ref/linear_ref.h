/* SPDX-License-Identifier: Apache-2.0 */
/* linear_ref.h - plain-C references for the linear layer, accumulating in double. */
#ifndef SPARQ_LINEAR_REF_H
#define SPARQ_LINEAR_REF_H
#include <stddef.h>

/* Y[b, m] = sum_k X[b, k] W[m, k] (+ bias[m]); bias may be NULL. */
void ref_linear_f32(size_t batch, size_t rows, size_t cols, const float *x, const float *w,
                    const float *bias, float *y);

/* Largest |a - b| over n values, divided by max(1, largest |b|). */
double ref_max_rel_error(const float *a, const float *b, size_t n);

/* Y[b, m] = act(sum_k X[b, k] W[m, k] + bias[m]), act as sparq_activation (0 none,
 * 1 ReLU, 2 GELU tanh approximation), in double. bias may be NULL. */
void ref_linear_act(size_t batch, size_t rows, size_t cols, const float *x, const float *w,
                    const float *bias, int activation, float *y);

#endif
