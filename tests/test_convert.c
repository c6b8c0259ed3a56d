/* SPDX-License-Identifier: Apache-2.0 */
/* test_convert.c - sparq_layer_convert: a passing layer is kept as asked, a failing one
 * walks exactly the documented ladder (less sparsity, no pruning, more bits, dense f32),
 * no_rollback and bad options are errors; and a whole file converted through the public
 * API loads back with untouched tensors byte-identical.
 */
#include "testing.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROWS 64
#define COLS 128
#define N (ROWS * COLS)

/* Uniform weights in [-1, 1): magnitude pruning at sparsity s drops |w| < s, so the
 * NMSE of pruning alone is s^3 (0.9 -> 0.729, 0.675 -> 0.308, 0.45 -> 0.091,
 * 0.225 -> 0.011), which pins down where the ladder stops. */
static float *uniform_weights(uint64_t seed)
{
    float *w = malloc(N * sizeof(float));
    assert_non_null(w);
    testing_fill_uniform(w, N, seed, -1.0f, 1.0f);
    return w;
}

static sparq_convert_options request(sparq_structure structure, sparq_encoding encoding,
                                     double sparsity, double max_nmse)
{
    sparq_convert_options o;
    memset(&o, 0, sizeof o);
    o.format.structure = structure;
    o.format.quant.encoding = encoding;
    if (encoding == SPARQ_ENCODING_I8 || encoding == SPARQ_ENCODING_I4)
        o.format.quant.granularity = SPARQ_SCALE_ROW;
    o.sparsity = sparsity;
    o.max_nmse = max_nmse;
    return o;
}

/* The number of "; "-separated steps in a trail. */
static unsigned trail_steps(const char *trail)
{
    if (!*trail)
        return 0;
    unsigned n = 1;
    for (const char *p = strstr(trail, "; "); p; p = strstr(p + 2, "; "))
        n++;
    return n;
}

/* Fails with the whole trail when it lacks text. */
static void assert_trail_has(const char *trail, const char *text)
{
    if (!strstr(trail, text))
        fail_msg("trail \"%s\" lacks \"%s\"", trail, text);
}

/* Converts and checks that the result unpacks to what result->error says. */
static sparq_packed *convert_ok(const float *w, size_t rows, size_t cols,
                                const sparq_convert_options *o, sparq_convert_result *res)
{
    sparq_packed *p = NULL;
    sparq_status st = sparq_layer_convert(w, rows, cols, o, &p, res);
    if (st != SPARQ_OK)
        fail_msg("layer_convert: %s", sparq_last_error());
    assert_non_null(p);
    float *back = malloc(rows * cols * sizeof(float));
    assert_non_null(back);
    assert_int_equal(sparq_packed_unpack(p, back), SPARQ_OK);
    sparq_error_metrics e;
    assert_int_equal(sparq_error_metrics_compute(w, back, rows * cols, &e), SPARQ_OK);
    assert_true(e.nmse == res->error.nmse);
    free(back);
    assert_int_equal(res->bytes_before, (uint64_t)rows * cols * 4);
    assert_int_equal(res->bytes_after, sparq_packed_bytes(p));
    assert_int_equal(res->format.structure, sparq_packed_format(p)->structure);
    assert_int_equal(res->format.quant.encoding, sparq_packed_format(p)->quant.encoding);
    assert_int_equal(res->rollbacks, trail_steps(res->trail));
    return p;
}

