/* SPDX-License-Identifier: Apache-2.0 */
/* linear_dense.c - dense f32 linear layer on raw buffers (sparq_linear_dense):
 * sparq's own kernel, or CLBlast SGEMV/SGEMM followed by a bias epilogue,
 * both under the enqueue convention (wait list in, event out, no clFinish).
 */
#include "internal.h"

#include <stdio.h>
#ifdef SPARQ_HAVE_CLBLAST
#include <clblast_c.h>
#endif

#define OP "linear_dense"

/* AUTO runs sparq's kernel up to this batch and CLBlast above it. */
enum { AUTO_MAX_OWN_BATCH = 8 };

#ifdef SPARQ_HAVE_CLBLAST
static const bool have_clblast = true;
#else
static const bool have_clblast = false;
#endif

/* Enqueues a kernel of linear_dense.cl (arguments set) over (rows, batch). */
static sparq_status launch_rows_batch(sparq_context *ctx, cl_command_queue queue,
                                      cl_kernel kernel, const sparq_kernel_info *info,
                                      const sparq_kernel_params *params, size_t rows,
                                      size_t batch, cl_uint num_wait,
                                      const cl_event *wait_list, cl_event *event)
{
    size_t wg = sparq_kernel_work_group(info, params);
    size_t local[2] = {wg, 1};
    size_t global[2] = {sparq_round_up(rows, wg), batch};
    return sparq_kernel_enqueue(ctx, queue, kernel, info->name, 2, global, local, num_wait,
                                wait_list, event);
}

/* Kernel `name` built with its defaults for this device (fitted to its limits). */
static sparq_status create_registered(sparq_context *ctx, const char *name,
                                      const sparq_kernel_info **info,
                                      sparq_kernel_params *params, cl_kernel *kernel)
{
    *info = sparq_kernel_find(name);
    if (!*info)
        return sparq_fail(SPARQ_ERROR_INTERNAL, "kernel %s is not registered", name);
    sparq_device_caps caps;
    sparq_kernel_caps(ctx, *info, &caps);
    sparq_kernel_default_params(*info, &caps, params);
    char options[64] = "";
    sparq_kernel_options_append(*info, params, options, sizeof options);
    return sparq_kernel_create(ctx, name, options, kernel);
}

static sparq_status run_own(sparq_context *ctx, cl_command_queue queue, size_t batch,
                            size_t rows, size_t cols, cl_mem x, size_t x_off, cl_mem w,
                            size_t w_off, cl_mem bias, size_t bias_off, cl_mem y, size_t y_off,
                            cl_uint num_wait, const cl_event *wait_list, cl_event *event)
{
    const sparq_kernel_info *info = NULL;
    sparq_kernel_params params;
    cl_kernel k = NULL;
    sparq_status st = create_registered(ctx, "linear_dense_rowdot", &info, &params, &k);
    if (st != SPARQ_OK)
        return st;
    cl_uint b32 = (cl_uint)batch, m32 = (cl_uint)rows, k32 = (cl_uint)cols;
    cl_ulong xo = x_off, wo = w_off, bo = bias_off, yo = y_off;
    cl_uint a = 0;
    if ((st = sparq_set_arg(k, a++, sizeof b32, &b32)) == SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof m32, &m32)) == SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof k32, &k32)) == SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof x, &x)) == SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof xo, &xo)) == SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof w, &w)) == SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof wo, &wo)) == SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof bias, bias ? (const void *)&bias : NULL)) ==
            SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof bo, &bo)) == SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof y, &y)) == SPARQ_OK &&
        (st = sparq_set_arg(k, a++, sizeof yo, &yo)) == SPARQ_OK)
        st = launch_rows_batch(ctx, queue, k, info, &params, rows, batch, num_wait, wait_list,
                               event);
    clReleaseKernel(k);
    return st;
}

