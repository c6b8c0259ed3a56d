/* SPDX-License-Identifier: Apache-2.0 */
/* safetensors.c - reading safetensors files (validated, memory-mapped, or a borrowed
 * buffer) and conversion of their tensors to float (F16 through formats/f16.c).
 * Writing lives in safetensors_write.c; packed matrices stored as tensor sets in packed_io.c.
 */
#include "sparq.h"
#include "f16.h"
#include "quantize.h"
#include "status.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
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
    for (int d = 0; d <= (int)SPARQ_DTYPE_F8_E5M2; d++) {
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

/* Validates a tensor's shape array into t->ndim, t->shape and t->count. */
static sparq_status parse_shape(const char *what, json_t *shape, st_tensor *t)
{
    const char *name = t->name;
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
    /* the product of the nonzero extents must fit, wherever a zero stands */
    size_t count = 1, nonzero = 1;
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
        if (extent != 0 && nonzero > SIZE_MAX / extent) {
            overflow = 1; /* keep going: a zero extent does not rescue it */
        }
        nonzero *= extent != 0 ? extent : 1;
        count *= extent;
    }
    if (overflow) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': the product of the shape overflows "
                          "size_t",
                          what, name);
    }
    t->count = count;
    return SPARQ_OK;
}

/* Validates a tensor's data_offsets into t->begin and t->end: in order, inside the data
 * section of data_size bytes, and exactly the bytes of t->count elements of t->dtype. */
static sparq_status parse_offsets(const char *what, json_t *offsets, size_t data_size,
                                  st_tensor *t)
{
    const char *name = t->name;
    size_t elem = sparq_dtype_size(t->dtype);
    if (t->count > SIZE_MAX / elem) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "safetensors %s: tensor '%s': %zu elements of %s overflow size_t "
                          "bytes",
                          what, name, t->count, sparq_dtype_name(t->dtype));
    }
    size_t need = t->count * elem;
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
                          what, name, t->end - t->begin, t->count, sparq_dtype_name(t->dtype),
                          need);
    }
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
    sparq_status st = parse_shape(what, shape, t);
    if (st != SPARQ_OK) {
        return st;
    }
    return parse_offsets(what, offsets, data_size, t);
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
    /* non-blocking: a FIFO must not hang the open before fstat refuses it */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
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

void sparq_safetensors_evict(const sparq_safetensors *file,
                            const sparq_safetensors_tensor_info *info)
{
    if (!file || !file->map || !info || !info->data || info->bytes == 0) {
        return; /* nothing mapped: a borrowed buffer is the caller's */
    }
    const unsigned char *map = file->map;
    const unsigned char *begin = info->data, *end = begin + info->bytes;
    if (begin < map || end > map + file->map_size) {
        return; /* not this file's tensor */
    }
    long page_size = sysconf(_SC_PAGESIZE);
    size_t page = page_size > 0 ? (size_t)page_size : 4096;
    /* whole pages inside the tensor only: its neighbours' bytes stay where they are */
    uintptr_t lo = ((uintptr_t)begin + page - 1) / page * page;
    uintptr_t hi = (uintptr_t)end / page * page;
    if (hi > lo) {
        /* a read-only private mapping never holds changes: the pages are dropped and read
         * back from the file if touched again */
        (void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
    }
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

/* OCP FP8 E4M3 ("fn": no infinities; S.1111.111 is NaN): bias 7, subnormals m/8 2^-6. */
static inline float f8_e4m3_value(unsigned char b)
{
    int exponent = (b >> 3) & 0xF, mantissa = b & 7;
    float sign = (b & 0x80) ? -1.0f : 1.0f;
    if (exponent == 0xF && mantissa == 7)
        return NAN;
    if (exponent == 0)
        return sign * ldexpf((float)mantissa, -9);
    return sign * ldexpf((float)(8 + mantissa), exponent - 10);
}

/* OCP FP8 E5M2 (IEEE-like): bias 15, exponent 31 infinity or NaN, subnormals m/4 2^-14. */
static inline float f8_e5m2_value(unsigned char b)
{
    int exponent = (b >> 2) & 0x1F, mantissa = b & 3;
    float sign = (b & 0x80) ? -1.0f : 1.0f;
    if (exponent == 0x1F)
        return mantissa ? NAN : sign * INFINITY;
    if (exponent == 0)
        return sign * ldexpf((float)mantissa, -16);
    return sign * ldexpf((float)(4 + mantissa), exponent - 17);
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
        case SPARQ_DTYPE_F16: out[i] = sparq_f16_value(load_u16(e)); break;
        case SPARQ_DTYPE_BF16: out[i] = bits_to_float((uint32_t)load_u16(e) << 16); break;
        case SPARQ_DTYPE_I8: out[i] = (float)(int8_t)e[0]; break;
        case SPARQ_DTYPE_U8: out[i] = (float)e[0]; break;
        case SPARQ_DTYPE_I32: out[i] = (float)(int32_t)load_u32(e); break;
        case SPARQ_DTYPE_I64: out[i] = (float)(int64_t)load_u64(e); break;
        case SPARQ_DTYPE_F64: out[i] = (float)bits_to_double(load_u64(e)); break;
        case SPARQ_DTYPE_U16: out[i] = (float)load_u16(e); break;
        case SPARQ_DTYPE_U32: out[i] = (float)load_u32(e); break;
        case SPARQ_DTYPE_U64: out[i] = (float)load_u64(e); break;
        case SPARQ_DTYPE_BOOL: out[i] = e[0] ? 1.0f : 0.0f; break;
        case SPARQ_DTYPE_I16: out[i] = (float)(int16_t)load_u16(e); break;
        case SPARQ_DTYPE_F8_E4M3: out[i] = f8_e4m3_value(e[0]); break;
        case SPARQ_DTYPE_F8_E5M2: out[i] = f8_e5m2_value(e[0]); break;
        }
    }
    return SPARQ_OK;
}
