/* SPDX-License-Identifier: Apache-2.0 */
/* plan.c - the one home of dispatch's decisions (plan.h says what each function
 * decides). The lookup rule, everywhere: a tuned value from the databases (user, then
 * shipped device, then vendor/type default; host/tunedb_lookup.c) where one covers the case
 * and fits it, else the registry's (the highest rank, built-in defaults).
 */
#include "plan.h"

#include <stdio.h>
#include <string.h>

void sparq_matrix_shape_class(const sparq_matrix *m, size_t batch, char *out, size_t size)
{
    double per_row = m->format.structure == SPARQ_STRUCTURE_DENSE
                         ? (double)m->cols
                         : (double)m->stored / (double)m->rows;
    sparq_tune_shape_class(m->rows, m->cols, batch, per_row, out, size);
}

sparq_param_source sparq_matrix_tuned_params(const sparq_matrix *m, const sparq_kernel_info *k,
                                             size_t batch, sparq_kernel_params *p,
                                             char *detail, size_t detail_size)
{
    sparq_tune_chain chain;
    sparq_context_tune_chain(m->ctx, &chain);
    sparq_tune_device device;
    sparq_tune_device_from_caps(&m->ctx->caps, &device);
    char shape[64], hash[17];
    sparq_source_hash_get(m->ctx, k->source, hash);
    /* the dense path runs its kernels on dense f32 weights whatever the packed format */
    bool dense_path = k->structure == SPARQ_STRUCTURE_DENSE &&
                      (m->path == SPARQ_PATH_DENSE || m->format.structure != SPARQ_STRUCTURE_DENSE);
    sparq_encoding encoding = dense_path ? SPARQ_ENCODING_F32 : m->format.quant.encoding;
    if (dense_path)
        sparq_tune_shape_class(m->rows, m->cols, batch, (double)m->cols, shape, sizeof shape);
    else
        sparq_matrix_shape_class(m, batch, shape, sizeof shape);
    sparq_param_source source =
        sparq_tune_lookup_params(&chain, &device, k, encoding, m->format.block_rows,
                                 m->format.block_cols, shape, hash, p, detail, detail_size);
    /* fitted to this device and kernel: the nearest setting where a value breaks one of
     * their limits (a small work-group limit, little local memory) */
    sparq_device_caps caps;
    sparq_kernel_caps(m->ctx, k, &caps);
    char why[256];
    if (!sparq_kernel_params_fit(k, p, &caps, why, sizeof why) &&
        sparq_kernel_params_nearest(k, NULL, 0, &caps, p, why, sizeof why)) {
        size_t used = strlen(detail);
        snprintf(detail + used, detail_size - used, ", moved to the nearest setting that fits "
                 "(%s)", why);
    }
    return source;
}

/* Whether the tuned choice names kernel c as it is now: measured on the same kernel
 * file (a changed file may rank its kernels differently, or hold new ones). */
static bool tuned_kernel_pick(const sparq_matrix *m, const sparq_tune_choice_entry *choice,
                              const sparq_kernel_info *c)
{
    char hash[17];
    if (!choice || strcmp(choice->kernel, c->name) != 0)
        return false;
    sparq_source_hash_get(m->ctx, c->source, hash);
    return strcmp(choice->source_hash, hash) == 0;
}

/* Kernel c's parameters for (m, batch) and its rank with them (0: refused, reason says
 * why): its tuned parameters, else (or where they don't run the case) its defaults; with
 * nearest, where those don't either, the nearest setting of its candidates that does. */
