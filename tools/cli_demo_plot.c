/* SPDX-License-Identifier: Apache-2.0 */
/* cli_demo_plot.c - `sparq demo --plot DIR`: measures the data of two plots and draws them
 * as PNGs through gnuplot (a script piped to it): CSR speedup over the dense f32 path vs
 * sparsity per batch size, and bytes per weight vs NMSE per encoding (dense and 50 % CSR).
 * Builds on cli_demo_speed.c (timing) and cli_demo_common.c; only cli_demo.c uses it. */
#include "cli_demo_parts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PLOT_SEED 0x91075u
#define PLOT_SIGMA 0.02f
#define ERROR_ROWS 1024 /* the Gaussian layer of the bytes-vs-error plot */
#define ERROR_COLS 1024

static const double sparsities[] = {0.5, 0.7, 0.8, 0.9, 0.95};
#define NSPARSITIES (sizeof sparsities / sizeof sparsities[0])
static const size_t batches[] = {1, 32};
#define NBATCHES (sizeof batches / sizeof batches[0])

/* A recipe made on the spot: dense or CSR at sparsity, with an encoding. */
static demo_recipe make_recipe(sparq_structure structure, double sparsity,
                               sparq_encoding encoding, sparq_scale_granularity granularity,
                               size_t group_size)
{
    demo_recipe r = {.name = "plot", .structure = structure, .encoding = encoding,
                     .granularity = granularity, .group_size = group_size,
                     .sparsity = sparsity};
    return r;
}

/* Times the recipe at every batch of the plot: ms[b]. */
static sparq_status time_recipe(demo_device *dev, demo_io *io, const float *w,
                                const demo_recipe *r, double *ms)
{
    demo_timing t[NBATCHES];
    double bits = 0;
    sparq_status st = demo_time_recipe(dev, io, w, r, batches, NBATCHES, t, &bits);
    for (size_t b = 0; b < NBATCHES && st == SPARQ_OK; b++)
        ms[b] = 1e3 * t[b].median;
    return st;
}

/* speedup_vs_sparsity.dat: sparsity, then per batch the CSR ms and dense ms / CSR ms. */
static sparq_status measure_speedup(demo_device *dev, size_t rows, size_t cols, FILE *dat,
                                    cli_progress *progress)
{
    float *w = malloc(rows * cols * sizeof *w);
    if (!w)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    demo_fill_gaussian(w, rows * cols, PLOT_SEED, PLOT_SIGMA);
    demo_io io;
    sparq_status st = demo_io_create(dev, rows, cols, batches[NBATCHES - 1], &io);
    double dense[NBATCHES], csr[NBATCHES];
    demo_recipe r = make_recipe(SPARQ_STRUCTURE_DENSE, 0.0, SPARQ_ENCODING_F32,
                                SPARQ_SCALE_TENSOR, 0);
    cli_progress_step(progress, 0, "plot: dense f32");
    if (st == SPARQ_OK)
        st = time_recipe(dev, &io, w, &r, dense);
    if (st == SPARQ_OK)
        fprintf(dat, "# CSR f32 sparq_linear on %zu x %zu Gaussian weights; dense f32 path:"
                     " %.3f ms at batch %zu, %.3f ms at batch %zu\n"
                     "# sparsity  ms_batch%zu  speedup_batch%zu  ms_batch%zu  speedup_batch%zu\n",
                rows, cols, dense[0], batches[0], dense[1], batches[1], batches[0], batches[0],
                batches[1], batches[1]);
    for (size_t i = 0; i < NSPARSITIES && st == SPARQ_OK; i++) {
        char label[64];
        snprintf(label, sizeof label, "plot: csr %.0f%%", 100 * sparsities[i]);
        cli_progress_step(progress, i + 1, label);
        r = make_recipe(SPARQ_STRUCTURE_CSR, sparsities[i], SPARQ_ENCODING_F32,
                        SPARQ_SCALE_TENSOR, 0);
        st = time_recipe(dev, &io, w, &r, csr);
        if (st == SPARQ_OK)
            fprintf(dat, "%.2f %.4f %.4f %.4f %.4f\n", sparsities[i], csr[0], dense[0] / csr[0],
                    csr[1], dense[1] / csr[1]);
    }
    demo_io_free(&io);
    free(w);
    return st;
}

