/* SPDX-License-Identifier: Apache-2.0 */
/* cli_inspect.c - `sparq inspect FILE_OR_DIR`: what a converted model holds, as a table
 * of its packed matrices (format, shape, bits per weight, bytes, shard, original shape)
 * and a summary (packed bytes, other tensors by dtype, total, producer). Also the model
 * opening and byte wording that `sparq bench` shares (cli_model_parts.h).
 */
#include "cli_model_parts.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void bytes_in_words(uint64_t bytes, char *text, size_t text_size)
{
    if (bytes < 1000)
        snprintf(text, text_size, "%llu B", (unsigned long long)bytes);
    else if (bytes < 1000000)
        snprintf(text, text_size, "%.1f kB", (double)bytes / 1e3);
    else if (bytes < 1000000000)
        snprintf(text, text_size, "%.1f MB", (double)bytes / 1e6);
    else
        snprintf(text, text_size, "%.2f GB", (double)bytes / 1e9);
}

void packed_model_close(packed_model *pm)
{
    for (size_t s = 0; pm->entries && s < pm->nshards; s++)
        sparq_packed_list_free(pm->entries[s]);
    free(pm->entries);
    free(pm->counts);
    sparq_model_close(pm->model);
    memset(pm, 0, sizeof *pm);
}

int packed_model_open(const char *path, packed_model *pm)
{
    memset(pm, 0, sizeof *pm);
    char what[4200];
    sparq_status st = sparq_model_open(path, &pm->model);
    if (st != SPARQ_OK) {
        snprintf(what, sizeof what, "opening %s", path);
        return cli_fail(what, st);
    }
    pm->nshards = sparq_model_shard_count(pm->model);
    pm->entries = calloc(pm->nshards, sizeof *pm->entries);
    pm->counts = calloc(pm->nshards, sizeof *pm->counts);
    if (!pm->entries || !pm->counts) {
        packed_model_close(pm);
        return cli_fail("listing packed matrices", SPARQ_ERROR_OUT_OF_MEMORY);
    }
    for (size_t s = 0; s < pm->nshards; s++) {
        st = sparq_packed_list(sparq_model_shard(pm->model, s), &pm->entries[s], &pm->counts[s]);
        if (st != SPARQ_OK) {
            snprintf(what, sizeof what, "listing the packed matrices of %s",
                     sparq_model_shard_name(pm->model, s));
            packed_model_close(pm);
            return cli_fail(what, st);
        }
        pm->total += pm->counts[s];
    }
    return 0;
}

/* A name (its first n bytes) looked up among entries sorted by name. */
typedef struct name_prefix {
    const char *text;
    size_t n;
} name_prefix;

static int compare_prefix_entry(const void *key, const void *element)
{
    const name_prefix *p = key;
    const char *name = ((const sparq_packed_entry *)element)->name;
    int c = strncmp(p->text, name, p->n);
    if (c != 0)
        return c;
    return name[p->n] == '\0' ? 0 : -1; /* name is longer: the prefix sorts first */
}

/* True when tensor is NAME.<array> of one of the shard's packed matrices. */
static bool is_packed_array(const char *tensor, const sparq_packed_entry *entries,
                            size_t count)
{
    size_t len = strlen(tensor);
    const char *array;
    for (size_t a = 0; (array = sparq_packed_array_name(a)) != NULL; a++) {
        size_t alen = strlen(array);
        if (len <= alen + 1 || strcmp(tensor + len - alen, array) != 0 ||
            tensor[len - alen - 1] != '.')
            continue;
        name_prefix key = {tensor, len - alen - 1};
        if (bsearch(&key, entries, count, sizeof *entries, compare_prefix_entry))
            return true;
    }
    return false;
}

/* The table of packed matrices; adds their bytes to *packed_bytes. */
static void print_packed_table(const packed_model *pm, bool sharded, uint64_t *packed_bytes)
{
    int name_w = 4;
    bool any_original = false;
    for (size_t s = 0; s < pm->nshards; s++)
        for (size_t i = 0; i < pm->counts[s]; i++) {
            const sparq_packed_entry *e = &pm->entries[s][i];
            int n = (int)strlen(e->name);
            name_w = n > name_w ? n : name_w;
            char key[1200];
            snprintf(key, sizeof key, "%s.original_shape", e->name);
            any_original |= sparq_safetensors_metadata(sparq_model_shard(pm->model, s), key) != 0;
        }
    printf("%-*s  %-16s  %-13s  %6s  %12s", name_w, "name", "format", "rows x cols", "bits/w",
           "bytes");
    printf("%s%s\n", sharded ? "  shard" : "", any_original ? "  original shape" : "");
    for (size_t s = 0; s < pm->nshards; s++) {
        const sparq_safetensors *shard = sparq_model_shard(pm->model, s);
        for (size_t i = 0; i < pm->counts[s]; i++) {
            const sparq_packed_entry *e = &pm->entries[s][i];
            char format[64], shape[64], key[1200];
            if (sparq_format_name(&e->format, format, sizeof format) != SPARQ_OK)
                snprintf(format, sizeof format, "?");
            snprintf(shape, sizeof shape, "%zu x %zu", e->rows, e->cols);
            double weights = (double)e->rows * (double)e->cols;
            printf("%-*s  %-16s  %-13s  %6.2f  %12llu", name_w, e->name, format, shape,
                   weights > 0 ? (double)e->bytes * 8.0 / weights : 0.0,
                   (unsigned long long)e->bytes);
            if (sharded)
                printf("  %s", sparq_model_shard_name(pm->model, s));
            snprintf(key, sizeof key, "%s.original_shape", e->name);
            const char *original = sparq_safetensors_metadata(shard, key);
            if (original)
                printf("  %s", original);
            printf("\n");
            *packed_bytes += e->bytes;
        }
    }
}

