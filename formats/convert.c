/* convert.c - sparq_layer_convert: prunes and quantizes one weight matrix, measures the
 * result against the original, and walks a fixed rollback ladder to safer settings until
 * the quality gate passes (dense f32, the last rung, always passes).
 *
 * The ladder, tried top to bottom; a rung identical to the one before it is skipped:
 *   1. the requested setting: structure S, sparsity s, encoding E (kept if it passes,
 *      whatever its size: it is what was asked for);
 *   2. CSR and BSR only: the same S and E at sparsity 0.75 s, 0.5 s, 0.25 s (less
 *      pruning, same storage: most of the size win of sparsity is kept when only the
 *      last part of the pruning was too much). A rung here that passes the gate but is
 *      not smaller than the dense matrix in E is refused too ("no smaller than dense"),
 *      and the ladder jumps to rung 3: below ~50-70% sparsity the indices cost more
 *      than the zeros save, and the dense rung has less error (nothing pruned);
 *   3. no pruning: DENSE structure with E (for N:M this is the first rollback, as N:M has
 *      no knob between N of M and nothing; a dense layout is the smallest and fastest
 *      for an unpruned matrix, since sparse layouts pay for indices);
 *   4. more bits, still dense: I4 -> I8 -> F16 -> F32; I8 keeps the requested scale
 *      granularity, group size, asymmetry and calibration (F16/F32 need none);
 *   5. dense F32 (the last rung of 4): bit-exact, NMSE 0, SQNR +inf, always passes.
 * Sparsity is given up before bits because the issue asks for that order and because
 * pruning is usually the larger error: 4-bit quantization of a Gaussian layer costs
 * NMSE ~0.01, pruning 50% of it ~0.03 and 90% ~0.4. A rung whose values the encoding
 * cannot hold (f16 overflow) is refused like a gate failure. Every rung refused is
 * recorded in the result's trail ("csr s=0.90 i4-g128: NMSE 0.31 > 0.05").
 */
#include "sparq.h"
#include "checks.h"
#include "status.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One rung of the ladder. */
typedef struct convert_step {
    sparq_pack_options format;
    double sparsity; /* what pruning is asked for (0 for DENSE; unused for NM) */
} convert_step;

/* The most rungs a ladder can have: 1 + 3 + 1 + 3. */
#define CONVERT_MAX_STEPS 8

/* "csr s=0.90 i4-g128", "bsr4x4 s=0.50 i8-row", "2:4 f16", "dense f32". */
static void step_name(const convert_step *step, char *out, size_t size)
{
    const sparq_pack_options *f = &step->format;
    char structure[48];
    switch (f->structure) {
    case SPARQ_STRUCTURE_CSR:
        snprintf(structure, sizeof structure, "csr s=%.2f", step->sparsity);
        break;
    case SPARQ_STRUCTURE_BSR:
        snprintf(structure, sizeof structure, "bsr%ux%u s=%.2f", f->block_rows,
                 f->block_cols, step->sparsity);
        break;
    case SPARQ_STRUCTURE_NM:
        snprintf(structure, sizeof structure, "%u:%u", f->nm_n, f->nm_m);
        break;
    default:
        snprintf(structure, sizeof structure, "dense");
        break;
    }
    const sparq_quant_options *q = &f->quant;
    const char *bits = sparq_encoding_name(q->encoding);
    const char *asym = q->asymmetric ? "-asym" : "";
    char encoding[32];
    if (q->encoding == SPARQ_ENCODING_F32 || q->encoding == SPARQ_ENCODING_F16)
        snprintf(encoding, sizeof encoding, "%s", bits);
    else if (q->granularity == SPARQ_SCALE_GROUP)
        snprintf(encoding, sizeof encoding, "%s-g%zu%s", bits, q->group_size, asym);
    else
        snprintf(encoding, sizeof encoding, "%s-%s%s", bits,
                 sparq_scale_granularity_name(q->granularity), asym);
    snprintf(out, size, "%s %s", structure, encoding);
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
    convert_step step = { options->format, 0.0 };
    sparq_structure structure = options->format.structure;
    int prunes = structure == SPARQ_STRUCTURE_CSR || structure == SPARQ_STRUCTURE_BSR;
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

/* Prunes work (a copy of the weights) as the step says. */
static sparq_status prune_step(const convert_step *step, float *work, size_t rows, size_t cols)
{
    const sparq_pack_options *f = &step->format;
    switch (f->structure) {
    case SPARQ_STRUCTURE_CSR:
        return sparq_prune_magnitude(work, rows, cols, step->sparsity,
                                     SPARQ_PRUNE_SCOPE_GLOBAL, NULL, NULL, 1);
    case SPARQ_STRUCTURE_BSR:
        /* L2: a block's sum of squares is exactly the squared error its pruning adds. */
        return sparq_prune_blocks(work, rows, cols, f->block_rows, f->block_cols,
                                  SPARQ_BLOCK_NORM_L2, step->sparsity, NULL, NULL, 1);
    case SPARQ_STRUCTURE_NM:
        return sparq_prune_nm(work, rows, cols, f->nm_n, f->nm_m, NULL, NULL, 1);
    default:
        return SPARQ_OK;
    }
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

/* Why a result fails the gate ("NMSE 0.31 > 0.05"), or 0 when it passes. */
static int gate_fails(const sparq_convert_options *options, const sparq_error_metrics *e,
                      char *why, size_t size)
{
    if (options->max_nmse > 0.0 && !(e->nmse <= options->max_nmse)) {
        snprintf(why, size, "NMSE %.3g > %.3g", e->nmse, options->max_nmse);
        return 1;
    }
    if (options->min_sqnr_db != 0.0 && !(e->sqnr_db >= options->min_sqnr_db)) {
        snprintf(why, size, "SQNR %.1f dB < %.1f dB", e->sqnr_db, options->min_sqnr_db);
        return 1;
    }
    return 0;
}

static sparq_status check_options(const sparq_convert_options *options)
{
    const char *func = "layer_convert";
    sparq_structure s = options->format.structure;
    if (s != SPARQ_STRUCTURE_DENSE && s != SPARQ_STRUCTURE_CSR && s != SPARQ_STRUCTURE_BSR &&
        s != SPARQ_STRUCTURE_NM)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: unknown structure %d", func, (int)s);
    if ((s == SPARQ_STRUCTURE_CSR || s == SPARQ_STRUCTURE_BSR) &&
        !(options->sparsity >= 0.0 && options->sparsity <= 1.0))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: sparsity %g is not in [0, 1]", func, options->sparsity);
    if (!(options->max_nmse >= 0.0) || isinf(options->max_nmse))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "%s: max_nmse %g is not a finite number >= 0", func,
                          options->max_nmse);
    if (!isfinite(options->min_sqnr_db))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: min_sqnr_db %g is not finite",
                          func, options->min_sqnr_db);
    return SPARQ_OK;
}

