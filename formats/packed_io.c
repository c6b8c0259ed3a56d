/* SPDX-License-Identifier: Apache-2.0 */
/* packed_io.c - packed matrices as safetensors tensor sets: NAME.<array> tensors plus
 * NAME.* __metadata__ entries (format, shape, version, CRC-32 per array); saving to a
 * writer, loading (CRC-checked, rebuilt by the validating sparq_packed_from_arrays) and
 * listing a file's matrices from their metadata (sparq_packed_list).
 */
#include "sparq.h"
#include "status.h"
#include "packed.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The format words of the metadata are the public names, looked up by index. */
static const char *structure_word(unsigned i)
{
    return sparq_structure_name((sparq_structure)i);
}

static const char *encoding_word(unsigned i)
{
    return sparq_encoding_name((sparq_encoding)i);
}

static const char *granularity_word(unsigned i)
{
    return sparq_scale_granularity_name((sparq_scale_granularity)i);
}

/* Longest "NAME.suffix" we build; suffixes are short fixed words. */
#define KEY_SUFFIX_MAX 40

static uint32_t crc_of(const void *data, size_t bytes)
{
    uLong crc = crc32_z(0L, Z_NULL, 0);
    if (bytes > 0) {
        crc = crc32_z(crc, data, bytes);
    }
    return (uint32_t)crc;
}

/* "NAME.suffix" into key (size key_size); fails only if it does not fit. */
static sparq_status make_key(char *key, size_t key_size, const char *name, const char *suffix,
                             const char *what)
{
    int n = snprintf(key, key_size, "%s.%s", name, suffix);
    if (n < 0 || (size_t)n >= key_size) {
        return sparq_fail(SPARQ_ERROR_INTERNAL, "%s: key for '%s' does not fit", what, name);
    }
    return SPARQ_OK;
}

/* ---- saving --------------------------------------------------------------------------- */

static sparq_status set_meta(sparq_safetensors_writer *w, char *key, size_t key_size,
                             const char *name, const char *field, const char *value)
{
    sparq_status st = make_key(key, key_size, name, field, "packed_save");
    if (st == SPARQ_OK) {
        st = sparq_safetensors_writer_set_metadata(w, key, value);
    }
    return st;
}

static sparq_status set_meta_number(sparq_safetensors_writer *w, char *key, size_t key_size,
                                    const char *name, const char *field, unsigned long long v)
{
    char text[32];
    snprintf(text, sizeof text, "%llu", v);
    return set_meta(w, key, key_size, name, field, text);
}

sparq_status sparq_packed_save(sparq_safetensors_writer *writer, const char *name,
                               const sparq_packed *packed)
{
    if (!writer || !name || !packed) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_save: %s is NULL",
                          !writer ? "writer" : !name ? "name" : "packed");
    }
    if (name[0] == '\0') {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_save: name is empty");
    }
    const sparq_pack_options *f = sparq_packed_format(packed);
    if ((unsigned)f->structure >= 4 || (unsigned)f->quant.encoding >= 4 ||
        (unsigned)f->quant.granularity >= 3) {
        return sparq_fail(SPARQ_ERROR_INTERNAL, "packed_save: '%s' has a format out of range",
                          name);
    }
    size_t name_len = strlen(name);
    if (name_len > SIZE_MAX - KEY_SUFFIX_MAX) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_save: name too long");
    }
    size_t key_size = name_len + KEY_SUFFIX_MAX;
    char *key = malloc(key_size);
    if (!key) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "packed_save: no memory");
    }
    sparq_status st = SPARQ_OK;
    size_t arrays = sparq_packed_array_count(packed);
    for (size_t i = 0; st == SPARQ_OK && i < arrays; i++) {
        sparq_packed_array a;
        st = sparq_packed_get_array(packed, i, &a);
        if (st != SPARQ_OK) {
            break;
        }
        size_t elem = sparq_dtype_size(a.dtype);
        if (elem == 0 || a.count > SIZE_MAX / elem) {
            st = sparq_fail(SPARQ_ERROR_INTERNAL, "packed_save: array %s of '%s' is malformed",
                            a.name, name);
            break;
        }
        size_t bytes = a.count * elem;
        size_t shape[1] = {a.count};
        st = make_key(key, key_size, name, a.name, "packed_save");
        if (st == SPARQ_OK) {
            st = sparq_safetensors_writer_add(writer, key, a.dtype, 1, shape, a.data, bytes);
        }
        if (st == SPARQ_OK) {
            char crc_field[KEY_SUFFIX_MAX];
            char crc_text[16];
            snprintf(crc_field, sizeof crc_field, "%s.crc32", a.name);
            snprintf(crc_text, sizeof crc_text, "%08x", (unsigned)crc_of(a.data, bytes));
            st = set_meta(writer, key, key_size, name, crc_field, crc_text);
        }
    }
    if (st == SPARQ_OK) {
        st = set_meta(writer, key, key_size, name, "sparq_version", sparq_version_string());
    }
    if (st == SPARQ_OK) {
        st = set_meta(writer, key, key_size, name, "structure", sparq_structure_name(f->structure));
    }
    if (st == SPARQ_OK) {
        st = set_meta(writer, key, key_size, name, "encoding",
                      sparq_encoding_name(f->quant.encoding));
    }
    if (st == SPARQ_OK) {
        st = set_meta(writer, key, key_size, name, "scale_granularity",
                      sparq_scale_granularity_name(f->quant.granularity));
    }
    if (st == SPARQ_OK) {
        st = set_meta(writer, key, key_size, name, "asymmetric", f->quant.asymmetric ? "1" : "0");
    }
    if (st == SPARQ_OK) {
        st = set_meta_number(writer, key, key_size, name, "rows", sparq_packed_rows(packed));
    }
    if (st == SPARQ_OK) {
        st = set_meta_number(writer, key, key_size, name, "cols", sparq_packed_cols(packed));
    }
    if (st == SPARQ_OK) {
        st = set_meta_number(writer, key, key_size, name, "group_size", f->quant.group_size);
    }
    if (st == SPARQ_OK) {
        st = set_meta_number(writer, key, key_size, name, "block_rows", f->block_rows);
    }
    if (st == SPARQ_OK) {
        st = set_meta_number(writer, key, key_size, name, "block_cols", f->block_cols);
    }
    if (st == SPARQ_OK) {
        st = set_meta_number(writer, key, key_size, name, "nm_n", f->nm_n);
    }
    if (st == SPARQ_OK) {
        st = set_meta_number(writer, key, key_size, name, "nm_m", f->nm_m);
    }
    free(key);
    return st;
}

