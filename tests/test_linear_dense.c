/* SPDX-License-Identifier: Apache-2.0 */
/* test_linear_dense.c - dense f32 Y = X W^T (+bias) through sparq's kernel and
 * CLBlast against the C reference: shapes, offsets, guards, NaN-filled outputs,
 * repeatable bits, wait lists and events on in-order and out-of-order queues, and
 * every kind of bad input.
 */
#include "testing.h"

#include "ref/linear_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Tolerance, relative to max(1, |Y|max): f32 accumulation over K against double. */
#define TOL_F32 1e-5

static const sparq_dense_backend backends[] = {SPARQ_DENSE_BACKEND_SPARQ,
                                               SPARQ_DENSE_BACKEND_CLBLAST};

typedef struct setup {
    size_t batch, rows, cols;
    size_t x_off, w_off, b_off, y_off; /* element offsets into bigger buffers */
    int with_bias;
} setup;

#define GUARD 8 /* floats after each operand that must stay untouched */

/* Whether st is CLBlast saying its kernels want larger work-groups than the device has
 * (its defaults use 64: the small-device run, POCL_MAX_WORK_GROUP_SIZE=32). */
static bool clblast_too_big(const sparq_context *ctx, sparq_dense_backend backend,
                            sparq_status st)
{
    return backend == SPARQ_DENSE_BACKEND_CLBLAST && st == SPARQ_ERROR_UNSUPPORTED &&
           ctx->caps.max_work_group_size < 64 && strstr(sparq_last_error(), "CLBlast");
}

/* Runs one case on one backend and checks values and guards; returns the output. */
static void run_case(sparq_context *ctx, cl_command_queue q, sparq_dense_backend backend,
                     const setup *s, float *out)
{
    size_t nx = s->x_off + s->batch * s->cols + GUARD, nw = s->w_off + s->rows * s->cols + GUARD;
    size_t nb = s->b_off + s->rows + GUARD, ny = s->y_off + s->batch * s->rows + GUARD;
    float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc(nb * sizeof *b);
    float *y = malloc(ny * sizeof *y), *ref = malloc(s->batch * s->rows * sizeof *ref);
    assert_non_null(x), assert_non_null(w), assert_non_null(b), assert_non_null(y);
    testing_fill_uniform(x, nx, 1 + s->cols, -1, 1);
    testing_fill_uniform(w, nw, 2 + s->rows, -1, 1);
    testing_fill_uniform(b, nb, 3, -2, 2);
    for (size_t i = 0; i < ny; i++)
        y[i] = NAN; /* an output never read before written */
    ref_linear_f32(s->batch, s->rows, s->cols, x + s->x_off, w + s->w_off,
                   s->with_bias ? b + s->b_off : NULL, ref);

    cl_mem dx = testing_buffer(ctx, x, nx), dw = testing_buffer(ctx, w, nw);
    cl_mem db = testing_buffer(ctx, b, nb), dy = testing_buffer(ctx, y, ny);
    sparq_context_stats before, after;
    sparq_context_get_stats(ctx, &before);
    cl_event ev = NULL;
    sparq_status st = sparq_linear_dense(ctx, q, backend, s->batch, s->rows, s->cols, dx,
                                         s->x_off, dw, s->w_off, s->with_bias ? db : NULL,
                                         s->b_off, dy, s->y_off, 0, NULL, &ev);
    if (clblast_too_big(ctx, backend, st)) {
        clReleaseMemObject(dx), clReleaseMemObject(dw), clReleaseMemObject(db);
        clReleaseMemObject(dy);
        free(x), free(w), free(b), free(y), free(ref);
        return;
    }
    assert_int_equal(st, SPARQ_OK);
    assert_non_null(ev);
    testing_read(ctx, dy, y, ny, ev);
    clReleaseEvent(ev);
    sparq_context_get_stats(ctx, &after);
    if (backend == SPARQ_DENSE_BACKEND_SPARQ) {
        assert_int_equal(after.kernel_launches, before.kernel_launches + 1);
    } else if (backend == SPARQ_DENSE_BACKEND_CLBLAST) {
        assert_int_equal(after.peer_calls, before.peer_calls + 1);
        assert_int_equal(after.kernel_launches, before.kernel_launches + 1); /* the Y fill */
    }
    double err = ref_max_rel_error(y + s->y_off, ref, s->batch * s->rows);
    if (!(err <= TOL_F32))
        fail_msg("backend %d, batch %zu rows %zu cols %zu bias %d: max rel error %g", backend,
                 s->batch, s->rows, s->cols, s->with_bias, err);
    for (size_t i = 0; i < s->y_off; i++)
        assert_true(isnan(y[i])); /* nothing written before the offset ... */
    for (size_t i = s->y_off + s->batch * s->rows; i < ny; i++)
        assert_true(isnan(y[i])); /* ... or after the end */
    if (out)
        memcpy(out, y + s->y_off, s->batch * s->rows * sizeof *out);
    clReleaseMemObject(dx), clReleaseMemObject(dw), clReleaseMemObject(db), clReleaseMemObject(dy);
    free(x), free(w), free(b), free(y), free(ref);
}