#ifdef SPARQ_HAVE_CLBLAST
static sparq_status clblast_status(CLBlastStatusCode code, const char *routine)
{
    if (code == CLBlastSuccess)
        return SPARQ_OK;
    if (code == CLBlastInvalidLocalThreadsTotal || code == CLBlastInvalidLocalThreadsDim ||
        code == CLBlastInvalidLocalNumDimensions || code == CLBlastInvalidLocalMemUsage)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                          OP ": CLBlast %s asks for larger work-groups or more local memory "
                          "than this device has (CLBlast status %d)", routine, (int)code);
    if (code > -1000) /* an OpenCL code, passed through */
        return sparq_fail((sparq_status)code, OP ": CLBlast %s failed with %s (%d)", routine,
                          sparq_status_string((sparq_status)code), (int)code);
    return sparq_fail(SPARQ_ERROR_PEER, OP ": CLBlast %s failed with CLBlast status %d",
                      routine, (int)code);
}

static sparq_status run_clblast(sparq_context *ctx, cl_command_queue queue, size_t batch,
                                size_t rows, size_t cols, cl_mem x, size_t x_off, cl_mem w,
                                size_t w_off, cl_mem bias, size_t bias_off, cl_mem y,
                                size_t y_off, cl_uint num_wait, const cl_event *wait_list,
                                cl_event *event)
{
    /* 1. Y = bias (or 0), after the caller's wait list. CLBlast computes beta * Y even
     *    for beta = 0, so a NaN left in Y would survive; with Y filled, beta = 1 also
     *    fuses the bias for free. */
    const sparq_kernel_info *info = NULL;
    sparq_kernel_params params;
    cl_kernel k = NULL;
    cl_event filled = NULL;
    sparq_status st = create_registered(ctx, "fill_dense_bias", &info, &params, &k);
    cl_uint b32 = (cl_uint)batch, m32 = (cl_uint)rows;
    cl_ulong bo = bias_off, yo = y_off;
    if (st == SPARQ_OK && (st = sparq_set_arg(k, 0, sizeof b32, &b32)) == SPARQ_OK &&
        (st = sparq_set_arg(k, 1, sizeof m32, &m32)) == SPARQ_OK &&
        (st = sparq_set_arg(k, 2, sizeof bias, bias ? (const void *)&bias : NULL)) ==
            SPARQ_OK &&
        (st = sparq_set_arg(k, 3, sizeof bo, &bo)) == SPARQ_OK &&
        (st = sparq_set_arg(k, 4, sizeof y, &y)) == SPARQ_OK &&
        (st = sparq_set_arg(k, 5, sizeof yo, &yo)) == SPARQ_OK)
        st = launch_rows_batch(ctx, queue, k, info, &params, rows, batch, num_wait, wait_list,
                               &filled);
    if (k)
        clReleaseKernel(k);
    if (st != SPARQ_OK)
        return st;

    /* 2. CLBlast takes no wait list: an in-order queue starts it after the fill; on an
     *    out-of-order queue a barrier on the fill holds it back (and the queue's other
     *    commands with it: sparq.h says so). */
    cl_int err = sparq_queue_in_order(queue)
                     ? CL_SUCCESS
                     : clEnqueueBarrierWithWaitList(queue, 1, &filled, NULL);
    clReleaseEvent(filled);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, OP ": clEnqueueBarrierWithWaitList");
    cl_event done = NULL;
    CLBlastStatusCode code;
    if (batch == 1) /* y[m] += sum_k W[m, k] x[k] */
        code = CLBlastSgemv(CLBlastLayoutRowMajor, CLBlastTransposeNo, rows, cols, 1.0f, w,
                            w_off, cols, x, x_off, 1, 1.0f, y, y_off, 1, &queue, &done);
    else /* Y (batch x rows) += X (batch x cols) . W^T */
        code = CLBlastSgemm(CLBlastLayoutRowMajor, CLBlastTransposeNo, CLBlastTransposeYes,
                            batch, rows, cols, 1.0f, x, x_off, cols, w, w_off, cols, 1.0f, y,
                            y_off, rows, &queue, &done);
    atomic_fetch_add(&ctx->peer_calls, 1);
    if ((st = clblast_status(code, batch == 1 ? "SGEMV" : "SGEMM")) != SPARQ_OK)
        return st;
    sparq_log(SPARQ_LOG_DEBUG, "CLBlast %s batch %zu rows %zu cols %zu",
              batch == 1 ? "SGEMV" : "SGEMM", batch, rows, cols);
    if (event)
        *event = done;
    else
        clReleaseEvent(done);
    return SPARQ_OK;
}
#endif

