/* SPDX-License-Identifier: Apache-2.0 */
/* spmm_csr.c - the CSR kernels of sparq_linear (kernels/spmm_csr.cl): when each can
 * run and how much dispatch should prefer it (rank), and how each is launched
 * (enqueue). Kernel choice follows the batch, the row lengths and the device type.
 */
#include "matrix.h"

#include <stdio.h>

/* Batches up to this run spmm_csr_rowvec on CPUs (the row stays in cache while the
 * work-item loops over the batch); larger ones run the batch-tiled kernel. */
#define ROWVEC_MAX_BATCH 4
/* Batches up to this run spmm_csr_vector on GPUs; larger ones the batch-tiled kernel. */
#define VECTOR_MAX_BATCH 4

static bool is_gpu(const sparq_device_caps *caps)
{
    return caps->type == SPARQ_DEVICE_TYPE_GPU;
}

/* The arrays every CSR kernel takes after (rows, cols, batch); scales and zero points
 * are NULL buffers (NULL pointers in the kernel) for f32/f16, zero points also when
 * symmetric. */
static const sparq_matrix_array csr_arrays[] = {SPARQ_ARRAY_ROW_PTR, SPARQ_ARRAY_COL_IDX,
                                                SPARQ_ARRAY_VALUES, SPARQ_ARRAY_SCALES,
                                                SPARQ_ARRAY_ZERO_POINTS};
#define CSR_ARRAY_COUNT ((cl_uint)(sizeof csr_arrays / sizeof csr_arrays[0]))

/* Creates k for m with the CSR arguments bound and the common tail placed after
 * `extra` kernel-specific arguments (set by the caller from index 3 + CSR_ARRAY_COUNT). */
static sparq_status csr_kernel(const sparq_kernel_info *k, const sparq_linear_args *a,
                               const sparq_kernel_params *p, cl_uint extra, cl_kernel *kernel)
{
    return sparq_linear_kernel(k, a, p, csr_arrays, CSR_ARRAY_COUNT, extra, kernel);
}

/* Enqueues kernel (then releases it) over a 2-d range with groups of local0 x 1. */
static sparq_status csr_launch(sparq_context *ctx, const sparq_kernel_info *k,
                               const sparq_linear_args *a, cl_kernel kernel, size_t global0,
                               size_t global1, size_t local0)
{
    size_t local[2] = {local0, 1}, global[2] = {global0, global1};
    return sparq_linear_enqueue(ctx, k, a, kernel, global, local);
}

/* ---- spmm_csr_scalar ---------------------------------------------------------------- */

static int rank_csr_scalar(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                           const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)m, (void)batch, (void)caps, (void)p;
    snprintf(why, why_size, "spmm_csr_scalar is the general CSR kernel (any shape and batch)");
    return SPARQ_RANK_FALLBACK;
}

static sparq_status enqueue_csr_scalar(sparq_context *ctx, const sparq_kernel_info *k,
                                       const sparq_linear_args *a, const sparq_kernel_params *p)
{
    cl_kernel kernel = NULL;
    sparq_status st = csr_kernel(k, a, p, 0, &kernel);
    if (st != SPARQ_OK)
        return st;
    size_t wg = sparq_kernel_param(k, p, "CSR_SCALAR_WG");
    return csr_launch(ctx, k, a, kernel, sparq_round_up(a->matrix->rows, wg), a->batch, wg);
}

/* ---- spmm_csr_rowvec ---------------------------------------------------------------- */

/* Skew (coefficient of variation of row lengths) above which rowvec takes the rows
 * longest first, so the long ones don't finish last; below it, rows in storage order
 * stream the arrays front to back. */
#define ROWVEC_ORDER_CV 0.5

static int rank_csr_rowvec(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                           const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)p;
    if (batch > ROWVEC_MAX_BATCH) {
        snprintf(why, why_size, "batch %zu > %d: a work-item per row passes over its row "
                 "once per %d batch columns; the batch-tiled kernel reads it once per tile",
                 batch, ROWVEC_MAX_BATCH, ROWVEC_MAX_BATCH);
        return SPARQ_RANK_OFF_REGIME;
    }
    if (is_gpu(caps)) {
        snprintf(why, why_size, "a work-item per row reads uncoalesced on a GPU; "
                 "spmm_csr_vector shares rows between work-items instead");
        return SPARQ_RANK_FALLBACK;
    }
    if (m->len_mean < 4) {
        snprintf(why, why_size, "rows average %.1f nonzeros, too few for vector steps",
                 m->len_mean);
        return SPARQ_RANK_FALLBACK;
    }
    snprintf(why, why_size, "batch %zu on a CPU and rows average %.1f nonzeros: a work-item "
             "per row with SIMD steps over its nonzeros%s", batch, m->len_mean,
             m->len_cv > ROWVEC_ORDER_CV ? ", longest rows first" : "");
    return SPARQ_RANK_BEST;
}

