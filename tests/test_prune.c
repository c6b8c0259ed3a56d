/* SPDX-License-Identifier: Apache-2.0 */
/* test_prune.c - pruning: hand-computed masks (magnitude, 2:4, blocks, ties, rounding),
 * randomized sweeps against the sort-based reference in ref/prune_ref.c, the gradual
 * schedule, monotone masks, and argument / NaN / Inf errors with their sentences.
 */
#include "testing.h"
#include "ref/prune_ref.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- helpers ------------------------------------------------------------------------- */

/* Random weights in (-1, 1); kind 1 draws from 7 values to force many ties; every
 * third row of kind 2 is all zero. */
static float *random_weights(size_t rows, size_t cols, uint64_t seed, int kind)
{
    float *w = malloc(rows * cols * sizeof *w);
    assert_non_null(w);
    for (size_t i = 0; i < rows * cols; i++) {
        if (kind == 1)
            w[i] = (float)((int)(testing_next_u64(&seed) % 7) - 3) * 0.25f;
        else
            w[i] = (float)(testing_next_uniform(&seed) * 2.0 - 1.0);
        if (kind == 2 && (i / cols) % 3 == 0)
            w[i] = 0.0f;
    }
    return w;
}

static size_t count_kept(const uint8_t *mask, size_t begin, size_t count)
{
    size_t kept = 0;
    for (size_t i = begin; i < begin + count; i++)
        kept += mask[i];
    return kept;
}

/* The zero_pruned output equals the weights times the mask. */
static void assert_zeroed_matches(const float *before, const float *after, const uint8_t *mask,
                                  size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (mask[i])
            assert_memory_equal(&after[i], &before[i], sizeof(float));
        else
            assert_true(after[i] == 0.0f && !signbit(after[i]));
    }
}

static void assert_mask(const uint8_t *mask, const uint8_t *expected, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (mask[i] != expected[i])
            fail_msg("mask[%zu] = %u, expected %u", i, mask[i], expected[i]);
    }
}

/* ---- hand-computed cases --------------------------------------------------------------- */

static void magnitude_hand(void **state)
{
    (void)state;
    float w[8] = {0.5f, -0.1f, 0.3f, -0.7f, 0.2f, 0.2f, -0.9f, 0.0f};
    uint8_t mask[8];
    /* global, 4 of 8: 0 (7), 0.1 (1), then the tie 0.2 at 4 and 5: both go */
    assert_int_equal(sparq_prune_magnitude(w, 2, 4, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask, 0),
                     SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 0, 1, 1, 0, 0, 1, 0}, 8);
    /* global, 3 of 8: of the tie 0.2 the higher index (5) goes, the lower (4) stays */
    assert_int_equal(sparq_prune_magnitude(w, 2, 4, 0.375, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask,
                                           0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 0, 1, 1, 1, 0, 1, 0}, 8);
    /* per row, 2 of 4 each */
    assert_int_equal(sparq_prune_magnitude(w, 2, 4, 0.5, SPARQ_PRUNE_SCOPE_ROW, NULL, mask, 0),
                     SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 0, 0, 1, 1, 0, 1, 0}, 8);
    /* zeroing in place without a mask */
    float z[8];
    memcpy(z, w, sizeof z);
    assert_int_equal(sparq_prune_magnitude(z, 2, 4, 0.5, SPARQ_PRUNE_SCOPE_ROW, NULL, NULL, 1),
                     SPARQ_OK);
    const float expected[8] = {0.5f, 0.0f, 0.0f, -0.7f, 0.2f, 0.0f, -0.9f, 0.0f};
    assert_memory_equal(z, expected, sizeof z);
}

