/* SPDX-License-Identifier: Apache-2.0 */
/* linear_ref.c - plain-C linear layer reference (see linear_ref.h). */
#include "ref/linear_ref.h"

#include <math.h>

void ref_linear_f32(size_t batch, size_t rows, size_t cols, const float *x, const float *w,
                    const float *bias, float *y)
{
    ref_linear_act(batch, rows, cols, x, w, bias, 0, y);
}

double ref_max_rel_error(const float *a, const float *b, size_t n)
{
    double err = 0.0, scale = 1.0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        err = isnan(d) ? INFINITY : fmax(err, d);
        scale = fmax(scale, fabs((double)b[i]));
    }
    return err / scale;
}

void ref_linear_act(size_t batch, size_t rows, size_t cols, const float *x, const float *w,
                    const float *bias, int activation, float *y)
{
    for (size_t b = 0; b < batch; b++)
        for (size_t m = 0; m < rows; m++) {
            double v = bias ? bias[m] : 0.0;
            for (size_t k = 0; k < cols; k++)
                v += (double)x[b * cols + k] * (double)w[m * cols + k];
            if (activation == 1)
                v = v > 0 ? v : 0;
            else if (activation == 2)
                v = 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
            y[b * rows + m] = (float)v;
        }
}
