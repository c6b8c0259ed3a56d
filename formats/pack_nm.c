/* SPDX-License-Identifier: Apache-2.0 */
/* pack_nm.c - N:M packing (e.g. 2:4 along cols): N value slots per group of M columns
 * plus b-bit position fields in nm_meta, the tail group, unpacking and validation; and
 * the N:M row of the format table (spelling "2:4", pruning).
 */
#include "format.h"
#include "quantize.h"
#include "status.h"

#include <stdio.h>
#include <string.h>

/* Position field j of row r. */
static unsigned meta_get(const sparq_packed *p, size_t r, size_t j)
{
    const uint8_t *row = (const uint8_t *)p->arrays[SPARQ_PACKED_NM_META].data +
                         r * p->nm_meta_row_bytes;
    size_t bit = j * p->nm_bits;
    return (row[bit / 8] >> (bit % 8)) & ((1u << p->nm_bits) - 1u);
}

static void meta_set(sparq_packed *p, size_t r, size_t j, unsigned pos)
{
    uint8_t *row = (uint8_t *)p->arrays[SPARQ_PACKED_NM_META].data + r * p->nm_meta_row_bytes;
    size_t bit = j * p->nm_bits;
    row[bit / 8] = (uint8_t)(row[bit / 8] | (pos << (bit % 8)));
}

/* Columns of group g: [g*M, end). */
static size_t group_end(const sparq_packed *p, size_t g)
{
    size_t end = (g + 1) * p->format.nm_m;
    return end < p->cols ? end : p->cols;
}

/* The N slot positions of group g of row r, increasing: its nonzeros, then the lowest
 * unused positions. */
static void group_positions(const sparq_packed *p, const float *wr, size_t g, unsigned pos[16])
{
    unsigned m = p->format.nm_m, n = p->format.nm_n, k = 0;
    size_t c0 = g * m;
    int used[16] = {0};
    for (size_t c = c0; c < group_end(p, g); c++) {
        if (wr[c] != 0.0f) {
            used[c - c0] = 1;
            k++;
        }
    }
    for (unsigned i = 0; i < m && k < n; i++) {
        if (!used[i]) {
            used[i] = 1;
            k++;
        }
    }
    k = 0;
    for (unsigned i = 0; i < m; i++)
        if (used[i])
            pos[k++] = i;
}

static sparq_status shape_nm(sparq_packed *p)
{
    size_t m = p->format.nm_m, n = p->format.nm_n;
    p->nm_groups = p->cols / m + (p->cols % m != 0);
    p->nm_bits = m == 2 ? 1 : (m <= 4 ? 2 : 4);
    p->values_per_row = p->nm_groups * n; /* <= cols + m */
    p->value_row_slots = sparq_dense_row_slots(p->format.quant.encoding, p->values_per_row);
    p->nm_meta_row_bytes = (p->values_per_row * p->nm_bits + 7) / 8;
    if (p->rows > SIZE_MAX / 8 / p->value_row_slots)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed: shape %zu x %zu is too large",
                          p->rows, p->cols);
    p->stored = p->rows * p->values_per_row;
    return SPARQ_OK;
}

static sparq_status pack_nm(sparq_packed *p, const sparq_qparams *q, const float *w,
                            const char *what)
{
    unsigned m = p->format.nm_m, n = p->format.nm_n;
    sparq_encoding enc = p->format.quant.encoding;
    for (size_t r = 0; r < p->rows; r++) {
        for (size_t g = 0; g < p->nm_groups; g++) {
            size_t count = 0;
            for (size_t c = g * m; c < group_end(p, g); c++)
                count += w[r * p->cols + c] != 0.0f;
            if (count > n)
                return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                                  "%s: row %zu, group %zu (cols %zu..%zu) has %zu nonzeros, "
                                  "N:M %u:%u allows %u",
                                  what, r, g, g * m, group_end(p, g) - 1, count, n, m, n);
        }
    }
    size_t count = sparq_values_count(enc, p->rows * p->value_row_slots);
    sparq_status st =
        sparq_packed_alloc_array(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc), count);
    if (st == SPARQ_OK)
        st = sparq_packed_alloc_array(p, SPARQ_PACKED_NM_META, SPARQ_DTYPE_U8,
                                      p->rows * p->nm_meta_row_bytes);
    if (st != SPARQ_OK)
        return st;
    void *values = p->arrays[SPARQ_PACKED_VALUES].data;
    for (size_t r = 0; r < p->rows; r++) {
        const float *wr = w + r * p->cols;
        for (size_t g = 0; g < p->nm_groups; g++) {
            unsigned pos[16];
            group_positions(p, wr, g, pos);
            for (unsigned s = 0; s < n; s++) {
                size_t j = g * n + s, c = g * m + pos[s];
                float x = c < p->cols ? wr[c] : 0.0f;
                sparq_value_store(q, values, r * p->value_row_slots + j, x, r, c);
                meta_set(p, r, j, pos[s]);
            }
        }
    }
    return SPARQ_OK;
}