static void shapes_match_reference(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    cl_command_queue q = sparq_context_queue(ctx);
    const setup cases[] = {
        {1, 1, 1, 0, 0, 0, 0, 1},       {1, 37, 53, 0, 0, 0, 0, 0},
        {3, 64, 129, 0, 0, 0, 0, 1},    {17, 100, 33, 0, 0, 0, 0, 1},
        {5, 7, 1, 0, 0, 0, 0, 0},       {1, 1, 1000, 0, 0, 0, 0, 1},
        {2, 65, 64, 3, 5, 2, 7, 1},     {128, 16, 48, 1, 1, 1, 1, 0},
        {1, 257, 300, 11, 0, 4, 13, 1},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++)
        for (size_t b = 0; b < 2; b++)
            run_case(ctx, q, backends[b], &cases[c], NULL);
    sparq_context_free(ctx);
}

/* AUTO: sparq's kernel at small batch, CLBlast's GEMM above batch 8. */
static void auto_backend_choice(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    cl_command_queue q = sparq_context_queue(ctx);
    const setup small = {8, 20, 30, 0, 0, 0, 0, 1}, large = {9, 20, 30, 0, 0, 0, 0, 1};
    sparq_context_stats s0, s1, s2;
    sparq_context_get_stats(ctx, &s0);
    run_case(ctx, q, SPARQ_DENSE_BACKEND_AUTO, &small, NULL);
    sparq_context_get_stats(ctx, &s1);
    assert_int_equal(s1.peer_calls, s0.peer_calls);
    assert_int_equal(s1.kernel_launches, s0.kernel_launches + 1);
    run_case(ctx, q, SPARQ_DENSE_BACKEND_AUTO, &large, NULL);
    sparq_context_get_stats(ctx, &s2);
    assert_int_equal(s2.peer_calls, s1.peer_calls + 1);
    sparq_context_free(ctx);
}

static void same_bits_every_run(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    cl_command_queue q = sparq_context_queue(ctx);
    const setup s = {9, 70, 513, 0, 0, 0, 0, 1};
    float first[9 * 70], second[9 * 70];
    run_case(ctx, q, SPARQ_DENSE_BACKEND_SPARQ, &s, first);
    run_case(ctx, q, SPARQ_DENSE_BACKEND_SPARQ, &s, second);
    assert_memory_equal(first, second, sizeof first);
    sparq_context_free(ctx);
}

