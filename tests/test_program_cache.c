/* test_program_cache.c - kernel sources (embedded, SPARQ_KERNEL_DIR, includes),
 * the in-memory and on-disk program cache (hits, corrupt and truncated entries
 * rebuilt, disabled), missing device features, build failures, and threads.
 */
#include "testing.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OPTIONS "-DLINEAR_DENSE_WG=64 -DLINEAR_DENSE_VW=8" /* as linear_dense_rowdot builds */

static sparq_context *context_in(const char *dir)
{
    sparq_context_options opts = {.cache_dir = dir};
    return testing_context(&opts);
}

static sparq_context_stats stats_of(sparq_context *ctx)
{
    sparq_context_stats s;
    assert_int_equal(sparq_context_get_stats(ctx, &s), SPARQ_OK);
    return s;
}

/* The path of the one cache entry in dir. */
static void only_entry(const char *dir, char *path, size_t size)
{
    sparq_context_options opts = {.cache_dir = dir};
    sparq_cache_info info;
    assert_int_equal(sparq_cache_get_info(&opts, &info), SPARQ_OK);
    assert_int_equal(info.entries, 1);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "ls %s/*.bin", dir);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(path, (int)size, p));
    pclose(p);
    path[strcspn(path, "\n")] = '\0';
}

static void sources_expand_includes(void **state)
{
    (void)state;
    char *text = NULL;
    size_t size = 0;
    assert_int_equal(sparq_source_load("linear_dense.cl", &text, &size), SPARQ_OK);
    assert_null(strstr(text, "#include"));
    assert_non_null(strstr(text, "SPARQ_COMMON_CLH"));
    assert_non_null(strstr(text, "linear_dense_rowdot"));
    assert_int_equal(strlen(text), size);
    free(text);
    assert_int_equal(sparq_source_load("no_such.cl", &text, &size), SPARQ_ERROR_INTERNAL);
    /* every registered kernel names an existing source */
    for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
        assert_int_equal(sparq_source_load(sparq_kernel_row(i)->source, &text, &size), SPARQ_OK);
        assert_non_null(strstr(text, sparq_kernel_row(i)->name));
        free(text);
    }
}

static void memory_then_disk_hits(void **state)
{
    (void)state;
    const char *dir = testing_tmpdir("cache_hits");
    sparq_context *a = context_in(dir);
    cl_program p1 = NULL, p2 = NULL, p3 = NULL;
    assert_int_equal(sparq_program_get(a, "linear_dense.cl", OPTIONS, 0, &p1), SPARQ_OK);
    assert_int_equal(sparq_program_get(a, "linear_dense.cl", OPTIONS, 0, &p2), SPARQ_OK);
    assert_ptr_equal(p1, p2);
    sparq_context_stats s = stats_of(a);
    assert_int_equal(s.programs_built, 1);
    assert_int_equal(s.program_memory_hits, 1);
    /* other options are another program */
    assert_int_equal(sparq_program_get(a, "linear_dense.cl", "-DLINEAR_DENSE_WG=32", 0, &p3),
                     SPARQ_OK);
    assert_ptr_not_equal(p1, p3);
    sparq_context_free(a);

    sparq_context_options opts = {.cache_dir = dir};
    sparq_cache_info info;
    assert_int_equal(sparq_cache_get_info(&opts, &info), SPARQ_OK);
    assert_int_equal(info.entries, 2);
    assert_true(info.bytes > 0);
    assert_int_equal(info.enabled, 1);

    sparq_context *b = context_in(dir);
    assert_int_equal(sparq_program_get(b, "linear_dense.cl", OPTIONS, 0, &p1), SPARQ_OK);
    s = stats_of(b);
    assert_int_equal(s.programs_built, 0);
    assert_int_equal(s.program_disk_hits, 1);
    sparq_context_free(b);
}

/* Damages the single cache entry with `how`, then checks the next context rejects it,
 * rebuilds, runs correctly, and leaves a valid entry behind. */
