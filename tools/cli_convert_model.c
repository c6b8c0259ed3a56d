/* SPDX-License-Identifier: Apache-2.0 */
/* cli_convert_model.c - the conversion of a model's tensors for `sparq convert`: which
 * tensors are selected, shard by shard the others copied and the selected ones converted
 * by sparq_layer_convert on a pool of --threads workers (one tensor at a time each,
 * input pages given back, saves under a lock into a writer that spools to disk).
 */
#include "cli_convert_parts.h"

#include <pthread.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool is_float(sparq_dtype d)
{
    return d == SPARQ_DTYPE_F32 || d == SPARQ_DTYPE_F16 || d == SPARQ_DTYPE_BF16;
}

/* "[768]", "[2, 3, 4]": shape into text. */
static void shape_text(const sparq_safetensors_tensor_info *t, char *text, size_t size)
{
    size_t used = (size_t)snprintf(text, size, "[");
    for (size_t d = 0; d < t->ndim && used < size; d++)
        used += (size_t)snprintf(text + used, size - used, "%s%zu", d ? ", " : "",
                                 t->shape[d]);
    if (used < size)
        snprintf(text + used, size - used, "]");
}

/* The most dimensions a convolution weight has (conv3d: out x in x kd x kh x kw). */
#define MAX_NDIM 5

/* Whether a tensor is converted, by the selection rules of --help: NULL when it is (and
 * *recipe says how); else "" when it is not selected, or, when its name is but the tensor
 * is nothing to convert, why not (a sentence in why). */
static const char *not_selected(const convert_args *a, const sparq_safetensors_tensor_info *t,
                                convert_recipe *recipe, char *why, size_t size)
{
    cli_convert_recipe_for(a, t->name, recipe);
    if (recipe->keep)
        return ""; /* --tensor-type NAME=keep: asked for, nothing to say */
    bool named = recipe->rule > 0 || a->have_include; /* chosen by the user, by name */
    if (recipe->rule == 0) {
        if (a->have_exclude && regexec(&a->exclude_re, t->name, 0, NULL, 0) == 0)
            return "";
        if (a->have_include ? regexec(&a->include_re, t->name, 0, NULL, 0) != 0
                            : regexec(&a->default_re, t->name, 0, NULL, 0) == 0)
            return "";
    }
    char shape[128];
    shape_text(t, shape, sizeof shape);
    size_t cols = t->ndim >= 2 && t->shape[0] ? t->count / t->shape[0] : 0;
    if (t->ndim < 2 || t->ndim > MAX_NDIM)
        snprintf(why, size, "%zu-D tensor (shape %s) is not a matrix", t->ndim, shape);
    else if (t->ndim == 3 && !named)
        snprintf(why, size, "3-D tensor (shape %s) may be stacked matrices rather than a "
                 "convolution: name it with --include or --tensor-type to convert it as "
                 "%zu x %zu", shape, t->shape[0], cols);
    else if (!is_float(t->dtype))
        snprintf(why, size, "%s tensor is not floating point", sparq_dtype_name(t->dtype));
    else if (t->count == 0 || (!named && (t->shape[0] < 2 || cols < 2)))
        snprintf(why, size, "shape %s has a side below 2", shape);
    else
        return NULL;
    return why;
}

/* The statistics of layer name in stats (NULL file: none) into *calib (NULL when the file
 * has none and the method does without). Returns 0 or the exit code after printing why. */
static int layer_stats(const convert_args *a, const sparq_safetensors *stats, const char *name,
                       sparq_calib **calib)
{
    *calib = NULL;
    if (stats == NULL)
        return 0;
    sparq_status st = sparq_calib_load(stats, name, calib);
    if (st == SPARQ_ERROR_INVALID_ARGUMENT && a->layer.method == SPARQ_METHOD_RTN &&
        a->layer.gate_metric != SPARQ_GATE_OUTPUTS)
        return 0; /* no entry: this layer is gated on its weights */
    if (st == SPARQ_OK)
        return 0;
    char what[512];
    snprintf(what, sizeof what, "reading the statistics of %s from %s (calibrate the layer "
                                "or leave it out with --exclude)", name, a->stats);
    return cli_fail(what, st);
}