/* The call must not start before its wait list completes, and must signal its event. */
static void waits_for_events(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    cl_context cl = sparq_context_cl_context(ctx);
    cl_int err = CL_SUCCESS;
    cl_command_queue ooo = clCreateCommandQueue(cl, sparq_context_cl_device(ctx),
                                                CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    if (err != CL_SUCCESS) /* out-of-order is optional in OpenCL: fall back to in-order */
        ooo = clCreateCommandQueue(cl, sparq_context_cl_device(ctx), 0, &err);
    assert_int_equal(err, CL_SUCCESS);

    for (size_t b = 0; b < 2; b++) {
        enum { B = 4, M = 33, K = 20 };
        float x[B * K], w[M * K], bias[M], y[B * M], ref[B * M];
        testing_fill_uniform(x, B * K, 7, -1, 1);
        testing_fill_uniform(w, M * K, 8, -1, 1);
        testing_fill_uniform(bias, M, 9, -1, 1);
        ref_linear_f32(B, M, K, x, w, bias, ref);
        cl_mem dx = testing_buffer(ctx, NULL, B * K), dw = testing_buffer(ctx, w, M * K);
        cl_mem db = testing_buffer(ctx, bias, M), dy = testing_buffer(ctx, NULL, B * M);

        /* X arrives through a write that waits on a user event: gated until we say so */
        cl_event gate = clCreateUserEvent(cl, &err);
        assert_int_equal(err, CL_SUCCESS);
        cl_event written = NULL, done = NULL;
        assert_int_equal(clEnqueueWriteBuffer(ooo, dx, CL_FALSE, 0, sizeof x, x, 1, &gate,
                                              &written),
                         CL_SUCCESS);
        sparq_status st = sparq_linear_dense(ctx, ooo, backends[b], B, M, K, dx, 0, dw, 0, db,
                                             0, dy, 0, 1, &written, &done);
        if (clblast_too_big(ctx, backends[b], st)) {
            clSetUserEventStatus(gate, CL_COMPLETE);
            clFinish(ooo);
            clReleaseEvent(gate), clReleaseEvent(written);
            clReleaseMemObject(dx), clReleaseMemObject(dw), clReleaseMemObject(db);
            clReleaseMemObject(dy);
            continue;
        }
        assert_int_equal(st, SPARQ_OK);
        clFlush(ooo);
        usleep(20000);
        cl_int status = 0;
        clGetEventInfo(done, CL_EVENT_COMMAND_EXECUTION_STATUS, sizeof status, &status, NULL);
        assert_true(status != CL_COMPLETE); /* still held back by the gate */
        clSetUserEventStatus(gate, CL_COMPLETE);
        assert_int_equal(clWaitForEvents(1, &done), CL_SUCCESS);
        assert_int_equal(clEnqueueReadBuffer(ooo, dy, CL_TRUE, 0, sizeof y, y, 1, &done, NULL),
                         CL_SUCCESS);
        assert_true(ref_max_rel_error(y, ref, B * M) <= TOL_F32);
        clReleaseEvent(gate), clReleaseEvent(written), clReleaseEvent(done);
        clReleaseMemObject(dx), clReleaseMemObject(dw), clReleaseMemObject(db);
        clReleaseMemObject(dy);
    }
    clReleaseCommandQueue(ooo);
    sparq_context_free(ctx);
}

/* AUTO keeps CLBlast (which takes no wait list and would need a barrier) off an
 * out-of-order queue: at batch 9 it runs sparq's own kernel there, CLBlast on the
 * in-order queue. */
static void auto_out_of_order_stays_own(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    cl_int err = CL_SUCCESS;
    cl_command_queue ooo = clCreateCommandQueue(sparq_context_cl_context(ctx),
                                                sparq_context_cl_device(ctx),
                                                CL_QUEUE_OUT_OF_ORDER_EXEC_MODE_ENABLE, &err);
    if (err != CL_SUCCESS) { /* out-of-order is optional in OpenCL */
        sparq_context_free(ctx);
        return;
    }
    const setup large = {9, 20, 30, 0, 0, 0, 0, 1};
    sparq_context_stats s0, s1;
    sparq_context_get_stats(ctx, &s0);
    run_case(ctx, ooo, SPARQ_DENSE_BACKEND_AUTO, &large, NULL);
    sparq_context_get_stats(ctx, &s1);
    assert_int_equal(s1.peer_calls, s0.peer_calls);
    assert_int_equal(s1.kernel_launches, s0.kernel_launches + 1);
    clReleaseCommandQueue(ooo);
    sparq_context_free(ctx);
}

/* CLBlast keeps the programs it built, each holding the cl_context, in a process-wide
 * cache: sparq_context_free clears it, so the engine's context is back to its own one
 * reference after every cycle of wrap, CLBlast GEMV and GEMM, free: 4 cycles, or
 * SPARQ_TEST_CYCLES, which also prints the resident memory after each. */
static void clblast_lets_contexts_go(void **state)
{
    (void)state;
    sparq_context *first = testing_context(NULL);
    cl_device_id device = sparq_context_cl_device(first);
    const char *env = getenv("SPARQ_TEST_CYCLES");
    int cycles = env ? atoi(env) : 4;
    for (int c = 0; c < cycles; c++) {
        cl_int err = CL_SUCCESS;
        cl_context cl = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
        assert_int_equal(err, CL_SUCCESS);
        sparq_context *ctx = NULL;
        assert_int_equal(sparq_context_wrap(cl, device, NULL, &ctx), SPARQ_OK);
        const setup gemv = {1, 20, 30, 0, 0, 0, 0, 1}, gemm = {9, 20, 30, 0, 0, 0, 0, 1};
        run_case(ctx, sparq_context_queue(ctx), SPARQ_DENSE_BACKEND_CLBLAST, &gemv, NULL);
        run_case(ctx, sparq_context_queue(ctx), SPARQ_DENSE_BACKEND_CLBLAST, &gemm, NULL);
        sparq_context_free(ctx);
        /* PoCL lets go of a finished command's references from its own threads: give
         * it up to a second */
        cl_uint refs = 0;
        for (int wait = 0; wait < 100 && refs != 1; wait++) {
            if (wait)
                usleep(10000);
            assert_int_equal(clGetContextInfo(cl, CL_CONTEXT_REFERENCE_COUNT, sizeof refs,
                                              &refs, NULL),
                             CL_SUCCESS);
        }
        if (refs != 1)
            fail_msg("cycle %d: the context has %u references after sparq_context_free", c,
                     refs);
        if (env)
            print_message("cycle %d: rss %.1f MB\n", c, testing_rss_mb());
        clReleaseContext(cl);
    }
    sparq_context_free(first);
}

static void bad_input_is_refused(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    cl_command_queue q = sparq_context_queue(ctx);
    cl_mem x = testing_buffer(ctx, NULL, 2 * 8), w = testing_buffer(ctx, NULL, 4 * 8);
    cl_mem y = testing_buffer(ctx, NULL, 2 * 4), bias = testing_buffer(ctx, NULL, 4);
    cl_event ev = (cl_event)0x1;
    const sparq_dense_backend B = SPARQ_DENSE_BACKEND_SPARQ;
#define CALL(ctx_, q_, be, bt, m, k, x_, xo, w_, wo, b_, bo, y_, yo, nw, wl)                  \
    sparq_linear_dense(ctx_, q_, be, bt, m, k, x_, xo, w_, wo, b_, bo, y_, yo, nw, wl, &ev)

    assert_int_equal(CALL(NULL, q, B, 2, 4, 8, x, 0, w, 0, NULL, 0, y, 0, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_null(ev); /* a failed call never leaves an event to release */
    assert_int_equal(CALL(ctx, NULL, B, 2, 4, 8, x, 0, w, 0, NULL, 0, y, 0, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(CALL(ctx, q, B, 0, 4, 8, x, 0, w, 0, NULL, 0, y, 0, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "sizes must be positive"));
    assert_int_equal(CALL(ctx, q, B, 2, 0, 8, x, 0, w, 0, NULL, 0, y, 0, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(CALL(ctx, q, B, 2, 4, 0, x, 0, w, 0, NULL, 0, y, 0, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(CALL(ctx, q, (sparq_dense_backend)99, 2, 4, 8, x, 0, w, 0, NULL, 0, y, 0, 0,
                          NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(CALL(ctx, q, B, 2, 4, 8, NULL, 0, w, 0, NULL, 0, y, 0, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "x buffer is NULL"));
    /* offsets and sizes past the end */
    assert_int_equal(CALL(ctx, q, B, 2, 4, 8, x, 1, w, 0, NULL, 0, y, 0, 0, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
    assert_non_null(strstr(sparq_last_error(), "x needs 16 elements from offset 1"));
    assert_int_equal(CALL(ctx, q, B, 3, 4, 8, x, 0, w, 0, NULL, 0, y, 0, 0, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
    assert_int_equal(CALL(ctx, q, B, 2, 4, 8, x, 0, w, 0, NULL, 0, y, 5, 0, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
    assert_non_null(strstr(sparq_last_error(), "y needs"));
    assert_int_equal(CALL(ctx, q, B, 2, 4, 8, x, 0, w, 0, bias, 1, y, 0, 0, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
    assert_non_null(strstr(sparq_last_error(), "bias needs"));
    assert_int_equal(CALL(ctx, q, B, 2, 4, 8, x, (size_t)-1, w, 0, NULL, 0, y, 0, 0, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
    assert_int_equal(CALL(ctx, q, B, (size_t)1 << 40, (size_t)1 << 40, 8, x, 0, w, 0, NULL, 0, y,
                          0, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    /* a wait list that does not add up */
    assert_int_equal(CALL(ctx, q, B, 2, 4, 8, x, 0, w, 0, NULL, 0, y, 0, 1, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "num_wait is 1"));
    /* y overlapping an input in one buffer, or in sub-buffers of one parent: refused */
    cl_mem one = testing_buffer(ctx, NULL, 64);
    assert_int_equal(CALL(ctx, q, B, 2, 4, 8, one, 0, w, 0, NULL, 0, one, 8, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "x (bytes 0..64) and y (bytes 32..64) overlap"));
    assert_int_equal(CALL(ctx, q, B, 2, 4, 8, x, 0, w, 0, one, 0, one, 2, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "bias (bytes 0..16) and y"));
    size_t align = sparq_context_caps(ctx)->base_addr_align_bytes;
    size_t cols = align / 2, rows = align / 4; /* x: 2 * align bytes, y: align bytes */
    cl_mem parent = testing_buffer(ctx, NULL, align), big_w = testing_buffer(ctx, NULL,
                                                                            rows * cols);
    cl_buffer_region rx = {0, 2 * align}, ry = {align, align};
    cl_int e1, e2;
    cl_mem sx = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &rx,
                                  &e1);
    cl_mem sy = clCreateSubBuffer(parent, CL_MEM_READ_WRITE, CL_BUFFER_CREATE_TYPE_REGION, &ry,
                                  &e2);
    assert_true(e1 == CL_SUCCESS && e2 == CL_SUCCESS);
    assert_int_equal(CALL(ctx, q, B, 1, rows, cols, sx, 0, big_w, 0, NULL, 0, sy, 0, 0, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "overlap in one buffer"));
    clReleaseMemObject(sx), clReleaseMemObject(sy);
    clReleaseMemObject(parent), clReleaseMemObject(big_w);
    /* the same checks guard the CLBlast path */
    assert_int_equal(CALL(ctx, q, SPARQ_DENSE_BACKEND_CLBLAST, 2, 4, 8, x, 0, w, 3, NULL, 0, y, 0,
                          0, NULL),
                     SPARQ_ERROR_OUT_OF_BOUNDS);
#undef CALL
    sparq_context_stats stats;
    sparq_context_get_stats(ctx, &stats);
    assert_int_equal(stats.kernel_launches, 0); /* nothing was enqueued by refused calls */
    assert_int_equal(stats.peer_calls, 0);
    /* x and y in one buffer without overlapping run */
    assert_int_equal(sparq_linear_dense(ctx, q, B, 2, 4, 8, one, 0, w, 0, NULL, 0, one, 16, 0,
                                        NULL, NULL),
                     SPARQ_OK);
    assert_int_equal(clFinish(q), CL_SUCCESS);
    clReleaseMemObject(one);
    clReleaseMemObject(x), clReleaseMemObject(w), clReleaseMemObject(y), clReleaseMemObject(bias);
    sparq_context_free(ctx);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(shapes_match_reference),
        cmocka_unit_test(auto_backend_choice),
        cmocka_unit_test(same_bits_every_run),
        cmocka_unit_test(waits_for_events),
        cmocka_unit_test(auto_out_of_order_stays_own),
        cmocka_unit_test(clblast_lets_contexts_go),
        cmocka_unit_test(bad_input_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
