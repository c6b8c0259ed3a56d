/* SPDX-License-Identifier: Apache-2.0 */
/* common.h - what every benchmark program shares: a wall clock, one seeded random
 * number generator (splitmix64), so that the programs' inputs are reproducible, the
 * median/min/max summary of repeated timings, failures printed with sparq's sentence,
 * and bytes in MiB.
 */
#ifndef SPARQ_BENCH_COMMON_H
#define SPARQ_BENCH_COMMON_H

#include "sparq.h"

#include <stddef.h>
#include <stdint.h>

/* Monotonic wall-clock seconds. */
double bench_now_seconds(void);

/* Uniform in (0, 1) and standard normal (Box-Muller) from the state *s (splitmix64). */
double bench_uniform(uint64_t *s);
double bench_gaussian(uint64_t *s);

/* Fills a[0 .. n) with floats drawn uniformly between lo and hi from the state *s. */
void bench_fill_uniform(float *a, size_t n, float lo, float hi, uint64_t *s);

/* The median (element n / 2 once sorted: the upper middle one for even n), min and max
 * of repeated measurements. */
typedef struct bench_summary {
    double median, min, max;
} bench_summary;

/* Sorts t[0 .. n) (n >= 1) in place, ascending, and summarizes it. */
bench_summary bench_summarize(double *t, size_t n);

/* Prints "program: what: <status>: <sparq_last_error()>" on stderr; returns st. */
sparq_status bench_fail(const char *program, const char *what, sparq_status st);

/* bytes / 2^20 */
double bench_mib(uint64_t bytes);

#endif
