#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
# peer_torch_int8.py - the CPU int8 reference users know, measured for bench_sparse's
# W8A8 rows: PyTorch's dynamic int8 Linear (torch.ao.quantization.quantize_dynamic, on
# the oneDNN engine when this torch has it, else its default) and its f32 nn.Linear, on
# the same shapes and batches, median [min, max] of N calls.
# Usage: /usr/bin/python3 bench/peer_torch_int8.py [--shapes 768x3072,...] [--batches 1,8,32,128]
#        [--repeats 15] [--threads 2]   (Debian: apt-get install python3-torch)
import argparse
import statistics
import time

import torch


def timed(fn, x, repeats):
    for _ in range(3):
        fn(x)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), max(times)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shapes", default="4096x4096,11008x4096,768x3072")
    p.add_argument("--batches", default="1,8,32,128")
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    engines = torch.backends.quantized.supported_engines
    if "onednn" in engines:
        torch.backends.quantized.engine = "onednn"
    print("torch %s, quantized engine %s (supported: %s), %d threads"
          % (torch.__version__, torch.backends.quantized.engine, ",".join(engines),
             torch.get_num_threads()))
    print("%-10s %5s %-12s %9s %9s %9s" % ("shape", "batch", "module", "median ms", "min ms",
                                          "max ms"))
    for shape in a.shapes.split(","):
        rows, cols = (int(v) for v in shape.split("x"))
        lin = torch.nn.Linear(cols, rows, bias=True).eval()
        qlin = torch.ao.quantization.quantize_dynamic(
            torch.nn.Sequential(lin), {torch.nn.Linear}, dtype=torch.qint8).eval()
        for batch in (int(b) for b in a.batches.split(",")):
            x = torch.randn(batch, cols)
            with torch.inference_mode():
                for name, mod in (("int8-dynamic", qlin), ("f32-linear", lin)):
                    med, lo, hi = timed(mod, x, a.repeats)
                    print("%-10s %5d %-12s %9.3f %9.3f %9.3f"
                          % (shape, batch, name, 1e3 * med, 1e3 * lo, 1e3 * hi))


if __name__ == "__main__":
    main()
