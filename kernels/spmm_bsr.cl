/* SPDX-License-Identifier: Apache-2.0 */
/* spmm_bsr.cl - BSR (block-sparse) products Y = act(X W^T + bias) with W in r x c blocks
 * (block row_ptr u32, block col_idx u16/u32, values f32/f16 or i8/i4 codes block after
 * block, row-major inside a block, ragged edge blocks padded with the code of 0.0;
 * BSR_R/BSR_C, the value types and the quantization by -D from the host). Every kernel
 * takes scales (f32) and zero points (i8) after the values (NULL for f32/f16 and, zero
 * points, when symmetric), and ends with the common tail arguments (see host/matrix.h).
 *
 * Quantized values are dequantized in registers, x' = (q - z) * scale. A block of c <= G
 * columns never straddles a scale group (G % c == 0), so a block's row-segment has one
 * scale: per-group scales multiply each block's partial sums, per-row and per-tensor
 * scales multiply the finished sum of a row once. Per-group scales and zero points are
 * laid out by block row on the device (bsr_scale_index, host/spmm_bsr.c).
 */
#include "common.clh"

#ifndef BSR_R
#define BSR_R 4 /* rows of a block (from the matrix format) */
#endif
#ifndef BSR_C
#define BSR_C 4 /* columns of a block (from the matrix format) */
#endif
#ifndef BSR_SCALAR_WG
#define BSR_SCALAR_WG 64 /* spmm_bsr_scalar: work-items per group */
#endif
#ifndef BSR_TILE_TSR
#define BSR_TILE_TSR 2 /* spmm_bsr_tile/gemv: segment rows per work-item (see below) */
#endif
#ifndef BSR_TILE_TB
#define BSR_TILE_TB 4 /* spmm_bsr_tile/gemv: batch rows per work-item */
#endif
#ifndef BSR_TILE_WGB
#define BSR_TILE_WGB 16 /* spmm_bsr_tile/gemv: work-items along the batch per group */
#endif
#ifndef BSR_TILE_RPG
#define BSR_TILE_RPG 1 /* spmm_bsr_tile/gemv: block rows per group (GPUs: fuller groups) */
#endif

/* BSR_QGROUP: i8/i4 codes with per-group scales (one per row-segment of a block) rather
 * than one per row or tensor */
#define BSR_QGROUP (SPARQ_QUANTIZED && SPARQ_GRANULARITY == SPARQ_SCALE_GROUP)

/* Index into scales / zero points of W[row, col] in the device layout: per group, the
 * BSR_R rows of a block row lie side by side for each group, [block row][group][row in
 * block] (padded to whole block rows), so the rows of one block read adjacent scales
 * (the packed layout puts them a row of groups apart); per row and tensor as packed. */
static inline size_t bsr_scale_index(uint row, uint col, uint gpr)
{
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
    return ((size_t)(row / BSR_R) * gpr + col / SPARQ_GROUP_SIZE) * BSR_R + row % BSR_R;
#else
    return sparq_scale_index(row, col, gpr);
#endif
}

/* The general variant: one work-item per output Y[b, m], any block shape and batch;
 * the work-item walks the blocks of m's block row, reading row m % BSR_R of each.
 * Global size: rows rounded up to BSR_SCALAR_WG, times batch. */
