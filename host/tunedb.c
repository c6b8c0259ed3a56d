/* SPDX-License-Identifier: Apache-2.0 */
/* tunedb.c - the tuning database of tunedb.h as a store: entries validated against the
 * kernel registry and kept in memory as canonical JSON (jansson), their keys (a choice's
 * structure word spelled and read by the format table), puts, text in and out, merges.
 * The lookup chain and the shipped databases live in tunedb_lookup.c, files in
 * tunedb_file.c.
 */
#include "tunedb_internal.h"
#include "checks.h"
#include "format.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- names and keys --------------------------------------------------------------- */

typedef const char *(*name_fn)(unsigned index);

static const char *encoding_word(unsigned i)
{
    return sparq_encoding_name((sparq_encoding)i);
}

static const char *type_word(unsigned i)
{
    static const char *const names[] = {"gpu", "accelerator", "cpu", "other"};
    return i < sizeof names / sizeof names[0] ? names[i] : "?";
}

/* The index whose name is s, or -1. */
static int index_of_name(name_fn names, const char *s)
{
    for (unsigned i = 0; strcmp(names(i), "?") != 0; i++)
        if (strcmp(names(i), s) == 0)
            return (int)i;
    return -1;
}

void sparq_tune_device_from_caps(const sparq_device_caps *caps, sparq_tune_device *device)
{
    snprintf(device->vendor, sizeof device->vendor, "%s", caps->vendor);
    snprintf(device->name, sizeof device->name, "%s", caps->name);
    snprintf(device->driver, sizeof device->driver, "%s", caps->driver_version);
    device->type = caps->type;
}

void sparq_tunedb_device_key(const sparq_tune_device *device, char *out, size_t size)
{
    snprintf(out, size, "%s|%s|%s", device->vendor, device->name, device->driver);
}

void sparq_tunedb_vendor_key(const sparq_tune_device *device, char *out, size_t size)
{
    snprintf(out, size, "vendor:%s|type:%s", device->vendor, type_word(device->type));
}

void sparq_tunedb_type_key(const sparq_tune_device *device, char *out, size_t size)
{
    snprintf(out, size, "type:%s", type_word(device->type));
}

/* Classes stop at 2^40 (13 digits), so that every class fits 63 characters. */
#define MAX_CLASS_EXPONENT 40

/* The power-of-two exponent nearest to x in log space (0 for x < 1.5, NaN included). */
static unsigned class_exponent(double x)
{
    if (!(x > 0))
        return 0;
    double e = round(log2(x));
    return e < 0 ? 0 : e > MAX_CLASS_EXPONENT ? MAX_CLASS_EXPONENT : (unsigned)e;
}

void sparq_tune_shape_class(size_t rows, size_t cols, size_t batch, double nnz_per_row,
                            char *out, size_t size)
{
    if (!out || size == 0)
        return;
    snprintf(out, size, "m%llu.k%llu.b%llu.z%llu", 1ull << class_exponent((double)rows),
             1ull << class_exponent((double)cols), 1ull << class_exponent((double)batch),
             1ull << class_exponent(nnz_per_row));
}

bool sparq_tune_class_parse(const char *s, unsigned exponent[4])
{
    static const char letters[] = "mkbz";
    const char *p = s;
    for (int i = 0; i < 4; i++) {
        if (*p++ != letters[i] || *p < '1' || *p > '9')
            return false;
        char *end = NULL;
        errno = 0;
        unsigned long long v = strtoull(p, &end, 10);
        if (errno != 0 || (v & (v - 1)) != 0 || v > (1ull << MAX_CLASS_EXPONENT))
            return false;
        for (exponent[i] = 0; v > 1; v >>= 1)
            exponent[i]++;
        p = end;
        if (i < 3 && *p++ != '.')
            return false;
    }
    return *p == '\0';
}

/* A choice key's <structure> word is the structure half of the format spelling
 * (sparq_format_structure_text: "dense", "csr", "bsr16x16", "2:4"). */
bool sparq_tunedb_structure_word(const sparq_pack_options *f, char *out, size_t size)
{
    char word[64];
    sparq_format_structure_text(f, word, sizeof word);
    int n = snprintf(out, size, "%s", word);
    return n > 0 && (size_t)n < size;
}