/* bytes_vs_error.dat: two blocks (dense, then 50 % CSR) of "encoding bytes/w NMSE". */
static sparq_status measure_error(FILE *dat)
{
    static const struct {
        const char *name;
        sparq_encoding encoding;
        sparq_scale_granularity granularity;
        size_t group_size;
    } encodings[] = {
        {"f16", SPARQ_ENCODING_F16, SPARQ_SCALE_TENSOR, 0},
        {"i8-row", SPARQ_ENCODING_I8, SPARQ_SCALE_ROW, 0},
        {"i4-g128", SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 128},
        {"i4-g32", SPARQ_ENCODING_I4, SPARQ_SCALE_GROUP, 32},
    };
    float *w = malloc((size_t)ERROR_ROWS * ERROR_COLS * sizeof *w);
    if (!w)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    demo_fill_gaussian(w, (size_t)ERROR_ROWS * ERROR_COLS, PLOT_SEED + 1, PLOT_SIGMA);
    fprintf(dat, "# %d x %d Gaussian weights: encoding, bytes per weight (indices and scales"
                 " included), NMSE vs the original\n", ERROR_ROWS, ERROR_COLS);
    sparq_status st = SPARQ_OK;
    for (int sparse = 0; sparse < 2 && st == SPARQ_OK; sparse++) {
        fprintf(dat, "%s# %s\n", sparse ? "\n\n" : "", sparse ? "csr 50%" : "dense");
        for (size_t e = 0; e < sizeof encodings / sizeof encodings[0] && st == SPARQ_OK; e++) {
            demo_recipe r = make_recipe(sparse ? SPARQ_STRUCTURE_CSR : SPARQ_STRUCTURE_DENSE,
                                        sparse ? 0.5 : 0.0, encodings[e].encoding,
                                        encodings[e].granularity, encodings[e].group_size);
            sparq_convert_options opt = demo_convert_options(&r, 0.0);
            sparq_convert_result res;
            sparq_packed *packed = NULL;
            st = sparq_layer_convert(w, ERROR_ROWS, ERROR_COLS, &opt, &packed, &res);
            sparq_packed_free(packed);
            if (st == SPARQ_OK)
                fprintf(dat, "%s %.4f %.6g\n", encodings[e].name, res.bits_per_weight / 8.0,
                        res.error.nmse);
        }
    }
    free(w);
    return st;
}

static const char speedup_script[] =
    "set terminal pngcairo size 720,440 font ',10'\n"
    "set output '%s/speedup_vs_sparsity.png'\n"
    "set title 'sparq_linear, CSR f32 vs the dense f32 path: %zu x %zu on %s' noenhanced\n"
    "set xlabel 'sparsity (fraction of weights pruned)'\n"
    "set ylabel 'speedup over dense f32 (x)'\n"
    "set grid\nset key top left\nset xrange [0.45:1]\nset yrange [0:*]\n"
    "plot '%s/speedup_vs_sparsity.dat' using 1:3 with linespoints lw 2 pt 7 title 'batch %zu', "
    "'' using 1:5 with linespoints lw 2 pt 5 title 'batch %zu', "
    "1 with lines dt 2 lc rgb 'gray' title 'dense f32'\n";

