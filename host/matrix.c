/* matrix.c - device matrices: sparq_matrix_create uploads a packed host matrix (its
 * arrays, dense i4 codes in step order, N:M arrays and W8A8 codes in slab layout, a
 * row order by length, or dense f32 weights for the dense path), measures row-length statistics for
 * dispatch, and resolves sparse vs dense; plus the helpers every kernel file uses to
 * build and bind its kernels.
 */
#include "matrix.h"
#include "packed.h"
#include "plan.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static sparq_status upload(sparq_matrix *m, sparq_matrix_array which, sparq_dtype dtype,
                           size_t count, const void *data)
{
    size_t bytes = count * sparq_dtype_size(dtype);
    cl_int err = CL_SUCCESS;
    /* OpenCL has no empty buffers: an empty array (nnz = 0) gets a small zeroed one */
    static const unsigned char zeros[64];
    bool empty = bytes == 0;
    m->buf[which] = clCreateBuffer(m->ctx->cl_ctx, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                   empty ? sizeof zeros : bytes,
                                   empty ? (void *)zeros : (void *)data, &err);
    if (err != CL_SUCCESS) {
        m->buf[which] = NULL;
        return sparq_fail(err, "matrix_create: uploading %zu bytes failed with %s", bytes,
                          sparq_status_string(err));
    }
    m->dtype[which] = dtype;
    m->count[which] = count;
    m->device_bytes += empty ? sizeof zeros : bytes;
    if (which == SPARQ_ARRAY_DENSE)
        m->dense_bytes_held += empty ? sizeof zeros : bytes;
    return SPARQ_OK;
}

/* Row lengths of the units kernels iterate, from a u32 row_ptr, and the order of
 * rows by decreasing length (stable), uploaded as SPARQ_ARRAY_ROW_ORDER. */
static sparq_status row_statistics(sparq_matrix *m, const uint32_t *row_ptr, size_t units)
{
    m->row_units = units;
    double sum = 0, sum2 = 0;
    m->len_min = SIZE_MAX;
    m->len_max = 0;
    size_t max_len = 0;
    for (size_t r = 0; r < units; r++) {
        size_t len = row_ptr[r + 1] - row_ptr[r];
        sum += (double)len;
        sum2 += (double)len * (double)len;
        m->len_min = len < m->len_min ? len : m->len_min;
        max_len = len > max_len ? len : max_len;
    }
    m->len_max = max_len;
    m->len_mean = sum / (double)units;
    double var = sum2 / (double)units - m->len_mean * m->len_mean;
    m->len_cv = m->len_mean > 0 ? sqrt(var > 0 ? var : 0) / m->len_mean : 0.0;

    /* counting sort by length, longest first, ties in row order */
    size_t *start = calloc(max_len + 2, sizeof *start);
    uint32_t *order = malloc(units * sizeof *order);
    if (!start || !order) {
        free(start), free(order);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    }
    for (size_t r = 0; r < units; r++)
        start[max_len - (row_ptr[r + 1] - row_ptr[r]) + 1]++;
    for (size_t l = 1; l <= max_len + 1; l++)
        start[l] += start[l - 1];
    for (size_t r = 0; r < units; r++)
        order[start[max_len - (row_ptr[r + 1] - row_ptr[r])]++] = (uint32_t)r;
    sparq_status st = upload(m, SPARQ_ARRAY_ROW_ORDER, SPARQ_DTYPE_U32, units, order);
    free(start), free(order);
    return st;
}

/* A dense i4 matrix's codes in the kernels' step order (kernels/linear_dense_q.cl):
 * in each row, each whole block of 64 columns becomes eight 32-bit lanes, lane l
 * holding column 8j + l in nibble j, i.e. column k goes to code slot (k & ~63) +
 * 8 (k % 8) + (k % 64) / 8 (slot s in byte s / 2, low nibble when s is even, as
 * packed); the columns after the last whole block keep the packed order. Rows keep
 * their packed size of ceil(cols / 2) bytes. Returns a malloc'ed copy (NULL: no
 * memory). */
