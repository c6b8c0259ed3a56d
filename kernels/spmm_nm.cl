/* spmm_nm.cl - N:M structured-sparse products Y = act(X W^T + bias) with W packed as
 * N:M (values: per row, per group of NM_M columns, NM_N slots; nm_meta: b-bit slot
 * positions, rows byte-aligned; see sparq.h). NM_N/NM_M and the value encoding come
 * by -D from the host. Values are f32, f16 (widened), or i8 / i4 codes dequantized in
 * registers with their scales and zero points (per tensor, row or group of G columns;
 * NULL pointers for f32/f16 and for symmetric zero points). Every kernel takes (rows,
 * cols, batch, values, nm_meta, scales, zero_points) and ends with the common tail
 * arguments (see matrix.h).
 */
#include "common.clh"

#ifndef NM_N
#define NM_N 2 /* slots kept per group (-D from the matrix format) */
#endif
#ifndef NM_M
#define NM_M 4 /* columns per group (-D from the matrix format) */
#endif
#ifndef WG
#define WG 64 /* work-items per group */
#endif
#ifndef ROW_LANES
#define ROW_LANES 1 /* spmm_nm_gemv24: work-items sharing one row (1 on CPUs) */
#endif
#ifndef TB
#define TB 8 /* spmm_nm_tiled: batch columns per work-item */
#endif

/* Bits per position field: 1 for M = 2, 2 for M <= 4, 4 for M <= 16. */
#define NM_BITS (NM_M == 2 ? 1 : NM_M <= 4 ? 2 : 4)
#define NM_FIELDS (8 / NM_BITS) /* fields per meta byte */
#define NM_MASK ((1u << NM_BITS) - 1u)

/* Slots, meta bytes and groups of one row. */
inline uint nm_groups(uint cols)
{
    return (cols + NM_M - 1) / NM_M;
}
inline uint nm_meta_bytes(uint cols)
{
    return (nm_groups(cols) * NM_N * NM_BITS + 7) / 8;
}

/* Elements of values (bytes for i4, whose rows start at a byte) between row starts. */
inline size_t nm_row_stride(uint slots)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    return ((size_t)slots + 1) / 2;
#else
    return slots;
#endif
}

#if SPARQ_ENCODING >= SPARQ_ENCODING_I8
/* The four codes of 2:4 meta byte i (slots 4i .. 4i+3 of a row) minus the zero point z,
 * as floats (exact: small integers). i4: two bytes, low nibble first. */
inline float4 nm_codes4(const global uchar *vals, uint i, int z)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    const uchar2 b = vload2(i, vals);
    const int4 v = (int4)((int)b.s0 | ((int)b.s1 << 8));
    const int4 q = (v << (int4)(28, 24, 20, 16)) >> 28;
#else
    const int4 q = convert_int4(as_char4(vload4(i, vals)));
#endif
    return convert_float4(q - z);
}
#else
/* Four consecutive values from element offset i, widened to float. */
inline float4 nm_load4(const global sparq_value_t *v, size_t i)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_F16
    return vload_half4(0, v + i);
#else
    return vload4(0, v + i);
#endif
}
#endif

/* acc + sum over slots [j0, j1) of row m (meta, vals: the row's starts; j0 a multiple
 * of NM_FIELDS) of weight * x[col]; each meta byte is read once and decoded in
 * registers, slots whose column is past the last one (tail group) are skipped. Weights
 * as sparq_load_weight (dequantized per slot for i8/i4; gpr from sparq_groups_per_row). */
inline float nm_dot_slots(const global uchar *meta, const global sparq_value_t *vals,
                          const global float *xb, uint m, uint cols, uint j0, uint j1,
                          const global float *scales, const global char *zero_points,
                          uint gpr, float acc)
{
    uint g = j0 / NM_N, s = j0 % NM_N;
    for (uint j = j0; j < j1;) {
        const uint byte = meta[j / NM_FIELDS];
        for (uint f = 0; f < NM_FIELDS && j < j1; f++, j++) {
            const uint col = g * NM_M + ((byte >> (f * NM_BITS)) & NM_MASK);
            if (col < cols)
                acc = fma(sparq_load_weight(vals, j, m, col, scales, zero_points, gpr),
                          xb[col], acc);
            if (++s == NM_N) {
                s = 0;
                g++;
            }
        }
    }
    return acc;
}

