/* SPDX-License-Identifier: Apache-2.0 */
/* linear.c - sparq_linear: argument checks, then the plan of (matrix, batch) from
 * host/plan.c run: the sparse path's kernel through its registry row, or the dense path
 * (the dense tiled kernel built for f32, or a dense GEMV) with its fused activation; and
 * sparq_matrix_prepare, which runs it once per batch so later calls build nothing.
 */
#include "matrix.h"
#include "linear_dense_q.h"
#include "plan.h"

#include <stdio.h>
#include <string.h>

#define OP "linear"

/* Kernel k of linear_dense_q.cl built for f32 with parameters p on the dense path's
 * weights, bound with `extra` arguments of its own to set (sparq_linear_bind): the
 * kernels are built for f32 whatever the packed matrix's encoding, because the dense
 * path's weights are always unpacked f32. They are SPARQ_ARRAY_DENSE; scales and zero
 * points bind as NULL buffers (a dense-path matrix has none; a matrix holding both paths
 * has the packed ones, which the f32 build never reads). */
static sparq_status dense_f32_kernel(const sparq_linear_args *a, const sparq_kernel_info *k,
                                     const sparq_kernel_params *p, cl_uint extra,
                                     cl_kernel *kernel)
{
    char options[256] = "-DSPARQ_ENCODING=SPARQ_ENCODING_F32 ";
    sparq_kernel_options_append(k, p, options, sizeof options);
    sparq_status st = sparq_kernel_create(a->matrix->ctx, k->name, options, kernel);
    if (st != SPARQ_OK)
        return st;
    static const sparq_matrix_array arrays[] = {SPARQ_ARRAY_DENSE, SPARQ_ARRAY_COUNT,
                                                SPARQ_ARRAY_COUNT};
    if ((st = sparq_linear_bind(*kernel, a, arrays, 3, extra))) {
        clReleaseKernel(*kernel);
        *kernel = NULL;
    }
    return st;
}

/* The dense path above batch 1: the dense tiled kernel on the f32 weights, bias and
 * activation fused (on PoCL 4-5x faster than CLBlast's SGEMM at batch 32-128: bench
 * numbers in the issue notes). */
static sparq_status run_dense_tiled(const sparq_linear_args *a, const sparq_kernel_params *p)
{
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_q_tiled");
    if (!k)
        return sparq_fail(SPARQ_ERROR_INTERNAL, OP ": linear_dense_q_tiled is not registered");
    cl_kernel kernel = NULL;
    sparq_status st = dense_f32_kernel(a, k, p, 0, &kernel);
    if (st != SPARQ_OK)
        return st;
    size_t global[2], local[2];
    sparq_dense_q_tiled_range(k, p, a->matrix->rows, a->batch, global, local);
    return sparq_linear_enqueue(a->matrix->ctx, k, a, kernel, global, local);
}

/* The dense path at batch <= 8 on a GPU: linear_dense_q_coop built for f32 on the dense
 * weights (a team of lanes per row, 16-byte loads: rows of cols floats start on 16
 * bytes when cols is a multiple of 4), bias and activation fused; at its defaults fitted
 * to the device. SPARQ_ERROR_UNSUPPORTED where it can't run (the caller then takes
 * sparq_linear_dense). */
static sparq_status run_dense_coop(const sparq_linear_args *a)
{
    const sparq_matrix *m = a->matrix;
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_q_coop");
    if (!k)
        return sparq_fail(SPARQ_ERROR_INTERNAL, OP ": linear_dense_q_coop is not registered");
    sparq_device_caps caps;
    sparq_kernel_params p;
    sparq_kernel_caps(m->ctx, k, &caps);
    sparq_kernel_default_params(k, &caps, &p);
    if (caps.type != SPARQ_DEVICE_TYPE_GPU || m->cols % 4 != 0 || a->batch > 8 ||
        sparq_dense_q_coop_local_bytes(k, &p) > caps.local_mem_bytes)
        return SPARQ_ERROR_UNSUPPORTED;
    cl_kernel kernel = NULL;
    sparq_status st = dense_f32_kernel(a, k, &p, 1, &kernel);
    if (st != SPARQ_OK)
        return st;
    if ((st = sparq_set_arg(kernel, 6, sparq_dense_q_coop_local_bytes(k, &p), NULL))) {
        clReleaseKernel(kernel);
        return st;
    }
    size_t global[2], local[2];
    sparq_dense_q_coop_range(k, &p, m->rows, global, local);
    return sparq_linear_enqueue(m->ctx, k, a, kernel, global, local);
}

