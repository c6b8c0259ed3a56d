/* tuner.c - sparq_tune_run: for each case and each kernel of the registry that runs it,
 * a search (exhaustive, random, simulated annealing) over the kernel's candidate values,
 * every candidate checked against a C reference with guard words before it is timed
 * with profiling events; then the measured dense/sparse break-even; results into the
 * tuning database. Also the quick case list and sparq_tune_describe.
 */
#include "matrix.h"
#include "plan.h"
#include "tunedb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Floats after the output that must come back untouched, and the bits they hold. */
#define GUARD_COUNT 64
#define GUARD_BITS 0x7fc0beefu
/* A candidate this many times slower than the best so far is not timed further. */
#define CUT_FACTOR 3.0
/* Most points a kernel's space may have (every tunable's candidates multiplied). */
#define MAX_SPACE 4096
/* Annealing: the fraction of the evaluation budget after which it only polishes the best. */
#define POLISH_FROM 0.75
/* Rounds of side-by-side timing of the default and the best before they are reported. */
#define CONFIRM_ROUNDS 3
/* A break-even closer than this (slower / faster path) is timed again with
 * NEAR_TIE_ROUNDS times the rounds before it is decided. */
#define NEAR_TIE 1.15
#define NEAR_TIE_ROUNDS 3

/* ---- cases ------------------------------------------------------------------------ */

#define FMT_CSR(enc, gran, g) {SPARQ_STRUCTURE_CSR, {enc, gran, g, 0, 0, 0}, 0, 0, 0, 0}
#define FMT_BSR16 {SPARQ_STRUCTURE_BSR, {0}, 16, 16, 0, 0}
#define FMT_24(enc, gran, g) {SPARQ_STRUCTURE_NM, {enc, gran, g, 0, 0, 0}, 0, 0, 2, 4}
#define FMT_DENSE(enc, gran, g) {SPARQ_STRUCTURE_DENSE, {enc, gran, g, 0, 0, 0}, 0, 0, 0, 0}

/* What `sparq tune --quick` covers: the benchmark formats on a transformer-sized layer
 * (768 x 3072, the BERT-base FFN) at batch 1 and 32. */