/* The general variant: one work-item per output Y[b, m], any N:M and batch.
 * Global size: rows rounded up to WG, times batch. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void spmm_nm_general(const uint rows, const uint cols, const uint batch,
                     const global sparq_value_t *values, const global uchar *nm_meta,
                     const global float *scales, const global char *zero_points,
                     const global float *x, const ulong x_off,
                     global float *y, const ulong y_off,
                     const global float *bias, const ulong bias_off, const uint act)
{
    const uint m = get_global_id(0);
    const uint b = get_global_id(1);
    if (m >= rows || b >= batch)
        return;
    const uint slots = nm_groups(cols) * NM_N;
    const float acc = nm_dot_slots(nm_meta + (size_t)m * nm_meta_bytes(cols),
                                   values + (size_t)m * nm_row_stride(slots),
                                   x + x_off + (size_t)b * cols, m, cols, 0, slots, scales,
                                   zero_points, sparq_groups_per_row(cols), 0.0f);
    y[y_off + (size_t)b * rows + m] = sparq_epilogue(acc, bias, bias_off, m, act);
}

#if NM_N == 2 && NM_M == 4
/* 2:4: the dense weights of columns 8i .. 8i+7 from meta byte i (two groups: bits 0-1,
 * 2-3 the positions of the first, 4-5, 6-7 of the second) and its four values v. */
inline float8 nm24_expand(uint byte, float4 v)
{
    const int8 lane = (int8)(0, 1, 2, 3, 0, 1, 2, 3);
    const int8 b8 = (int8)((int)byte);
    const int8 pa = (b8 >> (int8)(0, 0, 0, 0, 4, 4, 4, 4)) & 3; /* first slot  */
    const int8 pb = (b8 >> (int8)(2, 2, 2, 2, 6, 6, 6, 6)) & 3; /* second slot */
    const float8 va = (float8)(v.s0, v.s0, v.s0, v.s0, v.s2, v.s2, v.s2, v.s2);
    const float8 vb = (float8)(v.s1, v.s1, v.s1, v.s1, v.s3, v.s3, v.s3, v.s3);
    return select((float8)(0.0f), va, pa == lane) + select((float8)(0.0f), vb, pb == lane);
}

/* Sum of the eight lanes in a fixed order. */
inline float nm_sum4(float4 a)
{
    return (a.s0 + a.s1) + (a.s2 + a.s3);
}
inline float nm_sum8(float8 a)
{
    return nm_sum4(a.lo + a.hi);
}

/* x at the four kept columns of 2:4 meta byte i (columns 8i .. 8i+7, both groups
 * whole), in slot order: the partner of the four values (or codes) at batch 1, where
 * gathering four x beats expanding the weights to eight lanes. */
inline float4 nm24_gather4(uint byte, const global float *xb, uint i)
{
    const global float *x8 = xb + 8 * (size_t)i;
    return (float4)(x8[byte & 3], x8[(byte >> 2) & 3], x8[4 + ((byte >> 4) & 3)],
                    x8[4 + (byte >> 6)]);
}

#if SPARQ_ENCODING >= SPARQ_ENCODING_I8
/* Meta bytes (8 columns each) that share one scale and zero point: G / 8 for groups
 * (G is a multiple of 8, so a byte's columns never straddle two groups), else the
 * whole row's `whole` bytes. */
inline uint nm24_scale_span(uint whole)
{
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
    (void)whole;
    return SPARQ_GROUP_SIZE / 8;
#else
    return whole;
#endif
}

