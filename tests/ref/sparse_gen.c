/* SPDX-License-Identifier: Apache-2.0 */
/* sparse_gen.c - pruned test matrices (see sparse_gen.h). */
#include "ref/sparse_gen.h"
#include "testing.h"

#include <math.h>
#include <stdbool.h>

void gen_sparse(float *w, size_t rows, size_t cols, double sparsity, gen_shape shape,
                uint64_t seed)
{
    uint64_t state = seed;
    for (size_t r = 0; r < rows; r++) {
        double keep = 1.0 - sparsity;
        if (shape == GEN_EMPTY_ROWS && r % 3 == 1)
            keep = 0.0;
        else if (shape == GEN_LONG_ROW && r == rows / 2)
            keep = 1.0;
        else if (shape == GEN_POWER_LAW)
            keep = fmin(1.0, keep * 2.0 / pow(1.0 + (double)r / 4.0, 1.5));
        for (size_t c = 0; c < cols; c++) {
            double v = 2.0 * testing_next_uniform(&state) - 1.0;
            bool kept = testing_next_uniform(&state) < keep && v != 0.0;
            w[r * cols + c] = kept ? (float)v : 0.0f;
        }
    }
}

const char *gen_shape_name(gen_shape shape)
{
    switch (shape) {
    case GEN_UNIFORM: return "uniform";
    case GEN_EMPTY_ROWS: return "empty-rows";
    case GEN_LONG_ROW: return "long-row";
    case GEN_POWER_LAW: return "power-law";
    }
    return "?";
}
