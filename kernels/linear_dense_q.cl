/* SPDX-License-Identifier: Apache-2.0 */
/* linear_dense_q.cl - dense quantized weights (i8 / i4 codes with per-tensor, per-row
 * or per-group scales, symmetric or asymmetric) times f32 activations, dequantized in
 * registers; and W8A8: activations quantized per row to 8 bits, then an integer
 * product with exact int32 accumulation. Common tail arguments as in host/matrix.h.
 */
#include "common.clh"

/* Sums are written as they must run: no contraction of a * b + c into fma unless the
 * code says fma (the W8A8 float epilogue is reproduced bit for bit on the host). */
#pragma OPENCL FP_CONTRACT OFF

#ifndef QGEMV_WG
#define QGEMV_WG 16 /* linear_dense_q_gemv: work-items (rows) per group */
#endif
#ifndef QTILE_WG
#define QTILE_WG 16 /* linear_dense_q_tiled: work-items per group */
#endif
#ifndef QTILE_R
#define QTILE_R 2 /* linear_dense_q_tiled: weight rows per work-item: 1 to 4 */
#endif
#ifndef QTILE_TB
#define QTILE_TB 4 /* linear_dense_q_tiled: batch rows per tile: 1 to 8 */
#endif
#ifndef QTILE_NT
#define QTILE_NT 1 /* linear_dense_q_tiled: tiles along the batch per work-item */
#endif
#ifndef W8A8_WG
#define W8A8_WG 16 /* linear_dense_w8a8: work-items per group */
#endif
#ifndef W8A8_S
#define W8A8_S 2 /* linear_dense_w8a8: slabs of 8 weight rows per work-item: 1 or 2 */
#endif
#ifndef W8A8_TB
#define W8A8_TB 4 /* linear_dense_w8a8: batch rows per work-item: 1 to 8 */
#endif
#ifndef QCOOP_WG
#define QCOOP_WG 128 /* linear_dense_q_coop: work-items per group */
#endif
#ifndef QCOOP_LANES
#define QCOOP_LANES 32 /* linear_dense_q_coop: work-items sharing rows (a team) */
#endif
#ifndef QCOOP_R
#define QCOOP_R 2 /* linear_dense_q_coop: rows per team: 1 to 4 */
#endif
#ifndef QCOOP_TB
#define QCOOP_TB 1 /* linear_dense_q_coop: batch rows a pass: 1 to 4 */
#endif
#if QCOOP_TB < 1 || QCOOP_TB > 4
#error "QCOOP_TB must be 1 to 4"
#endif
/* Floats of x a tile in local memory: 8 a work-item (a multiple of 256, 64 columns of
 * each of up to 4 batch rows, for work-groups of 32 or more). */
#define QCOOP_XT (8 * QCOOP_WG)
#ifndef SPARQ_HAS_SUBGROUPS
#define SPARQ_HAS_SUBGROUPS 0 /* the host sets 1 where the device has subgroups */
#endif
#ifndef QROWS_WG
#define QROWS_WG 8 /* quantize_dense_rows: work-items (activation rows) per group */
#endif
/* Activation codes of W8A8 (a semantic choice, not a tunable): 0 = int8 in [-127, 127]
 * with scale max|x| / 127 and no zero point; 1 = uint8 with a zero point, as ONNX
 * DynamicQuantizeLinear. */
#ifndef W8A8_X_ASYM
#define W8A8_X_ASYM 0
#endif
/* How quantize_dense_rows stores the codes: 0 = centred floats (linear_dense_w8a8),
 * 1 = the 8-bit codes themselves, four to a 32-bit word (linear_dense_w8a8_dot). */
#ifndef W8A8_X_PACKED
#define W8A8_X_PACKED 0
#endif
#ifndef W8DOT_WG
#define W8DOT_WG 64 /* linear_dense_w8a8_dot: work-items per group */
#endif
#ifndef W8DOT_LANES
#define W8DOT_LANES 32 /* linear_dense_w8a8_dot: work-items sharing a slab (a team) */
#endif
#ifndef W8DOT_TB
#define W8DOT_TB 4 /* linear_dense_w8a8_dot: batch rows a team: 1 to 8 */
#endif
#ifndef SPARQ_HAS_INTEGER_DOT
#define SPARQ_HAS_INTEGER_DOT 0 /* the host sets 1 where the device has packed 4x8-bit dots */
#endif

/* Columns per scale segment: one group, or the whole row. */
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
#define Q_SEGMENT(cols) ((uint)SPARQ_GROUP_SIZE)
#else
#define Q_SEGMENT(cols) (cols)
#endif

/* The lanes of v added pairwise (halves, then quarters, ...): a fixed order. */
static inline float q_sum8(float8 v)
{
    const float4 h4 = v.lo + v.hi;
    const float2 h2 = h4.lo + h4.hi;
    return h2.lo + h2.hi;
}

/* codes - z (codes as floats), a no-op when symmetric. */
static inline float8 q_minus_zero8(float8 codes, float z)
{
#if SPARQ_ASYMMETRIC
    return codes - (float8)z;
#else
    return codes;
#endif
}

/* End of the segment starting at k0 (no overflow near 2^32). */
static inline uint q_segment_end(uint k0, uint seg, uint cols)
{
    return k0 + min(seg, cols - k0);
}

/* ---- dense i4 rows in step order -------------------------------------------------
 * sparq_matrix_create stores a dense i4 matrix's rows in "step order" (host/matrix.c):
 * each whole block of 64 columns (32 bytes) is eight 32-bit lanes, lane l holding
 * columns l, 8 + l, ..., 56 + l as its nibbles 0..7 (column 8j + l in nibble j); the
 * columns after the last whole block keep the packed order (code k in byte k / 2, low
 * nibble first). So nibble j of the eight lanes is columns 8j .. 8j+7, in order. */

#if SPARQ_ENCODING == SPARQ_ENCODING_I4
/* The eight 32-bit lanes of the 64-column block at byte pointer block. */
static inline uint8 q_i4_lanes(const global uchar *block)
{
    return (uint8)(as_uint4(vload16(0, block)), as_uint4(vload16(0, block + 16)));
}
#endif

/* Eight codes of a dense row from column k (a multiple of 8), as floats. */
static inline float8 q_dense_codes8(const global uchar *row, uint k, uint cols)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    if (k >= cols / 64 * 64)
        return sparq_load_codes8(row, k);
    const uint8 lanes = q_i4_lanes(row + (k & ~63u) / 2);
    const uint shift = 28 - (k & 63u) / 2; /* nibble (k % 64) / 8 to the top */
    return convert_float8(as_int8(lanes << shift) >> 28);
#else
    (void)cols;
    return sparq_load_codes8(row, k);
#endif
}

/* The code of column k of a dense row, sign-extended. */
static inline int q_dense_code(const global uchar *row, uint k, uint cols)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    if (k < cols / 64 * 64) /* its slot in step order: nibble (k % 64) / 8 of lane k % 8 */
        k = (k & ~63u) + 8 * (k & 7u) + (k & 63u) / 8;
#else
    (void)cols;
#endif
    return sparq_load_code(row, k);
}

/* ---- linear_dense_q_gemv: batch 1, a work-item per output row ----------------------
 * The row is read in vector steps of QGEMV_STEP columns, codes converted in registers;
 * scales factor out of each segment's sum (a group, or the whole row for tensor/row
 * scales); columns past a segment's last whole step are added one by one (its tail).
 * i8: 32 codes a step, read signed, zero points subtracted as floats (exact).
 * i4: a step is a 64-column block in step order (above), read as eight 32-bit lanes.
 * Each byte is xor'ed with 0x88, which turns nibble q into u = q + 8, so that nibble j
 * masked in place is u * 16^(j mod 4) (j >= 4 after a 16-bit shift of the lanes): no
 * sign extension, which on x86 costs shifts and widening shuffles on the two vector
 * ports that were the bound. It becomes a float without a conversion either: or'ed into
 * the bits of 2^23 it is the float 2^23 + u * 16^(j mod 4), and subtracting
 * 2^23 + (z + 8) * 16^(j mod 4) leaves (q - z) * 16^(j mod 4), exactly (both near 2^23,
 * every integer there a float): an or and a subtraction where a conversion was. So each
 * weight enters its sum as q - z; summing u x and taking (z + 8) sum(x) off
 * afterwards instead cancels two large terms when x has a nonzero mean (post-GELU
 * activations: 1.8e-5 of max|y| lost). Accumulator
 * j mod 4 collects nibble j times x[8j ..], and is scaled back by 16^-(j mod 4) (exact)
 * when added. Batch > 1 loops inside (row from cache). Global size: rows rounded up to
 * QGEMV_WG. */

