/* SPDX-License-Identifier: Apache-2.0 */
/* cli_bench.c - `sparq bench --model DIR_OR_FILE`: times every packed matrix of a converted
 * model on the device with sparq_linear, per batch, in turns with the same layer as dense
 * f32 (its plan, median, effective GB/s, bytes, the ratio), then the model's totals.
 * Timing and activations come from cli_demo_speed.c, the model listing from cli_inspect.c.
 */
#include "cli_demo_parts.h"
#include "cli_model_parts.h"

#include <ctype.h>
#include <errno.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BATCHES 16
#define MAX_BATCH 65536
#define DEFAULT_REPEATS 20

typedef struct bench_args {
    const char *model;
    size_t batches[MAX_BATCHES];
    size_t nbatches;
    unsigned repeats;
    const char *layers; /* --layers REGEX as given; NULL: every packed matrix */
    regex_t layers_re;  /* compiled when layers is set                        */
} bench_args;

static void usage(FILE *to)
{
    fprintf(to,
            "Usage: sparq bench --model DIR_OR_FILE [OPTION]...\n\n"
            "Times every packed matrix of a converted model (a safetensors file, or a\n"
            "folder with model.safetensors or a sharded layout) with sparq_linear on the\n"
            "device, at each batch, in turns with the same layer unpacked to dense f32\n"
            "(alternate calls, so that a drift in the machine's load hits both alike).\n"
            "One line per layer and batch: the packed layer's median time, effective GB/s\n"
            "((weight bytes + activations in and out) / time) and bytes, the same for\n"
            "dense f32, the ratio (dense time / packed time: above 1 the packed layer is\n"
            "faster) and the plan (sparq_plan_explain in one line). Then the model's\n"
            "totals per batch: the sums of the medians and the speedup, and the bytes.\n"
            "A layer whose dense f32 copy cannot be made (too large for the device) is\n"
            "timed packed only, and says so.\n\n"
            "Options:\n"
            "  --model PATH     the converted model (required)\n"
            "  --batch LIST     batches, comma-separated whole numbers from 1 to %d\n"
            "                   (default 1,8,32; at most %d)\n"
            "  --repeats N      timed calls per layer, batch and format after %d warm-ups,\n"
            "                   median reported (default %d)\n"
            "  --layers REGEX   only the packed matrices whose name matches (POSIX extended)\n"
            "  -h, --help       this text\n\n"
            "The device is chosen as everywhere in sparq (SPARQ_DEVICE=P:D or a name).\n"
            "Exit status: 0 success, 1 failure (unreadable model, no packed matrix, a layer\n"
            "that fails to load or run), 2 usage error.\n",
            MAX_BATCH, MAX_BATCHES, DEMO_WARMUP, DEFAULT_REPEATS);
}

/* "1,8,32" into a->batches; 0, or 2 on a usage error. */
static int parse_batches(const char *text, bench_args *a)
{
    a->nbatches = 0;
    const char *p = text;
    for (;;) {
        const char *end = p;
        while (isdigit((unsigned char)*end))
            end++;
        unsigned long v = end > p && end - p <= 6 ? strtoul(p, NULL, 10) : 0;
        if ((*end != ',' && *end != '\0') || v < 1 || v > MAX_BATCH)
            return cli_usage_error("--batch wants whole numbers from 1 to %d separated by "
                                   "commas, not '%s'",
                                   MAX_BATCH, text);
        if (a->nbatches == MAX_BATCHES)
            return cli_usage_error("--batch takes at most %d batches, not '%s'", MAX_BATCHES,
                                   text);
        a->batches[a->nbatches++] = v;
        if (*end == '\0')
            return 0;
        p = end + 1;
    }
}

/* One option (getopt_long's code, optarg) into the bench_args at user; 0 to go on, 2 on a
 * usage error. */
static int apply_option(int code, void *user)
{
    bench_args *a = user;
    switch (code) {
    case 'm': a->model = optarg; return 0;
    case 'b': return parse_batches(optarg, a);
    case 'r': {
        char *end = NULL;
        errno = 0;
        unsigned long v = strtoul(optarg, &end, 10);
        if (errno || end == optarg || *end || v < 1 || v > 1000 || optarg[0] == '-')
            return cli_usage_error("--repeats wants a whole number from 1 to 1000, not '%s'",
                                   optarg);
        a->repeats = (unsigned)v;
        return 0;
    }
    case 'l': {
        if (a->layers)
            regfree(&a->layers_re);
        a->layers = NULL;
        int err = regcomp(&a->layers_re, optarg, REG_EXTENDED | REG_NOSUB);
        if (err != 0) {
            char why[256];
            regerror(err, &a->layers_re, why, sizeof why);
            return cli_usage_error("--layers '%s': %s", optarg, why);
        }
        a->layers = optarg;
        return 0;
    }
    }
    return 0;
}

