#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# gpu_model_report.sh PLUGIN GPU_MODEL [ARGS...] - runs gpu_model under oclgrind with the
# warp model plugin and prints the report as bench/gpu_model.md holds it: the command,
# the machine, then gpu_model's tables (a model under oclgrind, not a GPU measurement).
set -euo pipefail
plugin="$1" program="$2"
shift 2
command -v oclgrind >/dev/null || { echo "oclgrind is not installed" >&2; exit 1; }
cpu="$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | sed 's/.*: //')"
echo "# Simulated-warp memory report"
echo
echo "This is a model of memory behaviour under oclgrind, not a GPU measurement."
echo "How to read each column: bench/README.md, section gpu_model."
echo
echo "- Command: \`oclgrind --plugins $(basename "$plugin") $(basename "$program")${*:+ $*}\`"
echo "  (\`cmake --build BUILD --target gpu_model_report\` runs it)"
echo "- Machine: ${cpu:-unknown CPU}, $(nproc) cores, $(uname -sr);" \
     "$(oclgrind --version 2>&1 | grep -m1 -i oclgrind)"
echo "- Source: $(git -C "$(dirname "$0")" rev-parse --short HEAD 2>/dev/null || echo unknown)," \
     "$(date -u +%Y-%m-%d)"
echo
SPARQ_CACHE=off oclgrind --plugins "$plugin" "$program" "$@"
