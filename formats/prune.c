/* SPDX-License-Identifier: Apache-2.0 */
/* prune.c - pruning of dense float weights: unstructured magnitude (global or per row),
 * r x c block magnitude (L1/L2), N:M along cols, and the Zhu & Gupta gradual schedule.
 * Selection is an exact radix select over order-preserving integer keys, so counts and
 * ties follow the rules documented in sparq.h without sorting or copying the weights.
 */
#include "checks.h"
#include "sparq.h"
#include "status.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- argument and data checks ------------------------------------------------------ */

static sparq_status check_outputs(const char *func, const uint8_t *mask, int zero_pruned)
{
    if (!mask && !zero_pruned)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: mask is NULL and zero_pruned is 0, so there is nothing to write",
                          func);
    return SPARQ_OK;
}

static sparq_status check_sparsity(const char *func, double sparsity)
{
    if (!(sparsity >= 0.0 && sparsity <= 1.0))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: sparsity %g is outside [0, 1]", func, sparsity);
    return SPARQ_OK;
}

/* round(s * n), halves up, as documented in sparq.h; never more than n. */
static size_t prune_count(double sparsity, size_t n)
{
    double k = floor(sparsity * (double)n + 0.5);
    return k >= (double)n ? n : (size_t)k;
}

/* ---- selection keys ------------------------------------------------------------------ */

/* Keys order candidates for pruning: smaller keys are pruned first. An element's key is
 * the bit pattern of |w| plus one (IEEE bits of non-negative floats order like the
 * values), or 0 when the previous mask already pruned it. Block keys are precomputed
 * the same way from double scores. */
typedef struct key_source {
    const float *weights;        /* element keys come from these ...                  */
    const uint8_t *previous_mask; /* ... and this (may be NULL)                        */
    const uint64_t *keys;        /* or, when not NULL, keys are read from here         */
} key_source;

static uint64_t element_key(float w)
{
    float magnitude = fabsf(w);
    uint32_t bits;
    memcpy(&bits, &magnitude, sizeof bits);
    return (uint64_t)bits + 1;
}

static uint64_t key_at(const key_source *src, size_t i)
{
    if (src->keys)
        return src->keys[i];
    if (src->previous_mask && src->previous_mask[i] == 0)
        return 0;
    return element_key(src->weights[i]);
}

/* Radix select, most significant byte first, over positions [begin, begin + count):
 * finds the k-th smallest key (1 <= k <= count) in key_bytes passes with no allocation.
 * The k candidates pruned are every key below *threshold plus the highest-index ones
 * among the keys equal to it; the *kept_ties lowest-index keys equal to it are kept. */
static void select_threshold(const key_source *src, size_t begin, size_t count, size_t k,
                             unsigned key_bytes, uint64_t *threshold, size_t *kept_ties)
{
    uint64_t prefix = 0, prefix_mask = 0;
    size_t rank = k;      /* rank of the wanted key among those matching prefix */
    size_t matching = count;
    for (int shift = 8 * ((int)key_bytes - 1); shift >= 0; shift -= 8) {
        size_t hist[256] = {0};
        for (size_t i = begin; i < begin + count; i++) {
            uint64_t key = key_at(src, i);
            if ((key & prefix_mask) == prefix)
                hist[(key >> shift) & 0xff]++;
        }
        unsigned digit = 0;
        while (hist[digit] < rank) {
            rank -= hist[digit];
            digit++;
        }
        prefix |= (uint64_t)digit << shift;
        prefix_mask |= (uint64_t)0xff << shift;
        matching = hist[digit];
    }
    *threshold = prefix;
    *kept_ties = matching - rank;
}

/* Stores one element's decision: the mask byte and/or a zeroed weight. */
static void write_decision(float *weights, uint8_t *mask, int zero_pruned, size_t i, int keep)
{
    if (mask)
        mask[i] = keep ? 1 : 0;
    if (zero_pruned && !keep)
        weights[i] = 0.0f;
}

/* Prunes the k elements of [begin, begin + count) with the smallest keys (ties: higher
 * index first). Each position's key is read before its outputs are written, so the
 * previous mask may alias the mask. */
static void prune_range(float *weights, const uint8_t *previous_mask, uint8_t *mask,
                        int zero_pruned, size_t begin, size_t count, size_t k)
{
    key_source src = {weights, previous_mask, NULL};
    if (k == 0) {
        for (size_t i = begin; i < begin + count; i++)
            write_decision(weights, mask, zero_pruned, i, 1);
        return;
    }
    uint64_t threshold;
    size_t kept_ties;
    select_threshold(&src, begin, count, k, 4, &threshold, &kept_ties);
    size_t ties_seen = 0;
    for (size_t i = begin; i < begin + count; i++) {
        uint64_t key = key_at(&src, i);
        int keep;
        if (key == threshold) {
            keep = ties_seen < kept_ties;
            ties_seen++;
        } else {
            keep = key > threshold;
        }
        write_decision(weights, mask, zero_pruned, i, keep);
    }
}