static const sparq_tune_case quick_cases[] = {
    /* the dense path first: the break-even of the sparse cases measures it tuned */
    {FMT_DENSE(SPARQ_ENCODING_F32, 0, 0), 0, 768, 3072, 32, 0},
    {FMT_CSR(SPARQ_ENCODING_F32, 0, 0), 0.9, 768, 3072, 1, 0},
    {FMT_CSR(SPARQ_ENCODING_F32, 0, 0), 0.9, 768, 3072, 32, 0},
    {FMT_CSR(SPARQ_ENCODING_F32, 0, 0), 0.5, 768, 3072, 1, 0},
    {FMT_CSR(SPARQ_ENCODING_F32, 0, 0), 0.5, 768, 3072, 32, 0},
    {FMT_CSR(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0.9, 768, 3072, 1, 0},
    {FMT_CSR(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0.9, 768, 3072, 32, 0},
    {FMT_BSR16, 0.9, 768, 3072, 1, 0},
    {FMT_BSR16, 0.9, 768, 3072, 32, 0},
    {FMT_24(SPARQ_ENCODING_F32, 0, 0), 0.5, 768, 3072, 1, 0},
    {FMT_24(SPARQ_ENCODING_F32, 0, 0), 0.5, 768, 3072, 32, 0},
    {FMT_DENSE(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0, 768, 3072, 1, 0},
    {FMT_DENSE(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0, 768, 3072, 32, 0},
    {FMT_DENSE(SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128), 0, 768, 3072, 1, 0},
    {FMT_DENSE(SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128), 0, 768, 3072, 32, 0},
    {FMT_DENSE(SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0), 0, 768, 3072, 32, 1}, /* W8A8 */
};

void sparq_tune_quick_cases(const sparq_tune_case **cases, size_t *count)
{
    *cases = quick_cases;
    *count = sizeof quick_cases / sizeof quick_cases[0];
}

static const char *const strategy_names[] = {"exhaustive", "random", "anneal"};

const char *sparq_tune_strategy_name(sparq_tune_strategy strategy)
{
    return (unsigned)strategy < 3 ? strategy_names[strategy] : "?";
}

sparq_status sparq_tune_strategy_parse(const char *name, sparq_tune_strategy *strategy)
{
    for (int i = 0; name && strategy && i < 3; i++)
        if (strcmp(name, strategy_names[i]) == 0) {
            *strategy = (sparq_tune_strategy)i;
            return SPARQ_OK;
        }
    return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                      "tune: unknown strategy \"%s\" (exhaustive, random or anneal)",
                      name ? name : "(null)");
}

/* ---- case specs ------------------------------------------------------------------------ */

static const struct {
    const char *name;
    sparq_structure structure;
    unsigned block; /* BSR: the square block's side */
    sparq_encoding encoding;
    sparq_scale_granularity granularity;
    size_t group;
    int quantize_activations;
} case_formats[] = {
    {"csr", SPARQ_STRUCTURE_CSR, 0, SPARQ_ENCODING_F32, 0, 0, 0},
    {"csr-f16", SPARQ_STRUCTURE_CSR, 0, SPARQ_ENCODING_F16, 0, 0, 0},
    {"csr-i8", SPARQ_STRUCTURE_CSR, 0, SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0, 0},
    {"csr-i4", SPARQ_STRUCTURE_CSR, 0, SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128, 0},
    {"bsr4", SPARQ_STRUCTURE_BSR, 4, SPARQ_ENCODING_F32, 0, 0, 0},
    {"bsr16", SPARQ_STRUCTURE_BSR, 16, SPARQ_ENCODING_F32, 0, 0, 0},
    {"bsr16-i8", SPARQ_STRUCTURE_BSR, 16, SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0, 0},
    {"2:4", SPARQ_STRUCTURE_NM, 0, SPARQ_ENCODING_F32, 0, 0, 0},
    {"2:4-i4", SPARQ_STRUCTURE_NM, 0, SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128, 0},
    {"dense", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_F32, 0, 0, 0},
    {"dense-f16", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_F16, 0, 0, 0},
    {"dense-i8", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0, 0},
    {"dense-i4", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128, 0},
    {"w8a8", SPARQ_STRUCTURE_DENSE, 0, SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0, 1},
};

sparq_status sparq_tune_case_parse(const char *spec, sparq_tune_case *c)
{
    if (!spec || !c)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune: case_parse: NULL argument");
    memset(c, 0, sizeof *c);
    /* the format is the longest name followed by ':' ("2:4" holds a colon itself) */
    size_t f = SIZE_MAX, length = 0;
    for (size_t i = 0; i < sizeof case_formats / sizeof case_formats[0]; i++) {
        size_t n = strlen(case_formats[i].name);
        if (n > length && strncmp(spec, case_formats[i].name, n) == 0 && spec[n] == ':') {
            f = i;
            length = n;
        }
    }
    size_t rows = 0, cols = 0, batch = 0;
    double sparsity = 0.9;
    int used = 0;
    if (f == SIZE_MAX)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tune: case \"%s\": unknown format (csr, csr-f16, csr-i8, csr-i4, "
                          "bsr4, bsr16, bsr16-i8, 2:4, 2:4-i4, dense, dense-f16, dense-i8, "
                          "dense-i4, w8a8)",
                          spec);
    const char *rest = spec + length;
    bool ok = sscanf(rest, ":%zux%zu:b%zu%n", &rows, &cols, &batch, &used) == 3;
    if (ok && rest[used] == ':') {
        int more = 0;
        ok = sscanf(rest + used, ":s%lf%n", &sparsity, &more) == 1 && rest[used + more] == '\0';
    } else if (ok) {
        ok = rest[used] == '\0';
    }
    if (!ok || !rows || !cols || !batch || rows > (1u << 20) || cols > (1u << 20) ||
        batch > (1u << 16) || !(sparsity >= 0 && sparsity <= 1))
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tune: case \"%s\": want FORMAT:ROWSxCOLS:bBATCH[:sSPARSITY] with "
                          "sizes in 1..2^20, a batch in 1..2^16 and a sparsity in [0, 1], "
                          "e.g. csr:4096x4096:b1:s0.9",
                          spec);
    c->format.structure = case_formats[f].structure;
    c->format.quant.encoding = case_formats[f].encoding;
    c->format.quant.granularity = case_formats[f].granularity;
    c->format.quant.group_size = case_formats[f].group;
    c->quantize_activations = case_formats[f].quantize_activations;
    c->format.block_rows = c->format.block_cols = case_formats[f].block;
    if (c->format.structure == SPARQ_STRUCTURE_NM) {
        c->format.nm_n = 2;
        c->format.nm_m = 4;
    }
    c->rows = rows;
    c->cols = cols;
    c->batch = batch;
    c->sparsity = sparsity;
    return SPARQ_OK;
}

/* ---- random numbers (splitmix64: the same sequence on every platform) ------------- */

static uint64_t next_random(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double random_unit(uint64_t *state)
{
    return (double)(next_random(state) >> 11) / 9007199254740992.0;
}

/* ---- one prepared case ------------------------------------------------------------ */

typedef struct bench_case {
    sparq_context *ctx;
    cl_command_queue queue;
    const sparq_tune_case *c;
    sparq_matrix *matrix;       /* the packed format, sparse path forced               */
    sparq_matrix *dense;        /* the same weights on the dense path (break-even)     */
    cl_mem x, y;                /* y holds batch * rows floats, then the guard words   */
    float *ref, *scale;         /* reference output and sum |x w| per output           */
    float *out;                 /* read-back: outputs then guard words                 */
    size_t n_out;
    size_t index, total;        /* this case's place in the run (progress)             */
    sparq_cache_flush flush;    /* enqueued before every timed call                    */
} bench_case;

static void case_free(bench_case *b)
{
    sparq_matrix_free(b->matrix);
    sparq_matrix_free(b->dense);
    if (b->x)
        clReleaseMemObject(b->x);
    if (b->y)
        clReleaseMemObject(b->y);
    free(b->ref), free(b->scale), free(b->out);
    sparq_cache_flush_free(&b->flush);
    memset(b, 0, sizeof *b);
}

/* Weights pruned as the format wants them (values from the seed). */
static sparq_status case_weights(const sparq_tune_case *c, uint64_t *rng, float *w)
{
    size_t n = c->rows * c->cols;
    for (size_t i = 0; i < n; i++)
        w[i] = (float)(2.0 * random_unit(rng) - 1.0);
    const sparq_pack_options *f = &c->format;
    switch (f->structure) {
    case SPARQ_STRUCTURE_CSR:
        return sparq_prune_magnitude(w, c->rows, c->cols, c->sparsity, SPARQ_PRUNE_SCOPE_GLOBAL,
                                     NULL, NULL, 1);
    case SPARQ_STRUCTURE_BSR:
        return sparq_prune_blocks(w, c->rows, c->cols, f->block_rows, f->block_cols,
                                  SPARQ_BLOCK_NORM_L2, c->sparsity, NULL, NULL, 1);
    case SPARQ_STRUCTURE_NM:
        return sparq_prune_nm(w, c->rows, c->cols, f->nm_n, f->nm_m, NULL, NULL, 1);
    default:
        return SPARQ_OK;
    }
}

static sparq_status case_prepare(sparq_context *ctx, const sparq_tune_case *c, uint64_t seed,
                                 bench_case *b)
{
    memset(b, 0, sizeof *b);
    b->ctx = ctx;
    b->c = c;
    b->queue = sparq_context_queue(ctx);
    if (!b->queue)
        return sparq_fail(SPARQ_ERROR_INTERNAL, "tune: no queue");
    if (c->rows == 0 || c->cols == 0 || c->batch == 0 || c->rows > (1u << 20) ||
        c->cols > (1u << 20) || c->batch > 4096)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          "tune: case %zu x %zu at batch %zu is out of range (1..2^20 rows "
                          "and cols, batch 1..4096)", c->rows, c->cols, c->batch);
    size_t nw = c->rows * c->cols, nx = c->batch * c->cols;
    b->n_out = c->batch * c->rows;
    float *w = malloc(nw * sizeof *w), *wq = malloc(nw * sizeof *wq);
    float *x = malloc(nx * sizeof *x);
    b->ref = malloc(b->n_out * sizeof *b->ref);
    b->scale = malloc(b->n_out * sizeof *b->scale);
    b->out = malloc((b->n_out + GUARD_COUNT) * sizeof *b->out);
    sparq_status st = SPARQ_OK;
    sparq_packed *packed = NULL;
    if (!w || !wq || !x || !b->ref || !b->scale || !b->out)
        st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
    uint64_t rng = seed;
    if (st == SPARQ_OK)
        st = case_weights(c, &rng, w);
    if (st == SPARQ_OK)
        st = sparq_packed_create(&c->format, c->rows, c->cols, w, &packed);
    /* the reference multiplies the weights the kernels read: dequantized */
    if (st == SPARQ_OK)
        st = sparq_packed_unpack(packed, wq);
    for (size_t i = 0; st == SPARQ_OK && i < nx; i++)
        x[i] = (float)(2.0 * random_unit(&rng) - 1.0);
    /* W8A8 multiplies the activations as quantized, so does the reference: per row, int8
     * (mode 1: symmetric; 2: with a zero point, the grid of ONNX's uint8 shifted by 128),
     * quantized and dequantized by the library's own rules. A code the device rounds the
     * other way (x / scale in float) is far inside the check's tolerance. */
    float *xq = c->quantize_activations && st == SPARQ_OK ? malloc(nx * sizeof *xq) : NULL;
    if (c->quantize_activations && st == SPARQ_OK && !xq)
        st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
    if (xq) {
        const sparq_quant_options per_row = {.encoding = SPARQ_ENCODING_I8,
                                             .granularity = SPARQ_SCALE_ROW,
                                             .asymmetric = c->quantize_activations == 2};
        st = sparq_fake_quantize(&per_row, c->batch, c->cols, x, xq, NULL);
    }
    for (size_t bi = 0; st == SPARQ_OK && bi < c->batch; bi++)
        for (size_t r = 0; r < c->rows; r++) {
            double sum = 0, mag = 0;
            const float *xr = (xq ? xq : x) + bi * c->cols, *wr = wq + r * c->cols;
            for (size_t k = 0; k < c->cols; k++) {
                sum += (double)xr[k] * wr[k];
                mag += fabs((double)xr[k] * wr[k]);
            }
            b->ref[bi * c->rows + r] = (float)sum;
            b->scale[bi * c->rows + r] = (float)mag;
        }
    free(xq);
    sparq_matrix_options sparse = {.path = SPARQ_PATH_SPARSE,
                                   .quantize_activations = c->quantize_activations};
    sparq_matrix_options dense = {.path = SPARQ_PATH_DENSE};
    if (st == SPARQ_OK)
        st = sparq_matrix_create(ctx, packed, &sparse, &b->matrix);
    if (st == SPARQ_OK && c->format.structure != SPARQ_STRUCTURE_DENSE)
        st = sparq_matrix_create(ctx, packed, &dense, &b->dense);
    cl_int e1 = CL_SUCCESS, e2 = CL_SUCCESS;
    if (st == SPARQ_OK) {
        cl_context cl = sparq_context_cl_context(ctx);
        b->x = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, nx * sizeof *x, x,
                              &e1);
        b->y = clCreateBuffer(cl, CL_MEM_READ_WRITE, (b->n_out + GUARD_COUNT) * sizeof(float),
                              NULL, &e2);
        if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
            st = sparq_fail_cl(e1 != CL_SUCCESS ? e1 : e2, "tune: clCreateBuffer");
    }
    if (st == SPARQ_OK)
        st = sparq_cache_flush_create(ctx, b->queue, &b->flush);
    sparq_packed_free(packed);
    free(w), free(wq), free(x);
    if (st != SPARQ_OK)
        case_free(b);
    return st;
}

