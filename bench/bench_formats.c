/* SPDX-License-Identifier: Apache-2.0 */
/* bench_formats.c - what the formats cost in accuracy and size, on the host only:
 * SQNR and NMSE of every quantizer x calibration on Gaussian and heavy-tailed
 * (Student-t, 3 dof) weights, and bits per weight of every structure x encoding at
 * 50 %, 90 %, 2:4 and block sparsity. Uses only the public header; prints Markdown.
 */
#include "common.h"
#include "sparq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Weights of standard deviation sigma: Gaussian, or Student-t with 3 degrees of freedom
 * (heavy tails; variance 3, rescaled to sigma). */
static void fill(float *w, size_t n, int heavy, uint64_t seed, float sigma)
{
    for (size_t i = 0; i < n; i++) {
        double v = bench_gaussian(&seed);
        if (heavy) {
            double chi2 = 0;
            for (int k = 0; k < 3; k++) {
                double g = bench_gaussian(&seed);
                chi2 += g * g;
            }
            v = v / sqrt(chi2 / 3.0) / sqrt(3.0);
        }
        w[i] = (float)(v * sigma);
    }
}

/* Zeroes the smallest |w| to this sparsity (exact count, sparq's own pruning). */
static int prune(float *w, size_t rows, size_t cols, double sparsity)
{
    return sparq_prune_magnitude(w, rows, cols, sparsity, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, NULL, 1);
}

static int fail(const char *what)
{
    fprintf(stderr, "bench_formats: %s: %s\n", what, sparq_last_error());
    return 1;
}

static int quantization_table(void)
{
    const size_t rows = 1024, cols = 1024, n = rows * cols;
    float *w[2] = {malloc(n * sizeof(float)), malloc(n * sizeof(float))};
    float *out = malloc(n * sizeof(float));
    if (!w[0] || !w[1] || !out)
        return fail("out of memory");
    fill(w[0], n, 0, 1, 0.02f);
    fill(w[1], n, 1, 2, 0.02f);
    const struct {
        const char *name;
        sparq_quant_options q;
    } enc[] = {
        {"f16", {.encoding = SPARQ_ENCODING_F16}},
        {"i8 row sym", {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}},
        {"i8 row asym", {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW,
                         .asymmetric = 1}},
        {"i8 g128 sym", {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_GROUP,
                         .group_size = 128}},
        {"i8 g128 asym", {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_GROUP,
                          .group_size = 128, .asymmetric = 1}},
        {"i4 g32 sym", {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_GROUP,
                        .group_size = 32}},
        {"i4 g32 asym", {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_GROUP,
                         .group_size = 32, .asymmetric = 1}},
        {"i4 g128 sym", {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_GROUP,
                         .group_size = 128}},
        {"i4 g128 asym", {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_GROUP,
                          .group_size = 128, .asymmetric = 1}},
    };
    const char *calib[] = {"minmax", "p99.99", "mse"};
    printf("Quantization error, %zu x %zu, sigma 0.02\n\n", rows, cols);
    printf("| encoding | calibration | Gaussian SQNR dB | Gaussian NMSE | Student-t3 SQNR dB "
           "| Student-t3 NMSE |\n|---|---|---|---|---|---|\n");
    for (size_t e = 0; e < sizeof enc / sizeof enc[0]; e++) {
        int calibrations = enc[e].q.encoding == SPARQ_ENCODING_F16 ? 1 : 3;
        for (int c = 0; c < calibrations; c++) {
            sparq_quant_options q = enc[e].q;
            q.calibration = (sparq_calibration)c;
            q.percentile = c == SPARQ_CALIBRATION_PERCENTILE ? 99.99 : 0;
            sparq_error_metrics m[2];
            for (int d = 0; d < 2; d++)
                if (sparq_fake_quantize(&q, rows, cols, w[d], out, NULL) ||
                    sparq_error_metrics_compute(w[d], out, n, &m[d]))
                    return fail(enc[e].name);
            printf("| %s | %s | %.2f | %.3g | %.2f | %.3g |\n", enc[e].name,
                   calibrations == 1 ? "-" : calib[c], m[0].sqnr_db, m[0].nmse, m[1].sqnr_db,
                   m[1].nmse);
        }
    }
    free(w[0]), free(w[1]), free(out);
    return 0;
}

