/* ops.h - the rank and enqueue functions of every sparq_linear kernel, one pair per
 * registry row, defined in host/spmm_<structure>.c next to their enqueue code.
 */
#ifndef SPARQ_OPS_H
#define SPARQ_OPS_H

#include "internal.h"

/* ---- CSR (host/spmm_csr.c) ---- */
int sparq_rank_csr_scalar(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                          char *why, size_t why_size);
sparq_status sparq_enqueue_csr_scalar(sparq_context *ctx, const sparq_kernel_info *k,
                                      const sparq_linear_args *a, const sparq_kernel_params *p);
/* ---- end of CSR ---- */

/* ---- BSR (host/spmm_bsr.c) ---- */
/* ---- end of BSR ---- */

/* ---- N:M (host/spmm_nm.c) ---- */
/* ---- end of N:M ---- */

#endif
