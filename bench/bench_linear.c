/* SPDX-License-Identifier: Apache-2.0 */
/* bench_linear.c - benchmark of the dense f32 linear layer: sparq's kernel and CLBlast
 * measured in the same run on the same device, with the device's bandwidth roof.
 * Reports median/min/max, effective GB/s, fraction of roof and the ratio to CLBlast,
 * as a table plus optional CSV. Uses only the public header.
 */
#include "common.h"
#include "sparq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int die(const char *what, sparq_status st)
{
    fprintf(stderr, "bench_linear: %s: %s: %s\n", what, sparq_status_string(st),
            sparq_last_error());
    return 1;
}

/* Times `repeats` calls of one backend, rotating over `copies` weight buffers so the
 * weights stream from memory rather than sit in the last-level cache. */
static sparq_status time_backend(sparq_context *ctx, cl_command_queue q,
                                 sparq_dense_backend backend, size_t batch, size_t rows,
                                 size_t cols, cl_mem x, cl_mem *w, size_t copies, cl_mem bias,
                                 cl_mem y, int repeats, bench_summary *out)
{
    double *t = malloc((size_t)repeats * sizeof *t);
    if (!t)
        return SPARQ_ERROR_OUT_OF_MEMORY;
    sparq_status st = SPARQ_OK;
    for (int r = -2; r < repeats && st == SPARQ_OK; r++) { /* two warm-up runs */
        cl_event ev = NULL;
        double t0 = bench_now_seconds();
        st = sparq_linear_dense(ctx, q, backend, batch, rows, cols, x, 0,
                                w[(size_t)(r + 2) % copies], 0, bias, 0, y, 0, 0, NULL, &ev);
        if (st == SPARQ_OK) {
            clWaitForEvents(1, &ev);
            clReleaseEvent(ev);
            if (r >= 0)
                t[r] = bench_now_seconds() - t0;
        }
    }
    if (st == SPARQ_OK)
        *out = bench_summarize(t, (size_t)repeats);
    free(t);
    return st;
}

/* Both backends at every batch of one shape (rows x cols), printed and written to csv;
 * the weights rotate over copies holding >= 256 MiB in all (at most 16 copies). */
static sparq_status bench_shape(sparq_context *ctx, const sparq_bandwidth *roof, size_t rows,
                                size_t cols, int repeats, FILE *csv)
{
    cl_command_queue q = sparq_context_queue(ctx);
    cl_context cl = sparq_context_cl_context(ctx);
    const char *device = sparq_context_caps(ctx)->name;
    const size_t batches[] = {1, 8, 32};
    size_t w_bytes = rows * cols * sizeof(float);
    size_t copies = (256u << 20) / w_bytes + 1; /* >= 256 MiB of weights in rotation */
    if (copies > 16)
        copies = 16;
    cl_mem w[16] = {0};
    cl_int err = CL_SUCCESS;
    float fill = 0.01f;
    for (size_t c = 0; c < copies && err == CL_SUCCESS; c++) {
        w[c] = clCreateBuffer(cl, CL_MEM_READ_ONLY, w_bytes, NULL, &err);
        if (err == CL_SUCCESS)
            err = clEnqueueFillBuffer(q, w[c], &fill, sizeof fill, 0, w_bytes, 0, NULL, NULL);
    }
    size_t max_batch = 32;
    cl_mem x = clCreateBuffer(cl, CL_MEM_READ_ONLY, max_batch * cols * 4, NULL, &err);
    cl_mem y = clCreateBuffer(cl, CL_MEM_READ_WRITE, max_batch * rows * 4, NULL, &err);
    cl_mem bias = clCreateBuffer(cl, CL_MEM_READ_ONLY, rows * 4, NULL, &err);
    clEnqueueFillBuffer(q, x, &fill, sizeof fill, 0, max_batch * cols * 4, 0, NULL, NULL);
    clEnqueueFillBuffer(q, bias, &fill, sizeof fill, 0, rows * 4, 0, NULL, NULL);
    clFinish(q);
    sparq_status st = SPARQ_OK;
    if (err != CL_SUCCESS) {
        st = err;
        die("allocating buffers", st);
    }
    for (size_t b = 0; b < 3 && st == SPARQ_OK; b++) {
        size_t batch = batches[b];
        double bytes = (double)w_bytes + 4.0 * (double)(batch * cols + batch * rows + rows);
        bench_summary t[2];
        const sparq_dense_backend which[2] = {SPARQ_DENSE_BACKEND_SPARQ,
                                              SPARQ_DENSE_BACKEND_CLBLAST};
        const char *names[2] = {"sparq", "CLBlast"};
        for (int k = 0; k < 2 && st == SPARQ_OK; k++)
            st = time_backend(ctx, q, which[k], batch, rows, cols, x, w, copies, bias, y,
                              repeats, &t[k]);
        if (st != SPARQ_OK) {
            die("linear", st);
            break;
        }
        for (int k = 0; k < 2; k++) {
            double gbs = bytes / t[k].median * 1e-9;
            char shape[32];
            snprintf(shape, sizeof shape, "%zux%zu", rows, cols);
            printf("%-11s %5zu  %-8s %9.3f %9.3f %9.3f %8.1f %5.0f%% %7.2fx\n", shape, batch,
                   names[k], 1e3 * t[k].median, 1e3 * t[k].min, 1e3 * t[k].max, gbs,
                   100.0 * gbs / roof->best_gbs, t[1].median / t[k].median);
            if (csv)
                fprintf(csv, "\"%s\",%zu,%zu,%zu,%s,%.4f,%.4f,%.4f,%.2f,%.4f,%.4f\n", device,
                        rows, cols, batch, names[k], 1e3 * t[k].median, 1e3 * t[k].min,
                        1e3 * t[k].max, gbs, gbs / roof->best_gbs, t[1].median / t[k].median);
        }
    }
    for (size_t c = 0; c < copies; c++)
        if (w[c])
            clReleaseMemObject(w[c]);
    clReleaseMemObject(x), clReleaseMemObject(y), clReleaseMemObject(bias);
    return st;
}

