/* registry.c - the one table of every kernel sparq has: source file, required device
 * features, the structure it runs, tunables with defaults and candidates, and the
 * rank/enqueue functions dispatch calls. Dispatch, tests, bench and tuner all read
 * this table; adding a kernel means adding a row here.
 */
#include "internal.h"
#include "ops.h"

#include <stdio.h>
#include <string.h>

const sparq_kernel_info sparq_kernels[] = {
    /* dense f32 (host/linear_dense.c) */
    {"linear_dense_rowdot", "linear_dense.cl", 0, SPARQ_STRUCTURE_DENSE,
     "dense f32 Y = X W^T (+bias), one work-item per output",
     {{"LINEAR_DENSE_WG", 64, 64, {32, 64, 128, 0}}}, NULL, NULL},
    {"fill_dense_bias", "linear_dense.cl", 0, SPARQ_STRUCTURE_DENSE,
     "Y[b, m] = bias[m] or 0, for a peer GEMV/GEMM with beta = 1 to add onto",
     {{"LINEAR_DENSE_WG", 64, 64, {64, 0}}}, NULL, NULL},
    {"activate_dense_inplace", "linear_dense.cl", 0, SPARQ_STRUCTURE_DENSE,
     "y = act(y), the dense path's activation after its product",
     {{"LINEAR_DENSE_WG", 64, 64, {64, 0}}}, NULL, NULL},
    /* bandwidth roof (host/bandwidth.c) */
    {"stream_dense_read", "stream.cl", 0, SPARQ_STRUCTURE_DENSE,
     "bandwidth roof: read-only float4 streaming",
     {{"STREAM_WG", 64, 64, {64, 0}}}, NULL, NULL},
    {"stream_dense_copy", "stream.cl", 0, SPARQ_STRUCTURE_DENSE,
     "bandwidth roof: float4 copy (bytes read + written)",
     {{"STREAM_WG", 64, 64, {64, 0}}}, NULL, NULL},
    /* ---- CSR (host/spmm_csr.c) ---- */
    {"spmm_csr_scalar", "spmm_csr.cl", 0, SPARQ_STRUCTURE_CSR,
     "general CSR: one work-item per (row, batch) output, any shape",
     {{"WG", 64, 64, {32, 64, 128, 0}}}, sparq_rank_csr_scalar, sparq_enqueue_csr_scalar},
    /* ---- end of CSR rows ---- */
    /* ---- BSR (host/spmm_bsr.c) ---- */
    /* ---- end of BSR rows ---- */
    /* ---- N:M (host/spmm_nm.c) ---- */
    /* ---- end of N:M rows ---- */
};

const size_t sparq_kernel_count = sizeof sparq_kernels / sizeof sparq_kernels[0];

const sparq_kernel_info *sparq_kernel_find(const char *name)
{
    for (size_t i = 0; name && i < sparq_kernel_count; i++)
        if (strcmp(sparq_kernels[i].name, name) == 0)
            return &sparq_kernels[i];
    return NULL;
}

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
