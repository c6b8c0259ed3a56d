/* SPDX-License-Identifier: Apache-2.0 */
/* plan.h - host/plan.c: the one home of dispatch's decisions. A matrix's path (dense
 * f32 weights, the packed format's kernels, or both) at creation, and for each
 * (matrix, batch) the kernel and its parameters, from the tuning databases and the
 * registry's ranks; the plan in words (sparq_plan_explain) and as data (sparq_plan_info).
 */
#ifndef SPARQ_PLAN_H
#define SPARQ_PLAN_H

#include "dispatch.h"
#include "tunedb.h"

/* Resolves m->path, m->dense_copy, m->copy_declined, m->rule_dense and m->path_reason
 * for a matrix being created (rows, cols, format, stored, density and packed_bytes
 * set) with these validated options. The order: dense f32 matrices run the dense path;
 * other dense encodings their own kernels; a forced path; the options' density
 * threshold; the tuned break-even (plan.c: tuned_path); the built-in byte rule. */
void sparq_plan_path(sparq_matrix *m, const sparq_matrix_options *options);

/* The plan for m at this batch: the path (a tuned dense/sparse choice where the matrix
 * holds both, else its own path), the kernel (the tuned choice if it can run, else the
 * highest rank) and its parameters (tuned for this device and shape class when the
 * databases have them, else defaults). From the plan cache when there. 
 * SPARQ_ERROR_UNSUPPORTED when nothing can run. */
sparq_status sparq_plan_get(sparq_matrix *m, size_t batch, sparq_plan *plan);

/* Drops m's cached plan for this batch (the next sparq_plan_get builds it anew: after a
 * kernel build reported a lower work-group limit, sparq_kernel_limit_note). */
void sparq_plan_forget(sparq_matrix *m, size_t batch);

/* The tuned dense/sparse choice for m at this batch, if the databases have one
 * (detail: where it came from). */
bool sparq_matrix_tuned_choice(const sparq_matrix *m, size_t batch,
                               sparq_tune_choice_entry *choice, char *detail,
                               size_t detail_size);

/* The tuning shape class of a call of m at this batch. */
void sparq_matrix_shape_class(const sparq_matrix *m, size_t batch, char *out, size_t size);

/* Parameters for kernel k on m at this batch from the tuning chain (or defaults), with
 * where they came from; moved to the nearest setting that fits the device and kernel
 * (sparq_kernel_caps) where a value breaks their limits (detail says so). */
sparq_param_source sparq_matrix_tuned_params(const sparq_matrix *m, const sparq_kernel_info *k,
                                             size_t batch, sparq_kernel_params *p,
                                             char *detail, size_t detail_size);

#endif
