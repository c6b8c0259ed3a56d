/* SPDX-License-Identifier: Apache-2.0 */
/* test_csr_binned.c - spmm_csr_binned (rows binned by length, long rows split over
 * work-groups and combined by a second pass) and the padded CSR device layout every CSR
 * kernel reads: uniform, power-law and empty rows, one huge row, one row, one column;
 * every encoding; forced with its CPU and GPU defaults and through dispatch; its rank by
 * device type; the same bits every run; X of mean 5 within 1e-6 of max|y|.
 */
#include "kernel_check.h"

#include "ref/sparse_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct binned_case {
    size_t rows, cols;
    double sparsity;
    gen_shape shape;
    bool split; /* holds a row long enough to be split into units */
} binned_case;

/* GEN_LONG_ROW at 0.99: one dense row of 6000 among rows of ~60, split into 3 units;
 * GEN_POWER_LAW at 0.75 on 6000 columns: row 0 ~3000 nonzeros, 15x the mean, split too. */
static const binned_case cases[] = {
    {70, 90, 0.9, GEN_UNIFORM, false},     {66, 90, 0.5, GEN_EMPTY_ROWS, false},
    {100, 64, 0.7, GEN_POWER_LAW, false},  {16, 6000, 0.99, GEN_LONG_ROW, true},
    {96, 6000, 0.75, GEN_POWER_LAW, true}, {1, 37, 0.5, GEN_UNIFORM, false},
    {33, 1, 0.5, GEN_UNIFORM, false},      {40, 50, 1.0, GEN_UNIFORM, false},
};
static const binned_case small_cases[] = {
    {9, 13, 0.5, GEN_UNIFORM, false}, {12, 9, 0.5, GEN_EMPTY_ROWS, false},
    {10, 8, 0.5, GEN_POWER_LAW, false}, {1, 5, 0.0, GEN_UNIFORM, false},
    {4, 2300, 0.0, GEN_LONG_ROW, false},
};

typedef struct binned_format {
    const char *label;
    sparq_pack_options pack;
} binned_format;

static const binned_format formats[] = {
    {"csr f32", {.structure = SPARQ_STRUCTURE_CSR}},
    {"csr f16", {.structure = SPARQ_STRUCTURE_CSR, .quant = {.encoding = SPARQ_ENCODING_F16}}},
    {"csr i8-row asym", {.structure = SPARQ_STRUCTURE_CSR,
                         .quant = {.encoding = SPARQ_ENCODING_I8,
                                   .granularity = SPARQ_SCALE_ROW, .asymmetric = 1}}},
    {"csr i8 tensor", {.structure = SPARQ_STRUCTURE_CSR,
                       .quant = {.encoding = SPARQ_ENCODING_I8}}},
    {"csr i4-g32 asym", {.structure = SPARQ_STRUCTURE_CSR,
                         .quant = {.encoding = SPARQ_ENCODING_I4,
                                   .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                                   .asymmetric = 1}}},
    {"csr i4-g128", {.structure = SPARQ_STRUCTURE_CSR,
                     .quant = {.encoding = SPARQ_ENCODING_I4,
                               .granularity = SPARQ_SCALE_GROUP, .group_size = 128}}},
};
#define FORMAT_COUNT (sizeof formats / sizeof formats[0])

static const sparq_kernel_info *binned(void)
{
    const sparq_kernel_info *k = sparq_kernel_find("spmm_csr_binned");
    assert_non_null(k);
    return k;
}

/* The matrix of case c in format f; *w gets the weights it holds. */
static sparq_matrix *make(sparq_context *ctx, const binned_format *f, const binned_case *c,
                          uint64_t seed, float **w)
{
    *w = malloc(c->rows * c->cols * sizeof **w);
    assert_non_null(*w);
    gen_sparse(*w, c->rows, c->cols, c->sparsity, c->shape, seed);
    sparq_matrix_options mo = {.path = SPARQ_PATH_SPARSE};
    return testing_matrix(ctx, &f->pack, c->rows, c->cols, *w, &mo, f->label, *w, NULL);
}

/* Long-row units in m's bins (after the 16-word header and a record per row). */
static size_t units_of(const sparq_matrix *m)
{
    return (m->count[SPARQ_ARRAY_CSR_BINS] - 16) / 4 - m->rows;
}

