/* SPDX-License-Identifier: Apache-2.0 */
/* format.h - the format table: one row per sparq_structure saying everything the rest
 * of the tree needs to know about it (its spelling, which arrays it has, how it is
 * pruned, sized, packed, unpacked and validated). Each row is defined in the file that
 * implements it (pack_dense.c, pack_csr.c, pack_nm.c) and listed in format.c.
 */
#ifndef SPARQ_FORMAT_H
#define SPARQ_FORMAT_H

#include "packed.h"

#include <stdbool.h>

typedef struct sparq_structure_desc {
    sparq_structure structure;
    const char *name;    /* sparq_structure_name: "dense", "csr", "bsr", "nm"           */
    bool prunes;         /* a sparsity to choose (CSR, BSR); N:M's follows from N and M  */
    unsigned roles;      /* bits (1u << sparq_packed_role) of its structure arrays
                          * (values always; scales and zero points follow the encoding) */
    /* the structure's word of a spelling into f (structure fields only); false if not it */
    bool (*parse)(const char *word, sparq_pack_options *f);
    /* the word for f's structure fields */
    void (*print)(const sparq_pack_options *f, char *out, size_t size);
    /* Checks in's structure fields and copies them to out (whose other structure fields
     * are 0); SPARQ_ERROR_INVALID_ARGUMENT with a sentence naming `what` if wrong. */
    sparq_status (*normalise)(const sparq_pack_options *in, sparq_pack_options *out,
                              const char *what);
    /* Pruning into this structure: scores (rows x cols, finite, >= 0) at sparsity (CSR
     * by scope, BSR blocks by norm; N:M and dense ignore both); mask (if not NULL) gets
     * 1 for kept entries; zero_pruned zeroes the pruned scores in place. */
    sparq_status (*prune)(const sparq_pack_options *f, double sparsity,
                          sparq_prune_scope scope, sparq_block_norm norm, float *scores,
                          size_t rows, size_t cols, uint8_t *mask, int zero_pruned);
    /* the derived sizes of a fresh shell (rows, cols, format, scales set) */
    sparq_status (*shape)(sparq_packed *p);
    /* the bytes of its arrays (scales and zero points aside) for a shell pruned to
     * sparsity, before packing: the rollback ladder sizes its rungs with it */
    uint64_t (*bytes)(const sparq_packed *shell, double sparsity);
    sparq_status (*pack)(sparq_packed *p, const sparq_qparams *q, const float *w,
                         const char *what);
    /* into out (rows x cols, zeroed by the caller) */
    void (*unpack)(const sparq_packed *p, const sparq_qparams *q, float *out);
    sparq_status (*validate)(sparq_packed *p, const sparq_qparams *q, const char *what);
} sparq_structure_desc;

/* The row of structure s; NULL when s is not a sparq_structure. */
const sparq_structure_desc *sparq_structure_of(sparq_structure s);

/* The structure word of a spelling ("csr", "bsr16x16", "2:4") into f's structure and
 * structure fields, by the rows' parse; false (f untouched) when no row takes it. */
bool sparq_format_structure_parse(const char *word, sparq_pack_options *f);

/* The two halves of a spelling: "csr", "bsr16x16", "2:4"; "f32", "i8-row", "i4-g128-asym". */
void sparq_format_structure_text(const sparq_pack_options *f, char *out, size_t size);
void sparq_format_encoding_text(const sparq_quant_options *q, char *out, size_t size);

#endif