static void damaged_entry_rebuilt(const char *name, const char *how)
{
    const char *dir = testing_tmpdir(name);
    char saved_dir[1024];
    snprintf(saved_dir, sizeof saved_dir, "%s", dir);
    sparq_context *a = context_in(saved_dir);
    cl_program p = NULL;
    assert_int_equal(sparq_program_get(a, "linear_dense.cl", OPTIONS, 0, &p), SPARQ_OK);
    sparq_context_free(a);

    char path[1100], cmd[2400];
    only_entry(saved_dir, path, sizeof path);
    snprintf(cmd, sizeof cmd, how, path, path);
    assert_int_equal(system(cmd), 0);

    sparq_context *b = context_in(saved_dir);
    /* run the real op: the rebuilt program must compute the right thing */
    float x[6] = {1, 2, 3, 4, 5, 6}, w[6] = {1, 0, -1, 2, 2, 2}, y[2] = {0, 0};
    cl_mem dx = testing_buffer(b, x, 3), dw = testing_buffer(b, w, 6), dy = testing_buffer(b, y, 2);
    cl_event ev = NULL;
    assert_int_equal(sparq_linear_dense(b, sparq_context_queue(b), SPARQ_DENSE_BACKEND_SPARQ, 1,
                                        2, 3, dx, 0, dw, 0, NULL, 0, dy, 0, 0, NULL, &ev),
                     SPARQ_OK);
    testing_read(b, dy, y, 2, ev);
    clReleaseEvent(ev);
    assert_true(y[0] == -2.0f && y[1] == 12.0f);
    sparq_context_stats s = stats_of(b);
    assert_int_equal(s.program_disk_rejects, 1);
    assert_int_equal(s.programs_built, 1);
    clReleaseMemObject(dx), clReleaseMemObject(dw), clReleaseMemObject(dy);
    sparq_context_free(b);

    sparq_context *c = context_in(saved_dir); /* the rewritten entry is good again */
    assert_int_equal(sparq_program_get(c, "linear_dense.cl", OPTIONS, 0, &p), SPARQ_OK);
    assert_int_equal(stats_of(c).program_disk_hits, 1);
    sparq_context_free(c);
}

static void corrupt_entry_rebuilt(void **state)
{
    (void)state;
    /* flip one byte in the middle of the payload */
    damaged_entry_rebuilt("cache_corrupt",
                          "f=%s; n=$(stat -c %%s $f); printf '\\377' | dd of=%s bs=1 "
                          "seek=$((n/2)) conv=notrunc status=none");
}

static void truncated_entry_rebuilt(void **state)
{
    (void)state;
    damaged_entry_rebuilt("cache_truncated", "truncate -s 100 %s; test -n %s");
}

static void garbage_entry_rebuilt(void **state)
{
    (void)state;
    damaged_entry_rebuilt("cache_garbage", "head -c 5000 /dev/urandom > %s; test -n %s");
}

static void disk_cache_off(void **state)
{
    (void)state;
    const char *dir = testing_tmpdir("cache_off");
    char saved[1024];
    snprintf(saved, sizeof saved, "%s", dir);
    sparq_context_options opts = {.cache_dir = saved, .disable_disk_cache = 1};
    sparq_context *a = testing_context(&opts);
    cl_program p = NULL;
    assert_int_equal(sparq_program_get(a, "linear_dense.cl", OPTIONS, 0, &p), SPARQ_OK);
    sparq_context_free(a);
    sparq_cache_info info;
    assert_int_equal(sparq_cache_get_info(&opts, &info), SPARQ_OK);
    assert_int_equal(info.enabled, 0);
    assert_int_equal(info.entries, 0);

    setenv("SPARQ_CACHE", "off", 1);
    opts.disable_disk_cache = 0;
    a = testing_context(&opts);
    assert_int_equal(sparq_program_get(a, "linear_dense.cl", OPTIONS, 0, &p), SPARQ_OK);
    sparq_context_free(a);
    assert_int_equal(sparq_cache_get_info(&opts, &info), SPARQ_OK);
    assert_int_equal(info.enabled, 0);
    assert_int_equal(info.entries, 0);
    unsetenv("SPARQ_CACHE");
}