static int size_table(void)
{
    const size_t n = 4096, count = n * n;
    float *base = malloc(count * sizeof(float)), *w = malloc(count * sizeof(float));
    if (!base || !w)
        return fail("out of memory");
    fill(base, count, 0, 3, 0.02f);
    const struct {
        const char *name;
        sparq_quant_options q;
    } enc[] = {
        {"f32", {.encoding = SPARQ_ENCODING_F32}},
        {"f16", {.encoding = SPARQ_ENCODING_F16}},
        {"i8 row", {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}},
        {"i8 g128", {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_GROUP,
                     .group_size = 128}},
        {"i4 g32", {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_GROUP,
                    .group_size = 32}},
        {"i4 g128", {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_GROUP,
                     .group_size = 128}},
        {"i4 g128 asym", {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_GROUP,
                          .group_size = 128, .asymmetric = 1}},
    };
    const size_t encodings = sizeof enc / sizeof enc[0];
    const char *pruning[] = {"50 % random", "90 % random", "2:4", "50 % 4x4 blocks",
                             "90 % 4x4 blocks"};
    printf("\nBits per weight (indices, metadata, scales and zero points counted), %zu x %zu\n\n",
           n, n);
    printf("| pruning | structure |");
    for (size_t e = 0; e < encodings; e++)
        printf(" %s |", enc[e].name);
    printf("\n|---|---|");
    for (size_t e = 0; e < encodings; e++)
        printf("---|");
    printf("\n");
    for (int s = 0; s < 5; s++) {
        memcpy(w, base, count * sizeof(float));
        sparq_status st = s == 0   ? prune(w, n, n, 0.5)
                          : s == 1 ? prune(w, n, n, 0.9)
                          : s == 2 ? sparq_prune_nm(w, n, n, 2, 4, NULL, NULL, 1)
                                   : sparq_prune_blocks(w, n, n, 4, 4, SPARQ_BLOCK_NORM_L1,
                                                        s == 3 ? 0.5 : 0.9, NULL, NULL, 1);
        if (st != SPARQ_OK)
            return fail(pruning[s]);
        for (int structure = 0; structure < 4; structure++) {
            if (structure == SPARQ_STRUCTURE_NM && s != 2)
                continue;
            printf("| %s | %s |", pruning[s],
                   structure == SPARQ_STRUCTURE_BSR ? "bsr 4x4"
                   : structure == SPARQ_STRUCTURE_NM
                       ? "nm 2:4"
                       : sparq_structure_name((sparq_structure)structure));
            for (size_t e = 0; e < encodings; e++) {
                sparq_pack_options o = {.structure = (sparq_structure)structure,
                                        .quant = enc[e].q, .block_rows = 4, .block_cols = 4,
                                        .nm_n = 2, .nm_m = 4};
                sparq_packed *p = NULL;
                if (sparq_packed_create(&o, n, n, w, &p) != SPARQ_OK)
                    return fail("packing");
                printf(" %.3f |", sparq_packed_bits_per_weight(p));
                fflush(stdout);
                sparq_packed_free(p);
            }
            printf("\n");
        }
    }
    free(base), free(w);
    return 0;
}

int main(int argc, char **argv)
{
    int quant = argc < 2 || strcmp(argv[1], "--quant") == 0;
    int sizes = argc < 2 || strcmp(argv[1], "--sizes") == 0;
    if (!quant && !sizes) {
        fprintf(stderr, "usage: bench_formats [--quant | --sizes]\n");
        return 2;
    }
    return (quant && quantization_table()) || (sizes && size_table()) ? 1 : 0;
}
