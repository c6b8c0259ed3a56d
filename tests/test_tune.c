/* SPDX-License-Identifier: Apache-2.0 */
/* test_tune.c - the tuner on the device: with an injected fake timer it picks the
 * expected candidate and writes it; wrong candidates are rejected and never enter the
 * database; search is deterministic given the seed, and annealing finds the
 * exhaustive best on a smooth landscape with fewer evaluations; dispatch then runs
 * the tuned parameters and says so; real timing and the break-even run end to end;
 * AUTO holds a dense f32 copy only where allow_dense_copy lets it.
 */
#include "testing.h"
#include "matrix.h"
#include "plan.h"
#include "ref/linear_ref.h"
#include "tunedb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A 64 x 256 CSR f32 case at 50 % and batch 1: small enough to build quickly. */
static const sparq_tune_case small_case = {
    .format = {.structure = SPARQ_STRUCTURE_CSR}, .sparsity = 0.5, .rows = 64, .cols = 256,
    .batch = 1};

static unsigned param_value(const char *params, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "-D%s=", name);
    const char *at = strstr(params, key);
    return at ? (unsigned)strtoul(at + strlen(key), NULL, 10) : 0;
}

/* spmm_csr_scalar: CSR_SCALAR_WG=128 fastest, then 64, then 32. */
static double fake_by_wg(void *user, const char *kernel, const char *params)
{
    (void)user, (void)kernel;
    return 1000.0 / param_value(params, "CSR_SCALAR_WG");
}

static int corrupt_wg128(void *user, const char *kernel, const char *params)
{
    (void)kernel;
    int *calls = user;
    (*calls)++;
    return param_value(params, "CSR_SCALAR_WG") == 128;
}

/* The tuned values the database at path holds for spmm_csr_scalar on this device. */
static sparq_param_source lookup_scalar(sparq_context *ctx, const char *path,
                                       sparq_kernel_params *p)
{
    sparq_tunedb *db = NULL;
    assert_int_equal(sparq_tunedb_load_file(path, &db), SPARQ_OK);
    sparq_tune_chain chain = {.user = db};
    sparq_tune_device device;
    sparq_tune_device_from_caps(&ctx->caps, &device);
    const sparq_kernel_info *k = sparq_kernel_find("spmm_csr_scalar");
    char shape[64], hash[17];
    sparq_tune_shape_class(64, 256, 1, 128, shape, sizeof shape);
    sparq_source_hash_get(ctx, k->source, hash);
    sparq_param_source src = sparq_tune_lookup_params(&chain, &device, k, SPARQ_ENCODING_F32, 0, 0,
                                                     shape, hash, p, NULL, 0);
    sparq_tunedb_free(db);
    return src;
}

static void fake_timer_picks_expected(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    char path[1024];
    snprintf(path, sizeof path, "%s/tune.json", testing_tmpdir("tune_fake"));
    sparq_tune_options o = {.kernels = "spmm_csr_scalar", .strategy = SPARQ_TUNE_EXHAUSTIVE,
                            .seed = 7, .db_path = path, .fake_time_us = fake_by_wg};
    sparq_tune_result *r = NULL;
    size_t n = 0;
    assert_int_equal(sparq_tune_run(ctx, &small_case, 1, &o, &r, &n), SPARQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].kernel, "spmm_csr_scalar");
    assert_string_equal(r[0].best_params, "-DCSR_SCALAR_WG=128");
    assert_int_equal(r[0].space, 3);
    assert_int_equal(r[0].evaluations, 3);
    assert_int_equal(r[0].rejected, 0);
    assert_true(r[0].best_us < r[0].default_us);
    free(r);
    sparq_kernel_params p;
    assert_int_equal(lookup_scalar(ctx, path, &p), SPARQ_PARAM_SOURCE_USER);
    assert_int_equal(p.value[0], 128);
    sparq_context_free(ctx);
}

