/* bench_sparse.c - benchmark of sparq_linear on pruned weights (CSR, 2:4, BSR 4x4 and
 * 16x16) against the dense path it could fall back to, CLBlast on the same device and,
 * on a CPU device, OpenBLAS and the native ceiling (native.c); with the measured
 * bandwidth roof, in one run (on a CPU, also a C read loop timed in turns with each
 * row). Prints a table (median/min/max, effective GB/s, roof fractions, ratios);
 * --csv/--json write the rows.
 */
#include "native.h"
#include "sparq.h"

#ifdef SPARQ_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 2           /* untimed rounds before the timed ones                  */
#define MAX_LIST 16        /* entries per option list                               */
#define MAX_COPIES 4096    /* most weight copies in one rotation                    */
#define FLAG_RATIO 1.10    /* rows where sparq_linear is this much slower are flagged */
#define MAX_STREAMS 7      /* streams timed in turns in one row                     */
#define READ_SLICES 8      /* the read stream's slices of the roof buffer (64 MiB each
                            * at the default 512 MiB roof)                           */

/* ---------------------------------------------------------------------------------- */
/* Small helpers                                                                      */
/* ---------------------------------------------------------------------------------- */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int compare_sizes(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

/* Prints the failure with sparq's sentence and passes the status on. */
static sparq_status report(const char *what, sparq_status st)
{
    fprintf(stderr, "bench_sparse: %s: %s: %s\n", what, sparq_status_string(st),
            sparq_last_error());
    return st;
}

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

/* A float in [-1, 1) from xorshift64*: deterministic weights and activations. */
static float random_float(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    uint64_t r = rng_state * 0x2545F4914F6CDD1Dull;
    return (float)((double)(r >> 40) / (double)(1ull << 23) - 1.0);
}

static void fill_random(float *a, size_t n)
{
    for (size_t i = 0; i < n; i++)
        a[i] = random_float();
}

static double mib(uint64_t bytes)
{
    return (double)bytes / (1024.0 * 1024.0);
}

/* ---------------------------------------------------------------------------------- */
/* Options                                                                            */
/* ---------------------------------------------------------------------------------- */

/* Formats measured: the sparse structures (values f32, or f16 with --f16), then the
 * quantized ones: dense int8/int4, pruned and quantized together, and W8A8. */
typedef enum bench_structure {
    BS_CSR = 0, BS_NM24, BS_BSR4, BS_BSR16,
    BS_I8ROW, BS_I4G128, BS_I4G32, BS_CSR_I8, BS_NM24_I4, BS_W8A8,
    BS_COUNT
} bench_structure;
static const char *const structure_names[BS_COUNT] = {
    "csr", "2:4", "bsr4", "bsr16", "i8-row", "i4-g128", "i4-g32", "csr+i8", "2:4+i4", "w8a8"};

/* Formats measured once per shape, not per sparsity: dense ones and N:M. */
static int single_sparsity(int structure)
{
    return structure == BS_NM24 || structure == BS_NM24_I4 || structure == BS_I8ROW ||
           structure == BS_I4G128 || structure == BS_I4G32 || structure == BS_W8A8;
}

typedef struct config {
    size_t shapes[MAX_LIST][2]; /* rows x cols */
    size_t nshapes;
    int structures[MAX_LIST];
    size_t nstructures;
    double sparsities[MAX_LIST];
    size_t nsparsities;
    size_t batches[MAX_LIST];
    size_t nbatches;
    int repeats;
    int chain;         /* calls per timed sample, enqueued back to back, one wait     */
    int f16;
    size_t rotate_mib; /* weight bytes in rotation per measured set              */
    size_t roof_mib;   /* bytes streamed by the roof measurements                  */
    const char *csv_path, *json_path;
} config;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_sparse [--quick] [--shapes RxC,...] [--structures LIST]\n"
            "                    [--sparsities 0.5,0.9,...] [--batches 1,8,...] [--repeats N]\n"
            "                    [--chain N] [--f16] [--rotate-mib MIB] [--roof-mib MIB]\n"
            "                    [--csv FILE] [--json FILE]\n"
            "  structures: csr, 2:4, bsr4, bsr16 (f32 values, f16 with --f16); quantized:\n"
            "  i8-row, i4-g128, i4-g32 (dense), csr+i8 (row scales), 2:4+i4 (g128), w8a8\n"
            "  defaults: shapes 4096x4096,11008x4096,768x3072,3072x768; csr,2:4,bsr4,bsr16;\n"
            "  sparsities 0.5,0.7,0.9,0.95,0.99 (csr and bsr; 2:4 is 0.5); batches 1,8,32,128;\n"
            "  15 repeats; chain 1; f32 values; 256 MiB of weights in rotation; 512 MiB roof.\n"
            "  --chain N: each sample is N calls on consecutive copies, enqueued back to back\n"
            "  and waited for once, divided by N (steady-state time per call, as an engine\n"
            "  enqueues its layers; 1: the latency of one call, the wait included)\n"
            "  --quick: 4096x4096,768x3072; csr 0.9, 2:4, bsr16 0.9; batches 1,32\n"
            "  (explicit options override the --quick choices). Device: SPARQ_DEVICE=...\n");
}

/* Splits a comma-separated list; parse_one parses one item into slot i. */
static int parse_list(const char *text, size_t *count, int (*parse_one)(const char *, void *,
                                                                        size_t),
                      void *slots)
{
    char buf[512];
    if (strlen(text) >= sizeof buf)
        return 0;
    strcpy(buf, text);
    *count = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        if (*count >= MAX_LIST || !parse_one(tok, slots, *count))
            return 0;
        (*count)++;
    }
    return *count > 0;
}

static int parse_shape(const char *s, void *slots, size_t i)
{
    size_t(*shapes)[2] = slots;
    char tail = 0;
    if (sscanf(s, "%zux%zu%c", &shapes[i][0], &shapes[i][1], &tail) != 2)
        return 0;
    return shapes[i][0] > 0 && shapes[i][1] > 0;
}

static int parse_structure(const char *s, void *slots, size_t i)
{
    int *out = slots;
    for (int k = 0; k < BS_COUNT; k++)
        if (strcmp(s, structure_names[k]) == 0) {
            out[i] = k;
            return 1;
        }
    if (strcmp(s, "nm") == 0) {
        out[i] = BS_NM24;
        return 1;
    }
    return 0;
}

static int parse_sparsity(const char *s, void *slots, size_t i)
{
    double *out = slots;
    char *end = NULL;
    out[i] = strtod(s, &end);
    return end != s && *end == '\0' && out[i] >= 0.0 && out[i] < 1.0;
}

static int parse_batch(const char *s, void *slots, size_t i)
{
    size_t *out = slots;
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    out[i] = (size_t)v;
    return end != s && *end == '\0' && v > 0 && v <= 65536;
}

