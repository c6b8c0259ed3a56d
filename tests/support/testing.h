/* testing.h - what every test shares: cmocka includes, a device context that
 * fails (not skips) under CI when no device exists, buffers, random data.
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

/* Deterministic uniform floats in [lo, hi) from a 64-bit seed (splitmix64). */
void testing_fill_uniform(float *out, size_t count, uint64_t seed, float lo, float hi);

/* SPARQ_TEST_FILTER=pattern runs only the matching tests of this program (cmocka's
 * filter, used to run a test's kernel cases under oclgrind). Call first in main(). */
void testing_filter_from_env(void);

/* A fresh empty folder under the build tree for this test; returns its path. */
const char *testing_tmpdir(const char *name);

#endif
