/* SPDX-License-Identifier: Apache-2.0 */
/* test_nonfinite.c - sparq.h's NaN/Inf contract, output by output: NaN and +-Inf in x
 * (in columns a row uses with a nonzero weight, and in a column no weight uses), NaN and
 * +-Inf in the bias, through every kernel of every structure x encoding (each forced, as
 * test_spmm does, and dispatch), the dense path of a sparse matrix (forced, and the dense
 * f32 copy of allow_dense_copy, on sparq's kernels and CLBlast), sparq_linear_dense on
 * both backends, W8A8 and each activation, at batch 1 and at batches the tiled kernels
 * take; against a double reference on the unpacked weights.
 */
#include "kernel_check.h"

#include "plan.h"
#include "tunedb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Odd sizes: partial blocks, slabs, groups and vector steps. */
enum { ROWS = 21, COLS = 70 };
/* Where x holds its non-finite values: three columns rows use (or not: pruning decides
 * per row) and one that every row has zero weights in (pruned in CSR and N:M, zeros
 * stored in BSR blocks and dense matrices). */
enum { COL_NAN = 5, COL_PINF = 17, COL_MINF = 42, COL_UNUSED = 30 };
/* Row patterns of x: 0 NaN and +Inf in used columns and NaN in the unused one; 1 all
 * finite; 2 -Inf in a used column and +Inf in the unused one; 3 +Inf and -Inf in used
 * columns (infinities of both signs meet) and NaN in the unused one; 4 -Inf in the unused
 * column only. */
enum { PATTERNS = 5 };

/* Batch row b of x in pattern p: finite values in [-1, 1) (so no output overflows). */
static void fill_row(float *row, size_t b, int p)
{
    testing_fill_uniform(row, COLS, 1000 + 7 * b + (uint64_t)p, -1, 1);
    switch (p) {
    case 0:
        row[COL_NAN] = NAN, row[COL_PINF] = INFINITY, row[COL_UNUSED] = NAN;
        break;
    case 2:
        row[COL_MINF] = -INFINITY, row[COL_UNUSED] = INFINITY;
        break;
    case 3:
        row[COL_PINF] = INFINITY, row[COL_MINF] = -INFINITY, row[COL_UNUSED] = NAN;
        break;
    case 4:
        row[COL_UNUSED] = -INFINITY;
        break;
    default:
        break;
    }
}

/* What one run is: sparq_linear on m (kernel k forced, or dispatch when k is NULL), or
 * sparq_linear_dense on dense_w (m NULL) with backend. */
typedef struct target {
    const char *label;
    sparq_matrix *m;
    const sparq_kernel_info *k;
    cl_mem dense_w;
    sparq_dense_backend backend;
    const float *w;  /* ROWS x COLS: the weights as the matrix holds them */
    int w8a8;        /* quantize_activations of m */
} target;

/* The contract's outcomes for one output before the activation. */
typedef struct expect {
    bool nan_ok, pos_inf_ok, neg_inf_ok, finite_ok;
    double value, tol; /* the finite result (rule 1) and its tolerance */
    int rule;          /* 1 to 4, and 5 when the bias is not finite: for the counts */
} expect;

static expect expect_of(const target *t, const float *xr, const float *bias, size_t i)
{
    const float *wr = t->w + i * COLS;
    double sum = 0.0, mag = 0.0, wabs = 0.0, hi = 0.0, lo = 0.0;
    bool nan_used = false, pos = false, neg = false, finite_row = true;
    for (size_t j = 0; j < COLS; j++) {
        double xv = xr[j], wv = wr[j];
        wabs += fabs(wv);
        if (!isfinite(xv)) {
            finite_row = false;
            if (wv == 0.0)
                continue;
            if (isnan(xv))
                nan_used = true;
            else if ((xv > 0) == (wv > 0))
                pos = true;
            else
                neg = true;
            continue;
        }
        hi = fmax(hi, xv), lo = fmin(lo, xv);
        sum += xv * wv, mag += fabs(xv * wv);
    }
    expect e = {.rule = nan_used ? 2 : pos || neg ? 3 : finite_row ? 1 : 4};
    double bv = bias ? bias[i] : 0.0;
    if (!isfinite(bv))
        e.rule = 5;
    if (isnan(bv))
        nan_used = true;
    else if (isinf(bv) && bv > 0)
        pos = true;
    else if (isinf(bv))
        neg = true;
    else
        sum += bv, mag += fabs(bv);
    e.value = sum;
    e.tol = 1e-5 * (1.0 + mag);
    if (t->w8a8) /* activations rounded to a step of the row's scale, at most one step */
        e.tol += (t->w8a8 == 2 ? (hi - lo) / 255.0 : fmax(hi, -lo) / 127.0) * wabs;
    if (nan_used || (pos && neg)) /* rule 2, and infinities of both signs */
        e.nan_ok = true;
    else if (pos || neg) /* rule 3 (or an infinite bias): that infinity, or NaN */
        e.pos_inf_ok = pos, e.neg_inf_ok = neg, e.nan_ok = !finite_row;
    else /* rules 1 and 4: the finite result, or NaN where x is not finite */
        e.finite_ok = true, e.nan_ok = !finite_row;
    if (t->w8a8 && !finite_row) /* W8A8: NaN for the whole row */
        e = (expect){.nan_ok = true, .rule = e.rule};
    return e;
}

