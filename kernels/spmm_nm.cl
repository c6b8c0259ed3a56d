/* SPDX-License-Identifier: Apache-2.0 */
/* spmm_nm.cl - N:M structured-sparse products Y = act(X W^T + bias) with W packed as
 * N:M (values: per row, per group of NM_M columns, NM_N slots; nm_meta: b-bit slot
 * positions; see sparq.h), in the device's slab layout (nm_slab_index). NM_N/NM_M,
 * NM_SLAB and the value encoding come by -D from the host. Values are f32, f16
 * (widened), or i8 / i4 codes dequantized in registers with their scales and zero
 * points (per tensor, row or group of G columns; NULL pointers for f32/f16 and for
 * symmetric zero points). Every kernel takes (rows, cols, batch, values, nm_meta,
 * scales, zero_points) and ends with the common tail arguments (see matrix.h).
 */
#include "common.clh"

#ifndef NM_N
#define NM_N 2 /* slots kept per group (-D from the matrix format) */
#endif
#ifndef NM_M
#define NM_M 4 /* columns per group (-D from the matrix format) */
#endif
#ifndef NM_SLAB
#define NM_SLAB 8 /* rows per slab of the device layout (-D from host/spmm_nm.c) */
#endif
#ifndef NM_GENERAL_WG
#define NM_GENERAL_WG 64 /* spmm_nm_general: work-items per group */
#endif
#ifndef NM_GEMV24_WG
#define NM_GEMV24_WG 64 /* spmm_nm_gemv24: work-items per group */
#endif
#ifndef NM_GEMV24_LANES
#define NM_GEMV24_LANES 1 /* spmm_nm_gemv24: work-items sharing one row (1 on CPUs) */
#endif
#ifndef NM_GEMV24_SLAB_WG
#define NM_GEMV24_SLAB_WG 64 /* spmm_nm_gemv24_slab: work-items per group */
#endif
#ifndef NM_TILED_WG
#define NM_TILED_WG 64 /* spmm_nm_tiled: work-items per group */
#endif
#ifndef NM_TILED_TB
#define NM_TILED_TB 8 /* spmm_nm_tiled: batch columns per work-item */
#endif
#ifndef NM_TILED24_SLAB_WG
#define NM_TILED24_SLAB_WG 64 /* spmm_nm_tiled24_slab: work-items per group */
#endif
#ifndef NM_TILED24_SLAB_TB
#define NM_TILED24_SLAB_TB 8 /* spmm_nm_tiled24_slab: batch rows per work-item */
#endif
#ifndef NM_BATCHTILE24_WG
#define NM_BATCHTILE24_WG 256 /* spmm_nm_batchtile24: work-items (rows) per group */
#endif
#ifndef NM_BATCHTILE24_TB
#define NM_BATCHTILE24_TB 16 /* spmm_nm_batchtile24: batch rows per work-item (lanes): 8 or 16 */
#endif
#ifndef NM_BATCHTILE24_KT
#define NM_BATCHTILE24_KT 256 /* spmm_nm_batchtile24: columns of X staged at a time (8 | KT) */
#endif

#define NM_CAT_(a, b) a##b
#define NM_CAT(a, b) NM_CAT_(a, b)

/* Bits per position field: 1 for M = 2, 2 for M <= 4, 4 for M <= 16. */
#define NM_BITS (NM_M == 2 ? 1 : NM_M <= 4 ? 2 : 4)
#define NM_FIELDS (8 / NM_BITS) /* fields per meta byte */
#define NM_MASK ((1u << NM_BITS) - 1u)

/* Slots, meta bytes and groups of one row. */
static inline uint nm_groups(uint cols)
{
    return (cols + NM_M - 1) / NM_M;
}
static inline uint nm_meta_bytes(uint cols)
{
    return (nm_groups(cols) * NM_N * NM_BITS + 7) / 8;
}

/* The device layout (host/spmm_nm.c re-packs at sparq_matrix_create): rows come in
 * slabs of NM_SLAB, and within a slab unit u of its rows (a value slot, or a meta
 * byte) lies adjacent, row after row, so NM_SLAB rows' unit u is one vector load.
 * per_row: the units of a row (its meta bytes, or nm_slab_slots); padding rows and
 * slots are zero. For values the index counts elements (i4: nibbles, low first). */
static inline size_t nm_slab_index(uint m, uint u, uint per_row)
{
    return ((size_t)(m / NM_SLAB) * per_row + u) * NM_SLAB + m % NM_SLAB;
}

/* Value slots per row in the device layout: the slots padded to whole meta bytes. */
static inline uint nm_slab_slots(uint cols)
{
    return nm_meta_bytes(cols) * NM_FIELDS;
}

#if SPARQ_QUANTIZED
/* The four codes of one row's 2:4 meta byte (slots 4i .. 4i+3, from element e, the
 * slab index of slot 4i) minus the zero point z, as floats (exact: small integers). */
static inline float4 nm_codes4(const global uchar *vals, size_t e, int z)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    const global uchar *b = vals + e / 2; /* the four nibbles share e's half of a byte */
    const int4 v = (int4)(b[0], b[NM_SLAB / 2], b[NM_SLAB], b[3 * NM_SLAB / 2]);
    const int4 q = (v << (28 - 4 * (int)(e & 1))) >> 28;
#else
    const global char *c = (const global char *)vals + e;
    const int4 q = (int4)(c[0], c[NM_SLAB], c[2 * NM_SLAB], c[3 * NM_SLAB]);
#endif
    return convert_float4(q - z);
}
#else
/* The four values of one row's 2:4 meta byte, from element e (the slab index of slot
 * 4i), widened to float. */
static inline float4 nm_load4(const global sparq_value_t *v, size_t e)
{
    return (float4)(sparq_load_value(v, e), sparq_load_value(v, e + NM_SLAB),
                    sparq_load_value(v, e + 2 * NM_SLAB), sparq_load_value(v, e + 3 * NM_SLAB));
}
#endif

/* acc + sum over slots [j0, j1) of row m (j0 a multiple of NM_FIELDS) of weight *
 * x[col]; each meta byte is read once and decoded in registers, slots whose column is
 * past the last one (tail group) are skipped. Weights as sparq_load_weight
 * (dequantized per slot for i8/i4; gpr from sparq_groups_per_row). */
