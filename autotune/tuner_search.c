/* SPDX-License-Identifier: Apache-2.0 */
/* tuner_search.c - the search over one kernel's candidate values on a prepared case
 * (exhaustive, random, simulated annealing): every candidate checked against the C
 * reference with guard words before it is timed with profiling events, the default and
 * the best confirmed side by side. Also the strategies' names and the tuner's random numbers.
 */
#include "tuner_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A candidate this many times slower than the best so far is not timed further. */
#define CUT_FACTOR 3.0
/* Most points a kernel's space may have (every tunable's candidates multiplied). */
#define MAX_SPACE 4096
/* Annealing: the fraction of the evaluation budget after which it only polishes the best. */
#define POLISH_FROM 0.75
/* Rounds of side-by-side timing of the default and the best before they are reported. */
#define CONFIRM_ROUNDS 3

/* ---- strategies' names ------------------------------------------------------------- */

static const char *const strategy_names[] = {"exhaustive", "random", "anneal"};

const char *sparq_tune_strategy_name(sparq_tune_strategy strategy)
{
    return (unsigned)strategy < 3 ? strategy_names[strategy] : "?";
}

sparq_status sparq_tune_strategy_parse(const char *name, sparq_tune_strategy *strategy)
{
    for (int i = 0; name && strategy && i < 3; i++)
        if (strcmp(name, strategy_names[i]) == 0) {
            *strategy = (sparq_tune_strategy)i;
            return SPARQ_OK;
        }
    return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                      "tune: unknown strategy \"%s\" (exhaustive, random or anneal)",
                      name ? name : "(null)");
}

/* ---- evaluating one candidate -------------------------------------------------------- */

typedef struct tune_run {
    const sparq_tune_options *o;
    sparq_bench_case *b;
    const sparq_kernel_info *k;
    unsigned repeats;
    double best_us;       /* best median so far (cut-off reference)                    */
    unsigned evaluations, rejected;
} tune_run;

/* Runs k with p once into y (guard words set first) and checks every output against the
 * reference and the guard words. Returns false (with why) for a wrong result. */
static sparq_status check_candidate(tune_run *t, const sparq_kernel_params *p,
                                    const char *params, bool *ok, char *why, size_t why_size)
{
    sparq_bench_case *b = t->b;
    cl_uint guard = GUARD_BITS;
    cl_event run = NULL;
    cl_int err = clEnqueueFillBuffer(b->queue, b->y, &guard, sizeof guard, 0,
                                     (b->n_out + GUARD_COUNT) * sizeof(float), 0, NULL, NULL);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "tune: clEnqueueFillBuffer");
    sparq_linear_args a = {.matrix = b->matrix, .queue = b->queue, .batch = b->c->batch,
                           .x = b->x, .y = b->y, .event = &run};
    sparq_status st = sparq_linear_run(t->k, p, &a);
    if (st != SPARQ_OK)
        return st;
    err = clEnqueueReadBuffer(b->queue, b->y, CL_TRUE, 0,
                              (b->n_out + GUARD_COUNT) * sizeof(float), b->out, 1, &run, NULL);
    clReleaseEvent(run);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "tune: clEnqueueReadBuffer");
    if (t->o->corrupt && t->o->corrupt(t->o->user, t->k->name, params))
        b->out[b->n_out / 2] += 1.0f + fabsf(b->out[b->n_out / 2]);
    *ok = true;
    for (size_t i = 0; i < GUARD_COUNT && *ok; i++) {
        uint32_t bits;
        memcpy(&bits, &b->out[b->n_out + i], sizeof bits);
        if (bits != GUARD_BITS) {
            snprintf(why, why_size, "wrote past its output (guard word %zu)", i);
            *ok = false;
        }
    }
    for (size_t i = 0; i < b->n_out && *ok; i++) {
        double tol = 1e-4 * (double)b->scale[i] + 1e-6;
        if (!(fabs((double)b->out[i] - b->ref[i]) <= tol)) { /* also catches NaN */
            snprintf(why, why_size, "y[%zu] = %g, the reference is %g", i, b->out[i],
                     b->ref[i]);
            *ok = false;
        }
    }
    return SPARQ_OK;
}

