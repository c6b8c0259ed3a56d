/* SPDX-License-Identifier: Apache-2.0 */
/* test_spmm_gpu_shapes.c - the GPU kernels of BSR and 2:4 (spmm_bsr_stream,
 * spmm_nm_stream24: batch 1, and passes of several batch rows) and the device layouts
 * they read: every encoding (f32, f16, i8, i4,
 * symmetric and asymmetric, per row, tensor and group), ragged shapes (rows not whole
 * blocks or slabs, columns not whole blocks, groups or tiles), their CPU and GPU default
 * parameters, X with mean 5 against a double reference at 1e-6 for every kernel of the
 * two structures, f16 subnormals, repeatable bits, and their ranks on CPUs and GPUs.
 */
#include "kernel_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Uniform X in [-1, 1): f32 sums in a kernel's order against the double reference. */
#define TOL 2e-5
/* X with mean 5 and sd 1: every product the same sign in expectation, so nothing cancels;
 * a kernel's f32 sums stay within 1e-6 of max |Y|. */
#define TOL_MEAN5 1e-6

typedef struct gpu_format {
    const char *label;
    sparq_pack_options pack;
} gpu_format;

static const gpu_format formats[] = {
    {"bsr16x16 f32", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16, .block_cols = 16}},
    {"bsr16x16 f16", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16, .block_cols = 16,
                      .quant = {.encoding = SPARQ_ENCODING_F16}}},
    {"bsr16x16 i8 row", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16, .block_cols = 16,
                         .quant = {.encoding = SPARQ_ENCODING_I8,
                                   .granularity = SPARQ_SCALE_ROW}}},
    {"bsr16x16 i8 g32 asym", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16,
                              .block_cols = 16,
                              .quant = {.encoding = SPARQ_ENCODING_I8,
                                        .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                                        .asymmetric = 1}}},
    {"bsr16x16 i4 g32", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16, .block_cols = 16,
                         .quant = {.encoding = SPARQ_ENCODING_I4,
                                   .granularity = SPARQ_SCALE_GROUP, .group_size = 32}}},
    {"bsr16x16 i4 tensor asym", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16,
                                 .block_cols = 16,
                                 .quant = {.encoding = SPARQ_ENCODING_I4, .asymmetric = 1}}},
    /* chunks of several block rows: 16 i8 codes are four rows of a 4x4 block */
    {"bsr4x4 i8 row asym", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 4, .block_cols = 4,
                            .quant = {.encoding = SPARQ_ENCODING_I8,
                                      .granularity = SPARQ_SCALE_ROW, .asymmetric = 1}}},
    {"2:4 f32", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4}},
    {"2:4 f16", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                 .quant = {.encoding = SPARQ_ENCODING_F16}}},
    {"2:4 i8 row asym", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                         .quant = {.encoding = SPARQ_ENCODING_I8,
                                   .granularity = SPARQ_SCALE_ROW, .asymmetric = 1}}},
    {"2:4 i8 g32", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                    .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_GROUP,
                              .group_size = 32}}},
    {"2:4 i4 g128 asym", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                          .quant = {.encoding = SPARQ_ENCODING_I4,
                                    .granularity = SPARQ_SCALE_GROUP, .group_size = 128,
                                    .asymmetric = 1}}},
    {"2:4 i4 tensor", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                       .quant = {.encoding = SPARQ_ENCODING_I4}}},
};

typedef struct gpu_shape {
    size_t rows, cols;
} gpu_shape;

/* Ragged: rows not whole 16-row blocks or 8-row slabs, columns not whole 16-column blocks,
 * scale groups, meta bytes (8 columns) or 2:4 groups (70 % 4 = 2), and a second tile of
 * spmm_nm_stream24 (KT 256 to 1024) partly filled. */
static const gpu_shape shapes[] = {{37, 70}, {21, 1100}};
static const gpu_shape small_shapes[] = {{19, 38}};

static const char *stream_kernel(const sparq_pack_options *f)
{
    return f->structure == SPARQ_STRUCTURE_BSR ? "spmm_bsr_stream" : "spmm_nm_stream24";
}

/* A pruned matrix in format f (blocks, or 2:4), uploaded; *dense gets the weights it
 * holds (dequantized). */
static sparq_matrix *make_matrix(sparq_context *ctx, const gpu_format *f, const gpu_shape *s,
                                 uint64_t seed, float **dense)
{
    float *w = malloc(s->rows * s->cols * sizeof *w);
    assert_non_null(w);
    testing_fill_uniform(w, s->rows * s->cols, seed, -1, 1);
    if (f->pack.structure == SPARQ_STRUCTURE_BSR)
        assert_int_equal(sparq_prune_blocks(w, s->rows, s->cols, f->pack.block_rows,
                                            f->pack.block_cols, SPARQ_BLOCK_NORM_L1, 0.5, NULL,
                                            NULL, 1),
                         SPARQ_OK);
    else
        assert_int_equal(sparq_prune_nm(w, s->rows, s->cols, 2, 4, NULL, NULL, 1), SPARQ_OK);
    sparq_matrix_options mo = {.path = SPARQ_PATH_SPARSE};
    sparq_matrix *m = testing_matrix(ctx, &f->pack, s->rows, s->cols, w, &mo, f->label, w, NULL);
    *dense = w;
    return m;
}

