/* SPDX-License-Identifier: Apache-2.0 */
/* linear_dense_q.c - the dense quantized kernels of sparq_linear (kernels/linear_dense_q.cl):
 * weight-only i8/i4 GEMV and batch-tiled GEMM, and W8A8 (X quantized per row on the
 * device into a temporary buffer, then an int8 product with int32 accumulation, chained
 * by events): when each can run (rank) and how each is launched (enqueue).
 */
#include "matrix.h"
#include "linear_dense_q.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OP "linear"

static size_t ceil_div(size_t n, size_t d)
{
    return (n + d - 1) / d;
}

static const char *granularity_words(const sparq_matrix *m)
{
    switch (m->format.quant.granularity) {
    case SPARQ_SCALE_GROUP: return "per-group";
    case SPARQ_SCALE_ROW: return "per-row";
    default: return "per-tensor";
    }
}

/* 0 (with the reason) when the device can't hold a group of wg work-items, else 1. */
static int fits_device(const sparq_device_caps *caps, size_t wg, char *why, size_t why_size)
{
    if (wg <= caps->max_work_group_size)
        return 1;
    snprintf(why, why_size, "work-groups of %zu work-items needed, the device allows %zu", wg,
             caps->max_work_group_size);
    return 0;
}

/* Default value of tunable `name` of the registered kernel `kernel` on this device. */
static unsigned default_param(const char *kernel, const char *name, const sparq_device_caps *caps)
{
    const sparq_kernel_info *k = sparq_kernel_find(kernel);
    if (!k)
        return 0;
    sparq_kernel_params p;
    sparq_kernel_default_params(k, caps, &p);
    return sparq_kernel_param(k, &p, name);
}

/* The matrix arrays every kernel of linear_dense_q.cl but the quantizer takes after
 * (rows, cols, batch): values, scales, zero_points (NULL buffers when absent). */
static const sparq_matrix_array q_arrays[] = {SPARQ_ARRAY_VALUES, SPARQ_ARRAY_SCALES,
                                              SPARQ_ARRAY_ZERO_POINTS};

/* Enqueues a sparq_linear kernel of this file over (global0, global1) in groups of
 * local0 x 1 (then releases it). */
static sparq_status launch(sparq_context *ctx, const sparq_kernel_info *k,
                           const sparq_linear_args *a, cl_kernel kernel, size_t global0,
                           size_t global1, size_t local0)
{
    size_t local[2] = {local0, 1}, global[2] = {global0, global1};
    return sparq_linear_enqueue(ctx, k, a, kernel, global, local);
}

/* ---- linear_dense_q_gemv ------------------------------------------------------------ */

static int rank_dense_q_gemv(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                             const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)p;
    if (batch > 1) {
        snprintf(why, why_size, "batch %zu: the GEMV rereads each row per batch row; "
                 "linear_dense_q_tiled uses each dequantized weight for a tile of batch rows",
                 batch);
        return SPARQ_RANK_OFF_REGIME;
    }
    if (caps->type == SPARQ_DEVICE_TYPE_GPU) {
        snprintf(why, why_size, "a work-item per row reads a row apart from its neighbours "
                 "on a GPU; linear_dense_q_coop shares rows between lanes");
        return SPARQ_RANK_SHAPED;
    }
    snprintf(why, why_size, "batch 1: one pass over the %s codes, a work-item per row, "
             "%s scales factored out of the sums", sparq_encoding_name(m->format.quant.encoding),
             granularity_words(m));
    return SPARQ_RANK_BEST;
}

static sparq_status enqueue_dense_q_gemv(sparq_context *ctx, const sparq_kernel_info *k,
                                         const sparq_linear_args *a, const sparq_kernel_params *p)
{
    cl_kernel kernel = NULL;
    sparq_status st = sparq_linear_kernel(k, a, p, q_arrays, 3, 0, &kernel);
    if (st != SPARQ_OK)
        return st;
    size_t wg = sparq_kernel_param(k, p, "QGEMV_WG");
    return launch(ctx, k, a, kernel, sparq_round_up(a->matrix->rows, wg), 1, wg);
}

/* ---- linear_dense_q_coop ------------------------------------------------------------ */

