/* SPDX-License-Identifier: Apache-2.0 */
/* quantize.c - int8/int4 (and f32/f16) quantization of weight matrices: option checks,
 * per-tensor/row/group calibration (min-max, percentile, MSE), code <-> value, the
 * dense value layout, and the public quantize / dequantize / fake-quantize calls.
 */
#include "quantize.h"
#include "checks.h"
#include "f16.h"
#include "status.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks ------------------------------------------------------------------------ */

sparq_status sparq_quant_normalise(const sparq_quant_options *options,
                                   sparq_quant_options *normalised, const char *what)
{
    sparq_quant_options o;
    memset(&o, 0, sizeof o);
    if (options != NULL)
        o = *options;
    if ((unsigned)o.encoding > SPARQ_ENCODING_I4)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: encoding %d is not a sparq_encoding",
                          what, (int)o.encoding);
    if (o.encoding == SPARQ_ENCODING_F32 || o.encoding == SPARQ_ENCODING_F16) {
        sparq_encoding e = o.encoding;
        memset(&o, 0, sizeof o);
        o.encoding = e;
        *normalised = o;
        return SPARQ_OK;
    }
    if ((unsigned)o.granularity > SPARQ_SCALE_GROUP)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: granularity %d is not a sparq_scale_granularity", what,
                          (int)o.granularity);
    if (o.granularity == SPARQ_SCALE_GROUP) {
        if (o.group_size != 32 && o.group_size != 64 && o.group_size != 128 &&
            o.group_size != 256)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "%s: group_size %zu is not one of 32, 64, 128, 256", what,
                              o.group_size);
    } else {
        o.group_size = 0;
    }
    o.asymmetric = o.asymmetric != 0;
    if ((unsigned)o.calibration > SPARQ_CALIBRATION_MSE)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: calibration %d is not a sparq_calibration", what,
                          (int)o.calibration);
    if (o.calibration == SPARQ_CALIBRATION_PERCENTILE) {
        if (o.percentile == 0.0)
            o.percentile = 99.99;
        if (!(o.percentile >= 50.0 && o.percentile <= 100.0))
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "%s: percentile %g is not in [50, 100]", what, o.percentile);
    } else {
        o.percentile = 0.0;
    }
    *normalised = o;
    return SPARQ_OK;
}

/* ---- the quantizer's grid ---------------------------------------------------------- */

void sparq_qparams_init(sparq_qparams *p, const sparq_quant_options *normalised,
                        size_t rows, size_t cols)
{
    memset(p, 0, sizeof *p);
    p->opt = *normalised;
    p->rows = rows;
    p->cols = cols;
    p->groups_per_row = 1;
    switch (normalised->encoding) {
    case SPARQ_ENCODING_I8:
        p->qmin = normalised->asymmetric ? -128 : -127;
        p->qmax = 127;
        break;
    case SPARQ_ENCODING_I4:
        p->qmin = normalised->asymmetric ? -8 : -7;
        p->qmax = 7;
        break;
    default:
        return; /* F32, F16: no scales */
    }
    switch (normalised->granularity) {
    case SPARQ_SCALE_TENSOR:
        p->scale_count = 1;
        break;
    case SPARQ_SCALE_ROW:
        p->scale_count = rows;
        break;
    case SPARQ_SCALE_GROUP:
        p->groups_per_row = (cols + normalised->group_size - 1) / normalised->group_size;
        p->scale_count = rows * p->groups_per_row; /* <= rows * cols */
        break;
    }
}

size_t sparq_qparams_index(const sparq_qparams *p, size_t r, size_t c)
{
    switch (p->opt.granularity) {
    case SPARQ_SCALE_ROW:
        return r;
    case SPARQ_SCALE_GROUP:
        return r * p->groups_per_row + c / p->opt.group_size;
    default:
        return 0;
    }
}

/* ---- codes ------------------------------------------------------------------------- */

/* Ties to even, whatever the FPU rounding mode. */
static double round_half_even(double v)
{
    double f = floor(v);
    double d = v - f;
    if (d > 0.5)
        return f + 1.0;
    if (d < 0.5)
        return f;
    return fmod(f, 2.0) == 0.0 ? f : f + 1.0;
}

/* q = clamp(round_half_even(x / scale) + z, qmin, qmax); *clamped says if the clamp acted.
 * scale 0 (an all-zero group) gives z. */
