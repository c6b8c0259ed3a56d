/* SPDX-License-Identifier: Apache-2.0 */
/* cli_demo_parts.h - what the files of `sparq demo` share, in one-way order (each uses only
 * those below it): cli_demo.c (options, conversion and accuracy) -> cli_demo_plot.c (PNG
 * plots) -> cli_demo_speed.c (timing, speed table) -> cli_demo_common.c (recipes, Gaussian
 * values, buffers); cli_demo_model.c (the model) uses none of them, cli_demo.c uses it.
 * `sparq bench` (cli_bench.c) uses the speed and common parts to time a model's layers. */
#ifndef SPARQ_CLI_DEMO_PARTS_H
#define SPARQ_CLI_DEMO_PARTS_H

#include "cli.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- cli_demo_common.c ------------------------------------------------------------ */

/* One format the demo compares: what sparq_layer_convert is asked to make, and how. */
typedef struct demo_recipe {
    const char *name;                    /* "csr 90% + i8-row" (the format)           */
    sparq_method method;                 /* RTN (magnitude pruning, round to nearest)
                                          * or a calibrated one (WANDA, GPTQ,
                                          * SPARSEGPT: only with the model's calib.x)  */
    sparq_structure structure;           /* NM means 2:4                              */
    sparq_encoding encoding;
    sparq_scale_granularity granularity; /* I8/I4 only                                */
    size_t group_size;                   /* SPARQ_SCALE_GROUP only                    */
    double sparsity;                     /* CSR only                                  */
    bool timed;                          /* also in the speed table                   */
} demo_recipe;

extern const demo_recipe demo_recipes[];
extern const size_t demo_recipe_count;

/* The conversion options of a recipe with the gate max_nmse (0: no gate); a calibrated
 * method's statistics (options.calib) are the caller's to set. */
sparq_convert_options demo_convert_options(const demo_recipe *recipe, double max_nmse);

/* n floats drawn from N(0, sigma^2), the same for the same seed (xorshift + Box-Muller). */
void demo_fill_gaussian(float *out, size_t n, uint64_t seed, float sigma);

/* The device and how to time on it. */
typedef struct demo_device {
    sparq_context *ctx;
    cl_command_queue queue;
    bool cpu;         /* a CPU device: OpenBLAS on the host is a fair peer            */
    unsigned repeats; /* timed calls per measurement (after 2 warm-ups)               */
} demo_device;

/* A read-write buffer of count floats, copied from data (NULL: uninitialised); on a
 * failure *st gets the OpenCL error (unless it already holds one). */
cl_mem demo_buffer(demo_device *dev, const float *data, size_t count, sparq_status *st);

/* ---- cli_demo_speed.c ------------------------------------------------------------- */

/* Median, min and max seconds of one measured operation. */
typedef struct demo_timing {
    double median, min, max;
    bool ok;
} demo_timing;

/* Activations for one layer shape, on the device and on the host (for OpenBLAS):
 * X is max_batch x cols of Gaussian values, Y max_batch x rows for the results. */
typedef struct demo_io {
    size_t rows, cols, max_batch;
    cl_mem x, y;
    float *hx, *hy;
} demo_io;

sparq_status demo_io_create(demo_device *dev, size_t rows, size_t cols, size_t max_batch,
                            demo_io *io);
void demo_io_free(demo_io *io);

#define DEMO_WARMUP 2 /* untimed calls (rounds, in turns) before the timed ones */

/* One timed operation: enqueue (or run) what at batch, set *event when it enqueued. */
typedef sparq_status (*demo_call_fn)(demo_device *dev, demo_io *io, void *what, size_t batch,
                                     cl_event *event);

typedef struct demo_op {
    demo_call_fn fn;
    void *what;
} demo_op;

/* sparq_linear(what: a sparq_matrix) on io's X and Y at batch, no epilogue. */
sparq_status demo_call_matrix(demo_device *dev, demo_io *io, void *what, size_t batch,
                              cl_event *event);

/* Times nops operations in turns at batch into t[0..nops): DEMO_WARMUP untimed rounds,
 * then dev->repeats timed ones, each round calling every operation once (each round
 * starting one operation later), so that a drift in the machine's load hits them all
 * alike. Each call's time is the wall time from before the call to the end of
 * clWaitForEvents on its event; t[k] gets op k's median, min and max. */
sparq_status demo_time_in_turns(demo_device *dev, demo_io *io, const demo_op *ops, size_t nops,
                                size_t batch, demo_timing *t);

/* Converts weights (io->rows x io->cols) as recipe says, without a gate (*bits gets its
 * bits per weight), uploads it (AUTO path) and times sparq_linear at each batch into
 * t[0..nbatches): wall time from the enqueue to the end of its event, 2 warm-ups, then
 * dev->repeats calls. */
sparq_status demo_time_recipe(demo_device *dev, demo_io *io, const float *weights,
                              const demo_recipe *recipe, const size_t *batches,
                              size_t nbatches, demo_timing *t, double *bits);

/* One layer of the speed table: rows x cols weights (a model's, or Gaussian ones). */
typedef struct demo_layer {
    char label[160];
    size_t rows, cols;
    const float *weights;
} demo_layer;

/* Part 2: for every layer and batch, sparq_linear on each timed recipe (converted
 * without a gate) against dense CLBlast and, on a CPU device, OpenBLAS; prints the table. */
int demo_speed_report(demo_device *dev, const demo_layer *layers, size_t nlayers,
                      const size_t *batches, size_t nbatches);

/* ---- cli_demo_plot.c -------------------------------------------------------------- */

/* Checks that dir can hold the plots (a name gnuplot can quote) and creates it if
 * missing, before any measuring. Returns 0, 1 (cannot create) or 2 (a bad name). */
int demo_plot_prepare(const char *dir);

/* Part 4 (after demo_plot_prepare): writes speedup_vs_sparsity.png and bytes_vs_error.png
 * (and their data as .dat files) into dir; rows x cols is the layer timed for the first
 * plot. Returns 0, or 1 on a failure (a missing gnuplot is not one: it says so). */
int demo_plot_write(demo_device *dev, const char *dir, size_t rows, size_t cols);

/* ---- cli_demo_model.c ------------------------------------------------------------- */

/* The model of `sparq demo` (cli_demo_model.c): the embedded digits MLP or --model FILE,
 * its layers as float matrices, its test split and its calibration inputs. */
#define MAX_MLP_LAYERS 16 /* fc1 .. fc16 at most */

typedef struct model_layer {
    char name[128];
    size_t rows, cols;
    float *w;    /* rows x cols                                                    */
    float *bias; /* rows floats (MLP), else NULL                                   */
} model_layer;

typedef struct demo_model {
    sparq_safetensors *file;
    model_layer *layers;
    size_t nlayers;
    bool mlp;          /* fc1..fcN.weight/bias and a test split: accuracy is computed */
    float *test_x;     /* ntest x layers[0].cols                                     */
    int *test_y;
    int *test_pred;    /* the training script's predictions; NULL if not stored     */
    size_t ntest;
    float *calib_x;    /* ncalib x layers[0].cols: calibration inputs (the training
                        * split's, never the test split's); NULL when the file has none */
    size_t ncalib;
    char why[256];     /* what is wrong with the file, when the library found no fault */
} demo_model;

/* Opens path (NULL: the embedded digits MLP) into *m; returns 0, or 1 after printing
 * why. */
int demo_model_open(const char *path, demo_model *m);
void demo_model_free(demo_model *m);

#endif /* SPARQ_CLI_DEMO_PARTS_H */
