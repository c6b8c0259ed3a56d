/* SPDX-License-Identifier: Apache-2.0 */
/* test_demo_model.c - the model of `sparq demo` (tools/demo/digits_mlp.safetensors):
 * a C reference forward pass and sparq's dense f32 path on the device both give exactly
 * the training script's predictions and accuracy; int8 per-row weights keep the accuracy
 * within one point; the calibration inputs calib.x are there, and SparseGPT at 90 %
 * (calibrated on them, on the host) loses less than half of what magnitude pruning loses.
 */
#include "testing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_PATH SPARQ_SOURCE_DIR "/tools/demo/digits_mlp.safetensors"
#define LAYERS 3

typedef struct demo_mlp {
    sparq_safetensors *file;
    size_t rows[LAYERS], cols[LAYERS];
    float *w[LAYERS], *bias[LAYERS];
    float *x;        /* n x cols[0]                                             */
    int *y, *pred;   /* labels and the training script's predictions            */
    size_t n;
    size_t correct;  /* the script's count of right answers (metadata)          */
} demo_mlp;

static float *read_tensor(sparq_safetensors *file, const char *name, size_t *count,
                          sparq_safetensors_tensor_info *info)
{
    assert_int_equal(sparq_safetensors_find(file, name, info), SPARQ_OK);
    float *out = malloc(info->count * sizeof *out);
    assert_non_null(out);
    assert_int_equal(sparq_safetensors_to_f32(info, out, info->count), SPARQ_OK);
    if (count)
        *count = info->count;
    return out;
}

static int *read_labels(sparq_safetensors *file, const char *name, size_t n)
{
    sparq_safetensors_tensor_info info;
    size_t count = 0;
    float *f = read_tensor(file, name, &count, &info);
    assert_int_equal(info.dtype, SPARQ_DTYPE_I64);
    assert_int_equal(count, n);
    int *out = malloc(n * sizeof *out);
    assert_non_null(out);
    for (size_t i = 0; i < n; i++)
        out[i] = (int)f[i];
    free(f);
    return out;
}