static int quant_code(float x, float scale, int z, int qmin, int qmax, int *clamped)
{
    *clamped = 0;
    if (scale == 0.0f)
        return z;
    double v = (double)x / (double)scale;
    if (v > 4096.0) /* far outside any code range; keeps the integer conversion safe */
        v = 4096.0;
    if (v < -4096.0)
        v = -4096.0;
    long q = (long)round_half_even(v) + z;
    if (q < qmin) {
        *clamped = 1;
        q = qmin;
    } else if (q > qmax) {
        *clamped = 1;
        q = qmax;
    }
    return (int)q;
}

static float dequant_code(int q, float scale, int z)
{
    return (float)(q - z) * scale;
}

int sparq_i4_get(const uint8_t *bytes, size_t i)
{
    unsigned b = bytes[i / 2];
    int nib = (int)((i & 1) ? (b >> 4) : (b & 15u));
    return nib >= 8 ? nib - 16 : nib;
}

void sparq_i4_set(uint8_t *bytes, size_t i, int q)
{
    unsigned nib = (unsigned)q & 15u;
    uint8_t *b = &bytes[i / 2];
    if (i & 1)
        *b = (uint8_t)((*b & 0x0Fu) | (nib << 4));
    else
        *b = (uint8_t)((*b & 0xF0u) | nib);
}

size_t sparq_values_bytes(sparq_encoding encoding, size_t count)
{
    switch (encoding) {
    case SPARQ_ENCODING_F32: return count * 4;
    case SPARQ_ENCODING_F16: return count * 2;
    case SPARQ_ENCODING_I8: return count;
    case SPARQ_ENCODING_I4: return count / 2 + (count & 1);
    }
    return 0;
}

size_t sparq_values_count(sparq_encoding encoding, size_t count)
{
    return encoding == SPARQ_ENCODING_I4 ? count / 2 + (count & 1) : count;
}

sparq_dtype sparq_values_dtype(sparq_encoding encoding)
{
    switch (encoding) {
    case SPARQ_ENCODING_F32: return SPARQ_DTYPE_F32;
    case SPARQ_ENCODING_F16: return SPARQ_DTYPE_F16;
    case SPARQ_ENCODING_I8: return SPARQ_DTYPE_I8;
    case SPARQ_ENCODING_I4: return SPARQ_DTYPE_U8;
    }
    return SPARQ_DTYPE_U8;
}

/* Scale and zero point of W[r, c], with r and c clamped into the matrix. */
static void params_at(const sparq_qparams *p, size_t r, size_t c, float *scale, int *z)
{
    if (r >= p->rows)
        r = p->rows - 1;
    if (c >= p->cols)
        c = p->cols - 1;
    size_t k = sparq_qparams_index(p, r, c);
    *scale = p->scales[k];
    *z = p->zero_points != NULL ? p->zero_points[k] : 0;
}

int sparq_value_store(const sparq_qparams *p, void *values, size_t i, float x, size_t r,
                      size_t c)
{
    float scale;
    int z, clamped, q;
    switch (p->opt.encoding) {
    case SPARQ_ENCODING_F32:
        ((float *)values)[i] = x;
        return 0;
    case SPARQ_ENCODING_F16:
        ((uint16_t *)values)[i] = sparq_f16_bits(x);
        return 0;
    case SPARQ_ENCODING_I8:
        params_at(p, r, c, &scale, &z);
        q = quant_code(x, scale, z, p->qmin, p->qmax, &clamped);
        ((int8_t *)values)[i] = (int8_t)q;
        return clamped;
    case SPARQ_ENCODING_I4:
        params_at(p, r, c, &scale, &z);
        q = quant_code(x, scale, z, p->qmin, p->qmax, &clamped);
        sparq_i4_set((uint8_t *)values, i, q);
        return clamped;
    }
    return 0;
}

float sparq_value_fake(const sparq_qparams *p, float x, size_t r, size_t c)
{
    float scale;
    int z, clamped;
    switch (p->opt.encoding) {
    case SPARQ_ENCODING_F16:
        return sparq_f16_value(sparq_f16_bits(x));
    case SPARQ_ENCODING_I8:
    case SPARQ_ENCODING_I4:
        params_at(p, r, c, &scale, &z);
        return dequant_code(quant_code(x, scale, z, p->qmin, p->qmax, &clamped), scale, z);
    default:
        return x;
    }
}

