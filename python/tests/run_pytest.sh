#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# run_pytest.sh PYTHON LIBSPARQ [SPARQ_CLI] - ctest's `python` test: the package's pytest
# suite (python/tests), importing python/sparq from this tree with SPARQ_LIBRARY set to
# the build's library (and the `sparq` program, when built, for the convert comparison).
# Without pytest it skips (77), except under CI, where a missing pytest, torch or
# pyopencl fails (conftest.need).
set -euo pipefail
py="$1"
export SPARQ_LIBRARY="$2"
if [ -n "${3:-}" ]; then
  export SPARQ_CLI="$3"
fi
cd "$(dirname "$0")/../.."
if ! "$py" -c "import pytest" 2>/dev/null; then
  if [ -n "${CI:-}" ]; then
    echo "python: pytest is missing (Debian: python3-pytest, scripts/setup.sh) and CI is set" >&2
    exit 1
  fi
  echo "python: skipped: $py has no pytest (Debian: python3-pytest)"
  exit 77
fi
export PYTHONDONTWRITEBYTECODE=1
exec "$py" -m pytest python/tests -q -p no:cacheprovider