static const char error_script[] =
    "set terminal pngcairo size 720,440 font ',10'\n"
    "set output '%s/bytes_vs_error.png'\n"
    "set title 'Bytes per weight vs error, %d x %d Gaussian layer'\n"
    "set xlabel 'bytes per weight (indices and scales included)'\n"
    "set ylabel 'NMSE vs the original weights'\n"
    "set logscale y\nset format y '10^{%%L}'\nset grid\n"
    "set key bottom left Left reverse box opaque\n"
    "set xrange [0:2.4]\nset yrange [1e-8:10]\n"
    "plot '%s/bytes_vs_error.dat' index 0 using 2:3 with points pt 7 ps 1.5 title 'dense', "
    "'' index 0 using 2:3:1 with labels rotate by 40 left offset char 0.5,0.5 notitle, "
    "'' index 1 using 2:3 with points pt 5 ps 1.5 title 'csr 50%% (pruning error included)', "
    "'' index 1 using 2:3:1 with labels rotate by 40 left offset char 0.5,0.5 notitle\n";

/* Pipes script to gnuplot; 1 when gnuplot failed. */
static int run_gnuplot(const char *script)
{
    FILE *gp = popen("gnuplot", "w");
    if (!gp)
        return cli_error("cannot start gnuplot: %s", strerror(errno));
    fputs(script, gp);
    int status = pclose(gp);
    if (status != 0)
        return cli_error("gnuplot failed (status %d)", status);
    return 0;
}

static FILE *open_data(const char *dir, const char *name, char *path, size_t size)
{
    snprintf(path, size, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        cli_error("cannot write %s: %s", path, strerror(errno));
    return f;
}

int demo_plot_prepare(const char *dir)
{
    if (strchr(dir, '\'') || strlen(dir) > 900)
        return cli_usage_error("--plot: the folder name may not contain ' and must be "
                               "shorter than 900 bytes");
    struct stat sb;
    if (mkdir(dir, 0777) != 0 && (errno != EEXIST || stat(dir, &sb) != 0 ||
                                  !S_ISDIR(sb.st_mode))) {
        return cli_error("cannot create the folder %s: %s", dir,
                         errno == EEXIST ? "a file of that name exists"
                                         : strerror(errno));
    }
    return 0;
}

int demo_plot_write(demo_device *dev, const char *dir, size_t rows, size_t cols)
{
    char speed_path[1024], error_path[1024];
    FILE *speed = open_data(dir, "speedup_vs_sparsity.dat", speed_path, sizeof speed_path);
    FILE *error = speed ? open_data(dir, "bytes_vs_error.dat", error_path, sizeof error_path)
                        : NULL;
    if (!speed || !error) {
        if (speed)
            fclose(speed);
        return 1;
    }
    cli_progress progress;
    cli_progress_start(&progress, NSPARSITIES + 2);
    sparq_status st = measure_speedup(dev, rows, cols, speed, &progress);
    cli_progress_step(&progress, NSPARSITIES + 1, "plot: bytes vs error");
    if (st == SPARQ_OK)
        st = measure_error(error);
    cli_progress_step(&progress, NSPARSITIES + 2, "plot: done");
    cli_progress_done(&progress);
    int bad = fclose(speed) | fclose(error);
    if (st != SPARQ_OK)
        return cli_fail("measuring the plots", st);
    if (bad)
        return cli_error("writing the plot data in %s failed", dir);
    printf("\n== Plots ==\ndata: %s, %s\n", speed_path, error_path);
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        printf("gnuplot not found (Debian: apt-get install gnuplot-nox): no PNG written; the "
               ".dat files above hold the data\n");
        return 0;
    }
    char device[256], script[4096];
    snprintf(device, sizeof device, "%s", sparq_context_caps(dev->ctx)->name);
    for (char *c = device; *c; c++) /* a name inside gnuplot's '...' */
        *c = *c == '\'' || (unsigned char)*c < ' ' ? ' ' : *c;
    snprintf(script, sizeof script, speedup_script, dir, rows, cols, device, dir, batches[0],
             batches[1]);
    int failed = run_gnuplot(script);
    snprintf(script, sizeof script, error_script, dir, ERROR_ROWS, ERROR_COLS, dir);
    failed |= run_gnuplot(script);
    if (!failed)
        printf("plots: %s/speedup_vs_sparsity.png, %s/bytes_vs_error.png\n", dir, dir);
    return failed;
}
