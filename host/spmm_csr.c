/* SPDX-License-Identifier: Apache-2.0 */
/* spmm_csr.c - the CSR kernels of sparq_linear (kernels/spmm_csr.cl): when each can
 * run and how much dispatch should prefer it (rank), and how each is launched
 * (enqueue); and the CSR device layout (rows padded to 4 slots, the binned kernel's
 * rows by length class). Kernel choice follows the batch, the row lengths and the device.
 */
#include "matrix.h"
#include "packed.h"
#include "quantize.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
             "share each row (coalesced reads) and add up with a fixed tree; "
             "spmm_csr_binned also sizes the team to the row and splits long rows", batch,
             m->len_mean);
    return SPARQ_RANK_SHAPED;
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

/* ---- spmm_csr_binned ---------------------------------------------------------------- */

/* Batches up to this run spmm_csr_binned on GPUs (each pass over the rows serves 4 batch
 * columns: CSR_BINNED_NB); larger ones the batch-tiled kernel. */
#define BINNED_MAX_BATCH 4
/* Slots of one unit of a long row: a work-group's share (CSR_BINNED_SPLIT units a
 * group). 2048 slots are 2 to 16 steps of a group of 256 to 32 work-items x 4 slots. */
#define BINNED_UNIT 2048u
/* A row is long (split into units over several work-groups, combined by a second
 * pass) when it holds more than one unit and at least this many times the mean padded
 * row: then one team on it would finish long after the rest of the matrix. */
#define BINNED_LONG_FACTOR 8u
/* Words before the records of SPARQ_ARRAY_CSR_BINS (kernels/spmm_csr.cl) and words a
 * record. */
#define BINNED_HEADER 16u
#define BINNED_RECORD 4u

/* Long-row units of m: the records after the header and the rows (one per row). */
static size_t binned_units(const sparq_matrix *m)
{
    size_t records = (m->count[SPARQ_ARRAY_CSR_BINS] - BINNED_HEADER) / BINNED_RECORD;
    return records > m->rows ? records - m->rows : 0;
}

/* log2 of a power of two */
static unsigned log2_exact(unsigned v)
{
    unsigned l = 0;
    while (v > 1)
        v >>= 1, l++;
    return l;
}

static int rank_csr_binned(const sparq_matrix *m, size_t batch, const sparq_device_caps *caps,
                           const sparq_kernel_params *p, char *why, size_t why_size)
{
    (void)p;
    if (!is_gpu(caps)) {
        snprintf(why, why_size, "teams of work-items per row pay a local-memory reduction per "
                 "row on a CPU; spmm_csr_rowvec gives each row a SIMD thread instead");
        return SPARQ_RANK_FALLBACK;
    }
    if (batch > BINNED_MAX_BATCH) {
        snprintf(why, why_size, "batch %zu > %d: a pass over the rows serves %d batch "
                 "columns; the batch-tiled kernel reads each nonzero once per tile", batch,
                 BINNED_MAX_BATCH, BINNED_MAX_BATCH);
        return SPARQ_RANK_OFF_REGIME;
    }
    size_t units = binned_units(m);
    snprintf(why, why_size, "batch %zu on a GPU: rows binned by length (rows average %.1f "
             "nonzeros, longest %zu), each with a team of up to 32 lanes reading aligned "
             "4-slot chunks side by side, short rows sharing a team%s", batch, m->len_mean,
             m->len_max, units ? ", long rows split over work-groups and combined in a fixed "
             "order" : "");
    return SPARQ_RANK_BEST;
}