static void wrong_candidate_never_chosen(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    char path[1024];
    snprintf(path, sizeof path, "%s/tune.json", testing_tmpdir("tune_wrong"));
    int calls = 0;
    sparq_tune_options o = {.kernels = "spmm_csr_scalar", .strategy = SPARQ_TUNE_EXHAUSTIVE,
                            .db_path = path, .fake_time_us = fake_by_wg,
                            .corrupt = corrupt_wg128, .user = &calls};
    sparq_tune_result *r = NULL;
    size_t n = 0;
    assert_int_equal(sparq_tune_run(ctx, &small_case, 1, &o, &r, &n), SPARQ_OK);
    assert_int_equal(calls, 3); /* every candidate was checked */
    assert_int_equal(r[0].rejected, 1);
    assert_string_equal(r[0].best_params, "-DCSR_SCALAR_WG=64"); /* the fastest correct one */
    free(r);
    sparq_kernel_params p;
    assert_int_equal(lookup_scalar(ctx, path, &p), SPARQ_PARAM_SOURCE_USER);
    assert_int_equal(p.value[0], 64);
    /* the file never mentions the rejected value */
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    assert_null(strstr(text, "\"CSR_SCALAR_WG\": 128"));
    assert_non_null(strstr(text, "\"CSR_SCALAR_WG\": 64"));
    sparq_context_free(ctx);
}

/* A smooth landscape over spmm_nm_tiled (NM_TILED_WG x NM_TILED_TB, 5 x 4 points): best
 * at WG=32, TB=8. */
static double fake_bowl(void *user, const char *kernel, const char *params)
{
    (void)kernel;
    int *calls = user;
    (*calls)++;
    double wg = param_value(params, "NM_TILED_WG"), tb = param_value(params, "NM_TILED_TB");
    double a = log2(wg) - 5.0, b = log2(tb) - 3.0;
    return 100.0 + 10.0 * a * a + 7.0 * b * b;
}

static void anneal_deterministic_and_near_exhaustive(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    sparq_tune_case c = {.format = {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4},
                         .rows = 64, .cols = 256, .batch = 8};
    int calls = 0;
    sparq_tune_options o = {.kernels = "spmm_nm_tiled", .strategy = SPARQ_TUNE_EXHAUSTIVE,
                            .db_path = "", .fake_time_us = fake_bowl, .user = &calls,
                            .seed = 3};
    sparq_tune_result *ex = NULL, *a1 = NULL, *a2 = NULL;
    size_t n = 0;
    assert_int_equal(sparq_tune_run(ctx, &c, 1, &o, &ex, &n), SPARQ_OK);
    assert_int_equal(n, 1);
    assert_int_equal(ex[0].evaluations, ex[0].space);
    assert_string_equal(ex[0].best_params, "-DNM_TILED_WG=32 -DNM_TILED_TB=8");
    o.strategy = SPARQ_TUNE_ANNEAL;
    assert_int_equal(sparq_tune_run(ctx, &c, 1, &o, &a1, &n), SPARQ_OK);
    assert_int_equal(sparq_tune_run(ctx, &c, 1, &o, &a2, &n), SPARQ_OK);
    /* the same seed: the same path, the same result */
    assert_string_equal(a1[0].best_params, a2[0].best_params);
    assert_int_equal(a1[0].evaluations, a2[0].evaluations);
    assert_true(a1[0].evaluations < ex[0].evaluations);
    assert_true(a1[0].best_us <= 1.05 * ex[0].best_us);
    free(ex), free(a1), free(a2);
    sparq_context_free(ctx);
}