/* Local memory of the cooperative kernel: the x tile (8 floats a work-item, and 4 more
 * per 32), which the lanes' sums reuse at the end (one float a work-item). */
size_t sparq_dense_q_coop_local_bytes(const sparq_kernel_info *k, const sparq_kernel_params *p)
{
    return (size_t)sparq_kernel_param(k, p, "QCOOP_WG") * 9 * sizeof(float);
}

static int rank_dense_q_coop(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                             const sparq_kernel_params *p, char *why, size_t why_size)
{
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_q_coop");
    size_t local = sparq_dense_q_coop_local_bytes(k, p);
    if (local > caps->local_mem_bytes) {
        snprintf(why, why_size, "its x tile needs %zu bytes of local memory, the device has %llu",
                 local, (unsigned long long)caps->local_mem_bytes);
        return SPARQ_RANK_REFUSED;
    }
    if (caps->type != SPARQ_DEVICE_TYPE_GPU) {
        snprintf(why, why_size, "lanes sharing rows pay barriers and a reduction per row on "
                 "a CPU, where a work-item per row streams its row alone");
        return SPARQ_RANK_FALLBACK;
    }
    snprintf(why, why_size, "batch %zu on a GPU: teams of %u lanes share %u rows, each lane "
             "reading 16-byte chunks side by side, %s codes decoded once in registers (%s "
             "scales) for %u batch rows staged in local memory", batch,
             sparq_kernel_param(k, p, "QCOOP_LANES"), sparq_kernel_param(k, p, "QCOOP_R"),
             sparq_encoding_name(m->format.quant.encoding), granularity_words(m),
             sparq_kernel_param(k, p, "QCOOP_TB"));
    return SPARQ_RANK_BEST;
}

void sparq_dense_q_coop_range(const sparq_kernel_info *k, const sparq_kernel_params *p,
                              size_t rows, size_t global[2], size_t local[2])
{
    size_t wg = sparq_kernel_param(k, p, "QCOOP_WG");
    size_t rows_per_group = wg / sparq_kernel_param(k, p, "QCOOP_LANES") *
                            sparq_kernel_param(k, p, "QCOOP_R");
    local[0] = wg, local[1] = 1;
    global[0] = ceil_div(rows, rows_per_group) * wg, global[1] = 1;
}

static sparq_status enqueue_dense_q_coop(sparq_context *ctx, const sparq_kernel_info *k,
                                         const sparq_linear_args *a, const sparq_kernel_params *p)
{
    cl_kernel kernel = NULL;
    sparq_status st = sparq_linear_kernel(k, a, p, q_arrays, 3, 1, &kernel);
    if (st != SPARQ_OK)
        return st;
    if ((st = sparq_set_arg(kernel, 6, sparq_dense_q_coop_local_bytes(k, p), NULL))) {
        clReleaseKernel(kernel);
        return st;
    }
    size_t global[2], local[2];
    sparq_dense_q_coop_range(k, p, a->matrix->rows, global, local);
    return sparq_linear_enqueue(ctx, k, a, kernel, global, local);
}

/* ---- linear_dense_q_tiled ----------------------------------------------------------- */

static int rank_dense_q_tiled(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                              const sparq_kernel_params *p, char *why, size_t why_size)
{
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_q_tiled");
    if (batch == 1) {
        snprintf(why, why_size, "batch 1 has no batch rows to share a dequantized weight; "
                 "the GEMV streams the codes with the scales factored out");
        return SPARQ_RANK_OFF_REGIME;
    }
    if (caps->type == SPARQ_DEVICE_TYPE_GPU) {
        snprintf(why, why_size, "a work-item per row reads a row apart from its neighbours "
                 "on a GPU; linear_dense_q_coop shares rows between lanes");
        return SPARQ_RANK_SHAPED;
    }
    snprintf(why, why_size, "batch %zu: each %s weight is dequantized once (%s scales) and "
             "used for a tile of %u batch rows, each x for %u rows", batch,
             sparq_encoding_name(m->format.quant.encoding), granularity_words(m),
             sparq_kernel_param(k, p, "QTILE_TB"), sparq_kernel_param(k, p, "QTILE_R"));
    return SPARQ_RANK_BEST;
}

