/* SPDX-License-Identifier: Apache-2.0 */
/* spmm_csr.cl - CSR sparse x dense products Y = act(X W^T + bias) with W in CSR
 * (row_ptr u32, col_idx u16/u32, values f32/f16/i8/i4 by -D from the host).
 * Every kernel takes (rows, cols, batch, row_ptr, col_idx, values, scales,
 * zero_points), its own arguments, then the common tail arguments (x, x_off, y, y_off,
 * bias, bias_off, act); see host/matrix.h. scales and zero_points are NULL pointers
 * for f32/f16 (zero_points also when symmetric). i8/i4 values are one flat code
 * stream (i4: code j in byte j / 2, so a row may start at an odd code), dequantized
 * in registers.
 */
#include "common.clh"

#ifndef CSR_SCALAR_WG
#define CSR_SCALAR_WG 64 /* spmm_csr_scalar: work-items per group */
#endif
#ifndef CSR_ROWVEC_WG
#define CSR_ROWVEC_WG 64 /* spmm_csr_rowvec: work-items (rows) per group */
#endif
#ifndef CSR_ROWVEC_VW
#define CSR_ROWVEC_VW 8 /* spmm_csr_rowvec: nonzeros per vector step: 4, 8 or 16 */
#endif
#ifndef CSR_VECTOR_WG
#define CSR_VECTOR_WG 128 /* spmm_csr_vector: work-items per group */
#endif
#ifndef CSR_VECTOR_VS
/* spmm_csr_vector: work-items sharing a row, a power of two <= CSR_VECTOR_WG */
#define CSR_VECTOR_VS 32
#endif
#ifndef CSR_BATCHTILE_WG
#define CSR_BATCHTILE_WG 64 /* spmm_csr_batchtile: work-items (rows) per group */
#endif
#ifndef CSR_BATCHTILE_TB
#define CSR_BATCHTILE_TB 8 /* spmm_csr_batchtile: batch columns per work-item: 4, 8 or 16 */
#endif
#ifndef CSR_BATCHTILE_KT
#define CSR_BATCHTILE_KT 512 /* spmm_csr_batchtile: columns of X staged in local memory at a time */
#endif

#define CSR_CAT_(a, b) a##b
#define CSR_CAT(a, b) CSR_CAT_(a, b)

/* ---- quantized values (i8, i4) ------------------------------------------------------
 * With one scale per row (tensor or row granularity) a row's sum is the sum of
 * (q - z) * x, times the row's scale once at the end (csr_row_scale; 1 for f32/f16).
 * With groups each weight is dequantized with its column's scale and zero point. */
#if SPARQ_QUANTIZED && SPARQ_GRANULARITY != SPARQ_SCALE_GROUP
#define CSR_ROW_SCALE 1
#else
#define CSR_ROW_SCALE 0
#endif

/* What a row's sum is multiplied by at the end: its scale, else 1. */
static inline float csr_row_scale(const global float *scales, uint m)
{
#if CSR_ROW_SCALE
    return scales[sparq_scale_index(m, 0, 1)];
#else
    (void)scales, (void)m;
    return 1.0f;
#endif
}

/* The row's zero point when there is one per row, else 0. */
static inline float csr_row_zero(const global char *zero_points, uint m)
{
#if CSR_ROW_SCALE
    return (float)sparq_load_zero_point(zero_points, sparq_scale_index(m, 0, 1));
#else
    (void)zero_points, (void)m;
    return 0.0f;
#endif
}

/* Slot j (column c of row m) as the row's sum takes it: the value (f32, f16), q - z
 * (one scale per row, row_z from csr_row_zero) or (q - z) * scale (groups). */
static inline float csr_weight(const global sparq_value_t *values, uint j, uint m, uint c,
                               const global float *scales, const global char *zero_points, uint gpr,
                               float row_z)
{
#if CSR_ROW_SCALE
    (void)m, (void)c, (void)scales, (void)zero_points, (void)gpr;
    return (float)sparq_load_code(values, j) - row_z;
#else
    (void)row_z;
    return sparq_load_weight(values, j, m, c, scales, zero_points, gpr);
#endif
}

/* The general variant: one work-item per output Y[b, m], any shape and batch.
 * Global size: rows rounded up to CSR_SCALAR_WG, times batch. */
__kernel __attribute__((reqd_work_group_size(CSR_SCALAR_WG, 1, 1)))
void spmm_csr_scalar(const uint rows, const uint cols, const uint batch,
                     const global uint *row_ptr, const global sparq_index_t *col_idx,
                     const global sparq_value_t *values, const global float *scales,
                     const global char *zero_points,
                     const global float *x, const ulong x_off,
                     global float *y, const ulong y_off,
                     const global float *bias, const ulong bias_off, const uint act)
{
    const uint m = get_global_id(0);
    const uint b = get_global_id(1);
    if (m >= rows || b >= batch)
        return;
    const global float *xb = x + x_off + (size_t)b * cols;
    const uint gpr = sparq_groups_per_row(cols);
    float acc = 0.0f;
    const uint end = row_ptr[m + 1];
    for (uint j = row_ptr[m]; j < end; j++) {
        const uint c = col_idx[j];
        acc = fma(sparq_load_weight(values, j, m, c, scales, zero_points, gpr), xb[c], acc);
    }
    y[y_off + (size_t)b * rows + m] = sparq_epilogue(acc, bias, bias_off, m, act);
}