/* ---- evaluating one candidate -------------------------------------------------------- */

typedef struct tune_run {
    const sparq_tune_options *o;
    bench_case *b;
    const sparq_kernel_info *k;
    unsigned repeats;
    double best_us;       /* best median so far (cut-off reference)                    */
    unsigned evaluations, rejected;
} tune_run;

static double event_us(cl_event e)
{
    cl_ulong start = 0, end = 0;
    clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL);
    clGetEventProfilingInfo(e, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL);
    return end > start ? (double)(end - start) / 1e3 : 0.0;
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Sorts times[0..n) and returns their median (NAN for n = 0). */
static double sorted_median(double *times, unsigned n)
{
    qsort(times, n, sizeof times[0], compare_double);
    return n ? times[n / 2] : NAN;
}

/* Runs k with p once into y (guard words set first) and checks every output against the
 * reference and the guard words. Returns false (with why) for a wrong result. */
static sparq_status check_candidate(tune_run *t, const sparq_kernel_params *p,
                                    const char *params, bool *ok, char *why, size_t why_size)
{
    bench_case *b = t->b;
    cl_uint guard = GUARD_BITS;
    cl_event run = NULL;
    cl_int err = clEnqueueFillBuffer(b->queue, b->y, &guard, sizeof guard, 0,
                                     (b->n_out + GUARD_COUNT) * sizeof(float), 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "tune: clEnqueueFillBuffer");
    sparq_linear_args a = {.matrix = b->matrix, .queue = b->queue, .batch = b->c->batch,
                           .x = b->x, .y = b->y, .event = &run};
    sparq_status st = sparq_linear_run(t->k, p, &a);
    if (st != SPARQ_OK)
        return st;
    err = clEnqueueReadBuffer(b->queue, b->y, CL_TRUE, 0,
                              (b->n_out + GUARD_COUNT) * sizeof(float), b->out, 1, &run, NULL);
    clReleaseEvent(run);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "tune: clEnqueueReadBuffer");
    if (t->o->corrupt && t->o->corrupt(t->o->user, t->k->name, params))
        b->out[b->n_out / 2] += 1.0f + fabsf(b->out[b->n_out / 2]);
    *ok = true;
    for (size_t i = 0; i < GUARD_COUNT && *ok; i++) {
        uint32_t bits;
        memcpy(&bits, &b->out[b->n_out + i], sizeof bits);
        if (bits != GUARD_BITS) {
            snprintf(why, why_size, "wrote past its output (guard word %zu)", i);
            *ok = false;
        }
    }
    for (size_t i = 0; i < b->n_out && *ok; i++) {
        double tol = 1e-4 * (double)b->scale[i] + 1e-6;
        if (!(fabs((double)b->out[i] - b->ref[i]) <= tol)) { /* also catches NaN */
            snprintf(why, why_size, "y[%zu] = %g, the reference is %g", i, b->out[i],
                     b->ref[i]);
            *ok = false;
        }
    }
    return SPARQ_OK;
}

/* The median time of k with p (after a warm-up run); a candidate CUT_FACTOR x slower
 * than the best so far stops after its first timed run. Each run comes after a cache
 * flush: its weights stream from memory, as when a model's layers run one after the
 * other (timed alone, a matrix smaller than the last-level cache would be read from it,
 * and the tuner would pick for that instead). */
static sparq_status time_candidate(tune_run *t, const sparq_kernel_params *p,
                                   const char *params, double *us)
{
    sparq_status st;
    double times[32];
    unsigned n = 0;
    bench_case *b = t->b;
    sparq_linear_args a = {.matrix = b->matrix, .queue = b->queue, .batch = b->c->batch,
                           .x = b->x, .y = b->y};
    for (int i = -1; i < (int)t->repeats; i++) {
        cl_event run = NULL;
        a.event = &run;
        if ((st = sparq_cache_flush_enqueue(b->ctx, b->queue, &b->flush)) != SPARQ_OK ||
            (st = sparq_linear_run(t->k, p, &a)) != SPARQ_OK)
            return st;
        clWaitForEvents(1, &run);
        double run_us = event_us(run);
        clReleaseEvent(run);
        if (i < 0)
            continue; /* warm-up */
        times[n++] = run_us;
        if (i == 0 && t->best_us > 0 && times[0] > CUT_FACTOR * t->best_us)
            break; /* clearly bad: cut short */
    }
    *us = sorted_median(times, n);
    sparq_log(SPARQ_LOG_INFO, "tune: %s %s: median %.1f us of %u (min %.1f, max %.1f)",
              t->k->name, params, *us, n, times[0], times[n - 1]);
    return SPARQ_OK;
}

