/* SPDX-License-Identifier: Apache-2.0 */
/* test_registry_rows.c - every row of the kernel registry runs. Each kernel sparq_linear
 * may choose runs by itself on a case its rank accepts, checked against the C
 * reference; each helper kernel through the call that launches it. The test fails when
 * a row accepts none of its cases or never launched: a row made unreachable.
 */
#include "kernel_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROWS = 64, COLS = 128 };

typedef struct row_format {
    const char *label;
    sparq_pack_options pack;
    int w8a8;
} row_format;

/* One format per family of kernels; with batches 1 and 8 every row has a case it is
 * shaped for (batch 1 kernels, batch-tiled ones). */
static const row_format formats[] = {
    {"dense i8-row", {.structure = SPARQ_STRUCTURE_DENSE,
                      .quant = {.encoding = SPARQ_ENCODING_I8,
                                .granularity = SPARQ_SCALE_ROW}}, 0},
    {"dense i4-g32", {.structure = SPARQ_STRUCTURE_DENSE,
                      .quant = {.encoding = SPARQ_ENCODING_I4,
                                .granularity = SPARQ_SCALE_GROUP, .group_size = 32}}, 0},
    {"dense f16", {.structure = SPARQ_STRUCTURE_DENSE,
                   .quant = {.encoding = SPARQ_ENCODING_F16}}, 0},
    {"dense i8-row w8a8", {.structure = SPARQ_STRUCTURE_DENSE,
                           .quant = {.encoding = SPARQ_ENCODING_I8,
                                     .granularity = SPARQ_SCALE_ROW}}, 1},
    {"csr f32", {.structure = SPARQ_STRUCTURE_CSR}, 0},
    {"bsr4x4 f32", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 4, .block_cols = 4}, 0},
    {"2:4 f32", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4}, 0},
};
static const size_t batches[] = {1, 8};

/* Weights that every structure packs: uniform in [-1, 1), two of every four columns
 * zero (2:4), and every third 4x4 block zero (so BSR and CSR skip some). */
static void make_weights_sized(float *w, size_t rows, size_t cols)
{
    testing_fill_uniform(w, rows * cols, 41, -1.0f, 1.0f);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++)
            if (c % 4 == 1 || c % 4 == 3 || ((r / 4) * 7 + c / 4) % 3 == 0)
                w[r * cols + c] = 0.0f;
}

static void make_weights(float *w)
{
    make_weights_sized(w, ROWS, COLS);
}

/* Runs every dispatched kernel of the registry on each format it runs; returns the
 * checked runs of row i in runs[i]. */
static void run_dispatched(sparq_context *ctx, const float *w, size_t *runs)
{
    float unpacked[ROWS * COLS];
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        sparq_matrix_options mo = {.path = SPARQ_PATH_SPARSE,
                                   .quantize_activations = formats[f].w8a8};
        sparq_matrix *m = testing_matrix(ctx, &formats[f].pack, ROWS, COLS, w, &mo,
                                         formats[f].label, unpacked, NULL);
        for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
            const sparq_kernel_info *k = sparq_kernel_row(i);
            if (!sparq_kernel_runs_format(k, &m->format, formats[f].w8a8 != 0))
                continue;
            for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
                char label[128];
                snprintf(label, sizeof label, "%s on %s at batch %zu", k->name,
                         formats[f].label, batches[b]);
                testing_linear_run run = {.kernel = k, .skip_refused = true,
                                          .batch = batches[b], .activation = (int)b,
                                          .seed = 7 + i, .tol = formats[f].w8a8 ? 2e-2 : 1e-4,
                                          .label = label};
                runs[i] += (size_t)testing_check_linear(ctx, m, unpacked, &run, NULL);
            }
        }
        sparq_matrix_free(m);
    }
}

/* Every dispatched kernel keeps the precision of a double reference, within 1e-6 of
 * max|y|, when X has mean 5 and sd 1 (as after a GELU) over long rows: a kernel that
 * sums large terms which cancel, e.g. (q + 8) x for i4 codes q and then 8 sum(x), loses
 * about 1e-5 there. W8A8 is left out: its sums are exact integers, and its error is the
 * rounding of X to 8 bits (test_linear_q_w8a8 checks it bit for bit). */
