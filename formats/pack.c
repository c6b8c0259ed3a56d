/* pack.c - sparq_packed: options, the shell and its owned arrays, dense packing,
 * building from named arrays (with validation), accessors and unpacking. The sparse
 * structures live in pack_csr.c (CSR and BSR) and pack_nm.c (N:M).
 */
#include "packed.h"
#include "checks.h"
#include "quantize.h"
#include "status.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[SPARQ_PACKED_ROLE_COUNT] = {
    "row_ptr", "col_idx", "values", "nm_meta", "scales", "zero_points"};

const char *sparq_structure_name(sparq_structure s)
{
    static const char *const names[] = {"dense", "csr", "bsr", "nm"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

const char *sparq_encoding_name(sparq_encoding e)
{
    static const char *const names[] = {"f32", "f16", "i8", "i4"};
    return (unsigned)e < sizeof names / sizeof names[0] ? names[e] : "?";
}

const char *sparq_scale_granularity_name(sparq_scale_granularity g)
{
    static const char *const names[] = {"tensor", "row", "group"};
    return (unsigned)g < sizeof names / sizeof names[0] ? names[g] : "?";
}

const char *sparq_packed_role_name(sparq_packed_role role)
{
    return (unsigned)role < SPARQ_PACKED_ROLE_COUNT ? role_names[role] : "?";
}

size_t sparq_dtype_size(sparq_dtype dtype)
{
    switch (dtype) {
    case SPARQ_DTYPE_U8: return 1;
    case SPARQ_DTYPE_I8: return 1;
    case SPARQ_DTYPE_U16: return 2;
    case SPARQ_DTYPE_U32: return 4;
    case SPARQ_DTYPE_U64: return 8;
    case SPARQ_DTYPE_F16: return 2;
    case SPARQ_DTYPE_F32: return 4;
    case SPARQ_DTYPE_BF16: return 2;
    case SPARQ_DTYPE_I32: return 4;
    case SPARQ_DTYPE_I64: return 8;
    case SPARQ_DTYPE_F64: return 8;
    }
    return 0;
}

const char *sparq_dtype_name(sparq_dtype dtype)
{
    switch (dtype) {
    case SPARQ_DTYPE_U8: return "U8";
    case SPARQ_DTYPE_I8: return "I8";
    case SPARQ_DTYPE_U16: return "U16";
    case SPARQ_DTYPE_U32: return "U32";
    case SPARQ_DTYPE_U64: return "U64";
    case SPARQ_DTYPE_F16: return "F16";
    case SPARQ_DTYPE_F32: return "F32";
    case SPARQ_DTYPE_BF16: return "BF16";
    case SPARQ_DTYPE_I32: return "I32";
    case SPARQ_DTYPE_I64: return "I64";
    case SPARQ_DTYPE_F64: return "F64";
    }
    return "?";
}

uint64_t sparq_index_get(const void *data, sparq_dtype dtype, size_t i)
{
    switch (dtype) {
    case SPARQ_DTYPE_U16: return ((const uint16_t *)data)[i];
    case SPARQ_DTYPE_U32: return ((const uint32_t *)data)[i];
    default: return ((const uint64_t *)data)[i];
    }
}

void sparq_index_set(void *data, sparq_dtype dtype, size_t i, uint64_t v)
{
    switch (dtype) {
    case SPARQ_DTYPE_U16: ((uint16_t *)data)[i] = (uint16_t)v; break;
    case SPARQ_DTYPE_U32: ((uint32_t *)data)[i] = (uint32_t)v; break;
    default: ((uint64_t *)data)[i] = v; break;
    }
}

sparq_status sparq_pack_normalise(const sparq_pack_options *options,
                                  sparq_pack_options *normalised, const char *what)
{
    sparq_pack_options o;
    memset(&o, 0, sizeof o);
    if (options != NULL)
        o = *options;
    if ((unsigned)o.structure > SPARQ_STRUCTURE_NM)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: structure %d is not a sparq_structure", what, (int)o.structure);
    sparq_status st = sparq_quant_normalise(&o.quant, &o.quant, what);
    if (st != SPARQ_OK)
        return st;
    if (o.structure == SPARQ_STRUCTURE_BSR) {
        if (!sparq_block_side_ok(o.block_rows) || !sparq_block_side_ok(o.block_cols))
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "%s: block_%s %u is not one of 1, 2, 4, 8, 16, 32", what,
                              sparq_block_side_ok(o.block_rows) ? "cols" : "rows",
                              sparq_block_side_ok(o.block_rows) ? o.block_cols : o.block_rows);
    } else {
        o.block_rows = o.block_cols = 0;
    }
    if (o.structure == SPARQ_STRUCTURE_NM) {
        if (o.nm_m < 2 || o.nm_m > 16 || o.nm_n < 1 || o.nm_n > o.nm_m)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "%s: N:M %u:%u needs 1 <= N <= M and 2 <= M <= 16", what,
                              o.nm_n, o.nm_m);
    } else {
        o.nm_n = o.nm_m = 0;
    }
    *normalised = o;
    return SPARQ_OK;
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
    sparq_encoding enc = format->quant.encoding;
    switch (format->structure) {
    case SPARQ_STRUCTURE_DENSE:
        p->values_per_row = cols;
        p->value_row_slots = sparq_dense_row_slots(enc, cols);
        p->stored = rows * cols;
        break;
    case SPARQ_STRUCTURE_CSR:
    case SPARQ_STRUCTURE_BSR:
        p->block_rows = format->structure == SPARQ_STRUCTURE_BSR ? format->block_rows : 1;
        p->block_cols = format->structure == SPARQ_STRUCTURE_BSR ? format->block_cols : 1;
        p->grid_rows = (rows + p->block_rows - 1) / p->block_rows;
        p->grid_cols = (cols + p->block_cols - 1) / p->block_cols;
        break;
    case SPARQ_STRUCTURE_NM: {
        size_t m = format->nm_m, n = format->nm_n;
        p->nm_groups = cols / m + (cols % m != 0);
        p->nm_bits = m == 2 ? 1 : (m <= 4 ? 2 : 4);
        p->values_per_row = p->nm_groups * n; /* <= cols + m */
        p->value_row_slots = sparq_dense_row_slots(enc, p->values_per_row);
        p->nm_meta_row_bytes = (p->values_per_row * p->nm_bits + 7) / 8;
        if (rows > SIZE_MAX / 8 / p->value_row_slots) {
            free(p);
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed: shape %zu x %zu is too large",
                              rows, cols);
        }
        p->stored = rows * p->values_per_row;
        break;
    }
    }
    *packed = p;
    return SPARQ_OK;
}

