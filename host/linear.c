/* linear.c - sparq_linear: argument checks, the plan of each (matrix, batch) from the
 * kernel registry and the tuning databases (tuned dense/sparse choice, tuned kernel,
 * tuned parameters; else the highest rank with defaults), the dense path with its fused
 * activation, and sparq_plan_explain.
 */
#include "matrix.h"
#include "ops.h"

#include <stdio.h>
#include <string.h>

#define OP "linear"

void sparq_matrix_shape_class(const sparq_matrix *m, size_t batch, char *out, size_t size)
{
    double per_row = m->format.structure == SPARQ_STRUCTURE_DENSE
                         ? (double)m->cols
                         : (double)m->stored / (double)m->rows;
    sparq_tune_shape_class(m->rows, m->cols, batch, per_row, out, size);
}

sparq_tune_source sparq_matrix_tuned_params(const sparq_matrix *m, const sparq_kernel_info *k,
                                            size_t batch, sparq_kernel_params *p,
                                            char *detail, size_t detail_size)
{
    sparq_tune_chain chain;
    sparq_context_tune_chain(m->ctx, &chain);
    sparq_tune_device device;
    sparq_tune_device_from_caps(&m->ctx->caps, &device);
    char shape[64], hash[17];
    sparq_source_hash_get(m->ctx, k->source, hash);
    /* the dense path runs its kernels on dense f32 weights whatever the packed format */
    bool dense_path = k->structure == SPARQ_STRUCTURE_DENSE &&
                      (m->path == SPARQ_PATH_DENSE || m->format.structure != SPARQ_STRUCTURE_DENSE);
    sparq_encoding encoding = dense_path ? SPARQ_ENCODING_F32 : m->format.quant.encoding;
    if (dense_path)
        sparq_tune_shape_class(m->rows, m->cols, batch, (double)m->cols, shape, sizeof shape);
    else
        sparq_matrix_shape_class(m, batch, shape, sizeof shape);
    return sparq_tune_lookup_params(&chain, &device, k, encoding, m->format.block_rows,
                                    m->format.block_cols, shape, hash, p, detail, detail_size);
}

/* Whether the tuned choice names kernel c as it is now: measured on the same kernel
 * file (a changed file may rank its kernels differently, or hold new ones). */
static bool tuned_kernel_pick(const sparq_matrix *m, const sparq_tune_choice_entry *choice,
                              const sparq_kernel_info *c)
{
    char hash[17];
    if (!choice || strcmp(choice->kernel, c->name) != 0)
        return false;
    sparq_source_hash_get(m->ctx, c->source, hash);
    return strcmp(choice->source_hash, hash) == 0;
}

/* The kernel and parameters of the sparse path: the tuned choice when the databases
 * name one that runs this case (tuned on the current kernel file), else the highest
 * rank; each kernel with its tuned parameters (or defaults, when tuned ones don't fit
 * this case). */
