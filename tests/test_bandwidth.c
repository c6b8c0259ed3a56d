/* SPDX-License-Identifier: Apache-2.0 */
/* test_bandwidth.c - the bandwidth roof measurement runs its kernels and reports
 * consistent numbers; bad arguments are refused.
 */
#include "testing.h"

static void measures_something(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    cl_command_queue q = sparq_context_queue(ctx);
    sparq_bandwidth bw;
    assert_int_equal(sparq_bandwidth_measure(ctx, q, (4u << 20) + 7, 1, &bw), SPARQ_OK);
    assert_int_equal(bw.bytes, 4u << 20); /* rounded down to whole float4s */
    assert_true(bw.read_gbs > 0.01 && bw.copy_gbs > 0.01);
    assert_true(bw.best_gbs == (bw.read_gbs > bw.copy_gbs ? bw.read_gbs : bw.copy_gbs));
    sparq_context_stats stats;
    sparq_context_get_stats(ctx, &stats);
    assert_int_equal(stats.kernel_launches, 3 * 2 * 2); /* 3 spans x 2 kernels x (warm-up + 1) */

    assert_int_equal(sparq_bandwidth_measure(NULL, q, 1u << 20, 1, &bw),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_bandwidth_measure(ctx, q, 100, 1, &bw), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_bandwidth_measure(ctx, q, 1u << 20, 0, &bw),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_bandwidth_measure(ctx, q, SIZE_MAX - 15, 1, &bw),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    sparq_context_free(ctx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(measures_something)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
