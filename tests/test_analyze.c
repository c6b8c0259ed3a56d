/* SPDX-License-Identifier: Apache-2.0 */
/* test_analyze.c - sparsity analysis: hand-computed row statistics, histograms and
 * block fill (ragged edges included), all-zero and single-row/column shapes, errors.
 */
#include "testing.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void rows_hand(void **state)
{
    (void)state;
    /* nonzeros per row: 2, 0 (-0.0 is zero), 3 */
    const float w[12] = {1, 0, 0, 2,
                         0, -0.0f, 0, 0,
                         3, 4, 0, -5};
    sparq_row_stats st;
    double row_sparsity[3];
    size_t hist4[4], hist2[2], hist3[3];
    assert_int_equal(sparq_analyze_rows(w, 3, 4, &st, row_sparsity, hist4, 4), SPARQ_OK);
    assert_int_equal(st.rows, 3);
    assert_int_equal(st.cols, 4);
    assert_int_equal(st.nnz, 5);
    testing_assert_near(st.sparsity, 7.0 / 12.0);
    assert_int_equal(st.empty_rows, 1);
    assert_int_equal(st.nnz_min, 0);
    assert_int_equal(st.nnz_max, 3);
    testing_assert_near(st.nnz_mean, 5.0 / 3.0);
    testing_assert_near(st.nnz_stddev, sqrt(14.0) / 3.0);
    testing_assert_near(st.nnz_cv, sqrt(14.0) / 5.0);
    assert_true(row_sparsity[0] == 0.5 && row_sparsity[1] == 1.0 && row_sparsity[2] == 0.25);
    /* 4 bins: 0.5 -> bin 2, 1.0 -> last bin, 0.25 -> bin 1 */
    assert_memory_equal(hist4, ((const size_t[]){0, 1, 1, 1}), sizeof hist4);
    assert_int_equal(sparq_analyze_rows(w, 3, 4, &st, NULL, hist2, 2), SPARQ_OK);
    assert_memory_equal(hist2, ((const size_t[]){1, 2}), sizeof hist2);
    /* 3 bins over 4 columns: 2 zeros -> floor(6/4) = 1, 4 -> last, 1 -> floor(3/4) = 0 */
    assert_int_equal(sparq_analyze_rows(w, 3, 4, &st, NULL, hist3, 3), SPARQ_OK);
    assert_memory_equal(hist3, ((const size_t[]){1, 1, 1}), sizeof hist3);
    /* no histogram: bins is ignored */
    assert_int_equal(sparq_analyze_rows(w, 3, 4, &st, NULL, NULL, 0), SPARQ_OK);
    assert_int_equal(st.nnz, 5);
}

static void rows_edge_shapes(void **state)
{
    (void)state;
    sparq_row_stats st;
    size_t hist[5];
    const float one = 2.5f;
    assert_int_equal(sparq_analyze_rows(&one, 1, 1, &st, NULL, hist, 5), SPARQ_OK);
    assert_int_equal(st.nnz, 1);
    assert_true(st.sparsity == 0.0 && st.nnz_stddev == 0.0 && st.nnz_cv == 0.0);
    assert_memory_equal(hist, ((const size_t[]){1, 0, 0, 0, 0}), sizeof hist);

    /* 5 x 1: one column, three nonzero rows */
    const float column[5] = {1, 0, 2, 0, 3};
    assert_int_equal(sparq_analyze_rows(column, 5, 1, &st, NULL, hist, 5), SPARQ_OK);
    assert_int_equal(st.nnz, 3);
    assert_int_equal(st.empty_rows, 2);
    testing_assert_near(st.nnz_mean, 0.6);
    testing_assert_near(st.nnz_stddev, sqrt(0.24));
    assert_memory_equal(hist, ((const size_t[]){3, 0, 0, 0, 2}), sizeof hist);

    /* all zero */
    float zeros[6 * 7];
    memset(zeros, 0, sizeof zeros);
    assert_int_equal(sparq_analyze_rows(zeros, 6, 7, &st, NULL, hist, 5), SPARQ_OK);
    assert_int_equal(st.nnz, 0);
    assert_int_equal(st.empty_rows, 6);
    assert_int_equal(st.nnz_max, 0);
    assert_true(st.sparsity == 1.0 && st.nnz_mean == 0.0 && st.nnz_cv == 0.0);
    assert_memory_equal(hist, ((const size_t[]){0, 0, 0, 0, 6}), sizeof hist);
}