static void gate_passes_unchanged(void **state)
{
    (void)state;
    /* Already 90% zero: pruning to 0.9 removes only zeros, NMSE 0. */
    float *w = uniform_weights(1);
    for (size_t i = 0; i < N; i++)
        if (i % 10 != 3)
            w[i] = 0.0f;
    sparq_convert_options o = request(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_F32, 0.9, 0.05);
    sparq_convert_result res;
    sparq_packed *p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 0);
    assert_string_equal(res.trail, "");
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_CSR);
    assert_true(res.error.nmse == 0.0);
    assert_true(fabs(res.sparsity - 0.9) < 1e-3);
    assert_true(res.bytes_after < res.bytes_before);
    sparq_packed_free(p);

    /* i8-row at 90%: 0.1 * (8 + 16) bits a weight, well below dense i8: kept as asked. */
    float *u = uniform_weights(2);
    o = request(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I8, 0.9, 0.9);
    p = convert_ok(u, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 0);
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_CSR);
    assert_int_equal(res.format.quant.encoding, SPARQ_ENCODING_I8);
    assert_true(fabs(res.sparsity - 0.9) < 1e-3);
    sparq_packed_free(p);

    /* i8-row at 50%: 12 bits a weight, more than dense i8's 8: refused before any work
     * although its error (NMSE 0.125) would pass a gate of 0.2; dense i8 is kept. */
    o = request(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I8, 0.5, 0.2);
    p = convert_ok(u, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 1);
    assert_trail_has(res.trail, "csr+i8-row s=0.50: 12.");
    assert_trail_has(res.trail, "no smaller than dense (8.");
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_DENSE);
    assert_int_equal(res.format.quant.encoding, SPARQ_ENCODING_I8);
    assert_true(res.bytes_after < (uint64_t)ROWS * COLS + 8 * ROWS);
    sparq_packed_free(p);

    /* With no_rollback the request is made as asked, larger or not. */
    o.no_rollback = 1;
    p = convert_ok(u, ROWS, COLS, &o, &res);
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_CSR);
    assert_true(fabs(res.sparsity - 0.5) < 1e-3);
    assert_true(res.error.nmse > 0.1 && res.error.nmse < 0.2);
    sparq_packed_free(p);
    free(u);
    free(w);
}

static void failing_layer_walks_the_sparsity_rungs(void **state)
{
    (void)state;
    float *w = uniform_weights(3);
    sparq_convert_options o = request(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_F32, 0.9, 0.1);
    sparq_convert_result res;
    sparq_packed *p = convert_ok(w, ROWS, COLS, &o, &res);
    /* 0.9 (NMSE 0.73), 0.675 (0.31) refused; 0.45 (0.09) kept. */
    assert_int_equal(res.rollbacks, 2);
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_CSR);
    assert_true(fabs(res.sparsity - 0.45) < 1e-3);
    assert_true(res.error.nmse <= 0.1);
    assert_trail_has(res.trail, "csr+f32 s=0.90: NMSE 0.7");
    assert_trail_has(res.trail, "; csr+f32 s=0.68: NMSE 0.3");
    sparq_packed_free(p);

    /* At 0.05, 0.45 fails too; 0.225 would pass (0.011), but CSR f32 at 22.5% sparsity
     * is larger than dense f32 (48 bits per kept weight), so it is never tried: dense f32,
     * smaller and exact, is kept. */
    o.max_nmse = 0.05;
    p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 3);
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_DENSE);
    assert_int_equal(res.format.quant.encoding, SPARQ_ENCODING_F32);
    assert_trail_has(res.trail, "; csr+f32 s=0.45: NMSE 0.0");
    assert_null(strstr(res.trail, "s=0.23"));
    assert_true(res.last_rung);
    sparq_packed_free(p);

    /* A gate no pruning passes: every sparsity rung smaller than dense, then dense f32. */
    o.max_nmse = 1e-4;
    p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 3);
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_DENSE);
    assert_int_equal(res.format.quant.encoding, SPARQ_ENCODING_F32);
    assert_true(res.error.nmse == 0.0);
    assert_null(strstr(res.trail, "s=0.23"));

    /* BSR walks the same sparsity rungs; on unstructured weights a block keeps little
     * more than its share of the energy, so all of them fail and dense f32 is kept. */
    o = request(SPARQ_STRUCTURE_BSR, SPARQ_ENCODING_F32, 0.9, 0.05);
    o.format.block_rows = 4;
    o.format.block_cols = 4;
    sparq_packed_free(p);
    p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 4);
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_DENSE);
    assert_trail_has(res.trail, "bsr4x4+f32 s=0.90: NMSE");
    assert_trail_has(res.trail, "; bsr4x4+f32 s=0.23: NMSE");
    sparq_packed_free(p);
    free(w);
}