static int parse_options(int argc, char **argv, config *cfg)
{
    const char *shapes = NULL, *structures = NULL, *sparsities = NULL, *batches = NULL;
    int quick = 0;
    memset(cfg, 0, sizeof *cfg);
    cfg->repeats = 15;
    cfg->chain = 1;
    cfg->rotate_mib = 256;
    cfg->roof_mib = 512;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--quick") == 0)
            quick = 1;
        else if (strcmp(a, "--f16") == 0)
            cfg->f16 = 1;
        else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (!v) {
            fprintf(stderr, "bench_sparse: unknown option or missing value: %s\n", a);
            return 0;
        } else if (strcmp(a, "--shapes") == 0)
            shapes = v, i++;
        else if (strcmp(a, "--structures") == 0)
            structures = v, i++;
        else if (strcmp(a, "--sparsities") == 0)
            sparsities = v, i++;
        else if (strcmp(a, "--batches") == 0)
            batches = v, i++;
        else if (strcmp(a, "--repeats") == 0)
            cfg->repeats = atoi(v), i++;
        else if (strcmp(a, "--chain") == 0)
            cfg->chain = atoi(v), i++;
        else if (strcmp(a, "--rotate-mib") == 0)
            cfg->rotate_mib = (size_t)strtoull(v, NULL, 10), i++;
        else if (strcmp(a, "--roof-mib") == 0)
            cfg->roof_mib = (size_t)strtoull(v, NULL, 10), i++;
        else if (strcmp(a, "--csv") == 0)
            cfg->csv_path = v, i++;
        else if (strcmp(a, "--json") == 0)
            cfg->json_path = v, i++;
        else {
            fprintf(stderr, "bench_sparse: unknown option %s\n", a);
            return 0;
        }
    }
    if (!shapes)
        shapes = quick ? "4096x4096,768x3072" : "4096x4096,11008x4096,768x3072,3072x768";
    if (!structures)
        structures = quick ? "csr,2:4,bsr16" : "csr,2:4,bsr4,bsr16";
    if (!sparsities)
        sparsities = quick ? "0.9" : "0.5,0.7,0.9,0.95,0.99";
    if (!batches)
        batches = quick ? "1,32" : "1,8,32,128";
    if (!parse_list(shapes, &cfg->nshapes, parse_shape, cfg->shapes)) {
        fprintf(stderr, "bench_sparse: bad --shapes '%s' (e.g. 4096x4096,768x3072)\n", shapes);
        return 0;
    }
    if (!parse_list(structures, &cfg->nstructures, parse_structure, cfg->structures)) {
        fprintf(stderr, "bench_sparse: bad --structures '%s' (csr, 2:4, bsr4, bsr16, i8-row, "
                        "i4-g128, i4-g32, csr+i8, 2:4+i4, w8a8)\n",
                structures);
        return 0;
    }
    if (!parse_list(sparsities, &cfg->nsparsities, parse_sparsity, cfg->sparsities)) {
        fprintf(stderr, "bench_sparse: bad --sparsities '%s' (fractions in [0, 1))\n",
                sparsities);
        return 0;
    }
    if (!parse_list(batches, &cfg->nbatches, parse_batch, cfg->batches)) {
        fprintf(stderr, "bench_sparse: bad --batches '%s' (1..65536)\n", batches);
        return 0;
    }
    /* ascending, so the first batch (which also primes each rotation) is the cheapest */
    qsort(cfg->batches, cfg->nbatches, sizeof cfg->batches[0], compare_sizes);
    if (cfg->repeats < 1 || cfg->chain < 1 || cfg->rotate_mib < 1 || cfg->roof_mib < 1) {
        fprintf(stderr, "bench_sparse: --repeats, --chain, --rotate-mib and --roof-mib must be "
                        ">= 1\n");
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------------------------- */
/* Run state, timing and the calls being timed                                        */
/* ---------------------------------------------------------------------------------- */

typedef struct timing {
    int ok; /* measured */
    double median, min, max; /* seconds */
} timing;

/* Where a rotation set stands: kept with the set, so it carries over from one batch to
 * the next. */
typedef struct rotation {
    size_t next; /* the copy the next timed call uses */
    int primed;  /* every copy has been called once   */
} rotation;

typedef struct bench {
    config cfg;
    sparq_context *ctx;
    cl_command_queue q;
    const sparq_device_caps *caps;
    int cpu_device;       /* caps->type == SPARQ_DEVICE_TYPE_CPU                      */
    cl_mem x, y;          /* activations, sized for the largest batch and shape       */
    float *hx, *hy;       /* the same X on the host, for OpenBLAS                     */
    double roof_gbs;
    float *read_buf;      /* CPU device: the C read loop's buffer (roof_mib), kept for
                           * the read stream timed in turns with every row             */
    size_t read_blocks;   /* its blocks of 16 floats                                    */
    rotation read_rot;    /* which slice of it the read stream reads next               */
    uint64_t set_budget;  /* device bytes one rotation set may take                   */
    uint64_t host_budget; /* host bytes of the OpenBLAS rotation                        */
    FILE *csv, *json;
    int json_started, json_rows;
    size_t cases_done, case_count;
    int flagged, unavailable, misrouted;
} bench;

/* One timed operation: which of the fields are used depends on the call function. */
typedef struct call {
    bench *b;
    size_t rows, cols, batch;
    sparq_matrix **m; /* sparq_linear: one matrix per copy                           */
    cl_mem *w;        /* CLBlast: one dense f32 buffer per copy                      */
    float **hw;       /* OpenBLAS: one host array per copy                           */
    native_gemv **ng; /* native ceiling: one copy per copy                           */
} call;

/* n calls on copies first, first + 1, ... (mod copies), enqueued (or run) back to back;
 * *event: the last call's event, or NULL when the calls ran on the host. */
typedef sparq_status (*call_fn)(const call *c, size_t first, int n, size_t copies,
                                cl_event *event);

static sparq_status call_linear(const call *c, size_t first, int n, size_t copies,
                                cl_event *event)
{
    sparq_status st = SPARQ_OK;
    for (int i = 0; i < n && st == SPARQ_OK; i++)
        st = sparq_linear(c->m[(first + (size_t)i) % copies], c->b->q, c->b->x, 0, c->b->y, 0,
                          c->batch, NULL, 0, NULL, i == n - 1 ? event : NULL);
    return st;
}

static sparq_status call_clblast(const call *c, size_t first, int n, size_t copies,
                                 cl_event *event)
{
    sparq_status st = SPARQ_OK;
    for (int i = 0; i < n && st == SPARQ_OK; i++)
        st = sparq_linear_dense(c->b->ctx, c->b->q, SPARQ_DENSE_BACKEND_CLBLAST, c->batch,
                                c->rows, c->cols, c->b->x, 0, c->w[(first + (size_t)i) % copies],
                                0, NULL, 0, c->b->y, 0, 0, NULL, i == n - 1 ? event : NULL);
    return st;
}

#ifdef SPARQ_BENCH_HAVE_OPENBLAS
/* Y = X W^T natively: SGEMV at batch 1, SGEMM (X times W transposed) above. */
static sparq_status call_openblas(const call *c, size_t first, int n, size_t copies,
                                  cl_event *event)
{
    *event = NULL;
    int rows = (int)c->rows, cols = (int)c->cols, batch = (int)c->batch;
    for (int i = 0; i < n; i++) {
        const float *w = c->hw[(first + (size_t)i) % copies];
        if (batch == 1)
            cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, w, cols, c->b->hx, 1,
                        0.0f, c->b->hy, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, rows, cols, 1.0f,
                        c->b->hx, cols, w, cols, 0.0f, c->b->hy, rows);
    }
    return SPARQ_OK;
}
#endif

/* y = W x natively on the host with sparq's algorithm (batch 1 only), the n calls in one
 * parallel region. */
static sparq_status call_native(const call *c, size_t first, int n, size_t copies,
                                cl_event *event)
{
    *event = NULL;
    native_gemv_run(c->ng, copies, first, (size_t)n, c->b->hx, c->b->hy);
    return SPARQ_OK;
}

/* One timed sample: `chain` calls on consecutive copies from `first` (of `copies`); wall
 * time from before the first call to the end of clWaitForEvents on the last call's event
 * (the queue is in order, so its completion is the chain's), divided by `chain`. */
static sparq_status run_chain(call_fn fn, const call *c, size_t first, size_t copies,
                              int chain, double *seconds)
{
    cl_event ev = NULL;
    double t0 = now_seconds();
    sparq_status st = fn(c, first, chain, copies, &ev);
    if (st == SPARQ_OK && ev) {
        cl_int err = clWaitForEvents(1, &ev);
        if (err != CL_SUCCESS)
            st = err;
    }
    double t1 = now_seconds();
    if (ev)
        clReleaseEvent(ev);
    *seconds = (t1 - t0) / chain;
    return st;
}

/* One stream of timed calls: a call function with its operands, rotating over `copies`
 * copies (each call reads weights that the other copies, >= the rotation target, have
 * evicted from the caches since it was last read). */
typedef struct timer {
    call_fn fn;
    call c;
    size_t copies;
    rotation *rot;    /* the set's rotation state                                     */
    timing *out;
    const char *what; /* for notes: "AUTO", "SPARSE", "CLBlast", ...                  */
    char *note;       /* where an unsupported call is explained (NULL: stop instead)  */
    size_t note_size;
    int off;          /* unsupported: no longer called                                */
    double *t;
} timer;

/* Appends a stream to tm[*n]. note NULL: an unsupported call stops the measurement. */
static void add_stream(timer *tm, size_t *n, call_fn fn, call c, size_t copies, rotation *rot,
                       timing *out, const char *what, char *note, size_t note_size)
{
    tm[(*n)++] = (timer){.fn = fn, .c = c, .copies = copies, .rot = rot, .out = out,
                         .what = what, .note = note, .note_size = note_size};
}

/* 1 when st is an unsupported call the stream has a note for: the stream is switched
 * off and the reason noted (the first one only). */
static int stream_unsupported(timer *x, sparq_status st)
{
    if (st != SPARQ_ERROR_UNSUPPORTED || !x->note)
        return 0;
    x->off = 1;
    if (!x->note[0])
        snprintf(x->note, x->note_size, "%s n/a: %s", x->what, sparq_last_error());
    return 1;
}

/* Puts order[0..n) in a random order (Fisher-Yates on a xorshift32 state). */
static void shuffle(size_t *order, size_t n, uint32_t *state)
{
    for (size_t i = n; i > 1; i--) {
        *state ^= *state << 13;
        *state ^= *state >> 17;
        *state ^= *state << 5;
        size_t j = *state % i, t = order[i - 1];
        order[i - 1] = order[j];
        order[j] = t;
    }
}

