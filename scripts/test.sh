#!/usr/bin/env bash
# test.sh - the README's test command, and what .ci/run calls: installs dependencies,
# then builds and runs the whole ctest suite twice: plainly (warnings are errors) and
# under AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
jobs="$(nproc)"

echo "== plain build =="
cmake -S . -B build -DSPARQ_WERROR=ON
cmake --build build -j"$jobs"
(cd build && ctest --output-on-failure -j"$jobs")

echo "== ASan + UBSan build =="
cmake -S . -B build-asan -DSPARQ_WERROR=ON -DSPARQ_SANITIZE=ON
cmake --build build-asan -j"$jobs"
(cd build-asan && ctest --output-on-failure -j"$jobs")
