/* SPDX-License-Identifier: Apache-2.0 */
/* calib.c - calibration statistics of a layer's inputs (sparq_calib): X^T X and the sums
 * of squares accumulated in double (CBLAS dsyrk), merged under a lock, built from arrays,
 * saved to and validated on load from safetensors files; and the output error
 * NMSE_out = tr(dW H dW^T) / tr(W H W^T) that the output gate measures (CBLAS ssyrk).
 */
#include "checks.h"
#include "sparq.h"
#include "status.h"

#include <cblas.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows of x converted to double and added per dsyrk call. */
#define CALIB_CHUNK_ROWS 256
/* Rows of W (and of dW) per ssyrk panel of sparq_output_nmse. */
#define NMSE_PANEL_ROWS 1024
/* Side of the square tiles that mirroring and the pair checks walk. */
#define CALIB_TILE 64

struct sparq_calib {
    size_t cols;
    uint64_t rows;
    double *gram;  /* cols * cols, full symmetric, row-major; NULL without H */
    double *sumsq; /* cols */
    pthread_mutex_t lock;
};

/* What validation messages call the function and the two arrays ("gram" or
 * "'NAME.calib_gram'"). */
typedef struct calib_labels {
    const char *func;
    const char *gram;
    const char *sumsq;
} calib_labels;

static const char *nonfinite_name(double v)
{
    return isnan(v) ? "NaN" : (v > 0 ? "+Inf" : "-Inf");
}

static size_t size_min(size_t a, size_t b)
{
    return a < b ? a : b;
}

/* ---- creating and freeing ---------------------------------------------------------- */

sparq_status sparq_calib_create(size_t cols, int with_gram, sparq_calib **calib)
{
    if (!calib) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_create: calib is NULL");
    }
    *calib = NULL;
    if (cols == 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_create: cols is 0");
    }
    if (with_gram && cols > SIZE_MAX / cols / sizeof(double)) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "calib_create: H of %zu x %zu doubles overflows size_t", cols, cols);
    }
    sparq_calib *c = calloc(1, sizeof *c);
    if (!c) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "calib_create: no memory");
    }
    c->cols = cols;
    c->sumsq = calloc(cols, sizeof(double));
    if (with_gram) {
        c->gram = calloc(cols * cols, sizeof(double));
    }
    if (!c->sumsq || (with_gram && !c->gram)) {
        free(c->sumsq);
        free(c->gram);
        free(c);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "calib_create: no memory for the statistics of %zu inputs%s", cols,
                          with_gram ? " with H" : "");
    }
    if (pthread_mutex_init(&c->lock, NULL) != 0) {
        free(c->sumsq);
        free(c->gram);
        free(c);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "calib_create: cannot create a mutex");
    }
    *calib = c;
    return SPARQ_OK;
}

void sparq_calib_free(sparq_calib *calib)
{
    if (!calib) {
        return;
    }
    pthread_mutex_destroy(&calib->lock);
    free(calib->gram);
    free(calib->sumsq);
    free(calib);
}

/* ---- accessors ---------------------------------------------------------------------- */

size_t sparq_calib_cols(const sparq_calib *calib)
{
    return calib ? calib->cols : 0;
}

uint64_t sparq_calib_rows(const sparq_calib *calib)
{
    return calib ? calib->rows : 0;
}

const double *sparq_calib_gram(const sparq_calib *calib)
{
    return calib ? calib->gram : NULL;
}

const double *sparq_calib_sumsq(const sparq_calib *calib)
{
    return calib ? calib->sumsq : NULL;
}

/* ---- accumulating ------------------------------------------------------------------- */

/* h[j][i] = h[i][j] for every j > i (dsyrk fills the upper triangle), tile by tile. */
static void mirror(double *h, size_t k)
{
    for (size_t ib = 0; ib < k; ib += CALIB_TILE) {
        size_t ie = size_min(ib + CALIB_TILE, k);
        for (size_t jb = ib; jb < k; jb += CALIB_TILE) {
            size_t je = size_min(jb + CALIB_TILE, k);
            for (size_t i = ib; i < ie; i++) {
                for (size_t j = jb > i + 1 ? jb : i + 1; j < je; j++) {
                    h[j * k + i] = h[i * k + j];
                }
            }
        }
    }
}