/* Where the tensors of one shard go, and the pool of threads that converts them. */
typedef struct shard_work {
    const convert_args *a;
    const sparq_safetensors *in, *stats;
    const char *shard;                 /* its file name, for the report and the index    */
    sparq_safetensors_writer *writer;
    json_t *weight_map;                /* output tensor -> shard (--keep-split), or NULL */
    json_t *copied;
    convert_totals *totals;
    cli_progress *progress;
    /* the selected tensors of this shard, and their rows of the report */
    size_t *todo, todo_count;
    layer_row *rows;                   /* rows[k] for todo[k]                            */
    size_t *done;                      /* rows converted so far in the run (progress)    */
    /* the pool: the next tensor to take and whether any failed, under lock */
    pthread_mutex_t lock;
    size_t next;
    bool failed;
} shard_work;

/* Output tensor name (held by weight_map) -> the shard, with --keep-split. */
static void map_tensor(shard_work *w, const char *name)
{
    if (w->weight_map)
        json_object_set_new(w->weight_map, name, json_string(w->shard));
}

/* A tensor that is not converted: added to the writer as it is, listed in copied and
 * counted. Returns 0, or the exit code after ending the progress line and printing why. */
static int copy_tensor(shard_work *w, const sparq_safetensors_tensor_info *info)
{
    sparq_status st = sparq_safetensors_writer_add(w->writer, info->name, info->dtype,
                                                   info->ndim, info->shape, info->data,
                                                   info->bytes);
    sparq_safetensors_evict(w->in, info);
    if (st != SPARQ_OK) {
        char what[512];
        cli_progress_done(w->progress);
        snprintf(what, sizeof what, "copying %s", info->name);
        return cli_fail(what, st);
    }
    json_t *c = json_object();
    json_object_set_new(c, "name", json_string(info->name));
    if (w->weight_map)
        json_object_set_new(c, "shard", json_string(w->shard));
    json_object_set_new(c, "dtype", json_string(sparq_dtype_name(info->dtype)));
    json_object_set_new(c, "shape", cli_convert_shape_json(info->ndim, info->shape));
    json_object_set_new(c, "bytes", json_integer((json_int_t)info->bytes));
    json_array_append_new(w->copied, c);
    map_tensor(w, info->name);
    w->totals->bytes_after += info->bytes;
    w->totals->copied++;
    return 0;
}

/* "64,3,3,3": a convolution's shape, as NAME.original_shape records it. */
static void shape_csv(const layer_row *r, char *text, size_t size)
{
    size_t used = 0;
    text[0] = '\0';
    for (size_t d = 0; d < r->ndim && used < size; d++)
        used += (size_t)snprintf(text + used, size - used, "%s%zu", d ? "," : "", r->shape[d]);
}

/* Saves a converted layer into the shard's writer (with a convolution's shape), maps its
 * arrays and counts it. Called under the pool's lock. Returns 0, or the exit code after
 * printing why. */
static int save_layer(shard_work *w, const layer_row *r, const sparq_packed *packed)
{
    sparq_status st = sparq_packed_save(w->writer, r->name, packed);
    if (st == SPARQ_OK && r->ndim != 2) {
        char key[1100], value[160];
        snprintf(key, sizeof key, "%s.original_shape", r->name);
        shape_csv(r, value, sizeof value);
        st = sparq_safetensors_writer_set_metadata(w->writer, key, value);
    }
    if (st != SPARQ_OK) {
        char what[512];
        cli_progress_done(w->progress);
        snprintf(what, sizeof what, "saving %s", r->name);
        return cli_fail(what, st);
    }
    for (size_t i = 0; i < sparq_packed_array_count(packed); i++) {
        sparq_packed_array array;
        char name[1100];
        if (sparq_packed_get_array(packed, i, &array) == SPARQ_OK) {
            snprintf(name, sizeof name, "%s.%s", r->name, array.name);
            map_tensor(w, name);
        }
    }
    w->totals->bytes_after += r->result.bytes_after;
    w->totals->converted++;
    w->totals->rolled_back += r->result.rollbacks > 0;
    w->totals->last_rung += r->result.last_rung;
    cli_progress_step(w->progress, ++*w->done, r->name);
    return 0;
}

/* Converts one selected tensor into *packed by its recipe (a convolution in its GEMM
 * form, out x in*k...), filling r. Runs outside the lock but for reading the statistics
 * and printing. Returns 0, or the exit code after printing why. */
