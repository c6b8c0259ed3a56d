/* SPDX-License-Identifier: Apache-2.0 */
/* pack_csr.c - CSR and BSR packing, one implementation (CSR is BSR with 1x1 blocks):
 * finding the stored blocks, row_ptr / col_idx with narrow index types, values,
 * unpacking, and validation of arrays read back from a file; and the CSR and BSR rows
 * of the format table (spellings "csr", "bsr4x4", pruning by entry or by block).
 */
#include "checks.h"
#include "format.h"
#include "quantize.h"
#include "status.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* row_ptr is u32 while the stored count fits, else u64. */
static sparq_dtype row_ptr_dtype(size_t nnz)
{
    return nnz <= UINT32_MAX ? SPARQ_DTYPE_U32 : SPARQ_DTYPE_U64;
}

/* col_idx is u16 when every (block) column index fits: at most 65536 of them. */
static sparq_dtype col_idx_dtype(size_t grid_cols)
{
    return grid_cols <= 65536 ? SPARQ_DTYPE_U16 : SPARQ_DTYPE_U32;
}

/* What row_ptr counts, for sentences. */
static const char *unit(const sparq_packed *p)
{
    return p->format.structure == SPARQ_STRUCTURE_CSR ? "nnz" : "blocks";
}

/* Sets flags[bc] = 1 for every block column of block row br holding a nonzero;
 * returns how many. */
static size_t mark_blocks(const sparq_packed *p, const float *w, size_t br, uint8_t *flags)
{
    size_t r0 = br * p->block_rows;
    size_t r1 = r0 + p->block_rows < p->rows ? r0 + p->block_rows : p->rows;
    size_t n = 0;
    memset(flags, 0, p->grid_cols);
    for (size_t r = r0; r < r1; r++)
        for (size_t c = 0; c < p->cols; c++)
            if (w[r * p->cols + c] != 0.0f)
                flags[c / p->block_cols] = 1;
    for (size_t bc = 0; bc < p->grid_cols; bc++)
        n += flags[bc];
    return n;
}

static sparq_status shape_compressed(sparq_packed *p)
{
    bool bsr = p->format.structure == SPARQ_STRUCTURE_BSR;
    p->block_rows = bsr ? p->format.block_rows : 1;
    p->block_cols = bsr ? p->format.block_cols : 1;
    p->grid_rows = (p->rows + p->block_rows - 1) / p->block_rows;
    p->grid_cols = (p->cols + p->block_cols - 1) / p->block_cols;
    return SPARQ_OK;
}

static sparq_status pack_compressed(sparq_packed *p, const sparq_qparams *q, const float *w,
                                    const char *what)
{
    size_t br, bc, block = p->block_rows * p->block_cols;
    sparq_encoding enc = p->format.quant.encoding;
    uint8_t *flags = malloc(p->grid_cols);
    if (flags == NULL)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s: no memory for %zu block flags", what,
                          p->grid_cols);
    size_t nblocks = 0;
    for (br = 0; br < p->grid_rows; br++)
        nblocks += mark_blocks(p, w, br, flags);
    sparq_status st = SPARQ_OK;
    if (nblocks > SIZE_MAX / 4 / block)
        st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s: %zu blocks are too many", what, nblocks);
    p->nnz = nblocks;
    p->stored = nblocks * block;
    if (st == SPARQ_OK)
        st = sparq_packed_alloc_array(p, SPARQ_PACKED_ROW_PTR, row_ptr_dtype(nblocks),
                                      p->grid_rows + 1);
    if (st == SPARQ_OK)
        st = sparq_packed_alloc_array(p, SPARQ_PACKED_COL_IDX, col_idx_dtype(p->grid_cols),
                                      nblocks);
    if (st == SPARQ_OK)
        st = sparq_packed_alloc_array(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc),
                                      sparq_values_count(enc, p->stored));
    if (st != SPARQ_OK) {
        free(flags);
        return st;
    }
    sparq_packed_buffer *rp = &p->arrays[SPARQ_PACKED_ROW_PTR];
    sparq_packed_buffer *ci = &p->arrays[SPARQ_PACKED_COL_IDX];
    void *values = p->arrays[SPARQ_PACKED_VALUES].data;
    size_t k = 0;
    for (br = 0; br < p->grid_rows; br++) {
        sparq_index_set(rp->data, rp->dtype, br, k);
        mark_blocks(p, w, br, flags);
        for (bc = 0; bc < p->grid_cols; bc++) {
            if (!flags[bc])
                continue;
            sparq_index_set(ci->data, ci->dtype, k, bc);
            for (size_t i = 0; i < p->block_rows; i++) {
                for (size_t j = 0; j < p->block_cols; j++) {
                    size_t r = br * p->block_rows + i, c = bc * p->block_cols + j;
                    float x = r < p->rows && c < p->cols ? w[r * p->cols + c] : 0.0f;
                    sparq_value_store(q, values, k * block + i * p->block_cols + j, x, r, c);
                }
            }
            k++;
        }
    }
    sparq_index_set(rp->data, rp->dtype, p->grid_rows, k);
    free(flags);
    return SPARQ_OK;
}