/* Checks everything about an accumulate call before anything is added. */
static sparq_status check_input(const sparq_calib *calib, const float *x, size_t rows)
{
    if (!calib || !x) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_accumulate: %s is NULL",
                          !calib ? "calib" : "x");
    }
    size_t cols = calib->cols;
    if (rows == 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_accumulate: rows is 0");
    }
    if (rows > SIZE_MAX / cols || rows * cols > SIZE_MAX / sizeof(float)) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "calib_accumulate: %zu x %zu inputs overflow size_t", rows, cols);
    }
    size_t n = rows * cols;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            return sparq_fail(SPARQ_ERROR_INVALID_DATA, "calib_accumulate: x[%zu, %zu] is %s",
                              i / cols, i % cols, nonfinite_name(x[i]));
        }
    }
    return SPARQ_OK;
}

/* Adds n rows (already converted to double in xd) to the sums of squares and to the upper
 * triangle of H. */
static void add_chunk(sparq_calib *calib, const double *xd, size_t n)
{
    size_t k = calib->cols;
    for (size_t r = 0; r < n; r++) {
        const double *row = xd + r * k;
        for (size_t j = 0; j < k; j++) {
            calib->sumsq[j] += row[j] * row[j];
        }
    }
    if (calib->gram) {
        cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)k, (blasint)n, 1.0, xd,
                    (blasint)k, 1.0, calib->gram, (blasint)k);
    }
}

sparq_status sparq_calib_accumulate(sparq_calib *calib, const float *x, size_t rows)
{
    sparq_status st = check_input(calib, x, rows);
    if (st != SPARQ_OK) {
        return st;
    }
    size_t k = calib->cols;
    size_t chunk = size_min(rows, CALIB_CHUNK_ROWS);
    if (chunk > SIZE_MAX / sizeof(double) / k) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "calib_accumulate: chunk overflows size_t");
    }
    double *xd = malloc(chunk * k * sizeof(double));
    if (!xd) {
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "calib_accumulate: no memory for %zu x %zu doubles", chunk, k);
    }
    pthread_mutex_lock(&calib->lock);
    if ((uint64_t)rows > UINT64_MAX - calib->rows) {
        uint64_t have = calib->rows;
        pthread_mutex_unlock(&calib->lock);
        free(xd);
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "calib_accumulate: %zu more rows overflow the row count %" PRIu64,
                          rows, have);
    }
    for (size_t r0 = 0; r0 < rows; r0 += chunk) {
        size_t n = size_min(chunk, rows - r0);
        const float *src = x + r0 * k;
        for (size_t i = 0; i < n * k; i++) {
            xd[i] = src[i];
        }
        add_chunk(calib, xd, n);
    }
    if (calib->gram) {
        mirror(calib->gram, k);
    }
    calib->rows += rows;
    pthread_mutex_unlock(&calib->lock);
    free(xd);
    return SPARQ_OK;
}

sparq_status sparq_calib_merge(sparq_calib *dst, const sparq_calib *src)
{
    if (!dst || !src) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_merge: %s is NULL",
                          !dst ? "dst" : "src");
    }
    if (dst == src) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "calib_merge: dst and src are the same statistics");
    }
    if (dst->cols != src->cols) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "calib_merge: dst has %zu cols but src has %zu", dst->cols, src->cols);
    }
    if (dst->gram && !src->gram) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "calib_merge: dst has H (gram) but src has not");
    }
    size_t k = dst->cols;
    pthread_mutex_lock(&dst->lock);
    if (src->rows > UINT64_MAX - dst->rows) {
        uint64_t have = dst->rows;
        pthread_mutex_unlock(&dst->lock);
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "calib_merge: %" PRIu64 " + %" PRIu64 " rows overflow the row count",
                          have, src->rows);
    }
    dst->rows += src->rows;
    for (size_t j = 0; j < k; j++) {
        dst->sumsq[j] += src->sumsq[j];
    }
    if (dst->gram) {
        for (size_t i = 0; i < k * k; i++) {
            dst->gram[i] += src->gram[i];
        }
    }
    pthread_mutex_unlock(&dst->lock);
    return SPARQ_OK;
}