static uint8_t *dense_i4_step_order(const uint8_t *codes, size_t rows, size_t cols)
{
    const size_t row_bytes = (cols + 1) / 2, blocked = cols / 64 * 64;
    uint8_t *out = malloc(rows * row_bytes + 1);
    if (!out)
        return NULL;
    memcpy(out, codes, rows * row_bytes);
    for (size_t r = 0; r < rows; r++) {
        const uint8_t *src = codes + r * row_bytes;
        uint8_t *dst = out + r * row_bytes;
        for (size_t k = 0; k < blocked; k++)
            sparq_i4_set(dst, (k & ~(size_t)63) + 8 * (k & 7) + (k & 63) / 8,
                         sparq_i4_get(src, k));
    }
    return out;
}

sparq_status sparq_slab_layout(const void *src, size_t rows, size_t used, size_t src_row,
                               size_t per_row, size_t size, bool i4, void **out,
                               size_t *count)
{
    const size_t elements = sparq_slab_count(rows) * SPARQ_SLAB_ROWS * per_row;
    *count = i4 ? (elements + 1) / 2 : elements;
    uint8_t *dst = calloc(*count ? *count : 1, size);
    if (!dst)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    const uint8_t *s = src;
    for (size_t r = 0; r < rows; r++)
        for (size_t u = 0; u < used; u++) {
            size_t e = r * src_row + u;
            size_t f = ((r / SPARQ_SLAB_ROWS) * per_row + u) * SPARQ_SLAB_ROWS +
                       r % SPARQ_SLAB_ROWS;
            if (i4)
                sparq_i4_set(dst, f, sparq_i4_get(s, e));
            else if (size == 4) /* constant sizes: memcpy becomes one move */
                memcpy(dst + 4 * f, s + 4 * e, 4);
            else if (size == 2)
                memcpy(dst + 2 * f, s + 2 * e, 2);
            else
                dst[f] = s[e];
        }
    *out = dst;
    return SPARQ_OK;
}

sparq_status sparq_nm_slab_layout(const sparq_packed *packed, const sparq_packed_array *a,
                                  void **out, size_t *count)
{
    const bool meta = strcmp(a->name, "nm_meta") == 0;
    const bool i4 = !meta && packed->format.quant.encoding == SPARQ_ENCODING_I4;
    /* per row, in elements: the units kept, the packed stride and the layout's */
    const size_t used = meta ? packed->nm_meta_row_bytes : packed->values_per_row;
    const size_t src_row = meta ? packed->nm_meta_row_bytes : packed->value_row_slots;
    const size_t per_row = meta ? used : packed->nm_meta_row_bytes * (8 / packed->nm_bits);
    return sparq_slab_layout(a->data, packed->rows, used, src_row, per_row,
                             sparq_dtype_size(a->dtype), i4, out, count);
}

