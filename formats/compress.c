/* SPDX-License-Identifier: Apache-2.0 */
/* compress.c - how one rung of sparq_layer_convert prunes and quantizes a layer: magnitude
 * (RTN) and Wanda masks, and the GPTQ / SparseGPT column sweep, which rounds or prunes
 * one column at a time and feeds each column's error into the columns not yet done
 * through the Cholesky factor of the damped inverse Hessian (LAPACKE), in panels with
 * lazy updates of the rest (CBLAS).
 */
#include "compress.h"
#include "checks.h"
#include "format.h"
#include "quantize.h"
#include "status.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_DAMP 0.01
#define DEFAULT_BLOCK 128
#define DAMP_RETRIES 6 /* damping doubled at most this often until H is positive definite */
#define SUB_BLOCK 32   /* columns whose rank-one updates stay inside a panel's sub-block  */

struct sparq_compressor {
    const float *w;
    size_t rows, cols;
    sparq_convert_options opt;
    double *u;        /* cols x cols: upper Cholesky factor of (H + damp I)^-1, in sweep
                       * order; NULL until a rung needs it                              */
    size_t *perm;     /* act_order: sweep position -> column; else NULL                */
    uint8_t *dead;    /* columns the statistics never saw (H_jj = 0)                   */
    float *importance; /* H_jj / max H_jj per column: the weights of the sweep's
                        * clipping search (sparq_qparams_calibrate_weighted)            */
    /* a factorisation that failed (SPARQ_OK: none yet) and its sentence: later rungs of
     * the ladder fail the same way without factorising H again */
    sparq_status hessian_failed;
    char hessian_why[256];
};

/* ---- names ------------------------------------------------------------------------- */

static const char *const method_names[] = { "rtn", "wanda", "gptq", "sparsegpt" };

const char *sparq_method_name(sparq_method method)
{
    if ((unsigned)method >= sizeof method_names / sizeof method_names[0])
        return "?";
    return method_names[method];
}

sparq_status sparq_method_parse(const char *name, sparq_method *method)
{
    if (name == NULL || method == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "method_parse: NULL %s",
                          name == NULL ? "name" : "method");
    for (size_t i = 0; i < sizeof method_names / sizeof method_names[0]; i++) {
        if (strcmp(name, method_names[i]) == 0) {
            *method = (sparq_method)i;
            return SPARQ_OK;
        }
    }
    return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                      "method_parse: '%s' is not rtn, wanda, gptq or sparsegpt", name);
}

/* ---- the compressor ---------------------------------------------------------------- */

static sparq_status check_method(const sparq_convert_options *o, size_t cols)
{
    const char *what = "layer_convert";
    sparq_method m = o->method;
    if ((unsigned)m > SPARQ_METHOD_SPARSEGPT)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: unknown method %d", what, (int)m);
    if (o->calib != NULL && sparq_calib_cols(o->calib) != cols)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: the statistics are of %zu inputs, the weights have %zu cols",
                          what, sparq_calib_cols(o->calib), cols);
    int needs_gram = m == SPARQ_METHOD_GPTQ || m == SPARQ_METHOD_SPARSEGPT;
    if (m != SPARQ_METHOD_RTN && o->calib == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: method %s needs calibration statistics (calib)", what,
                          sparq_method_name(m));
    if (needs_gram && sparq_calib_gram(o->calib) == NULL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: method %s needs statistics with H = X^T X (with_gram)", what,
                          sparq_method_name(m));
    if (o->act_order && m != SPARQ_METHOD_GPTQ)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: act_order is for gptq only",
                          what);
    if (!(o->damp >= 0.0) || isinf(o->damp))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: damp %g is not a finite number >= 0", what, o->damp);
    return SPARQ_OK;
}

sparq_status sparq_compressor_create(const float *w, size_t rows, size_t cols,
                                     const sparq_convert_options *options,
                                     sparq_compressor **compressor)
{
    *compressor = NULL;
    sparq_status st = check_method(options, cols);
    if (st != SPARQ_OK)
        return st;
    sparq_compressor *c = calloc(1, sizeof *c);
    if (c == NULL)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "layer_convert: no memory");
    c->w = w;
    c->rows = rows;
    c->cols = cols;
    c->opt = *options;
    if (c->opt.damp == 0.0)
        c->opt.damp = DEFAULT_DAMP;
    if (c->opt.block_size == 0)
        c->opt.block_size = DEFAULT_BLOCK;
    *compressor = c;
    return SPARQ_OK;
}