static void magnitude_ties_and_rounding(void **state)
{
    (void)state;
    uint8_t mask[10];
    /* all equal (and -0 equals +0): the lower indices are kept */
    float same[4] = {1.0f, -1.0f, 1.0f, -1.0f};
    assert_int_equal(sparq_prune_magnitude(same, 1, 4, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask,
                                           0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 0, 0}, 4);
    float zeros[4] = {-0.0f, 0.0f, -0.0f, 0.0f};
    assert_int_equal(sparq_prune_magnitude(zeros, 1, 4, 0.25, SPARQ_PRUNE_SCOPE_ROW, NULL, mask,
                                           0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 1, 0}, 4);
    /* round(0.5 * 3) = 2 (halves up), round(0.25 * 10) = 3, round(0.24 * 10) = 2 */
    float three[3] = {3.0f, 1.0f, 2.0f};
    assert_int_equal(sparq_prune_magnitude(three, 1, 3, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask,
                                           0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 0, 0}, 3);
    float ten[10] = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
    assert_int_equal(sparq_prune_magnitude(ten, 10, 1, 0.25, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask,
                                           0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, 10);
    assert_int_equal(sparq_prune_magnitude(ten, 10, 1, 0.24, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask,
                                           0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 1, 1, 1, 1, 1, 1, 0, 0}, 10);
    /* per row over a single column: round(0.5 * 1) = 1, so every row is pruned */
    assert_int_equal(sparq_prune_magnitude(ten, 10, 1, 0.5, SPARQ_PRUNE_SCOPE_ROW, NULL, mask,
                                           0), SPARQ_OK);
    assert_int_equal(count_kept(mask, 0, 10), 0);
    assert_int_equal(ref_prune_count(0.5, 3), 2);
}

static void nm_hand(void **state)
{
    (void)state;
    /* 2 x 8, 2:4 */
    float w[16] = {1.0f, -3.0f, 2.0f, 0.5f, 4.0f, 4.0f, 4.0f, 1.0f,
                   0.0f, 0.0f, 0.0f, 0.0f, -1.0f, 0.5f, -0.25f, 2.0f};
    uint8_t mask[16];
    assert_int_equal(sparq_prune_nm(w, 2, 8, 2, 4, NULL, mask, 0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){0, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 0, 0, 1}, 16);
    /* 1:4 on the same */
    assert_int_equal(sparq_prune_nm(w, 2, 8, 1, 4, NULL, mask, 0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1}, 16);
    /* 4:8 keeps the 4 largest of each row: row 0 ties at 4 keep columns 4, 5, 6 */
    assert_int_equal(sparq_prune_nm(w, 2, 8, 4, 8, NULL, mask, 0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){0, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1}, 16);

    /* tails: cols 6 with 2:4 keeps min(2, 2) = 2 of the tail; cols 5 keeps 1; 1:4 on 5 cols */
    float six[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(sparq_prune_nm(six, 1, 6, 2, 4, NULL, mask, 0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){0, 0, 1, 1, 1, 1}, 6);
    float five[5] = {4, 3, 2, 1, -7};
    assert_int_equal(sparq_prune_nm(five, 1, 5, 2, 4, NULL, mask, 0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 0, 0, 1}, 5);
    float seven[7] = {4, 3, 2, 1, 0.5f, -7, 0.25f};
    assert_int_equal(sparq_prune_nm(seven, 1, 7, 1, 4, NULL, mask, 0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 0, 0, 0, 0, 1, 0}, 7);
    /* cols < M: 4:8 on 3 columns keeps all 3 */
    assert_int_equal(sparq_prune_nm(six, 2, 3, 4, 8, NULL, mask, 0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 1, 1, 1, 1}, 6);

    /* zeroing in place */
    float z[16];
    memcpy(z, w, sizeof z);
    assert_int_equal(sparq_prune_nm(z, 2, 8, 2, 4, NULL, NULL, 1), SPARQ_OK);
    const float expected[16] = {0, -3.0f, 2.0f, 0, 4.0f, 4.0f, 0, 0,
                                0, 0, 0, 0, -1.0f, 0, 0, 2.0f};
    assert_memory_equal(z, expected, sizeof z);
}

static void blocks_hand(void **state)
{
    (void)state;
    /* 2x2 blocks: L1 = 4, 3, 0, 4; sums of squares = 4, 9, 0, 8 */
    float w[16] = {1, 1, 0, 3,
                   1, 1, 0, 0,
                   0, 0, 2, 0,
                   0, 0, 0, 2};
    uint8_t mask[16];
    assert_int_equal(sparq_prune_blocks(w, 4, 4, 2, 2, SPARQ_BLOCK_NORM_L1, 0.5, NULL, mask, 0),
                     SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 1, 1}, 16);
    assert_int_equal(sparq_prune_blocks(w, 4, 4, 2, 2, SPARQ_BLOCK_NORM_L2, 0.5, NULL, mask, 0),
                     SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 0, 0, 1, 1}, 16);
    /* 3 of 4 blocks under L1: 0, 3, then the tie at 4 prunes block 3, keeps block 0 */
    assert_int_equal(sparq_prune_blocks(w, 4, 4, 2, 2, SPARQ_BLOCK_NORM_L1, 0.75, NULL, mask, 0),
                     SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 16);
    /* 1 x 4 row blocks: L1 per row 5, 2, 2, 2 -> half prunes rows 3 and 2 */
    assert_int_equal(sparq_prune_blocks(w, 4, 4, 1, 4, SPARQ_BLOCK_NORM_L1, 0.5, NULL, mask, 0),
                     SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0}, 16);

    /* ragged: 3x3 of ones with 2x2 blocks scores 4, 2, 2, 1 over in-range elements;
     * half (2 of 4) prunes block 3, then of the tie at 2 the higher block (2) */
    float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    assert_int_equal(sparq_prune_blocks(ones, 3, 3, 2, 2, SPARQ_BLOCK_NORM_L1, 0.5, NULL, mask,
                                        0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){1, 1, 1, 1, 1, 1, 0, 0, 0}, 9);
    /* a 32x32 block over a 3x3 matrix is one block */
    assert_int_equal(sparq_prune_blocks(ones, 3, 3, 32, 32, SPARQ_BLOCK_NORM_L2, 0.4, NULL, mask,
                                        0), SPARQ_OK);
    assert_int_equal(count_kept(mask, 0, 9), 9);
    assert_int_equal(sparq_prune_blocks(ones, 3, 3, 32, 32, SPARQ_BLOCK_NORM_L2, 0.5, NULL, mask,
                                        1), SPARQ_OK);
    assert_int_equal(count_kept(mask, 0, 9), 0);
    for (int i = 0; i < 9; i++)
        assert_true(ones[i] == 0.0f);
}