static sparq_status upload_packed(sparq_matrix *m, const sparq_packed *packed)
{
    size_t n = sparq_packed_array_count(packed);
    const uint32_t *row_ptr = NULL;
    for (size_t i = 0; i < n; i++) {
        sparq_packed_array a;
        sparq_status st = sparq_packed_get_array(packed, i, &a);
        if (st != SPARQ_OK)
            return st;
        static const char *const names[] = {"row_ptr", "col_idx", "values",
                                            "nm_meta", "scales", "zero_points"};
        int which = -1;
        for (int j = 0; j < 6; j++)
            if (strcmp(a.name, names[j]) == 0)
                which = j;
        if (which < 0)
            return sparq_fail(SPARQ_ERROR_INTERNAL, "matrix_create: unknown array %s", a.name);
        if (which == SPARQ_ARRAY_ROW_PTR) {
            if (a.dtype != SPARQ_DTYPE_U32)
                return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                                  "matrix_create: %zu stored values need 64-bit row pointers, "
                                  "which the device kernels do not take",
                                  m->stored);
            row_ptr = a.data;
        }
        void *reordered = NULL;
        if (which == SPARQ_ARRAY_VALUES && m->format.structure == SPARQ_STRUCTURE_DENSE &&
            m->format.quant.encoding == SPARQ_ENCODING_I4) {
            if (a.count != m->rows * ((m->cols + 1) / 2))
                return sparq_fail(SPARQ_ERROR_INTERNAL, "matrix_create: %zu i4 code bytes for "
                                  "%zu x %zu", a.count, m->rows, m->cols);
            reordered = dense_i4_step_order(a.data, m->rows, m->cols);
            if (!reordered)
                return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
            a.data = reordered;
        }
        if ((which == SPARQ_ARRAY_VALUES || which == SPARQ_ARRAY_NM_META) &&
            m->format.structure == SPARQ_STRUCTURE_NM) {
            if ((st = sparq_nm_slab_layout(packed, &a, &reordered, &a.count)) != SPARQ_OK)
                return st;
            a.data = reordered;
        }
        if (which == SPARQ_ARRAY_VALUES && m->quantize_activations) {
            /* W8A8: dense i8 rows in slabs (kernels/linear_dense_q.cl) */
            if ((st = sparq_slab_layout(a.data, m->rows, m->cols, m->cols, m->cols, 1, false,
                                        &reordered, &a.count)) != SPARQ_OK)
                return st;
            a.data = reordered;
        }
        st = upload(m, (sparq_matrix_array)which, a.dtype, a.count, a.data);
        free(reordered);
        if (st != SPARQ_OK)
            return st;
    }
    if (m->format.structure == SPARQ_STRUCTURE_CSR)
        return row_statistics(m, row_ptr, m->rows);
    if (m->format.structure == SPARQ_STRUCTURE_DENSE) {
        m->row_units = m->rows;
        m->len_min = m->len_max = m->cols;
        m->len_mean = (double)m->cols;
        m->len_cv = 0;
        return SPARQ_OK;
    }
    if (m->format.structure == SPARQ_STRUCTURE_BSR)
        return row_statistics(m, row_ptr, (m->rows + m->format.block_rows - 1) /
                                              m->format.block_rows);
    /* N:M: every row holds the same number of slots */
    size_t slots = m->stored / m->rows;
    m->row_units = m->rows;
    m->len_min = m->len_max = slots;
    m->len_mean = (double)slots;
    m->len_cv = 0;
    return SPARQ_OK;
}

static sparq_status upload_dense(sparq_matrix *m, const sparq_packed *packed)
{
    float *w = malloc(m->rows * m->cols * sizeof *w);
    if (!w)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    sparq_status st = sparq_packed_unpack(packed, w);
    if (st == SPARQ_OK)
        st = upload(m, SPARQ_ARRAY_DENSE, SPARQ_DTYPE_F32, m->rows * m->cols, w);
    free(w);
    return st;
}

