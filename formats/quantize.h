/* SPDX-License-Identifier: Apache-2.0 */
/* quantize.h - internal quantization helpers shared by formats/quantize.c and the
 * packers (formats/pack*.c): option checks, per-group calibration, code <-> value.
 */
#ifndef SPARQ_QUANTIZE_H
#define SPARQ_QUANTIZE_H

#include "sparq.h"

/* A quantizer for one rows x cols matrix: normalised options, code range, group grid,
 * and the scales / zero points (not owned: caller's or a packed matrix's arrays). */
typedef struct sparq_qparams {
    sparq_quant_options opt; /* normalised (see sparq_quant_normalise)                */
    int qmin, qmax;          /* code range; 0, 0 for F32/F16                          */
    size_t rows, cols;
    size_t groups_per_row;   /* ceil(cols/G) for GROUP, else 1                        */
    size_t scale_count;      /* 1, rows, rows*groups_per_row; 0 for F32/F16           */
    const float *scales;        /* scale_count                                        */
    const int8_t *zero_points;  /* scale_count when asymmetric, else NULL             */
} sparq_qparams;

/* Checks options; writes them with fields that do not apply set to 0. */
sparq_status sparq_quant_normalise(const sparq_quant_options *options,
                                   sparq_quant_options *normalised, const char *what);

/* Fills everything in *p but scales / zero_points (set to NULL) from normalised options. */
void sparq_qparams_init(sparq_qparams *p, const sparq_quant_options *normalised,
                        size_t rows, size_t cols);

/* Index of W[r, c]'s scale (and zero point). */
size_t sparq_qparams_index(const sparq_qparams *p, size_t r, size_t c);

/* Calibrates every group of w (finite) into scales / zero_points (scale_count each;
 * zero_points only when asymmetric) and points p at them. F32: nothing; F16: checks
 * that no value overflows half. Nothing is written when it fails. */
sparq_status sparq_qparams_calibrate(sparq_qparams *p, const float *w, float *scales,
                                     int8_t *zero_points, const char *what);

/* Calibrates one group from its nonzero values v[0..n) (reordered; F32/F16 never get
 * here) into *scale and *z with the options' rules (n = 0: scale 0, z 0). */
void sparq_qparams_calibrate_group(const sparq_qparams *p, float *v, size_t n, float *scale,
                                   int *z);

/* Importance-weighted clipping (GPTQ/SparseGPT with statistics, as llama.cpp's importance
 * matrix): the clipping range of one group of nonzero values v[0..n), each weighted by
 * h[i] (the H_jj of its input), that minimises sum h_i (v_i - v'_i)^2 among the min-max
 * range and the ranges left without the 1, 2, 3, 5 or 7 largest |v|, each times 1.0, 0.9
 * and 0.8 (ties keep the earlier: never worse than min-max by this measure). An input
 * channel with tiny activations then cannot stretch the scale of its whole group.
 * PERCENTILE calibration is kept as asked (unweighted). */
void sparq_qparams_calibrate_weighted(const sparq_qparams *p, float *v, const float *h,
                                      size_t n, float *scale, int *z);

/* sparq_qparams_calibrate with each value of column c weighted by importance[c]
 * (sparq_qparams_calibrate_weighted per group). */
sparq_status sparq_qparams_calibrate_importance(sparq_qparams *p, const float *w,
                                                const float *importance, float *scales,
                                                int8_t *zero_points, const char *what);

/* Codes per row of a dense values array: cols, or 2*ceil(cols/2) for I4 (rows start
 * at a byte). Dense slot of W[r, c]: r * sparq_dense_row_slots() + c. */
size_t sparq_dense_row_slots(sparq_encoding encoding, size_t cols);
/* Stores all of w (rows x cols) into a zero-filled dense values array, and back. */
void sparq_dense_store(const sparq_qparams *p, const float *w, void *values);
void sparq_dense_load(const sparq_qparams *p, const void *values, float *out);

/* Bytes of a values array of count codes in this encoding (I4: ceil(count/2)). */
size_t sparq_values_bytes(sparq_encoding encoding, size_t count);
/* Elements of a values array holding count codes: count, or ceil(count/2) bytes for I4. */
size_t sparq_values_count(sparq_encoding encoding, size_t count);
/* The values dtype of an encoding (I4: U8). */
sparq_dtype sparq_values_dtype(sparq_encoding encoding);

/* Stores x in slot i of values, quantized with the parameters of W[r, c] (r, c are
 * clamped into the matrix, so padding slots may pass positions past the edges).
 * Returns 1 when the code was clamped to [qmin, qmax], else 0. */
int sparq_value_store(const sparq_qparams *p, void *values, size_t i, float x, size_t r,
                      size_t c);
/* The dequantized value of slot i with the parameters of W[r, c] (clamped likewise). */
float sparq_value_load(const sparq_qparams *p, const void *values, size_t i, size_t r,
                       size_t c);

/* x quantized with the parameters of W[r, c] and dequantized again (F16: rounded to
 * half; F32: x itself). */
float sparq_value_fake(const sparq_qparams *p, float x, size_t r, size_t c);

/* Checks scales (finite, >= 0) and zero points (in [qmin, qmax]) of p. */
sparq_status sparq_qparams_check(const sparq_qparams *p, const char *what);

/* The code of slot i of an int4 stream (low nibble when i is even), sign-extended. */
int sparq_i4_get(const uint8_t *bytes, size_t i);
void sparq_i4_set(uint8_t *bytes, size_t i, int q);


#endif