static void every_row_keeps_precision(void **state)
{
    (void)state;
    enum { P_ROWS = 16, P_COLS = 2048 };
    setenv("SPARQ_TUNE", "off", 1);
    sparq_context *ctx = testing_context(NULL);
    float *w = malloc(sizeof(float) * P_ROWS * P_COLS);
    float *unpacked = malloc(sizeof(float) * P_ROWS * P_COLS);
    assert_non_null(w), assert_non_null(unpacked);
    make_weights_sized(w, P_ROWS, P_COLS);
    size_t runs = 0;
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        if (formats[f].w8a8)
            continue;
        sparq_matrix_options mo = {.path = SPARQ_PATH_SPARSE};
        sparq_matrix *m = testing_matrix(ctx, &formats[f].pack, P_ROWS, P_COLS, w, &mo,
                                         formats[f].label, unpacked, NULL);
        for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
            const sparq_kernel_info *k = sparq_kernel_row(i);
            if (!k->rank || !sparq_kernel_runs_format(k, &m->format, false))
                continue;
            for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
                char label[128];
                snprintf(label, sizeof label, "%s on %s, X mean 5", k->name, formats[f].label);
                testing_linear_run run = {.kernel = k, .skip_refused = true,
                                          .batch = batches[b], .seed = 90 + i, .tol = 1e-6,
                                          .x_mean = 5.0f, .label = label};
                runs += (size_t)testing_check_linear(ctx, m, unpacked, &run, NULL);
            }
        }
        sparq_matrix_free(m);
    }
    assert_true(runs > 0);
    free(w), free(unpacked);
    sparq_context_free(ctx);
}

/* The helper kernels, through the calls that launch them: the dense path with an
 * activation (linear_dense_rowdot, activate_dense_inplace, and at batch 8
 * linear_dense_q_tiled built for f32), CLBlast's GEMV with a bias (fill_dense_bias)
 * and the bandwidth roof (stream_dense_read, stream_dense_copy). W8A8's activation
 * quantizer ran with the W8A8 rows. False when the library has no CLBlast. */
static bool run_helpers(sparq_context *ctx, const float *w)
{
    const sparq_pack_options dense = {.structure = SPARQ_STRUCTURE_DENSE};
    sparq_matrix *m = testing_matrix(ctx, &dense, ROWS, COLS, w, NULL, "dense f32", NULL, NULL);
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        testing_linear_run run = {.batch = batches[b], .activation = SPARQ_ACTIVATION_RELU,
                                  .seed = 3, .tol = 1e-4, .label = "dense f32 path"};
        testing_check_linear(ctx, m, w, &run, NULL);
    }
    sparq_matrix_free(m);

    cl_command_queue q = sparq_context_queue(ctx);
    float x[COLS], y[ROWS], bias[ROWS];
    testing_fill_uniform(x, COLS, 5, -1.0f, 1.0f);
    testing_fill_uniform(bias, ROWS, 6, -0.5f, 0.5f);
    cl_mem xb = testing_buffer(ctx, x, COLS), wb = testing_buffer(ctx, w, (size_t)ROWS * COLS);
    cl_mem bb = testing_buffer(ctx, bias, ROWS), yb = testing_buffer(ctx, y, ROWS);
    sparq_status st = sparq_linear_dense(ctx, q, SPARQ_DENSE_BACKEND_CLBLAST, 1, ROWS, COLS, xb,
                                         0, wb, 0, bb, 0, yb, 0, 0, NULL, NULL);
    assert_true(st == SPARQ_OK || st == SPARQ_ERROR_UNSUPPORTED); /* built without CLBlast */
    clFinish(q);
    clReleaseMemObject(xb), clReleaseMemObject(wb), clReleaseMemObject(bb);
    clReleaseMemObject(yb);

    sparq_bandwidth bw;
    assert_int_equal(sparq_bandwidth_measure(ctx, q, 1 << 20, 1, &bw), SPARQ_OK);
    return st == SPARQ_OK;
}