/* Times n streams in turns: WARMUP rounds, then `repeats` rounds of one call of each
 * stream (in a new random order each round), so drift on a shared machine hits
 * every stream alike and the ratios between them hold even when the absolute times
 * move. First every copy of a not yet primed set is called once (lazy allocations,
 * first-use migrations), oldest first. A stream whose call is unsupported stops with a
 * note where it has one; other errors stop the measurement. */
static sparq_status time_interleaved(timer *tm, size_t n, int repeats, int chain)
{
    sparq_status st = SPARQ_OK;
    double sec = 0;
    for (size_t i = 0; i < n && st == SPARQ_OK; i++) {
        memset(tm[i].out, 0, sizeof *tm[i].out);
        tm[i].t = malloc((size_t)repeats * sizeof *tm[i].t);
        if (!tm[i].t)
            st = SPARQ_ERROR_OUT_OF_MEMORY;
    }
    for (size_t i = 0; i < n && st == SPARQ_OK; i++) {
        for (size_t k = 0; !tm[i].rot->primed && k < tm[i].copies && st == SPARQ_OK; k++)
            st = run_chain(tm[i].fn, &tm[i].c, k, tm[i].copies, 1, &sec);
        if (stream_unsupported(&tm[i], st))
            st = SPARQ_OK;
        else
            tm[i].rot->primed = st == SPARQ_OK;
    }
    size_t order[MAX_STREAMS];
    uint32_t seed = 0x9e3779b9u;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (int r = -WARMUP; r < repeats && st == SPARQ_OK; r++) {
        shuffle(order, n, &seed);
        for (size_t j = 0; j < n && st == SPARQ_OK; j++) {
            timer *x = &tm[order[j]];
            if (x->off)
                continue;
            st = run_chain(x->fn, &x->c, x->rot->next, x->copies, chain, &sec);
            x->rot->next = (x->rot->next + (size_t)chain) % x->copies;
            if (stream_unsupported(x, st))
                st = SPARQ_OK;
            else if (st == SPARQ_OK && r >= 0)
                x->t[r] = sec;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (st == SPARQ_OK && !tm[i].off) {
            qsort(tm[i].t, (size_t)repeats, sizeof *tm[i].t, compare_doubles);
            tm[i].out->ok = 1;
            tm[i].out->median = tm[i].t[repeats / 2];
            tm[i].out->min = tm[i].t[0];
            tm[i].out->max = tm[i].t[repeats - 1];
        }
        free(tm[i].t);
        tm[i].t = NULL;
    }
    return st;
}

/* How many copies of `bytes_each` to rotate: enough for the rotation target, capped by
 * MAX_COPIES and by `budget` bytes in all (at least one). */
static size_t copies_for(const bench *b, uint64_t bytes_each, uint64_t budget)
{
    uint64_t target = (uint64_t)b->cfg.rotate_mib << 20;
    uint64_t n = (target + bytes_each - 1) / bytes_each;
    uint64_t cap = budget / bytes_each;
    if (n > MAX_COPIES)
        n = MAX_COPIES;
    if (n > cap)
        n = cap;
    return n < 1 ? 1 : (size_t)n;
}

/* ---------------------------------------------------------------------------------- */
/* Rotation sets: copies of one matrix (or dense buffer) to rotate over               */
/* ---------------------------------------------------------------------------------- */

typedef struct matrix_set {
    sparq_matrix **m;
    size_t count;
    uint64_t bytes_each; /* sparq_matrix_device_bytes of one copy */
    rotation rot;
} matrix_set;

static void matrix_set_free(matrix_set *s)
{
    for (size_t i = 0; s->m && i < s->count; i++)
        sparq_matrix_free(s->m[i]);
    free(s->m);
    memset(s, 0, sizeof *s);
}

/* Creates the first copy, sizes the rotation from its device bytes, creates the rest. */
static sparq_status matrix_set_create(bench *b, const sparq_packed *packed, sparq_path path,
                                      int w8a8, matrix_set *s)
{
    memset(s, 0, sizeof *s);
    /* allow_dense_copy: AUTO may route to the dense path where the break-even says dense
     * (the AUTO column measures that routing; no effect on SPARSE and DENSE) */
    sparq_matrix_options opt = {.path = path, .quantize_activations = w8a8,
                                .allow_dense_copy = 1};
    sparq_matrix *first = NULL;
    sparq_status st = sparq_matrix_create(b->ctx, packed, &opt, &first);
    if (st != SPARQ_OK)
        return st;
    s->bytes_each = sparq_matrix_device_bytes(first);
    size_t n = copies_for(b, s->bytes_each, b->set_budget);
    s->m = calloc(n, sizeof *s->m);
    if (!s->m) {
        sparq_matrix_free(first);
        return SPARQ_ERROR_OUT_OF_MEMORY;
    }
    s->m[0] = first;
    s->count = 1;
    while (s->count < n && st == SPARQ_OK) {
        st = sparq_matrix_create(b->ctx, packed, &opt, &s->m[s->count]);
        if (st == SPARQ_OK)
            s->count++;
    }
    if (st != SPARQ_OK && s->count >= 2) { /* the device ran out first: rotate fewer */
        fprintf(stderr, "  warning: rotation cut to %zu copies (%.0f MiB): %s\n", s->count,
                mib(s->bytes_each * s->count), sparq_last_error());
        st = SPARQ_OK;
    }
    if (st != SPARQ_OK)
        matrix_set_free(s);
    return st;
}

static void buffer_set_free(cl_mem *w, size_t count)
{
    for (size_t i = 0; w && i < count; i++)
        if (w[i])
            clReleaseMemObject(w[i]);
    free(w);
}

/* Device copies of the dense f32 weights for CLBlast. */
static sparq_status buffer_set_create(bench *b, const float *w, size_t rows, size_t cols,
                                      cl_mem **out, size_t *count)
{
    uint64_t bytes = (uint64_t)rows * cols * sizeof(float);
    size_t n = copies_for(b, bytes, b->set_budget);
    cl_mem *bufs = calloc(n, sizeof *bufs);
    if (!bufs)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    cl_int err = CL_SUCCESS;
    for (size_t i = 0; i < n && err == CL_SUCCESS; i++)
        bufs[i] = clCreateBuffer(sparq_context_cl_context(b->ctx),
                                 CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR, (size_t)bytes,
                                 (void *)w, &err);
    if (err != CL_SUCCESS) {
        buffer_set_free(bufs, n);
        fprintf(stderr, "bench_sparse: clCreateBuffer of %.1f MiB failed: %s\n", mib(bytes),
                sparq_status_string(err));
        return err;
    }
    *out = bufs;
    *count = n;
    return SPARQ_OK;
}

#ifdef SPARQ_BENCH_HAVE_OPENBLAS
static void host_set_free(float **w, size_t count)
{
    for (size_t i = 0; w && i < count; i++)
        free(w[i]);
    free(w);
}

/* Host copies of the dense f32 weights for OpenBLAS. */
static sparq_status host_set_create(bench *b, const float *w, size_t rows, size_t cols,
                                    float ***out, size_t *count)
{
    uint64_t bytes = (uint64_t)rows * cols * sizeof(float);
    size_t n = copies_for(b, bytes, b->host_budget);
    float **set = calloc(n, sizeof *set);
    if (!set)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    for (size_t i = 0; i < n; i++) {
        set[i] = malloc((size_t)bytes);
        if (!set[i]) {
            host_set_free(set, n);
            return SPARQ_ERROR_OUT_OF_MEMORY;
        }
        memcpy(set[i], w, (size_t)bytes);
    }
    *out = set;
    *count = n;
    return SPARQ_OK;
}
#endif

/* ---------------------------------------------------------------------------------- */
/* The roof                                                                           */
/* ---------------------------------------------------------------------------------- */

/* Sums blocks of 16 floats into 16 independent accumulators (vectorizable, never
 * latency-bound). On x86-64 with GCC or Clang an AVX2 clone is picked at run time where
 * the CPU has it, so the loop is not held to the SSE2 baseline without -march flags. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(__SANITIZE_ADDRESS__)
#define SUM_BLOCKS_AVX2 1
__attribute__((target("avx2"))) static float sum_blocks_avx2(const float *a, size_t blocks)
{
    float acc[16] = {0};
    for (size_t blk = 0; blk < blocks; blk++)
        for (int k = 0; k < 16; k++)
            acc[k] += a[blk * 16 + k];
    float total = 0.0f;
    for (int k = 0; k < 16; k++)
        total += acc[k];
    return total;
}
#endif

static float sum_blocks_base(const float *a, size_t blocks)
{
    float acc[16] = {0};
    for (size_t blk = 0; blk < blocks; blk++)
        for (int k = 0; k < 16; k++)
            acc[k] += a[blk * 16 + k];
    float total = 0.0f;
    for (int k = 0; k < 16; k++)
        total += acc[k];
    return total;
}

static int use_avx2(void)
{
#ifdef SUM_BLOCKS_AVX2
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

static const char *sum_block_isa(void)
{
    return use_avx2() ? "AVX2" : "baseline ISA";
}

static float sum_blocks(const float *a, size_t blocks, int avx2)
{
#ifdef SUM_BLOCKS_AVX2
    if (avx2)
        return sum_blocks_avx2(a, blocks);
#endif
    (void)avx2;
    return sum_blocks_base(a, blocks);
}

/* The C read loop's buffer: `bytes` of floats (whole blocks of 16), each thread's part
 * first touched by that thread. NULL on allocation failure. */
static float *read_buffer_create(size_t bytes, size_t *blocks)
{
    size_t n = bytes / sizeof(float);
    n -= n % 16;
    float *a = malloc(n * sizeof *a);
    if (!a)
        return NULL;
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    *blocks = n / 16;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int part = 0; part < nt; part++) {
        size_t b0 = *blocks * (size_t)part / (size_t)nt;
        size_t b1 = *blocks * (size_t)(part + 1) / (size_t)nt;
        for (size_t i = b0 * 16; i < b1 * 16; i++)
            a[i] = 1.0f;
    }
    return a;
}