/* Median time (us) of k with p: checked first; +inf for a wrong candidate. Tells the
 * candidate observer. */
static sparq_status evaluate(tune_run *t, const sparq_kernel_params *p, double *us)
{
    char params[256] = "", why[256] = "";
    sparq_kernel_options_append(t->k, p, params, sizeof params);
    bool ok = false;
    t->evaluations++;
    sparq_status st = check_candidate(t, p, params, &ok, why, sizeof why);
    if (st != SPARQ_OK)
        return st;
    if (!ok) {
        t->rejected++;
        sparq_log(SPARQ_LOG_INFO, "tune: %s %s rejected: %s", t->k->name, params, why);
        *us = INFINITY;
    } else if (t->o->fake_time_us) {
        *us = t->o->fake_time_us(t->o->user, t->k->name, params);
    } else if ((st = time_candidate(t, p, params, us)) != SPARQ_OK) {
        return st;
    }
    if (t->o->candidate)
        t->o->candidate(t->o->user, t->k->name, params, *us);
    return SPARQ_OK;
}

/* ---- the search space ---------------------------------------------------------------- */

typedef struct space {
    unsigned count;
    sparq_kernel_params *points; /* valid points, in registry order                     */
    int tunables;
} space;

/* The candidate index of each tunable of p (-1 when a value isn't a candidate). */
static void point_indices(const sparq_kernel_info *k, const sparq_kernel_params *p, int *idx)
{
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++) {
        idx[i] = -1;
        for (int j = 0; j < SPARQ_MAX_CANDIDATES && k->tunables[i].candidates[j]; j++)
            if (k->tunables[i].candidates[j] == p->value[i])
                idx[i] = j;
    }
}

/* Every combination of candidates that fits the device and that rank accepts. */
static sparq_status space_build(const sparq_kernel_info *k, const bench_case *b, space *s)
{
    memset(s, 0, sizeof *s);
    int counts[SPARQ_MAX_TUNABLES] = {0};
    size_t total = 1;
    while (s->tunables < SPARQ_MAX_TUNABLES && k->tunables[s->tunables].name) {
        int c = 0;
        while (c < SPARQ_MAX_CANDIDATES && k->tunables[s->tunables].candidates[c])
            c++;
        counts[s->tunables++] = c ? c : 1;
        total *= (size_t)(c ? c : 1);
    }
    if (total > MAX_SPACE)
        return sparq_fail(SPARQ_ERROR_INTERNAL, "tune: %s has %zu points", k->name, total);
    s->points = malloc(total * sizeof *s->points);
    if (!s->points)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
    const sparq_device_caps *caps = sparq_context_caps(b->ctx);
    for (size_t n = 0; n < total; n++) {
        sparq_kernel_params p;
        sparq_kernel_default_params(k, caps, &p);
        size_t rest = n;
        for (int i = s->tunables - 1; i >= 0; i--) {
            unsigned v = k->tunables[i].candidates[rest % (size_t)counts[i]];
            p.value[i] = v ? v : p.value[i];
            rest /= (size_t)counts[i];
        }
        char why[256];
        if (sparq_kernel_params_fit(k, &p, caps, why, sizeof why) &&
            k->rank(b->matrix, b->c->batch, caps, &p, why, sizeof why) > 0)
            s->points[s->count++] = p;
    }
    return SPARQ_OK;
}

static int space_find(const space *s, const sparq_kernel_params *p)
{
    for (unsigned i = 0; i < s->count; i++)
        if (memcmp(&s->points[i], p, sizeof *p) == 0)
            return (int)i;
    return -1;
}

/* An unevaluated neighbour of point `from` (times[i] NAN: not evaluated): one tunable
 * set to another of its candidates (any, not only the adjacent ones: kernel timings are
 * rugged in each parameter), valid. -1 when 32 random tries find none. */
static int space_neighbour(const sparq_kernel_info *k, const space *s, const double *times,
                           int from, uint64_t *rng)
{
    for (int attempt = 0; attempt < 32; attempt++) {
        sparq_kernel_params p = s->points[from];
        int idx[SPARQ_MAX_TUNABLES];
        point_indices(k, &p, idx);
        int t = (int)(next_random(rng) % (uint64_t)s->tunables), count = 0;
        while (count < SPARQ_MAX_CANDIDATES && k->tunables[t].candidates[count])
            count++;
        int j = count ? (int)(next_random(rng) % (uint64_t)count) : -1;
        if (idx[t] < 0 || j < 0 || j == idx[t])
            continue;
        p.value[t] = k->tunables[t].candidates[j];
        int found = space_find(s, &p);
        if (found >= 0 && isnan(times[found]))
            return found;
    }
    return -1;
}

/* A random unevaluated point; -1 when every point is evaluated. */
static int space_unevaluated(const space *s, const double *times, uint64_t *rng)
{
    unsigned first = (unsigned)(next_random(rng) % s->count);
    for (unsigned i = 0; i < s->count; i++)
        if (isnan(times[(first + i) % s->count]))
            return (int)((first + i) % s->count);
    return -1;
}

/* ---- strategies ---------------------------------------------------------------------- */

typedef struct search {
    tune_run *t;
    const space *s;
    double *times;        /* per point; NAN = not evaluated                           */
    int best;
    double deadline;      /* wall clock; 0 = none                                     */
    unsigned max_evals;
} search;

static bool search_over(const search *x)
{
    return x->t->evaluations >= x->max_evals ||
           (x->deadline > 0 && sparq_now_seconds() > x->deadline && x->best >= 0);
}

/* Evaluates point i (once; later calls return the stored time). */
static sparq_status search_eval(search *x, int i, double *us)
{
    if (!isnan(x->times[i])) {
        *us = x->times[i];
        return SPARQ_OK;
    }
    sparq_status st = evaluate(x->t, &x->s->points[i], &x->times[i]);
    if (st != SPARQ_OK)
        return st;
    *us = x->times[i];
    if (isfinite(*us) && (x->best < 0 || *us < x->times[x->best])) {
        x->best = i;
        x->t->best_us = *us;
    }
    const sparq_tune_options *o = x->t->o;
    if (o->progress) {
        char label[128];
        snprintf(label, sizeof label, "%s: %u evaluated", x->t->k->name, x->t->evaluations);
        o->progress(o->user, x->t->b->index, x->t->b->total, label);
    }
    return SPARQ_OK;
}