void sparq_dense_q_tiled_range(const sparq_kernel_info *k, const sparq_kernel_params *p,
                               size_t rows, size_t batch, size_t global[2], size_t local[2])
{
    size_t wg = sparq_kernel_param(k, p, "QTILE_WG");
    local[0] = wg, local[1] = 1;
    global[0] = sparq_round_up(ceil_div(rows, sparq_kernel_param(k, p, "QTILE_R")), wg);
    global[1] = ceil_div(batch, (size_t)sparq_kernel_param(k, p, "QTILE_NT") *
                                    sparq_kernel_param(k, p, "QTILE_TB"));
}

static sparq_status enqueue_dense_q_tiled(sparq_context *ctx, const sparq_kernel_info *k,
                                          const sparq_linear_args *a, const sparq_kernel_params *p)
{
    cl_kernel kernel = NULL;
    sparq_status st = sparq_linear_kernel(k, a, p, q_arrays, 3, 0, &kernel);
    if (st != SPARQ_OK)
        return st;
    size_t global[2], local[2];
    sparq_dense_q_tiled_range(k, p, a->matrix->rows, a->batch, global, local);
    return sparq_linear_enqueue(ctx, k, a, kernel, global, local);
}

/* ---- W8A8: quantize_dense_rows, then linear_dense_w8a8 or linear_dense_w8a8_dot ------ */

/* Columns of a W8A8 slab and of a packed activation row: cols rounded up to 4
 * (w8a8_cols4 in kernels/linear_dense_q.cl). */
static size_t w8a8_cols4(size_t cols)
{
    return sparq_round_up(cols, 4);
}

/* True when k reads the activations as packed 8-bit codes (linear_dense_w8a8_dot), false
 * when as centred floats (linear_dense_w8a8). */
static bool w8a8_packed(const sparq_kernel_info *k)
{
    return k && strcmp(k->name, "linear_dense_w8a8_dot") == 0;
}

/* Bytes of the codes of a batch x cols X quantized for k. */
static size_t w8a8_code_bytes(const sparq_kernel_info *k, size_t batch, size_t cols)
{
    return w8a8_packed(k) ? batch * w8a8_cols4(cols) : batch * cols * sizeof(float);
}

/* The quantizer divides: ask for correctly rounded division where the device has it,
 * so the codes match the host reference and ONNX bit for bit. */
static const char *division_option(const sparq_context *ctx)
{
    return ctx->caps.has_correct_division ? " -cl-fp32-correctly-rounded-divide-sqrt" : "";
}

/* Appends the quantizer's defines (its work-group size, activation mode and code layout
 * for k) and the division option to options: the W8A8 kernels build from one program. */
static void append_w8a8_options(const sparq_context *ctx, const sparq_kernel_info *k,
                                bool asym_x, char *options, size_t size)
{
    size_t used = strlen(options);
    snprintf(options + used, size - used, "%s-DQROWS_WG=%u -DW8A8_X_ASYM=%d -DW8A8_X_PACKED=%d%s",
             used ? " " : "", default_param("quantize_dense_rows", "QROWS_WG", &ctx->caps),
             asym_x ? 1 : 0, w8a8_packed(k) ? 1 : 0, division_option(ctx));
}

