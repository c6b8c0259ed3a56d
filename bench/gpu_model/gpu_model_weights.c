/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_model_weights.c - gpu_model's weights, one generator per structure with realistic
 * sparsity, and the C reference every kernel run is checked against (see
 * gpu_model_parts.h).
 */
#include "gpu_model_parts.h"
#include "../common.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A kept weight: uniform in +-[0.05, 1), never 0 (a zero would be pruned). */
static float kept_value(uint64_t *s)
{
    double u = bench_uniform(s);
    float v = (float)(0.05 + 0.95 * bench_uniform(s));
    return u < 0.5 ? -v : v;
}

/* CSR: row r keeps len_r columns drawn without replacement, len_r log-normal with a mean
 * of 10 % of cols (sigma 0.8: a few long rows, many short ones), clipped to [1, cols]. */
static void csr_weights(size_t rows, size_t cols, uint64_t *s, float *w)
{
    const double sigma = 0.8, mean = 0.10 * (double)cols;
    const double mu = log(mean) - sigma * sigma / 2;
    size_t *perm = malloc(cols * sizeof *perm);
    if (!perm)
        abort();
    for (size_t r = 0; r < rows; r++) {
        double len = exp(mu + sigma * bench_gaussian(s));
        size_t n = len < 1 ? 1 : len > (double)cols ? cols : (size_t)(len + 0.5);
        for (size_t c = 0; c < cols; c++)
            perm[c] = c;
        for (size_t i = 0; i < n; i++) {
            size_t j = i + (size_t)(bench_uniform(s) * (double)(cols - i));
            if (j >= cols)
                j = cols - 1;
            size_t t = perm[i];
            perm[i] = perm[j], perm[j] = t;
            w[r * cols + perm[i]] = kept_value(s);
        }
    }
    free(perm);
}

/* BSR: each block of br x bc kept (fully dense) with probability 10 %. */
static void bsr_weights(size_t rows, size_t cols, size_t br, size_t bc, uint64_t *s, float *w)
{
    for (size_t r0 = 0; r0 < rows; r0 += br)
        for (size_t c0 = 0; c0 < cols; c0 += bc) {
            if (bench_uniform(s) >= 0.10)
                continue;
            for (size_t r = r0; r < r0 + br && r < rows; r++)
                for (size_t c = c0; c < c0 + bc && c < cols; c++)
                    w[r * cols + c] = kept_value(s);
        }
}

/* N:M: n positions of every group of m columns, drawn without replacement. */
static void nm_weights(size_t rows, size_t cols, size_t n, size_t m, uint64_t *s, float *w)
{
    size_t pos[16];
    for (size_t r = 0; r < rows; r++)
        for (size_t c0 = 0; c0 < cols; c0 += m) {
            for (size_t i = 0; i < m; i++)
                pos[i] = i;
            for (size_t i = 0; i < n; i++) {
                size_t j = i + (size_t)(bench_uniform(s) * (double)(m - i));
                if (j >= m)
                    j = m - 1;
                size_t t = pos[i];
                pos[i] = pos[j], pos[j] = t;
                if (c0 + pos[i] < cols)
                    w[r * cols + c0 + pos[i]] = kept_value(s);
            }
        }
}

void gm_make_weights(const sparq_pack_options *fmt, size_t rows, size_t cols, uint64_t seed,
                     float *w)
{
    uint64_t s = seed;
    memset(w, 0, rows * cols * sizeof *w);
    switch (fmt->structure) {
    case SPARQ_STRUCTURE_CSR:
        csr_weights(rows, cols, &s, w);
        break;
    case SPARQ_STRUCTURE_BSR:
        bsr_weights(rows, cols, fmt->block_rows, fmt->block_cols, &s, w);
        break;
    case SPARQ_STRUCTURE_NM:
        nm_weights(rows, cols, fmt->nm_n, fmt->nm_m, &s, w);
        break;
    default:
        for (size_t i = 0; i < rows * cols; i++)
            w[i] = kept_value(&s);
        break;
    }
}

void gm_row_lengths(const float *w, size_t rows, size_t cols, size_t *max, double *mean,
                    size_t *min)
{
    size_t total = 0;
    *max = 0, *min = cols;
    for (size_t r = 0; r < rows; r++) {
        size_t n = 0;
        for (size_t c = 0; c < cols; c++)
            n += w[r * cols + c] != 0.0f;
        total += n;
        *max = n > *max ? n : *max;
        *min = n < *min ? n : *min;
    }
    *mean = rows ? (double)total / (double)rows : 0.0;
}

double gm_max_rel_error(const float *w, size_t rows, size_t cols, size_t batch, const float *x,
                        const float *bias, const float *y)
{
    double err = 0.0, scale = 1.0;
    for (size_t b = 0; b < batch; b++)
        for (size_t m = 0; m < rows; m++) {
            double ref = bias ? bias[m] : 0.0;
            for (size_t k = 0; k < cols; k++)
                ref += (double)x[b * cols + k] * (double)w[m * cols + k];
            double d = fabs((double)y[b * rows + m] - ref);
            err = isnan(d) ? INFINITY : fmax(err, d);
            scale = fmax(scale, fabs(ref));
        }
    return err / scale;
}
