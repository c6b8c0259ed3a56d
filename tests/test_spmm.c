/* SPDX-License-Identifier: Apache-2.0 */
/* test_spmm.c - every registered sparq_linear kernel of every structure (CSR, BSR,
 * N:M) x value encoding (f32, f16) against the C reference on the unpacked matrix:
 * empty rows, one long row, power-law rows, K = 1, M = 1, batch 1/3/17/128, sparsity
 * 0/0.5/0.9/0.99/1, bias and activations; repeatable bits; dispatch, the dense
 * fallback, plan explanations and bad input.
 */
#include "kernel_check.h"

#include "ref/sparse_gen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Tolerance relative to max(1, |Y|max): f32 sums of at most a few hundred products,
 * in a kernel-specific order, against a double reference on the same (f16-rounded)
 * weights. */
#define TOL 2e-5

typedef struct spmm_case {
    size_t rows, cols;
    double sparsity;
    gen_shape shape;
} spmm_case;

/* SPARQ_TEST_SMALL=1 (used under oclgrind, which interprets every work-item) swaps in
 * tiny versions of the same shapes. */
static const spmm_case small_cases[] = {
    {9, 13, 0.5, GEN_UNIFORM},    {12, 9, 0.5, GEN_EMPTY_ROWS}, {8, 20, 0.9, GEN_LONG_ROW},
    {10, 8, 0.5, GEN_POWER_LAW},  {1, 5, 0.0, GEN_UNIFORM},     {7, 1, 0.5, GEN_UNIFORM},
    {6, 6, 1.0, GEN_UNIFORM},
};
static const size_t small_batches[] = {1, 3, 17};

static const spmm_case cases[] = {
    {70, 90, 0.9, GEN_UNIFORM},     {70, 90, 0.0, GEN_UNIFORM},
    {66, 90, 0.5, GEN_EMPTY_ROWS},  {64, 300, 0.95, GEN_LONG_ROW},
    {100, 64, 0.7, GEN_POWER_LAW},  {1, 37, 0.5, GEN_UNIFORM},
    {33, 1, 0.5, GEN_UNIFORM},      {40, 50, 0.99, GEN_UNIFORM},
    {40, 50, 1.0, GEN_UNIFORM},
};
static const size_t batches[] = {1, 3, 17, 128};

typedef struct format_case {
    const char *label;
    sparq_pack_options pack;
} format_case;

static format_case formats[] = {
    {"csr f32", {.structure = SPARQ_STRUCTURE_CSR}},
    {"csr f16", {.structure = SPARQ_STRUCTURE_CSR, .quant = {.encoding = SPARQ_ENCODING_F16}}},
    {"bsr4x4 f32", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 4, .block_cols = 4}},
    /* 16 segment rows a block: spmm_bsr_gemv's CPU default (BSR_TILE_TSR 16) runs all of them */
    {"bsr16x16 f32", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16, .block_cols = 16}},
    {"bsr2x8 f16", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 2, .block_cols = 8,
                    .quant = {.encoding = SPARQ_ENCODING_F16}}},
    {"nm2:4 f32", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4}},
    {"nm2:4 f16", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                   .quant = {.encoding = SPARQ_ENCODING_F16}}},
    /* other N:M patterns (4-bit and 1-bit position fields) through the general kernels */
    {"nm4:8 f32", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 4, .nm_m = 8}},
    /* pruned and quantized together */
    {"csr i8 row", {.structure = SPARQ_STRUCTURE_CSR,
                    .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}}},
    {"csr i4 g32 asym", {.structure = SPARQ_STRUCTURE_CSR,
                         .quant = {.encoding = SPARQ_ENCODING_I4,
                                   .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                                   .asymmetric = 1}}},
    {"bsr4x4 i8 tensor asym", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 4,
                               .block_cols = 4,
                               .quant = {.encoding = SPARQ_ENCODING_I8, .asymmetric = 1}}},
    {"bsr2x8 i4 g32", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 2, .block_cols = 8,
                       .quant = {.encoding = SPARQ_ENCODING_I4,
                                 .granularity = SPARQ_SCALE_GROUP, .group_size = 32}}},
    {"nm2:4 i8 g32 asym", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                           .quant = {.encoding = SPARQ_ENCODING_I8,
                                     .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                                     .asymmetric = 1}}},
    {"nm2:4 i4 row", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                      .quant = {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_ROW}}},
    {"nm1:2 i4 g32", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 1, .nm_m = 2,
                      .quant = {.encoding = SPARQ_ENCODING_I4,
                                .granularity = SPARQ_SCALE_GROUP, .group_size = 32}}},
};

/* Bits per weight of the last matrix make_matrix packed. */
static double last_bits_per_weight;

