/* SPDX-License-Identifier: Apache-2.0 */
/* matrix.h - what host/matrix.c gives the op files: uploads, the slab layout, row statistics,
 * build options from the matrix format, creating and binding a kernel with the common
 * arguments, and enqueueing it (the matrix struct itself is in dispatch.h).
 */
#ifndef SPARQ_MATRIX_H
#define SPARQ_MATRIX_H

#include "dispatch.h"

/* An array of rows x src_row elements of size bytes (i4: nibbles, size 1) re-laid in
 * slabs of SPARQ_SLAB_ROWS rows: element u < used of row r goes to
 * ((r / SLAB) * per_row + u) * SLAB + r % SLAB, so unit u of a slab's rows is adjacent,
 * row after row; padding rows and units (per_row >= used) are zero. *out: a malloc'ed
 * array of *count elements (i4: bytes). */
sparq_status sparq_slab_layout(const void *src, size_t rows, size_t used, size_t src_row,
                               size_t per_row, size_t size, bool i4, void **out,
                               size_t *count);

/* Uploads count elements of dtype from data as m's device array `which` (read-only, an
 * empty array a small zeroed buffer), counted in m's device bytes. */
sparq_status sparq_matrix_upload(sparq_matrix *m, sparq_matrix_array which, sparq_dtype dtype,
                                 size_t count, const void *data);

/* Row statistics for the structure upload rows (dispatch.h): the lengths of the units
 * the kernels iterate (CSR rows, BSR block rows) from a u32 row_ptr of units + 1
 * entries, and the rows' order by decreasing length (stable), uploaded as
 * SPARQ_ARRAY_ROW_ORDER; or every row `length` long (dense, N:M). */
sparq_status sparq_row_statistics(sparq_matrix *m, const uint32_t *row_ptr, size_t units);
void sparq_uniform_statistics(sparq_matrix *m, size_t length);

/* Build options for kernel k on matrix m: -D defines of the format (SPARQ_ENCODING by
 * name, e.g. SPARQ_ENCODING_I8; SPARQ_INDEX_U16; for i8/i4 SPARQ_GRANULARITY by name,
 * SPARQ_GROUP_SIZE, SPARQ_ASYMMETRIC), the structure's (its upload row's options: BSR_R,
 * NM_N, ...), then k's tunables. */
void sparq_matrix_build_options(const sparq_matrix *m, const sparq_kernel_info *k,
                                const sparq_kernel_params *p, char *options, size_t size);
/* The same for a format (normalised) whose column indices are u16 or not, without a
 * matrix: what the GPU build gate (tests/gpu_build) compiles offline. */
void sparq_format_build_options(const sparq_pack_options *f, bool index_u16,
                                const sparq_kernel_info *k, const sparq_kernel_params *p,
                                char *options, size_t size);

/* Creates kernel k for matrix m with parameters p (program from the cache). */
sparq_status sparq_matrix_kernel(const sparq_matrix *m, const sparq_kernel_info *k,
                                 const sparq_kernel_params *p, cl_kernel *kernel);

/* Every sparq_linear kernel ends with the same arguments, set here from index first:
 *   x, x_off (ulong), y, y_off (ulong), bias, bias_off (ulong), act (uint). */
sparq_status sparq_linear_set_tail_args(cl_kernel kernel, cl_uint first,
                                        const sparq_linear_args *a);

/* Binds what every sparq_linear kernel starts with: rows, cols, batch (uint), then the
 * matrix arrays listed (in order; a NULL buffer passes a NULL pointer); after them come
 * `extra` kernel-specific arguments the caller sets (from index 3 + array_count), then
 * the common tail. SPARQ_ARRAY_COUNT in the list binds a NULL buffer. */
sparq_status sparq_linear_bind(cl_kernel kernel, const sparq_linear_args *a,
                               const sparq_matrix_array *arrays, cl_uint array_count,
                               cl_uint extra);

/* Creates kernel k for the call's matrix (format build options) and binds it as
 * sparq_linear_bind does. The caller enqueues with sparq_linear_enqueue or releases
 * the kernel. */
sparq_status sparq_linear_kernel(const sparq_kernel_info *k, const sparq_linear_args *a,
                                 const sparq_kernel_params *p, const sparq_matrix_array *arrays,
                                 cl_uint array_count, cl_uint extra, cl_kernel *kernel);

/* Enqueues kernel over a 2-d range with the call's wait list and event, then releases
 * the kernel (also on failure). */
sparq_status sparq_linear_enqueue(sparq_context *ctx, const sparq_kernel_info *k,
                                  const sparq_linear_args *a, cl_kernel kernel,
                                  const size_t global[2], const size_t local[2]);

/* Runs kernel k with parameters p for a validated call (tests and the tuner force
 * kernels this way); on a matrix held for the dense path, linear_dense_q_tiled runs the
 * dense path's kernel (f32). SPARQ_ERROR_UNSUPPORTED when k's rank refuses the case. */
sparq_status sparq_linear_run(const sparq_kernel_info *k, const sparq_kernel_params *p,
                              const sparq_linear_args *a);

#endif
