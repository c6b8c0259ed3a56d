/* SPDX-License-Identifier: Apache-2.0 */
/* test_calib.c - calibration statistics: accumulation against a plain double loop, merges
 * from several threads, files round-tripped bit-exactly, hostile files and arrays refused
 * with the right status and sentence, and sparq_output_nmse against explicit outputs.
 */
#include "testing.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void assert_error(sparq_status got, sparq_status want, const char *fragment)
{
    if (got != want) {
        fail_msg("status %s, want %s (%s)", sparq_status_string(got), sparq_status_string(want),
                 sparq_last_error());
    }
    if (!strstr(sparq_last_error(), fragment)) {
        fail_msg("error \"%s\" does not contain \"%s\"", sparq_last_error(), fragment);
    }
}

/* H = X^T X and s = diag sums, by the definition, in double. */
static void reference_stats(const float *x, size_t rows, size_t k, double *gram, double *sumsq)
{
    if (gram) {
        memset(gram, 0, k * k * sizeof(double));
    }
    memset(sumsq, 0, k * sizeof(double));
    for (size_t t = 0; t < rows; t++) {
        const float *r = x + t * k;
        for (size_t i = 0; i < k; i++) {
            sumsq[i] += (double)r[i] * r[i];
            for (size_t j = 0; gram && j < k; j++) {
                gram[i * k + j] += (double)r[i] * r[j];
            }
        }
    }
}

/* Every entry within tol of want, relative to sqrt(H_ii H_jj) (the scale of row i and
 * column j: an off-diagonal sum of mixed signs may be near 0 itself). */
static void assert_gram_near(const double *got, const double *want, size_t k, double tol)
{
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < k; j++) {
            double scale = sqrt(want[i * k + i] * want[j * k + j]);
            double d = fabs(got[i * k + j] - want[i * k + j]);
            if (!(d <= tol * scale + 1e-300)) {
                fail_msg("H[%zu, %zu] = %.17g, want %.17g", i, j, got[i * k + j],
                         want[i * k + j]);
            }
        }
    }
}

static void assert_sumsq_near(const double *got, const double *want, size_t k, double tol)
{
    for (size_t j = 0; j < k; j++) {
        if (!(fabs(got[j] - want[j]) <= tol * want[j] + 1e-300)) {
            fail_msg("sumsq[%zu] = %.17g, want %.17g", j, got[j], want[j]);
        }
    }
}

static void accumulate_matches_loop(void **state)
{
    (void)state;
    const size_t k = 37, total = 1 + 300 + 17 + 256 + 2;
    const size_t parts[] = {1, 300, 17, 256, 2}; /* 300: two chunks of the dsyrk loop */
    float *x = malloc(total * k * sizeof(float));
    testing_fill_uniform(x, total * k, 11, -2.0f, 3.0f);
    sparq_calib *c = NULL;
    assert_int_equal(sparq_calib_create(k, 1, &c), SPARQ_OK);
    size_t done = 0;
    for (size_t p = 0; p < sizeof parts / sizeof parts[0]; p++) {
        assert_int_equal(sparq_calib_accumulate(c, x + done * k, parts[p]), SPARQ_OK);
        done += parts[p];
    }
    assert_int_equal(sparq_calib_cols(c), k);
    assert_int_equal(sparq_calib_rows(c), total);
    double *gram = malloc(k * k * sizeof(double)), sumsq[37];
    reference_stats(x, total, k, gram, sumsq);
    const double *h = sparq_calib_gram(c);
    assert_non_null(h);
    assert_gram_near(h, gram, k, 1e-12);
    assert_sumsq_near(sparq_calib_sumsq(c), sumsq, k, 1e-12);
    for (size_t i = 0; i < k; i++) {
        for (size_t j = 0; j < k; j++) {
            assert_true(h[i * k + j] == h[j * k + i]); /* exactly symmetric */
        }
    }
    sparq_calib_free(c);
    free(gram);
    free(x);
}