/* ---- validation (from_arrays and load) ---------------------------------------------- */

/* Every value finite, sums of squares >= 0, diagonal of H equal to them (1e-6 relative). */
static sparq_status check_entries(const sparq_calib *c, const calib_labels *l)
{
    size_t k = c->cols;
    for (size_t j = 0; j < k; j++) {
        double s = c->sumsq[j];
        if (!isfinite(s)) {
            return sparq_fail(SPARQ_ERROR_INVALID_DATA, "%s: %s[%zu] is %s", l->func, l->sumsq,
                              j, nonfinite_name(s));
        }
        if (s < 0) {
            return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                              "%s: %s[%zu] is %.10g, negative (a sum of squares is >= 0)",
                              l->func, l->sumsq, j, s);
        }
    }
    if (!c->gram) {
        return SPARQ_OK;
    }
    for (size_t i = 0; i < k * k; i++) {
        if (!isfinite(c->gram[i])) {
            return sparq_fail(SPARQ_ERROR_INVALID_DATA, "%s: %s[%zu, %zu] is %s", l->func,
                              l->gram, i / k, i % k, nonfinite_name(c->gram[i]));
        }
    }
    for (size_t j = 0; j < k; j++) {
        double h = c->gram[j * k + j], s = c->sumsq[j];
        if (fabs(h - s) > 1e-6 * fmax(fabs(h), s)) {
            return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                              "%s: the diagonal of %s differs from %s: [%zu, %zu] = %.10g but "
                              "%s[%zu] = %.10g (they must agree within 1e-6 relative)",
                              l->func, l->gram, l->sumsq, j, j, h, l->sumsq, j, s);
        }
    }
    return SPARQ_OK;
}

/* The pair (i, j), i < j, of H: symmetric and within Cauchy-Schwarz. The diagonal is
 * known to be >= 0 by now (it equals the non-negative sums of squares). */
static sparq_status check_pair(const sparq_calib *c, const calib_labels *l, size_t i, size_t j)
{
    size_t k = c->cols;
    double a = c->gram[i * k + j], b = c->gram[j * k + i];
    double bound = sqrt(c->gram[i * k + i]) * sqrt(c->gram[j * k + j]);
    if (fabs(a - b) > 1e-6 * bound + 1e-300) {
        return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                          "%s: %s is not symmetric: [%zu, %zu] = %.10g but [%zu, %zu] = %.10g",
                          l->func, l->gram, i, j, a, j, i, b);
    }
    double big = fmax(fabs(a), fabs(b));
    if (big > bound * (1.0 + 1e-6)) {
        return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                          "%s: %s breaks Cauchy-Schwarz, as no X^T X does: |[%zu, %zu]| = %.10g "
                          "> sqrt([%zu, %zu] [%zu, %zu]) = %.10g",
                          l->func, l->gram, i, j, big, i, i, j, j, bound);
    }
    return SPARQ_OK;
}

/* Everything sparq_calib_load() promises about the values, tile by tile over H. */
static sparq_status check_values(const sparq_calib *c, const calib_labels *l)
{
    sparq_status st = check_entries(c, l);
    size_t k = c->cols;
    for (size_t ib = 0; st == SPARQ_OK && c->gram && ib < k; ib += CALIB_TILE) {
        size_t ie = size_min(ib + CALIB_TILE, k);
        for (size_t jb = ib; st == SPARQ_OK && jb < k; jb += CALIB_TILE) {
            size_t je = size_min(jb + CALIB_TILE, k);
            for (size_t i = ib; st == SPARQ_OK && i < ie; i++) {
                for (size_t j = jb > i + 1 ? jb : i + 1; st == SPARQ_OK && j < je; j++) {
                    st = check_pair(c, l, i, j);
                }
            }
        }
    }
    return st;
}

