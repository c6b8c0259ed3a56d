/* SPDX-License-Identifier: Apache-2.0 */
/* tuner.c - sparq_tune_run: for each case and each kernel of the registry that runs it,
 * the search of tuner_search.c, then the measured dense/sparse break-even (the paths
 * timed in turns); results into the tuning database. Also sparq_tune_describe and the
 * timing helpers the search shares.
 */
#include "tuner_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A break-even closer than this (slower / faster path) is timed again with
 * NEAR_TIE_ROUNDS times the rounds before it is decided. */
#define NEAR_TIE 1.15
#define NEAR_TIE_ROUNDS 3

/* ---- timing ------------------------------------------------------------------------- */

/* ---- break-even --------------------------------------------------------------------- */

/* Microseconds from a marker enqueued just before a path to the end of the path's event:
 * a path of several kernels (CLBlast pads, multiplies and copies back; its event is the
 * last kernel's) counts whole. sparq_tune_event_us(end) without a usable marker. */
static double span_us(cl_event start, cl_event end)
{
    cl_ulong from = 0, to = 0;
    if (!start ||
        clGetEventProfilingInfo(start, CL_PROFILING_COMMAND_END, sizeof from, &from, NULL) !=
            CL_SUCCESS ||
        clGetEventProfilingInfo(end, CL_PROFILING_COMMAND_END, sizeof to, &to, NULL) !=
            CL_SUCCESS ||
        from == 0 || to <= from)
        return sparq_tune_event_us(end);
    return (double)(to - from) / 1e3;
}

/* Median time (us, profiling events) of repeats calls of each of count paths (at most
 * 3), run in turns — one call of each per round, after a warm-up round — so that a drift
 * in the machine's speed (large on shared machines) hits every path alike; each call
 * after a cache flush, as in time_candidate. Each call is
 * timed from a marker before it to the end of its last kernel (span_us): every kernel of
 * a path counts, CLBlast's bias fill and padding included. A path from `optional` on
 * that fails (CLBlast not built in) gets INFINITY; any other failure is returned. */
typedef sparq_status (*path_fn)(sparq_bench_case *b, const void *arg, cl_event *event);

static sparq_status time_paths(sparq_bench_case *b, const path_fn *fns,
                               const void *const *args, size_t count, size_t optional,
                               unsigned repeats, double *us)
{
    double times[3][32];
    bool failed[3] = {false, false, false};
    unsigned rounds = repeats < 32 ? repeats : 32;
    for (unsigned round = 0; round <= rounds; round++) /* round 0 warms up */
        for (size_t i = 0; i < count && i < 3; i++) {
            if (failed[i])
                continue;
            cl_event start = NULL, e = NULL;
            sparq_status st = sparq_cache_flush_enqueue(b->ctx, b->queue, &b->flush);
            if (st != SPARQ_OK)
                return st;
            if (clEnqueueMarkerWithWaitList(b->queue, 0, NULL, &start) != CL_SUCCESS)
                start = NULL;
            st = fns[i](b, args[i], &e);
            if (st == SPARQ_OK) {
                clWaitForEvents(1, &e);
                if (round > 0)
                    times[i][round - 1] = span_us(start, e);
                clReleaseEvent(e);
            }
            if (start)
                clReleaseEvent(start);
            if (st != SPARQ_OK && i < optional)
                return st;
            failed[i] = st != SPARQ_OK;
        }
    for (size_t i = 0; i < count && i < 3; i++)
        us[i] = failed[i] ? INFINITY : sparq_tune_sorted_median(times[i], rounds);
    return SPARQ_OK;
}

typedef struct sparse_arg {
    const sparq_kernel_info *k;
    const sparq_kernel_params *p;
} sparse_arg;

static sparq_status run_sparse(sparq_bench_case *b, const void *arg, cl_event *event)
{
    const sparse_arg *s = arg;
    sparq_linear_args a = {.matrix = b->matrix, .queue = b->queue, .batch = b->c->batch,
                           .x = b->x, .y = b->y, .event = event};
    return sparq_linear_run(s->k, s->p, &a);
}

static sparq_status run_dense_path(sparq_bench_case *b, const void *arg, cl_event *event)
{
    (void)arg;
    return sparq_linear(b->dense, b->queue, b->x, 0, b->y, 0, b->c->batch, NULL, 0, NULL,
                        event);
}