static void without_gram(void **state)
{
    (void)state;
    const size_t k = 5, rows = 9;
    float x[45];
    testing_fill_uniform(x, rows * k, 3, -1.0f, 1.0f);
    sparq_calib *c = NULL;
    assert_int_equal(sparq_calib_create(k, 0, &c), SPARQ_OK);
    assert_null(sparq_calib_gram(c));
    assert_int_equal(sparq_calib_accumulate(c, x, rows), SPARQ_OK);
    assert_null(sparq_calib_gram(c));
    double sumsq[5];
    reference_stats(x, rows, k, NULL, sumsq);
    assert_sumsq_near(sparq_calib_sumsq(c), sumsq, k, 1e-14);
    assert_int_equal(sparq_calib_rows(c), rows);
    sparq_calib_free(c);
    sparq_calib_free(NULL);

    assert_error(sparq_calib_create(0, 1, &c), SPARQ_ERROR_INVALID_ARGUMENT, "cols is 0");
    assert_error(sparq_calib_create(4, 1, NULL), SPARQ_ERROR_INVALID_ARGUMENT, "NULL");
    assert_error(sparq_calib_create(SIZE_MAX / 2, 1, &c), SPARQ_ERROR_OUT_OF_MEMORY,
                 "overflows");
}

static void bad_input_adds_nothing(void **state)
{
    (void)state;
    const size_t k = 20, rows = 6;
    float x[120];
    testing_fill_uniform(x, rows * k, 5, -1.0f, 1.0f);
    sparq_calib *c = NULL;
    assert_int_equal(sparq_calib_create(k, 1, &c), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(c, x, 2), SPARQ_OK);
    double before_s[20], *before_h = malloc(k * k * sizeof(double));
    memcpy(before_s, sparq_calib_sumsq(c), sizeof before_s);
    memcpy(before_h, sparq_calib_gram(c), k * k * sizeof(double));

    x[3 * k + 17] = NAN;
    assert_int_equal(sparq_calib_accumulate(c, x, rows), SPARQ_ERROR_INVALID_DATA);
    assert_string_equal(sparq_last_error(), "calib_accumulate: x[3, 17] is NaN");
    x[3 * k + 17] = 0.5f;
    x[5 * k + 0] = -INFINITY;
    assert_error(sparq_calib_accumulate(c, x, rows), SPARQ_ERROR_INVALID_DATA,
                 "x[5, 0] is -Inf");
    assert_error(sparq_calib_accumulate(c, x, 0), SPARQ_ERROR_INVALID_ARGUMENT, "rows is 0");
    assert_error(sparq_calib_accumulate(c, NULL, 1), SPARQ_ERROR_INVALID_ARGUMENT, "x is NULL");
    assert_error(sparq_calib_accumulate(c, x, SIZE_MAX / 4), SPARQ_ERROR_INVALID_ARGUMENT,
                 "overflow");

    assert_int_equal(sparq_calib_rows(c), 2);
    assert_memory_equal(sparq_calib_sumsq(c), before_s, sizeof before_s);
    assert_memory_equal(sparq_calib_gram(c), before_h, k * k * sizeof(double));
    sparq_calib_free(c);
    free(before_h);
}

/* ---- merging from threads -------------------------------------------------------- */

#define MERGE_THREADS 4
#define MERGE_K 29

typedef struct merge_job {
    sparq_calib *dst;
    const float *x;
    size_t rows;
    sparq_status status;
} merge_job;

static void *merge_worker(void *arg)
{
    merge_job *job = arg;
    sparq_calib *own = NULL;
    job->status = sparq_calib_create(MERGE_K, 1, &own);
    size_t half = job->rows / 2;
    if (job->status == SPARQ_OK) {
        job->status = sparq_calib_accumulate(own, job->x, half);
    }
    if (job->status == SPARQ_OK) {
        job->status = sparq_calib_accumulate(own, job->x + half * MERGE_K, job->rows - half);
    }
    if (job->status == SPARQ_OK) {
        job->status = sparq_calib_merge(job->dst, own);
    }
    sparq_calib_free(own);
    return NULL;
}

