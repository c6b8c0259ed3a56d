/* SPDX-License-Identifier: Apache-2.0 */
/* bench_first_result.c - the cold-process time to the first result: from main() to the
 * first sparq_linear output read back (context, packing a 768 x 3072 layer, upload,
 * plan lookup in the tuning databases, program from the cache, the run), with each
 * phase's time and where the plan's parameters came from. Run it twice: the second run
 * has a warm program cache. Uses only the public header.
 *
 * usage: bench_first_result [FORMAT [SPARSITY]]: FORMAT a format spelling (csr, the
 * default, bsr16x16, 2:4, dense+i8-row), SPARSITY of CSR and BSR (0.9)
 */
#include "common.h"
#include "sparq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what, sparq_status st)
{
    fprintf(stderr, "bench_first_result: %s: %s: %s\n", what, sparq_status_string(st),
            sparq_last_error());
    return 1;
}

int main(int argc, char **argv)
{
    double t0 = bench_now_seconds();
    const char *format = argc > 1 ? argv[1] : "csr";
    const size_t rows = 768, cols = 3072, batch = 1;
    sparq_pack_options f = {0};
    char *end = NULL;
    double sparsity = argc > 2 ? strtod(argv[2], &end) : 0.9;
    if (argc > 3 || sparq_format_parse(format, &f) != SPARQ_OK ||
        (argc > 2 && (*end != '\0' || !(sparsity >= 0.0 && sparsity <= 1.0)))) {
        fprintf(stderr, "usage: bench_first_result [FORMAT [SPARSITY]], FORMAT a format "
                        "spelling (csr, bsr16x16, 2:4, dense+i8-row), SPARSITY of CSR and BSR "
                        "in [0, 1] (0.9)\n");
        return 2;
    }
    float *w = malloc(rows * cols * sizeof *w), *x = malloc(cols * sizeof *x);
    float *y = malloc(rows * sizeof *y);
    if (!w || !x || !y)
        return fail("allocating", SPARQ_ERROR_OUT_OF_MEMORY);
    uint64_t seed = 1;
    bench_fill_uniform(w, rows * cols, -0.5f, 0.5f, &seed);
    for (size_t i = 0; i < cols; i++)
        x[i] = (float)i / (float)cols;
    sparq_status st = SPARQ_OK;
    if (f.structure == SPARQ_STRUCTURE_CSR)
        st = sparq_prune_magnitude(w, rows, cols, sparsity, SPARQ_PRUNE_SCOPE_GLOBAL, NULL, NULL,
                                   1);
    else if (f.structure == SPARQ_STRUCTURE_BSR)
        st = sparq_prune_blocks(w, rows, cols, f.block_rows, f.block_cols, SPARQ_BLOCK_NORM_L2,
                                sparsity, NULL, NULL, 1);
    else if (f.structure == SPARQ_STRUCTURE_NM)
        st = sparq_prune_nm(w, rows, cols, f.nm_n, f.nm_m, NULL, NULL, 1);
    if (st != SPARQ_OK)
        return fail("pruning", st);

    double t_ctx = bench_now_seconds();
    sparq_context *ctx = NULL;
    if ((st = sparq_context_create(NULL, &ctx)) != SPARQ_OK)
        return fail("creating a context", st);
    cl_command_queue q = sparq_context_queue(ctx);
    double t_pack = bench_now_seconds();
    sparq_packed *packed = NULL;
    if ((st = sparq_packed_create(&f, rows, cols, w, &packed)) != SPARQ_OK)
        return fail("packing", st);
    double t_upload = bench_now_seconds();
    sparq_matrix *m = NULL;
    if ((st = sparq_matrix_create(ctx, packed, NULL, &m)) != SPARQ_OK)
        return fail("uploading", st);
    cl_int e1, e2;
    cl_mem dx = clCreateBuffer(sparq_context_cl_context(ctx), CL_MEM_READ_ONLY |
                               CL_MEM_COPY_HOST_PTR, cols * sizeof *x, x, &e1);
    cl_mem dy = clCreateBuffer(sparq_context_cl_context(ctx), CL_MEM_WRITE_ONLY,
                               rows * sizeof *y, NULL, &e2);
    if (e1 != CL_SUCCESS || e2 != CL_SUCCESS)
        return fail("allocating buffers", e1 != CL_SUCCESS ? e1 : e2);
    double t_run = bench_now_seconds();
    cl_event done = NULL;
    if ((st = sparq_linear(m, q, dx, 0, dy, 0, batch, NULL, 0, NULL, &done)) != SPARQ_OK)
        return fail("running", st);
    if ((e1 = clEnqueueReadBuffer(q, dy, CL_TRUE, 0, rows * sizeof *y, y, 1, &done, NULL)))
        return fail("reading", e1);
    double t_end = bench_now_seconds();
    clReleaseEvent(done);

    char plan[2048];
    sparq_plan_explain(m, batch, plan, sizeof plan);
    sparq_context_stats stats;
    sparq_context_get_stats(ctx, &stats);
    printf("format %s %zux%zu batch %zu on %s\n", format, rows, cols, batch,
           sparq_context_caps(ctx)->name);
    printf("first result after %.1f ms: context %.1f ms, pack %.1f ms, upload %.1f ms, "
           "first sparq_linear + read back %.1f ms (host prep before: %.1f ms)\n",
           (t_end - t0) * 1e3, (t_pack - t_ctx) * 1e3, (t_upload - t_pack) * 1e3,
           (t_run - t_upload) * 1e3, (t_end - t_run) * 1e3, (t_ctx - t0) * 1e3);
    printf("programs built %llu, from the disk cache %llu\nplan: %s\n",
           (unsigned long long)stats.programs_built,
           (unsigned long long)stats.program_disk_hits, plan);
    clReleaseMemObject(dx);
    clReleaseMemObject(dy);
    sparq_matrix_free(m);
    sparq_packed_free(packed);
    sparq_context_free(ctx);
    free(w), free(x), free(y);
    return 0;
}
