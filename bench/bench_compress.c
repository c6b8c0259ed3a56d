/* SPDX-License-Identifier: Apache-2.0 */
/* bench_compress.c - what activation-aware compression costs and buys, on the host only:
 * for transformer-sized layers with correlated, outlier-channel activations, the time of
 * sparq_layer_convert per method (rtn, wanda, gptq, sparsegpt) and format (median of
 * repeats), with the output NMSE each reaches and its ratio to rtn's. Prints Markdown.
 */
#include "common.h"
#include "sparq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REPEATS 15
#define LOW_RANK 16 /* shared directions of the synthetic activations */

typedef struct recipe {
    const char *name;
    sparq_structure structure;
    sparq_encoding encoding;
    sparq_scale_granularity granularity;
    size_t group_size;
    double sparsity;
} recipe;

static const recipe recipes[] = {
    {"dense+i8-row", SPARQ_STRUCTURE_DENSE, SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0, 0.0},
    {"dense+i4-g128", SPARQ_STRUCTURE_DENSE, SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128, 0.0},
    {"csr+f32 s=0.50", SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_F32, SPARQ_SCALE_TENSOR, 0, 0.5},
    {"2:4+f32", SPARQ_STRUCTURE_NM, SPARQ_ENCODING_F32, SPARQ_SCALE_TENSOR, 0, 0.0},
    {"2:4+i4-g128", SPARQ_STRUCTURE_NM, SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128, 0.0},
};

static int fail(const char *what)
{
    fprintf(stderr, "bench_compress: %s: %s\n", what, sparq_last_error());
    return 1;
}

/* Activations as transformers have them: per-channel spreads from a log-normal (a few
 * channels 10-30x the others), plus a rank-16 component shared by all channels. The
 * statistics of tokens rows of them, accumulated in chunks. */
static int make_stats(size_t cols, size_t tokens, uint64_t seed, sparq_calib **calib)
{
    float *spread = malloc(cols * sizeof *spread);
    float *mix = malloc(LOW_RANK * cols * sizeof *mix);
    size_t chunk = 256;
    float *x = malloc(chunk * cols * sizeof *x);
    if (!spread || !mix || !x || sparq_calib_create(cols, 1, calib) != SPARQ_OK) {
        free(spread);
        free(mix);
        free(x);
        return fail("statistics");
    }
    for (size_t j = 0; j < cols; j++)
        spread[j] = (float)exp(0.8 * bench_gaussian(&seed));
    for (size_t i = 0; i < LOW_RANK * cols; i++)
        mix[i] = (float)(bench_gaussian(&seed) / sqrt((double)LOW_RANK));
    int rc = 0;
    for (size_t t0 = 0; t0 < tokens && rc == 0; t0 += chunk) {
        size_t n = tokens - t0 < chunk ? tokens - t0 : chunk;
        for (size_t t = 0; t < n; t++) {
            double z[LOW_RANK];
            for (size_t k = 0; k < LOW_RANK; k++)
                z[k] = bench_gaussian(&seed);
            for (size_t j = 0; j < cols; j++) {
                double v = bench_gaussian(&seed);
                for (size_t k = 0; k < LOW_RANK; k++)
                    v += 2.0 * z[k] * mix[k * cols + j];
                x[t * cols + j] = (float)(v * spread[j]);
            }
        }
        if (sparq_calib_accumulate(*calib, x, n) != SPARQ_OK)
            rc = fail("accumulate");
    }
    free(spread);
    free(mix);
    free(x);
    return rc;
}

static sparq_convert_options options_for(const recipe *r, sparq_method method,
                                         const sparq_calib *calib)
{
    sparq_convert_options o;
    memset(&o, 0, sizeof o);
    o.sparsity = r->sparsity;
    o.format.structure = r->structure;
    o.format.quant.encoding = r->encoding;
    o.format.quant.granularity = r->granularity;
    o.format.quant.group_size = r->group_size;
    if (r->structure == SPARQ_STRUCTURE_NM)
        o.format.nm_n = 2, o.format.nm_m = 4;
    o.no_rollback = 1; /* exactly this format, no gate: the method alone is measured */
    o.method = method;
    o.calib = calib;
    return o;
}