static sparq_status search_run(search *x, sparq_tune_strategy strategy, int start,
                               uint64_t *rng)
{
    unsigned n = x->s->count;
    double us;
    sparq_status st = SPARQ_OK;
    if (strategy == SPARQ_TUNE_EXHAUSTIVE || strategy == SPARQ_TUNE_RANDOM) {
        unsigned *order = malloc(n * sizeof *order);
        if (!order)
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
        for (unsigned i = 0; i < n; i++)
            order[i] = i;
        for (unsigned i = n; strategy == SPARQ_TUNE_RANDOM && i > 1; i--) {
            unsigned j = (unsigned)(next_random(rng) % i);
            unsigned tmp = order[i - 1];
            order[i - 1] = order[j];
            order[j] = tmp;
        }
        for (unsigned i = 0; i < n && st == SPARQ_OK && !search_over(x); i++)
            st = search_eval(x, (int)order[i], &us);
        free(order);
        return st;
    }
    /* Simulated annealing: from the default, move to an unevaluated neighbour; take it
     * when faster, or when slower with probability exp(-relative slowdown /
     * temperature); the temperature falls geometrically from 0.3 to 0.01 over the
     * evaluation budget; the last quarter of it moves from the best point found only.
     * Where every neighbour is known (a local minimum explored), restart from a random
     * unevaluated point. */
    int current = start;
    double current_us;
    if ((st = search_eval(x, current, &current_us)) != SPARQ_OK)
        return st;
    while (!search_over(x)) {
        double progress = (double)x->t->evaluations / (double)x->max_evals;
        double temperature = 0.3 * pow(0.01 / 0.3, progress);
        if (progress >= POLISH_FROM && x->best >= 0) {
            current = x->best; /* the last quarter polishes the best point found */
            current_us = x->times[x->best];
        }
        int next = space_neighbour(x->t->k, x->s, x->times, current, rng);
        bool restart = next < 0;
        if (restart && (next = space_unevaluated(x->s, x->times, rng)) < 0)
            break; /* the whole space is evaluated */
        if ((st = search_eval(x, next, &us)) != SPARQ_OK)
            return st;
        double slowdown = isfinite(current_us) ? (us - current_us) / current_us : -1.0;
        if (restart || slowdown < 0 ||
            (isfinite(us) && random_unit(rng) < exp(-slowdown / temperature))) {
            current = next;
            current_us = us;
        }
    }
    return SPARQ_OK;
}

/* Times the default and the search's best again, alternately (CONFIRM_ROUNDS each, the
 * median of their medians), so that the speedup compares two measurements taken side by
 * side rather than a search's luckiest one against the first run of a cold process; the
 * default stays when it is not slower after all. */
static sparq_status confirm(tune_run *t, const sparq_kernel_params *def, int *best,
                            const space *s, double *times, int def_index)
{
    double rounds[2][CONFIRM_ROUNDS];
    char params[2][256] = {"", ""};
    sparq_kernel_options_append(t->k, def, params[0], sizeof params[0]);
    sparq_kernel_options_append(t->k, &s->points[*best], params[1], sizeof params[1]);
    t->best_us = 0; /* no cut-off */
    for (int r = 0; r < CONFIRM_ROUNDS; r++)
        for (int which = 0; which < 2; which++) {
            sparq_status st = time_candidate(t, which ? &s->points[*best] : def, params[which],
                                             &rounds[which][r]);
            if (st != SPARQ_OK)
                return st;
        }
    times[def_index] = sorted_median(rounds[0], CONFIRM_ROUNDS);
    times[*best] = sorted_median(rounds[1], CONFIRM_ROUNDS);
    sparq_log(SPARQ_LOG_INFO, "tune: %s confirmed: default %.1f us, %s %.1f us", t->k->name,
              times[def_index], params[1], times[*best]);
    if (times[*best] >= times[def_index])
        *best = def_index;
    return SPARQ_OK;
}

/* ---- one (case, kernel) ---------------------------------------------------------------- */

static sparq_status tune_kernel(const sparq_tune_options *o, bench_case *b,
                                const sparq_kernel_info *k, uint64_t seed,
                                sparq_tune_result *r, sparq_kernel_params *best_params)
{
    space s;
    sparq_status st = space_build(k, b, &s);
    if (st != SPARQ_OK)
        return st;
    const sparq_device_caps *caps = sparq_context_caps(b->ctx);
    sparq_kernel_params def;
    sparq_kernel_default_params(k, caps, &def);
    int start = space_find(&s, &def);
    tune_run t = {.o = o, .b = b, .k = k, .repeats = o->repeats ? o->repeats : 5};
    if (t.repeats > 32)
        t.repeats = 32;
    double *times = malloc((s.count ? s.count : 1) * sizeof *times);
    if (!times) {
        free(s.points);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
    }
    for (unsigned i = 0; i < s.count; i++)
        times[i] = NAN;
    search x = {.t = &t, .s = &s, .times = times, .best = -1};
    /* annealing: a third of the space, at least 12 (small rugged spaces need them) */
    unsigned default_evals = o->strategy == SPARQ_TUNE_ANNEAL ? (s.count + 2) / 3 : s.count;
    x.max_evals = o->max_evaluations ? o->max_evaluations
                  : o->strategy == SPARQ_TUNE_ANNEAL && default_evals < 12 ? 12
                                                                          : default_evals;
    double budget = o->budget_seconds > 0 ? o->budget_seconds
                    : o->strategy == SPARQ_TUNE_RANDOM ? 30.0 : 0.0;
    x.deadline = budget > 0 ? sparq_now_seconds() + budget : 0;
    snprintf(r->kernel, sizeof r->kernel, "%s", k->name);
    sparq_kernel_options_append(k, &def, r->default_params, sizeof r->default_params);
    r->space = s.count;
    uint64_t rng = seed ^ 0x5eed;
    double us = NAN;
    if (s.count > 0) {
        /* the default first: its time is the baseline, and annealing starts there */
        if (start < 0)
            start = (int)(next_random(&rng) % s.count);
        st = search_eval(&x, start, &us);
        if (st == SPARQ_OK)
            st = search_run(&x, o->strategy, start, &rng);
    }
    int def_index = space_find(&s, &def);
    if (st == SPARQ_OK && x.best >= 0 && def_index >= 0 && x.best != def_index &&
        isfinite(times[def_index]) && !o->fake_time_us)
        st = confirm(&t, &def, &x.best, &s, times, def_index);
    r->default_us = def_index >= 0 ? times[def_index] : NAN;
    if (st == SPARQ_OK && x.best >= 0) {
        *best_params = s.points[x.best];
        r->best_us = times[x.best];
        sparq_kernel_options_append(k, best_params, r->best_params, sizeof r->best_params);
    } else {
        r->best_us = NAN;
    }
    r->evaluations = t.evaluations;
    r->rejected = t.rejected;
    free(times);
    free(s.points);
    return st;
}