/* The parameters a GPU gets by default (fitted to this device's limits). */
static sparq_kernel_params gpu_defaults(sparq_context *ctx)
{
    sparq_device_caps caps = ctx->caps;
    caps.type = SPARQ_DEVICE_TYPE_GPU;
    sparq_kernel_params p;
    sparq_kernel_default_params(binned(), &caps, &p);
    char why[256];
    if (!sparq_kernel_params_fit(binned(), &p, &ctx->caps, why, sizeof why))
        sparq_kernel_default_params(binned(), &ctx->caps, &p);
    return p;
}

/* Every case x encoding, the kernel forced with this device's defaults and with a GPU's,
 * at batches 1, 3 and 6 (two passes of 4 batch columns), activations in turn. */
static void every_case_every_encoding(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const bool small = testing_small_mode();
    const binned_case *list = small ? small_cases : cases;
    size_t count = small ? sizeof small_cases / sizeof small_cases[0]
                         : sizeof cases / sizeof cases[0];
    const sparq_kernel_params gpu = gpu_defaults(ctx);
    static const size_t batches[] = {1, 3, 6};
    for (size_t f = 0; f < FORMAT_COUNT; f++) {
        sparq_context_stats before;
        sparq_context_get_stats(ctx, &before);
        size_t runs = 0;
        for (size_t c = 0; c < count; c++) {
            float *w = NULL;
            sparq_matrix *m = make(ctx, &formats[f], &list[c], 300 + c, &w);
            if (!small && (units_of(m) > 0) != list[c].split)
                fail_msg("%s case %zu: %zu units, len_max %zu, mean %.1f", formats[f].label, c,
                         units_of(m), m->len_max, m->len_mean);
            for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
                for (int gpu_params = 0; gpu_params < 2; gpu_params++) {
                    char label[160];
                    snprintf(label, sizeof label, "%s %zux%zu %s s=%.2f %s defaults",
                             formats[f].label, list[c].rows, list[c].cols,
                             gen_shape_name(list[c].shape), list[c].sparsity,
                             gpu_params ? "GPU" : "CPU");
                    testing_linear_run run = {.kernel = binned(),
                                              .params = gpu_params ? &gpu : NULL,
                                              .batch = batches[b], .activation = (int)(b % 3),
                                              .seed = 17, .tol = 2e-5, .label = label};
                    runs += (size_t)testing_check_linear(ctx, m, w, &run, NULL);
                }
            sparq_matrix_free(m);
            free(w);
        }
        testing_expect_launches(ctx, &before, runs, formats[f].label);
    }
    sparq_context_free(ctx);
}

/* Settings at the edges of the candidates: a team per row whatever its length (SHORT 1),
 * one lane per short row (SHORT = TEAM), teams of 4 and 64, a group per 8 units. */