/* Enqueues quantize_dense_rows built with options. */
static sparq_status enqueue_quantize(sparq_context *ctx, cl_command_queue queue,
                                     const char *options, size_t batch, size_t cols, cl_mem x,
                                     size_t x_offset, cl_mem xq, size_t xq_offset, cl_mem xparams,
                                     size_t xparams_offset, cl_uint num_wait,
                                     const cl_event *wait_list, cl_event *event)
{
    cl_kernel kernel = NULL;
    sparq_status st = sparq_kernel_create(ctx, "quantize_dense_rows", options, &kernel);
    if (st != SPARQ_OK)
        return st;
    cl_uint b32 = (cl_uint)batch, c32 = (cl_uint)cols;
    cl_ulong xo = x_offset, qo = xq_offset, po = xparams_offset;
    if ((st = sparq_set_arg(kernel, 0, sizeof b32, &b32)) ||
        (st = sparq_set_arg(kernel, 1, sizeof c32, &c32)) ||
        (st = sparq_set_arg(kernel, 2, sizeof x, &x)) ||
        (st = sparq_set_arg(kernel, 3, sizeof xo, &xo)) ||
        (st = sparq_set_arg(kernel, 4, sizeof xq, &xq)) ||
        (st = sparq_set_arg(kernel, 5, sizeof qo, &qo)) ||
        (st = sparq_set_arg(kernel, 6, sizeof xparams, &xparams)) ||
        (st = sparq_set_arg(kernel, 7, sizeof po, &po))) {
        clReleaseKernel(kernel);
        return st;
    }
    size_t wg = default_param("quantize_dense_rows", "QROWS_WG", &ctx->caps);
    size_t local[2] = {wg, 1}, global[2] = {sparq_round_up(batch, wg), 1};
    st = sparq_kernel_enqueue(ctx, queue, kernel, "quantize_dense_rows", 2, global, local,
                              num_wait, wait_list, event);
    clReleaseKernel(kernel);
    return st;
}

sparq_status sparq_w8a8_quantize_rows(sparq_context *ctx, const sparq_kernel_info *k,
                                      cl_command_queue queue, bool asym_x, size_t batch,
                                      size_t cols, cl_mem x, size_t x_offset, cl_mem xq,
                                      size_t xq_offset, cl_mem xparams, size_t xparams_offset,
                                      cl_uint num_wait, const cl_event *wait_list,
                                      cl_event *event)
{
    char options[256] = "";
    append_w8a8_options(ctx, k, asym_x, options, sizeof options);
    return enqueue_quantize(ctx, queue, options, batch, cols, x, x_offset, xq, xq_offset, xparams,
                            xparams_offset, num_wait, wait_list, event);
}

/* Build options of W8A8 kernel k (and of the quantizer, same program) for m. */
static void w8a8_options(const sparq_kernel_info *k, const sparq_linear_args *a,
                         const sparq_kernel_params *p, bool asym_x, char *options, size_t size)
{
    sparq_matrix_build_options(a->matrix, k, p, options, size);
    append_w8a8_options(a->matrix->ctx, k, asym_x, options, size);
}

/* Enqueues the product kernel built with options on quantized activations, after the
 * events of a (the caller's, or the quantizer's). */
static sparq_status enqueue_product(sparq_context *ctx, const sparq_kernel_info *k,
                                    const sparq_linear_args *a, const sparq_kernel_params *p,
                                    const char *options, cl_mem xq, size_t xq_offset,
                                    cl_mem xparams, size_t xparams_offset)
{
    cl_kernel kernel = NULL;
    sparq_status st = sparq_kernel_create(ctx, k->name, options, &kernel);
    if (st != SPARQ_OK)
        return st;
    cl_ulong qo = xq_offset, po = xparams_offset;
    if ((st = sparq_linear_bind(kernel, a, q_arrays, 3, 4)) ||
        (st = sparq_set_arg(kernel, 6, sizeof xq, &xq)) ||
        (st = sparq_set_arg(kernel, 7, sizeof qo, &qo)) ||
        (st = sparq_set_arg(kernel, 8, sizeof xparams, &xparams)) ||
        (st = sparq_set_arg(kernel, 9, sizeof po, &po))) {
        clReleaseKernel(kernel);
        return st;
    }
    size_t slabs = sparq_slab_count(a->matrix->rows);
    if (w8a8_packed(k)) { /* a team of W8DOT_LANES per slab, W8DOT_TB batch rows */
        size_t wg = sparq_kernel_param(k, p, "W8DOT_WG");
        size_t teams = wg / sparq_kernel_param(k, p, "W8DOT_LANES");
        return launch(ctx, k, a, kernel, ceil_div(slabs, teams) * wg,
                      ceil_div(a->batch, sparq_kernel_param(k, p, "W8DOT_TB")), wg);
    }
    size_t wg = sparq_kernel_param(k, p, "W8A8_WG"), s = sparq_kernel_param(k, p, "W8A8_S");
    size_t tb = sparq_kernel_param(k, p, "W8A8_TB");
    return launch(ctx, k, a, kernel, sparq_round_up(ceil_div(slabs, s), wg),
                  ceil_div(a->batch, tb), wg);
}