static void merge_from_threads(void **state)
{
    (void)state;
    const size_t k = MERGE_K;
    const size_t rows[MERGE_THREADS] = {40, 301, 7, 130};
    size_t total = 0;
    for (int t = 0; t < MERGE_THREADS; t++) {
        total += rows[t];
    }
    float *x = malloc(total * k * sizeof(float));
    testing_fill_uniform(x, total * k, 77, -1.5f, 2.5f);
    sparq_calib *dst = NULL, *one = NULL;
    assert_int_equal(sparq_calib_create(k, 1, &dst), SPARQ_OK);
    assert_int_equal(sparq_calib_create(k, 1, &one), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(one, x, total), SPARQ_OK);

    pthread_t threads[MERGE_THREADS];
    merge_job jobs[MERGE_THREADS];
    size_t start = 0;
    for (int t = 0; t < MERGE_THREADS; t++) {
        jobs[t] = (merge_job){dst, x + start * k, rows[t], SPARQ_OK};
        start += rows[t];
        assert_int_equal(pthread_create(&threads[t], NULL, merge_worker, &jobs[t]), 0);
    }
    for (int t = 0; t < MERGE_THREADS; t++) {
        assert_int_equal(pthread_join(threads[t], NULL), 0);
        assert_int_equal(jobs[t].status, SPARQ_OK);
    }
    assert_int_equal(sparq_calib_rows(dst), total);
    assert_gram_near(sparq_calib_gram(dst), sparq_calib_gram(one), k, 1e-12);
    assert_sumsq_near(sparq_calib_sumsq(dst), sparq_calib_sumsq(one), k, 1e-12);
    sparq_calib_free(dst);
    sparq_calib_free(one);
    free(x);
}