sparq_status sparq_packed_alloc_array(sparq_packed *packed, sparq_packed_role role,
                                      sparq_dtype dtype, size_t count)
{
    size_t size = sparq_dtype_size(dtype);
    if (count > (SIZE_MAX - 64) / size)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "packed: %s of %zu elements is too large",
                          role_names[role], count);
    size_t bytes = count * size;
    size_t rounded = (bytes + 63) / 64 * 64;
    void *data = aligned_alloc(64, rounded > 0 ? rounded : 64);
    if (data == NULL)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "packed: no memory for %s (%zu bytes)",
                          role_names[role], bytes);
    memset(data, 0, rounded > 0 ? rounded : 64);
    sparq_packed_buffer *b = &packed->arrays[role];
    free(b->data);
    if (b->present)
        packed->bytes -= (uint64_t)b->count * sparq_dtype_size(b->dtype);
    b->present = 1;
    b->dtype = dtype;
    b->count = count;
    b->data = data;
    packed->bytes += bytes;
    return SPARQ_OK;
}

void sparq_packed_qparams(const sparq_packed *packed, sparq_qparams *q)
{
    sparq_qparams_init(q, &packed->format.quant, packed->rows, packed->cols);
    q->scales = packed->arrays[SPARQ_PACKED_SCALES].data;
    q->zero_points =
        packed->arrays[SPARQ_PACKED_ZERO_POINTS].present ? packed->arrays[SPARQ_PACKED_ZERO_POINTS].data
                                                         : NULL;
}

sparq_status sparq_packed_expect(const sparq_packed *packed, sparq_packed_role role,
                                 sparq_dtype dtype, size_t count, const char *what)
{
    const sparq_packed_buffer *b = &packed->arrays[role];
    if (b->dtype != dtype)
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: %s has dtype %s, expected %s", what,
                          role_names[role], sparq_dtype_name(b->dtype), sparq_dtype_name(dtype));
    if (b->count != count)
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: %s has %zu elements, expected %zu",
                          what, role_names[role], b->count, count);
    return SPARQ_OK;
}

