/* tunables.c - a kernel's tunables as the registry declares them: the defaults for a
 * device type, one value by name, the -D build options, and the rules every setting
 * must meet on a device (checked here, before any rank function sees it).
 */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void sparq_kernel_default_params(const sparq_kernel_info *k, const sparq_device_caps *caps,
                                 sparq_kernel_params *p)
{
    memset(p, 0, sizeof *p);
    bool gpu = caps && caps->type == SPARQ_DEVICE_TYPE_GPU;
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++)
        p->value[i] = gpu ? k->tunables[i].default_gpu : k->tunables[i].default_cpu;
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
        uint64_t need = (uint64_t)a * b * r->n;
        if (caps->type != SPARQ_DEVICE_TYPE_GPU || need <= SPARQ_GPU_PRIVATE_VALUES)
            return true;
        snprintf(why, why_size, "%s x %s keeps %llu values a work-item, more than a GPU's "
                 "registers hold beside the rest (%d)", r->a, r->b, (unsigned long long)need,
                 SPARQ_GPU_PRIVATE_VALUES);
        return false;
    }
    case SPARQ_RULE_LOCAL_FLOATS: {
        uint64_t need = (uint64_t)a * b * sizeof(float);
        if (need <= caps->local_mem_bytes)
            return true;
        snprintf(why, why_size, "%s x %s needs %llu bytes of local memory, the device has %llu",
                 r->a, r->b, (unsigned long long)need, (unsigned long long)caps->local_mem_bytes);
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