static void merge_refusals(void **state)
{
    (void)state;
    float x[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    sparq_calib *a = NULL, *b = NULL, *plain = NULL;
    assert_int_equal(sparq_calib_create(4, 1, &a), SPARQ_OK);
    assert_int_equal(sparq_calib_create(3, 1, &b), SPARQ_OK);
    assert_int_equal(sparq_calib_create(4, 0, &plain), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(a, x, 3), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(b, x, 4), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(plain, x, 3), SPARQ_OK);

    assert_error(sparq_calib_merge(a, b), SPARQ_ERROR_INVALID_ARGUMENT, "4 cols but src has 3");
    assert_error(sparq_calib_merge(a, plain), SPARQ_ERROR_INVALID_ARGUMENT, "has not");
    assert_error(sparq_calib_merge(a, a), SPARQ_ERROR_INVALID_ARGUMENT, "same");
    assert_error(sparq_calib_merge(NULL, a), SPARQ_ERROR_INVALID_ARGUMENT, "dst is NULL");
    assert_int_equal(sparq_calib_rows(a), 3);

    /* a dst without H takes the rows and sums of squares of a src with H */
    assert_int_equal(sparq_calib_merge(plain, a), SPARQ_OK);
    assert_int_equal(sparq_calib_rows(plain), 6);
    for (size_t j = 0; j < 4; j++) {
        assert_true(sparq_calib_sumsq(plain)[j] == 2.0 * sparq_calib_sumsq(a)[j]);
    }
    sparq_calib_free(a);
    sparq_calib_free(b);
    sparq_calib_free(plain);
}

/* ---- files ------------------------------------------------------------------------- */

static sparq_calib *random_calib(size_t k, size_t rows, int with_gram, uint64_t seed)
{
    float *x = malloc(rows * k * sizeof(float));
    testing_fill_uniform(x, rows * k, seed, -1.0f, 1.0f);
    sparq_calib *c = NULL;
    assert_int_equal(sparq_calib_create(k, with_gram, &c), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(c, x, rows), SPARQ_OK);
    free(x);
    return c;
}

static void assert_same_calib(const sparq_calib *a, const sparq_calib *b)
{
    size_t k = sparq_calib_cols(a);
    assert_int_equal(sparq_calib_cols(b), k);
    assert_int_equal(sparq_calib_rows(a), sparq_calib_rows(b));
    assert_memory_equal(sparq_calib_sumsq(a), sparq_calib_sumsq(b), k * sizeof(double));
    if (sparq_calib_gram(a)) {
        assert_non_null(sparq_calib_gram(b));
        assert_memory_equal(sparq_calib_gram(a), sparq_calib_gram(b), k * k * sizeof(double));
    } else {
        assert_null(sparq_calib_gram(b));
    }
}

static void round_trip(void **state)
{
    (void)state;
    sparq_calib *with = random_calib(33, 70, 1, 21);
    sparq_calib *without = random_calib(12, 5, 0, 22);
    sparq_safetensors_writer *w = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    assert_int_equal(sparq_calib_save(w, "enc.0.q.weight", with), SPARQ_OK);
    assert_int_equal(sparq_calib_save(w, "enc.0.k.weight", without), SPARQ_OK);
    assert_error(sparq_calib_save(w, "enc.0.q.weight", with), SPARQ_ERROR_INVALID_ARGUMENT,
                 "duplicate");
    assert_error(sparq_calib_save(w, "", with), SPARQ_ERROR_INVALID_ARGUMENT, "empty");
    sparq_calib *empty = NULL;
    assert_int_equal(sparq_calib_create(4, 1, &empty), SPARQ_OK);
    assert_error(sparq_calib_save(w, "e", empty), SPARQ_ERROR_INVALID_ARGUMENT, "no rows");
    sparq_calib_free(empty);

    char path[1200];
    snprintf(path, sizeof path, "%s/calib.safetensors", testing_tmpdir("calib_round_trip"));
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_OK);
    sparq_safetensors_writer_free(w);

    sparq_safetensors *f = NULL;
    assert_int_equal(sparq_safetensors_open(path, &f), SPARQ_OK);
    assert_string_equal(sparq_safetensors_metadata(f, "sparq_calib"), "1");
    assert_string_equal(sparq_safetensors_metadata(f, "enc.0.q.weight.calib_rows"), "70");
    sparq_calib *back = NULL;
    assert_int_equal(sparq_calib_load(f, "enc.0.q.weight", &back), SPARQ_OK);
    assert_same_calib(with, back);
    sparq_calib_free(back);
    assert_int_equal(sparq_calib_load(f, "enc.0.k.weight", &back), SPARQ_OK);
    assert_same_calib(without, back);
    sparq_calib_free(back);
    back = (sparq_calib *)1;
    assert_error(sparq_calib_load(f, "enc.0.v.weight", &back), SPARQ_ERROR_INVALID_ARGUMENT,
                 "no calibration statistics for 'enc.0.v.weight'");
    assert_null(back);
    sparq_safetensors_close(f);

    /* the same bytes one past an aligned address: every tensor unaligned */
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    assert_int_equal(fseek(in, 0, SEEK_END), 0);
    size_t size = (size_t)ftell(in);
    rewind(in);
    unsigned char *image = malloc(size + 1);
    assert_int_equal(fread(image + 1, 1, size, in), size);
    fclose(in);
    assert_int_equal(sparq_safetensors_open_memory(image + 1, size, &f), SPARQ_OK);
    assert_int_equal(sparq_calib_load(f, "enc.0.q.weight", &back), SPARQ_OK);
    assert_same_calib(with, back);
    sparq_calib_free(back);
    sparq_safetensors_close(f);
    free(image);
    sparq_calib_free(with);
    sparq_calib_free(without);
}

/* One layer "l" written the way a hostile or broken producer might. */
typedef struct layer_file {
    sparq_dtype sumsq_dtype;
    size_t k;                /* sumsq length                                  */
    const double *sumsq;     /* NULL: no sumsq tensor                         */
    size_t gram_ndim;        /* 0: no gram tensor                             */
    size_t gram_shape[2];
    sparq_dtype gram_dtype;
    const double *gram;
    const char *rows;        /* NULL: no metadata l.calib_rows                */
    const char *version;     /* NULL: no metadata sparq_calib                 */
} layer_file;

