/* SPDX-License-Identifier: Apache-2.0 */
/* bench_soak.c - the soak run: T threads (4) call sparq_linear on one context for S
 * seconds (600) with mixed formats, random batches, activations and biases, each thread
 * on its own queue; every 100th call is read back and checked against a double
 * reference, and every few seconds the process's resident memory is sampled. A thread
 * also recreates one matrix now and then (uploads and frees under load). Prints the
 * calls, errors, wrong outputs and the memory samples; exits 1 on any error or wrong
 * output, or when memory grew more than 10 % (at least 16 MB) from the first tenth of
 * the run to the end.
 *
 *   bench_soak [--seconds S] [--threads T] [--check-every N] [--sample-every S]
 */
#include "common.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PROGRAM "bench_soak"

enum { ROWS = 384, COLS = 512, MAX_BATCH = 48, FORMATS = 7, MAX_THREADS = 16 };

typedef struct soak_format {
    const char *spelling;     /* sparq_format_parse */
    int quantize_activations; /* W8A8 */
    int allow_dense_copy;
    double tolerance;         /* largest error relative to max(1, |Y|max) */
} soak_format;

static const soak_format formats[FORMATS] = {
    {"csr", 0, 0, 1e-4},          {"csr+i8-row", 0, 1, 1e-4}, {"bsr4x4+f16", 0, 0, 2e-3},
    {"2:4+i4-g128", 0, 0, 1e-4},  {"dense+i8-row", 1, 0, 3e-2}, {"dense+i4-g32", 0, 0, 1e-4},
    {"bsr16x16", 0, 0, 1e-4},
};

/* One format's matrix as the threads share it; slot 0's is recreated now and then under
 * its lock (the others are fixed for the run). */
typedef struct soak_matrix {
    pthread_rwlock_t lock;
    sparq_matrix *matrix;
    float *unpacked; /* ROWS x COLS: the weights as the matrix holds them */
    sparq_packed *packed;
} soak_matrix;

typedef struct soak_shared {
    sparq_context *ctx;
    soak_matrix m[FORMATS];
    double end_time;
    unsigned check_every;
    atomic_uint_fast64_t calls, checked, errors, wrong, recreated;
    atomic_uint_fast64_t calls_by_format[FORMATS];
} soak_shared;

typedef struct soak_thread {
    soak_shared *s;
    unsigned index;
    pthread_t id;
} soak_thread;

/* Weights pruned for the format's structure (CSR 90 %, BSR 75 % of blocks, N:M by its
 * pattern, dense unpruned), packed, and their unpacked values. */
static sparq_status make_packed(const soak_format *f, uint64_t seed, sparq_packed **packed,
                                float *unpacked)
{
    sparq_pack_options pack;
    sparq_status st = sparq_format_parse(f->spelling, &pack);
    if (st != SPARQ_OK)
        return st;
    float *w = malloc(sizeof(float) * ROWS * COLS);
    if (!w)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    bench_fill_uniform(w, (size_t)ROWS * COLS, -1.0f, 1.0f, &seed);
    if (pack.structure == SPARQ_STRUCTURE_CSR)
        st = sparq_prune_magnitude(w, ROWS, COLS, 0.9, SPARQ_PRUNE_SCOPE_ROW, NULL, NULL, 1);
    else if (pack.structure == SPARQ_STRUCTURE_BSR)
        st = sparq_prune_blocks(w, ROWS, COLS, pack.block_rows, pack.block_cols,
                                SPARQ_BLOCK_NORM_L2, 0.75, NULL, NULL, 1);
    else if (pack.structure == SPARQ_STRUCTURE_NM)
        st = sparq_prune_nm(w, ROWS, COLS, pack.nm_n, pack.nm_m, NULL, NULL, 1);
    if (st == SPARQ_OK)
        st = sparq_packed_create(&pack, ROWS, COLS, w, packed);
    if (st == SPARQ_OK)
        st = sparq_packed_unpack(*packed, unpacked);
    free(w);
    return st;
}

