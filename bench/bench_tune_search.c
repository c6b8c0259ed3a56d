/* SPDX-License-Identifier: Apache-2.0 */
/* bench_tune_search - how well the tuner's search strategies do against exhaustive search.
 * For each space (a case and one kernel) it times every candidate once (exhaustive, real
 * profiling-event medians) and keeps that landscape; then it replays simulated annealing
 * and random search (same number of evaluations) over the recorded times with several
 * seeds, so that the comparison measures the search, not the timing noise between runs. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "sparq.h"

#define MAX_POINTS 4096
#define MAX_SPACES 16

typedef struct landscape {
    size_t count;
    char params[MAX_POINTS][128];
    double us[MAX_POINTS];
} landscape;

static void record(void *user, const char *kernel, const char *params, double us)
{
    landscape *l = user;
    (void)kernel;
    if (l->count < MAX_POINTS) {
        snprintf(l->params[l->count], sizeof l->params[0], "%s", params);
        l->us[l->count++] = us;
    }
}

static double replay(void *user, const char *kernel, const char *params)
{
    const landscape *l = user;
    (void)kernel;
    for (size_t i = 0; i < l->count; i++)
        if (strcmp(l->params[i], params) == 0)
            return l->us[i];
    return 1e30; /* not in the landscape: never the best */
}

/* Lines "case<TAB>kernel<TAB>params<TAB>us" of spec/kernel from a --record file. */
static size_t load_landscape(FILE *f, const char *spec, const char *kernel, landscape *l)
{
    char line[512];
    l->count = 0;
    rewind(f);
    while (fgets(line, sizeof line, f) && l->count < MAX_POINTS) {
        char *c = strtok(line, "\t"), *k = strtok(NULL, "\t"), *p = strtok(NULL, "\t"),
             *us = strtok(NULL, "\n");
        if (c && k && p && us && strcmp(c, spec) == 0 && strcmp(k, kernel) == 0) {
            snprintf(l->params[l->count], sizeof l->params[0], "%s", p);
            l->us[l->count++] = strtod(us, NULL);
        }
    }
    return l->count;
}

typedef struct search_stats {
    double evals_median, gap_median, gap_worst; /* gap: found / best - 1              */
    unsigned within_5pct, runs;
} search_stats;

/* Replays strategy over l for seeds 1..seeds with max_evals (0: the default). */
static sparq_status replay_search(sparq_context *ctx, const sparq_tune_case *c,
                                  const char *kernel, landscape *l, double best,
                                  sparq_tune_strategy strategy, unsigned max_evals,
                                  unsigned seeds, search_stats *stats)
{
    double evals[64], gaps[64];
    memset(stats, 0, sizeof *stats);
    for (unsigned seed = 1; seed <= seeds && seed <= 64; seed++) {
        sparq_tune_options o = {.kernels = kernel, .strategy = strategy, .seed = seed,
                                .max_evaluations = max_evals, .skip_break_even = 1,
                                .db_path = "", .fake_time_us = replay, .user = l};
        sparq_tune_result *r = NULL;
        size_t n = 0;
        sparq_status st = sparq_tune_run(ctx, c, 1, &o, &r, &n);
        if (st != SPARQ_OK)
            return st;
        evals[stats->runs] = r[0].evaluations;
        gaps[stats->runs] = r[0].best_us / best - 1.0;
        stats->within_5pct += gaps[stats->runs] <= 0.05;
        stats->runs++;
        free(r);
    }
    bench_summary gap = bench_summarize(gaps, stats->runs);
    stats->evals_median = bench_summarize(evals, stats->runs).median;
    stats->gap_median = gap.median;
    stats->gap_worst = gap.max;
    return SPARQ_OK;
}

static void usage(FILE *to)
{
    fprintf(to,
            "usage: bench_tune_search [--space CASE KERNEL]... [--seeds N] [--repeats N]\n"
            "                         [--csv FILE] [--record FILE | --replay FILE]\n"
            "  CASE: as `sparq tune --case`, FORMAT:ROWSxCOLS:bBATCH[:sSPARSITY][:w8a8]\n"
            "  (e.g. csr:768x3072:b32:s0.9, bsr16x16:768x3072:b32, dense+i8-row:768x3072:b32);\n"
            "  KERNEL: one kernel that runs it. Default spaces: CSR batch tile, BSR tile and\n"
            "  dense int8 tile at batch 32, 2:4 GEMV at batch 1 (768 x 3072). Seeds: 10;\n"
            "  repeats per candidate in the exhaustive pass: 9. --record writes the measured\n"
            "  landscapes (case, kernel, parameters, us per line); --replay searches those\n"
            "  instead of measuring (the spaces' candidates are still built and checked).\n");
}

