/* SPDX-License-Identifier: Apache-2.0 */
/* fault_workload.c - the workload of the OpenCL fault-injection test (tests/fault):
 * a representative run through the public API, every sparq call checked.
 *
 * It wraps a cl_context of its own (the first OpenCL device) and creates a second
 * context with sparq_context_create, packs and uploads small matrices (CSR i8, 2:4 f16,
 * BSR 4x4 f32, dense i8, dense i8 W8A8, and a CSR held for the dense path), prepares
 * the W8A8 one (sparq_matrix_prepare), runs sparq_linear at batch 1 and 4 (bias,
 * activations) and sparq_linear_dense, checks each product against a CPU reference, and
 * frees everything in both orders of matrix and context.
 *
 * Under libopencl_fault.so (LD_PRELOAD, SPARQ_FAULT_AT=N) one OpenCL call of sparq fails.
 * A sparq call that fails must be the one the fault happened in, return a status with a
 * sentence (sparq_last_error), and leave its arguments as they were before: the same
 * call made again (the shim fails only once) must succeed, and the product be right. A
 * call that absorbs the fault (returns OK) must be right too, and so must every later
 * call. At the end no OpenCL object sparq made may still be held (the shim follows them:
 * LeakSanitizer cannot, PoCL allocates them). The workload's own OpenCL calls (buffers,
 * reads, waits) are not counted (opencl_fault_pause).
 *
 * Exit 0 when everything was handled; 1 with a "fault_workload: FAIL" line otherwise.
 * The last line says what happened to the fault: "fault: ..." (see fault_test.sh).
 */
#define _GNU_SOURCE
#include "sparq.h"

#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 64
#define COLS 64
#define MAX_BATCH 4

/* ---- the shim's hooks (absent when run without it) ------------------------------ */

static int (*hook_pause)(int);
static int (*hook_fired)(const char **, int *);
static unsigned long (*hook_calls)(void);
static size_t (*hook_live)(char *, size_t);

static void hooks_find(void)
{
    hook_pause = (int (*)(int))dlsym(RTLD_DEFAULT, "opencl_fault_pause");
    hook_fired = (int (*)(const char **, int *))dlsym(RTLD_DEFAULT, "opencl_fault_fired");
    hook_calls = (unsigned long (*)(void))dlsym(RTLD_DEFAULT, "opencl_fault_calls");
    hook_live = (size_t (*)(char *, size_t))dlsym(RTLD_DEFAULT, "opencl_fault_live");
}

/* The workload's own OpenCL calls go between pause() and resume(): not counted. */
static void pause_counting(void)
{
    if (hook_pause)
        hook_pause(1);
}

static void resume_counting(void)
{
    if (hook_pause)
        hook_pause(0);
}

static int fired(void)
{
    return hook_fired ? hook_fired(NULL, NULL) : 0;
}

/* What became of the fault: the sparq call it failed and the status, or absorbed. */
static char outcome[1024];

static void fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "fault_workload: FAIL: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    const char *name = "";
    int error = 0;
    if (hook_fired && hook_fired(&name, &error))
        fprintf(stderr, " [the injected fault: %s returned %d]", name, error);
    fprintf(stderr, "\n");
    exit(1);
}

/* A sparq call returned st (not OK) when the fault had (fired_before) or had not
 * happened before it: it must be the call the fault happened in, and say why. */
static void failed_call(const char *what, sparq_status st, int fired_before)
{
    const char *msg = sparq_last_error();
    if (fired_before || !fired())
        fail("%s returned %s without an injected fault in it: %s", what,
             sparq_status_string(st), msg);
    if (!msg || !*msg)
        fail("%s returned %s with no sentence in sparq_last_error()", what,
             sparq_status_string(st));
    const char *name = "";
    int error = 0;
    hook_fired(&name, &error);
    bool queue = strncmp(what, "sparq_context_queue", 19) == 0; /* NULL, not a status */
    snprintf(outcome, sizeof outcome, "%s (%s) -> %s returned %s: %.700s", name,
             sparq_status_string(error), queue ? "sparq_context_queue" : what,
             queue ? "NULL" : sparq_status_string(st), msg);
}