void sparq_compressor_free(sparq_compressor *compressor)
{
    if (compressor == NULL)
        return;
    free(compressor->u);
    free(compressor->perm);
    free(compressor->dead);
    free(compressor->importance);
    free(compressor);
}

/* ---- masks ------------------------------------------------------------------------- */

/* The mask (1 kept) that scores (rows x cols, finite, >= 0; not modified in effect)
 * leave when pruned as the format says (its row of the format table). */
static sparq_status mask_from_scores(const sparq_pack_options *f, double sparsity,
                                     sparq_prune_scope scope, sparq_block_norm norm,
                                     float *scores, size_t rows, size_t cols, uint8_t *mask)
{
    return sparq_structure_of(f->structure)->prune(f, sparsity, scope, norm, scores, rows, cols,
                                                    mask, 0);
}

/* The whole-matrix mask of RTN (magnitude: CSR over the whole matrix, BSR blocks by L2,
 * whose sum of squares is the error pruning a block adds) or Wanda (|W_ij| ||X_j||: CSR
 * per row, BSR blocks by the sum of squared scores, N:M per group). */
static sparq_status whole_mask(const sparq_compressor *c, const sparq_pack_options *f,
                               double sparsity, uint8_t *mask)
{
    size_t rows = c->rows, cols = c->cols;
    float *scores = malloc(rows * cols * sizeof *scores);
    if (scores == NULL)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "layer_convert: no memory for scores");
    sparq_prune_scope scope = SPARQ_PRUNE_SCOPE_GLOBAL;
    sparq_status st = SPARQ_OK;
    if (c->opt.method == SPARQ_METHOD_WANDA) {
        const double *sumsq = sparq_calib_sumsq(c->opt.calib);
        for (size_t i = 0; i < rows * cols && st == SPARQ_OK; i++) {
            scores[i] = (float)(fabs((double)c->w[i]) * sqrt(sumsq[i % cols]));
            if (!isfinite(scores[i]))
                st = sparq_fail(SPARQ_ERROR_INVALID_DATA,
                                "layer_convert: the Wanda score of W[%zu, %zu] overflows",
                                i / cols, i % cols);
        }
        scope = SPARQ_PRUNE_SCOPE_ROW;
    } else {
        memcpy(scores, c->w, rows * cols * sizeof *scores);
    }
    if (c->opt.method == SPARQ_METHOD_GPTQ) {
        /* The sweep zeroes inputs the statistics never saw: their weights must not take
         * the places the mask keeps. */
        const double *sumsq = sparq_calib_sumsq(c->opt.calib);
        for (size_t i = 0; i < rows * cols; i++)
            if (sumsq[i % cols] == 0.0)
                scores[i] = 0.0f;
    }
    if (st == SPARQ_OK)
        st = mask_from_scores(f, sparsity, scope, SPARQ_BLOCK_NORM_L2, scores, rows, cols, mask);
    free(scores);
    return st;
}

/* ---- the inverse Hessian ----------------------------------------------------------- */

/* Row-major upper triangle -> lower, so that a is symmetric. */
static void symmetrise_from_upper(double *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            a[i * n + j] = a[j * n + i];
}

/* a (n x n) = H + damp * mean(diag H) * I in sweep order, dead columns' diagonal 1. */
static double damped_hessian(const sparq_compressor *c, double damp, double *a)
{
    size_t n = c->cols;
    const double *h = sparq_calib_gram(c->opt.calib);
    double mean = 0.0;
    for (size_t j = 0; j < n; j++)
        mean += h[j * n + j];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        size_t pi = c->perm ? c->perm[i] : i;
        for (size_t j = 0; j < n; j++)
            a[i * n + j] = h[pi * n + (c->perm ? c->perm[j] : j)];
        if (c->dead[pi])
            a[i * n + i] = 1.0;
        a[i * n + i] += damp * mean;
    }
    return mean;
}

/* act_order: a column and its H_jj, sorted by decreasing H_jj (ties: lower column
 * first). */
typedef struct diag_entry {
    double h;
    size_t col;
} diag_entry;

static int cmp_diag_desc(const void *a, const void *b)
{
    const diag_entry *x = a, *y = b;
    if (x->h != y->h)
        return x->h > y->h ? -1 : 1;
    return x->col < y->col ? -1 : (x->col > y->col);
}