static void unpack_compressed(const sparq_packed *p, const sparq_qparams *q, float *out)
{
    const sparq_packed_buffer *rp = &p->arrays[SPARQ_PACKED_ROW_PTR];
    const sparq_packed_buffer *ci = &p->arrays[SPARQ_PACKED_COL_IDX];
    const void *values = p->arrays[SPARQ_PACKED_VALUES].data;
    size_t block = p->block_rows * p->block_cols;
    for (size_t br = 0; br < p->grid_rows; br++) {
        size_t k1 = (size_t)sparq_index_get(rp->data, rp->dtype, br + 1);
        for (size_t k = (size_t)sparq_index_get(rp->data, rp->dtype, br); k < k1; k++) {
            size_t bc = (size_t)sparq_index_get(ci->data, ci->dtype, k);
            for (size_t i = 0; i < p->block_rows; i++) {
                for (size_t j = 0; j < p->block_cols; j++) {
                    size_t r = br * p->block_rows + i, c = bc * p->block_cols + j;
                    if (r < p->rows && c < p->cols)
                        out[r * p->cols + c] =
                            sparq_value_load(q, values, k * block + i * p->block_cols + j, r, c);
                }
            }
        }
    }
}

/* row_ptr starts at 0, never decreases, never passes nnz, and ends at nnz. */
static sparq_status check_row_ptr(const sparq_packed *p, size_t nnz, const char *what)
{
    const sparq_packed_buffer *rp = &p->arrays[SPARQ_PACKED_ROW_PTR];
    uint64_t prev = sparq_index_get(rp->data, rp->dtype, 0);
    if (prev != 0)
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: row_ptr[0]=%llu, expected 0", what,
                          (unsigned long long)prev);
    for (size_t i = 1; i <= p->grid_rows; i++) {
        uint64_t v = sparq_index_get(rp->data, rp->dtype, i);
        if (v > nnz)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: row_ptr[%zu]=%llu > %s=%zu",
                              what, i, (unsigned long long)v, unit(p), nnz);
        if (v < prev)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "%s: row_ptr[%zu]=%llu < row_ptr[%zu]=%llu", what, i,
                              (unsigned long long)v, i - 1, (unsigned long long)prev);
        prev = v;
    }
    if (prev != nnz)
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: row_ptr[%zu]=%llu, expected %s=%zu",
                          what, p->grid_rows, (unsigned long long)prev, unit(p), nnz);
    return SPARQ_OK;
}