float sparq_value_load(const sparq_qparams *p, const void *values, size_t i, size_t r,
                       size_t c)
{
    float scale;
    int z;
    switch (p->opt.encoding) {
    case SPARQ_ENCODING_F32:
        return ((const float *)values)[i];
    case SPARQ_ENCODING_F16:
        return sparq_f16_value(((const uint16_t *)values)[i]);
    case SPARQ_ENCODING_I8:
        params_at(p, r, c, &scale, &z);
        return dequant_code(((const int8_t *)values)[i], scale, z);
    case SPARQ_ENCODING_I4:
        params_at(p, r, c, &scale, &z);
        return dequant_code(sparq_i4_get((const uint8_t *)values, i), scale, z);
    }
    return 0.0f;
}

sparq_status sparq_qparams_check(const sparq_qparams *p, const char *what)
{
    for (size_t k = 0; k < p->scale_count; k++) {
        float s = p->scales[k];
        if (!isfinite(s) || s < 0.0f)
            return sparq_fail(SPARQ_ERROR_INVALID_DATA, "%s: scales[%zu] is %g", what, k,
                              (double)s);
        if (p->zero_points != NULL &&
            (p->zero_points[k] < p->qmin || p->zero_points[k] > p->qmax))
            return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                              "%s: zero_points[%zu]=%d is outside [%d, %d]", what, k,
                              p->zero_points[k], p->qmin, p->qmax);
    }
    return SPARQ_OK;
}

/* ---- calibration ------------------------------------------------------------------- */

/* The k-th smallest of v[0..n) (0-based), reordering v so that v[k+1..n) >= v[k].
 * Quickselect with a median-of-three pivot and a three-way partition (equal values
 * are common in weights, e.g. already quantized ones). */
static float select_kth(float *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n; /* the answer is in v[lo..hi) */
    while (hi - lo > 1) {
        float a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
        float pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        size_t lt = lo, i = lo, gt = hi; /* [lo,lt) < pivot, [lt,i) == pivot, [gt,hi) > */
        while (i < gt) {
            float t = v[i];
            if (t < pivot) {
                v[i] = v[lt];
                v[lt] = t;
                lt++;
                i++;
            } else if (t > pivot) {
                gt--;
                v[i] = v[gt];
                v[gt] = t;
            } else {
                i++;
            }
        }
        if (k < lt)
            hi = lt;
        else if (k >= gt)
            lo = gt;
        else
            return pivot;
    }
    return v[k];
}

/* The p-th percentile of v[0..n), n >= 1, interpolating linearly between order
 * statistics at position p/100 * (n-1). Reorders v. */
static double percentile(float *v, size_t n, double p)
{
    double pos = p / 100.0 * (double)(n - 1);
    size_t k = (size_t)floor(pos);
    if (k >= n - 1)
        return select_kth(v, n, n - 1);
    double frac = pos - (double)k;
    double a = select_kth(v, n, k);
    if (frac == 0.0)
        return a;
    float b = v[k + 1]; /* the smallest of v[k+1..n), all >= v[k] after the select */
    for (size_t i = k + 2; i < n; i++)
        if (v[i] < b)
            b = v[i];
    return a + frac * ((double)b - a);
}

/* Scale and zero point for the clipping range [lo, hi] (asymmetric) or amax
 * (symmetric: lo = -amax, hi = amax). */
static void range_params(const sparq_qparams *p, double lo, double hi, float *scale, int *z)
{
    *scale = 0.0f;
    *z = 0;
    if (!p->opt.asymmetric) {
        double a = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
        *scale = (float)(a / p->qmax);
        return;
    }
    if (lo > 0.0)
        lo = 0.0;
    if (hi < 0.0)
        hi = 0.0;
    float s = (float)((hi - lo) / (double)(p->qmax - p->qmin));
    if (s == 0.0f)
        return;
    double zz = round_half_even((double)p->qmin - lo / (double)s);
    if (zz < p->qmin)
        zz = p->qmin;
    if (zz > p->qmax)
        zz = p->qmax;
    *scale = s;
    *z = (int)zz;
}