static void blocks_hand(void **state)
{
    (void)state;
    const float w[16] = {1, 1, 0, 3,
                         1, 1, 0, 0,
                         0, 0, 0, 0,
                         0, 0, 0, 2};
    sparq_block_stats st;
    assert_int_equal(sparq_analyze_blocks(w, 4, 4, 2, 2, &st), SPARQ_OK);
    assert_int_equal(st.grid_rows, 2);
    assert_int_equal(st.grid_cols, 2);
    assert_int_equal(st.blocks, 4);
    assert_int_equal(st.nonempty_blocks, 3);
    assert_int_equal(st.nnz, 6);
    testing_assert_near(st.nonempty_fraction, 0.75);
    testing_assert_near(st.mean_fill, (1.0 + 0.25 + 0.25) / 3.0);
    /* 1x1 blocks: fill of non-empty blocks is 1 */
    assert_int_equal(sparq_analyze_blocks(w, 4, 4, 1, 1, &st), SPARQ_OK);
    assert_int_equal(st.nonempty_blocks, 6);
    testing_assert_near(st.mean_fill, 1.0);
    testing_assert_near(st.nonempty_fraction, 6.0 / 16.0);
    /* one block larger than the matrix */
    assert_int_equal(sparq_analyze_blocks(w, 4, 4, 8, 5, &st), SPARQ_OK);
    assert_int_equal(st.blocks, 1);
    testing_assert_near(st.mean_fill, 6.0 / 16.0);

    /* ragged 3x3 with 2x2 blocks: in-range sizes 4, 2, 2, 1 */
    const float r[9] = {1, 0, 0,
                        0, 0, 0,
                        0, 0, 7};
    assert_int_equal(sparq_analyze_blocks(r, 3, 3, 2, 2, &st), SPARQ_OK);
    assert_int_equal(st.blocks, 4);
    assert_int_equal(st.nonempty_blocks, 2);
    testing_assert_near(st.nonempty_fraction, 0.5);
    testing_assert_near(st.mean_fill, (0.25 + 1.0) / 2.0);
    /* 2 x 3 blocks: in-range sizes 6 and 3 (the bottom one ragged) */
    assert_int_equal(sparq_analyze_blocks(r, 3, 3, 2, 3, &st), SPARQ_OK);
    assert_int_equal(st.blocks, 2);
    testing_assert_near(st.mean_fill, (1.0 / 6.0 + 1.0 / 3.0) / 2.0);

    float zeros[10] = {0};
    assert_int_equal(sparq_analyze_blocks(zeros, 1, 10, 1, 4, &st), SPARQ_OK);
    assert_int_equal(st.blocks, 3);
    assert_int_equal(st.nonempty_blocks, 0);
    assert_true(st.nonempty_fraction == 0.0 && st.mean_fill == 0.0);
}

