/* SPDX-License-Identifier: Apache-2.0 */
/* checks.h - argument and data checks shared by every formats/ file: the shape of a
 * weight matrix and NaN/Inf in its values, each failing with the sentence that names
 * the problem and the call.
 */
#ifndef SPARQ_CHECKS_H
#define SPARQ_CHECKS_H

#include "sparq.h"

#include <stdbool.h>

/* rows, cols >= 1 and rows * cols floats fit in size_t:
 * "what: the matrix is 0 x 4; both sizes must be at least 1". */
sparq_status sparq_check_shape(size_t rows, size_t cols, const char *what);

/* w not NULL, then sparq_check_shape. */
sparq_status sparq_check_matrix(const float *w, size_t rows, size_t cols, const char *what);

/* The first NaN/Inf in row-major order: "what: W[3, 17] is NaN" (or +Inf, -Inf). */
sparq_status sparq_check_finite(const float *w, size_t rows, size_t cols, const char *what);

/* A BSR block side sparq prunes, packs and tunes: 1, 2, 4, 8, 16 or 32. */
bool sparq_block_side_ok(size_t side);

#endif
