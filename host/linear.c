/* linear.c - sparq_linear: argument checks, dispatch over the kernel registry (the
 * highest-ranked kernel of the matrix's structure), the dense path with its fused
 * activation, and sparq_plan_explain.
 */
#include "matrix.h"

#include <stdio.h>
#include <string.h>

#define OP "linear"

sparq_status sparq_dispatch(const sparq_matrix *m, size_t batch, const sparq_kernel_info **k,
                            sparq_kernel_params *p, char *why, size_t why_size)
{
    const sparq_device_caps *caps = &m->ctx->caps;
    int best_rank = 0;
    char reason[256], best_reason[256] = "", refused[512] = "";
    *k = NULL;
    for (size_t i = 0; i < sparq_kernel_count; i++) {
        const sparq_kernel_info *c = &sparq_kernels[i];
        if (!sparq_kernel_runs_format(c, &m->format, m->quantize_activations))
            continue;
        reason[0] = '\0';
        int r = c->rank(m, batch, caps, reason, sizeof reason);
        if (r > best_rank) {
            best_rank = r;
            *k = c;
            snprintf(best_reason, sizeof best_reason, "%s", reason);
        } else if (r == 0) {
            size_t used = strlen(refused);
            snprintf(refused + used, sizeof refused - used, "%s%s (%s)", used ? "; " : "",
                     c->name, reason);
        }
    }
    if (!*k)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED, OP ": no kernel runs this matrix at batch %zu: %s",
                          batch, refused[0] ? refused : "none registered for its structure");
    sparq_kernel_default_params(*k, caps, p);
    snprintf(why, why_size, "%s%s%s", best_reason, refused[0] ? "; not usable: " : "", refused);
    return SPARQ_OK;
}

sparq_status sparq_linear_run(const sparq_kernel_info *k, const sparq_kernel_params *p,
                              const sparq_linear_args *a)
{
    char why[256] = "";
    if (!sparq_kernel_runs_format(k, &a->matrix->format, a->matrix->quantize_activations))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": %s does not run %s %s matrices",
                          k->name, sparq_structure_name(a->matrix->format.structure),
                          sparq_encoding_name(a->matrix->format.quant.encoding));
    if (k->rank(a->matrix, a->batch, &a->matrix->ctx->caps, why, sizeof why) == 0)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED, OP ": %s can't run this case: %s", k->name,
                          why);
    return k->enqueue(a->matrix->ctx, k, a, p);
}

/* The dense path above batch 1: the dense tiled kernel on the f32 weights, bias and
 * activation fused (on PoCL 4-5x faster than CLBlast's SGEMM at batch 32-128: bench
 * numbers in the issue notes). The kernel is built for f32 whatever the packed
 * matrix's encoding, because the dense path's weights are always unpacked f32. */
static sparq_status run_dense_tiled(const sparq_linear_args *a)
{
    const sparq_matrix *m = a->matrix;
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_q_tiled");
    if (!k)
        return sparq_fail(SPARQ_ERROR_INTERNAL, OP ": linear_dense_q_tiled is not registered");
    sparq_kernel_params p;
    sparq_kernel_default_params(k, &m->ctx->caps, &p);
    char options[256] = "-DSPARQ_ENCODING=0 ";
    sparq_kernel_options_append(k, &p, options, sizeof options);
    cl_kernel kernel = NULL;
    sparq_status st = sparq_kernel_create(m->ctx, k->name, options, &kernel);
    if (st != SPARQ_OK)
        return st;
    /* a dense-path matrix holds only SPARQ_ARRAY_DENSE: scales and zero points bind as
     * NULL buffers */
    static const sparq_matrix_array arrays[] = {SPARQ_ARRAY_DENSE, SPARQ_ARRAY_SCALES,
                                                SPARQ_ARRAY_ZERO_POINTS};
    if ((st = sparq_linear_bind(kernel, a, arrays, 3, 0))) {
        clReleaseKernel(kernel);
        return st;
    }
    size_t wg = sparq_kernel_param(k, &p, "QTILE_WG"), tb = sparq_kernel_param(k, &p, "QTILE_TB");
    size_t local[2] = {wg, 1};
    size_t global[2] = {sparq_round_up(m->rows, wg), (a->batch + tb - 1) / tb};
    return sparq_linear_enqueue(m->ctx, k, a, kernel, global, local);
}

/* The dense path: at batch 1 sparq_linear_dense (bias fused) then the activation if
 * any; above, the dense tiled kernel. */
static sparq_status run_dense(const sparq_linear_args *a)
{
    const sparq_matrix *m = a->matrix;
    if (a->batch > 1)
        return run_dense_tiled(a);
    if (a->activation == SPARQ_ACTIVATION_NONE)
        return sparq_linear_dense(m->ctx, a->queue, SPARQ_DENSE_BACKEND_AUTO, a->batch, m->rows,
                                  m->cols, a->x, a->x_offset, m->buf[SPARQ_ARRAY_DENSE], 0,
                                  a->bias, a->bias_offset, a->y, a->y_offset, a->num_wait,
                                  a->wait_list, a->event);
    cl_event product = NULL;
    sparq_status st = sparq_linear_dense(m->ctx, a->queue, SPARQ_DENSE_BACKEND_AUTO, a->batch,
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
         (st = sparq_check_buffer(OP, "bias", ep.bias, ep.bias_offset, m->rows, sizeof(float)))))
        return st;

    sparq_linear_args a = {.matrix = m, .queue = queue, .batch = batch, .x = x,
                           .x_offset = x_offset, .y = y, .y_offset = y_offset, .bias = ep.bias,
                           .bias_offset = ep.bias_offset, .activation = (cl_uint)ep.activation,
                           .num_wait = num_wait, .wait_list = wait_list, .event = event};
    if (m->path == SPARQ_PATH_DENSE)
        return run_dense(&a);
    const sparq_kernel_info *k = NULL;
    sparq_kernel_params p;
    char why[1024];
    if ((st = sparq_dispatch(m, batch, &k, &p, why, sizeof why)) != SPARQ_OK)
        return st;
    return k->enqueue(m->ctx, k, &a, &p);
}

sparq_status sparq_plan_explain(const sparq_matrix *m, size_t batch, char *text, size_t size)
{
    if (!m || !text || size == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "plan_explain: NULL %s or empty text",
                          m ? "text" : "matrix");
    text[0] = '\0';
    if (batch == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "plan_explain: batch must be positive");
    if (m->path == SPARQ_PATH_DENSE) {
        snprintf(text, size,
                 "dense path: %s; weights held as dense f32; %s at batch %zu",
                 m->path_reason,
                 batch == 1 ? "linear_dense_rowdot (one pass over the rows)"
                            : "linear_dense_q_tiled built for f32 (each weight used for a tile "
                              "of batch rows)",
                 batch);
        return SPARQ_OK;
    }
    const sparq_kernel_info *k = NULL;
    sparq_kernel_params p;
    char why[1024], params[256] = "";
    sparq_status st = sparq_dispatch(m, batch, &k, &p, why, sizeof why);
    if (st != SPARQ_OK)
        return st;
    sparq_kernel_options_append(k, &p, params, sizeof params);
    snprintf(text, size,
             "sparse path: %s; kernel %s with %s (defaults for a %s device; not tuned); "
             "chosen because %s",
             m->path_reason, k->name, params[0] ? params : "no parameters",
             m->ctx->caps.type == SPARQ_DEVICE_TYPE_GPU ? "GPU" : "non-GPU", why);
    return SPARQ_OK;
}