/* Computes c->u: the upper Cholesky factor U of (H + damp I)^-1 = U^T U, doubling the
 * damping until H + damp I is positive definite. */
static sparq_status factor_hessian(sparq_compressor *c)
{
    size_t n = c->cols;
    const double *h = sparq_calib_gram(c->opt.calib);
    c->dead = calloc(n, 1);
    c->u = malloc(n * n * sizeof *c->u);
    if (c->opt.act_order)
        c->perm = malloc(n * sizeof *c->perm);
    diag_entry *diag = malloc(n * sizeof *diag);
    if (!c->dead || !c->u || !diag || (c->opt.act_order && !c->perm)) {
        free(diag);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "layer_convert: no memory for a %zu x %zu Hessian", n, n);
    }
    for (size_t j = 0; j < n; j++) {
        diag[j] = (diag_entry){ h[j * n + j], j };
        c->dead[j] = diag[j].h == 0.0;
    }
    if (c->perm) {
        qsort(diag, n, sizeof *diag, cmp_diag_desc);
        for (size_t j = 0; j < n; j++)
            c->perm[j] = diag[j].col;
    }
    free(diag);
    double damp = c->opt.damp;
    for (int attempt = 0; attempt <= DAMP_RETRIES; attempt++, damp *= 2.0) {
        double mean = damped_hessian(c, damp, c->u);
        if (!(mean > 0.0))
            return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                              "layer_convert: the statistics' H is zero (no input seen)");
        /* H is symmetric, so its row-major array is also its column-major one: the
         * column-major calls need no transposed copies. Column-major lower is row-major
         * upper, so after the last factorisation the row-major upper triangle is U. */
        lapack_int n_ = (lapack_int)n;
        if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n_, c->u, n_) != 0)
            continue;
        if (LAPACKE_dpotri(LAPACK_COL_MAJOR, 'L', n_, c->u, n_) != 0)
            continue;
        symmetrise_from_upper(c->u, n);
        if (LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n_, c->u, n_) != 0)
            continue;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < i; j++)
                c->u[i * n + j] = 0.0;
        return SPARQ_OK;
    }
    return sparq_fail(SPARQ_ERROR_INVALID_DATA,
                      "layer_convert: H + damp I is not positive definite even with damp %g",
                      damp / 2.0);
}

/* factor_hessian, leaving c->u NULL when it fails; the failure is kept, so a later rung
 * gets it again at once (H does not change between rungs). */
static sparq_status prepare_hessian(sparq_compressor *c)
{
    if (c->hessian_failed != SPARQ_OK)
        return sparq_fail(c->hessian_failed, "%s", c->hessian_why);
    size_t n = c->cols;
    const double *h = sparq_calib_gram(c->opt.calib);
    double top = 0.0;
    free(c->importance);
    c->importance = malloc(n * sizeof *c->importance);
    if (c->importance == NULL)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "layer_convert: no memory");
    for (size_t j = 0; j < n; j++)
        top = h[j * n + j] > top ? h[j * n + j] : top;
    for (size_t j = 0; j < n; j++)
        c->importance[j] = top > 0.0 ? (float)(h[j * n + j] / top) : 1.0f;
    sparq_status st = factor_hessian(c);
    if (st != SPARQ_OK) {
        c->hessian_failed = st;
        snprintf(c->hessian_why, sizeof c->hessian_why, "%s", sparq_last_error());
        free(c->u);
        free(c->perm);
        free(c->dead);
        c->u = NULL;
        c->perm = NULL;
        c->dead = NULL;
    }
    return st;
}

/* ---- the sweep --------------------------------------------------------------------- */

/* One sweep's state: weights in sweep order (double), the mask and quantizer in the
 * matrix's own column order. */
typedef struct sweep {
    const sparq_compressor *c;
    const sparq_pack_options *f;
    double sparsity;
    int choose_mask;   /* SparseGPT: masks chosen as the sweep goes                   */
    int lazy_groups;   /* group scales chosen when the sweep reaches a group          */
    double *w;         /* rows x cols, sweep order                                    */
    uint8_t *mask;     /* rows x cols, column order                                   */
    sparq_qparams q;   /* scales / zero points: column order                          */
    size_t nm_done;    /* SparseGPT N:M: columns whose groups are decided             */
    float *scratch;    /* rows x max(panel, group) floats                             */
} sweep;

