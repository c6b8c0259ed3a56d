/* matrix.h - the device matrix (struct sparq_matrix) that sparq_matrix_create fills and
 * every sparq_linear kernel reads, plus the helpers kernel files share: build options
 * from the matrix format, and setting the common trailing kernel arguments.
 */
#ifndef SPARQ_MATRIX_H
#define SPARQ_MATRIX_H

#include "internal.h"
#include "tunedb.h"

/* The device arrays of a matrix. The first six mirror the packed arrays of the same
 * names (see sparq.h), byte for byte except a dense i4 matrix's values, which are
 * uploaded in the kernels' step order (matrix.c, kernels/linear_dense_q.cl), an
 * N:M matrix's values and nm_meta and a W8A8 matrix's codes, uploaded in the slab layout
 * (sparq_slab_layout); the rest are derived at upload. */
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

/* What sparq_linear runs for one batch size: decided once per (matrix, batch) from the
 * registry ranks and the tuning databases, then kept in the matrix's plan cache. */
typedef struct sparq_plan {
    size_t batch;                  /* 0: empty cache slot                               */
    bool dense;                    /* run the dense path                                */
    sparq_dense_backend dense_backend; /* its backend at batch 1 (AUTO unless tuned)     */
    const sparq_kernel_info *k;    /* the sparse path's kernel                          */
    sparq_kernel_params p;
    sparq_tune_source source;      /* where p came from                                 */
    char detail[192];              /* ... in words (class, nearest class)               */
    char why[768];                 /* why this kernel (ranks, refusals)                 */
    char choice[768];              /* dense or sparse, and why (tuned or default)       */
    char declined[160];            /* the dense path would win here but isn't held (in
                                    * choice too)                                       */
} sparq_plan;

#define SPARQ_PLAN_SLOTS 8

/* Rows per slab of the slab device layouts: N:M values and meta (kernels/spmm_nm.cl
 * takes it as NM_SLAB) and W8A8 codes (kernels/linear_dense_q.cl: float8 lanes). */
#define SPARQ_SLAB_ROWS 8u

/* Slabs of a matrix of rows rows (the last one padded). */
static inline size_t sparq_slab_count(size_t rows)
{
    return (rows + SPARQ_SLAB_ROWS - 1) / SPARQ_SLAB_ROWS;
}

/* An array of rows x src_row elements of size bytes (i4: nibbles, size 1) re-laid in
 * slabs of SPARQ_SLAB_ROWS rows: element u < used of row r goes to
 * ((r / SLAB) * per_row + u) * SLAB + r % SLAB, so unit u of a slab's rows is adjacent,
 * row after row; padding rows and units (per_row >= used) are zero. *out: a malloc'ed
 * array of *count elements (i4: bytes). */
sparq_status sparq_slab_layout(const void *src, size_t rows, size_t used, size_t src_row,
                               size_t per_row, size_t size, bool i4, void **out,
                               size_t *count);

/* An N:M packed matrix's values or nm_meta (a) in the slab layout: a unit is a value
 * slot or a meta byte, per_row the row's meta bytes or its slots padded to whole meta
 * bytes (nm_slab_index and nm_slab_slots in the kernel). */
sparq_status sparq_nm_slab_layout(const sparq_packed *packed, const sparq_packed_array *a,
                                  void **out, size_t *count);

struct sparq_matrix {
    sparq_context *ctx;
    size_t rows, cols;
    sparq_pack_options format;   /* normalised, as the packed matrix reported it       */
    size_t stored;               /* stored value slots (nnz for CSR)                   */
    double density;              /* stored / (rows * cols)                             */
    sparq_path path;             /* resolved: SPARSE (the packed format's kernels,
                                  * dense quantized included) or DENSE (dense f32)     */
    int quantize_activations;    /* W8A8: 0 off, 1 int8, 2 uint8 + zero point (X per row) */
    char path_reason[512];
    /* lengths of the rows the kernels iterate (CSR rows, BSR block rows) */
    size_t row_units;            /* rows (CSR, NM) or block rows (BSR)                 */
    size_t len_max, len_min;
    double len_mean, len_cv;     /* coefficient of variation: skew                     */
    /* the dense f32 copy is kept next to the packed arrays when tuned choices differ
     * between batch sizes (some dense, some sparse) and the options allow it
     * (allow_dense_copy); each call then follows its own */
    bool dense_copy;
    /* AUTO without allow_dense_copy holding the packed arrays only: batches where the
     * break-even prefers dense run the packed kernels, and their plans say so */
    bool copy_declined;
    uint64_t packed_bytes;       /* sparq_packed_bytes of the packed matrix            */
    uint64_t dense_bytes_held;   /* of device_bytes, the dense f32 weights' (0: none)  */
    bool rule_dense;             /* the built-in rule's path, for batches no tuned
                                  * break-even covers: the packed bytes >= dense f32's */
    pthread_mutex_t plan_lock;     /* guards plans[]                                    */
    bool plan_lock_ready;
    sparq_plan plans[SPARQ_PLAN_SLOTS];
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

/* Whether a batch-tile kernel fits the device: groups of wg work-items and X staged
 * transposed in local memory, kt columns x tb batch rows of floats (sparq_stage_xt in
 * kernels/common.clh). When not, why says what the device lacks. */
bool sparq_batchtile_fits(const sparq_device_caps *caps, unsigned wg, unsigned kt, unsigned tb,
                          char *why, size_t why_size);

/* The plan for m at this batch: the path (a tuned dense/sparse choice where the matrix
 * holds both, else its own path), the kernel (the tuned choice if it can run, else the
 * highest rank) and its parameters (tuned for this device and shape class when the
 * databases have them, else defaults). From the plan cache when there. 
 * SPARQ_ERROR_UNSUPPORTED when nothing can run. */
sparq_status sparq_plan_get(sparq_matrix *m, size_t batch, sparq_plan *plan);

/* The tuning databases dispatch reads for this context (host/context.c): the user's
 * (loaded at first use) and the shipped one; both NULL under SPARQ_TUNE=off. */
void sparq_context_tune_chain(sparq_context *ctx, sparq_tune_chain *chain);
/* Drops the loaded user database so the next lookup reads the file again (after the
 * tuner wrote it). Not while other threads run sparq_linear on this context. */
void sparq_context_tune_forget(sparq_context *ctx);

/* The tuned dense/sparse choice for m at this batch, if the databases have one
 * (detail: where it came from). */
bool sparq_matrix_tuned_choice(const sparq_matrix *m, size_t batch,
                               sparq_tune_choice_entry *choice, char *detail,
                               size_t detail_size);

/* The tuning shape class of a call of m at this batch. */
void sparq_matrix_shape_class(const sparq_matrix *m, size_t batch, char *out, size_t size);

/* Parameters for kernel k on m at this batch from the tuning chain (or defaults), with
 * where they came from. */
sparq_tune_source sparq_matrix_tuned_params(const sparq_matrix *m, const sparq_kernel_info *k,
                                            size_t batch, sparq_kernel_params *p,
                                            char *detail, size_t detail_size);

/* Runs kernel k with parameters p for a validated call (tests and the tuner force
 * kernels this way); on a matrix held for the dense path, linear_dense_q_tiled runs the
 * dense path's kernel (f32). SPARQ_ERROR_UNSUPPORTED when k's rank refuses the case. */
sparq_status sparq_linear_run(const sparq_kernel_info *k, const sparq_kernel_params *p,
                              const sparq_linear_args *a);

#endif