/* One pass of the C read loop over blocks [first, first + count) of a, each OpenMP
 * thread summing its contiguous part; returns the seconds it took. */
static double read_pass(const float *a, size_t first, size_t count, int avx2)
{
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    static volatile float sink;
    float total = 0.0f;
    double t0 = now_seconds();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(+ : total)
#endif
    for (int part = 0; part < nt; part++) {
        size_t b0 = first + count * (size_t)part / (size_t)nt;
        size_t b1 = first + count * (size_t)(part + 1) / (size_t)nt;
        total += sum_blocks(a + b0 * 16, b1 - b0, avx2);
    }
    double t = now_seconds() - t0;
    sink = sink + total;
    return t;
}

/* The C read loop over the whole buffer: GB/s of the best of `repeats` passes after a
 * warm-up pass. */
static double c_read_gbs(const float *a, size_t blocks, int repeats)
{
    int avx2 = use_avx2();
    double best = 1e30;
    for (int r = 0; r <= repeats; r++) {
        double t = read_pass(a, 0, blocks, avx2);
        if (r > 0 && t < best) /* the first pass is a warm-up */
            best = t;
    }
    return (double)(blocks * 16 * sizeof(float)) / best * 1e-9;
}

/* The read stream: n passes of the C read loop, pass i over slice (first + i) mod copies
 * of the roof buffer (READ_SLICES slices, each larger than any last-level cache), timed
 * in turns with the row's calls so that each row's fraction of the roof can also be
 * taken against the bandwidth the machine gave in those same rounds. */
static sparq_status call_read(const call *c, size_t first, int n, size_t copies,
                              cl_event *event)
{
    *event = NULL;
    const bench *b = c->b;
    size_t slice = b->read_blocks / copies;
    int avx2 = use_avx2();
    for (int i = 0; i < n; i++)
        read_pass(b->read_buf, (first + (size_t)i) % copies * slice, slice, avx2);
    return SPARQ_OK;
}

/* The roof: sparq_bandwidth_measure (best of its read and copy kernels) and, on a CPU
 * device, the C read loop, measured first, while the OpenCL runtime's threads are idle;
 * the roof is the highest of them, so a weak component cannot flatter the fractions. */
static sparq_status measure_roof(bench *b)
{
    size_t bytes = b->cfg.roof_mib << 20;
    double c_gbs = 0.0;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    if (b->cpu_device) {
        b->read_buf = read_buffer_create(bytes, &b->read_blocks);
        if (!b->read_buf) {
            fprintf(stderr, "bench_sparse: cannot allocate %zu MiB for the C read loop\n",
                    b->cfg.roof_mib);
            return SPARQ_ERROR_OUT_OF_MEMORY;
        }
        c_gbs = c_read_gbs(b->read_buf, b->read_blocks, 5);
    }
    size_t dev_bytes = bytes;
    if (dev_bytes > b->caps->max_alloc_bytes)
        dev_bytes = (size_t)b->caps->max_alloc_bytes;
    if (2 * (uint64_t)dev_bytes > b->caps->global_mem_bytes / 2)
        dev_bytes = (size_t)(b->caps->global_mem_bytes / 4);
    sparq_bandwidth bw;
    sparq_status st = sparq_bandwidth_measure(b->ctx, b->q, dev_bytes, 5, &bw);
    if (st != SPARQ_OK)
        return report("bandwidth_measure", st);
    b->roof_gbs = bw.best_gbs;
    printf("roof: sparq_bandwidth_measure over %.0f MiB: read %.2f GB/s, copy %.2f GB/s\n",
           mib(bw.bytes), bw.read_gbs, bw.copy_gbs);
    if (b->cpu_device) {
        printf("roof: C OpenMP read loop (%d threads, 16 accumulators, %s) over %zu MiB: "
               "%.2f GB/s%s\n",
               threads, sum_block_isa(), b->cfg.roof_mib, c_gbs,
#ifdef __OPTIMIZE__
               ""
#else
               " (built without optimization: this component is weak)"
#endif
        );
        if (c_gbs > b->roof_gbs)
            b->roof_gbs = c_gbs;
    }
    printf("roof: %.2f GB/s (the highest of the above)\n", b->roof_gbs);
    return SPARQ_OK;
}

/* ---------------------------------------------------------------------------------- */
/* Output                                                                             */
/* ---------------------------------------------------------------------------------- */

static void json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* A JSON number, or null when not measured. */
static void json_ms(FILE *f, const char *key, const timing *t, double (*pick)(const timing *))
{
    fprintf(f, ", \"%s\": ", key);
    if (t->ok)
        fprintf(f, "%.6f", 1e3 * pick(t));
    else
        fputs("null", f);
}

static double pick_median(const timing *t) { return t->median; }
static double pick_min(const timing *t) { return t->min; }
static double pick_max(const timing *t) { return t->max; }

/* "csr_scalar", "dense/rowdot", "dense/tiled", "dense/CLBlast": the kernel named by
 * sparq_plan_explain. */
static void abbreviate_plan(const char *plan, char *out, size_t size)
{
    if (strncmp(plan, "dense path", 10) == 0) {
        snprintf(out, size, "dense/%s", strstr(plan, "CLBlast")               ? "CLBlast"
                                        : strstr(plan, "linear_dense_q_tiled") ? "tiled"
                                                                               : "rowdot");
        return;
    }
    const char *k = strstr(plan, "kernel ");
    if (!k) {
        snprintf(out, size, "?");
        return;
    }
    k += strlen("kernel ");
    if (strncmp(k, "spmm_", 5) == 0)
        k += 5;
    size_t n = strcspn(k, " ;,");
    snprintf(out, size, "%.*s", (int)n, k);
}

/* The dense alternatives' times of one row, measured in turns with its AUTO and SPARSE
 * calls. */
typedef struct dense_peers {
    timing dense;    /* sparq_linear on a PATH_DENSE matrix                           */
    timing clblast;  /* sparq_linear_dense(CLBLAST)                                   */
    timing openblas; /* cblas_sgemv / cblas_sgemm on the host                         */
    char dense_kernel[32];
} dense_peers;

/* One row of the report: one case at one batch. */
typedef struct case_row {
    size_t rows, cols, batch;
    const char *structure;
    double sparsity, density, bits;
    uint64_t packed_bytes;
    timing t_auto, t_sparse;
    timing t_native;         /* the native ceiling on the same packed bytes (batch 1)  */
    timing t_read;           /* CPU device: the C read loop over one slice, in turns   */
    int auto_dense;          /* AUTO resolved to the dense path                      */
    double auto_rotation_mib, sparse_rotation_mib;
    char plan[1024];         /* sparq_plan_explain of the AUTO matrix                */
    char note[256];          /* why something was not measured                       */
} case_row;

static double ratio(const timing *num, const timing *den)
{
    return num->ok && den->ok ? num->median / den->median : NAN;
}