sparq_status sparq_calib_from_arrays(size_t cols, uint64_t rows, const double *gram,
                                     const double *sumsq, sparq_calib **calib)
{
    if (!sumsq || !calib) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_from_arrays: %s is NULL",
                          !sumsq ? "sumsq" : "calib");
    }
    *calib = NULL;
    if (cols == 0 || rows == 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "calib_from_arrays: %s is 0; it must be at least 1",
                          cols == 0 ? "cols" : "rows");
    }
    sparq_calib *c = NULL;
    sparq_status st = sparq_calib_create(cols, gram != NULL, &c);
    if (st != SPARQ_OK) {
        return st;
    }
    memcpy(c->sumsq, sumsq, cols * sizeof(double));
    if (gram) {
        memcpy(c->gram, gram, cols * cols * sizeof(double));
    }
    c->rows = rows;
    const calib_labels labels = {"calib_from_arrays", "gram", "sumsq"};
    st = check_values(c, &labels);
    if (st != SPARQ_OK) {
        sparq_calib_free(c);
        return st;
    }
    *calib = c;
    return SPARQ_OK;
}

/* ---- files -------------------------------------------------------------------------- */

/* The keys and labels of one layer: "NAME.calib_sumsq", "'NAME.calib_sumsq'", ... */
typedef struct calib_keys {
    char *sumsq;
    char *gram;
    char *rows;
    char *sumsq_label;
    char *gram_label;
    char *rows_label;
} calib_keys;

static void keys_free(calib_keys *keys)
{
    free(keys->sumsq);
    free(keys->gram);
    free(keys->rows);
    free(keys->sumsq_label);
    free(keys->gram_label);
    free(keys->rows_label);
}

static char *key_make(const char *format, const char *name, const char *suffix)
{
    size_t size = strlen(name) + strlen(suffix) + 8;
    char *key = malloc(size);
    if (key) {
        snprintf(key, size, format, name, suffix);
    }
    return key;
}

static sparq_status keys_make(const char *name, const char *func, calib_keys *keys)
{
    memset(keys, 0, sizeof *keys);
    if (strlen(name) > SIZE_MAX / 2) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: name too long", func);
    }
    keys->sumsq = key_make("%s.%s", name, "calib_sumsq");
    keys->gram = key_make("%s.%s", name, "calib_gram");
    keys->rows = key_make("%s.%s", name, "calib_rows");
    keys->sumsq_label = key_make("'%s.%s'", name, "calib_sumsq");
    keys->gram_label = key_make("'%s.%s'", name, "calib_gram");
    keys->rows_label = key_make("'%s.%s'", name, "calib_rows");
    if (!keys->sumsq || !keys->gram || !keys->rows || !keys->sumsq_label ||
        !keys->gram_label || !keys->rows_label) {
        keys_free(keys);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s: no memory", func);
    }
    return SPARQ_OK;
}

/* Adds one tensor, saying which layer a refusal was for. */
static sparq_status save_tensor(sparq_safetensors_writer *writer, const char *key, size_t ndim,
                                const size_t *shape, const double *data, size_t count)
{
    sparq_status st = sparq_safetensors_writer_add(writer, key, SPARQ_DTYPE_F64, ndim, shape,
                                                   data, count * sizeof(double));
    if (st != SPARQ_OK) {
        char reason[512];
        snprintf(reason, sizeof reason, "%s", sparq_last_error());
        st = sparq_fail(st, "calib_save: cannot add '%s': %s", key, reason);
    }
    return st;
}

/* NAME.calib_sumsq goes first: a layer already in the writer is refused there, before
 * anything of this call is added. */
