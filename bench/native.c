/* SPDX-License-Identifier: Apache-2.0 */
/* native.c - hand-written C kernels (AVX2 + FMA, OpenMP threads) for batch-1 products
 * over sparq's packed layouts, each with the algorithm of sparq's CPU kernel for that
 * layout (spmm_csr_rowvec, linear_dense_q_gemv): the native ceiling bench_sparse times
 * next to sparq. Rows are split statically over the OpenMP threads; a run of several
 * calls is one parallel region (no thread wakes or sleeps between them).
 */
#include "native.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) &&                      \
    !defined(__SANITIZE_ADDRESS__)
#define NATIVE_AVX2 1
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))
#endif

typedef enum native_kind {
    NATIVE_CSR_F32,
    NATIVE_CSR_I8,
    NATIVE_DENSE_I8,
    NATIVE_DENSE_I4
} native_kind;

struct native_gemv {
    native_kind kind;
    size_t rows, cols;
    uint32_t *row_ptr;  /* CSR                                                              */
    uint16_t *col_idx;  /* CSR                                                              */
    float *values_f32;  /* CSR f32                                                          */
    int8_t *codes;      /* i8 codes (CSR, dense); i4: per row, cols / 64 blocks of eight
                         * 32-bit lanes, nibble j of lane l the code of column 8j + l       */
    float *scales;      /* i8: one per row; i4: per row, one per group                      */
    float *zeros;       /* zero points as floats, indexed as scales; NULL when symmetric    */
    size_t group;       /* i4: G                                                            */
};

void native_gemv_free(native_gemv *g)
{
    if (!g)
        return;
    free(g->row_ptr);
    free(g->col_idx);
    free(g->values_f32);
    free(g->codes);
    free(g->scales);
    free(g->zeros);
    free(g);
}

#ifdef NATIVE_AVX2

/* ---- the kernels: one output row each ---------------------------------------------- */

AVX2 static float hsum8(__m256 a)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

/* x at eight column indices: the indices as two 64-bit words split by shifts, then
 * scalar loads and inserts (faster than vgatherdps on Zen 3; what PoCL emits for
 * sparq's kernel). */
AVX2 static inline __attribute__((always_inline)) __m256 gather8(const float *x, const uint16_t *c)
{
    uint64_t w[2];
    memcpy(w, c, sizeof w);
    return _mm256_setr_ps(x[w[0] & 0xffff], x[(w[0] >> 16) & 0xffff], x[(w[0] >> 32) & 0xffff],
                          x[w[0] >> 48], x[w[1] & 0xffff], x[(w[1] >> 16) & 0xffff],
                          x[(w[1] >> 32) & 0xffff], x[w[1] >> 48]);
}

/* Eight i8 codes minus z as floats. */
AVX2 static __m256 codes8(const int8_t *q, __m256 z)
{
    __m128i b = _mm_loadl_epi64((const __m128i *)q);
    return _mm256_sub_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), z);
}

/* CSR row: sum of w[j] x[c[j]], w the values (f32) or codes minus z (i8), 16 nonzeros a
 * step in two accumulators, the rest in order. */
AVX2 static float csr_row(const native_gemv *g, size_t r, const float *x)
{
    const size_t j0 = g->row_ptr[r], n = g->row_ptr[r + 1] - j0;
    const uint16_t *c = g->col_idx + j0;
    const float zf = g->zeros ? g->zeros[r] : 0.0f;
    const __m256 z = _mm256_set1_ps(zf);
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    size_t j = 0;
    if (g->kind == NATIVE_CSR_F32) {
        const float *v = g->values_f32 + j0;
        for (; j + 16 <= n; j += 16) {
            _mm_prefetch((const char *)(v + j + 512), _MM_HINT_T0);
            _mm_prefetch((const char *)(c + j + 512), _MM_HINT_T0);
            a0 = _mm256_fmadd_ps(_mm256_loadu_ps(v + j), gather8(x, c + j), a0);
            a1 = _mm256_fmadd_ps(_mm256_loadu_ps(v + j + 8), gather8(x, c + j + 8), a1);
        }
        float s = hsum8(_mm256_add_ps(a0, a1));
        for (; j < n; j++)
            s += v[j] * x[c[j]];
        return s;
    }
    const int8_t *q = g->codes + j0;
    for (; j + 16 <= n; j += 16) {
        _mm_prefetch((const char *)(q + j + 512), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + j + 512), _MM_HINT_T0);
        a0 = _mm256_fmadd_ps(codes8(q + j, z), gather8(x, c + j), a0);
        a1 = _mm256_fmadd_ps(codes8(q + j + 8, z), gather8(x, c + j + 8), a1);
    }
    float s = hsum8(_mm256_add_ps(a0, a1));
    for (; j < n; j++)
        s += ((float)q[j] - zf) * x[c[j]];
    return s * g->scales[r];
}