sparq_status sparq_linear_dense(sparq_context *ctx, cl_command_queue queue,
                                sparq_dense_backend backend, size_t batch, size_t rows,
                                size_t cols, cl_mem x, size_t x_offset, cl_mem w,
                                size_t w_offset, cl_mem bias, size_t bias_offset, cl_mem y,
                                size_t y_offset, cl_uint num_wait, const cl_event *wait_list,
                                cl_event *event)
{
    if (event)
        *event = NULL;
    if (!ctx)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": NULL context");
    if (!queue)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": NULL queue");
    if (batch == 0 || rows == 0 || cols == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          OP ": sizes must be positive (batch %zu, rows %zu, cols %zu)", batch,
                          rows, cols);
    if (batch > UINT32_MAX || rows > UINT32_MAX || cols > UINT32_MAX)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          OP ": batch, rows and cols must each be below 2^32");
    if ((num_wait == 0) != (wait_list == NULL))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          OP ": num_wait is %u but wait_list is %s", num_wait,
                          wait_list ? "not NULL" : "NULL");
    if (backend != SPARQ_DENSE_BACKEND_AUTO && backend != SPARQ_DENSE_BACKEND_SPARQ &&
        backend != SPARQ_DENSE_BACKEND_CLBLAST)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": unknown backend %d", (int)backend);
    if (batch > SIZE_MAX / cols || batch > SIZE_MAX / rows || rows > SIZE_MAX / cols)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": sizes overflow size_t");
    sparq_status st;
    if ((st = sparq_check_buffer(OP, "x", x, x_offset, batch * cols, sizeof(float))) ||
        (st = sparq_check_buffer(OP, "w", w, w_offset, rows * cols, sizeof(float))) ||
        (st = sparq_check_buffer(OP, "y", y, y_offset, batch * rows, sizeof(float))) ||
        (bias && (st = sparq_check_buffer(OP, "bias", bias, bias_offset, rows, sizeof(float)))) ||
        (st = sparq_check_disjoint(OP, "x", x, x_offset, batch * cols, "y", y, y_offset,
                                   batch * rows, sizeof(float))) ||
        (st = sparq_check_disjoint(OP, "w", w, w_offset, rows * cols, "y", y, y_offset,
                                   batch * rows, sizeof(float))) ||
        (bias && (st = sparq_check_disjoint(OP, "bias", bias, bias_offset, rows, "y", y,
                                            y_offset, batch * rows, sizeof(float)))))
        return st;

    /* Until the tuner measures the break-even per device: sparq's kernel streams one
     * row per work-item, which wins at small batch; CLBlast's tiled GEMM wins beyond
     * (bench_linear on PoCL: equal at batch 8, CLBlast 2.5-3.5x faster at batch 32).
     * AUTO keeps off CLBlast on out-of-order queues (it would need a barrier) and on a
     * device where it failed (its kernels may want larger work-groups than the device
     * has). */
    bool automatic = backend == SPARQ_DENSE_BACKEND_AUTO;
    if (automatic)
        backend = batch <= AUTO_MAX_OWN_BATCH || !have_clblast ||
                          atomic_load(&ctx->peer_failed) || !sparq_queue_in_order(queue)
                      ? SPARQ_DENSE_BACKEND_SPARQ
                      : SPARQ_DENSE_BACKEND_CLBLAST;
#ifndef SPARQ_HAVE_CLBLAST
    if (backend == SPARQ_DENSE_BACKEND_CLBLAST)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                          OP ": this sparq was built without CLBlast (SPARQ_WITH_CLBLAST=OFF)");