/* ---- break-even --------------------------------------------------------------------- */

/* Microseconds from a marker enqueued just before a path to the end of the path's event:
 * a path of several kernels (CLBlast pads, multiplies and copies back; its event is the
 * last kernel's) counts whole. event_us(end) without a usable marker. */
static double span_us(cl_event start, cl_event end)
{
    cl_ulong from = 0, to = 0;
    if (!start ||
        clGetEventProfilingInfo(start, CL_PROFILING_COMMAND_END, sizeof from, &from, NULL) !=
            CL_SUCCESS ||
        clGetEventProfilingInfo(end, CL_PROFILING_COMMAND_END, sizeof to, &to, NULL) !=
            CL_SUCCESS ||
        from == 0 || to <= from)
        return event_us(end);
    return (double)(to - from) / 1e3;
}

/* Median time (us, profiling events) of repeats calls of each of count paths (at most
 * 3), run in turns — one call of each per round, after a warm-up round — so that a drift
 * in the machine's speed (large on shared machines) hits every path alike; each call
 * after a cache flush, as in time_candidate. Each call is
 * timed from a marker before it to the end of its last kernel (span_us): every kernel of
 * a path counts, CLBlast's bias fill and padding included. A path from `optional` on
 * that fails (CLBlast not built in) gets INFINITY; any other failure is returned. */
typedef sparq_status (*path_fn)(bench_case *b, const void *arg, cl_event *event);

static sparq_status time_paths(bench_case *b, const path_fn *fns, const void *const *args,
                               size_t count, size_t optional, unsigned repeats, double *us)
{
    double times[3][32];
    bool failed[3] = {false, false, false};
    unsigned rounds = repeats < 32 ? repeats : 32;
    for (unsigned round = 0; round <= rounds; round++) /* round 0 warms up */
        for (size_t i = 0; i < count && i < 3; i++) {
            if (failed[i])
                continue;
            cl_event start = NULL, e = NULL;
            sparq_status st = sparq_cache_flush_enqueue(b->ctx, b->queue, &b->flush);
            if (st != SPARQ_OK)
                return st;
            if (clEnqueueMarkerWithWaitList(b->queue, 0, NULL, &start) != CL_SUCCESS)
                start = NULL;
            st = fns[i](b, args[i], &e);
            if (st == SPARQ_OK) {
                clWaitForEvents(1, &e);
                if (round > 0)
                    times[i][round - 1] = span_us(start, e);
                clReleaseEvent(e);
            }
            if (start)
                clReleaseEvent(start);
            if (st != SPARQ_OK && i < optional)
                return st;
            failed[i] = st != SPARQ_OK;
        }
    for (size_t i = 0; i < count && i < 3; i++)
        us[i] = failed[i] ? INFINITY : sorted_median(times[i], rounds);
    return SPARQ_OK;
}

typedef struct sparse_arg {
    const sparq_kernel_info *k;
    const sparq_kernel_params *p;
} sparse_arg;

static sparq_status run_sparse(bench_case *b, const void *arg, cl_event *event)
{
    const sparse_arg *s = arg;
    sparq_linear_args a = {.matrix = b->matrix, .queue = b->queue, .batch = b->c->batch,
                           .x = b->x, .y = b->y, .event = event};
    return sparq_linear_run(s->k, s->p, &a);
}

static sparq_status run_dense_path(bench_case *b, const void *arg, cl_event *event)
{
    (void)arg;
    return sparq_linear(b->dense, b->queue, b->x, 0, b->y, 0, b->c->batch, NULL, 0, NULL,
                        event);
}

static sparq_status run_clblast(bench_case *b, const void *arg, cl_event *event)
{
    (void)arg;
    return sparq_linear_dense(b->ctx, b->queue, SPARQ_DENSE_BACKEND_CLBLAST, b->c->batch,
                              b->c->rows, b->c->cols, b->x, 0,
                              b->dense->buf[SPARQ_ARRAY_DENSE], 0, NULL, 0, b->y, 0, 0, NULL,
                              event);
}

static sparq_status break_even(const sparq_tune_options *o, bench_case *b,
                               const sparq_kernel_info *k, const sparq_kernel_params *p,
                               sparq_tune_choice_entry *choice, sparq_tune_result *r)
{
    unsigned repeats = o->repeats ? o->repeats : 5;
    sparse_arg s = {k, p};
    /* sparse, sparq's dense path, CLBlast (optional: built without it, the dense path) */
    const path_fn fns[3] = {run_sparse, run_dense_path, run_clblast};
    const void *const args[3] = {&s, NULL, NULL};
    double us[3];
    sparq_status st = time_paths(b, fns, args, 3, 2, repeats, us);
    if (st != SPARQ_OK)
        return st;
    /* a near tie is decided by the run-to-run noise of a few rounds: time it again, longer */
    double dense_best = us[2] < us[1] ? us[2] : us[1];
    double near = us[0] > dense_best ? us[0] / dense_best : dense_best / us[0];
    if (near < NEAR_TIE && (st = time_paths(b, fns, args, 3, 2, NEAR_TIE_ROUNDS * repeats,
                                             us)) != SPARQ_OK)
        return st;
    double sparse_us = us[0], own_us = us[1], clblast_us = us[2];
    memset(choice, 0, sizeof *choice);
    choice->structure = b->c->format.structure;
    choice->block_rows = b->c->format.block_rows;
    choice->block_cols = b->c->format.block_cols;
    choice->encoding = b->c->format.quant.encoding;
    sparq_matrix_shape_class(b->matrix, b->c->batch, choice->shape_class,
                             sizeof choice->shape_class);
    snprintf(choice->kernel, sizeof choice->kernel, "%s", k->name);
    choice->sparse_us = sparse_us;
    bool clblast = clblast_us < own_us;
    snprintf(choice->dense_name, sizeof choice->dense_name, "%s",
             clblast ? "clblast" : b->c->batch > 1 ? "linear_dense_q_tiled"
                                                   : "linear_dense_rowdot");
    choice->dense_us = clblast ? clblast_us : own_us;
    choice->dense = choice->dense_us < sparse_us;
    sparq_source_hash_get(b->ctx, k->source, choice->source_hash);
    snprintf(choice->sparq_version, sizeof choice->sparq_version, "%s", sparq_version_string());

    snprintf(r->kernel, sizeof r->kernel, "dense/sparse");
    r->default_us = choice->dense_us;
    r->best_us = sparse_us;
    snprintf(r->choice, sizeof r->choice, "%s %s (%.2fx)", choice->dense ? "dense" : "sparse",
             choice->dense ? choice->dense_name : choice->kernel,
             choice->dense ? sparse_us / choice->dense_us : choice->dense_us / sparse_us);
    return SPARQ_OK;
}