/* Real timing, the break-even, and dispatch reading the result. */
static void tuned_run_reaches_dispatch(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tune.json", testing_tmpdir("tune_real"));
    setenv("SPARQ_TUNE_DB", path, 1);
    sparq_context *ctx = testing_context(NULL);
    sparq_tune_options o = {.kernels = "spmm_csr_scalar,spmm_csr_rowvec",
                            .strategy = SPARQ_TUNE_RANDOM, .max_evaluations = 3, .repeats = 3,
                            .seed = 1};
    sparq_tune_result *r = NULL;
    size_t n = 0;
    assert_int_equal(sparq_tune_run(ctx, &small_case, 1, &o, &r, &n), SPARQ_OK);
    assert_int_equal(n, 3); /* two kernels and the break-even */
    assert_string_equal(r[2].kernel, "dense/sparse");
    assert_true(r[2].best_us > 0 && r[2].default_us > 0);
    for (size_t i = 0; i < 2; i++)
        assert_true(r[i].best_us > 0 && r[i].best_us <= r[i].default_us);
    free(r);

    /* a matrix of the tuned class now runs tuned parameters, and says so */
    float w[64 * 256];
    testing_fill_uniform(w, 64 * 256, 5, -1, 1);
    assert_int_equal(sparq_prune_magnitude(w, 64, 256, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL, NULL,
                                           NULL, 1), SPARQ_OK);
    sparq_pack_options f = {.structure = SPARQ_STRUCTURE_CSR};
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_create(&f, 64, 256, w, &packed), SPARQ_OK);
    sparq_matrix *m = NULL;
    assert_int_equal(sparq_matrix_create(ctx, packed, NULL, &m), SPARQ_OK);
    char text[2048];
    assert_int_equal(sparq_plan_explain(m, 1, text, sizeof text), SPARQ_OK);
    assert_non_null(strstr(text, "tuned"));
    assert_non_null(strstr(text, "user tuning"));
    assert_non_null(strstr(m->path_reason, "tuned break-even"));
    /* and under SPARQ_TUNE=off, defaults */
    setenv("SPARQ_TUNE", "off", 1);
    sparq_context *plain = testing_context(NULL);
    sparq_matrix *m2 = NULL;
    assert_int_equal(sparq_matrix_create(plain, packed, NULL, &m2), SPARQ_OK);
    assert_int_equal(sparq_plan_explain(m2, 1, text, sizeof text), SPARQ_OK);
    assert_non_null(strstr(text, "built-in default"));
    unsetenv("SPARQ_TUNE");
    unsetenv("SPARQ_TUNE_DB");
    sparq_matrix_free(m2);
    sparq_context_free(plain);
    sparq_matrix_free(m);
    sparq_packed_free(packed);
    sparq_context_free(ctx);
}

/* W8A8 cases tune the W8A8 product (and only it): every candidate passes the check
 * against a reference that multiplies the activations as quantized, and the pick
 * reaches dispatch. */
static void w8a8_case_tunes_its_kernel(void **state)
{
    (void)state;
    char path[1024];
    snprintf(path, sizeof path, "%s/tune.json", testing_tmpdir("tune_w8a8"));
    remove(path);
    setenv("SPARQ_TUNE_DB", path, 1);
    sparq_context *ctx = testing_context(NULL);
    sparq_tune_case c;
    assert_int_equal(sparq_tune_case_parse("dense+i8-row:40x300:b3:w8a8", &c), SPARQ_OK);
    assert_int_equal(c.quantize_activations, 1);
    assert_int_equal(c.format.quant.encoding, SPARQ_ENCODING_I8);
    /* the CPU's W8A8 kernel (linear_dense_w8a8_dot, shaped for GPUs, is tuned on its own) */
    sparq_tune_options o = {.kernels = "linear_dense_w8a8", .strategy = SPARQ_TUNE_RANDOM,
                            .max_evaluations = 4, .repeats = 2, .seed = 5};
    sparq_tune_result *r = NULL;
    size_t n = 0;
    assert_int_equal(sparq_tune_run(ctx, &c, 1, &o, &r, &n), SPARQ_OK);
    assert_int_equal(n, 1);
    assert_string_equal(r[0].kernel, "linear_dense_w8a8");
    assert_int_equal(r[0].rejected, 0);
    assert_int_equal(r[0].evaluations, 4);
    assert_true(r[0].best_us > 0);
    char best[256];
    snprintf(best, sizeof best, "%s", r[0].best_params);
    free(r);
    sparq_context_free(ctx);

    ctx = testing_context(NULL); /* reads the file at first use */
    float w[40 * 300];
    testing_fill_uniform(w, 40 * 300, 7, -1, 1);
    sparq_pack_options f = {.quant = {.encoding = SPARQ_ENCODING_I8,
                                      .granularity = SPARQ_SCALE_ROW}};
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_create(&f, 40, 300, w, &packed), SPARQ_OK);
    sparq_matrix_options mo = {.quantize_activations = 1};
    sparq_matrix *m = NULL;
    assert_int_equal(sparq_matrix_create(ctx, packed, &mo, &m), SPARQ_OK);
    char text[2048];
    assert_int_equal(sparq_plan_explain(m, 3, text, sizeof text), SPARQ_OK);
    assert_non_null(strstr(text, "linear_dense_w8a8"));
    assert_non_null(strstr(text, best));
    assert_non_null(strstr(text, "user tuning"));
    sparq_matrix_free(m);
    sparq_packed_free(packed);
    sparq_context_free(ctx);
    unsetenv("SPARQ_TUNE_DB");
}