/* The dense weights (q - z) * scale of columns 8i .. 8i+7 of row m (2:4 meta byte i). */
inline float8 nm24_dequant8(const global uchar *meta, const global uchar *vals, uint i,
                            uint m, const global float *scales,
                            const global char *zero_points, uint gpr)
{
    const size_t s = sparq_scale_index(m, 8 * i, gpr);
    const float4 v = nm_codes4(vals, i, sparq_load_zero_point(zero_points, s)) * scales[s];
    return nm24_expand(meta[i], v);
}
#endif

/* Batch 1, 2:4: each row is read as a stream of meta bytes (two groups each): four
 * values as one vector times the four x the byte names (nm24_gather4; expanding the
 * byte to eight lanes instead costs more vector ops than the four loads) while both
 * groups are whole; the last partial byte goes through the scalar path. ROW_LANES
 * work-items share a row (interleaved bytes, partials summed in lane order); WG /
 * ROW_LANES rows per group.
 * i8/i4: the row runs in spans of meta bytes sharing one scale (a scale group, or the
 * whole row); each span sums (q - z) * x over the kept columns only (four x gathered
 * per byte, float4 fma) and is scaled once (lanes past the span's length idle:
 * ROW_LANES <= G / 8 keeps them busy).
 * Global size: rows rounded up to WG / ROW_LANES, times ROW_LANES. */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void spmm_nm_gemv24(const uint rows, const uint cols, const uint batch,
                    const global sparq_value_t *values, const global uchar *nm_meta,
                    const global float *scales, const global char *zero_points,
                    const global float *x, const ulong x_off,
                    global float *y, const ulong y_off,
                    const global float *bias, const ulong bias_off, const uint act)
{
    const uint lane = get_local_id(0) % ROW_LANES;
    const uint m = get_global_id(0) / ROW_LANES;
    const bool live = m < rows && batch > 0;
    float acc = 0.0f;
    if (live) {
        const uint slots = nm_groups(cols) * 2;
        const global uchar *meta = nm_meta + (size_t)m * nm_meta_bytes(cols);
        const global sparq_value_t *vals = values + (size_t)m * nm_row_stride(slots);
        const global float *xb = x + x_off;
        const uint whole = cols / 8; /* meta bytes whose two groups are whole */
        const uint gpr = sparq_groups_per_row(cols);
#if SPARQ_ENCODING >= SPARQ_ENCODING_I8
        const uint span = nm24_scale_span(whole);
        float4 acc4 = (float4)(0.0f);
        for (uint i0 = 0; i0 < whole; i0 += span) {
            const uint i1 = min(i0 + span, whole);
            const size_t s = sparq_scale_index(m, 8 * i0, gpr);
            const int z = sparq_load_zero_point(zero_points, s);
            float4 part0 = (float4)(0.0f), part1 = (float4)(0.0f);
            uint i = i0 + lane;
            for (; i + ROW_LANES < i1; i += 2 * ROW_LANES) {
                const uint i2 = i + ROW_LANES;
                part0 = fma(nm_codes4(vals, i, z), nm24_gather4(meta[i], xb, i), part0);
                part1 = fma(nm_codes4(vals, i2, z), nm24_gather4(meta[i2], xb, i2), part1);
            }
            if (i < i1)
                part0 = fma(nm_codes4(vals, i, z), nm24_gather4(meta[i], xb, i), part0);
            acc4 = fma((float4)(scales[s]), part0 + part1, acc4);
        }
        acc = nm_sum4(acc4);
#else
        float4 acc0 = (float4)(0.0f), acc1 = (float4)(0.0f);
        uint i = lane;
        for (; i + ROW_LANES < whole; i += 2 * ROW_LANES) {
            const uint i1 = i + ROW_LANES;
            acc0 = fma(nm_load4(vals, 4 * (size_t)i), nm24_gather4(meta[i], xb, i), acc0);
            acc1 = fma(nm_load4(vals, 4 * (size_t)i1), nm24_gather4(meta[i1], xb, i1), acc1);
        }
        if (i < whole)
            acc0 = fma(nm_load4(vals, 4 * (size_t)i), nm24_gather4(meta[i], xb, i), acc0);
        acc = nm_sum4(acc0 + acc1);
#endif
        if (lane == 0)
            acc = nm_dot_slots(meta, vals, xb, m, cols, 4 * whole, slots, scales, zero_points,
                               gpr, acc);
    }
#if ROW_LANES > 1
    local float part[WG];
    part[get_local_id(0)] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (!live || lane != 0)
        return;
    for (uint l = 1; l < ROW_LANES; l++)
        acc += part[get_local_id(0) + l];
#else
    if (!live)
        return;
#endif
    y[y_off + m] = sparq_epilogue(acc, bias, bias_off, m, act);
}
#endif /* 2:4 */