/* sum h_i (v_i - v'_i)^2 over one group quantized with (scale, z); h NULL: every h_i 1. */
static double group_sse(const sparq_qparams *p, const float *v, const float *h, size_t n,
                        float scale, int z)
{
    double sse = 0.0;
    int clamped;
    for (size_t i = 0; i < n; i++) {
        int q = quant_code(v[i], scale, z, p->qmin, p->qmax, &clamped);
        double d = (double)v[i] - (double)dequant_code(q, scale, z);
        sse += h ? (double)h[i] * d * d : d * d;
    }
    return sse;
}

void sparq_qparams_calibrate_group(const sparq_qparams *p, float *v, size_t n, float *scale,
                                   int *z)
{
    double lo = 0.0, hi = 0.0;
    *scale = 0.0f;
    *z = 0;
    if (n == 0)
        return;
    if (p->opt.calibration == SPARQ_CALIBRATION_PERCENTILE) {
        if (p->opt.asymmetric) {
            hi = percentile(v, n, p->opt.percentile);
            lo = percentile(v, n, 100.0 - p->opt.percentile);
        } else {
            for (size_t i = 0; i < n; i++)
                v[i] = fabsf(v[i]);
            hi = percentile(v, n, p->opt.percentile);
            lo = -hi;
        }
        range_params(p, lo, hi, scale, z);
        return;
    }
    lo = hi = v[0];
    for (size_t i = 1; i < n; i++) {
        if (v[i] < lo)
            lo = v[i];
        if (v[i] > hi)
            hi = v[i];
    }
    if (!p->opt.asymmetric) {
        hi = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
        lo = -hi;
    }
    range_params(p, lo, hi, scale, z);
    if (p->opt.calibration != SPARQ_CALIBRATION_MSE)
        return;
    /* ratios t_i = 0.5 + (i + 1) / 200: try 1.0 first, so ties keep the larger ratio */
    double best = group_sse(p, v, NULL, n, *scale, *z);
    for (int i = 98; i >= 0; i--) {
        double t = 0.5 + (double)(i + 1) / 200.0;
        float s;
        int zz;
        range_params(p, lo * t, hi * t, &s, &zz);
        double e = group_sse(p, v, NULL, n, s, zz);
        if (e < best) {
            best = e;
            *scale = s;
            *z = zz;
        }
    }
}

/* The range [*lo, *hi] of v without its `drop` largest |v| (drop < n; ties at the cut
 * leave out all of them), widened to contain 0. */
static void range_without_largest(const float *v, size_t n, size_t drop, double *lo,
                                  double *hi)
{
    float cut = INFINITY; /* values with |v| >= cut, the drop largest, are left out */
    for (size_t d = 0; d < drop; d++) {
        float next = -1.0f;
        for (size_t i = 0; i < n; i++)
            if (fabsf(v[i]) < cut && fabsf(v[i]) > next)
                next = fabsf(v[i]);
        cut = next;
    }
    *lo = 0.0;
    *hi = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (drop > 0 && fabsf(v[i]) >= cut)
            continue;
        if (v[i] < *lo)
            *lo = v[i];
        if (v[i] > *hi)
            *hi = v[i];
    }
}

void sparq_qparams_calibrate_weighted(const sparq_qparams *p, float *v, const float *h,
                                      size_t n, float *scale, int *z)
{
    static const size_t drops[] = { 0, 1, 2, 3, 5, 7 };
    static const double ratios[] = { 1.0, 0.9, 0.8 };
    if (p->opt.calibration == SPARQ_CALIBRATION_PERCENTILE || n == 0) {
        sparq_qparams_calibrate_group(p, v, n, scale, z);
        return;
    }
    double best = INFINITY;
    for (size_t d = 0; d < sizeof drops / sizeof drops[0] && drops[d] < n; d++) {
        double lo, hi;
        range_without_largest(v, n, drops[d], &lo, &hi);
        if (!p->opt.asymmetric) {
            hi = fabs(lo) > fabs(hi) ? fabs(lo) : fabs(hi);
            lo = -hi;
        }
        for (size_t r = 0; r < sizeof ratios / sizeof ratios[0]; r++) {
            float s;
            int zz;
            range_params(p, lo * ratios[r], hi * ratios[r], &s, &zz);
            double e = group_sse(p, v, h, n, s, zz);
            if (e < best) {
                best = e;
                *scale = s;
                *z = zz;
            }
        }
    }
}