/* The kernel dispatch runs for a 64 x 256 2:4 matrix at batch 1 when the user database
 * holds only a measured choice naming `kernel` with this source hash (kernel NULL: no
 * tuning at all, SPARQ_TUNE=off, so the ranks decide). */
static const char *kernel_after_choice(const char *kernel, const char *hash)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/choice.json", testing_tmpdir("tune_choice"));
    remove(path);
    setenv("SPARQ_TUNE_DB", path, 1);
    sparq_context *ctx = testing_context(NULL);
    float w[64 * 256];
    testing_fill_uniform(w, 64 * 256, 9, -1, 1);
    assert_int_equal(sparq_prune_nm(w, 64, 256, 2, 4, NULL, NULL, 1), SPARQ_OK);
    sparq_pack_options f = {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4};
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_create(&f, 64, 256, w, &packed), SPARQ_OK);
    sparq_matrix_options mo = {.path = SPARQ_PATH_SPARSE};
    sparq_matrix *m = NULL;
    assert_int_equal(sparq_matrix_create(ctx, packed, &mo, &m), SPARQ_OK);

    sparq_tune_choice_entry c = {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                                 .encoding = SPARQ_ENCODING_F32, .sparse_us = 10,
                                 .dense_name = "linear_dense_rowdot", .dense_us = 20,
                                 .sparq_version = "0.1.0"};
    sparq_matrix_shape_class(m, 1, c.shape_class, sizeof c.shape_class);
    snprintf(c.kernel, sizeof c.kernel, "%s", kernel ? kernel : "");
    snprintf(c.source_hash, sizeof c.source_hash, "%s", hash ? hash : "");
    sparq_tune_device device;
    sparq_tune_device_from_caps(&ctx->caps, &device);
    char key[512];
    sparq_tunedb_device_key(&device, key, sizeof key);
    sparq_tunedb *db = NULL;
    assert_int_equal(sparq_tunedb_create(&db), SPARQ_OK);
    if (kernel)
        assert_int_equal(sparq_tunedb_put_choice(db, &device, key, &c), SPARQ_OK);
    assert_int_equal(sparq_tunedb_merge_into_file(db, path), SPARQ_OK);
    sparq_tunedb_free(db);
    sparq_matrix_free(m);
    sparq_context_free(ctx);

    if (!kernel)
        setenv("SPARQ_TUNE", "off", 1);
    ctx = testing_context(NULL); /* reads the file at first use */
    assert_int_equal(sparq_matrix_create(ctx, packed, &mo, &m), SPARQ_OK);
    char text[2048];
    assert_int_equal(sparq_plan_explain(m, 1, text, sizeof text), SPARQ_OK);
    static char ran[64];
    const sparq_kernel_info *k = m->plans[1 % SPARQ_PLAN_SLOTS].k; /* batch 1's plan */
    snprintf(ran, sizeof ran, "%s", k ? k->name : "(none)");
    sparq_matrix_free(m);
    sparq_packed_free(packed);
    sparq_context_free(ctx);
    unsetenv("SPARQ_TUNE_DB");
    unsetenv("SPARQ_TUNE");
    return ran;
}

/* A measured choice names the fastest sparse kernel; dispatch follows it while the
 * kernel file is the one measured, and goes by rank once the file changed. The choice
 * names the batch-1 2:4 kernel that the ranks on this device put second. */
static void stale_choice_kernel_not_followed(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    char hash[17];
    sparq_source_hash_get(ctx, "spmm_nm.cl", hash);
    sparq_context_free(ctx);
    char ranked[64], second[64];
    snprintf(ranked, sizeof ranked, "%s", kernel_after_choice(NULL, NULL));
    snprintf(second, sizeof second, "%s",
             strcmp(ranked, "spmm_nm_gemv24") == 0 ? "spmm_nm_gemv24_slab" : "spmm_nm_gemv24");
    assert_true(strcmp(ranked, "spmm_nm_gemv24") == 0 ||
                strcmp(ranked, "spmm_nm_gemv24_slab") == 0);
    assert_string_equal(kernel_after_choice(second, hash), second);
    assert_string_equal(kernel_after_choice(second, "0123456789abcdef"), ranked);
}

/* Writes a user database at path holding, for m's shape class at batch 1, 8, 32 and 128
 * (bit 0 to 3 of dense_mask), a measured choice on this device: dense 2.6x faster where
 * the bit is set, else sparse 2.6x faster. */