/* The structure fields of a choice entry as a format (f32). */
static sparq_pack_options choice_structure(const sparq_tune_choice_entry *e)
{
    return (sparq_pack_options){.structure = e->structure, .block_rows = e->block_rows,
                                .block_cols = e->block_cols, .nm_n = e->nm_n, .nm_m = e->nm_m};
}

/* A block shape "<rows>x<cols>" (decimal, each at most 32; checked further by
 * sparq_block_side_ok where the entry is validated); false when p is not one. */
static bool parse_block(const char *p, unsigned *block_rows, unsigned *block_cols)
{
    char *end = NULL;
    if (!isdigit((unsigned char)p[0]))
        return false;
    unsigned long r = strtoul(p, &end, 10);
    if (end[0] != 'x' || !isdigit((unsigned char)end[1]) || r > 32)
        return false;
    unsigned long c = strtoul(end + 1, &end, 10);
    if (*end != '\0' || c > 32)
        return false;
    *block_rows = (unsigned)r;
    *block_cols = (unsigned)c;
    return true;
}

/* The structure fields of a choice key's <structure> word, read by the format table's
 * rows ("dense", "csr", "bsr16x16", "2:4"); false when it is none of them. */
static bool parse_structure_key_word(const char *word, sparq_tune_choice_entry *e)
{
    sparq_pack_options f;
    memset(&f, 0, sizeof f);
    if (!sparq_format_structure_parse(word, &f))
        return false;
    e->structure = f.structure;
    e->block_rows = f.block_rows;
    e->block_cols = f.block_cols;
    e->nm_n = f.nm_n;
    e->nm_m = f.nm_m;
    return true;
}

/* Whether an entry's block fits its structure: a BSR entry names a block sparq packs, no
 * other entry names one. */
static bool block_fits(bool bsr, unsigned block_rows, unsigned block_cols)
{
    return bsr ? sparq_block_side_ok(block_rows) && sparq_block_side_ok(block_cols)
               : block_rows == 0 && block_cols == 0;
}

bool sparq_tunedb_kernel_word(const char *kernel, unsigned block_rows, unsigned block_cols,
                              char *out, size_t size)
{
    int n = block_rows ? snprintf(out, size, "%s@%ux%u", kernel, block_rows, block_cols)
                       : snprintf(out, size, "%s", kernel);
    return n > 0 && (size_t)n < size;
}

bool sparq_tunedb_entry_key(const char *first, sparq_encoding encoding,
                            const char *shape_class, char *out, size_t size)
{
    int n = snprintf(out, size, "%s/%s/%s", first, sparq_encoding_name(encoding), shape_class);
    return n > 0 && (size_t)n < size;
}

/* Splits an entry key into its three parts (each fitting its buffer). */
static bool split_key(const char *key, char *first, size_t first_size, sparq_encoding *encoding,
                      char *shape_class, size_t class_size)
{
    const char *a = strchr(key, '/');
    const char *b = a ? strchr(a + 1, '/') : NULL;
    char word[8];
    if (!b || (size_t)(a - key) >= first_size || (size_t)(b - a - 1) >= sizeof word ||
        strlen(b + 1) >= class_size)
        return false;
    memcpy(first, key, (size_t)(a - key));
    first[a - key] = '\0';
    memcpy(word, a + 1, (size_t)(b - a - 1));
    word[b - a - 1] = '\0';
    strcpy(shape_class, b + 1);
    int e = index_of_name(encoding_word, word);
    *encoding = (sparq_encoding)e;
    return e >= 0;
}

/* ---- validation ------------------------------------------------------------------- */

/* Writes the reason into why and returns false: `return refuse(why, size, "...", ...)`. */
static bool refuse(char *why, size_t size, const char *fmt, ...) SPARQ_PRINTF(3, 4);
static bool refuse(char *why, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return false;
}

/* A fixed-size text field of a struct holds a NUL within its size. */
#define TEXT_OK(field) (memchr(field, '\0', sizeof field) != NULL)

static bool hash_ok(const char *s)
{
    return strlen(s) == 16 && strspn(s, "0123456789abcdef") == 16;
}

static bool time_ok(double t)
{
    return isfinite(t) && t >= 0;
}

static bool is_candidate(const sparq_tunable *t, unsigned v)
{
    for (int c = 0; c < SPARQ_MAX_CANDIDATES && t->candidates[c]; c++)
        if (t->candidates[c] == v)
            return true;
    return false;
}

