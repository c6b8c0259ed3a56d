/* SPDX-License-Identifier: Apache-2.0 */
/* tuner_common.h - what the tuner's files share: tuner_common.c (event times, medians, the
 * random numbers) below tuner_cases.c (the benchmark cases, their spellings, a case's prepared
 * matrices), tuner_search.c (the search over one kernel's candidates) and tuner.c (sparq_tune_run).
 * Internal to autotune/.
 */
#ifndef SPARQ_TUNER_COMMON_H
#define SPARQ_TUNER_COMMON_H

#include "matrix.h"
#include "plan.h"
#include "tunedb.h"

/* Floats after the output that must come back untouched, and the bits they hold. */
#define GUARD_COUNT 64
#define GUARD_BITS 0x7fc0beefu

/* One prepared case. */
typedef struct sparq_bench_case {
    sparq_context *ctx;
    cl_command_queue queue;
    const sparq_tune_case *c;
    sparq_matrix *matrix;       /* the packed format, sparse path forced               */
    sparq_matrix *dense;        /* the same weights on the dense path (break-even)     */
    cl_mem x, y;                /* y holds batch * rows floats, then the guard words   */
    float *ref, *scale;         /* reference output and sum |x w| per output           */
    float *out;                 /* read-back: outputs then guard words                 */
    size_t n_out;
    size_t index, total;        /* this case's place in the run (progress)             */
    sparq_cache_flush flush;    /* enqueued before every timed call                    */
} sparq_bench_case;

/* ---- tuner_cases.c ---------------------------------------------------------------- */

/* Builds c's weights (pruned as its format wants, values from seed), packs them, uploads
 * them (sparse path forced, and on the dense path for the break-even), the activations
 * and the output with its guard words, and the C reference of the output. */
sparq_status sparq_bench_case_prepare(sparq_context *ctx, const sparq_tune_case *c,
                                      uint64_t seed, sparq_bench_case *b);
void sparq_bench_case_free(sparq_bench_case *b);

/* ---- tuner_search.c --------------------------------------------------------------- */

/* The next number of splitmix64 (the same sequence on every platform), and one in [0, 1). */
uint64_t sparq_tune_random_next(uint64_t *state);
double sparq_tune_random_unit(uint64_t *state);

/* Searches k's candidate values on the prepared case with o's strategy: r gets the
 * kernel's row of results (space 0: k can't run the case), best_params the best point
 * found (when r->best_us is finite). */
sparq_status sparq_bench_case_search(sparq_bench_case *b, const sparq_tune_options *o,
                                     const sparq_kernel_info *k, uint64_t seed,
                                     sparq_tune_result *r, sparq_kernel_params *best_params);

/* ---- tuner.c ---------------------------------------------------------------------- */

/* Microseconds between a profiling event's start and end (0 when unknown). */
double sparq_tune_event_us(cl_event e);
/* Sorts times[0..n) and returns their median (NAN for n = 0). */
double sparq_tune_sorted_median(double *times, unsigned n);

#endif /* SPARQ_TUNER_COMMON_H */
