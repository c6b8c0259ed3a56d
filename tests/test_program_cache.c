/* SPDX-License-Identifier: Apache-2.0 */
/* test_program_cache.c - kernel sources (embedded, SPARQ_KERNEL_DIR, includes),
 * the in-memory and on-disk program cache (hits, corrupt and truncated entries
 * rebuilt, disabled, forged entries ignored in folders others can write), missing device
 * features, the options device capabilities add, build failures, and threads.
 */
#include "testing.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* y = W x through sparq's dense kernel in ctx, for W = [1 0 -1; 2 2 2] and x = (1 2 3):
 * (-2, 12) when the program is the real one. */
static void dense_product(sparq_context *ctx, float y[2])
{
    float x[3] = {1, 2, 3}, w[6] = {1, 0, -1, 2, 2, 2};
    y[0] = y[1] = 0.0f;
    cl_mem dx = testing_buffer(ctx, x, 3), dw = testing_buffer(ctx, w, 6);
    cl_mem dy = testing_buffer(ctx, y, 2);
    cl_event ev = NULL;
    assert_int_equal(sparq_linear_dense(ctx, sparq_context_queue(ctx), SPARQ_DENSE_BACKEND_SPARQ,
                                        1, 2, 3, dx, 0, dw, 0, NULL, 0, dy, 0, 0, NULL, &ev),
                     SPARQ_OK);
    testing_read(ctx, dy, y, 2, ev);
    clReleaseEvent(ev);
    clReleaseMemObject(dx), clReleaseMemObject(dw), clReleaseMemObject(dy);
}

/* A context in dir that runs dense_product once: its stats, and y. */
static sparq_context_stats dense_product_in(const char *dir, float y[2])
{
    sparq_context *ctx = context_in(dir);
    dense_product(ctx, y);
    sparq_context_stats s = stats_of(ctx);
    sparq_context_free(ctx);
    return s;
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

    /* run the real op: the rebuilt program must compute the right thing */
    float y[2];
    sparq_context_stats s = dense_product_in(saved_dir, y);
    assert_true(y[0] == -2.0f && y[1] == 12.0f);
    assert_int_equal(s.program_disk_rejects, 1);
    assert_int_equal(s.programs_built, 1);

    sparq_context *c = context_in(saved_dir); /* the rewritten entry is good again */
    assert_int_equal(sparq_program_get(c, "linear_dense.cl", OPTIONS, 0, &p), SPARQ_OK);
    assert_int_equal(stats_of(c).program_disk_hits, 1);
    sparq_context_free(c);
}

/* dense_product_in with the library's log (stderr) in a file at info level; returns how
 * many lines of it warn that the program cache is not used. */
static sparq_context_stats dense_product_logged(const char *dir, float y[2], int *warnings)
{
    char log_path[1200];
    snprintf(log_path, sizeof log_path, "%s/test_program_cache.log", SPARQ_TEST_TMP_ROOT);
    sparq_log_level level = sparq_log_level_get();
    fflush(stderr);
    int saved = dup(2), fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(saved >= 0 && fd >= 0);
    dup2(fd, 2);
    close(fd);
    sparq_log_set_level(SPARQ_LOG_INFO);
    sparq_context_stats s = dense_product_in(dir, y);
    sparq_log_set_level(level);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    size_t size = 0;
    char *text = (char *)testing_read_file(log_path, &size);
    text[size] = '\0';
    *warnings = 0;
    for (const char *p = text; (p = strstr(p, "warning: program cache")) != NULL; p++)
        (*warnings)++;
    free(text);
    return s;
}

/* The path of dir's one entry, and its bytes (malloc'ed; *size gets their count). */
static unsigned char *entry_bytes(const char *dir, char *path, size_t path_size, size_t *size)
{
    only_entry(dir, path, path_size);
    return testing_read_file(path, size);
}

/* An entry rewritten with another program's binary and a valid checksum (the header of
 * the real entry up to its key, then the other entry's size, checksum and payload: the
 * checksum guards against damage, not against whoever can write the folder) is loaded
 * from a folder only its owner can write, and ignored (rebuilt from source, right
 * product, entry left alone, one warning) from a folder that group or others can write. */