static double gelu(double v)
{
    return 0.5 * v * (1.0 + tanh(0.7978845608028654 * (v + 0.044715 * v * v * v)));
}

/* Whether y is what the contract allows after activation act (torch's values: relu(NaN)
 * = NaN, relu(-Inf) = 0; gelu(NaN) = NaN, gelu(+Inf) = +Inf, gelu(-Inf) = NaN). */
static bool allowed(const expect *e, int act, float y)
{
    if (isnan(y))
        return e->nan_ok || (act == SPARQ_ACTIVATION_GELU && e->neg_inf_ok);
    if (isinf(y))
        return y > 0 ? e->pos_inf_ok : e->neg_inf_ok && act == SPARQ_ACTIVATION_NONE;
    if (act == SPARQ_ACTIVATION_RELU && e->neg_inf_ok && y == 0.0f)
        return true;
    if (!e->finite_ok)
        return false;
    double want = act == SPARQ_ACTIVATION_RELU   ? (e->value > 0 ? e->value : 0.0)
                  : act == SPARQ_ACTIVATION_GELU ? gelu(e->value)
                                                 : e->value;
    return fabs((double)y - want) <= 1.2 * e->tol;
}

static const char *describe(const expect *e, char *out, size_t size)
{
    if (e->finite_ok)
        snprintf(out, size, "%.7g%s", e->value, e->nan_ok ? " or NaN" : "");
    else
        snprintf(out, size, "%s%s%s", e->nan_ok ? "NaN " : "", e->pos_inf_ok ? "+Inf " : "",
                 e->neg_inf_ok ? "-Inf " : "");
    return out;
}

/* The test's bias: finite, but NaN, +Inf and -Inf for rows 1, 2 and 3. */
static float test_bias[ROWS];
/* Outputs checked under each rule (index 1 to 5), over the whole test. */
static size_t rule_counts[6];

/* Runs t at batch with x rows in patterns p0, p0 + 1, ... (bias: test_bias or none) and
 * checks every output. Returns 0 when t's kernel refuses the batch, else 1. */
