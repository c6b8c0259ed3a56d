/* SPDX-License-Identifier: Apache-2.0 */
/* test_context.c - creating, wrapping and freeing contexts; SPARQ_DEVICE; the
 * default queue; counters; bad arguments.
 */
#include "testing.h"

#include <stdlib.h>
#include <string.h>

static void create_and_free(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    assert_non_null(sparq_context_cl_context(ctx));
    assert_non_null(sparq_context_cl_device(ctx));
    assert_true(strlen(sparq_context_caps(ctx)->name) > 0);
    assert_true(strlen(sparq_context_choice(ctx)) > 0);
    cl_command_queue q = sparq_context_queue(ctx);
    assert_non_null(q);
    assert_ptr_equal(q, sparq_context_queue(ctx)); /* created once */
    sparq_context_stats stats;
    assert_int_equal(sparq_context_get_stats(ctx, &stats), SPARQ_OK);
    assert_int_equal(stats.kernel_launches, 0);
    sparq_context_free(ctx);
    sparq_context_free(NULL); /* a no-op */
}

static void device_selector(void **state)
{
    (void)state;
    sparq_context *probe = testing_context(NULL);
    char name[256];
    strcpy(name, sparq_context_caps(probe)->name);
    sparq_context_free(probe);

    sparq_context_options opts = {.device = "0:0"};
    sparq_context *ctx = NULL;
    assert_int_equal(sparq_context_create(&opts, &ctx), SPARQ_OK);
    assert_non_null(strstr(sparq_context_choice(ctx), "index"));
    sparq_context_free(ctx);

    opts.device = "no-such-device-anywhere";
    ctx = (sparq_context *)0x1;
    assert_int_equal(sparq_context_create(&opts, &ctx), SPARQ_ERROR_NO_DEVICE);
    assert_null(ctx);
    assert_non_null(strstr(sparq_last_error(), "no-such-device-anywhere"));

    /* the environment variable, when options leave the device open */
    setenv("SPARQ_DEVICE", "99:99", 1);
    assert_int_equal(sparq_context_create(NULL, &ctx), SPARQ_ERROR_NO_DEVICE);
    setenv("SPARQ_DEVICE", name, 1);
    assert_int_equal(sparq_context_create(NULL, &ctx), SPARQ_OK);
    assert_string_equal(sparq_context_caps(ctx)->name, name);
    sparq_context_free(ctx);
    unsetenv("SPARQ_DEVICE");
}

static void wrap_callers_context(void **state)
{
    (void)state;
    sparq_context *owner = testing_context(NULL);
    cl_context cl = sparq_context_cl_context(owner);
    cl_device_id dev = sparq_context_cl_device(owner);
    clRetainContext(cl);
    sparq_context_free(owner); /* the engine's context lives on through its own reference */

    sparq_context *ctx = NULL;
    assert_int_equal(sparq_context_wrap(cl, dev, NULL, &ctx), SPARQ_OK);
    assert_string_equal(sparq_context_choice(ctx), "wrapped by the caller");
    clReleaseContext(cl); /* now only sparq holds it: it must stay valid */
    cl_uint refs = 0;
    assert_int_equal(clGetContextInfo(sparq_context_cl_context(ctx), CL_CONTEXT_REFERENCE_COUNT,
                                      sizeof refs, &refs, NULL),
                     CL_SUCCESS);
    assert_true(refs >= 1);
    assert_non_null(sparq_context_queue(ctx));
    sparq_context_free(ctx);
}

static void bad_arguments(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    sparq_context *out = NULL;
    assert_int_equal(sparq_context_create(NULL, NULL), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_context_wrap(NULL, NULL, NULL, &out), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_context_wrap(sparq_context_cl_context(ctx), NULL, NULL, &out),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "NULL device"));
    assert_int_equal(sparq_context_wrap(sparq_context_cl_context(ctx), sparq_context_cl_device(ctx),
                                        NULL, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_null(out);
    assert_int_equal(sparq_context_get_stats(NULL, NULL), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_null(sparq_context_queue(NULL));
    assert_null(sparq_context_cl_context(NULL));
    assert_null(sparq_context_caps(NULL));
    sparq_context_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(create_and_free),
        cmocka_unit_test(device_selector),
        cmocka_unit_test(wrap_callers_context),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
