#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# python_env.sh DIR [PYTHON] - makes DIR a virtual environment that sees the system's
# packages (Debian's numpy, torch, pyopencl: --system-site-packages) and installs this
# tree's Python package into it (`pip install ./python`: scikit-build-core from PyPI
# builds libsparq into the package). scripts/setup.sh makes build/venv with it, and
# ctest's `python_package` a fresh one in the build tree.
# Exit status: 0 installed; 77 PyPI is not reachable for scikit-build-core (offline
# without PIP_NO_INDEX=1 PIP_FIND_LINKS=<wheels>); 1 any other failure (pip's log is
# DIR/pip.log).
set -euo pipefail
dir="$1"
py="${2:-/usr/bin/python3}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$dir"
"$py" -m venv --system-site-packages "$dir"
started=$(date +%s)
if ! CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$dir/bin/python" -m pip install \
      --disable-pip-version-check "$repo/python" >"$dir/pip.log" 2>&1; then
  if grep -qE "No matching distribution found for scikit-build-core|Failed to establish a new connection|Temporary failure in name resolution|Network is unreachable" "$dir/pip.log"; then
    tail -5 "$dir/pip.log" >&2
    echo "python_env.sh: PyPI is not reachable for scikit-build-core (see above)" >&2
    exit 77
  fi
  tail -30 "$dir/pip.log" >&2
  echo "python_env.sh: pip install ./python into $dir failed (all of it: $dir/pip.log)" >&2
  exit 1
fi
echo "python_env.sh: $dir: sparq installed ($(( $(date +%s) - started )) s); use $dir/bin/python"
