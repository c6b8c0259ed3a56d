/* SPDX-License-Identifier: Apache-2.0 */
/* matrix.c - device matrices: sparq_matrix_create uploads a packed host matrix (its
 * arrays in the layouts its structure's upload row asks for, or dense f32 weights for
 * the dense path), has the row statistics taken for dispatch and the path resolved;
 * plus the helpers every op file uses: slab layouts, row statistics, build options,
 * creating and binding its kernels.
 */
#include "matrix.h"
#include "packed.h"
#include "plan.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sparq_status sparq_matrix_upload(sparq_matrix *m, sparq_matrix_array which, sparq_dtype dtype,
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

sparq_status sparq_row_statistics(sparq_matrix *m, const uint32_t *row_ptr, size_t units)
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
    sparq_status st = sparq_matrix_upload(m, SPARQ_ARRAY_ROW_ORDER, SPARQ_DTYPE_U32, units, order);
    free(start), free(order);
    return st;
}

void sparq_uniform_statistics(sparq_matrix *m, size_t length)
{
    m->row_units = m->rows;
    m->len_min = m->len_max = length;
    m->len_mean = (double)length;
    m->len_cv = 0;
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

_Static_assert(SPARQ_ARRAY_ROW_PTR == (int)SPARQ_PACKED_ROW_PTR &&
                   SPARQ_ARRAY_COL_IDX == (int)SPARQ_PACKED_COL_IDX &&
                   SPARQ_ARRAY_VALUES == (int)SPARQ_PACKED_VALUES &&
                   SPARQ_ARRAY_NM_META == (int)SPARQ_PACKED_NM_META &&
                   SPARQ_ARRAY_SCALES == (int)SPARQ_PACKED_SCALES &&
                   SPARQ_ARRAY_ZERO_POINTS == (int)SPARQ_PACKED_ZERO_POINTS,
               "a packed array's role is its device array");

/* Every packed array, in its structure's device layout, then its row statistics. */
static sparq_status upload_packed(sparq_matrix *m, const sparq_packed *packed)
{
    const sparq_structure_upload *u = sparq_structure_upload_of(m->format.structure);
    if (!u)
        return sparq_fail(SPARQ_ERROR_INTERNAL, "matrix_create: structure %s has no upload",
                          sparq_structure_name(m->format.structure));
    const uint32_t *row_ptr = NULL;
    for (int role = 0; role < SPARQ_PACKED_ROLE_COUNT; role++) {
        const sparq_packed_buffer *a = &packed->arrays[role];
        if (!a->present)
            continue;
        if (role == SPARQ_PACKED_ROW_PTR) {
            if (a->dtype != SPARQ_DTYPE_U32)
                return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                                  "matrix_create: %zu stored values need 64-bit row pointers, "
                                  "which the device kernels do not take",
                                  m->stored);
            row_ptr = a->data;
        }
        void *laid = NULL;
        size_t count = a->count;
        sparq_status st = SPARQ_OK;
        if (u->layout)
            st = u->layout(m, packed, (sparq_packed_role)role, a, &laid, &count);
        if (st == SPARQ_OK)
            st = sparq_matrix_upload(m, (sparq_matrix_array)role, a->dtype, laid ? count : a->count,
                        laid ? laid : a->data);
        free(laid);
        if (st != SPARQ_OK)
            return st;
    }
    return u->statistics(m, row_ptr);
}

static sparq_status upload_dense(sparq_matrix *m, const sparq_packed *packed)
{
    float *w = malloc(m->rows * m->cols * sizeof *w);
    if (!w)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "matrix_create: out of memory");
    sparq_status st = sparq_packed_unpack(packed, w);
    if (st == SPARQ_OK)
        st = sparq_matrix_upload(m, SPARQ_ARRAY_DENSE, SPARQ_DTYPE_F32, m->rows * m->cols, w);
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
    if (sparq_check_reserved(opt.reserved, "matrix_create", "sparq_matrix_options") != SPARQ_OK)
        return SPARQ_ERROR_INVALID_ARGUMENT;
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
    sparq_context_hold(ctx); /* let go in sparq_matrix_free */
    m->rows = rows;
    m->cols = cols;
    m->format = *fmt;
    m->stored = sparq_packed_stored_values(packed);
    m->density = (double)m->stored / ((double)rows * (double)cols);

    m->quantize_activations = opt.quantize_activations;
    m->packed_bytes = sparq_packed_bytes(packed);
    sparq_plan_path(m, &opt);
    if (pthread_mutex_init(&m->plan_lock, NULL) != 0) {
        sparq_context_free(ctx);
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
    sparq_context_free(m->ctx); /* the matrix's hold on its context */
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

/* "SPARQ_ENCODING_I8", "SPARQ_SCALE_GROUP": a value's name in the kernels
 * (kernels/common.clh), the prefix and its sparq name in capitals. */
static void kernel_name(const char *prefix, const char *name, char *out, size_t size)
{
    size_t n = (size_t)snprintf(out, size, "%s%s", prefix, name);
    for (size_t i = strlen(prefix); i < n && i < size; i++)
        out[i] = (char)toupper((unsigned char)out[i]);
}

void sparq_format_build_options(const sparq_pack_options *f, bool index_u16,
                                const sparq_kernel_info *k, const sparq_kernel_params *p,
                                char *options, size_t size)
{
    const sparq_quant_options *q = &f->quant;
    char encoding[32], granularity[32];
    kernel_name("SPARQ_ENCODING_", sparq_encoding_name(q->encoding), encoding, sizeof encoding);
    snprintf(options, size, "-DSPARQ_ENCODING=%s -DSPARQ_INDEX_U16=%d", encoding,
             index_u16 ? 1 : 0);
    size_t used = strlen(options);
    if (q->encoding == SPARQ_ENCODING_I8 || q->encoding == SPARQ_ENCODING_I4) {
        kernel_name("SPARQ_SCALE_", sparq_scale_granularity_name(q->granularity), granularity,
                    sizeof granularity);
        snprintf(options + used, size - used,
                 " -DSPARQ_GRANULARITY=%s -DSPARQ_GROUP_SIZE=%zu -DSPARQ_ASYMMETRIC=%d",
                 granularity, q->group_size, q->asymmetric ? 1 : 0);
        used = strlen(options);
    }
    const sparq_structure_upload *u = sparq_structure_upload_of(f->structure);
    if (u && u->options)
        u->options(f, options + used, size - used);
    sparq_kernel_options_append(k, p, options, size);
}

void sparq_matrix_build_options(const sparq_matrix *m, const sparq_kernel_info *k,
                                const sparq_kernel_params *p, char *options, size_t size)
{
    sparq_format_build_options(&m->format, m->dtype[SPARQ_ARRAY_COL_IDX] == SPARQ_DTYPE_U16,
                               k, p, options, size);
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

