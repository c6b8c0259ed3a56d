/* SPDX-License-Identifier: Apache-2.0 */
/* cli_tune.c - `sparq tune`: lists what can be tuned and what is tuned for this device
 * (--list), tunes chosen kernels and cases or the quick set with a strategy, budget and
 * seed, shows progress, and ends with a table of default vs tuned time per case and the
 * database the results were merged into.
 */
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *to)
{
    fprintf(to,
            "Usage: sparq tune [OPTION]...\n\n"
            "Times the candidate parameters of sparq's kernels on this device and merges\n"
            "the best into the tuning database, which dispatch then reads.\n\n"
            "Options:\n"
            "  --list               the tunable kernels, the quick cases, and where this\n"
            "                       device's parameters come from (user / shipped tuning,\n"
            "                       defaults)\n"
            "  --quick              tune the common cases for this device (a few minutes:\n"
            "                       the two best-ranked kernels per case, 8 candidates each)\n"
            "  --full               the same cases with every kernel and the strategy's\n"
            "                       budget (how the shipped databases are made)\n"
            "  --case SPEC          tune one case (repeatable):\n"
            "                       FORMAT:ROWSxCOLS:bBATCH[:sS][:w8a8]\n"
            "                       FORMAT: <structure>[+<encoding>] (the words convert's\n"
            "                       --structure and --quant take; f32 if left out): csr,\n"
            "                       csr+i8-row, csr+f16, bsr4x4, bsr16x16, 2:4, 2:4+i4-g128,\n"
            "                       dense (f32: the dense path), dense+i8-row, dense+i4-g128,\n"
            "                       ...; S: sparsity (csr/bsr, default 0.9); :w8a8 (dense\n"
            "                       int8 weights only): activations quantized per row; e.g.\n"
            "                       csr:4096x4096:b1:s0.9, 2:4:768x3072:b32 or\n"
            "                       dense+i8-row:768x3072:b32:w8a8\n"
            "  --kernels A,B        only these kernels (default: every kernel of the case)\n"
            "  --strategy NAME      exhaustive, random or anneal (default anneal)\n"
            "  --budget SECONDS     per kernel and case (default: none; random: 30)\n"
            "  --max-evals N        per kernel and case (default: the strategy's)\n"
            "  --seed N             search seed (default 1)\n"
            "  --repeats N          timed runs per candidate, median (default 5)\n"
            "  --db PATH            database to merge into (default: the user database,\n"
            "                       $XDG_CACHE_HOME/sparq/tune.json); --db '' writes none\n"
            "  --no-break-even      don't time the dense path\n"
            "  --also-type-default  also store the results as the default for this device\n"
            "                       type (how shipped databases in autotune/db are made)\n"
            "  -h, --help           this text\n");
}

static void on_progress(void *user, size_t done, size_t total, const char *label)
{
    cli_progress_step(user, done, label);
    (void)total;
}

static void print_table(const sparq_tune_result *r, size_t n)
{
    printf("\n%-20s %-4s %-22s %-30s %10s %10s %7s %6s\n", "kernel", "enc", "class",
           "tuned parameters", "default", "tuned", "speedup", "evals");
    double speedups[1024];
    size_t count = 0;
    for (size_t i = 0; i < n; i++) {
        if (r[i].choice[0]) {
            printf("%-20s %-4s %-22s %-30s %8.1fus %8.1fus  -> %s\n", r[i].kernel,
                   r[i].encoding, r[i].shape_class, "dense path vs sparse", r[i].default_us,
                   r[i].best_us, r[i].choice);
            continue;
        }
        double speedup = r[i].default_us / r[i].best_us;
        printf("%-20s %-4s %-22s %-30s %8.1fus %8.1fus %6.2fx %3u/%-3u%s\n", r[i].kernel,
               r[i].encoding, r[i].shape_class, r[i].best_params, r[i].default_us,
               r[i].best_us, speedup, r[i].evaluations, r[i].space,
               r[i].rejected ? " (rejected some)" : "");
        if (isfinite(speedup) && count < 1024)
            speedups[count++] = speedup;
    }
    for (size_t i = 1; i < count; i++) /* insertion sort: a short list */
        for (size_t j = i; j > 0 && speedups[j - 1] > speedups[j]; j--) {
            double t = speedups[j];
            speedups[j] = speedups[j - 1];
            speedups[j - 1] = t;
        }
    if (count)
        printf("\nmedian speedup of tuned over default: %.2fx over %zu kernel cases\n",
               count % 2 ? speedups[count / 2]
                         : 0.5 * (speedups[count / 2 - 1] + speedups[count / 2]),
               count);
}

#define MAX_CASES 64 /* --case options at most */

/* What the command line asked for. */
typedef struct tune_args {
    sparq_tune_options o;
    sparq_tune_case cases[MAX_CASES];
    size_t count; /* cases given with --case */
    bool list, quick, full;
} tune_args;

/* One option (getopt_long's opt, optarg) into the tune_args at user; 0 to go on, 2 on a
 * usage error. */
