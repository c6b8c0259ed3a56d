/* SPDX-License-Identifier: Apache-2.0 */
/* prune_ref.c - sort-based pruning references (see prune_ref.h): every candidate gets a
 * (score, index) pair, candidates are sorted by score up and index down, and the first
 * k are pruned. Previously pruned candidates score -1, below every live one.
 */
#include "ref/prune_ref.h"

#include <math.h>
#include <stdlib.h>

typedef struct ref_candidate {
    double score;
    size_t index;
} ref_candidate;

/* Pruning order: lower score first; on equal scores, higher index first. */
static int prune_order(const void *pa, const void *pb)
{
    const ref_candidate *a = pa, *b = pb;
    if (a->score != b->score)
        return a->score < b->score ? -1 : 1;
    return a->index > b->index ? -1 : (a->index < b->index ? 1 : 0);
}

size_t ref_prune_count(double sparsity, size_t n)
{
    return (size_t)floor(sparsity * (double)n + 0.5);
}

/* Marks pruned[i] = 1 for the k first candidates in pruning order. */
static void prune_first(ref_candidate *cand, size_t count, size_t k, uint8_t *pruned)
{
    qsort(cand, count, sizeof *cand, prune_order);
    for (size_t j = 0; j < count; j++)
        pruned[cand[j].index] = j < k;
}

int ref_prune_magnitude(const float *w, size_t rows, size_t cols, double sparsity,
                        int per_row, const uint8_t *previous_mask, uint8_t *mask)
{
    size_t n = rows * cols;
    size_t group = per_row ? cols : n;
    ref_candidate *cand = malloc(group * sizeof *cand);
    uint8_t *pruned = malloc(group);
    if (!cand || !pruned) {
        free(cand);
        free(pruned);
        return -1;
    }
    for (size_t begin = 0; begin < n; begin += group) {
        size_t already = 0;
        for (size_t j = 0; j < group; j++) {
            size_t i = begin + j;
            int dead = previous_mask && !previous_mask[i];
            already += dead;
            cand[j].score = dead ? -1.0 : fabs((double)w[i]);
            cand[j].index = j;
        }
        size_t k = ref_prune_count(sparsity, group);
        prune_first(cand, group, k > already ? k : already, pruned);
        for (size_t j = 0; j < group; j++)
            mask[begin + j] = !pruned[j];
    }
    free(cand);
    free(pruned);
    return 0;
}

int ref_prune_blocks(const float *w, size_t rows, size_t cols, size_t block_rows,
                     size_t block_cols, int l2, double sparsity,
                     const uint8_t *previous_mask, uint8_t *mask)
{
    size_t grid_rows = (rows + block_rows - 1) / block_rows;
    size_t grid_cols = (cols + block_cols - 1) / block_cols;
    size_t blocks = grid_rows * grid_cols;
    ref_candidate *cand = malloc(blocks * sizeof *cand);
    uint8_t *pruned = malloc(blocks);
    if (!cand || !pruned) {
        free(cand);
        free(pruned);
        return -1;
    }
    size_t already = 0;
    for (size_t b = 0; b < blocks; b++) {
        size_t br = b / grid_cols, bc = b % grid_cols;
        double score = 0.0;
        size_t live = 0;
        for (size_t r = br * block_rows; r < rows && r < (br + 1) * block_rows; r++)
            for (size_t c = bc * block_cols; c < cols && c < (bc + 1) * block_cols; c++) {
                if (previous_mask && !previous_mask[r * cols + c])
                    continue;
                double v = w[r * cols + c];
                score += l2 ? v * v : fabs(v);
                live++;
            }
        cand[b].score = live ? score : -1.0;
        cand[b].index = b;
        already += live == 0;
    }
    size_t k = ref_prune_count(sparsity, blocks);
    prune_first(cand, blocks, k > already ? k : already, pruned);
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t i = r * cols + c;
            mask[i] = !pruned[(r / block_rows) * grid_cols + c / block_cols] &&
                      !(previous_mask && !previous_mask[i]);
        }
    free(cand);
    free(pruned);
    return 0;
}

void ref_prune_nm(const float *w, size_t rows, size_t cols, unsigned n, unsigned m,
                  const uint8_t *previous_mask, uint8_t *mask)
{
    for (size_t r = 0; r < rows; r++)
        for (size_t c0 = 0; c0 < cols; c0 += m) {
            size_t t = cols - c0 < m ? cols - c0 : m;
            size_t keep = t < n ? t : n;
            ref_candidate cand[16];
            uint8_t pruned[16];
            for (size_t j = 0; j < t; j++) {
                size_t i = r * cols + c0 + j;
                cand[j].score = previous_mask && !previous_mask[i] ? -1.0 : fabs((double)w[i]);
                cand[j].index = j;
            }
            prune_first(cand, t, t - keep, pruned);
            for (size_t j = 0; j < t; j++) {
                size_t i = r * cols + c0 + j;
                mask[i] = !pruned[j] && !(previous_mask && !previous_mask[i]);
            }
        }
}
