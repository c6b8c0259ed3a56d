/* matrix.h - the device matrix (struct sparq_matrix) that sparq_matrix_create fills and
 * every sparq_linear kernel reads, plus the helpers kernel files share: build options
 * from the matrix format, and setting the common trailing kernel arguments.
 */
#ifndef SPARQ_MATRIX_H
#define SPARQ_MATRIX_H

#include "internal.h"

/* The device arrays of a matrix. The first six mirror the packed arrays of the same
 * names (see sparq.h); the rest are derived at upload. */
typedef enum sparq_matrix_array {
    SPARQ_ARRAY_ROW_PTR = 0,     /* u32 (CSR: per row; BSR: per block row)             */
    SPARQ_ARRAY_COL_IDX = 1,     /* u16 or u32                                          */
    SPARQ_ARRAY_VALUES = 2,      /* f32 or f16 (i8 / u8 int4 with the quantized family) */
    SPARQ_ARRAY_NM_META = 3,     /* u8                                                  */
    SPARQ_ARRAY_SCALES = 4,      /* f32                                                 */
    SPARQ_ARRAY_ZERO_POINTS = 5, /* i8                                                  */
    SPARQ_ARRAY_ROW_ORDER = 6,   /* u32: rows (or block rows) by decreasing length      */
    SPARQ_ARRAY_DENSE = 7,       /* f32 rows x cols: the dense path's weights           */
    SPARQ_ARRAY_COUNT = 8
} sparq_matrix_array;

struct sparq_matrix {
    sparq_context *ctx;
    size_t rows, cols;
    sparq_pack_options format;   /* normalised, as the packed matrix reported it       */
    size_t stored;               /* stored value slots (nnz for CSR)                   */
    double density;              /* stored / (rows * cols)                             */
    sparq_path path;             /* resolved: SPARSE (the packed format's kernels,
                                  * dense quantized included) or DENSE (dense f32)     */
    int quantize_activations;    /* W8A8: 0 off, 1 int8, 2 uint8 + zero point (X per row) */
    char path_reason[256];
    /* lengths of the rows the kernels iterate (CSR rows, BSR block rows) */
    size_t row_units;            /* rows (CSR, NM) or block rows (BSR)                 */
    size_t len_max, len_min;
    double len_mean, len_cv;     /* coefficient of variation: skew                     */
    cl_mem buf[SPARQ_ARRAY_COUNT];
    sparq_dtype dtype[SPARQ_ARRAY_COUNT];
    size_t count[SPARQ_ARRAY_COUNT];
    uint64_t device_bytes;
};

/* Whether kernel k is a sparq_linear kernel for this format: its structure, one of its
 * encodings, and W8A8 or not. */
bool sparq_kernel_runs_format(const sparq_kernel_info *k, const sparq_pack_options *fmt,
                              bool quantize_activations);
/* Whether some registered kernel runs this format. */
bool sparq_format_has_kernels(const sparq_pack_options *fmt, bool quantize_activations);

/* Build options for kernel k on matrix m: -D defines of the format (SPARQ_ENCODING,
 * SPARQ_INDEX_U16; for i8/i4 SPARQ_GRANULARITY (sparq_scale_granularity),
 * SPARQ_GROUP_SIZE, SPARQ_ASYMMETRIC; BSR_R/BSR_C; NM_N/NM_M) followed by k's tunables. */
void sparq_matrix_build_options(const sparq_matrix *m, const sparq_kernel_info *k,
                                const sparq_kernel_params *p, char *options, size_t size);

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
 * the common tail. */
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

/* Picks the kernel and parameters for m at this batch (the highest rank); why gets
 * the sentence explaining the choice. SPARQ_ERROR_UNSUPPORTED when nothing can run. */
sparq_status sparq_dispatch(const sparq_matrix *m, size_t batch, const sparq_kernel_info **k,
                            sparq_kernel_params *p, char *why, size_t why_size);

/* Runs kernel k with parameters p for a validated call (tests and the tuner force
 * kernels this way). SPARQ_ERROR_UNSUPPORTED when k's rank refuses the case. */
sparq_status sparq_linear_run(const sparq_kernel_info *k, const sparq_kernel_params *p,
                              const sparq_linear_args *a);

#endif
