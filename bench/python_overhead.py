#!/usr/bin/env python3
"""python_overhead.py - what the Python binding adds to one sparq_linear call (issue 22:
m(x) at 768x3072 batch 1 within 30 us of the C call).

Both sides run the same packed matrix (saved once to a temporary safetensors file) on the
same device, and time each call alone with a monotonic clock, the median over many calls:

  numpy path   Python: y = m(x) (checks, x copied to the device, sparq_linear, y copied
               back with a blocking read, a new numpy y each call)
               C:      clEnqueueWriteBuffer(x) + sparq_linear + blocking clEnqueueReadBuffer
               into preallocated host arrays (a tiny C program compiled here with cc,
               linked to the same libsparq)
  enqueue path Python: m.enqueue(queue, x_buf, y_buf, 1).wait() on pyopencl buffers
               C:      sparq_linear(..., &event) + clWaitForEvents + clReleaseEvent

Rounds alternate C and Python so that drift in the machine's load hits both alike.

    SPARQ_LIBRARY=build/libsparq.so python3 bench/python_overhead.py
    python3 bench/python_overhead.py --format csr0.9+i8-row --iters 3000 --rounds 5
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "python"))  # the tree's package, unless installed
import sparq  # noqa: E402

C_SOURCE = r"""
#include <sparq.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_us(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}
static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y);
}
#define CHECK(call) do { sparq_status st_ = (call); if (st_ != 0) { \
    fprintf(stderr, "%s: %s: %s\n", #call, sparq_status_string(st_), sparq_last_error()); \
    return 1; } } while (0)