static void failing_layer_walks_the_bits_rungs(void **state)
{
    (void)state;
    float *w = uniform_weights(4);
    /* Dense i4 (~23 dB) and i8 (~48 dB) fail 60 dB; f16 (~75 dB) passes. */
    sparq_convert_options o = request(SPARQ_STRUCTURE_DENSE, SPARQ_ENCODING_I4, 0.0, 0.0);
    o.min_sqnr_db = 60.0;
    sparq_convert_result res;
    sparq_packed *p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 2);
    assert_int_equal(res.format.quant.encoding, SPARQ_ENCODING_F16);
    assert_trail_has(res.trail, "dense+i4-row: SQNR ");
    assert_trail_has(res.trail, "; dense+i8-row: SQNR ");
    assert_true(res.error.sqnr_db >= 60.0);
    sparq_packed_free(p);

    /* 2:4 i4 with a tight gate: 2:4, then dense i4, i8, f16 refused; f32 kept. */
    o = request(SPARQ_STRUCTURE_NM, SPARQ_ENCODING_I4, 0.0, 1e-9);
    o.format.nm_n = 2;
    o.format.nm_m = 4;
    p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 4);
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_DENSE);
    assert_int_equal(res.format.quant.encoding, SPARQ_ENCODING_F32);
    assert_true(strncmp(res.trail, "2:4+i4-row: NMSE ", 17) == 0);
    assert_trail_has(res.trail, "; dense+i4-row: NMSE ");
    assert_trail_has(res.trail, "; dense+i8-row: NMSE ");
    assert_trail_has(res.trail, "; dense+f16: NMSE ");
    sparq_packed_free(p);

    /* 2:4 i8 whose pruning fails but whose quantization passes: back to dense i8. */
    o = request(SPARQ_STRUCTURE_NM, SPARQ_ENCODING_I8, 0.0, 0.01);
    o.format.nm_n = 2;
    o.format.nm_m = 4;
    p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 1);
    assert_int_equal(res.format.structure, SPARQ_STRUCTURE_DENSE);
    assert_int_equal(res.format.quant.encoding, SPARQ_ENCODING_I8);
    assert_int_equal(res.format.quant.granularity, SPARQ_SCALE_ROW);
    sparq_packed_free(p);
    free(w);
}

static void f16_overflow_is_a_refused_rung(void **state)
{
    (void)state;
    float *w = uniform_weights(5);
    w[7] = 1e6f;
    sparq_convert_options o = request(SPARQ_STRUCTURE_DENSE, SPARQ_ENCODING_F16, 0.0, 0.05);
    sparq_convert_result res;
    sparq_packed *p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 1);
    assert_int_equal(res.format.quant.encoding, SPARQ_ENCODING_F32);
    assert_true(strncmp(res.trail, "dense+f16: ", 11) == 0);

    o.no_rollback = 1;
    sparq_packed_free(p);
    p = (sparq_packed *)&o; /* must be reset to NULL */
    assert_int_equal(sparq_layer_convert(w, ROWS, COLS, &o, &p, &res), SPARQ_ERROR_INVALID_DATA);
    assert_null(p);
    free(w);
}

static void no_rollback_is_an_error(void **state)
{
    (void)state;
    float *w = uniform_weights(6);
    sparq_convert_options o = request(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I4, 0.9, 0.05);
    o.format.quant.granularity = SPARQ_SCALE_GROUP;
    o.format.quant.group_size = 128;
    o.no_rollback = 1;
    sparq_packed *p = NULL;
    sparq_convert_result res;
    assert_int_equal(sparq_layer_convert(w, ROWS, COLS, &o, &p, &res), SPARQ_ERROR_INVALID_DATA);
    assert_null(p);
    assert_non_null(strstr(sparq_last_error(), "gate failed: NMSE 0.7"));
    assert_non_null(strstr(sparq_last_error(), "> 0.05"));
    assert_non_null(strstr(sparq_last_error(), "csr+i4-g128 s=0.90"));
    /* A passing layer with no_rollback is fine, and result may be NULL. */
    o.max_nmse = 0.9;
    assert_int_equal(sparq_layer_convert(w, ROWS, COLS, &o, &p, NULL), SPARQ_OK);
    assert_non_null(p);
    sparq_packed_free(p);
    free(w);
}

