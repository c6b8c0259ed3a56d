/* SPDX-License-Identifier: Apache-2.0 */
/* analyze.c - sparsity analysis of dense float weights for dispatch: per-row sparsity,
 * its histogram, nonzeros-per-row statistics, and the fill of an r x c block grid.
 */
#include "checks.h"
#include "sparq.h"
#include "status.h"

#include <math.h>
#include <stdint.h>

sparq_status sparq_analyze_rows(const float *weights, size_t rows, size_t cols,
                                sparq_row_stats *stats, double *row_sparsity,
                                size_t *histogram, size_t bins)
{
    const char *func = "analyze_rows";
    sparq_status st = sparq_check_matrix(weights, rows, cols, func);
    if (st == SPARQ_OK && !stats)
        st = sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: stats is NULL", func);
    if (st == SPARQ_OK && histogram && (bins == 0 || bins > SIZE_MAX / cols))
        st = sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                        "%s: %zu histogram bins for %zu columns is not allowed (need >= 1 "
                        "and bins * cols within size_t)", func, bins, cols);
    if (st == SPARQ_OK)
        st = sparq_check_finite(weights, rows, cols, func);
    if (st != SPARQ_OK)
        return st;

    if (histogram)
        for (size_t b = 0; b < bins; b++)
            histogram[b] = 0;
    size_t nnz = 0, empty = 0, nnz_min = cols, nnz_max = 0;
    double mean = 0.0, m2 = 0.0; /* Welford's running mean and sum of squared deviations */
    for (size_t r = 0; r < rows; r++) {
        size_t row_nnz = 0;
        for (size_t c = 0; c < cols; c++)
            row_nnz += weights[r * cols + c] != 0.0f;
        size_t zeros = cols - row_nnz;
        nnz += row_nnz;
        empty += row_nnz == 0;
        nnz_min = row_nnz < nnz_min ? row_nnz : nnz_min;
        nnz_max = row_nnz > nnz_max ? row_nnz : nnz_max;
        double delta = (double)row_nnz - mean;
        mean += delta / (double)(r + 1);
        m2 += delta * ((double)row_nnz - mean);
        if (row_sparsity)
            row_sparsity[r] = (double)zeros / (double)cols;
        if (histogram) {
            size_t bin = zeros * bins / cols;
            histogram[bin < bins ? bin : bins - 1]++;
        }
    }

    stats->rows = rows;
    stats->cols = cols;
    stats->nnz = nnz;
    stats->sparsity = 1.0 - (double)nnz / ((double)rows * (double)cols);
    stats->empty_rows = empty;
    stats->nnz_min = nnz_min;
    stats->nnz_max = nnz_max;
    stats->nnz_mean = (double)nnz / (double)rows;
    stats->nnz_stddev = sqrt(m2 / (double)rows);
    stats->nnz_cv = stats->nnz_mean > 0.0 ? stats->nnz_stddev / stats->nnz_mean : 0.0;
    return SPARQ_OK;
}

sparq_status sparq_analyze_blocks(const float *weights, size_t rows, size_t cols,
                                  size_t block_rows, size_t block_cols,
                                  sparq_block_stats *stats)
{
    const char *func = "analyze_blocks";
    sparq_status st = sparq_check_matrix(weights, rows, cols, func);
    if (st == SPARQ_OK && !stats)
        st = sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: stats is NULL", func);
    if (st == SPARQ_OK && (block_rows == 0 || block_cols == 0))
        st = sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                        "%s: block %zu x %zu; both sizes must be at least 1", func, block_rows,
                        block_cols);
    if (st == SPARQ_OK)
        st = sparq_check_finite(weights, rows, cols, func);
    if (st != SPARQ_OK)
        return st;

    size_t grid_rows = rows / block_rows + (rows % block_rows != 0);
    size_t grid_cols = cols / block_cols + (cols % block_cols != 0);
    size_t nonempty = 0, nnz = 0;
    double fill_sum = 0.0;
    for (size_t br = 0; br < grid_rows; br++) {
        size_t r0 = br * block_rows;
        size_t r_end = rows - r0 < block_rows ? rows : r0 + block_rows;
        for (size_t bc = 0; bc < grid_cols; bc++) {
            size_t c0 = bc * block_cols;
            size_t c_end = cols - c0 < block_cols ? cols : c0 + block_cols;
            size_t block_nnz = 0;
            for (size_t r = r0; r < r_end; r++)
                for (size_t c = c0; c < c_end; c++)
                    block_nnz += weights[r * cols + c] != 0.0f;
            nnz += block_nnz;
            if (block_nnz > 0) {
                nonempty++;
                fill_sum += (double)block_nnz / ((double)(r_end - r0) * (double)(c_end - c0));
            }
        }
    }

    stats->block_rows = block_rows;
    stats->block_cols = block_cols;
    stats->grid_rows = grid_rows;
    stats->grid_cols = grid_cols;
    stats->blocks = grid_rows * grid_cols;
    stats->nonempty_blocks = nonempty;
    stats->nnz = nnz;
    stats->nonempty_fraction = (double)nonempty / (double)stats->blocks;
    stats->mean_fill = nonempty > 0 ? fill_sum / (double)nonempty : 0.0;
    return SPARQ_OK;
}
