/* SPDX-License-Identifier: Apache-2.0 */
/* gpu_build_jobs.c - the GPU build gate's list of work (tests/gpu_build/gpu_build.py runs
 * it): every registry kernel x every encoding it accepts x its GPU defaults and each
 * tuner candidate (one tunable at a time from the defaults) that the row's rules keep on
 * each target GPU, with the build options the library would use there. Writes each
 * kernel source, includes expanded, into DIR and one tab-separated job per line to stdout:
 *   kernel, source, format, params, default (1/0), targets (comma-separated), work-group
 *   size (0: the row declares none), options
 */
#include "matrix.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The gate's targets: what each reports as OpenCL limits (work-group size, local memory
 * per group), as the rules of a registry row read them. Names are gpu_build.py's. */
typedef struct gate_target {
    const char *name;
    size_t max_work_group_size;
    cl_ulong local_mem_bytes;
} gate_target;

static const gate_target targets[] = {
    {"sm_80", 1024, 48 * 1024},   {"sm_90", 1024, 48 * 1024},  /* NVIDIA, 48 KiB default */
    {"gfx90a", 256, 64 * 1024},   {"gfx1030", 256, 64 * 1024}, /* AMD ROCm OpenCL        */
    {"acm-g10", 1024, 64 * 1024}, {"tgllp", 512, 64 * 1024},   /* Intel Xe-HPG, Gen12LP  */
};
#define TARGET_COUNT (sizeof targets / sizeof targets[0])

/* A GPU's caps as far as defaults, rules and build options read them. */
static sparq_device_caps gpu_caps(const gate_target *t)
{
    sparq_device_caps caps;
    memset(&caps, 0, sizeof caps);
    caps.type = SPARQ_DEVICE_TYPE_GPU;
    caps.opencl_c_major = 1;
    caps.opencl_c_minor = 2;
    caps.max_work_group_size = t->max_work_group_size;
    caps.local_mem_bytes = t->local_mem_bytes;
    caps.local_mem_is_dedicated = 1;
    return caps;
}

/* The formats a row is built for: each encoding it runs (i8 with row scales, i4 in groups
 * of 128), on its structure (BSR 16x16 and 4x4, N:M 2:4); the dense f32 path's tiled
 * kernel also for f32. */
static size_t formats_of(const sparq_kernel_info *k, sparq_pack_options *out)
{
    sparq_kernel_desc d;
    size_t row = sparq_kernel_index(k->name), n = 0;
    if (sparq_kernel_describe(row, &d) != SPARQ_OK)
        return 0;
    unsigned encodings = d.encodings;
    if (strcmp(k->name, "linear_dense_q_tiled") == 0)
        encodings |= 1u << SPARQ_ENCODING_F32;
    unsigned blocks = k->structure == SPARQ_STRUCTURE_BSR ? 2 : 1;
    for (int e = SPARQ_ENCODING_F32; e <= SPARQ_ENCODING_I4; e++) {
        if (!(encodings & (1u << e)))
            continue;
        for (unsigned b = 0; b < blocks; b++) {
            sparq_pack_options f = {.structure = k->structure};
            f.quant.encoding = (sparq_encoding)e;
            if (e == SPARQ_ENCODING_I8)
                f.quant.granularity = SPARQ_SCALE_ROW;
            if (e == SPARQ_ENCODING_I4) {
                f.quant.granularity = SPARQ_SCALE_GROUP;
                f.quant.group_size = 128;
            }
            if (k->structure == SPARQ_STRUCTURE_BSR)
                f.block_rows = f.block_cols = b == 0 ? 16 : 4;
            if (k->structure == SPARQ_STRUCTURE_NM)
                f.nm_n = 2, f.nm_m = 4;
            out[n++] = f;
        }
    }
    return n;
}