sparq_status sparq_linear_run(const sparq_kernel_info *k, const sparq_kernel_params *p,
                              const sparq_linear_args *a)
{
    char why[256] = "";
    const sparq_matrix *m = a->matrix;
    if (m->path == SPARQ_PATH_DENSE && strcmp(k->name, "linear_dense_q_tiled") == 0)
        return run_dense_tiled(a, p); /* the dense path's own kernel above batch 1 */
    if (!sparq_kernel_runs_format(k, &m->format, m->quantize_activations) ||
        m->path == SPARQ_PATH_DENSE)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": %s does not run %s %s matrices%s",
                          k->name, sparq_structure_name(m->format.structure),
                          sparq_encoding_name(m->format.quant.encoding),
                          m->path == SPARQ_PATH_DENSE ? " held for the dense path" : "");
    if (sparq_kernel_rank(k, m, a->batch, &m->ctx->caps, p, why, sizeof why) == 0)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED, OP ": %s can't run this case: %s", k->name,
                          why);
    return k->enqueue(m->ctx, k, a, p);
}

/* The dense path: on a GPU up to batch 8 the cooperative kernel (unless tuned to
 * CLBlast); above batch 1 the dense tiled kernel (unless tuning found CLBlast faster and
 * the queue is in order: CLBlast takes no wait list); at batch 1 sparq_linear_dense (bias
 * fused), then the activation if any. */
static sparq_status run_dense(const sparq_linear_args *a, const sparq_plan *plan)
{
    const sparq_matrix *m = a->matrix;
    sparq_dense_backend backend = plan->dense_backend;
    if (backend == SPARQ_DENSE_BACKEND_CLBLAST && !sparq_queue_in_order(a->queue))
        backend = SPARQ_DENSE_BACKEND_AUTO;
    if (backend != SPARQ_DENSE_BACKEND_CLBLAST && m->ctx->caps.type == SPARQ_DEVICE_TYPE_GPU) {
        sparq_status st = run_dense_coop(a);
        if (st != SPARQ_ERROR_UNSUPPORTED)
            return st;
    }
    if (a->batch > 1 && backend != SPARQ_DENSE_BACKEND_CLBLAST)
        return run_dense_tiled(a, &plan->p);
    if (a->activation == SPARQ_ACTIVATION_NONE)
        return sparq_linear_dense(m->ctx, a->queue, backend, a->batch, m->rows,
                                  m->cols, a->x, a->x_offset, m->buf[SPARQ_ARRAY_DENSE], 0,
                                  a->bias, a->bias_offset, a->y, a->y_offset, a->num_wait,
                                  a->wait_list, a->event);
    cl_event product = NULL;
    sparq_status st = sparq_linear_dense(m->ctx, a->queue, backend, a->batch,
                                         m->rows, m->cols, a->x, a->x_offset,
                                         m->buf[SPARQ_ARRAY_DENSE], 0, a->bias, a->bias_offset,
                                         a->y, a->y_offset, a->num_wait, a->wait_list, &product);
    if (st != SPARQ_OK)
        return st;
    st = sparq_activate_dense(m->ctx, a->queue, a->batch * m->rows, a->activation, a->y,
                              a->y_offset, product, a->event);
    clReleaseEvent(product);
    return st;
}

sparq_status sparq_linear(sparq_matrix *m, cl_command_queue queue, cl_mem x, size_t x_offset,
                          cl_mem y, size_t y_offset, size_t batch,
                          const sparq_epilogue *epilogue, cl_uint num_wait,
                          const cl_event *wait_list, cl_event *event)
{
    if (event)
        *event = NULL;
    if (!m || !queue)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": NULL %s", m ? "queue" : "matrix");
    if (batch == 0 || batch > UINT32_MAX)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          OP ": batch %zu must be between 1 and 2^32 - 1", batch);
    if ((num_wait == 0) != (wait_list == NULL))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": num_wait is %u but wait_list is %s",
                          num_wait, wait_list ? "not NULL" : "NULL");
    sparq_epilogue ep = epilogue ? *epilogue : (sparq_epilogue){0};
    if (ep.activation != SPARQ_ACTIVATION_NONE && ep.activation != SPARQ_ACTIVATION_RELU &&
        ep.activation != SPARQ_ACTIVATION_GELU)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": unknown activation %d",
                          (int)ep.activation);
    if (batch > SIZE_MAX / m->cols || batch > SIZE_MAX / m->rows)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": batch %zu overflows size_t", batch);
    sparq_status st;
    if ((st = sparq_check_buffer(OP, "x", x, x_offset, batch * m->cols, sizeof(float))) ||
        (st = sparq_check_buffer(OP, "y", y, y_offset, batch * m->rows, sizeof(float))) ||
        (ep.bias &&
         (st = sparq_check_buffer(OP, "bias", ep.bias, ep.bias_offset, m->rows, sizeof(float)))) ||
        (st = sparq_check_disjoint(OP, "x", x, x_offset, batch * m->cols, "y", y, y_offset,
                                   batch * m->rows, sizeof(float))) ||
        (ep.bias && (st = sparq_check_disjoint(OP, "bias", ep.bias, ep.bias_offset, m->rows,
                                               "y", y, y_offset, batch * m->rows,
                                               sizeof(float)))))
        return st;

    sparq_linear_args a = {.matrix = m, .queue = queue, .batch = batch, .x = x,
                           .x_offset = x_offset, .y = y, .y_offset = y_offset, .bias = ep.bias,
                           .bias_offset = ep.bias_offset, .activation = (cl_uint)ep.activation,
                           .num_wait = num_wait, .wait_list = wait_list, .event = event};
    /* A build that allows fewer work-items a group than its plan launches (a GPU
     * lowers CL_KERNEL_WORK_GROUP_SIZE under register pressure) fails before launching
     * and notes the limit; the plan is then made again under it, once. */
    for (int attempt = 0;; attempt++) {
        uint_fast64_t refusals = atomic_load(&m->ctx->work_group_refusals);
        sparq_plan plan;
        if ((st = sparq_plan_get(m, batch, &plan)) != SPARQ_OK)
            return st;
        st = plan.dense ? run_dense(&a, &plan) : plan.k->enqueue(m->ctx, plan.k, &a, &plan.p);
        if (st == SPARQ_OK || attempt == 1 ||
            atomic_load(&m->ctx->work_group_refusals) == refusals)
            return st;
        sparq_plan_forget(m, batch);
    }
}

