/* SPDX-License-Identifier: Apache-2.0 */
/* test_linear_q_w8a8.c - every W8A8 kernel of the registry (int8 weights, activations
 * quantized per row on the device, int8 or uint8 with zero points) against the integer
 * reference: exact activation codes, bit-exact outputs, exact int32 sums, other register
 * tiles, repeatable bits, event chaining; and the ONNX conformance vectors (MatMulInteger,
 * QLinearMatMul, DynamicQuantizeLinear). Weight-only kernels are in test_linear_q.c.
 */
#include "quant_matrix.h"

#include "data/onnx_vectors.h"
#include "linear_dense_q.h"
#include "ref/linear_ref.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define I8 SPARQ_ENCODING_I8

static const size_t batches[] = {1, 3, 17};

/* Parameters check_w8a8 gives kernel k instead of its defaults (NULL: the defaults). */
static const sparq_kernel_params *forced_params;

static void read_bytes(sparq_context *ctx, cl_mem buf, void *out, size_t bytes, cl_event ev)
{
    assert_int_equal(clEnqueueReadBuffer(sparq_context_queue(ctx), buf, CL_TRUE, 0, bytes, out,
                                         ev ? 1 : 0, ev ? &ev : NULL, NULL),
                     CL_SUCCESS);
}

/* The i8 weight arrays of a packed matrix. */
typedef struct i8_weights {
    const int8_t *codes;
    const float *scales;
    const int8_t *zero_points; /* NULL when symmetric */
} i8_weights;

static i8_weights weights_of(const sparq_packed *packed)
{
    sparq_packed_array values, scales, zps = {0};
    assert_int_equal(sparq_packed_find_array(packed, "values", &values), SPARQ_OK);
    assert_int_equal(sparq_packed_find_array(packed, "scales", &scales), SPARQ_OK);
    if (sparq_packed_format(packed)->quant.asymmetric)
        assert_int_equal(sparq_packed_find_array(packed, "zero_points", &zps), SPARQ_OK);
    return (i8_weights){values.data, scales.data, zps.data};
}

/* Codes (batch x cols, zero points zp per row) in the layout W8A8 kernel k reads: floats
 * q - zp (linear_dense_w8a8), or the 8-bit codes as bytes, rows padded with zeros to a
 * multiple of 4 (linear_dense_w8a8_dot). Returns the bytes written to out. */
static size_t w8a8_codes_layout(const sparq_kernel_info *k, const int *q, const int *zp,
                                size_t batch, size_t cols, void *out)
{
    if (k && strcmp(k->name, "linear_dense_w8a8_dot") == 0) {
        size_t stride = (cols + 3) / 4 * 4;
        uint8_t *bytes = out;
        memset(bytes, 0, batch * stride);
        for (size_t b = 0; b < batch; b++)
            for (size_t c = 0; c < cols; c++)
                bytes[b * stride + c] = (uint8_t)q[b * cols + c];
        return batch * stride;
    }
    float *centred = out;
    for (size_t b = 0; b < batch; b++)
        for (size_t c = 0; c < cols; c++)
            centred[b * cols + c] = (float)(q[b * cols + c] - zp[b]);
    return batch * cols * sizeof(float);
}

/* Quantizes x on the device for W8A8 kernel k (NULL: linear_dense_w8a8's layout;
 * asym_x: uint8 with zero points) and checks codes, their layout, scales and zero points
 * against the reference exactly; returns the device buffers. */