static size_t count_pruned(const uint8_t *previous_mask, size_t begin, size_t count)
{
    size_t pruned = 0;
    if (previous_mask)
        for (size_t i = begin; i < begin + count; i++)
            pruned += previous_mask[i] == 0;
    return pruned;
}

/* ---- unstructured magnitude ----------------------------------------------------------- */

sparq_status sparq_prune_magnitude(float *weights, size_t rows, size_t cols, double sparsity,
                                   sparq_prune_scope scope, const uint8_t *previous_mask,
                                   uint8_t *mask, int zero_pruned)
{
    const char *func = "prune_magnitude";
    sparq_status st = sparq_check_matrix(weights, rows, cols, func);
    size_t n = rows * cols;
    if (st == SPARQ_OK)
        st = check_outputs(func, mask, zero_pruned);
    if (st == SPARQ_OK)
        st = check_sparsity(func, sparsity);
    if (st == SPARQ_OK && scope != SPARQ_PRUNE_SCOPE_GLOBAL && scope != SPARQ_PRUNE_SCOPE_ROW)
        st = sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: unknown scope %d", func, (int)scope);
    if (st == SPARQ_OK)
        st = sparq_check_finite(weights, rows, cols, func);
    if (st != SPARQ_OK)
        return st;

    size_t groups = scope == SPARQ_PRUNE_SCOPE_GLOBAL ? 1 : rows;
    size_t group_size = n / groups;
    size_t target = prune_count(sparsity, group_size);
    for (size_t g = 0; g < groups; g++) {
        size_t begin = g * group_size;
        size_t already = count_pruned(previous_mask, begin, group_size);
        size_t k = target > already ? target : already;
        prune_range(weights, previous_mask, mask, zero_pruned, begin, group_size, k);
    }
    return SPARQ_OK;
}

/* ---- blocks --------------------------------------------------------------------------- */

/* Key of a block from its score (a non-negative finite double): the bit pattern plus one,
 * or 0 when every element of the block was pruned by the previous mask. */
static uint64_t block_key(double score, size_t live_elements)
{
    if (live_elements == 0)
        return 0;
    uint64_t bits;
    memcpy(&bits, &score, sizeof bits);
    return bits + 1;
}

sparq_status sparq_prune_blocks(float *weights, size_t rows, size_t cols, size_t block_rows,
                                size_t block_cols, sparq_block_norm norm, double sparsity,
                                const uint8_t *previous_mask, uint8_t *mask, int zero_pruned)
{
    const char *func = "prune_blocks";
    sparq_status st = sparq_check_matrix(weights, rows, cols, func);
    if (st == SPARQ_OK)
        st = check_outputs(func, mask, zero_pruned);
    if (st == SPARQ_OK)
        st = check_sparsity(func, sparsity);
    if (st == SPARQ_OK && (!sparq_block_side_ok(block_rows) || !sparq_block_side_ok(block_cols)))
        st = sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                        "%s: block %zu x %zu is not allowed; each side must be 1, 2, 4, 8, 16 "
                        "or 32", func, block_rows, block_cols);
    if (st == SPARQ_OK && norm != SPARQ_BLOCK_NORM_L1 && norm != SPARQ_BLOCK_NORM_L2)
        st = sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: unknown norm %d", func, (int)norm);
    if (st == SPARQ_OK)
        st = sparq_check_finite(weights, rows, cols, func);
    if (st != SPARQ_OK)
        return st;

    size_t grid_rows = rows / block_rows + (rows % block_rows != 0);
    size_t grid_cols = cols / block_cols + (cols % block_cols != 0);
    size_t blocks = grid_rows * grid_cols; /* <= rows * cols, which fits */
    if (blocks > SIZE_MAX / sizeof(uint64_t))
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s: %zu block scores do not fit in memory",
                          func, blocks);
    uint64_t *keys = malloc(blocks * sizeof *keys);
    if (!keys)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "%s: could not allocate %zu block scores", func, blocks);

    /* Score each block over its in-range, still-live elements, row by row. L2 ranks by
     * the sum of squares, which orders blocks exactly as its square root does. */
    size_t already = 0;
    for (size_t br = 0; br < grid_rows; br++) {
        size_t r0 = br * block_rows;
        size_t r_end = rows - r0 < block_rows ? rows : r0 + block_rows;
        for (size_t bc = 0; bc < grid_cols; bc++) {
            size_t c0 = bc * block_cols;
            size_t c_end = cols - c0 < block_cols ? cols : c0 + block_cols;
            double score = 0.0;
            size_t live = 0;
            for (size_t r = r0; r < r_end; r++)
                for (size_t c = c0; c < c_end; c++) {
                    size_t i = r * cols + c;
                    if (previous_mask && previous_mask[i] == 0)
                        continue;
                    double w = weights[i];
                    score += norm == SPARQ_BLOCK_NORM_L1 ? fabs(w) : w * w;
                    live++;
                }
            keys[br * grid_cols + bc] = block_key(score, live);
            already += live == 0;
        }
    }

    /* Turn keys into decisions (1 kept, 0 pruned) in block index order. */
    size_t target = prune_count(sparsity, blocks);
    size_t k = target > already ? target : already;
    if (k == 0) {
        for (size_t b = 0; b < blocks; b++)
            keys[b] = 1;
    } else {
        key_source src = {NULL, NULL, keys};
        uint64_t threshold;
        size_t kept_ties, ties_seen = 0;
        select_threshold(&src, 0, blocks, k, 8, &threshold, &kept_ties);
        for (size_t b = 0; b < blocks; b++) {
            if (keys[b] == threshold) {
                keys[b] = ties_seen < kept_ties;
                ties_seen++;
            } else {
                keys[b] = keys[b] > threshold;
            }
        }
    }

    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            int keep = keys[(r / block_rows) * grid_cols + c / block_cols] != 0 &&
                       !(previous_mask && previous_mask[i] == 0);
            write_decision(weights, mask, zero_pruned, i, keep);
        }
    free(keys);
    return SPARQ_OK;
}

