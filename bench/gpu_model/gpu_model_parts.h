/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_model_parts.h - what the files of bench/gpu_model share: gpu_model.c (the runs
 * and the table) calls gpu_model_weights.c (each structure's weights with realistic
 * sparsity, and the C reference a kernel's result is checked against).
 */
#ifndef SPARQ_GPU_MODEL_PARTS_H
#define SPARQ_GPU_MODEL_PARTS_H

#include "sparq.h"

#include <stddef.h>
#include <stdint.h>

/* Weights w (rows x cols) of structure fmt->structure from seed: CSR with log-normal row
 * lengths (90 % sparse on average, sigma 0.8), BSR with 10 % of its blocks kept, N:M with
 * N of every M kept at random, dense full; kept values uniform in +-[0.05, 1). */
void gm_make_weights(const sparq_pack_options *fmt, size_t rows, size_t cols, uint64_t seed,
                     float *w);

/* The longest, mean and shortest row of w (nonzeros), for the report's header. */
void gm_row_lengths(const float *w, size_t rows, size_t cols, size_t *max, double *mean,
                    size_t *min);

/* The largest |y - ref| over max(1, max |ref|), where ref = x w^T + bias in double
 * (x: batch x cols, y: batch x rows); infinity when y has a NaN. */
double gm_max_rel_error(const float *w, size_t rows, size_t cols, size_t batch, const float *x,
                        const float *bias, const float *y);

#endif