static sparq_status run_clblast(sparq_bench_case *b, const void *arg, cl_event *event)
{
    (void)arg;
    return sparq_linear_dense(b->ctx, b->queue, SPARQ_DENSE_BACKEND_CLBLAST, b->c->batch,
                              b->c->rows, b->c->cols, b->x, 0,
                              b->dense->buf[SPARQ_ARRAY_DENSE], 0, NULL, 0, b->y, 0, 0, NULL,
                              event);
}

static sparq_status break_even(const sparq_tune_options *o, sparq_bench_case *b,
                               const sparq_kernel_info *k, const sparq_kernel_params *p,
                               sparq_tune_choice_entry *choice, sparq_tune_result *r)
{
    unsigned repeats = o->repeats ? o->repeats : 5;
    sparse_arg s = {k, p};
    /* sparse, sparq's dense path, CLBlast (optional: built without it, the dense path) */
    const path_fn fns[3] = {run_sparse, run_dense_path, run_clblast};
    const void *const args[3] = {&s, NULL, NULL};
    double us[3];
    sparq_status st = time_paths(b, fns, args, 3, 2, repeats, us);
    if (st != SPARQ_OK)
        return st;
    /* a near tie is decided by the run-to-run noise of a few rounds: time it again, longer */
    double dense_best = us[2] < us[1] ? us[2] : us[1];
    double near = us[0] > dense_best ? us[0] / dense_best : dense_best / us[0];
    if (near < NEAR_TIE && (st = time_paths(b, fns, args, 3, 2, NEAR_TIE_ROUNDS * repeats,
                                             us)) != SPARQ_OK)
        return st;
    double sparse_us = us[0], own_us = us[1], clblast_us = us[2];
    memset(choice, 0, sizeof *choice);
    choice->structure = b->c->format.structure;
    choice->block_rows = b->c->format.block_rows;
    choice->block_cols = b->c->format.block_cols;
    choice->nm_n = b->c->format.nm_n;
    choice->nm_m = b->c->format.nm_m;
    choice->encoding = b->c->format.quant.encoding;
    sparq_matrix_shape_class(b->matrix, b->c->batch, choice->shape_class,
                             sizeof choice->shape_class);
    snprintf(choice->kernel, sizeof choice->kernel, "%s", k->name);
    choice->sparse_us = sparse_us;
    bool clblast = clblast_us < own_us;
    snprintf(choice->dense_name, sizeof choice->dense_name, "%s",
             clblast ? "clblast" : b->c->batch > 1 ? "linear_dense_q_tiled"
                                                   : "linear_dense_rowdot");
    choice->dense_us = clblast ? clblast_us : own_us;
    choice->dense = choice->dense_us < sparse_us;
    sparq_source_hash_get(b->ctx, k->source, choice->source_hash);
    snprintf(choice->sparq_version, sizeof choice->sparq_version, "%s", sparq_version_string());

    snprintf(r->kernel, sizeof r->kernel, "dense/sparse");
    r->default_us = choice->dense_us;
    r->best_us = sparse_us;
    snprintf(r->choice, sizeof r->choice, "%s %s (%.2fx)", choice->dense ? "dense" : "sparse",
             choice->dense ? choice->dense_name : choice->kernel,
             choice->dense ? sparse_us / choice->dense_us : choice->dense_us / sparse_us);
    return SPARQ_OK;
}

/* ---- sparq_tune_run ------------------------------------------------------------------ */

static bool kernel_selected(const char *list, const char *name)
{
    if (!list || !*list)
        return true;
    size_t len = strlen(name);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && strncmp(p, name, n) == 0)
            return true;
        p += n + (end ? 1 : 0);
    }
    return false;
}

static sparq_status results_push(sparq_tune_result **rows, size_t *count, size_t *capacity,
                                 const sparq_tune_result *r)
{
    if (*count == *capacity) {
        size_t cap = *capacity ? 2 * *capacity : 16;
        sparq_tune_result *grown = realloc(*rows, cap * sizeof *grown);
        if (!grown)
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
        *rows = grown;
        *capacity = cap;
    }
    (*rows)[(*count)++] = *r;
    return SPARQ_OK;
}