/* Counts and bytes per dtype of the tensors that are no packed matrix's arrays. */
typedef struct other_tensors {
    size_t count[16];
    uint64_t bytes[16];
    size_t total;
    uint64_t total_bytes;
} other_tensors;

static int count_other_tensors(const packed_model *pm, other_tensors *o)
{
    memset(o, 0, sizeof *o);
    for (size_t s = 0; s < pm->nshards; s++) {
        const sparq_safetensors *shard = sparq_model_shard(pm->model, s);
        for (size_t i = 0; i < sparq_safetensors_count(shard); i++) {
            sparq_safetensors_tensor_info info;
            sparq_status st = sparq_safetensors_tensor(shard, i, &info);
            if (st != SPARQ_OK)
                return cli_fail("reading the tensor index", st);
            if (is_packed_array(info.name, pm->entries[s], pm->counts[s]))
                continue;
            size_t d = (size_t)info.dtype < 16 ? (size_t)info.dtype : 15;
            o->count[d]++;
            o->bytes[d] += info.bytes;
            o->total++;
            o->total_bytes += info.bytes;
        }
    }
    return 0;
}

/* The metadata value of key: from a shard's __metadata__, else from the "metadata" of a
 * sharded model's model.safetensors.index.json (which `sparq convert` writes). NULL when
 * absent; *index_json holds what the value lives in (json_decref it). */
static const char *model_metadata(const packed_model *pm, const char *key, json_t **index_json)
{
    for (size_t s = 0; s < pm->nshards; s++) {
        const char *value = sparq_safetensors_metadata(sparq_model_shard(pm->model, s), key);
        if (value)
            return value;
    }
    if (!sparq_model_is_sharded(pm->model))
        return NULL;
    if (!*index_json) {
        char path[4200];
        snprintf(path, sizeof path, "%s/model.safetensors.index.json",
                 sparq_model_folder(pm->model));
        *index_json = json_load_file(path, 0, NULL); /* sparq_model_open checked it */
    }
    return json_string_value(json_object_get(json_object_get(*index_json, "metadata"), key));
}

static void print_summary(const packed_model *pm, uint64_t packed_bytes, const other_tensors *o)
{
    char words[32];
    bytes_in_words(packed_bytes, words, sizeof words);
    printf("\npacked matrices: %zu, %llu bytes (%s)\n", pm->total,
           (unsigned long long)packed_bytes, words);
    bytes_in_words(o->total_bytes, words, sizeof words);
    printf("other tensors:   %zu, %llu bytes (%s)\n", o->total,
           (unsigned long long)o->total_bytes, words);
    for (size_t d = 0; d < 16; d++) {
        if (!o->count[d])
            continue;
        bytes_in_words(o->bytes[d], words, sizeof words);
        printf("  %-8s %6zu tensor%s %14llu bytes (%s)\n", sparq_dtype_name((sparq_dtype)d),
               o->count[d], o->count[d] == 1 ? " " : "s", (unsigned long long)o->bytes[d],
               words);
    }
    uint64_t total = packed_bytes + o->total_bytes;
    bytes_in_words(total, words, sizeof words);
    printf("total:           %llu bytes (%s) in %zu shard%s\n", (unsigned long long)total, words,
           pm->nshards, pm->nshards == 1 ? "" : "s");
    json_t *index_json = NULL;
    const char *producer = model_metadata(pm, "producer", &index_json);
    const char *version = model_metadata(pm, "sparq_version", &index_json);
    if (producer)
        printf("producer:        %s\n", producer);
    if (version)
        printf("sparq_version:   %s\n", version);
    json_decref(index_json);
}

static void usage(FILE *to)
{
    fprintf(to,
            "Usage: sparq inspect [OPTION]... FILE_OR_DIR\n\n"
            "Shows what a converted model holds: a safetensors file, or a folder with\n"
            "model.safetensors or a sharded Hugging Face layout\n"
            "(model.safetensors.index.json and its shards). One line per packed matrix:\n"
            "name, format, rows x cols, bits per weight (bytes * 8 / (rows * cols)), bytes,\n"
            "its shard (sharded models) and the original shape of a convolution (its\n"
            "NAME.original_shape metadata). Then the summary: packed matrices and their\n"
            "bytes, the other tensors by dtype, the total, and the producer and\n"
            "sparq_version metadata when present.\n\n"
            "Options:\n"
            "  -h, --help  this text\n\n"
            "Exit status: 0 success, 1 the model cannot be read, 2 usage error.\n");
}

int cli_inspect_main(int argc, char **argv)
{
    static const struct option longs[] = {{"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int rc = cli_parse_options(argc, argv, longs, NULL, NULL, usage, 1);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    if (optind >= argc)
        return cli_usage_error("which model? (a safetensors file or a folder)");
    const char *path = argv[optind];
    packed_model pm;
    if (packed_model_open(path, &pm))
        return 1;
    bool sharded = sparq_model_is_sharded(pm.model) != 0;
    printf("%s: %s, %zu shard%s\n\n", path, sharded ? "sharded" : "one file", pm.nshards,
           pm.nshards == 1 ? "" : "s");
    uint64_t packed_bytes = 0;
    if (pm.total)
        print_packed_table(&pm, sharded, &packed_bytes);
    else
        printf("no packed matrices (sparq convert makes them)\n");
    other_tensors others;
    rc = count_other_tensors(&pm, &others);
    if (!rc)
        print_summary(&pm, packed_bytes, &others);
    packed_model_close(&pm);
    return rc;
}
