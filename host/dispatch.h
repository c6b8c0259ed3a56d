/* SPDX-License-Identifier: Apache-2.0 */
/* dispatch.h - the types dispatch shares (no code of its own): the device matrix
 * (struct sparq_matrix) that host/matrix.c fills, host/plan.c plans for and the kernel
 * files read; its device arrays; the plan of one (matrix, batch).
 */
#ifndef SPARQ_DISPATCH_H
#define SPARQ_DISPATCH_H

#include "internal.h"
#include "packed.h"

/* The device arrays of a matrix. The first six mirror the packed arrays of the same
 * names (see sparq.h), byte for byte except where the structure's upload row lays them
 * out for its kernels: a dense matrix's values in rows padded to 16 bytes (i4 codes in
 * the kernels' step order; host/linear_dense_q.c), an N:M matrix's values and nm_meta
 * and a W8A8 matrix's codes in the slab layout (sparq_slab_layout), a CSR matrix's
 * row_ptr, col_idx and values with rows padded to a multiple of 4 slots
 * (host/spmm_csr.c), and a BSR matrix's per-group scales and zero points by block row
 * (host/spmm_bsr.c); the rest are derived at upload. */
typedef enum sparq_matrix_array {
    SPARQ_ARRAY_ROW_PTR = 0,     /* u32 (CSR: per row; BSR: per block row)             */
    SPARQ_ARRAY_COL_IDX = 1,     /* u16 or u32                                          */
    SPARQ_ARRAY_VALUES = 2,      /* f32 or f16 (i8 / u8 int4 with the quantized family) */
    SPARQ_ARRAY_NM_META = 3,     /* u8                                                  */
    SPARQ_ARRAY_SCALES = 4,      /* f32                                                 */
    SPARQ_ARRAY_ZERO_POINTS = 5, /* i8                                                  */
    SPARQ_ARRAY_ROW_ORDER = 6,   /* u32: rows (or block rows) by decreasing length      */
    SPARQ_ARRAY_DENSE = 7,       /* f32 rows x cols: the dense path's weights           */
    SPARQ_ARRAY_CSR_BINS = 8,    /* u32: CSR rows by length class, long rows and their
                                  * units, for spmm_csr_binned (host/spmm_csr.c)         */
    SPARQ_ARRAY_COUNT = 9
} sparq_matrix_array;

/* What sparq_linear runs for one batch size: decided once per (matrix, batch) from the
 * registry ranks and the tuning databases, then kept in the matrix's plan cache. */
typedef struct sparq_plan {
    size_t batch;                  /* 0: empty cache slot                               */
    bool dense;                    /* run the dense path                                */
    bool tuned_path;               /* dense or sparse from a tuned choice               */
    sparq_dense_backend dense_backend; /* its backend at batch 1 (AUTO unless tuned)     */
    const sparq_kernel_info *k;    /* the sparse path's kernel                          */
    sparq_kernel_params p;
    sparq_param_source source;     /* where p came from                                 */
    char detail[384];              /* ... in words (class, nearest class)               */
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
    bool path_tuned;             /* the path above came from the tuned break-even      */
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

/* How matrices of one structure reach the device, beside its kernels: one per
 * structure, defined in the op file that owns its layouts (host/spmm_csr.c, spmm_bsr.c,
 * spmm_nm.c; dense: linear_dense_q.c) and listed in host/registry.c. */
typedef struct sparq_structure_upload {
    sparq_structure structure;
    /* Packed array `role` (a) as the kernels read it: *data gets a malloc'ed copy in
     * their layout and *count its elements, or stays NULL when a goes up as packed.
     * NULL: every array goes up as packed. */
    sparq_status (*layout)(const sparq_matrix *m, const sparq_packed *packed,
                           sparq_packed_role role, const sparq_packed_buffer *a, void **data,
                           size_t *count);
    /* Fills m's row statistics (row_units, len_*) after the arrays went up; row_ptr is
     * the u32 row pointers (NULL when the structure has none). */
    sparq_status (*statistics)(sparq_matrix *m, const uint32_t *row_ptr);
    /* Writes the -D defines of format f's structure fields for its kernels (NULL: none). */
    void (*options)(const sparq_pack_options *f, char *options, size_t size);
} sparq_structure_upload;

/* The upload row of structure s (host/registry.c); NULL when s is none. */
const sparq_structure_upload *sparq_structure_upload_of(sparq_structure s);

#endif
