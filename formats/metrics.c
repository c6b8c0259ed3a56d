/* SPDX-License-Identifier: Apache-2.0 */
/* metrics.c - error metrics between a reference array and an approximation of it
 * (MSE, NMSE, SQNR, max abs error, cosine similarity), accumulated in double.
 */
#include "sparq.h"
#include "status.h"

#include <math.h>

/* SPARQ_ERROR_INVALID_DATA naming the first NaN or infinite value of an array. */
static sparq_status check_finite(const char *func, const char *name, const float *values,
                                 size_t count)
{
    for (size_t i = 0; i < count; i++) {
        float v = values[i];
        if (isfinite(v))
            continue;
        const char *what = isnan(v) ? "NaN" : (v > 0.0f ? "+Inf" : "-Inf");
        return sparq_fail(SPARQ_ERROR_INVALID_DATA, "%s: %s[%zu] is %s", func, name, i, what);
    }
    return SPARQ_OK;
}

sparq_status sparq_error_metrics_compute(const float *reference, const float *approximation,
                                         size_t count, sparq_error_metrics *metrics)
{
    const char *func = "error_metrics_compute";
    if (!reference || !approximation || !metrics)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", func,
                          !reference ? "reference" : !approximation ? "approximation"
                                                                     : "metrics");
    if (count == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: count is 0", func);
    sparq_status st = check_finite(func, "reference", reference, count);
    if (st == SPARQ_OK)
        st = check_finite(func, "approximation", approximation, count);
    if (st != SPARQ_OK)
        return st;

    /* Sums of squares of finite floats cannot overflow a double. */
    double signal = 0.0, approx_power = 0.0, noise = 0.0, dot = 0.0, max_abs = 0.0;
    for (size_t i = 0; i < count; i++) {
        double r = reference[i], a = approximation[i];
        double e = a - r; /* exact: both are floats */
        signal += r * r;
        approx_power += a * a;
        noise += e * e;
        dot += r * a;
        if (fabs(e) > max_abs)
            max_abs = fabs(e);
    }

    metrics->count = count;
    metrics->mse = noise / (double)count;
    metrics->max_abs_error = max_abs;
    if (signal > 0.0) {
        metrics->nmse = noise / signal;
        metrics->sqnr_db = noise > 0.0 ? 10.0 * log10(signal / noise) : INFINITY;
    } else {
        metrics->nmse = noise > 0.0 ? INFINITY : 0.0;
        metrics->sqnr_db = noise > 0.0 ? -INFINITY : INFINITY;
    }
    if (signal > 0.0 && approx_power > 0.0) {
        double cosine = dot / (sqrt(signal) * sqrt(approx_power));
        metrics->cosine = cosine > 1.0 ? 1.0 : (cosine < -1.0 ? -1.0 : cosine);
    } else {
        metrics->cosine = signal == approx_power ? 1.0 : 0.0;
    }
    return SPARQ_OK;
}
