/* SPDX-License-Identifier: Apache-2.0 */
/* cli_demo_model.c - the model of `sparq demo`: the embedded digits MLP (or --model FILE)
 * read into float layers, with its held-out test split and its calibration inputs
 * (calib.x, the training split's), or any file's 2-D float matrices for the speed part.
 * Uses no other cli_demo file; only cli_demo.c uses it. */
#include "cli_demo_parts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* tools/demo/digits_mlp.safetensors, embedded at build time (cmake/embed_demo_model.cmake) */
extern const unsigned char sparq_demo_model[];
extern const size_t sparq_demo_model_size;


void demo_model_free(demo_model *m)
{
    for (size_t i = 0; i < m->nlayers; i++)
        free(m->layers[i].w), free(m->layers[i].bias);
    free(m->layers);
    free(m->test_x), free(m->test_y), free(m->test_pred), free(m->calib_x);
    sparq_safetensors_close(m->file);
    memset(m, 0, sizeof *m);
}

/* The tensor called name as floats (malloc'ed), with its count checked when want > 0. */
static sparq_status read_floats(demo_model *m, const char *name, size_t want,
                                float **out, sparq_safetensors_tensor_info *info)
{
    sparq_status st = sparq_safetensors_find(m->file, name, info);
    if (st != SPARQ_OK)
        return st;
    if (want && info->count != want) {
        snprintf(m->why, sizeof m->why, "%s has %zu values, expected %zu",
                 name, info->count, want);
        return SPARQ_ERROR_INVALID_FORMAT;
    }
    *out = malloc((info->count ? info->count : 1) * sizeof(float));
    if (!*out)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    return sparq_safetensors_to_f32(info, *out, info->count);
}

static sparq_status read_labels(demo_model *m, const char *name, int **out)
{
    float *f = NULL;
    sparq_safetensors_tensor_info info;
    sparq_status st = read_floats(m, name, m->ntest, &f, &info);
    if (st == SPARQ_OK && !(*out = malloc(m->ntest * sizeof **out)))
        st = SPARQ_ERROR_OUT_OF_MEMORY;
    for (size_t i = 0; st == SPARQ_OK && i < m->ntest; i++)
        (*out)[i] = (int)f[i];
    free(f);
    return st;
}

static model_layer *add_layer(demo_model *m, const char *name, size_t rows, size_t cols)
{
    model_layer *grown = realloc(m->layers, (m->nlayers + 1) * sizeof *grown);
    if (!grown)
        return NULL;
    m->layers = grown;
    model_layer *l = &m->layers[m->nlayers++];
    memset(l, 0, sizeof *l);
    snprintf(l->name, sizeof l->name, "%s", name);
    l->rows = rows, l->cols = cols;
    return l;
}

/* The demo's own layout: fc1..fcN (weight [out, in] and bias), chained, and test.x,
 * test.y (test.pred and calib.x optional). */
static sparq_status load_mlp(demo_model *m)
{
    sparq_safetensors_tensor_info info;
    sparq_status st = SPARQ_OK;
    for (unsigned i = 1; i <= MAX_MLP_LAYERS && st == SPARQ_OK; i++) {
        char name[64], bias[64];
        snprintf(name, sizeof name, "fc%u.weight", i);
        snprintf(bias, sizeof bias, "fc%u.bias", i);
        if (sparq_safetensors_find(m->file, name, &info) != SPARQ_OK)
            break;
        size_t in = m->nlayers ? m->layers[m->nlayers - 1].rows : 0;
        if (info.ndim != 2 || (in && info.shape[1] != in)) {
            snprintf(m->why, sizeof m->why, "%s does not continue the MLP", name);
            return SPARQ_ERROR_INVALID_FORMAT;
        }
        model_layer *l = add_layer(m, name, info.shape[0], info.shape[1]);
        if (!l)
            return SPARQ_ERROR_OUT_OF_MEMORY;
        st = read_floats(m, name, 0, &l->w, &info);
        if (st == SPARQ_OK)
            st = read_floats(m, bias, l->rows, &l->bias, &info);
    }
    if (st == SPARQ_OK)
        st = read_floats(m, "test.x", 0, &m->test_x, &info);
    if (st == SPARQ_OK && (info.ndim != 2 || info.shape[1] != m->layers[0].cols)) {
        snprintf(m->why, sizeof m->why, "test.x is not [n, %zu]", m->layers[0].cols);
        return SPARQ_ERROR_INVALID_FORMAT;
    }
    m->ntest = st == SPARQ_OK ? info.shape[0] : 0;
    if (st == SPARQ_OK)
        st = read_labels(m, "test.y", &m->test_y);
    if (st == SPARQ_OK && sparq_safetensors_find(m->file, "test.pred", &info) == SPARQ_OK)
        st = read_labels(m, "test.pred", &m->test_pred);
    if (st == SPARQ_OK && sparq_safetensors_find(m->file, "calib.x", &info) == SPARQ_OK) {
        if (info.ndim != 2 || info.shape[0] == 0 || info.shape[1] != m->layers[0].cols) {
            snprintf(m->why, sizeof m->why, "calib.x is not [n, %zu]", m->layers[0].cols);
            return SPARQ_ERROR_INVALID_FORMAT;
        }
        m->ncalib = info.shape[0];
        st = read_floats(m, "calib.x", 0, &m->calib_x, &info);
    }
    m->mlp = st == SPARQ_OK;
    return st;
}

/* Any other model: every 2-D float tensor with both sizes >= 2 is a layer. */
static sparq_status load_matrices(demo_model *m)
{
    sparq_status st = SPARQ_OK;
    for (size_t i = 0; i < sparq_safetensors_count(m->file) && st == SPARQ_OK; i++) {
        sparq_safetensors_tensor_info info;
        st = sparq_safetensors_tensor(m->file, i, &info);
        bool is_float = info.dtype == SPARQ_DTYPE_F32 || info.dtype == SPARQ_DTYPE_F16 ||
                        info.dtype == SPARQ_DTYPE_BF16;
        if (st != SPARQ_OK || !is_float || info.ndim != 2 || info.shape[0] < 2 ||
            info.shape[1] < 2)
            continue;
        model_layer *l = add_layer(m, info.name, info.shape[0], info.shape[1]);
        if (!l)
            return SPARQ_ERROR_OUT_OF_MEMORY;
        st = read_floats(m, info.name, 0, &l->w, &info);
    }
    if (st == SPARQ_OK && m->nlayers == 0) {
        snprintf(m->why, sizeof m->why, "no 2-D float (F32/F16/BF16) tensor to convert");
        return SPARQ_ERROR_INVALID_FORMAT;
    }
    return st;
}

int demo_model_open(const char *path, demo_model *m)
{
    memset(m, 0, sizeof *m);
    sparq_status st = path ? sparq_safetensors_open(path, &m->file)
                           : sparq_safetensors_open_memory(sparq_demo_model,
                                                           sparq_demo_model_size, &m->file);
    sparq_safetensors_tensor_info info;
    bool mlp = st == SPARQ_OK && sparq_safetensors_find(m->file, "fc1.weight", &info) ==
                                     SPARQ_OK &&
               sparq_safetensors_find(m->file, "test.x", &info) == SPARQ_OK;
    if (st == SPARQ_OK)
        st = mlp ? load_mlp(m) : load_matrices(m);
    if (st != SPARQ_OK) {
        char what[1100];
        snprintf(what, sizeof what, "reading %s", path ? path : "the embedded model");
        int rc = m->why[0] ? cli_error("%s: %s", what, m->why) : cli_fail(what, st);
        demo_model_free(m);
        return rc;
    }
    return 0;
}