__kernel __attribute__((reqd_work_group_size(BSR_SCALAR_WG, 1, 1)))
void spmm_bsr_scalar(const uint rows, const uint cols, const uint batch,
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
    const uint br = m / BSR_R;
    const global float *xb = x + x_off + (size_t)b * cols;
    float acc = 0.0f;
    const uint end = row_ptr[br + 1];
#if SPARQ_QUANTIZED
    /* sum over blocks of scale * sum (q - z) * x; the scale of a row-segment of a block
     * is one (per group), or that of the whole row (per row, per tensor) */
    const uint gpr = sparq_groups_per_row(cols);
    for (uint j = row_ptr[br]; j < end; j++) {
        const uint k0 = (uint)col_idx[j] * BSR_C;
        const size_t v0 = ((size_t)j * BSR_R + m % BSR_R) * BSR_C;
        const size_t si = bsr_scale_index(m, k0, gpr);
        const float z = (float)sparq_load_zero_point(zero_points, si);
        const uint n = min((uint)BSR_C, cols - k0); /* ragged right edge: inside columns */
        float part = 0.0f;
        for (uint c = 0; c < n; c++)
            part = fma((float)sparq_load_code(values, v0 + c) - z, xb[k0 + c], part);
#if BSR_QGROUP
        acc = fma(scales[si], part, acc);
#else
        acc += part;
#endif
    }
#if !BSR_QGROUP
    acc *= scales[bsr_scale_index(m, 0, gpr)];
#endif
#else
    for (uint j = row_ptr[br]; j < end; j++) {
        const uint k0 = (uint)col_idx[j] * BSR_C;
        const size_t v0 = ((size_t)j * BSR_R + m % BSR_R) * BSR_C;
        if (cols - k0 >= BSR_C) {
            for (uint c = 0; c < BSR_C; c++)
                acc = fma(sparq_load_value(values, v0 + c), xb[k0 + c], acc);
        } else { /* ragged right edge: only the columns inside the matrix */
            for (uint c = 0; c < cols - k0; c++)
                acc = fma(sparq_load_value(values, v0 + c), xb[k0 + c], acc);
        }
    }
#endif
    y[y_off + (size_t)b * rows + m] = sparq_epilogue(acc, bias, bias_off, m, act);
}

/* ---- dense micro-tiles per block (spmm_bsr_tile, spmm_bsr_gemv) ----------------------
 * A block is read as 8-value segments (float8). With BSR_C >= 8 a segment is 8 columns
 * of one block row-in-block; with BSR_C < 8 it spans 8 / BSR_C rows of the block, and the
 * x segment repeats the block's BSR_C x values. A "segment row" is the segments of the
 * same output rows: SEGS segments covering RPS rows. Accumulators are elementwise
 * (lane-wise partial sums over all blocks), summed across lanes once at the end, so the
 * reduction order is fixed. A work-item owns BSR_TILE_TSR segment rows x BSR_TILE_TB batch rows of
 * one block row: BSR_TILE_TSR * BSR_TILE_TB float8 accumulators, each weight segment read once per
 * BSR_TILE_TB batch rows and each x segment once per BSR_TILE_TSR segment rows. A group is
 * BSR_TILE_RPG block rows (NSR/BSR_TILE_TSR work-items each) x BSR_TILE_WGB batch tiles; x stays in
 * cache/registers, no local memory. Quantized segments are 8 codes converted to floats (i4: blocks
 * start at even codes as r * c >= 8), minus the zero points of their lanes' rows; per-group scales
 * multiply a block's per-lane partial sums (lanes of one output row share the block's scale), row
 * and tensor scales the final row sums. */
#define VW 8
#if BSR_R * BSR_C >= VW
#if BSR_C >= VW
#define SEGS (BSR_C / VW) /* segments per segment row */
#define RPS 1             /* block rows per segment row */
#else
#define SEGS 1
#define RPS (VW / BSR_C)
#endif
#define LPR (VW / RPS)    /* lanes of a float8 per output row */
#define NSR (BSR_R / RPS) /* segment rows per block */
/* BSR_TILE_TSR, at most the block's */
#define TSR_EFF (BSR_TILE_TSR < NSR ? BSR_TILE_TSR : NSR)
#define TILE_WI (NSR / TSR_EFF) /* work-items per block row */

/* The weight segment at slot i (quantized: the codes, still without z and scale). i4:
 * the 4 bytes as one 32-bit word, code k in bits 4k..4k+3, each lane shifted to the top
 * and back (sign-extending): one broadcast and two vector shifts, codes in order. */
static inline float8 bsr_load_w8(const global sparq_value_t *values, size_t i)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    const uchar4 b = vload4(0, values + i / 2);
    const int u = (int)b.s0 | (int)b.s1 << 8 | (int)b.s2 << 16 | (int)b.s3 << 24;
    return convert_float8(((int8)(u) << (int8)(28, 24, 20, 16, 12, 8, 4, 0)) >> 28);