static int tunable_count(const sparq_kernel_info *k)
{
    int n = 0;
    while (n < SPARQ_MAX_TUNABLES && k->tunables[n].name)
        n++;
    return n;
}

/* The checks both put and load apply; false with why set. */
static bool params_valid(const void *entry, char *why, size_t size)
{
    const sparq_tune_params_entry *e = entry;
    const sparq_kernel_info *k = NULL;
    unsigned exponent[4];
    if (!TEXT_OK(e->kernel) || !TEXT_OK(e->shape_class) || !TEXT_OK(e->source_hash) ||
        !TEXT_OK(e->sparq_version) || !TEXT_OK(e->strategy))
        return refuse(why, size, "a text field is not NUL-terminated");
    if (!(k = sparq_kernel_find(e->kernel)))
        return refuse(why, size, "kernel \"%s\" is not in the registry", e->kernel);
    if (!block_fits(k->structure == SPARQ_STRUCTURE_BSR, e->block_rows, e->block_cols))
        return refuse(why, size, "%s: block %ux%u (a BSR kernel's entry names its block, "
                      "no other does)", e->kernel, e->block_rows, e->block_cols);
    if (strcmp(sparq_encoding_name(e->encoding), "?") == 0 ||
        !sparq_tune_class_parse(e->shape_class, exponent) || !hash_ok(e->source_hash) ||
        !time_ok(e->time_us) || !time_ok(e->default_us))
        return refuse(why, size, "%s: bad encoding %d, shape class \"%s\", source_hash \"%s\" "
                      "(not 16 hex digits) or time (negative, not finite)", e->kernel,
                      (int)e->encoding, e->shape_class, e->source_hash);
    for (int i = 0; i < tunable_count(k); i++)
        if (!is_candidate(&k->tunables[i], e->params.value[i]))
            return refuse(why, size, "%s: %s=%u is not one of its candidates", e->kernel,
                          k->tunables[i].name, e->params.value[i]);
    return true;
}

static bool choice_valid(const void *entry, char *why, size_t size)
{
    const sparq_tune_choice_entry *e = entry;
    unsigned exponent[4];
    if (!TEXT_OK(e->shape_class) || !TEXT_OK(e->kernel) || !TEXT_OK(e->dense_name) ||
        !TEXT_OK(e->source_hash) || !TEXT_OK(e->sparq_version))
        return refuse(why, size, "a text field is not NUL-terminated");
    bool nm = e->structure == SPARQ_STRUCTURE_NM;
    if (strcmp(sparq_structure_name(e->structure), "?") == 0 ||
        !block_fits(e->structure == SPARQ_STRUCTURE_BSR, e->block_rows, e->block_cols) ||
        (nm ? !(e->nm_n >= 1 && e->nm_n < e->nm_m && e->nm_m <= 16)
            : e->nm_n != 0 || e->nm_m != 0) ||
        strcmp(sparq_encoding_name(e->encoding), "?") == 0 ||
        !sparq_tune_class_parse(e->shape_class, exponent) ||
        (e->source_hash[0] && !hash_ok(e->source_hash)) ||
        !time_ok(e->sparse_us) || !time_ok(e->dense_us))
        return refuse(why, size, "choice: bad structure %d (block %ux%u, N:M %u:%u), encoding "
                      "%d, shape class \"%s\", source_hash \"%s\" (not 16 hex digits) or "
                      "time (negative, not finite)", (int)e->structure, e->block_rows,
                      e->block_cols, e->nm_n, e->nm_m, (int)e->encoding, e->shape_class,
                      e->source_hash);
    return true;
}

/* ---- entries as JSON -------------------------------------------------------------- */

/* Optional fields: absent leaves the zero default; present with the wrong type or too
 * long fails with why set. */
static bool get_text(json_t *obj, const char *name, char *out, size_t size, char *why,
                     size_t why_size)
{
    json_t *v = json_object_get(obj, name);
    if (v && (!json_is_string(v) || json_string_length(v) >= size ||
              strlen(json_string_value(v)) != json_string_length(v)))
        return refuse(why, why_size, "\"%s\" is not a string of at most %zu bytes", name,
                      size - 1);
    if (v)
        strcpy(out, json_string_value(v));
    return true;
}