static void check_quantize(sparq_context *ctx, const sparq_kernel_info *k, size_t batch,
                           size_t cols, const float *x, bool asym_x, cl_mem *xq_out,
                           cl_mem *xp_out, int *q, float *scale, int *zp)
{
    cl_mem dx = testing_buffer(ctx, x, batch * cols);
    size_t bytes = batch * ((cols + 3) / 4 * 4) * sizeof(float); /* either layout fits */
    cl_mem xq = testing_buffer(ctx, NULL, bytes / sizeof(float));
    cl_mem xp = testing_buffer(ctx, NULL, 2 * batch);
    cl_event ev = NULL;
    if (sparq_w8a8_quantize_rows(ctx, k, sparq_context_queue(ctx), asym_x, batch, cols, dx, 0,
                                 xq, 0, xp, 0, 0, NULL, &ev) != SPARQ_OK)
        fail_msg("quantize_rows: %s", sparq_last_error());
    ref_quantize_rows(batch, cols, x, asym_x, q, scale, zp);
    uint8_t *device = malloc(bytes), *expected = malloc(bytes);
    float *params = malloc(2 * batch * sizeof *params);
    assert_non_null(device), assert_non_null(expected), assert_non_null(params);
    size_t used = w8a8_codes_layout(k, q, zp, batch, cols, expected);
    read_bytes(ctx, xq, device, used, ev);
    read_bytes(ctx, xp, params, 2 * batch * sizeof *params, NULL);
    clReleaseEvent(ev);
    for (size_t b = 0; b < batch; b++)
        if (params[2 * b] != scale[b] || params[2 * b + 1] != (float)zp[b])
            fail_msg("row %zu: device scale %.9g zp %g, reference %.9g %d", b, params[2 * b],
                     params[2 * b + 1], scale[b], zp[b]);
    bool floats = used == batch * cols * sizeof(float) && !(k && strstr(k->name, "_dot"));
    for (size_t i = 0; i < used; i++) {
        if (floats && i % 4 == 0) { /* values (-0 is 0), each a whole number */
            float d, e;
            memcpy(&d, device + i, 4), memcpy(&e, expected + i, 4);
            if (d != e || d != (float)(int)d)
                fail_msg("code %zu: device %.9g, reference %g", i / 4, d, e);
        }
        if (!floats && device[i] != expected[i])
            fail_msg("%s codes: byte %zu of %zu is %u, reference %u",
                     k ? k->name : "linear_dense_w8a8", i, used, device[i], expected[i]);
    }
    free(device), free(expected), free(params);
    clReleaseMemObject(dx);
    *xq_out = xq;
    *xp_out = xp;
}

static void fill_activations(float *x, size_t batch, size_t cols, uint64_t seed)
{
    testing_fill_uniform(x, batch * cols, seed, -2, 3);
    memset(x, 0, cols * sizeof *x); /* an all-zero row: scale 0 (or 1/255) */
    for (size_t b = 1; b < batch; b++) /* a row of one sign */
        if (b % 4 == 2)
            for (size_t k = 0; k < cols; k++)
                x[b * cols + k] = fabsf(x[b * cols + k]);
}

/* W8A8 kernel k on the device-quantized x against the integer reference: with act 0/1
 * the float epilogue is the same operations, so the bits must match. */