sparq_status sparq_calib_save(sparq_safetensors_writer *writer, const char *name,
                              const sparq_calib *calib)
{
    if (!writer || !name || !calib) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_save: %s is NULL",
                          !writer ? "writer" : !name ? "name" : "calib");
    }
    if (name[0] == '\0') {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_save: name is empty");
    }
    if (calib->rows == 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "calib_save: the statistics for '%s' have no rows", name);
    }
    calib_keys keys;
    sparq_status st = keys_make(name, "calib_save", &keys);
    if (st != SPARQ_OK) {
        return st;
    }
    size_t k = calib->cols;
    size_t shape[2] = {k, k};
    st = save_tensor(writer, keys.sumsq, 1, shape, calib->sumsq, k);
    if (st == SPARQ_OK && calib->gram) {
        st = save_tensor(writer, keys.gram, 2, shape, calib->gram, k * k);
    }
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64, calib->rows);
    if (st == SPARQ_OK) {
        st = sparq_safetensors_writer_set_metadata(writer, keys.rows, text);
    }
    if (st == SPARQ_OK) {
        st = sparq_safetensors_writer_set_metadata(writer, "sparq_calib", "1");
    }
    keys_free(&keys);
    return st;
}

/* NAME.calib_rows: digits only, no sign or spaces, 1 <= value <= UINT64_MAX. */
static sparq_status parse_rows(const char *text, const calib_keys *keys, uint64_t *rows)
{
    uint64_t v = 0;
    int ok = text[0] != '\0';
    for (const char *p = text; ok && *p; p++) {
        unsigned digit = (unsigned)(*p - '0');
        if (digit > 9 || v > (UINT64_MAX - digit) / 10) {
            ok = 0;
        } else {
            v = v * 10 + digit;
        }
    }
    if (!ok || v == 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "calib_load: metadata %s = \"%s\" is not a decimal count >= 1",
                          keys->rows_label, text);
    }
    *rows = v;
    return SPARQ_OK;
}

/* The "sparq_calib" version, and whether the layer has any entry at all. */
static sparq_status find_layer(const sparq_safetensors *file, const char *name,
                               const calib_keys *keys)
{
    const char *version = sparq_safetensors_metadata(file, "sparq_calib");
    if (!version) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "calib_load: the file has no metadata \"sparq_calib\" (the version of "
                          "the layout); it holds no calibration statistics");
    }
    if (strcmp(version, "1") != 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "calib_load: metadata \"sparq_calib\" = \"%s\"; this library reads "
                          "version \"1\"",
                          version);
    }
    sparq_safetensors_tensor_info info;
    if (sparq_safetensors_find(file, keys->sumsq, &info) != SPARQ_OK &&
        sparq_safetensors_find(file, keys->gram, &info) != SPARQ_OK &&
        !sparq_safetensors_metadata(file, keys->rows)) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "calib_load: no calibration statistics for '%s'", name);
    }
    return SPARQ_OK;
}

/* One tensor of the layer: F64 and ndim dimensions. */
static sparq_status find_tensor(const sparq_safetensors *file, const char *key,
                                const char *label, size_t ndim,
                                sparq_safetensors_tensor_info *info)
{
    if (sparq_safetensors_find(file, key, info) != SPARQ_OK) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "calib_load: tensor %s is missing", label);
    }
    if (info->dtype != SPARQ_DTYPE_F64) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "calib_load: %s is %s, expected F64",
                          label, sparq_dtype_name(info->dtype));
    }
    if (info->ndim != ndim) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                          "calib_load: %s has %zu dimensions, expected %zu", label, info->ndim,
                          ndim);
    }
    return SPARQ_OK;
}

/* The shapes and the row count; *gram->data is NULL when the layer has no H. */
static sparq_status read_layout(const sparq_safetensors *file, const calib_keys *keys,
                                sparq_safetensors_tensor_info *sumsq,
                                sparq_safetensors_tensor_info *gram, uint64_t *rows)
{
    sparq_status st = find_tensor(file, keys->sumsq, keys->sumsq_label, 1, sumsq);
    if (st != SPARQ_OK) {
        return st;
    }
    size_t k = sumsq->shape[0];
    if (k == 0) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "calib_load: %s is empty",
                          keys->sumsq_label);
    }
    memset(gram, 0, sizeof *gram);
    sparq_safetensors_tensor_info probe;
    if (sparq_safetensors_find(file, keys->gram, &probe) == SPARQ_OK) {
        st = find_tensor(file, keys->gram, keys->gram_label, 2, gram);
        if (st != SPARQ_OK) {
            return st;
        }
        if (gram->shape[0] != gram->shape[1]) {
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "calib_load: %s is not square: [%zu, %zu]", keys->gram_label,
                              gram->shape[0], gram->shape[1]);
        }
        if (gram->shape[0] != k) {
            return sparq_fail(SPARQ_ERROR_INVALID_FORMAT,
                              "calib_load: %s is [%zu, %zu] but %s has K = %zu",
                              keys->gram_label, gram->shape[0], gram->shape[1],
                              keys->sumsq_label, k);
        }
    }
    const char *text = sparq_safetensors_metadata(file, keys->rows);
    if (!text) {
        return sparq_fail(SPARQ_ERROR_INVALID_FORMAT, "calib_load: metadata %s is missing",
                          keys->rows_label);
    }
    return parse_rows(text, keys, rows);
}