/* ---- loading -------------------------------------------------------------------------- */

/* The value of metadata NAME.field, or a failure naming the missing key. */
static sparq_status get_meta(const char *what, const sparq_safetensors *file, char *key,
                             size_t key_size, const char *name, const char *field,
                             const char **value)
{
    sparq_status st = make_key(key, key_size, name, field, what);
    if (st != SPARQ_OK) {
        return st;
    }
    *value = sparq_safetensors_metadata(file, key);
    if (!*value) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "%s: '%s': metadata \"%s\" is missing",
                          what, name, key);
    }
    return SPARQ_OK;
}

/* A strictly decimal number (digits only, no sign, no spaces) <= max. */
static sparq_status get_number(const char *what, const sparq_safetensors *file, char *key,
                               size_t key_size, const char *name, const char *field,
                               unsigned long long max, unsigned long long *out)
{
    const char *text;
    sparq_status st = get_meta(what, file, key, key_size, name, field, &text);
    if (st != SPARQ_OK) {
        return st;
    }
    unsigned long long v = 0;
    int ok = text[0] != '\0';
    for (const char *p = text; ok && *p; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (digit > 9 || digit > max || v > (max - digit) / 10) {
            ok = 0;
        } else {
            v = v * 10 + digit;
        }
    }
    if (!ok) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "%s: '%s': metadata \"%s\" = \"%s\" is not a number <= %llu", what,
                          name, key, text, max);
    }
    *out = v;
    return SPARQ_OK;
}

/* One of word(0), word(1), ... (up to the first "?", past the last name) -> its index. */
static sparq_status get_word(const char *what, const sparq_safetensors *file, char *key,
                             size_t key_size, const char *name, const char *field,
                             const char *(*word)(unsigned), unsigned *out)
{
    const char *text;
    sparq_status st = get_meta(what, file, key, key_size, name, field, &text);
    if (st != SPARQ_OK) {
        return st;
    }
    for (unsigned i = 0; strcmp(word(i), "?") != 0; i++) {
        if (strcmp(text, word(i)) == 0) {
            *out = i;
            return SPARQ_OK;
        }
    }
    return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                      "%s: '%s': metadata \"%s\" = \"%s\" is not a known value", what, name,
                      key, text);
}

