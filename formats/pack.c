/* SPDX-License-Identifier: Apache-2.0 */
/* pack.c - the front of sparq_packed: options normalised, the shell sized, packing
 * from dense weights, building from named arrays (with validation) and unpacking, each
 * through the structure's row of the format table (format.c).
 */
#include "format.h"
#include "packed.h"
#include "checks.h"
#include "f16.h"
#include "quantize.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int needs_role(const sparq_packed *p, sparq_packed_role role)
{
    switch (role) {
    case SPARQ_PACKED_ROW_PTR:
    case SPARQ_PACKED_COL_IDX:
    case SPARQ_PACKED_VALUES:
    case SPARQ_PACKED_NM_META:
        return (sparq_structure_of(p->format.structure)->roles >> role) & 1;
    case SPARQ_PACKED_SCALES:
        return p->scale_count > 0;
    case SPARQ_PACKED_ZERO_POINTS:
        return p->scale_count > 0 && p->format.quant.asymmetric;
    default:
        return 0;
    }
}

/* Scales (and zero points) arrays for the format, zero-filled. */
static sparq_status alloc_scales(sparq_packed *p)
{
    sparq_status st = SPARQ_OK;
    if (needs_role(p, SPARQ_PACKED_SCALES))
        st = sparq_packed_alloc_array(p, SPARQ_PACKED_SCALES, SPARQ_DTYPE_F32, p->scale_count);
    if (st == SPARQ_OK && needs_role(p, SPARQ_PACKED_ZERO_POINTS))
        st = sparq_packed_alloc_array(p, SPARQ_PACKED_ZERO_POINTS, SPARQ_DTYPE_I8,
                                      p->scale_count);
    return st;
}

sparq_status sparq_pack_normalise(const sparq_pack_options *options,
                                  sparq_pack_options *normalised, const char *what)
{
    sparq_pack_options o;
    memset(&o, 0, sizeof o);
    if (options != NULL)
        o = *options;
    if (!sparq_structure_of(o.structure))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: structure %d is not a sparq_structure", what, (int)o.structure);
    /* the structure and its quantizer; the row copies the fields that are its own */
    sparq_pack_options n = {.structure = o.structure};
    sparq_status st = sparq_quant_normalise(&o.quant, &n.quant, what);
    if (st == SPARQ_OK)
        st = sparq_structure_of(o.structure)->normalise(&o, &n, what);
    if (st == SPARQ_OK)
        *normalised = n;
    return st;
}

sparq_status sparq_packed_alloc_shell(const sparq_pack_options *format, size_t rows,
                                      size_t cols, sparq_packed **packed)
{
    *packed = NULL;
    sparq_packed *p = calloc(1, sizeof *p);
    if (p == NULL)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "packed: no memory");
    p->rows = rows;
    p->cols = cols;
    p->format = *format;
    sparq_qparams q;
    sparq_qparams_init(&q, &format->quant, rows, cols);
    p->scale_count = q.scale_count;
    p->groups_per_row = q.groups_per_row;
    sparq_status st = sparq_structure_of(format->structure)->shape(p);
    if (st != SPARQ_OK) {
        free(p);
        return st;
    }
    *packed = p;
    return SPARQ_OK;
}

/* Whether a matrix of this format has arrays[role]. */
/* ---- create from dense -------------------------------------------------------------- */

/* The given scales (and zero points, when the format has them) into p's arrays, checked;
 * *q then points at them. */
