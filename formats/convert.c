/* SPDX-License-Identifier: Apache-2.0 */
/* convert.c - sparq_layer_convert: the rollback ladder around one layer's compression
 * (formats/compress.c does each rung by the method asked for): rungs in increasing order
 * of bytes, rungs no smaller than dense refused before any work, the gate on the weights'
 * or the outputs' error, and the first rung that passes kept, so the result is the
 * smallest that passes (dense f32, the last rung, always does).
 *
 * The rungs; a rung identical to the one before it is skipped:
 *   1. the requested setting: structure S, sparsity s, encoding E;
 *   2. CSR and BSR only: the same S and E at sparsity 0.75 s, 0.5 s, 0.25 s (less
 *      pruning, same storage: most of the size win of sparsity is kept when only the
 *      last part of the pruning was too much);
 *   3. no pruning: DENSE structure with E (for N:M the first rollback, as N:M has no
 *      knob between N of M and nothing; a dense layout is the smallest and fastest for
 *      an unpruned matrix, since sparse layouts pay for indices);
 *   4. more bits, still dense: I4 -> I8 -> F16 -> F32; I8 keeps the requested scale
 *      granularity, group size, asymmetry and calibration (F16/F32 need none);
 *   5. dense F32 (the last rung of 4): bit-exact, NMSE 0, SQNR +inf, always passes.
 * Sizes first: a sparse rung whose bytes (known from the shape, the sparsity and the
 * format before any work) are not below the dense rung's in its encoding is refused:
 * below ~50-70 % sparsity CSR's indices cost more than its zeros save (CSR 50 % + i8 row
 * is 12 bits a weight, dense i8 8), and the dense rung loses nothing to pruning. The
 * request itself is refused so (named in the trail), unless no_rollback asks for it as
 * it is; larger rollback rungs are dropped. The rest are tried by increasing bytes, so
 * pruning is given up before bits only where that is also smaller. A rung whose values
 * the encoding cannot hold (f16 overflow) is refused like a gate failure. Every rung
 * refused is recorded in the result's trail ("csr s=0.90 i4-g128: NMSE_out 0.31 > 0.05").
 */
#include "sparq.h"
#include "checks.h"
#include "compress.h"
#include "format.h"
#include "packed.h"
#include "quantize.h"
#include "status.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* One rung of the ladder. */
typedef struct convert_step {
    sparq_pack_options format;
    double sparsity; /* what pruning is asked for (0 for DENSE; unused for NM) */
    uint64_t bytes;  /* packed bytes, known before any work                    */
} convert_step;

/* The most rungs a ladder can have: 1 + 3 + 1 + 3. */
#define CONVERT_MAX_STEPS 8

/* The format's spelling and, for a structure that prunes, the sparsity: "csr+i4-g128
 * s=0.90", "bsr4x4+i8-row s=0.50", "2:4+f16", "dense+f32". */
static void step_name(const convert_step *step, char *out, size_t size)
{
    const sparq_pack_options *f = &step->format;
    char structure[32], encoding[32];
    sparq_format_structure_text(f, structure, sizeof structure);
    sparq_format_encoding_text(&f->quant, encoding, sizeof encoding);
    if (sparq_structure_of(f->structure)->prunes)
        snprintf(out, size, "%s+%s s=%.2f", structure, encoding, step->sparsity);
    else
        snprintf(out, size, "%s+%s", structure, encoding);
}

static int same_step(const convert_step *a, const convert_step *b)
{
    const sparq_pack_options *x = &a->format, *y = &b->format;
    return a->sparsity == b->sparsity && x->structure == y->structure &&
           x->quant.encoding == y->quant.encoding && x->block_rows == y->block_rows &&
           x->block_cols == y->block_cols && x->nm_n == y->nm_n && x->nm_m == y->nm_m;
}

/* Appends a step unless it repeats the last one. */
static void push_step(convert_step *steps, size_t *count, const convert_step *step)
{
    if (*count > 0 && same_step(&steps[*count - 1], step))
        return;
    steps[(*count)++] = *step;
}