static int run_check(sparq_context *ctx, const target *t, size_t batch, int p0, bool with_bias,
                     int act)
{
    if (t->m && t->k) {
        sparq_kernel_params p;
        sparq_kernel_default_params(t->k, &ctx->caps, &p);
        char why[256];
        if (sparq_kernel_rank(t->k, t->m, batch, &ctx->caps, &p, why, sizeof why) == 0)
            return 0;
    }
    float *x = malloc(batch * COLS * sizeof *x), *y = malloc(batch * ROWS * sizeof *y);
    assert_non_null(x), assert_non_null(y);
    for (size_t b = 0; b < batch; b++)
        fill_row(x + b * COLS, b, (int)((p0 + b) % PATTERNS));
    for (size_t i = 0; i < batch * ROWS; i++)
        y[i] = -777.0f; /* finite and wrong: an output never written fails */
    cl_mem dx = testing_buffer(ctx, x, batch * COLS), dy = testing_buffer(ctx, y, batch * ROWS);
    cl_mem db = with_bias ? testing_buffer(ctx, test_bias, ROWS) : NULL;
    cl_event ev = NULL;
    sparq_status st =
        t->m ? testing_run_kernel(ctx, t->m, t->k, NULL, batch, dx, dy, db, act, &ev)
             : sparq_linear_dense(ctx, sparq_context_queue(ctx), t->backend, batch, ROWS, COLS,
                                  dx, 0, t->dense_w, 0, db, 0, dy, 0, 0, NULL, &ev);
    const char *what = t->m ? (t->k ? t->k->name : "dispatch") : "sparq_linear_dense";
    if (st != SPARQ_OK)
        fail_msg("%s %s batch %zu: %s", t->label, what, batch, sparq_last_error());
    testing_read(ctx, dy, y, batch * ROWS, ev);
    clReleaseEvent(ev);
    for (size_t b = 0; b < batch; b++)
        for (size_t i = 0; i < ROWS; i++) {
            expect e = expect_of(t, x + b * COLS, with_bias ? test_bias : NULL, i);
            rule_counts[e.rule]++;
            float got = y[b * ROWS + i];
            if (!allowed(&e, act, got)) {
                char want[64];
                fail_msg("%s %s batch %zu act %d%s: y[%zu, %zu] = %.7g, contract rule %d "
                         "allows %s(before the activation); x row pattern %d, w[%zu, %d] = "
                         "%g, w[%zu, %d] = %g, w[%zu, %d] = %g",
                         t->label, what, batch, act, with_bias ? " bias" : "", b, i, got,
                         e.rule, describe(&e, want, sizeof want), (int)((p0 + b) % PATTERNS),
                         i, COL_NAN, t->w[i * COLS + COL_NAN], i, COL_PINF,
                         t->w[i * COLS + COL_PINF], i, COL_MINF, t->w[i * COLS + COL_MINF]);
            }
        }
    clReleaseMemObject(dx), clReleaseMemObject(dy);
    if (db)
        clReleaseMemObject(db);
    free(x), free(y);
    return 1;
}

/* t at batch 1 (each pattern), 5 and 8 (every pattern in one call: rows that are all
 * finite beside rows that are not), each activation (sparq_linear_dense has none), with
 * and without the bias. Returns the runs made. */
static size_t run_all(sparq_context *ctx, const target *t)
{
    static const struct {
        size_t batch;
        int p0;
    } runs[] = {{1, 0}, {1, 1}, {1, 2}, {1, 3}, {1, 4}, {5, 0}, {8, 2}};
    size_t made = 0;
    int acts = t->m ? 3 : 1;
    for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++)
        for (int act = 0; act < acts; act++)
            for (int bias = 0; bias < 2; bias++)
                made += (size_t)run_check(ctx, t, runs[r].batch, runs[r].p0, bias == 1, act);
    return made;
}

/* Weights in [-1, 1) pruned as the structure wants (about half), with column COL_UNUSED
 * all zero; packed and uploaded with mo. *w gets the unpacked weights. */
static sparq_matrix *make_matrix(sparq_context *ctx, const sparq_pack_options *pack,
                                 const sparq_matrix_options *mo, const char *label, float *w)
{
    testing_fill_uniform(w, ROWS * COLS, 77, -1, 1);
    for (size_t i = 0; i < ROWS; i++)
        w[i * COLS + COL_UNUSED] = 0.0f;
    if (pack->structure == SPARQ_STRUCTURE_CSR)
        assert_int_equal(sparq_prune_magnitude(w, ROWS, COLS, 0.5, SPARQ_PRUNE_SCOPE_GLOBAL,
                                               NULL, NULL, 1), SPARQ_OK);
    else if (pack->structure == SPARQ_STRUCTURE_BSR)
        assert_int_equal(sparq_prune_blocks(w, ROWS, COLS, pack->block_rows, pack->block_cols,
                                            SPARQ_BLOCK_NORM_L1, 0.5, NULL, NULL, 1),
                         SPARQ_OK);
    else if (pack->structure == SPARQ_STRUCTURE_NM)
        assert_int_equal(sparq_prune_nm(w, ROWS, COLS, pack->nm_n, pack->nm_m, NULL, NULL, 1),
                         SPARQ_OK);
    return testing_matrix(ctx, pack, ROWS, COLS, w, mo, label, w, NULL);
}

typedef struct format_case {
    const char *label;
    sparq_pack_options pack;
    int w8a8;
} format_case;