/* ---- sparq_tune_run ------------------------------------------------------------------ */

static bool kernel_selected(const char *list, const char *name)
{
    if (!list || !*list)
        return true;
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0)
            return true;
        p += n + (end ? 1 : 0);
    }
    return false;
}

static sparq_status results_push(sparq_tune_result **rows, size_t *count, size_t *capacity,
                                 const sparq_tune_result *r)
{
    if (*count == *capacity) {
        size_t cap = *capacity ? 2 * *capacity : 16;
        sparq_tune_result *grown = realloc(*rows, cap * sizeof *grown);
        if (!grown)
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
        *rows = grown;
        *capacity = cap;
    }
    (*rows)[(*count)++] = *r;
    return SPARQ_OK;
}

/* Whether k is tuned for this case: a sparq_linear kernel of its format (W8A8 kernels
 * for W8A8 cases, the others otherwise); for dense f32 weights (the dense path) the
 * dense tiled kernel above batch 1 (batch 1 runs sparq_linear_dense's own kernel or
 * CLBlast). */
static bool kernel_tunable(const sparq_tune_case *c, const sparq_kernel_info *k)
{
    const sparq_pack_options *f = &c->format;
    if (f->structure == SPARQ_STRUCTURE_DENSE && f->quant.encoding == SPARQ_ENCODING_F32)
        return c->batch > 1 && strcmp(k->name, "linear_dense_q_tiled") == 0;
    return sparq_kernel_runs_format(k, f, c->quantize_activations != 0);
}

/* The rank dispatch gives k with default parameters for this case (0: can't run). */
static int default_rank(const bench_case *b, const sparq_kernel_info *k)
{
    const sparq_device_caps *caps = sparq_context_caps(b->ctx);
    sparq_kernel_params p;
    char why[256];
    sparq_kernel_default_params(k, caps, &p);
    return sparq_kernel_params_fit(k, &p, caps, why, sizeof why)
               ? k->rank(b->matrix, b->c->batch, caps, &p, why, sizeof why)
               : 0;
}

/* Whether k is among the `top` kernels of the case by default rank (0: all are). */
static bool kernel_in_top(const bench_case *b, const sparq_kernel_info *k, unsigned top)
{
    if (top == 0)
        return true;
    int mine = default_rank(b, k);
    unsigned higher = 0;
    for (size_t i = 0; i < sparq_kernel_count; i++) {
        const sparq_kernel_info *c = &sparq_kernels[i];
        if (kernel_tunable(b->c, c) && default_rank(b, c) > mine)
            higher++;
    }
    return higher < top;
}

/* Tunes one prepared case: every selected kernel, then the break-even. */
static sparq_status tune_case(const sparq_tune_options *o, bench_case *b, uint64_t seed,
                              sparq_tunedb *db, const sparq_tune_device *device,
                              const char *key, const char *type_key, sparq_tune_result **rows,
                              size_t *count, size_t *capacity)
{
    const sparq_kernel_info *best_k = NULL;
    sparq_kernel_params best_p;
    double best_us = INFINITY;
    char shape[64];
    sparq_matrix_shape_class(b->matrix, b->c->batch, shape, sizeof shape);
    sparq_status st = SPARQ_OK;
    for (size_t i = 0; i < sparq_kernel_count && st == SPARQ_OK; i++) {
        const sparq_kernel_info *k = &sparq_kernels[i];
        if (!kernel_tunable(b->c, k) || !kernel_selected(o->kernels, k->name) ||
            !kernel_in_top(b, k, o->top_kernels))
            continue;
        sparq_tune_result r = {0};
        sparq_kernel_params p = {{0}};
        snprintf(r.encoding, sizeof r.encoding, "%s",
                 sparq_encoding_name(b->c->format.quant.encoding));
        snprintf(r.shape_class, sizeof r.shape_class, "%s", shape);
        if ((st = tune_kernel(o, b, k, seed, &r, &p)) != SPARQ_OK)
            break;
        if (r.space == 0)
            continue; /* this kernel can't run this case at all */
        if (isfinite(r.best_us)) {
            sparq_tune_params_entry e = {0};
            snprintf(e.kernel, sizeof e.kernel, "%s", k->name);
            if (k->structure == SPARQ_STRUCTURE_BSR) {
                e.block_rows = b->c->format.block_rows;
                e.block_cols = b->c->format.block_cols;
            }
            e.encoding = b->c->format.quant.encoding;
            snprintf(e.shape_class, sizeof e.shape_class, "%s", shape);
            e.params = p;
            e.time_us = r.best_us;
            e.default_us = r.default_us;
            sparq_source_hash_get(b->ctx, k->source, e.source_hash);
            snprintf(e.sparq_version, sizeof e.sparq_version, "%s", sparq_version_string());
            snprintf(e.strategy, sizeof e.strategy, "%s", sparq_tune_strategy_name(o->strategy));
            e.evaluations = r.evaluations;
            e.seed = seed;
            if ((st = sparq_tunedb_put_params(db, device, key, &e)) != SPARQ_OK ||
                (type_key && (st = sparq_tunedb_put_params(db, device, type_key, &e))))
                break;
            if (r.best_us < best_us) {
                best_us = r.best_us;
                best_k = k;
                best_p = p;
            }
        }
        st = results_push(rows, count, capacity, &r);
    }
    if (st != SPARQ_OK || !best_k || !b->dense || o->skip_break_even || o->fake_time_us)
        return st;
    sparq_tune_result r = {0};
    sparq_tune_choice_entry choice;
    snprintf(r.encoding, sizeof r.encoding, "%s",
             sparq_encoding_name(b->c->format.quant.encoding));
    snprintf(r.shape_class, sizeof r.shape_class, "%s", shape);
    if ((st = break_even(o, b, best_k, &best_p, &choice, &r)) == SPARQ_OK &&
        (st = sparq_tunedb_put_choice(db, device, key, &choice)) == SPARQ_OK &&
        (!type_key || (st = sparq_tunedb_put_choice(db, device, type_key, &choice)) == SPARQ_OK))
        st = results_push(rows, count, capacity, &r);
    return st;
}

