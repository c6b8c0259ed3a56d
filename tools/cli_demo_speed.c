/* SPDX-License-Identifier: Apache-2.0 */
/* cli_demo_speed.c - the speed part of `sparq demo`: timing helpers (activations, wall
 * time around each call and its event, median of repeats, several operations in turns)
 * and the table of sparq_linear on each format against dense CLBlast and, on a CPU
 * device, OpenBLAS, in the same run. Builds on cli_demo_common.c only; cli_demo_plot.c,
 * cli_demo.c and `sparq bench` (cli_bench.c) use it. */
#include "cli_demo_parts.h"

#ifdef SPARQ_CLI_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACT_SEED 0x5eed5 /* activations of every timed layer                          */
#define PEERS 2          /* CLBlast, OpenBLAS: the first rows of a layer's table      */

/* ---------------------------------------------------------------------------------- */
/* Activations and timing                                                             */
/* ---------------------------------------------------------------------------------- */

sparq_status demo_io_create(demo_device *dev, size_t rows, size_t cols, size_t max_batch,
                            demo_io *io)
{
    memset(io, 0, sizeof *io);
    io->rows = rows, io->cols = cols, io->max_batch = max_batch;
    io->hx = malloc(max_batch * cols * sizeof(float));
    io->hy = calloc(max_batch * rows, sizeof(float));
    if (!io->hx || !io->hy) {
        demo_io_free(io);
        return SPARQ_ERROR_OUT_OF_MEMORY;
    }
    demo_fill_gaussian(io->hx, max_batch * cols, ACT_SEED, 1.0f);
    sparq_status st = SPARQ_OK;
    io->x = demo_buffer(dev, io->hx, max_batch * cols, &st);
    if (st == SPARQ_OK)
        io->y = demo_buffer(dev, NULL, max_batch * rows, &st);
    if (st != SPARQ_OK)
        demo_io_free(io);
    return st;
}

void demo_io_free(demo_io *io)
{
    if (io->x)
        clReleaseMemObject(io->x);
    if (io->y)
        clReleaseMemObject(io->y);
    free(io->hx);
    free(io->hy);
    memset(io, 0, sizeof *io);
}

sparq_status demo_call_matrix(demo_device *dev, demo_io *io, void *what, size_t batch,
                              cl_event *event)
{
    return sparq_linear(what, dev->queue, io->x, 0, io->y, 0, batch, NULL, 0, NULL, event);
}

static sparq_status call_clblast(demo_device *dev, demo_io *io, void *what, size_t batch,
                                 cl_event *event)
{
    return sparq_linear_dense(dev->ctx, dev->queue, SPARQ_DENSE_BACKEND_CLBLAST, batch,
                              io->rows, io->cols, io->x, 0, what, 0, NULL, 0, io->y, 0, 0,
                              NULL, event);
}

#ifdef SPARQ_CLI_HAVE_OPENBLAS
/* Y = X W^T natively on the host: SGEMV at batch 1, SGEMM above. */
static sparq_status call_openblas(demo_device *dev, demo_io *io, void *what, size_t batch,
                                  cl_event *event)
{
    (void)dev;
    *event = NULL;
    const float *w = what;
    int rows = (int)io->rows, cols = (int)io->cols;
    if (batch == 1)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, rows, cols, 1.0f, w, cols, io->hx, 1, 0.0f,
                    io->hy, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)batch, rows, cols, 1.0f,
                    io->hx, cols, w, cols, 0.0f, io->hy, rows);
    return SPARQ_OK;
}
#endif

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

sparq_status demo_time_in_turns(demo_device *dev, demo_io *io, const demo_op *ops, size_t nops,
                                size_t batch, demo_timing *t)
{
    memset(t, 0, nops * sizeof *t);
    unsigned repeats = dev->repeats ? dev->repeats : 1;
    double *sec = malloc(nops * repeats * sizeof *sec); /* op k's calls at sec[k * repeats] */
    if (!sec)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    sparq_status st = SPARQ_OK;
    for (int r = -DEMO_WARMUP; r < (int)repeats && st == SPARQ_OK; r++) {
        for (size_t i = 0; i < nops && st == SPARQ_OK; i++) {
            size_t k = (i + (size_t)(r + DEMO_WARMUP)) % nops; /* each round starts later */
            cl_event ev = NULL;
            double t0 = cli_now_seconds();
            st = ops[k].fn(dev, io, ops[k].what, batch, &ev);
            if (st == SPARQ_OK && ev)
                st = clWaitForEvents(1, &ev);
            double t1 = cli_now_seconds();
            if (ev)
                clReleaseEvent(ev);
            if (r >= 0)
                sec[k * repeats + (size_t)r] = t1 - t0;
        }
    }
    for (size_t k = 0; k < nops && st == SPARQ_OK; k++) {
        double *s = sec + k * repeats;
        qsort(s, repeats, sizeof *s, compare_doubles);
        t[k] = (demo_timing){.median = s[repeats / 2], .min = s[0], .max = s[repeats - 1],
                             .ok = true};
    }
    free(sec);
    return st;
}

