/* SPDX-License-Identifier: Apache-2.0 */
/* test_linear_q.c - every dense quantized weight-only kernel (i8/i4 codes, f16 storage)
 * of the registry against the plain-C reference: per-tensor/row/group scales, symmetric
 * and asymmetric, odd K, K not a multiple of the group, all-zero groups, batch 1/3/17;
 * repeatable bits; other register tiles and teams; dispatch and its plan explanations. The W8A8
 * kernels and the ONNX conformance vectors are in test_linear_q_w8a8.c.
 */
#include "quant_matrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Weight-only: relative to max(1, |Y|max), f32 sums in the kernel's order (scales
 * factored out of segments) against a double reference on the dequantized weights. */
#define TOL 5e-5

static const size_t batches[] = {1, 3, 17};

#define I8 SPARQ_ENCODING_I8
#define I4 SPARQ_ENCODING_I4
static const testing_qformat formats[] = {
    {"i8 tensor", {.encoding = I8, .granularity = SPARQ_SCALE_TENSOR}},
    {"i8 row", {.encoding = I8, .granularity = SPARQ_SCALE_ROW}},
    {"i8 row asym", {.encoding = I8, .granularity = SPARQ_SCALE_ROW, .asymmetric = 1}},
    {"i8 g32 asym", {.encoding = I8, .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                     .asymmetric = 1}},
    {"i8 g128", {.encoding = I8, .granularity = SPARQ_SCALE_GROUP, .group_size = 128}},
    {"i4 tensor asym", {.encoding = I4, .granularity = SPARQ_SCALE_TENSOR, .asymmetric = 1}},
    {"i4 row", {.encoding = I4, .granularity = SPARQ_SCALE_ROW}},
    {"i4 g32", {.encoding = I4, .granularity = SPARQ_SCALE_GROUP, .group_size = 32}},
    {"i4 g128 asym", {.encoding = I4, .granularity = SPARQ_SCALE_GROUP, .group_size = 128,
                      .asymmetric = 1}},
    {"f16 storage", {.encoding = SPARQ_ENCODING_F16}},
};

/* Weight-only kernel k (or dispatch) with params (NULL: its defaults) against the
 * reference; out (if not NULL) gets Y. */
static void check_weight_only(sparq_context *ctx, sparq_matrix *m, const float *w,
                              const sparq_kernel_info *k, const sparq_kernel_params *params,
                              size_t batch, int act, const char *label, float *out)
{
    testing_linear_run run = {.kernel = k, .params = params, .batch = batch, .activation = act,
                              .seed = 21, .tol = TOL, .label = label};
    testing_check_linear(ctx, m, w, &run, out);
}

static void weight_only_every_kernel(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    size_t shape_count;
    const testing_shape *sh = testing_q_shapes(&shape_count);
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        sparq_context_stats before;
        sparq_context_get_stats(ctx, &before);
        size_t runs = 0;
        for (size_t s = 0; s < shape_count; s++) {
            float *w = NULL;
            sparq_matrix *m = testing_q_matrix(ctx, &formats[f].quant, &sh[s], 40 + s, 0, &w, NULL);
            char label[128];
            snprintf(label, sizeof label, "%s %zux%zu", formats[f].label, sh[s].rows,
                     sh[s].cols);
            for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
                const sparq_kernel_info *k = sparq_kernel_row(i);
                if (!sparq_kernel_runs_format(k, &m->format, false))
                    continue;
                for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++, runs++)
                    check_weight_only(ctx, m, w, k, NULL, batches[b], (int)((s + b) % 3), label,
                                      NULL);
            }
            check_weight_only(ctx, m, w, NULL, NULL, 2, 0, label, NULL); /* dispatch */
            runs++;
            sparq_matrix_free(m);
            free(w);
        }
        testing_expect_launches(ctx, &before, runs, formats[f].label);
    }
    sparq_context_free(ctx);
}

static void weight_only_same_bits(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const testing_shape sh = {24, 300};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        float *w = NULL;
        sparq_matrix *m = testing_q_matrix(ctx, &formats[f].quant, &sh, 9, 0, &w, NULL);
        for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
            const sparq_kernel_info *k = sparq_kernel_row(i);
            if (!sparq_kernel_runs_format(k, &m->format, false))
                continue;
            float first[5 * 24], second[5 * 24];
            check_weight_only(ctx, m, w, k, NULL, 5, 0, formats[f].label, first);
            check_weight_only(ctx, m, w, k, NULL, 5, 0, formats[f].label, second);
            assert_memory_equal(first, second, sizeof first);
        }
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

/* Register tiles other than the defaults, on row and batch counts they don't divide:
 * linear_dense_q_tiled with tiles of 3 rows x 6 batch rows, two of them along the batch
 * a work-item (and 4 x 1, one), for every format. */