sparq_status sparq_tune_run(sparq_context *ctx, const sparq_tune_case *cases, size_t count,
                            const sparq_tune_options *options, sparq_tune_result **results,
                            size_t *result_count)
{
    if (!ctx || (!cases && count) || !results || !result_count)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune: NULL argument");
    *results = NULL;
    *result_count = 0;
    sparq_tune_options o = options ? *options : (sparq_tune_options){0};
    if ((unsigned)o.strategy > SPARQ_TUNE_ANNEAL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune: unknown strategy %d",
                          (int)o.strategy);
    for (const char *p = o.kernels; p && *p;) {
        char name[64];
        size_t n = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p);
        const sparq_kernel_info *k = sparq_kernel_find(name);
        if (!k || !k->rank)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "tune: \"%s\" is not a tunable kernel (sparq tune --list)", name);
        p += n + (p[n] == ',');
    }
    sparq_tunedb *db = NULL;
    sparq_status st = sparq_tunedb_create(&db);
    if (st != SPARQ_OK)
        return st;
    sparq_tune_device device;
    sparq_tune_device_from_caps(&ctx->caps, &device);
    char key[768], type_key[64];
    sparq_tunedb_device_key(&device, key, sizeof key);
    sparq_tunedb_type_key(&device, type_key, sizeof type_key);
    size_t capacity = 0;
    for (size_t i = 0; i < count && st == SPARQ_OK; i++) {
        bench_case b;
        uint64_t seed = o.seed + i;
        if ((st = case_prepare(ctx, &cases[i], seed, &b)) != SPARQ_OK)
            break;
        b.index = i;
        b.total = count;
        st = tune_case(&o, &b, seed, db, &device, key, o.also_type_default ? type_key : NULL,
                       results, result_count, &capacity);
        case_free(&b);
        if (o.progress) {
            char label[160];
            snprintf(label, sizeof label, "%s %s %zux%zu b%zu",
                     sparq_structure_name(cases[i].format.structure),
                     sparq_encoding_name(cases[i].format.quant.encoding), cases[i].rows,
                     cases[i].cols, cases[i].batch);
            o.progress(o.user, i + 1, count, label);
        }
    }
    char path[1024] = "";
    if (st == SPARQ_OK && !(o.db_path && !*o.db_path)) {
        if (o.db_path)
            snprintf(path, sizeof path, "%s", o.db_path);
        else if (!sparq_tunedb_user_path(path, sizeof path))
            st = sparq_fail(SPARQ_ERROR_IO, "tune: no place for the user database (set "
                            "SPARQ_TUNE_DB, XDG_CACHE_HOME or HOME)");
        if (st == SPARQ_OK)
            st = sparq_tunedb_merge_into_file(db, path);
        sparq_context_tune_forget(ctx);
    }
    sparq_tunedb_free(db);
    if (st != SPARQ_OK) {
        free(*results);
        *results = NULL;
        *result_count = 0;
    }
    return st;
}

/* ---- sparq_tune_describe ---------------------------------------------------------- */

sparq_status sparq_tune_describe(sparq_context *ctx, char **text)
{
    if (!ctx || !text)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune_describe: NULL argument");
    *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(text, &size);
    if (!out)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune_describe: out of memory");
    fprintf(out, "tunable kernels (candidates; default on this device first):\n");
    for (size_t i = 0; i < sparq_kernel_count; i++) {
        const sparq_kernel_info *k = &sparq_kernels[i];
        if (!k->rank)
            continue;
        sparq_kernel_params def;
        sparq_kernel_default_params(k, &ctx->caps, &def);
        fprintf(out, "  %-22s %s %s\n", k->name, sparq_structure_name(k->structure),
                k->summary);
        for (int t = 0; t < SPARQ_MAX_TUNABLES && k->tunables[t].name; t++) {
            fprintf(out, "  %22s   %-10s %u:", "", k->tunables[t].name, def.value[t]);
            for (int c = 0; c < SPARQ_MAX_CANDIDATES && k->tunables[t].candidates[c]; c++)
                fprintf(out, " %u", k->tunables[t].candidates[c]);
            fputc('\n', out);
        }
    }
    sparq_tune_chain chain;
    sparq_context_tune_chain(ctx, &chain);
    char path[1024] = "";
    bool have_path = sparq_tunedb_user_path(path, sizeof path);
    fprintf(out, "\ndatabases: user %s (%zu entries%s%s), shipped (%zu entries%s%s)\n",
            have_path ? path : "(no path)", chain.user ? sparq_tunedb_count(chain.user) : 0,
            chain.user && *sparq_tunedb_warning(chain.user) ? "; " : "",
            chain.user ? sparq_tunedb_warning(chain.user) : "",
            chain.shipped ? sparq_tunedb_count(chain.shipped) : 0,
            chain.shipped && *sparq_tunedb_warning(chain.shipped) ? "; " : "",
            chain.shipped ? sparq_tunedb_warning(chain.shipped) : "");
    sparq_tune_device device;
    sparq_tune_device_from_caps(&ctx->caps, &device);
    fprintf(out, "\nquick cases on this device (%s), where each kernel's parameters come "
            "from:\n", ctx->caps.name);
    for (size_t i = 0; i < sizeof quick_cases / sizeof quick_cases[0]; i++) {
        const sparq_tune_case *c = &quick_cases[i];
        double per_row = c->format.structure == SPARQ_STRUCTURE_DENSE ? (double)c->cols
                         : c->format.structure == SPARQ_STRUCTURE_NM
                             ? (double)c->cols * c->format.nm_n / c->format.nm_m
                             : (1.0 - c->sparsity) * (double)c->cols;
        char shape[64];
        sparq_tune_shape_class(c->rows, c->cols, c->batch, per_row, shape, sizeof shape);
        char detail[192];
        fprintf(out, "  %s %s %zux%zu batch %zu (class %s)\n",
                sparq_structure_name(c->format.structure),
                sparq_encoding_name(c->format.quant.encoding), c->rows, c->cols, c->batch,
                shape);
        for (size_t j = 0; j < sparq_kernel_count; j++) {
            const sparq_kernel_info *k = &sparq_kernels[j];
            if (!kernel_tunable(c, k))
                continue;
            char hash[17], params[128] = "";
            sparq_kernel_params p;
            sparq_source_hash_get(ctx, k->source, hash);
            sparq_tune_lookup_params(&chain, &device, k, c->format.quant.encoding,
                                     c->format.block_rows, c->format.block_cols, shape, hash,
                                     &p, detail, sizeof detail);
            sparq_kernel_options_append(k, &p, params, sizeof params);
            fprintf(out, "    %-22s %-40s %s\n", k->name, params, detail);
        }
        sparq_tune_choice_entry choice;
        sparq_tune_source source;
        if (c->format.structure != SPARQ_STRUCTURE_DENSE &&
            sparq_tune_lookup_choice(&chain, &device, &c->format, shape, &choice, &source,
                                     detail, sizeof detail))
            fprintf(out, "    break-even: %s (sparse %s %.1f us, dense %s %.1f us; %s)\n",
                    choice.dense ? "dense" : "sparse", choice.kernel, choice.sparse_us,
                    choice.dense_name, choice.dense_us, detail);
    }
    if (fclose(out) != 0 || !*text) {
        free(*text);
        *text = NULL;
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune_describe: out of memory");
    }
    return SPARQ_OK;
}
