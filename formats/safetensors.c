/* safetensors.c - reading (validated, memory-mapped) and writing (atomic, deterministic)
 * safetensors files, and conversion of their tensors to float.
 * Packed matrices stored as tensor sets live in packed_io.c.
 */
#include "sparq.h"
#include "files.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ------------------------------------------------------------------------------------
 * dtypes
 * ---------------------------------------------------------------------------------- */

/* Returns 1 and sets *dtype when name is one of the supported dtype names. */
static int dtype_from_name(const char *name, sparq_dtype *dtype)
{
    for (int d = 0; d <= (int)SPARQ_DTYPE_F64; d++) {
        if (strcmp(name, sparq_dtype_name((sparq_dtype)d)) == 0) {
            *dtype = (sparq_dtype)d;
            return 1;
        }
    }
    return 0;
}

/* ------------------------------------------------------------------------------------
 * Reading
 * ---------------------------------------------------------------------------------- */

typedef struct st_tensor {
    const char *name;   /* a key of the header object (owned by root)                 */
    sparq_dtype dtype;
    size_t ndim;
    size_t *shape;      /* malloc'ed, NULL when ndim is 0                             */
    size_t count;
    size_t begin;       /* offsets into the data section                              */
    size_t end;
} st_tensor;

typedef struct st_meta {
    const char *key;    /* owned by root                                              */
    const char *value;
} st_meta;

struct sparq_safetensors {
    void *map;          /* the mmap of a file, NULL for a borrowed buffer             */
    size_t map_size;
    const unsigned char *data; /* the data section                                    */
    size_t data_size;
    json_t *root;       /* the parsed header; owns names, keys and values             */
    st_tensor *tensors; /* sorted by name                                             */
    size_t count;
    st_meta *meta;      /* sorted by key                                              */
    size_t meta_count;
};

void sparq_safetensors_close(sparq_safetensors *file)
{
    if (!file) {
        return;
    }
    for (size_t i = 0; i < file->count; i++) {
        free(file->tensors[i].shape);
    }
    free(file->tensors);
    free(file->meta);
    if (file->root) {
        json_decref(file->root);
    }
    if (file->map) {
        munmap(file->map, file->map_size);
    }
    free(file);
}

static int compare_tensor_names(const void *a, const void *b)
{
    return strcmp(((const st_tensor *)a)->name, ((const st_tensor *)b)->name);
}

static int compare_meta_keys(const void *a, const void *b)
{
    return strcmp(((const st_meta *)a)->key, ((const st_meta *)b)->key);
}

/* Orders tensor pointers by (begin, end), for the overlap check. */
static int compare_tensor_offsets(const void *a, const void *b)
{
    const st_tensor *x = *(const st_tensor *const *)a;
    const st_tensor *y = *(const st_tensor *const *)b;
    if (x->begin != y->begin) {
        return x->begin < y->begin ? -1 : 1;
    }
    if (x->end != y->end) {
        return x->end < y->end ? -1 : 1;
    }
    return 0;
}

/* Reads a JSON integer that must be >= 0 into *out; returns 0 when it is not one. */
static int json_to_size(const json_t *value, size_t *out)
{
    if (!json_is_integer(value)) {
        return 0;
    }
    json_int_t v = json_integer_value(value);
    if (v < 0 || (unsigned long long)v > SIZE_MAX) {
        return 0;
    }
    *out = (size_t)v;
    return 1;
}

static sparq_status parse_metadata(sparq_safetensors *file, const char *what, json_t *meta)
{
    if (!json_is_object(meta)) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: __metadata__ is not an object", what);
    }
    size_t n = json_object_size(meta);
    if (n == 0) {
        return SPARQ_OK;
    }
    file->meta = calloc(n, sizeof *file->meta);
    if (!file->meta) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "safetensors %s: no memory for %zu metadata entries", what, n);
    }
    const char *key;
    json_t *value;
    json_object_foreach(meta, key, value) {
        if (!json_is_string(value)) {
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "safetensors %s: __metadata__ value for key '%s' is not a string",
                              what, key);
        }
        file->meta[file->meta_count].key = key;
        file->meta[file->meta_count].value = json_string_value(value);
        file->meta_count++;
    }
    qsort(file->meta, file->meta_count, sizeof *file->meta, compare_meta_keys);
    return SPARQ_OK;
}