sparq_status sparq_matrix_create(sparq_context *ctx, const sparq_packed *packed,
                                 const sparq_matrix_options *options, sparq_matrix **matrix)
{
    if (!matrix)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "matrix_create: NULL matrix pointer");
    *matrix = NULL;
    if (!ctx || !packed)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "matrix_create: NULL %s",
                          ctx ? "packed matrix" : "context");
    sparq_matrix_options opt = options ? *options : (sparq_matrix_options){0};
    if (opt.path != SPARQ_PATH_AUTO && opt.path != SPARQ_PATH_SPARSE &&
        opt.path != SPARQ_PATH_DENSE)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "matrix_create: unknown path %d",
                          (int)opt.path);
    if (opt.allow_dense_copy != 0 && opt.allow_dense_copy != 1)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "matrix_create: allow_dense_copy %d is not 0 or 1",
                          opt.allow_dense_copy);
    if (!(opt.dense_fallback_density >= 0.0)) /* also refuses NaN */
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "matrix_create: dense_fallback_density %g is negative",
                          opt.dense_fallback_density);
    const sparq_pack_options *fmt = sparq_packed_format(packed);
    size_t rows = sparq_packed_rows(packed), cols = sparq_packed_cols(packed);
    if (rows > UINT32_MAX || cols > UINT32_MAX)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                          "matrix_create: %zu x %zu: device kernels take fewer than 2^32 "
                          "rows and cols",
                          rows, cols);
    bool sparse_structure = fmt->structure != SPARQ_STRUCTURE_DENSE;
    bool dense_f32 = !sparse_structure && fmt->quant.encoding == SPARQ_ENCODING_F32;
    if (opt.quantize_activations < 0 || opt.quantize_activations > 2)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "matrix_create: quantize_activations %d is not 0, 1 or 2",
                          opt.quantize_activations);
    if (opt.quantize_activations && fmt->quant.encoding != SPARQ_ENCODING_I8)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "matrix_create: quantize_activations (W8A8) needs i8 weights, not %s",
                          sparq_encoding_name(fmt->quant.encoding));
    if (!dense_f32 && !sparq_format_has_kernels(fmt, opt.quantize_activations != 0))
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                          "matrix_create: %s %s%s matrices have no device kernels yet",
                          sparq_structure_name(fmt->structure),
                          sparq_encoding_name(fmt->quant.encoding),
                          opt.quantize_activations ? " W8A8" : "");

    sparq_matrix *m = calloc(1, sizeof *m);
    if (!m)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    m->ctx = ctx;
    m->rows = rows;
    m->cols = cols;
    m->format = *fmt;
    m->stored = sparq_packed_stored_values(packed);
    m->density = (double)m->stored / ((double)rows * (double)cols);

    m->quantize_activations = opt.quantize_activations;
    m->packed_bytes = sparq_packed_bytes(packed);
    sparq_plan_path(m, &opt);
    if (pthread_mutex_init(&m->plan_lock, NULL) != 0) {
        free(m);
        return sparq_fail(SPARQ_ERROR_INTERNAL, "matrix_create: pthread_mutex_init failed");
    }
    m->plan_lock_ready = true;
    sparq_status st = m->path == SPARQ_PATH_DENSE ? upload_dense(m, packed)
                                                  : upload_packed(m, packed);
    if (st == SPARQ_OK && m->dense_copy)
        st = upload_dense(m, packed);
    if (st != SPARQ_OK) {
        sparq_matrix_free(m);
        return st;
    }
    sparq_log(SPARQ_LOG_INFO, "matrix %zu x %zu %s %s: %s path (%s), %.1f MiB on the device",
              rows, cols, sparq_structure_name(fmt->structure),
              sparq_encoding_name(fmt->quant.encoding),
              m->path == SPARQ_PATH_DENSE ? "dense" : "sparse", m->path_reason,
              (double)m->device_bytes / (1 << 20));
    *matrix = m;
    return SPARQ_OK;
}

void sparq_matrix_free(sparq_matrix *m)
{
    if (!m)
        return;
    for (int i = 0; i < SPARQ_ARRAY_COUNT; i++)
        if (m->buf[i])
            clReleaseMemObject(m->buf[i]);
    if (m->plan_lock_ready)
        pthread_mutex_destroy(&m->plan_lock);
    free(m);
}

size_t sparq_matrix_rows(const sparq_matrix *m)
{
    return m ? m->rows : 0;
}

size_t sparq_matrix_cols(const sparq_matrix *m)
{
    return m ? m->cols : 0;
}

uint64_t sparq_matrix_device_bytes(const sparq_matrix *m)
{
    return m ? m->device_bytes : 0;
}

void sparq_matrix_build_options(const sparq_matrix *m, const sparq_kernel_info *k,
                                const sparq_kernel_params *p, char *options, size_t size)
{
    snprintf(options, size, "-DSPARQ_ENCODING=%d -DSPARQ_INDEX_U16=%d",
             (int)m->format.quant.encoding, m->dtype[SPARQ_ARRAY_COL_IDX] == SPARQ_DTYPE_U16);
    size_t used = strlen(options);
    if (m->format.quant.encoding == SPARQ_ENCODING_I8 ||
        m->format.quant.encoding == SPARQ_ENCODING_I4) {
        snprintf(options + used, size - used,
                 " -DSPARQ_GRANULARITY=%d -DSPARQ_GROUP_SIZE=%zu -DSPARQ_ASYMMETRIC=%d",
                 (int)m->format.quant.granularity, m->format.quant.group_size,
                 m->format.quant.asymmetric ? 1 : 0);
        used = strlen(options);
    }
    if (m->format.structure == SPARQ_STRUCTURE_BSR)
        snprintf(options + used, size - used, " -DBSR_R=%u -DBSR_C=%u", m->format.block_rows,
                 m->format.block_cols);
    else if (m->format.structure == SPARQ_STRUCTURE_NM)
        snprintf(options + used, size - used, " -DNM_N=%u -DNM_M=%u -DNM_SLAB=%u",
                 m->format.nm_n, m->format.nm_m, SPARQ_SLAB_ROWS);
    sparq_kernel_options_append(k, p, options, size);
}

