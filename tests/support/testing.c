/* testing.c - shared test helpers (see testing.h). */
#include "testing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void testing_fill_uniform(float *out, size_t count, uint64_t seed, float lo, float hi)
{
    for (size_t i = 0; i < count; i++) {
        uint64_t z = (seed += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        z ^= z >> 31;
        out[i] = lo + (hi - lo) * (float)((double)(z >> 11) / 9007199254740992.0);
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

void testing_filter_from_env(void)
{
    const char *filter = getenv("SPARQ_TEST_FILTER");
    if (filter && *filter)
        cmocka_set_test_filter(filter);
}