/* The median time of k with p (after a warm-up run); a candidate CUT_FACTOR x slower
 * than the best so far stops after its first timed run. Each run comes after a cache
 * flush: its weights stream from memory, as when a model's layers run one after the
 * other (timed alone, a matrix smaller than the last-level cache would be read from it,
 * and the tuner would pick for that instead). */
static sparq_status time_candidate(tune_run *t, const sparq_kernel_params *p,
                                   const char *params, double *us)
{
    sparq_status st;
    double times[32];
    unsigned n = 0;
    sparq_bench_case *b = t->b;
    sparq_linear_args a = {.matrix = b->matrix, .queue = b->queue, .batch = b->c->batch,
                           .x = b->x, .y = b->y};
    for (int i = -1; i < (int)t->repeats; i++) {
        cl_event run = NULL;
        a.event = &run;
        if ((st = sparq_cache_flush_enqueue(b->ctx, b->queue, &b->flush)) != SPARQ_OK ||
            (st = sparq_linear_run(t->k, p, &a)) != SPARQ_OK)
            return st;
        clWaitForEvents(1, &run);
        double run_us = sparq_tune_event_us(run);
        clReleaseEvent(run);
        if (i < 0)
            continue; /* warm-up */
        times[n++] = run_us;
        if (i == 0 && t->best_us > 0 && times[0] > CUT_FACTOR * t->best_us)
            break; /* clearly bad: cut short */
    }
    *us = sparq_tune_sorted_median(times, n);
    sparq_log(SPARQ_LOG_INFO, "tune: %s %s: median %.1f us of %u (min %.1f, max %.1f)",
              t->k->name, params, *us, n, times[0], times[n - 1]);
    return SPARQ_OK;
}

/* Median time (us) of k with p: checked first; +inf for a wrong candidate. Tells the
 * candidate observer. */
static sparq_status evaluate(tune_run *t, const sparq_kernel_params *p, double *us)
{
    char params[256] = "", why[256] = "";
    sparq_kernel_options_append(t->k, p, params, sizeof params);
    bool ok = false;
    t->evaluations++;
    sparq_status st = check_candidate(t, p, params, &ok, why, sizeof why);
    if (st != SPARQ_OK)
        return st;
    if (!ok) {
        t->rejected++;
        sparq_log(SPARQ_LOG_INFO, "tune: %s %s rejected: %s", t->k->name, params, why);
        *us = INFINITY;
    } else if (t->o->fake_time_us) {
        *us = t->o->fake_time_us(t->o->user, t->k->name, params);
    } else if ((st = time_candidate(t, p, params, us)) != SPARQ_OK) {
        return st;
    }
    if (t->o->candidate)
        t->o->candidate(t->o->user, t->k->name, params, *us);
    return SPARQ_OK;
}

/* ---- the search space ---------------------------------------------------------------- */

typedef struct space {
    unsigned count;
    sparq_kernel_params *points; /* valid points, in registry order                     */
    int tunables;
} space;

/* The candidate index of each tunable of p (-1 when a value isn't a candidate). */
static void point_indices(const sparq_kernel_info *k, const sparq_kernel_params *p, int *idx)
{
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++) {
        idx[i] = -1;
        for (int j = 0; j < SPARQ_MAX_CANDIDATES && k->tunables[i].candidates[j]; j++)
            if (k->tunables[i].candidates[j] == p->value[i])
                idx[i] = j;
    }
}