static void print_header(const bench *b)
{
    printf("\n%-10s %-5s %5s %5s %6s %8s %8s %8s %7s %5s %5s %9s %9s %6s %6s %6s %7s  %s\n",
           "shape", "str", "spars", "batch", "bits/w", "med ms", "min ms", "max ms", "GB/s",
           "roof", "roofT", "sparse ms", "dense ms", "xCLB", "xOBLAS", "xNat", "/dense",
           "kernel");
    if (b->csv)
        fprintf(b->csv,
                "device,rows,cols,structure,encoding,sparsity,density,batch,bits_per_weight,"
                "packed_bytes,moved_bytes,median_ms,min_ms,max_ms,gbs,roof_gbs,roof_fraction,"
                "read_turns_gbs,read_turns_fraction,"
                "sparse_median_ms,dense_median_ms,clblast_median_ms,openblas_median_ms,"
                "native_median_ms,ratio_clblast,ratio_openblas,ratio_native,ratio_dense,flag,"
                "auto_dense_but_sparse_faster,"
                "kernel,rotation_mib,note\n");
}

static void print_opt(double v, const char *fmt, int width)
{
    if (isnan(v))
        printf(" %*s", width, "-");
    else
        printf(fmt, v);
}

static void csv_opt(FILE *f, double v)
{
    if (isnan(v))
        fputs(",", f);
    else
        fprintf(f, ",%.6g", v);
}

static void json_opt(FILE *f, const char *key, double v)
{
    if (isnan(v))
        fprintf(f, ", \"%s\": null", key);
    else
        fprintf(f, ", \"%s\": %.6g", key, v);
}

/* Prints one row to the terminal, the CSV and the JSON. */
static void emit_row(bench *b, const case_row *r, const dense_peers *p)
{
    double moved = (r->auto_dense ? 4.0 * (double)r->rows * (double)r->cols
                                  : (double)r->packed_bytes) +
                   4.0 * (double)r->batch * (double)(r->rows + r->cols);
    double gbs = r->t_auto.ok ? moved / r->t_auto.median * 1e-9 : NAN;
    double frac = gbs / b->roof_gbs;
    /* the C read loop's best GB/s in the same rounds, and the row's fraction of it */
    double slice_bytes = (double)(b->read_blocks / READ_SLICES) * 16.0 * sizeof(float);
    double read_gbs = r->t_read.ok ? slice_bytes / r->t_read.min * 1e-9 : NAN;
    double frac_turns = gbs / read_gbs;
    double x_clblast = ratio(&p->clblast, &r->t_auto);
    double x_openblas = ratio(&p->openblas, &r->t_auto);
    double x_native = ratio(&r->t_native, &r->t_auto);
    /* the best dense alternative on this device: the dense path or CLBlast */
    const timing *best_dense = &p->dense;
    if (p->clblast.ok && (!p->dense.ok || p->clblast.median < p->dense.median))
        best_dense = &p->clblast;
    double vs_dense = ratio(&r->t_auto, best_dense);
    int flag = !isnan(vs_dense) && vs_dense > FLAG_RATIO;
    /* AUTO fell back to the dense path although the sparse kernels were faster */
    double vs_sparse = ratio(&r->t_auto, &r->t_sparse);
    int misrouted = r->auto_dense && !isnan(vs_sparse) && vs_sparse > FLAG_RATIO;
    b->flagged += flag;
    b->misrouted += misrouted;
    b->unavailable += !r->t_auto.ok;
    char kernel[64] = "-";
    if (r->plan[0])
        abbreviate_plan(r->plan, kernel, sizeof kernel);
    char shape[32];
    snprintf(shape, sizeof shape, "%zux%zu", r->rows, r->cols);

    printf("%-10s %-5s %5.2f %5zu %6.2f", shape, r->structure, r->sparsity, r->batch, r->bits);
    if (r->t_auto.ok)
        printf(" %8.3f %8.3f %8.3f %7.2f %4.0f%%", 1e3 * r->t_auto.median, 1e3 * r->t_auto.min,
               1e3 * r->t_auto.max, gbs, 100.0 * frac);
    else
        printf(" %8s %8s %8s %7s %5s", "n/a", "-", "-", "-", "-");
    if (isnan(frac_turns))
        printf(" %5s", "-");
    else
        printf(" %4.0f%%", 100.0 * frac_turns);
    print_opt(r->t_sparse.ok ? 1e3 * r->t_sparse.median : NAN, " %9.3f", 9);
    print_opt(p->dense.ok ? 1e3 * p->dense.median : NAN, " %9.3f", 9);
    print_opt(x_clblast, " %6.2f", 6);
    print_opt(x_openblas, " %6.2f", 6);
    print_opt(x_native, " %6.2f", 6);
    print_opt(vs_dense, " %6.2f", 6);
    printf("%s %s%s%s%s\n", flag ? "!" : " ", kernel, misrouted ? " (SPARSE faster)" : "",
           r->note[0] ? "  " : "", r->note);
    fflush(stdout);

    const char *encoding = b->cfg.f16 ? "f16" : "f32";
    if (b->csv) {
        FILE *f = b->csv;
        fprintf(f, "\"%s\",%zu,%zu,%s,%s,%.4f,%.6f,%zu,%.4f,%llu,%.0f", b->caps->name, r->rows,
                r->cols, r->structure, encoding, r->sparsity, r->density, r->batch, r->bits,
                (unsigned long long)r->packed_bytes, moved);
        csv_opt(f, r->t_auto.ok ? 1e3 * r->t_auto.median : NAN);
        csv_opt(f, r->t_auto.ok ? 1e3 * r->t_auto.min : NAN);
        csv_opt(f, r->t_auto.ok ? 1e3 * r->t_auto.max : NAN);
        csv_opt(f, gbs);
        csv_opt(f, b->roof_gbs);
        csv_opt(f, frac);
        csv_opt(f, read_gbs);
        csv_opt(f, frac_turns);
        csv_opt(f, r->t_sparse.ok ? 1e3 * r->t_sparse.median : NAN);
        csv_opt(f, p->dense.ok ? 1e3 * p->dense.median : NAN);
        csv_opt(f, p->clblast.ok ? 1e3 * p->clblast.median : NAN);
        csv_opt(f, p->openblas.ok ? 1e3 * p->openblas.median : NAN);
        csv_opt(f, r->t_native.ok ? 1e3 * r->t_native.median : NAN);
        csv_opt(f, x_clblast);
        csv_opt(f, x_openblas);
        csv_opt(f, x_native);
        csv_opt(f, vs_dense);
        fprintf(f, ",%d,%d,%s,%.1f,\"", flag, misrouted, kernel, r->auto_rotation_mib);
        for (const char *s = r->note; *s; s++) /* CSV doubles its quotes */
            if (*s == '"')
                fputs("\"\"", f);
            else
                fputc(*s, f);
        fputs("\"\n", f);
    }
    if (b->json) {
        FILE *f = b->json;
        fprintf(f, "%s\n    {\"rows\": %zu, \"cols\": %zu, \"structure\": \"%s\", "
                   "\"encoding\": \"%s\", \"sparsity\": %.4f, \"density\": %.6f, "
                   "\"batch\": %zu, \"bits_per_weight\": %.4f, \"packed_bytes\": %llu, "
                   "\"moved_bytes\": %.0f",
                b->json_rows++ ? "," : "", r->rows, r->cols, r->structure, encoding,
                r->sparsity, r->density, r->batch, r->bits,
                (unsigned long long)r->packed_bytes, moved);
        json_ms(f, "auto_median_ms", &r->t_auto, pick_median);
        json_ms(f, "auto_min_ms", &r->t_auto, pick_min);
        json_ms(f, "auto_max_ms", &r->t_auto, pick_max);
        json_ms(f, "sparse_median_ms", &r->t_sparse, pick_median);
        json_ms(f, "sparse_min_ms", &r->t_sparse, pick_min);
        json_ms(f, "sparse_max_ms", &r->t_sparse, pick_max);
        json_ms(f, "dense_median_ms", &p->dense, pick_median);
        fputs(", \"dense_kernel\": ", f);
        json_string(f, p->dense_kernel);
        json_ms(f, "clblast_median_ms", &p->clblast, pick_median);
        json_ms(f, "openblas_median_ms", &p->openblas, pick_median);
        json_ms(f, "native_median_ms", &r->t_native, pick_median);
        json_opt(f, "gbs", gbs);
        json_opt(f, "roof_fraction", frac);
        json_opt(f, "read_turns_gbs", read_gbs);
        json_opt(f, "read_turns_fraction", frac_turns);
        json_opt(f, "ratio_clblast", x_clblast);
        json_opt(f, "ratio_openblas", x_openblas);
        json_opt(f, "ratio_native", x_native);
        json_opt(f, "ratio_dense", vs_dense);
        fprintf(f, ", \"auto_dense_but_sparse_faster\": %s", misrouted ? "true" : "false");
        fprintf(f, ", \"flag\": %s, \"auto_rotation_mib\": %.1f, \"sparse_rotation_mib\": %.1f",
                flag ? "true" : "false", r->auto_rotation_mib, r->sparse_rotation_mib);
        fputs(", \"kernel\": ", f);
        json_string(f, kernel);
        fputs(", \"plan\": ", f);
        json_string(f, r->plan);
        fputs(", \"note\": ", f);
        json_string(f, r->note);
        fputs("}", f);
    }
}