static sparq_status plan_kernel(const sparq_matrix *m, size_t batch,
                                const sparq_tune_choice_entry *choice, sparq_plan *plan)
{
    const sparq_device_caps *caps = &m->ctx->caps;
    int best_rank = 0;
    char reason[256], best_reason[256] = "", refused[512] = "";
    plan->k = NULL;
    for (size_t i = 0; i < sparq_kernel_count; i++) {
        const sparq_kernel_info *c = &sparq_kernels[i];
        if (!sparq_kernel_runs_format(c, &m->format, m->quantize_activations))
            continue;
        sparq_kernel_params p;
        char detail[192];
        sparq_tune_source source = sparq_matrix_tuned_params(m, c, batch, &p, detail,
                                                             sizeof detail);
        reason[0] = '\0';
        int r = sparq_kernel_params_fit(c, &p, caps, reason, sizeof reason)
                    ? c->rank(m, batch, caps, &p, reason, sizeof reason)
                    : 0;
        if (r == 0 && source != SPARQ_TUNE_SOURCE_BUILTIN) {
            source = SPARQ_TUNE_SOURCE_BUILTIN;
            snprintf(detail, sizeof detail, "built-in default (tuned values don't fit: %s)",
                     reason);
            sparq_kernel_default_params(c, caps, &p);
            r = c->rank(m, batch, caps, &p, reason, sizeof reason);
        }
        bool tuned_pick = r > 0 && tuned_kernel_pick(m, choice, c);
        if (r == 0) {
            size_t used = strlen(refused);
            snprintf(refused + used, sizeof refused - used, "%s%s (%s)", used ? "; " : "",
                     c->name, reason);
        } else if (r > best_rank || tuned_pick) {
            best_rank = tuned_pick ? INT32_MAX : r;
            plan->k = c;
            plan->p = p;
            plan->source = source;
            snprintf(plan->detail, sizeof plan->detail, "%s", detail);
            if (tuned_pick)
                snprintf(best_reason, sizeof best_reason, "fastest in tuning (%.1f us); %s",
                         choice->sparse_us, reason);
            else
                snprintf(best_reason, sizeof best_reason, "%s", reason);
        }
    }
    if (!plan->k)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                          OP ": no kernel runs this matrix at batch %zu: %s", batch,
                          refused[0] ? refused : "none registered for its structure");
    snprintf(plan->why, sizeof plan->why, "%s%s%s", best_reason,
             refused[0] ? "; not usable: " : "", refused);
    return SPARQ_OK;
}

bool sparq_matrix_tuned_choice(const sparq_matrix *m, size_t batch,
                               sparq_tune_choice_entry *choice, char *detail,
                               size_t detail_size)
{
    sparq_tune_chain chain;
    sparq_context_tune_chain(m->ctx, &chain);
    sparq_tune_device device;
    sparq_tune_device_from_caps(&m->ctx->caps, &device);
    char shape[64];
    sparq_matrix_shape_class(m, batch, shape, sizeof shape);
    sparq_tune_source source;
    return sparq_tune_lookup_choice(&chain, &device, &m->format, shape, choice, &source, detail,
                                    detail_size);
}

static sparq_status plan_build(sparq_matrix *m, size_t batch, sparq_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->batch = batch;
    sparq_tune_choice_entry choice;
    char detail[192] = "";
    bool tuned = m->path != SPARQ_PATH_DENSE && m->format.structure != SPARQ_STRUCTURE_DENSE &&
                 sparq_matrix_tuned_choice(m, batch, &choice, detail, sizeof detail);
    if (m->path == SPARQ_PATH_DENSE) {
        plan->dense = true;
        snprintf(plan->choice, sizeof plan->choice, "dense path: %s", m->path_reason);
    } else if (tuned && m->dense_copy) {
        plan->dense = choice.dense;
        if (strcmp(choice.dense_name, "clblast") == 0)
            plan->dense_backend = SPARQ_DENSE_BACKEND_CLBLAST;
        snprintf(plan->choice, sizeof plan->choice,
                 "%s path (tuned, %s): sparse %s %.1f us vs dense %s %.1f us, %s %.2fx "
                 "slower", choice.dense ? "dense" : "sparse", detail, choice.kernel,
                 choice.sparse_us, choice.dense_name, choice.dense_us,
                 choice.dense ? "sparse" : "dense",
                 choice.dense ? choice.sparse_us / choice.dense_us
                              : choice.dense_us / choice.sparse_us);
    } else if (m->dense_copy && m->rule_dense) {
        plan->dense = true;
        snprintf(plan->choice, sizeof plan->choice,
                 "dense path (no tuned class at batch %zu: the built-in rule, the packed "
                 "matrix moves at least the bytes of dense f32); %s", batch, m->path_reason);
    } else {
        /* AUTO without allow_dense_copy: where dense would win, say so and by how much */
        if (m->copy_declined && tuned && choice.dense)
            snprintf(plan->declined, sizeof plan->declined,
                     "dense path measured %.2fx faster; not held: set allow_dense_copy",
                     choice.sparse_us / choice.dense_us);
        else if (m->copy_declined && !tuned && m->rule_dense)
            snprintf(plan->declined, sizeof plan->declined,
                     "the built-in rule prefers the dense path at batch %zu; not held: set "
                     "allow_dense_copy", batch);
        snprintf(plan->choice, sizeof plan->choice, "sparse path%s%s%s: %s",
                 plan->declined[0] ? " (" : "", plan->declined, plan->declined[0] ? ")" : "",
                 m->path_reason);
    }
    if (plan->dense) {
        const sparq_kernel_info *k = sparq_kernel_find(batch > 1 ? "linear_dense_q_tiled"
                                                                 : "linear_dense_rowdot");
        plan->k = k;
        plan->source = sparq_matrix_tuned_params(m, k, batch, &plan->p, plan->detail,
                                                 sizeof plan->detail);
        return SPARQ_OK;
    }
    return plan_kernel(m, batch, tuned ? &choice : NULL, plan);
}