/* Every combination of candidates that fits the device and that rank accepts. */
static sparq_status space_build(const sparq_kernel_info *k, const sparq_bench_case *b,
                                space *s)
{
    memset(s, 0, sizeof *s);
    int counts[SPARQ_MAX_TUNABLES] = {0};
    size_t total = 1;
    while (s->tunables < SPARQ_MAX_TUNABLES && k->tunables[s->tunables].name) {
        int c = 0;
        while (c < SPARQ_MAX_CANDIDATES && k->tunables[s->tunables].candidates[c])
            c++;
        counts[s->tunables++] = c ? c : 1;
        total *= (size_t)(c ? c : 1);
    }
    if (total > MAX_SPACE)
        return sparq_fail(SPARQ_ERROR_INTERNAL, "tune: %s has %zu points", k->name, total);
    s->points = malloc(total * sizeof *s->points);
    if (!s->points)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
    const sparq_device_caps *caps = sparq_context_caps(b->ctx);
    for (size_t n = 0; n < total; n++) {
        sparq_kernel_params p;
        sparq_kernel_default_params(k, caps, &p);
        size_t rest = n;
        for (int i = s->tunables - 1; i >= 0; i--) {
            unsigned v = k->tunables[i].candidates[rest % (size_t)counts[i]];
            p.value[i] = v ? v : p.value[i];
            rest /= (size_t)counts[i];
        }
        char why[256];
        if (sparq_kernel_rank(k, b->matrix, b->c->batch, caps, &p, why, sizeof why) > 0)
            s->points[s->count++] = p;
    }
    return SPARQ_OK;
}

static int space_find(const space *s, const sparq_kernel_params *p)
{
    for (unsigned i = 0; i < s->count; i++)
        if (memcmp(&s->points[i], p, sizeof *p) == 0)
            return (int)i;
    return -1;
}

/* An unevaluated neighbour of point `from` (times[i] NAN: not evaluated): one tunable
 * set to another of its candidates (any, not only the adjacent ones: kernel timings are
 * rugged in each parameter), valid. -1 when 32 random tries find none. */
static int space_neighbour(const sparq_kernel_info *k, const space *s, const double *times,
                           int from, uint64_t *rng)
{
    for (int attempt = 0; attempt < 32; attempt++) {
        sparq_kernel_params p = s->points[from];
        int idx[SPARQ_MAX_TUNABLES];
        point_indices(k, &p, idx);
        int t = (int)(sparq_tune_random_next(rng) % (uint64_t)s->tunables), count = 0;
        while (count < SPARQ_MAX_CANDIDATES && k->tunables[t].candidates[count])
            count++;
        int j = count ? (int)(sparq_tune_random_next(rng) % (uint64_t)count) : -1;
        if (idx[t] < 0 || j < 0 || j == idx[t])
            continue;
        p.value[t] = k->tunables[t].candidates[j];
        int found = space_find(s, &p);
        if (found >= 0 && isnan(times[found]))
            return found;
    }
    return -1;
}

/* A random unevaluated point; -1 when every point is evaluated. */
static int space_unevaluated(const space *s, const double *times, uint64_t *rng)
{
    unsigned first = (unsigned)(sparq_tune_random_next(rng) % s->count);
    for (unsigned i = 0; i < s->count; i++)
        if (isnan(times[(first + i) % s->count]))
            return (int)((first + i) % s->count);
    return -1;
}

/* ---- strategies ---------------------------------------------------------------------- */

typedef struct search {
    tune_run *t;
    const space *s;
    double *times;        /* per point; NAN = not evaluated                           */
    int best;
    double deadline;      /* wall clock; 0 = none                                     */
    unsigned max_evals;
} search;

static bool search_over(const search *x)
{
    return x->t->evaluations >= x->max_evals ||
           (x->deadline > 0 && sparq_now_seconds() > x->deadline && x->best >= 0);
}