/* ---- spmm_csr_rowvec: one work-item per row, CSR_ROWVEC_VW nonzeros per step ----------
 * Values load as one vector, x is gathered lane by lane, and a vector accumulator
 * collects lane l's products (nonzeros start + l, start + l + VW, ...; at batch 1 two
 * accumulators take alternate steps and are added first); the lanes are then added in
 * a fixed tree order and the last (len % VW) nonzeros added in order.
 * i8/i4: codes load as one vector and are dequantized in registers (see above); an
 * i4 row starting at an odd code takes that code on its own first, so the vector
 * steps start at a byte.
 * Built for CPUs, where a work-item is a SIMD thread of its own. One pass over the row
 * serves up to CSR_ROWVEC_NB batch columns (values and indices loaded once); larger batches
 * take more passes, the row then coming from cache.
 * Rows are taken in row_order (longest first) when use_order is 1. Global size: rows
 * rounded up to CSR_ROWVEC_WG. */
typedef CSR_CAT(float, CSR_ROWVEC_VW) rowvec_float;

#if SPARQ_QUANTIZED
/* CSR_ROWVEC_VW codes from code j (i4: j even) as floats. */
static inline rowvec_float rowvec_load_codes(const global uchar *codes, uint j)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I8
    return CSR_CAT(convert_float, CSR_ROWVEC_VW)(CSR_CAT(as_char, CSR_ROWVEC_VW)(
        CSR_CAT(vload, CSR_ROWVEC_VW)(0, codes + j)));
#elif CSR_ROWVEC_VW == 4
    const int2 b = convert_int2(as_char2(vload2(0, codes + j / 2)));
    const int2 even = (b << 28) >> 28, odd = b >> 4;
    return convert_float4((int4)(even.s0, odd.s0, even.s1, odd.s1));
#elif CSR_ROWVEC_VW == 8
    return sparq_load_codes8(codes, j);
#else
    return (float16)(sparq_load_codes8(codes, j), sparq_load_codes8(codes, j + 8));
#endif
}

/* The CSR_ROWVEC_VW weights from slot j of row m as the row's sum takes them: q - row_z
 * (one scale per row), or (q - z) * scale with each column's group. */
static inline rowvec_float rowvec_weights(const global sparq_value_t *values,
                                          const global sparq_index_t *col_idx, uint j, uint m,
                                          const global float *scales,
                                          const global char *zero_points, uint gpr, float row_z)
{
    const rowvec_float q = rowvec_load_codes(values, j);
#if CSR_ROW_SCALE
    (void)col_idx, (void)m, (void)scales, (void)zero_points, (void)gpr;
    return q - (rowvec_float)(row_z);
#else
    (void)row_z;
    float s[CSR_ROWVEC_VW], z[CSR_ROWVEC_VW];
    for (uint l = 0; l < CSR_ROWVEC_VW; l++) {
        const size_t si = sparq_scale_index(m, col_idx[j + l], gpr);
        s[l] = scales[si];
        z[l] = (float)sparq_load_zero_point(zero_points, si);
    }
    return (q - CSR_CAT(vload, CSR_ROWVEC_VW)(0, z)) * CSR_CAT(vload, CSR_ROWVEC_VW)(0, s);
#endif
}
#else
static inline rowvec_float rowvec_load_values(const global sparq_value_t *values, uint j)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_F16
    return CSR_CAT(vload_half, CSR_ROWVEC_VW)(0, values + j);
#else
    return CSR_CAT(vload, CSR_ROWVEC_VW)(0, values + j);
#endif
}
#endif

/* The gather reads a step's column indices as 64-bit words, split by shifts: one load
 * per four u16 (two u32) indices instead of one each leaves the load ports to the x
 * gather itself (batch 1 on PoCL: ~10 % less time). The words come from one vector
 * load of the step: as scalar loads of their own, LLVM moves them through a vector
 * register. CSR_WORD_LANES indices per word; csr_word_float holds their x. */
#if SPARQ_INDEX_U16
#define CSR_WORD_LANES 4
typedef float4 csr_word_float;
static inline float4 csr_gather_word(const global float *xb, ulong w)
{
    return (float4)(xb[w & 0xffff], xb[(w >> 16) & 0xffff], xb[(w >> 32) & 0xffff],
                    xb[w >> 48]);
}
#else
#define CSR_WORD_LANES 2
typedef float2 csr_word_float;
static inline float2 csr_gather_word(const global float *xb, ulong w)
{
    return (float2)(xb[w & 0xffffffff], xb[w >> 32]);
}
#endif
/* index words per step, as a literal (it names vector types) */
#if CSR_ROWVEC_VW / CSR_WORD_LANES == 1
#define CSR_ROWVEC_WORDS 1
#elif CSR_ROWVEC_VW / CSR_WORD_LANES == 2
#define CSR_ROWVEC_WORDS 2
#elif CSR_ROWVEC_VW / CSR_WORD_LANES == 4
#define CSR_ROWVEC_WORDS 4
#else
#define CSR_ROWVEC_WORDS 8
#endif