/* Builds the ladder for the request (see the top of this file); returns the rung count. */
static size_t build_ladder(const sparq_convert_options *options, convert_step *steps)
{
    size_t count = 0;
    convert_step step = { options->format, 0.0, 0 };
    sparq_structure structure = options->format.structure;
    int prunes = sparq_structure_of(structure)->prunes;
    if (prunes)
        step.sparsity = options->sparsity;
    push_step(steps, &count, &step);
    if (options->no_rollback)
        return count;
    if (prunes) {
        static const double factors[] = { 0.75, 0.5, 0.25 };
        for (size_t i = 0; i < sizeof factors / sizeof factors[0]; i++) {
            step.sparsity = options->sparsity * factors[i];
            push_step(steps, &count, &step);
        }
    }
    /* No pruning: dense, the requested encoding. */
    memset(&step.format, 0, sizeof step.format);
    step.format.structure = SPARQ_STRUCTURE_DENSE;
    step.format.quant = options->format.quant;
    step.sparsity = 0.0;
    push_step(steps, &count, &step);
    /* More bits. */
    if (step.format.quant.encoding == SPARQ_ENCODING_I4) {
        step.format.quant.encoding = SPARQ_ENCODING_I8;
        push_step(steps, &count, &step);
    }
    if (step.format.quant.encoding == SPARQ_ENCODING_I8) {
        memset(&step.format.quant, 0, sizeof step.format.quant);
        step.format.quant.encoding = SPARQ_ENCODING_F16;
        push_step(steps, &count, &step);
    }
    memset(&step.format.quant, 0, sizeof step.format.quant);
    step.format.quant.encoding = SPARQ_ENCODING_F32;
    push_step(steps, &count, &step);
    return count;
}

/* Appends "; text" (or text when empty) to the trail, truncating with "..." when full. */
static void trail_append(char *trail, size_t size, const char *fmt, ...) SPARQ_PRINTF(3, 4);
static void trail_append(char *trail, size_t size, const char *fmt, ...)
{
    size_t used = strlen(trail);
    if (used + 4 >= size)
        return;
    if (used > 0) {
        snprintf(trail + used, size - used, "; ");
        used += 2;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(trail + used, size - used, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n >= size - used)
        memcpy(trail + size - 4, "...", 4);
}

/* Whether the gate compares the outputs' error (else the weights'). */
static int gate_on_outputs(const sparq_convert_options *o)
{
    if (o->gate_metric == SPARQ_GATE_OUTPUTS)
        return 1;
    return o->gate_metric == SPARQ_GATE_AUTO && o->calib != NULL &&
           sparq_calib_gram(o->calib) != NULL;
}

/* Why a result fails the gate ("NMSE_out 0.31 > 0.05"), or 0 when it passes. */
static int gate_fails(const sparq_convert_options *options, const sparq_convert_result *r,
                      char *why, size_t size)
{
    int outputs = gate_on_outputs(options);
    double nmse = outputs ? r->output_nmse : r->error.nmse;
    if (options->max_nmse > 0.0 && !(nmse <= options->max_nmse)) {
        snprintf(why, size, "%s %.3g > %.3g", outputs ? "NMSE_out" : "NMSE", nmse,
                 options->max_nmse);
        return 1;
    }
    if (options->min_sqnr_db != 0.0 && !(r->error.sqnr_db >= options->min_sqnr_db)) {
        snprintf(why, size, "SQNR %.1f dB < %.1f dB", r->error.sqnr_db, options->min_sqnr_db);
        return 1;
    }
    return 0;
}

static sparq_status check_options(const sparq_convert_options *options)
{
    const char *func = "layer_convert";
    sparq_structure s = options->format.structure;
    if (!sparq_structure_of(s))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: unknown structure %d", func, (int)s);
    if (sparq_structure_of(s)->prunes && !(options->sparsity >= 0.0 && options->sparsity <= 1.0))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: sparsity %g is not in [0, 1]", func, options->sparsity);
    if (!(options->max_nmse >= 0.0) || isinf(options->max_nmse))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: max_nmse %g is not a finite number >= 0", func,
                          options->max_nmse);
    if (!isfinite(options->min_sqnr_db))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: min_sqnr_db %g is not finite",
                          func, options->min_sqnr_db);
    sparq_pack_options f;
    sparq_status st = sparq_pack_normalise(&options->format, &f, func);
    if (st != SPARQ_OK)
        return st;
    if (s == SPARQ_STRUCTURE_NM && f.nm_n >= f.nm_m)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: N:M %u:%u prunes nothing (N must be below M)", func, f.nm_n,
                          f.nm_m);
    if ((unsigned)options->gate_metric > SPARQ_GATE_OUTPUTS)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: unknown gate_metric %d", func,
                          (int)options->gate_metric);
    if (options->gate_metric == SPARQ_GATE_OUTPUTS &&
        (options->calib == NULL || sparq_calib_gram(options->calib) == NULL))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: the output gate needs calibration statistics with H", func);
    return SPARQ_OK;
}

