/* SPDX-License-Identifier: Apache-2.0 */
/* device.c - finding OpenCL devices, probing their capabilities once into
 * sparq_device_caps, and choosing one (automatic order or SPARQ_DEVICE selector).
 */
#include "internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

sparq_status sparq_fail_cl(cl_int err, const char *what)
{
    return sparq_fail(err, "%s failed with %s (%d)", what, sparq_status_string(err), err);
}

/* A failed property query: CL_INVALID_VALUE (a property this device's OpenCL version
 * lacks, or a string longer than its field) leaves the field empty; any other error
 * (the driver out of resources) is kept in *failed, the first one, and fails the probe:
 * caps with a field zeroed by a fault would make the context refuse every kernel. */
static void note_failure(cl_int err, cl_int *failed)
{
    if (err != CL_SUCCESS && err != CL_INVALID_VALUE && *failed == CL_SUCCESS)
        *failed = err;
}

static void info_string(cl_device_id dev, cl_device_info what, char *out, size_t size,
                        cl_int *failed)
{
    out[0] = '\0';
    size_t got = 0;
    cl_int err = clGetDeviceInfo(dev, what, size - 1, out, &got);
    if (err != CL_SUCCESS)
        out[0] = '\0';
    note_failure(err, failed);
    out[size - 1] = '\0';
}

/* Reads a fixed-size scalar device property; leaves *out zeroed when the driver fails. */
static void info_scalar(cl_device_id dev, cl_device_info what, void *out, size_t size,
                        cl_int *failed)
{
    cl_int err = clGetDeviceInfo(dev, what, size, out, NULL);
    if (err != CL_SUCCESS)
        memset(out, 0, size);
    note_failure(err, failed);
}

static bool has_extension(const char *extensions, const char *name)
{
    size_t len = strlen(name);
    for (const char *p = extensions; (p = strstr(p, name)) != NULL; p += len) {
        bool starts = p == extensions || p[-1] == ' ';
        bool ends = p[len] == '\0' || p[len] == ' ';
        if (starts && ends)
            return true;
    }
    return false;
}

sparq_status sparq_device_caps_probe(cl_device_id dev, sparq_device_caps *caps)
{
    if (!dev || !caps)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "device_caps_probe: NULL %s",
                          dev ? "caps" : "device");
    memset(caps, 0, sizeof *caps);
    cl_device_type type = 0;
    cl_int err = clGetDeviceInfo(dev, CL_DEVICE_TYPE, sizeof type, &type, NULL);
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "clGetDeviceInfo(CL_DEVICE_TYPE)");
    cl_int failed = CL_SUCCESS;

    info_string(dev, CL_DEVICE_NAME, caps->name, sizeof caps->name, &failed);
    info_string(dev, CL_DEVICE_VENDOR, caps->vendor, sizeof caps->vendor, &failed);
    info_string(dev, CL_DRIVER_VERSION, caps->driver_version,
                sizeof caps->driver_version, &failed);
    info_string(dev, CL_DEVICE_VERSION, caps->device_version,
                sizeof caps->device_version, &failed);
    info_string(dev, CL_DEVICE_OPENCL_C_VERSION, caps->opencl_c_version,
                sizeof caps->opencl_c_version, &failed);
    if (sscanf(caps->opencl_c_version, "OpenCL C %d.%d", &caps->opencl_c_major,
               &caps->opencl_c_minor) != 2) {
        caps->opencl_c_major = 1;
        caps->opencl_c_minor = 0;
    }

    cl_platform_id platform = NULL;
    info_scalar(dev, CL_DEVICE_PLATFORM, &platform, sizeof platform, &failed);
    if (platform &&
        (err = clGetPlatformInfo(platform, CL_PLATFORM_NAME, sizeof caps->platform_name - 1,
                                 caps->platform_name, NULL)) != CL_SUCCESS) {
        caps->platform_name[0] = '\0';
        note_failure(err, &failed);
    }

    caps->type = (type & CL_DEVICE_TYPE_GPU)           ? SPARQ_DEVICE_TYPE_GPU
                 : (type & CL_DEVICE_TYPE_ACCELERATOR) ? SPARQ_DEVICE_TYPE_ACCELERATOR
                 : (type & CL_DEVICE_TYPE_CPU)         ? SPARQ_DEVICE_TYPE_CPU
                                                       : SPARQ_DEVICE_TYPE_OTHER;
    info_scalar(dev, CL_DEVICE_MAX_COMPUTE_UNITS, &caps->compute_units,
                sizeof(cl_uint), &failed);
    info_scalar(dev, CL_DEVICE_MAX_CLOCK_FREQUENCY, &caps->max_clock_mhz,
                sizeof(cl_uint), &failed);
    info_scalar(dev, CL_DEVICE_GLOBAL_MEM_SIZE, &caps->global_mem_bytes,
                sizeof(cl_ulong), &failed);
    info_scalar(dev, CL_DEVICE_MAX_MEM_ALLOC_SIZE, &caps->max_alloc_bytes,
                sizeof(cl_ulong), &failed);
    info_scalar(dev, CL_DEVICE_LOCAL_MEM_SIZE, &caps->local_mem_bytes,
                sizeof(cl_ulong), &failed);
    cl_device_local_mem_type local_type = CL_GLOBAL;
    info_scalar(dev, CL_DEVICE_LOCAL_MEM_TYPE, &local_type, sizeof local_type, &failed);
    caps->local_mem_is_dedicated = local_type == CL_LOCAL;
    info_scalar(dev, CL_DEVICE_MAX_WORK_GROUP_SIZE, &caps->max_work_group_size,
                sizeof(size_t), &failed);
    cl_uint align_bits = 0;
    info_scalar(dev, CL_DEVICE_MEM_BASE_ADDR_ALIGN, &align_bits, sizeof align_bits, &failed);
    caps->base_addr_align_bytes = align_bits / 8;
    info_scalar(dev, CL_DEVICE_PREFERRED_VECTOR_WIDTH_CHAR, &caps->vector_width_char,
                sizeof(cl_uint), &failed);
    info_scalar(dev, CL_DEVICE_PREFERRED_VECTOR_WIDTH_SHORT, &caps->vector_width_short,
                sizeof(cl_uint), &failed);
    info_scalar(dev, CL_DEVICE_PREFERRED_VECTOR_WIDTH_INT, &caps->vector_width_int,
                sizeof(cl_uint), &failed);
    info_scalar(dev, CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT, &caps->vector_width_float,
                sizeof(cl_uint), &failed);
    info_scalar(dev, CL_DEVICE_PREFERRED_VECTOR_WIDTH_HALF, &caps->vector_width_half,
                sizeof(cl_uint), &failed);

    cl_device_fp_config fp = 0;
    info_scalar(dev, CL_DEVICE_SINGLE_FP_CONFIG, &fp, sizeof fp, &failed);
    caps->has_correct_division = (fp & CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0;

    size_t ext_size = 0;
    err = clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, 0, NULL, &ext_size);
    note_failure(err, &failed);
    char *ext = err == CL_SUCCESS ? calloc(ext_size + 1, 1) : NULL;
    if (ext && (err = clGetDeviceInfo(dev, CL_DEVICE_EXTENSIONS, ext_size, ext, NULL)) !=
                   CL_SUCCESS)
        note_failure(err, &failed);
    else if (ext) {
        caps->has_fp16 = has_extension(ext, "cl_khr_fp16");
        caps->has_fp64 = has_extension(ext, "cl_khr_fp64");
        caps->has_subgroups = has_extension(ext, "cl_khr_subgroups") ||
                              has_extension(ext, "cl_intel_subgroups");
        caps->has_int_dot_product = has_extension(ext, "cl_khr_integer_dot_product");
    }
    free(ext);
    if (failed != CL_SUCCESS)
        return sparq_fail_cl(failed, "device_caps_probe: a device property query");
    return SPARQ_OK;
}