static int kernel_setting(const sparq_matrix *m, const sparq_kernel_info *c, size_t batch,
                          bool nearest, sparq_kernel_params *p, sparq_param_source *source,
                          char *detail, size_t detail_size, char *reason, size_t reason_size)
{
    sparq_device_caps caps;
    sparq_kernel_caps(m->ctx, c, &caps);
    *source = sparq_matrix_tuned_params(m, c, batch, p, detail, detail_size);
    reason[0] = '\0';
    int r = sparq_kernel_rank(c, m, batch, &caps, p, reason, reason_size);
    if (r == 0 && *source != SPARQ_PARAM_SOURCE_DEFAULT) {
        *source = SPARQ_PARAM_SOURCE_DEFAULT;
        snprintf(detail, detail_size, "built-in default (tuned values don't fit: %s)", reason);
        sparq_kernel_default_params(c, &caps, p);
        r = sparq_kernel_rank(c, m, batch, &caps, p, reason, reason_size);
    }
    if (r == 0 && nearest) {
        char was[256];
        snprintf(was, sizeof was, "%s", reason);
        r = sparq_kernel_params_nearest(c, m, batch, &caps, p, reason, reason_size);
        if (r > 0) {
            size_t used = strlen(detail);
            snprintf(detail + used, detail_size - used,
                     ", moved to the nearest setting that runs this case (%s)", was);
        }
    }
    return r;
}

/* The kernel and parameters of the sparse path: the tuned choice when the databases
 * name one that runs this case (tuned on the current kernel file), else the highest
 * rank; each kernel with its tuned parameters (or defaults, when tuned ones don't fit
 * this case). Where no kernel runs the case so (a small work-group limit, little local
 * memory), a second pass moves each kernel's setting to the nearest one that does. */
static sparq_status plan_kernel(const sparq_matrix *m, size_t batch,
                                const sparq_tune_choice_entry *choice, sparq_plan *plan)
{
    int best_rank = 0;
    char reason[256], best_reason[256] = "", refused[768] = "";
    plan->k = NULL;
    for (int pass = 0; pass < 2 && !plan->k; pass++) {
        refused[0] = '\0';
        for (size_t i = 0; i < sparq_kernel_registry_size(); i++) {
            const sparq_kernel_info *c = sparq_kernel_row(i);
            if (!sparq_kernel_runs_format(c, &m->format, m->quantize_activations))
                continue;
            sparq_kernel_params p;
            sparq_param_source source;
            char detail[384];
            int r = kernel_setting(m, c, batch, pass == 1, &p, &source, detail, sizeof detail,
                                   reason, sizeof reason);
            bool tuned_pick = r > 0 && tuned_kernel_pick(m, choice, c);
            if (r == 0) {
                size_t used = strlen(refused);
                snprintf(refused + used, sizeof refused - used, "%s%s (%s)", used ? "; " : "",
                         c->name, reason);
            } else if (r > best_rank || tuned_pick) {
                best_rank = tuned_pick ? INT32_MAX : r;
                plan->k = c;
                plan->p = p;
                plan->source = source;
                snprintf(plan->detail, sizeof plan->detail, "%s", detail);
                if (tuned_pick)
                    snprintf(best_reason, sizeof best_reason, "fastest in tuning (%.1f us); %s",
                             choice->sparse_us, reason);
                else
                    snprintf(best_reason, sizeof best_reason, "%s", reason);
            }
        }
    }
    if (!plan->k)
        return sparq_fail(SPARQ_ERROR_UNSUPPORTED,
                          "linear: no kernel runs this matrix at batch %zu: %s", batch,
                          refused[0] ? refused : "none registered for its structure");
    snprintf(plan->why, sizeof plan->why, "%s%s%s", best_reason,
             refused[0] ? "; not usable: " : "", refused);
    return SPARQ_OK;
}

bool sparq_matrix_tuned_choice(const sparq_matrix *m, size_t batch,
                               sparq_tune_choice_entry *choice, char *detail,
                               size_t detail_size)
{
    sparq_tune_chain chain;
    sparq_context_tune_chain(m->ctx, &chain);
    sparq_tune_device device;
    sparq_tune_device_from_caps(&m->ctx->caps, &device);
    char shape[64];
    sparq_matrix_shape_class(m, batch, shape, sizeof shape);
    sparq_param_source source;
    return sparq_tune_lookup_choice(&chain, &device, &m->format, shape, choice, &source, detail,
                                    detail_size);
}

