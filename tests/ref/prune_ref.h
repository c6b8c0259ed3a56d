/* SPDX-License-Identifier: Apache-2.0 */
/* prune_ref.h - plain-C pruning references for the tests: sort-based and written
 * independently of formats/prune.c (which uses radix select), same documented rules.
 */
#ifndef SPARQ_PRUNE_REF_H
#define SPARQ_PRUNE_REF_H
#include <stddef.h>
#include <stdint.h>

/* round(s * n) with halves up, the count rule of sparq.h. */
size_t ref_prune_count(double sparsity, size_t n);

/* Magnitude pruning into mask (1 kept): per_row 0 = one global threshold, 1 = per row.
 * previous_mask may be NULL. Returns 0, or -1 when out of memory. */
int ref_prune_magnitude(const float *w, size_t rows, size_t cols, double sparsity,
                        int per_row, const uint8_t *previous_mask, uint8_t *mask);

/* Block pruning; l2 0 = L1 norm, 1 = L2 norm. Returns 0, or -1 when out of memory. */
int ref_prune_blocks(const float *w, size_t rows, size_t cols, size_t block_rows,
                     size_t block_cols, int l2, double sparsity,
                     const uint8_t *previous_mask, uint8_t *mask);

/* N:M pruning along cols. */
void ref_prune_nm(const float *w, size_t rows, size_t cols, unsigned n, unsigned m,
                  const uint8_t *previous_mask, uint8_t *mask);

#endif