/* ---------------------------------------------------------------------------------- */
/* Measuring                                                                          */
/* ---------------------------------------------------------------------------------- */

/* Records an unsupported case in note (first reason only); other errors pass through. */
static sparq_status tolerate_unsupported(sparq_status st, const char *what, char *note,
                                         size_t size)
{
    if (st == SPARQ_ERROR_UNSUPPORTED) {
        if (!note[0])
            snprintf(note, size, "%s n/a: %s", what, sparq_last_error());
        return SPARQ_OK;
    }
    return st;
}

/* The dense alternatives of one shape, alive while its cases run: the dense path
 * (PATH_DENSE matrices), CLBlast's weight buffers and, on a CPU device, OpenBLAS's host
 * copies, each with its rotation state. */
typedef struct peer_sets {
    matrix_set dense;
    cl_mem *bufs; /* CLBlast; NULL when unavailable */
    size_t nbufs;
    rotation bufs_rot;
    char clblast_note[256]; /* why CLBlast is not measured */
    float **hw;             /* OpenBLAS; NULL without it */
    size_t nhw;
    rotation hw_rot;
} peer_sets;

static void peer_sets_free(peer_sets *p)
{
    matrix_set_free(&p->dense);
    buffer_set_free(p->bufs, p->nbufs);
#ifdef SPARQ_BENCH_HAVE_OPENBLAS
    host_set_free(p->hw, p->nhw);
#endif
    memset(p, 0, sizeof *p);
}

/* The rotation sets of the dense path, CLBlast and OpenBLAS for weights w. */
static sparq_status peer_sets_create(bench *b, const float *w, size_t rows, size_t cols,
                                     peer_sets *p)
{
    memset(p, 0, sizeof *p);
    sparq_packed *dense = NULL;
    sparq_status st = sparq_packed_create(NULL, rows, cols, w, &dense);
    if (st == SPARQ_OK)
        st = matrix_set_create(b, dense, SPARQ_PATH_DENSE, 0, &p->dense);
    sparq_packed_free(dense);
    if (st != SPARQ_OK)
        return report("dense path matrices", st);
    fprintf(stderr, "  dense path: %zu copies (%.0f MiB in rotation)\n", p->dense.count,
            mib(p->dense.bytes_each * p->dense.count));
    if ((st = buffer_set_create(b, w, rows, cols, &p->bufs, &p->nbufs)) != SPARQ_OK) {
        peer_sets_free(p);
        return report("CLBlast weight buffers", st);
    }
#ifdef SPARQ_BENCH_HAVE_OPENBLAS
    /* OpenBLAS natively on the host, only where the device is this same CPU */
    if (b->cpu_device && (st = host_set_create(b, w, rows, cols, &p->hw, &p->nhw)) != SPARQ_OK) {
        peer_sets_free(p);
        return report("OpenBLAS weight copies", st);
    }
#endif
    return SPARQ_OK;
}

/* Native copies of one packed matrix (the batch-1 ceiling on a CPU device). */
typedef struct native_set {
    native_gemv **g;
    size_t count;
    rotation rot;
} native_set;

static void native_set_free(native_set *s)
{
    for (size_t i = 0; s->g && i < s->count; i++)
        native_gemv_free(s->g[i]);
    free(s->g);
    memset(s, 0, sizeof *s);
}

/* Whether the native copy g computes W x (W: packed, dequantized) for the host X's first
 * row, each output within 1e-4 of the sum of |w x| of its row. */
static sparq_status native_check(bench *b, native_gemv *g, const sparq_packed *packed)
{
    size_t rows = sparq_packed_rows(packed), cols = sparq_packed_cols(packed);
    float *w = malloc(rows * cols * sizeof *w);
    if (!w)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    sparq_status st = sparq_packed_unpack(packed, w);
    if (st == SPARQ_OK)
        native_gemv_run(&g, 1, 0, 1, b->hx, b->hy);
    for (size_t m = 0; m < rows && st == SPARQ_OK; m++) {
        double sum = 0.0, mag = 0.0;
        for (size_t k = 0; k < cols; k++) {
            sum += (double)w[m * cols + k] * b->hx[k];
            mag += fabs((double)w[m * cols + k] * b->hx[k]);
        }
        if (fabs(b->hy[m] - sum) > 1e-4 * mag + 1e-6) {
            fprintf(stderr, "bench_sparse: the native kernel gives %.6g at row %zu, the "
                            "reference %.6g\n", b->hy[m], m, sum);
            st = SPARQ_ERROR_INTERNAL;
        }
    }
    free(w);
    return st;
}

/* The native rotation set of packed, checked once against the reference; an empty set
 * (and the reason on stderr) where native.c has no kernel for it. */
static sparq_status native_set_create(bench *b, const sparq_packed *packed, native_set *s)
{
    memset(s, 0, sizeof *s);
    char why[256] = "";
    native_gemv *first = native_gemv_create(packed, why, sizeof why);
    if (!first) {
        fprintf(stderr, "  native: %s\n", why);
        return SPARQ_OK;
    }
    sparq_status st = native_check(b, first, packed);
    size_t n = copies_for(b, sparq_packed_bytes(packed), b->host_budget);
    s->g = st == SPARQ_OK ? calloc(n, sizeof *s->g) : NULL;
    if (!s->g) {
        native_gemv_free(first);
        return report("native copies", st == SPARQ_OK ? SPARQ_ERROR_OUT_OF_MEMORY : st);
    }
    s->g[s->count++] = first;
    while (s->count < n && (s->g[s->count] = native_gemv_create(packed, why, sizeof why)))
        s->count++;
    if (s->count < n) {
        native_set_free(s);
        fprintf(stderr, "bench_sparse: %s\n", why);
        return SPARQ_ERROR_OUT_OF_MEMORY;
    }
    fprintf(stderr, "  native: %zu copies (checked against the reference)\n", s->count);
    return SPARQ_OK;
}

/* A rotation set of sparq_linear matrices for `path`, or an empty set and the reason in
 * every row's note when the library does not support the case yet. */
static sparq_status path_set_create(bench *b, const sparq_packed *packed, sparq_path path,
                                    int w8a8, case_row *rows, matrix_set *set)
{
    const config *cfg = &b->cfg;
    const int is_auto = path == SPARQ_PATH_AUTO;
    const char *what = is_auto ? "AUTO" : "SPARSE";
    sparq_status st = matrix_set_create(b, packed, path, w8a8, set);
    if (st == SPARQ_ERROR_UNSUPPORTED) {
        for (size_t i = 0; i < cfg->nbatches; i++)
            tolerate_unsupported(st, what, rows[i].note, sizeof rows[i].note);
        return SPARQ_OK;
    }
    if (st != SPARQ_OK)
        return report("matrix_create", st);
    double rotation = mib(set->bytes_each * set->count);
    fprintf(stderr, "  %s: %zu copies of %.2f MiB (%.0f MiB in rotation)\n", what, set->count,
            mib(set->bytes_each), rotation);
    for (size_t i = 0; i < cfg->nbatches; i++) {
        if (is_auto)
            rows[i].auto_rotation_mib = rotation;
        else
            rows[i].sparse_rotation_mib = rotation;
    }
    return SPARQ_OK;
}

/* One row: AUTO, SPARSE, the dense alternatives and (batch 1) the native ceiling timed
 * in turns at batch r->batch. */