/* Reads and validates; the tensors' bytes may be unaligned, so they are memcpy'ed. */
static sparq_status read_calib(const sparq_safetensors *file, const char *name,
                               const calib_keys *keys, sparq_calib **calib)
{
    sparq_status st = find_layer(file, name, keys);
    sparq_safetensors_tensor_info sumsq, gram;
    uint64_t rows = 0;
    if (st == SPARQ_OK) {
        st = read_layout(file, keys, &sumsq, &gram, &rows);
    }
    sparq_calib *c = NULL;
    if (st == SPARQ_OK) {
        st = sparq_calib_create(sumsq.shape[0], gram.data != NULL, &c);
    }
    if (st != SPARQ_OK) {
        return st;
    }
    size_t k = c->cols;
    memcpy(c->sumsq, sumsq.data, k * sizeof(double));
    if (c->gram) {
        memcpy(c->gram, gram.data, k * k * sizeof(double));
    }
    c->rows = rows;
    const calib_labels labels = {"calib_load", keys->gram_label, keys->sumsq_label};
    st = check_values(c, &labels);
    if (st != SPARQ_OK) {
        sparq_calib_free(c);
        return st;
    }
    *calib = c;
    return SPARQ_OK;
}

sparq_status sparq_calib_load(const sparq_safetensors *file, const char *name,
                              sparq_calib **calib)
{
    if (!file || !name || !calib) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_load: %s is NULL",
                          !file ? "file" : !name ? "name" : "calib");
    }
    *calib = NULL;
    if (name[0] == '\0') {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "calib_load: name is empty");
    }
    calib_keys keys;
    sparq_status st = keys_make(name, "calib_load", &keys);
    if (st == SPARQ_OK) {
        st = read_calib(file, name, &keys, calib);
        keys_free(&keys);
    }
    return st;
}

/* ---- output error ------------------------------------------------------------------- */

/* The arguments of sparq_output_nmse, then NaN/Inf in w and approx; *amax receives the
 * largest magnitude of either. */
static sparq_status output_nmse_check(const float *w, const float *approx, size_t rows,
                                      size_t cols, const sparq_calib *calib, const double *nmse,
                                      float *amax)
{
    const char *func = "output_nmse";
    if (!w || !approx || !calib || !nmse) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", func,
                          !w ? "w" : !approx ? "approx" : !calib ? "calib" : "nmse");
    }
    sparq_status st = sparq_check_shape(rows, cols, func);
    if (st != SPARQ_OK) {
        return st;
    }
    if (!calib->gram) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: the statistics have no H (gram); accumulate them with_gram 1",
                          func);
    }
    if (cols != calib->cols) {
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: the matrix has %zu cols but the statistics have %zu", func, cols,
                          calib->cols);
    }
    float big = 0.0f;
    for (size_t i = 0; i < rows * cols; i++) {
        float a = w[i], b = approx[i];
        if (!isfinite(a) || !isfinite(b)) {
            return sparq_fail(SPARQ_ERROR_INVALID_DATA, "%s: %s[%zu, %zu] is %s", func,
                              !isfinite(a) ? "w" : "approx", i / cols, i % cols,
                              nonfinite_name(!isfinite(a) ? a : b));
        }
        big = fmaxf(big, fmaxf(fabsf(a), fabsf(b)));
    }
    *amax = big;
    return SPARQ_OK;
}