static inline float nm_dot_slots(const global uchar *nm_meta, const global sparq_value_t *values,
                                 const global float *xb, uint m, uint cols, uint j0, uint j1,
                                 const global float *scales, const global char *zero_points,
                                 uint gpr, float acc)
{
    const uint bytes = nm_meta_bytes(cols), per_row = nm_slab_slots(cols);
    uint g = j0 / NM_N, s = j0 % NM_N;
    for (uint j = j0; j < j1;) {
        const uint byte = nm_meta[nm_slab_index(m, j / NM_FIELDS, bytes)];
        for (uint f = 0; f < NM_FIELDS && j < j1; f++, j++) {
            const uint col = g * NM_M + ((byte >> (f * NM_BITS)) & NM_MASK);
            if (col < cols)
                acc = fma(sparq_load_weight(values, nm_slab_index(m, j, per_row), m, col,
                                            scales, zero_points, gpr),
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
 * Global size: rows rounded up to NM_GENERAL_WG, times batch. */
__kernel __attribute__((reqd_work_group_size(NM_GENERAL_WG, 1, 1)))
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
    const float acc = nm_dot_slots(nm_meta, values, x + x_off + (size_t)b * cols, m, cols, 0,
                                   nm_groups(cols) * NM_N, scales, zero_points,
                                   sparq_groups_per_row(cols), 0.0f);
    y[y_off + (size_t)b * rows + m] = sparq_epilogue(acc, bias, bias_off, m, act);
}

#if NM_N == 2 && NM_M == 4
/* 2:4: the dense weights of columns 8i .. 8i+7 from meta byte i (two groups: bits 0-1,
 * 2-3 the positions of the first, 4-5, 6-7 of the second) and its four values v. */
static inline float8 nm24_expand(uint byte, float4 v)
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
static inline float nm_sum8(float8 a)
{
    return sparq_sum4(a.lo + a.hi);
}

/* x at the four kept columns of 2:4 meta byte i (columns 8i .. 8i+7, both groups
 * whole), in slot order: the partner of the four values (or codes) at batch 1, where
 * gathering four x beats expanding the weights to eight lanes. */
static inline float4 nm24_gather4(uint byte, const global float *xb, uint i)
{
    const global float *x8 = xb + 8 * (size_t)i;
    return (float4)(x8[byte & 3], x8[(byte >> 2) & 3], x8[4 + ((byte >> 4) & 3)],
                    x8[4 + (byte >> 6)]);
}

#if SPARQ_QUANTIZED
/* Meta bytes (8 columns each) that share one scale and zero point: G / 8 for groups
 * (G is a multiple of 8, so a byte's columns never straddle two groups), else the
 * whole row's `whole` bytes. */
static inline uint nm24_scale_span(uint whole)
{
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
    (void)whole;
    return SPARQ_GROUP_SIZE / 8;
#else
    return whole;
#endif
}

/* The dense weights (q - z) * scale of columns 8i .. 8i+7 of row m: its meta byte i and
 * the codes from element e (the slab index of slot 4i). */
static inline float8 nm24_dequant8(uint byte, const global uchar *vals, size_t e, uint i, uint m,
                                   const global float *scales, const global char *zero_points,
                                   uint gpr)
{
    const size_t s = sparq_scale_index(m, 8 * i, gpr);
    const float4 v = nm_codes4(vals, e, sparq_load_zero_point(zero_points, s)) * scales[s];
    return nm24_expand(byte, v);
}
#endif

/* Batch 1, 2:4, one row per work-item (or NM_GEMV24_LANES per row): each row is read as a
 * stream of meta bytes (two groups each): four values as one vector times the four x
 * the byte names (nm24_gather4; expanding the byte to eight lanes instead costs more
 * vector ops than the four loads) while both groups are whole; the last partial byte
 * goes through the scalar path. NM_GEMV24_LANES work-items share a row (interleaved bytes,
 * partials summed in lane order); NM_GEMV24_WG / NM_GEMV24_LANES rows per group. Consecutive
 * work-items read consecutive elements of the slab layout (GPUs).
 * i8/i4: the row runs in spans of meta bytes sharing one scale (a scale group, or the
 * whole row); each span sums (q - z) * x over the kept columns only (four x gathered
 * per byte, float4 fma) and is scaled once (lanes past the span's length idle:
 * NM_GEMV24_LANES <= G / 8 keeps them busy).
 * Global size: rows rounded up to NM_GEMV24_WG / NM_GEMV24_LANES, times NM_GEMV24_LANES. */
__kernel __attribute__((reqd_work_group_size(NM_GEMV24_WG, 1, 1)))
void spmm_nm_gemv24(const uint rows, const uint cols, const uint batch,
                    const global sparq_value_t *values, const global uchar *nm_meta,
                    const global float *scales, const global char *zero_points,
                    const global float *x, const ulong x_off,
                    global float *y, const ulong y_off,
                    const global float *bias, const ulong bias_off, const uint act)
{
    const uint lane = get_local_id(0) % NM_GEMV24_LANES;
    const uint m = get_global_id(0) / NM_GEMV24_LANES;
    const bool live = m < rows && batch > 0;
    float acc = 0.0f;
    if (live) {
        const global uchar *meta = nm_meta + nm_slab_index(m, 0, nm_meta_bytes(cols));
        const size_t e0 = nm_slab_index(m, 0, nm_slab_slots(cols)); /* slot 0 of row m */
        const global float *xb = x + x_off;
        const uint whole = cols / 8; /* meta bytes whose two groups are whole */
        const uint gpr = sparq_groups_per_row(cols);
#if SPARQ_QUANTIZED
        const uint span = nm24_scale_span(whole);
        float4 acc4 = (float4)(0.0f);
        for (uint i0 = 0; i0 < whole; i0 += span) {
            const uint i1 = min(i0 + span, whole);
            const size_t s = sparq_scale_index(m, 8 * i0, gpr);
            const int z = sparq_load_zero_point(zero_points, s);
            float4 part0 = (float4)(0.0f), part1 = (float4)(0.0f);
            uint i = i0 + lane;
            for (; i + NM_GEMV24_LANES < i1; i += 2 * NM_GEMV24_LANES) {
                const uint i2 = i + NM_GEMV24_LANES;
                part0 = fma(nm_codes4(values, e0 + 4 * NM_SLAB * (size_t)i, z),
                            nm24_gather4(meta[NM_SLAB * i], xb, i), part0);
                part1 = fma(nm_codes4(values, e0 + 4 * NM_SLAB * (size_t)i2, z),
                            nm24_gather4(meta[NM_SLAB * i2], xb, i2), part1);
            }
            if (i < i1)
                part0 = fma(nm_codes4(values, e0 + 4 * NM_SLAB * (size_t)i, z),
                            nm24_gather4(meta[NM_SLAB * i], xb, i), part0);
            acc4 = fma((float4)(scales[s]), part0 + part1, acc4);
        }
        acc = sparq_sum4(acc4);
#else
        float4 acc0 = (float4)(0.0f), acc1 = (float4)(0.0f);
        uint i = lane;
        for (; i + NM_GEMV24_LANES < whole; i += 2 * NM_GEMV24_LANES) {
            const uint i1 = i + NM_GEMV24_LANES;
            acc0 = fma(nm_load4(values, e0 + 4 * NM_SLAB * (size_t)i),
                       nm24_gather4(meta[NM_SLAB * i], xb, i), acc0);
            acc1 = fma(nm_load4(values, e0 + 4 * NM_SLAB * (size_t)i1),
                       nm24_gather4(meta[NM_SLAB * i1], xb, i1), acc1);
        }
        if (i < whole)
            acc0 = fma(nm_load4(values, e0 + 4 * NM_SLAB * (size_t)i),
                       nm24_gather4(meta[NM_SLAB * i], xb, i), acc0);
        acc = sparq_sum4(acc0 + acc1);
#endif
        if (lane == 0)
            acc = nm_dot_slots(nm_meta, values, xb, m, cols, 4 * whole, nm_groups(cols) * 2,
                               scales, zero_points, gpr, acc);
    }
#if NM_GEMV24_LANES > 1
    local float part[NM_GEMV24_WG];
    part[get_local_id(0)] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    if (!live || lane != 0)
        return;
    for (uint l = 1; l < NM_GEMV24_LANES; l++)
        acc += part[get_local_id(0) + l];
#else
    if (!live)
        return;
#endif
    y[y_off + m] = sparq_epilogue(acc, bias, bias_off, m, act);
}

#if NM_SLAB == 8
/* The slab kernel's vectors are one lane per row of a slab: float8. */

/* Slot values (f32, f16) or codes minus their zero points z (i8, i4) of one slab's
 * eight rows, from element e (a multiple of 8), as floats. */
static inline float8 nm_slab_load8(const global sparq_value_t *vals, size_t e, int8 z)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    /* row r in nibble r (low first) of one 32-bit word: one load on a little-endian
     * device (every OpenCL CPU and GPU sparq targets; the packed format is
     * little-endian too) */
    const uint w = as_uint(vload4(0, vals + e / 2));
    const int8 q = as_int8((uint8)(w) << (uint8)(28, 24, 20, 16, 12, 8, 4, 0)) >> 28;
    return convert_float8(q - z);
#elif SPARQ_ENCODING == SPARQ_ENCODING_I8
    return convert_float8(convert_int8(as_char8(vload8(0, vals + e))) - z);
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
    (void)z;
    return vload_half8(0, vals + e);
#else
    (void)z;
    return vload8(0, vals + e);
#endif
}

/* x at one slot's kept column for eight rows: the 2-bit field at `shift` of each row's
 * meta byte (m8) picks one of x4, by selects on its two bits moved to the sign bit (no
 * gather: x4 is the same four x for every row). */
static inline float8 nm24_slab_pick(uint8 m8, uint shift, float4 x4)
{
    const int8 bit0 = as_int8(m8 << (31 - shift)), bit1 = as_int8(m8 << (30 - shift));
    const float8 lo = select((float8)(x4.s0), (float8)(x4.s1), bit0);
    const float8 hi = select((float8)(x4.s2), (float8)(x4.s3), bit0);
    return select(lo, hi, bit1);
}

/* The four slot vectors of one slab step (meta byte i: slots 4i .. 4i+3 from element
 * e, the slab index of slot 4i) into v, as nm_slab_load8. */
static inline void nm24_slab_slots(const global sparq_value_t *vals, size_t e, int8 z, float8 *v)
{
#pragma unroll
    for (uint k = 0; k < 4; k++)
        v[k] = nm_slab_load8(vals, e + 8 * k, z);
}

/* acc + the eight rows' products of one slab step: slot vectors v times the x that each
 * row's meta byte (m8) names among xlo, xhi (columns 8i .. 8i+3, 8i+4 .. 8i+7). */
static inline float8 nm24_slab_dot(uint8 m8, const float8 *v, float4 xlo, float4 xhi, float8 acc)
{
    acc = fma(v[0], nm24_slab_pick(m8, 0, xlo), acc);
    acc = fma(v[1], nm24_slab_pick(m8, 2, xlo), acc);
    acc = fma(v[2], nm24_slab_pick(m8, 4, xhi), acc);
    return fma(v[3], nm24_slab_pick(m8, 6, xhi), acc);
}

/* x[col .. col + 3] of the partial last meta byte, 0 past the last column. */
static inline float4 nm24_slab_tail_x4(const global float *xb, uint col, uint cols)
{
    float t[4];
    for (uint k = 0; k < 4; k++)
        t[k] = col + k < cols ? xb[col + k] : 0.0f;
    return vload4(0, t);
}

/* Batch 1, 2:4, one work-item per slab of eight rows (CPUs): each step loads the slab's
 * eight meta bytes and four slot vectors (one lane per row) and multiplies them by x
 * picked with selects from the eight x of those columns, which all rows share: no
 * gather, unlike one row per work-item. The last partial byte (cols % 8 != 0) reads
 * x past the last column as 0 (its slots there hold 0 or point past it, and the layout's
 * padding slots point at column 4 of a group past the last one).
 * i8/i4: spans of bytes sharing one scale per row (nm24_scale_span) sum (q - z) * x,
 * then scale once per lane.
 * Global size: ceil(rows / 8) rounded up to NM_GEMV24_SLAB_WG. */
__kernel __attribute__((reqd_work_group_size(NM_GEMV24_SLAB_WG, 1, 1)))
void spmm_nm_gemv24_slab(const uint rows, const uint cols, const uint batch,
                         const global sparq_value_t *values, const global uchar *nm_meta,
                         const global float *scales, const global char *zero_points,
                         const global float *x, const ulong x_off,
                         global float *y, const ulong y_off,
                         const global float *bias, const ulong bias_off, const uint act)
{
    const uint m0 = get_global_id(0) * 8;
    if (m0 >= rows || batch == 0)
        return;
    const uint bytes = nm_meta_bytes(cols), whole = cols / 8;
    const global uchar *meta = nm_meta + nm_slab_index(m0, 0, bytes);
    const size_t e0 = nm_slab_index(m0, 0, nm_slab_slots(cols));
    const global float *xb = x + x_off;
    float8 acc = (float8)(0.0f), v[4];
#if SPARQ_QUANTIZED
    const uint gpr = sparq_groups_per_row(cols), span = nm24_scale_span(bytes);
#else
    const uint span = bytes;
#endif
    for (uint i0 = 0; i0 < bytes; i0 += span) {
        const uint i1 = min(i0 + span, bytes);
#if SPARQ_QUANTIZED
        const int8 z = sparq_slab8_zero_points(zero_points, m0, rows, 8 * i0, gpr);
#else
        const int8 z = (int8)(0);
#endif
        float8 part = (float8)(0.0f);
        for (uint i = i0; i < min(i1, whole); i++) {
            nm24_slab_slots(values, e0 + 32 * (size_t)i, z, v);
            part = nm24_slab_dot(convert_uint8(vload8(i, meta)), v, vload4(2 * i, xb),
                                 vload4(2 * i + 1, xb), part);
        }
        if (i1 > whole) {
            nm24_slab_slots(values, e0 + 32 * (size_t)whole, z, v);
            part = nm24_slab_dot(convert_uint8(vload8(whole, meta)), v,
                                 nm24_slab_tail_x4(xb, 8 * whole, cols),
                                 nm24_slab_tail_x4(xb, 8 * whole + 4, cols), part);
        }
#if SPARQ_QUANTIZED
        acc = fma(sparq_slab8_scales(scales, m0, rows, 8 * i0, gpr), part, acc);
#else
        acc += part;
#endif
    }
    float out[8];
    vstore8(acc, 0, out);
    for (uint r = 0; r < 8 && m0 + r < rows; r++)
        y[y_off + m0 + r] = sparq_epilogue(out[r], bias, bias_off, m0 + r, act);
}

/* One slab step's dense 8 x 8 weights as column vectors: w[c] (lanes = rows) holds the
 * weights of column 8i + c, from each row's meta byte m8 and the slot vectors v (a
 * column holds the slot that names it, else 0). */
static inline void nm24_slab_columns(uint8 m8, const float8 *v, float8 *w)
{
#pragma unroll
    for (uint h = 0; h < 2; h++) {
        const uint8 p0 = (m8 >> (4 * h)) & 3, p1 = (m8 >> (4 * h + 2)) & 3;
#pragma unroll
        for (uint c = 0; c < 4; c++)
            w[4 * h + c] = select((float8)(0.0f), v[2 * h], p0 == c) +
                           select((float8)(0.0f), v[2 * h + 1], p1 == c);
    }
}

/* acc + the column vectors w times x8[c] each, for the n < 8 columns that exist. */
static inline float8 nm24_slab_columns_dot(const float8 *w, const global float *x8, uint n,
                                           float8 acc)
{
#pragma unroll
    for (uint c = 0; c < 8; c++)
        if (c < n)
            acc = fma(w[c], (float8)(x8[c]), acc);
    return acc;
}

/* Batch > 1, 2:4, one work-item per slab of eight rows and tile of NM_TILED24_SLAB_TB batch rows
 * (CPUs): each step's meta bytes and slot vectors (i8/i4: dequantized, scales folded in) are
 * expanded once into the dense 8 x 8 weights of its columns (nm24_slab_columns), which
 * every batch row of the tile then multiplies by its eight x (broadcast, one fma per
 * column). Batch rows of a partial last tile read the last batch row again and are not
 * written.
 * Global size: ceil(rows / 8) rounded up to NM_TILED24_SLAB_WG, times ceil(batch /
 * NM_TILED24_SLAB_TB). */
__kernel __attribute__((reqd_work_group_size(NM_TILED24_SLAB_WG, 1, 1)))
void spmm_nm_tiled24_slab(const uint rows, const uint cols, const uint batch,
                          const global sparq_value_t *values, const global uchar *nm_meta,
                          const global float *scales, const global char *zero_points,
                          const global float *x, const ulong x_off,
                          global float *y, const ulong y_off,
                          const global float *bias, const ulong bias_off, const uint act)
{
    const uint m0 = get_global_id(0) * 8, b0 = get_global_id(1) * NM_TILED24_SLAB_TB;
    if (m0 >= rows || b0 >= batch)
        return;
    const uint bytes = nm_meta_bytes(cols), whole = cols / 8;
    const global uchar *meta = nm_meta + nm_slab_index(m0, 0, bytes);
    const size_t e0 = nm_slab_index(m0, 0, nm_slab_slots(cols));
    const global float *xt[NM_TILED24_SLAB_TB];
    float8 acc[NM_TILED24_SLAB_TB], v[4];
#pragma unroll
    for (uint t = 0; t < NM_TILED24_SLAB_TB; t++) {
        xt[t] = x + x_off + (size_t)min(b0 + t, batch - 1) * cols;
        acc[t] = (float8)(0.0f);
    }
#if SPARQ_QUANTIZED
    const uint gpr = sparq_groups_per_row(cols), span = nm24_scale_span(bytes);
#else
    const uint span = bytes;
#endif
    for (uint i0 = 0; i0 < bytes; i0 += span) {
#if SPARQ_QUANTIZED
        const int8 z = sparq_slab8_zero_points(zero_points, m0, rows, 8 * i0, gpr);
        const float8 s = sparq_slab8_scales(scales, m0, rows, 8 * i0, gpr);
#else
        const int8 z = (int8)(0);
#endif
        const uint i1 = min(i0 + span, bytes);
        for (uint i = i0; i < i1; i++) {
            nm24_slab_slots(values, e0 + 32 * (size_t)i, z, v);
#if SPARQ_QUANTIZED
#pragma unroll
            for (uint k = 0; k < 4; k++)
                v[k] *= s;
#endif
            float8 w[8];
            nm24_slab_columns(convert_uint8(vload8(i, meta)), v, w);
            if (i < whole) {
#pragma unroll
                for (uint t = 0; t < NM_TILED24_SLAB_TB; t++)
                    acc[t] = nm24_slab_columns_dot(w, xt[t] + 8 * i, 8, acc[t]);
            } else {
#pragma unroll
                for (uint t = 0; t < NM_TILED24_SLAB_TB; t++)
                    acc[t] = nm24_slab_columns_dot(w, xt[t] + 8 * i, cols - 8 * i, acc[t]);
            }
        }
    }
    for (uint r = 0; r < 8 && m0 + r < rows; r++) {
        float out[NM_TILED24_SLAB_TB];
#pragma unroll
        for (uint t = 0; t < NM_TILED24_SLAB_TB; t++) {
            float a[8];
            vstore8(acc[t], 0, a);
            out[t] = a[r];
        }
        for (uint t = 0; t < NM_TILED24_SLAB_TB && b0 + t < batch; t++)
            y[y_off + (size_t)(b0 + t) * rows + m0 + r] =
                sparq_epilogue(out[t], bias, bias_off, m0 + r, act);
    }
}
#endif /* NM_SLAB == 8 */

/* ---- spmm_nm_batchtile24: batch >= 2, 2:4, X staged transposed -----------------------
 * One work-item per row and NM_BATCHTILE24_TB batch rows, which are the vector lanes. X is
 * staged in local memory NM_BATCHTILE24_KT columns at a time, one NM_BATCHTILE24_TB-wide vector per
 * column (sparq_stage_xt), so a kept weight costs one vector fma for all NM_BATCHTILE24_TB batch
 * rows and the pruned half costs nothing: half the fmas of the dense path, where
 * spmm_nm_tiled24_slab expands each group to dense weights and does as many. A meta
 * byte's four slots feed four accumulators (four fma chains). i8/i4: (q - z) x summed
 * over spans of one scale (nm24_scale_span), scaled once per span; f32/f16 take spans
 * of the whole tile with scale 1. The partial last byte (cols % 8) needs no care: X is
 * staged as 0 past the last column, where its slots hold 0 or point. Batch rows past the
 * end are staged as 0 and not written. Global size: rows rounded up to NM_BATCHTILE24_WG,
 * times ceil(batch / NM_BATCHTILE24_TB). */
typedef NM_CAT(float, NM_BATCHTILE24_TB) batchtile_float;

/* The scale that a span of meta bytes from column col shares: 1 for f32/f16. */
static inline float nm24_span_scale(const global float *scales, uint m, uint col, uint gpr)
{
#if SPARQ_QUANTIZED
    return scales[sparq_scale_index(m, col, gpr)];
#else
    (void)scales, (void)m, (void)col, (void)gpr;
    return 1.0f;
#endif
}

/* The four slots of row m's meta byte from element e as floats: values (f32, f16) or
 * codes minus z (i8, i4). */
static inline float4 nm24_slots4(const global sparq_value_t *values, size_t e, int z)
{
#if SPARQ_QUANTIZED
    return nm_codes4(values, e, z);
#else
    (void)z;
    return nm_load4(values, e);
#endif
}

__kernel __attribute__((reqd_work_group_size(NM_BATCHTILE24_WG, 1, 1)))
void spmm_nm_batchtile24(const uint rows, const uint cols, const uint batch,
                         const global sparq_value_t *values, const global uchar *nm_meta,
                         const global float *scales, const global char *zero_points,
                         const global float *x, const ulong x_off,
                         global float *y, const ulong y_off,
                         const global float *bias, const ulong bias_off, const uint act)
{
    local batchtile_float xt[NM_BATCHTILE24_KT];
    const uint lid = get_local_id(0);
    const uint m = get_global_id(0);
    const uint b0 = get_group_id(1) * NM_BATCHTILE24_TB;
    const bool valid = m < rows;
    const uint bytes = nm_meta_bytes(cols), gpr = sparq_groups_per_row(cols);
#if SPARQ_QUANTIZED
    const uint span = nm24_scale_span(bytes);
#else
    const uint span = bytes;
#endif
    const global uchar *meta = nm_meta + nm_slab_index(valid ? m : 0, 0, bytes);
    const size_t e0 = nm_slab_index(valid ? m : 0, 0, nm_slab_slots(cols));
    batchtile_float acc = (batchtile_float)(0.0f);
    for (uint k0 = 0; k0 < cols; k0 += NM_BATCHTILE24_KT) {
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous tile is consumed */
        sparq_stage_xt((local float *)xt, x, x_off, cols, batch, b0, NM_BATCHTILE24_TB, k0,
                       NM_BATCHTILE24_KT, lid, NM_BATCHTILE24_WG);
        barrier(CLK_LOCAL_MEM_FENCE);
        const uint i_end = valid ? min((k0 + NM_BATCHTILE24_KT) / 8, bytes) : 0;
        for (uint i = k0 / 8; i < i_end;) {
            const uint i_stop = min(i_end, (i / span + 1) * span);
#if SPARQ_QUANTIZED
            const int z = sparq_load_zero_point(zero_points, sparq_scale_index(m, 8 * i, gpr));
#else
            const int z = 0;
#endif
            const float scale = nm24_span_scale(scales, m, 8 * i, gpr);
            batchtile_float p0 = (batchtile_float)(0.0f), p1 = p0, p2 = p0, p3 = p0;
            for (; i < i_stop; i++) {
                const uint byte = meta[NM_SLAB * i];
                const float4 v = nm24_slots4(values, e0 + 4 * NM_SLAB * (size_t)i, z);
                const local batchtile_float *x8 = xt + (8 * i - k0);
                p0 = fma((batchtile_float)(v.s0), x8[byte & 3], p0);
                p1 = fma((batchtile_float)(v.s1), x8[(byte >> 2) & 3], p1);
                p2 = fma((batchtile_float)(v.s2), x8[4 + ((byte >> 4) & 3)], p2);
                p3 = fma((batchtile_float)(v.s3), x8[4 + (byte >> 6)], p3);
            }
            acc = fma((batchtile_float)(scale), (p0 + p1) + (p2 + p3), acc);
        }
    }
    if (!valid)
        return;
    float out[NM_BATCHTILE24_TB];
    NM_CAT(vstore, NM_BATCHTILE24_TB)(acc, 0, out);
    for (uint bb = 0; bb < NM_BATCHTILE24_TB && b0 + bb < batch; bb++)
        y[y_off + (size_t)(b0 + bb) * rows + m] = sparq_epilogue(out[bb], bias, bias_off, m, act);
}
#endif /* 2:4 */

/* Batch > 1: one work-item per row and tile of NM_TILED_TB batch columns; each group's metadata
 * is decoded (and i8/i4 codes dequantized) once and used for the whole tile. Rows of a
 * partial last tile read the last batch row again and are not written. 2:4 expands
 * each meta byte into eight dense weights (one float8 fma per batch column); other N:M
 * decode slot by slot.
 * Global size: rows rounded up to NM_TILED_WG, times ceil(batch / NM_TILED_TB). */
__kernel __attribute__((reqd_work_group_size(NM_TILED_WG, 1, 1)))
void spmm_nm_tiled(const uint rows, const uint cols, const uint batch,
                   const global sparq_value_t *values, const global uchar *nm_meta,
                   const global float *scales, const global char *zero_points,
                   const global float *x, const ulong x_off,
                   global float *y, const ulong y_off,
                   const global float *bias, const ulong bias_off, const uint act)
{
    const uint m = get_global_id(0);
    const uint b0 = get_global_id(1) * NM_TILED_TB;
    if (m >= rows || b0 >= batch)
        return;
    const uint slots = nm_groups(cols) * NM_N;
    const uint gpr = sparq_groups_per_row(cols);
    const global uchar *meta = nm_meta + nm_slab_index(m, 0, nm_meta_bytes(cols));
    const size_t e0 = nm_slab_index(m, 0, nm_slab_slots(cols)); /* slot 0 of row m */
    const global float *xt[NM_TILED_TB];
    float acc[NM_TILED_TB];
#pragma unroll
    for (uint t = 0; t < NM_TILED_TB; t++) {
        xt[t] = x + x_off + (size_t)min(b0 + t, batch - 1) * cols;
        acc[t] = 0.0f;
    }
    uint j0 = 0; /* first slot left for the scalar path */
#if NM_N == 2 && NM_M == 4
    {
        const uint whole = cols / 8;
        float8 acc8[NM_TILED_TB];
#pragma unroll
        for (uint t = 0; t < NM_TILED_TB; t++)
            acc8[t] = (float8)(0.0f);
        for (uint i = 0; i < whole; i++) {
            const size_t e = e0 + 4 * NM_SLAB * (size_t)i;
#if SPARQ_QUANTIZED
            const float8 w = nm24_dequant8(meta[NM_SLAB * i], values, e, i, m, scales,
                                           zero_points, gpr);
#else
            const float8 w = nm24_expand(meta[NM_SLAB * i], nm_load4(values, e));
#endif
#pragma unroll
            for (uint t = 0; t < NM_TILED_TB; t++)
                acc8[t] = fma(w, vload8(i, xt[t]), acc8[t]);
        }
#pragma unroll
        for (uint t = 0; t < NM_TILED_TB; t++)
            acc[t] = nm_sum8(acc8[t]);
        j0 = 4 * whole;
    }
#endif
    uint g = j0 / NM_N, s = j0 % NM_N;
    for (uint j = j0; j < slots;) {
        const uint byte = meta[NM_SLAB * (j / NM_FIELDS)];
        for (uint f = 0; f < NM_FIELDS && j < slots; f++, j++) {
            const uint col = g * NM_M + ((byte >> (f * NM_BITS)) & NM_MASK);
            if (col < cols) {
                const float v = sparq_load_weight(values, e0 + NM_SLAB * (size_t)j, m, col,
                                                  scales, zero_points, gpr);
#pragma unroll
                for (uint t = 0; t < NM_TILED_TB; t++)
                    acc[t] = fma(v, xt[t][col], acc[t]);
            }
            if (++s == NM_N) {
                s = 0;
                g++;
            }
        }
    }
#pragma unroll
    for (uint t = 0; t < NM_TILED_TB; t++)
        if (b0 + t < batch)
            y[y_off + (size_t)(b0 + t) * rows + m] =
                sparq_epilogue(acc[t], bias, bias_off, m, act);
}

#if NM_N == 2 && NM_M == 4 && NM_SLAB == 8
/* ---- spmm_nm_stream24: GPUs, 2:4, the slab layout in 16-byte chunks, NM_STREAM24_TB
 * batch rows a pass ----------------------------------------------------------------------
 * In the slab layout a slab's values are one contiguous stream (slot unit u of its eight
 * rows side by side, unit after unit). A team of NM_STREAM24_LANES lanes per slab reads
 * each tile of NM_STREAM24_KT columns of it in 16-byte chunks, lane l chunks l, l + LANES,
 * ..., each one 16-byte load (float4 / uint4): a warp's lanes read consecutive chunks,
 * in every encoding. A chunk is STREAM_NR rows x STREAM_NS slots of one meta byte: f32 4
 * rows x 1 slot (half a unit), f16 8 x 1, i8 8 x 2, i4 8 x 4 (the byte's four slots);
 * STREAM_CPM chunks per meta byte. Per tile the group first stages in local memory x (KT
 * floats, 0 past the last column, padded against bank conflicts), each slab's KT / 8
 * meta units (eight rows' bytes: 16-byte loads where the slab's units start 16-byte
 * aligned, else 8-byte ones) and, for scale groups, its rows' scales (and zero points)
 * of the tile's KT / G groups (consecutive lanes on a row's consecutive groups). A
 * chunk's kept columns come from its
 * rows' staged meta bytes, their x from local memory. LANES is a multiple of 8: a lane
 * reads the same rows and slot positions in every meta byte, and keeps one sum per row;
 * the team adds them per row in lane order at the end (fixed order).
 * i8/i4: (q - z) x summed per chunk; per-group scales per chunk (a meta byte's eight
 * columns share one group), per-row and per-tensor scales on the finished sums.
 * A pass takes up to NM_STREAM24_TB batch rows: each chunk is decoded once and used for
 * every row of the pass, so the weights are read once per NM_STREAM24_TB batch rows. The
 * staged x keeps its size: with P rows in the pass (1, 2 or 4: the pass's rows rounded up
 * to a power of two) a tile is NM_STREAM24_KT / P columns of each (KT a multiple of 256 P,
 * so that a tile holds whole scale groups), and batch 1 runs tiles of all KT columns. */
#ifndef NM_STREAM24_WG
#define NM_STREAM24_WG 256 /* spmm_nm_stream24: work-items per group */
#endif
#ifndef NM_STREAM24_LANES
#define NM_STREAM24_LANES 64 /* spmm_nm_stream24: lanes per slab (a team): 32, 64 or 128 */
#endif
#ifndef NM_STREAM24_KT
#define NM_STREAM24_KT 1024 /* spmm_nm_stream24: x floats staged at a time (256 TB | KT) */
#endif
#ifndef NM_STREAM24_TB
#define NM_STREAM24_TB 1 /* spmm_nm_stream24: batch rows a pass: 1, 2 or 4 */
#endif
#if SPARQ_ENCODING == SPARQ_ENCODING_F32
#define STREAM_NR 4
#define STREAM_NS 1
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
#define STREAM_NR 8
#define STREAM_NS 1
#elif SPARQ_ENCODING == SPARQ_ENCODING_I8
#define STREAM_NR 8
#define STREAM_NS 2
#else
#define STREAM_NR 8
#define STREAM_NS 4
#endif
#define STREAM_CPM (4 * 8 / (STREAM_NR * STREAM_NS)) /* chunks per meta byte */
#define STREAM_SPG (NM_STREAM24_WG / NM_STREAM24_LANES) /* slabs per group */
#define STREAM_QGROUP (SPARQ_QUANTIZED && SPARQ_GRANULARITY == SPARQ_SCALE_GROUP)
#if STREAM_QGROUP
#define STREAM_GPT (NM_STREAM24_KT / SPARQ_GROUP_SIZE) /* scale groups per tile */
#endif



/* Where column k of a tile lies in the staged x: one float of padding after every 32, so
 * that the lanes of a warp gathering a column each from eight-column meta bytes side by
 * side (stride 8 floats) fall on different banks. */
static inline uint nm_stream_xl(uint k)
{
    return k + k / 32;
}

/* Global size: ceil(slabs / STREAM_SPG) x NM_STREAM24_WG, ceil(batch / NM_STREAM24_TB). */
__kernel __attribute__((reqd_work_group_size(NM_STREAM24_WG, 1, 1)))
void spmm_nm_stream24(const uint rows, const uint cols, const uint batch,
                      const global sparq_value_t *restrict values,
                      const global uchar *restrict nm_meta,
                      const global float *restrict scales,
                      const global char *restrict zero_points,
                      const global float *x, const ulong x_off,
                      global float *y, const ulong y_off,
                      const global float *bias, const ulong bias_off, const uint act)
{
    local float xl[NM_STREAM24_KT + NM_STREAM24_KT / 32];
    local uint2 metal[STREAM_SPG][NM_STREAM24_KT / 8]; /* unit i: eight rows' bytes */
#if STREAM_QGROUP
    local float scl[STREAM_SPG][8][STREAM_GPT];
#if SPARQ_ASYMMETRIC
    local float zpl[STREAM_SPG][8][STREAM_GPT];
#endif
#endif
    local float sums[NM_STREAM24_WG * STREAM_NR];
    const uint lid = get_local_id(0), lane = lid % NM_STREAM24_LANES;
    const uint sl = lid / NM_STREAM24_LANES; /* the team's slab in the group */
    const uint slab = (uint)get_group_id(0) * STREAM_SPG + sl, m0 = slab * 8;
    const uint b0 = get_global_id(1) * NM_STREAM24_TB;
    const uint tb = min((uint)NM_STREAM24_TB, batch - b0); /* batch rows of the pass */
    const uint kt = NM_STREAM24_KT / (tb > 2 ? 4 : tb);   /* columns of a tile */
    const uint slice = kt + kt / 32;                        /* staged floats a batch row */
    const bool live = m0 < rows;
    const uint bytes = nm_meta_bytes(cols);
    const global float *xb = x + x_off + (size_t)b0 * cols;
    /* the lane's place in a meta byte: chunk p of it, its first row and slot */
    const uint p = lane % STREAM_CPM;
    const uint r0 = STREAM_NR == 4 ? 4 * (p % 2) : 0;
    const uint s0 = STREAM_NR == 4 ? p / 2 : p * STREAM_NS;
    float acc[NM_STREAM24_TB][STREAM_NR];
    #pragma unroll
    for (uint t = 0; t < NM_STREAM24_TB; t++)
        #pragma unroll
        for (uint r = 0; r < STREAM_NR; r++)
            acc[t][r] = 0.0f;
#if SPARQ_QUANTIZED
    const uint gpr = sparq_groups_per_row(cols);
#endif
#if SPARQ_QUANTIZED && SPARQ_ASYMMETRIC && !STREAM_QGROUP
    float zr[STREAM_NR]; /* per row or tensor: the same in every tile */
    #pragma unroll
    for (uint r = 0; r < STREAM_NR; r++)
        zr[r] = live ? (float)zero_points[sparq_scale_index(min(m0 + r0 + r, rows - 1), 0, gpr)]
                     : 0.0f;
#endif
    for (uint k0 = 0; k0 < cols; k0 += kt) {
        const uint i0 = k0 / 8, units = min(kt / 8, bytes - i0);
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous tile is consumed */
        for (uint j = lid; j < NM_STREAM24_KT; j += NM_STREAM24_WG) { /* row t, column k */
            const uint t = j / kt, k = j % kt;
            xl[t * slice + nm_stream_xl(k)] =
                t < tb && k0 + k < cols ? xb[(size_t)t * cols + k0 + k] : 0.0f;
        }
        for (uint s = 0; s < STREAM_SPG; s++) {
            const uint sm = min((uint)get_group_id(0) * STREAM_SPG + s, (rows - 1) / 8);
            const size_t u0 = (size_t)sm * bytes + i0; /* the slab's first unit of the tile */
            if (u0 % 2 == 0) {
                for (uint u = 2 * lid; u + 1 < units; u += 2 * NM_STREAM24_WG) {
                    const uint4 v = ((const global uint4 *)nm_meta)[(u0 + u) / 2];
                    metal[s][u] = v.lo, metal[s][u + 1] = v.hi;
                }
                if (units % 2 == 1 && lid == 0)
                    metal[s][units - 1] = ((const global uint2 *)nm_meta)[u0 + units - 1];
            } else {
                for (uint u = lid; u < units; u += NM_STREAM24_WG)
                    metal[s][u] = ((const global uint2 *)nm_meta)[u0 + u];
            }
#if STREAM_QGROUP
            const uint g0 = k0 / SPARQ_GROUP_SIZE, ng = min(kt / SPARQ_GROUP_SIZE, gpr - g0);
            for (uint t = lid; t < 8 * STREAM_GPT; t += NM_STREAM24_WG) {
                const uint r = t / STREAM_GPT, g = t % STREAM_GPT;
                if (g >= ng)
                    continue;
                const size_t si = (size_t)min(sm * 8 + r, rows - 1) * gpr + g0 + g;
                scl[s][r][g] = scales[si];
#if SPARQ_ASYMMETRIC
                zpl[s][r][g] = (float)zero_points[si];
#endif
            }
#endif
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        if (!live)
            continue;
        /* the tile's first chunk: meta unit slab * bytes + i0 (the slab index of slot 4 i0
         * is 32 times it), STREAM_CPM chunks a unit */
        const size_t c0 = ((size_t)slab * bytes + i0) * STREAM_CPM;
        for (uint c = lane; c < units * STREAM_CPM; c += NM_STREAM24_LANES) {
            const uint i = c / STREAM_CPM; /* the tile's meta unit */
            float w[STREAM_NR * STREAM_NS]; /* slot k row r at w[k * STREAM_NR + r] (the
                                             * slab layout's order) */
            sparq_chunk16_values(values, c0 + c, w);
            uint mb[STREAM_NR];
            const uint2 mu = metal[sl][i];
            #pragma unroll
            for (uint r = 0; r < STREAM_NR; r++)
                mb[r] = (((r0 + r) < 4 ? mu.x : mu.y) >> (8 * ((r0 + r) % 4))) & 0xffu;
            #pragma unroll
            for (uint r = 0; r < STREAM_NR; r++) {
#if STREAM_QGROUP
                const uint g = 8 * i / SPARQ_GROUP_SIZE;
#if SPARQ_ASYMMETRIC
                const float z = zpl[sl][r0 + r][g];
#else
                const float z = 0.0f;
#endif
#elif SPARQ_QUANTIZED && SPARQ_ASYMMETRIC
                const float z = zr[r];
#else
                const float z = 0.0f;
#endif
                float part[NM_STREAM24_TB];
                #pragma unroll
                for (uint t = 0; t < NM_STREAM24_TB; t++)
                    part[t] = 0.0f;
                #pragma unroll
                for (uint k = 0; k < STREAM_NS; k++) {
                    const uint s = s0 + k; /* slot of the meta byte: column 4 (s / 2) + f */
                    const uint col = nm_stream_xl(8 * i + 4 * (s / 2) + ((mb[r] >> (2 * s)) & 3));
                    const float wz = w[k * STREAM_NR + r] - z;
                    #pragma unroll
                    for (uint t = 0; t < NM_STREAM24_TB; t++)
                        if (t < tb) /* uniform: the sums stay registers */
                            part[t] = fma(wz, xl[t * slice + col], part[t]);
                }
                #pragma unroll
                for (uint t = 0; t < NM_STREAM24_TB; t++)
#if STREAM_QGROUP
                    acc[t][r] = fma(scl[sl][r0 + r][g], part[t], acc[t][r]);
#else
                    acc[t][r] += part[t];
#endif
            }
        }
    }

    /* per batch row of the pass: row r of the lane's chunks at sums[r * WG + lid] (lanes
     * side by side, no bank conflicts), then row r of the slab added by lane r */
    const uint r = lane, step = 8 / STREAM_NR, team = lid - lane;
    #pragma unroll
    for (uint t = 0; t < NM_STREAM24_TB; t++) {
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous row's sums are read */
        #pragma unroll
        for (uint q = 0; q < STREAM_NR; q++)
            sums[q * NM_STREAM24_WG + lid] = acc[t][q];
        barrier(CLK_LOCAL_MEM_FENCE);
        if (!live || t >= tb || r >= 8 || m0 + r >= rows)
            continue;
        /* the team's lanes that read row r (f32: every other lane, half r / 4), in order */
        float sum = 0.0f;
        for (uint l = STREAM_NR == 4 ? r / 4 : 0; l < NM_STREAM24_LANES; l += step)
            sum += sums[r % STREAM_NR * NM_STREAM24_WG + team + l];
#if SPARQ_QUANTIZED && !STREAM_QGROUP
        sum *= scales[sparq_scale_index(m0 + r, 0, gpr)];
#endif
        y[y_off + (size_t)(b0 + t) * rows + m0 + r] =
            sparq_epilogue(sum, bias, bias_off, m0 + r, act);
    }
}
#endif /* 2:4, slabs of 8 */
