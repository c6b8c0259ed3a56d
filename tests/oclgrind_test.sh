#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# oclgrind_test.sh TEST [FILTER] - runs a test program's kernels under oclgrind (an
# OpenCL device simulator that checks every memory access) on small shapes, with
# out-of-bounds (always on), data-race and API checks, and fails when the test fails
# or oclgrind reports anything. Not --uninitialized: in Debian 12's oclgrind that
# plugin crashes (SIGSEGV) on any vloadN, which the vectorised kernels use; outputs
# are NaN-filled before every device test instead, so unwritten values are caught.
set -uo pipefail
test_program="$1"
filter="${2:-}"
if ! command -v oclgrind >/dev/null; then
  echo "oclgrind is not installed (apt-get install oclgrind)"
  [ -n "${CI:-}" ] && exit 1
  exit 77 # skipped outside CI
fi
log="$(mktemp)" out="$(mktemp)"
[ -n "$filter" ] && export SPARQ_TEST_FILTER="$filter"
# OCLGRIND_LIMITS: device limits to simulate, e.g. "--max-wgsize 32 --local-mem-size 8192"
# shellcheck disable=SC2086
SPARQ_TEST_SMALL=1 SPARQ_CACHE=off \
  oclgrind --check-api --data-races ${OCLGRIND_LIMITS:-} --log "$log" "$test_program" 2>&1 |
  tee "$out"
rc=${PIPESTATUS[0]}
if [ -s "$log" ]; then
  echo "oclgrind reported:"
  head -60 "$log"
  rc=1
fi
if ! grep -qE '^\[  PASSED  \] [1-9][0-9]* test' "$out"; then
  echo "no test ran under oclgrind"
  rc=1
fi
rm -f "$log" "$out"
exit "$rc"