/* Whether a matrix of this format has arrays[role]. */
static int needs_role(const sparq_packed *p, sparq_packed_role role)
{
    sparq_structure s = p->format.structure;
    switch (role) {
    case SPARQ_PACKED_ROW_PTR:
    case SPARQ_PACKED_COL_IDX:
        return s == SPARQ_STRUCTURE_CSR || s == SPARQ_STRUCTURE_BSR;
    case SPARQ_PACKED_VALUES:
        return 1;
    case SPARQ_PACKED_NM_META:
        return s == SPARQ_STRUCTURE_NM;
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

void sparq_packed_free(sparq_packed *packed)
{
    if (packed == NULL)
        return;
    for (int r = 0; r < SPARQ_PACKED_ROLE_COUNT; r++)
        free(packed->arrays[r].data);
    free(packed);
}

/* ---- create from dense -------------------------------------------------------------- */

static sparq_status pack_dense(sparq_packed *p, const sparq_qparams *q, const float *w)
{
    sparq_encoding enc = p->format.quant.encoding;
    sparq_status st = sparq_packed_alloc_array(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc),
                                               sparq_values_count(enc, p->rows * p->value_row_slots));
    if (st == SPARQ_OK)
        sparq_dense_store(q, w, p->arrays[SPARQ_PACKED_VALUES].data);
    return st;
}

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
        switch (format.structure) {
        case SPARQ_STRUCTURE_DENSE:
            st = pack_dense(p, &q, w);
            break;
        case SPARQ_STRUCTURE_CSR:
        case SPARQ_STRUCTURE_BSR:
            st = sparq_pack_compressed(p, &q, w, what);
            break;
        case SPARQ_STRUCTURE_NM:
            st = sparq_pack_nm(p, &q, w, what);
            break;
        }
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
        while (role < SPARQ_PACKED_ROLE_COUNT && strcmp(a->name, role_names[role]) != 0)
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
    for (int role = 0; role < SPARQ_PACKED_ROLE_COUNT; role++) {
        int need = needs_role(p, (sparq_packed_role)role);
        if (need && !p->arrays[role].present)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: a %s matrix needs array \"%s\"",
                              what, sparq_structure_name(p->format.structure), role_names[role]);
        if (!need && p->arrays[role].present)
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "%s: array \"%s\" does not belong to this %s matrix", what,
                              role_names[role], sparq_structure_name(p->format.structure));
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
    sparq_encoding enc = p->format.quant.encoding;
    switch (p->format.structure) {
    case SPARQ_STRUCTURE_DENSE:
        st = sparq_packed_expect(p, SPARQ_PACKED_VALUES, sparq_values_dtype(enc),
                                 sparq_values_count(enc, p->rows * p->value_row_slots), what);
        break;
    case SPARQ_STRUCTURE_CSR:
    case SPARQ_STRUCTURE_BSR:
        st = sparq_validate_compressed(p, &q, what);
        break;
    case SPARQ_STRUCTURE_NM:
        st = sparq_validate_nm(p, &q, what);
        break;
    }
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

/* ---- accessors ---------------------------------------------------------------------- */

size_t sparq_packed_rows(const sparq_packed *packed)
{
    return packed->rows;
}

size_t sparq_packed_cols(const sparq_packed *packed)
{
    return packed->cols;
}

const sparq_pack_options *sparq_packed_format(const sparq_packed *packed)
{
    return &packed->format;
}

size_t sparq_packed_stored_values(const sparq_packed *packed)
{
    return packed->stored;
}

uint64_t sparq_packed_bytes(const sparq_packed *packed)
{
    return packed->bytes;
}

double sparq_packed_bits_per_weight(const sparq_packed *packed)
{
    return (double)packed->bytes * 8.0 / ((double)packed->rows * (double)packed->cols);
}

size_t sparq_packed_array_count(const sparq_packed *packed)
{
    size_t n = 0;
    for (int r = 0; r < SPARQ_PACKED_ROLE_COUNT; r++)
        n += packed->arrays[r].present != 0;
    return n;
}

static void describe(const sparq_packed *packed, int role, sparq_packed_array *array)
{
    array->name = role_names[role];
    array->dtype = packed->arrays[role].dtype;
    array->count = packed->arrays[role].count;
    array->data = packed->arrays[role].data;
}

sparq_status sparq_packed_get_array(const sparq_packed *packed, size_t index,
                                    sparq_packed_array *array)
{
    if (packed == NULL || array == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_get_array: NULL argument");
    size_t n = 0;
    for (int r = 0; r < SPARQ_PACKED_ROLE_COUNT; r++) {
        if (!packed->arrays[r].present)
            continue;
        if (n++ == index) {
            describe(packed, r, array);
            return SPARQ_OK;
        }
    }
    return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                      "packed_get_array: index %zu is past the %zu arrays", index, n);
}

sparq_status sparq_packed_find_array(const sparq_packed *packed, const char *name,
                                     sparq_packed_array *array)
{
    if (packed == NULL || name == NULL || array == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_find_array: NULL argument");
    for (int r = 0; r < SPARQ_PACKED_ROLE_COUNT; r++) {
        if (packed->arrays[r].present && strcmp(name, role_names[r]) == 0) {
            describe(packed, r, array);
            return SPARQ_OK;
        }
    }
    return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                      "packed_find_array: this %s matrix has no array \"%s\"",
                      sparq_structure_name(packed->format.structure), name);
}

sparq_status sparq_packed_unpack(const sparq_packed *packed, float *out)
{
    if (packed == NULL || out == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_unpack: NULL argument");
    sparq_qparams q;
    sparq_packed_qparams(packed, &q);
    const void *values = packed->arrays[SPARQ_PACKED_VALUES].data;
    switch (packed->format.structure) {
    case SPARQ_STRUCTURE_DENSE:
        sparq_dense_load(&q, values, out);
        break;
    case SPARQ_STRUCTURE_CSR:
    case SPARQ_STRUCTURE_BSR:
        memset(out, 0, packed->rows * packed->cols * sizeof *out);
        sparq_unpack_compressed(packed, &q, out);
        break;
    case SPARQ_STRUCTURE_NM:
        memset(out, 0, packed->rows * packed->cols * sizeof *out);
        sparq_unpack_nm(packed, &q, out);
        break;
    }
    return SPARQ_OK;
}