/* Runs a sparq call (an expression giving a status); when it fails, checks the failure
 * and runs the same call again, which must succeed. */
#define STEP(what, call)                                                                   \
    do {                                                                                   \
        int fired_before_ = fired();                                                       \
        sparq_status st_ = (call);                                                         \
        if (st_ != SPARQ_OK) {                                                             \
            failed_call(what, st_, fired_before_);                                         \
            if ((st_ = (call)) != SPARQ_OK)                                                \
                fail("%s failed again after the fault: %s: %s", what,                      \
                     sparq_status_string(st_), sparq_last_error());                        \
        }                                                                                  \
    } while (0)

/* ---- wrappers that also check what a failed call leaves ---------------------------- */

static sparq_status context_create(sparq_context **ctx)
{
    *ctx = (sparq_context *)(uintptr_t)1;
    sparq_status st = sparq_context_create(NULL, ctx);
    if (st != SPARQ_OK && *ctx)
        fail("context_create failed but left a context");
    return st;
}

static sparq_status context_wrap(cl_context cl_ctx, cl_device_id dev, sparq_context **ctx)
{
    *ctx = (sparq_context *)(uintptr_t)1;
    sparq_status st = sparq_context_wrap(cl_ctx, dev, NULL, ctx);
    if (st != SPARQ_OK && *ctx)
        fail("context_wrap failed but left a context");
    return st;
}

/* sparq_context_queue as a status: NULL is a failure (reported as "returned NULL"). */
static sparq_status context_queue(sparq_context *ctx, cl_command_queue *queue)
{
    *queue = sparq_context_queue(ctx);
    return *queue ? SPARQ_OK : SPARQ_ERROR_INTERNAL;
}

static sparq_status matrix_create(sparq_context *ctx, const sparq_packed *packed,
                                  const sparq_matrix_options *options, sparq_matrix **m)
{
    *m = (sparq_matrix *)(uintptr_t)1;
    sparq_status st = sparq_matrix_create(ctx, packed, options, m);
    if (st != SPARQ_OK && *m)
        fail("matrix_create failed but left a matrix");
    return st;
}

/* ---- the workload's own OpenCL objects -------------------------------------------- */

static void cl_check(cl_int err, const char *what)
{
    if (err != CL_SUCCESS)
        fail("the workload's own %s failed with %s", what, sparq_status_string(err));
}

/* The first device of the first platform that has one. */
static void first_device(cl_device_id *device)
{
    cl_platform_id platforms[16];
    cl_uint count = 0;
    cl_check(clGetPlatformIDs(16, platforms, &count), "clGetPlatformIDs");
    for (cl_uint p = 0; p < count && p < 16; p++)
        if (clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 1, device, NULL) == CL_SUCCESS)
            return;
    fail("no OpenCL device");
}

/* x, y and bias on one context, and the queue sparq runs on there. */
typedef struct operands {
    cl_context ctx;
    cl_command_queue queue;
    cl_mem x, y, bias, w; /* w: dense f32 weights for sparq_linear_dense (wrapped only) */
} operands;

static cl_mem buffer(cl_context ctx, size_t floats, const float *data)
{
    cl_int err = CL_SUCCESS;
    cl_mem b = clCreateBuffer(ctx, CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0),
                              floats * sizeof(float), (void *)data, &err);
    cl_check(err, "clCreateBuffer");
    return b;
}

static void operands_create(operands *o, cl_context ctx, cl_command_queue queue,
                            const float *x, const float *bias, const float *w)
{
    pause_counting();
    o->ctx = ctx;
    o->queue = queue;
    o->x = buffer(ctx, MAX_BATCH * COLS, x);
    o->y = buffer(ctx, MAX_BATCH * ROWS, NULL);
    o->bias = buffer(ctx, ROWS, bias);
    o->w = w ? buffer(ctx, ROWS * COLS, w) : NULL;
    resume_counting();
}

