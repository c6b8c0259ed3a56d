/* SPDX-License-Identifier: Apache-2.0 */
/* bench_sparse.c - benchmark of sparq_linear on pruned and quantized weights against
 * the dense path, CLBlast and, on a CPU device, OpenBLAS and the native ceiling, with the
 * measured bandwidth roof (README.md). This file: main, the options (formats in sparq's
 * spelling) and the setup; the measuring, the roof and the output are in
 * bench_sparse_run/_roof/_report.c, which it calls (bench_sparse_parts.h). */
#include "bench_sparse_parts.h"
#include "common.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---------------------------------------------------------------------------------- */
/* Options                                                                            */
/* ---------------------------------------------------------------------------------- */

static int compare_sizes(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_sparse [--quick] [--shapes RxC,...] [--structures LIST]\n"
            "                    [--sparsities 0.5,0.9,...] [--batches 1,8,...] [--repeats N]\n"
            "                    [--chain N] [--f16] [--rotate-mib MIB] [--roof-mib MIB]\n"
            "                    [--csv FILE] [--json FILE]\n"
            "  --structures: formats as sparq spells them, <structure>[+<encoding>] (f32 if\n"
            "  left out): csr, 2:4, bsr4x4, bsr16x16, dense+i8-row, dense+i4-g128,\n"
            "  dense+i4-g32, csr+i8-row, 2:4+i4-g128, ...; a dense int8 format with :w8a8\n"
            "  (dense+i8-row:w8a8) also quantizes the activations on the device (W8A8: an\n"
            "  option of the matrix, not a format, hence the suffix). csr and bsr are measured\n"
            "  at every sparsity, dense and N:M once per shape (N:M at its own, 2:4 at 0.5).\n"
            "  --f16: formats with f32 values get f16 values (csr is csr+f16; peers stay f32)\n"
            "  defaults: shapes 4096x4096,11008x4096,768x3072,3072x768;\n"
            "  csr,2:4,bsr4x4,bsr16x16; sparsities 0.5,0.7,0.9,0.95,0.99; batches 1,8,32,128;\n"
            "  15 repeats; chain 1; f32 values; 256 MiB of weights in rotation; 512 MiB roof.\n"
            "  --chain N: each sample is N calls on consecutive copies, enqueued back to back\n"
            "  and waited for once, divided by N (steady-state time per call, as an engine\n"
            "  enqueues its layers; 1: the latency of one call, the wait included)\n"
            "  --quick: 4096x4096,768x3072; csr 0.9, 2:4, bsr16x16 0.9; batches 1,32\n"
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

/* A format spelling, ":w8a8" after a dense int8 one (W8A8); says why not on stderr. */
static int parse_format(const char *s, void *slots, size_t i)
{
    bench_format *f = (bench_format *)slots + i;
    memset(f, 0, sizeof *f);
    char word[64];
    size_t n = strlen(s);
    f->w8a8 = n > 5 && strcmp(s + n - 5, ":w8a8") == 0;
    n -= f->w8a8 ? 5 : 0;
    if (n >= sizeof word)
        return 0;
    memcpy(word, s, n);
    word[n] = '\0';
    if (sparq_format_parse(word, &f->format) != SPARQ_OK) {
        fprintf(stderr, "bench_sparse: %s\n", sparq_last_error());
        return 0;
    }
    if (f->w8a8 && (f->format.structure != SPARQ_STRUCTURE_DENSE ||
                    f->format.quant.encoding != SPARQ_ENCODING_I8)) {
        fprintf(stderr, "bench_sparse: %s: :w8a8 (activations quantized to int8) needs dense "
                        "int8 weights, e.g. dense+i8-row:w8a8\n", s);
        return 0;
    }
    return 1;
}

/* The formats as measured: --f16 applied, each one's label and whether it is pruned. */
static void finish_formats(config *cfg)
{
    for (size_t i = 0; i < cfg->nformats; i++) {
        bench_format *f = &cfg->formats[i];
        if (cfg->f16 && f->format.quant.encoding == SPARQ_ENCODING_F32)
            f->format.quant.encoding = SPARQ_ENCODING_F16;
        f->pruned = f->format.structure == SPARQ_STRUCTURE_CSR ||
                    f->format.structure == SPARQ_STRUCTURE_BSR;
        if (sparq_format_name(&f->format, f->name, sizeof f->name) != SPARQ_OK)
            snprintf(f->name, sizeof f->name, "?");
        if (f->w8a8)
            strncat(f->name, ":w8a8", sizeof f->name - strlen(f->name) - 1);
    }
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
        structures = quick ? "csr,2:4,bsr16x16" : "csr,2:4,bsr4x4,bsr16x16";
    if (!sparsities)
        sparsities = quick ? "0.9" : "0.5,0.7,0.9,0.95,0.99";
    if (!batches)
        batches = quick ? "1,32" : "1,8,32,128";
    if (!parse_list(shapes, &cfg->nshapes, parse_shape, cfg->shapes)) {
        fprintf(stderr, "bench_sparse: bad --shapes '%s' (e.g. 4096x4096,768x3072)\n", shapes);
        return 0;
    }
    if (!parse_list(structures, &cfg->nformats, parse_format, cfg->formats)) {
        fprintf(stderr, "bench_sparse: bad --structures '%s' (format spellings such as csr, "
                        "2:4, bsr16x16, csr+i8-row, dense+i4-g128, dense+i8-row:w8a8)\n",
                structures);
        return 0;
    }
    finish_formats(cfg);
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

/* The context, its queue and device, and the rotation budgets. */
static sparq_status open_device(bench *b)
{
    sparq_status st = sparq_context_create(NULL, &b->ctx);
    if (st != SPARQ_OK)
        return bench_fail("bench_sparse", "context", st);
    b->q = sparq_context_queue(b->ctx);
    b->caps = sparq_context_caps(b->ctx);
    b->cpu_device = b->caps->type == SPARQ_DEVICE_TYPE_CPU;
    b->set_budget = b->caps->global_mem_bytes / 4;
    if (b->set_budget > (2ull << 30))
        b->set_budget = 2ull << 30;
    b->host_budget = 2ull << 30;
    return SPARQ_OK;
}

/* X (random, on the host and the device) and Y, sized for the largest batch and shape,
 * and the --csv and --json files. */
static sparq_status open_activations_and_outputs(bench *b)
{
    const config *cfg = &b->cfg;
    size_t max_rows = 0, max_cols = 0, max_batch = cfg->batches[cfg->nbatches - 1];
    for (size_t i = 0; i < cfg->nshapes; i++) {
        max_rows = cfg->shapes[i][0] > max_rows ? cfg->shapes[i][0] : max_rows;
        max_cols = cfg->shapes[i][1] > max_cols ? cfg->shapes[i][1] : max_cols;
    }
    cl_int err = CL_SUCCESS, err2 = CL_SUCCESS;
    b->hx = malloc(max_batch * max_cols * sizeof(float));
    b->hy = malloc(max_batch * max_rows * sizeof(float));
    cl_context cl = sparq_context_cl_context(b->ctx);
    if (b->hx && b->hy) {
        bench_fill_uniform(b->hx, max_batch * max_cols, -1.0f, 1.0f, &b->rng);
        b->x = clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                              max_batch * max_cols * sizeof(float), b->hx, &err);
        b->y = clCreateBuffer(cl, CL_MEM_READ_WRITE, max_batch * max_rows * sizeof(float), NULL,
                              &err2);
    }
    b->csv = open_output(cfg->csv_path);
    b->json = open_output(cfg->json_path);
    if (!b->hx || !b->hy || err != CL_SUCCESS || err2 != CL_SUCCESS ||
        (cfg->csv_path && !b->csv) || (cfg->json_path && !b->json)) {
        fprintf(stderr, "bench_sparse: setting up activations or output files failed\n");
        return SPARQ_ERROR_IO;
    }
    return SPARQ_OK;
}

/* Format/sparsity pairs measured per shape. */
static size_t pairs_per_shape(const config *cfg)
{
    size_t per_shape = 0;
    for (size_t f = 0; f < cfg->nformats; f++)
        per_shape += cfg->formats[f].pruned ? cfg->nsparsities : 1;
    return per_shape;
}

static void close_all(bench *b)
{
    if (b->csv)
        fclose(b->csv);
    if (b->json)
        fclose(b->json);
    if (b->x)
        clReleaseMemObject(b->x);
    if (b->y)
        clReleaseMemObject(b->y);
    free(b->hx);
    free(b->hy);
    free(b->read_buf);
    sparq_context_free(b->ctx);
}

int main(int argc, char **argv)
{
    sleep_idle_peer_threads(argv);
    bench b;
    memset(&b, 0, sizeof b);
    b.rng = 0x9E3779B97F4A7C15ull; /* fixed: the same weights and activations every run */
    if (!parse_options(argc, argv, &b.cfg)) {
        usage(stderr);
        return 2;
    }
    const config *cfg = &b.cfg;
    if (open_device(&b) != SPARQ_OK)
        return 1;
    size_t per_shape = pairs_per_shape(cfg);
    b.case_count = cfg->nshapes * per_shape * cfg->nbatches;
    sparq_status st = open_activations_and_outputs(&b);
    if (st == SPARQ_OK) {
        print_setup(&b);
        st = measure_roof(&b);
    }
    if (st == SPARQ_OK)
        report_begin(&b, per_shape);
    for (size_t s = 0; s < cfg->nshapes && st == SPARQ_OK; s++)
        st = run_shape(&b, cfg->shapes[s][0], cfg->shapes[s][1]);
    report_end(&b, st);
    close_all(&b);
    return st == SPARQ_OK ? 0 : 1;
}
