#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""python_overhead.py - what the Python binding adds to one sparq_linear call (issue 22:
m(x) at 768x3072 batch 1 within 30 us of the C call).

Both sides run in this one process, on the same device matrix, queue and buffers, and time
each call alone with the monotonic clock (median over many calls):

  numpy path    Python: y = m(x) (checks, x copied to the device, sparq_linear, y copied
                back with a blocking read, a new numpy y each call); and m(x, out=y2)
                into a preallocated y2; and "raw ctypes": the same three C calls from
                Python with all arguments computed beforehand (the floor of any caller);
                and "numpy vs C+work": m(x) against the C loop doing, before each call,
                as many microseconds of its own work as the binding's code takes (on
                PoCL's CPU device any gap between calls lets its worker threads go to
                sleep, and waking them costs more than the gap)
                C:      clEnqueueWriteBuffer(x) + sparq_linear + blocking
                        clEnqueueReadBuffer into preallocated arrays, on m's own buffers
  enqueue path  Python: m.enqueue(queue, x_buf, y_buf, 1).wait() on pyopencl buffers
                C:      sparq_linear(..., &event) + clWaitForEvents + clReleaseEvent on the
                        same buffers

The C side is a tiny timing loop compiled here with cc into a shared object and called
once per round through ctypes; it calls the very sparq_linear the binding calls (its
address is passed in), so both share one library, one PoCL and one matrix. Rounds
alternate C and Python so that drift in the machine's load hits both alike.

    SPARQ_LIBRARY=build/libsparq.so python3 bench/python_overhead.py
    python3 bench/python_overhead.py --format csr0.9+i8-row --iters 1000 --rounds 9
"""
import argparse
import ctypes
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
sys.path.insert(0, os.path.join(REPO, "python"))  # the tree's package
import sparq  # noqa: E402
from sparq._lib import lib  # noqa: E402

C_SOURCE = r"""
#include <CL/cl.h>
#include <stddef.h>
#include <time.h>

typedef int (*linear_fn)(void *m, cl_command_queue q, cl_mem x, size_t xo, cl_mem y, size_t yo,
                         size_t batch, const void *ep, cl_uint nw, const cl_event *wl,
                         cl_event *ev);

int noop(void) { return 0; }