static sparq_status plan_build(sparq_matrix *m, size_t batch, sparq_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    plan->batch = batch;
    sparq_tune_choice_entry choice;
    char detail[384] = "";
    bool tuned = m->path != SPARQ_PATH_DENSE && m->format.structure != SPARQ_STRUCTURE_DENSE &&
                 sparq_matrix_tuned_choice(m, batch, &choice, detail, sizeof detail);
    if (m->path == SPARQ_PATH_DENSE) {
        plan->dense = true;
        snprintf(plan->choice, sizeof plan->choice, "dense path: %s", m->path_reason);
    } else if (tuned && m->dense_copy) {
        plan->tuned_path = true;
        plan->dense = choice.dense;
        if (strcmp(choice.dense_name, "clblast") == 0)
            plan->dense_backend = SPARQ_DENSE_BACKEND_CLBLAST;
        snprintf(plan->choice, sizeof plan->choice,
                 "%s path (tuned, %s): sparse %s %.1f us vs dense %s %.1f us, %s %.2fx "
                 "slower", choice.dense ? "dense" : "sparse", detail, choice.kernel,
                 choice.sparse_us, choice.dense_name, choice.dense_us,
                 choice.dense ? "sparse" : "dense",
                 choice.dense ? choice.sparse_us / choice.dense_us
                              : choice.dense_us / choice.sparse_us);
    } else if (m->dense_copy && m->rule_dense) {
        plan->dense = true;
        snprintf(plan->choice, sizeof plan->choice,
                 "dense path (no tuned class at batch %zu: the built-in rule, the packed "
                 "matrix moves at least the bytes of dense f32); %s", batch, m->path_reason);
    } else {
        /* AUTO without allow_dense_copy: where dense would win, say so and by how much */
        if (m->copy_declined && tuned && choice.dense)
            snprintf(plan->declined, sizeof plan->declined,
                     "dense path measured %.2fx faster; not held: set allow_dense_copy",
                     choice.sparse_us / choice.dense_us);
        else if (m->copy_declined && !tuned && m->rule_dense)
            snprintf(plan->declined, sizeof plan->declined,
                     "the built-in rule prefers the dense path at batch %zu; not held: set "
                     "allow_dense_copy", batch);
        snprintf(plan->choice, sizeof plan->choice, "sparse path%s%s%s: %s",
                 plan->declined[0] ? " (" : "", plan->declined, plan->declined[0] ? ")" : "",
                 m->path_reason);
    }
    plan->tuned_path = plan->tuned_path || m->path_tuned;
    if (plan->dense) {
        const sparq_kernel_info *k = sparq_kernel_find(batch > 1 ? "linear_dense_q_tiled"
                                                                 : "linear_dense_rowdot");
        plan->k = k;
        plan->source = sparq_matrix_tuned_params(m, k, batch, &plan->p, plan->detail,
                                                 sizeof plan->detail);
        return SPARQ_OK;
    }
    return plan_kernel(m, batch, tuned ? &choice : NULL, plan);
}

/* The AUTO path from the tuned dense/sparse choices of this device at batch 1, 8, 32 and
 * 128 (each the nearest tuned class of its batch regime; a batch no tuned class covers
 * takes the built-in rule, m->rule_dense): sparse when they all say so. Where some say
 * dense: with allow_copy, dense when all do, else both (the dense f32 copy kept next to
 * the packed arrays, each call following its batch's choice); without it, the matrix
 * holds one set of weights no larger than the packed arrays: dense f32 when all say
 * dense and it takes no more bytes (m->rule_dense), else the packed arrays, their
 * kernels running at every batch. False when nothing is tuned. */
