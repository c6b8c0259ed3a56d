/* SPDX-License-Identifier: Apache-2.0 */
/* native.h - hand-written C kernels (AVX2 + FMA, OpenMP threads) for batch-1 products
 * y = W x over sparq's packed layouts, each with the algorithm of sparq's own CPU kernel
 * for that layout: what this CPU reaches natively on the same bytes, timed by
 * bench_sparse as a peer (the ceiling for sparq's kernels, not a competitor).
 */
#ifndef SPARQ_BENCH_NATIVE_H
#define SPARQ_BENCH_NATIVE_H

#include "sparq.h"

#include <stddef.h>
#include <stdint.h>

typedef struct native_gemv native_gemv;

/* A native copy of packed: CSR with f32 or i8 values (u16 column indices, row or tensor
 * scales), dense i8 (row or tensor scales) or dense i4 (groups of a multiple of 64 columns,
 * cols a multiple of 64), symmetric or with zero points. NULL when there is none for this
 * format or CPU (AVX2 and FMA needed), with the reason in why; also NULL when out of
 * memory (said in why). */
native_gemv *native_gemv_create(const sparq_packed *packed, char *why, size_t why_size);

/* n products y[0 .. rows) = W x, W the copies first, first + 1, ... (mod count), one after
 * the other in one OpenMP parallel region; x holds cols floats. */
void native_gemv_run(native_gemv *const *copies, size_t count, size_t first, size_t n,
                     const float *x, float *y);

/* native_gemv_free(NULL) is a no-op. */
void native_gemv_free(native_gemv *g);

#endif
