/* tunables.c - a kernel's tunables as the registry declares them: the defaults for a
 * device type, one value by name, the -D build options, and the limits every setting
 * must respect on a device.
 */
#include "internal.h"

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

unsigned sparq_kernel_param(const sparq_kernel_info *k, const sparq_kernel_params *p,
                            const char *name)
{
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++)
        if (strcmp(k->tunables[i].name, name) == 0)
            return p->value[i];
    return 0;
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

bool sparq_kernel_params_fit(const sparq_kernel_info *k, const sparq_kernel_params *p,
                             const sparq_device_caps *caps, char *why, size_t why_size)
{
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++) {
        const char *name = k->tunables[i].name;
        size_t len = strlen(name);
        if (p->value[i] == 0) {
            snprintf(why, why_size, "%s=0", name);
            return false;
        }
        if (len >= 2 && strcmp(name + len - 2, "WG") == 0 &&
            p->value[i] > caps->max_work_group_size) {
            snprintf(why, why_size, "%s=%u exceeds the device's work-group limit %zu", name,
                     p->value[i], caps->max_work_group_size);
            return false;
        }
    }
    return true;
}