static sparq_status enqueue_csr_binned(sparq_context *ctx, const sparq_kernel_info *k,
                                       const sparq_linear_args *a, const sparq_kernel_params *p)
{
    const sparq_matrix *m = a->matrix;
    const size_t wg = sparq_kernel_param(k, p, "CSR_BINNED_WG");
    const size_t team = sparq_kernel_param(k, p, "CSR_BINNED_TEAM");
    const size_t min_lanes = team / sparq_kernel_param(k, p, "CSR_BINNED_SHORT");
    const size_t split = sparq_kernel_param(k, p, "CSR_BINNED_SPLIT");
    const size_t units = binned_units(m);
    /* Groups: the units' ceil(units / split), then a bound on the levels' (the bins'
     * lengths stay on the device): a row of k chunks gets at most max(min_lanes, 2k)
     * lanes and at most team, and each level rounds up once. Groups past the last
     * level return at once. */
    const size_t chunks = m->count[SPARQ_ARRAY_COL_IDX] / 4;
    size_t lanes = m->rows * min_lanes + 2 * chunks;
    if (lanes > m->rows * team)
        lanes = m->rows * team;
    const size_t levels = log2_exact((unsigned)team) - log2_exact((unsigned)min_lanes) + 1;
    const size_t groups = (units + split - 1) / split + (lanes + wg - 1) / wg + levels;

    cl_kernel kernel = NULL;
    sparq_status st = csr_kernel(k, a, p, 3, &kernel);
    if (st != SPARQ_OK)
        return st;
    cl_mem partials = NULL;
    if (units > 0) { /* one float per unit and batch column, for this call only: a matrix
                      * may run on several queues at once */
        cl_int err = CL_SUCCESS;
        partials = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE,
                                  units * a->batch * sizeof(float), NULL, &err);
        if (err != CL_SUCCESS) {
            clReleaseKernel(kernel);
            return sparq_fail(err, "linear: spmm_csr_binned's %zu partial sums: %s",
                              units * a->batch, sparq_status_string(err));
        }
    }
    cl_uint pass = 0;
    if ((st = sparq_set_arg(kernel, 3 + CSR_ARRAY_COUNT, sizeof(cl_mem),
                            &m->buf[SPARQ_ARRAY_CSR_BINS])) ||
        (st = sparq_set_arg(kernel, 4 + CSR_ARRAY_COUNT, sizeof(cl_mem), &partials)) ||
        (st = sparq_set_arg(kernel, 5 + CSR_ARRAY_COUNT, sizeof pass, &pass))) {
        clReleaseKernel(kernel);
        if (partials)
            clReleaseMemObject(partials);
        return st;
    }
    size_t local[2] = {wg, 1}, global[2] = {groups * wg, 1};
    if (units == 0) {
        st = sparq_kernel_enqueue(ctx, a->queue, kernel, k->name, 2, global, local, a->num_wait,
                                  a->wait_list, a->event);
        clReleaseKernel(kernel);
        return st;
    }
    /* pass 1 adds each long row's unit sums after pass 0 (an event: the queue may be
     * out of order); a work-item per long row, at most one per unit */
    cl_event products = NULL;
    st = sparq_kernel_enqueue(ctx, a->queue, kernel, k->name, 2, global, local, a->num_wait,
                              a->wait_list, &products);
    pass = 1;
    if (st == SPARQ_OK)
        st = sparq_set_arg(kernel, 5 + CSR_ARRAY_COUNT, sizeof pass, &pass);
    if (st == SPARQ_OK) {
        global[0] = sparq_round_up(units, wg);
        st = sparq_kernel_enqueue(ctx, a->queue, kernel, k->name, 2, global, local, 1,
                                  &products, a->event);
    }
    if (products)
        clReleaseEvent(products);
    clReleaseKernel(kernel);
    clReleaseMemObject(partials); /* OpenCL keeps it until the launches are done */
    return st;
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

/* ---- device layout ----
 * Every CSR kernel reads one layout: each row padded with explicit zero weights to a
 * multiple of CSR_ROW_ALIGN slots, so every row starts at a multiple of 4 slots and
 * spmm_csr_binned loads 4 slots as one aligned vector (f32 16 bytes, f16 8, i8 a uint,
 * i4 a ushort; u16/u32 indices 8/16 bytes). A padding slot holds the row's last column
 * (a column the row reads anyway, so x's NaN/Inf meet it only where the row's own
 * weights do, and its group's scale applies) and a zero weight: 0 for f32/f16, the code
 * equal to its zero point for i8/i4 (0 when symmetric), so (q - z) * s = 0. Empty rows
 * stay empty. The kernels that walk row_ptr add these zeros. m->stored and the row
 * statistics (len_*, row_order) count the packed nonzeros, without the padding;
 * m->count[SPARQ_ARRAY_COL_IDX] is the padded total. */
#define CSR_ROW_ALIGN 4u

static size_t padded_len(size_t len)
{
    return (len + CSR_ROW_ALIGN - 1) / CSR_ROW_ALIGN * CSR_ROW_ALIGN;
}

/* Scale index of W[r, c] (kernels/common.clh's sparq_scale_index). */
static size_t scale_index(const sparq_matrix *m, size_t r, size_t c)
{
    const sparq_quant_options *q = &m->format.quant;
    if (q->granularity == SPARQ_SCALE_GROUP)
        return r * ((m->cols + q->group_size - 1) / q->group_size) + c / q->group_size;
    return q->granularity == SPARQ_SCALE_ROW ? r : 0;
}