static void operands_free(operands *o)
{
    clReleaseMemObject(o->x);
    clReleaseMemObject(o->y);
    clReleaseMemObject(o->bias);
    if (o->w)
        clReleaseMemObject(o->w);
}

/* y filled with NaN, so that a product that is not written shows. */
static void y_poison(const operands *o)
{
    pause_counting();
    float nan[MAX_BATCH * ROWS];
    for (size_t i = 0; i < MAX_BATCH * ROWS; i++)
        nan[i] = NAN;
    cl_check(clEnqueueWriteBuffer(o->queue, o->y, CL_TRUE, 0, sizeof nan, nan, 0, NULL, NULL),
             "clEnqueueWriteBuffer");
    resume_counting();
}

/* Waits for event (released), then reads batch x ROWS floats of y. */
static void y_read(const operands *o, cl_event event, size_t batch, float *out)
{
    pause_counting();
    if (!event)
        fail("a call that returned OK gave no event");
    cl_check(clWaitForEvents(1, &event), "clWaitForEvents");
    clReleaseEvent(event);
    cl_check(clEnqueueReadBuffer(o->queue, o->y, CL_TRUE, 0, batch * ROWS * sizeof(float), out,
                                 0, NULL, NULL),
             "clEnqueueReadBuffer");
    resume_counting();
}

/* ---- data and reference ------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float uniform(void) /* [-1, 1) */
{
    rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static float activate(double v, sparq_activation act)
{
    if (act == SPARQ_ACTIVATION_RELU)
        return v > 0 ? (float)v : 0.0f;
    if (act == SPARQ_ACTIVATION_GELU)
        return (float)(0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))));
    return (float)v;
}

/* Y = act(X W^T + bias) in double from the unpacked weights; got must be within tol of
 * it (relative to the largest |Y|, at least 1). For W8A8, X is quantized per row first
 * as the device does it, so only rounding differs. */
static void check_product(const char *what, const float *w, const float *x, const float *bias,
                          sparq_activation act, size_t batch, const float *got, double tol)
{
    double ref[MAX_BATCH * ROWS], scale = 1.0;
    for (size_t b = 0; b < batch; b++)
        for (size_t r = 0; r < ROWS; r++) {
            double s = bias ? bias[r] : 0.0;
            for (size_t k = 0; k < COLS; k++)
                s += (double)x[b * COLS + k] * w[r * COLS + k];
            ref[b * ROWS + r] = activate(s, act);
            scale = fmax(scale, fabs(ref[b * ROWS + r]));
        }
    for (size_t i = 0; i < batch * ROWS; i++)
        if (!(fabs(got[i] - ref[i]) <= tol * scale))
            fail("%s at batch %zu: y[%zu, %zu] = %g, the reference says %g", what, batch,
                 i / ROWS, i % ROWS, got[i], ref[i]);
}

/* ---- the matrices ------------------------------------------------------------------ */

typedef struct job {
    const char *label;
    const char *format;      /* sparq_format_parse spelling */
    int prune;               /* 0 none, 1 unstructured 70 %, 2 blocks 4x4 75 %, 3 2:4 */
    sparq_matrix_options options;
    int wrapped;             /* on the wrapped context (else on the created one) */
    sparq_activation act;
    double tol;
    sparq_packed *packed;
    float w[ROWS * COLS];    /* the unpacked weights: the reference's */
    sparq_matrix *m;
} job;

