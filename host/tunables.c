/* SPDX-License-Identifier: Apache-2.0 */
/* tunables.c - a kernel's tunables as the registry declares them: the defaults for a
 * device type, one value by name, the -D build options, and the rules every setting
 * must meet on a device (checked here, before any rank function sees it).
 */
#include "internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

void sparq_kernel_type_defaults(const sparq_kernel_info *k, const sparq_device_caps *caps,
                                sparq_kernel_params *p)
{
    memset(p, 0, sizeof *p);
    bool gpu = caps && caps->type == SPARQ_DEVICE_TYPE_GPU;
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++)
        p->value[i] = gpu ? k->tunables[i].default_gpu : k->tunables[i].default_cpu;
}

void sparq_kernel_default_params(const sparq_kernel_info *k, const sparq_device_caps *caps,
                                 sparq_kernel_params *p)
{
    sparq_kernel_type_defaults(k, caps, p);
    if (!caps)
        return;
    char why[256];
    sparq_kernel_params_nearest(k, NULL, 0, caps, p, why, sizeof why);
}

/* The position of tunable `name` among k's; -1 if k has none of that name. */
static int tunable_index(const sparq_kernel_info *k, const char *name)
{
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++)
        if (strcmp(k->tunables[i].name, name) == 0)
            return i;
    return -1;
}

unsigned sparq_kernel_param(const sparq_kernel_info *k, const sparq_kernel_params *p,
                            const char *name)
{
    int i = tunable_index(k, name);
    return i < 0 ? 0 : p->value[i];
}

void sparq_kernel_options_append(const sparq_kernel_info *k, const sparq_kernel_params *p,
                                 char *options, size_t size)
{
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++) {
        size_t used = strlen(options);
        snprintf(options + used, size - used, "%s-D%s=%u", used ? " " : "", k->tunables[i].name,
                 p->value[i]);
    }
}

/* Whether rule r holds for p; why says how it fails. */
static bool rule_holds(const sparq_kernel_info *k, const sparq_tunable_rule *r,
                       const sparq_kernel_params *p, const sparq_device_caps *caps, char *why,
                       size_t why_size)
{
    unsigned a = sparq_kernel_param(k, p, r->a), b = r->b ? sparq_kernel_param(k, p, r->b) : 0;
    switch (r->kind) {
    case SPARQ_RULE_WORK_GROUP:
        if (a <= caps->max_work_group_size)
            return true;
        snprintf(why, why_size, "%s=%u: work-groups of %u work-items, the device allows %zu",
                 r->a, a, a, caps->max_work_group_size);
        return false;
    case SPARQ_RULE_DIVIDES:
        if (a != 0 && b % a == 0)
            return true;
        snprintf(why, why_size, "%s=%u must divide %s=%u", r->a, a, r->b, b);
        return false;
    case SPARQ_RULE_MULTIPLE:
        if (r->n != 0 && a % r->n == 0)
            return true;
        snprintf(why, why_size, "%s=%u must be a multiple of %u", r->a, a, r->n);
        return false;
    case SPARQ_RULE_CANDIDATE: {
        int i = tunable_index(k, r->a);
        for (int j = 0; i >= 0 && j < SPARQ_MAX_CANDIDATES && k->tunables[i].candidates[j]; j++)
            if (k->tunables[i].candidates[j] == a)
                return true;
        snprintf(why, why_size, "%s=%u is not one of the values its code has", r->a, a);
        return false;
    }
    case SPARQ_RULE_PRIVATE: {
        uint64_t need = (uint64_t)a * (r->b ? b : 1) * r->n;
        if (caps->type != SPARQ_DEVICE_TYPE_GPU || need <= SPARQ_GPU_PRIVATE_VALUES)
            return true;
        snprintf(why, why_size, "%s%s%s keeps %llu values a work-item, more than a GPU's "
                 "registers hold beside the rest (%d)", r->a, r->b ? " x " : "",
                 r->b ? r->b : "", (unsigned long long)need, SPARQ_GPU_PRIVATE_VALUES);
        return false;
    }
    case SPARQ_RULE_LOCAL_FLOATS: {
        uint64_t need = (uint64_t)a * (r->b ? b : 1) * sizeof(float) * (r->n ? r->n : 32) / 32;
        if (need <= caps->local_mem_bytes)
            return true;
        snprintf(why, why_size, "%s=%u%s%s needs %llu bytes of local memory, the device has %llu",
                 r->a, a, r->b ? " x " : "", r->b ? r->b : "", (unsigned long long)need,
                 (unsigned long long)caps->local_mem_bytes);
        return false;
    }
    default:
        snprintf(why, why_size, "unknown rule %d", (int)r->kind);
        return false;
    }
}

