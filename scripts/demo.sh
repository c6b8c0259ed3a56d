#!/usr/bin/env bash
# demo.sh - the README's main-job command: installs dependencies, builds sparq, then
# shows the devices sparq sees (`sparq info`) and runs the dense linear layer on the
# chosen device against a C reference (`sparq check`).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
./build/sparq info
./build/sparq check