#if SPARQ_ENCODING == SPARQ_ENCODING_I4
#define QGEMV_STEP 64
#define QGEMV_BYTES(k) ((k) / 2) /* bytes before column k (k even) */
#else
#define QGEMV_STEP 32
#define QGEMV_BYTES(k) (k)
#endif

#if SPARQ_ENCODING == SPARQ_ENCODING_I4
/* The lanes of the block at byte pointer c with every byte xor 0x88: nibbles as u. */
static inline uint8 qgemv_i4_u_lanes(const global uchar *c)
{
    return q_i4_lanes(c) ^ 0x88888888u;
}

/* u (an in-place nibble, below 2^16) minus c, exactly, as floats: 2^23 + u from the
 * bits, then 2^23 + c off (see above). */
static inline float8 qgemv_i4_float(uint8 u, float c)
{
    return as_float8(u | 0x4b000000u) - (8388608.0f + c);
}

/* Nibbles 0..3 of the (xor'ed) lanes minus (z + 8) in place, times x[0 .. 32), into
 * acc[0..3]: see above. */
static __attribute__((always_inline)) inline void qgemv_i4_half(uint8 lanes, float z,
                                                                const global float *xk,
                                                                float8 *acc)
{
    const float c = z + 8.0f;
    acc[0] = fma(qgemv_i4_float(lanes & 0x000fu, c), vload8(0, xk), acc[0]);
    acc[1] = fma(qgemv_i4_float(lanes & 0x00f0u, c * 16.0f), vload8(0, xk + 8), acc[1]);
    acc[2] = fma(qgemv_i4_float(lanes & 0x0f00u, c * 256.0f), vload8(0, xk + 16), acc[2]);
    acc[3] = fma(qgemv_i4_float(lanes & 0xf000u, c * 4096.0f), vload8(0, xk + 24), acc[3]);
}
#else
/* The eight i8 codes at byte pointer c minus z, times the eight x at xk, plus acc. */
static inline float8 qgemv_i8_fma8(const global uchar *c, float z, const global float *xk,
                                   float8 acc)
{
    return fma(q_minus_zero8(convert_float8(as_char8(vload8(0, c))), z), vload8(0, xk), acc);
}
#endif

/* One vector step of the GEMV: the QGEMV_STEP codes from byte pointer c minus z, times
 * x from xk, into four float8 accumulators (independent fma chains hide the fma
 * latency). Callers
 * pass pointers (not a column to halve) so that the loads' offsets fold into their
 * addresses. The step and the loops below are inlined by force: PoCL's compiler
 * otherwise calls a loop as a function, its accumulators spilled around every call. */
static __attribute__((always_inline)) inline void qgemv_step(const global uchar *c,
                                                             const global float *xk, float z,
                                                             float8 *acc)
{
    sparq_prefetch(c + 1024); /* 32 steps ahead */
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    const uint8 lanes = qgemv_i4_u_lanes(c);
    qgemv_i4_half(lanes, z, xk, acc);
    qgemv_i4_half(lanes >> 16, z, xk + 32, acc);
#else
    acc[0] = qgemv_i8_fma8(c, z, xk, acc[0]);
    acc[1] = qgemv_i8_fma8(c + 8, z, xk + 8, acc[1]);
    acc[2] = qgemv_i8_fma8(c + 16, z, xk + 16, acc[2]);
    acc[3] = qgemv_i8_fma8(c + 24, z, xk + 24, acc[3]);
#endif
}

/* The four accumulators added in a fixed order (i4: each scaled back first). */
static inline float8 qgemv_acc_sum(const float8 *acc)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    return fma(acc[1], (float8)(0.0625f), acc[0]) +
           fma(acc[3], (float8)(0.000244140625f), acc[2] * 0.00390625f);
#else
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
#endif
}

/* The sum over columns [k0, k1) in whole steps (qgemv_acc_sum of the accumulators);
 * the columns past the last whole step go to *tail ((q - z) x, in column order). k0 is
 * a multiple of QGEMV_STEP, or k1 - k0 < QGEMV_STEP. */
static __attribute__((always_inline)) inline float8
qgemv_segment(const global uchar *row, const global float *xb, uint k0, uint k1, uint cols,
              float z, float *tail)
{
    float8 acc[4] = {(float8)(0.0f), (float8)(0.0f), (float8)(0.0f), (float8)(0.0f)};
    *tail = 0.0f;
    uint k = k0;
    for (; k + QGEMV_STEP <= k1; k += QGEMV_STEP)
        qgemv_step(row + QGEMV_BYTES(k), xb + k, z, acc);
    for (; k < k1; k++)
        *tail = fma((float)q_dense_code(row, k, cols) - z, xb[k], *tail);
    return qgemv_acc_sum(acc);
}

/* Per-group scales: the row's groups that whole steps cover, into *total (sums times
 * their scales); the scale and zero point indices step along the row. G >= QGEMV_STEP:
 * each group a fully unrolled run of G / QGEMV_STEP steps. i4 with G = 32: a step covers
 * two groups, nibbles 0-3 the first and nibbles 4-7 the second, each with its own
 * accumulators. Returns the first column not covered. */
static __attribute__((always_inline)) inline uint
qgemv_whole_groups(const global uchar *row, const global float *xb, uint m, uint cols,
                   const global float *scales, const global char *zero_points, float8 *total)
{
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP && SPARQ_GROUP_SIZE % QGEMV_STEP == 0
    const uint groups = cols / SPARQ_GROUP_SIZE;
    const size_t s0 = sparq_scale_index(m, 0, sparq_groups_per_row(cols));
    for (uint g = 0; g < groups; g++) {
        float8 acc[4] = {(float8)(0.0f), (float8)(0.0f), (float8)(0.0f), (float8)(0.0f)};
        const float z = (float)sparq_load_zero_point(zero_points, s0 + g);
        const float scale = scales[s0 + g];
        const uint k = g * SPARQ_GROUP_SIZE;
#pragma unroll
        for (uint i = 0; i < SPARQ_GROUP_SIZE / QGEMV_STEP; i++)
            qgemv_step(row + QGEMV_BYTES(k + QGEMV_STEP * i), xb + k + QGEMV_STEP * i, z, acc);
        *total = fma(qgemv_acc_sum(acc), (float8)scale, *total);
    }
    return groups * SPARQ_GROUP_SIZE;
#elif SPARQ_ENCODING == SPARQ_ENCODING_I4 && SPARQ_GRANULARITY == SPARQ_SCALE_GROUP && \
    SPARQ_GROUP_SIZE == 32
    const uint steps = cols / QGEMV_STEP;
    const size_t s0 = sparq_scale_index(m, 0, sparq_groups_per_row(cols));
    for (uint i = 0; i < steps; i++) {
        float8 acc_a[4] = {(float8)(0.0f), (float8)(0.0f), (float8)(0.0f), (float8)(0.0f)};
        float8 acc_b[4] = {(float8)(0.0f), (float8)(0.0f), (float8)(0.0f), (float8)(0.0f)};
        const uint8 lanes = qgemv_i4_u_lanes(row + QGEMV_BYTES(QGEMV_STEP * i));
        const size_t sa = s0 + 2 * i, sb = sa + 1;
        qgemv_i4_half(lanes, (float)sparq_load_zero_point(zero_points, sa),
                      xb + QGEMV_STEP * i, acc_a);
        qgemv_i4_half(lanes >> 16, (float)sparq_load_zero_point(zero_points, sb),
                      xb + QGEMV_STEP * i + 32, acc_b);
        *total = fma(qgemv_acc_sum(acc_a), (float8)scales[sa], *total);
        *total = fma(qgemv_acc_sum(acc_b), (float8)scales[sb], *total);
    }
    return steps * QGEMV_STEP;
#else
    (void)row, (void)xb, (void)m, (void)cols, (void)scales, (void)zero_points, (void)total;
    return 0;
#endif
}

