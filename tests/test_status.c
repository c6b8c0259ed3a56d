/* SPDX-License-Identifier: Apache-2.0 */
/* test_status.c - status names, the thread-local last-error sentence, logging. */
#include "testing.h"

#include <pthread.h>
#include <string.h>

static void status_names(void **state)
{
    (void)state;
    assert_string_equal(sparq_status_string(SPARQ_OK), "SPARQ_OK");
    assert_string_equal(sparq_status_string(SPARQ_ERROR_OUT_OF_BOUNDS),
                        "SPARQ_ERROR_OUT_OF_BOUNDS");
    assert_string_equal(sparq_status_string(CL_INVALID_MEM_OBJECT), "CL_INVALID_MEM_OBJECT");
    assert_string_equal(sparq_status_string(CL_OUT_OF_RESOURCES), "CL_OUT_OF_RESOURCES");
    assert_string_equal(sparq_status_string(123456), "unknown status");
    /* sparq's own range never meets OpenCL's negative codes */
    for (int s = SPARQ_ERROR_INVALID_ARGUMENT; s <= SPARQ_ERROR_INTERNAL; s++) {
        assert_true(s > 0);
        assert_true(strncmp(sparq_status_string(s), "SPARQ_ERROR_", 12) == 0);
    }
    assert_string_equal(sparq_version_string(), "0.1.0");
}

static void *fail_in_thread(void *arg)
{
    (void)arg;
    sparq_fail(SPARQ_ERROR_IO, "from the other thread");
    return NULL;
}

static void last_error_is_thread_local(void **state)
{
    (void)state;
    assert_int_equal(sparq_fail(SPARQ_ERROR_INVALID_DATA, "row_ptr[%d]=%d > nnz=%d", 17, 40, 39),
                     SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "row_ptr[17]=40 > nnz=39");
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, fail_in_thread, NULL), 0);
    pthread_join(t, NULL);
    assert_string_equal(sparq_last_error(), "row_ptr[17]=40 > nnz=39");
    assert_int_equal(sparq_fail_cl(CL_INVALID_VALUE, "clFoo"), CL_INVALID_VALUE);
    assert_non_null(strstr(sparq_last_error(), "CL_INVALID_VALUE"));
}

static void logging_levels(void **state)
{
    (void)state;
    sparq_log_set_level(SPARQ_LOG_DEBUG);
    assert_int_equal(sparq_log_level_get(), SPARQ_LOG_DEBUG);
    sparq_log_set_level(SPARQ_LOG_OFF);
    assert_int_equal(sparq_log_level_get(), SPARQ_LOG_OFF);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(status_names),
        cmocka_unit_test(last_error_is_thread_local),
        cmocka_unit_test(logging_levels),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