static void kernel_dir_and_build_failure(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    cl_program p = NULL;
    setenv("SPARQ_KERNEL_DIR", SPARQ_SOURCE_DIR "/kernels", 1);
    assert_int_equal(sparq_program_get(ctx, "linear_dense.cl", OPTIONS, 0, &p), SPARQ_OK);

    const char *dir = testing_tmpdir("broken_kernels");
    char cmd[2400];
    snprintf(cmd, sizeof cmd,
             "cp %s/kernels/common.clh %s/ && printf '#include \"common.clh\"\\n__kernel void "
             "linear_dense_rowdot(global float *y) { y[0] = undeclared_thing; }\\n' > "
             "%s/linear_dense.cl",
             SPARQ_SOURCE_DIR, dir, dir);
    assert_int_equal(system(cmd), 0);
    setenv("SPARQ_KERNEL_DIR", dir, 1);
    assert_int_equal(sparq_program_get(ctx, "linear_dense.cl", OPTIONS, 0, &p),
                     SPARQ_ERROR_BUILD_FAILED);
    assert_non_null(strstr(sparq_last_error(), "linear_dense.cl did not build"));
    assert_non_null(strstr(sparq_last_error(), "undeclared_thing"));
    setenv("SPARQ_KERNEL_DIR", "/nonexistent/kernels", 1);
    assert_int_equal(sparq_program_get(ctx, "linear_dense.cl", OPTIONS, 0, &p), SPARQ_ERROR_IO);
    assert_non_null(strstr(sparq_last_error(), "/nonexistent/kernels/linear_dense.cl"));
    unsetenv("SPARQ_KERNEL_DIR");
    sparq_context_free(ctx);
}

/* The hash tuning entries carry of kernels/linear_dense.cl read from dir (a fresh context:
 * hashes are kept per context). */
static void source_hash_in(const char *dir, char hex[17])
{
    setenv("SPARQ_KERNEL_DIR", dir, 1);
    sparq_context *ctx = testing_context(NULL);
    sparq_source_hash_get(ctx, "linear_dense.cl", hex);
    sparq_context_free(ctx);
    unsetenv("SPARQ_KERNEL_DIR");
    assert_int_equal(strlen(hex), 16);
}

/* Comments and blank runs don't change the hash (tuned entries survive them); code does. */
static void source_hash_ignores_comments(void **state)
{
    (void)state;
    char original[17], commented[17], changed[17];
    source_hash_in(SPARQ_SOURCE_DIR "/kernels", original);
    const char *dir = testing_tmpdir("commented_kernels");
    char cmd[2400];
    snprintf(cmd, sizeof cmd,
             "cp %s/kernels/common.clh %s/ && { printf '/* a new comment */\n\n'; "
             "sed 's|^#include|  // a note\\n#include|; s|;$|;   /* x */|' "
             "%s/kernels/linear_dense.cl; } > %s/linear_dense.cl",
             SPARQ_SOURCE_DIR, dir, SPARQ_SOURCE_DIR, dir);
    assert_int_equal(system(cmd), 0);
    source_hash_in(dir, commented);
    assert_string_equal(commented, original);
    snprintf(cmd, sizeof cmd, "printf '#define SPARQ_TEST_EXTRA 1\n' >> %s/linear_dense.cl",
             dir);
    assert_int_equal(system(cmd), 0);
    source_hash_in(dir, changed);
    assert_string_not_equal(changed, original);
}

