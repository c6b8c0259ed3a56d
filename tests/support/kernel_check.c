/* SPDX-License-Identifier: Apache-2.0 */
/* kernel_check.c - the device kernel tests' shared runs and checks (see kernel_check.h). */
#include "kernel_check.h"
#include "ref/linear_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

bool testing_small_mode(void)
{
    const char *env = getenv("SPARQ_TEST_SMALL");
    return env && strcmp(env, "1") == 0;
}

sparq_matrix *testing_matrix(sparq_context *ctx, const sparq_pack_options *pack, size_t rows,
                             size_t cols, const float *w, const sparq_matrix_options *mo,
                             const char *label, float *unpacked, sparq_packed **packed_out)
{
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_create(pack, rows, cols, w, &packed), SPARQ_OK);
    if (unpacked)
        assert_int_equal(sparq_packed_unpack(packed, unpacked), SPARQ_OK);
    sparq_matrix *m = NULL;
    if (sparq_matrix_create(ctx, packed, mo, &m) != SPARQ_OK)
        fail_msg("%s: matrix_create: %s", label, sparq_last_error());
    if (packed_out)
        *packed_out = packed;
    else
        sparq_packed_free(packed);
    return m;
}

/* params, or k's defaults on ctx's device when NULL. */
static sparq_kernel_params params_of(sparq_context *ctx, const sparq_kernel_info *k,
                                     const sparq_kernel_params *params)
{
    sparq_kernel_params p;
    sparq_kernel_default_params(k, &ctx->caps, &p);
    return params ? *params : p;
}

sparq_status testing_run_kernel(sparq_context *ctx, sparq_matrix *m, const sparq_kernel_info *k,
                                const sparq_kernel_params *params, size_t batch, cl_mem x,
                                cl_mem y, cl_mem bias, int act, cl_event *event)
{
    cl_command_queue q = sparq_context_queue(ctx);
    if (!k) {
        sparq_epilogue ep = {.bias = bias, .activation = (sparq_activation)act};
        return sparq_linear(m, q, x, 0, y, 0, batch, &ep, 0, NULL, event);
    }
    sparq_kernel_params p = params_of(ctx, k, params);
    sparq_linear_args a = {.matrix = m, .queue = q, .batch = batch, .x = x, .y = y,
                           .bias = bias, .activation = (cl_uint)act, .event = event};
    return sparq_linear_run(k, &p, &a);
}

int testing_check_linear(sparq_context *ctx, sparq_matrix *m, const float *w,
                         const testing_linear_run *run, float *out)
{
    const sparq_kernel_info *k = run->kernel;
    size_t rows = m->rows, cols = m->cols, batch = run->batch;
    if (k && run->skip_refused) {
        sparq_kernel_params p = params_of(ctx, k, run->params);
        char why[256];
        if (sparq_kernel_rank(k, m, batch, &ctx->caps, &p, why, sizeof why) == 0)
            return 0;
    }
    float *x = malloc(batch * cols * sizeof *x), *bias = malloc(rows * sizeof *bias);
    float *y = malloc(batch * rows * sizeof *y), *ref = malloc(batch * rows * sizeof *ref);
    assert_non_null(x), assert_non_null(bias), assert_non_null(y), assert_non_null(ref);
    if (run->x_mean != 0.0f)
        testing_fill_normal(x, batch * cols, run->seed + batch, run->x_mean, 1.0f);
    else
        testing_fill_uniform(x, batch * cols, run->seed + batch, -1, 1);
    testing_fill_uniform(bias, rows, run->seed + 1, -0.5f, 0.5f);
    for (size_t i = 0; i < batch * rows; i++)
        y[i] = NAN;
    bool with_bias = run->activation != 0 || batch % 2 == 1;
    ref_linear_act(batch, rows, cols, x, w, with_bias ? bias : NULL, run->activation, ref);

    cl_mem dx = testing_buffer(ctx, x, batch * cols), db = testing_buffer(ctx, bias, rows);
    cl_mem dy = testing_buffer(ctx, y, batch * rows);
    cl_event ev = NULL;
    if (testing_run_kernel(ctx, m, k, run->params, batch, dx, dy, with_bias ? db : NULL,
                           run->activation, &ev) != SPARQ_OK)
        fail_msg("%s %s batch %zu: %s", run->label, k ? k->name : "dispatch", batch,
                 sparq_last_error());
    testing_read(ctx, dy, y, batch * rows, ev);
    clReleaseEvent(ev);
    double err = ref_max_rel_error(y, ref, batch * rows);
    if (!(err <= run->tol))
        fail_msg("%s %s batch %zu act %d: max rel error %g", run->label,
                 k ? k->name : "dispatch", batch, run->activation, err);
    if (out)
        memcpy(out, y, batch * rows * sizeof *y);
    clReleaseMemObject(dx), clReleaseMemObject(db), clReleaseMemObject(dy);
    free(x), free(bias), free(y), free(ref);
    return 1;
}

void testing_expect_launches(sparq_context *ctx, const sparq_context_stats *before, size_t runs,
                             const char *label)
{
    sparq_context_stats after;
    sparq_context_get_stats(ctx, &after);
    if (runs == 0 || after.kernel_launches < before->kernel_launches + runs)
        fail_msg("%s: %zu runs but %llu launches: no kernel ran", label, runs,
                 (unsigned long long)(after.kernel_launches - before->kernel_launches));
}