/* Column indices in range and strictly increasing within each row (row_ptr checked). */
static sparq_status check_col_idx(const sparq_packed *p, const char *what)
{
    const sparq_packed_buffer *rp = &p->arrays[SPARQ_PACKED_ROW_PTR];
    const sparq_packed_buffer *ci = &p->arrays[SPARQ_PACKED_COL_IDX];
    const char *limit = p->format.structure == SPARQ_STRUCTURE_CSR ? "cols" : "block columns";
    const char *row = p->format.structure == SPARQ_STRUCTURE_CSR ? "row" : "block row";
    for (size_t br = 0; br < p->grid_rows; br++) {
        size_t k0 = (size_t)sparq_index_get(rp->data, rp->dtype, br);
        size_t k1 = (size_t)sparq_index_get(rp->data, rp->dtype, br + 1);
        for (size_t k = k0; k < k1; k++) {
            uint64_t c = sparq_index_get(ci->data, ci->dtype, k);
            if (c >= p->grid_cols)
                return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: col_idx[%zu]=%llu >= %s=%zu",
                                  what, k, (unsigned long long)c, limit, p->grid_cols);
            uint64_t prev = k > k0 ? sparq_index_get(ci->data, ci->dtype, k - 1) : 0;
            if (k > k0 && c <= prev)
                return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                                  "%s: col_idx[%zu]=%llu does not increase over col_idx[%zu]=%llu "
                                  "in %s %zu",
                                  what, k, (unsigned long long)c, k - 1,
                                  (unsigned long long)prev, row, br);
        }
    }
    return SPARQ_OK;
}

/* Positions of edge blocks outside the matrix must hold the code of 0. */
static sparq_status check_padding(const sparq_packed *p, const sparq_qparams *q, const char *what)
{
    const sparq_packed_buffer *rp = &p->arrays[SPARQ_PACKED_ROW_PTR];
    const sparq_packed_buffer *ci = &p->arrays[SPARQ_PACKED_COL_IDX];
    const void *values = p->arrays[SPARQ_PACKED_VALUES].data;
    size_t block = p->block_rows * p->block_cols;
    for (size_t br = 0; br < p->grid_rows; br++) {
        size_t k1 = (size_t)sparq_index_get(rp->data, rp->dtype, br + 1);
        for (size_t k = (size_t)sparq_index_get(rp->data, rp->dtype, br); k < k1; k++) {
            size_t bc = (size_t)sparq_index_get(ci->data, ci->dtype, k);
            if ((br + 1) * p->block_rows <= p->rows && (bc + 1) * p->block_cols <= p->cols)
                continue;
            for (size_t i = 0; i < p->block_rows; i++) {
                for (size_t j = 0; j < p->block_cols; j++) {
                    size_t r = br * p->block_rows + i, c = bc * p->block_cols + j;
                    if (r < p->rows && c < p->cols)
                        continue;
                    size_t slot = k * block + i * p->block_cols + j;
                    if (sparq_value_load(q, values, slot, r, c) != 0.0f)
                        return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                                          "%s: block %zu holds a nonzero at (%zu, %zu), outside "
                                          "the %zu x %zu matrix",
                                          what, k, r, c, p->rows, p->cols);
                }
            }
        }
    }
    return SPARQ_OK;
}

static sparq_status validate_compressed(sparq_packed *p, const sparq_qparams *q, const char *what)
{
    sparq_encoding enc = p->format.quant.encoding;
    size_t block = p->block_rows * p->block_cols;
    size_t nnz = p->arrays[SPARQ_PACKED_COL_IDX].count;
    if (nnz > SIZE_MAX / 4 / block)
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: col_idx has too many entries (%zu)",
                          what, nnz);
    sparq_status st = sparq_packed_expect(p, SPARQ_PACKED_ROW_PTR, row_ptr_dtype(nnz),
                                          p->grid_rows + 1, what);
    if (st == SPARQ_OK)
        st = sparq_packed_expect(p, SPARQ_PACKED_COL_IDX, col_idx_dtype(p->grid_cols), nnz,
                                 what);
    if (st == SPARQ_OK)
        st = sparq_packed_expect(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc),
                                 sparq_values_count(enc, nnz * block), what);
    if (st == SPARQ_OK)
        st = check_row_ptr(p, nnz, what);
    if (st == SPARQ_OK)
        st = check_col_idx(p, what);
    if (st == SPARQ_OK)
        st = check_padding(p, q, what);
    if (st == SPARQ_OK) {
        p->nnz = nnz;
        p->stored = nnz * block;
    }
    return st;
}

static bool parse_csr(const char *word, sparq_pack_options *f)
{
    (void)f;
    return strcmp(word, "csr") == 0;
}

static void print_csr(const sparq_pack_options *f, char *out, size_t size)
{
    (void)f;
    snprintf(out, size, "csr");
}