/* Batch > 1: one work-item per row and tile of TB batch columns; each group's metadata
 * is decoded (and i8/i4 codes dequantized) once and used for the whole tile. Rows of a
 * partial last tile read the last batch row again and are not written. 2:4 expands
 * each meta byte into eight dense weights (one float8 fma per batch column); other N:M
 * decode slot by slot.
 * Global size: rows rounded up to WG, times ceil(batch / TB). */
__kernel __attribute__((reqd_work_group_size(WG, 1, 1)))
void spmm_nm_tiled(const uint rows, const uint cols, const uint batch,
                   const global sparq_value_t *values, const global uchar *nm_meta,
                   const global float *scales, const global char *zero_points,
                   const global float *x, const ulong x_off,
                   global float *y, const ulong y_off,
                   const global float *bias, const ulong bias_off, const uint act)
{
    const uint m = get_global_id(0);
    const uint b0 = get_global_id(1) * TB;
    if (m >= rows || b0 >= batch)
        return;
    const uint slots = nm_groups(cols) * NM_N;
    const uint gpr = sparq_groups_per_row(cols);
    const global uchar *meta = nm_meta + (size_t)m * nm_meta_bytes(cols);
    const global sparq_value_t *vals = values + (size_t)m * nm_row_stride(slots);
    const global float *xt[TB];
    float acc[TB];
#pragma unroll
    for (uint t = 0; t < TB; t++) {
        xt[t] = x + x_off + (size_t)min(b0 + t, batch - 1) * cols;
        acc[t] = 0.0f;
    }
    uint j0 = 0; /* first slot left for the scalar path */
#if NM_N == 2 && NM_M == 4
    {
        const uint whole = cols / 8;
        float8 acc8[TB];
#pragma unroll
        for (uint t = 0; t < TB; t++)
            acc8[t] = (float8)(0.0f);
        for (uint i = 0; i < whole; i++) {
#if SPARQ_ENCODING >= SPARQ_ENCODING_I8
            const float8 w = nm24_dequant8(meta, vals, i, m, scales, zero_points, gpr);
#else
            const float8 w = nm24_expand(meta[i], nm_load4(vals, 4 * (size_t)i));
#endif
#pragma unroll
            for (uint t = 0; t < TB; t++)
                acc8[t] = fma(w, vload8(i, xt[t]), acc8[t]);
        }
#pragma unroll
        for (uint t = 0; t < TB; t++)
            acc[t] = nm_sum8(acc8[t]);
        j0 = 4 * whole;
    }
#endif
    uint g = j0 / NM_N, s = j0 % NM_N;
    for (uint j = j0; j < slots;) {
        const uint byte = meta[j / NM_FIELDS];
        for (uint f = 0; f < NM_FIELDS && j < slots; f++, j++) {
            const uint col = g * NM_M + ((byte >> (f * NM_BITS)) & NM_MASK);
            if (col < cols) {
                const float v = sparq_load_weight(vals, j, m, col, scales, zero_points, gpr);
#pragma unroll
                for (uint t = 0; t < TB; t++)
                    acc[t] = fma(v, xt[t][col], acc[t]);
            }
            if (++s == NM_N) {
                s = 0;
                g++;
            }
        }
    }
#pragma unroll
    for (uint t = 0; t < TB; t++)
        if (b0 + t < batch)
            y[y_off + (size_t)(b0 + t) * rows + m] =
                sparq_epilogue(acc[t], bias, bias_off, m, act);
}
