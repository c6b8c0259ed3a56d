#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh - the README's main-job command: installs dependencies, builds sparq, shows the
# devices sparq sees (`sparq info`), checks the dense linear layer on the chosen device
# against a C reference (`sparq check`), then runs `sparq demo`: accuracy, size and
# rollbacks of each format on a small real model, speed on transformer-sized layers
# against CLBlast and OpenBLAS, and PNG plots in build/plots; then, with the Python
# environment setup.sh makes (build/venv: Debian's PyTorch and this tree's package),
# recovery by fine-tuning: the demo's MLP pruned gradually to 90 % while trained with
# int8 quantization simulated, then served by sparq's kernels (examples/recover_digits.py:
# 3300 steps in about 20 s on 2 idle cores; examples/README.md has the int4 run and more).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j"$(nproc)"
./build/sparq info
./build/sparq check
./build/sparq demo --plot build/plots
if [ -x build/venv/bin/python ] && build/venv/bin/python -c "import sparq, torch" 2>/dev/null; then
  echo
  echo "== recovery by fine-tuning (Python, PyTorch): examples/recover_digits.py =="
  build/venv/bin/python examples/recover_digits.py --quants i8-row
else
  echo "(no build/venv with torch: the recovery example, examples/recover_digits.py, is left out)"
fi