#define F16 {.encoding = SPARQ_ENCODING_F16}
static const format_case formats[] = {
    {"csr f32", {.structure = SPARQ_STRUCTURE_CSR}, 0},
    {"csr f16", {.structure = SPARQ_STRUCTURE_CSR, .quant = F16}, 0},
    {"csr i8 row", {.structure = SPARQ_STRUCTURE_CSR,
                    .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}}, 0},
    {"csr i4 g32 asym", {.structure = SPARQ_STRUCTURE_CSR,
                         .quant = {.encoding = SPARQ_ENCODING_I4,
                                   .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                                   .asymmetric = 1}}, 0},
    {"bsr4x4 f32", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 4, .block_cols = 4}, 0},
    {"bsr16x16 f32", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 16, .block_cols = 16}, 0},
    {"bsr2x8 f16", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 2, .block_cols = 8,
                    .quant = F16}, 0},
    {"bsr4x4 i8 tensor asym", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 4,
                               .block_cols = 4,
                               .quant = {.encoding = SPARQ_ENCODING_I8, .asymmetric = 1}}, 0},
    {"bsr2x8 i4 g32", {.structure = SPARQ_STRUCTURE_BSR, .block_rows = 2, .block_cols = 8,
                       .quant = {.encoding = SPARQ_ENCODING_I4,
                                 .granularity = SPARQ_SCALE_GROUP, .group_size = 32}}, 0},
    {"nm2:4 f32", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4}, 0},
    {"nm2:4 f16", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4, .quant = F16}, 0},
    {"nm4:8 f32", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 4, .nm_m = 8}, 0},
    {"nm2:4 i8 g32 asym", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                           .quant = {.encoding = SPARQ_ENCODING_I8,
                                     .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                                     .asymmetric = 1}}, 0},
    {"nm2:4 i4 row", {.structure = SPARQ_STRUCTURE_NM, .nm_n = 2, .nm_m = 4,
                      .quant = {.encoding = SPARQ_ENCODING_I4, .granularity = SPARQ_SCALE_ROW}}, 0},
    {"dense f32", {.structure = SPARQ_STRUCTURE_DENSE}, 0},
    {"dense f16", {.structure = SPARQ_STRUCTURE_DENSE, .quant = F16}, 0},
    {"dense i8 row", {.structure = SPARQ_STRUCTURE_DENSE,
                      .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}}, 0},
    {"dense i4 g32 asym", {.structure = SPARQ_STRUCTURE_DENSE,
                           .quant = {.encoding = SPARQ_ENCODING_I4,
                                     .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                                     .asymmetric = 1}}, 0},
    {"w8a8 row", {.structure = SPARQ_STRUCTURE_DENSE,
                  .quant = {.encoding = SPARQ_ENCODING_I8, .granularity = SPARQ_SCALE_ROW}}, 1},
    {"w8a8 g32 asym, uint8 x", {.structure = SPARQ_STRUCTURE_DENSE,
                                .quant = {.encoding = SPARQ_ENCODING_I8,
                                          .granularity = SPARQ_SCALE_GROUP, .group_size = 32,
                                          .asymmetric = 1}}, 2},
};

static void set_bias(void)
{
    testing_fill_uniform(test_bias, ROWS, 5, -0.5f, 0.5f);
    test_bias[1] = NAN, test_bias[2] = INFINITY, test_bias[3] = -INFINITY;
}