/* Reads the format and shape from NAME.* metadata. */
static sparq_status load_format(const char *what, const sparq_safetensors *file, char *key,
                                size_t key_size, const char *name, sparq_pack_options *f,
                                size_t *rows, size_t *cols)
{
    memset(f, 0, sizeof *f);
    const char *version;
    unsigned structure = 0, encoding = 0, granularity = 0;
    unsigned long long asym = 0, r = 0, c = 0, g = 0, br = 0, bc = 0, n = 0, m = 0;
    sparq_status st = get_meta(what, file, key, key_size, name, "sparq_version", &version);
    if (st == SPARQ_OK) {
        st = get_word(what, file, key, key_size, name, "structure", structure_word, &structure);
    }
    if (st == SPARQ_OK) {
        st = get_word(what, file, key, key_size, name, "encoding", encoding_word, &encoding);
    }
    if (st == SPARQ_OK) {
        st = get_word(what, file, key, key_size, name, "scale_granularity", granularity_word,
                      &granularity);
    }
    if (st == SPARQ_OK) {
        st = get_number(what, file, key, key_size, name, "asymmetric", 1, &asym);
    }
    if (st == SPARQ_OK) {
        st = get_number(what, file, key, key_size, name, "rows", SIZE_MAX, &r);
    }
    if (st == SPARQ_OK) {
        st = get_number(what, file, key, key_size, name, "cols", SIZE_MAX, &c);
    }
    if (st == SPARQ_OK) {
        st = get_number(what, file, key, key_size, name, "group_size", SIZE_MAX, &g);
    }
    if (st == SPARQ_OK) {
        st = get_number(what, file, key, key_size, name, "block_rows", UINT32_MAX, &br);
    }
    if (st == SPARQ_OK) {
        st = get_number(what, file, key, key_size, name, "block_cols", UINT32_MAX, &bc);
    }
    if (st == SPARQ_OK) {
        st = get_number(what, file, key, key_size, name, "nm_n", UINT32_MAX, &n);
    }
    if (st == SPARQ_OK) {
        st = get_number(what, file, key, key_size, name, "nm_m", UINT32_MAX, &m);
    }
    if (st != SPARQ_OK) {
        return st;
    }
    f->structure = (sparq_structure)structure;
    f->quant.encoding = (sparq_encoding)encoding;
    f->quant.granularity = (sparq_scale_granularity)granularity;
    f->quant.group_size = (size_t)g;
    f->quant.asymmetric = (int)asym;
    f->block_rows = (unsigned)br;
    f->block_cols = (unsigned)bc;
    f->nm_n = (unsigned)n;
    f->nm_m = (unsigned)m;
    *rows = (size_t)r;
    *cols = (size_t)c;
    return SPARQ_OK;
}

/* Checks tensor NAME.<role> against its NAME.<role>.crc32 and describes it as an array. */
static sparq_status load_array(const sparq_safetensors *file, char *key, size_t key_size,
                               const char *name, const char *role,
                               const sparq_safetensors_tensor_info *info,
                               sparq_packed_array *array)
{
    if (sparq_dtype_size(info->dtype) == 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "packed_load: tensor '%s' has dtype %d, not one of a packed array",
                          info->name, (int)info->dtype);
    }
    if (info->ndim != 1) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "packed_load: tensor '%s' has %zu dimensions, expected 1", info->name,
                          info->ndim);
    }
    char crc_field[KEY_SUFFIX_MAX];
    snprintf(crc_field, sizeof crc_field, "%s.crc32", role);
    const char *text;
    sparq_status st = get_meta("packed_load", file, key, key_size, name, crc_field, &text);
    if (st != SPARQ_OK) {
        return st;
    }
    char expect[16];
    snprintf(expect, sizeof expect, "%08x", (unsigned)crc_of(info->data, info->bytes));
    int check_crc = 1;
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    check_crc = 0; /* fuzz builds only: let mutated data reach the validating constructor */
#endif
    if (check_crc && strcmp(text, expect) != 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "packed_load: tensor '%s': crc32 mismatch (metadata says \"%s\", the "
                          "data has %s)",
                          info->name, text, expect);
    }
    array->name = role;
    array->dtype = info->dtype;
    array->count = info->count;
    array->data = info->data; /* copied (with memcpy) by sparq_packed_from_arrays */
    return SPARQ_OK;
}

