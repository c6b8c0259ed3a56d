/* SPDX-License-Identifier: Apache-2.0 */
/* registry.c - the registry of every kernel sparq has: the list of kernel families
 * (each op file's rows: source file, required device features, the structure it runs,
 * tunables with defaults and candidates, rank/enqueue functions) and of the structures'
 * device layouts, and the lookups dispatch, tests, bench and tuner make in them. A
 * kernel is added as a row in its op file; an op file or a structure adds one line here.
 */
#include "dispatch.h"

#include <stdint.h>
#include <string.h>

/* The families and structure uploads, defined in their op files and declared here,
 * where they are listed. */
extern const sparq_kernel_family sparq_kernels_dense;   /* host/linear_dense.c   */
extern const sparq_kernel_family sparq_kernels_stream;  /* host/bandwidth.c      */
extern const sparq_kernel_family sparq_kernels_dense_q; /* host/linear_dense_q.c */
extern const sparq_kernel_family sparq_kernels_csr;     /* host/spmm_csr.c       */
extern const sparq_kernel_family sparq_kernels_bsr;     /* host/spmm_bsr.c       */
extern const sparq_kernel_family sparq_kernels_nm;      /* host/spmm_nm.c        */
extern const sparq_structure_upload sparq_upload_dense; /* host/linear_dense_q.c */
extern const sparq_structure_upload sparq_upload_csr;
extern const sparq_structure_upload sparq_upload_bsr;
extern const sparq_structure_upload sparq_upload_nm;

/* in registry order: the rows' numbers (launch counters, sparq_kernel_describe) and
 * dispatch's order among equal ranks follow it */
static const sparq_kernel_family *const families[] = {
    &sparq_kernels_dense, &sparq_kernels_stream, &sparq_kernels_dense_q,
    &sparq_kernels_csr,   &sparq_kernels_bsr,    &sparq_kernels_nm};

/* indexed by sparq_structure */
static const sparq_structure_upload *const uploads[] = {&sparq_upload_dense, &sparq_upload_csr,
                                                        &sparq_upload_bsr, &sparq_upload_nm};

const sparq_kernel_info *sparq_kernel_row(size_t i)
{
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++) {
        if (i < families[f]->count)
            return &families[f]->rows[i];
        i -= families[f]->count;
    }
    return NULL;
}

size_t sparq_kernel_registry_size(void)
{
    size_t n = 0;
    for (size_t f = 0; f < sizeof families / sizeof families[0]; f++)
        n += families[f]->count;
    return n;
}

const sparq_structure_upload *sparq_structure_upload_of(sparq_structure s)
{
    if ((unsigned)s >= sizeof uploads / sizeof uploads[0])
        return NULL;
    return uploads[s]->structure == s ? uploads[s] : NULL;
}

/* The encodings k runs, as bits (1u << sparq_encoding); a row's 0 means f32 and f16. */
static unsigned kernel_encodings(const sparq_kernel_info *k)
{
    return k->encodings ? k->encodings : (1u << SPARQ_ENCODING_F32) | (1u << SPARQ_ENCODING_F16);
}

size_t sparq_kernel_index(const char *name)
{
    const sparq_kernel_info *k;
    for (size_t i = 0; name && (k = sparq_kernel_row(i)); i++)
        if (strcmp(k->name, name) == 0)
            return i;
    return SIZE_MAX;
}

const sparq_kernel_info *sparq_kernel_find(const char *name)
{
    size_t i = sparq_kernel_index(name);
    return i == SIZE_MAX ? NULL : sparq_kernel_row(i);
}

sparq_status sparq_kernel_describe(size_t index, sparq_kernel_desc *desc)
{
    if (!desc)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, "kernel_describe: NULL desc");
    const sparq_kernel_info *k = sparq_kernel_row(index);
    if (!k)
        return sparq_fail(SPARQ_ERROR_OUT_OF_BOUNDS,
                          "kernel_describe: row %zu of a registry of %zu", index,
                          sparq_kernel_registry_size());
    memset(desc, 0, sizeof *desc);
    desc->name = k->name;
    desc->source = k->source;
    desc->summary = k->summary;
    desc->structure = k->structure;
    desc->encodings = kernel_encodings(k);
    desc->w8a8 = k->w8a8;
    desc->dispatched = k->rank && k->enqueue;
    for (int i = 0; i < SPARQ_MAX_TUNABLES && k->tunables[i].name; i++)
        desc->tunables[desc->tunable_count++] = k->tunables[i].name;
    return SPARQ_OK;
}

bool sparq_kernel_runs_format(const sparq_kernel_info *k, const sparq_pack_options *fmt,
                              bool quantize_activations)
{
    return k->rank && k->enqueue && k->structure == fmt->structure &&
           (kernel_encodings(k) & (1u << fmt->quant.encoding)) && k->w8a8 == quantize_activations;
}

bool sparq_format_has_kernels(const sparq_pack_options *fmt, bool quantize_activations)
{
    const sparq_kernel_info *k;
    for (size_t i = 0; (k = sparq_kernel_row(i)); i++)
        if (sparq_kernel_runs_format(k, fmt, quantize_activations))
            return true;
    return false;
}