/* 2^-e for the binary exponent e of v > 0 (v * result lies in [0.5, 1)); 1 for v = 0. */
static double power_scale(double v)
{
    int e = 0;
    frexp(v, &e);
    return v > 0 ? ldexp(1.0, -e) : 1.0;
}

/* sum_ij G_ij H_ij for G symmetric with only its upper triangle filled (as ssyrk leaves
 * it), in double, tile by tile: G_ii H_ii + G_ij (H_ij + H_ji) for i < j. */
static double output_nmse_dot(const float *g, const double *h, size_t k)
{
    double sum = 0.0;
    for (size_t ib = 0; ib < k; ib += CALIB_TILE) {
        size_t ie = size_min(ib + CALIB_TILE, k);
        for (size_t jb = ib; jb < k; jb += CALIB_TILE) {
            size_t je = size_min(jb + CALIB_TILE, k);
            for (size_t i = ib; i < ie; i++) {
                size_t j = jb > i ? jb : i;
                if (j == i) {
                    sum += (double)g[i * k + i] * h[i * k + i];
                    j++;
                }
                for (; j < je; j++) {
                    sum += (double)g[i * k + j] * (h[i * k + j] + h[j * k + i]);
                }
            }
        }
    }
    return sum;
}

/* tr(A H A^T) = sum_ij (A^T A)_ij H_ij for A = dW (diff 1) or W (diff 0), both times
 * scale: G = A^T A accumulated by ssyrk over panels of the rows (the buffer panel holds
 * panel_rows of A as floats), then the dot with H in double. */
static double output_nmse_form(const float *w, const float *approx, size_t rows, size_t k,
                               double scale, int diff, const double *h, float *g, float *panel,
                               size_t panel_rows)
{
    memset(g, 0, k * k * sizeof(float));
    for (size_t r0 = 0; r0 < rows; r0 += panel_rows) {
        size_t n = size_min(panel_rows, rows - r0);
        const float *wp = w + r0 * k, *ap = approx + r0 * k;
        for (size_t i = 0; i < n * k; i++) {
            double v = diff ? (double)ap[i] - (double)wp[i] : (double)wp[i];
            panel[i] = (float)(v * scale);
        }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (blasint)k, (blasint)n, 1.0f, panel,
                    (blasint)k, 1.0f, g, (blasint)k);
    }
    return output_nmse_dot(g, h, k);
}

/* NMSE_out = sum_ij (dW^T dW)_ij H_ij / sum_ij (W^T W)_ij H_ij: half the products of
 * dW H dW^T (one rank-k update per panel instead of a full product), and H stays in
 * double. dW and W are scaled by one power of two so that no float overflows (the ratio
 * does not change); rounding can make a tiny quadratic form come out below 0: such a
 * sum counts as 0. */
sparq_status sparq_output_nmse(const float *w, const float *approx, size_t rows, size_t cols,
                               const sparq_calib *calib, double *nmse)
{
    float amax = 0.0f;
    sparq_status st = output_nmse_check(w, approx, rows, cols, calib, nmse, &amax);
    if (st != SPARQ_OK) {
        return st;
    }
    size_t k = cols;
    size_t panel_rows = size_min(rows, NMSE_PANEL_ROWS);
    float *g = malloc(k * k * sizeof(float));
    float *panel = malloc(panel_rows * k * sizeof(float));
    if (!g || !panel) {
        free(g);
        free(panel);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "output_nmse: no memory for %zu x %zu floats and a panel", k, k);
    }
    /* |dW| <= 2 amax: scaled below 1, so G's entries stay below rows. */
    double scale = power_scale(2.0 * (double)amax);
    double num = output_nmse_form(w, approx, rows, k, scale, 1, calib->gram, g, panel,
                                  panel_rows);
    double den = output_nmse_form(w, approx, rows, k, scale, 0, calib->gram, g, panel,
                                  panel_rows);
    free(g);
    free(panel);
    num = fmax(num, 0.0);
    den = fmax(den, 0.0);
    if (den > 0.0) {
        *nmse = num / den;
    } else {
        *nmse = num > 0.0 ? INFINITY : 0.0;
    }
    return SPARQ_OK;
}