sparq_status sparq_plan_get(sparq_matrix *m, size_t batch, sparq_plan *plan)
{
    sparq_plan *slot = &m->plans[batch % SPARQ_PLAN_SLOTS];
    pthread_mutex_lock(&m->plan_lock);
    if (slot->batch == batch) {
        *plan = *slot;
        pthread_mutex_unlock(&m->plan_lock);
        return SPARQ_OK;
    }
    pthread_mutex_unlock(&m->plan_lock);
    sparq_status st = plan_build(m, batch, plan);
    if (st != SPARQ_OK)
        return st;
    pthread_mutex_lock(&m->plan_lock);
    *slot = *plan;
    pthread_mutex_unlock(&m->plan_lock);
    return SPARQ_OK;
}

/* The dense path above batch 1: the dense tiled kernel on the f32 weights, bias and
 * activation fused (on PoCL 4-5x faster than CLBlast's SGEMM at batch 32-128: bench
 * numbers in the issue notes). The kernel is built for f32 whatever the packed
 * matrix's encoding, because the dense path's weights are always unpacked f32. */
static sparq_status run_dense_tiled(const sparq_linear_args *a, const sparq_kernel_params *p)
{
    const sparq_matrix *m = a->matrix;
    const sparq_kernel_info *k = sparq_kernel_find("linear_dense_q_tiled");
    if (!k)
        return sparq_fail(SPARQ_ERROR_INTERNAL, OP ": linear_dense_q_tiled is not registered");
    char options[256] = "-DSPARQ_ENCODING=0 ";
    sparq_kernel_options_append(k, p, options, sizeof options);
    cl_kernel kernel = NULL;
    sparq_status st = sparq_kernel_create(m->ctx, k->name, options, &kernel);
    if (st != SPARQ_OK)
        return st;
    /* the dense f32 weights are SPARQ_ARRAY_DENSE; scales and zero points bind as NULL
     * buffers (a dense-path matrix has none; a matrix holding both paths has the packed
     * ones, which the f32 build never reads) */
    static const sparq_matrix_array arrays[] = {SPARQ_ARRAY_DENSE, SPARQ_ARRAY_COUNT,
                                                SPARQ_ARRAY_COUNT};
    if ((st = sparq_linear_bind(kernel, a, arrays, 3, 0))) {
        clReleaseKernel(kernel);
        return st;
    }
    size_t global[2], local[2];
    sparq_dense_q_tiled_range(k, p, m->rows, a->batch, global, local);
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
    if (k->rank(m, a->batch, &m->ctx->caps, p, why, sizeof why) == 0)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED, OP ": %s can't run this case: %s", k->name,
                          why);
    return k->enqueue(m->ctx, k, a, p);
}

/* The dense path: above batch 1 the dense tiled kernel (unless tuning found CLBlast
 * faster); at batch 1 sparq_linear_dense (bias fused), then the activation if any. */