static void dense_f32_always_passes(void **state)
{
    (void)state;
    float *w = uniform_weights(7);
    sparq_convert_options o = request(SPARQ_STRUCTURE_DENSE, SPARQ_ENCODING_F32, 0.0, 1e-300);
    o.min_sqnr_db = 1000.0;
    o.no_rollback = 1;
    sparq_convert_result res;
    sparq_packed *p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 0);
    assert_true(res.error.nmse == 0.0);
    assert_true(isinf(res.error.sqnr_db));
    sparq_packed_free(p);

    /* An all-zero matrix passes any gate at the first rung (NMSE 0, SQNR +inf). */
    memset(w, 0, N * sizeof(float));
    o = request(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I4, 0.9, 1e-12);
    o.min_sqnr_db = 100.0;
    p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 0);
    assert_true(res.sparsity == 1.0);
    sparq_packed_free(p);

    /* No gate at all: the first rung is kept however bad. */
    testing_fill_uniform(w, N, 8, -1.0f, 1.0f);
    o = request(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I4, 0.99, 0.0);
    p = convert_ok(w, ROWS, COLS, &o, &res);
    assert_int_equal(res.rollbacks, 0);
    assert_true(res.error.nmse > 0.9);
    sparq_packed_free(p);
    free(w);
}

static void expect_refused(const float *w, size_t rows, size_t cols,
                           const sparq_convert_options *o, sparq_status want, const char *words)
{
    sparq_packed *p = (sparq_packed *)o; /* must be reset to NULL */
    sparq_convert_result res;
    sparq_status st = sparq_layer_convert(w, rows, cols, o, &p, &res);
    if (st != want || !strstr(sparq_last_error(), words))
        fail_msg("expected %s with \"%s\", got %s: %s", sparq_status_string(want), words,
                 sparq_status_string(st), sparq_last_error());
    assert_null(p);
}