static size_t col_of(const sweep *s, size_t i)
{
    return s->c->perm ? s->c->perm[i] : i;
}

static size_t gcd(size_t a, size_t b)
{
    while (b) {
        size_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* Panel width: the block size rounded up to a multiple of every unit that must not
 * straddle panels (scale groups chosen lazily, N:M groups, BSR block columns). */
static size_t panel_width(const sweep *s)
{
    size_t unit = 1;
    if (s->lazy_groups)
        unit = s->q.opt.group_size;
    size_t other = s->f->structure == SPARQ_STRUCTURE_NM ? s->f->nm_m
                   : s->f->structure == SPARQ_STRUCTURE_BSR ? s->f->block_cols : 1;
    unit = unit / gcd(unit, other) * other;
    size_t b = s->c->opt.block_size;
    return (b + unit - 1) / unit * unit;
}

/* SparseGPT: scores w^2 / U_jj^2 of columns [c0, c1) (natural order) into scratch. */
static void panel_scores(const sweep *s, size_t c0, size_t c1)
{
    size_t n = s->c->cols, width = c1 - c0;
    for (size_t r = 0; r < s->c->rows; r++)
        for (size_t j = c0; j < c1; j++) {
            double d = s->c->u[j * n + j], v = s->w[r * n + j];
            double score = v * v / (d * d);
            s->scratch[r * width + (j - c0)] = (float)(score < 3e38 ? score : 3e38);
        }
}

/* SparseGPT: decides the mask of columns [c0, c1) from the current weights. */
static sparq_status choose_mask(sweep *s, size_t c0, size_t c1)
{
    size_t rows = s->c->rows, n = s->c->cols, width = c1 - c0;
    panel_scores(s, c0, c1);
    uint8_t *m = malloc(rows * width);
    if (m == NULL)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "layer_convert: no memory for a mask");
    sparq_status st = mask_from_scores(s->f, s->sparsity, SPARQ_PRUNE_SCOPE_GLOBAL,
                                       SPARQ_BLOCK_NORM_L1, s->scratch, rows, width, m);
    for (size_t r = 0; r < rows && st == SPARQ_OK; r++)
        memcpy(s->mask + r * n + c0, m + r * width, width);
    free(m);
    return st;
}

/* SparseGPT N:M: decides every N:M group that starts before column end. */
static sparq_status decide_nm_until(sweep *s, size_t end)
{
    size_t m = s->f->nm_m, n = s->c->cols;
    while (s->nm_done < end && s->nm_done < n) {
        size_t c1 = s->nm_done + m < n ? s->nm_done + m : n;
        sparq_status st = choose_mask(s, s->nm_done, c1);
        if (st != SPARQ_OK)
            return st;
        s->nm_done = c1;
    }
    return SPARQ_OK;
}

/* Lazy groups: the scales of the group starting at column c0, for every row, from the
 * kept current weights of the group, weighted by their inputs' importance. */
static void calibrate_group_at(sweep *s, size_t c0)
{
    size_t n = s->c->cols, g = s->q.opt.group_size;
    size_t c1 = c0 + g < n ? c0 + g : n;
    float *scales = (float *)s->q.scales;
    int8_t *zero_points = (int8_t *)s->q.zero_points;
    float *h = s->scratch + g;
    for (size_t r = 0; r < s->c->rows; r++) {
        size_t count = 0;
        for (size_t j = c0; j < c1; j++) {
            float v = (float)s->w[r * n + j];
            if (s->mask[r * n + j] && v != 0.0f) {
                h[count] = s->c->importance[j];
                s->scratch[count++] = v;
            }
        }
        float scale;
        int z;
        sparq_qparams_calibrate_weighted(&s->q, s->scratch, h, count, &scale, &z);
        size_t k = sparq_qparams_index(&s->q, r, c0);
        scales[k] = scale;
        if (zero_points != NULL)
            zero_points[k] = (int8_t)z;
    }
}

/* Rounds (or prunes) sweep column i of every row, feeds the error into the later columns
 * of its sub-block [i+1, end) and records it in err (rows x panel width, column i - i1). */
static void sweep_column(sweep *s, size_t i, size_t i1, size_t end, double *err,
                         size_t width)
{
    const double *u = s->c->u;
    size_t n = s->c->cols, col = col_of(s, i);
    double d = u[i * n + i];
    const double *urow = u + i * n;
    for (size_t r = 0; r < s->c->rows; r++) {
        double *row = s->w + r * n;
        double v = row[i];
        double q = s->mask[r * n + col] ? (double)sparq_value_fake(&s->q, (float)v, r, col) : 0.0;
        double e = (v - q) / d;
        row[i] = q;
        err[r * width + (i - i1)] = e;
        for (size_t j = i + 1; j < end; j++)
            row[j] -= e * urow[j];
    }
}

/* Feeds the errors of sweep columns [a, b) of the panel starting at i1 into columns
 * [c0, c1): W[:, c0:c1] -= err[:, a:b] U[a:b, c0:c1] (one product, many threads). */
static void feed_errors(sweep *s, const double *err, size_t width, size_t i1, size_t a,
                        size_t b, size_t c0, size_t c1)
{
    size_t n = s->c->cols;
    if (a >= b || c0 >= c1)
        return;
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)s->c->rows, (int)(c1 - c0),
                (int)(b - a), -1.0, err + (a - i1), (int)width, s->c->u + a * n + c0, (int)n,
                1.0, s->w + c0, (int)n);
}