static sparq_status run_dense(const sparq_linear_args *a, const sparq_plan *plan)
{
    const sparq_matrix *m = a->matrix;
    if (a->batch > 1 && plan->dense_backend != SPARQ_DENSE_BACKEND_CLBLAST)
        return run_dense_tiled(a, &plan->p);
    if (a->activation == SPARQ_ACTIVATION_NONE)
        return sparq_linear_dense(m->ctx, a->queue, plan->dense_backend, a->batch, m->rows,
                                  m->cols, a->x, a->x_offset, m->buf[SPARQ_ARRAY_DENSE], 0,
                                  a->bias, a->bias_offset, a->y, a->y_offset, a->num_wait,
                                  a->wait_list, a->event);
    cl_event product = NULL;
    sparq_status st = sparq_linear_dense(m->ctx, a->queue, plan->dense_backend, a->batch,
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
    sparq_plan plan;
    if ((st = sparq_plan_get(m, batch, &plan)) != SPARQ_OK)
        return st;
    return plan.dense ? run_dense(&a, &plan) : plan.k->enqueue(m->ctx, plan.k, &a, &plan.p);
}

/* Bytes in words: "812 B", "6.1 kB", "1.8 MB", "4.29 GB" (powers of 1000). */
static void bytes_text(uint64_t bytes, char *out, size_t size)
{
    double b = (double)bytes;
    if (b < 1e3)
        snprintf(out, size, "%llu B", (unsigned long long)bytes);
    else if (b < 1e6)
        snprintf(out, size, "%.1f kB", b / 1e3);
    else if (b < 1e9)
        snprintf(out, size, "%.1f MB", b / 1e6);
    else
        snprintf(out, size, "%.2f GB", b / 1e9);
}

/* What m holds on the device: "holds: packed arrays 1.8 MB", "holds: packed arrays
 * 1.8 MB + dense f32 copy 2.4 MB", "holds: dense f32 weights 2.4 MB". */
static void holds_text(const sparq_matrix *m, char *out, size_t size)
{
    char packed[32], dense[32];
    uint64_t packed_held = m->device_bytes - m->dense_bytes_held;
    bytes_text(packed_held, packed, sizeof packed);
    bytes_text(m->dense_bytes_held, dense, sizeof dense);
    if (m->dense_bytes_held == 0) {
        snprintf(out, size, "holds: packed arrays %s", packed);
    } else if (packed_held > 0) {
        snprintf(out, size, "holds: packed arrays %s + dense f32 copy %s", packed, dense);
    } else if (m->format.structure == SPARQ_STRUCTURE_DENSE &&
               m->format.quant.encoding == SPARQ_ENCODING_F32) {
        snprintf(out, size, "holds: dense f32 weights %s", dense);
    } else {
        bytes_text(m->packed_bytes, packed, sizeof packed);
        snprintf(out, size, "holds: dense f32 weights %s (instead of the packed arrays, %s)",
                 dense, packed);
    }
}

sparq_status sparq_plan_explain(const sparq_matrix *m, size_t batch, char *text, size_t size)
{
    if (!m || !text || size == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "plan_explain: NULL %s or empty text",
                          m ? "text" : "matrix");
    text[0] = '\0';
    if (batch == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "plan_explain: batch must be positive");
    sparq_plan plan;
    /* the plan cache is the matrix's internal state, not what const protects */
    sparq_status st = sparq_plan_get((sparq_matrix *)m, batch, &plan);
    if (st != SPARQ_OK)
        return st;
    char params[256] = "";
    sparq_kernel_options_append(plan.k, &plan.p, params, sizeof params);
    const char *tuned = plan.source == SPARQ_TUNE_SOURCE_BUILTIN ? "default" : "tuned";
    char holds[160];
    holds_text(m, holds, sizeof holds);
    if (plan.dense)
        snprintf(text, size, "%s; %s; at batch %zu %s with %s (%s: %s)", plan.choice, holds,
                 batch,
                 plan.dense_backend == SPARQ_DENSE_BACKEND_CLBLAST ? "CLBlast"
                 : batch == 1 ? "linear_dense_rowdot (one pass over the rows)"
                              : "linear_dense_q_tiled built for f32 (each weight used for a "
                                "tile of batch rows)",
                 params, tuned, plan.detail);
    else
        snprintf(text, size, "%s; %s; kernel %s with %s (%s: %s); chosen because %s",
                 plan.choice, holds, plan.k->name, params[0] ? params : "no parameters", tuned,
                 plan.detail, plan.why);
    return SPARQ_OK;
}
