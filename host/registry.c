/* registry.c - the one table of every kernel sparq has: source file, required
 * device features, default work-group size. Dispatch, tests, bench and the tuner
 * all read this table; adding a kernel means adding a row here.
 */
#include "internal.h"

#include <string.h>

const sparq_kernel_info sparq_kernels[] = {
    {"linear_dense_rowdot", "linear_dense.cl", 0, 64,
     "dense f32 Y = X W^T (+bias), one work-item per output"},
    {"fill_dense_bias", "linear_dense.cl", 0, 64,
     "Y[b, m] = bias[m] or 0, for a peer GEMV/GEMM with beta = 1 to add onto"},
    {"stream_dense_read", "stream.cl", 0, 64,
     "bandwidth roof: read-only float4 streaming at a grid stride"},
    {"stream_dense_copy", "stream.cl", 0, 64,
     "bandwidth roof: float4 copy at a grid stride (bytes read + written)"},
};

const size_t sparq_kernel_count = sizeof sparq_kernels / sizeof sparq_kernels[0];

const sparq_kernel_info *sparq_kernel_find(const char *name)
{
    for (size_t i = 0; name && i < sparq_kernel_count; i++)
        if (strcmp(sparq_kernels[i].name, name) == 0)
            return &sparq_kernels[i];
    return NULL;
}