static bool get_number(json_t *obj, const char *name, double *out, char *why, size_t why_size)
{
    json_t *v = json_object_get(obj, name);
    if (v && !json_is_number(v))
        return refuse(why, why_size, "\"%s\" is not a number", name);
    if (v)
        *out = json_number_value(v);
    return true;
}

/* An integer in [0, max]; with max UINT64_MAX also a decimal string (seeds >= 2^63). */
static bool get_integer(json_t *obj, const char *name, uint64_t max, uint64_t *out, char *why,
                        size_t why_size)
{
    json_t *v = json_object_get(obj, name);
    if (!v)
        return true;
    bool ok = json_is_integer(v) && json_integer_value(v) >= 0;
    uint64_t u = ok ? (uint64_t)json_integer_value(v) : 0;
    const char *s = json_string_value(v);
    if (!ok && s && max == UINT64_MAX && s[0] >= '0' && s[0] <= '9' && strlen(s) <= 20) {
        char *end = NULL;
        errno = 0;
        u = strtoull(s, &end, 10);
        ok = errno == 0 && *end == '\0';
    }
    if (!ok || u > max)
        return refuse(why, why_size, "\"%s\" is not an integer in [0, %llu]", name,
                      (unsigned long long)max);
    *out = u;
    return true;
}

static json_t *params_to_json(const void *entry)
{
    const sparq_tune_params_entry *e = entry;
    const sparq_kernel_info *k = sparq_kernel_find(e->kernel);
    json_t *values = json_object();
    for (int i = 0; values && k && i < tunable_count(k); i++)
        json_object_set_new(values, k->tunables[i].name, json_integer(e->params.value[i]));
    char seed[24];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)e->seed);
    json_t *seed_json = e->seed <= (uint64_t)INT64_MAX ? json_integer((json_int_t)e->seed)
                                                       : json_string(seed);
    return json_pack("{s:o, s:f, s:f, s:s, s:s, s:s, s:I, s:o}", "values", values, "time_us",
                     e->time_us, "default_us", e->default_us, "source_hash", e->source_hash,
                     "sparq_version", e->sparq_version, "strategy", e->strategy, "evaluations",
                     (json_int_t)e->evaluations, "seed", seed_json);
}

static bool params_from_json(const char *key, json_t *obj, void *entry, char *why, size_t size)
{
    sparq_tune_params_entry *e = entry;
    memset(e, 0, sizeof *e);
    uint64_t evaluations = 0;
    json_t *values = json_object_get(obj, "values");
    const sparq_kernel_info *k = NULL;
    char *at = NULL;
    if (!split_key(key, e->kernel, sizeof e->kernel, &e->encoding, e->shape_class,
                   sizeof e->shape_class) ||
        ((at = strchr(e->kernel, '@')) && !parse_block(at + 1, &e->block_rows, &e->block_cols)))
        return refuse(why, size, "the key is not <kernel>/<encoding>/<shape class> (a BSR "
                                 "kernel with its block: spmm_bsr_tile@16x16)");
    if (at)
        *at = '\0';
    if (!(k = sparq_kernel_find(e->kernel)))
        return refuse(why, size, "kernel \"%s\" is not in the registry", e->kernel);
    if (!json_is_object(values) || json_object_size(values) != (size_t)tunable_count(k))
        return refuse(why, size, "\"values\" does not hold exactly its %d tunables",
                      tunable_count(k));
    for (int i = 0; i < tunable_count(k); i++) {
        uint64_t v = 0;
        if (!json_object_get(values, k->tunables[i].name) ||
            !get_integer(values, k->tunables[i].name, UINT_MAX, &v, why, size))
            return refuse(why, size, "\"values\" has no integer %s", k->tunables[i].name);
        e->params.value[i] = (unsigned)v;
    }
    if (!json_object_get(obj, "source_hash"))
        return refuse(why, size, "no \"source_hash\"");
    bool ok = get_number(obj, "time_us", &e->time_us, why, size) &&
              get_number(obj, "default_us", &e->default_us, why, size) &&
              get_text(obj, "source_hash", e->source_hash, sizeof e->source_hash, why, size) &&
              get_text(obj, "sparq_version", e->sparq_version, sizeof e->sparq_version, why,
                       size) &&
              get_text(obj, "strategy", e->strategy, sizeof e->strategy, why, size) &&
              get_integer(obj, "evaluations", UINT_MAX, &evaluations, why, size) &&
              get_integer(obj, "seed", UINT64_MAX, &e->seed, why, size);
    e->evaluations = (unsigned)evaluations;
    return ok && params_valid(e, why, size);
}