/* The padded copy of packed array `role` (row_ptr, col_idx or values). */
static sparq_status csr_layout(const sparq_matrix *m, const sparq_packed *packed,
                               sparq_packed_role role, const sparq_packed_buffer *a, void **data,
                               size_t *count)
{
    const sparq_packed_buffer *rp = &packed->arrays[SPARQ_PACKED_ROW_PTR];
    if ((role != SPARQ_PACKED_ROW_PTR && role != SPARQ_PACKED_COL_IDX &&
         role != SPARQ_PACKED_VALUES) ||
        !rp->present || rp->dtype != SPARQ_DTYPE_U32)
        return SPARQ_OK; /* as packed (64-bit row pointers are refused by matrix.c) */
    const uint32_t *ptr = rp->data;
    const size_t rows = m->rows;
    size_t total = 0;
    for (size_t r = 0; r < rows; r++)
        total += padded_len(ptr[r + 1] - ptr[r]);
    if (total > UINT32_MAX)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED, "matrix_create: %zu slots with rows padded "
                          "to %u need 64-bit row pointers, which the device kernels do not "
                          "take", total, CSR_ROW_ALIGN);
    if (role == SPARQ_PACKED_ROW_PTR) {
        uint32_t *out = malloc((rows + 1) * sizeof *out);
        if (!out)
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
        out[0] = 0;
        for (size_t r = 0; r < rows; r++)
            out[r + 1] = out[r] + (uint32_t)padded_len(ptr[r + 1] - ptr[r]);
        *data = out, *count = rows + 1;
        return SPARQ_OK;
    }
    const sparq_packed_buffer *ci = &packed->arrays[SPARQ_PACKED_COL_IDX];
    const sparq_packed_buffer *zp = &packed->arrays[SPARQ_PACKED_ZERO_POINTS];
    const sparq_encoding enc = m->format.quant.encoding;
    const bool i4 = role == SPARQ_PACKED_VALUES && enc == SPARQ_ENCODING_I4;
    const size_t size = sparq_dtype_size(a->dtype);
    const size_t elements = i4 ? total / 2 : total;
    uint8_t *out = calloc(elements ? elements : 1, size);
    if (!out)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    const uint8_t *in = a->data;
    size_t o = 0;
    for (size_t r = 0; r < rows; r++) {
        const size_t start = ptr[r], len = ptr[r + 1] - start, plen = padded_len(len);
        if (len == 0)
            continue;
        if (i4)
            for (size_t i = 0; i < len; i++)
                sparq_i4_set(out, o + i, sparq_i4_get(in, start + i));
        else
            memcpy(out + o * size, in + start * size, len * size);
        /* the padding: the last column, and a zero weight (calloc's 0 for f32, f16 and
         * symmetric codes) */
        const size_t last = start + len - 1;
        for (size_t i = len; i < plen; i++) {
            if (role == SPARQ_PACKED_COL_IDX) {
                memcpy(out + (o + i) * size, in + last * size, size);
            } else if ((enc == SPARQ_ENCODING_I8 || enc == SPARQ_ENCODING_I4) && zp->present) {
                size_t c = ci->dtype == SPARQ_DTYPE_U16 ? ((const uint16_t *)ci->data)[last]
                                                        : ((const uint32_t *)ci->data)[last];
                int z = ((const int8_t *)zp->data)[scale_index(m, r, c)];
                if (i4)
                    sparq_i4_set(out, o + i, z);
                else
                    out[o + i] = (uint8_t)(int8_t)z;
            }
        }
        o += plen;
    }
    *data = out, *count = elements;
    return SPARQ_OK;
}

/* SPARQ_ARRAY_CSR_BINS (its layout: kernels/spmm_csr.cl, spmm_csr_binned) from the packed
 * row pointers. The bin order takes length classes (a row of k 4-slot chunks is in class
 * ceil(log2 k), 0 for k <= 1) longest first and rows ascending inside a class, so rows of
 * similar length share a work-group and rows of a uniform matrix stay in storage order. */