/* 0 to go on, 2 on a usage error, -1 after --help. */
static int parse_args(int argc, char **argv, bench_args *a)
{
    static const struct option longs[] = {
        {"model", required_argument, NULL, 'm'},  {"batch", required_argument, NULL, 'b'},
        {"repeats", required_argument, NULL, 'r'}, {"layers", required_argument, NULL, 'l'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0}};
    *a = (bench_args){.batches = {1, 8, 32}, .nbatches = 3, .repeats = DEFAULT_REPEATS};
    int rc = cli_parse_options(argc, argv, longs, apply_option, a, usage, 0);
    if (rc == 0 && !a->model)
        rc = cli_usage_error("--model is required");
    return rc;
}

static bool selected(const bench_args *a, const char *name)
{
    return !a->layers || regexec(&a->layers_re, name, 0, NULL, 0) == 0;
}

/* ---- one layer ------------------------------------------------------------------------ */

/* The sums over the layers at one batch: every packed layer timed, and the layers timed
 * both packed and dense f32 (the speedup compares those). */
typedef struct batch_total {
    double packed_s, paired_packed_s, paired_dense_s;
    size_t timed, paired;
} batch_total;

typedef struct bench_totals {
    batch_total batch[MAX_BATCHES];
    uint64_t packed_bytes, dense_bytes; /* dense: rows * cols * 4 of every layer timed */
    size_t layers, failed, not_run;
} bench_totals;

/* text in one line: a line break and the spaces around it become "; ", other runs of
 * white space one space. */
static void one_line(const char *text, char *out, size_t out_size)
{
    size_t n = 0;
    const char *p = text;
    while (isspace((unsigned char)*p))
        p++;
    while (*p && n + 3 < out_size) {
        if (!isspace((unsigned char)*p)) {
            out[n++] = *p++;
            continue;
        }
        bool line_break = false;
        while (isspace((unsigned char)*p))
            line_break |= *p++ == '\n';
        if (!*p)
            break;
        if (line_break)
            out[n++] = ';';
        out[n++] = ' ';
    }
    out[n] = '\0';
}

/* The same weights as dense f32 on the device into *dense; NULL with why on a failure. */
static void make_dense(demo_device *dev, const sparq_packed *packed, sparq_matrix **dense,
                       char *why, size_t why_size)
{
    *dense = NULL;
    size_t rows = sparq_packed_rows(packed), cols = sparq_packed_cols(packed);
    float *w = malloc(rows * cols * sizeof *w);
    sparq_packed *dense_packed = NULL;
    sparq_status st = w ? sparq_packed_unpack(packed, w) : SPARQ_ERROR_OUT_OF_MEMORY;
    sparq_pack_options f32 = {.structure = SPARQ_STRUCTURE_DENSE,
                              .quant.encoding = SPARQ_ENCODING_F32};
    if (st == SPARQ_OK)
        st = sparq_packed_create(&f32, rows, cols, w, &dense_packed);
    free(w);
    if (st == SPARQ_OK)
        st = sparq_matrix_create(dev->ctx, dense_packed, NULL, dense);
    sparq_packed_free(dense_packed);
    if (st != SPARQ_OK)
        snprintf(why, why_size, "%s: %s", sparq_status_string(st),
                 st == SPARQ_ERROR_OUT_OF_MEMORY ? "host memory" : cli_library_error());
}

/* (weight bytes + X and Y at batch) / seconds, in GB/s. */
static double effective_gbs(uint64_t weight_bytes, size_t rows, size_t cols, size_t batch,
                            double seconds)
{
    double moved = (double)weight_bytes + 4.0 * (double)batch * (double)(rows + cols);
    return seconds > 0 ? moved / seconds / 1e9 : 0.0;
}

/* One line per batch of a layer timed packed and, where dense is not NULL, dense f32 in
 * turns. Returns the first failure's status. */