static bool tuned_path(sparq_matrix *m, bool allow_copy)
{
    static const size_t batches[] = {1, 8, 32, 128};
    enum { BATCHES = sizeof batches / sizeof batches[0] };
    sparq_tune_choice_entry choice[BATCHES];
    char detail[BATCHES][192];
    size_t batch_of[BATCHES], untuned[BATCHES];
    int found = 0, dense = 0, rule = 0;
    for (int i = 0; i < BATCHES; i++)
        if (sparq_matrix_tuned_choice(m, batches[i], &choice[found], detail[found],
                                      sizeof detail[found])) {
            batch_of[found] = batches[i];
            dense += choice[found++].dense;
        } else {
            untuned[rule++] = batches[i];
        }
    if (found == 0)
        return false;
    m->path_tuned = true;
    int dense_votes = dense + (m->rule_dense ? rule : 0);
    bool all_dense = dense_votes == BATCHES, some_dense = dense_votes > 0;
    m->path = all_dense && (allow_copy || m->rule_dense) ? SPARQ_PATH_DENSE : SPARQ_PATH_SPARSE;
    m->dense_copy = allow_copy && some_dense && !all_dense;
    const char *held =
        m->dense_copy ? "dense and sparse each win at some batch, both kept; "
        : !some_dense || m->path == SPARQ_PATH_DENSE ? ""
        : all_dense ? "dense wins at every batch, but dense f32 takes more bytes than the "
                      "packed arrays, which alone are held (allow_dense_copy is 0); "
                    : "dense and sparse each win at some batch, the packed arrays alone "
                      "held (allow_dense_copy is 0); ";
    int used = snprintf(m->path_reason, sizeof m->path_reason, "tuned break-even: %s", held);
    /* one clause per database entry, with the batches it decides; detail starts with
     * where it came from ("shipped tuning, nearest class ...") */
    for (int i = 0; i < found && used > 0 && (size_t)used < sizeof m->path_reason; i++) {
        bool seen = false;
        for (int j = 0; j < i; j++)
            seen = seen || strcmp(choice[j].shape_class, choice[i].shape_class) == 0;
        if (seen)
            continue;
        double ratio = choice[i].dense ? choice[i].sparse_us / choice[i].dense_us
                                       : choice[i].dense_us / choice[i].sparse_us;
        used += snprintf(m->path_reason + used, sizeof m->path_reason - (size_t)used,
                         "%s%s %.2fx faster at batch %zu", i ? "; " : "",
                         choice[i].dense ? "dense" : "sparse", ratio, batch_of[i]);
        for (int j = i + 1; j < found && used > 0 && (size_t)used < sizeof m->path_reason; j++)
            if (strcmp(choice[j].shape_class, choice[i].shape_class) == 0)
                used += snprintf(m->path_reason + used, sizeof m->path_reason - (size_t)used,
                                 ", %zu", batch_of[j]);
        if (used > 0 && (size_t)used < sizeof m->path_reason)
            used += snprintf(m->path_reason + used, sizeof m->path_reason - (size_t)used,
                             " (%.*s, class %s)", (int)strcspn(detail[i], ","), detail[i],
                             choice[i].shape_class);
    }
    for (int i = 0; i < rule && used > 0 && (size_t)used < sizeof m->path_reason; i++) {
        if (i == 0)
            used += snprintf(m->path_reason + used, sizeof m->path_reason - (size_t)used,
                             "; no tuned class, built-in rule (%s) at batch %zu",
                             m->rule_dense ? "dense" : "sparse", untuned[0]);
        else
            used += snprintf(m->path_reason + used, sizeof m->path_reason - (size_t)used,
                             ", %zu", untuned[i]);
    }
    return true;
}

