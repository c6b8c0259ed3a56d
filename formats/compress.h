/* SPDX-License-Identifier: Apache-2.0 */
/* compress.h - the methods of sparq_layer_convert (formats/compress.c) as the ladder in
 * formats/convert.c calls them: one compressor per layer, which keeps what every rung
 * shares (the inverse Hessian's Cholesky factor), run once per rung.
 */
#ifndef SPARQ_COMPRESS_H
#define SPARQ_COMPRESS_H

#include "sparq.h"

typedef struct sparq_compressor sparq_compressor;

/* Checks the method's options against the statistics it needs (WANDA: sums of squares,
 * GPTQ/SPARSEGPT: H; cols equal to the weights'; act_order only with GPTQ; damp finite
 * and >= 0) and prepares a compressor for w (rows x cols, borrowed: it must outlive
 * the compressor). Nothing is computed yet. */
sparq_status sparq_compressor_create(const float *w, size_t rows, size_t cols,
                                     const sparq_convert_options *options,
                                     sparq_compressor **compressor);

/* Prunes (CSR/BSR to sparsity, N:M) and quantizes w into format by the method, into
 * *packed (NULL on failure). The first rung that needs the inverse Hessian computes it. */
sparq_status sparq_compressor_run(sparq_compressor *compressor, const sparq_pack_options *format,
                                  double sparsity, sparq_packed **packed);

/* sparq_compressor_free(NULL) is a no-op. */
void sparq_compressor_free(sparq_compressor *compressor);

#endif
