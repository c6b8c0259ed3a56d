/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_model.c - the simulated-warp memory report: every dispatched registry kernel with its
 * GPU default parameters, on each structure and encoding it runs, at batch 1 and 8, under
 * oclgrind with the warp model plugin (warp_model.cpp), each result checked against a C
 * reference; one table per batch. A model of memory behaviour, not a GPU measurement. */

/* Unlike the other bench programs, which use only sparq.h, this one includes the library's
 * internal headers (host/matrix.h, as the tests do): it forces each registry row with a
 * GPU's default parameters (sparq_kernel_row, sparq_kernel_default_params,
 * sparq_linear_run), and the public API only dispatches, with this device's parameters.
 *
 * Usage: oclgrind --plugins libsparq_warp_model.so gpu_model [--kernel SUBSTRING]
 *        [--shape ROWSxCOLS]   (the plugin's lines go to $SPARQ_WARP_REPORT, else a temp
 *        file) */
#define _GNU_SOURCE /* strcasestr */
#include "gpu_model_parts.h"
#include "warp_report.h"
#include "../common.h"
#include "matrix.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define PROGRAM "gpu_model"
#define MAX_LAUNCHES 4

/* The formats every row is tried on (a row runs those of its structure and encodings). */
static const struct {
    const char *spelling;
    int w8a8;
} formats[] = {
    {"csr+f32", 0},      {"csr+i8-row", 0},      {"csr+i4-g128", 0},
    {"bsr16x16+f32", 0}, {"bsr16x16+i8-row", 0}, {"bsr16x16+i4-g128", 0},
    {"2:4+f32", 0},      {"2:4+i8-row", 0},      {"2:4+i4-g128", 0},
    {"dense+f16", 0},    {"dense+i8-row", 0},    {"dense+i4-g128", 0},
    {"dense+i8-row", 1},
};
#define FORMAT_COUNT (sizeof formats / sizeof formats[0])
static const size_t batches[] = {1, 8};

/* One (row, format, batch): its parameters, what happened, the plugin's lines. */
typedef struct gm_result {
    size_t row, format, batch;
    char params[192];
    char status[400]; /* "" when it ran and matched the reference */
    double err;
    size_t launches;
    warp_counts counts[MAX_LAUNCHES];
} gm_result;

typedef struct gm_state {
    sparq_context *ctx;
    sparq_device_caps gpu_caps; /* the device's, as a GPU: the rows' GPU defaults */
    char report[1024];          /* the plugin's report file */
    size_t rows, cols;
    const char *only;           /* --kernel: rows whose name contains it */
    gm_result *results;
    size_t count, capacity;
    double csr_mean, csr_cv;    /* CSR row lengths, for the header */
    size_t csr_max, csr_min;
} gm_state;

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

static void params_text(const sparq_kernel_info *k, const sparq_kernel_params *p, char *out,
                        size_t size)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s=%u", i ? " " : "",
                                 k->tunables[i].name, p->value[i]);
}

static cl_mem device_copy(gm_state *g, const float *data, size_t count)
{
    cl_int err = CL_SUCCESS;
    cl_mem b = clCreateBuffer(sparq_context_cl_context(g->ctx),
                              CL_MEM_READ_WRITE | CL_MEM_COPY_HOST_PTR, count * sizeof(float),
                              (void *)data, &err);
    if (err != CL_SUCCESS) {
        fprintf(stderr, PROGRAM ": clCreateBuffer failed (%d)\n", err);
        exit(1);
    }
    return b;
}