int main(int argc, char **argv)
{
    int repeats = 20;
    size_t roof_mib = 512;
    const char *csv_path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--repeats") == 0 && i + 1 < argc)
            repeats = atoi(argv[++i]);
        else if (strcmp(argv[i], "--roof-mib") == 0 && i + 1 < argc)
            roof_mib = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--csv") == 0 && i + 1 < argc)
            csv_path = argv[++i];
        else {
            fprintf(stderr, "usage: bench_linear [--repeats N] [--roof-mib MIB] [--csv FILE]\n");
            return 2;
        }
    }
    if (repeats < 1)
        repeats = 1;

    sparq_context *ctx = NULL;
    sparq_status st = sparq_context_create(NULL, &ctx);
    if (st != SPARQ_OK)
        return die("context", st);
    cl_command_queue q = sparq_context_queue(ctx);
    const sparq_device_caps *caps = sparq_context_caps(ctx);
    sparq_bandwidth roof;
    if ((st = sparq_bandwidth_measure(ctx, q, roof_mib << 20, 5, &roof)) != SPARQ_OK)
        return die("bandwidth", st);
    printf("device: %s (%s)\nroof over %zu MiB: read %.1f GB/s, copy %.1f GB/s -> %.1f GB/s\n\n",
           caps->name, caps->platform_name, roof.bytes >> 20, roof.read_gbs, roof.copy_gbs,
           roof.best_gbs);

    FILE *csv = csv_path ? fopen(csv_path, "w") : NULL;
    if (csv_path && !csv) {
        fprintf(stderr, "bench_linear: cannot write %s\n", csv_path);
        return 1;
    }
    if (csv)
        fprintf(csv, "device,rows,cols,batch,backend,median_ms,min_ms,max_ms,gbs,roof_fraction,"
                     "ratio_to_clblast\n");
    printf("%-11s %5s  %-8s %9s %9s %9s %8s %6s %8s\n", "shape", "batch", "backend",
           "median ms", "min ms", "max ms", "GB/s", "roof", "vs CLBl.");

    const size_t shapes[][2] = {{768, 3072}, {3072, 768}, {4096, 4096}};
    for (size_t s = 0; s < 3 && st == SPARQ_OK; s++)
        st = bench_shape(ctx, &roof, shapes[s][0], shapes[s][1], repeats, csv);
    if (csv)
        fclose(csv);
    sparq_context_free(ctx);
    return st == SPARQ_OK ? 0 : 1;
}