static json_t *choice_to_json(const void *entry)
{
    const sparq_tune_choice_entry *e = entry;
    return json_pack("{s:s, s:s, s:f, s:s, s:f, s:s, s:s}", "path", e->dense ? "dense" : "sparse",
                     "kernel", e->kernel, "sparse_us", e->sparse_us, "dense", e->dense_name,
                     "dense_us", e->dense_us, "source_hash", e->source_hash, "sparq_version",
                     e->sparq_version);
}

static bool choice_key(const void *entry, char *out, size_t size)
{
    const sparq_tune_choice_entry *e = entry;
    char word[16];
    const sparq_pack_options f = choice_structure(e);
    return sparq_tunedb_structure_word(&f, word, sizeof word) &&
           sparq_tunedb_entry_key(word, e->encoding, e->shape_class, out, size);
}

static bool choice_from_json(const char *key, json_t *obj, void *entry, char *why, size_t size)
{
    sparq_tune_choice_entry *e = entry;
    memset(e, 0, sizeof *e);
    char structure[16], canonical[MAX_KEY] = "";
    const char *path = json_string_value(json_object_get(obj, "path"));
    if (!split_key(key, structure, sizeof structure, &e->encoding, e->shape_class,
                   sizeof e->shape_class) ||
        !parse_structure_key_word(structure, e))
        return refuse(why, size, "the key is not <structure>/<encoding>/<shape class>, "
                                 "<structure> a format spelling's structure (dense, csr, "
                                 "bsr16x16, 2:4)");
    if (!choice_key(e, canonical, sizeof canonical) || strcmp(canonical, key) != 0)
        return refuse(why, size, "the key is not as sparq spells it (%s)", canonical);
    if (!path || (strcmp(path, "dense") != 0 && strcmp(path, "sparse") != 0))
        return refuse(why, size, "\"path\" is not \"sparse\" or \"dense\"");
    e->dense = strcmp(path, "dense") == 0;
    return get_text(obj, "kernel", e->kernel, sizeof e->kernel, why, size) &&
           get_number(obj, "sparse_us", &e->sparse_us, why, size) &&
           get_text(obj, "dense", e->dense_name, sizeof e->dense_name, why, size) &&
           get_number(obj, "dense_us", &e->dense_us, why, size) &&
           get_text(obj, "source_hash", e->source_hash, sizeof e->source_hash, why, size) &&
           get_text(obj, "sparq_version", e->sparq_version, sizeof e->sparq_version, why, size) &&
           choice_valid(e, why, size);
}

static bool params_key(const void *entry, char *out, size_t size)
{
    const sparq_tune_params_entry *e = entry;
    char word[80];
    return sparq_tunedb_kernel_word(e->kernel, e->block_rows, e->block_cols, word,
                                    sizeof word) &&
           sparq_tunedb_entry_key(word, e->encoding, e->shape_class, out, size);
}

const sparq_tunedb_kind sparq_tunedb_params_kind = {"params", params_valid, params_key,
                                                    params_from_json, params_to_json};
const sparq_tunedb_kind sparq_tunedb_choices_kind = {"choices", choice_valid, choice_key,
                                                     choice_from_json, choice_to_json};
static const sparq_tunedb_kind *const kinds[] = {&sparq_tunedb_params_kind,
                                                 &sparq_tunedb_choices_kind};

/* ---- the database ----------------------------------------------------------------- */

sparq_status sparq_tunedb_create(sparq_tunedb **db)
{
    if (!db)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "sparq_tunedb_create: db is NULL");
    *db = calloc(1, sizeof **db);
    if (*db && !((*db)->devices = json_object())) {
        free(*db);
        *db = NULL;
    }
    return *db ? SPARQ_OK
               : sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tuning database: out of memory");
}

void sparq_tunedb_free(sparq_tunedb *db)
{
    if (!db)
        return;
    json_decref(db->devices);
    free(db);
}

