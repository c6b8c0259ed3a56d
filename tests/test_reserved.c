/* SPDX-License-Identifier: Apache-2.0 */
/* test_reserved.c - the structs that grow (sparq.h's top comment): reserved is their last
 * member; every call taking sparq_context_options, sparq_matrix_options or
 * sparq_tune_options refuses a nonzero reserved word by name and accepts zeroed ones;
 * sparq_device_caps comes back with reserved zeroed.
 */
#include "testing.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* reserved ends each struct, so fields carved from it keep every other offset */
#define RESERVED_IS_LAST(type)                                                               \
    _Static_assert(offsetof(type, reserved) + sizeof(((type *)0)->reserved) == sizeof(type), \
                   #type ".reserved is not last");                                           \
    _Static_assert(sizeof(((type *)0)->reserved) == SPARQ_RESERVED_WORDS * sizeof(uint64_t), \
                   #type ".reserved is not SPARQ_RESERVED_WORDS words")
RESERVED_IS_LAST(sparq_context_options);
RESERVED_IS_LAST(sparq_matrix_options);
RESERVED_IS_LAST(sparq_tune_options);
RESERVED_IS_LAST(sparq_device_caps);

static void expect_refused(sparq_status st, const char *sentence)
{
    assert_int_equal(st, SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), sentence));
}

static void context_options(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    sparq_context_options opts = {.disable_disk_cache = 1};
    opts.reserved[SPARQ_RESERVED_WORDS - 1] = 1;
    sparq_context *out = (sparq_context *)0x1;
    expect_refused(sparq_context_create(&opts, &out),
                   "context_create: sparq_context_options.reserved[7] is 0x1, not 0");
    assert_null(out);
    expect_refused(sparq_context_wrap(sparq_context_cl_context(ctx), sparq_context_cl_device(ctx),
                                      &opts, &out),
                   "context_wrap: sparq_context_options.reserved[7]");
    assert_null(out);
    sparq_cache_info info;
    expect_refused(sparq_cache_get_info(&opts, &info), "cache_get_info: sparq_context_options");

    opts.reserved[SPARQ_RESERVED_WORDS - 1] = 0; /* zeroed: accepted */
    assert_int_equal(sparq_context_wrap(sparq_context_cl_context(ctx),
                                        sparq_context_cl_device(ctx), &opts, &out),
                     SPARQ_OK);
    assert_int_equal(sparq_cache_get_info(&opts, &info), SPARQ_OK);
    sparq_context_free(out);
    sparq_context_free(ctx);
}

static void matrix_options(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    float w[4 * 8];
    testing_fill_uniform(w, 4 * 8, 1, -1.0f, 1.0f);
    sparq_pack_options fmt = {.structure = SPARQ_STRUCTURE_DENSE};
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_create(&fmt, 4, 8, w, &packed), SPARQ_OK);
    sparq_matrix_options opts = {.path = SPARQ_PATH_AUTO};
    opts.reserved[0] = 0x40;
    sparq_matrix *m = (sparq_matrix *)0x1;
    expect_refused(sparq_matrix_create(ctx, packed, &opts, &m),
                   "matrix_create: sparq_matrix_options.reserved[0] is 0x40, not 0");
    assert_null(m);
    opts.reserved[0] = 0;
    assert_int_equal(sparq_matrix_create(ctx, packed, &opts, &m), SPARQ_OK);
    sparq_matrix_free(m);
    sparq_packed_free(packed);
    sparq_context_free(ctx);
}

static void tune_options(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    sparq_tune_options opts = {.db_path = ""};
    opts.reserved[3] = 2;
    sparq_tune_result *results = NULL;
    size_t count = 0;
    /* no cases: a zeroed struct does nothing and succeeds, a dirty one is refused first */
    expect_refused(sparq_tune_run(ctx, NULL, 0, &opts, &results, &count),
                   "tune: sparq_tune_options.reserved[3] is 0x2, not 0");
    opts.reserved[3] = 0;
    assert_int_equal(sparq_tune_run(ctx, NULL, 0, &opts, &results, &count), SPARQ_OK);
    assert_int_equal(count, 0);
    free(results);
    sparq_context_free(ctx);
}

static void device_caps_zeroed(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    sparq_device_caps caps;
    memset(&caps, 0xa5, sizeof caps);
    assert_int_equal(sparq_device_caps_probe(sparq_context_cl_device(ctx), &caps), SPARQ_OK);
    for (size_t i = 0; i < SPARQ_RESERVED_WORDS; i++)
        assert_int_equal(caps.reserved[i], 0);
    for (size_t i = 0; i < SPARQ_RESERVED_WORDS; i++)
        assert_int_equal(sparq_context_caps(ctx)->reserved[i], 0);
    sparq_context_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(context_options),
        cmocka_unit_test(matrix_options),
        cmocka_unit_test(tune_options),
        cmocka_unit_test(device_caps_zeroed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
