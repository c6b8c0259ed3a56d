/* SPDX-License-Identifier: Apache-2.0 */
/* testing.c - shared test helpers (see testing.h). */
#include "testing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

sparq_context *testing_context(const sparq_context_options *options)
{
    sparq_context *ctx = NULL;
    sparq_status st = sparq_context_create(options, &ctx);
    if (st != SPARQ_OK) {
        if (getenv("CI")) {
            fail_msg("CI is set and no OpenCL device could be opened: %s: %s",
                     sparq_status_string(st), sparq_last_error());
        }
        print_message("no OpenCL device (%s), skipping\n", sparq_last_error());
        skip();
    }
    return ctx;
}

cl_mem testing_buffer(sparq_context *ctx, const float *data, size_t count)
{
    cl_int err = CL_SUCCESS;
    cl_mem buf = clCreateBuffer(sparq_context_cl_context(ctx),
                                CL_MEM_READ_WRITE | (data ? CL_MEM_COPY_HOST_PTR : 0),
                                count * sizeof(float), (void *)data, &err);
    assert_int_equal(err, CL_SUCCESS);
    return buf;
}

void testing_read(sparq_context *ctx, cl_mem buf, float *out, size_t count, cl_event event)
{
    cl_int err = clEnqueueReadBuffer(sparq_context_queue(ctx), buf, CL_TRUE, 0,
                                     count * sizeof(float), out, event ? 1 : 0,
                                     event ? &event : NULL, NULL);
    assert_int_equal(err, CL_SUCCESS);
}

uint64_t testing_next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double testing_next_uniform(uint64_t *state)
{
    return (double)(testing_next_u64(state) >> 11) / 9007199254740992.0;
}

void testing_fill_uniform(float *out, size_t count, uint64_t seed, float lo, float hi)
{
    for (size_t i = 0; i < count; i++)
        out[i] = lo + (hi - lo) * (float)testing_next_uniform(&seed);
}

void testing_fill_normal(float *out, size_t count, uint64_t seed, float mean, float sd)
{
    for (size_t i = 0; i < count; i++) {
        double u = testing_next_uniform(&seed), v = testing_next_uniform(&seed);
        double z = sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v);
        out[i] = (float)(mean + sd * z);
    }
}

const char *testing_tmpdir(const char *name)
{
    static char path[1024];
    mkdir(SPARQ_TEST_TMP_ROOT, 0755);
    snprintf(path, sizeof path, "%s/%s", SPARQ_TEST_TMP_ROOT, name);
    char cmd[2200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s' && mkdir -p '%s'", path, path);
    assert_int_equal(system(cmd), 0);
    return path;
}

const char *testing_tmpfile(const char *test, const char *name)
{
    static char path[1100];
    const char *dir = testing_tmpdir(test);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

unsigned char *testing_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n >= 0);
    rewind(f);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

void testing_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (size > 0)
        assert_int_equal(fwrite(data, 1, size, f), size);
    assert_int_equal(fclose(f), 0);
}

void testing_assert_near(double got, double want)
{
    if (!(fabs(got - want) <= 1e-12 * (1.0 + fabs(want))))
        fail_msg("got %.17g, want %.17g", got, want);
}

void testing_skip_without_numpy(void)
{
    if (system(SPARQ_PYTHON " -c 'import numpy' >/dev/null 2>&1") == 0)
        return;
    if (getenv("CI"))
        fail_msg("CI is set but " SPARQ_PYTHON " has no numpy (Debian: python3-numpy)");
    print_message("python3 with numpy not found, skipping\n");
    skip();
}

int testing_python(const char *script, const char *arg1, const char *arg2, char *out,
                   size_t size)
{
    char cmd[4096];
    int n = arg2 ? snprintf(cmd, sizeof cmd, SPARQ_PYTHON " '%s/%s' '%s' '%s' 2>&1",
                            SPARQ_SOURCE_DIR, script, arg1, arg2)
                 : snprintf(cmd, sizeof cmd, SPARQ_PYTHON " '%s/%s' '%s' 2>&1",
                            SPARQ_SOURCE_DIR, script, arg1);
    assert_true(n > 0 && (size_t)n < sizeof cmd);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = fread(out, 1, size - 1, p);
    out[got] = '\0';
    return pclose(p);
}

void testing_filter_from_env(void)
{
    const char *filter = getenv("SPARQ_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
}

double testing_rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    int got = f ? fscanf(f, "%llu %llu", &size, &resident) : 0;
    if (f)
        fclose(f);
    return got == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) / 1e6 : 0.0;
}