static int convert_layer(shard_work *w, const sparq_safetensors_tensor_info *info,
                         layer_row *r, sparq_packed **packed)
{
    const convert_args *a = w->a;
    r->name = info->name;
    r->shard = w->weight_map ? w->shard : NULL;
    r->ndim = info->ndim;
    memcpy(r->shape, info->shape, info->ndim * sizeof *info->shape);
    r->rows = info->shape[0];
    r->cols = info->count / info->shape[0];
    r->dtype = info->dtype;
    r->bytes_in = info->bytes; /* r->recipe: set when the tensor was selected */
    sparq_calib *calib = NULL;
    pthread_mutex_lock(&w->lock);
    int rc = layer_stats(a, w->stats, info->name, &calib);
    pthread_mutex_unlock(&w->lock);
    if (rc != 0)
        return rc;
    float *weights = malloc(info->count * sizeof(float));
    sparq_convert_options layer = a->layer;
    layer.calib = calib;
    layer.format = r->recipe.format;
    layer.sparsity = r->recipe.sparsity;
    sparq_status st = weights ? sparq_safetensors_to_f32(info, weights, info->count)
                              : SPARQ_ERROR_OUT_OF_MEMORY;
    sparq_safetensors_evict(w->in, info); /* read once: its pages go back */
    if (st == SPARQ_OK)
        st = sparq_layer_convert(weights, r->rows, r->cols, &layer, packed, &r->result);
    free(weights);
    sparq_calib_free(calib);
    if (st != SPARQ_OK) {
        char what[512];
        pthread_mutex_lock(&w->lock);
        cli_progress_done(w->progress);
        snprintf(what, sizeof what, "converting %s (%zu x %zu)", info->name, r->rows, r->cols);
        rc = cli_fail(what, st);
        pthread_mutex_unlock(&w->lock);
    }
    return rc;
}

/* A thread of the pool: takes the shard's next selected tensor until none is left (or
 * one failed), converts it, and saves it under the lock. */
static void *convert_worker(void *arg)
{
    shard_work *w = arg;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        size_t k = w->next++;
        bool stop = w->failed || k >= w->todo_count;
        pthread_mutex_unlock(&w->lock);
        if (stop)
            return NULL;
        sparq_safetensors_tensor_info info;
        sparq_packed *packed = NULL;
        int rc = sparq_safetensors_tensor(w->in, w->todo[k], &info) == SPARQ_OK
                     ? convert_layer(w, &info, &w->rows[k], &packed)
                     : cli_error("internal: tensor %zu of %s", w->todo[k], w->shard);
        pthread_mutex_lock(&w->lock);
        if (rc == 0 && !w->failed)
            rc = save_layer(w, &w->rows[k], packed);
        w->failed = w->failed || rc != 0;
        pthread_mutex_unlock(&w->lock);
        sparq_packed_free(packed);
    }
}

/* Copies the shard's other tensors, then converts its selected ones on a->threads
 * threads (the tensors' order and the threads' timing do not change the output: the
 * writer sorts). Returns 0 or the exit code after printing why. */
static int convert_shard(shard_work *w)
{
    size_t count = sparq_safetensors_count(w->in);
    sparq_safetensors_tensor_info info;
    char why[512];
    w->todo_count = 0;
    for (size_t i = 0; i < count; i++) {
        sparq_status st = sparq_safetensors_tensor(w->in, i, &info);
        if (st != SPARQ_OK)
            return cli_fail("reading a tensor", st);
        w->totals->bytes_before += info.bytes;
        if (not_selected(w->a, &info, &w->rows[w->todo_count].recipe, why, sizeof why) == NULL)
            w->todo[w->todo_count++] = i;
        else if (copy_tensor(w, &info) != 0)
            return 1;
    }
    unsigned n = w->a->threads < w->todo_count ? w->a->threads : (unsigned)w->todo_count;
    pthread_t threads[1024];
    unsigned started = 0;
    w->next = 0;
    w->failed = false;
    for (; started < n; started++)
        if (started > 0 && pthread_create(&threads[started], NULL, convert_worker, w) != 0)
            break;
    if (n > 0)
        convert_worker(w); /* this thread is one of the pool */
    for (unsigned t = 1; t < started; t++)
        pthread_join(threads[t], NULL);
    return w->failed ? 1 : 0;
}

