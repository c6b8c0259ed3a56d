/* SPDX-License-Identifier: Apache-2.0 */
/* bench_sparse_run.c - how bench_sparse measures: the timed calls (sparq_linear, CLBlast,
 * OpenBLAS, the native ceiling, the read loop), the rotation sets they rotate over, the
 * timing in turns, and the cases of a shape: pruned, packed, measured, emitted.
 */
#include "bench_sparse_parts.h"
#include "common.h"
#include "native.h"

#ifdef SPARQ_BENCH_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------- */
/* The calls being timed, and the timing in turns                                     */
/* ---------------------------------------------------------------------------------- */

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

/* n passes of the C read loop over slices of the roof buffer (bench_sparse_roof.c), the
 * stream that measures the bandwidth the machine gives in each row's rounds. */
static sparq_status call_read(const call *c, size_t first, int n, size_t copies,
                              cl_event *event)
{
    *event = NULL;
    read_slices(c->b, first, (size_t)n, copies);
    return SPARQ_OK;
}

/* One timed sample: `chain` calls on consecutive copies from `first` (of `copies`); wall
 * time from before the first call to the end of clWaitForEvents on the last call's event
 * (the queue is in order, so its completion is the chain's), divided by `chain`. */
static sparq_status run_chain(call_fn fn, const call *c, size_t first, size_t copies,
                              int chain, double *seconds)
{
    cl_event ev = NULL;
    double t0 = bench_now_seconds();
    sparq_status st = fn(c, first, chain, copies, &ev);
    if (st == SPARQ_OK && ev) {
        cl_int err = clWaitForEvents(1, &ev);
        if (err != CL_SUCCESS)
            st = err;
    }
    double t1 = bench_now_seconds();
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

/* Puts order[0..n) in a random order (Fisher-Yates, from the splitmix64 state *state). */
static void shuffle(size_t *order, size_t n, uint64_t *state)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(bench_uniform(state) * (double)i);
        if (j >= i) /* bench_uniform may round up to 1.0 */
            j = i - 1;
        size_t t = order[i - 1];
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
    uint64_t seed = 0x9e3779b9u;
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
            bench_summary sum = bench_summarize(tm[i].t, (size_t)repeats);
            tm[i].out->ok = 1;
            tm[i].out->median = sum.median;
            tm[i].out->min = sum.min;
            tm[i].out->max = sum.max;
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
                bench_mib(s->bytes_each * s->count), sparq_last_error());
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
        fprintf(stderr, "bench_sparse: clCreateBuffer of %.1f MiB failed: %s\n", bench_mib(bytes),
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
        return bench_fail("bench_sparse", "dense path matrices", st);
    fprintf(stderr, "  dense path: %zu copies (%.0f MiB in rotation)\n", p->dense.count,
            bench_mib(p->dense.bytes_each * p->dense.count));
    if ((st = buffer_set_create(b, w, rows, cols, &p->bufs, &p->nbufs)) != SPARQ_OK) {
        peer_sets_free(p);
        return bench_fail("bench_sparse", "CLBlast weight buffers", st);
    }
#ifdef SPARQ_BENCH_HAVE_OPENBLAS
    /* OpenBLAS natively on the host, only where the device is this same CPU */
    if (b->cpu_device && (st = host_set_create(b, w, rows, cols, &p->hw, &p->nhw)) != SPARQ_OK) {
        peer_sets_free(p);
        return bench_fail("bench_sparse", "OpenBLAS weight copies", st);
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
        return bench_fail("bench_sparse", "native copies",
                             st == SPARQ_OK ? SPARQ_ERROR_OUT_OF_MEMORY : st);
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
        return bench_fail("bench_sparse", "matrix_create", st);
    double rotation = bench_mib(set->bytes_each * set->count);
    fprintf(stderr, "  %s: %zu copies of %.2f MiB (%.0f MiB in rotation)\n", what, set->count,
            bench_mib(set->bytes_each), rotation);
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
    sparq_plan_info info;
    sparq_status st = sparq_plan_info_get(ps->dense.m[0], r->batch, &info);
    if (st != SPARQ_OK)
        return bench_fail("bench_sparse", "sparq_plan_info_get (dense path)", st);
    plan_kernel_name(&info, p->dense_kernel, sizeof p->dense_kernel);
    if (aset->count) {
        st = sparq_plan_explain(aset->m[0], r->batch, r->plan, sizeof r->plan);
        if (st == SPARQ_OK)
            st = sparq_plan_info_get(aset->m[0], r->batch, &info);
        if (st == SPARQ_OK)
            plan_kernel_name(&info, r->kernel, sizeof r->kernel);
        r->auto_dense = st == SPARQ_OK && info.path == SPARQ_PATH_DENSE;
        if ((st = tolerate_unsupported(st, "AUTO", r->note, sizeof r->note)) != SPARQ_OK)
            return bench_fail("bench_sparse", "sparq_plan_explain", st);
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
        return bench_fail("bench_sparse", "timing", st);
    if (ps->bufs && tm[clblast].off) { /* unavailable: said once, never called again */
        fprintf(stderr, "  CLBlast unavailable: %s\n", ps->clblast_note);
        buffer_set_free(ps->bufs, ps->nbufs);
        ps->bufs = NULL, ps->nbufs = 0;
    }
    return SPARQ_OK;
}

/* *packed: w pruned to one format and sparsity (a copy; w is kept) and packed: CSR by
 * magnitude over the whole matrix, BSR blocks by L2 norm, N:M in every M columns. */
static sparq_status prune_and_pack(const bench *b, const float *w, size_t rows, size_t cols,
                                   const bench_format *f, double sparsity,
                                   sparq_packed **packed)
{
    const config *cfg = &b->cfg;
    size_t n = rows * cols;
    float *pruned = malloc(n * sizeof *pruned);
    if (!pruned)
        return bench_fail("bench_sparse", "allocating the pruned copy",
                          SPARQ_ERROR_OUT_OF_MEMORY);
    memcpy(pruned, w, n * sizeof *pruned);
    fprintf(stderr, "[%zu-%zu/%zu] %zux%zu %s sparsity %.2f: pruning and packing\n",
            b->cases_done + 1, b->cases_done + cfg->nbatches, b->case_count, rows, cols,
            f->name, sparsity);
    const sparq_pack_options *opt = &f->format;
    sparq_status st = SPARQ_OK;
    switch (opt->structure) {
    case SPARQ_STRUCTURE_CSR:
        st = sparq_prune_magnitude(pruned, rows, cols, sparsity, SPARQ_PRUNE_SCOPE_GLOBAL, NULL,
                                   NULL, 1);
        break;
    case SPARQ_STRUCTURE_BSR:
        st = sparq_prune_blocks(pruned, rows, cols, opt->block_rows, opt->block_cols,
                                SPARQ_BLOCK_NORM_L2, sparsity, NULL, NULL, 1);
        break;
    case SPARQ_STRUCTURE_NM:
        st = sparq_prune_nm(pruned, rows, cols, opt->nm_n, opt->nm_m, NULL, NULL, 1);
        break;
    default: /* dense */
        break;
    }
    if (st == SPARQ_OK)
        st = sparq_packed_create(opt, rows, cols, pruned, packed);
    free(pruned);
    if (st != SPARQ_OK)
        return bench_fail("bench_sparse", "pruning and packing", st);
    return SPARQ_OK;
}

/* Prunes w to one format and sparsity, packs it, measures AUTO and SPARSE at every
 * batch and prints the rows. */
static sparq_status run_case(bench *b, const float *w, size_t rows, size_t cols,
                             const bench_format *f, double sparsity, peer_sets *peers)
{
    const config *cfg = &b->cfg;
    size_t n = rows * cols;
    sparq_packed *packed = NULL;
    sparq_status st = prune_and_pack(b, w, rows, cols, f, sparsity, &packed);
    if (st != SPARQ_OK)
        return st;
    case_row crow[MAX_LIST];
    memset(crow, 0, sizeof crow);
    for (size_t i = 0; i < cfg->nbatches; i++) {
        case_row *r = &crow[i];
        r->rows = rows, r->cols = cols, r->batch = cfg->batches[i];
        r->format = f->name;
        r->sparsity = sparsity;
        r->density = (double)sparq_packed_stored_values(packed) / (double)n;
        r->bits = sparq_packed_bits_per_weight(packed);
        r->packed_bytes = sparq_packed_bytes(packed);
    }
    int w8a8 = f->w8a8;
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

/* Every format and sparsity of one shape, with its dense alternatives. */
sparq_status run_shape(bench *b, size_t rows, size_t cols)
{
    const config *cfg = &b->cfg;
    float *w = malloc(rows * cols * sizeof *w);
    if (!w)
        return bench_fail("bench_sparse", "allocating weights", SPARQ_ERROR_OUT_OF_MEMORY);
    bench_fill_uniform(w, rows * cols, -1.0f, 1.0f, &b->rng);
    fprintf(stderr, "%zux%zu: dense alternatives (dense path, CLBlast%s)\n", rows, cols,
            b->cpu_device ? ", OpenBLAS" : "");
    peer_sets peers;
    sparq_status st = peer_sets_create(b, w, rows, cols, &peers);
    for (size_t i = 0; i < cfg->nformats && st == SPARQ_OK; i++) {
        const bench_format *f = &cfg->formats[i];
        if (!f->pruned) { /* dense: 0; N:M: its own sparsity, 1 - N/M */
            double nominal = f->format.structure == SPARQ_STRUCTURE_NM
                                 ? 1.0 - (double)f->format.nm_n / f->format.nm_m
                                 : 0.0;
            st = run_case(b, w, rows, cols, f, nominal, &peers);
            continue;
        }
        for (size_t k = 0; k < cfg->nsparsities && st == SPARQ_OK; k++)
            st = run_case(b, w, rows, cols, f, cfg->sparsities[k], &peers);
    }
    peer_sets_free(&peers);
    free(w);
    return st;
}
