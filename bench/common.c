/* SPDX-License-Identifier: Apache-2.0 */
/* common.c - the wall clock, the random numbers, the summary of repeated timings, the
 * failure line and MiB that every benchmark program shares (common.h).
 */
#include "common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
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

void bench_fill_uniform(float *a, size_t n, float lo, float hi, uint64_t *s)
{
    for (size_t i = 0; i < n; i++)
        a[i] = (float)(lo + (hi - (double)lo) * bench_uniform(s));
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

bench_summary bench_summarize(double *t, size_t n)
{
    qsort(t, n, sizeof *t, compare_doubles);
    bench_summary s = {.median = t[n / 2], .min = t[0], .max = t[n - 1]};
    return s;
}

sparq_status bench_fail(const char *program, const char *what, sparq_status st)
{
    fprintf(stderr, "%s: %s: %s: %s\n", program, what, sparq_status_string(st),
            sparq_last_error());
    return st;
}

double bench_mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}