/* Every kernel that runs the format, forced, and dispatch, on the packed arrays. */
static void every_kernel_every_format(void **state)
{
    (void)state;
    set_bias();
    memset(rule_counts, 0, sizeof rule_counts);
    sparq_context *ctx = testing_context(NULL);
    float *w = malloc(ROWS * COLS * sizeof *w);
    assert_non_null(w);
    bool offered[SPARQ_MAX_KERNELS] = {false}, ran[SPARQ_MAX_KERNELS] = {false};
    assert_true(sparq_kernel_registry_size() <= SPARQ_MAX_KERNELS);
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        const format_case *fc = &formats[f];
        sparq_matrix_options mo = {.quantize_activations = fc->w8a8};
        sparq_matrix *m = make_matrix(ctx, &fc->pack, &mo, fc->label, w);
        sparq_context_stats before;
        sparq_context_get_stats(ctx, &before);
        size_t runs = 0, kernels = 0;
        for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
            const sparq_kernel_info *k = sparq_kernel_row(i);
            if (!sparq_kernel_runs_format(k, &m->format, m->quantize_activations))
                continue;
            target t = {.label = fc->label, .m = m, .k = k, .w = w, .w8a8 = fc->w8a8};
            size_t made = run_all(ctx, &t); /* 0: refuses this format (a 2:4 kernel, 4:8) */
            runs += made, kernels += made > 0;
            offered[i] = true, ran[i] = ran[i] || made > 0;
        }
        /* dense f32 matrices run the dense path, whose kernels are tested below */
        if (kernels == 0 && fc->pack.structure != SPARQ_STRUCTURE_DENSE)
            fail_msg("%s: no kernel runs it", fc->label);
        target t = {.label = fc->label, .m = m, .w = w, .w8a8 = fc->w8a8};
        runs += run_all(ctx, &t);
        testing_expect_launches(ctx, &before, runs, fc->label);
        print_message("%s: %zu kernels forced and dispatch, %zu runs\n", fc->label, kernels,
                      runs);
        sparq_matrix_free(m);
    }
    free(w);
    sparq_context_free(ctx);
    for (size_t i = 0; i < sparq_kernel_registry_size(); i++)
        if (offered[i] && !ran[i])
            fail_msg("%s ran none of the formats", sparq_kernel_row(i)->name);
    /* the inputs really meet every rule */
    print_message("outputs checked under rule 1: %zu, 2: %zu, 3: %zu, 4: %zu, 5 (bias): %zu\n",
                  rule_counts[1], rule_counts[2], rule_counts[3], rule_counts[4],
                  rule_counts[5]);
    for (int r = 1; r <= 5; r++)
        if (rule_counts[r] == 0)
            fail_msg("no output was checked under rule %d", r);
}

/* Whether this sparq has CLBlast (its backend refuses with UNSUPPORTED when not). */
static bool have_clblast(sparq_context *ctx)
{
    float zero[COLS] = {0};
    cl_mem a = testing_buffer(ctx, zero, COLS), y = testing_buffer(ctx, NULL, 1);
    sparq_status st = sparq_linear_dense(ctx, sparq_context_queue(ctx),
                                         SPARQ_DENSE_BACKEND_CLBLAST, 1, 1, COLS, a, 0, a, 0,
                                         NULL, 0, y, 0, 0, NULL, NULL);
    assert_int_equal(clFinish(sparq_context_queue(ctx)), CL_SUCCESS);
    clReleaseMemObject(a), clReleaseMemObject(y);
    assert_true(st == SPARQ_OK || st == SPARQ_ERROR_UNSUPPORTED);
    return st == SPARQ_OK;
}

/* The dense path of sparse matrices, forced (sparq's rowdot at batch 1, the dense tiled
 * kernel above); sparq_linear_dense on both backends (the dense path's batch-1 call). */
static void dense_paths(void **state)
{
    (void)state;
    set_bias();
    sparq_context *ctx = testing_context(NULL);
    float *w = malloc(ROWS * COLS * sizeof *w);
    assert_non_null(w);
    static const size_t forced[] = {0, 5, 13}; /* csr f32, bsr16x16 f32, nm2:4 i4 row */
    for (size_t f = 0; f < sizeof forced / sizeof forced[0]; f++) {
        const format_case *fc = &formats[forced[f]];
        sparq_matrix_options mo = {.path = SPARQ_PATH_DENSE};
        sparq_matrix *m = make_matrix(ctx, &fc->pack, &mo, fc->label, w);
        assert_int_equal(m->path, SPARQ_PATH_DENSE);
        char label[96];
        snprintf(label, sizeof label, "%s, dense path forced", fc->label);
        target t = {.label = label, .m = m, .w = w};
        sparq_context_stats before;
        sparq_context_get_stats(ctx, &before);
        testing_expect_launches(ctx, &before, run_all(ctx, &t), label);
        sparq_matrix_free(m);
    }
    /* the raw dense call on the (unpacked CSR) weights */
    sparq_matrix_options mo = {.path = SPARQ_PATH_SPARSE};
    sparq_matrix_free(make_matrix(ctx, &formats[0].pack, &mo, "csr f32", w));
    cl_mem dw = testing_buffer(ctx, w, ROWS * COLS);
    target own = {.label = "sparq backend", .dense_w = dw,
                  .backend = SPARQ_DENSE_BACKEND_SPARQ, .w = w};
    assert_true(run_all(ctx, &own) > 0);
    if (have_clblast(ctx)) {
        target peer = {.label = "CLBlast backend", .dense_w = dw,
                       .backend = SPARQ_DENSE_BACKEND_CLBLAST, .w = w};
        assert_true(run_all(ctx, &peer) > 0);
    } else {
        print_message("sparq built without CLBlast: its backend not checked\n");
    }
    clReleaseMemObject(dw);
    free(w);
    sparq_context_free(ctx);
}