#elif SPARQ_QUANTIZED
    return sparq_load_codes8(values, i);
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
    return vload_half8(0, values + i);
#else
    return vload8(0, values + i);
#endif
}

#if SPARQ_QUANTIZED
/* Lane l of a segment belongs to output row l / LPR of its segment row: v[RPS] spread. */
static inline float8 bsr_lanes8(const float *v)
{
#if RPS == 1
    return (float8)(v[0]);
#elif RPS == 2
    return (float8)((float4)(v[0]), (float4)(v[1]));
#elif RPS == 4
    return (float8)((float2)(v[0]), (float2)(v[1]), (float2)(v[2]), (float2)(v[3]));
#else
    return (float8)(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]);
#endif
}

/* The scale index of each output row q of segment row sr of block row br at block
 * column k0; rows past the matrix read the last row's (their padding codes are its z and
 * their sums are never stored). */
static inline size_t bsr_lane_scale_index(uint rows, uint br, uint sr, uint q, uint k0, uint gpr)
{
    return bsr_scale_index(min(br * BSR_R + sr * RPS + q, rows - 1), k0, gpr);
}

/* Zero points of the lanes of segment row sr (as floats), 0 when symmetric. */
static inline float8 bsr_zero_points8(const global char *zero_points, uint rows, uint br, uint sr,
                                      uint k0, uint gpr)
{
    float v[RPS];
    #pragma unroll
    for (uint q = 0; q < RPS; q++)
        v[q] = (float)sparq_load_zero_point(zero_points,
                                            bsr_lane_scale_index(rows, br, sr, q, k0, gpr));
    return bsr_lanes8(v);
}

/* Scales of the lanes of segment row sr at block column k0. */
static inline float8 bsr_scales8(const global float *scales, uint rows, uint br, uint sr, uint k0,
                                 uint gpr)
{
    float v[RPS];
    #pragma unroll
    for (uint q = 0; q < RPS; q++)
        v[q] = scales[bsr_lane_scale_index(rows, br, sr, q, k0, gpr)];
    return bsr_lanes8(v);
}
#endif

/* The x segment at column k (BSR_C < 8: the block's BSR_C values, repeated). */
static inline float8 bsr_load_x8(const global float *xb, uint k)
{
#if BSR_C >= 8
    return vload8(0, xb + k);
#elif BSR_C == 4
    const float4 v = vload4(0, xb + k);
    return (float8)(v, v);
#elif BSR_C == 2 /* two scalar loads: oclgrind --uninitialized crashes on float2 -> float8 */
    const float a = xb[k], b = xb[k + 1];
    return (float8)(a, b, a, b, a, b, a, b);
#else
    return (float8)(xb[k]);
#endif
}

/* The same, for a ragged right-edge block: columns at or past cols read as 0. */
static inline float8 bsr_load_x8_edge(const global float *xb, uint k, uint cols)
{
    float v[VW];
    for (uint l = 0; l < VW; l++) {
        const uint c = k + l % (BSR_C < VW ? BSR_C : VW);
        v[l] = c < cols ? xb[c] : 0.0f;
    }
    return vload8(0, v);
}