static void every_row_runs(void **state)
{
    (void)state;
    setenv("SPARQ_TUNE", "off", 1); /* defaults: the rows as the registry declares them */
    sparq_context *ctx = testing_context(NULL);
    float *w = malloc(sizeof(float) * ROWS * COLS);
    assert_non_null(w);
    make_weights(w);
    /* a context counts the launches of SPARQ_MAX_KERNELS rows */
    assert_true(sparq_kernel_registry_size() <= SPARQ_MAX_KERNELS);
    size_t runs[SPARQ_MAX_KERNELS] = {0};
    run_dispatched(ctx, w, runs);
    bool clblast = run_helpers(ctx, w);
    free(w);

    char missing[1024] = "";
    for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
        const sparq_kernel_info *k = sparq_kernel_row(i);
        uint64_t launches = sparq_context_kernel_launches(ctx, k->name);
        bool dispatched = k->rank && k->enqueue;
        if (launches > 0 && (!dispatched || runs[i] > 0))
            continue;
        if (!clblast && strcmp(k->name, "fill_dense_bias") == 0)
            continue; /* only CLBlast's path fills a bias first */
        size_t used = strlen(missing);
        snprintf(missing + used, sizeof missing - used, "%s%s (%s)", used ? "; " : "",
                 k->name, dispatched && runs[i] == 0 ? "its rank refused every case"
                                                     : "never launched");
    }
    if (missing[0])
        fail_msg("registry rows that did not run: %s", missing);
    sparq_context_free(ctx);
}

/* Every row's built-in defaults fit a small device: a work-group limit of 32 (a warp)
 * and 8 KB of local memory, as a CPU and as a GPU; where the type defaults don't, the
 * nearest setting of the row's candidates does (sparq_kernel_default_params). */
static void every_row_fits_small_devices(void **state)
{
    (void)state;
    static const size_t limits[] = {32};
    static const sparq_device_type types[] = {SPARQ_DEVICE_TYPE_CPU, SPARQ_DEVICE_TYPE_GPU};
    for (size_t l = 0; l < sizeof limits / sizeof limits[0]; l++)
        for (size_t t = 0; t < 2; t++) {
            sparq_device_caps caps;
            memset(&caps, 0, sizeof caps);
            caps.type = types[t];
            caps.max_work_group_size = limits[l];
            caps.local_mem_bytes = 8192;
            for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
                const sparq_kernel_info *k = sparq_kernel_row(i);
                sparq_kernel_params p;
                char why[256];
                sparq_kernel_default_params(k, &caps, &p);
                if (!sparq_kernel_params_fit(k, &p, &caps, why, sizeof why))
                    fail_msg("%s on a %s with work-groups of %zu: %s", k->name,
                             t ? "GPU" : "CPU", limits[l], why);
                if (sparq_kernel_work_group(k, &p) > limits[l])
                    fail_msg("%s: work-group %u", k->name, sparq_kernel_work_group(k, &p));
            }
        }
}

/* The work-group of m's plan at this batch; *k its kernel. */
static unsigned plan_work_group(sparq_matrix *m, size_t batch, const sparq_kernel_info **k)
{
    sparq_plan_info info;
    assert_int_equal(sparq_plan_info_get(m, batch, &info), SPARQ_OK);
    *k = sparq_kernel_find(info.kernel);
    assert_non_null(*k);
    sparq_kernel_params p;
    memset(&p, 0, sizeof p);
    for (size_t i = 0; i < info.param_count; i++)
        p.value[i] = info.param_values[i];
    return sparq_kernel_work_group(*k, &p);
}

/* A build that allows fewer work-items a group than its plan launches (a GPU lowers
 * CL_KERNEL_WORK_GROUP_SIZE under register pressure; noted here as if the build had
 * reported it) is refused before launching, and sparq_linear plans again under the
 * limit and runs: the product is right. The same for sparq_linear_dense's own kernel. */