/* Bytes of the dense matrix in the step's encoding (values, scales, zero points). */
static uint64_t dense_bytes(const convert_step *step, size_t rows, size_t cols)
{
    size_t values = 0, scales = 0, zero_points = 0;
    if (sparq_quant_sizes(&step->format.quant, rows, cols, &values, &scales, &zero_points) !=
        SPARQ_OK)
        return UINT64_MAX; /* bad options: the first rung has reported them already */
    return (uint64_t)values + (uint64_t)scales * sizeof(float) + zero_points;
}

/* Tries one rung: prune a copy, pack, unpack, measure. On success *packed holds the
 * candidate and *result describes it. */
static sparq_status try_step(const float *weights, size_t rows, size_t cols,
                             const convert_step *step, float *work, sparq_packed **packed,
                             sparq_convert_result *result)
{
    size_t n = rows * cols;
    memcpy(work, weights, n * sizeof(float));
    sparq_status st = prune_step(step, work, rows, cols);
    if (st != SPARQ_OK)
        return st;
    st = sparq_packed_create(&step->format, rows, cols, work, packed);
    if (st != SPARQ_OK)
        return st;
    st = sparq_packed_unpack(*packed, work);
    if (st == SPARQ_OK)
        st = sparq_error_metrics_compute(weights, work, n, &result->error);
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

sparq_status sparq_layer_convert(const float *weights, size_t rows, size_t cols,
                                 const sparq_convert_options *options, sparq_packed **packed,
                                 sparq_convert_result *result)
{
    const char *func = "layer_convert";
    if (!options || !packed)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "%s: %s is NULL", func,
                          !options ? "options" : "packed");
    *packed = NULL;
    sparq_status st = sparq_check_matrix(weights, rows, cols, func);
    if (st == SPARQ_OK)
        st = check_options(options);
    if (st == SPARQ_OK)
        st = sparq_check_finite(weights, rows, cols, func);
    if (st != SPARQ_OK)
        return st;

    convert_step steps[CONVERT_MAX_STEPS];
    size_t step_count = build_ladder(options, steps);
    float *work = malloc(rows * cols * sizeof(float));
    if (!work)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "%s: no memory for a %zu x %zu copy",
                          func, rows, cols);

    sparq_convert_result current;
    memset(&current, 0, sizeof current);
    for (size_t i = 0; i < step_count; i++) {
        char name[96], why[96];
        step_name(&steps[i], name, sizeof name);
        sparq_packed *candidate = NULL;
        st = try_step(weights, rows, cols, &steps[i], work, &candidate, &current);
        if (st != SPARQ_OK) {
            /* A rung that cannot hold the values (f16 overflow: INVALID_DATA; NaN/Inf
             * were refused above) is refused like a gate failure, unless there is no
             * rung to fall back to. Anything else is the caller's error (bad options)
             * or out of memory. */
            if (st != SPARQ_ERROR_INVALID_DATA || i + 1 == step_count)
                break;
            trail_append(current.trail, sizeof current.trail, "%s: %s", name,
                         sparq_last_error());
            current.rollbacks++;
            continue;
        }
        int fails = gate_fails(options, &current.error, why, sizeof why);
        int sparse_rollback = i > 0 && (steps[i].format.structure == SPARQ_STRUCTURE_CSR ||
                                        steps[i].format.structure == SPARQ_STRUCTURE_BSR);
        if (!fails && sparse_rollback &&
            current.bytes_after >= dense_bytes(&steps[i], rows, cols)) {
            snprintf(why, sizeof why, "%.2f bits/weight, no smaller than dense",
                     current.bits_per_weight);
            fails = 1;
            /* Less pruning only grows it: go on at the first dense rung. */
            while (i + 1 < step_count && steps[i + 1].format.structure != SPARQ_STRUCTURE_DENSE)
                i++;
        }
        if (!fails) {
            free(work);
            *packed = candidate;
            if (result)
                *result = current;
            return SPARQ_OK;
        }
        sparq_packed_free(candidate);
        if (options->no_rollback) {
            if (result)
                *result = current;
            st = sparq_fail(SPARQ_ERROR_INVALID_DATA, "%s: gate failed: %s (%s)", func, why,
                            name);
            break;
        }
        trail_append(current.trail, sizeof current.trail, "%s: %s", name, why);
        current.rollbacks++;
    }
    free(work);
    if (st == SPARQ_OK)
        st = sparq_fail(SPARQ_ERROR_INTERNAL, "%s: no rung of the ladder passed", func);
    return st;
}