static inline void bsr_tile(const uint rows, const uint cols, const uint batch,
                            const global uint *row_ptr, const global sparq_index_t *col_idx,
                            const global sparq_value_t *values, const global float *scales,
                            const global char *zero_points, const global float *x,
                            const ulong x_off, global float *y, const ulong y_off,
                            const global float *bias, const ulong bias_off, const uint act)
{
    const uint br = get_group_id(0) * BSR_TILE_RPG + get_local_id(0) / TILE_WI; /* block row */
    const uint sr0 = get_local_id(0) % TILE_WI * TSR_EFF; /* its first segment row */
    const uint b0 = get_global_id(1) * BSR_TILE_TB;                /* first batch row */
    if (b0 >= batch || br >= rows / BSR_R + (rows % BSR_R != 0))
        return;
    const global float *xr[BSR_TILE_TB];
    #pragma unroll
    for (uint t = 0; t < BSR_TILE_TB; t++) /* rows past the batch repeat the last; never stored */
        xr[t] = x + x_off + (size_t)min(b0 + t, batch - 1) * cols;
    float8 acc[TSR_EFF][BSR_TILE_TB];
    #pragma unroll
    for (uint r = 0; r < TSR_EFF; r++)
        #pragma unroll
        for (uint t = 0; t < BSR_TILE_TB; t++)
            acc[r][t] = (float8)(0.0f);
#if SPARQ_QUANTIZED
    const uint gpr = sparq_groups_per_row(cols);
#if SPARQ_ASYMMETRIC && !BSR_QGROUP
    float8 zv[TSR_EFF]; /* per row or tensor: the same for every block */
    #pragma unroll
    for (uint r = 0; r < TSR_EFF; r++)
        zv[r] = bsr_zero_points8(zero_points, rows, br, sr0 + r, 0, gpr);
#endif
#endif

    const uint end = row_ptr[br + 1];
    for (uint j = row_ptr[br]; j < end; j++) {
        const uint k0 = (uint)col_idx[j] * BSR_C;
        const bool full = cols - k0 >= BSR_C;
        const size_t v0 = (size_t)j * (BSR_R * BSR_C) + (size_t)sr0 * (SEGS * VW);
#if BSR_QGROUP /* this block's partial sums, scaled once at its end */
        float8 part[TSR_EFF][BSR_TILE_TB];
        #pragma unroll
        for (uint r = 0; r < TSR_EFF; r++)
            #pragma unroll
            for (uint t = 0; t < BSR_TILE_TB; t++)
                part[r][t] = (float8)(0.0f);
#if SPARQ_ASYMMETRIC
        float8 zv[TSR_EFF];
        #pragma unroll
        for (uint r = 0; r < TSR_EFF; r++)
            zv[r] = bsr_zero_points8(zero_points, rows, br, sr0 + r, k0, gpr);
#endif
#define BSR_SUM part
#else
#define BSR_SUM acc
#endif
        #pragma unroll
        for (uint s = 0; s < SEGS; s++) {
            float8 xv[BSR_TILE_TB];
            #pragma unroll
            for (uint t = 0; t < BSR_TILE_TB; t++)
                xv[t] = full ? bsr_load_x8(xr[t], k0 + s * VW)
                             : bsr_load_x8_edge(xr[t], k0 + s * VW, cols);
            #pragma unroll
            for (uint r = 0; r < TSR_EFF; r++) {
#if SPARQ_QUANTIZED && SPARQ_ASYMMETRIC
                const float8 w = bsr_load_w8(values, v0 + (r * SEGS + s) * VW) - zv[r];
#else
                const float8 w = bsr_load_w8(values, v0 + (r * SEGS + s) * VW);
#endif
                #pragma unroll
                for (uint t = 0; t < BSR_TILE_TB; t++)
                    BSR_SUM[r][t] = fma(w, xv[t], BSR_SUM[r][t]);
            }
        }
#undef BSR_SUM
#if BSR_QGROUP
        #pragma unroll
        for (uint r = 0; r < TSR_EFF; r++) {
            const float8 sv = bsr_scales8(scales, rows, br, sr0 + r, k0, gpr);
            #pragma unroll
            for (uint t = 0; t < BSR_TILE_TB; t++)
                acc[r][t] = fma(sv, part[r][t], acc[r][t]);
        }
#endif
    }

    #pragma unroll
    for (uint r = 0; r < TSR_EFF; r++) {
        #pragma unroll
        for (uint t = 0; t < BSR_TILE_TB; t++) {
            float lanes[VW];
            vstore8(acc[r][t], 0, lanes);
            #pragma unroll
            for (uint q = 0; q < RPS; q++) {
                const uint m = br * BSR_R + (sr0 + r) * RPS + q;
                float sum = 0.0f;
                #pragma unroll
                for (uint l = 0; l < LPR; l++)
                    sum += lanes[q * LPR + l];
                if (m < rows && b0 + t < batch) {
#if SPARQ_QUANTIZED && !BSR_QGROUP
                    sum *= scales[bsr_scale_index(m, 0, gpr)];
#endif
                    y[y_off + (size_t)(b0 + t) * rows + m] =
                    sparq_epilogue(sum, bias, bias_off, m, act);
                }
            }
        }
    }
}