/* Validates one header entry into *t. */
static sparq_status parse_tensor(const char *what, const char *name, json_t *entry,
                                 size_t data_size, st_tensor *t)
{
    t->name = name;
    if (!json_is_object(entry)) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': entry is not an object", what, name);
    }
    json_t *dtype = json_object_get(entry, "dtype");
    json_t *shape = json_object_get(entry, "shape");
    json_t *offsets = json_object_get(entry, "data_offsets");
    if (!dtype || !shape || !offsets) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': missing field \"%s\"", what, name,
                          !dtype ? "dtype" : !shape ? "shape" : "data_offsets");
    }
    if (!json_is_string(dtype)) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': dtype is not a string", what, name);
    }
    if (!dtype_from_name(json_string_value(dtype), &t->dtype)) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': unknown dtype \"%s\" (supported: F32, "
                          "F16, BF16, F64, I8, U8, U16, I32, U32, I64, U64)",
                          what, name, json_string_value(dtype));
    }
    if (!json_is_array(shape)) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': shape is not an array", what, name);
    }
    t->ndim = json_array_size(shape);
    if (t->ndim > 0) {
        t->shape = calloc(t->ndim, sizeof *t->shape);
        if (!t->shape) {
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                              "safetensors %s: tensor '%s': no memory for %zu dimensions",
                              what, name, t->ndim);
        }
    }
    size_t count = 1;
    int overflow = 0;
    for (size_t d = 0; d < t->ndim; d++) {
        json_t *dim = json_array_get(shape, d);
        if (!json_is_integer(dim)) {
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "safetensors %s: tensor '%s': shape[%zu] is not an integer",
                              what, name, d);
        }
        if (json_integer_value(dim) < 0) {
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "safetensors %s: tensor '%s': shape[%zu] = %lld is negative",
                              what, name, d, (long long)json_integer_value(dim));
        }
        if (!json_to_size(dim, &t->shape[d])) {
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "safetensors %s: tensor '%s': shape[%zu] does not fit in size_t",
                              what, name, d);
        }
        size_t extent = t->shape[d];
        if (extent != 0 && count > SIZE_MAX / extent) {
            overflow = 1; /* keep going: a later zero extent does not rescue it */
        }
        count *= extent;
    }
    if (overflow) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': the product of the shape overflows "
                          "size_t",
                          what, name);
    }
    t->count = count;
    size_t elem = sparq_dtype_size(t->dtype);
    if (count > SIZE_MAX / elem) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': %zu elements of %s overflow size_t "
                          "bytes",
                          what, name, count, sparq_dtype_name(t->dtype));
    }
    size_t need = count * elem;
    if (!json_is_array(offsets) || json_array_size(offsets) != 2) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': data_offsets is not an array of two "
                          "integers",
                          what, name);
    }
    if (!json_to_size(json_array_get(offsets, 0), &t->begin) ||
        !json_to_size(json_array_get(offsets, 1), &t->end)) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': data_offsets are not two non-negative "
                          "integers",
                          what, name);
    }
    if (t->end < t->begin) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': data_offsets [%zu, %zu] end before "
                          "begin",
                          what, name, t->begin, t->end);
    }
    if (t->end > data_size) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': data_offsets [%zu, %zu] out of range: "
                          "the data section has %zu bytes",
                          what, name, t->begin, t->end, data_size);
    }
    if (t->end - t->begin != need) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': data_offsets give %zu bytes but %zu "
                          "elements of %s need %zu",
                          what, name, t->end - t->begin, count, sparq_dtype_name(t->dtype),
                          need);
    }
    return SPARQ_OK;
}

static sparq_status check_overlaps(const sparq_safetensors *file, const char *what)
{
    if (file->count < 2) {
        return SPARQ_OK;
    }
    const st_tensor **order = calloc(file->count, sizeof *order);
    if (!order) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors %s: no memory", what);
    }
    size_t n = 0;
    for (size_t i = 0; i < file->count; i++) {
        if (file->tensors[i].end > file->tensors[i].begin) {
            order[n++] = &file->tensors[i];
        }
    }
    qsort(order, n, sizeof *order, compare_tensor_offsets);
    sparq_status st = SPARQ_OK;
    for (size_t i = 1; i < n; i++) {
        /* sorted by begin: the previous tensor has the largest end of those before */
        if (order[i]->begin < order[i - 1]->end) {
            st = sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                            "safetensors %s: tensors '%s' [%zu, %zu) and '%s' [%zu, %zu) "
                            "overlap",
                            what, order[i - 1]->name, order[i - 1]->begin, order[i - 1]->end,
                            order[i]->name, order[i]->begin, order[i]->end);
            break;
        }
    }
    free(order);
    return st;
}