static void edge_settings(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const binned_case c = {96, 6000, 0.75, GEN_POWER_LAW, true};
    const binned_case tiny = {10, 8, 0.5, GEN_POWER_LAW, false};
    /* WG, TEAM, SHORT, SPLIT */
    static const sparq_kernel_params settings[] = {
        {{64, 32, 1, 1}}, {{32, 4, 4, 8}}, {{128, 64, 2, 2}}, {{256, 16, 16, 1}}};
    for (size_t f = 0; f < FORMAT_COUNT; f += 2) { /* f32, i8-row asym, i4-g32 asym */
        float *w = NULL;
        sparq_matrix *m = make(ctx, &formats[f], testing_small_mode() ? &tiny : &c, 5, &w);
        for (size_t s = 0; s < sizeof settings / sizeof settings[0]; s++) {
            char why[256];
            if (!sparq_kernel_params_fit(binned(), &settings[s], &ctx->caps, why, sizeof why))
                continue; /* a small device (the wg32 runs) */
            char label[128];
            snprintf(label, sizeof label, "%s setting %zu", formats[f].label, s);
            testing_linear_run run = {.kernel = binned(), .params = &settings[s], .batch = 1 + s,
                                      .seed = 23, .tol = 2e-5, .label = label};
            testing_check_linear(ctx, m, w, &run, NULL);
        }
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

/* Two runs give the same bits, split rows included (the combine adds unit sums in a
 * fixed order: no atomics). */
static void same_bits_every_run(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const binned_case c = testing_small_mode() ? small_cases[2] : cases[3];
    for (size_t f = 0; f < FORMAT_COUNT; f++) {
        float *w = NULL;
        sparq_matrix *m = make(ctx, &formats[f], &c, 9, &w);
        for (size_t batch = 1; batch <= 3; batch += 2) {
            float *first = malloc(batch * c.rows * sizeof *first);
            float *second = malloc(batch * c.rows * sizeof *second);
            assert_non_null(first), assert_non_null(second);
            testing_linear_run run = {.kernel = binned(), .batch = batch, .seed = 31,
                                      .tol = 2e-5, .label = formats[f].label};
            testing_check_linear(ctx, m, w, &run, first);
            testing_check_linear(ctx, m, w, &run, second);
            assert_memory_equal(first, second, batch * c.rows * sizeof *first);
            free(first), free(second);
        }
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

/* X of mean 5 and sd 1 (as after a GELU): within 1e-6 of max|y| against the double
 * reference, split rows included, every encoding. */
static void keeps_precision_at_mean_5(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const binned_case c = testing_small_mode() ? small_cases[4] : cases[4];
    const sparq_kernel_params gpu = gpu_defaults(ctx);
    for (size_t f = 0; f < FORMAT_COUNT; f++) {
        float *w = NULL;
        sparq_matrix *m = make(ctx, &formats[f], &c, 13, &w);
        for (size_t batch = 1; batch <= 4; batch += 3) {
            char label[128];
            snprintf(label, sizeof label, "%s, X mean 5, batch %zu", formats[f].label, batch);
            testing_linear_run run = {.kernel = binned(), .params = &gpu, .batch = batch,
                                      .seed = 41, .tol = 1e-6, .x_mean = 5.0f, .label = label};
            testing_check_linear(ctx, m, w, &run, NULL);
        }
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

/* The rank: the GPU choice at batch <= 4 (above spmm_csr_vector), off its regime above,
 * never the CPU choice and never refused; dispatch on this device stays correct. */
static void rank_and_dispatch(void **state)
{
    (void)state;
    setenv("SPARQ_TUNE", "off", 1);
    sparq_context *ctx = testing_context(NULL);
    float *w = NULL;
    sparq_matrix *m = make(ctx, &formats[0], &cases[2], 3, &w);
    sparq_device_caps gpu = ctx->caps, cpu = ctx->caps;
    gpu.type = SPARQ_DEVICE_TYPE_GPU, gpu.max_work_group_size = 1024;
    cpu.type = SPARQ_DEVICE_TYPE_CPU;
    const sparq_kernel_info *vector = sparq_kernel_find("spmm_csr_vector");
    const sparq_kernel_info *rowvec = sparq_kernel_find("spmm_csr_rowvec");
    char why[768];
    for (size_t batch = 1; batch <= 8; batch++) {
        sparq_kernel_params p, pv, pr;
        sparq_kernel_default_params(binned(), &gpu, &p);
        sparq_kernel_default_params(vector, &gpu, &pv);
        int r = sparq_kernel_rank(binned(), m, batch, &gpu, &p, why, sizeof why);
        int rv = sparq_kernel_rank(vector, m, batch, &gpu, &pv, why, sizeof why);
        if (batch <= 4) {
            assert_int_equal(r, SPARQ_RANK_BEST);
            assert_true(r > rv);
        } else {
            assert_true(r > SPARQ_RANK_REFUSED && r < SPARQ_RANK_BEST);
        }
        sparq_kernel_default_params(binned(), &cpu, &p);
        sparq_kernel_default_params(rowvec, &cpu, &pr);
        r = sparq_kernel_rank(binned(), m, batch, &cpu, &p, why, sizeof why);
        assert_int_equal(r, SPARQ_RANK_FALLBACK); /* never above the CPU kernels */
        assert_true(r <= sparq_kernel_rank(rowvec, m, batch, &cpu, &pr, why, sizeof why));
    }
    for (size_t batch = 1; batch <= 5; batch += 2) {
        testing_linear_run run = {.batch = batch, .seed = 5, .tol = 2e-5, .label = "dispatch"};
        testing_check_linear(ctx, m, w, &run, NULL);
    }
    sparq_matrix_free(m);
    free(w);
    /* dispatch as on a GPU (the context's device type set so; PoCL runs the kernels):
     * spmm_csr_binned up to batch 4, with split rows too, and right */
    ctx->caps.type = SPARQ_DEVICE_TYPE_GPU;
    const binned_case *split = testing_small_mode() ? &small_cases[2] : &cases[3];
    m = make(ctx, &formats[4], split, 8, &w);
    for (size_t batch = 1; batch <= 5; batch += 2) {
        testing_linear_run run = {.batch = batch, .seed = 6, .tol = 2e-5,
                                  .label = "dispatch as on a GPU"};
        testing_check_linear(ctx, m, w, &run, NULL);
        sparq_plan_info info;
        assert_int_equal(sparq_plan_info_get(m, batch, &info), SPARQ_OK);
        if (batch <= 4)
            assert_string_equal(info.kernel, "spmm_csr_binned");
        else
            assert_string_not_equal(info.kernel, "spmm_csr_binned");
    }
    sparq_matrix_free(m);
    free(w);
    sparq_context_free(ctx);
    unsetenv("SPARQ_TUNE");
}

/* The padded layout on the device: row starts at multiples of 4, padding on the row's
 * last column with zero weights (a code equal to the zero point when asymmetric), the
 * statistics and m->stored counting the packed nonzeros. */
static void padded_layout(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    /* rows of 0, 1, 2, 3, 5 and 4 nonzeros */
    enum { R = 6, C = 9 };
    float w[R * C] = {0};
    const size_t lens[R] = {0, 1, 2, 3, 5, 4};
    for (size_t r = 0; r < R; r++)
        for (size_t i = 0; i < lens[r]; i++)
            w[r * C + 2 * i] = 0.25f * (float)(i + 1) * (r % 2 ? -1.0f : 1.0f);
    const binned_format *f = &formats[4]; /* i4-g32 asym */
    sparq_matrix_options mo = {.path = SPARQ_PATH_SPARSE};
    float held[R * C];
    sparq_packed *packed = NULL;
    sparq_matrix *m = testing_matrix(ctx, &f->pack, R, C, w, &mo, f->label, held, &packed);
    assert_int_equal(m->stored, 15);
    assert_int_equal(m->len_max, 5);
    assert_int_equal(m->count[SPARQ_ARRAY_COL_IDX], 0 + 4 + 4 + 4 + 8 + 4);
    uint32_t ptr[R + 1];
    uint16_t col[24];
    uint8_t codes[12];
    cl_command_queue q = sparq_context_queue(ctx);
    assert_int_equal(clEnqueueReadBuffer(q, m->buf[SPARQ_ARRAY_ROW_PTR], CL_TRUE, 0, sizeof ptr,
                                         ptr, 0, NULL, NULL), CL_SUCCESS);
    assert_int_equal(clEnqueueReadBuffer(q, m->buf[SPARQ_ARRAY_COL_IDX], CL_TRUE, 0, sizeof col,
                                         col, 0, NULL, NULL), CL_SUCCESS);
    assert_int_equal(clEnqueueReadBuffer(q, m->buf[SPARQ_ARRAY_VALUES], CL_TRUE, 0, sizeof codes,
                                         codes, 0, NULL, NULL), CL_SUCCESS);
    const int8_t *zp = packed->arrays[SPARQ_PACKED_ZERO_POINTS].data;
    assert_non_null(zp);
    for (size_t r = 0; r < R; r++) {
        assert_int_equal(ptr[r] % 4, 0);
        for (size_t j = ptr[r] + lens[r]; j < ptr[r + 1]; j++) {
            assert_int_equal(col[j], 2 * (lens[r] - 1)); /* the row's last column */
            int code = (codes[j / 2] >> (4 * (j % 2))) & 15;
            code = code >= 8 ? code - 16 : code;
            assert_int_equal(code, zp[r]); /* one group of 32 a row */
        }
    }
    testing_linear_run run = {.kernel = binned(), .batch = 2, .seed = 3, .tol = 2e-5,
                              .label = "padded rows"};
    testing_check_linear(ctx, m, held, &run, NULL);
    sparq_matrix_free(m);
    sparq_packed_free(packed);
    sparq_context_free(ctx);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(padded_layout),
        cmocka_unit_test(rank_and_dispatch),
        cmocka_unit_test(every_case_every_encoding),
        cmocka_unit_test(edge_settings),
        cmocka_unit_test(same_bits_every_run),
        cmocka_unit_test(keeps_precision_at_mean_5),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
