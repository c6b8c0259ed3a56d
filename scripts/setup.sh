#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# setup.sh - installs everything a fresh Debian 12 machine lacks to build and test sparq
# (the one list of dependencies; README and .ci/run go through here), then makes the
# Python virtual environment build/venv: it sees Debian's numpy, torch and pyopencl and
# holds this tree's package (scripts/python_env.sh; SPARQ_NO_VENV=1 leaves it out).
# Run as root, or as a user with sudo (the venv is made as the user).
set -euo pipefail

PACKAGES=(
  # toolchain
  gcc make cmake pkg-config clang libclang-rt-14-dev python3 python3-numpy
  # OpenCL: ICD loader + headers, PoCL (OpenCL on the CPU), clinfo for diagnostics
  ocl-icd-libopencl1 ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo
  # libraries sparq uses
  libclblast-dev libjansson-dev libxxhash-dev zlib1g-dev libfp16-dev
  # linear algebra of GPTQ / SparseGPT (Cholesky through LAPACKE, products through CBLAS)
  liblapacke-dev libopenblas-dev
  # peers measured in the benchmarks, and oclgrind to check kernels for races and
  # out-of-bounds accesses (its plugin headers, LLVM's and a C++ compiler for
  # bench/gpu_model's warp report)
  oclgrind liboclgrind-dev llvm-14-dev g++
  # the GPU build gate (tests/gpu_build): libclc's built-ins for clang's nvptx64 and
  # amdgcn targets, llc, and Intel's offline compiler ocloc (intel-opencl-icd; it also
  # adds an Intel platform without a device here); NVIDIA's ptxas comes with the CUDA
  # toolkit where the machine has one
  libclc-14 llvm-14 intel-opencl-icd
  # plots of `sparq demo` (PNG through gnuplot)
  gnuplot-nox
  help2man  # the man pages of `sparq`, made from its --help at build time
  # tests
  libcmocka-dev
  # Python (python/): the package's tests (pytest) with torch and pyopencl from Debian,
  # and venv + pip for `pip install ./python` into a venv that sees them
  python3-torch python3-pyopencl python3-pytest python3-venv python3-pip
  # English sentences (WordNet's examples) for examples/distill_transformer.py --corpus
  wordnet-base
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${PACKAGES[@]}"

if [ "${SPARQ_NO_VENV:-0}" != 1 ]; then
  cd "$(dirname "$0")/.."
  # A failure here leaves the C library's build and tests untouched: say so and go on.
  bash scripts/python_env.sh build/venv /usr/bin/python3 ||
    echo "setup.sh: the Python environment build/venv was not made (above); the C" \
         "library does not need it" >&2
fi