/* Parses and validates size bytes at base into file (whose map fields are set). */
static sparq_status parse(sparq_safetensors *file, const char *what, const unsigned char *base,
                          size_t size)
{
    if (size < 8) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: %zu bytes is shorter than the 8-byte header length",
                          what, size);
    }
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--) {
        header_len = (header_len << 8) | base[i];
    }
    if (header_len > SPARQ_SAFETENSORS_MAX_HEADER_BYTES) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: header length %llu exceeds the limit of %u bytes",
                          what, (unsigned long long)header_len,
                          SPARQ_SAFETENSORS_MAX_HEADER_BYTES);
    }
    if (header_len > size - 8) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: header length %llu goes beyond the end of the file "
                          "(%zu bytes follow the length)",
                          what, (unsigned long long)header_len, size - 8);
    }
    file->data = base + 8 + header_len;
    file->data_size = size - 8 - (size_t)header_len;

    json_error_t error;
    file->root = json_loadb((const char *)base + 8, (size_t)header_len,
                            JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &error);
    if (!file->root) {
        enum json_error_code code = json_error_code(&error);
        if (code == json_error_out_of_memory) {
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                              "safetensors %s: no memory to parse the header", what);
        }
        if (code == json_error_duplicate_key) {
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "safetensors %s: duplicate name in the header (%s, at byte %d)",
                              what, error.text, error.position);
        }
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: header is not valid JSON: %s (line %d, column %d)",
                          what, error.text, error.line, error.column);
    }
    if (!json_is_object(file->root)) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: header is not a JSON object", what);
    }
    size_t entries = json_object_size(file->root);
    if (entries > 0) {
        file->tensors = calloc(entries, sizeof *file->tensors);
        if (!file->tensors) {
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                              "safetensors %s: no memory for %zu tensors", what, entries);
        }
    }
    const char *name;
    json_t *entry;
    json_object_foreach(file->root, name, entry) {
        if (strcmp(name, "__metadata__") == 0) {
            sparq_status st = parse_metadata(file, what, entry);
            if (st != SPARQ_OK) {
                return st;
            }
            continue;
        }
        /* counted before parsing, so that close() frees a half-parsed shape */
        st_tensor *t = &file->tensors[file->count++];
        sparq_status st = parse_tensor(what, name, entry, file->data_size, t);
        if (st != SPARQ_OK) {
            return st;
        }
    }
    if (file->count > 1) {
        qsort(file->tensors, file->count, sizeof *file->tensors, compare_tensor_names);
    }
    return check_overlaps(file, what);
}

sparq_status sparq_safetensors_open_memory(const void *data, size_t size,
                                           sparq_safetensors **file)
{
    if (!file) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_open_memory: file is NULL");
    }
    *file = NULL;
    if (!data && size > 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_open_memory: data is NULL but size is %zu", size);
    }
    sparq_safetensors *f = calloc(1, sizeof *f);
    if (!f) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_open_memory: no memory");
    }
    sparq_status st = parse(f, "buffer", data, size);
    if (st != SPARQ_OK) {
        sparq_safetensors_close(f);
        return st;
    }
    *file = f;
    return SPARQ_OK;
}

sparq_status sparq_safetensors_open(const char *path, sparq_safetensors **file)
{
    if (!file || !path) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_open: %s is NULL",
                          !file ? "file" : "path");
    }
    *file = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return sparq_fail(SPARQ_ERROR_IO, "safetensors %s: cannot open: %s", path,
                          strerror(errno));
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return sparq_fail(SPARQ_ERROR_IO, "safetensors %s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        close(fd);
        return sparq_fail(SPARQ_ERROR_IO, "safetensors %s: not a regular file", path);
    }
    if (sb.st_size < 0 || (unsigned long long)sb.st_size > SIZE_MAX) {
        close(fd);
        return sparq_fail(SPARQ_ERROR_IO, "safetensors %s: file size does not fit in memory",
                          path);
    }
    size_t size = (size_t)sb.st_size;
    sparq_safetensors *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors %s: no memory", path);
    }
    if (size > 0) { /* mmap refuses length 0; parse() reports the short file */
        void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            free(f);
            return sparq_fail(SPARQ_ERROR_IO, "safetensors %s: cannot map %zu bytes: %s", path,
                              size, strerror(e));
        }
        f->map = map;
        f->map_size = size;
    }
    close(fd);
    sparq_status st = parse(f, path, f->map, size);
    if (st != SPARQ_OK) {
        sparq_safetensors_close(f);
        return st;
    }
    *file = f;
    return SPARQ_OK;
}