/* Runs row k on m at r->batch with x, bias drawn from the case and checks y. */
static void run_kernel(gm_state *g, const sparq_kernel_info *k, const sparq_kernel_params *p,
                       sparq_matrix *m, const float *w, gm_result *r)
{
    size_t batch = r->batch, rows = g->rows, cols = g->cols;
    uint64_t seed = 1000 + r->row * 37 + r->format * 5 + batch;
    float *x = malloc(batch * cols * sizeof *x), *bias = malloc(rows * sizeof *bias);
    float *y = malloc(batch * rows * sizeof *y);
    if (!x || !bias || !y)
        abort();
    bench_fill_uniform(x, batch * cols, -1.0f, 1.0f, &seed);
    bench_fill_uniform(bias, rows, -0.5f, 0.5f, &seed);
    for (size_t i = 0; i < batch * rows; i++)
        y[i] = NAN;
    cl_mem dx = device_copy(g, x, batch * cols), db = device_copy(g, bias, rows);
    cl_mem dy = device_copy(g, y, batch * rows);
    cl_event ev = NULL;
    long pos = file_size(g->report);
    sparq_linear_args a = {.matrix = m, .queue = sparq_context_queue(g->ctx), .batch = batch,
                           .x = dx, .y = dy, .bias = db, .event = &ev};
    sparq_status st = sparq_linear_run(k, p, &a);
    if (st == SPARQ_ERROR_UNSUPPORTED) {
        snprintf(r->status, sizeof r->status, "not run: %s", sparq_last_error());
    } else if (st != SPARQ_OK) {
        snprintf(r->status, sizeof r->status, "FAILED: %s", sparq_last_error());
    } else {
        cl_int err = clEnqueueReadBuffer(a.queue, dy, CL_TRUE, 0, batch * rows * sizeof *y, y,
                                         1, &ev, NULL);
        clReleaseEvent(ev);
        r->err = err == CL_SUCCESS ? gm_max_rel_error(w, rows, cols, batch, x, bias, y)
                                   : INFINITY;
        double tol = m->quantize_activations ? 2e-2 : 1e-4;
        if (!(r->err <= tol))
            snprintf(r->status, sizeof r->status, "WRONG: max relative error %.3g > %g",
                     r->err, tol);
        r->launches = warp_read_new(g->report, &pos, r->counts, MAX_LAUNCHES);
    }
    clReleaseMemObject(dx), clReleaseMemObject(db), clReleaseMemObject(dy);
    free(x), free(bias), free(y);
}

static gm_result *new_result(gm_state *g)
{
    if (g->count == g->capacity) {
        g->capacity = g->capacity ? 2 * g->capacity : 64;
        g->results = realloc(g->results, g->capacity * sizeof *g->results);
        if (!g->results)
            abort();
    }
    gm_result *r = &g->results[g->count++];
    memset(r, 0, sizeof *r);
    return r;
}

/* Every batch of row i on format f's matrix m (weights w as the kernels see them). */
static void run_row(gm_state *g, size_t i, size_t f, sparq_matrix *m, const float *w)
{
    const sparq_kernel_info *k = sparq_kernel_row(i);
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        gm_result *r = new_result(g);
        r->row = i, r->format = f, r->batch = batches[b];
        sparq_kernel_params p;
        sparq_kernel_default_params(k, &g->gpu_caps, &p);
        params_text(k, &p, r->params, sizeof r->params);
        char why[256];
        double t0 = bench_now_seconds();
        if (!sparq_kernel_params_fit(k, &p, &g->ctx->caps, why, sizeof why))
            snprintf(r->status, sizeof r->status,
                     "not run: its GPU defaults do not fit oclgrind's device: %s", why);
        else
            run_kernel(g, k, &p, m, w, r);
        fprintf(stderr, "%-22s %-18s %s batch %zu: %s (%.1f s)\n", k->name,
                formats[f].spelling, formats[f].w8a8 ? "w8a8" : "    ", r->batch,
                r->status[0] ? r->status : "ok", bench_now_seconds() - t0);
        if (!r->status[0] && r->launches == 0) {
            fprintf(stderr, PROGRAM ": no line from the warp model plugin in %s: run it as "
                            "oclgrind --plugins <libsparq_warp_model.so> gpu_model\n",
                    g->report);
            exit(1);
        }
    }
}

static void note_csr_lengths(gm_state *g, const float *w)
{
    double mean = 0, sq = 0;
    gm_row_lengths(w, g->rows, g->cols, &g->csr_max, &mean, &g->csr_min);
    for (size_t r = 0; r < g->rows; r++) {
        size_t n = 0;
        for (size_t c = 0; c < g->cols; c++)
            n += w[r * g->cols + c] != 0.0f;
        sq += ((double)n - mean) * ((double)n - mean);
    }
    g->csr_mean = mean;
    g->csr_cv = mean > 0 ? sqrt(sq / (double)g->rows) / mean : 0;
}