/* Whether k is tuned for this case: a sparq_linear kernel of its format (W8A8 kernels
 * for W8A8 cases, the others otherwise); for dense f32 weights (the dense path) the
 * dense tiled kernel above batch 1 (batch 1 runs sparq_linear_dense's own kernel or
 * CLBlast). */
static bool kernel_tunable(const sparq_tune_case *c, const sparq_kernel_info *k)
{
    const sparq_pack_options *f = &c->format;
    if (f->structure == SPARQ_STRUCTURE_DENSE && f->quant.encoding == SPARQ_ENCODING_F32)
        return c->batch > 1 && strcmp(k->name, "linear_dense_q_tiled") == 0;
    return sparq_kernel_runs_format(k, f, c->quantize_activations != 0);
}

/* The rank dispatch gives k with default parameters for this case (0: can't run). */
static int default_rank(const sparq_bench_case *b, const sparq_kernel_info *k)
{
    const sparq_device_caps *caps = sparq_context_caps(b->ctx);
    sparq_kernel_params p;
    char why[256];
    sparq_kernel_default_params(k, caps, &p);
    return sparq_kernel_rank(k, b->matrix, b->c->batch, caps, &p, why, sizeof why);
}

/* Whether k is among the `top` kernels of the case by default rank (0: all are). */
static bool kernel_in_top(const sparq_bench_case *b, const sparq_kernel_info *k,
                          unsigned top)
{
    if (top == 0)
        return true;
    int mine = default_rank(b, k);
    unsigned higher = 0;
    for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
        const sparq_kernel_info *c = sparq_kernel_row(i);
        if (kernel_tunable(b->c, c) && default_rank(b, c) > mine)
            higher++;
    }
    return higher < top;
}

/* Tunes one prepared case: every selected kernel, then the break-even. */
static sparq_status tune_case(const sparq_tune_options *o, sparq_bench_case *b,
                              uint64_t seed, sparq_tunedb *db, const sparq_tune_device *device,
                              const char *key, const char *type_key, sparq_tune_result **rows,
                              size_t *count, size_t *capacity)
{
    const sparq_kernel_info *best_k = NULL;
    sparq_kernel_params best_p;
    double best_us = INFINITY;
    char shape[64];
    sparq_matrix_shape_class(b->matrix, b->c->batch, shape, sizeof shape);
    sparq_status st = SPARQ_OK;
    for (size_t i = 0; i < sparq_kernel_registry_size() && st == SPARQ_OK; i++) {
        const sparq_kernel_info *k = sparq_kernel_row(i);
        if (!kernel_tunable(b->c, k) || !kernel_selected(o->kernels, k->name) ||
            !kernel_in_top(b, k, o->top_kernels))
            continue;
        sparq_tune_result r = {0};
        sparq_kernel_params p = {{0}};
        snprintf(r.encoding, sizeof r.encoding, "%s",
                 sparq_encoding_name(b->c->format.quant.encoding));
        snprintf(r.shape_class, sizeof r.shape_class, "%s", shape);
        if ((st = sparq_bench_case_search(b, o, k, seed, &r, &p)) != SPARQ_OK)
            break;
        if (r.space == 0)
            continue; /* this kernel can't run this case at all */
        if (isfinite(r.best_us)) {
            sparq_tune_params_entry e = {0};
            snprintf(e.kernel, sizeof e.kernel, "%s", k->name);
            if (k->structure == SPARQ_STRUCTURE_BSR) {
                e.block_rows = b->c->format.block_rows;
                e.block_cols = b->c->format.block_cols;
            }
            e.encoding = b->c->format.quant.encoding;
            snprintf(e.shape_class, sizeof e.shape_class, "%s", shape);
            e.params = p;
            e.time_us = r.best_us;
            e.default_us = r.default_us;
            sparq_source_hash_get(b->ctx, k->source, e.source_hash);
            snprintf(e.sparq_version, sizeof e.sparq_version, "%s", sparq_version_string());
            snprintf(e.strategy, sizeof e.strategy, "%s", sparq_tune_strategy_name(o->strategy));
            e.evaluations = r.evaluations;
            e.seed = seed;
            if ((st = sparq_tunedb_put_params(db, device, key, &e)) != SPARQ_OK ||
                (type_key && (st = sparq_tunedb_put_params(db, device, type_key, &e))))
                break;
            if (r.best_us < best_us) {
                best_us = r.best_us;
                best_k = k;
                best_p = p;
            }
        }
        st = results_push(rows, count, capacity, &r);
    }
    if (st != SPARQ_OK || !best_k || !b->dense || o->skip_break_even || o->fake_time_us)
        return st;
    sparq_tune_result r = {0};
    sparq_tune_choice_entry choice;
    snprintf(r.encoding, sizeof r.encoding, "%s",
             sparq_encoding_name(b->c->format.quant.encoding));
    snprintf(r.shape_class, sizeof r.shape_class, "%s", shape);
    if ((st = break_even(o, b, best_k, &best_p, &choice, &r)) == SPARQ_OK &&
        (st = sparq_tunedb_put_choice(db, device, key, &choice)) == SPARQ_OK &&
        (!type_key || (st = sparq_tunedb_put_choice(db, device, type_key, &choice)) == SPARQ_OK))
        st = results_push(rows, count, capacity, &r);
    return st;
}

