/* SPDX-License-Identifier: Apache-2.0 */
/* warp_smoke.c - the warp model plugin's smoke check (ctest gpu_model_smoke): one tiny
 * kernel run under oclgrind with the plugin, its report checked: a coalesced stream at 100 %
 * sector efficiency, a stride-32 load at 12.5 %, a divergent loop grouped as a SIMT warp
 * issues it, a 32-way local bank conflict and float4s without one, one barrier. */
#define CL_TARGET_OPENCL_VERSION 120
#include "warp_report.h"

#include <CL/cl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { WG = 64, GROUPS = 4, N = WG * GROUPS };

static const char *source =
    "kernel void smoke(global const float *values, global const float *x,\n"
    "                  global float *y, global const float *other, const uint reps,\n"
    "                  local float *tile, local float *quad)\n"
    "{\n"
    "    size_t i = get_global_id(0), l = get_local_id(0);\n"
    "    float v = values[i];\n"      /* coalesced: 32 lanes x 4 bytes = 4 sectors, 1 line */
    "    float xv = x[i * 32];\n"     /* stride 32 floats: 1 sector per lane             */
    "    tile[l * 32] = v;\n"         /* every lane in bank 0: 32-way conflict           */
    "    vstore4((float4)(v), l, quad);\n" /* float4s side by side: quarter-warp phases */
    "    barrier(CLK_LOCAL_MEM_FENCE);\n"
    "    float acc = tile[l * 32] + xv + dot(vload4(l, quad), (float4)(1.0f));\n"
    /* divergent inner loop: odd lanes take 2 steps, even ones 1; a SIMT warp issues
     * (b, j) = (0, 0), (0, 1), (1, 0), (1, 1): 128 + 64 + 128 + 64 bytes in 16 sectors */
    "    for (uint b = 0; b < reps; b++)\n"
    "        for (uint j = 0; j < reps - 1 + (l & 1); j++)\n"
    "            acc += other[(b * reps + j) * get_global_size(0) + i];\n"
    "    y[i] = acc;\n"
    "}\n";

static int expect(const char *what, double got, double want)
{
    int ok = fabs(got - want) <= 1e-9 * fmax(1.0, fabs(want));
    printf("%-40s %10.4f (expected %.4f)%s\n", what, got, want, ok ? "" : "  <-- WRONG");
    return ok;
}

/* Runs the kernel once on the first device; 0 on success. */
static int run_kernel(void)
{
    cl_platform_id platform;
    cl_device_id device;
    cl_int err = clGetPlatformIDs(1, &platform, NULL);
    if (err == CL_SUCCESS)
        err = clGetDeviceIDs(platform, CL_DEVICE_TYPE_ALL, 1, &device, NULL);
    if (err != CL_SUCCESS)
        return fprintf(stderr, "warp_smoke: no OpenCL device (%d)\n", err), 1;
    cl_context ctx = clCreateContext(NULL, 1, &device, NULL, NULL, &err);
    cl_command_queue q = clCreateCommandQueue(ctx, device, 0, &err);
    cl_program prog = clCreateProgramWithSource(ctx, 1, &source, NULL, &err);
    if (clBuildProgram(prog, 1, &device, "", NULL, NULL) != CL_SUCCESS)
        return fprintf(stderr, "warp_smoke: build failed\n"), 1;
    cl_kernel k = clCreateKernel(prog, "smoke", &err);
    static float host[N * 32];
    cl_mem values = clCreateBuffer(ctx, CL_MEM_COPY_HOST_PTR, N * sizeof(float), host, &err);
    cl_mem x = clCreateBuffer(ctx, CL_MEM_COPY_HOST_PTR, sizeof host, host, &err);
    cl_mem y = clCreateBuffer(ctx, CL_MEM_READ_WRITE, N * sizeof(float), NULL, &err);
    cl_mem other = clCreateBuffer(ctx, CL_MEM_COPY_HOST_PTR, 4 * N * sizeof(float), host, &err);
    cl_uint reps = 2;
    clSetKernelArg(k, 0, sizeof values, &values);
    clSetKernelArg(k, 1, sizeof x, &x);
    clSetKernelArg(k, 2, sizeof y, &y);
    clSetKernelArg(k, 3, sizeof other, &other);
    clSetKernelArg(k, 4, sizeof reps, &reps);
    clSetKernelArg(k, 5, WG * 32 * sizeof(float), NULL);
    clSetKernelArg(k, 6, WG * 4 * sizeof(float), NULL);
    size_t global = N, local = WG;
    err = clEnqueueNDRangeKernel(q, k, 1, NULL, &global, &local, 0, NULL, NULL);
    if (err == CL_SUCCESS)
        err = clFinish(q);
    clReleaseMemObject(values), clReleaseMemObject(x), clReleaseMemObject(y);
    clReleaseMemObject(other);
    clReleaseKernel(k), clReleaseProgram(prog), clReleaseCommandQueue(q), clReleaseContext(ctx);
    return err != CL_SUCCESS;
}

int main(void)
{
    char path[] = "/tmp/sparq_warp_smoke_XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return perror("mkstemp"), 1;
    close(fd);
    setenv("SPARQ_WARP_REPORT", path, 1);
    if (run_kernel())
        return unlink(path), 1;
    warp_counts c;
    long pos = 0;
    size_t n = warp_read_new(path, &pos, &c, 1);
    unlink(path);
    if (n != 1 || strcmp(c.kernel, "smoke") != 0) {
        fprintf(stderr, "warp_smoke: no report line: run it as oclgrind --plugins "
                        "<libsparq_warp_model.so> warp_smoke\n");
        return 1;
    }
    int ok = 1;
    ok &= expect("weights sector efficiency (warp 32)",
                 warp_sector_efficiency(&c, WARP_WEIGHTS, WARP_32), 1.0);
    ok &= expect("weights sector efficiency (wave 64)",
                 warp_sector_efficiency(&c, WARP_WEIGHTS, WARP_64), 1.0);
    ok &= expect("weights 128-byte lines per request", warp_lines_per_request(&c, WARP_WEIGHTS),
                 1.0);
    ok &= expect("x sector efficiency (stride 32 floats)",
                 warp_sector_efficiency(&c, WARP_X, WARP_32), 0.125);
    ok &= expect("x lines per request", warp_lines_per_request(&c, WARP_X), 32.0);
    ok &= expect("x active lanes per request", warp_active_lanes(&c, WARP_X), 32.0);
    ok &= expect("divergent loop: sector efficiency (SIMT)",
                 warp_sector_efficiency(&c, WARP_OTHER, WARP_32), 0.75);
    ok &= expect("divergent loop: active lanes per request", warp_active_lanes(&c, WARP_OTHER),
                 24.0);
    /* (31 + 31 + 0 + 0) / 4: the float4 accesses have no conflict */
    ok &= expect("local extra wavefronts per request", warp_bank_extra(&c), 15.5);
    ok &= expect("local requests per work-group", warp_local_requests_per_group(&c), 8.0);
    ok &= expect("barriers per work-group", warp_barriers_per_group(&c), 1.0);
    ok &= expect("work-groups", c.groups, GROUPS);
    ok &= c.instructions > 0;
    printf("%s\n", ok ? "warp model smoke check passed" : "warp model smoke check FAILED");
    return ok ? 0 : 1;
}