static void write_choices(const sparq_matrix *m, const char *path, unsigned dense_mask)
{
    static const size_t choice_batches[] = {1, 8, 32, 128};
    sparq_tune_device device;
    sparq_tune_device_from_caps(&m->ctx->caps, &device);
    char key[512];
    sparq_tunedb_device_key(&device, key, sizeof key);
    sparq_tunedb *db = NULL;
    assert_int_equal(sparq_tunedb_create(&db), SPARQ_OK);
    for (int i = 0; i < 4; i++) {
        bool dense = (dense_mask >> i) & 1u;
        sparq_tune_choice_entry c = {.structure = SPARQ_STRUCTURE_CSR,
                                     .encoding = SPARQ_ENCODING_F32, .dense = dense,
                                     .sparse_us = dense ? 26 : 10,
                                     .dense_name = "linear_dense_rowdot",
                                     .dense_us = dense ? 10 : 26, .sparq_version = "0.1.0"};
        sparq_matrix_shape_class(m, choice_batches[i], c.shape_class, sizeof c.shape_class);
        assert_int_equal(sparq_tunedb_put_choice(db, &device, key, &c), SPARQ_OK);
    }
    remove(path);
    assert_int_equal(sparq_tunedb_merge_into_file(db, path), SPARQ_OK);
    sparq_tunedb_free(db);
}

/* sparq_linear on m at this batch (no bias, no activation) against the C reference. */
static void check_linear(sparq_context *ctx, sparq_matrix *m, const float *w, size_t batch)
{
    size_t rows = m->rows, cols = m->cols;
    float *x = malloc(batch * cols * sizeof *x), *y = malloc(batch * rows * sizeof *y);
    float *ref = malloc(batch * rows * sizeof *ref);
    assert_non_null(x), assert_non_null(y), assert_non_null(ref);
    testing_fill_uniform(x, batch * cols, 31 + batch, -1, 1);
    ref_linear_act(batch, rows, cols, x, w, NULL, 0, ref);
    cl_mem dx = testing_buffer(ctx, x, batch * cols), dy = testing_buffer(ctx, NULL, batch * rows);
    cl_event ev = NULL;
    assert_int_equal(sparq_linear(m, sparq_context_queue(ctx), dx, 0, dy, 0, batch, NULL, 0,
                                  NULL, &ev),
                     SPARQ_OK);
    testing_read(ctx, dy, y, batch * rows, ev);
    clReleaseEvent(ev);
    double err = ref_max_rel_error(y, ref, batch * rows);
    if (!(err <= 1e-4))
        fail_msg("batch %zu: max rel error %g", batch, err);
    clReleaseMemObject(dx), clReleaseMemObject(dy);
    free(x), free(y), free(ref);
}

/* A CSR 50 % f32 layer of 1536 x 384 (dense f32 2.4 MB, packed 1.8 MB) on a device whose
 * measured break-even says dense at batch 1 and sparse above, then dense at every batch.
 * By default (AUTO) the matrix holds only its packed arrays (device bytes: the packed
 * bytes and a row order), runs their kernels at every batch and says by how much the
 * dense path would have won; with allow_dense_copy it holds the dense f32 copy next to
 * them (mixed choices) or instead of them (dense everywhere). An explicit request for the
 * dense path (dense_fallback_density) holds dense f32 whatever allow_dense_copy says.
 * Every configuration computes the reference's result. */
