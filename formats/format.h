/* format.h - the format table: one row per sparq_structure saying everything the rest
 * of the tree needs to know about it (its names and spelling, which arrays it has, how
 * it is sized, packed, unpacked and validated). Adding a structure is adding a row.
 */
#ifndef SPARQ_FORMAT_H
#define SPARQ_FORMAT_H

#include "packed.h"

#include <stdbool.h>

typedef struct sparq_structure_desc {
    sparq_structure structure;
    bool prunes;         /* a sparsity to choose (CSR, BSR); N:M's follows from N and M  */
    unsigned roles;      /* bits (1u << sparq_packed_role) of its structure arrays
                          * (values always; scales and zero points follow the encoding) */
    /* the structure's word of a spelling into f (structure fields only); false if not it */
    bool (*parse)(const char *word, sparq_pack_options *f);
    /* the word for f's structure fields */
    void (*print)(const sparq_pack_options *f, char *out, size_t size);
    /* the derived sizes of a fresh shell (rows, cols, format, scales set) */
    sparq_status (*shape)(sparq_packed *p);
    sparq_status (*pack)(sparq_packed *p, const sparq_qparams *q, const float *w,
                         const char *what);
    /* into out (rows x cols, zeroed by the caller) */
    void (*unpack)(const sparq_packed *p, const sparq_qparams *q, float *out);
    sparq_status (*validate)(sparq_packed *p, const sparq_qparams *q, const char *what);
} sparq_structure_desc;

/* The row of structure s; NULL when s is not a sparq_structure. */
const sparq_structure_desc *sparq_structure_of(sparq_structure s);

/* A decimal number up to 1024 ending at stop; *rest gets where it ended. */
bool sparq_format_parse_number(const char *text, char stop, unsigned *out, const char **rest);

/* The two halves of a spelling: "csr", "bsr16x16", "2:4"; "f32", "i8-row", "i4-g128-asym". */
void sparq_format_structure_text(const sparq_pack_options *f, char *out, size_t size);
void sparq_format_encoding_text(const sparq_quant_options *q, char *out, size_t size);

#endif