static void add_f64(sparq_safetensors_writer *w, const char *name, sparq_dtype dtype,
                    size_t ndim, const size_t *shape, const double *data)
{
    size_t count = 1;
    for (size_t d = 0; d < ndim; d++) {
        count *= shape[d];
    }
    if (dtype == SPARQ_DTYPE_F64) {
        assert_int_equal(sparq_safetensors_writer_add(w, name, dtype, ndim, shape, data,
                                                      count * sizeof(double)),
                         SPARQ_OK);
        return;
    }
    float *f = malloc(count * sizeof(float));
    for (size_t i = 0; i < count; i++) {
        f[i] = (float)data[i];
    }
    assert_int_equal(
        sparq_safetensors_writer_add(w, name, SPARQ_DTYPE_F32, ndim, shape, f, count * 4),
        SPARQ_OK);
    free(f);
}

/* Writes lf, opens it and loads layer "l": the status and a fragment of the sentence. */
static void expect_load(const layer_file *lf, sparq_status want, const char *fragment)
{
    sparq_safetensors_writer *w = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&w), SPARQ_OK);
    /* another layer, whole, beside the broken one */
    double one = 4.0;
    size_t one_shape[1] = {1};
    assert_int_equal(sparq_safetensors_writer_add(w, "m.calib_sumsq", SPARQ_DTYPE_F64, 1,
                                                  one_shape, &one, sizeof one),
                     SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_set_metadata(w, "m.calib_rows", "2"), SPARQ_OK);
    if (lf->sumsq) {
        add_f64(w, "l.calib_sumsq", lf->sumsq_dtype, 1, &lf->k, lf->sumsq);
    }
    if (lf->gram_ndim) {
        add_f64(w, "l.calib_gram", lf->gram_dtype, lf->gram_ndim, lf->gram_shape, lf->gram);
    }
    if (lf->rows) {
        assert_int_equal(sparq_safetensors_writer_set_metadata(w, "l.calib_rows", lf->rows),
                         SPARQ_OK);
    }
    if (lf->version) {
        assert_int_equal(sparq_safetensors_writer_set_metadata(w, "sparq_calib", lf->version),
                         SPARQ_OK);
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/l.safetensors", testing_tmpdir("calib_hostile"));
    assert_int_equal(sparq_safetensors_writer_write(w, path), SPARQ_OK);
    sparq_safetensors_writer_free(w);
    sparq_safetensors *f = NULL;
    assert_int_equal(sparq_safetensors_open(path, &f), SPARQ_OK);
    sparq_calib *c = NULL;
    sparq_status st = sparq_calib_load(f, "l", &c);
    if (want == SPARQ_OK) {
        assert_int_equal(st, SPARQ_OK);
        assert_non_null(c);
    } else {
        assert_error(st, want, fragment);
        assert_null(c);
    }
    sparq_calib_free(c);
    sparq_safetensors_close(f);
}

#define HK 4

/* A valid layer of K = 4 from 6 rows (K = 5 for the wrong-K case). */
static layer_file valid_layer(double *gram, double *sumsq, size_t k)
{
    float x[6 * 5];
    testing_fill_uniform(x, 6 * k, 99, -1.0f, 1.0f);
    reference_stats(x, 6, k, gram, sumsq);
    layer_file lf = {SPARQ_DTYPE_F64, k, sumsq, 2, {k, k}, SPARQ_DTYPE_F64, gram, "6", "1"};
    return lf;
}