static void check_w8a8(sparq_context *ctx, sparq_matrix *m, const sparq_packed *packed,
                       const sparq_kernel_info *k, size_t batch, bool asym_x, int act,
                       const char *label, float *out)
{
    size_t rows = m->rows, cols = m->cols;
    float *x = malloc(batch * cols * sizeof *x), *bias = malloc(rows * sizeof *bias);
    float *y = malloc(batch * rows * sizeof *y), *ref = malloc(batch * rows * sizeof *ref);
    int *q = malloc(batch * cols * sizeof *q), *zp = malloc(batch * sizeof *zp);
    float *scale = malloc(batch * sizeof *scale);
    assert_non_null(x), assert_non_null(bias), assert_non_null(y), assert_non_null(ref);
    assert_non_null(q), assert_non_null(zp), assert_non_null(scale);
    fill_activations(x, batch, cols, 31 + batch);
    testing_fill_uniform(bias, rows, 32, -0.5f, 0.5f);
    cl_mem xq = NULL, xp = NULL;
    check_quantize(ctx, k, batch, cols, x, asym_x, &xq, &xp, q, scale, zp);
    bool with_bias = batch % 2 == 1;
    ref_qformat rf = testing_ref_qformat(&m->format.quant);
    i8_weights wt = weights_of(packed);
    ref_w8a8_linear(&rf, rows, cols, wt.codes, wt.scales, wt.zero_points, batch, q, scale, zp,
                    with_bias ? bias : NULL, act, ref, NULL);

    cl_mem db = testing_buffer(ctx, bias, rows), dy = testing_buffer(ctx, NULL, batch * rows);
    cl_mem dx = testing_buffer(ctx, x, batch * cols);
    cl_event ev = NULL;
    sparq_status st;
    if (asym_x && m->quantize_activations != 2) { /* the product step on its own */
        sparq_kernel_params p;
        sparq_kernel_default_params(k, &ctx->caps, &p);
        if (forced_params)
            p = *forced_params;
        sparq_linear_args a = {.matrix = m, .queue = sparq_context_queue(ctx), .batch = batch,
                               .y = dy, .bias = with_bias ? db : NULL,
                               .activation = (cl_uint)act, .event = &ev};
        st = sparq_w8a8_product(ctx, k, &a, &p, true, xq, 0, xp, 0);
    } else {
        st = testing_run_kernel(ctx, m, k, forced_params, batch, dx, dy, with_bias ? db : NULL,
                                act, &ev);
    }
    if (st != SPARQ_OK)
        fail_msg("%s %s batch %zu: %s", label, k ? k->name : "dispatch", batch,
                 sparq_last_error());
    testing_read(ctx, dy, y, batch * rows, ev);
    clReleaseEvent(ev);
    if (act == 2) {
        double err = ref_max_rel_error(y, ref, batch * rows);
        if (!(err <= 1e-6))
            fail_msg("%s batch %zu gelu: max rel error %g", label, batch, err);
    } else {
        for (size_t i = 0; i < batch * rows; i++)
            if (memcmp(&y[i], &ref[i], sizeof y[i]) != 0)
                fail_msg("%s %s batch %zu x %s: y[%zu, %zu] = %.9g, reference %.9g", label,
                         k ? k->name : "dispatch", batch, asym_x ? "uint8" : "int8", i / rows,
                         i % rows, y[i], ref[i]);
    }
    if (out)
        memcpy(out, y, batch * rows * sizeof *y);
    clReleaseMemObject(xq), clReleaseMemObject(xp), clReleaseMemObject(dx);
    clReleaseMemObject(db), clReleaseMemObject(dy);
    free(x), free(bias), free(y), free(ref), free(q), free(zp), free(scale);
}

static const testing_qformat w8a8_formats[] = {
    {"w8a8 tensor", {.encoding = I8, .granularity = SPARQ_SCALE_TENSOR}},
    {"w8a8 row", {.encoding = I8, .granularity = SPARQ_SCALE_ROW}},
    {"w8a8 row asym", {.encoding = I8, .granularity = SPARQ_SCALE_ROW, .asymmetric = 1}},
    {"w8a8 g32 asym", {.encoding = I8, .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                       .asymmetric = 1}},
};

static void w8a8_every_kernel(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    size_t shape_count;
    const testing_shape *sh = testing_q_shapes(&shape_count);
    for (size_t f = 0; f < sizeof w8a8_formats / sizeof w8a8_formats[0]; f++) {
        sparq_context_stats before;
        sparq_context_get_stats(ctx, &before);
        size_t runs = 0;
        for (size_t s = 0; s < shape_count; s++) {
            float *w = NULL;
            sparq_packed *packed = NULL;
            sparq_matrix *m =
                testing_q_matrix(ctx, &w8a8_formats[f].quant, &sh[s], 50 + s, 1, &w, &packed);
            char label[128];
            snprintf(label, sizeof label, "%s %zux%zu", w8a8_formats[f].label, sh[s].rows,
                     sh[s].cols);
            for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
                const sparq_kernel_info *k = sparq_kernel_row(i);
                if (!sparq_kernel_runs_format(k, &m->format, true))
                    continue;
                sparq_kernel_params p;
                char why[256];
                sparq_kernel_default_params(k, &ctx->caps, &p);
                if (sparq_kernel_rank(k, m, 1, &ctx->caps, &p, why, sizeof why) ==
                    SPARQ_RANK_REFUSED) {
                    /* only linear_dense_w8a8_dot refuses, and only per-group scales */
                    assert_string_equal(k->name, "linear_dense_w8a8_dot");
                    assert_int_equal(m->format.quant.granularity, SPARQ_SCALE_GROUP);
                    continue;
                }
                for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
                    check_w8a8(ctx, m, packed, k, batches[b], false, (int)((s + b) % 3), label,
                               NULL);
                    check_w8a8(ctx, m, packed, k, batches[b], true, (int)(b % 2), label, NULL);
                    runs += 4; /* quantize + product, twice */
                }
            }
            check_w8a8(ctx, m, packed, NULL, 3, false, 0, label, NULL); /* dispatch */
            runs += 2;
            sparq_packed_free(packed);
            sparq_matrix_free(m);
            free(w);
            /* uint8 activations with zero points (quantize_activations = 2), dispatched */
            m = testing_q_matrix(ctx, &w8a8_formats[f].quant, &sh[s], 50 + s, 2, &w, &packed);
            check_w8a8(ctx, m, packed, NULL, 3, true, 1, label, NULL);
            runs += 2;
            sparq_packed_free(packed);
            sparq_matrix_free(m);
            free(w);
        }
        testing_expect_launches(ctx, &before, runs, w8a8_formats[f].label);
    }
    sparq_context_free(ctx);
}