/* One operation alone: demo_time_in_turns with nothing to take turns with. */
static sparq_status time_calls(demo_device *dev, demo_io *io, demo_call_fn fn, void *what,
                               size_t batch, demo_timing *t)
{
    demo_op op = {fn, what};
    return demo_time_in_turns(dev, io, &op, 1, batch, t);
}

sparq_status demo_time_recipe(demo_device *dev, demo_io *io, const float *weights,
                              const demo_recipe *recipe, const size_t *batches,
                              size_t nbatches, demo_timing *t, double *bits)
{
    sparq_convert_options opt = demo_convert_options(recipe, 0.0);
    sparq_convert_result res;
    sparq_packed *packed = NULL;
    sparq_matrix *m = NULL;
    sparq_status st = sparq_layer_convert(weights, io->rows, io->cols, &opt, &packed, &res);
    if (st == SPARQ_OK) {
        *bits = res.bits_per_weight;
        st = sparq_matrix_create(dev->ctx, packed, NULL, &m);
    }
    for (size_t b = 0; b < nbatches && st == SPARQ_OK; b++)
        st = time_calls(dev, io, demo_call_matrix, m, batches[b], &t[b]);
    sparq_matrix_free(m);
    sparq_packed_free(packed);
    return st;
}

/* ---------------------------------------------------------------------------------- */
/* The speed table                                                                    */
/* ---------------------------------------------------------------------------------- */

#define MAX_BATCHES 8

/* What one row of a layer's table measured, at each batch. */
typedef struct speed_row {
    const char *name;
    double bits;
    demo_timing t[MAX_BATCHES];
    char note[160]; /* why the row is empty: the library's sentence */
} speed_row;

static void print_ratio(const demo_timing *peer, const demo_timing *t)
{
    if (peer->ok && t->ok)
        printf(" %6.2fx", peer->median / t->median);
    else
        printf(" %7s", "");
}

static void print_layer_table(const demo_layer *layer, const speed_row *rows, size_t nrows,
                              const size_t *batches, size_t nbatches)
{
    printf("\n%s\n%-22s %6s", layer->label, "format", "bits/w");
    for (size_t b = 0; b < nbatches; b++)
        printf(" | batch %-3zu %6s %7s %7s", batches[b], "ms", "vs CLB", "vs OBL");
    printf("\n");
    for (size_t r = 0; r < nrows; r++) {
        const speed_row *row = &rows[r];
        printf("%-22s %6.2f", row->name, row->bits);
        if (row->note[0]) {
            printf(" | %s\n", row->note);
            continue;
        }
        for (size_t b = 0; b < nbatches; b++) {
            if (row->t[b].ok)
                printf(" | %16.3f", 1e3 * row->t[b].median);
            else
                printf(" | %16s", "-");
            print_ratio(&rows[0].t[b], &row->t[b]);
            print_ratio(&rows[1].t[b], &row->t[b]);
        }
        printf("\n");
    }
}