bool sparq_kernel_params_fit(const sparq_kernel_info *k, const sparq_kernel_params *p,
                             const sparq_device_caps *caps, char *why, size_t why_size)
{
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++)
        if (p->value[i] == 0) {
            snprintf(why, why_size, "%s=0", k->tunables[i].name);
            return false;
        }
    for (int i = 0; i < SPARQ_MAX_RULES && k->rules[i].kind != SPARQ_RULE_END; i++)
        if (!rule_holds(k, &k->rules[i], p, caps, why, why_size))
            return false;
    return true;
}

int sparq_kernel_rank(const sparq_kernel_info *k, const sparq_matrix *m, size_t batch,
                      const sparq_device_caps *caps, const sparq_kernel_params *p, char *why,
                      size_t why_size)
{
    if (!sparq_kernel_params_fit(k, p, caps, why, why_size))
        return SPARQ_RANK_REFUSED;
    return k->rank(m, batch, caps, p, why, why_size);
}

unsigned sparq_kernel_work_group(const sparq_kernel_info *k, const sparq_kernel_params *p)
{
    for (int i = 0; i < SPARQ_MAX_RULES && k->rules[i].kind != SPARQ_RULE_END; i++)
        if (k->rules[i].kind == SPARQ_RULE_WORK_GROUP)
            return sparq_kernel_param(k, p, k->rules[i].a);
    return 0;
}

/* How far setting q is from p: the tunables it changes, and how far it moves them in
 * all (in powers of two). */
static void setting_distance(const sparq_kernel_info *k, const sparq_kernel_params *p,
                             const sparq_kernel_params *q, int *changed, double *moved)
{
    *changed = 0;
    *moved = 0;
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++)
        if (q->value[i] != p->value[i]) {
            (*changed)++;
            double from = p->value[i] ? (double)p->value[i] : 1.0;
            *moved += fabs(log2((double)q->value[i]) - log2(from));
        }
}

/* The rank of setting q: k's (sparq_kernel_rank) for (m, batch), or with m NULL
 * whether it keeps the device's rules (1) or not (0). */
static int setting_rank(const sparq_kernel_info *k, const sparq_matrix *m, size_t batch,
                        const sparq_device_caps *caps, const sparq_kernel_params *q, char *why,
                        size_t why_size)
{
    if (m)
        return sparq_kernel_rank(k, m, batch, caps, q, why, why_size);
    return sparq_kernel_params_fit(k, q, caps, why, why_size) ? 1 : 0;
}

int sparq_kernel_params_nearest(const sparq_kernel_info *k, const sparq_matrix *m, size_t batch,
                                const sparq_device_caps *caps, sparq_kernel_params *p,
                                char *why, size_t why_size)
{
    int rank = setting_rank(k, m, batch, caps, p, why, why_size);
    if (rank > 0)
        return rank;
    /* every setting the candidates span (each tunable: its value in p, then its
     * candidates), in odometer order; the nearest that fits wins */
    unsigned choice[SPARQ_MAX_TUNABLES][SPARQ_MAX_CANDIDATES + 1];
    int count[SPARQ_MAX_TUNABLES], at[SPARQ_MAX_TUNABLES] = {0}, n = 0;
    for (; n < SPARQ_MAX_TUNABLES && k->tunables[n].name; n++) {
        choice[n][0] = p->value[n];
        count[n] = 1;
        for (int j = 0; j < SPARQ_MAX_CANDIDATES && k->tunables[n].candidates[j]; j++)
            if (k->tunables[n].candidates[j] != p->value[n])
                choice[n][count[n]++] = k->tunables[n].candidates[j];
    }
    sparq_kernel_params best = *p;
    bool found = false;
    int best_rank = 0;
    int best_changed = 0;
    double best_moved = 0;
    char scratch[256];
    for (;;) {
        int i = 0;
        while (i < n && ++at[i] == count[i])
            at[i++] = 0;
        if (i == n)
            break; /* back at p: every setting seen */
        sparq_kernel_params q = *p;
        for (int t = 0; t < n; t++)
            q.value[t] = choice[t][at[t]];
        int changed;
        double moved;
        setting_distance(k, p, &q, &changed, &moved);
        if (found && (changed > best_changed || (changed == best_changed && moved > best_moved)))
            continue;
        int r = setting_rank(k, m, batch, caps, &q, scratch, sizeof scratch);
        if (r == 0 || (found && changed == best_changed && moved == best_moved && r <= best_rank))
            continue;
        best = q;
        found = true;
        best_rank = r;
        best_changed = changed;
        best_moved = moved;
    }
    if (!found) {
        size_t used = strlen(why);
        snprintf(why + used, why_size - used, "; no setting of its candidates %s",
                 m ? "runs the case" : "fits the device");
        return 0;
    }
    *p = best;
    return best_rank;
}
