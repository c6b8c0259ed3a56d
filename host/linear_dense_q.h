/* SPDX-License-Identifier: Apache-2.0 */
/* linear_dense_q.h - what host/linear_dense_q.c gives others beside its registry rows:
 * the NDRanges of the tiled and cooperative kernels (the dense path runs them for f32,
 * host/linear.c) and
 * the two W8A8 steps on their own (tests, ONNX conformance).
 */
#ifndef SPARQ_LINEAR_DENSE_Q_H
#define SPARQ_LINEAR_DENSE_Q_H

#include "internal.h"

/* The NDRange of linear_dense_q_tiled with parameters p. */
void sparq_dense_q_tiled_range(const sparq_kernel_info *k, const sparq_kernel_params *p,
                               size_t rows, size_t batch, size_t global[2], size_t local[2]);

/* The NDRange of linear_dense_q_coop (batch 1) and its local memory in bytes (the dense
 * path runs it for f32 on GPUs, host/linear.c). */
void sparq_dense_q_coop_range(const sparq_kernel_info *k, const sparq_kernel_params *p,
                              size_t rows, size_t global[2], size_t local[2]);
size_t sparq_dense_q_coop_local_bytes(const sparq_kernel_info *k, const sparq_kernel_params *p);

/* The two W8A8 steps on their own (tests, ONNX conformance): X (batch x cols floats from
 * x_offset) quantized per row into xq in the layout W8A8 kernel k reads (from xq_offset,
 * counted in its codes) and xparams ((scale, zero point) floats per row from
 * xparams_offset); the codes are int8, or uint8 with zero points when asym_x. For
 * linear_dense_w8a8 xq holds floats, each code minus its row's zero point, row stride
 * cols; for linear_dense_w8a8_dot the codes themselves as bytes, row stride cols rounded
 * up to 4 (the padding zero), xq_offset a multiple of 4. And the product of a W8A8 matrix
 * with such activations (a->x is not read), with a's wait list and event. */
sparq_status sparq_w8a8_quantize_rows(sparq_context *ctx, const sparq_kernel_info *k,
                                      cl_command_queue queue, bool asym_x, size_t batch,
                                      size_t cols, cl_mem x, size_t x_offset, cl_mem xq,
                                      size_t xq_offset, cl_mem xparams, size_t xparams_offset,
                                      cl_uint num_wait, const cl_event *wait_list,
                                      cl_event *event);
sparq_status sparq_w8a8_product(sparq_context *ctx, const sparq_kernel_info *k,
                                const sparq_linear_args *a, const sparq_kernel_params *p,
                                bool asym_x, cl_mem xq, size_t xq_offset, cl_mem xparams,
                                size_t xparams_offset);

#endif