/* ---- randomized sweeps against the reference -------------------------------------------- */

static const size_t shapes[][2] = {{1, 1}, {1, 7}, {1, 64}, {7, 1}, {5, 13}, {16, 33},
                                   {9, 64}, {33, 17}, {4, 100}};
static const double sparsities[] = {0.0, 0.1, 0.5, 0.73, 0.9, 1.0};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static void magnitude_random(void **state)
{
    (void)state;
    for (size_t s = 0; s < COUNT(shapes); s++)
        for (int kind = 0; kind < 4; kind++) {
            size_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
            float *w = random_weights(rows, cols, 1000 + s * 10 + (uint64_t)kind, kind % 3);
            if (kind == 3)
                memset(w, 0, n * sizeof *w); /* the all-zero matrix */
            uint8_t *mask = malloc(n), *expected = malloc(n);
            float *z = malloc(n * sizeof *z);
            assert_true(mask && expected && z);
            for (size_t p = 0; p < COUNT(sparsities); p++)
                for (int per_row = 0; per_row < 2; per_row++) {
                    double sp = sparsities[p];
                    sparq_prune_scope scope = per_row ? SPARQ_PRUNE_SCOPE_ROW
                                                      : SPARQ_PRUNE_SCOPE_GLOBAL;
                    memcpy(z, w, n * sizeof *z);
                    assert_int_equal(sparq_prune_magnitude(z, rows, cols, sp, scope, NULL, mask,
                                                           1), SPARQ_OK);
                    assert_int_equal(ref_prune_magnitude(w, rows, cols, sp, per_row, NULL,
                                                         expected), 0);
                    assert_mask(mask, expected, n);
                    assert_zeroed_matches(w, z, mask, n);
                    if (per_row) {
                        for (size_t r = 0; r < rows; r++)
                            assert_int_equal(count_kept(mask, r * cols, cols),
                                             cols - ref_prune_count(sp, cols));
                    } else {
                        assert_int_equal(count_kept(mask, 0, n), n - ref_prune_count(sp, n));
                    }
                }
            free(w);
            free(mask);
            free(expected);
            free(z);
        }
}

