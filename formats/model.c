/* SPDX-License-Identifier: Apache-2.0 */
/* model.c - models as they are shipped: one safetensors file, or a folder with Hugging
 * Face's sharded layout (model.safetensors.index.json naming the shard of every tensor)
 * or a model.safetensors. Opens every shard, checks the index against the shards (no
 * shard outside the folder, none missing, every tensor in exactly the shard named), and
 * finds a tensor's shard by name.
 */
#include "sparq.h"
#include "files.h"
#include "status.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct sparq_model {
    char *folder;               /* the folder holding the files                         */
    int sharded;                /* 1: read through model.safetensors.index.json          */
    size_t shard_count;
    char **shard_names;         /* file names in the folder, sorted                      */
    sparq_safetensors **shards;
    json_t *where;              /* tensor name -> shard number (sharded models)          */
};

static const char index_name[] = "model.safetensors.index.json";

void sparq_model_close(sparq_model *model)
{
    if (!model)
        return;
    for (size_t i = 0; i < model->shard_count; i++) {
        sparq_safetensors_close(model->shards ? model->shards[i] : NULL);
        free(model->shard_names ? model->shard_names[i] : NULL);
    }
    free(model->shards);
    free(model->shard_names);
    json_decref(model->where);
    free(model->folder);
    free(model);
}

/* "<folder>/<name>" (malloc'ed), or NULL. */
static char *join(const char *folder, const char *name)
{
    size_t size = strlen(folder) + strlen(name) + 2;
    char *path = malloc(size);
    if (path)
        snprintf(path, size, "%s/%s", folder, name);
    return path;
}

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A shard the index may name: a plain file name in the model's folder. */
static int plain_file_name(const char *name)
{
    return name[0] != '\0' && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 &&
           !strchr(name, '/') && !strchr(name, '\\');
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Room for count shards; names and files start NULL. */
static sparq_status make_shards(sparq_model *m, size_t count, const char *path)
{
    m->shard_names = calloc(count, sizeof *m->shard_names);
    m->shards = calloc(count, sizeof *m->shards);
    if (!m->shard_names || !m->shards)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory for %zu shards", path,
                          count);
    m->shard_count = count;
    return SPARQ_OK;
}

/* Opens shard i (named already) from the folder; the reader's sentence, prefixed. */
static sparq_status open_shard(sparq_model *m, size_t i, const char *path)
{
    char *file = join(m->folder, m->shard_names[i]);
    if (!file)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
    sparq_status st = sparq_safetensors_open(file, &m->shards[i]);
    free(file);
    if (st != SPARQ_OK) {
        char reason[768];
        snprintf(reason, sizeof reason, "%s", sparq_last_error());
        return sparq_fail(st, "model %s: shard %s: %s", path, m->shard_names[i], reason);
    }
    return SPARQ_OK;
}

/* The weight map of the index: every shard named once (sorted), every value checked. */
static sparq_status read_index(sparq_model *m, const char *index_path, const char *path)
{
    json_error_t err;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &err);
    if (!root)
        return sparq_fail(is_file(index_path) ? SPARQ_ERROR_INVALID_FORMAT : SPARQ_ERROR_IO,
                          "model %s: %s: line %d: %s", path, index_name, err.line, err.text);
    json_t *map = json_object_get(root, "weight_map");
    sparq_status st = SPARQ_OK;
    if (!json_is_object(root) || !json_is_object(map) || json_object_size(map) == 0)
        st = sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                        "model %s: %s has no \"weight_map\" object naming each tensor's shard",
                        path, index_name);
    /* the distinct shard names, as the keys of an object */
    json_t *names = json_object();
    if (st == SPARQ_OK && !names)
        st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
    const char *tensor;
    json_t *value;
    json_object_foreach(map, tensor, value)
    {
        if (st != SPARQ_OK)
            break;
        const char *shard = json_string_value(value);
        if (!shard)
            st = sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                            "model %s: %s: the shard of tensor '%s' is not a string", path,
                            index_name, tensor);
        else if (!plain_file_name(shard))
            st = sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                            "model %s: %s: shard '%s' (of tensor '%s') is not a file name in "
                            "the model's folder",
                            path, index_name, shard, tensor);
        else if (json_object_set_new(names, shard, json_true()) != 0)
            st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
    }
    if (st == SPARQ_OK)
        st = make_shards(m, json_object_size(names), path);
    size_t i = 0;
    const char *shard;
    json_object_foreach(names, shard, value)
    {
        if (st != SPARQ_OK)
            break;
        if (!(m->shard_names[i++] = strdup(shard)))
            st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
    }
    json_decref(names);
    if (st == SPARQ_OK) {
        qsort(m->shard_names, m->shard_count, sizeof *m->shard_names, by_name);
        m->where = json_object();
        if (!m->where)
            st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
    }
    /* tensor -> shard number */
    json_object_foreach(map, tensor, value)
    {
        if (st != SPARQ_OK)
            break;
        const char *name = json_string_value(value);
        char **hit = bsearch(&name, m->shard_names, m->shard_count, sizeof *m->shard_names,
                             by_name); /* always found: the names came from this map */
        json_int_t number = (json_int_t)(hit - m->shard_names);
        if (json_object_set_new(m->where, tensor, json_integer(number)) != 0)
            st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
    }
    json_decref(root);
    return st;
}