size_t sparq_safetensors_count(const sparq_safetensors *file)
{
    return file ? file->count : 0;
}

static void fill_info(const sparq_safetensors *file, const st_tensor *t,
                      sparq_safetensors_tensor_info *info)
{
    info->name = t->name;
    info->dtype = t->dtype;
    info->ndim = t->ndim;
    info->shape = t->shape;
    info->count = t->count;
    info->data = file->data + t->begin;
    info->bytes = t->end - t->begin;
}

sparq_status sparq_safetensors_tensor(const sparq_safetensors *file, size_t index,
                                      sparq_safetensors_tensor_info *info)
{
    if (!file || !info) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_tensor: %s is NULL",
                          !file ? "file" : "info");
    }
    if (index >= file->count) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_BOUNDS,
                          "safetensors_tensor: index %zu but the file has %zu tensors", index,
                          file->count);
    }
    fill_info(file, &file->tensors[index], info);
    return SPARQ_OK;
}

sparq_status sparq_safetensors_find(const sparq_safetensors *file, const char *name,
                                    sparq_safetensors_tensor_info *info)
{
    if (!file || !name || !info) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_find: %s is NULL",
                          !file ? "file" : !name ? "name" : "info");
    }
    st_tensor key = {0};
    key.name = name;
    const st_tensor *t = NULL;
    if (file->count > 0) {
        t = bsearch(&key, file->tensors, file->count, sizeof *file->tensors,
                    compare_tensor_names);
    }
    if (!t) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors: no tensor named '%s'",
                          name);
    }
    fill_info(file, t, info);
    return SPARQ_OK;
}

const char *sparq_safetensors_metadata(const sparq_safetensors *file, const char *key)
{
    if (!file || !key || file->meta_count == 0) {
        return NULL;
    }
    st_meta probe = {key, NULL};
    const st_meta *m =
        bsearch(&probe, file->meta, file->meta_count, sizeof *file->meta, compare_meta_keys);
    return m ? m->value : NULL;
}

size_t sparq_safetensors_metadata_count(const sparq_safetensors *file)
{
    return file ? file->meta_count : 0;
}

sparq_status sparq_safetensors_metadata_entry(const sparq_safetensors *file, size_t index,
                                              const char **key, const char **value)
{
    if (!file || !key || !value) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_metadata_entry: %s is NULL",
                          !file ? "file" : !key ? "key" : "value");
    }
    if (index >= file->meta_count) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_BOUNDS,
                          "safetensors_metadata_entry: index %zu but there are %zu entries",
                          index, file->meta_count);
    }
    *key = file->meta[index].key;
    *value = file->meta[index].value;
    return SPARQ_OK;
}

/* ------------------------------------------------------------------------------------
 * Conversion to float
 * ---------------------------------------------------------------------------------- */

