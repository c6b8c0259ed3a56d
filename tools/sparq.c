/* SPDX-License-Identifier: Apache-2.0 */
/* sparq.c - the `sparq` command line: `info` (devices, caps, choice, program
 * cache) and `check` (a dense sparq_linear_dense run against a C reference, with
 * the time to the first result), the top-level --help (commands, environment) and
 * --version, and the dispatch to the subcommands of cli.h. Uses only the public header.
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

static int cmd_info(int argc, char **argv)
{
    (void)argc, (void)argv; /* --help only: main read it */
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

static int cmd_check(int argc, char **argv)
{
    (void)argc, (void)argv; /* --help only: main read it */
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
        if (!x || !w || !bias || !ref || !out)
            failures += cli_error("out of memory");
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

static int cmd_version(int argc, char **argv)
{
    (void)argc, (void)argv; /* --help only: main read it */
    printf("sparq %s\n", sparq_version_string());
    return 0;
}

static void usage(FILE *to);

static int cmd_help(int argc, char **argv)
{
    (void)argc, (void)argv; /* --help only: main read it */
    usage(stdout);
    return 0;
}

/* The commands: the dispatch and the top-level --help both read this table. */
static const struct command {
    const char *name;
    int (*main)(int argc, char **argv); /* argv[0]: the command's name */
    const char *summary;                /* lines after the first indented by 12 */
    const char *about; /* its --help, for a command with no option but --help (main
                        * reads them); NULL: the command reads its own options */
} commands[] = {
    {"info", cmd_info,
     "list OpenCL devices and their capabilities, the device sparq\n"
     "            would choose and why, and the program cache",
     "Lists the OpenCL devices with their capabilities, the device sparq would\n"
     "choose (SPARQ_DEVICE, else the best by type and size) and why, and the\n"
     "program cache (where, on or off, how many programs).\n"},
    {"check", cmd_check,
     "run the dense linear layer (sparq's kernel and CLBlast) against\n"
     "            a C reference and report the time to the first result",
     "Runs the dense linear layer (sparq's kernel and CLBlast, batch 1 and 8,\n"
     "768 x 3072) on the chosen device against a C reference, and reports the\n"
     "error and the time to the first result. Exit status 1 when a result is\n"
     "wrong or the device fails.\n"},
    {"tune", cli_tune_main, "autotune kernels for this device", NULL},
    {"convert", cli_convert_main,
     "prune and quantize a model (a safetensors file or a sharded\n"
     "            Hugging Face folder) with a quality gate",
     NULL},
    {"inspect", cli_inspect_main,
     "what a converted model holds: its packed matrices (format, shape,\n"
     "            bits per weight, bytes) and its other tensors by dtype",
     NULL},
    {"bench", cli_bench_main,
     "time every packed matrix of a converted model on the device,\n"
     "            against the same layer as dense f32",
     NULL},
    {"demo", cli_demo_main,
     "the whole trade-off on a small real model, and speed on\n"
     "            transformer-sized layers",
     NULL},
    {"version", cmd_version, "print the version (as --version)",
     "Prints the version, as sparq --version does.\n"},
    {"help", cmd_help, "this text (as --help)", "Prints the commands and the environment "
                                                 "variables, as sparq --help does.\n"},
};

static const struct command *running; /* the command main dispatches to */

/* --help of a command with no option but --help. */
static void simple_usage(FILE *to)
{
    fprintf(to, "Usage: sparq %s [--help]\n\n%s\nOptions:\n  -h, --help  this text\n",
            running->name, running->about);
}

static void usage(FILE *to)
{
    fprintf(to, "Usage: sparq COMMAND [OPTION]...\n"
                "  or:  sparq --help | --version\n\n"
                "Sparse and quantized linear layers on OpenCL devices: see the devices,\n"
                "check them, tune the kernels, convert models, and inspect and time what\n"
                "a conversion made.\n\n"
                "Commands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(to, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fprintf(to,
            "\nEvery command takes --help (e.g. sparq convert --help).\n\n"
            "Options:\n"
            "  -h, --help     this text\n"
            "  --version      print the version\n\n"
            "Environment:\n"
            "  SPARQ_DEVICE      the device: P:D (platform:device index) or a substring\n"
            "                    of its name (default: the best by type and size)\n"
            "  SPARQ_LOG         info (or 1) or debug: the library's log on stderr\n"
            "  SPARQ_CACHE       off (or 0): no on-disk cache of compiled programs\n"
            "  SPARQ_CACHE_DIR   the program cache's folder (default\n"
            "                    $XDG_CACHE_HOME/sparq, else ~/.cache/sparq)\n"
            "  SPARQ_TUNE        off: dispatch ignores every tuning database\n"
            "  SPARQ_TUNE_DB     the user tuning database, which sparq tune writes\n"
            "                    (default $XDG_CACHE_HOME/sparq/tune.json, else\n"
            "                    ~/.cache/sparq/tune.json)\n"
            "  SPARQ_KERNEL_DIR  read the OpenCL C kernels from this folder instead of\n"
            "                    the copies built into the library\n"
            "  XDG_CACHE_HOME    where the caches go (default ~/.cache)\n"
            "  HOME              the home folder, for ~/.cache\n\n"
            "Exit status: 0 success, 1 failure, 2 usage error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return cmd_help(argc, argv);
    if (strcmp(argv[1], "--version") == 0)
        return cmd_version(argc, argv);
    static const struct option help_only[] = {{"help", no_argument, NULL, 'h'},
                                              {NULL, 0, NULL, 0}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        running = &commands[i];
        cli_set_command(running->name);
        int rc = running->about ? cli_parse_options(argc - 1, argv + 1, help_only, NULL, NULL,
                                                    simple_usage, 0)
                                : 0;
        if (rc != 0)
            return rc < 0 ? 0 : rc;
        return running->main(argc - 1, argv + 1);
    }
    return cli_usage_error("unknown %s '%s'", argv[1][0] == '-' ? "option" : "command",
                           argv[1]);
}