static int apply_option(int opt, void *user)
{
    tune_args *a = user;
    char *end = NULL;
    switch (opt) {
    case 'l': a->list = true; break;
    case 'q': a->quick = true; break;
    case 'f': a->full = true; break;
    case 'c':
        if (a->count == MAX_CASES)
            return cli_usage_error("at most %d --case options", MAX_CASES);
        if (sparq_tune_case_parse(optarg, &a->cases[a->count]) != SPARQ_OK)
            return cli_usage_error("--case: %s", cli_library_error());
        a->count++;
        break;
    case 'k': a->o.kernels = optarg; break;
    case 's':
        if (sparq_tune_strategy_parse(optarg, &a->o.strategy) != SPARQ_OK)
            return cli_usage_error("--strategy: %s", cli_library_error());
        break;
    case 'b': a->o.budget_seconds = strtod(optarg, &end); break;
    case 'm': a->o.max_evaluations = (unsigned)strtoul(optarg, &end, 10); break;
    case 'S': a->o.seed = strtoull(optarg, &end, 10); break;
    case 'r': a->o.repeats = (unsigned)strtoul(optarg, &end, 10); break;
    case 'd': a->o.db_path = optarg; break;
    case 'n': a->o.skip_break_even = 1; break;
    case 't': a->o.also_type_default = 1; break;
    }
    if (end && (*end || end == optarg))
        return cli_usage_error("'%s' is not a number", optarg);
    return 0;
}

/* Fills *a from argv; 0 to go on, 2 on a usage error, -1 after --help. */
static int parse_args(int argc, char **argv, tune_args *a)
{
    static const struct option long_options[] = {
        {"list", no_argument, NULL, 'l'},       {"quick", no_argument, NULL, 'q'},
        {"full", no_argument, NULL, 'f'},
        {"case", required_argument, NULL, 'c'}, {"kernels", required_argument, NULL, 'k'},
        {"strategy", required_argument, NULL, 's'},
        {"budget", required_argument, NULL, 'b'},
        {"max-evals", required_argument, NULL, 'm'},
        {"seed", required_argument, NULL, 'S'}, {"repeats", required_argument, NULL, 'r'},
        {"db", required_argument, NULL, 'd'},   {"no-break-even", no_argument, NULL, 'n'},
        {"also-type-default", no_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},       {NULL, 0, NULL, 0}};
    memset(a, 0, sizeof *a);
    a->o.strategy = SPARQ_TUNE_ANNEAL;
    a->o.seed = 1;
    int rc = cli_parse_options(argc, argv, long_options, apply_option, a, usage, 0);
    if (rc == 0 && !a->list && !a->quick && !a->full && a->count == 0)
        rc = cli_usage_error("nothing to do: give --list, --quick, --full or --case SPEC");
    return rc;
}

/* Where sparq_tune_run merges the results: db_path, or the user database as sparq.h
 * says ($SPARQ_TUNE_DB, else $XDG_CACHE_HOME/sparq/tune.json, else
 * ~/.cache/sparq/tune.json). Returns text (made in path) for the message. */
static const char *database_path(const char *db_path, char *path, size_t size)
{
    const char *tune_db = getenv("SPARQ_TUNE_DB"), *xdg = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    if (db_path)
        snprintf(path, size, "%s", db_path);
    else if (tune_db && *tune_db)
        snprintf(path, size, "%s", tune_db);
    else if (xdg && *xdg == '/')
        snprintf(path, size, "%s/sparq/tune.json", xdg);
    else
        snprintf(path, size, "%s/.cache/sparq/tune.json", home ? home : "~");
    return path;
}

/* Tunes the cases asked for (--case, or the quick set for --quick and --full) and prints
 * the table; returns the exit code. */
static int run_tuning(sparq_context *ctx, tune_args *a)
{
    sparq_tune_options o = a->o;
    const sparq_tune_case *run = a->cases;
    size_t count = a->count;
    if (a->full)
        sparq_tune_quick_cases(&run, &count); /* every kernel, the strategy's budget */
    if (a->quick && !a->full) {
        /* a few minutes: the two kernels dispatch would pick between, 8 candidates
         * each (unless asked otherwise) */
        sparq_tune_quick_cases(&run, &count);
        o.top_kernels = o.kernels ? 0 : 2;
        o.max_evaluations = o.max_evaluations ? o.max_evaluations : 8;
    }
    printf("tuning %zu case%s on %s with %s search, seed %llu\n", count,
           count == 1 ? "" : "s", sparq_context_caps(ctx)->name,
           sparq_tune_strategy_name(o.strategy), (unsigned long long)o.seed);
    fflush(stdout);
    cli_progress progress;
    cli_progress_start(&progress, count);
    o.progress = on_progress;
    o.user = &progress;
    double t0 = cli_now_seconds();
    sparq_tune_result *results = NULL;
    size_t n = 0;
    sparq_status st = sparq_tune_run(ctx, run, count, &o, &results, &n);
    cli_progress_done(&progress);
    int rc = 0;
    if (st != SPARQ_OK) {
        rc = cli_fail("tuning", st);
    } else {
        print_table(results, n);
        char path[4096];
        printf("tuned in %.1f s; results %s%s\n", cli_now_seconds() - t0,
               o.db_path && !*o.db_path ? "not saved (--db '')" : "merged into ",
               o.db_path && !*o.db_path ? "" : database_path(o.db_path, path, sizeof path));
    }
    free(results);
    return rc;
}

int cli_tune_main(int argc, char **argv)
{
    tune_args args;
    int rc = parse_args(argc, argv, &args);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    sparq_context *ctx = NULL;
    sparq_status st = sparq_context_create(NULL, &ctx);
    if (st != SPARQ_OK)
        return cli_fail("creating a context", st);
    if (args.list) {
        char *text = NULL;
        if ((st = sparq_tune_describe(ctx, &text)) != SPARQ_OK)
            rc = cli_fail("describing the tuning state", st);
        else
            fputs(text, stdout);
        free(text);
    }
    if (rc == 0 && (args.quick || args.full || args.count))
        rc = run_tuning(ctx, &args);
    sparq_context_free(ctx);
    return rc;
}
