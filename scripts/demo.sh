#!/usr/bin/env bash
# demo.sh - the README's main-job command: installs dependencies, builds sparq, shows the
# devices sparq sees (`sparq info`), checks the dense linear layer on the chosen device
# against a C reference (`sparq check`), then runs `sparq demo`: accuracy, size and
# rollbacks of each format on a small real model, speed on transformer-sized layers
# against CLBlast and OpenBLAS, and PNG plots in build/plots.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
./build/sparq info
./build/sparq check
./build/sparq demo --plot build/plots