/* ---- listing --------------------------------------------------------------------- */

sparq_status sparq_device_list(sparq_device_entry **entries, size_t *count)
{
    if (!entries || !count)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "device_list: NULL output pointer");
    *entries = NULL;
    *count = 0;
    cl_uint num_platforms = 0;
    cl_int err = clGetPlatformIDs(0, NULL, &num_platforms);
    if (err == -1001 /* CL_PLATFORM_NOT_FOUND_KHR */ || (err == CL_SUCCESS && !num_platforms))
        return sparq_fail(SPARQ_ERROR_NO_PLATFORM,
                          "no OpenCL platform found: install an OpenCL driver (ICD), "
                          "for the CPU on Debian: apt-get install pocl-opencl-icd");
    if (err != CL_SUCCESS)
        return sparq_fail_cl(err, "clGetPlatformIDs");
    cl_platform_id *platforms = calloc(num_platforms, sizeof *platforms);
    if (!platforms)
        return sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "device_list: out of memory");
    err = clGetPlatformIDs(num_platforms, platforms, NULL);
    if (err != CL_SUCCESS) {
        free(platforms);
        return sparq_fail_cl(err, "clGetPlatformIDs");
    }

    sparq_device_entry *list = NULL;
    size_t n = 0;
    sparq_status st = SPARQ_OK;
    /* The first failure to list or probe a device (not CL_DEVICE_NOT_FOUND): the status
     * when no device is left, rather than "no device" for what the driver failed at. */
    sparq_status skipped = SPARQ_OK;
    char skipped_why[512] = "";
    for (cl_uint p = 0; p < num_platforms && st == SPARQ_OK; p++) {
        cl_uint num_devices = 0;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, 0, NULL, &num_devices);
        if (err != CL_SUCCESS && err != CL_DEVICE_NOT_FOUND && skipped == SPARQ_OK) {
            skipped = sparq_fail_cl(err, "clGetDeviceIDs");
            snprintf(skipped_why, sizeof skipped_why, "%s", sparq_last_error());
        }
        if (err != CL_SUCCESS || num_devices == 0)
            continue; /* a platform without devices is not an error */
        cl_device_id *devices = calloc(num_devices, sizeof *devices);
        sparq_device_entry *grown = realloc(list, (n + num_devices) * sizeof *list);
        if (!devices || !grown) {
            free(devices);
            if (grown)
                list = grown;
            st = sparq_fail(SPARQ_ERROR_OUT_OF_MEMORY, "device_list: out of memory");
            break;
        }
        list = grown;
        err = clGetDeviceIDs(platforms[p], CL_DEVICE_TYPE_ALL, num_devices, devices, NULL);
        if (err != CL_SUCCESS && skipped == SPARQ_OK) {
            skipped = sparq_fail_cl(err, "clGetDeviceIDs");
            snprintf(skipped_why, sizeof skipped_why, "%s", sparq_last_error());
        }
        for (cl_uint d = 0; err == CL_SUCCESS && d < num_devices; d++) {
            sparq_device_entry *e = &list[n];
            memset(e, 0, sizeof *e);
            e->platform_index = p;
            e->device_index = d;
            e->platform = platforms[p];
            e->device = devices[d];
            sparq_status probed = sparq_device_caps_probe(devices[d], &e->caps);
            if (probed == SPARQ_OK)
                n++;
            else if (skipped == SPARQ_OK) {
                skipped = probed;
                snprintf(skipped_why, sizeof skipped_why, "%s", sparq_last_error());
            }
        }
        free(devices);
    }
    free(platforms);
    if (st != SPARQ_OK) {
        free(list);
        return st;
    }
    if (n == 0) {
        free(list);
        if (skipped != SPARQ_OK)
            return sparq_fail(skipped, "device_list: no device could be listed: %s",
                              skipped_why);
        return sparq_fail(SPARQ_ERROR_NO_DEVICE,
                          "OpenCL platforms exist but none has a usable device");
    }
    *entries = list;
    *count = n;
    return SPARQ_OK;
}