static sparq_status time_layer(demo_device *dev, demo_io *io, const bench_args *a,
                               const char *name, int name_w, sparq_matrix *packed,
                               uint64_t packed_bytes, sparq_matrix *dense, bench_totals *tot)
{
    uint64_t dense_bytes = 4ull * io->rows * io->cols;
    char packed_words[32], dense_words[32];
    bytes_in_words(packed_bytes, packed_words, sizeof packed_words);
    bytes_in_words(dense_bytes, dense_words, sizeof dense_words);
    demo_op ops[2] = {{demo_call_matrix, packed}, {demo_call_matrix, dense}};
    for (size_t b = 0; b < a->nbatches; b++) {
        size_t batch = a->batches[b];
        demo_timing t[2];
        sparq_status st = demo_time_in_turns(dev, io, ops, dense ? 2 : 1, batch, t);
        if (st != SPARQ_OK)
            return st;
        char plan[2048], plan_line[2048];
        if (sparq_plan_explain(packed, batch, plan, sizeof plan) != SPARQ_OK)
            snprintf(plan, sizeof plan, "(no plan: %s)", cli_library_error());
        one_line(plan, plan_line, sizeof plan_line);
        printf("%-*s %5zu %10.4f %7.2f %9s", name_w, name, batch, 1e3 * t[0].median,
               effective_gbs(packed_bytes, io->rows, io->cols, batch, t[0].median),
               packed_words);
        if (dense)
            printf(" | %10.4f %7.2f %9s %6.2fx", 1e3 * t[1].median,
                   effective_gbs(dense_bytes, io->rows, io->cols, batch, t[1].median),
                   dense_words, t[1].median / t[0].median);
        else
            printf(" | %10s %7s %9s %7s", "-", "-", "-", "-");
        printf(" | %s\n", plan_line);
        batch_total *bt = &tot->batch[b];
        bt->packed_s += t[0].median;
        bt->timed++;
        if (dense) {
            bt->paired_packed_s += t[0].median;
            bt->paired_dense_s += t[1].median;
            bt->paired++;
        }
    }
    fflush(stdout);
    return SPARQ_OK;
}

/* Loads, uploads and times one packed matrix. Returns 0, or 1 after printing why. */
static int bench_layer(demo_device *dev, const bench_args *a, const sparq_safetensors *shard,
                       const sparq_packed_entry *e, int name_w, bench_totals *tot)
{
    size_t max_batch = 1;
    for (size_t b = 0; b < a->nbatches; b++)
        max_batch = a->batches[b] > max_batch ? a->batches[b] : max_batch;
    char what[1200];
    sparq_packed *packed = NULL;
    sparq_matrix *matrix = NULL, *dense = NULL;
    demo_io io = {0};
    sparq_status st = sparq_packed_load(shard, e->name, &packed);
    snprintf(what, sizeof what, "%s: loading", e->name);
    if (st == SPARQ_OK) {
        st = demo_io_create(dev, e->rows, e->cols, max_batch, &io);
        snprintf(what, sizeof what, "%s: activations", e->name);
    }
    if (st == SPARQ_OK) {
        st = sparq_matrix_create(dev->ctx, packed, NULL, &matrix);
        snprintf(what, sizeof what, "%s: creating the device matrix", e->name);
    }
    int rc = 0;
    if (st == SPARQ_ERROR_UNSUPPORTED) {
        printf("%s: not run: %s\n", e->name, cli_library_error());
        tot->not_run++;
    } else if (st != SPARQ_OK) {
        rc = cli_fail(what, st);
    } else {
        char why[1024];
        make_dense(dev, packed, &dense, why, sizeof why);
        if (!dense)
            printf("%s: dense f32 not created (%s); timed packed only\n", e->name, why);
        st = time_layer(dev, &io, a, e->name, name_w, matrix, sparq_packed_bytes(packed),
                        dense, tot);
        snprintf(what, sizeof what, "%s: timing", e->name);
        if (st != SPARQ_OK)
            rc = cli_fail(what, st);
        else {
            tot->layers++;
            tot->packed_bytes += sparq_packed_bytes(packed);
            tot->dense_bytes += 4ull * e->rows * e->cols;
        }
    }
    sparq_matrix_free(dense);
    sparq_matrix_free(matrix);
    demo_io_free(&io);
    sparq_packed_free(packed);
    return rc;
}

/* ---- the model -------------------------------------------------------------------------- */