static float bits_to_float(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static double bits_to_double(uint64_t bits)
{
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

/* IEEE binary16 -> binary32, exact for every input (NaN payloads kept). */
static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exponent = (h >> 10) & 0x1Fu;
    uint32_t mantissa = h & 0x3FFu;
    if (exponent == 0x1F) { /* infinity or NaN */
        return bits_to_float(sign | 0x7F800000u | (mantissa << 13));
    }
    if (exponent == 0) {
        if (mantissa == 0) {
            return bits_to_float(sign);
        }
        /* subnormal: mantissa * 2^-24, exact in float */
        float magnitude = (float)mantissa * 0x1p-24f;
        return sign ? -magnitude : magnitude;
    }
    return bits_to_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

static uint16_t load_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t load_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
           ((uint32_t)p[3] << 24);
}

static uint64_t load_u64(const unsigned char *p)
{
    return (uint64_t)load_u32(p) | ((uint64_t)load_u32(p + 4) << 32);
}

sparq_status sparq_safetensors_to_f32(const sparq_safetensors_tensor_info *info, float *out,
                                      size_t count)
{
    if (!info || (!out && count > 0)) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_to_f32: %s is NULL",
                          !info ? "info" : "out");
    }
    size_t elem = sparq_dtype_size(info->dtype);
    if (elem == 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_to_f32: tensor '%s' has dtype value %d outside the enum",
                          info->name ? info->name : "", (int)info->dtype);
    }
    if (count != info->count) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_to_f32: tensor '%s' has %zu elements, not %zu",
                          info->name ? info->name : "", info->count, count);
    }
    if (count > SIZE_MAX / elem || count * elem != info->bytes || (!info->data && count > 0)) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_to_f32: tensor '%s': %zu bytes do not hold %zu elements "
                          "of %s",
                          info->name ? info->name : "", info->bytes, count,
                          sparq_dtype_name(info->dtype));
    }
    const unsigned char *p = info->data;
    for (size_t i = 0; i < count; i++) {
        const unsigned char *e = p + i * elem;
        switch ((int)info->dtype) {
        case SPARQ_DTYPE_F32: out[i] = bits_to_float(load_u32(e)); break;
        case SPARQ_DTYPE_F16: out[i] = half_to_float(load_u16(e)); break;
        case SPARQ_DTYPE_BF16: out[i] = bits_to_float((uint32_t)load_u16(e) << 16); break;
        case SPARQ_DTYPE_I8: out[i] = (float)(int8_t)e[0]; break;
        case SPARQ_DTYPE_U8: out[i] = (float)e[0]; break;
        case SPARQ_DTYPE_I32: out[i] = (float)(int32_t)load_u32(e); break;
        case SPARQ_DTYPE_I64: out[i] = (float)(int64_t)load_u64(e); break;
        case SPARQ_DTYPE_F64: out[i] = (float)bits_to_double(load_u64(e)); break;
        case SPARQ_DTYPE_U16: out[i] = (float)load_u16(e); break;
        case SPARQ_DTYPE_U32: out[i] = (float)load_u32(e); break;
        case SPARQ_DTYPE_U64: out[i] = (float)load_u64(e); break;
        }
    }
    return SPARQ_OK;
}

/* ------------------------------------------------------------------------------------
 * Writing
 * ---------------------------------------------------------------------------------- */

typedef struct st_wtensor {
    char *name;
    sparq_dtype dtype;
    size_t ndim;
    size_t *shape;      /* NULL when ndim is 0                                         */
    void *data;         /* a copy; NULL when bytes is 0                                */
    size_t bytes;
} st_wtensor;

struct sparq_safetensors_writer {
    st_wtensor *tensors;
    size_t count;
    size_t capacity;
    json_t *names;      /* name -> index: the uniqueness check, O(1)                   */
    json_t *meta;       /* key -> string                                              */
};

sparq_status sparq_safetensors_writer_create(sparq_safetensors_writer **writer)
{
    if (!writer) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_writer_create: writer is NULL");
    }
    *writer = NULL;
    sparq_safetensors_writer *w = calloc(1, sizeof *w);
    if (!w) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_writer_create: no memory");
    }
    w->names = json_object();
    w->meta = json_object();
    if (!w->names || !w->meta) {
        sparq_safetensors_writer_free(w);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_writer_create: no memory");
    }
    *writer = w;
    return SPARQ_OK;
}

void sparq_safetensors_writer_free(sparq_safetensors_writer *writer)
{
    if (!writer) {
        return;
    }
    for (size_t i = 0; i < writer->count; i++) {
        free(writer->tensors[i].name);
        free(writer->tensors[i].shape);
        free(writer->tensors[i].data);
    }
    free(writer->tensors);
    if (writer->names) {
        json_decref(writer->names);
    }
    if (writer->meta) {
        json_decref(writer->meta);
    }
    free(writer);
}

/* Returns 1 when the NUL-terminated s is valid UTF-8 (no overlongs, no surrogates). */
static int is_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        unsigned c = *p;
        size_t extra;
        unsigned min;
        if (c < 0x80) {
            p++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            extra = 1, min = 0x80, c &= 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            extra = 2, min = 0x800, c &= 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            extra = 3, min = 0x10000, c &= 0x07;
        } else {
            return 0;
        }
        for (size_t i = 1; i <= extra; i++) {
            if ((p[i] & 0xC0) != 0x80) {
                return 0; /* also stops at the terminating NUL */
            }
            c = (c << 6) | (p[i] & 0x3F);
        }
        if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
            return 0;
        }
        p += extra + 1;
    }
    return 1;
}