static void w8a8_same_bits(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const testing_shape sh = {24, 300};
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_w8a8");
    assert_non_null(k);
    float *w = NULL;
    sparq_packed *packed = NULL;
    sparq_matrix *m = testing_q_matrix(ctx, &w8a8_formats[3].quant, &sh, 5, 1, &w, &packed);
    float first[5 * 24], second[5 * 24];
    check_w8a8(ctx, m, packed, k, 5, false, 2, "same bits", first);
    check_w8a8(ctx, m, packed, k, 5, false, 2, "same bits", second);
    assert_memory_equal(first, second, sizeof first);
    sparq_packed_free(packed);
    sparq_matrix_free(m);
    free(w);
    sparq_context_free(ctx);
}

/* linear_dense_w8a8 with 1 slab x 8 batch rows and 2 slabs x 1 batch row a work-item, and
 * linear_dense_w8a8_dot with its GPU teams (32 lanes, 4 batch rows) and with teams of 16
 * lanes x 8 batch rows, on row and batch counts they don't divide, bit for bit. */
static void w8a8_other_tiles(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const char *const names[] = {"W8A8_S", "W8A8_TB"};
    const char *const dot_names[] = {"W8DOT_LANES", "W8DOT_TB"};
    const testing_shape sh = {17, 257};
    const unsigned tiles[][2] = {{1, 8}, {2, 1}};
    const unsigned dot_tiles[][2] = {{32, 4}, {16, 8}};
    for (size_t f = 0; f < sizeof w8a8_formats / sizeof w8a8_formats[0]; f++) {
        float *w = NULL;
        sparq_packed *packed = NULL;
        sparq_matrix *m =
            testing_q_matrix(ctx, &w8a8_formats[f].quant, &sh, 70 + f, 1, &w, &packed);
        for (size_t t = 0; t < 4; t++) {
            bool dot = t >= 2;
            if (dot && m->format.quant.granularity == SPARQ_SCALE_GROUP)
                continue; /* linear_dense_w8a8_dot refuses group scales */
            sparq_kernel_params p =
                dot ? testing_tile_params(ctx, "linear_dense_w8a8_dot", dot_names,
                                          dot_tiles[t - 2], 2)
                    : testing_tile_params(ctx, "linear_dense_w8a8", names, tiles[t], 2);
            const sparq_kernel_info *k =
                sparq_kernel_find(dot ? "linear_dense_w8a8_dot" : "linear_dense_w8a8");
            forced_params = &p;
            check_w8a8(ctx, m, packed, k, 17, false, 1, w8a8_formats[f].label, NULL);
            check_w8a8(ctx, m, packed, k, 17, true, 0, w8a8_formats[f].label, NULL);
            forced_params = NULL;
        }
        sparq_packed_free(packed);
        sparq_matrix_free(m);
        free(w);
    }
    sparq_context_free(ctx);
}

/* Scales that are powers of two and sums below 2^24 make the float part exact, so
 * y * 2^9 read back is the int32 accumulator itself: compared with the integer
 * reference, with the extremes of the code ranges and K = 2053 (eight runs of 256 + 5). */