int main(int argc, char **argv) {
    /* file name iters batch mode(0 numpy-like, 1 enqueue) */
    if (argc != 6) return 2;
    int iters = atoi(argv[3]); size_t batch = (size_t)atoi(argv[4]); int mode = atoi(argv[5]);
    sparq_safetensors *f; sparq_packed *p; sparq_context *ctx; sparq_matrix *m;
    CHECK(sparq_safetensors_open(argv[1], &f));
    CHECK(sparq_packed_load(f, argv[2], &p));
    CHECK(sparq_context_create(NULL, &ctx));
    CHECK(sparq_matrix_create(ctx, p, NULL, &m));
    size_t rows = sparq_packed_rows(p), cols = sparq_packed_cols(p);
    cl_command_queue q = sparq_context_queue(ctx);
    cl_int err;
    cl_mem xb = clCreateBuffer(sparq_context_cl_context(ctx), CL_MEM_READ_ONLY,
                               batch * cols * 4, NULL, &err);
    cl_mem yb = clCreateBuffer(sparq_context_cl_context(ctx), CL_MEM_READ_WRITE,
                               batch * rows * 4, NULL, &err);
    float *x = malloc(batch * cols * 4), *y = malloc(batch * rows * 4);
    for (size_t i = 0; i < batch * cols; i++) x[i] = (float)((i * 7919) % 17) / 17.0f - 0.5f;
    double *t = malloc(sizeof(double) * (size_t)iters);
    for (int i = -iters / 10 - 20; i < iters; i++) {
        double t0 = now_us();
        if (mode == 0) {
            CHECK(clEnqueueWriteBuffer(q, xb, CL_FALSE, 0, batch * cols * 4, x, 0, NULL, NULL));
            CHECK(sparq_linear(m, q, xb, 0, yb, 0, batch, NULL, 0, NULL, NULL));
            CHECK(clEnqueueReadBuffer(q, yb, CL_TRUE, 0, batch * rows * 4, y, 0, NULL, NULL));
        } else {
            cl_event ev;
            CHECK(sparq_linear(m, q, xb, 0, yb, 0, batch, NULL, 0, NULL, &ev));
            CHECK(clWaitForEvents(1, &ev));
            clReleaseEvent(ev);
        }
        double t1 = now_us();
        if (i >= 0) t[i] = t1 - t0;
    }
    qsort(t, (size_t)iters, sizeof(double), cmp);
    printf("%.3f %.3f %.3f\n", t[iters / 2], t[iters / 10], t[iters * 9 / 10]);
    clReleaseMemObject(xb); clReleaseMemObject(yb);
    sparq_matrix_free(m); sparq_context_free(ctx); sparq_packed_free(p);
    sparq_safetensors_close(f);
    free(x); free(y); free(t);
    return 0;
}
"""


def build_c(tmp):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("python_overhead: no C compiler (cc)")
    lib = os.path.realpath(sparq.library_path)
    # The package's copy is called libsparq.so but its SONAME is libsparq.so.0: give the
    # loader that name in a folder of our own, found through the rpath.
    os.symlink(lib, os.path.join(tmp, "libsparq.so.0"))
    src = os.path.join(tmp, "overhead.c")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    exe = os.path.join(tmp, "overhead")
    subprocess.run([cc, "-O2", "-std=gnu11", "-I", os.path.join(REPO, "include"), src, lib,
                    "-lOpenCL", f"-Wl,-rpath,{tmp}", "-o", exe], check=True)
    return exe


def c_round(exe, path, iters, batch, mode):
    out = subprocess.run([exe, path, "w", str(iters), str(batch), str(mode)], check=True,
                         capture_output=True, text=True).stdout.split()
    return [float(v) for v in out]


def py_times(fn, iters):
    for _ in range(iters // 10 + 20):
        fn()
    t = []
    clock = time.perf_counter
    for _ in range(iters):
        t0 = clock()
        fn()
        t.append((clock() - t0) * 1e6)
    t.sort()
    return [t[iters // 2], t[iters // 10], t[iters * 9 // 10]]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=768)
    ap.add_argument("--cols", type=int, default=3072)
    ap.add_argument("--format", default="csr0.9+f32")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=2000, help="timed calls per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-enqueue", action="store_true", help="skip the pyopencl path")
    a = ap.parse_args()

    rng = np.random.default_rng(0)
    w = rng.standard_normal((a.rows, a.cols)).astype(np.float32)
    x = rng.standard_normal((a.batch, a.cols)).astype(np.float32)
    packed = sparq.pack(w, a.format)
    cl = None
    if not a.no_enqueue:
        try:
            import pyopencl as cl
        except ImportError:
            print("(pyopencl not found: the enqueue path is skipped)")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "w.safetensors")
        packed.save(path, "w")
        exe = build_c(tmp)
        with sparq.Context() as ctx, ctx.matrix(packed) as m:
            print(f"sparq {sparq.version()} ({sparq.library_path}), device: {ctx.device_name}")
            print(f"matrix {a.rows}x{a.cols} {a.format} ({packed.bits_per_weight:.2f} "
                  f"bits/weight), batch {a.batch}, {a.iters} calls x {a.rounds} rounds; "
                  f"plan: {m.plan(a.batch)['kernel']}")
            m.prepare([a.batch])
            runs = {"numpy": ([], []), "enqueue": ([], [])}
            if cl is not None:
                clctx = cl.Context.from_int_ptr(ctx.cl_context)
                q = cl.CommandQueue.from_int_ptr(ctx.cl_queue)
                mf = cl.mem_flags
                xb = cl.Buffer(clctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=x)
                yb = cl.Buffer(clctx, mf.READ_WRITE, a.batch * a.rows * 4)
            for _ in range(a.rounds):
                runs["numpy"][0].append(c_round(exe, path, a.iters, a.batch, 0))
                runs["numpy"][1].append(py_times(lambda: m(x), a.iters))
                if cl is not None:
                    runs["enqueue"][0].append(c_round(exe, path, a.iters, a.batch, 1))
                    runs["enqueue"][1].append(
                        py_times(lambda: m.enqueue(q, xb, yb, a.batch).wait(), a.iters))
    print(f"{'path':8}  {'C median':>9}  {'Python median':>13}  {'difference':>10}   "
          "(us; per-round medians, then [p10, p90] of the middle round)")
    for name, (c, p) in runs.items():
        if not c:
            continue
        cm = statistics.median(r[0] for r in c)
        pm = statistics.median(r[0] for r in p)
        mid = len(c) // 2
        print(f"{name:8}  {cm:9.1f}  {pm:13.1f}  {pm - cm:+10.1f}   C rounds "
              f"{[round(r[0], 1) for r in c]} [{c[mid][1]:.1f}, {c[mid][2]:.1f}], Python "
              f"rounds {[round(r[0], 1) for r in p]} [{p[mid][1]:.1f}, {p[mid][2]:.1f}]")


if __name__ == "__main__":
    main()