sparq_status sparq_tune_run(sparq_context *ctx, const sparq_tune_case *cases, size_t count,
                            const sparq_tune_options *options, sparq_tune_result **results,
                            size_t *result_count)
{
    if (!ctx || (!cases && count) || !results || !result_count)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune: NULL argument");
    *results = NULL;
    *result_count = 0;
    sparq_tune_options o = options ? *options : (sparq_tune_options){0};
    if (sparq_check_reserved(o.reserved, "tune", "sparq_tune_options") != SPARQ_OK)
        return SPARQ_ERROR_INVALID_ARGUMENT;
    if ((unsigned)o.strategy > SPARQ_TUNE_ANNEAL)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune: unknown strategy %d",
                          (int)o.strategy);
    for (const char *p = o.kernels; p && *p;) {
        char name[64];
        size_t n = strcspn(p, ",");
        snprintf(name, sizeof name, "%.*s", (int)(n < 63 ? n : 63), p);
        const sparq_kernel_info *k = sparq_kernel_find(name);
        if (!k || !k->rank)
            return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                              "tune: \"%s\" is not a tunable kernel (sparq tune --list)", name);
        p += n + (p[n] == ',');
    }
    sparq_tunedb *db = NULL;
    sparq_status st = sparq_tunedb_create(&db);
    if (st != SPARQ_OK)
        return st;
    sparq_tune_device device;
    sparq_tune_device_from_caps(&ctx->caps, &device);
    char key[768], type_key[64];
    sparq_tunedb_device_key(&device, key, sizeof key);
    sparq_tunedb_type_key(&device, type_key, sizeof type_key);
    size_t capacity = 0;
    for (size_t i = 0; i < count && st == SPARQ_OK; i++) {
        sparq_bench_case b;
        uint64_t seed = o.seed + i;
        if ((st = sparq_bench_case_prepare(ctx, &cases[i], seed, &b)) != SPARQ_OK)
            break;
        b.index = i;
        b.total = count;
        st = tune_case(&o, &b, seed, db, &device, key, o.also_type_default ? type_key : NULL,
                       results, result_count, &capacity);
        sparq_bench_case_free(&b);
        if (o.progress) {
            char label[160], format[64];
            sparq_format_name(&cases[i].format, format, sizeof format);
            snprintf(label, sizeof label, "%s %zux%zu b%zu", format, cases[i].rows,
                     cases[i].cols, cases[i].batch);
            o.progress(o.user, i + 1, count, label);
        }
    }
    char path[1024] = "";
    if (st == SPARQ_OK && !(o.db_path && !*o.db_path)) {
        if (o.db_path)
            snprintf(path, sizeof path, "%s", o.db_path);
        else if (!sparq_tunedb_user_path(path, sizeof path))
            st = sparq_fail(SPARQ_ERROR_IO, "tune: no place for the user database (set "
                            "SPARQ_TUNE_DB, XDG_CACHE_HOME or HOME)");
        if (st == SPARQ_OK)
            st = sparq_tunedb_merge_into_file(db, path);
        sparq_context_tune_forget(ctx);
    }
    sparq_tunedb_free(db);
    if (st != SPARQ_OK) {
        free(*results);
        *results = NULL;
        *result_count = 0;
    }
    return st;
}

/* ---- sparq_tune_describe ---------------------------------------------------------- */