static void bad_options_are_refused(void **state)
{
    (void)state;
    float *w = uniform_weights(9);
    sparq_convert_options o = request(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I8, 0.5, 0.05);
    sparq_packed *p = NULL;
    assert_int_equal(sparq_layer_convert(w, ROWS, COLS, NULL, &p, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_layer_convert(w, ROWS, COLS, &o, NULL, NULL),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    expect_refused(NULL, ROWS, COLS, &o, SPARQ_ERROR_INVALID_ARGUMENT, "NULL");
    expect_refused(w, 0, COLS, &o, SPARQ_ERROR_INVALID_ARGUMENT, "0 x 128");

    sparq_convert_options bad = o;
    bad.sparsity = 1.5;
    expect_refused(w, ROWS, COLS, &bad, SPARQ_ERROR_INVALID_ARGUMENT, "sparsity 1.5");
    bad = o;
    bad.max_nmse = -1.0;
    expect_refused(w, ROWS, COLS, &bad, SPARQ_ERROR_INVALID_ARGUMENT, "max_nmse");
    bad = o;
    bad.min_sqnr_db = NAN;
    expect_refused(w, ROWS, COLS, &bad, SPARQ_ERROR_INVALID_ARGUMENT, "min_sqnr_db");
    bad = o;
    bad.format.structure = (sparq_structure)7;
    expect_refused(w, ROWS, COLS, &bad, SPARQ_ERROR_INVALID_ARGUMENT, "structure");
    bad = o;
    bad.format.quant.granularity = SPARQ_SCALE_GROUP;
    bad.format.quant.group_size = 48;
    expect_refused(w, ROWS, COLS, &bad, SPARQ_ERROR_INVALID_ARGUMENT, "group_size 48");
    bad = request(SPARQ_STRUCTURE_BSR, SPARQ_ENCODING_F32, 0.5, 0.05);
    bad.format.block_rows = 3;
    bad.format.block_cols = 4;
    expect_refused(w, ROWS, COLS, &bad, SPARQ_ERROR_INVALID_ARGUMENT, "3");
    bad = request(SPARQ_STRUCTURE_NM, SPARQ_ENCODING_F32, 0.0, 0.05);
    bad.format.nm_n = 4;
    bad.format.nm_m = 4;
    expect_refused(w, ROWS, COLS, &bad, SPARQ_ERROR_INVALID_ARGUMENT, "N:M 4:4 prunes nothing");

    w[3 * COLS + 17] = NAN;
    expect_refused(w, ROWS, COLS, &o, SPARQ_ERROR_INVALID_DATA, "W[3, 17] is NaN");
    w[3 * COLS + 17] = -INFINITY;
    expect_refused(w, ROWS, COLS, &o, SPARQ_ERROR_INVALID_DATA, "W[3, 17] is -Inf");
    free(w);
}

/* The CLI's job through the public API: a model file whose weight layers are converted
 * and whose other tensors are copied, written, read back by sparq. */
static void converted_file_loads_back(void **state)
{
    (void)state;
    const char *dir = testing_tmpdir("convert_file");
    char in_path[1200], out_path[1200];
    snprintf(in_path, sizeof in_path, "%s/in.safetensors", dir);
    snprintf(out_path, sizeof out_path, "%s/out.safetensors", dir);

    float *dense = uniform_weights(10);
    float *sparse = uniform_weights(11);
    for (size_t i = 0; i < N; i++)
        if (i % 10)
            sparse[i] = 0.0f;
    float norm[COLS];
    testing_fill_uniform(norm, COLS, 12, 0.5f, 1.5f);
    size_t shape2[2] = { ROWS, COLS }, shape1[1] = { COLS };
    sparq_safetensors_writer *wr = NULL;
    assert_int_equal(sparq_safetensors_writer_create(&wr), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_add(wr, "dense.weight", SPARQ_DTYPE_F32, 2, shape2,
                                                  dense, N * 4), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_add(wr, "sparse.weight", SPARQ_DTYPE_F32, 2,
                                                  shape2, sparse, N * 4), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_add(wr, "norm.weight", SPARQ_DTYPE_F32, 1, shape1,
                                                  norm, sizeof norm), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_set_metadata(wr, "format", "pt"), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_write(wr, in_path), SPARQ_OK);
    sparq_safetensors_writer_free(wr);

    sparq_safetensors *in = NULL;
    assert_int_equal(sparq_safetensors_open(in_path, &in), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_create(&wr), SPARQ_OK);
    sparq_convert_options o = request(SPARQ_STRUCTURE_CSR, SPARQ_ENCODING_I8, 0.9, 0.05);
    sparq_packed *kept[2] = { NULL, NULL };
    unsigned rollbacks[2] = { 0, 0 };
    const char *layers[2] = { "dense.weight", "sparse.weight" };
    for (size_t i = 0; i < 2; i++) {
        sparq_safetensors_tensor_info t;
        assert_int_equal(sparq_safetensors_find(in, layers[i], &t), SPARQ_OK);
        float *w = malloc(t.count * sizeof(float));
        assert_int_equal(sparq_safetensors_to_f32(&t, w, t.count), SPARQ_OK);
        sparq_convert_result res;
        kept[i] = convert_ok(w, t.shape[0], t.shape[1], &o, &res);
        rollbacks[i] = res.rollbacks;
        assert_int_equal(sparq_packed_save(wr, layers[i], kept[i]), SPARQ_OK);
        free(w);
    }
    assert_true(rollbacks[0] > 0);   /* uniform weights at 90%: rolled back */
    assert_int_equal(rollbacks[1], 0); /* already 90% zero: kept */
    sparq_safetensors_tensor_info t;
    assert_int_equal(sparq_safetensors_find(in, "norm.weight", &t), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_add(wr, t.name, t.dtype, t.ndim, t.shape, t.data,
                                                  t.bytes), SPARQ_OK);
    assert_int_equal(sparq_safetensors_writer_write(wr, out_path), SPARQ_OK);
    sparq_safetensors_writer_free(wr);

    sparq_safetensors *out = NULL;
    assert_int_equal(sparq_safetensors_open(out_path, &out), SPARQ_OK);
    sparq_safetensors_tensor_info u;
    assert_int_equal(sparq_safetensors_find(out, "norm.weight", &u), SPARQ_OK);
    assert_int_equal(u.bytes, t.bytes);
    assert_memory_equal(u.data, t.data, t.bytes);
    float *a = malloc(N * sizeof(float)), *b = malloc(N * sizeof(float));
    for (size_t i = 0; i < 2; i++) {
        sparq_packed *back = NULL;
        assert_int_equal(sparq_packed_load(out, layers[i], &back), SPARQ_OK);
        assert_int_equal(sparq_packed_unpack(back, a), SPARQ_OK);
        assert_int_equal(sparq_packed_unpack(kept[i], b), SPARQ_OK);
        assert_memory_equal(a, b, N * sizeof(float));
        sparq_packed_free(back);
        sparq_packed_free(kept[i]);
    }
    free(a);
    free(b);
    sparq_safetensors_close(out);
    sparq_safetensors_close(in);
    free(dense);
    free(sparse);
}

/* Run by convert_test.sh on the CLI's output (SPARQ_CONVERT_FILE): every converted
 * layer (a NAME.structure metadata key) loads back through sparq_packed_load, and there
 * are SPARQ_CONVERT_LAYERS of them. Skipped when run on its own. */
static void cli_output_loads_back(void **state)
{
    (void)state;
    const char *path = getenv("SPARQ_CONVERT_FILE");
    const char *layers = getenv("SPARQ_CONVERT_LAYERS");
    if (!path || !layers) {
        skip();
        return;
    }
    sparq_safetensors *file = NULL;
    if (sparq_safetensors_open(path, &file) != SPARQ_OK)
        fail_msg("open %s: %s", path, sparq_last_error());
    size_t found = 0;
    for (size_t i = 0; i < sparq_safetensors_metadata_count(file); i++) {
        const char *key, *value;
        assert_int_equal(sparq_safetensors_metadata_entry(file, i, &key, &value), SPARQ_OK);
        size_t n = strlen(key), suffix = strlen(".structure");
        if (n <= suffix || strcmp(key + n - suffix, ".structure") != 0)
            continue;
        char name[512];
        assert_true(n - suffix < sizeof name);
        memcpy(name, key, n - suffix);
        name[n - suffix] = '\0';
        sparq_packed *p = NULL;
        if (sparq_packed_load(file, name, &p) != SPARQ_OK)
            fail_msg("load %s: %s", name, sparq_last_error());
        float *w = malloc(sparq_packed_rows(p) * sparq_packed_cols(p) * sizeof(float));
        assert_non_null(w);
        assert_int_equal(sparq_packed_unpack(p, w), SPARQ_OK);
        free(w);
        sparq_packed_free(p);
        found++;
    }
    assert_int_equal(found, strtoul(layers, NULL, 10));
    sparq_safetensors_close(file);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(gate_passes_unchanged),
        cmocka_unit_test(failing_layer_walks_the_sparsity_rungs),
        cmocka_unit_test(failing_layer_walks_the_bits_rungs),
        cmocka_unit_test(f16_overflow_is_a_refused_rung),
        cmocka_unit_test(no_rollback_is_an_error),
        cmocka_unit_test(dense_f32_always_passes),
        cmocka_unit_test(bad_options_are_refused),
        cmocka_unit_test(converted_file_loads_back),
        cmocka_unit_test(cli_output_loads_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
