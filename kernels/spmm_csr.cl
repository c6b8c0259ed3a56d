/* spmm_csr.cl - CSR sparse x dense products Y = act(X W^T + bias) with W in CSR
 * (row_ptr u32, col_idx u16/u32, values f32/f16 by -D from the host).
 * Every kernel ends with the common tail arguments (x, x_off, y, y_off, bias,
 * bias_off, act); see host/matrix.h.
 */
#include "common.clh"

#ifndef WG
#define WG 64 /* work-items per group */
#endif

/* The general variant: one work-item per output Y[b, m], any shape and batch.
 * Global size: rows rounded up to WG, times batch. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void spmm_csr_scalar(const uint rows, const uint cols, const uint batch,
                     const global uint *row_ptr, const global sparq_index_t *col_idx,
                     const global sparq_value_t *values,
                     const global float *x, const ulong x_off,
                     global float *y, const ulong y_off,
                     const global float *bias, const ulong bias_off, const uint act)
{
    const uint m = get_global_id(0);
    const uint b = get_global_id(1);
    if (m >= rows || b >= batch)
        return;
    const global float *xb = x + x_off + (size_t)b * cols;
    float acc = 0.0f;
    const uint end = row_ptr[m + 1];
    for (uint j = row_ptr[m]; j < end; j++)
        acc = fma(sparq_load_value(values, j), xb[col_idx[j]], acc);
    y[y_off + (size_t)b * rows + m] = sparq_epilogue(acc, bias, bias_off, m, act);
}