void sparq_device_list_free(sparq_device_entry *entries)
{
    free(entries);
}

/* ---- choosing -------------------------------------------------------------------- */

static const char *type_name(sparq_device_type t)
{
    switch (t) {
    case SPARQ_DEVICE_TYPE_GPU: return "GPU";
    case SPARQ_DEVICE_TYPE_ACCELERATOR: return "accelerator";
    case SPARQ_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

static bool contains_nocase(const char *haystack, const char *needle)
{
    size_t n = strlen(needle);
    for (; *haystack; haystack++) {
        size_t i = 0;
        while (i < n && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n)
            return true;
    }
    return n == 0;
}

sparq_status sparq_device_choose(const sparq_device_entry *entries, size_t count,
                                 const char *selector, size_t *chosen, char *reason,
                                 size_t reason_size)
{
    char scratch[8];
    if (!reason) {
        reason = scratch;
        reason_size = sizeof scratch;
    }
    if (reason_size)
        reason[0] = '\0';
    if (!entries || !chosen)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "device_choose: NULL %s",
                          entries ? "chosen" : "entries");
    if (count == 0)
        return sparq_fail(SPARQ_ERROR_NO_DEVICE, "device_choose: no devices to choose from");

    if (selector && *selector) {
        unsigned p = 0, d = 0;
        int used = 0;
        if (sscanf(selector, "%u:%u%n", &p, &d, &used) == 2 && selector[used] == '\0') {
            for (size_t i = 0; i < count; i++) {
                if (entries[i].platform_index == p && entries[i].device_index == d) {
                    *chosen = i;
                    snprintf(reason, reason_size,
                             "selected by index \"%s\" (platform %u, device %u)", selector, p,
                             d);
                    return SPARQ_OK;
                }
            }
            return sparq_fail(SPARQ_ERROR_NO_DEVICE,
                              "device selector \"%s\": there is no platform %u device %u "
                              "(run `sparq info` to list them)",
                              selector, p, d);
        }
        for (size_t i = 0; i < count; i++) {
            if (contains_nocase(entries[i].caps.name, selector) ||
                contains_nocase(entries[i].caps.platform_name, selector)) {
                *chosen = i;
                snprintf(reason, reason_size,
                         "selected by name: \"%s\" matches %s \"%s\" (first match of %zu "
                         "devices)",
                         selector, contains_nocase(entries[i].caps.name, selector)
                                       ? "device" : "platform",
                         contains_nocase(entries[i].caps.name, selector)
                             ? entries[i].caps.name : entries[i].caps.platform_name,
                         count);
                return SPARQ_OK;
            }
        }
        return sparq_fail(SPARQ_ERROR_NO_DEVICE,
                          "device selector \"%s\" matches no device or platform name "
                          "(run `sparq info` to list them)",
                          selector);
    }

    size_t best = 0;
    for (size_t i = 1; i < count; i++) {
        const sparq_device_caps *a = &entries[i].caps, *b = &entries[best].caps;
        if (a->type < b->type || (a->type == b->type && a->compute_units > b->compute_units))
            best = i;
    }
    *chosen = best;
    snprintf(reason, reason_size,
             "automatic: the best device type present is %s (order GPU, accelerator, CPU), "
             "and of those this one has the most compute units (%u); set SPARQ_DEVICE to "
             "override",
             type_name(entries[best].caps.type), entries[best].caps.compute_units);
    return SPARQ_OK;
}