/* One run of kernel k with params (NULL: its defaults here) on X normal with mean 5 and
 * sd 1, a bias on odd batches, against the double reference at TOL_MEAN5. Returns 1 when
 * it ran, 0 when k's rank refused; out (if not NULL) gets Y. */
static int check_mean5(sparq_context *ctx, sparq_matrix *m, const float *w,
                       const sparq_kernel_info *k, const sparq_kernel_params *params,
                       size_t batch, const char *label, float *out)
{
    testing_linear_run run = {.kernel = k, .params = params, .skip_refused = true,
                              .batch = batch, .seed = 5, .tol = TOL_MEAN5, .x_mean = 5.0f,
                              .label = label};
    return testing_check_linear(ctx, m, w, &run, out);
}

/* k's GPU defaults (the parameters a GPU plans with). */
static sparq_kernel_params gpu_defaults(sparq_context *ctx, const sparq_kernel_info *k)
{
    sparq_device_caps gpu = ctx->caps;
    gpu.type = SPARQ_DEVICE_TYPE_GPU;
    sparq_kernel_params p;
    sparq_kernel_type_defaults(k, &gpu, &p);
    return p;
}

/* The stream kernels on every format and ragged shape: uniform X at batch 1 and 3 (with
 * activations) at their defaults here, X with mean 5 at their defaults and their GPU
 * defaults at batch 1, 3 and 5 (where this device's work-group limit allows them). */
static void stream_kernels_every_encoding(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const gpu_shape *shape_list = testing_small_mode() ? small_shapes : shapes;
    size_t shape_count = testing_small_mode() ? 1 : sizeof shapes / sizeof shapes[0];
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        const sparq_kernel_info *k = sparq_kernel_find(stream_kernel(&formats[f].pack));
        assert_non_null(k);
        size_t runs = 0;
        sparq_context_stats before;
        sparq_context_get_stats(ctx, &before);
        for (size_t s = 0; s < shape_count; s++) {
            float *w = NULL;
            sparq_matrix *m = make_matrix(ctx, &formats[f], &shape_list[s], 40 + s, &w);
            char label[128];
            snprintf(label, sizeof label, "%s %zux%zu", formats[f].label, shape_list[s].rows,
                     shape_list[s].cols);
            for (size_t b = 1; b <= 3; b += 2) {
                testing_linear_run run = {.kernel = k, .skip_refused = true, .batch = b,
                                          .activation = (int)b - 1, .seed = 9, .tol = TOL,
                                          .label = label};
                runs += (size_t)testing_check_linear(ctx, m, w, &run, NULL);
            }
            runs += (size_t)check_mean5(ctx, m, w, k, NULL, 1, label, NULL);
            sparq_kernel_params gpu = gpu_defaults(ctx, k);
            runs += (size_t)check_mean5(ctx, m, w, k, &gpu, 1, label, NULL);
            /* passes of the GPU's batch tile: 3 rows in one (spmm_nm_stream24: tiles
             * of a quarter), 5 in a whole one and one of a single row */
            runs += (size_t)check_mean5(ctx, m, w, k, &gpu, 3, label, NULL);
            runs += (size_t)check_mean5(ctx, m, w, k, &gpu, 5, label, NULL);
            sparq_matrix_free(m);
            free(w);
        }
        testing_expect_launches(ctx, &before, runs, formats[f].label);
    }
    sparq_context_free(ctx);
}

/* Every kernel of the two structures with X of mean 5 at 1e-6 (the BSR ones read the
 * per-group scale layout the stream kernel asked for), and repeatable bits. */
