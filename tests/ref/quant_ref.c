/* SPDX-License-Identifier: Apache-2.0 */
/* quant_ref.c - plain-C quantization references (see quant_ref.h). */
#include "ref/quant_ref.h"
#include "testing.h"

#include <math.h>
#include <string.h>

uint16_t ref_f16_from_f32(float x)
{
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t exp = (u >> 23) & 0xFFu, man = u & 0x7FFFFFu;
    if (exp == 0xFF)
        return (uint16_t)(sign | (man ? 0x7E00u : 0x7C00u));
    /* value = sig * 2^(e) with sig an integer of 24 bits (normal) */
    int32_t e;
    uint32_t sig;
    if (exp == 0) {
        sig = man; /* float subnormal: far below half's range */
        e = -149;
    } else {
        sig = man | 0x800000u;
        e = (int32_t)exp - 150;
    }
    if (sig == 0)
        return sign;
    /* half: value = hm * 2^(he - 25) for normals (hm 11 bits, he 1..30), hm * 2^-24 for
     * subnormals. Find the quantum q (power of two) of the result. */
    int32_t top = e + 23; /* position of the leading bit for normals: value in [2^top, 2^top+1) */
    if (exp == 0) {
        top = -127; /* anything below half's subnormal quantum */
    }
    int32_t qexp = top - 10; /* quantum exponent for a normal half */
    if (qexp < -24)
        qexp = -24; /* subnormal quantum */
    /* n = value / 2^qexp, rounded to nearest even: value = sig * 2^e */
    int32_t shift = qexp - e; /* >= 0 when dividing */
    uint64_t n;
    if (shift <= 0) {
        n = (uint64_t)sig << (-shift);
    } else if (shift > 40) {
        n = 0; /* less than half a quantum */
    } else {
        uint64_t s = sig, rem = s & ((1ull << shift) - 1), half = 1ull << (shift - 1);
        n = s >> shift;
        if (rem > half || (rem == half && (n & 1)))
            n++;
    }
    /* n * 2^qexp: encode. n may have become 2048 (carry into the next binade). */
    if (qexp == -24 && n < 1024)
        return (uint16_t)(sign | n); /* subnormal (or 0) */
    while (n >= 2048) {
        n >>= 1; /* exact: n == 2048 here */
        qexp++;
    }
    int32_t he = qexp + 25; /* biased half exponent: value = n * 2^qexp, n in [1024, 2048) */
    if (he >= 31)
        return (uint16_t)(sign | 0x7C00u);
    return (uint16_t)(sign | ((uint32_t)he << 10) | (n & 0x3FFu));
}

float ref_f32_from_f16(uint16_t h)
{
    int sign = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    float v;
    if (e == 31)
        v = m ? NAN : INFINITY;
    else if (e == 0)
        v = ldexpf((float)m, -24);
    else
        v = ldexpf((float)(m | 1024), e - 25);
    return sign ? -v : v;
}

void ref_minmax_params(const float *x, size_t n, int asym, int qmin, int qmax, float *scale,
                       int *zero_point)
{
    double lo = 0.0, hi = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (x[i] < lo)
            lo = x[i];
        if (x[i] > hi)
            hi = x[i];
    }
    *zero_point = 0;
    if (!asym) {
        double a = fmax(-lo, hi);
        *scale = (float)(a / qmax);
        return;
    }
    *scale = (float)((hi - lo) / (qmax - qmin));
    if (*scale == 0.0f)
        return;
    double z = rint(qmin - lo / (double)*scale);
    *zero_point = (int)fmin(fmax(z, qmin), qmax);
}

int ref_quant_code(float x, float scale, int zero_point, int qmin, int qmax)
{
    if (scale == 0.0f)
        return zero_point;
    double q = rint((double)x / (double)scale) + zero_point;
    return (int)fmin(fmax(q, qmin), qmax);
}

double ref_sqnr_db(const float *x, const float *y, size_t n)
{
    double s = 0.0, e = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)y[i];
        s += (double)x[i] * x[i];
        e += d * d;
    }
    return e == 0.0 ? 999.0 : 10.0 * log10(s / e);
}

double ref_nmse(const float *x, const float *y, size_t n)
{
    double s = 0.0, e = 0.0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - (double)y[i];
        s += (double)x[i] * x[i];
        e += d * d;
    }
    return e == 0.0 ? 0.0 : e / s;
}

/* Uniform in (0, 1): the tests' generator's 53 bits, offset by half a step. */
static double uniform(uint64_t *state)
{
    return ((double)(testing_next_u64(state) >> 11) + 0.5) / 9007199254740992.0;
}

static double normal(uint64_t *state)
{
    double u = uniform(state), v = uniform(state);
    return sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v);
}

void ref_fill_gaussian(float *out, size_t n, uint64_t seed, float sigma)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)(sigma * normal(&seed));
}

void ref_fill_student_t3(float *out, size_t n, uint64_t seed, float scale)
{
    for (size_t i = 0; i < n; i++) {
        double z = normal(&seed), a = normal(&seed), b = normal(&seed), c = normal(&seed);
        out[i] = (float)(scale * z / sqrt((a * a + b * b + c * c) / 3.0));
    }
}

void ref_fill_laplace(float *out, size_t n, uint64_t seed, float b)
{
    for (size_t i = 0; i < n; i++) {
        double u = uniform(&seed) - 0.5;
        out[i] = (float)(-b * (u < 0 ? -1.0 : 1.0) * log(1.0 - 2.0 * fabs(u)));
    }
}

void ref_sparsify(float *w, size_t n, double p, uint64_t seed)
{
    for (size_t i = 0; i < n; i++)
        if (p >= 1.0 || uniform(&seed) < p)
            w[i] = 0.0f;
}

void ref_make_nm(float *w, size_t rows, size_t cols, unsigned n, unsigned m)
{
    for (size_t r = 0; r < rows; r++) {
        for (size_t c0 = 0; c0 < cols; c0 += m) {
            size_t c1 = c0 + m < cols ? c0 + m : cols;
            float *g = w + r * cols;
            /* zero the smallest until at most n nonzeros are left */
            for (;;) {
                size_t nz = 0, small = c0;
                float best = INFINITY;
                for (size_t c = c0; c < c1; c++) {
                    if (g[c] == 0.0f)
                        continue;
                    nz++;
                    if (fabsf(g[c]) < best) {
                        best = fabsf(g[c]);
                        small = c;
                    }
                }
                if (nz <= n)
                    break;
                g[small] = 0.0f;
            }
        }
    }
}
