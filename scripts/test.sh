#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# test.sh - the README's test command, and what .ci/run calls: installs dependencies,
# then builds and runs the whole ctest suite twice: plainly (warnings are errors) and
# under AddressSanitizer + UndefinedBehaviorSanitizer; in between it fuzzes the
# safetensors reader and packed-matrix loader for 60 seconds (libFuzzer, clang).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
jobs="$(nproc)"

echo "== plain build =="
cmake -S . -B build -DSPARQ_WERROR=ON
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== fuzzing the safetensors reader and packed-matrix loader (60 s) =="
CC=clang cmake -S . -B build-fuzz -DSPARQ_BUILD_FUZZERS=ON -DSPARQ_BUILD_TESTS=OFF \
  -DSPARQ_BUILD_BENCH=OFF -DSPARQ_BUILD_TOOLS=OFF
cmake --build build-fuzz -j"$jobs" --target fuzz_safetensors
mkdir -p build-fuzz/corpus build-fuzz/artifacts
./build-fuzz/tests/fuzz/fuzz_safetensors -max_total_time=60 -print_final_stats=1 \
  -artifact_prefix=build-fuzz/artifacts/ build-fuzz/corpus tests/fuzz/corpus

echo "== ASan + UBSan build =="
cmake -S . -B build-asan -DSPARQ_WERROR=ON -DSPARQ_SANITIZE=ON
cmake --build build-asan -j"$jobs"
(cd build-asan && ctest --output-on-failure -j"$jobs")