static sparq_status make_matrix(sparq_context *ctx, const soak_format *f,
                                const sparq_packed *packed, sparq_matrix **m)
{
    sparq_matrix_options mo = {.quantize_activations = f->quantize_activations,
                               .allow_dense_copy = f->allow_dense_copy};
    return sparq_matrix_create(ctx, packed, &mo, m);
}

/* Largest |y - ref| / max(1, |ref|max) over batch x ROWS, with the activation applied
 * to the reference; NaN or Inf in y count as wrong. */
static double check_error(const float *x, const float *w, const float *bias, int activation,
                          size_t batch, const float *y)
{
    double worst = 0, scale = 1;
    for (size_t b = 0; b < batch; b++)
        for (size_t r = 0; r < ROWS; r++) {
            double acc = bias ? bias[r] : 0.0;
            for (size_t c = 0; c < COLS; c++)
                acc += (double)x[b * COLS + c] * w[r * COLS + c];
            if (activation == SPARQ_ACTIVATION_RELU)
                acc = acc < 0 ? 0 : acc;
            else if (activation == SPARQ_ACTIVATION_GELU)
                acc = 0.5 * acc *
                      (1 + tanh(0.7978845608028654 * (acc + 0.044715 * acc * acc * acc)));
            double got = y[b * ROWS + r];
            if (!isfinite(got))
                return INFINITY;
            scale = fabs(acc) > scale ? fabs(acc) : scale;
            double err = fabs(got - acc);
            worst = err > worst ? err : worst;
        }
    return worst / scale;
}

static void *soak_worker(void *arg)
{
    soak_thread *t = arg;
    soak_shared *s = t->s;
    uint64_t rng = 0x50a4ull + t->index * 7919;
    cl_int err = CL_SUCCESS;
    cl_context cl = sparq_context_cl_context(s->ctx);
    cl_command_queue q = clCreateCommandQueue(cl, sparq_context_cl_device(s->ctx), 0, &err);
    float *x = malloc(sizeof(float) * MAX_BATCH * COLS);
    float *y = malloc(sizeof(float) * MAX_BATCH * ROWS);
    float bias[ROWS];
    bench_fill_uniform(bias, ROWS, -0.5f, 0.5f, &rng);
    const cl_mem_flags rw = CL_MEM_READ_WRITE;
    cl_mem dx = clCreateBuffer(cl, rw, sizeof(float) * MAX_BATCH * COLS, NULL, &err);
    cl_mem dy = clCreateBuffer(cl, rw, sizeof(float) * MAX_BATCH * ROWS, NULL, &err);
    cl_mem db = clCreateBuffer(cl, rw | CL_MEM_COPY_HOST_PTR, sizeof bias, bias, &err);
    if (!q || !x || !y || !dx || !dy || !db) {
        fprintf(stderr, PROGRAM ": thread %u: could not set up its queue and buffers\n",
                t->index);
        atomic_fetch_add(&s->errors, 1);
        goto done;
    }
    for (uint64_t call = 1; bench_now_seconds() < s->end_time; call++) {
        unsigned f = (unsigned)(bench_uniform(&rng) * FORMATS) % FORMATS;
        size_t batch = 1 + (size_t)(bench_uniform(&rng) * MAX_BATCH) % MAX_BATCH;
        int activation = (int)(call % 3);
        bool with_bias = call % 2 == 0, check = call % s->check_every == 0;
        if (t->index == 0 && call % 500 == 0) { /* an upload and a free under load */
            soak_matrix *sm = &s->m[0];
            sparq_matrix *fresh = NULL;
            if (make_matrix(s->ctx, &formats[0], sm->packed, &fresh) != SPARQ_OK) {
                fprintf(stderr, PROGRAM ": recreate: %s\n", sparq_last_error());
                atomic_fetch_add(&s->errors, 1);
            } else {
                pthread_rwlock_wrlock(&sm->lock);
                sparq_matrix *old = sm->matrix;
                sm->matrix = fresh;
                pthread_rwlock_unlock(&sm->lock);
                sparq_matrix_free(old);
                atomic_fetch_add(&s->recreated, 1);
            }
        }
        if (check) {
            bench_fill_uniform(x, batch * COLS, -1.0f, 1.0f, &rng);
            clEnqueueWriteBuffer(q, dx, CL_FALSE, 0, sizeof(float) * batch * COLS, x, 0, NULL,
                                 NULL);
        }
        soak_matrix *sm = &s->m[f];
        sparq_epilogue ep = {.bias = with_bias ? db : NULL,
                             .activation = (sparq_activation)activation};
        pthread_rwlock_rdlock(&sm->lock);
        sparq_status st = sparq_linear(sm->matrix, q, dx, 0, dy, 0, batch, &ep, 0, NULL, NULL);
        /* a freed matrix must not be mid-call: hold it until the call has run */
        err = st == SPARQ_OK && (check || call % 16 == 0) ? clFinish(q) : CL_SUCCESS;
        pthread_rwlock_unlock(&sm->lock);
        atomic_fetch_add(&s->calls, 1);
        atomic_fetch_add(&s->calls_by_format[f], 1);
        if (st != SPARQ_OK || err != CL_SUCCESS) {
            fprintf(stderr, PROGRAM ": %s batch %zu: %s\n", formats[f].spelling, batch,
                    st != SPARQ_OK ? sparq_last_error() : "clFinish failed");
            atomic_fetch_add(&s->errors, 1);
            continue;
        }
        if (!check)
            continue;
        clEnqueueReadBuffer(q, dy, CL_TRUE, 0, sizeof(float) * batch * ROWS, y, 0, NULL, NULL);
        double e = check_error(x, sm->unpacked, with_bias ? bias : NULL, activation, batch, y);
        atomic_fetch_add(&s->checked, 1);
        if (!(e <= formats[f].tolerance)) {
            fprintf(stderr, PROGRAM ": WRONG %s batch %zu act %d: error %g\n",
                    formats[f].spelling, batch, activation, e);
            atomic_fetch_add(&s->wrong, 1);
        }
    }
done:
    if (q)
        clFinish(q), clReleaseCommandQueue(q);
    if (dx)
        clReleaseMemObject(dx);
    if (dy)
        clReleaseMemObject(dy);
    if (db)
        clReleaseMemObject(db);
    free(x), free(y);
    return NULL;
}

