/* SPDX-License-Identifier: Apache-2.0 */
/* pack_dense.c - the dense structure's row of the format table: every value stored,
 * row after row (i4 rows padded to whole bytes).
 */
#include "format.h"
#include "quantize.h"
#include "status.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

static sparq_status shape_dense(sparq_packed *p)
{
    p->values_per_row = p->cols;
    p->value_row_slots = sparq_dense_row_slots(p->format.quant.encoding, p->cols);
    p->stored = p->rows * p->cols;
    return SPARQ_OK;
}

static sparq_status pack_dense(sparq_packed *p, const sparq_qparams *q, const float *w,
                               const char *what)
{
    (void)what;
    sparq_encoding enc = p->format.quant.encoding;
    size_t count = sparq_values_count(enc, p->rows * p->value_row_slots);
    sparq_status st =
        sparq_packed_alloc_array(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc), count);
    if (st == SPARQ_OK)
        sparq_dense_store(q, w, p->arrays[SPARQ_PACKED_VALUES].data);
    return st;
}

static void unpack_dense(const sparq_packed *p, const sparq_qparams *q, float *out)
{
    sparq_dense_load(q, p->arrays[SPARQ_PACKED_VALUES].data, out);
}

static sparq_status validate_dense(sparq_packed *p, const sparq_qparams *q, const char *what)
{
    (void)q;
    sparq_encoding enc = p->format.quant.encoding;
    return sparq_packed_expect(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc),
                               sparq_values_count(enc, p->rows * p->value_row_slots), what);
}

static bool parse_dense(const char *word, sparq_pack_options *f)
{
    (void)f;
    return strcmp(word, "dense") == 0;
}

static void print_dense(const sparq_pack_options *f, char *out, size_t size)
{
    (void)f;
    snprintf(out, size, "dense");
}

/* Dense keeps every entry. */
static sparq_status prune_dense(const sparq_pack_options *f, double sparsity,
                                sparq_prune_scope scope, sparq_block_norm norm, float *scores,
                                size_t rows, size_t cols, uint8_t *mask, int zero_pruned)
{
    (void)f, (void)sparsity, (void)scope, (void)norm, (void)scores, (void)zero_pruned;
    if (mask)
        memset(mask, 1, rows * cols);
    return SPARQ_OK;
}

/* Dense has no structure fields. */
static sparq_status normalise_dense(const sparq_pack_options *in, sparq_pack_options *out,
                                    const char *what)
{
    (void)in, (void)out, (void)what;
    return SPARQ_OK;
}

static uint64_t bytes_dense(const sparq_packed *shell, double sparsity)
{
    (void)sparsity;
    return sparq_values_bytes(shell->format.quant.encoding, shell->rows * shell->value_row_slots);
}

const sparq_structure_desc sparq_structure_dense = {
    SPARQ_STRUCTURE_DENSE, "dense", false, 1u << SPARQ_PACKED_VALUES, parse_dense, print_dense,
    normalise_dense, prune_dense, shape_dense, bytes_dense, pack_dense, unpack_dense,
    validate_dense};