/* The peers of one layer: CLBlast on the device, OpenBLAS on the host (CPU devices). */
static sparq_status time_peers(demo_device *dev, demo_io *io, const demo_layer *layer,
                               const size_t *batches, size_t nbatches, speed_row *rows)
{
    rows[0] = (speed_row){.name = "CLBlast f32 (peer)", .bits = 32};
    rows[1] = (speed_row){.name = "OpenBLAS f32 (peer)", .bits = 32};
    sparq_status st = SPARQ_OK;
    cl_mem w = demo_buffer(dev, layer->weights, layer->rows * layer->cols, &st);
    for (size_t b = 0; b < nbatches && st == SPARQ_OK; b++)
        st = time_calls(dev, io, call_clblast, w, batches[b], &rows[0].t[b]);
    if (w)
        clReleaseMemObject(w);
    if (st == SPARQ_ERROR_UNSUPPORTED) { /* built without CLBlast */
        snprintf(rows[0].note, sizeof rows[0].note, "not measured: %s", sparq_last_error());
        st = SPARQ_OK;
    }
#ifdef SPARQ_CLI_HAVE_OPENBLAS
    for (size_t b = 0; b < nbatches && st == SPARQ_OK && dev->cpu; b++)
        st = time_calls(dev, io, call_openblas, (void *)layer->weights, batches[b],
                        &rows[1].t[b]);
    if (!dev->cpu)
        snprintf(rows[1].note, sizeof rows[1].note, "not measured: the device is not this CPU");
#else
    snprintf(rows[1].note, sizeof rows[1].note, "not measured: built without OpenBLAS");
#endif
    return st;
}

/* One timed recipe on one layer; a format without a kernel on this device is a note. */
static sparq_status time_recipe(demo_device *dev, demo_io *io, const demo_layer *layer,
                                const demo_recipe *recipe, const size_t *batches,
                                size_t nbatches, speed_row *row)
{
    *row = (speed_row){.name = recipe->name};
    sparq_status st = demo_time_recipe(dev, io, layer->weights, recipe, batches, nbatches,
                                       row->t, &row->bits);
    if (st == SPARQ_ERROR_UNSUPPORTED) {
        snprintf(row->note, sizeof row->note, "not run: %s", sparq_last_error());
        st = SPARQ_OK;
    }
    return st;
}

int demo_speed_report(demo_device *dev, const demo_layer *layers, size_t nlayers,
                      const size_t *batches, size_t nbatches)
{
    if (nbatches > MAX_BATCHES)
        nbatches = MAX_BATCHES;
    size_t max_batch = 1;
    for (size_t b = 0; b < nbatches; b++)
        max_batch = batches[b] > max_batch ? batches[b] : max_batch;
    size_t timed = 0;
    for (size_t i = 0; i < demo_recipe_count; i++)
        timed += demo_recipes[i].timed;

    printf("\n== Speed: sparq_linear per format vs dense CLBlast%s, same device, same run ==\n",
           dev->cpu ? " and OpenBLAS (host)" : "");
    printf("median of %u calls after %d warm-ups (wall time to the event); vs X = X's time /"
           " this one's,\nabove 1 sparq is faster. Formats converted without a gate. Weights"
           " are not rotated\nout of the caches: build/bench/bench_sparse measures that "
           "carefully.\n",
           dev->repeats, DEMO_WARMUP);

    cli_progress progress;
    cli_progress_start(&progress, nlayers * (timed + 1));
    size_t done = 0;
    speed_row *rows = calloc(PEERS + timed, sizeof *rows);
    if (!rows)
        return cli_fail("speed", SPARQ_ERROR_OUT_OF_MEMORY);
    int failed = 0;
    for (size_t l = 0; l < nlayers && !failed; l++) {
        const demo_layer *layer = &layers[l];
        demo_io io;
        char label[200];
        snprintf(label, sizeof label, "%zux%zu peers", layer->rows, layer->cols);
        cli_progress_step(&progress, done, label);
        sparq_status st = demo_io_create(dev, layer->rows, layer->cols, max_batch, &io);
        if (st == SPARQ_OK)
            st = time_peers(dev, &io, layer, batches, nbatches, rows);
        size_t nrows = PEERS;
        for (size_t i = 0; i < demo_recipe_count && st == SPARQ_OK; i++) {
            if (!demo_recipes[i].timed)
                continue;
            snprintf(label, sizeof label, "%zux%zu %s", layer->rows, layer->cols,
                     demo_recipes[i].name);
            cli_progress_step(&progress, ++done, label);
            st = time_recipe(dev, &io, layer, &demo_recipes[i], batches, nbatches,
                             &rows[nrows++]);
        }
        demo_io_free(&io);
        if (st != SPARQ_OK) {
            cli_progress_done(&progress);
            snprintf(label, sizeof label, "timing %s", layer->label);
            failed = cli_fail(label, st);
            break;
        }
        cli_progress_step(&progress, ++done, layer->label);
        cli_progress_done(&progress);
        print_layer_table(layer, rows, nrows, batches, nbatches);
        fflush(stdout);
    }
    free(rows);
    return failed;
}