sparq_status sparq_matrix_prepare(sparq_matrix *m, cl_command_queue queue, const size_t *batches,
                                  size_t count)
{
    if (!m || (count > 0 && !batches))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "matrix_prepare: NULL %s",
                          m ? "batches" : "matrix");
    sparq_status st = SPARQ_OK;
    if (!queue && (st = sparq_context_queue_get(m->ctx, &queue)) != SPARQ_OK)
        return st; /* the OpenCL error that kept the context's queue from being created */
    size_t largest = 0;
    for (size_t i = 0; i < count; i++) {
        if (batches[i] == 0 || batches[i] > UINT32_MAX)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "matrix_prepare: batch %zu must be between 1 and 2^32 - 1",
                              batches[i]);
        largest = batches[i] > largest ? batches[i] : largest;
    }
    if (largest > SIZE_MAX / sizeof(float) / m->cols ||
        largest > SIZE_MAX / sizeof(float) / m->rows)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "matrix_prepare: batch %zu overflows",
                          largest);
    if (count == 0)
        return SPARQ_OK;
    /* one real call per batch on zeros, with a bias and an activation (the dense path's
     * activation kernel), so every kernel a call at that batch will use is built and
     * loaded; the scratch buffers go when the calls have run */
    cl_context cl = m->ctx->cl_ctx;
    cl_int err = CL_SUCCESS, err_y = CL_SUCCESS, err_b = CL_SUCCESS;
    size_t x_bytes = largest * m->cols * sizeof(float), y_bytes = largest * m->rows * sizeof(float);
    cl_mem x = clCreateBuffer(cl, CL_MEM_READ_WRITE, x_bytes, NULL, &err);
    cl_mem y = clCreateBuffer(cl, CL_MEM_READ_WRITE, y_bytes, NULL, &err_y);
    cl_mem bias = clCreateBuffer(cl, CL_MEM_READ_WRITE, m->rows * sizeof(float), NULL, &err_b);
    if (err != CL_SUCCESS || err_y != CL_SUCCESS || err_b != CL_SUCCESS)
        st = sparq_fail_cl(err != CL_SUCCESS ? err : err_y != CL_SUCCESS ? err_y : err_b,
                           "matrix_prepare: clCreateBuffer");
    const float zero = 0.0f;
    if (st == SPARQ_OK &&
        ((err = clEnqueueFillBuffer(queue, x, &zero, sizeof zero, 0, x_bytes, 0, NULL, NULL)) !=
             CL_SUCCESS ||
         (err = clEnqueueFillBuffer(queue, bias, &zero, sizeof zero, 0, m->rows * sizeof(float),
                                    0, NULL, NULL)) != CL_SUCCESS))
        st = sparq_fail_cl(err, "matrix_prepare: clEnqueueFillBuffer");
    const sparq_epilogue ep = {.bias = bias, .activation = SPARQ_ACTIVATION_RELU};
    for (size_t i = 0; i < count && st == SPARQ_OK; i++)
        st = sparq_linear(m, queue, x, 0, y, 0, batches[i], &ep, 0, NULL, NULL);
    /* out of order or not, every call has run before the buffers go */
    if ((err = clFinish(queue)) != CL_SUCCESS && st == SPARQ_OK)
        st = sparq_fail_cl(err, "matrix_prepare: clFinish");
    if (x)
        clReleaseMemObject(x);
    if (y)
        clReleaseMemObject(y);
    if (bias)
        clReleaseMemObject(bias);
    return st;
}