static void w8a8_integer_sums_exact(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const size_t rows = 7, cols = testing_small_mode() ? 37 : 2053, batch = 5;
    int8_t *codes = malloc(rows * cols);
    float *x = malloc(batch * cols * sizeof *x), *y = malloc(batch * rows * sizeof *y);
    float *ref = malloc(batch * rows * sizeof *ref);
    int *q = malloc(batch * cols * sizeof *q), zp[5];
    int64_t *acc = malloc(batch * rows * sizeof *acc);
    assert_non_null(codes), assert_non_null(x), assert_non_null(y), assert_non_null(ref);
    assert_non_null(q), assert_non_null(acc);
    float wscale = 1.0f / 64, xs[5], wscales[7];
    for (size_t i = 0; i < rows * cols; i++)
        codes[i] = (int8_t)(i % 5 == 0 ? -127 : i % 5 == 1 ? 127 : (int)(i * 37 % 255) - 127);
    for (size_t b = 0; b < batch; b++)
        for (size_t k = 0; k < cols; k++) /* multiples of 1/8 with |x| max 127/8: scale 1/8 */
            x[b * cols + k] = k == b ? 127.0f / 8 : (float)((int)((k * 13 + b) % 255) - 127) / 8;
    for (size_t r = 0; r < rows; r++)
        wscales[r] = wscale;
    sparq_pack_options fmt = {.structure = SPARQ_STRUCTURE_DENSE,
                              .quant = {.encoding = I8, .granularity = SPARQ_SCALE_ROW}};
    sparq_packed_array arrays[2] = {{"values", SPARQ_DTYPE_I8, rows * cols, codes},
                                    {"scales", SPARQ_DTYPE_F32, rows, wscales}};
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_from_arrays(&fmt, rows, cols, arrays, 2, &packed), SPARQ_OK);
    sparq_matrix_options mo = {.quantize_activations = 1};
    sparq_matrix *m = NULL;
    assert_int_equal(sparq_matrix_create(ctx, packed, &mo, &m), SPARQ_OK);
    cl_mem dx = testing_buffer(ctx, x, batch * cols), dy = testing_buffer(ctx, NULL, batch * rows);
    ref_quantize_rows(batch, cols, x, 0, q, xs, zp);
    for (size_t b = 0; b < batch; b++)
        assert_true(xs[b] == 1.0f / 8);
    ref_qformat rf = {I8, SPARQ_SCALE_ROW, 0, 0};
    ref_w8a8_linear(&rf, rows, cols, codes, wscales, NULL, batch, q, xs, zp, NULL, 0, ref, acc);
    const char *const kernels[] = {NULL, "linear_dense_w8a8", "linear_dense_w8a8_dot"};
    for (size_t k = 0; k < 3; k++) { /* dispatched, then each W8A8 kernel */
        cl_event ev = NULL;
        const sparq_kernel_info *kernel = kernels[k] ? sparq_kernel_find(kernels[k]) : NULL;
        if (testing_run_kernel(ctx, m, kernel, NULL, batch, dx, dy, NULL, 0, &ev) != SPARQ_OK)
            fail_msg("%s: %s", kernels[k] ? kernels[k] : "dispatch", sparq_last_error());
        testing_read(ctx, dy, y, batch * rows, ev);
        clReleaseEvent(ev);
        for (size_t i = 0; i < batch * rows; i++) {
            assert_true(llabs(acc[i]) < (1ll << 24));
            int64_t dev = (int64_t)(y[i] * 512.0f);
            if (dev != acc[i] || (float)dev != y[i] * 512.0f)
                fail_msg("%s: y[%zu] * 2^9 = %.9g, integer reference %lld",
                         kernels[k] ? kernels[k] : "dispatch", i, y[i] * 512.0,
                         (long long)acc[i]);
        }
    }
    clReleaseMemObject(dx), clReleaseMemObject(dy);
    sparq_matrix_free(m);
    sparq_packed_free(packed);
    free(codes), free(x), free(y), free(ref), free(q), free(acc);
    sparq_context_free(ctx);
}

/* The caller's wait list holds back the first W8A8 kernel and the returned event is
 * the last one's, on an out-of-order queue when the device has one. */
