/* SPDX-License-Identifier: Apache-2.0 */
/* safetensors_write.c - writing safetensors files: a writer that copies tensors and
 * metadata in (into memory, or into an unlinked spool file: sparq_safetensors_writer_spool),
 * then writes the file atomically and deterministically (sorted header, data ordered by
 * element size then name). Reading lives in safetensors.c.
 */
#include "sparq.h"
#include "files.h"
#include "status.h"

#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct st_wtensor {
    char *name;
    sparq_dtype dtype;
    size_t ndim;
    size_t *shape;      /* NULL when ndim is 0                                         */
    void *data;         /* a copy; NULL when bytes is 0 or the bytes are spooled       */
    size_t bytes;
    int spooled;        /* 1: the bytes are in the spool at spool_offset               */
    off_t spool_offset;
} st_wtensor;

struct sparq_safetensors_writer {
    st_wtensor *tensors;
    size_t count;
    size_t capacity;
    json_t *names;      /* name -> index: the uniqueness check, O(1)                   */
    json_t *meta;       /* key -> string                                              */
    int spool_fd;       /* -1, or the unlinked file tensors' bytes go to (writer_spool) */
    off_t spool_size;
};

sparq_status sparq_safetensors_writer_create(sparq_safetensors_writer **writer)
{
    if (!writer) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "safetensors_writer_create: writer is NULL");
    }
    *writer = NULL;
    sparq_safetensors_writer *w = calloc(1, sizeof *w);
    if (!w) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_writer_create: no memory");
    }
    w->spool_fd = -1;
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
    if (writer->spool_fd >= 0) {
        close(writer->spool_fd);
    }
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

/* Checks a tensor for writer_add: an allowed, new name, a known dtype, and a shape
 * whose byte size is bytes, with data present. */
static sparq_status check_new_tensor(const sparq_safetensors_writer *writer, const char *name,
                                     sparq_dtype dtype, size_t ndim, const size_t *shape,
                                     const void *data, size_t bytes)
{
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
    return SPARQ_OK;
}

/* Makes room for one more tensor: 8 first, then doubling. */
static sparq_status reserve_one(sparq_safetensors_writer *writer)
{
    if (writer->count < writer->capacity) {
        return SPARQ_OK;
    }
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
    return SPARQ_OK;
}

sparq_status sparq_safetensors_writer_add(sparq_safetensors_writer *writer, const char *name,
                                          sparq_dtype dtype, size_t ndim, const size_t *shape,
                                          const void *data, size_t bytes)
{
    if (!writer || !name) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_writer_add: %s is NULL",
                          !writer ? "writer" : "name");
    }
    sparq_status st = check_new_tensor(writer, name, dtype, ndim, shape, data, bytes);
    if (st == SPARQ_OK) {
        st = reserve_one(writer);
    }
    if (st != SPARQ_OK) {
        return st;
    }
    st_wtensor t = {0};
    t.dtype = dtype;
    t.ndim = ndim;
    t.bytes = bytes;
    t.name = strdup(name);
    if (ndim > 0) {
        t.shape = malloc(ndim * sizeof *t.shape); /* ndim * 8 cannot overflow: shape exists */
    }
    t.spooled = writer->spool_fd >= 0 && bytes > 0;
    if (bytes > 0 && !t.spooled) {
        t.data = malloc(bytes);
    }
    json_t *index = json_integer((json_int_t)writer->count);
    if (!t.name || (ndim > 0 && !t.shape) || (bytes > 0 && !t.spooled && !t.data) || !index) {
        free(t.name);
        free(t.shape);
        free(t.data);
        json_decref(index);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "safetensors_writer_add: no memory to copy tensor '%s' (%zu bytes)",
                          name, bytes);
    }
    if (t.spooled) {
        /* appended to the spool; a failed append leaves the spool's end where it was */
        t.spool_offset = writer->spool_size;
        int fits = (unsigned long long)bytes <=
                   (unsigned long long)INT64_MAX - (unsigned long long)writer->spool_size;
        if (!fits || lseek(writer->spool_fd, writer->spool_size, SEEK_SET) < 0 ||
            sparq_file_write_all(writer->spool_fd, data, bytes) != 0) {
            int e = fits ? errno : EFBIG;
            free(t.name);
            free(t.shape);
            json_decref(index);
            return sparq_fail(SPARQ_ERROR_IO,
                              "safetensors_writer_add: tensor '%s': writing %zu bytes to the "
                              "spool failed: %s",
                              name, bytes, strerror(e));
        }
    }
    if (json_object_set_new(writer->names, name, index) != 0) {
        free(t.name);
        free(t.shape);
        free(t.data);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "safetensors_writer_add: no memory");
    }
    if (t.spooled) {
        writer->spool_size += (off_t)bytes;
    }
    if (ndim > 0) {
        memcpy(t.shape, shape, ndim * sizeof *t.shape);
    }
    if (bytes > 0 && !t.spooled) {
        memcpy(t.data, data, bytes);
    }
    writer->tensors[writer->count++] = t;
    return SPARQ_OK;
}

sparq_status sparq_safetensors_writer_spool(sparq_safetensors_writer *writer, const char *dir)
{
    if (!writer || !dir || !dir[0]) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "safetensors_writer_spool: %s",
                          !writer ? "writer is NULL" : "dir is NULL or empty");
    }
    if (writer->spool_fd >= 0) {
        return SPARQ_OK;
    }
    int fd = sparq_file_spool_create(dir, "safetensors_writer_spool:");
    if (fd < 0) {
        return SPARQ_ERROR_IO;
    }
    writer->spool_fd = fd;
    writer->spool_size = 0;
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
            json_int_t end = (json_int_t)(offset + t->bytes);
            bad = json_array_append_new(offsets, json_integer((json_int_t)offset)) != 0 ||
                  json_array_append_new(offsets, json_integer(end)) != 0 ||
                  json_object_set_new(entry, "dtype",
                                      json_string(sparq_dtype_name(t->dtype))) != 0;
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
        pieces[0] = (sparq_file_piece){.data = prefix, .size = 8};
        pieces[1] = (sparq_file_piece){.data = header, .size = len};
        pieces[2] = (sparq_file_piece){.data = spaces, .size = padded - len};
        for (size_t i = 0; i < count; i++) {
            const st_wtensor *t = order[i];
            pieces[3 + i] = (sparq_file_piece){.data = t->data, .size = t->bytes,
                                               .from_fd = t->spooled, .fd = writer->spool_fd,
                                               .offset = t->spool_offset};
        }
        st = sparq_file_write_pieces(path, 0666, pieces, count + 3, "safetensors");
    }
    free(header);
    free(pieces);
    free(order);
    return st;
}