/* Batch > 1: a work-item computes BSR_TILE_TSR segment rows x BSR_TILE_TB batch rows of a block
 * row. Global size: (block rows rounded up to BSR_TILE_RPG, times TILE_WI; ceil(batch /
 * BSR_TILE_TB) rounded up to BSR_TILE_WGB). */
__kernel __attribute__((reqd_work_group_size(TILE_WI * BSR_TILE_RPG, BSR_TILE_WGB, 1)))
void spmm_bsr_tile(const uint rows, const uint cols, const uint batch,
                   const global uint *row_ptr, const global sparq_index_t *col_idx,
                   const global sparq_value_t *values, const global float *scales,
                   const global char *zero_points,
                   const global float *x, const ulong x_off,
                   global float *y, const ulong y_off,
                   const global float *bias, const ulong bias_off, const uint act)
{
    bsr_tile(rows, cols, batch, row_ptr, col_idx, values, scales, zero_points, x, x_off, y,
             y_off, bias, bias_off, act);
}

/* Batch 1 (its registry row builds it with BSR_TILE_TB=1 and BSR_TILE_WGB=1): the same micro-tile
 * with no wasted batch rows; weights stream once, each work-item reads BSR_TILE_TSR segment rows.
 * */
__kernel __attribute__((reqd_work_group_size(TILE_WI * BSR_TILE_RPG, BSR_TILE_WGB, 1)))
void spmm_bsr_gemv(const uint rows, const uint cols, const uint batch,
                   const global uint *row_ptr, const global sparq_index_t *col_idx,
                   const global sparq_value_t *values, const global float *scales,
                   const global char *zero_points,
                   const global float *x, const ulong x_off,
                   global float *y, const ulong y_off,
                   const global float *bias, const ulong bias_off, const uint act)
{
    bsr_tile(rows, cols, batch, row_ptr, col_idx, values, scales, zero_points, x, x_off, y,
             y_off, bias, bias_off, act);
}
#endif /* BSR_R * BSR_C >= VW */

/* ---- spmm_bsr_stream: GPUs, the weight stream in 16-byte chunks, BSR_STREAM_TB batch
 * rows a pass -----------------------------------------------------------------------------
 * The blocks of a block row lie one after another in values, so a block row is one
 * contiguous stream. A team of BSR_STREAM_LANES lanes walks it in 16-byte chunks of
 * STREAM_CH values (f32 4, f16 8, i8 16, i4 32), each lane loading one chunk at a time
 * as one 16-byte load (float4, uint4): the lanes of a warp read consecutive chunks, in
 * every encoding. A chunk is part of one row of a block (STREAM_CH <= BSR_C) or
 * STREAM_CR whole rows of it. The team size and the chunks per block are commensurate
 * (one a multiple of the other; host/spmm_bsr.c ranks the rest refused): a lane reads
 * the same chunk positions in every block, the same rows, and keeps one private sum per
 * row of each (STREAM_NPL positions x STREAM_CR rows). The team then adds its lanes'
 * sums per row in local memory, in a fixed order. x: the chunk's columns as float4
 * loads where x's row is 16-byte aligned (the lanes of one block share them). i8/i4:
 * codes minus the zero point, times x; per-group scales per chunk (the block's rows read
 * adjacent scales, bsr_scale_index), per-row and per-tensor scales on the finished row
 * sums. A pass takes up to BSR_STREAM_TB batch rows: each chunk is decoded once and
 * multiplied by each row's x, so the blocks are read once per BSR_STREAM_TB batch rows;
 * the team's sums are then added per batch row. */