static void errors(void **state)
{
    (void)state;
    float w[12] = {0};
    sparq_row_stats rs;
    sparq_block_stats bs;
    size_t hist[2];
    const sparq_status bad = SPARQ_ERROR_INVALID_ARGUMENT;
    w[1 * 4 + 2] = NAN;
    assert_int_equal(sparq_analyze_rows(w, 3, 4, &rs, NULL, NULL, 0), SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "analyze_rows: W[1, 2] is NaN");
    w[1 * 4 + 2] = -INFINITY;
    assert_int_equal(sparq_analyze_blocks(w, 3, 4, 2, 2, &bs), SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "analyze_blocks: W[1, 2] is -Inf");
    w[1 * 4 + 2] = 0.0f;
    assert_int_equal(sparq_analyze_rows(NULL, 3, 4, &rs, NULL, NULL, 0), bad);
    assert_int_equal(sparq_analyze_rows(w, 3, 4, NULL, NULL, NULL, 0), bad);
    assert_string_equal(sparq_last_error(), "analyze_rows: stats is NULL");
    assert_int_equal(sparq_analyze_rows(w, 3, 0, &rs, NULL, NULL, 0), bad);
    assert_int_equal(sparq_analyze_rows(w, 3, 4, &rs, NULL, hist, 0), bad);
    assert_non_null(strstr(sparq_last_error(), "0 histogram bins"));
    assert_int_equal(sparq_analyze_rows(w, 3, 4, &rs, NULL, hist, SIZE_MAX / 2), bad);
    assert_int_equal(sparq_analyze_rows(w, SIZE_MAX, 2, &rs, NULL, NULL, 0), bad);
    assert_non_null(strstr(sparq_last_error(), "overflow size_t"));
    assert_int_equal(sparq_analyze_blocks(w, 3, 4, 0, 2, &bs), bad);
    assert_string_equal(sparq_last_error(),
                        "analyze_blocks: block 0 x 2; both sizes must be at least 1");
    assert_int_equal(sparq_analyze_blocks(w, 3, 4, 2, 2, NULL), bad);
    assert_int_equal(sparq_analyze_blocks(w, 0, 4, 2, 2, &bs), bad);
}

/* Randomized: row and block views agree on nnz; per-row counts match a direct count. */
static void random_consistency(void **state)
{
    (void)state;
    static const size_t shapes[][2] = {{1, 1}, {1, 33}, {33, 1}, {7, 13}, {16, 40}, {31, 9}};
    uint64_t seed = 7;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        size_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
        float *w = malloc(n * sizeof *w);
        double *rsp = malloc(rows * sizeof *rsp);
        assert_true(w && rsp);
        size_t nnz = 0, hist_total = 0, hist[7];
        for (size_t i = 0; i < n; i++) {
            uint64_t bits = testing_next_u64(&seed);
            w[i] = (bits >> 60) < 6 ? (float)(bits >> 40) : 0.0f; /* about 37% nonzero */
            nnz += w[i] != 0.0f;
        }
        sparq_row_stats rs;
        assert_int_equal(sparq_analyze_rows(w, rows, cols, &rs, rsp, hist, 7), SPARQ_OK);
        assert_int_equal(rs.nnz, nnz);
        for (size_t b = 0; b < 7; b++)
            hist_total += hist[b];
        assert_int_equal(hist_total, rows);
        for (size_t r = 0; r < rows; r++) {
            size_t row_nnz = 0;
            for (size_t c = 0; c < cols; c++)
                row_nnz += w[r * cols + c] != 0.0f;
            testing_assert_near(rsp[r], (double)(cols - row_nnz) / (double)cols);
            assert_true(row_nnz >= rs.nnz_min && row_nnz <= rs.nnz_max);
        }
        static const size_t sizes[] = {1, 2, 3, 4, 8, 32};
        for (size_t a = 0; a < 6; a++)
            for (size_t b = 0; b < 6; b++) {
                sparq_block_stats bs;
                assert_int_equal(sparq_analyze_blocks(w, rows, cols, sizes[a], sizes[b], &bs),
                                 SPARQ_OK);
                assert_int_equal(bs.nnz, nnz);
                assert_int_equal(bs.blocks, ((rows + sizes[a] - 1) / sizes[a]) *
                                                ((cols + sizes[b] - 1) / sizes[b]));
                assert_true(bs.nonempty_blocks <= bs.blocks && bs.nonempty_blocks <= nnz);
                assert_true(bs.mean_fill >= 0.0 && bs.mean_fill <= 1.0);
                if (sizes[a] == 1 && sizes[b] == 1) {
                    assert_int_equal(bs.nonempty_blocks, nnz);
                    assert_true(nnz == 0 || bs.mean_fill == 1.0);
                }
            }
        free(w);
        free(rsp);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_hand),
        cmocka_unit_test(rows_edge_shapes),
        cmocka_unit_test(blocks_hand),
        cmocka_unit_test(errors),
        cmocka_unit_test(random_consistency),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