#endif
    /* A build that allows fewer work-items a group than its defaults fails before
     * launching and notes its limit (host/program.c): the next try keeps under it. Where
     * AUTO's CLBlast fails, sparq's own kernel runs instead (Y is written whole again). */
    for (int attempt = 0;; attempt++) {
        uint_fast64_t refusals = atomic_load(&ctx->work_group_refusals);
#ifdef SPARQ_HAVE_CLBLAST
        if (backend == SPARQ_DENSE_BACKEND_CLBLAST) {
            st = run_clblast(ctx, queue, batch, rows, cols, x, x_offset, w, w_offset, bias,
                             bias_offset, y, y_offset, num_wait, wait_list, event);
            if (st != SPARQ_OK && automatic && attempt == 0) {
                atomic_store(&ctx->peer_failed, true);
                sparq_log(SPARQ_LOG_INFO, "%s; AUTO runs sparq's own kernel on this context "
                          "from now on", sparq_last_error());
                backend = SPARQ_DENSE_BACKEND_SPARQ;
                continue;
            }
        } else
#endif
            st = run_own(ctx, queue, batch, rows, cols, x, x_offset, w, w_offset, bias,
                         bias_offset, y, y_offset, num_wait, wait_list, event);
        if (st == SPARQ_OK || attempt >= 2 ||
            atomic_load(&ctx->work_group_refusals) == refusals)
            return st;
    }
}

bool sparq_queue_in_order(cl_command_queue queue)
{
    cl_command_queue_properties props = 0;
    cl_int err = clGetCommandQueueInfo(queue, CL_QUEUE_PROPERTIES, sizeof props, &props, NULL);
    return err == CL_SUCCESS && !(props & CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE);
}

sparq_status sparq_activate_dense(sparq_context *ctx, cl_command_queue queue, size_t count,
                                  cl_uint activation, cl_mem y, size_t y_offset,
                                  cl_event wait, cl_event *event)
{
    const sparq_kernel_info *info = NULL;
    sparq_kernel_params params;
    cl_kernel k = NULL;
    sparq_status st = create_registered(ctx, "activate_dense_inplace", &info, &params, &k);
    cl_ulong n = count, yo = y_offset;
    if (st == SPARQ_OK && (st = sparq_set_arg(k, 0, sizeof n, &n)) == SPARQ_OK &&
        (st = sparq_set_arg(k, 1, sizeof activation, &activation)) == SPARQ_OK &&
        (st = sparq_set_arg(k, 2, sizeof y, &y)) == SPARQ_OK &&
        (st = sparq_set_arg(k, 3, sizeof yo, &yo)) == SPARQ_OK)
        st = launch_rows_batch(ctx, queue, k, info, &params, count, 1, 1, &wait, event);
    if (k)
        clReleaseKernel(k);
    return st;
}

/* ---- registry rows ---- */

static const sparq_kernel_info dense_rows[] = {
    {"linear_dense_rowdot", "linear_dense.cl", 0, SPARQ_STRUCTURE_DENSE,
     "dense f32 Y = X W^T (+bias), one work-item per output",
     {{"LINEAR_DENSE_WG", 64, 64, {32, 64, 128, 0}}, {"LINEAR_DENSE_VW", 8, 4, {4, 8, 16, 0}}},
     NULL, NULL, 0, false,
     {{SPARQ_RULE_WORK_GROUP, "LINEAR_DENSE_WG", NULL, 0},
      {SPARQ_RULE_CANDIDATE, "LINEAR_DENSE_VW", NULL, 0}}},
    {"fill_dense_bias", "linear_dense.cl", 0, SPARQ_STRUCTURE_DENSE,
     "Y[b, m] = bias[m] or 0, for a peer GEMV/GEMM with beta = 1 to add onto",
     {{"LINEAR_DENSE_WG", 64, 64, {16, 32, 64, 0}}}, NULL, NULL, 0, false,
     {{SPARQ_RULE_WORK_GROUP, "LINEAR_DENSE_WG", NULL, 0}}},
    {"activate_dense_inplace", "linear_dense.cl", 0, SPARQ_STRUCTURE_DENSE,
     "y = act(y), the dense path's activation after its product",
     {{"LINEAR_DENSE_WG", 64, 64, {16, 32, 64, 0}}}, NULL, NULL, 0, false,
     {{SPARQ_RULE_WORK_GROUP, "LINEAR_DENSE_WG", NULL, 0}}},
};

const sparq_kernel_family sparq_kernels_dense = {dense_rows,
                                                 sizeof dense_rows / sizeof dense_rows[0]};