sparq_status sparq_matrix_kernel(const sparq_matrix *m, const sparq_kernel_info *k,
                                 const sparq_kernel_params *p, cl_kernel *kernel)
{
    char options[512];
    sparq_matrix_build_options(m, k, p, options, sizeof options);
    return sparq_kernel_create(m->ctx, k->name, options, kernel);
}

sparq_status sparq_linear_set_tail_args(cl_kernel kernel, cl_uint i, const sparq_linear_args *a)
{
    cl_ulong x_off = a->x_offset, y_off = a->y_offset, b_off = a->bias_offset;
    sparq_status st;
    if ((st = sparq_set_arg(kernel, i++, sizeof a->x, &a->x)) ||
        (st = sparq_set_arg(kernel, i++, sizeof x_off, &x_off)) ||
        (st = sparq_set_arg(kernel, i++, sizeof a->y, &a->y)) ||
        (st = sparq_set_arg(kernel, i++, sizeof y_off, &y_off)) ||
        (st = sparq_set_arg(kernel, i++, sizeof a->bias,
                            a->bias ? (const void *)&a->bias : NULL)) ||
        (st = sparq_set_arg(kernel, i++, sizeof b_off, &b_off)))
        return st;
    return sparq_set_arg(kernel, i, sizeof a->activation, &a->activation);
}

sparq_status sparq_linear_bind(cl_kernel kernel, const sparq_linear_args *a,
                               const sparq_matrix_array *arrays, cl_uint array_count,
                               cl_uint extra)
{
    const sparq_matrix *m = a->matrix;
    cl_uint rows = (cl_uint)m->rows, cols = (cl_uint)m->cols, batch = (cl_uint)a->batch;
    sparq_status st;
    if ((st = sparq_set_arg(kernel, 0, sizeof rows, &rows)) ||
        (st = sparq_set_arg(kernel, 1, sizeof cols, &cols)) ||
        (st = sparq_set_arg(kernel, 2, sizeof batch, &batch)))
        return st;
    for (cl_uint i = 0; i < array_count; i++) {
        cl_mem buf = arrays[i] < SPARQ_ARRAY_COUNT ? m->buf[arrays[i]] : NULL;
        if ((st = sparq_set_arg(kernel, 3 + i, sizeof(cl_mem), &buf)))
            return st;
    }
    return sparq_linear_set_tail_args(kernel, 3 + array_count + extra, a);
}

sparq_status sparq_linear_kernel(const sparq_kernel_info *k, const sparq_linear_args *a,
                                 const sparq_kernel_params *p, const sparq_matrix_array *arrays,
                                 cl_uint array_count, cl_uint extra, cl_kernel *kernel)
{
    sparq_status st = sparq_matrix_kernel(a->matrix, k, p, kernel);
    if (st == SPARQ_OK && (st = sparq_linear_bind(*kernel, a, arrays, array_count, extra))) {
        clReleaseKernel(*kernel);
        *kernel = NULL;
    }
    return st;
}

sparq_status sparq_linear_enqueue(sparq_context *ctx, const sparq_kernel_info *k,
                                  const sparq_linear_args *a, cl_kernel kernel,
                                  const size_t global[2], const size_t local[2])
{
    sparq_status st = sparq_kernel_enqueue(ctx, a->queue, kernel, k->name, 2, global, local,
                                           a->num_wait, a->wait_list, a->event);
    clReleaseKernel(kernel);
    return st;
}

bool sparq_batchtile_fits(const sparq_device_caps *caps, unsigned wg, unsigned kt, unsigned tb,
                          char *why, size_t why_size)
{
    size_t need = (size_t)kt * tb * sizeof(float);
    if (caps->max_work_group_size < wg) {
        snprintf(why, why_size, "work-groups of %u work-items needed, the device allows %zu",
                 wg, caps->max_work_group_size);
        return false;
    }
    if (need > caps->local_mem_bytes) {
        snprintf(why, why_size, "needs %zu bytes of local memory, the device has %llu", need,
                 (unsigned long long)caps->local_mem_bytes);
        return false;
    }
    return true;
}
