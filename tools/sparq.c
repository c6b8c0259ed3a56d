/* sparq.c - the `sparq` command line: `info` (devices, caps, choice, program
 * cache) and `check` (a dense sparq_linear_dense run against a C reference, with
 * the time to the first result), and the dispatch to the subcommands of cli.h.
 * Uses only the public header.
 */
#include "cli.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *type_name(sparq_device_type t)
{
    switch (t) {
    case SPARQ_DEVICE_TYPE_GPU: return "GPU";
    case SPARQ_DEVICE_TYPE_ACCELERATOR: return "accelerator";
    case SPARQ_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
    }
}

static void print_caps(const sparq_device_caps *c)
{
    printf("    vendor            %s\n", c->vendor);
    printf("    type              %s\n", type_name(c->type));
    printf("    driver            %s\n", c->driver_version);
    printf("    version           %s\n", c->device_version);
    printf("    OpenCL C          %d.%d (%s)\n", c->opencl_c_major, c->opencl_c_minor,
           c->opencl_c_version);
    printf("    compute units     %u at %u MHz\n", c->compute_units, c->max_clock_mhz);
    printf("    global memory     %.1f GiB (largest buffer %.1f GiB)\n",
           (double)c->global_mem_bytes / (1 << 30), (double)c->max_alloc_bytes / (1 << 30));
    printf("    local memory      %.0f KiB (%s)\n", (double)c->local_mem_bytes / 1024,
           c->local_mem_is_dedicated ? "dedicated" : "emulated in global memory");
    printf("    work-group max    %zu\n", c->max_work_group_size);
    printf("    base align        %u bytes\n", c->base_addr_align_bytes);
    printf("    fp16 arithmetic   %s\n", c->has_fp16 ? "yes" : "no (f16 storage only)");
    printf("    fp64              %s\n", c->has_fp64 ? "yes" : "no");
    printf("    subgroups         %s\n", c->has_subgroups ? "yes" : "no");
    printf("    int dot product   %s\n", c->has_int_dot_product ? "yes" : "no");
    printf("    vector widths     char %u, short %u, int %u, float %u, half %u\n",
           c->vector_width_char, c->vector_width_short, c->vector_width_int,
           c->vector_width_float, c->vector_width_half);
}

static int cmd_info(void)
{
    printf("sparq %s\n\n", sparq_version_string());
    sparq_device_entry *list = NULL;
    size_t count = 0;
    sparq_status st = sparq_device_list(&list, &count);
    if (st != SPARQ_OK) {
        return cli_fail("listing devices", st); /* the sentence names the package to install */
    }
    for (size_t i = 0; i < count; i++) {
        printf("device %u:%u  %s  [platform: %s]\n", list[i].platform_index,
               list[i].device_index, list[i].caps.name, list[i].caps.platform_name);
        print_caps(&list[i].caps);
        printf("\n");
    }
    size_t chosen = 0;
    char reason[512];
    const char *selector = getenv("SPARQ_DEVICE");
    st = sparq_device_choose(list, count, selector, &chosen, reason, sizeof reason);
    if (st != SPARQ_OK) {
        sparq_device_list_free(list);
        return cli_fail("choosing a device", st);
    }
    printf("chosen: %u:%u %s\n  why: %s\n\n", list[chosen].platform_index,
           list[chosen].device_index, list[chosen].caps.name, reason);
    sparq_device_list_free(list);

    sparq_cache_info cache;
    if ((st = sparq_cache_get_info(NULL, &cache)) != SPARQ_OK)
        return cli_fail("program cache", st);
    printf("program cache: %s\n  %s, %zu programs, %.1f KiB\n", cache.path,
           cache.enabled ? "on" : "off (SPARQ_CACHE=off)", cache.entries,
           (double)cache.bytes / 1024);
    return 0;
}

/* Y = X W^T + bias in double on the host, the reference the device is checked against. */
static void reference_linear(size_t batch, size_t rows, size_t cols, const float *x,
                             const float *w, const float *bias, float *y)
{
    for (size_t b = 0; b < batch; b++)
        for (size_t m = 0; m < rows; m++) {
            double acc = bias ? bias[m] : 0.0;
            for (size_t k = 0; k < cols; k++)
                acc += (double)x[b * cols + k] * w[m * cols + k];
            y[b * rows + m] = (float)acc;
        }
}

static int check_backend(sparq_context *ctx, cl_command_queue q, sparq_dense_backend backend,
                         const char *label, size_t batch, size_t rows, size_t cols, cl_mem dx,
                         cl_mem dw, cl_mem db, cl_mem dy, const float *ref, float *out,
                         double t_start)
{
    double t0 = cli_now_seconds();
    cl_event done = NULL;
    sparq_status st = sparq_linear_dense(ctx, q, backend, batch, rows, cols, dx, 0, dw, 0, db,
                                         0, dy, 0, 0, NULL, &done);
    if (st != SPARQ_OK)
        return cli_fail(label, st);
    cl_int err = clEnqueueReadBuffer(q, dy, CL_TRUE, 0, batch * rows * sizeof(float), out, 1,
                                     &done, NULL);
    clReleaseEvent(done);
    if (err != CL_SUCCESS)
        return cli_fail("reading the result", err);
    double t1 = cli_now_seconds();
    double max_err = 0.0, max_ref = 0.0;
    for (size_t i = 0; i < batch * rows; i++) {
        max_err = fmax(max_err, fabs((double)out[i] - ref[i]));
        max_ref = fmax(max_ref, fabs((double)ref[i]));
    }
    double rel = max_err / (max_ref > 0 ? max_ref : 1.0);
    bool ok = rel < 1e-5;
    printf("  %-8s batch %3zu  %5zu x %-5zu  max rel error %.2e  %s  first result %.1f ms "
           "(%.1f ms since start)\n",
           label, batch, rows, cols, rel, ok ? "ok" : "WRONG", 1e3 * (t1 - t0),
           1e3 * (t1 - t_start));
    return ok ? 0 : 1;
}