/* A pruned matrix in the format (N:M pruned to its pattern first), packed and uploaded;
 * *dense gets the unpacked (dequantized) weights the reference uses. */
static sparq_matrix *make_matrix(sparq_context *ctx, const format_case *f, const spmm_case *c,
                                 uint64_t seed, sparq_path path, float **dense)
{
    float *w = malloc(c->rows * c->cols * sizeof *w);
    assert_non_null(w);
    if (f->pack.structure == SPARQ_STRUCTURE_BSR) {
        /* block sparsity: partly filled blocks, then whole blocks pruned to the target */
        gen_sparse(w, c->rows, c->cols, 0.3 * c->sparsity, c->shape, seed);
        assert_int_equal(sparq_prune_blocks(w, c->rows, c->cols, f->pack.block_rows,
                                            f->pack.block_cols, SPARQ_BLOCK_NORM_L1, c->sparsity,
                                            NULL, NULL, 1),
                         SPARQ_OK);
    } else {
        gen_sparse(w, c->rows, c->cols, c->sparsity, c->shape, seed);
    }
    if (f->pack.structure == SPARQ_STRUCTURE_NM)
        assert_int_equal(sparq_prune_nm(w, c->rows, c->cols, f->pack.nm_n, f->pack.nm_m, NULL,
                                        NULL, 1),
                         SPARQ_OK);
    sparq_matrix_options mo = {.path = path};
    sparq_packed *packed = NULL;
    sparq_matrix *m = testing_matrix(ctx, &f->pack, c->rows, c->cols, w, &mo, f->label, w,
                                     &packed);
    last_bits_per_weight = sparq_packed_bits_per_weight(packed);
    sparq_packed_free(packed);
    *dense = w;
    return m;
}

/* Runs kernel k (or dispatch when k is NULL) and checks against the reference;
 * returns 1 when it ran, 0 when k's rank refused the case. */
static int check_run(sparq_context *ctx, sparq_matrix *m, const float *w,
                     const sparq_kernel_info *k, size_t batch, int activation, const char *label,
                     float *out_copy)
{
    testing_linear_run run = {.kernel = k, .skip_refused = true, .batch = batch,
                              .activation = activation, .seed = 11, .tol = TOL, .label = label};
    return testing_check_linear(ctx, m, w, &run, out_copy);
}

static void every_kernel_every_case(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const spmm_case *case_list = testing_small_mode() ? small_cases : cases;
    size_t case_count = testing_small_mode() ? sizeof small_cases / sizeof small_cases[0]
                                             : sizeof cases / sizeof cases[0];
    const size_t *batch_list = testing_small_mode() ? small_batches : batches;
    size_t batch_count = testing_small_mode() ? sizeof small_batches / sizeof small_batches[0]
                                              : sizeof batches / sizeof batches[0];
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        size_t runs = 0;
        sparq_context_stats before;
        sparq_context_get_stats(ctx, &before);
        for (size_t c = 0; c < case_count; c++) {
            const spmm_case *sc = &case_list[c];
            float *w = NULL;
            sparq_matrix *m = make_matrix(ctx, &formats[f], sc, 100 + c, SPARQ_PATH_SPARSE, &w);
            char label[160];
            snprintf(label, sizeof label, "%s %zux%zu %s s=%.2f", formats[f].label, sc->rows,
                     sc->cols, gen_shape_name(sc->shape), sc->sparsity);
            for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
                const sparq_kernel_info *k = sparq_kernel_row(i);
                if (!sparq_kernel_runs_format(k, &m->format, false))
                    continue;
                for (size_t b = 0; b < batch_count; b++)
                    runs += (size_t)check_run(ctx, m, w, k, batch_list[b], (int)(b % 3), label,
                                              NULL);
            }
            sparq_matrix_free(m);
            free(w);
        }
        testing_expect_launches(ctx, &before, runs, formats[f].label);
    }
    sparq_context_free(ctx);
}

static void same_bits_every_run(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const spmm_case c = {80, 200, 0.8, GEN_POWER_LAW};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        float *w = NULL;
        sparq_matrix *m = make_matrix(ctx, &formats[f], &c, 7, SPARQ_PATH_SPARSE, &w);
        for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
            const sparq_kernel_info *k = sparq_kernel_row(i);
            if (!sparq_kernel_runs_format(k, &m->format, false))
                continue;
            float first[5 * 80], second[5 * 80];
            if (check_run(ctx, m, w, k, 5, 0, formats[f].label, first)) {
                check_run(ctx, m, w, k, 5, 0, formats[f].label, second);
                assert_memory_equal(first, second, sizeof first);
            }
        }
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