sparq_status sparq_safetensors_writer_add(sparq_safetensors_writer *writer, const char *name,
                                          sparq_dtype dtype, size_t ndim, const size_t *shape,
                                          const void *data, size_t bytes)
{
    if (!writer || !name) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_writer_add: %s is NULL",
                          !writer ? "writer" : "name");
    }
    if (name[0] == '\0' || strcmp(name, "__metadata__") == 0 || !is_utf8(name)) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_add: tensor name '%s' is not allowed (empty, "
                          "\"__metadata__\" or not UTF-8)",
                          name);
    }
    if (json_object_get(writer->names, name)) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_add: duplicate name '%s'", name);
    }
    size_t elem = sparq_dtype_size(dtype);
    if (elem == 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_add: tensor '%s': dtype value %d is not a "
                          "sparq_dtype",
                          name, (int)dtype);
    }
    if (ndim > 0 && !shape) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_add: tensor '%s': shape is NULL with ndim %zu",
                          name, ndim);
    }
    size_t count = 1;
    int overflow = 0;
    for (size_t d = 0; d < ndim; d++) {
        if ((unsigned long long)shape[d] > (unsigned long long)INT64_MAX) {
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "safetensors_writer_add: tensor '%s': shape[%zu] = %zu is too "
                              "large",
                              name, d, shape[d]);
        }
        if (shape[d] != 0 && count > SIZE_MAX / shape[d]) {
            overflow = 1;
        }
        count *= shape[d];
    }
    if (overflow || count > SIZE_MAX / elem) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_add: tensor '%s': the shape's byte size "
                          "overflows size_t",
                          name);
    }
    if (count * elem != bytes) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_add: tensor '%s': %zu elements of %s need %zu "
                          "bytes, got %zu",
                          name, count, sparq_dtype_name(dtype), count * elem, bytes);
    }
    if (bytes > 0 && !data) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_add: tensor '%s': data is NULL", name);
    }
    if (writer->count == writer->capacity) {
        size_t cap = writer->capacity ? writer->capacity : 8;
        if (writer->capacity > 0) {
            if (cap > SIZE_MAX / 2 / sizeof *writer->tensors) {
                return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                                  "safetensors_writer_add: too many tensors");
            }
            cap *= 2;
        }
        st_wtensor *grown = realloc(writer->tensors, cap * sizeof *grown);
        if (!grown) {
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                              "safetensors_writer_add: no memory for %zu tensors", cap);
        }
        writer->tensors = grown;
        writer->capacity = cap;
    }
    st_wtensor t = {0};
    t.dtype = dtype;
    t.ndim = ndim;
    t.bytes = bytes;
    t.name = strdup(name);
    if (ndim > 0) {
        t.shape = malloc(ndim * sizeof *t.shape); /* ndim * 8 cannot overflow: shape exists */
    }
    if (bytes > 0) {
        t.data = malloc(bytes);
    }
    json_t *index = json_integer((json_int_t)writer->count);
    if (!t.name || (ndim > 0 && !t.shape) || (bytes > 0 && !t.data) || !index ||
        json_object_set_new(writer->names, name, index) != 0) {
        free(t.name);
        free(t.shape);
        free(t.data);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "safetensors_writer_add: no memory to copy tensor '%s' (%zu bytes)",
                          name, bytes);
    }
    if (ndim > 0) {
        memcpy(t.shape, shape, ndim * sizeof *t.shape);
    }
    if (bytes > 0) {
        memcpy(t.data, data, bytes);
    }
    writer->tensors[writer->count++] = t;
    return SPARQ_OK;
}

sparq_status sparq_safetensors_writer_set_metadata(sparq_safetensors_writer *writer,
                                                   const char *key, const char *value)
{
    if (!writer || !key || !value) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_set_metadata: %s is NULL",
                          !writer ? "writer" : !key ? "key" : "value");
    }
    if (!is_utf8(key) || !is_utf8(value)) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_set_metadata: key or value of '%s' is not UTF-8",
                          key);
    }
    json_t *s = json_string(value);
    if (!s || json_object_set_new(writer->meta, key, s) != 0) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "safetensors_writer_set_metadata: no memory for '%s'", key);
    }
    return SPARQ_OK;
}

/* Data order: larger elements first (so each tensor is aligned to its element size when
 * the data section starts 8-aligned), then by name. */