/* Names the tensors of the model that are selected by name but cannot be converted
 * (once, before any work), and counts those that will be. */
static size_t count_selected(const convert_args *a, const sparq_model *model)
{
    size_t todo = 0;
    sparq_safetensors_tensor_info info;
    convert_recipe recipe;
    char why[512];
    for (size_t s = 0; s < sparq_model_shard_count(model); s++) {
        const sparq_safetensors *in = sparq_model_shard(model, s);
        for (size_t i = 0; i < sparq_safetensors_count(in); i++) {
            if (sparq_safetensors_tensor(in, i, &info) != SPARQ_OK)
                continue;
            const char *skip = not_selected(a, &info, &recipe, why, sizeof why);
            todo += skip == NULL;
            if (skip && *skip)
                cli_error("%s: %s; copied as it is", info.name, skip);
        }
    }
    return todo;
}

/* The folder part of path ("." when none) must be writable. Returns 0, or 1 after
 * printing why. */
/* The input's metadata into writer, first, so that the entries of converted layers win.
 * Returns 0, or 1 after printing why. */
static int copy_metadata(const sparq_safetensors *in, sparq_safetensors_writer *writer)
{
    for (size_t i = 0; i < sparq_safetensors_metadata_count(in); i++) {
        const char *key, *value;
        sparq_status st = sparq_safetensors_metadata_entry(in, i, &key, &value);
        if (st == SPARQ_OK)
            st = sparq_safetensors_writer_set_metadata(writer, key, value);
        if (st != SPARQ_OK)
            return cli_fail("copying the metadata", st);
    }
    return 0;
}

/* Every shard of the model into the output: one writer for all (writer, OUT a file),
 * or, with folder (--keep-split), a writer per shard spooled there and written there
 * under the shard's name. Fills rows, copied, weight_map and totals. Returns 0, or the
 * exit code after printing why. */
int cli_convert_model(const convert_args *a, const sparq_model *model,
                      const sparq_safetensors *stats, const char *folder,
                      sparq_safetensors_writer *writer, json_t *weight_map, layer_row *rows,
                      size_t *row_count, json_t *copied, convert_totals *totals)
{
    cli_progress progress;
    cli_progress_start(&progress, count_selected(a, model));
    size_t done = 0;
    int rc = 0;
    for (size_t s = 0; rc == 0 && s < sparq_model_shard_count(model); s++) {
        shard_work w = {.a = a, .in = sparq_model_shard(model, s), .stats = stats,
                        .shard = sparq_model_shard_name(model, s), .writer = writer,
                        .weight_map = weight_map, .copied = copied, .totals = totals,
                        .progress = &progress, .rows = rows + *row_count, .done = &done};
        sparq_status st = SPARQ_OK;
        if (folder && (st = sparq_safetensors_writer_create(&w.writer)) == SPARQ_OK)
            st = sparq_safetensors_writer_spool(w.writer, folder);
        if (st != SPARQ_OK)
            rc = cli_fail("creating a writer", st);
        w.todo = malloc((sparq_safetensors_count(w.in) + 1) * sizeof *w.todo);
        if (rc == 0 && !w.todo)
            rc = cli_error("out of memory");
        if (rc == 0)
            rc = copy_metadata(w.in, w.writer);
        if (rc == 0) {
            pthread_mutex_init(&w.lock, NULL);
            rc = convert_shard(&w);
            pthread_mutex_destroy(&w.lock);
            *row_count += w.todo_count;
        }
        if (rc == 0 && folder) {
            char path[4352];
            snprintf(path, sizeof path, "%s/%s", folder, w.shard);
            if ((st = sparq_safetensors_writer_write(w.writer, path)) != SPARQ_OK)
                rc = cli_fail("writing a shard", st);
        }
        if (folder)
            sparq_safetensors_writer_free(w.writer);
        free(w.todo);
    }
    cli_progress_done(&progress);
    return rc;
}

size_t cli_convert_tensor_count(const sparq_model *model)
{
    size_t n = 0;
    for (size_t s = 0; s < sparq_model_shard_count(model); s++)
        n += sparq_safetensors_count(sparq_model_shard(model, s));
    return n;
}