/* Evaluates point i (once; later calls return the stored time). */
static sparq_status search_eval(search *x, int i, double *us)
{
    if (!isnan(x->times[i])) {
        *us = x->times[i];
        return SPARQ_OK;
    }
    sparq_status st = evaluate(x->t, &x->s->points[i], &x->times[i]);
    if (st != SPARQ_OK)
        return st;
    *us = x->times[i];
    if (isfinite(*us) && (x->best < 0 || *us < x->times[x->best])) {
        x->best = i;
        x->t->best_us = *us;
    }
    const sparq_tune_options *o = x->t->o;
    if (o->progress) {
        char label[128];
        snprintf(label, sizeof label, "%s: %u evaluated", x->t->k->name, x->t->evaluations);
        o->progress(o->user, x->t->b->index, x->t->b->total, label);
    }
    return SPARQ_OK;
}

static sparq_status search_run(search *x, sparq_tune_strategy strategy, int start,
                               uint64_t *rng)
{
    unsigned n = x->s->count;
    double us;
    sparq_status st = SPARQ_OK;
    if (strategy == SPARQ_TUNE_EXHAUSTIVE || strategy == SPARQ_TUNE_RANDOM) {
        unsigned *order = malloc(n * sizeof *order);
        if (!order)
            return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
        for (unsigned i = 0; i < n; i++)
            order[i] = i;
        for (unsigned i = n; strategy == SPARQ_TUNE_RANDOM && i > 1; i--) {
            unsigned j = (unsigned)(sparq_tune_random_next(rng) % i);
            unsigned tmp = order[i - 1];
            order[i - 1] = order[j];
            order[j] = tmp;
        }
        for (unsigned i = 0; i < n && st == SPARQ_OK && !search_over(x); i++)
            st = search_eval(x, (int)order[i], &us);
        free(order);
        return st;
    }
    /* Simulated annealing: from the default, move to an unevaluated neighbour; take it
     * when faster, or when slower with probability exp(-relative slowdown /
     * temperature); the temperature falls geometrically from 0.3 to 0.01 over the
     * evaluation budget; the last quarter of it moves from the best point found only.
     * Where every neighbour is known (a local minimum explored), restart from a random
     * unevaluated point. */
    int current = start;
    double current_us;
    if ((st = search_eval(x, current, &current_us)) != SPARQ_OK)
        return st;
    while (!search_over(x)) {
        double progress = (double)x->t->evaluations / (double)x->max_evals;
        double temperature = 0.3 * pow(0.01 / 0.3, progress);
        if (progress >= POLISH_FROM && x->best >= 0) {
            current = x->best; /* the last quarter polishes the best point found */
            current_us = x->times[x->best];
        }
        int next = space_neighbour(x->t->k, x->s, x->times, current, rng);
        bool restart = next < 0;
        if (restart && (next = space_unevaluated(x->s, x->times, rng)) < 0)
            break; /* the whole space is evaluated */
        if ((st = search_eval(x, next, &us)) != SPARQ_OK)
            return st;
        double slowdown = isfinite(current_us) ? (us - current_us) / current_us : -1.0;
        if (restart || slowdown < 0 ||
            (isfinite(us) && sparq_tune_random_unit(rng) < exp(-slowdown / temperature))) {
            current = next;
            current_us = us;
        }
    }
    return SPARQ_OK;
}

/* Times the default and the search's best again, alternately (CONFIRM_ROUNDS each, the
 * median of their medians), so that the speedup compares two measurements taken side by
 * side rather than a search's luckiest one against the first run of a cold process; the
 * default stays when it is not slower after all. */