static void mlp_load(demo_mlp *m)
{
    memset(m, 0, sizeof *m);
    assert_int_equal(sparq_safetensors_open(MODEL_PATH, &m->file), SPARQ_OK);
    sparq_safetensors_tensor_info info;
    for (int i = 0; i < LAYERS; i++) {
        char name[32];
        snprintf(name, sizeof name, "fc%d.weight", i + 1);
        m->w[i] = read_tensor(m->file, name, NULL, &info);
        assert_int_equal(info.ndim, 2);
        m->rows[i] = info.shape[0], m->cols[i] = info.shape[1];
        if (i > 0)
            assert_int_equal(m->cols[i], m->rows[i - 1]);
        snprintf(name, sizeof name, "fc%d.bias", i + 1);
        size_t count = 0;
        m->bias[i] = read_tensor(m->file, name, &count, &info);
        assert_int_equal(count, m->rows[i]);
    }
    assert_int_equal(sparq_safetensors_find(m->file, "fc4.weight", &info),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    m->x = read_tensor(m->file, "test.x", NULL, &info);
    assert_int_equal(info.ndim, 2);
    assert_int_equal(info.shape[1], m->cols[0]);
    m->n = info.shape[0];
    assert_true(m->n >= 400);
    m->y = read_labels(m->file, "test.y", m->n);
    m->pred = read_labels(m->file, "test.pred", m->n);
    const char *correct = sparq_safetensors_metadata(m->file, "test_correct");
    const char *count = sparq_safetensors_metadata(m->file, "test_count");
    assert_non_null(correct);
    assert_non_null(count);
    assert_int_equal(strtoul(count, NULL, 10), m->n);
    m->correct = strtoul(correct, NULL, 10);
}

static void mlp_free(demo_mlp *m)
{
    for (int i = 0; i < LAYERS; i++)
        free(m->w[i]), free(m->bias[i]);
    free(m->x), free(m->y), free(m->pred);
    sparq_safetensors_close(m->file);
}

static size_t argmax(const float *row, size_t count)
{
    size_t best = 0;
    for (size_t c = 1; c < count; c++)
        best = row[c] > row[best] ? c : best;
    return best;
}

static size_t count_equal(const int *a, const int *b, size_t n)
{
    size_t same = 0;
    for (size_t i = 0; i < n; i++)
        same += a[i] == b[i];
    return same;
}

/* The C reference, as the training script computes: the float32 weights w (the model's
 * own, or as converted) and inputs, everything else in double, ReLU between layers,
 * argmax of the logits. */
static void reference_predict_with(const demo_mlp *m, float *const *w, int *pred)
{
    size_t widest = m->cols[0];
    for (int i = 0; i < LAYERS; i++)
        widest = m->rows[i] > widest ? m->rows[i] : widest;
    double *a = malloc(widest * sizeof *a), *b = malloc(widest * sizeof *b);
    float *logits = malloc(m->rows[LAYERS - 1] * sizeof *logits);
    assert_true(a && b && logits);
    for (size_t s = 0; s < m->n; s++) {
        for (size_t k = 0; k < m->cols[0]; k++)
            a[k] = m->x[s * m->cols[0] + k];
        for (int i = 0; i < LAYERS; i++) {
            for (size_t r = 0; r < m->rows[i]; r++) {
                double acc = 0.0;
                for (size_t k = 0; k < m->cols[i]; k++)
                    acc += (double)w[i][r * m->cols[i] + k] * a[k];
                acc += m->bias[i][r];
                b[r] = i + 1 < LAYERS && acc < 0 ? 0.0 : acc;
            }
            double *t = a;
            a = b, b = t;
        }
        for (size_t c = 0; c < m->rows[LAYERS - 1]; c++)
            logits[c] = (float)a[c]; /* the top-1 margins are far above float rounding */
        pred[s] = (int)argmax(logits, m->rows[LAYERS - 1]);
    }
    free(a), free(b), free(logits);
}

static void reference_predict(const demo_mlp *m, int *pred)
{
    reference_predict_with(m, m->w, pred);
}

/* The whole test split through sparq_linear (bias + ReLU fused) on matrices packed as
 * format says, on the given path; returns how many kernels ran. */
static uint64_t device_predict(sparq_context *ctx, const demo_mlp *m,
                               const sparq_pack_options *format, sparq_path path, int *pred)
{
    sparq_context_stats before, after;
    assert_int_equal(sparq_context_get_stats(ctx, &before), SPARQ_OK);
    cl_command_queue q = sparq_context_queue(ctx);
    sparq_matrix *mat[LAYERS];
    cl_mem bias[LAYERS], act[LAYERS + 1];
    act[0] = testing_buffer(ctx, m->x, m->n * m->cols[0]);
    sparq_matrix_options mopt = {.path = path};
    for (int i = 0; i < LAYERS; i++) {
        sparq_packed *packed = NULL;
        assert_int_equal(sparq_packed_create(format, m->rows[i], m->cols[i], m->w[i], &packed),
                         SPARQ_OK);
        assert_int_equal(sparq_matrix_create(ctx, packed, &mopt, &mat[i]), SPARQ_OK);
        sparq_packed_free(packed);
        bias[i] = testing_buffer(ctx, m->bias[i], m->rows[i]);
        act[i + 1] = testing_buffer(ctx, NULL, m->n * m->rows[i]);
    }
    cl_event prev = NULL;
    for (int i = 0; i < LAYERS; i++) {
        sparq_epilogue ep = {.bias = bias[i],
                             .activation = i + 1 < LAYERS ? SPARQ_ACTIVATION_RELU
                                                          : SPARQ_ACTIVATION_NONE};
        cl_event ev = NULL;
        assert_int_equal(sparq_linear(mat[i], q, act[i], 0, act[i + 1], 0, m->n, &ep,
                                      prev ? 1 : 0, prev ? &prev : NULL, &ev),
                         SPARQ_OK);
        if (prev)
            clReleaseEvent(prev);
        prev = ev;
    }
    size_t classes = m->rows[LAYERS - 1];
    float *logits = malloc(m->n * classes * sizeof *logits);
    assert_non_null(logits);
    testing_read(ctx, act[LAYERS], logits, m->n * classes, prev);
    clReleaseEvent(prev);
    for (size_t s = 0; s < m->n; s++)
        pred[s] = (int)argmax(logits + s * classes, classes);
    free(logits);
    for (int i = 0; i < LAYERS; i++) {
        sparq_matrix_free(mat[i]);
        clReleaseMemObject(bias[i]);
        clReleaseMemObject(act[i]);
    }
    clReleaseMemObject(act[LAYERS]);
    assert_int_equal(sparq_context_get_stats(ctx, &after), SPARQ_OK);
    return after.kernel_launches - before.kernel_launches;
}

static void reference_matches_script(void **state)
{
    (void)state;
    demo_mlp m;
    mlp_load(&m);
    int *pred = malloc(m.n * sizeof *pred);
    assert_non_null(pred);
    reference_predict(&m, pred);
    assert_int_equal(count_equal(pred, m.pred, m.n), m.n);
    assert_int_equal(count_equal(pred, m.y, m.n), m.correct);
    assert_true(m.correct * 100 >= m.n * 95); /* a model worth demonstrating on */
    free(pred);
    mlp_free(&m);
}

/* Loads the model into *m and runs its test split on a fresh context as format and path
 * say, asserting that kernels ran; returns the predictions (free them). */
static int *predict_on_device(const sparq_pack_options *format, sparq_path path, demo_mlp *m)
{
    sparq_context *ctx = testing_context(NULL);
    mlp_load(m);
    int *pred = malloc(m->n * sizeof *pred);
    assert_non_null(pred);
    assert_true(device_predict(ctx, m, format, path, pred) >= LAYERS);
    sparq_context_free(ctx);
    return pred;
}

static void dense_f32_on_device_matches_script(void **state)
{
    (void)state;
    demo_mlp m;
    sparq_pack_options dense = {.structure = SPARQ_STRUCTURE_DENSE};
    int *pred = predict_on_device(&dense, SPARQ_PATH_DENSE, &m);
    assert_int_equal(count_equal(pred, m.pred, m.n), m.n);
    assert_int_equal(count_equal(pred, m.y, m.n), m.correct);
    free(pred);
    mlp_free(&m);
}

static void i8_row_keeps_accuracy(void **state)
{
    (void)state;
    demo_mlp m;
    sparq_pack_options i8 = {.structure = SPARQ_STRUCTURE_DENSE,
                             .quant = {.encoding = SPARQ_ENCODING_I8,
                                       .granularity = SPARQ_SCALE_ROW}};
    /* SPARSE: the int8 kernels themselves, never the f32 dense fallback */
    int *pred = predict_on_device(&i8, SPARQ_PATH_SPARSE, &m);
    size_t correct = count_equal(pred, m.y, m.n);
    size_t diff = correct > m.correct ? correct - m.correct : m.correct - correct;
    print_message("i8-row: %zu/%zu right, the script's f32: %zu\n", correct, m.n, m.correct);
    assert_true(diff * 100 <= m.n); /* within one point */
    free(pred);
    mlp_free(&m);
}

/* calib.x: the training split's inputs, [n, 64], described in the metadata. */
static float *read_calib(const demo_mlp *m, size_t *n)
{
    sparq_safetensors_tensor_info info;
    float *x = read_tensor(m->file, "calib.x", NULL, &info);
    assert_int_equal(info.dtype, SPARQ_DTYPE_F32);
    assert_int_equal(info.ndim, 2);
    assert_int_equal(info.shape[1], 64);
    assert_int_equal(info.shape[1], m->cols[0]);
    assert_int_equal(info.shape[0], 1347); /* all of the 75 % training split */
    assert_non_null(sparq_safetensors_metadata(m->file, "calib.x"));
    *n = info.shape[0];
    return x;
}

/* Every layer converted to CSR at 90 % (no gate) by method into w[] (dense, unpacked);
 * a calibrated method gets each layer's statistics over the inputs it sees when calib.x
 * (n rows) runs through the layers already converted, as `sparq demo` does. */
static void convert_csr90(const demo_mlp *m, sparq_method method, const float *calib_x,
                          size_t n, float **w)
{
    size_t widest = m->cols[0];
    for (int i = 0; i < LAYERS; i++)
        widest = m->rows[i] > widest ? m->rows[i] : widest;
    float *act = malloc(n * widest * sizeof *act), *next = malloc(n * widest * sizeof *next);
    assert_true(act && next);
    memcpy(act, calib_x, n * m->cols[0] * sizeof *act);
    sparq_convert_options opt = {.sparsity = 0.9,
                                 .format = {.structure = SPARQ_STRUCTURE_CSR},
                                 .method = method};
    for (int i = 0; i < LAYERS; i++) {
        size_t rows = m->rows[i], cols = m->cols[i];
        sparq_calib *calib = NULL;
        if (method != SPARQ_METHOD_RTN) {
            assert_int_equal(sparq_calib_create(cols, 1, &calib), SPARQ_OK);
            assert_int_equal(sparq_calib_accumulate(calib, act, n), SPARQ_OK);
        }
        opt.calib = calib;
        sparq_packed *packed = NULL;
        sparq_convert_result res;
        assert_int_equal(sparq_layer_convert(m->w[i], rows, cols, &opt, &packed, &res),
                         SPARQ_OK);
        assert_int_equal(res.format.structure, SPARQ_STRUCTURE_CSR);
        assert_true(fabs(res.sparsity - 0.9) < 0.01);
        w[i] = malloc(rows * cols * sizeof *w[i]);
        assert_non_null(w[i]);
        assert_int_equal(sparq_packed_unpack(packed, w[i]), SPARQ_OK);
        sparq_packed_free(packed);
        sparq_calib_free(calib);
        for (size_t t = 0; calib && i + 1 < LAYERS && t < n; t++)
            for (size_t r = 0; r < rows; r++) {
                double acc = m->bias[i][r];
                for (size_t k = 0; k < cols; k++)
                    acc += (double)w[i][r * cols + k] * act[t * cols + k];
                next[t * rows + r] = (float)(acc < 0 ? 0.0 : acc);
            }
        float *tmp = act;
        act = next, next = tmp;
    }
    free(act), free(next);
}

static size_t csr90_correct(const demo_mlp *m, sparq_method method, const float *calib_x,
                            size_t n)
{
    float *w[LAYERS];
    int *pred = malloc(m->n * sizeof *pred);
    assert_non_null(pred);
    convert_csr90(m, method, calib_x, n, w);
    reference_predict_with(m, w, pred);
    size_t correct = count_equal(pred, m->y, m->n);
    for (int i = 0; i < LAYERS; i++)
        free(w[i]);
    free(pred);
    return correct;
}

/* The goal, on the host (no device): pruned 90 % one-shot, SparseGPT loses less
 * than half of what magnitude pruning loses on the held-out split. Measured when this
 * was written: magnitude 151/450 (33.6 %, as `sparq demo` shows on the device),
 * SparseGPT 384/450 (85.3 %), the f32 model 440/450. */
static void sparsegpt_90_loses_less_than_half_of_magnitude(void **state)
{
    (void)state;
    demo_mlp m;
    mlp_load(&m);
    size_t n = 0;
    float *calib_x = read_calib(&m, &n);
    size_t magnitude = csr90_correct(&m, SPARQ_METHOD_RTN, calib_x, n);
    size_t sparsegpt = csr90_correct(&m, SPARQ_METHOD_SPARSEGPT, calib_x, n);
    print_message("csr 90%%: f32 %zu/%zu, magnitude %zu, sparsegpt %zu\n", m.correct, m.n,
                  magnitude, sparsegpt);
    assert_int_equal(magnitude, 151); /* magnitude pruning has no floating-point choices */
    /* SparseGPT goes through LAPACK and BLAS, whose sums may differ by machine: a few
     * digits either way */
    assert_true(sparsegpt + 5 >= 384 && sparsegpt <= 384 + 5);
    assert_true(sparsegpt > magnitude);
    assert_true(2 * (m.correct - sparsegpt) < m.correct - magnitude);
    free(calib_x);
    mlp_free(&m);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reference_matches_script),
        cmocka_unit_test(dense_f32_on_device_matches_script),
        cmocka_unit_test(i8_row_keeps_accuracy),
        cmocka_unit_test(sparsegpt_90_loses_less_than_half_of_magnitude),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