const char *sparq_tunedb_warning(const sparq_tunedb *db)
{
    return db ? db->warning : "";
}

size_t sparq_tunedb_skipped(const sparq_tunedb *db)
{
    return db ? db->skipped : 0;
}

size_t sparq_tunedb_count(const sparq_tunedb *db)
{
    size_t n = 0;
    const char *key;
    json_t *device;
    if (db)
        json_object_foreach(db->devices, key, device) {
            n += json_object_size(json_object_get(device, "params"));
            n += json_object_size(json_object_get(device, "choices"));
        }
    return n;
}

void sparq_tunedb_set_warning(sparq_tunedb *db, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(db->warning, sizeof db->warning, fmt, ap);
    va_end(ap);
    sparq_log(SPARQ_LOG_INFO, "%s", db->warning);
}

/* The device object under key, created (with empty sections) when absent; NULL when it
 * can't be (out of memory, key not UTF-8). */
static json_t *device_object(sparq_tunedb *db, const char *key)
{
    json_t *device = json_object_get(db->devices, key);
    if (device || strlen(key) >= MAX_KEY)
        return device;
    device = json_pack("{s:{}, s:{}}", "params", "choices");
    if (device && json_object_set_new(db->devices, key, device) != 0)
        return NULL;
    return device;
}

static const char *const device_fields[] = {"vendor", "name", "driver", "type"};

/* Validates an entry and stores it under device_key (with device's fields, if given). */
static sparq_status put_entry(sparq_tunedb *db, const sparq_tune_device *device,
                              const char *device_key, const sparq_tunedb_kind *kind,
                              const void *entry)
{
    char why[256], key[MAX_KEY];
    if (!db || !device_key || !entry)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tuning database put: NULL argument");
    if (!kind->valid(entry, why, sizeof why) || !kind->key(entry, key, sizeof key))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tuning database put: %s", why);
    json_t *json = kind->to_json(entry);
    bool device_ok = !device || strcmp(type_word(device->type), "?") != 0;
    json_t *object = json && device_ok ? device_object(db, device_key) : NULL;
    if (object && device) {
        const char *texts[] = {device->vendor, device->name, device->driver,
                               type_word(device->type)};
        size_t sizes[] = {sizeof device->vendor, sizeof device->name, sizeof device->driver, 16};
        for (int i = 0; i < 4; i++)
            if (json_object_set_new(object, device_fields[i],
                                    json_stringn(texts[i], strnlen(texts[i], sizes[i] - 1))))
                object = NULL;
    }
    if (!object || json_object_set_new(json_object_get(object, kind->section), key, json) != 0) {
        json_decref(object ? NULL : json);
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tuning database: entry %s of device \"%.200s\" can't be stored (a "
                          "key or text too long or not UTF-8, a bad device type, or out of "
                          "memory)", key, device_key);
    }
    return SPARQ_OK;
}

sparq_status sparq_tunedb_put_params(sparq_tunedb *db, const sparq_tune_device *device,
                                     const char *device_key,
                                     const sparq_tune_params_entry *entry)
{
    return put_entry(db, device, device_key, &sparq_tunedb_params_kind, entry);
}

sparq_status sparq_tunedb_put_choice(sparq_tunedb *db, const sparq_tune_device *device,
                                     const char *device_key,
                                     const sparq_tune_choice_entry *entry)
{
    return put_entry(db, device, device_key, &sparq_tunedb_choices_kind, entry);
}