/* ---- N:M ------------------------------------------------------------------------------ */

sparq_status sparq_prune_nm(float *weights, size_t rows, size_t cols, unsigned n, unsigned m,
                            const uint8_t *previous_mask, uint8_t *mask, int zero_pruned)
{
    const char *func = "prune_nm";
    sparq_status st = sparq_check_matrix(weights, rows, cols, func);
    if (st == SPARQ_OK)
        st = check_outputs(func, mask, zero_pruned);
    if (st == SPARQ_OK && (n == 0 || n >= m || m > 16))
        st = sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                        "%s: %u:%u is not allowed; it needs 1 <= N < M <= 16", func, n, m);
    if (st == SPARQ_OK)
        st = sparq_check_finite(weights, rows, cols, func);
    if (st != SPARQ_OK)
        return st;

    key_source src = {weights, previous_mask, NULL};
    for (size_t r = 0; r < rows; r++)
        for (size_t c0 = 0; c0 < cols; c0 += m) {
            size_t size = cols - c0 < m ? cols - c0 : m;
            size_t keep_count = size < n ? size : n;
            uint64_t keys[16];
            int keep[16] = {0};
            for (size_t j = 0; j < size; j++)
                keys[j] = key_at(&src, r * cols + c0 + j);
            /* keep_count times, keep the largest key not yet kept (first one on ties) */
            for (size_t picked = 0; picked < keep_count; picked++) {
                size_t best = size;
                for (size_t j = 0; j < size; j++)
                    if (!keep[j] && (best == size || keys[j] > keys[best]))
                        best = j;
                keep[best] = 1;
            }
            for (size_t j = 0; j < size; j++)
                write_decision(weights, mask, zero_pruned, r * cols + c0 + j,
                               keep[j] && keys[j] != 0);
        }
    return SPARQ_OK;
}

/* ---- gradual schedule ----------------------------------------------------------------- */

sparq_status sparq_prune_schedule_sparsity(const sparq_prune_schedule *schedule, int64_t step,
                                           double *sparsity)
{
    const char *func = "prune_schedule_sparsity";
    if (!schedule || !sparsity)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", func,
                          schedule ? "sparsity" : "schedule");
    double s_i = schedule->initial_sparsity, s_f = schedule->final_sparsity;
    if (!(s_i >= 0.0 && s_i <= 1.0) || !(s_f >= 0.0 && s_f <= 1.0))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: initial %g and final %g sparsity must both be in [0, 1]", func,
                          s_i, s_f);
    if (schedule->num_steps < 1 || schedule->step_interval < 1)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: num_steps %lld and step_interval %lld must both be >= 1", func,
                          (long long)schedule->num_steps, (long long)schedule->step_interval);
    if (schedule->num_steps > INT64_MAX / schedule->step_interval)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: num_steps %lld x step_interval %lld overflows int64_t", func,
                          (long long)schedule->num_steps, (long long)schedule->step_interval);

    uint64_t span = (uint64_t)schedule->num_steps * (uint64_t)schedule->step_interval;
    if (step <= schedule->start_step) {
        *sparsity = s_i;
        return SPARQ_OK;
    }
    /* step > start_step, so the difference is positive and fits in uint64_t */
    uint64_t elapsed = (uint64_t)step - (uint64_t)schedule->start_step;
    if (elapsed >= span) {
        *sparsity = s_f;
        return SPARQ_OK;
    }
    double remaining = 1.0 - (double)elapsed / (double)span;
    *sparsity = s_f + (s_i - s_f) * remaining * remaining * remaining;
    return SPARQ_OK;
}