static void w8a8_events_chain(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    const testing_shape sh = {9, 40};
    float *w = NULL;
    sparq_packed *packed = NULL;
    sparq_matrix *m = testing_q_matrix(ctx, &w8a8_formats[1].quant, &sh, 3, 1, &w, &packed);
    cl_int err = CL_SUCCESS;
    cl_command_queue q = clCreateCommandQueue(ctx->cl_ctx, ctx->device,
                                              CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    if (err != CL_SUCCESS)
        q = clCreateCommandQueue(ctx->cl_ctx, ctx->device, 0, &err);
    assert_int_equal(err, CL_SUCCESS);
    float x[2 * 40], y[2 * 9];
    testing_fill_uniform(x, 2 * 40, 4, -1, 1);
    cl_mem dx = testing_buffer(ctx, NULL, 2 * 40), dy = testing_buffer(ctx, NULL, 2 * 9);
    cl_event gate = clCreateUserEvent(ctx->cl_ctx, &err), wrote = NULL, done = NULL;
    assert_int_equal(err, CL_SUCCESS);
    /* X is written after the gate opens: a kernel that ignored the wait list would read
     * garbage */
    assert_int_equal(clEnqueueWriteBuffer(q, dx, CL_FALSE, 0, sizeof x, x, 1, &gate, &wrote),
                     CL_SUCCESS);
    assert_int_equal(sparq_linear(m, q, dx, 0, dy, 0, 2, NULL, 1, &wrote, &done), SPARQ_OK);
    cl_int status = 0;
    assert_int_equal(clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status,
                                    &status, NULL),
                     CL_SUCCESS);
    assert_true(status != CL_COMPLETE);
    assert_int_equal(clSetUserEventStatus(gate, CL_COMPLETE), CL_SUCCESS);
    assert_int_equal(clEnqueueReadBuffer(q, dy, CL_TRUE, 0, sizeof y, y, 1, &done, NULL),
                     CL_SUCCESS);
    int qx[2 * 40], zp[2];
    float xs[2], ref[2 * 9];
    ref_quantize_rows(2, 40, x, 0, qx, xs, zp);
    ref_qformat rf = testing_ref_qformat(&w8a8_formats[1].quant);
    i8_weights wt = weights_of(packed);
    ref_w8a8_linear(&rf, 9, 40, wt.codes, wt.scales, NULL, 2, qx, xs, zp, NULL, 0, ref, NULL);
    assert_memory_equal(y, ref, sizeof y);
    clReleaseEvent(gate), clReleaseEvent(wrote), clReleaseEvent(done);
    clReleaseMemObject(dx), clReleaseMemObject(dy);
    clReleaseCommandQueue(q);
    sparq_packed_free(packed);
    sparq_matrix_free(m);
    free(w);
    sparq_context_free(ctx);
}

/* ---- ONNX conformance ---------------------------------------------------------------- */

static void onnx_dynamic_quantize(sparq_context *ctx, const float *x, size_t n,
                                  const uint8_t *y, float y_scale, uint8_t y_zp)
{
    /* ONNX quantizes the whole tensor with one scale: one row of n here */
    int q[16], zp;
    float scale;
    assert_true(n <= 16);
    ref_quantize_rows(1, n, x, 1, q, &scale, &zp);
    assert_true(scale == y_scale);
    assert_int_equal(zp, y_zp);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(q[i], y[i]);
    /* the device agrees with the reference exactly (check_quantize), hence with ONNX */
    const char *const kernels[] = {"linear_dense_w8a8", "linear_dense_w8a8_dot"};
    for (size_t i = 0; i < 2; i++) { /* each kernel's code layout */
        cl_mem xq = NULL, xp = NULL;
        check_quantize(ctx, sparq_kernel_find(kernels[i]), 1, n, x, true, &xq, &xp, q, &scale,
                       &zp);
        clReleaseMemObject(xq), clReleaseMemObject(xp);
    }
}

/* ONNX A[M, K] (uint8, zero point za, scale sa) x B[K, N] (uint8, zb, sb) on the W8A8
 * product: sparq's W is N x K = B transposed, and its codes are signed int8, so B's
 * uint8 codes and zero point are shifted by -128 (q - z is unchanged). A goes in as
 * uint8 activations with their zero point. Returns Y (M x N floats = sum * sa * sb). */