/* sparq_qparams_calibrate, each value weighted by importance[column] when given. */
static sparq_status calibrate_all(sparq_qparams *p, const float *w, const float *importance,
                                  float *scales, int8_t *zero_points, const char *what)
{
    size_t rows = p->rows, cols = p->cols;
    if (p->opt.encoding == SPARQ_ENCODING_F32)
        return SPARQ_OK;
    if (p->opt.encoding == SPARQ_ENCODING_F16) {
        for (size_t i = 0; i < rows * cols; i++)
            if (isinf(sparq_f16_value(sparq_f16_bits(w[i]))))
                return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                                  "%s: W[%zu, %zu]=%g overflows f16 (largest finite 65504)",
                                  what, i / cols, i % cols, (double)w[i]);
        return SPARQ_OK;
    }
    size_t extent = p->opt.granularity == SPARQ_SCALE_TENSOR ? rows * cols
                    : p->opt.granularity == SPARQ_SCALE_ROW  ? cols
                                                             : p->opt.group_size;
    float *v = malloc(extent * sizeof *v);
    float *h = importance ? malloc(extent * sizeof *h) : NULL;
    if (v == NULL || (importance && h == NULL)) {
        free(v);
        free(h);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s: no memory for %zu calibration values",
                          what, extent);
    }
    for (size_t k = 0; k < p->scale_count; k++) {
        size_t r0 = 0, r1 = rows, c0 = 0, c1 = cols;
        if (p->opt.granularity == SPARQ_SCALE_ROW) {
            r0 = k;
            r1 = k + 1;
        } else if (p->opt.granularity == SPARQ_SCALE_GROUP) {
            r0 = k / p->groups_per_row;
            r1 = r0 + 1;
            c0 = (k % p->groups_per_row) * p->opt.group_size;
            c1 = c0 + p->opt.group_size < cols ? c0 + p->opt.group_size : cols;
        }
        size_t n = 0;
        for (size_t r = r0; r < r1; r++)
            for (size_t c = c0; c < c1; c++)
                if (w[r * cols + c] != 0.0f) {
                    if (h)
                        h[n] = importance[c];
                    v[n++] = w[r * cols + c];
                }
        float scale;
        int z;
        if (h)
            sparq_qparams_calibrate_weighted(p, v, h, n, &scale, &z);
        else
            sparq_qparams_calibrate_group(p, v, n, &scale, &z);
        scales[k] = scale;
        if (zero_points != NULL)
            zero_points[k] = (int8_t)z;
    }
    free(v);
    free(h);
    p->scales = scales;
    p->zero_points = p->opt.asymmetric ? zero_points : NULL;
    return SPARQ_OK;
}

sparq_status sparq_qparams_calibrate(sparq_qparams *p, const float *w, float *scales,
                                     int8_t *zero_points, const char *what)
{
    return calibrate_all(p, w, NULL, scales, zero_points, what);
}

sparq_status sparq_qparams_calibrate_importance(sparq_qparams *p, const float *w,
                                                const float *importance, float *scales,
                                                int8_t *zero_points, const char *what)
{
    return calibrate_all(p, w, importance, scales, zero_points, what);
}

/* ---- dense layout ------------------------------------------------------------------ */

size_t sparq_dense_row_slots(sparq_encoding encoding, size_t cols)
{
    return encoding == SPARQ_ENCODING_I4 ? cols + (cols & 1) : cols;
}

void sparq_dense_store(const sparq_qparams *p, const float *w, void *values)
{
    size_t stride = sparq_dense_row_slots(p->opt.encoding, p->cols);
    for (size_t r = 0; r < p->rows; r++)
        for (size_t c = 0; c < p->cols; c++)
            sparq_value_store(p, values, r * stride + c, w[r * p->cols + c], r, c);
}

void sparq_dense_load(const sparq_qparams *p, const void *values, float *out)
{
    size_t stride = sparq_dense_row_slots(p->opt.encoding, p->cols);
    for (size_t r = 0; r < p->rows; r++)
        for (size_t c = 0; c < p->cols; c++)
            out[r * p->cols + c] = sparq_value_load(p, values, r * stride + c, r, c);
}

/* ---- public calls ------------------------------------------------------------------ */

/* Shared front of the public calls: shape, options and the grid. */
static sparq_status prepare(const sparq_quant_options *options, size_t rows, size_t cols,
                            sparq_qparams *p, const char *what)
{
    sparq_quant_options o;
    sparq_status st = sparq_check_shape(rows, cols, what);
    if (st != SPARQ_OK)
        return st;
    st = sparq_quant_normalise(options, &o, what);
    if (st != SPARQ_OK)
        return st;
    sparq_qparams_init(p, &o, rows, cols);
    return SPARQ_OK;
}

