/* SPDX-License-Identifier: Apache-2.0 */
/* kernel_check.h - what the device kernel tests (test_spmm, test_linear_q,
 * test_linear_q_w8a8) share: the small mode oclgrind runs, packing and uploading a
 * matrix, running one registered kernel or dispatch, one run checked against the C
 * reference, and the check that kernels really ran.
 */
#ifndef SPARQ_KERNEL_CHECK_H
#define SPARQ_KERNEL_CHECK_H

#include "testing.h"
#include "matrix.h"

#include <stdbool.h>

/* SPARQ_TEST_SMALL=1 (set under oclgrind, which interprets every work-item): tests run
 * tiny versions of their shapes. */
bool testing_small_mode(void);

/* Packs w (rows x cols) as pack says and uploads it with mo (NULL: the defaults);
 * unpacked (if not NULL; may be w) gets the unpacked weights, *packed_out (if not NULL)
 * the packed matrix, else it is freed. Fails the test, naming label, when matrix_create
 * refuses. */
sparq_matrix *testing_matrix(sparq_context *ctx, const sparq_pack_options *pack, size_t rows,
                             size_t cols, const float *w, const sparq_matrix_options *mo,
                             const char *label, float *unpacked, sparq_packed **packed_out);

/* Runs registered kernel k with params (NULL: k's defaults on the device) on x, or,
 * when k is NULL, dispatches through sparq_linear. bias may be NULL; act as
 * sparq_activation; *event gets the last kernel's event. */
sparq_status testing_run_kernel(sparq_context *ctx, sparq_matrix *m, const sparq_kernel_info *k,
                                const sparq_kernel_params *params, size_t batch, cl_mem x,
                                cl_mem y, cl_mem bias, int act, cl_event *event);

/* One run checked against ref_linear_act on the weights w the matrix holds: X (batch x
 * cols) uniform in [-1, 1) from seed + batch (or normal with mean x_mean and sd 1 when
 * x_mean is not 0: activations after a GELU have such a mean, and a kernel that sums
 * large terms which cancel loses precision there), a bias uniform in [-0.5, 0.5) from
 * seed + 1 when activation != 0 or batch is odd, Y filled with NaN first. */
typedef struct testing_linear_run {
    const sparq_kernel_info *kernel;   /* NULL: dispatch through sparq_linear             */
    const sparq_kernel_params *params; /* NULL: the kernel's defaults                     */
    bool skip_refused;                 /* not run when the kernel's rank refuses the case */
    size_t batch;
    int activation;
    uint64_t seed;
    double tol;                        /* largest ref_max_rel_error allowed               */
    float x_mean;                      /* 0: X uniform in [-1, 1); else normal, sd 1      */
    const char *label;                 /* names the case in failures                      */
} testing_linear_run;

/* Returns 1 when it ran, 0 when skip_refused and the kernel's rank refused; out (if not
 * NULL) gets Y. */
int testing_check_linear(sparq_context *ctx, sparq_matrix *m, const float *w,
                         const testing_linear_run *run, float *out);

/* Fails unless at least runs (> 0) kernels were launched since before. */
void testing_expect_launches(sparq_context *ctx, const sparq_context_stats *before, size_t runs,
                             const char *label);

#endif