static sparq_status enqueue_csr_rowvec(sparq_context *ctx, const sparq_kernel_info *k,
                                       const sparq_linear_args *a, const sparq_kernel_params *p)
{
    const sparq_matrix *m = a->matrix;
    cl_kernel kernel = NULL;
    sparq_status st = csr_kernel(k, a, p, 2, &kernel);
    if (st != SPARQ_OK)
        return st;
    cl_uint use_order = m->len_cv > ROWVEC_ORDER_CV;
    if ((st = sparq_set_arg(kernel, 3 + CSR_ARRAY_COUNT, sizeof(cl_mem),
                            &m->buf[SPARQ_ARRAY_ROW_ORDER])) ||
        (st = sparq_set_arg(kernel, 4 + CSR_ARRAY_COUNT, sizeof use_order, &use_order))) {
        clReleaseKernel(kernel);
        return st;
    }
    size_t wg = sparq_kernel_param(k, p, "CSR_ROWVEC_WG");
    return csr_launch(ctx, k, a, kernel, sparq_round_up(m->rows, wg), 1, wg);
}

/* ---- spmm_csr_vector ---------------------------------------------------------------- */

static int rank_csr_vector(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                           const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)p;
    if (batch > VECTOR_MAX_BATCH) {
        snprintf(why, why_size, "batch %zu > %d: the batch-tiled kernel reads each nonzero "
                 "once per tile of batch columns, this one once per batch column", batch,
                 VECTOR_MAX_BATCH);
        return SPARQ_RANK_OFF_REGIME;
    }
    if (!is_gpu(caps)) {
        snprintf(why, why_size, "work-items sharing a row pay a local-memory reduction per "
                 "row on a CPU (10x slower than spmm_csr_scalar on rows of 3 nonzeros)");
        return SPARQ_RANK_FALLBACK;
    }
    if (m->len_mean < 8) {
        snprintf(why, why_size, "rows average %.1f nonzeros, too few to share between "
                 "work-items", m->len_mean);
        return SPARQ_RANK_OFF_REGIME;
    }
    snprintf(why, why_size, "batch %zu on a GPU and rows average %.1f nonzeros: work-items "
             "share each row (coalesced reads) and add up with a fixed tree", batch,
             m->len_mean);
    return SPARQ_RANK_BEST;
}

static sparq_status enqueue_csr_vector(sparq_context *ctx, const sparq_kernel_info *k,
                                       const sparq_linear_args *a, const sparq_kernel_params *p)
{
    cl_kernel kernel = NULL;
    sparq_status st = csr_kernel(k, a, p, 0, &kernel);
    if (st != SPARQ_OK)
        return st;
    size_t wg = sparq_kernel_param(k, p, "CSR_VECTOR_WG");
    size_t rows_per_group = wg / sparq_kernel_param(k, p, "CSR_VECTOR_VS");
    size_t groups = (a->matrix->rows + rows_per_group - 1) / rows_per_group;
    return csr_launch(ctx, k, a, kernel, groups * wg, 1, wg);
}

/* ---- spmm_csr_batchtile ------------------------------------------------------------- */

static int rank_csr_batchtile(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                              const sparq_kernel_params *p, char *why, size_t why_size)
{
    const sparq_kernel_info *k = sparq_kernel_find("spmm_csr_batchtile");
    if (batch < 2) {
        snprintf(why, why_size, "batch 1 has no batch columns to tile");
        return SPARQ_RANK_REFUSED;
    }
    size_t small = is_gpu(caps) ? VECTOR_MAX_BATCH : ROWVEC_MAX_BATCH;
    snprintf(why, why_size, "batch %zu: X staged in local memory, each nonzero read once per "
             "tile of %u batch columns (rows average %.1f nonzeros)", batch,
             sparq_kernel_param(k, p, "CSR_BATCHTILE_TB"), m->len_mean);
    return batch > small ? SPARQ_RANK_BEST : SPARQ_RANK_SHAPED;
}