static void auto_holds_packed_unless_copy_allowed(void **state)
{
    (void)state;
    enum { ROWS = 1536, COLS = 384 };
    char path[1024];
    snprintf(path, sizeof path, "%s/choices.json", testing_tmpdir("tune_dense_copy"));
    setenv("SPARQ_TUNE_DB", path, 1);
    float *w = malloc((size_t)ROWS * COLS * sizeof *w);
    assert_non_null(w);
    testing_fill_uniform(w, (size_t)ROWS * COLS, 21, -1, 1);
    assert_int_equal(sparq_prune_magnitude(w, ROWS, COLS, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL, NULL,
                                           NULL, 1), SPARQ_OK);
    sparq_pack_options f = {.structure = SPARQ_STRUCTURE_CSR};
    sparq_packed *packed = NULL;
    assert_int_equal(sparq_packed_create(&f, ROWS, COLS, w, &packed), SPARQ_OK);
    const uint64_t packed_bytes = sparq_packed_bytes(packed);
    const uint64_t dense_bytes = 4ull * ROWS * COLS;
    /* the packed arrays on the device: their bytes, rows padded to 4 slots (at most 3
     * slots of a value and an index a row), a row order of 4 bytes a row and the binned
     * kernel's bins (a 16-byte record a row and a header) */
    const uint64_t packed_limit = packed_bytes + 3 * ROWS * (4 + 4) + 4 * ROWS + 16 * ROWS + 256;
    assert_true(dense_bytes > packed_bytes);
    char text[4096];
    for (int all_dense = 0; all_dense < 2; all_dense++) {
        sparq_context *ctx = testing_context(NULL);
        sparq_matrix_options forced = {.path = SPARQ_PATH_SPARSE};
        sparq_matrix *m = NULL;
        assert_int_equal(sparq_matrix_create(ctx, packed, &forced, &m), SPARQ_OK);
        write_choices(m, path, all_dense ? 0xfu : 0x1u);
        sparq_matrix_free(m);
        sparq_context_free(ctx);
        ctx = testing_context(NULL); /* reads the file at first use */

        /* default options: the packed arrays alone */
        assert_int_equal(sparq_matrix_create(ctx, packed, NULL, &m), SPARQ_OK);
        uint64_t held = sparq_matrix_device_bytes(m);
        assert_true(held >= packed_bytes && held <= packed_limit);
        assert_int_equal(m->path, SPARQ_PATH_SPARSE);
        assert_false(m->dense_copy);
        assert_non_null(strstr(m->path_reason, "tuned break-even"));
        assert_non_null(strstr(m->path_reason, "allow_dense_copy is 0"));
        assert_int_equal(sparq_plan_explain(m, 1, text, sizeof text), SPARQ_OK);
        assert_non_null(strstr(text, "sparse path (dense path measured 2.60x faster; not held: "
                                     "set allow_dense_copy)"));
        assert_non_null(strstr(text, "holds: packed arrays 1.8 MB; kernel spmm_csr_"));
        assert_null(strstr(text, "dense f32 copy"));
        if (all_dense) /* dense f32 would be more bytes than the packed arrays */
            assert_non_null(strstr(m->path_reason, "dense wins at every batch"));
        assert_int_equal(sparq_plan_explain(m, 8, text, sizeof text), SPARQ_OK);
        assert_int_equal(strncmp(text, "sparse path", 11), 0);
        assert_true((strstr(text, "not held") != NULL) == (all_dense == 1));
        check_linear(ctx, m, w, 1);
        check_linear(ctx, m, w, 8);
        sparq_matrix_free(m);

        /* allow_dense_copy: a dense f32 copy where the batches disagree, dense f32 alone
         * where dense wins at every batch */
        sparq_matrix_options copy = {.allow_dense_copy = 1};
        assert_int_equal(sparq_matrix_create(ctx, packed, &copy, &m), SPARQ_OK);
        assert_int_equal(sparq_plan_explain(m, 1, text, sizeof text), SPARQ_OK);
        assert_int_equal(strncmp(text, "dense path", 10), 0);
        assert_null(strstr(text, "not held"));
        if (all_dense) {
            assert_int_equal(m->path, SPARQ_PATH_DENSE);
            assert_int_equal(sparq_matrix_device_bytes(m), dense_bytes);
            assert_non_null(strstr(text, "holds: dense f32 weights 2.4 MB (instead of the "
                                         "packed arrays, 1.8 MB)"));
        } else {
            assert_true(m->dense_copy);
            assert_int_equal(sparq_matrix_device_bytes(m), held + dense_bytes);
            assert_non_null(strstr(text, "holds: packed arrays 1.8 MB + dense f32 copy 2.4 MB"));
            assert_int_equal(sparq_plan_explain(m, 8, text, sizeof text), SPARQ_OK);
            assert_int_equal(strncmp(text, "sparse path", 11), 0);
            assert_non_null(strstr(text, "+ dense f32 copy"));
        }
        check_linear(ctx, m, w, 1);
        check_linear(ctx, m, w, 8);
        sparq_matrix_free(m);
        sparq_context_free(ctx);
    }

    /* dense_fallback_density asks for the dense path: dense f32 held without the option */
    sparq_context *ctx = testing_context(NULL);
    sparq_matrix_options fallback = {.dense_fallback_density = 0.4};
    sparq_matrix *m = NULL;
    assert_int_equal(sparq_matrix_create(ctx, packed, &fallback, &m), SPARQ_OK);
    assert_int_equal(m->path, SPARQ_PATH_DENSE);
    assert_int_equal(sparq_matrix_device_bytes(m), dense_bytes);
    check_linear(ctx, m, w, 1);
    sparq_matrix_free(m);
    sparq_matrix_options bad = {.allow_dense_copy = 2};
    assert_int_equal(sparq_matrix_create(ctx, packed, &bad, &m), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "allow_dense_copy 2"));
    assert_null(m);
    sparq_context_free(ctx);
    unsetenv("SPARQ_TUNE_DB");
    sparq_packed_free(packed);
    free(w);
}