typedef struct search_options {
    const char *spaces[MAX_SPACES][2]; /* case, kernel */
    size_t space_count;
    unsigned seeds, repeats;
    const char *csv_path, *record_path, *replay_path;
} search_options;

/* The options, the default spaces where none is given; -1 when the program goes on,
 * else its exit code (after the usage). */
static int parse_options(int argc, char **argv, search_options *o)
{
    static const char *const defaults[4][2] = {
        {"csr:768x3072:b32:s0.9", "spmm_csr_batchtile"},
        {"bsr16x16:768x3072:b32:s0.9", "spmm_bsr_tile"},
        {"dense+i8-row:768x3072:b32", "linear_dense_q_tiled"},
        {"2:4:768x3072:b1", "spmm_nm_gemv24"}};
    memset(o, 0, sizeof *o);
    for (size_t s = 0; s < 4; s++)
        o->spaces[s][0] = defaults[s][0], o->spaces[s][1] = defaults[s][1];
    size_t given = 0;
    o->space_count = 4;
    o->seeds = 10;
    o->repeats = 9;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--space") == 0 && i + 2 < argc && given < MAX_SPACES) {
            o->spaces[given][0] = argv[i + 1];
            o->spaces[given][1] = argv[i + 2];
            o->space_count = ++given;
            i += 2;
        } else if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            o->seeds = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc) {
            o->repeats = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc) {
            o->csv_path = argv[++i];
        } else if (strcmp(argv[i], "--record") == 0 && i + 1 < argc && !o->replay_path) {
            o->record_path = argv[++i];
        } else if (strcmp(argv[i], "--replay") == 0 && i + 1 < argc && !o->record_path) {
            o->replay_path = argv[++i];
        } else {
            usage(strcmp(argv[i], "--help") == 0 ? stdout : stderr);
            return strcmp(argv[i], "--help") == 0 ? 0 : 2;
        }
    }
    if (o->seeds < 1 || o->seeds > 64 || o->repeats < 1) {
        fprintf(stderr, "bench_tune_search: --seeds in 1..64, --repeats >= 1\n");
        return 2;
    }
    return -1;
}

/* One space (spec, kernel): its landscape, measured exhaustively or replayed from
 * `recorded` (and appended to it with --record), then annealing and random search
 * replayed over it; prints its line and CSV rows. 0, or the program's exit code. */
