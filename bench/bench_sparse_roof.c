/* SPDX-License-Identifier: Apache-2.0 */
/* bench_sparse_roof.c - bench_sparse's bandwidth roof: sparq_bandwidth_measure and, on a
 * CPU device, the C OpenMP read loop (16 accumulators, AVX2 where the CPU has it), whose
 * buffer also feeds the read stream timed in turns with every row (bench_sparse_parts.h).
 */
#include "bench_sparse_parts.h"
#include "common.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include <stdlib.h>

/* Sums blocks of 16 floats into 16 independent accumulators (vectorizable, never
 * latency-bound). On x86-64 with GCC or Clang an AVX2 clone is picked at run time where
 * the CPU has it, so the loop is not held to the SSE2 baseline without -march flags. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(__SANITIZE_ADDRESS__)
#define SUM_BLOCKS_AVX2 1
__attribute__((target("avx2"))) static float sum_blocks_avx2(const float *a, size_t blocks)
{
    float acc[16] = {0};
    for (size_t blk = 0; blk < blocks; blk++)
        for (int k = 0; k < 16; k++)
            acc[k] += a[blk * 16 + k];
    float total = 0.0f;
    for (int k = 0; k < 16; k++)
        total += acc[k];
    return total;
}
#endif

static float sum_blocks_base(const float *a, size_t blocks)
{
    float acc[16] = {0};
    for (size_t blk = 0; blk < blocks; blk++)
        for (int k = 0; k < 16; k++)
            acc[k] += a[blk * 16 + k];
    float total = 0.0f;
    for (int k = 0; k < 16; k++)
        total += acc[k];
    return total;
}

static int use_avx2(void)
{
#ifdef SUM_BLOCKS_AVX2
    return __builtin_cpu_supports("avx2");
#else
    return 0;
#endif
}

static const char *sum_block_isa(void)
{
    return use_avx2() ? "AVX2" : "baseline ISA";
}

static float sum_blocks(const float *a, size_t blocks, int avx2)
{
#ifdef SUM_BLOCKS_AVX2
    if (avx2)
        return sum_blocks_avx2(a, blocks);
#endif
    (void)avx2;
    return sum_blocks_base(a, blocks);
}

/* The C read loop's buffer: `bytes` of floats (whole blocks of 16), each thread's part
 * first touched by that thread. NULL on allocation failure. */
static float *read_buffer_create(size_t bytes, size_t *blocks)
{
    size_t n = bytes / sizeof(float);
    n -= n % 16;
    float *a = malloc(n * sizeof *a);
    if (!a)
        return NULL;
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    *blocks = n / 16;
#ifdef _OPENMP
#pragma omp parallel for schedule(static)
#endif
    for (int part = 0; part < nt; part++) {
        size_t b0 = *blocks * (size_t)part / (size_t)nt;
        size_t b1 = *blocks * (size_t)(part + 1) / (size_t)nt;
        for (size_t i = b0 * 16; i < b1 * 16; i++)
            a[i] = 1.0f;
    }
    return a;
}

/* One pass of the C read loop over blocks [first, first + count) of a, each OpenMP
 * thread summing its contiguous part; returns the seconds it took. */
static double read_pass(const float *a, size_t first, size_t count, int avx2)
{
    int nt = 1;
#ifdef _OPENMP
    nt = omp_get_max_threads();
#endif
    static volatile float sink;
    float total = 0.0f;
    double t0 = bench_now_seconds();
#ifdef _OPENMP
#pragma omp parallel for schedule(static) reduction(+ : total)
#endif
    for (int part = 0; part < nt; part++) {
        size_t b0 = first + count * (size_t)part / (size_t)nt;
        size_t b1 = first + count * (size_t)(part + 1) / (size_t)nt;
        total += sum_blocks(a + b0 * 16, b1 - b0, avx2);
    }
    double t = bench_now_seconds() - t0;
    sink = sink + total;
    return t;
}

/* The C read loop over the whole buffer: GB/s of the best of `repeats` passes after a
 * warm-up pass. */
static double c_read_gbs(const float *a, size_t blocks, int repeats)
{
    int avx2 = use_avx2();
    double best = 1e30;
    for (int r = 0; r <= repeats; r++) {
        double t = read_pass(a, 0, blocks, avx2);
        if (r > 0 && t < best) /* the first pass is a warm-up */
            best = t;
    }
    return (double)(blocks * 16 * sizeof(float)) / best * 1e-9;
}

/* The read stream: n passes of the C read loop, pass i over slice (first + i) mod slices
 * of the roof buffer (READ_SLICES slices, each larger than any last-level cache), timed
 * in turns with the row's calls so that each row's fraction of the roof can also be
 * taken against the bandwidth the machine gave in those same rounds. */
void read_slices(const bench *b, size_t first, size_t n, size_t slices)
{
    size_t slice = b->read_blocks / slices;
    int avx2 = use_avx2();
    for (size_t i = 0; i < n; i++)
        read_pass(b->read_buf, (first + i) % slices * slice, slice, avx2);
}

/* The roof: sparq_bandwidth_measure (best of its read and copy kernels) and, on a CPU
 * device, the C read loop, measured first, while the OpenCL runtime's threads are idle;
 * the roof is the highest of them, so a weak component cannot flatter the fractions. */
sparq_status measure_roof(bench *b)
{
    size_t bytes = b->cfg.roof_mib << 20;
    double c_gbs = 0.0;
    int threads = 1;
#ifdef _OPENMP
    threads = omp_get_max_threads();
#endif
    if (b->cpu_device) {
        b->read_buf = read_buffer_create(bytes, &b->read_blocks);
        if (!b->read_buf) {
            fprintf(stderr, "bench_sparse: cannot allocate %zu MiB for the C read loop\n",
                    b->cfg.roof_mib);
            return SPARQ_ERROR_OUT_OF_MEMORY;
        }
        c_gbs = c_read_gbs(b->read_buf, b->read_blocks, 5);
    }
    size_t dev_bytes = bytes;
    if (dev_bytes > b->caps->max_alloc_bytes)
        dev_bytes = (size_t)b->caps->max_alloc_bytes;
    if (2 * (uint64_t)dev_bytes > b->caps->global_mem_bytes / 2)
        dev_bytes = (size_t)(b->caps->global_mem_bytes / 4);
    sparq_bandwidth bw;
    sparq_status st = sparq_bandwidth_measure(b->ctx, b->q, dev_bytes, 5, &bw);
    if (st != SPARQ_OK)
        return bench_fail("bench_sparse", "bandwidth_measure", st);
    b->roof_gbs = bw.best_gbs;
    printf("roof: sparq_bandwidth_measure over %.0f MiB: read %.2f GB/s, copy %.2f GB/s\n",
           bench_mib(bw.bytes), bw.read_gbs, bw.copy_gbs);
    if (b->cpu_device) {
        printf("roof: C OpenMP read loop (%d threads, 16 accumulators, %s) over %zu MiB: "
               "%.2f GB/s%s\n",
               threads, sum_block_isa(), b->cfg.roof_mib, c_gbs,
#ifdef __OPTIMIZE__
               ""
#else
               " (built without optimization: this component is weak)"
#endif
        );
        if (c_gbs > b->roof_gbs)
            b->roof_gbs = c_gbs;
    }
    printf("roof: %.2f GB/s (the highest of the above)\n", b->roof_gbs);
    return SPARQ_OK;
}