void sparq_plan_path(sparq_matrix *m, const sparq_matrix_options *opt)
{
    bool sparse_structure = m->format.structure != SPARQ_STRUCTURE_DENSE;
    bool dense_f32 = !sparse_structure && m->format.quant.encoding == SPARQ_ENCODING_F32;
    double dense_bytes = 4.0 * (double)m->rows * (double)m->cols;
    /* The built-in rule, where no tuned break-even covers a batch: sparse kernels stream
     * their packed bytes, the dense path 4 bytes per weight. bench_sparse on PoCL puts
     * the batch-1 break-even where the two meet (CSR f32 ties at 70 % density, 6 bytes
     * per nonzero), and at larger batches the sparse kernels mostly win wherever they
     * move fewer bytes. A tuned device uses its measured break-even (tuned_path). */
    m->rule_dense = (double)m->packed_bytes >= dense_bytes;
    if (dense_f32) {
        m->path = SPARQ_PATH_DENSE;
        snprintf(m->path_reason, sizeof m->path_reason, "the matrix is dense f32");
    } else if (!sparse_structure && opt->path != SPARQ_PATH_DENSE) {
        m->path = SPARQ_PATH_SPARSE;
        snprintf(m->path_reason, sizeof m->path_reason,
                 "a dense %s matrix runs its own kernels (weights stay %s on the device)",
                 sparq_encoding_name(m->format.quant.encoding),
                 sparq_encoding_name(m->format.quant.encoding));
    } else if (opt->path != SPARQ_PATH_AUTO) {
        m->path = opt->path;
        snprintf(m->path_reason, sizeof m->path_reason, "%s path forced by the options",
                 opt->path == SPARQ_PATH_DENSE ? "dense" : "sparse");
    } else if (opt->dense_fallback_density > 0) {
        m->path = m->density >= opt->dense_fallback_density ? SPARQ_PATH_DENSE : SPARQ_PATH_SPARSE;
        snprintf(m->path_reason, sizeof m->path_reason,
                 "density %.3f is %s the fallback threshold %.3f from the options", m->density,
                 m->path == SPARQ_PATH_DENSE ? "at or above" : "below",
                 opt->dense_fallback_density);
    } else if (!tuned_path(m, opt->allow_dense_copy != 0)) {
        m->path = m->rule_dense ? SPARQ_PATH_DENSE : SPARQ_PATH_SPARSE;
        snprintf(m->path_reason, sizeof m->path_reason,
                 "the packed %s matrix moves %.2f bits per weight, %s the 32 of dense f32 "
                 "(density %.3f; built-in rule, no tuned break-even for this device)",
                 sparq_structure_name(m->format.structure),
                 32.0 * (double)m->packed_bytes / dense_bytes,
                 m->path == SPARQ_PATH_DENSE ? "at or above" : "below", m->density);
    }
    /* AUTO holding the packed arrays alone: batches where the break-even prefers dense
     * say so in their plans (linear.c) */
    m->copy_declined = sparse_structure && opt->path == SPARQ_PATH_AUTO &&
                       opt->dense_fallback_density == 0 && !opt->allow_dense_copy &&
                       m->path == SPARQ_PATH_SPARSE;
}

sparq_status sparq_plan_get(sparq_matrix *m, size_t batch, sparq_plan *plan)
{
    sparq_plan *slot = &m->plans[batch % SPARQ_PLAN_SLOTS];
    pthread_mutex_lock(&m->plan_lock);
    if (slot->batch == batch) {
        *plan = *slot;
        pthread_mutex_unlock(&m->plan_lock);
        return SPARQ_OK;
    }
    pthread_mutex_unlock(&m->plan_lock);
    sparq_status st = plan_build(m, batch, plan);
    if (st != SPARQ_OK)
        return st;
    pthread_mutex_lock(&m->plan_lock);
    *slot = *plan;
    pthread_mutex_unlock(&m->plan_lock);
    return SPARQ_OK;
}

void sparq_plan_forget(sparq_matrix *m, size_t batch)
{
    pthread_mutex_lock(&m->plan_lock);
    sparq_plan *slot = &m->plans[batch % SPARQ_PLAN_SLOTS];
    if (slot->batch == batch)
        slot->batch = 0;
    pthread_mutex_unlock(&m->plan_lock);
}

/* Bytes in words: "812 B", "6.1 kB", "1.8 MB", "4.29 GB" (powers of 1000). */
static void bytes_text(uint64_t bytes, char *out, size_t size)
{
    double b = (double)bytes;
    if (b < 1e3)
        snprintf(out, size, "%llu B", (unsigned long long)bytes);
    else if (b < 1e6)
        snprintf(out, size, "%.1f kB", b / 1e3);
    else if (b < 1e9)
        snprintf(out, size, "%.1f MB", b / 1e6);
    else
        snprintf(out, size, "%.2f GB", b / 1e9);
}

/* What m holds on the device: "holds: packed arrays 1.8 MB", "holds: packed arrays
 * 1.8 MB + dense f32 copy 2.4 MB", "holds: dense f32 weights 2.4 MB". */