sparq_status sparq_w8a8_product(sparq_context *ctx, const sparq_kernel_info *k,
                                const sparq_linear_args *a, const sparq_kernel_params *p,
                                bool asym_x, cl_mem xq, size_t xq_offset, cl_mem xparams,
                                size_t xparams_offset)
{
    char options[768];
    w8a8_options(k, a, p, asym_x, options, sizeof options);
    return enqueue_product(ctx, k, a, p, options, xq, xq_offset, xparams, xparams_offset);
}

/* The quantizer runs with its defaults (its own rules are the W8A8 rows'). */
static int quantizer_fits(const sparq_device_caps *caps, char *why, size_t why_size)
{
    return fits_device(caps, default_param("quantize_dense_rows", "QROWS_WG", caps), why,
                       why_size);
}

static const char *activation_words(const sparq_matrix *m)
{
    return m->quantize_activations == 2 ? "uint8" : "int8";
}

static int rank_dense_w8a8(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                           const sparq_kernel_params *p, char *why, size_t why_size)
{
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_w8a8");
    if (!quantizer_fits(caps, why, why_size))
        return SPARQ_RANK_REFUSED;
    snprintf(why, why_size, "W8A8: the %zu x %zu batch of X quantized per row to %s, then "
             "int8 x i8 weights (%s scales) with exact int32 sums, outer products of %u x %u "
             "rows x %u batch rows per work-item%s", batch, m->cols, activation_words(m),
             granularity_words(m), sparq_kernel_param(k, p, "W8A8_S"), SPARQ_SLAB_ROWS,
             sparq_kernel_param(k, p, "W8A8_TB"),
             caps->type == SPARQ_DEVICE_TYPE_GPU ? " (a work-item per slab: shaped for CPUs)"
                                                 : "");
    return caps->type == SPARQ_DEVICE_TYPE_GPU ? SPARQ_RANK_OFF_REGIME : SPARQ_RANK_BEST;
}

static int rank_dense_w8a8_dot(const sparq_matrix *m, size_t batch,
                               const sparq_device_caps *caps, const sparq_kernel_params *p,
                               char *why, size_t why_size)
{
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_w8a8_dot");
    if (!quantizer_fits(caps, why, why_size))
        return SPARQ_RANK_REFUSED;
    if (m->format.quant.granularity == SPARQ_SCALE_GROUP) {
        snprintf(why, why_size, "per-group weight scales: each group's int32 sum would need "
                 "its own team reduction (linear_dense_w8a8 runs them)");
        return SPARQ_RANK_REFUSED;
    }
    if (caps->type != SPARQ_DEVICE_TYPE_GPU) {
        snprintf(why, why_size, "lanes sharing a slab pay a transpose and a reduction on a "
                 "CPU, where linear_dense_w8a8's float lanes stream a slab alone");
        return SPARQ_RANK_FALLBACK;
    }
    snprintf(why, why_size, "W8A8 at batch %zu on a GPU: X quantized per row to %s, packed; "
             "teams of %u lanes share a slab of 8 rows, 16-byte pairs side by side, %s "
             "4x8-bit dot products for %u batch rows, int32 sums added in local memory",
             batch, activation_words(m), sparq_kernel_param(k, p, "W8DOT_LANES"),
             sparq_device_int_dot(caps) ? "the device's" : "portable (four products each)",
             sparq_kernel_param(k, p, "W8DOT_TB"));
    return SPARQ_RANK_BEST;
}