static void onnx_product(sparq_context *ctx, const uint8_t *a, size_t rows_a, size_t k_dim,
                         uint8_t za, float sa, const uint8_t *b, size_t n, uint8_t zb, float sb,
                         float *y, int64_t *acc)
{
    int8_t wq[64];
    int8_t wzp = (int8_t)(zb - 128);
    assert_true(n * k_dim <= 64);
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < k_dim; k++)
            wq[j * k_dim + k] = (int8_t)(b[k * n + j] - 128);
    sparq_pack_options fmt = {.structure = SPARQ_STRUCTURE_DENSE,
                              .quant = {.encoding = I8, .granularity = SPARQ_SCALE_TENSOR,
                                        .asymmetric = 1}};
    sparq_packed_array arrays[3] = {{"values", SPARQ_DTYPE_I8, n * k_dim, wq},
                                    {"scales", SPARQ_DTYPE_F32, 1, &sb},
                                    {"zero_points", SPARQ_DTYPE_I8, 1, &wzp}};
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_from_arrays(&fmt, n, k_dim, arrays, 3, &packed), SPARQ_OK);
    sparq_matrix_options mo = {.quantize_activations = 1};
    sparq_matrix *m = NULL;
    assert_int_equal(sparq_matrix_create(ctx, packed, &mo, &m), SPARQ_OK);
    float params[2 * 8];
    int xq[64], xzp[8];
    float xs[8];
    assert_true(rows_a <= 8 && rows_a * k_dim <= 64);
    for (size_t r = 0; r < rows_a; r++) {
        params[2 * r] = sa, params[2 * r + 1] = za;
        xs[r] = sa, xzp[r] = za;
    }
    for (size_t i = 0; i < rows_a * k_dim; i++)
        xq[i] = a[i];
    float ref[64];
    ref_qformat rf = {I8, SPARQ_SCALE_TENSOR, 0, 1};
    ref_w8a8_linear(&rf, n, k_dim, wq, &sb, &wzp, rows_a, xq, xs, xzp, NULL, 0, ref, acc);
    const char *const kernels[] = {"linear_dense_w8a8", "linear_dense_w8a8_dot"};
    for (size_t i = 0; i < 2; i++) { /* each W8A8 kernel on codes in its layout */
        const sparq_kernel_info *k = sparq_kernel_find(kernels[i]);
        float codes[64 + 8 * 3]; /* floats, or bytes in rows padded to 4 */
        size_t bytes = w8a8_codes_layout(k, xq, xzp, rows_a, k_dim, codes);
        cl_mem dq = testing_buffer(ctx, codes, (bytes + 3) / 4);
        cl_mem dp = testing_buffer(ctx, params, 2 * rows_a);
        cl_mem dy = testing_buffer(ctx, NULL, rows_a * n);
        sparq_kernel_params p;
        sparq_kernel_default_params(k, &ctx->caps, &p);
        cl_event ev = NULL;
        sparq_linear_args args = {.matrix = m, .queue = sparq_context_queue(ctx),
                                  .batch = rows_a, .y = dy, .event = &ev};
        assert_int_equal(sparq_w8a8_product(ctx, k, &args, &p, true, dq, 0, dp, 0), SPARQ_OK);
        testing_read(ctx, dy, y, rows_a * n, ev);
        clReleaseEvent(ev);
        /* the reference's integer sums and float result agree with the device exactly */
        if (memcmp(y, ref, rows_a * n * sizeof *y) != 0)
            fail_msg("%s: ONNX product differs from the reference", k->name);
        clReleaseMemObject(dq), clReleaseMemObject(dp), clReleaseMemObject(dy);
    }
    sparq_matrix_free(m);
    sparq_packed_free(packed);
}

/* QLinearMatMul's output: y = saturate(round_half_even(sum * sa * sb / sy) + zy). */
static void onnx_qlinear(sparq_context *ctx, const uint8_t *a, const uint8_t *b,
                         const uint8_t *expected)
{
    float y[6];
    int64_t acc[6];
    onnx_product(ctx, a, ONNX_QLINEARMATMUL_2D_IN0_DIM0, ONNX_QLINEARMATMUL_2D_IN0_DIM1,
                 onnx_qlinearmatmul_2d_in2[0], onnx_qlinearmatmul_2d_in1[0], b,
                 ONNX_QLINEARMATMUL_2D_IN3_DIM1, onnx_qlinearmatmul_2d_in5[0],
                 onnx_qlinearmatmul_2d_in4[0], y, acc);
    for (size_t i = 0; i < 6; i++) {
        float v = rintf(y[i] / onnx_qlinearmatmul_2d_in6[0]) + onnx_qlinearmatmul_2d_in7[0];
        int out = v < 0 ? 0 : v > 255 ? 255 : (int)v;
        if (out != expected[i])
            fail_msg("QLinearMatMul y[%zu] = %d (sum %lld), ONNX %d", i, out,
                     (long long)acc[i], expected[i]);
    }
}