/* Dense i8 row: 32 columns a step in four accumulators, codes minus z, one scale. */
AVX2 static float dense_i8_row(const native_gemv *g, size_t r, const float *x)
{
    const size_t cols = g->cols;
    const int8_t *q = g->codes + r * cols;
    const float zf = g->zeros ? g->zeros[r] : 0.0f;
    const __m256 z = _mm256_set1_ps(zf);
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                   _mm256_setzero_ps()};
    size_t k = 0;
    for (; k + 32 <= cols; k += 32) {
        _mm_prefetch((const char *)(q + k + 1024), _MM_HINT_T0);
        for (int i = 0; i < 4; i++)
            a[i] = _mm256_fmadd_ps(codes8(q + k + 8 * i, z), _mm256_loadu_ps(x + k + 8 * i), a[i]);
    }
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
    for (; k < cols; k++)
        s += ((float)q[k] - zf) * x[k];
    return s * g->scales[r];
}

/* Dense i4 row, as linear_dense_q_gemv: each byte xor 0x88 turns nibble q into u = q + 8;
 * nibble j masked in place is u * 16^(j mod 4) (j >= 4 after a 16-bit shift), converted
 * as a float by or'ing it into the bits of 2^23 and subtracting 2^23 + (z + 8) *
 * 16^(j mod 4) (exact), so each weight enters as q - z;
 * accumulator j mod 4 is scaled back by 16^-(j mod 4) at the end of a group. */
AVX2 static float dense_i4_row(const native_gemv *g, size_t r, const float *x)
{
    const size_t gpr = g->cols / g->group, blocks = g->group / 64;
    const uint8_t *row = (const uint8_t *)g->codes + r * (g->cols / 2);
    const __m256i flip = _mm256_set1_epi32((int)0x88888888u);
    const __m256i m0 = _mm256_set1_epi32(0xf), m1 = _mm256_set1_epi32(0xf0);
    const __m256i m2 = _mm256_set1_epi32(0xf00), m3 = _mm256_set1_epi32(0xf000);
    const __m256i bits = _mm256_set1_epi32(0x4b000000); /* the float 2^23 */
    __m256 total = _mm256_setzero_ps();
    for (size_t gi = 0; gi < gpr; gi++) {
        const size_t si = r * gpr + gi;
        const float c = (g->zeros ? g->zeros[si] : 0.0f) + 8.0f;
        const __m256 c0 = _mm256_set1_ps(8388608.0f + c);
        const __m256 c1 = _mm256_set1_ps(8388608.0f + c * 16.0f);
        const __m256 c2 = _mm256_set1_ps(8388608.0f + c * 256.0f);
        const __m256 c3 = _mm256_set1_ps(8388608.0f + c * 4096.0f);
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t bi = 0; bi < blocks; bi++) {
            const size_t k = (gi * blocks + bi) * 64;
            _mm_prefetch((const char *)(row + k / 2 + 1024), _MM_HINT_T0);
            __m256i l = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(row + k / 2)), flip);
            for (int h = 0; h < 2; h++, l = _mm256_srli_epi32(l, 16)) {
                const float *xk = x + k + 32 * h;
                const __m256 w0 = _mm256_sub_ps(
                    _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(l, m0), bits)), c0);
                a0 = _mm256_fmadd_ps(w0, _mm256_loadu_ps(xk), a0);
                const __m256 w1 = _mm256_sub_ps(
                    _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(l, m1), bits)), c1);
                a1 = _mm256_fmadd_ps(w1, _mm256_loadu_ps(xk + 8), a1);
                const __m256 w2 = _mm256_sub_ps(
                    _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(l, m2), bits)), c2);
                a2 = _mm256_fmadd_ps(w2, _mm256_loadu_ps(xk + 16), a2);
                const __m256 w3 = _mm256_sub_ps(
                    _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(l, m3), bits)), c3);
                a3 = _mm256_fmadd_ps(w3, _mm256_loadu_ps(xk + 24), a3);
            }
        }
        const __m256 lo = _mm256_fmadd_ps(a1, _mm256_set1_ps(0.0625f), a0);
        const __m256 hi = _mm256_fmadd_ps(a3, _mm256_set1_ps(1.0f / 4096),
                                          _mm256_mul_ps(a2, _mm256_set1_ps(1.0f / 256)));
        const __m256 sum = _mm256_add_ps(lo, hi);
        total = _mm256_fmadd_ps(sum, _mm256_set1_ps(g->scales[si]), total);
    }
    return hsum8(total);
}