__kernel __attribute__((reqd_work_group_size(QGEMV_WG, 1, 1)))
void linear_dense_q_gemv(const uint rows, const uint cols, const uint batch,
                         const global uchar *values, const global float *scales,
                         const global char *zero_points,
                         const global float *x, const ulong x_off,
                         global float *y, const ulong y_off,
                         const global float *bias, const ulong bias_off, const uint act)
{
    const uint m = get_global_id(0);
    if (m >= rows)
        return;
    const global uchar *row = values + (size_t)m * sparq_dense_row_stride(cols);
    const uint gpr = sparq_groups_per_row(cols);
    const uint seg = Q_SEGMENT(cols);
    for (uint b = 0; b < batch; b++) {
        const global float *xb = x + x_off + (size_t)b * cols;
        float8 total = (float8)(0.0f);
        float total_tail = 0.0f;
        const uint k_rest = qgemv_whole_groups(row, xb, m, cols, scales, zero_points, &total);
        for (uint k0 = k_rest; k0 < cols; k0 += seg) {
            const size_t s = sparq_scale_index(m, k0, gpr);
            const float scale = scales[s], z = (float)sparq_load_zero_point(zero_points, s);
            float tail;
            const float8 part = qgemv_segment(row, xb, k0, q_segment_end(k0, seg, cols), cols,
                                              z, &tail);
            total = fma(part, (float8)scale, total);
            total_tail = fma(tail, scale, total_tail);
        }
        y[y_off + (size_t)b * rows + m] =
            sparq_epilogue(q_sum8(total) + total_tail, bias, bias_off, m, act);
    }
}

/* ---- linear_dense_q_tiled: batch > 1, QTILE_R rows x QTILE_TB batch rows a work-item --
 * Eight weights of each of the work-item's rows are loaded once (f32, f16 widened, or
 * i8/i4 codes dequantized in registers: (q - z) * scale) and used for QTILE_TB batch
 * rows; each eight x of a batch row are loaded once for the QTILE_R rows. So a weight
 * is read once per tile of batch rows and x once per tile of rows: R x TB fmas per
 * R + TB vector loads (x is read from the cache, and with R = 1 its traffic was the
 * bound). A work-item takes QTILE_NT such tiles along the batch in turn, its rows then
 * coming from its cache: a large W is streamed from memory once per QTILE_NT tiles, not
 * once per tile. Rows past the end read the last row, batch rows past the end the last
 * batch row; neither is written. Global size: ceil(rows / QTILE_R) rounded up to
 * QTILE_WG, times ceil(batch / (QTILE_NT QTILE_TB)). */

/* Bytes from one stored row of this build's weights to the next: f32 (the dense path's
 * weights) cols * 4; f16, i8 and i4 rows padded to 16 bytes (sparq_dense_row_stride). */
static inline size_t q_row_stride(uint cols)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_F32
    return (size_t)cols * 4;
#else
    return sparq_dense_row_stride(cols);
#endif
}

/* Eight weights of a stored row from column k (a multiple of 8), as floats. */
static inline float8 qtile_weights8(const global uchar *row, uint k, uint cols, float z,
                                    float scale)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_F32
    (void)cols, (void)z, (void)scale;
    return vload8(0, (const global float *)row + k);
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
    (void)cols, (void)z, (void)scale;
    return vload_half8(0, (const global half *)row + k);
#else
    return q_minus_zero8(q_dense_codes8(row, k, cols), z) * scale;
#endif
}

/* The weight of a stored row at column k. */
static inline float qtile_weight(const global uchar *row, uint k, uint cols, float z, float scale)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_F32
    (void)cols, (void)z, (void)scale;
    return ((const global float *)row)[k];
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
    (void)cols, (void)z, (void)scale;
    return vload_half(k, (const global half *)row);
#else
    return ((float)q_dense_code(row, k, cols) - z) * scale;
#endif
}

/* One tile: rows m0 .. m0 + QTILE_R - 1 times batch rows b0 .. b0 + QTILE_TB - 1. */
static __attribute__((always_inline)) inline void
qtile_tile(const uint rows, const uint cols, const uint batch, const global uchar *values,
           const global float *scales, const global char *zero_points, const global float *x,
           const ulong x_off, global float *y, const ulong y_off, const global float *bias,
           const ulong bias_off, const uint act, const uint m0, const uint b0)
{
    const global uchar *wr[QTILE_R];
    const global float *xr[QTILE_TB];
    float8 acc[QTILE_R][QTILE_TB];
    float tail[QTILE_R][QTILE_TB];
#pragma unroll
    for (uint r = 0; r < QTILE_R; r++)
        wr[r] = values + (size_t)min(m0 + r, rows - 1) * q_row_stride(cols);
#pragma unroll
    for (uint t = 0; t < QTILE_TB; t++)
        xr[t] = x + x_off + (size_t)min(b0 + t, batch - 1) * cols;
#pragma unroll
    for (uint r = 0; r < QTILE_R; r++)
#pragma unroll
        for (uint t = 0; t < QTILE_TB; t++) {
            acc[r][t] = (float8)(0.0f);
            tail[r][t] = 0.0f;
        }
#if SPARQ_ENCODING == SPARQ_ENCODING_F32 || SPARQ_ENCODING == SPARQ_ENCODING_F16
    (void)scales, (void)zero_points; /* no scales: one segment, the whole row */
    const uint seg = cols;
#else
    const uint gpr = sparq_groups_per_row(cols);
    const uint seg = Q_SEGMENT(cols);
#endif
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    /* The whole 64-column blocks (step order) in 32-column halves, each inside one scale
     * group (G >= 32) whose scale it loads: per half, the four nibbles of each lane
     * moved to its low 16 bits once, then decoded with constant shifts. The columns
     * after the last block (< 64, from a multiple of 64: inside one group, or G = 32
     * aligned) take the segment loop below. */
    const uint k_rest = cols / 64 * 64;
    for (uint k = 0; k < k_rest; k += 32) {
        float scale[QTILE_R], z[QTILE_R];
        uint8 lanes[QTILE_R];
#pragma unroll
        for (uint r = 0; r < QTILE_R; r++) {
            const size_t s = sparq_scale_index(min(m0 + r, rows - 1), k, gpr);
            scale[r] = scales[s];
            z[r] = (float)sparq_load_zero_point(zero_points, s);
            lanes[r] = q_i4_lanes(wr[r] + (k & ~63u) / 2) >> ((k & 32u) / 2);
        }
#pragma unroll
        for (uint j = 0; j < 4; j++) {
            float8 w[QTILE_R];
#pragma unroll
            for (uint r = 0; r < QTILE_R; r++)
                w[r] = q_minus_zero8(convert_float8(as_int8(lanes[r] << (28 - 4 * j)) >> 28),
                                     z[r]) *
                       scale[r];
#pragma unroll
            for (uint t = 0; t < QTILE_TB; t++) {
                const float8 xv = vload8(0, xr[t] + k + 8 * j);
#pragma unroll
                for (uint r = 0; r < QTILE_R; r++)
                    acc[r][t] = fma(w[r], xv, acc[r][t]);
            }
        }
    }
#else
    const uint k_rest = 0;
#endif
    for (uint k0 = k_rest; k0 < cols; k0 += seg) {
        float scale[QTILE_R], z[QTILE_R];
#pragma unroll
        for (uint r = 0; r < QTILE_R; r++) {
#if SPARQ_ENCODING == SPARQ_ENCODING_F32 || SPARQ_ENCODING == SPARQ_ENCODING_F16
            scale[r] = 1.0f, z[r] = 0.0f;
#else
            const size_t s = sparq_scale_index(min(m0 + r, rows - 1), k0, gpr);
            scale[r] = scales[s];
            z[r] = (float)sparq_load_zero_point(zero_points, s);
#endif
        }
        const uint k1 = q_segment_end(k0, seg, cols);
        uint k = k0;
        for (; k + 8 <= k1; k += 8) {
            float8 w[QTILE_R];
#pragma unroll
            for (uint r = 0; r < QTILE_R; r++)
                w[r] = qtile_weights8(wr[r], k, cols, z[r], scale[r]);
#pragma unroll
            for (uint t = 0; t < QTILE_TB; t++) {
                const float8 xv = vload8(0, xr[t] + k);
#pragma unroll
                for (uint r = 0; r < QTILE_R; r++)
                    acc[r][t] = fma(w[r], xv, acc[r][t]);
            }
        }
        for (; k < k1; k++)
#pragma unroll
            for (uint r = 0; r < QTILE_R; r++) {
                const float w = qtile_weight(wr[r], k, cols, z[r], scale[r]);
#pragma unroll
                for (uint t = 0; t < QTILE_TB; t++)
                    tail[r][t] = fma(w, xr[t][k], tail[r][t]);
            }
    }
#pragma unroll
    for (uint r = 0; r < QTILE_R; r++)
#pragma unroll
        for (uint t = 0; t < QTILE_TB; t++)
            if (m0 + r < rows && b0 + t < batch)
                y[y_off + (size_t)(b0 + t) * rows + m0 + r] =
                    sparq_epilogue(q_sum8(acc[r][t]) + tail[r][t], bias, bias_off, m0 + r, act);
}

