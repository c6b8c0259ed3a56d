/* SPDX-License-Identifier: Apache-2.0 */
/* sparse_gen.h - pruned test matrices with the row-length shapes sparse kernels must
 * survive: uniform, empty rows, one long row among short ones, power-law lengths.
 */
#ifndef SPARQ_SPARSE_GEN_H
#define SPARQ_SPARSE_GEN_H
#include <stddef.h>
#include <stdint.h>

typedef enum gen_shape {
    GEN_UNIFORM = 0,   /* every weight kept with probability 1 - sparsity             */
    GEN_EMPTY_ROWS = 1,/* uniform, but every third row entirely zero                   */
    GEN_LONG_ROW = 2,  /* uniform, but row rows/2 fully dense                          */
    GEN_POWER_LAW = 3  /* row r keeps about cols * (1 - sparsity) * 2 / (1 + r/4)^1.5  */
} gen_shape;

/* Fills w (rows x cols) with values in [-1, 1] at about this sparsity, in the shape. */
void gen_sparse(float *w, size_t rows, size_t cols, double sparsity, gen_shape shape,
                uint64_t seed);

const char *gen_shape_name(gen_shape shape);

#endif