/* Both W8A8 kernels: X quantized into a temporary buffer in k's code layout, then k. */
static sparq_status enqueue_dense_w8a8(sparq_context *ctx, const sparq_kernel_info *k,
                                       const sparq_linear_args *a, const sparq_kernel_params *p)
{
    const sparq_matrix *m = a->matrix;
    /* quantize_activations 2: uint8 activations with zero points (ONNX
     * DynamicQuantizeLinear); 1: symmetric int8. */
    bool asym_x = m->quantize_activations == 2;
    /* one temporary buffer: the codes (centred floats, or packed bytes), then (scale,
     * zero point) per row as floats from a 64-byte boundary */
    size_t params_byte = sparq_round_up(w8a8_code_bytes(k, a->batch, m->cols), 64);
    cl_int err = CL_SUCCESS;
    cl_mem tmp = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE,
                                params_byte + 2 * a->batch * sizeof(float), NULL, &err);
    if (err != CL_SUCCESS)
        return sparq_fail(err, OP ": W8A8 activation buffer of %zu bytes: %s",
                          params_byte + 2 * a->batch * sizeof(float), sparq_status_string(err));
    char options[768];
    w8a8_options(k, a, p, asym_x, options, sizeof options);
    cl_event quantized = NULL;
    sparq_status st = enqueue_quantize(ctx, a->queue, options, a->batch, m->cols, a->x,
                                       a->x_offset, tmp, 0, tmp, params_byte / sizeof(float),
                                       a->num_wait, a->wait_list, &quantized);
    if (st == SPARQ_OK) {
        sparq_linear_args after_quantize = *a; /* the product waits on the quantizer only */
        after_quantize.num_wait = 1;
        after_quantize.wait_list = &quantized;
        st = enqueue_product(ctx, k, &after_quantize, p, options, tmp, 0, tmp,
                             params_byte / sizeof(float));
    }
    /* OpenCL keeps the buffer alive until the commands that use it have finished */
    clReleaseMemObject(tmp);
    if (quantized)
        clReleaseEvent(quantized);
    return st;
}

/* ---- device layout ---- */

/* Bytes of a packed dense row of m's values (i4: ceil(cols / 2)) and from one device
 * row to the next: rounded up to 16 (sparq_dense_row_stride in kernels/common.clh), so
 * that every row starts on 16 bytes and linear_dense_q_coop loads it as whole uint4s. */
static size_t dense_row_bytes(const sparq_matrix *m)
{
    switch (m->format.quant.encoding) {
    case SPARQ_ENCODING_I4: return (m->cols + 1) / 2;
    case SPARQ_ENCODING_F16: return m->cols * 2;
    case SPARQ_ENCODING_I8: return m->cols;
    default: return m->cols * 4;
    }
}

static size_t dense_row_stride(const sparq_matrix *m)
{
    return sparq_round_up(dense_row_bytes(m), 16);
}

/* A dense matrix's values as the kernels read them: each row at a multiple of
 * dense_row_stride bytes (the padding zero), and i4 codes in the kernels' step order
 * (kernels/linear_dense_q.cl): in each row, each whole block of 64 columns becomes
 * eight 32-bit lanes, lane l holding column 8j + l in nibble j, i.e. column k goes to
 * code slot (k & ~63) + 8 (k % 8) + (k % 64) / 8 (slot s in byte s / 2, low nibble when s
 * is even, as packed); the columns after the last whole block keep the packed order.
 * Returns a malloc'ed copy (NULL: no memory). */
static uint8_t *dense_device_rows(const sparq_matrix *m, const uint8_t *packed_rows)
{
    const size_t row_bytes = dense_row_bytes(m), stride = dense_row_stride(m);
    const bool i4 = m->format.quant.encoding == SPARQ_ENCODING_I4;
    const size_t blocked = i4 ? m->cols / 64 * 64 : 0;
    uint8_t *out = calloc(m->rows * stride + 1, 1);
    if (!out)
        return NULL;
    for (size_t r = 0; r < m->rows; r++) {
        const uint8_t *src = packed_rows + r * row_bytes;
        uint8_t *dst = out + r * stride;
        memcpy(dst, src, row_bytes);
        for (size_t k = 0; k < blocked; k++)
            sparq_i4_set(dst, (k & ~(size_t)63) + 8 * (k & 7) + (k & 63) / 8,
                         sparq_i4_get(src, k));
    }
    return out;
}

/* Dense values as the kernels read them: rows padded to 16 bytes (i4 codes in step
 * order), W8A8 codes in slabs of cols rounded up to 4 (linear_dense_w8a8's float8
 * lanes, linear_dense_w8a8_dot's 16-byte pairs of columns). *count: elements of the
 * array's dtype (i4: bytes). */