__kernel __attribute__((reqd_work_group_size(QTILE_WG, 1, 1)))
void linear_dense_q_tiled(const uint rows, const uint cols, const uint batch,
                          const global uchar *values, const global float *scales,
                          const global char *zero_points,
                          const global float *x, const ulong x_off,
                          global float *y, const ulong y_off,
                          const global float *bias, const ulong bias_off, const uint act)
{
    const uint m0 = get_global_id(0) * QTILE_R;
    const uint b_first = get_global_id(1) * QTILE_NT * QTILE_TB;
    if (m0 >= rows)
        return;
    for (uint b0 = b_first; b0 < batch && b0 < b_first + QTILE_NT * QTILE_TB; b0 += QTILE_TB)
        qtile_tile(rows, cols, batch, values, scales, zero_points, x, x_off, y, y_off, bias,
                   bias_off, act, m0, b0);
}

/* ---- linear_dense_q_coop: GPUs, a team of lanes per row, QCOOP_TB batch rows a pass ----
 * QCOOP_LANES work-items (a team) share QCOOP_R rows: lane l reads the row's 16-byte
 * chunks l, l + LANES, ..., so a warp's lanes read consecutive chunks (whole sectors)
 * with one 128-bit load each through a uint4 / float4 pointer (rows start on 16 bytes:
 * sparq_dense_row_stride). A chunk holds 4 f32, 8 f16, 16 i8 codes, or half of an i4
 * step-order block (above: lanes 4h .. 4h + 3 of the 64-column block, so its 32 codes
 * are columns 8j + 4h + (0..3), j = 0..7). The batch goes in passes of up to QCOOP_TB
 * rows: each chunk is decoded once (codes to q - z in registers, exact) and used for
 * every batch row of the pass, so the matrix is read ceil(batch / QCOOP_TB) times. Per
 * pass the work-group stages x of its batch rows in local memory, QCOOP_XT floats at a
 * time (QCOOP_XT / P columns of each of its P = 1, 2 or 4 rows), each row's slice at
 * float index k + 4 (k / 32): the 4 floats after every 32 put the quarter-warp phases
 * of the lanes' float4 reads in distinct banks for every encoding. A chunk's products go
 * to float4 accumulators, added in a fixed order and scaled by its group's scale (group
 * scales; a chunk lies inside one group for G >= its columns, i4 with G = 32 takes two);
 * row and tensor scales multiply the row's sum at the end. The columns after the last
 * whole chunk window are added lane by lane from global memory. The lanes' sums are
 * added in a fixed order: a tree in local memory, or sub_group_reduce_add where the
 * device has subgroups and a subgroup is a team (then the subgroup is the team).
 * Global size: ceil(rows / (teams x QCOOP_R)) groups of QCOOP_WG; scratch:
 * QCOOP_XT * 9 / 8 floats (9 a work-item; the sums use QCOOP_TB). */

#if SPARQ_ENCODING == SPARQ_ENCODING_I4
#define QCOOP_WINDOW 64 /* columns of one chunk window (an i4 step-order block: 2 chunks) */
#define QCOOP_PER_WINDOW 2
#elif SPARQ_ENCODING == SPARQ_ENCODING_I8
#define QCOOP_WINDOW 16
#define QCOOP_PER_WINDOW 1
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
#define QCOOP_WINDOW 8
#define QCOOP_PER_WINDOW 1
#else
#define QCOOP_WINDOW 4
#define QCOOP_PER_WINDOW 1
#endif
#define QCOOP_TEAMS (QCOOP_WG / QCOOP_LANES)

/* The staged x of a chunk window starting at column kt of the tile (a multiple of the
 * window): its float4 i is at [i] for i < 8 (windows of up to 32 columns stay inside one
 * padded run of 32), an i4 window's float4 i at [i + i / 8]. */
static inline const local float4 *qcoop_window_x(const local float4 *xs, uint kt)
{
    return xs + kt / 4 + kt / 32;
}

/* Group scales multiply each chunk's sum; row and tensor scales the row's (at the end). */
static inline float qcoop_group_scale(const global float *scales, size_t s)
{
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
    return scales[s];
#else
    (void)scales, (void)s;
    return 1.0f;
#endif
}

/* part[b] += q * xw[i] of slice b, for the tb slices of a pass (a uniform branch in an
 * unrolled loop: the accumulators stay registers). */
static inline void qcoop_fma4(float4 q, const local float4 *xw, uint slice4, uint tb, uint i,
                              float4 *part)
{
#pragma unroll
    for (uint b = 0; b < QCOOP_TB; b++)
        if (b < tb)
            part[b] = fma(q, xw[b * slice4 + i], part[b]);
}

/* acc[b] += scale * (the lanes of part[b] in a fixed order), then part[b] = 0. */
static inline void qcoop_flush(float4 *part, float scale, uint tb, float *acc)
{
#pragma unroll
    for (uint b = 0; b < QCOOP_TB; b++)
        if (b < tb) {
            acc[b] = fma(sparq_sum4(part[b]), scale, acc[b]);
            part[b] = (float4)(0.0f);
        }
}

#if SPARQ_ENCODING == SPARQ_ENCODING_I4
/* Nibbles j0 .. j0 + 3 of the four lanes (columns 8j + 4 half_idx + (0..3) of the
 * window: its float4 2j + half_idx) minus z into part. */
static inline void qcoop_i4_nibbles(int4 lanes, uint j0, float z, const local float4 *xw,
                                    uint slice4, uint tb, uint half_idx, float4 *part)
{
    for (uint j = j0; j < j0 + 4; j++) {
        const uint i = 2 * j + half_idx;
        qcoop_fma4(convert_float4((lanes << (28 - 4 * j)) >> 28) - z, xw, slice4, tb,
                   i + i / 8, part);
    }
}
#endif

/* Chunk w (16 bytes) of a row times the pass's x slices into acc[b]: sum (q - z) x,
 * times its group's scale for group scales. kt: the chunk's window start relative to
 * the tile; s_row: scale index of the window's first column; slice4: float4s from one
 * staged slice to the next. */
