/* SPDX-License-Identifier: Apache-2.0 */
/* tuner_common.c - what the tuner's files share below them: the microseconds of a
 * profiled event, the median of a sorted sample, and the tuner's one random-number
 * generator (the library's only one).
 */
#include "tuner_common.h"

#include <math.h>
#include <stdlib.h>

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double sparq_tune_event_us(cl_event e)
{
    cl_ulong start = 0, end = 0;
    clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL);
    clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
    return end > start ? (double)(end - start) / 1e3 : 0.0;
}

double sparq_tune_sorted_median(double *times, unsigned n)
{
    qsort(times, n, sizeof times[0], compare_double);
    return n ? times[n / 2] : NAN;
}

/* splitmix64: the same sequence on every platform */
uint64_t sparq_tune_random_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

double sparq_tune_random_unit(uint64_t *state)
{
    return (double)(sparq_tune_random_next(state) >> 11) / 9007199254740992.0;
}