static sparq_status copy_scales(sparq_packed *p, const float *scales, const int8_t *zero_points,
                                sparq_qparams *q, const char *what)
{
    float *own_scales = p->arrays[SPARQ_PACKED_SCALES].data;
    int8_t *own_zero_points = p->arrays[SPARQ_PACKED_ZERO_POINTS].data;
    if (p->scale_count == 0)
        return SPARQ_OK;
    if (own_zero_points != NULL && zero_points == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: NULL zero_points", what);
    memcpy(own_scales, scales, p->scale_count * sizeof *scales);
    if (own_zero_points != NULL)
        memcpy(own_zero_points, zero_points, p->scale_count);
    sparq_packed_qparams(p, q);
    return sparq_qparams_check(q, what);
}

/* sparq_packed_create, with the scales and zero points given (scales NULL: calibrated
 * from w by the options' rules). */
static sparq_status packed_create(const sparq_pack_options *options, size_t rows, size_t cols,
                                  const float *w, const float *scales,
                                  const int8_t *zero_points, sparq_packed **packed)
{
    const char *what = "packed_create";
    sparq_pack_options format;
    if (packed == NULL || w == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: NULL %s", what,
                          packed == NULL ? "packed" : "w");
    *packed = NULL;
    sparq_status st = sparq_pack_normalise(options, &format, what);
    if (st == SPARQ_OK)
        st = sparq_check_shape(rows, cols, what);
    if (st == SPARQ_OK)
        st = sparq_check_finite(w, rows, cols, what);
    if (st != SPARQ_OK)
        return st;
    sparq_packed *p;
    st = sparq_packed_alloc_shell(&format, rows, cols, &p);
    if (st != SPARQ_OK)
        return st;
    st = alloc_scales(p);
    sparq_qparams q;
    sparq_packed_qparams(p, &q);
    float *own_scales = p->arrays[SPARQ_PACKED_SCALES].data;
    int8_t *own_zero_points = p->arrays[SPARQ_PACKED_ZERO_POINTS].data;
    if (st == SPARQ_OK)
        st = scales == NULL ? sparq_qparams_calibrate(&q, w, own_scales, own_zero_points, what)
                            : copy_scales(p, scales, zero_points, &q, what);
    if (st == SPARQ_OK) {
        st = sparq_structure_of(format.structure)->pack(p, &q, w, what);
    }
    if (st != SPARQ_OK) {
        sparq_packed_free(p);
        return st;
    }
    *packed = p;
    return SPARQ_OK;
}

sparq_status sparq_packed_create(const sparq_pack_options *options, size_t rows,
                                 size_t cols, const float *w, sparq_packed **packed)
{
    return packed_create(options, rows, cols, w, NULL, NULL, packed);
}

sparq_status sparq_packed_create_scaled(const sparq_pack_options *options, size_t rows,
                                        size_t cols, const float *w, const float *scales,
                                        const int8_t *zero_points, sparq_packed **packed)
{
    if (scales == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_create: NULL scales");
    return packed_create(options, rows, cols, w, scales, zero_points, packed);
}

/* ---- create from arrays ------------------------------------------------------------- */

/* Copies the caller's arrays into p by name, rejecting unknown and duplicate names. */
static sparq_status copy_arrays(sparq_packed *p, const sparq_packed_array *arrays,
                                size_t count, const char *what)
{
    for (size_t i = 0; i < count; i++) {
        const sparq_packed_array *a = &arrays[i];
        if (a->name == NULL)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: arrays[%zu] has no name",
                              what, i);
        int role = 0;
        while (role < SPARQ_PACKED_ROLE_COUNT &&
               strcmp(a->name, sparq_packed_role_name((sparq_packed_role)role)) != 0)
            role++;
        if (role == SPARQ_PACKED_ROLE_COUNT)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: unknown array \"%s\"", what,
                              a->name);
        if (p->arrays[role].present)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: array \"%s\" is given twice",
                              what, a->name);
        if (sparq_dtype_size(a->dtype) == 0)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: array \"%s\" has dtype %d",
                              what, a->name, (int)a->dtype);
        if (a->count > 0 && a->data == NULL)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: array \"%s\" has NULL data",
                              what, a->name);
        sparq_status st = sparq_packed_alloc_array(p, (sparq_packed_role)role, a->dtype,
                                                   a->count);
        if (st != SPARQ_OK)
            return st;
        if (a->count > 0)
            memcpy(p->arrays[role].data, a->data, a->count * sparq_dtype_size(a->dtype));
    }
    const char *structure = sparq_structure_name(p->format.structure);
    for (int role = 0; role < SPARQ_PACKED_ROLE_COUNT; role++) {
        int need = needs_role(p, (sparq_packed_role)role);
        const char *name = sparq_packed_role_name((sparq_packed_role)role);
        if (need && !p->arrays[role].present)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: a %s matrix needs array \"%s\"",
                              what, structure, name);
        if (!need && p->arrays[role].present)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "%s: array \"%s\" does not belong to this %s matrix", what, name,
                              structure);
    }
    return SPARQ_OK;
}