static void bad_options_refused(void **state)
{
    (void)state;
    sparq_context *ctx = testing_context(NULL);
    sparq_tune_options o = {.kernels = "no_such_kernel", .db_path = ""};
    sparq_tune_result *r = NULL;
    size_t n = 0;
    assert_int_equal(sparq_tune_run(ctx, &small_case, 1, &o, &r, &n),
                     SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "no_such_kernel"));
    sparq_tune_case bad = small_case;
    bad.rows = 0;
    o.kernels = NULL;
    assert_int_equal(sparq_tune_run(ctx, &bad, 1, &o, &r, &n), SPARQ_ERROR_INVALID_ARGUMENT);
    sparq_tune_strategy s;
    assert_int_equal(sparq_tune_strategy_parse("genetic", &s), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_int_equal(sparq_tune_strategy_parse("anneal", &s), SPARQ_OK);
    assert_int_equal(s, SPARQ_TUNE_ANNEAL);
    char *text = NULL;
    assert_int_equal(sparq_tune_describe(ctx, &text), SPARQ_OK);
    assert_non_null(strstr(text, "spmm_csr_rowvec"));
    free(text);
    sparq_context_free(ctx);
}

static void case_specs(void **state)
{
    (void)state;
    sparq_tune_case c;
    assert_int_equal(sparq_tune_case_parse("2:4:768x3072:b32", &c), SPARQ_OK);
    assert_int_equal(c.format.structure, SPARQ_STRUCTURE_NM);
    assert_int_equal(c.format.nm_n, 2);
    assert_int_equal(c.format.nm_m, 4);
    assert_int_equal(c.rows, 768);
    assert_int_equal(c.cols, 3072);
    assert_int_equal(c.batch, 32);
    assert_int_equal(c.quantize_activations, 0);
    assert_int_equal(sparq_tune_case_parse("2:4+i4-g128:64x128:b1", &c), SPARQ_OK);
    assert_int_equal(c.format.structure, SPARQ_STRUCTURE_NM);
    assert_int_equal(c.format.quant.encoding, SPARQ_ENCODING_I4);
    assert_int_equal(c.format.quant.granularity, SPARQ_SCALE_GROUP);
    assert_int_equal(c.format.quant.group_size, 128);
    assert_true(c.rows == 64 && c.cols == 128 && c.batch == 1);
    assert_int_equal(sparq_tune_case_parse("csr+i8-row:4096x4096:b1:s0.75", &c), SPARQ_OK);
    assert_int_equal(c.format.structure, SPARQ_STRUCTURE_CSR);
    assert_int_equal(c.format.quant.encoding, SPARQ_ENCODING_I8);
    assert_int_equal(c.format.quant.granularity, SPARQ_SCALE_ROW);
    assert_true(c.sparsity == 0.75);
    assert_int_equal(sparq_tune_case_parse("dense+i8-row:768x3072:b32:w8a8", &c), SPARQ_OK);
    assert_int_equal(c.format.structure, SPARQ_STRUCTURE_DENSE);
    assert_int_equal(c.format.quant.encoding, SPARQ_ENCODING_I8);
    assert_int_equal(c.quantize_activations, 1);
    assert_int_equal(c.batch, 32);
    assert_int_equal(sparq_tune_case_parse("bsr16x16:32x32:b8", &c), SPARQ_OK);
    assert_true(c.format.block_rows == 16 && c.format.block_cols == 16);
    assert_true(c.sparsity == 0.9);
    assert_int_equal(sparq_tune_case_parse("bsr4x4:32x32:b1:s0.5", &c), SPARQ_OK);
    assert_true(c.format.structure == SPARQ_STRUCTURE_BSR && c.format.block_rows == 4 &&
                c.format.block_cols == 4);
    assert_int_equal(sparq_tune_case_parse("bsr2x8+f16:32x32:b4:s0.5", &c), SPARQ_OK);
    assert_true(c.format.block_rows == 2 && c.format.block_cols == 8);
    assert_int_equal(c.format.quant.encoding, SPARQ_ENCODING_F16);
    assert_int_equal(sparq_tune_case_parse("dense+f32:8x8:b2", &c), SPARQ_OK);
    assert_int_equal(c.format.structure, SPARQ_STRUCTURE_DENSE);
    assert_int_equal(c.format.quant.encoding, SPARQ_ENCODING_F32);
    /* the quick cases are the formats their specs spell */
    const sparq_tune_case *quick;
    size_t count;
    sparq_tune_quick_cases(&quick, &count);
    assert_int_equal(count, 16);
    static const struct {
        size_t index;
        const char *spec;
    } quick_specs[] = {{0, "dense:768x3072:b32:s0"}, {5, "csr+i8-row:768x3072:b1"},
                       {7, "bsr16x16:768x3072:b1"}, {10, "2:4:768x3072:b32:s0.5"},
                       {14, "dense+i4-g128:768x3072:b32:s0"},
                       {15, "dense+i8-row:768x3072:b32:s0:w8a8"}};
    for (size_t i = 0; i < sizeof quick_specs / sizeof quick_specs[0]; i++) {
        const sparq_tune_case *q = &quick[quick_specs[i].index];
        char want[64], got[64];
        assert_int_equal(sparq_tune_case_parse(quick_specs[i].spec, &c), SPARQ_OK);
        assert_int_equal(sparq_format_name(&q->format, want, sizeof want), SPARQ_OK);
        assert_int_equal(sparq_format_name(&c.format, got, sizeof got), SPARQ_OK);
        assert_string_equal(got, want);
        assert_true(c.sparsity == q->sparsity && c.rows == q->rows && c.cols == q->cols &&
                    c.batch == q->batch && c.quantize_activations == q->quantize_activations);
    }
    /* refused: malformed, out of range, the old case names, W8A8 on other weights */
    static const char *const bad[] = {
        "", "csr", "csr:", "coo:4x4:b1", "csr:4x4", "csr:0x4:b1", "csr:4x4:b0",
        "csr:4x4:b1:s1.5", "csr:4x4:b1:s0.5x", "csr:4x4:b1:", "csr:4x4:b1junk", "2:4:4x4",
        "csr:99999999x4:b1", "csr:4x4:b1:s-0.5", "csr:4x4:b1:w8a8:s0.5", "csr+:4x4:b1",
        "csr+i8:4x4:b1", "csr-i8:4x4:b1", "bsr16:32x32:b8", "2:4-i4:64x128:b1",
        "dense-i8:8x8:b1", "w8a8:40x300:b3", "csr:4x4:b1:w8a8", "dense:4x4:b1:w8a8",
        "dense+i4-g128:4x4:b1:w8a8", "2:4+i8-row:4x4:b1:w8a8"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(sparq_tune_case_parse(bad[i], &c), SPARQ_ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(sparq_last_error(), "case"));
        assert_non_null(strstr(sparq_last_error(), bad[i]));
        assert_non_null(strstr(sparq_last_error(), "e.g."));
    }
    assert_int_equal(sparq_tune_case_parse("csr-i8:4x4:b1", &c), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "is not a structure"));
    assert_non_null(strstr(sparq_last_error(), "csr+i8-row:"));
    assert_int_equal(sparq_tune_case_parse("csr:4x4:b1:w8a8", &c), SPARQ_ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(sparq_last_error(), "dense int8 weights"));
    assert_int_equal(sparq_tune_case_parse(NULL, &c), SPARQ_ERROR_INVALID_ARGUMENT);
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fake_timer_picks_expected),
        cmocka_unit_test(wrong_candidate_never_chosen),
        cmocka_unit_test(anneal_deterministic_and_near_exhaustive),
        cmocka_unit_test(tuned_run_reaches_dispatch),
        cmocka_unit_test(w8a8_case_tunes_its_kernel),
        cmocka_unit_test(stale_choice_kernel_not_followed),
        cmocka_unit_test(auto_holds_packed_unless_copy_allowed),
        cmocka_unit_test(bad_options_refused),
        cmocka_unit_test(case_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