static void kernel_limit_replans(void **state)
{
    (void)state;
    setenv("SPARQ_TUNE", "off", 1);
    sparq_context *ctx = testing_context(NULL);
    float *w = malloc(sizeof(float) * ROWS * COLS), unpacked[ROWS * COLS];
    assert_non_null(w);
    make_weights(w);
    const sparq_pack_options csr = {.structure = SPARQ_STRUCTURE_CSR};
    sparq_matrix *m = testing_matrix(ctx, &csr, ROWS, COLS, w, NULL, "csr", unpacked, NULL);
    testing_linear_run run = {.batch = 1, .seed = 9, .tol = 1e-4, .label = "csr"};
    testing_check_linear(ctx, m, unpacked, &run, NULL);
    const sparq_kernel_info *k = NULL;
    unsigned limit = plan_work_group(m, 1, &k) / 2;
    assert_true(limit >= 16);
    sparq_kernel_limit_note(ctx, sparq_kernel_index(k->name), limit);
    testing_check_linear(ctx, m, unpacked, &run, NULL);
    unsigned after = plan_work_group(m, 1, &k);
    if (after > limit)
        fail_msg("after the limit %u: %s with work-groups of %u", limit, k->name, after);
    sparq_matrix_free(m);

    const sparq_pack_options dense = {.structure = SPARQ_STRUCTURE_DENSE};
    m = testing_matrix(ctx, &dense, ROWS, COLS, w, NULL, "dense f32", NULL, NULL);
    sparq_kernel_limit_note(ctx, sparq_kernel_index("linear_dense_rowdot"), 32);
    testing_linear_run dense_run = {.batch = 1, .seed = 10, .tol = 1e-4, .label = "dense"};
    testing_check_linear(ctx, m, w, &dense_run, NULL);
    sparq_matrix_free(m);
    free(w);
    sparq_context_free(ctx);
}

/* sparq_matrix_prepare builds and loads every kernel the given batches use: the calls
 * after it (with and without bias and activation) build and load nothing, for a sparse
 * matrix, a W8A8 one and the dense path; bad batches are refused. */
static void prepare_builds_everything(void **state)
{
    (void)state;
    setenv("SPARQ_TUNE", "off", 1);
    sparq_context *ctx = testing_context(NULL);
    float *w = malloc(sizeof(float) * ROWS * COLS), unpacked[ROWS * COLS];
    assert_non_null(w);
    make_weights(w);
    static const size_t prepared[] = {1, 8};
    const size_t which[] = {4, 3}; /* csr f32, dense i8-row w8a8 */
    for (size_t f = 0; f < 3; f++) {
        sparq_matrix_options mo = {.quantize_activations = f == 1};
        sparq_pack_options dense = {.structure = SPARQ_STRUCTURE_DENSE};
        const sparq_pack_options *pack = f < 2 ? &formats[which[f]].pack : &dense;
        sparq_matrix *m = testing_matrix(ctx, pack, ROWS, COLS, w, &mo, "prepared", unpacked,
                                         NULL);
        assert_int_equal(sparq_matrix_prepare(m, NULL, prepared, 2), SPARQ_OK);
        sparq_context_stats before, after;
        sparq_context_get_stats(ctx, &before);
        for (size_t b = 0; b < 2; b++)
            for (int act = 0; act < 2; act++) {
                testing_linear_run run = {.batch = prepared[b], .activation = act,
                                          .seed = 20 + b, .tol = f == 1 ? 2e-2 : 1e-4,
                                          .label = "after prepare"};
                testing_check_linear(ctx, m, unpacked, &run, NULL);
            }
        sparq_context_get_stats(ctx, &after);
        if (after.programs_built != before.programs_built ||
            after.program_disk_hits != before.program_disk_hits)
            fail_msg("format %zu: %llu programs built and %llu loaded after prepare", f,
                     (unsigned long long)(after.programs_built - before.programs_built),
                     (unsigned long long)(after.program_disk_hits - before.program_disk_hits));
        const size_t zero = 0;
        assert_int_equal(sparq_matrix_prepare(m, NULL, &zero, 1), SPARQ_ERROR_INVALID_ARGUMENT);
        assert_int_equal(sparq_matrix_prepare(m, NULL, NULL, 1), SPARQ_ERROR_INVALID_ARGUMENT);
        sparq_matrix_free(m);
    }
    assert_int_equal(sparq_matrix_prepare(NULL, NULL, prepared, 2),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    free(w);
    sparq_context_free(ctx);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {cmocka_unit_test(every_row_fits_small_devices),
                                       cmocka_unit_test(kernel_limit_replans),
                                       cmocka_unit_test(prepare_builds_everything),
                                       cmocka_unit_test(every_row_runs),
                                       cmocka_unit_test(every_row_keeps_precision)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
