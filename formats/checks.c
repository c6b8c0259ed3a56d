/* SPDX-License-Identifier: Apache-2.0 */
/* checks.c - argument and data checks shared by formats/ (see checks.h). */
#include "checks.h"
#include "status.h"

#include <math.h>
#include <stdint.h>

sparq_status sparq_check_shape(size_t rows, size_t cols, const char *what)
{
    if (rows == 0 || cols == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: the matrix is %zu x %zu; both sizes must be at least 1", what,
                          rows, cols);
    if (rows > SIZE_MAX / cols || rows * cols > SIZE_MAX / sizeof(float))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: %zu x %zu elements overflow size_t",
                          what, rows, cols);
    return SPARQ_OK;
}

sparq_status sparq_check_matrix(const float *w, size_t rows, size_t cols, const char *what)
{
    if (!w)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: weights is NULL", what);
    return sparq_check_shape(rows, cols, what);
}

sparq_status sparq_check_finite(const float *w, size_t rows, size_t cols, const char *what)
{
    size_t n = rows * cols;
    for (size_t i = 0; i < n; i++) {
        if (isfinite(w[i]))
            continue;
        const char *kind = isnan(w[i]) ? "NaN" : (w[i] > 0 ? "+Inf" : "-Inf");
        return sparq_fail(SPARQ_ERROR_INVALID_DATA, "%s: W[%zu, %zu] is %s", what, i / cols,
                          i % cols, kind);
    }
    return SPARQ_OK;
}

bool sparq_block_side_ok(size_t side)
{
    return side == 1 || side == 2 || side == 4 || side == 8 || side == 16 || side == 32;
}