static void dispatch_and_fallback(void **state)
{
    (void)state;
    /* the untuned rules (tuned dispatch: test_tune), whatever the shipped database holds */
    setenv("SPARQ_TUNE", "off", 1);
    sparq_context *ctx = testing_context(NULL);
    char text[2048];
    const spmm_case sparse = {64, 96, 0.9, GEN_UNIFORM}, dense = {64, 96, 0.0, GEN_UNIFORM};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        float *w = NULL;
        /* sparse enough: the structure's kernels */
        sparq_matrix *m = make_matrix(ctx, &formats[f], &sparse, 3, SPARQ_PATH_AUTO, &w);
        if (formats[f].pack.structure != SPARQ_STRUCTURE_NM) /* 2:4 is 50 % whatever the input */
            assert_int_equal(m->path, SPARQ_PATH_SPARSE);
        for (size_t b = 0; b < 3; b++)
            check_run(ctx, m, w, NULL, batches[b], (int)b, formats[f].label, NULL);
        assert_int_equal(sparq_plan_explain(m, 1, text, sizeof text), SPARQ_OK);
        assert_non_null(strstr(text, "sparse path"));
        assert_non_null(strstr(text, "kernel "));
        assert_true(sparq_matrix_device_bytes(m) > 0);
        sparq_matrix_free(m);
        free(w);
        /* fully dense input: AUTO falls back to the dense path when the packed matrix
         * moves at least the 32 bits per weight of dense f32 (N:M and f16 blocks stay
         * below that); the dense path is then forced to check its results too */
        m = make_matrix(ctx, &formats[f], &dense, 4, SPARQ_PATH_AUTO, &w);
        bool falls_back = last_bits_per_weight >= 32.0;
        assert_int_equal(m->path, falls_back ? SPARQ_PATH_DENSE : SPARQ_PATH_SPARSE);
        if (!falls_back) {
            sparq_matrix_free(m);
            free(w);
            m = make_matrix(ctx, &formats[f], &dense, 4, SPARQ_PATH_DENSE, &w);
        }
        assert_int_equal(m->path, SPARQ_PATH_DENSE);
        for (size_t b = 0; b < 4; b++)
            check_run(ctx, m, w, NULL, batches[b], (int)b % 3, formats[f].label, NULL);
        assert_int_equal(sparq_plan_explain(m, 32, text, sizeof text), SPARQ_OK);
        assert_non_null(strstr(text, "dense path"));
        assert_non_null(strstr(text, falls_back
                                         ? "bits per weight, at or above the 32 of dense f32"
                                         : "forced"));
        assert_int_equal(sparq_matrix_rows(m), 64);
        assert_int_equal(sparq_matrix_cols(m), 96);
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
    unsetenv("SPARQ_TUNE");
}