/* "CSR_VECTOR_WG=128,CSR_VECTOR_VS=32" */
static void params_label(const sparq_kernel_info *k, const sparq_kernel_params *p, char *out,
                         size_t size)
{
    out[0] = '\0';
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++) {
        size_t used = strlen(out);
        snprintf(out + used, size - used, "%s%s=%u", i ? "," : "", k->tunables[i].name,
                 p->value[i]);
    }
    if (!out[0])
        snprintf(out, size, "-");
}

/* One job: p on every target whose rules keep it (none: nothing printed). W8A8 rows also
 * build the activation quantizer's asymmetric variant (host/linear_dense_q.c). */
static void print_job(const sparq_kernel_info *k, const sparq_pack_options *f,
                      const sparq_kernel_params *p, int is_default)
{
    char fits[128] = "", why[256], label[256], format[64], options[1024], full[1200];
    for (size_t t = 0; t < TARGET_COUNT; t++) {
        sparq_device_caps caps = gpu_caps(&targets[t]);
        if (!sparq_kernel_params_fit(k, p, &caps, why, sizeof why))
            continue;
        size_t used = strlen(fits);
        snprintf(fits + used, sizeof fits - used, "%s%s", used ? "," : "", targets[t].name);
    }
    if (!fits[0])
        return;
    params_label(k, p, label, sizeof label);
    sparq_format_name(f, format, sizeof format);
    sparq_format_build_options(f, true, k, p, options, sizeof options);
    sparq_device_caps caps = gpu_caps(&targets[0]);
    sparq_program_options(&caps, options, full, sizeof full);
    for (int asym = 0; asym <= (k->w8a8 ? 1 : 0); asym++)
        printf("%s\t%s\t%s%s\t%s\t%d\t%s\t%u\t%s%s\n", k->name, k->source, format,
               asym ? ":w8a8-asym" : k->w8a8 ? ":w8a8" : "", label, is_default, fits,
               sparq_kernel_work_group(k, p), full, asym ? " -DW8A8_X_ASYM=1" : "");
}

/* The row's GPU defaults (those of the first target: defaults depend on the device type
 * only), then each candidate of each tunable in their place. */
static void print_row(const sparq_kernel_info *k)
{
    sparq_pack_options formats[8];
    size_t count = formats_of(k, formats);
    sparq_device_caps caps = gpu_caps(&targets[0]);
    sparq_kernel_params defaults;
    sparq_kernel_default_params(k, &caps, &defaults);
    for (size_t f = 0; f < count; f++) {
        print_job(k, &formats[f], &defaults, 1);
        for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++)
            for (int c = 0; c < SPARQ_MAX_CANDIDATES && k->tunables[i].candidates[c]; c++) {
                sparq_kernel_params p = defaults;
                p.value[i] = k->tunables[i].candidates[c];
                if (p.value[i] != defaults.value[i])
                    print_job(k, &formats[f], &p, 0);
            }
    }
}

/* Writes kernels/<source> with its includes expanded to dir/<source>. */
static int write_source(const char *dir, const char *source)
{
    char *text = NULL, path[1024];
    size_t size = 0;
    if (sparq_source_load(source, &text, &size) != SPARQ_OK) {
        fprintf(stderr, "gpu_build_jobs: %s: %s\n", source, sparq_last_error());
        return 1;
    }
    snprintf(path, sizeof path, "%s/%s", dir, source);
    FILE *out = fopen(path, "wb");
    int bad = !out || fwrite(text, 1, size, out) != size;
    if (out)
        bad |= fclose(out) != 0;
    free(text);
    if (bad)
        fprintf(stderr, "gpu_build_jobs: can't write %s\n", path);
    return bad;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gpu_build_jobs DIR (writes the kernel sources to DIR and the "
                        "jobs to stdout)\n");
        return 2;
    }
    const sparq_kernel_info *k;
    for (size_t i = 0; (k = sparq_kernel_row(i)); i++) {
        int seen = 0; /* each source is written once */
        for (size_t j = 0; j < i; j++)
            seen |= strcmp(sparq_kernel_row(j)->source, k->source) == 0;
        if (!seen && write_source(argv[1], k->source))
            return 1;
        print_row(k);
    }
    return 0;
}