static inline void qcoop_chunk(const uint4 w, uint half_idx, const local float4 *xs, uint slice4,
                               uint tb, uint kt, const global float *scales,
                               const global char *zero_points, size_t s_row, float *acc)
{
    float4 part[QCOOP_TB];
#pragma unroll
    for (uint b = 0; b < QCOOP_TB; b++)
        part[b] = (float4)(0.0f);
#if SPARQ_ENCODING == SPARQ_ENCODING_F32
    (void)half_idx, (void)scales, (void)zero_points, (void)s_row;
    qcoop_fma4(as_float4(w), qcoop_window_x(xs, kt), slice4, tb, 0, part);
    qcoop_flush(part, 1.0f, tb, acc);
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
    (void)half_idx, (void)scales, (void)zero_points, (void)s_row;
    const float8 v = vload_half8(0, (const private half *)&w);
    qcoop_fma4(v.lo, qcoop_window_x(xs, kt), slice4, tb, 0, part);
    qcoop_fma4(v.hi, qcoop_window_x(xs, kt), slice4, tb, 1, part);
    qcoop_flush(part, 1.0f, tb, acc);
#elif SPARQ_ENCODING == SPARQ_ENCODING_I8
    /* byte i of word j is column 4j + i: the words' bytes i sign-extended by shifts (a
     * char16 view of w lets the compiler split the 16-byte load into four), times x of
     * those columns: lane i of each slice's four float4s */
    (void)half_idx;
    const float z = (float)sparq_load_zero_point(zero_points, s_row);
    const int4 words = as_int4(w);
    const float4 q0 = convert_float4((words << 24) >> 24) - z;
    const float4 q1 = convert_float4((words << 16) >> 24) - z;
    const float4 q2 = convert_float4((words << 8) >> 24) - z;
    const float4 q3 = convert_float4(words >> 24) - z;
#pragma unroll
    for (uint b = 0; b < QCOOP_TB; b++) {
        if (b < tb) {
            const local float4 *xb = qcoop_window_x(xs, kt) + b * slice4;
            const float4 x0 = xb[0], x1 = xb[1], x2 = xb[2], x3 = xb[3];
            float4 p = q0 * (float4)(x0.s0, x1.s0, x2.s0, x3.s0);
            p = fma(q1, (float4)(x0.s1, x1.s1, x2.s1, x3.s1), p);
            p = fma(q2, (float4)(x0.s2, x1.s2, x2.s2, x3.s2), p);
            part[b] = fma(q3, (float4)(x0.s3, x1.s3, x2.s3, x3.s3), p);
        }
    }
    qcoop_flush(part, qcoop_group_scale(scales, s_row), tb, acc);
#else /* i4: nibble j of the four 32-bit lanes in w: columns 8j + 4 half_idx + (0..3) */
    const int4 lanes = as_int4(w);
    const local float4 *xw = qcoop_window_x(xs, kt);
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP && SPARQ_GROUP_SIZE == 32
    /* nibbles 0-3 are columns of the window's first group, 4-7 of its second */
    qcoop_i4_nibbles(lanes, 0, (float)sparq_load_zero_point(zero_points, s_row), xw, slice4,
                     tb, half_idx, part);
    qcoop_flush(part, scales[s_row], tb, acc);
    qcoop_i4_nibbles(lanes, 4, (float)sparq_load_zero_point(zero_points, s_row + 1), xw,
                     slice4, tb, half_idx, part);
    qcoop_flush(part, scales[s_row + 1], tb, acc);
#else
    const float z = (float)sparq_load_zero_point(zero_points, s_row);
    qcoop_i4_nibbles(lanes, 0, z, xw, slice4, tb, half_idx, part);
    qcoop_i4_nibbles(lanes, 4, z, xw, slice4, tb, half_idx, part);
    qcoop_flush(part, qcoop_group_scale(scales, s_row), tb, acc);
#endif
#endif
}

/* The weight of row m at column k (the columns after the last whole window). */
static inline float qcoop_weight(const global uchar *row, uint m, uint k, uint cols,
                                 const global float *scales, const global char *zero_points)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_F32
    (void)m, (void)cols, (void)scales, (void)zero_points;
    return ((const global float *)row)[k];
#elif SPARQ_ENCODING == SPARQ_ENCODING_F16
    (void)m, (void)cols, (void)scales, (void)zero_points;
    return vload_half(k, (const global half *)row);
#else
    const size_t s = sparq_scale_index(m, k, sparq_groups_per_row(cols));
    const float q = (float)(q_dense_code(row, k, cols) - sparq_load_zero_point(zero_points, s));
    return q * qcoop_group_scale(scales, s);
#endif
}

/* The scale a row's sum is multiplied by at the end: row and tensor scales (group
 * scales were applied per chunk). */
static inline float qcoop_row_scale(const global float *scales, uint m)
{
#if SPARQ_QUANTIZED && SPARQ_GRANULARITY != SPARQ_SCALE_GROUP
    return scales[sparq_scale_index(m, 0, 1)];
#else
    (void)scales, (void)m;
    return 1.0f;
#endif
}

/* The QCOOP_LANES sums v[b] of a team (team t, lane l; every work-item calls it) for
 * each of the QCOOP_TB batch rows added in a fixed order: halving steps in local memory
 * (red: QCOOP_TB x QCOOP_WG floats, row b's sums side by side), all rows in the same
 * steps and barriers. The team's lane 0 gets the totals in out. With subgroups that are
 * the teams, sub_group_reduce_add instead. */
static inline void qcoop_team_sums(const float *v, uint t, uint l, bool sub, local float *red,
                                   float *out)
{
#if SPARQ_HAS_SUBGROUPS
    if (sub) {
#pragma unroll
        for (uint b = 0; b < QCOOP_TB; b++)
            out[b] = sub_group_reduce_add(v[b]);
        return;
    }
#else
    (void)sub;
#endif
    local float *mine = red + t * QCOOP_LANES;
    barrier(CLK_LOCAL_MEM_FENCE); /* red may still be read (previous sums, x tile) */
#pragma unroll
    for (uint b = 0; b < QCOOP_TB; b++)
        mine[b * QCOOP_WG + l] = v[b];
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint s = QCOOP_LANES / 2; s > 0; s /= 2) {
        if (l < s)
#pragma unroll
            for (uint b = 0; b < QCOOP_TB; b++)
                mine[b * QCOOP_WG + l] += mine[b * QCOOP_WG + l + s];
        barrier(CLK_LOCAL_MEM_FENCE);
    }
#pragma unroll
    for (uint b = 0; b < QCOOP_TB; b++)
        out[b] = mine[b * QCOOP_WG];
}