static void bad_input_is_refused(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    float w[6] = {1, 0, 0, 0, 2, 0};
    sparq_pack_options csr = {.structure = SPARQ_STRUCTURE_CSR};
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_create(&csr, 2, 3, w, &packed), SPARQ_OK);
    sparq_matrix *m = NULL;
    assert_int_equal(sparq_matrix_create(NULL, packed, NULL, &m), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_matrix_create(ctx, NULL, NULL, &m), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_matrix_create(ctx, packed, NULL, NULL), SPARQ_ERROR_INVALID_ARGUMENT);
    sparq_matrix_options bad = {.path = (sparq_path)7};
    assert_int_equal(sparq_matrix_create(ctx, packed, &bad, &m), SPARQ_ERROR_INVALID_ARGUMENT);
    bad = (sparq_matrix_options){.dense_fallback_density = -1};
    assert_int_equal(sparq_matrix_create(ctx, packed, &bad, &m), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_null(m);
    assert_int_equal(sparq_matrix_create(ctx, packed, NULL, &m), SPARQ_OK);

    cl_command_queue q = sparq_context_queue(ctx);
    cl_mem x = testing_buffer(ctx, NULL, 2 * 3), y = testing_buffer(ctx, NULL, 2 * 2);
    cl_event ev = (cl_event)0x1;
    assert_int_equal(sparq_linear(NULL, q, x, 0, y, 0, 1, NULL, 0, NULL, &ev),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_null(ev);
    assert_int_equal(sparq_linear(m, NULL, x, 0, y, 0, 1, NULL, 0, NULL, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_linear(m, q, x, 0, y, 0, 0, NULL, 0, NULL, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_linear(m, q, x, 0, y, 0, 3, NULL, 0, NULL, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
    assert_non_null(strstr(sparq_last_error(), "x needs 9 elements"));
    assert_int_equal(sparq_linear(m, q, x, 4, y, 0, 1, NULL, 0, NULL, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
    assert_int_equal(sparq_linear(m, q, x, 0, y, 3, 1, NULL, 0, NULL, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
    sparq_epilogue ep = {.bias = y, .bias_offset = 3};
    assert_int_equal(sparq_linear(m, q, x, 0, y, 0, 1, &ep, 0, NULL, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
    assert_non_null(strstr(sparq_last_error(), "bias needs"));
    ep = (sparq_epilogue){.activation = (sparq_activation)9};
    assert_int_equal(sparq_linear(m, q, x, 0, y, 0, 1, &ep, 0, NULL, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_linear(m, q, x, 0, y, 0, 1, NULL, 2, NULL, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    /* y overlapping x (or the bias) in one buffer: written while read, refused */
    assert_int_equal(sparq_linear(m, q, x, 0, x, 2, 1, NULL, 0, NULL, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "x (bytes 0..12) and y (bytes 8..16) overlap"));
    ep = (sparq_epilogue){.bias = y, .bias_offset = 1};
    assert_int_equal(sparq_linear(m, q, x, 0, y, 2, 1, &ep, 0, NULL, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    char text[8];
    assert_int_equal(sparq_plan_explain(m, 0, text, sizeof text), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_plan_explain(NULL, 1, text, sizeof text),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_plan_explain(m, 1, text, sizeof text), SPARQ_OK); /* truncated */
    assert_int_equal(strlen(text), 7);
    sparq_context_stats stats;
    sparq_context_get_stats(ctx, &stats);
    assert_int_equal(stats.kernel_launches, 0);
    sparq_matrix_free(m);
    sparq_matrix_free(NULL);
    sparq_packed_free(packed);

    /* a format without device kernels (sparse W8A8) is refused by name, and W8A8 needs
     * int8 weights */
    sparq_pack_options i8 = {.structure = SPARQ_STRUCTURE_CSR,
                             .quant = {.encoding = SPARQ_ENCODING_I8,
                                       .granularity = SPARQ_SCALE_ROW}};
    sparq_matrix_options w8a8 = {.quantize_activations = 1};
    assert_int_equal(sparq_packed_create(&i8, 2, 3, w, &packed), SPARQ_OK);
    assert_int_equal(sparq_matrix_create(ctx, packed, &w8a8, &m), SPARQ_ERROR_UNSUPPORTED);
    assert_non_null(strstr(sparq_last_error(), "csr i8 W8A8"));
    sparq_matrix_options bad_w8a8 = {.quantize_activations = 3};
    assert_int_equal(sparq_matrix_create(ctx, packed, &bad_w8a8, &m), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "not 0, 1 or 2"));
    sparq_packed_free(packed);
    assert_int_equal(sparq_packed_create(&csr, 2, 3, w, &packed), SPARQ_OK);
    assert_int_equal(sparq_matrix_create(ctx, packed, &w8a8, &m), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "needs i8 weights"));
    sparq_packed_free(packed);
    clReleaseMemObject(x), clReleaseMemObject(y);
    sparq_context_free(ctx);
}

/* A matrix holds its context: freed first, the context still serves the matrix, and is
 * gone (no leak under LSan) when the matrix is freed. */
static void matrix_outlives_its_context(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const float w[2 * 3] = {1, 0, 2, 0, 3, 0}, xs[3] = {1, 2, 3};
    const sparq_pack_options csr = {.structure = SPARQ_STRUCTURE_CSR};
    sparq_packed *packed = NULL;
    sparq_matrix *m = NULL;
    assert_int_equal(sparq_packed_create(&csr, 2, 3, w, &packed), SPARQ_OK);
    assert_int_equal(sparq_matrix_create(ctx, packed, NULL, &m), SPARQ_OK);
    sparq_packed_free(packed);
    cl_command_queue q = sparq_context_queue(ctx);
    assert_int_equal(clRetainCommandQueue(q), CL_SUCCESS);
    cl_mem x = testing_buffer(ctx, xs, 3), y = testing_buffer(ctx, NULL, 2);
    sparq_context_free(ctx); /* the caller lets go first */
    assert_int_equal(sparq_linear(m, q, x, 0, y, 0, 1, NULL, 0, NULL, NULL), SPARQ_OK);
    float out[2] = {0, 0};
    assert_int_equal(clEnqueueReadBuffer(q, y, CL_TRUE, 0, sizeof out, out, 0, NULL, NULL),
                     CL_SUCCESS);
    assert_true(out[0] == 7.0f && out[1] == 6.0f); /* 1 + 2 * 3, 3 * 2 */
    sparq_matrix_free(m); /* the context goes here */
    clReleaseMemObject(x), clReleaseMemObject(y);
    clReleaseCommandQueue(q);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kernel_every_case),
        cmocka_unit_test(same_bits_every_run),
        cmocka_unit_test(dispatch_and_fallback),
        cmocka_unit_test(bad_input_is_refused),
        cmocka_unit_test(matrix_outlives_its_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