static sparq_status dense_layout(const sparq_matrix *m, const sparq_packed *packed,
                                 sparq_packed_role role, const sparq_packed_buffer *a,
                                 void **data, size_t *count)
{
    (void)packed;
    if (role != SPARQ_PACKED_VALUES)
        return SPARQ_OK;
    if (m->quantize_activations)
        return sparq_slab_layout(a->data, m->rows, m->cols, m->cols, w8a8_cols4(m->cols), 1,
                                 false, data, count);
    const size_t element = sparq_dtype_size(a->dtype); /* i4: bytes of codes */
    if (a->count * element != m->rows * dense_row_bytes(m))
        return sparq_fail(SPARQ_ERROR_INTERNAL, "matrix_create: %zu values for %zu x %zu %s",
                          a->count, m->rows, m->cols,
                          sparq_encoding_name(m->format.quant.encoding));
    *data = dense_device_rows(m, a->data);
    if (!*data)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    *count = m->rows * dense_row_stride(m) / element;
    return SPARQ_OK;
}

/* Every row is cols long. */
static sparq_status dense_statistics(sparq_matrix *m, const uint32_t *row_ptr)
{
    (void)row_ptr;
    sparq_uniform_statistics(m, m->cols);
    return SPARQ_OK;
}

const sparq_structure_upload sparq_upload_dense = {SPARQ_STRUCTURE_DENSE, dense_layout,
                                                   dense_statistics, NULL};

/* ---- registry rows ---- */

