/* common.c - the wall clock and random numbers every benchmark program shares
 * (common.h).
 */
#include "common.h"

#include <math.h>
#include <time.h>

double bench_now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double bench_uniform(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return ((double)(z >> 11) + 0.5) / 9007199254740992.0;
}

double bench_gaussian(uint64_t *s)
{
    return sqrt(-2.0 * log(bench_uniform(s))) * cos(6.283185307179586 * bench_uniform(s));
}
