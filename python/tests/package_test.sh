#!/usr/bin/env bash
# package_test.sh WORK_DIR PYTHON - ctest's `python_package` test: the package as a user
# installs it. Makes a virtual environment in WORK_DIR that sees the system's packages
# (Debian's numpy, torch, pyopencl), runs `pip install ./python` (scikit-build-core from
# PyPI builds the C library into the package), then, outside the repository, imports
# sparq from the environment and runs one product on the device.
# Offline: PIP_NO_INDEX=1 PIP_FIND_LINKS=<folder holding scikit-build-core's wheels and
# its dependencies'>. Without PyPI (and no links) the test skips (77), except under CI.
set -euo pipefail
work="$1"
py="$2"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
rm -rf "$work"
mkdir -p "$work"
"$py" -m venv --system-site-packages "$work/venv"
started=$(date +%s)
if ! CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$work/venv/bin/python" -m pip install \
      --disable-pip-version-check "$repo/python" >"$work/pip.log" 2>&1; then
  if [ -z "${CI:-}" ] && grep -qE "No matching distribution found for scikit-build-core|Failed to establish a new connection|Temporary failure in name resolution|Network is unreachable" "$work/pip.log"; then
    tail -5 "$work/pip.log"
    echo "python_package: skipped: PyPI is not reachable for scikit-build-core (see above)"
    exit 77
  fi
  cat "$work/pip.log" >&2
  echo "python_package: pip install ./python failed" >&2
  exit 1
fi
echo "pip install ./python: $(( $(date +%s) - started )) s"
cd "$work"
env -u SPARQ_LIBRARY -u PYTHONPATH "$work/venv/bin/python" - <<'PY'
import os
import sys

import numpy as np

import sparq

site = os.path.realpath(sys.prefix)
assert os.path.realpath(sparq.__file__).startswith(site), sparq.__file__
assert os.path.realpath(sparq.library_path).startswith(site), sparq.library_path
rng = np.random.default_rng(0)
w = rng.standard_normal((96, 128)).astype(np.float32)
x = rng.standard_normal((3, 128)).astype(np.float32)
packed = sparq.pack(w, "csr0.9+i8-row")
with sparq.Context() as ctx, ctx.matrix(packed) as m:
    y = m(x)
    device = ctx.device_name
ref = x.astype(np.float64) @ packed.unpack().astype(np.float64).T
err = np.abs(y - ref).max()
assert err <= 1e-4 * max(1.0, np.abs(ref).max()), err
print(f"sparq {sparq.version()} from {sparq.library_path}: {packed}, "
      f"max |y - x W^T| = {err:.2e} on {device}")
PY