static void blocks_random(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 2, 4, 8, 16, 32};
    for (size_t s = 0; s < COUNT(shapes); s++)
        for (int kind = 0; kind < 3; kind++) {
            size_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
            float *w = random_weights(rows, cols, 2000 + s * 10 + (uint64_t)kind, kind);
            uint8_t *mask = malloc(n), *expected = malloc(n);
            assert_true(mask && expected);
            for (size_t a = 0; a < COUNT(sizes); a++)
                for (size_t b = 0; b < COUNT(sizes); b++)
                    for (size_t p = 0; p < COUNT(sparsities); p++) {
                        size_t br = sizes[a], bc = sizes[b];
                        double sp = sparsities[p];
                        int l2 = (int)((a + b + p) % 2);
                        assert_int_equal(sparq_prune_blocks(w, rows, cols, br, bc,
                                                            l2 ? SPARQ_BLOCK_NORM_L2
                                                               : SPARQ_BLOCK_NORM_L1,
                                                            sp, NULL, mask, 0), SPARQ_OK);
                        assert_int_equal(ref_prune_blocks(w, rows, cols, br, bc, l2, sp, NULL,
                                                          expected), 0);
                        assert_mask(mask, expected, n);
                        /* exactly round(s * blocks) blocks pruned: count blocks whose
                         * top-left element is pruned */
                        size_t grid_rows = (rows + br - 1) / br, grid_cols = (cols + bc - 1) / bc;
                        size_t pruned_blocks = 0;
                        for (size_t i = 0; i < grid_rows; i++)
                            for (size_t j = 0; j < grid_cols; j++)
                                pruned_blocks += !mask[i * br * cols + j * bc];
                        assert_int_equal(pruned_blocks,
                                         ref_prune_count(sp, grid_rows * grid_cols));
                    }
            free(w);
            free(mask);
            free(expected);
        }
}

static void nm_random(void **state)
{
    (void)state;
    static const unsigned patterns[][2] = {{2, 4}, {1, 4}, {4, 8}, {3, 7}, {1, 2},
                                           {15, 16}, {5, 16}, {8, 16}};
    for (size_t s = 0; s < COUNT(shapes); s++)
        for (int kind = 0; kind < 3; kind++) {
            size_t rows = shapes[s][0], cols = shapes[s][1], n = rows * cols;
            float *w = random_weights(rows, cols, 3000 + s * 10 + (uint64_t)kind, kind);
            uint8_t *mask = malloc(n), *expected = malloc(n);
            float *z = malloc(n * sizeof *z);
            assert_true(mask && expected && z);
            for (size_t p = 0; p < COUNT(patterns); p++) {
                unsigned keep = patterns[p][0], m = patterns[p][1];
                memcpy(z, w, n * sizeof *z);
                assert_int_equal(sparq_prune_nm(z, rows, cols, keep, m, NULL, mask, 1), SPARQ_OK);
                ref_prune_nm(w, rows, cols, keep, m, NULL, expected);
                assert_mask(mask, expected, n);
                assert_zeroed_matches(w, z, mask, n);
                for (size_t r = 0; r < rows; r++)
                    for (size_t c0 = 0; c0 < cols; c0 += m) {
                        size_t t = cols - c0 < m ? cols - c0 : m;
                        assert_int_equal(count_kept(mask, r * cols + c0, t), t < keep ? t : keep);
                    }
            }
            free(w);
            free(mask);
            free(expected);
            free(z);
        }
}

/* ---- gradual schedule and monotone masks ------------------------------------------------ */