static void holds_text(const sparq_matrix *m, char *out, size_t size)
{
    char packed[32], dense[32];
    uint64_t packed_held = m->device_bytes - m->dense_bytes_held;
    bytes_text(packed_held, packed, sizeof packed);
    bytes_text(m->dense_bytes_held, dense, sizeof dense);
    if (m->dense_bytes_held == 0) {
        snprintf(out, size, "holds: packed arrays %s", packed);
    } else if (packed_held > 0) {
        snprintf(out, size, "holds: packed arrays %s + dense f32 copy %s", packed, dense);
    } else if (m->format.structure == SPARQ_STRUCTURE_DENSE &&
               m->format.quant.encoding == SPARQ_ENCODING_F32) {
        snprintf(out, size, "holds: dense f32 weights %s", dense);
    } else {
        bytes_text(m->packed_bytes, packed, sizeof packed);
        snprintf(out, size, "holds: dense f32 weights %s (instead of the packed arrays, %s)",
                 dense, packed);
    }
}

sparq_status sparq_plan_explain(const sparq_matrix *m, size_t batch, char *text, size_t size)
{
    if (!m || !text || size == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "plan_explain: NULL %s or empty text",
                          m ? "text" : "matrix");
    text[0] = '\0';
    if (batch == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "plan_explain: batch must be positive");
    sparq_plan plan;
    /* the plan cache is the matrix's internal state, not what const protects */
    sparq_status st = sparq_plan_get((sparq_matrix *)m, batch, &plan);
    if (st != SPARQ_OK)
        return st;
    char params[256] = "";
    sparq_kernel_options_append(plan.k, &plan.p, params, sizeof params);
    const char *tuned = plan.source == SPARQ_PARAM_SOURCE_DEFAULT ? "default" : "tuned";
    char holds[160];
    holds_text(m, holds, sizeof holds);
    if (plan.dense)
        snprintf(text, size, "%s; %s; at batch %zu %s with %s (%s: %s)", plan.choice, holds,
                 batch,
                 plan.dense_backend == SPARQ_DENSE_BACKEND_CLBLAST ? "CLBlast"
                 : batch == 1 ? "linear_dense_rowdot (one pass over the rows)"
                              : "linear_dense_q_tiled built for f32 (each weight used for a "
                                "tile of batch rows)",
                 params, tuned, plan.detail);
    else
        snprintf(text, size, "%s; %s; kernel %s with %s (%s: %s); chosen because %s",
                 plan.choice, holds, plan.k->name, params[0] ? params : "no parameters", tuned,
                 plan.detail, plan.why);
    return SPARQ_OK;
}

sparq_status sparq_plan_info_get(const sparq_matrix *m, size_t batch, sparq_plan_info *info)
{
    if (!m || !info)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "plan_info_get: NULL %s",
                          m ? "info" : "matrix");
    memset(info, 0, sizeof *info);
    if (batch == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "plan_info_get: batch must be positive");
    sparq_plan plan;
    /* the plan cache is the matrix's internal state, not what const protects */
    sparq_status st = sparq_plan_get((sparq_matrix *)m, batch, &plan);
    if (st != SPARQ_OK)
        return st;
    info->path = plan.dense ? SPARQ_PATH_DENSE : SPARQ_PATH_SPARSE;
    info->kernel = plan.dense && plan.dense_backend == SPARQ_DENSE_BACKEND_CLBLAST ? "clblast"
                                                                                    : plan.k->name;
    info->tuned_path = plan.tuned_path;
    info->dense_declined = plan.declined[0] != '\0';
    for (int i = 0; i < SPARQ_MAX_TUNABLES && plan.k->tunables[i].name; i++) {
        info->param_names[i] = plan.k->tunables[i].name;
        info->param_values[i] = plan.p.value[i];
        info->param_count++;
    }
    info->param_source = plan.source;
    info->dense_bytes_held = m->dense_bytes_held;
    info->packed_bytes_held = m->device_bytes - m->dense_bytes_held;
    return SPARQ_OK;
}