/* The end of what column col reads ahead before it is swept: a scale group starting
 * there, and the N:M groups SparseGPT decides there; col + 1 when nothing. */
static size_t read_ahead(const sweep *s, size_t col, int nm)
{
    size_t end = col + 1;
    if (s->lazy_groups && col % s->q.opt.group_size == 0)
        end = col + s->q.opt.group_size;
    if (nm) {
        size_t m = s->f->nm_m;
        end = (end + m - 1) / m * m;
    }
    return end < s->c->cols ? end : s->c->cols;
}

/* One panel [i1, i2): masks, group scales and columns, in sub-blocks of SUB_BLOCK
 * columns whose rank-one updates stay inside the sub-block; each sub-block's errors
 * reach the rest of the panel in one product when it ends (or sooner, when a column
 * reads ahead past it), and the whole panel's reach the rest of the matrix lazily. */
static sparq_status sweep_panel(sweep *s, size_t i1, size_t i2, double *err)
{
    size_t n = s->c->cols, width = i2 - i1;
    sparq_status st = SPARQ_OK;
    int nm = s->choose_mask && s->f->structure == SPARQ_STRUCTURE_NM;
    if (s->choose_mask && !nm)
        st = choose_mask(s, i1, i2);
    for (size_t s1 = i1; s1 < i2 && st == SPARQ_OK; s1 += SUB_BLOCK) {
        size_t s2 = s1 + SUB_BLOCK < i2 ? s1 + SUB_BLOCK : i2;
        size_t fed = s1; /* errors of [s1, fed) have reached [s2, i2) already */
        for (size_t i = s1; i < s2 && st == SPARQ_OK; i++) {
            size_t col = col_of(s, i);
            size_t ahead = s->c->perm ? i + 1 : read_ahead(s, col, nm);
            if (ahead > s2) {
                feed_errors(s, err, width, i1, fed, i, s2, i2);
                fed = i;
            }
            int group_start = s->lazy_groups && col % s->q.opt.group_size == 0;
            if (nm)
                st = decide_nm_until(s, ahead);
            if (st != SPARQ_OK)
                break;
            if (group_start)
                calibrate_group_at(s, col);
            sweep_column(s, i, i1, s2, err, width);
        }
        feed_errors(s, err, width, i1, fed, s2, s2, i2);
    }
    if (st == SPARQ_OK)
        feed_errors(s, err, width, i1, i1, i2, i2, n);
    return st;
}

/* Scales that do not wait for the sweep: tensor and row scales, and every group's with
 * act_order, from source (the original weights when NULL) where the mask keeps them. */
static sparq_status calibrate_up_front(sweep *s, const float *source, float *scales,
                                       int8_t *zero_points)
{
    size_t rows = s->c->rows, n = s->c->cols;
    float *masked = malloc(rows * n * sizeof *masked);
    if (masked == NULL)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "layer_convert: no memory");
    if (source == NULL)
        source = s->c->w;
    for (size_t i = 0; i < rows * n; i++)
        masked[i] = s->mask[i] && !s->c->dead[i % n] ? source[i] : 0.0f;
    sparq_status st = sparq_qparams_calibrate_importance(&s->q, masked, s->c->importance,
                                                         scales, zero_points, "layer_convert");
    free(masked);
    return st;
}

