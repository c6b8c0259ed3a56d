/* SPDX-License-Identifier: Apache-2.0 */
/* format.c - the format table (format.h): the list of its rows, one per structure, each
 * defined beside its code; the structures' names and the two halves of a format's
 * spelling (format_text.c parses and writes the whole of it).
 */
#include "format.h"

#include <stdio.h>
#include <string.h>

/* The rows, defined in pack_dense.c, pack_csr.c and pack_nm.c and declared here, where
 * they are listed: adding a structure touches its own file and this list. */
extern const sparq_structure_desc sparq_structure_dense;
extern const sparq_structure_desc sparq_structure_csr;
extern const sparq_structure_desc sparq_structure_bsr;
extern const sparq_structure_desc sparq_structure_nm;

/* indexed by sparq_structure */
static const sparq_structure_desc *const structures[] = {
    &sparq_structure_dense, &sparq_structure_csr, &sparq_structure_bsr, &sparq_structure_nm};

const sparq_structure_desc *sparq_structure_of(sparq_structure s)
{
    if ((unsigned)s >= sizeof structures / sizeof structures[0])
        return NULL;
    return structures[s]->structure == s ? structures[s] : NULL;
}

const char *sparq_structure_name(sparq_structure s)
{
    const sparq_structure_desc *d = sparq_structure_of(s);
    return d ? d->name : "?";
}

bool sparq_format_structure_parse(const char *word, sparq_pack_options *f)
{
    for (int s = 0; sparq_structure_of((sparq_structure)s); s++) {
        sparq_pack_options g;
        memset(&g, 0, sizeof g);
        if (sparq_structure_of((sparq_structure)s)->parse(word, &g)) {
            f->structure = (sparq_structure)s;
            f->block_rows = g.block_rows;
            f->block_cols = g.block_cols;
            f->nm_n = g.nm_n;
            f->nm_m = g.nm_m;
            return true;
        }
    }
    return false;
}

void sparq_format_structure_text(const sparq_pack_options *f, char *out, size_t size)
{
    const sparq_structure_desc *d = sparq_structure_of(f->structure);
    if (d)
        d->print(f, out, size);
    else
        snprintf(out, size, "?");
}

void sparq_format_encoding_text(const sparq_quant_options *q, char *out, size_t size)
{
    const char *asym = q->asymmetric ? "-asym" : "";
    if (q->encoding == SPARQ_ENCODING_F32 || q->encoding == SPARQ_ENCODING_F16)
        snprintf(out, size, "%s", sparq_encoding_name(q->encoding));
    else if (q->granularity == SPARQ_SCALE_GROUP)
        snprintf(out, size, "%s-g%zu%s", sparq_encoding_name(q->encoding), q->group_size, asym);
    else
        snprintf(out, size, "%s-%s%s", sparq_encoding_name(q->encoding),
                 sparq_scale_granularity_name(q->granularity), asym);
}