static void hostile_files(void **state)
{
    (void)state;
    double gram[25], sumsq[5], g5[25], s5[5];
    layer_file lf = valid_layer(gram, sumsq, HK);
    expect_load(&lf, SPARQ_OK, "");

    float x5[6 * 5];
    testing_fill_uniform(x5, 6 * 5, 98, -1.0f, 1.0f);
    reference_stats(x5, 6, 5, g5, s5);
    layer_file t = lf;
    t.gram = g5;
    t.gram_shape[0] = t.gram_shape[1] = 5;
    expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "'l.calib_gram' is [5, 5] but 'l.calib_sumsq'");
    t = lf;
    t.gram_shape[1] = 5;
    t.gram = g5;
    expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "'l.calib_gram' is not square: [4, 5]");
    t = lf;
    t.gram_ndim = 1;
    t.gram_shape[0] = 16;
    expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "'l.calib_gram' has 1 dimensions");
    t = lf;
    t.sumsq_dtype = SPARQ_DTYPE_F32;
    expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "'l.calib_sumsq' is F32, expected F64");
    t = lf;
    t.gram_dtype = SPARQ_DTYPE_F32;
    expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "'l.calib_gram' is F32, expected F64");
    t = lf;
    t.sumsq = NULL;
    expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "tensor 'l.calib_sumsq' is missing");

    double bad[16];
    memcpy(bad, gram, sizeof bad);
    bad[1 * HK + 2] = NAN;
    t = lf;
    t.gram = bad;
    expect_load(&t, SPARQ_ERROR_INVALID_DATA, "'l.calib_gram'[1, 2] is NaN");
    memcpy(bad, gram, sizeof bad);
    bad[1 * HK + 3] += 0.25;
    expect_load(&t, SPARQ_ERROR_INVALID_DATA, "'l.calib_gram' is not symmetric: [1, 3]");
    memcpy(bad, gram, sizeof bad);
    double c01 = 1.5 * sqrt(gram[0] * gram[HK + 1]);
    bad[1] = bad[HK] = c01;
    expect_load(&t, SPARQ_ERROR_INVALID_DATA, "'l.calib_gram' breaks Cauchy-Schwarz");

    double s[5];
    memcpy(s, sumsq, sizeof s);
    s[2] *= 1.01;
    t = lf;
    t.sumsq = s;
    expect_load(&t, SPARQ_ERROR_INVALID_DATA, "diagonal of 'l.calib_gram' differs");
    s[2] = sumsq[2] * (1.0 + 1e-9); /* within tolerance */
    expect_load(&t, SPARQ_OK, "");
    memcpy(s, sumsq, sizeof s);
    s[0] = -1.0;
    expect_load(&t, SPARQ_ERROR_INVALID_DATA, "'l.calib_sumsq'[0] is -1, negative");
    t.gram_ndim = 0; /* without H too */
    expect_load(&t, SPARQ_ERROR_INVALID_DATA, "negative");
    s[0] = INFINITY;
    expect_load(&t, SPARQ_ERROR_INVALID_DATA, "'l.calib_sumsq'[0] is +Inf");

    const char *bad_rows[] = {"0", "12x", "", "-3", " 5", "18446744073709551616"};
    for (size_t i = 0; i < sizeof bad_rows / sizeof bad_rows[0]; i++) {
        t = lf;
        t.rows = bad_rows[i];
        expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "'l.calib_rows'");
    }
    t = lf;
    t.rows = "18446744073709551615";
    expect_load(&t, SPARQ_OK, "");
    t.rows = NULL;
    expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "metadata 'l.calib_rows' is missing");
    t = lf;
    t.version = NULL;
    expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "no metadata \"sparq_calib\"");
    t.version = "2";
    expect_load(&t, SPARQ_ERROR_INVALID_FORMAT, "\"sparq_calib\" = \"2\"");
    t = lf;
    t.sumsq = NULL;
    t.gram_ndim = 0;
    t.rows = NULL;
    expect_load(&t, SPARQ_ERROR_INVALID_ARGUMENT, "no calibration statistics for 'l'");
}

