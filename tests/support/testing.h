/* SPDX-License-Identifier: Apache-2.0 */
/* testing.h - what every test shares: cmocka includes, a device context that
 * fails (not skips) under CI when no device exists, buffers, the one random-number
 * generator, temporary files, and the Python (numpy) that some references run on.
 */
#ifndef SPARQ_TESTING_H
#define SPARQ_TESTING_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
/* cmocka.h needs the four includes above first */
#include <cmocka.h>

#include "internal.h"

/* A context on the default device. Without a device: skips the test, or fails it when
 * the environment variable CI is set (a device test must never pass without running). */
sparq_context *testing_context(const sparq_context_options *options);

/* A read-write device buffer holding count floats copied from data (NULL: uninitialised). */
cl_mem testing_buffer(sparq_context *ctx, const float *data, size_t count);
/* Reads count floats from buf into out, waiting for event (may be NULL). */
void testing_read(sparq_context *ctx, cl_mem buf, float *out, size_t count, cl_event event);

/* The tests' one random-number generator, splitmix64: advances *state and returns the
 * next 64 random bits. Every test and reference draws from it. */
uint64_t testing_next_u64(uint64_t *state);
/* The next draw as a double in [0, 1) (its top 53 bits). */
double testing_next_uniform(uint64_t *state);

/* Deterministic uniform floats in [lo, hi) from a 64-bit seed (splitmix64). */
void testing_fill_uniform(float *out, size_t count, uint64_t seed, float lo, float hi);
/* Deterministic normal floats with this mean and standard deviation (Box-Muller over the
 * same generator). */
void testing_fill_normal(float *out, size_t count, uint64_t seed, float mean, float sd);

/* SPARQ_TEST_FILTER=pattern runs only the matching tests of this program (cmocka's
 * filter, used to run a test's kernel cases under oclgrind). Call first in main(). */
void testing_filter_from_env(void);

/* The process's resident memory in MB (/proc/self/statm), 0 where unknown. */
double testing_rss_mb(void);

/* A fresh empty folder under the build tree for this test; returns its path. */
const char *testing_tmpdir(const char *name);
/* The path of file name inside a fresh testing_tmpdir(test) (valid until the next call). */
const char *testing_tmpfile(const char *test, const char *name);

/* The whole file at path, malloc'ed with one spare byte; *size gets its length. */
unsigned char *testing_read_file(const char *path, size_t *size);
/* Creates or replaces the file at path with size bytes of data. */
void testing_write_file(const char *path, const void *data, size_t size);

/* |got - want| <= 1e-12 (1 + |want|), else fails naming both. */
void testing_assert_near(double got, double want);

/* Skips the test when SPARQ_PYTHON has no numpy, or fails it when CI is set. */
void testing_skip_without_numpy(void);
/* Runs SPARQ_PYTHON on script (a path under the source tree, e.g. "tests/x.py") with
 * arg1 and arg2 (NULL: only arg1), stderr joined to stdout; out (size bytes) gets what
 * it printed, NUL-terminated. Returns the exit status from pclose(). */
int testing_python(const char *script, const char *arg1, const char *arg2, char *out,
                   size_t size);

#endif