static void onnx_conformance(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    sparq_context_stats before;
    sparq_context_get_stats(ctx, &before);
    /* MatMulInteger: int32 sums from uint8 A (zero point 12) and uint8 B; scales 1 make
     * the float output the sum itself */
    float y[8];
    int64_t acc[8];
    onnx_product(ctx, onnx_matmulinteger_in0, ONNX_MATMULINTEGER_IN0_DIM0,
                 ONNX_MATMULINTEGER_IN0_DIM1, onnx_matmulinteger_in2[0], 1.0f,
                 onnx_matmulinteger_in1, ONNX_MATMULINTEGER_IN1_DIM1, onnx_matmulinteger_in3[0],
                 1.0f, y, acc);
    for (size_t i = 0; i < ONNX_MATMULINTEGER_OUT0_COUNT; i++) {
        assert_int_equal(acc[i], onnx_matmulinteger_out0[i]);
        assert_true(y[i] == (float)onnx_matmulinteger_out0[i]);
    }
    /* QLinearMatMul 2D, and 3D as its two 2D slices */
    onnx_qlinear(ctx, onnx_qlinearmatmul_2d_in0, onnx_qlinearmatmul_2d_in3,
                 onnx_qlinearmatmul_2d_out0);
    for (size_t s = 0; s < ONNX_QLINEARMATMUL_3D_IN0_DIM0; s++)
        onnx_qlinear(ctx, onnx_qlinearmatmul_3d_in0 + s * 8, onnx_qlinearmatmul_3d_in3 + s * 12,
                     onnx_qlinearmatmul_3d_out0 + s * 6);
    /* DynamicQuantizeLinear: y, y_scale, y_zero_point */
    onnx_dynamic_quantize(ctx, onnx_dynamicquantizelinear_in0, ONNX_DYNAMICQUANTIZELINEAR_IN0_COUNT,
                          onnx_dynamicquantizelinear_out0, onnx_dynamicquantizelinear_out1[0],
                          onnx_dynamicquantizelinear_out2[0]);
    onnx_dynamic_quantize(ctx, onnx_dynamicquantizelinear_max_adjusted_in0,
                          ONNX_DYNAMICQUANTIZELINEAR_MAX_ADJUSTED_IN0_COUNT,
                          onnx_dynamicquantizelinear_max_adjusted_out0,
                          onnx_dynamicquantizelinear_max_adjusted_out1[0],
                          onnx_dynamicquantizelinear_max_adjusted_out2[0]);
    onnx_dynamic_quantize(ctx, onnx_dynamicquantizelinear_min_adjusted_in0,
                          ONNX_DYNAMICQUANTIZELINEAR_MIN_ADJUSTED_IN0_COUNT,
                          onnx_dynamicquantizelinear_min_adjusted_out0,
                          onnx_dynamicquantizelinear_min_adjusted_out1[0],
                          onnx_dynamicquantizelinear_min_adjusted_out2[0]);
    testing_expect_launches(ctx, &before, 7, "onnx");
    sparq_context_free(ctx);
}

/* Each test starts on the kernels' defaults: a test that failed while it forced other
 * parameters (w8a8_other_tiles) leaves no pointer into its finished frame. */
static int defaults_first(void **state)
{
    (void)state;
    forced_params = NULL;
    return 0;
}

int main(void)
{
    /* SPARQ_TEST_FILTER=pattern runs only the matching tests (cmocka's filter) */
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(w8a8_other_tiles, defaults_first),
        cmocka_unit_test_setup(w8a8_every_kernel, defaults_first),
        cmocka_unit_test_setup(w8a8_same_bits, defaults_first),
        cmocka_unit_test_setup(w8a8_integer_sums_exact, defaults_first),
        cmocka_unit_test_setup(w8a8_events_chain, defaults_first),
        cmocka_unit_test_setup(onnx_conformance, defaults_first),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