static void hostile_arrays(void **state)
{
    (void)state;
    double gram[16], sumsq[4], bad[16], s[4];
    float x[24];
    testing_fill_uniform(x, 24, 8, -1.0f, 1.0f);
    reference_stats(x, 6, HK, gram, sumsq);
    sparq_calib *c = NULL;
    assert_int_equal(sparq_calib_from_arrays(HK, 6, gram, sumsq, &c), SPARQ_OK);
    assert_memory_equal(sparq_calib_gram(c), gram, sizeof gram);
    assert_int_equal(sparq_calib_rows(c), 6);
    sparq_calib_free(c);
    assert_int_equal(sparq_calib_from_arrays(HK, 6, NULL, sumsq, &c), SPARQ_OK);
    assert_null(sparq_calib_gram(c));
    sparq_calib_free(c);

    memcpy(bad, gram, sizeof bad);
    bad[3 * HK + 1] = -bad[1 * HK + 3] - 0.5;
    assert_error(sparq_calib_from_arrays(HK, 6, bad, sumsq, &c), SPARQ_ERROR_INVALID_DATA,
                 "calib_from_arrays: gram is not symmetric: [1, 3]");
    assert_null(c);
    memcpy(bad, gram, sizeof bad);
    bad[2 * HK + 0] = NAN;
    assert_error(sparq_calib_from_arrays(HK, 6, bad, sumsq, &c), SPARQ_ERROR_INVALID_DATA,
                 "gram[2, 0] is NaN");
    memcpy(s, sumsq, sizeof s);
    s[3] = -0.5;
    assert_error(sparq_calib_from_arrays(HK, 6, NULL, s, &c), SPARQ_ERROR_INVALID_DATA,
                 "sumsq[3] is -0.5, negative");
    memcpy(s, sumsq, sizeof s);
    s[1] *= 2.0;
    assert_error(sparq_calib_from_arrays(HK, 6, gram, s, &c), SPARQ_ERROR_INVALID_DATA,
                 "diagonal of gram differs from sumsq: [1, 1]");
    assert_error(sparq_calib_from_arrays(HK, 0, gram, sumsq, &c), SPARQ_ERROR_INVALID_ARGUMENT,
                 "rows is 0");
    assert_error(sparq_calib_from_arrays(HK, 6, gram, NULL, &c), SPARQ_ERROR_INVALID_ARGUMENT,
                 "sumsq is NULL");
}

/* ---- output error -------------------------------------------------------------------- */

/* sum |X approx^T - X W^T|^2 / sum |X W^T|^2 over the rows of X, in double. */
static double explicit_nmse(const float *x, size_t t, const float *w, const float *approx,
                            size_t m, size_t k)
{
    double num = 0.0, den = 0.0;
    for (size_t r = 0; r < t; r++) {
        for (size_t o = 0; o < m; o++) {
            double y = 0.0, y2 = 0.0;
            for (size_t j = 0; j < k; j++) {
                y += (double)x[r * k + j] * w[o * k + j];
                y2 += (double)x[r * k + j] * approx[o * k + j];
            }
            num += (y2 - y) * (y2 - y);
            den += y * y;
        }
    }
    return num / den;
}

static void assert_relative(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol * fabs(want))) {
        fail_msg("got %.10g, want %.10g", got, want);
    }
}

/* Rows of W: 300 (two panels); inputs with a shared offset, as real activations have. */
static void output_nmse_matches_outputs(void **state)
{
    (void)state;
    const size_t t = 200, m = 300, k = 48;
    float *x = malloc(t * k * sizeof(float)), *w = malloc(m * k * sizeof(float));
    float *approx = malloc(m * k * sizeof(float)), *noise = malloc(m * k * sizeof(float));
    testing_fill_uniform(x, t * k, 1, -1.0f, 1.5f);
    testing_fill_uniform(w, m * k, 2, -0.1f, 0.1f);
    testing_fill_uniform(noise, m * k, 3, -0.01f, 0.01f);
    for (size_t i = 0; i < m * k; i++) {
        approx[i] = w[i] + noise[i];
    }
    sparq_calib *c = NULL;
    assert_int_equal(sparq_calib_create(k, 1, &c), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(c, x, t), SPARQ_OK);
    double got = -1.0, want = explicit_nmse(x, t, w, approx, m, k);
    assert_int_equal(sparq_output_nmse(w, approx, m, k, c, &got), SPARQ_OK);
    assert_relative(got, want, 1e-4);

    /* huge values: H past float's range and W near it; the ratio does not change */
    for (size_t i = 0; i < t * k; i++) {
        x[i] = ldexpf(x[i], 70);
    }
    for (size_t i = 0; i < m * k; i++) {
        w[i] = ldexpf(w[i], 100);
        approx[i] = ldexpf(approx[i], 100);
    }
    sparq_calib *big = NULL;
    assert_int_equal(sparq_calib_create(k, 1, &big), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(big, x, t), SPARQ_OK);
    assert_int_equal(sparq_output_nmse(w, approx, m, k, big, &got), SPARQ_OK);
    assert_relative(got, want, 1e-4);
    sparq_calib_free(big);
    sparq_calib_free(c);
    free(x);
    free(w);
    free(approx);
    free(noise);
}