/* F32/F16 values must be finite. */
static sparq_status check_float_values(const sparq_packed *p, const char *what)
{
    const sparq_packed_buffer *v = &p->arrays[SPARQ_PACKED_VALUES];
    sparq_encoding enc = p->format.quant.encoding;
    if (enc != SPARQ_ENCODING_F32 && enc != SPARQ_ENCODING_F16)
        return SPARQ_OK;
    for (size_t i = 0; i < v->count; i++) {
        float x = enc == SPARQ_ENCODING_F32 ? ((const float *)v->data)[i]
                                            : sparq_f16_value(((const uint16_t *)v->data)[i]);
        if (!isfinite(x))
            return sparq_fail(SPARQ_ERROR_INVALID_DATA, "%s: values[%zu] is %s", what, i,
                              isnan(x) ? "NaN" : (x > 0 ? "+Inf" : "-Inf"));
    }
    return SPARQ_OK;
}

static sparq_status validate(sparq_packed *p, const char *what)
{
    sparq_qparams q;
    sparq_packed_qparams(p, &q);
    sparq_status st = SPARQ_OK;
    if (p->scale_count > 0)
        st = sparq_packed_expect(p, SPARQ_PACKED_SCALES, SPARQ_DTYPE_F32, p->scale_count, what);
    if (st == SPARQ_OK && q.zero_points != NULL)
        st = sparq_packed_expect(p, SPARQ_PACKED_ZERO_POINTS, SPARQ_DTYPE_I8, p->scale_count,
                                 what);
    if (st == SPARQ_OK)
        st = sparq_qparams_check(&q, what);
    if (st != SPARQ_OK)
        return st;
    st = sparq_structure_of(p->format.structure)->validate(p, &q, what);
    if (st == SPARQ_OK)
        st = check_float_values(p, what);
    return st;
}

sparq_status sparq_packed_from_arrays(const sparq_pack_options *format, size_t rows,
                                      size_t cols, const sparq_packed_array *arrays,
                                      size_t count, sparq_packed **packed)
{
    const char *what = "packed_from_arrays";
    sparq_pack_options f;
    if (packed == NULL || (arrays == NULL && count > 0))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: NULL %s", what,
                          packed == NULL ? "packed" : "arrays");
    *packed = NULL;
    sparq_status st = sparq_pack_normalise(format, &f, what);
    if (st == SPARQ_OK)
        st = sparq_check_shape(rows, cols, what);
    if (st != SPARQ_OK)
        return st;
    sparq_packed *p;
    st = sparq_packed_alloc_shell(&f, rows, cols, &p);
    if (st != SPARQ_OK)
        return st;
    st = copy_arrays(p, arrays, count, what);
    if (st == SPARQ_OK)
        st = validate(p, what);
    if (st != SPARQ_OK) {
        sparq_packed_free(p);
        return st;
    }
    *packed = p;
    return SPARQ_OK;
}

sparq_status sparq_packed_unpack(const sparq_packed *packed, float *out)
{
    if (packed == NULL || out == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_unpack: NULL argument");
    sparq_qparams q;
    sparq_packed_qparams(packed, &q);
    memset(out, 0, packed->rows * packed->cols * sizeof *out);
    sparq_structure_of(packed->format.structure)->unpack(packed, &q, out);
    return SPARQ_OK;
}