sparq_status sparq_tune_describe(sparq_context *ctx, char **text)
{
    if (!ctx || !text)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "tune_describe: NULL argument");
    *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(text, &size);
    if (!out)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune_describe: out of memory");
    fprintf(out, "tunable kernels (candidates; default on this device first):\n");
    for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
        const sparq_kernel_info *k = sparq_kernel_row(i);
        if (!k->rank)
            continue;
        sparq_kernel_params def;
        sparq_kernel_default_params(k, &ctx->caps, &def);
        fprintf(out, "  %-22s %s %s\n", k->name, sparq_structure_name(k->structure),
                k->summary);
        for (int t = 0; t < SPARQ_MAX_TUNABLES && k->tunables[t].name; t++) {
            fprintf(out, "  %22s   %-10s %u:", "", k->tunables[t].name, def.value[t]);
            for (int c = 0; c < SPARQ_MAX_CANDIDATES && k->tunables[t].candidates[c]; c++)
                fprintf(out, " %u", k->tunables[t].candidates[c]);
            fputc('\n', out);
        }
    }
    sparq_tune_chain chain;
    sparq_context_tune_chain(ctx, &chain);
    char path[1024] = "";
    bool have_path = sparq_tunedb_user_path(path, sizeof path);
    fprintf(out, "\ndatabases: user %s (%zu entries%s%s), shipped (%zu entries%s%s)\n",
            have_path ? path : "(no path)", chain.user ? sparq_tunedb_count(chain.user) : 0,
            chain.user && *sparq_tunedb_warning(chain.user) ? "; " : "",
            chain.user ? sparq_tunedb_warning(chain.user) : "",
            chain.shipped ? sparq_tunedb_count(chain.shipped) : 0,
            chain.shipped && *sparq_tunedb_warning(chain.shipped) ? "; " : "",
            chain.shipped ? sparq_tunedb_warning(chain.shipped) : "");
    sparq_tune_device device;
    sparq_tune_device_from_caps(&ctx->caps, &device);
    fprintf(out, "\nquick cases on this device (%s), where each kernel's parameters come "
            "from:\n", ctx->caps.name);
    const sparq_tune_case *quick_cases;
    size_t quick_count;
    sparq_tune_quick_cases(&quick_cases, &quick_count);
    for (size_t i = 0; i < quick_count; i++) {
        const sparq_tune_case *c = &quick_cases[i];
        double per_row = c->format.structure == SPARQ_STRUCTURE_DENSE ? (double)c->cols
                         : c->format.structure == SPARQ_STRUCTURE_NM
                             ? (double)c->cols * c->format.nm_n / c->format.nm_m
                             : (1.0 - c->sparsity) * (double)c->cols;
        char shape[64];
        sparq_tune_shape_class(c->rows, c->cols, c->batch, per_row, shape, sizeof shape);
        char detail[192], format[64];
        sparq_format_name(&c->format, format, sizeof format);
        fprintf(out, "  %s %zux%zu batch %zu (class %s)\n", format, c->rows, c->cols, c->batch,
                shape);
        for (size_t j = 0; j < sparq_kernel_registry_size(); j++) {
            const sparq_kernel_info *k = sparq_kernel_row(j);
            if (!kernel_tunable(c, k))
                continue;
            char hash[17], params[128] = "";
            sparq_kernel_params p;
            sparq_source_hash_get(ctx, k->source, hash);
            sparq_tune_lookup_params(&chain, &device, k, c->format.quant.encoding,
                                     c->format.block_rows, c->format.block_cols, shape, hash,
                                     &p, detail, sizeof detail);
            sparq_kernel_options_append(k, &p, params, sizeof params);
            fprintf(out, "    %-22s %-40s %s\n", k->name, params, detail);
        }
        sparq_tune_choice_entry choice;
        sparq_param_source source;
        if (c->format.structure != SPARQ_STRUCTURE_DENSE &&
            sparq_tune_lookup_choice(&chain, &device, &c->format, shape, &choice, &source,
                                     detail, sizeof detail))
            fprintf(out, "    break-even: %s (sparse %s %.1f us, dense %s %.1f us; %s)\n",
                    choice.dense ? "dense" : "sparse", choice.kernel, choice.sparse_us,
                    choice.dense_name, choice.dense_us, detail);
    }
    if (fclose(out) != 0 || !*text) {
        free(*text);
        *text = NULL;
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune_describe: out of memory");
    }
    return SPARQ_OK;
}