/* Packed bytes of a rung, from its shape, sparsity and format alone (the structure's row
 * of the format table estimates its arrays); UINT64_MAX when no shell can be
 * made for the shape (out of memory), which trying the rung then reports. */
static uint64_t step_bytes(const convert_step *step, size_t rows, size_t cols)
{
    sparq_pack_options f;
    sparq_packed *shell = NULL;
    size_t scales = 0, zero_points = 0;
    if (sparq_pack_normalise(&step->format, &f, "layer_convert") != SPARQ_OK ||
        sparq_quant_sizes(&f.quant, rows, cols, NULL, &scales, &zero_points) != SPARQ_OK ||
        sparq_packed_alloc_shell(&f, rows, cols, &shell) != SPARQ_OK)
        return UINT64_MAX;
    uint64_t bytes = (uint64_t)scales * sizeof(float) + zero_points +
                     sparq_structure_of(f.structure)->bytes(shell, step->sparsity);
    sparq_packed_free(shell);
    return bytes;
}

/* The dense rung of a rung's encoding: its bytes. */
static uint64_t dense_bytes_of(const convert_step *step, size_t rows, size_t cols)
{
    convert_step dense = *step;
    memset(&dense.format, 0, sizeof dense.format);
    dense.format.quant = step->format.quant;
    return step_bytes(&dense, rows, cols);
}

static int by_bytes(const void *a, const void *b)
{
    const convert_step *x = a, *y = b;
    return x->bytes < y->bytes ? -1 : x->bytes > y->bytes;
}

/* Orders the ladder (see the top of this file): fills each rung's bytes, drops rollback
 * rungs no smaller than dense, and sorts the rest (after the request) by bytes. When
 * the request itself is no smaller than dense (and rollback is allowed), *refused names
 * why and the request is dropped. Returns the new rung count. */
static size_t order_ladder(const sparq_convert_options *options, convert_step *steps,
                           size_t count, size_t rows, size_t cols, char *refused, size_t size)
{
    size_t kept = 0;
    refused[0] = '\0';
    for (size_t i = 0; i < count; i++) {
        convert_step *s = &steps[i];
        s->bytes = step_bytes(s, rows, cols);
        int sparse = s->format.structure != SPARQ_STRUCTURE_DENSE;
        uint64_t dense = dense_bytes_of(s, rows, cols);
        if (sparse && s->bytes >= dense && !options->no_rollback && s->bytes != UINT64_MAX) {
            if (i == 0) {
                char name[96];
                step_name(s, name, sizeof name);
                snprintf(refused, size, "%s: %.2f bits/weight, no smaller than dense (%.2f)",
                         name, (double)s->bytes * 8.0 / ((double)rows * (double)cols),
                         (double)dense * 8.0 / ((double)rows * (double)cols));
            }
            continue;
        }
        steps[kept++] = *s;
    }
    /* The request stays first (unless refused): it is what was asked for, and it is the
     * smallest rung of the ladder whenever it is no larger than dense. */
    size_t first = refused[0] == '\0' && kept > 0 ? 1 : 0;
    qsort(steps + first, kept - first, sizeof *steps, by_bytes);
    return kept;
}

/* Tries one rung: compress, unpack, measure. On success *packed holds the candidate and
 * *result describes it. */
static sparq_status try_step(sparq_compressor *compressor, const float *weights, size_t rows,
                             size_t cols, const sparq_convert_options *options,
                             const convert_step *step, float *work, sparq_packed **packed,
                             sparq_convert_result *result)
{
    size_t n = rows * cols;
    sparq_status st = sparq_compressor_run(compressor, &step->format, step->sparsity, packed);
    if (st != SPARQ_OK)
        return st;
    st = sparq_packed_unpack(*packed, work);
    if (st == SPARQ_OK)
        st = sparq_error_metrics_compute(weights, work, n, &result->error);
    result->output_nmse = NAN;
    if (st == SPARQ_OK && options->calib != NULL && sparq_calib_gram(options->calib) != NULL)
        st = sparq_output_nmse(weights, work, rows, cols, options->calib, &result->output_nmse);
    if (st != SPARQ_OK) {
        sparq_packed_free(*packed);
        *packed = NULL;
        return st;
    }
    size_t zeros = 0;
    for (size_t i = 0; i < n; i++)
        zeros += work[i] == 0.0f;
    result->format = *sparq_packed_format(*packed);
    result->sparsity = (double)zeros / (double)n;
    result->bits_per_weight = sparq_packed_bits_per_weight(*packed);
    result->bytes_before = (uint64_t)n * sizeof(float);
    result->bytes_after = sparq_packed_bytes(*packed);
    return SPARQ_OK;
}

