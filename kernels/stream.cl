/* SPDX-License-Identifier: Apache-2.0 */
/* stream.cl - the memory-bandwidth roof: a read-only streaming kernel and a copy
 * kernel. Benchmarks divide a kernel's effective GB/s by the best of these.
 */
#include "common.clh"

#ifndef STREAM_WG
#define STREAM_WG 64 /* work-items per group */
#endif

/* Access pattern shared by both kernels: work-item g reads `span` consecutive float4s
 * starting at g * span, then jumps by global_size * span. span = 1 is the grid stride
 * GPUs coalesce; a large span gives each work-item a contiguous run, which is what CPU
 * devices (PoCL) stream fastest. The host times several spans and keeps the best. */

/* The sum is stored only if it equals an impossible sentinel, so the loads can't be
 * optimised away while the kernel writes (almost) nothing. */
__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void stream_dense_read(const global float4 *src, const ulong count4, const uint span,
                       const float sentinel, global float4 *sink)
{
    const size_t step = get_global_size(0) * (size_t)span;
    float4 acc = (float4)(0.0f);
    for (size_t base = get_global_id(0) * (size_t)span; base < count4; base += step) {
        const size_t end = base + span < count4 ? base + span : count4;
        for (size_t i = base; i < end; i++)
            acc += src[i];
    }
    if (acc.x + acc.y + acc.z + acc.w == sentinel)
        sink[get_global_id(0)] = acc;
}

/* dst = src in the same pattern. */
__kernel __attribute__((reqd_work_group_size(STREAM_WG, 1, 1)))
void stream_dense_copy(const global float4 *src, global float4 *dst, const ulong count4,
                       const uint span)
{
    const size_t step = get_global_size(0) * (size_t)span;
    for (size_t base = get_global_id(0) * (size_t)span; base < count4; base += step) {
        const size_t end = base + span < count4 ? base + span : count4;
        for (size_t i = base; i < end; i++)
            dst[i] = src[i];
    }
}
