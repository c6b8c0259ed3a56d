/* SPDX-License-Identifier: Apache-2.0 */
/* packed.h - the internal layout of sparq_packed (see "packed matrices" in sparq.h):
 * logical shape, normalised format, derived sizes and its named arrays. Shared by
 * formats/pack*.c, formats/packed_io.c (safetensors) and the host code that uploads it.
 */
#ifndef SPARQ_PACKED_H
#define SPARQ_PACKED_H

#include "sparq.h"
#include "quantize.h"

#include <stdbool.h>

/* The arrays a packed matrix may have, in listing order. */
typedef enum sparq_packed_role {
    SPARQ_PACKED_ROW_PTR = 0,
    SPARQ_PACKED_COL_IDX = 1,
    SPARQ_PACKED_VALUES = 2,
    SPARQ_PACKED_NM_META = 3,
    SPARQ_PACKED_SCALES = 4,
    SPARQ_PACKED_ZERO_POINTS = 5,
    SPARQ_PACKED_ROLE_COUNT = 6
} sparq_packed_role;

/* One owned array; data is 64-byte aligned and never NULL when present (an empty
 * array still has a 64-byte allocation). present = 0: the format has no such array. */
typedef struct sparq_packed_buffer {
    int present;
    sparq_dtype dtype;
    size_t count;  /* elements */
    void *data;
} sparq_packed_buffer;

struct sparq_packed {
    size_t rows, cols;
    sparq_pack_options format; /* normalised, see sparq_pack_normalise()               */
    size_t scale_count;        /* 1, rows, rows*groups_per_row; 0 for F32/F16          */
    size_t groups_per_row;     /* scale groups per row: ceil(cols/G) (GROUP), else 1    */
    size_t stored;             /* value slots: rows*cols, nnz, nblocks*r*c, rows*ng*N   */
    size_t nnz;                /* CSR: nonzeros; BSR: stored blocks; else 0             */
    size_t block_rows;         /* CSR: 1; BSR: r; else 0                                */
    size_t block_cols;         /* CSR: 1; BSR: c; else 0                                */
    size_t grid_rows;          /* CSR/BSR: ceil(rows/r), row_ptr has grid_rows+1        */
    size_t grid_cols;          /* CSR/BSR: ceil(cols/c), col_idx values are below it    */
    size_t nm_groups;          /* NM: ng = ceil(cols/M) groups per row                  */
    unsigned nm_bits;          /* NM: b, bits per position field (1, 2 or 4)            */
    size_t nm_meta_row_bytes;  /* NM: ceil(ng*N*b/8)                                    */
    size_t values_per_row;     /* DENSE: cols; NM: ng*N; else 0 (flat stream)           */
    size_t value_row_slots;    /* DENSE/NM: codes per values row (I4: rounded up to even) */
    uint64_t bytes;            /* sum of all arrays' sizes                              */
    sparq_packed_buffer arrays[SPARQ_PACKED_ROLE_COUNT];
};

/* "row_ptr", "col_idx", "values", "nm_meta", "scales", "zero_points". */
const char *sparq_packed_role_name(sparq_packed_role role);

/* Checks options and writes their normalised form (fields that do not apply are 0;
 * a percentile of 0 becomes 99.99). what names the caller in the sentence. */
sparq_status sparq_pack_normalise(const sparq_pack_options *options,
                                  sparq_pack_options *normalised, const char *what);

/* Allocates an empty sparq_packed for this shape and normalised format, with every
 * derived size filled in except those that depend on the data (nnz, stored). */
sparq_status sparq_packed_alloc_shell(const sparq_pack_options *format, size_t rows,
                                      size_t cols, sparq_packed **packed);

/* sparq_packed_create with the scales (and zero points, when asymmetric) given instead of
 * calibrated: scale_count of each, in the packed layout's order, checked. Values are
 * stored with these parameters, so values that are already dequantized codes (GPTQ's
 * output) keep exactly their codes. */
sparq_status sparq_packed_create_scaled(const sparq_pack_options *options, size_t rows,
                                        size_t cols, const float *w, const float *scales,
                                        const int8_t *zero_points, sparq_packed **packed);

/* The quantizer of a packed matrix: its format's options, pointed at its scales and
 * zero points (when present). */
void sparq_packed_qparams(const sparq_packed *packed, sparq_qparams *q);

/* Checks that arrays[role] has this dtype and count ("col_idx has 12 elements,
 * expected 13"): SPARQ_ERROR_INVALID_FORMAT. what names the caller. */
sparq_status sparq_packed_expect(const sparq_packed *packed, sparq_packed_role role,
                                 sparq_dtype dtype, size_t count, const char *what);

/* A decimal number up to 1024 ending at stop (a format spelling's numbers); *rest gets
 * where it ended. */
bool sparq_format_parse_number(const char *text, char stop, unsigned *out, const char **rest);

/* Reads / writes entry i of an index array of dtype U16, U32 or U64. */
uint64_t sparq_index_get(const void *data, sparq_dtype dtype, size_t i);
void sparq_index_set(void *data, sparq_dtype dtype, size_t i, uint64_t v);

/* Allocates arrays[role] with count elements of dtype (zero-filled), marks it present
 * and adds its size to bytes. */
sparq_status sparq_packed_alloc_array(sparq_packed *packed, sparq_packed_role role,
                                      sparq_dtype dtype, size_t count);

#endif