static void schedule_values(void **state)
{
    (void)state;
    sparq_prune_schedule sch = {0.0, 0.8, 100, 10, 50}; /* span 500: steps 100 .. 600 */
    double s = -1.0;
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, -5, &s), SPARQ_OK);
    assert_true(s == 0.0);
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 100, &s), SPARQ_OK);
    assert_true(s == 0.0);
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 200, &s), SPARQ_OK);
    assert_true(fabs(s - (0.8 - 0.8 * 0.512)) < 1e-12);
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 350, &s), SPARQ_OK);
    assert_true(fabs(s - 0.7) < 1e-12); /* midpoint: s_f + (s_i - s_f) / 8 */
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 600, &s), SPARQ_OK);
    assert_true(s == 0.8);
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, INT64_MAX, &s), SPARQ_OK);
    assert_true(s == 0.8);
    /* non-decreasing along the way */
    double prev = 0.0;
    for (int64_t t = 0; t <= 700; t += 7) {
        assert_int_equal(sparq_prune_schedule_sparsity(&sch, t, &s), SPARQ_OK);
        assert_true(s >= prev && s <= 0.8);
        prev = s;
    }
    sparq_prune_schedule from_half = {0.5, 0.9, -10, 2, 5}; /* steps -10 .. 0 */
    assert_int_equal(sparq_prune_schedule_sparsity(&from_half, -20, &s), SPARQ_OK);
    assert_true(s == 0.5);
    assert_int_equal(sparq_prune_schedule_sparsity(&from_half, -5, &s), SPARQ_OK);
    assert_true(fabs(s - (0.9 - 0.4 / 8.0)) < 1e-12);
    assert_int_equal(sparq_prune_schedule_sparsity(&from_half, 1, &s), SPARQ_OK);
    assert_true(s == 0.9);
    /* extreme steps do not overflow */
    sparq_prune_schedule wide = {0.0, 1.0, INT64_MIN, 1, INT64_MAX};
    assert_int_equal(sparq_prune_schedule_sparsity(&wide, INT64_MIN + INT64_MAX / 2, &s),
                     SPARQ_OK);
    assert_true(fabs(s - 0.875) < 1e-9);
    assert_int_equal(sparq_prune_schedule_sparsity(&wide, INT64_MAX, &s), SPARQ_OK);
    assert_true(s == 1.0);
}

static void monotone_gradual(void **state)
{
    (void)state;
    const size_t rows = 12, cols = 37, n = rows * cols;
    float *w = random_weights(rows, cols, 42, 0);
    uint8_t *mask = malloc(n), *old = malloc(n), *expected = malloc(n);
    assert_true(mask && old && expected);
    memset(mask, 1, n);
    sparq_prune_schedule sch = {0.0, 0.9, 0, 8, 10};
    for (int64_t t = 0; t <= 90; t += 10) {
        double s;
        assert_int_equal(sparq_prune_schedule_sparsity(&sch, t, &s), SPARQ_OK);
        /* the weights are not zeroed, so only the previous mask prevents revival; the
         * mask is updated in place (previous_mask == mask) */
        memcpy(old, mask, n);
        int per_row = (t / 10) % 2;
        assert_int_equal(sparq_prune_magnitude(w, rows, cols, s,
                                               per_row ? SPARQ_PRUNE_SCOPE_ROW
                                                       : SPARQ_PRUNE_SCOPE_GLOBAL,
                                               mask, mask, 0), SPARQ_OK);
        assert_int_equal(ref_prune_magnitude(w, rows, cols, s, per_row, old, expected), 0);
        assert_mask(mask, expected, n);
        for (size_t i = 0; i < n; i++)
            assert_true(old[i] || !mask[i]);
        if (!per_row)
            assert_true(n - count_kept(mask, 0, n) >= ref_prune_count(s, n));
    }
    /* at the end the global target is met exactly */
    assert_int_equal(sparq_prune_magnitude(w, rows, cols, 0.9, SPARQ_PRUNE_SCOPE_GLOBAL, mask,
                                           mask, 0), SPARQ_OK);
    assert_true(n - count_kept(mask, 0, n) >= ref_prune_count(0.9, n));

    /* lowering the sparsity never revives: the count stays at what was pruned */
    size_t pruned_before = n - count_kept(mask, 0, n);
    memcpy(old, mask, n);
    assert_int_equal(sparq_prune_magnitude(w, rows, cols, 0.1, SPARQ_PRUNE_SCOPE_GLOBAL, old,
                                           mask, 0), SPARQ_OK);
    assert_memory_equal(mask, old, n);
    assert_int_equal(n - count_kept(mask, 0, n), pruned_before);

    /* blocks and N:M also keep previous decisions */
    for (int round = 0; round < 2; round++) {
        memcpy(old, mask, n);
        if (round == 0) {
            assert_int_equal(sparq_prune_blocks(w, rows, cols, 4, 8, SPARQ_BLOCK_NORM_L2, 0.5,
                                                old, mask, 0), SPARQ_OK);
            assert_int_equal(ref_prune_blocks(w, rows, cols, 4, 8, 1, 0.5, old, expected), 0);
        } else {
            assert_int_equal(sparq_prune_nm(w, rows, cols, 2, 4, old, mask, 0), SPARQ_OK);
            ref_prune_nm(w, rows, cols, 2, 4, old, expected);
        }
        assert_mask(mask, expected, n);
        for (size_t i = 0; i < n; i++)
            assert_true(old[i] || !mask[i]);
    }
    free(w);
    free(mask);
    free(old);
    free(expected);
}