static void output_nmse_edges(void **state)
{
    (void)state;
    const size_t k = 6, m = 3;
    float x[60], w[18] = {0}, approx[18] = {0};
    testing_fill_uniform(x, 60, 4, -1.0f, 1.0f);
    sparq_calib *c = NULL, *plain = NULL;
    assert_int_equal(sparq_calib_create(k, 1, &c), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(c, x, 10), SPARQ_OK);
    double nmse = -1.0;
    assert_int_equal(sparq_output_nmse(w, approx, m, k, c, &nmse), SPARQ_OK);
    assert_true(nmse == 0.0); /* 0 / 0 */
    approx[4] = 0.5f;
    assert_int_equal(sparq_output_nmse(w, approx, m, k, c, &nmse), SPARQ_OK);
    assert_true(isinf(nmse) && nmse > 0); /* x / 0 */
    w[4] = 0.5f;
    assert_int_equal(sparq_output_nmse(w, approx, m, k, c, &nmse), SPARQ_OK);
    assert_true(nmse == 0.0); /* equal weights */

    /* approx = -w near float's largest values: dW = -2 w is past float's range, yet
     * NMSE_out = 4 exactly */
    float huge[18], minus[18];
    testing_fill_uniform(huge, 18, 5, 0.5f, 0.99f);
    for (size_t i = 0; i < 18; i++) {
        huge[i] = ldexpf(i % 3 ? huge[i] : -huge[i], 128);
        assert_true(isfinite(huge[i]));
        minus[i] = -huge[i];
    }
    assert_int_equal(sparq_output_nmse(huge, minus, m, k, c, &nmse), SPARQ_OK);
    assert_relative(nmse, 4.0, 1e-6);

    assert_int_equal(sparq_calib_create(k, 0, &plain), SPARQ_OK);
    assert_int_equal(sparq_calib_accumulate(plain, x, 10), SPARQ_OK);
    assert_error(sparq_output_nmse(w, approx, m, k, plain, &nmse), SPARQ_ERROR_INVALID_ARGUMENT,
                 "no H");
    assert_error(sparq_output_nmse(w, approx, k, m, c, &nmse), SPARQ_ERROR_INVALID_ARGUMENT,
                 "3 cols but the statistics have 6");
    approx[7] = NAN;
    assert_error(sparq_output_nmse(w, approx, m, k, c, &nmse), SPARQ_ERROR_INVALID_DATA,
                 "output_nmse: approx[1, 1] is NaN");
    w[17] = INFINITY;
    assert_error(sparq_output_nmse(w, approx, m, k, c, &nmse), SPARQ_ERROR_INVALID_DATA,
                 "approx[1, 1] is NaN");
    approx[7] = 0.0f;
    assert_error(sparq_output_nmse(w, approx, m, k, c, &nmse), SPARQ_ERROR_INVALID_DATA,
                 "w[2, 5] is +Inf");
    assert_error(sparq_output_nmse(w, approx, 0, k, c, &nmse), SPARQ_ERROR_INVALID_ARGUMENT,
                 "0 x 6");
    assert_error(sparq_output_nmse(w, approx, m, k, c, NULL), SPARQ_ERROR_INVALID_ARGUMENT,
                 "nmse is NULL");
    sparq_calib_free(c);
    sparq_calib_free(plain);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(accumulate_matches_loop),
        cmocka_unit_test(without_gram),
        cmocka_unit_test(bad_input_adds_nothing),
        cmocka_unit_test(merge_from_threads),
        cmocka_unit_test(merge_refusals),
        cmocka_unit_test(round_trip),
        cmocka_unit_test(hostile_files),
        cmocka_unit_test(hostile_arrays),
        cmocka_unit_test(output_nmse_matches_outputs),
        cmocka_unit_test(output_nmse_edges),
    };
    return cmocka_run_group_tests(tests, 0, 0);
}