static void tiled_other_tiles(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_q_tiled");
    const char *const names[] = {"QTILE_R", "QTILE_TB", "QTILE_NT"};
    const testing_shape sh = {17, 257};
    /* R x TB float8 accumulators: 3 x 6 is more than a GPU keeps in registers (its row's
     * SPARQ_RULE_PRIVATE), 3 x 4 is not; both run wherever the device's rules take them */
    const unsigned tiles[][3] = {{3, 6, 2}, {3, 4, 2}, {4, 1, 1}};
    sparq_device_caps gpu = *sparq_context_caps(ctx), cpu = gpu;
    gpu.type = SPARQ_DEVICE_TYPE_GPU;
    cpu.type = SPARQ_DEVICE_TYPE_CPU;
    char why[256];
    sparq_kernel_params big = testing_tile_params(ctx, "linear_dense_q_tiled", names, tiles[0], 3);
    assert_false(sparq_kernel_params_fit(k, &big, &gpu, why, sizeof why));
    assert_non_null(strstr(why, "QTILE_R x QTILE_TB keeps 144 values"));
    assert_true(sparq_kernel_params_fit(k, &big, &cpu, why, sizeof why));
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        float *w = NULL;
        sparq_matrix *m = testing_q_matrix(ctx, &formats[f].quant, &sh, 60 + f, 0, &w, NULL);
        for (size_t t = 0; t < sizeof tiles / sizeof tiles[0]; t++) {
            sparq_kernel_params p =
                testing_tile_params(ctx, "linear_dense_q_tiled", names, tiles[t], 3);
            if (!sparq_kernel_params_fit(k, &p, sparq_context_caps(ctx), why, sizeof why))
                continue; /* 3 x 6 on a GPU device (oclgrind's), refused above */
            check_weight_only(ctx, m, w, k, &p, 17, 1, formats[f].label, NULL);
        }
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

/* linear_dense_q_coop with other teams than its CPU defaults, on rows its groups don't
 * divide and columns past several x tiles with a ragged tail (2500: 39 whole i4 blocks,
 * rows not a multiple of 16 bytes): its GPU defaults (256 lanes, teams of 32, 2 rows a
 * team, 2048 floats of x a tile, 4 batch rows a pass), and groups of 32 (tiles of 256
 * floats) in teams of 8 with 4 rows and passes of 2; batches 1, 3 (a pass of 4 slices, one a copy) and 6 (a
 * short last pass); X with mean 5 (post-GELU inputs) within 1e-6 of a double reference,
 * the same bits twice. */
static void coop_other_teams(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_q_coop");
    assert_non_null(k);
    /* after QCOOP_WG, set below */
    const char *const names[] = {"QCOOP_LANES", "QCOOP_R", "QCOOP_TB"};
    const unsigned teams[][4] = {{256, 32, 2, 4}, {32, 8, 4, 2}};
    static const size_t coop_batches[] = {1, 3, 6};
    const testing_shape sh = {37, 2500};
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        float *w = NULL;
        sparq_matrix *m = testing_q_matrix(ctx, &formats[f].quant, &sh, 70 + f, 0, &w, NULL);
        for (size_t t = 0; t < sizeof teams / sizeof teams[0]; t++) {
            sparq_kernel_params p =
                testing_tile_params(ctx, "linear_dense_q_coop", names, teams[t] + 1, 3);
            p.value[0] = teams[t][0];
            char why[256];
            if (!sparq_kernel_params_fit(k, &p, sparq_context_caps(ctx), why, sizeof why))
                continue; /* 256 lanes on a device of smaller work-groups */
            for (size_t b = 0; b < sizeof coop_batches / sizeof coop_batches[0]; b++) {
                float first[6 * 37], second[6 * 37];
                testing_linear_run run = {.kernel = k, .params = &p, .batch = coop_batches[b],
                                          .activation = (int)b, .seed = 31, .tol = 1e-6,
                                          .x_mean = 5.0f, .label = formats[f].label};
                testing_check_linear(ctx, m, w, &run, first);
                testing_check_linear(ctx, m, w, &run, second);
                assert_memory_equal(first, second, coop_batches[b] * 37 * sizeof(float));
            }
        }
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

static void dispatch_and_explain(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const testing_shape sh = {16, 64};
    const sparq_quant_options w8a8_row = {.encoding = I8, .granularity = SPARQ_SCALE_ROW};
    float *w = NULL;
    sparq_matrix *m = testing_q_matrix(ctx, &formats[7].quant, &sh, 1, 0, &w, NULL);
    char text[2048];
    /* on GPUs (oclgrind's device) the cooperative kernel at every batch */
    bool gpu = sparq_context_caps(ctx)->type == SPARQ_DEVICE_TYPE_GPU;
    assert_int_equal(sparq_plan_explain(m, 1, text, sizeof text), SPARQ_OK);
    assert_non_null(strstr(text, gpu ? "linear_dense_q_coop" : "linear_dense_q_gemv"));
    assert_int_equal(sparq_plan_explain(m, 9, text, sizeof text), SPARQ_OK);
    assert_non_null(strstr(text, gpu ? "linear_dense_q_coop" : "linear_dense_q_tiled"));
    sparq_matrix_free(m);
    free(w);
    m = testing_q_matrix(ctx, &w8a8_row, &sh, 1, 1, &w, NULL);
    assert_int_equal(sparq_plan_explain(m, 4, text, sizeof text), SPARQ_OK);
    assert_non_null(strstr(text, "linear_dense_w8a8"));
    sparq_matrix_free(m);
    free(w);
    sparq_context_free(ctx);
}

int main(void)
{
    /* SPARQ_TEST_FILTER=pattern runs only the matching tests (cmocka's filter) */
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(weight_only_every_kernel),
        cmocka_unit_test(weight_only_same_bits),
        cmocka_unit_test(tiled_other_tiles),
        cmocka_unit_test(coop_other_teams),
        cmocka_unit_test(dispatch_and_explain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