sparq_status sparq_packed_load(const sparq_safetensors *file, const char *name,
                               sparq_packed **packed)
{
    if (!file || !name || !packed) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_load: %s is NULL",
                          !file ? "file" : !name ? "name" : "packed");
    }
    *packed = NULL;
    size_t name_len = strlen(name);
    if (name_len > SIZE_MAX - KEY_SUFFIX_MAX) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_load: name too long");
    }
    size_t key_size = name_len + KEY_SUFFIX_MAX;
    char *key = malloc(key_size);
    if (!key) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "packed_load: no memory");
    }
    sparq_status st = make_key(key, key_size, name, "structure", "packed_load");
    if (st == SPARQ_OK && !sparq_safetensors_metadata(file, key)) {
        st = sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                        "packed_load: no packed matrix named '%s' (no metadata \"%s\")", name,
                        key);
    }
    sparq_pack_options format;
    size_t rows = 0, cols = 0;
    if (st == SPARQ_OK) {
        st = load_format("packed_load", file, key, key_size, name, &format, &rows, &cols);
    }
    sparq_packed_array arrays[SPARQ_PACKED_ROLE_COUNT];
    size_t count = 0;
    for (int role = 0; st == SPARQ_OK && role < SPARQ_PACKED_ROLE_COUNT; role++) {
        const char *role_name = sparq_packed_role_name((sparq_packed_role)role);
        st = make_key(key, key_size, name, role_name, "packed_load");
        if (st != SPARQ_OK) {
            break;
        }
        sparq_safetensors_tensor_info info;
        if (sparq_safetensors_find(file, key, &info) != SPARQ_OK) {
            continue; /* absent: sparq_packed_from_arrays says if the format needs it */
        }
        st = load_array(file, key, key_size, name, role_name, &info, &arrays[count]);
        count++;
    }
    if (st == SPARQ_OK) {
        st = sparq_packed_from_arrays(&format, rows, cols, arrays, count, packed);
        if (st != SPARQ_OK) {
            /* keep the builder's sentence, but say which matrix of the file it was; what
             * the builder calls a bad argument (a shape, a group size, N:M 2:17, a block
             * side 3) came from the file, whose format it is (as sparq.h promises) */
            char reason[768];
            snprintf(reason, sizeof reason, "%s", sparq_last_error());
            st = sparq_fail(st == SPARQ_ERROR_INVALID_ARGUMENT ? SPARQ_ERROR_INVALID_FORMAT : st,
                            "packed_load: '%s': %s", name, reason);
        }
    }
    free(key);
    return st;
}

/* ---- listing -------------------------------------------------------------------------- */

static int entry_by_name(const void *a, const void *b)
{
    return strcmp(((const sparq_packed_entry *)a)->name, ((const sparq_packed_entry *)b)->name);
}

sparq_status sparq_packed_list(const sparq_safetensors *file, sparq_packed_entry **entries,
                               size_t *count)
{
    if (!file || !entries || !count) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "packed_list: %s is NULL",
                          !file ? "file" : !entries ? "entries" : "count");
    }
    *entries = NULL;
    *count = 0;
    /* First pass: how many matrices (NAME.sparq_version keys), how long their names. */
    static const char version_suffix[] = ".sparq_version";
    const size_t suffix_len = sizeof version_suffix - 1;
    size_t metadata = sparq_safetensors_metadata_count(file), n = 0, name_bytes = 0,
           longest = 0;
    for (size_t i = 0; i < metadata; i++) {
        const char *k, *v;
        if (sparq_safetensors_metadata_entry(file, i, &k, &v) != SPARQ_OK)
            continue;
        size_t len = strlen(k);
        if (len > suffix_len && strcmp(k + len - suffix_len, version_suffix) == 0) {
            n++;
            name_bytes += len - suffix_len + 1;
            longest = len > longest ? len : longest;
        }
    }
    if (n == 0)
        return SPARQ_OK;
    /* One block: the entries, then their names. */
    sparq_packed_entry *list = malloc(n * sizeof *list + name_bytes);
    char *key = malloc(longest + KEY_SUFFIX_MAX);
    if (!list || !key) {
        free(list);
        free(key);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "packed_list: no memory for %zu entries",
                          n);
    }
    char *names = (char *)(list + n);
    size_t found = 0;
    sparq_status st = SPARQ_OK;
    for (size_t i = 0; st == SPARQ_OK && i < metadata; i++) {
        const char *k, *v;
        if (sparq_safetensors_metadata_entry(file, i, &k, &v) != SPARQ_OK)
            continue;
        size_t len = strlen(k);
        if (len <= suffix_len || strcmp(k + len - suffix_len, version_suffix) != 0)
            continue;
        sparq_packed_entry *e = &list[found++];
        memcpy(names, k, len - suffix_len);
        names[len - suffix_len] = '\0';
        e->name = names;
        names += len - suffix_len + 1;
        st = load_format("packed_list", file, key, longest + KEY_SUFFIX_MAX, e->name,
                         &e->format, &e->rows, &e->cols);
        /* the bytes its arrays take in the file, from the tensors present */
        e->bytes = 0;
        for (int role = 0; st == SPARQ_OK && role < SPARQ_PACKED_ROLE_COUNT; role++) {
            sparq_safetensors_tensor_info info;
            st = make_key(key, longest + KEY_SUFFIX_MAX, e->name,
                          sparq_packed_role_name((sparq_packed_role)role), "packed_list");
            if (st == SPARQ_OK && sparq_safetensors_find(file, key, &info) == SPARQ_OK)
                e->bytes += info.bytes;
        }
    }
    free(key);
    if (st != SPARQ_OK) {
        free(list);
        return st;
    }
    qsort(list, n, sizeof *list, entry_by_name);
    *entries = list;
    *count = n;
    return SPARQ_OK;
}

void sparq_packed_list_free(sparq_packed_entry *entries)
{
    free(entries);
}
