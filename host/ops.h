/* ops.h - the rank and enqueue functions of every sparq_linear kernel, one pair per
 * registry row, defined in host/spmm_<structure>.c next to their enqueue code.
 */
#ifndef SPARQ_OPS_H
#define SPARQ_OPS_H

#include "internal.h"

/* ---- CSR (host/spmm_csr.c) ---- */
int sparq_rank_csr_scalar(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                          const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_csr_scalar(sparq_context *ctx, const sparq_kernel_info *k,
                                      const sparq_linear_args *a, const sparq_kernel_params *p);
int sparq_rank_csr_rowvec(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                          const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_csr_rowvec(sparq_context *ctx, const sparq_kernel_info *k,
                                      const sparq_linear_args *a, const sparq_kernel_params *p);
int sparq_rank_csr_vector(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                          const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_csr_vector(sparq_context *ctx, const sparq_kernel_info *k,
                                      const sparq_linear_args *a, const sparq_kernel_params *p);
int sparq_rank_csr_batchtile(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                             const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_csr_batchtile(sparq_context *ctx, const sparq_kernel_info *k,
                                         const sparq_linear_args *a,
                                         const sparq_kernel_params *p);
/* ---- end of CSR ---- */

/* ---- BSR (host/spmm_bsr.c) ---- */
int sparq_rank_bsr_scalar(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                          const sparq_kernel_params *p, char *why, size_t why_size);
int sparq_rank_bsr_tile(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                        const sparq_kernel_params *p, char *why, size_t why_size);
int sparq_rank_bsr_gemv(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                        const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_bsr_scalar(sparq_context *ctx, const sparq_kernel_info *k,
                                      const sparq_linear_args *a, const sparq_kernel_params *p);
/* spmm_bsr_tile and spmm_bsr_gemv */
sparq_status sparq_enqueue_bsr_tile(sparq_context *ctx, const sparq_kernel_info *k,
                                    const sparq_linear_args *a, const sparq_kernel_params *p);
/* ---- end of BSR ---- */

/* ---- dense quantized and W8A8 (host/linear_dense_q.c) ---- */
int sparq_rank_dense_q_gemv(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                            const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_dense_q_gemv(sparq_context *ctx, const sparq_kernel_info *k,
                                        const sparq_linear_args *a, const sparq_kernel_params *p);
int sparq_rank_dense_q_tiled(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                             const sparq_kernel_params *p, char *why, size_t why_size);
/* The NDRange of linear_dense_q_tiled with parameters p (also run for f32 by the dense
 * path, host/linear.c). */
void sparq_dense_q_tiled_range(const sparq_kernel_info *k, const sparq_kernel_params *p,
                               size_t rows, size_t batch, size_t global[2], size_t local[2]);
sparq_status sparq_enqueue_dense_q_tiled(sparq_context *ctx, const sparq_kernel_info *k,
                                         const sparq_linear_args *a,
                                         const sparq_kernel_params *p);
/* W8A8: quantize_dense_rows into a temporary buffer, then linear_dense_w8a8. */
int sparq_rank_dense_w8a8(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                          const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_dense_w8a8(sparq_context *ctx, const sparq_kernel_info *k,
                                      const sparq_linear_args *a, const sparq_kernel_params *p);
/* The two W8A8 steps on their own (tests, ONNX conformance): X (batch x cols floats from
 * x_offset) quantized per row into xq (floats from xq_offset, row stride cols: each
 * code minus its row's zero point, the codes int8, or uint8 with zero points when
 * asym_x) and xparams ((scale, zero point) floats per row from xparams_offset); and the
 * product of a W8A8 matrix with such activations (a->x is not read), with a's wait list
 * and event. */
sparq_status sparq_w8a8_quantize_rows(sparq_context *ctx, cl_command_queue queue, bool asym_x,
                                      size_t batch, size_t cols, cl_mem x, size_t x_offset,
                                      cl_mem xq, size_t xq_offset, cl_mem xparams,
                                      size_t xparams_offset, cl_uint num_wait,
                                      const cl_event *wait_list, cl_event *event);
sparq_status sparq_w8a8_product(sparq_context *ctx, const sparq_kernel_info *k,
                                const sparq_linear_args *a, const sparq_kernel_params *p,
                                bool asym_x, cl_mem xq, size_t xq_offset, cl_mem xparams,
                                size_t xparams_offset);
/* ---- end of dense quantized ---- */

/* ---- N:M (host/spmm_nm.c) ---- */
/* The value encodings every N:M kernel runs (registry rows' `encodings`). */
#define SPARQ_NM_ENCODINGS                                                                    \
    ((1u << SPARQ_ENCODING_F32) | (1u << SPARQ_ENCODING_F16) | (1u << SPARQ_ENCODING_I8) |      \
     (1u << SPARQ_ENCODING_I4))
int sparq_rank_nm_general(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                          const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_nm_general(sparq_context *ctx, const sparq_kernel_info *k,
                                      const sparq_linear_args *a, const sparq_kernel_params *p);
int sparq_rank_nm_gemv24(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                         const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_nm_gemv24(sparq_context *ctx, const sparq_kernel_info *k,
                                     const sparq_linear_args *a, const sparq_kernel_params *p);
int sparq_rank_nm_gemv24_slab(const sparq_matrix *m, size_t batch,
                              const sparq_device_caps *caps, const sparq_kernel_params *p,
                              char *why, size_t why_size);
sparq_status sparq_enqueue_nm_gemv24_slab(sparq_context *ctx, const sparq_kernel_info *k,
                                          const sparq_linear_args *a,
                                          const sparq_kernel_params *p);
int sparq_rank_nm_tiled24_slab(const sparq_matrix *m, size_t batch,
                               const sparq_device_caps *caps, const sparq_kernel_params *p,
                               char *why, size_t why_size);
sparq_status sparq_enqueue_nm_tiled24_slab(sparq_context *ctx, const sparq_kernel_info *k,
                                           const sparq_linear_args *a,
                                           const sparq_kernel_params *p);
int sparq_rank_nm_batchtile24(const sparq_matrix *m, size_t batch,
                              const sparq_device_caps *caps, const sparq_kernel_params *p,
                              char *why, size_t why_size);
sparq_status sparq_enqueue_nm_batchtile24(sparq_context *ctx, const sparq_kernel_info *k,
                                          const sparq_linear_args *a,
                                          const sparq_kernel_params *p);
int sparq_rank_nm_tiled(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                        const sparq_kernel_params *p, char *why, size_t why_size);
sparq_status sparq_enqueue_nm_tiled(sparq_context *ctx, const sparq_kernel_info *k,
                                    const sparq_linear_args *a, const sparq_kernel_params *p);
/* ---- end of N:M ---- */

#endif
