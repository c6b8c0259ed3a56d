/* SPDX-License-Identifier: Apache-2.0 */
/* status.h - the bottom layer: error and log helpers and the clock that every layer
 * above (formats/, host/, autotune/) uses; free of OpenCL so that formats/ can include
 * it (formats/ is compiled with SPARQ_NO_OPENCL).
 */
#ifndef SPARQ_STATUS_H
#define SPARQ_STATUS_H

#include "sparq.h"

#if defined(__GNUC__)
#define SPARQ_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define SPARQ_PRINTF(f, a)
#endif

/* Records the sentence for sparq_last_error() and returns status, so that a failing
 * path reads: return sparq_fail(SPARQ_ERROR_OUT_OF_BOUNDS, "x needs %zu bytes", n); */
sparq_status sparq_fail(sparq_status status, const char *fmt, ...) SPARQ_PRINTF(2, 3);

sparq_log_level sparq_log_level_get(void);
/* Prints "sparq: ..." to stderr when logging is at least level; otherwise nothing. */
void sparq_log(sparq_log_level level, const char *fmt, ...) SPARQ_PRINTF(2, 3);
/* Monotonic seconds, for timing builds and phases. */
double sparq_now_seconds(void);

#endif
