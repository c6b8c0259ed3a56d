/* linear_dense.cl - dense f32 linear layer Y = X * W^T (+ bias), nn.Linear
 * semantics, and the bias fill that CLBlast's GEMV/GEMM accumulate onto.
 * A simple correct baseline: speed comes from the tuned kernels of later families.
 */
#include "common.clh"

#ifndef LINEAR_DENSE_WG
#define LINEAR_DENSE_WG 64 /* work-items per group along the output rows */
#endif

/* One work-item per output Y[b, m] (global size: rows rounded up x batch).
 * The reduction over k runs in order, so results are the same bits on every run. */
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
    float acc = 0.0f;
    for (uint k = 0; k < cols; k++)
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