#if SPARQ_ENCODING == SPARQ_ENCODING_F32
#define STREAM_CH 4
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
#define STREAM_CH 8
#elif SPARQ_ENCODING == SPARQ_ENCODING_I8
#define STREAM_CH 16
#else
#define STREAM_CH 32
#endif
#ifndef BSR_STREAM_LANES
#define BSR_STREAM_LANES 32 /* spmm_bsr_stream: lanes per block row (a team) */
#endif
#ifndef BSR_STREAM_WG
#define BSR_STREAM_WG 128 /* spmm_bsr_stream: work-items per group (teams x lanes) */
#endif
#ifndef BSR_STREAM_TB
#define BSR_STREAM_TB 1 /* spmm_bsr_stream: batch rows a pass: 1, 2 or 4 */
#endif
#define STREAM_CPB (BSR_R * BSR_C / STREAM_CH) /* chunks per block */
/* The kernel exists where blocks are whole chunks that never straddle two rows in part
 * and the team fits the chunks (host/spmm_bsr.c, stream_fits, says the same). */
#if BSR_R * BSR_C % STREAM_CH == 0 &&                                                        \
    (BSR_C % STREAM_CH == 0 || (STREAM_CH % BSR_C == 0 && BSR_R % (STREAM_CH / BSR_C) == 0)) && \
    (BSR_STREAM_LANES % STREAM_CPB == 0 || STREAM_CPB % BSR_STREAM_LANES == 0)
#define STREAM_CW (STREAM_CH < BSR_C ? STREAM_CH : BSR_C) /* columns of a chunk */
#define STREAM_CR (STREAM_CH / STREAM_CW)                 /* rows of a chunk */
/* chunk positions of a block per lane, and blocks a team reads side by side */
#define STREAM_NPL (STREAM_CPB > BSR_STREAM_LANES ? STREAM_CPB / BSR_STREAM_LANES : 1)
#define STREAM_BPS (BSR_STREAM_LANES > STREAM_CPB ? BSR_STREAM_LANES / STREAM_CPB : 1)



/* x of the STREAM_CW columns from k into xs; past the last column (ragged right edge)
 * 0. Where the chunk is inside the matrix and x's row starts on 16 bytes (batch 1 with
 * no offset: the usual case), whole float4s through a float4 pointer (one 16-byte load
 * each on GPUs; a vload4 of unknown alignment is split into four there); else one
 * column at a time. */
static inline void bsr_stream_x(const global float *xb, bool aligned, uint k, uint cols,
                                float *xs)
{
#if STREAM_CW % 4 == 0
    if (aligned && k + STREAM_CW <= cols) {
        #pragma unroll
        for (uint e = 0; e < STREAM_CW; e += 4)
            vstore4(((const global float4 *)(xb + k))[e / 4], 0, xs + e);
        return;
    }
#else
    (void)aligned;
#endif
    for (uint e = 0; e < STREAM_CW; e++)
        xs[e] = k + e < cols ? xb[k + e] : 0.0f;
}

#if BSR_QGROUP
/* The scales (and zero points, 0 when symmetric) of a chunk's STREAM_CR rows at group
 * index s, a multiple of STREAM_CR: side by side in the device layout (bsr_scale_index;
 * the last block row is padded, so no row is past the array), read as whole vectors so
 * that the lanes of a block read its rows' scales as one contiguous run. */
static inline void bsr_stream_scales(const global float *scales, const global char *zero_points,
                                     size_t s, float *sc, float *z)
{
#if STREAM_CR % 4 == 0
    #pragma unroll
    for (uint q = 0; q < STREAM_CR; q += 4) {
        vstore4(((const global float4 *)scales)[(s + q) / 4], 0, sc + q);
#if SPARQ_ASYMMETRIC
        vstore4(convert_float4(((const global char4 *)zero_points)[(s + q) / 4]), 0, z + q);
#else
        vstore4((float4)(0.0f), 0, z + q);
#endif
    }
#elif STREAM_CR == 2
    vstore2(((const global float2 *)scales)[s / 2], 0, sc);
#if SPARQ_ASYMMETRIC
    vstore2(convert_float2(((const global char2 *)zero_points)[s / 2]), 0, z);
#else
    vstore2((float2)(0.0f), 0, z);
#endif
#else
    sc[0] = scales[s];
    z[0] = (float)sparq_load_zero_point(zero_points, s);
#endif
}
#endif