__kernel __attribute__((reqd_work_group_size(QCOOP_WG, 1, 1)))
void linear_dense_q_coop(const uint rows, const uint cols, const uint batch,
                         const global uchar *values, const global float *scales,
                         const global char *zero_points, local float4 *scratch,
                         const global float *x, const ulong x_off,
                         global float *y, const ulong y_off,
                         const global float *bias, const ulong bias_off, const uint act)
{
#if SPARQ_HAS_SUBGROUPS
    /* a subgroup is the team where subgroups are exactly QCOOP_LANES wide (uniform) */
    const bool sub = get_max_sub_group_size() == QCOOP_LANES &&
                     get_num_sub_groups() == QCOOP_TEAMS;
    const uint t = sub ? get_sub_group_id() : get_local_id(0) / QCOOP_LANES;
    const uint l = sub ? get_sub_group_local_id() : get_local_id(0) % QCOOP_LANES;
#else
    const bool sub = false;
    const uint t = get_local_id(0) / QCOOP_LANES, l = get_local_id(0) % QCOOP_LANES;
#endif
    const uint m0 = (get_group_id(0) * QCOOP_TEAMS + t) * QCOOP_R;
    const size_t stride16 = q_row_stride(cols) / 16;
    const global uint4 *restrict w4 = (const global uint4 *)values;
    const uint gpr = sparq_groups_per_row(cols);
    const uint whole = cols / QCOOP_WINDOW * QCOOP_WINDOW; /* columns in whole windows */
    uint m[QCOOP_R];
    for (uint r = 0; r < QCOOP_R; r++)
        m[r] = min(m0 + r, rows - 1); /* rows past the end read the last, not written */
    for (uint b0 = 0; b0 < batch; b0 += QCOOP_TB) {
        const uint tb = min((uint)QCOOP_TB, batch - b0);
        /* columns a tile: QCOOP_XT floats over the pass's rows (1, 2 or 4 slices) */
        const uint slices = tb == 1 ? 1 : tb == 2 ? 2 : 4;
        const uint kc = QCOOP_XT / slices, slice4 = kc / 32 * 9;
        float acc[QCOOP_R][QCOOP_TB];
        for (uint r = 0; r < QCOOP_R; r++)
#pragma unroll
            for (uint b = 0; b < QCOOP_TB; b++)
                acc[r][b] = 0.0f;
        for (uint k0 = 0; k0 < whole; k0 += kc) {
            const uint kn = min(kc, whole - k0); /* a multiple of the window */
            barrier(CLK_LOCAL_MEM_FENCE); /* the previous tile (or sums) are consumed */
            for (uint i = get_local_id(0); i < slices * kn / 4; i += QCOOP_WG) {
                const uint b = i / (kn / 4), j = i % (kn / 4);
                const global float *xr = x + x_off + (size_t)min(b0 + b, batch - 1) * cols;
                scratch[b * slice4 + j + j / 8] = vload4(0, xr + k0 + 4 * j);
            }
            barrier(CLK_LOCAL_MEM_FENCE);
            const uint c_first = k0 / QCOOP_WINDOW * QCOOP_PER_WINDOW;
            const uint chunks = kn / QCOOP_WINDOW * QCOOP_PER_WINDOW;
            for (uint c = l; c < chunks; c += QCOOP_LANES) {
                const uint kt = c / QCOOP_PER_WINDOW * QCOOP_WINDOW; /* window start, tile */
                for (uint r = 0; r < QCOOP_R; r++)
                    qcoop_chunk(w4[m[r] * stride16 + c_first + c], c % QCOOP_PER_WINDOW,
                                scratch, slice4, tb, kt, scales, zero_points,
                                sparq_scale_index(m[r], k0 + kt, gpr), acc[r]);
            }
        }
        for (uint r = 0; r < QCOOP_R; r++) {
            const global uchar *row = values + (size_t)m[r] * stride16 * 16;
            for (uint k = whole + l; k < cols; k += QCOOP_LANES) {
                const float w = qcoop_weight(row, m[r], k, cols, scales, zero_points);
#pragma unroll
                for (uint b = 0; b < QCOOP_TB; b++)
                    if (b < tb)
                        acc[r][b] = fma(w, x[x_off + (size_t)(b0 + b) * cols + k], acc[r][b]);
            }
        }
        for (uint r = 0; r < QCOOP_R; r++) {
            float total[QCOOP_TB];
            qcoop_team_sums(acc[r], t, l, sub, (local float *)scratch, total);
#pragma unroll
            for (uint b = 0; b < QCOOP_TB; b++)
                if (l == 0 && m0 + r < rows && b < tb)
                    y[y_off + (size_t)(b0 + b) * rows + m0 + r] =
                        sparq_epilogue(total[b] * qcoop_row_scale(scales, m0 + r), bias,
                                       bias_off, m0 + r, act);
        }
    }
}

/* ---- quantize_dense_rows: W8A8 step 1, X quantized per row (per token) ----------------
 * One work-item per row of X: its range in one pass (float8 min/max from 0, so the range
 * contains 0), then its codes q, and (scale, zero point) as two floats per row to
 * xparams. With W8A8_X_PACKED 0 (linear_dense_w8a8) the codes go to xq as q - zero point
 * in floats (row stride cols): the product multiplies in float lanes (exactly), and
 * converting each code once here instead of at every read takes two of every three
 * vector ops off its x side. With W8A8_X_PACKED 1 (linear_dense_w8a8_dot) they go as the
 * 8-bit codes themselves (int8, or uint8 when asymmetric), row stride w8a8_cols4(cols)
 * bytes, the padding zero, so that four columns are one 32-bit word.
 * Symmetric: scale = max|x| / 127, q = clamp(rint(x / scale), -127, 127) as int8 (scale 0
 * and q 0 for an all-zero row). Asymmetric, as ONNX
 * DynamicQuantizeLinear: scale = (max(0, xmax) - min(0, xmin)) / 255 (1 / 255 when that
 * range is 0), zp = clamp(rint(-min / scale), 0, 255), q = clamp(rint(x / scale) + zp,
 * 0, 255), a uint8 code. Division must be correctly rounded (the host builds this file with
 * -cl-fp32-correctly-rounded-divide-sqrt where the device allows it).
 * A row holding a NaN or +-Inf has no scale: it gets scale NaN (zero point 0, codes 0),
 * so every output of that row is NaN (sparq.h's NaN/Inf contract), where fmin/fmax
 * would skip a NaN and quantize the row as if it were not there.
 * xq_off counts codes (floats, or bytes: a multiple of 4).
 * Global size: batch rounded up to QROWS_WG. */

/* Columns of a W8A8 slab and of a packed code row: cols rounded up to 4 (the padding
 * codes zero), so that every four columns start on 32 bytes of a slab. */
static inline uint w8a8_cols4(uint cols)
{
    return (cols + 3) & ~3u;
}

#if W8A8_X_PACKED
typedef uchar w8a8_code;
#else
typedef float w8a8_code;
#endif

/* Codes a row of xq holds (the padding included). */
static inline uint w8a8_code_stride(uint cols)
{
#if W8A8_X_PACKED
    return w8a8_cols4(cols);
#else
    return cols;
#endif
}

/* Codes q (floats holding integers) of columns k.. as the product reads them. */
static inline void w8a8_store8(float8 q, float zp, uint k, global w8a8_code *qr)
{
#if W8A8_X_PACKED
    (void)zp;
    vstore8(convert_uchar8(convert_int8(q)), 0, qr + k);
#else
    vstore8(q - zp, 0, qr + k);
#endif
}

static inline void w8a8_store1(float q, float zp, uint k, global w8a8_code *qr)
{
#if W8A8_X_PACKED
    (void)zp;
    qr[k] = (uchar)(int)q;
#else
    qr[k] = q - zp;
#endif
}

__kernel __attribute__((reqd_work_group_size(QROWS_WG, 1, 1)))
void quantize_dense_rows(const uint batch, const uint cols,
                         const global float *x, const ulong x_off,
                         global w8a8_code *xq, const ulong xq_off,
                         global float *xparams, const ulong xparams_off)
{
    const uint b = get_global_id(0);
    if (b >= batch)
        return;
    const uint stride = w8a8_code_stride(cols);
    const global float *xr = x + x_off + (size_t)b * cols;
    global w8a8_code *qr = xq + xq_off + (size_t)b * stride;
    float8 lo8 = (float8)(0.0f), hi8 = (float8)(0.0f);
    int8 bad8 = (int8)(0); /* lanes that met a NaN or +-Inf */
    uint k = 0;
    for (; k + 8 <= cols; k += 8) {
        const float8 v = vload8(0, xr + k);
        lo8 = fmin(lo8, v);
        hi8 = fmax(hi8, v);
        bad8 |= isnan(v) | isinf(v);
    }
    float lo = 0.0f, hi = 0.0f;
    int bad = any(bad8);
    for (; k < cols; k++) {
        lo = fmin(lo, xr[k]);
        hi = fmax(hi, xr[k]);
        bad |= !isfinite(xr[k]);
    }
    for (k = cols; k < stride; k++) /* the padding of a packed row */
        qr[k] = 0;
    if (bad) {
        for (k = 0; k < cols; k++)
            qr[k] = 0;
        xparams[xparams_off + 2 * (size_t)b] = NAN;
        xparams[xparams_off + 2 * (size_t)b + 1] = 0.0f;
        return;
    }
    const float4 lo4 = fmin(lo8.lo, lo8.hi), hi4 = fmax(hi8.lo, hi8.hi);
    lo = fmin(lo, fmin(fmin(lo4.s0, lo4.s1), fmin(lo4.s2, lo4.s3)));
    hi = fmax(hi, fmax(fmax(hi4.s0, hi4.s1), fmax(hi4.s2, hi4.s3)));
#if W8A8_X_ASYM
    const float scale = hi == lo ? 1.0f / 255.0f : (hi - lo) / 255.0f;
    const float zp = clamp(rint(-lo / scale), 0.0f, 255.0f);
    for (k = 0; k + 8 <= cols; k += 8)
        w8a8_store8(clamp(rint(vload8(0, xr + k) / scale) + zp, 0.0f, 255.0f), zp, k, qr);
    for (; k < cols; k++)
        w8a8_store1(clamp(rint(xr[k] / scale) + zp, 0.0f, 255.0f), zp, k, qr);
#else
    const float scale = fmax(-lo, hi) / 127.0f;
    const float zp = 0.0f;
    if (scale == 0.0f) {
        for (k = 0; k < cols; k++)
            qr[k] = 0;
    } else {
        for (k = 0; k + 8 <= cols; k += 8)
            w8a8_store8(clamp(rint(vload8(0, xr + k) / scale), -127.0f, 127.0f), zp, k, qr);
        for (; k < cols; k++)
            w8a8_store1(clamp(rint(xr[k] / scale), -127.0f, 127.0f), zp, k, qr);
    }
#endif
    xparams[xparams_off + 2 * (size_t)b] = scale;
    xparams[xparams_off + 2 * (size_t)b + 1] = zp;
}