/* x at the CSR_ROWVEC_VW column indices from slot j. */
static inline rowvec_float rowvec_gather(const global float *xb,
                                         const global sparq_index_t *col_idx, uint j)
{
#if CSR_ROWVEC_WORDS == 1 /* u16, VW 4: one word, loaded as indices */
    const ushort4 c = vload4(0, col_idx + j);
    return (float4)(xb[c.s0], xb[c.s1], xb[c.s2], xb[c.s3]);
#else
    const CSR_CAT(ulong, CSR_ROWVEC_WORDS) w =
        CSR_CAT(as_ulong, CSR_ROWVEC_WORDS)(CSR_CAT(vload, CSR_ROWVEC_VW)(0, col_idx + j));
#if CSR_ROWVEC_WORDS == 2
    return (rowvec_float)(csr_gather_word(xb, w.s0), csr_gather_word(xb, w.s1));
#elif CSR_ROWVEC_WORDS == 4
    return (rowvec_float)(csr_gather_word(xb, w.s0), csr_gather_word(xb, w.s1),
                          csr_gather_word(xb, w.s2), csr_gather_word(xb, w.s3));
#else /* u32, VW 16 */
    return (rowvec_float)(csr_gather_word(xb, w.s0), csr_gather_word(xb, w.s1),
                          csr_gather_word(xb, w.s2), csr_gather_word(xb, w.s3),
                          csr_gather_word(xb, w.s4), csr_gather_word(xb, w.s5),
                          csr_gather_word(xb, w.s6), csr_gather_word(xb, w.s7));
#endif
#endif
}

/* The lanes of v added pairwise (halves, then quarters, ...): a fixed order. */
static inline float rowvec_sum(rowvec_float v)
{
#if CSR_ROWVEC_VW == 16
    float8 h8 = v.lo + v.hi;
#elif CSR_ROWVEC_VW == 8
    float8 h8 = v;
#endif
#if CSR_ROWVEC_VW >= 8
    float4 h4 = h8.lo + h8.hi;
#else
    float4 h4 = v;
#endif
    float2 h2 = h4.lo + h4.hi;
    return h2.lo + h2.hi;
}

/* Batch columns one pass over a row serves (values and indices loaded once): the four
 * accumulators acc0..acc3 below. */
#define CSR_ROWVEC_NB 4

/* The row's weight vector at slot j (values, or codes dequantized as csr_weight does). */
static inline rowvec_float rowvec_step_weights(const global sparq_value_t *values,
                                               const global sparq_index_t *col_idx, uint j, uint m,
                                               const global float *scales,
                                               const global char *zero_points, uint gpr,
                                               float row_z)
{
#if SPARQ_QUANTIZED
    return rowvec_weights(values, col_idx, j, m, scales, zero_points, gpr, row_z);
#else
    (void)col_idx, (void)m, (void)scales, (void)zero_points, (void)gpr, (void)row_z;
    return rowvec_load_values(values, j);
#endif
}

/* Adds the slots outside the vector steps ([start, vec_start): an i4 row's odd first
 * code; [vec_end, end): the last len % VW) to sum in order, for the batch row xq, and
 * writes Y[b, m]. */
static inline void rowvec_finish(float sum, const global float *xq, uint start, uint vec_start,
                                 uint vec_end, uint end, const global sparq_index_t *col_idx,
                                 const global sparq_value_t *values, uint m,
                                 const global float *scales, const global char *zero_points,
                                 uint gpr, float row_z, float row_scale, global float *yb,
                                 const global float *bias, const ulong bias_off, const uint act)
{
    for (uint j = start; j < vec_start; j++) {
        const uint c = col_idx[j];
        sum = fma(csr_weight(values, j, m, c, scales, zero_points, gpr, row_z), xq[c], sum);
    }
    for (uint j = vec_end; j < end; j++) {
        const uint c = col_idx[j];
        sum = fma(csr_weight(values, j, m, c, scales, zero_points, gpr, row_z), xq[c], sum);
    }
    yb[m] = sparq_epilogue(sum * row_scale, bias, bias_off, m, act);
}