static void monotone_hand(void **state)
{
    (void)state;
    /* the large weight at 0 was pruned before: it stays pruned and counts toward the 2 */
    float w[4] = {9.0f, 1.0f, 2.0f, 3.0f};
    uint8_t previous[4] = {0, 1, 1, 1}, mask[4];
    assert_int_equal(sparq_prune_magnitude(w, 1, 4, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL, previous, mask,
                                           0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){0, 0, 1, 1}, 4);
    /* 2:4 with the largest previously pruned keeps the two largest live ones */
    assert_int_equal(sparq_prune_nm(w, 1, 4, 2, 4, previous, mask, 0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){0, 0, 1, 1}, 4);
    /* a group with fewer live values than N keeps only those */
    uint8_t mostly_dead[4] = {0, 0, 0, 1};
    assert_int_equal(sparq_prune_nm(w, 1, 4, 2, 4, mostly_dead, mask, 0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){0, 0, 0, 1}, 4);
    /* blocks: block 0 (cols 0-1) is fully dead and counts as the one pruned block */
    uint8_t dead_block[4] = {0, 0, 1, 1};
    assert_int_equal(sparq_prune_blocks(w, 1, 4, 1, 2, SPARQ_BLOCK_NORM_L1, 0.5, dead_block, mask,
                                        0), SPARQ_OK);
    assert_mask(mask, (const uint8_t[]){0, 0, 1, 1}, 4);
}

/* ---- errors ---------------------------------------------------------------------------- */

static void bad_values(void **state)
{
    (void)state;
    float w[5 * 20];
    for (int i = 0; i < 100; i++)
        w[i] = (float)i;
    uint8_t mask[100];
    memset(mask, 7, sizeof mask);
    w[3 * 20 + 17] = NAN;
    w[4 * 20 + 1] = INFINITY; /* the later one is not named */
    assert_int_equal(sparq_prune_magnitude(w, 5, 20, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask,
                                           1), SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "prune_magnitude: W[3, 17] is NaN");
    assert_int_equal(mask[0], 7); /* nothing written on failure */
    assert_true(w[0] == 0.0f && w[1] == 1.0f);
    w[3 * 20 + 17] = 1.0f;
    assert_int_equal(sparq_prune_nm(w, 5, 20, 2, 4, NULL, mask, 0), SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "prune_nm: W[4, 1] is +Inf");
    w[0] = -INFINITY;
    assert_int_equal(sparq_prune_blocks(w, 5, 20, 2, 2, SPARQ_BLOCK_NORM_L1, 0.5, NULL, mask, 0),
                     SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "prune_blocks: W[0, 0] is -Inf");
    assert_int_equal(mask[0], 7);
}