static int compare_write_order(const void *a, const void *b)
{
    const st_wtensor *x = *(const st_wtensor *const *)a;
    const st_wtensor *y = *(const st_wtensor *const *)b;
    size_t sx = sparq_dtype_size(x->dtype);
    size_t sy = sparq_dtype_size(y->dtype);
    if (sx != sy) {
        return sx > sy ? -1 : 1;
    }
    return strcmp(x->name, y->name);
}

/* Builds the JSON header for tensors in the given data order. *text is malloc'ed. */
static sparq_status build_header(const sparq_safetensors_writer *w, st_wtensor **order,
                                 char **text)
{
    *text = NULL;
    json_t *root = json_object();
    if (!root) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_writer_write: no memory");
    }
    size_t offset = 0;
    for (size_t i = 0; i < w->count; i++) {
        const st_wtensor *t = order[i];
        if (t->bytes > SIZE_MAX - offset || offset + t->bytes > (size_t)INT64_MAX) {
            json_decref(root);
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "safetensors_writer_write: the data section exceeds 2^63 bytes");
        }
        json_t *entry = json_object();
        json_t *shape = json_array();
        json_t *offsets = json_array();
        int bad = !entry || !shape || !offsets;
        for (size_t d = 0; !bad && d < t->ndim; d++) {
            bad = json_array_append_new(shape, json_integer((json_int_t)t->shape[d])) != 0;
        }
        if (!bad) {
            bad = json_array_append_new(offsets, json_integer((json_int_t)offset)) != 0 ||
                  json_array_append_new(offsets, json_integer((json_int_t)(offset + t->bytes))) != 0 ||
                  json_object_set_new(entry, "dtype", json_string(sparq_dtype_name(t->dtype))) != 0;
        }
        /* the _new setters take the reference even when they fail */
        if (!bad) {
            bad = json_object_set_new(entry, "shape", shape) != 0;
            shape = NULL;
        }
        if (!bad) {
            bad = json_object_set_new(entry, "data_offsets", offsets) != 0;
            offsets = NULL;
        }
        if (!bad) {
            bad = json_object_set_new(root, t->name, entry) != 0;
            entry = NULL;
        }
        if (bad) {
            json_decref(shape);
            json_decref(offsets);
            json_decref(entry);
            json_decref(root);
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_writer_write: no memory");
        }
        offset += t->bytes;
    }
    if (json_object_size(w->meta) > 0 && json_object_set(root, "__metadata__", w->meta) != 0) {
        json_decref(root);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_writer_write: no memory");
    }
    *text = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(root);
    if (!*text) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_writer_write: no memory");
    }
    return SPARQ_OK;
}

sparq_status sparq_safetensors_writer_write(const sparq_safetensors_writer *writer,
                                            const char *path)
{
    if (!writer || !path || !path[0]) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_writer_write: %s",
                          !writer ? "writer is NULL" : "path is NULL or empty");
    }
    /* the file as pieces: size prefix, header, padding, then each tensor's bytes in
     * order (written straight from the writer's copies, never gathered in one buffer) */
    size_t count = writer->count;
    st_wtensor **order = malloc((count ? count : 1) * sizeof *order);
    sparq_file_piece *pieces = count < SIZE_MAX / sizeof *pieces - 3
                                   ? malloc((count + 3) * sizeof *pieces)
                                   : NULL;
    if (!order || !pieces) {
        free(order);
        free(pieces);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_writer_write: no memory");
    }
    for (size_t i = 0; i < count; i++) {
        order[i] = &writer->tensors[i];
    }
    qsort(order, count, sizeof *order, compare_write_order);

    char *header = NULL;
    sparq_status st = build_header(writer, order, &header);
    if (st == SPARQ_OK) {
        size_t len = strlen(header);
        size_t padded = len + (8 - len % 8) % 8; /* len < 2^63: no overflow */
        unsigned char prefix[8];
        for (int i = 0; i < 8; i++) {
            prefix[i] = (unsigned char)(((uint64_t)padded >> (8 * i)) & 0xFF);
        }
        static const char spaces[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
        pieces[0] = (sparq_file_piece){prefix, 8};
        pieces[1] = (sparq_file_piece){header, len};
        pieces[2] = (sparq_file_piece){spaces, padded - len};
        for (size_t i = 0; i < count; i++) {
            pieces[3 + i] = (sparq_file_piece){order[i]->data, order[i]->bytes};
        }
        st = sparq_file_write_pieces(path, pieces, count + 3, "safetensors");
    }
    free(header);
    free(pieces);
    free(order);
    return st;
}