/* "bsr4x4": both sides in 1, 2, 4, 8, 16, 32. */
static bool parse_bsr(const char *word, sparq_pack_options *f)
{
    unsigned r, c;
    const char *rest;
    if (strncmp(word, "bsr", 3) != 0 || !sparq_format_parse_number(word + 3, 'x', &r, &rest) ||
        !sparq_format_parse_number(rest + 1, '\0', &c, &rest) || !sparq_block_side_ok(r) ||
        !sparq_block_side_ok(c))
        return false;
    f->block_rows = r;
    f->block_cols = c;
    return true;
}

static void print_bsr(const sparq_pack_options *f, char *out, size_t size)
{
    snprintf(out, size, "bsr%ux%u", f->block_rows, f->block_cols);
}

/* Unstructured, over the whole matrix or per row (scope). */
static sparq_status prune_csr(const sparq_pack_options *f, double sparsity, sparq_prune_scope scope,
                              sparq_block_norm norm, float *scores, size_t rows, size_t cols,
                              uint8_t *mask, int zero_pruned)
{
    (void)f, (void)norm;
    return sparq_prune_magnitude(scores, rows, cols, sparsity, scope, NULL, mask, zero_pruned);
}

/* Whole blocks by their norm. */
static sparq_status prune_bsr(const sparq_pack_options *f, double sparsity, sparq_prune_scope scope,
                              sparq_block_norm norm, float *scores, size_t rows, size_t cols,
                              uint8_t *mask, int zero_pruned)
{
    (void)scope;
    return sparq_prune_blocks(scores, rows, cols, f->block_rows, f->block_cols, norm, sparsity,
                              NULL, mask, zero_pruned);
}

/* CSR has no structure fields. */
static sparq_status normalise_csr(const sparq_pack_options *in, sparq_pack_options *out,
                                  const char *what)
{
    (void)in, (void)out, (void)what;
    return SPARQ_OK;
}

static sparq_status normalise_bsr(const sparq_pack_options *in, sparq_pack_options *out,
                                  const char *what)
{
    if (!sparq_block_side_ok(in->block_rows) || !sparq_block_side_ok(in->block_cols))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: block_%s %u is not one of 1, 2, 4, 8, 16, 32", what,
                          sparq_block_side_ok(in->block_rows) ? "cols" : "rows",
                          sparq_block_side_ok(in->block_rows) ? in->block_cols : in->block_rows);
    out->block_rows = in->block_rows;
    out->block_cols = in->block_cols;
    return SPARQ_OK;
}

/* round((1 - sparsity) n) of the shell's n entries or blocks kept (per-row or per-panel
 * rounding may keep a few more, which the size measured after packing catches). */
static uint64_t bytes_compressed(const sparq_packed *shell, double sparsity)
{
    uint64_t units = (uint64_t)shell->grid_rows * shell->grid_cols;
    uint64_t kept = units - (uint64_t)floor(sparsity * (double)units + 0.5);
    return (uint64_t)(shell->grid_rows + 1) * sparq_dtype_size(row_ptr_dtype(kept)) +
           kept * sparq_dtype_size(col_idx_dtype(shell->grid_cols)) +
           sparq_values_bytes(shell->format.quant.encoding,
                              kept * shell->block_rows * shell->block_cols);
}

#define COMPRESSED_ROLES                                                                     \
    ((1u << SPARQ_PACKED_ROW_PTR) | (1u << SPARQ_PACKED_COL_IDX) | (1u << SPARQ_PACKED_VALUES))

const sparq_structure_desc sparq_structure_csr = {
    SPARQ_STRUCTURE_CSR, "csr", true, COMPRESSED_ROLES, parse_csr, print_csr, normalise_csr,
    prune_csr, shape_compressed, bytes_compressed, pack_compressed, unpack_compressed,
    validate_compressed};

const sparq_structure_desc sparq_structure_bsr = {
    SPARQ_STRUCTURE_BSR, "bsr", true, COMPRESSED_ROLES, parse_bsr, print_bsr, normalise_bsr,
    prune_bsr, shape_compressed, bytes_compressed, pack_compressed, unpack_compressed,
    validate_compressed};