static void bad_arguments(void **state)
{
    (void)state;
    float w[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
    uint8_t mask[16];
    const sparq_status bad = SPARQ_ERROR_INVALID_ARGUMENT;
    assert_int_equal(sparq_prune_magnitude(NULL, 4, 4, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask,
                                           0), bad);
    assert_string_equal(sparq_last_error(), "prune_magnitude: weights is NULL");
    assert_int_equal(sparq_prune_magnitude(w, 0, 4, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask, 0),
                     bad);
    assert_string_equal(sparq_last_error(),
                        "prune_magnitude: the matrix is 0 x 4; both sizes must be at least 1");
    assert_int_equal(sparq_prune_magnitude(w, SIZE_MAX / 2, 3, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL,
                                           NULL, mask, 0), bad);
    assert_non_null(strstr(sparq_last_error(), "overflow size_t"));
    assert_int_equal(sparq_prune_magnitude(w, 4, 4, -0.1, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, mask,
                                           0), bad);
    assert_string_equal(sparq_last_error(), "prune_magnitude: sparsity -0.1 is outside [0, 1]");
    assert_int_equal(sparq_prune_magnitude(w, 4, 4, 1.5, SPARQ_PRUNE_SCOPE_ROW, NULL, mask, 0),
                     bad);
    assert_int_equal(sparq_prune_magnitude(w, 4, 4, NAN, SPARQ_PRUNE_SCOPE_ROW, NULL, mask, 0),
                     bad);
    assert_int_equal(sparq_prune_magnitude(w, 4, 4, 0.5, (sparq_prune_scope)7, NULL, mask, 0),
                     bad);
    assert_string_equal(sparq_last_error(), "prune_magnitude: unknown scope 7");
    assert_int_equal(sparq_prune_magnitude(w, 4, 4, 0.5, SPARQ_PRUNE_SCOPE_ROW, NULL, NULL, 0),
                     bad);
    assert_non_null(strstr(sparq_last_error(), "nothing to write"));

    assert_int_equal(sparq_prune_blocks(w, 4, 4, 3, 2, SPARQ_BLOCK_NORM_L1, 0.5, NULL, mask, 0),
                     bad);
    assert_string_equal(sparq_last_error(), "prune_blocks: block 3 x 2 is not allowed; each side "
                                            "must be 1, 2, 4, 8, 16 or 32");
    assert_int_equal(sparq_prune_blocks(w, 4, 4, 2, 64, SPARQ_BLOCK_NORM_L1, 0.5, NULL, mask, 0),
                     bad);
    assert_int_equal(sparq_prune_blocks(w, 4, 4, 0, 2, SPARQ_BLOCK_NORM_L1, 0.5, NULL, mask, 0),
                     bad);
    assert_int_equal(sparq_prune_blocks(w, 4, 4, 2, 2, (sparq_block_norm)2, 0.5, NULL, mask, 0),
                     bad);
    assert_string_equal(sparq_last_error(), "prune_blocks: unknown norm 2");
    assert_int_equal(sparq_prune_blocks(w, 4, 4, 2, 2, SPARQ_BLOCK_NORM_L1, 2.0, NULL, mask, 0),
                     bad);

    assert_int_equal(sparq_prune_nm(w, 4, 4, 4, 4, NULL, mask, 0), bad);
    assert_string_equal(sparq_last_error(),
                        "prune_nm: 4:4 is not allowed; it needs 1 <= N < M <= 16");
    assert_int_equal(sparq_prune_nm(w, 4, 4, 5, 4, NULL, mask, 0), bad);
    assert_int_equal(sparq_prune_nm(w, 4, 4, 0, 4, NULL, mask, 0), bad);
    assert_int_equal(sparq_prune_nm(w, 4, 4, 2, 17, NULL, mask, 0), bad);
    assert_int_equal(sparq_prune_nm(w, 4, 0, 2, 4, NULL, mask, 0), bad);
    assert_int_equal(sparq_prune_nm(w, 4, 4, 2, 4, NULL, NULL, 0), bad);

    double s;
    sparq_prune_schedule sch = {0.0, 0.9, 0, 10, 100};
    assert_int_equal(sparq_prune_schedule_sparsity(NULL, 0, &s), bad);
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 0, NULL), bad);
    sch.num_steps = 0;
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 0, &s), bad);
    assert_string_equal(sparq_last_error(), "prune_schedule_sparsity: num_steps 0 and "
                                            "step_interval 100 must both be >= 1");
    sch.num_steps = 10;
    sch.step_interval = -1;
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 0, &s), bad);
    sch.step_interval = INT64_MAX / 5;
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 0, &s), bad);
    assert_non_null(strstr(sparq_last_error(), "overflows int64_t"));
    sch.step_interval = 100;
    sch.final_sparsity = 1.5;
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 0, &s), bad);
    sch.final_sparsity = 0.9;
    sch.initial_sparsity = -0.5;
    assert_int_equal(sparq_prune_schedule_sparsity(&sch, 0, &s), bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(magnitude_hand),
        cmocka_unit_test(magnitude_ties_and_rounding),
        cmocka_unit_test(nm_hand),
        cmocka_unit_test(blocks_hand),
        cmocka_unit_test(magnitude_random),
        cmocka_unit_test(blocks_random),
        cmocka_unit_test(nm_random),
        cmocka_unit_test(schedule_values),
        cmocka_unit_test(monotone_gradual),
        cmocka_unit_test(monotone_hand),
        cmocka_unit_test(bad_values),
        cmocka_unit_test(bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