static sparq_status measure_row(bench *b, matrix_set *aset, matrix_set *sset, peer_sets *ps,
                                native_set *ns, case_row *r, dense_peers *p)
{
    memset(p, 0, sizeof *p);
    call c = {.b = b, .rows = r->rows, .cols = r->cols, .batch = r->batch};
    char plan[1024];
    sparq_status st = sparq_plan_explain(ps->dense.m[0], r->batch, plan, sizeof plan);
    if (st != SPARQ_OK)
        return report("sparq_plan_explain (dense path)", st);
    abbreviate_plan(plan, p->dense_kernel, sizeof p->dense_kernel);
    if (aset->count) {
        st = sparq_plan_explain(aset->m[0], r->batch, r->plan, sizeof r->plan);
        r->auto_dense = st == SPARQ_OK && strncmp(r->plan, "dense path", 10) == 0;
        if ((st = tolerate_unsupported(st, "AUTO", r->note, sizeof r->note)) != SPARQ_OK)
            return report("sparq_plan_explain", st);
    }
    timer tm[MAX_STREAMS];
    size_t n = 0;
    if (aset->count) {
        c.m = aset->m;
        add_stream(tm, &n, call_linear, c, aset->count, &aset->rot, &r->t_auto, "AUTO", r->note,
                   sizeof r->note);
    }
    if (sset->count) {
        c.m = sset->m;
        add_stream(tm, &n, call_linear, c, sset->count, &sset->rot, &r->t_sparse, "SPARSE",
                   r->note, sizeof r->note);
    }
    c.m = ps->dense.m;
    add_stream(tm, &n, call_linear, c, ps->dense.count, &ps->dense.rot, &p->dense,
               "dense path", NULL, 0);
    const size_t clblast = n;
    if (ps->bufs) {
        c.w = ps->bufs;
        add_stream(tm, &n, call_clblast, c, ps->nbufs, &ps->bufs_rot, &p->clblast, "CLBlast",
                   ps->clblast_note, sizeof ps->clblast_note);
    }
#ifdef SPARQ_BENCH_HAVE_OPENBLAS
    if (ps->hw) {
        c.hw = ps->hw;
        add_stream(tm, &n, call_openblas, c, ps->nhw, &ps->hw_rot, &p->openblas, "OpenBLAS",
                   NULL, 0);
    }
#endif
    if (ns->count && r->batch == 1) {
        c.ng = ns->g;
        add_stream(tm, &n, call_native, c, ns->count, &ns->rot, &r->t_native, "native", NULL,
                   0);
    }
    if (b->read_buf) {
        add_stream(tm, &n, call_read, c, READ_SLICES, &b->read_rot, &r->t_read, "read loop",
                   NULL, 0);
    }
    st = time_interleaved(tm, n, b->cfg.repeats, b->cfg.chain);
    if (st != SPARQ_OK)
        return report("timing", st);
    if (ps->bufs && tm[clblast].off) { /* unavailable: said once, never called again */
        fprintf(stderr, "  CLBlast unavailable: %s\n", ps->clblast_note);
        buffer_set_free(ps->bufs, ps->nbufs);
        ps->bufs = NULL, ps->nbufs = 0;
    }
    return SPARQ_OK;
}

/* Prunes w to one structure and sparsity, packs it, measures AUTO and SPARSE at every
 * batch and prints the rows. */
static sparq_status run_case(bench *b, const float *w, size_t rows, size_t cols, int structure,
                             double sparsity, peer_sets *peers)
{
    const config *cfg = &b->cfg;
    size_t n = rows * cols;
    float *pruned = malloc(n * sizeof *pruned);
    if (!pruned)
        return report("allocating the pruned copy", SPARQ_ERROR_OUT_OF_MEMORY);
    memcpy(pruned, w, n * sizeof *pruned);
    fprintf(stderr, "[%zu-%zu/%zu] %zux%zu %s sparsity %.2f: pruning and packing\n",
            b->cases_done + 1, b->cases_done + cfg->nbatches, b->case_count, rows, cols,
            structure_names[structure], sparsity);
    sparq_pack_options opt = {0};
    opt.quant.encoding = cfg->f16 ? SPARQ_ENCODING_F16 : SPARQ_ENCODING_F32;
    const sparq_quant_options i8_row = {.encoding = SPARQ_ENCODING_I8,
                                        .granularity = SPARQ_SCALE_ROW};
    const sparq_quant_options i4_g128 = {.encoding = SPARQ_ENCODING_I4,
                                         .granularity = SPARQ_SCALE_GROUP, .group_size = 128};
    sparq_status st = SPARQ_OK;
    switch (structure) {
    case BS_CSR:
    case BS_CSR_I8:
        opt.structure = SPARQ_STRUCTURE_CSR;
        if (structure == BS_CSR_I8)
            opt.quant = i8_row;
        st = sparq_prune_magnitude(pruned, rows, cols, sparsity, SPARQ_PRUNE_SCOPE_GLOBAL, NULL,
                                   NULL, 1);
        break;
    case BS_NM24:
    case BS_NM24_I4:
        opt.structure = SPARQ_STRUCTURE_NM;
        opt.nm_n = 2, opt.nm_m = 4;
        if (structure == BS_NM24_I4)
            opt.quant = i4_g128;
        st = sparq_prune_nm(pruned, rows, cols, 2, 4, NULL, NULL, 1);
        break;
    case BS_I8ROW:
    case BS_W8A8:
        opt.quant = i8_row;
        break;
    case BS_I4G128:
        opt.quant = i4_g128;
        break;
    case BS_I4G32:
        opt.quant = i4_g128;
        opt.quant.group_size = 32;
        break;
    default:
        opt.structure = SPARQ_STRUCTURE_BSR;
        opt.block_rows = opt.block_cols = structure == BS_BSR4 ? 4 : 16;
        st = sparq_prune_blocks(pruned, rows, cols, opt.block_rows, opt.block_cols,
                                SPARQ_BLOCK_NORM_L2, sparsity, NULL, NULL, 1);
        break;
    }
    sparq_packed *packed = NULL;
    if (st == SPARQ_OK)
        st = sparq_packed_create(&opt, rows, cols, pruned, &packed);
    free(pruned);
    if (st != SPARQ_OK)
        return report("pruning and packing", st);

    case_row crow[MAX_LIST];
    memset(crow, 0, sizeof crow);
    for (size_t i = 0; i < cfg->nbatches; i++) {
        case_row *r = &crow[i];
        r->rows = rows, r->cols = cols, r->batch = cfg->batches[i];
        r->structure = structure_names[structure];
        r->sparsity = sparsity;
        r->density = (double)sparq_packed_stored_values(packed) / (double)n;
        r->bits = sparq_packed_bits_per_weight(packed);
        r->packed_bytes = sparq_packed_bytes(packed);
    }
    int w8a8 = structure == BS_W8A8;
    matrix_set aset = {0}, sset = {0};
    native_set nset = {0};
    st = path_set_create(b, packed, SPARQ_PATH_AUTO, w8a8, crow, &aset);
    if (st == SPARQ_OK)
        st = path_set_create(b, packed, SPARQ_PATH_SPARSE, w8a8, crow, &sset);
    if (st == SPARQ_OK && b->cpu_device && !w8a8 && cfg->batches[0] == 1)
        st = native_set_create(b, packed, &nset);
    sparq_packed_free(packed);
    for (size_t i = 0; i < cfg->nbatches && st == SPARQ_OK; i++) {
        dense_peers p;
        st = measure_row(b, &aset, &sset, peers, &nset, &crow[i], &p);
        if (st == SPARQ_OK)
            emit_row(b, &crow[i], &p);
    }
    matrix_set_free(&aset);
    matrix_set_free(&sset);
    native_set_free(&nset);
    b->cases_done += cfg->nbatches;
    return st;
}

/* Every structure and sparsity of one shape, with its dense alternatives. */
static sparq_status run_shape(bench *b, size_t rows, size_t cols)
{
    const config *cfg = &b->cfg;
    float *w = malloc(rows * cols * sizeof *w);
    if (!w)
        return report("allocating weights", SPARQ_ERROR_OUT_OF_MEMORY);
    fill_random(w, rows * cols);
    fprintf(stderr, "%zux%zu: dense alternatives (dense path, CLBlast%s)\n", rows, cols,
            b->cpu_device ? ", OpenBLAS" : "");
    peer_sets peers;
    sparq_status st = peer_sets_create(b, w, rows, cols, &peers);
    for (size_t s = 0; s < cfg->nstructures && st == SPARQ_OK; s++) {
        int structure = cfg->structures[s];
        if (single_sparsity(structure)) {
            double nominal = structure == BS_NM24 || structure == BS_NM24_I4 ? 0.5 : 0.0;
            st = run_case(b, w, rows, cols, structure, nominal, &peers);
            continue;
        }
        for (size_t k = 0; k < cfg->nsparsities && st == SPARQ_OK; k++)
            st = run_case(b, w, rows, cols, structure, cfg->sparsities[k], &peers);
    }
    peer_sets_free(&peers);
    free(w);
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* main                                                                               */
/* ---------------------------------------------------------------------------------- */

static FILE *open_output(const char *path)
{
    if (!path)
        return NULL;
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "bench_sparse: cannot write %s\n", path);
    return f;
}

