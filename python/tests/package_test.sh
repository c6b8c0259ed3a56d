#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# package_test.sh WORK_DIR PYTHON - ctest's `python_package` test: the package as a user
# installs it. Makes a virtual environment in WORK_DIR with scripts/python_env.sh (it
# sees Debian's numpy, torch and pyopencl; `pip install ./python` builds the C library
# into the package with scikit-build-core from PyPI), then, outside the repository,
# imports sparq from the environment and runs one product on the device.
# Offline: PIP_NO_INDEX=1 PIP_FIND_LINKS=<folder holding scikit-build-core's wheels and
# its dependencies'>. Without PyPI (and no links) the test skips (77), except under CI.
set -euo pipefail
work="$1"
py="$2"
repo="$(cd "$(dirname "$0")/../.." && pwd)"
rm -rf "$work"
mkdir -p "$work"
status=0
bash "$repo/scripts/python_env.sh" "$work/venv" "$py" || status=$?
if [ "$status" -eq 77 ] && [ -z "${CI:-}" ]; then
  echo "python_package: skipped: PyPI is not reachable for scikit-build-core"
  exit 77
elif [ "$status" -ne 0 ]; then
  echo "python_package: pip install ./python failed" >&2
  exit 1
fi
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