/* One shape: every recipe x method, `repeats` conversions each. */
static int bench_shape(size_t rows, size_t cols, unsigned repeats, uint64_t seed)
{
    size_t tokens = 2 * cols;
    float *w = malloc(rows * cols * sizeof *w);
    if (!w)
        return fail("weights");
    for (size_t i = 0; i < rows * cols; i++)
        w[i] = (float)(0.02 * bench_gaussian(&seed));
    sparq_calib *calib = NULL;
    double t0 = bench_now_seconds();
    if (make_stats(cols, tokens, seed ^ 0x5eedull, &calib) != 0) {
        free(w);
        return 1;
    }
    printf("\n### %zu x %zu (statistics of %zu tokens: %.2f s to make and accumulate)\n\n",
           rows, cols, tokens, bench_now_seconds() - t0);
    printf("| format | method | median s | min s | max s | NMSE_out | NMSE (weights) | "
           "NMSE_out / rtn |\n|---|---|---|---|---|---|---|---|\n");
    int rc = 0;
    for (size_t r = 0; r < sizeof recipes / sizeof recipes[0] && rc == 0; r++) {
        double rtn_out = NAN;
        for (int m = SPARQ_METHOD_RTN; m <= SPARQ_METHOD_SPARSEGPT && rc == 0; m++) {
            sparq_convert_options o = options_for(&recipes[r], (sparq_method)m, calib);
            sparq_convert_result res;
            double t[MAX_REPEATS];
            for (unsigned k = 0; k < repeats && rc == 0; k++) {
                sparq_packed *p = NULL;
                if (sparq_layer_convert(w, rows, cols, &o, &p, &res) != SPARQ_OK)
                    rc = fail("convert");
                sparq_packed_free(p);
                t[k] = res.seconds;
            }
            if (rc)
                break;
            bench_summary sum = bench_summarize(t, repeats);
            if (m == SPARQ_METHOD_RTN)
                rtn_out = res.output_nmse;
            printf("| %s | %s | %.2f | %.2f | %.2f | %.4g | %.4g | %.3f |\n", recipes[r].name,
                   sparq_method_name((sparq_method)m), sum.median, sum.min, sum.max,
                   res.output_nmse, res.error.nmse, res.output_nmse / rtn_out);
            fflush(stdout);
        }
    }
    sparq_calib_free(calib);
    free(w);
    return rc;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: bench_compress [--shapes RxC,...] [--repeats N]\n"
            "  --shapes   layer shapes (default 4096x4096,768x3072,3072x768)\n"
            "  --repeats  conversions per cell, median reported (default 3, at most %d)\n",
            MAX_REPEATS);
    return 2;
}

int main(int argc, char **argv)
{
    const char *shapes = "4096x4096,768x3072,3072x768";
    unsigned repeats = 3;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--shapes") == 0 && i + 1 < argc)
            shapes = argv[++i];
        else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = (unsigned)atoi(argv[++i]);
        else
            return usage();
    }
    if (repeats < 1 || repeats > MAX_REPEATS)
        return usage();
    printf("## sparq_layer_convert per method (host only; wall time per layer, including "
           "the output NMSE; no gate, exactly the format asked)\n");
    char *list = strdup(shapes);
    int rc = list ? 0 : 1;
    for (char *save = NULL, *s = strtok_r(list, ",", &save); s && rc == 0;
         s = strtok_r(NULL, ",", &save)) {
        size_t rows, cols;
        if (sscanf(s, "%zux%zu", &rows, &cols) != 2 || rows == 0 || cols == 0) {
            free(list);
            return usage();
        }
        rc = bench_shape(rows, cols, repeats, 0x5a4bull + rows * 31 + cols);
    }
    free(list);
    return rc;
}