static void unpack_nm(const sparq_packed *p, const sparq_qparams *q, float *out)
{
    unsigned m = p->format.nm_m, n = p->format.nm_n;
    const void *values = p->arrays[SPARQ_PACKED_VALUES].data;
    for (size_t r = 0; r < p->rows; r++) {
        for (size_t j = 0; j < p->values_per_row; j++) {
            size_t c = (j / n) * m + meta_get(p, r, j);
            if (c < p->cols)
                out[r * p->cols + c] =
                    sparq_value_load(q, values, r * p->value_row_slots + j, r, c);
        }
    }
}

static sparq_status validate_nm(sparq_packed *p, const sparq_qparams *q, const char *what)
{
    unsigned m = p->format.nm_m, n = p->format.nm_n;
    sparq_encoding enc = p->format.quant.encoding;
    sparq_status st = sparq_packed_expect(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc),
                                          sparq_values_count(enc, p->rows * p->value_row_slots),
                                          what);
    if (st == SPARQ_OK)
        st = sparq_packed_expect(p, SPARQ_PACKED_NM_META, SPARQ_DTYPE_U8,
                                 p->rows * p->nm_meta_row_bytes, what);
    if (st != SPARQ_OK)
        return st;
    const void *values = p->arrays[SPARQ_PACKED_VALUES].data;
    const uint8_t *meta = p->arrays[SPARQ_PACKED_NM_META].data;
    size_t used_bits = p->values_per_row * p->nm_bits;
    for (size_t r = 0; r < p->rows; r++) {
        for (size_t j = 0; j < p->values_per_row; j++) {
            size_t g = j / n, s = j % n;
            unsigned pos = meta_get(p, r, j);
            if (pos >= m)
                return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                                  "%s: nm_meta row %zu, group %zu, slot %zu: position %u >= M=%u",
                                  what, r, g, s, pos, m);
            if (s > 0 && pos <= meta_get(p, r, j - 1))
                return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                                  "%s: nm_meta row %zu, group %zu, slot %zu: position %u does not "
                                  "increase over %u",
                                  what, r, g, s, pos, meta_get(p, r, j - 1));
            size_t c = g * m + pos;
            if (c >= p->cols &&
                sparq_value_load(q, values, r * p->value_row_slots + j, r, c) != 0.0f)
                return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                                  "%s: row %zu, group %zu, slot %zu points past the last column "
                                  "(col %zu) but holds a nonzero",
                                  what, r, g, s, c);
        }
        if (used_bits % 8 != 0 &&
            (meta[r * p->nm_meta_row_bytes + used_bits / 8] >> (used_bits % 8)) != 0)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "%s: nm_meta row %zu has nonzero padding bits", what, r);
    }
    return SPARQ_OK;
}

/* "2:4": 1 <= N < M <= 16. */
static bool parse_nm(const char *word, sparq_pack_options *f)
{
    unsigned n, m;
    const char *rest;
    if (!sparq_format_parse_number(word, ':', &n, &rest) ||
        !sparq_format_parse_number(rest + 1, '\0', &m, &rest) || n < 1 || n >= m || m > 16)
        return false;
    f->nm_n = n;
    f->nm_m = m;
    return true;
}

static void print_nm(const sparq_pack_options *f, char *out, size_t size)
{
    snprintf(out, size, "%u:%u", f->nm_n, f->nm_m);
}

/* N of every M along each row; sparsity, scope and norm do not apply. */
static sparq_status prune_nm(const sparq_pack_options *f, double sparsity, sparq_prune_scope scope,
                             sparq_block_norm norm, float *scores, size_t rows, size_t cols,
                             uint8_t *mask, int zero_pruned)
{
    (void)sparsity, (void)scope, (void)norm;
    return sparq_prune_nm(scores, rows, cols, f->nm_n, f->nm_m, NULL, mask, zero_pruned);
}

static sparq_status normalise_nm(const sparq_pack_options *in, sparq_pack_options *out,
                                 const char *what)
{
    if (in->nm_m < 2 || in->nm_m > 16 || in->nm_n < 1 || in->nm_n > in->nm_m)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: N:M %u:%u needs 1 <= N <= M and 2 <= M <= 16", what, in->nm_n,
                          in->nm_m);
    out->nm_n = in->nm_n;
    out->nm_m = in->nm_m;
    return SPARQ_OK;
}

/* N:M keeps the same slots whatever the sparsity asked. */
static uint64_t bytes_nm(const sparq_packed *shell, double sparsity)
{
    (void)sparsity;
    return sparq_values_bytes(shell->format.quant.encoding,
                              shell->rows * shell->value_row_slots) +
           (uint64_t)shell->rows * shell->nm_meta_row_bytes;
}

const sparq_structure_desc sparq_structure_nm = {
    SPARQ_STRUCTURE_NM, "nm", false, (1u << SPARQ_PACKED_VALUES) | (1u << SPARQ_PACKED_NM_META),
    parse_nm, print_nm, normalise_nm, prune_nm, shape_nm, bytes_nm, pack_nm, unpack_nm,
    validate_nm};