static double rss_mb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, resident = 0;
    int got = f ? fscanf(f, "%llu %llu", &size, &resident) : 0;
    if (f)
        fclose(f);
    return got == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) / 1e6 : 0.0;
}

int main(int argc, char **argv)
{
    double seconds = 600, sample_every = 10;
    unsigned threads = 4, check_every = 100;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--seconds") == 0)
            seconds = atof(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = (unsigned)atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--check-every") == 0)
            check_every = (unsigned)atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--sample-every") == 0)
            sample_every = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: " PROGRAM " [--seconds S] [--threads T] [--check-every N] "
                            "[--sample-every S]\n");
            return 2;
        }
    }
    if (seconds <= 0 || threads == 0 || threads > MAX_THREADS || check_every == 0 ||
        sample_every <= 0) {
        fprintf(stderr, PROGRAM ": seconds, sample-every > 0; 1 <= threads <= %d; "
                        "check-every >= 1\n", MAX_THREADS);
        return 2;
    }
    static soak_shared s;
    s.check_every = check_every;
    sparq_status st = sparq_context_create(NULL, &s.ctx);
    if (st != SPARQ_OK)
        return bench_fail(PROGRAM, "context_create", st), 1;
    uint64_t device_bytes = 0;
    for (int f = 0; f < FORMATS; f++) {
        pthread_rwlock_init(&s.m[f].lock, NULL);
        s.m[f].unpacked = malloc(sizeof(float) * ROWS * COLS);
        if (!s.m[f].unpacked)
            return bench_fail(PROGRAM, "malloc", SPARQ_ERROR_OUT_OF_MEMORY), 1;
        if ((st = make_packed(&formats[f], 11 + (uint64_t)f, &s.m[f].packed,
                              s.m[f].unpacked)) != SPARQ_OK ||
            (st = make_matrix(s.ctx, &formats[f], s.m[f].packed, &s.m[f].matrix)) != SPARQ_OK)
            return bench_fail(PROGRAM, formats[f].spelling, st), 1;
        size_t batches[] = {1, 8, MAX_BATCH};
        if ((st = sparq_matrix_prepare(s.m[f].matrix, NULL, batches, 3)) != SPARQ_OK)
            return bench_fail(PROGRAM, "matrix_prepare", st), 1;
        device_bytes += sparq_matrix_device_bytes(s.m[f].matrix);
    }
    printf("soak: %u threads x %.0f s on %s, %d formats (%d x %d), batches 1-%d, "
           "every %u-th call checked; matrices hold %.2f MB on the device\n", threads, seconds,
           "one context", FORMATS, ROWS, COLS, MAX_BATCH, check_every, device_bytes / 1e6);
    double start = bench_now_seconds();
    s.end_time = start + seconds;
    soak_thread t[MAX_THREADS];
    for (unsigned i = 0; i < threads; i++) {
        t[i] = (soak_thread){.s = &s, .index = i};
        pthread_create(&t[i].id, NULL, soak_worker, &t[i]);
    }
    double first_tenth = 0, last = 0, peak = 0;
    printf("%8s %12s %10s %8s %8s %10s\n", "t (s)", "calls", "checked", "errors", "wrong",
           "rss (MB)");
    for (double next = start + sample_every; bench_now_seconds() < s.end_time;
         next += sample_every) {
        while (bench_now_seconds() < next && bench_now_seconds() < s.end_time)
            usleep(100000);
        double now = bench_now_seconds() - start, rss = rss_mb();
        if (first_tenth == 0 && now >= seconds / 10)
            first_tenth = rss;
        last = rss;
        peak = rss > peak ? rss : peak;
        printf("%8.0f %12llu %10llu %8llu %8llu %10.1f\n", now,
               (unsigned long long)atomic_load(&s.calls),
               (unsigned long long)atomic_load(&s.checked),
               (unsigned long long)atomic_load(&s.errors),
               (unsigned long long)atomic_load(&s.wrong), rss);
        fflush(stdout);
    }
    for (unsigned i = 0; i < threads; i++)
        pthread_join(t[i].id, NULL);
    printf("calls by format:");
    for (int f = 0; f < FORMATS; f++)
        printf(" %s %llu%s", formats[f].spelling,
               (unsigned long long)atomic_load(&s.calls_by_format[f]),
               f + 1 < FORMATS ? "," : "\n");
    uint64_t errors = atomic_load(&s.errors), wrong = atomic_load(&s.wrong);
    double growth = first_tenth > 0 ? last - first_tenth : 0;
    bool flat = growth <= (first_tenth * 0.1 > 16 ? first_tenth * 0.1 : 16);
    printf("total: %llu calls (%.0f per s), %llu checked, %llu errors, %llu wrong, %llu "
           "matrices recreated; rss %.1f MB at a tenth of the run, %.1f MB at the end "
           "(peak %.1f): %s\n",
           (unsigned long long)atomic_load(&s.calls),
           (double)atomic_load(&s.calls) / seconds, (unsigned long long)atomic_load(&s.checked),
           (unsigned long long)errors, (unsigned long long)wrong,
           (unsigned long long)atomic_load(&s.recreated), first_tenth, last, peak,
           flat ? "flat" : "GROWING");
    for (int f = 0; f < FORMATS; f++) {
        sparq_matrix_free(s.m[f].matrix);
        sparq_packed_free(s.m[f].packed);
        free(s.m[f].unpacked);
        pthread_rwlock_destroy(&s.m[f].lock);
    }
    sparq_context_free(s.ctx);
    return errors == 0 && wrong == 0 && flat ? 0 : 1;
}