static int cmd_check(void)
{
    double t_start = cli_now_seconds();
    sparq_context *ctx = NULL;
    sparq_status st = sparq_context_create(NULL, &ctx);
    if (st != SPARQ_OK)
        return cli_fail("creating a context", st);
    printf("device: %s (%s)\n  why: %s\n", sparq_context_caps(ctx)->name,
           sparq_context_caps(ctx)->platform_name, sparq_context_choice(ctx));
    cl_command_queue q = sparq_context_queue(ctx);
    int failures = q ? 0 : cli_fail("creating a queue", SPARQ_ERROR_INTERNAL);
    const size_t shapes[][3] = {{1, 768, 3072}, {8, 768, 3072}};
    for (size_t s = 0; s < 2 && !failures; s++) {
        size_t batch = shapes[s][0], rows = shapes[s][1], cols = shapes[s][2];
        float *x = malloc(batch * cols * sizeof *x), *w = malloc(rows * cols * sizeof *w);
        float *bias = malloc(rows * sizeof *bias), *ref = malloc(batch * rows * sizeof *ref);
        float *out = malloc(batch * rows * sizeof *out);
        if (!x || !w || !bias || !ref || !out) {
            fprintf(stderr, "sparq: out of memory\n");
            failures++;
        }
        unsigned seed = 12345;
        for (size_t i = 0; !failures && i < batch * cols; i++)
            x[i] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / (1 << 24) - 0.5f;
        for (size_t i = 0; !failures && i < rows * cols; i++)
            w[i] = (float)((seed = seed * 1103515245u + 12345u) >> 8) / (1 << 24) - 0.5f;
        for (size_t i = 0; !failures && i < rows; i++)
            bias[i] = (float)i / (float)rows;
        if (!failures)
            reference_linear(batch, rows, cols, x, w, bias, ref);
        cl_context cl = sparq_context_cl_context(ctx);
        cl_int e1 = 0, e2 = 0, e3 = 0, e4 = 0;
        cl_mem dx = failures ? NULL
                             : clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                              batch * cols * sizeof *x, x, &e1);
        cl_mem dw = failures ? NULL
                             : clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                              rows * cols * sizeof *w, w, &e2);
        cl_mem db = failures ? NULL
                             : clCreateBuffer(cl, CL_MEM_READ_ONLY | CL_MEM_COPY_HOST_PTR,
                                              rows * sizeof *bias, bias, &e3);
        cl_mem dy = failures ? NULL
                             : clCreateBuffer(cl, CL_MEM_WRITE_ONLY, batch * rows * sizeof *out,
                                              NULL, &e4);
        if (!failures && (e1 || e2 || e3 || e4))
            failures += cli_fail("allocating buffers", e1 ? e1 : e2 ? e2 : e3 ? e3 : e4);
        if (!failures)
            failures += check_backend(ctx, q, SPARQ_DENSE_BACKEND_SPARQ, "sparq", batch, rows,
                                      cols, dx, dw, db, dy, ref, out, t_start);
        if (!failures)
            failures += check_backend(ctx, q, SPARQ_DENSE_BACKEND_CLBLAST, "CLBlast", batch,
                                      rows, cols, dx, dw, db, dy, ref, out, t_start);
        cl_mem bufs[] = {dx, dw, db, dy};
        for (int i = 0; i < 4; i++)
            if (bufs[i])
                clReleaseMemObject(bufs[i]);
        free(x), free(w), free(bias), free(ref), free(out);
    }
    sparq_context_stats stats;
    sparq_context_get_stats(ctx, &stats);
    printf("kernels launched %llu, CLBlast calls %llu; programs built %llu, from disk cache "
           "%llu\n",
           (unsigned long long)stats.kernel_launches, (unsigned long long)stats.peer_calls,
           (unsigned long long)stats.programs_built,
           (unsigned long long)stats.program_disk_hits);
    sparq_context_free(ctx);
    printf("%s\n", failures ? "check FAILED" : "check passed");
    return failures ? 1 : 0;
}

static void usage(FILE *to)
{
    fprintf(to, "usage: sparq <command>\n\n"
                "commands:\n"
                "  info      list OpenCL devices and their capabilities, the device sparq\n"
                "            would choose and why, and the program cache\n"
                "  check     run the dense linear layer (sparq's kernel and CLBlast) against\n"
                "            a C reference and report the time to the first result\n"
                "  tune      autotune kernels for this device (sparq tune --help)\n"
                "  convert   prune and quantize a safetensors model with a quality gate\n"
                "            (sparq convert --help)\n"
                "  demo      the whole trade-off on a small real model, and speed on\n"
                "            transformer-sized layers (sparq demo --help)\n"
                "  version   print the version\n\n"
                "environment: SPARQ_DEVICE (P:D or name substring), SPARQ_LOG=info|debug,\n"
                "SPARQ_CACHE=off, SPARQ_CACHE_DIR, SPARQ_KERNEL_DIR\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "info") == 0)
        return cmd_info();
    if (strcmp(argv[1], "check") == 0)
        return cmd_check();
    if (strcmp(argv[1], "tune") == 0)
        return cli_tune_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "convert") == 0)
        return cli_convert_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "demo") == 0)
        return cli_demo_main(argc - 1, argv + 1);
    if (strcmp(argv[1], "version") == 0) {
        printf("sparq %s\n", sparq_version_string());
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "sparq: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