/* Global size: (block rows rounded up to teams per group) x BSR_STREAM_LANES,
 * ceil(batch / BSR_STREAM_TB); groups of BSR_STREAM_WG. */
__kernel __attribute__((reqd_work_group_size(BSR_STREAM_WG, 1, 1)))
void spmm_bsr_stream(const uint rows, const uint cols, const uint batch,
                     const global uint *restrict row_ptr,
                     const global sparq_index_t *restrict col_idx,
                     const global sparq_value_t *restrict values,
                     const global float *restrict scales,
                     const global char *restrict zero_points,
                     const global float *x, const ulong x_off,
                     global float *y, const ulong y_off,
                     const global float *bias, const ulong bias_off, const uint act)
{
    local float sums[BSR_STREAM_WG * STREAM_NPL * STREAM_CR];
    const uint lid = get_local_id(0), lane = lid % BSR_STREAM_LANES;
    const uint br = get_global_id(0) / BSR_STREAM_LANES;
    const uint b0 = get_global_id(1) * BSR_STREAM_TB;
    const uint tb = min((uint)BSR_STREAM_TB, batch - b0); /* batch rows of the pass */
    const bool live = br < rows / BSR_R + (rows % BSR_R != 0);
    const global float *xb = x + x_off + (size_t)b0 * cols;
    /* the lane's chunk positions in a block, and the first block of the row it reads */
    uint pos[STREAM_NPL];
    #pragma unroll
    for (uint n = 0; n < STREAM_NPL; n++)
        pos[n] = STREAM_CPB > BSR_STREAM_LANES ? lane + n * BSR_STREAM_LANES
                                               : lane % STREAM_CPB;
    const uint first = STREAM_BPS > 1 ? lane / STREAM_CPB : 0;
    float acc[BSR_STREAM_TB][STREAM_NPL][STREAM_CR];
    #pragma unroll
    for (uint t = 0; t < BSR_STREAM_TB; t++)
        #pragma unroll
        for (uint n = 0; n < STREAM_NPL; n++)
            #pragma unroll
            for (uint q = 0; q < STREAM_CR; q++)
                acc[t][n][q] = 0.0f;
    /* chunks start at multiples of 4 columns (STREAM_CW % 4 == 0): whole float4s of a
     * batch row whose x starts on 16 bytes */
    bool x_aligned[BSR_STREAM_TB];
    #pragma unroll
    for (uint t = 0; t < BSR_STREAM_TB; t++)
        x_aligned[t] = ((x_off + (size_t)(b0 + t) * cols) & 3) == 0;
#if SPARQ_QUANTIZED
    const uint gpr = sparq_groups_per_row(cols);
#endif
#if SPARQ_QUANTIZED && SPARQ_ASYMMETRIC && !BSR_QGROUP
    float zr[STREAM_NPL][STREAM_CR]; /* per row or tensor: the same in every block */
    #pragma unroll
    for (uint n = 0; n < STREAM_NPL; n++)
        #pragma unroll
        for (uint q = 0; q < STREAM_CR; q++)
            zr[n][q] = live ? (float)zero_points[bsr_scale_index(
                                  min(br * BSR_R + pos[n] * STREAM_CH / BSR_C + q, rows - 1), 0,
                                  gpr)]
                            : 0.0f;
#endif
    const uint j0 = live ? row_ptr[br] : 0, j1 = live ? row_ptr[br + 1] : 0;
    for (uint j = j0 + first; j < j1; j += STREAM_BPS) {
        const uint k0 = (uint)col_idx[j] * BSR_C;
        #pragma unroll
        for (uint n = 0; n < STREAM_NPL; n++) {
            const uint r0 = pos[n] * STREAM_CH / BSR_C;             /* first row */
            const uint c0 = pos[n] * STREAM_CH % BSR_C;             /* first column */
            float w[STREAM_CH];
            sparq_chunk16_values(values, (size_t)j * STREAM_CPB + pos[n], w);
#if BSR_QGROUP
            float sc[STREAM_CR], zc[STREAM_CR];
            bsr_stream_scales(scales, zero_points, bsr_scale_index(br * BSR_R + r0, k0, gpr), sc,
                              zc);
#endif
            #pragma unroll
            for (uint q = 0; q < STREAM_CR; q++) {
#if BSR_QGROUP
                const float z = zc[q];
#elif SPARQ_QUANTIZED && SPARQ_ASYMMETRIC
                const float z = zr[n][q];
#else
                const float z = 0.0f;
#endif
                #pragma unroll
                for (uint e = 0; e < STREAM_CW; e++)
                    w[q * STREAM_CW + e] -= z;
            }
            #pragma unroll
            for (uint t = 0; t < BSR_STREAM_TB; t++) {
                if (t >= tb) /* uniform: the sums stay registers */
                    continue;
                float xs[STREAM_CW];
                bsr_stream_x(xb + (size_t)t * cols, x_aligned[t], k0 + c0, cols, xs);
                #pragma unroll
                for (uint q = 0; q < STREAM_CR; q++) {
                    float part = 0.0f;
                    #pragma unroll
                    for (uint e = 0; e < STREAM_CW; e++)
                        part = fma(w[q * STREAM_CW + e], xs[e], part);
#if BSR_QGROUP
                    acc[t][n][q] = fma(sc[q], part, acc[t][n][q]);
#else
                    acc[t][n][q] += part;
#endif
                }
            }
        }
    }

    /* per batch row of the pass, the team's sums: lane l's sum for position n, row q at
     * [(n * CR + q) * LANES + l] of its team's part (lanes side by side: no bank
     * conflicts); the row's lanes added in the order of their chunks */
    local float *team = sums + (lid - lane) * STREAM_NPL * STREAM_CR;
    #pragma unroll
    for (uint t = 0; t < BSR_STREAM_TB; t++) {
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous row's sums are read */
        #pragma unroll
        for (uint n = 0; n < STREAM_NPL; n++)
            #pragma unroll
            for (uint q = 0; q < STREAM_CR; q++)
                team[(n * STREAM_CR + q) * BSR_STREAM_LANES + lane] = acc[t][n][q];
        barrier(CLK_LOCAL_MEM_FENCE);
        if (!live || t >= tb)
            continue;
        /* row r of the block: its chunk positions p (CH <= C: C / CH of them), each read
         * by the lanes p + bo * CPB (BPS blocks side by side) or by lane p % LANES at
         * position p / LANES */
        for (uint r = lane; r < BSR_R && br * BSR_R + r < rows; r += BSR_STREAM_LANES) {
            const uint m = br * BSR_R + r;
            const uint p0 = r * BSR_C / STREAM_CH, np = BSR_C >= STREAM_CH ? BSR_C / STREAM_CH : 1;
            const uint q = r - p0 * STREAM_CH / BSR_C; /* the row's place in its chunk */
            float sum = 0.0f;
            for (uint bo = 0; bo < STREAM_BPS; bo++)
                for (uint p = p0; p < p0 + np; p++) {
                    const uint l = bo * STREAM_CPB + p % BSR_STREAM_LANES;
                    const uint n = p / BSR_STREAM_LANES;
                    sum += team[(n * STREAM_CR + q) * BSR_STREAM_LANES + l];
                }
#if SPARQ_QUANTIZED && !BSR_QGROUP
            sum *= scales[bsr_scale_index(m, 0, gpr)];
#endif
            y[y_off + (size_t)(b0 + t) * rows + m] = sparq_epilogue(sum, bias, bias_off, m, act);
        }
    }
}
#endif /* the stream kernel's block shapes */