static int cpu_has_avx2(void)
{
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#else
static int cpu_has_avx2(void)
{
    return 0;
}
#endif

#ifdef NATIVE_AVX2
/* This thread's share of the rows of one run (a worksharing loop of the enclosing
 * parallel region, static, so every run gives a thread the same rows). */
static void run_rows(native_gemv *g, const float *x, float *y)
{
    const long rows = (long)g->rows;
    switch (g->kind) {
    case NATIVE_CSR_F32:
    case NATIVE_CSR_I8:
#pragma omp for schedule(static) nowait
        for (long r = 0; r < rows; r++)
            y[r] = csr_row(g, (size_t)r, x);
        break;
    case NATIVE_DENSE_I8:
#pragma omp for schedule(static) nowait
        for (long r = 0; r < rows; r++)
            y[r] = dense_i8_row(g, (size_t)r, x);
        break;
    case NATIVE_DENSE_I4:
#pragma omp for schedule(static) nowait
        for (long r = 0; r < rows; r++)
            y[r] = dense_i4_row(g, (size_t)r, x);
        break;
    }
}
#endif

void native_gemv_run(native_gemv *const *copies, size_t count, size_t first, size_t n,
                     const float *x, float *y)
{
#ifdef NATIVE_AVX2
#pragma omp parallel
    for (size_t i = 0; i < n; i++)
        run_rows(copies[(first + i) % count], x, y);
#else
    (void)copies, (void)count, (void)first, (void)n, (void)x, (void)y;
#endif
}

/* ---- building a native copy from a packed matrix ----------------------------------- */

/* A copy of the packed array `name` into *out (NULL when absent and optional). */
static int copy_array(const sparq_packed *p, const char *name, void **out, size_t *count,
                      sparq_dtype *dtype)
{
    sparq_packed_array a;
    *out = NULL;
    *count = 0;
    if (sparq_packed_find_array(p, name, &a) != SPARQ_OK)
        return 1; /* absent */
    size_t bytes = a.count * sparq_dtype_size(a.dtype);
    *out = malloc(bytes ? bytes : 1);
    if (!*out)
        return 0;
    memcpy(*out, a.data, bytes);
    *count = a.count;
    *dtype = a.dtype;
    return 1;
}

/* scales (and zero points as floats) indexed per row: a tensor scale repeated. */
static int per_row_scales(native_gemv *g, const sparq_packed *p, const sparq_quant_options *q)
{
    sparq_packed_array s, z;
    const int has_z = q->asymmetric && sparq_packed_find_array(p, "zero_points", &z) == SPARQ_OK;
    if (sparq_packed_find_array(p, "scales", &s) != SPARQ_OK)
        return 0;
    size_t n = q->granularity == SPARQ_SCALE_GROUP ? s.count : g->rows;
    g->scales = malloc(n * sizeof *g->scales);
    g->zeros = has_z ? malloc(n * sizeof *g->zeros) : NULL;
    if (!g->scales || (has_z && !g->zeros))
        return 0;
    for (size_t i = 0; i < n; i++) {
        size_t from = q->granularity == SPARQ_SCALE_TENSOR ? 0 : i;
        g->scales[i] = ((const float *)s.data)[from];
        if (has_z)
            g->zeros[i] = (float)((const int8_t *)z.data)[from];
    }
    return 1;
}

/* The i4 codes of a dense row-major packed matrix (code c of a row in byte c / 2, low
 * nibble first) re-ordered into 64-column blocks of eight 32-bit lanes. */
static int i4_step_order(native_gemv *g, const sparq_packed *p)
{
    sparq_packed_array v;
    if (sparq_packed_find_array(p, "values", &v) != SPARQ_OK)
        return 0;
    const size_t row_bytes = g->cols / 2;
    uint8_t *out = calloc(g->rows, row_bytes);
    if (!out)
        return 0;
    const uint8_t *in = v.data;
    for (size_t r = 0; r < g->rows; r++) {
        const uint8_t *src = in + r * row_bytes;
        uint32_t *lanes = (uint32_t *)(out + r * row_bytes);
        for (size_t k = 0; k < g->cols; k++) {
            const uint32_t code = (src[k / 2] >> (4 * (k % 2))) & 0xf;
            const size_t block = k / 64, col = k % 64;
            lanes[8 * block + col % 8] |= code << (4 * (col / 8));
        }
    }
    g->codes = (int8_t *)out;
    return 1;
}

native_gemv *native_gemv_create(const sparq_packed *packed, char *why, size_t why_size)
{
    const sparq_pack_options *f = sparq_packed_format(packed);
    const sparq_quant_options *q = &f->quant;
    native_gemv tmp = {.rows = sparq_packed_rows(packed), .cols = sparq_packed_cols(packed)};
    const char *no = NULL;
    if (!cpu_has_avx2())
        no = "no native kernels in this build or on this CPU (x86-64, GCC or Clang without "
             "sanitizers, AVX2 and FMA)";
    else if (f->structure == SPARQ_STRUCTURE_CSR && q->encoding == SPARQ_ENCODING_F32)
        tmp.kind = NATIVE_CSR_F32;
    else if (f->structure == SPARQ_STRUCTURE_CSR && q->encoding == SPARQ_ENCODING_I8 &&
             q->granularity != SPARQ_SCALE_GROUP)
        tmp.kind = NATIVE_CSR_I8;
    else if (f->structure == SPARQ_STRUCTURE_DENSE && q->encoding == SPARQ_ENCODING_I8 &&
             q->granularity != SPARQ_SCALE_GROUP)
        tmp.kind = NATIVE_DENSE_I8;
    else if (f->structure == SPARQ_STRUCTURE_DENSE && q->encoding == SPARQ_ENCODING_I4 &&
             q->granularity == SPARQ_SCALE_GROUP && q->group_size % 64 == 0 &&
             tmp.cols % q->group_size == 0)
        tmp.kind = NATIVE_DENSE_I4, tmp.group = q->group_size;
    else
        no = "no native kernel for this format (CSR f32/i8 with row scales, dense i8 with "
             "row scales, dense i4 in groups of 64k columns dividing the row)";
    if (no) {
        snprintf(why, why_size, "%s", no);
        return NULL;
    }
    native_gemv *g = malloc(sizeof *g);
    if (!g) {
        snprintf(why, why_size, "native copy: out of memory");
        return NULL;
    }
    *g = tmp;
    int ok = 1;
    size_t count = 0;
    sparq_dtype dtype = SPARQ_DTYPE_U8;
    void *a = NULL;
    if (g->kind == NATIVE_CSR_F32 || g->kind == NATIVE_CSR_I8) {
        ok = copy_array(packed, "row_ptr", &a, &count, &dtype) && dtype == SPARQ_DTYPE_U32;
        g->row_ptr = a;
        a = NULL;
        ok = ok && copy_array(packed, "col_idx", &a, &count, &dtype) && dtype == SPARQ_DTYPE_U16;
        g->col_idx = a;
    }
    if (ok && g->kind == NATIVE_CSR_F32) {
        ok = copy_array(packed, "values", &a, &count, &dtype);
        g->values_f32 = a;
    } else if (ok && g->kind == NATIVE_DENSE_I4) {
        ok = i4_step_order(g, packed) && per_row_scales(g, packed, q);
    } else if (ok) {
        ok = copy_array(packed, "values", &a, &count, &dtype) && per_row_scales(g, packed, q);
        g->codes = a;
    }
    if (!ok) {
        snprintf(why, why_size, "native copy: out of memory, or 64-bit row pointers / 32-bit "
                                "column indices (not built natively)");
        native_gemv_free(g);
        return NULL;
    }
    return g;
}