static int bench_space(sparq_context *ctx, const search_options *opt, const char *spec,
                       const char *kernel, landscape *l, FILE *csv, FILE *recorded)
{
    sparq_tune_case c;
    if (sparq_tune_case_parse(spec, &c) != SPARQ_OK) {
        fprintf(stderr, "bench_tune_search: %s\n", sparq_last_error());
        return 2;
    }
    l->count = 0;
    if (opt->replay_path && load_landscape(recorded, spec, kernel, l) == 0) {
        fprintf(stderr, "bench_tune_search: %s holds no %s %s\n", opt->replay_path, spec,
                kernel);
        return 1;
    }
    /* exhaustive: measured, or replayed from the file */
    sparq_tune_options o = {.kernels = kernel, .strategy = SPARQ_TUNE_EXHAUSTIVE,
                            .repeats = opt->repeats, .skip_break_even = 1, .db_path = "",
                            .candidate = opt->replay_path ? NULL : record,
                            .fake_time_us = opt->replay_path ? replay : NULL, .user = l};
    sparq_tune_result *r = NULL;
    size_t n = 0;
    if (sparq_tune_run(ctx, &c, 1, &o, &r, &n) != SPARQ_OK || n == 0) {
        fprintf(stderr, "bench_tune_search: %s: %s\n", spec, sparq_last_error());
        return 1;
    }
    unsigned points = r[0].space;
    free(r);
    double best = INFINITY; /* the landscape's (the tuner re-times its pick) */
    for (size_t i = 0; i < l->count; i++)
        best = l->us[i] < best ? l->us[i] : best;
    for (size_t i = 0; opt->record_path && i < l->count; i++)
        fprintf(recorded, "%s\t%s\t%s\t%.3f\n", spec, kernel, l->params[i], l->us[i]);
    search_stats anneal, random;
    if (replay_search(ctx, &c, kernel, l, best, SPARQ_TUNE_ANNEAL, 0, opt->seeds, &anneal) !=
            SPARQ_OK ||
        replay_search(ctx, &c, kernel, l, best, SPARQ_TUNE_RANDOM,
                      (unsigned)anneal.evals_median, opt->seeds, &random) != SPARQ_OK) {
        fprintf(stderr, "bench_tune_search: %s\n", sparq_last_error());
        return 1;
    }
    printf("%-24s %-20s %6u %10.1f | %-8s %6.0f %7.1f%% %7.1f%% %3u/%-3u | %-8s %7.1f%% "
           "%7.1f%% %3u/%-3u\n",
           spec, kernel, points, best, "anneal", anneal.evals_median, 100 * anneal.gap_median,
           100 * anneal.gap_worst, anneal.within_5pct, anneal.runs, "same n",
           100 * random.gap_median, 100 * random.gap_worst, random.within_5pct, random.runs);
    for (int k = 0; csv && k < 2; k++) {
        const search_stats *x = k ? &random : &anneal;
        fprintf(csv, "%s,%s,%u,%.3f,%s,%.0f,%.4f,%.4f,%u,%u\n", spec, kernel, points, best,
                k ? "random" : "anneal", x->evals_median, x->gap_median, x->gap_worst,
                x->within_5pct, x->runs);
    }
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    search_options opt;
    int rc = parse_options(argc, argv, &opt);
    if (rc >= 0)
        return rc;
    sparq_context *ctx = NULL;
    if (sparq_context_create(NULL, &ctx) != SPARQ_OK) {
        fprintf(stderr, "bench_tune_search: %s\n", sparq_last_error());
        return 1;
    }
    FILE *csv = opt.csv_path ? fopen(opt.csv_path, "w") : NULL;
    FILE *recorded = opt.record_path   ? fopen(opt.record_path, "w")
                     : opt.replay_path ? fopen(opt.replay_path, "r")
                                       : NULL;
    if ((opt.csv_path && !csv) || ((opt.record_path || opt.replay_path) && !recorded)) {
        fprintf(stderr, "bench_tune_search: cannot open %s\n",
                opt.csv_path && !csv ? opt.csv_path
                : opt.record_path    ? opt.record_path
                                     : opt.replay_path);
        if (csv)
            fclose(csv);
        if (recorded)
            fclose(recorded);
        sparq_context_free(ctx);
        return 1;
    }
    if (csv)
        fprintf(csv, "case,kernel,points,best_us,strategy,evals_median,gap_median,gap_worst,"
                     "within_5pct,runs\n");
    printf("search strategies vs exhaustive, replayed over each space's measured landscape "
           "(%u seeds)\n\n", opt.seeds);
    printf("%-24s %-20s %6s %10s | %-8s %6s %8s %8s %7s | %-8s %8s %8s %7s\n", "case",
           "kernel", "points", "best us", "strategy", "evals", "gap med", "gap max", "<=5%",
           "random", "gap med", "gap max", "<=5%");
    landscape *l = malloc(sizeof *l);
    rc = l ? 0 : 1;
    for (size_t s = 0; s < opt.space_count && rc == 0; s++)
        rc = bench_space(ctx, &opt, opt.spaces[s][0], opt.spaces[s][1], l, csv, recorded);
    printf("\ngap: (time of the candidate the search picked) / (exhaustive best) - 1, on the\n"
           "same recorded times; evals: candidates the search evaluated (median over seeds)\n");
    free(l);
    if (csv)
        fclose(csv);
    if (recorded && fclose(recorded) != 0 && opt.record_path) {
        fprintf(stderr, "bench_tune_search: cannot write %s\n", opt.record_path);
        rc = 1;
    }
    sparq_context_free(ctx);
    return rc;
}