/* Sets up a sweep of panels width wide: weights in sweep order with dead columns zeroed,
 * the mask (given, or all kept until SparseGPT chooses), the quantizer and its scales. */
static sparq_status sweep_init(sweep *s, size_t width, const uint8_t *mask,
                               const float *scale_source, float *scales, int8_t *zero_points)
{
    const sparq_compressor *c = s->c;
    size_t rows = c->rows, n = c->cols;
    size_t group = s->q.opt.granularity == SPARQ_SCALE_GROUP ? s->q.opt.group_size : 0;
    s->w = malloc(rows * n * sizeof *s->w);
    s->mask = malloc(rows * n);
    /* SparseGPT's panel scores (rows x width), or one scale group's values and weights */
    s->scratch = malloc((rows * width > 2 * group ? rows * width : 2 * group) *
                        sizeof *s->scratch);
    if (!s->w || !s->mask || !s->scratch)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY,
                          "layer_convert: no memory to sweep a %zu x %zu layer", rows, n);
    for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < n; i++) {
            size_t col = col_of(s, i);
            s->w[r * n + i] = c->dead[col] ? 0.0 : (double)c->w[r * n + col];
        }
    if (mask)
        memcpy(s->mask, mask, rows * n);
    else
        memset(s->mask, 1, rows * n);
    s->q.scales = scales;
    s->q.zero_points = s->q.opt.asymmetric ? zero_points : NULL;
    if (s->q.scale_count == 0 || s->lazy_groups)
        return SPARQ_OK;
    return calibrate_up_front(s, scale_source, scales, zero_points);
}

/* The values the sweep left (dequantized codes, zeros where pruned), in column order. */
static void sweep_result(const sweep *s, float *out)
{
    size_t n = s->c->cols;
    for (size_t r = 0; r < s->c->rows; r++)
        for (size_t i = 0; i < n; i++)
            out[r * n + col_of(s, i)] = (float)s->w[r * n + i];
}

/* One sweep into out (rows x cols values, column order): mask is fixed (GPTQ, or
 * SparseGPT's second pass) or NULL (SparseGPT chooses; mask_out, when given, gets the
 * mask chosen); up-front scales come from scale_source (NULL: the original weights). */
static sparq_status sweep_values(sparq_compressor *c, const sparq_pack_options *f,
                                 double sparsity, const uint8_t *mask,
                                 const float *scale_source, float *out, uint8_t *mask_out,
                                 float *scales, int8_t *zero_points)
{
    size_t rows = c->rows, n = c->cols;
    sweep s = { .c = c, .f = f, .sparsity = sparsity };
    s.choose_mask = mask == NULL && f->structure != SPARQ_STRUCTURE_DENSE;
    sparq_qparams_init(&s.q, &f->quant, rows, n);
    s.lazy_groups = s.q.opt.granularity == SPARQ_SCALE_GROUP && s.q.scale_count > 0 &&
                    !c->opt.act_order;
    size_t width = panel_width(&s);
    double *err = malloc(rows * width * sizeof *err);
    sparq_status st = err ? SPARQ_OK
                          : sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "layer_convert: no memory");
    if (st == SPARQ_OK)
        st = sweep_init(&s, width, mask, scale_source, scales, zero_points);
    for (size_t i1 = 0; i1 < n && st == SPARQ_OK; i1 += width)
        st = sweep_panel(&s, i1, i1 + width < n ? i1 + width : n, err);
    if (st == SPARQ_OK)
        sweep_result(&s, out);
    if (st == SPARQ_OK && mask_out)
        memcpy(mask_out, s.mask, rows * n);
    free(s.w);
    free(s.mask);
    free(s.scratch);
    free(err);
    return st;
}

/* Whether a sweep's scales are fixed before it starts (tensor and row scales; group
 * scales with act_order). */
static int scales_up_front(const sparq_compressor *c, const sparq_pack_options *f)
{
    int quantized = f->quant.encoding == SPARQ_ENCODING_I8 ||
                    f->quant.encoding == SPARQ_ENCODING_I4;
    return quantized && (f->quant.granularity != SPARQ_SCALE_GROUP || c->opt.act_order);
}

