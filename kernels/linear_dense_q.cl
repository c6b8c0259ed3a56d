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
#define QTILE_WG 16 /* linear_dense_q_tiled: work-items (rows) per group */
#endif
#ifndef QTILE_TB
#define QTILE_TB 4 /* linear_dense_q_tiled: batch rows per work-item: 1, 2, 4 or 8 */
#endif
#ifndef W8A8_WG
#define W8A8_WG 16 /* linear_dense_w8a8: work-items per group */
#endif
#ifndef W8A8_R
#define W8A8_R 2 /* linear_dense_w8a8: weight rows per work-item: 1, 2 or 4 */
#endif
#ifndef W8A8_TB
#define W8A8_TB 4 /* linear_dense_w8a8: batch rows per work-item: 1, 2, 4 or 8 */
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

/* W8A8 sums a run of at most W8A8_SEG columns in float before moving it to int32: each
 * float8 lane then adds at most 256 products of at most 255 * 255, so every partial is
 * an integer below 2^24 and the float arithmetic is exact. Per-group scales use runs
 * of G (<= 256) columns. */
#define W8A8_SEG 2048

/* Columns per scale segment: one group, or the whole row. */
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
#define Q_SEGMENT(cols) ((uint)SPARQ_GROUP_SIZE)
#else
#define Q_SEGMENT(cols) (cols)
#endif

/* The lanes of v added pairwise (halves, then quarters, ...): a fixed order. */
inline float q_sum8(float8 v)
{
    const float4 h4 = v.lo + v.hi;
    const float2 h2 = h4.lo + h4.hi;
    return h2.lo + h2.hi;
}

/* codes - z (codes as floats), a no-op when symmetric. */
inline float8 q_minus_zero8(float8 codes, float z)
{
#if SPARQ_ASYMMETRIC
    return codes - (float8)z;
#else
    return codes;
#endif
}

/* End of the segment starting at k0 (no overflow near 2^32). */
inline uint q_segment_end(uint k0, uint seg, uint cols)
{
    return k0 + min(seg, cols - k0);
}

/* ---- linear_dense_q_gemv: batch 1, a work-item per output row ----------------------
 * The row's codes are read as wide vectors (16 i8 codes, or 8 bytes = 16 i4 codes) and
 * converted in registers. Scales factor out of each segment's sum: once per row
 * (tensor/row scales) or once per group. Zero points are subtracted from the codes as
 * floats (exact). For i4 the work-group first copies x into local memory (xl) in
 * "nibble order": in each chunk of 16 columns, the 8 even columns, then the 8 odd ones,
 * so that 8 bytes widened to int lanes give their low nibbles for xl[k .. k+7] and their
 * high nibbles for xl[k+8 .. k+15] with no shuffle. Batch > 1 loops inside (row from
 * cache). Global size: rows rounded up to QGEMV_WG; xl holds floor(cols / 16) * 16
 * floats for i4 (unused for i8). */

/* 16 codes from column k of a row (k a multiple of 16) as two float8, in the order of
 * the x vectors they meet (i4: even columns, then odd columns). */
inline void qgemv_codes16(const global uchar *row, uint k, float8 *w0, float8 *w1)
{
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
    const int8 b = convert_int8(as_char8(vload8(0, row + k / 2)));
    *w0 = convert_float8((b << 28) >> 28);
    *w1 = convert_float8(b >> 4);
#else
    *w0 = convert_float8(as_char8(vload8(0, row + k)));
    *w1 = convert_float8(as_char8(vload8(0, row + k + 8)));
#endif
}

#if SPARQ_ENCODING == SPARQ_ENCODING_I4
#define QGEMV_X_SPACE local
#else
#define QGEMV_X_SPACE global
#endif

/* One vector step of the GEMV at column k: 32 codes minus z times x into four float8
 * accumulators (four independent fma chains hide the fma latency). xv is x as the
 * vector steps read it: xl (nibble order) for i4, xb for i8. The step and the segment
 * below are inlined by force: PoCL's compiler otherwise calls the segment as a
 * function, its accumulators spilled around every call. */