static void every_kernel_mean5(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const gpu_shape shape = testing_small_mode() ? small_shapes[0] : shapes[0];
    static const size_t picked[] = {3, 4, 11}; /* bsr i8 g32 asym, bsr i4 g32, 2:4 i4 g128 asym */
    for (size_t i = 0; i < sizeof picked / sizeof picked[0]; i++) {
        const gpu_format *f = &formats[picked[i]];
        float *w = NULL;
        sparq_matrix *m = make_matrix(ctx, f, &shape, 77, &w);
        for (size_t r = 0; r < sparq_kernel_registry_size(); r++) {
            const sparq_kernel_info *k = sparq_kernel_row(r);
            if (!sparq_kernel_runs_format(k, &m->format, false))
                continue;
            for (size_t b = 1; b <= 3; b += 2) {
                float first[3 * 37], second[3 * 37];
                if (check_mean5(ctx, m, w, k, NULL, b, f->label, first)) {
                    check_mean5(ctx, m, w, k, NULL, b, f->label, second);
                    assert_memory_equal(first, second, b * shape.rows * sizeof first[0]);
                }
            }
        }
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

/* f16 values the stream kernels widen from registers (not vload_half): subnormals
 * (2^-24 and up), signed zeros and small normals, with X of mean 1e5 so that each
 * subnormal weight moves Y by about 0.1 (a decode that flushed or misplaced them would
 * miss 1e-6 of max |Y| by far). 2:4: two of each group of four set, so pruning keeps them. */
static void f16_small_values(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    static const float small[] = {5.9604645e-8f, -1e-6f, 3.0e-5f, -0.0f, 6.1e-5f,
                                  -9.5e-5f,      2.5e-6f, 0.0f,    -4.1e-7f, 7.7e-5f};
    const size_t rows = 24, cols = 48, n = sizeof small / sizeof small[0];
    const sparq_pack_options packs[] = {
        {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16, .block_cols = 16,
         .quant = {.encoding = SPARQ_ENCODING_F16}},
        {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
         .quant = {.encoding = SPARQ_ENCODING_F16}},
    };
    for (size_t f = 0; f < sizeof packs / sizeof packs[0]; f++) {
        float *w = calloc(rows * cols, sizeof *w);
        assert_non_null(w);
        for (size_t i = 0; i < rows * cols; i++) {
            size_t in_group = i % 4, group = i / 4;
            bool kept = packs[f].structure == SPARQ_STRUCTURE_BSR ||
                        in_group == group % 4 || in_group == (group + 1) % 4;
            w[i] = kept ? small[(i * 7 + i / cols) % n] : 0.0f;
        }
        sparq_matrix_options mo = {.path = SPARQ_PATH_SPARSE};
        sparq_matrix *m = testing_matrix(ctx, &packs[f], rows, cols, w, &mo, "f16 small", w,
                                         NULL);
        const sparq_kernel_info *k = sparq_kernel_find(stream_kernel(&packs[f]));
        testing_linear_run run = {.kernel = k, .batch = 1, .seed = 3, .tol = TOL_MEAN5,
                                  .x_mean = 1e5f, .label = "f16 small values"};
        assert_int_equal(testing_check_linear(ctx, m, w, &run, NULL), 1);
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

/* The stream kernels rank best on a GPU (at batch 8 too with passes of several batch
 * rows), below the CPU kernels on a CPU (where dispatch keeps spmm_bsr_gemv and
 * spmm_nm_gemv24_slab); blocks that are not whole 16-byte chunks are refused with a
 * reason. */
static void stream_ranks(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const gpu_shape shape = {32, 64};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        const sparq_kernel_info *k = sparq_kernel_find(stream_kernel(&formats[f].pack));
        float *w = NULL;
        sparq_matrix *m = make_matrix(ctx, &formats[f], &shape, 5, &w);
        /* the limits of a device of each type (this one may be small: the wg32 runs) */
        sparq_device_caps cpu = ctx->caps, gpu = ctx->caps;
        cpu.type = SPARQ_DEVICE_TYPE_CPU;
        gpu.type = SPARQ_DEVICE_TYPE_GPU;
        cpu.max_work_group_size = gpu.max_work_group_size = 1024;
        cpu.local_mem_bytes = gpu.local_mem_bytes = 48 * 1024;
        sparq_kernel_params pc, pg = gpu_defaults(ctx, k);
        sparq_kernel_type_defaults(k, &cpu, &pc);
        char why[256];
        assert_int_equal(sparq_kernel_rank(k, m, 1, &gpu, &pg, why, sizeof why),
                         SPARQ_RANK_BEST);
        assert_int_equal(sparq_kernel_rank(k, m, 1, &cpu, &pc, why, sizeof why),
                         SPARQ_RANK_OFF_REGIME);
        /* batch 8: the GPU defaults read the weights once per 4 batch rows; passes of one
         * row leave batches to the batch kernels */
        assert_int_equal(sparq_kernel_rank(k, m, 8, &gpu, &pg, why, sizeof why),
                         SPARQ_RANK_BEST);
        assert_int_equal(sparq_kernel_rank(k, m, 8, &gpu, &pc, why, sizeof why),
                         SPARQ_RANK_OFF_REGIME);
        sparq_matrix_free(m);
        free(w);
    }
    /* 4x4 i4 blocks are 8 bytes, half a chunk */
    gpu_format i4 = {"bsr4x4 i4 row",
                     {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 4, .block_cols = 4,
                      .quant = {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_ROW}}};
    float *w = NULL;
    sparq_matrix *m = make_matrix(ctx, &i4, &shape, 6, &w);
    const sparq_kernel_info *k = sparq_kernel_find("spmm_bsr_stream");
    sparq_kernel_params p;
    sparq_kernel_default_params(k, &ctx->caps, &p);
    char why[256];
    assert_int_equal(sparq_kernel_rank(k, m, 1, &ctx->caps, &p, why, sizeof why),
                     SPARQ_RANK_REFUSED);
    assert_non_null(strstr(why, "not whole chunks"));
    sparq_matrix_free(m);
    free(w);
    sparq_context_free(ctx);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stream_kernels_every_encoding),
        cmocka_unit_test(every_kernel_mean5),
        cmocka_unit_test(f16_small_values),
        cmocka_unit_test(stream_ranks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