/* Copies the valid devices and entries of a parsed "devices" object into db. */
static void load_devices(sparq_tunedb *db, json_t *devices, const char *origin)
{
    const char *device_key, *key;
    json_t *device, *value;
    char why[256];
    json_object_foreach(devices, device_key, device) {
        bool ok = json_is_object(device) && strlen(device_key) < MAX_KEY;
        for (int i = 0; ok && i < 4; i++) {
            json_t *field = json_object_get(device, device_fields[i]);
            ok = !field || (json_is_string(field) && json_string_length(field) < 256 &&
                            (i < 3 || index_of_name(type_word, json_string_value(field)) >= 0));
        }
        json_t *object = ok ? device_object(db, device_key) : NULL;
        if (!object) {
            db->skipped++;
            sparq_log(SPARQ_LOG_DEBUG, "%s: device \"%.200s\" skipped: malformed", origin,
                      device_key);
            continue;
        }
        for (int i = 0; i < 4; i++) {
            json_t *field = json_object_get(device, device_fields[i]);
            if (field)
                json_object_set(object, device_fields[i], field);
        }
        for (size_t s = 0; s < sizeof kinds / sizeof kinds[0]; s++) {
            json_t *section = json_object_get(device, kinds[s]->section);
            if (section && !json_is_object(section)) {
                db->skipped++;
                sparq_log(SPARQ_LOG_DEBUG, "%s: \"%s\" of \"%.200s\" is not an object", origin,
                          kinds[s]->section, device_key);
            }
            json_object_foreach(json_is_object(section) ? section : NULL, key, value) {
                sparq_tunedb_entry entry;
                json_t *json = kinds[s]->from_json(key, value, &entry, why, sizeof why)
                                   ? kinds[s]->to_json(&entry) : NULL;
                if (!json || json_object_set_new(json_object_get(object, kinds[s]->section), key,
                                                 json) != 0) {
                    db->skipped++;
                    sparq_log(SPARQ_LOG_DEBUG, "%s: %s \"%.200s\" skipped: %s", origin,
                              kinds[s]->section, key, json ? "can't be stored" : why);
                }
            }
        }
    }
}

sparq_status sparq_tunedb_load_text(const char *text, size_t size, const char *origin,
                                    sparq_tunedb **db)
{
    if (!db || (!text && size) || !origin)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "sparq_tunedb_load_text: NULL argument");
    sparq_status st = sparq_tunedb_create(db);
    if (st != SPARQ_OK)
        return st;
    json_error_t error;
    json_t *root = json_loadb(text ? text : "", size, 0, &error);
    json_t *schema = json_object_get(root, "schema");
    json_t *devices = json_object_get(root, "devices");
    if (!root)
        sparq_tunedb_set_warning(*db, "tuning database %s is not valid JSON (line %d: %s); "
                                 "ignored", origin, error.line, error.text);
    else if (json_is_integer(schema) && json_integer_value(schema) != SPARQ_TUNEDB_SCHEMA)
        sparq_tunedb_set_warning(*db, "tuning database %s has schema %lld, this sparq reads "
                                 "schema %d; ignored", origin,
                                 (long long)json_integer_value(schema), SPARQ_TUNEDB_SCHEMA);
    else if (!json_is_integer(schema) || !json_is_object(devices))
        sparq_tunedb_set_warning(*db, "tuning database %s is not a sparq tuning database (no "
                                 "integer \"schema\" and \"devices\" object); ignored", origin);
    else
        load_devices(*db, devices, origin);
    if ((*db)->skipped)
        sparq_log(SPARQ_LOG_INFO, "tuning database %s: %zu malformed or unknown entries skipped",
                  origin, (*db)->skipped);
    json_decref(root);
    return SPARQ_OK;
}

sparq_status sparq_tunedb_to_text(const sparq_tunedb *db, char **text)
{
    if (!db || !text)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "sparq_tunedb_to_text: NULL argument");
    *text = NULL;
    json_t *devices = db->devices ? json_incref(db->devices) : json_object();
    json_t *root = json_pack("{s:i, s:o}", "schema", SPARQ_TUNEDB_SCHEMA, "devices", devices);
    char *dump = root ? json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2)) : NULL;
    json_decref(root);
    size_t n = dump ? strlen(dump) : 0;
    if (dump && (*text = malloc(n + 2))) {
        memcpy(*text, dump, n);
        memcpy(*text + n, "\n", 2);
    }
    free(dump);
    return *text ? SPARQ_OK
                 : sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tuning database: out of memory");
}

/* Entries are shared between dst and src, never modified in place. */
bool sparq_tunedb_merge_devices(json_t *dst, json_t *src)
{
    const char *key, *field;
    json_t *device, *value;
    json_object_foreach(src, key, device) {
        json_t *target = json_object_get(dst, key);
        if (!target) {
            if (json_object_set_new(dst, key, json_deep_copy(device)) != 0)
                return false;
            continue;
        }
        json_object_foreach(device, field, value) {
            json_t *section = json_object_get(target, field);
            if (json_is_object(value) ? json_object_update(section, value)
                                      : json_object_set(target, field, value))
                return false;
        }
    }
    return true;
}