static void missing_feature_refused(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    ctx->caps.has_fp16 = 0; /* as on PoCL: a kernel that needs half arithmetic can't run */
    ctx->caps.has_int_dot_product = 0;
    cl_program p = NULL;
    assert_int_equal(sparq_program_get(ctx, "linear_dense.cl", OPTIONS, SPARQ_FEATURE_FP16, &p),
                     SPARQ_ERROR_UNSUPPORTED);
    assert_non_null(strstr(sparq_last_error(), "cl_khr_fp16"));
    assert_int_equal(sparq_program_get(ctx, "linear_dense.cl", OPTIONS, SPARQ_FEATURE_INT_DOT, &p),
                     SPARQ_ERROR_UNSUPPORTED);
    assert_non_null(strstr(sparq_last_error(), "cl_khr_integer_dot_product"));
    assert_int_equal(stats_of(ctx).programs_built, 0);
    sparq_context_free(ctx);
}

/* Several threads share one context, each with its own queue. */
typedef struct thread_job {
    sparq_context *ctx;
    int ok;
} thread_job;

static void *thread_linear(void *arg)
{
    thread_job *job = arg;
    cl_int err = CL_SUCCESS;
    cl_command_queue q = clCreateCommandQueue(sparq_context_cl_context(job->ctx),
                                              sparq_context_cl_device(job->ctx), 0, &err);
    if (err != CL_SUCCESS)
        return NULL;
    float x[4] = {1, 1, 1, 1}, w[8] = {1, 2, 3, 4, -1, -2, -3, -4}, y[2] = {0, 0};
    cl_context cl = sparq_context_cl_context(job->ctx);
    cl_mem dx = clCreateBuffer(cl, CL_MEM_COPY_HOST_PTR, sizeof x, x, &err);
    cl_mem dw = clCreateBuffer(cl, CL_MEM_COPY_HOST_PTR, sizeof w, w, &err);
    cl_mem dy = clCreateBuffer(cl, CL_MEM_READ_WRITE, sizeof y, NULL, &err);
    cl_event ev = NULL;
    if (sparq_linear_dense(job->ctx, q, SPARQ_DENSE_BACKEND_SPARQ, 1, 2, 4, dx, 0, dw, 0, NULL, 0,
                           dy, 0, 0, NULL, &ev) == SPARQ_OK &&
        clEnqueueReadBuffer(q, dy, CL_TRUE, 0, sizeof y, y, 1, &ev, NULL) == CL_SUCCESS)
        job->ok = y[0] == 10.0f && y[1] == -10.0f;
    if (ev)
        clReleaseEvent(ev);
    clReleaseMemObject(dx), clReleaseMemObject(dw), clReleaseMemObject(dy);
    clReleaseCommandQueue(q);
    return NULL;
}

static void threads_share_a_context(void **state)
{
    (void)state;
    const char *dir = testing_tmpdir("cache_threads");
    sparq_context *ctx = context_in(dir);
    enum { N = 4 };
    pthread_t t[N];
    thread_job jobs[N];
    for (int i = 0; i < N; i++) {
        jobs[i] = (thread_job){.ctx = ctx, .ok = 0};
        assert_int_equal(pthread_create(&t[i], NULL, thread_linear, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(t[i], NULL);
        assert_true(jobs[i].ok);
    }
    assert_int_equal(ctx->program_count, 1); /* racing builds kept one program */
    assert_int_equal(stats_of(ctx).kernel_launches, N);
    sparq_context_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sources_expand_includes),
        cmocka_unit_test(memory_then_disk_hits),
        cmocka_unit_test(corrupt_entry_rebuilt),
        cmocka_unit_test(truncated_entry_rebuilt),
        cmocka_unit_test(garbage_entry_rebuilt),
        cmocka_unit_test(disk_cache_off),
        cmocka_unit_test(kernel_dir_and_build_failure),
        cmocka_unit_test(source_hash_ignores_comments),
        cmocka_unit_test(missing_feature_refused),
        cmocka_unit_test(threads_share_a_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