sparq_status sparq_quant_sizes(const sparq_quant_options *options, size_t rows,
                               size_t cols, size_t *value_bytes, size_t *scale_count,
                               size_t *zero_point_count)
{
    sparq_qparams p;
    sparq_status st = prepare(options, rows, cols, &p, "quant_sizes");
    if (st != SPARQ_OK)
        return st;
    if (value_bytes != NULL)
        *value_bytes = rows * sparq_values_bytes(p.opt.encoding, cols);
    if (scale_count != NULL)
        *scale_count = p.scale_count;
    if (zero_point_count != NULL)
        *zero_point_count = p.opt.asymmetric ? p.scale_count : 0;
    return SPARQ_OK;
}

sparq_status sparq_quantize(const sparq_quant_options *options, size_t rows, size_t cols,
                            const float *w, void *values, float *scales, int8_t *zero_points)
{
    const char *what = "quantize";
    sparq_qparams p;
    sparq_status st = prepare(options, rows, cols, &p, what);
    if (st != SPARQ_OK)
        return st;
    if (w == NULL || values == NULL || (p.scale_count > 0 && scales == NULL) ||
        (p.opt.asymmetric && zero_points == NULL))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: NULL w, values, scales or zero_points", what);
    st = sparq_check_finite(w, rows, cols, what);
    if (st == SPARQ_OK)
        st = sparq_qparams_calibrate(&p, w, scales, zero_points, what);
    if (st != SPARQ_OK)
        return st;
    memset(values, 0, rows * sparq_values_bytes(p.opt.encoding, cols));
    sparq_dense_store(&p, w, values);
    return SPARQ_OK;
}

sparq_status sparq_dequantize(const sparq_quant_options *options, size_t rows, size_t cols,
                              const void *values, const float *scales,
                              const int8_t *zero_points, float *out)
{
    const char *what = "dequantize";
    sparq_qparams p;
    sparq_status st = prepare(options, rows, cols, &p, what);
    if (st != SPARQ_OK)
        return st;
    if (values == NULL || out == NULL || (p.scale_count > 0 && scales == NULL) ||
        (p.opt.asymmetric && zero_points == NULL))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: NULL values, scales, zero_points or out", what);
    p.scales = scales;
    p.zero_points = p.opt.asymmetric ? zero_points : NULL;
    st = sparq_qparams_check(&p, what);
    if (st != SPARQ_OK)
        return st;
    sparq_dense_load(&p, values, out);
    return SPARQ_OK;
}

sparq_status sparq_fake_quantize(const sparq_quant_options *options, size_t rows,
                                 size_t cols, const float *w, float *out, uint8_t *mask)
{
    const char *what = "fake_quantize";
    sparq_qparams p;
    sparq_status st = prepare(options, rows, cols, &p, what);
    if (st != SPARQ_OK)
        return st;
    if (w == NULL || out == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: NULL w or out", what);
    st = sparq_check_finite(w, rows, cols, what);
    if (st != SPARQ_OK)
        return st;
    float *scales = NULL;
    int8_t *zero_points = NULL;
    if (p.scale_count > 0) {
        scales = malloc(p.scale_count * sizeof *scales);
        zero_points = malloc(p.scale_count * sizeof *zero_points);
        if (scales == NULL || zero_points == NULL) {
            free(scales);
            free(zero_points);
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s: no memory for %zu scales", what,
                              p.scale_count);
        }
    }
    st = sparq_qparams_calibrate(&p, w, scales, zero_points, what);
    if (st == SPARQ_OK) {
        for (size_t r = 0; r < rows; r++) {
            for (size_t c = 0; c < cols; c++) {
                size_t i = r * cols + c;
                union {
                    float f;
                    uint16_t h;
                    uint8_t b[4];
                } slot;
                memset(&slot, 0, sizeof slot);
                int clamped = sparq_value_store(&p, &slot, 0, w[i], r, c);
                out[i] = sparq_value_load(&p, &slot, 0, r, c);
                if (mask != NULL)
                    mask[i] = (uint8_t)!clamped;
            }
        }
    }
    free(scales);
    free(zero_points);
    return st;
}
