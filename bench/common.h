/* common.h - what every benchmark program shares: a wall clock and one seeded random
 * number generator (splitmix64), so that the programs' inputs are reproducible.
 */
#ifndef SPARQ_BENCH_COMMON_H
#define SPARQ_BENCH_COMMON_H

#include <stdint.h>

/* Monotonic wall-clock seconds. */
double bench_now_seconds(void);

/* Uniform in (0, 1) and standard normal (Box-Muller) from the state *s (splitmix64). */
double bench_uniform(uint64_t *s);
double bench_gaussian(uint64_t *s);

#endif