static double now_us(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* mode 0: write x, sparq_linear, blocking read of y; mode 1: sparq_linear with an event,
 * wait for it. times[i] gets call i in us, including host_work_us of spinning before it
 * (0: calls back to back). Returns 0 or the first failing status. */
int overhead_loop(linear_fn linear, void *m, cl_command_queue q, cl_mem xb, cl_mem yb,
                  const float *x, float *y, size_t batch, size_t rows, size_t cols,
                  int iters, int mode, double *times, double host_work_us) {
    for (int i = -iters / 10 - 20; i < iters; i++) {
        double t0 = now_us();
        while (now_us() - t0 < host_work_us) /* a caller's own work before each call */
            ;
        int st;
        if (mode == 0) {
            st = clEnqueueWriteBuffer(q, xb, CL_FALSE, 0, batch * cols * 4, x, 0, NULL, NULL);
            if (!st) st = linear(m, q, xb, 0, yb, 0, batch, NULL, 0, NULL, NULL);
            if (!st) st = clEnqueueReadBuffer(q, yb, CL_TRUE, 0, batch * rows * 4, y, 0, NULL,
                                              NULL);
        } else {
            cl_event ev;
            st = linear(m, q, xb, 0, yb, 0, batch, NULL, 0, NULL, &ev);
            if (!st) { st = clWaitForEvents(1, &ev); clReleaseEvent(ev); }
        }
        if (st) { clFinish(q); return st; }
        double t1 = now_us();
        if (i >= 0) times[i] = t1 - t0;
    }
    return 0;
}
"""


def build_c(tmp):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("python_overhead: no C compiler (cc)")
    src = os.path.join(tmp, "overhead.c")
    with open(src, "w") as f:
        f.write(C_SOURCE)
    so = os.path.join(tmp, "overhead.so")
    subprocess.run([cc, "-O2", "-std=gnu11", "-shared", "-fPIC",
                    "-DCL_TARGET_OPENCL_VERSION=120", src, "-lOpenCL", "-o", so], check=True)
    so = ctypes.CDLL(so)
    loop = so.overhead_loop
    vp, sz = ctypes.c_void_p, ctypes.c_size_t
    loop.restype = ctypes.c_int
    loop.argtypes = [vp, vp, vp, vp, vp, vp, vp, sz, sz, sz, ctypes.c_int, ctypes.c_int, vp,
                     ctypes.c_double]
    return loop, so


def summary(t):
    t = sorted(t)
    n = len(t)
    return [t[n // 2], t[n // 10], t[n * 9 // 10]]


def c_times(loop, m, q, xb, yb, x, y, batch, iters, mode, host_work_us=0.0):
    times = np.zeros(iters)
    linear = ctypes.cast(lib.sparq_linear, ctypes.c_void_p).value
    st = loop(linear, m.handle, q, xb, yb, x.ctypes.data, y.ctypes.data, batch, m.rows, m.cols,
              iters, mode, times.ctypes.data, host_work_us)
    if st:
        raise sparq.Error(str(st), st, "overhead loop failed")
    return summary(times)


def py_times(fn, iters):
    for _ in range(iters // 10 + 20):
        fn()
    t = []
    clock = time.perf_counter
    for _ in range(iters):
        t0 = clock()
        fn()
        t.append((clock() - t0) * 1e6)
    return summary(t)


def raw_calls(m, x, y):
    """The numpy path's three C calls from Python with every argument computed beforehand
    (no checks, no numpy objects): the floor of any ctypes caller."""
    from sparq import _cl
    wr, rd, lin = _cl.write_buffer, _cl.read_buffer, lib.sparq_linear
    h, q, xb, yb = m.handle, m._queue, m._xbuf, m._ybuf
    xp, yp, xn, yn, b = x.ctypes.data, y.ctypes.data, x.nbytes, y.nbytes, x.shape[0]

    def run():
        wr(q, xb, 0, 0, xn, xp, 0, None, None)
        lin(h, q, xb, 0, yb, 0, b, None, 0, None, None)
        rd(q, yb, 1, 0, yn, yp, 0, None, None)
    return run


def binding_only(m, x, so, iters):
    """m(x) with its three C calls (write, sparq_linear, read) pointed at a C function that
    returns 0 at once: what the binding itself costs (checks, ctypes, numpy y), in us."""
    from sparq import _device
    saved = (_device._write, _device._read, m._linear)
    try:
        for name, real in (("_write", saved[0]), ("_read", saved[1])):
            f = ctypes.CFUNCTYPE(ctypes.c_int)(("noop", so))
            f.argtypes = real.argtypes
            setattr(_device, name, f)
        f = ctypes.CFUNCTYPE(ctypes.c_int)(("noop", so))
        f.argtypes = saved[2].argtypes
        m._linear = f
        return py_times(lambda: m(x), iters)[0]
    finally:
        _device._write, _device._read, m._linear = saved


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=768)
    ap.add_argument("--cols", type=int, default=3072)
    ap.add_argument("--format", default="csr0.9+f32")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--iters", type=int, default=500, help="timed calls per round")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--no-enqueue", action="store_true", help="skip the pyopencl path")
    a = ap.parse_args()

    rng = np.random.default_rng(0)
    w = rng.standard_normal((a.rows, a.cols)).astype(np.float32)
    x = rng.standard_normal((a.batch, a.cols)).astype(np.float32)
    y = np.empty((a.batch, a.rows), np.float32)
    y2 = np.empty((a.batch, a.rows), np.float32)
    packed = sparq.pack(w, a.format)
    cl = None
    if not a.no_enqueue:
        try:
            import pyopencl as cl
        except ImportError:
            print("(pyopencl not found: the enqueue path is skipped)")
    runs = {"numpy": ([], []), "numpy out=": ([], []), "raw ctypes": ([], []),
            "enqueue": ([], []), "numpy vs C+work": ([], [])}
    with tempfile.TemporaryDirectory() as tmp:
        loop, so = build_c(tmp)
        with sparq.Context() as ctx, ctx.matrix(packed) as m:
            print(f"sparq {sparq.version()} ({sparq.library_path}), device: {ctx.device_name}")
            print(f"matrix {a.rows}x{a.cols} {a.format} ({packed.bits_per_weight:.2f} "
                  f"bits/weight), batch {a.batch}, {a.iters} calls x {a.rounds} rounds; "
                  f"kernel: {m.plan(a.batch)['kernel']}; load average "
                  f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cpus")
            m.prepare([a.batch])
            ref = m(x)
            q = m._queue
            raw = raw_calls(m, x, y2)
            binding = binding_only(m, x, so, a.iters * 4)
            if cl is not None:
                clctx = cl.Context.from_int_ptr(ctx.cl_context)
                pq = cl.CommandQueue.from_int_ptr(q)
                mf = cl.mem_flags
                xb = cl.Buffer(clctx, mf.READ_ONLY | mf.COPY_HOST_PTR, hostbuf=x)
                yb = cl.Buffer(clctx, mf.READ_WRITE, a.batch * a.rows * 4)
            for _ in range(a.rounds):
                runs["numpy"][0].append(c_times(loop, m, q, m._xbuf, m._ybuf, x, y, a.batch,
                                                a.iters, 0))
                runs["numpy"][1].append(py_times(lambda: m(x), a.iters))
                runs["numpy out="][0].append(c_times(loop, m, q, m._xbuf, m._ybuf, x, y,
                                                     a.batch, a.iters, 0))
                runs["numpy out="][1].append(py_times(lambda: m(x, out=y2), a.iters))
                runs["raw ctypes"][0].append(c_times(loop, m, q, m._xbuf, m._ybuf, x, y,
                                                     a.batch, a.iters, 0))
                runs["raw ctypes"][1].append(py_times(raw, a.iters))
                runs["numpy vs C+work"][0].append(c_times(loop, m, q, m._xbuf, m._ybuf, x, y,
                                                          a.batch, a.iters, 0, binding))
                runs["numpy vs C+work"][1].append(py_times(lambda: m(x), a.iters))
                if cl is not None:
                    runs["enqueue"][0].append(c_times(loop, m, q, xb.int_ptr, yb.int_ptr, x, y,
                                                      a.batch, a.iters, 1))
                    runs["enqueue"][1].append(
                        py_times(lambda: m.enqueue(pq, xb, yb, a.batch).wait(), a.iters))
            assert np.allclose(y, ref, rtol=1e-5, atol=1e-5)
    print(f"{'path':15}  {'C median':>9}  {'Python median':>13}  {'difference':>10}  "
          f"{'paired':>7}   (us)")
    for name, (c, p) in runs.items():
        if not c:
            continue
        cm = statistics.median(r[0] for r in c)
        pm = statistics.median(r[0] for r in p)
        paired = statistics.median(pr[0] - cr[0] for cr, pr in zip(c, p))
        print(f"{name:15}  {cm:9.1f}  {pm:13.1f}  {pm - cm:+10.1f}  {paired:+7.1f}")
    print(f"binding alone: m(x) with its three C calls made no-ops: {binding:.1f} us; "
          f"'numpy vs C+work': the C loop spins that long before each call (a caller's "
          f"own work), as the binding's work comes before each call from Python")
    print("C / Python median: the median of the rounds' medians; paired: the median over "
          "rounds of (Python - C) within a round")
    for name, (c, p) in runs.items():
        if c:
            print(f"  {name} rounds, C:      {[round(r[0], 1) for r in c]}")
            print(f"  {name} rounds, Python: {[round(r[0], 1) for r in p]}")

if __name__ == "__main__":
    main()
