/* SPDX-License-Identifier: Apache-2.0 */
/* bandwidth.c - sparq_bandwidth_measure: the device's memory roof from a read-only
 * streaming kernel and a copy kernel, the denominator of every "fraction of roof"; and
 * the cache flush that makes a measurement see its weights stream from memory.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#define OP "bandwidth_measure"

/* Seconds a finished event took: profiling counters when available, else -1. */
static double event_seconds(cl_event ev)
{
    cl_ulong start = 0, end = 0;
    if (clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_START, sizeof start, &start, NULL) !=
            CL_SUCCESS ||
        clGetEventProfilingInfo(ev, CL_PROFILING_COMMAND_END, sizeof end, &end, NULL) !=
            CL_SUCCESS)
        return -1.0;
    return 1e-9 * (double)(end - start);
}

/* The work-group size of the stream kernels on this device: their default, fitted to
 * its limits (both rows declare the same STREAM_WG). */
static size_t stream_work_group(sparq_context *ctx)
{
    const sparq_kernel_info *k = sparq_kernel_find("stream_dense_read");
    sparq_device_caps caps;
    sparq_kernel_caps(ctx, k, &caps);
    sparq_kernel_params p;
    sparq_kernel_default_params(k, &caps, &p);
    return sparq_kernel_work_group(k, &p);
}

/* Stream kernel `name` built for work-groups of stream_work_group. */
static sparq_status stream_kernel_create(sparq_context *ctx, const char *name,
                                         cl_kernel *kernel)
{
    char options[32];
    snprintf(options, sizeof options, "-DSTREAM_WG=%zu", stream_work_group(ctx));
    return sparq_kernel_create(ctx, name, options, kernel);
}

/* Runs kernel `repeats` times (after one warm-up) and returns the best seconds. */
static sparq_status best_time(sparq_context *ctx, cl_command_queue queue, cl_kernel k,
                              const char *name, size_t global, unsigned repeats, double *best)
{
    size_t local = stream_work_group(ctx);
    *best = 1e30;
    for (unsigned r = 0; r <= repeats; r++) {
        cl_event ev = NULL;
        double t0 = sparq_now_seconds();
        sparq_status st = sparq_kernel_enqueue(ctx, queue, k, name, 1, &global, &local, 0,
                                               NULL, &ev);
        if (st != SPARQ_OK)
            return st;
        cl_int err = clWaitForEvents(1, &ev);
        double wall = sparq_now_seconds() - t0;
        double t = err == CL_SUCCESS ? event_seconds(ev) : 0.0;
        clReleaseEvent(ev);
        if (err != CL_SUCCESS)
            return sparq_fail_cl(err, OP ": clWaitForEvents");
        if (r > 0) /* the first run warms caches, pages and the program */
            *best = t > 0 ? (t < *best ? t : *best) : (wall < *best ? wall : *best);
    }
    return SPARQ_OK;
}

/* Work-items of a streaming kernel: enough work-groups to fill any device (a multiple
 * of every STREAM_WG candidate); spans make each item stream many float4s. */
static size_t stream_global(const sparq_context *ctx)
{
    return (size_t)ctx->caps.compute_units * 4 * 64;
}

/* Enqueues filling bytes of buf with 1.0f (no wait): real pages, and sums that are never
 * negative. */
static cl_int fill_ones(cl_command_queue queue, cl_mem buf, size_t bytes)
{
    const float one = 1.0f;
    return clEnqueueFillBuffer(queue, buf, &one, sizeof one, 0, bytes, 0, NULL, NULL);
}

/* stream_dense_read over the bytes of src (all arguments but the span, argument 2). Its
 * sum is stored to sink only if it equals -1, which a sum of ones never does. */
static sparq_status stream_read_kernel(sparq_context *ctx, cl_mem src, size_t bytes,
                                       cl_mem sink, cl_kernel *kernel)
{
    const float sentinel = -1.0f;
    const cl_ulong count4 = bytes / 16;
    sparq_status st = stream_kernel_create(ctx, "stream_dense_read", kernel);
    if (st == SPARQ_OK && (st = sparq_set_arg(*kernel, 0, sizeof src, &src)) == SPARQ_OK &&
        (st = sparq_set_arg(*kernel, 1, sizeof count4, &count4)) == SPARQ_OK &&
        (st = sparq_set_arg(*kernel, 3, sizeof sentinel, &sentinel)) == SPARQ_OK)
        st = sparq_set_arg(*kernel, 4, sizeof sink, &sink);
    return st;
}

