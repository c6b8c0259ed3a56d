/* SPDX-License-Identifier: Apache-2.0 */
/* packed.c - the sparq_packed object below every structure: the names of formats'
 * parts (encodings, granularities, dtypes, array roles) and the numbers of
 * their spelling, index access, owned arrays and their checks, scales, accessors and
 * freeing.
 */
#include "packed.h"
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[SPARQ_PACKED_ROLE_COUNT] = {
    "row_ptr", "col_idx", "values", "nm_meta", "scales", "zero_points"};

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

const char *sparq_packed_array_name(size_t index)
{
    return index < SPARQ_PACKED_ROLE_COUNT ? role_names[index] : NULL;
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
    case SPARQ_DTYPE_BOOL: return 1;
    case SPARQ_DTYPE_I16: return 2;
    case SPARQ_DTYPE_F8_E4M3: return 1;
    case SPARQ_DTYPE_F8_E5M2: return 1;
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
    case SPARQ_DTYPE_BOOL: return "BOOL";
    case SPARQ_DTYPE_I16: return "I16";
    case SPARQ_DTYPE_F8_E4M3: return "F8_E4M3";
    case SPARQ_DTYPE_F8_E5M2: return "F8_E5M2";
    }
    return "?";
}

bool sparq_format_parse_number(const char *text, char stop, unsigned *out, const char **rest)
{
    char *end = NULL;
    if (*text < '0' || *text > '9')
        return false;
    errno = 0;
    unsigned long v = strtoul(text, &end, 10);
    if (errno != 0 || *end != stop || v > 1024)
        return false;
    *out = (unsigned)v;
    *rest = end;
    return true;
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
    const sparq_packed_buffer *z = &packed->arrays[SPARQ_PACKED_ZERO_POINTS];
    q->zero_points = z->present ? z->data : NULL;
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

void sparq_packed_free(sparq_packed *packed)
{
    if (packed == NULL)
        return;
    for (int r = 0; r < SPARQ_PACKED_ROLE_COUNT; r++)
        free(packed->arrays[r].data);
    free(packed);
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
    char held[96] = "";
    for (int r = 0; r < SPARQ_PACKED_ROLE_COUNT; r++) {
        if (!packed->arrays[r].present)
            continue;
        if (strcmp(name, role_names[r]) == 0) {
            describe(packed, r, array);
            return SPARQ_OK;
        }
        size_t used = strlen(held);
        snprintf(held + used, sizeof held - used, "%s%s", used ? ", " : "", role_names[r]);
    }
    return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                      "packed_find_array: the matrix has no array \"%s\" (it has %s)", name,
                      held);
}