static sparq_status csr_bins(sparq_matrix *m, const uint32_t *ptr)
{
    const size_t rows = m->rows;
    size_t total = 0, n_long = 0, n_units = 0;
    for (size_t r = 0; r < rows; r++)
        total += padded_len(ptr[r + 1] - ptr[r]);
    const double mean = rows ? (double)total / (double)rows : 0.0;
    bool *is_long = calloc(rows ? rows : 1, sizeof *is_long);
    size_t *at = calloc(rows ? rows : 1, sizeof *at); /* padded starts */
    if (!is_long || !at) {
        free(is_long), free(at);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    }
    size_t class_count[33] = {0};
    for (size_t r = 0, s = 0; r < rows; r++) {
        const size_t plen = padded_len(ptr[r + 1] - ptr[r]);
        at[r] = s, s += plen;
        if (plen > BINNED_UNIT && (double)plen >= BINNED_LONG_FACTOR * mean) {
            is_long[r] = true, n_long++;
            n_units += (plen + BINNED_UNIT - 1) / BINNED_UNIT;
            continue;
        }
        size_t k = plen / CSR_ROW_ALIGN, c = 0;
        while (((size_t)1 << c) < k)
            c++;
        class_count[c]++;
    }
    const size_t words = BINNED_HEADER + BINNED_RECORD * (rows + n_units);
    uint32_t *bins = calloc(words, sizeof *bins);
    if (!bins) {
        free(is_long), free(at);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    }
    bins[0] = (uint32_t)n_long, bins[1] = (uint32_t)n_units;
    /* cut[c]: binned rows of class > c; next[c]: where class c's rows go */
    size_t next[33], above = 0;
    for (int c = 32; c >= 0; c--) {
        next[c] = above;
        if (c <= 7)
            bins[2 + c] = (uint32_t)above;
        above += class_count[c];
    }
    const size_t binned = rows - n_long;
    uint32_t *rec = bins + BINNED_HEADER;
    size_t long_i = 0, unit = 0;
    for (size_t r = 0; r < rows; r++) {
        const size_t plen = padded_len(ptr[r + 1] - ptr[r]);
        uint32_t *out;
        if (is_long[r]) {
            out = rec + BINNED_RECORD * (binned + long_i++);
            out[0] = (uint32_t)r, out[1] = (uint32_t)unit;
            for (size_t s = 0; s < plen; s += BINNED_UNIT, unit++) {
                uint32_t *u = rec + BINNED_RECORD * (rows + unit);
                u[0] = (uint32_t)r, u[1] = (uint32_t)(at[r] + s);
                u[2] = (uint32_t)(at[r] + (s + BINNED_UNIT < plen ? s + BINNED_UNIT : plen));
            }
            out[2] = (uint32_t)unit;
            continue;
        }
        size_t k = plen / CSR_ROW_ALIGN, c = 0;
        while (((size_t)1 << c) < k)
            c++;
        out = rec + BINNED_RECORD * next[c]++;
        out[0] = (uint32_t)r, out[1] = (uint32_t)at[r], out[2] = (uint32_t)(at[r] + plen);
    }
    free(is_long), free(at);
    sparq_status st = sparq_matrix_upload(m, SPARQ_ARRAY_CSR_BINS, SPARQ_DTYPE_U32, words, bins);
    free(bins);
    return st;
}

/* Row statistics of the packed rows (row_order included), then the binned kernel's
 * bins. */
static sparq_status csr_statistics(sparq_matrix *m, const uint32_t *row_ptr)
{
    sparq_status st = sparq_row_statistics(m, row_ptr, m->rows);
    return st == SPARQ_OK ? csr_bins(m, row_ptr) : st;
}

const sparq_structure_upload sparq_upload_csr = {SPARQ_STRUCTURE_CSR, csr_layout,
                                                 csr_statistics, NULL};

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
    /* GPU defaults from the memory model (warps of 32, sectors of 32 bytes, lines of 128):
     * TEAM 32, a warp per medium row: its lanes' 16-byte f32 chunks are 512 bytes side by
     * side, four whole lines (u16 indices: 256 bytes, two), and the row's reduction stays
     * in its warp's slice of local memory; SHORT 32, so a row of k chunks gets the next
     * power of two >= k lanes down to one, and a warp spans up to 32 short rows that
     * are neighbours in memory when they share a length class (no lane idles more than
     * half of a row's step); WG 128, four warps: 2 KB of local sums, up to 128 short rows
     * a group; SPLIT 1, a long row spread over as many groups as it has 2048-slot units
     * (a row of 100k nonzeros: 49 groups, enough for every SM). CPU defaults (the kernel
     * is no CPU choice, they keep PoCL's runs of it short): WG 64, teams of 16. */
    {"spmm_csr_binned", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "CSR at batch <= 4 on GPUs: rows binned by length, short rows sharing a team, a team "
     "per medium row, long rows split over work-groups and combined in a fixed order",
     {{"CSR_BINNED_WG", 64, 128, {32, 64, 128, 256, 0}},
      {"CSR_BINNED_TEAM", 16, 32, {4, 8, 16, 32, 64, 0}},
      {"CSR_BINNED_SHORT", 16, 32, {1, 2, 4, 8, 16, 32, 0}},
      {"CSR_BINNED_SPLIT", 2, 1, {1, 2, 4, 8, 0}}},
     rank_csr_binned, enqueue_csr_binned, CSR_ENCODINGS, false,
     {{SPARQ_RULE_WORK_GROUP, "CSR_BINNED_WG", NULL, 0},
      {SPARQ_RULE_CANDIDATE, "CSR_BINNED_WG", NULL, 0},
      {SPARQ_RULE_DIVIDES, "CSR_BINNED_TEAM", "CSR_BINNED_WG", 0},
      {SPARQ_RULE_DIVIDES, "CSR_BINNED_SHORT", "CSR_BINNED_TEAM", 0}}},
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