__kernel __attribute__((reqd_work_group_size(CSR_ROWVEC_WG, 1, 1)))
void spmm_csr_rowvec(const uint rows, const uint cols, const uint batch,
                     const global uint *row_ptr, const global sparq_index_t *col_idx,
                     const global sparq_value_t *values, const global float *scales,
                     const global char *zero_points,
                     const global uint *row_order, const uint use_order,
                     const global float *x, const ulong x_off,
                     global float *y, const ulong y_off,
                     const global float *bias, const ulong bias_off, const uint act)
{
    const uint i = get_global_id(0);
    if (i >= rows)
        return;
    const uint m = use_order ? row_order[i] : i;
    const uint start = row_ptr[m], end = row_ptr[m + 1];
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    const uint vec_start = min(start + (start & 1), end); /* vector steps start at a byte */
#else
    const uint vec_start = start;
#endif
    const uint vec_end = vec_start + (end - vec_start) / CSR_ROWVEC_VW * CSR_ROWVEC_VW;
    const uint gpr = sparq_groups_per_row(cols);
    const float row_scale = csr_row_scale(scales, m), row_z = csr_row_zero(zero_points, m);
    const global float *x0 = x + x_off;
    if (batch == 1) {
        /* two accumulators over alternate steps: no batch checks in the loop, and two
         * independent fma chains */
        rowvec_float acc0 = (rowvec_float)(0.0f), acc1 = acc0;
        uint j = vec_start;
        for (; j + 2 * CSR_ROWVEC_VW <= vec_end; j += 2 * CSR_ROWVEC_VW) {
            /* the row's values and indices 512 slots ahead: on PoCL the hardware
             * prefetcher alone left ~10 % of the batch-1 time waiting on them */
            sparq_prefetch(values + j + 512);
            sparq_prefetch(col_idx + j + 512);
            acc0 = fma(rowvec_step_weights(values, col_idx, j, m, scales, zero_points, gpr,
                                           row_z),
                       rowvec_gather(x0, col_idx, j), acc0);
            acc1 = fma(rowvec_step_weights(values, col_idx, j + CSR_ROWVEC_VW, m, scales,
                                           zero_points, gpr, row_z),
                       rowvec_gather(x0, col_idx, j + CSR_ROWVEC_VW), acc1);
        }
        if (j < vec_end)
            acc0 = fma(rowvec_step_weights(values, col_idx, j, m, scales, zero_points, gpr,
                                           row_z),
                       rowvec_gather(x0, col_idx, j), acc0);
        rowvec_finish(rowvec_sum(acc0 + acc1), x0, start, vec_start, vec_end, end, col_idx,
                      values, m, scales, zero_points, gpr, row_z, row_scale, y + y_off, bias,
                      bias_off, act);
        return;
    }
    for (uint b0 = 0; b0 < batch; b0 += CSR_ROWVEC_NB) {
        const uint nb = min((uint)CSR_ROWVEC_NB, batch - b0);
        const global float *xb = x0 + (size_t)b0 * cols;
        rowvec_float acc0 = (rowvec_float)(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
        for (uint j = vec_start; j < vec_end; j += CSR_ROWVEC_VW) {
            const rowvec_float v = rowvec_step_weights(values, col_idx, j, m, scales,
                                                       zero_points, gpr, row_z);
            acc0 = fma(v, rowvec_gather(xb, col_idx, j), acc0);
            if (nb > 1)
                acc1 = fma(v, rowvec_gather(xb + cols, col_idx, j), acc1);
            if (nb > 2)
                acc2 = fma(v, rowvec_gather(xb + 2 * (size_t)cols, col_idx, j), acc2);
            if (nb > 3)
                acc3 = fma(v, rowvec_gather(xb + 3 * (size_t)cols, col_idx, j), acc3);
        }
        for (uint q = 0; q < nb; q++) {
            const rowvec_float acc = q == 0 ? acc0 : q == 1 ? acc1 : q == 2 ? acc2 : acc3;
            rowvec_finish(rowvec_sum(acc), xb + (size_t)q * cols, start, vec_start, vec_end,
                          end, col_idx, values, m, scales, zero_points, gpr, row_z, row_scale,
                          y + y_off + (size_t)(b0 + q) * rows, bias, bias_off, act);
        }
    }
}

/* ---- spmm_csr_vector: CSR_VECTOR_VS work-items share a row ------------------------------
 * A group of CSR_VECTOR_WG work-items takes CSR_VECTOR_WG / CSR_VECTOR_VS consecutive rows; the VS
 * lanes of a row read its nonzeros side by side (coalesced on GPUs), then add their
 * partial sums with a fixed tree in local memory (no atomics: the same bits every run).
 * The batch loops inside the group. Global size: ceil(rows / rows per group) * CSR_VECTOR_WG. */
#define CSR_VECTOR_ROWS (CSR_VECTOR_WG / CSR_VECTOR_VS)

__kernel __attribute__((reqd_work_group_size(CSR_VECTOR_WG, 1, 1)))
void spmm_csr_vector(const uint rows, const uint cols, const uint batch,
                     const global uint *row_ptr, const global sparq_index_t *col_idx,
                     const global sparq_value_t *values, const global float *scales,
                     const global char *zero_points,
                     const global float *x, const ulong x_off,
                     global float *y, const ulong y_off,
                     const global float *bias, const ulong bias_off, const uint act)
{
    local float partial[CSR_VECTOR_WG];
    const uint lid = get_local_id(0);
    const uint lane = lid % CSR_VECTOR_VS;
    const uint m = get_group_id(0) * CSR_VECTOR_ROWS + lid / CSR_VECTOR_VS;
    const bool valid = m < rows;
    const uint start = valid ? row_ptr[m] : 0, end = valid ? row_ptr[m + 1] : 0;
    const uint gpr = sparq_groups_per_row(cols);
    const float row_scale = valid ? csr_row_scale(scales, m) : 1.0f;
    const float row_z = valid ? csr_row_zero(zero_points, m) : 0.0f;
    for (uint b = 0; b < batch; b++) {
        const global float *xb = x + x_off + (size_t)b * cols;
        float acc = 0.0f;
        for (uint j = start + lane; j < end; j += CSR_VECTOR_VS) {
            const uint c = col_idx[j];
            acc = fma(csr_weight(values, j, m, c, scales, zero_points, gpr, row_z), xb[c], acc);
        }
        partial[lid] = acc;
        barrier(CLK_LOCAL_MEM_FENCE);
        for (uint s = CSR_VECTOR_VS / 2; s > 0; s >>= 1) {
            if (lane < s)
                partial[lid] += partial[lid + s];
            barrier(CLK_LOCAL_MEM_FENCE);
        }
        if (valid && lane == 0)
            y[y_off + (size_t)b * rows + m] =
                sparq_epilogue(partial[lid] * row_scale, bias, bias_off, m, act);
        barrier(CLK_LOCAL_MEM_FENCE); /* partial[] is rewritten by the next batch */
    }
}

/* ---- spmm_csr_batchtile: one work-item per row and CSR_BATCHTILE_TB batch columns -------------
 * X is staged transposed in local memory, CSR_BATCHTILE_KT columns at a time, as one TB-wide
 * vector per column: a nonzero (k, v) then costs one vector load and one vector fma
 * for all TB batch columns, and each nonzero is read once per batch tile. Each
 * work-item walks its row in column order across the staged tiles. Global size: rows
 * rounded up to CSR_BATCHTILE_WG, times ceil(batch / CSR_BATCHTILE_TB) groups in dimension 1. */
typedef CSR_CAT(float, CSR_BATCHTILE_TB) tile_float;

__kernel __attribute__((reqd_work_group_size(CSR_BATCHTILE_WG, 1, 1)))
void spmm_csr_batchtile(const uint rows, const uint cols, const uint batch,
                        const global uint *row_ptr, const global sparq_index_t *col_idx,
                        const global sparq_value_t *values, const global float *scales,
                        const global char *zero_points,
                        const global float *x, const ulong x_off,
                        global float *y, const ulong y_off,
                        const global float *bias, const ulong bias_off, const uint act)
{
    local tile_float xt[CSR_BATCHTILE_KT];
    const uint lid = get_local_id(0);
    const uint m = get_global_id(0);
    const uint b0 = get_group_id(1) * CSR_BATCHTILE_TB;
    const bool valid = m < rows;
    uint j = valid ? row_ptr[m] : 0;
    const uint end = valid ? row_ptr[m + 1] : 0;
    const uint gpr = sparq_groups_per_row(cols);
    const float row_scale = valid ? csr_row_scale(scales, m) : 1.0f;
    const float row_z = valid ? csr_row_zero(zero_points, m) : 0.0f;
    tile_float acc = (tile_float)(0.0f), acc_odd = (tile_float)(0.0f);
    for (uint k0 = 0; k0 < cols; k0 += CSR_BATCHTILE_KT) {
        const uint kt = min((uint)CSR_BATCHTILE_KT, cols - k0);
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous tile is consumed */
        sparq_stage_xt((local float *)xt, x, x_off, cols, batch, b0, CSR_BATCHTILE_TB, k0,
                       CSR_BATCHTILE_KT, lid, CSR_BATCHTILE_WG);
        barrier(CLK_LOCAL_MEM_FENCE);
        /* nonzeros in pairs into two accumulators (two fma chains), added at the end */
        const uint k_end = k0 + kt;
        for (; j + 1 < end; j += 2) {
            const uint c0 = col_idx[j], c1 = col_idx[j + 1];
            if (c1 >= k_end)
                break;
            const float w0 = csr_weight(values, j, m, c0, scales, zero_points, gpr, row_z);
            const float w1 = csr_weight(values, j + 1, m, c1, scales, zero_points, gpr, row_z);
            acc = fma((tile_float)(w0), xt[c0 - k0], acc);
            acc_odd = fma((tile_float)(w1), xt[c1 - k0], acc_odd);
        }
        if (j < end && col_idx[j] < k_end) { /* the pair straddles the tile's end */
            const uint c = col_idx[j];
            const float w = csr_weight(values, j, m, c, scales, zero_points, gpr, row_z);
            acc = fma((tile_float)(w), xt[c - k0], acc);
            j++;
        }
    }
    acc = (acc + acc_odd) * row_scale;
    if (!valid)
        return;
    float out[CSR_BATCHTILE_TB];
    CSR_CAT(vstore, CSR_BATCHTILE_TB)(acc, 0, out);
    for (uint bb = 0; bb < CSR_BATCHTILE_TB && b0 + bb < batch; bb++)
        y[y_off + (size_t)(b0 + bb) * rows + m] = sparq_epilogue(out[bb], bias, bias_off, m, act);
}

/* ---- spmm_csr_binned: rows binned by length, for GPUs at small batch --------------------
 * The device layout pads every row to a multiple of 4 slots (host/spmm_csr.c, explicit
 * zero weights on the row's last column), so a chunk of 4 slots starts at a multiple of 4
 * and loads as one aligned vector: f32 a float4 (16 bytes), f16 a half4 (8), i8 a uint
 * (4 codes), i4 a ushort (4 codes); u16/u32 indices a ushort4/uint4. Lane l of a row's
 * team takes chunks l, l + lanes, ...: the team reads the row front to back in
 * consecutive chunks, side by side (coalesced); x is gathered.
 * `bins` (SPARQ_ARRAY_CSR_BINS, made once at upload) holds, as u32:
 *   words 0-15: n_long, n_units, then cut[c] for c = 0..7 (the binned rows with more
 *               than 2^c chunks: a prefix of the bin order), then zeros;
 *   from word 16, records of 4 words: the rows - n_long binned rows in bin order
 *               (longest length class first, rows ascending within a class) as
 *               (row, start slot, end slot, 0); the n_long long rows as (row, first unit,
 *               end unit, 0); the n_units units of the long rows as (row, start, end, 0),
 *               2048 slots each (BINNED_UNIT, host/spmm_csr.c), a long row's in order.
 * A group reads the header, then its records, once into local memory (one request).
 * A binned row of k chunks gets lanes = next power of two >= k, kept within
 * [CSR_BINNED_TEAM / CSR_BINNED_SHORT, CSR_BINNED_TEAM]: short rows share a team
 * (CSR_BINNED_SHORT of them at most), a medium row has a team of its own (several steps
 * when longer than the team). Rows of one lane count are a contiguous range of the bin
 * order (a level); a work-group takes WG / lanes consecutive rows of one level.
 * Work-groups: first ceil(n_units / CSR_BINNED_SPLIT) take the long rows' units (the
 * whole group on each unit, its sum to partials[b * n_units + unit]), then the levels from
 * the most lanes down; groups past the last level's (the host launches a bound) have none.
 * A second launch (pass 1) adds each long row's unit sums in unit order: every sum is
 * a fixed-order local-memory tree and the combine a fixed loop, so the bits never change
 * from run to run (no atomics).
 * Quantized values decode in registers: one scale per row multiplies the row's sum at
 * the end (sums of q - z); with groups a chunk's 4 columns almost always share a group,
 * whose scale and zero point are then loaded once for the chunk.
 * The batch: CSR_BINNED_NB columns per pass over the rows. Global size: a bound on the
 * groups (host) times CSR_BINNED_WG. The streams are restrict on the kernel only: a
 * restrict parameter of an inlined helper becomes llvm.experimental.noalias.scope.decl,
 * which oclgrind (the CI's checker and the warp model) cannot run. */
#ifndef CSR_BINNED_WG
#define CSR_BINNED_WG 128 /* work-items per group: a power of two */
#endif
#ifndef CSR_BINNED_TEAM
#define CSR_BINNED_TEAM 32 /* the most lanes a row gets: a power of two dividing WG */
#endif
#ifndef CSR_BINNED_SHORT
#define CSR_BINNED_SHORT 32 /* the most rows a team shares: a power of two dividing TEAM */
#endif
#ifndef CSR_BINNED_SPLIT
#define CSR_BINNED_SPLIT 1 /* long-row units a work-group takes */
#endif
#define CSR_BINNED_NB 4 /* batch columns one pass over the rows serves */
#define CSR_BINNED_MIN_LANES (CSR_BINNED_TEAM / CSR_BINNED_SHORT)

/* The 4 column indices of the chunk at slot j (j % 4 == 0). */
static inline uint4 binned_columns(const global sparq_index_t *col_idx, uint j)
{
#if SPARQ_INDEX_U16
    return convert_uint4(((const global ushort4 *)col_idx)[j >> 2]);
#else
    return ((const global uint4 *)col_idx)[j >> 2];
#endif
}

/* x at the chunk's 4 columns. */
static inline float4 binned_gather(const global float *xb, uint4 c)
{
    return (float4)(xb[c.s0], xb[c.s1], xb[c.s2], xb[c.s3]);
}

/* The chunk's 4 weights at slot j of row m (columns c) as the row's sum takes them:
 * values (f32, f16), q - row_z (one scale per row) or (q - z) * scale (groups). */
static inline float4 binned_weights(const global sparq_value_t *values, uint j, uint m,
                                    uint4 c, const global float *scales,
                                    const global char *zero_points, uint gpr,
                                    float row_z)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_F32
    (void)m, (void)c, (void)scales, (void)zero_points, (void)gpr, (void)row_z;
    return ((const global float4 *)values)[j >> 2];
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
    (void)m, (void)c, (void)scales, (void)zero_points, (void)gpr, (void)row_z;
    return vload_half4(j >> 2, values);
#else
#if SPARQ_ENCODING == SPARQ_ENCODING_I8
    const float4 q = convert_float4(as_char4(((const global uint *)values)[j >> 2]));
#else /* i4: code j in the low nibble of byte j / 2; 4 codes are 2 bytes */
    const int2 b = convert_int2(as_char2(((const global ushort *)values)[j >> 2]));
    const int2 even = (b << 28) >> 28, odd = b >> 4;
    const float4 q = convert_float4((int4)(even.s0, odd.s0, even.s1, odd.s1));
#endif
#if CSR_ROW_SCALE
    (void)m, (void)c, (void)scales, (void)zero_points, (void)gpr;
    return q - (float4)(row_z);
#else
    (void)row_z;
    /* the groups of the chunk's first and last columns: the same one for most chunks
     * (one scale load), else their two scales, each column taking its own; the
     * columns between them are in one of the two unless the chunk spans more than two
     * groups (a very sparse row), which loads per column */
    const size_t s0 = sparq_scale_index(m, c.s0, gpr), s3 = sparq_scale_index(m, c.s3, gpr);
    const float sa = scales[s0], za = (float)sparq_load_zero_point(zero_points, s0);
    if (s0 == s3)
        return (q - (float4)(za)) * sa;
    const float sb = scales[s3], zb = (float)sparq_load_zero_point(zero_points, s3);
    const size_t s1 = sparq_scale_index(m, c.s1, gpr), s2 = sparq_scale_index(m, c.s2, gpr);
    if ((s1 == s0 || s1 == s3) && (s2 == s0 || s2 == s3)) {
        const float z1 = s1 == s0 ? za : zb, z2 = s2 == s0 ? za : zb;
        const float c1 = s1 == s0 ? sa : sb, c2 = s2 == s0 ? sa : sb;
        return (q - (float4)(za, z1, z2, zb)) * (float4)(sa, c1, c2, sb);
    }
    const float4 z = (float4)(za, (float)sparq_load_zero_point(zero_points, s1),
                              (float)sparq_load_zero_point(zero_points, s2), zb);
    return (q - z) * (float4)(sa, scales[s1], scales[s2], sb);
#endif
#endif
}