sparq_status sparq_bandwidth_measure(sparq_context *ctx, cl_command_queue queue, size_t bytes,
                                     unsigned repeats, sparq_bandwidth *result)
{
    if (!ctx || !queue || !result)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT, OP ": NULL %s",
                          !ctx ? "context" : !queue ? "queue" : "result");
    if (bytes < 4096 || repeats == 0)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          OP ": needs bytes >= 4096 and repeats >= 1 (got %zu, %u)", bytes,
                          repeats);
    bytes -= bytes % 16;
    if (bytes > ctx->caps.max_alloc_bytes)
        return sparq_fail(SPARQ_ERROR_INVALID_ARGUMENT,
                          OP ": %zu bytes exceed the device's largest buffer (%llu)", bytes,
                          (unsigned long long)ctx->caps.max_alloc_bytes);
    cl_int err = CL_SUCCESS, err2 = CL_SUCCESS;
    cl_mem src = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    cl_mem dst = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, bytes, NULL, &err2);
    cl_kernel kr = NULL, kc = NULL;
    sparq_status st = err != CL_SUCCESS    ? sparq_fail_cl(err, OP ": clCreateBuffer")
                      : err2 != CL_SUCCESS ? sparq_fail_cl(err2, OP ": clCreateBuffer")
                                           : SPARQ_OK;
    cl_ulong count4 = bytes / 16;
    size_t global = stream_global(ctx);
    if (st == SPARQ_OK) {
        err = fill_ones(queue, src, bytes);
        if (err == CL_SUCCESS)
            err = fill_ones(queue, dst, bytes);
        if (err == CL_SUCCESS)
            err = clFinish(queue);
        if (err != CL_SUCCESS)
            st = sparq_fail_cl(err, OP ": clEnqueueFillBuffer");
    }
    if (st == SPARQ_OK && (st = stream_read_kernel(ctx, src, bytes, dst, &kr)) == SPARQ_OK &&
        (st = stream_kernel_create(ctx, "stream_dense_copy", &kc)) ==
            SPARQ_OK &&
        (st = sparq_set_arg(kc, 0, sizeof src, &src)) == SPARQ_OK &&
        (st = sparq_set_arg(kc, 1, sizeof dst, &dst)) == SPARQ_OK)
        st = sparq_set_arg(kc, 2, sizeof count4, &count4);
    /* grid stride (GPUs) and contiguous runs per work-item (CPUs): keep the best */
    const cl_uint spans[] = {1, 16, 4096};
    double t_read = 1e30, t_copy = 1e30;
    for (size_t i = 0; i < sizeof spans / sizeof spans[0] && st == SPARQ_OK; i++) {
        double t = 0;
        if ((st = sparq_set_arg(kr, 2, sizeof spans[i], &spans[i])) == SPARQ_OK &&
            (st = best_time(ctx, queue, kr, "stream_dense_read", global, repeats, &t)) ==
                SPARQ_OK)
            t_read = t < t_read ? t : t_read;
        if (st == SPARQ_OK &&
            (st = sparq_set_arg(kc, 3, sizeof spans[i], &spans[i])) == SPARQ_OK &&
            (st = best_time(ctx, queue, kc, "stream_dense_copy", global, repeats, &t)) ==
                SPARQ_OK)
            t_copy = t < t_copy ? t : t_copy;
    }
    if (st == SPARQ_OK) {
        result->bytes = bytes;
        result->read_gbs = (double)bytes / t_read * 1e-9;
        result->copy_gbs = 2.0 * (double)bytes / t_copy * 1e-9;
        result->best_gbs = result->read_gbs > result->copy_gbs ? result->read_gbs
                                                               : result->copy_gbs;
        sparq_log(SPARQ_LOG_INFO, "bandwidth over %zu MiB: read %.1f GB/s, copy %.1f GB/s",
                  bytes >> 20, result->read_gbs, result->copy_gbs);
    }
    if (kr)
        clReleaseKernel(kr);
    if (kc)
        clReleaseKernel(kc);
    if (src)
        clReleaseMemObject(src);
    if (dst)
        clReleaseMemObject(dst);
    return st;
}

