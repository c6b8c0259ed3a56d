/* SPDX-License-Identifier: Apache-2.0 */
/* test_metrics.c - error metrics on hand-computed inputs: equal arrays, zero vectors,
 * opposite signs, a long array accumulated in double, and NaN / Inf / argument errors.
 */
#include "testing.h"

#include <math.h>
#include <stdlib.h>

static void hand_computed(void **state)
{
    (void)state;
    const float ref[4] = {1, 2, 3, 4};
    const float approx[4] = {1, 2, 3, 5};
    sparq_error_metrics m;
    assert_int_equal(sparq_error_metrics_compute(ref, approx, 4, &m), SPARQ_OK);
    assert_int_equal(m.count, 4);
    testing_assert_near(m.mse, 0.25);
    testing_assert_near(m.nmse, 1.0 / 30.0); /* 0.25 / (30 / 4) */
    testing_assert_near(m.sqnr_db, 10.0 * log10(30.0));
    testing_assert_near(m.max_abs_error, 1.0);
    testing_assert_near(m.cosine, 34.0 / sqrt(30.0 * 39.0));

    const float a[3] = {0.5f, -1.5f, 2.0f};
    const float b[3] = {0.25f, -1.0f, 1.0f}; /* errors -0.25, 0.5, -1 */
    assert_int_equal(sparq_error_metrics_compute(a, b, 3, &m), SPARQ_OK);
    testing_assert_near(m.mse, (0.0625 + 0.25 + 1.0) / 3.0);
    testing_assert_near(m.nmse, 1.3125 / 6.5);
    testing_assert_near(m.sqnr_db, 10.0 * log10(6.5 / 1.3125));
    testing_assert_near(m.max_abs_error, 1.0);
    testing_assert_near(m.cosine, 3.625 / sqrt(6.5 * 2.0625));
}

static void identical_and_opposite(void **state)
{
    (void)state;
    const float x[5] = {1.5f, -2.0f, 0.0f, 3.25f, -0.125f};
    const float neg[5] = {-1.5f, 2.0f, 0.0f, -3.25f, 0.125f};
    sparq_error_metrics m;
    assert_int_equal(sparq_error_metrics_compute(x, x, 5, &m), SPARQ_OK);
    assert_true(m.mse == 0.0 && m.nmse == 0.0 && m.max_abs_error == 0.0);
    assert_true(isinf(m.sqnr_db) && m.sqnr_db > 0.0);
    assert_true(m.cosine == 1.0);

    assert_int_equal(sparq_error_metrics_compute(x, neg, 5, &m), SPARQ_OK);
    testing_assert_near(m.nmse, 4.0);
    testing_assert_near(m.sqnr_db, 10.0 * log10(0.25));
    testing_assert_near(m.max_abs_error, 6.5);
    assert_true(m.cosine == -1.0);

    /* 2x the reference: cosine exactly 1 (clamped), NMSE 1, SQNR 0 dB */
    const float twice[5] = {3.0f, -4.0f, 0.0f, 6.5f, -0.25f};
    assert_int_equal(sparq_error_metrics_compute(x, twice, 5, &m), SPARQ_OK);
    testing_assert_near(m.nmse, 1.0);
    testing_assert_near(m.sqnr_db, 0.0);
    testing_assert_near(m.cosine, 1.0);
    assert_true(m.cosine <= 1.0);
}

static void zero_vectors(void **state)
{
    (void)state;
    const float zero[3] = {0.0f, -0.0f, 0.0f};
    const float some[3] = {0.0f, 3.0f, -4.0f};
    sparq_error_metrics m;
    /* both zero: equal */
    assert_int_equal(sparq_error_metrics_compute(zero, zero, 3, &m), SPARQ_OK);
    assert_true(m.mse == 0.0 && m.nmse == 0.0 && m.cosine == 1.0);
    assert_true(isinf(m.sqnr_db) && m.sqnr_db > 0.0);
    /* zero reference, nonzero approximation */
    assert_int_equal(sparq_error_metrics_compute(zero, some, 3, &m), SPARQ_OK);
    testing_assert_near(m.mse, 25.0 / 3.0);
    assert_true(isinf(m.nmse) && m.nmse > 0.0);
    assert_true(isinf(m.sqnr_db) && m.sqnr_db < 0.0);
    assert_true(m.cosine == 0.0);
    testing_assert_near(m.max_abs_error, 4.0);
    /* nonzero reference, zero approximation: everything lost */
    assert_int_equal(sparq_error_metrics_compute(some, zero, 3, &m), SPARQ_OK);
    testing_assert_near(m.nmse, 1.0);
    testing_assert_near(m.sqnr_db, 0.0);
    assert_true(m.cosine == 0.0);
}

/* A long array where float accumulation would drift: 1e6 values of 0.1f against
 * 0.1f + 2^-20, exact in double. */
static void long_array(void **state)
{
    (void)state;
    const size_t n = 1000000;
    float *ref = malloc(n * sizeof *ref), *approx = malloc(n * sizeof *approx);
    assert_true(ref && approx);
    const float delta = 1.0f / 1048576.0f;
    for (size_t i = 0; i < n; i++) {
        ref[i] = 0.1f;
        approx[i] = 0.1f + delta;
    }
    double e = (double)(0.1f + delta) - (double)0.1f;
    sparq_error_metrics m;
    assert_int_equal(sparq_error_metrics_compute(ref, approx, n, &m), SPARQ_OK);
    testing_assert_near(m.mse, e * e);
    testing_assert_near(m.max_abs_error, e);
    testing_assert_near(m.nmse, e * e / ((double)0.1f * (double)0.1f));
    testing_assert_near(m.cosine, 1.0);
    free(ref);
    free(approx);
}

static void errors(void **state)
{
    (void)state;
    float ref[6] = {1, 2, 3, 4, 5, 6};
    float approx[6] = {1, 2, 3, 4, 5, 6};
    sparq_error_metrics m = {0};
    m.count = 99;
    approx[5] = NAN;
    approx[2] = NAN;
    assert_int_equal(sparq_error_metrics_compute(ref, approx, 6, &m), SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "error_metrics_compute: approximation[2] is NaN");
    assert_int_equal(m.count, 99); /* untouched on failure */
    ref[4] = INFINITY;
    assert_int_equal(sparq_error_metrics_compute(ref, approx, 6, &m), SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "error_metrics_compute: reference[4] is +Inf");
    /* only the first count values are looked at */
    assert_int_equal(sparq_error_metrics_compute(ref, approx, 2, &m), SPARQ_OK);
    assert_int_equal(m.count, 2);
    assert_int_equal(sparq_error_metrics_compute(ref, approx, 0, &m),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_string_equal(sparq_last_error(), "error_metrics_compute: count is 0");
    assert_int_equal(sparq_error_metrics_compute(NULL, approx, 2, &m),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_string_equal(sparq_last_error(), "error_metrics_compute: reference is NULL");
    assert_int_equal(sparq_error_metrics_compute(ref, NULL, 2, &m), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_error_metrics_compute(ref, approx, 2, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_string_equal(sparq_last_error(), "error_metrics_compute: metrics is NULL");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hand_computed),
        cmocka_unit_test(identical_and_opposite),
        cmocka_unit_test(zero_vectors),
        cmocka_unit_test(long_array),
        cmocka_unit_test(errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