static job jobs[] = {
    {"csr i8-row", "csr+i8-row", 1, {0}, 0, SPARQ_ACTIVATION_RELU, 1e-4, NULL, {0}, NULL},
    {"2:4 f16", "2:4+f16", 3, {0}, 0, SPARQ_ACTIVATION_NONE, 1e-4, NULL, {0}, NULL},
    {"bsr4x4 f32", "bsr4x4+f32", 2, {0}, 0, SPARQ_ACTIVATION_GELU, 1e-4, NULL, {0}, NULL},
    {"csr f32 dense path", "csr+f32", 1, {.path = SPARQ_PATH_DENSE}, 0, SPARQ_ACTIVATION_RELU,
     1e-4, NULL, {0}, NULL},
    {"dense i8-row", "dense+i8-row", 0, {0}, 1, SPARQ_ACTIVATION_NONE, 1e-4, NULL, {0}, NULL},
    {"dense i8-row w8a8", "dense+i8-row", 0, {.quantize_activations = 1}, 1,
     SPARQ_ACTIVATION_NONE, 3e-2, NULL, {0}, NULL},
};
#define JOB_COUNT (sizeof jobs / sizeof jobs[0])

static void job_pack(job *j)
{
    float w[ROWS * COLS];
    for (size_t i = 0; i < ROWS * COLS; i++)
        w[i] = uniform();
    sparq_pack_options format;
    sparq_status st = sparq_format_parse(j->format, &format);
    if (st == SPARQ_OK && j->prune == 1)
        st = sparq_prune_magnitude(w, ROWS, COLS, 0.7, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, NULL, 1);
    else if (st == SPARQ_OK && j->prune == 2)
        st = sparq_prune_blocks(w, ROWS, COLS, 4, 4, SPARQ_BLOCK_NORM_L1, 0.75, NULL, NULL, 1);
    else if (st == SPARQ_OK && j->prune == 3)
        st = sparq_prune_nm(w, ROWS, COLS, 2, 4, NULL, NULL, 1);
    if (st == SPARQ_OK)
        st = sparq_packed_create(&format, ROWS, COLS, w, &j->packed);
    if (st == SPARQ_OK)
        st = sparq_packed_unpack(j->packed, j->w);
    if (st != SPARQ_OK) /* formats/ makes no OpenCL call: no fault can be here */
        fail("%s: packing: %s", j->label, sparq_last_error());
}

static sparq_status run_linear(job *j, const operands *o, size_t batch, cl_event *event)
{
    sparq_epilogue ep = {.bias = o->bias, .bias_offset = 0, .activation = j->act};
    *event = (cl_event)(uintptr_t)1;
    sparq_status st = sparq_linear(j->m, o->queue, o->x, 0, o->y, 0, batch, &ep, 0, NULL, event);
    if (st != SPARQ_OK && *event)
        fail("%s: sparq_linear failed but gave an event", j->label);
    return st;
}

static void job_run(job *j, const operands *o, const float *x, const float *bias, size_t batch)
{
    char what[128];
    snprintf(what, sizeof what, "sparq_linear(%s, batch %zu)", j->label, batch);
    y_poison(o);
    cl_event event = NULL;
    STEP(what, run_linear(j, o, batch, &event));
    float y[MAX_BATCH * ROWS];
    y_read(o, event, batch, y);
    check_product(what, j->w, x, bias, j->act, batch, y, j->tol);
}

static sparq_status run_dense(sparq_context *ctx, const operands *o, size_t batch,
                              cl_event *event)
{
    *event = (cl_event)(uintptr_t)1;
    sparq_status st = sparq_linear_dense(ctx, o->queue, SPARQ_DENSE_BACKEND_AUTO, batch, ROWS,
                                         COLS, o->x, 0, o->w, 0, o->bias, 0, o->y, 0, 0, NULL,
                                         event);
    if (st != SPARQ_OK && *event)
        fail("sparq_linear_dense failed but gave an event");
    return st;
}