static void forged_entry_ignored_in_unsafe_folder(void **state)
{
    (void)state;
    char dir[1024], evil_cache[1024], evil_src[1024], cmd[4200];
    snprintf(dir, sizeof dir, "%s", testing_tmpdir("cache_forged"));
    snprintf(evil_cache, sizeof evil_cache, "%s", testing_tmpdir("cache_forged_evil"));
    snprintf(evil_src, sizeof evil_src, "%s", testing_tmpdir("cache_forged_kernels"));
    assert_int_equal(chmod(dir, 0700), 0);
    assert_int_equal(chmod(evil_cache, 0700), 0);
    float y[2];
    sparq_context_stats s = dense_product_in(dir, y); /* the real entry */
    assert_true(y[0] == -2.0f && y[1] == 12.0f);
    assert_int_equal(s.programs_built, 1);

    /* the same kernel, adding 1000 to every output, built into another cache */
    snprintf(cmd, sizeof cmd,
             "cp %s/kernels/common.clh %s/ && sed 's|sparq_add_bias(acc, |sparq_add_bias(acc "
             "+ 1000.0f, |' %s/kernels/linear_dense.cl > %s/linear_dense.cl && grep -q "
             "'acc + 1000.0f' %s/linear_dense.cl",
             SPARQ_SOURCE_DIR, evil_src, SPARQ_SOURCE_DIR, evil_src, evil_src);
    assert_int_equal(system(cmd), 0);
    setenv("SPARQ_KERNEL_DIR", evil_src, 1);
    dense_product_in(evil_cache, y);
    unsetenv("SPARQ_KERNEL_DIR");
    assert_true(y[0] == 998.0f && y[1] == 1012.0f);

    char real_path[1100], evil_path[1100];
    size_t real_size = 0, evil_size = 0;
    unsigned char *real = entry_bytes(dir, real_path, sizeof real_path, &real_size);
    unsigned char *evil = entry_bytes(evil_cache, evil_path, sizeof evil_path, &evil_size);
    assert_true(real_size > 48 && evil_size > 48);
    memcpy(evil, real, 32); /* magic, format and the real entry's key */
    testing_write_file(real_path, evil, evil_size);
    free(real);

    static const mode_t unsafe[] = {0777, 0775, 0703};
    for (size_t i = 0; i < sizeof unsafe / sizeof unsafe[0]; i++) {
        assert_int_equal(chmod(dir, unsafe[i]), 0);
        int warnings = 0;
        s = dense_product_logged(dir, y, &warnings);
        assert_true(y[0] == -2.0f && y[1] == 12.0f);
        assert_int_equal(s.program_disk_hits, 0);
        assert_int_equal(s.programs_built, 1);
        assert_int_equal(warnings, i == 0 ? 1 : 0); /* once per folder */
        size_t size = 0;
        unsigned char *now = testing_read_file(real_path, &size);
        assert_true(size == evil_size && memcmp(now, evil, size) == 0); /* not rewritten */
        free(now);
    }

    /* back to 0700: the folder is used again, forged entry and all */
    assert_int_equal(chmod(dir, 0700), 0);
    s = dense_product_in(dir, y);
    assert_int_equal(s.program_disk_hits, 1);
    assert_int_equal(s.programs_built, 0);
    assert_true(y[0] == 998.0f && y[1] == 1012.0f);
    free(evil);
}

/* In a folder only this user can write, an entry that is group- or other-writable, a
 * symbolic link, or (as root) owned by another user is not loaded but rebuilt and
 * replaced; a folder owned by another user is not used. */