static sparq_status confirm(tune_run *t, const sparq_kernel_params *def, int *best,
                            const space *s, double *times, int def_index)
{
    double rounds[2][CONFIRM_ROUNDS];
    char params[2][256] = {"", ""};
    sparq_kernel_options_append(t->k, def, params[0], sizeof params[0]);
    sparq_kernel_options_append(t->k, &s->points[*best], params[1], sizeof params[1]);
    t->best_us = 0; /* no cut-off */
    for (int r = 0; r < CONFIRM_ROUNDS; r++)
        for (int which = 0; which < 2; which++) {
            sparq_status st = time_candidate(t, which ? &s->points[*best] : def, params[which],
                                             &rounds[which][r]);
            if (st != SPARQ_OK)
                return st;
        }
    times[def_index] = sparq_tune_sorted_median(rounds[0], CONFIRM_ROUNDS);
    times[*best] = sparq_tune_sorted_median(rounds[1], CONFIRM_ROUNDS);
    sparq_log(SPARQ_LOG_INFO, "tune: %s confirmed: default %.1f us, %s %.1f us", t->k->name,
              times[def_index], params[1], times[*best]);
    if (times[*best] >= times[def_index])
        *best = def_index;
    return SPARQ_OK;
}

/* ---- one (case, kernel) ---------------------------------------------------------------- */

sparq_status sparq_bench_case_search(sparq_bench_case *b, const sparq_tune_options *o,
                                     const sparq_kernel_info *k, uint64_t seed,
                                     sparq_tune_result *r, sparq_kernel_params *best_params)
{
    space s;
    sparq_status st = space_build(k, b, &s);
    if (st != SPARQ_OK)
        return st;
    const sparq_device_caps *caps = sparq_context_caps(b->ctx);
    sparq_kernel_params def;
    sparq_kernel_default_params(k, caps, &def);
    int start = space_find(&s, &def);
    tune_run t = {.o = o, .b = b, .k = k, .repeats = o->repeats ? o->repeats : 5};
    if (t.repeats > 32)
        t.repeats = 32;
    double *times = malloc((s.count ? s.count : 1) * sizeof *times);
    if (!times) {
        free(s.points);
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "tune: out of memory");
    }
    for (unsigned i = 0; i < s.count; i++)
        times[i] = NAN;
    search x = {.t = &t, .s = &s, .times = times, .best = -1};
    /* annealing: a third of the space, at least 12 (small rugged spaces need them) */
    unsigned default_evals = o->strategy == SPARQ_TUNE_ANNEAL ? (s.count + 2) / 3 : s.count;
    x.max_evals = o->max_evaluations ? o->max_evaluations
                  : o->strategy == SPARQ_TUNE_ANNEAL && default_evals < 12 ? 12
                                                                          : default_evals;
    double budget = o->budget_seconds > 0 ? o->budget_seconds
                    : o->strategy == SPARQ_TUNE_RANDOM ? 30.0 : 0.0;
    x.deadline = budget > 0 ? sparq_now_seconds() + budget : 0;
    snprintf(r->kernel, sizeof r->kernel, "%s", k->name);
    sparq_kernel_options_append(k, &def, r->default_params, sizeof r->default_params);
    r->space = s.count;
    uint64_t rng = seed ^ 0x5eed;
    double us = NAN;
    if (s.count > 0) {
        /* the default first: its time is the baseline, and annealing starts there */
        if (start < 0)
            start = (int)(sparq_tune_random_next(&rng) % s.count);
        st = search_eval(&x, start, &us);
        if (st == SPARQ_OK)
            st = search_run(&x, o->strategy, start, &rng);
    }
    int def_index = space_find(&s, &def);
    if (st == SPARQ_OK && x.best >= 0 && def_index >= 0 && x.best != def_index &&
        isfinite(times[def_index]) && !o->fake_time_us)
        st = confirm(&t, &def, &x.best, &s, times, def_index);
    r->default_us = def_index >= 0 ? times[def_index] : NAN;
    if (st == SPARQ_OK && x.best >= 0) {
        *best_params = s.points[x.best];
        r->best_us = times[x.best];
        sparq_kernel_options_append(k, best_params, r->best_params, sizeof r->best_params);
    } else {
        r->best_us = NAN;
    }
    r->evaluations = t.evaluations;
    r->rejected = t.rejected;
    free(times);
    free(s.points);
    return st;
}