static void print_totals(const bench_args *a, const bench_totals *tot)
{
    printf("\ntotals over %zu layer%s (sums of the medians):\n", tot->layers,
           tot->layers == 1 ? "" : "s");
    for (size_t b = 0; b < a->nbatches; b++) {
        const batch_total *bt = &tot->batch[b];
        printf("  batch %5zu: packed %10.4f ms", a->batches[b], 1e3 * bt->packed_s);
        if (bt->paired && bt->paired < bt->timed)
            printf(" (%.4f ms on the %zu layers with dense f32)", 1e3 * bt->paired_packed_s,
                   bt->paired);
        if (bt->paired)
            printf(", dense f32 %10.4f ms, speedup %.2fx\n", 1e3 * bt->paired_dense_s,
                   bt->paired_dense_s / bt->paired_packed_s);
        else
            printf(", dense f32 not measured\n");
    }
    char packed_words[32], dense_words[32];
    bytes_in_words(tot->packed_bytes, packed_words, sizeof packed_words);
    bytes_in_words(tot->dense_bytes, dense_words, sizeof dense_words);
    printf("  bytes: packed %llu (%s), dense f32 %llu (%s), %.2fx smaller\n",
           (unsigned long long)tot->packed_bytes, packed_words,
           (unsigned long long)tot->dense_bytes, dense_words,
           tot->packed_bytes ? (double)tot->dense_bytes / (double)tot->packed_bytes : 0.0);
    if (tot->not_run || tot->failed)
        printf("  %zu layer%s not run on this device, %zu failed\n", tot->not_run,
               tot->not_run == 1 ? "" : "s", tot->failed);
}

/* Every selected packed matrix of pm, timed; 0, or 1 when a layer failed. */
static int bench_model(demo_device *dev, const bench_args *a, const packed_model *pm,
                       size_t nselected)
{
    int name_w = 5;
    for (size_t s = 0; s < pm->nshards; s++)
        for (size_t i = 0; i < pm->counts[s]; i++)
            if (selected(a, pm->entries[s][i].name)) {
                int n = (int)strlen(pm->entries[s][i].name);
                name_w = n > name_w ? n : name_w;
            }
    const sparq_device_caps *caps = sparq_context_caps(dev->ctx);
    printf("model: %s, %zu packed matri%s", a->model, nselected,
           nselected == 1 ? "x" : "ces");
    if (a->layers)
        printf(" matching /%s/ (of %zu)", a->layers, pm->total);
    printf("\ndevice: %s (%s)\n", caps->name, caps->platform_name);
    printf("median of %u calls after %d warm-ups, packed and dense f32 in turns (wall time\n"
           "to the event); GB/s = (weight bytes + X and Y bytes) / time; ratio = dense f32\n"
           "time / packed time, above 1 the packed layer is faster.\n\n",
           dev->repeats, DEMO_WARMUP);
    printf("%-*s %5s %10s %7s %9s | %10s %7s %9s %7s | %s\n", name_w, "layer", "batch",
           "packed ms", "GB/s", "bytes", "f32 ms", "GB/s", "bytes", "ratio", "plan (packed)");
    bench_totals tot;
    memset(&tot, 0, sizeof tot);
    for (size_t s = 0; s < pm->nshards; s++)
        for (size_t i = 0; i < pm->counts[s]; i++)
            if (selected(a, pm->entries[s][i].name))
                tot.failed += (size_t)bench_layer(dev, a, sparq_model_shard(pm->model, s),
                                                  &pm->entries[s][i], name_w, &tot);
    print_totals(a, &tot);
    return tot.failed ? 1 : 0;
}

int cli_bench_main(int argc, char **argv)
{
    bench_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0) {
        if (a.layers)
            regfree(&a.layers_re);
        return rc < 0 ? 0 : rc;
    }
    packed_model pm;
    rc = packed_model_open(a.model, &pm);
    size_t nselected = 0;
    for (size_t s = 0; !rc && s < pm.nshards; s++)
        for (size_t i = 0; i < pm.counts[s]; i++)
            nselected += selected(&a, pm.entries[s][i].name);
    if (!rc && !nselected)
        rc = cli_error("%s: no packed matrix%s (sparq convert makes them)", a.model,
                       a.layers ? " matches --layers" : "");
    demo_device dev = {.repeats = a.repeats};
    sparq_status st = rc ? SPARQ_OK : sparq_context_create(NULL, &dev.ctx);
    if (st != SPARQ_OK)
        rc = cli_fail("creating a context", st);
    if (!rc) {
        dev.cpu = sparq_context_caps(dev.ctx)->type == SPARQ_DEVICE_TYPE_CPU;
        dev.queue = sparq_context_queue(dev.ctx);
        rc = dev.queue ? bench_model(&dev, &a, &pm, nselected)
                       : cli_fail("creating a queue", SPARQ_ERROR_INTERNAL);
    }
    sparq_context_free(dev.ctx);
    packed_model_close(&pm);
    if (a.layers)
        regfree(&a.layers_re);
    return rc;
}