static void print_setup(const bench *b)
{
    const config *cfg = &b->cfg;
    printf("device: %s (%s), %s, %u compute units, global memory %.0f MiB, largest buffer "
           "%.0f MiB\n",
           b->caps->name, b->caps->platform_name, b->cpu_device ? "CPU" : "not a CPU",
           b->caps->compute_units, mib(b->caps->global_mem_bytes), mib(b->caps->max_alloc_bytes));
#ifdef SPARQ_BENCH_HAVE_OPENBLAS
    if (b->cpu_device)
        printf("OpenBLAS: %d threads (its default), %s\n", openblas_get_num_threads(),
               openblas_get_config());
#else
    printf("OpenBLAS: not built in (pkg-config openblas not found)\n");
#endif
    if (cfg->chain == 1)
        printf("values: %s; timing: median [min, max] of %d calls after %d warm-up rounds, "
               "wall time around each call + clWaitForEvents (latency); per row, AUTO, SPARSE, "
               "the dense path, CLBlast, OpenBLAS and (batch 1) the native ceiling called in "
               "turns, one call each per round\n",
               cfg->f16 ? "f16" : "f32", cfg->repeats, WARMUP);
    else
        printf("values: %s; timing: median [min, max] of %d samples after %d warm-up rounds, "
               "each %d calls on consecutive copies enqueued back to back, wall time to the "
               "last one's clWaitForEvents / %d (steady state); per row, AUTO, SPARSE, the "
               "dense path, CLBlast, OpenBLAS and (batch 1) the native ceiling sampled in turns, "
               "one sample each per round\n",
               cfg->f16 ? "f16" : "f32", cfg->repeats, WARMUP, cfg->chain, cfg->chain);
    printf("rotation: >= %zu MiB of weights per measured set (separate sparq_matrix objects / "
           "buffers), at most %d copies and %.0f MiB per set (a quarter of the device's "
           "global memory, at most 2 GiB); every copy touched once before timing\n",
           cfg->rotate_mib, MAX_COPIES, mib(b->set_budget));
    printf("GB/s: (packed weight bytes, or dense f32 bytes when AUTO runs the dense path) + "
           "X + Y bytes, over the median\n");
    printf("idle threads of the host peers sleep: OMP_WAIT_POLICY=%s, "
           "OPENBLAS_THREAD_TIMEOUT=%s (2^n cycles of spinning)\n",
           getenv("OMP_WAIT_POLICY"), getenv("OPENBLAS_THREAD_TIMEOUT"));
    if (b->cpu_device)
        printf("xNat (batch 1): the native ceiling, hand-written AVX2 C on the same packed "
               "bytes with sparq's algorithm and the OpenMP threads (bench/native.c), median "
               "/ sparq_linear median (1: sparq as fast as native code)\n");
    if (b->cpu_device)
        printf("roofT: GB/s over the C read loop's best GB/s in the same rounds (one pass "
               "over a %zu MiB slice of its buffer per call, timed in turns with the row's "
               "calls), so that a machine whose bandwidth drifts compares like with like; "
               "roof: over the best roof measured once at the start\n",
               b->cfg.roof_mib / READ_SLICES);
    printf("xCLB, xOBLAS: peer median / sparq_linear (AUTO) median (> 1: sparq faster); "
           "/dense: sparq_linear median / the faster of the dense path and CLBlast "
           "('!' when > %.2f)\n",
           FLAG_RATIO);
}

/* Idle peer threads must sleep, not spin: an OpenMP or OpenBLAS worker left spinning by
 * one stream slows the next stream on the same cores (OpenBLAS spins ~2^28 cycles after
 * each call by default, libgomp ~300000 pauses). Both libraries read their settings when
 * they load, before main, so the program sets them (unless the caller did) and runs
 * itself again, once. */
static void sleep_idle_peer_threads(char **argv)
{
    if (getenv("OMP_WAIT_POLICY") && getenv("OPENBLAS_THREAD_TIMEOUT"))
        return;
    setenv("OMP_WAIT_POLICY", "passive", 0);
    setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
    execv("/proc/self/exe", argv);
    fprintf(stderr, "bench_sparse: could not run itself again with sleeping peer threads; "
                    "the peers' idle threads may spin\n");
}

int main(int argc, char **argv)
{
    sleep_idle_peer_threads(argv);
    bench b;
    memset(&b, 0, sizeof b);
    if (!parse_options(argc, argv, &b.cfg)) {
        usage(stderr);
        return 2;
    }
    const config *cfg = &b.cfg;
    sparq_status st = sparq_context_create(NULL, &b.ctx);
    if (st != SPARQ_OK)
        return report("context", st), 1;
    b.q = sparq_context_queue(b.ctx);
    b.caps = sparq_context_caps(b.ctx);
    b.cpu_device = b.caps->type == SPARQ_DEVICE_TYPE_CPU;
    b.set_budget = b.caps->global_mem_bytes / 4;
    if (b.set_budget > (2ull << 30))
        b.set_budget = 2ull << 30;
    b.host_budget = 2ull << 30;

    size_t max_rows = 0, max_cols = 0, max_batch = cfg->batches[cfg->nbatches - 1];
    for (size_t i = 0; i < cfg->nshapes; i++) {
        max_rows = cfg->shapes[i][0] > max_rows ? cfg->shapes[i][0] : max_rows;
        max_cols = cfg->shapes[i][1] > max_cols ? cfg->shapes[i][1] : max_cols;
    }
    size_t per_shape = 0;
    for (size_t s = 0; s < cfg->nstructures; s++)
        per_shape += single_sparsity(cfg->structures[s]) ? 1 : cfg->nsparsities;
    b.case_count = cfg->nshapes * per_shape * cfg->nbatches;

    cl_int err = CL_SUCCESS, err2 = CL_SUCCESS;
    b.hx = malloc(max_batch * max_cols * sizeof(float));
    b.hy = malloc(max_batch * max_rows * sizeof(float));
    cl_context cl = sparq_context_cl_context(b.ctx);
    if (b.hx && b.hy) {
        fill_random(b.hx, max_batch * max_cols);
        b.x = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                             max_batch * max_cols * sizeof(float), b.hx, &err);
        b.y = clCreateBuffer(cl, CL_MEM_READ_WRITE, max_batch * max_rows * sizeof(float), NULL,
                             &err2);
    }
    b.csv = open_output(cfg->csv_path);
    b.json = open_output(cfg->json_path);
    if (!b.hx || !b.hy || err != CL_SUCCESS || err2 != CL_SUCCESS ||
        (cfg->csv_path && !b.csv) || (cfg->json_path && !b.json)) {
        fprintf(stderr, "bench_sparse: setting up activations or output files failed\n");
        st = SPARQ_ERROR_IO;
    }

    if (st == SPARQ_OK) {
        print_setup(&b);
        st = measure_roof(&b);
    }
    if (st == SPARQ_OK) {
        printf("cases: %zu shapes x %zu structure/sparsity pairs x %zu batches = %zu (each: "
               "AUTO and SPARSE, timed in turns with the dense path, CLBlast%s)\n",
               cfg->nshapes, per_shape, cfg->nbatches, b.case_count,
               b.cpu_device ? ", OpenBLAS" : "");
        fprintf(stderr, "bench_sparse: %zu cases\n", b.case_count);
        if (b.json) {
            b.json_started = 1;
            fputs("{\n  \"device\": ", b.json);
            json_string(b.json, b.caps->name);
            fputs(", \"platform\": ", b.json);
            json_string(b.json, b.caps->platform_name);
            fprintf(b.json, ", \"cpu_device\": %s, \"roof_gbs\": %.4f, \"repeats\": %d, "
                            "\"chain\": %d, \"warmup\": %d, \"rotate_mib\": %zu, "
                            "\"encoding\": \"%s\",\n"
                            "  \"cases\": [",
                    b.cpu_device ? "true" : "false", b.roof_gbs, cfg->repeats, cfg->chain, WARMUP,
                    cfg->rotate_mib, cfg->f16 ? "f16" : "f32");
        }
        print_header(&b);
    }
    for (size_t s = 0; s < cfg->nshapes && st == SPARQ_OK; s++)
        st = run_shape(&b, cfg->shapes[s][0], cfg->shapes[s][1]);

    if (b.json_started) {
        fprintf(b.json,
                "\n  ],\n  \"complete\": %s, \"flagged\": %d, \"auto_dense_but_sparse_faster\": "
                "%d, \"unavailable\": %d\n}\n",
                st == SPARQ_OK ? "true" : "false", b.flagged, b.misrouted, b.unavailable);
    }
    if (st == SPARQ_OK)
        printf("\n%zu rows; %d flagged '!' (sparq_linear > %.2fx the best dense alternative); "
               "%d where AUTO ran the dense path but SPARSE was > %.2fx faster; %d not "
               "runnable yet (n/a)\n",
               b.case_count, b.flagged, FLAG_RATIO, b.misrouted, FLAG_RATIO, b.unavailable);
    if (b.csv)
        fclose(b.csv);
    if (b.json)
        fclose(b.json);
    if (b.x)
        clReleaseMemObject(b.x);
    if (b.y)
        clReleaseMemObject(b.y);
    free(b.hx);
    free(b.hy);
    free(b.read_buf);
    sparq_context_free(b.ctx);
    return st == SPARQ_OK ? 0 : 1;
}
