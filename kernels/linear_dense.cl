/* SPDX-License-Identifier: Apache-2.0 */
/* linear_dense.cl - dense f32 linear layer Y = X * W^T (+ bias), nn.Linear
 * semantics, and the bias fill that CLBlast's GEMV/GEMM accumulate onto.
 * A simple correct baseline: speed comes from the tuned kernels of later families.
 */
#include "common.clh"

#ifndef LINEAR_DENSE_WG
#define LINEAR_DENSE_WG 64 /* work-items per group along the output rows */
#endif

#ifndef LINEAR_DENSE_VW
#define LINEAR_DENSE_VW 8 /* floats per step of the inner product: 4, 8 or 16 */
#endif

#if LINEAR_DENSE_VW == 4
typedef float4 dense_vec_t;
#define dense_vload vload4
#elif LINEAR_DENSE_VW == 16
typedef float16 dense_vec_t;
#define dense_vload vload16
#else
typedef float8 dense_vec_t;
#define dense_vload vload8
#endif

/* Sum of the lanes of a step vector, in a fixed order. */
static inline float dense_lane_sum(dense_vec_t v)
{
#if LINEAR_DENSE_VW == 4
    return (v.s0 + v.s1) + (v.s2 + v.s3);
#elif LINEAR_DENSE_VW == 16
    float8 h = v.lo + v.hi;
    float4 q = h.lo + h.hi;
    return (q.s0 + q.s1) + (q.s2 + q.s3);
#else
    float4 q = v.lo + v.hi;
    return (q.s0 + q.s1) + (q.s2 + q.s3);
#endif
}

/* One work-item per output Y[b, m] (global size: rows rounded up x batch): the row of W
 * and of X streamed in steps of LINEAR_DENSE_VW floats (SIMD on CPUs), then the tail.
 * The reduction order is fixed, so results are the same bits on every run. */
__kernel __attribute__((reqd_work_group_size(LINEAR_DENSE_WG, 1, 1)))
void linear_dense_rowdot(const uint batch, const uint rows, const uint cols,
                         const global float *x, const ulong x_off,
                         const global float *w, const ulong w_off,
                         const global float *bias, const ulong bias_off,
                         global float *y, const ulong y_off)
{
    const uint m = get_global_id(0);
    const uint b = get_global_id(1);
    if (m >= rows || b >= batch)
        return;
    const global float *xr = x + x_off + (size_t)b * cols;
    const global float *wr = w + w_off + (size_t)m * cols;
    dense_vec_t acc_v = (dense_vec_t)(0.0f);
    uint k = 0;
    for (; k + LINEAR_DENSE_VW <= cols; k += LINEAR_DENSE_VW)
        acc_v = fma(dense_vload(0, xr + k), dense_vload(0, wr + k), acc_v);
    float acc = dense_lane_sum(acc_v);
    for (; k < cols; k++)
        acc = fma(xr[k], wr[k], acc);
    y[y_off + (size_t)b * rows + m] = sparq_add_bias(acc, bias, bias_off, m);
}

/* Y[b, m] = bias[m] (0 without bias): what a peer GEMV/GEMM with beta = 1 then adds to.
 * Peers compute beta * Y even for beta = 0, so Y must never be left uninitialised. */
__kernel __attribute__((reqd_work_group_size(LINEAR_DENSE_WG, 1, 1)))
void fill_dense_bias(const uint batch, const uint rows,
                     const global float *bias, const ulong bias_off,
                     global float *y, const ulong y_off)
{
    const uint m = get_global_id(0);
    const uint b = get_global_id(1);
    if (m >= rows || b >= batch)
        return;
    y[y_off + (size_t)b * rows + m] = sparq_add_bias(0.0f, bias, bias_off, m);
}

/* y[i] = act(y[i]) for count outputs, after the dense path wrote them. */
__kernel __attribute__((reqd_work_group_size(LINEAR_DENSE_WG, 1, 1)))
void activate_dense_inplace(const ulong count, const uint act, global float *y,
                            const ulong y_off)
{
    const size_t i = get_global_id(0);
    if (i < count)
        y[y_off + i] = sparq_activate(y[y_off + i], act);
}