/* GPTQ / SparseGPT into *packed: mask is the fixed mask (GPTQ) or NULL (SparseGPT
 * chooses). A pruning sweep with scales fixed up front runs twice: once unquantized, for
 * the mask and the weights the pruning's error feedback leads to, whose range the scales
 * are then chosen for (the updates grow the kept weights: on the demo MLP's fc1 at 90 %,
 * 224 of 256 rows end above their original largest weight, up to 3.9x, and row scales
 * chosen from the original weights clip them); then jointly, with that mask and those
 * scales. */
static sparq_status run_sweep(sparq_compressor *c, const sparq_pack_options *f, double sparsity,
                              const uint8_t *mask, sparq_packed **packed)
{
    size_t rows = c->rows, n = c->cols;
    sparq_status st = c->u ? SPARQ_OK : prepare_hessian(c);
    if (st != SPARQ_OK)
        return st;
    sparq_qparams q;
    sparq_qparams_init(&q, &f->quant, rows, n);
    size_t count = q.scale_count;
    int two_pass = f->structure != SPARQ_STRUCTURE_DENSE && scales_up_front(c, f);
    float *scales = calloc(count + 1, sizeof *scales);
    int8_t *zero_points = calloc(count + 1, 1);
    float *out = malloc(rows * n * sizeof *out);
    float *first = two_pass ? malloc(rows * n * sizeof *first) : NULL;
    uint8_t *chosen = two_pass ? malloc(rows * n) : NULL;
    if (!scales || !zero_points || !out || (two_pass && (!first || !chosen)))
        st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "layer_convert: no memory");
    if (st == SPARQ_OK && two_pass) {
        sparq_pack_options unquantized = *f;
        memset(&unquantized.quant, 0, sizeof unquantized.quant);
        st = sweep_values(c, &unquantized, sparsity, mask, NULL, first, chosen, NULL, NULL);
        if (st == SPARQ_OK)
            st = sweep_values(c, f, sparsity, chosen, first, out, NULL, scales, zero_points);
    } else if (st == SPARQ_OK) {
        st = sweep_values(c, f, sparsity, mask, NULL, out, NULL, scales, zero_points);
    }
    if (st == SPARQ_OK && count > 0)
        st = sparq_packed_create_scaled(f, rows, n, out, scales, zero_points, packed);
    else if (st == SPARQ_OK)
        st = sparq_packed_create(f, rows, n, out, packed);
    free(scales);
    free(zero_points);
    free(out);
    free(first);
    free(chosen);
    return st;
}

/* ---- one rung ---------------------------------------------------------------------- */

/* RTN and Wanda: the mask, then each kept weight rounded to its nearest code. */
static sparq_status run_rounding(sparq_compressor *c, const sparq_pack_options *f,
                                 const uint8_t *mask, sparq_packed **packed)
{
    size_t n = c->rows * c->cols;
    float *work = malloc(n * sizeof *work);
    if (work == NULL)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "layer_convert: no memory");
    for (size_t i = 0; i < n; i++)
        work[i] = mask == NULL || mask[i] ? c->w[i] : 0.0f;
    sparq_status st = sparq_packed_create(f, c->rows, c->cols, work, packed);
    free(work);
    return st;
}

sparq_status sparq_compressor_run(sparq_compressor *c, const sparq_pack_options *format,
                                  double sparsity, sparq_packed **packed)
{
    *packed = NULL;
    sparq_pack_options f; /* normalised: a percentile of 0 reads 99.99, as documented */
    sparq_status st = sparq_pack_normalise(format, &f, "layer_convert");
    if (st != SPARQ_OK)
        return st;
    format = &f;
    sparq_method m = c->opt.method;
    int prunes = format->structure != SPARQ_STRUCTURE_DENSE;
    int rounds = format->quant.encoding == SPARQ_ENCODING_I8 ||
                 format->quant.encoding == SPARQ_ENCODING_I4;
    int sweeps = (m == SPARQ_METHOD_GPTQ || m == SPARQ_METHOD_SPARSEGPT) && (prunes || rounds);
    uint8_t *mask = NULL;
    if (prunes && !(sweeps && m == SPARQ_METHOD_SPARSEGPT)) {
        mask = malloc(c->rows * c->cols);
        if (mask == NULL)
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "layer_convert: no memory");
        st = whole_mask(c, format, sparsity, mask);
    }
    if (st == SPARQ_OK)
        st = sweeps ? run_sweep(c, format, sparsity, mask, packed)
                    : run_rounding(c, format, mask, packed);
    free(mask);
    return st;
}