/* Packs format f, uploads it and runs every dispatched row that runs it. */
static void run_format(gm_state *g, size_t f)
{
    sparq_pack_options fmt;
    size_t n = g->rows * g->cols;
    if (sparq_format_parse(formats[f].spelling, &fmt) != SPARQ_OK)
        exit(bench_fail(PROGRAM, formats[f].spelling, SPARQ_ERROR_INVALID_ARGUMENT));
    float *w = malloc(n * sizeof *w), *unpacked = malloc(n * sizeof *unpacked);
    if (!w || !unpacked)
        abort();
    gm_make_weights(&fmt, g->rows, g->cols, 20 + fmt.structure, w);
    if (fmt.structure == SPARQ_STRUCTURE_CSR)
        note_csr_lengths(g, w);
    sparq_packed *packed = NULL;
    sparq_matrix *m = NULL;
    sparq_matrix_options mo = {.path = SPARQ_PATH_SPARSE,
                               .quantize_activations = formats[f].w8a8};
    sparq_status st;
    if ((st = sparq_packed_create(&fmt, g->rows, g->cols, w, &packed)) ||
        (st = sparq_packed_unpack(packed, unpacked)) ||
        (st = sparq_matrix_create(g->ctx, packed, &mo, &m)))
        exit(bench_fail(PROGRAM, formats[f].spelling, st));
    for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
        const sparq_kernel_info *k = sparq_kernel_row(i);
        if (k->rank && k->enqueue && sparq_kernel_runs_format(k, &m->format, formats[f].w8a8) &&
            (!g->only || strstr(k->name, g->only)))
            run_row(g, i, f, m, unpacked);
    }
    sparq_matrix_free(m);
    sparq_packed_free(packed);
    free(w), free(unpacked);
}

/* "12.5%", or "-" where the kernel made no such access. */
static const char *pct(double v, char *buf)
{
    if (isnan(v))
        return "-";
    snprintf(buf, 16, "%.1f%%", 100.0 * v);
    return buf;
}

static const char *num(double v, const char *fmt, char *buf)
{
    if (isnan(v))
        return "-";
    snprintf(buf, 16, fmt, v);
    return buf;
}

static void print_counts(const gm_result *r, const warp_counts *c)
{
    char b[16][16];
    const sparq_kernel_info *k = sparq_kernel_row(r->row);
    char name[200];
    if (strcmp(k->name, c->kernel) == 0)
        snprintf(name, sizeof name, "%s", k->name);
    else
        snprintf(name, sizeof name, "%s: %s", k->name, c->kernel);
    printf("| %s | %s%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s "
           "| %s | %s | %.1e |\n",
           name, formats[r->format].spelling, formats[r->format].w8a8 ? " w8a8" : "", r->params,
           c->local, pct(warp_sector_efficiency(c, WARP_WEIGHTS, WARP_32), b[0]),
           pct(warp_sector_efficiency(c, WARP_WEIGHTS, WARP_64), b[1]),
           num(warp_lines_per_request(c, WARP_WEIGHTS), "%.2f", b[2]),
           num(warp_active_lanes(c, WARP_WEIGHTS), "%.1f", b[3]),
           num(warp_weight_reads(c), "%.2f", b[13]),
           pct(warp_sector_efficiency(c, WARP_X, WARP_32), b[4]),
           pct(warp_sector_efficiency(c, WARP_X, WARP_64), b[5]),
           num(warp_lines_per_request(c, WARP_X), "%.2f", b[6]),
           num(warp_lanes_per_byte(c, WARP_X), "%.1f", b[7]),
           num(warp_x_group_loads(c), "%.1f", b[8]),
           num(warp_local_requests_per_group(c), "%.0f", b[9]),
           num(warp_bank_extra(c), "%.2f", b[10]),
           num(warp_instructions_per_weight_byte(c), "%.2f", b[11]),
           num(warp_barriers_per_group(c), "%.0f", b[12]), r->err);
}

