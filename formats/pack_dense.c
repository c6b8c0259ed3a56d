/* pack_dense.c - the dense structure's row of the format table: every value stored,
 * row after row (i4 rows padded to whole bytes).
 */
#include "format.h"
#include "quantize.h"
#include "status.h"

#include <stdint.h>

sparq_status sparq_shape_dense(sparq_packed *p)
{
    p->values_per_row = p->cols;
    p->value_row_slots = sparq_dense_row_slots(p->format.quant.encoding, p->cols);
    p->stored = p->rows * p->cols;
    return SPARQ_OK;
}

sparq_status sparq_pack_dense(sparq_packed *p, const sparq_qparams *q, const float *w,
                             const char *what)
{
    (void)what;
    sparq_encoding enc = p->format.quant.encoding;
    sparq_status st = sparq_packed_alloc_array(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc),
                                               sparq_values_count(enc, p->rows * p->value_row_slots));
    if (st == SPARQ_OK)
        sparq_dense_store(q, w, p->arrays[SPARQ_PACKED_VALUES].data);
    return st;
}

void sparq_unpack_dense(const sparq_packed *p, const sparq_qparams *q, float *out)
{
    sparq_dense_load(q, p->arrays[SPARQ_PACKED_VALUES].data, out);
}

sparq_status sparq_validate_dense(sparq_packed *p, const sparq_qparams *q, const char *what)
{
    (void)q;
    sparq_encoding enc = p->format.quant.encoding;
    return sparq_packed_expect(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc),
                               sparq_values_count(enc, p->rows * p->value_row_slots), what);
}