int main(void)
{
    hooks_find();

    /* the engine's own context and queue on the first device */
    pause_counting();
    cl_device_id device = NULL;
    first_device(&device);
    cl_int err = CL_SUCCESS;
    cl_context own_ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_check(err, "clCreateContext");
    cl_command_queue own_queue = clCreateCommandQueue(own_ctx, device, 0, &err);
    cl_check(err, "clCreateCommandQueue");
    resume_counting();

    sparq_context *wrapped = NULL, *created = NULL;
    STEP("sparq_context_wrap", context_wrap(own_ctx, device, &wrapped));
    STEP("sparq_context_create", context_create(&created));
    cl_command_queue created_queue = NULL;
    STEP("sparq_context_queue", context_queue(created, &created_queue));

    float x[MAX_BATCH * COLS], bias[ROWS], w_dense[ROWS * COLS];
    for (size_t i = 0; i < MAX_BATCH * COLS; i++)
        x[i] = uniform();
    for (size_t i = 0; i < ROWS; i++)
        bias[i] = 0.25f * uniform();
    for (size_t i = 0; i < ROWS * COLS; i++)
        w_dense[i] = uniform();

    for (size_t i = 0; i < JOB_COUNT; i++) {
        job *j = &jobs[i];
        job_pack(j);
        char what[128];
        snprintf(what, sizeof what, "sparq_matrix_create(%s)", j->label);
        STEP(what, matrix_create(j->wrapped ? wrapped : created, j->packed, &j->options, &j->m));
    }

    /* load time: the W8A8 matrix prepared on the wrapped context's own queue (NULL: made
     * here) */
    static const size_t batches[] = {1, MAX_BATCH};
    STEP("sparq_matrix_prepare(dense i8-row w8a8)",
         sparq_matrix_prepare(jobs[5].m, NULL, batches, 2));

    operands on_wrapped, on_created;
    operands_create(&on_wrapped, own_ctx, own_queue, x, bias, w_dense);
    operands_create(&on_created, sparq_context_cl_context(created), created_queue, x, bias,
                    NULL);

    for (size_t i = 0; i < JOB_COUNT; i++)
        for (size_t b = 0; b < 2; b++)
            job_run(&jobs[i], jobs[i].wrapped ? &on_wrapped : &on_created, x, bias, batches[b]);
    for (size_t b = 0; b < 2; b++) {
        char what[64];
        snprintf(what, sizeof what, "sparq_linear_dense(batch %zu)", batches[b]);
        y_poison(&on_wrapped);
        cl_event event = NULL;
        STEP(what, run_dense(wrapped, &on_wrapped, batches[b], &event));
        float y[MAX_BATCH * ROWS];
        y_read(&on_wrapped, event, batches[b], y);
        check_product(what, w_dense, x, bias, SPARQ_ACTIVATION_NONE, batches[b], y, 1e-4);
    }

    /* frees: the created context before its matrices (they hold it), the wrapped one
     * after its matrices */
    pause_counting();
    operands_free(&on_created);
    operands_free(&on_wrapped);
    resume_counting();
    sparq_context_free(created);
    for (size_t i = 0; i < JOB_COUNT; i++) {
        sparq_matrix_free(jobs[i].m);
        sparq_packed_free(jobs[i].packed);
    }
    sparq_context_free(wrapped);
    clReleaseCommandQueue(own_queue);
    clReleaseContext(own_ctx);

    if (hook_live) {
        char held[4096];
        size_t n = hook_live(held, sizeof held);
        if (n)
            fail("%zu OpenCL object%s still held after every free: %s", n, n == 1 ? "" : "s",
                 held);
    }
    const char *name = "";
    int error = 0;
    if (!hook_fired)
        printf("fault: none (run without opencl_fault)\n");
    else if (!hook_fired(&name, &error))
        printf("fault: none of the %lu counted calls failed\n", hook_calls());
    else if (outcome[0])
        printf("fault: %s\n", outcome);
    else
        printf("fault: %s (%s) absorbed: every call returned OK with the right product\n", name,
               sparq_status_string(error));
    return 0;
}