/* Walks the ordered ladder; *packed gets the first rung that passes. */
static sparq_status walk_ladder(sparq_compressor *compressor, const float *weights, size_t rows,
                                size_t cols, const sparq_convert_options *options,
                                const convert_step *steps, size_t step_count, float *work,
                                sparq_packed **packed, sparq_convert_result *current)
{
    const char *func = "layer_convert";
    sparq_status st = SPARQ_OK;
    for (size_t i = 0; i < step_count; i++) {
        char name[96], why[128];
        step_name(&steps[i], name, sizeof name);
        sparq_packed *candidate = NULL;
        st = try_step(compressor, weights, rows, cols, options, &steps[i], work, &candidate,
                      current);
        if (st != SPARQ_OK) {
            /* A rung that cannot hold the values (f16 overflow: INVALID_DATA; NaN/Inf
             * were refused before) is refused like a gate failure, unless there is no
             * rung to fall back to. Anything else is the caller's error (bad options,
             * missing statistics) or out of memory. */
            if (st != SPARQ_ERROR_INVALID_DATA || i + 1 == step_count ||
                options->no_rollback)
                return st;
            trail_append(current->trail, sizeof current->trail, "%s: %s", name,
                         sparq_last_error());
            current->rollbacks++;
            continue;
        }
        int fails = gate_fails(options, current, why, sizeof why);
        int sparse = steps[i].format.structure != SPARQ_STRUCTURE_DENSE;
        uint64_t dense = dense_bytes_of(&steps[i], rows, cols);
        if (!fails && sparse && !options->no_rollback && current->bytes_after >= dense) {
            snprintf(why, sizeof why, "%.2f bits/weight, no smaller than dense",
                     current->bits_per_weight);
            fails = 1;
        }
        if (!fails) {
            current->last_rung = current->rollbacks > 0 && i + 1 == step_count;
            *packed = candidate;
            return SPARQ_OK;
        }
        sparq_packed_free(candidate);
        if (options->no_rollback)
            return sparq_fail(SPARQ_ERROR_INVALID_DATA, "%s: gate failed: %s (%s)", func, why,
                              name);
        trail_append(current->trail, sizeof current->trail, "%s: %s", name, why);
        current->rollbacks++;
    }
    return sparq_fail(SPARQ_ERROR_INTERNAL, "%s: no rung of the ladder passed", func);
}

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

sparq_status sparq_layer_convert(const float *weights, size_t rows, size_t cols,
                                 const sparq_convert_options *options, sparq_packed **packed,
                                 sparq_convert_result *result)
{
    const char *func = "layer_convert";
    double started = now_seconds();
    if (!options || !packed)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", func,
                          !options ? "options" : "packed");
    *packed = NULL;
    sparq_status st = sparq_check_matrix(weights, rows, cols, func);
    if (st == SPARQ_OK)
        st = check_options(options);
    if (st == SPARQ_OK)
        st = sparq_check_finite(weights, rows, cols, func);
    sparq_compressor *compressor = NULL;
    if (st == SPARQ_OK)
        st = sparq_compressor_create(weights, rows, cols, options, &compressor);
    if (st != SPARQ_OK)
        return st;

    convert_step steps[CONVERT_MAX_STEPS];
    char refused[256];
    size_t step_count = build_ladder(options, steps);
    step_count = order_ladder(options, steps, step_count, rows, cols, refused, sizeof refused);
    float *work = malloc(rows * cols * sizeof(float));
    if (!work) {
        sparq_compressor_free(compressor);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s: no memory for a %zu x %zu copy",
                          func, rows, cols);
    }
    sparq_convert_result current;
    memset(&current, 0, sizeof current);
    if (refused[0] != '\0') {
        trail_append(current.trail, sizeof current.trail, "%s", refused);
        current.rollbacks++;
    }
    st = walk_ladder(compressor, weights, rows, cols, options, steps, step_count, work, packed,
                     &current);
    free(work);
    sparq_compressor_free(compressor);
    current.seconds = now_seconds() - started;
    if (result && (st == SPARQ_OK || st == SPARQ_ERROR_INVALID_DATA))
        *result = current;
    return st;
}