/* ---- linear_dense_w8a8: W8A8 step 2, int8 x int8 with int32 accumulation -------------
 * A W8A8 matrix's codes are uploaded in slabs of 8 rows (sparq_slab_layout, the layout of
 * the N:M kernels): column k of slab s is the 8 bytes at (s * w8a8_cols4(cols) + k) * 8,
 * byte r for row 8 s + r, and rows and columns past the last are zero codes. A work-item
 * computes W8A8_S slabs x W8A8_TB batch rows as outer products: per column, each slab's 8 codes are converted
 * once (minus their zero points) to a float8 whose lanes are its rows, and every batch
 * row adds that times its activation code, one broadcast float shared by all 8 W8A8_S
 * rows: one fma per slab and batch row, no horizontal sums. The activation codes come
 * centred and as floats from quantize_dense_rows. Every product is an integer of
 * magnitude at most 255 * 255 < 2^16, so a run of W8A8_SEG = 256 columns sums below 2^24
 * in each float lane, exactly; each run then moves to int32 (with per-group scales, a
 * run is a group: G <= 256). The integer result is the same bits as any int32 order.
 * Then y = (float)acc * (x_scale * w_scale) with per-tensor/row weight scales; with
 * per-group scales y = x_scale * (sum over groups, in order, of (float)acc_g * w_scale_g),
 * where (float)acc_g is the exact float lane itself.
 * xq / xparams as quantize_dense_rows writes them (offsets in floats).
 * Global size: ceil(rows / (8 W8A8_S)) rounded up to W8A8_WG, times
 * ceil(batch / W8A8_TB). */
#define W8A8_SEG 256

__kernel __attribute__((reqd_work_group_size(W8A8_WG, 1, 1)))
void linear_dense_w8a8(const uint rows, const uint cols, const uint batch,
                       const global uchar *values, const global float *scales,
                       const global char *zero_points,
                       const global float *xq, const ulong xq_off,
                       const global float *xparams, const ulong xparams_off,
                       const global float *x, const ulong x_off,
                       global float *y, const ulong y_off,
                       const global float *bias, const ulong bias_off, const uint act)
{
    (void)x, (void)x_off; /* X arrives quantized, in xq */
    const uint slab0 = get_global_id(0) * W8A8_S;
    const uint b0 = get_global_id(1) * W8A8_TB;
    const uint slabs = (rows + 7) / 8;
    if (slab0 >= slabs || b0 >= batch)
        return;
    const uint gpr = sparq_groups_per_row(cols);
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
    const uint seg = SPARQ_GROUP_SIZE;
    float8 yacc[W8A8_S][W8A8_TB];
#else
    const uint seg = W8A8_SEG;
    int8 iacc[W8A8_S][W8A8_TB];
#endif
    const global uchar *ws[W8A8_S]; /* slabs past the last read the last one */
    uint m0[W8A8_S];
    const global float *xr[W8A8_TB];
#pragma unroll
    for (uint j = 0; j < W8A8_S; j++) {
        const uint slab = min(slab0 + j, slabs - 1);
        ws[j] = values + (size_t)slab * w8a8_cols4(cols) * 8;
        m0[j] = 8 * slab;
    }
#pragma unroll
    for (uint t = 0; t < W8A8_TB; t++)
        xr[t] = xq + xq_off + (size_t)min(b0 + t, batch - 1) * cols;
#pragma unroll
    for (uint j = 0; j < W8A8_S; j++)
#pragma unroll
        for (uint t = 0; t < W8A8_TB; t++) {
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
            yacc[j][t] = (float8)(0.0f);
#else
            iacc[j][t] = (int8)(0);
#endif
        }
    for (uint k0 = 0; k0 < cols; k0 += seg) {
        const uint k1 = q_segment_end(k0, seg, cols);
        float8 zw[W8A8_S], facc[W8A8_S][W8A8_TB];
#pragma unroll
        for (uint j = 0; j < W8A8_S; j++) {
            zw[j] = convert_float8(sparq_slab8_zero_points(zero_points, m0[j], rows, k0, gpr));
#pragma unroll
            for (uint t = 0; t < W8A8_TB; t++)
                facc[j][t] = (float8)(0.0f);
        }
        for (uint k = k0; k < k1; k++) {
            float8 w[W8A8_S];
#pragma unroll
            for (uint j = 0; j < W8A8_S; j++)
                w[j] = convert_float8(as_char8(vload8(k, ws[j]))) - zw[j];
#pragma unroll
            for (uint t = 0; t < W8A8_TB; t++) {
                const float8 xv = (float8)(xr[t][k]);
#pragma unroll
                for (uint j = 0; j < W8A8_S; j++)
                    facc[j][t] = fma(w[j], xv, facc[j][t]);
            }
        }
#pragma unroll
        for (uint j = 0; j < W8A8_S; j++) {
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
            const float8 sw = sparq_slab8_scales(scales, m0[j], rows, k0, gpr);
#pragma unroll
            for (uint t = 0; t < W8A8_TB; t++)
                yacc[j][t] += facc[j][t] * sw;
#else
#pragma unroll
            for (uint t = 0; t < W8A8_TB; t++)
                iacc[j][t] += convert_int8(facc[j][t]);
#endif
        }
    }
    for (uint j = 0; j < W8A8_S && slab0 + j < slabs; j++) {
#if SPARQ_GRANULARITY != SPARQ_SCALE_GROUP
        const float8 sw = sparq_slab8_scales(scales, m0[j], rows, 0, gpr);
#endif
        for (uint t = 0; t < W8A8_TB && b0 + t < batch; t++) {
            const float sx = xparams[xparams_off + 2 * (size_t)(b0 + t)];
            float v[8];
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
            vstore8(sx * yacc[j][t], 0, v);
#else
            vstore8(convert_float8(iacc[j][t]) * (sx * sw), 0, v);
#endif
            global float *yb = y + y_off + (size_t)(b0 + t) * rows;
            for (uint r = 0; r < 8 && m0[j] + r < rows; r++)
                yb[m0[j] + r] = sparq_epilogue(v[r], bias, bias_off, m0[j] + r, act);
        }
    }
}

/* ---- linear_dense_w8a8_dot: W8A8 step 2 on GPUs, packed 4x8-bit dot products ---------
 * The slabs of linear_dense_w8a8 (with row or tensor scales), read by teams: a team of
 * W8DOT_LANES lanes shares a slab of 8 rows and W8DOT_TB batch rows. A slab is a run of
 * 16-byte pairs (2 columns x 8 rows); in each step of 2 W8DOT_LANES pairs lane l loads
 * pairs l and W8DOT_LANES + l, so that each load of the team is one run of whole lines.
 * The two pairs' words (a column's 4 rows each) are transposed in registers to a row's 4
 * columns each, and each meets the batch row's codes of the same 4 columns (two 16-bit
 * loads of the packed codes) in one 4x8-bit dot product with accumulate:
 * dot_acc_sat_4x8packed where the device has cl_khr_integer_dot_product
 * (SPARQ_HAS_INTEGER_DOT), four integer products otherwise. With zero points,
 * sum (w - zw)(x - zx) = sum w x - zw sum x - zx sum w + cols zw zx: the sums of codes
 * are dot products with 1 in every byte (padding codes are zero and add nothing). Every
 * lane's int32 sums are then added over the team in local memory (transposed, rotated
 * so that no two lanes meet in a bank): integers, so any order gives the same bits,
 * and y = (float)sum * (x_scale * w_scale) is the same float as linear_dense_w8a8's.
 * Integer sums stay exact while |sum| < 2^31 (cols up to 33025 with uint8 codes).
 * Arguments as linear_dense_w8a8's; xq holds packed codes (W8A8_X_PACKED 1).
 * Global size: ceil(slabs / teams a group) x W8DOT_WG, times ceil(batch / W8DOT_TB). */
