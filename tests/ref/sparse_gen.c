/* sparse_gen.c - pruned test matrices (see sparse_gen.h). */
#include "ref/sparse_gen.h"

#include <math.h>

static double next_uniform(uint64_t *state) /* splitmix64 -> [0, 1) */
{
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) / 9007199254740992.0;
}

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
            double v = 2.0 * next_uniform(&state) - 1.0;
            w[r * cols + c] = next_uniform(&state) < keep && v != 0.0 ? (float)v : 0.0f;
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