/* AUTO with allow_dense_copy, on a device whose (user) tuning says: dense at batch 1 on
 * sparq's kernel, dense at batch 8 on CLBlast (sparq's tiled kernel without CLBlast),
 * sparse at 32 and 128: the matrix holds the packed arrays and a dense f32 copy, and each
 * batch takes its path. */
static void dense_copy_path(void **state)
{
    (void)state;
    set_bias();
    char path[1024];
    snprintf(path, sizeof path, "%s/choices.json", testing_tmpdir("nonfinite_tune"));
    setenv("SPARQ_TUNE_DB", path, 1);
    sparq_context *ctx = testing_context(NULL);
    bool clblast = have_clblast(ctx);
    float *w = malloc(ROWS * COLS * sizeof *w);
    assert_non_null(w);
    const format_case *fc = &formats[0]; /* csr f32 */
    sparq_matrix_options sparse = {.path = SPARQ_PATH_SPARSE};
    sparq_matrix *m = make_matrix(ctx, &fc->pack, &sparse, fc->label, w);
    static const size_t choice_batches[] = {1, 8, 32, 128};
    sparq_tune_device device;
    sparq_tune_device_from_caps(&ctx->caps, &device);
    char key[512];
    sparq_tunedb_device_key(&device, key, sizeof key);
    sparq_tunedb *db = NULL;
    assert_int_equal(sparq_tunedb_create(&db), SPARQ_OK);
    for (int i = 0; i < 4; i++) {
        bool dense = i < 2;
        sparq_tune_choice_entry c = {.structure = SPARQ_STRUCTURE_CSR,
                                     .encoding = SPARQ_ENCODING_F32, .dense = dense,
                                     .sparse_us = dense ? 26 : 10, .dense_us = dense ? 10 : 26,
                                     .sparq_version = "0.1.0"};
        snprintf(c.dense_name, sizeof c.dense_name, "%s",
                 i == 0 ? "linear_dense_rowdot"
                 : clblast && i == 1 ? "clblast"
                                     : "linear_dense_q_tiled");
        sparq_matrix_shape_class(m, choice_batches[i], c.shape_class, sizeof c.shape_class);
        assert_int_equal(sparq_tunedb_put_choice(db, &device, key, &c), SPARQ_OK);
    }
    remove(path);
    assert_int_equal(sparq_tunedb_merge_into_file(db, path), SPARQ_OK);
    sparq_tunedb_free(db);
    sparq_matrix_free(m);
    sparq_context_free(ctx);

    ctx = testing_context(NULL); /* reads the database at first use */
    sparq_matrix_options copy = {.allow_dense_copy = 1};
    m = make_matrix(ctx, &fc->pack, &copy, "csr f32 with a dense copy", w);
    assert_true(m->dense_copy);
    sparq_plan_info info;
    assert_int_equal(sparq_plan_info_get(m, 1, &info), SPARQ_OK);
    assert_int_equal(info.path, SPARQ_PATH_DENSE);
    assert_string_equal(info.kernel, "linear_dense_rowdot");
    assert_int_equal(sparq_plan_info_get(m, 8, &info), SPARQ_OK);
    assert_int_equal(info.path, SPARQ_PATH_DENSE);
    assert_string_equal(info.kernel, clblast ? "clblast" : "linear_dense_q_tiled");
    target t = {.label = clblast ? "csr f32, dense copy (rowdot at batch 1, CLBlast at 8)"
                                 : "csr f32, dense copy",
                .m = m, .w = w};
    sparq_context_stats before;
    sparq_context_get_stats(ctx, &before);
    testing_expect_launches(ctx, &before, run_all(ctx, &t), t.label);
    sparq_matrix_free(m);
    free(w);
    sparq_context_free(ctx);
    unsetenv("SPARQ_TUNE_DB");
}

int main(void)
{
    testing_filter_from_env();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kernel_every_format),
        cmocka_unit_test(dense_paths),
        cmocka_unit_test(dense_copy_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