static const sparq_kernel_info dense_q_rows[] = {
    {"linear_dense_q_gemv", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "dense i8/i4 weights at batch 1: a work-item per row, wide code loads, scales factored out",
     {{"QGEMV_WG", 16, 64, {8, 16, 32, 64, 0}}}, rank_dense_q_gemv,
     enqueue_dense_q_gemv, (1u << SPARQ_ENCODING_I8) | (1u << SPARQ_ENCODING_I4), false,
     {{SPARQ_RULE_WORK_GROUP, "QGEMV_WG", NULL, 0}}},
    /* GPU defaults from the memory model: a warp of 32 lanes a team reads 512 bytes a
     * request (four whole lines); 8 warps a group, 2 rows a team, so the x tile in local
     * memory serves 16 rows and each lane keeps two 16-byte loads in flight (an H100 needs
     * about 3.35 TB/s x 600 ns / 132 SMs = 15 KB in flight per SM: 8 groups of 256 lanes
     * x 2 x 16 bytes over the GPU's 132 SMs a wave); 2048 floats of x a tile (8 a
     * work-item, 9 KB) give an i4 lane two chunks per row between barriers at batch 1;
     * 4 batch rows a pass read
     * the matrix once per 4 (R x TB = 8 accumulators and 8 float4 partial sums a lane).
     * Also built for f32 by the dense path at batch <= 8 on GPUs (host/linear.c). */
    {"linear_dense_q_coop", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "dense f16/i8/i4 weights on GPUs: a team of lanes shares rows, 16-byte chunks side by "
     "side, each decoded once for QCOOP_TB batch rows staged in local memory, a fixed-order "
     "(or subgroup) sum",
     {{"QCOOP_WG", 64, 256, {32, 64, 128, 256, 0}}, {"QCOOP_LANES", 16, 32, {8, 16, 32, 64, 0}},
      {"QCOOP_R", 1, 2, {1, 2, 4, 0}}, {"QCOOP_TB", 1, 4, {1, 2, 4, 0}}},
     rank_dense_q_coop, enqueue_dense_q_coop,
     (1u << SPARQ_ENCODING_F16) | (1u << SPARQ_ENCODING_I8) | (1u << SPARQ_ENCODING_I4), false,
     {{SPARQ_RULE_WORK_GROUP, "QCOOP_WG", NULL, 0},
      {SPARQ_RULE_DIVIDES, "QCOOP_LANES", "QCOOP_WG", 0},
      {SPARQ_RULE_PRIVATE, "QCOOP_R", "QCOOP_TB", 5},
      {SPARQ_RULE_LOCAL_FLOATS, "QCOOP_WG", NULL, 9 * 32}}},
    /* also built for f32 by the dense path above batch 1 (host/linear.c) */
    {"linear_dense_q_tiled", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "dense f16/i8/i4 weights, any batch: tiles of QTILE_R rows x QTILE_TB batch rows, "
     "QTILE_NT of them along the batch a work-item, each weight dequantized once in "
     "registers per tile, each x loaded once for the rows",
     {{"QTILE_WG", 16, 64, {8, 16, 32, 64, 0}}, {"QTILE_R", 2, 1, {1, 2, 3, 4, 0}},
      {"QTILE_TB", 4, 4, {1, 2, 4, 6, 8, 0}}, {"QTILE_NT", 4, 1, {1, 2, 4, 8, 0}}},
     rank_dense_q_tiled, enqueue_dense_q_tiled,
     (1u << SPARQ_ENCODING_F16) | (1u << SPARQ_ENCODING_I8) | (1u << SPARQ_ENCODING_I4), false,
     {{SPARQ_RULE_WORK_GROUP, "QTILE_WG", NULL, 0},
      {SPARQ_RULE_PRIVATE, "QTILE_R", "QTILE_TB", 8}}},
    {"quantize_dense_rows", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "W8A8 step 1: X quantized per row (per token) to 8-bit codes and (scale, zero point)",
     {{"QROWS_WG", 8, 64, {8, 0}}}, NULL, NULL, 1u << SPARQ_ENCODING_I8, true,
     {{SPARQ_RULE_WORK_GROUP, "QROWS_WG", NULL, 0}}},
    {"linear_dense_w8a8", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "W8A8 step 2: int8 x int8 with exact int32 sums, outer products of W8A8_S slabs of 8 "
     "weight rows x W8A8_TB batch rows per work-item, then scaled by x_scale * w_scale",
     {{"W8A8_WG", 8, 64, {8, 16, 32, 64, 0}}, {"W8A8_S", 2, 1, {1, 2, 0}},
      {"W8A8_TB", 6, 4, {1, 2, 4, 6, 8, 0}}},
     rank_dense_w8a8, enqueue_dense_w8a8, 1u << SPARQ_ENCODING_I8, true,
     {{SPARQ_RULE_WORK_GROUP, "W8A8_WG", NULL, 0},
      {SPARQ_RULE_PRIVATE, "W8A8_S", "W8A8_TB", 8}}},
    /* GPU defaults from the memory model: a team of 32 lanes reads 512 bytes of a slab a
     * load (four whole lines), the packed codes of a batch row 64 bytes (two sectors);
     * 2 teams a group keep 4096-row layers at 256 groups a batch tile (two waves of 132
     * SMs); 4 batch rows a tile: 32 int32 sums a lane, and the slab read once per 4. */
    {"linear_dense_w8a8_dot", "linear_dense_q.cl", 0, SPARQ_STRUCTURE_DENSE,
     "W8A8 step 2 on GPUs: teams of lanes share a slab of 8 rows, 16-byte pairs side by side "
     "transposed in registers, packed 4x8-bit dot products (cl_khr_integer_dot_product where "
     "the device has it), int32 sums added in local memory",
     {{"W8DOT_WG", 32, 64, {32, 64, 128, 256, 0}}, {"W8DOT_LANES", 8, 32, {8, 16, 32, 0}},
      {"W8DOT_TB", 2, 4, {1, 2, 4, 8, 0}}},
     rank_dense_w8a8_dot, enqueue_dense_w8a8, 1u << SPARQ_ENCODING_I8, true,
     {{SPARQ_RULE_WORK_GROUP, "W8DOT_WG", NULL, 0},
      {SPARQ_RULE_DIVIDES, "W8DOT_LANES", "W8DOT_WG", 0},
      {SPARQ_RULE_PRIVATE, "W8DOT_TB", NULL, 9},
      {SPARQ_RULE_LOCAL_FLOATS, "W8DOT_WG", "W8DOT_TB", 8 * 32}}},
};

const sparq_kernel_family sparq_kernels_dense_q = {dense_q_rows,
                                                   sizeof dense_q_rows / sizeof dense_q_rows[0]};