#define W8DOT_TEAMS (W8DOT_WG / W8DOT_LANES)
#define W8DOT_SUMS (8 * W8DOT_TB) /* int32 sums a lane: 8 rows x W8DOT_TB batch rows */

/* sum over the 4 bytes of w (signed) times those of x (signed, or unsigned when the
 * activations are asymmetric), plus acc. */
static inline int w8dot_acc(uint w, uint x, int acc)
{
#if SPARQ_HAS_INTEGER_DOT && W8A8_X_ASYM
    return dot_acc_sat_4x8packed_su_int(w, x, acc);
#elif SPARQ_HAS_INTEGER_DOT
    return dot_acc_sat_4x8packed_ss_int(w, x, acc);
#else
    for (uint i = 0; i < 4; i++) {
#if W8A8_X_ASYM
        const int xi = (int)((x >> (8 * i)) & 0xffu);
#else
        const int xi = (int)(x << (24 - 8 * i)) >> 24;
#endif
        acc += ((int)(w << (24 - 8 * i)) >> 24) * xi;
    }
    return acc;
#endif
}

/* Four words c0..c3 (a column's 4 rows each, row r in byte r) as four words a row's 4
 * columns each (column i in byte i): a 4x4 transpose of bytes. */
static inline uint4 w8dot_rows4(uint c0, uint c1, uint c2, uint c3)
{
    const uint e01 = (c0 & 0x00ff00ffu) | ((c1 & 0x00ff00ffu) << 8); /* rows 0, 2 */
    const uint o01 = ((c0 >> 8) & 0x00ff00ffu) | (c1 & 0xff00ff00u); /* rows 1, 3 */
    const uint e23 = (c2 & 0x00ff00ffu) | ((c3 & 0x00ff00ffu) << 8);
    const uint o23 = ((c2 >> 8) & 0x00ff00ffu) | (c3 & 0xff00ff00u);
    return (uint4)((e01 & 0xffffu) | (e23 << 16), (o01 & 0xffffu) | (o23 << 16),
                   (e01 >> 16) | (e23 & 0xffff0000u), (o01 >> 16) | (o23 & 0xffff0000u));
}

__kernel __attribute__((reqd_work_group_size(W8DOT_WG, 1, 1)))
void linear_dense_w8a8_dot(const uint rows, const uint cols, const uint batch,
                           const global uint4 *restrict values,
                           const global float *restrict scales,
                           const global char *restrict zero_points,
                           const global uchar *restrict xq, const ulong xq_off,
                           const global float *restrict xparams, const ulong xparams_off,
                           const global float *x, const ulong x_off,
                           global float *restrict y, const ulong y_off,
                           const global float *restrict bias, const ulong bias_off,
                           const uint act)
{
    (void)x, (void)x_off; /* X arrives quantized, in xq */
    local int sums[W8DOT_TEAMS * W8DOT_SUMS * W8DOT_LANES];
    const uint lane = get_local_id(0) % W8DOT_LANES, team = get_local_id(0) / W8DOT_LANES;
    const uint slabs = (rows + 7) / 8, pairs = w8a8_cols4(cols) / 2;
    const uint slab_id = get_group_id(0) * W8DOT_TEAMS + team;
    const uint slab = min(slab_id, slabs - 1); /* teams past the last slab store nothing */
    const uint m0 = 8 * slab, b0 = get_global_id(1) * W8DOT_TB;
    const uint tb = min((uint)W8DOT_TB, batch - b0); /* batch rows of this tile */
    const uint gpr = sparq_groups_per_row(cols);
    const global uint4 *restrict ws = values + (size_t)slab * pairs;
    const global ushort *restrict xh[W8DOT_TB]; /* a batch row's codes, two a column pair */
#pragma unroll
    for (uint t = 0; t < W8DOT_TB; t++)
        xh[t] = (const global ushort *)(xq + xq_off) + (size_t)min(b0 + t, batch - 1) * pairs;
    int acc[8][W8DOT_TB], wsum[8], xsum[W8DOT_TB];
#pragma unroll
    for (uint r = 0; r < 8; r++) {
        wsum[r] = 0;
#pragma unroll
        for (uint t = 0; t < W8DOT_TB; t++)
            acc[r][t] = 0;
    }
#pragma unroll
    for (uint t = 0; t < W8DOT_TB; t++)
        xsum[t] = 0;
    for (uint p = lane; p < pairs; p += 2 * W8DOT_LANES) {
        const uint p2 = p + W8DOT_LANES; /* past the slab's end: zero codes */
        const uint4 a = ws[p], c = p2 < pairs ? ws[p2] : (uint4)(0);
        const uint4 top = w8dot_rows4(a.s0, a.s2, c.s0, c.s2);    /* rows 0-3 */
        const uint4 bottom = w8dot_rows4(a.s1, a.s3, c.s1, c.s3); /* rows 4-7 */
        const uint w[8] = {top.s0, top.s1, top.s2, top.s3,
                           bottom.s0, bottom.s1, bottom.s2, bottom.s3};
#pragma unroll
        for (uint t = 0; t < W8DOT_TB; t++) {
            if (t < tb) { /* a uniform branch in an unrolled loop: the sums stay registers */
                const uint xv = (uint)xh[t][p] | (p2 < pairs ? (uint)xh[t][p2] << 16 : 0u);
#pragma unroll
                for (uint r = 0; r < 8; r++)
                    acc[r][t] = w8dot_acc(w[r], xv, acc[r][t]);
#if SPARQ_ASYMMETRIC
                xsum[t] = w8dot_acc(0x01010101u, xv, xsum[t]);
#endif
            }
        }
#if W8A8_X_ASYM
#pragma unroll
        for (uint r = 0; r < 8; r++) /* the weight codes' sums: signed times 1 */
            wsum[r] = w8dot_acc(w[r], 0x01010101u, wsum[r]);
#endif
    }
    /* this lane's share of sum (w - zw)(x - zx), into the team's rotated columns */
    local int *team_sums = sums + team * W8DOT_SUMS * W8DOT_LANES;
    int zx[W8DOT_TB];
#pragma unroll
    for (uint t = 0; t < W8DOT_TB; t++)
        zx[t] = (int)xparams[xparams_off + 2 * (size_t)min(b0 + t, batch - 1) + 1];
#pragma unroll
    for (uint r = 0; r < 8; r++) {
        const int zw = sparq_load_zero_point(zero_points,
                                             sparq_scale_index(min(m0 + r, rows - 1), 0, gpr));
#pragma unroll
        for (uint t = 0; t < W8DOT_TB; t++) {
            const uint v = t * 8 + r;
            team_sums[v * W8DOT_LANES + (lane + v) % W8DOT_LANES] =
                acc[r][t] - zw * xsum[t] - zx[t] * wsum[r];
        }
    }
    barrier(CLK_LOCAL_MEM_FENCE);
    for (uint v = lane; v < W8DOT_SUMS; v += W8DOT_LANES) {
        const uint r = v % 8, t = v / 8, row = m0 + r, b = b0 + t;
        int total = 0;
        for (uint i = 0; i < W8DOT_LANES; i++)
            total += team_sums[v * W8DOT_LANES + (i + v) % W8DOT_LANES];
        if (slab_id >= slabs || row >= rows || b >= batch)
            continue;
        const size_t s = sparq_scale_index(row, 0, gpr);
        const int zx = (int)xparams[xparams_off + 2 * (size_t)b + 1];
        total += (int)cols * sparq_load_zero_point(zero_points, s) * zx;
        const float sx = xparams[xparams_off + 2 * (size_t)b];
        y[y_off + (size_t)b * rows + row] =
            sparq_epilogue((float)total * (sx * scales[s]), bias, bias_off, row, act);
    }
}