/* ---- cache flush ----------------------------------------------------------------------- */

void sparq_cache_flush_free(sparq_cache_flush *f)
{
    if (f->kernel)
        clReleaseKernel(f->kernel);
    if (f->buffer)
        clReleaseMemObject(f->buffer);
    memset(f, 0, sizeof *f);
}

sparq_status sparq_cache_flush_create(sparq_context *ctx, cl_command_queue queue,
                                      sparq_cache_flush *f)
{
    memset(f, 0, sizeof *f);
    cl_ulong cache = 0;
    if (clGetDeviceInfo(ctx->device, CL_DEVICE_GLOBAL_MEM_CACHE_SIZE, sizeof cache, &cache,
                        NULL) != CL_SUCCESS)
        cache = 0;
    size_t bytes = 2 * (size_t)cache;
    if (bytes < ((size_t)16 << 20))
        bytes = (size_t)16 << 20;
    if (bytes > ctx->caps.max_alloc_bytes)
        bytes = (size_t)ctx->caps.max_alloc_bytes;
    bytes -= bytes % 16;
    cl_int err = CL_SUCCESS;
    f->buffer = clCreateBuffer(ctx->cl_ctx, CL_MEM_READ_WRITE, bytes, NULL, &err);
    if (err != CL_SUCCESS) {
        f->buffer = NULL;
        return sparq_fail_cl(err, "cache flush: clCreateBuffer");
    }
    /* written once, so that its pages are real memory (untouched pages may all map one
     * zero page, which evicts nothing) */
    err = fill_ones(queue, f->buffer, bytes);
    if (err == CL_SUCCESS)
        err = clFinish(queue);
    if (err != CL_SUCCESS) {
        sparq_cache_flush_free(f);
        return sparq_fail_cl(err, "cache flush: clEnqueueFillBuffer");
    }
    /* contiguous runs per work-item on CPUs, the grid stride GPUs coalesce */
    const cl_uint span = ctx->caps.type == SPARQ_DEVICE_TYPE_CPU ? 4096 : 1;
    sparq_status st = stream_read_kernel(ctx, f->buffer, bytes, f->buffer, &f->kernel);
    if (st == SPARQ_OK)
        st = sparq_set_arg(f->kernel, 2, sizeof span, &span);
    if (st != SPARQ_OK) {
        sparq_cache_flush_free(f);
        return st;
    }
    f->global = stream_global(ctx);
    return SPARQ_OK;
}

sparq_status sparq_cache_flush_enqueue(sparq_context *ctx, cl_command_queue queue,
                                       const sparq_cache_flush *f)
{
    const size_t local = stream_work_group(ctx);
    return sparq_kernel_enqueue(ctx, queue, f->kernel, "stream_dense_read", 1, &f->global,
                                &local, 0, NULL, NULL);
}

/* ---- registry rows ---- */

static const sparq_kernel_info stream_rows[] = {
    {"stream_dense_read", "stream.cl", 0, SPARQ_STRUCTURE_DENSE,
     "bandwidth roof: read-only float4 streaming",
     {{"STREAM_WG", 64, 64, {16, 32, 64, 0}}}, NULL, NULL, 0, false,
     {{SPARQ_RULE_WORK_GROUP, "STREAM_WG", NULL, 0}}},
    {"stream_dense_copy", "stream.cl", 0, SPARQ_STRUCTURE_DENSE,
     "bandwidth roof: float4 copy (bytes read + written)",
     {{"STREAM_WG", 64, 64, {16, 32, 64, 0}}}, NULL, NULL, 0, false,
     {{SPARQ_RULE_WORK_GROUP, "STREAM_WG", NULL, 0}}},
};

const sparq_kernel_family sparq_kernels_stream = {stream_rows,
                                                  sizeof stream_rows / sizeof stream_rows[0]};