/* This work-item's share of slots [start, end) of row m (lane of `lanes`), for batch
 * columns b0 .. b0 + nb - 1, into partial[q * WG + lid]; then the lanes of each team add
 * up with a fixed tree (lanes uniform across the group): partial[q * WG + lid] of the
 * team's lane 0 holds the sums. Ends with a barrier. */
static inline void binned_row(local float *partial, uint lid, uint lane, uint lanes, uint m,
                              uint start, uint end, uint b0, uint nb, uint cols,
                              const global sparq_index_t *col_idx,
                              const global sparq_value_t *values,
                              const global float *scales,
                              const global char *zero_points, uint gpr, float row_z,
                              const global float *x0)
{
    const global float *xb = x0 + (size_t)b0 * cols;
    float4 acc0 = (float4)(0.0f), acc1 = acc0, acc2 = acc0, acc3 = acc0;
    if (nb == 1) { /* batch 1: no batch checks in the loop */
        for (uint j = start + 4 * lane; j < end; j += 4 * lanes) {
            const uint4 c = binned_columns(col_idx, j);
            acc0 = fma(binned_weights(values, j, m, c, scales, zero_points, gpr, row_z),
                       binned_gather(xb, c), acc0);
        }
    } else {
        for (uint j = start + 4 * lane; j < end; j += 4 * lanes) {
            const uint4 c = binned_columns(col_idx, j);
            const float4 w = binned_weights(values, j, m, c, scales, zero_points, gpr, row_z);
            acc0 = fma(w, binned_gather(xb, c), acc0);
            acc1 = fma(w, binned_gather(xb + cols, c), acc1);
            if (nb > 2)
                acc2 = fma(w, binned_gather(xb + 2 * (size_t)cols, c), acc2);
            if (nb > 3)
                acc3 = fma(w, binned_gather(xb + 3 * (size_t)cols, c), acc3);
        }
    }
    partial[lid] = sparq_sum4(acc0);
    if (nb > 1)
        partial[CSR_BINNED_WG + lid] = sparq_sum4(acc1);
    if (nb > 2)
        partial[2 * CSR_BINNED_WG + lid] = sparq_sum4(acc2);
    if (nb > 3)
        partial[3 * CSR_BINNED_WG + lid] = sparq_sum4(acc3);
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = lanes / 2; s > 0; s >>= 1) {
        if (lane < s)
            for (uint q = 0; q < nb; q++)
                partial[q * CSR_BINNED_WG + lid] += partial[q * CSR_BINNED_WG + lid + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
}

__kernel __attribute__((reqd_work_group_size(CSR_BINNED_WG, 1, 1)))
void spmm_csr_binned(const uint rows, const uint cols, const uint batch,
                     const global uint *restrict row_ptr,
                     const global sparq_index_t *restrict col_idx,
                     const global sparq_value_t *restrict values,
                     const global float *restrict scales,
                     const global char *restrict zero_points,
                     const global uint *restrict bins, global float *restrict partials,
                     const uint pass,
                     const global float *restrict x, const ulong x_off,
                     global float *restrict y, const ulong y_off,
                     const global float *restrict bias, const ulong bias_off, const uint act)
{
    (void)row_ptr; /* the records hold each row's slots */
    local float partial[CSR_BINNED_NB * CSR_BINNED_WG];
    /* partial[] first holds the header, then the group's records: each read once by the
     * group in one request, not once by every lane */
    local uint *staged = (local uint *)partial;
    local uint4 *staged_records = (local uint4 *)partial;
    const uint lid = get_local_id(0);
    if (lid < 16)
        staged[lid] = bins[lid];
    barrier(CLK_LOCAL_MEM_FENCE);
    const uint n_long = staged[0], n_units = staged[1], binned = rows - n_long;
    const global uint4 *records = (const global uint4 *)bins + 4;
    const uint gpr = sparq_groups_per_row(cols);
    const global float *x0 = x + x_off;

    if (pass == 1) { /* the long rows' unit sums, added in unit order */
        const uint i = get_global_id(0);
        if (i >= n_long)
            return;
        const uint4 r = records[binned + i];
        const float row_scale = csr_row_scale(scales, r.s0);
        for (uint b = 0; b < batch; b++) {
            float sum = 0.0f;
            for (uint u = r.s1; u < r.s2; u++)
                sum += partials[(size_t)b * n_units + u];
            y[y_off + (size_t)b * rows + r.s0] =
                sparq_epilogue(sum * row_scale, bias, bias_off, r.s0, act);
        }
        return;
    }

    /* the group's work: CSR_BINNED_SPLIT units of long rows (the whole group on each:
     * lanes = WG), or WG / lanes rows of a level, records [first, hi). One path for
     * both, so that every barrier sits in code all work-items of the group run. */
    const uint unit_groups = (n_units + CSR_BINNED_SPLIT - 1) / CSR_BINNED_SPLIT;
    uint g = get_group_id(0);
    const bool on_units = g < unit_groups;
    uint lanes = CSR_BINNED_WG, first = 0, hi = 0, items = 1;
    if (on_units) {
        first = rows + g * CSR_BINNED_SPLIT;
        hi = rows + min(n_units, (g + 1) * CSR_BINNED_SPLIT);
        items = hi - first;
    } else { /* the level of group g: lanes from CSR_BINNED_TEAM down, each level's rows
              * [level_lo, level_hi) of the bin order (cut[c] = staged[2 + c]), WG / lanes
              * of them a group */
        g -= unit_groups;
        lanes = 0;
        for (uint l = CSR_BINNED_TEAM; l >= CSR_BINNED_MIN_LANES && l > 0; l >>= 1) {
            const uint c = 31 - clz(l); /* log2(l) */
            const uint level_lo = l == CSR_BINNED_TEAM ? 0 : staged[2 + c];
            const uint level_hi = l == CSR_BINNED_MIN_LANES ? binned : staged[1 + c];
            const uint per_group = CSR_BINNED_WG / l;
            const uint groups = (max(level_hi, level_lo) - level_lo + per_group - 1) / per_group;
            if (g < groups) {
                lanes = l, first = level_lo + g * per_group, hi = level_hi;
                break;
            }
            g -= groups;
        }
        if (lanes == 0) /* past the last level (the host launches a bound): no rows */
            lanes = 1, first = hi = 0;
    }
    const uint lane = lid % lanes, team = lid / lanes;
    for (uint i = 0; i < items; i++) {
        barrier(CLK_LOCAL_MEM_FENCE); /* staged[] / partial[] were read */
        const uint base = first + i; /* the first record of this item */
        if (lid < CSR_BINNED_WG / lanes && base + lid < hi)
            staged_records[lid] = records[base + lid];
        barrier(CLK_LOCAL_MEM_FENCE);
        const bool valid = base + team < hi;
        const uint4 r = valid ? staged_records[team] : (uint4)(0);
        barrier(CLK_LOCAL_MEM_FENCE); /* partial[] is rewritten next */
        const uint m = r.s0;
        /* a unit's sum goes out unscaled: the combine scales the row's total */
        const float row_scale = valid && !on_units ? csr_row_scale(scales, m) : 1.0f;
        const float row_z = valid ? csr_row_zero(zero_points, m) : 0.0f;
        for (uint b0 = 0; b0 < batch; b0 += CSR_BINNED_NB) {
            const uint nb = min((uint)CSR_BINNED_NB, batch - b0);
            binned_row(partial, lid, lane, lanes, m, r.s1, r.s2, b0, nb, cols, col_idx, values,
                       scales, zero_points, gpr, row_z, x0);
            if (valid && lane == 0)
                for (uint q = 0; q < nb; q++) {
                    const float sum = partial[q * CSR_BINNED_WG + lid];
                    if (on_units)
                        partials[(size_t)(b0 + q) * n_units + (base - rows)] = sum;
                    else
                        y[y_off + (size_t)(b0 + q) * rows + m] =
                            sparq_epilogue(sum * row_scale, bias, bias_off, m, act);
                }
            barrier(CLK_LOCAL_MEM_FENCE); /* partial[] is rewritten next */
        }
    }
}