static void unsafe_entries_not_loaded(void **state)
{
    (void)state;
    char dir[1024], path[1100], target[1200];
    snprintf(dir, sizeof dir, "%s", testing_tmpdir("cache_unsafe_entries"));
    assert_int_equal(chmod(dir, 0700), 0);
    float y[2];
    dense_product_in(dir, y);
    only_entry(dir, path, sizeof path);
    snprintf(target, sizeof target, "%s.real", path);
    for (int how = 0; how < 4; how++) {
        struct stat before, after;
        if (how == 0)
            assert_int_equal(chmod(path, 0666), 0);
        else if (how == 1)
            assert_true(rename(path, target) == 0 && symlink(target, path) == 0);
        else if (geteuid() == 0)
            assert_int_equal(chown(how == 2 ? path : dir, 65534, 65534), 0);
        else
            continue; /* only root can give a file away */
        assert_int_equal(lstat(path, &before), 0);
        sparq_context_stats s = dense_product_in(dir, y);
        assert_true(y[0] == -2.0f && y[1] == 12.0f);
        assert_int_equal(s.program_disk_hits, 0);
        assert_int_equal(s.programs_built, 1);
        assert_int_equal(lstat(path, &after), 0);
        if (how < 3) { /* replaced by this user's own regular file, mode 0600 */
            assert_true(S_ISREG(after.st_mode) && after.st_uid == geteuid());
            assert_int_equal(after.st_mode & 0777, 0600);
        } else { /* the foreign folder is not written either */
            assert_int_equal(after.st_ino, before.st_ino);
            assert_int_equal(chown(dir, geteuid(), getegid()), 0);
        }
        assert_int_equal(dense_product_in(dir, y).program_disk_hits, 1);
    }
    unlink(target);
}

/* The folders sparq makes for its cache are its user's alone (0700). */
static void created_folders_private(void **state)
{
    (void)state;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/new/cache", testing_tmpdir("cache_created"));
    float y[2];
    assert_int_equal(dense_product_in(dir, y).programs_built, 1);
    struct stat info;
    assert_int_equal(stat(dir, &info), 0);
    mode_t mask = umask(0);
    umask(mask);
    assert_int_equal(info.st_mode & 0777, 0700 & ~mask);
    assert_int_equal(dense_product_in(dir, y).program_disk_hits, 1);
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

/* The options a program gets from the device's capabilities: OpenCL C 1.2, prefetching
 * on CPUs, subgroups, and the packed dot products (with OpenCL C 3.0, where they are
 * declared) only on an OpenCL 3.0 device that has cl_khr_integer_dot_product. */
static void options_follow_capabilities(void **state)
{
    (void)state;
    sparq_device_caps caps;
    memset(&caps, 0, sizeof caps);
    caps.type = SPARQ_DEVICE_TYPE_GPU;
    caps.opencl_c_major = 1, caps.opencl_c_minor = 2;
    snprintf(caps.device_version, sizeof caps.device_version, "OpenCL 3.0 CUDA");
    char out[256];
    sparq_program_options(&caps, "-DX=1", out, sizeof out);
    assert_string_equal(out, "-cl-std=CL1.2 -DX=1");
    caps.has_int_dot_product = 1;
    caps.has_subgroups = 1;
    sparq_program_options(&caps, "-DX=1", out, sizeof out);
    assert_string_equal(out, "-cl-std=CL3.0 -DSPARQ_HAS_SUBGROUPS=1 -DSPARQ_HAS_INTEGER_DOT=1 "
                             "-DX=1");
    snprintf(caps.device_version, sizeof caps.device_version, "OpenCL 2.1 AMD");
    caps.type = SPARQ_DEVICE_TYPE_CPU;
    sparq_program_options(&caps, NULL, out, sizeof out);
    assert_false(sparq_device_int_dot(&caps));
    assert_string_equal(out, "-cl-std=CL1.2 -DSPARQ_CPU_PREFETCH=1 -DSPARQ_HAS_SUBGROUPS=1 ");
}

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
    umask(022); /* as CI's: the folders made here are 0755, which the cache trusts */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sources_expand_includes),
        cmocka_unit_test(memory_then_disk_hits),
        cmocka_unit_test(corrupt_entry_rebuilt),
        cmocka_unit_test(truncated_entry_rebuilt),
        cmocka_unit_test(garbage_entry_rebuilt),
        cmocka_unit_test(forged_entry_ignored_in_unsafe_folder),
        cmocka_unit_test(unsafe_entries_not_loaded),
        cmocka_unit_test(created_folders_private),
        cmocka_unit_test(disk_cache_off),
        cmocka_unit_test(kernel_dir_and_build_failure),
        cmocka_unit_test(source_hash_ignores_comments),
        cmocka_unit_test(missing_feature_refused),
        cmocka_unit_test(options_follow_capabilities),
        cmocka_unit_test(threads_share_a_context),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