__attribute__((always_inline)) inline void qgemv_step(const global uchar *row,
                                                      const QGEMV_X_SPACE float *xv, uint k,
                                                      float z, float8 *acc)
{
    float8 w0, w1, w2, w3;
    qgemv_codes16(row, k, &w0, &w1);
    qgemv_codes16(row, k + 16, &w2, &w3);
    acc[0] = fma(q_minus_zero8(w0, z), vload8(0, xv + k), acc[0]);
    acc[1] = fma(q_minus_zero8(w1, z), vload8(0, xv + k + 8), acc[1]);
    acc[2] = fma(q_minus_zero8(w2, z), vload8(0, xv + k + 16), acc[2]);
    acc[3] = fma(q_minus_zero8(w3, z), vload8(0, xv + k + 24), acc[3]);
}

/* sum over columns [k0, k1) of (q - z) * x in 32-column steps (qgemv_step), the four
 * accumulators added in a fixed order and returned; the columns past the last full
 * step go to *tail (from xb, in column order). k0 is a multiple of 32. A whole group
 * (k1 - k0 == G) runs a loop of constant length and has no tail. */
__attribute__((always_inline)) inline float8 qgemv_segment(const global uchar *row,
                                                           const QGEMV_X_SPACE float *xv,
                                                           const global float *xb, uint k0,
                                                           uint k1, float z, float *tail)
{
    float8 acc[4] = {(float8)(0.0f), (float8)(0.0f), (float8)(0.0f), (float8)(0.0f)};
    *tail = 0.0f;
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP && SPARQ_GROUP_SIZE % 32 == 0
    if (k1 - k0 == SPARQ_GROUP_SIZE) {
        for (uint i = 0; i < SPARQ_GROUP_SIZE / 32; i++)
            qgemv_step(row, xv, k0 + 32 * i, z, acc);
        return (acc[0] + acc[1]) + (acc[2] + acc[3]);
    }
#endif
    uint k = k0;
    for (; k + 32 <= k1; k += 32)
        qgemv_step(row, xv, k, z, acc);
    for (; k < k1; k++)
        *tail = fma((float)sparq_load_code(row, k) - z, xb[k], *tail);
    return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

__kernel __attribute__((reqd_work_group_size(QGEMV_WG, 1, 1)))
void linear_dense_q_gemv(const uint rows, const uint cols, const uint batch,
                         const global uchar *values, const global float *scales,
                         const global char *zero_points, local float *xl,
                         const global float *x, const ulong x_off,
                         global float *y, const ulong y_off,
                         const global float *bias, const ulong bias_off, const uint act)
{
    const uint m = get_global_id(0);
    const bool valid = m < rows; /* every work-item reaches the barriers */
    const global uchar *row = values + (size_t)min(m, rows - 1) * sparq_dense_row_bytes(cols);
    const uint gpr = sparq_groups_per_row(cols);
    const uint seg = Q_SEGMENT(cols);
    for (uint b = 0; b < batch; b++) {
        const global float *xb = x + x_off + (size_t)b * cols;
#if SPARQ_ENCODING == SPARQ_ENCODING_I4
        barrier(CLK_LOCAL_MEM_FENCE); /* the previous batch row is consumed */
        for (uint k = get_local_id(0) * 16; k + 16 <= cols; k += QGEMV_WG * 16) {
            const float8 x0 = vload8(0, xb + k), x1 = vload8(0, xb + k + 8);
            vstore8((float8)(x0.even, x1.even), 0, xl + k);
            vstore8((float8)(x0.odd, x1.odd), 0, xl + k + 8);
        }
        barrier(CLK_LOCAL_MEM_FENCE);
        const local float *xv = xl;
#else
        const global float *xv = xb;
#endif
        float8 total = (float8)(0.0f);
        float total_tail = 0.0f;
        for (uint k0 = 0; valid && k0 < cols; k0 += seg) {
            const size_t s = sparq_scale_index(m, k0, gpr);
            const float scale = scales[s];
            float tail;
            const float8 part = qgemv_segment(row, xv, xb, k0, q_segment_end(k0, seg, cols),
                                              (float)sparq_load_zero_point(zero_points, s),
                                              &tail);
            total = fma(part, (float8)scale, total);
            total_tail = fma(tail, scale, total_tail);
        }
        if (valid)
            y[y_off + (size_t)b * rows + m] =
                sparq_epilogue(q_sum8(total) + total_tail, bias, bias_off, m, act);
    }
}

/* ---- linear_dense_q_tiled: batch > 1, a work-item per row and QTILE_TB batch rows -----
 * Eight codes at a time are dequantized once ((q - z) * scale, in registers) and used
 * for QTILE_TB batch rows, so each weight is read once per tile of batch rows; the
 * work-items of a group share the same X rows through the cache. Batch rows past the
 * end read the last row and are not written. Global size: rows rounded up to QTILE_WG,
 * times ceil(batch / QTILE_TB). */
__kernel __attribute__((reqd_work_group_size(QTILE_WG, 1, 1)))
void linear_dense_q_tiled(const uint rows, const uint cols, const uint batch,
                          const global uchar *values, const global float *scales,
                          const global char *zero_points,
                          const global float *x, const ulong x_off,
                          global float *y, const ulong y_off,
                          const global float *bias, const ulong bias_off, const uint act)
{
    const uint m = get_global_id(0);
    const uint b0 = get_global_id(1) * QTILE_TB;
    if (m >= rows || b0 >= batch)
        return;
    const global float *xr[QTILE_TB];
    float8 acc[QTILE_TB];
    float tail[QTILE_TB];
#pragma unroll
    for (uint t = 0; t < QTILE_TB; t++) {
        xr[t] = x + x_off + (size_t)min(b0 + t, batch - 1) * cols;
        acc[t] = (float8)(0.0f);
        tail[t] = 0.0f;
    }
#if SPARQ_ENCODING == SPARQ_ENCODING_F16 || SPARQ_ENCODING == SPARQ_ENCODING_F32
    /* f32, or f16 storage widened in registers; no scales */
    (void)scales, (void)zero_points;
#if SPARQ_ENCODING == SPARQ_ENCODING_F16
    const global half *wrow = (const global half *)values + (size_t)m * cols;
#define dense_load8(k) vload_half8(0, wrow + (k))
#define dense_load1(k) vload_half((k), wrow)
#else
    const global float *wrow = (const global float *)values + (size_t)m * cols;
#define dense_load8(k) vload8(0, wrow + (k))
#define dense_load1(k) wrow[k]
#endif
    uint k = 0;
    for (; k + 8 <= cols; k += 8) {
        const float8 w = dense_load8(k);
#pragma unroll
        for (uint t = 0; t < QTILE_TB; t++)
            acc[t] = fma(w, vload8(0, xr[t] + k), acc[t]);
    }
    for (; k < cols; k++) {
        const float w = dense_load1(k);
#pragma unroll
        for (uint t = 0; t < QTILE_TB; t++)
            tail[t] = fma(w, xr[t][k], tail[t]);
    }
#else
    const global uchar *row = values + (size_t)m * sparq_dense_row_bytes(cols);
    const uint gpr = sparq_groups_per_row(cols);
    const uint seg = Q_SEGMENT(cols);
    for (uint k0 = 0; k0 < cols; k0 += seg) {
        const size_t s = sparq_scale_index(m, k0, gpr);
        const float scale = scales[s];
        const int z = sparq_load_zero_point(zero_points, s);
        const uint k1 = q_segment_end(k0, seg, cols);
        uint k = k0;
        for (; k + 8 <= k1; k += 8) {
            const float8 w = q_minus_zero8(sparq_load_codes8(row, k), (float)z) * scale;
#pragma unroll
            for (uint t = 0; t < QTILE_TB; t++)
                acc[t] = fma(w, vload8(0, xr[t] + k), acc[t]);
        }
        for (; k < k1; k++) {
            const float w = sparq_dequantize(sparq_load_code(row, k), z, scale);
#pragma unroll
            for (uint t = 0; t < QTILE_TB; t++)
                tail[t] = fma(w, xr[t][k], tail[t]);
        }
    }
#endif
#pragma unroll
    for (uint t = 0; t < QTILE_TB; t++)
        if (b0 + t < batch)
            y[y_off + (size_t)(b0 + t) * rows + m] =
                sparq_epilogue(q_sum8(acc[t]) + tail[t], bias, bias_off, m, act);
}

/* ---- quantize_dense_rows: W8A8 step 1, X quantized per row (per token) ----------------
 * One work-item per row of X: its range in one pass (float8 min/max from 0, so the range
 * contains 0), then its codes q, to xq as q - zero point in floats (row stride cols), and
 * (scale, zero point) as two floats per row to xparams. The codes are stored centred and
 * already as floats because the product multiplies in float lanes (exactly): each code
 * is read by every work-item of the rows, and converting it once here instead of at
 * every read takes two of every three vector ops off the product's x side. Symmetric: scale = max|x| / 127, q = clamp(rint(x /
 * scale), -127, 127) as int8 (scale 0 and q 0 for an all-zero row). Asymmetric, as ONNX
 * DynamicQuantizeLinear: scale = (max(0, xmax) - min(0, xmin)) / 255 (1 / 255 when that
 * range is 0), zp = clamp(rint(-min / scale), 0, 255), q = clamp(rint(x / scale) + zp,
 * 0, 255), a uint8 code. Division must be correctly rounded (the host builds this file with
 * -cl-fp32-correctly-rounded-divide-sqrt where the device allows it).
 * Global size: batch rounded up to QROWS_WG. */
__kernel __attribute__((reqd_work_group_size(QROWS_WG, 1, 1)))
void quantize_dense_rows(const uint batch, const uint cols,
                         const global float *x, const ulong x_off,
                         global float *xq, const ulong xq_off,
                         global float *xparams, const ulong xparams_off)
{
    const uint b = get_global_id(0);
    if (b >= batch)
        return;
    const global float *xr = x + x_off + (size_t)b * cols;
    global float *qr = xq + xq_off + (size_t)b * cols;
    float8 lo8 = (float8)(0.0f), hi8 = (float8)(0.0f);
    uint k = 0;
    for (; k + 8 <= cols; k += 8) {
        const float8 v = vload8(0, xr + k);
        lo8 = fmin(lo8, v);
        hi8 = fmax(hi8, v);
    }
    float lo = 0.0f, hi = 0.0f;
    for (; k < cols; k++) {
        lo = fmin(lo, xr[k]);
        hi = fmax(hi, xr[k]);
    }
    const float4 lo4 = fmin(lo8.lo, lo8.hi), hi4 = fmax(hi8.lo, hi8.hi);
    lo = fmin(lo, fmin(fmin(lo4.s0, lo4.s1), fmin(lo4.s2, lo4.s3)));
    hi = fmax(hi, fmax(fmax(hi4.s0, hi4.s1), fmax(hi4.s2, hi4.s3)));
#if W8A8_X_ASYM
    const float scale = hi == lo ? 1.0f / 255.0f : (hi - lo) / 255.0f;
    const float zp = clamp(rint(-lo / scale), 0.0f, 255.0f);
    for (k = 0; k + 8 <= cols; k += 8)
        vstore8(clamp(rint(vload8(0, xr + k) / scale) + zp, 0.0f, 255.0f) - zp, 0, qr + k);
    for (; k < cols; k++)
        qr[k] = clamp(rint(xr[k] / scale) + zp, 0.0f, 255.0f) - zp;
#else
    const float scale = fmax(-lo, hi) / 127.0f;
    const float zp = 0.0f;
    if (scale == 0.0f) {
        for (k = 0; k < cols; k++)
            qr[k] = 0.0f;
    } else {
        for (k = 0; k + 8 <= cols; k += 8)
            vstore8(clamp(rint(vload8(0, xr + k) / scale), -127.0f, 127.0f), 0, qr + k);
        for (; k < cols; k++)
            qr[k] = clamp(rint(xr[k] / scale), -127.0f, 127.0f);
    }
#endif
    xparams[xparams_off + 2 * (size_t)b] = scale;
    xparams[xparams_off + 2 * (size_t)b + 1] = zp;
}

/* ---- linear_dense_w8a8: W8A8 step 2, int8 x int8 with int32 accumulation -------------
 * A work-item computes W8A8_R rows x W8A8_TB batch rows. Eight weight codes of each row
 * are converted once (minus their zero point) and multiplied in float8 lanes with the
 * activation codes, which quantize_dense_rows stored centred and as floats: the
 * products and partial sums are integers below 2^24 (see W8A8_SEG), so they are exact,
 * and each run's lanes move to int32 (the integer result is the same bits as any int32
 * order).
 * Then y = (float)acc * (x_scale * w_scale) with per-tensor/row weight scales; with
 * per-group scales y = x_scale * (sum over groups, in order, of (float)acc_g * w_scale_g).
 * xq / xparams as quantize_dense_rows writes them (offsets in floats).
 * Global size: ceil(rows / W8A8_R) rounded up to W8A8_WG, times ceil(batch / W8A8_TB). */
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
    const uint m0 = get_global_id(0) * W8A8_R;
    const uint b0 = get_global_id(1) * W8A8_TB;
    if (m0 >= rows || b0 >= batch)
        return;
    const uint gpr = sparq_groups_per_row(cols);
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
    const uint seg = SPARQ_GROUP_SIZE;
    float yacc[W8A8_R][W8A8_TB];
#else
    const uint seg = W8A8_SEG;
    int iacc[W8A8_R][W8A8_TB];
#endif
    const global uchar *wr[W8A8_R];
    const global float *xr[W8A8_TB];
#pragma unroll
    for (uint r = 0; r < W8A8_R; r++)
        wr[r] = values + (size_t)min(m0 + r, rows - 1) * cols;
#pragma unroll
    for (uint t = 0; t < W8A8_TB; t++) {
        const uint bt = min(b0 + t, batch - 1);
        xr[t] = xq + xq_off + (size_t)bt * cols;
    }
#pragma unroll
    for (uint r = 0; r < W8A8_R; r++)
#pragma unroll
        for (uint t = 0; t < W8A8_TB; t++) {
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
            yacc[r][t] = 0.0f;
#else
            iacc[r][t] = 0;
#endif
        }
    for (uint k0 = 0; k0 < cols; k0 += seg) {
        const uint k1 = q_segment_end(k0, seg, cols);
        float zw[W8A8_R];
#pragma unroll
        for (uint r = 0; r < W8A8_R; r++)
            zw[r] = (float)sparq_load_zero_point(zero_points,
                                                 sparq_scale_index(min(m0 + r, rows - 1), k0, gpr));
        float8 facc[W8A8_R][W8A8_TB];
#pragma unroll
        for (uint r = 0; r < W8A8_R; r++)
#pragma unroll
            for (uint t = 0; t < W8A8_TB; t++)
                facc[r][t] = (float8)(0.0f);
        uint k = k0;
        for (; k + 8 <= k1; k += 8) {
            float8 w[W8A8_R];
#pragma unroll
            for (uint r = 0; r < W8A8_R; r++)
                w[r] = q_minus_zero8(convert_float8(as_char8(vload8(0, wr[r] + k))), zw[r]);
#pragma unroll
            for (uint t = 0; t < W8A8_TB; t++) {
                const float8 xv = vload8(0, xr[t] + k);
#pragma unroll
                for (uint r = 0; r < W8A8_R; r++)
                    facc[r][t] = fma(w[r], xv, facc[r][t]);
            }
        }
#pragma unroll
        for (uint r = 0; r < W8A8_R; r++)
#pragma unroll
            for (uint t = 0; t < W8A8_TB; t++) {
                const int8 v = convert_int8(facc[r][t]);
                const int4 v4 = v.lo + v.hi;
                int run = v4.s0 + v4.s1 + v4.s2 + v4.s3;
                for (uint kk = k; kk < k1; kk++)
                    run += (as_char(wr[r][kk]) - (int)zw[r]) * (int)xr[t][kk];
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
                yacc[r][t] += (float)run * scales[sparq_scale_index(min(m0 + r, rows - 1), k0, gpr)];
#else
                iacc[r][t] += run;
#endif
            }
    }
#pragma unroll
    for (uint r = 0; r < W8A8_R; r++) {
        const uint m = m0 + r;
        if (m >= rows)
            break;
#pragma unroll
        for (uint t = 0; t < W8A8_TB; t++) {
            if (b0 + t >= batch)
                break;
            const float sx = xparams[xparams_off + 2 * (size_t)(b0 + t)];
#if SPARQ_GRANULARITY == SPARQ_SCALE_GROUP
            const float v = sx * yacc[r][t];
#else
            const float v = (float)iacc[r][t] * (sx * scales[sparq_scale_index(m, 0, gpr)]);
#endif
            y[y_off + (size_t)(b0 + t) * rows + m] = sparq_epilogue(v, bias, bias_off, m, act);
        }
    }
}