static void print_table(const gm_state *g, size_t batch)
{
    printf("\n### Batch %zu\n\n", batch);
    printf("| kernel | format | GPU defaults | WG | W eff | W eff64 | W lines/req | W lanes "
           "| W reads | x eff | x eff64 | x lines/req | x lanes/B | x WG loads | LDS req/WG "
           "| LDS extra wf | instr/W byte | barriers/WG | max rel err |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < sparq_kernel_registry_size(); i++)
        for (size_t f = 0; f < FORMAT_COUNT; f++)
            for (size_t n = 0; n < g->count; n++) {
                const gm_result *r = &g->results[n];
                if (r->row != i || r->format != f || r->batch != batch)
                    continue;
                if (r->status[0])
                    printf("| %s | %s%s | %s | %s |\n", sparq_kernel_row(i)->name,
                           formats[f].spelling, formats[f].w8a8 ? " w8a8" : "", r->params,
                           r->status);
                for (size_t l = 0; l < r->launches && !r->status[0]; l++)
                    print_counts(r, &r->counts[l]);
            }
}

static void parse_args(int argc, char **argv, gm_state *g)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc) {
            g->only = argv[++i];
        } else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc &&
                   sscanf(argv[++i], "%zux%zu", &g->rows, &g->cols) == 2 && g->rows &&
                   g->cols) {
            continue;
        } else {
            fprintf(stderr, "usage: oclgrind --plugins libsparq_warp_model.so " PROGRAM
                            " [--kernel SUBSTRING] [--shape ROWSxCOLS]\n");
            exit(2);
        }
    }
}

/* The context on oclgrind's device, and the file the plugin appends to. */
static void open_device(gm_state *g, int *temp_report)
{
    const char *env = getenv("SPARQ_WARP_REPORT");
    *temp_report = !env || !env[0];
    if (*temp_report) {
        snprintf(g->report, sizeof g->report, "/tmp/sparq_warp_report_XXXXXX");
        int fd = mkstemp(g->report);
        if (fd < 0) {
            perror(PROGRAM ": mkstemp");
            exit(1);
        }
        close(fd);
        setenv("SPARQ_WARP_REPORT", g->report, 1);
    } else {
        snprintf(g->report, sizeof g->report, "%s", env);
    }
    setenv("SPARQ_TUNE", "off", 1); /* the registry's defaults, no tuned values */
    sparq_context_options opts = {.disable_disk_cache = 1};
    sparq_status st = sparq_context_create(&opts, &g->ctx);
    if (st != SPARQ_OK)
        exit(bench_fail(PROGRAM, "context", st));
    if (!strcasestr(g->ctx->caps.platform_name, "oclgrind") &&
        !strcasestr(g->ctx->caps.name, "oclgrind")) {
        fprintf(stderr, PROGRAM ": the device is %s, not oclgrind's: run it as oclgrind "
                        "--plugins <libsparq_warp_model.so> gpu_model\n", g->ctx->caps.name);
        exit(1);
    }
    g->gpu_caps = g->ctx->caps;
    g->gpu_caps.type = SPARQ_DEVICE_TYPE_GPU;
}

int main(int argc, char **argv)
{
    gm_state g = {.rows = 512, .cols = 2048};
    parse_args(argc, argv, &g);
    int temp_report = 0;
    open_device(&g, &temp_report);
    double t0 = bench_now_seconds();
    for (size_t f = 0; f < FORMAT_COUNT; f++)
        run_format(&g, f);
    double seconds = bench_now_seconds() - t0;
    size_t wrong = 0;
    for (size_t n = 0; n < g.count; n++)
        wrong += strncmp(g.results[n].status, "WRONG", 5) == 0 ||
                 strncmp(g.results[n].status, "FAILED", 6) == 0;

    printf("## Simulated-warp memory report (%zux%zu weights)\n\n", g.rows, g.cols);
    printf("A model of memory behaviour under oclgrind, not a GPU measurement: warps of 32 "
           "(eff64: waves of 64) consecutive local ids, one request per warp, instruction and "
           "loop iteration. Every registry kernel sparq_linear dispatches, with its GPU default "
           "parameters. CSR rows: log-normal lengths, mean %.1f of %zu columns (%.1f %% "
           "sparse), cv %.2f, %zu to %zu; BSR 16x16 with 10 %% of the blocks; 2:4; dense. "
           "%zu runs in %.0f s.\n",
           g.csr_mean, g.cols, 100.0 * (1.0 - g.csr_mean / (double)g.cols), g.csr_cv,
           g.csr_min, g.csr_max, g.count, seconds);
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++)
        print_table(&g, batches[b]);
    if (temp_report)
        unlink(g.report);
    free(g.results);
    sparq_context_free(g.ctx);
    fprintf(stderr, PROGRAM ": %zu runs in %.0f s, %zu wrong or failed\n", g.count, seconds,
            wrong);
    return wrong ? 1 : 0;
}