static sparq_status enqueue_csr_batchtile(sparq_context *ctx, const sparq_kernel_info *k,
                                          const sparq_linear_args *a, const sparq_kernel_params *p)
{
    cl_kernel kernel = NULL;
    sparq_status st = csr_kernel(k, a, p, 0, &kernel);
    if (st != SPARQ_OK)
        return st;
    size_t wg = sparq_kernel_param(k, p, "CSR_BATCHTILE_WG");
    size_t tb = sparq_kernel_param(k, p, "CSR_BATCHTILE_TB");
    return csr_launch(ctx, k, a, kernel, sparq_round_up(a->matrix->rows, wg),
                      (a->batch + tb - 1) / tb, wg);
}

/* ---- device layout ---- */

/* Arrays go up as packed; rows are CSR rows. */
static sparq_status csr_statistics(sparq_matrix *m, const uint32_t *row_ptr)
{
    return sparq_row_statistics(m, row_ptr, m->rows);
}

const sparq_structure_upload sparq_upload_csr = {SPARQ_STRUCTURE_CSR, NULL, csr_statistics,
                                                 NULL};

/* ---- registry rows ---- */

/* every CSR kernel: f32, f16, i8 and i4 values */
#define CSR_ENCODINGS                                                                        \
    ((1u << SPARQ_ENCODING_F32) | (1u << SPARQ_ENCODING_F16) | (1u << SPARQ_ENCODING_I8) |   \
     (1u << SPARQ_ENCODING_I4))

static const sparq_kernel_info csr_rows[] = {
    {"spmm_csr_scalar", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "general CSR: one work-item per (row, batch) output, any shape",
     {{"CSR_SCALAR_WG", 64, 64, {32, 64, 128, 0}}}, rank_csr_scalar, enqueue_csr_scalar,
     CSR_ENCODINGS, false, {{SPARQ_RULE_WORK_GROUP, "CSR_SCALAR_WG", NULL, 0}}},
    {"spmm_csr_rowvec", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "CSR at small batch on CPUs: a work-item per row, SIMD steps of VW nonzeros",
     {{"CSR_ROWVEC_WG", 64, 64, {16, 32, 64, 128, 0}}, {"CSR_ROWVEC_VW", 8, 4, {4, 8, 16, 0}}},
     rank_csr_rowvec, enqueue_csr_rowvec, CSR_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "CSR_ROWVEC_WG", NULL, 0},
      {SPARQ_RULE_CANDIDATE, "CSR_ROWVEC_VW", NULL, 0}}},
    {"spmm_csr_vector", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "CSR at small batch on GPUs: VS work-items share a row, fixed-order tree reduction",
     {{"CSR_VECTOR_WG", 128, 128, {32, 64, 128, 256, 0}},
      {"CSR_VECTOR_VS", 32, 32, {4, 8, 16, 32, 64, 0}}},
     rank_csr_vector, enqueue_csr_vector, CSR_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "CSR_VECTOR_WG", NULL, 0},
      {SPARQ_RULE_DIVIDES, "CSR_VECTOR_VS", "CSR_VECTOR_WG", 0}}},
    {"spmm_csr_batchtile", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "CSR at batch >= 2: a work-item per row and TB batch columns, X staged in local memory",
     {{"CSR_BATCHTILE_WG", 512, 64, {32, 64, 128, 256, 512, 0}},
      {"CSR_BATCHTILE_TB", 16, 8, {4, 8, 16, 0}},
      {"CSR_BATCHTILE_KT", 4096, 512, {256, 512, 1024, 2048, 4096, 0}}},
     rank_csr_batchtile, enqueue_csr_batchtile, CSR_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "CSR_BATCHTILE_WG", NULL, 0},
      {SPARQ_RULE_CANDIDATE, "CSR_BATCHTILE_TB", NULL, 0},
      {SPARQ_RULE_LOCAL_FLOATS, "CSR_BATCHTILE_KT", "CSR_BATCHTILE_TB", 0}}},
};

const sparq_kernel_family sparq_kernels_csr = {csr_rows, sizeof csr_rows / sizeof csr_rows[0]};