/* Every tensor of every shard is where the index says, and every indexed tensor is
 * there. */
static sparq_status check_index(const sparq_model *m, const char *path)
{
    size_t held = 0;
    for (size_t s = 0; s < m->shard_count; s++) {
        size_t n = sparq_safetensors_count(m->shards[s]);
        held += n;
        for (size_t t = 0; t < n; t++) {
            sparq_safetensors_tensor_info info;
            sparq_status st = sparq_safetensors_tensor(m->shards[s], t, &info);
            if (st != SPARQ_OK)
                return st;
            json_t *at = json_object_get(m->where, info.name);
            if (!at)
                return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                                  "model %s: tensor '%s' of shard %s is not in %s", path,
                                  info.name, m->shard_names[s], index_name);
            size_t named = (size_t)json_integer_value(at);
            if (named != s)
                return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                                  "model %s: tensor '%s' is in shard %s, but %s puts it in %s",
                                  path, info.name, m->shard_names[s], index_name,
                                  m->shard_names[named]);
        }
    }
    if (held != json_object_size(m->where)) {
        /* some indexed tensor is in no shard: name one */
        const char *tensor;
        json_t *at;
        json_object_foreach(m->where, tensor, at)
        {
            size_t s = (size_t)json_integer_value(at);
            sparq_safetensors_tensor_info info;
            if (sparq_safetensors_find(m->shards[s], tensor, &info) != SPARQ_OK)
                return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                                  "model %s: %s puts tensor '%s' in %s, which does not hold it",
                                  path, index_name, tensor, m->shard_names[s]);
        }
    }
    return SPARQ_OK;
}

sparq_status sparq_model_open(const char *path, sparq_model **model)
{
    if (!path || !path[0] || !model)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "model_open: %s",
                          !model ? "model is NULL" : "path is NULL or empty");
    *model = NULL;
    struct stat sb;
    if (stat(path, &sb) != 0)
        return sparq_fail(SPARQ_ERROR_IO, "model %s: cannot open: %s", path, strerror(errno));
    sparq_model *m = calloc(1, sizeof *m);
    if (!m)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
    sparq_status st = SPARQ_OK;
    char *index_path = NULL, *single = NULL;
    if (S_ISDIR(sb.st_mode)) {
        m->folder = strdup(path);
        index_path = m->folder ? join(path, index_name) : NULL;
        single = m->folder ? join(path, "model.safetensors") : NULL;
        if (!index_path || !single)
            st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
        else if (is_file(index_path))
            m->sharded = 1;
        else if (!is_file(single))
            st = sparq_fail(SPARQ_ERROR_IO,
                            "model %s: the folder holds neither %s nor model.safetensors", path,
                            index_name);
    } else {
        m->folder = sparq_path_folder(path);
        if (!m->folder)
            st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
    }
    if (st == SPARQ_OK && m->sharded) {
        st = read_index(m, index_path, path);
    } else if (st == SPARQ_OK) {
        const char *slash = strrchr(path, '/');
        st = make_shards(m, 1, path);
        if (st == SPARQ_OK &&
            !(m->shard_names[0] = strdup(S_ISDIR(sb.st_mode) ? "model.safetensors"
                                                              : slash ? slash + 1 : path)))
            st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "model %s: no memory", path);
    }
    for (size_t i = 0; st == SPARQ_OK && i < m->shard_count; i++)
        st = open_shard(m, i, path);
    if (st == SPARQ_OK && m->sharded)
        st = check_index(m, path);
    free(index_path);
    free(single);
    if (st != SPARQ_OK) {
        sparq_model_close(m);
        return st;
    }
    *model = m;
    return SPARQ_OK;
}

int sparq_model_is_sharded(const sparq_model *model)
{
    return model ? model->sharded : 0;
}

const char *sparq_model_folder(const sparq_model *model)
{
    return model ? model->folder : NULL;
}

size_t sparq_model_shard_count(const sparq_model *model)
{
    return model ? model->shard_count : 0;
}

const char *sparq_model_shard_name(const sparq_model *model, size_t shard)
{
    return model && shard < model->shard_count ? model->shard_names[shard] : NULL;
}

const sparq_safetensors *sparq_model_shard(const sparq_model *model, size_t shard)
{
    return model && shard < model->shard_count ? model->shards[shard] : NULL;
}

sparq_status sparq_model_find(const sparq_model *model, const char *name, size_t *shard,
                              sparq_safetensors_tensor_info *info)
{
    if (!model || !name || !info)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "model_find: %s is NULL",
                          !model ? "model" : !name ? "name" : "info");
    size_t s = 0;
    if (model->sharded) {
        json_t *at = json_object_get(model->where, name);
        if (!at)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "model_find: no tensor named '%s'",
                              name);
        s = (size_t)json_integer_value(at);
    }
    sparq_status st = sparq_safetensors_find(model->shards[s], name, info);
    if (st == SPARQ_OK && shard)
        *shard = s;
    return st;
}
