/* SPDX-License-Identifier: Apache-2.0 */
/* quant_linear_ref.c - plain-C references for the dense quantized linear kernels
 * (weight-only dequantization, per-row activation quantization, exact W8A8 sums). */
#include "quant_linear_ref.h"

#include <math.h>

size_t ref_q_groups_per_row(const ref_qformat *f, size_t cols)
{
    return f->granularity == 2 ? (cols + f->group_size - 1) / f->group_size : 1;
}

size_t ref_q_scale_index(const ref_qformat *f, size_t cols, size_t r, size_t c)
{
    if (f->granularity == 2)
        return r * ref_q_groups_per_row(f, cols) + c / f->group_size;
    return f->granularity == 1 ? r : 0;
}

int ref_q_code(const ref_qformat *f, const void *values, size_t cols, size_t r, size_t c)
{
    const uint8_t *bytes = values;
    if (f->encoding == 3) {
        uint8_t b = bytes[r * ((cols + 1) / 2) + c / 2];
        int nibble = (c % 2) ? b >> 4 : b & 15;
        return nibble >= 8 ? nibble - 16 : nibble;
    }
    return (int8_t)bytes[r * cols + c];
}

void ref_q_dequantize(const ref_qformat *f, size_t rows, size_t cols, const void *values,
                      const float *scales, const int8_t *zero_points, float *out)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t s = ref_q_scale_index(f, cols, r, c);
            int z = zero_points ? zero_points[s] : 0;
            out[r * cols + c] = (float)(ref_q_code(f, values, cols, r, c) - z) * scales[s];
        }
}

static float clampf(float v, float lo, float hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

void ref_quantize_rows(size_t batch, size_t cols, const float *x, int asym, int *q,
                       float *scale, int *zero_point)
{
    for (size_t b = 0; b < batch; b++) {
        const float *xr = x + b * cols;
        float lo = 0.0f, hi = 0.0f;
        for (size_t k = 0; k < cols; k++) {
            lo = xr[k] < lo ? xr[k] : lo;
            hi = xr[k] > hi ? xr[k] : hi;
        }
        if (asym) {
            float s = hi == lo ? 1.0f / 255.0f : (hi - lo) / 255.0f;
            float zp = clampf(rintf(-lo / s), 0.0f, 255.0f);
            for (size_t k = 0; k < cols; k++)
                q[b * cols + k] = (int)clampf(rintf(xr[k] / s) + zp, 0.0f, 255.0f);
            scale[b] = s;
            zero_point[b] = (int)zp;
        } else {
            float amax = -lo > hi ? -lo : hi;
            float s = amax / 127.0f;
            for (size_t k = 0; k < cols; k++)
                q[b * cols + k] = s == 0.0f ? 0 : (int)clampf(rintf(xr[k] / s), -127.0f, 127.0f);
            scale[b] = s;
            zero_point[b] = 0;
        }
    }
}

static float activate(float v, int act)
{
    if (act == 1)
        return v > 0.0f ? v : 0.0f;
    if (act == 2)
        return (float)(0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
    return v;
}

void ref_w8a8_linear(const ref_qformat *f, size_t rows, size_t cols, const int8_t *wq,
                     const float *wscales, const int8_t *wzp, size_t batch, const int *xq,
                     const float *xscale, const int *xzp, const float *bias, int act, float *y,
                     int64_t *acc)
{
    size_t gpr = ref_q_groups_per_row(f, cols);
    size_t seg = f->granularity == 2 ? f->group_size : cols;
    for (size_t b = 0; b < batch; b++)
        for (size_t m = 0; m < rows; m++) {
            int64_t total = 0;
            float yacc = 0.0f;
            for (size_t g = 0; g * seg < cols; g++) {
                size_t s = ref_q_scale_index(f, cols, m, g * seg);
                int z = wzp ? wzp[s] : 0;
                int64_t sum = 0;
                for (size_t k = g * seg; k < cols && k < (g + 1) * seg; k++)
                    sum += (int64_t)(xq[b * cols + k] - xzp[b]) * (wq[m * cols + k] - z);
                if (acc)
                    acc[(b * rows + m) * gpr + g] = sum;
                total += sum;
                float term = (float)sum * wscales[s];
                yacc = yacc + term;
            }
            float v;
            if (f->granularity == 2) {
                v = xscale[b] * yacc;
            } else {
                float s = xscale[b] * wscales[ref_q_scale_index(f, cols, m, 0)];
                v = (float)total * s;
            }
            if (bias)
                v = v + bias[m];
            y[b * rows + m] = activate(v, act);
        }
}
