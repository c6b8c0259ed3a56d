/* SPDX-License-Identifier: Apache-2.0 */
/* quant_ref.h - plain-C references for quantization tests: an independent float->half
 * converter, min-max quantizer, error measures (SQNR, NMSE) and weight generators. */
#ifndef SPARQ_QUANT_REF_H
#define SPARQ_QUANT_REF_H
#include <stddef.h>
#include <stdint.h>

/* float -> IEEE half bits, written from the definition with integer arithmetic only
 * (round to nearest even, overflow to Inf, subnormals, NaN -> 0x7E00 with sign). */
uint16_t ref_f16_from_f32(float x);
/* half bits -> float via ldexp (exact). */
float ref_f32_from_f16(uint16_t h);

/* Min-max quantizer params of x[0..n) (zeros ignored), symmetric when !asym, with code
 * range [qmin, qmax]: sets *scale and *zero_point as documented in sparq.h. */
void ref_minmax_params(const float *x, size_t n, int asym, int qmin, int qmax, float *scale,
                       int *zero_point);
/* clamp(rint(x / scale) + z, qmin, qmax) with the FPU's ties-to-even rint; z if scale 0. */
int ref_quant_code(float x, float scale, int zero_point, int qmin, int qmax);

/* 10 log10(sum x^2 / sum (x - y)^2); 999 when equal. */
double ref_sqnr_db(const float *x, const float *y, size_t n);
/* sum (x - y)^2 / sum x^2; 0 when x is all zero and equal. */
double ref_nmse(const float *x, const float *y, size_t n);

/* Deterministic generators from a 64-bit seed (testing_next_u64, splitmix64). */
void ref_fill_gaussian(float *out, size_t n, uint64_t seed, float sigma);
void ref_fill_student_t3(float *out, size_t n, uint64_t seed, float scale);
void ref_fill_laplace(float *out, size_t n, uint64_t seed, float b);
/* Sets each value to 0 with probability p (exactly 0 when p = 0, all when p = 1). */
void ref_sparsify(float *w, size_t n, double p, uint64_t seed);
/* Keeps the n largest |w| of each group of m along each row (tail group too). */
void ref_make_nm(float *w, size_t rows, size_t cols, unsigned n, unsigned m);

#endif
